/** What every benchmark returns, and small helpers: timing, options, child processes. */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

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
