/**
 * Discovery: finds plugins by reading package.json files only. Sources, in
 * order: the plugins shipped with edgeadm (`plugins/*`), extra search paths
 * (folders of plugin packages), and installed npm packages (`node_modules`,
 * scoped ones included) whose package.json carries an `"edgeadm"` block.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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

function readJson(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8')) as unknown;
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
  if (!existsSync(pkgFile)) return undefined;
  const label = path.basename(dir);
  let pkg: Record<string, unknown>;
  try {
    const parsed = readJson(pkgFile);
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
  for (const nm of opts.nodeModules ?? defaultNodeModules()) {
    for (const d of packageDirsIn(nm)) {
      if (path.basename(d) === 'edgeadm') continue;
      take(d, 'npm');
    }
  }
  return { manifests, problems };
}
