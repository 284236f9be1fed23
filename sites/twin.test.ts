import { describe, expect, it } from 'vitest';
import type { Sample } from '../core/sdk/index.ts';
import { DeviceTwin, sameValue } from './twin.ts';

const reading = (resource: string, value: Sample['value'], origin: number, quality: Sample['quality'] = 'good'): Sample => ({ resource, value, valueType: 'Float32', origin, quality });

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('the device twin', () => {
  it('reports the newest good value of each writable resource only', () => {
    const twin = new DeviceTwin({ writable: ['setpoint'], settleMs: 0 });
    expect(twin.observe([reading('setpoint', 20, 2), reading('flow', 1, 2)]).changed).toBe(true);
    expect(twin.observe([reading('setpoint', 19, 1)]).changed).toBe(false);
    expect(twin.observe([reading('setpoint', null, 3, 'bad')]).changed).toBe(false);
    expect(twin.reported()).toEqual({ setpoint: { value: 20, origin: 2, quality: 'good' } });
  });

  it('reasserts a departed value after the settle time, backs off while it does not hold, and records the drift until it matches', () => {
    const c = clock();
    const twin = new DeviceTwin({ writable: ['setpoint'], desired: { setpoint: 42.5 }, settleMs: 2000, backoff: { minMs: 1000, maxMs: 4000 }, now: c.now });
    // Within the settle time (a command may be on its way): no judgement.
    expect(twin.observe([reading('setpoint', 20, 1)])).toEqual({ reassert: [], changed: true });
    expect(twin.drift()).toEqual({});
    c.advance(2000);
    expect(twin.observe([reading('setpoint', 20, 2)]).reassert).toEqual(['setpoint']);
    expect(twin.drift()).toMatchObject({ setpoint: { desired: 42.5, observed: 20, policy: 'reassert' } });
    twin.writing('setpoint');
    // While the write is in flight, a reading judges nothing.
    expect(twin.observe([reading('setpoint', 20, 3)]).reassert).toEqual([]);
    twin.written('setpoint', { error: 'EDGE_ERR_MODBUS_TIMEOUT no reply' });
    expect(twin.drift().setpoint).toMatchObject({ reasserts: 1, error: 'EDGE_ERR_MODBUS_TIMEOUT no reply' });
    expect(twin.observe([reading('setpoint', 20, 4)]).reassert).toEqual([]);
    c.advance(1000);
    expect(twin.observe([reading('setpoint', 20, 5)]).reassert).toEqual(['setpoint']);
    twin.written('setpoint', {});
    c.advance(1000);
    // The second wait doubled.
    expect(twin.observe([reading('setpoint', 20, 6)]).reassert).toEqual([]);
    // A Float32 register's rounding of 42.5 is no drift; it matches again.
    const back = twin.observe([reading('setpoint', 42.50000001, 7)]);
    expect(back.changed).toBe(true);
    const d = twin.drift().setpoint!;
    expect(d.resolvedAt).toBeDefined();
    expect(d.error).toBeUndefined();
    expect(d.reasserts).toBe(2);
  });

  it('only reports drift under policy report, per resource or for all with *', () => {
    const twin = new DeviceTwin({ writable: ['a', 'b'], desired: { a: 1, b: true }, policies: { '*': 'report', b: 'reassert' }, settleMs: 0 });
    expect(twin.observe([reading('a', 2, 1), reading('b', false, 1)]).reassert).toEqual(['b']);
    expect(twin.drift()).toMatchObject({ a: { policy: 'report', observed: 2, desired: 1 }, b: { policy: 'reassert' } });
  });

  it('compares values as a device returns them', () => {
    expect(sameValue(21.3, Math.fround(21.3))).toBe(true);
    expect(sameValue(21.3, 21.4)).toBe(false);
    expect(sameValue('42', 42)).toBe(true);
    expect(sameValue('42', '42.0')).toBe(false);
    expect(sameValue([1, 2], [1, 2])).toBe(true);
    expect(sameValue({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(sameValue(true, 'true')).toBe(false);
  });
});
