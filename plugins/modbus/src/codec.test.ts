import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ReadingValue, ValueType } from '../../../core/sdk/index.ts';
import { decode, encode } from './codec.ts';
import { resolvePoints, type ModbusPoint } from './profile.ts';

const HR = 'HOLDING_REGISTERS';

function point(valueType: ValueType, attributes: Record<string, unknown> = {}, properties: Record<string, unknown> = {}, readWrite: 'R' | 'W' | 'RW' = 'RW'): ModbusPoint {
  const { points, issues } = resolvePoints([{ name: 'r', valueType, readWrite, attributes: { primaryTable: HR, startingAddress: 0, ...attributes }, properties }]);
  expect(issues).toEqual([]);
  return points[0]!;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

/** [valueType, value, words as stored without swaps, byte-swapped, word-swapped, both]. */
const PATTERNS: [ValueType, ReadingValue, number[], number[], number[], number[]][] = [
  ['Int32', 305419896, [0x1234, 0x5678], [0x3412, 0x7856], [0x5678, 0x1234], [0x7856, 0x3412]],
  ['Int32', -2, [0xffff, 0xfffe], [0xffff, 0xfeff], [0xfffe, 0xffff], [0xfeff, 0xffff]],
  ['Uint32', 3735928559, [0xdead, 0xbeef], [0xadde, 0xefbe], [0xbeef, 0xdead], [0xefbe, 0xadde]],
  ['Float32', 1.5, [0x3fc0, 0x0000], [0xc03f, 0x0000], [0x0000, 0x3fc0], [0x0000, 0xc03f]],
  ['Float32', 0.1, [0x3dcc, 0xcccd], [0xcc3d, 0xcdcc], [0xcccd, 0x3dcc], [0xcdcc, 0xcc3d]],
  ['Float32', -273.15, [0xc388, 0x9333], [0x88c3, 0x3393], [0x9333, 0xc388], [0x3393, 0x88c3]],
  ['Int64', '72623859790382856', [0x0102, 0x0304, 0x0506, 0x0708], [0x0201, 0x0403, 0x0605, 0x0807], [0x0708, 0x0506, 0x0304, 0x0102], [0x0807, 0x0605, 0x0403, 0x0201]],
  ['Int64', -1, [0xffff, 0xffff, 0xffff, 0xffff], [0xffff, 0xffff, 0xffff, 0xffff], [0xffff, 0xffff, 0xffff, 0xffff], [0xffff, 0xffff, 0xffff, 0xffff]],
  ['Int64', '-9223372036854775808', [0x8000, 0, 0, 0], [0x0080, 0, 0, 0], [0, 0, 0, 0x8000], [0, 0, 0, 0x0080]],
  ['Int64', 1234567890123, [0x0000, 0x011f, 0x71fb, 0x04cb], [0x0000, 0x1f01, 0xfb71, 0xcb04], [0x04cb, 0x71fb, 0x011f, 0x0000], [0xcb04, 0xfb71, 0x1f01, 0x0000]],
  ['Uint64', '18446744073709551615', [0xffff, 0xffff, 0xffff, 0xffff], [0xffff, 0xffff, 0xffff, 0xffff], [0xffff, 0xffff, 0xffff, 0xffff], [0xffff, 0xffff, 0xffff, 0xffff]],
  ['Uint64', '81985529216486895', [0x0123, 0x4567, 0x89ab, 0xcdef], [0x2301, 0x6745, 0xab89, 0xefcd], [0xcdef, 0x89ab, 0x4567, 0x0123], [0xefcd, 0xab89, 0x6745, 0x2301]],
  ['Float64', 1.5, [0x3ff8, 0, 0, 0], [0xf83f, 0, 0, 0], [0, 0, 0, 0x3ff8], [0, 0, 0, 0xf83f]],
  ['Float64', Math.PI, [0x4009, 0x21fb, 0x5444, 0x2d18], [0x0940, 0xfb21, 0x4454, 0x182d], [0x2d18, 0x5444, 0x21fb, 0x4009], [0x182d, 0x4454, 0xfb21, 0x0940]],
];

describe('codec: known register patterns', () => {
  const swaps = [
    ['no swap', false, false, 2],
    ['byte swap', true, false, 3],
    ['word swap', false, true, 4],
    ['byte and word swap', true, true, 5],
  ] as const;
  for (const [vt, value, ...words] of PATTERNS) {
    for (const [label, isByteSwap, isWordSwap, col] of swaps) {
      it(`${vt} ${JSON.stringify(value)}, ${label}`, () => {
        const p = point(vt, { isByteSwap, isWordSwap });
        const w = [words[0], words[1], words[2], words[3]][col - 2]!;
        expect(decode(p, w)).toBe(value);
        expect(encode(p, value)).toEqual(w);
      });
    }
  }

  it('16- and 8-bit values, with and without byte swap', () => {
    const table: [ValueType, ReadingValue, number, number][] = [
      ['Int16', -2, 0xfffe, 0xfeff],
      ['Int16', 4660, 0x1234, 0x3412],
      ['Uint16', 65535, 0xffff, 0xffff],
      ['Uint16', 43981, 0xabcd, 0xcdab],
      ['Int8', -2, 0x00fe, 0xfe00],
      ['Int8', 127, 0x007f, 0x7f00],
      ['Uint8', 200, 0x00c8, 0xc800],
    ];
    for (const [vt, value, plain, swapped] of table) {
      expect(decode(point(vt), [plain])).toBe(value);
      expect(encode(point(vt), value)).toEqual([plain]);
      expect(decode(point(vt, { isByteSwap: true }), [swapped])).toBe(value);
      expect(encode(point(vt, { isByteSwap: true }), value)).toEqual([swapped]);
    }
    // An 8-bit value is the low byte: the high byte does not count on read.
    expect(decode(point('Uint8'), [0xff05])).toBe(5);
  });

  it('64-bit integers: safe ones as numbers, the others as decimal strings; both accepted on write', () => {
    const p = point('Uint64');
    expect(decode(p, [0x001f, 0xffff, 0xffff, 0xffff])).toBe(Number.MAX_SAFE_INTEGER);
    expect(decode(p, [0x0020, 0, 0, 0])).toBe('9007199254740992');
    expect(encode(p, '9007199254740993')).toEqual([0x0020, 0, 0, 1]);
    expect(encode(p, 42)).toEqual([0, 0, 0, 42]);
  });

  it('takes value type names in any case, as EdgeX does', () => {
    expect(point('float32' as ValueType).valueType).toBe('Float32');
  });

  it('takes numeric strings for numbers (EdgeX sends values as strings)', () => {
    expect(encode(point('Int16'), '-300')).toEqual([0xfed4]);
    expect(encode(point('Float32'), '1.5')).toEqual([0x3fc0, 0]);
  });
});

describe('codec: bits, coils, strings', () => {
  it('reads and writes coils and discrete inputs as Bool', () => {
    const { points } = resolvePoints([
      { name: 'c', valueType: 'Bool', readWrite: 'RW', attributes: { primaryTable: 'COILS', startingAddress: 3 }, properties: {} },
      { name: 'd', valueType: 'Bool', readWrite: 'R', attributes: { primaryTable: 'DISCRETE_INPUTS', startingAddress: 3 }, properties: {} },
    ]);
    const [coil, input] = points as [ModbusPoint, ModbusPoint];
    expect(decode(coil, [true])).toBe(true);
    expect(decode(input, [false, true, true])).toBe(false);
    expect(decode(coil, [1])).toBe(true);
    expect(encode(coil, false)).toEqual([false]);
    expect(encode(coil, 'TRUE')).toEqual([true]);
    expect(encode(coil, 1)).toEqual([true]);
    expect(codeOf(() => encode(input, true))).toBe('EDGE_ERR_MODBUS_NOT_WRITABLE');
    expect(codeOf(() => encode(coil, 'on'))).toBe('EDGE_ERR_MODBUS_VALUE_TYPE');
  });

  it('reads a bit of a register ("reg.bit", bit 0 least significant)', () => {
    const w = 0b0000_0100_0000_0001; // bits 0 and 10
    expect(decode(point('Bool', { startingAddress: '0.0' }), [w])).toBe(true);
    expect(decode(point('Bool', { startingAddress: '0.1' }), [w])).toBe(false);
    expect(decode(point('Bool', { startingAddress: 0.1 }), [w])).toBe(true); // 0.1 -> "0.10": bit 10, as EdgeX reads it
    expect(decode(point('Bool', { startingAddress: '0.15' }), [0x8000])).toBe(true);
    expect(decode(point('Bool', { startingAddress: '0.15', isByteSwap: true }), [0x0080])).toBe(true);
  });

  it('writes a bit of a register into its current content, and refuses without it', () => {
    const p = point('Bool', { startingAddress: '0.4' });
    expect(encode(p, true, [0xa001])).toEqual([0xa011]);
    expect(encode(p, false, [0xffff])).toEqual([0xffef]);
    expect(codeOf(() => encode(p, true))).toBe('EDGE_ERR_MODBUS_WRITE_NEEDS_CURRENT');
  });

  it('reads strings two characters per register, trimming NULs, and writes them padded', () => {
    const p = point('String', { stringRegisterSize: 3 });
    expect(decode(p, [0x4865, 0x6c6c, 0x6f00])).toBe('Hello');
    expect(decode(p, [0x0000, 0x4869, 0x0000])).toBe('Hi');
    expect(encode(p, 'Hello')).toEqual([0x4865, 0x6c6c, 0x6f00]);
    expect(encode(p, '')).toEqual([0, 0, 0]);
    expect(encode(p, 'abcdef')).toEqual([0x6162, 0x6364, 0x6566]);
    const swapped = point('String', { stringRegisterSize: 3, isByteSwap: 'true' });
    expect(decode(swapped, [0x6548, 0x6c6c, 0x006f])).toBe('Hello');
    expect(encode(swapped, 'Hello')).toEqual([0x6548, 0x6c6c, 0x006f]);
    const err = (() => {
      try {
        encode(p, 'Hello World');
      } catch (e) {
        return e as Error & { code: string };
      }
      return undefined;
    })();
    expect(err?.code).toBe('EDGE_ERR_MODBUS_VALUE_RANGE');
    expect(err?.message).toBe("resource 'r': 'Hello World' is 11 bytes, longer than its 3 register(s) (6 bytes)");
    expect(codeOf(() => encode(p, 5))).toBe('EDGE_ERR_MODBUS_VALUE_TYPE');
  });
});

describe('codec: transforms (EdgeX order: mask, shift, base, scale, offset; reversed on write)', () => {
  it('scales a raw Int16 into a Float32 reading and back (EdgeX RoomTemperature)', () => {
    const p = point('Float32', { rawType: 'Int16' }, { scale: 0.1 });
    expect(decode(p, [215])).toBe(21.5);
    expect(decode(p, [217])).toBe(21.7);
    expect(decode(p, [0xffc9])).toBe(-5.5);
    expect(encode(p, 21.7)).toEqual([217]);
    expect(encode(p, -5.5)).toEqual([0xffc9]);
  });

  it('applies scale before offset, and reverses offset before scale', () => {
    const p = point('Float64', { rawType: 'Uint16' }, { scale: '0.5', offset: '-40' });
    expect(decode(p, [100])).toBe(10);
    expect(encode(p, 10)).toEqual([100]);
  });

  it('applies base as base ** value, and its logarithm on write', () => {
    const p = point('Float64', { rawType: 'Uint16' }, { base: 10 });
    expect(decode(p, [3])).toBe(1000);
    expect(encode(p, 1000)).toEqual([3]);
    expect(codeOf(() => encode(p, -1))).toBe('EDGE_ERR_MODBUS_VALUE_RANGE');
  });

  it('masks, then shifts, on read; on write checks the mask and keeps the other bits of the register', () => {
    const p = point('Uint16', {}, { mask: 0x0ff0, shift: -4 });
    expect(decode(p, [0xab12])).toBe(0xb1);
    expect(encode(p, 0xcd, [0xab12])).toEqual([0xacd2]);
    expect(codeOf(() => encode(p, 0x1cd, [0]))).toBe('EDGE_ERR_MODBUS_VALUE_RANGE');
    expect(codeOf(() => encode(p, 0xcd))).toBe('EDGE_ERR_MODBUS_WRITE_NEEDS_CURRENT');
    const left = point('Uint16', {}, { shift: 2 });
    expect(decode(left, [3])).toBe(12);
    expect(encode(left, 12)).toEqual([3]);
    expect(codeOf(() => encode(left, 13))).toBe('EDGE_ERR_MODBUS_VALUE_RANGE');
  });

  it('rounds an integer valueType after float transforms and reports overflow of its range', () => {
    const p = point('Int16', {}, { scale: 0.1 });
    expect(decode(p, [215])).toBe(22);
    expect(codeOf(() => decode(point('Uint16', {}, { scale: 2 }), [40000]))).toBe('EDGE_ERR_MODBUS_VALUE_OVERFLOW');
    expect(codeOf(() => decode(point('Uint8', {}, { shift: 4 }), [0xf0]))).toBe('EDGE_ERR_MODBUS_VALUE_OVERFLOW');
    expect(codeOf(() => decode(point('Float32', {}, { scale: 1e30 }), [0x7f00, 0]))).toBe('EDGE_ERR_MODBUS_VALUE_OVERFLOW');
  });

  it('round-trips registers through decode and encode under scale and offset', () => {
    const p = point('Float64', { rawType: 'Int32', isWordSwap: true }, { scale: 0.01, offset: 100 });
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (raw) => {
        const words = encode(point('Int32', { isWordSwap: true }), raw);
        expect(encode(p, decode(p, words))).toEqual(words);
      }),
    );
  });

  it('round-trips every raw Int16 through a scaled Float32 reading (EdgeX RoomTemperature)', () => {
    const p = point('Float32', { rawType: 'Int16' }, { scale: 0.1 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), (w) => {
        const value = decode(p, [w]) as number;
        expect(value).toBeCloseTo((w >= 0x8000 ? w - 0x10000 : w) / 10, 3);
        expect(encode(p, value)).toEqual([w]);
      }),
    );
  });

  it('round-trips masked fields and leaves the bits outside the mask alone', () => {
    const p = point('Uint32', { isByteSwap: true }, { mask: 0x00ff_ff00, shift: -8 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 2, maxLength: 2 }), (v, current) => {
        const words = encode(p, v, current) as number[];
        expect(decode(p, words)).toBe(v);
        const raw = (w: number[]): number => {
          const b = w.map((x) => ((x & 0xff) << 8) | (x >> 8));
          return ((b[0]! << 16) | b[1]!) >>> 0;
        };
        expect((raw(words) & ~0x00ffff00) >>> 0).toBe((raw(current) & ~0x00ffff00) >>> 0);
      }),
    );
  });
});

describe('codec: range and type errors on write', () => {
  function error(p: ModbusPoint, v: ReadingValue): { code: string; message: string } | undefined {
    try {
      encode(p, v);
    } catch (err) {
      const e = err as { code: string; message: string };
      return { code: e.code, message: e.message };
    }
    return undefined;
  }

  it('names the resource, the value and the limit', () => {
    const op = point('Int16', {}, { minimum: 0, maximum: 11 });
    expect(error(op, 12)).toEqual({ code: 'EDGE_ERR_MODBUS_VALUE_RANGE', message: "resource 'r': 12 is above the maximum 11" });
    expect(error(op, -1)).toEqual({ code: 'EDGE_ERR_MODBUS_VALUE_RANGE', message: "resource 'r': -1 is below the minimum 0" });
    expect(error(point('Int16'), 40000)).toEqual({ code: 'EDGE_ERR_MODBUS_VALUE_RANGE', message: "resource 'r': 40000 is outside Int16 (-32768..32767)" });
    expect(error(point('Float32', { rawType: 'Int16' }, { scale: 0.1 }), 4000)).toEqual({
      code: 'EDGE_ERR_MODBUS_VALUE_RANGE',
      message: "resource 'r': 4000 needs raw 40000, outside the register encoding Int16 (-32768..32767)",
    });
  });

  it('checks every type\'s range', () => {
    expect(error(point('Uint16'), -1)?.code).toBe('EDGE_ERR_MODBUS_VALUE_RANGE');
    expect(error(point('Uint8'), 256)?.code).toBe('EDGE_ERR_MODBUS_VALUE_RANGE');
    expect(error(point('Int8'), -129)?.code).toBe('EDGE_ERR_MODBUS_VALUE_RANGE');
    expect(error(point('Int32'), 2 ** 31)?.code).toBe('EDGE_ERR_MODBUS_VALUE_RANGE');
    expect(error(point('Uint32'), 2 ** 32)?.code).toBe('EDGE_ERR_MODBUS_VALUE_RANGE');
    expect(error(point('Int64'), '9223372036854775808')?.code).toBe('EDGE_ERR_MODBUS_VALUE_RANGE');
    expect(error(point('Uint64'), '-1')?.code).toBe('EDGE_ERR_MODBUS_VALUE_RANGE');
    expect(error(point('Float32'), 1e39)?.code).toBe('EDGE_ERR_MODBUS_VALUE_RANGE');
    expect(error(point('Int32'), 2 ** 31 - 1)).toBeUndefined();
  });

  it('refuses values that are not of the valueType', () => {
    for (const [vt, v] of [['Int16', 1.5], ['Int16', 'abc'], ['Int16', true], ['Float32', Number.NaN], ['Float64', 'nan'], ['Uint64', '1e3'], ['Int32', null], ['Float32', [1]]] as const) {
      expect(error(point(vt), v as ReadingValue), `${vt} ${String(v)}`).toMatchObject({ code: 'EDGE_ERR_MODBUS_VALUE_TYPE' });
    }
  });

  it('refuses writes to read-only resources', () => {
    expect(error(point('Int16', {}, {}, 'R'), 1)).toEqual({ code: 'EDGE_ERR_MODBUS_NOT_WRITABLE', message: "resource 'r' is not writable: its readWrite is 'R'" });
    const input: ModbusPoint = { ...point('Int16'), table: 'INPUT_REGISTERS' };
    expect(error(input, 1)?.code).toBe('EDGE_ERR_MODBUS_NOT_WRITABLE');
  });
});

describe('codec: bad replies become coded errors, never crashes', () => {
  it('short, garbled, NaN', () => {
    expect(codeOf(() => decode(point('Float32'), [0x3fc0]))).toBe('EDGE_ERR_MODBUS_REPLY_SHORT');
    expect(codeOf(() => decode(point('Int16'), []))).toBe('EDGE_ERR_MODBUS_REPLY_SHORT');
    for (const bad of [70000, -1, 1.5, Number.NaN]) expect(codeOf(() => decode(point('Int16'), [bad]))).toBe('EDGE_ERR_MODBUS_REPLY_INVALID');
    expect(codeOf(() => decode(point('Int16'), [true]))).toBe('EDGE_ERR_MODBUS_REPLY_INVALID');
    const coil = resolvePoints([{ name: 'c', valueType: 'Bool', readWrite: 'R', attributes: { primaryTable: 'COILS', startingAddress: 0 }, properties: {} }]).points[0]!;
    expect(codeOf(() => decode(coil, [2]))).toBe('EDGE_ERR_MODBUS_REPLY_INVALID');
    expect(codeOf(() => decode(coil, []))).toBe('EDGE_ERR_MODBUS_REPLY_SHORT');
    expect(codeOf(() => decode(point('Float32'), [0x7fc0, 0]))).toBe('EDGE_ERR_MODBUS_VALUE_NAN');
    expect(codeOf(() => decode(point('Float64'), [0x7ff0, 0, 0, 0]))).toBe('EDGE_ERR_MODBUS_VALUE_NAN');
  });

  it('never throws anything but a coded error on arbitrary replies', () => {
    const points = (['Int8', 'Uint16', 'Int32', 'Float32', 'Uint64', 'Float64'] as const).map((vt) => point(vt, {}, { scale: 3 }));
    points.push(point('String', { stringRegisterSize: 4 }), point('Bool', { startingAddress: '0.7' }));
    fc.assert(
      fc.property(fc.constantFrom(...points), fc.array(fc.oneof(fc.integer({ min: -2, max: 0x10001 }), fc.boolean(), fc.double()), { maxLength: 5 }), (p, reply) => {
        try {
          decode(p, reply as number[]);
        } catch (err) {
          expect((err as { code?: string }).code).toMatch(/^EDGE_ERR_MODBUS_/);
        }
      }),
    );
  });
});

describe('codec: round trips (properties)', () => {
  const swapsArb = fc.record({ isByteSwap: fc.boolean(), isWordSwap: fc.boolean() });
  const word = fc.integer({ min: 0, max: 0xffff });

  it('registers -> reading -> registers is the identity for every integer type and swap', () => {
    const types = [['Int16', 1], ['Uint16', 1], ['Int32', 2], ['Uint32', 2], ['Int64', 4], ['Uint64', 4]] as const;
    fc.assert(
      fc.property(fc.constantFrom(...types), swapsArb, fc.array(word, { minLength: 4, maxLength: 4 }), ([vt, n], swaps, words) => {
        const p = point(vt, n === 1 ? { isByteSwap: swaps.isByteSwap } : swaps);
        const w = words.slice(0, n);
        expect(encode(p, decode(p, w))).toEqual(w);
      }),
    );
  });

  it('registers -> reading -> registers is the identity for floats that are numbers', () => {
    fc.assert(
      fc.property(fc.constantFrom(['Float32', 2] as const, ['Float64', 4] as const), swapsArb, fc.array(word, { minLength: 4, maxLength: 4 }), ([vt, n], swaps, words) => {
        const p = point(vt, swaps);
        const w = words.slice(0, n);
        let value: ReadingValue;
        try {
          value = decode(p, w);
        } catch (err) {
          expect((err as { code: string }).code).toBe('EDGE_ERR_MODBUS_VALUE_NAN');
          return;
        }
        expect(encode(p, value)).toEqual(w);
      }),
    );
  });

  it('value -> registers -> value for integers of every width', () => {
    const cases = [
      ['Int8', -(2 ** 7), 2 ** 7 - 1],
      ['Uint8', 0, 2 ** 8 - 1],
      ['Int16', -(2 ** 15), 2 ** 15 - 1],
      ['Uint16', 0, 2 ** 16 - 1],
      ['Int32', -(2 ** 31), 2 ** 31 - 1],
      ['Uint32', 0, 2 ** 32 - 1],
    ] as const;
    for (const [vt, min, max] of cases) {
      fc.assert(
        fc.property(fc.integer({ min, max }), swapsArb, (v, swaps) => {
          const p = point(vt, { isByteSwap: swaps.isByteSwap, ...(vt.endsWith('32') ? { isWordSwap: swaps.isWordSwap } : {}) });
          expect(decode(p, encode(p, v))).toBe(v);
        }),
      );
    }
  });

  it('value -> registers -> value for 64-bit integers (BigInt exact)', () => {
    for (const [vt, min, max] of [['Int64', -(2n ** 63n), 2n ** 63n - 1n], ['Uint64', 0n, 2n ** 64n - 1n]] as const) {
      fc.assert(
        fc.property(fc.bigInt({ min, max }), swapsArb, (v, swaps) => {
          const p = point(vt, swaps);
          const out = decode(p, encode(p, v.toString()));
          expect(BigInt(out as number | string)).toBe(v);
          expect(typeof out).toBe(Number.isSafeInteger(Number(v)) ? 'number' : 'string');
        }),
      );
    }
  });

  it('value -> registers -> value for floats (Float32 as the same float32)', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), swapsArb, (v, swaps) => {
        const out = decode(point('Float32', swaps), encode(point('Float32', swaps), v)) as number;
        expect(Math.fround(out)).toBe(v);
        expect(String(out).length).toBeLessThanOrEqual(String(v).length);
      }),
    );
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), swapsArb, (v, swaps) => {
        expect(decode(point('Float64', swaps), encode(point('Float64', swaps), v))).toBe(v);
      }),
    );
  });

  it('value -> registers -> value for ASCII strings that fit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 123 }), fc.string({ unit: fc.integer({ min: 1, max: 127 }).map((c) => String.fromCharCode(c)), maxLength: 246 }), fc.boolean(), (n, s, isByteSwap) => {
        const p = point('String', { stringRegisterSize: n, isByteSwap });
        if (s.length > 2 * n) {
          expect(codeOf(() => encode(p, s))).toBe('EDGE_ERR_MODBUS_VALUE_RANGE');
          return;
        }
        const words = encode(p, s);
        expect(words).toHaveLength(n);
        expect(decode(p, words)).toBe(s);
      }),
    );
  });

  it('a register bit write changes that bit only', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 15 }), word, fc.boolean(), (bit, current, on) => {
        const p = point('Bool', { startingAddress: `9.${bit}` });
        const [next] = encode(p, on, [current]) as number[];
        expect(decode(p, [next!])).toBe(on);
        expect(next! & ~(1 << bit)).toBe(current & ~(1 << bit));
      }),
    );
  });
});
