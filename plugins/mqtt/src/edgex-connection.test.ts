/**
 * The MQTT driver with devices in EdgeX device-mqtt's layout, against a real
 * aedes broker, the device played by an mqtt.js client: data routed to each
 * device by the name in its topic, GET and SET commands correlated by the
 * uuid in their topic (a device answering late or never, answers for no
 * command), the device's login topics, and the QoS 1 rule: a message whose
 * readings could not be stored is not acknowledged and comes again.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EDGEX_NAME_ANNOTATION, ErrReadingsNotStored, type DeviceConnection, type DriverDevice, type DriverResource, type Sample } from '../../../core/sdk/index.ts';
import { deferCleanup } from '../../../test/support/cleanup.ts';
import { waitFor } from '../../../test/support/hub-fixture.ts';
import { createMqttDriver, type MqttDriver } from './driver.ts';

const R = (name: string, valueType: DriverResource['valueType'], readWrite: DriverResource['readWrite'] = 'RW'): DriverResource => ({ name, valueType, readWrite, attributes: {}, properties: {} });

/** A Device as imported from EdgeX's mqtt.devices.yaml: its EdgeX name kept in the annotation, only CommandTopic in its block. */
function edgexDevice(name: string, edgexName: string, protocol: Record<string, unknown> = { CommandTopic: `command/${edgexName}` }): DriverDevice {
  return {
    site: 'plant-a',
    name,
    profile: 'sensor-mqtt-profile',
    protocolName: 'mqtt',
    protocol,
    resources: [R('randfloat32', 'Float32'), R('randfloat64', 'Float64'), R('ping', 'String', 'R'), R('message', 'String')],
    annotations: { [EDGEX_NAME_ANNOTATION]: edgexName },
    commands: [{ name: 'randfloat32andfloat64', readWrite: 'RW', resources: ['randfloat32', 'randfloat64'] }],
  };
}

let server: Server;
let url: string;
let closeBroker: () => Promise<void>;
/** The topics of a client's stored session (clean = false). */
let sessionTopics: (clientId: string) => Promise<string[]>;
let driver: MqttDriver;
let dev: MqttClient;
const defer = deferCleanup();

beforeAll(async () => {
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker();
  server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sessionTopics = async (clientId) => {
    const persistence = (broker as unknown as { persistence: { subscriptionsByClient(c: { id: string }): Promise<{ topic: string }[] | null> } }).persistence;
    return ((await persistence.subscriptionsByClient({ id: clientId })) ?? []).map((t) => t.topic);
  };
  closeBroker = async () => {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  driver = createMqttDriver({ logger: pino({ level: 'silent' }), siteBroker: () => ({ url }) });
  dev = await connectAsync(url, { clientId: 'edgex-sim' });
});

afterAll(async () => {
  await dev?.endAsync();
  await driver?.close();
  await closeBroker?.();
});

async function connect(d: DriverDevice, on = driver): Promise<DeviceConnection> {
  const conn = await on.connect(d);
  defer(() => conn.close());
  return conn;
}

function collect(conn: DeviceConnection, resources: string[]): Promise<Sample[]> {
  const got: Sample[] = [];
  return conn.subscribe!(resources, { mode: 'onChange' }, (s) => got.push(...s)).then(() => got);
}

describe('layout edgex: data', () => {
  it('routes each message to its device by the EdgeX name in the topic; a command source gives one sample per resource with one origin', async () => {
    const a = await connect(edgexDevice('sensor-a', 'Sensor-A'));
    const b = await connect(edgexDevice('sensor-b', 'Sensor-B'));
    const gotA = await collect(a, ['randfloat32', 'randfloat64', 'ping']);
    const gotB = await collect(b, ['randfloat32', 'randfloat64', 'ping']);
    await dev.publishAsync('incoming/data/Sensor-A/randfloat32andfloat64', JSON.stringify({ randfloat32: '4.20e+01', randfloat64: 12.64 }));
    await dev.publishAsync('incoming/data/Sensor-B/ping', JSON.stringify({ ping: 'pong' }));
    await waitFor('both devices', () => gotA.length === 2 && gotB.length === 1, 5000);
    expect(gotA.map((s) => [s.resource, s.value, s.valueType, s.quality])).toEqual([
      ['randfloat32', 42, 'Float32', 'good'],
      ['randfloat64', 12.64, 'Float64', 'good'],
    ]);
    expect(gotA[0]!.origin).toBe(gotA[1]!.origin);
    expect(gotB.map((s) => [s.resource, s.value])).toEqual([['ping', 'pong']]);
    expect(driver.stats('plant-a', 'sensor-a')).toMatchObject({ messages: 1, samples: 2, malformed: 0, mismatched: 0 });
  });

  it('counts refused messages per device and hands on nothing from them', async () => {
    const c = await connect(edgexDevice('sensor-c', 'Sensor-C'));
    const got = await collect(c, ['randfloat32', 'randfloat64']);
    for (const [source, payload] of [
      ['randfloat32', '{"randfloat32": '],
      ['randfloat32andfloat64', '{"randfloat32": 1}'],
      ['randfloat64', '{"randfloat64": "lots"}'],
      ['nosuch', '{}'],
      ['randfloat64', '{"randfloat64": 3}'],
    ] as const) {
      await dev.publishAsync(`incoming/data/Sensor-C/${source}`, payload);
    }
    await waitFor('the good message', () => got.length === 1, 5000);
    expect(got.map((s) => s.value)).toEqual([3]);
    expect(driver.stats('plant-a', 'sensor-c')).toMatchObject({ messages: 5, samples: 1, malformed: 1, mismatched: 3 });
  });

  it('tells the site broker the topics the device itself uses', () => {
    expect(driver.brokerTopics(edgexDevice('sensor-d', 'Sensor-D'))).toEqual({ publish: ['incoming/data/Sensor-D/#', 'command/response/+'], subscribe: ['command/Sensor-D/#'] });
    expect(driver.validate!(edgexDevice('sensor-d', 'Sensor-D', {})).map((i) => i.path)).toEqual(['protocols.mqtt.CommandTopic']);
  });
});

describe('layout edgex: commands', () => {
  it('reads with a GET per resource and writes with a SET, each answered on command/response/<uuid>', async () => {
    const conn = await connect(edgexDevice('sensor-e', 'Sensor-E', { CommandTopic: 'command/Sensor-E', commandTimeout: '300ms' }));
    const seen: { topic: string; payload: string }[] = [];
    let message = 'hello';
    const sim = await connectAsync(url, { clientId: 'sensor-e-sim' });
    defer(() => sim.endAsync());
    sim.on('message', (topic, payload) => {
      seen.push({ topic, payload: payload.toString() });
      const [, , cmd, method, uuid] = topic.split('/');
      if (cmd === 'ping') return; // never answers: a timeout
      if (method === 'set') message = (JSON.parse(payload.toString()) as { message: string }).message;
      const answer = cmd === 'message' ? { message } : cmd === 'randfloat32' ? { randfloat32: '1.2123e+01' } : { other: 1 };
      sim.publish(`command/response/${uuid!}`, JSON.stringify(answer));
    });
    await sim.subscribeAsync('command/Sensor-E/#');

    const samples = await conn.read(['randfloat32', 'message', 'randfloat64', 'ping']);
    expect(samples.map((s) => [s.resource, s.value, s.quality])).toEqual([
      ['randfloat32', Math.fround(12.123), 'good'],
      ['message', 'hello', 'good'],
      ['randfloat64', null, 'bad'],
      ['ping', null, 'bad'],
    ]);
    expect(samples[2]!.qualityDetail).toMatch(/^EDGE_ERR_MQTT_ANSWER_INVALID .*no field 'randfloat64'/);
    expect(samples[3]!.qualityDetail).toMatch(/^EDGE_ERR_MQTT_COMMAND_TIMEOUT .*within 300 ms/);
    expect(seen.filter((c) => c.topic.includes('/get/')).map((c) => [c.topic.replace(/[0-9a-f-]{36}$/, '<uuid>'), c.payload]).sort()).toEqual([
      ['command/Sensor-E/message/get/<uuid>', ''],
      ['command/Sensor-E/ping/get/<uuid>', ''],
      ['command/Sensor-E/randfloat32/get/<uuid>', ''],
      ['command/Sensor-E/randfloat64/get/<uuid>', ''],
    ]);

    expect(await conn.write([{ resource: 'message', value: 'set by the hub' }])).toEqual([{ resource: 'message', ok: true }]);
    expect(message).toBe('set by the hub');
    expect(JSON.parse(seen.find((c) => c.topic.includes('/message/set/'))!.payload)).toEqual({ message: 'set by the hub' });
    const [refused] = await conn.write([{ resource: 'ping', value: 'x' }]);
    expect(refused?.error?.code).toBe('EDGE_ERR_MQTT_NOT_WRITABLE');
    const [typed] = await conn.write([{ resource: 'randfloat32', value: 'x' }]);
    expect(typed?.error?.code).toBe('EDGE_ERR_MQTT_VALUE_TYPE');
    expect(driver.stats('plant-a', 'sensor-e')).toMatchObject({ commands: 5, commandTimeouts: 1, commandRefusals: 1 });
  });

  it('times a SET out, and counts answers that come for no waiting command', async () => {
    const conn = await connect(edgexDevice('sensor-f', 'Sensor-F', { CommandTopic: 'command/Sensor-F', commandTimeout: '200ms' }));
    const before = driver.unclaimedAnswers();
    const [r] = await conn.write([{ resource: 'message', value: 'nobody listens' }]);
    expect(r?.error?.code).toBe('EDGE_ERR_MQTT_COMMAND_TIMEOUT');
    await dev.publishAsync('command/response/not-a-command-id', '{}');
    await dev.publishAsync('command/response/another', '{}');
    await waitFor('the unclaimed answers counted', () => driver.unclaimedAnswers() === before + 2, 5000);
  });
});

describe('layout edgex: QoS 1 on a persistent session', () => {
  it('acknowledges a message only once its readings are stored: one that could not be stored comes again', async () => {
    const d = createMqttDriver({ logger: pino({ level: 'silent' }), siteBroker: () => ({ url }), persistentClientId: 'edgeadm-mqtt-edgex-qos', redeliveryBackoff: { initialMs: 50, maxMs: 200 } });
    defer(() => d.close());
    const conn = await connect(edgexDevice('sensor-g', 'Sensor-G', { CommandTopic: 'command/Sensor-G', qos: 1 }), d);
    const stored: unknown[] = [];
    let failures = 1;
    await conn.subscribe!(['randfloat64'], { mode: 'onChange' }, (samples) => {
      if (failures > 0) {
        failures--;
        throw new ErrReadingsNotStored({ count: samples.length, device: 'sensor-g', reason: 'database or disk is full' });
      }
      stored.push(...samples.map((s) => s.value));
    });
    await dev.publishAsync('incoming/data/Sensor-G/randfloat64', JSON.stringify({ randfloat64: 1.5 }), { qos: 1 });
    await waitFor('the message again, stored', () => stored.length === 1, 5000);
    expect(stored).toEqual([1.5]);
    expect(d.stats('plant-a', 'sensor-g')).toMatchObject({ notStored: 1 });
  });

  it("keeps a stopped device's data filter in the session, and drops it when a message of no device comes for it", async () => {
    const d = createMqttDriver({ logger: pino({ level: 'silent' }), siteBroker: () => ({ url }), persistentClientId: 'edgeadm-mqtt-edgex-left', holdUnclaimedMs: 100 });
    defer(() => d.close());
    await connect(edgexDevice('sensor-i', 'Sensor-I', { CommandTopic: 'command/Sensor-I', qos: 1 }), d);
    const gone = await d.connect(edgexDevice('sensor-h', 'Sensor-H', { CommandTopic: 'command/Sensor-H', qos: 1 }));
    expect(await sessionTopics('edgeadm-mqtt-edgex-left')).toEqual(expect.arrayContaining(['incoming/data/Sensor-H/+', 'incoming/data/Sensor-I/+', 'command/response/+']));
    await gone.close();
    expect(await sessionTopics('edgeadm-mqtt-edgex-left')).toContain('incoming/data/Sensor-H/+');
    await new Promise((r) => setTimeout(r, 150));
    await dev.publishAsync('incoming/data/Sensor-H/ping', JSON.stringify({ ping: 'late' }), { qos: 1 });
    await waitFor('the filter dropped', async () => !(await sessionTopics('edgeadm-mqtt-edgex-left')).includes('incoming/data/Sensor-H/+'), 5000);
    expect(await sessionTopics('edgeadm-mqtt-edgex-left')).toContain('incoming/data/Sensor-I/+');
  });
});
