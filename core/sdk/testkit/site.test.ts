/**
 * mockSiteServices: the services of a site as a device plugin's tests see
 * them, checked through the built-in simulator plugin and a real MQTT client.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import simulator from '../../../plugins/simulator/index.ts';
import { nowOrigin, type DeviceCommands, type DeviceDriver, type SiteCatalog, type SiteLogins } from '../index.ts';
import { mockSiteServices, startTestKernel, type MockSite, type TestKernel } from './index.ts';

const profile = {
  kind: 'DeviceProfile',
  metadata: { name: 'sim-sensor' },
  spec: {
    deviceResources: [
      { name: 'count', attributes: { function: 'ramp', step: 1, max: 1000 }, properties: { valueType: 'Uint16', readWrite: 'R' } },
      { name: 'setpoint', attributes: { function: 'setpoint', initial: 21.5 }, properties: { valueType: 'Float32', readWrite: 'RW', units: 'degC', minimum: 5, maximum: 35 } },
    ],
  },
};
const device = {
  kind: 'Device',
  metadata: { name: 'sim-1' },
  spec: { site: 'plant-a', profile: 'sim-sensor', protocols: { simulator: { seed: '7' } }, autoEvents: [{ sourceName: 'count', interval: '50ms' }] },
};

let site: MockSite | undefined;
let tk: TestKernel | undefined;
afterEach(async () => {
  await tk?.stop();
  await site?.close();
  tk = undefined;
  site = undefined;
});

async function start(opts: { broker?: boolean } = {}): Promise<{ site: MockSite; tk: TestKernel }> {
  site = await mockSiteServices({ site: 'plant-a', ...opts });
  tk = await startTestKernel({ plugins: [{ plugin: simulator, site: 'plant-a' }], services: site.services });
  return { site, tk };
}

describe('mockSiteServices', () => {
  it('runs Devices as the site agent does: polled readings, numbered, and writes read back', async () => {
    const { site, tk } = await start();
    expect(tk.status('simulator@plant-a').state).toBe('running');
    expect(site.drivers.protocols()).toEqual(['simulator']);
    await site.devices.apply(profile, device);
    expect(await site.devices.waitFor('sim-1', 'up')).toMatchObject({ state: 'up', protocol: 'simulator' });
    expect(site.devices.view('sim-1').device).toEqual({
      site: 'plant-a',
      name: 'sim-1',
      profile: 'sim-sensor',
      protocolName: 'simulator',
      protocol: { seed: '7' },
      resources: [
        { name: 'count', valueType: 'Uint16', readWrite: 'R', attributes: { function: 'ramp', step: 1, max: 1000 }, properties: {} },
        { name: 'setpoint', valueType: 'Float32', readWrite: 'RW', units: 'degC', attributes: { function: 'setpoint', initial: 21.5 }, properties: { minimum: 5, maximum: 35 } },
      ],
    });
    const counts = await site.readings.waitFor({ device: 'sim-1', resource: 'count' }, { count: 3 });
    expect(counts.map((r) => r.value)).toEqual([1, 2, 3]);
    expect(counts[0]).toMatchObject({ site: 'plant-a', profile: 'sim-sensor', valueType: 'Uint16', quality: 'good' });
    const seqs = site.readings.readings.map((r) => r.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));

    expect(await site.devices.write('sim-1', 'setpoint', 30)).toEqual({ ok: true, reported: 30 });
    expect(site.readings.of('sim-1', 'setpoint').map((r) => r.value)).toEqual([30]);
    expect(await site.devices.write('sim-1', 'setpoint', 99)).toMatchObject({ ok: false, error: { code: 'EDGE_ERR_SIM_RANGE' } });
  });

  it('checks Devices as the hub does and says why a device cannot run', async () => {
    const { site } = await start();
    await expect(site.devices.apply({ ...device, spec: { ...device.spec, autoEvents: [{ sourceName: 'count', interval: 'often' }] } })).rejects.toMatchObject({
      code: 'EDGE_ERR_STORE_INVALID',
      message: expect.stringMatching(/spec\.autoEvents\[0\]\.interval/),
    });
    await expect(site.devices.apply({ ...device, spec: { ...device.spec, site: 'plant-b' } })).rejects.toMatchObject({ code: 'EDGE_ERR_STORE_INVALID', message: expect.stringMatching(/spec\.site must be 'plant-a'/) });
    await site.devices.apply(device);
    expect(site.devices.status('sim-1')).toMatchObject({ state: 'waiting-for-driver', message: expect.stringMatching(/device profile 'sim-sensor' is not known/) });
    const bad = { ...profile, spec: { deviceResources: [{ name: 'x', attributes: { function: 'square' }, properties: { valueType: 'Float64', readWrite: 'R' } }] } };
    await site.devices.apply(bad);
    expect(site.devices.status('sim-1')).toMatchObject({ state: 'invalid', message: expect.stringMatching(/EDGE_ERR_SIM_FUNCTION.*deviceResources\[0\]\.attributes\.function/) });
    await site.devices.remove('Device', 'sim-1');
    expect(site.devices.statuses()).toEqual([]);
  });

  it('refuses a second driver for a protocol, and names a protocol with no driver', async () => {
    const { site } = await start();
    const other: DeviceDriver = { protocols: ['simulator'], connect: () => Promise.reject(new Error('unused')), close: () => Promise.resolve() };
    expect(() => site.drivers.register(other)).toThrow(/protocol 'simulator' already has a driver/);
    expect(() => site.drivers.driver('bacnet')).toThrow(expect.objectContaining({ code: 'EDGE_ERR_TESTKIT_NO_DRIVER', message: expect.stringMatching(/'bacnet' at site 'plant-a' \(registered: simulator\)/) }));
  });

  it('stores only valid readings, refuses like a full disk on demand, and times out naming what it waited for', async () => {
    site = await mockSiteServices({ site: 'plant-a' });
    const sink = site.readings;
    const r = { device: 'd-1', profile: 'p', resource: 'temp', value: 21, valueType: 'Float64' as const, origin: nowOrigin(), quality: 'good' as const };
    sink.append([r]);
    expect(() => sink.append([{ ...r, value: 'hot' }])).toThrow(expect.objectContaining({ code: 'EDGE_ERR_TELEMETRY_INVALID' }));
    sink.failWith('disk full');
    expect(() => sink.append([r, r])).toThrow(expect.objectContaining({ code: 'EDGE_ERR_READINGS_NOT_STORED', message: "2 readings of device 'd-1' not stored: disk full" }));
    expect(sink.notStored).toBe(2);
    sink.failWith(undefined);
    sink.append([{ ...r, value: 22 }]);
    expect(sink.readings.map((x) => [x.seq, x.value, x.site])).toEqual([
      [1, 21, 'plant-a'],
      [2, 22, 'plant-a'],
    ]);
    await expect(sink.waitFor({ device: 'd-1', resource: 'temp' }, { count: 3, timeoutMs: 50 })).rejects.toMatchObject({
      code: 'EDGE_ERR_TESTKIT_TIMEOUT',
      message: "waited 50 ms for 3 readings of device 'd-1', resource 'temp': 2 matched, 2 readings recorded in all",
    });
    await expect(site.devices.waitFor('d-1', 'up', { timeoutMs: 20 })).rejects.toMatchObject({
      code: 'EDGE_ERR_TESTKIT_TIMEOUT',
      message: "waited 20 ms for device 'd-1' to be up: there is no such device at this site",
    });
  });

  it('gives each plugin a private folder by plugin id, records proposals, and removes its data directory at close', async () => {
    const s = await mockSiteServices();
    const dir = s.storage.dir('acme.http-json');
    expect(dir).toBe(path.join(s.dataDir, 'plugins', 'acme.http-json'));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(() => s.storage.dir('../escape')).toThrow(expect.objectContaining({ code: 'EDGE_ERR_SITE_STORAGE_NAME' }));
    s.onboarding.propose({ source: 'announce', identifier: 'pump-7', suggestedName: 'pump-7', protocolName: 'mqtt', protocol: {}, profile: {} });
    expect(s.onboarding.proposals.map((p) => p.identifier)).toEqual(['pump-7']);
    expect(s.services.map((b) => b.ref.id).sort()).toEqual([
      'site.catalog',
      'site.cluster-services',
      'site.device-commands',
      'site.device-states',
      'site.drivers',
      'site.hub',
      'site.logins',
      'site.metrics',
      'site.onboarding',
      'site.reading-feed',
      'site.readings',
      'site.storage',
    ]);
    await s.close();
    await s.close();
    expect(existsSync(s.dataDir)).toBe(false);
  });

  it('offers the catalog, live reads and writes, and the logins as the agent does', async () => {
    const { site } = await start();
    const bind = <T>(id: string): T => site.services.find((b) => b.ref.id === id)!.value as T;
    const catalog = bind<SiteCatalog>('site.catalog');
    const commands = bind<DeviceCommands>('site.device-commands');
    const logins = bind<SiteLogins>('site.logins');
    await site.devices.apply(profile, device, { ...device, metadata: { name: 'elsewhere' }, spec: { ...device.spec, site: 'plant-a' } });
    await site.devices.waitFor('sim-1', 'up');
    const [p] = catalog.list('DeviceProfile');
    expect(p).toMatchObject({ name: 'sim-sensor', edgexName: 'sim-sensor', spec: { deviceResources: expect.any(Array) } });
    expect(p!.edgex).toMatchObject({ apiVersion: 'v3', name: 'sim-sensor', deviceResources: [{ name: 'count' }, { name: 'setpoint', properties: { minimum: 5, maximum: 35 } }] });
    expect(catalog.list('Device').map((d) => [d.name, d.edgex.profileName])).toEqual([
      ['elsewhere', 'sim-sensor'],
      ['sim-1', 'sim-sensor'],
    ]);

    const read = await commands.read('sim-1', ['setpoint']);
    expect(read).toMatchObject({ ok: true, samples: [{ resource: 'setpoint', value: 21.5, quality: 'good' }] });
    expect(site.readings.of('sim-1', 'setpoint')).toHaveLength(1);
    expect(await commands.write('sim-1', 'setpoint', 25)).toEqual({ ok: true, reported: 25 });
    expect(await commands.read('sim-1', [])).toMatchObject({ ok: true, samples: [{ resource: 'count' }, { resource: 'setpoint', value: 25 }] });
    expect(await commands.read('nothing', ['count'])).toMatchObject({ ok: false, error: { code: 'EDGE_ERR_DEVICE_UNAVAILABLE' } });

    await site.addLogin('viewer', 'pass-1');
    await site.addLogin('gone', 'pass-2', { disabled: true });
    expect(await logins.verify('viewer', 'pass-1')).toBe(true);
    expect(await logins.verify('viewer', 'pass-1')).toBe(true);
    expect(await logins.verify('viewer', 'wrong')).toBe(false);
    expect(await logins.verify('gone', 'pass-2')).toBe(false);
    expect(await logins.verify('nobody', 'pass-1')).toBe(false);
    await site.devices.remove('BrokerCredential', 'login-viewer');
    expect(await logins.verify('viewer', 'pass-1')).toBe(false);
  });

  it('runs the site broker on demand: its own login, with client ids under edgeadm-', async () => {
    site = await mockSiteServices({ broker: true });
    const broker = site.broker!;
    expect(site.services.map((b) => b.ref.id)).toContain('site.broker');
    const connect = (clientId: string, password = broker.credentials.password): Promise<string> =>
      new Promise((resolve) => {
        const c = mqtt.connect(broker.url, { clientId, username: broker.credentials.username, password, reconnectPeriod: 0, connectTimeout: 5_000 });
        c.once('connect', () => void c.endAsync().then(() => resolve('connected')));
        c.once('error', (err) => void c.endAsync(true).then(() => resolve((err as Error & { code?: number }).code === undefined ? err.message : `refused ${String((err as Error & { code?: number }).code)}`)));
      });
    expect(await connect('edgeadm-acme-test')).toBe('connected');
    expect(await connect('mqttjs_1234')).toBe('refused 2');
    expect(await connect('edgeadm-acme-test', 'wrong')).toBe('refused 4');
  });
});
