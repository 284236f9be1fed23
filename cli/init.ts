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
 * Kubernetes mode (`--kubeconfig`) is a mode of its own beside the embedded
 * one; this version answers it with EDGE_ERR_INIT_MODE_UNAVAILABLE.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { homedir, hostname } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { Hub } from '../core/hub/index.ts';
import { contextOf, examples, listening, parseListenHost, parsePort, type CommandContext } from './context.ts';
import { ErrInitModeUnavailable, ErrUsage } from './errors.ts';
import { caCertHash } from './join.ts';
import { steps, type Progress } from './progress.ts';
import { waitForSignal } from './signals.ts';
import { CONTEXT_NAME, readUserConfig, upsertContext, userConfigPath, writeUserConfig } from './user-config.ts';

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
  kubeconfig?: string;
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
  return {
    mode: o.kubeconfig === undefined ? 'embedded' : 'kubernetes',
    dataDir: path.resolve(o.dataDir ?? defaultHubDataDir()),
    host,
    port,
    tlsHosts,
    context: o.context,
    run: o.run,
    ...(o.kubeconfig === undefined ? {} : { kubeconfig: o.kubeconfig }),
  };
}

/** The URL this machine's users reach the hub at: the listen address, or loopback for a wildcard one. */
function localUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `https://${isIP(h) === 6 ? `[${h}]` : h}:${port}`;
}

/** The admin token, as the hub makes it on its first start: kept while it verifies, else a new one. */
async function ensureAdminToken(dataDir: string): Promise<{ file: string; created: boolean }> {
  const { openTokenStore } = await import('../core/hub/index.ts');
  const file = path.join(dataDir, 'admin.token');
  const tokens = openTokenStore({ file: path.join(dataDir, 'tokens.db') });
  try {
    if (existsSync(file) && tokens.verify(readFileSync(file, 'utf8').trim())?.role === 'admin') return { file, created: false };
    const created = tokens.create({ role: 'admin', description: 'created by edgeadm init' });
    writeFileSync(file, `${created.token}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    return { file, created: true };
  } finally {
    tokens.close();
  }
}

async function initEmbedded(plan: InitPlan, ctx: CommandContext, progress: Progress): Promise<void> {
  const configFile = userConfigPath();
  // A broken user config stops init before anything is made, not after.
  const userConfig = readUserConfig(configFile);

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
    const t = await ensureAdminToken(plan.dataDir);
    s.note(t.created ? `created: ${t.file}` : `kept: ${t.file}`);
    return t;
  });

  let url = localUrl(plan.host, plan.port);
  let hub: Hub | undefined;
  if (plan.run) {
    hub = await progress.step(`Start the hub on ${plan.host}:${plan.port}`, async (s) => {
      const { startHub } = await import('../core/hub/index.ts');
      const { createConsole } = await import('../core/console/index.ts');
      const started = await listening(plan.port, '--port', () =>
        startHub({ dataDir: plan.dataDir, host: plan.host, port: plan.port, logger: ctx.logger, tls: { hosts: plan.tlsHosts }, modules: [createConsole()] }),
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
      `hub: ${url}${plan.run ? '' : ' (not running: start it with `edgeadm init` again, or `edgeadm hub run --data-dir ' + plan.dataDir + '`)'}\n` +
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

function initKubernetes(plan: InitPlan): Promise<void> {
  return Promise.reject(new ErrInitModeUnavailable({ mode: plan.mode, flag: '--kubeconfig' }));
}

const MODES: Record<InitMode, (plan: InitPlan, ctx: CommandContext, progress: Progress) => Promise<void>> = {
  embedded: initEmbedded,
  kubernetes: initKubernetes,
};

export function registerInit(program: Command): void {
  const cmd = program
    .command('init')
    .description('Set up a hub (CA, TLS certificate, admin token) and a context in your user config, then run the hub in the foreground')
    .option('--data-dir <dir>', `where the hub keeps its data (default ${path.join('~', '.local', 'share', 'edgeadm', 'hub')}; /var/lib/edgeadm/hub for root)`)
    .option('--host <address>', 'listen address (0.0.0.0 for nodes on the network)', '127.0.0.1')
    .option('--port <port>', 'HTTPS port (0 = any free port)', '7443')
    .option('--tls-host <name...>', 'extra DNS names or addresses for the hub certificate (nodes dial one of them)')
    .option('--context <name>', 'name of the context written to the user config', 'edgeadm')
    .option('--no-run', 'only prepare: do not start the hub')
    .option('--kubeconfig <file>', 'Kubernetes mode: install into this cluster (not available yet in this version)')
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
  ]);
}
