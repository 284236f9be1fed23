/**
 * The site agent: the edge runtime of one site. It keeps the site's replica
 * (sync session with the hub, persisted before each ack), runs the plugin
 * instances its Addons ask for and the devices its replica lists, keeps every
 * reading in a durable outbox and forwards it upstream. It runs from local
 * state alone while the hub is unreachable, also after a restart.
 *
 * With `tunnel`, the agent reaches the hub only through tunnel-edge: one
 * outbound wss connection carries the sync session, the REST or MQTT uplink
 * and, the other way, whatever the cloud opens to this node's allow-list.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { describeError, EDGEADM_VERSION, ensurePrivateDir, Kernel, ServiceScope, startMetricsServer, toErrorInfo, type Logger } from '../core/kernel/index.ts';
import { PLUGIN_ID_PATTERN, type DiscoveryOptions, type InstanceStatus } from '../core/plugins/index.ts';
import { Counter, Registry } from 'prom-client';
import {
  deviceCommandsRef,
  deviceStatesRef,
  driversRef,
  ErrReadingsNotStored,
  onboardingRef,
  readingFeedRef,
  readingSinkRef,
  siteBrokerRef,
  siteCatalogRef,
  siteHubRef,
  clusterServicesRef,
  siteLoginsRef,
  siteMetricsRef,
  siteStorageRef,
  type ReadingSink,
} from '../core/sdk/index.ts';
import { deviceCommands, deviceStates, siteCatalog, siteLogins } from './site-api.ts';
import { createBridgeUplink, createMqttUplink, createRestUplink, openOutbox, startForwarder, TelemetryErrors, withSite, type Outbox, type OutboxStats } from '../core/telemetry/index.ts';
import { startTunnelEdge, type TunnelEdge, type TunnelEdgeStatus } from '../core/tunnel/index.ts';
import type { LiteApiserver, LiteApiserverOptions, LiteApiserverStatus } from '../core/lite-apiserver/index.ts';
import { clusterServices } from './cluster-services.ts';
import { ErrAgentDataDir, ErrAgentNoHub } from './errors.ts';
import type { SiteBrokerHandle } from './broker.ts';
import { BrokerLogins } from './broker-logins.ts';
import { DeviceManager, DriverTable, type DeviceRuntimeStatus } from './devices.ts';
import type { DevicesConfig } from './device-health.ts';
import { registerStateGauges } from './state-metrics.ts';
import { LocalState } from './local-state.ts';
import { startOnboardingReporter, type OnboardingReporter } from './onboarding.ts';
import { startAddonStatusReporter, type AddonStatusReporter } from './addon-status.ts';
import { PluginHost } from './plugin-host.ts';
import { ReadingFanout } from './reading-feed.ts';
import { StorageHealth, storageErrorCode } from './storage-health.ts';
import type { AgentReport } from '../core/store/index.ts';
import { SyncClient, type SyncStatus } from './sync-client.ts';
import { SiteHealth, type SiteHealthStatus } from './health.ts';

type AgentProblem = AgentReport['health']['problems'][number];

export interface SiteTunnelOptions {
  /** tunnel-cloud URL(s): `wss://hub:7443/api/v1/tunnel`. */
  url: string | readonly string[];
  /** This node's name (as joined). */
  node: string;
  /** PEM of the CA the hub's certificate must chain to. */
  ca?: string;
  /** `host:port` the cloud may open on this node (default: sshd and the kubelet on loopback). */
  allow?: readonly string[];
  backoff?: { initialMs: number; maxMs: number };
}

/** What the cloud may reach on a node unless its config says otherwise: sshd and the kubelet. */
export const DEFAULT_TUNNEL_ALLOW = ['127.0.0.1:22', '127.0.0.1:10250'] as const;

export interface SiteAgentOptions {
  site: string;
  /** The hub's URL; unused with `tunnel` (the hub is reached through it). */
  hubUrl?: string;
  /** Reach the hub through tunnel-edge; `token` must then be the node credential. */
  tunnel?: SiteTunnelOptions;
  /** The site's agent credential. Never logged. */
  token: string;
  dataDir: string;
  logger: Logger;
  /**
   * Site-local MQTT broker; false to run without one. Sessions of clients
   * connecting with clean = false are kept in `<dataDir>/broker.db` unless
   * `persistent` is false.
   */
  broker?: { host: string; port: number; persistent?: boolean } | false;
  /** Serve the agent's Prometheus metrics at `http://host:port/metrics` (loopback by default; off unless given). */
  metrics?: { host?: string; port: number };
  /**
   * REST to the hub, or MQTT to `url` (with `tunnel`, to the hub's MQTT ingest
   * through it; `url` is then unused), or a QoS 1 bridge to an external broker
   * (Mosquitto, EMQX, ...) instead of the hub.
   */
  uplink?:
    | { kind: 'rest' }
    | { kind: 'mqtt'; url?: string }
    | { kind: 'bridge'; url: string; username?: string; password?: string; topic?: string; clientId?: string };
  plugins?: DiscoveryOptions & { startTimeoutMs?: number; stopTimeoutMs?: number };
  outbox?: { maxBytes?: number; maxAgeMs?: number; sync?: 'normal' | 'full' };
  forwarder?: { batchSize?: number; maxDelayMs?: number; backoff?: { initialMs: number; maxMs: number } };
  syncBackoff?: { initialMs: number; maxMs: number };
  /** How often the agent's report goes to the hub besides when something changes (default 30 s). */
  reportEveryMs?: number;
  /** How devices are judged: `downAfterBadPolls` (default 3), the config's `devices` section. */
  devices?: Partial<DevicesConfig>;
  /**
   * A Kubernetes-mode node: run lite-apiserver (core/lite-apiserver) for the
   * node's kubelet, kube-proxy and pods, so they keep working while the cloud
   * is unreachable. Its state goes into the agent's report (`edgeadm node`).
   */
  liteApiserver?: Omit<LiteApiserverOptions, 'logger' | 'registry' | 'onStateChange'>;
  /**
   * This node's name when the agent runs without the tunnel (with it, the tunnel's `node`).
   * Distributed health needs it: without a node, the agent does not take part.
   */
  node?: string;
  /** Distributed health (sites/health.ts): where the gossip listener binds (default every address), key retry. */
  health?: { listenHost?: string; keyRetryMs?: number; keyRefreshMs?: number };
}

export interface SiteAgentStatus {
  site: string;
  /** Degraded while a store cannot write (full or failing disk) or the hub held readings of this agent's stream it never sent (the last hour). */
  health: { state: 'ok' | 'degraded'; problems: AgentProblem[] };
  sync: SyncStatus;
  outbox: OutboxStats;
  uplink: { sent: number; batches: number; failures: number; connected: boolean; lastError?: string };
  plugins: InstanceStatus[];
  devices: DeviceRuntimeStatus[];
  brokerUrl: string | undefined;
  broker?: ReturnType<SiteBrokerHandle['stats']>;
  onboarding?: ReturnType<OnboardingReporter['stats']>;
  metricsUrl?: string;
  tunnel?: TunnelEdgeStatus;
  /** The node's lite-apiserver, when it runs one; `failed` with the reason when it could not start. */
  liteApiserver?: LiteApiserverStatus | { state: 'failed'; error: string };
  /** Distributed health at this node, when the agent has a node. */
  nodeHealth?: SiteHealthStatus;
}

export interface SiteAgent {
  readonly kernel: Kernel;
  /** The agent's Prometheus registry (also what plugins register in). */
  readonly metrics: Registry;
  status(): SiteAgentStatus;
  /** Resolves once the outbox is empty (everything acknowledged by the hub) or the timeout passes. */
  drain(timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

/** Creates the data directory (mode 0700), or says which path failed and why. */
function prepareDataDir(dir: string): void {
  try {
    ensurePrivateDir(dir);
    accessSync(dir, fsConstants.R_OK | fsConstants.W_OK | fsConstants.X_OK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ErrAgentDataDir({ path: e.path ?? dir, errno: e.code ?? 'UNKNOWN', reason: e.message }, { cause: err });
  }
}

/** Opens one of the agent's SQLite files, naming the file and the cause when it cannot be opened. */
function openStore<T>(file: string, open: (file: string) => T): T {
  try {
    return open(file);
  } catch (err) {
    const code = storageErrorCode(err);
    if (code === undefined) throw err;
    throw new ErrAgentDataDir({ path: file, errno: code, reason: describeError(err) }, { cause: err });
  }
}

/** How long a stream the hub found already used shows as a problem of the agent. */
const STREAM_PROBLEM_MS = 60 * 60 * 1000;

export async function startSiteAgent(o: SiteAgentOptions): Promise<SiteAgent> {
  if (!o.tunnel && !o.hubUrl) throw new ErrAgentNoHub({ field: 'hubUrl or tunnel' });
  if (!o.tunnel && o.uplink?.kind === 'mqtt' && !o.uplink.url) throw new ErrAgentNoHub({ field: 'uplink.url (or tunnel)' });
  prepareDataDir(o.dataDir);
  const logger = o.logger.child({ site: o.site });
  const services = ServiceScope.root(`site '${o.site}'`);
  const kernel = new Kernel({ logger, version: EDGEADM_VERSION, services });
  const drivers = new DriverTable();

  let state!: LocalState;
  let outbox!: Outbox;
  let forwarder!: ReturnType<typeof startForwarder>;
  let sync!: SyncClient;
  let brokerUrl: string | undefined;
  let broker: SiteBrokerHandle | undefined;
  let logins: BrokerLogins | undefined;
  let onboarding!: OnboardingReporter;
  let addonStatus: AddonStatusReporter | undefined;
  let metricsUrl: string | undefined;
  let devicesReady = false;
  const metrics = new Registry();
  const storage = new StorageHealth();
  let notStoredCount = 0;
  let lite: LiteApiserver | undefined;
  /** Sends the report now; set once the sync session exists (the lite-apiserver starts before it). */
  let reportNow: (() => void) | undefined;
  let liteFailure: { code: string; message: string; since: string } | undefined;
  const nodeName = o.node ?? o.tunnel?.node;
  let nodeHealth: SiteHealth | undefined;
  /** The agent's problems: stores that cannot write, and a stream the hub found already used (the last hour). */
  const health = (): SiteAgentStatus['health'] => {
    const problems: AgentProblem[] = storage.problems().map((p) => ({ component: p.component, code: p.code, message: p.message, since: p.since }));
    const sp = forwarder.stats().lastStreamProblem;
    if (sp && Date.now() - Date.parse(sp.at) < STREAM_PROBLEM_MS) {
      problems.push({ component: 'telemetry', code: 'EDGE_ERR_TELEMETRY_STREAM_ROTATED', message: `${sp.reason}; a new stream was started`, since: sp.at });
    }
    if (liteFailure) problems.push({ component: 'lite-apiserver', ...liteFailure });
    const hp = nodeHealth?.problem();
    if (hp) problems.push(hp);
    return { state: problems.length > 0 ? 'degraded' : 'ok', problems };
  };
  const liteReport = (): AgentReport['liteApiserver'] => {
    if (liteFailure) return { state: 'failed', since: liteFailure.since, offlineSeconds: 0, outages: 0, cacheBytes: 0, cacheEntries: 0, hits: 0, misses: 0, lastError: liteFailure.message.slice(0, 1024) };
    if (!lite) return undefined;
    const l = lite.status();
    return {
      state: l.state,
      since: l.since,
      offlineSeconds: l.offlineSeconds,
      outages: l.outages,
      cacheBytes: l.cache.bytes,
      cacheEntries: l.cache.entries,
      hits: l.requests.cache + l.requests.local,
      misses: l.requests.miss,
      ...(l.lastError === undefined ? {} : { lastError: l.lastError.slice(0, 1024) }),
    };
  };
  // CPU is reported as the share of a core since the previous report.
  let cpuMark = { usage: process.cpuUsage(), at: performance.now() };
  const processReport = (): NonNullable<AgentReport['process']> => {
    const mark = { usage: process.cpuUsage(), at: performance.now() };
    const usedMs = (mark.usage.user - cpuMark.usage.user + mark.usage.system - cpuMark.usage.system) / 1000;
    const wallMs = mark.at - cpuMark.at;
    cpuMark = mark;
    const cpuPercent = wallMs > 0 ? Math.round((usedMs / wallMs) * 1000) / 10 : 0;
    return { rssBytes: process.memoryUsage.rss(), cpuPercent: Math.min(cpuPercent, 100_000) };
  };
  const report = (): AgentReport => {
    const st = outbox.stats();
    const streams = outbox.streams();
    const liteApiserver = liteReport();
    const verdicts = nodeHealth?.report();
    return {
      ...(liteApiserver === undefined ? {} : { liteApiserver }),
      ...(verdicts === undefined ? {} : { nodeHealth: verdicts }),
      health: health(),
      process: processReport(),
      telemetry: {
        stream: st.stream,
        streams: streams.map((x) => x.id).slice(-1000),
        firstSeq: streams[0]?.fromSeq ?? 1,
        lastSeq: st.lastSeq,
        ackedSeq: st.ackedSeq,
        pending: st.pending,
        droppedEver: st.droppedEver,
        notStored: notStoredCount,
      },
    };
  };
  const notStored = new Counter({
    name: 'edgeadm_readings_not_stored_total',
    help: 'Readings drivers produced that the site did not store, by reason: a storage failure code (full or failing disk; a push source is not acknowledged for them) or invalid (a driver bug).',
    labelNames: ['reason'],
    registers: [metrics],
  });
  let devices!: DeviceManager;
  let host!: PluginHost;
  let edge: TunnelEdge | undefined;
  /** Where the hub's API (and MQTT ingest) are: direct, or the tunnel's local forwards. */
  let hubUrl = o.hubUrl ?? '';
  let mqttUrl = o.uplink?.kind === 'mqtt' ? (o.uplink.url ?? '') : '';

  kernel.add({
    id: 'local-state',
    phase: 'store',
    start: (ctx) => {
      state = openStore(path.join(o.dataDir, 'replica.db'), (file) => new LocalState(file));
      ctx.onStop(() => state.close());
      logger.info({ resourceVersion: state.resourceVersion() }, 'replica opened');
    },
  });
  kernel.add({
    id: 'outbox',
    phase: 'store',
    start: (ctx) => {
      outbox = openStore(path.join(o.dataDir, 'outbox.db'), (file) => openOutbox({ file, site: o.site, logger: ctx.logger, metrics, ...(o.outbox ?? {}) }));
      ctx.onStop(() => outbox.close());
    },
  });
  const t = o.tunnel;
  if (t) {
    kernel.add({
      id: 'tunnel-edge',
      phase: 'tunnel',
      start: async (ctx) => {
        const started = startTunnelEdge({
          url: t.url,
          node: t.node,
          credential: o.token,
          allow: t.allow ?? DEFAULT_TUNNEL_ALLOW,
          logger: ctx.logger,
          forwards: [{ service: 'hub' }, ...(o.uplink?.kind === 'mqtt' ? [{ service: 'mqtt' }] : [])],
          ...(t.ca ? { tls: { ca: t.ca } } : {}),
          ...(t.backoff ? { backoff: t.backoff } : {}),
        });
        edge = started;
        ctx.onStop(() => started.stop());
        const api = await started.forwardAddress('hub');
        hubUrl = `http://${api.host}:${api.port}`;
        if (o.uplink?.kind === 'mqtt') {
          const m = await started.forwardAddress('mqtt');
          mqttUrl = `mqtt://${m.host}:${m.port}`;
        }
        ctx.logger.info({ hub: hubUrl }, 'the hub is reached through the tunnel');
      },
    });
  }
  const whenTunnelUp = (e: TunnelEdge) => (): Promise<void> => e.whenConnected();
  const liteOptions = o.liteApiserver;
  if (liteOptions) {
    kernel.add({
      id: 'lite-apiserver',
      phase: 'proxies',
      start: async (ctx) => {
        // Loaded only on a Kubernetes-mode node. A proxy that cannot start (a bad kubeconfig, an admin credential)
        // is the agent's reported problem, not the end of its telemetry.
        try {
          const { startLiteApiserver } = await import('../core/lite-apiserver/index.ts');
          // The hub hears of the node losing (or regaining) the cloud's API server at once, not at the next report.
          lite = await startLiteApiserver({ ...liteOptions, logger: ctx.logger, registry: metrics, onStateChange: () => reportNow?.() });
          const started = lite;
          ctx.onStop(() => started.close());
        } catch (err) {
          const info = toErrorInfo(err);
          liteFailure = { code: info.code, message: info.message, since: new Date().toISOString() };
          ctx.logger.error({ error: info }, 'lite-apiserver did not start');
        }
      },
    });
  }
  kernel.add({
    id: 'uplink',
    phase: 'proxies',
    start: (ctx) => {
      const u = o.uplink;
      const uplink =
        u?.kind === 'bridge'
          ? createBridgeUplink({
              site: o.site,
              url: u.url,
              logger: ctx.logger,
              ...(u.username === undefined ? {} : { username: u.username }),
              ...(u.password === undefined ? {} : { password: u.password }),
              ...(u.topic === undefined ? {} : { topic: u.topic }),
              ...(u.clientId === undefined ? {} : { clientId: u.clientId }),
            })
          : u?.kind === 'mqtt'
            ? createMqttUplink({ url: mqttUrl, token: o.token, site: o.site })
            : createRestUplink({
                url: hubUrl,
                token: o.token,
                site: o.site,
                // Through the tunnel, a batch waits for its session rather than failing against a forward that is down.
                ...(edge ? { whenReachable: whenTunnelUp(edge) } : {}),
              });
      forwarder = startForwarder({ outbox, uplink, logger: ctx.logger, metrics, ...(o.forwarder ?? {}) });
      ctx.onStop(async () => {
        await forwarder.stop();
        await uplink.close();
      });
    },
  });
  if (o.broker !== false) {
    const b = o.broker ?? { host: '127.0.0.1', port: 1883 };
    kernel.add({
      id: 'broker',
      phase: 'proxies',
      start: async (ctx) => {
        const found = new BrokerLogins({
          site: o.site,
          state,
          deviceView: (name) => devices?.deviceView(name),
          devicesReady: () => devicesReady,
        });
        logins = found;
        // The broker (aedes and its persistence) is loaded only by agents that run one.
        const { startSiteBroker } = await import('./broker.ts');
        const handle = await startSiteBroker({
          host: b.host,
          port: b.port,
          logger: ctx.logger,
          lookup: (username) => found.lookup(username),
          metrics,
          storage,
          ...(b.persistent === false ? {} : { persistenceFile: path.join(o.dataDir, 'broker.db') }),
        });
        broker = handle;
        brokerUrl = handle.url;
        ctx.onStop(() => handle.close());
        ctx.logger.info({ url: handle.url }, 'site broker listening');
      },
    });
  }
  const m = o.metrics;
  if (m) {
    kernel.add({
      id: 'metrics',
      phase: 'proxies',
      start: async (ctx) => {
        const server = await startMetricsServer({ ...(m.host === undefined ? {} : { host: m.host }), port: m.port, metrics });
        metricsUrl = `${server.url}/metrics`;
        ctx.onStop(() => server.close());
        ctx.logger.info({ url: metricsUrl }, 'agent metrics served');
      },
    });
  }
  kernel.add({
    id: 'onboarding',
    phase: 'proxies',
    start: (ctx) => {
      onboarding = startOnboardingReporter({ site: o.site, state, hubUrl: () => hubUrl, token: o.token, logger: ctx.logger });
      ctx.onStop(() => onboarding.stop());
    },
  });
  /** After the replica or the drivers changed: devices first, then the broker re-judges open logins. */
  const reconcileAll = async (): Promise<void> => {
    void nodeHealth?.reconcile();
    // Logins first: a credential that arrives with an Addon is usable once the plugin runs.
    logins?.rebuild();
    await host.reconcile();
    addonStatus?.kick();
    await devices.reconcile();
    logins?.rebuild();
    broker?.refresh();
  };
  const feed = new ReadingFanout(logger.child({ component: 'reading-feed' }));
  const sink: ReadingSink = {
    append(readings) {
      try {
        const stamped = withSite(readings, o.site);
        const at = outbox.append(stamped);
        // Everything the append took, numbered, also what the outbox's bounds dropped at once (an origin past the age bound).
        if (feed.listening) feed.publish(stamped.map((r, i) => ({ ...r, seq: at.firstSeq + i })));
      } catch (err) {
        if (TelemetryErrors.ErrInvalid.is(err)) {
          // A driver bug: the readings do not fit the Reading contract. Counted here, reported by the device manager.
          notStored.inc({ reason: 'invalid' }, readings.length);
          throw err;
        }
        const code = storageErrorCode(err);
        if (code === undefined) throw err;
        storage.failed('outbox', err);
        const device = readings[0]?.device;
        notStored.inc({ reason: code }, readings.length);
        notStoredCount += readings.length;
        throw new ErrReadingsNotStored({ count: readings.length, ...(device === undefined ? {} : { device }), reason: describeError(err) }, { cause: err });
      }
      storage.ok('outbox');
      forwarder.notify();
    },
  };
  services.provide(driversRef, drivers);
  services.provide(readingSinkRef, sink);
  services.provide(readingFeedRef, feed);
  services.provide(siteBrokerRef, {
    get url() {
      if (!brokerUrl) throw new Error('this site runs without a broker');
      return brokerUrl;
    },
    get credentials() {
      if (!broker) throw new Error('this site runs without a broker');
      return broker.credentials;
    },
  });
  services.provide(onboardingRef, { propose: (a) => onboarding.propose(a) });
  services.provide(siteMetricsRef, metrics);
  // Read-only on resources: the catalog and logins read the replica; commands run as the hub's do.
  services.provide(siteCatalogRef, siteCatalog(o.site, () => state));
  services.provide(siteLoginsRef, siteLogins(o.site, () => state));
  services.provide(deviceCommandsRef, deviceCommands(() => (cmd, opts) => devices.execute(cmd, opts)));
  services.provide(deviceStatesRef, deviceStates(() => (name) => devices.status(name)));
  // For forwarding a caller's request with the caller's token: the agent's own token never goes with it.
  services.provide(siteHubRef, { url: () => (hubUrl === '' ? undefined : hubUrl) });
  services.provide(clusterServicesRef, clusterServices(() => (lite === undefined ? undefined : (path) => lite!.nodeGet(path))));
  services.provide(siteStorageRef, {
    dir(pluginId) {
      // A plugin id is safe as a folder name: lowercase parts joined by single '.' or '-'.
      if (!new RegExp(PLUGIN_ID_PATTERN).test(pluginId)) throw new Error(`'${pluginId}' is not a plugin id`);
      const dir = path.join(o.dataDir, 'plugins', pluginId);
      ensurePrivateDir(dir);
      return dir;
    },
  });
  kernel.add({
    id: 'plugins',
    phase: 'plugins',
    start: async (ctx) => {
      // A device that comes up (or fails) on a later retry is reported at once.
      devices = new DeviceManager({
        site: o.site,
        state,
        drivers,
        sink,
        logger: logger.child({ component: 'devices' }),
        onReconciled: () => addonStatus?.kick(),
        onStatus: () => addonStatus?.kick(),
        ...(o.devices?.downAfterBadPolls === undefined ? {} : { downAfterBadPolls: o.devices.downAfterBadPolls }),
      });
      host = new PluginHost({
        site: o.site,
        state,
        logger,
        version: EDGEADM_VERSION,
        services,
        discovery: o.plugins ?? {},
        ...(o.plugins?.startTimeoutMs === undefined ? {} : { startTimeoutMs: o.plugins.startTimeoutMs }),
        ...(o.plugins?.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: o.plugins.stopTimeoutMs }),
        onStatus: () => addonStatus?.kick(),
      });
      const offDrivers = drivers.onChange(() => {
        void devices.reconcile().then(() => {
          logins?.rebuild();
          broker?.refresh();
        });
      });
      ctx.onStop(async () => {
        offDrivers();
        await devices.stop();
        await host.stop();
      });
      const reporter = startAddonStatusReporter({
        site: o.site,
        state,
        instances: () => host.status(),
        conflicts: () => host.selection().conflicts,
        appliedGeneration: (addon) => host.appliedGeneration(addon),
        devices: () => devices.statuses(),
        // The sync session starts after the plugins phase: none yet until then.
        session: () => (sync as SyncClient | undefined)?.status().connects ?? 0,
        hubUrl: () => hubUrl,
        token: o.token,
        logger: ctx.logger,
      });
      addonStatus = reporter;
      registerStateGauges(metrics, { instances: () => host.status(), devices: () => devices.statuses() });
      ctx.onStop(() => reporter.stop());
      // Local state first: the site runs what it ran before, hub or no hub.
      await host.reconcile();
      reporter.kick();
      await devices.reconcile();
      devicesReady = true;
      logins?.rebuild();
      broker?.refresh();
    },
  });
  if (nodeName !== undefined) {
    const node = nodeName;
    kernel.add({
      id: 'health',
      phase: 'controllers',
      start: (ctx) => {
        const h = new SiteHealth({
          site: o.site,
          node,
          dataDir: o.dataDir,
          state: () => state,
          hubUrl: () => hubUrl,
          token: o.token,
          logger: ctx.logger,
          onChange: () => reportNow?.(),
          ...(o.health?.listenHost === undefined ? {} : { listenHost: o.health.listenHost }),
          ...(o.health?.keyRetryMs === undefined ? {} : { keyRetryMs: o.health.keyRetryMs }),
          ...(o.health?.keyRefreshMs === undefined ? {} : { keyRefreshMs: o.health.keyRefreshMs }),
        });
        nodeHealth = h;
        ctx.onStop(() => h.stop());
        // From local state: the node votes with its peers whether or not the hub answers.
        void h.reconcile();
      },
    });
  }
  kernel.add({
    id: 'sync',
    phase: 'controllers',
    start: (ctx) => {
      sync = new SyncClient({
        hubUrl,
        token: o.token,
        site: o.site,
        agentVersion: EDGEADM_VERSION,
        state,
        logger: ctx.logger,
        storage,
        report,
        ...(o.syncBackoff ? { backoff: o.syncBackoff } : {}),
        ...(o.reportEveryMs === undefined ? {} : { reportEveryMs: o.reportEveryMs }),
        onChange: () => {
          void reconcileAll();
        },
        onCommand: async (cmd) => {
          // Act on the replica as it now stands: plugins and devices first catch up with it.
          await reconcileAll();
          return devices.execute(cmd);
        },
      });
      // The hub hears of a store starting or stopping to fail at once, not at the next report.
      const offStorage = storage.onChange(() => sync.reportNow());
      reportNow = () => sync.reportNow();
      ctx.onStop(async () => {
        offStorage();
        await sync.stop();
      });
    },
  });
  await kernel.start();
  // The session starts once plugins and devices run from local state.
  sync.start();

  return {
    kernel,
    metrics,
    status: () => ({
      site: o.site,
      health: health(),
      sync: sync.status(),
      outbox: outbox.stats(),
      uplink: forwarder.stats(),
      plugins: host.status(),
      devices: devices.statuses(),
      brokerUrl,
      ...(broker ? { broker: broker.stats() } : {}),
      onboarding: onboarding.stats(),
      ...(metricsUrl ? { metricsUrl } : {}),
      ...(edge ? { tunnel: edge.status() } : {}),
      ...(lite ? { liteApiserver: lite.status() } : liteFailure ? { liteApiserver: { state: 'failed' as const, error: liteFailure.message } } : {}),
      ...(nodeHealth ? { nodeHealth: nodeHealth.status() } : {}),
    }),
    async drain(timeoutMs) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        if (outbox.stats().pending === 0) return true;
        await new Promise((r) => setTimeout(r, 20));
      }
      return outbox.stats().pending === 0;
    },
    stop: () => kernel.stop(),
  };
}
