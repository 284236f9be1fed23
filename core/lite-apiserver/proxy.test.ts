/**
 * lite-apiserver against the Kubernetes API test server, through a link the
 * tests cut: who is re-presented as whom, what is cached under which key,
 * offline answers (lists, objects, watches, the node's own writes), the
 * breaker, the resync, a restart while offline; with both storage drivers.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call -- answers are arbitrary Kubernetes JSON, read loosely by the assertions (RawResponse.body) */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueCertificate } from '../pki/index.ts';
import { APP_TOKEN, NODE, startLiteBed, type LiteBed } from '../../test/support/lite-apiserver.ts';
import { rawClient, type RawClient } from '../../test/support/kube-apiserver/client.ts';
import type { LiteApiserver } from './index.ts';

let bed: LiteBed;
const open: LiteApiserver[] = [];
const ns = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const cm = (name: string, labels: Record<string, string> = {}, data: Record<string, string> = { v: '1' }) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data });

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function start(over: Parameters<LiteBed['start']>[0] = {}): Promise<LiteApiserver> {
  const lite = await bed.start(over);
  open.push(lite);
  return lite;
}

beforeAll(async () => {
  bed = await startLiteBed();
});
afterEach(async () => {
  bed.link.up();
  for (const l of open.splice(0)) await l.close();
});
afterAll(async () => {
  await bed.close();
});

describe('who is who', () => {
  it('re-presents the node certificate with the node credential and passes bearer tokens through', async () => {
    const lite = await start();
    const admin = bed.kube;
    const asNode = bed.client(lite, 'node');
    const asApp = bed.client(lite, { token: APP_TOKEN });
    const review = { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' };
    const n = await asNode.call('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', review);
    expect(n.status).toBe(201);
    expect(n.body.status.userInfo.username).toBe(`system:node:${NODE}`);
    const a = await asApp.call('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', review);
    expect(a.body.status.userInfo.username).toBe('system:serviceaccount:default:app');
    expect(admin.requestLog().some((r) => r.user === 'admin')).toBe(false);
  });

  it('refuses another node, a user certificate and a certificate of another CA, each with a coded Status', async () => {
    const lite = await start();
    const other = await bed.client(lite, 'otherNode').call('GET', '/api/v1/namespaces');
    expect(other.status).toBe(403);
    expect(other.body.details.causes[0].reason).toBe('EDGE_ERR_LITE_APISERVER_CLIENT_IDENTITY');
    expect(other.body.message).toContain(`serves node ${NODE} only`);
    const user = await bed.client(lite, 'user').call('GET', '/api/v1/namespaces');
    expect(user.status).toBe(403);
    expect(user.body.message).toContain("client 'jane'");
    // The node's own name, from a CA the proxy does not trust: not the node.
    const rogueCa = await createCertificateAuthority({ commonName: 'rogue-ca' });
    const rogue = await issueCertificate(rogueCa, { commonName: `system:node:${NODE}`, organization: 'system:nodes', usage: 'client' });
    const forged = rawClient({ url: lite.url, caPem: bed.ca.certPem }, null, { cert: rogue.certPem, key: rogue.keyPem });
    const r = await forged.call('GET', '/api/v1/namespaces');
    await forged.close();
    expect(r.status).toBe(401);
    expect(r.body.message).toContain('client certificate rejected');
  });

  it('refuses to start with a cluster-admin credential', async () => {
    const file = path.join(bed.dir, 'admin.conf');
    const cfg = JSON.parse(await readFile(bed.nodeKubeconfig, 'utf8')) as { users: { user: { token: string } }[] };
    (cfg.users[0] as { user: { token: string } }).user.token = bed.kube.token;
    await writeFile(file, JSON.stringify(cfg));
    await expect(bed.start({ kubeconfig: file })).rejects.toMatchObject({ code: 'EDGE_ERR_LITE_APISERVER_ADMIN_CREDENTIAL' });
  });
});

describe.each(['file', 'sqlite'] as const)('offline with the %s driver', (driver) => {
  const namespace = `off-${driver}`;
  const base = `/api/v1/namespaces/${namespace}/configmaps`;
  let cacheDir: string;

  beforeAll(async () => {
    const admin = bed.kube;
    const c = rawClient(admin);
    expect((await c.call('POST', '/api/v1/namespaces', ns(namespace))).status).toBe(201);
    await c.call('POST', base, cm('a', { tier: 'web' }));
    await c.call('POST', base, cm('b', { tier: 'db' }));
    await c.call('POST', base, cm('c', { tier: 'web' }));
    await c.close();
    cacheDir = `${bed.dir}/cache-${driver}`;
  });

  const storage = () => ({ storage: { driver, path: driver === 'file' ? cacheDir : `${cacheDir}.db` } });

  it('answers lists per selector, objects, and 404 for what a whole list lacks, at once and without the upstream', async () => {
    const lite = await start(storage());
    const c = bed.client(lite, 'node');
    const all = await c.call('GET', base);
    const web = await c.call('GET', `${base}?labelSelector=tier%3Dweb`);
    const db = await c.call('GET', `${base}?labelSelector=tier%3Ddb`);
    const one = await c.call('GET', `${base}/b`);
    expect(all.body.items).toHaveLength(3);
    expect(web.body.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['a', 'c']);
    bed.link.down();
    const t0 = Date.now();
    const first = await c.call('GET', `${base}?labelSelector=tier%3Dweb`);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(lite.status().state).toBe('offline');
    expect(first.status).toBe(200);
    expect(first.body).toEqual(web.body);
    expect((await c.call('GET', `${base}?labelSelector=tier%3Ddb`)).body).toEqual(db.body);
    expect((await c.call('GET', base)).body).toEqual(all.body);
    expect((await c.call('GET', `${base}/b`)).body).toEqual(one.body);
    // Never fetched, but the whole list holds it: answered from the list.
    expect((await c.call('GET', `${base}/c`)).body.metadata.name).toBe('c');
    const missing = await c.call('GET', `${base}/zzz`);
    expect(missing.status).toBe(404);
    expect(missing.body.reason).toBe('NotFound');
    // Nothing cached for this path: a 503 Status naming the code, with Retry-After.
    const uncached = await c.call('GET', '/api/v1/namespaces/kube-system/secrets');
    expect(uncached.status).toBe(503);
    expect(uncached.headers['retry-after']).toBe('1');
    expect(uncached.body.details.causes[0].reason).toBe('EDGE_ERR_LITE_APISERVER_NOT_CACHED');
    // Another identity's cache is its own: the app's token saw nothing yet.
    const app = await bed.client(lite, { token: APP_TOKEN }).call('GET', base);
    expect(app.status).toBe(503);
    const s = lite.status();
    expect(s.requests.cache).toBeGreaterThanOrEqual(6);
    expect(s.cache.driver).toBe(driver);
  });

  it('survives a restart while offline, then resyncs changes made meanwhile before going upstream again', async () => {
    bed.link.down();
    const lite = await start(storage());
    expect(lite.status().state).toBe('offline');
    const c = bed.client(lite, 'node');
    const cached = await c.call('GET', `${base}?labelSelector=tier%3Dweb`);
    expect(cached.status).toBe(200);
    expect(cached.body.items).toHaveLength(2);
    // Meanwhile, in the cloud:
    const admin = rawClient(bed.kube);
    await admin.call('POST', base, cm('d', { tier: 'web' }));
    await admin.call('DELETE', `${base}/a`);
    await admin.close();
    bed.link.up();
    await until('online', () => lite.status().state === 'online');
    bed.link.down();
    // The resync re-listed before going online: offline again, the cache has the cloud's changes.
    const after = await c.call('GET', `${base}?labelSelector=tier%3Dweb`);
    expect(after.body.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['c', 'd']);
    expect(lite.status().outages).toBeGreaterThanOrEqual(1);
  });
});

describe('watches', () => {
  const namespace = 'watching';
  const base = `/api/v1/namespaces/${namespace}/configmaps`;
  let admin: RawClient;

  beforeAll(async () => {
    admin = rawClient(bed.kube);
    await admin.call('POST', '/api/v1/namespaces', ns(namespace));
    await admin.call('POST', base, cm('w1'));
  });
  afterAll(async () => {
    await admin.close();
  });

  it('folds events that pass through into the cached list, and serves an open watch offline from where the client was', async () => {
    const lite = await start({ storage: { driver: 'file', path: `${bed.dir}/cache-watch` } });
    const c = bed.client(lite, 'node');
    const list = await c.call('GET', base);
    const listRv = list.body.metadata.resourceVersion as string;
    const w = await c.watch(`${base}?watch=true&resourceVersion=${listRv}&allowWatchBookmarks=true`);
    await admin.call('POST', base, cm('w2'));
    const next = async (): Promise<Awaited<ReturnType<typeof w.next>>> => {
      for (;;) {
        const ev = await w.next();
        if (ev.type !== 'BOOKMARK') return ev;
      }
    };
    const added = await next();
    expect(added.type).toBe('ADDED');
    const w2rv = added.object.metadata.resourceVersion as string;
    await admin.call('PUT', `${base}/w1`, { ...cm('w1', {}, { v: '2' }), metadata: { name: 'w1', resourceVersion: (await admin.call('GET', `${base}/w1`)).body.metadata.resourceVersion } });
    const modified = await next();
    expect(modified.type).toBe('MODIFIED');
    const lastRv = modified.object.metadata.resourceVersion as string;
    bed.link.down();
    await w.ended; // the proxied stream ends with the link
    expect(lite.status().state).toBe('offline');
    // The list answered offline holds the folded events.
    const offline = await c.call('GET', base);
    expect(offline.body.metadata.resourceVersion).toBe(lastRv);
    expect(offline.body.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['w1', 'w2']);
    expect(offline.body.items[0].data).toEqual({ v: '2' });
    // A watch from where the client was: stays open, bookmarks at the list's version.
    const resumed = await c.watch(`${base}?watch=true&resourceVersion=${lastRv}&allowWatchBookmarks=true`);
    expect(resumed.status).toBe(200);
    const bm = await resumed.next(2000);
    expect(bm).toMatchObject({ type: 'BOOKMARK', object: { kind: 'ConfigMap', metadata: { resourceVersion: lastRv } } });
    // From an older version the history covers: exactly the events after it.
    const replay = await c.watch(`${base}?watch=true&resourceVersion=${w2rv}`);
    const ev = await replay.next();
    expect(ev).toMatchObject({ type: 'MODIFIED', object: { metadata: { name: 'w1', resourceVersion: lastRv } } });
    // From before the list: 410 Gone in the stream, as kube-apiserver answers.
    const gone = await c.watch(`${base}?watch=true&resourceVersion=1`);
    const err = await gone.next();
    expect(err).toMatchObject({ type: 'ERROR', object: { code: 410, reason: 'Expired' } });
    // Without a version: every object as ADDED, then the stream stays open.
    const fresh = await c.watch(`${base}?watch=true`);
    const names = [(await fresh.next()).object.metadata.name, (await fresh.next()).object.metadata.name].sort();
    expect(names).toEqual(['w1', 'w2']);
    expect(lite.status().watches.offline).toBe(3);
    // Back online: the offline watches end, so clients watch the upstream again.
    bed.link.up();
    await until('online', () => lite.status().state === 'online');
    await resumed.ended;
    await fresh.ended;
    for (const x of [resumed, replay, gone, fresh]) x.close();
  });
});

describe("the node's own writes offline", () => {
  it('keeps the kubelet registered, its status and Lease answered, and reconciles them when the cloud returns', async () => {
    const admin = rawClient(bed.kube);
    const lite = await start({ storage: { driver: 'sqlite', path: `${bed.dir}/node.db` } });
    const c = bed.client(lite, 'node');
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE, labels: { 'kubernetes.io/hostname': NODE } }, status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2026-12-05T00:00:00Z' }, { type: 'MemoryPressure', status: 'False' }] } };
    expect((await c.call('POST', '/api/v1/nodes', node)).status).toBe(201);
    // Status is not written by a create (the status subresource): the kubelet patches it after registering.
    expect((await c.call('PATCH', `/api/v1/nodes/${NODE}/status`, { status: node.status }, 'application/merge-patch+json')).status).toBe(200);
    await admin.call('POST', '/api/v1/namespaces', ns('kube-node-lease'));
    const leasePath = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${NODE}`;
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: NODE, namespace: 'kube-node-lease' }, spec: { holderIdentity: NODE, leaseDurationSeconds: 40, renewTime: '2026-12-05T00:00:00.000000Z' } };
    expect((await c.call('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', lease)).status).toBe(201);
    const got = await c.call('GET', `/api/v1/nodes/${NODE}`);
    const gotLease = await c.call('GET', leasePath);
    bed.link.down();
    // After a reboot without the cloud: registration says AlreadyExists, so the kubelet reads and patches its Node.
    await lite.close();
    const again = await start({ storage: { driver: 'sqlite', path: `${bed.dir}/node.db` } });
    const k = bed.client(again, 'node');
    const reg = await k.call('POST', '/api/v1/nodes', node);
    expect(reg.status).toBe(409);
    expect(reg.body.reason).toBe('AlreadyExists');
    expect((await k.call('GET', `/api/v1/nodes/${NODE}`)).body).toEqual(got.body);
    const sm = { status: { '$setElementOrder/conditions': [{ type: 'Ready' }, { type: 'MemoryPressure' }], conditions: [{ type: 'Ready', lastHeartbeatTime: '2026-12-05T01:00:00Z' }] } };
    const patched = await k.call('PATCH', `/api/v1/nodes/${NODE}/status`, sm, 'application/strategic-merge-patch+json');
    expect(patched.status).toBe(200);
    expect(patched.body.status.conditions).toEqual([
      { type: 'Ready', status: 'True', lastHeartbeatTime: '2026-12-05T01:00:00Z' },
      { type: 'MemoryPressure', status: 'False' },
    ]);
    expect(patched.body.metadata.resourceVersion).toBe(got.body.metadata.resourceVersion);
    expect((await k.call('GET', `/api/v1/nodes/${NODE}`)).body).toEqual(patched.body);
    const renewed = await k.call('PUT', leasePath, { ...gotLease.body, spec: { ...gotLease.body.spec, renewTime: '2026-12-05T01:00:00.000000Z' } });
    expect(renewed.status).toBe(200);
    expect((await k.call('GET', leasePath)).body.spec.renewTime).toBe('2026-12-05T01:00:00.000000Z');
    // Another object's write offline is not answered: 503, the client retries online.
    expect((await k.call('POST', '/api/v1/namespaces/default/events', { metadata: { name: 'e' } })).status).toBe(503);
    // Another credential on the same node (a pod's token) may not write the node's status offline, and changes nothing.
    const pod = bed.client(again, { token: APP_TOKEN });
    expect((await pod.call('PATCH', `/api/v1/nodes/${NODE}/status`, { status: { conditions: [{ type: 'Ready', status: 'False' }] } }, 'application/merge-patch+json')).status).toBe(503);
    expect((await k.call('GET', `/api/v1/nodes/${NODE}`)).body.status.conditions[0].status).toBe('True');
    expect(again.status().pending).toEqual({ create: false, status: true, lease: true });
    // The cloud returns: the conditions are written and the Lease renewed now, before requests go upstream.
    const before = Date.now();
    bed.link.up();
    await until('online', () => again.status().state === 'online');
    const upNode = await admin.call('GET', `/api/v1/nodes/${NODE}`);
    expect(upNode.body.status.conditions[0].lastHeartbeatTime).toBe('2026-12-05T01:00:00Z');
    const upLease = await admin.call('GET', leasePath);
    expect(Date.parse(upLease.body.spec.renewTime)).toBeGreaterThanOrEqual(before - 1000);
    expect(again.status().pending).toEqual({ create: false, status: false, lease: false });
    await admin.close();
  });
});
