/**
 * Test harness for the hub's route tests: builds the app over a chosen
 * backend (the in-memory resource store here with the real telemetry store
 * in memory, the real SQLite stores from core/store and core/telemetry, or
 * core/store's kube driver on the Kubernetes API test server, one per test
 * file, a fresh namespace per hub: kube.ts), with tokens for each role and a
 * small seeded world: sites plant-a and plant-b, a thermostat profile, one
 * device per site. Suites that iterate BACKENDS run on every one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { Registry } from 'prom-client';
import { createLogger, type Logger } from '../../../core/kernel/index.ts';
import type { Reading } from '../../../core/sdk/index.ts';
import { openKubeStore, openSqliteStore, type Resource, type ResourceStore } from '../../../core/store/index.ts';
import { openTelemetryStore, type IngestResult, type TelemetryStore } from '../../../core/telemetry/index.ts';
import {
  buildHubApp,
  openCommandQueue,
  openFileHealthKeyStore,
  openKubeCommandQueue,
  openKubeTokenStore,
  openTokenStore,
  type CommandQueue,
  type HubApp,
  type HealthKeyStore,
  type HubAppOptions,
  type MissingRef,
  type RequestIssue,
  type StartHubOptions,
  type TokenStore,
} from '../../../core/hub/index.ts';
import { createConsole } from '../../../core/console/index.ts';
import { kubeStoreTarget } from './kube.ts';
import { createMemoryStore } from './memory-store.ts';

/** The stores one test hub runs on. */
export interface BackendStores {
  store: ResourceStore;
  telemetry: TelemetryStore;
  /** Where the backend keeps tokens and commands itself (kube); otherwise SQLite files in the hub's directory. */
  tokens?: TokenStore;
  commands?: CommandQueue;
}

export interface Backend {
  name: string;
  /** Whether the resource store checks each kind's spec schema (the real drivers do; the in-memory fake checks only the envelope). */
  validates: boolean;
  /** Opens one hub's stores, with `dir` its own fresh directory. */
  open(dir: string, metrics: Registry, logger: Logger): BackendStores | Promise<BackendStores>;
}

export const memoryBackend = {
  name: 'in-memory resources (telemetry in SQLite :memory:)',
  validates: false,
  open: (_dir, metrics, logger) => ({ store: createMemoryStore(), telemetry: openTelemetryStore({ file: ':memory:', metrics, logger }) }),
} satisfies Backend;

export const sqliteBackend = {
  name: 'sqlite (core/store + core/telemetry)',
  validates: true,
  open: (dir, metrics, logger) => ({
    store: openSqliteStore({ file: path.join(dir, 'resources.db') }),
    telemetry: openTelemetryStore({ file: path.join(dir, 'telemetry.db'), metrics, logger }),
  }),
} satisfies Backend;

/**
 * Resources as custom resources on this file's Kubernetes API test server, in
 * a namespace of the hub's own, with tokens as Secrets and commands as
 * Command resources there; telemetry in SQLite, as `startHub` on the kube
 * store keeps it.
 */
export const kubeBackend: Backend = {
  name: 'kube (core/store kube driver on the Kubernetes API test server)',
  validates: true,
  async open(dir, metrics, logger) {
    const { kubeConfig, namespace } = await kubeStoreTarget();
    return {
      store: await openKubeStore({ kubeConfig, namespace, logger: logger.child({ component: 'kube-store' }) }),
      telemetry: openTelemetryStore({ file: path.join(dir, 'telemetry.db'), metrics, logger }),
      tokens: await openKubeTokenStore({ kubeConfig, namespace, logger }),
      commands: await openKubeCommandQueue({ kubeConfig, namespace, logger }),
    };
  },
};

export const BACKENDS: readonly Backend[] = [memoryBackend, sqliteBackend, kubeBackend];

/** A resource store for a hub started as a process starts it (`startHub`), for tests of the real hub. */
export interface HubStore {
  name: string;
  /** `startHub`'s `store` option for one hub: undefined is its default, a SQLite file in its data directory. */
  store(): Promise<StartHubOptions['store']>;
}

/** The stores of BACKENDS that `startHub` can open: SQLite, and the kube driver (a fresh namespace on this file's Kubernetes API test server). */
export const HUB_STORES: readonly HubStore[] = [
  { name: 'sqlite', store: () => Promise.resolve(undefined) },
  {
    name: 'kube',
    async store() {
      const { kubeConfig, namespace } = await kubeStoreTarget();
      return { kind: 'kube', kubeConfig, namespace };
    },
  },
];

export interface TestHub {
  app: HubApp;
  store: ResourceStore;
  telemetry: TelemetryStore;
  tokens: TokenStore;
  commands: CommandQueue;
  healthKeys: HealthKeyStore;
  registry: Registry;
  dir: string;
  admin: string;
  viewer: string;
  /** Agent of plant-a. */
  agentA: string;
  /** Agent of plant-b. */
  agentB: string;
  /** app.inject with a bearer token and a JSON body. */
  call(method: InjectOptions['method'], url: string, opts?: { token?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export interface TestHubOptions {
  backend?: Backend;
  bodyLimitBytes?: number;
  streams?: HubAppOptions['streams'];
  logger?: Logger;
  seed?: boolean;
  /** Hub modules; default the web console, as the hub is shipped. */
  modules?: HubAppOptions['modules'];
  /** The hub's CA (PEM), as a hub that serves TLS has it. */
  caCert?: string;
  /** The installed plugins the hub lists and checks Devices against (none by default). */
  pluginCatalog?: HubAppOptions['pluginCatalog'];
}

export const quietLogger = (): Logger => createLogger({ level: process.env.EDGEADM_TEST_LOG === '1' ? 'debug' : 'silent' });

export const API = 'edgeadm.io/v1alpha1';

export const thermoProfile: Resource = {
  apiVersion: API,
  kind: 'DeviceProfile',
  metadata: { name: 'thermo' },
  spec: {
    deviceResources: [
      { name: 'temp', properties: { valueType: 'Float64', readWrite: 'R', units: 'C' } },
      { name: 'setpoint', properties: { valueType: 'Float64', readWrite: 'RW', minimum: 0, maximum: 100 } },
      { name: 'mode', properties: { valueType: 'String', readWrite: 'RW' } },
      { name: 'count', properties: { valueType: 'Uint16', readWrite: 'W' } },
    ],
  },
};

export const site = (name: string, labels?: Record<string, string>): Resource => ({
  apiVersion: API,
  kind: 'Site',
  metadata: { name, ...(labels ? { labels } : {}) },
  spec: {},
});

export const device = (name: string, siteName: string, profile = 'thermo'): Resource => ({
  apiVersion: API,
  kind: 'Device',
  metadata: { name },
  spec: { site: siteName, profile, protocols: { 'modbus-tcp': { Address: '10.0.0.5', Port: '502' } } },
});

export function reading(siteName: string, seq: number, over: Partial<Reading> = {}): Reading {
  return {
    site: siteName,
    device: 'pump-a',
    profile: 'thermo',
    resource: 'temp',
    value: 20 + seq / 10,
    valueType: 'Float64',
    units: 'C',
    origin: 1_700_000_000_000_000_000 + seq * 1_000_000,
    quality: 'good',
    seq,
    ...over,
  };
}

/** An ingest body: `readings` under one producer stream (lastSeq: their highest seq unless given). */
export function batch(readings: readonly Reading[], stream: { id?: string; lastSeq?: number } = {}): { stream: { id: string; lastSeq: number }; readings: readonly Reading[] } {
  return { stream: { id: stream.id ?? 'stream-one', lastSeq: stream.lastSeq ?? readings.reduce((m, r) => Math.max(m, r.seq), 0) }, readings };
}

/** Stores readings straight into a hub's telemetry store, as producer `token:test` (no device lookup). */
export function ingestDirect(telemetry: TelemetryStore, siteName: string, readings: readonly Reading[]): Promise<IngestResult> {
  return telemetry.ingest({ site: siteName, producer: 'token:test', stream: { id: 'test-stream', lastSeq: Number.MAX_SAFE_INTEGER } }, readings);
}

/** The error body every failing route returns. */
export interface ApiError {
  code: string;
  message: string;
  details?: { issues?: RequestIssue[]; refs?: MissingRef[]; [key: string]: unknown };
}

export const err = (r: LightMyRequestResponse): ApiError => r.json<ApiError>();

export async function startTestHub(opts: TestHubOptions = {}): Promise<TestHub> {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-hub-test-'));
  const registry = new Registry();
  const logger = opts.logger ?? quietLogger();
  const opened: BackendStores = await (opts.backend ?? memoryBackend).open(dir, registry, logger);
  const { store, telemetry } = opened;
  const tokens = opened.tokens ?? openTokenStore({ file: path.join(dir, 'tokens.db') });
  const commands = opened.commands ?? openCommandQueue({ file: path.join(dir, 'commands.db'), logger });
  const healthKeys = openFileHealthKeyStore(dir);
  const app = buildHubApp({
    store,
    telemetry,
    tokens,
    commands,
    healthKeys,
    logger,
    metrics: registry,
    ...(opts.bodyLimitBytes === undefined ? {} : { bodyLimitBytes: opts.bodyLimitBytes }),
    ...(opts.streams === undefined ? {} : { streams: opts.streams }),
    ...(opts.caCert === undefined ? {} : { caCert: opts.caCert }),
    ...(opts.pluginCatalog === undefined ? {} : { pluginCatalog: opts.pluginCatalog }),
    modules: opts.modules ?? [createConsole()],
  });
  if (opts.seed !== false) {
    await store.apply(site('plant-a', { region: 'north' }));
    await store.apply(site('plant-b', { region: 'south' }));
    await store.apply(thermoProfile);
    await store.apply(device('pump-a', 'plant-a'));
    await store.apply(device('pump-b', 'plant-b'));
  }
  const admin = (await tokens.create({ role: 'admin', description: 'test admin' })).token;
  const viewer = (await tokens.create({ role: 'viewer' })).token;
  const agentA = (await tokens.create({ role: 'agent', site: 'plant-a' })).token;
  const agentB = (await tokens.create({ role: 'agent', site: 'plant-b' })).token;
  await app.ready();
  return {
    app,
    store,
    telemetry,
    tokens,
    commands,
    healthKeys,
    registry,
    dir,
    admin,
    viewer,
    agentA,
    agentB,
    call(method, url, o = {}) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      const token = o.token === undefined ? admin : o.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      const inject: InjectOptions = { method, url, headers };
      if (o.body !== undefined) {
        if (typeof o.body === 'string' || Buffer.isBuffer(o.body)) inject.payload = o.body;
        else {
          inject.payload = JSON.stringify(o.body);
          headers['content-type'] ??= 'application/json';
        }
      }
      return app.inject(inject);
    },
    async close() {
      await app.close();
      await commands.close();
      await tokens.close();
      await telemetry.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
