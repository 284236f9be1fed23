/**
 * telemetry-volume: the hub telemetry store's queries with many readings
 * stored, PostgreSQL (Debian's, started here) against SQLite, in one run.
 *
 * - Stored: BENCH_TV_READINGS readings (default 20,000,000): 100 sites of
 *   10 devices, one stream per site, spread over 7 days (a reading of each
 *   device every ~30 s at the default). Each store takes the first reading
 *   of every site and day through its API (so it makes its streams and, on
 *   PostgreSQL, its daily partitions); the rest are written by SQL in the
 *   engine, in bulk, with the columns the drivers write, and the streams'
 *   counters set to match. Load time and size on disk are reported.
 * - Queries, each p50 and p99 over 300 runs on random devices or sites:
 *   the latest 100 of a device (the console's and the API's most common
 *   read), one hour of a device (from/to, ascending), the latest 100 of a
 *   site. The peer of each is SQLite.
 *
 * PostgreSQL runs with fsync off (a test cluster) and its defaults
 * otherwise (shared_buffers 128 MB); SQLite with the hub's settings.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Reading } from '../core/sdk/index.ts';
import { openPostgresTelemetryStore, openTelemetryStore, type TelemetryQuery, type TelemetryStore } from '../core/telemetry/index.ts';
import { startPostgres } from '../test/support/postgres.ts';
import { envInt, round, versus, type Benchmark, type BenchResult } from './harness.ts';

const SITES = 100;
const DEVICES = 10;
const DAYS = 7;
const DAY_NS = 86_400_000_000_000;
/** Midnight UTC, 10 days ago: every reading is in the past, within a week. */
const START = (Math.floor(Date.now() / 86_400_000) - 10) * DAY_NS;
const PRODUCER = 'token:bench';
const STREAM = 'bench-volume';

interface Shape {
  perSite: number;
  /** ns between a site's readings. */
  step: number;
}

const originOf = (s: Shape, seq: number): number => START + (seq - 1) * s.step;
/** The seqs the API stores: the first of each day. */
const daySeqs = (s: Shape): number[] => Array.from({ length: DAYS }, (_, d) => Math.ceil((d * DAY_NS) / s.step) + 1).filter((q) => q <= s.perSite);

/** The first reading of every site and day, through the store's own ingest. */
async function seed(store: TelemetryStore, s: Shape): Promise<void> {
  for (let i = 0; i < SITES; i++) {
    const site = `s-${i}`;
    const readings: Reading[] = daySeqs(s).map((seq) => ({
      site,
      device: `d-${seq % DEVICES}`,
      profile: 'meter',
      resource: 'power',
      value: seq % 1000,
      valueType: 'Float64',
      units: 'kW',
      origin: originOf(s, seq),
      quality: 'good',
      seq,
    }));
    await store.ingest({ site, producer: PRODUCER, stream: { id: STREAM, lastSeq: s.perSite } }, readings);
  }
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/** p50 and p99 (ms) of `runs` queries made by `make` from a random number. */
async function latency(store: TelemetryStore, runs: number, make: (r: () => number) => TelemetryQuery, expect: (n: number) => boolean): Promise<{ p50: number; p99: number }> {
  let seed = 42;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let i = 0; i < 20; i++) await store.query(make(rnd));
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const q = make(rnd);
    const t0 = performance.now();
    const page = await store.query(q);
    times.push(performance.now() - t0);
    if (!expect(page.items.length)) throw new Error(`bench: ${JSON.stringify(q)} gave ${page.items.length} readings`);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(runs / 2)]!, p99: times[Math.floor(runs * 0.99)]! };
}

const QUERIES: { name: string; make: (s: Shape) => (r: () => number) => TelemetryQuery; expect: (n: number) => boolean }[] = [
  { name: 'latest 100 of a device', make: () => (r) => ({ site: `s-${Math.floor(r() * SITES)}`, device: `d-${Math.floor(r() * DEVICES)}`, descending: true, limit: 100 }), expect: (n) => n === 100 },
  {
    name: 'one hour of a device',
    make: (s) => (r) => {
      const from = originOf(s, 1) + Math.floor(r() * (DAYS - 1)) * DAY_NS + Math.floor(r() * 23) * 3_600_000_000_000;
      return { site: `s-${Math.floor(r() * SITES)}`, device: `d-${Math.floor(r() * DEVICES)}`, from, to: from + 3_600_000_000_000, limit: 1000 };
    },
    expect: (n) => n > 0,
  },
  { name: 'latest 100 of a site', make: () => (r) => ({ site: `s-${Math.floor(r() * SITES)}`, descending: true, limit: 100 }), expect: (n) => n === 100 },
];

const bench: Benchmark = {
  name: 'telemetry-volume',
  description: 'the hub telemetry store with many readings stored (BENCH_TV_READINGS, default 20M): query latency p50/p99 on PostgreSQL vs SQLite, load time and size',
  async run(): Promise<BenchResult[]> {
    const total = envInt('BENCH_TV_READINGS', 20_000_000);
    const runs = envInt('BENCH_TV_QUERIES', 300);
    const perSite = Math.floor(total / SITES);
    const shape: Shape = { perSite, step: Math.floor((DAYS * DAY_NS) / perSite) };
    const stored = perSite * SITES;
    const results: BenchResult[] = [];
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-bench-tv-'));
    const server = await startPostgres();
    try {
      // SQLite: the store makes its tables and streams; the bulk goes in by SQL on the same file.
      const file = path.join(dir, 'telemetry.db');
      const sqliteLoad = await timed(async () => {
        const seeded = openTelemetryStore({ file });
        await seed(seeded, shape);
        await seeded.close();
        const db = new Database(file);
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = OFF');
        const { vt, q, kind } = db.prepare('SELECT vt, q, typeof(origin) AS kind FROM telemetry LIMIT 1').get() as { vt: number; q: number; kind: string };
        if (kind !== 'integer') throw new Error(`bench: the store keeps origins as ${kind}`);
        const skip = new Set(daySeqs(shape));
        const insert = db.prepare(
          `INSERT INTO telemetry (sid, seq, site, origin, device, profile, resource, vt, q, value, units, detail)
           WITH RECURSIVE g(seq) AS (SELECT ? UNION ALL SELECT seq + 1 FROM g WHERE seq < ?)
           SELECT s.sid, g.seq, s.site, ? + (g.seq - 1) * ?, 'd-' || (g.seq % ${DEVICES}), 'meter', 'power', ${vt}, ${q}, CAST(g.seq % 1000 AS TEXT), 'kW', NULL
           FROM telemetry_streams s, g WHERE s.producer = '${PRODUCER}' AND s.stream = '${STREAM}' AND s.site = ?`,
        );
        // Between the seeded seqs, site by site, in seq order (the table's key order).
        const bounds = [...skip, perSite + 1].sort((a, b) => a - b);
        for (let i = 0; i < SITES; i++) {
          db.transaction(() => {
            for (let k = 0; k + 1 < bounds.length; k++) if (bounds[k]! + 1 <= bounds[k + 1]! - 1) insert.run(BigInt(bounds[k]! + 1), BigInt(bounds[k + 1]! - 1), BigInt(START), BigInt(shape.step), `s-${i}`);
          })();
        }
        db.prepare(`UPDATE telemetry_streams SET held = ?, high_seq = ? WHERE producer = ? AND stream = ?`).run(perSite, perSite, PRODUCER, STREAM);
        db.pragma('wal_checkpoint(TRUNCATE)');
        db.exec('ANALYZE');
        db.close();
      });
      const sqliteBytes = statSync(file).size;
      const sqlite = openTelemetryStore({ file });
      if ((await sqlite.count({ site: 's-0' })) !== perSite) throw new Error('bench: SQLite holds another count than loaded');
      const sq = [];
      for (const qd of QUERIES) sq.push(await latency(sqlite, runs, qd.make(shape), qd.expect));
      await sqlite.close();

      // PostgreSQL: the same, through one replica's store; the bulk by generate_series in the server.
      const url = await server.database('bench_volume');
      const pgLoad = await timed(async () => {
        const seeded = await openPostgresTelemetryStore({ url });
        await seed(seeded, shape);
        await seeded.close();
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        try {
          const { vt, q } = (await c.query<{ vt: number; q: number }>('SELECT vt, q FROM telemetry LIMIT 1')).rows[0]!;
          const seeds = `{${daySeqs(shape).join(',')}}`;
          // Site by site, so one statement's work stays bounded.
          for (let i = 0; i < SITES; i++) {
            await c.query(
              `INSERT INTO telemetry (sid, seq, site, origin, device, profile, resource, vt, q, value, units, detail)
               SELECT s.sid, g, s.site, $1::bigint + (g - 1) * $2::bigint, 'd-' || (g % ${DEVICES}), 'meter', 'power', ${vt}, ${q}, (g % 1000)::text, 'kW', NULL
               FROM telemetry_streams s, generate_series(1, $3::bigint) g
               WHERE s.producer = $4 AND s.stream = $5 AND s.site = $6 AND g <> ALL ($7::bigint[])`,
              [BigInt(START), BigInt(shape.step), perSite, PRODUCER, STREAM, `s-${i}`, seeds],
            );
          }
          await c.query('UPDATE telemetry_streams SET held = $1, high_seq = $1 WHERE producer = $2 AND stream = $3', [perSite, PRODUCER, STREAM]);
          await c.query('VACUUM ANALYZE telemetry');
        } finally {
          await c.end();
        }
      });
      const sizeClient = new pg.Client({ connectionString: url });
      await sizeClient.connect();
      const pgBytes = Number((await sizeClient.query<{ n: string }>('SELECT pg_database_size(current_database()) AS n')).rows[0]!.n);
      await sizeClient.end();
      const store = await openPostgresTelemetryStore({ url });
      if ((await store.count({ site: 's-0' })) !== perSite) throw new Error('bench: PostgreSQL holds another count than loaded');
      const pq = [];
      for (const qd of QUERIES) pq.push(await latency(store, runs, qd.make(shape), qd.expect));
      await store.close();

      const at = `${(stored / 1e6).toLocaleString('en-US')}M readings stored`;
      results.push(versus({ bench: 'telemetry-volume', metric: `load ${at} (seeded through the API, the bulk by SQL), PostgreSQL`, value: round(pgLoad, 1), unit: 's' }, 'SQLite', sqliteLoad));
      results.push(versus({ bench: 'telemetry-volume', metric: `size on disk, ${at}, PostgreSQL (the database)`, value: round(pgBytes / 2 ** 30, 2), unit: 'GiB' }, 'SQLite (the file)', sqliteBytes / 2 ** 30));
      for (const [i, qd] of QUERIES.entries()) {
        results.push(versus({ bench: 'telemetry-volume', metric: `${qd.name}, p50, ${at} (PostgreSQL)`, value: round(pq[i]!.p50, 2), unit: 'ms' }, 'SQLite', sq[i]!.p50));
        results.push(versus({ bench: 'telemetry-volume', metric: `${qd.name}, p99, ${at} (PostgreSQL)`, value: round(pq[i]!.p99, 2), unit: 'ms' }, 'SQLite', sq[i]!.p99));
      }
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
    return results;
  },
};

export default bench;
