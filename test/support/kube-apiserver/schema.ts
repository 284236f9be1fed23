/**
 * CustomResourceDefinition schemas, as kube-apiserver treats them:
 *
 * - `structuralProblems`: whether a version's `openAPIV3Schema` is
 *   structural (a non-empty type at the root, for every property, every
 *   additionalProperties and every items node, unless the node has
 *   x-kubernetes-int-or-string or x-kubernetes-preserve-unknown-fields; the
 *   root an object; no `$ref`; not properties and additionalProperties
 *   together; no type, default, nullable or additionalProperties inside
 *   allOf / anyOf / oneOf / not). Each problem names its field path as
 *   kube-apiserver does (`spec.versions[0].schema.openAPIV3Schema.properties[spec].type`).
 * - `pruneAndDefault`: drops unknown fields (recording their paths, for
 *   fieldValidation Warn and Strict) and nulls of non-nullable fields, then
 *   applies `default`s of missing properties.
 * - `validate`: types, required, enum, pattern, minimum / maximum
 *   (exclusive too), minLength / maxLength, minItems / maxItems, items,
 *   additionalProperties, nullable, int-or-string; each failure a Status
 *   cause with kube-apiserver's reason and message shape.
 *
 * Not implemented: allOf / anyOf / oneOf / not as validations, `format`,
 * x-kubernetes-validations (CEL), list-type / map-type, embedded resources'
 * metadata checks.
 */
import type { StatusCause } from './errors.ts';
import type { JsonSchemaProps } from './resources.ts';

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const LOGIC = ['allOf', 'anyOf', 'oneOf'] as const;
const FORBIDDEN_IN_LOGIC = ['type', 'default', 'nullable', 'additionalProperties', 'x-kubernetes-preserve-unknown-fields'];

/** Problems that make `schema` not structural, each `{ field, message }` under `base`. */
export function structuralProblems(schema: Json, base: string): StatusCause[] {
  const out: StatusCause[] = [];
  if (!isObject(schema)) return [{ reason: 'FieldValueRequired', field: base, message: 'Required value: schemas are required' }];
  const walk = (s: JsonSchemaProps, path: string, needsType: boolean): void => {
    if (s.$ref !== undefined) out.push({ reason: 'FieldValueForbidden', field: `${path}.$ref`, message: 'Forbidden: $ref is not supported' });
    const exempt = s['x-kubernetes-int-or-string'] === true || s['x-kubernetes-preserve-unknown-fields'] === true;
    if (needsType && (s.type === undefined || s.type === '') && !exempt) {
      out.push({ reason: 'FieldValueRequired', field: `${path}.type`, message: 'Required value: must not be empty for specified object fields' });
    }
    if (s.properties !== undefined && s.additionalProperties !== undefined && s.additionalProperties !== false) {
      out.push({ reason: 'FieldValueForbidden', field: `${path}.additionalProperties`, message: 'Forbidden: additionalProperties and properties are mutual exclusive' });
    }
    for (const [k, sub] of Object.entries(s.properties ?? {})) if (isObject(sub)) walk(sub, `${path}.properties[${k}]`, true);
    if (isObject(s.additionalProperties)) walk(s.additionalProperties, `${path}.additionalProperties`, true);
    if (isObject(s.items)) walk(s.items, `${path}.items`, true);
    else if (s.type === 'array' && s.items === undefined) {
      out.push({ reason: 'FieldValueRequired', field: `${path}.items`, message: 'Required value: must be specified' });
    }
    for (const key of LOGIC) {
      (s[key] ?? []).forEach((sub, i) => logic(sub, `${path}.${key}[${i}]`));
    }
    if (isObject(s.not)) logic(s.not, `${path}.not`);
  };
  const logic = (s: JsonSchemaProps, path: string): void => {
    for (const f of FORBIDDEN_IN_LOGIC) {
      if (s[f] !== undefined) out.push({ reason: 'FieldValueForbidden', field: `${path}.${f}`, message: `Forbidden: must be empty to be structural` });
    }
  };
  const root = schema as JsonSchemaProps;
  walk(root, base, true);
  if (root.type !== undefined && root.type !== 'object') {
    out.push({ reason: 'FieldValueInvalid', field: `${base}.type`, message: `Invalid value: "${String(root.type)}": must be object at the root` });
  }
  return out;
}

const ROOT_KEPT = new Set(['apiVersion', 'kind', 'metadata']);

/**
 * Prunes `obj` in place against `schema` (unknown fields and nulls of
 * non-nullable fields go), then sets the defaults of missing properties.
 * Returns the paths of the unknown fields dropped.
 */
export function pruneAndDefault(obj: Record<string, Json>, schema: JsonSchemaProps): string[] {
  const unknown: string[] = [];
  const walk = (v: Json, s: JsonSchemaProps, path: string, root: boolean): void => {
    if (Array.isArray(v)) {
      if (isObject(s.items)) v.forEach((item, i) => walk(item, s.items as JsonSchemaProps, `${path}[${i}]`, false));
      return;
    }
    if (!isObject(v)) return;
    const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
    for (const [k, child] of Object.entries(v)) {
      if (root && ROOT_KEPT.has(k)) continue;
      const sub = s.properties?.[k] ?? (isObject(s.additionalProperties) ? s.additionalProperties : undefined);
      const childPath = path === '' ? k : `${path}.${k}`;
      if (sub === undefined) {
        if (!preserve && s.additionalProperties !== true) {
          unknown.push(childPath);
          delete v[k];
        }
        continue;
      }
      if (child === null && sub.nullable !== true) {
        delete v[k];
        continue;
      }
      walk(child, sub, childPath, false);
    }
    for (const [k, sub] of Object.entries(s.properties ?? {})) {
      if (!(k in v) && sub.default !== undefined) v[k] = structuredClone(sub.default);
    }
  };
  walk(obj, schema, '', true);
  return unknown;
}

function show(v: Json): string {
  return typeof v === 'string' ? `"${v}"` : JSON.stringify(v);
}

function typeOf(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(v: Json, type: string): boolean {
  const t = typeOf(v);
  return t === type || (type === 'number' && t === 'integer');
}

/** Validation failures of `obj` against `schema`, as Status causes naming each field path. */
export function validate(obj: Json, schema: JsonSchemaProps): StatusCause[] {
  const out: StatusCause[] = [];
  const add = (reason: string, field: string, message: string): void => void out.push({ reason, field, message });
  const walk = (v: Json, s: JsonSchemaProps, path: string, root: boolean): void => {
    const field = path === '' ? '<root>' : path;
    if (v === null) {
      if (s.nullable !== true) add('FieldValueTypeInvalid', field, `Invalid value: "null": ${field} in body must be of type ${s.type ?? 'object'}: "null"`);
      return;
    }
    if (s['x-kubernetes-int-or-string'] === true) {
      const t = typeOf(v);
      if (t !== 'integer' && t !== 'string') add('FieldValueTypeInvalid', field, `Invalid value: ${show(v)}: ${field} in body must be of type int-or-string: "${t}"`);
      return;
    }
    if (s.type !== undefined && !typeMatches(v, s.type)) {
      add('FieldValueTypeInvalid', field, `Invalid value: "${typeOf(v)}": ${field} in body must be of type ${s.type}: "${typeOf(v)}"`);
      return;
    }
    if (s.enum !== undefined && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) {
      add('FieldValueNotSupported', field, `Unsupported value: ${show(v)}: supported values: ${s.enum.map(show).join(', ')}`);
    }
    if (typeof v === 'string') {
      if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(v)) add('FieldValueInvalid', field, `Invalid value: ${show(v)}: ${field} in body should match '${s.pattern}'`);
      const len = [...v].length;
      if (s.maxLength !== undefined && len > s.maxLength) add('FieldValueTooLong', field, `Too long: may not be more than ${s.maxLength} bytes`);
      if (s.minLength !== undefined && len < s.minLength) add('FieldValueInvalid', field, `Invalid value: ${show(v)}: ${field} in body should be at least ${s.minLength} chars long`);
    }
    if (typeof v === 'number') {
      if (s.minimum !== undefined && (s.exclusiveMinimum === true ? v <= s.minimum : v < s.minimum)) {
        add('FieldValueInvalid', field, `Invalid value: ${v}: ${field} in body should be greater than ${s.exclusiveMinimum === true ? '' : 'or equal to '}${s.minimum}`);
      }
      if (s.maximum !== undefined && (s.exclusiveMaximum === true ? v >= s.maximum : v > s.maximum)) {
        add('FieldValueInvalid', field, `Invalid value: ${v}: ${field} in body should be less than ${s.exclusiveMaximum === true ? '' : 'or equal to '}${s.maximum}`);
      }
    }
    if (Array.isArray(v)) {
      if (s.maxItems !== undefined && v.length > s.maxItems) add('FieldValueTooMany', field, `Too many: ${v.length}: must have at most ${s.maxItems} items`);
      if (s.minItems !== undefined && v.length < s.minItems) add('FieldValueInvalid', field, `Invalid value: ${v.length}: ${field} in body should have at least ${s.minItems} items`);
      if (isObject(s.items)) v.forEach((item, i) => walk(item, s.items as JsonSchemaProps, `${path}[${i}]`, false));
      return;
    }
    if (isObject(v)) {
      for (const r of s.required ?? []) {
        if (!(r in v)) add('FieldValueRequired', path === '' ? r : `${path}.${r}`, 'Required value');
      }
      for (const [k, child] of Object.entries(v)) {
        if (root && ROOT_KEPT.has(k)) continue;
        const sub = s.properties?.[k] ?? (isObject(s.additionalProperties) ? s.additionalProperties : undefined);
        if (sub !== undefined) walk(child, sub, path === '' ? k : `${path}.${k}`, false);
      }
    }
  };
  walk(obj, schema, '', true);
  return out;
}
