/**
 * Three hub replicas behind a round-robin balancer, sharing one data
 * directory's resources and one PostgreSQL telemetry store (a real
 * PostgreSQL, started here): a site agent's readings go through any; one
 * replica stops mid-ingest and the agent's outbox carries on through the
 * others, then it starts again and takes its share; PostgreSQL holds every
 * reading exactly once, and every replica answers queries of what any
 * stored. Then with the hub's state on PostgreSQL too (`--state`), each
 * replica on its own data directory as on separate machines: one replica
 * is its own `edgeadm hub run` process, killed (SIGKILL) mid-ingest
 * and started again; a console login made on it works on the others and
 * on it after its restart, a logout on one holds on all, and a live read of
 * the device through any replica reaches the site's session wherever it is.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsole } from '../core/console/index.ts';
import { startHub, type Hub } from '../core/hub/index.ts';
import { startSiteAgent, type SiteAgent } from '../sites/index.ts';
import type { TelemetryStore } from '../core/telemetry/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { startEdgeadm, type Background } from './support/edgeadm-cli.ts';
import { freePort } from './support/tcp-services.ts';
import { quiet, tempDir, waitFor } from './support/hub-fixture.ts';
import { startPostgres, type Postgres } from './support/postgres.ts';
import { startRoundRobinProxy } from './support/tcp-proxy.ts';

const defer = deferCleanup();
let pg: Postgres;
beforeAll(async () => {
  pg = await startPostgres();
}, 120_000);
afterAll(async () => {
  await pg?.close();
});

const portOf = (h: Hub): number => Number(new URL(h.url).port);

/** A site with a simulated thermometer reading every 20 ms, its addon on. */
async function simulatedSite(apply: (kind: string, plural: string, name: string, spec: unknown) => Promise<unknown>, site: string): Promise<void> {
  await apply('Site', 'sites', site, {});
  await apply('DeviceProfile', 'deviceprofiles', 'thermo', {
    deviceResources: [{ name: 'temperature', attributes: { function: 'sine', amplitude: 2, periodS: 30, offset: 20 }, properties: { valueType: 'Float64', readWrite: 'R', units: 'degC' } }],
  });
  await apply('Device', 'devices', 'thermo-1', { site, profile: 'thermo', protocols: { simulator: { seed: '1' } }, autoEvents: [{ sourceName: 'temperature', interval: '20ms' }] });
  await apply('Addon', 'addons', 'sim', { plugin: 'simulator', sites: [site] });
}

/** Once the simulator stopped: the outbox drains, and the store holds every reading it issued exactly once. */
async function expectEveryReadingOnce(agent: SiteAgent, site: string, store: TelemetryStore): Promise<void> {
  await waitFor('the simulator stopped', () => !agent.status().plugins.some((p) => p.plugin === 'simulator'), 30_000);
  expect(await agent.drain(30_000)).toBe(true);
  const out = agent.status().outbox;
  expect(out.pending).toBe(0);
  const streams = await store.streams(site);
  const held = streams.reduce((n, s) => n + s.held, 0);
  expect(await store.count({ site })).toBe(held);
  expect(held).toBe(out.lastSeq);
  expect(streams.every((s) => s.conflicts === 0)).toBe(true);
}

/** A site agent that retries fast (replicas come and go in these tests), without a broker or installed plugins. */
const AGENT = {
  logger: quiet,
  broker: false,
  plugins: { nodeModules: [] },
  syncBackoff: { initialMs: 50, maxMs: 300 },
  forwarder: { backoff: { initialMs: 50, maxMs: 300 } },
} as const;

describe('hub replicas on PostgreSQL', () => {
  it("take a site's readings through a balancer, one stopping mid-ingest and starting again: every reading once, each answering", { timeout: 120_000 }, async () => {
    const dataDir = tempDir('hub-replicas');
    const telemetry = { kind: 'postgres' as const, url: pg.url };
    const a = await startHub({ dataDir, port: 0, logger: quiet, replica: 'hub-a', telemetry });
    let aOpen = true;
    defer(async () => {
      if (aOpen) await a.close();
    });
    const b = await startHub({ dataDir, port: 0, logger: quiet, replica: 'hub-b', telemetry });
    defer(() => b.close());
    const c = await startHub({ dataDir, port: 0, logger: quiet, replica: 'hub-c', telemetry });
    defer(() => c.close());
    expect(a.telemetry.driver).toBe('postgres');
    const aPort = portOf(a);
    const lb = await startRoundRobinProxy([
      { host: '127.0.0.1', port: aPort },
      { host: '127.0.0.1', port: portOf(b) },
      { host: '127.0.0.1', port: portOf(c) },
    ]);
    defer(() => lb.close());
    const admin = readFileSync(a.adminTokenFile, 'utf8').trim();
    const api = async <T>(hub: string, method: string, p: string, body?: unknown): Promise<T> => {
      const r = await fetch(`${hub}${p}`, { method, headers: { authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`);
      return (await r.json()) as T;
    };
    const apply = (kind: string, plural: string, name: string, spec: unknown) => api(lb.url, 'PUT', `/api/v1/${plural}/${name}`, { apiVersion: 'edgeadm.io/v1alpha1', kind, metadata: { name }, spec });
    const site = 'plant-r';
    await simulatedSite(apply, site);
    const { token } = await api<{ token: string }>(lb.url, 'POST', '/api/v1/tokens', { role: 'agent', site });

    const agent = await startSiteAgent({
      site,
      hubUrl: lb.url,
      token,
      dataDir: tempDir('agent-replicas'),
      ...AGENT,
    });
    let agentUp = true;
    defer(async () => {
      if (agentUp) await agent.stop();
    });
    await waitFor('readings in PostgreSQL', async () => (await b.telemetry.count({ site })) > 100, 30_000);

    // Replica a stops while the agent sends: its outbox goes on through the others.
    await a.close();
    aOpen = false;
    const before = await b.telemetry.count({ site });
    await waitFor('readings through the other replicas', async () => (await b.telemetry.count({ site })) > before + 100, 30_000);
    // It starts again on its port, and the balancer sends it its share again.
    const took = lb.connections()[0]!;
    const a2 = await startHub({ dataDir, port: aPort, logger: quiet, replica: 'hub-a', telemetry });
    defer(() => a2.close());
    const mid = await b.telemetry.count({ site });
    await waitFor('readings after the restart', async () => (await a2.telemetry.count({ site })) > mid + 100, 30_000);

    // The simulator stops; everything the outbox issued is acknowledged, and held once.
    await api(lb.url, 'DELETE', '/api/v1/addons/sim');
    await expectEveryReadingOnce(agent, site, b.telemetry);
    await agent.stop();
    agentUp = false;
    // Every replica took connections, a again after its restart (the sync session's reconnects and the uplink's).
    expect(lb.connections().every((n) => n > 0)).toBe(true);
    expect(lb.connections()[0]!).toBeGreaterThanOrEqual(took);
    // What any stored, each answers (the same database).
    for (const h of [a2, b, c]) {
      const page = await api<{ items: { seq: number; stream: string }[] }>(h.url, 'GET', `/api/v1/telemetry?site=${site}&limit=5`);
      expect(page.items.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    }
  });

  it('share resources, tokens, commands and console sessions on PostgreSQL, each on its own data directory: a replica killed mid-ingest loses nothing, a login works on every replica and across its restart', { timeout: 180_000 }, async () => {
    // Each replica its own data directory, as on separate machines: everything they share is in the database.
    const url = await pg.database('state');
    const telemetry = { kind: 'postgres' as const, url };
    const state = { kind: 'postgres' as const, url };
    const b = await startHub({ dataDir: tempDir('hub-state-b'), port: 0, logger: quiet, replica: 'hub-b', telemetry, state, modules: [createConsole()] });
    defer(() => b.close());
    const c = await startHub({ dataDir: tempDir('hub-state-c'), port: 0, logger: quiet, replica: 'hub-c', telemetry, state, modules: [createConsole()] });
    defer(() => c.close());
    // Replica a: `edgeadm hub run` as its own process, the database URLs in its environment.
    const aPort = await freePort();
    const dataDir = tempDir('hub-state-a');
    const runA = async (): Promise<Background> => {
      const p = startEdgeadm(['hub', 'run', '--data-dir', dataDir, '--port', String(aPort), '--no-tls', '--replica', 'hub-a', '--log-level', 'silent'], { EDGEADM_TELEMETRY: url, EDGEADM_STATE: url });
      defer(() => p.stop('SIGKILL'));
      await waitFor('replica a listening', () => p.out().includes('hub listening on') || p.child.exitCode !== null, 60_000);
      expect(p.out()).toContain('resources, tokens, commands and console sessions: PostgreSQL at');
      expect(p.output()).not.toContain(new URL(url).password);
      return p;
    };
    let a = await runA();
    const aUrl = `http://127.0.0.1:${aPort}`;
    const lb = await startRoundRobinProxy([
      { host: '127.0.0.1', port: aPort },
      { host: '127.0.0.1', port: portOf(b) },
      { host: '127.0.0.1', port: portOf(c) },
    ]);
    defer(() => lb.close());
    const admin = readFileSync(b.adminTokenFile, 'utf8').trim();
    const call = (hub: string, method: string, p: string, o: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Response> =>
      fetch(`${hub}${p}`, {
        method,
        headers: { ...(o.headers ?? { authorization: `Bearer ${admin}` }), ...(o.body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
      });
    const api = async <T>(hub: string, method: string, p: string, body?: unknown): Promise<T> => {
      const r = await call(hub, method, p, { body });
      if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`);
      return (await r.json()) as T;
    };
    const apply = (kind: string, plural: string, name: string, spec: unknown) => api(lb.url, 'PUT', `/api/v1/${plural}/${name}`, { apiVersion: 'edgeadm.io/v1alpha1', kind, metadata: { name }, spec });
    const site = 'plant-s';
    await simulatedSite(apply, site);
    // A token made through one replica is every replica's.
    const { token } = await api<{ token: string }>(aUrl, 'POST', '/api/v1/tokens', { role: 'agent', site });
    for (const h of [b.url, c.url]) expect((await call(h, 'GET', `/api/v1/sites/${site}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);

    // A console login on replica a.
    const login = await call(aUrl, 'POST', '/api/v1/console/session', { body: { token: admin }, headers: {} });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const session = async (hub: string): Promise<number> => (await call(hub, 'GET', '/api/v1/console/session', { headers: { cookie } })).status;
    expect([await session(b.url), await session(c.url)]).toEqual([200, 200]);

    const agent = await startSiteAgent({
      site,
      hubUrl: lb.url,
      token,
      dataDir: tempDir('agent-state'),
      ...AGENT,
    });
    let agentUp = true;
    defer(async () => {
      if (agentUp) await agent.stop();
    });
    await waitFor('readings in PostgreSQL', async () => (await b.telemetry.count({ site })) > 100, 30_000);

    // Replica a is killed mid-ingest: no stop, no goodbye. The outbox goes on through the others.
    await a.stop('SIGKILL');
    const before = await b.telemetry.count({ site });
    await waitFor('readings through the other replicas', async () => (await b.telemetry.count({ site })) > before + 100, 30_000);
    a = await runA();
    // The login made on a holds on a after its restart.
    expect(await session(aUrl)).toBe(200);
    const mid = await b.telemetry.count({ site });
    await waitFor('readings after the restart', async () => (await c.telemetry.count({ site })) > mid + 100, 30_000);

    // A live read through each replica reaches the site's sync session, on whichever replica holds it, and comes back.
    await waitFor('the site online', async () => (await api<{ status?: { phase?: string } }>(b.url, 'GET', `/api/v1/sites/${site}`)).status?.phase === 'Online', 30_000);
    for (const h of [aUrl, b.url, c.url]) {
      const read = await api<{ readings: { resource: string; value: unknown }[] }>(h, 'POST', `/api/v1/sites/${site}/devices/thermo-1/read`, { resources: ['temperature'], timeoutMs: 5000 });
      expect(read.readings.map((r) => r.resource)).toEqual(['temperature']);
    }

    // A logout through c holds on every replica.
    expect((await call(c.url, 'DELETE', '/api/v1/console/session', { headers: { cookie } })).status).toBe(204);
    expect([await session(aUrl), await session(b.url), await session(c.url)]).toEqual([401, 401, 401]);

    // Everything the outbox issued is held once, across the kill.
    await api(lb.url, 'DELETE', '/api/v1/addons/sim');
    await expectEveryReadingOnce(agent, site, c.telemetry);
    await agent.stop();
    agentUp = false;
    // The agent's token revoked through one replica is refused by all.
    const tokenId = /^edgeadm_([a-z0-9]{8})_/.exec(token)![1]!;
    expect((await call(b.url, 'DELETE', `/api/v1/tokens/${tokenId}`)).status).toBe(204);
    for (const h of [aUrl, b.url, c.url]) expect((await call(h, 'GET', `/api/v1/sites/${site}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    await a.stop('SIGINT');
  });
});
