/**
 * The plugin catalog at the hub: `GET /api/v1/plugins` lists what the hub's
 * plugin source gives (loaded on the first request, once; a failed load
 * answers 503 and is tried again), and Device writes (create, apply, EdgeX
 * import) are checked against the protocol schemas of the built-in plugins:
 * every problem named by its field, EdgeX's strings and keys in any case
 * passing, unknown protocols passing, nothing checked without a source.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import modbus from '../../plugins/modbus/index.ts';
import mqtt from '../../plugins/mqtt/index.ts';
import opcua from '../../plugins/opcua/index.ts';
import simulator from '../../plugins/simulator/index.ts';
import type { PluginDefinition } from '../plugins/index.ts';
import { edgexFixtures } from '../../test/support/edgex-files.ts';
import { API, err, startTestHub, type TestHub } from '../../test/support/hub/harness.ts';
import type { PluginCatalog, PluginCatalogEntry } from './api-types.ts';
import { createPluginCatalog } from './plugin-catalog.ts';
import type { Resource } from '../store/index.ts';

const entry = (d: PluginDefinition, role?: string): PluginCatalogEntry => ({
  id: d.id,
  version: d.version,
  ...(d.description === undefined ? {} : { description: d.description }),
  ...(role === undefined ? {} : { role }),
  ...(d.configSchema === undefined ? {} : { configSchema: d.configSchema as unknown as Record<string, unknown> }),
  ...(Object.keys(d.protocols).length === 0 ? {} : { protocols: d.protocols as unknown as Record<string, Record<string, unknown>> }),
});

/** The built-in plugins, in no particular order (the hub sorts). */
const BUILT_IN: PluginCatalogEntry[] = [entry(simulator, 'device-driver'), entry(opcua, 'device-driver'), entry(modbus, 'device-driver'), entry(mqtt, 'device-driver')];

const deviceBody = (name: string, protocols: Record<string, unknown>, site = 'plant-a') => ({ apiVersion: API, kind: 'Device', metadata: { name }, spec: { site, profile: 'thermo', protocols } });

describe('GET /api/v1/plugins and Device checks, with the built-in plugins', () => {
  let h: TestHub;
  let loads = 0;

  beforeAll(async () => {
    h = await startTestHub({
      pluginCatalog: () => {
        loads += 1;
        return Promise.resolve(BUILT_IN);
      },
    });
  });
  afterAll(() => h?.close());

  it('lists them sorted by id with their schemas, loading the source on the first request only', async () => {
    expect(loads).toBe(0);
    const r = await h.call('GET', '/api/v1/plugins');
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json<PluginCatalog>();
    expect(body.items.map((p) => p.id)).toEqual(['modbus', 'mqtt', 'opcua', 'simulator']);
    const mb = body.items[0]!;
    expect(mb).toMatchObject({ id: 'modbus', version: modbus.version, role: 'device-driver', description: modbus.description });
    expect(Object.keys(mb.protocols ?? {}).sort()).toEqual(['modbus-rtu', 'modbus-rtu-over-tcp', 'modbus-tcp']);
    expect(mb.protocols?.['modbus-tcp']).toMatchObject({
      type: 'object',
      required: ['Address'],
      properties: { Port: { type: 'integer', default: 502, minimum: 1, maximum: 65535 }, UnitID: { default: 1, minimum: 0, maximum: 255 } },
    });
    expect(body.items.find((p) => p.id === 'mqtt')?.configSchema).toMatchObject({ type: 'object', properties: { onboarding: { type: 'object' } } });
    expect(body.items.find((p) => p.id === 'modbus')).not.toHaveProperty('configSchema');
    expect((await h.call('GET', '/api/v1/plugins', { token: h.viewer })).statusCode).toBe(200);
    expect(loads).toBe(1);
  });

  it('refuses agents and callers without a token', async () => {
    expect((await h.call('GET', '/api/v1/plugins', { token: h.agentA })).statusCode).toBe(403);
    expect((await h.call('GET', '/api/v1/plugins', { token: null })).statusCode).toBe(401);
  });

  it('refuses a Device whose Port is out of range or not a number, naming spec.protocols.modbus-tcp.Port, at create and apply; writes nothing', async () => {
    for (const port of ['70000', 70000, 'abc', '1.5']) {
      const created = await h.call('POST', '/api/v1/devices', { body: deviceBody('meter-bad', { 'modbus-tcp': { Address: '10.0.0.5', Port: port } }) });
      expect(created.statusCode, created.body).toBe(400);
      const e = err(created);
      expect(e.code).toBe('EDGE_ERR_STORE_INVALID');
      expect(e.details?.issues?.map((i) => i.path)).toEqual(['spec.protocols.modbus-tcp.Port']);
    }
    const applied = await h.call('PUT', '/api/v1/devices/meter-bad', { body: deviceBody('meter-bad', { 'modbus-tcp': { address: ' ', port: '0', unitid: '256', Timeout: '5' } }) });
    expect(applied.statusCode).toBe(400);
    expect(err(applied).details?.issues?.map((i) => i.path).sort()).toEqual(['spec.protocols.modbus-tcp.Address', 'spec.protocols.modbus-tcp.Port', 'spec.protocols.modbus-tcp.UnitID']);
    expect((await h.call('GET', '/api/v1/devices/meter-bad')).statusCode).toBe(404);
  });

  it("names the store's own problems with the protocol's in one answer", async () => {
    const r = await h.call('POST', '/api/v1/devices', { body: { ...deviceBody('meter-worse', { 'modbus-tcp': { Address: '10.0.0.5', Port: 'abc' } }), spec: { site: 'plant-a', profile: 'thermo', adminState: 'MAYBE', protocols: { 'modbus-tcp': { Address: '10.0.0.5', Port: 'abc' } } } } });
    expect(r.statusCode).toBe(400);
    expect(err(r).details?.issues?.map((i) => i.path).sort()).toEqual(['spec.adminState', 'spec.protocols.modbus-tcp.Port']);
  });

  it('takes EdgeX-style strings and keys in any case, as the drivers do, and protocols no plugin here declares', async () => {
    const ok: Record<string, Record<string, unknown>> = {
      'edgex-strings': { 'modbus-tcp': { Address: '10.0.0.5', Port: '502', UnitID: '1', Timeout: '5', IdleTimeout: '5' } },
      'lower-keys': { 'modbus-tcp': { address: '10.0.0.5', port: ' 1502 ', unitid: 3 } },
      'rtu': { 'modbus-rtu': { Address: '/dev/ttyUSB0', BaudRate: '9600', Parity: 'even', StopBits: '2' } },
      'opcua': { opcua: { Endpoint: 'opc.tcp://10.0.0.7:4840/UA', SecurityMode: 'sign', securityPolicy: 'http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256', publishingInterval: '2s', queueSize: '5' } },
      'mqtt': { mqtt: { CommandTopic: 'command/x', Qos: '1', commandTimeout: '300ms', layout: 'edgex' } },
      'sim': { simulator: { seed: '7' } },
      'bacnet': { 'bacnet-ip': { DeviceInstance: 'not checked here', Port: 'anything' } },
    };
    for (const [name, protocols] of Object.entries(ok)) {
      const r = await h.call('PUT', `/api/v1/devices/${name}`, { body: deviceBody(name, protocols) });
      expect(r.statusCode, `${name}: ${r.body}`).toBe(200);
    }
  });

  it('refuses bad fields of every built-in protocol by their paths', async () => {
    const bad: [Record<string, unknown>, string[]][] = [
      [{ 'modbus-rtu': { Address: '/dev/ttyUSB0', Parity: 'X', DataBits: '9' } }, ['spec.protocols.modbus-rtu.DataBits', 'spec.protocols.modbus-rtu.Parity']],
      [{ opcua: { endpoint: 'http://x', queueSize: 0, deadbandType: 'Relative', samplingInterval: '2h' } }, ['spec.protocols.opcua.deadbandType', 'spec.protocols.opcua.endpoint', 'spec.protocols.opcua.queueSize', 'spec.protocols.opcua.samplingInterval']],
      [{ mqtt: { qos: '2', brokerUrl: 'http://broker', commandTopic: 'a/+/b' } }, ['spec.protocols.mqtt.CommandTopic', 'spec.protocols.mqtt.brokerUrl', 'spec.protocols.mqtt.qos']],
      [{ simulator: { seed: 'seven' } }, ['spec.protocols.simulator.seed']],
    ];
    for (const [protocols, paths] of bad) {
      const r = await h.call('POST', '/api/v1/devices', { body: deviceBody('bad-one', protocols) });
      expect(r.statusCode, r.body).toBe(400);
      expect(err(r).details?.issues?.map((i) => i.path).sort(), JSON.stringify(protocols)).toEqual(paths);
    }
  });

  it('imports the EdgeX fixtures as they are, and refuses a device list with a bad Port, naming its place in the file', async () => {
    await h.store.apply({ apiVersion: API, kind: 'Site', metadata: { name: 'plant-x' }, spec: {} });
    const files = edgexFixtures();
    const good = await h.call('POST', '/api/v1/sites/plant-x/edgex/import', { body: { files, dryRun: true } });
    expect(good.statusCode, good.body).toBe(200);

    const list = files.find((f) => f.name === 'modbus.devices.yaml')!;
    const broken = { name: list.name, content: list.content.replace('Port: 1502', 'Port: 70000') };
    expect(broken.content).not.toBe(list.content);
    const r = await h.call('POST', '/api/v1/sites/plant-x/edgex/import', { body: { files: [...files.filter((f) => f !== list), broken] } });
    expect(r.statusCode).toBe(400);
    const e = err(r);
    expect(e.code).toBe('EDGE_ERR_EDGEX_FILES');
    expect(e.details?.problems).toEqual([{ file: 'modbus.devices.yaml', field: 'deviceList[0].protocols.modbus-tcp.Port', message: 'must be <= 65535' }]);
    expect((await h.store.list('Device', { site: 'plant-x' })).items).toEqual([]);
  });

  it('approves an announced device only when its protocol block passes, as any Device write; a refused approval leaves nothing', async () => {
    const announce = (identifier: string, protocol: Record<string, unknown>) => ({
      source: 'announce',
      identifier,
      suggestedName: identifier,
      protocolName: 'simulator',
      protocol,
      profile: { deviceResources: [{ name: 'temperature', properties: { valueType: 'Float64', readWrite: 'R' } }] },
    });
    const pendingOf = async (identifier: string, protocol: Record<string, unknown>): Promise<string> => {
      const r = await h.call('POST', '/api/v1/sites/plant-a/pending-devices', { body: announce(identifier, protocol), token: h.agentA });
      expect(r.statusCode, r.body).toBeLessThan(300);
      return r.json<{ metadata: { name: string } }>().metadata.name;
    };
    const bad = await pendingOf('sim-bad', { seed: 'abc' });
    const refused = await h.call('POST', `/api/v1/pendingdevices/${bad}/approve`, { body: {} });
    expect(refused.statusCode).toBe(400);
    expect(err(refused).code).toBe('EDGE_ERR_STORE_INVALID');
    expect(err(refused).details?.issues?.map((i) => i.path)).toEqual(['spec.protocols.simulator.seed']);
    expect((await h.call('GET', '/api/v1/devices/sim-bad')).statusCode).toBe(404);
    expect((await h.call('GET', '/api/v1/deviceprofiles/plant-a.sim-bad')).statusCode).toBe(404);
    expect((await h.call('GET', `/api/v1/pendingdevices/${bad}`)).json<{ status?: { phase?: string } }>().status?.phase ?? 'Pending').toBe('Pending');

    const good = await pendingOf('sim-good', { Seed: '7' });
    const approved = await h.call('POST', `/api/v1/pendingdevices/${good}/approve`, { body: {} });
    expect(approved.statusCode, approved.body).toBe(200);
    expect((await h.call('GET', '/api/v1/devices/sim-good')).json<{ spec: { protocols: unknown } }>().spec.protocols).toEqual({ simulator: { Seed: '7' } });
  });
});

describe('the shipped examples', () => {
  it('pass the built-in protocol schemas (the demo applies its Devices through the check)', async () => {
    const catalog = createPluginCatalog(() => Promise.resolve(BUILT_IN));
    const values: Record<string, string> = { MODBUS_PORT: '1502', OPCUA_ENDPOINT: 'opc.tcp://127.0.0.1:4840/UA/demo', OPCUA_NS: '1' };
    const devices = ['sites/examples/demo-resources.yaml', 'cli/demo/resources.yaml']
      .flatMap((f) => parseAllDocuments(readFileSync(path.join(import.meta.dirname, '../..', f), 'utf8').replace(/\$\{([A-Z0-9_]+)\}/g, (_m, n: string) => values[n] ?? '')))
      .map((d) => d.toJS() as Resource)
      .filter((d) => d.kind === 'Device');
    expect([...new Set(devices.flatMap((d) => Object.keys((d.spec as { protocols: Record<string, unknown> }).protocols)))].sort()).toEqual(['modbus-tcp', 'mqtt', 'opcua', 'simulator']);
    for (const d of devices) expect(await catalog.deviceIssues(d.spec), d.metadata.name).toEqual([]);
  });
});

describe('GET /api/v1/plugins without a source, or with one that fails', () => {
  it('answers no items and checks no Device without a source', async () => {
    const h = await startTestHub();
    try {
      const r = await h.call('GET', '/api/v1/plugins');
      expect(r.statusCode).toBe(200);
      expect(r.json()).toEqual({ items: [] });
      const d = await h.call('POST', '/api/v1/devices', { body: deviceBody('unchecked', { 'modbus-tcp': { Address: '10.0.0.5', Port: '70000' } }) });
      expect(d.statusCode, d.body).toBe(201);
    } finally {
      await h.close();
    }
  });

  it('answers 503 EDGE_ERR_HUB_PLUGIN_CATALOG while the source fails, and the list once it works', async () => {
    let calls = 0;
    const h = await startTestHub({
      pluginCatalog: () => {
        calls += 1;
        return calls === 1 ? Promise.reject(new Error('plugins folder unreadable')) : Promise.resolve([entry(modbus)]);
      },
    });
    try {
      const failed = await h.call('GET', '/api/v1/plugins');
      expect(failed.statusCode).toBe(503);
      expect(err(failed)).toMatchObject({ code: 'EDGE_ERR_HUB_PLUGIN_CATALOG', message: expect.stringContaining('plugins folder unreadable') as unknown });
      const r = await h.call('GET', '/api/v1/plugins');
      expect(r.statusCode).toBe(200);
      expect(r.json<PluginCatalog>().items.map((p) => p.id)).toEqual(['modbus']);
      expect(calls).toBe(2);
    } finally {
      await h.close();
    }
  });
});
