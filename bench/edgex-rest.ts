/**
 * edgex-rest: latency of core-data's event query on the edgex plugin's EdgeX
 * REST API with 1M stored readings, p50 and p99, beside the same query run
 * straight on the plugin's SQLite file (the rows and the total, parsed) in
 * the same run: the peer is what the HTTP, the authentication and EdgeX's
 * JSON cost on top of the store.
 *
 * The readings go in as the site stores them: appended to the SDK test
 * kit's site (a real SQLite outbox), from the reading feed into the plugin's
 * store; 100 devices x 10 resources, one reading per resource every 10 ms of
 * origin. Each query is `GET /api/v3/event/device/name/<device>/start/<s>/end/<e>?limit=20`
 * for a random device and a random 2 s window (about 200 matching readings,
 * the 20 newest returned), with a site login (HTTP Basic, kept alive),
 * sequentially; the peer runs the same statements on a second connection.
 *
 * Readings: EDGEADM_BENCH_EDGEX_REST_READINGS (default 1,000,000);
 * queries: EDGEADM_BENCH_EDGEX_REST_QUERIES (default 2,000).
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { createError } from '../core/kernel/index.ts';
import type { Reading } from '../core/sdk/index.ts';
import { mockSiteServices, startTestKernel } from '../core/sdk/testkit/index.ts';
import edgex from '../plugins/edgex/index.ts';
import { envInt, round, versus, type Benchmark, type BenchResult } from './harness.ts';
import { freePort } from '../test/support/tcp-services.ts';

const SITE = 'bench-site';
const DEVICES = 100;
const RESOURCES = 10;
const BATCH = 5000;
const STEP_NS = 10_000_000;
const WINDOW_NS = 2_000_000_000;
const LOGIN = { username: 'bench', password: 'bench-secret' };

const ErrBench = createError('EDGE_ERR_BENCH_EDGEX_REST', (p: { step: string; reason: string }) => `edgex-rest bench: ${p.step}: ${p.reason}`);


function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

async function measure(): Promise<BenchResult[]> {
  const total = envInt('EDGEADM_BENCH_EDGEX_REST_READINGS', 1_000_000);
  const queries = envInt('EDGEADM_BENCH_EDGEX_REST_QUERIES', 2000);
  const site = await mockSiteServices({ site: SITE, broker: true, logLevel: 'warn' });
  const ports = { metadata: await freePort(), data: await freePort(), command: await freePort() };
  const tk = await startTestKernel({
    plugins: [{ plugin: edgex, site: SITE, config: { publish: false, subscribe: false, rest: { enabled: true, ports, retention: { maxCount: total, maxAge: 365 * 24 * 3600 * 1000 } } } }],
    services: site.services,
    logLevel: 'warn',
  });
  try {
    const status = tk.status(`edgex@${SITE}`);
    if (status.state !== 'running') throw new ErrBench({ step: 'start the edgex plugin', reason: `${status.state}: ${status.error?.message ?? ''}` });
    await site.addLogin(LOGIN.username, LOGIN.password);
    const t0 = Date.now() * 1_000_000 - Math.ceil(total / (DEVICES * RESOURCES)) * STEP_NS;
    const perTick = DEVICES * RESOURCES;
    let batch: Omit<Reading, 'site' | 'seq'>[] = [];
    for (let i = 0; i < total; i++) {
      const tick = Math.floor(i / perTick);
      const k = i % perTick;
      batch.push({ device: `dev-${Math.floor(k / RESOURCES)}`, resource: `r${k % RESOURCES}`, profile: 'bench', value: i % 1000, valueType: 'Float64', units: 'degC', origin: t0 + tick * STEP_NS + k, quality: 'good' });
      if (batch.length === BATCH) {
        site.readings.append(batch);
        batch = [];
        // The feed delivers on a later turn: let the store keep up.
        await new Promise((r) => setImmediate(r));
      }
    }
    if (batch.length > 0) site.readings.append(batch);
    const auth = `Basic ${Buffer.from(`${LOGIN.username}:${LOGIN.password}`).toString('base64')}`;
    const base = `http://127.0.0.1:${ports.data}/api/v3`;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const res = await fetch(`${base}/event/count`, { headers: { authorization: auth } });
      const body = (await res.json()) as { Count?: number };
      if (body.Count === total) break;
      if (Date.now() > deadline) throw new ErrBench({ step: 'store the readings', reason: `${String(body.Count)} of ${total} stored after 120 s` });
      await new Promise((r) => setTimeout(r, 200));
    }
    const ticks = Math.ceil(total / perTick);
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const plan = Array.from({ length: queries }, () => {
      const start = t0 + rand(Math.max(1, ticks - WINDOW_NS / STEP_NS)) * STEP_NS;
      return { device: `dev-${rand(DEVICES)}`, start, end: start + WINDOW_NS };
    });

    const rest: number[] = [];
    for (const [i, q] of plan.entries()) {
      const t = performance.now();
      const res = await fetch(`${base}/event/device/name/${q.device}/start/${q.start}/end/${q.end}?limit=20`, { headers: { authorization: auth } });
      const body = (await res.json()) as { events?: unknown[] };
      if (i >= 50) rest.push(performance.now() - t);
      if (res.status !== 200 || body.events?.length !== 20) throw new ErrBench({ step: 'query', reason: `${res.status}, ${String(body.events?.length)} events` });
    }
    const db = new Database(path.join(site.storage.dir('edgex'), 'core-data.db'), { readonly: true });
    const rows = db.prepare<Record<string, unknown>, { event: string; reading: string }>(
      'SELECT event, reading FROM readings WHERE device = @device AND origin >= @start AND origin <= @end ORDER BY origin DESC, id DESC LIMIT 20 OFFSET 0',
    );
    const count = db.prepare<Record<string, unknown>, { n: number }>('SELECT count(*) AS n FROM readings WHERE device = @device AND origin >= @start AND origin <= @end');
    const peer: number[] = [];
    for (const [i, q] of plan.entries()) {
      const t = performance.now();
      const got = rows.all(q).map((r) => ({ ...(JSON.parse(r.event) as object), readings: [JSON.parse(r.reading) as unknown] }));
      const n = count.get(q)?.n ?? 0;
      if (i >= 50) peer.push(performance.now() - t);
      if (got.length !== 20 || n < 20) throw new ErrBench({ step: 'peer query', reason: `${got.length} rows of ${n}` });
    }
    db.close();
    rest.sort((a, b) => a - b);
    peer.sort((a, b) => a - b);
    const label = `${round(total / 1e6, 2)}M readings stored`;
    return [50, 99].map((p) =>
      versus(
        { bench: 'edgex-rest', metric: `core-data event query p${p} (device + time window, limit 20), ${label}`, value: round(percentile(rest, p), 3), unit: 'ms' },
        'same query on the SQLite file',
        percentile(peer, p),
      ),
    );
  } finally {
    await tk.stop();
    await site.close();
  }
}

const bench: Benchmark = {
  name: 'edgex-rest',
  description: "core-data event query latency on the edgex plugin's EdgeX REST API at 1M stored readings vs the same query on its SQLite file",
  run: measure,
};
export default bench;
