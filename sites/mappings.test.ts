/**
 * Value mappings around a real driver connection (the simulator plugin's
 * driver, whose setpoints hold what is written): reads come back as the
 * mapped names with valueType String, names written become the raw values,
 * and everything the tables do not name passes unchanged.
 */
import { describe, expect, it } from 'vitest';
import type { DeviceConnection, DriverDevice, Sample, SampleSink } from '../core/sdk/index.ts';
import type { ProfileSources } from '../core/store/index.ts';
import { createSimulatorDriver } from '../plugins/simulator/index.ts';
import { mapSample, valueFromText, valueMappings, valueText, withValueMappings } from './mappings.ts';

/** A profile for the simulator: its resources' functions and types, as the site hands them to the driver. */
interface SimProfile extends ProfileSources {
  deviceResources: { name: string; attributes: Record<string, unknown>; properties: { valueType: 'Uint8' | 'Bool'; readWrite: string; units?: string } }[];
}

const PROFILE: SimProfile = {
  deviceResources: [
    { name: 'mode', attributes: { function: 'setpoint', initial: 3 }, properties: { valueType: 'Uint8', readWrite: 'RW' } },
    { name: 'power', attributes: { function: 'setpoint', initial: 0 }, properties: { valueType: 'Bool', readWrite: 'RW' } },
    { name: 'level', attributes: { function: 'setpoint', initial: 7 }, properties: { valueType: 'Uint8', readWrite: 'RW', units: '%' } },
  ],
  deviceCommands: [
    {
      name: 'Values',
      readWrite: 'RW',
      resourceOperations: [
        { deviceResource: 'mode', mappings: { '0': 'Off', '1': 'Cool', '3': 'Dry', '300': 'Too big' } },
        { deviceResource: 'power', mappings: { true: 'ON', false: 'OFF' } },
        { deviceResource: 'level' },
      ],
    },
  ],
};

function device(profile: SimProfile): DriverDevice {
  return {
    site: 'plant-a',
    name: 'ac-1',
    profile: 'ac',
    protocol: { seed: '1' },
    resources: profile.deviceResources.map((r) => ({
      name: r.name,
      valueType: r.properties.valueType,
      readWrite: 'RW' as const,
      attributes: r.attributes,
      properties: {},
      ...(r.properties.units === undefined ? {} : { units: r.properties.units }),
    })),
  };
}

async function connect(profile = PROFILE): Promise<{ raw: DeviceConnection; conn: DeviceConnection }> {
  const dev = device(profile);
  const raw = await createSimulatorDriver().connect(dev);
  return { raw, conn: withValueMappings(raw, dev, profile) };
}

const values = (samples: readonly Sample[]): Record<string, [unknown, string]> => Object.fromEntries(samples.map((s) => [s.resource, [s.value, s.valueType]]));

describe('value mappings', () => {
  it('reads mapped values as their names with valueType String, and unmapped ones as they are', async () => {
    const { conn } = await connect();
    const read = await conn.read(['mode', 'power', 'level']);
    expect(values(read)).toEqual({ mode: ['Dry', 'String'], power: ['OFF', 'String'], level: [7, 'Uint8'] });
    expect(read.find((s) => s.resource === 'level')).toMatchObject({ units: '%', quality: 'good' });
    // A value the table does not name passes with its own valueType.
    expect(await conn.write([{ resource: 'mode', value: 2 }])).toEqual([{ resource: 'mode', ok: true }]);
    expect(values(await conn.read(['mode']))).toEqual({ mode: [2, 'Uint8'] });
  });

  it('writes a name as the raw value its key spells, and anything else unchanged', async () => {
    const { raw, conn } = await connect();
    expect(await conn.write([{ resource: 'mode', value: 'Cool' }, { resource: 'power', value: 'ON' }])).toEqual([
      { resource: 'mode', ok: true },
      { resource: 'power', ok: true },
    ]);
    expect(values(await raw.read(['mode', 'power']))).toEqual({ mode: [1, 'Uint8'], power: [true, 'Bool'] });
    expect(values(await conn.read(['mode', 'power']))).toEqual({ mode: ['Cool', 'String'], power: ['ON', 'String'] });
    // A raw value goes through as it is.
    await conn.write([{ resource: 'mode', value: 3 }]);
    expect(values(await conn.read(['mode']))).toEqual({ mode: ['Dry', 'String'] });
    // A string the table does not name reaches the driver unchanged, which refuses it for a Uint8.
    const [unknown] = await conn.write([{ resource: 'mode', value: 'Heat' }]);
    expect(unknown).toMatchObject({ resource: 'mode', ok: false, error: { code: 'EDGE_ERR_SIM_VALUE' } });
  });

  it("refuses a name whose key is no value of the resource's type, naming it, without calling the driver, and writes the rest", async () => {
    const { raw, conn } = await connect();
    const results = await conn.write([
      { resource: 'mode', value: 'Too big' },
      { resource: 'level', value: 9 },
    ]);
    expect(results).toHaveLength(2);
    expect(results[0]).toMatchObject({ resource: 'mode', ok: false, error: { code: 'EDGE_ERR_VALUE_MAPPING' } });
    expect(results[0]!.error!.message).toBe(
      "device 'ac-1': resource 'mode' maps 'Too big' to '300', which is not a value of valueType Uint8 (300 is outside 0..255 (valueType Uint8)); fix the mappings of the profile",
    );
    expect(results[1]).toEqual({ resource: 'level', ok: true });
    expect(values(await raw.read(['mode', 'level']))).toEqual({ mode: [3, 'Uint8'], level: [9, 'Uint8'] });
  });

  it('leaves a connection without mappings as it is', async () => {
    const plain: SimProfile = { ...PROFILE, deviceCommands: [{ name: 'Values', readWrite: 'RW', resourceOperations: [{ deviceResource: 'mode' }] }] };
    const dev = device(plain);
    const raw = await createSimulatorDriver().connect(dev);
    expect(withValueMappings(raw, dev, plain)).toBe(raw);
    expect(withValueMappings(raw, dev, undefined)).toBe(raw);
    expect(valueMappings(plain)).toBeUndefined();
  });

  it('maps what a push subscription delivers', async () => {
    const delivered: Sample[][] = [];
    let push: SampleSink = () => undefined;
    // A connection that pushes: what the wrapper hands the platform's sink is what counts.
    const pushing: DeviceConnection = {
      read: () => Promise.resolve([]),
      write: () => Promise.resolve([]),
      subscribe: (_resources, _options, sink) => {
        push = sink;
        return Promise.resolve({ close: () => Promise.resolve() });
      },
      close: () => Promise.resolve(),
    };
    const conn = withValueMappings(pushing, device(PROFILE), PROFILE);
    await conn.subscribe!(['mode'], { mode: 'onChange' }, (s) => delivered.push([...s]));
    push([{ resource: 'mode', value: 0, valueType: 'Uint8', origin: 1, quality: 'good' }]);
    expect(delivered).toEqual([[{ resource: 'mode', value: 'Off', valueType: 'String', origin: 1, quality: 'good' }]]);
  });

  it('spells values and parses keys as EdgeX does', () => {
    expect([valueText(3), valueText(true), valueText(1.5), valueText('x'), valueText(null), valueText([1])]).toEqual(['3', 'true', '1.5', 'x', undefined, undefined]);
    const bad: Sample = { resource: 'mode', value: null, valueType: 'Uint8', origin: 1, quality: 'bad' };
    expect(mapSample(bad, new Map([['null', 'x']]))).toBe(bad);
    expect(valueFromText('3', 'Uint8')).toEqual({ value: 3 });
    expect(valueFromText('-3', 'Uint8')).toEqual({ problem: '-3 is outside 0..255 (valueType Uint8)' });
    expect(valueFromText('2.5', 'Int16')).toEqual({ problem: 'number NaN is not an integer (valueType Int16)' });
    expect(valueFromText('T', 'Bool')).toEqual({ value: true });
    expect(valueFromText('yes', 'Bool')).toEqual({ problem: 'not true or false' });
    expect(valueFromText('1.25', 'Float32')).toEqual({ value: 1.25 });
    expect(valueFromText('', 'Float64')).toEqual({ problem: 'number NaN is not a finite number (valueType Float64)' });
    expect(valueFromText('18446744073709551615', 'Uint64')).toEqual({ value: '18446744073709551615' });
    expect(valueFromText('42', 'Int64')).toEqual({ value: 42 });
    expect(valueFromText('-1', 'Uint64')).toEqual({ problem: '-1 is outside the Uint64 range' });
    expect(valueFromText('Dry', 'String')).toEqual({ value: 'Dry' });
    expect(valueFromText('[1]', 'Uint8Array')).toEqual({ problem: 'mappings apply to scalar values only' });
  });
});
