/**
 * One plugin instance reconciled at a time, seen from the devices: a site
 * runs the modbus plugin (a device polled over one TCP link to a Modbus
 * server), the opcua plugin (a device on an OPC UA subscription) and the mqtt
 * plugin (on the site broker). The mqtt Addon is edited, a simulator Addon is
 * added and then removed; the Modbus server sees no new connection, the OPC
 * UA server no new session and no new subscription, and readings keep coming.
 */
import { describe, expect, it } from 'vitest';
import type { Reading } from '../core/sdk/index.ts';
import type { Resource } from '../core/store/index.ts';
import { startOpcuaSimulator } from '../plugins/opcua/testkit/server.ts';
import { startSiteAgent } from '../sites/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { quiet, startHubFixture, tempDir, waitFor } from './support/hub-fixture.ts';
import { startModbusServer } from './support/modbus-server.ts';
import { freePort } from './support/tcp-services.ts';

const defer = deferCleanup();

describe('plugin instances reconciled one at a time', () => {
  it('keeps a Modbus link and an OPC UA subscription open while another Addon at the site is changed, added and removed', async () => {
    const modbus = await startModbusServer();
    defer(() => modbus.close());
    modbus.unit(1).holdingRegisters[0] = 100;
    const sim = await startOpcuaSimulator({ dir: tempDir('reconcile-opcua'), securityModes: ['None'], changeIntervalMs: 100 });
    defer(() => sim.stop());
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-r';
    await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
    await f.apply({
      kind: 'DeviceProfile',
      metadata: { name: 'meter' },
      spec: { deviceResources: [{ name: 'volts', attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: 0, rawType: 'Uint16' }, properties: { valueType: 'Uint16', readWrite: 'R' } }] },
    });
    await f.apply({
      kind: 'DeviceProfile',
      metadata: { name: 'press' },
      spec: { deviceResources: [{ name: 'speed', attributes: { nodeId: sim.nodeId('Machine.Speed') }, properties: { valueType: 'Float64', readWrite: 'R' } }] },
    });
    await f.apply({
      kind: 'Device',
      metadata: { name: 'meter-1' },
      spec: { site, profile: 'meter', protocols: { 'modbus-tcp': { Address: '127.0.0.1', Port: modbus.port, UnitID: 1 } }, autoEvents: [{ sourceName: 'volts', interval: '100ms' }] },
    });
    await f.apply({
      kind: 'Device',
      metadata: { name: 'press-1' },
      spec: { site, profile: 'press', protocols: { opcua: { Endpoint: sim.endpointUrl, securityMode: 'None', securityPolicy: 'None' } } },
    });
    await f.apply({ kind: 'Addon', metadata: { name: 'modbus' }, spec: { plugin: 'modbus', sites: [site] } });
    await f.apply({ kind: 'Addon', metadata: { name: 'opcua' }, spec: { plugin: 'opcua', sites: [site] } });
    await f.apply({ kind: 'Addon', metadata: { name: 'mqtt' }, spec: { plugin: 'mqtt', sites: [site], config: { onboarding: { enabled: true } } } });
    const a = await startSiteAgent({
      site,
      hubUrl: f.hub.url,
      token: await f.agentToken(site),
      dataDir: tempDir('site-reconcile'),
      logger: quiet,
      broker: { host: '127.0.0.1', port: await freePort() },
      syncBackoff: { initialMs: 50, maxMs: 500 },
      forwarder: { backoff: { initialMs: 50, maxMs: 500 }, maxDelayMs: 20 },
    });
    defer(() => a.stop());

    const readings = async (device: string): Promise<Reading[]> => (await f.hub.telemetry.query({ site, device, limit: 10_000 })).items.filter((r) => r.quality === 'good');
    const instanceStates = (): Record<string, string> => Object.fromEntries(a.status().plugins.map((p) => [p.plugin, p.state]));
    await waitFor('both devices delivering', async () => (await readings('meter-1')).length >= 2 && (await readings('press-1')).length >= 2, 60_000);
    expect(instanceStates()).toMatchObject({ modbus: 'running', opcua: 'running', mqtt: 'running' });
    const diagnostics = (): { sessions: number; subscriptions: number } => {
      const s = sim.server.engine.serverDiagnosticsSummary;
      return { sessions: s.cumulatedSessionCount, subscriptions: s.cumulatedSubscriptionCount };
    };
    const before = { modbus: modbus.accepted(), opcua: diagnostics() };
    expect(before.modbus).toBe(1);
    expect(before.opcua.sessions).toBeGreaterThanOrEqual(1);
    expect(before.opcua.subscriptions).toBeGreaterThanOrEqual(1);

    /** Waits until the site runs the given plugins, then until both devices delivered fresh readings. */
    const settle = async (what: string, plugins: Record<string, string>, absent: string[] = []): Promise<void> => {
      await waitFor(what, () => {
        const s = instanceStates();
        return Object.entries(plugins).every(([p, st]) => s[p] === st) && absent.every((p) => s[p] === undefined);
      }, 60_000);
      const counts = { meter: (await readings('meter-1')).length, press: (await readings('press-1')).length };
      await waitFor(`fresh readings after ${what}`, async () => (await readings('meter-1')).length > counts.meter + 2 && (await readings('press-1')).length > counts.press + 2, 60_000);
    };

    // Changed: the mqtt Addon's config.
    const mqttStarted = a.status().plugins.find((p) => p.plugin === 'mqtt')!.startedAt;
    expect(mqttStarted).toBeDefined();
    await new Promise((r) => setTimeout(r, 5));
    await f.apply({ kind: 'Addon', metadata: { name: 'mqtt' }, spec: { plugin: 'mqtt', sites: [site], config: { onboarding: { enabled: false } } } });
    await waitFor('the mqtt instance restarted with its new config', () => a.status().plugins.find((p) => p.plugin === 'mqtt' && p.state === 'running' && p.startedAt !== mqttStarted), 60_000);
    await settle('the mqtt edit', { mqtt: 'running', modbus: 'running', opcua: 'running' });

    // Added: a simulator Addon.
    await f.apply({ kind: 'Addon', metadata: { name: 'simulator' }, spec: { plugin: 'simulator', sites: [site] } });
    await settle('the simulator added', { simulator: 'running', modbus: 'running', opcua: 'running' });

    // Removed: the simulator Addon again.
    const del = await f.api('DELETE', '/api/v1/addons/simulator');
    expect(del.status).toBe(200);
    await settle('the simulator removed', { modbus: 'running', opcua: 'running' }, ['simulator']);

    // The devices' side saw no reconnect of either link.
    expect(modbus.accepted()).toBe(before.modbus);
    expect(modbus.connections()).toBe(1);
    expect(diagnostics()).toEqual(before.opcua);
  }, 180_000);

  it('runs the older of two Addons that come to put the same plugin at a site, reports the other as a conflict, and hands over when the older goes', async () => {
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-c';
    await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
    await f.apply({ kind: 'Addon', metadata: { name: 'sim-a' }, spec: { plugin: 'simulator', sites: [site] } });
    // A selector that matches no site yet: no conflict when it is created.
    await new Promise((r) => setTimeout(r, 5));
    await f.apply({ kind: 'Addon', metadata: { name: 'sim-b' }, spec: { plugin: 'simulator', siteSelector: { tier: 'gold' } } });
    const a = await startSiteAgent({
      site,
      hubUrl: f.hub.url,
      token: await f.agentToken(site),
      dataDir: tempDir('site-conflict'),
      logger: quiet,
      broker: false,
      syncBackoff: { initialMs: 50, maxMs: 500 },
      forwarder: { backoff: { initialMs: 50, maxMs: 500 }, maxDelayMs: 20 },
    });
    defer(() => a.stop());
    // What the site itself reported (the hub's API would also show a conflict it works out on its own).
    const siteStatus = async (addon: string): Promise<{ state: string; code?: string; message?: string } | undefined> => {
      const obj = await f.hub.store.get<Resource<unknown, { sites?: Record<string, { state: string; code?: string; message?: string }> }>>('Addon', addon);
      return obj?.status?.sites?.[site];
    };
    await waitFor('sim-a running', async () => (await siteStatus('sim-a'))?.state === 'running');
    const started = a.status().plugins.find((p) => p.plugin === 'simulator')!.startedAt;

    // The site is labelled later: now both Addons put the simulator there.
    await f.apply({ kind: 'Site', metadata: { name: site, labels: { tier: 'gold' } }, spec: {} });
    const conflict = await waitFor('sim-b reported as a conflict', async () => {
      const s = await siteStatus('sim-b');
      return s?.state === 'conflict' ? s : undefined;
    });
    expect(conflict.code).toBe('EDGE_ERR_ADDON_CONFLICT');
    expect(conflict.message).toMatch(/Addon 'sim-b' puts plugin 'simulator' at site 'plant-c', which Addon 'sim-a' already puts there/);
    // The older one keeps running, untouched.
    expect((await siteStatus('sim-a'))?.state).toBe('running');
    expect(a.status().plugins.filter((p) => p.plugin === 'simulator')).toEqual([expect.objectContaining({ state: 'running', startedAt: started })]);

    // The older one goes: the other takes over.
    expect((await f.api('DELETE', '/api/v1/addons/sim-a')).status).toBe(200);
    await waitFor('sim-b running', async () => (await siteStatus('sim-b'))?.state === 'running');
  }, 120_000);
});
