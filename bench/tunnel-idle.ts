/**
 * tunnel-idle: how many idle edge nodes one tunnel-cloud process holds, and
 * what each costs in memory. The cloud (an https server with a certificate
 * from core/pki, handing upgrades to createTunnelCloud) runs alone in a child
 * process; 2-4 other children open the edge connections (a WebSocket over TLS
 * from its own 127.x.y.z source address, an edge session on it, up once the
 * HELLO is acknowledged), with a bounded number of handshakes in flight.
 *
 * The cloud's memory is read after forced GC with 0 connections and at 1k,
 * 10k and 30k: per connection = (value at N - value at 0) / N, and the slope
 * from 1k to the last N, which the noise of the 0-connection figure does not
 * move. The peer, measured the same way in the same run, is a bare TLS
 * WebSocket server (ws over https, no tunnel session, one small message echoed
 * per connection as the HELLO exchange does).
 *
 * `npm run bench -- tunnel-idle --connections=2000` (or
 * EDGEADM_BENCH_CONNECTIONS) for a quick run; the default is the target,
 * 30,000. `--idle=S` (EDGEADM_BENCH_IDLE_S, default 60: longer than three
 * of tunnel-cloud's default 15 s heartbeat periods) is how long all
 * connections sit idle before they are counted again; `--handshakes=K`
 * (EDGEADM_BENCH_HANDSHAKES, default 32) bounds handshakes in flight per edge
 * process. One process cannot hold more sockets than its open-file limit: the
 * count is capped there and the row says so.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createError } from '../core/kernel/index.ts';
import { createCertificateAuthority, issueCertificate } from '../core/pki/index.ts';
import { round, versus, type Benchmark, type BenchResult } from './harness.ts';
import { ErrBenchArgument, startChild, type Child } from './tunnel-idle-ipc.ts';

const ErrBenchConnect = createError(
  'EDGE_ERR_BENCH_CONNECT',
  (p: { mode: string; failed: number; wanted: number; first: string }) => `${p.mode}: ${p.failed} of ${p.wanted} connections failed (first: ${p.first})`,
  { statusCode: 500 },
);

const ErrBenchCount = createError(
  'EDGE_ERR_BENCH_COUNT',
  (p: { mode: string; expected: number; actual: number }) => `${p.mode}: the server holds ${p.actual} connections, expected ${p.expected}`,
  { statusCode: 500 },
);

const CHECKPOINTS = [1000, 10_000, 30_000];
const TARGET = 30_000;
/** Descriptors the cloud keeps for itself (listening socket, stdio, IPC, libuv). */
const FD_RESERVE = 64;
const PEER = 'bare TLS WebSocket (ws over https)';

function option(name: string, env: string, fallback: number): number {
  const flag = process.argv.find((a) => a.startsWith(`--${name}=`));
  const raw = flag?.slice(name.length + 3) ?? process.env[env];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new ErrBenchArgument({ name, problem: `must be a positive integer, not '${raw}'` });
  return n;
}

interface Files {
  dir: string;
  caCert: string;
  cert: string;
  key: string;
  tokenFile: string;
}

/** A CA and a server certificate for 127.0.0.1 from core/pki (ECDSA P-256), and the edges' shared bench credential. */
async function benchFiles(): Promise<Files> {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-bench-tunnel-idle-'));
  const f = (n: string): string => path.join(dir, n);
  const ca = await createCertificateAuthority({ commonName: 'edgeadm bench CA', days: 2 });
  const cloud = await issueCertificate(ca, { commonName: 'bench-cloud', ipAddresses: ['127.0.0.1'], usage: 'server', days: 2 });
  writeFileSync(f('ca.crt'), ca.certPem);
  writeFileSync(f('cloud.crt'), cloud.certPem);
  writeFileSync(f('cloud.key'), cloud.keyPem, { mode: 0o600 });
  writeFileSync(f('token'), randomBytes(24).toString('hex'), { mode: 0o600 });
  return { dir, caCert: f('ca.crt'), cert: f('cloud.crt'), key: f('cloud.key'), tokenFile: f('token') };
}

interface Memory {
  connections: number;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

interface Point {
  n: number;
  /** Bytes over the 0-connection baseline. */
  rss: number;
  heap: number;
  external: number;
}

interface ModeResult {
  baseline: Memory;
  points: Point[];
  reached: number;
  fdLimit: number;
  connectSeconds: number;
  upAfterIdle: number;
  serverAfterIdle: number;
  lost: number;
  firstLoss?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function measure(cloud: Child): Promise<Memory> {
  return (await cloud.request('measure', {}, 120_000)) as unknown as Memory;
}

async function runMode(mode: 'tunnel' | 'bare', files: Files, o: { requested: number; idleS: number; concurrency: number; octet: number }): Promise<ModeResult> {
  const children: Child[] = [];
  try {
    const cloud = await startChild(`${mode}-cloud`, 'tunnel-idle-cloud.ts', ['--mode', mode, '--cert', files.cert, '--key', files.key, '--token-file', files.tokenFile], ['--expose-gc']);
    children.push(cloud);
    const fdLimit = Number(cloud.hello.fdLimit);
    const target = Math.min(o.requested, fdLimit - FD_RESERVE);
    const url = `wss://127.0.0.1:${Number(cloud.hello.port)}/`;
    const nEdges = Math.min(4, Math.max(2, Math.ceil(target / 8000)));
    const edges = await Promise.all(
      Array.from({ length: nEdges }, (_, k) => startChild(`${mode}-edges-${k}`, 'tunnel-idle-edges.ts', ['--mode', mode, '--url', url, '--ca', files.caCert, '--token-file', files.tokenFile])),
    );
    children.push(...edges);

    const baseline = await measure(cloud);
    const points: Point[] = [];
    let current = 0;
    let connectMs = 0;
    for (const n of [...CHECKPOINTS.filter((c) => c < target), target]) {
      const want = n - current;
      const share = Math.ceil(want / nEdges);
      const t0 = performance.now();
      const replies = await Promise.all(
        edges.map((e, k) => {
          const from = current + k * share;
          const count = Math.max(0, Math.min(share, n - from));
          return e.request('connect', { from, count, octet: o.octet, concurrency: o.concurrency }, 120_000 + count * 20);
        }),
      );
      connectMs += performance.now() - t0;
      const failed = replies.reduce((s, r) => s + Number(r.failed), 0);
      if (failed > 0) throw new ErrBenchConnect({ mode, failed, wanted: want, first: String(replies.find((r) => r.firstError)?.firstError) });
      current = n;
      process.stderr.write(`  ${mode}: ${n} connections up after ${round(connectMs / 1000, 1)} s\n`);
      await sleep(1000);
      const m = await measure(cloud);
      if (m.connections !== n) throw new ErrBenchCount({ mode, expected: n, actual: m.connections });
      points.push({ n, rss: m.rss - baseline.rss, heap: m.heapUsed - baseline.heapUsed, external: m.external - baseline.external });
    }

    process.stderr.write(`  ${mode}: idle for ${o.idleS} s\n`);
    await sleep(o.idleS * 1000);
    const statuses = await Promise.all(edges.map((e) => e.request('status')));
    const serverAfterIdle = Number((await cloud.request('count')).connections);
    const firstLoss = statuses.find((s) => s.firstLoss)?.firstLoss as string | undefined;
    return {
      baseline,
      points,
      reached: current,
      fdLimit,
      connectSeconds: connectMs / 1000,
      upAfterIdle: statuses.reduce((s, r) => s + Number(r.up), 0),
      serverAfterIdle,
      lost: statuses.reduce((s, r) => s + Number(r.lost), 0),
      ...(firstLoss === undefined ? {} : { firstLoss }),
    };
  } finally {
    await Promise.all(children.slice(1).map((c) => c.request('close', {}, 30_000).catch(() => undefined)));
    await children[0]?.request('close', {}, 30_000).catch(() => undefined);
    await Promise.all(children.map((c) => c.stop()));
  }
}

const KiB = (bytes: number): number => round(bytes / 1024, 2);

const bench: Benchmark = {
  name: 'tunnel-idle',
  description: 'idle edge connections one tunnel-cloud process holds over TLS, and memory per connection, against a bare TLS WebSocket server',
  async run(): Promise<BenchResult[]> {
    const requested = option('connections', 'EDGEADM_BENCH_CONNECTIONS', TARGET);
    const idleS = option('idle', 'EDGEADM_BENCH_IDLE_S', 60);
    const concurrency = option('handshakes', 'EDGEADM_BENCH_HANDSHAKES', 32);
    const files = await benchFiles();
    try {
      const bare = await runMode('bare', files, { requested, idleS, concurrency, octet: 1 });
      const tunnel = await runMode('tunnel', files, { requested, idleS, concurrency, octet: 2 });
      const out: BenchResult[] = [];
      const b = 'tunnel-idle';
      const capped = tunnel.reached < requested ? ` (capped by open-file limit ${tunnel.fdLimit})` : '';
      out.push(versus({ bench: b, metric: 'cloud RSS with 0 connections', value: round(tunnel.baseline.rss / 2 ** 20, 1), unit: 'MiB' }, PEER, bare.baseline.rss / 2 ** 20));
      for (const [i, p] of tunnel.points.entries()) {
        const q = bare.points[i]!;
        const last = i === tunnel.points.length - 1;
        out.push(versus({ bench: b, metric: `RSS per connection, (RSS_N - RSS_0) / N, N=${p.n}`, value: KiB(p.rss / p.n), unit: 'KiB/connection', ...(last ? { target: '<= 32' } : {}) }, PEER, KiB(q.rss / q.n)));
        out.push(versus({ bench: b, metric: `heap used per connection, N=${p.n}`, value: KiB(p.heap / p.n), unit: 'KiB/connection' }, PEER, KiB(q.heap / q.n)));
        if (last) out.push(versus({ bench: b, metric: `external per connection, N=${p.n}`, value: KiB(p.external / p.n), unit: 'KiB/connection' }, PEER, KiB(q.external / q.n)));
      }
      // The 0-connection RSS moves by tens of MiB from one process to the next (tsx's loader thread has a heap
      // of its own that forced GC does not reach): the slope between two loaded points does not depend on it.
      const [t0, t1] = [tunnel.points[0]!, tunnel.points.at(-1)!];
      const [b0, b1] = [bare.points[0]!, bare.points.at(-1)!];
      if (t1.n > t0.n) {
        const slope = (a: Point, z: Point, k: 'rss' | 'heap'): number => KiB((z[k] - a[k]) / (z.n - a.n));
        out.push(versus({ bench: b, metric: `RSS per added connection, N=${t0.n} to ${t1.n}`, value: slope(t0, t1, 'rss'), unit: 'KiB/connection', target: '<= 32' }, PEER, slope(b0, b1, 'rss')));
        out.push(versus({ bench: b, metric: `heap per added connection, N=${t0.n} to ${t1.n}`, value: slope(t0, t1, 'heap'), unit: 'KiB/connection' }, PEER, slope(b0, b1, 'heap')));
      }
      out.push(versus({ bench: b, metric: `connections held, all HELLOs acknowledged${capped}`, value: tunnel.reached, unit: 'connections', target: `>= ${TARGET}` }, PEER, bare.reached));
      out.push(versus({ bench: b, metric: `time to connect ${tunnel.reached} (<= ${concurrency} handshakes in flight per edge process)`, value: round(tunnel.connectSeconds, 1), unit: 'seconds' }, PEER, bare.connectSeconds));
      out.push(versus({ bench: b, metric: `sessions up after ${idleS} s idle (edge side)`, value: tunnel.upAfterIdle, unit: 'connections' }, PEER, bare.upAfterIdle));
      out.push(versus({ bench: b, metric: `nodes on the cloud after ${idleS} s idle`, value: tunnel.serverAfterIdle, unit: 'connections' }, PEER, bare.serverAfterIdle));
      if (tunnel.lost > 0 || bare.lost > 0) {
        process.stderr.write(`  connections lost while idle: tunnel ${tunnel.lost} (${tunnel.firstLoss ?? '-'}), bare ${bare.lost} (${bare.firstLoss ?? '-'})\n`);
      }
      return out;
    } finally {
      rmSync(files.dir, { recursive: true, force: true });
    }
  },
};

export default bench;
