/**
 * store: the ResourceStore drivers side by side in one run: apply
 * throughput (8 applies in flight) and watch event latency (from the start
 * of an apply to its event leaving the watch, one apply at a time, p50 /
 * p99), for the kube
 * driver on the Kubernetes API test server (in this process, over TLS on
 * loopback) against the SQLite driver on a file. The kube figures include
 * the driver's read-before-write (GET, then POST / PUT) and its merge of the
 * kinds' watch streams (an event waits until every other watched kind's
 * stream has reached its revision; the watch here is of Nodes alone, so
 * none waits). Options: BENCH_STORE_OBJECTS (default 1000
 * applies), BENCH_STORE_EVENTS (default 300 watched applies).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { API_VERSION, openKubeStore, openSqliteStore, type ResourceStore } from '../core/store/index.ts';
import { startKubeApiServer } from '../test/support/kube-apiserver/index.ts';
import { envInt, round, versus, type Benchmark, type BenchResult } from './harness.ts';

const IN_FLIGHT = 8;

const nodeObj = (name: string, round: number) => ({ apiVersion: API_VERSION, kind: 'Node' as const, metadata: { name, labels: { round: String(round) } }, spec: { site: 'plant-a' } });

/** Applies per second with IN_FLIGHT applies in flight: creates, then as many updates. */
async function applyRate(store: ResourceStore, objects: number): Promise<number> {
  const t0 = performance.now();
  for (const r of [0, 1]) {
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < objects / 2) await store.apply(nodeObj(`n${next++}`, r));
      }),
    );
  }
  return objects / ((performance.now() - t0) / 1000);
}

/**
 * Latencies (ms) from the start of an apply to its watch event, one apply
 * at a time (the next starts once the event arrived), `events` times.
 */
async function watchLatency(store: ResourceStore, events: number): Promise<{ p50: number; p99: number }> {
  const ac = new AbortController();
  const waiting = new Map<string, () => void>();
  const watched = (async () => {
    for await (const e of store.watch({ kinds: ['Node'], signal: ac.signal })) {
      if (e.type !== 'BOOKMARK') waiting.get(e.object.metadata.name)?.();
    }
  })();
  const latencies: number[] = [];
  for (let i = 0; i < events; i++) {
    const name = `w${i}`;
    const arrived = new Promise<void>((resolve) => waiting.set(name, resolve));
    const t0 = performance.now();
    await store.apply(nodeObj(name, 0));
    await arrived;
    latencies.push(performance.now() - t0);
    waiting.delete(name);
  }
  ac.abort();
  await watched;
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] as number;
  return { p50: at(0.5), p99: at(0.99) };
}

const bench: Benchmark = {
  name: 'store',
  description: 'ResourceStore drivers: kube (Kubernetes API test server) vs SQLite, apply throughput and watch latency',
  async run(): Promise<BenchResult[]> {
    const objects = envInt('BENCH_STORE_OBJECTS', 1000);
    const events = envInt('BENCH_STORE_EVENTS', 300);
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-bench-store-'));
    const server = await startKubeApiServer({ historyLimit: 10 * objects + events });
    try {
      const sqlite = openSqliteStore({ file: path.join(dir, 'resources.db') });
      const kube = await openKubeStore({ kubeConfig: await server.kubeconfig(dir), namespace: 'default', installCrds: true });
      try {
        const sqliteRate = await applyRate(sqlite, objects);
        const kubeRate = await applyRate(kube, objects);
        const sqliteLat = await watchLatency(sqlite, events);
        const kubeLat = await watchLatency(kube, events);
        return [
          versus({ bench: 'store', metric: `apply throughput, kube driver (${IN_FLIGHT} in flight)`, value: round(kubeRate, 0), unit: 'applies/s' }, 'sqlite driver', sqliteRate),
          versus({ bench: 'store', metric: 'watch event latency p50, kube driver', value: round(kubeLat.p50), unit: 'ms' }, 'sqlite driver', sqliteLat.p50),
          versus({ bench: 'store', metric: 'watch event latency p99, kube driver', value: round(kubeLat.p99), unit: 'ms' }, 'sqlite driver', sqliteLat.p99),
        ];
      } finally {
        await kube.close();
        await sqlite.close();
      }
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
