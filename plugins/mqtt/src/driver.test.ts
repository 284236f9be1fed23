import { execFile } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceConnection, DriverDevice, DriverResource, Sample } from '../../../core/sdk/index.ts';
import { deferCleanup } from '../../../test/support/cleanup.ts';
import { quiet as logger, waitFor } from '../../../test/support/hub-fixture.ts';
import { createMqttDriver, type MqttDriver } from './driver.ts';

const run = promisify(execFile);

interface TestBroker {
  url: string;
  port: number;
  /** SUBSCRIBE packets per topic, and client connections, as the broker saw them. */
  subscribes: Map<string, number>;
  connections: () => number;
  /** The topics of a client's stored session (clean = false). */
  sessionTopics(clientId: string): Promise<string[]>;
  close(): Promise<void>;
}

async function startBroker(): Promise<TestBroker> {
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker();
  const subscribes = new Map<string, number>();
  broker.on('subscribe', (subs) => {
    for (const s of subs) subscribes.set(s.topic, (subscribes.get(s.topic) ?? 0) + 1);
  });
  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    subscribes,
    connections: () => broker.connectedClients,
    async sessionTopics(clientId) {
      const persistence = (broker as unknown as { persistence: { subscriptionsByClient(c: { id: string }): Promise<{ topic: string }[]> } }).persistence;
      return (await persistence.subscriptionsByClient({ id: clientId })).map((t) => t.topic);
    },
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function res(name: string, valueType: DriverResource['valueType'], attributes: Record<string, unknown>, extra: Partial<DriverResource> = {}): DriverResource {
  return { name, valueType, readWrite: 'R', attributes, properties: {}, ...extra };
}

function device(name: string, resources: DriverResource[], protocol: Record<string, unknown> = {}): DriverDevice {
  return { site: 'plant-a', name, profile: 'p', protocolName: 'mqtt', protocol, resources };
}

/** A sink collecting samples by resource. */
function collector(): { sink: (s: readonly Sample[]) => void; got: Map<string, Sample[]> } {
  const got = new Map<string, Sample[]>();
  return {
    got,
    sink: (samples) => {
      for (const s of samples) got.set(s.resource, [...(got.get(s.resource) ?? []), s]);
    },
  };
}

let broker: TestBroker;
let driver: MqttDriver;
let dev: MqttClient;
const logLines: Record<string, unknown>[] = [];
const defer = deferCleanup();

beforeAll(async () => {
  broker = await startBroker();
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  driver = createMqttDriver({ logger: pino({ level: 'warn' }, sink), siteBroker: () => ({ url: broker.url }), maxPayloadBytes: 1024 });
  dev = await connectAsync(broker.url, { clientId: 'device-sim' });
});

afterAll(async () => {
  await dev?.endAsync();
  await driver?.close();
  await broker?.close();
});

async function connect(d: DriverDevice): Promise<DeviceConnection> {
  const conn = await driver.connect(d);
  defer(() => conn.close());
  return conn;
}

describe('mqtt driver: telemetry', () => {
  it('maps json fields, plain numbers and text to samples, with the origin from timestampPath', async () => {
    const conn = await connect(
      device('meter-1', [
        res('Temp', 'Float64', { topic: 'telemetry', path: 'env.temps[1].c', timestampPath: 'ts' }, { units: 'degC' }),
        res('Hum', 'Uint8', { topic: 'telemetry', path: 'env.hum' }),
        res('Power', 'Float32', { topic: 'power', payload: 'number' }),
        res('State', 'String', { topic: '/legacy/meter-1/state', payload: 'text' }),
      ]),
    );
    const c = collector();
    await conn.subscribe!(['Temp', 'Hum', 'Power', 'State'], { mode: 'onChange' }, c.sink);
    const ts = Date.UTC(2026, 10, 1, 12, 0, 0);
    await dev.publishAsync('edgeadm/plant-a/meter-1/telemetry', JSON.stringify({ env: { temps: [{ c: 1 }, { c: 21.25 }], hum: 40 }, ts }));
    await dev.publishAsync('edgeadm/plant-a/meter-1/power', '1234.5');
    await dev.publishAsync('legacy/meter-1/state', 'running');
    await waitFor('all four samples', () => c.got.size === 4);
    expect(c.got.get('Temp')![0]).toEqual({ resource: 'Temp', value: 21.25, valueType: 'Float64', units: 'degC', origin: ts * 1e6, quality: 'good' });
    expect(c.got.get('Hum')![0]).toMatchObject({ value: 40, valueType: 'Uint8', quality: 'good' });
    expect(c.got.get('Power')![0]).toMatchObject({ value: 1234.5, valueType: 'Float32', quality: 'good' });
    expect(c.got.get('State')![0]).toMatchObject({ value: 'running', valueType: 'String', quality: 'good' });
    // No timestampPath: the origin is the arrival time.
    expect(Math.abs(c.got.get('Power')![0]!.origin / 1e6 - Date.now())).toBeLessThan(60_000);
  });

  it('turns a value of the wrong type into a bad sample with a coded detail', async () => {
    const conn = await connect(device('meter-2', [res('Temp', 'Float64', { topic: 't', path: 'v' }), res('Count', 'Int16', { topic: 'n', payload: 'number' })]));
    const c = collector();
    await conn.subscribe!(['Temp', 'Count'], { mode: 'onChange' }, c.sink);
    await dev.publishAsync('edgeadm/plant-a/meter-2/t', JSON.stringify({ v: '21.5' }));
    await dev.publishAsync('edgeadm/plant-a/meter-2/n', 'NaN-ish');
    await waitFor('both samples', () => c.got.size === 2);
    expect(c.got.get('Temp')![0]).toMatchObject({ value: null, quality: 'bad', qualityDetail: expect.stringMatching(/^EDGE_ERR_MQTT_VALUE_TYPE .*"21.5" is not a finite number/) as unknown });
    expect(c.got.get('Count')![0]).toMatchObject({ value: null, quality: 'bad', qualityDetail: expect.stringMatching(/^EDGE_ERR_MQTT_VALUE_TYPE/) as unknown });
    expect(driver.stats('plant-a', 'meter-2')).toMatchObject({ messages: 2, samples: 2, mismatched: 2 });
  });

  it('counts oversized and malformed payloads, logs them once per interval, and keeps other devices flowing', async () => {
    const noisy = await connect(device('noisy', [res('V', 'Float64', { topic: 'v', path: 'v' })]));
    const calm = await connect(device('calm', [res('V', 'Float64', { topic: 'v', path: 'v' })]));
    const n = collector();
    const k = collector();
    await noisy.subscribe!(['V'], { mode: 'onChange' }, n.sink);
    await calm.subscribe!(['V'], { mode: 'onChange' }, k.sink);
    logLines.length = 0;
    for (let i = 0; i < 20; i++) {
      await dev.publishAsync('edgeadm/plant-a/noisy/v', i % 2 === 0 ? '{"v": 1,' : Buffer.alloc(4096, 0x7b));
      await dev.publishAsync('edgeadm/plant-a/calm/v', JSON.stringify({ v: i }));
    }
    await dev.publishAsync('edgeadm/plant-a/noisy/v', JSON.stringify({ v: 99 }));
    await waitFor('calm device samples', () => k.got.get('V')?.length === 20);
    await waitFor('noisy device good sample', () => n.got.get('V')?.length === 1);
    expect(k.got.get('V')!.map((s) => s.value)).toEqual([...Array(20).keys()]);
    expect(n.got.get('V')![0]).toMatchObject({ value: 99, quality: 'good' });
    expect(driver.stats('plant-a', 'noisy')).toMatchObject({ messages: 21, samples: 1, oversized: 10, malformed: 10 });
    expect(driver.stats('plant-a', 'calm')).toMatchObject({ messages: 20, samples: 20, oversized: 0, malformed: 0 });
    const warnings = logLines.filter((l) => l.msg === 'mqtt device payload rejected');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ device: 'noisy', problem: 'malformed' });
  });
});

describe('mqtt driver: read', () => {
  it('answers with no value, the last value, then a stale one', async () => {
    const conn = await connect(device('meter-3', [res('Temp', 'Float64', { topic: 't', path: 'v' }), res('Cmd', 'Float64', {}, { readWrite: 'W' })], { staleAfter: '300ms' }));
    const [none, wo, unknown] = await conn.read(['Temp', 'Cmd', 'Nope']);
    expect(none).toMatchObject({ resource: 'Temp', value: null, quality: 'bad', qualityDetail: expect.stringMatching(/^EDGE_ERR_MQTT_NO_VALUE/) as unknown });
    expect(wo).toMatchObject({ quality: 'bad', qualityDetail: 'EDGE_ERR_MQTT_WRITE_ONLY' });
    expect(unknown).toMatchObject({ quality: 'bad', qualityDetail: 'EDGE_ERR_MQTT_UNKNOWN_RESOURCE' });
    await dev.publishAsync('edgeadm/plant-a/meter-3/t', JSON.stringify({ v: 1 }));
    await dev.publishAsync('edgeadm/plant-a/meter-3/t', JSON.stringify({ v: 2 }));
    const fresh = await waitFor('last value', async () => {
      const [s] = await conn.read(['Temp']);
      return s?.value === 2 ? s : undefined;
    });
    expect(fresh).toMatchObject({ value: 2, quality: 'good' });
    const stale = await waitFor('stale value', async () => {
      const [s] = await conn.read(['Temp']);
      return s?.quality === 'uncertain' ? s : undefined;
    });
    expect(stale).toMatchObject({ value: 2, origin: fresh.origin, qualityDetail: expect.stringMatching(/^EDGE_ERR_MQTT_STALE/) as unknown });
  });

  it('takes values published by mosquitto_pub', async () => {
    const conn = await connect(device('meter-4', [res('Level', 'Int32', { topic: 'level', payload: 'number' })], { qos: 1 }));
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.port), '-q', '1', '-t', 'edgeadm/plant-a/meter-4/level', '-m', '-42']);
    const s = await waitFor('level', async () => (await conn.read(['Level']))[0]?.quality === 'good' && (await conn.read(['Level']))[0]);
    expect(s).toMatchObject({ value: -42, valueType: 'Int32' });
  });

  it('shares one client and one subscription per topic between devices', async () => {
    const before = broker.subscribes.get('shared/line/speed') ?? 0;
    const clients = broker.connections();
    const a = await connect(device('line-a', [res('Speed', 'Float64', { topic: '/shared/line/speed', payload: 'number' })]));
    const b = await connect(device('line-b', [res('Speed', 'Float64', { topic: '/shared/line/speed', payload: 'number' })]));
    expect(broker.subscribes.get('shared/line/speed')! - before).toBe(1);
    expect(broker.connections()).toBe(clients);
    await a.close();
    await dev.publishAsync('shared/line/speed', '3.5');
    await waitFor('b still receives', async () => (await b.read(['Speed']))[0]?.value === 3.5);
  });
});

describe('mqtt driver: commands', () => {
  /** A device answering commands on its command topic, as `answer` says. */
  async function fakeDevice(name: string, answer: (cmd: { id: string; resource: string; value: unknown }) => unknown[]): Promise<{ seen: { id: string; resource: string; value: unknown }[] }> {
    const client = await connectAsync(broker.url, { clientId: `fake-${name}` });
    defer(() => client.endAsync());
    const seen: { id: string; resource: string; value: unknown }[] = [];
    client.on('message', (_t, payload) => {
      const cmd = JSON.parse(payload.toString()) as { id: string; resource: string; value: unknown };
      seen.push(cmd);
      void (async () => {
        for (const reply of answer(cmd)) await client.publishAsync(`edgeadm/plant-a/${name}/response`, JSON.stringify(reply));
      })();
    });
    await client.subscribeAsync(`edgeadm/plant-a/${name}/command`, { qos: 1 });
    return { seen };
  }

  const writable = [res('Setpoint', 'Float64', {}, { readWrite: 'RW' }), res('Temp', 'Float64', { path: 'v' })];

  it('publishes a command with a correlation id and returns the device answer', async () => {
    const fake = await fakeDevice('valve-1', (cmd) => [{ id: 'someone-else', ok: false, error: 'not for you' }, 'not json', { id: cmd.id, ok: true }]);
    const conn = await connect(device('valve-1', writable, { qos: 1 }));
    const [r1, r2] = await conn.write([
      { resource: 'Setpoint', value: 21.5 },
      { resource: 'Setpoint', value: 22 },
    ]);
    expect(r1).toEqual({ resource: 'Setpoint', ok: true });
    expect(r2).toEqual({ resource: 'Setpoint', ok: true });
    expect(fake.seen.map((c) => c.value).sort()).toEqual([21.5, 22]);
    expect(new Set(fake.seen.map((c) => c.id)).size).toBe(2);
    expect(fake.seen[0]).toMatchObject({ resource: 'Setpoint', id: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown });
    expect(driver.stats('plant-a', 'valve-1')).toMatchObject({ commands: 2, commandTimeouts: 0, commandRefusals: 0 });
  });

  it('reads back the value a device echoes, and calls older telemetry stale when it does not', async () => {
    await fakeDevice('valve-6', (cmd) => [{ id: cmd.id, ok: true, value: cmd.value }]);
    await fakeDevice('valve-7', (cmd) => [{ id: cmd.id, ok: true }]);
    const echo = await connect(device('valve-6', writable));
    const silent = await connect(device('valve-7', writable));
    for (const n of ['valve-6', 'valve-7']) await dev.publishAsync(`edgeadm/plant-a/${n}/Setpoint`, '20');
    for (const conn of [echo, silent]) await waitFor('telemetry', async () => (await conn.read(['Setpoint']))[0]?.value === 20);
    expect(await echo.write([{ resource: 'Setpoint', value: 23.5 }])).toEqual([{ resource: 'Setpoint', ok: true }]);
    expect(await silent.write([{ resource: 'Setpoint', value: 23.5 }])).toEqual([{ resource: 'Setpoint', ok: true }]);
    expect((await echo.read(['Setpoint']))[0]).toMatchObject({ value: 23.5, quality: 'good' });
    expect((await silent.read(['Setpoint']))[0]).toMatchObject({ value: 20, quality: 'uncertain', qualityDetail: expect.stringMatching(/^EDGE_ERR_MQTT_STALE value predates command/) as unknown });
    await dev.publishAsync('edgeadm/plant-a/valve-7/Setpoint', '23.5');
    await waitFor('fresh telemetry', async () => (await silent.read(['Setpoint']))[0]?.quality === 'good');
  });

  it('times out when the device never answers, or answers another id', async () => {
    await fakeDevice('valve-2', (cmd) => [{ id: `${cmd.id}-x`, ok: true }]);
    const conn = await connect(device('valve-2', writable, { commandTimeout: '200ms' }));
    const [r] = await conn.write([{ resource: 'Setpoint', value: 1 }]);
    expect(r).toMatchObject({ resource: 'Setpoint', ok: false, error: { code: 'EDGE_ERR_MQTT_COMMAND_TIMEOUT', message: expect.stringMatching(/valve-2.*200 ms/) as unknown } });
  });

  it('reports a refusal with the device message', async () => {
    await fakeDevice('valve-3', (cmd) => [{ uuid: cmd.id, ok: false, error: 'setpoint above 30 is locked' }]);
    const conn = await connect(device('valve-3', writable));
    const [r] = await conn.write([{ resource: 'Setpoint', value: 35 }]);
    expect(r).toMatchObject({ ok: false, error: { code: 'EDGE_ERR_MQTT_COMMAND_REFUSED', message: expect.stringMatching(/setpoint above 30 is locked/) as unknown } });
  });

  it('refuses bad writes before publishing anything', async () => {
    const fake = await fakeDevice('valve-4', (cmd) => [{ id: cmd.id, ok: true }]);
    const conn = await connect(device('valve-4', writable));
    const results = await conn.write([
      { resource: 'Setpoint', value: 'warm' },
      { resource: 'Temp', value: 1 },
      { resource: 'Nope', value: 1 },
    ]);
    expect(results.map((r) => r.error?.code)).toEqual(['EDGE_ERR_MQTT_VALUE_TYPE', 'EDGE_ERR_MQTT_NOT_WRITABLE', 'EDGE_ERR_MQTT_UNKNOWN_RESOURCE']);
    expect(fake.seen).toEqual([]);
  });

  it('gives up a pending command when aborted', async () => {
    await fakeDevice('valve-5', () => []);
    const conn = await connect(device('valve-5', writable, { commandTimeout: '1m' }));
    const ac = new AbortController();
    const pending = conn.write([{ resource: 'Setpoint', value: 1 }], ac.signal);
    setTimeout(() => ac.abort(), 50);
    const [r] = await pending;
    expect(r?.error?.code).toBe('EDGE_ERR_MQTT_COMMAND_ABORTED');
  });
});

describe('mqtt driver: validation and failures', () => {
  it('reports every profile and protocol problem at once', async () => {
    const bad = device('bad-1', [res('A', 'Float64', { payload: 'xml' }), res('B', 'Bool', { payload: 'number' })], { qos: 3 });
    const issues = driver.validate!(bad);
    expect(issues.map((i) => i.path)).toEqual(['protocols.mqtt.qos', 'deviceResources[0](A).attributes.payload', 'deviceResources[1](B).attributes.payload']);
    await expect(driver.connect(bad)).rejects.toMatchObject({ code: 'EDGE_ERR_MQTT_DEVICE_INVALID', message: expect.stringMatching(/qos.*payload.*payload/) as unknown });
  });

  it('fails connect with a coded error when the broker is unreachable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const d = createMqttDriver({ logger, connectTimeoutMs: 300 });
    defer(() => d.close());
    await expect(d.connect(device('far', [res('A', 'Float64', {})], { brokerUrl: `mqtt://127.0.0.1:${port}` }))).rejects.toMatchObject({ code: 'EDGE_ERR_MQTT_BROKER_UNREACHABLE' });
    await expect(d.connect(device('nowhere', [res('A', 'Float64', {})]))).rejects.toMatchObject({ code: 'EDGE_ERR_MQTT_NO_BROKER' });
  });

  it('leaves no broker connection behind once closed', async () => {
    const d = createMqttDriver({ logger, siteBroker: () => ({ url: broker.url }) });
    const before = broker.connections();
    await d.connect(device('temp-1', [res('A', 'Float64', {})]));
    await d.connect(device('temp-2', [res('A', 'Float64', {})]));
    expect(broker.connections()).toBe(before + 1);
    await d.close();
    await waitFor('client gone', () => broker.connections() === before);
  });
});

describe('mqtt driver: Home Assistant style devices', () => {
  it('reads Bool from ON/OFF text and JSON values, and writes raw values to the resource’s command topic', async () => {
    const conn = await connect(
      device(
        'plug-1',
        [
          res('relay', 'Bool', { topic: '/stat/plug-1/POWER', payload: 'text', trueValue: 'ON', falseValue: 'OFF', commandTopic: '/cmnd/plug-1/POWER', commandPayload: 'raw' }, { readWrite: 'RW' }),
          res('door', 'Bool', { topic: '/z2m/door', path: 'contact', trueValue: false, falseValue: true }),
          res('level', 'Float64', { topic: '/stat/plug-1/level', payload: 'number', commandTopic: '/cmnd/plug-1/level', commandPayload: 'raw' }, { readWrite: 'RW' }),
        ],
        { topic: 'plugs/plug-1' },
      ),
    );
    const c = collector();
    await conn.subscribe!(['relay', 'door'], { mode: 'onChange' }, c.sink);
    await dev.publishAsync('stat/plug-1/POWER', 'ON');
    await dev.publishAsync('stat/plug-1/POWER', 'OFF');
    await dev.publishAsync('stat/plug-1/POWER', 'maybe');
    await dev.publishAsync('z2m/door', JSON.stringify({ contact: false }));
    await waitFor('relay and door samples', () => c.got.get('relay')?.length === 3 && c.got.get('door')?.length === 1);
    expect(c.got.get('relay')!.map((s) => [s.value, s.quality])).toEqual([
      [true, 'good'],
      [false, 'good'],
      [null, 'bad'],
    ]);
    expect(c.got.get('relay')![2]!.qualityDetail).toMatch(/^EDGE_ERR_MQTT_VALUE_TYPE the string "maybe" is neither trueValue "ON" nor falseValue "OFF"/);
    // zigbee2mqtt's contact: false means open.
    expect(c.got.get('door')![0]).toMatchObject({ value: true, quality: 'good' });

    // Raw commands: the bare value on the command topic, no envelope, no answer awaited.
    const commands: [string, string][] = [];
    dev.on('message', (t, p) => {
      if (t.startsWith('cmnd/plug-1/')) commands.push([t, p.toString()]);
    });
    await dev.subscribeAsync('cmnd/plug-1/+');
    expect(await conn.write([{ resource: 'relay', value: true }])).toEqual([{ resource: 'relay', ok: true }]);
    expect(await conn.write([{ resource: 'level', value: 42.5 }])).toEqual([{ resource: 'level', ok: true }]);
    expect(await conn.write([{ resource: 'relay', value: 'on' }])).toMatchObject([{ ok: false, error: { code: 'EDGE_ERR_MQTT_VALUE_TYPE' } }]);
    await waitFor('two raw commands', () => commands.length === 2);
    expect(commands).toEqual([
      ['cmnd/plug-1/POWER', 'ON'],
      ['cmnd/plug-1/level', '42.5'],
    ]);
    // A device login gets its raw command topics to subscribe to.
    expect(driver.brokerTopics(device('plug-1', [res('relay', 'Bool', { topic: '/stat/plug-1/POWER', payload: 'text', trueValue: 'ON', falseValue: 'OFF', commandTopic: '/cmnd/plug-1/POWER', commandPayload: 'raw' }, { readWrite: 'RW' })], { topic: 'plugs/plug-1' }))).toEqual({
      publish: ['plugs/plug-1', 'plugs/plug-1/#', 'plugs/plug-1/response', 'stat/plug-1/POWER'],
      subscribe: ['plugs/plug-1', 'plugs/plug-1/#', 'plugs/plug-1/command', 'cmnd/plug-1/POWER'],
    });
  });

  it('names the field of a bad Bool mapping or raw command', () => {
    const issues = driver.validate!(
      device('bad-1', [
        res('a', 'Float64', { trueValue: 'ON', falseValue: 'OFF' }),
        res('b', 'Bool', { payload: 'text', trueValue: 'ON' }),
        res('c', 'Bool', { trueValue: 1, falseValue: '1' }),
        res('d', 'Float64', { commandTopic: 'set' }, { readWrite: 'RW' }),
        res('e', 'Float64', { commandPayload: 'raw' }, { readWrite: 'RW' }),
        res('f', 'Float64', { commandPayload: 'raw', commandTopic: 'x' }),
      ]),
    );
    expect(issues.map((i) => i.path)).toEqual([
      'deviceResources[0](a).attributes.trueValue',
      'deviceResources[1](b).attributes.falseValue',
      'deviceResources[1](b).attributes.payload',
      'deviceResources[2](c).attributes.falseValue',
      'deviceResources[3](d).attributes.commandPayload',
      'deviceResources[4](e).attributes.commandTopic',
      'deviceResources[5](f).attributes.commandTopic',
    ]);
  });
});

describe('mqtt driver: a persistent session', () => {
  it('keeps its subscriptions while the driver is away, and takes what was queued once the device has its sink, in order', async () => {
    const options = { logger: pino({ level: 'silent' }), siteBroker: () => ({ url: broker.url }), persistentClientId: 'edgeadm-mqtt-away', redeliveryBackoff: { initialMs: 50, maxMs: 200 } };
    const meter = device('away-1', [res('P', 'Float64', { topic: 'p', payload: 'number' })], { qos: 1 });
    const first = createMqttDriver(options);
    const conn = await first.connect(meter);
    const before = collector();
    await conn.subscribe!(['P'], { mode: 'onChange' }, before.sink);
    await dev.publishAsync('edgeadm/plant-a/away-1/p', '1', { qos: 1 });
    await waitFor('the first value', () => before.got.get('P')?.length === 1);
    // A restart: the device stops, the driver closes; the broker keeps queuing for the session.
    await first.close();
    expect(await broker.sessionTopics('edgeadm-mqtt-away')).toContain('edgeadm/plant-a/away-1/p');
    for (const v of ['2', '3', '4']) await dev.publishAsync('edgeadm/plant-a/away-1/p', v, { qos: 1 });

    const second = createMqttDriver(options);
    defer(() => second.close());
    const again = await second.connect(meter);
    const after = collector();
    await again.subscribe!(['P'], { mode: 'onChange' }, after.sink);
    await dev.publishAsync('edgeadm/plant-a/away-1/p', '5', { qos: 1 });
    await waitFor('the queued values and the new one', () => (after.got.get('P')?.length ?? 0) >= 4);
    expect(after.got.get('P')!.map((s) => s.value)).toEqual([2, 3, 4, 5]);
  });

  it('drops the session subscription of a device that is gone once nothing claims its messages', async () => {
    const options = { logger: pino({ level: 'silent' }), siteBroker: () => ({ url: broker.url }), persistentClientId: 'edgeadm-mqtt-orphans', holdUnclaimedMs: 300 };
    const first = createMqttDriver(options);
    await first.connect(device('gone-1', [res('P', 'Float64', { topic: 'p', payload: 'number' })], { qos: 1 }));
    await first.close();
    expect(await broker.sessionTopics('edgeadm-mqtt-orphans')).toContain('edgeadm/plant-a/gone-1/p');

    // The device was deleted while the driver was away; another one is there.
    const second = createMqttDriver(options);
    defer(() => second.close());
    const other = await second.connect(device('other-1', [res('P', 'Float64', { topic: 'p', payload: 'number' })], { qos: 1 }));
    const c = collector();
    await other.subscribe!(['P'], { mode: 'onChange' }, c.sink);
    await new Promise((r) => setTimeout(r, 400));
    await dev.publishAsync('edgeadm/plant-a/gone-1/p', '1', { qos: 1 });
    await waitFor('the orphan topic unsubscribed', async () => !(await broker.sessionTopics('edgeadm-mqtt-orphans')).includes('edgeadm/plant-a/gone-1/p'));
    expect(await broker.sessionTopics('edgeadm-mqtt-orphans')).toContain('edgeadm/plant-a/other-1/p');
    await dev.publishAsync('edgeadm/plant-a/other-1/p', '7', { qos: 1 });
    await waitFor('the other device still served', () => c.got.get('P')?.[0]?.value === 7);
  });
});
