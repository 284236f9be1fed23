/**
 * kernel: plugin discovery, validation and start/stop at scale, one instance
 * added, updated or removed among 1,000 running ones, and config loading.
 * Peers are the bare work underneath (reading the package.json files;
 * parsing the YAML), and for single-instance changes the whole-registry
 * rebuild they replace (stop everything, validate and start the new set).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { createLogger, createServiceRef, EDGEADM_VERSION, Kernel, ServiceScope } from '../core/kernel/index.ts';
import { definePlugin, discoverPlugins, PluginRegistry, type InstanceSpec, type PluginDefinition } from '../core/plugins/index.ts';
import { Type } from '../core/sdk/index.ts';
import { readConfig } from '../cli/config.ts';
import { medianMs, round, versus, type Benchmark, type BenchResult } from './harness.ts';

const PACKAGES = 500;
const PLUGINS = 200;
const SITES = 5;

function writePackages(dir: string): void {
  for (let i = 0; i < PACKAGES; i++) {
    const pkg = path.join(dir, `plugin-${i}`);
    mkdirSync(pkg);
    writeFileSync(
      path.join(pkg, 'package.json'),
      JSON.stringify({ name: `@bench/plugin-${i}`, version: '1.0.0', edgeadm: { id: `p${i}`, role: 'extension', engine: '^0.1.0', entry: './index.js', ...(i > 0 ? { dependencies: [`p${i - 1}`] } : {}) } }),
    );
    writeFileSync(path.join(pkg, 'index.js'), 'export default {};\n');
  }
}

/** PLUGINS plugins in chains of 5 via services, each run at SITES sites: 1,000 instances. */
function definitions(): PluginDefinition[] {
  const defs: PluginDefinition[] = [];
  for (let i = 0; i < PLUGINS; i++) {
    const own = createServiceRef<number>({ id: `bench.s${i}` });
    const prev = i % 5 === 0 ? undefined : createServiceRef<number>({ id: `bench.s${i - 1}` });
    defs.push(
      definePlugin({
        id: `p${i}`,
        version: '1.0.0',
        engine: '^0.1.0',
        provides: [own],
        consumes: prev ? [prev] : [],
        configSchema: Type.Object({ generation: Type.Optional(Type.Integer()) }, { additionalProperties: false }),
        register(ctx) {
          ctx.provide(own, prev ? ctx.get(prev) + 1 : 0);
          ctx.onStop(() => undefined);
        },
      }),
    );
  }
  return defs;
}

async function startStop(defs: PluginDefinition[], specs: InstanceSpec[]): Promise<{ startMs: number; stopMs: number }> {
  const logger = createLogger({ level: 'silent' });
  const services = ServiceScope.root();
  const kernel = new Kernel({ logger, version: EDGEADM_VERSION, services });
  const registry = new PluginRegistry({ kernelVersion: EDGEADM_VERSION, logger, services, inline: defs });
  kernel.add(registry.component(specs));
  const t0 = performance.now();
  await kernel.start();
  const t1 = performance.now();
  if (registry.status().some((s) => s.state !== 'running')) throw new Error('bench: not every instance started');
  await kernel.stop();
  return { startMs: t1 - t0, stopMs: performance.now() - t1 };
}

/** Median time of `apply(next)` on a registry running `base`, each run on a fresh registry (the setup is not timed). */
async function applyMs(defs: PluginDefinition[], base: InstanceSpec[], next: InstanceSpec[], runs = 7): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const registry = new PluginRegistry({ kernelVersion: EDGEADM_VERSION, logger: createLogger({ level: 'silent' }), services: ServiceScope.root(), inline: defs });
    await registry.apply(base);
    const t0 = performance.now();
    const r = await registry.apply(next);
    const ms = performance.now() - t0;
    if (r.problems.length > 0 || registry.status().some((s) => s.state !== 'running')) throw new Error('bench: apply left an instance not running');
    await registry.stop();
    if (i > 0) times.push(ms);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

/** The rebuild that per-instance apply replaces: stop the registry, then validate and start the whole new set. */
async function rebuildMs(defs: PluginDefinition[], base: InstanceSpec[], next: InstanceSpec[], runs = 5): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const logger = createLogger({ level: 'silent' });
    const services = ServiceScope.root();
    const old = new PluginRegistry({ kernelVersion: EDGEADM_VERSION, logger, services, inline: defs });
    await old.start(base);
    const t0 = performance.now();
    await old.stop();
    const fresh = new PluginRegistry({ kernelVersion: EDGEADM_VERSION, logger, services, inline: defs });
    await fresh.start(next);
    const ms = performance.now() - t0;
    await fresh.stop();
    if (i > 0) times.push(ms);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

const bench: Benchmark = {
  name: 'kernel',
  description: 'plugin discovery, 1,000-instance start/stop, config load',
  async run(): Promise<BenchResult[]> {
    const out: BenchResult[] = [];
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-bench-'));
    try {
      writePackages(dir);
      const discover = await medianMs(() => {
        const r = discoverPlugins({ builtinDir: null, searchPaths: [dir], nodeModules: [] });
        if (r.manifests.length !== PACKAGES) throw new Error('bench: discovery missed packages');
      });
      const bare = await medianMs(() => {
        for (const d of readdirSync(dir)) JSON.parse(readFileSync(path.join(dir, d, 'package.json'), 'utf8'));
      });
      out.push(versus({ bench: 'kernel', metric: `discover ${PACKAGES} plugin packages`, value: round(discover), unit: 'ms' }, 'bare package.json reads', bare));

      const defs = definitions();
      const specs: InstanceSpec[] = [];
      for (let s = 0; s < SITES; s++) for (const d of defs) specs.push({ plugin: d.id, site: `site-${s}` });
      const runs: { startMs: number; stopMs: number }[] = [];
      await startStop(defs, specs);
      for (let i = 0; i < 5; i++) runs.push(await startStop(defs, specs));
      const med = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const startMs = med(runs.map((r) => r.startMs));
      const stopMs = med(runs.map((r) => r.stopMs));
      out.push({ bench: 'kernel', metric: `validate + start ${specs.length} instances (${SITES} sites)`, value: round(startMs), unit: 'ms' });
      out.push({ bench: 'kernel', metric: 'instance starts per second', value: Math.round((specs.length / startMs) * 1000), unit: 'instances/s' });
      out.push({ bench: 'kernel', metric: `stop ${specs.length} instances`, value: round(stopMs), unit: 'ms' });

      // One instance changed among 1,000 running: apply touches it (and its dependants) only.
      const added = [...specs, { plugin: 'p0', site: `site-${SITES}` }];
      const updated = specs.map((s) => (s.plugin === 'p0' && s.site === 'site-0' ? { ...s, config: { generation: 2 } } : s));
      const removed = specs.filter((s) => !(s.plugin === 'p4' && s.site === 'site-0'));
      const rebuild = await rebuildMs(defs, specs, updated);
      const changes: [string, InstanceSpec[]][] = [
        ['add 1 instance', added],
        ['update 1 instance (restarts its 4 dependants)', updated],
        ['remove 1 instance', removed],
        ['apply the same set (no change)', specs],
      ];
      for (const [what, next] of changes) {
        out.push(versus({ bench: 'kernel', metric: `apply: ${what} among ${specs.length} running`, value: round(await applyMs(defs, specs, next), 3), unit: 'ms' }, 'rebuild: stop all + start all', rebuild));
      }

      const yamlText = `log:\n  level: info\nplugins:\n  instances:\n${specs
        .slice(0, 200)
        .map((s) => `    - plugin: ${s.plugin}\n      site: ${s.site}\n      config:\n        port: 502\n`)
        .join('')}`;
      const file = path.join(dir, 'edgeadm.yaml');
      writeFileSync(file, yamlText);
      const load = await medianMs(() => readConfig(file), 21, 3);
      const parse = await medianMs(() => parseYaml(readFileSync(file, 'utf8')), 21, 3);
      out.push(versus({ bench: 'kernel', metric: 'load + validate config (200 instances)', value: round(load, 3), unit: 'ms' }, 'YAML parse alone', parse));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return out;
  },
};

export default bench;
