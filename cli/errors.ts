/**
 * The command line's coded errors, for every command group. Each names the
 * argument, file, plugin, node or device it is about, and says what to do.
 * `ErrUsage` (bad arguments) exits with code 2.
 */
import { createError, type FieldIssue } from '../core/kernel/base.ts';

// ---------------------------------------------------------------- arguments and ports

/** Bad arguments: exit code 2. */
export const ErrUsage = createError('EDGE_ERR_USAGE', (p: { argument: string; reason: string }) => `${p.argument}: ${p.reason}`, { statusCode: 400 });

/** A port already taken, said in a way that tells what to do. */
export const ErrPortInUse = createError(
  'EDGE_ERR_PORT_IN_USE',
  (p: { port: number; flag: string }) => `port ${p.port} is already in use (another edgeadm, or another program); choose another with ${p.flag}`,
  { statusCode: 409 },
);

// ---------------------------------------------------------------- demo

/** A manifest the demo cannot apply: unknown kind, bad YAML, or a `${NAME}` it has no value for. */
export const ErrDemoManifest = createError('EDGE_ERR_DEMO_MANIFEST', (p: { file: string; reason: string }) => `${p.file}: ${p.reason}`, { statusCode: 400 });

/** Ctrl-C during start-up: the steps taken so far are undone and the demo ends. */
export const ErrDemoInterrupted = createError('EDGE_ERR_DEMO_INTERRUPTED', (p: { signal: string }) => `interrupted by ${p.signal} while starting`, { statusCode: 499 });

// ---------------------------------------------------------------- device commands

export const ErrCommandTimeout = createError(
  'EDGE_ERR_COMMAND_TIMEOUT',
  (p: { id: string; device: string; resource: string; site: string; state: string; timeout: string }) =>
    `the write of ${p.device}/${p.resource} (command ${p.id}) is still ${p.state} after ${p.timeout}: site '${p.site}' may be offline ` +
    `(see 'edgeadm site show ${p.site}'); the value stays desired and is applied when the site reconnects`,
  { statusCode: 504 },
);

/** The site reported a device it was just given as DOWN. */
export const ErrDeviceNotRunning = createError(
  'EDGE_ERR_DEVICE_NOT_RUNNING',
  (p: { device: string; site: string; message: string }) =>
    `device '${p.device}' is at the hub, but site '${p.site}' does not run it: ${p.message}; fix the device or its profile and apply it again (the site retries by itself), or remove it`,
  { statusCode: 422 },
);

export const ErrCommandExpired = createError(
  'EDGE_ERR_COMMAND_EXPIRED',
  (p: { id: string; device: string; resource: string; site: string }) =>
    `the write of ${p.device}/${p.resource} (command ${p.id}) expired before site '${p.site}' ran it; check that the site is online ('edgeadm site show ${p.site}') and write again`,
  { statusCode: 504 },
);

// ---------------------------------------------------------------- discovery

/** The plugin's discovery driver has no `discover`. */
export const ErrNoDiscover = createError('EDGE_ERR_PLUGIN_NO_DISCOVER', (p: { plugin: string }) => `plugin '${p.plugin}' offers discovery, but its driver has no discover`, {
  statusCode: 501,
});

// ---------------------------------------------------------------- init

/** Kubernetes mode: the namespace of the hub's resources is not in the cluster (or cannot be read). */
export const ErrInitNamespace = createError(
  'EDGE_ERR_INIT_NAMESPACE',
  (p: { namespace: string; server: string; reason: string }) => `namespace '${p.namespace}' at ${p.server}: ${p.reason}; create it first (kubectl create namespace ${p.namespace}) or pick another with --namespace`,
  { statusCode: 404 },
);

// ---------------------------------------------------------------- join

/** A `node.json` that is not what join wrote. */
export const ErrNodeIdentity = createError(
  'EDGE_ERR_JOIN_IDENTITY',
  (p: { file: string; reason: string; dataDir: string }) => `${p.file} is not a node identity (${p.reason}); run \`edgeadm reset --data-dir ${p.dataDir}\` and join again`,
  { statusCode: 400 },
);

// ---------------------------------------------------------------- plugin tools

/** A plugin's tools module could not be used: the plugin adds nothing to the command line. */
export const ErrPluginTools = createError(
  'EDGE_ERR_PLUGIN_TOOLS',
  (p: { plugin: string; reason: string }) => `plugin '${p.plugin}' adds nothing to the command line: ${p.reason}`,
  { statusCode: 500 },
);

// ---------------------------------------------------------------- reset

/** The user said no at the confirmation prompt. */
export const ErrResetAborted = createError('EDGE_ERR_RESET_ABORTED', () => 'reset aborted: nothing was changed', { statusCode: 409 });

// ---------------------------------------------------------------- ssh

/** The node joined again with other host keys, and no admin has confirmed them yet. */
export const ErrSshHostKeysPending = createError(
  'EDGE_ERR_SSH_HOST_KEYS_PENDING',
  (p: { node: string; reportedAt: string; fingerprints: string[]; confirm: string }) =>
    `node '${p.node}' joined again at ${p.reportedAt} with other ssh host keys (${p.fingerprints.join(', ')}), which are not trusted yet; refusing to connect. ` +
    `Check them on the node ('ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub'), then confirm with '${p.confirm}' (or drop them: 'edgeadm node reject-host-keys ${p.node}')`,
  { statusCode: 409 },
);

// ---------------------------------------------------------------- status

export const ErrHubDown = createError(
  'EDGE_ERR_HUB_UNREACHABLE',
  (p: { url: string; reason: string }) =>
    `the hub at ${p.url} does not answer (${p.reason}): check that it runs ('edgeadm hub run' or 'edgeadm init'), that --hub / EDGEADM_HUB names it, and for https that --ca-file is its CA`,
  { statusCode: 503 },
);

// ---------------------------------------------------------------- up

/** A plugin instance that `up` refuses, with the site services its plugin consumes. */
export interface SitePlugin {
  instance: string;
  plugin: string;
  services: string[];
}

/** Instances whose plugins need a site agent's services: `up` runs none of them. */
export const ErrUpSitePlugin = createError(
  'EDGE_ERR_UP_SITE_PLUGIN',
  (p: { instances: SitePlugin[] }) => {
    const list = p.instances.map((i) => `'${i.instance}' (${i.services.join(', ')})`).join(', ');
    const one = p.instances.length === 1;
    const example = p.instances[0]!;
    return (
      `plugin instance${one ? '' : 's'} ${list} consume${one ? 's' : ''} services only a site agent provides: ` +
      `device plugins run at a site under 'edgeadm site run', for the site's Addons (e.g. 'edgeadm addon ${example.plugin} --site <site>'); ` +
      `'edgeadm up' runs only plugins that need none of them`
    );
  },
  { statusCode: 400 },
);

/** `up --once`: some instances did not run. */
export const ErrUpNotRunning = createError(
  'EDGE_ERR_UP_NOT_RUNNING',
  (p: { total: number; instances: { instance: string; state: string; code?: string }[] }) =>
    `${p.instances.length} of ${p.total} plugin instance${p.total === 1 ? ' is' : 's are'} not running: ${p.instances
      .map((i) => `${i.instance} (${i.state}${i.code === undefined ? '' : `, ${i.code}`})`)
      .join(', ')}`,
  { statusCode: 500 },
);

// ---------------------------------------------------------------- user config

/** The user config file cannot be read or does not hold what it should: names the file and each field. */
export const ErrUserConfig = createError(
  'EDGE_ERR_USER_CONFIG',
  (p: { file: string; issues: FieldIssue[] }) =>
    `${p.file}: ${p.issues.map((i) => (i.path ? `${i.path} ${i.message}` : i.message)).join('; ')} (fix the file, or remove it and run \`edgeadm init\` again)`,
  { statusCode: 400 },
);
