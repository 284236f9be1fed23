/**
 * What a plugin is, in code: `definePlugin({...})`. Its package.json carries
 * the same id, version and engine in an `"edgeadm"` block so discovery never
 * runs plugin code.
 */
import type { Static, TSchema } from 'typebox';
import type { Logger, ServiceRef, Teardown } from '../kernel/index.ts';

/** What `register` is handed, once per plugin instance. */
export interface PluginContext<C = unknown> {
  /** The plugin id. */
  readonly pluginId: string;
  /** `<plugin>` or `<plugin>@<site>`. */
  readonly instanceId: string;
  /** The site this instance serves; undefined for a site-less (hub-wide) instance. */
  readonly site: string | undefined;
  /** This instance's config slice, validated against configSchema, defaults applied, frozen. */
  readonly config: C;
  /**
   * True when a hub on Kubernetes runs this plugin's `workloads` as grids and
   * this instance is its site half (`siteHalf`): the containers are the
   * grid's, so `register` starts only what runs beside them.
   */
  readonly workloadsAsGrid: boolean;
  /**
   * The Addon this instance runs for (its name, as `workloads` is given it:
   * what the grids' objects are named by); undefined for an instance
   * started otherwise (a hub-wide plugin, a test kernel).
   */
  readonly addon: string | undefined;
  /** A child logger bound with plugin (and site). */
  readonly logger: Logger;
  /** Aborted when the start times out or the host stops while starting. */
  readonly signal: AbortSignal;
  /** A service from this instance's scope, its site's or the kernel's. Only declared `consumes` are guaranteed. */
  get<T>(ref: ServiceRef<T>): T;
  /** Provides a service declared in `provides`, visible to the other plugins of the same site. */
  provide<T>(ref: ServiceRef<T>, value: T): void;
  /** Registers teardown where the resource is created; run LIFO at stop. */
  onStop(fn: Teardown): void;
  /**
   * Registers what undoes this instance's lasting work outside the process
   * (containers it runs, files it wrote for others), run LIFO after its
   * teardown when the instance is removed for good: its Addon deleted or no
   * longer targeting the site. Not run when it restarts with a new config,
   * or when the host stops (a restarted agent finds its work in place).
   */
  onRemove(fn: Teardown): void;
  /**
   * Says this instance runs but does not fully do its job, and why (a peer
   * it serves does not answer, ...): its status becomes `degraded` with the
   * cause as its error, wherever instance states show (the Addon's status
   * at the hub, `edgeadm addon status`, `edgeadm status`, the console, the
   * agent's metrics); `undefined` says it is well again. Give a coded
   * error naming what fails; calls that change nothing are free, so a
   * retry loop may call it on every attempt. Cleared when the instance
   * stops or starts again.
   */
  setDegraded(cause: Error | undefined): void;
}

/** A Kubernetes object spec as the plugin writes it (a DeploymentSpec, StatefulSetSpec or ServiceSpec): passed to the API server as is, which checks it. */
export type KubeSpec = Readonly<Record<string, unknown>>;

/**
 * What one site of an Addon runs as Kubernetes workloads when the hub runs
 * on Kubernetes: each entry becomes a grid named `<addon>-<name>` with one
 * workload per site (`<addon>-<name>-<site>`, pinned to the site's nodes),
 * so sites whose config differs get their own template and roll alone.
 * Names are DNS-1123 labels, unique per kind.
 */
export interface PluginWorkloads {
  /** Each becomes a DeploymentGrid. `spec` is a DeploymentSpec; its selector and pod labels are the plugin's. */
  deployments?: readonly { name: string; spec: KubeSpec }[];
  /** Each becomes a StatefulSetGrid. `spec` is a StatefulSetSpec. */
  statefulSets?: readonly { name: string; spec: KubeSpec }[];
  /**
   * Each becomes a ServiceGrid: one Service `<addon>-<name>-svc` whose
   * endpoints a site's nodes see only from their own site (topology keys).
   * `spec` is a ServiceSpec and must be the same at every site.
   */
  services?: readonly { name: string; spec: KubeSpec }[];
  /**
   * Files the workloads mount: each becomes ConfigMap `<addon>-<name>` in
   * the hub's namespace, immutable. Name each by its content (a hash in
   * `name`), so sites with the same files share one and a changed file is
   * a new ConfigMap, whose template rolls only the sites that use it. A
   * name must have the same data at every site; ConfigMaps no site uses
   * any more are deleted.
   */
  configMaps?: readonly { name: string; data: Readonly<Record<string, string>> }[];
}

/** What `workloads` is handed, once per site of an Addon. */
export interface WorkloadContext<C = unknown> {
  /** The Addon's name. */
  readonly addon: string;
  readonly site: string;
  /** The site's config (the Addon's config with the site's template over it), validated against configSchema, defaults applied. */
  readonly config: C;
}

export interface PluginSpec<S extends TSchema | undefined = TSchema | undefined> {
  id: string;
  version: string;
  /** Semver range of edgeadm versions this plugin runs on. */
  engine: string;
  description?: string;
  configSchema?: S;
  /** Services this plugin provides to others (at its site). */
  provides?: readonly ServiceRef<unknown>[];
  /** Services this plugin needs; the registry starts their providers first. */
  consumes?: readonly ServiceRef<unknown>[];
  /** Other plugins that must run at the same site first (by id). */
  dependencies?: readonly string[];
  /**
   * The Device protocol blocks this plugin's driver reads, by protocol name
   * (`spec.protocols.<name>`), each a JSON schema (TypeBox) of the block's
   * fields: names as EdgeX writes them, types, defaults, enums,
   * descriptions, which are required. The hub serves them to the console
   * (`GET /api/v1/plugins`), which builds its forms from them, and checks
   * Device writes against them. As the drivers read blocks, keys match
   * case-insensitively, a blank string is an absent field and a numeric
   * string is a number where the schema wants one (core/sdk
   * `protocolBlockIssues`): declare what the driver accepts, no more, no
   * less. Keep these in a module that imports no protocol library.
   */
  protocols?: Readonly<Record<string, TSchema>>;
  /** Starts one instance: create resources, register their teardown, provide services. */
  register(ctx: PluginContext<S extends TSchema ? Readonly<Static<S>> : undefined>): void | Promise<void>;
  /**
   * What the plugin runs as containers at a site, for a hub on Kubernetes:
   * there an Addon of a plugin with `workloads` expands to grids per site
   * (core/grid's addon controller) and its site agents do not start it;
   * on the embedded hub its Addons run in the site agents (`register`) as
   * always. Pure: the same context gives the same workloads.
   */
  workloads?(ctx: WorkloadContext<S extends TSchema ? Readonly<Static<S>> : undefined>): PluginWorkloads;
  /**
   * With `workloads`: the site agents still start `register` where the
   * Addon runs as grids, with `ctx.workloadsAsGrid` true (the plugin's site
   * half, such as a bridge from the site to its containers). The site's
   * state is then the site agent's report and the workloads' together.
   */
  siteHalf?: boolean;
  /**
   * What the plugin runs at a site on an embedded hub with the node's
   * container runtime, as a Compose project (the Compose specification);
   * undefined when it runs none there. The plugin's `register` runs it;
   * this is its one rendering, which `edgeadm addon <plugin> --dry-run`
   * prints. Pure, as `workloads`.
   */
  composeProject?(ctx: WorkloadContext<S extends TSchema ? Readonly<Static<S>> : undefined>): Record<string, unknown> | undefined;
}

const BRAND = Symbol.for('edgeadm.plugin-definition');

export interface PluginDefinition {
  readonly [BRAND]: true;
  readonly id: string;
  readonly version: string;
  readonly engine: string;
  readonly description: string | undefined;
  readonly configSchema: TSchema | undefined;
  readonly provides: readonly ServiceRef<unknown>[];
  readonly consumes: readonly ServiceRef<unknown>[];
  readonly dependencies: readonly string[];
  /** The Device protocol blocks the driver reads, each with its JSON schema; empty when it declares none. */
  readonly protocols: Readonly<Record<string, TSchema>>;
  readonly register: (ctx: PluginContext) => void | Promise<void>;
  readonly workloads: ((ctx: WorkloadContext) => PluginWorkloads) | undefined;
  readonly siteHalf: boolean;
  readonly composeProject: ((ctx: WorkloadContext) => Record<string, unknown> | undefined) | undefined;
}

export function definePlugin<S extends TSchema | undefined = undefined>(spec: PluginSpec<S>): PluginDefinition {
  return Object.freeze({
    [BRAND]: true as const,
    id: spec.id,
    version: spec.version,
    engine: spec.engine,
    description: spec.description,
    configSchema: spec.configSchema,
    provides: Object.freeze([...(spec.provides ?? [])]),
    consumes: Object.freeze([...(spec.consumes ?? [])]),
    dependencies: Object.freeze([...(spec.dependencies ?? [])]),
    protocols: Object.freeze({ ...(spec.protocols ?? {}) }),
    register: (ctx: PluginContext) => spec.register(ctx as Parameters<PluginSpec<S>['register']>[0]),
    workloads: spec.workloads === undefined ? undefined : (ctx: WorkloadContext) => spec.workloads!(ctx as Parameters<NonNullable<PluginSpec<S>['workloads']>>[0]),
    siteHalf: spec.workloads !== undefined && spec.siteHalf === true,
    composeProject: spec.composeProject === undefined ? undefined : (ctx: WorkloadContext) => spec.composeProject!(ctx as Parameters<NonNullable<PluginSpec<S>['composeProject']>>[0]),
  });
}

/** True for values made by definePlugin, from this copy of the SDK or another. */
export function isPluginDefinition(value: unknown): value is PluginDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}
