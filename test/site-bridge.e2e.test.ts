/**
 * A site agent whose telemetry goes to an external broker (Mosquitto) instead
 * of the hub: `edgeadm site run --uplink bridge`, the real binary, the demo's
 * simulated devices, a subscriber at the broker with credentials.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { deferCleanup } from './support/cleanup.ts';
import { startHubFixture, tempDir, waitFor } from './support/hub-fixture.ts';
import { startMosquitto } from './support/mosquitto.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(repo, 'cli/bin/edgeadm.js');
const defer = deferCleanup();

describe('site agent bridging telemetry to an external broker', () => {
  it('publishes every reading to Mosquitto with QoS 1 under edgeadm/<site>/<device>/<resource>', async () => {
    const broker = await startMosquitto({ users: { site: 'site-secret', reader: 'reader-secret' } });
    defer(() => broker.close());
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-b';
    await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
    await f.apply({
      kind: 'DeviceProfile',
      metadata: { name: 'ramp' },
      spec: { deviceResources: [{ name: 'count', attributes: { function: 'ramp', step: 1, max: 1000000 }, properties: { valueType: 'Uint32', readWrite: 'R' } }] },
    });
    await f.apply({ kind: 'Device', metadata: { name: 'sim-9' }, spec: { site, profile: 'ramp', protocols: { simulator: {} }, autoEvents: [{ sourceName: 'count', interval: '50ms' }] } });
    await f.apply({ kind: 'Addon', metadata: { name: 'sim' }, spec: { plugin: 'simulator', sites: [site] } });

    const received: { topic: string; reading: { site: string; device: string; resource: string; value: unknown; seq: number } }[] = [];
    const sub = await mqtt.connectAsync(broker.url, { username: 'reader', password: 'reader-secret', clean: true });
    defer(() => sub.endAsync());
    await sub.subscribeAsync('edgeadm/#', { qos: 1 });
    sub.on('message', (topic, payload) => received.push({ topic, reading: JSON.parse(payload.toString()) as (typeof received)[number]['reading'] }));

    const dir = tempDir('site-bridge');
    const tokenFile = path.join(dir, 'agent.token');
    writeFileSync(tokenFile, await f.agentToken(site), { mode: 0o600 });
    const passwordFile = path.join(dir, 'bridge.password');
    writeFileSync(passwordFile, 'site-secret\n', { mode: 0o600 });
    const child = spawn(
      process.execPath,
      [bin, 'site', 'run', '--site', site, '--hub', f.hub.url, '--token-file', tokenFile, '--data-dir', path.join(dir, 'data'), '--no-broker', '--uplink', 'bridge', '--uplink-mqtt-url', broker.url, '--bridge-username', 'site', '--bridge-password-file', passwordFile, '--log-level', 'warn'],
      { env: { ...process.env, EDGEADM_CONFIG: '' } },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    defer(async () => {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    });
    await waitFor('readings at the external broker', () => received.length >= 20, 30_000);
    expect(received[0]!.topic).toBe(`edgeadm/${site}/sim-9/count`);
    const seqs = received.map((r) => r.reading.seq);
    // In order, from the first seq on, with nothing missing (duplicates after a reconnect would be allowed; none here).
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    expect(received.every((r) => r.reading.site === site && r.reading.device === 'sim-9')).toBe(true);
    // The hub is not the destination of this agent's telemetry; the password never reaches the logs.
    expect(await f.hub.telemetry.count({ site })).toBe(0);
    expect(stderr).not.toContain('site-secret');
  }, 60_000);
});
