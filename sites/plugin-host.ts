/**
 * Runs the plugin instances the site's Addons ask for. Each Addon that
 * targets this site becomes one instance with the Addon's config deep-merged
 * with its per-site template. When two Addons put the same plugin here, the
 * older one runs and the other is a conflict (core/store/addons.ts). When the
 * set changes, the one registry moves to it instance by instance
 * (`PluginRegistry.apply`): an edited Addon restarts its own instance and
 * the instances that depend on it, and nothing else — the other plugins'
 * device links and subscriptions stay open.
 */
import { toErrorInfo, type Logger, type ServiceScope, compareNames } from '../core/kernel/index.ts';
import { PluginRegistry, type ApplyResult, type DiscoveryOptions, type InstanceSpec, type InstanceStatus } from '../core/plugins/index.ts';
import { addonSiteConfig, runsAsGrid, selectAddons, siteRunsAddon, type AddonConflict, type Resource } from '../core/store/index.ts';
import type { LocalState } from './local-state.ts';

interface AddonSpec {
  plugin: string;
  sites?: string[];
  siteSelector?: Record<string, string>;
  version?: string;
  config?: Record<string, unknown>;
  templates?: Record<string, Record<string, unknown>>;
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
  /** Called after the instances were moved to a new set. */
  onStarted?: (result: ApplyResult) => void;
  /** Called when a running instance said it is degraded or well again. */
  onStatus?: (instance: string) => void;
}

export class PluginHost {
  readonly #o: PluginHostOptions;
  #registry: PluginRegistry | undefined;
  #current = '';
  #applied = new Map<string, number>();
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(opts: PluginHostOptions) {
    this.#o = opts;
  }

  /** The instances the replica's Addons ask for (one per plugin), and the Addons left out as conflicts. */
  selection(): { specs: InstanceSpec[]; conflicts: AddonConflict[]; generations: Map<string, number> } {
    // The replica holds only Addons that target this site.
    // An Addon a hub on Kubernetes runs whole as grids is not started here; one with a site half starts that half.
    const addons = this.#o.state.list<Resource<AddonSpec>>('Addon').filter((a) => siteRunsAddon(a));
    const generations = new Map(addons.flatMap((a) => (a.metadata.generation === undefined ? [] : [[a.metadata.name, a.metadata.generation] as const])));
    const { chosen, conflicts } = selectAddons(addons, this.#o.site);
    const specs = chosen
      .map((a) => ({
        plugin: a.spec.plugin,
        site: this.#o.site,
        config: addonSiteConfig(a.spec, this.#o.site),
        addon: a.metadata.name,
        ...(runsAsGrid(a) ? { workloadsAsGrid: true } : {}),
      }))
      .sort((x, y) => compareNames(x.plugin, y.plugin));
    return { specs, conflicts, generations };
  }

  /** The generation of an Addon whose instance the registry was last moved to (what a status report describes). */
  appliedGeneration(addon: string): number | undefined {
    return this.#applied.get(addon);
  }

  specs(): InstanceSpec[] {
    return this.selection().specs;
  }

  reconcile(): Promise<void> {
    this.#queue = this.#queue.then(() => this.#reconcile()).catch((err: unknown) => {
      this.#o.logger.error({ error: toErrorInfo(err) }, 'plugin reconcile failed');
    });
    return this.#queue;
  }

  async #reconcile(): Promise<void> {
    if (this.#stopped) return;
    const { specs, generations } = this.selection();
    const key = JSON.stringify(specs);
    if (key === this.#current && this.#registry) {
      this.#applied = generations;
      return;
    }
    this.#registry ??= new PluginRegistry({
      kernelVersion: this.#o.version,
      logger: this.#o.logger,
      services: this.#o.services,
      discovery: this.#o.discovery,
      ...(this.#o.startTimeoutMs === undefined ? {} : { startTimeoutMs: this.#o.startTimeoutMs }),
      ...(this.#o.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: this.#o.stopTimeoutMs }),
      ...(this.#o.onStatus ? { onStatus: this.#o.onStatus } : {}),
    });
    this.#current = key;
    const result = await this.#registry.apply(specs);
    this.#applied = generations;
    const touched = { added: result.added, updated: result.updated, removed: result.removed, restarted: result.restarted };
    if (Object.values(touched).some((l) => l.length > 0)) this.#o.logger.info(touched, 'plugin instances reconciled');
    this.#o.onStarted?.(result);
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
