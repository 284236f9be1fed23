/**
 * telemetry-store: the hub's telemetry store alone, SQLite against
 * PostgreSQL (Debian's, started here on a private port), in one run.
 *
 * - Ingest: BENCH_TS_READINGS readings (default 200,000) from 20 sites, in
 *   batches of 500 as outboxes send them, 8 batches in flight: into SQLite
 *   (one hub), then into PostgreSQL through 1, 2 and 3 replicas (store
 *   instances with their own connection pools, the batches spread over
 *   them round-robin, as a balancer does). Readings/s; the peer is SQLite.
 * - Live streams across replicas: 200 batches of 50 stored through one
 *   replica, the time until another replica's live subscriber has them
 *   (LISTEN/NOTIFY), p50 and p99; the peer is the storing replica's own
 *   subscriber.
 * - Export: 50,000 stored readings (or fewer) to Mosquitto at QoS 1 with
 *   the durable cursor, as JSON and as Sparkplug B; the peer is mqtt.js
 *   publishing the same JSON bare, 1,000 in flight.
 * - Query: the latest 100 readings of one device (the console's and the
 *   API's most common read), p50 and p99 over 200 queries, on what the
 *   ingest left (stated in the metric).
 *
 * PostgreSQL runs with fsync off (a test cluster), SQLite with WAL and
 * synchronous=NORMAL (the hub's own settings): both commit each batch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Reading } from '../core/sdk/index.ts';
import { openPostgresTelemetryStore, openTelemetryStore, startTelemetryExport, type TelemetryStore } from '../core/telemetry/index.ts';
import { startMosquitto } from '../test/support/mosquitto.ts';
import { startPostgres } from '../test/support/postgres.ts';
import { envInt, round, versus, type Benchmark, type BenchResult } from './harness.ts';

const SITES = 20;
const DEVICES = 10;
const BATCH = 500;
const IN_FLIGHT = 8;
const BASE = 1_780_000_000_000_000_000;

/** Every batch of the run, per site in seq order. */
function batches(total: number): { site: string; readings: Reading[] }[] {
  const perSite = Math.ceil(total / SITES);
  const out: { site: string; readings: Reading[] }[] = [];
  for (let s = 0; s < SITES; s++) {
    const site = `s-${s}`;
    for (let from = 1; from <= perSite; from += BATCH) {
      const readings: Reading[] = [];
      for (let seq = from; seq < Math.min(from + BATCH, perSite + 1); seq++) {
        readings.push({ site, device: `d-${seq % DEVICES}`, profile: 'meter', resource: 'power', value: seq % 1000, valueType: 'Float64', units: 'kW', origin: BASE + seq * 1_000_000, quality: 'good', seq });
      }
      out.push({ site, readings });
    }
  }
  // Sites interleaved, as many outboxes send at once; a site's batches stay in order.
  return out.sort((x, y) => x.readings[0]!.seq - y.readings[0]!.seq || (x.site < y.site ? -1 : 1));
}

/** Readings/s of ingesting every batch through `stores` (round-robin), IN_FLIGHT at a time, a site's batches in order. */
async function ingestRate(stores: readonly TelemetryStore[], all: readonly { site: string; readings: Reading[] }[]): Promise<number> {
  const bySite = new Map<string, { site: string; readings: Reading[] }[]>();
  for (const b of all) bySite.set(b.site, [...(bySite.get(b.site) ?? []), b]);
  let turn = 0;
  let total = 0;
  const t0 = performance.now();
  // Each worker drains whole sites one batch at a time, so a stream's batches arrive in order.
  const queues = [...bySite.values()];
  const worker = async (): Promise<void> => {
    for (let q = queues.shift(); q !== undefined; q = queues.shift()) {
      for (const b of q) {
        const store = stores[turn++ % stores.length]!;
        const r = await store.ingest({ site: b.site, producer: 'token:bench', stream: { id: 'bench-ingest', lastSeq: b.readings.at(-1)!.seq } }, b.readings);
        total += r.accepted;
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const s = (performance.now() - t0) / 1000;
  if (total !== all.reduce((n, b) => n + b.readings.length, 0)) throw new Error(`bench: ${total} readings accepted, not every one`);
  return total / s;
}

async function latestP(store: TelemetryStore): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < 220; i++) {
    const t0 = performance.now();
    const page = await store.query({ site: `s-${i % SITES}`, device: `d-${i % DEVICES}`, descending: true, limit: 100 });
    if (i >= 20) times.push(performance.now() - t0);
    if (page.items.length !== 100) throw new Error('bench: a latest page is short');
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length / 2)]!, p99: times[Math.floor(times.length * 0.99)]! };
}

const bench: Benchmark = {
  name: 'telemetry-store',
  description: 'the hub telemetry store: ingest readings/s into PostgreSQL through 1, 2 and 3 hub replicas vs SQLite, live streams across replicas, export to Mosquitto, and latest-100 query latency, in one run',
  async run(): Promise<BenchResult[]> {
    const total = envInt('BENCH_TS_READINGS', 200_000);
    const all = batches(total);
    const results: BenchResult[] = [];
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-bench-ts-'));
    const pg = await startPostgres();
    try {
      let exportRows: BenchResult[] = [];
      const sqlite = openTelemetryStore({ file: path.join(dir, 'telemetry.db') });
      const sqliteRate = await ingestRate([sqlite], all);
      const sq = await latestP(sqlite);
      // Export: every stored reading to Mosquitto at QoS 1, against publishing the same payloads bare.
      {
        const broker = await startMosquitto();
        try {
          const n = Math.min(total, 50_000);
          const exportStore = openTelemetryStore({ file: path.join(dir, 'export.db') });
          await ingestRate([exportStore], batches(n));
          const t0 = performance.now();
          const exp = await startTelemetryExport({ store: exportStore, url: broker.url, batch: 1000 });
          while (exp.exported < n) await new Promise((r) => setTimeout(r, 5));
          const exportRate = n / ((performance.now() - t0) / 1000);
          await exp.stop();
          // The same readings as Sparkplug B (a session per site, births, protobuf payloads), under another exporter's cursor.
          const t2 = performance.now();
          const spb = await startTelemetryExport({ store: exportStore, url: broker.url, batch: 1000, format: 'sparkplug', name: 'bench-sparkplug' });
          while (spb.exported < n) await new Promise((r) => setTimeout(r, 5));
          const sparkplugRate = n / ((performance.now() - t2) / 1000);
          await spb.stop();
          const page = (await exportStore.streamReadings({ site: 's-0', producer: 'token:bench', id: 'bench-ingest' }, 0, 1000)).map((r) => JSON.stringify(r));
          await exportStore.close();
          const { connectAsync } = await import('mqtt');
          const bare = await connectAsync(broker.url, { clientId: 'bench-bare', clean: true });
          const t1 = performance.now();
          for (let sent = 0; sent < n; sent += page.length) await Promise.all(page.map((p) => bare.publishAsync('bench/bare', p, { qos: 1 })));
          const bareRate = n / ((performance.now() - t1) / 1000);
          await bare.endAsync();
          exportRows = [
            versus({ bench: 'telemetry-store', metric: `export to Mosquitto, QoS 1, ${n} readings (SQLite store, durable cursor)`, value: round(exportRate, 0), unit: 'readings/s' }, 'bare mqtt.js QoS 1 publishes of the same JSON', bareRate),
            versus({ bench: 'telemetry-store', metric: `export to Mosquitto as Sparkplug B, ${n} readings (20 edge nodes, DDATA per device and step)`, value: round(sparkplugRate, 0), unit: 'readings/s' }, 'bare mqtt.js QoS 1 publishes of the same JSON', bareRate),
          ];
        } finally {
          await broker.close();
        }
      }
      await sqlite.close();
      results.push({ bench: 'telemetry-store', metric: `ingest into SQLite (one hub), ${total} readings`, value: round(sqliteRate, 0), unit: 'readings/s' });
      const peer = 'SQLite, one hub';
      let pgQuery: { p50: number; p99: number } | undefined;
      for (const replicas of [1, 2, 3]) {
        const url = await pg.database(`bench_${replicas}`);
        const stores = await Promise.all(Array.from({ length: replicas }, () => openPostgresTelemetryStore({ url, poolSize: 8 })));
        const rate = await ingestRate(stores, all);
        if (replicas === 1) pgQuery = await latestP(stores[0]!);
        await Promise.all(stores.map((s) => s.close()));
        results.push(versus({ bench: 'telemetry-store', metric: `ingest into PostgreSQL, ${replicas} replica(s)`, value: round(rate, 0), unit: 'readings/s' }, peer, sqliteRate));
      }
      // Live streams across replicas: a batch stored through one, heard by another's subscriber (LISTEN/NOTIFY).
      {
        const url = await pg.database('bench_live');
        const [a, b] = await Promise.all([openPostgresTelemetryStore({ url }), openPostgresTelemetryStore({ url })]);
        const own: number[] = [];
        const other: number[] = [];
        const sent = new Map<number, number>();
        a.subscribe({}, (rs) => own.push(performance.now() - sent.get(rs[0]!.seq)!));
        b.subscribe({}, (rs) => other.push(performance.now() - sent.get(rs[0]!.seq)!));
        const first50 = all.find((x) => x.site === 's-0')!.readings.slice(0, 50);
        for (let i = 0; i < 200; i++) {
          const rs = first50.map((r) => ({ ...r, seq: i * 50 + r.seq }));
          sent.set(rs[0]!.seq, performance.now());
          await a.ingest({ site: 's-0', producer: 'token:bench', stream: { id: 'bench-live', lastSeq: rs.at(-1)!.seq } }, rs);
          const until = performance.now() + 5000;
          while (other.length < i + 1 && performance.now() < until) await new Promise((r) => setTimeout(r, 1));
        }
        await Promise.all([a.close(), b.close()]);
        if (other.length < 200) throw new Error(`bench: another replica heard ${other.length} of 200 batches`);
        const p = (xs: number[], q: number): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length * q)]!;
        results.push(versus({ bench: 'telemetry-store', metric: "a batch to another replica's live subscriber, p50 (LISTEN/NOTIFY)", value: round(p(other, 0.5), 2), unit: 'ms' }, "the storing replica's own subscriber", p(own, 0.5)));
        results.push(versus({ bench: 'telemetry-store', metric: "a batch to another replica's live subscriber, p99 (LISTEN/NOTIFY)", value: round(p(other, 0.99), 2), unit: 'ms' }, "the storing replica's own subscriber", p(own, 0.99)));
      }
      results.push(versus({ bench: 'telemetry-store', metric: `latest 100 of a device, p50, ${total} readings stored (PostgreSQL)`, value: round(pgQuery!.p50, 2), unit: 'ms' }, 'SQLite', sq.p50));
      results.push(versus({ bench: 'telemetry-store', metric: `latest 100 of a device, p99, ${total} readings stored (PostgreSQL)`, value: round(pgQuery!.p99, 2), unit: 'ms' }, 'SQLite', sq.p99));
      results.push(...exportRows);
    } finally {
      await pg.close();
      rmSync(dir, { recursive: true, force: true });
    }
    return results;
  },
};

export default bench;
