/**
 * The grid's controller runtime: the work queue's client-go semantics
 * (dedup, dirty set, backoff, token bucket, drain) and a Controller on the
 * Kubernetes API test server that mirrors ConfigMaps and converges after a
 * restart in the middle of a change.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startKubeApiServer, type KubeApiServer } from '../../test/support/kube-apiserver/index.ts';
import { createLogger } from '../kernel/index.ts';
import { kubeFailure, openKubeClient, type KubeClient, type KubeObject } from '../store/index.ts';
import { Controller, DEFAULT_RATE_LIMIT, WorkQueue, type Caches } from './controller.ts';
import { ErrControllerOptions, ErrReconcileTerminal } from './errors.ts';

const logger = createLogger({ level: 'silent' });

describe('WorkQueue', () => {
  it('holds a key once while it waits', async () => {
    const q = new WorkQueue({ name: 't' });
    for (const k of ['a', 'b', 'a', 'a', 'b']) q.add(k);
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.length).toBe(0);
  });

  it('never hands out a key being reconciled, and runs it again after when it was added meanwhile', async () => {
    const q = new WorkQueue({ name: 't' });
    q.add('a');
    const first = await q.get();
    expect(first).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.length).toBe(0); // dirty, not queued: a second worker cannot take it
    let second: string | undefined;
    const waiting = q.get().then((k) => (second = k));
    await new Promise((r) => setTimeout(r, 20));
    expect(second).toBeUndefined();
    q.done('a');
    await waiting;
    expect(second).toBe('a');
    q.done('a');
    expect(q.length).toBe(0); // not added again meanwhile: no third run
  });

  it('backs a failing key off exponentially up to the cap, and forget resets it', () => {
    const q = new WorkQueue({ name: 't', rateLimit: { maxDelayMs: 30, burst: 1000 }, now: () => 0 });
    expect([q.when('k'), q.when('k'), q.when('k'), q.when('k'), q.when('k')]).toEqual([5, 10, 20, 30, 30]);
    expect(q.numRequeues('k')).toBe(5);
    expect(q.when('other')).toBe(5);
    q.forget('k');
    expect(q.numRequeues('k')).toBe(0);
    expect(q.when('k')).toBe(5);
    expect(DEFAULT_RATE_LIMIT).toEqual({ baseDelayMs: 5, maxDelayMs: 1_000_000, qps: 10, burst: 100 });
  });

  it('brings a rate-limited key back after its backoff', async () => {
    const q = new WorkQueue({ name: 't', rateLimit: { baseDelayMs: 40 } });
    const t0 = performance.now();
    q.addRateLimited('k');
    expect(q.length).toBe(0);
    expect(await q.get()).toBe('k');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(35);
  });

  it('holds a burst of retries to the token bucket', async () => {
    let now = 0;
    const clocked = new WorkQueue({ name: 't', rateLimit: { baseDelayMs: 1, qps: 10, burst: 3 }, now: () => now });
    const delays = ['a', 'b', 'c', 'd', 'e', 'f'].map((k) => clocked.when(k));
    expect(delays).toEqual([1, 1, 1, 100, 200, 300]);
    now += 1000; // the bucket refills at qps, up to burst
    expect(['g', 'h', 'i', 'j'].map((k) => clocked.when(k))).toEqual([1, 1, 1, 100]);

    const q = new WorkQueue({ name: 't', rateLimit: { baseDelayMs: 1, qps: 20, burst: 2 } });
    const t0 = performance.now();
    for (const k of ['a', 'b', 'c', 'd', 'e']) q.addRateLimited(k);
    const at: number[] = [];
    for (let i = 0; i < 5; i++) {
      const k = await q.get();
      at.push(performance.now() - t0);
      q.done(k as string);
    }
    expect(at[1]).toBeLessThan(40);
    expect(at[4]).toBeGreaterThanOrEqual(140); // three beyond the burst, 50 ms apart
  });

  it('drains on shutDown: queued and running keys finish, new and delayed ones are refused', async () => {
    const q = new WorkQueue({ name: 't' });
    for (const k of ['a', 'b', 'c']) q.add(k);
    q.addAfter('later', 10_000);
    const done: string[] = [];
    const worker = (async () => {
      for (;;) {
        const k = await q.get();
        if (k === undefined) return;
        await new Promise((r) => setTimeout(r, 15));
        done.push(k);
        q.done(k);
      }
    })();
    await new Promise((r) => setTimeout(r, 5));
    const drained = q.shutDown();
    q.add('d');
    await drained;
    expect(done).toEqual(['a', 'b', 'c']);
    await worker;
    expect(await q.get()).toBeUndefined();
  });

  it('refuses options that cannot work, naming them', () => {
    expect(() => new WorkQueue({ name: 'q', rateLimit: { qps: 0 } })).toThrow(/controller q: option rateLimit.qps must be a number above 0 \(is 0\)/);
    try {
      new WorkQueue({ name: 'q', rateLimit: { burst: 0.5 } });
      expect.unreachable();
    } catch (err) {
      expect(ErrControllerOptions.is(err)).toBe(true);
    }
  });
});

describe('Controller on the Kubernetes API test server', () => {
  let server: KubeApiServer;
  let dir: string;
  let client: KubeClient;
  const ns = 'default';

  beforeAll(async () => {
    server = await startKubeApiServer({ bookmarkIntervalMs: 200 });
    dir = await mkdtemp(path.join(tmpdir(), 'edgeadm-grid-ctl-'));
    client = await openKubeClient(await server.kubeconfig(dir));
  });
  afterAll(async () => {
    await client.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const put = async (name: string, value: string): Promise<void> => {
    try {
      const got = await client.core.readNamespacedConfigMap({ name, namespace: ns });
      await client.core.replaceNamespacedConfigMap({ name, namespace: ns, body: { ...got, data: { value } } });
    } catch (err) {
      if (kubeFailure(err).status !== 404) throw err;
      await client.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, labels: { role: 'src' } }, data: { value } } });
    }
  };
  const mirrors = async (): Promise<Record<string, string>> => {
    const list = await client.core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'role=dst' });
    return Object.fromEntries(list.items.map((c) => [c.metadata?.name ?? '', c.data?.value ?? '']));
  };
  const eventually = (check: () => Promise<void>): Promise<void> => vi.waitFor(check, { timeout: 5000, interval: 25 });

  /** A controller mirroring each `src-x` ConfigMap to `dst-x`, and removing `dst-x` once `src-x` is gone. */
  function mirror(o: { inFlight?: Map<string, number>; maxInFlight?: { n: number }; slowMs?: number; metrics?: Registry; fail?: (key: string) => Error | undefined } = {}): Controller {
    return new Controller({
      name: 'mirror',
      client,
      logger,
      workers: 3,
      ...(o.metrics === undefined ? {} : { metrics: o.metrics }),
      sources: [
        {
          name: 'configmaps',
          path: `/api/v1/namespaces/${ns}/configmaps`,
          list: async (cl, page) => (await cl.core.listNamespacedConfigMap({ namespace: ns, limit: page.limit, ...(page.continue === undefined ? {} : { _continue: page.continue }) })) as unknown as { items: KubeObject[] },
          keys: (obj) => {
            const name = obj.metadata?.name ?? '';
            return name.startsWith('src-') ? [name.slice(4)] : name.startsWith('dst-') ? [name.slice(4)] : [];
          },
        },
      ],
      async reconcile(key: string, caches: Caches) {
        const n = (o.inFlight?.get(key) ?? 0) + 1;
        o.inFlight?.set(key, n);
        if (o.maxInFlight) o.maxInFlight.n = Math.max(o.maxInFlight.n, n);
        try {
          if (o.slowMs) await new Promise((r) => setTimeout(r, o.slowMs));
          const failure = o.fail?.(key);
          if (failure !== undefined) throw failure;
          const cache = caches.get('configmaps');
          const src = cache?.get(`${ns}/src-${key}`) as { data?: Record<string, string> } | undefined;
          const dst = cache?.get(`${ns}/dst-${key}`) as { data?: Record<string, string>; metadata?: { resourceVersion?: string } } | undefined;
          if (src === undefined) {
            if (dst !== undefined) await client.core.deleteNamespacedConfigMap({ name: `dst-${key}`, namespace: ns });
            return;
          }
          const value = src.data?.value ?? '';
          if (dst === undefined) await client.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `dst-${key}`, labels: { role: 'dst' } }, data: { value } } });
          else if (dst.data?.value !== value) await client.core.replaceNamespacedConfigMap({ name: `dst-${key}`, namespace: ns, body: { ...(dst as object), data: { value } } });
        } finally {
          o.inFlight?.set(key, (o.inFlight.get(key) ?? 1) - 1);
        }
      },
    });
  }

  it('reconciles one key at a time, however many changes arrive, and ends on the last state', async () => {
    const inFlight = new Map<string, number>();
    const maxInFlight = { n: 0 };
    const metrics = new Registry();
    const c = mirror({ inFlight, maxInFlight, slowMs: 30, metrics });
    await c.start();
    try {
      for (let i = 0; i < 8; i++) await put('src-busy', `v${i}`);
      await eventually(async () => expect((await mirrors())['dst-busy']).toBe('v7'));
      expect(maxInFlight.n).toBe(1);
      const text = await metrics.metrics();
      expect(text).toMatch(/edgeadm_grid_reconciles_total\{controller="mirror",result="success"\} [1-9]/);
      expect(text).toMatch(/edgeadm_grid_queue_depth\{controller="mirror"\} 0/);
    } finally {
      await c.stop();
    }
  });

  it('retries a failing key with backoff until it succeeds (which resets it), and drops a terminal one', async () => {
    const calls = new Map<string, number>();
    const flakyAt: number[] = [];
    const c = mirror({
      fail: (key) => {
        const n = (calls.get(key) ?? 0) + 1;
        calls.set(key, n);
        if (key === 'flaky') flakyAt.push(performance.now());
        if (key === 'flaky' && n <= 3) return new Error('kube said no');
        if (key === 'doomed') return new ErrReconcileTerminal({ controller: 'mirror', key, reason: 'it can never work' });
        return undefined;
      },
    });
    await c.start();
    try {
      await put('src-flaky', 'f');
      await put('src-doomed', 'd');
      await eventually(async () => expect((await mirrors())['dst-flaky']).toBe('f'));
      // Three failures, retried after 5, 10 and 20 ms; the success and the write's own event may follow.
      expect(flakyAt.length).toBeGreaterThanOrEqual(4);
      expect((flakyAt[3] ?? 0) - (flakyAt[2] ?? 0)).toBeGreaterThanOrEqual(15);
      expect(c.queue.numRequeues('flaky')).toBe(0);
      await new Promise((r) => setTimeout(r, 100));
      expect(calls.get('doomed')).toBe(1);
      expect(await mirrors()).not.toHaveProperty('dst-doomed');
    } finally {
      await c.stop();
    }
    await client.core.deleteNamespacedConfigMap({ name: 'src-doomed', namespace: ns });
  });

  it('converges after a restart in the middle of a change', async () => {
    const first = mirror();
    await first.start();
    await put('src-a', '1');
    await put('src-gone', 'x');
    await eventually(async () => expect(await mirrors()).toMatchObject({ 'dst-a': '1', 'dst-gone': 'x' }));
    await put('src-a', '2'); // written, and the controller stops at once: it may or may not have seen it
    await first.stop();
    // While no controller runs: a change, a new source, a removed source.
    await put('src-a', '3');
    await put('src-b', '1');
    await client.core.deleteNamespacedConfigMap({ name: 'src-gone', namespace: ns });
    expect((await mirrors())['dst-a']).not.toBe('3');

    const second = mirror();
    await second.start();
    try {
      await eventually(async () => {
        const m = await mirrors();
        expect(m).toMatchObject({ 'dst-a': '3', 'dst-b': '1' });
        expect(m).not.toHaveProperty('dst-gone');
      });
    } finally {
      await second.stop();
    }
  });

  it('queues every key again after a relist (410 Gone), though nothing changed', async () => {
    const seen: string[] = [];
    const c = mirror({ fail: (key) => void seen.push(key) });
    await put('src-steady', 's');
    await c.start();
    try {
      await eventually(async () => expect((await mirrors())['dst-steady']).toBe('s'));
      await new Promise((r) => setTimeout(r, 50));
      seen.length = 0;
      // A write elsewhere moves the revision on; compacted, the watch's own revision is gone and it must list again.
      let n = 0;
      await eventually(async () => {
        await client.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: `elsewhere-${n++}` } } });
        server.compact();
        server.endWatches();
        await new Promise((r) => setTimeout(r, 150));
        expect(seen).toContain('steady');
      });
    } finally {
      await c.stop();
    }
  });

  it('fails to start, naming the collection, when a source is not served', async () => {
    const c = new Controller({
      name: 'missing',
      client,
      logger,
      sources: [
        {
          name: 'widgets',
          path: '/apis/example.com/v1/widgets',
          list: async (cl, page) => (await cl.custom.listClusterCustomObject({ group: 'example.com', version: 'v1', plural: 'widgets', limit: page.limit })) as { items: KubeObject[] },
        },
      ],
      reconcile: () => Promise.resolve(),
    });
    await expect(c.start()).rejects.toThrow(/list .*\/apis\/example.com\/v1\/widgets/);
    await c.stop();
  });

  it('refuses a worker count that cannot work', () => {
    expect(() => new Controller({ name: 'c', client, logger, sources: [], workers: 0, reconcile: () => Promise.resolve() })).toThrow(/controller c: option workers must be a whole number of at least 1 \(is 0\)/);
  });
});
