/** What every benchmark returns, and small helpers: timing, options, child processes. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, fetch as undiciFetch } from 'undici';
import type { Hub } from '../core/hub/index.ts';
import { childProfileFlags } from './cpu-profile.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface BenchResult {
  bench: string;
  metric: string;
  value: number;
  unit: string;
  /** A reference measured in the same run (e.g. `direct TCP`, `mosquitto`). */
  peer?: string;
  peerValue?: number;
  /** value / peerValue. */
  ratio?: number;
  /** The figure promised in DESIGN.md, as text (e.g. `>= 100000`). */
  target?: string;
}

export interface Benchmark {
  name: string;
  description: string;
  run(): Promise<BenchResult[]>;
}

/** Median wall time in ms of `fn` over `runs` runs, after `warmup` unmeasured runs. */
export async function medianMs(fn: () => unknown, runs = 7, warmup = 2): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** A result compared against a peer measured in the same run. */
export function versus(base: Omit<BenchResult, 'peer' | 'peerValue' | 'ratio'>, peer: string, peerValue: number): BenchResult {
  return { ...base, peer, peerValue: round(peerValue), ratio: round(base.value / peerValue, 3) };
}

/** A positive integer from the environment (a benchmark option), or `fallback`; anything else throws, naming the variable. */
export function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`bench option ${name} must be a positive integer (got '${v}')`);
  return n;
}

/** Resident memory of a process in MiB; NaN once it is gone. */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Stops a child process: SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
export async function stopChild(proc: ChildProcess, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(t);
}

/** A call to a hub's API as `token`; throws with the status and body unless it succeeded. */
export async function api(hub: Hub, token: string, method: string, p: string, body?: unknown): Promise<unknown> {
  const res = await undiciFetch(`${hub.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(hub.caCert ? { dispatcher: new Agent({ connect: { ca: hub.caCert } }) } : {}),
  });
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Polls `fn` every 5 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** CPU seconds (user + system) a process has used, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * `edgeadm site run` for `site` as its own process, as deployed, with its
 * data under `dir`. With `node`, it reaches the hub only through that node's
 * tunnel (wss, the hub's CA). `args` adds flags (e.g. `--no-broker`),
 * `nodeFlags` Node's own (e.g. LEAN_NODE_FLAGS).
 */
export function startAgentProcess(hub: Hub, dir: string, site: string, token: string, o: { node?: string; args?: readonly string[]; nodeFlags?: readonly string[] } = {}): ChildProcess {
  const tokenFile = path.join(dir, `${site}.token`);
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const viaTunnel = o.node ? ['--node', o.node, '--ca-file', hub.caFile!] : [];
  return spawn(
    process.execPath,
    [...(o.nodeFlags ?? []), ...childProfileFlags(`agent-${site}`), path.join(repo, 'cli/bin/edgeadm.js'), 'site', 'run', '--site', site, '--hub', hub.url, ...viaTunnel, '--token-file', tokenFile, '--data-dir', path.join(dir, site), '--log-level', 'warn', ...(o.args ?? [])],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, EDGEADM_CONFIG: '' } },
  );
}
