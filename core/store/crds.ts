/**
 * CustomResourceDefinitions from TypeBox schemas: `crdFromSchema` is the one
 * generator (the kube driver installs its kinds with it; other CRDs of the
 * project use it too), `edgeadmCrds()` the CRDs of every kind in KINDS.
 *
 * The `openAPIV3Schema` it writes is structural, by kube-apiserver's rules
 * (CustomResourceDefinition docs, "Specifying a structural schema"): every
 * node has a type, no `$ref` / `$id`, never `properties` together with
 * `additionalProperties`. The mapping, node by node:
 * - `Type.Object`: `properties` and `required` kept. `additionalProperties:
 *   false` is dropped: kube prunes unknown fields instead, and the store's
 *   own validation (schemas.ts) refuses them before kube sees them. An object
 *   with properties that allows other fields (no `additionalProperties:
 *   false`) gets `x-kubernetes-preserve-unknown-fields: true`, so kube keeps
 *   what the store accepted.
 * - `Type.Record(Type.String(), X)` (TypeBox's `patternProperties: { '^.*$': X }`):
 *   `additionalProperties: X`. A record whose keys have another pattern is
 *   refused: kube cannot check keys.
 * - `Type.Unknown()` / `Type.Any()` (an empty schema): `x-kubernetes-preserve-unknown-fields: true`,
 *   `nullable: true` (any value, null included).
 * - a literal (`const`): its type with a one-value `enum`; a union of
 *   literals of one type (and `Type.Enum`): `enum`.
 * - a union with `Type.Null()`: the other branch, `nullable: true`.
 * - a union of integer and string: `x-kubernetes-int-or-string: true`.
 * - any other union (number | string, string | object, ...): kube's
 *   structural schemas forbid types inside `anyOf`, so the node becomes
 *   `x-kubernetes-preserve-unknown-fields: true` with no type: kube accepts
 *   any value there, and the store's validation still checks the union.
 * - numbers: `minimum` / `maximum` kept; JSON Schema 2020's numeric
 *   `exclusiveMinimum` / `exclusiveMaximum` become OpenAPI 3.0's
 *   `minimum` + `exclusiveMinimum: true`; `multipleOf` kept.
 * - strings: `minLength`, `maxLength`, `enum` kept; `format` kept only when
 *   kube knows it; `pattern` kept when Go's RE2 (kube's regexp) reads it:
 *   `\uXXXX` becomes the character itself, and a pattern with lookaround or
 *   backreferences is dropped (the store's validation still checks it).
 * - arrays: `items`, `minItems`, `maxItems` kept.
 * - objects: `minProperties`, `maxProperties` kept; `default` and
 *   `description` kept everywhere.
 * Refused with EDGE_ERR_STORE_CRD_SCHEMA naming the field path: `$ref` /
 * recursive schemas, tuples, `allOf` / `oneOf` / `not`, `uniqueItems`,
 * `Type.Null()` alone, records with key patterns, both properties and a
 * record, and anything without a JSON type (functions, undefined, bigint).
 */
import type { TSchema } from 'typebox';
import { ErrCrdSchema } from './errors.ts';
import { SPEC_SCHEMAS, STATUS_SCHEMAS } from './schemas.ts';
import { API_VERSION, KINDS, type Kind } from './types.ts';

/** The API group and version of the project's own kinds, from API_VERSION (`edgeadm.io/v1alpha1`). */
const [GROUP, VERSION] = API_VERSION.split('/') as [string, string];

/** An `additionalPrinterColumns` entry of a CRD version. */
export interface PrinterColumn {
  name: string;
  /** OpenAPI type: string, integer, number, boolean, date. */
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface CrdFromSchemaOptions {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular?: string;
  shortNames?: string[];
  scope: 'Namespaced' | 'Cluster';
  specSchema: TSchema;
  /** When given, the CRD has a status subresource. */
  statusSchema?: TSchema;
  printerColumns?: PrinterColumn[];
  categories?: string[];
}

/** A node of an OpenAPI v3 schema as a CRD holds it. */
export interface KubeSchema {
  [key: string]: unknown;
}

/** The `format`s kube-apiserver knows (k8s.io/kube-openapi strfmt's default registry); others are dropped. */
const KUBE_FORMATS = new Set([
  'bsonobjectid', 'uri', 'email', 'hostname', 'ipv4', 'ipv6', 'cidr', 'mac', 'uuid', 'uuid3', 'uuid4', 'uuid5',
  'isbn', 'isbn10', 'isbn13', 'creditcard', 'ssn', 'hexcolor', 'rgbcolor', 'byte', 'password', 'date', 'duration',
  'datetime', 'date-time',
]);

const COPIED = ['description', 'default', 'minimum', 'maximum', 'multipleOf', 'minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties'] as const;
const REFUSED: Record<string, string> = {
  $ref: 'references ($ref, recursive schemas) cannot appear in a structural schema',
  $id: 'schema ids ($id) cannot appear in a structural schema',
  allOf: 'intersections (allOf) are not supported: spell the object out',
  oneOf: 'oneOf is not supported: use a union (anyOf)',
  not: 'negations (not) are not supported',
  uniqueItems: 'kube forbids uniqueItems: true',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Go's RE2 form of an ECMAScript pattern, or undefined when RE2 cannot read it (lookaround, backreferences). */
function re2Pattern(pattern: string): string | undefined {
  if (/\(\?<?[=!]/.test(pattern) || /\\[1-9]|\\k</.test(pattern)) return undefined;
  // RE2 has no \uXXXX: write the character itself (escaped when it is regex punctuation), which both engines read.
  return pattern.replace(/\\u([0-9a-fA-F]{4})/g, (_m, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return /[\\^$.|?*+()[\]{}/-]/.test(c) ? `\\${c}` : c;
  });
}

function jsonType(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** The type that holds every literal in `values`, or undefined when they mix kinds. */
function enumType(values: unknown[]): string | undefined {
  const types = new Set(values.map(jsonType));
  if (types.size === 1) return [...types][0];
  if (types.size === 2 && types.has('integer') && types.has('number')) return 'number';
  return undefined;
}

/**
 * The structural OpenAPI v3 form of one TypeBox (JSON Schema) node; throws
 * ErrCrdSchema naming `path` when kube cannot express it.
 */
export function structuralSchema(schema: TSchema | Record<string, unknown>, kind: string, path: string): KubeSchema {
  const s = schema as Record<string, unknown>;
  const refuse = (at: string, reason: string): never => {
    throw new ErrCrdSchema({ kind, path: at, reason });
  };
  for (const [key, reason] of Object.entries(REFUSED)) {
    if (s[key] !== undefined && !(key === 'uniqueItems' && s[key] === false)) refuse(path, reason);
  }
  const out: KubeSchema = {};
  for (const key of COPIED) if (s[key] !== undefined) out[key] = structuredClone(s[key]);

  if (Array.isArray(s.anyOf)) return { ...out, ...unionSchema(s.anyOf as Record<string, unknown>[], kind, path) };
  if (s.const !== undefined) {
    const t = jsonType(s.const);
    if (t === 'object') refuse(path, 'an object literal cannot be an enum value');
    return { ...out, type: t, enum: [s.const] };
  }
  if (Array.isArray(s.enum)) {
    const t = (typeof s.type === 'string' ? s.type : undefined) ?? enumType(s.enum);
    if (t === undefined) return { ...out, 'x-kubernetes-preserve-unknown-fields': true };
    return { ...out, type: t, enum: structuredClone(s.enum) };
  }

  const type = s.type;
  if (type === undefined) {
    const typed = ['properties', 'patternProperties', 'items'].some((k) => s[k] !== undefined);
    if (typed) refuse(path, 'a schema with properties or items needs a type');
    const known = Object.keys(s).filter((k) => !(COPIED as readonly string[]).includes(k) && k !== 'title');
    if (known.length > 0) refuse(path, `no JSON type (keywords ${known.join(', ')}): functions, undefined, bigint and the like cannot be stored`);
    // Any value, null included (kube would prune a null of a non-nullable field).
    return { ...out, 'x-kubernetes-preserve-unknown-fields': true, nullable: true };
  }
  if (Array.isArray(type)) return { ...out, ...unionSchema(type.map((t) => ({ type: t as unknown })), kind, path) };
  switch (type) {
    case 'null':
      return refuse(path, 'null alone is not a type kube stores: make the field optional, or a union with null');
    case 'boolean':
      return { ...out, type };
    case 'integer':
    case 'number': {
      for (const bound of ['Minimum', 'Maximum'] as const) {
        const excl = s[`exclusive${bound}`];
        if (typeof excl === 'number') {
          out[bound.toLowerCase()] = excl;
          out[`exclusive${bound}`] = true;
        } else if (excl === true) out[`exclusive${bound}`] = true;
      }
      return { ...out, type };
    }
    case 'string': {
      if (typeof s.pattern === 'string') {
        const p = re2Pattern(s.pattern);
        if (p !== undefined) out.pattern = p;
      }
      if (typeof s.format === 'string' && KUBE_FORMATS.has(s.format)) out.format = s.format;
      return { ...out, type };
    }
    case 'array': {
      if (Array.isArray(s.items) || s.prefixItems !== undefined) refuse(path, 'tuples (an items list) are not supported: use an array of one type');
      if (!isObject(s.items)) refuse(path, 'an array needs an items schema');
      return { ...out, type, items: structuralSchema(s.items as Record<string, unknown>, kind, `${path}[]`) };
    }
    case 'object':
      return { ...out, ...objectSchema(s, kind, path) };
    default:
      return refuse(path, `type ${JSON.stringify(type)} is not a JSON type`);
  }
}

function objectSchema(s: Record<string, unknown>, kind: string, path: string): KubeSchema {
  const props = isObject(s.properties) ? s.properties : undefined;
  const patterns = isObject(s.patternProperties) ? s.patternProperties : undefined;
  const out: KubeSchema = { type: 'object' };
  if (patterns !== undefined) {
    const keys = Object.keys(patterns);
    if (props !== undefined && Object.keys(props).length > 0) {
      throw new ErrCrdSchema({ kind, path, reason: 'kube forbids properties together with a record (additionalProperties)' });
    }
    if (keys.length !== 1 || (keys[0] !== '^.*$' && keys[0] !== '^(.*)$')) {
      throw new ErrCrdSchema({ kind, path, reason: `record keys with a pattern (${keys.join(', ')}) cannot be checked by kube: use string keys` });
    }
    out.additionalProperties = structuralSchema(patterns[keys[0] as string] as Record<string, unknown>, kind, `${path}.*`);
    return out;
  }
  if (isObject(s.additionalProperties)) {
    if (props !== undefined && Object.keys(props).length > 0) {
      throw new ErrCrdSchema({ kind, path, reason: 'kube forbids properties together with additionalProperties' });
    }
    out.additionalProperties = structuralSchema(s.additionalProperties, kind, `${path}.*`);
    return out;
  }
  if (props !== undefined) {
    out.properties = Object.fromEntries(
      Object.entries(props).map(([k, sub]) => [k, structuralSchema(sub as Record<string, unknown>, kind, path === '' ? k : `${path}.${k}`)]),
    );
  }
  if (Array.isArray(s.required) && s.required.length > 0) out.required = [...(s.required as string[])];
  // Fields beyond the properties are allowed by the schema: kube must keep them, not prune them.
  if (s.additionalProperties !== false) out['x-kubernetes-preserve-unknown-fields'] = true;
  return out;
}

function unionSchema(branches: Record<string, unknown>[], kind: string, path: string): KubeSchema {
  const nonNull = branches.filter((b) => b.type !== 'null');
  const nullable = nonNull.length < branches.length ? { nullable: true } : {};
  if (nonNull.length === 0) throw new ErrCrdSchema({ kind, path, reason: 'a union of null alone is not a type kube stores' });
  if (nonNull.length === 1) return { ...structuralSchema(nonNull[0] as Record<string, unknown>, kind, path), ...nullable };
  if (nonNull.every((b) => b.const !== undefined)) {
    const values = nonNull.map((b) => b.const);
    const t = enumType(values);
    if (t !== undefined && t !== 'object') return { type: t, enum: structuredClone(values), ...nullable };
  }
  const types = new Set(nonNull.map((b) => b.type));
  if (types.size === 2 && types.has('integer') && types.has('string') && nonNull.length === 2) {
    return { 'x-kubernetes-int-or-string': true, ...nullable };
  }
  return { 'x-kubernetes-preserve-unknown-fields': true, ...nullable };
}

/** An `apiextensions.k8s.io/v1` CustomResourceDefinition for one kind, its schema made structural from TypeBox schemas. */
export function crdFromSchema(o: CrdFromSchemaOptions): Record<string, unknown> {
  const properties: Record<string, KubeSchema> = { spec: structuralSchema(o.specSchema, o.kind, 'spec') };
  if (o.statusSchema !== undefined) properties.status = structuralSchema(o.statusSchema, o.kind, 'status');
  const version: Record<string, unknown> = {
    name: o.version,
    served: true,
    storage: true,
    schema: { openAPIV3Schema: { type: 'object', required: ['spec'], properties } },
  };
  if (o.statusSchema !== undefined) version.subresources = { status: {} };
  if (o.printerColumns !== undefined && o.printerColumns.length > 0) {
    version.additionalPrinterColumns = [...o.printerColumns.map((c) => ({ ...c })), { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }];
  }
  const names: Record<string, unknown> = { plural: o.plural, singular: o.singular ?? o.kind.toLowerCase(), kind: o.kind, listKind: `${o.kind}List` };
  if (o.shortNames !== undefined && o.shortNames.length > 0) names.shortNames = [...o.shortNames];
  if (o.categories !== undefined && o.categories.length > 0) names.categories = [...o.categories];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${o.plural}.${o.group}` },
    spec: { group: o.group, scope: o.scope, names, versions: [version] },
  };
}

/** Plural resource name, short names and printer columns of each kind. */
const KIND_NAMES: Record<Kind, { plural: string; shortNames?: string[]; columns: PrinterColumn[] }> = {
  Site: {
    plural: 'sites',
    columns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Last-Seen', type: 'date', jsonPath: '.status.lastSeen' },
      { name: 'Display-Name', type: 'string', jsonPath: '.spec.displayName', priority: 1 },
    ],
  },
  Node: {
    plural: 'nodes',
    shortNames: ['enode'],
    columns: [
      { name: 'Site', type: 'string', jsonPath: '.spec.site' },
      { name: 'Connected', type: 'boolean', jsonPath: '.status.connected' },
      { name: 'Hostname', type: 'string', jsonPath: '.spec.hostname', priority: 1 },
    ],
  },
  DeviceProfile: {
    plural: 'deviceprofiles',
    shortNames: ['dp'],
    columns: [
      { name: 'Manufacturer', type: 'string', jsonPath: '.spec.manufacturer' },
      { name: 'Model', type: 'string', jsonPath: '.spec.model' },
    ],
  },
  Device: {
    plural: 'devices',
    shortNames: ['dev'],
    columns: [
      { name: 'Site', type: 'string', jsonPath: '.spec.site' },
      { name: 'Profile', type: 'string', jsonPath: '.spec.profile' },
      { name: 'Plugin', type: 'string', jsonPath: '.spec.plugin' },
      { name: 'State', type: 'string', jsonPath: '.status.operatingState' },
    ],
  },
  Addon: {
    plural: 'addons',
    columns: [
      { name: 'Plugin', type: 'string', jsonPath: '.spec.plugin' },
      { name: 'Version', type: 'string', jsonPath: '.spec.version' },
    ],
  },
  Lease: {
    plural: 'leases',
    shortNames: ['elease'],
    columns: [
      { name: 'Holder', type: 'string', jsonPath: '.spec.holderIdentity' },
      { name: 'Renewed', type: 'date', jsonPath: '.spec.renewTime' },
    ],
  },
  BrokerCredential: {
    plural: 'brokercredentials',
    shortNames: ['bcred'],
    columns: [
      { name: 'Site', type: 'string', jsonPath: '.spec.site' },
      { name: 'Username', type: 'string', jsonPath: '.spec.username' },
      { name: 'Device', type: 'string', jsonPath: '.spec.device' },
      { name: 'Disabled', type: 'boolean', jsonPath: '.spec.disabled', priority: 1 },
    ],
  },
  PendingDevice: {
    plural: 'pendingdevices',
    shortNames: ['pdev'],
    columns: [
      { name: 'Site', type: 'string', jsonPath: '.spec.site' },
      { name: 'Source', type: 'string', jsonPath: '.spec.source' },
      { name: 'Identifier', type: 'string', jsonPath: '.spec.identifier' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    ],
  },
};

/** The plural resource name (the URL segment) of a kind in group edgeadm.io. */
export function pluralOf(kind: Kind): string {
  return KIND_NAMES[kind].plural;
}

/**
 * The CRDs of every kind in KINDS: group edgeadm.io, version v1alpha1,
 * Namespaced (all objects live in the hub's namespace), with a status
 * subresource and printer columns, in the category `edgeadm`
 * (`kubectl get edgeadm`).
 */
export function edgeadmCrds(): Record<string, unknown>[] {
  return KINDS.map((kind) =>
    crdFromSchema({
      group: GROUP,
      version: VERSION,
      kind,
      plural: KIND_NAMES[kind].plural,
      shortNames: KIND_NAMES[kind].shortNames,
      scope: 'Namespaced',
      specSchema: SPEC_SCHEMAS[kind],
      statusSchema: STATUS_SCHEMAS[kind],
      printerColumns: KIND_NAMES[kind].columns,
      categories: ['edgeadm'],
    }),
  );
}
