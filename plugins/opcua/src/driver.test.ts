import { rmSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { DataType, StatusCodes, Variant, VariantArrayType, type UAVariable } from 'node-opcua';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceConnection, DeviceDriver, DriverDevice, DriverResource, Sample } from '../../../core/sdk/index.ts';
import { deferCleanup } from '../../../test/support/cleanup.ts';
import { tempDir, waitFor } from '../../../test/support/hub-fixture.ts';
import { startOpcuaSimulator, type OpcuaSimulator } from '../testkit/server.ts';
import { createOpcuaDriver, type OpcuaSubscription } from './driver.ts';

function res(name: string, valueType: DriverResource['valueType'], attributes: Record<string, unknown>, extra: Partial<DriverResource> = {}): DriverResource {
  return { name, valueType, readWrite: 'RW', attributes, properties: {}, ...extra };
}

/** Warnings and errors the driver logs, parsed. */
const logLines: Record<string, unknown>[] = [];
const logger = pino(
  { level: 'warn' },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  }),
);

let sim: OpcuaSimulator;
let driver: DeviceDriver;
let dir: string;
const defer = deferCleanup();

function device(name: string, resources: DriverResource[], protocol: Record<string, unknown> = {}): DriverDevice {
  return { site: 'plant-a', name, profile: 'machine', protocolName: 'opcua', protocol: { Endpoint: sim.endpointUrl, ...protocol }, resources };
}

async function connect(d: DriverDevice): Promise<DeviceConnection> {
  const conn = await driver.connect(d);
  defer(() => conn.close());
  return conn;
}

function byName(samples: readonly Sample[]): Record<string, Sample> {
  return Object.fromEntries(samples.map((s) => [s.resource, s]));
}

beforeAll(async () => {
  dir = tempDir('opcua-driver');
  sim = await startOpcuaSimulator({ dir: path.join(dir, 'server'), securityModes: ['None'], changeIntervalMs: 3_600_000 });
  driver = createOpcuaDriver({ logger, dir: path.join(dir, 'agent'), site: 'plant-a' });
  // Nodes the simulator does not have: a 64-bit value beyond 2^53, a Byte array, a LocalizedText.
  const as = sim.server.engine.addressSpace!;
  const ns = as.getNamespace('urn:edgeadm:simulator');
  const machine = as.findNode(sim.nodeId('Machine'))!;
  const big = ns.addVariable({ componentOf: machine, browseName: 'BigCounter', nodeId: 's=Test.BigCounter', dataType: 'UInt64', accessLevel: 'CurrentRead | CurrentWrite', userAccessLevel: 'CurrentRead | CurrentWrite' });
  big.setValueFromSource(new Variant({ dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: [0xffffffff, 0xfffffffe] }));
  const text = ns.addVariable({ componentOf: machine, browseName: 'Label', nodeId: 's=Test.Label', dataType: 'LocalizedText', accessLevel: 'CurrentRead | CurrentWrite', userAccessLevel: 'CurrentRead | CurrentWrite' });
  text.setValueFromSource(new Variant({ dataType: DataType.LocalizedText, value: { text: 'Press 4', locale: 'en' } }));
  const stale = ns.addVariable({ componentOf: machine, browseName: 'Stale', nodeId: 's=Test.Stale', dataType: 'Double', accessLevel: 'CurrentRead', userAccessLevel: 'CurrentRead' });
  stale.setValueFromSource(new Variant({ dataType: DataType.Double, value: 7.25 }), StatusCodes.UncertainLastUsableValue);
}, 30_000);

afterAll(async () => {
  await driver?.close();
  await sim?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('opcua driver: reads', () => {
  it('reads every type in one call: scalars, arrays, 64-bit beyond 2^53, bad status, units from EUInformation', async () => {
    const conn = await connect(
      device('types', [
        res('bool', 'Bool', { nodeId: sim.nodeId('Machine.Boolean') }),
        res('i16', 'Int16', { nodeId: sim.nodeId('Machine.Int16') }),
        res('u32', 'Uint32', { nodeId: sim.nodeId('Machine.UInt32') }),
        res('i64', 'Int64', { nodeId: sim.nodeId('Machine.Int64') }),
        res('u64', 'Uint64', { nodeId: sim.nodeId('Test.BigCounter') }),
        res('f32', 'Float32', { nodeId: sim.nodeId('Machine.Float') }),
        res('str', 'String', { nodeId: `nsu=urn:edgeadm:simulator;s=Machine.String` }),
        res('when', 'String', { nodeId: sim.nodeId('Machine.DateTime') }),
        res('label', 'String', { nodeId: sim.nodeId('Test.Label') }),
        res('doubles', 'Float64Array', { nodeId: sim.nodeId('Machine.DoubleArray') }),
        res('ints', 'Int32Array', { nodeId: sim.nodeId('Machine.Int32Array') }),
        res('speed', 'Float64', { nodeId: sim.nodeId('Machine.Speed') }, { readWrite: 'R' }),
        res('temp', 'Float64', { nodeId: sim.nodeId('Machine.Temperature') }, { readWrite: 'R', units: 'degC' }),
        res('failing', 'Float64', { nodeId: sim.nodeId('Machine.Failing') }, { readWrite: 'R' }),
        res('missing', 'Float64', { nodeId: sim.nodeId('Machine.DoesNotExist') }, { readWrite: 'R' }),
        res('wrongType', 'Bool', { nodeId: sim.nodeId('Machine.Double') }),
        res('stale', 'Float64', { nodeId: sim.nodeId('Test.Stale') }, { readWrite: 'R' }),
      ]),
    );
    const v = byName(await conn.read(['bool', 'i16', 'u32', 'i64', 'u64', 'f32', 'str', 'when', 'label', 'doubles', 'ints', 'speed', 'temp', 'failing', 'missing', 'wrongType', 'stale', 'nope']));
    expect(v.bool).toMatchObject({ value: true, valueType: 'Bool', quality: 'good' });
    expect(v.i16).toMatchObject({ value: -16, quality: 'good' });
    expect(v.u32).toMatchObject({ value: 32, quality: 'good' });
    expect(v.i64).toMatchObject({ value: -64, valueType: 'Int64', quality: 'good' });
    expect(v.u64).toMatchObject({ value: '18446744073709551614', valueType: 'Uint64', quality: 'good' });
    expect(v.f32).toMatchObject({ value: 1.5, quality: 'good' });
    expect(v.str).toMatchObject({ value: 'hello', quality: 'good' });
    expect(v.when).toMatchObject({ value: '2024-01-02T03:04:05.000Z', quality: 'good' });
    expect(v.label).toMatchObject({ value: 'Press 4', quality: 'good' });
    expect(v.doubles).toMatchObject({ value: [1.5, 2.5, 3.5], valueType: 'Float64Array', quality: 'good' });
    expect(v.ints).toMatchObject({ value: [1, -2, 3], valueType: 'Int32Array', quality: 'good' });
    // Units: the server's EUInformation when the profile has none; the profile's when it has them.
    expect(v.speed).toMatchObject({ value: 1500, units: 'r/min', quality: 'good' });
    expect(v.temp).toMatchObject({ value: 21.5, units: 'degC', quality: 'good' });
    // A profile unit that differs from the server's is kept, and said once.
    expect(logLines.filter((l) => l.msg === 'opcua profile units differ from the server EngineeringUnits; keeping the profile units')).toEqual([
      expect.objectContaining({ device: 'types', resource: 'temp', profileUnits: 'degC', serverUnits: '°C' }),
    ]);
    await conn.read(['temp']);
    expect(logLines.filter((l) => l.resource === 'temp' && typeof l.serverUnits === 'string')).toHaveLength(1);
    expect(v.failing).toMatchObject({ value: null, quality: 'bad', qualityDetail: 'EDGE_ERR_OPCUA_STATUS BadDeviceFailure' });
    expect(v.missing).toMatchObject({ value: null, quality: 'bad', qualityDetail: 'EDGE_ERR_OPCUA_STATUS BadNodeIdUnknown' });
    expect(v.wrongType).toMatchObject({ value: null, quality: 'bad', qualityDetail: expect.stringMatching(/^EDGE_ERR_OPCUA_TYPE_MISMATCH /) });
    expect(v.stale).toMatchObject({ value: 7.25, quality: 'uncertain', qualityDetail: 'EDGE_ERR_OPCUA_STATUS UncertainLastUsableValue' });
    expect(v.nope).toMatchObject({ quality: 'bad', qualityDetail: 'EDGE_ERR_OPCUA_UNKNOWN_RESOURCE' });
    // The origin is the server's source timestamp, not the time of the read.
    const node = sim.server.engine.addressSpace!.findNode(sim.nodeId('Machine.Int16')) as UAVariable;
    const source = node.readValue().sourceTimestamp!.getTime();
    expect(Math.abs(v.i16!.origin - source * 1e6)).toBeLessThan(1000);
  });
});

describe('opcua driver: writes', () => {
  it('coerces each value to the node DataType, refuses out-of-range and mistyped values by name, and reads back', async () => {
    const conn = await connect(
      device('writes', [
        res('setpoint', 'Int16', { nodeId: sim.nodeId('Machine.Setpoint') }, { properties: { maximum: 1000 } }),
        res('i16', 'Int16', { nodeId: sim.nodeId('Machine.Int16') }),
        res('flag', 'Bool', { nodeId: sim.nodeId('Machine.Boolean') }),
        res('f32', 'Float32', { nodeId: sim.nodeId('Machine.Float') }),
        res('i64', 'Int64', { nodeId: sim.nodeId('Machine.Int64') }),
        res('doubles', 'Float64Array', { nodeId: sim.nodeId('Machine.DoubleArray') }),
        res('when', 'String', { nodeId: sim.nodeId('Machine.DateTime') }),
        res('speed', 'Float64', { nodeId: sim.nodeId('Machine.Speed') }),
        res('readOnly', 'Float64', { nodeId: sim.nodeId('Machine.Double') }, { readWrite: 'R' }),
      ]),
    );
    const ok = await conn.write([
      { resource: 'setpoint', value: '42' },
      { resource: 'flag', value: 'false' },
      { resource: 'f32', value: 0.25 },
      { resource: 'i64', value: '-9007199254740993' },
      { resource: 'doubles', value: '[4, 5.5]' },
      { resource: 'when', value: '2025-06-01T12:00:00Z' },
    ]);
    expect(ok).toEqual(['setpoint', 'flag', 'f32', 'i64', 'doubles', 'when'].map((resource) => ({ resource, ok: true })));
    const back = byName(await conn.read(['setpoint', 'flag', 'f32', 'i64', 'doubles', 'when']));
    expect(Object.fromEntries(Object.values(back).map((s) => [s.resource, s.value]))).toEqual({
      setpoint: 42,
      flag: false,
      f32: 0.25,
      i64: '-9007199254740993',
      doubles: [4, 5.5],
      when: '2025-06-01T12:00:00.000Z',
    });
    // The server got the node's own types: an Int16, a Double[] (not Int32 or a JSON string).
    expect(sim.get('Machine.Setpoint')).toBe(42);
    expect(Array.from(sim.get('Machine.DoubleArray') as Float64Array)).toEqual([4, 5.5]);

    const refused = await conn.write([
      { resource: 'i16', value: 40_000 },
      { resource: 'i16', value: 1.5 },
      { resource: 'flag', value: 'maybe' },
      { resource: 'setpoint', value: 1001 },
      { resource: 'doubles', value: 3 },
      { resource: 'speed', value: 10 },
      { resource: 'readOnly', value: 1 },
      { resource: 'nope', value: 1 },
    ]);
    expect(refused.map((r) => [r.resource, r.ok, r.error?.code])).toEqual([
      ['i16', false, 'EDGE_ERR_OPCUA_VALUE_RANGE'],
      ['i16', false, 'EDGE_ERR_OPCUA_VALUE_TYPE'],
      ['flag', false, 'EDGE_ERR_OPCUA_VALUE_TYPE'],
      ['setpoint', false, 'EDGE_ERR_OPCUA_VALUE_RANGE'],
      ['doubles', false, 'EDGE_ERR_OPCUA_VALUE_TYPE'],
      ['speed', false, 'EDGE_ERR_OPCUA_REFUSED'],
      ['readOnly', false, 'EDGE_ERR_OPCUA_NOT_WRITABLE'],
      ['nope', false, 'EDGE_ERR_OPCUA_UNKNOWN_RESOURCE'],
    ]);
    expect(refused[0]!.error!.message).toBe("resource 'i16': 40000 is outside the range of Int16 (-32768..32767)");
    expect(refused[5]!.error!.message).toMatch(/BadNotWritable/);
    // Nothing of the refused writes reached the server.
    expect(sim.get('Machine.Int16')).toBe(-16);
    expect(sim.get('Machine.Setpoint')).toBe(42);
  });

  it('calls a method as a write: inputs in, outputs read back as the resource value', async () => {
    const conn = await connect(
      device('methods', [
        res('add', 'Float64', { objectId: sim.nodeId('Machine'), methodId: sim.nodeId('Machine.Add') }),
        res('reset', 'Object', { objectId: sim.nodeId('Machine'), methodId: sim.nodeId('Machine.Reset') }, { readWrite: 'W' }),
        res('setpoint', 'Int16', { nodeId: sim.nodeId('Machine.Setpoint') }),
      ]),
    );
    expect((await conn.read(['add']))[0]).toMatchObject({ quality: 'bad', qualityDetail: expect.stringMatching(/^EDGE_ERR_OPCUA_METHOD_NOT_CALLED/) });
    expect(await conn.write([{ resource: 'add', value: [1.5, '2'] }])).toEqual([{ resource: 'add', ok: true }]);
    expect((await conn.read(['add']))[0]).toMatchObject({ value: 3.5, valueType: 'Float64', quality: 'good' });

    const wrong = await conn.write([{ resource: 'add', value: [1] }, { resource: 'add', value: ['x', 2] }]);
    expect(wrong.map((r) => r.error?.code)).toEqual(['EDGE_ERR_OPCUA_METHOD_ARGUMENTS', 'EDGE_ERR_OPCUA_VALUE_TYPE']);
    expect(wrong[1]!.error!.message).toMatch(/add\.input\[0\]/);

    await conn.write([{ resource: 'setpoint', value: 7 }]);
    expect(await conn.write([{ resource: 'reset', value: null }])).toEqual([{ resource: 'reset', ok: true }]);
    expect((await conn.read(['setpoint']))[0]!.value).toBe(0);
  });
});

describe('opcua driver: subscriptions', () => {
  async function collect(conn: DeviceConnection, resources: string[]): Promise<{ samples: Sample[]; sub: OpcuaSubscription }> {
    const samples: Sample[] = [];
    const sub = (await conn.subscribe!(resources, { mode: 'onChange' }, (batch) => samples.push(...batch))) as OpcuaSubscription;
    defer(() => sub.close());
    return { samples, sub };
  }
  const values = (samples: readonly Sample[], resource: string): unknown[] => samples.filter((s) => s.resource === resource).map((s) => s.value);
  const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  it('delivers changes beyond an absolute deadband and drops those within it', async () => {
    sim.set('Machine.Double', 10);
    const conn = await connect(
      device('abs', [res('d', 'Float64', { nodeId: sim.nodeId('Machine.Double'), deadbandType: 'Absolute', deadbandValue: 1 })], { publishingInterval: 100, samplingInterval: 0 }),
    );
    const { samples, sub } = await collect(conn, ['d']);
    expect(sub.issues).toEqual([]);
    await waitFor('initial value', () => values(samples, 'd').includes(10));
    sim.set('Machine.Double', 10.5);
    await pause(300);
    sim.set('Machine.Double', 12);
    await waitFor('12 delivered', () => values(samples, 'd').includes(12));
    sim.set('Machine.Double', 12.9);
    await pause(300);
    sim.set('Machine.Double', 10.5);
    await waitFor('10.5 delivered', () => values(samples, 'd').includes(10.5));
    expect(values(samples, 'd')).toEqual([10, 12, 10.5]);
    expect(samples.every((s) => s.quality === 'good' && s.valueType === 'Float64')).toBe(true);
  });

  it('applies a percent deadband against the EURange, and names a resource whose node has none', async () => {
    sim.set('Machine.Temperature', 20);
    sim.set('Machine.Double', 5);
    const conn = await connect(
      device('pct', [
        // EURange -40..200: 10 % is 24 degrees.
        res('temp', 'Float64', { nodeId: sim.nodeId('Machine.Temperature'), deadbandType: 'Percent', deadbandValue: 10 }, { readWrite: 'R' }),
        res('plain', 'Float64', { nodeId: sim.nodeId('Machine.Double'), deadbandType: 'Percent', deadbandValue: 10 }),
      ], { publishingInterval: 100, samplingInterval: 0 }),
    );
    const { samples, sub } = await collect(conn, ['temp', 'plain']);
    expect(sub.issues).toEqual([
      { path: 'deviceResources[1](plain).attributes.deadbandType', code: 'EDGE_ERR_OPCUA_FILTER_NOT_ALLOWED', message: expect.stringMatching(/Percent deadband .*EURange/) },
    ]);
    await waitFor('bad sample for plain', () => samples.find((s) => s.resource === 'plain'));
    expect(samples.find((s) => s.resource === 'plain')).toMatchObject({ quality: 'bad', qualityDetail: expect.stringMatching(/^EDGE_ERR_OPCUA_FILTER_NOT_ALLOWED Bad/) });
    await waitFor('initial temp', () => values(samples, 'temp').includes(20));
    sim.set('Machine.Temperature', 40);
    await pause(300);
    sim.set('Machine.Temperature', 45);
    await waitFor('45 delivered', () => values(samples, 'temp').includes(45));
    expect(values(samples, 'temp')).toEqual([20, 45]);
  });

  it('reports values lost in a full server queue as uncertain', async () => {
    sim.set('Machine.UInt16', 0);
    const conn = await connect(device('overflow', [res('u', 'Uint16', { nodeId: sim.nodeId('Machine.UInt16'), queueSize: 2 })], { publishingInterval: 2000, samplingInterval: 0 }));
    const { samples } = await collect(conn, ['u']);
    await waitFor('initial value', () => samples.length > 0, 10_000);
    for (let i = 1; i <= 8; i++) {
      sim.set('Machine.UInt16', i);
      await pause(80);
    }
    await waitFor('last value', () => values(samples, 'u').includes(8), 10_000);
    const overflowed = samples.filter((s) => s.quality === 'uncertain');
    expect(overflowed.length).toBeGreaterThan(0);
    expect(overflowed[0]!.qualityDetail).toBe('EDGE_ERR_OPCUA_QUEUE_OVERFLOW values were lost in the server queue');
    // Fewer samples than changes: the queue held two.
    expect(samples.length).toBeLessThan(9);
  });
});

describe('opcua driver: recovery', () => {
  it('marks the first sample of each resource after the session was re-created as uncertain', async () => {
    sim.set('Machine.Int32', 1);
    const conn = await connect(device('recover', [res('n', 'Int32', { nodeId: sim.nodeId('Machine.Int32') })], { publishingInterval: 100, samplingInterval: 0 }));
    const samples: Sample[] = [];
    const sub = await conn.subscribe!(['n'], { mode: 'onChange' }, (batch) => samples.push(...batch));
    defer(() => sub.close());
    await waitFor('initial value', () => samples.some((s) => s.value === 1));
    // The server restarts: its sessions and subscriptions are gone, so queued values are lost.
    await sim.restart();
    sim.set('Machine.Int32', 2);
    await waitFor('value after restart', () => samples.find((s) => s.value === 2), 30_000);
    const after = samples.findIndex((s) => s.value === 2 || s.quality !== 'good');
    expect(samples[after]).toMatchObject({ quality: 'uncertain', qualityDetail: expect.stringMatching(/^EDGE_ERR_OPCUA_RECOVERED /) });
    sim.set('Machine.Int32', 3);
    await waitFor('next value', () => samples.find((s) => s.value === 3));
    expect(samples.find((s) => s.value === 3)).toMatchObject({ quality: 'good' });
    expect((await conn.read(['n']))[0]).toMatchObject({ value: 3, quality: 'good' });
  }, 45_000);
});

describe('opcua driver: validation', () => {
  it('names every bad field of the protocol block and the profile', () => {
    const issues = driver.validate!({
      site: 'plant-a',
      name: 'bad',
      profile: 'p',
      protocolName: 'opcua',
      protocol: { Endpoint: 'http://plc:4840', securityMode: 'Sign', securityPolicy: 'None', publishingInterval: 'often', queueSize: 0 },
      resources: [
        res('a', 'Float64', { nodeId: 'ns=2;x=1' }),
        res('b', 'Float64', { nodeId: 'ns=2;s=ok', deadbandType: 'Relative' }),
        res('c', 'Float64', { objectId: 'ns=2;s=Obj' }),
        res('a', 'Float64', { nodeId: 'i=1' }),
      ],
    });
    expect(issues.map((i) => [i.path, i.code])).toEqual(
      expect.arrayContaining([
        ['protocols.opcua.endpoint', 'EDGE_ERR_OPCUA_PROTOCOL_INVALID'],
        ['protocols.opcua.securityPolicy', expect.stringMatching(/^EDGE_ERR_OPCUA_/)],
        ['protocols.opcua.publishingInterval', 'EDGE_ERR_OPCUA_PROTOCOL_INVALID'],
        ['protocols.opcua.queueSize', 'EDGE_ERR_OPCUA_PROTOCOL_INVALID'],
        ['deviceResources[0](a).attributes.nodeId', 'EDGE_ERR_OPCUA_PROFILE_NODE_ID'],
        ['deviceResources[1](b).attributes.deadbandType', 'EDGE_ERR_OPCUA_PROFILE_MONITORING'],
        ['deviceResources[2](c).attributes.methodId', 'EDGE_ERR_OPCUA_PROFILE_NODE_ID'],
        ['deviceResources[3](a)', 'EDGE_ERR_OPCUA_PROFILE_DUPLICATE'],
      ]),
    );
  });

  it('refuses to connect an invalid device with a coded error naming the field', async () => {
    await expect(driver.connect(device('invalid', [res('x', 'Float64', { nodeId: 'speed' })]))).rejects.toMatchObject({
      code: 'EDGE_ERR_OPCUA_DEVICE_INVALID',
      message: expect.stringContaining('deviceResources[0](x).attributes.nodeId'),
    });
  });
});
