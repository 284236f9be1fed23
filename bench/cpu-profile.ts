/**
 * CPU profiles for benchmarks: `npm run bench -- <name> --cpu-prof[=dir]`
 * profiles the bench's own process (the hub, where it runs in-process) with
 * the inspector, and every agent process it starts with Node's --cpu-prof;
 * after the run each profile is summarised: self time by area (a package, an
 * edgeadm source file, Node's internals, the garbage collector) and the
 * functions with the most self and total time. Bundled code is mapped back
 * to its sources through the build's source maps.
 *
 * `node --import tsx bench/cpu-profile.ts <file.cpuprofile> ...` prints the
 * same summary for profiles made elsewhere.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Set by `bench/run.ts --cpu-prof`: where profiles go. */
export const PROFILE_DIR_ENV = 'BENCH_CPU_PROF';

export function profileDir(): string | undefined {
  return process.env[PROFILE_DIR_ENV] || undefined;
}

/** Node flags that make a child write its profile as `<name>.cpuprofile` into the profile dir on exit; none when not profiling. */
export function childProfileFlags(name: string): string[] {
  const dir = profileDir();
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${name}.cpuprofile`] : [];
}

/** Profiles this process until the returned function is called, which writes `<name>.cpuprofile`; a no-op when not profiling. */
export async function profileSelf(name: string): Promise<() => Promise<void>> {
  const dir = profileDir();
  if (!dir) return () => Promise.resolve();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 1000 });
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
  };
}

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  name: string;
  totalMs: number;
  /** Self time by area, largest first, as a share of all samples (idle left out). */
  areas: { area: string; ms: number; share: number }[];
  /** Functions by self time. */
  self: { fn: string; ms: number; share: number }[];
  /** Functions by total time (each sample counted once per function on its stack). */
  total: { fn: string; ms: number; share: number }[];
}

const maps = new Map<string, SourceMap | null>();
function sourceMapOf(file: string): SourceMap | null {
  if (!maps.has(file)) {
    try {
      maps.set(file, new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]));
    } catch {
      maps.set(file, null);
    }
  }
  return maps.get(file)!;
}

/** Where a frame's code comes from: a source path relative to the repo (bundles mapped back), or a package, or Node's own. */
function origin(frame: CallFrame): { file: string; line: number } {
  let file = frame.url.startsWith('file://') ? fileURLToPath(frame.url) : frame.url;
  let line = frame.lineNumber + 1;
  if (file.startsWith(path.join(repo, 'dist') + path.sep)) {
    const found = sourceMapOf(file)?.findEntry(frame.lineNumber, frame.columnNumber);
    const entry = found && 'originalSource' in found ? found : undefined;
    if (entry?.originalSource) {
      file = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : path.resolve(path.dirname(file), entry.originalSource);
      line = entry.originalLine + 1;
    }
  }
  return { file: path.isAbsolute(file) ? path.relative(repo, file) : file, line };
}

function areaOf(frame: CallFrame, file: string): string {
  if (file === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  const nm = file.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = file.slice(nm + 'node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  if (file.startsWith('node:')) return `node:${file.slice(5).split('/').slice(0, 2).join('/')}`;
  return file;
}

export function summarise(name: string, profile: Profile, top = 12): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const described = new Map<number, { fn: string; area: string }>();
  const describe = (id: number): { fn: string; area: string } => {
    let d = described.get(id);
    if (!d) {
      const frame = byId.get(id)!.callFrame;
      const o = origin(frame);
      const area = areaOf(frame, o.file);
      d = { fn: o.file === '' ? frame.functionName || '(anonymous)' : `${frame.functionName || '(anonymous)'} ${o.file}:${o.line}`, area };
      described.set(id, d);
    }
    return d;
  };
  const selfMs = new Map<string, number>();
  const totalMs = new Map<string, number>();
  const areaMs = new Map<string, number>();
  let all = 0;
  const add = (m: Map<string, number>, k: string, v: number): void => {
    m.set(k, (m.get(k) ?? 0) + v);
  };
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    const ms = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
    const d = describe(id);
    if (d.area === '(idle)') continue;
    all += ms;
    add(selfMs, d.fn, ms);
    add(areaMs, d.area, ms);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const fn = describe(at).fn;
      if (fn === '(root)' || seen.has(fn)) continue;
      seen.add(fn);
      add(totalMs, fn, ms);
    }
  }
  const rank = <K extends string>(m: Map<string, number>, key: K, n: number): ({ ms: number; share: number } & Record<K, string>)[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, ms]) => ({ [key]: k, ms: Math.round(ms), share: all === 0 ? 0 : Math.round((ms / all) * 1000) / 10 }) as { ms: number; share: number } & Record<K, string>);
  return { name, totalMs: Math.round(all), areas: rank(areaMs, 'area', top), self: rank(selfMs, 'fn', top), total: rank(totalMs, 'fn', top) };
}

export function formatSummary(s: ProfileSummary): string {
  const lines = [`## ${s.name}: ${s.totalMs} ms on CPU (idle left out)`, '', 'self time by area:'];
  for (const a of s.areas) lines.push(`  ${a.share.toFixed(1).padStart(5)}%  ${a.area}`);
  lines.push('', 'functions by self time:');
  for (const f of s.self) lines.push(`  ${f.share.toFixed(1).padStart(5)}%  ${f.fn}`);
  lines.push('', 'functions by total time:');
  for (const f of s.total) lines.push(`  ${f.share.toFixed(1).padStart(5)}%  ${f.fn}`);
  return lines.join('\n');
}

/** Summaries of every profile in `dir`, by file name. */
export function summariseDir(dir: string): string {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()
    .map((f) => formatSummary(summarise(f.replace(/\.cpuprofile$/, ''), JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Profile)))
    .join('\n\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    process.stderr.write('usage: node --import tsx bench/cpu-profile.ts <file.cpuprofile> ...\n');
    process.exitCode = 2;
  } else {
    for (const f of files) process.stdout.write(`${formatSummary(summarise(path.basename(f), JSON.parse(readFileSync(f, 'utf8')) as Profile))}\n\n`);
  }
}
