import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { OPCUACertificateManager, OPCUAClient } from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriverResource } from '../../../core/sdk/index.ts';
import { quiet, tempDir } from '../../../test/support/hub-fixture.ts';
import { pickFreePort, startOpcuaSimulator, type OpcuaSimulator } from '../testkit/server.ts';
import { createOpcuaDriver } from './driver.ts';
import { browseDevice, discoverOpcua, globToRegExp, type DiscoveredProfile, type DiscoveredResource } from './discover.ts';

let sim: OpcuaSimulator;
let locked: OpcuaSimulator;
const pkiDir = tempDir('opcua-discover-pki');

beforeAll(async () => {
  [sim, locked] = await Promise.all([
    startOpcuaSimulator({ dir: tempDir('opcua-discover-sim'), items: 12 }),
    startOpcuaSimulator({ dir: tempDir('opcua-discover-locked'), allowAnonymous: false, users: { op: 'pw-1' } }),
  ]);
});
afterAll(async () => {
  await sim?.stop();
  await locked?.stop();
});

function machineResources(ns: number): DiscoveredResource[] {
  const v = (name: string, valueType: string, readWrite = 'RW', extra: Record<string, unknown> = {}): DiscoveredResource =>
    ({
      name: `Machine.${name}`,
      attributes: { nodeId: `ns=${ns};s=Machine.${name}` },
      properties: { valueType, readWrite, ...extra },
    }) as DiscoveredResource;
  return [
    v('Boolean', 'Bool'),
    v('Int16', 'Int16'),
    v('UInt16', 'Uint16'),
    v('Int32', 'Int32'),
    v('UInt32', 'Uint32'),
    v('Int64', 'Int64'),
    v('UInt64', 'Uint64'),
    v('Float', 'Float32'),
    v('Double', 'Float64'),
    v('String', 'String'),
    v('DateTime', 'String'),
    v('DoubleArray', 'Float64Array'),
    v('Int32Array', 'Int32Array'),
    v('Speed', 'Float64', 'R', { units: 'r/min', minimum: 0, maximum: 3000 }),
    v('Temperature', 'Float64', 'R', { units: '°C', minimum: -40, maximum: 200 }),
    v('Setpoint', 'Int16'),
    v('Failing', 'Float64', 'R'),
    {
      name: 'Machine.Add',
      description: 'method Add(a: Double, b: Double) -> sum: Double',
      attributes: { objectId: `ns=${ns};s=Machine`, methodId: `ns=${ns};s=Machine.Add` },
      properties: { valueType: 'Float64', readWrite: 'RW' },
    },
    {
      name: 'Machine.Reset',
      description: 'method Reset()',
      attributes: { objectId: `ns=${ns};s=Machine`, methodId: `ns=${ns};s=Machine.Reset` },
      properties: { valueType: 'Bool', readWrite: 'W' },
    },
  ];
}

describe('browseDevice', () => {
  it('turns the Machine object into exact resources: names, node ids, value types, units, ranges, access, methods', async () => {
    const r = await browseDevice({ endpointUrl: sim.endpointUrl, pkiDir }, { include: 'Machine/*' });
    expect(r.truncated).toBe(false);
    expect(r.profile.deviceResources).toEqual(machineResources(sim.ns));
    expect(r.profile.manufacturer).toBe('edgeadm');
    expect(r.profile.model).toBe('edgeadm OPC UA simulator');
  });

  it('walks the whole server below Objects, lists Load items, skips the standard Server object and says why', async () => {
    const r = await browseDevice({ endpointUrl: sim.endpointUrl, pkiDir });
    const names = r.profile.deviceResources.map((x) => x.name);
    expect(names.filter((n) => n.startsWith('Load.'))).toEqual(Array.from({ length: 12 }, (_, i) => `Load.Load.${i}`));
    expect(names).toContain('Machine.Speed');
    expect(r.skipped).toContainEqual({ path: 'Server', nodeId: 'i=2253', reason: expect.stringContaining('namespace 0') as string });
    expect(r.truncated).toBe(false);
  });

  it('follows BrowseNext continuation points to the same result as one big Browse', async () => {
    const whole = await browseDevice({ endpointUrl: sim.endpointUrl, pkiDir }, { root: sim.nodeId('Machine') });
    const paged = await browseDevice({ endpointUrl: sim.endpointUrl, pkiDir }, { root: sim.nodeId('Machine'), maxReferencesPerNode: 2 });
    expect(paged.profile.deviceResources).toEqual(whole.profile.deviceResources);
    // Below a root, names start under it.
    expect(whole.profile.deviceResources.map((x) => x.name)).toContain('Speed');
    expect(whole.profile.deviceResources).toHaveLength(19);
  });

  it('stops at maxNodes and reports the truncation', async () => {
    const r = await browseDevice({ endpointUrl: sim.endpointUrl, pkiDir }, { root: sim.nodeId('Machine'), maxNodes: 5, maxReferencesPerNode: 3 });
    expect(r.truncated).toBe(true);
    expect(r.profile.deviceResources.map((x) => x.name)).toEqual(['Boolean', 'Int16', 'UInt16', 'Int32', 'UInt32']);
    expect(r.profile.description).toContain('truncated at 5 nodes');
  });

  it('respects maxDepth', async () => {
    const r = await browseDevice({ endpointUrl: sim.endpointUrl, pkiDir }, { maxDepth: 1 });
    expect(r.profile.deviceResources).toEqual([]);
    const two = await browseDevice({ endpointUrl: sim.endpointUrl, pkiDir }, { maxDepth: 2, include: 'Machine/Speed' });
    expect(two.profile.deviceResources.map((x) => x.name)).toEqual(['Machine.Speed']);
  });

  it('browses a standard root when asked, and lists what it cannot map', async () => {
    const r = await browseDevice({ endpointUrl: sim.endpointUrl, pkiDir }, { root: 'i=2256', maxDepth: 1 });
    const byName = new Map(r.profile.deviceResources.map((x) => [x.name, x]));
    expect(byName.get('CurrentTime')).toEqual({ name: 'CurrentTime', attributes: { nodeId: 'i=2258' }, properties: { valueType: 'String', readWrite: 'R' } });
    // ServerState is an Enumeration: Int32.
    expect(byName.get('State')?.properties.valueType).toBe('Int32');
    // Structures read as Object, as the driver reads them.
    expect(byName.get('BuildInfo')?.properties.valueType).toBe('Object');
    const server = await browseDevice({ endpointUrl: sim.endpointUrl, pkiDir }, { root: 'i=2253', maxDepth: 1 });
    expect(server.profile.deviceResources.find((x) => x.name === 'NamespaceArray')?.properties.valueType).toBe('StringArray');
    expect(server.skipped).toContainEqual({
      path: 'GetMonitoredItems',
      nodeId: 'i=11492',
      reason: 'outputs of mixed or array types (Uint32Array, Uint32Array) have no single value type',
    });
  });

  it('uses a session it is given and leaves it open', async () => {
    const cm = new OPCUACertificateManager({ rootFolder: tempDir('opcua-discover-own'), automaticallyAcceptUnknownCertificate: true });
    await cm.initialize();
    const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 }, clientCertificateManager: cm });
    await client.connect(sim.endpointUrl);
    try {
      const session = await client.createSession();
      const r = await browseDevice(session, { root: `nsu=urn:edgeadm:simulator;s=Machine`, include: 'Speed' });
      expect(r.profile.deviceResources.map((x) => x.name)).toEqual(['Speed']);
      await expect(browseDevice(session, { root: 'nsu=urn:nope;s=Machine' })).rejects.toMatchObject({ code: 'EDGE_ERR_OPCUA_DISCOVERY_ROOT' });
      await expect(browseDevice(session, { root: `ns=${sim.ns};s=Nope` })).rejects.toMatchObject({ code: 'EDGE_ERR_OPCUA_DISCOVERY_ROOT' });
      await session.close();
    } finally {
      await client.disconnect();
      await cm.dispose();
    }
  });

  it('rejects bad options naming the option', async () => {
    await expect(browseDevice({ endpointUrl: sim.endpointUrl, pkiDir }, { maxDepth: 0 })).rejects.toThrow(/maxDepth must be an integer from 1 to 32/);
    await expect(browseDevice({ endpointUrl: sim.endpointUrl, pkiDir }, { maxNodes: 1.5 })).rejects.toThrow(/maxNodes/);
    await expect(browseDevice({ endpointUrl: sim.endpointUrl, pkiDir }, { root: 'Machine' })).rejects.toMatchObject({
      code: 'EDGE_ERR_OPCUA_DISCOVERY_OPTION',
      message: expect.stringContaining('root') as string,
    });
    await expect(browseDevice({ endpointUrl: 'http://x', pkiDir })).rejects.toThrow(/endpointUrl must be an endpoint URL/);
  });
});

describe('discoverOpcua (the driver entry point)', () => {
  it('returns one device with its endpoint and the generated profile', async () => {
    const found = await discoverOpcua({ target: sim.endpointUrl, options: { maxDepth: 3, include: 'Machine/**' } }, { pkiDir });
    expect(found).toHaveLength(1);
    const [d] = found;
    expect(d?.name).toBe(`opcua-127-0-0-1-${sim.port}`);
    expect(d?.protocol).toEqual({ Endpoint: sim.endpointUrl });
    expect((d?.profile as unknown as DiscoveredProfile).deviceResources).toEqual(machineResources(sim.ns));
    expect(d?.description).toContain('19 resources');
  });

  it('logs in with username and passwordFile', async () => {
    const pwFile = path.join(tempDir('opcua-discover-pw'), 'password');
    writeFileSync(pwFile, 'pw-1\n');
    // A password goes only where the server certificate is checked.
    await expect(discoverOpcua({ target: locked.endpointUrl, options: { username: 'op', passwordFile: pwFile } }, { pkiDir })).rejects.toMatchObject({
      code: 'EDGE_ERR_OPCUA_DISCOVERY_OPTION',
      params: { field: 'options.securityMode' },
    });
    const secure = { securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', acceptUnknownServerCertificate: true };
    const found = await discoverOpcua(
      { target: locked.endpointUrl, options: { ...secure, username: 'op', passwordFile: pwFile, root: locked.nodeId('Machine'), include: 'Speed' } },
      { pkiDir },
    );
    expect(found[0]?.protocol).toEqual({ Endpoint: locked.endpointUrl, securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', username: 'op', passwordFile: pwFile });
    await expect(discoverOpcua({ target: locked.endpointUrl }, { pkiDir })).rejects.toMatchObject({ code: 'EDGE_ERR_OPCUA_DISCOVERY_CONNECT' });
  });

  it('discovers over SignAndEncrypt once the server certificate is trusted', async () => {
    const own = tempDir('opcua-discover-secure-pki');
    const request = { target: sim.endpointUrl, options: { securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', include: 'Machine/Speed' } };
    await expect(discoverOpcua(request, { pkiDir: own })).rejects.toMatchObject({
      code: 'EDGE_ERR_OPCUA_DISCOVERY_CONNECT',
      message: expect.stringMatching(/BadCertificateUntrusted.*trust the server's certificate/) as string,
    });
    const accepted = await discoverOpcua({ ...request, options: { ...request.options, acceptUnknownServerCertificate: true } }, { pkiDir: own });
    expect(accepted[0]?.protocol).toEqual({ Endpoint: sim.endpointUrl, securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256' });
    // Accepted once, trusted from then on.
    const again = await discoverOpcua(request, { pkiDir: own });
    expect((again[0]?.profile as unknown as DiscoveredProfile).deviceResources.map((r) => r.name)).toEqual(['Machine.Speed']);
  });

  it('names the bad field of a request', async () => {
    await expect(discoverOpcua({ target: 'localhost:4840' }, { pkiDir })).rejects.toThrow(/target must be an endpoint URL/);
    await expect(discoverOpcua({ target: sim.endpointUrl, options: { maxDepth: 'deep' } }, { pkiDir })).rejects.toThrow(/options\.maxDepth/);
    await expect(discoverOpcua({ target: sim.endpointUrl, options: { securityMode: 'Encrypt' } }, { pkiDir })).rejects.toThrow(/options\.securityMode/);
    await expect(discoverOpcua({ target: sim.endpointUrl, options: { securityMode: 'Sign', securityPolicy: 'Basic256Sha256', passwordFile: '/nonexistent/pw' } }, { pkiDir })).rejects.toThrow(
      /options\.passwordFile cannot be read \(ENOENT\)/,
    );
  });

  it('fails with a connect error for an endpoint nobody listens on', async () => {
    const port = await pickFreePort();
    await expect(discoverOpcua({ target: `opc.tcp://127.0.0.1:${port}` }, { pkiDir })).rejects.toMatchObject({
      code: 'EDGE_ERR_OPCUA_DISCOVERY_CONNECT',
      message: expect.stringContaining(`opc.tcp://127.0.0.1:${port}`) as string,
    });
  });
});

describe('a discovered profile', () => {
  it('is what the driver reads: discovered through driver.discover, every variable reads with its valueType', async () => {
    const driver = createOpcuaDriver({ logger: quiet, dir: tempDir('opcua-discover-driver'), site: 'plant-a' });
    try {
      const [found] = await driver.discover!({ target: sim.endpointUrl, options: { include: 'Machine/*' } });
      const profile = found?.profile as unknown as DiscoveredProfile;
      const resources: DriverResource[] = profile.deviceResources.map((r) => ({
        name: r.name,
        valueType: r.properties.valueType,
        readWrite: r.properties.readWrite,
        ...(r.properties.units ? { units: r.properties.units } : {}),
        attributes: r.attributes,
        properties: r.properties,
      }));
      const device = { site: 'plant-a', name: 'press', profile: 'press', protocolName: 'opcua', protocol: found!.protocol, resources };
      expect(driver.validate!(device)).toEqual([]);
      const conn = await driver.connect(device);
      try {
        const variables = profile.deviceResources.filter((r) => r.attributes.nodeId !== undefined).map((r) => r.name);
        const samples = await conn.read(variables);
        const notGood = samples.filter((x) => x.quality !== 'good').map((x) => x.resource);
        expect(notGood).toEqual(['Machine.Failing']);
        const byName = new Map(samples.map((x) => [x.resource, x]));
        expect(byName.get('Machine.Int32Array')).toMatchObject({ value: [1, -2, 3], valueType: 'Int32Array' });
        expect(byName.get('Machine.Speed')).toMatchObject({ valueType: 'Float64', units: 'r/min' });
      } finally {
        await conn.close();
      }
    } finally {
      await driver.close();
    }
  });

  it('is not produced when the caller aborts', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(browseDevice({ endpointUrl: sim.endpointUrl, pkiDir }, { signal: ac.signal })).rejects.toMatchObject({ code: 'EDGE_ERR_OPCUA_DISCOVERY_ABORTED' });
  });
});

describe('globToRegExp', () => {
  it('matches one segment with *, any depth with **', () => {
    expect(globToRegExp('Machine/*').test('Machine/Speed')).toBe(true);
    expect(globToRegExp('Machine/*').test('Machine/Sub/Speed')).toBe(false);
    expect(globToRegExp('**/Speed').test('Plant/Machine/Speed')).toBe(true);
    expect(globToRegExp('**/Speed').test('Speed')).toBe(true);
    expect(globToRegExp('Load/Load.?').test('Load/Load.3')).toBe(true);
    expect(globToRegExp('Load/Load.?').test('Load/Loadx3')).toBe(false);
  });
});
