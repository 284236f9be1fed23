import { describe, expect, it } from 'vitest';
import { MqttFrameGuard } from './packet-limit.ts';

/** An MQTT packet: fixed header byte, remaining length varint, body. */
function packet(type: number, bodyBytes: number): Buffer {
  const len: number[] = [];
  let n = bodyBytes;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from([type, ...len]), Buffer.alloc(bodyBytes, 7)]);
}

describe('MQTT frame guard', () => {
  it('follows packets across any chunking and passes those within the limit', () => {
    const stream = Buffer.concat([packet(0x10, 20), packet(0x30, 1000), packet(0xc0, 0), packet(0x30, 16_384)]);
    for (const size of [1, 2, 3, 7, 64, stream.length]) {
      const g = new MqttFrameGuard(16_384);
      for (let i = 0; i < stream.length; i += size) expect(g.feed(stream.subarray(i, i + size))).toBeUndefined();
    }
  });

  it('stops at the header of a packet over the limit, before its body arrives', () => {
    const g = new MqttFrameGuard(1024);
    expect(g.feed(packet(0x30, 100))).toBeUndefined();
    // Only the fixed header and the length of a 2 MiB publish.
    const big = packet(0x30, 2 * 1024 * 1024).subarray(0, 5);
    expect(g.feed(big)).toEqual({ kind: 'oversized', bytes: 2 * 1024 * 1024 });
  });

  it('calls a remaining length of more than four bytes malformed', () => {
    const g = new MqttFrameGuard(1024);
    expect(g.feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]))).toEqual({ kind: 'malformed' });
  });
});
