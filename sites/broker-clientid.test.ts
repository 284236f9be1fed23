/**
 * Client ids belong to logins on the site broker, so that no login can take
 * over another's session: real site brokers (aedes, SQLite sessions), real
 * mqtt.js clients and the real MQTT plugin driver on loopback, and a real
 * hub for the reserved usernames.
 *
 *   - the attack: a device login connecting with the MQTT plugin's client id
 *     (`edgeadm-mqtt-<site>`) while the plugin's persistent session holds
 *     queued QoS 1 readings is refused with CONNACK 2, counted and logged;
 *     the plugin's session then delivers every reading published, once
 *   - login B cannot use login A's ids, no login the site's own
 *     (`edgeadm-...`), and the site's own login no other
 *   - a login reconnecting with its own id takes over its older connection
 *     (counted per internal / device login)
 *   - the hub refuses a BrokerCredential whose username starts with
 *     `edgeadm-`, naming the field
 */
import { once } from 'node:events';
import { createConnection } from 'node:net';
import path from 'node:path';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLogger, hashSecret } from '../core/kernel/index.ts';
import type { Sample } from '../core/sdk/index.ts';
import { createMqttDriver } from '../plugins/mqtt/index.ts';
import { deferCleanup } from '../test/support/cleanup.ts';
import { metricValue, mqttMeter, TEST_CLIENT_OPTIONS, testClient } from '../test/support/mqtt-clients.ts';
import { quiet, startHubFixture, tempDir, waitFor } from '../test/support/hub-fixture.ts';
import { startSiteBroker, type BrokerLogin, type SiteBrokerHandle } from './broker.ts';

const defer = deferCleanup();
/** Cheap scrypt parameters: the tests check the logic, not the cost. */
const FAST = { logN: 10, r: 8, p: 1 };

interface TestBroker {
  broker: SiteBrokerHandle;
  url: string;
  registry: Registry;
  lines: Record<string, unknown>[];
}

async function startBroker(logins: Record<string, Omit<BrokerLogin, 'passwordHash'> & { password: string }>): Promise<TestBroker> {
  const table = new Map<string, BrokerLogin>();
  for (const [username, { password, ...rest }] of Object.entries(logins)) table.set(username, { ...rest, passwordHash: await hashSecret(password, FAST) });
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) } });
  const registry = new Registry();
  const broker = await startSiteBroker({
    host: '127.0.0.1',
    port: 0,
    logger,
    lookup: (username) => table.get(username),
    persistenceFile: path.join(tempDir('broker-clientid'), 'broker.db'),
    metrics: registry,
  });
  defer(() => broker.close());
  return { broker, url: broker.url, registry, lines };
}

const client = (url: string, opts: IClientOptions): Promise<MqttClient> => testClient(url, opts, defer);

/** The CONNACK return code a connection gets: 0 when admitted. */
async function connack(url: string, opts: IClientOptions): Promise<number> {
  try {
    const c = await connectAsync(url, { ...TEST_CLIENT_OPTIONS, ...opts });
    await c.endAsync(true);
    return 0;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'number') throw err;
    return code;
  }
}

/**
 * The CONNACK return code of a CONNECT sent as raw MQTT 3.1.1 bytes: for what
 * mqtt.js refuses to send itself (an empty client id with clean = false).
 */
async function rawConnack(url: string, o: { clientId: string; clean: boolean; username: string; password: string }): Promise<number> {
  const str = (v: string): Buffer => {
    const b = Buffer.from(v, 'utf8');
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  };
  const flags = 0x80 | 0x40 | (o.clean ? 0x02 : 0);
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, flags, 0, 60]), str(o.clientId), str(o.username), str(o.password)]);
  if (body.length > 127) throw new Error('test CONNECT too long for a one-byte length');
  const { hostname, port } = new URL(url);
  const socket = createConnection({ host: hostname, port: Number(port) });
  defer(() => socket.destroy());
  socket.write(Buffer.concat([Buffer.from([0x10, body.length]), body]));
  const [reply] = (await once(socket, 'data')) as [Buffer];
  if (reply[0] !== 0x20 || reply.length < 4) throw new Error(`not a CONNACK: ${reply.toString('hex')}`);
  return reply[3]!;
}

function closed(c: MqttClient): { closed: boolean } {
  const state = { closed: false };
  c.once('close', () => (state.closed = true));
  return state;
}

describe('client ids belong to logins', () => {
  it("refuses a device login taking the MQTT plugin's client id; the plugin's session still delivers every queued reading", async () => {
    const site = 'plant-a';
    const password = 'm-1-secret';
    const { broker, url, registry, lines } = await startBroker({ 'm-1': { password, publish: ['devices/m-1/#'], subscribe: ['devices/m-1/#'], device: 'm-1' } });
    // As plugins/mqtt/index.ts runs its driver: the site's own login, a persistent session under its own client id.
    const pluginId = `edgeadm-mqtt-${site}`;
    const driverOptions = { logger: quiet, siteBroker: () => ({ url, ...broker.credentials }), persistentClientId: pluginId, redeliveryBackoff: { initialMs: 100, maxMs: 500 } };
    const meter = mqttMeter(site);
    const delivered: number[] = [];
    const sink = (samples: readonly Sample[]): void => {
      for (const s of samples) delivered.push(s.value as number);
    };
    const startPlugin = async (): Promise<() => Promise<void>> => {
      const driver = createMqttDriver(driverOptions);
      const conn = await driver.connect(meter);
      await conn.subscribe!(['power'], { mode: 'onChange' }, sink);
      return () => driver.close();
    };

    let stopPlugin = await startPlugin();
    const device = await client(url, { clientId: 'm-1', username: 'm-1', password });
    let published = 0;
    const publish = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) await device.publishAsync('devices/m-1/power', String(++published), { qos: 1 });
    };
    await publish(50);
    await waitFor('the first readings', () => delivered.length >= 50);

    // The plugin is away (an agent restart): its session queues what the device sends.
    await stopPlugin();
    await publish(300);
    // The attack: the device's own login with the plugin's client id, with a clean session (which would wipe
    // the plugin's queue) and with a persistent one (which would drain it).
    expect(await connack(url, { clientId: pluginId, username: 'm-1', password, clean: true })).toBe(2);
    expect(await connack(url, { clientId: pluginId, username: 'm-1', password, clean: false })).toBe(2);

    stopPlugin = await startPlugin();
    defer(() => stopPlugin());
    await waitFor('every queued reading', () => delivered.length >= published, 20_000);
    // Tried again while the plugin is connected: refused, and the plugin's connection stays.
    expect(await connack(url, { clientId: pluginId, username: 'm-1', password, clean: true })).toBe(2);
    await publish(47);
    await waitFor('the readings after the last attack', () => delivered.length >= published, 20_000);

    expect(published).toBe(397);
    expect(delivered).toEqual(Array.from({ length: published }, (_, i) => i + 1));
    expect(broker.stats().refusals['client-id']).toBe(3);
    expect(await metricValue(registry, 'edgeadm_site_broker_refusals_total{reason="client-id"}')).toBe(3);
    // Coded, naming the login and the id; once per login per interval.
    const logged = lines.filter((l) => l.msg === 'site broker client id refused');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ reason: 'client-id', username: 'm-1', client: pluginId, device: 'm-1', error: { code: 'EDGE_ERR_BROKER_CLIENT_ID' } });
    expect(String((logged[0]!.error as { message: string }).message)).toContain(`'${pluginId}'`);
  }, 60_000);

  it("lets login B use none of login A's ids, no login the site's own, and the site's own login no other", async () => {
    const { broker, url, registry } = await startBroker({
      'gw-a': { password: 'a-secret', publish: ['x/#'], subscribe: ['x/#'] },
      'gw-b': { password: 'b-secret', publish: ['x/#'], subscribe: ['x/#'] },
    });
    const a = await client(url, { clientId: 'gw-a', username: 'gw-a', password: 'a-secret', clean: false });
    await a.subscribeAsync('x/a', { qos: 1 });
    const aState = closed(a);
    const b = { username: 'gw-b', password: 'b-secret' };
    const internal = broker.credentials;
    const cases: [who: string, opts: IClientOptions, code: number][] = [
      ['B as A', { ...b, clientId: 'gw-a', clean: true }, 2],
      ['B as A, persistent', { ...b, clientId: 'gw-a', clean: false }, 2],
      ["B with A's suffixed id", { ...b, clientId: 'gw-a/b', clean: true }, 2],
      ['B with its name as a bare prefix', { ...b, clientId: 'gw-bx', clean: true }, 2],
      ['B with an empty suffix', { ...b, clientId: 'gw-b/', clean: true }, 2],
      ["B with the plugin's id", { ...b, clientId: 'edgeadm-mqtt-plant-a', clean: true }, 2],
      ['B as itself', { ...b, clientId: 'gw-b', clean: true }, 0],
      ['B with a suffix', { ...b, clientId: 'gw-b/sensor-1', clean: false }, 0],
      ['B with an empty id and a clean session', { ...b, clientId: '', clean: true }, 0],
      ["the site's own login as A", { ...internal, clientId: 'gw-a', clean: true }, 2],
      ["the site's own login with mqtt.js's default id", { ...internal, clientId: 'mqttjs_1a2b3c4d', clean: true }, 2],
      ["the site's own login with its prefix", { ...internal, clientId: 'edgeadm-tool', clean: true }, 0],
    ];
    const got: [string, number][] = [];
    for (const [who, opts] of cases) got.push([who, await connack(url, opts)]);
    expect(got).toEqual(cases.map(([who, , code]) => [who, code]));
    // An empty id needs a clean session (MQTT-3.1.3-8): the broker would have to make one up for a session to keep.
    expect(await rawConnack(url, { clientId: '', clean: false, ...b })).toBe(2);
    expect(await rawConnack(url, { clientId: '', clean: true, ...b })).toBe(0);

    // A kept its connection and its session throughout.
    expect(aState.closed).toBe(false);
    const message = new Promise<string>((resolve) => a.once('message', (_t, payload) => resolve(payload.toString())));
    const pub = await client(url, { ...internal, clientId: 'edgeadm-test-pub' });
    await pub.publishAsync('x/a', 'still yours', { qos: 1 });
    expect(await message).toBe('still yours');
    const refused = cases.filter(([, , code]) => code === 2).length + 1;
    expect(broker.stats().refusals['client-id']).toBe(refused);
    expect(await metricValue(registry, 'edgeadm_site_broker_refusals_total{reason="client-id"}')).toBe(refused);
    expect(broker.stats().takeovers).toBe(0);
  }, 60_000);

  it('lets a login take over its own older connection, and counts the takeover', async () => {
    const { broker, url, registry, lines } = await startBroker({ 'gw-a': { password: 'a-secret', publish: ['x/#'], subscribe: ['x/#'] } });
    const login = { username: 'gw-a', password: 'a-secret' };
    const first = await client(url, { ...login, clientId: 'gw-a/1', clean: false });
    await first.subscribeAsync('x/a', { qos: 1 });
    const firstState = closed(first);
    const second = await client(url, { ...login, clientId: 'gw-a/1', clean: false });
    await waitFor('the older connection closed', () => firstState.closed);
    // The session is the second connection's now.
    const message = new Promise<string>((resolve) => second.once('message', (_t, payload) => resolve(payload.toString())));
    const pub = await client(url, { ...broker.credentials, clientId: 'edgeadm-test-pub' });
    await pub.publishAsync('x/a', 'to the session', { qos: 1 });
    expect(await message).toBe('to the session');

    // The site's own clients take over their own too (a plugin reconnecting before its old connection timed out).
    const own = await client(url, { ...broker.credentials, clientId: 'edgeadm-mqtt-plant-a', clean: false });
    const ownState = closed(own);
    await client(url, { ...broker.credentials, clientId: 'edgeadm-mqtt-plant-a', clean: false });
    await waitFor('the older internal connection closed', () => ownState.closed);

    expect(broker.stats().takeovers).toBe(2);
    expect(await metricValue(registry, 'edgeadm_site_broker_takeovers_total{internal="false"}')).toBe(1);
    expect(await metricValue(registry, 'edgeadm_site_broker_takeovers_total{internal="true"}')).toBe(1);
    const logged = lines.filter((l) => l.msg === 'site broker connection took over the older one of its client id');
    expect(logged.map((l) => [l.client, l.username, l.internal])).toEqual([
      ['gw-a/1', 'gw-a', false],
      ['edgeadm-mqtt-plant-a', 'edgeadm-site', true],
    ]);
    expect(broker.stats().refusals['client-id']).toBe(0);
  }, 60_000);
});

describe('reserved usernames', () => {
  it('the hub refuses a broker login whose username starts with edgeadm-, naming the field', async () => {
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-r';
    await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
    await f.apply({
      kind: 'DeviceProfile',
      metadata: { name: 'meter' },
      spec: { deviceResources: [{ name: 'power', attributes: { topic: 'power', payload: 'number' }, properties: { valueType: 'Float64', readWrite: 'R' } }] },
    });
    await f.apply({ kind: 'Device', metadata: { name: 'edgeadm-probe' }, spec: { site, profile: 'meter', protocols: { mqtt: {} } } });
    type Refusal = { code?: string; message?: string; details?: { issues?: { path: string; message: string }[] } };
    const paths = (b: Refusal): string[] => (b.details?.issues ?? []).map((i) => i.path);

    // Issued with that username.
    const named = await f.api<Refusal>('POST', `/api/v1/sites/${site}/broker-credentials`, { username: `edgeadm-mqtt-${site}` });
    expect(named.status).toBe(400);
    expect(named.body.code).toMatch(/^EDGE_ERR_/);
    expect(paths(named.body)).toContain('username');
    // Issued for a device whose name starts with it (the username defaults to the device name).
    const byDevice = await f.api<Refusal>('POST', `/api/v1/sites/${site}/broker-credentials`, { device: 'edgeadm-probe' });
    expect(byDevice.status).toBe(400);
    expect(byDevice.body.code).toMatch(/^EDGE_ERR_/);
    expect(paths(byDevice.body)).toContain('spec.username');
    // Applied as a resource.
    const applied = await f.api<Refusal>('PUT', `/api/v1/brokercredentials/${site}.edgeadm-x`, {
      apiVersion: 'edgeadm.io/v1alpha1',
      kind: 'BrokerCredential',
      metadata: { name: `${site}.edgeadm-x` },
      spec: { site, username: 'edgeadm-x', passwordHash: await hashSecret('x-secret', FAST) },
    });
    expect(applied.status).toBe(400);
    expect(applied.body.code).toMatch(/^EDGE_ERR_/);
    expect(paths(applied.body)).toContain('spec.username');

    // Other names are issued as before, also ones holding 'edgeadm' further on.
    const ok = await f.api<{ credential: { spec: { username: string } } }>('POST', `/api/v1/sites/${site}/broker-credentials`, { username: 'my-edgeadm-gw' });
    expect(ok.status).toBe(201);
    expect(ok.body.credential.spec.username).toBe('my-edgeadm-gw');
  }, 60_000);
});
