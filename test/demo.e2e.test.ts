/**
 * The README's main command, as a new user runs it: `edgeadm demo` (what
 * `npm start` runs) brings up a TLS hub and the demo site behind its tunnel,
 * with simulated Modbus, OPC UA, MQTT and simulator devices; the command it
 * prints shows live readings of all of them; commands reach the devices;
 * Ctrl-C stops everything; a second run on the same data dir comes up clean.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectAsync } from 'mqtt';
import { Agent, fetch } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { unwrapEdgeXEnvelope } from '../core/sdk/index.ts';
import { startEdgeadm, type Background } from './support/edgeadm-cli.ts';
import { tempDir, waitFor } from './support/hub-fixture.ts';
import { isLoopback, listeningSockets } from './support/listening.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const children: Background[] = [];
const DEVICES = ['sim-1', 'sim-2', 'meter-1', 'press-1', 'plug-1'];

afterEach(async () => {
  for (const c of children.splice(0)) await c.stop();
});

function start(args: string[], env: Record<string, string> = {}): Background {
  const p = startEdgeadm(args, env, { cwd: repo });
  children.push(p);
  return p;
}

interface Reading {
  site: string;
  device: string;
  resource: string;
  value: unknown;
  quality: string;
}

function readings(watch: Background): Reading[] {
  return watch
    .out()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Reading);
}

/** Runs the printed watch command exactly (with `npx edgeadm` as this repository's bin) until every device has a good reading. */
async function watchAll(demo: Background): Promise<{ readings: Reading[]; hub: string; token: string; ca: string }> {
  const m = /EDGEADM_TOKEN=\$\(cat (\S+)\) npx edgeadm (telemetry watch .*)$/m.exec(demo.out());
  expect(m).not.toBeNull();
  const token = readFileSync(path.resolve(repo, m![1]!), 'utf8').trim();
  const args = m![2]!.split(' ');
  const watch = start([...args, '-o', 'json'], { EDGEADM_TOKEN: token });
  const all = await waitFor(
    `good readings from ${DEVICES.join(', ')}`,
    () => {
      const rs = readings(watch);
      const seen = new Set(rs.filter((r) => r.quality === 'good').map((r) => r.device));
      return DEVICES.every((d) => seen.has(d)) ? rs : undefined;
    },
    30_000,
    200,
  );
  expect(watch.err()).toBe('');
  expect(await watch.stop()).toBe(0);
  return { readings: all, hub: args[args.indexOf('--hub') + 1]!, token, ca: readFileSync(path.resolve(repo, args[args.indexOf('--ca-file') + 1]!), 'utf8') };
}

describe('edgeadm demo', () => {
  it('runs a hub and a demo site with Modbus, OPC UA, MQTT and simulated devices whose readings the printed command shows', async () => {
    const dataDir = tempDir('demo');
    const demo = start(['demo', '--port', '0', '--data-dir', dataDir]);
    await waitFor('the demo to print its watch command', () => demo.out().includes('Ctrl-C stops the demo.'), 40_000, 100);
    expect(demo.out()).toMatch(/^hub: {10}https:\/\/127\.0\.0\.1:\d+/m);
    // The hub's URL with its API docs, and the console's.
    expect(demo.out()).toMatch(/^hub: {10}\S+ {3}\(API docs: https:\/\/127\.0\.0\.1:\d+\/docs;/m);
    expect(demo.out()).toMatch(/^console: {6}https:\/\/127\.0\.0\.1:\d+\/ {3}\(log in with the admin token;/m);
    expect(demo.out()).toMatch(/its node 'demo-gw' reaches the hub through the tunnel/);
    expect(demo.out()).toMatch(/the simulator's certificate \(thumbprint [0-9a-f]{40}\) is trusted in \S+trusted/);

    const first = await watchAll(demo);
    expect(first.readings.every((r) => r.site === 'demo')).toBe(true);
    const resources = new Set(first.readings.map((r) => `${r.device}/${r.resource}`));
    for (const r of ['meter-1/voltage', 'meter-1/current', 'press-1/speed', 'plug-1/power', 'plug-1/relay']) expect(resources).toContain(r);
    const voltage = first.readings.find((r) => r.device === 'meter-1' && r.resource === 'voltage')!;
    expect(voltage.value).toBeGreaterThan(220);
    expect(voltage.value).toBeLessThan(240);

    // The edgex addon: the same readings as EdgeX v3 events on the site broker, read as the printed command does, with its login.
    const edgex = /mosquitto_sub -h (\S+) -p (\d+) -u (\S+) -P "\$\(cat (\S+)\)" -t '([^']+)' -v$/m.exec(demo.out());
    expect(edgex).not.toBeNull();
    const [, host, port, username, passwordFile, filter] = edgex!;
    const bus = await connectAsync(`mqtt://${host}:${port}`, { username: username!, password: readFileSync(path.resolve(repo, passwordFile!), 'utf8').trim(), clientId: `${username}/demo-test`, reconnectPeriod: 0 });
    const fromEdgeX = new Set<string>();
    const badEvents: string[] = [];
    bus.on('message', (topic, payload) => {
      try {
        const request = unwrapEdgeXEnvelope(payload, topic).payload as { event: { deviceName: string; readings: { deviceName: string }[] } };
        expect(topic).toMatch(new RegExp(`^edgex/events/device/[^/]+/[^/]+/${request.event.deviceName}/[^/]+$`));
        fromEdgeX.add(request.event.deviceName);
      } catch (err) {
        badEvents.push(`${topic}: ${String(err)}`);
      }
    });
    try {
      await bus.subscribeAsync(filter!);
      await waitFor(`EdgeX events from ${DEVICES.join(', ')}`, () => (DEVICES.every((d) => fromEdgeX.has(d)) ? true : undefined), 30_000, 200);
    } finally {
      await bus.endAsync();
    }
    expect(badEvents).toEqual([]);

    // Commands reach the devices: the MQTT plug answers its relay command, the Modbus meter takes a setpoint.
    const dispatcher = new Agent({ connect: { ca: first.ca } });
    const api = async <T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> => {
      const res = await fetch(`${first.hub}${p}`, {
        method,
        dispatcher,
        headers: { authorization: `Bearer ${first.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as T };
    };
    const command = async (device: string, resource: string, value: unknown): Promise<unknown> => {
      const cmd = await api<{ id: string }>('POST', `/api/v1/sites/demo/devices/${device}/commands`, { resource, value, ttlSeconds: 30 });
      expect(cmd.status, JSON.stringify(cmd.body)).toBe(202);
      return waitFor(`the ${device} ${resource} command`, async () => {
        const r = await api<{ state: string }>('GET', `/api/v1/commands/${cmd.body.id}`);
        return r.body.state === 'succeeded' || r.body.state === 'failed' ? r.body : undefined;
      }, 20_000, 100);
    };
    try {
      expect(await command('plug-1', 'relay', false)).toMatchObject({ state: 'succeeded', result: { reported: false } });
      expect(await command('meter-1', 'setpoint', 231.5)).toMatchObject({ state: 'succeeded', result: { reported: 231.5 } });
    } finally {
      await dispatcher.close();
    }
    // Nothing went wrong along the way.
    expect(demo.err()).toBe('');

    // Closed by default: nothing listens beyond loopback, and what it keeps is for its own user only.
    const sockets = listeningSockets(demo.child.pid!);
    expect(sockets.length).toBeGreaterThanOrEqual(4); // hub, site broker, Modbus and OPC UA simulators at least
    expect(sockets.filter((s) => !isLoopback(s.address))).toEqual([]);
    const loose: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        const mode = statSync(p).mode & 0o777;
        if (e.isDirectory()) {
          if (mode !== 0o700) loose.push(`${p} ${mode.toString(8)}`);
          walk(p);
        } else if (/\.(db|db-wal|db-shm|key|token)$|^private_key\.pem$|credential/.test(e.name) && mode !== 0o600) {
          loose.push(`${p} ${mode.toString(8)}`);
        }
      }
    };
    walk(dataDir);
    expect(loose).toEqual([]);

    // Ctrl-C stops the demo cleanly.
    expect(await demo.stop()).toBe(0);

    // Again on the same data dir: same devices, no complaints while it comes up.
    const second = start(['demo', '--port', '0', '--data-dir', dataDir]);
    await waitFor('the second demo to print its watch command', () => second.out().includes('Ctrl-C stops the demo.'), 40_000, 100);
    const again = await watchAll(second);
    expect(new Set(again.readings.map((r) => r.device))).toEqual(new Set(DEVICES));
    expect(second.err()).toBe('');
    expect(await second.stop()).toBe(0);
  }, 120_000);
});
