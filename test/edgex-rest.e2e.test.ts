/**
 * EdgeX's REST API at a site, end to end: the edgex plugin on the SDK's mock
 * site (the agent's device runtime, replica and reading feed), with the
 * simulator plugin's device producing readings, asked over real HTTP on its
 * three listeners (core-metadata, core-data, core-command) as EdgeX's UI and
 * tools ask. Every answer is checked with ajv against JSON Schemas written
 * from EdgeX's OpenAPI documents (plugins/edgex/testkit/rest-schemas.ts), errors
 * included; the contents against what the site holds and stored. Writes that
 * reach the hub are in edgex-rest-agent.e2e.test.ts; here, what the site
 * answers itself: refusals, a device's live operatingState (the modbus
 * plugin against modbus-serial's TCP server, stopped and started again),
 * locked devices, and ds-pushevent.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mockSiteServices, startTestKernel, type MockSite, type TestKernel } from '../core/sdk/testkit/index.ts';
import edgex from '../plugins/edgex/index.ts';
import modbus from '../plugins/modbus/index.ts';
import simulator from '../plugins/simulator/index.ts';
import { REQUEST_SCHEMAS, SCHEMAS, type RequestName, type ResponseName } from '../plugins/edgex/testkit/rest-schemas.ts';
import { startModbusServer } from './support/modbus-server.ts';
import { freePort } from './support/tcp-services.ts';

const SITE = 'plant-a';
const VIEWER = { username: 'viewer', password: 'viewer-secret' };
const OPERATOR = { username: 'operator', password: 'operator-secret' };

const simProfile = {
  kind: 'DeviceProfile',
  metadata: { name: 'sim-sensor' },
  spec: {
    labels: ['sim'],
    deviceResources: [
      { name: 'count', attributes: { function: 'ramp', step: 1, max: 1000 }, properties: { valueType: 'Uint16', readWrite: 'R' } },
      { name: 'temperature', attributes: { function: 'sine', amplitude: 5, periodS: 60, offset: 20 }, properties: { valueType: 'Float64', readWrite: 'R', units: 'degC' } },
      { name: 'setpoint', attributes: { function: 'setpoint', initial: 21.5 }, properties: { valueType: 'Float32', readWrite: 'RW', units: 'degC' } },
    ],
    deviceCommands: [{ name: 'both', readWrite: 'R', resourceOperations: [{ deviceResource: 'count' }, { deviceResource: 'temperature' }] }],
  },
};
const simDevice = {
  kind: 'Device',
  metadata: { name: 'sim-1' },
  spec: { site: SITE, profile: 'sim-sensor', protocols: { simulator: { seed: '7' } }, autoEvents: [{ sourceName: 'count', interval: '20ms' }, { sourceName: 'temperature', interval: '20ms' }] },
};

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
const validators = new Map<ResponseName, ValidateFunction>(Object.entries(SCHEMAS).map(([k, s]) => [k as ResponseName, ajv.compile(s)]));
const requestValidators = new Map<RequestName, ValidateFunction>(Object.entries(REQUEST_SCHEMAS).map(([k, s]) => [k as RequestName, ajv.compile(s)]));
/** A request body as EdgeX's OpenAPI describes it (checked, so the tests send EdgeX's own shapes). */
function edgexRequest<T>(name: RequestName, body: T): T {
  const validate = requestValidators.get(name)!;
  expect(validate(body), `${name}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  return body;
}


type Service = 'metadata' | 'data' | 'command';
type Json = Record<string, unknown>;
let ports: Record<Service, number>;
let site: MockSite;
let tk: TestKernel;

const basic = (c: { username: string; password: string }): string => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;

/** One request; its answer must be valid against `schema` (EdgeX's DTO for it) and have `status`. */
async function call(service: Service, path: string, schema: ResponseName, status: number, opts: { method?: string; auth?: string | null; body?: unknown } = {}): Promise<Json> {
  const headers: Record<string, string> = {};
  const auth = opts.auth === undefined ? basic(VIEWER) : opts.auth;
  if (auth !== null) headers.authorization = auth;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`http://127.0.0.1:${ports[service]}${path}`, { method: opts.method ?? 'GET', headers, ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }) });
  const body = (await res.json()) as Json;
  const validate = validators.get(schema)!;
  expect(validate(body), `${path}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(body).slice(0, 400)}`).toBe(true);
  expect(res.status, JSON.stringify(body)).toBe(status);
  if (schema !== 'PingResponse' && schema !== 'VersionResponse' && schema !== 'BaseResponses') expect(body.statusCode).toBe(status);
  return body;
}

beforeAll(async () => {
  ports = { metadata: await freePort(), data: await freePort(), command: await freePort() };
  site = await mockSiteServices({ site: SITE, broker: true, logLevel: 'info' });
  await site.addLogin(VIEWER.username, VIEWER.password);
  await site.addLogin(OPERATOR.username, OPERATOR.password);
  await site.addLogin('retired', 'retired-secret', { disabled: true });
  tk = await startTestKernel({
    plugins: [
      { plugin: simulator, site: SITE },
      { plugin: modbus, site: SITE },
      { plugin: edgex, site: SITE, config: { rest: { enabled: true, ports, commandLogins: [OPERATOR.username] } } },
    ],
    services: site.services,
    logLevel: 'info',
  });
  await site.devices.apply(simProfile, simDevice);
  await site.readings.waitFor({ device: 'sim-1', resource: 'count' }, { count: 20, timeoutMs: 20_000 });
}, 60_000);

afterAll(async () => {
  await tk?.stop();
  await site?.close();
});

describe('authentication', () => {
  it('answers ping without a credential, and nothing else', async () => {
    for (const s of ['metadata', 'data', 'command'] as const) {
      const ping = await call(s, '/api/v3/ping', 'PingResponse', 200, { auth: null });
      expect(ping.serviceName).toBe(`core-${s}`);
      const refused = await call(s, '/api/v3/version', 'BaseResponse', 401, { auth: null });
      expect(refused.message).toMatch(/no credential/);
    }
  });

  it('refuses a wrong password, an unknown login, a disabled login and a malformed header', async () => {
    expect((await call('metadata', '/api/v3/device/all', 'BaseResponse', 401, { auth: basic({ username: 'viewer', password: 'nope' }) })).message).toMatch(/'viewer'/);
    await call('metadata', '/api/v3/device/all', 'BaseResponse', 401, { auth: basic({ username: 'stranger', password: 'x' }) });
    await call('metadata', '/api/v3/device/all', 'BaseResponse', 401, { auth: basic({ username: 'retired', password: 'retired-secret' }) });
    await call('metadata', '/api/v3/device/all', 'BaseResponse', 401, { auth: 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.x' });
  });

  it('takes a site login as HTTP Basic or as a bearer username:password', async () => {
    const v = await call('data', '/api/v3/version', 'VersionResponse', 200, { auth: `Bearer ${VIEWER.username}:${VIEWER.password}` });
    expect(v).toMatchObject({ apiVersion: 'v3', serviceName: 'core-data' });
    await call('data', '/api/v3/version', 'VersionResponse', 200);
  });
});

describe('core-metadata', () => {
  it('lists and gets device profiles as EdgeX v3 DTOs', async () => {
    const all = await call('metadata', '/api/v3/deviceprofile/all', 'MultiDeviceProfilesResponse', 200);
    expect(all.totalCount).toBe(1);
    const [p] = all.profiles as Json[];
    expect(p).toMatchObject({ name: 'sim-sensor', labels: ['sim'] });
    expect((p!.deviceResources as Json[]).map((r) => r.name)).toEqual(['count', 'temperature', 'setpoint']);
    const one = await call('metadata', '/api/v3/deviceprofile/name/sim-sensor', 'DeviceProfileResponse', 200);
    expect(one.profile).toEqual(p);
    expect((await call('metadata', '/api/v3/deviceprofile/name/nope', 'BaseResponse', 404)).message).toMatch(/device profile 'nope'/);
    expect((await call('metadata', '/api/v3/deviceprofile/all?labels=other', 'MultiDeviceProfilesResponse', 200)).totalCount).toBe(0);
  });

  it('lists and gets devices and device services', async () => {
    const all = await call('metadata', '/api/v3/device/all', 'MultiDevicesResponse', 200);
    expect(all.totalCount).toBe(1);
    expect(all.devices).toEqual([expect.objectContaining({ name: 'sim-1', profileName: 'sim-sensor', serviceName: `edgeadm-${SITE}`, protocols: { simulator: { seed: '7' } } })]);
    const one = await call('metadata', '/api/v3/device/name/sim-1', 'DeviceResponse', 200);
    // lastConnected moves on with every poll of the device.
    expect(one.device).toEqual({ ...(all.devices as Json[])[0], operatingState: 'UP', lastConnected: expect.any(Number) });
    await call('metadata', '/api/v3/device/name/other', 'BaseResponse', 404);
    const byProfile = await call('metadata', '/api/v3/device/profile/name/sim-sensor', 'MultiDevicesResponse', 200);
    expect(byProfile.totalCount).toBe(1);
    const services = await call('metadata', '/api/v3/deviceservice/all', 'MultiDeviceServicesResponse', 200);
    expect(services.services).toEqual([expect.objectContaining({ name: `edgeadm-${SITE}`, baseAddress: `http://127.0.0.1:${ports.command}` })]);
    await call('metadata', `/api/v3/deviceservice/name/edgeadm-${SITE}`, 'DeviceServiceResponse', 200);
    const page = await call('metadata', '/api/v3/device/all?offset=1&limit=5', 'MultiDevicesResponse', 200);
    expect(page).toMatchObject({ totalCount: 1, devices: [] });
    expect((await call('metadata', '/api/v3/device/all?limit=x', 'BaseResponse', 400)).message).toMatch(/limit/);
    expect((await call('metadata', '/api/v3/device/all?offset=-1', 'BaseResponse', 400)).message).toMatch(/offset/);
  });

  it('takes writes only with a hub token, for the hub; with no hub, 503', async () => {
    await call('metadata', '/api/v3/device', 'BaseResponse', 401, { method: 'POST', auth: null, body: [] });
    const denied = await call('metadata', '/api/v3/device', 'BaseResponse', 403, { method: 'POST', body: [{ apiVersion: 'v3', device: { name: 'x' } }] });
    expect(denied.message).toMatch(/'viewer' may not change profiles or devices/);
    await call('metadata', '/api/v3/device', 'BaseResponse', 403, { method: 'POST', auth: `Bearer ${VIEWER.username}:${VIEWER.password}`, body: [] });
    const token = 'Bearer abcdef.0123456789abcdef';
    const noHub = await call('metadata', '/api/v3/device', 'BaseResponse', 503, { method: 'POST', auth: token, body: [{ apiVersion: 'v3', device: { name: 'x' } }] });
    expect(noHub.message).toMatch(/no hub address/);
    await call('metadata', '/api/v3/deviceprofile/name/sim-sensor', 'BaseResponse', 503, { method: 'DELETE', auth: token });
    await call('metadata', '/api/v3/deviceprofile/name/nope', 'BaseResponse', 404, { method: 'DELETE', auth: token });
    expect((await call('metadata', '/api/v3/device/all', 'MultiDevicesResponse', 200)).totalCount).toBe(1);
  });
});

describe('core-data', () => {
  it('answers events of a device, newest first, as the site stored its readings', async () => {
    // The plugin stores what the feed hands it, a turn after the site stored it: wait until it holds 30.
    let ev = await call('data', '/api/v3/event/device/name/sim-1?limit=5', 'MultiEventsResponse', 200);
    for (const until = Date.now() + 20_000; (ev.totalCount as number) < 30 && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 100));
      ev = await call('data', '/api/v3/event/device/name/sim-1?limit=5', 'MultiEventsResponse', 200);
    }
    const events = ev.events as Json[];
    expect(events).toHaveLength(5);
    expect(ev.totalCount as number).toBeGreaterThanOrEqual(30);
    const origins = events.map((e) => e.origin as number);
    expect([...origins].sort((a, b) => b - a)).toEqual(origins);
    const stored = site.readings.of('sim-1');
    for (const e of events) {
      const [r] = e.readings as Json[];
      expect(e).toMatchObject({ deviceName: 'sim-1', profileName: 'sim-sensor', sourceName: r!.resourceName });
      const match = stored.find((s) => s.origin === r!.origin && s.resource === r!.resourceName);
      expect(match, `stored reading at ${String(r!.origin)}`).toBeDefined();
      expect(Number(r!.value)).toBeCloseTo(match!.value as number, 6);
    }
    // The next page of the same window (new events keep arriving at the head).
    const next = await call('data', `/api/v3/event/device/name/sim-1/start/0/end/${origins[0]!}?offset=5&limit=5`, 'MultiEventsResponse', 200);
    expect(((next.events as Json[])[0]!.origin as number) <= origins[4]!).toBe(true);
    expect(await call('data', '/api/v3/event/device/name/nobody', 'MultiEventsResponse', 200)).toMatchObject({ totalCount: 0, events: [] });
  });

  it('answers a time window (nanoseconds, inclusive) exactly', async () => {
    const counts = site.readings.of('sim-1', 'count');
    const start = counts[3]!.origin;
    const end = counts[8]!.origin;
    const want = site.readings.of('sim-1').filter((r) => r.origin >= start && r.origin <= end);
    const ev = await call('data', `/api/v3/event/device/name/sim-1/start/${start}/end/${end}?limit=-1`, 'MultiEventsResponse', 200);
    expect(ev.totalCount).toBe(want.length);
    expect((ev.events as Json[]).length).toBe(want.length);
    const rd = await call('data', `/api/v3/reading/device/name/sim-1/resourceName/count/start/${start}/end/${end}?limit=-1`, 'MultiReadingsResponse', 200);
    expect((rd.readings as Json[]).map((r) => Number(r.value)).sort((a, b) => a - b)).toEqual(counts.slice(3, 9).map((r) => r.value as number).sort((a, b) => a - b));
    expect((await call('data', `/api/v3/event/device/name/sim-1/start/${end}/end/${start}`, 'BaseResponse', 400)).message).toMatch(/before start/);
  });

  it('answers readings by device and resource, and counts', async () => {
    const rd = await call('data', '/api/v3/reading/device/name/sim-1/resourceName/temperature?limit=3', 'MultiReadingsResponse', 200);
    expect((rd.readings as Json[]).every((r) => r.resourceName === 'temperature' && r.units === 'degC' && r.valueType === 'Float64')).toBe(true);
    const all = await call('data', '/api/v3/reading/device/name/sim-1', 'MultiReadingsResponse', 200);
    expect((all.readings as Json[]).length).toBe(20);
    const count = await call('data', '/api/v3/event/count', 'CountResponse', 200);
    expect(count.Count as number).toBeGreaterThanOrEqual(30);
  });
});

describe('core-command', () => {
  it("lists a device's commands from its profile", async () => {
    const all = await call('command', '/api/v3/device/all', 'MultiDeviceCoreCommandsResponse', 200);
    expect(all.totalCount).toBe(1);
    const one = await call('command', '/api/v3/device/name/sim-1', 'DeviceCoreCommandResponse', 200);
    const cmds = (one.deviceCoreCommand as Json).coreCommands as Json[];
    expect(cmds.map((c) => c.name)).toEqual(['both', 'count', 'temperature', 'setpoint']);
    expect(cmds.find((c) => c.name === 'setpoint')).toEqual({
      name: 'setpoint', get: true, set: true, path: '/api/v3/device/name/sim-1/setpoint', url: `http://127.0.0.1:${ports.command}`, parameters: [{ resourceName: 'setpoint', valueType: 'Float32' }],
    });
    expect(cmds.find((c) => c.name === 'both')).toMatchObject({ get: true, set: false });
  });

  it('GET reads the device now and returns the event; without ds-pushevent the readings stay with the caller', async () => {
    const before = site.readings.of('sim-1', 'setpoint').length;
    const res = await call('command', '/api/v3/device/name/sim-1/setpoint', 'EventResponse', 200);
    const event = res.event as Json;
    expect(event).toMatchObject({ deviceName: 'sim-1', profileName: 'sim-sensor', sourceName: 'setpoint' });
    const [reading] = event.readings as Json[];
    expect(reading).toMatchObject({ resourceName: 'setpoint', valueType: 'Float32' });
    // EdgeX writes floats as Go's %e does.
    expect(reading!.value).toBe('2.15e+01');
    expect(site.readings.of('sim-1', 'setpoint').length).toBe(before);
    const both = await call('command', '/api/v3/device/name/sim-1/both', 'EventResponse', 200);
    expect(((both.event as Json).readings as Json[]).map((r) => r.resourceName)).toEqual(['count', 'temperature']);
    await call('command', '/api/v3/device/name/sim-1/both?ds-returnevent=false', 'BaseResponse', 200);
    await call('command', '/api/v3/device/name/sim-1/nothing', 'BaseResponse', 404);
    await call('command', '/api/v3/device/name/sim-1/both?ds-pushevent=maybe', 'BaseResponse', 400);
  });

  it('PUT writes with a command login only, and the device changes', async () => {
    await call('command', '/api/v3/device/name/sim-1/setpoint', 'BaseResponse', 401, { method: 'PUT', auth: null, body: { setpoint: '30' } });
    const denied = await call('command', '/api/v3/device/name/sim-1/setpoint', 'BaseResponse', 403, { method: 'PUT', body: { setpoint: '30' } });
    expect(denied.message).toMatch(/'viewer'/);
    const op = basic(OPERATOR);
    await call('command', '/api/v3/device/name/sim-1/setpoint', 'BaseResponse', 200, { method: 'PUT', auth: op, body: { setpoint: '42.25' } });
    const back = await call('command', '/api/v3/device/name/sim-1/setpoint', 'EventResponse', 200);
    expect(((back.event as Json).readings as Json[])[0]!.value).toBe('4.225e+01');
    await call('command', '/api/v3/device/name/sim-1/count', 'BaseResponse', 400, { method: 'PUT', auth: op, body: { count: '1' } });
    await call('command', '/api/v3/device/name/sim-1/setpoint', 'BaseResponse', 400, { method: 'PUT', auth: op, body: { other: '1' } });
    await call('command', '/api/v3/device/name/sim-1/setpoint', 'BaseResponse', 400, { method: 'PUT', auth: op, body: { setpoint: 'warm' } });
  });

  it('GET with ds-pushevent=true stores the read once, as the site\'s readings: outbox and core-data', async () => {
    const coreData = async (): Promise<number> =>
      (await call('data', '/api/v3/reading/device/name/sim-1/resourceName/setpoint?limit=-1', 'MultiReadingsResponse', 200)).totalCount as number;
    const before = site.readings.of('sim-1', 'setpoint').length;
    const keptBefore = await coreData();
    const res = await call('command', '/api/v3/device/name/sim-1/setpoint?ds-pushevent=true', 'EventResponse', 200);
    const [reading] = (res.event as Json).readings as Json[];
    const stored = site.readings.of('sim-1', 'setpoint');
    expect(stored.length).toBe(before + 1);
    expect(stored.filter((r) => r.origin === reading!.origin)).toHaveLength(1);
    expect(stored.at(-1)).toMatchObject({ value: 42.25, quality: 'good' });
    // core-data keeps what the site's reading feed hands it, a turn later: once.
    for (const until = Date.now() + 5_000; (await coreData()) < keptBefore + 1 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 200));
    expect(await coreData()).toBe(keptBefore + 1);
    const latest = await call('data', '/api/v3/reading/device/name/sim-1/resourceName/setpoint?limit=1', 'MultiReadingsResponse', 200);
    expect((latest.readings as Json[])[0]).toMatchObject({ origin: reading!.origin, value: '4.225e+01' });
    // Stored without an event returned.
    await call('command', '/api/v3/device/name/sim-1/setpoint?ds-pushevent=true&ds-returnevent=false', 'BaseResponse', 200);
    expect(site.readings.of('sim-1', 'setpoint').length).toBe(before + 2);
  });

  it('refuses commands of a LOCKED device with 423, and answers a device that is not running with 503', async () => {
    await site.devices.apply({ ...simDevice, metadata: { name: 'sim-off' }, spec: { ...simDevice.spec, adminState: 'LOCKED', autoEvents: [] } });
    const locked = await call('command', '/api/v3/device/name/sim-off/count', 'BaseResponse', 423);
    expect(locked.message).toMatch(/device 'sim-off' is locked/);
    await call('command', '/api/v3/device/name/sim-off/setpoint', 'BaseResponse', 423, { method: 'PUT', auth: basic(OPERATOR), body: { setpoint: '1' } });
    expect((await call('metadata', '/api/v3/device/name/sim-off', 'DeviceResponse', 200)).device).toMatchObject({ adminState: 'LOCKED', operatingState: 'UNKNOWN' });
    await site.devices.apply({ ...simDevice, metadata: { name: 'sim-nodriver' }, spec: { ...simDevice.spec, protocols: { nodriver: { x: '1' } }, autoEvents: [] } });
    const res = await call('command', '/api/v3/device/name/sim-nodriver/count', 'BaseResponse', 503);
    expect(res.message).toMatch(/sim-nodriver/);
    const dev = (await call('metadata', '/api/v3/device/name/sim-nodriver', 'DeviceResponse', 200)).device as Json;
    expect(dev).toMatchObject({ operatingState: 'DOWN' });
    expect(dev.lastConnected).toBeUndefined();
    await site.devices.remove('Device', 'sim-nodriver');
    await site.devices.remove('Device', 'sim-off');
  });
});

describe('operatingState', () => {
  it('is UP with lastConnected while the device answers, DOWN when it goes away, UP again when it comes back', async () => {
    let server = await startModbusServer();
    const port = server.port;
    try {
      await site.devices.apply(
        {
          kind: 'DeviceProfile',
          metadata: { name: 'boiler' },
          spec: { deviceResources: [{ name: 'flow', attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: 0, rawType: 'Uint16' }, properties: { valueType: 'Uint16', readWrite: 'R' } }] },
        },
        {
          kind: 'Device',
          metadata: { name: 'boiler-1' },
          spec: { site: SITE, profile: 'boiler', protocols: { 'modbus-tcp': { Address: '127.0.0.1', Port: String(port), UnitID: '1', Timeout: '1' } }, autoEvents: [{ sourceName: 'flow', interval: '100ms' }] },
        },
      );
      const state = async (): Promise<Json> => (await call('metadata', '/api/v3/device/name/boiler-1', 'DeviceResponse', 200)).device as Json;
      const until = async (want: string): Promise<Json> => {
        for (const end = Date.now() + 15_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
          const d = await state();
          if (d.operatingState === want) return d;
        }
        throw new Error(`boiler-1 never became ${want}: ${JSON.stringify(await state())}`);
      };
      const up = await until('UP');
      expect(Math.abs((up.lastConnected as number) - Date.now())).toBeLessThan(10_000);
      const listed = (await call('metadata', '/api/v3/device/all?limit=-1', 'MultiDevicesResponse', 200)).devices as Json[];
      expect(listed.find((d) => d.name === 'boiler-1')).toMatchObject({ operatingState: 'UP' });
      expect(listed.find((d) => d.name === 'sim-1')).toMatchObject({ operatingState: 'UP' });

      await server.close();
      const down = await until('DOWN');
      // The last time it answered stays.
      expect(down.lastConnected as number).toBeGreaterThanOrEqual(up.lastConnected as number);
      expect(Date.now() - (down.lastConnected as number)).toBeGreaterThan(0);

      server = await startModbusServer({ port });
      const back = await until('UP');
      expect(back.lastConnected as number).toBeGreaterThan(down.lastConnected as number);
    } finally {
      await server.close().catch(() => undefined);
      await site.devices.remove('Device', 'boiler-1');
    }
  }, 60_000);
});

describe('core-metadata updates: what the site answers itself', () => {
  const token = 'Bearer abcdef.0123456789abcdef';

  it('checks update bodies before anything goes to the hub: 400 naming the field', async () => {
    const cases: [string, string, unknown, RegExp][] = [
      ['PATCH', '/api/v3/device', { apiVersion: 'v3', device: { name: 'sim-1' } }, /body: must be a JSON array/],
      ['PATCH', '/api/v3/device', [], /body: an empty list/],
      ['PATCH', '/api/v3/device', [{ apiVersion: 'v3', device: { name: 'sim-1', labels: 'hot' } }], /\[0\]\.device\.labels: must be a list of texts/],
      ['PATCH', '/api/v3/device', [{ apiVersion: 'v3', device: { name: 'sim-1' } }, { apiVersion: 'v3', device: { name: 'sim-1', adminState: 'OFF' } }], /\[1\]\.device\.adminState: must be one of/],
      ['PATCH', '/api/v3/device', [{ apiVersion: 'v3', device: { description: 'x' } }], /\[0\]\.device\.name: is required \(or id\)/],
      ['PATCH', '/api/v3/device', [{ apiVersion: 'v2', device: { name: 'sim-1' } }], /\[0\]\.apiVersion: must be 'v3'/],
      ['PATCH', '/api/v3/device', [{ apiVersion: 'v3', device: { name: 'sim-1', colour: 'red' } }], /\[0\]\.device\.colour: is not a field/],
      ['PATCH', '/api/v3/device', [{ apiVersion: 'v3', device: { name: 'sim-1', protocols: { simulator: 'seed' } } }], /\[0\]\.device\.protocols/],
      ['PATCH', '/api/v3/deviceprofile/basicinfo', [{ apiVersion: 'v3', basicinfo: { name: 'sim-sensor', labels: [1] } }], /\[0\]\.basicinfo\.labels/],
      ['POST', '/api/v3/deviceprofile/resource', [{ apiVersion: 'v3', profileName: 'sim-sensor', resource: { name: 'x' } }], /\[0\]\.resource\.properties: is required/],
      ['PATCH', '/api/v3/deviceprofile/resource', [{ apiVersion: 'v3', profileName: 'sim-sensor', resource: { name: 'count', properties: {} } }], /\[0\]\.resource\.properties: is not a field/],
      ['POST', '/api/v3/deviceprofile/deviceCommand', [{ apiVersion: 'v3', deviceCommand: { name: 'x' } }], /\[0\]\.profileName: must be a non-empty text/],
      ['PATCH', '/api/v3/deviceprofile/deviceCommand', [{ apiVersion: 'v3', profileName: 'sim-sensor', deviceCommand: { name: 'both', isHidden: 'yes' } }], /\[0\]\.deviceCommand\.isHidden: must be true or false/],
    ];
    for (const [method, path, body, message] of cases) {
      expect((await call('metadata', path, 'BaseResponse', 400, { method, auth: token, body })).message, `${method} ${path} ${JSON.stringify(body)}`).toMatch(message);
    }
  });

  it('answers each request for what the site does not have (404) or already has (409) in the 207, and forwards none of them', async () => {
    const one = async (method: string, path: string, body: unknown, status: number, message: RegExp): Promise<void> => {
      const res = await call('metadata', path, 'BaseResponses', 207, { method, auth: token, body });
      expect(res).toEqual([{ apiVersion: 'v3', requestId: 'req-1', statusCode: status, message: expect.stringMatching(message) }]);
    };
    await one('PATCH', '/api/v3/device', edgexRequest('UpdateDeviceRequests', [{ apiVersion: 'v3', requestId: 'req-1', device: { name: 'ghost', description: 'x' } }]), 404, /device 'ghost' not found/);
    await one('PATCH', '/api/v3/deviceprofile/basicinfo', edgexRequest('DeviceProfileBasicInfoRequests', [{ apiVersion: 'v3', requestId: 'req-1', basicinfo: { name: 'nope', model: 'x' } }]), 404, /device profile 'nope'/);
    const resource = { name: 'count', properties: { valueType: 'Uint16', readWrite: 'R' } };
    await one('POST', '/api/v3/deviceprofile/resource', edgexRequest('DeviceResourceRequests', [{ apiVersion: 'v3', requestId: 'req-1', profileName: 'nope', resource }]), 404, /device profile 'nope'/);
    await one('POST', '/api/v3/deviceprofile/resource', edgexRequest('DeviceResourceRequests', [{ apiVersion: 'v3', requestId: 'req-1', profileName: 'sim-sensor', resource }]), 409, /device resource 'sim-sensor\/count' already exists/);
    await one('PATCH', '/api/v3/deviceprofile/resource', edgexRequest('UpdateDeviceResourceRequests', [{ apiVersion: 'v3', requestId: 'req-1', profileName: 'sim-sensor', resource: { name: 'nothing', description: 'x' } }]), 404, /'sim-sensor\/nothing'/);
    const command = { name: 'both', readWrite: 'R', resourceOperations: [{ deviceResource: 'count' }] };
    await one('POST', '/api/v3/deviceprofile/deviceCommand', edgexRequest('DeviceCommandRequests', [{ apiVersion: 'v3', requestId: 'req-1', profileName: 'sim-sensor', deviceCommand: command }]), 409, /device command 'sim-sensor\/both' already exists/);
    await one('PATCH', '/api/v3/deviceprofile/deviceCommand', edgexRequest('UpdateDeviceCommandRequests', [{ apiVersion: 'v3', requestId: 'req-1', profileName: 'sim-sensor', deviceCommand: { name: 'nothing', isHidden: true } }]), 404, /'sim-sensor\/nothing'/);
    expect((await call('metadata', '/api/v3/deviceprofile/name/sim-sensor/resource/nothing', 'BaseResponse', 404, { method: 'DELETE', auth: token })).message).toMatch(/'sim-sensor\/nothing'/);
    expect((await call('metadata', '/api/v3/deviceprofile/name/sim-sensor/resource/count', 'BaseResponse', 409, { method: 'DELETE', auth: token })).message).toMatch(/used by device command 'both'/);
    await call('metadata', '/api/v3/deviceprofile/name/sim-sensor/deviceCommand/nothing', 'BaseResponse', 404, { method: 'DELETE', auth: token });
    // With one request the site can forward, the hub is asked: here there is none (503), and the whole request says so.
    const mixed = [{ apiVersion: 'v3', requestId: 'a', device: { name: 'ghost' } }, { apiVersion: 'v3', requestId: 'b', device: { name: 'sim-1', description: 'x' } }];
    expect((await call('metadata', '/api/v3/device', 'BaseResponse', 503, { method: 'PATCH', auth: token, body: edgexRequest('UpdateDeviceRequests', mixed) })).message).toMatch(/no hub address/);
    expect((await call('metadata', '/api/v3/device/name/sim-1', 'DeviceResponse', 200)).device).not.toHaveProperty('description');
  });

  it('refuses a site login on every write (403)', async () => {
    const body = [{ apiVersion: 'v3', device: { name: 'sim-1', description: 'x' } }];
    for (const [method, path] of [['PATCH', '/api/v3/device'], ['PATCH', '/api/v3/deviceprofile/basicinfo'], ['POST', '/api/v3/deviceprofile/resource'], ['PATCH', '/api/v3/deviceprofile/deviceCommand'], ['DELETE', '/api/v3/deviceprofile/name/sim-sensor/resource/count'], ['POST', '/api/v3/deviceprofile/uploadfile']] as const) {
      const res = await call('metadata', path, 'BaseResponse', 403, { method, auth: basic(OPERATOR), ...(method === 'DELETE' ? {} : { body }) });
      expect(res.message).toMatch(/'operator' may not change profiles or devices/);
    }
  });

  it('takes profile uploads as multipart/form-data (field file), up to a size limit', async () => {
    const upload = async (method: 'POST' | 'PUT', parts: [string, string][], status: number): Promise<Json> => {
      const form = new FormData();
      for (const [field, text] of parts) form.append(field, new Blob([text], { type: 'application/x-yaml' }), 'profile.yaml');
      const res = await fetch(`http://127.0.0.1:${ports.metadata}/api/v3/deviceprofile/uploadfile`, { method, headers: { authorization: token }, body: form });
      const body = (await res.json()) as Json;
      expect(validators.get('BaseWithIdResponse')!(body), JSON.stringify(body)).toBe(true);
      expect(res.status, JSON.stringify(body)).toBe(status);
      return body;
    };
    const simYaml = 'name: "sim-sensor"\ndeviceResources:\n  - name: "count"\n    properties: { valueType: "Uint16", readWrite: "R" }\n';
    expect((await upload('POST', [['file', simYaml]], 409)).message).toMatch(/device profile 'sim-sensor' already exists/);
    expect((await upload('PUT', [['file', simYaml.replace('sim-sensor', 'other')]], 404)).message).toMatch(/device profile 'other' not found/);
    expect((await upload('POST', [['file', 'x'.repeat(600 * 1024)]], 413)).message).toMatch(/file: larger than 524288 bytes/);
    expect((await upload('POST', [['profile', simYaml]], 400)).message).toMatch(/profile: is not a field/);
    expect((await upload('POST', [['file', '  \n']], 400)).message).toMatch(/file: is empty/);
    // Everything the site can check passes: the hub is next (none here).
    expect((await upload('POST', [['file', simYaml.replace('sim-sensor', 'new-sensor')]], 503)).message).toMatch(/no hub address/);
    expect((await call('metadata', '/api/v3/deviceprofile/uploadfile', 'BaseResponse', 400, { method: 'POST', auth: token, body: { file: simYaml } })).message).toMatch(/file: send the profile as multipart\/form-data/);
  });

  it('refuses device service writes with 405, saying where they are set', async () => {
    for (const method of ['POST', 'PATCH']) {
      const res = await fetch(`http://127.0.0.1:${ports.metadata}/api/v3/deviceservice`, { method, headers: { authorization: token, 'content-type': 'application/json' }, body: JSON.stringify([{ apiVersion: 'v3', service: { name: 'x', adminState: 'UNLOCKED', baseAddress: 'http://x' } }]) });
      const body = (await res.json()) as Json;
      expect(validators.get('BaseResponse')!(body)).toBe(true);
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('');
      expect(body.message).toMatch(/device services are its drivers and the edgex plugin's publishing names, set by Addons \(edgeadm addon <plugin> --site <site>\)/);
    }
    const res = await fetch(`http://127.0.0.1:${ports.metadata}/api/v3/deviceservice/name/edgeadm-${SITE}`, { method: 'DELETE', headers: { authorization: token } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
    expect(validators.get('BaseResponse')!(await res.json())).toBe(true);
    await call('metadata', `/api/v3/deviceservice/name/edgeadm-${SITE}`, 'DeviceServiceResponse', 200);
  });
});
