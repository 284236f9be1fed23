/**
 * DeploymentGrid and StatefulSetGrid: one Deployment or StatefulSet per unit
 * of the grid's gridUniqKey, as SuperEdge's application-grid-controller makes
 * them, with its canary fields (templatePool, templates, defaultTemplateName,
 * autoDeleteUnusedTemplate) for per-site overrides and gray release.
 *
 * Expansion (`expandGrid`, pure): for each unit, the workload
 * - named `<grid>-<unit>` in the grid's namespace;
 * - its spec the unit's template: `spec.templates[unit]`, else
 *   `spec.defaultTemplateName` (unset: `default`), where `default` is
 *   `spec.template` and any other name an entry of `spec.templatePool`;
 * - with `<gridUniqKey>: <unit>` merged into the pod template's
 *   nodeSelector (the grid's key wins over the template's);
 * - labelled with the grid's labels plus `superedge.io/grid-selector:
 *   <grid>` and `superedge.io/grid-uniq-key: <gridUniqKey>` (only when the
 *   key is also a valid label value: a prefixed key such as
 *   `example.com/zone` is not, and kube would refuse the workload);
 * - a controller ownerReference to the grid (when the grid has a uid), so
 *   kube's garbage collector removes it with the grid;
 * - annotated with a hash of its spec (`GRID_SPEC_HASH_ANNOTATION`), which
 *   says whether it is up to date without comparing against kube's
 *   defaulted copy (comparing would see kube's defaults as changes and
 *   write for ever).
 * With autoDeleteUnusedTemplate, the pool keeps only the templates named by
 * `spec.templates` or `spec.defaultTemplateName` (of any unit, present or
 * not, as SuperEdge prunes).
 *
 * Reconciliation (`reconcileWorkloadGrid`) writes only what differs:
 * missing workloads are created, those whose hash, grid labels or owner
 * differ are replaced (one unit's template change writes that unit's
 * workload only), those of units no longer there are deleted, the pruned
 * pool is written back to the grid, and `status.states` (the workload's
 * status by unit, through the status subresource) only when it changed.
 *
 * Rules:
 * - A grid broken as a whole (not a workload grid, invalid by
 *   `validateGridObject`) is a coded error and nothing is written. A unit
 *   that cannot be expanded (its template missing, its workload name
 *   invalid), or whose workload kube refuses or someone else owns, is a
 *   coded problem in the result: the other units go on, and that unit's
 *   existing workload is left as it is (never deleted for a typo).
 * - Failures that retrying can mend (conflicts, kube unreachable, 5xx) are
 *   thrown after the rest of the pass, so a work queue retries the key.
 * - A workload with the grid's label and no controller, or a controller of
 *   the same kind and name (a grid deleted and made again), is adopted; one
 *   controlled by anything else is not touched.
 * - A hand edit of a workload's spec is undone on the next change of its
 *   unit's template, not at once (the hash records what the grid wrote).
 * - When the grid is gone, the workloads it controlled are deleted (as
 *   kube's garbage collector would, which a pass does not wait for); a grid
 *   being deleted (deletionTimestamp set) is left to that collector.
 */
import { createHash } from 'node:crypto';
import { dns1123SubdomainProblem, labelValueProblem, type EdgeError, type FieldIssue, type Logger } from '../kernel/index.ts';
import { kubeError, kubeFailure, type KubeClient, type KubeObject } from '../store/index.ts';
import { ErrGridInvalid, ErrGridTemplateMissing, ErrGridUnitName, ErrGridWorkloadConflict, ErrGridWorkloadRefused } from './errors.ts';
import { APPS_GROUP, APPS_VERSION, DEFAULT_TEMPLATE_NAME, GRID_KINDS, GRID_SELECTOR_LABEL, GRID_UNIQ_KEY_LABEL, gridKindOf, validateGridObject, type GridStatus } from './types.ts';

type Json = Record<string, unknown>;

/** The grid kinds that make workloads. */
export const WORKLOAD_GRID_KINDS = ['DeploymentGrid', 'StatefulSetGrid'] as const;
export type WorkloadGridKind = (typeof WORKLOAD_GRID_KINDS)[number];
export type GridWorkloadKind = 'Deployment' | 'StatefulSet';
/** The apps/v1 kind each workload grid makes. */
export const GRID_WORKLOAD_KIND: Readonly<Record<WorkloadGridKind, GridWorkloadKind>> = { DeploymentGrid: 'Deployment', StatefulSetGrid: 'StatefulSet' };
const WORKLOAD_PLURAL: Readonly<Record<GridWorkloadKind, string>> = { Deployment: 'deployments', StatefulSet: 'statefulsets' };

/** The hash of the spec the grid last wrote to a workload. */
export const GRID_SPEC_HASH_ANNOTATION = 'grid.edgeadm.io/spec-hash';

/** metav1.OwnerReference. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** A Deployment or StatefulSet as the grid writes it. */
export interface GridWorkload {
  apiVersion: 'apps/v1';
  kind: GridWorkloadKind;
  metadata: { name: string; namespace?: string; labels: Record<string, string>; annotations: Record<string, string>; ownerReferences?: OwnerReference[] };
  spec: Json;
}

/** One unit's workload and the template it came from. */
export interface UnitWorkload {
  unit: string;
  /** The template name (`default` for spec.template). */
  template: string;
  workload: GridWorkload;
}

/** What a grid expands to for a set of units. */
export interface GridExpansion {
  kind: WorkloadGridKind;
  workloadKind: GridWorkloadKind;
  /** By unit, sorted. */
  workloads: UnitWorkload[];
  /** Units that got no workload, each a coded error naming the unit. */
  problems: EdgeError[];
  /** The units' workload names, expanded or not (what the grid may keep). */
  names: Map<string, string>;
  /** spec.templatePool after autoDeleteUnusedTemplate (as it is without it). */
  templatePool: Json | undefined;
  /** Pool entries autoDeleteUnusedTemplate removes. */
  prunedTemplates: string[];
}

function isRecord(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** JSON with object keys sorted: equal strings mean equal values. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (isRecord(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v));
}

/** The hash the grid records on a workload for its spec. */
export function gridSpecHash(spec: Json): string {
  return createHash('sha256').update(canonical(spec)).digest('hex').slice(0, 20);
}

/** The name SuperEdge gives a unit's workload. */
export const workloadNameOf = (grid: string, unit: string): string => `${grid}-${unit}`;

/** The controller reference a grid puts on what it makes. */
export function gridOwnerReference(kind: string, grid: { name: string; uid: string }): OwnerReference {
  return { apiVersion: `${APPS_GROUP}/${APPS_VERSION}`, kind, name: grid.name, uid: grid.uid, controller: true, blockOwnerDeletion: true };
}

/** Issues `validateGridObject` reports that are one unit's (its template), not the whole grid's: those units get a problem each instead. */
function unitIssue(issue: FieldIssue, spec: Json): boolean {
  return issue.path.startsWith('spec.templates.') || issue.path === 'spec.defaultTemplateName' || (issue.path === 'spec.template' && spec.template === undefined) || issue.path.startsWith('status');
}

/**
 * The workloads of a DeploymentGrid or StatefulSetGrid for `units` (the
 * values of its gridUniqKey), and its pool after autoDeleteUnusedTemplate
 * (see the header). Throws EDGE_ERR_GRID_INVALID when the grid as a whole
 * cannot be expanded; a unit that cannot is a problem in the result.
 */
export function expandGrid(grid: unknown, units: Iterable<string>): GridExpansion {
  const kind = gridKindOf(grid);
  const meta = isRecord(grid) && isRecord(grid.metadata) ? grid.metadata : {};
  const gridName = typeof meta.name === 'string' ? meta.name : '';
  const where = `${typeof meta.namespace === 'string' ? `${meta.namespace}/` : ''}${gridName}`;
  if (kind !== 'DeploymentGrid' && kind !== 'StatefulSetGrid') {
    const k = isRecord(grid) ? grid.kind : undefined;
    throw new ErrGridInvalid({ kind: String(k), grid: where, issues: [{ path: 'kind', message: `must be DeploymentGrid or StatefulSetGrid of ${APPS_GROUP}/${APPS_VERSION} (is ${JSON.stringify(k)})` }] });
  }
  const spec = (grid as { spec: Json }).spec;
  const issues = validateGridObject(grid).filter((i) => !isRecord(spec) || !unitIssue(i, spec));
  const nameProblem = labelValueProblem(gridName);
  if (nameProblem !== undefined) issues.push({ path: 'metadata.name', message: `cannot be the value of label ${GRID_SELECTOR_LABEL}: ${nameProblem}` });
  if (issues.length > 0) throw new ErrGridInvalid({ kind, grid: where, issues });

  const workloadKind = GRID_WORKLOAD_KIND[kind];
  const key = spec.gridUniqKey as string;
  const pool = isRecord(spec.templatePool) ? spec.templatePool : {};
  const templates = isRecord(spec.templates) ? (spec.templates as Record<string, string>) : {};
  const defaultName = typeof spec.defaultTemplateName === 'string' ? spec.defaultTemplateName : DEFAULT_TEMPLATE_NAME;

  const used = new Set([defaultName, ...Object.values(templates)]);
  const prunedTemplates = spec.autoDeleteUnusedTemplate === true ? Object.keys(pool).filter((n) => n === DEFAULT_TEMPLATE_NAME || !used.has(n)).sort() : [];
  const templatePool = spec.templatePool === undefined ? undefined : Object.fromEntries(Object.entries(pool).filter(([n]) => !prunedTemplates.includes(n)));

  const labels: Record<string, string> = { ...(isRecord(meta.labels) ? (meta.labels as Record<string, string>) : {}), [GRID_SELECTOR_LABEL]: gridName };
  if (labelValueProblem(key) === undefined) labels[GRID_UNIQ_KEY_LABEL] = key;
  const owner = typeof meta.uid === 'string' && meta.uid !== '' ? [gridOwnerReference(kind, { name: gridName, uid: meta.uid })] : undefined;

  const workloads: UnitWorkload[] = [];
  const problems: EdgeError[] = [];
  const names = new Map<string, string>();
  for (const unit of [...new Set(units)].sort()) {
    const name = workloadNameOf(gridName, unit);
    const unitProblem = unit === '' ? 'is empty' : labelValueProblem(unit);
    const badName = unitProblem === undefined ? dns1123SubdomainProblem(name) : `comes from a unit that is not a label value (${unitProblem})`;
    if (badName !== undefined) {
      problems.push(new ErrGridUnitName({ kind, grid: where, unit, workload: name, reason: badName }));
      continue;
    }
    names.set(unit, name);
    const chosen = Object.hasOwn(templates, unit);
    const template = chosen ? (templates[unit] as string) : defaultName;
    const body = template === DEFAULT_TEMPLATE_NAME ? spec.template : Object.hasOwn(pool, template) ? pool[template] : undefined;
    if (!isRecord(body)) {
      const missing = template === DEFAULT_TEMPLATE_NAME ? 'spec.template is not set' : 'it is not in spec.templatePool';
      problems.push(new ErrGridTemplateMissing({ kind, grid: where, unit, template, field: chosen ? `spec.templates.${unit}` : 'spec.defaultTemplateName', missing }));
      continue;
    }
    const workloadSpec = structuredClone(body);
    const pod = isRecord(workloadSpec.template) ? workloadSpec.template : (workloadSpec.template = {});
    const podSpec = isRecord(pod.spec) ? pod.spec : (pod.spec = {});
    podSpec.nodeSelector = { ...(isRecord(podSpec.nodeSelector) ? podSpec.nodeSelector : {}), [key]: unit };
    const workload: GridWorkload = {
      apiVersion: 'apps/v1',
      kind: workloadKind,
      metadata: {
        name,
        ...(typeof meta.namespace === 'string' ? { namespace: meta.namespace } : {}),
        labels: { ...labels },
        annotations: { [GRID_SPEC_HASH_ANNOTATION]: gridSpecHash(workloadSpec) },
        ...(owner === undefined ? {} : { ownerReferences: structuredClone(owner) }),
      },
      spec: workloadSpec,
    };
    workloads.push({ unit, template, workload });
  }
  return { kind, workloadKind, workloads, problems, names, templatePool, prunedTemplates };
}

// ---------------------------------------------------------------------------
// Reconciliation against kube

/** What one pass of `reconcileWorkloadGrid` did. */
export interface WorkloadGridResult {
  /** API writes made: creates, replaces, deletes, the grid's pool and its status. */
  writes: number;
  /** Units whose workload was created, replaced, deleted (sorted). */
  created: string[];
  updated: string[];
  deleted: string[];
  /** Whether the pruned pool and the status were written. */
  poolWritten: boolean;
  statusWritten: boolean;
  /** Units left as they are, each a coded error naming the unit (retrying does not mend them; a change of the grid may). */
  problems: EdgeError[];
  /** False when the grid is gone (its workloads were deleted). */
  gridFound: boolean;
}

export interface ReconcileWorkloadGridOptions {
  logger?: Logger;
  /** Writes in flight at once. Default 8. */
  concurrency?: number;
}

type MetaWithOwners = NonNullable<KubeObject['metadata']> & { ownerReferences?: OwnerReference[]; deletionTimestamp?: string };

const metaOf = (o: KubeObject): MetaWithOwners => o.metadata ?? {};
const controllerOf = (o: KubeObject): OwnerReference | undefined => metaOf(o).ownerReferences?.find((r) => r.controller === true);

/** Whether the grid `kind`/`name` may manage `o`: no controller, or a controller of that kind and name. */
function manageable(o: KubeObject, kind: WorkloadGridKind, name: string): boolean {
  const c = controllerOf(o);
  return c === undefined || (c.kind === kind && c.name === name && c.apiVersion.split('/')[0] === APPS_GROUP);
}

/** The status the grid rolls up for a unit: SuperEdge's filter for Deployments (replicas, readyReplicas, the Available condition), a StatefulSet's status as it is. */
function unitState(kind: GridWorkloadKind, status: unknown): Json {
  if (!isRecord(status)) return {};
  if (kind === 'StatefulSet') return structuredClone(status);
  const out: Json = {};
  if (status.replicas !== undefined) out.replicas = status.replicas;
  if (status.readyReplicas !== undefined) out.readyReplicas = status.readyReplicas;
  const available = Array.isArray(status.conditions) ? (status.conditions as unknown[]).find((c) => isRecord(c) && c.type === 'Available') : undefined;
  if (available !== undefined) out.conditions = [structuredClone(available)];
  return out;
}

/** Whether `have` holds what `want` says: the spec hash, the grid's labels, the grid as controller. */
function upToDate(have: KubeObject, want: GridWorkload): boolean {
  const m = metaOf(have);
  const owner = want.metadata.ownerReferences?.[0];
  return (
    m.annotations?.[GRID_SPEC_HASH_ANNOTATION] === want.metadata.annotations[GRID_SPEC_HASH_ANNOTATION] &&
    Object.entries(want.metadata.labels).every(([k, v]) => m.labels?.[k] === v) &&
    (owner === undefined || controllerOf(have)?.uid === owner.uid)
  );
}

/** `have` changed to `want`: the grid's spec, labels, annotation and controller; kube's and others' fields kept. */
function replacement(have: KubeObject, want: GridWorkload): KubeObject {
  const m = metaOf(have);
  const owners = want.metadata.ownerReferences === undefined ? m.ownerReferences : [...(m.ownerReferences ?? []).filter((r) => r.controller !== true), ...want.metadata.ownerReferences];
  return {
    ...have,
    metadata: { ...m, labels: { ...m.labels, ...want.metadata.labels }, annotations: { ...m.annotations, ...want.metadata.annotations }, ...(owners === undefined ? {} : { ownerReferences: owners }) },
    spec: want.spec,
  };
}

/** Runs `tasks` with at most `n` in flight. */
async function inPool(tasks: (() => Promise<void>)[], n: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) await (tasks[next++] as () => Promise<void>)();
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, tasks.length)) }, worker));
}

/**
 * Makes kube hold the workloads of the grid `kind` `namespace`/`name` for
 * `units` (the values of its gridUniqKey), writing only what differs, and
 * its `status.states` (see the header). When the grid is gone, deletes the
 * workloads it controlled. Problems of single units are in the result;
 * a failure retrying may mend is thrown (EDGE_ERR_STORE_KUBE) after the
 * rest of the pass; a grid broken as a whole throws EDGE_ERR_GRID_INVALID
 * before any write.
 */
export async function reconcileWorkloadGrid(
  client: Pick<KubeClient, 'custom'>,
  kind: WorkloadGridKind,
  namespace: string,
  name: string,
  units: Iterable<string>,
  options: ReconcileWorkloadGridOptions = {},
): Promise<WorkloadGridResult> {
  const api = client.custom;
  const log = options.logger;
  const gridTarget = { group: APPS_GROUP, version: APPS_VERSION, namespace, plural: GRID_KINDS[kind].plural };
  const workloadKind = GRID_WORKLOAD_KIND[kind];
  const plural = WORKLOAD_PLURAL[workloadKind];
  const target = { group: 'apps', version: 'v1', namespace, plural };
  const where = (n: string): string => `${plural} ${namespace}/${n}`;
  const gridWhere = `${namespace}/${name}`;
  const result: WorkloadGridResult = { writes: 0, created: [], updated: [], deleted: [], poolWritten: false, statusWritten: false, problems: [], gridFound: true };

  let grid: KubeObject | undefined;
  try {
    grid = (await api.getNamespacedCustomObject({ ...gridTarget, name })) as KubeObject;
  } catch (err) {
    if (kubeFailure(err).status !== 404) throw kubeError(err, 'get', `${GRID_KINDS[kind].plural} ${gridWhere}`);
  }
  if (grid !== undefined && metaOf(grid).deletionTimestamp !== undefined) return result;
  const expansion = grid === undefined ? undefined : expandGrid(grid, units);
  if (labelValueProblem(name) !== undefined) {
    // No workload can carry the label of such a name; a grid of that name is invalid (expandGrid threw).
    result.gridFound = grid !== undefined;
    return result;
  }

  // The workloads labelled as the grid's.
  const existing = new Map<string, KubeObject>();
  let cont: string | undefined;
  do {
    let page: { items: KubeObject[]; metadata?: { continue?: string } };
    try {
      page = (await api.listNamespacedCustomObject({ ...target, labelSelector: `${GRID_SELECTOR_LABEL}=${name}`, limit: 500, ...(cont === undefined ? {} : { _continue: cont }) })) as typeof page;
    } catch (err) {
      throw kubeError(err, 'list', `${plural} in namespace ${namespace} labelled ${GRID_SELECTOR_LABEL}=${name}`);
    }
    for (const item of page.items) existing.set(metaOf(item).name ?? '', item);
    cont = page.metadata?.continue || undefined;
  } while (cont !== undefined);

  const retryable: unknown[] = [];
  const tasks: (() => Promise<void>)[] = [];
  const states = new Map<string, unknown>();
  /** A failed write: kube's refusal or a conflict is the unit's problem; the rest is retried. */
  const failed = (err: unknown, unit: string, workload: string, operation: string): void => {
    const f = kubeFailure(err);
    if (f.status === 400 || f.status === 422) result.problems.push(new ErrGridWorkloadRefused({ kind, grid: gridWhere, unit, workload: where(workload), operation, status: f.status, reason: f.message }, { cause: err }));
    else if (operation === 'create' && f.status === 409) result.problems.push(new ErrGridWorkloadConflict({ kind, grid: gridWhere, unit, workload: where(workload), owner: `something else (it lacks label ${GRID_SELECTOR_LABEL}=${name})` }, { cause: err }));
    else retryable.push(kubeError(err, operation, where(workload)));
  };

  /** Deletes `have` unless it changed hands meanwhile (its uid the precondition). */
  const remove = (wname: string, have: KubeObject) => async (): Promise<void> => {
    try {
      await api.deleteNamespacedCustomObject({ ...target, name: wname, body: { preconditions: { uid: metaOf(have).uid } } });
      result.writes++;
      result.deleted.push(wname.slice(name.length + 1));
    } catch (err) {
      if (kubeFailure(err).status !== 404) retryable.push(kubeError(err, 'delete', where(wname)));
    }
  };

  if (grid === undefined || expansion === undefined) {
    result.gridFound = false;
    for (const [wname, have] of existing) {
      const c = controllerOf(have);
      if (c?.kind === kind && c.name === name) tasks.push(remove(wname, have));
    }
    await inPool(tasks, options.concurrency ?? 8);
    result.deleted.sort();
    if (retryable.length > 0) throw retryable[0];
    return result;
  }

  result.problems.push(...expansion.problems);

  // The pruned pool first: a grid changed meanwhile (409) ends the pass, to be tried again on the new grid.
  if (expansion.prunedTemplates.length > 0) {
    const spec = { ...(grid.spec as Json), templatePool: expansion.templatePool };
    try {
      grid = (await api.replaceNamespacedCustomObject({ ...gridTarget, name, body: { ...grid, spec } })) as KubeObject;
    } catch (err) {
      throw kubeError(err, 'remove unused templates from', `${GRID_KINDS[kind].plural} ${gridWhere}`);
    }
    result.writes++;
    result.poolWritten = true;
    log?.info({ kind, grid: gridWhere, templates: expansion.prunedTemplates }, 'grid unused templates removed');
  }

  const wanted = new Set(expansion.names.values());
  const unitOfName = new Map([...expansion.names].map(([u, n]) => [n, u]));
  for (const { unit, workload } of expansion.workloads) {
    const wname = workload.metadata.name;
    const have = existing.get(wname);
    const body = { ...workload, metadata: { ...workload.metadata, namespace } };
    if (have !== undefined && !manageable(have, kind, name)) {
      const c = controllerOf(have) as OwnerReference;
      result.problems.push(new ErrGridWorkloadConflict({ kind, grid: gridWhere, unit, workload: where(wname), owner: `${c.kind} ${c.name}` }));
      continue;
    }
    if (have === undefined) {
      tasks.push(async () => {
        try {
          const made = (await api.createNamespacedCustomObject({ ...target, body })) as KubeObject;
          result.writes++;
          result.created.push(unit);
          states.set(unit, made.status);
        } catch (err) {
          failed(err, unit, wname, 'create');
        }
      });
    } else if (!upToDate(have, body)) {
      tasks.push(async () => {
        try {
          const made = (await api.replaceNamespacedCustomObject({ ...target, name: wname, body: replacement(have, body) })) as KubeObject;
          result.writes++;
          result.updated.push(unit);
          states.set(unit, made.status);
        } catch (err) {
          states.set(unit, have.status);
          failed(err, unit, wname, 'update');
        }
      });
    } else states.set(unit, have.status);
  }
  // Units with a problem keep their workload as it is, and its state.
  for (const [wname, have] of existing) {
    const unit = unitOfName.get(wname);
    if (unit !== undefined && !states.has(unit) && manageable(have, kind, name)) states.set(unit, have.status);
  }
  for (const [wname, have] of existing) if (!wanted.has(wname) && manageable(have, kind, name)) tasks.push(remove(wname, have));
  await inPool(tasks, options.concurrency ?? 8);
  for (const list of [result.created, result.updated, result.deleted]) list.sort();
  if (result.writes > 0) log?.info({ kind, grid: gridWhere, created: result.created.length, updated: result.updated.length, deleted: result.deleted.length }, 'grid workloads written');
  for (const p of result.problems) log?.warn({ kind, grid: gridWhere, code: p.code, reason: p.message }, 'grid unit not reconciled');

  // The status by unit, written only when it changed.
  const rolled: Json = {};
  for (const unit of [...states.keys()].sort()) rolled[unit] = unitState(workloadKind, states.get(unit));
  const status = (isRecord(grid.status) ? grid.status : {}) as GridStatus;
  if (canonical(status.states ?? {}) !== canonical(rolled)) {
    try {
      await api.replaceNamespacedCustomObjectStatus({ ...gridTarget, name, body: { ...grid, status: { ...status, states: rolled } } });
      result.writes++;
      result.statusWritten = true;
    } catch (err) {
      retryable.push(kubeError(err, 'update status of', `${GRID_KINDS[kind].plural} ${gridWhere}`));
    }
  }
  if (retryable.length > 0) throw retryable[0];
  return result;
}
