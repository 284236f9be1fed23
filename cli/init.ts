/**
 * `edgeadm init`: set up a hub and this user's access to it, then run it.
 *
 * Embedded mode (the default, one machine): the data directory, the hub's CA
 * and TLS certificate (`<data-dir>/pki`), the admin token
 * (`<data-dir>/admin.token`, as `edgeadm hub run` makes it), a context in the
 * user config so that later commands need no flags; then the hub runs in the
 * foreground until Ctrl-C (`--no-run` only prepares). Running it again on the
 * same data directory keeps the CA and the admin token.
 *
 * Kubernetes mode (`--kubeconfig FILE [--namespace NS]`): the same, but the
 * hub keeps its resources (Sites, Devices, Addons, ...) as custom resources
 * in that cluster's namespace (core/store's kube driver): init installs or
 * updates the CRDs of the edgeadm.io kinds there, checks that kube serves
 * them in the namespace (which must exist), and runs the hub on them.
 * Tokens, telemetry and commands stay in the data directory. To run the hub
 * itself in the cluster: `edgeadm manifests install`.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { homedir, hostname } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { Hub } from '../core/hub/index.ts';
import { describeError, type Logger } from '../core/kernel/index.ts';
import { contextOf, listening, parseListenHost, parsePort, type CommandContext } from './context.ts';
import { ErrInitNamespace, ErrUsage } from './errors.ts';
import { kubeStoreOption } from './hub.ts';
import { loadRegistry } from './plugin.ts';
import { caCertHash } from '../core/pki/pin.ts';
import { steps, type Progress } from './progress.ts';
import { waitForSignal } from './signals.ts';
import { CONTEXT_NAME, readUserConfig, upsertContext, userConfigPath, writeUserConfig } from './user-config.ts';
import { examples, summary } from './commands.ts';

export const INIT_MODES = ['embedded', 'kubernetes'] as const;
export type InitMode = (typeof INIT_MODES)[number];

const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Where the hub keeps its data by default: `/var/lib/edgeadm/hub` for root, else `$XDG_DATA_HOME/edgeadm/hub` (default `~/.local/share`). */
export function defaultHubDataDir(): string {
  if (process.getuid?.() === 0) return '/var/lib/edgeadm/hub';
  return path.join(process.env.XDG_DATA_HOME || path.join(homedir(), '.local', 'share'), 'edgeadm', 'hub');
}

interface InitOptions {
  dataDir?: string;
  host: string;
  port: string;
  tlsHost?: string[];
  context: string;
  run: boolean;
  kubeconfig?: string;
  namespace: string;
}

/** The validated plan every mode works from. */
export interface InitPlan {
  mode: InitMode;
  dataDir: string;
  host: string;
  port: number;
  /** Names and addresses in the hub certificate. */
  tlsHosts: string[];
  context: string;
  run: boolean;
  /** Kubernetes mode: where the hub's resources live. */
  store?: { kind: 'kube'; kubeConfig: string; namespace: string; installCrds: boolean };
}

/** Checks every option; the first bad one is a usage error naming it. */
export function planInit(o: InitOptions): InitPlan {
  const port = parsePort(o.port, '--port');
  const host = parseListenHost(o.host, '--host');
  if (!CONTEXT_NAME.test(o.context)) throw new ErrUsage({ argument: '--context', reason: `'${o.context}' is not a context name (letters, digits, '.', '_' and '-')` });
  for (const h of o.tlsHost ?? []) {
    if (isIP(h) === 0 && !DNS_NAME.test(h)) throw new ErrUsage({ argument: '--tls-host', reason: `'${h}' is not a DNS name or IP address` });
  }
  if (!o.run && port === 0) throw new ErrUsage({ argument: '--port', reason: 'with --no-run the port must be given (0 means any free port, known only once the hub runs)' });
  if (o.dataDir === '') throw new ErrUsage({ argument: '--data-dir', reason: 'must not be empty' });
  const wildcard = host === '0.0.0.0' || host === '::';
  const tlsHosts = [...new Set([...(wildcard ? [] : [host]), '127.0.0.1', '::1', 'localhost', hostname(), ...(o.tlsHost ?? [])])];
  // init installs the CRDs itself (a step of its own), so the store option never asks for it.
  const store = kubeStoreOption({ ...(o.kubeconfig === undefined ? {} : { kubeconfig: o.kubeconfig }), namespace: o.namespace });
  return {
    mode: o.kubeconfig === undefined ? 'embedded' : 'kubernetes',
    dataDir: path.resolve(o.dataDir ?? defaultHubDataDir()),
    host,
    port,
    tlsHosts,
    context: o.context,
    run: o.run,
    ...(store ? { store } : {}),
  };
}

/** The URL this machine's users reach the hub at: the listen address, or loopback for a wildcard one. */
function localUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `https://${isIP(h) === 6 ? `[${h}]` : h}:${port}`;
}

/**
 * The admin token, as the hub makes it on its first start: kept while it
 * verifies, else a new one. In Kubernetes mode the tokens are Secrets of the
 * namespace, and the admin token the one every replica shares.
 */
async function ensureAdminToken(dataDir: string, kube: InitPlan['store'], logger: Logger): Promise<{ file: string; created: boolean }> {
  const hub = await import('../core/hub/index.ts');
  const file = path.join(dataDir, 'admin.token');
  const before = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  const tokens = kube ? await hub.openKubeTokenStore({ kubeConfig: kube.kubeConfig, namespace: kube.namespace, logger }) : hub.openTokenStore({ file: path.join(dataDir, 'tokens.db') });
  try {
    if (kube) {
      await hub.ensureSharedAdminToken({ kubeConfig: kube.kubeConfig, namespace: kube.namespace, tokens, file, logger });
      return { file, created: !existsSync(file) || readFileSync(file, 'utf8') !== before };
    }
    if (before !== undefined && (await tokens.verify(before.trim()))?.role === 'admin') return { file, created: false };
    const created = await tokens.create({ role: 'admin', description: 'created by edgeadm init' });
    hub.writeAdminTokenFile(file, created.token);
    return { file, created: true };
  } finally {
    await tokens.close();
  }
}

/** Both modes: the same steps; in Kubernetes mode the resources' CRDs are installed in the cluster first and the hub runs on them. */
async function initHub(plan: InitPlan, ctx: CommandContext, progress: Progress): Promise<void> {
  const configFile = userConfigPath();
  // A broken user config stops init before anything is made, not after.
  const userConfig = readUserConfig(configFile);

  // The cluster first: a wrong kubeconfig or namespace stops init before anything is made.
  const kube = plan.store;
  if (kube) {
    await progress.step(`Resources in namespace ${kube.namespace} of the cluster in ${kube.kubeConfig}`, async (s) => {
      await checkNamespace(kube.kubeConfig, kube.namespace);
      const { openKubeStore } = await import('../core/store/index.ts');
      const store = await openKubeStore({ kubeConfig: kube.kubeConfig, namespace: kube.namespace, installCrds: true, logger: ctx.logger });
      await store.close();
      const { installHubCrds } = await import('../core/hub/index.ts');
      await installHubCrds(kube.kubeConfig);
      s.note('CRDs of the edgeadm.io kinds, the hub\'s Commands and the grid\'s kinds installed and served');
    });
  }

  const reused = await progress.step(`Data directory ${plan.dataDir}`, (s) => {
    const existed = existsSync(path.join(plan.dataDir, 'pki', 'ca.crt')) || existsSync(path.join(plan.dataDir, 'admin.token'));
    mkdirSync(plan.dataDir, { recursive: true, mode: 0o700 });
    s.note(existed ? 'kept: initialised before' : 'ready');
    return existed;
  });

  const pki = await progress.step('Certificate authority and hub TLS certificate', async (s) => {
    const { loadOrCreateHubPki } = await import('../core/pki/index.ts');
    const p = await loadOrCreateHubPki(path.join(plan.dataDir, 'pki'), { hosts: plan.tlsHosts, logger: ctx.logger });
    const caNew = p.created.includes(p.caFile);
    const certNew = p.created.includes(p.certFile);
    s.note(caNew ? 'created' : certNew ? 'CA kept, hub certificate re-issued' : 'kept');
    return p;
  });

  const admin = await progress.step('Admin token', async (s) => {
    const t = await ensureAdminToken(plan.dataDir, kube, ctx.logger);
    s.note(t.created ? `created: ${t.file}` : `kept: ${t.file}`);
    return t;
  });

  let url = localUrl(plan.host, plan.port);
  let hub: Hub | undefined;
  if (plan.run) {
    hub = await progress.step(`Start the hub on ${plan.host}:${plan.port}`, async (s) => {
      const { startHub } = await import('../core/hub/index.ts');
      const { createConsole } = await import('../core/console/index.ts');
      // On Kubernetes, Addons of plugins with workloads run as grids: the hub reads the plugins' definitions.
      const registry = kube ? await loadRegistry(ctx) : undefined;
      const started = await listening(plan.port, '--port', () =>
        startHub({
          dataDir: plan.dataDir,
          host: plan.host,
          port: plan.port,
          logger: ctx.logger,
          tls: { hosts: plan.tlsHosts },
          modules: [createConsole()],
          // The CRDs were installed above.
          ...(kube ? { store: { ...kube, installCrds: false } } : {}),
          ...(registry ? { plugins: (id: string) => registry.definition(id) } : {}),
        }),
      );
      s.note(started.url);
      return started;
    });
    url = localUrl(plan.host, Number(new URL(hub.url).port));
  }

  try {
    await progress.step(`User config context '${plan.context}'`, (s) => {
      const next = upsertContext(userConfig, { name: plan.context, hub: { url, caFile: pki.caFile }, user: { tokenFile: admin.file } }, true);
      writeUserConfig(next, configFile);
      s.note(configFile);
    });
  } catch (err) {
    await hub?.close();
    throw err;
  }

  ctx.out.write(
    (reused ? `${plan.dataDir} was initialised before: its CA and admin token are kept.\n` : '') +
      `hub: ${url}${plan.run ? '' : ` (not running: start it with \`edgeadm init\` again, or \`edgeadm hub run --data-dir ${plan.dataDir}${kube ? ` --kubeconfig ${kube.kubeConfig} --namespace ${kube.namespace}` : ''}\`)`}\n` +
      (kube ? `resources: custom resources in namespace ${kube.namespace} (kubectl get edgeadm -n ${kube.namespace})\n` : '') +
      `CA certificate: ${pki.caFile} (nodes pin it with --ca-cert-hash ${caCertHash(pki.ca.certPem)})\n` +
      `admin token: ${admin.file}\n` +
      `console: ${url}/ (log in with the admin token, or a viewer token: edgeadm token create --role viewer)\n` +
      `context: ${plan.context} (current, in ${configFile})\n` +
      '\nNext, on this machine: create a join command for an edge node of site <site>:\n' +
      '  edgeadm token create --site <site> --print-join-command\n' +
      'then run the printed `edgeadm join ...` on the node.\n',
  );
  if (!hub) return;
  ctx.out.write('\nThe hub runs in the foreground: Ctrl-C stops it.\n');
  const sig = await waitForSignal();
  ctx.logger.info({ signal: sig }, 'stopping');
  await hub.close();
}

/** The namespace exists (kube would list an absent namespace's custom resources as empty, and refuse every write). */
async function checkNamespace(kubeConfig: string, namespace: string): Promise<void> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeConfig);
  const server = kc.getCurrentCluster()?.server ?? kubeConfig;
  try {
    await kc.makeApiClient(k8s.CoreV1Api).readNamespace({ name: namespace });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const reason = code === 404 ? 'no such namespace' : code === 401 || code === 403 ? `the kubeconfig's user may not read it (HTTP ${String(code)})` : describeError(err);
    throw new ErrInitNamespace({ namespace, server, reason }, { cause: err });
  }
}

const MODES: Record<InitMode, (plan: InitPlan, ctx: CommandContext, progress: Progress) => Promise<void>> = {
  embedded: initHub,
  kubernetes: initHub,
};

export function registerInit(program: Command): void {
  const cmd = program
    .command('init')
    .description(summary('init'))
    .option('--data-dir <dir>', `where the hub keeps its data (default ${path.join('~', '.local', 'share', 'edgeadm', 'hub')}; /var/lib/edgeadm/hub for root)`)
    .option('--host <address>', 'listen address (0.0.0.0 for nodes on the network)', '127.0.0.1')
    .option('--port <port>', 'HTTPS port (0 = any free port)', '7443')
    .option('--tls-host <name...>', 'extra DNS names or addresses for the hub certificate (nodes dial one of them)')
    .option('--context <name>', 'name of the context written to the user config', 'edgeadm')
    .option('--no-run', 'only prepare: do not start the hub')
    .option('--kubeconfig <file>', "Kubernetes mode: keep the hub's resources as custom resources in this cluster (installs their CRDs)")
    .option('--namespace <ns>', 'with --kubeconfig: the namespace of those resources (it must exist)', 'edgeadm')
    .action(async (o: InitOptions, command: Command) => {
      const ctx = contextOf(command);
      const plan = planInit(o);
      await MODES[plan.mode](plan, ctx, steps());
    });
  examples(cmd, [
    'edgeadm init',
    'edgeadm init --no-run --data-dir /srv/edgeadm/hub',
    'edgeadm init --host 0.0.0.0 --tls-host hub.example.com --tls-host 10.0.0.5',
    'edgeadm init --port 8443 --context lab',
    'edgeadm init --kubeconfig ~/.kube/config --namespace edgeadm   # resources in the cluster',
  ]);
}
