/**
 * EdgeX's REST API at a real site agent: a real hub, the agent running the
 * simulator and edgex addons (the edgex addon's `rest` enabled by the hub's
 * Addon), and broker logins issued by the hub (`POST
 * /api/v1/sites/S/broker-credentials`) and replicated to the site. The
 * agent's own services serve it: the catalog from its replica, commands
 * through its device runtime, logins from the replicated hashes, so it
 * keeps answering, logins included, when the hub is gone. Updates (PATCH of
 * devices and profiles, resource and command edits, profile uploads) are
 * merged into the site's EdgeX forms, forwarded to the real hub with the
 * caller's hub token, and come back to the site by replication.
 */
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQUEST_SCHEMAS, SCHEMAS } from '../plugins/edgex/testkit/rest-schemas.ts';
import { startSiteAgent, type SiteAgent } from '../sites/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { quiet, startHubFixture, tempDir, waitFor, type HubFixture } from './support/hub-fixture.ts';
import { freePort } from './support/tcp-services.ts';

const defer = deferCleanup();
const SITE = 'plant-e';

type RestPorts = { metadata: number; data: number; command: number };

/** The hub's side of a site: the simulator profile and device sim-1 (count polled every `pollMs`), the simulator addon and the edgex addon serving REST on `ports`. */
async function applySite(f: HubFixture, site: string, ports: RestPorts, o: { pollMs: number; commandLogins?: string[] }): Promise<void> {
  await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
  await f.apply({
    kind: 'DeviceProfile',
    metadata: { name: 'sim-sensor' },
    spec: {
      deviceResources: [
        { name: 'count', attributes: { function: 'ramp', step: 1, max: 1000 }, properties: { valueType: 'Uint16', readWrite: 'R' } },
        { name: 'setpoint', attributes: { function: 'setpoint', initial: 20 }, properties: { valueType: 'Float32', readWrite: 'RW' } },
      ],
    },
  });
  await f.apply({ kind: 'Device', metadata: { name: 'sim-1' }, spec: { site, profile: 'sim-sensor', protocols: { simulator: { seed: '1' } }, autoEvents: [{ sourceName: 'count', interval: `${o.pollMs}ms` }] } });
  await f.apply({ kind: 'Addon', metadata: { name: 'simulator' }, spec: { plugin: 'simulator', sites: [site] } });
  const rest = { enabled: true, ports, ...(o.commandLogins ? { commandLogins: o.commandLogins } : {}) };
  await f.apply({ kind: 'Addon', metadata: { name: 'edgex' }, spec: { plugin: 'edgex', sites: [site], config: { publish: false, subscribe: false, rest } } });
}

/** A site agent of `site` on the hub, retrying quickly. */
async function agentOf(f: HubFixture, site: string, dir: string): Promise<SiteAgent> {
  return startSiteAgent({
    site,
    hubUrl: f.hub.url,
    token: await f.agentToken(site),
    dataDir: tempDir(dir),
    logger: quiet,
    broker: { host: '127.0.0.1', port: await freePort() },
    syncBackoff: { initialMs: 50, maxMs: 300 },
    forwarder: { backoff: { initialMs: 50, maxMs: 300 } },
  });
}

describe('EdgeX REST API at a site agent', () => {
  it('serves the replica, the readings and the devices with the logins the hub issued, also offline', async () => {
    const f = await startHubFixture({ syncHeartbeatMs: 1000 });
    let hubUp = true;
    defer(async () => {
      if (hubUp) await f.hub.close();
    });
    const ports = { metadata: await freePort(), data: await freePort(), command: await freePort() };
    await applySite(f, SITE, ports, { pollMs: 50, commandLogins: ['operator'] });
    const issue = async (username: string): Promise<string> => {
      const r = await f.api<{ password: string }>('POST', `/api/v1/sites/${SITE}/broker-credentials`, { username });
      expect(r.status).toBe(201);
      return r.body.password;
    };
    const viewer = { username: 'viewer', password: await issue('viewer') };
    const operator = { username: 'operator', password: await issue('operator') };

    const agent = await agentOf(f, SITE, 'edgex-rest-agent');
    defer(() => agent.stop());

    const basic = (c: { username: string; password: string }): string => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
    const get = async (port: number, p: string, auth = basic(viewer), init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v3${p}`, { ...init, headers: { authorization: auth, ...(init.body ? { 'content-type': 'application/json' } : {}) } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const events = await waitFor('events of sim-1 in core-data', async () => {
      const r = await get(ports.data, '/event/device/name/sim-1?limit=3').catch(() => undefined);
      return r?.status === 200 && (r.body.events as unknown[]).length === 3 ? r.body : undefined;
    }, 30_000);
    expect((events.events as { deviceName: string }[])[0]!.deviceName).toBe('sim-1');

    const devices = await get(ports.metadata, '/device/all');
    expect(devices.body).toMatchObject({ statusCode: 200, totalCount: 1, devices: [{ name: 'sim-1', profileName: 'sim-sensor', serviceName: `edgeadm-${SITE}` }] });
    expect((await get(ports.metadata, '/device/all', basic({ ...viewer, password: 'wrong' }))).status).toBe(401);
    const put = { method: 'PUT', body: JSON.stringify({ setpoint: '30' }) };
    expect((await get(ports.command, '/device/name/sim-1/setpoint', basic(viewer), put)).status).toBe(403);
    expect((await get(ports.command, '/device/name/sim-1/setpoint', basic(operator), put)).status).toBe(200);
    const read = await get(ports.command, '/device/name/sim-1/setpoint');
    expect(read.body).toMatchObject({ statusCode: 200, event: { deviceName: 'sim-1', readings: [{ resourceName: 'setpoint', value: '3e+01' }] } });

    // Writes go to the hub with the caller's hub token; the hub decides.
    const ajv = new Ajv({ strict: true, strictRequired: false, allowUnionTypes: true });
    const add = [{ apiVersion: 'v3', requestId: 'req-1', device: { name: 'sim-2', profileName: 'sim-sensor', serviceName: `edgeadm-${SITE}`, adminState: 'UNLOCKED', operatingState: 'UP', protocols: { simulator: { seed: '2' } } } }];
    const post = { method: 'POST', body: JSON.stringify(add) };
    const added = await get(ports.metadata, '/device', `Bearer ${f.adminToken}`, post);
    expect(added.status, JSON.stringify(added.body)).toBe(207);
    expect(ajv.validate(SCHEMAS.BaseResponses, added.body)).toBe(true);
    expect(added.body).toEqual([{ apiVersion: 'v3', requestId: 'req-1', statusCode: 201 }]);
    expect((await f.api('GET', '/api/v1/devices/sim-2')).status).toBe(200);
    await waitFor('sim-2 at the site', async () => ((await get(ports.metadata, '/device/name/sim-2')).status === 200 ? true : undefined));
    expect((await get(ports.metadata, '/device', basic(operator), post)).status).toBe(403);
    const agentTry = await get(ports.metadata, '/device', `Bearer ${await f.agentToken(SITE)}`, post);
    expect(agentTry.status).toBe(403);
    expect(ajv.validate(SCHEMAS.BaseResponse, agentTry.body)).toBe(true);
    expect((await get(ports.metadata, '/device', 'Bearer not-a-token', post)).status).toBe(401);
    const removed = await get(ports.metadata, '/device/name/sim-2', `Bearer ${f.adminToken}`, { method: 'DELETE' });
    expect(removed.body).toEqual({ apiVersion: 'v3', statusCode: 200 });
    expect((await f.api('GET', '/api/v1/devices/sim-2')).status).toBe(404);

    // The hub goes away: the site still answers from its replica, and still checks logins.
    await f.hub.close();
    hubUp = false;
    expect((await get(ports.metadata, '/deviceprofile/name/sim-sensor')).body).toMatchObject({ statusCode: 200, profile: { name: 'sim-sensor' } });
    expect((await get(ports.command, '/device/name/sim-1/count')).status).toBe(200);
    expect((await get(ports.metadata, '/device/all', basic({ ...operator, password: 'wrong' }))).status).toBe(401);
    const offline = await get(ports.metadata, '/device', `Bearer ${f.adminToken}`, post);
    expect(offline.status).toBe(503);
    expect(ajv.validate(SCHEMAS.BaseResponse, offline.body)).toBe(true);
  }, 90_000);
});

describe('EdgeX REST API updates through a site agent to the hub', () => {
  const SITE_U = 'plant-u';
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  let f: HubFixture;
  let ports: RestPorts;
  let admin: string;
  let viewer: { username: string; password: string };
  let agent: SiteAgent | undefined;
  const basic = (c: { username: string; password: string }): string => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
  type Json = Record<string, unknown>;

  /** One request to the site; the answer must be EdgeX's `schema` (and `status`). */
  const site = async (service: 'metadata' | 'command', method: string, p: string, schema: keyof typeof SCHEMAS, status: number, body?: unknown, auth = admin): Promise<Json & Json[]> => {
    const res = await fetch(`http://127.0.0.1:${ports[service]}/api/v3${p}`, {
      method,
      headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const answer = (await res.json()) as Json & Json[];
    expect(ajv.validate(SCHEMAS[schema], answer), `${method} ${p}: ${ajv.errorsText()} in ${JSON.stringify(answer)}`).toBe(true);
    expect(res.status, `${method} ${p}: ${JSON.stringify(answer)}`).toBe(status);
    return answer;
  };
  /** A request body, checked against EdgeX's request schema. */
  const edgexRequest = <T>(name: keyof typeof REQUEST_SCHEMAS, body: T): T => {
    expect(ajv.validate(REQUEST_SCHEMAS[name], body), `${name}: ${ajv.errorsText()}`).toBe(true);
    return body;
  };
  const viewerGet = async (p: string): Promise<Json> => {
    const res = await fetch(`http://127.0.0.1:${ports.metadata}/api/v3${p}`, { headers: { authorization: basic(viewer) } });
    return (await res.json()) as Json;
  };
  /** The profile as the site answers it now (a write answers once the site holds it: no waiting here). */
  const profileNow = async (): Promise<Json> => (await viewerGet('/deviceprofile/name/sim-sensor')).profile as Json;
  const names = (list: unknown): string[] => ((list ?? []) as Json[]).map((x) => String(x.name));

  beforeAll(async () => {
    f = await startHubFixture({ syncHeartbeatMs: 1000 });
    admin = `Bearer ${f.adminToken}`;
    ports = { metadata: await freePort(), data: await freePort(), command: await freePort() };
    await applySite(f, SITE_U, ports, { pollMs: 100 });
    const r = await f.api<{ password: string }>('POST', `/api/v1/sites/${SITE_U}/broker-credentials`, { username: 'viewer' });
    viewer = { username: 'viewer', password: r.body.password };
    agent = await agentOf(f, SITE_U, 'edgex-rest-updates');
    await waitFor('sim-1 UP at the site', async () => {
      const b = await viewerGet('/device/name/sim-1').catch(() => undefined);
      return (b?.device as Json | undefined)?.operatingState === 'UP' ? true : undefined;
    }, 30_000);
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await f?.hub.close();
  });

  it('PATCH /device merges each update into the device and sends it to the hub; a device the site lacks is its own 404', async () => {
    const body = edgexRequest('UpdateDeviceRequests', [
      { apiVersion: 'v3', requestId: 'r-1', device: { name: 'sim-1', description: 'north wall', labels: ['hall-2'], protocols: { simulator: { seed: '9' } } } },
      { apiVersion: 'v3', requestId: 'r-2', device: { name: 'ghost', description: 'x' } },
    ]);
    const answers = await site('metadata', 'PATCH', '/device', 'BaseResponses', 207, body);
    expect(answers).toEqual([
      { apiVersion: 'v3', requestId: 'r-1', statusCode: 200 },
      { apiVersion: 'v3', requestId: 'r-2', statusCode: 404, message: "EdgeX REST API: device 'ghost' not found at this site" },
    ]);
    const hub = await f.api<{ spec: Json }>('GET', '/api/v1/devices/sim-1');
    // Given fields replaced whole (protocols), the others as they were (autoEvents, profile).
    expect(hub.body.spec).toMatchObject({ description: 'north wall', profile: 'sim-sensor', protocols: { simulator: { seed: '9' } }, autoEvents: [{ sourceName: 'count', interval: '100ms' }] });
    expect(hub.body.spec.protocols).toEqual({ simulator: { seed: '9' } });
    expect((await f.api('GET', '/api/v1/devices/ghost')).status).toBe(404);
    // The answer came once the site held the change: a read right after it sees it.
    expect((await viewerGet('/device/name/sim-1')).device).toMatchObject({ name: 'sim-1', description: 'north wall', labels: ['hall-2'], protocols: { simulator: { seed: '9' } } });

    // Locked through PATCH: core-command refuses its commands with 423; unlocked, it reads again.
    await site('metadata', 'PATCH', '/device', 'BaseResponses', 207, edgexRequest('UpdateDeviceRequests', [{ apiVersion: 'v3', device: { name: 'sim-1', adminState: 'LOCKED' } }]));
    expect((await viewerGet('/device/name/sim-1')).device).toMatchObject({ adminState: 'LOCKED' });
    expect((await site('command', 'GET', '/device/name/sim-1/count', 'BaseResponse', 423, undefined, basic(viewer))).message).toMatch(/device 'sim-1' is locked/);
    await site('metadata', 'PATCH', '/device', 'BaseResponses', 207, edgexRequest('UpdateDeviceRequests', [{ apiVersion: 'v3', device: { name: 'sim-1', adminState: 'UNLOCKED' } }]));
    await waitFor('a read of sim-1 again', async () => {
      const res = await fetch(`http://127.0.0.1:${ports.command}/api/v3/device/name/sim-1/count`, { headers: { authorization: basic(viewer) } });
      return res.status === 200 ? true : undefined;
    });
    expect((await f.api<{ spec: Json }>('GET', '/api/v1/devices/sim-1')).body.spec).toMatchObject({ description: 'north wall', protocols: { simulator: { seed: '9' } } });

    // The hub decides: a site login is refused at the site, a token the hub does not know by the hub.
    await site('metadata', 'PATCH', '/device', 'BaseResponse', 403, body, basic(viewer));
    await site('metadata', 'PATCH', '/device', 'BaseResponse', 401, body, 'Bearer not-a-token');
    await site('metadata', 'PATCH', '/device', 'BaseResponse', 403, body, `Bearer ${await f.agentToken(SITE_U)}`);
    // Hub tokens that may not change devices: a viewer, another site's agent.
    await f.apply({ kind: 'Site', metadata: { name: 'plant-other' }, spec: {} });
    const viewerToken = await f.api<{ token: string }>('POST', '/api/v1/tokens', { role: 'viewer', description: 'edgex rest viewer' });
    await site('metadata', 'PATCH', '/device', 'BaseResponse', 403, body, `Bearer ${viewerToken.body.token}`);
    await site('metadata', 'PATCH', '/device', 'BaseResponse', 403, body, `Bearer ${await f.agentToken('plant-other')}`);
    expect((await f.api<{ spec: Json }>('GET', '/api/v1/devices/sim-1')).body.spec).toMatchObject({ description: 'north wall' });
  }, 60_000);

  it('edits a profile: basic info, resources and commands, each merged into its EdgeX form and re-imported through the hub', async () => {
    const info = await site('metadata', 'PATCH', '/deviceprofile/basicinfo', 'BaseResponses', 207, edgexRequest('DeviceProfileBasicInfoRequests', [{ apiVersion: 'v3', requestId: 'b-1', basicinfo: { name: 'sim-sensor', manufacturer: 'Acme', model: 'S-2', labels: ['sim'] } }]));
    expect(info).toEqual([{ apiVersion: 'v3', requestId: 'b-1', statusCode: 200 }]);
    expect((await f.api<{ spec: Json }>('GET', '/api/v1/deviceprofiles/sim-sensor')).body.spec).toMatchObject({ manufacturer: 'Acme', model: 'S-2', labels: ['sim'] });
    expect(await profileNow()).toMatchObject({ manufacturer: 'Acme' });

    const added = await site('metadata', 'POST', '/deviceprofile/resource', 'BaseResponses', 207, edgexRequest('DeviceResourceRequests', [
      { apiVersion: 'v3', requestId: 'res-1', profileName: 'sim-sensor', resource: { name: 'level', description: 'tank level', attributes: { function: 'setpoint', initial: 3 }, properties: { valueType: 'Float32', readWrite: 'RW', units: 'm' } } },
      { apiVersion: 'v3', requestId: 'res-2', profileName: 'sim-sensor', resource: { name: 'count', properties: { valueType: 'Uint16', readWrite: 'R' } } },
    ]));
    expect(added).toEqual([{ apiVersion: 'v3', requestId: 'res-1', statusCode: 201 }, { apiVersion: 'v3', requestId: 'res-2', statusCode: 409, message: "EdgeX REST API: device resource 'sim-sensor/count' already exists" }]);
    let p = await profileNow();
    expect(names(p.deviceResources)).toEqual(['count', 'setpoint', 'level']);
    // The basic info set before is still there: the merge starts from the site's current form.
    expect(p).toMatchObject({ manufacturer: 'Acme', model: 'S-2' });

    await site('metadata', 'PATCH', '/deviceprofile/resource', 'BaseResponses', 207, edgexRequest('UpdateDeviceResourceRequests', [{ apiVersion: 'v3', profileName: 'sim-sensor', resource: { name: 'level', description: 'water level', isHidden: true } }]));
    p = await profileNow();
    expect((p.deviceResources as Json[]).find((r) => r.name === 'level')).toEqual({
      name: 'level', description: 'water level', isHidden: true, attributes: { function: 'setpoint', initial: 3 }, properties: { valueType: 'Float32', readWrite: 'RW', units: 'm' },
    });

    const cmd = await site('metadata', 'POST', '/deviceprofile/deviceCommand', 'BaseResponses', 207, edgexRequest('DeviceCommandRequests', [{ apiVersion: 'v3', requestId: 'c-1', profileName: 'sim-sensor', deviceCommand: { name: 'pair', readWrite: 'R', resourceOperations: [{ deviceResource: 'count' }, { deviceResource: 'level' }] } }]));
    expect(cmd).toEqual([{ apiVersion: 'v3', requestId: 'c-1', statusCode: 201 }]);
    expect(names((await profileNow()).deviceCommands)).toContain('pair');
    await site('metadata', 'PATCH', '/deviceprofile/deviceCommand', 'BaseResponses', 207, edgexRequest('UpdateDeviceCommandRequests', [{ apiVersion: 'v3', profileName: 'sim-sensor', deviceCommand: { name: 'pair', isHidden: true } }]));
    expect(((await profileNow()).deviceCommands as Json[]).find((c) => c.name === 'pair')).toMatchObject({ isHidden: true, resourceOperations: [{ deviceResource: 'count' }, { deviceResource: 'level' }] });

    expect((await site('metadata', 'DELETE', '/deviceprofile/name/sim-sensor/resource/level', 'BaseResponse', 409)).message).toMatch(/used by device command 'pair'/);
    expect(await site('metadata', 'DELETE', '/deviceprofile/name/sim-sensor/deviceCommand/pair', 'BaseResponse', 200)).toEqual({ apiVersion: 'v3', statusCode: 200 });
    expect(names((await profileNow()).deviceCommands)).not.toContain('pair');
    await site('metadata', 'DELETE', '/deviceprofile/name/sim-sensor/resource/level', 'BaseResponse', 200);
    p = await profileNow();
    expect(names(p.deviceResources)).toEqual(['count', 'setpoint']);
    expect((await f.api<{ spec: { deviceResources: Json[] } }>('GET', '/api/v1/deviceprofiles/sim-sensor')).body.spec.deviceResources.map((r) => r.name)).toEqual(['count', 'setpoint']);

    // What the hub refuses (a command on a resource the profile lacks) comes back with the hub's status and reason.
    const refused = await site('metadata', 'POST', '/deviceprofile/deviceCommand', 'BaseResponse', 400, edgexRequest('DeviceCommandRequests', [{ apiVersion: 'v3', profileName: 'sim-sensor', deviceCommand: { name: 'broken', readWrite: 'R', resourceOperations: [{ deviceResource: 'missing' }] } }]));
    expect(refused.message).toMatch(/the hub answered 400/);
    expect(names((await f.api<{ spec: Json }>('GET', '/api/v1/deviceprofiles/sim-sensor')).body.spec.deviceCommands)).not.toContain('broken');
  }, 60_000);

  it('takes a profile YAML upload (POST adds, PUT replaces) and sends its text to the hub unchanged', async () => {
    const yaml = (description: string): string =>
      ['name: "press-profile"', `description: "${description}"`, 'deviceResources:', '  - name: "force"', '    attributes: { function: "setpoint", initial: 1 }', '    properties: { valueType: "Float64", readWrite: "R", units: "kN" }', ''].join('\n');
    const upload = async (method: 'POST' | 'PUT', text: string, status: number, auth = admin): Promise<Json> => {
      const form = new FormData();
      form.append('file', new Blob([text], { type: 'application/x-yaml' }), 'press.yaml');
      const res = await fetch(`http://127.0.0.1:${ports.metadata}/api/v3/deviceprofile/uploadfile`, { method, headers: { authorization: auth }, body: form });
      const body = (await res.json()) as Json;
      expect(ajv.validate(SCHEMAS.BaseWithIdResponse, body), JSON.stringify(body)).toBe(true);
      expect(res.status, JSON.stringify(body)).toBe(status);
      return body;
    };
    expect(await upload('POST', yaml('first'), 201)).toEqual({ apiVersion: 'v3', statusCode: 201 });
    expect((await f.api<{ spec: Json }>('GET', '/api/v1/deviceprofiles/press-profile')).body.spec).toMatchObject({ description: 'first', deviceResources: [{ name: 'force', properties: { units: 'kN' } }] });
    expect(await viewerGet('/deviceprofile/name/press-profile')).toMatchObject({ statusCode: 200, profile: { name: 'press-profile', description: 'first' } });
    expect((await upload('POST', yaml('again'), 409)).message).toMatch(/'press-profile' already exists/);
    expect(await upload('PUT', yaml('second'), 200)).toEqual({ apiVersion: 'v3', statusCode: 200 });
    expect((await f.api<{ spec: Json }>('GET', '/api/v1/deviceprofiles/press-profile')).body.spec).toMatchObject({ description: 'second' });
    await upload('PUT', yaml('third'), 403, basic(viewer));
    // A file the hub cannot read: its problems, named by the hub.
    expect((await upload('PUT', 'name: "press-profile"\ndeviceResources: 7\n', 400)).message).toMatch(/press\.yaml/);
    expect((await f.api<{ spec: Json }>('GET', '/api/v1/deviceprofiles/press-profile')).body.spec).toMatchObject({ description: 'second' });
  }, 60_000);
});
