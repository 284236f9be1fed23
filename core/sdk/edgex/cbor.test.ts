/**
 * The CBOR decoder against RFC 8949's examples (Appendix A), against an
 * AddEventRequest with a Binary reading as EdgeX device services publish it
 * (application/cbor, the bytes as a byte string), and against broken input:
 * an Error naming what and where, never a crash or an unbounded allocation.
 */
import { describe, expect, it } from 'vitest';
import { unwrapEdgeXEnvelope } from './bus.ts';
import { decodeCbor } from './cbor.ts';
import { edgexToReadings } from './events.ts';

const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s/g, ''), 'hex'));

/** The head of a CBOR item: major type and argument (RFC 8949 §3). */
function head(major: number, n: number | bigint): Buffer {
  const v = BigInt(n);
  if (v < 24n) return Buffer.from([(major << 5) | Number(v)]);
  if (v < 0x100n) return Buffer.from([(major << 5) | 24, Number(v)]);
  if (v < 0x10000n) return Buffer.from([(major << 5) | 25, Number(v >> 8n), Number(v & 0xffn)]);
  if (v < 0x100000000n) {
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(Number(v), 1);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = (major << 5) | 27;
  b.writeBigUInt64BE(v, 1);
  return b;
}
const text = (s: string): Buffer => Buffer.concat([head(3, Buffer.byteLength(s)), Buffer.from(s)]);
const map = (entries: [string, Buffer][]): Buffer => Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [text(k), v])]);

describe('CBOR', () => {
  it("decodes RFC 8949's examples", () => {
    const cases: [string, unknown][] = [
      ['00', 0],
      ['17', 23],
      ['1903e8', 1000],
      ['1a000f4240', 1000000],
      ['1b000000e8d4a51000', 1000000000000],
      ['1bffffffffffffffff', 18446744073709551615n],
      ['3bffffffffffffffff', -18446744073709551616n],
      ['20', -1],
      ['3903e7', -1000],
      ['f90000', 0],
      ['f93c00', 1],
      ['f93e00', 1.5],
      ['f97bff', 65504],
      ['f90001', 5.960464477539063e-8],
      ['f9c400', -4],
      ['fa47c35000', 100000],
      ['fb3ff199999999999a', 1.1],
      ['fbc010666666666666', -4.1],
      ['f97c00', Infinity],
      ['f4', false],
      ['f5', true],
      ['f6', null],
      ['f7', undefined],
      ['4401020304', Uint8Array.from([1, 2, 3, 4])],
      ['60', ''],
      ['6449455446', 'IETF'],
      ['62c3bc', 'ü'],
      ['80', []],
      ['8301820203820405', [1, [2, 3], [4, 5]]],
      ['a0', {}],
      ['a26161016162820203', { a: 1, b: [2, 3] }],
      ['c074323031332d30332d32315432303a30343a30305a', '2013-03-21T20:04:00Z'],
      ['5f42010243030405ff', Uint8Array.from([1, 2, 3, 4, 5])],
      ['7f657374726561646d696e67ff', 'streaming'],
      ['9fff', []],
      ['9f018202039f0405ffff', [1, [2, 3], [4, 5]]],
      ['bf61610161629f0203ffff', { a: 1, b: [2, 3] }],
    ];
    for (const [h, want] of cases) expect(decodeCbor(hex(h)), h).toEqual(want);
    expect(Number.isNaN(decodeCbor(hex('f97e00')))).toBe(true);
  });

  it('decodes a device service’s CBOR AddEventRequest with a Binary reading into a platform reading', () => {
    const origin = 1733300000123456789n;
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]);
    const reading = map([
      ['id', text('00000000-0000-4000-8000-000000000001')],
      ['origin', head(0, origin)],
      ['deviceName', text('camera-1')],
      ['resourceName', text('snapshot')],
      ['profileName', text('camera')],
      ['valueType', text('Binary')],
      ['binaryValue', Buffer.concat([head(2, jpeg.length), jpeg])],
      ['mediaType', text('image/jpeg')],
    ]);
    const request = map([
      ['apiVersion', text('v3')],
      ['requestId', text('00000000-0000-4000-9000-000000000001')],
      [
        'event',
        map([
          ['apiVersion', text('v3')],
          ['id', text('00000000-0000-4000-8000-000000000002')],
          ['deviceName', text('camera-1')],
          ['profileName', text('camera')],
          ['sourceName', text('snapshot')],
          ['origin', head(0, origin)],
          ['readings', Buffer.concat([head(4, 1), reading])],
        ]),
      ],
    ]);
    const envelope = JSON.stringify({ apiVersion: 'v3', receivedTopic: '', correlationID: 'c', requestID: '', errorCode: 0, payload: request.toString('base64'), contentType: 'application/cbor' });
    const { payload } = unwrapEdgeXEnvelope(envelope);
    expect(edgexToReadings(payload).readings).toEqual([
      { device: 'camera-1', profile: 'camera', resource: 'snapshot', valueType: 'Binary', value: jpeg.toString('base64'), origin: Number(origin), quality: 'good' },
    ]);
  });

  it('refuses broken input, naming what and where', () => {
    const cases: [string, RegExp, { maxDepth?: number }?][] = [
      ['', /1 more bytes needed, 0 left at byte 0/],
      ['1a0001', /4 more bytes needed, 2 left/],
      ['0000', /1 bytes after the item/],
      ['5a ffffffff 00', /byte string of length 4294967295 is longer than the 1 bytes left/],
      ['9b ffffffffffffffff', /array of length 18446744073709551615 is longer/],
      ['a1 01 02', /a map key is not a text string at byte 1/],
      ['a1 69 5f5f70726f746f5f5f 01', /a map key '__proto__'/],
      ['62 c328', /a text string is not UTF-8/],
      ['ff', /a break outside an indefinite item/],
      ['1f', /an integer cannot have an indefinite length/],
      ['1c', /reserved additional information 28/],
      ['5f 01 ff', /an indefinite string holds a chunk of another type/],
      ['81 ff', /a break inside a definite array/],
      ['f8 20', /simple value 24 has no meaning here/],
      ['8181818101', /nest deeper than 3/, { maxDepth: 3 }],
      ['c1c1c1c101', /tags nest deeper than 3/, { maxDepth: 3 }],
    ];
    for (const [h, message, opts] of cases) expect(() => decodeCbor(hex(h), opts), h).toThrow(message);
    // Deep nesting stays bounded with the default limit (no stack overflow).
    expect(() => decodeCbor(Uint8Array.from([...Array<number>(100_000).fill(0x81), 0x01]))).toThrow(/nest deeper than 64/);
  });
});
