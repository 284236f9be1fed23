/**
 * Which Addons run where: the one rule for an Addon's targets (a list of
 * sites, or a label selector on Site labels where `{}` selects every site)
 * and for two Addons that put the same plugin at the same site. A site runs
 * at most one instance of a plugin; when several Addons target it with the
 * same plugin, the oldest Addon (creationTimestamp, then name) keeps the
 * instance and the others are in conflict with it. The hub, the site agent
 * and the CLI all decide with these functions.
 */
import type { Resource } from './types.ts';

/** The part of an Addon's spec that says where it runs. */
export interface AddonTargetSpec {
  plugin: string;
  sites?: readonly string[] | undefined;
  siteSelector?: Readonly<Record<string, string>> | undefined;
}

/** Whether an Addon's targets include a site: listed by name, or its labels match the selector (`{}` matches every site). */
export function addonTargets(spec: Pick<AddonTargetSpec, 'sites' | 'siteSelector'>, site: string, siteLabels: Readonly<Record<string, string>>): boolean {
  if (spec.sites?.includes(site)) return true;
  const sel = spec.siteSelector;
  return sel !== undefined && Object.entries(sel).every(([k, v]) => siteLabels[k] === v);
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

/** An Addon's config at one site: its `config` with the site's template (`templates[site]`) merged over it, objects key by key. */
export function addonSiteConfig(spec: { config?: Record<string, unknown> | undefined; templates?: Record<string, Record<string, unknown>> | undefined }, site: string): Record<string, unknown> {
  return deepMerge(spec.config ?? {}, spec.templates?.[site] ?? {});
}

/**
 * Set by a hub on Kubernetes on an Addon it runs as grids (core/grid's
 * addon controller). `true`: the grids are the whole Addon and the site
 * agents do not start its instances. `with-site`: the plugin also has a
 * site half (`PluginSpec.siteHalf`, such as a bridge to its containers),
 * which the site agents start and report as for any Addon, while the
 * controller keeps the workloads' state in `status.workloads`.
 */
export const RUNS_AS_GRID_ANNOTATION = 'grid.edgeadm.io/runs-as-grid';
export const RUNS_AS_GRID = 'true';
export const RUNS_AS_GRID_WITH_SITE = 'with-site';

/** Whether a hub on Kubernetes runs the Addon's workloads as grids (with a site half or not). */
export function runsAsGrid(addon: Pick<Resource, 'metadata'>): boolean {
  const v = addon.metadata.annotations?.[RUNS_AS_GRID_ANNOTATION];
  return v === RUNS_AS_GRID || v === RUNS_AS_GRID_WITH_SITE;
}

/** Whether the site agents start the Addon's instances and report them: every Addon but one the grid runs whole. */
export function siteRunsAddon(addon: Pick<Resource, 'metadata'>): boolean {
  return addon.metadata.annotations?.[RUNS_AS_GRID_ANNOTATION] !== RUNS_AS_GRID;
}

/** Older first: creationTimestamp, then name. The first of a plugin's Addons at a site is the one that runs. */
export function compareAddonAge(a: Pick<Resource, 'metadata'>, b: Pick<Resource, 'metadata'>): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

/** An Addon that does not run at a site because an older one puts the same plugin there. */
export interface AddonConflict {
  addon: string;
  plugin: string;
  site: string;
  /** The Addon whose instance runs. */
  heldBy: string;
}

export interface AddonSelection<A> {
  /** One Addon per plugin: the one whose instance runs at the site. */
  chosen: A[];
  /** The Addons that do not run, each naming the one that does. */
  conflicts: AddonConflict[];
  /** For every chosen Addon with rivals, the rivals' names. */
  rivals: Map<string, string[]>;
}

/** Splits the Addons that target `site` into the ones that run and the ones in conflict. */
export function selectAddons<A extends Resource<AddonTargetSpec>>(addons: readonly A[], site: string, siteLabels?: Readonly<Record<string, string>>): AddonSelection<A> {
  const targeting = siteLabels === undefined ? [...addons] : addons.filter((a) => addonTargets(a.spec, site, siteLabels));
  const byPlugin = new Map<string, A[]>();
  for (const a of [...targeting].sort(compareAddonAge)) {
    const list = byPlugin.get(a.spec.plugin) ?? [];
    list.push(a);
    byPlugin.set(a.spec.plugin, list);
  }
  const chosen: A[] = [];
  const conflicts: AddonConflict[] = [];
  const rivals = new Map<string, string[]>();
  for (const [plugin, [first, ...rest]] of byPlugin) {
    chosen.push(first!);
    if (rest.length === 0) continue;
    rivals.set(first!.metadata.name, rest.map((r) => r.metadata.name));
    for (const r of rest) conflicts.push({ addon: r.metadata.name, plugin, site, heldBy: first!.metadata.name });
  }
  return { chosen, conflicts, rivals };
}
