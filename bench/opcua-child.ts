/**
 * The processes bench/opcua.ts spawns: `node --import tsx bench/opcua-child.ts <role>`.
 *
 * server: the OPC UA simulator (plugins/opcua/testkit/server.ts) with
 *   EDGEADM_BENCH_OPCUA_ITEMS Double variables `Load.<i>` that all change every
 *   second (one timer); sends `{ endpointUrl, ns }` once it listens.
 * driver: the site side as the site agent runs it: the opcua plugin's driver
 *   (createOpcuaDriver) connects EDGEADM_BENCH_OPCUA_DEVICES devices sharing
 *   the items and subscribes to all of them; samples go to a counting sink.
 * bare: the peer: one bare node-opcua client (node-opcua-client, as the
 *   plugin loads it), one subscription, one CreateMonitoredItems for all
 *   items, counting `changed` events.
 *
 * Both site sides request the same monitoring: publishingInterval 1000 ms,
 * samplingInterval EDGEADM_BENCH_OPCUA_SAMPLING_MS (default 0: the server
 * reports each change as it happens), queueSize 10, no deadband.
 * A site side sends `{ ready, subscribeMs }` once every item delivered its
 * first value, then answers `{ id, op: 'measure', ms }` with
 * `{ id, result: { notifications, wallMs, cpuMs } }` counted over that window.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../core/kernel/index.ts';
import type { DeviceConnection, DriverResource, Subscription } from '../core/sdk/index.ts';

export interface SiteReady {
  ready: true;
  subscribeMs: number;
}
export interface MeasureResult {
  notifications: number;
  wallMs: number;
  cpuMs: number;
}

const PUBLISHING_MS = 1000;
const QUEUE_SIZE = 10;

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  const n = v === undefined || v === '' ? fallback : Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer (got '${v}')`);
  return n;
}

const send = (m: unknown): void => void process.send?.(m);

async function server(dir: string): Promise<() => Promise<void>> {
  const { startOpcuaSimulator } = await import('../plugins/opcua/testkit/server.ts');
  const sim = await startOpcuaSimulator({ dir, items: envInt('EDGEADM_BENCH_OPCUA_ITEMS', 10_000), changeIntervalMs: 1000, securityModes: ['None'] });
  send({ endpointUrl: sim.endpointUrl, ns: sim.ns });
  return () => sim.stop();
}

/** Counts notifications; resolves `first` when every item has delivered at least once. */
function counter(items: number): { count(i: number): void; total(): number; first: Promise<void> } {
  const seen = new Uint8Array(items);
  let distinct = 0;
  let total = 0;
  let done: () => void = () => undefined;
  const first = new Promise<void>((r) => (done = r));
  return {
    count(i) {
      total++;
      if (seen[i] === 0) {
        seen[i] = 1;
        if (++distinct === items) done();
      }
    },
    total: () => total,
    first,
  };
}

async function bare(endpointUrl: string, ns: number, dir: string, c: ReturnType<typeof counter>, items: number, sampling: number): Promise<() => Promise<void>> {
  // The client package alone, as the opcua plugin loads it (node-opcua itself also loads the server side).
  const ua = await import('node-opcua-client');
  const { OPCUACertificateManager } = await import('node-opcua-certificate-manager');
  const cm = new OPCUACertificateManager({ rootFolder: path.join(dir, 'pki'), automaticallyAcceptUnknownCertificate: true });
  await cm.initialize();
  const client = ua.OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 }, clientCertificateManager: cm, requestedSessionTimeout: 60_000 });
  await client.connect(endpointUrl);
  const session = await client.createSession();
  const sub = await session.createSubscription2({
    requestedPublishingInterval: PUBLISHING_MS,
    requestedLifetimeCount: 60,
    requestedMaxKeepAliveCount: 10,
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
    priority: 1,
  });
  const group = await sub.monitorItems(
    Array.from({ length: items }, (_, i) => ({ nodeId: `ns=${ns};s=Load.${i}`, attributeId: ua.AttributeIds.Value })),
    { samplingInterval: sampling, queueSize: QUEUE_SIZE, discardOldest: true },
    ua.TimestampsToReturn.Both,
  );
  group.on('changed', (_item, _dv, index: number) => c.count(index));
  return async () => {
    await sub.terminate();
    await session.close();
    await client.disconnect();
    await cm.dispose();
  };
}

async function driverSide(endpointUrl: string, ns: number, dir: string, c: ReturnType<typeof counter>, items: number, sampling: number): Promise<() => Promise<void>> {
  const { createOpcuaDriver } = await import('../plugins/opcua/index.ts');
  const driver = createOpcuaDriver({ logger: createLogger({ level: 'warn' }), dir, site: 'bench' });
  const devices = Math.max(1, Math.min(items, envInt('EDGEADM_BENCH_OPCUA_DEVICES', 1)));
  const per = Math.ceil(items / devices);
  const conns: DeviceConnection[] = [];
  const subs: Subscription[] = [];
  for (let d = 0; d < devices; d++) {
    const from = d * per;
    const to = Math.min(items, from + per);
    const resources: DriverResource[] = [];
    for (let i = from; i < to; i++) {
      resources.push({ name: `load-${i}`, valueType: 'Float64', readWrite: 'R', attributes: { nodeId: `ns=${ns};s=Load.${i}` }, properties: {} });
    }
    const conn = await driver.connect({
      site: 'bench',
      name: `load-${d}`,
      profile: 'load',
      protocolName: 'opcua',
      protocol: { Endpoint: endpointUrl, publishingInterval: PUBLISHING_MS, samplingInterval: sampling, queueSize: QUEUE_SIZE },
      resources,
    });
    conns.push(conn);
    if (!conn.subscribe) throw new Error('the opcua driver has no subscribe');
    subs.push(
      await conn.subscribe(
        resources.map((r) => r.name),
        { mode: 'onChange' },
        (samples) => {
          for (const s of samples) if (s.quality === 'good') c.count(Number(s.resource.slice(5)));
        },
      ),
    );
  }
  return async () => {
    for (const s of subs) await s.close();
    for (const conn of conns) await conn.close();
    await driver.close();
  };
}

/**
 * A whole site agent, offline (its hub does not answer): the replica is
 * written before it starts, as a previous sync would have left it (Site,
 * the `load` profile with N resources, the Device, the opcua Addon). Every
 * sample goes through the device manager into the SQLite outbox, where it
 * would wait for the hub; the count is the outbox's sequence.
 */
async function agentSide(endpointUrl: string, ns: number, dir: string, c: ReturnType<typeof counter>, items: number, sampling: number): Promise<() => Promise<void>> {
  const { LocalState } = await import('../sites/local-state.ts');
  const { startSiteAgent } = await import('../sites/index.ts');
  const api = 'edgeadm.io/v1alpha1';
  const site = 'bench';
  const state = new LocalState(path.join(dir, 'replica.db'));
  state.replaceAll(
    [
      { apiVersion: api, kind: 'Site', metadata: { name: site }, spec: {} },
      {
        apiVersion: api,
        kind: 'DeviceProfile',
        metadata: { name: 'load' },
        spec: { deviceResources: Array.from({ length: items }, (_, i) => ({ name: `load-${i}`, attributes: { nodeId: `ns=${ns};s=Load.${i}` }, properties: { valueType: 'Float64', readWrite: 'R' } })) },
      },
      {
        apiVersion: api,
        kind: 'Device',
        metadata: { name: 'load-0' },
        spec: { site, profile: 'load', protocols: { opcua: { Endpoint: endpointUrl, publishingInterval: PUBLISHING_MS, samplingInterval: sampling, queueSize: QUEUE_SIZE } } },
      },
      { apiVersion: api, kind: 'Addon', metadata: { name: 'opcua' }, spec: { plugin: 'opcua', sites: [site] } },
    ],
    '1',
  );
  state.close();
  const agent = await startSiteAgent({
    site,
    // Nothing answers here: the site runs from its replica, and readings stay in the outbox.
    hubUrl: 'http://127.0.0.1:9',
    token: 'offline',
    dataDir: dir,
    logger: createLogger({ level: 'error' }),
    broker: false,
    syncBackoff: { initialMs: 60_000, maxMs: 60_000 },
    forwarder: { backoff: { initialMs: 60_000, maxMs: 60_000 } },
  });
  let seen = 0;
  const poll = setInterval(() => {
    const seq = agent.status().outbox.lastSeq;
    for (; seen < seq; seen++) c.count(seen % items);
  }, 50);
  return async () => {
    clearInterval(poll);
    await agent.stop();
  };
}

async function main(role: string | undefined): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), `edgeadm-bench-opcua-${role ?? 'x'}-`));
  let stop: () => Promise<void> = () => Promise.resolve();
  const finish = async (): Promise<void> => {
    await stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  };
  process.once('SIGTERM', () => void finish());
  process.once('disconnect', () => void finish());
  if (role === 'server') {
    stop = await server(dir);
    return;
  }
  if (role !== 'bare' && role !== 'driver' && role !== 'agent') throw new Error(`unknown role '${role}' (server, bare, driver, agent)`);
  const endpointUrl = process.env.EDGEADM_BENCH_OPCUA_ENDPOINT ?? '';
  const ns = envInt('EDGEADM_BENCH_OPCUA_NS', 2);
  const items = envInt('EDGEADM_BENCH_OPCUA_ITEMS', 10_000);
  const sampling = envInt('EDGEADM_BENCH_OPCUA_SAMPLING_MS', 0);
  const c = counter(items);
  const t0 = performance.now();
  const side = role === 'bare' ? bare : role === 'agent' ? agentSide : driverSide;
  stop = await side(endpointUrl, ns, dir, c, items, sampling);
  await c.first;
  send({ ready: true, subscribeMs: performance.now() - t0 } satisfies SiteReady);
  process.on('message', (m: { id: number; op: 'measure'; ms: number }) => {
    const n0 = c.total();
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    setTimeout(() => {
      const cpu = process.cpuUsage(cpu0);
      send({ id: m.id, result: { notifications: c.total() - n0, wallMs: performance.now() - w0, cpuMs: (cpu.user + cpu.system) / 1000 } satisfies MeasureResult });
    }, m.ms);
  });
}

main(process.argv[2]).catch((err: unknown) => {
  process.stderr.write(`opcua bench child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
