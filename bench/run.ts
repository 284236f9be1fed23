/**
 * `npm run bench -- [name ...] [--json]`: runs the named benchmarks (all by
 * default) and prints one table, or with --json one JSON array of
 * { bench, metric, value, unit, peer?, peerValue?, ratio?, target? }.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PROFILE_DIR_ENV, profileDir, summariseDir } from './cpu-profile.ts';
import type { Benchmark, BenchResult } from './harness.ts';

/** Every benchmark, by short name, loaded only when asked for. */
const BENCHMARKS: Record<string, () => Promise<{ default: Benchmark }>> = {
  kernel: () => import('./kernel.ts'),
  telemetry: () => import('./telemetry.ts'),
  'telemetry-outbox': () => import('./telemetry-outbox.ts'),
  'telemetry-store': () => import('./telemetry-store.ts'),
  'telemetry-volume': () => import('./telemetry-volume.ts'),
  footprint: () => import('./footprint.ts'),
  tunnel: () => import('./tunnel.ts'),
  'tunnel-idle': () => import('./tunnel-idle.ts'),
  modbus: () => import('./modbus.ts'),
  mqtt: () => import('./mqtt.ts'),
  edgex: () => import('./edgex.ts'),
  'edgex-rest': () => import('./edgex-rest.ts'),
  'edgex-sites': () => import('./edgex-sites.ts'),
  opcua: () => import('./opcua.ts'),
  console: () => import('./console.ts'),
  store: () => import('./store.ts'),
  grid: () => import('./grid.ts'),
  'grid-addon': () => import('./grid-addon.ts'),
  'hub-api': () => import('./hub-api.ts'),
  'lite-apiserver': () => import('./lite-apiserver.ts'),
  health: () => import('./health.ts'),
};

function table(rows: readonly BenchResult[]): string {
  const cols: [string, (r: BenchResult) => string][] = [
    ['BENCH', (r) => r.bench],
    ['METRIC', (r) => r.metric],
    ['VALUE', (r) => String(r.value)],
    ['UNIT', (r) => r.unit],
    ['PEER', (r) => r.peer ?? ''],
    ['PEER VALUE', (r) => (r.peerValue === undefined ? '' : String(r.peerValue))],
    ['RATIO', (r) => (r.ratio === undefined ? '' : `${r.ratio}x`)],
    ['TARGET', (r) => r.target ?? ''],
  ];
  const cells = rows.map((r) => cols.map(([, f]) => f(r)));
  const widths = cols.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (vals: string[]): string => `| ${vals.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(cols.map(([h]) => h)), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      `usage: npm run bench -- [name ...] [--json] [--cpu-prof[=dir]]\n  --cpu-prof  profile the bench process and the agents it starts; summaries follow the table\nbenchmarks: ${Object.keys(BENCHMARKS).join(', ')}\n`,
    );
    return 0;
  }
  const prof = argv.find((a) => a === '--cpu-prof' || a.startsWith('--cpu-prof='));
  if (prof) process.env[PROFILE_DIR_ENV] = path.resolve(prof.includes('=') ? prof.slice(prof.indexOf('=') + 1) : mkdtempSync(path.join(tmpdir(), 'edgeadm-cpu-prof-')));
  const unknownFlags = argv.filter((a) => a.startsWith('-') && a !== '--json' && a !== prof);
  if (unknownFlags.length > 0) {
    process.stderr.write(`error: unknown option ${unknownFlags.map((u) => `'${u}'`).join(', ')}; see --help\n`);
    return 2;
  }
  const names = argv.filter((a) => !a.startsWith('-'));
  const unknown = names.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0) {
    process.stderr.write(`error: unknown benchmark ${unknown.map((u) => `'${u}'`).join(', ')}; known: ${Object.keys(BENCHMARKS).join(', ')}\n`);
    return 2;
  }
  const results: BenchResult[] = [];
  for (const name of names.length > 0 ? names : Object.keys(BENCHMARKS)) {
    const bench = (await BENCHMARKS[name]!()).default;
    if (!json) process.stderr.write(`running ${bench.name}: ${bench.description}\n`);
    results.push(...(await bench.run()));
  }
  process.stdout.write(json ? `${JSON.stringify(results)}\n` : `${table(results)}\n`);
  const dir = profileDir();
  if (dir && existsSync(dir)) process.stderr.write(`\nCPU profiles in ${dir}\n\n${summariseDir(dir)}\n`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
