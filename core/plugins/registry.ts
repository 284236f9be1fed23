/**
 * The plugin registry. Validates everything before starting anything (engine
 * range, unique ids, entry modules, manifest/definition agreement, config
 * against schema, dependencies present and unambiguous, no cycles) and
 * reports every problem at once, each naming its plugin. Then it starts the
 * valid instances in dependency order, level by level, each with a start
 * timeout; stops them in reverse; and isolates failures: a failing instance
 * carries its coded error in its status and the others keep running, unless
 * its failure policy is `abort`.
 */
import { setMaxListeners } from 'node:events';
import path from 'node:path';
import semver from 'semver';
import {
  compareNames,
  describeError,
  EdgeAggregateError,
  EdgeError,
  KernelErrors,
  parseWithSchema,
  type ServiceScope,
  TeardownStack,
  toErrorInfo,
  withTimeout,
  type Component,
  type ErrorInfo,
  type Logger,
  type ServiceRef,
} from '../kernel/index.ts';
import {
  ErrAbort,
  ErrConfig,
  ErrDepAmbiguous,
  ErrDepCycle,
  ErrDepFailed,
  ErrDepMissing,
  ErrDuplicate,
  ErrEngine,
  ErrInstanceDuplicate,
  ErrLoad,
  ErrManifestMismatch,
  ErrNotAvailable,
  ErrNotFound,
  ErrProvidesMissing,
  ErrStart,
  ErrStartTimeout,
  ErrStop,
} from './errors.ts';
import { isPluginDefinition, type PluginContext, type PluginDefinition } from './definition.ts';
import { discoverPlugins, importPluginModule, type DiscoveryOptions, type DiscoveryResult } from './discovery.ts';
import { findCycles, startLevels } from './graph.ts';
import type { PluginManifest, PluginRole, PluginSource, PluginStage } from './manifest.ts';

export type FailurePolicy = 'isolate' | 'abort';

/** One plugin instance to run: a plugin, optionally for one site, with that site's config slice. */
export interface InstanceSpec {
  plugin: string;
  site?: string | undefined;
  config?: unknown;
  failurePolicy?: FailurePolicy;
  /** A hub on Kubernetes runs this plugin's workloads as grids: the instance is its site half (PluginContext.workloadsAsGrid). */
  workloadsAsGrid?: boolean;
  /** The Addon the instance runs for (PluginContext.addon). */
  addon?: string;
}

export type InstanceState = 'invalid' | 'blocked' | 'pending' | 'starting' | 'running' | 'failed' | 'stopping' | 'stopped';

/**
 * An instance's state as reported: its InstanceState, or `degraded` for a
 * running instance that said it does not fully do its job
 * (`PluginContext.setDegraded`), with the cause as its error.
 */
export type InstanceStatusState = InstanceState | 'degraded';

export interface InstanceStatus {
  instance: string;
  plugin: string;
  site: string | undefined;
  state: InstanceStatusState;
  /** Why it failed, is invalid or blocked, or (degraded) the cause it reported. */
  error?: ErrorInfo;
  /** Instances this one depends on. */
  dependsOn: string[];
  startMs?: number;
  /** When it last started running (ISO 8601). */
  startedAt?: string;
}

export type PluginState = 'ready' | 'planned' | 'invalid' | 'running' | 'failed';

export interface PluginInfo {
  id: string;
  packageName: string;
  version: string;
  description: string | undefined;
  role: PluginRole | undefined;
  stage: PluginStage | undefined;
  source: PluginSource;
  location: string | undefined;
  engine: string;
  status: PluginState;
  problems: ErrorInfo[];
  instances: string[];
  provides: string[];
  consumes: string[];
  dependencies: string[];
  configSchema: unknown;
  /** The Device protocol blocks its driver reads, each with its JSON schema (`protocols` of its definition); empty when it declares none. */
  protocols: Readonly<Record<string, unknown>>;
}

export interface RegistryOptions {
  /** This edgeadm's version, matched against each plugin's engine range. */
  kernelVersion: string;
  logger: Logger;
  /** The kernel's service scope; plugin scopes hang below it. */
  services: ServiceScope;
  /** How to find plugins on disk (or a finished discovery). Omit for inline plugins only. */
  discovery?: DiscoveryOptions | DiscoveryResult | false;
  /** Plugins given as definitions (tests, embedding). */
  inline?: readonly PluginDefinition[];
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  /** Loads an entry module; defaults to dynamic import. */
  importer?: (entryPath: string) => Promise<unknown>;
  /** Called when a running instance's reported status changed on its own (degraded or recovered), so reporters need not poll. */
  onStatus?: (instance: string) => void;
}

interface PluginRecord {
  manifest: PluginManifest;
  definition?: PluginDefinition;
  problems: EdgeError[];
}

interface InstanceRecord {
  id: string;
  spec: InstanceSpec;
  /** What makes two specs of the same instance the same: config and failure policy. */
  key: string;
  plugin?: PluginRecord;
  config?: unknown;
  state: InstanceState;
  error?: EdgeError;
  deps: string[];
  teardown: TeardownStack;
  /** Run once it is removed for good (PluginContext.onRemove), after its teardown. */
  removal: TeardownStack;
  /** Its own service scope while it runs. */
  scope?: ServiceScope | undefined;
  /** What it provided into its site's scope, withdrawn when it stops. */
  provided: ServiceRef<unknown>[];
  startMs?: number;
  startedAt?: string;
  /** The cause a running instance reported itself degraded with (cleared when it starts or stops). */
  degraded?: ErrorInfo | undefined;
  /** Counts starts: a context of an earlier start no longer speaks for the instance. */
  runs: number;
}

/** What `apply` did, by instance id. */
export interface ApplyResult {
  /** Wanted now and not before. */
  added: string[];
  /** Config, failure policy or resolved dependencies changed (restarted, or stopped when it can no longer run). */
  updated: string[];
  /** No longer wanted: stopped and dropped. */
  removed: string[];
  /** Unchanged themselves, restarted because something they depend on stopped. */
  restarted: string[];
  /** Left running (or failed) as they were. */
  unchanged: string[];
  problems: EdgeError[];
}

/** JSON with object keys sorted, so two equal configs give one key whatever their key order. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function specKey(spec: InstanceSpec): string {
  return stableJson({ config: spec.config ?? {}, failurePolicy: spec.failurePolicy ?? 'isolate', workloadsAsGrid: spec.workloadsAsGrid === true, addon: spec.addon });
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** For each instance id, the ids of the instances that depend on it. */
function dependantsOf(recs: readonly InstanceRecord[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of recs) {
    for (const d of r.deps) {
      const list = out.get(d) ?? [];
      list.push(r.id);
      out.set(d, list);
    }
  }
  return out;
}

function instanceId(plugin: string, site: string | undefined): string {
  return site === undefined ? plugin : `${plugin}@${site}`;
}

function manifestOfDefinition(def: PluginDefinition): PluginManifest {
  return {
    id: def.id,
    packageName: def.id,
    version: def.version,
    description: def.description,
    role: 'extension',
    engine: def.engine,
    stage: 'stable',
    dependencies: [...def.dependencies],
    source: 'inline',
    dir: undefined,
    entryPath: undefined,
  };
}

const defaultImporter = importPluginModule;

export class PluginRegistry {
  readonly #opts: RegistryOptions;
  readonly #log: Logger;
  readonly #plugins = new Map<string, PluginRecord>();
  /** Problems not tied to one loadable plugin (broken manifests, duplicates). */
  readonly #orphanProblems: EdgeError[] = [];
  #instances = new Map<string, InstanceRecord>();
  #planned = false;
  #scopes: ServiceScope[] = [];
  #siteScopes = new Map<string | undefined, ServiceScope>();
  #loaded = false;
  readonly #problems: EdgeError[] = [];
  #stopping: Promise<EdgeError[]> | undefined;

  constructor(opts: RegistryOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ component: 'plugins' });
    this.#index();
  }

  #index(): void {
    const d = this.#opts.discovery;
    const found: DiscoveryResult =
      d === false || d === undefined
        ? { manifests: [], problems: [] }
        : 'manifests' in d
          ? d
          : discoverPlugins(d);
    this.#orphanProblems.push(...found.problems);
    this.#add([
      ...found.manifests.map((manifest) => ({ manifest })),
      ...(this.#opts.inline ?? []).map((definition) => ({ manifest: manifestOfDefinition(definition), definition })),
    ]);
  }

  /**
   * Looks on disk again when an instance asks for a plugin not known yet (it
   * may have been installed since): plugins found now are added; the ones
   * already known stay as they were.
   */
  #rediscover(ids: readonly string[]): void {
    const d = this.#opts.discovery;
    if (d === false || d === undefined || 'manifests' in d || ids.every((id) => this.#plugins.has(id))) return;
    const found = discoverPlugins(d);
    this.#add(found.manifests.filter((m) => !this.#plugins.has(m.id)).map((manifest) => ({ manifest })));
  }

  #add(candidates: readonly { manifest: PluginManifest; definition?: PluginDefinition }[]): void {
    const byId = new Map<string, { manifest: PluginManifest; definition?: PluginDefinition }[]>();
    for (const c of candidates) {
      const list = byId.get(c.manifest.id) ?? [];
      list.push(c);
      byId.set(c.manifest.id, list);
    }
    for (const [id, list] of byId) {
      if (list.length > 1) {
        const locations = list.map((c) => c.manifest.dir ?? `inline:${c.manifest.id}`);
        const err = new ErrDuplicate({ plugin: id, locations });
        // Ambiguity is never resolved by order: no copy runs.
        this.#plugins.set(id, { manifest: list[0]!.manifest, problems: [err] });
        continue;
      }
      const c = list[0]!;
      const rec: PluginRecord = { manifest: c.manifest, problems: [] };
      if (c.definition) rec.definition = c.definition;
      if (!semver.satisfies(this.#opts.kernelVersion, c.manifest.engine, { includePrerelease: true })) {
        rec.problems.push(new ErrEngine({ plugin: id, engine: c.manifest.engine, version: this.#opts.kernelVersion }));
      }
      this.#plugins.set(id, rec);
    }
  }

  /** Imports the entry modules of every plugin (or the named ones) that passed manifest checks. */
  async load(ids?: Iterable<string>): Promise<void> {
    const wanted = ids ? new Set(ids) : undefined;
    const importer = this.#opts.importer ?? defaultImporter;
    await Promise.all(
      [...this.#plugins.values()].map(async (rec) => {
        const { manifest } = rec;
        if (wanted && !wanted.has(manifest.id)) return;
        if (rec.definition || rec.problems.length > 0 || !manifest.entryPath) return;
        const entry = path.relative(process.cwd(), manifest.entryPath) || manifest.entryPath;
        let mod: unknown;
        try {
          mod = await importer(manifest.entryPath);
        } catch (err) {
          rec.problems.push(new ErrLoad({ plugin: manifest.id, entry, reason: describeError(err) }, { cause: err }));
          return;
        }
        const m = mod as { default?: unknown; plugin?: unknown };
        const def = isPluginDefinition(m.default) ? m.default : isPluginDefinition(m.plugin) ? m.plugin : undefined;
        if (!def) {
          rec.problems.push(new ErrLoad({ plugin: manifest.id, entry, reason: 'the module exports no definePlugin(...) result as default' }));
          return;
        }
        for (const field of ['id', 'version', 'engine'] as const) {
          if (def[field] !== manifest[field]) {
            rec.problems.push(new ErrManifestMismatch({ plugin: manifest.id, field, manifest: manifest[field], definition: def[field] }));
          }
        }
        if (rec.problems.length === 0) rec.definition = def;
      }),
    );
    if (!wanted) this.#loaded = true;
  }

  /** Problems found so far that concern plugins rather than instances. */
  pluginProblems(): EdgeError[] {
    return [...this.#orphanProblems, ...[...this.#plugins.values()].flatMap((r) => r.problems)];
  }

  /** The loaded definition of a plugin without problems (call `load()` first); undefined otherwise. */
  definition(id: string): PluginDefinition | undefined {
    const rec = this.#plugins.get(id);
    return rec === undefined || rec.problems.length > 0 ? undefined : rec.definition;
  }

  /** Every known plugin with its status. Call `load()` first for entry-level checks. */
  plugins(): PluginInfo[] {
    const out: PluginInfo[] = [];
    for (const rec of this.#plugins.values()) {
      const m = rec.manifest;
      const instances = [...this.#instances.values()].filter((i) => i.plugin === rec);
      let status: PluginState;
      if (rec.problems.length > 0) status = 'invalid';
      else if (instances.some((i) => i.state === 'running')) status = 'running';
      else if (instances.some((i) => i.state === 'failed' || i.state === 'invalid')) status = 'failed';
      else if (m.stage === 'planned') status = 'planned';
      else status = 'ready';
      out.push({
        id: m.id,
        packageName: m.packageName,
        version: m.version,
        description: m.description ?? rec.definition?.description,
        role: m.role,
        stage: m.stage,
        source: m.source,
        location: m.dir,
        engine: m.engine,
        status,
        problems: rec.problems.map(toErrorInfo),
        instances: instances.map((i) => i.id),
        provides: rec.definition?.provides.map((r) => r.id) ?? [],
        consumes: rec.definition?.consumes.map((r) => r.id) ?? [],
        dependencies: [...new Set([...m.dependencies, ...(rec.definition?.dependencies ?? [])])],
        configSchema: rec.definition?.configSchema,
        // A definition made by an older copy of the SDK has none.
        protocols: rec.definition?.protocols ?? {},
      });
    }
    for (const p of this.#orphanProblems) {
      const id = (p.params as { plugin?: string }).plugin ?? 'unknown';
      if (this.#plugins.has(id)) continue;
      out.push({
        id,
        packageName: id,
        version: '',
        description: undefined,
        role: undefined,
        stage: undefined,
        source: 'path',
        location: (p.params as { location?: string }).location,
        engine: '',
        status: 'invalid',
        problems: [toErrorInfo(p)],
        instances: [],
        provides: [],
        consumes: [],
        dependencies: [],
        configSchema: undefined,
        protocols: {},
      });
    }
    return out.sort((a, b) => compareNames(a.id, b.id));
  }

  /**
   * Validates the instances to run, without starting anything. Returns every
   * problem (plugin-level and instance-level) at once.
   */
  async plan(specs: readonly InstanceSpec[]): Promise<EdgeError[]> {
    if (this.#planned) throw new KernelErrors.ErrKernelState({ action: 'plan', state: 'already planned' });
    const { recs, problems } = await this.#validate(specs);
    this.#planned = true;
    this.#instances = recs;
    this.#problems.push(...problems);
    return problems;
  }

  /** Validates a whole set of instances into fresh records (states pending, invalid or blocked, with deps). */
  async #validate(specs: readonly InstanceSpec[]): Promise<{ recs: Map<string, InstanceRecord>; problems: EdgeError[] }> {
    this.#rediscover(specs.map((s) => s.plugin));
    await this.load(specs.map((s) => s.plugin));
    // Problems of every discovered plugin are reported, requested or not; entry
    // modules are loaded (and so checked) only for requested plugins.
    const problems: EdgeError[] = [...this.#orphanProblems, ...[...this.#plugins.values()].flatMap((r) => r.problems)];
    const recs = new Map<string, InstanceRecord>();

    for (const spec of specs) {
      const id = instanceId(spec.plugin, spec.site);
      const inst: InstanceRecord = { id, spec, key: specKey(spec), state: 'pending', deps: [], teardown: new TeardownStack(), removal: new TeardownStack(), provided: [], runs: 0 };
      const fail = (err: EdgeError): void => {
        inst.state = 'invalid';
        inst.error ??= err;
        problems.push(err);
      };
      if (recs.has(id)) {
        problems.push(new ErrInstanceDuplicate({ plugin: spec.plugin, instance: id }));
        continue;
      }
      recs.set(id, inst);
      const rec = this.#plugins.get(spec.plugin);
      if (!rec) {
        fail(new ErrNotFound({ plugin: spec.plugin, instance: id }));
        continue;
      }
      inst.plugin = rec;
      if (rec.problems.length > 0) {
        inst.state = 'invalid';
        inst.error = rec.problems[0];
        continue;
      }
      if (rec.manifest.stage === 'planned') {
        fail(new ErrNotAvailable({ plugin: spec.plugin, stage: rec.manifest.stage }));
        continue;
      }
      const def = rec.definition as PluginDefinition;
      if (def.configSchema) {
        const parsed = parseWithSchema(def.configSchema, spec.config ?? {}, '');
        if (!parsed.ok) fail(new ErrConfig({ plugin: spec.plugin, instance: id, issues: parsed.issues }));
        else inst.config = parsed.value;
      } else if (spec.config !== undefined && !(typeof spec.config === 'object' && spec.config !== null && Object.keys(spec.config).length === 0)) {
        fail(new ErrConfig({ plugin: spec.plugin, instance: id, issues: [{ path: '', message: 'this plugin takes no config' }] }));
      }
    }

    // Dependencies: plugin ids and consumed services, resolved at the same site, then site-less.
    const all = [...recs.values()];
    const bySiteAndPlugin = (site: string | undefined, plugin: string): InstanceRecord | undefined =>
      recs.get(instanceId(plugin, site)) ?? (site !== undefined ? recs.get(instanceId(plugin, undefined)) : undefined);
    // Providers indexed once per service token and site: planning 1,000 instances stays linear.
    const providers = new Map<symbol, Map<string | undefined, InstanceRecord[]>>();
    for (const i of all) {
      for (const p of i.plugin?.definition?.provides ?? []) {
        const bySite = providers.get(p.token) ?? new Map<string | undefined, InstanceRecord[]>();
        providers.set(p.token, bySite);
        const list = bySite.get(i.spec.site) ?? [];
        list.push(i);
        bySite.set(i.spec.site, list);
      }
    }
    const providersOf = (ref: ServiceRef<unknown>, site: string | undefined): InstanceRecord[] => {
      const at = (s: string | undefined): InstanceRecord[] => providers.get(ref.token)?.get(s) ?? [];
      const here = at(site);
      return here.length > 0 || site === undefined ? here : at(undefined);
    };
    for (const inst of all) {
      const def = inst.plugin?.definition;
      if (!def || !inst.plugin) continue;
      const { site } = inst.spec;
      const fail = (err: EdgeError): void => {
        if (inst.state !== 'invalid') {
          inst.state = 'invalid';
          inst.error = err;
        }
        problems.push(err);
      };
      const deps = new Set<string>();
      for (const dep of new Set([...inst.plugin.manifest.dependencies, ...def.dependencies])) {
        const p = bySiteAndPlugin(site, dep);
        if (!p) fail(new ErrDepMissing({ plugin: def.id, instance: inst.id, dependency: dep, kind: 'plugin' }));
        else deps.add(p.id);
      }
      for (const ref of def.consumes) {
        if (this.#opts.services.has(ref)) continue;
        const found = providersOf(ref, site);
        if (found.length === 0) fail(new ErrDepMissing({ plugin: def.id, instance: inst.id, dependency: ref.id, kind: 'service' }));
        else if (found.length > 1) {
          fail(new ErrDepAmbiguous({ plugin: def.id, instance: inst.id, service: ref.id, providers: found.map((p) => p.id) }));
        } else deps.add(found[0]!.id);
      }
      inst.deps = [...deps].sort();
    }

    const edges = new Map(all.map((i) => [i.id, i.deps] as const));
    for (const cycle of findCycles([...recs.keys()], edges)) {
      for (const member of cycle) {
        const inst = recs.get(member)!;
        const err = new ErrDepCycle({ plugin: inst.spec.plugin, cycle: [...cycle, cycle[0]!] });
        inst.state = 'invalid';
        inst.error = err;
        problems.push(err);
      }
    }

    // Instances whose dependencies cannot start are blocked (to a fixpoint, in dependency order).
    const dependants = dependantsOf(all);
    const queue = all.filter((i) => i.state !== 'pending').map((i) => i.id);
    while (queue.length > 0) {
      const bad = queue.shift()!;
      for (const d of dependants.get(bad) ?? []) {
        const inst = recs.get(d)!;
        if (inst.state !== 'pending') continue;
        inst.state = 'blocked';
        inst.error = new ErrDepFailed({ plugin: inst.spec.plugin, instance: inst.id, dependency: bad });
        problems.push(inst.error);
        queue.push(d);
      }
    }
    for (const p of problems) this.#log.error({ error: toErrorInfo(p) }, 'plugin problem');
    return { recs, problems };
  }

  /**
   * Plans (if not yet planned) and starts the valid instances. Returns the
   * problems; throws only when an instance with failure policy `abort`
   * cannot run (everything started is stopped first).
   */
  async start(specs: readonly InstanceSpec[], signal?: AbortSignal): Promise<EdgeError[]> {
    const problems = await this.plan(specs);
    const abortOn = (inst: InstanceRecord): boolean => inst.spec.failurePolicy === 'abort';
    const fatal = [...this.#instances.values()].find((i) => abortOn(i) && (i.state === 'invalid' || i.state === 'blocked'));
    if (fatal) throw new ErrAbort({ plugin: fatal.spec.plugin, instance: fatal.id }, { cause: fatal.error });
    const pending = [...this.#instances.values()].filter((i) => i.state === 'pending');
    await this.#startSet(pending, problems, signal);
    return problems;
  }

  /**
   * Moves the running set to `specs`, touching only what changed: instances
   * no longer wanted are stopped, new ones started, and ones whose config,
   * failure policy or resolved dependencies changed are restarted, together
   * with every running instance that depends on a restarted or stopped one
   * (it holds the old one's services). Everything else keeps running
   * untouched. Stops go dependants first, starts in dependency order. An
   * instance that failed to start and whose spec did not change stays failed
   * (apply a changed spec to retry it); one that was invalid or blocked
   * starts when the new set lets it. Before the first start it is `start`.
   */
  async apply(specs: readonly InstanceSpec[], signal?: AbortSignal): Promise<ApplyResult> {
    if (this.#stopping) throw new KernelErrors.ErrKernelState({ action: 'apply', state: 'stopped' });
    if (!this.#planned) {
      const problems = await this.start(specs, signal);
      const started = [...this.#instances.values()].filter((i) => i.state === 'running' || i.state === 'failed').map((i) => i.id);
      return { added: started, updated: [], removed: [], restarted: [], unchanged: [], problems };
    }
    const old = this.#instances;
    const { recs: next, problems } = await this.#validate(specs);
    const kept = new Set<string>();
    const updated: string[] = [];
    const added: string[] = [];
    for (const n of next.values()) {
      const o = old.get(n.id);
      if (!o) {
        added.push(n.id);
        continue;
      }
      const same = o.key === n.key && o.plugin === n.plugin && sameList(o.deps, n.deps);
      if (same && ((o.state === 'running' && n.state === 'pending') || (o.state === 'failed' && n.state === 'pending'))) kept.add(n.id);
      else if (!same || o.state === 'running' || n.state === 'pending') updated.push(n.id);
    }
    const removed = [...old.keys()].filter((id) => !next.has(id));
    // A running instance that depends on one that stops must stop too (to a fixpoint).
    const stopping = new Set([...removed, ...updated].filter((id) => old.get(id)?.state === 'running'));
    const restarted: string[] = [];
    const oldDependants = dependantsOf([...old.values()]);
    const queue = [...stopping];
    while (queue.length > 0) {
      for (const d of oldDependants.get(queue.shift()!) ?? []) {
        if (stopping.has(d) || old.get(d)?.state !== 'running') continue;
        stopping.add(d);
        queue.push(d);
        if (kept.delete(d)) restarted.push(d);
      }
    }
    const errors = await this.#stopSet([...stopping].map((id) => old.get(id)!), old);
    problems.push(...errors);
    for (const id of removed) problems.push(...(await this.#runRemoval(old.get(id)!)));
    // The new set: kept records carry on; every other wanted instance is the fresh record.
    this.#instances = new Map([...next.values()].map((n) => [n.id, kept.has(n.id) ? old.get(n.id)! : n] as const));
    for (const id of kept) this.#instances.get(id)!.spec = next.get(id)!.spec;
    this.#problems.length = 0;
    this.#problems.push(...problems, ...[...kept].flatMap((id) => (this.#instances.get(id)!.error ? [this.#instances.get(id)!.error!] : [])));
    const toStart = [...this.#instances.values()].filter((i) => i.state === 'pending' && !kept.has(i.id));
    await this.#startSet(toStart, problems, signal);
    const unchanged = [...kept].filter((id) => !restarted.includes(id));
    return { added, updated, removed, restarted, unchanged, problems };
  }

  #scopeFor(site: string | undefined): ServiceScope {
    let root = this.#siteScopes.get(undefined);
    if (!root) {
      root = this.#opts.services.child('plugins');
      this.#scopes.push(root);
      this.#siteScopes.set(undefined, root);
    }
    let s = this.#siteScopes.get(site);
    if (!s) {
      s = root.child(`site '${site}'`);
      this.#siteScopes.set(site, s);
      this.#scopes.push(s);
    }
    return s;
  }

  /** Starts the given pending instances level by level (their dependencies outside the set already run). */
  async #startSet(set: readonly InstanceRecord[], problems: EdgeError[], signal?: AbortSignal): Promise<void> {
    if (set.length === 0) return;
    this.#scopeFor(undefined);
    const ids = new Set(set.map((i) => i.id));
    const levels = startLevels(
      [...ids],
      new Map(set.map((i) => [i.id, i.deps.filter((d) => ids.has(d))] as const)),
    );
    // Every starting instance of a level listens on one signal: lift the listener cap on a local one.
    const local = new AbortController();
    setMaxListeners(0, local.signal);
    const forward = (): void => local.abort(signal?.reason);
    signal?.addEventListener('abort', forward, { once: true });
    try {
      await this.#startLevels(levels, problems, local.signal);
    } finally {
      signal?.removeEventListener('abort', forward);
    }
  }

  async #startLevels(levels: readonly string[][], problems: EdgeError[], signal: AbortSignal): Promise<void> {
    const abortOn = (inst: InstanceRecord): boolean => inst.spec.failurePolicy === 'abort';
    for (const level of levels) {
      if (signal.aborted) break;
      await Promise.all(
        level.map(async (id) => {
          const inst = this.#instances.get(id)!;
          const bad = inst.deps.find((d) => this.#instances.get(d)?.state !== 'running');
          if (bad) {
            inst.state = 'blocked';
            inst.error = new ErrDepFailed({ plugin: inst.spec.plugin, instance: inst.id, dependency: bad });
            problems.push(inst.error);
            this.#problems.push(inst.error);
            return;
          }
          const err = await this.#startInstance(inst, this.#scopeFor(inst.spec.site), signal);
          if (err) {
            problems.push(err);
            this.#problems.push(err);
          }
        }),
      );
      const failedAbort = level.map((id) => this.#instances.get(id)!).find((i) => abortOn(i) && i.state !== 'running');
      if (failedAbort) {
        await this.stop();
        throw new ErrAbort({ plugin: failedAbort.spec.plugin, instance: failedAbort.id }, { cause: failedAbort.error });
      }
    }
  }

  async #startInstance(inst: InstanceRecord, siteScope: ServiceScope, outer?: AbortSignal): Promise<EdgeError | undefined> {
    const def = inst.plugin!.definition!;
    const { site } = inst.spec;
    const scope = siteScope.child(`plugin '${inst.id}'`);
    inst.scope = scope;
    const logger = this.#opts.logger.child(site === undefined ? { plugin: def.id } : { plugin: def.id, site });
    const ms = this.#opts.startTimeoutMs ?? 10_000;
    inst.state = 'starting';
    inst.degraded = undefined;
    const run = ++inst.runs;
    const t0 = performance.now();
    let pending: Promise<unknown> | undefined;
    try {
      await withTimeout(
        `start of plugin '${inst.id}'`,
        ms,
        (signal) => {
          const ctx: PluginContext = {
            pluginId: def.id,
            instanceId: inst.id,
            site,
            config: inst.config,
            workloadsAsGrid: inst.spec.workloadsAsGrid === true,
            addon: inst.spec.addon,
            logger,
            signal,
            get: (ref) => scope.get(ref, `plugin '${inst.id}'`),
            provide: (ref, value) => {
              if (!def.provides.some((p) => p.token === ref.token)) {
                throw new TypeError(`plugin '${def.id}' provides '${ref.id}' without declaring it in provides`);
              }
              siteScope.provide(ref, value);
              inst.provided.push(ref);
            },
            onStop: (fn) => inst.teardown.add(fn),
            onRemove: (fn) => inst.removal.add(fn),
            setDegraded: (cause) => this.#setDegraded(inst, run, cause, logger),
          };
          pending = Promise.resolve(def.register(ctx));
          return pending;
        },
        outer,
      );
      const missing = def.provides.find((p) => !inst.provided.some((r) => r.token === p.token));
      if (missing) throw new ErrProvidesMissing({ plugin: def.id, instance: inst.id, service: missing.id });
      inst.state = 'running';
      inst.startMs = Math.round(performance.now() - t0);
      inst.startedAt = new Date().toISOString();
      logger.info({ ms: inst.startMs }, 'plugin started');
      return undefined;
    } catch (err) {
      // A start that outlives its timeout may still reject later: observe it.
      pending?.catch(() => undefined);
      inst.state = 'failed';
      inst.error = KernelErrors.ErrTimeout.is(err)
        ? new ErrStartTimeout({ plugin: def.id, instance: inst.id, ms }, { cause: err })
        : err instanceof EdgeError && err.code === ErrProvidesMissing.code
          ? err
          : new ErrStart({ plugin: def.id, instance: inst.id, reason: describeError(err) }, { cause: err });
      logger.error({ error: toErrorInfo(inst.error) }, 'plugin failed to start');
      // Release whatever it created; teardowns it registers later run at once.
      for (const e of await inst.teardown.run()) logger.error({ error: toErrorInfo(e) }, 'teardown after failed start failed');
      await this.#release(inst);
      return inst.error;
    }
  }

  /** A running instance's own word on its health; ignored from a context of an earlier start or once it stops. */
  #setDegraded(inst: InstanceRecord, run: number, cause: Error | undefined, logger: Logger): void {
    if (run !== inst.runs || (inst.state !== 'running' && inst.state !== 'starting')) return;
    const info = cause === undefined ? undefined : toErrorInfo(cause);
    const before = inst.degraded;
    if (JSON.stringify(before) === JSON.stringify(info)) return;
    inst.degraded = info;
    if (info) logger.warn({ error: info }, 'plugin degraded');
    else logger.info({ was: before?.code }, 'plugin no longer degraded');
    this.#opts.onStatus?.(inst.id);
  }

  /** Takes back what an instance provided and drops its scope, so a later start begins clean. */
  async #release(inst: InstanceRecord, withdraw = true): Promise<void> {
    const siteScope = withdraw ? this.#siteScopes.get(inst.spec.site) : undefined;
    for (const ref of inst.provided.splice(0)) siteScope?.withdraw(ref);
    const scope = inst.scope;
    inst.scope = undefined;
    await scope?.dispose();
  }

  /** Runs a removed instance's onRemove hooks (LIFO, within the stop timeout). Returns their errors. */
  async #runRemoval(inst: InstanceRecord): Promise<EdgeError[]> {
    const ms = this.#opts.stopTimeoutMs ?? 5_000;
    try {
      await withTimeout(`removal of plugin '${inst.id}'`, ms, async () => {
        const problems = await inst.removal.run();
        if (problems.length > 0) throw problems[0];
      });
      return [];
    } catch (err) {
      const e = new ErrStop({ plugin: inst.spec.plugin, instance: inst.id, reason: `removing: ${describeError(err)}` }, { cause: err });
      this.#log.error({ plugin: inst.spec.plugin, site: inst.spec.site, error: toErrorInfo(e) }, 'plugin failed to remove what it made');
      this.#problems.push(e);
      return [e];
    }
  }

  /** Stops the given running instances, dependants before what they depend on. Returns stop errors. */
  async #stopSet(set: readonly InstanceRecord[], graph: ReadonlyMap<string, InstanceRecord>, final = false): Promise<EdgeError[]> {
    const errors: EdgeError[] = [];
    const running = set.filter((i) => i.state === 'running');
    const ids = new Set(running.map((i) => i.id));
    const levels = startLevels(
      [...ids],
      new Map(running.map((i) => [i.id, i.deps.filter((d) => ids.has(d))] as const)),
    );
    const ms = this.#opts.stopTimeoutMs ?? 5_000;
    for (const level of levels.reverse()) {
      await Promise.all(
        level.map(async (id) => {
          const inst = graph.get(id)!;
          inst.state = 'stopping';
          inst.degraded = undefined;
          const logger = this.#log.child({ plugin: inst.spec.plugin, site: inst.spec.site });
          try {
            await withTimeout(`stop of plugin '${inst.id}'`, ms, async () => {
              const problems = await inst.teardown.run();
              if (problems.length === 1) throw problems[0];
              if (problems.length > 1) throw new EdgeAggregateError('EDGE_ERR_PLUGIN_TEARDOWN', 'several teardowns failed', problems.map((p) => (p instanceof EdgeError ? p : new ErrStop({ plugin: inst.spec.plugin, instance: id, reason: describeError(p) }, { cause: p }))));
            });
            inst.state = 'stopped';
          } catch (err) {
            inst.state = 'failed';
            inst.error = new ErrStop({ plugin: inst.spec.plugin, instance: id, reason: describeError(err) }, { cause: err });
            logger.error({ error: toErrorInfo(inst.error) }, 'plugin failed to stop');
            errors.push(inst.error);
            this.#problems.push(inst.error);
          }
          // When everything stops, the site scopes go as a whole: nothing to withdraw one by one.
          await this.#release(inst, !final);
        }),
      );
    }
    return errors;
  }

  /** Stops running instances in reverse dependency order. Idempotent. Returns stop errors. */
  stop(): Promise<EdgeError[]> {
    this.#stopping ??= (async () => {
      const errors = await this.#stopSet([...this.#instances.values()], this.#instances, true);
      for (const s of this.#scopes.reverse()) await s.dispose();
      this.#scopes = [];
      this.#siteScopes.clear();
      return errors;
    })();
    return this.#stopping;
  }

  /** A service as the plugins of `site` (or the site-less ones) see it. */
  service<T>(ref: ServiceRef<T>, site?: string): T {
    const scope = this.#siteScopes.get(site) ?? this.#siteScopes.get(undefined) ?? this.#opts.services;
    return scope.get(ref, site === undefined ? 'the host' : `the host at site '${site}'`);
  }

  status(): InstanceStatus[] {
    return [...this.#instances.values()].map((i) => ({
      instance: i.id,
      plugin: i.spec.plugin,
      site: i.spec.site,
      state: i.state === 'running' && i.degraded ? 'degraded' : i.state,
      dependsOn: [...i.deps],
      ...(i.error ? { error: toErrorInfo(i.error) } : i.state === 'running' && i.degraded ? { error: i.degraded } : {}),
      ...(i.startMs === undefined ? {} : { startMs: i.startMs }),
      ...(i.startedAt === undefined ? {} : { startedAt: i.startedAt }),
    }));
  }

  /** Every problem so far: validation, start and stop, in the order found. */
  problems(): readonly EdgeError[] {
    return this.#problems;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  /** The registry as the kernel's `plugins` phase component. */
  component(specs: readonly InstanceSpec[]): Component {
    return {
      id: 'plugins',
      phase: 'plugins',
      // Each plugin has its own timeout; the phase as a whole waits for them.
      startTimeoutMs: 2 ** 31 - 1,
      start: async (ctx) => {
        ctx.onStop(async () => {
          const errors = await this.stop();
          if (errors.length > 0) throw new EdgeAggregateError('EDGE_ERR_PLUGIN_STOP', 'plugins failed to stop', errors, 500);
        });
        await this.start(specs, ctx.signal);
      },
    };
  }
}
