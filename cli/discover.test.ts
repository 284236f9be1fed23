/**
 * `edgeadm device discover` against the OPC UA simulator and a real hub. The
 * command runs in-process inside the program `buildProgram` makes, with the
 * outcome mapped to exit codes as `run` maps them (usage errors 2, other
 * coded errors 1).
 */
import { CommanderError, type Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { isEdgeError } from '../core/kernel/index.ts';
import { validateResource } from '../core/store/index.ts';
import { pickFreePort, startOpcuaSimulator, type OpcuaSimulator } from '../plugins/opcua/testkit/server.ts';
import { startHubFixture, tempDir, type HubFixture } from '../test/support/hub-fixture.ts';
import { ErrUsage } from './context.ts';
import { registerDeviceDiscover } from './discover.ts';
import { buildProgram } from './main.ts';

let sim: OpcuaSimulator;
let fx: HubFixture;
const pkiDir = tempDir('discover-cli-pki');

beforeAll(async () => {
  [sim, fx] = await Promise.all([startOpcuaSimulator({ dir: tempDir('discover-cli-sim') }), startHubFixture()]);
  await fx.apply({ kind: 'Site', metadata: { name: 'plant-a' }, spec: {} });
});
afterAll(async () => {
  await sim?.stop();
  await fx?.hub.close();
});

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  error?: unknown;
}

async function edgeadm(args: string[]): Promise<Outcome> {
  const program = buildProgram();
  const device = program.commands.find((c) => c.name() === 'device') as Command;
  if (!device.commands.some((c) => c.name() === 'discover')) registerDeviceDiscover(device).exitOverride();
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    await program.parseAsync(['node', 'edgeadm', 'device', 'discover', '--pki-dir', pkiDir, ...args]);
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
    expect(lines[0]).toMatch(/^NAME\s+NODE\s+TYPE\s+RW\s+UNITS\s+RANGE$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['Boolean', 'Int16', 'UInt16']);
    expect(r.stderr).toContain('TRUNCATED at 3 nodes');
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
    const r = await edgeadm(['opc.tcp://127.0.0.1:1', '--max-depth', 'x', '--root', 'Machine', '--apply']);
    expect(r.code).toBe(2);
    const message = (r.error as Error).message;
    for (const a of ['--plugin', '--max-depth', '--root', '--site']) expect(message).toContain(a);

    const endpoint = await edgeadm(['--plugin', 'opcua', 'localhost:4840']);
    expect(endpoint.code).toBe(2);
    expect((endpoint.error as Error).message).toContain('<endpoint>');

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
