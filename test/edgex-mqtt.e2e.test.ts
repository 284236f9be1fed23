/**
 * EdgeX device-mqtt devices, end to end: EdgeX's own files for an MQTT
 * device (core/edgex/fixtures/files: mqtt.profile.yaml, mqtt.devices.yaml)
 * imported unchanged through the hub, a site agent running the mqtt plugin,
 * and the device played by an mqtt.js client with the device's login, as
 * EdgeX's documented device-mqtt simulator behaves with multi-level topics:
 * it publishes on `incoming/data/MQTT-test-device/<source>` and answers
 * commands from `command/MQTT-test-device/<resource>/<get|set>/<uuid>` on
 * `command/response/<uuid>`.
 *
 *   - readings reach the hub with their values and valueTypes (a number as
 *     JSON, a number as text; a command source gives one reading per resource,
 *     with one origin)
 *   - malformed messages are counted on the agent's /metrics and store nothing
 *   - a device read through the hub sends a GET command; a write sends a SET;
 *     an answer for no command is counted
 *   - the device's login may use exactly its EdgeX topics
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { generateSecret, hashSecret } from '../core/kernel/index.ts';
import { EDGEX_NAME_ANNOTATION, type Reading } from '../core/sdk/index.ts';
import { startSiteAgent } from '../sites/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { EDGEX_FIXTURES } from './support/edgex-files.ts';
import { quiet, startHubFixture, tempDir, waitFor, type HubFixture } from './support/hub-fixture.ts';

const defer = deferCleanup();
/** Cheap scrypt parameters: the test checks the logic, not the cost. */
const FAST = { logN: 10, r: 8, p: 1 };
const SITE = 'plant-edgex-mqtt';
/** What EdgeX calls the device, and the resource it becomes here. */
const EDGEX_NAME = 'MQTT-test-device';
const DEVICE = 'mqtt-test-device';

async function readings(f: HubFixture, resource: string): Promise<Reading[]> {
  return (await f.hub.telemetry.query({ site: SITE, device: DEVICE, resource, limit: 1000 })).items;
}

/**
 * EdgeX's device-mqtt simulator (multi-level topics): answers GET with the
 * resource's value (randfloat32 as Go's text "1.2123e+01"), takes SET of
 * `message`, answers on command/response/<uuid>. Records what it was sent.
 */
function simulate(device: MqttClient): { commands: { topic: string; payload: string }[]; message: () => string } {
  const commands: { topic: string; payload: string }[] = [];
  let message = 'test-message';
  device.on('message', (topic, payload) => {
    commands.push({ topic, payload: payload.toString() });
    const [, , cmd, method, uuid] = topic.split('/');
    const response: Record<string, unknown> = {};
    if (method === 'set') message = (JSON.parse(payload.toString()) as Record<string, string>)[cmd!]!;
    else if (cmd === 'ping') response.ping = 'pong';
    else if (cmd === 'message') response.message = message;
    else if (cmd === 'randfloat32') response.randfloat32 = '1.2123e+01';
    else if (cmd === 'randfloat64') response.randfloat64 = 34.32;
    device.publish(`command/response/${uuid!}`, JSON.stringify(response), { qos: 1 });
  });
  return { commands, message: () => message };
}

/** A sample's value on the agent's /metrics page, 0 when it has none yet. */
async function sampleValue(metricsUrl: string, sample: string): Promise<number> {
  const page = await (await fetch(metricsUrl)).text();
  return Number(page.split('\n').find((l) => l.startsWith(`${sample} `))?.split(' ')[1] ?? 0);
}

describe('an EdgeX device-mqtt device imported unchanged', () => {
  it('sends readings, answers reads and writes through the hub, and its login keeps to its EdgeX topics', async () => {
    const f = await startHubFixture();
    defer(() => f.hub.close());
    await f.apply({ kind: 'Site', metadata: { name: SITE }, spec: {} });
    const files = ['mqtt.profile.yaml', 'mqtt.devices.yaml'].map((name) => ({ name, content: readFileSync(path.join(EDGEX_FIXTURES, name), 'utf8') }));
    const imported = await f.api<{ created: { kind: string; name: string }[] }>('POST', `/api/v1/sites/${SITE}/edgex/import`, { files });
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    expect(imported.body.created.map((r) => `${r.kind}/${r.name}`)).toContain(`Device/${DEVICE}`);
    const dev = await f.api<{ metadata: { annotations?: Record<string, string> }; spec: { protocols: Record<string, unknown> } }>('GET', `/api/v1/devices/${DEVICE}`);
    // Nothing added to the Device: its EdgeX name and CommandTopic, as the file has them.
    expect(dev.body.metadata.annotations?.[EDGEX_NAME_ANNOTATION]).toBe(EDGEX_NAME);
    expect(dev.body.spec.protocols).toEqual({ mqtt: { CommandTopic: 'command/MQTT-test-device' } });

    const password = generateSecret();
    await f.apply({ kind: 'BrokerCredential', metadata: { name: `${SITE}.sim` }, spec: { site: SITE, username: 'sim', passwordHash: await hashSecret(password, FAST), device: DEVICE } });
    await f.apply({ kind: 'Addon', metadata: { name: 'mqtt' }, spec: { plugin: 'mqtt', sites: [SITE] } });
    const agent = await startSiteAgent({
      site: SITE,
      hubUrl: f.hub.url,
      token: await f.agentToken(SITE),
      dataDir: tempDir('edgex-mqtt'),
      logger: quiet,
      broker: { host: '127.0.0.1', port: 0 },
      metrics: { port: 0 },
      syncBackoff: { initialMs: 50, maxMs: 500 },
      forwarder: { backoff: { initialMs: 50, maxMs: 500 } },
    });
    defer(() => agent.stop());
    await waitFor('the device up', () => agent.status().devices.find((d) => d.device === DEVICE && d.state === 'up'), 15_000);
    await waitFor('the site online', async () => (await f.api<{ status?: { phase?: string } }>('GET', `/api/v1/sites/${SITE}`)).body.status?.phase === 'Online', 15_000);
    const url = agent.status().brokerUrl!;
    const metricsUrl = agent.status().metricsUrl!;

    const device = await connectAsync(url, { clientId: 'sim', username: 'sim', password, reconnectPeriod: 0 });
    defer(() => device.endAsync(true));
    expect((await device.subscribeAsync('command/MQTT-test-device/#', { qos: 1 })).map((g) => g.qos)).toEqual([1]);
    const sim = simulate(device);

    // Data: a resource source with a JSON number, a command source with a number as text and one as JSON.
    await device.publishAsync('incoming/data/MQTT-test-device/randfloat32', JSON.stringify({ randfloat32: 27.5 }), { qos: 1 });
    await device.publishAsync('incoming/data/MQTT-test-device/randfloat32andfloat64', JSON.stringify({ randfloat32: '4.20e+01', randfloat64: 12.64 }), { qos: 1 });
    await device.publishAsync('incoming/data/MQTT-test-device/testping', JSON.stringify({ ping: 'pong' }), { qos: 1 });
    const f64 = await waitFor('randfloat64 at the hub', async () => (await readings(f, 'randfloat64')).find((r) => r.value === 12.64), 10_000);
    expect(f64).toMatchObject({ valueType: 'Float64', profile: 'sensor-mqtt-profile', quality: 'good' });
    const f32 = await waitFor('both randfloat32 at the hub', async () => ((await readings(f, 'randfloat32')).length >= 2 ? await readings(f, 'randfloat32') : undefined), 10_000);
    expect(f32.map((r) => [r.value, r.valueType])).toEqual([
      [27.5, 'Float32'],
      [42, 'Float32'],
    ]);
    // One message, one origin: the two readings of randfloat32andfloat64.
    expect(f32[1]!.origin).toBe(f64.origin);
    await waitFor('ping at the hub', async () => (await readings(f, 'ping')).find((r) => r.value === 'pong' && r.valueType === 'String'), 10_000);

    // Malformed: not JSON, a command source missing one of its resources, a value that does not cast, an unknown source.
    const rejected = (reason: string): Promise<number> => sampleValue(metricsUrl, `edgeadm_mqtt_device_rejected_total{device="${DEVICE}",reason="${reason}"}`);
    const [malformed0, mismatched0] = [await rejected('malformed'), await rejected('mismatched')];
    await device.publishAsync('incoming/data/MQTT-test-device/randfloat32', 'not json', { qos: 1 });
    await device.publishAsync('incoming/data/MQTT-test-device/randfloat32andfloat64', JSON.stringify({ randfloat32: 1 }), { qos: 1 });
    await device.publishAsync('incoming/data/MQTT-test-device/randfloat64', JSON.stringify({ randfloat64: 'lots' }), { qos: 1 });
    await device.publishAsync('incoming/data/MQTT-test-device/nosuchsource', JSON.stringify({ nosuchsource: 1 }), { qos: 1 });
    await device.publishAsync('incoming/data/MQTT-test-device/randfloat32', JSON.stringify({ randfloat32: 7.25 }), { qos: 1 });
    await waitFor('the message after the malformed ones', async () => (await readings(f, 'randfloat32')).find((r) => r.value === 7.25), 10_000);
    expect(await rejected('malformed')).toBe(malformed0 + 1);
    expect(await rejected('mismatched')).toBe(mismatched0 + 3);
    expect((await readings(f, 'randfloat32')).map((r) => r.value)).toEqual([27.5, 42, 7.25]);
    expect((await readings(f, 'randfloat64')).map((r) => r.value)).toEqual([12.64]);

    // A read through the hub: a GET command per resource, answered on command/response/<uuid>.
    const read = await f.api<{ readings: Reading[] }>('POST', `/api/v1/sites/${SITE}/devices/${DEVICE}/read`, { resources: ['testrandfloat32'], timeoutMs: 5000 });
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    expect(read.body.readings.map((r) => [r.resource, r.value, r.valueType, r.quality])).toEqual([['randfloat32', Math.fround(12.123), 'Float32', 'good']]);
    const get = sim.commands.find((c) => c.topic.startsWith('command/MQTT-test-device/randfloat32/get/'));
    expect(get?.payload).toBe('');

    // A write through the hub: SET on command/MQTT-test-device/message/set/<uuid>, then the read-back's GET.
    const cmd = await f.api<{ id: string }>('POST', `/api/v1/sites/${SITE}/devices/${DEVICE}/commands`, { resource: 'message', value: 'hello from the hub' });
    expect(cmd.status, JSON.stringify(cmd.body)).toBe(202);
    const done = await waitFor('the command done', async () => {
      const c = await f.api<{ state: string; result?: unknown }>('GET', `/api/v1/commands/${cmd.body.id}`);
      return c.body.state === 'succeeded' || c.body.state === 'failed' ? c.body : undefined;
    }, 10_000);
    expect(done.state, JSON.stringify(done)).toBe('succeeded');
    expect(sim.message()).toBe('hello from the hub');
    const set = sim.commands.find((c) => /^command\/MQTT-test-device\/message\/set\/[0-9a-f-]{36}$/.test(c.topic));
    expect(set && JSON.parse(set.payload)).toEqual({ message: 'hello from the hub' });

    // An answer for no command: ignored, counted.
    const unclaimed0 = await sampleValue(metricsUrl, 'edgeadm_mqtt_unclaimed_answers_total');
    await device.publishAsync('command/response/0b1c6f3e-4a5d-4e8f-9a7b-2c3d4e5f6a7b', JSON.stringify({ message: 'stray' }), { qos: 1 });
    await waitFor('the stray answer counted', async () => (await sampleValue(metricsUrl, 'edgeadm_mqtt_unclaimed_answers_total')) === unclaimed0 + 1, 10_000);

    // The login: its own topics only. Another device's commands are not granted; publishing outside closes the connection.
    // (mqtt.js rejects a SUBACK holding 0x80, the codes on the error's packet.)
    const codes = await device.subscribeAsync(['command/other-device/#', 'incoming/data/#', '#'], { qos: 1 }).then(
      (grants) => grants.map((g) => g.qos),
      (err: { packet?: { granted?: number[] } }) => err.packet?.granted,
    );
    expect(codes).toEqual([128, 128, 128]);
    const gone = new Promise<void>((resolve) => device.once('close', () => resolve()));
    device.publish('incoming/data/other-device/randfloat32', JSON.stringify({ randfloat32: 1 }), { qos: 1 });
    await gone;
  }, 30_000);
});
