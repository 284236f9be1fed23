/**
 * TypeBox is the single source of truth for config and API bodies: the schema
 * gives the JSON Schema, the TypeScript type and the validator. This module
 * turns TypeBox's validation errors into field issues with readable paths, and
 * applies defaults then freezes.
 */
import Type, { type TSchemaOptions, type Static, type TLiteral, type TSchema, type TUnion } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';

export interface FieldIssue {
  /** Dotted path of the field, e.g. `plugins.instances[0].plugin`. Empty for the root. */
  path: string;
  message: string;
}

interface RawError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

type Validator = ReturnType<typeof Compile>;
const compiled = new WeakMap<TSchema, Validator>();

function validatorFor(schema: TSchema): Validator {
  let v = compiled.get(schema);
  if (!v) {
    v = Compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

/** `/plugins/instances/0/plugin` -> `plugins.instances[0].plugin`, prefixed. */
export function joinPath(prefix: string, pointer: string): string {
  let out = prefix;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

function appendKey(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

interface ObjectSchemaLike {
  type?: unknown;
  properties?: Record<string, TSchema>;
  required?: string[];
  additionalProperties?: TSchema | boolean;
  items?: TSchema;
}

const shallowArrays = new WeakMap<TSchema, TSchema>();

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Every problem of `value` against `schema`, each with the path of its field.
 * Objects and arrays are walked here, field by field, so that one bad field
 * never hides another (TypeBox's error iterator can stop after a failed union).
 */
export function checkSchema(schema: TSchema, value: unknown, prefix = ''): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const seen = new Set<string>();
  const add = (path: string, message: string): void => {
    const key = `${path}\u0000${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    issues.push({ path, message });
  };
  walk(schema, value, prefix, add);
  return issues;
}

function walk(schema: TSchema, value: unknown, at: string, add: (path: string, message: string) => void): void {
  const s = schema as ObjectSchemaLike;
  if (s.type === 'object' && s.properties && isPlainObject(value)) {
    for (const key of s.required ?? []) if (!(key in value)) add(appendKey(at, key), 'is required');
    for (const [key, v] of Object.entries(value)) {
      const sub = Object.hasOwn(s.properties, key) ? s.properties[key] : undefined;
      if (sub) walk(sub, v, appendKey(at, key), add);
      else if (s.additionalProperties === false) add(appendKey(at, key), 'is not a known field');
      else if (typeof s.additionalProperties === 'object') walk(s.additionalProperties, v, appendKey(at, key), add);
    }
    return;
  }
  if (s.type === 'array' && s.items && Array.isArray(value)) {
    let shallow = shallowArrays.get(schema);
    if (!shallow) {
      shallow = { ...schema, items: {} };
      shallowArrays.set(schema, shallow);
    }
    leafIssues(shallow, value, at, add);
    value.forEach((v, i) => walk(s.items as TSchema, v, `${at}[${i}]`, add));
    return;
  }
  leafIssues(schema, value, at, add);
}

function leafIssues(schema: TSchema, value: unknown, at: string, add: (path: string, message: string) => void): void {
  const v = validatorFor(schema);
  if (v.Check(value)) return;
  const errors = [...(v.Errors(value) as Iterable<RawError & { schemaPath: string }>)];
  // A failed union reports each branch's failure too; keep one line for it.
  const unions = errors.filter((e) => e.keyword === 'anyOf');
  const insideUnion = (e: RawError & { schemaPath: string }): boolean =>
    unions.some((u) => u !== e && e.instancePath === u.instancePath && e.schemaPath.startsWith(`${u.schemaPath}/anyOf`));
  for (const e of errors) {
    if (insideUnion(e)) continue;
    const path = joinPath(at, e.instancePath);
    if (e.keyword === 'anyOf') {
      const options = literalOptions(schemaAtPointer(schema, e.schemaPath));
      add(path, options ? `must be one of ${options.map((o) => `'${String(o)}'`).join(', ')}` : 'does not match any allowed form');
    } else if (e.keyword === 'required') {
      const props = e.params.requiredProperties;
      for (const p of Array.isArray(props) ? props : []) add(appendKey(path, String(p)), 'is required');
    } else if (e.keyword === 'additionalProperties') {
      const props = e.params.additionalProperties;
      for (const p of Array.isArray(props) ? props : []) add(appendKey(path, String(p)), 'is not a known field');
    } else if (e.keyword === 'boolean' && e.message === 'schema is false') {
      // additionalProperties: false reports each extra key this way too.
      add(path, 'is not a known field');
    } else {
      add(path, e.message);
    }
  }
}

function schemaAtPointer(schema: TSchema, pointer: string): unknown {
  let cur: unknown = schema;
  for (const raw of pointer.replace(/^#\/?/, '').split('/')) {
    if (raw === '') continue;
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}

function literalOptions(s: unknown): unknown[] | undefined {
  const anyOf = (s as { anyOf?: unknown[] } | undefined)?.anyOf;
  if (!Array.isArray(anyOf) || !anyOf.every((b) => b !== null && typeof b === 'object' && 'const' in b)) return undefined;
  return anyOf.map((b) => b.const);
}

/** Applies schema defaults to a deep copy of `value`. */
export function withDefaults<S extends TSchema>(schema: S, value: unknown): unknown {
  return Value.Default(schema, structuredClone(value));
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export type ParseResult<S extends TSchema> =
  | { ok: true; value: Readonly<Static<S>> }
  | { ok: false; issues: FieldIssue[] };

/** Validate, apply defaults, then freeze. Never falls back to defaults on bad input. */
export function parseWithSchema<S extends TSchema>(schema: S, value: unknown, prefix = ''): ParseResult<S> {
  const defaulted = withDefaults(schema, value);
  const issues = checkSchema(schema, defaulted, prefix);
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, value: deepFreeze(defaulted as Static<S>) };
}

/** The sub-schema at a property path, following objects, optionals and arrays. */
export function schemaAt(schema: TSchema, path: readonly string[]): TSchema | undefined {
  let cur: TSchema | undefined = schema;
  for (const key of path) {
    if (!cur) return undefined;
    const s = cur as { type?: unknown; properties?: Record<string, TSchema>; additionalProperties?: TSchema | boolean; patternProperties?: Record<string, TSchema>; items?: TSchema };
    if (s.properties && Object.hasOwn(s.properties, key)) cur = s.properties[key];
    else if (s.patternProperties) cur = Object.values(s.patternProperties)[0];
    else if (typeof s.additionalProperties === 'object' && s.additionalProperties !== null) cur = s.additionalProperties;
    else if (s.type === 'array' && /^\d+$/.test(key)) cur = s.items;
    else return undefined;
  }
  return cur;
}

/** The JSON types a schema accepts (`string`, `number`, ...), looking through unions and literals. */
export function schemaTypes(schema: TSchema): Set<string> {
  const out = new Set<string>();
  const visit = (s: unknown): void => {
    if (!s || typeof s !== 'object') return;
    const o = s as { type?: unknown; anyOf?: unknown[]; oneOf?: unknown[]; const?: unknown; enum?: unknown[] };
    if (typeof o.type === 'string') out.add(o.type);
    else if (Array.isArray(o.type)) for (const t of o.type) out.add(String(t));
    if ('const' in o) out.add(typeof o.const);
    if (Array.isArray(o.enum)) for (const e of o.enum) out.add(typeof e);
    for (const sub of o.anyOf ?? []) visit(sub);
    for (const sub of o.oneOf ?? []) visit(sub);
  };
  visit(schema);
  return out;
}

/**
 * `Type.Union` of string literals from a const array, typed as the union of
 * those strings (`Type.Union(values.map(Type.Literal))` is typed as nothing
 * useful, since the array is not a tuple).
 */
export function literalUnion<const T extends readonly string[]>(values: T, options?: TSchemaOptions): TUnion<{ -readonly [K in keyof T]: TLiteral<T[K]> }> {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  ) as unknown as TUnion<{ -readonly [K in keyof T]: TLiteral<T[K]> }>;
}
