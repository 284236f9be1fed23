/**
 * `edgeadm device discover --plugin <id> <target>`: runs a plugin's discovery
 * from this machine and prints the DeviceProfiles it generates and Devices
 * using them (YAML by default, `-o json`, or `-o table`); with `--apply` they
 * are created at the hub.
 *
 * Discovery goes through the plugin's `DeviceDriver.discover`, on a driver
 * its tools module makes outside any site (cli/plugin-tools.ts); nothing of
 * the plugin is imported before the command runs. Each discovering plugin
 * adds its own options under its own heading in --help; they become the
 * request's `options`. Options → validate (every problem the command line
 * shows, at once, exit 2) → discover (a target or option value the driver
 * refuses: exit 2 naming the argument; unreachable: exit 1) → output → apply.
 */
import { homedir } from 'node:os';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { isEdgeError, type EdgeError } from '../core/kernel/index.ts';
import type { DiscoveredDevice, DiscoveryOptionSpec, PluginTools } from '../core/sdk/index.ts';
import { hubFetch, hubTarget, withHubOptions } from './client.ts';
import { contextOf } from './context.ts';
import { examples } from './commands.ts';
import { ErrNoDiscover, ErrPluginTools, ErrUsage } from './errors.ts';
import { renderTable } from './output.ts';
import type { LoadedTools } from './plugin-tools.ts';
import { API_VERSION, checkName, checkSite, usage, type Problem } from './resources.ts';

interface DiscoverOpts {
  plugin?: string;
  name?: string;
  profileName?: string;
  site?: string;
  apply?: boolean;
  dataDir?: string;
  hub?: string;
  token?: string;
  tokenFile?: string;
  caFile?: string;
  [pluginOption: string]: unknown;
}

type Discovery = NonNullable<PluginTools['discovery']>;

/** A plugin option on the command: its flag and which plugins take it (by id), with their spec. */
interface PluginOption {
  long: string;
  attr: string;
  plugins: Map<string, DiscoveryOptionSpec>;
}

/** Plugins' local state on this machine: `$XDG_CONFIG_HOME/edgeadm` (default `~/.config/edgeadm`). */
function defaultDataDir(): string {
  return path.join(process.env.XDG_CONFIG_HOME || path.join(homedir(), '.config'), 'edgeadm');
}

/** The value a plugin gets for an option's command-line text, or undefined after adding a problem. */
function optionValue(raw: unknown, spec: DiscoveryOptionSpec, long: string, problems: Problem[]): unknown {
  if (typeof raw !== 'string') return raw;
  if (spec.value === 'integer') {
    if (!/^-?\d{1,15}$/.test(raw)) {
      problems.push({ argument: long, reason: `'${raw}' is not a whole number` });
      return undefined;
    }
    return Number(raw);
  }
  if (spec.value === 'path') {
    if (raw === '') {
      problems.push({ argument: long, reason: 'is empty' });
      return undefined;
    }
    return path.resolve(raw);
  }
  return raw;
}

/** A bad request as the driver names it (statusCode 400, params `field` and `reason`; see DeviceDriver.discover). */
function requestProblem(err: unknown): { field: string; reason: string } | undefined {
  if (!isEdgeError(err) || err.statusCode !== 400) return undefined;
  const { field, reason } = err.params as { field?: unknown; reason?: unknown };
  return typeof field === 'string' && typeof reason === 'string' ? { field, reason } : undefined;
}

/**
 * Adds `device discover` with the discovery options of `plugins`. An option
 * that clashes with another one is left out and reported in `problems`.
 */
export function registerDeviceDiscover(deviceGroup: Command, plugins: readonly LoadedTools[], problems: EdgeError[] = []): Command {
  const discoverers = new Map<string, Discovery>();
  for (const p of plugins) if (p.tools.discovery) discoverers.set(p.id, p.tools.discovery);
  const ids = [...discoverers.keys()];
  const idList = ids.length > 0 ? ids.join(', ') : 'no installed plugin discovers';

  const cmd = withHubOptions(
    deviceGroup
      .command('discover')
      .description("Find devices from this machine with a plugin's discovery and print the DeviceProfiles and Devices they yield; --apply creates them at the hub")
      .argument('<target>', "where to look, in the plugin's terms: opc.tcp://10.0.0.5:4840 (opcua), 10.0.0.7:502 (modbus)")
      .option('--plugin <id>', `the plugin whose discovery to run (${idList})`)
      .option('--name <name>', "the Device name, when discovery finds one device (default the plugin's suggestion)")
      .option('--profile-name <name>', 'the generated DeviceProfile (default the Device name), or the existing one the Devices use when the plugin generates none')
      .option('--site <site>', 'the site of the Devices (without it only generated DeviceProfiles are printed)')
      .option('--data-dir <dir>', "plugins' local state on this machine, as a site agent's data dir (e.g. the OPC UA client PKI in <dir>/plugins/opcua/pki; default ~/.config/edgeadm)")
      .option('--apply', 'create the DeviceProfiles and Devices at the hub'),
  );

  const pluginOptions = new Map<string, PluginOption>();
  for (const [id, d] of discoverers) {
    for (const spec of d.options ?? []) {
      let option: Option;
      try {
        option = new Option(spec.flags, spec.description);
      } catch (err) {
        problems.push(new ErrPluginTools({ plugin: id, reason: `discovery option '${spec.flags}': ${(err as Error).message}` }, { cause: err }));
        continue;
      }
      const attr = option.attributeName();
      const shared = pluginOptions.get(attr);
      if (shared && shared.long === option.long) {
        // The same flag for several plugins: one option, each plugin gets the value under its own key.
        shared.plugins.set(id, spec);
        continue;
      }
      if (shared || !option.long || cmd.options.some((o) => o.attributeName() === attr || o.long === option.long || (option.short && o.short === option.short))) {
        problems.push(new ErrPluginTools({ plugin: id, reason: `discovery option '${spec.flags}' clashes with an option of edgeadm device discover` }));
        continue;
      }
      cmd.addOption(option.helpGroup(`Options of ${id} discovery (--plugin ${id}):`));
      pluginOptions.set(attr, { long: option.long, attr, plugins: new Map([[id, spec]]) });
    }
  }

  cmd.action(async (target: string, o: DiscoverOpts, command: Command) => {
    const ctx = contextOf(command);
    const problems: Problem[] = [];
    const discovery = o.plugin === undefined ? undefined : discoverers.get(o.plugin);
    if (o.plugin === undefined) problems.push({ argument: '--plugin', reason: `is required (one of ${idList})` });
    else if (!discovery) problems.push({ argument: '--plugin', reason: `'${o.plugin}' cannot discover from this machine (discoverable: ${idList})` });
    const options: Record<string, unknown> = {};
    for (const opt of pluginOptions.values()) {
      const raw = o[opt.attr];
      if (raw === undefined) continue;
      const spec = discovery ? opt.plugins.get(o.plugin as string) : undefined;
      if (discovery && !spec) {
        problems.push({ argument: opt.long, reason: `is an option of ${[...opt.plugins.keys()].join(', ')} discovery, not of ${o.plugin as string}` });
        continue;
      }
      // Without a usable --plugin the value's form is still checked, as the plugin that declares it takes it.
      const value = optionValue(raw, spec ?? ([...opt.plugins.values()][0] as DiscoveryOptionSpec), opt.long, problems);
      if (spec && value !== undefined) options[spec.key] = value;
    }
    if (target === '') problems.push({ argument: '<target>', reason: 'is empty' });
    checkName(o.name, '--name', problems);
    checkName(o.profileName, '--profile-name', problems);
    checkSite(o.site, '--site', problems);
    if (o.apply && o.site === undefined) problems.push({ argument: '--site', reason: 'is required with --apply' });
    if (o.dataDir === '') problems.push({ argument: '--data-dir', reason: 'is empty' });
    usage(problems);
    const plugin = o.plugin as string;
    const hub = o.apply ? hubTarget(o) : undefined;

    const driver = await (discovery as Discovery).driver({ logger: ctx.logger, dir: path.join(path.resolve(o.dataDir ?? defaultDataDir()), 'plugins', plugin) });
    let found: DiscoveredDevice[];
    try {
      if (!driver.discover) throw new ErrNoDiscover({ plugin });
      found = await driver.discover({ target, options });
    } catch (err) {
      const bad = requestProblem(err);
      if (bad) {
        const key = bad.field.startsWith('options.') ? bad.field.slice('options.'.length) : undefined;
        const flag = bad.field === 'target' ? '<target>' : [...pluginOptions.values()].find((p) => key !== undefined && p.plugins.get(plugin)?.key === key)?.long;
        throw new ErrUsage({ argument: flag ?? bad.field, reason: bad.reason }, { cause: err });
      }
      throw err;
    } finally {
      await driver.close();
    }

    const built = resourcesOf(found, o, plugin, driver.protocols[0] ?? plugin);
    const notes: string[] = found.length === 0 ? [`no devices found at ${target}`] : [];
    for (const { found: d, name, resources } of built.devices) {
      const summary = resources === undefined ? (d.description ?? 'found') : `${resources.length} resources from ${target}`;
      notes.push(`${name}: ${summary}${d.truncated ? '; TRUNCATED: a limit stopped discovery before it saw everything (see the discovery options)' : ''}${d.skipped?.length ? `; ${d.skipped.length} skipped` : ''}`);
      for (const s of d.skipped ?? []) notes.push(`  skipped ${s.path} (${s.id}): ${s.reason}`);
    }
    if (found.length > 0 && o.site === undefined) notes.push(`pass --site to get ${found.length === 1 ? 'a Device' : 'Devices'} too`);
    process.stderr.write(notes.map((n) => `${n}\n`).join(''));

    const format = command.getOptionValueSourceWithGlobals('output') === 'default' ? 'yaml' : ctx.options.output;
    const items = [...built.profiles, ...built.devices.flatMap((d) => (d.device ? [d.device] : []))];
    if (format === 'json') {
      const skipped = found.flatMap((d) => d.skipped ?? []);
      ctx.out.write(`${JSON.stringify({ items, found, skipped, truncated: found.some((d) => d.truncated === true) }, null, 2)}\n`);
    } else if (format === 'yaml') ctx.out.write(items.map((i) => toYaml(i)).join('---\n'));
    else {
      const only = built.devices.length === 1 ? built.devices[0] : undefined;
      ctx.out.write(only?.resources ? resourceTable(only.resources) : deviceTable(built.devices));
    }

    if (hub) {
      for (const p of built.profiles) await hubFetch(hub, 'POST', '/api/v1/deviceprofiles', p);
      for (const d of built.devices) if (d.device) await hubFetch(hub, 'POST', '/api/v1/devices', d.device);
      const names = (kind: string, list: readonly { metadata: { name: string } }[]): string => (list.length === 0 ? '' : `${kind} ${list.map((x) => x.metadata.name).join(', ')}`);
      const devices = built.devices.flatMap((d) => (d.device ? [d.device] : []));
      process.stderr.write(`created ${[names('DeviceProfile', built.profiles), names('Device', devices)].filter((s) => s !== '').join(' and ') || 'nothing'} at site ${o.site ?? ''}\n`);
    }
  });

  const lines = [...discoverers.values()].flatMap((d) => d.examples ?? []);
  examples(cmd, lines.length > 0 ? lines : ['edgeadm device discover --plugin <id> <target>']);
  return cmd;
}

interface ResourceRow {
  name: string;
  attributes: Record<string, unknown>;
  properties: { valueType: string; readWrite: string; units?: string; minimum?: number; maximum?: number };
}

interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown>;
}

interface BuiltDevice {
  found: DiscoveredDevice;
  name: string;
  profile: string | undefined;
  /** The generated profile's resources. */
  resources?: ResourceRow[];
  device?: Resource;
}

/** DeviceProfiles generated by discovery and, with --site, the Devices: usage errors for names that cannot apply to what was found. */
function resourcesOf(found: readonly DiscoveredDevice[], o: DiscoverOpts, plugin: string, protocol: string): { profiles: Resource[]; devices: BuiltDevice[] } {
  const problems: Problem[] = [];
  const generated = found.filter((d) => typeof d.profile === 'object').length;
  if (o.name !== undefined && found.length !== 1) problems.push({ argument: '--name', reason: `names one Device, but discovery found ${found.length}` });
  if (o.profileName !== undefined && generated > 1) problems.push({ argument: '--profile-name', reason: `names one DeviceProfile, but discovery generated ${generated}` });
  const profiles: Resource[] = [];
  const devices: BuiltDevice[] = [];
  for (const d of found) {
    const name = (found.length === 1 ? o.name : undefined) ?? d.name;
    const b: BuiltDevice = { found: d, name, profile: undefined };
    if (d.profile !== undefined && typeof d.profile === 'object') {
      b.profile = o.profileName ?? name;
      profiles.push({ apiVersion: API_VERSION, kind: 'DeviceProfile', metadata: { name: b.profile }, spec: d.profile });
      b.resources = (d.profile as { deviceResources?: ResourceRow[] }).deviceResources ?? [];
    } else b.profile = o.profileName ?? d.profile;
    if (o.site !== undefined) {
      if (b.profile === undefined) {
        if (!problems.some((p) => p.argument === '--profile-name')) {
          problems.push({ argument: '--profile-name', reason: `${plugin} discovery generates no DeviceProfile: name the existing one the Devices use` });
        }
      } else {
        const spec: Record<string, unknown> = { site: o.site, profile: b.profile, protocols: { [d.protocolName ?? protocol]: d.protocol } };
        if (d.description !== undefined) spec.description = d.description;
        b.device = { apiVersion: API_VERSION, kind: 'Device', metadata: { name }, spec };
      }
    }
    devices.push(b);
  }
  usage(problems);
  return { profiles, devices };
}

function attributeText(attributes: Record<string, unknown>): string {
  return Object.values(attributes)
    .map((v) => (typeof v === 'string' ? v : JSON.stringify(v)))
    .join(' ');
}

function resourceTable(resources: readonly ResourceRow[]): string {
  return renderTable(resources, [
    { header: 'name', value: (r) => r.name },
    { header: 'address', value: (r) => attributeText(r.attributes) },
    { header: 'type', value: (r) => r.properties.valueType },
    { header: 'rw', value: (r) => r.properties.readWrite },
    { header: 'units', value: (r) => r.properties.units ?? '' },
    { header: 'range', value: (r) => (r.properties.minimum === undefined ? '' : `${r.properties.minimum}..${r.properties.maximum ?? ''}`) },
  ]);
}

function deviceTable(devices: readonly BuiltDevice[]): string {
  return renderTable(devices, [
    { header: 'name', value: (d) => d.name },
    { header: 'protocol', value: (d) => Object.entries(d.found.protocol).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ') },
    { header: 'profile', value: (d) => d.profile ?? '' },
    { header: 'description', value: (d) => d.found.description ?? '' },
  ]);
}
