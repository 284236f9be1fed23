/**
 * The spine of the main job as scenarios any hub can be put through: a hub
 * (HTTP, on the resource store a test file picks), site agents (SQLite
 * replica and outbox, plugins, devices) and the network between them (a TCP
 * relay the tests cut). `describeSiteAgentScenarios` declares them in a
 * test file, for hubs on SQLite (test/site-agent.e2e.test.ts) or on the kube
 * store (test/site-agent.kube.e2e.test.ts).
 *
 * Rules:
 * - A scenario runs only when the file asks for it, and the long one takes
 *   its load and outage as figures: the same assertions, scaled to what a
 *   file can spend.
 * - Every hub gets its own resource store from `store()` (a fresh namespace
 *   on kube) and its own data directory; a restarted hub reopens both, on
 *   the same port.
 * - Everything started is stopped after its test (`deferCleanup`), in
 *   reverse order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import type { StartHubOptions } from '../../core/hub/index.ts';
import type { Reading } from '../../core/sdk/index.ts';
import { startSiteAgent, type SiteAgent } from '../../sites/index.ts';
import { quiet, startHubFixture, tempDir, waitFor, type HubFixture } from './hub-fixture.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';
import { deferCleanup } from './cleanup.ts';
import { LOAD_PROFILE, loadGenDevices } from './load-gen-devices.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The test plugins (load-gen) the agents load. */
export const fixturePlugins = path.join(repo, 'test/support/plugins');
const bin = path.join(repo, 'cli/bin/edgeadm.js');

/** Where a new hub keeps its resources: undefined for the default SQLite file in its data directory. */
export type HubStoreOption = StartHubOptions['store'];

/** Registers teardown for after the current test (from `deferCleanup`). */
export type Defer = (fn: () => unknown) => void;

/** A started hub with one Site, and how to start it again. */
export interface SiteHub {
  f: HubFixture;
  /** Starts a hub on the (closed) hub's data directory, resource store and port. */
  restart: () => Promise<HubFixture>;
}

/** Starts a hub on `store` with the Site `site`; both hubs (first and restarted) close after the test. */
export async function hubWithSite(defer: Defer, store: HubStoreOption, site: string): Promise<SiteHub> {
  const f = await startHubFixture(store === undefined ? {} : { store });
  defer(() => f.hub.close());
  await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
  const port = Number(new URL(f.hub.url).port);
  return {
    f,
    restart: async () => {
      const again = await startHubFixture({ dataDir: f.dataDir, port, ...(store === undefined ? {} : { store }) });
      defer(() => again.hub.close());
      return again;
    },
  };
}

/** A site agent of `site` talking to `hubUrl`, loading the test plugins, with short backoffs; stopped after the test. */
export async function startAgent(defer: Defer, f: HubFixture, site: string, hubUrl: string, dataDir = tempDir(`site-${site}`), token?: string): Promise<SiteAgent> {
  const a = await startSiteAgent({
    site,
    hubUrl,
    token: token ?? (await f.agentToken(site)),
    dataDir,
    logger: quiet,
    broker: false,
    plugins: { searchPaths: [fixturePlugins], nodeModules: [] },
    syncBackoff: { initialMs: 50, maxMs: 500 },
    forwarder: { backoff: { initialMs: 50, maxMs: 500 } },
  });
  defer(() => a.stop());
  return a;
}

/** The highest seq the hub holds for a site (its agent sends under one stream here). */
export async function highSeq(f: HubFixture, site: string): Promise<number> {
  return (await f.hub.telemetry.streams(site)).reduce((m, s) => Math.max(m, s.highSeq), 0);
}

/** The load generator's profile and devices at `site`, so the hub stores their readings. */
export async function loadDevices(f: HubFixture, site: string, count: number): Promise<void> {
  for (const r of [LOAD_PROFILE, ...loadGenDevices(site, count)]) await f.apply(r);
}

/** Every reading of one device, ascending by seq. */
export async function readingsOf(f: HubFixture, site: string, device: string): Promise<Reading[]> {
  const out: Reading[] = [];
  let cursor: string | undefined;
  do {
    const page = await f.hub.telemetry.query({ site, device, limit: 10_000, ...(cursor ? { cursor } : {}) });
    out.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return out.sort((a, b) => a.seq - b.seq);
}

/** The load generator's values are per-device counters: exactly 1..n in seq order means nothing lost, duplicated or reordered. */
export function expectCounters(readings: readonly Reading[]): void {
  expect(readings.length).toBeGreaterThan(0);
  readings.forEach((r, i) => {
    if (r.value !== i + 1) throw new Error(`${r.device}: reading #${i + 1} (seq ${r.seq}) has value ${JSON.stringify(r.value)}`);
  });
}

/** The load and outage of the link-cut scenario. */
export interface LinkCutFigures {
  /** Readings per second the load generator appends (over 20 devices). */
  ratePerSecond: number;
  /** How long the load runs: `ratePerSecond * seconds` readings in all. */
  seconds: number;
  /** How long the link stays cut, starting a fifth of the way into the load. */
  outageSeconds: number;
}

/** The scenarios a file runs: each one present runs. */
export interface SiteAgentScenarios {
  /** The link between agent and hub cut while readings flow. */
  linkCutUnderLoad?: LinkCutFigures;
  /** The agent process killed (SIGKILL) twice under load. */
  agentKilled?: true;
  /** The agent restarted while the hub is down (site autonomy), then the hub back. */
  restartWhileHubDown?: true;
  /** A command queued at the hub while the site is offline. */
  commandQueuedOffline?: true;
  /** A connected, idle session writes nothing. */
  quietIdleSession?: true;
  /** Sync sessions refused for bad tokens and garbage. */
  refusedTokens?: true;
}

const LOAD_DEVICES = 20;

/**
 * Declares the site agent scenarios asked for in `scenarios`, in a
 * `describe` named `name`, each test on new hubs whose resource store
 * `store()` gives (called once per hub).
 */
export function describeSiteAgentScenarios(name: string, store: () => HubStoreOption | Promise<HubStoreOption>, scenarios: SiteAgentScenarios): void {
  describe(name, () => {
    const defer = deferCleanup();
    const hub = async (site: string): Promise<SiteHub> => hubWithSite(defer, await store(), site);
    const agent = (f: HubFixture, site: string, hubUrl: string, dataDir?: string, token?: string): Promise<SiteAgent> => startAgent(defer, f, site, hubUrl, dataDir, token);

    const cut = scenarios.linkCutUnderLoad;
    if (cut) {
      const { ratePerSecond, seconds, outageSeconds } = cut;
      it(`loses nothing and duplicates nothing when the link is cut under load (${ratePerSecond / 1000}k readings/s, ${seconds} s, ${outageSeconds} s outage)`, async () => {
        const site = 'plant-a';
        const { f } = await hub(site);
        const port = Number(new URL(f.hub.url).port);
        const proxy: TcpProxy = await startTcpProxy({ host: '127.0.0.1', port });
        defer(() => proxy.close());
        const total = ratePerSecond * seconds;
        await loadDevices(f, site, LOAD_DEVICES);
        await f.apply({ kind: 'Addon', metadata: { name: 'load' }, spec: { plugin: 'load-gen', sites: [site], config: { devices: LOAD_DEVICES, ratePerSecond, total } } });
        const a = await agent(f, site, proxy.url);
        await waitFor('the load generator to run', () => a.status().plugins.find((p) => p.instance === `load-gen@${site}`)?.state === 'running');
        await waitFor('readings at the hub', async () => (await f.hub.telemetry.count({ site })) > 0, 10_000);
        await new Promise((r) => setTimeout(r, seconds * 200));
        proxy.down();
        // A batch the hub had fully received just before the cut may still commit (its answer is what got lost).
        await new Promise((r) => setTimeout(r, 500));
        const before = await f.hub.telemetry.count({ site });
        await new Promise((r) => setTimeout(r, outageSeconds * 1000 - 500));
        // Nothing crossed while the link was down, and the agent kept committing.
        expect(await f.hub.telemetry.count({ site })).toBe(before);
        expect(a.status().outbox.pending).toBeGreaterThan((ratePerSecond * outageSeconds) / 5);
        expect(a.status().sync.connected).toBe(false);
        proxy.up();
        await waitFor('every reading at the hub', async () => (await f.hub.telemetry.count({ site })) === total, Math.max(20_000, seconds * 2_000), 200);
        expect(await highSeq(f, site)).toBe(total);
        expect(await f.hub.telemetry.streams(site)).toMatchObject([{ held: total, conflicts: 0, quarantined: 0 }]);
        expect(await a.drain(10_000)).toBe(true);
        for (let d = 0; d < LOAD_DEVICES; d++) expectCounters(await readingsOf(f, site, `load-${d}`));
        await waitFor('the sync session back', () => a.status().sync.connected);
      }, 30_000 + seconds * 3_000);
    }

    if (scenarios.agentKilled) {
      it('keeps every committed reading across kill -9 of the agent, with no duplicates at the hub', async () => {
        const site = 'plant-b';
        const { f } = await hub(site);
        await loadDevices(f, site, 5);
        await f.apply({ kind: 'Addon', metadata: { name: 'load' }, spec: { plugin: 'load-gen', sites: [site], config: { devices: 5, ratePerSecond: 5_000 } } });
        const dataDir = tempDir('site-kill');
        const token = await f.agentToken(site);
        const tokenFile = path.join(dataDir, '..', `${path.basename(dataDir)}.token`);
        writeFileSync(tokenFile, token, { mode: 0o600 });
        const run = (): ChildProcess => {
          const child = spawn(
            process.execPath,
            [bin, 'site', 'run', '--site', site, '--hub', f.hub.url, '--token-file', tokenFile, '--data-dir', dataDir, '--no-broker', '--plugin-path', fixturePlugins, '--log-level', 'silent'],
            { stdio: 'ignore', env: { ...process.env, EDGEADM_CONFIG: '' } },
          );
          defer(() => child.kill('SIGKILL'));
          return child;
        };
        for (let round = 0; round < 2; round++) {
          const child = run();
          const base = await f.hub.telemetry.count({ site });
          await waitFor('readings from the agent process', async () => (await f.hub.telemetry.count({ site })) > base + 2_000, 30_000);
          child.kill('SIGKILL');
          await new Promise((r) => child.once('exit', r));
        }
        // Stop the load, then let a fresh agent drain what the killed ones committed.
        const del = await f.api('DELETE', '/api/v1/addons/load');
        expect(del.status).toBeLessThan(300);
        const a = await agent(f, site, f.hub.url, dataDir, token);
        await waitFor('the load generator to be removed', () => a.status().sync.connected && !a.status().plugins.some((p) => p.plugin === 'load-gen'), 20_000);
        expect(await a.drain(30_000)).toBe(true);
        const lastSeq = a.status().outbox.lastSeq;
        expect(lastSeq).toBeGreaterThan(4_000);
        expect(await highSeq(f, site)).toBe(lastSeq);
        expect(await f.hub.telemetry.count({ site })).toBe(lastSeq);
        // Per device: counters restart with each agent process, but stay in order within each run.
        for (let d = 0; d < 5; d++) {
          const rs = await readingsOf(f, site, `load-${d}`);
          for (let i = 1; i < rs.length; i++) {
            const prev = rs[i - 1]!.value as number;
            const cur = rs[i]!.value as number;
            if (!(cur === prev + 1 || cur === 1)) throw new Error(`load-${d}: ${prev} then ${cur} at seq ${rs[i]!.seq}`);
          }
        }
      }, 120_000);
    }

    if (scenarios.restartWhileHubDown) {
      it('runs the same plugins and devices from local state after a restart while the hub is down, then catches up', async () => {
        const site = 'plant-c';
        const { f, restart } = await hub(site);
        await f.apply({ kind: 'DeviceProfile', metadata: { name: 'thermo' }, spec: {
          deviceResources: [
            { name: 'temperature', attributes: { function: 'sine', amplitude: 2, periodS: 30, offset: 20 }, properties: { valueType: 'Float64', readWrite: 'R', units: 'degC' } },
            { name: 'setpoint', attributes: { function: 'setpoint', initial: 20 }, properties: { valueType: 'Float32', readWrite: 'RW', units: 'degC', minimum: 5, maximum: 35 } },
          ],
        } });
        await f.apply({ kind: 'Device', metadata: { name: 'thermo-1' }, spec: { site, profile: 'thermo', protocols: { simulator: { seed: '3' } }, autoEvents: [{ sourceName: 'temperature', interval: '200ms' }] } });
        await f.apply({ kind: 'Addon', metadata: { name: 'sim' }, spec: { plugin: 'simulator', sites: [site] } });
        const dataDir = tempDir('site-offline');
        const token = await f.agentToken(site);
        const first = await startSiteAgent({ site, hubUrl: f.hub.url, token, dataDir, logger: quiet, broker: false, plugins: { nodeModules: [] }, syncBackoff: { initialMs: 50, maxMs: 300 }, forwarder: { backoff: { initialMs: 50, maxMs: 300 } } });
        await waitFor('the device up', () => first.status().devices.find((d) => d.device === 'thermo-1')?.state === 'up');
        await waitFor('readings at the hub', async () => (await f.hub.telemetry.count({ site, device: 'thermo-1' })) > 0);
        await first.stop();
        await f.hub.close();

        // Hub down: a command is not possible now, but the site restarts and runs alone.
        const second = await startSiteAgent({ site, hubUrl: f.hub.url, token, dataDir, logger: quiet, broker: false, plugins: { nodeModules: [] }, syncBackoff: { initialMs: 50, maxMs: 300 }, forwarder: { backoff: { initialMs: 50, maxMs: 300 } } });
        defer(() => second.stop());
        expect(second.status().plugins).toEqual([expect.objectContaining({ instance: `simulator@${site}`, state: 'running' })]);
        await waitFor('the device up from local state', () => second.status().devices.find((d) => d.device === 'thermo-1')?.state === 'up');
        await waitFor('readings kept in the outbox', () => second.status().outbox.pending > 5, 10_000);
        expect(second.status().sync.connected).toBe(false);

        // The hub comes back on the same address and data: the backlog and a command queued there reach their targets.
        const again = await restart();
        await waitFor('the sync session', () => second.status().sync.connected, 20_000);
        await waitFor('the backlog drained', async () => (await second.drain(100)) && (await highSeq(again, site)) === second.status().outbox.lastSeq, 20_000);
        expect(await again.hub.telemetry.count({ site })).toBe(second.status().outbox.lastSeq);
      }, 90_000);
    }

    if (scenarios.commandQueuedOffline) {
      it('applies a command queued while the site was offline when it reconnects, and reports the value back', async () => {
        const site = 'plant-d';
        const { f } = await hub(site);
        await f.apply({ kind: 'DeviceProfile', metadata: { name: 'valve' }, spec: {
          deviceResources: [{ name: 'opening', attributes: { function: 'setpoint', initial: 0 }, properties: { valueType: 'Uint8', readWrite: 'RW', units: '%', minimum: 0, maximum: 100 } }],
        } });
        await f.apply({ kind: 'Device', metadata: { name: 'valve-1' }, spec: { site, profile: 'valve', protocols: { simulator: {} } } });
        await f.apply({ kind: 'Addon', metadata: { name: 'sim' }, spec: { plugin: 'simulator', sites: [site] } });
        const queued = await f.api<{ id: string; state: string }>('POST', `/api/v1/sites/${site}/devices/valve-1/commands`, { resource: 'opening', value: 42, ttlSeconds: 600 });
        expect(queued.status).toBe(202);
        expect(queued.body.state).toBe('pending');
        const a = await agent(f, site, f.hub.url);
        const done = await waitFor('the command to succeed', async () => {
          const r = await f.api<{ state: string; result?: { reported?: unknown } }>('GET', `/api/v1/commands/${queued.body.id}`);
          return r.body.state === 'succeeded' ? r.body : undefined;
        });
        expect(done.result?.reported).toBe(42);
        const dev = await waitFor('the twin to show it', async () => {
          const r = await f.api<{ spec: { desired?: Record<string, unknown> }; status?: { reported?: Record<string, { value: unknown }>; observedDesired?: Record<string, unknown> } }>('GET', '/api/v1/devices/valve-1');
          return r.body.status?.reported?.opening ? r.body : undefined;
        });
        expect(dev.spec.desired?.opening).toBe(42);
        expect(dev.status?.reported?.opening?.value).toBe(42);
        expect(dev.status?.observedDesired?.opening).toBe(42);
        await waitFor('the read-back reading upstream', async () => (await f.hub.telemetry.query({ site, device: 'valve-1', resource: 'opening' })).items.some((r) => r.value === 42));
        const site1 = await f.api<{ status?: { phase?: string } }>('GET', `/api/v1/sites/${site}`);
        expect(site1.body.status?.phase).toBe('Online');
        await a.stop();
        await waitFor('the site offline', async () => (await f.api<{ status?: { phase?: string } }>('GET', `/api/v1/sites/${site}`)).body.status?.phase === 'Offline');
      }, 60_000);
    }

    if (scenarios.quietIdleSession) {
      it('keeps a connected, idle session quiet: the hub\'s own status writes are not echoed back and forth', async () => {
        const site = 'plant-q';
        const { f } = await hub(site);
        const a = await agent(f, site, f.hub.url);
        await waitFor('the sync session', () => a.status().sync.connected && a.status().sync.resourceVersion !== null);
        await waitFor('the site online', async () => (await f.api<{ status?: { phase?: string } }>('GET', `/api/v1/sites/${site}`)).body.status?.phase === 'Online');
        const before = await f.hub.store.currentResourceVersion();
        await new Promise((r) => setTimeout(r, 2_500));
        expect(await f.hub.store.currentResourceVersion()).toBe(before);
        // A real change still reaches the agent at once.
        await f.apply({ kind: 'Site', metadata: { name: site, labels: { line: '2' } }, spec: {} });
        await waitFor('the change replicated', () => Number(a.status().sync.resourceVersion) > Number(before));
      }, 30_000);
    }

    if (scenarios.refusedTokens) {
      it('refuses sync sessions with a bad token, another site\'s token, or garbage', async () => {
        const { f } = await hub('plant-e');
        await f.apply({ kind: 'Site', metadata: { name: 'plant-f' }, spec: {} });
        const tokenF = await f.agentToken('plant-f');
        const url = `${f.hub.url.replace('http', 'ws')}/api/v1/sites/plant-e/sync`;
        const status = (token: string): Promise<number> =>
          new Promise((resolve) => {
            const ws = new WebSocket(url, 'edgeadm.sync.v1', { headers: { authorization: `Bearer ${token}` } });
            ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
            ws.on('open', () => {
              ws.close();
              resolve(101);
            });
            ws.on('error', () => undefined);
          });
        expect(await status('edgeadm_nope_nope')).toBe(401);
        expect(await status(tokenF)).toBe(403);
        const tokenE = await f.agentToken('plant-e');
        const closed = await new Promise<{ code: number; messages: string[] }>((resolve) => {
          const messages: string[] = [];
          const ws = new WebSocket(url, 'edgeadm.sync.v1', { headers: { authorization: `Bearer ${tokenE}` } });
          ws.on('open', () => ws.send('{"type":"hello","site":'));
          ws.on('message', (d: Buffer) => messages.push(d.toString()));
          ws.on('close', (code) => resolve({ code, messages }));
        });
        expect(closed.code).toBe(4400);
        expect(JSON.parse(closed.messages[0]!)).toMatchObject({ type: 'error', code: 'EDGE_ERR_SYNC_MESSAGE' });
        // The hub keeps serving.
        expect((await f.api('GET', '/api/v1/sites')).status).toBe(200);
      }, 30_000);
    }
  });
}
