/**
 * The edgex plugin in mode `bridge` against a local EdgeX: an HTTP server
 * implementing the core-metadata and core-command endpoints the bridge uses
 * as EdgeX v3's OpenAPI documents them (paths, offset/limit paging with
 * totalCount, MultiDeviceProfilesResponse, MultiDevicesResponse,
 * EventResponse, BaseResponse, error bodies with statusCode and message, 423
 * for a locked device, a bearer token in secure mode), holding EdgeX's own
 * profiles and devices (core/edgex's fixtures, plus enough devices for two
 * pages). Checked through the test kit: the devices proposed for approval,
 * approved as the hub makes them, read and written through core-command;
 * EdgeX down, then up again; events from EdgeX's own (Mosquitto, with a
 * login) broker as readings; config errors naming the field.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectAsync } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { edgexEventTopic, wrapEdgeXEnvelope, type DeviceAnnouncement, type EdgeXAddEventRequest } from '../../../../core/sdk/index.ts';
import { mockSiteServices, startTestKernel, type MockSite, type TestKernel } from '../../../../core/sdk/testkit/index.ts';
import { waitFor } from '../../../../test/support/hub-fixture.ts';
import { startMosquitto, type Mosquitto } from '../../../../test/support/mosquitto.ts';
import edgex from '../../index.ts';

const SITE = 'plant-a';
const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJlZGdlYWRtIn0.c2lnbmF0dXJl';
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../core/edgex/fixtures/files');

type Obj = Record<string, unknown>;
const fixture = (name: string): unknown => JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8'));

/** EdgeX's profiles and devices as core-metadata holds them (ids and timestamps added as it adds them). */
function edgexData(): { profiles: Obj[]; devices: Obj[] } {
  const stamp = (o: Obj): Obj => ({ id: randomUUID(), created: 1_700_000_000_000, modified: 1_700_000_000_000, ...o });
  const profiles = [...(fixture('profiles.request.json') as { profile: Obj }[]).map((r) => stamp(r.profile)), stamp(fixture('thermostat.profile.json') as Obj)];
  const devices = (fixture('devices.request.json') as { device: Obj }[]).map((r) => stamp(r.device));
  // Enough more for a second page (the bridge asks 100 at a time).
  for (let i = 0; i < 120; i++) devices.push(stamp({ name: `Meter-${String(i).padStart(3, '0')}`, serviceName: 'device-modbus', profileName: 'Power-Meter', adminState: 'UNLOCKED', operatingState: 'UP', protocols: {} }));
  devices.push(stamp({ name: 'orphan', serviceName: 'device-virtual', profileName: 'No-Such-Profile', adminState: 'UNLOCKED', operatingState: 'UP', protocols: {} }));
  return { profiles, devices };
}

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: unknown;
}

/** core-metadata and core-command in one local server (EdgeX runs them apart; the paths do not overlap). */
class FakeEdgeX {
  readonly seen: Seen[] = [];
  readonly data = edgexData();
  /** Values by device and resource, as EdgeX's text. */
  readonly values = new Map<string, string>([['room-thermostat-12/Setpoint', '21'], ['room-thermostat-12/Temperature', '19.5']]);
  #server: Server | undefined;
  port = 0;

  async start(port = 0): Promise<void> {
    const server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.#server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  #send(res: ServerResponse, statusCode: number, body: Obj): void {
    res.writeHead(statusCode, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ apiVersion: 'v3', statusCode, ...body }));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let text = '';
    for await (const chunk of req) text += String(chunk);
    const url = new URL(req.url!, 'http://x');
    const body = text === '' ? undefined : (JSON.parse(text) as unknown);
    this.seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, body });
    // Secure mode: every call carries the JWT.
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return this.#send(res, 401, { message: 'unauthorized' });
    const page = (list: Obj[], field: string): void => {
      const offset = Number(url.searchParams.get('offset') ?? '0');
      const limit = Number(url.searchParams.get('limit') ?? '20');
      this.#send(res, 200, { totalCount: list.length, [field]: limit < 0 ? list.slice(offset) : list.slice(offset, offset + limit) });
    };
    if (req.method === 'GET' && url.pathname === '/api/v3/deviceprofile/all') return page(this.data.profiles, 'profiles');
    if (req.method === 'GET' && url.pathname === '/api/v3/device/all') return page(this.data.devices, 'devices');
    const m = /^\/api\/v3\/device\/name\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (!m) return this.#send(res, 404, { message: `no route ${url.pathname}` });
    const [deviceName, command] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)];
    const device = this.data.devices.find((d) => d.name === deviceName);
    if (!device) return this.#send(res, 404, { message: `device ${deviceName} does not exist` });
    const profile = this.data.profiles.find((p) => p.name === device.profileName)!;
    const resources = profile.deviceResources as { name: string; properties: { valueType: string; readWrite: string } }[];
    const resource = resources.find((r) => r.name === command);
    if (!resource) return this.#send(res, 404, { message: `command ${command} does not exist in profile ${String(profile.name)}` });
    if (device.adminState === 'LOCKED') return this.#send(res, 423, { message: `device ${deviceName} is locked` });
    if (req.method === 'PUT') {
      const values = body as Record<string, unknown>;
      for (const [k, v] of Object.entries(values)) {
        if (k !== command || typeof v !== 'string') return this.#send(res, 400, { message: `bad value of ${k}` });
        this.values.set(`${deviceName}/${k}`, v);
      }
      return this.#send(res, 200, {});
    }
    if (url.searchParams.get('ds-returnevent') !== 'true' || url.searchParams.get('ds-pushevent') !== 'false') return this.#send(res, 400, { message: 'unexpected query' });
    const origin = Date.now() * 1_000_000;
    const event = {
      apiVersion: 'v3',
      id: randomUUID(),
      deviceName,
      profileName: profile.name,
      sourceName: command,
      origin,
      readings: [
        {
          id: randomUUID(),
          origin,
          deviceName,
          resourceName: command,
          profileName: profile.name,
          valueType: resource.properties.valueType,
          value: this.values.get(`${deviceName}/${command}`) ?? '0',
        },
      ],
    };
    return this.#send(res, 200, { event });
  }
}

/** A counter or gauge's value in the site's registry. */
async function metric(site: MockSite, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const m = await site.metrics.getSingleMetric(name)?.get();
  return m?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
}

let env: { site?: MockSite; tk?: TestKernel; edgexApi?: FakeEdgeX; mosquitto?: Mosquitto } = {};
afterEach(async () => {
  await env.tk?.stop();
  await env.site?.close();
  await env.edgexApi?.stop();
  await env.mosquitto?.close();
  env = {};
});

const bridgeConfig = (api: FakeEdgeX, more: Obj = {}): Obj => ({
  mode: 'bridge',
  publish: false,
  bridge: { metadataUrl: api.url, commandUrl: `${api.url}/`, token: TOKEN, pollInterval: '200ms', timeout: '1s', maxRetryInterval: '400ms', ...more },
});

/** What `edgeadm device approve` makes of a proposal: its profile `<site>.<device>` and the Device. */
function approved(p: DeviceAnnouncement): object[] {
  const profile = `${SITE}.${p.suggestedName}`;
  return [
    { kind: 'DeviceProfile', metadata: { name: profile }, spec: p.profile },
    { kind: 'Device', metadata: { name: p.suggestedName }, spec: { site: SITE, profile, protocols: { [p.protocolName]: p.protocol } } },
  ];
}

describe('edgex bridge', () => {
  it('proposes every EdgeX device with its profile, reads and writes through core-command, and maps its refusals', { timeout: 30_000 }, async () => {
    const api = new FakeEdgeX();
    await api.start();
    const site = await mockSiteServices({ site: SITE, broker: true });
    env = { site, edgexApi: api };
    env.tk = await startTestKernel({ plugins: [{ plugin: edgex, site: SITE, config: bridgeConfig(api) }], services: site.services });
    expect(env.tk.status(`edgex@${SITE}`).state).toBe('running');

    // Every device with a profile is proposed once; both lists were read page by page.
    await waitFor('proposals', () => site.onboarding.proposals.length >= 122 || undefined);
    const lists = api.seen.filter((s) => s.url.startsWith('/api/v3/device/all'));
    expect(lists.slice(0, 2).map((s) => s.url)).toEqual(['/api/v3/device/all?offset=0&limit=100', '/api/v3/device/all?offset=100&limit=100']);
    expect(api.seen.every((s) => s.authorization === `Bearer ${TOKEN}`)).toBe(true);
    const thermostat = site.onboarding.proposals.find((p) => p.identifier === 'room-thermostat-12')!;
    const profileDto = api.data.profiles.find((p) => p.name === 'Room-Thermostat')!;
    const { id: _i, created: _c, modified: _m, apiVersion: _a, ...profileBody } = profileDto;
    expect(thermostat).toEqual({
      source: 'edgex',
      identifier: 'room-thermostat-12',
      suggestedName: 'room-thermostat-12',
      manufacturer: profileDto.manufacturer,
      model: profileDto.model,
      protocolName: 'edgex',
      protocol: { deviceName: 'room-thermostat-12', serviceName: 'device-bacnet-ip' },
      profile: profileBody,
    });
    const meter = site.onboarding.proposals.find((p) => p.identifier === 'Power Meter #1 (Hall)')!;
    expect(meter).toMatchObject({ suggestedName: 'power-meter-1-hall', displayName: 'Power Meter #1 (Hall)', warnings: [expect.stringMatching(/LOCKED/)] });
    expect(site.onboarding.proposals.some((p) => p.identifier === 'orphan')).toBe(false);
    expect(env.tk.logs.filter((l) => l.msg === 'edgex bridge: an EdgeX device was left out')).toEqual([
      expect.objectContaining({ device: 'orphan', error: expect.objectContaining({ code: 'EDGE_ERR_EDGEX_BRIDGE_DEVICE' }) }),
    ]);
    // Unchanged devices are not proposed again at the next poll; a changed one is.
    const count = site.onboarding.proposals.length;
    await waitFor('another poll', () => api.seen.filter((s) => s.url.startsWith('/api/v3/device/all?offset=0')).length >= 3 || undefined);
    expect(site.onboarding.proposals.length).toBe(count);
    (api.data.devices.find((d) => d.name === 'room-thermostat-12')!).serviceName = 'device-bacnet-ip-2';
    await waitFor('the changed device proposed again', () => site.onboarding.proposals.length === count + 1 || undefined);
    expect(site.onboarding.proposals.at(-1)).toMatchObject({ identifier: 'room-thermostat-12', protocol: { serviceName: 'device-bacnet-ip-2' } });

    // Approved as the hub approves it (the site checks them as the hub does), the device reads and writes through core-command.
    await site.devices.apply(...approved(site.onboarding.proposals.at(-1)!), ...approved(meter));
    await site.devices.waitFor('room-thermostat-12', 'up');
    const result = await site.devices.write('room-thermostat-12', 'Setpoint', 22.5);
    expect(result).toMatchObject({ ok: true });
    const put = api.seen.find((s) => s.method === 'PUT')!;
    // The value as EdgeX writes a Float32 (what device services parse with strconv.ParseFloat).
    expect(put).toMatchObject({ url: '/api/v3/device/name/room-thermostat-12/Setpoint', body: { Setpoint: '2.25e+01' } });
    expect(api.values.get('room-thermostat-12/Setpoint')).toBe('2.25e+01');
    const [back] = await site.readings.waitFor({ device: 'room-thermostat-12', resource: 'Setpoint' });
    expect(back).toMatchObject({ value: 22.5, valueType: 'Float32', quality: 'good', profile: `${SITE}.room-thermostat-12` });
    expect(api.seen.some((s) => s.method === 'GET' && s.url === '/api/v3/device/name/room-thermostat-12/Setpoint?ds-pushevent=false&ds-returnevent=true')).toBe(true);

    // EdgeX's refusals are coded errors naming the device and the command.
    await site.devices.waitFor('power-meter-1-hall', 'up').catch(() => undefined);
    const locked = await site.devices.write('power-meter-1-hall', 'Relay', true);
    expect(locked).toMatchObject({ ok: false, error: { code: 'EDGE_ERR_EDGEX_COMMAND_LOCKED', message: expect.stringMatching(/'Power Meter #1 \(Hall\)' is locked: command 'Relay'/) } });
    expect(api.seen.some((s) => s.method === 'PUT' && s.url === '/api/v3/device/name/Power%20Meter%20%231%20(Hall)/Relay')).toBe(true);
    api.data.devices.splice(api.data.devices.findIndex((d) => d.name === 'room-thermostat-12'), 1);
    const gone = await site.devices.write('room-thermostat-12', 'Setpoint', 23);
    expect(gone).toMatchObject({ ok: false, error: { code: 'EDGE_ERR_EDGEX_COMMAND_NOT_FOUND', message: expect.stringMatching(/command 'Setpoint' of device 'room-thermostat-12'.*does not exist/) } });
    expect(await metric(site, 'edgeadm_edgex_bridge_up', { service: 'core-command' })).toBe(1);
  });

  it('shows an EdgeX that does not answer, with the cause, retries with a capped backoff, and recovers', { timeout: 30_000 }, async () => {
    const api = new FakeEdgeX();
    await api.start();
    const port = api.port;
    const site = await mockSiteServices({ site: SITE, broker: true });
    env = { site, edgexApi: api };
    env.tk = await startTestKernel({ plugins: [{ plugin: edgex, site: SITE, config: bridgeConfig(api) }], services: site.services });
    await waitFor('proposals', () => site.onboarding.proposals.length >= 122 || undefined);
    await site.devices.apply(...approved(site.onboarding.proposals.find((p) => p.identifier === 'room-thermostat-12')!));
    await site.devices.waitFor('room-thermostat-12', 'up');
    expect(await metric(site, 'edgeadm_edgex_bridge_up', { service: 'core-metadata' })).toBe(1);

    await api.stop();
    await waitFor('core-metadata down', async () => ((await metric(site, 'edgeadm_edgex_bridge_up', { service: 'core-metadata' })) === 0 ? true : undefined));
    // A command while EdgeX is down fails with the cause, and core-command shows down too.
    const down = await site.devices.write('room-thermostat-12', 'Setpoint', 24);
    expect(down).toMatchObject({ ok: false, error: { code: 'EDGE_ERR_EDGEX_BRIDGE_UNREACHABLE', message: expect.stringMatching(/core-command at http:\/\/127\.0\.0\.1:\d+\/api\/v3\/device\/name\/room-thermostat-12\/Setpoint is not reachable: ECONNREFUSED/) } });
    expect(await metric(site, 'edgeadm_edgex_bridge_up', { service: 'core-command' })).toBe(0);
    // Retries double up to the cap (400ms): several failures, one warning per cause, no token in any log line.
    await waitFor('five failures', async () => ((await metric(site, 'edgeadm_edgex_bridge_failures_total', { service: 'core-metadata' })) ?? 0) >= 5 || undefined);
    expect(await metric(site, 'edgeadm_edgex_bridge_retry_seconds')).toBe(0.4);
    const warnings = env.tk.logs.filter((l) => l.msg === 'edgex bridge: EdgeX does not answer; retrying' && l.service === 'core-metadata');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ error: { code: 'EDGE_ERR_EDGEX_BRIDGE_UNREACHABLE', message: expect.stringMatching(/core-metadata .* is not reachable: ECONNREFUSED/) } });
    expect(JSON.stringify(env.tk.logs)).not.toContain(TOKEN);
    // The instance runs on, degraded, with the first service down's cause as its status.
    expect(env.tk.status(`edgex@${SITE}`)).toMatchObject({ state: 'degraded', error: { code: 'EDGE_ERR_EDGEX_BRIDGE_UNREACHABLE', message: expect.stringMatching(/^EdgeX core-metadata at .* is not reachable: ECONNREFUSED/) } });
    expect(env.tk.logs.filter((l) => l.msg === 'plugin degraded')).toHaveLength(1);

    // EdgeX back on its port: healthy again, and commands go through.
    await api.start(port);
    await waitFor('core-metadata up', async () => ((await metric(site, 'edgeadm_edgex_bridge_up', { service: 'core-metadata' })) === 1 ? true : undefined));
    expect(await metric(site, 'edgeadm_edgex_bridge_retry_seconds')).toBe(0);
    expect(env.tk.logs.some((l) => l.msg === 'edgex bridge: EdgeX answers again' && l.service === 'core-metadata')).toBe(true);
    // core-command is down until a call to it succeeds: the cause moves to it.
    expect(env.tk.status(`edgex@${SITE}`)).toMatchObject({ state: 'degraded', error: { code: 'EDGE_ERR_EDGEX_BRIDGE_UNREACHABLE', message: expect.stringMatching(/^EdgeX core-command at /) } });
    expect(await site.devices.write('room-thermostat-12', 'Setpoint', 25)).toMatchObject({ ok: true });
    expect(await metric(site, 'edgeadm_edgex_bridge_up', { service: 'core-command' })).toBe(1);
    const well = env.tk.status(`edgex@${SITE}`);
    expect(well.state).toBe('running');
    expect(well.error).toBeUndefined();
  });

  it("takes the EdgeX devices' events from EdgeX's own broker, with its login", { timeout: 60_000 }, async () => {
    const api = new FakeEdgeX();
    await api.start();
    const mosquitto = await startMosquitto({ users: { edgex: 'bus-secret' } });
    const site = await mockSiteServices({ site: SITE, broker: true });
    env = { site, edgexApi: api, mosquitto };
    env.tk = await startTestKernel({
      plugins: [{ plugin: edgex, site: SITE, config: bridgeConfig(api, { messageBus: { url: mosquitto.url, baseTopic: 'plant-edgex', username: 'edgex', password: 'bus-secret' } }) }],
      services: site.services,
    });
    await waitFor('proposals', () => site.onboarding.proposals.length >= 122 || undefined);
    await site.devices.apply(...approved(site.onboarding.proposals.find((p) => p.identifier === 'room-thermostat-12')!));
    await site.devices.waitFor('room-thermostat-12', 'up');
    await waitFor('the bus', async () => ((await metric(site, 'edgeadm_edgex_bridge_up', { service: 'message-bus' })) === 1 ? true : undefined));

    // A device service publishing on EdgeX's broker, as device-sdk-go does.
    const ds = await connectAsync(mosquitto.url, { username: 'edgex', password: 'bus-secret', clientId: 'device-bacnet-ip' });
    const origin = Date.now() * 1_000_000;
    const request: EdgeXAddEventRequest = {
      apiVersion: 'v3',
      requestId: randomUUID(),
      event: {
        apiVersion: 'v3',
        id: randomUUID(),
        deviceName: 'room-thermostat-12',
        profileName: 'Room-Thermostat',
        sourceName: 'Temperature',
        origin,
        readings: [{ id: randomUUID(), origin, deviceName: 'room-thermostat-12', resourceName: 'Temperature', profileName: 'Room-Thermostat', valueType: 'Float32', value: '1.9e+01' }],
      },
    };
    const topic = edgexEventTopic({ service: 'device-bacnet-ip', profile: 'Room-Thermostat', device: 'room-thermostat-12', source: 'Temperature' }, { baseTopic: 'plant-edgex' });
    await waitFor(
      'the reading',
      async () => {
        await ds.publishAsync(topic, wrapEdgeXEnvelope(request));
        return site.readings.of('room-thermostat-12', 'Temperature').find((r) => r.quality === 'good');
      },
      20_000,
    );
    await ds.endAsync();
    expect(site.readings.of('room-thermostat-12', 'Temperature')[0]).toMatchObject({ value: 19, valueType: 'Float32', origin, quality: 'good' });
  });

  it('refuses a wrong bridge config, naming the field', async () => {
    const site = await mockSiteServices({ site: SITE, broker: true });
    env = { site };
    const base = { metadataUrl: 'http://127.0.0.1:59881', commandUrl: 'http://127.0.0.1:59882' };
    const cases: [Obj, RegExp][] = [
      [{ mode: 'bridge' }, /bridge is required in mode 'bridge'/],
      [{ mode: 'bridge', bridge: { ...base, metadataUrl: 'core-metadata:59881' } }, /bridge\.metadataUrl 'core-metadata:59881' is not a URL|bridge\.metadataUrl must be http/],
      [{ mode: 'bridge', bridge: { ...base, commandUrl: 'ftp://127.0.0.1' } }, /bridge\.commandUrl must be http:\/\/ or https:\/\//],
      [{ mode: 'bridge', bridge: { ...base, pollInterval: 'soon' } }, /bridge\.pollInterval /],
      [{ mode: 'bridge', bridge: { ...base, timeout: '1ns' } }, /bridge\.timeout is 1ns; at least 10 ms/],
      [{ mode: 'bridge', bridge: { ...base, messageBus: { url: 'http://broker' } } }, /bridge\.messageBus\.url must be an MQTT URL/],
      [{ mode: 'bridge', bridge: { ...base, messageBus: { url: 'mqtt://broker', password: 'x' } } }, /bridge\.messageBus\.password needs bridge\.messageBus\.username/],
      [{ mode: 'embedded', bridge: base }, /bridge is set, but mode is 'embedded'/],
    ];
    for (const [config, message] of cases) {
      const tk = await startTestKernel({ plugins: [{ plugin: edgex, site: SITE, config }], services: site.services });
      try {
        expect(tk.status(`edgex@${SITE}`)).toMatchObject({ state: 'failed', error: { cause: { code: 'EDGE_ERR_EDGEX_BRIDGE_CONFIG', message } } });
        expect(JSON.stringify(tk.logs)).not.toContain('"x"');
      } finally {
        await tk.stop();
      }
    }
    // Shapes are the schema's: an unknown field is refused before start, naming it.
    const tk = await startTestKernel({ plugins: [{ plugin: edgex, site: SITE, config: { mode: 'bridge', bridge: { ...base, colour: 'red' } } }], services: site.services });
    try {
      expect(tk.status(`edgex@${SITE}`)).toMatchObject({ state: 'invalid', error: { code: 'EDGE_ERR_PLUGIN_CONFIG', message: expect.stringMatching(/bridge/) } });
    } finally {
      await tk.stop();
    }
  });
});
