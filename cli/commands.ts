/**
 * The top level of the command line: each command's name and one-line
 * summary, and the module that defines it, loaded only when that command
 * runs. `edgeadm --help` and `edgeadm version` therefore load almost
 * nothing; `edgeadm device add` loads the device commands and what they
 * import. Also what every command module uses to define itself (summaries,
 * examples, output formats, exit codes). This file imports no command
 * module and nothing heavy: it is part of every start.
 */
import type { Command } from 'commander';
import type { PluginCommandLine } from './plugin-tools.ts';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Adds the `Examples:` section every command shows in --help. */
export function examples(cmd: Command, lines: readonly string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`);
}

let exitCodeOverride: number | undefined;
/** A command whose outcome is another program's exit status (`edgeadm ssh node -- cmd`) sets it here. */
export function setExitCode(code: number): void {
  exitCodeOverride = code;
}
/** Read once by `run` after a command finished. */
export function takeExitCode(): number | undefined {
  const c = exitCodeOverride;
  exitCodeOverride = undefined;
  return c;
}

/** Adds a module's top-level commands to the program. */
export type Registrar = (program: Command, plugins: PluginCommandLine) => void;

/** One command module: the top-level commands it defines (name: summary), in the order `--help` lists them, and how to load it. */
export interface CommandModule {
  commands: Readonly<Record<string, string>>;
  /** Whether it takes what plugins add (their tools are then loaded before it). */
  usesPlugins?: true;
  load(): Promise<Registrar>;
}

/** `--lean` of `site run` and `join` (sites/process-tuning.ts). */
export const LEAN_HELP = 'favor memory over speed: V8 grows the heap less eagerly (about half the memory at 10,000 readings/s, and about half the top throughput; docs/footprint.md)';

/** Where plugins' own top-level commands go in `--help` (after this module's). */
export const PLUGIN_COMMANDS_AFTER = 'status';

export const COMMAND_MODULES: readonly CommandModule[] = [
  { commands: { version: 'Print the edgeadm version, and the Node.js and platform it runs on' }, load: async () => (await import('./version.ts')).registerVersion },
  { commands: { init: 'Set up a hub (CA, TLS certificate, admin token) and a context in your user config, then run the hub in the foreground' }, load: async () => (await import('./init.ts')).registerInit },
  { commands: { reset: 'Undo `edgeadm join` on this node: remove its credential, identity, hub CA and systemd unit (and with --purge its data directory)' }, load: async () => (await import('./reset.ts')).registerReset },
  { commands: { config: 'The user config file: hubs and credentials (contexts), ~/.config/edgeadm/config.yaml or $EDGEADM_USER_CONFIG' }, load: async () => (await import('./user-config.ts')).registerConfig },
  { commands: { plugin: 'Inspect installed plugins (built-in and from npm packages)' }, load: async () => (await import('./plugin.ts')).registerPlugin },
  {
    commands: { up: 'Run the embedded kernel with the plugin instances listed in the config (plugins.instances); device plugins run in a site agent instead (edgeadm site run)' },
    load: async () => (await import('./up.ts')).registerUp,
  },
  { commands: { hub: 'The cloud side: API, telemetry store, site sync sessions' }, load: async () => (await import('./hub.ts')).registerHub },
  { commands: { grid: 'The application grid: the same workloads on many sites (NodeUnits, NodeGroups, DeploymentGrids, ServiceGrids)' }, load: async () => (await import('./grid.ts')).registerGrid },
  { commands: { health: 'Distributed health: the peers of a site vote on its nodes; their verdict keeps the pods of nodes the cloud cannot reach' }, load: async () => (await import('./health.ts')).registerHealth },
  {
    commands: { 'lite-apiserver': "The caching Kubernetes API proxy that keeps an edge node's kubelet, kube-proxy and pods working while the cloud is unreachable" },
    load: async () => (await import('./lite-apiserver.ts')).registerLiteApiserver,
  },
  {
    commands: { site: 'Sites: create, list, show and delete them at the hub; run a site agent (the edge side)' },
    load: async () => {
      const [{ registerSite }, { registerSiteCommands }] = await Promise.all([import('./site.ts'), import('./site-cmds.ts')]);
      return (program) => void registerSiteCommands(registerSite(program));
    },
  },
  { commands: { node: 'Edge nodes: the machines that joined a site, and the SSH host keys trusted for them' }, load: async () => (await import('./node.ts')).registerNode },
  { commands: { join: 'Join this machine to a hub as an edge node of a site, then run its site agent and tunnel in the foreground' }, load: async () => (await import('./join.ts')).registerJoin },
  {
    commands: {
      ssh: "SSH to a node's sshd through its tunnel (host key checked against the keys the hub trusts for the node)",
      'port-forward': 'Forward a local TCP port to a port on a node, through its tunnel, until Ctrl-C',
      logs: "A node's site agent and tunnel logs: journalctl of the unit `edgeadm join --install` wrote, read over SSH through the node's tunnel",
    },
    load: async () => (await import('./ssh.ts')).registerSsh,
  },
  { commands: { token: 'Bootstrap tokens for joining edge nodes; with --role, API tokens' }, load: async () => (await import('./token.ts')).registerToken },
  {
    commands: { device: 'Devices at sites: add, list, show, read, write and remove them; approve devices that announced themselves; their logins to the site broker; discovery' },
    usesPlugins: true,
    load: async () => {
      const [{ registerDevice }, { registerDeviceCommands }, { registerDeviceDiscover }] = await Promise.all([import('./device.ts'), import('./device-cmds.ts'), import('./discover.ts')]);
      return (program, plugins) => {
        const device = registerDevice(program);
        registerDeviceCommands(device);
        registerDeviceDiscover(device, plugins.tools, plugins.problems);
      };
    },
  },
  { commands: { addon: 'Run a plugin at sites (an Addon), and list, follow or remove addons' }, load: async () => (await import('./addon.ts')).registerAddon },
  { commands: { manifests: 'Print Kubernetes manifests: the CRDs, or everything to run the hub in a cluster (for kubectl apply -f -)' }, load: async () => (await import('./manifests.ts')).registerManifests },
  { commands: { status: 'The hub: health, sites online and offline, nodes connected, devices, addons with problems' }, load: async () => (await import('./status.ts')).registerStatus },
  { commands: { demo: 'Run a hub and a demo site with simulated Modbus, OPC UA, MQTT and simulator devices on this machine, until Ctrl-C' }, load: async () => (await import('./demo.ts')).registerDemo },
  { commands: { telemetry: 'Readings that reached the hub: live or stored' }, load: async () => (await import('./telemetry.ts')).registerTelemetry },
  { commands: { completion: 'Print a shell completion script (bash, zsh or fish) for every edgeadm command and option' }, load: async () => (await import('./completion.ts')).registerCompletion },
];

/** A built-in top-level command's summary (what its module passes to `.description`). */
export function summary(name: string): string {
  for (const m of COMMAND_MODULES) {
    const s = m.commands[name];
    if (s !== undefined) return s;
  }
  throw new Error(`no top-level command '${name}' in cli/commands.ts`);
}

/** The module defining a built-in top-level command, if any. */
export function moduleOf(name: string): CommandModule | undefined {
  return COMMAND_MODULES.find((m) => Object.hasOwn(m.commands, name));
}
