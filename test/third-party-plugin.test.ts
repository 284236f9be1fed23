/**
 * The SDK from outside the repo: a plugin package installed npm-style into a
 * fresh project, found by discovery, loaded through `edgeadm/sdk`, tested with
 * `edgeadm/sdk/testkit` and listed by the CLI.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceRef } from '../core/sdk/index.ts';
import type * as Testkit from '../core/sdk/testkit/index.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

let project: string;
let nodeModules: string;

beforeAll(() => {
  project = mkdtempSync(path.join(tmpdir(), 'edgeadm-third-party-'));
  nodeModules = path.join(project, 'node_modules');
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'site-project', private: true, type: 'module' }));
  mkdirSync(path.join(nodeModules, '@acme'), { recursive: true });
  // edgeadm itself, as `npm install edgeadm` would leave it (linked to this checkout).
  symlinkSync(repo, path.join(nodeModules, 'edgeadm'), 'dir');
  // The plugin, copied as npm copies an installed package.
  cpSync(path.join(repo, 'test/fixtures/acme-counter'), path.join(nodeModules, '@acme/edgeadm-counter'), { recursive: true });
  // A package without an "edgeadm" block is not a plugin and is passed over.
  mkdirSync(path.join(nodeModules, 'left-pad'));
  writeFileSync(path.join(nodeModules, 'left-pad/package.json'), JSON.stringify({ name: 'left-pad', version: '1.3.0' }));
});

afterAll(() => {
  rmSync(project, { recursive: true, force: true });
});

describe('a third-party plugin installed from npm', () => {
  it('is discovered, started and stopped through the SDK testkit the project resolves', async () => {
    const req = createRequire(path.join(project, 'package.json'));
    const testkit = (await import(pathToFileURL(req.resolve('edgeadm/sdk/testkit')).href)) as typeof Testkit;
    const plugin = (await import(pathToFileURL(req.resolve('@acme/edgeadm-counter')).href)) as {
      clockRef: ServiceRef<{ onTick(fn: () => void): () => void }>;
      counterRef: ServiceRef<{ value(): number; site: string }>;
    };
    const listeners = new Set<() => void>();
    const clock = {
      onTick(fn: () => void) {
        listeners.add(fn);
        return () => void listeners.delete(fn);
      },
    };
    const tk = await testkit.startTestKernel({
      discovery: { builtinDir: null, nodeModules: [nodeModules] },
      instances: [
        { plugin: 'acme.counter', site: 'plant-a', config: { step: 2 } },
        { plugin: 'acme.counter', site: 'plant-b' },
        { plugin: 'acme.counter', site: 'plant-c', config: { step: 0 } },
      ],
      services: [testkit.bindService(plugin.clockRef, clock)],
    });
    expect(tk.status('acme.counter@plant-a').state).toBe('running');
    expect(tk.status('acme.counter@plant-b').state).toBe('running');
    expect(tk.status('acme.counter@plant-c')).toMatchObject({ state: 'invalid', error: { code: 'EDGE_ERR_PLUGIN_CONFIG', message: expect.stringMatching(/step must be >= 1/) } });
    for (const tick of [...listeners]) tick();
    for (const tick of [...listeners]) tick();
    expect(tk.get(plugin.counterRef, 'plant-a')).toMatchObject({ value: expect.any(Function), site: 'plant-a' });
    expect(tk.get(plugin.counterRef, 'plant-a').value()).toBe(4);
    expect(tk.get(plugin.counterRef, 'plant-b').value()).toBe(2);
    expect(tk.registry.plugins().find((p) => p.id === 'acme.counter')).toMatchObject({ source: 'npm', version: '1.2.0', packageName: '@acme/edgeadm-counter' });
    await tk.stop();
    expect(listeners.size).toBe(0);
  });

  it('is listed by `edgeadm plugin list` run in that project, beside the built-in plugins', async () => {
    const { stdout } = await run(process.execPath, [path.join(repo, 'cli/bin/edgeadm.js'), 'plugin', 'list', '-o', 'json'], { cwd: project, env: { ...process.env, EDGEADM_CONFIG: '' } });
    const list = JSON.parse(stdout) as { id: string; source: string; status: string }[];
    expect(list.map((p) => [p.id, p.source, p.status])).toEqual([
      ['acme.counter', 'npm', 'ready'],
      ['edgex', 'builtin', 'ready'],
      ['modbus', 'builtin', 'ready'],
      ['mqtt', 'builtin', 'ready'],
      ['opcua', 'builtin', 'ready'],
      ['simulator', 'builtin', 'ready'],
    ]);
  });
});
