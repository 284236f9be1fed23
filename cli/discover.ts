/**
 * `edgeadm device discover --plugin opcua <endpoint>`: browses a device from
 * this machine and prints the DeviceProfile it generates and a Device using
 * it (YAML by default, `-o json`, or `-o table` for the resource list); with
 * `--apply` both are created at the hub.
 *
 * The plugin's discovery code is loaded only when the command runs (node-opcua
 * takes most of a second to import). Options → validate (every problem at
 * once, exit 2) → discover (unreachable endpoint: exit 1) → output → apply.
 */
import { homedir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { hubFetch, hubTarget, withHubOptions } from './client.ts';
import { contextOf, ErrUsage, examples } from './context.ts';
import { renderTable } from './output.ts';
import { usage, type Problem } from './resources.ts';

const API_VERSION = 'edgeadm.io/v1alpha1';
const SITE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NODE_ID = /^(?:(?:ns=\d+|nsu=[^;]+);)?(?:i=\d+|s=.+|g=[0-9a-fA-F-]{36}|b=[A-Za-z0-9+/=]*)$/;
const ENDPOINT = /^opc\.tcp:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(\/.*)?$/;
const SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'];
const SECURITY_POLICIES = ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep'];

/** Plugins whose discovery runs from this machine. */
const DISCOVERABLE = ['opcua'] as const;

interface DiscoverOpts {
  plugin?: string;
  maxDepth?: string;
  maxNodes?: string;
  root?: string;
  include?: string;
  securityMode?: string;
  securityPolicy?: string;
  username?: string;
  passwordFile?: string;
  acceptServerCertificate?: boolean;
  pkiDir?: string;
  name?: string;
  profileName?: string;
  site?: string;
  apply?: boolean;
  hub?: string;
  token?: string;
  tokenFile?: string;
  caFile?: string;
}

function intArg(value: string | undefined, argument: string, min: number, max: number, problems: Problem[]): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    problems.push({ argument, reason: `'${value}' is not an integer from ${min} to ${max}` });
    return undefined;
  }
  return n;
}

/** The default client PKI folder: `$XDG_CONFIG_HOME/edgeadm/opcua-pki` (or `~/.config/...`). */
function defaultPkiDir(): string {
  return path.join(process.env.XDG_CONFIG_HOME || path.join(homedir(), '.config'), 'edgeadm', 'opcua-pki');
}

/** What `--field` a discovery option error is about. */
const FLAG_OF: Record<string, string> = {
  target: '<endpoint>',
  'options.root': '--root',
  'options.include': '--include',
  'options.maxDepth': '--max-depth',
  'options.maxNodes': '--max-nodes',
  'options.securityMode': '--security-mode',
  'options.securityPolicy': '--security-policy',
  'options.username': '--username',
  'options.passwordFile': '--password-file',
  securityPolicy: '--security-policy',
  securityMode: '--security-mode',
};

export function registerDeviceDiscover(deviceGroup: Command): Command {
  const cmd = withHubOptions(
    deviceGroup
      .command('discover')
      .description('Browse a device from this machine and print the DeviceProfile and Device it yields; --apply creates them at the hub')
      .argument('<endpoint>', 'where the device is, e.g. opc.tcp://10.0.0.5:4840')
      .option('--plugin <id>', `the plugin whose discovery to run (${DISCOVERABLE.join(', ')})`)
      .option('--max-depth <n>', 'levels below the root to browse (default 4)')
      .option('--max-nodes <n>', 'nodes to visit at most (default 500)')
      .option('--root <nodeId>', 'node to start from (default the Objects folder, i=85)')
      .option('--include <glob>', 'only variables and methods whose browse path matches, e.g. Machine/*')
      .option('--security-mode <mode>', 'None, Sign or SignAndEncrypt (default None)')
      .option('--security-policy <policy>', 'None, Basic256Sha256 or Aes128_Sha256_RsaOaep')
      .option('--username <name>', 'log in as this user')
      .option('--password-file <file>', "the user's password, in a file (the Device names the same path: it must exist on the site node too)")
      .option('--accept-server-certificate', 'trust a server certificate not yet in the client PKI (it stays trusted there)')
      .option('--pki-dir <dir>', 'client PKI folder (default ~/.config/edgeadm/opcua-pki)')
      .option('--name <name>', 'the Device name (default opcua-<host>-<port>)')
      .option('--profile-name <name>', 'the DeviceProfile name (default the Device name)')
      .option('--site <site>', 'the site of the Device')
      .option('--apply', 'create the DeviceProfile and the Device at the hub'),
  ).action(async (endpoint: string, o: DiscoverOpts, command: Command) => {
    const ctx = contextOf(command);
    const problems: Problem[] = [];
    if (o.plugin === undefined) problems.push({ argument: '--plugin', reason: `is required (one of ${DISCOVERABLE.join(', ')})` });
    else if (!(DISCOVERABLE as readonly string[]).includes(o.plugin)) {
      problems.push({ argument: '--plugin', reason: `'${o.plugin}' cannot discover from this machine (discoverable: ${DISCOVERABLE.join(', ')})` });
    }
    const m = ENDPOINT.exec(endpoint);
    if (!m || Number(m[2] ?? 4840) < 1 || Number(m[2] ?? 4840) > 65535) problems.push({ argument: '<endpoint>', reason: `'${endpoint}' is not an endpoint URL opc.tcp://host:port[/path]` });
    const maxDepth = intArg(o.maxDepth, '--max-depth', 1, 32, problems);
    const maxNodes = intArg(o.maxNodes, '--max-nodes', 1, 100_000, problems);
    if (o.root !== undefined && !NODE_ID.test(o.root)) problems.push({ argument: '--root', reason: `'${o.root}' is not a node id (ns=2;s=Machine, i=85, nsu=<uri>;s=...)` });
    if (o.include === '') problems.push({ argument: '--include', reason: 'must not be empty' });
    if (o.securityMode !== undefined && !SECURITY_MODES.includes(o.securityMode)) problems.push({ argument: '--security-mode', reason: `'${o.securityMode}' is not one of ${SECURITY_MODES.join(', ')}` });
    if (o.securityPolicy !== undefined && !SECURITY_POLICIES.includes(o.securityPolicy)) {
      problems.push({ argument: '--security-policy', reason: `'${o.securityPolicy}' is not one of ${SECURITY_POLICIES.join(', ')}` });
    }
    if (o.passwordFile !== undefined && o.username === undefined) problems.push({ argument: '--password-file', reason: 'needs --username' });
    if (o.name !== undefined && (o.name.length > 253 || !OBJECT_NAME.test(o.name))) problems.push({ argument: '--name', reason: `'${o.name}' is not a resource name (lowercase letters, digits, '-' and '.')` });
    if (o.profileName !== undefined && (o.profileName.length > 253 || !OBJECT_NAME.test(o.profileName))) {
      problems.push({ argument: '--profile-name', reason: `'${o.profileName}' is not a resource name (lowercase letters, digits, '-' and '.')` });
    }
    if (o.site !== undefined && !SITE_NAME.test(o.site)) problems.push({ argument: '--site', reason: `'${o.site}' is not a site name (lowercase letters, digits and '-', at most 63)` });
    if (o.apply && o.site === undefined) problems.push({ argument: '--site', reason: 'is required with --apply' });
    usage(problems);
    const target = o.apply ? hubTarget(o) : undefined;

    const { discoverOpcuaDetailed, ErrOpcuaDiscoveryOption } = await import('../plugins/opcua/src/discover.ts');
    // node-opcua's own messages go to the log (standard error), not into the printed profile.
    const { routeOpcuaLogs } = await import('../plugins/opcua/src/logs.ts');
    routeOpcuaLogs(await import('node-opcua'), ctx.logger);
    const options: Record<string, unknown> = {
      ...(maxDepth !== undefined ? { maxDepth } : {}),
      ...(maxNodes !== undefined ? { maxNodes } : {}),
      ...(o.root !== undefined ? { root: o.root } : {}),
      ...(o.include !== undefined ? { include: o.include } : {}),
      ...(o.securityMode !== undefined ? { securityMode: o.securityMode } : {}),
      ...(o.securityPolicy !== undefined ? { securityPolicy: o.securityPolicy } : {}),
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.passwordFile !== undefined ? { passwordFile: path.resolve(o.passwordFile) } : {}),
      ...(o.acceptServerCertificate ? { acceptUnknownServerCertificate: true } : {}),
    };
    let found: Awaited<ReturnType<typeof discoverOpcuaDetailed>>;
    try {
      found = await discoverOpcuaDetailed({ target: endpoint, options }, { pkiDir: path.resolve(o.pkiDir ?? defaultPkiDir()) });
    } catch (err) {
      if (ErrOpcuaDiscoveryOption.is(err)) {
        const field = err.params.field;
        throw new ErrUsage({ argument: FLAG_OF[field] ?? field, reason: err.params.reason }, { cause: err });
      }
      throw err;
    }

    const deviceName = o.name ?? found.device.name;
    const profileName = o.profileName ?? deviceName;
    const profile = { apiVersion: API_VERSION, kind: 'DeviceProfile', metadata: { name: profileName }, spec: found.device.profile as Record<string, unknown> };
    const device =
      o.site === undefined
        ? undefined
        : {
            apiVersion: API_VERSION,
            kind: 'Device',
            metadata: { name: deviceName },
            spec: { site: o.site, profile: profileName, description: found.device.description, protocols: { opcua: found.device.protocol } },
          };
    const items = device ? [profile, device] : [profile];
    const resources = (profile.spec as { deviceResources: ResourceRow[] }).deviceResources;

    process.stderr.write(
      `${resources.length} resources from ${endpoint}${found.truncated ? `; TRUNCATED at ${maxNodes ?? 500} nodes (raise --max-nodes or narrow --root)` : ''}` +
        `${found.skipped.length > 0 ? `; ${found.skipped.length} nodes skipped` : ''}${device ? '' : '; pass --site to get a Device too'}\n`,
    );
    for (const s of found.skipped) process.stderr.write(`  skipped ${s.path} (${s.nodeId}): ${s.reason}\n`);

    const format = command.getOptionValueSourceWithGlobals('output') === 'default' ? 'yaml' : ctx.options.output;
    if (format === 'json') ctx.out.write(`${JSON.stringify({ items, skipped: found.skipped, truncated: found.truncated }, null, 2)}\n`);
    else if (format === 'yaml') ctx.out.write(items.map((i) => toYaml(i)).join('---\n'));
    else ctx.out.write(resourceTable(resources));

    if (target && device) {
      await hubFetch(target, 'POST', '/api/v1/deviceprofiles', profile);
      await hubFetch(target, 'POST', '/api/v1/devices', device);
      process.stderr.write(`created DeviceProfile ${profileName} and Device ${deviceName} at site ${device.spec.site}\n`);
    }
  });
  examples(cmd, [
    'edgeadm device discover --plugin opcua opc.tcp://10.0.0.5:4840',
    'edgeadm device discover --plugin opcua opc.tcp://10.0.0.5:4840 --root "ns=2;s=Machine" --max-depth 2 -o json',
    'edgeadm device discover --plugin opcua opc.tcp://10.0.0.5:4840 --name press-1 --site plant-a --apply',
  ]);
  return cmd;
}

interface ResourceRow {
  name: string;
  attributes: Record<string, string>;
  properties: { valueType: string; readWrite: string; units?: string; minimum?: number; maximum?: number };
}

function resourceTable(resources: readonly ResourceRow[]): string {
  return renderTable(resources, [
    { header: 'name', value: (r) => r.name },
    { header: 'node', value: (r) => r.attributes.nodeId ?? `${r.attributes.objectId ?? ''} ${r.attributes.methodId ?? ''}` },
    { header: 'type', value: (r) => r.properties.valueType },
    { header: 'rw', value: (r) => r.properties.readWrite },
    { header: 'units', value: (r) => r.properties.units ?? '' },
    { header: 'range', value: (r) => (r.properties.minimum === undefined ? '' : `${r.properties.minimum}..${r.properties.maximum ?? ''}`) },
  ]);
}
