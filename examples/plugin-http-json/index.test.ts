/**
 * The http-json plugin against a real HTTP device on loopback, with the site
 * services of the SDK's test kit: the plugin registers its driver, a Device
 * and its profile become readings, writes go out as PUT and read back.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mockSiteServices, startTestKernel, type MockSite, type TestKernel } from 'edgeadm/sdk/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import httpJson from './index.ts';

/** A thermostat on loopback: GET answers its document, PUT merges a JSON body into it. */
interface FakeDevice {
  url: string;
  doc: Record<string, unknown>;
  puts: unknown[];
  /** Answer every request with this status instead. */
  status?: number;
  /** Answer after this long. */
  delayMs?: number;
  /** Answer GET with this text instead of the document. */
  raw?: string;
  close(): Promise<void>;
}

function merge(into: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(patch)) {
    const cur = into[k];
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && cur !== null && typeof cur === 'object' && !Array.isArray(cur)) merge(cur as Record<string, unknown>, v as Record<string, unknown>);
    else into[k] = v;
  }
}

async function startDevice(): Promise<FakeDevice> {
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      setTimeout(() => {
        if (dev.status !== undefined) return void res.writeHead(dev.status).end();
        if (req.method === 'PUT') {
          const patch = JSON.parse(body) as Record<string, unknown>;
          dev.puts.push(patch);
          merge(dev.doc, patch);
          return void res.writeHead(204).end();
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(dev.raw ?? JSON.stringify(dev.doc));
      }, dev.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dev: FakeDevice = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/status`,
    doc: { sensors: [{ temp: 21.5 }], mode: 'heat', on: true, setpoint: 20, firmware: null, 'fan/min': 3 },
    puts: [],
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  return dev;
}

const profile = {
  kind: 'DeviceProfile',
  metadata: { name: 'thermostat' },
  spec: {
    deviceResources: [
      { name: 'temperature', attributes: { pointer: '/sensors/0/temp' }, properties: { valueType: 'Float64', readWrite: 'R', units: 'degC' } },
      { name: 'mode', attributes: { pointer: '/mode' }, properties: { valueType: 'String', readWrite: 'R' } },
      { name: 'setpoint', attributes: { pointer: '/setpoint' }, properties: { valueType: 'Float64', readWrite: 'RW', units: 'degC', minimum: 5, maximum: 30 } },
    ],
  },
};

function thermostat(url: string): object {
  return {
    kind: 'Device',
    metadata: { name: 'thermostat-1' },
    spec: { site: 'plant-a', profile: 'thermostat', protocols: { 'http-json': { url, timeoutMs: 1000 } }, autoEvents: [{ sourceName: 'temperature', interval: '100ms' }] },
  };
}

let device: FakeDevice;
let site: MockSite;
let tk: TestKernel;

beforeEach(async () => {
  device = await startDevice();
  site = await mockSiteServices({ site: 'plant-a' });
  tk = await startTestKernel({ plugins: [{ plugin: httpJson, site: 'plant-a' }], services: site.services });
});

afterEach(async () => {
  await tk.stop();
  await site.close();
  await device.close();
});

describe('http-json plugin', () => {
  it('turns a Device and its profile into readings', async () => {
    expect(tk.status('example.http-json@plant-a').state).toBe('running');
    await site.devices.apply(profile, thermostat(device.url));
    expect(site.devices.view('thermostat-1').device).toEqual({
      site: 'plant-a',
      name: 'thermostat-1',
      profile: 'thermostat',
      protocolName: 'http-json',
      protocol: { url: device.url, timeoutMs: 1000 },
      resources: [
        { name: 'temperature', valueType: 'Float64', readWrite: 'R', units: 'degC', attributes: { pointer: '/sensors/0/temp' }, properties: {} },
        { name: 'mode', valueType: 'String', readWrite: 'R', attributes: { pointer: '/mode' }, properties: {} },
        { name: 'setpoint', valueType: 'Float64', readWrite: 'RW', units: 'degC', attributes: { pointer: '/setpoint' }, properties: { minimum: 5, maximum: 30 } },
      ],
    });
    await site.devices.waitFor('thermostat-1', 'up');

    const [first] = await site.readings.waitFor({ device: 'thermostat-1', resource: 'temperature', quality: 'good' });
    expect(first).toMatchObject({ site: 'plant-a', profile: 'thermostat', value: 21.5, valueType: 'Float64', units: 'degC', quality: 'good' });
    device.doc.sensors = [{ temp: 22.25 }];
    await site.readings.waitFor({ resource: 'temperature', quality: 'good', device: 'thermostat-1' }, { count: 3 });
    expect(site.readings.of('thermostat-1', 'temperature').map((r) => r.value)).toContain(22.25);
  });

  it('reads every resource of one request from one GET, and says why a value is bad', async () => {
    const driver = site.drivers.driver('http-json');
    await site.devices.apply(profile, thermostat(device.url));
    const conn = await driver.connect(site.devices.view('thermostat-1').device!);
    expect(await conn.read(['temperature', 'mode'])).toEqual([
      expect.objectContaining({ resource: 'temperature', value: 21.5, quality: 'good' }),
      expect.objectContaining({ resource: 'mode', value: 'heat', quality: 'good' }),
    ]);

    device.doc.mode = 3;
    delete device.doc.sensors;
    expect((await conn.read(['temperature', 'mode'])).map((s) => [s.quality, s.value, s.qualityDetail])).toEqual([
      ['bad', null, "EDGE_ERR_HTTP_JSON_NO_VALUE the document has no value at '/sensors/0/temp' (resource 'temperature')"],
      ['bad', null, "EDGE_ERR_HTTP_JSON_VALUE resource 'mode': number 3 is not a string (valueType String)"],
    ]);
    device.status = 503;
    expect((await conn.read(['mode']))[0]!.qualityDetail).toBe(`EDGE_ERR_HTTP_JSON_STATUS GET ${device.url} answered HTTP 503`);
    device.status = undefined;
    device.raw = '{"mode": ';
    expect((await conn.read(['mode']))[0]!.qualityDetail).toMatch(/^EDGE_ERR_JSON_SYNTAX the answer of .* is not valid JSON/);
    device.raw = undefined;
    device.delayMs = 3_000;
    expect((await conn.read(['mode']))[0]!.qualityDetail).toBe(`EDGE_ERR_HTTP_JSON_TIMEOUT GET ${device.url} did not answer within 1000 ms`);
    await conn.close();
    expect((await conn.read(['mode']))[0]!.qualityDetail).toBe("EDGE_ERR_HTTP_JSON_CLOSED the connection of device 'thermostat-1' is closed");
  });

  it('writes by PUT and reports what the device then holds', async () => {
    await site.devices.apply(profile, thermostat(device.url));
    expect(await site.devices.write('thermostat-1', 'setpoint', 22.5)).toEqual({ ok: true, reported: 22.5 });
    expect(device.puts).toEqual([{ setpoint: 22.5 }]);
    expect(site.readings.of('thermostat-1', 'setpoint').map((r) => r.value)).toEqual([22.5]);

    expect(await site.devices.write('thermostat-1', 'setpoint', 99)).toEqual({ ok: false, error: { code: 'EDGE_ERR_HTTP_JSON_VALUE', message: "resource 'setpoint': 99 is outside 5..30" } });
    expect(await site.devices.write('thermostat-1', 'setpoint', 'warm')).toMatchObject({ ok: false, error: { code: 'EDGE_ERR_HTTP_JSON_VALUE' } });
    expect(await site.devices.write('thermostat-1', 'mode', 'cool')).toMatchObject({ ok: false, error: { code: 'EDGE_ERR_HTTP_JSON_READ_ONLY' } });
    device.status = 500;
    expect(await site.devices.write('thermostat-1', 'setpoint', 21)).toMatchObject({ ok: false, error: { code: 'EDGE_ERR_HTTP_JSON_STATUS' } });
    expect(device.puts).toHaveLength(1);
  });

  it('reports every problem of a Device and its profile at once, before any request', async () => {
    const broken = {
      ...profile,
      spec: {
        deviceResources: [
          { name: 'temperature', attributes: {}, properties: { valueType: 'Float64', readWrite: 'R' } },
          { name: 'mode', attributes: { pointer: 'mode' }, properties: { valueType: 'String', readWrite: 'R' } },
          { name: 'setpoint', attributes: { pointer: '/setpoint' }, properties: { valueType: 'Float64', readWrite: 'RW', scale: 0.1 } },
        ],
      },
    };
    await site.devices.apply(broken, { ...thermostat('ftp://127.0.0.1/status') });
    expect(site.devices.status('thermostat-1')).toMatchObject({ state: 'invalid' });
    const issues = site.drivers.driver('http-json').validate!(site.devices.view('thermostat-1').device!);
    expect(issues.map((i) => `${i.code} ${i.path}`)).toEqual([
      'EDGE_ERR_HTTP_JSON_PROTOCOL protocols.http-json.url',
      'EDGE_ERR_HTTP_JSON_ATTRIBUTE deviceResources[0].attributes.pointer',
      'EDGE_ERR_HTTP_JSON_ATTRIBUTE deviceResources[1].attributes.pointer',
      'EDGE_ERR_HTTP_JSON_PROPERTY deviceResources[2].properties.scale',
    ]);
    expect(device.puts).toEqual([]);
  });

  it('discovers the values a device serves as a profile that runs as it is', async () => {
    const driver = site.drivers.driver('http-json');
    const [found] = await driver.discover!({ target: device.url });
    expect(found).toEqual({
      name: expect.stringMatching(/^http-127-0-0-1-\d+$/),
      protocolName: 'http-json',
      protocol: { url: device.url },
      profile: {
        deviceResources: [
          { name: 'mode', attributes: { pointer: '/mode' }, properties: { valueType: 'String', readWrite: 'R' } },
          { name: 'on', attributes: { pointer: '/on' }, properties: { valueType: 'Bool', readWrite: 'R' } },
          { name: 'setpoint', attributes: { pointer: '/setpoint' }, properties: { valueType: 'Int64', readWrite: 'R' } },
          { name: 'fan.min', attributes: { pointer: '/fan~1min' }, properties: { valueType: 'Int64', readWrite: 'R' } },
          { name: 'sensors.0.temp', attributes: { pointer: '/sensors/0/temp' }, properties: { valueType: 'Float64', readWrite: 'R' } },
        ],
      },
      description: `5 values at ${device.url}`,
      skipped: [{ path: '/firmware', id: '/firmware', reason: 'null has no valueType' }],
    });
    const [few] = await driver.discover!({ target: device.url, options: { maxResources: 2 } });
    expect(few).toMatchObject({ truncated: true, profile: { deviceResources: [{ name: 'mode' }, { name: 'on' }] } });
    await site.devices.apply(
      { kind: 'DeviceProfile', metadata: { name: 'found' }, spec: found!.profile },
      { kind: 'Device', metadata: { name: found!.name }, spec: { site: 'plant-a', profile: 'found', protocols: { 'http-json': found!.protocol }, autoEvents: [{ sourceName: 'fan.min', interval: '1s' }] } },
    );
    expect((await site.readings.waitFor({ device: found!.name, resource: 'fan.min' }))[0]).toMatchObject({ value: 3, valueType: 'Int64', quality: 'good' });
    await expect(driver.discover!({ target: 'opc.tcp://host:4840' })).rejects.toMatchObject({ code: 'EDGE_ERR_HTTP_JSON_DISCOVERY', statusCode: 400, params: { field: 'target' } });
    await expect(driver.discover!({ target: device.url, options: { maxResources: 0 } })).rejects.toMatchObject({ params: { field: 'options.maxResources' } });
  });

  it('refuses a config out of its schema, naming the field', async () => {
    const other = await startTestKernel({ plugins: [{ plugin: httpJson, site: 'plant-b', config: { timeoutMs: 1 } }], services: site.services });
    expect(other.status('example.http-json@plant-b')).toMatchObject({ state: 'invalid', error: { code: 'EDGE_ERR_PLUGIN_CONFIG', message: expect.stringMatching(/timeoutMs must be >= 10/) } });
    await other.stop();
  });
});
