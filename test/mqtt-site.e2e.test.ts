/**
 * The site broker's security, onboarding and durability, end to end: a hub,
 * a site agent running the mqtt plugin, and devices played by
 * `mosquitto_pub` and mqtt.js clients.
 *
 *   - logins: no login, a bad password, a device publishing or subscribing
 *     outside its own topics (mqtt.js and mosquitto_sub), a login disabled
 *     while connected, a packet over the size limit, garbage bytes;
 *     each refusal counted on the agent's /metrics
 *   - onboarding: Home Assistant discovery and the native announce topic
 *     become PendingDevices at the hub; one approved by the operator, one
 *     admitted by the site's provisioning rule; both then deliver readings
 *   - a site-agent restart: QoS 1 telemetry published while the agent is
 *     down reaches the hub, all of it
 */
import { execFile } from 'node:child_process';
import { createConnection } from 'node:net';
import { promisify } from 'node:util';
import { connect, connectAsync, type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { generateSecret, hashSecret } from '../core/kernel/index.ts';
import type { Reading } from '../core/sdk/index.ts';
import type { PendingDeviceObject } from '../core/store/index.ts';
import { startSiteAgent, type SiteAgent } from '../sites/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { quiet, startHubFixture, tempDir, waitFor, type HubFixture } from './support/hub-fixture.ts';
import { freePort } from './support/tcp-services.ts';

const run = promisify(execFile);
const defer = deferCleanup();
/** Cheap scrypt parameters: the tests check the logic, not the cost. */
const FAST = { logN: 10, r: 8, p: 1 };

async function login(f: HubFixture, site: string, username: string, extra: Record<string, unknown> = {}): Promise<string> {
  const password = generateSecret();
  await f.apply({ kind: 'BrokerCredential', metadata: { name: `${site}.${username}` }, spec: { site, username, passwordHash: await hashSecret(password, FAST), ...extra } });
  return password;
}

async function meterSite(f: HubFixture, site: string, onboarding?: unknown): Promise<void> {
  await f.apply({ kind: 'Site', metadata: { name: site }, spec: onboarding ? { onboarding } : {} });
  await f.apply({
    kind: 'DeviceProfile',
    metadata: { name: 'meter' },
    spec: { deviceResources: [{ name: 'power', attributes: { topic: 'power', payload: 'number' }, properties: { valueType: 'Float64', readWrite: 'R', units: 'W' } }] },
  });
  for (const name of ['m-1', 'm-2']) {
    await f.apply({ kind: 'Device', metadata: { name }, spec: { site, profile: 'meter', protocols: { mqtt: { topic: `devices/${name}`, qos: 1 } } } });
  }
  await f.apply({ kind: 'Addon', metadata: { name: 'mqtt' }, spec: { plugin: 'mqtt', sites: [site] } });
}

async function agentFor(f: HubFixture, site: string, dataDir: string, port = 0, token?: string): Promise<SiteAgent> {
  const a = await startSiteAgent({
    site,
    hubUrl: f.hub.url,
    token: token ?? (await f.agentToken(site)),
    dataDir,
    logger: quiet,
    broker: { host: '127.0.0.1', port },
    metrics: { port: 0 },
    syncBackoff: { initialMs: 50, maxMs: 500 },
    forwarder: { backoff: { initialMs: 50, maxMs: 500 } },
  });
  return a;
}

async function readings(f: HubFixture, site: string, device: string, resource: string): Promise<Reading[]> {
  return (await f.hub.telemetry.query({ site, device, resource, limit: 1000 })).items;
}

/** The connection's end: resolves when the broker closes it. */
function closed(c: MqttClient): Promise<void> {
  return new Promise((resolve) => c.once('close', () => resolve()));
}

/** The SUBACK's return codes (mqtt.js rejects when one is 0x80; the packet is on the error). */
function granted(c: MqttClient, topics: string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    c.subscribe(topics, { qos: 1 }, (err, grants) => {
      const packet = (err as { packet?: { granted?: number[] } } | null)?.packet;
      if (packet?.granted) resolve(packet.granted);
      else if (err) reject(err);
      else resolve((grants ?? []).map((g) => g.qos));
    });
  });
}

async function metric(a: SiteAgent, line: RegExp): Promise<number> {
  const text = await (await fetch(a.status().metricsUrl!)).text();
  const m = text.split('\n').find((l) => line.test(l));
  return m ? Number(m.slice(m.lastIndexOf(' ') + 1)) : 0;
}

describe('the site broker', () => {
  it('admits only logins, each only to its own topics, and counts every refusal', async () => {
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-acl';
    await meterSite(f, site);
    const pw = await login(f, site, 'm-1', { device: 'm-1' });
    const a = await agentFor(f, site, tempDir('site-acl'));
    defer(() => a.stop());
    await waitFor('devices up', () => a.status().devices.filter((d) => d.state === 'up').length === 2, 20_000);
    const url = a.status().brokerUrl!;
    const port = new URL(url).port;
    // A login's client ids are its username or `<username>/<suffix>`: the device's tools use `m-1/<tool>`.
    const pub = (args: string[]): Promise<unknown> => run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-q', '1', '-i', 'm-1/pub', ...args]);

    // No login, or a bad password: refused at CONNECT.
    await expect(pub(['-t', 'devices/m-1/power', '-m', '1'])).rejects.toThrow(/not authori[sz]ed|Connection Refused|refused/i);
    await expect(pub(['-u', 'm-1', '-P', `${pw}x`, '-t', 'devices/m-1/power', '-m', '1'])).rejects.toThrow(/not authori[sz]ed|Connection Refused|refused/i);
    await expect(pub(['-u', 'nobody', '-P', pw, '-t', 'devices/m-1/power', '-m', '1'])).rejects.toThrow(/not authori[sz]ed|Connection Refused|refused/i);

    // Its own topics: readings at the hub.
    await pub(['-u', 'm-1', '-P', pw, '-t', 'devices/m-1/power', '-m', '230.5']);
    await waitFor('the reading of m-1', async () => (await readings(f, site, 'm-1', 'power')).find((r) => r.value === 230.5), 20_000);

    // Another device's topics: the subscription is refused, the publish closes the connection and is not delivered.
    const dev = await connectAsync(url, { clientId: 'm-1', username: 'm-1', password: pw, reconnectPeriod: 0 });
    defer(() => dev.endAsync(true));
    const own = await dev.subscribeAsync('devices/m-1/command', { qos: 1 });
    expect(own.map((g) => g.qos)).toEqual([1]);
    expect(await granted(dev, ['devices/m-2/command', 'devices/+/command', '#'])).toEqual([128, 128, 128]);
    const gone = closed(dev);
    dev.publish('devices/m-2/power', '999', { qos: 1 });
    await gone;
    await pub(['-u', 'm-1', '-P', pw, '-t', 'devices/m-1/power', '-m', '231']);
    await waitFor('a later reading of m-1', async () => (await readings(f, site, 'm-1', 'power')).find((r) => r.value === 231), 20_000);
    expect(await readings(f, site, 'm-2', 'power')).toEqual([]);

    // mosquitto_sub as another device's eavesdropper: the broker grants nothing (SUBACK 0x80, shown by -d).
    const sub = await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-i', 'm-1/sub', '-u', 'm-1', '-P', pw, '-t', 'devices/m-2/command', '-q', '1', '-d', '-W', '1']).then(
      (r) => r.stdout,
      (err: { stdout?: string }) => err.stdout ?? '',
    );
    expect(sub).toMatch(/Subscribed \(mid: \d+\): 128/);

    // A packet over the broker's limit ends the connection before it is read; garbage bytes too.
    const big = await connectAsync(url, { clientId: 'm-1/big', username: 'm-1', password: pw, reconnectPeriod: 0 });
    defer(() => big.endAsync(true));
    const bigGone = closed(big);
    big.publish('devices/m-1/power', Buffer.alloc(2 * 1024 * 1024, 0x31), { qos: 0 });
    await bigGone;
    const raw = createConnection({ host: '127.0.0.1', port: Number(port) });
    defer(() => raw.destroy());
    raw.on('error', () => undefined);
    const rawGone = new Promise<void>((resolve) => raw.once('close', () => resolve()));
    raw.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await rawGone;

    // A payload that does not fit the profile: a bad reading, counted, the device keeps working.
    await pub(['-u', 'm-1', '-P', pw, '-t', 'devices/m-1/power', '-m', 'lots']);
    await pub(['-u', 'm-1', '-P', pw, '-t', 'devices/m-1/power', '-m', '232']);
    await waitFor('the reading after the bad one', async () => (await readings(f, site, 'm-1', 'power')).find((r) => r.value === 232), 20_000);
    expect((await readings(f, site, 'm-1', 'power')).filter((r) => r.quality === 'bad')).toHaveLength(1);

    // Disabling the login closes its open connection.
    const again = await connectAsync(url, { clientId: 'm-1/b', username: 'm-1', password: pw, reconnectPeriod: 0 });
    defer(() => again.endAsync(true));
    const revoked = closed(again);
    await f.apply({ kind: 'BrokerCredential', metadata: { name: `${site}.m-1` }, spec: { site, username: 'm-1', device: 'm-1', passwordHash: await hashSecret(pw, FAST), disabled: true } });
    await revoked;
    await expect(pub(['-u', 'm-1', '-P', pw, '-t', 'devices/m-1/power', '-m', '1'])).rejects.toThrow(/not authori[sz]ed|Connection Refused|refused/i);

    expect(await metric(a, /^edgeadm_site_broker_refusals_total\{reason="credentials"\}/)).toBeGreaterThanOrEqual(4);
    expect(await metric(a, /^edgeadm_site_broker_refusals_total\{reason="subscribe"\}/)).toBe(4);
    expect(await metric(a, /^edgeadm_site_broker_refusals_total\{reason="publish"\}/)).toBe(1);
    expect(await metric(a, /^edgeadm_site_broker_refusals_total\{reason="revoked"\}/)).toBe(1);
    expect(await metric(a, /^edgeadm_site_broker_refusals_total\{reason="oversized"\}/)).toBe(1);
    expect(await metric(a, /^edgeadm_mqtt_device_rejected_total\{device="m-1",reason="mismatched"\}/)).toBe(1);
    expect(await metric(a, /^edgeadm_mqtt_device_samples_total\{device="m-1"\}/)).toBeGreaterThanOrEqual(4);
  }, 90_000);

  it('turns announcements into pending devices: one approved by the operator, one by a provisioning rule', async () => {
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-onb';
    await meterSite(f, site, { rules: [{ name: 'aqara-sensors', match: { source: 'homeassistant', manufacturer: 'Xiaomi', model: 'WSDCGQ*' }, labels: { room: 'auto' } }] });
    const pw = await login(f, site, 'z2m', { publish: ['zigbee2mqtt/#'] });
    const a = await agentFor(f, site, tempDir('site-onb'));
    defer(() => a.stop());
    await waitFor('the plugin running', () => a.status().plugins.find((p) => p.plugin === 'mqtt' && p.state === 'running'), 20_000);
    const gw = await connectAsync(a.status().brokerUrl!, { clientId: 'z2m', username: 'z2m', password: pw, reconnectPeriod: 0 });
    defer(() => gw.endAsync(true));

    const discovery = (id: string, friendly: string, manufacturer: string, model: string) => ({
      name: 'Temperature',
      unique_id: `${id}_temperature`,
      state_topic: `zigbee2mqtt/${friendly}`,
      value_template: '{{ value_json.temperature }}',
      unit_of_measurement: '°C',
      device_class: 'temperature',
      state_class: 'measurement',
      device: { identifiers: [`zigbee2mqtt_${id}`], name: friendly, manufacturer, model },
    });
    await gw.publishAsync('homeassistant/sensor/0x0001/temperature/config', JSON.stringify(discovery('0x0001', 'kitchen', 'Acme', 'T-100')), { qos: 1, retain: true });
    await gw.publishAsync('homeassistant/sensor/0x0002/temperature/config', JSON.stringify(discovery('0x0002', 'hall', 'Xiaomi', 'WSDCGQ11LM')), { qos: 1, retain: true });
    // A native announcement, and one the site refuses (no resources).
    await gw.publishAsync('edgeadm/announce/pump-7', JSON.stringify({ id: 'pump-7', manufacturer: 'Acme', resources: [{ name: 'flow', valueType: 'Float64', units: 'l/min' }] }), { qos: 1 });
    await gw.publishAsync('edgeadm/announce/junk', '{"id": 7}', { qos: 1 });

    const pending = async (): Promise<PendingDeviceObject[]> =>
      (await f.api<{ items: PendingDeviceObject[] }>('GET', `/api/v1/pendingdevices`)).body.items.filter((p) => p.spec.site === site);
    const all = await waitFor('three pending devices', async () => ((await pending()).length === 3 ? pending() : undefined), 20_000);
    const kitchen = all.find((p) => p.spec.manufacturer === 'Acme' && p.spec.source === 'homeassistant')!;
    const hall = all.find((p) => p.spec.manufacturer === 'Xiaomi')!;
    const pump = all.find((p) => p.spec.source === 'announce')!;
    expect(kitchen.status?.phase).toBe('Pending');
    expect(pump.status?.phase).toBe('Pending');
    expect(pump.spec.identifier).toBe('pump-7');
    // The provisioning rule admitted the Xiaomi sensor: its Device exists, labelled by the rule.
    expect(hall.status).toMatchObject({ phase: 'Approved', decidedBy: 'rule:aqara-sensors' });
    const hallDevice = await f.api<{ metadata: { labels?: Record<string, string> } }>('GET', `/api/v1/devices/${hall.status!.device!}`);
    expect(hallDevice.status).toBe(200);
    expect(hallDevice.body.metadata.labels).toMatchObject({ room: 'auto' });

    // The operator approves the kitchen sensor.
    const approved = await f.api<{ device: { metadata: { name: string } } }>('POST', `/api/v1/pendingdevices/${kitchen.metadata.name}/approve`, { name: 'kitchen-temp' });
    expect(approved.status).toBe(200);
    expect(approved.body.device.metadata.name).toBe('kitchen-temp');

    // Both now deliver readings from the gateway's state topics.
    await waitFor('both devices up', () => ['kitchen-temp', hall.status!.device!].every((n) => a.status().devices.find((d) => d.device === n && d.state === 'up')), 20_000);
    await gw.publishAsync('zigbee2mqtt/kitchen', JSON.stringify({ temperature: 21.5, humidity: 40 }), { qos: 1 });
    await gw.publishAsync('zigbee2mqtt/hall', JSON.stringify({ temperature: 18.25 }), { qos: 1 });
    const resource = (p: PendingDeviceObject): string => (p.spec.profile.deviceResources[0] as { name: string }).name;
    await waitFor('kitchen reading', async () => (await readings(f, site, 'kitchen-temp', resource(kitchen))).find((r) => r.value === 21.5), 20_000);
    await waitFor('hall reading', async () => (await readings(f, site, hall.status!.device!, resource(hall))).find((r) => r.value === 18.25), 20_000);
    expect((await readings(f, site, 'kitchen-temp', resource(kitchen)))[0]).toMatchObject({ units: '°C', valueType: 'Float64', quality: 'good' });
  }, 90_000);

  it('loses no QoS 1 telemetry across a site-agent restart', async () => {
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-restart';
    await meterSite(f, site);
    const pw = await login(f, site, 'gw', { publish: ['devices/#'] });
    const dataDir = tempDir('site-restart');
    const port = await freePort();
    const token = await f.agentToken(site);
    let a = await agentFor(f, site, dataDir, port, token);
    let stopped = false;
    defer(async () => {
      if (!stopped) await a.stop();
    });
    await waitFor('devices up', () => a.status().devices.filter((d) => d.state === 'up').length === 2, 20_000);
    // A device with a persistent session subscribed to its command topic, then away.
    const devPw = await login(f, site, 'm-1', { device: 'm-1' });
    const devOptions = { clientId: 'm-1/session', username: 'm-1', password: devPw, clean: false, reconnectPeriod: 0 } as const;
    const dev = await waitFor('the device login', () => connectAsync(`mqtt://127.0.0.1:${port}`, devOptions).catch(() => undefined), 20_000);
    await dev.subscribeAsync('devices/m-1/command', { qos: 1 });
    await dev.endAsync();
    // A gateway with a persistent session, reconnecting on its own.
    const gw = await connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'gw/restart', username: 'gw', password: pw, clean: false, reconnectPeriod: 100 });
    defer(() => gw.endAsync(true));
    for (let i = 1; i <= 10; i++) await gw.publishAsync('devices/m-1/power', String(i), { qos: 1 });
    await waitFor('the first ten readings', async () => (await readings(f, site, 'm-1', 'power')).length >= 10, 20_000);

    await a.stop();
    stopped = true;
    // While the agent is down the gateway keeps publishing: mqtt.js holds QoS 1 messages until the broker is back.
    const later = Array.from({ length: 10 }, (_, i) => gw.publishAsync('devices/m-1/power', String(11 + i), { qos: 1 }));
    a = await agentFor(f, site, dataDir, port, token);
    stopped = false;
    await Promise.all(later);
    await waitFor('all twenty readings', async () => new Set((await readings(f, site, 'm-1', 'power')).map((r) => r.value)).size === 20, 30_000);
    const values = [...new Set((await readings(f, site, 'm-1', 'power')).map((r) => r.value as number))].sort((x, y) => x - y);
    expect(values).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));

    // The device's session outlived the restart: a command published while it is away waits for it.
    await gw.publishAsync('devices/m-1/command', JSON.stringify({ id: 'c-1', resource: 'power', value: 1 }), { qos: 1 });
    await waitFor('devices up again', () => a.status().devices.filter((d) => d.state === 'up').length === 2, 20_000);
    const back = connect(`mqtt://127.0.0.1:${port}`, { ...devOptions, manualConnect: true });
    defer(() => back.endAsync(true));
    const got = new Promise<string>((resolve) => back.once('message', (_t, payload) => resolve(payload.toString())));
    const connack = new Promise<boolean>((resolve) => back.once('connect', (p) => resolve(p.sessionPresent)));
    back.connect();
    expect(await connack).toBe(true);
    expect(JSON.parse(await got)).toMatchObject({ id: 'c-1' });
  }, 90_000);
});
