/**
 * The npm scan and its memory between runs: what is installed, added,
 * updated or removed in a node_modules folder is seen on the next discovery,
 * with or without the cache, and the cache itself lives in XDG_CACHE_HOME.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { discoverPlugins } from './index.ts';

let dir: string;
let nm: string;
let savedCache: string | undefined;

function install(name: string, plugin: string | undefined): void {
  const pkgDir = path.join(nm, name);
  mkdirSync(pkgDir, { recursive: true });
  const pkg: Record<string, unknown> = { name, version: '1.0.0', type: 'module' };
  if (plugin) pkg.edgeadm = { id: plugin, role: 'extension', engine: '^0.1.0', entry: './index.js' };
  writeFileSync(path.join(pkgDir, 'package.json'), JSON.stringify(pkg));
  writeFileSync(path.join(pkgDir, 'index.js'), 'export default {};\n');
}

const ids = (): string[] => discoverPlugins({ builtinDir: null, nodeModules: [nm] }).manifests.map((m) => m.id).sort();

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-discovery-'));
  nm = path.join(dir, 'node_modules');
  mkdirSync(nm);
  savedCache = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = path.join(dir, 'cache');
});

afterEach(() => {
  if (savedCache === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = savedCache;
  rmSync(dir, { recursive: true, force: true });
});

describe('the npm scan', () => {
  it('remembers which packages may be plugins, and sees every install, scope, update and removal on the next run', () => {
    install('left-pad', undefined);
    install('acme-counter', 'acme.counter');
    expect(ids()).toEqual(['acme.counter']);
    const cacheFile = path.join(dir, 'cache', 'edgeadm', 'plugin-scan.json');
    const cache = JSON.parse(readFileSync(cacheFile, 'utf8')) as Record<string, { candidates: string[] }>;
    expect(cache[nm]?.candidates).toEqual([path.join(nm, 'acme-counter')]);
    // Nothing changed: the same answer from the cache.
    expect(ids()).toEqual(['acme.counter']);
    // A new package, then one in a new scope, then one more in that scope.
    install('acme-gauge', 'acme.gauge');
    expect(ids()).toEqual(['acme.counter', 'acme.gauge']);
    install('@plant/meter', 'plant.meter');
    expect(ids()).toEqual(['acme.counter', 'acme.gauge', 'plant.meter']);
    install('@plant/valve', 'plant.valve');
    expect(ids()).toEqual(['acme.counter', 'acme.gauge', 'plant.meter', 'plant.valve']);
    // A plugin's manifest updated in place is read again (candidates are always read).
    install('acme-counter', 'acme.counter2');
    expect(ids()).toEqual(['acme.counter2', 'acme.gauge', 'plant.meter', 'plant.valve']);
    // Removed packages are gone.
    rmSync(path.join(nm, 'acme-gauge'), { recursive: true });
    rmSync(path.join(nm, '@plant', 'meter'), { recursive: true });
    expect(ids()).toEqual(['acme.counter2', 'plant.valve']);
    // A project deleted is forgotten at the next write.
    const other = path.join(dir, 'other', 'node_modules');
    mkdirSync(path.join(other, 'x'), { recursive: true });
    writeFileSync(path.join(other, 'x', 'package.json'), '{"name":"x"}');
    discoverPlugins({ builtinDir: null, nodeModules: [other] });
    expect(Object.keys(JSON.parse(readFileSync(cacheFile, 'utf8')) as object).sort()).toEqual([nm, other].sort());
    rmSync(path.join(dir, 'other'), { recursive: true });
    install('acme-later', 'acme.later');
    expect(ids()).toEqual(['acme.counter2', 'acme.later', 'plant.valve']);
    expect(Object.keys(JSON.parse(readFileSync(cacheFile, 'utf8')) as object)).toEqual([nm]);
  });

  it('works without a cache it can write, and with a broken one', () => {
    install('acme-counter', 'acme.counter');
    writeFileSync(path.join(dir, 'cache'), 'not a folder');
    expect(ids()).toEqual(['acme.counter']);
    rmSync(path.join(dir, 'cache'));
    mkdirSync(path.join(dir, 'cache', 'edgeadm'), { recursive: true });
    writeFileSync(path.join(dir, 'cache', 'edgeadm', 'plugin-scan.json'), '{ torn');
    expect(ids()).toEqual(['acme.counter']);
    expect(existsSync(path.join(dir, 'cache', 'edgeadm', 'plugin-scan.json'))).toBe(true);
    expect(JSON.parse(readFileSync(path.join(dir, 'cache', 'edgeadm', 'plugin-scan.json'), 'utf8'))).toHaveProperty([nm]);
  });
});
