/**
 * Device state follows reality, end to end: a real hub over HTTP, a real site
 * agent with the modbus plugin, and modbus-serial's TCP server as the device.
 *
 * - A device pointed at a closed port is DOWN with the socket's own cause
 *   (`connect ECONNREFUSED 127.0.0.1:<port>`, said once) at the hub, in
 *   `edgeadm status` and `device list`, in its readings' qualityDetail and in
 *   the agent's /metrics; UP once the server answers, with a last-seen time
 *   seconds old; DOWN again after the configured number of bad polls when it
 *   stops; UNKNOWN at the hub while its site is offline.
 * - The twin: after an agent restart and a simulator restart that put a
 *   device's writable resources back at their start values, the agent writes
 *   the desired setpoint again (policy reassert) and reports the drift of the
 *   other (policy report); the hub's `status.reported` shows what the device
 *   holds, not what was written before.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../core/sdk/index.ts';
import type { DeviceStatus } from '../core/store/index.ts';
import { startSiteAgent, type SiteAgent } from '../sites/index.ts';
import { artifactsDir, launchChromium } from './support/browser.ts';
import { deferCleanup } from './support/cleanup.ts';
import { runEdgeadm } from './support/edgeadm-cli.ts';
import { quiet, startHubFixture, tempDir, waitFor, type HubFixture } from './support/hub-fixture.ts';
import { startModbusServer, type ModbusTestServer } from './support/modbus-server.ts';
import { freePort } from './support/tcp-services.ts';

const defer = deferCleanup();
const UNIT = 1;
const shots = artifactsDir('device-state');

interface DeviceView {
  status?: DeviceStatus;
}

async function deviceStatus(f: HubFixture, name: string): Promise<DeviceStatus> {
  const r = await f.api<DeviceView>('GET', `/api/v1/devices/${name}`);
  expect(r.status).toBe(200);
  return r.body.status ?? {};
}

async function setUp(site: string, port: number, device: Record<string, unknown>): Promise<{ f: HubFixture; token: string }> {
  const f = await startHubFixture();
  defer(() => f.hub.close());
  await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
  await f.apply({
    kind: 'DeviceProfile',
    metadata: { name: 'boiler' },
    spec: {
      deviceResources: [
        { name: 'setpoint', attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: 0, rawType: 'Float32' }, properties: { valueType: 'Float32', readWrite: 'RW', minimum: 0, maximum: 100 } },
        { name: 'limit', attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: 2, rawType: 'Uint16' }, properties: { valueType: 'Uint16', readWrite: 'RW' } },
        { name: 'flow', attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: 3, rawType: 'Uint16' }, properties: { valueType: 'Uint16', readWrite: 'R' } },
      ],
      deviceCommands: [{ name: 'values', readWrite: 'R', resourceOperations: [{ deviceResource: 'setpoint' }, { deviceResource: 'limit' }, { deviceResource: 'flow' }] }],
    },
  });
  await f.apply({
    kind: 'Device',
    metadata: { name: 'boiler-1' },
    spec: {
      site,
      profile: 'boiler',
      protocols: { 'modbus-tcp': { Address: '127.0.0.1', Port: String(port), UnitID: String(UNIT), Timeout: '1' } },
      autoEvents: [{ sourceName: 'values', interval: '200ms' }],
      ...device,
    },
  });
  await f.apply({ kind: 'Addon', metadata: { name: 'modbus' }, spec: { plugin: 'modbus', sites: [site] } });
  return { f, token: await f.agentToken(site) };
}

function agentOf(f: HubFixture, site: string, token: string, dataDir: string): Promise<SiteAgent> {
  return startSiteAgent({
    site,
    hubUrl: f.hub.url,
    token,
    dataDir,
    logger: quiet,
    broker: false,
    metrics: { port: 0 },
    devices: { downAfterBadPolls: 3 },
    syncBackoff: { initialMs: 50, maxMs: 500 },
    forwarder: { backoff: { initialMs: 50, maxMs: 500 } },
  });
}

/** A device's start values: setpoint 20.0 (Float32 0x41a00000), limit 5, flow 11. */
async function simulator(port: number): Promise<ModbusTestServer> {
  const s = await startModbusServer({ port });
  const regs = s.unit(UNIT).holdingRegisters;
  regs[0] = 0x41a0;
  regs[1] = 0x0000;
  regs[2] = 5;
  regs[3] = 11;
  return s;
}

/** No cause said twice: "is down: ... is down: ..." or the endpoint named twice. */
function saidOnce(message: string, part: string): void {
  expect(message.split(part).length - 1, message).toBe(1);
}

describe('device state follows reality', () => {
  it('is DOWN with its cause while the port is closed, UP when the device answers, DOWN again after N bad polls, UNKNOWN while the site is offline', async () => {
    const port = await freePort();
    const site = 'plant-ds';
    const { f, token } = await setUp(site, port, {});
    const agent = await agentOf(f, site, token, tempDir('device-state'));
    let stopped = false;
    defer(() => (stopped ? undefined : agent.stop()));
    const refused = `connect ECONNREFUSED 127.0.0.1:${port}`;

    const down = await waitFor('the device DOWN with its cause at the hub', async () => {
      const s = await deviceStatus(f, 'boiler-1');
      return s.operatingState === 'DOWN' && s.message?.includes(refused) ? s : undefined;
    }, 30_000);
    saidOnce(down.message!, refused);
    // Never answered: never seen (bad readings are not a sign of life).
    expect(down.lastSeen).toBeUndefined();
    expect(down.message).toMatch(/^EDGE_ERR_MODBUS_CONNECT connect ECONNREFUSED .*\(every read bad for 3 polls\)$/);
    // The readings say why as well, not only the code.
    const latest = async (resource: string): Promise<Reading | undefined> => (await f.hub.telemetry.query({ site, device: 'boiler-1', resource, descending: true, limit: 1 })).items[0];
    await waitFor('bad readings at the hub', async () => (await latest('flow'))?.quality === 'bad');
    expect((await latest('flow'))!.qualityDetail).toBe(`EDGE_ERR_MODBUS_CONNECT ${refused}`);

    // The agent's metrics: the plugin instance runs, the device is down.
    const metricsUrl = agent.status().metricsUrl!;
    const metrics = await (await fetch(metricsUrl)).text();
    expect(metrics).toMatch(/edgeadm_plugin_instance_state\{instance="[^"]*",plugin="modbus",state="running"\} 1/);
    expect(metrics).toContain('edgeadm_device_state{device="boiler-1",state="down"} 1');
    expect(metrics).toContain('edgeadm_device_up{device="boiler-1"} 0');

    // The CLI says the same: the state and the cause.
    const env = { EDGEADM_HUB: f.hub.url, EDGEADM_TOKEN: f.adminToken, HOME: tempDir('device-state-home') };
    const status = await runEdgeadm(['status'], env);
    expect(status.stderr).toBe('');
    expect(status.stdout).toMatch(/Devices: +1: 0 up, 1 down, 0 unknown/);
    expect(status.stdout).toContain(`boiler-1 at ${site} (EDGE_ERR_MODBUS_CONNECT ${refused}`);
    const list = await runEdgeadm(['device', 'list'], env);
    expect(list.stdout).toMatch(new RegExp(`boiler-1 .* DOWN .* EDGE_ERR_MODBUS_CONNECT ${refused}`));
    // And the console, in a real browser.
    const browser = await launchChromium();
    defer(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${f.hub.url}/`);
    await page.getByTestId('login-token').fill(f.adminToken);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('nav-devices').click();
    const row = page.getByTestId('device-boiler-1');
    await expect.poll(() => row.getByTestId('device-state').textContent(), { timeout: 20_000 }).toBe('DOWN');
    // The cause first (the code stays in the tooltip, with the whole message).
    expect(await row.getByTestId('device-cause').textContent()).toBe(`${refused} (every read bad for 3 polls)`);
    expect(await row.getByTestId('device-cause').getAttribute('title')).toBe(down.message);
    expect(await row.locator('td.time').textContent()).toBe('never');
    await page.screenshot({ path: path.join(shots, '01-device-down.png') });

    // The device starts answering: UP, the cause gone, last seen seconds old.
    const server = await simulator(port);
    let serverClosed = false;
    defer(() => (serverClosed ? undefined : server.close()));
    const up = await waitFor('the device UP at the hub', async () => {
      const s = await deviceStatus(f, 'boiler-1');
      return s.operatingState === 'UP' ? s : undefined;
    }, 30_000);
    expect(up.message).toBeUndefined();
    expect(agent.status().devices.find((d) => d.device === 'boiler-1')).toMatchObject({ state: 'up' });
    expect(await (await fetch(metricsUrl)).text()).toContain('edgeadm_device_up{device="boiler-1"} 1');
    // Last seen follows the newest reading within seconds (the agent sends it at most every 5 s).
    await new Promise((r) => setTimeout(r, 6_000));
    const seen = await waitFor('a last-seen time within seconds of the newest reading', async () => {
      const s = await deviceStatus(f, 'boiler-1');
      const newest = await latest('flow');
      if (!s.lastSeen || !newest || newest.quality !== 'good') return undefined;
      return Date.now() - Date.parse(s.lastSeen) < 8_000 ? { lastSeen: Date.parse(s.lastSeen), newest: newest.origin / 1e6 } : undefined;
    }, 20_000);
    expect(Math.abs(seen.newest - seen.lastSeen)).toBeLessThan(8_000);

    // The device stops answering: DOWN again after the bad polls, with the cause.
    await server.close();
    serverClosed = true;
    const again = await waitFor('the device DOWN again', async () => {
      const s = await deviceStatus(f, 'boiler-1');
      return s.operatingState === 'DOWN' ? s : undefined;
    }, 30_000);
    expect(again.message).toMatch(/^EDGE_ERR_MODBUS_CONNECT (connect ECONNREFUSED 127\.0\.0\.1:\d+|connection closed by peer) \(every read bad for 3 polls\)$/);
    expect(again.message).not.toMatch(/is down: .*is down:/);

    // The site goes offline: its devices are unknown at the hub, not what they last were.
    await agent.stop();
    stopped = true;
    const offline = await waitFor('the device UNKNOWN while its site is offline', async () => {
      const s = await deviceStatus(f, 'boiler-1');
      return s.operatingState === 'UNKNOWN' ? s : undefined;
    }, 30_000);
    expect(offline.message).toMatch(new RegExp(`^site '${site}' offline since .*; last report: DOWN \\(EDGE_ERR_MODBUS_CONNECT`));
    const listed = await f.api<{ items: { metadata: { name: string }; status?: DeviceStatus }[] }>('GET', `/api/v1/devices?site=${site}`);
    expect(listed.body.items.find((d) => d.metadata.name === 'boiler-1')?.status?.operatingState).toBe('UNKNOWN');
    const offlineStatus = await runEdgeadm(['status'], env);
    expect(offlineStatus.stdout).toMatch(/Devices: +1: 0 up, 0 down, 1 unknown/);
    await expect.poll(() => row.getByTestId('device-state').textContent(), { timeout: 20_000 }).toBe('UNKNOWN');
    expect(await row.getByTestId('device-cause').textContent()).toMatch(new RegExp(`^site offline since .*; last report: DOWN`));
    await page.screenshot({ path: path.join(shots, '02-device-site-offline.png') });
  }, 180_000);

  it('writes the desired setpoint again when a restarted device comes back at its start value, reports the drift of another, and the hub shows what the device holds', async () => {
    const port = await freePort();
    const site = 'plant-tw';
    const { f, token } = await setUp(site, port, { driftPolicy: { setpoint: 'reassert', limit: 'report' } });
    let server = await simulator(port);
    defer(() => server.close());
    const dataDir = tempDir('device-twin');
    let agent = await agentOf(f, site, token, dataDir);
    defer(() => agent.stop());

    const write = async (resource: string, value: unknown): Promise<void> => {
      const cmd = await f.api<{ id: string }>('POST', `/api/v1/sites/${site}/devices/boiler-1/commands`, { resource, value, ttlSeconds: 60 });
      expect(cmd.status).toBe(202);
      const done = await waitFor(`the write of ${resource}`, async () => {
        const r = await f.api<{ state: string }>('GET', `/api/v1/commands/${cmd.body.id}`);
        return r.body.state === 'succeeded' || r.body.state === 'failed' ? r.body : undefined;
      }, 30_000);
      expect(done.state).toBe('succeeded');
    };
    await write('setpoint', 42.5);
    await write('limit', 7);
    const regs = (): number[] => server.unit(UNIT).holdingRegisters.slice(0, 3);
    expect(regs()).toEqual([0x422a, 0x0000, 7]);
    const before = await waitFor('the written values reported', async () => {
      const s = await deviceStatus(f, 'boiler-1');
      return s.reported?.setpoint?.value === 42.5 && s.reported.limit?.value === 7 ? s : undefined;
    });
    expect(before.drift).toBeUndefined();

    // The agent restarts while the device restarts with its start values.
    await agent.stop();
    await server.close();
    server = await simulator(port);
    expect(regs()).toEqual([0x41a0, 0x0000, 5]);
    agent = await agentOf(f, site, token, dataDir);

    // Policy reassert: the desired setpoint is on the device again; policy report: the drift is visible.
    await waitFor('the setpoint written again', () => regs()[0] === 0x422a && regs()[1] === 0, 30_000);
    const after = await waitFor('the hub twin showing the device as it is', async () => {
      const s = await deviceStatus(f, 'boiler-1');
      return s.reported?.setpoint?.value === 42.5 && s.reported.limit?.value === 5 && s.drift?.setpoint?.resolvedAt && s.drift.limit ? s : undefined;
    }, 30_000);
    expect(after.drift!.setpoint).toMatchObject({ desired: 42.5, observed: 20, policy: 'reassert' });
    expect(after.drift!.setpoint!.reasserts).toBeGreaterThanOrEqual(1);
    expect(after.drift!.limit).toMatchObject({ desired: 7, observed: 5, policy: 'report' });
    expect(after.drift!.limit!.resolvedAt).toBeUndefined();
    expect(regs()[2]).toBe(5);
    const metrics = await (await fetch(agent.status().metricsUrl!)).text();
    expect(metrics).toContain('edgeadm_device_drifting_resources{device="boiler-1"} 1');

    // The simulator restarts under the running agent: a new departure, written again.
    const firstSince = after.drift!.setpoint!.since;
    await server.close();
    server = await simulator(port);
    await waitFor('the setpoint written again after a live restart', () => regs()[0] === 0x422a, 40_000);
    await waitFor('the second departure, resolved, at the hub', async () => {
      const s = await deviceStatus(f, 'boiler-1');
      const d = s.drift?.setpoint;
      return d?.resolvedAt && Date.parse(d.since) > Date.parse(firstSince) && (d.reasserts ?? 0) >= 1 && s.reported?.setpoint?.value === 42.5 ? s : undefined;
    }, 30_000);

    const env = { EDGEADM_HUB: f.hub.url, EDGEADM_TOKEN: f.adminToken, HOME: tempDir('device-twin-home') };
    const shown = await runEdgeadm(['device', 'show', 'boiler-1'], env);
    expect(shown.stdout).toMatch(/setpoint +42\.5 +42\.5 .* departed: 20 \(desired 42\.5\) since \S+, written again \d+ times? \(reassert\), matches again since /);
    expect(shown.stdout).toMatch(/limit +7 +5 .* departs: 5 \(desired 7\) since \S+ \(report\)\n/);
    expect((await runEdgeadm(['status'], env)).stdout).toMatch(/boiler-1 at plant-tw: limit/);

    // Once the device holds the desired limit again, nothing departs any more.
    await write('limit', 7);
    await waitFor('the limit drift resolved', async () => {
      const s = await deviceStatus(f, 'boiler-1');
      return s.reported?.limit?.value === 7 && (s.drift?.limit === undefined || s.drift.limit.resolvedAt !== undefined);
    }, 30_000);
  }, 180_000);

  it('refuses a bad-poll count that is not a positive integer, naming the setting', async () => {
    const r = await runEdgeadm(['site', 'run', '--site', 'x', '--hub', 'http://127.0.0.1:9', '--token', 't'], { EDGEADM_DEVICES__DOWN_AFTER_BAD_POLLS: '0', HOME: tempDir('device-state-cfg') });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/devices\.downAfterBadPolls must be >= 1 \(from EDGEADM_DEVICES__DOWN_AFTER_BAD_POLLS\)/);
  }, 60_000);
});
