/**
 * Paying only for what runs, observed in Node's own module registry of real
 * `edgeadm` processes (test/support/module-recorder.js: every ES module
 * loaded, and require.cache): the command line loads the command it runs, and
 * a site agent loads a plugin and its protocol library when an instance of it
 * starts at its site, never at agent start. Code bundled into dist/ is mapped
 * back to its sources and packages through dist/contents.json.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEdgeadm, startEdgeadm, type Background } from './support/edgeadm-cli.ts';
import { startHubFixture, tempDir, waitFor, type HubFixture } from './support/hub-fixture.ts';
import { startPymodbus, type PymodbusServer } from './support/pymodbus.ts';
import { startOpcuaSimulator, type OpcuaSimulator } from '../plugins/opcua/testkit/server.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RECORDER = path.join(repo, 'test/support/module-recorder.js');

/** What a recorded process has loaded: packages (by name) and edgeadm's sources (repo-relative), bundled or not. */
interface Loaded {
  packages: Set<string>;
  sources: Set<string>;
}

function packageOf(file: string): string | undefined {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file);
  return m?.[1];
}

function loadedFrom(log: string): Loaded {
  const contents = JSON.parse(readFileSync(path.join(repo, 'dist/contents.json'), 'utf8')) as Record<string, Record<string, number>>;
  const packages = new Set<string>();
  const sources = new Set<string>();
  const add = (file: string): void => {
    const pkg = packageOf(file);
    if (pkg) packages.add(pkg);
    else if (file.startsWith(`${repo}/`)) sources.add(path.relative(repo, file));
  };
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('node:')) continue;
    const file = line.startsWith('file:') ? fileURLToPath(line) : line;
    const inDist = path.relative(path.join(repo, 'dist'), file);
    const bundled = !inDist.startsWith('..') ? contents[inDist] : undefined;
    if (bundled) for (const input of Object.keys(bundled)) add(path.resolve(repo, input));
    else add(file);
  }
  return { packages, sources };
}

function recorded(log: string): Record<string, string> {
  writeFileSync(log, '');
  return { NODE_OPTIONS: `--import ${RECORDER}`, MODULE_RECORDER_LOG: log };
}

describe('the command line', () => {
  it('`edgeadm version` loads the version command alone: no other command, no package but commander and yaml (for -o yaml)', async () => {
    const log = path.join(tempDir('modules'), 'version.log');
    const r = await runEdgeadm(['version', '-o', 'json'], recorded(log));
    expect(r.code, r.stderr).toBe(0);
    const { packages, sources } = loadedFrom(log);
    expect([...packages].sort()).toEqual(['commander', 'yaml']); // yaml: `-o yaml`
    expect([...sources].filter((s) => s.startsWith('cli/') && !s.startsWith('cli/bin/')).sort()).toEqual(['cli/commands.ts', 'cli/errors.ts', 'cli/main.ts', 'cli/output.ts', 'cli/version.ts']);
    expect([...sources].some((s) => s.startsWith('core/') && !s.startsWith('core/kernel/'))).toBe(false);
  });

  it('`edgeadm --help` lists every command without loading any command module or protocol library', async () => {
    const log = path.join(tempDir('modules'), 'help.log');
    const r = await runEdgeadm(['--help'], recorded(log));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ {2}device\s+Devices at sites/m);
    expect(r.stdout).toMatch(/^ {2}opcua\s+OPC UA/m); // a plugin's own command, from its tools module
    const { packages, sources } = loadedFrom(log);
    for (const heavy of ['fastify', 'undici', 'ws', 'mqtt', 'aedes', 'modbus-serial', 'node-opcua', '@kubernetes/client-node', 'better-sqlite3', 'pg']) expect(packages).not.toContain(heavy);
    expect([...sources].filter((s) => /^cli\/(device|site|hub|demo|join)\.ts$/.test(s))).toEqual([]);
  });
});

describe('a site agent', () => {
  let fx: HubFixture;
  let modbus: PymodbusServer;
  let opcua: OpcuaSimulator | undefined;
  let agent: Background | undefined;
  const dir = tempDir('lazy-site');
  const log = path.join(dir, 'modules.log');

  beforeAll(async () => {
    fx = await startHubFixture();
    modbus = await startPymodbus({ framer: 'socket', units: [1] });
    await fx.apply({ kind: 'Site', metadata: { name: 'lean' }, spec: {} });
  });

  afterAll(async () => {
    await agent?.stop('SIGTERM');
    await modbus?.stop();
    await opcua?.stop();
    await fx?.hub.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** What the agent has loaded so far (it appends require.cache on SIGUSR2). */
  async function loadedNow(): Promise<Loaded> {
    const before = readFileSync(log, 'utf8').split('# dumped').length;
    agent!.child.kill('SIGUSR2');
    await waitFor('the module dump', () => readFileSync(log, 'utf8').split('# dumped').length > before);
    return loadedFrom(log);
  }

  it('loads no plugin and no protocol library at start; the Modbus plugin and modbus-serial when the modbus addon starts there; the client side of node-opcua alone when the opcua addon does', async () => {
    const tokenFile = path.join(dir, 'lean.token');
    writeFileSync(tokenFile, await fx.agentToken('lean'), { mode: 0o600 });
    agent = startEdgeadm(['site', 'run', '--site', 'lean', '--hub', fx.hub.url, '--token-file', tokenFile, '--data-dir', path.join(dir, 'data'), '--no-broker', '--log-level', 'warn'], recorded(log));
    await waitFor('the agent to run', () => agent!.out().includes("site agent 'lean' running"), 60_000);
    await waitFor('the site online', async () => ((await fx.api<{ status?: { phase?: string } }>('GET', '/api/v1/sites/lean')).body.status?.phase === 'Online' ? true : undefined), 30_000);

    const atStart = await loadedNow();
    expect([...atStart.sources].filter((s) => s.startsWith('plugins/'))).toEqual([]);
    for (const lib of ['modbus-serial', 'serialport', 'node-opcua', 'aedes', 'aedes-persistence', 'mqtt', '@kubernetes/client-node', 'pg', 'protobufjs', 'ssh2', 'fastify']) expect(atStart.packages, lib).not.toContain(lib);

    // The modbus addon, with a device on pymodbus.
    await fx.apply({
      kind: 'DeviceProfile',
      metadata: { name: 'lean-meter' },
      spec: { deviceResources: [{ name: 'r0', attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: 0, rawType: 'Uint16' }, properties: { valueType: 'Uint16', readWrite: 'R' } }] },
    });
    await fx.apply({ kind: 'Device', metadata: { name: 'lean-m1' }, spec: { site: 'lean', profile: 'lean-meter', protocols: { 'modbus-tcp': { Address: '127.0.0.1', Port: String(modbus.port), UnitID: '1' } }, autoEvents: [{ sourceName: 'r0', interval: '200ms' }] } });
    await fx.apply({ kind: 'Addon', metadata: { name: 'lean-modbus' }, spec: { plugin: 'modbus', sites: ['lean'] } });
    await waitFor('readings of the Modbus device', async () => ((await fx.hub.telemetry.count({ site: 'lean', device: 'lean-m1' })) > 0 ? true : undefined), 60_000);

    const withModbus = await loadedNow();
    expect(withModbus.sources).toContain('plugins/modbus/index.ts');
    expect(withModbus.packages).toContain('modbus-serial');
    expect([...withModbus.sources].filter((s) => s.startsWith('plugins/') && !s.startsWith('plugins/modbus/'))).toEqual([]);
    for (const lib of ['aedes', '@kubernetes/client-node', 'pg', 'protobufjs', 'ssh2']) expect(withModbus.packages, lib).not.toContain(lib);
    expect([...withModbus.packages].filter((p) => p.startsWith('node-opcua'))).toEqual([]);

    // The opcua addon, with a device on the simulator: node-opcua's client package, not `node-opcua`, which also loads its server side.
    opcua = await startOpcuaSimulator({ dir: path.join(dir, 'opcua-sim'), securityModes: ['None'] });
    await fx.apply({ kind: 'DeviceProfile', metadata: { name: 'lean-press' }, spec: { deviceResources: [{ name: 'speed', attributes: { nodeId: opcua.nodeId('Machine.Speed') }, properties: { valueType: 'Float64', readWrite: 'R' } }] } });
    await fx.apply({ kind: 'Device', metadata: { name: 'lean-p1' }, spec: { site: 'lean', profile: 'lean-press', protocols: { opcua: { Endpoint: opcua.endpointUrl } } } });
    await fx.apply({ kind: 'Addon', metadata: { name: 'lean-opcua' }, spec: { plugin: 'opcua', sites: ['lean'] } });
    await waitFor('readings of the OPC UA device', async () => ((await fx.hub.telemetry.count({ site: 'lean', device: 'lean-p1' })) > 0 ? true : undefined), 60_000);

    const withOpcua = await loadedNow();
    expect(withOpcua.sources).toContain('plugins/opcua/index.ts');
    expect(withOpcua.packages).toContain('node-opcua-client');
    for (const lib of ['node-opcua', 'node-opcua-server', 'node-opcua-address-space', 'node-opcua-nodesets']) expect(withOpcua.packages, lib).not.toContain(lib);
  });
});
