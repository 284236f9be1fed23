/**
 * The embedded hub: one process with the resource store (SQLite, or
 * Kubernetes custom resources with `store: { kind: 'kube' }`), the
 * telemetry store, tokens and commands, the HTTP API, the sync sessions of the
 * site agents and, optionally, the MQTT telemetry ingest. On first start in a
 * data directory it creates an admin token and writes it to `admin.token`
 * (mode 0600): there is no built-in credential.
 *
 * The hub also runs tunnel-cloud (edges dial `/api/v1/tunnel`) and, with
 * `tls`, serves HTTPS with a certificate from its own CA (`<dataDir>/pki`,
 * created on first start); joining nodes receive that CA.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { EDGEADM_VERSION, ensurePrivateDir, Kernel, ServiceScope, toErrorInfo, type Logger } from '../kernel/index.ts';
import { issueCertificate, loadOrCreateHubPki, type KeyPairPem } from '../pki/index.ts';
import type { Resource } from '../store/index.ts';
import { openKubeStore, openPostgresStore, openSqliteStore, type KubeStoreOptions, type ResourceStore } from '../store/index.ts';
import { openPostgresTelemetryStore, openTelemetryStore, startMqttIngest, startTelemetryExport, type TelemetryExportOptions, type TelemetryStore } from '../telemetry/index.ts';
import { buildHubApp } from './app.ts';
import type { HubModule } from './context.ts';
import { openCommandQueue, type CommandQueue } from './commands.ts';
import { DeviceCatalog } from './device-catalog.ts';
import { ErrHubOptions } from './errors.ts';
import { openTokenStore, producerOf, writeAdminTokenFile, type TokenStore } from './tokens.ts';
import { ensureSharedAdminToken, openKubeTokenStore, sharedPeerCredential } from './tokens-kube.ts';
import { installHubCrds, openKubeCommandQueue } from './commands-kube.ts';
import { openFileHealthKeyStore, openKubeHealthKeyStore, type HealthKeyStore } from './health-keys.ts';
import { kubeNodeAnnotator, type NodeAnnotator } from './node-health.ts';
import { startAddonGridController } from '../grid/index.ts';
import type { PluginDefinition } from '../plugins/index.ts';
import type { PluginCatalogSource } from './plugin-catalog.ts';
import { createHubTunnel, PEER_PATH, TUNNEL_PATH, type HubTunnel, type UpgradeHandler } from './tunnel.ts';

export interface StartHubOptions {
  dataDir: string;
  /** Sync session ping period (ms): a site silent for a period after a ping turns Offline. Default 15 s. */
  syncHeartbeatMs?: number;
  host?: string;
  port?: number;
  logger: Logger;
  /** Also accept telemetry over MQTT on this port (0 = any free port). */
  mqttPort?: number;
  /**
   * Serve HTTPS (and the tunnel as wss://) with a certificate from the hub's
   * CA in `dir` (default `<dataDir>/pki`), valid for `hosts` (default: the
   * listen host, 127.0.0.1, ::1, localhost and this machine's hostname).
   */
  tls?: boolean | { dir?: string; hosts?: string[] };
  /** Name of this tunnel-cloud replica (default `hub`). */
  replica?: string;
  /**
   * The URL other replicas reach this one at (`wss://this-host:7443/api/v1/tunnel/peer`);
   * default: derived from the listen address. Replicas share the data
   * directory's store and its `peer.token`.
   */
  peerUrl?: string;
  /** How long a node's lease lasts without renewal (default 30 s). */
  leaseDurationSeconds?: number;
  /** More upgrade paths to serve beside the tunnel (e.g. replica peer requests). */
  upgrades?: Record<string, UpgradeHandler>;
  /**
   * The tunnel's HTTP proxy: CONNECT (kube-apiserver's EgressSelector
   * `HTTPConnect`) and absolute-URI requests, both addressing nodes by name or
   * by an address in their Node `spec.addresses`. Callers authenticate with an
   * admin token (Proxy-Authorization) or, with TLS, a client certificate from
   * the hub's CA (`pki/egress-client.crt` is made for kube-apiserver).
   */
  proxy?: { port: number; host?: string };
  /** Modules that serve routes of their own: the web console (core/console's `createConsole()`). */
  modules?: readonly HubModule[];
  /**
   * Where resources live: `sqlite` (default, `<dataDir>/resources.db`) or
   * `kube` (custom resources in `namespace`, core/store's kube driver).
   * With `kube`, tokens, bootstrap tokens and commands live there too (Secrets
   * and Command custom resources, shared by every replica on the namespace,
   * as is the replicas' peer credential); telemetry is `telemetry`'s.
   */
  store?: { kind: 'sqlite' } | ({ kind: 'kube' } & Omit<KubeStoreOptions, 'logger'>);
  /**
   * Where readings live: `sqlite` (default, `<dataDir>/telemetry.db`, one
   * hub) or `postgres` (a PostgreSQL database several hub replicas share;
   * core/telemetry's postgres driver), with its retention in days.
   */
  telemetry?: { kind: 'sqlite' } | { kind: 'postgres'; url: string; retentionDays?: number };
  /**
   * Where resources, tokens, bootstrap tokens, commands, console sessions,
   * the health key and the replicas' peer credential live: `postgres` (a
   * database every replica shares, wherever it runs: any replica answers
   * any request, a command reaches the replica holding its site's session,
   * a console login works on all) or, by default, the store's (the data
   * directory's files; the cluster with `kube`). Not with a `kube` store,
   * which keeps them in its namespace.
   */
  state?: { kind: 'postgres'; url: string };
  /** Publish every stored reading to this MQTT broker (core/telemetry's export: QoS 1, a durable cursor). Replicas given the same export run it one at a time (the telemetry store's export lease). */
  export?: Omit<TelemetryExportOptions, 'store' | 'metrics' | 'logger'>;
  /**
   * The plugins this hub knows, by id. With the kube store, an Addon whose
   * plugin declares `workloads` runs at its sites as grids (core/grid's
   * addon controller: a NodeUnit per Site, a NodeGroup and grids per Addon)
   * instead of in the site agents. Without it, or on SQLite, every Addon
   * runs in the site agents.
   */
  plugins?: (id: string) => PluginDefinition | undefined;
  /**
   * The plugins installed where the hub runs, for `GET /api/v1/plugins` and
   * the check of Device protocol blocks (core/hub/plugin-catalog.ts); loaded
   * on first use. Without it the list is empty and nothing is checked.
   */
  pluginCatalog?: PluginCatalogSource;
}

export interface Hub {
  readonly url: string;
  /** The tunnel's HTTP(S) proxy, when enabled. */
  readonly proxyUrl: string | undefined;
  /** ws(s):// URL edges dial. */
  readonly tunnelUrl: string;
  /** PEM and file of the hub's CA, with TLS. */
  readonly caCert: string | undefined;
  readonly caFile: string | undefined;
  readonly tunnel: HubTunnel;
  readonly mqttUrl: string | undefined;
  readonly adminTokenFile: string;
  readonly store: ResourceStore;
  readonly telemetry: TelemetryStore;
  readonly tokens: TokenStore;
  readonly commands: CommandQueue;
  /** The cluster's health key (core/hub/health-keys.ts). */
  readonly healthKeys: HealthKeyStore;
  readonly metrics: Registry;
  /** Stops everything in reverse start order; a second call waits for the first. */
  close(): Promise<void>;
}

type HubPki = Awaited<ReturnType<typeof loadOrCreateHubPki>>;

export async function startHub(o: StartHubOptions): Promise<Hub> {
  ensurePrivateDir(o.dataDir);
  const logger = o.logger;
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  // The hub's parts start in the kernel's phases and stop in reverse, once, within its shutdown budget.
  const kernel = new Kernel({ logger, version: EDGEADM_VERSION, services: ServiceScope.root('hub') });
  let parts:
    | { store: ResourceStore; telemetry: TelemetryStore; tokens: TokenStore; commands: CommandQueue; healthKeys: HealthKeyStore; annotateNode: NodeAnnotator | undefined; adminTokenFile: string; pki: HubPki | undefined }
    | undefined;
  let ingest: Awaited<ReturnType<typeof startMqttIngest>> | undefined;
  let served: { url: string; tunnelUrl: string; proxyUrl: string | undefined; tunnel: HubTunnel } | undefined;
  const host = o.host ?? '127.0.0.1';

  if (o.state?.kind === 'postgres' && o.store?.kind === 'kube') {
    throw new ErrHubOptions({ option: 'state', reason: "is the cluster's with a kube store: give PostgreSQL state or a kube store, not both" });
  }

  kernel.add({
    id: 'hub-stores',
    phase: 'store',
    async start(ctx) {
      const kube = o.store?.kind === 'kube' ? o.store : undefined;
      const store = kube
        ? await openKubeStore({ ...kube, logger: logger.child({ component: 'kube-store' }) })
        : o.state?.kind === 'postgres'
          ? await openPostgresStore({ url: o.state.url, logger: logger.child({ component: 'resource-store' }) })
          : openSqliteStore({ file: path.join(o.dataDir, 'resources.db') });
      ctx.onStop(() => store.close());
      const pgTelemetry = o.telemetry?.kind === 'postgres' ? o.telemetry : undefined;
      const telemetry = pgTelemetry
        ? await openPostgresTelemetryStore({
            url: pgTelemetry.url,
            ...(pgTelemetry.retentionDays === undefined ? {} : { retentionDays: pgTelemetry.retentionDays }),
            metrics,
            logger,
          })
        : openTelemetryStore({ file: path.join(o.dataDir, 'telemetry.db'), metrics, logger });
      ctx.onStop(() => telemetry.close());
      let tokens: TokenStore;
      let commands: CommandQueue;
      let healthKeys: HealthKeyStore = openFileHealthKeyStore(o.dataDir);
      let annotateNode: NodeAnnotator | undefined;
      const adminTokenFile = path.join(o.dataDir, 'admin.token');
      if (kube?.installCrds === true) await installHubCrds(kube.kubeConfig);
      if (o.state?.kind === 'postgres') {
        // Shared by every replica on the database (see tokens-postgres.ts and commands-postgres.ts).
        const [{ openPostgresTokenStore }, { openPostgresCommandQueue }] = await Promise.all([import('./tokens-postgres.ts'), import('./commands-postgres.ts')]);
        const t = await openPostgresTokenStore({ url: o.state.url, logger });
        ctx.onStop(() => t.close());
        const c = await openPostgresCommandQueue({ url: o.state.url, logger });
        ctx.onStop(() => c.close());
        tokens = t;
        commands = c;
        const { openPostgresHealthKeyStore } = await import('./hub-secrets-postgres.ts');
        const k = await openPostgresHealthKeyStore({ url: o.state.url, logger });
        ctx.onStop(() => k.close());
        healthKeys = k;
      } else if (kube) {
        // Shared by every replica on the namespace (see tokens-kube.ts and commands-kube.ts).
        const kubeLog = logger.child({ component: 'kube-state' });
        const t = await openKubeTokenStore({ kubeConfig: kube.kubeConfig, namespace: kube.namespace, logger: kubeLog });
        ctx.onStop(() => t.close());
        const c = await openKubeCommandQueue({ kubeConfig: kube.kubeConfig, namespace: kube.namespace, logger: kubeLog });
        ctx.onStop(() => c.close());
        tokens = t;
        commands = c;
      } else {
        const t = openTokenStore({ file: path.join(o.dataDir, 'tokens.db') });
        ctx.onStop(() => t.close());
        const c = openCommandQueue({ file: path.join(o.dataDir, 'commands.db') });
        ctx.onStop(() => c.close());
        tokens = t;
        commands = c;
      }
      if (kube) {
        const kubeLog = logger.child({ component: 'kube-state' });
        const k = await openKubeHealthKeyStore({ kubeConfig: kube.kubeConfig, namespace: kube.namespace });
        ctx.onStop(() => k.close());
        healthKeys = k;
        const a = await kubeNodeAnnotator(kube.kubeConfig, kubeLog);
        ctx.onStop(() => a.close());
        annotateNode = a.annotate;
        await ensureSharedAdminToken({ kubeConfig: kube.kubeConfig, namespace: kube.namespace, tokens, file: adminTokenFile, logger });
      } else {
        // Each replica's own file: a replica with none (or a stale one) makes its own admin token (several replicas on one database each have theirs, each revocable).
        if (!existsSync(adminTokenFile) || !(await tokens.verify(readFileSync(adminTokenFile, 'utf8').trim()))) {
          if ((await tokens.list()).some((x) => x.role === 'admin') && existsSync(adminTokenFile)) {
            logger.warn({ file: adminTokenFile }, 'admin.token no longer verifies; creating a new admin token');
          }
          const created = await tokens.create({ role: 'admin', description: 'created at first hub start' });
          writeAdminTokenFile(adminTokenFile, created.token);
          logger.info({ file: adminTokenFile }, 'admin token written');
        }
      }
      let pki: HubPki | undefined;
      if (o.tls) {
        const t = o.tls === true ? {} : o.tls;
        const hosts = t.hosts ?? [...new Set([host, '127.0.0.1', '::1', 'localhost', hostname()].filter((h) => h !== '0.0.0.0' && h !== '::'))];
        pki = await loadOrCreateHubPki(t.dir ?? path.join(o.dataDir, 'pki'), { hosts, logger });
      }
      parts = { store, telemetry, tokens, commands, healthKeys, annotateNode, adminTokenFile, pki };
    },
  });

  if (o.export !== undefined) {
    const ex = o.export;
    kernel.add({
      id: 'telemetry-export',
      phase: 'proxies',
      async start(ctx) {
        const started = await startTelemetryExport({ ...ex, store: parts!.telemetry, metrics, logger });
        ctx.onStop(() => started.stop());
      },
    });
  }

  // One cache of devices and resources for both ingest paths (REST and MQTT).
  let catalog: DeviceCatalog | undefined;
  if (o.mqttPort !== undefined) {
    const mqttPort = o.mqttPort;
    kernel.add({
      id: 'mqtt-ingest',
      phase: 'proxies',
      async start(ctx) {
        const { telemetry, tokens, store } = parts!;
        catalog ??= new DeviceCatalog(store);
        const c = catalog;
        const started = await startMqttIngest({
          port: mqttPort,
          host,
          store: telemetry,
          logger,
          authenticate: async (username, password) => {
            const p = await tokens.verify(password);
            return p && p.role === 'agent' && p.site === username ? { site: p.site, producer: producerOf(p) } : undefined;
          },
          classifier: (site, readings) => c.classifier(site, readings),
        });
        ingest = started;
        ctx.onStop(() => started.close());
      },
    });
  }

  const kubeStore = o.store?.kind === 'kube' ? o.store : undefined;
  const plugins = o.plugins;
  if (kubeStore !== undefined && plugins !== undefined) {
    kernel.add({
      id: 'addon-grids',
      phase: 'controllers',
      async start(ctx) {
        const log = logger.child({ component: 'addon-grids' });
        try {
          const c = await startAddonGridController({ kubeConfig: kubeStore.kubeConfig, namespace: kubeStore.namespace, plugin: plugins, logger: log, metrics });
          ctx.onStop(() => c.close());
        } catch (err) {
          // The hub serves without it: Addons then run in the site agents, as on SQLite.
          log.error({ error: toErrorInfo(err) }, 'the addon grid controller did not start (are the grid CRDs installed? edgeadm manifests crds): Addons run in the site agents');
        }
      },
    });
  }

  kernel.add({
    id: 'hub-api',
    phase: 'controllers',
    async start(ctx) {
      const { store, telemetry, tokens, commands, healthKeys, annotateNode, pki } = parts!;
      catalog ??= new DeviceCatalog(store);
      // Replicas on one namespace or database share no data directory: their peer credential is kept there.
      const peer =
        o.store?.kind === 'kube'
          ? await sharedPeerCredential(o.store.kubeConfig, o.store.namespace)
          : o.state?.kind === 'postgres'
            ? await (await import('./hub-secrets-postgres.ts')).postgresPeerCredential({ url: o.state.url, logger })
            : peerCredential(o.dataDir);
      const tunnel = createHubTunnel({
        tokens,
        store,
        logger,
        metrics,
        peer: { credential: peer, ...(pki ? { tls: { ca: pki.ca.certPem } } : {}) },
        ...(o.leaseDurationSeconds ? { leaseDurationSeconds: o.leaseDurationSeconds } : {}),
        replica: o.replica ?? 'hub',
        ...(ingest ? { mqtt: { host, port: ingest.port } } : {}),
      });
      const app = buildHubApp({
        store,
        telemetry,
        tokens,
        commands,
        healthKeys,
        ...(annotateNode ? { annotateNode } : {}),
        catalog,
        logger,
        metrics,
        tunnel: { open: (node, target) => tunnel.open(node, target), path: TUNNEL_PATH },
        ...(pki ? { caCert: pki.ca.certPem, https: { cert: pki.server.certPem, key: pki.server.keyPem } } : {}),
        ...(o.syncHeartbeatMs === undefined ? {} : { sync: { heartbeatMs: o.syncHeartbeatMs } }),
        ...(o.modules ? { modules: o.modules } : {}),
        ...(o.pluginCatalog ? { pluginCatalog: o.pluginCatalog } : {}),
      });
      ctx.onStop(() => app.close());
      let proxyUrl: string | undefined;
      if (o.proxy) {
        const { startTunnelProxy, proxyCredential } = await import('../tunnel/index.ts');
        let egress: { certFile: string; keyFile: string } | undefined;
        if (pki) egress = await ensureEgressClientCert(pki.dir, pki.ca);
        const proxy = await startTunnelProxy({
          host: o.proxy.host ?? host,
          port: o.proxy.port,
          logger,
          ...(pki ? { tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem, requestClientCert: true } } : {}),
          authorize: async ({ proxyAuthorization, clientCertCommonName }) => {
            if (clientCertCommonName) return `cert:${clientCertCommonName}`;
            const p = await tokens.verify(proxyCredential(proxyAuthorization) ?? '');
            return p?.role === 'admin' ? `token:${p.tokenId}` : undefined;
          },
          route: async (target, port) => {
            const nodes = await store.list<Resource<{ addresses?: string[] }>>('Node');
            const byName = nodes.items.find((n) => n.metadata.name === target);
            if (byName) return { node: byName.metadata.name, host: '127.0.0.1', port };
            const byAddress = nodes.items.find((n) => n.spec.addresses?.includes(target));
            return byAddress ? { node: byAddress.metadata.name, host: target, port } : undefined;
          },
          open: (node, target) => tunnel.open(node, target),
        });
        proxyUrl = proxy.url;
        ctx.onStop(() => proxy.close());
        logger.info({ url: proxy.url, egressClientCert: egress?.certFile }, 'tunnel proxy listening');
      }
      // Stops before the HTTP server: edge sessions are upgraded sockets app.close would wait for.
      ctx.onStop(() => tunnel.close());
      await app.ready();
      tunnel.mount(app, o.upgrades);
      await app.listen({ host, port: o.port ?? 7443 });
      const addr = app.server.address() as AddressInfo;
      const url = `${pki ? 'https' : 'http'}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
      const tunnelUrl = `${url.replace(/^http/, 'ws')}${TUNNEL_PATH}`;
      tunnel.route(o.peerUrl ?? `${url.replace(/^http/, 'ws')}${PEER_PATH}`);
      served = { url, tunnelUrl, proxyUrl, tunnel };
    },
  });

  // A failed start has already stopped what had started (the kernel does it) and throws the coded reason.
  await kernel.start();
  const { store, telemetry, tokens, commands, healthKeys, adminTokenFile, pki } = parts!;
  const { url, tunnelUrl, proxyUrl, tunnel } = served!;
  const mqttUrl = ingest ? `mqtt://${host}:${ingest.port}` : undefined;
  logger.info({ url, tunnelUrl, mqttUrl, tls: Boolean(pki) }, 'hub listening');
  return {
    url,
    proxyUrl,
    tunnelUrl,
    caCert: pki?.ca.certPem,
    caFile: pki?.caFile,
    tunnel,
    mqttUrl,
    adminTokenFile,
    store,
    telemetry,
    tokens,
    commands,
    healthKeys,
    metrics,
    close: () => kernel.stop(),
  };
}

/** The client certificate kube-apiserver presents to the tunnel proxy (EgressSelector over mTLS); made once. */
async function ensureEgressClientCert(dir: string, ca: KeyPairPem): Promise<{ certFile: string; keyFile: string }> {
  const certFile = path.join(dir, 'egress-client.crt');
  const keyFile = path.join(dir, 'egress-client.key');
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    const c = await issueCertificate(ca, { commonName: 'kube-apiserver-egress', usage: 'client' });
    writeFileSync(keyFile, c.keyPem, { mode: 0o600 });
    writeFileSync(certFile, c.certPem);
  }
  return { certFile, keyFile };
}

/** The secret replicas of one hub present to each other; made once, kept beside the store they share. */
function peerCredential(dataDir: string): string {
  const file = path.join(dataDir, 'peer.token');
  try {
    writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another replica (or an earlier start) made it first.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return readFileSync(file, 'utf8').trim();
}
