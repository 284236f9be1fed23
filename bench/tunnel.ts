/**
 * tunnel: bulk throughput (256 MiB, one stream), CPU per GiB moved and
 * 64-byte round trips through the tunnel as it runs in production —
 * tunnel-cloud behind an https server with a certificate from core/pki,
 * tunnel-edge in its own process dialling wss:// — against OpenSSH
 * port-forwarding (`ssh -N -L` to a real sshd) and direct loopback TCP, all
 * in the same run and to the same TCP services, which run in a third process.
 *
 * Paths measured (writer → ... → sink):
 *   tunnel:  bench → local TCP port in the cloud process → wss → edge process → sink
 *            (the same shape as ssh -L: the target row)
 *   stream:  bench's own cloud.open() stream → wss → edge process → sink
 *            (how the hub uses the tunnel; one TCP hop fewer)
 *   ssh -L:  bench → ssh (local port) → sshd → sink
 *   direct:  bench → sink
 * The writer announces the length; the sink answers with its count once it
 * has every byte, and the clock stops when that answer arrives. CPU per GiB is
 * user + system time of every process in the bench's tree (from /proc), so it
 * holds up better than MiB/s when other work shares the machine.
 *
 * Each bulk figure is the median of EDGEADM_BENCH_TUNNEL_ROUNDS (default 5)
 * interleaved rounds; EDGEADM_BENCH_TUNNEL_PATHS=tunnel,ssh runs only those
 * paths' bulk rounds and prints them (a diagnostic run, no table).
 * EDGEADM_BENCH_TUNNEL_CPU_PROF=<dir> runs the edge and
 * sink processes with `--cpu-prof` into that folder (run the bench itself
 * with `node --cpu-prof` for the cloud side); EDGEADM_BENCH_TUNNEL_VERBOSE=1
 * prints every round.
 *
 * This file is also the edge and sink processes' entry:
 * `node --import tsx bench/tunnel.ts edge|sink` (spawned by the bench).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createError, createLogger, describeError } from '../core/kernel/index.ts';
import { createCertificateAuthority, issueCertificate } from '../core/pki/index.ts';
import { createTunnelCloud, startTunnelEdge, type TunnelCloud } from '../core/tunnel/index.ts';
import { startSshd, type Sshd } from '../test/support/sshd.ts';
import { freePort } from '../test/support/tcp-services.ts';
import { serveEcho, serveTcp, type TcpService } from '../test/support/tcp-services.ts';
import { round, versus, type Benchmark, type BenchResult } from './harness.ts';

const ErrBench = createError('EDGE_ERR_BENCH_TUNNEL', (p: { step: string; reason: string }) => `tunnel bench: ${p.step}: ${p.reason}`, { statusCode: 500 });

const SELF = fileURLToPath(import.meta.url);
const BULK_BYTES = 256 * 1024 * 1024;
const CHUNK = 256 * 1024;
const WARMUP_BYTES = 64 * 1024 * 1024;
const ROUND_TRIPS = 2000;
const WARMUP_TRIPS = 200;
const NODE = 'bench-edge';

// ---------------------------------------------------------------- measuring

/**
 * Announces `bytes` (8-byte header), writes them with backpressure and waits
 * for the sink's count, sent once it has them all; MiB/s.
 */
async function bulk(out: Duplex, bytes: number): Promise<number> {
  const chunk = Buffer.alloc(CHUNK, 1);
  const answer = new Promise<string>((resolve, reject) => {
    let text = '';
    out.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.endsWith('\n')) resolve(text.trim());
    });
    out.once('close', () => reject(new ErrBench({ step: 'bulk transfer', reason: `the connection closed before the sink's count (got '${text}')` })));
    out.once('error', reject);
  });
  // A failure while writing surfaces below, at the await; never as an unhandled rejection.
  answer.catch(() => undefined);
  const header = Buffer.alloc(8);
  header.writeBigUInt64BE(BigInt(bytes));
  const t0 = performance.now();
  out.write(header);
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
  }
  const text = await answer;
  const ms = performance.now() - t0;
  out.destroy();
  if (Number(text) !== bytes) throw new ErrBench({ step: 'bulk transfer', reason: `the sink counted ${text || 'nothing'}, ${bytes} bytes were sent` });
  return bytes / 1024 / 1024 / (ms / 1000);
}

/** `trips` 64-byte round trips, one at a time; each one's time in ms, sorted. */
async function pingPong(io: Duplex, trips: number): Promise<number[]> {
  const msg = Buffer.alloc(64, 2);
  const times: number[] = [];
  let got = 0;
  let wake: (() => void) | undefined;
  let fail: ((err: Error) => void) | undefined;
  io.on('data', (d: Buffer) => {
    got += d.length;
    if (got >= msg.length && wake) wake();
  });
  // A connection lost midway fails the run instead of hanging it.
  io.once('close', () => fail?.(new ErrBench({ step: 'round trips', reason: `the connection closed after ${times.length} of ${trips}` })));
  io.once('error', (err) => fail?.(err));
  for (let i = 0; i < trips; i++) {
    got = 0;
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      wake = resolve;
      fail = reject;
      io.write(msg);
    });
    times.push(performance.now() - t0);
  }
  fail = undefined;
  io.destroy();
  return times.sort((a, b) => a - b);
}

const pct = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function tcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

// ---------------------------------------------------------------- child processes

interface ChildHandle {
  proc: ChildProcess;
  /** The child's first message: it is ready. */
  message: Promise<Record<string, unknown>>;
  /** One request to a client process; resolves with its answer. */
  request(job: ClientJob): Promise<number[]>;
  stop(): Promise<void>;
}

/** What the client process runs against a TCP port: a bulk transfer (MiB/s) or round trips (ms each, sorted). */
type ClientJob = { op: 'bulk'; port: number; bytes: number } | { op: 'ping'; port: number; trips: number };

function startChild(role: 'edge' | 'sink' | 'client', env: Record<string, string>): ChildHandle {
  const prof = process.env.EDGEADM_BENCH_TUNNEL_CPU_PROF;
  const proc = spawn(process.execPath, [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), '--import', import.meta.resolve('tsx'), SELF, role], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
  });
  const message = new Promise<Record<string, unknown>>((resolve, reject) => {
    proc.once('message', (m) => resolve(m as Record<string, unknown>));
    proc.once('error', (err) => reject(new ErrBench({ step: `${role} process`, reason: describeError(err) })));
    proc.once('exit', (code, sig) => reject(new ErrBench({ step: `${role} process`, reason: `exited (${code ?? sig}) before it was ready` })));
  });
  message.catch(() => undefined);
  let seq = 0;
  const waiting = new Map<number, { resolve: (v: number[]) => void; reject: (e: Error) => void }>();
  proc.on('message', (m: { id?: number; result?: number[]; error?: string }) => {
    const w = m.id === undefined ? undefined : waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id!);
    if (m.error !== undefined) w.reject(new ErrBench({ step: `${role} process`, reason: m.error }));
    else w.resolve(m.result ?? []);
  });
  proc.once('exit', (code, sig) => {
    for (const w of waiting.values()) w.reject(new ErrBench({ step: `${role} process`, reason: `exited (${code ?? sig})` }));
    waiting.clear();
  });
  return {
    proc,
    message,
    request(job) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        proc.send({ id, job });
      });
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      // SIGINT lets the child end cleanly (and write its CPU profile).
      proc.kill('SIGINT');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  };
}

function childMain(role: string): void {
  const quit = (stop: () => Promise<void>): void => {
    const end = (): void => void stop().finally(() => process.exit(0));
    process.once('SIGINT', end);
    process.once('disconnect', end);
  };
  if (role === 'sink') {
    void (async () => {
      // Reads the announced length, counts, and answers with the count once it has it all.
      const sink = await serveTcp((s) => {
        let head = Buffer.alloc(0);
        let want = -1;
        let n = 0;
        s.on('data', (d: Buffer) => {
          if (want < 0) {
            head = Buffer.concat([head, d]);
            if (head.length < 8) return;
            want = Number(head.readBigUInt64BE(0));
            d = head.subarray(8);
          }
          n += d.length;
          if (n >= want) {
            s.write(`${n}\n`);
            want = Number.POSITIVE_INFINITY;
          }
        });
        s.on('error', () => undefined);
      });
      const echo = await serveEcho();
      quit(async () => {
        await sink.close();
        await echo.close();
      });
      process.send!({ sink: sink.port, echo: echo.port });
    })();
    return;
  }
  if (role === 'client') {
    // The load generator for every path that starts at a TCP port, in a process of its own (like a user's client).
    process.on('message', (m: { id: number; job: ClientJob }) => {
      const { id, job } = m;
      tcp(job.port)
        .then((io) => (job.op === 'bulk' ? bulk(io, job.bytes).then((v) => [v]) : pingPong(io, job.trips)))
        .then(
          (result) => process.send!({ id, result }),
          (err: unknown) => process.send!({ id, error: describeError(err) }),
        );
    });
    quit(() => Promise.resolve());
    process.send!({ ready: true });
    return;
  }
  if (role === 'edge') {
    const edge = startTunnelEdge({
      url: process.env.EDGEADM_BENCH_URL!,
      node: NODE,
      credential: process.env.EDGEADM_BENCH_CREDENTIAL!,
      allow: JSON.parse(process.env.EDGEADM_BENCH_ALLOW!) as string[],
      tls: { ca: process.env.EDGEADM_BENCH_CA! },
      // Errors only: stopping logs a 'tunnel down' warning that is no news here.
      logger: createLogger({ level: 'error' }),
    });
    quit(() => edge.stop());
    void edge.whenConnected().then(() => process.send!({ ready: true }));
    return;
  }
  throw new ErrBench({ step: 'child process', reason: `unknown role '${role}' (edge, sink or client)` });
}

if (process.argv[1] === SELF) childMain(process.argv[2] ?? '');

// ---------------------------------------------------------------- ssh -L

async function sshForward(sshd: Sshd, forwards: { local: number; remote: number }[]): Promise<ChildProcess> {
  const args = [
    '-N',
    ...forwards.flatMap((f) => ['-L', `${f.local}:127.0.0.1:${f.remote}`]),
    '-i',
    sshd.clientKeyFile,
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'ExitOnForwardFailure=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'LogLevel=ERROR',
    `${sshd.user}@127.0.0.1`,
    '-p',
    String(sshd.port),
  ];
  const proc = spawn('ssh', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const until = Date.now() + 10_000;
  for (const f of forwards) {
    for (;;) {
      if (proc.exitCode !== null) throw new ErrBench({ step: 'ssh -L', reason: `ssh exited (${proc.exitCode}): ${err.trim()}` });
      const ok = await tcp(f.local).then(
        (s) => (s.destroy(), true),
        () => false,
      );
      if (ok) break;
      if (Date.now() > until) throw new ErrBench({ step: 'ssh -L', reason: `port ${f.local} not forwarding within 10 s: ${err.trim()}` });
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return proc;
}

// ---------------------------------------------------------------- CPU accounting

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU time (ms, user + system) of this process and every process under it
 * (sink, edge, ssh, sshd and its session children), from /proc; undefined
 * where there is no /proc.
 */
function treeCpuMs(): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return undefined;
  }
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const e of entries) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // Fields after "(comm) ": state ppid ... utime(14) stime(15), counted from 3.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    parent.set(Number(e), Number(f[1]));
    cpu.set(Number(e), ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK);
  }
  let total = 0;
  for (const [pid, ms] of cpu) {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parent.get(p)) {
      if (p === process.pid) {
        total += ms;
        break;
      }
    }
  }
  return total;
}

// ---------------------------------------------------------------- the benchmark

/** A TCP listener in this (the cloud's) process relaying each connection into a tunnel stream: the tunnel's `ssh -L`. */
async function tunnelFront(cloud: TunnelCloud, port: number): Promise<TcpService> {
  return serveTcp((sock) => {
    sock.setNoDelay(true);
    sock.pause();
    sock.on('error', () => undefined);
    cloud.open(NODE, { kind: 'tcp', host: '127.0.0.1', port }).then(
      (stream) => {
        sock.pipe(stream).pipe(sock);
        stream.on('close', () => sock.destroy());
        sock.on('close', () => stream.destroy());
        sock.resume();
      },
      () => sock.destroy(),
    );
  });
}

const PATHS = {
  direct: 'direct loopback TCP',
  ssh: 'ssh -L (OpenSSH)',
  tunnel: 'tunnel (TCP port on the cloud, wss, edge process)',
  stream: 'tunnel stream opened in the cloud process',
} as const;
type PathName = keyof typeof PATHS;

const bench: Benchmark = {
  name: 'tunnel',
  description: 'bulk throughput, CPU per GiB and 64-byte round trips: tunnel (wss, edge in its own process) vs ssh -L vs direct loopback TCP',
  async run(): Promise<BenchResult[]> {
    const logger = createLogger({ level: 'silent' });
    const rounds = Number(process.env.EDGEADM_BENCH_TUNNEL_ROUNDS ?? 5);
    if (!Number.isInteger(rounds) || rounds < 1) throw new ErrBench({ step: 'EDGEADM_BENCH_TUNNEL_ROUNDS', reason: `must be a positive integer, not '${process.env.EDGEADM_BENCH_TUNNEL_ROUNDS}'` });
    const cleanup: (() => Promise<void> | void)[] = [];
    try {
      const sinkProc = startChild('sink', {});
      cleanup.push(() => sinkProc.stop());
      const ports = (await sinkProc.message) as { sink: number; echo: number };

      const sshd = await startSshd();
      cleanup.push(() => sshd.stop());
      const fwd = { sink: await freePort(), echo: await freePort() };
      const ssh = await sshForward(sshd, [
        { local: fwd.sink, remote: ports.sink },
        { local: fwd.echo, remote: ports.echo },
      ]);
      cleanup.push(async () => {
        const gone = new Promise((r) => ssh.once('exit', r));
        ssh.kill('SIGTERM');
        await gone;
      });

      const ca = await createCertificateAuthority({ commonName: 'edgeadm bench CA' });
      const cert = await issueCertificate(ca, { commonName: 'bench-cloud', ipAddresses: ['127.0.0.1'], usage: 'server' });
      const credential = randomBytes(24).toString('hex');
      const cloud = createTunnelCloud({ name: 'bench-cloud', logger, authenticate: (c) => (c === credential ? NODE : undefined) });
      const https = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => res.writeHead(404).end());
      https.on('upgrade', (req, socket, head) => cloud.handleUpgrade(req, socket, head));
      await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
      cleanup.push(async () => {
        await cloud.close();
        https.closeAllConnections();
        await new Promise((r) => https.close(r));
      });
      const fronts = { sink: await tunnelFront(cloud, ports.sink), echo: await tunnelFront(cloud, ports.echo) };
      cleanup.push(async () => {
        await fronts.sink.close();
        await fronts.echo.close();
      });
      const edgeProc = startChild('edge', {
        EDGEADM_BENCH_URL: `wss://127.0.0.1:${(https.address() as AddressInfo).port}/tunnel`,
        EDGEADM_BENCH_CREDENTIAL: credential,
        EDGEADM_BENCH_CA: ca.certPem,
        EDGEADM_BENCH_ALLOW: JSON.stringify([`127.0.0.1:${ports.sink}`, `127.0.0.1:${ports.echo}`]),
      });
      // Stopped before the cloud: registered last, runs first.
      cleanup.push(() => edgeProc.stop());
      await edgeProc.message;

      const client = startChild('client', {});
      cleanup.push(() => client.stop());
      await client.message;

      // Every path but `stream` starts at a TCP port, driven from the client process.
      const portOf: Record<Exclude<PathName, 'stream'>, (which: 'sink' | 'echo') => number> = {
        direct: (which) => ports[which],
        ssh: (which) => fwd[which],
        tunnel: (which) => fronts[which].port,
      };
      const streamTo = (which: 'sink' | 'echo'): Promise<Duplex> => cloud.open(NODE, { kind: 'tcp', host: '127.0.0.1', port: ports[which] });
      const runBulk = async (n: PathName, bytes: number): Promise<number> =>
        n === 'stream' ? bulk(await streamTo('sink'), bytes) : (await client.request({ op: 'bulk', port: portOf[n]('sink'), bytes }))[0]!;
      const runPing = async (n: PathName, trips: number): Promise<number[]> =>
        n === 'stream' ? pingPong(await streamTo('echo'), trips) : client.request({ op: 'ping', port: portOf[n]('echo'), trips });
      const only = process.env.EDGEADM_BENCH_TUNNEL_PATHS?.split(',');
      const unknown = only?.filter((n) => !(n in PATHS)) ?? [];
      if (unknown.length > 0) throw new ErrBench({ step: 'EDGEADM_BENCH_TUNNEL_PATHS', reason: `unknown path '${unknown.join("', '")}' (known: ${Object.keys(PATHS).join(', ')})` });
      // Every path unless EDGEADM_BENCH_TUNNEL_PATHS names some (the rows need ssh and direct as peers).
      const names = (Object.keys(PATHS) as PathName[]).filter((n) => !only || only.includes(n));

      for (const n of names) await runBulk(n, WARMUP_BYTES);
      const mibs = { direct: [], ssh: [], tunnel: [], stream: [] } as Record<PathName, number[]>;
      const cpuPerGiB = { direct: [], ssh: [], tunnel: [], stream: [] } as Record<PathName, number[]>;
      // Interleaved rounds: a noisy moment hits every path alike.
      for (let r = 0; r < rounds; r++) {
        for (const n of names) {
          const c0 = treeCpuMs();
          mibs[n].push(await runBulk(n, BULK_BYTES));
          const c1 = treeCpuMs();
          if (c0 !== undefined && c1 !== undefined) cpuPerGiB[n].push(((c1 - c0) * (1024 * 1024 * 1024)) / BULK_BYTES);
        }
      }
      if (only) {
        // A diagnostic run of some paths: the rounds as they came, no table.
        process.stderr.write(`bulk MiB/s per round: ${JSON.stringify(mibs)}\nCPU ms per GiB per round: ${JSON.stringify(cpuPerGiB)}\n`);
        return [];
      }
      const bw = (n: PathName): number => median(mibs[n]);

      const rtt = {} as Record<PathName, number[]>;
      for (const n of names) {
        await runPing(n, WARMUP_TRIPS);
        rtt[n] = await runPing(n, ROUND_TRIPS);
      }

      const bulkMetric = (n: PathName): string => `bulk 256 MiB one stream, ${n === 'ssh' ? 'ssh -L' : PATHS[n]}`;
      const mib = (n: PathName): BenchResult => ({ bench: 'tunnel', metric: bulkMetric(n), value: round(bw(n), 1), unit: 'MiB/s' });
      const out: BenchResult[] = [
        { ...versus(mib('tunnel'), PATHS.ssh, bw('ssh')), target: '>= 1.0x ssh -L' },
        versus(mib('tunnel'), PATHS.direct, bw('direct')),
        versus(mib('stream'), PATHS.ssh, bw('ssh')),
        versus(mib('ssh'), PATHS.direct, bw('direct')),
      ];
      if (cpuPerGiB.tunnel.length > 0) {
        // CPU of every process involved (writer, forwarders, sink) per GiB moved: steadier than MiB/s on a busy machine.
        const cpu = (n: PathName): number => median(cpuPerGiB[n]);
        const metric = (n: PathName): string => `CPU per GiB moved (all processes), ${n === 'ssh' ? 'ssh -L' : PATHS[n]}`;
        out.push(versus({ bench: 'tunnel', metric: metric('tunnel'), value: round(cpu('tunnel'), 0), unit: 'ms' }, PATHS.ssh, cpu('ssh')));
        out.push(versus({ bench: 'tunnel', metric: metric('stream'), value: round(cpu('stream'), 0), unit: 'ms' }, PATHS.ssh, cpu('ssh')));
        out.push(versus({ bench: 'tunnel', metric: metric('ssh'), value: round(cpu('ssh'), 0), unit: 'ms' }, PATHS.direct, cpu('direct')));
      }
      // Microseconds: the harness rounds peer values to 2 decimals.
      const us = (n: PathName, p: number): number => pct(rtt[n], p) * 1000;
      for (const p of [50, 99]) {
        const metric = (n: PathName): string => `64-byte round trip p${p}, ${n === 'ssh' ? 'ssh -L' : PATHS[n]}`;
        const at = (n: PathName): BenchResult => ({ bench: 'tunnel', metric: metric(n), value: round(us(n, p), 1), unit: 'µs' });
        out.push(versus(at('tunnel'), PATHS.ssh, us('ssh', p)));
        out.push(versus(at('tunnel'), PATHS.direct, us('direct', p)));
        out.push(versus(at('stream'), PATHS.ssh, us('ssh', p)));
        out.push(versus(at('ssh'), PATHS.direct, us('direct', p)));
      }
      if (process.env.EDGEADM_BENCH_TUNNEL_VERBOSE === '1') {
        process.stderr.write(`bulk MiB/s per round: ${JSON.stringify(mibs)}\nCPU ms per GiB per round: ${JSON.stringify(cpuPerGiB)}\n`);
      }
      return out;
    } finally {
      for (const fn of cleanup.reverse()) await fn();
    }
  },
};

export default bench;
