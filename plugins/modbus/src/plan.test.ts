import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DriverResource, ValueType } from '../../../core/sdk/index.ts';
import { decode } from './codec.ts';
import { planReads, slice, type ReadRequest } from './plan.ts';
import { resolvePoints, type ModbusPoint, type PrimaryTable } from './profile.ts';

function points(...specs: [name: string, table: PrimaryTable, address: number | string, valueType?: ValueType, size?: number][]): ModbusPoint[] {
  const resources: DriverResource[] = specs.map(([name, table, address, valueType = table === 'COILS' || table === 'DISCRETE_INPUTS' ? 'Bool' : 'Uint16', size]) => ({
    name,
    valueType,
    readWrite: 'R',
    attributes: { primaryTable: table, startingAddress: address, ...(size ? { stringRegisterSize: size } : {}) },
    properties: {},
  }));
  const r = resolvePoints(resources);
  expect(r.issues).toEqual([]);
  return r.points;
}

const shape = (reqs: ReadRequest[]): [string, number, number, string[]][] => reqs.map((r) => [r.table, r.address, r.count, r.points.map((p) => p.resource)]);
const HR = 'HOLDING_REGISTERS';

describe('planReads', () => {
  it('groups contiguous points of a table into one request, tables apart, in a fixed order', () => {
    const ps = points(
      ['t', HR, 2, 'Float32'],
      ['s', HR, 0, 'Uint16'],
      ['u', HR, 1, 'Int16'],
      ['i', 'INPUT_REGISTERS', 0, 'Uint64'],
      ['c2', 'COILS', 1],
      ['c1', 'COILS', 0],
      ['d', 'DISCRETE_INPUTS', 7],
    );
    expect(shape(planReads(ps))).toEqual([
      ['COILS', 0, 2, ['c1', 'c2']],
      ['DISCRETE_INPUTS', 7, 1, ['d']],
      ['INPUT_REGISTERS', 0, 4, ['i']],
      [HR, 0, 4, ['s', 'u', 't']],
    ]);
    // Deterministic whatever the input order.
    expect(shape(planReads([...ps].reverse()))).toEqual(shape(planReads(ps)));
  });

  it('splits at gaps unless maxGap bridges them', () => {
    const ps = points(['a', HR, 0], ['b', HR, 3], ['c', HR, 10]);
    expect(shape(planReads(ps))).toEqual([
      [HR, 0, 1, ['a']],
      [HR, 3, 1, ['b']],
      [HR, 10, 1, ['c']],
    ]);
    expect(shape(planReads(ps, { maxGap: 2 }))).toEqual([
      [HR, 0, 4, ['a', 'b']],
      [HR, 10, 1, ['c']],
    ]);
    expect(shape(planReads(ps, { maxGap: 6 }))).toEqual([[HR, 0, 11, ['a', 'b', 'c']]]);
  });

  it('shares registers between bits of one register and overlapping points', () => {
    const ps = points(['b3', HR, '5.3', 'Bool'], ['b0', HR, '5.0', 'Bool'], ['w', HR, 4, 'Uint32'], ['x', HR, 5, 'Uint16']);
    expect(shape(planReads(ps))).toEqual([[HR, 4, 2, ['w', 'b0', 'b3', 'x']]]);
  });

  it('stays within 125 registers and never splits a point', () => {
    // 40 Float64 values back to back: 160 registers.
    const ps = points(...Array.from({ length: 40 }, (_, i) => [`f${i}`, HR, i * 4, 'Float64'] as [string, PrimaryTable, number, ValueType]));
    const reqs = planReads(ps);
    expect(shape(reqs).map(([t, a, c, names]) => [t, a, c, names.length])).toEqual([
      [HR, 0, 124, 31],
      [HR, 124, 36, 9],
    ]);
    expect(shape(planReads(ps, { maxRegisters: 10 })).map(([, a, c]) => [a, c]).slice(0, 3)).toEqual([
      [0, 8],
      [8, 8],
      [16, 8],
    ]);
  });

  it('stays within 2000 bits for coils and discrete inputs', () => {
    const ps = points(...Array.from({ length: 2500 }, (_, i) => [`c${i}`, 'COILS', i] as [string, PrimaryTable, number]));
    expect(shape(planReads(ps)).map(([t, a, c, names]) => [t, a, c, names.length])).toEqual([
      ['COILS', 0, 2000, 2000],
      ['COILS', 2000, 500, 500],
    ]);
    expect(planReads(ps, { maxBits: 1000 })).toHaveLength(3);
  });

  it('refuses limits outside the protocol and points larger than the limit', () => {
    const ps = points(['s', HR, 0, 'String', 20]);
    expect(() => planReads(ps, { maxRegisters: 126 })).toThrow(expect.objectContaining({ code: 'EDGE_ERR_MODBUS_PLAN', message: 'maxRegisters must be an integer 1..125, is 126' }));
    expect(() => planReads(ps, { maxBits: 0 })).toThrow(expect.objectContaining({ code: 'EDGE_ERR_MODBUS_PLAN' }));
    expect(() => planReads(ps, { maxGap: -1 })).toThrow(expect.objectContaining({ code: 'EDGE_ERR_MODBUS_PLAN' }));
    expect(() => planReads(ps, { maxRegisters: 10 })).toThrow(expect.objectContaining({ code: 'EDGE_ERR_MODBUS_PLAN', message: expect.stringContaining("resource 's' takes 20 registers") }));
    expect(planReads([])).toEqual([]);
  });

  it('covers every point exactly once, inside its request, within limits (property)', () => {
    const tables = ['COILS', 'DISCRETE_INPUTS', 'INPUT_REGISTERS', HR] as const;
    const types = ['Uint16', 'Int32', 'Float64', 'Bool'] as const;
    const arb = fc.array(fc.record({ table: fc.constantFrom(...tables), address: fc.integer({ min: 0, max: 400 }), vt: fc.constantFrom(...types), bit: fc.integer({ min: 0, max: 15 }) }), { maxLength: 60 });
    fc.assert(
      fc.property(arb, fc.integer({ min: 0, max: 20 }), fc.integer({ min: 4, max: 125 }), fc.integer({ min: 1, max: 2000 }), (specs, maxGap, maxRegisters, maxBits) => {
        const ps = points(
          ...specs.map(({ table, address, vt, bit }, i): [string, PrimaryTable, number | string, ValueType] => {
            const bitTable = table === 'COILS' || table === 'DISCRETE_INPUTS';
            return [`p${i}`, table, !bitTable && vt === 'Bool' ? `${address}.${bit}` : address, bitTable ? 'Bool' : vt];
          }),
        );
        const reqs = planReads(ps, { maxGap, maxRegisters, maxBits });
        const seen = reqs.flatMap((r) => r.points.map((p) => p.resource));
        expect([...seen].sort()).toEqual(ps.map((p) => p.resource).sort());
        for (const r of reqs) {
          const bitTable = r.table === 'COILS' || r.table === 'DISCRETE_INPUTS';
          expect(r.count).toBeLessThanOrEqual(bitTable ? maxBits : maxRegisters);
          for (const p of r.points) {
            expect(p.table).toBe(r.table);
            expect(p.address).toBeGreaterThanOrEqual(r.address);
            expect(p.address + p.registers).toBeLessThanOrEqual(r.address + r.count);
          }
        }
        expect(planReads([...ps].reverse(), { maxGap, maxRegisters, maxBits })).toEqual(reqs);
      }),
    );
  });
});

describe('slice', () => {
  it('cuts each point\'s registers out of a grouped reply, ready for decode', () => {
    const ps = points(['mode', HR, 1, 'Int16'], ['temp', HR, 2, 'Float32'], ['big', HR, 4, 'Uint64']);
    const [req] = planReads(ps);
    expect(req).toMatchObject({ address: 1, count: 7 });
    const reply = [0xfffe, 0x3fc0, 0x0000, 0, 0, 0, 42];
    const values = req!.points.map((p) => decode(p, slice(req!, reply, p)));
    expect(values).toEqual([-2, 1.5, 42]);
    expect(slice(req!, reply, req!.points[1]!)).toEqual([0x3fc0, 0x0000]);
  });

  it('cuts coils out of a bit reply (modbus-serial pads it to whole bytes)', () => {
    const ps = points(['a', 'COILS', 10], ['b', 'COILS', 12]);
    const [req] = planReads(ps, { maxGap: 1 });
    const reply = [true, false, false, false, false, false, false, false];
    expect(req!.points.map((p) => decode(p, slice(req!, reply, p)))).toEqual([true, false]);
  });

  it('reports a short reply for the points it does not reach; the ones before stay readable', () => {
    const ps = points(['a', HR, 0, 'Uint16'], ['b', HR, 1, 'Uint32']);
    const [req] = planReads(ps);
    const short = [7, 1];
    expect(decode(req!.points[0]!, slice(req!, short, req!.points[0]!))).toBe(7);
    expect(() => slice(req!, short, req!.points[1]!)).toThrow(expect.objectContaining({ code: 'EDGE_ERR_MODBUS_REPLY_SHORT', message: expect.stringContaining("resource 'b'") }));
  });

  it('refuses a point that is not inside the request', () => {
    const ps = points(['a', HR, 0], ['z', HR, 50], ['c', 'COILS', 0]);
    const [first] = planReads([ps[0]!]);
    expect(() => slice(first!, [1], ps[1]!)).toThrow(expect.objectContaining({ code: 'EDGE_ERR_MODBUS_PLAN' }));
    expect(() => slice(first!, [1], ps[2]!)).toThrow(expect.objectContaining({ code: 'EDGE_ERR_MODBUS_PLAN' }));
  });
});
