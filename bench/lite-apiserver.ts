/**
 * lite-apiserver: the caching Kubernetes API proxy (core/lite-apiserver) in
 * its own process (bench/lite-apiserver-child.ts under `node --import tsx`,
 * as edgeadm runs its sources, with a logger at warn), in front of the
 * Kubernetes API test server of the test bed (startLiteBed) reached through
 * a TCP relay that cuts the link as the bed's `link.down()` does (see
 * startLink for why not the bed's own). The test server, the relay and the
 * load-generating client run in this process, so the proxy's CPU and memory
 * are its own; the direct peer goes through the same relay, so proxy vs
 * direct is the proxy's cost alone.
 *
 * The data: one namespace of BENCH_LITE_OBJECTS ConfigMaps (default 100) of
 * ~1 KB each. GET = one of them (1.3 KB); LIST = the namespace's list
 * (~128 KB of JSON, the size of a kubelet's pod list). The client is undici
 * with keep-alive, presenting the node's client certificate to the proxy
 * (re-presented upstream with the node's token) and the node's token to the
 * upstream directly; every answer is read whole and checked for 200 (and,
 * offline, for the proxy's `x-edgeadm-lite-apiserver: cache` header).
 * Latency = BENCH_LITE_REQUESTS (default 1,000) sequential GETs and
 * BENCH_LITE_LIST_REQUESTS (default 500) sequential LISTs, each after 100
 * unmeasured ones, p50 and p99; requests/s = BENCH_LITE_CONCURRENCY
 * (default 16) requests in flight for BENCH_LITE_RPS_MS (default 1,000 ms).
 *
 * Peers measured first, in the same run: the same requests sent directly to
 * the upstream through the same relay, and (latency only) a static HTTPS
 * server in a process of its own answering the same bytes from memory over
 * the same TLS with client certificates: the floor a cache hit can reach on
 * this machine with this client.
 *
 * Then once per storage driver (file, sqlite; a fresh proxy and cache each):
 * 1. online: latency and requests/s through the proxy, vs direct;
 * 2. the first request after the link goes down (the relay drops every
 *    connection and closes new ones) until its answer: it finds the upstream gone and
 *    opens the breaker; then the max of the next 20 (no dial wait);
 * 3. cache hits: the same GET and LIST answered from the cache while the
 *    link is down; peers: direct online (as the design's figures compare)
 *    and, for p50 and p99, the static server;
 * 4. RSS of the proxy (/proc/<pid>/status VmRSS): 500 ms after it listens,
 *    after the load, and the peak sampled every 50 ms during it; peers, idle
 *    processes started with the bench: `node --import tsx` running a file
 *    that imports nothing (the runner alone), the same importing
 *    core/lite-apiserver and core/kernel without starting anything (the
 *    module graph), and a bare `node -e`.
 * Last, two more proxies (file driver, dial timeout 500 ms and request
 * timeout 2,000 ms set here; the defaults are 3 s and 30 s) behind a relay
 * that blackholes the upstream (a cut cable: nothing refused, nothing
 * answered): the first answer (a) when the request goes out on a pooled
 * keep-alive connection that went silent, with a second request sent 1 s
 * into that wait, and (b) when it dials a new connection that TCP accepts
 * and TLS never answers; each against the timeout that should bound it.
 *
 * BENCH_LITE_CPU_PROF=<dir> runs the proxy processes with `--cpu-prof` into
 * that folder; BENCH_LITE_VERBOSE=1 prints each step with its duration,
 * latency spreads, the first answers one by one and the proxies' status.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import type { LiteApiserverOptions, LiteApiserverStatus } from '../core/lite-apiserver/index.ts';
import { rawClient } from '../test/support/kube-apiserver/client.ts';
import { NODE_TOKEN, startLiteBed, type LiteBed } from '../test/support/lite-apiserver.ts';
import type { ChildAsk, ChildRequest } from './lite-apiserver-child.ts';
import { envInt, round, rssMiB, stopChild, versus, type Benchmark, type BenchResult } from './harness.ts';

const CHILD = fileURLToPath(new URL('./lite-apiserver-child.ts', import.meta.url));
const B = 'lite-apiserver';
const NS = 'bench-lite';
const WARMUP = 100;
const AFTER_FIRST = 20;
const BLACKHOLE = { dialTimeoutMs: 500, requestTimeoutMs: 2000 };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

// ---------------------------------------------------------------- the client

/** One way to the API: the proxy (client certificate) or the upstream directly (bearer token). */
interface Target {
  url: string;
  dispatcher: Agent;
  headers: Record<string, string>;
  /** Offline: every answer must come from the cache. */
  cacheOnly: boolean;
}

function target(url: string, ca: string, auth: { token: string } | { cert: string; key: string }, cacheOnly = false): Target {
  const dispatcher = new Agent({ connect: { ca, ...('cert' in auth ? { cert: auth.cert, key: auth.key } : {}) } });
  return { url, dispatcher, headers: { accept: 'application/json', ...('token' in auth ? { authorization: `Bearer ${auth.token}` } : {}) }, cacheOnly };
}

/** One GET read whole; its body's length. Throws on anything but 200 (and, cache-only, an answer not from the cache). */
async function get(t: Target, p: string): Promise<number> {
  return (await fetchBody(t, p)).length;
}

async function fetchBody(t: Target, p: string): Promise<Buffer> {
  const r = await request(`${t.url}${p}`, { method: 'GET', dispatcher: t.dispatcher, headers: t.headers });
  const body = Buffer.from(await r.body.arrayBuffer());
  if (r.statusCode !== 200) throw new Error(`GET ${p} answered ${r.statusCode}: ${body.toString('utf8').slice(0, 300)}`);
  if (t.cacheOnly) {
    const via = r.headers['x-edgeadm-lite-apiserver'];
    if (typeof via !== 'string' || !via.startsWith('cache')) throw new Error(`GET ${p} offline was not answered from the cache (x-edgeadm-lite-apiserver: ${String(via)})`);
  }
  return body;
}

/** `n` sequential GETs after WARMUP unmeasured ones; each one's time in ms, sorted. */
async function latencies(t: Target, p: string, n: number): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await get(t, p);
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await get(t, p);
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b);
}

/** Requests/s with `concurrency` GETs in flight for `ms`. */
async function throughput(t: Target, p: string, concurrency: number, ms: number): Promise<number> {
  let done = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await get(t, p);
        done += 1;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

interface Figures {
  get: number[];
  list: number[];
  getRps: number;
  listRps: number;
}

const VERBOSE = process.env.BENCH_LITE_VERBOSE === '1';
let clock = performance.now();
/** BENCH_LITE_VERBOSE=1: what was done, with the seconds since the last note. */
function note(text: string): void {
  const now = performance.now();
  if (VERBOSE) process.stderr.write(`[lite-apiserver +${round((now - clock) / 1000, 1)} s] ${text}\n`);
  clock = now;
}

/** p50, p90, p99 and max of sorted times, for BENCH_LITE_VERBOSE. */
function spread(xs: number[]): string {
  return `${[50, 90, 99].map((p) => `p${p} ${round(pct(xs, p), 2)}`).join(', ')}, max ${round(xs.at(-1)!, 2)} ms`;
}

async function measure(t: Target, paths: { get: string; list: string }, o: { requests: number; listRequests: number; concurrency: number; rpsMs: number }): Promise<Figures> {
  const getMs = await latencies(t, paths.get, o.requests);
  note(`GET latencies: ${spread(getMs)}`);
  const listMs = await latencies(t, paths.list, o.listRequests);
  note(`LIST latencies: ${spread(listMs)}`);
  const getRps = await throughput(t, paths.get, o.concurrency, o.rpsMs);
  const listRps = await throughput(t, paths.list, o.concurrency, o.rpsMs);
  note('requests/s');
  return { get: getMs, list: listMs, getRps, listRps };
}

// ---------------------------------------------------------------- processes

interface Child {
  proc: ChildProcess;
  /** The child's first message: it is ready. */
  first: Promise<Record<string, unknown>>;
  ask(what: ChildAsk): Promise<unknown>;
  stop(): Promise<void>;
}

function startChild(args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } });
  const what = args.includes(CHILD) ? `lite-apiserver-child ${args.at(-1)}` : 'node -e';
  const first = new Promise<Record<string, unknown>>((resolve, reject) => {
    proc.once('message', (m) => resolve(m as Record<string, unknown>));
    proc.once('error', (err) => reject(new Error(`${what}: ${err.message}`)));
    proc.once('exit', (code, sig) => reject(new Error(`${what} exited (${code ?? sig}) before it was ready`)));
  });
  first.catch(() => undefined);
  let seq = 0;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  proc.on('message', (m: { id?: number; result?: unknown; error?: string }) => {
    const w = m.id === undefined ? undefined : waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id!);
    if (m.error !== undefined) w.reject(new Error(`${what}: ${m.error}`));
    else w.resolve(m.result);
  });
  proc.once('exit', (code, sig) => {
    for (const w of waiting.values()) w.reject(new Error(`${what} exited (${code ?? sig})`));
    waiting.clear();
  });
  return {
    proc,
    first,
    ask(what) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        proc.send({ ...what, id } satisfies ChildRequest);
      });
    },
    // SIGTERM closes the proxy (and writes a CPU profile); SIGKILL after 5 s.
    stop: () => stopChild(proc, 5000),
  };
}

function startProxy(options: LiteApiserverOptions): Child {
  const prof = process.env.BENCH_LITE_CPU_PROF;
  return startChild([...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), '--import', import.meta.resolve('tsx'), CHILD, 'proxy'], { EDGEADM_BENCH_LITE_OPTIONS: JSON.stringify(options) });
}

/** Samples a process's RSS every 50 ms; `stop()` answers the peak in MiB. */
function rssPeak(pid: number): { stop(): number } {
  let peak = rssMiB(pid);
  const t = setInterval(() => {
    const v = rssMiB(pid);
    if (v > peak) peak = v;
  }, 50);
  return {
    stop() {
      clearInterval(t);
      return Math.max(peak, rssMiB(pid));
    },
  };
}

// ---------------------------------------------------------------- the link

/**
 * What the link does: `forward`; `refuse`: open connections are dropped and
 * new ones reset (what the bed's `link.down()` does: a refused upstream);
 * `silent`: open connections stay open but nothing passes any more (a cut
 * cable under a pooled keep-alive connection) and new ones are accepted and
 * never answered; `fresh`: open connections are dropped, new ones accepted
 * and never answered (TCP connects, the TLS handshake gets no answer).
 */
type LinkMode = 'forward' | 'refuse' | 'silent' | 'fresh';

interface Link {
  port: number;
  set(mode: LinkMode): void;
  close(): Promise<void>;
}

/**
 * A TCP relay to the upstream, as the bed's (test/support/tcp-proxy.ts),
 * with TCP_NODELAY on both sides as kube-apiserver and any L4 proxy in front
 * of it set, and one more mode the bed's lacks: a black hole that accepts
 * connections and never answers (BENCH_LITE_BED_LINK=1 measures the cut
 * link through the bed's relay instead).
 */
async function startLink(port: number): Promise<Link> {
  let mode: LinkMode = 'forward';
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  const held = new Set<Socket>();
  const hold = (s: Socket): void => {
    held.add(s);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => held.delete(s));
  };
  const server = createServer((client) => {
    if (mode === 'refuse') return void client.destroy();
    if (mode !== 'forward') return hold(client);
    client.setNoDelay(true);
    const upstream = createConnection({ host: '127.0.0.1', port, noDelay: true });
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = (): void => {
      if (!pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    set(next) {
      mode = next;
      if (next === 'forward') return;
      for (const pair of [...pairs]) {
        pairs.delete(pair);
        pair.client.unpipe(pair.upstream);
        pair.upstream.unpipe(pair.client);
        pair.upstream.destroy();
        if (next === 'silent') hold(pair.client);
        else pair.client.destroy();
      }
    },
    async close() {
      mode = 'refuse';
      for (const s of held) s.destroy();
      for (const p of pairs) p.client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The bed's own relay as a Link (forward and refuse only). */
function bedLink(bed: LiteBed): Link {
  return {
    port: bed.link.port,
    set(mode) {
      if (mode === 'forward') bed.link.up();
      else if (mode === 'refuse') bed.link.down();
      else throw new Error(`the bed's relay cannot be ${mode}`);
    },
    close: () => Promise.resolve(),
  };
}

/** The first GET (timed until its answer), then the next AFTER_FIRST; ms. */
async function firstAnswers(t: Target, p: string): Promise<{ first: number; next: number[] }> {
  const t0 = performance.now();
  await get(t, p);
  const first = performance.now() - t0;
  const next: number[] = [];
  for (let i = 0; i < AFTER_FIRST; i++) {
    const t1 = performance.now();
    await get(t, p);
    next.push(performance.now() - t1);
  }
  note(`first answer ${round(first, 1)} ms, then ${next.map((v) => round(v, 2)).join(' ')}`);
  return { first, next };
}

/** A started proxy process: its URL, and a client presenting the node's certificate. */
async function ready(bed: LiteBed, proxy: Child, cleanup: (() => Promise<void>)[], cacheOnly = false): Promise<Target> {
  const { url } = (await proxy.first) as { url: string };
  const t = target(url, bed.ca.certPem, { cert: bed.certs.node.certPem, key: bed.certs.node.keyPem }, cacheOnly);
  cleanup.push(() => t.dispatcher.close());
  return t;
}

/** The proxy's upstream state (and, verbose, its last error). */
async function stateOf(proxy: Child): Promise<string> {
  const s = (await proxy.ask({ op: 'status' })) as LiteApiserverStatus;
  note(`proxy ${s.state}${s.lastError === undefined ? '' : `: ${s.lastError}`}`);
  return s.state;
}

// ---------------------------------------------------------------- the benchmark

const bench: Benchmark = {
  name: B,
  description: 'lite-apiserver in its own process: GET and LIST latency and requests/s online vs direct to the upstream, cache hits offline, the first answers after the upstream goes, RSS (file and sqlite drivers)',
  async run(): Promise<BenchResult[]> {
    const objects = envInt('BENCH_LITE_OBJECTS', 100);
    const load = { requests: envInt('BENCH_LITE_REQUESTS', 1000), listRequests: envInt('BENCH_LITE_LIST_REQUESTS', 500), concurrency: envInt('BENCH_LITE_CONCURRENCY', 16), rpsMs: envInt('BENCH_LITE_RPS_MS', 1000) };
    const paths = { get: `/api/v1/namespaces/${NS}/configmaps/cm-000`, list: `/api/v1/namespaces/${NS}/configmaps` };
    const cleanup: (() => Promise<void>)[] = [];
    const out: BenchResult[] = [];
    let bed: LiteBed | undefined;
    try {
      clock = performance.now();
      bed = await startLiteBed();
      const b = bed;
      const admin = rawClient(b.kube);
      try {
        if ((await admin.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } })).status !== 201) throw new Error(`namespace ${NS} not created`);
        for (let i = 0; i < objects; i++) {
          const name = `cm-${String(i).padStart(3, '0')}`;
          const data = { 'config.yaml': `# ${name}\n${'key: value-0123456789abcdef\n'.repeat(36)}` };
          const r = await admin.call('POST', `/api/v1/namespaces/${NS}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { app: 'bench' } }, data });
          if (r.status !== 201) throw new Error(`ConfigMap ${name}: ${r.status}`);
        }
      } finally {
        await admin.close();
      }

      // The runner's own cost and the module graph's, measured beside the proxy.
      const tsx = ['--import', import.meta.resolve('tsx'), CHILD];
      const bareNode = startChild(['-e', "process.once('disconnect', () => process.exit(0)); setInterval(() => {}, 1 << 30); process.send({ ready: true });"]);
      const bareTsx = startChild([...tsx, 'idle']);
      const imported = startChild([...tsx, 'import']);
      for (const c of [bareNode, bareTsx, imported]) cleanup.push(() => c.stop());
      await Promise.all([bareNode.first, bareTsx.first, imported.first]);
      note('test bed, data and idle peers');

      const kubePort = Number(new URL(b.kube.url).port);
      const link = process.env.BENCH_LITE_BED_LINK === '1' ? bedLink(b) : await startLink(kubePort);
      cleanup.push(() => link.close());
      const upstream = `https://127.0.0.1:${link.port}`;
      const direct = target(upstream, b.kube.caPem ?? '', { token: NODE_TOKEN });
      cleanup.push(() => direct.dispatcher.close());
      const bodies = { get: await fetchBody(direct, paths.get), list: await fetchBody(direct, paths.list) };
      const getBytes = bodies.get.length;
      const listBytes = bodies.list.length;
      const peer = await measure(direct, paths, load);

      // The floor for a cache hit: the same bytes from memory, over the same TLS, from a process of its own.
      const floor = startChild([...tsx, 'static']);
      cleanup.push(() => floor.stop());
      await floor.first;
      const served = (await floor.ask({ op: 'serve', tls: { cert: b.serving.certPem, key: b.serving.keyPem, clientCa: b.ca.certPem }, bodies: { [paths.get]: bodies.get.toString('base64'), [paths.list]: bodies.list.toString('base64') } })) as { url: string };
      const floorTarget = target(served.url, b.ca.certPem, { cert: b.certs.node.certPem, key: b.certs.node.keyPem });
      cleanup.push(() => floorTarget.dispatcher.close());
      const statik = { get: await latencies(floorTarget, paths.get, load.requests), list: await latencies(floorTarget, paths.list, load.listRequests) };
      await floor.stop();
      note(`static HTTPS server: GET ${spread(statik.get)}; LIST ${spread(statik.list)}`);
      const STATIC = 'static HTTPS server, same bytes from memory';
      const DIRECT = 'direct to upstream (same relay)';
      const DIRECT_ONLINE = 'direct to upstream online';
      const what = {
        get: `GET 1 ConfigMap (${round(getBytes / 1024, 1)} KB)`,
        list: `LIST ${objects} ConfigMaps (${round(listBytes / 1024, 0)} KB)`,
      };
      const ms = (v: number): number => round(v, 3);
      const base = { probe: { initialMs: 500, maxMs: 5000 }, watch: {} };

      const rss: Record<string, { idle: number; after: number; peak: number }> = {};
      let idlePeers: { node: number; tsx: number; imported: number } | undefined;
      for (const driver of ['file', 'sqlite'] as const) {
        const storePath = path.join(b.dir, driver === 'file' ? 'cache-file' : 'cache.db');
        const proxy = startProxy(b.options({ ...base, server: upstream, storage: { driver, path: storePath }, dialTimeoutMs: 3000, requestTimeoutMs: 30_000 }));
        cleanup.push(() => proxy.stop());
        const online = await ready(b, proxy, cleanup);
        const offline = { ...online, cacheOnly: true };
        await sleep(500);
        const pid = proxy.proc.pid!;
        const idle = rssMiB(pid);
        idlePeers ??= { node: rssMiB(bareNode.proc.pid!), tsx: rssMiB(bareTsx.proc.pid!), imported: rssMiB(imported.proc.pid!) };
        note(`${driver} proxy started`);
        const sampler = rssPeak(pid);
        if ((await get(online, paths.list)) !== listBytes) throw new Error('the proxy answered a LIST of another size than the upstream');
        const on = await measure(online, paths, load);

        // The upstream goes: the very next request finds out, the following ones must not wait.
        link.set('refuse');
        const after = await firstAnswers(offline, paths.get);
        const state = await stateOf(proxy);
        if (state !== 'offline') throw new Error(`the ${driver} proxy is ${state} after the link went down`);
        const off = await measure(offline, paths, load);
        const peak = sampler.stop();
        rss[driver] = { idle, after: rssMiB(pid), peak };
        if (VERBOSE) {
          const status = (await proxy.ask({ op: 'status' })) as LiteApiserverStatus;
          process.stderr.write(`${driver}: ${JSON.stringify({ requests: status.requests, cache: status.cache, memory: await proxy.ask({ op: 'memory' }) })}\n`);
        }
        await proxy.stop();
        link.set('forward');

        const tag = `${driver} driver`;
        for (const k of ['get', 'list'] as const) {
          for (const p of [50, 99]) {
            out.push(versus({ bench: B, metric: `${what[k]} p${p}, through the proxy online (${tag})`, value: ms(pct(on[k], p)), unit: 'ms' }, DIRECT, pct(peer[k], p)));
          }
          out.push(versus({ bench: B, metric: `${what[k]} requests/s x${load.concurrency}, through the proxy online (${tag})`, value: round(on[`${k}Rps`], 0), unit: 'req/s' }, DIRECT, peer[`${k}Rps`]));
        }
        for (const k of ['get', 'list'] as const) {
          for (const p of [50, 99]) {
            out.push({ ...versus({ bench: B, metric: `${what[k]} p${p}, cache hit offline (${tag})`, value: ms(pct(off[k], p)), unit: 'ms' }, DIRECT_ONLINE, pct(peer[k], p)), ...(p === 99 ? { target: '< 2' } : {}) });
          }
          for (const p of [50, 99]) out.push(versus({ bench: B, metric: `${what[k]} p${p}, cache hit offline (${tag})`, value: ms(pct(off[k], p)), unit: 'ms' }, STATIC, pct(statik[k], p)));
          out.push(versus({ bench: B, metric: `${what[k]} requests/s x${load.concurrency}, cache hit offline (${tag})`, value: round(off[`${k}Rps`], 0), unit: 'req/s' }, DIRECT_ONLINE, peer[`${k}Rps`]));
        }
        out.push({ bench: B, metric: `first answer after the link went down (connections dropped), the request that finds out (${tag})`, value: ms(after.first), unit: 'ms' });
        out.push({ bench: B, metric: `max of the next ${AFTER_FIRST} answers after it (${tag})`, value: ms(Math.max(...after.next)), unit: 'ms', target: '< 5' });
      }

      // A blackholed upstream (nothing refused, nothing answered), with short timeouts set here. Both proxies start
      // together; each is measured alone.
      const holes = { silent: await startLink(kubePort), fresh: await startLink(kubePort) };
      for (const h of Object.values(holes)) cleanup.push(() => h.close());
      const holeProxies = {
        silent: startProxy(b.options({ ...base, ...BLACKHOLE, server: `https://127.0.0.1:${holes.silent.port}`, storage: { driver: 'file', path: path.join(b.dir, 'cache-hole-silent') } })),
        fresh: startProxy(b.options({ ...base, ...BLACKHOLE, server: `https://127.0.0.1:${holes.fresh.port}`, storage: { driver: 'file', path: path.join(b.dir, 'cache-hole-fresh') } })),
      };
      for (const p of Object.values(holeProxies)) cleanup.push(() => p.stop());
      const holeTargets = { silent: await ready(b, holeProxies.silent, cleanup), fresh: await ready(b, holeProxies.fresh, cleanup) };
      note('blackhole proxies started');
      const TIMEOUTS = `dial timeout ${BLACKHOLE.dialTimeoutMs} ms, request timeout ${BLACKHOLE.requestTimeoutMs} ms`;

      {
        const t = holeTargets.silent;
        for (let i = 0; i < 20; i++) await get(t, paths.get);
        holes.silent.set('silent');
        // A second request arrives while the first still waits: does it wait for the breaker, or for its own timeout?
        const late = (async () => {
          await sleep(1000);
          const t0 = performance.now();
          await get(t, paths.get);
          return performance.now() - t0;
        })();
        const after = await firstAnswers(t, paths.get);
        const lateMs = await late;
        note(`second request ${round(lateMs, 1)} ms`);
        const state = await stateOf(holeProxies.silent);
        if (state !== 'offline') throw new Error(`the proxy is ${state} after the upstream was blackholed`);
        await holeProxies.silent.stop();
        out.push(versus({ bench: B, metric: `first answer after the upstream was blackholed: pooled keep-alive connection gone silent (${TIMEOUTS})`, value: ms(after.first), unit: 'ms' }, 'request timeout', BLACKHOLE.requestTimeoutMs));
        // The pooled connection is busy with the first: the second dials a new one, which the dial timeout bounds.
        out.push(versus({ bench: B, metric: 'a second request sent 1 s into that wait (it dials a new connection): its answer', value: ms(lateMs), unit: 'ms' }, 'dial timeout', BLACKHOLE.dialTimeoutMs));
        out.push({ bench: B, metric: `max of the next ${AFTER_FIRST} answers after the first (pooled connection gone silent)`, value: ms(Math.max(...after.next)), unit: 'ms', target: '< 5' });
      }
      {
        const t = holeTargets.fresh;
        for (let i = 0; i < 20; i++) await get(t, paths.get);
        holes.fresh.set('fresh');
        // Let the proxy see its pooled connections close, so the next request dials.
        await sleep(100);
        const after = await firstAnswers(t, paths.get);
        const state = await stateOf(holeProxies.fresh);
        if (state !== 'offline') throw new Error(`the proxy is ${state} after the upstream was blackholed (new connections)`);
        await holeProxies.fresh.stop();
        out.push(versus({ bench: B, metric: `first answer after the upstream was blackholed: new connection, TCP accepted, TLS never answered (${TIMEOUTS})`, value: ms(after.first), unit: 'ms' }, 'dial timeout', BLACKHOLE.dialTimeoutMs));
        out.push({ bench: B, metric: `max of the next ${AFTER_FIRST} answers after the first (TLS never answered)`, value: ms(Math.max(...after.next)), unit: 'ms', target: '< 5' });
      }

      const TSX = 'idle node --import tsx (no proxy code)';
      const peers = idlePeers!;
      for (const driver of ['file', 'sqlite'] as const) {
        const r = rss[driver]!;
        const row = (metric: string, v: number): BenchResult => ({ ...versus({ bench: B, metric: `proxy RSS ${metric} (${driver} driver)`, value: round(v, 1), unit: 'MiB' }, TSX, peers.tsx), target: '< 40 (YurtHub 30-40)' });
        out.push(row('idle after start', r.idle), row('after the load', r.after), row('peak during the load', r.peak));
      }
      out.push(versus({ bench: B, metric: 'RSS of idle node --import tsx with core/lite-apiserver and core/kernel imported, nothing started', value: round(peers.imported, 1), unit: 'MiB' }, TSX, peers.tsx));
      out.push(versus({ bench: B, metric: 'RSS of idle node --import tsx (the runner alone)', value: round(peers.tsx, 1), unit: 'MiB' }, 'idle bare node', peers.node));
      note('done');
      return out;
    } finally {
      for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
      await bed?.close();
    }
  },
};

export default bench;
