/**
 * The resource types the Kubernetes API test server serves: a table of
 * built-in types (all stored generically as JSON, none has a typed schema
 * here but MutatingWebhookConfiguration, defaulted and validated by
 * admission.ts) and the record a served custom resource type gets from its CRD.
 * Also the per-type field selector fields (`metadata.name` and
 * `metadata.namespace` for all; the documented extra ones for pods, secrets,
 * events, nodes, namespaces) and the discovery entry of a type.
 *
 * Rules: one storage key per group and resource (`apps/deployments`), so a
 * custom resource served in several versions is stored once and converted
 * with the CRD conversion strategy `None` (only apiVersion changes).
 */

/** A Kubernetes object as stored: any JSON object with the usual metadata. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

/** The part of `metav1.ObjectMeta` the server reads or writes. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  [field: string]: unknown;
}

/** An OpenAPI v3 schema node as a CRD version carries it. */
export interface JsonSchemaProps {
  type?: string;
  properties?: Record<string, JsonSchemaProps>;
  additionalProperties?: JsonSchemaProps | boolean;
  items?: JsonSchemaProps;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  nullable?: boolean;
  default?: unknown;
  description?: string;
  format?: string;
  $ref?: string;
  allOf?: JsonSchemaProps[];
  anyOf?: JsonSchemaProps[];
  oneOf?: JsonSchemaProps[];
  not?: JsonSchemaProps;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  [keyword: string]: unknown;
}

/** Reads a field selector field's value from an object; undefined when the object has none. */
type FieldGetter = (obj: KubeObject) => string | undefined;

/** One resource type as served. */
export interface ResourceType {
  group: string;
  /** Versions served, the preferred (storage) one first. */
  versions: string[];
  /** Plural, lower case: the URL segment. */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  /** Whether `<resource>/status` is served: status changes only through it, and spec changes alone bump generation. */
  statusSubresource: boolean;
  /** Whether objects carry metadata.generation (custom resources, CRDs, workloads, pods). */
  generation: boolean;
  /** Field selector fields beyond metadata.name and metadata.namespace. */
  fields: Record<string, FieldGetter>;
  /** For a custom resource: its CRD's schema per version (undefined when a version has none). */
  schemas?: Record<string, JsonSchemaProps | undefined>;
  /** For a custom resource: the name of its CRD. */
  crd?: string;
  /** For a built-in: the lists a strategic merge patch merges by key (patch.ts), by path; others are replaced. */
  mergeKeys?: Readonly<Record<string, string>>;
}

/** The storage key of a type: `group/resource` (`/pods` for the core group). */
export function typeKey(t: Pick<ResourceType, 'group' | 'resource'>): string {
  return `${t.group}/${t.resource}`;
}

/** `group/version`, or `version` alone for the core group, as in apiVersion. */
export function groupVersion(group: string, version: string): string {
  return group === '' ? version : `${group}/${version}`;
}

/** The qualified resource as kube-apiserver names it in messages: `pods`, `deployments.apps`. */
export function qualifiedResource(t: Pick<ResourceType, 'group' | 'resource'>): string {
  return t.group === '' ? t.resource : `${t.resource}.${t.group}`;
}

const text =
  (...path: string[]): FieldGetter =>
  (obj) => {
    let cur: unknown = obj;
    for (const p of path) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
    if (cur === undefined || cur === null) return undefined;
    return typeof cur === 'string' ? cur : typeof cur === 'number' || typeof cur === 'boolean' ? String(cur) : undefined;
  };

interface BuiltinSpec {
  group: string;
  version: string;
  resource: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  status?: boolean;
  generation?: boolean;
  fields?: Record<string, FieldGetter>;
  mergeKeys?: Record<string, string>;
}

const BUILTINS: BuiltinSpec[] = [
  { group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespaced: false, shortNames: ['ns'], status: true, fields: { 'status.phase': text('status', 'phase') } },
  { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', namespaced: true, fields: { type: text('type') } },
  { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'] },
  { group: '', version: 'v1', resource: 'services', kind: 'Service', namespaced: true, shortNames: ['svc'], status: true },
  { group: '', version: 'v1', resource: 'endpoints', kind: 'Endpoints', namespaced: true, shortNames: ['ep'] },
  {
    group: '',
    version: 'v1',
    resource: 'nodes',
    kind: 'Node',
    namespaced: false,
    shortNames: ['no'],
    status: true,
    fields: { 'spec.unschedulable': (o) => text('spec', 'unschedulable')(o) ?? 'false' },
  },
  {
    group: '',
    version: 'v1',
    resource: 'pods',
    kind: 'Pod',
    namespaced: true,
    shortNames: ['po'],
    status: true,
    generation: true,
    fields: { 'spec.nodeName': (o) => text('spec', 'nodeName')(o) ?? '', 'status.phase': (o) => text('status', 'phase')(o) ?? '' },
  },
  {
    group: '',
    version: 'v1',
    resource: 'events',
    kind: 'Event',
    namespaced: true,
    shortNames: ['ev'],
    fields: {
      'involvedObject.kind': text('involvedObject', 'kind'),
      'involvedObject.name': text('involvedObject', 'name'),
      'involvedObject.namespace': text('involvedObject', 'namespace'),
      'involvedObject.uid': text('involvedObject', 'uid'),
      reason: text('reason'),
      type: text('type'),
    },
  },
  { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease', namespaced: true },
  { group: '', version: 'v1', resource: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, shortNames: ['sa'] },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'roles', kind: 'Role', namespaced: true },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'rolebindings', kind: 'RoleBinding', namespaced: true },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterroles', kind: 'ClusterRole', namespaced: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false },
  { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', namespaced: true, shortNames: ['deploy'], status: true, generation: true },
  { group: 'apps', version: 'v1', resource: 'statefulsets', kind: 'StatefulSet', namespaced: true, shortNames: ['sts'], status: true, generation: true },
  { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', kind: 'EndpointSlice', namespaced: true },
  // Its webhooks are called by admission.ts; stored with kube's v1 defaults and validation (api.ts).
  { group: 'admissionregistration.k8s.io', version: 'v1', resource: 'mutatingwebhookconfigurations', kind: 'MutatingWebhookConfiguration', namespaced: false, generation: true, mergeKeys: { webhooks: 'name' } },
  {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    resource: 'customresourcedefinitions',
    kind: 'CustomResourceDefinition',
    namespaced: false,
    shortNames: ['crd', 'crds'],
    status: true,
    generation: true,
  },
];

/** The built-in types, fresh records each call (the server owns and may not share them). */
export function builtinTypes(): ResourceType[] {
  return BUILTINS.map((b) => ({
    group: b.group,
    versions: [b.version],
    resource: b.resource,
    singular: b.kind.toLowerCase(),
    kind: b.kind,
    namespaced: b.namespaced,
    shortNames: b.shortNames ?? [],
    statusSubresource: b.status ?? false,
    generation: b.generation ?? false,
    fields: b.fields ?? {},
    ...(b.mergeKeys !== undefined ? { mergeKeys: { ...b.mergeKeys } } : {}),
  }));
}

/** The value of field selector field `field` on `obj`, or undefined when the type does not support that field. */
export function fieldValue(t: ResourceType, obj: KubeObject, field: string): string | undefined {
  if (field === 'metadata.name') return obj.metadata?.name ?? '';
  if (field === 'metadata.namespace') return t.namespaced ? (obj.metadata?.namespace ?? '') : '';
  const get = t.fields[field];
  return get === undefined ? undefined : (get(obj) ?? '');
}

/** The verbs every type here supports, as discovery lists them. */
export const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** The `APIResource` entries of a type in an APIResourceList: the resource and its status subresource. */
export function discoveryEntries(t: ResourceType): Record<string, unknown>[] {
  const main = {
    name: t.resource,
    singularName: t.singular,
    namespaced: t.namespaced,
    kind: t.kind,
    verbs: VERBS,
    ...(t.shortNames.length > 0 ? { shortNames: t.shortNames } : {}),
    ...(t.crd !== undefined ? { categories: ['all'] } : {}),
    storageVersionHash: Buffer.from(typeKey(t)).toString('base64').slice(0, 11),
  };
  if (!t.statusSubresource) return [main];
  return [main, { name: `${t.resource}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['get', 'patch', 'update'] }];
}
