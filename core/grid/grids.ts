/**
 * The grid controller: DeploymentGrids, StatefulSetGrids and ServiceGrids
 * of every namespace, kept expanded on the grid's controller runtime
 * (workloads.ts and services.ts do the work of one grid).
 *
 * - A workload grid's units are the values of its `gridUniqKey` label
 *   among the cluster's nodes (a NodeGroup labels its nodes so). A node
 *   whose value of that label changes (added, moved, removed, node gone)
 *   queues the grids keyed by it, so a unit appearing gets its workload and
 *   one disappearing loses it.
 * - A change of a grid, or of a workload or Service carrying its
 *   `superedge.io/grid-selector` label (edited or deleted by someone else),
 *   queues that grid: what it made is put back.
 * - A grid that is gone has what it made deleted (its own only).
 * - A grid invalid as a whole is not retried until it changes
 *   (EDGE_ERR_GRID_RECONCILE_TERMINAL); a unit's own problem (a missing
 *   template, a workload someone else owns) is logged and the other units
 *   go on; kube failures are retried with backoff.
 */
import type { Logger } from '../kernel/index.ts';
import { pageRequest, typedPage, type KubeClient, type KubeObject } from '../store/index.ts';
import { runController, type Caches, type ControllerOptions, type ControllerRunOptions, type RunningController, type WatchSource } from './controller.ts';
import { ErrGridInvalid, ErrReconcileTerminal } from './errors.ts';
import { reconcileServiceGrid, type ServiceGridObject } from './services.ts';
import { GRID_KINDS, GRID_SELECTOR_LABEL } from './types.ts';
import { reconcileWorkloadGrid, type WorkloadGridKind } from './workloads.ts';

export type GridControllersOptions = ControllerRunOptions;
export type GridControllers = RunningController;

const CONTROLLER = 'grid-workloads';
type GridKindName = WorkloadGridKind | 'ServiceGrid';
const GRIDS: readonly GridKindName[] = ['DeploymentGrid', 'StatefulSetGrid', 'ServiceGrid'];
/** What each grid kind makes, and the source that watches it (by the grid-selector label). */
const MADE: Record<GridKindName, { source: string; group: string; version: string; plural: string }> = {
  DeploymentGrid: { source: 'deployments', group: 'apps', version: 'v1', plural: 'deployments' },
  StatefulSetGrid: { source: 'statefulsets', group: 'apps', version: 'v1', plural: 'statefulsets' },
  ServiceGrid: { source: 'services', group: '', version: 'v1', plural: 'services' },
};

type Page = { items: KubeObject[]; metadata?: { resourceVersion?: string; continue?: string } };
const keyOf = (kind: GridKindName, namespace: string, name: string): string => `${kind}:${namespace}/${name}`;
const nsOf = (o: KubeObject): string => o.metadata?.namespace ?? '';
const nameOf = (o: KubeObject): string => o.metadata?.name ?? '';
const uniqKeyOf = (grid: KubeObject): string | undefined => (grid as { spec?: { gridUniqKey?: unknown } }).spec?.gridUniqKey as string | undefined;

/** Starts the grid controller; resolves once its caches are filled. */
export function startGridControllers(o: GridControllersOptions): Promise<GridControllers> {
  return runController(CONTROLLER, o, (client) => gridReconcilers(client, o.logger));
}

/** The sources and reconcile of the grid controller, on `client`. */
function gridReconcilers(client: KubeClient, logger: Logger): Pick<ControllerOptions, 'sources' | 'reconcile'> {
  const log = logger.child({ controller: CONTROLLER });

  const gridsOf = (c: Caches, kind: GridKindName): KubeObject[] => [...(c.get(GRID_KINDS[kind].plural)?.values() ?? [])];

  const nodeSource: WatchSource = {
    name: 'nodes',
    path: '/api/v1/nodes',
    list: async (cl, p) => typedPage(await cl.core.listNode(pageRequest(p))),
    keys(obj, old, c) {
      const keys: string[] = [];
      for (const kind of ['DeploymentGrid', 'StatefulSetGrid'] as const) {
        for (const g of gridsOf(c, kind)) {
          const k = uniqKeyOf(g);
          if (k !== undefined && obj.metadata?.labels?.[k] !== old?.metadata?.labels?.[k]) keys.push(keyOf(kind, nsOf(g), nameOf(g)));
        }
      }
      return keys;
    },
  };
  const gridSource = (kind: GridKindName): WatchSource => {
    const k = GRID_KINDS[kind];
    return {
      name: k.plural,
      path: `/apis/${k.group}/${k.version}/${k.plural}`,
      list: async (cl, p) => (await cl.custom.listCustomObjectForAllNamespaces({ group: k.group, version: k.version, resourcePlural: k.plural, ...pageRequest(p) })) as Page,
      keys: (obj) => [keyOf(kind, nsOf(obj), nameOf(obj))],
    };
  };
  const madeSource = (kind: GridKindName): WatchSource => {
    const m = MADE[kind];
    const path = m.group === '' ? `/api/${m.version}/${m.plural}` : `/apis/${m.group}/${m.version}/${m.plural}`;
    return {
      name: m.source,
      path,
      labelSelector: GRID_SELECTOR_LABEL,
      list: async (cl, p) =>
        m.group === ''
          ? typedPage(await cl.core.listServiceForAllNamespaces({ labelSelector: GRID_SELECTOR_LABEL, ...pageRequest(p) }))
          : ((await cl.custom.listCustomObjectForAllNamespaces({ group: m.group, version: m.version, resourcePlural: m.plural, labelSelector: GRID_SELECTOR_LABEL, ...pageRequest(p) })) as Page),
      keys: (obj, old) => {
        const grids = new Set([obj.metadata?.labels?.[GRID_SELECTOR_LABEL], old?.metadata?.labels?.[GRID_SELECTOR_LABEL]]);
        return [...grids].filter((g): g is string => g !== undefined).map((g) => keyOf(kind, nsOf(obj), g));
      },
    };
  };

  /** The units of a gridUniqKey: the values of that label among the nodes. */
  const unitsOf = (uniqKey: string, c: Caches): string[] => {
    const units = new Set<string>();
    for (const n of c.get('nodes')?.values() ?? []) {
      const v = n.metadata?.labels?.[uniqKey];
      if (v !== undefined && v !== '') units.add(v);
    }
    return [...units].sort();
  };

  async function reconcile(key: string, c: Caches): Promise<void> {
    const m = /^(\w+):([^/]*)\/(.+)$/.exec(key);
    if (!m) throw new ErrReconcileTerminal({ controller: CONTROLLER, key, reason: 'not a grid key' });
    const [, kind, namespace, name] = m as unknown as [string, GridKindName, string, string];
    const grid = c.get(GRID_KINDS[kind].plural)?.get(`${namespace}/${name}`);
    if (kind === 'ServiceGrid') {
      const writes = await reconcileServiceGrid(client, namespace, name, grid as ServiceGridObject | undefined);
      if (writes > 0) log.debug({ grid: key, writes }, 'service grid reconciled');
      return;
    }
    const uniqKey = grid === undefined ? undefined : uniqKeyOf(grid);
    try {
      const r = await reconcileWorkloadGrid(client, kind, namespace, name, uniqKey === undefined ? [] : unitsOf(uniqKey, c), { logger: log });
      for (const p of r.problems) log.warn({ grid: key, code: p.code, message: p.message }, 'a unit of the grid is left as it is');
      if (r.writes > 0) log.info({ grid: key, writes: r.writes, created: r.created, updated: r.updated, deleted: r.deleted }, 'grid reconciled');
    } catch (err) {
      if (ErrGridInvalid.is(err)) throw new ErrReconcileTerminal({ controller: CONTROLLER, key, reason: (err as Error).message }, { cause: err });
      throw err;
    }
  }

  return { sources: [nodeSource, ...GRIDS.map(gridSource), ...GRIDS.map(madeSource)], reconcile };
}
