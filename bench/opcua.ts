/**
 * opcua: monitored items one site agent sustains (target: 10,000 items
 * changing at 1 Hz), with the site side's CPU and RSS.
 *
 * Three processes: the OPC UA simulator (node-opcua server) with N Double
 * variables that all change every second; then, one after the other, the
 * site side under test and its peer, each alone in its own process:
 * - driver: the opcua plugin's driver as the site agent runs it, one device
 *   with N resources (EDGEADM_BENCH_OPCUA_DEVICES to split them), subscribed
 *   to all, samples into a counting sink;
 * - bare: one bare node-opcua client subscription of the same N items (no
 *   platform: no resource mapping, no samples, no sink);
 * - agent: a whole site agent running the opcua Addon from its replica, its
 *   hub unreachable (an offline site): every sample goes through the device
 *   manager into the SQLite outbox, as readings that wait for the hub.
 * Each side first waits until every item delivered its first value (the
 * time to get there is reported as "subscribe"), then counts notifications
 * over a window of EDGEADM_BENCH_OPCUA_SECONDS (default 10). Reported:
 * notifications/s against the bare client, the delivered share of the
 * expected N/s, CPU % of one core (user + system of the site process over
 * the window) and peak RSS (from /proc, sampled every 200 ms) of each side.
 * N: EDGEADM_BENCH_OPCUA_ITEMS (default 10,000).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createError } from '../core/kernel/index.ts';
import { envInt, round, rssMiB, stopChild, versus, type Benchmark, type BenchResult } from './harness.ts';
import type { MeasureResult, SiteReady } from './opcua-child.ts';

const CHILD = fileURLToPath(new URL('./opcua-child.ts', import.meta.url));

const ErrBench = createError('EDGE_ERR_BENCH_OPCUA', (p: { step: string; reason: string }) => `opcua bench: ${p.step}: ${p.reason}`);

export interface Child {
  proc: ChildProcess;
  first: Promise<Record<string, unknown>>;
  measure(ms: number): Promise<MeasureResult>;
  stop(): Promise<void>;
}

/**
 * One opcua-child.ts process in `role`, through tsx; with `script`, that
 * file instead (opcua-child.ts built into JavaScript, run by Node alone as a
 * deployed process is: bench/footprint.ts).
 */
export function startChild(role: 'server' | 'bare' | 'driver' | 'agent', env: Record<string, string>, readyTimeoutMs: number, script?: string): Child {
  // node-opcua writes notices to stdout: the children's stdout goes to stderr, keeping ours for the table.
  const argv = script ? [script, role] : ['--import', import.meta.resolve('tsx'), CHILD, role];
  const proc = spawn(process.execPath, argv, { stdio: ['ignore', 2, 'inherit', 'ipc'], env: { ...process.env, ...env } });
  const first = new Promise<Record<string, unknown>>((resolve, reject) => {
    const t = setTimeout(() => reject(new ErrBench({ step: `${role} process`, reason: `not ready within ${readyTimeoutMs / 1000} s` })), readyTimeoutMs);
    proc.once('message', (m) => {
      clearTimeout(t);
      resolve(m as Record<string, unknown>);
    });
    proc.once('error', (err) => reject(new ErrBench({ step: `${role} process`, reason: err.message })));
    proc.once('exit', (code, sig) => reject(new ErrBench({ step: `${role} process`, reason: `exited (${code ?? sig}) before it was ready` })));
  });
  first.catch(() => undefined);
  let seq = 0;
  const waiting = new Map<number, (r: MeasureResult) => void>();
  proc.on('message', (m: { id?: number; result?: MeasureResult }) => {
    if (m.id === undefined || !m.result) return;
    waiting.get(m.id)?.(m.result);
    waiting.delete(m.id);
  });
  return {
    proc,
    first,
    measure(ms) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        waiting.set(id, resolve);
        proc.once('exit', (code, sig) => reject(new ErrBench({ step: `${role} process`, reason: `exited (${code ?? sig}) while measuring` })));
        proc.send({ id, op: 'measure', ms });
      });
    },
    stop: () => stopChild(proc, 10_000),
  };
}

interface SideResult {
  rate: number;
  cpuPct: number;
  peakRssMiB: number;
  subscribeS: number;
}

async function runSide(role: 'bare' | 'driver' | 'agent', env: Record<string, string>, windowMs: number): Promise<SideResult> {
  const child = startChild(role, env, 300_000);
  try {
    const ready = (await child.first) as unknown as SiteReady;
    const pid = child.proc.pid!;
    let peak = rssMiB(pid);
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 200);
    try {
      const r = await child.measure(windowMs);
      peak = Math.max(peak, rssMiB(pid));
      if (r.notifications === 0) throw new ErrBench({ step: `${role} side`, reason: `no notification in ${windowMs / 1000} s` });
      return { rate: r.notifications / (r.wallMs / 1000), cpuPct: (100 * r.cpuMs) / r.wallMs, peakRssMiB: peak, subscribeS: ready.subscribeMs / 1000 };
    } finally {
      clearInterval(sampler);
    }
  } finally {
    await child.stop();
  }
}

const bench: Benchmark = {
  name: 'opcua',
  description: 'OPC UA monitored items at 1 Hz into the site: opcua driver and a whole site agent vs a bare node-opcua subscription; notifications/s, CPU, RSS',
  async run(): Promise<BenchResult[]> {
    const items = envInt('EDGEADM_BENCH_OPCUA_ITEMS', 10_000);
    const windowMs = envInt('EDGEADM_BENCH_OPCUA_SECONDS', 10) * 1000;
    const server = startChild('server', { EDGEADM_BENCH_OPCUA_ITEMS: String(items) }, 120_000);
    try {
      const { endpointUrl, ns } = (await server.first) as { endpointUrl: string; ns: number };
      const env = { EDGEADM_BENCH_OPCUA_ENDPOINT: endpointUrl, EDGEADM_BENCH_OPCUA_NS: String(ns), EDGEADM_BENCH_OPCUA_ITEMS: String(items) };
      const bare = await runSide('bare', env, windowMs);
      const driver = await runSide('driver', env, windowMs);
      const agent = await runSide('agent', env, windowMs);
      const b = 'opcua';
      const at = `${items.toLocaleString('en-US')} items at 1 Hz`;
      return [
        versus({ bench: b, metric: `notifications/s delivered, ${at}`, value: Math.round(driver.rate), unit: 'notif/s', target: `>= ${items} (all items, every second)` }, 'bare node-opcua subscription', bare.rate),
        { bench: b, metric: `delivered share of the expected ${items}/s (driver)`, value: round(driver.rate / items, 3), unit: 'ratio', target: '>= 0.99' },
        { bench: b, metric: `delivered share of the expected ${items}/s (bare client)`, value: round(bare.rate / items, 3), unit: 'ratio' },
        versus({ bench: b, metric: `site process CPU, ${at}`, value: round(driver.cpuPct, 1), unit: '% of a core' }, 'bare node-opcua subscription', bare.cpuPct),
        versus({ bench: b, metric: `site process peak RSS, ${at}`, value: round(driver.peakRssMiB, 1), unit: 'MiB' }, 'bare node-opcua subscription', bare.peakRssMiB),
        versus({ bench: b, metric: `connect + subscribe until every item reported once, ${items} items`, value: round(driver.subscribeS, 2), unit: 's' }, 'bare node-opcua subscription', bare.subscribeS),
        versus(
          { bench: b, metric: `whole site agent (offline, into the outbox): readings/s, ${at}`, value: Math.round(agent.rate), unit: 'readings/s', target: `>= ${items}` },
          'bare node-opcua subscription',
          bare.rate,
        ),
        versus({ bench: b, metric: `whole site agent CPU, ${at}`, value: round(agent.cpuPct, 1), unit: '% of a core' }, 'bare node-opcua subscription', bare.cpuPct),
        versus({ bench: b, metric: `whole site agent peak RSS, ${at}`, value: round(agent.peakRssMiB, 1), unit: 'MiB' }, 'bare node-opcua subscription', bare.peakRssMiB),
      ];
    } finally {
      await server.stop();
    }
  },
};

export default bench;
