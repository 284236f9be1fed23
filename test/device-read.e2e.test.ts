/**
 * Live reads and EdgeX value mappings, end to end: a real hub, a real site
 * agent running the modbus plugin, and a Modbus TCP server on loopback whose
 * registers the test changes behind the platform's back. `POST
 * /api/v1/sites/S/devices/D/read` (and `edgeadm device read --live`) must
 * answer what the registers hold now, through the sync session and the
 * driver; the profile's mappings turn register 3 into "Dry" on the way up and
 * "Heat" into register 1 on the way down; an offline site, a slow device, a
 * silent device, a device without a driver, bad names and the wrong callers
 * each get their own answer.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DeviceReadOut, ErrorBody } from '../core/hub/index.ts';
import { startSiteAgent, type SiteAgent } from '../sites/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { runEdgeadm } from './support/edgeadm-cli.ts';
import { quiet, startHubFixture, tempDir, waitFor, type HubFixture } from './support/hub-fixture.ts';
import { startModbusServer } from './support/modbus-server.ts';

const defer = deferCleanup();
const SITE = 'plant-r';

const AC_PROFILE = {
  kind: 'DeviceProfile',
  metadata: { name: 'ac' },
  spec: {
    deviceResources: [
      { name: 'Mode', attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: '0', rawType: 'Uint16' }, properties: { valueType: 'Uint16', readWrite: 'RW' } },
      { name: 'Temperature', attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: '1', rawType: 'Int16' }, properties: { valueType: 'Float32', readWrite: 'R', scale: '0.1', units: 'degC' } },
    ],
    deviceCommands: [
      { name: 'Values', readWrite: 'R', resourceOperations: [{ deviceResource: 'Mode', mappings: { '0': 'Cool', '1': 'Heat', '3': 'Dry' } }, { deviceResource: 'Temperature' }] },
      { name: 'SetMode', readWrite: 'RW', resourceOperations: [{ deviceResource: 'Mode', mappings: { '0': 'Cool', '1': 'Heat', '3': 'Dry' } }] },
    ],
  },
};

async function startAgent(f: HubFixture, dataDir: string): Promise<SiteAgent> {
  return startSiteAgent({
    site: SITE,
    hubUrl: f.hub.url,
    token: await f.agentToken(SITE),
    dataDir,
    logger: quiet,
    broker: false,
    syncBackoff: { initialMs: 50, maxMs: 300 },
    forwarder: { backoff: { initialMs: 50, maxMs: 300 } },
  });
}

describe('live reads through the site', () => {
  it('reads a Modbus device now, maps its values both ways, and says why when it cannot', async () => {
    const server = await startModbusServer();
    defer(() => server.close());
    const regs = server.unit(1).holdingRegisters;
    regs[0] = 3; // Dry
    regs[1] = 215; // 21.5 degC
    const f = await startHubFixture({ syncHeartbeatMs: 1000 });
    defer(() => f.hub.close());
    await f.apply({ kind: 'Site', metadata: { name: SITE }, spec: {} });
    await f.apply({ kind: 'Site', metadata: { name: 'plant-s' }, spec: {} });
    await f.apply(AC_PROFILE);
    // No autoEvents: nothing reaches the hub unless someone asks.
    await f.apply({
      kind: 'Device',
      metadata: { name: 'ac-1' },
      spec: { site: SITE, profile: 'ac', protocols: { 'modbus-tcp': { Address: '127.0.0.1', Port: String(server.port), UnitID: '1', Timeout: '1' } } },
    });
    // A device whose plugin the site does not run.
    await f.apply({ kind: 'DeviceProfile', metadata: { name: 'thermo' }, spec: { deviceResources: [{ name: 'temp', attributes: { function: 'sine' }, properties: { valueType: 'Float64', readWrite: 'R' } }] } });
    await f.apply({ kind: 'Device', metadata: { name: 'sim-9' }, spec: { site: SITE, profile: 'thermo', protocols: { simulator: { seed: '1' } } } });
    await f.apply({ kind: 'Addon', metadata: { name: 'modbus' }, spec: { plugin: 'modbus', sites: [SITE] } });
    const read = (body: unknown, device = 'ac-1', token?: string) => f.api<DeviceReadOut & ErrorBody>('POST', `/api/v1/sites/${SITE}/devices/${device}/read`, body, token);
    const cli = (args: string[]) => runEdgeadm(args, { EDGEADM_HUB: f.hub.url, EDGEADM_TOKEN: f.adminToken, EDGEADM_CA_FILE: undefined });

    // The site has never connected: refused at once, naming it.
    const offline = await read({});
    expect(offline.status).toBe(409);
    expect(offline.body.code).toBe('EDGE_ERR_HUB_SITE_OFFLINE');
    expect(offline.body.message).toMatch(/cannot read device 'ac-1': site 'plant-r' is Offline/);
    expect(await f.hub.commands.list({ site: SITE })).toEqual([]);

    const dataDir = tempDir('site-live-read');
    let agent: SiteAgent | undefined = await startAgent(f, path.join(dataDir, 'agent'));
    defer(() => agent?.stop());
    await waitFor('the site online', async () => (await f.api<{ status?: { phase?: string } }>('GET', `/api/v1/sites/${SITE}`)).body.status?.phase === 'Online', 30_000);

    // Every readable resource, now, with the profile's mapping applied to Mode (once the site has connected the device).
    const all = await waitFor('ac-1 connected at the site', async () => {
      const r = await read({});
      return r.status === 200 ? r : undefined;
    }, 30_000, 200);
    expect(all.status, JSON.stringify(all.body)).toBe(200);
    expect(all.body).toMatchObject({ site: SITE, device: 'ac-1' });
    expect(all.body.readings.map((r) => [r.resource, r.value, r.valueType, r.quality])).toEqual([
      ['Mode', 'Dry', 'String', 'good'],
      ['Temperature', 21.5, 'Float32', 'good'],
    ]);
    expect(all.body.readings[1]).toMatchObject({ site: SITE, device: 'ac-1', profile: 'ac', units: 'degC' });
    expect(await f.hub.commands.get(all.body.command)).toMatchObject({ kind: 'read', resources: [], state: 'succeeded' });

    // The device changes behind the platform's back: a live read sees it; the readings also reach the store.
    regs[1] = 230;
    regs[0] = 7; // not in the mappings: the raw value, with its own valueType
    const one = await read({ resources: ['Temperature', 'Mode'] });
    expect(one.status).toBe(200);
    expect(one.body.readings.map((r) => [r.resource, r.value, r.valueType])).toEqual([
      ['Temperature', 23, 'Float32'],
      ['Mode', 7, 'Uint16'],
    ]);
    await waitFor('the live readings in the telemetry store', async () => (await f.hub.telemetry.query({ site: SITE, device: 'ac-1', resource: 'Temperature', descending: true, limit: 1 })).items[0]?.value === 23);
    // A deviceCommand stands for its resources.
    const byCommand = await read({ resources: ['Values'] });
    expect(byCommand.body.readings.map((r) => r.resource)).toEqual(['Mode', 'Temperature']);

    // The CLI: stored values say so; --live asks the device.
    regs[0] = 3;
    const live = await cli(['device', 'read', 'ac-1', '--live']);
    expect(live.code, live.stderr).toBe(0);
    expect(live.stdout).toMatch(/^RESOURCE\s+VALUE\s+UNITS\s+QUALITY\s+AGE\nMode\s+Dry\s+-\s+good\s+\d+s\nTemperature\s+23\s+degC\s+good\s+\d+s\n$/);
    const stored = await cli(['device', 'read', 'ac-1', 'Temperature']);
    expect(stored.code, stored.stderr).toBe(0);
    expect(stored.stdout).toMatch(/\nTemperature\s+23\s+degC\s+good\s+\d+s\nstored values; --live asks the device now\n$/);

    // Who may ask: a viewer may; agents may not, of this site or another.
    const viewer = (await f.api<{ token: string }>('POST', '/api/v1/tokens', { role: 'viewer' })).body.token;
    expect((await read({ resources: ['Temperature'] }, 'ac-1', viewer)).status).toBe(200);
    const other = await read({}, 'ac-1', await f.agentToken('plant-s'));
    expect(other.status).toBe(403);
    expect(other.body.code).toBe('EDGE_ERR_HUB_FORBIDDEN');
    expect((await read({}, 'ac-1', await f.agentToken(SITE))).status).toBe(403);

    // What cannot be read is refused before it reaches the site.
    const bad = await read({ resources: ['Temperature', 'Pressure'] });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'EDGE_ERR_HUB_COMMAND_INVALID' });
    expect(bad.body.message).toMatch(/'Pressure' is neither a deviceResource nor a deviceCommand of the profile \(it has Mode, Temperature, Values, SetMode\)/);
    const elsewhere = await f.api<ErrorBody>('POST', '/api/v1/sites/plant-s/devices/ac-1/read', {});
    expect(elsewhere.status).toBe(404);
    // A device the site cannot drive: the site's own reason.
    const noDriver = await read({}, 'sim-9');
    expect(noDriver.status).toBe(502);
    expect(noDriver.body.code).toBe('EDGE_ERR_HUB_READ_FAILED');
    expect(noDriver.body.message).toMatch(/\[EDGE_ERR_DEVICE_UNAVAILABLE\] device 'sim-9' is waiting-for-driver at site 'plant-r'/);

    // Writes take the mapped names: "Heat" is register value 1, reported back as "Heat".
    const write = await f.api<{ id: string }>('POST', `/api/v1/sites/${SITE}/devices/ac-1/commands`, { resource: 'Mode', value: 'Heat', ttlSeconds: 30 });
    expect(write.status).toBe(202);
    const done = await waitFor('the write reported', async () => {
      const c = (await f.api<{ state: string; result?: { reported?: unknown } }>('GET', `/api/v1/commands/${write.body.id}`)).body;
      return c.state === 'succeeded' || c.state === 'failed' ? c : undefined;
    });
    expect(done).toMatchObject({ state: 'succeeded', result: { reported: 'Heat' } });
    expect(regs[0]).toBe(1);
    const twin = (await f.api<{ spec: { desired?: Record<string, unknown> }; status?: { reported?: Record<string, { value: unknown }> } }>('GET', '/api/v1/devices/ac-1')).body;
    expect(twin.spec.desired).toEqual({ Mode: 'Heat' });
    expect(twin.status?.reported?.Mode?.value).toBe('Heat');
    // A name the mappings do not have is no Uint16: the hub refuses it.
    const unmapped = await f.api<ErrorBody>('POST', `/api/v1/sites/${SITE}/devices/ac-1/commands`, { resource: 'Mode', value: 'Turbo' });
    expect(unmapped.status).toBe(400);
    expect(unmapped.body.message).toMatch(/must be an integer for valueType Uint16/);

    // A device slower than the caller waits: 504, and the site's late answer changes nothing.
    server.delayMs = 1500;
    const slow = await read({ resources: ['Temperature'], timeoutMs: 300 });
    expect(slow.status).toBe(504);
    expect(slow.body.code).toBe('EDGE_ERR_HUB_READ_TIMEOUT');
    expect(slow.body.message).toMatch(/site 'plant-r' did not answer the read of device 'ac-1' within 300 ms/);
    server.delayMs = 0;
    await waitFor('the slow read over', async () => (await f.hub.commands.get(slow.body.message.match(/command (\S+)/)![1]!))?.state === 'expired', 10_000);

    // A device that does not answer at all: the read comes back, with bad quality.
    server.silence(1);
    const silent = await read({ resources: ['Temperature'], timeoutMs: 15_000 });
    expect(silent.status, JSON.stringify(silent.body)).toBe(200);
    expect(silent.body.readings).toHaveLength(1);
    expect(silent.body.readings[0]).toMatchObject({ resource: 'Temperature', value: null, quality: 'bad' });
    server.silence(1, false);

    // The agent goes away: refused again, with the CLI too.
    await agent.stop();
    agent = undefined;
    await waitFor('the site offline', async () => (await f.api<{ status?: { phase?: string } }>('GET', `/api/v1/sites/${SITE}`)).body.status?.phase === 'Offline');
    expect((await read({})).body.code).toBe('EDGE_ERR_HUB_SITE_OFFLINE');
    const gone = await cli(['device', 'read', 'ac-1', '--live']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/\[EDGE_ERR_HUB_SITE_OFFLINE\] POST \/api\/v1\/sites\/plant-r\/devices\/ac-1\/read: cannot read device 'ac-1': site 'plant-r' is Offline/);
  }, 120_000);
});
