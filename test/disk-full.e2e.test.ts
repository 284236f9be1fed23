/**
 * A full disk at the edge, for real: the site agent runs as its own process
 * with its data directory on a small tmpfs this test mounts (it must run as
 * root; CI does), and the test fills that tmpfs to the last byte. The agent
 * stays up, says it is degraded and why (at the hub: the Site's
 * `status.agents`, `edgeadm status`), refuses what it cannot store instead of
 * acknowledging it, and recovers by itself when space returns: replica
 * changes made meanwhile arrive, readings flow again, and the hub holds
 * every reading the agent ever acknowledged. A real MQTT device publishes
 * numbered QoS 1 readings to the site broker throughout: every one the
 * broker acknowledged (PUBACK) is at the hub in the end.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../core/kernel/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { runEdgeadm, startEdgeadm, type Background } from './support/edgeadm-cli.ts';
import { startHubFixture, waitFor, type HubFixture } from './support/hub-fixture.ts';
import { freePort } from './support/tcp-services.ts';
import { fillDisk, mountTmpfs, type Tmpfs } from './support/tmpfs.ts';

const defer = deferCleanup();
const SITE = 'full-disk';

let fs: Tmpfs | undefined;
let mount = '';

beforeAll(() => {
  fs = mountTmpfs('16m');
  mount = fs.dir;
});
afterAll(() => fs?.remove());

/** Publishes 1, 2, 3, ... at QoS 1 every `everyMs` and remembers which the broker acknowledged. */
function numberedPublisher(client: MqttClient, topic: string, everyMs: number): { acked: Set<number>; sent: () => number; stop: () => void } {
  const acked = new Set<number>();
  let n = 0;
  const timer = setInterval(() => {
    const v = ++n;
    client.publish(topic, String(v), { qos: 1 }, (err) => {
      if (!err) acked.add(v);
    });
  }, everyMs);
  return { acked, sent: () => n, stop: () => clearInterval(timer) };
}

interface SiteView {
  status?: { agents?: Record<string, { reportedAt: string; health: { state: string; problems: { component: string; code: string; message: string }[] }; telemetry: { notStored: number } }> };
}

describe('a full disk at the site', () => {
  let f: HubFixture;
  let agent: Background;
  let filler = '';

  const site = async (): Promise<SiteView> => (await f.api('GET', `/api/v1/sites/${SITE}`)).body as SiteView;
  const report = async () => Object.values((await site()).status?.agents ?? {})[0];
  const health = async () => (await report())?.health;

  it('keeps the agent up, degraded with the cause, stores nothing it cannot keep, and recovers by itself when space returns', async () => {
    f = await startHubFixture();
    defer(() => f.hub.close());
    await f.apply({ kind: 'Site', metadata: { name: SITE }, spec: {} });
    await f.apply({
      kind: 'DeviceProfile',
      metadata: { name: 'gauge' },
      spec: { deviceResources: [{ name: 'level', attributes: { function: 'sine', amplitude: 5, periodS: 10, offset: 50 }, properties: { valueType: 'Float64', readWrite: 'R' } }] },
    });
    await f.apply({ kind: 'Device', metadata: { name: 'gauge-1' }, spec: { site: SITE, profile: 'gauge', protocols: { simulator: { seed: '1' } }, autoEvents: [{ sourceName: 'level', interval: '20ms' }] } });
    await f.apply({ kind: 'Addon', metadata: { name: 'sim' }, spec: { plugin: 'simulator', sites: [SITE] } });
    // A metering device on MQTT, with its own broker login.
    await f.apply({
      kind: 'DeviceProfile',
      metadata: { name: 'meter' },
      spec: { deviceResources: [{ name: 'power', attributes: { topic: 'power', payload: 'number' }, properties: { valueType: 'Float64', readWrite: 'R', units: 'W' } }] },
    });
    await f.apply({ kind: 'Device', metadata: { name: 'm-1' }, spec: { site: SITE, profile: 'meter', protocols: { mqtt: { topic: 'devices/m-1', qos: 1 } } } });
    await f.apply({ kind: 'BrokerCredential', metadata: { name: `${SITE}.m-1` }, spec: { site: SITE, username: 'm-1', device: 'm-1', passwordHash: await hashSecret('m-1-secret', { logN: 10, r: 8, p: 1 }) } });
    await f.apply({ kind: 'Addon', metadata: { name: 'mqtt' }, spec: { plugin: 'mqtt', sites: [SITE] } });
    const brokerPort = await freePort();
    const dataDir = path.join(mount, 'site');
    mkdirSync(dataDir, { mode: 0o700 });
    const tokenDir = mkdtempSync(path.join(tmpdir(), 'edgeadm-full-token-'));
    defer(() => rmSync(tokenDir, { recursive: true, force: true }));
    const tokenFile = path.join(tokenDir, 'agent.token');
    writeFileSync(tokenFile, await f.agentToken(SITE), { mode: 0o600 });
    const run = (): Background =>
      startEdgeadm(['site', 'run', '--site', SITE, '--hub', f.hub.url, '--token-file', tokenFile, '--data-dir', dataDir, '--broker-port', String(brokerPort), '--log-level', 'warn']);
    agent = run();
    defer(() => agent.stop());
    await waitFor('readings at the hub', async () => (await f.hub.telemetry.count({ site: SITE })) > 50, 30_000);
    const device = await waitFor(
      'the MQTT device logged in',
      () => connectAsync(`mqtt://127.0.0.1:${brokerPort}`, { clientId: 'm-1/pub', username: 'm-1', password: 'm-1-secret', clean: false, reconnectPeriod: 200, connectTimeout: 2000 }).catch(() => undefined),
      30_000,
      500,
    );
    defer(() => device.endAsync(true));
    device.on('error', () => undefined);
    const meter = numberedPublisher(device, 'devices/m-1/power', 20);
    defer(() => meter.stop());
    await waitFor('MQTT readings at the hub', async () => (await f.hub.telemetry.count({ site: SITE, device: 'm-1' })) > 20, 20_000);
    expect((await health())?.state).toBe('ok');

    // The disk fills up while the device keeps producing.
    filler = path.join(mount, 'filler');
    expect(fillDisk(filler)).toBeGreaterThan(0);
    const down = await waitFor(
      'the agent to report it cannot store',
      async () => {
        const h = await health();
        return h?.state === 'degraded' && h.problems.some((p) => p.component === 'outbox') ? h : undefined;
      },
      20_000,
      200,
    );
    expect(down.problems.find((p) => p.component === 'outbox')!.code).toMatch(/^SQLITE_FULL|^SQLITE_IOERR|^ENOSPC/);
    // A change at the hub while the site cannot persist it: a second device.
    await f.apply({ kind: 'Device', metadata: { name: 'gauge-2' }, spec: { site: SITE, profile: 'gauge', protocols: { simulator: { seed: '2' } }, autoEvents: [{ sourceName: 'level', interval: '100ms' }] } });
    await new Promise((r) => setTimeout(r, 3_000));
    // Still running, still connected, still saying why.
    expect(agent.child.exitCode).toBeNull();
    expect((await health())?.state).toBe('degraded');
    const status = await runEdgeadm(['status', '--hub', f.hub.url, '--token', f.adminToken]);
    expect(status.stdout).toMatch(new RegExp(`^Degraded sites:\\s+${SITE}: .*\\boutbox (SQLITE_FULL|SQLITE_IOERR\\w*|ENOSPC) since`, 'm'));
    // Connected all along: a site that cannot write is degraded, not offline.
    expect(status.stdout).toMatch(/^Sites:\s+1: 1 online/m);

    // Killed and started again on the full disk: it comes up (degraded), it does not crash in a loop.
    agent.child.kill('SIGKILL');
    await new Promise((r) => agent.child.once('exit', r));
    agent = run();
    defer(() => agent.stop());
    const restarted = Date.now();
    await waitFor(
      'the restarted agent to report, degraded',
      async () => {
        const r = await report();
        return r !== undefined && Date.parse(r.reportedAt) >= restarted && r.health.state === 'degraded';
      },
      20_000,
      200,
    );
    await new Promise((r) => setTimeout(r, 2_000));
    expect(agent.child.exitCode).toBeNull();

    // Space returns: the agent recovers on its own.
    rmSync(filler);
    await waitFor('the agent healthy again', async () => (await health())?.state === 'ok', 30_000, 200);
    await waitFor('the change made while the disk was full to arrive and run', async () => (await f.hub.telemetry.count({ site: SITE, device: 'gauge-2' })) > 5, 30_000, 200);
    const before = await f.hub.telemetry.count({ site: SITE, device: 'gauge-1' });
    await waitFor('readings flowing again', async () => (await f.hub.telemetry.count({ site: SITE, device: 'gauge-1' })) > before + 20, 20_000, 200);
    expect(agent.child.exitCode).toBeNull();

    // Every reading the agent acknowledged is at the hub; what it could not store was counted, not lost silently.
    const delivery = await waitFor(
      'a fresh delivery report',
      async () => {
        const d = ((await f.api('GET', `/api/v1/telemetry/delivery?site=${SITE}`)).body as { items: { state: string; missing: number; notStored: number; expected: number }[] }).items[0];
        return d && d.notStored > 0 ? d : undefined;
      },
      45_000,
      500,
    );
    expect(delivery).toMatchObject({ state: 'ok', missing: 0 });
    expect(delivery.expected).toBeGreaterThan(50);

    // Every MQTT reading the broker acknowledged is at the hub (QoS 1 is at least once: a resend whose PUBACK was cut off may arrive twice).
    meter.stop();
    const acked = [...meter.acked];
    expect(meter.sent() - acked.length).toBeGreaterThan(0); // the broker refused some while the disk was full
    const held = async (): Promise<number[]> => (await f.hub.telemetry.query({ site: SITE, device: 'm-1', resource: 'power', limit: 10_000 })).items.map((r) => r.value as number);
    await waitFor('every acknowledged MQTT reading at the hub', async () => {
      const atHub = await held();
      return acked.every((v) => atHub.includes(v));
    }, 30_000, 500);
    expect(agent.err()).not.toMatch(/Uncaught|FATAL|Maximum call stack/);
  }, 180_000);
});
