/** `edgeadm hub run`: the embedded hub in the foreground (resources in SQLite, or with --kubeconfig in a cluster). */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { dns1123LabelProblem } from '../core/store/index.ts';
import { HUB_RUN_ENV } from './config.ts';
import { contextOf, listening, parsePort } from './context.ts';
import { ErrUsage } from './errors.ts';
import { caCertHash } from '../core/pki/pin.ts';
import { loadRegistry, pluginCatalogSource } from './plugin.ts';
import { waitForSignal } from './signals.ts';
import { examples, summary } from './commands.ts';

export function registerHub(program: Command): void {
  const group = program.command('hub').description(summary('hub'));
  examples(group, ['edgeadm hub run --data-dir /var/lib/edgeadm/hub']);
  const run = group
    .command('run')
    .description('Run the hub in the foreground until Ctrl-C: embedded on SQLite, or a replica sharing PostgreSQL (--telemetry, --state) or a cluster (--kubeconfig)')
    .option('--data-dir <dir>', 'where the hub keeps its databases and admin.token', '.data/hub')
    .option('--host <address>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'HTTP port', '7443')
    .option('--mqtt-port <port>', 'also accept telemetry over MQTT on this port')
    .option('--proxy-port <port>', "run the tunnel's HTTP proxy here: CONNECT for kube-apiserver's egress selector, and absolute-URI requests to nodes")
    .option('--replica <name>', 'this process is hub replica <name> (replicas share one --data-dir, --state database or --kubeconfig namespace)', 'hub')
    .option('--peer-url <url>', 'where other replicas reach this one (default: wss://<listen address>/api/v1/tunnel/peer)')
    .option('--no-tls', 'serve plain HTTP (loopback only: nodes would send their credentials in the clear)')
    .option('--tls-host <name...>', 'extra DNS names or addresses for the hub certificate (nodes dial one of them)')
    .option('--no-console', 'do not serve the web console (the API only)')
    .option('--kubeconfig <file>', "keep the hub's resources (Sites, Devices, Addons, ...), tokens and commands in this cluster (custom resources and Secrets) instead of the data directory's SQLite files; 'in-cluster' uses the pod's ServiceAccount")
    .option('--namespace <ns>', "with --kubeconfig: the namespace of those resources (it must exist, and be the hub's alone)", 'edgeadm')
    .option('--install-crds', 'with --kubeconfig: create or update the CRDs of the edgeadm.io kinds and of the grid (NodeUnit, NodeGroup, DeploymentGrid, ...) first (needs the right to write CustomResourceDefinitions)')
    .option('--telemetry <store>', `where readings live: sqlite (the data directory's file, one hub) or a postgres:// URL several hub replicas share (default: $${TELEMETRY_ENV}, else sqlite; prefer the variable: arguments show in the process list)`)
    .option('--state <url>', `keep resources, tokens, commands and console sessions in this PostgreSQL database (postgres://...), which every replica shares wherever it runs (default: $${STATE_ENV}, else the data directory's files)`)
    .option('--telemetry-retention <days>', 'with a postgres telemetry store: keep readings this many days (whole days are dropped)')
    .option('--export <url>', `publish every stored reading to this MQTT broker, mqtt:// or mqtts:// with its login in the URL (default: $${EXPORT_ENV}; prefer the variable); replicas given the same one export one at a time`)
    .option('--export-topic <template>', `the export topic: {site}, {device}, {profile}, {resource} (default: ${DEFAULT_EXPORT_TOPIC}; not with sparkplug, whose topics are Sparkplug's)`)
    .addOption(
      new Option('--export-format <format>', "the export payload: the platform's reading as JSON, an EdgeX v3 event, or Sparkplug B (each site an edge node, for Ignition and other Sparkplug hosts)")
        .choices(EXPORT_FORMATS)
        .default('json'),
    )
    .option('--export-group <group>', `with --export-format sparkplug: the Sparkplug group_id (default: ${DEFAULT_EXPORT_GROUP})`)
    .option('--export-ca <file>', "with mqtts://: the CA certificate (PEM) of the broker's")
    .action(async (opts: { dataDir: string; host: string; port: string; mqttPort?: string; proxyPort?: string; replica: string; peerUrl?: string; tls: boolean; tlsHost?: string[]; console: boolean; kubeconfig?: string; namespace: string; installCrds?: boolean; telemetry?: string; state?: string; telemetryRetention?: string; export?: string; exportTopic?: string; exportFormat: ExportFormatName; exportGroup?: string; exportCa?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const store = kubeStoreOption(opts);
      const telemetry = telemetryOption(opts.telemetry ?? process.env[TELEMETRY_ENV], opts.telemetryRetention);
      const state = stateOption(opts.state ?? process.env[STATE_ENV]);
      if (state && store) throw new ErrUsage({ argument: '--state', reason: 'does not go with --kubeconfig, which keeps the hub state in the cluster' });
      const exportChecks = await import('../core/telemetry/index.ts');
      const exportTo = exportOption(opts.export ?? process.env[EXPORT_ENV], opts, exportChecks);
      const port = parsePort(opts.port, '--port');
      const mqttPort = opts.mqttPort === undefined ? undefined : parsePort(opts.mqttPort, '--mqtt-port');
      if (dns1123LabelProblem(opts.replica) !== undefined) throw new ErrUsage({ argument: '--replica', reason: `'${opts.replica}' is not a name (lowercase letters, digits and '-')` });
      if (opts.peerUrl !== undefined && !/^wss?:\/\/[^/]+\//.test(opts.peerUrl)) throw new ErrUsage({ argument: '--peer-url', reason: `'${opts.peerUrl}' is not a ws:// or wss:// URL` });
      const proxyPort = opts.proxyPort === undefined ? undefined : parsePort(opts.proxyPort, '--proxy-port');
      if (!opts.tls && !['127.0.0.1', '::1', 'localhost'].includes(opts.host)) {
        throw new ErrUsage({ argument: '--no-tls', reason: `refused with --host ${opts.host}: plain HTTP is for loopback only` });
      }
      // Loaded on use: other commands (a site agent, above all) do not carry the hub's code.
      const { startHub } = await import('../core/hub/index.ts');
      // On Kubernetes, Addons of plugins with workloads run as grids: the hub reads the plugins' definitions.
      const registry = store ? await loadRegistry(ctx) : undefined;
      const { createConsole } = await import('../core/console/index.ts');
      const hub = await listening(port, '--port', () =>
        startHub({
          dataDir: opts.dataDir,
          host: opts.host,
          port,
          logger: ctx.logger,
          ...(mqttPort === undefined ? {} : { mqttPort }),
          ...(proxyPort === undefined ? {} : { proxy: { port: proxyPort } }),
          replica: opts.replica,
          ...(opts.peerUrl ? { peerUrl: opts.peerUrl } : {}),
          tls: opts.tls ? (opts.tlsHost ? { hosts: [opts.host, '127.0.0.1', 'localhost', ...opts.tlsHost] } : true) : false,
          modules: opts.console ? [createConsole()] : [],
          ...(store ? { store } : {}),
          telemetry,
          ...(state ? { state } : {}),
          ...(exportTo ? { export: exportTo } : {}),
          ...(registry ? { plugins: (id: string) => registry.definition(id) } : {}),
          // The console's forms and the check of Device protocol blocks: loaded on the first request that needs them.
          pluginCatalog: pluginCatalogSource(ctx, registry),
        }),
      );
      ctx.out.write(
        `hub listening on ${hub.url} (API docs: ${hub.url}/docs)\n` +
          (store ? `resources: custom resources in namespace ${store.namespace} of the cluster in ${store.kubeConfig}\n` : '') +
          (exportTo ? `export: every reading to ${redactedUrl(exportTo.url)} (${exportTo.group === undefined ? `${exportTo.format}, ${exportTo.topic}` : `sparkplug, spBv1.0/${exportTo.group}/..., one edge node per site`})\n` : '') +
          (telemetry.kind === 'postgres' ? `telemetry: PostgreSQL at ${redactedUrl(telemetry.url)}${telemetry.retentionDays === undefined ? '' : `, ${telemetry.retentionDays} days kept`}\n` : '') +
          (state ? `resources, tokens, commands and console sessions: PostgreSQL at ${redactedUrl(state.url)}\n` : '') +
          (opts.console ? `console: ${hub.url}/ (log in with a hub token)\n` : '') +
          `admin token: ${hub.adminTokenFile}\n` +
          (hub.caFile ? `CA certificate: ${hub.caFile} (clients: --ca-file ${hub.caFile}; nodes: --ca-cert-hash ${caCertHash(hub.caCert!)})\n` : '') +
          `tunnel-cloud: ${hub.tunnelUrl}\n` +
          (hub.proxyUrl ? `tunnel proxy (CONNECT / HTTP): ${hub.proxyUrl}${hub.caFile ? ` (kube-apiserver egress client certificate: ${hub.caFile.replace(/ca\.crt$/, 'egress-client.crt')})` : ''}\n` : '') +
          (hub.mqttUrl ? `MQTT telemetry ingest: ${hub.mqttUrl}\n` : ''),
      );
      const sig = await waitForSignal();
      ctx.logger.info({ signal: sig }, 'stopping');
      await hub.close();
    });
  examples(run, [
    'edgeadm hub run',
    'edgeadm hub run --data-dir /var/lib/edgeadm/hub --host 0.0.0.0 --tls-host hub.example.com --port 7443 --mqtt-port 8883',
    'edgeadm hub run --no-tls   # loopback only',
    'edgeadm hub run --kubeconfig ~/.kube/config --namespace edgeadm --install-crds   # resources in the cluster',
    `${TELEMETRY_ENV}=postgres://hub:secret@db:5432/edgeadm edgeadm hub run --telemetry-retention 90   # readings in PostgreSQL`,
    `${TELEMETRY_ENV}=postgres://hub:secret@db:5432/edgeadm ${STATE_ENV}=postgres://hub:secret@db:5432/edgeadm edgeadm hub run --replica hub-2   # a replica: readings and state in PostgreSQL`,
    'edgeadm hub run --data-dir /shared/hub --host 0.0.0.0 --port 7444 --replica hub-2 --peer-url wss://10.0.0.6:7444/api/v1/tunnel/peer',
    `${EXPORT_ENV}=mqtts://hub:secret@mqtt.example.com:8883 edgeadm hub run --export-format sparkplug --export-group fleet   # readings to Ignition's MQTT Engine`,
  ]);
}

/** The environment variable `hub run --state` defaults to. */
export const STATE_ENV = `EDGEADM_${HUB_RUN_ENV.state}`;

/** The environment variable `hub run --telemetry` defaults to (a URL with a password is better there than in the arguments). */
export const TELEMETRY_ENV = `EDGEADM_${HUB_RUN_ENV.telemetry}`;

/** The environment variable `hub run --export` defaults to. */
export const EXPORT_ENV = `EDGEADM_${HUB_RUN_ENV.export}`;

/** The payloads `--export-format` takes (core/telemetry's ExportFormat). */
const EXPORT_FORMATS = ['json', 'edgex', 'sparkplug'] as const;
type ExportFormatName = (typeof EXPORT_FORMATS)[number];
/** core/telemetry's defaults, shown in the help. */
const DEFAULT_EXPORT_TOPIC = 'edgeadm/{site}/{device}/{resource}';
const DEFAULT_EXPORT_GROUP = 'edgeadm';

/** `--export` and its companions, checked (the URL's login taken apart: mqtt.js is given it as options). */
export function exportOption(
  value: string | undefined,
  o: { exportTopic?: string; exportFormat: ExportFormatName; exportGroup?: string; exportCa?: string },
  /**
   * core/telemetry's checks of the URL, the topic and the Sparkplug group (loaded with the hub); they throw
   * EDGE_ERR_EXPORT_OPTION.
   */
  check: { exportUrl: (url: string) => URL; exportTopic: (template: string) => unknown; exportGroup: (group: string) => unknown },
): { url: string; username?: string; password?: string; ca?: string; format: ExportFormatName; topic?: string; group?: string } | undefined {
  if (value === undefined || value === '') {
    if (o.exportCa !== undefined) throw new ErrUsage({ argument: '--export-ca', reason: 'needs --export' });
    if (o.exportGroup !== undefined) throw new ErrUsage({ argument: '--export-group', reason: 'needs --export' });
    return undefined;
  }
  /** A check's refusal as the flag's usage error (its reason alone). */
  const as = <T>(argument: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      const reason = (err as { params?: { reason?: unknown } }).params?.reason;
      throw new ErrUsage({ argument, reason: typeof reason === 'string' ? reason : (err as Error).message });
    }
  };
  const url = as('--export', () => check.exportUrl(value));
  let target: { topic: string } | { group: string };
  if (o.exportFormat === 'sparkplug') {
    if (o.exportTopic !== undefined) throw new ErrUsage({ argument: '--export-topic', reason: 'does not apply to --export-format sparkplug (its topics are spBv1.0/<group>/...)' });
    const group = o.exportGroup ?? DEFAULT_EXPORT_GROUP;
    as('--export-group', () => check.exportGroup(group));
    target = { group };
  } else {
    if (o.exportGroup !== undefined) throw new ErrUsage({ argument: '--export-group', reason: 'needs --export-format sparkplug' });
    const topic = o.exportTopic ?? DEFAULT_EXPORT_TOPIC;
    as('--export-topic', () => check.exportTopic(topic));
    target = { topic };
  }
  let ca: string | undefined;
  if (o.exportCa !== undefined) {
    try {
      ca = readFileSync(o.exportCa, 'utf8');
    } catch (err) {
      throw new ErrUsage({ argument: '--export-ca', reason: `${o.exportCa} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})` });
    }
  }
  const username = url.username === '' ? undefined : decodeURIComponent(url.username);
  const password = url.password === '' ? undefined : decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  return { url: url.href, ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }), ...(ca === undefined ? {} : { ca }), ...target, format: o.exportFormat };
}

/** A URL with its password replaced, for output. */
export function redactedUrl(url: string): string {
  const u = new URL(url);
  if (u.password !== '') u.password = '***';
  return u.href;
}

/** `--telemetry` and `--telemetry-retention` of `hub run`, checked. */
export function telemetryOption(value: string | undefined, retention: string | undefined): { kind: 'sqlite' } | { kind: 'postgres'; url: string; retentionDays?: number } {
  const days = retention === undefined ? undefined : Number(retention);
  if (days !== undefined && (!Number.isInteger(days) || days < 1)) throw new ErrUsage({ argument: '--telemetry-retention', reason: `'${retention}' is not a whole number of days (1 or more)` });
  if (value === undefined || value === 'sqlite') {
    if (days !== undefined) throw new ErrUsage({ argument: '--telemetry-retention', reason: 'needs a postgres telemetry store (--telemetry postgres://...)' });
    return { kind: 'sqlite' };
  }
  return { kind: 'postgres', url: postgresUrl(value, '--telemetry', "'sqlite' or "), ...(days === undefined ? {} : { retentionDays: days }) };
}

/** `--state` of `hub run`, checked: a postgres:// URL, or undefined (the store's own). */
export function stateOption(value: string | undefined): { kind: 'postgres'; url: string } | undefined {
  return value === undefined ? undefined : { kind: 'postgres', url: postgresUrl(value, '--state', '') };
}

/** A PostgreSQL URL an argument gives, checked: postgres:// or postgresql://, naming a database. */
function postgresUrl(value: string, argument: string, alternatives: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ErrUsage({ argument, reason: `is not ${alternatives}a postgres:// URL` });
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new ErrUsage({ argument, reason: `must be ${alternatives}a postgres:// URL, not ${url.protocol}//` });
  if (url.pathname.length <= 1) throw new ErrUsage({ argument, reason: 'names no database (postgres://user@host:5432/<database>)' });
  return value;
}

/** `--kubeconfig in-cluster`: the pod's ServiceAccount, as the install manifests run the hub. */
const IN_CLUSTER = 'in-cluster';

/**
 * The kube store option of `hub run` and `init`: `--kubeconfig` (an existing
 * file, or `in-cluster` inside a pod) with `--namespace` (a DNS-1123 label) and `--install-crds`; undefined
 * without --kubeconfig. A usage error names the bad argument.
 */
export function kubeStoreOption(o: { kubeconfig?: string; namespace: string; installCrds?: boolean }): { kind: 'kube'; kubeConfig: string; namespace: string; installCrds: boolean } | undefined {
  if (o.kubeconfig === undefined) {
    if (o.installCrds) throw new ErrUsage({ argument: '--install-crds', reason: 'needs --kubeconfig' });
    return undefined;
  }
  const kubeConfig = kubeConfigOption(o.kubeconfig);
  const problem = dns1123LabelProblem(o.namespace);
  if (problem !== undefined) throw new ErrUsage({ argument: '--namespace', reason: `'${o.namespace}' ${problem}` });
  return { kind: 'kube', kubeConfig, namespace: o.namespace, installCrds: o.installCrds === true };
}

/** `--kubeconfig`: an existing file (made absolute), or `in-cluster` inside a pod. A usage error names the argument. */
export function kubeConfigOption(value: string): string {
  const inCluster = value === IN_CLUSTER;
  if (inCluster && !process.env.KUBERNETES_SERVICE_HOST) throw new ErrUsage({ argument: '--kubeconfig', reason: `'${IN_CLUSTER}' needs a pod (KUBERNETES_SERVICE_HOST is not set): give a kubeconfig file` });
  if (!inCluster && !existsSync(value)) throw new ErrUsage({ argument: '--kubeconfig', reason: `no file at ${value}` });
  return inCluster ? IN_CLUSTER : path.resolve(value);
}
