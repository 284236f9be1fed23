/**
 * Distributed health at the hub: the cluster's key (file and kube Secret),
 * the site keys handed to the site's agents only, and the peers' verdicts
 * recorded on Nodes (and on Kubernetes Nodes as annotations).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { deriveSiteKey, NODE_UNHEALTH_ANNOTATION, VERDICT_ANNOTATION, VOTED_AT_ANNOTATION } from '../health/index.ts';
import type { HealthVerdict, NodeObject, Resource } from '../store/index.ts';
import { rawClient } from '../../test/support/kube-apiserver/client.ts';
import { kubeStoreTarget } from '../../test/support/hub/kube.ts';
import { err, quietLogger, startTestHub, type TestHub } from '../../test/support/hub/harness.ts';
import { ErrHealthKeyExists } from './errors.ts';
import { openKubeHealthKeyStore, type ClusterHealthKey, type HealthKeyStore } from './health-keys.ts';
import { openPostgresHealthKeyStore, postgresPeerCredential } from './hub-secrets-postgres.ts';
import { startPostgres, type Postgres } from '../../test/support/postgres.ts';
import { kubeNodeAnnotator, NodeHealthRecorder } from './node-health.ts';

let hub: TestHub | undefined;
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

const node = (name: string, site: string): Resource => ({ apiVersion: 'edgeadm.io/v1alpha1', kind: 'Node', metadata: { name }, spec: { site, addresses: ['10.0.0.1'] } });
const verdict = (n: string, v: HealthVerdict['verdict'], votedAt = new Date().toISOString()): HealthVerdict => ({
  node: n,
  verdict: v,
  pros: v === 'healthy' ? 3 : 0,
  cons: v === 'unhealthy' ? 3 : 0,
  expected: 3,
  since: votedAt,
  votedAt,
});

describe('the health key routes', () => {
  it('no key until an admin makes one; one key; rotation keeps the previous; ids only', async () => {
    hub = await startTestHub();
    const h = hub;
    expect(err(await h.call('GET', '/api/v1/health/key')).code).toBe('EDGE_ERR_HEALTH_NO_KEY');
    const noKey = await h.call('GET', '/api/v1/sites/plant-a/health/key', { token: h.agentA });
    expect(noKey.statusCode).toBe(404);
    expect(err(noKey).message).toMatch(/edgeadm health key create/);

    const made = await h.call('POST', '/api/v1/health/key', { body: {} });
    expect(made.statusCode).toBe(201);
    const first = made.json<{ kid: string; key?: string }>();
    expect(first.kid).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(made.json())).not.toMatch(/"key"/);
    const again = await h.call('POST', '/api/v1/health/key', { body: {} });
    expect(again.statusCode).toBe(409);
    expect(err(again).code).toBe('EDGE_ERR_HEALTH_KEY_EXISTS');

    const rotated = (await h.call('POST', '/api/v1/health/key/rotate', { body: {} })).json<{ kid: string; previous: { kid: string } }>();
    expect(rotated.kid).not.toBe(first.kid);
    expect(rotated.previous.kid).toBe(first.kid);
    expect((await h.call('GET', '/api/v1/health/key', { token: h.viewer })).json<{ kid: string }>().kid).toBe(rotated.kid);
  });

  it("each site's agents get their site's keys (derived for it alone); nobody else does", async () => {
    hub = await startTestHub();
    const h = hub;
    await h.call('POST', '/api/v1/health/key', { body: {} });
    await h.call('POST', '/api/v1/health/key/rotate', { body: {} });
    const a = (await h.call('GET', '/api/v1/sites/plant-a/health/key', { token: h.agentA })).json<{ current: { kid: string; key: string }; previous: { kid: string; key: string } }>();
    const b = (await h.call('GET', '/api/v1/sites/plant-b/health/key', { token: h.agentB })).json<{ current: { kid: string; key: string } }>();
    expect(a.current.key).not.toBe(b.current.key);
    expect(a.previous.key).not.toBe(a.current.key);
    // It is the cluster key's derivation for the site: what the agents sign with.
    const stored = (await h.healthKeys.read())!;
    expect(Buffer.from(a.current.key, 'base64url').equals(deriveSiteKey(stored.current.key, 'plant-a').key)).toBe(true);
    expect(a.current.kid).toBe(deriveSiteKey(stored.current.key, 'plant-a').kid);
    // Another site's agent, an admin and a viewer are refused: none needs a site's gossip key.
    for (const token of [h.agentB, h.admin, h.viewer]) expect((await h.call('GET', '/api/v1/sites/plant-a/health/key', { token })).statusCode).toBe(403);
    expect((await h.call('GET', '/api/v1/sites/plant-a/health/key', { token: null })).statusCode).toBe(401);
  });
});

let pgServer: Promise<Postgres> | undefined;
afterAll(async () => {
  await (await pgServer)?.close();
});

/** Two replicas' stores on one namespace (kube mode) or one database (state on PostgreSQL). */
async function twoStores(driver: 'kube' | 'postgres'): Promise<[HealthKeyStore, HealthKeyStore]> {
  if (driver === 'kube') {
    const { kubeConfig, namespace } = await kubeStoreTarget();
    return Promise.all([openKubeHealthKeyStore({ kubeConfig, namespace }), openKubeHealthKeyStore({ kubeConfig, namespace })]);
  }
  pgServer ??= startPostgres();
  const url = await (await pgServer).database(`health${process.pid}`);
  return Promise.all([openPostgresHealthKeyStore({ url }), openPostgresHealthKeyStore({ url })]);
}

describe.each(['kube', 'postgres'] as const)('the cluster key shared by replicas (%s)', (driver) => {
  it('made once across replicas; rotated by two at once, each rotation kept', async () => {
    const [one, two] = await twoStores(driver);
    try {
      expect(await one.read()).toBeUndefined();
      const results = await Promise.allSettled([one.create(), two.create()]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(ErrHealthKeyExists.is(refused.reason)).toBe(true);
      const made = (results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<ClusterHealthKey>).value;
      expect((await two.read())!.current.key.equals(made.current.key)).toBe(true);
      const [r1, r2] = await Promise.all([one.rotate(), two.rotate()]);
      const now = (await one.read())!;
      // Both rotations landed, one after the other: the newest's previous is the other's current.
      const last = now.current.key.equals(r1.current.key) ? r1 : r2;
      const other = last === r1 ? r2 : r1;
      expect(now.previous!.key.equals(other.current.key)).toBe(true);
      expect(other.previous!.key.equals(made.current.key)).toBe(true);
    } finally {
      await one.close();
      await two.close();
    }
  });
});

describe('verdicts recorded at the hub', () => {
  it("on the site's own nodes only, never one's own, an older vote never over a newer, nothing written when unchanged", async () => {
    hub = await startTestHub();
    const { store } = hub;
    for (const n of [node('gw-1', 'plant-a'), node('gw-2', 'plant-a'), node('gw-9', 'plant-b')]) await store.apply(n);
    const annotated: string[] = [];
    const r = new NodeHealthRecorder({ store, logger: quietLogger(), annotate: (n, v) => Promise.resolve(void annotated.push(`${n}=${v.verdict}`)) });
    const t0 = new Date(Date.now() - 5000).toISOString();
    expect(await r.record('plant-a', 'node:gw-1', [verdict('gw-2', 'unhealthy', t0), verdict('gw-9', 'unhealthy'), verdict('gw-1', 'unhealthy'), verdict('nope', 'unhealthy')])).toEqual({
      recorded: ['gw-2'],
      ignored: ['gw-9', 'gw-1', 'nope'],
    });
    const gw2 = (await store.get<NodeObject>('Node', 'gw-2'))!;
    expect(gw2.status?.health).toMatchObject({ verdict: 'unhealthy', cons: 3, expected: 3, reportedBy: 'node:gw-1', votedAt: t0 });
    expect((await store.get<NodeObject>('Node', 'gw-9'))!.status?.health).toBeUndefined();
    expect(annotated).toEqual(['gw-2=unhealthy']);
    // The same verdict again writes nothing.
    await r.record('plant-a', 'node:gw-1', [verdict('gw-2', 'unhealthy', t0)]);
    expect((await store.get<NodeObject>('Node', 'gw-2'))!.metadata.resourceVersion).toBe(gw2.metadata.resourceVersion);
    // An older vote (a delayed report) does not replace it; a newer one does.
    await r.record('plant-a', 'node:gw-1', [verdict('gw-2', 'healthy', new Date(Date.now() - 60_000).toISOString())]);
    expect((await store.get<NodeObject>('Node', 'gw-2'))!.status?.health?.verdict).toBe('unhealthy');
    await r.record('plant-a', 'token:x', [verdict('gw-2', 'healthy')]);
    expect((await store.get<NodeObject>('Node', 'gw-2'))!.status?.health).toMatchObject({ verdict: 'healthy', reportedBy: 'token:x' });
    expect(annotated).toEqual(['gw-2=unhealthy', 'gw-2=healthy']);
  });

  it('kube mode: the verdict as annotations on the Kubernetes Node (nodeunhealth while unhealthy), a plain machine skipped', async () => {
    const { kubeConfig, server } = await kubeStoreTarget();
    const raw = rawClient(server);
    const name = `edge-${Date.now()}`;
    expect((await raw.call('POST', '/api/v1/nodes', { metadata: { name } })).status).toBe(201);
    const a = await kubeNodeAnnotator(kubeConfig, quietLogger());
    try {
      const at = new Date().toISOString();
      await a.annotate(name, verdict(name, 'unhealthy', at));
      let ann = ((await raw.call('GET', `/api/v1/nodes/${name}`)).body as { metadata: { annotations: Record<string, string> } }).metadata.annotations;
      expect(ann).toMatchObject({ [NODE_UNHEALTH_ANNOTATION]: 'yes', [VERDICT_ANNOTATION]: 'unhealthy', [VOTED_AT_ANNOTATION]: at });
      await a.annotate(name, verdict(name, 'healthy'));
      ann = ((await raw.call('GET', `/api/v1/nodes/${name}`)).body as { metadata: { annotations: Record<string, string> } }).metadata.annotations;
      expect(ann[VERDICT_ANNOTATION]).toBe('healthy');
      expect(ann).not.toHaveProperty(NODE_UNHEALTH_ANNOTATION);
      await expect(a.annotate('not-a-kube-node', verdict('not-a-kube-node', 'unhealthy'))).resolves.toBeUndefined();
    } finally {
      await a.close();
    }
  });
});

describe('the peer credential on PostgreSQL', () => {
  it('is made by the first replica that asks, and the same for every one after, even asking at once', async () => {
    pgServer ??= startPostgres();
    const url = await (await pgServer).database(`peer${process.pid}`);
    const creds = await Promise.all([postgresPeerCredential({ url }), postgresPeerCredential({ url }), postgresPeerCredential({ url })]);
    expect(new Set(creds).size).toBe(1);
    expect(creds[0]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await postgresPeerCredential({ url })).toBe(creds[0]);
  });
});
