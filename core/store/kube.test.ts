/**
 * The kube ResourceStore against the Kubernetes API test server over TLS,
 * through @kubernetes/client-node: the shared store contract (contract.ts,
 * each test in a fresh namespace), and what only this driver does:
 * optimistic concurrency between two stores, the site labels as kube
 * stores them, 410 Gone after compaction and recovery by listing again,
 * watches resumed after kube ends them with nothing missed or duplicated,
 * a store restarted mid-watch, the merge of the kinds' streams in revision
 * order (a lagging kind waited for, idle kinds moved on, under load), and
 * what opening checks.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call -- raw answers are arbitrary Kubernetes JSON (RawResponse.body) */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rawClient } from '../../test/support/kube-apiserver/client.ts';
import { startKubeApiServer, type KubeApiServer } from '../../test/support/kube-apiserver/index.ts';
import { addon, briefFrom, describeStoreContract, node, rejection, site, take } from './contract.ts';
import { openKubeStore, StoreErrors, type ResourceStore, type WatchEvent } from './index.ts';

let server: KubeApiServer;
let dir: string;
let kubeconfig: string;
let raw: ReturnType<typeof rawClient>;
let namespaces = 0;
const opened: ResourceStore[] = [];

beforeAll(async () => {
  server = await startKubeApiServer({ bookmarkIntervalMs: 50, historyLimit: 100_000 });
  dir = await mkdtemp(path.join(tmpdir(), 'edgeadm-kube-store-'));
  kubeconfig = await server.kubeconfig(dir);
  raw = rawClient(server);
  // The CRDs once for the whole file; each store after that only checks they are served.
  opened.push(await openKubeStore({ kubeConfig: kubeconfig, namespace: 'default', installCrds: true }));
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

afterAll(async () => {
  await raw.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** A new namespace for one store's objects. */
async function namespace(): Promise<string> {
  const name = `store-${++namespaces}`;
  const r = await raw.call('POST', '/api/v1/namespaces', { metadata: { name } });
  expect(r.status).toBe(201);
  return name;
}

async function store(ns: string, extra: Partial<Parameters<typeof openKubeStore>[0]> = {}): Promise<ResourceStore> {
  const s = await openKubeStore({ kubeConfig: kubeconfig, namespace: ns, ...extra });
  opened.push(s);
  return s;
}

describeStoreContract('kube', async () => ({ store: await openKubeStore({ kubeConfig: kubeconfig, namespace: await namespace() }) }));

describe('kube store: objects as kube keeps them', () => {
  it('labels objects with their site for selection, hidden on read; a disagreeing user label is refused', async () => {
    const ns = await namespace();
    const s = await store(ns);
    await s.apply(node('n1', 'plant-a', { role: 'gateway' }));
    await s.apply(site('plant-a'));
    await s.apply(addon('modbus', ['plant-a', 'plant-b']));
    const kn = (await raw.call('GET', `/apis/edgeadm.io/v1alpha1/namespaces/${ns}/nodes/n1`)).body;
    expect(kn.metadata.labels).toEqual({ role: 'gateway', 'edgeadm.io/site': 'plant-a' });
    expect(kn.metadata.annotations).toEqual({ 'edgeadm.io/store-labels': 'edgeadm.io/site' });
    const ka = (await raw.call('GET', `/apis/edgeadm.io/v1alpha1/namespaces/${ns}/addons/modbus`)).body;
    expect(ka.metadata.labels).toEqual({ 'site.edgeadm.io/plant-a': '', 'site.edgeadm.io/plant-b': '' });
    // kubectl-style selection works on them.
    const bySite = (await raw.call('GET', `/apis/edgeadm.io/v1alpha1/namespaces/${ns}/nodes?labelSelector=edgeadm.io/site%3Dplant-a`)).body;
    expect(bySite.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['n1']);

    const wrong = await rejection(s.apply(node('n2', 'plant-a', { 'edgeadm.io/site': 'plant-b' })));
    expect(wrong.code).toBe('EDGE_ERR_STORE_SITE_LABEL');
    expect(wrong.message).toContain("Node 'n2': label edgeadm.io/site='plant-b' disagrees with its site 'plant-a'");
    expect((await rejection(s.apply({ ...addon('x', ['plant-a']), metadata: { name: 'x', labels: { 'site.edgeadm.io/plant-c': '' } } }))).code).toBe(
      'EDGE_ERR_STORE_SITE_LABEL',
    );
    // One that agrees is the user's own label, and reads back.
    const own = await s.apply(node('n3', 'plant-a', { 'edgeadm.io/site': 'plant-a' }));
    expect(own.metadata.labels).toEqual({ 'edgeadm.io/site': 'plant-a' });
    expect((await s.get('Node', 'n3'))?.metadata.labels).toEqual({ 'edgeadm.io/site': 'plant-a' });
    expect((await s.list('Node', { site: 'plant-a' })).items.map((i) => i.metadata.name)).toEqual(['n1', 'n3']);
  });

  it('two stores on one namespace: a pinned resourceVersion is a precondition, an unpinned write retries its read', async () => {
    const ns = await namespace();
    const a = await store(ns);
    const b = await store(ns);
    const first = await a.apply(node('n1', 'plant-a'));
    const byB = await b.apply(node('n1', 'plant-a', { by: 'b' }), { resourceVersion: first.metadata.resourceVersion });
    const stale = await rejection(a.apply(node('n1', 'plant-a', { by: 'a' }), { resourceVersion: first.metadata.resourceVersion }));
    expect(stale.code).toBe('EDGE_ERR_STORE_CONFLICT');
    expect(stale.message).toContain(`expected at resourceVersion ${String(first.metadata.resourceVersion)} but is at ${String(byB.metadata.resourceVersion)}`);
    // Many unpinned writers at once: every write lands (each retried on kube's 409), none is lost to a conflict.
    const writes = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).updateStatus('Node', 'n1', { message: `w${i}` }));
    const labels = Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? b : a).apply(node('n1', 'plant-a', { by: `x${i}` })));
    const results = await Promise.all([...writes, ...labels]);
    expect(results).toHaveLength(18);
    const final = await a.get('Node', 'n1');
    expect(final?.metadata.labels?.by).toMatch(/^x[0-5]$/);
    expect(final?.status).toMatchObject({ message: expect.stringMatching(/^w\d+$/) as unknown });
    expect(await b.get('Node', 'n1')).toEqual(final);
  });
});

describe('kube store: watch across kube\'s own failures', () => {
  it('a resourceVersion kube compacted away ends the iteration with GONE; listing again and watching from the list works', async () => {
    const ns = await namespace();
    const s = await store(ns);
    await s.apply(site('plant-a'));
    const old = await s.currentResourceVersion();
    await s.apply(node('n1', 'plant-a'));
    server.compact();
    const err = await rejection(take(s.watch({ resourceVersion: old }), 1));
    expect(err.code).toBe('EDGE_ERR_STORE_GONE');
    expect(err.statusCode).toBe(410);
    expect(err.message).toContain(`resourceVersion ${old} is gone`);
    const listed = await s.list('Node');
    expect(listed.items.map((i) => i.metadata.name)).toEqual(['n1']);
    const w = take(s.watch({ resourceVersion: listed.resourceVersion, kinds: ['Node'] }), 1);
    await s.apply(node('n2', 'plant-a'));
    expect((await w).map(briefFrom(listed.resourceVersion))).toEqual(['ADDED Node/n2@+1']);
  });

  it('resumes after kube ends its watches, from the last revision seen: nothing missed, nothing twice, in order', async () => {
    const ns = await namespace();
    const s = await store(ns, { watchBackoffMs: { initial: 20, max: 200 } });
    const base = await s.currentResourceVersion();
    const collected = take(s.watch({ resourceVersion: base }), 60, 20_000);
    for (let i = 0; i < 30; i++) {
      await s.apply(node(`n${i}`, i % 2 === 0 ? 'plant-a' : 'plant-b'));
      await s.apply(addon(`a${i}`, ['plant-a']));
      if (i % 5 === 2) server.endWatches();
    }
    const got = (await collected).map((e) => Number(BigInt(e.object.metadata.resourceVersion ?? '0') - BigInt(base)));
    expect(got).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });

  it('a new store watching from the revision an old one stopped at gets exactly the rest', async () => {
    const ns = await namespace();
    const first = await store(ns);
    const base = await first.currentResourceVersion();
    for (let i = 0; i < 5; i++) await first.apply(node(`n${i}`, 'plant-a'));
    const seen = await take(first.watch({ resourceVersion: base }), 3);
    const stoppedAt = seen[2]?.object.metadata.resourceVersion as string;
    await first.close();
    const writer = await store(ns);
    await writer.delete('Node', 'n0');
    await writer.updateStatus('Node', 'n1', { connected: true });
    const second = await store(ns);
    const rest = await take(second.watch({ resourceVersion: stoppedAt }), 4);
    expect(rest.map(briefFrom(base))).toEqual(['ADDED Node/n3@+4', 'ADDED Node/n4@+5', 'DELETED Node/n0@+6', 'MODIFIED Node/n1@+7']);
  });

  it('merges the kinds\' streams in revision order under interleaved writes of several kinds', async () => {
    const ns = await namespace();
    const s = await store(ns);
    const base = await s.currentResourceVersion();
    const collected = take(s.watch({ resourceVersion: base }), 90, 20_000);
    for (let i = 0; i < 30; i++) {
      await Promise.all([s.apply(node(`n${i}`, 'plant-a')), s.apply(site(`s${i}`)), s.apply(addon(`a${i}`, [`s${i}`]))]);
    }
    const revisions = (await collected).map((e: WatchEvent) => BigInt(e.object.metadata.resourceVersion ?? '0') - BigInt(base));
    expect(revisions).toEqual(Array.from({ length: 90 }, (_, i) => BigInt(i + 1)));
  });
});

describe('kube store: the merge of the kinds\' streams', () => {
  /** The revisions of events and bookmarks, relative to `base`, as `K+n` (event of kind K) or `B+n` (bookmark). */
  const marks = (base: string) => (e: WatchEvent) => `${e.type === 'BOOKMARK' ? 'B' : (e.object.kind[0] as string)}+${String(BigInt(e.object.metadata.resourceVersion ?? '0') - BigInt(base))}`;

  it('holds an event until a lagging kind\'s stream has caught up, and no bookmark overtakes it', async () => {
    const ns = await namespace();
    const s = await store(ns);
    const base = await s.currentResourceVersion();
    server.delayWatches('nodes', 400);
    try {
      const got = take(s.watch({ resourceVersion: base, kinds: ['Site', 'Node', 'Addon'] }), 2, 10_000);
      await s.apply(node('n1', 'plant-a'));
      await s.apply(site('s1'));
      // The Site event reaches the merge 400 ms before the Node event written before it: it waits for it.
      expect((await got).map(briefFrom(base))).toEqual(['ADDED Node/n1@+1', 'ADDED Site/s1@+2']);
    } finally {
      server.delayWatches('nodes', 0);
    }
    // With bookmarks asked for: none is sent while an event is held, and none claims a revision before one delivered.
    server.delayWatches('addons', 300);
    try {
      const it = s.watch({ resourceVersion: base, kinds: ['Site', 'Node', 'Addon'], bookmarkIntervalMs: 5 });
      const collected = (async () => {
        const out: WatchEvent[] = [];
        for await (const e of it) {
          out.push(e);
          if (e.object.kind === 'Site' && e.object.metadata.name === 's2') break;
        }
        return out;
      })();
      await s.apply(addon('a1', ['s1']));
      await s.apply(site('s2'));
      const seq = (await collected).map(marks(base));
      const revisions = seq.map((m) => Number(m.slice(2)));
      expect(seq.filter((m) => !m.startsWith('B'))).toEqual(['N+1', 'S+2', 'A+3', 'S+4']);
      // Bookmarks never go back, and an event comes strictly after every bookmark before it.
      seq.forEach((m, i) => expect(i === 0 || (m.startsWith('B') ? (revisions[i] as number) >= (revisions[i - 1] as number) : (revisions[i] as number) > (revisions[i - 1] as number))).toBe(true));
    } finally {
      server.delayWatches('addons', 0);
    }
  });

  it('moves idle kinds on by itself when kube sends no bookmarks of its own, and trusts only their streams', async () => {
    // A server whose watches get bookmarks only 2 s before their deadline, as kube-apiserver's about once a minute.
    const quiet = await startKubeApiServer({ bookmarkIntervalMs: 600_000 });
    try {
      const s = await openKubeStore({ kubeConfig: await quiet.kubeconfig(path.join(dir, 'quiet.yaml')), namespace: 'default', installCrds: true });
      opened.push(s);
      const base = await s.currentResourceVersion();
      const w = take(s.watch({ resourceVersion: base }), 3, 15_000);
      await s.apply(node('n1', 'plant-a'));
      await s.apply(site('s1'));
      // The Site event needs every other kind at its revision - 1; the idle ones get there only through the driver's probes.
      await s.apply(addon('a1', ['s1']));
      expect((await w).map(briefFrom(base))).toEqual(['ADDED Node/n1@+1', 'ADDED Site/s1@+2', 'ADDED Addon/a1@+3']);

      // A progress read answers at once, but a Node event before it still on its way on the Node stream is waited for.
      quiet.delayWatches('nodes', 1500);
      const from = await s.currentResourceVersion();
      const w2 = take(s.watch({ resourceVersion: from, kinds: ['Node', 'Site'] }), 2, 15_000);
      await s.apply(node('n2', 'plant-a'));
      await s.apply(site('s2'));
      expect((await w2).map(briefFrom(from))).toEqual(['ADDED Node/n2@+1', 'ADDED Site/s2@+2']);
    } finally {
      await quiet.close();
    }
  });

  it('keeps revision order with concurrent writers of three kinds while the process is busy', async () => {
    const ns = await namespace();
    const watcher = await store(ns);
    const writers = [await store(ns), await store(ns), await store(ns)];
    const base = await watcher.currentResourceVersion();
    const perKind = 30;
    const collected = take(watcher.watch({ resourceVersion: base }), 3 * perKind, 80_000);
    // Stalls of the event loop, as a loaded CPU makes them: data sits unread in the sockets meanwhile.
    let busy = true;
    const hog = (async () => {
      while (busy) {
        const until = Date.now() + 30;
        while (Date.now() < until);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      await Promise.all([
        (async () => {
          for (let i = 0; i < perKind; i++) await (writers[0] as ResourceStore).apply(node(`n${i}`, 'plant-a'));
        })(),
        (async () => {
          for (let i = 0; i < perKind; i++) await (writers[1] as ResourceStore).apply(site(`s${i}`));
        })(),
        (async () => {
          for (let i = 0; i < perKind; i++) await (writers[2] as ResourceStore).apply(addon(`a${i}`, ['plant-a']));
        })(),
      ]);
    } finally {
      busy = false;
      await hog;
    }
    const revisions = (await collected).map((e) => Number(BigInt(e.object.metadata.resourceVersion ?? '0') - BigInt(base)));
    expect(revisions).toEqual(Array.from({ length: 3 * perKind }, (_, i) => i + 1));
  }, 90_000);
});

describe('kube store: opening', () => {
  it('refuses bad options and a cluster without the CRDs, naming what is wrong', async () => {
    await expect(openKubeStore({ kubeConfig: kubeconfig, namespace: 'Not_A_Namespace' })).rejects.toThrow(StoreErrors.ErrKubeOptions);
    await expect(openKubeStore({ kubeConfig: path.join(dir, 'missing.yaml'), namespace: 'default' })).rejects.toThrow(/kubeConfig/);
    const bare = await startKubeApiServer();
    try {
      const err = await rejection(openKubeStore({ kubeConfig: await bare.kubeconfig(path.join(dir, 'bare.yaml')), namespace: 'default' }));
      expect(err.code).toBe('EDGE_ERR_STORE_KUBE');
      expect(err.message).toContain('sites.edgeadm.io');
      expect(err.message).toContain('HTTP 404');
    } finally {
      await bare.close();
    }
  });
});
