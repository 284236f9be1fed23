import type { Static } from 'typebox';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { API, device, memoryBackend, sqliteBackend, startTestHub, type TestHub } from '../../../test/support/hub/harness.ts';
import type { Overview } from '../api-types.ts';
import type { OverviewSchema } from './overview.ts';

const T0 = '2026-03-01T10:00:00.000Z';
const T1 = '2026-03-01T11:00:00.000Z';
const T2 = '2026-03-01T12:00:00.000Z';

const agentReport = (problems: { component: string; code: string; message: string; since: string }[]) => ({
  health: { state: problems.length > 0 ? 'degraded' : 'ok', problems },
  telemetry: { stream: 's1', streams: ['s1'], firstSeq: 1, lastSeq: 10, ackedSeq: 10, pending: 0, droppedEver: 0, notStored: 3 },
  reportedAt: T2,
});

const pending = (name: string, site: string, firstSeen: string) => ({
  apiVersion: API,
  kind: 'PendingDevice',
  metadata: { name },
  spec: {
    site,
    source: 'announce',
    identifier: name,
    suggestedName: `${name}-dev`,
    protocolName: 'mqtt',
    protocol: { topic: `announce/${name}` },
    profile: { deviceResources: [{ name: 'temperature', properties: { valueType: 'Float64', readWrite: 'R' } }] },
    firstSeen,
    lastSeen: firstSeen,
  },
});

describe('the wire type', () => {
  it('is the Static of the schema', () => {
    expectTypeOf<Overview>().toEqualTypeOf<Static<typeof OverviewSchema>>();
  });
});

describe.each([memoryBackend, sqliteBackend])('GET /api/v1/overview ($name)', (backend) => {
  let h: TestHub;
  const overview = async (query = ''): Promise<Overview> => {
    const r = await h.call('GET', `/api/v1/overview${query}`);
    expect(r.statusCode, r.body).toBe(200);
    return r.json<Overview>();
  };
  const put = async (p: string, body: unknown): Promise<void> => {
    const r = await h.call('PUT', p, { body });
    expect(r.statusCode, r.body).toBeLessThan(300);
  };
  const post = async (p: string, body: unknown): Promise<void> => {
    const r = await h.call('POST', p, { body });
    expect(r.statusCode, r.body).toBeLessThan(300);
  };

  beforeAll(async () => {
    h = await startTestHub({ backend });
  });
  afterAll(() => h.close());

  it('admits operators only: admin and viewer 200, an agent 403, no credential 401', async () => {
    expect((await h.call('GET', '/api/v1/overview')).statusCode).toBe(200);
    expect((await h.call('GET', '/api/v1/overview', { token: h.viewer })).statusCode).toBe(200);
    const agent = await h.call('GET', '/api/v1/overview', { token: h.agentA });
    expect(agent.statusCode).toBe(403);
    expect(agent.json()).toMatchObject({ code: 'EDGE_ERR_HUB_FORBIDDEN' });
    const anonymous = await h.call('GET', '/api/v1/overview', { token: null });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toMatchObject({ code: 'EDGE_ERR_HUB_UNAUTHENTICATED' });
  });

  it('refuses a bad limit naming the field', async () => {
    for (const q of ['?limit=0', '?limit=501', '?limit=many']) {
      const r = await h.call('GET', `/api/v1/overview${q}`);
      expect(r.statusCode, q).toBe(400);
      expect(r.json<{ code: string; details: { issues: { path: string }[] } }>()).toMatchObject({ code: 'EDGE_ERR_HUB_BAD_REQUEST', details: { issues: [{ path: 'limit' }] } });
    }
  });

  it('says nothing needs attention when nothing does: counts only', async () => {
    await put('/api/v1/sites/plant-a/status', { status: { phase: 'Online', lastSeen: T2 } });
    await put('/api/v1/sites/plant-b/status', { status: { phase: 'Online', lastSeen: T2 } });
    await put('/api/v1/devices/pump-a/status', { status: { operatingState: 'UP', lastSeen: T2 } });
    await put('/api/v1/devices/pump-b/status', { status: { operatingState: 'UP', lastSeen: T2 } });
    await expect.poll(async () => (await overview()).counts.devices.up, { timeout: 5000 }).toBe(2);
    const o = await overview();
    expect(o.limit).toBe(20);
    expect(Date.parse(o.generatedAt)).toBeGreaterThan(0);
    expect(o.counts).toEqual({
      sites: { total: 2, online: 2, offline: 0, neverConnected: 0 },
      nodes: { total: 0, connected: 0, unhealthy: 0 },
      devices: { total: 2, up: 2, down: 0, unknown: 0 },
      addonInstances: { total: 0, running: 0, failed: 0, notReady: 0 },
      pendingDevices: 0,
    });
    for (const list of [o.sitesOffline, o.nodesUnhealthy, o.agentProblems, o.devicesDown, o.addonsFailed, o.pendingDevices]) expect(list).toEqual({ total: 0, items: [] });
  });

  it('lists each problem with its cause, and a device at an offline site as unknown, not down', async () => {
    await put('/api/v1/sites/plant-c', { metadata: { name: 'plant-c' }, spec: {} });
    await put('/api/v1/sites/plant-a/status', { status: { phase: 'Online', lastSeen: T2, agents: { 'node:gw-a': agentReport([{ component: 'outbox', code: 'EDGE_ERR_TELEMETRY_DISK_FULL', message: 'no space left on device', since: T1 }]) } } });
    await put('/api/v1/sites/plant-b/status', { status: { phase: 'Offline', lastSeen: T0, message: 'agent connection lost' } });
    await put('/api/v1/devices/pump-a/status', { status: { operatingState: 'DOWN', message: 'EDGE_ERR_MODBUS_CONNECT connect ECONNREFUSED 10.0.0.5:502', lastSeen: T1 } });
    // Down as last reported, but its site is cut off: nothing is known now.
    await put('/api/v1/devices/pump-b/status', { status: { operatingState: 'DOWN', message: 'timeout' } });
    await put('/api/v1/nodes/gw-a', { metadata: { name: 'gw-a' }, spec: { site: 'plant-a' } });
    await put('/api/v1/nodes/gw-a/status', {
      status: { connected: false, health: { node: 'gw-a', verdict: 'unhealthy', pros: 0, cons: 2, expected: 2, since: T1, reportedBy: 'node:gw-b', reportedAt: T2 } },
    });
    await put('/api/v1/nodes/gw-b', { metadata: { name: 'gw-b' }, spec: { site: 'plant-a' } });
    await put('/api/v1/nodes/gw-b/status', { status: { connected: true } });
    await put('/api/v1/addons/meters', { metadata: { name: 'meters' }, spec: { plugin: 'example.meters', sites: ['plant-a', 'plant-b', 'plant-c'] } });
    await put('/api/v1/addons/meters/status', {
      status: {
        sites: {
          'plant-a': { state: 'failed', code: 'EDGE_ERR_PLUGIN_START', message: 'port 502 in use' },
          // Failed as last reported at an offline site: unknown now.
          'plant-b': { state: 'failed', message: 'old news' },
        },
      },
    });
    await post('/api/v1/pendingdevices', pending('sensor-2', 'plant-a', T1));
    await post('/api/v1/pendingdevices', pending('sensor-1', 'plant-a', T0));

    await expect.poll(async () => (await overview()).devicesDown.total, { timeout: 5000 }).toBe(1);
    const o = await overview();
    expect(o.counts).toEqual({
      sites: { total: 3, online: 1, offline: 1, neverConnected: 1 },
      nodes: { total: 2, connected: 1, unhealthy: 1 },
      devices: { total: 2, up: 0, down: 1, unknown: 1 },
      addonInstances: { total: 3, running: 0, failed: 1, notReady: 2 },
      pendingDevices: 2,
    });
    expect(o.sitesOffline).toEqual({ total: 1, items: [{ name: 'plant-b', since: T0, message: 'agent connection lost' }] });
    expect(o.nodesUnhealthy).toEqual({ total: 1, items: [{ name: 'gw-a', site: 'plant-a', standing: 'down', since: T1, cons: 2, expected: 2 }] });
    expect(o.agentProblems).toEqual({
      total: 1,
      items: [{ site: 'plant-a', agent: 'node:gw-a', component: 'outbox', code: 'EDGE_ERR_TELEMETRY_DISK_FULL', message: 'no space left on device', since: T1 }],
    });
    expect(o.devicesDown).toEqual({ total: 1, items: [{ name: 'pump-a', site: 'plant-a', reason: 'EDGE_ERR_MODBUS_CONNECT connect ECONNREFUSED 10.0.0.5:502', lastSeen: T1 }] });
    expect(o.addonsFailed).toEqual({ total: 1, items: [{ addon: 'meters', site: 'plant-a', state: 'failed', code: 'EDGE_ERR_PLUGIN_START', message: 'port 502 in use' }] });
    // Waiting longest first.
    expect(o.pendingDevices).toEqual({
      total: 2,
      items: [
        { name: 'sensor-1', site: 'plant-a', firstSeen: T0, suggestedName: 'sensor-1-dev' },
        { name: 'sensor-2', site: 'plant-a', firstSeen: T1, suggestedName: 'sensor-2-dev' },
      ],
    });

    // A decided one waits no more.
    const rejected = await h.call('POST', '/api/v1/pendingdevices/sensor-1/reject', { body: {} });
    expect(rejected.statusCode, rejected.body).toBeLessThan(300);
    await expect.poll(async () => (await overview()).pendingDevices.items.map((p) => p.name)).toEqual(['sensor-2']);
  });

  it('keeps the first `limit` items of a list with its total, and follows devices created and deleted', async () => {
    for (let i = 0; i < 12; i++) {
      const name = `valve-${String(i).padStart(2, '0')}`;
      const r = await h.call('PUT', `/api/v1/devices/${name}`, { body: device(name, 'plant-a') });
      expect(r.statusCode, r.body).toBeLessThan(300);
      await put(`/api/v1/devices/${name}/status`, { status: { operatingState: 'DOWN', message: `stuck ${i}` } });
    }
    await expect.poll(async () => (await overview()).devicesDown.total, { timeout: 5000 }).toBe(13);
    const o = await overview('?limit=5');
    expect(o.limit).toBe(5);
    expect(o.devicesDown.total).toBe(13);
    expect(o.devicesDown.items.map((d) => d.name)).toEqual(['pump-a', 'valve-00', 'valve-01', 'valve-02', 'valve-03']);
    expect(o.counts.devices).toEqual({ total: 14, up: 0, down: 13, unknown: 1 });

    expect((await h.call('DELETE', '/api/v1/devices/valve-00')).statusCode).toBe(200);
    await expect.poll(async () => (await overview()).counts.devices, { timeout: 5000 }).toEqual({ total: 13, up: 0, down: 12, unknown: 1 });
    expect((await overview('?limit=2')).devicesDown.items.map((d) => d.name)).toEqual(['pump-a', 'valve-01']);
  });
});
