/**
 * The hub's export to an MQTT broker (`hub run --export`): readings a site
 * sends the hub over its REST ingest reach a consumer of a real Mosquitto
 * (`mosquitto_sub`), as the platform's JSON on the topic of the template.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../core/sdk/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { startHubFixture, waitFor } from './support/hub-fixture.ts';
import { startMosquitto } from './support/mosquitto.ts';

const defer = deferCleanup();

describe('the hub export', () => {
  it("publishes what a site sends to the export broker's consumers", { timeout: 60_000 }, async () => {
    const broker = await startMosquitto({ users: { exporter: 'exp-secret' } });
    defer(() => broker.close());
    const got: string[] = [];
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.port), '-u', 'exporter', '-P', 'exp-secret', '-q', '1', '-v', '-t', 'fleet/#'], { stdio: ['ignore', 'pipe', 'ignore'] });
    defer(() => void sub.kill());
    sub.stdout.setEncoding('utf8');
    sub.stdout.on('data', (d: string) => got.push(...d.split('\n').filter((l) => l !== '')));
    await new Promise((r) => setTimeout(r, 300));
    const f = await startHubFixture({ export: { url: broker.url, username: 'exporter', password: 'exp-secret', topic: 'fleet/{site}/{device}', format: 'json' } });
    defer(() => f.hub.close());
    await f.apply({ kind: 'Site', metadata: { name: 'plant-x' }, spec: {} });
    // Readings of known devices and resources are stored (others are quarantined, and not exported).
    await f.apply({
      kind: 'DeviceProfile',
      metadata: { name: 'pump' },
      spec: { deviceResources: ['flow', 'pressure'].map((name) => ({ name, properties: { valueType: 'Float64', readWrite: 'R', units: 'bar' } })) },
    });
    for (const d of ['d0', 'd1', 'd2']) await f.apply({ kind: 'Device', metadata: { name: d }, spec: { site: 'plant-x', profile: 'pump', protocols: { simulator: {} } } });
    const token = await f.agentToken('plant-x');
    const base = Date.now() * 1e6;
    const readings: Reading[] = Array.from({ length: 5 }, (_, i) => ({
      site: 'plant-x',
      device: `d${i % 3}`,
      profile: 'pump',
      resource: i % 2 === 0 ? 'pressure' : 'flow',
      value: i + 1,
      valueType: 'Float64',
      units: 'bar',
      origin: base + i * 1000,
      quality: 'good',
      seq: i + 1,
    }));
    const r = await f.api('POST', '/api/v1/sites/plant-x/telemetry', { stream: { id: 'export-e2e-stream', lastSeq: 5 }, readings }, token);
    expect(r.status).toBeLessThan(300);
    await waitFor('5 readings at the consumer', () => got.length >= 5, 20_000);
    const [topic, payload] = [got[0]!.slice(0, got[0]!.indexOf(' ')), got[0]!.slice(got[0]!.indexOf(' ') + 1)];
    expect(topic).toBe(`fleet/plant-x/${readings[0]!.device}`);
    expect(JSON.parse(payload)).toMatchObject({ site: 'plant-x', seq: 1, value: readings[0]!.value });
  });
});
