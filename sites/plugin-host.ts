/**
 * Runs the plugin instances the site's Addons ask for. Each Addon that
 * targets this site becomes one instance with the Addon's config deep-merged
 * with its per-site template. When the set changes, the registry is stopped
 * and a new one started with the new set (validated as a whole first).
 */
import { toErrorInfo, type Logger, type ServiceScope } from '../core/kernel/index.ts';
import { PluginRegistry, type DiscoveryOptions, type InstanceSpec, type InstanceStatus } from '../core/plugins/index.ts';
import type { Resource } from '../core/store/index.ts';
import type { LocalState } from './local-state.ts';

interface AddonSpec {
  plugin: string;
  version?: string;
  config?: Record<string, unknown>;
  templates?: Record<string, Record<string, unknown>>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Objects merge key by key; anything else in `over` replaces. */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isObject(b) && isObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

export interface PluginHostOptions {
  site: string;
  state: LocalState;
  logger: Logger;
  version: string;
  services: ServiceScope;
  discovery: DiscoveryOptions;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  /** Called after a new set of instances started. */
  onStarted?: () => void;
}

export class PluginHost {
  readonly #o: PluginHostOptions;
  #registry: PluginRegistry | undefined;
  #current = '';
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(opts: PluginHostOptions) {
    this.#o = opts;
  }

  specs(): InstanceSpec[] {
    // The replica holds only Addons that target this site.
    return this.#o.state
      .list<Resource<AddonSpec>>('Addon')
      .map((a) => ({
        plugin: a.spec.plugin,
        site: this.#o.site,
        config: deepMerge(a.spec.config ?? {}, a.spec.templates?.[this.#o.site] ?? {}),
      }))
      .sort((x, y) => x.plugin.localeCompare(y.plugin));
  }

  reconcile(): Promise<void> {
    this.#queue = this.#queue.then(() => this.#reconcile()).catch((err: unknown) => {
      this.#o.logger.error({ error: toErrorInfo(err) }, 'plugin reconcile failed');
    });
    return this.#queue;
  }

  async #reconcile(): Promise<void> {
    if (this.#stopped) return;
    const specs = this.specs();
    const key = JSON.stringify(specs);
    if (key === this.#current && this.#registry) return;
    await this.#stopRegistry();
    const registry = new PluginRegistry({
      kernelVersion: this.#o.version,
      logger: this.#o.logger,
      services: this.#o.services,
      discovery: this.#o.discovery,
      ...(this.#o.startTimeoutMs === undefined ? {} : { startTimeoutMs: this.#o.startTimeoutMs }),
      ...(this.#o.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: this.#o.stopTimeoutMs }),
    });
    this.#registry = registry;
    this.#current = key;
    await registry.start(specs);
    this.#o.onStarted?.();
  }

  async #stopRegistry(): Promise<void> {
    const r = this.#registry;
    this.#registry = undefined;
    if (!r) return;
    for (const e of await r.stop()) this.#o.logger.error({ error: e.toJSON() }, 'plugin stop failed');
  }

  status(): InstanceStatus[] {
    return this.#registry?.status() ?? [];
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#queue;
    await this.#stopRegistry();
  }
}
