/**
 * The mqtt plugin in a site, end to end: the site agent runs its broker
 * (aedes); an Addon installs the plugin; a Device with a topic/payload
 * profile is fed by `mosquitto_pub` acting as the device; its readings reach
 * the hub, and a command from the hub is answered by a device client with the
 * same correlation id. Values are pushed: every message published becomes a
 * reading, with no polling.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connectAsync } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { generateSecret, hashSecret } from '../core/kernel/index.ts';
import type { Reading } from '../core/sdk/index.ts';
import { startSiteAgent } from '../sites/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { quiet, startHubFixture, tempDir, waitFor } from './support/hub-fixture.ts';

const run = promisify(execFile);
const defer = deferCleanup();

describe('mqtt plugin in a site', () => {
  it('maps mosquitto_pub telemetry into readings at the hub, and round-trips a command with correlation', async () => {
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-q';
    await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
    await f.apply({
      kind: 'DeviceProfile',
      metadata: { name: 'thermostat' },
      spec: {
        manufacturer: 'acme',
        model: 'TH-2',
        deviceResources: [
          { name: 'temperature', attributes: { topic: 'telemetry', payload: 'json', path: 'sensors[0].value', timestampPath: 'ts' }, properties: { valueType: 'Float64', readWrite: 'R', units: 'degC' } },
          { name: 'mode', attributes: { topic: 'mode', payload: 'text' }, properties: { valueType: 'String', readWrite: 'R' } },
          { name: 'setpoint', attributes: { topic: 'setpoint', payload: 'number' }, properties: { valueType: 'Float64', readWrite: 'RW', units: 'degC' } },
        ],
        deviceCommands: [{ name: 'values', readWrite: 'R', resourceOperations: [{ deviceResource: 'temperature' }, { deviceResource: 'mode' }] }],
      },
    });
    await f.apply({
      kind: 'Device',
      metadata: { name: 'th-1' },
      spec: { site, profile: 'thermostat', protocols: { mqtt: { topic: 'devices/th-1', qos: 1, commandTimeout: '5s' } } },
    });
    await f.apply({ kind: 'Addon', metadata: { name: 'mqtt' }, spec: { plugin: 'mqtt', sites: [site] } });
    // The device's login to the site broker, bound to it: only its own topics.
    const password = generateSecret();
    await f.apply({ kind: 'BrokerCredential', metadata: { name: `${site}.th-1` }, spec: { site, username: 'th-1', device: 'th-1', passwordHash: await hashSecret(password, { logN: 10, r: 8, p: 1 }) } });
    const a = await startSiteAgent({
      site,
      hubUrl: f.hub.url,
      token: await f.agentToken(site),
      dataDir: tempDir('site-mqtt'),
      logger: quiet,
      broker: { host: '127.0.0.1', port: 0 },
      syncBackoff: { initialMs: 50, maxMs: 500 },
      forwarder: { backoff: { initialMs: 50, maxMs: 500 } },
    });
    defer(() => a.stop());
    await waitFor('device up', () => a.status().devices.find((d) => d.device === 'th-1' && d.state === 'up'), 20_000);
    const port = new URL(a.status().brokerUrl!).port;
    // A login's client ids are its username or `<username>/<suffix>`.
    const login = ['-i', 'th-1/pub', '-u', 'th-1', '-P', password];
    const ts = Date.UTC(2026, 10, 20, 8, 0, 0);
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, ...login, '-q', '1', '-t', 'devices/th-1/telemetry', '-m', JSON.stringify({ sensors: [{ value: 19.5 }], ts })]);
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, ...login, '-q', '1', '-t', 'devices/th-1/mode', '-m', 'heating']);
    for (const v of [20, 20.5, 21]) {
      await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, ...login, '-q', '1', '-t', 'devices/th-1/telemetry', '-m', JSON.stringify({ sensors: [{ value: v }], ts: ts + v * 1000 })]);
    }

    // Every published value is a reading (pushed, not polled), the temperature with the device's own timestamp.
    const readings = async (resource: string): Promise<Reading[]> => (await f.hub.telemetry.query({ site, device: 'th-1', resource, limit: 1000 })).items;
    const good = async (resource: string): Promise<Reading | undefined> => (await readings(resource)).find((r) => r.quality === 'good');
    await waitFor('readings at the hub', async () => (await good('temperature')) && (await good('mode')), 20_000);
    expect(await good('temperature')).toMatchObject({ value: 19.5, valueType: 'Float64', units: 'degC', origin: ts * 1e6, profile: 'thermostat' });
    expect(await good('mode')).toMatchObject({ value: 'heating', valueType: 'String' });
    await waitFor('all four temperatures', async () => (await readings('temperature')).length >= 4);
    expect((await readings('temperature')).map((r) => [r.value, r.quality])).toEqual([
      [19.5, 'good'],
      [20, 'good'],
      [20.5, 'good'],
      [21, 'good'],
    ]);

    // The device: answers commands on its response topic with the command's id and the value it now holds.
    const device = await connectAsync(a.status().brokerUrl!, { clientId: 'th-1', username: 'th-1', password });
    defer(() => device.endAsync());
    const commands: { id: string; resource: string; value: unknown }[] = [];
    device.on('message', (_t, payload) => {
      const cmd = JSON.parse(payload.toString()) as { id: string; resource: string; value: unknown };
      commands.push(cmd);
      void device.publishAsync('devices/th-1/response', JSON.stringify({ id: cmd.id, ok: true, value: cmd.value }), { qos: 1 });
    });
    await device.subscribeAsync('devices/th-1/command', { qos: 1 });
    const cmd = await f.api<{ id: string }>('POST', `/api/v1/sites/${site}/devices/th-1/commands`, { resource: 'setpoint', value: 21, ttlSeconds: 60 });
    expect(cmd.status).toBe(202);
    const done = await waitFor('the command result', async () => {
      const r = await f.api<{ state: string; result?: { reported?: unknown } }>('GET', `/api/v1/commands/${cmd.body.id}`);
      return r.body.state === 'succeeded' || r.body.state === 'failed' ? r.body : undefined;
    });
    expect(done).toMatchObject({ state: 'succeeded', result: { reported: 21 } });
    expect(commands).toEqual([{ id: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown, resource: 'setpoint', value: 21 }]);
  }, 60_000);
});
