import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, FrameType, HEADER_BYTES, type Frame } from './frame.ts';

const streamId = fc.integer({ min: 1, max: 0xffff_ffff });
const hello = fc.record({
  version: fc.integer({ min: 1, max: 255 }),
  name: fc.string({ minLength: 1, maxLength: 60 }),
  maxFramePayload: fc.integer({ min: 1024, max: 1024 * 1024 }),
  initialWindow: fc.integer({ min: 1024, max: 64 * 1024 * 1024 }),
});
const reason = fc.record({ code: fc.string({ minLength: 1, maxLength: 100 }), message: fc.string({ maxLength: 200 }) });
const frame: fc.Arbitrary<Frame> = fc.oneof(
  hello.map((h): Frame => ({ type: 'HELLO', stream: 0, hello: h })),
  hello.map((h): Frame => ({ type: 'HELLO_ACK', stream: 0, hello: h })),
  fc.tuple(streamId, fc.string({ minLength: 1, maxLength: 100 }), fc.integer({ min: 1, max: 65535 })).map(([stream, host, port]): Frame => ({ type: 'OPEN', stream, open: { kind: 'tcp', host, port } })),
  fc.tuple(streamId, fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/)).map(([stream, name]): Frame => ({ type: 'OPEN', stream, open: { kind: 'service', name } })),
  streamId.map((stream): Frame => ({ type: 'OPEN_ACK', stream })),
  fc.tuple(streamId, fc.uint8Array({ minLength: 1, maxLength: 4096 })).map(([stream, d]): Frame => ({ type: 'DATA', stream, data: Buffer.from(d) })),
  fc.tuple(streamId, fc.integer({ min: 1, max: 0xffff_ffff })).map(([stream, increment]): Frame => ({ type: 'WINDOW', stream, increment })),
  streamId.map((stream): Frame => ({ type: 'FIN', stream })),
  fc.tuple(streamId, reason).map(([stream, r]): Frame => ({ type: 'RST', stream, reason: r })),
  fc.uint8Array({ maxLength: 64 }).map((p): Frame => ({ type: 'PING', stream: 0, payload: Buffer.from(p) })),
  fc.uint8Array({ maxLength: 64 }).map((p): Frame => ({ type: 'PONG', stream: 0, payload: Buffer.from(p) })),
  reason.map((r): Frame => ({ type: 'GOAWAY', stream: 0, reason: r })),
);

function violation(buf: Buffer, max?: number): string {
  try {
    decodeFrame(buf, max);
  } catch (err) {
    const e = err as { code?: string; params?: { violation?: string } };
    expect(e.code).toBe('EDGE_ERR_TUNNEL_PROTOCOL');
    return e.params?.violation ?? '';
  }
  throw new Error('expected a protocol violation');
}

function raw(type: number, stream: number, payload: Buffer | string = Buffer.alloc(0), flags = 0): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const b = Buffer.alloc(HEADER_BYTES + p.length);
  b.writeUInt8(type, 0);
  b.writeUInt8(flags, 1);
  b.writeUInt32BE(stream, 2);
  p.copy(b, HEADER_BYTES);
  return b;
}

describe('tunnel frames', () => {
  it('round-trip every frame type', () => {
    fc.assert(
      fc.property(frame, (f) => {
        expect(decodeFrame(encodeFrame(f), 1024 * 1024)).toEqual(f);
      }),
      { numRuns: 2000 },
    );
  });

  it('decode arbitrary bytes to a frame or a coded violation, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeFrame(Buffer.from(bytes));
        } catch (err) {
          expect((err as { code?: string }).code).toBe('EDGE_ERR_TUNNEL_PROTOCOL');
        }
      }),
      { numRuns: 20_000 },
    );
  });

  it('survive mutations of valid frames: flipped bytes, truncation, trailing garbage', () => {
    fc.assert(
      fc.property(frame, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), fc.uint8Array({ maxLength: 16 }), (f, at, byte, cut, tail) => {
        const b = Buffer.from(encodeFrame(f));
        b[at % b.length] = byte;
        for (const candidate of [b, b.subarray(0, cut % (b.length + 1)), Buffer.concat([b, Buffer.from(tail)])]) {
          try {
            decodeFrame(candidate, 1024 * 1024);
          } catch (err) {
            expect((err as { code?: string }).code).toBe('EDGE_ERR_TUNNEL_PROTOCOL');
          }
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('name each kind of bad input', () => {
    expect(violation(Buffer.from([1, 0]))).toBe('FRAME_TOO_SHORT');
    expect(violation(raw(99, 1))).toBe('UNKNOWN_FRAME_TYPE');
    expect(violation(raw(FrameType.DATA, 0, 'x'))).toBe('BAD_STREAM_ID');
    expect(violation(raw(FrameType.PING, 7, 'x'))).toBe('BAD_STREAM_ID');
    expect(violation(raw(FrameType.DATA, 1, Buffer.alloc(65 * 1024)))).toBe('FRAME_TOO_LARGE');
    expect(violation(raw(FrameType.DATA, 1, Buffer.alloc(2048)), 1024)).toBe('FRAME_TOO_LARGE');
    expect(violation(raw(FrameType.DATA, 1))).toBe('BAD_PAYLOAD');
    expect(violation(raw(FrameType.HELLO, 0, '{"version":1'))).toBe('BAD_PAYLOAD');
    expect(violation(raw(FrameType.HELLO, 0, '{"version":1,"name":"n","maxFramePayload":10,"initialWindow":65536}'))).toBe('BAD_PAYLOAD');
    expect(violation(raw(FrameType.OPEN, 1, '{"kind":"udp","host":"h","port":1}'))).toBe('BAD_PAYLOAD');
    expect(violation(raw(FrameType.OPEN, 1, '{"kind":"tcp","host":"h","port":70000}'))).toBe('BAD_PAYLOAD');
    expect(violation(raw(FrameType.OPEN, 2, '{"kind":"service","name":"../etc"}'))).toBe('BAD_PAYLOAD');
    expect(violation(raw(FrameType.OPEN, 2, '{"kind":"service"}'))).toBe('BAD_PAYLOAD');
    expect(violation(raw(FrameType.WINDOW, 1, Buffer.alloc(4)))).toBe('FLOW_CONTROL');
    expect(violation(raw(FrameType.WINDOW, 1, Buffer.alloc(3)))).toBe('BAD_PAYLOAD');
    expect(violation(raw(FrameType.FIN, 1, 'x'))).toBe('BAD_PAYLOAD');
    expect(violation(raw(FrameType.FIN, 1, '', 1))).toBe('BAD_PAYLOAD');
    expect(violation(raw(FrameType.GOAWAY, 0, Buffer.alloc(17 * 1024, 32)))).toBe('FRAME_TOO_LARGE');
  });
});
