/**
 * SuperEdge's grid and unit types, with SuperEdge's exact field names and
 * shapes, so that SuperEdge users' manifests apply unchanged:
 * `site.superedge.io/v1alpha2` NodeUnit and NodeGroup (SuperEdge's
 * pkg/site-manager/apis/site.superedge.io/v1alpha2/types.go) and
 * `superedge.io/v1` DeploymentGrid, StatefulSetGrid and ServiceGrid
 * (pkg/application-grid-controller/apis/superedge.io/v1/types.go, with the
 * canary fields templatePool, templates, defaultTemplateName and
 * autoDeleteUnusedTemplate of SuperEdge's serviceGroup docs).
 *
 * Rules:
 * - SuperEdge's own structs are closed (`additionalProperties: false`): an
 *   unknown or misspelt field is refused here, naming it; kube prunes it.
 * - The embedded Kubernetes DeploymentSpec, StatefulSetSpec and ServiceSpec
 *   (and their statuses) are open objects, which become
 *   `x-kubernetes-preserve-unknown-fields: true` in the CRDs: the full apps/v1
 *   and core/v1 schemas are kube's own to validate, and they change with
 *   every Kubernetes release, so copying them here would pin one release's
 *   rules into the CRD and refuse newer fields. Only the fields the grid
 *   reads are typed: `replicas`, `selector` and `template.metadata.labels`
 *   of workloads, `selector` and `ports` of services.
 * - Optional fields with SuperEdge's kubebuilder defaults carry the same
 *   `default` (NodeUnit `type: edge`, `unschedulable: false`,
 *   `autonomyLevel: L3`), so kube fills them as SuperEdge's CRDs do.
 * - `GRID_KINDS` is the one table of these kinds (group, version, plural,
 *   short names, scope, schemas, printer columns) that both validation and
 *   the CRDs (`crdFromSchema` in core/store) are made from.
 */
import Type, { type Static, type TSchema } from 'typebox';
import { checkSchema, dns1123SubdomainProblem, labelKeyProblem, labelValueProblem, literalUnion, type FieldIssue } from '../kernel/index.ts';
import type { CrdFromSchemaOptions, PrinterColumn } from '../store/index.ts';

// ---------------------------------------------------------------------------
// Groups

/** NodeUnit and NodeGroup. */
export const SITE_GROUP = 'site.superedge.io';
export const SITE_VERSION = 'v1alpha2';
/** DeploymentGrid, StatefulSetGrid and ServiceGrid. */
export const APPS_GROUP = 'superedge.io';
export const APPS_VERSION = 'v1';

// ---------------------------------------------------------------------------
// Shared pieces (Kubernetes types SuperEdge embeds as they are)

const StringMap = Type.Record(Type.String(), Type.String());
const Timestamp = Type.String({ description: 'RFC 3339 time.' });

export const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;
/** metav1.LabelSelectorRequirement. */
export const LabelSelectorRequirementSchema = Type.Object(
  {
    key: Type.String({ minLength: 1, description: 'The label key the selector applies to.' }),
    operator: literalUnion(SELECTOR_OPERATORS, { description: 'In, NotIn, Exists or DoesNotExist.' }),
    values: Type.Optional(Type.Array(Type.String(), { description: 'Non-empty for In and NotIn, empty for Exists and DoesNotExist.' })),
  },
  { additionalProperties: false },
);

/** metav1.LabelSelector, as workloads' `selector`. */
export const LabelSelectorSchema = Type.Object(
  {
    matchLabels: Type.Optional(StringMap),
    matchExpressions: Type.Optional(Type.Array(LabelSelectorRequirementSchema)),
  },
  { additionalProperties: false },
);

/** SuperEdge's Selector: a label selector plus node annotations to match. */
export const SiteSelectorSchema = Type.Object(
  {
    matchLabels: Type.Optional(StringMap),
    matchExpressions: Type.Optional(Type.Array(LabelSelectorRequirementSchema)),
    /** Select nodes (or units) by these annotations. */
    annotations: Type.Optional(StringMap),
  },
  { additionalProperties: false },
);

export const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;
/** corev1.Taint. */
export const TaintSchema = Type.Object(
  {
    key: Type.String({ minLength: 1 }),
    value: Type.Optional(Type.String()),
    effect: literalUnion(TAINT_EFFECTS),
    timeAdded: Type.Optional(Type.String({ format: 'date-time', description: 'Written only for NoExecute taints.' })),
  },
  { additionalProperties: false },
);

/** corev1.ObjectReference. */
const ObjectReferenceSchema = Type.Object(
  {
    kind: Type.Optional(Type.String()),
    namespace: Type.Optional(Type.String()),
    name: Type.Optional(Type.String()),
    uid: Type.Optional(Type.String()),
    apiVersion: Type.Optional(Type.String()),
    resourceVersion: Type.Optional(Type.String()),
    fieldPath: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

/** resource.Quantity: `2`, `500m`, `1Gi`. */
const Quantity = Type.Union([Type.Integer(), Type.String()], { description: 'A Kubernetes quantity: 2, 500m, 1Gi.' });
const ResourceList = Type.Record(Type.String(), Quantity);

// ---------------------------------------------------------------------------
// NodeUnit

export const NODE_UNIT_TYPES = ['edge', 'cloud', 'master', 'other'] as const;
export const AUTONOMY_LEVELS = ['L3', 'L4', 'L5'] as const;
export const UNIT_CLUSTER_STORAGE_TYPES = ['sqlite', 'etcd'] as const;

export const SetNodeSchema = Type.Object(
  {
    /** Set on every node of the unit. */
    labels: Type.Optional(StringMap),
    annotations: Type.Optional(StringMap),
    taints: Type.Optional(Type.Array(TaintSchema)),
  },
  { additionalProperties: false },
);

export const NodeUnitSpecSchema = Type.Object(
  {
    type: Type.Optional(literalUnion(NODE_UNIT_TYPES, { default: 'edge', description: 'edge, cloud, master or other.' })),
    /** New workloads are not scheduled to the unit. */
    unschedulable: Type.Optional(Type.Boolean({ default: false })),
    /** Nodes that join the unit by name. */
    nodes: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** Nodes that join the unit by label (and annotation). */
    selector: Type.Optional(SiteSelectorSchema),
    /** Labels, annotations and taints put on every node of the unit. */
    setNode: Type.Optional(SetNodeSchema),
    /** L3 (default): the node is the autonomous area; L4 and above: the unit, with its own control plane. */
    autonomyLevel: Type.Optional(literalUnion(AUTONOMY_LEVELS, { default: 'L3' })),
    unitCredentialConfigMapRef: Type.Optional(ObjectReferenceSchema),
    unitClusterInfo: Type.Optional(
      Type.Object(
        {
          storageType: Type.Optional(literalUnion(UNIT_CLUSTER_STORAGE_TYPES)),
          parameters: Type.Optional(StringMap),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type NodeUnitSpec = Static<typeof NodeUnitSpecSchema>;

const ClusterConditionSchema = Type.Object(
  {
    type: Type.Optional(Type.String()),
    status: Type.Optional(literalUnion(['True', 'False', 'Unknown'] as const)),
    lastProbeTime: Type.Optional(Timestamp),
    lastTransitionTime: Type.Optional(Timestamp),
    reason: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const NodeUnitStatusSchema = Type.Object(
  {
    /** Ready nodes over selected nodes: `1/2`. */
    readyRate: Type.Optional(Type.String()),
    readyNodes: Type.Optional(Type.Array(Type.String())),
    notReadyNodes: Type.Optional(Type.Array(Type.String())),
    /** The unit's own control plane, when autonomyLevel is above L3. */
    unitClusterStatus: Type.Optional(
      Type.Object(
        {
          version: Type.Optional(Type.String()),
          phase: Type.Optional(Type.String()),
          conditions: Type.Optional(Type.Array(ClusterConditionSchema)),
          addresses: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  type: Type.Optional(Type.String()),
                  host: Type.Optional(Type.String()),
                  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
                  path: Type.Optional(Type.String()),
                },
                { additionalProperties: false },
              ),
            ),
          ),
          resource: Type.Optional(
            Type.Object(
              { capacity: Type.Optional(ResourceList), allocatable: Type.Optional(ResourceList), allocated: Type.Optional(ResourceList) },
              { additionalProperties: false },
            ),
          ),
          serviceCIDR: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type NodeUnitStatus = Static<typeof NodeUnitStatusSchema>;

// ---------------------------------------------------------------------------
// NodeGroup

/** A workload bound to a NodeGroup (recorded, not managed, by the group). */
export const WorkloadSchema = Type.Object(
  {
    name: Type.Optional(Type.String()),
    /** SuperEdge's values: Pod, Job, CronJob, Deployment, Service, ReplicaSet, DaemonSet, StatuefulSet (sic). Not checked, as in SuperEdge. */
    type: Type.Optional(Type.String()),
    selector: Type.Optional(SiteSelectorSchema),
  },
  { additionalProperties: false },
);

export const NodeGroupSpecSchema = Type.Object(
  {
    /** Units that join the group by name. */
    nodeUnits: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** Units that join the group by label. */
    selector: Type.Optional(SiteSelectorSchema),
    /** A unit is made for each value of these node label keys. */
    autoFindNodeKeys: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    workload: Type.Optional(Type.Array(WorkloadSchema)),
  },
  { additionalProperties: false },
);
export type NodeGroupSpec = Static<typeof NodeGroupSpecSchema>;

export const NodeGroupStatusSchema = Type.Object(
  {
    unitNumber: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
    nodeUnits: Type.Optional(Type.Array(Type.String())),
    workloadStatus: Type.Optional(
      Type.Array(
        Type.Object(
          {
            workloadName: Type.Optional(Type.String()),
            readyUnit: Type.Optional(Type.Array(Type.String())),
            notReadyUnit: Type.Optional(Type.Array(Type.String())),
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);
export type NodeGroupStatus = Static<typeof NodeGroupStatusSchema>;

// ---------------------------------------------------------------------------
// Grids: embedded Kubernetes specs, open beyond what the grid reads

/** A pod template: only `metadata.labels` typed (the grid matches them against the selector). */
const PodTemplateSchema = Type.Object(
  {
    metadata: Type.Optional(Type.Object({ labels: Type.Optional(StringMap) }, { description: 'ObjectMeta; fields beyond labels are kube\'s.' })),
  },
  { description: 'corev1.PodTemplateSpec; validated by kube when the grid creates the workload.' },
);

/** apps/v1 DeploymentSpec: `replicas`, `selector` and `template.metadata.labels` typed, the rest kept as written. */
export const DeploymentSpecSchema = Type.Object(
  {
    replicas: Type.Optional(Type.Integer({ minimum: 0 })),
    selector: Type.Optional(LabelSelectorSchema),
    template: Type.Optional(PodTemplateSchema),
  },
  { description: 'apps/v1 DeploymentSpec; fields the grid does not read are kept as written and validated by kube on the Deployment.' },
);

/** apps/v1 StatefulSetSpec: as DeploymentSpec, plus `serviceName` (the ServiceGrid whose headless form it uses). */
export const StatefulSetSpecSchema = Type.Object(
  {
    replicas: Type.Optional(Type.Integer({ minimum: 0 })),
    selector: Type.Optional(LabelSelectorSchema),
    template: Type.Optional(PodTemplateSchema),
    serviceName: Type.Optional(Type.String()),
  },
  { description: 'apps/v1 StatefulSetSpec; fields the grid does not read are kept as written and validated by kube on the StatefulSet.' },
);

/** core/v1 ServicePort: the fields the grid reads. */
const ServicePortSchema = Type.Object(
  {
    name: Type.Optional(Type.String()),
    protocol: Type.Optional(literalUnion(['TCP', 'UDP', 'SCTP'] as const)),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    targetPort: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 65535 }), Type.String({ minLength: 1 })])),
  },
  { description: 'corev1.ServicePort.' },
);

/** core/v1 ServiceSpec: `selector` (a plain label map, as Services have) and `ports` typed. */
export const ServiceSpecSchema = Type.Object(
  {
    selector: Type.Optional(StringMap),
    ports: Type.Optional(Type.Array(ServicePortSchema)),
    type: Type.Optional(Type.String()),
  },
  { description: 'core/v1 ServiceSpec; fields the grid does not read are kept as written and validated by kube on the Service.' },
);

/** A workload's status per unit: the counts typed, the rest (conditions) kept. */
const WorkloadStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
    replicas: Type.Optional(Type.Integer({ minimum: 0 })),
    readyReplicas: Type.Optional(Type.Integer({ minimum: 0 })),
    availableReplicas: Type.Optional(Type.Integer({ minimum: 0 })),
    updatedReplicas: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { description: 'apps/v1 DeploymentStatus or StatefulSetStatus of the unit\'s workload.' },
);

/** SuperEdge's label on what a grid made, naming the grid (its application-grid-controller's GridSelectorName). */
export const GRID_SELECTOR_LABEL = 'superedge.io/grid-selector';
/** SuperEdge's label on what a grid made, holding the grid's gridUniqKey (GridSelectorUniqKeyName). */
export const GRID_UNIQ_KEY_LABEL = 'superedge.io/grid-uniq-key';
/** The Service annotation listing the node label keys its traffic stays within, as JSON (`["zone"]`): what the topology wrapper filters endpoints by. */
export const TOPOLOGY_KEYS_ANNOTATION = 'topologyKeys';

/** `default`: the name that picks `spec.template` in defaultTemplateName and templates. */
export const DEFAULT_TEMPLATE_NAME = 'default';

function gridSpecSchema<S extends TSchema>(workload: S, what: string) {
  return Type.Object(
    {
      /** The node label key whose values name the units: one workload per value. */
      gridUniqKey: Type.String({ minLength: 1, maxLength: 317, description: 'Node label key; each of its values is a unit.' }),
      template: Type.Optional(workload),
      /** Named workload templates for canary releases by unit. */
      templatePool: Type.Optional(Type.Record(Type.String(), workload)),
      /** Unit name to template name (from templatePool, or `default` for spec.template). */
      templates: Type.Optional(StringMap),
      defaultTemplateName: Type.Optional(Type.String({ minLength: 1, default: DEFAULT_TEMPLATE_NAME, description: `Template for units not in templates; '${DEFAULT_TEMPLATE_NAME}' is spec.template.` })),
      /** Remove templatePool entries no unit uses. */
      autoDeleteUnusedTemplate: Type.Optional(Type.Boolean({ default: false })),
    },
    { additionalProperties: false, description: `${what} per unit of gridUniqKey.` },
  );
}

export const DeploymentGridSpecSchema = gridSpecSchema(DeploymentSpecSchema, 'A Deployment');
export type DeploymentGridSpec = Static<typeof DeploymentGridSpecSchema>;
export const StatefulSetGridSpecSchema = gridSpecSchema(StatefulSetSpecSchema, 'A StatefulSet');
export type StatefulSetGridSpec = Static<typeof StatefulSetGridSpecSchema>;

export const GridStatusSchema = Type.Object(
  {
    /** The workload's status by unit. */
    states: Type.Optional(Type.Record(Type.String(), WorkloadStatusSchema)),
  },
  { additionalProperties: false },
);
export type GridStatus = Static<typeof GridStatusSchema>;

export const ServiceGridSpecSchema = Type.Object(
  {
    gridUniqKey: Type.String({ minLength: 1, maxLength: 317, description: 'Node label key; traffic stays within the unit of each value.' }),
    template: ServiceSpecSchema,
  },
  { additionalProperties: false },
);
export type ServiceGridSpec = Static<typeof ServiceGridSpecSchema>;

// ---------------------------------------------------------------------------
// The kinds

export const GRID_KIND_NAMES = ['NodeUnit', 'NodeGroup', 'DeploymentGrid', 'StatefulSetGrid', 'ServiceGrid'] as const;
export type GridKind = (typeof GRID_KIND_NAMES)[number];

const column = (name: string, type: string, jsonPath: string, priority?: number): PrinterColumn => ({ name, type, jsonPath, ...(priority === undefined ? {} : { priority }) });

/**
 * Each SuperEdge kind as `crdFromSchema` takes it: SuperEdge's plural, short
 * names and scope (units and groups are cluster-wide, grids namespaced),
 * SuperEdge's printer columns (TYPE and READY of units, UNITS of groups),
 * and a status subresource where SuperEdge's type has a status.
 */
export const GRID_KINDS: Readonly<Record<GridKind, CrdFromSchemaOptions>> = {
  NodeUnit: {
    group: SITE_GROUP,
    version: SITE_VERSION,
    kind: 'NodeUnit',
    plural: 'nodeunits',
    singular: 'nodeunit',
    shortNames: ['nu'],
    scope: 'Cluster',
    specSchema: NodeUnitSpecSchema,
    statusSchema: NodeUnitStatusSchema,
    printerColumns: [column('Type', 'string', '.spec.type'), column('Ready', 'string', '.status.readyRate'), column('Autonomy', 'string', '.spec.autonomyLevel', 1)],
    categories: ['superedge'],
  },
  NodeGroup: {
    group: SITE_GROUP,
    version: SITE_VERSION,
    kind: 'NodeGroup',
    plural: 'nodegroups',
    singular: 'nodegroup',
    shortNames: ['ng'],
    scope: 'Cluster',
    specSchema: NodeGroupSpecSchema,
    statusSchema: NodeGroupStatusSchema,
    printerColumns: [column('Units', 'integer', '.status.unitNumber')],
    categories: ['superedge'],
  },
  DeploymentGrid: {
    group: APPS_GROUP,
    version: APPS_VERSION,
    kind: 'DeploymentGrid',
    plural: 'deploymentgrids',
    singular: 'deploymentgrid',
    shortNames: ['dg'],
    scope: 'Namespaced',
    specSchema: DeploymentGridSpecSchema,
    statusSchema: GridStatusSchema,
    printerColumns: [column('Grid-Key', 'string', '.spec.gridUniqKey'), column('Default-Template', 'string', '.spec.defaultTemplateName', 1)],
    categories: ['superedge'],
  },
  StatefulSetGrid: {
    group: APPS_GROUP,
    version: APPS_VERSION,
    kind: 'StatefulSetGrid',
    plural: 'statefulsetgrids',
    singular: 'statefulsetgrid',
    shortNames: ['ssg'],
    scope: 'Namespaced',
    specSchema: StatefulSetGridSpecSchema,
    statusSchema: GridStatusSchema,
    printerColumns: [column('Grid-Key', 'string', '.spec.gridUniqKey'), column('Default-Template', 'string', '.spec.defaultTemplateName', 1)],
    categories: ['superedge'],
  },
  ServiceGrid: {
    group: APPS_GROUP,
    version: APPS_VERSION,
    kind: 'ServiceGrid',
    plural: 'servicegrids',
    singular: 'servicegrid',
    shortNames: ['sg'],
    scope: 'Namespaced',
    specSchema: ServiceGridSpecSchema,
    printerColumns: [column('Grid-Key', 'string', '.spec.gridUniqKey')],
    categories: ['superedge'],
  },
};

// ---------------------------------------------------------------------------
// Validation

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function checkLabelMap(map: unknown, path: string, issues: FieldIssue[]): void {
  if (!isRecord(map)) return;
  for (const [k, v] of Object.entries(map)) {
    const kp = labelKeyProblem(k);
    if (kp !== undefined) issues.push({ path: `${path}.${k}`, message: `is not a label key: ${kp}` });
    else if (typeof v === 'string') {
      const vp = labelValueProblem(v);
      if (vp !== undefined) issues.push({ path: `${path}.${k}`, message: `is not a label value: ${vp}` });
    }
  }
}

function checkSelector(sel: unknown, path: string, issues: FieldIssue[]): void {
  if (!isRecord(sel)) return;
  checkLabelMap(sel.matchLabels, `${path}.matchLabels`, issues);
  if (!Array.isArray(sel.matchExpressions)) return;
  sel.matchExpressions.forEach((e: unknown, i) => {
    if (!isRecord(e)) return;
    const at = `${path}.matchExpressions[${i}]`;
    const values = Array.isArray(e.values) ? e.values : [];
    if ((e.operator === 'In' || e.operator === 'NotIn') && values.length === 0) issues.push({ path: `${at}.values`, message: `must not be empty for operator ${e.operator}` });
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && values.length > 0) issues.push({ path: `${at}.values`, message: `must be empty for operator ${e.operator}` });
    if (typeof e.key === 'string') {
      const kp = labelKeyProblem(e.key);
      if (kp !== undefined) issues.push({ path: `${at}.key`, message: `is not a label key: ${kp}` });
    }
  });
}

/** The selector must select the template's labels, as apps/v1 requires of the workload the grid makes. */
function checkWorkload(spec: unknown, path: string, issues: FieldIssue[]): void {
  if (!isRecord(spec)) return;
  checkSelector(spec.selector, `${path}.selector`, issues);
  const selector = isRecord(spec.selector) ? spec.selector : undefined;
  const template = isRecord(spec.template) ? spec.template : undefined;
  const meta = template && isRecord(template.metadata) ? template.metadata : undefined;
  const labels = meta && isRecord(meta.labels) ? meta.labels : {};
  checkLabelMap(labels, `${path}.template.metadata.labels`, issues);
  if (selector && isRecord(selector.matchLabels)) {
    for (const [k, v] of Object.entries(selector.matchLabels)) {
      const has = labels[k];
      if (has !== v) issues.push({ path: `${path}.selector.matchLabels.${k}`, message: `selects ${JSON.stringify(v)}, but template.metadata.labels.${k} is ${has === undefined ? 'not set' : JSON.stringify(has)}` });
    }
  }
}

/** The canary fields: every template name used must exist. */
function checkTemplates(spec: Record<string, unknown>, issues: FieldIssue[]): void {
  const pool = isRecord(spec.templatePool) ? spec.templatePool : {};
  for (const [name, t] of Object.entries(pool)) checkWorkload(t, `spec.templatePool.${name}`, issues);
  checkWorkload(spec.template, 'spec.template', issues);
  const known = (name: string): boolean => (name === DEFAULT_TEMPLATE_NAME ? spec.template !== undefined : Object.hasOwn(pool, name));
  const defaultName = typeof spec.defaultTemplateName === 'string' ? spec.defaultTemplateName : DEFAULT_TEMPLATE_NAME;
  if (!known(defaultName)) {
    issues.push(
      defaultName === DEFAULT_TEMPLATE_NAME
        ? { path: 'spec.template', message: `is required when defaultTemplateName is '${DEFAULT_TEMPLATE_NAME}' (or not set)` }
        : { path: 'spec.defaultTemplateName', message: `names '${defaultName}', which is not in spec.templatePool` },
    );
  }
  if (isRecord(spec.templates)) {
    for (const [unit, name] of Object.entries(spec.templates)) {
      if (typeof name === 'string' && !known(name)) issues.push({ path: `spec.templates.${unit}`, message: `names '${name}', which is not in spec.templatePool${name === DEFAULT_TEMPLATE_NAME ? ' (and spec.template is not set)' : ''}` });
    }
  }
}

function semanticIssues(kind: GridKind, spec: Record<string, unknown>, issues: FieldIssue[]): void {
  switch (kind) {
    case 'NodeUnit':
      checkSelector(spec.selector, 'spec.selector', issues);
      if (isRecord(spec.setNode)) checkLabelMap(spec.setNode.labels, 'spec.setNode.labels', issues);
      return;
    case 'NodeGroup':
      checkSelector(spec.selector, 'spec.selector', issues);
      if (Array.isArray(spec.autoFindNodeKeys)) {
        spec.autoFindNodeKeys.forEach((k: unknown, i) => {
          const kp = typeof k === 'string' ? labelKeyProblem(k) : undefined;
          if (kp !== undefined) issues.push({ path: `spec.autoFindNodeKeys[${i}]`, message: `is not a label key: ${kp}` });
        });
      }
      return;
    case 'DeploymentGrid':
    case 'StatefulSetGrid':
      checkTemplates(spec, issues);
      break;
    case 'ServiceGrid':
      checkLabelMap(isRecord(spec.template) ? spec.template.selector : undefined, 'spec.template.selector', issues);
      break;
  }
  if (typeof spec.gridUniqKey === 'string' && spec.gridUniqKey !== '') {
    const kp = labelKeyProblem(spec.gridUniqKey);
    if (kp !== undefined) issues.push({ path: 'spec.gridUniqKey', message: `is not a node label key: ${kp}` });
  }
}

/** The kind of a SuperEdge object from its apiVersion and kind, or undefined when it is none of them. */
export function gridKindOf(obj: unknown): GridKind | undefined {
  if (!isRecord(obj)) return undefined;
  return GRID_KIND_NAMES.find((k) => obj.kind === k && obj.apiVersion === `${GRID_KINDS[k].group}/${GRID_KINDS[k].version}`);
}

/**
 * Every problem of `obj` as a SuperEdge object, each with its field path:
 * apiVersion and kind, metadata.name (a DNS-1123 subdomain) and namespace
 * (only for the namespaced grids), spec and status against the kind's
 * schema, and what the schema cannot say: label keys and values, selectors
 * that match their templates' labels, template names that exist. An empty
 * array means valid. It does not change `obj` (defaults are kube's to fill).
 */
export function validateGridObject(obj: unknown): FieldIssue[] {
  if (!isRecord(obj)) return [{ path: '', message: 'must be an object' }];
  const issues: FieldIssue[] = [];
  const kind = GRID_KIND_NAMES.find((k) => obj.kind === k);
  if (kind === undefined) {
    issues.push({ path: 'kind', message: `must be one of ${GRID_KIND_NAMES.map((k) => `'${k}'`).join(', ')} (is ${JSON.stringify(obj.kind)})` });
    return issues;
  }
  const def = GRID_KINDS[kind];
  const apiVersion = `${def.group}/${def.version}`;
  if (obj.apiVersion !== apiVersion) issues.push({ path: 'apiVersion', message: `must be '${apiVersion}' for ${kind} (is ${JSON.stringify(obj.apiVersion)})` });
  for (const k of Object.keys(obj)) if (!['apiVersion', 'kind', 'metadata', 'spec', 'status'].includes(k)) issues.push({ path: k, message: 'is not a known field' });

  const meta = obj.metadata;
  if (!isRecord(meta)) issues.push({ path: 'metadata', message: meta === undefined ? 'is required' : 'must be an object' });
  else {
    if (typeof meta.name !== 'string') issues.push({ path: 'metadata.name', message: 'is required' });
    else {
      const p = dns1123SubdomainProblem(meta.name);
      if (p !== undefined) issues.push({ path: 'metadata.name', message: p });
    }
    if (def.scope === 'Cluster' && meta.namespace !== undefined) issues.push({ path: 'metadata.namespace', message: `must not be set: ${kind} is cluster-scoped` });
    checkLabelMap(meta.labels, 'metadata.labels', issues);
  }

  if (obj.spec === undefined) issues.push({ path: 'spec', message: 'is required' });
  else {
    issues.push(...checkSchema(def.specSchema, obj.spec, 'spec'));
    if (isRecord(obj.spec)) semanticIssues(kind, obj.spec, issues);
  }
  if (obj.status !== undefined && obj.status !== null) {
    if (def.statusSchema === undefined) issues.push({ path: 'status', message: `is not a field of ${kind}` });
    else issues.push(...checkSchema(def.statusSchema, obj.status, 'status'));
  }
  return issues;
}
