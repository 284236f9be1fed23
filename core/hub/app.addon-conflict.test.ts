/**
 * Two Addons that put the same plugin at the same site, over real HTTP on
 * both resource stores: the hub refuses the second at create and apply
 * (409 EDGE_ERR_ADDON_CONFLICT naming the first); an overlap found later (a
 * site relabelled into two selectors) is not refused and shows in both
 * Addons' status, before and after the site reports. Reports from a site
 * that is offline or gone are served as `unknown`, never as they were.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddonObject } from '../store/index.ts';
import { BACKENDS, startTestHub, type TestHub } from '../../test/support/hub/harness.ts';

interface Entry {
  state: string;
  code?: string;
  message?: string;
}
interface AddonBody {
  metadata: { name: string; creationTimestamp?: string };
  spec: Record<string, unknown>;
  status?: { sites?: Record<string, Entry> };
}
interface Answer<T> {
  status: number;
  body: T & { code?: string; message?: string; details?: Record<string, unknown> };
}

const addon = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'edgeadm.io/v1alpha1', kind: 'Addon', metadata: { name }, spec });
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(BACKENDS)('addon conflicts and honest addon status over HTTP ($name)', (backend) => {
  let h: TestHub;
  let base = '';

  async function call<T = AddonBody>(method: string, url: string, body?: unknown, token?: string): Promise<Answer<T>> {
    const r = await fetch(`${base}${url}`, {
      method,
      headers: { authorization: `Bearer ${token ?? h.admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    return { status: r.status, body: (text === '' ? {} : JSON.parse(text)) as Answer<T>['body'] };
  }
  const sitesOf = async (name: string): Promise<Record<string, Entry> | undefined> => (await call('GET', `/api/v1/addons/${name}`)).body.status?.sites;
  const listed = async (name: string): Promise<Record<string, Entry> | undefined> =>
    (await call<{ items: AddonBody[] }>('GET', '/api/v1/addons')).body.items.find((a) => a.metadata.name === name)?.status?.sites;

  beforeAll(async () => {
    h = await startTestHub({ backend });
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  });
  afterAll(() => h.close());

  it('refuses a second Addon with the plugin at a site, at create and at apply, naming the first; writes nothing', async () => {
    expect((await call('POST', '/api/v1/addons', addon('meters', { plugin: 'modbus', sites: ['plant-a'] }))).status).toBe(201);
    const before = (await call<{ resourceVersion: string }>('GET', '/api/v1/addons')).body.resourceVersion;

    const created = await call('POST', '/api/v1/addons', addon('north-meters', { plugin: 'modbus', siteSelector: { region: 'north' } }));
    expect(created.status).toBe(409);
    expect(created.body.code).toBe('EDGE_ERR_ADDON_CONFLICT');
    expect(created.body.details).toEqual({ addon: 'north-meters', plugin: 'modbus', site: 'plant-a', heldBy: 'meters' });
    expect(created.body.message).toMatch(/^Addon 'north-meters' puts plugin 'modbus' at site 'plant-a', which Addon 'meters' already puts there/);

    const applied = await call('PUT', '/api/v1/addons/all-meters', addon('all-meters', { plugin: 'modbus', siteSelector: {} }));
    expect(applied.status).toBe(409);
    expect(applied.body.details).toMatchObject({ addon: 'all-meters', site: 'plant-a', heldBy: 'meters' });

    expect((await call('GET', '/api/v1/addons/north-meters')).status).toBe(404);
    expect((await call('GET', '/api/v1/addons/all-meters')).status).toBe(404);
    expect((await call<{ resourceVersion: string }>('GET', '/api/v1/addons')).body.resourceVersion).toBe(before);
  });

  it('takes other plugins and other sites, updates of the same Addon, and refuses an update that adds a taken site', async () => {
    expect((await call('PUT', '/api/v1/addons/mqtt', addon('mqtt', { plugin: 'mqtt', sites: ['plant-a'] }))).status).toBe(200);
    expect((await call('PUT', '/api/v1/addons/south-meters', addon('south-meters', { plugin: 'modbus', sites: ['plant-b'] }))).status).toBe(200);
    const updated = await call('PUT', '/api/v1/addons/meters', addon('meters', { plugin: 'modbus', sites: ['plant-a'], config: { pollMs: 500 } }));
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    expect(updated.body.spec).toMatchObject({ config: { pollMs: 500 } });

    const widened = await call('PUT', '/api/v1/addons/south-meters', addon('south-meters', { plugin: 'modbus', sites: ['plant-b', 'plant-a'] }));
    expect(widened.status).toBe(409);
    expect(widened.body.details).toEqual({ addon: 'south-meters', plugin: 'modbus', site: 'plant-a', heldBy: 'meters' });
    expect((await sitesOf('south-meters')) ?? {}).toEqual({});
    expect((await call('GET', '/api/v1/addons/south-meters')).body.spec).toEqual({ plugin: 'modbus', sites: ['plant-b'] });

    // A site named before it exists counts too.
    expect((await call('PUT', '/api/v1/addons/future', addon('future', { plugin: 'opcua', sites: ['plant-z'] }))).status).toBe(200);
    const future = await call('POST', '/api/v1/addons', addon('future-2', { plugin: 'opcua', sites: ['plant-z'] }));
    expect(future.status).toBe(409);
    expect(future.body.details).toMatchObject({ site: 'plant-z', heldBy: 'future' });
  });

  it('takes a relabelled site that makes two selectors overlap, and shows the conflict in both Addons, reported or not', async () => {
    // The older Addon has the later name: age decides, not the name.
    const first = await call('POST', '/api/v1/addons', addon('zeta-lines', { plugin: 'load-gen', siteSelector: { line: '1' } }));
    expect(first.status).toBe(201);
    // Kubernetes stamps creationTimestamp to the second (the SQLite store to the millisecond): the second Addon is made in a later one.
    const stamped = first.body.metadata.creationTimestamp!;
    await pause(Math.max(5, Date.parse(stamped) + (/\.\d+Z$/.test(stamped) ? 5 : 1000) - Date.now()));
    expect((await call('POST', '/api/v1/addons', addon('alpha-zone', { plugin: 'load-gen', siteSelector: { zone: 'x' } }))).status).toBe(201);
    const [older, newer] = await Promise.all([call('GET', '/api/v1/addons/zeta-lines'), call('GET', '/api/v1/addons/alpha-zone')]);
    expect(older.body.metadata.creationTimestamp! < newer.body.metadata.creationTimestamp!).toBe(true);

    const relabel = await call('PUT', '/api/v1/sites/plant-b', { kind: 'Site', metadata: { name: 'plant-b', labels: { region: 'south', line: '1', zone: 'x' } }, spec: {} });
    expect(relabel.status, JSON.stringify(relabel.body)).toBe(200);

    const conflict = {
      state: 'conflict',
      code: 'EDGE_ERR_ADDON_CONFLICT',
      message: expect.stringMatching(/^Addon 'alpha-zone' puts plugin 'load-gen' at site 'plant-b', which Addon 'zeta-lines' already puts there; a site runs one instance/),
    };
    // Nothing reported yet: both already show it.
    expect(await sitesOf('alpha-zone')).toEqual({ 'plant-b': conflict });
    expect(await listed('alpha-zone')).toEqual({ 'plant-b': conflict });
    expect(await sitesOf('zeta-lines')).toEqual({
      'plant-b': { state: 'pending', code: 'EDGE_ERR_ADDON_CONFLICT', message: expect.stringMatching(/^not reported by the site yet; Addon 'alpha-zone' puts plugin 'load-gen' at site 'plant-b', which Addon 'zeta-lines'/) },
    });

    // A site that reports both as running (an agent that does not know the rule) does not make the newer one running.
    const report = await call<{ updated: string[] }>('PUT', '/api/v1/sites/plant-b/addon-status', { addons: { 'alpha-zone': { state: 'running' }, 'zeta-lines': { state: 'running' } } }, h.agentB);
    expect(report.status).toBe(200);
    expect(report.body.updated.sort()).toEqual(['alpha-zone', 'zeta-lines']);
    expect(await sitesOf('alpha-zone')).toEqual({ 'plant-b': conflict });
    expect((await sitesOf('zeta-lines'))?.['plant-b']).toMatchObject({ state: 'running', code: 'EDGE_ERR_ADDON_CONFLICT', message: expect.stringMatching(/Addon 'alpha-zone'/) });
    // A viewer reads the same.
    expect((await call('GET', '/api/v1/addons/alpha-zone', undefined, h.viewer)).body.status?.sites).toEqual({ 'plant-b': conflict });
    // The stored status is still what the site said.
    expect((await h.store.get<AddonObject>('Addon', 'alpha-zone'))?.status?.sites).toEqual({ 'plant-b': { state: 'running' } });

    // Changing either Addon is still allowed: the overlap was not made by that write.
    expect((await call('PUT', '/api/v1/addons/alpha-zone', addon('alpha-zone', { plugin: 'load-gen', siteSelector: { zone: 'x' }, config: { devices: 2 } }))).status).toBe(200);
    expect((await call('PUT', '/api/v1/addons/zeta-lines', addon('zeta-lines', { plugin: 'load-gen', siteSelector: { line: '1' }, config: { devices: 3 } }))).status).toBe(200);

    // The newer one leaves the site: no conflict left, and the older one's report stands alone.
    expect((await call('PUT', '/api/v1/addons/alpha-zone', addon('alpha-zone', { plugin: 'load-gen', siteSelector: { zone: 'y' } }))).status).toBe(200);
    expect(await sitesOf('zeta-lines')).toEqual({ 'plant-b': { state: 'running' } });
  });

  it('serves a report from a site that is offline, or gone, as unknown with why, and the report again once it is back', async () => {
    await call('PUT', '/api/v1/addons/meters', addon('meters', { plugin: 'modbus', sites: ['plant-a'] }));
    expect((await call('PUT', '/api/v1/sites/plant-a/addon-status', { addons: { meters: { state: 'running' } } }, h.agentA)).status).toBe(200);
    expect(await sitesOf('meters')).toEqual({ 'plant-a': { state: 'running' } });

    // What the sync session writes when the site's last session closes.
    const lastSeen = '2026-11-30T08:15:00.000Z';
    await h.store.updateStatus('Site', 'plant-a', { phase: 'Offline', lastSeen });
    const offline = { state: 'unknown', message: `site offline since ${lastSeen}; last report: running` };
    expect(await sitesOf('meters')).toEqual({ 'plant-a': offline });
    expect(await listed('meters')).toEqual({ 'plant-a': offline });

    await h.store.updateStatus('Site', 'plant-a', { phase: 'Online', lastSeen: new Date().toISOString() });
    expect(await sitesOf('meters')).toEqual({ 'plant-a': { state: 'running' } });

    // A failed instance's last report keeps its code in the text.
    await call('PUT', '/api/v1/sites/plant-a/addon-status', { addons: { meters: { state: 'failed', code: 'EDGE_ERR_X', message: 'port busy' } } }, h.agentA);
    await h.store.updateStatus('Site', 'plant-a', { phase: 'Offline', lastSeen });
    expect((await sitesOf('meters'))?.['plant-a']).toEqual({ state: 'unknown', message: `site offline since ${lastSeen}; last report: failed [EDGE_ERR_X] (port busy)` });
    await h.store.updateStatus('Site', 'plant-a', { phase: 'Online', lastSeen: new Date().toISOString() });

    // A deleted site's last report is not served as if it ran.
    expect((await call('POST', '/api/v1/sites', { kind: 'Site', metadata: { name: 'plant-c' }, spec: {} })).status).toBe(201);
    expect((await call('PUT', '/api/v1/addons/sim', addon('sim', { plugin: 'simulator', sites: ['plant-c'] }))).status).toBe(200);
    expect((await call('PUT', '/api/v1/sites/plant-c/addon-status', { addons: { sim: { state: 'running' } } })).status).toBe(200);
    expect((await call('DELETE', '/api/v1/sites/plant-c')).status).toBe(200);
    expect(await sitesOf('sim')).toEqual({ 'plant-c': { state: 'unknown', message: "no Site 'plant-c' at the hub; last report: running" } });
  });
});
