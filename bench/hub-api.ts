/**
 * hub-api: the hub's HTTP API latency on both resource store drivers in one
 * run: a hub on SQLite and a hub on the kube driver (the Kubernetes API test
 * server in this process, over TLS on loopback, like bench/store.ts), each
 * started as `edgeadm hub run` starts it (`startHub`, real HTTP). Measured
 * per hub, one request at a time over a keep-alive connection (Node's
 * fetch), after a warm-up: GET one Device, LIST 100 Devices, PUT (apply)
 * one Device with a changed label (a real write each time), POST a write
 * command (queued for the site: a Command resource on kube, a row on
 * SQLite); p50 and p99, kube as a ratio of SQLite. Every request's token is
 * checked (on kube: the Secret-backed store's cache). The kube figures include the driver's
 * read-before-write on PUT and the hub's reads for references and the
 * Device status view. Option: BENCH_HUB_API_REQUESTS (default 500 per
 * operation and hub).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createError, createLogger } from '../core/kernel/index.ts';
import { startHub, type Hub, type StartHubOptions } from '../core/hub/index.ts';
import { API_VERSION } from '../core/store/index.ts';
import { startKubeApiServer } from '../test/support/kube-apiserver/index.ts';
import { envInt, round, versus, type Benchmark, type BenchResult } from './harness.ts';

const ErrBench = createError('EDGE_ERR_BENCH_HUB_API', (p: { step: string; reason: string }) => `hub-api bench: ${p.step}: ${p.reason}`);

const SITE = 'plant-a';
const DEVICES = 100;
const WARMUP = 50;

/** One hub under test and an admin's requests to it. */
interface Target {
  hub: Hub;
  call(method: string, p: string, body?: unknown): Promise<unknown>;
}

async function startTarget(dataDir: string, store: StartHubOptions['store']): Promise<Target> {
  const hub = await startHub({ dataDir, port: 0, logger: createLogger({ level: 'silent' }), ...(store ? { store } : {}) });
  const token = readFileSync(hub.adminTokenFile, 'utf8').trim();
  const call = async (method: string, p: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${hub.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new ErrBench({ step: `${method} ${p}`, reason: `${res.status} ${text.slice(0, 300)}` });
    return text ? (JSON.parse(text) as unknown) : undefined;
  };
  return { hub, call };
}

const device = (i: number, label: string): Record<string, unknown> => ({
  apiVersion: API_VERSION,
  kind: 'Device',
  metadata: { name: `dev-${i}`, labels: { round: label } },
  spec: { site: SITE, profile: 'thermo', protocols: { simulator: {} } },
});

/** The Site, a profile and DEVICES Devices, through the API. */
async function seed(t: Target): Promise<void> {
  await t.call('PUT', `/api/v1/sites/${SITE}`, { apiVersion: API_VERSION, kind: 'Site', metadata: { name: SITE }, spec: {} });
  await t.call('PUT', '/api/v1/deviceprofiles/thermo', {
    apiVersion: API_VERSION,
    kind: 'DeviceProfile',
    metadata: { name: 'thermo' },
    spec: {
      deviceResources: [
        { name: 'temperature', properties: { valueType: 'Float64', readWrite: 'R', units: 'degC' } },
        { name: 'setpoint', properties: { valueType: 'Float64', readWrite: 'RW', units: 'degC' } },
      ],
    },
  });
  for (let i = 0; i < DEVICES; i++) await t.call('PUT', `/api/v1/devices/dev-${i}`, device(i, '0'));
  const list = (await t.call('GET', '/api/v1/devices')) as { items: unknown[] };
  if (list.items.length !== DEVICES) throw new ErrBench({ step: 'seed', reason: `listed ${list.items.length} Devices, expected ${DEVICES}` });
}

/** p50 and p99 (ms) of `requests` sequential calls of `op(i)`, after WARMUP unmeasured ones. */
async function latency(requests: number, op: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < WARMUP; i++) await op(i);
  const times: number[] = [];
  for (let i = 0; i < requests; i++) {
    const t0 = performance.now();
    await op(WARMUP + i);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const at = (q: number): number => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return { p50: at(0.5), p99: at(0.99) };
}

/** The measured operations, by the name the results use. */
const OPERATIONS: readonly [string, (t: Target, i: number) => Promise<unknown>][] = [
  ['GET one Device', (t, i) => t.call('GET', `/api/v1/devices/dev-${i % DEVICES}`)],
  [`LIST ${DEVICES} Devices`, (t) => t.call('GET', '/api/v1/devices')],
  ['PUT (apply) one Device, changed', (t, i) => t.call('PUT', `/api/v1/devices/dev-${i % DEVICES}`, device(i % DEVICES, String(i + 1)))],
  ['POST a write command (queued)', (t, i) => t.call('POST', `/api/v1/sites/${SITE}/devices/dev-${i % DEVICES}/commands`, { resource: 'setpoint', value: i })],
];

const bench: Benchmark = {
  name: 'hub-api',
  description: 'the hub HTTP API on the kube store driver (Kubernetes API test server) vs SQLite: GET, LIST 100, PUT, POST command latency, one request at a time',
  async run(): Promise<BenchResult[]> {
    const requests = envInt('BENCH_HUB_API_REQUESTS', 500);
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-bench-hub-api-'));
    // Room in the watch history for every write of the run, so the hub's own watches never see 410.
    const server = await startKubeApiServer({ historyLimit: 8 * (DEVICES + WARMUP + requests) });
    try {
      const kubeConfig = await server.kubeconfig(dir);
      const sqlite = await startTarget(path.join(dir, 'sqlite'), undefined);
      try {
        const kube = await startTarget(path.join(dir, 'kube'), { kind: 'kube', kubeConfig, namespace: 'default', installCrds: true });
        try {
          await seed(sqlite);
          await seed(kube);
          const out: BenchResult[] = [];
          for (const [name, op] of OPERATIONS) {
            const s = await latency(requests, (i) => op(sqlite, i));
            const k = await latency(requests, (i) => op(kube, i));
            out.push(
              versus({ bench: 'hub-api', metric: `${name} p50, kube driver (${requests} requests)`, value: round(k.p50), unit: 'ms' }, 'sqlite driver', s.p50),
              versus({ bench: 'hub-api', metric: `${name} p99, kube driver (${requests} requests)`, value: round(k.p99), unit: 'ms' }, 'sqlite driver', s.p99),
            );
          }
          return out;
        } finally {
          await kube.hub.close();
        }
      } finally {
        await sqlite.hub.close();
      }
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
