/**
 * health: distributed health (core/health) on simulated sites
 * (test/support/health-sim.ts), every node's agent in this one process.
 *
 * 1. Time to a correct verdict after a node dies, for sites of 3, 10 and 100
 *    nodes over real HTTP and TCP on loopback (node i on its own 127.0.x.y),
 *    checking every second, and the 100 again over the in-process transport
 *    (the same protocol without the sockets' load on this one process): once
 *    every node sees every node healthy, and after a random part of a
 *    period, one node is stopped (agent and gossip port); the clock runs from
 *    then until every running node sees it 'unhealthy'. The victim is brought
 *    back and the site left to see it healthy again before the next of
 *    BENCH_HEALTH_REPEATS (default 5) victims. Median and max, in ms and in
 *    check periods; the target is two periods. Beside the 100-node figures,
 *    this process's event-loop delay and the share of gossip exchanges that
 *    failed (mostly no answer within half a period) say how much of them is
 *    the load of a whole site in one process. A stopped node's port refuses
 *    at once; a node that is powered off makes each check wait for its
 *    timeout (here 2 tries of 250 ms), up to half a period more.
 * 2. Gossip against site size: on a settled site (every node sees every node
 *    healthy, nothing changing), over BENCH_HEALTH_ROUNDS (default 4)
 *    periods, the exchanges the whole site makes per period (each is one
 *    request and its answer: the sum of `sent` over the nodes divided by the
 *    rounds each node ran), against all-to-all's n x (n - 1) (SuperEdge's
 *    edge-health sends each node's results to every other node each
 *    period); and per node per period the bytes it sends (its requests and
 *    its answers, each with a digest of n entries) and the checks it runs
 *    (all-to-all: n - 1). The 3-, 10- and 100-node sites are those of (1),
 *    measured before any node is stopped. Larger sites run over the
 *    in-process transport with a period of BENCH_HEALTH_LARGE_PERIOD_MS
 *    (default 5000): BENCH_HEALTH_LARGE, a comma-separated list of sizes
 *    (default 300; 'none' for none). The counts per period do not
 *    depend on the period. A 1,000-node site does not fit the usual few
 *    minutes: this one process does every node's work, which grows with n
 *    (about 50 ms of CPU per node per round at 1,000 on a 2-core machine:
 *    each message carries a digest of n entries):
 *    `NODE_OPTIONS=--max-old-space-size=8192 BENCH_HEALTH_LARGE=1000
 *    BENCH_HEALTH_LARGE_PERIOD_MS=20000 BENCH_HEALTH_ROUNDS=2 npm run bench --
 *    health`, some 6 to 8 minutes. Rounds then run late (the process is busy),
 *    which is why the figures are per round each node ran.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startSimSite, type SimSite } from '../test/support/health-sim.ts';
import { seeded } from '../test/support/random.ts';
import { envInt, round, versus, type Benchmark, type BenchResult } from './harness.ts';

const PERIOD_MS = 1000;
const LARGE_PERIOD_MS = 5000;
/** The sites whose verdicts are timed: over real sockets, and the largest also in process (to tell the protocol from this process's load). */
const VERDICT_SITES = [
  { nodes: 3, mode: 'http' },
  { nodes: 10, mode: 'http' },
  { nodes: 100, mode: 'http' },
  { nodes: 100, mode: 'memory' },
] as const;

const log = (msg: string): void => {
  process.stderr.write(`  health: ${msg}\n`);
};

/** The sizes of the large in-process sites, from BENCH_HEALTH_LARGE ('' or 'none' for none). */
function largeSizes(): number[] {
  const v = process.env.BENCH_HEALTH_LARGE;
  if (v === undefined) return [300];
  if (v === '' || v === 'none') return [];
  return v.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 2) throw new Error(`bench option BENCH_HEALTH_LARGE must be a comma-separated list of site sizes of 2 or more (got '${v}')`);
    return n;
  });
}

/**
 * Stops every node at once, then the site: one after the other, the nodes
 * still running would see the others die and take over checking them, for
 * as long as the stopping takes.
 */
async function stopSite(sim: SimSite): Promise<void> {
  await Promise.all(sim.running().map((name) => sim.kill(name)));
  await sim.stop();
}

/** Whether every running node sees every node of the site (itself included) healthy. */
function allHealthy(sim: SimSite): boolean {
  const n = sim.names.length;
  for (const observer of sim.running()) {
    const verdicts = sim.agent(observer).verdicts();
    if (verdicts.length !== n) return false;
    for (const v of verdicts) if (v.verdict !== 'healthy') return false;
  }
  return true;
}

/** Resolves once every node sees every node healthy; the time it took, in ms. */
async function settle(sim: SimSite, timeoutMs: number, pollMs: number): Promise<number> {
  const t0 = performance.now();
  while (!allHealthy(sim)) {
    if (performance.now() - t0 > timeoutMs) {
      const unsettled = sim.running().filter((o) => sim.agent(o).verdicts().some((v) => v.verdict !== 'healthy')).length;
      throw new Error(`health bench: a site of ${sim.names.length} nodes did not settle within ${timeoutMs} ms (${unsettled} nodes still see a node not healthy)`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return performance.now() - t0;
}

interface Gossip {
  nodes: number;
  mode: 'http' | 'memory';
  periodMs: number;
  exchangesPerPeriod: number;
  bytesPerNodePeriod: number;
  checksPerNodePeriod: number;
  fanout: number;
}

/** The gossip of a settled site while each node runs `periods` rounds (on average: a site that loads this process fully runs them late). */
async function measureGossip(sim: SimSite, mode: 'http' | 'memory', periods: number): Promise<Gossip> {
  const n = sim.names.length;
  const before = sim.totals();
  const t0 = performance.now();
  let after = before;
  while (after.rounds - before.rounds < periods * n) {
    if (performance.now() - t0 > 20 * periods * sim.config.periodMs) throw new Error(`health bench: a site of ${n} nodes ran ${after.rounds - before.rounds} rounds in ${20 * periods} periods`);
    await new Promise((r) => setTimeout(r, Math.min(1000, sim.config.periodMs / 4)));
    after = sim.totals();
  }
  const nodeRounds = after.rounds - before.rounds;
  const rumors = after.rumors - before.rumors;
  if (rumors > 0 || !allHealthy(sim)) log(`warning: the ${n}-node site changed while measured (${rumors} pushes of a change; settled now: ${allHealthy(sim)})`);
  const g: Gossip = {
    nodes: n,
    mode,
    periodMs: sim.config.periodMs,
    exchangesPerPeriod: (after.sent - before.sent) / (nodeRounds / n),
    bytesPerNodePeriod: (after.bytesSent - before.bytesSent) / nodeRounds,
    checksPerNodePeriod: (after.checks - before.checks) / nodeRounds,
    fanout: sim.config.fanout,
  };
  log(
    `${n} nodes (${mode}): ${round(nodeRounds / n, 1)} rounds per node in ${round((performance.now() - t0) / 1000, 1)} s, ${round(g.exchangesPerPeriod, 1)} exchanges per period, ${round(g.bytesPerNodePeriod / 1024, 1)} KiB and ${round(g.checksPerNodePeriod, 1)} checks per node per period`,
  );
  return g;
}

interface Verdicts {
  nodes: number;
  times: number[];
  loopDelayP99: number;
  loopDelayMax: number;
  /** Of the exchanges the nodes that were never stopped started meanwhile, the share that failed (to the stopped node, or over HTTP without an answer in time). */
  failedShare: number;
}

/** Kills `repeats` nodes one after the other, each brought back before the next: the time to an unhealthy verdict everywhere, each time. */
async function measureVerdicts(sim: SimSite, repeats: number): Promise<Verdicts> {
  const n = sim.names.length;
  const periodMs = sim.config.periodMs;
  const step = Math.max(1, Math.floor(n / repeats));
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const times: number[] = [];
  const random = seeded(n);
  const before = new Map(sim.names.map((name) => [name, { agent: sim.agent(name), stats: sim.agent(name).stats() }]));
  try {
    for (let i = 0; i < repeats; i++) {
      const victim = sim.names[(Math.floor(n / 2) + i * step) % n]!;
      // The site has just seen a node's round (the one that made it settle): a death comes at any point of the period instead.
      await new Promise((r) => setTimeout(r, random() * periodMs));
      await sim.kill(victim);
      const took = await sim.waitVerdict(victim, 'unhealthy', 20 * periodMs);
      times.push(took);
      const wrong = sim.running().flatMap((o) => sim.agent(o).verdicts().filter((v) => v.node !== victim && v.verdict !== 'healthy').map((v) => `${o} sees ${v.node} ${v.verdict}`));
      if (wrong.length > 0) log(`warning: with ${victim} down, ${wrong.length} wrong verdicts, e.g. ${wrong.slice(0, 3).join(', ')}`);
      await sim.revive(victim);
      const back = await settle(sim, 30 * periodMs, 50);
      log(`${n} nodes: ${victim} voted unhealthy everywhere after ${round(took, 0)} ms (${round(took / periodMs)} periods); back to all healthy ${round(back, 0)} ms after its return`);
    }
  } finally {
    delay.disable();
  }
  let sent = 0;
  let failed = 0;
  for (const [name, b] of before) {
    if (!sim.running().includes(name) || sim.agent(name) !== b.agent) continue;
    const s = b.agent.stats();
    sent += s.sent - b.stats.sent;
    failed += s.failedSends - b.stats.failedSends;
  }
  return { nodes: n, times, loopDelayP99: delay.percentile(99) / 1e6, loopDelayMax: delay.max / 1e6, failedShare: sent === 0 ? 0 : failed / sent };
}

function verdictRows(v: Verdicts, mode: 'http' | 'memory', periodMs: number): BenchResult[] {
  const sorted = [...v.times].sort((a, b) => a - b);
  const median = sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  const max = sorted[sorted.length - 1]!;
  const what = `time to unhealthy verdict everywhere, ${v.nodes} nodes (${mode}, period ${periodMs / 1000} s)`;
  const target = `<= ${2 * periodMs} ms (2 periods)`;
  return [
    { bench: 'health', metric: `${what}, median of ${v.times.length}`, value: round(median, 0), unit: 'ms', target },
    { bench: 'health', metric: `${what}, max of ${v.times.length}`, value: round(max, 0), unit: 'ms', target },
    { bench: 'health', metric: `${what}, median of ${v.times.length}`, value: round(median / periodMs), unit: 'periods', target: '<= 2 periods' },
    { bench: 'health', metric: `${what}, max of ${v.times.length}`, value: round(max / periodMs), unit: 'periods', target: '<= 2 periods' },
  ];
}

function gossipRows(g: Gossip): BenchResult[] {
  const where = `${g.nodes} nodes (${g.mode}, period ${g.periodMs / 1000} s)`;
  const n = g.nodes;
  return [
    versus(
      { bench: 'health', metric: `gossip exchanges per period, whole site, ${where}`, value: round(g.exchangesPerPeriod, 1), unit: 'exchanges', target: g.fanout < n ? `<= n x fanout (${n * g.fanout})` : `<= n x (n-1) (${n * (n - 1)})` },
      'all-to-all n x (n-1)',
      n * (n - 1),
    ),
    { bench: 'health', metric: `gossip bytes sent per node per period, ${where}`, value: round(g.bytesPerNodePeriod, 0), unit: 'bytes' },
    versus({ bench: 'health', metric: `checks per node per period, ${where}`, value: round(g.checksPerNodePeriod, 2), unit: 'checks' }, 'all-to-all n-1', n - 1),
  ];
}

const bench: Benchmark = {
  name: 'health',
  description: 'distributed health on simulated sites: time to an unhealthy verdict after a node dies (3, 10, 100 nodes over HTTP; 100 in process), gossip per period against all-to-all',
  async run(): Promise<BenchResult[]> {
    const repeats = envInt('BENCH_HEALTH_REPEATS', 5);
    const periods = envInt('BENCH_HEALTH_ROUNDS', 4);
    const largePeriodMs = envInt('BENCH_HEALTH_LARGE_PERIOD_MS', LARGE_PERIOD_MS);
    const large = largeSizes();
    const verdicts: BenchResult[] = [];
    const loop: BenchResult[] = [];
    const gossip: BenchResult[] = [];

    for (const { nodes, mode } of VERDICT_SITES) {
      const t0 = performance.now();
      const sim = await startSimSite({ nodes, mode, seed: nodes, health: { period: `${PERIOD_MS}ms` } });
      try {
        const started = performance.now() - t0;
        const settled = await settle(sim, 30 * PERIOD_MS, 50);
        log(`${nodes} nodes (${mode}): agents started in ${round(started, 0)} ms, all healthy ${round(settled, 0)} ms later`);
        if (mode === 'http') gossip.push(...gossipRows(await measureGossip(sim, mode, periods)));
        const v = await measureVerdicts(sim, repeats);
        log(`${nodes} nodes (${mode}): event-loop delay p99 ${round(v.loopDelayP99, 0)} ms, max ${round(v.loopDelayMax, 0)} ms; ${round(100 * v.failedShare, 1)}% of gossip exchanges failed`);
        verdicts.push(...verdictRows(v, mode, PERIOD_MS));
        if (nodes >= 100) {
          // How much of the 100-node figures is this one process's load: its delays, and the exchanges that failed for want of an answer in time.
          loop.push(
            { bench: 'health', metric: `event-loop delay p99 during those verdicts, ${nodes} nodes (${mode}, every agent in this process)`, value: round(v.loopDelayP99, 0), unit: 'ms' },
            { bench: 'health', metric: `gossip exchanges failed during those verdicts, ${nodes} nodes (${mode})`, value: round(100 * v.failedShare, 1), unit: '%' },
          );
        }
      } finally {
        await stopSite(sim);
      }
    }

    for (const nodes of large) {
      const t0 = performance.now();
      const sim = await startSimSite({ nodes, mode: 'memory', seed: nodes, health: { period: `${largePeriodMs}ms` } });
      try {
        log(`${nodes} nodes (memory): ${nodes} agents started in ${round(performance.now() - t0, 0)} ms`);
        const settled = await settle(sim, 60 * largePeriodMs, 500);
        log(`${nodes} nodes (memory): all healthy after ${round(settled, 0)} ms`);
        gossip.push(...gossipRows(await measureGossip(sim, 'memory', periods)));
      } finally {
        await stopSite(sim);
      }
    }
    return [...verdicts, ...loop, ...gossip];
  },
};

export default bench;
