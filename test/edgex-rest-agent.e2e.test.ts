/**
 * EdgeX's REST API at a real site agent: a real hub, the agent running the
 * simulator and edgex addons (the edgex addon's `rest` enabled by the hub's
 * Addon), and broker logins issued by the hub (`POST
 * /api/v1/sites/S/broker-credentials`) and replicated to the site. The
 * agent's own services serve it: the catalog from its replica, commands
 * through its device runtime, logins from the replicated hashes, so it
 * keeps answering, logins included, when the hub is gone.
 */
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { SCHEMAS } from '../plugins/edgex/testkit/rest-schemas.ts';
import { startSiteAgent } from '../sites/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { quiet, startHubFixture, tempDir, waitFor } from './support/hub-fixture.ts';
import { freePort } from './support/tcp-services.ts';

const defer = deferCleanup();
const SITE = 'plant-e';

describe('EdgeX REST API at a site agent', () => {
  it('serves the replica, the readings and the devices with the logins the hub issued, also offline', async () => {
    const f = await startHubFixture({ syncHeartbeatMs: 1000 });
    let hubUp = true;
    defer(async () => {
      if (hubUp) await f.hub.close();
    });
    const ports = { metadata: await freePort(), data: await freePort(), command: await freePort() };
    await f.apply({ kind: 'Site', metadata: { name: SITE }, spec: {} });
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
    await f.apply({ kind: 'Device', metadata: { name: 'sim-1' }, spec: { site: SITE, profile: 'sim-sensor', protocols: { simulator: { seed: '1' } }, autoEvents: [{ sourceName: 'count', interval: '50ms' }] } });
    await f.apply({ kind: 'Addon', metadata: { name: 'simulator' }, spec: { plugin: 'simulator', sites: [SITE] } });
    await f.apply({ kind: 'Addon', metadata: { name: 'edgex' }, spec: { plugin: 'edgex', sites: [SITE], config: { publish: false, subscribe: false, rest: { enabled: true, ports, commandLogins: ['operator'] } } } });
    const issue = async (username: string): Promise<string> => {
      const r = await f.api<{ password: string }>('POST', `/api/v1/sites/${SITE}/broker-credentials`, { username });
      expect(r.status).toBe(201);
      return r.body.password;
    };
    const viewer = { username: 'viewer', password: await issue('viewer') };
    const operator = { username: 'operator', password: await issue('operator') };

    const agent = await startSiteAgent({
      site: SITE,
      hubUrl: f.hub.url,
      token: await f.agentToken(SITE),
      dataDir: tempDir('edgex-rest-agent'),
      logger: quiet,
      broker: { host: '127.0.0.1', port: await freePort() },
      syncBackoff: { initialMs: 50, maxMs: 300 },
      forwarder: { backoff: { initialMs: 50, maxMs: 300 } },
    });
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
