/**
 * `edgeadm addon <plugin>`: run a plugin at sites, as an Addon resource the
 * hub expands per site. `addon list`, `addon status [name]`, `addon remove`.
 *
 * The plugin must be installed here (built-in, a --plugin-path folder or an
 * npm package, as `edgeadm plugin list` shows) and its config schema checks
 * the values before anything is sent: `-f values.yaml` first, then each
 * `--set a.b=1` on top (numbers, booleans, null and JSON arrays/objects are
 * parsed unless the schema wants text there), then per-site `--site-set`
 * overrides, each site's merged config checked as the site will run it.
 * The command states the Addon's whole spec: what is not given is removed.
 * The hub refuses an Addon that would put its plugin at a site where
 * another Addon puts it (EDGE_ERR_ADDON_CONFLICT, naming that Addon).
 *
 * `addon status` shows every site each Addon targets with the state the hub
 * serves: a conflict, `unknown` for a site that is offline or gone, the
 * site's report, or `pending` with the reason when nothing is reported
 * (never `running` unless a connected site said so).
 */
import { Option, type Command } from 'commander';
import semver from 'semver';
import type { TSchema } from 'typebox';
import { stringify as toYaml } from 'yaml';
import { parseWithSchema } from '../core/kernel/index.ts';
import { PLUGIN_ID_PATTERN, type PluginDefinition, type PluginInfo, type PluginWorkloads } from '../core/plugins/index.ts';
import { addonSiteConfig, addonTargets, API_VERSION, deepMerge, type AddonSpec, type AddonStatus, type SiteSpec, type SiteStatus } from '../core/store/index.ts';
import { hubTarget, withHubOptions } from './client.ts';
import { contextOf, type CommandContext } from './context.ts';
import { ErrUsage } from './errors.ts';
import { emit, renderTable } from './output.ts';
import { loadRegistry } from './plugin.ts';
import {
  applyResource,
  checkName,
  checkSite,
  collect,
  deleteResource,
  getResource,
  isObject,
  listAll,
  readDocuments,
  splitKeyValue,
  usage,
  type HubOpts,
  type Obj,
  type Problem,
} from './resources.ts';
import { examples, summary } from './commands.ts';

type Addon = Obj<AddonSpec, AddonStatus>;
type Site = Obj<SiteSpec, SiteStatus>;

// ---------------------------------------------------------------------------
// Values

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** The sub-schema at a key path, through objects, records and optionals; undefined when unknown. */
function schemaAt(schema: unknown, keys: readonly string[]): unknown {
  let cur = schema;
  for (const key of keys) {
    if (!isObject(cur)) return undefined;
    const props = cur.properties;
    if (isObject(props) && key in props) cur = props[key];
    else if (isObject(cur.patternProperties)) cur = Object.values(cur.patternProperties)[0];
    else if (isObject(cur.additionalProperties)) cur = cur.additionalProperties;
    else return undefined;
  }
  return cur;
}

/** The JSON types a schema accepts, looking through unions; empty when it says nothing. */
function typesOf(schema: unknown, out = new Set<string>()): Set<string> {
  if (!isObject(schema)) return out;
  if (typeof schema.type === 'string') out.add(schema.type);
  if (Array.isArray(schema.type)) for (const t of schema.type) out.add(String(t));
  if ('const' in schema) out.add(typeof schema.const);
  if (Array.isArray(schema.enum)) for (const e of schema.enum) out.add(typeof e);
  for (const k of ['anyOf', 'oneOf'] as const) {
    const subs = schema[k];
    if (Array.isArray(subs)) for (const sub of subs) typesOf(sub, out);
  }
  return out;
}

/** A `--set` value: typed when it reads as one, unless the schema wants text at that path. */
export function parseSetValue(text: string, fieldSchema?: unknown): Json {
  const types = typesOf(fieldSchema);
  if (types.size > 0 && [...types].every((t) => t === 'string')) return text;
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (text === 'null') return null;
  if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$/.test(text)) return Number(text);
  if (/^[[{]/.test(text)) {
    try {
      return JSON.parse(text) as Json;
    } catch {
      return text;
    }
  }
  return text;
}

/** Sets `a.b.c` in `target`, creating objects on the way; a problem when a non-object is in the way. */
export function setPath(target: Record<string, unknown>, keys: readonly string[], value: unknown): string | undefined {
  let cur = target;
  for (const [i, key] of keys.slice(0, -1).entries()) {
    const next = cur[key];
    if (next === undefined) cur = cur[key] = {};
    else if (isObject(next)) cur = next;
    else return `'${keys.slice(0, i + 1).join('.')}' is already set to ${JSON.stringify(next)}, not an object`;
  }
  cur[keys[keys.length - 1]!] = value;
  return undefined;
}


/** Applies one `key.path=value` to `into`; problems name `argument`. */
function applySet(item: string, argument: string, into: Record<string, unknown>, schema: unknown, problems: Problem[]): void {
  const kv = splitKeyValue(item, argument, problems);
  if (!kv) return;
  const keys = kv[0].split('.');
  if (keys.some((k) => k === '')) {
    problems.push({ argument, reason: `'${item}': '${kv[0]}' has an empty part (use a.b.c)` });
    return;
  }
  const problem = setPath(into, keys, parseSetValue(kv[1], schemaAt(schema, keys)));
  if (problem !== undefined) problems.push({ argument, reason: `'${item}': ${problem}` });
}

// ---------------------------------------------------------------------------
// Plugins known here

async function findPlugin(ctx: CommandContext, id: string): Promise<{ info: PluginInfo; definition: PluginDefinition | undefined } | undefined> {
  const registry = await loadRegistry(ctx, [id]);
  const info = registry.plugins().find((p) => p.id === id);
  return info === undefined ? undefined : { info, definition: registry.definition(id) };
}

interface ApplyOpts extends HubOpts {
  site?: string[];
  selector?: string[];
  allSites?: boolean;
  set?: string[];
  siteSet?: string[];
  file?: string;
  pluginVersion?: string;
  name?: string;
  dryRun?: boolean;
  platform?: 'compose' | 'kubernetes';
  namespace?: string;
}

/**
 * Applies the Addon of `plugin` as the options say; `preset` (a command's
 * own flags, such as `addon edgex --device`) goes over `-f` and under `--set`,
 * and a problem at a path of `presetFlags` names that flag.
 */
async function applyAddon(plugin: string | undefined, o: ApplyOpts, cmd: Command, preset: Record<string, unknown> = {}, presetFlags: Record<string, string> = {}): Promise<void> {
  const ctx = contextOf(cmd);
  const problems: Problem[] = [];
  if (plugin === undefined) {
    usage([{ argument: '<plugin>', reason: `give a plugin id (see 'edgeadm plugin list') or one of: list, status, remove` }]);
    return;
  }
  if (!new RegExp(PLUGIN_ID_PATTERN).test(plugin)) problems.push({ argument: '<plugin>', reason: `'${plugin}' is not a plugin id (see 'edgeadm plugin list')` });
  const name = o.name ?? plugin;
  checkName(name, '--name', problems);
  const sites = o.site ?? [];
  for (const s of sites) checkSite(s, '--site', problems);
  const dup = sites.find((s, i) => sites.indexOf(s) !== i);
  if (dup !== undefined) problems.push({ argument: '--site', reason: `'${dup}' is given twice` });
  let selector: Record<string, string> | undefined;
  if (o.selector !== undefined) {
    const { labelKeyProblem, labelValueProblem } = await import('../core/store/index.ts');
    selector = {};
    for (const item of o.selector.flatMap((s) => s.split(','))) {
      const kv = splitKeyValue(item, '--selector', problems);
      if (!kv) continue;
      const p = labelKeyProblem(kv[0]) ?? labelValueProblem(kv[1]);
      if (p !== undefined) problems.push({ argument: '--selector', reason: `'${item}': ${p}` });
      else selector[kv[0]] = kv[1];
    }
  }
  if (o.allSites && selector !== undefined) problems.push({ argument: '--all-sites', reason: 'not with --selector (--all-sites is the empty selector)' });
  if (o.allSites) selector = {};
  if (sites.length === 0 && selector === undefined) problems.push({ argument: '--site', reason: 'give the sites to run at: --site <name> (repeatable), --selector key=value, or --all-sites' });
  if (o.pluginVersion !== undefined && semver.validRange(o.pluginVersion) === null) problems.push({ argument: '--plugin-version', reason: `'${o.pluginVersion}' is not a semver range such as ^1.2.0` });
  usage(problems);

  const found = await findPlugin(ctx, plugin);
  if (!found) usage([{ argument: '<plugin>', reason: `no plugin '${plugin}' is installed here; 'edgeadm plugin list' shows the installed ones (npm packages and --plugin-path folders count)` }]);
  const p = found!.info;
  if (p.problems.length > 0) usage([{ argument: '<plugin>', reason: `plugin '${plugin}' cannot run: ${p.problems.map((e) => `[${e.code}] ${e.message}`).join('; ')}` }]);
  if (p.stage === 'planned') usage([{ argument: '<plugin>', reason: `plugin '${plugin}' is planned, not available yet` }]);
  if (o.pluginVersion !== undefined && !semver.satisfies(p.version, o.pluginVersion, { includePrerelease: true })) {
    usage([{ argument: '--plugin-version', reason: `the installed plugin '${plugin}' is ${p.version}, outside '${o.pluginVersion}': install a matching version or change --plugin-version` }]);
  }

  // Values: the file, then --set, then per-site overrides.
  const schema = p.configSchema;
  let config: Record<string, unknown> = {};
  if (o.file !== undefined) {
    const docs = readDocuments(o.file, '-f');
    if (docs.length !== 1 || !isObject(docs[0])) usage([{ argument: '-f', reason: `'${o.file}' must hold one mapping of config values` }]);
    config = docs[0] as Record<string, unknown>;
  }
  config = deepMerge(config, preset);
  for (const item of o.set ?? []) applySet(item, '--set', config, schema, problems);
  const templates: Record<string, Record<string, unknown>> = {};
  for (const item of o.siteSet ?? []) {
    const colon = item.indexOf(':');
    const site = colon > 0 ? item.slice(0, colon) : '';
    if (colon <= 0) {
      problems.push({ argument: '--site-set', reason: `'${item}' is not site:key=value` });
      continue;
    }
    checkSite(site, '--site-set', problems);
    applySet(item.slice(colon + 1), '--site-set', (templates[site] ??= {}), schema, problems);
  }
  usage(problems);
  const hasConfig = Object.keys(config).length > 0 || Object.keys(templates).length > 0;
  if (schema === undefined && hasConfig) usage([{ argument: o.file !== undefined ? '-f' : '--set', reason: `plugin '${plugin}' takes no config` }]);
  if (schema !== undefined) {
    const check = (value: Record<string, unknown>, argument: string, at: string): void => {
      const parsed = parseWithSchema(schema as TSchema, value, '');
      if (!parsed.ok) {
        for (const i of parsed.issues) {
          // A value a command's own flag set is that flag's problem.
          const flag = Object.entries(presetFlags).find(([prefix]) => i.path === prefix || i.path.startsWith(`${prefix}.`) || i.path.startsWith(`${prefix}[`))?.[1];
          problems.push({ argument: flag ?? argument, reason: `${at}${i.path || '(config)'} ${i.message}` });
        }
      }
    };
    check(config, o.file !== undefined && (o.set ?? []).length === 0 ? '-f' : o.file !== undefined ? '-f/--set' : '--set', '');
    for (const site of Object.keys(templates)) check(addonSiteConfig({ config, templates }, site), '--site-set', `(site ${site}) `);
    usage(problems);
  }

  const spec: AddonSpec = {
    plugin,
    ...(o.pluginVersion === undefined ? {} : { version: o.pluginVersion }),
    ...(Object.keys(config).length > 0 ? { config } : {}),
    ...(sites.length > 0 ? { sites } : {}),
    ...(selector === undefined ? {} : { siteSelector: selector }),
    ...(Object.keys(templates).length > 0 ? { templates } : {}),
  };
  if (o.dryRun) {
    await dryRun(ctx, { name, spec, definition: found!.definition, opts: o });
    return;
  }
  const target = hubTarget(o);
  const applied = await applyResource<Addon>(target, 'addons', { kind: 'Addon', metadata: { name }, spec });
  const known = new Set((await listAll<Site>(target, 'sites')).map((s) => s.metadata.name));
  const missing = [...sites, ...Object.keys(templates)].filter((s) => !known.has(s));
  if (missing.length > 0) process.stderr.write(`warning: no site named ${[...new Set(missing)].map((s) => `'${s}'`).join(', ')} at the hub yet: create it with 'edgeadm site create <name>'\n`);
  emit(ctx.options.output, applied, () => `addon '${name}' applied: plugin ${plugin} ${p.version} at ${targetText(applied.spec)}; follow it with 'edgeadm addon status ${name}'\n`);
}

/** What a plugin renders for a site; a config that does not fit the site is that site's usage problem. */
function forSite<T>(site: string, render: () => T): T {
  try {
    return render();
  } catch (err) {
    throw new ErrUsage({ argument: '--platform', reason: `(site ${site}) ${err instanceof Error ? err.message : String(err)}` });
  }
}

/**
 * `--dry-run`: the Addon, then what it makes at each site it targets: on
 * Kubernetes (`--platform kubernetes`) the NodeGroup, ConfigMaps and grids
 * the hub's addon controller writes; on an embedded hub (`--platform compose`) each
 * site's Compose project. Sites come from --site, and from the hub for a
 * selector. YAML documents, or one JSON array with -o json.
 */
async function dryRun(ctx: CommandContext, d: { name: string; spec: AddonSpec; definition: PluginDefinition | undefined; opts: ApplyOpts }): Promise<void> {
  const { name, spec, definition: def, opts: o } = d;
  if (def === undefined) usage([{ argument: '<plugin>', reason: `plugin '${spec.plugin}' could not be loaded to render it` }]);
  const platform = o.platform ?? 'compose';
  let sites = [...(spec.sites ?? [])];
  if (spec.siteSelector !== undefined) {
    const all = await listAll<Site>(hubTarget(o), 'sites');
    sites = [...new Set([...sites, ...all.filter((s) => addonTargets(spec, s.metadata.name, s.metadata.labels ?? {})).map((s) => s.metadata.name)])];
  }
  sites.sort();
  const siteConfig = (site: string): unknown => {
    if (def!.configSchema === undefined) return undefined;
    const parsed = parseWithSchema(def!.configSchema, addonSiteConfig(spec, site), '');
    if (!parsed.ok) usage(parsed.issues.map((i) => ({ argument: '--set', reason: `(site ${site}) ${i.path || '(config)'} ${i.message}` })));
    return parsed.ok ? parsed.value : undefined;
  };
  const docs: unknown[] = [{ apiVersion: API_VERSION, kind: 'Addon', metadata: { name }, spec }];
  if (platform === 'kubernetes') {
    if (def!.workloads === undefined) usage([{ argument: '--platform', reason: `plugin '${spec.plugin}' runs in the site agents, not as workloads: nothing more is applied on Kubernetes` }]);
    const namespace = o.namespace ?? 'edgeadm';
    // The grid's manifests only here: `site list` and `site run` share this module and never need them.
    const { addonConfigMaps, addonGrids, addonNodeGroup } = await import('../core/grid/index.ts');
    const running: { site: string; workloads: PluginWorkloads }[] = sites.map((site) => ({ site, workloads: forSite(site, () => def!.workloads!({ addon: name, site, config: siteConfig(site) })) }));
    const out = addonGrids({ namespace, addon: { name }, sites: running });
    const files = addonConfigMaps({ namespace, addon: { name }, sites: running });
    const problems = [...files.problems, ...out.problems];
    if (problems.length > 0) usage(problems.map((p) => ({ argument: '--set', reason: `(site ${p.site}) ${p.message}` })));
    if (out.grids.length > 0) docs.push(addonNodeGroup(namespace, name, sites), ...files.configMaps, ...out.grids);
  } else {
    if (def!.composeProject === undefined) usage([{ argument: '--platform', reason: `plugin '${spec.plugin}' runs no Compose project: it runs in the site agents` }]);
    for (const site of sites) {
      const project = forSite(site, () => def!.composeProject!({ addon: name, site, config: siteConfig(site) }));
      if (project !== undefined) docs.push(project);
    }
  }
  if (ctx.options.output === 'json') process.stdout.write(`${JSON.stringify(docs, null, 2)}\n`);
  else process.stdout.write(docs.map((doc) => toYaml(doc)).join('---\n'));
}

function targetText(spec: AddonSpec): string {
  const parts: string[] = [];
  if (spec.sites && spec.sites.length > 0) parts.push(`sites ${spec.sites.join(',')}`);
  if (spec.siteSelector) {
    const sel = Object.entries(spec.siteSelector).map(([k, v]) => `${k}=${v}`).join(',');
    parts.push(sel === '' ? 'every site' : `sites with ${sel}`);
  }
  return parts.join(' and ') || 'no site';
}

// ---------------------------------------------------------------------------

/** A pending (or starting, stopping) instance counts as a problem once its Addon and its site are both older than this. */
export const PENDING_GRACE_MS = 2 * 60_000;

const TRANSITIONAL_STATES = new Set(['pending', 'starting', 'stopping']);

/** One Addon at one site it targets, as `edgeadm addon status` shows it. */
export interface AddonSiteRow {
  addon: string;
  plugin: string;
  site: string;
  /** The Site's phase (Pending: never connected), or `no such site`. */
  phase: string;
  /** As the hub serves it (conflict, unknown for an offline site, the site's report); `pending` when nothing is reported. */
  state: string;
  code?: string;
  message?: string;
  /** Not running, or in conflict: what `edgeadm status` lists. */
  problem: boolean;
}

/** Why a site has no entry for an Addon it is targeted by. */
function notReported(site: Site | undefined, name: string): string {
  if (!site) return `no Site '${name}' at the hub`;
  const phase = site.status?.phase ?? 'Pending';
  if (phase === 'Pending') return 'the site has never connected';
  if (phase === 'Offline') return `site offline since ${site.status?.lastSeen ?? 'an unknown time'}; nothing reported`;
  return 'not reported by the site yet';
}

/**
 * Every site each Addon targets (Sites whose name or labels it selects, and
 * the names it lists), with the state the hub serves for it. A row is a
 * problem when it carries an error code (a conflict names the other Addon),
 * or its state is anything but running, except pending, starting or
 * stopping for less than PENDING_GRACE_MS after the Addon and the site were
 * created.
 */
export function addonSiteRows(addons: readonly Addon[], sites: readonly Site[], now = Date.now()): AddonSiteRow[] {
  const byName = new Map(sites.map((s) => [s.metadata.name, s]));
  const created = (t: string | undefined): number => (t === undefined ? 0 : Date.parse(t) || 0);
  const rows: AddonSiteRow[] = [];
  for (const a of addons) {
    const names = new Set<string>(a.spec.sites ?? []);
    for (const s of sites) if (addonTargets(a.spec, s.metadata.name, s.metadata.labels ?? {})) names.add(s.metadata.name);
    for (const n of [...names].sort()) {
      const site = byName.get(n);
      const st = a.status?.sites?.[n] ?? { state: 'pending', message: notReported(site, n) };
      const state = st.state.toLowerCase();
      const young = now - Math.max(created(a.metadata.creationTimestamp), created(site?.metadata.creationTimestamp)) < PENDING_GRACE_MS;
      rows.push({
        addon: a.metadata.name,
        plugin: a.spec.plugin,
        site: n,
        phase: site ? (site.status?.phase ?? 'Pending') : 'no such site',
        state: st.state,
        ...(st.code === undefined ? {} : { code: st.code }),
        ...(st.message === undefined || st.message === '' ? {} : { message: st.message }),
        problem: st.code !== undefined || (state !== 'running' && !(TRANSITIONAL_STATES.has(state) && young)),
      });
    }
  }
  return rows;
}

/** A row's code and message as one text: `[CODE] message`, or `-`. */
export function rowMessage(r: Pick<AddonSiteRow, 'code' | 'message'>): string {
  return `${r.code ? `[${r.code}] ` : ''}${r.message ?? ''}`.trim() || '-';
}

/** The options every way of applying an Addon takes. */
function withApplyOptions(cmd: Command): Command {
  return withHubOptions(
    cmd
      .option('--site <site>', 'a site to run at (repeatable)', collect)
      .option('--selector <key=value>', 'run at every site with these labels (repeatable, or a=b,c=d)', collect)
      .option('--all-sites', 'run at every site')
      .option('--set <key=value>', 'a config value, a.b.c=value for nested keys (repeatable)', collect)
      .option('--site-set <site:key=value>', "a config value for one site only, over the others (repeatable)", collect)
      .option('-f, --file <values.yaml>', 'config values from a YAML or JSON file (--set goes on top)')
      .option('--plugin-version <range>', 'the plugin versions the sites may run (semver range)')
      .option('--name <name>', 'the Addon name (default: the plugin id)')
      .option('--dry-run', 'print what would be applied (the Addon, then per site what it makes on --platform), apply nothing')
      .addOption(new Option('--platform <platform>', "with --dry-run: the hub's platform, an embedded hub's Compose projects or a hub on Kubernetes' grids").choices(['compose', 'kubernetes']).default('compose'))
      .option('--namespace <ns>', 'with --dry-run --platform kubernetes: the namespace of the hub', 'edgeadm'),
  );
}

export function registerAddon(program: Command): Command {
  const group = withApplyOptions(
    program
      .command('addon')
      .description(summary('addon'))
      .argument('[plugin]', "the plugin to run (see 'edgeadm plugin list'), or a subcommand: edgex, list, status, remove"),
  )
    // Options after a subcommand name belong to the subcommand.
    .enablePositionalOptions()
    .action(async (plugin: string | undefined, o: ApplyOpts, cmd: Command) => {
      await applyAddon(plugin, o, cmd);
    });
  examples(group, [
    'edgeadm addon modbus --site plant-a',
    'edgeadm addon mqtt --selector region=eu --set onboarding.enabled=false',
    "edgeadm addon edgex --site plant-a   # EdgeX's own services at the site, bridged to it (see 'edgeadm addon edgex --help')",
    'edgeadm addon load-gen --site plant-a -f values.yaml --set ratePerSecond=500 --site-set plant-a:devices=4 --plugin-version ^1.0.0',
    'edgeadm addon list',
    'edgeadm addon status mqtt',
    'edgeadm addon remove mqtt',
  ]);

  registerAddonEdgeX(group);

  const list = withHubOptions(group.command('list').alias('ls').description('List addons: plugin, version range, targets, sites where it reports problems')).action(async (o: HubOpts, cmd: Command) => {
    const ctx = contextOf(cmd);
    const target = hubTarget(o);
    const [addons, sites] = await Promise.all([listAll<Addon>(target, 'addons'), listAll<Site>(target, 'sites')]);
    const rows = addonSiteRows(addons, sites);
    emit(ctx.options.output, addons, () =>
      renderTable(addons, [
        { header: 'name', value: (a) => a.metadata.name },
        { header: 'plugin', value: (a) => a.spec.plugin },
        { header: 'version', value: (a) => a.spec.version ?? '*' },
        { header: 'targets', value: (a) => targetText(a.spec) },
        { header: 'sites', value: (a) => rows.filter((r) => r.addon === a.metadata.name).length },
        { header: 'problems', value: (a) => rows.filter((r) => r.addon === a.metadata.name && r.problem).length },
      ]),
    );
  });
  examples(list, ['edgeadm addon list', 'edgeadm addon list -o yaml']);

  const status = withHubOptions(group.command('status').description('Per-site state of addons: what the sites report, conflicts, offline sites as unknown, not reported as pending').argument('[name]', 'only this addon')).action(
    async (name: string | undefined, o: HubOpts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const problems: Problem[] = [];
      checkName(name, '[name]', problems);
      usage(problems);
      const target = hubTarget(o);
      const [addons, sites] = await Promise.all([name === undefined ? listAll<Addon>(target, 'addons') : getResource<Addon>(target, 'addons', name).then((a) => [a]), listAll<Site>(target, 'sites')]);
      const rows = addonSiteRows(addons, sites).map(({ problem: _p, ...r }) => r);
      emit(ctx.options.output, rows, () =>
        rows.length === 0
          ? `no addon targets any site${name === undefined ? '' : ` ('${name}' selects none)`}\n`
          : renderTable(rows, [
              { header: 'addon', value: (r) => r.addon },
              { header: 'plugin', value: (r) => r.plugin },
              { header: 'site', value: (r) => r.site },
              { header: 'site phase', value: (r) => r.phase },
              { header: 'state', value: (r) => r.state },
              { header: 'message', value: (r) => rowMessage(r) },
            ]),
      );
    },
  );
  examples(status, ['edgeadm addon status', 'edgeadm addon status mqtt -o json']);

  const remove = withHubOptions(group.command('remove').alias('rm').description('Remove an addon: its sites stop the plugin').argument('<name>', 'the addon')).action(
    async (name: string, o: HubOpts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const problems: Problem[] = [];
      checkName(name, '<name>', problems);
      usage(problems);
      const deleted = await deleteResource<Addon>(hubTarget(o), 'addons', name);
      emit(ctx.options.output, deleted, () => `addon '${name}' removed; its sites stop plugin ${deleted.spec.plugin}\n`);
    },
  );
  examples(remove, ['edgeadm addon remove mqtt']);
  return group;
}

interface EdgeXOpts extends ApplyOpts {
  core?: boolean;
  app?: boolean | string;
  device?: string[];
  ui?: boolean;
  support?: boolean;
  busOnly?: boolean;
  runtime?: string;
  secure?: boolean;
}

/**
 * `edgeadm addon edgex`: EdgeX's own services at each chosen site, as the
 * edgex plugin's `services` block. No service flag: core, device-virtual,
 * the rules-engine app and the UI. Any service brings core (EdgeX's
 * services cannot run without it). `--secure` runs them in EdgeX's secure
 * mode. `--bus-only` runs no EdgeX container: the site speaks EdgeX's
 * message bus itself.
 */
export function edgexPreset(o: EdgeXOpts): { preset: Record<string, unknown>; problems: Problem[] } {
  const problems: Problem[] = [];
  const chosen = o.core === true || o.app !== undefined || (o.device ?? []).length > 0 || o.ui === true || o.support === true;
  if (o.busOnly) {
    if (chosen || o.runtime !== undefined || o.secure === true) {
      problems.push({ argument: '--bus-only', reason: 'runs no EdgeX service: not with --core, --app, --device, --ui, --support, --secure or --runtime' });
    }
    return { preset: {}, problems };
  }
  const dup = (o.device ?? []).find((d, i, all) => all.indexOf(d) !== i);
  if (dup !== undefined) problems.push({ argument: '--device', reason: `'${dup}' is given twice` });
  const services: Record<string, unknown> = chosen
    ? { core: true, app: { enabled: o.app !== undefined, ...(typeof o.app === 'string' ? { profile: o.app } : {}) }, devices: [...new Set(o.device ?? [])], ui: o.ui === true, support: o.support === true }
    : {};
  if (o.runtime !== undefined) services.runtime = o.runtime;
  if (o.secure === true) services.secure = true;
  return { preset: { services }, problems };
}

function registerAddonEdgeX(group: Command): void {
  const cmd = withApplyOptions(
    group
      .command('edgex')
      .description("EdgeX Foundry's own services at sites (core, app, device, ui, support), bridged to the platform; with no service flag: core, device-virtual, app and ui")
      .option('--core', 'core-keeper, config bootstrapper, core-data, core-metadata, core-command, database, message bus (any other service brings them)')
      .option('--app [profile]', 'app-service-configurable, with this EDGEX_PROFILE (default rules-engine)')
      .option('--device <name>', 'a device service: device-virtual, device-rest, device-modbus, device-mqtt (repeatable)', collect)
      .option('--ui', 'edgex-ui')
      .option('--support', 'support-notifications and support-scheduler')
      .option('--secure', "EdgeX's secure mode: its secret store, a token per service, JWTs on its APIs, its API gateway (Compose only; on Kubernetes without --ui)")
      .option('--bus-only', "no EdgeX container: the site speaks EdgeX's message bus itself")
      .addOption(new Option('--runtime <runtime>', "an embedded hub's node: the container runtime").choices(['auto', 'docker', 'podman'])),
  ).action(async (_o: EdgeXOpts, c: Command) => {
    // The shared options are the addon command's too: they count wherever they are given.
    const o = c.optsWithGlobals<EdgeXOpts>();
    const { preset, problems } = edgexPreset(o);
    usage(problems);
    await applyAddon('edgex', o, c, preset, { 'services.devices': '--device', 'services.app.profile': '--app', 'services.runtime': '--runtime' });
  });
  examples(cmd, [
    'edgeadm addon edgex --site plant-a',
    'edgeadm addon edgex --all-sites --core --device device-modbus --device device-virtual --support',
    `edgeadm addon edgex --selector line=one --app mqtt-export --site-set 'plant-b:services.devices=["device-modbus"]'`,
    'edgeadm addon edgex --site plant-a --secure',
    'edgeadm addon edgex --site plant-a --dry-run -o yaml',
    'edgeadm addon edgex --site plant-a --site plant-b --dry-run --platform kubernetes',
    'edgeadm addon edgex --site plant-a --bus-only',
    'edgeadm addon remove edgex',
  ]);
}
