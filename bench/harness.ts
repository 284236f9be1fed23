/** What every benchmark returns, and small timing helpers. */

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
