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
  /** Starts one instance: create resources, register their teardown, provide services. */
  register(ctx: PluginContext<S extends TSchema ? Readonly<Static<S>> : undefined>): void | Promise<void>;
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
  readonly register: (ctx: PluginContext) => void | Promise<void>;
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
    register: (ctx: PluginContext) => spec.register(ctx as Parameters<PluginSpec<S>['register']>[0]),
  });
}

/** True for values made by definePlugin, from this copy of the SDK or another. */
export function isPluginDefinition(value: unknown): value is PluginDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}
