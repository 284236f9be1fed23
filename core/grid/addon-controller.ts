/**
 * The addon grid controller: runs in a hub on Kubernetes and keeps, for the
 * hub's namespace, a NodeUnit per Site and, per Addon whose plugin declares
 * `workloads`, its NodeGroup and grids (addons.ts says what they are). The
 * grid controller then expands the grids per site.
 *
 * - Keys: `unit:<site>` (the Site's NodeUnit) and `addon:<name>`.
 * - Only objects labelled with this hub's namespace are updated or deleted;
 *   a NodeUnit of the Site's name that someone else made is left alone and
 *   the Addon's status at that site says so.
 * - An Addon of a plugin this hub does not have, or one without
 *   `workloads`, is not this controller's: what it wrote for it before is
 *   removed, and its site agents run it as on the embedded hub.
 * - The Addon is annotated `grid.edgeadm.io/runs-as-grid: "true"` while it
 *   runs as grids (the site agents then do not start it), and its
 *   `status.sites` holds each site's state from the grids' per-unit states
 *   (running, starting, pending) or the coded problem (failed, conflict).
 *   The workloads' ConfigMaps are created (never changed: they are named
 *   by their content) and deleted once no site of the Addon mounts them.
 *   A plugin with a site half (`siteHalf`) is annotated `with-site`
 *   instead: the site agents start that half and report it in
 *   `status.sites`, and the workloads' states go to `status.workloads`.
 * - Writes are replaces with the cached resourceVersion, creates and
 *   deletes; a conflict is retried from the fresher cache with backoff.
 */
import type { Logger } from '../kernel/index.ts';
import { parseWithSchema } from '../kernel/index.ts';
import { PluginErrors, type PluginDefinition } from '../plugins/index.ts';
import { addonSiteConfig, addonTargets, API_VERSION, RUNS_AS_GRID, RUNS_AS_GRID_ANNOTATION, RUNS_AS_GRID_WITH_SITE, kubeError, kubeFailure, pageRequest, selectAddons, StoreErrors, type KubeClient, type KubeObject, type Resource } from '../store/index.ts';
import { ADDON_LABEL, addonConfigMaps, addonGrids, addonGroupName, addonNodeGroup, HUB_NAMESPACE_LABEL, siteNodeUnit, siteWorkloadState, type OwnedConfigMap, type OwnedObject } from './addons.ts';
import { ErrAddonWorkloads, ErrUnitTaken } from './errors.ts';
import { runController, type Caches, type ControllerOptions, type ControllerRunOptions, type RunningController, type WatchSource } from './controller.ts';
import { APPS_GROUP, APPS_VERSION, GRID_KINDS, SITE_GROUP, SITE_VERSION } from './types.ts';
import { gridSpecHash } from './workloads.ts';

export interface AddonGridControllerOptions extends ControllerRunOptions {
  /** The hub's namespace: its Addons, Sites and Nodes, and where the grids go. */
  namespace: string;
  /** The plugin of an id, as this hub has it; undefined when it has none. */
  plugin(id: string): PluginDefinition | undefined;
}

const CONTROLLER = 'addon-grids';
const RESOURCE_GROUP = API_VERSION.split('/')[0]!;
const RESOURCE_VERSION = API_VERSION.split('/')[1]!;
/** The grid kinds an Addon's workloads become, and their plurals (GRID_KINDS). */
const ADDON_GRID_KINDS = ['DeploymentGrid', 'StatefulSetGrid', 'ServiceGrid'] as const;
const pluralOf = (kind: (typeof ADDON_GRID_KINDS)[number]): string => GRID_KINDS[kind].plural;
type Page = { items: KubeObject[]; metadata?: { resourceVersion?: string; continue?: string } };
type Json = Record<string, unknown>;
type AddonObj = Resource<{ plugin: string; sites?: string[]; siteSelector?: Record<string, string>; config?: Json; templates?: Record<string, Json> }>;
interface SiteStatus {
  state: string;
  message?: string;
  code?: string;
  observedGeneration?: number;
}

export function startAddonGridController(o: AddonGridControllerOptions): Promise<RunningController> {
  return runController(CONTROLLER, o, (client) => reconcilers(client, o));
}

function reconcilers(client: KubeClient, o: AddonGridControllerOptions): Pick<ControllerOptions, 'sources' | 'reconcile'> {
  const log: Logger = o.logger.child({ controller: CONTROLLER });
  const ns = o.namespace;
  const mine = `${HUB_NAMESPACE_LABEL}=${ns}`;
  const addonKeys = (c: Caches): string[] => [...(c.get('addons')?.values() ?? [])].map((a) => `addon:${a.metadata?.name ?? ''}`);

  const own = (plural: string, keys: WatchSource['keys']): WatchSource => ({
    name: plural,
    path: `/apis/${RESOURCE_GROUP}/${RESOURCE_VERSION}/namespaces/${ns}/${plural}`,
    list: async (cl, p) => (await cl.custom.listNamespacedCustomObject({ group: RESOURCE_GROUP, version: RESOURCE_VERSION, namespace: ns, plural, ...pageRequest(p) })) as Page,
    ...(keys === undefined ? {} : { keys }),
  });
  const siteOf = (n: KubeObject | undefined): string | undefined => (n as { spec?: { site?: string } } | undefined)?.spec?.site;
  const sources: WatchSource[] = [
    own('addons', (obj) => [`addon:${obj.metadata?.name ?? ''}`]),
    // A Site's labels decide which Addons select it: a site that comes, goes or is relabelled queues them all;
    // its status, which its agents' reports keep changing, queues nothing of theirs.
    own('sites', (obj, old, c) => {
      const same = old !== undefined && c.get('sites')?.has(`${ns}/${obj.metadata?.name ?? ''}`) === true && JSON.stringify(obj.metadata?.labels ?? {}) === JSON.stringify(old.metadata?.labels ?? {});
      return [`unit:${obj.metadata?.name ?? ''}`, ...(same ? [] : addonKeys(c))];
    }),
    own('nodes', (obj, old) => [...new Set([siteOf(obj), siteOf(old)])].filter((s): s is string => s !== undefined).map((s) => `unit:${s}`)),
    ...ADDON_GRID_KINDS.map(
      (kind): WatchSource => ({
        name: pluralOf(kind),
        path: `/apis/${APPS_GROUP}/${APPS_VERSION}/namespaces/${ns}/${pluralOf(kind)}`,
        labelSelector: ADDON_LABEL,
        list: async (cl, p) => (await cl.custom.listNamespacedCustomObject({ group: APPS_GROUP, version: APPS_VERSION, namespace: ns, plural: pluralOf(kind), labelSelector: ADDON_LABEL, ...pageRequest(p) })) as Page,
        keys: (obj) => [`addon:${obj.metadata?.labels?.[ADDON_LABEL] ?? ''}`],
      }),
    ),
    {
      name: 'configmaps',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      labelSelector: ADDON_LABEL,
      list: async (cl, p) => (await cl.core.listNamespacedConfigMap({ namespace: ns, labelSelector: ADDON_LABEL, ...pageRequest(p) })) as Page,
      keys: (obj) => [`addon:${obj.metadata?.labels?.[ADDON_LABEL] ?? ''}`],
    },
    {
      name: 'nodeunits',
      path: `/apis/${SITE_GROUP}/${SITE_VERSION}/nodeunits`,
      list: async (cl, p) => (await cl.custom.listClusterCustomObject({ group: SITE_GROUP, version: SITE_VERSION, plural: 'nodeunits', ...pageRequest(p) })) as Page,
      // Another's unit of a site's name matters too (the site's Addons say so): a unit that comes, goes or changes
      // hands queues the Addons; its status (the unit controller's readiness) queues nothing of theirs.
      keys: (obj, old, c) => {
        const same = old !== undefined && c.get('nodeunits')?.has(obj.metadata?.name ?? '') === true && isMine(obj) === isMine(old);
        return [`unit:${obj.metadata?.name ?? ''}`, ...(same ? [] : addonKeys(c))];
      },
    },
    {
      name: 'nodegroups',
      path: `/apis/${SITE_GROUP}/${SITE_VERSION}/nodegroups`,
      labelSelector: mine,
      list: async (cl, p) => (await cl.custom.listClusterCustomObject({ group: SITE_GROUP, version: SITE_VERSION, plural: 'nodegroups', labelSelector: mine, ...pageRequest(p) })) as Page,
      keys: (obj) => [`addon:${obj.metadata?.labels?.[ADDON_LABEL] ?? ''}`],
    },
  ];

  const isMine = (obj: KubeObject | undefined): boolean => obj?.metadata?.labels?.[HUB_NAMESPACE_LABEL] === ns;

  /** Creates, replaces (with the cached resourceVersion) or leaves `want` as `have` holds it. */
  async function put(target: { group: string; version: string; plural: string; namespace?: string }, want: OwnedObject, have: KubeObject | undefined): Promise<void> {
    const where = `${target.plural} ${target.namespace === undefined ? '' : `${target.namespace}/`}${want.metadata.name}`;
    try {
      if (have === undefined) {
        if (target.namespace === undefined) await client.custom.createClusterCustomObject({ ...target, body: want });
        else await client.custom.createNamespacedCustomObject({ ...target, namespace: target.namespace, body: want });
        return;
      }
      const h = have as KubeObject & { spec?: unknown };
      const sameLabels = Object.entries(want.metadata.labels).every(([k, v]) => h.metadata?.labels?.[k] === v);
      if (sameLabels && gridSpecHash((h.spec ?? {}) as Json) === gridSpecHash(want.spec)) return;
      const body = { ...h, metadata: { ...h.metadata, labels: { ...h.metadata?.labels, ...want.metadata.labels }, ...(want.metadata.ownerReferences ? { ownerReferences: want.metadata.ownerReferences } : {}) }, spec: want.spec };
      if (target.namespace === undefined) await client.custom.replaceClusterCustomObject({ ...target, name: want.metadata.name, body });
      else await client.custom.replaceNamespacedCustomObject({ ...target, namespace: target.namespace, name: want.metadata.name, body });
    } catch (err) {
      throw kubeError(err, have === undefined ? 'create' : 'update', where);
    }
  }

  async function remove(target: { group: string; version: string; plural: string; namespace?: string }, have: KubeObject): Promise<void> {
    const name = have.metadata?.name ?? '';
    try {
      const body = { preconditions: { uid: have.metadata?.uid } };
      if (target.namespace === undefined) await client.custom.deleteClusterCustomObject({ ...target, name, body });
      else await client.custom.deleteNamespacedCustomObject({ ...target, namespace: target.namespace, name, body });
    } catch (err) {
      if (kubeFailure(err).status !== 404) throw kubeError(err, 'delete', `${target.plural} ${name}`);
    }
  }

  /** Creates a ConfigMap the cache lacks; one of the name with other data (it is immutable) is deleted and made again. */
  async function putConfigMap(want: OwnedConfigMap, have: KubeObject | undefined): Promise<void> {
    const name = want.metadata.name;
    try {
      if (have !== undefined) {
        if (gridSpecHash(((have as { data?: Json }).data ?? {})) === gridSpecHash(want.data)) return;
        await removeConfigMap(have);
      }
      await client.core.createNamespacedConfigMap({ namespace: ns, body: want });
    } catch (err) {
      throw kubeError(err, 'create', `configmaps ${ns}/${name}`);
    }
  }

  async function removeConfigMap(have: KubeObject): Promise<void> {
    const name = have.metadata?.name ?? '';
    try {
      await client.core.deleteNamespacedConfigMap({ namespace: ns, name, body: { preconditions: { uid: have.metadata?.uid } } });
    } catch (err) {
      if (kubeFailure(err).status !== 404) throw kubeError(err, 'delete', `configmaps ${ns}/${name}`);
    }
  }

  const unitTarget = { group: SITE_GROUP, version: SITE_VERSION, plural: 'nodeunits' };
  const groupTarget = { group: SITE_GROUP, version: SITE_VERSION, plural: 'nodegroups' };

  async function reconcileUnit(site: string, c: Caches): Promise<void> {
    const have = c.get('nodeunits')?.get(site);
    const exists = c.get('sites')?.has(`${ns}/${site}`) === true;
    if (!exists) {
      if (have !== undefined && isMine(have)) await remove(unitTarget, have);
      return;
    }
    if (have !== undefined && !isMine(have)) {
      log.warn({ site, unit: site }, 'a NodeUnit of the site\'s name belongs to someone else: left alone');
      return;
    }
    const nodes = [...(c.get('nodes')?.values() ?? [])].filter((n) => siteOf(n) === site).map((n) => n.metadata?.name ?? '');
    await put(unitTarget, siteNodeUnit(ns, site, nodes), have);
  }

  /** Removes what was written for an Addon that is gone or not run as grids. */
  async function release(name: string, c: Caches): Promise<void> {
    for (const kind of ADDON_GRID_KINDS) {
      for (const g of c.get(pluralOf(kind))?.values() ?? []) {
        if (g.metadata?.labels?.[ADDON_LABEL] === name && isMine(g)) await remove({ group: APPS_GROUP, version: APPS_VERSION, plural: pluralOf(kind), namespace: ns }, g);
      }
    }
    for (const m of c.get('configmaps')?.values() ?? []) if (m.metadata?.labels?.[ADDON_LABEL] === name && isMine(m)) await removeConfigMap(m);
    const group = c.get('nodegroups')?.get(addonGroupName(ns, name));
    if (group !== undefined && isMine(group)) await remove(groupTarget, group);
  }

  async function reconcileAddon(name: string, c: Caches): Promise<void> {
    const addon = c.get('addons')?.get(`${ns}/${name}`) as AddonObj | undefined;
    const def = addon === undefined ? undefined : o.plugin(addon.spec.plugin);
    if (addon === undefined || def?.workloads === undefined) {
      await release(name, c);
      if (addon !== undefined && addon.metadata.annotations?.[RUNS_AS_GRID_ANNOTATION] !== undefined) await annotate(addon, undefined);
      return;
    }
    const mark = def.siteHalf ? RUNS_AS_GRID_WITH_SITE : RUNS_AS_GRID;
    if (addon.metadata.annotations?.[RUNS_AS_GRID_ANNOTATION] !== mark) {
      // The status and grids follow once the annotation is in the cache.
      await annotate(addon, mark);
      return;
    }

    const sites = [...(c.get('sites')?.values() ?? [])] as unknown as Resource[];
    const addons = [...(c.get('addons')?.values() ?? [])] as unknown as AddonObj[];
    const statuses: Record<string, SiteStatus> = {};
    const generation = addon.metadata.generation;
    const gen = generation === undefined ? {} : { observedGeneration: generation };
    const failure = (err: { code: string; message: string }): SiteStatus => ({ state: 'failed', code: err.code, message: err.message, ...gen });
    const running: { site: string; workloads: ReturnType<NonNullable<PluginDefinition['workloads']>> }[] = [];
    for (const s of sites) {
      const site = s.metadata.name;
      if (!addonTargets(addon.spec, site, s.metadata.labels ?? {})) continue;
      const conflict = selectAddons(addons, site, s.metadata.labels ?? {}).conflicts.find((x) => x.addon === name);
      if (conflict !== undefined) {
        statuses[site] = { state: 'conflict', code: StoreErrors.ErrAddonConflict.code, message: `Addon '${conflict.heldBy}' already puts plugin '${conflict.plugin}' at site ${site}`, ...gen };
        continue;
      }
      const unit = c.get('nodeunits')?.get(site);
      if (unit !== undefined && !isMine(unit)) {
        statuses[site] = failure(new ErrUnitTaken({ unit: site, label: `${HUB_NAMESPACE_LABEL}=${ns}` }));
        continue;
      }
      let config: unknown = addonSiteConfig(addon.spec, site);
      if (def.configSchema !== undefined) {
        const parsed = parseWithSchema(def.configSchema, config, 'config');
        if (!parsed.ok) {
          statuses[site] = failure(new PluginErrors.ErrConfig({ plugin: def.id, instance: `${def.id}@${site}`, issues: parsed.issues }));
          continue;
        }
        config = parsed.value;
      }
      try {
        running.push({ site, workloads: def.workloads({ addon: name, site, config }) });
      } catch (err) {
        statuses[site] = failure(new ErrAddonWorkloads({ plugin: def.id, site, reason: `workloads() threw: ${err instanceof Error ? err.message : String(err)}` }));
      }
    }

    const input = { namespace: ns, addon: { name, uid: addon.metadata.uid }, sites: running };
    const files = addonConfigMaps(input);
    // A site whose files clash with another's runs nothing until it is fixed.
    const clashing = new Set(files.problems.map((p) => p.site));
    const out = addonGrids({ ...input, sites: running.filter((r) => !clashing.has(r.site)) });
    out.problems.push(...files.problems);
    const failedSites = new Set(out.problems.map((p) => p.site));
    for (const p of out.problems) statuses[p.site] = failure(new ErrAddonWorkloads({ plugin: def.id, site: p.site, reason: p.message }));
    const sitesOk = running.map((r) => r.site).filter((s) => !failedSites.has(s));

    // Files first: a workload that mounts them finds them.
    const wantedMaps = new Set<string>();
    /** ConfigMaps of the Addon's names that someone else made: never written, and never mounted. */
    const takenMaps: string[] = [];
    for (const m of files.configMaps) {
      wantedMaps.add(m.metadata.name);
      const have = c.get('configmaps')?.get(`${ns}/${m.metadata.name}`);
      if (have !== undefined && !isMine(have)) {
        takenMaps.push(`ConfigMap ${m.metadata.name}`);
        continue;
      }
      try {
        await putConfigMap(m, have);
      } catch (err) {
        // Not in the cache (it lacks the Addon label) yet there: someone else's.
        if (have !== undefined || kubeFailure((err as { cause?: unknown }).cause ?? err).status !== 409) throw err;
        takenMaps.push(`ConfigMap ${m.metadata.name}`);
      }
    }

    // The group pins the grids' workloads to the sites' nodes: an Addon that runs none (its site half alone) needs none.
    const haveGroup = c.get('nodegroups')?.get(addonGroupName(ns, name));
    if (out.grids.length > 0) await put(groupTarget, addonNodeGroup(ns, name, running.map((r) => r.site)), haveGroup);
    else if (haveGroup !== undefined && isMine(haveGroup)) await remove(groupTarget, haveGroup);
    const wanted = new Set<string>();
    /** Grids of the Addon's names that someone else made (without this hub's labels): never written. */
    const taken: string[] = [...takenMaps];
    for (const g of out.grids) {
      const plural = pluralOf(g.kind as (typeof ADDON_GRID_KINDS)[number]);
      wanted.add(`${plural}/${g.metadata.name}`);
      const have = c.get(plural)?.get(`${ns}/${g.metadata.name}`);
      // Workloads that would mount someone else's ConfigMap are not written.
      if (takenMaps.length > 0) continue;
      if (have !== undefined && !isMine(have)) {
        taken.push(`${g.kind} ${g.metadata.name}`);
        continue;
      }
      try {
        await put({ group: APPS_GROUP, version: APPS_VERSION, plural, namespace: ns }, g, have);
      } catch (err) {
        // Not in the cache (it lacks the Addon label) yet there: someone else's.
        if (have !== undefined || kubeFailure((err as { cause?: unknown }).cause ?? err).status !== 409) throw err;
        taken.push(`${g.kind} ${g.metadata.name}`);
      }
    }
    if (taken.length > 0) {
      const reason = `${taken.join(', ')} in namespace ${ns} already exist${taken.length === 1 ? 's' : ''} and belong${taken.length === 1 ? 's' : ''} to someone else (no label ${ADDON_LABEL}=${name}): rename the Addon or that grid`;
      for (const site of sitesOk) statuses[site] = failure(new ErrAddonWorkloads({ plugin: def.id, site, reason }));
      sitesOk.length = 0;
    }
    const ownGrids: KubeObject[] = [];
    for (const plural of ADDON_GRID_KINDS.map(pluralOf)) {
      for (const g of c.get(plural)?.values() ?? []) {
        if (g.metadata?.labels?.[ADDON_LABEL] !== name || !isMine(g)) continue;
        if (wanted.has(`${plural}/${g.metadata?.name ?? ''}`)) {
          if (plural !== 'servicegrids') ownGrids.push(g);
        } else await remove({ group: APPS_GROUP, version: APPS_VERSION, plural, namespace: ns }, g);
      }
    }
    for (const m of c.get('configmaps')?.values() ?? []) {
      if (m.metadata?.labels?.[ADDON_LABEL] === name && isMine(m) && !wantedMaps.has(m.metadata?.name ?? '')) await removeConfigMap(m);
    }
    for (const site of sitesOk) {
      // The grids as the cache has them: the grid controller's per-unit states.
      const s = siteWorkloadState(site, ownGrids);
      statuses[site] = { ...s, ...gen };
    }
    await writeStatus(addon, statuses, def.siteHalf ? 'workloads' : 'sites');
  }

  async function annotate(addon: AddonObj, mark: string | undefined): Promise<void> {
    const annotations = { ...addon.metadata.annotations };
    if (mark !== undefined) annotations[RUNS_AS_GRID_ANNOTATION] = mark;
    else delete annotations[RUNS_AS_GRID_ANNOTATION];
    try {
      await client.custom.replaceNamespacedCustomObject({ group: RESOURCE_GROUP, version: RESOURCE_VERSION, namespace: ns, plural: 'addons', name: addon.metadata.name, body: { ...addon, metadata: { ...addon.metadata, annotations } } });
    } catch (err) {
      throw kubeError(err, 'annotate', `addons ${ns}/${addon.metadata.name}`);
    }
  }

  /** Writes the sites' states to `status.sites` (the grids are the whole Addon) or `status.workloads` (the site agents report `sites`). */
  async function writeStatus(addon: AddonObj, sites: Record<string, SiteStatus>, field: 'sites' | 'workloads'): Promise<void> {
    const status = (addon.status ?? {}) as { sites?: Record<string, SiteStatus>; workloads?: Record<string, SiteStatus> };
    const sorted = Object.fromEntries(Object.entries(sites).sort(([a], [b]) => (a < b ? -1 : 1)));
    const stale = field === 'sites' && status.workloads !== undefined;
    if (!stale && gridSpecHash(status[field] ?? {}) === gridSpecHash(sorted)) return;
    const { workloads: _old, ...rest } = status;
    const next = field === 'sites' ? { ...rest, sites: sorted } : { ...status, workloads: sorted };
    try {
      await client.custom.replaceNamespacedCustomObjectStatus({ group: RESOURCE_GROUP, version: RESOURCE_VERSION, namespace: ns, plural: 'addons', name: addon.metadata.name, body: { ...addon, status: next } });
    } catch (err) {
      throw kubeError(err, 'update status of', `addons ${ns}/${addon.metadata.name}`);
    }
  }

  async function reconcile(key: string, c: Caches): Promise<void> {
    const i = key.indexOf(':');
    const kind = key.slice(0, i);
    const name = key.slice(i + 1);
    if (name === '') return;
    if (kind === 'unit') await reconcileUnit(name, c);
    else if (kind === 'addon') await reconcileAddon(name, c);
  }

  return { sources, reconcile };
}
