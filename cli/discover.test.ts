/**
 * `edgeadm device discover` against the OPC UA simulator, a real Modbus
 * server (pymodbus) and a real hub. The command runs in-process inside the
 * program `buildProgram` makes with the installed plugins' tools (as `run`
 * builds it), with the outcome mapped to exit codes as `run` maps them (usage
 * errors 2, other coded errors 1).
 */
import { CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { isEdgeError, type EdgeError } from '../core/kernel/index.ts';
import { validateResource } from '../core/store/index.ts';
import { pickFreePort, startOpcuaSimulator, type OpcuaSimulator } from '../plugins/opcua/testkit/server.ts';
import { startHubFixture, tempDir, type HubFixture } from '../test/support/hub-fixture.ts';
import { ErrUsage } from './errors.ts';
import { buildProgram } from './main.ts';
import { loadPluginTools, type PluginCommandLine } from './plugin-tools.ts';
import { startPymodbus, type PymodbusServer } from '../test/support/pymodbus.ts';

let sim: OpcuaSimulator;
let fx: HubFixture;
let py: PymodbusServer;
let plugins: PluginCommandLine;
const dataDir = tempDir('discover-cli-data');

beforeAll(async () => {
  [sim, fx, py, plugins] = await Promise.all([startOpcuaSimulator({ dir: tempDir('discover-cli-sim') }), startHubFixture(), startPymodbus({ framer: 'socket', units: [3, 5] }), loadPluginTools()]);
  expect(plugins.problems).toEqual([]);
  await fx.apply({ kind: 'Site', metadata: { name: 'plant-a' }, spec: {} });
}, 60_000);
afterAll(async () => {
  await sim?.stop();
  await py?.stop();
  await fx?.hub.close();
});

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  error?: unknown;
}

async function edgeadm(args: string[]): Promise<Outcome> {
  const problems: EdgeError[] = [];
  const program = await buildProgram(plugins.tools, problems);
  expect(problems).toEqual([]);
  for (const c of program.commands) for (const s of [c, ...c.commands]) s.exitOverride().configureOutput({ writeErr: () => undefined });
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    await program.parseAsync(['node', 'edgeadm', 'device', 'discover', '--data-dir', dataDir, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const code = error instanceof CommanderError || ErrUsage.is(error) ? 2 : 1;
    return { code, stdout, stderr, error };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('edgeadm device discover', () => {
  it('prints the generated DeviceProfile and a Device as YAML by default', async () => {
    const r = await edgeadm(['--plugin', 'opcua', sim.endpointUrl, '--include', 'Machine/*', '--name', 'press-1', '--site', 'plant-a']);
    expect(r.error).toBeUndefined();
    expect(r.code).toBe(0);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, unknown> });
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual(['DeviceProfile/press-1', 'Device/press-1']);
    const [profile, device] = docs;
    const resources = profile?.spec.deviceResources as { name: string; attributes: Record<string, string>; properties: Record<string, unknown> }[];
    expect(resources).toHaveLength(19);
    expect(resources.find((x) => x.name === 'Machine.Speed')).toEqual({
      name: 'Machine.Speed',
      attributes: { nodeId: `ns=${sim.ns};s=Machine.Speed` },
      properties: { valueType: 'Float64', readWrite: 'R', units: 'r/min', minimum: 0, maximum: 3000 },
    });
    expect(device?.spec).toMatchObject({ site: 'plant-a', profile: 'press-1', protocols: { opcua: { Endpoint: sim.endpointUrl } } });
    // What is printed is valid as the store's resources.
    expect(validateResource(profile)).toEqual([]);
    expect(validateResource(device)).toEqual([]);
    expect(r.stderr).toContain('19 resources from');
  });

  it('generates a valid profile for the whole server, and says what it skipped', async () => {
    const r = await edgeadm(['--plugin', 'opcua', sim.endpointUrl, '-o', 'json']);
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout) as { items: { kind: string; metadata: { name: string } }[]; skipped: { path: string }[]; truncated: boolean };
    expect(body.items.map((i) => i.kind)).toEqual(['DeviceProfile']);
    expect(body.items[0]?.metadata.name).toBe(`opcua-127-0-0-1-${sim.port}`);
    expect(validateResource(body.items[0])).toEqual([]);
    expect(body.skipped.map((s) => s.path)).toContain('Server');
    expect(body.truncated).toBe(false);
    expect(r.stderr).toContain('pass --site to get a Device too');
    expect(r.stderr).toMatch(/skipped Server \(i=2253\): standard node/);
  });

  it('prints the resources as a table with -o table and reports truncation', async () => {
    const r = await edgeadm(['--plugin', 'opcua', sim.endpointUrl, '--root', sim.nodeId('Machine'), '--max-nodes', '3', '-o', 'table']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+ADDRESS\s+TYPE\s+RW\s+UNITS\s+RANGE$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['Boolean', 'Int16', 'UInt16']);
    expect(r.stderr).toContain('TRUNCATED');
    expect(JSON.parse((await edgeadm(['--plugin', 'opcua', sim.endpointUrl, '--root', sim.nodeId('Machine'), '--max-nodes', '3', '-o', 'json'])).stdout)).toMatchObject({ truncated: true });
  });

  it('creates the DeviceProfile and the Device at the hub with --apply, and refuses to overwrite them', async () => {
    const args = ['--plugin', 'opcua', sim.endpointUrl, '--root', sim.nodeId('Machine'), '--name', 'press-2', '--site', 'plant-a', '--apply', '--hub', fx.hub.url, '--token', fx.adminToken];
    const r = await edgeadm(args);
    expect(r.error).toBeUndefined();
    expect(r.stderr).toContain('created DeviceProfile press-2 and Device press-2 at site plant-a');
    const profile = await fx.api<{ spec: { deviceResources: { name: string }[] } }>('GET', '/api/v1/deviceprofiles/press-2');
    expect(profile.status).toBe(200);
    expect(profile.body.spec.deviceResources.map((x) => x.name)).toContain('Add');
    const device = await fx.api<{ spec: { profile: string; site: string; protocols: Record<string, unknown> } }>('GET', '/api/v1/devices/press-2');
    expect(device.status).toBe(200);
    expect(device.body.spec).toMatchObject({ profile: 'press-2', site: 'plant-a', protocols: { opcua: { Endpoint: sim.endpointUrl } } });

    const again = await edgeadm(args);
    expect(again.code).toBe(1);
    expect(isEdgeError(again.error) && again.error.code).toBe('EDGE_ERR_STORE_EXISTS');
  });

  it('exits 2 naming every bad argument', async () => {
    const r = await edgeadm(['opc.tcp://127.0.0.1:1', '--max-depth', 'x', '--name', 'Bad_Name', '--apply']);
    expect(r.code).toBe(2);
    const message = (r.error as Error).message;
    for (const a of ['--plugin', '--max-depth', '--name', '--site']) expect(message).toContain(a);

    // What only the plugin can judge comes back from its driver, naming the argument.
    const endpoint = await edgeadm(['--plugin', 'opcua', 'localhost:4840']);
    expect(endpoint.code).toBe(2);
    expect((endpoint.error as Error).message).toMatch(/^<target>: must be an endpoint URL/);
    const root = await edgeadm(['--plugin', 'opcua', sim.endpointUrl, '--root', 'Machine']);
    expect(root.code).toBe(2);
    expect((root.error as Error).message).toMatch(/^--root: must be a node id/);

    // Another plugin's option is refused, not ignored.
    const other = await edgeadm(['--plugin', 'opcua', sim.endpointUrl, '--unit-ids', '1-3']);
    expect(other.code).toBe(2);
    expect((other.error as Error).message).toBe('--unit-ids: is an option of modbus discovery, not of opcua');

    const plugin = await edgeadm(['--plugin', 'bacnet', sim.endpointUrl]);
    expect(plugin.code).toBe(2);
    expect((plugin.error as Error).message).toMatch(/--plugin: 'bacnet' cannot discover/);

    const missing = await edgeadm(['--plugin', 'opcua']);
    expect(missing.code).toBe(2);
    expect(missing.error).toBeInstanceOf(CommanderError);

    const hub = await edgeadm(['--plugin', 'opcua', sim.endpointUrl, '--site', 'plant-a', '--apply', '--hub', 'not a url', '--token', 't']);
    expect(hub.code).toBe(2);
    expect((hub.error as Error).message).toContain('--hub');
  });

  it('exits 1 with a clear message when the endpoint does not answer', async () => {
    const port = await pickFreePort();
    const r = await edgeadm(['--plugin', 'opcua', `opc.tcp://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(isEdgeError(r.error) && r.error.code).toBe('EDGE_ERR_OPCUA_DISCOVERY_CONNECT');
    expect((r.error as Error).message).toContain(`cannot open a session with opc.tcp://127.0.0.1:${port}`);
    expect(r.stdout).toBe('');
  });
});

describe('edgeadm device discover --plugin modbus', () => {
  const target = (): string => `127.0.0.1:${py.port}`;

  it('lists the unit ids that answer, with a Device each once a site and a profile are named', async () => {
    const scan = await edgeadm(['--plugin', 'modbus', target(), '--unit-ids', '1-6', '--timeout-ms', '300', '-o', 'json']);
    expect(scan.error).toBeUndefined();
    const body = JSON.parse(scan.stdout) as { items: unknown[]; found: { name: string; protocolName: string; protocol: Record<string, string> }[] };
    expect(body.items).toEqual([]);
    expect(body.found.map((d) => [d.name, d.protocolName, d.protocol.UnitID])).toEqual([
      ['modbus-127-0-0-1-unit-3', 'modbus-tcp', '3'],
      ['modbus-127-0-0-1-unit-5', 'modbus-tcp', '5'],
    ]);
    expect(scan.stderr).toContain('pass --site to get Devices too');

    const table = await edgeadm(['--plugin', 'modbus', target(), '--unit-ids', '3,4', '-o', 'table']);
    expect(table.stdout).toMatch(new RegExp(`^NAME\\s+PROTOCOL\\s+PROFILE\\s+DESCRIPTION\\nmodbus-127-0-0-1-unit-3\\s+Address=127\\.0\\.0\\.1 Port=${py.port} UnitID=3\\s+unit 3 at `));

    const yaml = await edgeadm(['--plugin', 'modbus', target(), '--unit-ids', '1-6', '--site', 'plant-a', '--profile-name', 'meter']);
    expect(yaml.error).toBeUndefined();
    const devices = parseAllDocuments(yaml.stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, unknown> });
    expect(devices.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual(['Device/modbus-127-0-0-1-unit-3', 'Device/modbus-127-0-0-1-unit-5']);
    expect(devices[1]?.spec).toMatchObject({ site: 'plant-a', profile: 'meter', protocols: { 'modbus-tcp': { Address: '127.0.0.1', Port: String(py.port), UnitID: '5' } } });
    for (const d of devices) expect(validateResource(d)).toEqual([]);
  }, 30_000);

  it('creates the Devices at the hub with --apply', async () => {
    await fx.apply({
      apiVersion: 'edgeadm.io/v1alpha1',
      kind: 'DeviceProfile',
      metadata: { name: 'unit-probe' },
      spec: { deviceResources: [{ name: 'hr0', attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: 0 }, properties: { valueType: 'Uint16', readWrite: 'R' } }] },
    });
    const r = await edgeadm(['--plugin', 'modbus', target(), '--unit-ids', '5', '--name', 'meter-5', '--site', 'plant-a', '--profile-name', 'unit-probe', '--apply', '--hub', fx.hub.url, '--token', fx.adminToken]);
    expect(r.error).toBeUndefined();
    expect(r.stderr).toContain('created Device meter-5 at site plant-a');
    const device = await fx.api<{ spec: Record<string, unknown> }>('GET', '/api/v1/devices/meter-5');
    expect(device.status).toBe(200);
    expect(device.body.spec).toMatchObject({ profile: 'unit-probe', protocols: { 'modbus-tcp': { UnitID: '5' } } });
  }, 30_000);

  it('exits 2 naming what does not fit: a bad unit list, a Device without a profile, one name for several devices', async () => {
    const ids = await edgeadm(['--plugin', 'modbus', target(), '--unit-ids', '9-2']);
    expect(ids.code).toBe(2);
    expect((ids.error as Error).message).toMatch(/^--unit-ids: '9-2' must list unit ids/);
    const timeout = await edgeadm(['--plugin', 'modbus', target(), '--timeout-ms', 'soon']);
    expect((timeout.error as Error).message).toBe("--timeout-ms: 'soon' is not a whole number");
    const noProfile = await edgeadm(['--plugin', 'modbus', target(), '--unit-ids', '3', '--site', 'plant-a']);
    expect(noProfile.code).toBe(2);
    expect((noProfile.error as Error).message).toMatch(/^--profile-name: modbus discovery generates no DeviceProfile/);
    const oneName = await edgeadm(['--plugin', 'modbus', target(), '--unit-ids', '1-6', '--name', 'meter']);
    expect(oneName.code).toBe(2);
    expect((oneName.error as Error).message).toBe('--name: names one Device, but discovery found 2');
  }, 30_000);

  it('shows each plugin\'s options under its own heading in --help', async () => {
    const device = (await buildProgram(plugins.tools)).commands.find((c) => c.name() === 'device');
    const discover = device?.commands.find((c) => c.name() === 'discover');
    const help = discover?.helpInformation() ?? '';
    expect(help).toMatch(/Options of modbus discovery \(--plugin modbus\):\n\s+--unit-ids <list>/);
    expect(help).toMatch(/Options of opcua discovery \(--plugin opcua\):\n\s+--max-depth <n>/);
    expect(help).toContain('(modbus, opcua)');
  });
});
