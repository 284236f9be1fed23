/**
 * The grid's coded errors: each names the grid, unit, Service or node it is
 * about, so a person can act on the message alone.
 */
import { createError, type FieldIssue } from '../kernel/index.ts';

/** A Service's topologyKeys annotation is not a JSON array of label keys (services.ts). */
export const ErrTopologyKeys = createError(
  'EDGE_ERR_GRID_TOPOLOGY_KEYS',
  (p: { service: string; value: string }) => `Service ${p.service}: annotation topologyKeys must be a JSON array of node label keys, such as ["zone"]; it is ${JSON.stringify(p.value.slice(0, 200))}`,
  { statusCode: 422 },
);

/** Options of a controller or its work queue that cannot work (controller.ts). */
export const ErrControllerOptions = createError(
  'EDGE_ERR_GRID_CONTROLLER_OPTIONS',
  (p: { controller: string; field: string; reason: string }) => `controller ${p.controller}: option ${p.field} ${p.reason}`,
  { statusCode: 400 },
);

/** A reconcile failure that retrying cannot mend: the key is dropped from the queue until its objects change (controller.ts). */
export const ErrReconcileTerminal = createError(
  'EDGE_ERR_GRID_RECONCILE_TERMINAL',
  (p: { controller: string; key: string; reason: string }) => `controller ${p.controller}: ${p.key} cannot be reconciled: ${p.reason}`,
  { statusCode: 422 },
);

/** A NodeUnit's or NodeGroup's spec.selector that is not a valid label selector (units.ts). */
export const ErrUnitSelector = createError(
  'EDGE_ERR_GRID_UNIT_SELECTOR',
  (p: { kind: string; name: string; reason: string }) => `${p.kind} ${p.name}: spec.selector is invalid (${p.reason}); it selects nothing until it is fixed`,
  { statusCode: 422 },
);

/** A node's record of what the units set on it, unreadable (edited by hand): it is rebuilt from the units (units.ts). */
export const ErrNodeRecord = createError(
  'EDGE_ERR_GRID_NODE_RECORD',
  (p: { node: string; annotation: string; reason: string }) => `node ${p.node}: annotation ${p.annotation} is unreadable (${p.reason}); what it listed is no longer removed`,
  { statusCode: 422 },
);

/** A DeploymentGrid or StatefulSetGrid that cannot be expanded at all: each problem names its field (workloads.ts). */
export const ErrGridInvalid = createError(
  'EDGE_ERR_GRID_INVALID',
  (p: { kind: string; grid: string; issues: FieldIssue[] }) =>
    `${p.kind} ${p.grid} is invalid (${p.issues.length} problem${p.issues.length === 1 ? '' : 's'}): ${p.issues.map((i) => `${i.path || '(root)'} ${i.message}`).join('; ')}; no workload is changed`,
  { statusCode: 422 },
);

/** A unit whose template is not there (not in templatePool, or `default` without spec.template): its workload is left as it is (workloads.ts). */
export const ErrGridTemplateMissing = createError(
  'EDGE_ERR_GRID_TEMPLATE_MISSING',
  (p: { kind: string; grid: string; unit: string; template: string; field: string; missing: string }) =>
    `${p.kind} ${p.grid}: unit '${p.unit}' uses template '${p.template}' (${p.field}), but ${p.missing}; its workload is left as it is`,
  { statusCode: 422 },
);

/** A unit whose workload cannot be named `<grid>-<unit>` (workloads.ts). */
export const ErrGridUnitName = createError(
  'EDGE_ERR_GRID_UNIT_NAME',
  (p: { kind: string; grid: string; unit: string; workload: string; reason: string }) =>
    `${p.kind} ${p.grid}: unit '${p.unit}' gives the workload name '${p.workload}', which ${p.reason}; the unit gets no workload`,
  { statusCode: 422 },
);

/** A workload of the grid's name for a unit that the grid does not own: it is not touched (workloads.ts). */
export const ErrGridWorkloadConflict = createError(
  'EDGE_ERR_GRID_WORKLOAD_CONFLICT',
  (p: { kind: string; grid: string; unit: string; workload: string; owner: string }) =>
    `${p.kind} ${p.grid}: unit '${p.unit}' needs ${p.workload}, which exists and belongs to ${p.owner}; it is not touched (delete it, or rename the grid)`,
  { statusCode: 409 },
);

/** Kube refused a unit's workload (422 or 400): retrying the same workload cannot succeed (workloads.ts). */
export const ErrGridWorkloadRefused = createError(
  'EDGE_ERR_GRID_WORKLOAD_REFUSED',
  (p: { kind: string; grid: string; unit: string; workload: string; operation: string; status: number; reason: string }) =>
    `${p.kind} ${p.grid}: kube refused to ${p.operation} ${p.workload} for unit '${p.unit}' (${p.status}): ${p.reason}`,
  { statusCode: 422 },
);

/** The cluster does not serve some of the grid's kinds: their CRDs are not installed (run.ts). */
export const ErrGridKindsNotServed = createError(
  'EDGE_ERR_GRID_KINDS_NOT_SERVED',
  (p: { server: string; resources: string[] }) =>
    `${p.server} does not serve ${p.resources.join(', ')}: install the grid's CRDs (edgeadm manifests crds | kubectl apply -f -)`,
  { statusCode: 503 },
);

/** A Site's NodeUnit name is taken by a NodeUnit another hub or person made (addon-controller.ts). */
export const ErrUnitTaken = createError(
  'EDGE_ERR_GRID_UNIT_TAKEN',
  (p: { unit: string; label: string }) => `NodeUnit '${p.unit}' belongs to someone else (it lacks label ${p.label}): rename it or the site`,
  { statusCode: 409 },
);

/** What a plugin's `workloads` made for a site cannot become grids, or it threw (addon-controller.ts). */
export const ErrAddonWorkloads = createError(
  'EDGE_ERR_GRID_ADDON_WORKLOADS',
  (p: { plugin: string; site: string; reason: string }) => `plugin '${p.plugin}' at site ${p.site}: its workloads cannot run as grids: ${p.reason}`,
  { statusCode: 422 },
);
