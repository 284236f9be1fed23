/**
 * The NodeUnit and NodeGroup reconcilers (SuperEdge's site-manager
 * semantics) on the grid's controller runtime.
 *
 * - A NodeUnit's members are the nodes named in `spec.nodes` and the nodes
 *   its `spec.selector` matches (matchLabels, matchExpressions, and
 *   annotations that must all be present with their values; a selector with
 *   none of them selects no node, as in SuperEdge). Its status lists the
 *   ready and not ready members (ready: the node's Ready condition is True)
 *   and `readyRate` `"<ready>/<total>"`, written through the status
 *   subresource.
 * - A NodeGroup's units are those named in `spec.nodeUnits` and those whose
 *   labels its `spec.selector` matches; its status lists them
 *   (`nodeUnits`, `unitNumber`).
 * - Each node is written by its own key only, so no two reconciles ever
 *   write one node: its wanted labels, annotations and taints are the
 *   `setNode` of every unit it belongs to (by unit name order: the first
 *   unit to set a key wins), plus `<group>: <unit>` for every group one of
 *   its units is in (the first such unit by name), plus SuperEdge's
 *   `nodeunits.superedge.io` annotation listing its units. What was set is
 *   recorded on the node (annotation `nodeunit.edgeadm.io/applied`), so
 *   exactly that is removed when the node leaves a unit, whatever the unit
 *   looks like by then (changed, deleted, or changed while the controller
 *   was down). Writes are merge patches with the cached resourceVersion as
 *   precondition: a concurrent change makes the patch fail with 409 and the
 *   key is tried again from the fresher cache.
 * - Membership follows the node's labels as they change: a node event
 *   queues the node itself and the units it belongs or belonged to.
 */
import type { Logger } from '../kernel/index.ts';
import { kubeError, pageRequest, parseLabelSelector, typedPage, type KubeClient, type KubeObject, type LabelSelector } from '../store/index.ts';
import { runController, type Caches, type ControllerOptions, type ControllerRunOptions, type RunningController, type WatchSource } from './controller.ts';
import { ErrNodeRecord, ErrUnitSelector } from './errors.ts';
import { GRID_KINDS, type NodeGroupSpec, type NodeGroupStatus, type NodeUnitSpec, type NodeUnitStatus } from './types.ts';
import { compareNames } from '../kernel/index.ts';

/** SuperEdge's node annotation: a JSON array of the names of the node's units. */
export const NODE_UNITS_ANNOTATION = 'nodeunits.superedge.io';
/** What the unit controller set on a node: `{ labels, annotations, taints }` (keys; taints as `key:effect`). */
export const APPLIED_ANNOTATION = 'nodeunit.edgeadm.io/applied';

/** The controller's name in logs and metrics. */
const CONTROLLER = 'grid-units';
const UNIT = GRID_KINDS.NodeUnit;
const GROUP = GRID_KINDS.NodeGroup;

/** Work-queue keys: the kind, a colon, the object's name. */
const NODE_KEY = 'node:';
const UNIT_KEY = 'nodeunit:';
const GROUP_KEY = 'nodegroup:';

interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string | Date;
}

interface NodeObject extends KubeObject {
  spec?: { taints?: Taint[]; [k: string]: unknown };
  status?: { conditions?: { type?: string; status?: string }[]; [k: string]: unknown };
}

interface UnitObject extends KubeObject {
  spec?: NodeUnitSpec;
  status?: NodeUnitStatus;
}

interface GroupObject extends KubeObject {
  spec?: NodeGroupSpec;
  status?: NodeGroupStatus;
}

interface Applied {
  labels: string[];
  annotations: string[];
  taints: string[];
}

type Selector = NonNullable<NodeUnitSpec['selector']>;

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const taintId = (t: { key: string; effect: string }): string => `${t.key}:${t.effect}`;
const byName = (a: KubeObject, b: KubeObject): number => compareNames(a.metadata?.name ?? '', b.metadata?.name ?? '');
const nameOf = (o: KubeObject): string => o.metadata?.name ?? '';
const live = (o: KubeObject): boolean => (o.metadata as { deletionTimestamp?: unknown } | undefined)?.deletionTimestamp === undefined;

/** The label selector text of a SuperEdge Selector's matchLabels and matchExpressions, or undefined when it has none. */
function selectorText(sel: Selector): string | undefined {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) parts.push(`${k}=${v}`);
  for (const e of sel.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else parts.push(`!${e.key}`);
  }
  return parts.length === 0 ? undefined : parts.join(',');
}

/**
 * A matcher for a SuperEdge Selector (labels and annotations), parsed once
 * per object revision. An invalid selector matches nothing and is reported
 * through `onInvalid`.
 */
class SelectorMatcher {
  readonly #parsed = new WeakMap<object, { labels: LabelSelector | undefined; ok: boolean }>();
  readonly #onInvalid: (kind: string, name: string, err: unknown) => void;

  constructor(onInvalid: (kind: string, name: string, err: unknown) => void) {
    this.#onInvalid = onInvalid;
  }

  matches(kind: string, owner: KubeObject, sel: Selector | undefined, target: KubeObject): boolean {
    if (sel === undefined) return false;
    let p = this.#parsed.get(sel);
    if (p === undefined) {
      const text = selectorText(sel);
      try {
        p = { labels: text === undefined ? undefined : parseLabelSelector(text), ok: true };
      } catch (err) {
        p = { labels: undefined, ok: false };
        this.#onInvalid(kind, nameOf(owner), err);
      }
      this.#parsed.set(sel, p);
    }
    const annotations = Object.entries(sel.annotations ?? {});
    if (!p.ok || (p.labels === undefined && annotations.length === 0)) return false;
    if (p.labels !== undefined && !p.labels.matches(target.metadata?.labels)) return false;
    const have = target.metadata?.annotations ?? {};
    return annotations.every(([k, v]) => have[k] === v);
  }
}

function isReady(node: NodeObject): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function readApplied(node: NodeObject, log: Logger): Applied {
  const text = node.metadata?.annotations?.[APPLIED_ANNOTATION];
  const empty: Applied = { labels: [], annotations: [], taints: [] };
  if (text === undefined) return empty;
  try {
    const v = JSON.parse(text) as Partial<Applied>;
    const strings = (a: unknown): string[] => (Array.isArray(a) ? a.filter((x): x is string => typeof x === 'string') : []);
    return { labels: strings(v.labels), annotations: strings(v.annotations), taints: strings(v.taints) };
  } catch (err) {
    log.warn({ err: new ErrNodeRecord({ node: nameOf(node), annotation: APPLIED_ANNOTATION, reason: messageOf(err) }) }, 'node record unreadable');
    return empty;
  }
}

/** The cached object `name` of cache `cache`, as the type the caller knows it to be. */
function cached<T extends KubeObject>(c: Caches, cache: string, name: string): T | undefined {
  return c.get(cache)?.get(name) as T | undefined;
}

const sameStrings = (a: readonly string[] | undefined, b: readonly string[]): boolean => (a ?? []).length === b.length && b.every((x, i) => a?.[i] === x);

export type UnitControllersOptions = ControllerRunOptions;

/** The running NodeUnit and NodeGroup reconcilers. */
export type UnitControllers = RunningController;

/**
 * The NodeUnit and NodeGroup reconcilers over the nodes, units and groups
 * of one cluster (the grid CRDs must be installed). Resolves once the
 * caches hold a first list and the workers run.
 */
export function startUnitControllers(o: UnitControllersOptions): Promise<UnitControllers> {
  return runController(CONTROLLER, o, (client) => unitReconcilers(client, o.logger));
}

/** The sources and reconcile of the unit controller, on `client`. */
function unitReconcilers(client: KubeClient, logger: Logger): Pick<ControllerOptions, 'sources' | 'reconcile'> {
  const log = logger.child({ controller: CONTROLLER });
  const matcher = new SelectorMatcher((kind, name, err) => log.warn({ err: new ErrUnitSelector({ kind, name, reason: messageOf(err) }, { cause: err }) }, 'selector invalid'));

  const groups = (c: Caches): GroupObject[] => [...(c.get(GROUP.plural)?.values() ?? [])].filter(live).sort(byName);
  const nodes = (c: Caches): NodeObject[] => [...(c.get('nodes')?.values() ?? [])] as NodeObject[];

  /**
   * The units, indexed (rebuilt after a unit event, which bumps
   * `unitsVersion`): by the node names their `spec.nodes` and status list,
   * and apart those with a selector, so a node's units are found without
   * looking at every unit (a site per unit makes thousands).
   */
  let unitsVersion = 0;
  let index: { version: number; all: UnitObject[]; byNode: Map<string, UnitObject[]>; byStatus: Map<string, UnitObject[]>; selecting: UnitObject[] } | undefined;
  const unitIndex = (c: Caches): NonNullable<typeof index> => {
    if (index?.version === unitsVersion) return index;
    const all = [...(c.get(UNIT.plural)?.values() ?? [])].filter(live).sort(byName) as UnitObject[];
    const byNode = new Map<string, UnitObject[]>();
    const byStatus = new Map<string, UnitObject[]>();
    const add = (m: Map<string, UnitObject[]>, k: string, u: UnitObject): void => {
      const l = m.get(k);
      if (l === undefined) m.set(k, [u]);
      else if (l[l.length - 1] !== u) l.push(u);
    };
    for (const u of all) {
      for (const n of u.spec?.nodes ?? []) add(byNode, n, u);
      for (const n of [...(u.status?.readyNodes ?? []), ...(u.status?.notReadyNodes ?? [])]) add(byStatus, n, u);
    }
    index = { version: unitsVersion, all, byNode, byStatus, selecting: all.filter((u) => u.spec?.selector !== undefined) };
    return index;
  };
  const units = (c: Caches): UnitObject[] => unitIndex(c).all;

  const inUnit = (unit: UnitObject, node: NodeObject): boolean => (unit.spec?.nodes ?? []).includes(nameOf(node)) || matcher.matches('NodeUnit', unit, unit.spec?.selector, node);
  /** The units `node` belongs to, by name: those listing it, and those whose selector matches it. */
  const unitsOfNode = (node: NodeObject, c: Caches): UnitObject[] => {
    const ix = unitIndex(c);
    const found = new Set<UnitObject>(ix.byNode.get(nameOf(node)) ?? []);
    for (const u of ix.selecting) if (!found.has(u) && inUnit(u, node)) found.add(u);
    return [...found].sort(byName);
  };
  const unitsOfGroup = (group: GroupObject, all: UnitObject[]): UnitObject[] => all.filter((u) => (group.spec?.nodeUnits ?? []).includes(nameOf(u)) || matcher.matches('NodeGroup', group, group.spec?.selector, u));
  /** A unit's member nodes: those it names that exist, and those its selector matches. */
  const membersOf = (unit: UnitObject, c: Caches): NodeObject[] => {
    const cache = c.get('nodes');
    const named = new Set(unit.spec?.nodes ?? []);
    const members = [...named].map((n) => cache?.get(n)).filter((n): n is NodeObject => n !== undefined);
    if (unit.spec?.selector !== undefined) for (const n of nodes(c)) if (!named.has(nameOf(n)) && inUnit(unit, n)) members.push(n);
    return members;
  };

  // -- what changes map to -------------------------------------------------

  const nodeSource: WatchSource = {
    name: 'nodes',
    path: '/api/v1/nodes',
    list: async (cl, page) => typedPage(await cl.core.listNode(pageRequest(page))),
    keys(obj, old, c) {
      const keys = new Set([NODE_KEY + nameOf(obj)]);
      const ix = unitIndex(c);
      for (const u of [...(ix.byStatus.get(nameOf(obj)) ?? []), ...unitsOfNode(obj, c), ...(old === undefined ? [] : unitsOfNode(old, c))]) keys.add(UNIT_KEY + nameOf(u));
      return keys;
    },
  };
  /** A cluster-scoped custom resource as a source, cached under its plural. */
  const customSource = (kind: typeof UNIT, keys: NonNullable<WatchSource['keys']>): WatchSource => ({
    name: kind.plural,
    path: `/apis/${kind.group}/${kind.version}/${kind.plural}`,
    list: async (cl, page) =>
      (await cl.custom.listClusterCustomObject({ group: kind.group, version: kind.version, plural: kind.plural, ...pageRequest(page) })) as { items: KubeObject[]; metadata?: { resourceVersion?: string; continue?: string } },
    keys,
  });
  const unitSource = customSource(UNIT, (obj, old, c) => {
    unitsVersion++;
    const keys = new Set([UNIT_KEY + nameOf(obj)]);
    for (const g of groups(c)) keys.add(GROUP_KEY + nameOf(g));
    // A change of status alone moves no node and sets nothing on one (its own status writes come back here).
    const stillThere = c.get(UNIT.plural)?.has(nameOf(obj)) === true;
    const specSame = old !== undefined && stillThere && live(obj) && live(old) && JSON.stringify(obj.spec ?? null) === JSON.stringify(old.spec ?? null);
    if (!specSame) for (const u of [obj, ...(old === undefined ? [] : [old])] as UnitObject[]) for (const n of membersOf(u, c)) keys.add(NODE_KEY + nameOf(n));
    return keys;
  });
  const groupSource = customSource(GROUP, (obj, old, c) => {
    const keys = new Set([GROUP_KEY + nameOf(obj)]);
    const all = units(c);
    for (const u of new Set([...unitsOfGroup(obj, all), ...(old === undefined ? [] : unitsOfGroup(old, all))])) for (const n of membersOf(u, c)) keys.add(NODE_KEY + nameOf(n));
    for (const n of nodes(c)) if (n.metadata?.labels?.[nameOf(obj)] !== undefined) keys.add(NODE_KEY + nameOf(n));
    return keys;
  });

  // -- reconcilers ---------------------------------------------------------

  async function reconcileNode(name: string, c: Caches): Promise<void> {
    const node = cached<NodeObject>(c, 'nodes', name);
    if (node === undefined) return;
    const mine = unitsOfNode(node, c);
    const wantLabels = new Map<string, string>();
    const wantAnnotations = new Map<string, string>();
    const wantTaints = new Map<string, Taint>();
    for (const u of mine) {
      const set = u.spec?.setNode;
      for (const [k, v] of Object.entries(set?.labels ?? {})) if (!wantLabels.has(k)) wantLabels.set(k, v);
      for (const [k, v] of Object.entries(set?.annotations ?? {})) if (!wantAnnotations.has(k)) wantAnnotations.set(k, v);
      for (const t of set?.taints ?? []) if (!wantTaints.has(taintId(t))) wantTaints.set(taintId(t), { ...t });
    }
    for (const g of groups(c)) {
      const unit = unitsOfGroup(g, mine)[0];
      if (unit !== undefined && !wantLabels.has(nameOf(g))) wantLabels.set(nameOf(g), nameOf(unit));
    }
    if (mine.length > 0) wantAnnotations.set(NODE_UNITS_ANNOTATION, JSON.stringify(mine.map(nameOf)));

    const before = readApplied(node, log);
    const labels = node.metadata?.labels ?? {};
    const annotations = node.metadata?.annotations ?? {};
    const labelPatch: Record<string, string | null> = {};
    const annotationPatch: Record<string, string | null> = {};
    for (const k of before.labels) if (!wantLabels.has(k) && k in labels) labelPatch[k] = null;
    for (const [k, v] of wantLabels) if (labels[k] !== v) labelPatch[k] = v;
    for (const k of before.annotations) if (!wantAnnotations.has(k) && k in annotations) annotationPatch[k] = null;
    for (const [k, v] of wantAnnotations) if (annotations[k] !== v) annotationPatch[k] = v;

    const current = node.spec?.taints ?? [];
    const dropped = new Set(before.taints.filter((id) => !wantTaints.has(id)));
    const taints: Taint[] = current.filter((t) => !dropped.has(taintId(t)) && !wantTaints.has(taintId(t)));
    for (const want of wantTaints.values()) {
      const had = current.find((t) => taintId(t) === taintId(want));
      taints.push(had !== undefined && (had.value ?? '') === (want.value ?? '') ? had : want);
    }
    const taintsChanged = taints.length !== current.length || taints.some((t, i) => t !== current[i]);

    const applied: Applied = { labels: [...wantLabels.keys()].sort(), annotations: [...wantAnnotations.keys()].sort(), taints: [...wantTaints.keys()].sort() };
    const record = applied.labels.length + applied.annotations.length + applied.taints.length === 0 ? null : JSON.stringify(applied);
    if ((annotations[APPLIED_ANNOTATION] ?? null) !== record) annotationPatch[APPLIED_ANNOTATION] = record;

    if (Object.keys(labelPatch).length === 0 && Object.keys(annotationPatch).length === 0 && !taintsChanged) return;
    const body: Record<string, unknown> = {
      metadata: {
        resourceVersion: node.metadata?.resourceVersion,
        ...(Object.keys(labelPatch).length === 0 ? {} : { labels: labelPatch }),
        ...(Object.keys(annotationPatch).length === 0 ? {} : { annotations: annotationPatch }),
      },
      ...(taintsChanged ? { spec: { taints } } : {}),
    };
    try {
      await client.core.patchNode({ name, body }, client.k8s.setHeaderOptions('Content-Type', client.k8s.PatchStrategy.MergePatch));
    } catch (err) {
      throw kubeError(err, 'patch', `node ${name}`);
    }
    log.debug({ node: name, units: mine.map(nameOf), labels: labelPatch, annotations: Object.keys(annotationPatch), taints: taintsChanged }, 'node set');
  }

  /** Writes `status` through the status subresource, with the cached resourceVersion as precondition (409 when it moved on: tried again). */
  async function writeStatus(kind: typeof UNIT, obj: KubeObject, status: object): Promise<void> {
    const name = nameOf(obj);
    try {
      await client.custom.replaceClusterCustomObjectStatus({ group: kind.group, version: kind.version, plural: kind.plural, name, body: { ...obj, status } });
    } catch (err) {
      throw kubeError(err, 'update status', `${kind.kind} ${name}`);
    }
    log.debug({ kind: kind.kind, name, status }, 'status written');
  }

  async function reconcileUnit(name: string, c: Caches): Promise<void> {
    const unit = cached<UnitObject>(c, UNIT.plural, name);
    if (unit === undefined || !live(unit)) return;
    const members = membersOf(unit, c);
    const ready = members.filter(isReady).map(nameOf).sort();
    const notReady = members.filter((n) => !isReady(n)).map(nameOf).sort();
    const readyRate = `${ready.length}/${members.length}`;
    const s = unit.status;
    if (s?.readyRate === readyRate && sameStrings(s.readyNodes, ready) && sameStrings(s.notReadyNodes, notReady)) return;
    await writeStatus(UNIT, unit, { ...s, readyRate, readyNodes: ready, notReadyNodes: notReady });
  }

  async function reconcileGroup(name: string, c: Caches): Promise<void> {
    const group = cached<GroupObject>(c, GROUP.plural, name);
    if (group === undefined || !live(group)) return;
    const names = unitsOfGroup(group, units(c)).map(nameOf);
    const s = group.status;
    if (s?.unitNumber === names.length && sameStrings(s.nodeUnits, names)) return;
    await writeStatus(GROUP, group, { ...s, nodeUnits: names, unitNumber: names.length });
  }

  return {
    sources: [nodeSource, unitSource, groupSource],
    async reconcile(key, c) {
      if (key.startsWith(NODE_KEY)) return reconcileNode(key.slice(NODE_KEY.length), c);
      if (key.startsWith(UNIT_KEY)) return reconcileUnit(key.slice(UNIT_KEY.length), c);
      if (key.startsWith(GROUP_KEY)) return reconcileGroup(key.slice(GROUP_KEY.length), c);
    },
  };
}
