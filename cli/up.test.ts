/**
 * `edgeadm up` through the real binary: it refuses plugins that need a site
 * agent's services with one error pointing at `edgeadm site run`, runs the
 * ones that need none, and `--once` exits 1 when any instance is not running.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdgeadm } from '../test/support/edgeadm-cli.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let project: string;

/** A plugin package in the project's `plugins/` folder, plain JavaScript importing only edgeadm/sdk. */
function plugin(name: string, id: string, body: string, manifest: Record<string, unknown> = {}): void {
  const dir = path.join(project, 'plugins', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: `@acme/${name}`, version: '1.0.0', type: 'module', edgeadm: { id, role: 'extension', engine: '^0.1.0', entry: './index.js', ...manifest } }),
  );
  writeFileSync(path.join(dir, 'index.js'), `import { definePlugin } from 'edgeadm/sdk';\nexport default definePlugin({ id: '${id}', version: '1.0.0', engine: '^0.1.0', ${body} });\n`);
}

beforeAll(() => {
  project = mkdtempSync(path.join(tmpdir(), 'edgeadm-up-'));
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'up-project', private: true, type: 'module' }));
  mkdirSync(path.join(project, 'node_modules'));
  symlinkSync(repo, path.join(project, 'node_modules', 'edgeadm'), 'dir');
  plugin('ticker', 'acme.ticker', 'register(ctx) { const t = setInterval(() => undefined, 1000); ctx.onStop(() => clearInterval(t)); }');
  plugin('broken', 'acme.broken', "register() { throw new Error('no licence file'); }");
  plugin('someday', 'acme.someday', 'register() {}', { stage: 'planned' });
});

afterAll(() => {
  rmSync(project, { recursive: true, force: true });
});

/** `edgeadm up <args>` in the project with this config; resolves when it exits. */
async function up(config: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const file = path.join(project, `edgeadm-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, config);
  const p = startEdgeadm(['up', '--config', file, ...args], {}, { cwd: project });
  const code = await p.exited;
  return { code, stdout: p.out(), stderr: p.err() };
}

const searchPaths = `plugins:\n  searchPaths: [./plugins]\n`;

// Each run starts a Node process with edgeadm's TypeScript loader: seconds on a busy machine.
describe('edgeadm up', { timeout: 120_000 }, () => {
  it("refuses a device plugin before starting anything, saying to run it with 'edgeadm site run'", async () => {
    const r = await up(`log:\n  level: info\n${searchPaths}  instances:\n    - plugin: modbus\n      site: plant-a\n      config: {}\n      failurePolicy: isolate\n`, ['--once']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toEqual([
      "error: [EDGE_ERR_UP_SITE_PLUGIN] plugin instance 'modbus@plant-a' (site.drivers) consumes services only a site agent provides: " +
        "device plugins run at a site under 'edgeadm site run', for the site's Addons (e.g. 'edgeadm addon modbus --site <site>'); " +
        "'edgeadm up' runs only plugins that need none of them",
    ]);
    expect(r.stderr).not.toMatch(/plugin started/);
  });

  it('names every instance that needs a site, and the services each needs, in one error', async () => {
    const r = await up(
      `log:\n  level: silent\n${searchPaths}  instances:\n    - { plugin: acme.ticker }\n    - { plugin: modbus, site: plant-a }\n    - { plugin: mqtt, site: plant-a }\n    - { plugin: opcua }\n`,
      ['--once', '-o', 'json'],
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^error: \[EDGE_ERR_UP_SITE_PLUGIN\] plugin instances 'modbus@plant-a' \(site\.drivers\), 'mqtt@plant-a' \(site\.drivers, site\.broker, site\.onboarding, site\.metrics\), 'opcua' \(site\.drivers, site\.storage\) consume services only a site agent provides/m,
    );
  });

  it('runs plugins that need no site services, and --once exits 0 when all of them run', async () => {
    const r = await up(`log:\n  level: silent\n${searchPaths}  instances:\n    - { plugin: acme.ticker, site: plant-a }\n    - { plugin: acme.ticker, site: plant-b }\n`, ['--once', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { plugins: { instance: string; state: string }[] };
    expect(out.plugins.map((p) => [p.instance, p.state])).toEqual([
      ['acme.ticker@plant-a', 'running'],
      ['acme.ticker@plant-b', 'running'],
    ]);
  });

  it('--once exits 1 when an instance is invalid or failed, after printing every status', async () => {
    const r = await up(
      `log:\n  level: silent\n${searchPaths}  instances:\n    - { plugin: acme.ticker }\n    - { plugin: acme.broken }\n    - { plugin: acme.someday, site: plant-a }\n    - { plugin: bacnet }\n`,
      ['--once', '-o', 'json'],
    );
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { plugins: { instance: string; state: string; error?: { code: string; message: string } }[] };
    expect(out.plugins.map((p) => [p.instance, p.state, p.error?.code])).toEqual([
      ['acme.ticker', 'running', undefined],
      ['acme.broken', 'failed', 'EDGE_ERR_PLUGIN_START'],
      ['acme.someday@plant-a', 'invalid', 'EDGE_ERR_PLUGIN_NOT_AVAILABLE'],
      ['bacnet', 'invalid', 'EDGE_ERR_PLUGIN_NOT_FOUND'],
    ]);
    expect(out.plugins[1]!.error!.message).toMatch(/no licence file/);
    expect(r.stderr.trim()).toBe(
      'error: [EDGE_ERR_UP_NOT_RUNNING] 3 of 4 plugin instances are not running: ' +
        'acme.broken (failed, EDGE_ERR_PLUGIN_START), acme.someday@plant-a (invalid, EDGE_ERR_PLUGIN_NOT_AVAILABLE), bacnet (invalid, EDGE_ERR_PLUGIN_NOT_FOUND)',
    );
  });
});
