import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API, BACKENDS, device, err, startTestHub, type TestHub } from '../../test/support/hub/harness.ts';

interface Obj {
  kind: string;
  apiVersion: string;
  metadata: { name: string; resourceVersion: string; labels?: Record<string, string>; generation?: number };
  spec: Record<string, unknown>;
  status?: unknown;
}

describe.each(BACKENDS)('hub resources API ($name)', (backend) => {
  let h: TestHub;
  beforeAll(async () => {
    h = await startTestHub({ backend });
  });
  afterAll(() => h.close());

  it('creates, reads, applies and deletes, with kind and apiVersion from the path', async () => {
    const created = await h.call('POST', '/api/v1/nodes', { body: { metadata: { name: 'edge-1', labels: { tier: 'a' } }, spec: { site: 'plant-a' } } });
    expect(created.statusCode).toBe(201);
    const c = created.json<Obj>();
    expect(c).toMatchObject({ apiVersion: API, kind: 'Node', metadata: { name: 'edge-1', labels: { tier: 'a' } }, spec: { site: 'plant-a' } });
    expect(c.metadata.resourceVersion).toMatch(/^\d+$/);

    const again = await h.call('POST', '/api/v1/nodes', { body: { metadata: { name: 'edge-1' }, spec: { site: 'plant-a' } } });
    expect(again.statusCode).toBe(409);
    expect(err(again).code).toBe('EDGE_ERR_STORE_EXISTS');

    const got = await h.call('GET', '/api/v1/nodes/edge-1');
    expect(got.statusCode).toBe(200);
    expect(got.json<Obj>().metadata.resourceVersion).toBe(c.metadata.resourceVersion);

    const applied = await h.call('PUT', '/api/v1/nodes/edge-1', { body: { spec: { site: 'plant-a', hostname: 'edge-1.local' } } });
    expect(applied.statusCode).toBe(200);
    const a = applied.json<Obj>();
    expect(a.spec).toMatchObject({ hostname: 'edge-1.local' });
    expect(Number(a.metadata.resourceVersion)).toBeGreaterThan(Number(c.metadata.resourceVersion));

    const upsert = await h.call('PUT', '/api/v1/nodes/edge-2', { body: { kind: 'Node', apiVersion: API, metadata: { name: 'edge-2' }, spec: { site: 'plant-b' } } });
    expect(upsert.statusCode).toBe(200);

    const del = await h.call('DELETE', '/api/v1/nodes/edge-1');
    expect(del.statusCode).toBe(200);
    expect(del.json<Obj>().metadata.name).toBe('edge-1');
    const gone = await h.call('GET', '/api/v1/nodes/edge-1');
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toMatchObject({ code: 'EDGE_ERR_HUB_NOT_FOUND', message: "Node 'edge-1' not found" });
    expect((await h.call('DELETE', '/api/v1/nodes/edge-1')).statusCode).toBe(404);
  });

  it('refuses a stale resourceVersion with 409 EDGE_ERR_STORE_CONFLICT', async () => {
    const cur = (await h.call('GET', '/api/v1/sites/plant-a')).json<Obj>();
    const rv = cur.metadata.resourceVersion;
    const first = await h.call('PUT', '/api/v1/sites/plant-a', { body: { metadata: { resourceVersion: rv, labels: { region: 'north', v: '2' } }, spec: {} } });
    expect(first.statusCode).toBe(200);
    const stale = await h.call('PUT', '/api/v1/sites/plant-a', { body: { metadata: { resourceVersion: rv }, spec: { displayName: 'late' } } });
    expect(stale.statusCode).toBe(409);
    expect(stale.json()).toMatchObject({ code: 'EDGE_ERR_STORE_CONFLICT', details: { kind: 'Site', name: 'plant-a', expected: rv } });

    const st = await h.call('PUT', '/api/v1/sites/plant-a/status', { body: { metadata: { resourceVersion: rv }, status: { phase: 'Online' } } });
    expect(st.statusCode).toBe(409);
    const delStale = await h.call('DELETE', `/api/v1/sites/plant-a?resourceVersion=${rv}`);
    expect(delStale.statusCode).toBe(409);
    expect((await h.call('GET', '/api/v1/sites/plant-a')).statusCode).toBe(200);
  });

  it('reports every invalid field with its path', async () => {
    const r = await h.call('POST', '/api/v1/devices', {
      body: { metadata: { labels: { a: 1 }, extra: true }, spec: 'nope', color: 'red' },
    });
    expect(r.statusCode).toBe(400);
    const body = r.json<{ code: string; message: string; details: { issues: { in: string; path: string; message: string }[] } }>();
    expect(body.code).toBe('EDGE_ERR_HUB_BAD_REQUEST');
    const paths = body.details.issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['metadata.name', 'metadata.labels.a', 'metadata.extra', 'spec', 'color']));
    expect(body.details.issues.every((i) => i.in === 'body')).toBe(true);
    expect(body.message).toContain('metadata.name is required');

    const q = await h.call('GET', '/api/v1/sites?limit=zero');
    expect(q.statusCode).toBe(400);
    expect(err(q).details?.issues).toEqual([expect.objectContaining({ in: 'querystring', path: 'limit' })]);
  });

  it("passes the store's own validation errors through", async () => {
    const r = await h.call('PUT', '/api/v1/nodes/edge-x', { body: { spec: { site: 'plant-a', hostname: 7 } } });
    if (backend.validates) {
      expect(r.statusCode).toBe(400);
      expect(err(r).code).toBe('EDGE_ERR_STORE_INVALID');
      expect(err(r).message).toContain('spec.hostname');
    } else {
      // The fake checks only the envelope.
      expect(r.statusCode).toBe(200);
    }
  });

  it('refuses a body that contradicts the path', async () => {
    const kind = await h.call('POST', '/api/v1/sites', { body: { kind: 'Device', metadata: { name: 'x' }, spec: {} } });
    expect(kind.statusCode).toBe(400);
    expect(kind.json()).toMatchObject({ code: 'EDGE_ERR_HUB_PATH_MISMATCH', details: { field: 'kind', body: 'Device', path: 'Site' } });
    const name = await h.call('PUT', '/api/v1/sites/plant-a', { body: { metadata: { name: 'plant-z' }, spec: {} } });
    expect(name.statusCode).toBe(400);
    expect(name.json()).toMatchObject({ code: 'EDGE_ERR_HUB_PATH_MISMATCH', details: { field: 'metadata.name' } });
    const st = await h.call('PUT', '/api/v1/sites/plant-a/status', { body: { kind: 'Node', status: {} } });
    expect(st.statusCode).toBe(400);
  });

  it("checks a Device's site and profile exist, naming the field", async () => {
    const both = await h.call('POST', '/api/v1/devices', { body: { ...device('d-x', 'plant-z', 'nope'), apiVersion: undefined } });
    expect(both.statusCode).toBe(400);
    expect(err(both).code).toBe('EDGE_ERR_HUB_REFERENCE');
    expect(err(both).details?.refs).toEqual([
      { field: 'spec.site', refKind: 'Site', ref: 'plant-z' },
      { field: 'spec.profile', refKind: 'DeviceProfile', ref: 'nope' },
    ]);
    const profile = await h.call('PUT', '/api/v1/devices/pump-a', { body: { spec: { ...(device('pump-a', 'plant-a', 'missing').spec as object) } } });
    expect(profile.statusCode).toBe(400);
    expect(err(profile).message).toContain("spec.profile refers to DeviceProfile 'missing'");
    const ok = await h.call('POST', '/api/v1/devices', { body: device('d-ok', 'plant-b') });
    expect(ok.statusCode).toBe(201);
  });

  it('refuses to delete a DeviceProfile that Devices use, naming them; deletes it once none does', async () => {
    const profile = { metadata: { name: 'in-use' }, spec: { deviceResources: [{ name: 't', properties: { valueType: 'Float64', readWrite: 'R' } }] } };
    expect((await h.call('POST', '/api/v1/deviceprofiles', { body: profile })).statusCode).toBe(201);
    for (const name of ['u-1', 'u-2']) expect((await h.call('POST', '/api/v1/devices', { body: device(name, 'plant-a', 'in-use') })).statusCode).toBe(201);
    const refused = await h.call('DELETE', '/api/v1/deviceprofiles/in-use');
    expect(refused.statusCode).toBe(409);
    expect(err(refused)).toMatchObject({ code: 'EDGE_ERR_HUB_PROFILE_IN_USE', details: { profile: 'in-use', devices: ['u-1', 'u-2'], count: 2 } });
    expect(err(refused).message).toContain('used by 2 Devices (u-1, u-2)');
    expect((await h.call('GET', '/api/v1/deviceprofiles/in-use')).statusCode).toBe(200);
    for (const name of ['u-1', 'u-2']) expect((await h.call('DELETE', `/api/v1/devices/${name}`)).statusCode).toBe(200);
    expect((await h.call('DELETE', '/api/v1/deviceprofiles/in-use')).statusCode).toBe(200);
    expect((await h.call('GET', '/api/v1/deviceprofiles/in-use')).statusCode).toBe(404);
  });

  it('lists with label selectors, the site filter and paging', async () => {
    for (const n of ['n-1', 'n-2', 'n-3', 'n-4', 'n-5']) {
      const r = await h.call('PUT', `/api/v1/nodes/${n}`, { body: { metadata: { labels: { pool: n === 'n-5' ? 'b' : 'a' } }, spec: { site: n === 'n-4' ? 'plant-b' : 'plant-a' } } });
      expect(r.statusCode).toBe(200);
    }
    const names = (r: { json<T>(): T }) => r.json<{ items: Obj[] }>().items.map((i) => i.metadata.name);
    const sel = await h.call('GET', `/api/v1/nodes?labelSelector=${encodeURIComponent('pool=a')}&site=plant-a`);
    expect(names(sel)).toEqual(['n-1', 'n-2', 'n-3']);
    const notin = await h.call('GET', `/api/v1/nodes?labelSelector=${encodeURIComponent('pool,pool notin (a)')}`);
    expect(names(notin)).toEqual(['n-5']);

    const seen: string[] = [];
    let cont: string | undefined;
    let pages = 0;
    do {
      const r = await h.call('GET', `/api/v1/nodes?labelSelector=pool&limit=2${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
      expect(r.statusCode).toBe(200);
      const page = r.json<{ items: Obj[]; resourceVersion: string; continue?: string }>();
      expect(page.resourceVersion).toMatch(/^\d+$/);
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((i) => i.metadata.name));
      cont = page.continue;
      pages++;
    } while (cont && pages < 10);
    expect(seen).toEqual(['n-1', 'n-2', 'n-3', 'n-4', 'n-5']);
    expect(pages).toBe(3);

    const badSel = await h.call('GET', `/api/v1/nodes?labelSelector=${encodeURIComponent('a in (')}`);
    expect(badSel.statusCode).toBe(400);
    expect(err(badSel).code).toBe('EDGE_ERR_STORE_SELECTOR');
  });

  it('replaces status through /status and keeps it across apply', async () => {
    const st = await h.call('PUT', '/api/v1/devices/pump-b/status', { body: { status: { operatingState: 'DOWN' } } });
    expect(st.statusCode).toBe(200);
    const applied = await h.call('PUT', '/api/v1/devices/pump-b', { body: { spec: { ...(device('pump-b', 'plant-b').spec as object), description: 'boiler pump' } } });
    expect(applied.statusCode).toBe(200);
    expect(applied.json<Obj>().status).toEqual({ operatingState: 'DOWN' });
    const missing = await h.call('PUT', '/api/v1/devices/nope/status', { body: { status: {} } });
    expect(missing.statusCode).toBe(404);
    expect(err(missing).code).toBe('EDGE_ERR_STORE_NOT_FOUND');
  });
});
