/**
 * Addons through the grid: what a hub on Kubernetes writes so that an Addon
 * whose plugin declares `workloads` runs at each of its sites as grids.
 * Pure functions (addon-controller.ts writes what they make).
 *
 * - **A Site is a NodeUnit**: NodeUnit `<site>` whose `spec.nodes` are the
 *   site's Nodes (the hub's Node resources: a node's name at the hub is its
 *   Kubernetes node name), labelled with the hub's namespace so two hubs
 *   never take each other's units.
 * - **An Addon's sites are a NodeGroup** (`addonGroupName`): its units are
 *   the sites where the Addon's instance runs (targets less conflicts), so
 *   the unit controller labels their nodes `<group>: <site>`.
 * - **Each workload is a grid** `<addon>-<name>` in the hub's namespace with
 *   `gridUniqKey: <group>`: one Deployment or StatefulSet per site. The spec
 *   most sites share is the grid's `template`; a site whose config makes
 *   another spec gets its own template in `templatePool` (named by its
 *   hash), so changing one site's template rolls only that site. A site
 *   whose config makes no such workload gets the template with
 *   `replicas: 0` (a grid has a workload at every unit).
 * - **Each service is a ServiceGrid** `<addon>-<name>` with the same key:
 *   one Service whose endpoints each site's nodes see from their own site.
 * - **Files the workloads mount are ConfigMaps** `<addon>-<name>`
 *   (immutable, named by the plugin after their content), one for every
 *   site that mounts the same files.
 * - Everything written carries `edgeadm.io/addon: <addon>` and the hub's
 *   namespace label, and the grids and ConfigMaps are owned by the Addon.
 */
import { createHash } from 'node:crypto';
import type { PluginWorkloads } from '../plugins/index.ts';
import { API_VERSION } from '../store/index.ts';
import { APPS_GROUP, APPS_VERSION, SITE_GROUP, SITE_VERSION } from './types.ts';
import { gridSpecHash } from './workloads.ts';

/** Which Addon an object was written for. */
export const ADDON_LABEL = 'edgeadm.io/addon';
/** The namespace of the hub that wrote an object (NodeUnits and NodeGroups are cluster-scoped). */
export const HUB_NAMESPACE_LABEL = 'edgeadm.io/hub-namespace';

type Json = Record<string, unknown>;

export interface OwnedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: Json[] };
  spec: Json;
}

/** The NodeUnit that is site `site` of the hub in `namespace`. */
export function siteNodeUnit(namespace: string, site: string, nodes: readonly string[]): OwnedObject {
  return {
    apiVersion: `${SITE_GROUP}/${SITE_VERSION}`,
    kind: 'NodeUnit',
    metadata: { name: site, labels: { [HUB_NAMESPACE_LABEL]: namespace, 'edgeadm.io/site': site } },
    spec: { type: 'edge', nodes: [...new Set(nodes)].sort() },
  };
}

/**
 * The NodeGroup (and node label key) of an Addon: `edgeadm-<namespace>-<addon>`
 * when that is a valid label name (63 characters at most), otherwise
 * `edgeadm-` and a hash of both.
 */
export function addonGroupName(namespace: string, addon: string): string {
  const plain = `edgeadm-${namespace}-${addon}`;
  if (plain.length <= 63) return plain;
  return `edgeadm-${createHash('sha256').update(`${namespace}/${addon}`).digest('hex').slice(0, 24)}`;
}

export function addonNodeGroup(namespace: string, addon: string, sites: readonly string[]): OwnedObject {
  return {
    apiVersion: `${SITE_GROUP}/${SITE_VERSION}`,
    kind: 'NodeGroup',
    metadata: { name: addonGroupName(namespace, addon), labels: { [HUB_NAMESPACE_LABEL]: namespace, [ADDON_LABEL]: addon } },
    spec: { nodeUnits: [...sites].sort() },
  };
}

export interface AddonGridInput {
  namespace: string;
  addon: { name: string; uid?: string | undefined };
  /** Each site where the instance runs, with what the plugin makes there. */
  sites: readonly { site: string; workloads: PluginWorkloads }[];
}

/** A site whose workloads could not be put in the grids, and why. */
export interface AddonGridProblem {
  site: string;
  message: string;
}

export interface AddonGridOutput {
  grids: OwnedObject[];
  problems: AddonGridProblem[];
}

const templateName = (spec: Json): string => `t-${gridSpecHash(spec).slice(0, 10)}`;
const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The grids of an Addon (see the module's rules), sorted by kind and name. */
export function addonGrids(input: AddonGridInput): AddonGridOutput {
  const { namespace, addon } = input;
  const key = addonGroupName(namespace, addon.name);
  const labels = { [ADDON_LABEL]: addon.name, [HUB_NAMESPACE_LABEL]: namespace };
  const owner = addon.uid === undefined ? undefined : [{ apiVersion: API_VERSION, kind: 'Addon', name: addon.name, uid: addon.uid, controller: true, blockOwnerDeletion: true }];
  const problems: AddonGridProblem[] = [];
  const grids: OwnedObject[] = [];
  const sites = [...input.sites].sort((a, b) => (a.site < b.site ? -1 : 1));

  const kinds = [
    { field: 'deployments', kind: 'DeploymentGrid' },
    { field: 'statefulSets', kind: 'StatefulSetGrid' },
    { field: 'services', kind: 'ServiceGrid' },
  ] as const;
  for (const { field, kind } of kinds) {
    // name -> site -> spec
    const byName = new Map<string, Map<string, Json>>();
    for (const { site, workloads } of sites) {
      const seen = new Set<string>();
      for (const w of workloads[field] ?? []) {
        if (typeof w.name !== 'string' || !NAME_RE.test(w.name) || w.name.length > 63) {
          problems.push({ site, message: `workloads.${field}: name ${JSON.stringify(w.name)} is not a DNS-1123 label` });
          continue;
        }
        if (seen.has(w.name)) {
          problems.push({ site, message: `workloads.${field}: name '${w.name}' appears twice` });
          continue;
        }
        seen.add(w.name);
        const perSite = byName.get(w.name) ?? new Map<string, Json>();
        perSite.set(site, structuredClone(w.spec));
        byName.set(w.name, perSite);
      }
    }
    for (const [name, perSite] of [...byName].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const metadata: OwnedObject['metadata'] = { name: `${addon.name}-${name}`, namespace, labels: { ...labels }, ...(owner === undefined ? {} : { ownerReferences: owner }) };
      const apiVersion = `${APPS_GROUP}/${APPS_VERSION}`;
      if (kind === 'ServiceGrid') {
        const specs = [...perSite];
        const [firstSite, first] = specs[0]!;
        for (const [site, spec] of specs.slice(1)) {
          if (gridSpecHash(spec) !== gridSpecHash(first)) problems.push({ site, message: `service '${name}' differs from site ${firstSite}'s: a ServiceGrid has one Service spec for every site` });
        }
        grids.push({ apiVersion, kind, metadata, spec: { gridUniqKey: key, template: first } });
        continue;
      }
      // The spec most sites share is the template; the others go to the pool.
      const counts = new Map<string, { spec: Json; sites: string[] }>();
      for (const { site } of sites) {
        let spec = perSite.get(site);
        if (spec === undefined) {
          // A grid has a workload at every unit: where the site makes none, it scales to zero.
          spec = { ...structuredClone(perSite.values().next().value!), replicas: 0 };
        }
        const t = templateName(spec);
        const entry = counts.get(t) ?? { spec, sites: [] };
        entry.sites.push(site);
        counts.set(t, entry);
      }
      const ranked = [...counts].sort(([ta, a], [tb, b]) => b.sites.length - a.sites.length || (ta < tb ? -1 : 1));
      const [, main] = ranked[0]!;
      const spec: Json = { gridUniqKey: key, template: main.spec };
      if (ranked.length > 1) {
        spec.templatePool = Object.fromEntries(ranked.slice(1).map(([t, e]) => [t, e.spec]));
        spec.templates = Object.fromEntries(ranked.slice(1).flatMap(([t, e]) => e.sites.map((s) => [s, t] as const)).sort(([a], [b]) => (a < b ? -1 : 1)));
        spec.autoDeleteUnusedTemplate = true;
      }
      grids.push({ apiVersion, kind, metadata, spec });
    }
  }
  return { grids, problems };
}

/** A ConfigMap of an Addon's workloads. */
export interface OwnedConfigMap {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: { name: string; namespace: string; labels: Record<string, string>; ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller: boolean; blockOwnerDeletion: boolean }[] };
  data: Record<string, string>;
  immutable: true;
}

/** The ConfigMaps of an Addon's sites' workloads, by name; a name with other data at another site is a problem of that site. */
export function addonConfigMaps(input: AddonGridInput): { configMaps: OwnedConfigMap[]; problems: AddonGridProblem[] } {
  const { namespace, addon } = input;
  const labels = { [ADDON_LABEL]: addon.name, [HUB_NAMESPACE_LABEL]: namespace };
  const uid = addon.uid;
  const owner = uid === undefined ? undefined : [{ apiVersion: API_VERSION, kind: 'Addon', name: addon.name, uid, controller: true, blockOwnerDeletion: true }];
  const byName = new Map<string, { site: string; data: Record<string, string> }>();
  const problems: AddonGridProblem[] = [];
  for (const { site, workloads } of [...input.sites].sort((a, b) => (a.site < b.site ? -1 : 1))) {
    for (const c of workloads.configMaps ?? []) {
      const name = `${addon.name}-${c.name}`;
      if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253) {
        problems.push({ site, message: `workloads.configMaps: name ${JSON.stringify(c.name)} does not make a DNS-1123 subdomain` });
        continue;
      }
      const seen = byName.get(name);
      if (seen === undefined) byName.set(name, { site, data: { ...c.data } });
      else if (gridSpecHash(seen.data) !== gridSpecHash({ ...c.data })) problems.push({ site, message: `configMap '${c.name}' has other data than at site ${seen.site}: name a ConfigMap by its content` });
    }
  }
  const configMaps = [...byName]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, { data }]): OwnedConfigMap => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels: { ...labels }, ...(owner === undefined ? {} : { ownerReferences: owner }) }, data, immutable: true }));
  return { configMaps, problems };
}

export type SiteWorkloadState = { state: 'running' | 'starting' | 'pending'; message: string };

/**
 * A site's state from its workloads' states in the grids (`status.states[site]`
 * of each DeploymentGrid and StatefulSetGrid of the Addon): running when every
 * workload that should run has all its replicas ready.
 */
export function siteWorkloadState(site: string, grids: readonly { metadata?: { name?: string }; spec?: unknown; status?: unknown }[]): SiteWorkloadState {
  const waiting: string[] = [];
  let counted = 0;
  for (const g of grids) {
    const name = g.metadata?.name ?? '';
    const spec = (g.spec ?? {}) as { template?: { replicas?: number }; templatePool?: Record<string, { replicas?: number }>; templates?: Record<string, string> };
    const t = spec.templates?.[site];
    const wanted = (t !== undefined ? spec.templatePool?.[t]?.replicas : spec.template?.replicas) ?? 1;
    if (wanted === 0) continue;
    counted++;
    const state = ((g.status ?? {}) as { states?: Record<string, { readyReplicas?: number; replicas?: number }> }).states?.[site];
    if (state === undefined) waiting.push(`${name}: not created yet`);
    else if ((state.readyReplicas ?? 0) < wanted) waiting.push(`${name}: ${state.readyReplicas ?? 0}/${wanted} ready`);
  }
  if (counted === 0) return { state: 'running', message: 'no workload runs at this site' };
  if (waiting.length === 0) return { state: 'running', message: `${counted} workload(s) ready` };
  return { state: waiting.every((w) => w.endsWith('not created yet')) ? 'pending' : 'starting', message: waiting.join('; ') };
}
