/**
 * Discovery: finds plugins by reading package.json files only. Sources, in
 * order: the plugins shipped with edgeadm (`plugins/*`), extra search paths
 * (folders of plugin packages), and installed npm packages (`node_modules`,
 * scoped ones included) whose package.json carries an `"edgeadm"` block.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ErrManifest } from './errors.ts';
import { EdgeError } from '../kernel/index.ts';
import { checkManifest, type ManifestBlock, type PluginManifest, type PluginSource } from './manifest.ts';

/** Root of the edgeadm package (holds package.json and plugins/). */
export const EDGEADM_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface DiscoveryOptions {
  /** Folder of built-in plugins; defaults to edgeadm's own `plugins/`. Pass null to skip. */
  builtinDir?: string | null;
  /** Folders whose sub-folders are plugin packages. */
  searchPaths?: readonly string[];
  /** node_modules folders to scan for packages with an `"edgeadm"` block. */
  nodeModules?: readonly string[];
}

export interface DiscoveryResult {
  manifests: PluginManifest[];
  /** Packages that declare themselves plugins but whose manifest is broken. */
  problems: EdgeError[];
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function listDirs(dir: string): string[] {
  if (!isDir(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => (d.isDirectory() || d.isSymbolicLink()) && !d.name.startsWith('.'))
    .map((d) => path.join(dir, d.name))
    .sort();
}

/**
 * Reads one package folder. Returns undefined when it is not a plugin (no
 * package.json, or no `"edgeadm"` block), a manifest, or a coded problem.
 */
export function readPluginPackage(dir: string, source: PluginSource): PluginManifest | EdgeError | undefined {
  const pkgFile = path.join(dir, 'package.json');
  let text: string;
  try {
    text = readFileSync(pkgFile, 'utf8');
  } catch {
    return undefined;
  }
  const label = path.basename(dir);
  let pkg: Record<string, unknown>;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return new ErrManifest({ plugin: label, location: pkgFile, problems: ['package.json is not an object'] });
    }
    pkg = parsed as Record<string, unknown>;
  } catch (err) {
    // Whether or not it was meant as a plugin, a broken package.json is worth knowing about.
    return new ErrManifest({ plugin: label, location: pkgFile, problems: [`package.json is not valid JSON: ${(err as Error).message}`] }, { cause: err });
  }
  if (!('edgeadm' in pkg)) {
    return source === 'npm' ? undefined : new ErrManifest({ plugin: label, location: pkgFile, problems: ['package.json has no "edgeadm" block'] });
  }
  const block = pkg.edgeadm;
  const name = typeof (block as { id?: unknown } | null)?.id === 'string' ? (block as { id: string }).id : label;
  const problems = checkManifest(pkg, block);
  if (problems.length > 0) return new ErrManifest({ plugin: name, location: pkgFile, problems });
  const b = block as ManifestBlock;
  const entryPath = path.resolve(dir, b.entry);
  if (!existsSync(entryPath)) {
    return new ErrManifest({ plugin: name, location: pkgFile, problems: [`edgeadm.entry '${b.entry}' does not exist`] });
  }
  const toolsPath = b.tools === undefined ? undefined : path.resolve(dir, b.tools);
  if (toolsPath !== undefined && !existsSync(toolsPath)) {
    return new ErrManifest({ plugin: name, location: pkgFile, problems: [`edgeadm.tools '${b.tools}' does not exist`] });
  }
  return {
    id: b.id,
    packageName: pkg.name as string,
    version: pkg.version as string,
    description: typeof pkg.description === 'string' ? pkg.description : undefined,
    role: b.role,
    engine: b.engine,
    stage: b.stage ?? 'stable',
    dependencies: [...(b.dependencies ?? [])],
    source,
    dir,
    entryPath,
    ...(toolsPath === undefined ? {} : { toolsPath }),
  };
}

function packageDirsIn(nodeModules: string): string[] {
  const out: string[] = [];
  for (const d of listDirs(nodeModules)) {
    const base = path.basename(d);
    if (base.startsWith('@')) out.push(...listDirs(d));
    else out.push(d);
  }
  return out;
}

/**
 * The npm scan's memory between runs: for each node_modules folder, the
 * packages whose package.json names "edgeadm", valid while the folder and its
 * @scope folders keep their mtimes (npm install, uninstall, update and link
 * all change them). Kept in $XDG_CACHE_HOME/edgeadm/plugin-scan.json
 * (~/.cache/edgeadm), best effort: without it every start reads every
 * installed package's package.json (about 40 ms for 400 packages).
 */
type ScanCache = Record<string, { stamp: string; candidates: string[] }>;

function scanCacheFile(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'edgeadm', 'plugin-scan.json');
}

function readScanCache(): ScanCache {
  try {
    const c = JSON.parse(readFileSync(scanCacheFile(), 'utf8')) as unknown;
    return c !== null && typeof c === 'object' && !Array.isArray(c) ? (c as ScanCache) : {};
  } catch {
    return {};
  }
}

function writeScanCache(cache: ScanCache): void {
  const file = scanCacheFile();
  // Folders that are gone (a project deleted) are forgotten.
  for (const nm of Object.keys(cache)) if (!existsSync(nm)) delete cache[nm];
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(cache));
    renameSync(tmp, file);
  } catch {
    // a read-only home: scan every time
  }
}

/** The mtimes of a node_modules folder and of its @scope folders, as one string; undefined when it cannot be read. */
function scanStamp(nodeModules: string): string | undefined {
  try {
    const parts = [String(statSync(nodeModules).mtimeMs)];
    for (const d of readdirSync(nodeModules, { withFileTypes: true })) {
      if (d.name.startsWith('@')) parts.push(`${d.name}=${statSync(path.join(nodeModules, d.name)).mtimeMs}`);
    }
    return parts.sort().join(',');
  } catch {
    return undefined;
  }
}

/** The package folders of a node_modules folder whose package.json names "edgeadm" (every other one cannot be a plugin). */
function npmCandidates(nodeModules: string, cache: ScanCache): { dirs: string[]; changed: boolean } {
  const stamp = scanStamp(nodeModules);
  if (stamp === undefined) return { dirs: [], changed: false };
  const hit = cache[nodeModules];
  if (hit && hit.stamp === stamp && Array.isArray(hit.candidates)) return { dirs: hit.candidates, changed: false };
  const dirs = packageDirsIn(nodeModules).filter((d) => {
    try {
      return readFileSync(path.join(d, 'package.json')).includes('"edgeadm"');
    } catch {
      return false;
    }
  });
  cache[nodeModules] = { stamp, candidates: dirs };
  return { dirs, changed: true };
}

/** Default node_modules folders: the working directory's and edgeadm's own. */
export function defaultNodeModules(cwd = process.cwd()): string[] {
  return [...new Set([path.join(cwd, 'node_modules'), path.join(EDGEADM_ROOT, 'node_modules')])];
}

export function discoverPlugins(opts: DiscoveryOptions = {}): DiscoveryResult {
  const manifests: PluginManifest[] = [];
  const problems: EdgeError[] = [];
  const seenDirs = new Set<string>();
  const take = (dir: string, source: PluginSource): void => {
    const real = path.resolve(dir);
    if (seenDirs.has(real)) return;
    seenDirs.add(real);
    const r = readPluginPackage(dir, source);
    if (r === undefined) return;
    if (r instanceof EdgeError) problems.push(r);
    else manifests.push(r);
  };
  const builtin = opts.builtinDir === undefined ? path.join(EDGEADM_ROOT, 'plugins') : opts.builtinDir;
  if (builtin !== null) for (const d of listDirs(builtin)) take(d, 'builtin');
  for (const sp of opts.searchPaths ?? []) for (const d of listDirs(sp)) take(d, 'path');
  const cache = readScanCache();
  let changed = false;
  for (const nm of opts.nodeModules ?? defaultNodeModules()) {
    const found = npmCandidates(path.resolve(nm), cache);
    changed ||= found.changed;
    for (const d of found.dirs) {
      if (path.basename(d) === 'edgeadm') continue;
      take(d, 'npm');
    }
  }
  if (changed) writeScanCache(cache);
  return { manifests, problems };
}

declare global {
  interface ImportMeta {
    /** `true` in edgeadm's build (cli/bin/dist.js defines it), undefined when running from sources. */
    edgeadmBundle?: true;
  }
}

let bundleEntries: Record<string, string> | undefined;

/**
 * The URL to import a plugin module (entry or tools) from. A built-in
 * plugin's TypeScript entry is, in edgeadm's build, a bundle entry of its own
 * (dist/manifest.json maps it) sharing the running kernel's modules; any other
 * module is imported from where it is.
 */
function pluginModuleUrl(file: string): string {
  if (import.meta.edgeadmBundle === true) {
    bundleEntries ??= (JSON.parse(readFileSync(path.join(EDGEADM_ROOT, 'dist', 'manifest.json'), 'utf8')) as { entries: Record<string, string> }).entries;
    const out = bundleEntries[path.relative(EDGEADM_ROOT, file).split(path.sep).join('/')];
    if (out !== undefined) return pathToFileURL(path.join(EDGEADM_ROOT, 'dist', out)).href;
  }
  return pathToFileURL(file).href;
}

let typescriptLoader: Promise<void> | undefined;

/**
 * Imports a plugin module (entry or tools). One written in TypeScript (a
 * third party's, from a search path) is loaded through tsx, registered the
 * first time one is needed: only processes that load such a plugin pay for it.
 */
export async function importPluginModule(file: string): Promise<unknown> {
  const url = pluginModuleUrl(file);
  if (import.meta.edgeadmBundle === true && /\.[cm]?tsx?$/.test(url)) {
    typescriptLoader ??= import('tsx/esm/api').then((tsx) => void tsx.register());
    await typescriptLoader;
  }
  return (await import(url)) as unknown;
}
