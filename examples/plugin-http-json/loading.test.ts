/**
 * The plugin as a third party ships it: copied into a project's plugin
 * folder beside an installed edgeadm, found through `plugins.searchPaths`,
 * run by the real registry, and used by the real `edgeadm` command (plugin
 * info, addon config checks, discovery) in that project.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mockSiteServices, startTestKernel } from 'edgeadm/sdk/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const edgeadmBin = path.join(repo, 'cli/bin/edgeadm.js');

let project: string;
let plugins: string;
let server: Server;
let url: string;

beforeAll(async () => {
  project = mkdtempSync(path.join(tmpdir(), 'edgeadm-http-json-'));
  plugins = path.join(project, 'plugins');
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'site-project', private: true, type: 'module' }));
  mkdirSync(path.join(project, 'node_modules'));
  // edgeadm as `npm install edgeadm` leaves it (linked to this checkout), and the plugin copied into a search path.
  symlinkSync(repo, path.join(project, 'node_modules', 'edgeadm'), 'dir');
  cpSync(here, path.join(plugins, 'http-json'), { recursive: true, filter: (src) => !src.endsWith('.test.ts') });
  server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ temp: 19.5, door: { open: false } })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/state`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(project, { recursive: true, force: true });
});

/** `edgeadm <args>` run in the project, with its plugin folder as the config's search path. */
function edgeadm(args: readonly string[], searchPaths = [plugins]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, EDGEADM_CONFIG: '', EDGEADM_OUTPUT: '', EDGEADM_PLUGINS__SEARCH_PATHS: `[${searchPaths.join(', ')}]` };
  return new Promise((resolve) => {
    execFile(process.execPath, [edgeadmBin, ...args], { cwd: project, env }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('the http-json plugin loaded from a search path', () => {
  it('is found, started with its config and serves devices through the real registry', async () => {
    const site = await mockSiteServices({ site: 'plant-a' });
    const tk = await startTestKernel({
      discovery: { builtinDir: null, searchPaths: [plugins], nodeModules: [] },
      instances: [{ plugin: 'example.http-json', site: 'plant-a', config: { timeoutMs: 500 } }],
      services: site.services,
    });
    try {
      expect(tk.registry.plugins()).toEqual([
        expect.objectContaining({ id: 'example.http-json', source: 'path', version: '1.0.0', location: path.join(plugins, 'http-json'), status: 'running', consumes: ['site.drivers'] }),
      ]);
      await site.devices.apply(
        { kind: 'DeviceProfile', metadata: { name: 'room' }, spec: { deviceResources: [{ name: 'temp', attributes: { pointer: '/temp' }, properties: { valueType: 'Float64', readWrite: 'R', units: 'degC' } }] } },
        { kind: 'Device', metadata: { name: 'room-1' }, spec: { site: 'plant-a', profile: 'room', protocols: { 'http-json': { url } }, autoEvents: [{ sourceName: 'temp', interval: '1s' }] } },
      );
      expect((await site.readings.waitFor({ device: 'room-1' }))[0]).toMatchObject({ value: 19.5, units: 'degC', quality: 'good' });
    } finally {
      await tk.stop();
      await site.close();
    }
  });

  // Each `edgeadm` run starts a Node process with its TypeScript loader: seconds on a busy machine.
  it('is shown by `edgeadm plugin info` with its config schema', { timeout: 120_000 }, async () => {
    const r = await edgeadm(['plugin', 'info', 'example.http-json', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      id: 'example.http-json',
      source: 'path',
      status: 'ready',
      role: 'device-driver',
      configSchema: { properties: { timeoutMs: { default: 5000 }, maxResponseBytes: { default: 1048576 } } },
    });
  });

  it('has its addon config checked where `edgeadm addon` runs, and only where it is installed', { timeout: 120_000 }, async () => {
    const hub = ['--hub', 'http://127.0.0.1:9', '--token', 'unused'];
    const bad = await edgeadm(['addon', 'example.http-json', '--site', 'plant-a', '--set', 'timeoutMs=1', ...hub]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--set: timeoutMs must be >= 10/);
    const missing = await edgeadm(['addon', 'example.http-json', '--site', 'plant-a', ...hub], []);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no plugin 'example.http-json' is installed here/);
  });

  it('discovers a device from the command line through its tools module', { timeout: 120_000 }, async () => {
    const r = await edgeadm(['device', 'discover', '--plugin', 'example.http-json', url, '--site', 'plant-a', '--max-resources', '5', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const { items } = JSON.parse(r.stdout) as { items: { kind: string; spec: Record<string, unknown> }[] };
    const profile = items.find((d) => d.kind === 'DeviceProfile');
    const device = items.find((d) => d.kind === 'Device');
    expect(profile?.spec.deviceResources).toEqual([
      { name: 'temp', attributes: { pointer: '/temp' }, properties: { valueType: 'Float64', readWrite: 'R' } },
      { name: 'door.open', attributes: { pointer: '/door/open' }, properties: { valueType: 'Bool', readWrite: 'R' } },
    ]);
    expect(device?.spec).toMatchObject({ site: 'plant-a', protocols: { 'http-json': { url } } });
  });
});
