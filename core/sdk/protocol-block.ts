/**
 * A Device's protocol block (`spec.protocols.<name>`) against the JSON
 * schema a plugin declares for it (`definePlugin({ protocols })`), read the
 * way device drivers read blocks that EdgeX wrote:
 *
 * - keys match the schema's field names case-insensitively (`port` is
 *   `Port`); the first of two keys naming one field wins;
 * - a blank string is an absent field (its default applies);
 * - a field whose schema is an integer takes a string of digits (`"502"`),
 *   a number field any numeric string (`"0.5"`), surrounding blanks ignored;
 * - a string enum matches case-insensitively, surrounding blanks ignored;
 * - a boolean field takes `"true"` and `"false"`;
 * - a number field marked `'x-edgeadm-duration': 'go'` takes milliseconds
 *   or a Go duration (`"500ms"`, `"2s"`); marked `'ms'`, a numeric string
 *   of milliseconds too;
 * - fields the schema does not name are left to the driver (EdgeX blocks
 *   carry fields other services read).
 *
 * The hub checks Device writes with `protocolBlockIssues`; drivers may read
 * their blocks through `normalizeProtocolBlock` so both agree.
 */
import type { TSchema } from 'typebox';
import { checkSchema, goDurationMs, type FieldIssue } from '../kernel/index.ts';

/** How a number field marked as a duration takes strings (see the module comment). */
export const DURATION_KEYWORD = 'x-edgeadm-duration';

interface SchemaLike {
  type?: unknown;
  properties?: Record<string, SchemaLike>;
  anyOf?: SchemaLike[];
  const?: unknown;
  enum?: unknown[];
  [DURATION_KEYWORD]?: 'go' | 'ms';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The JSON types a field schema accepts, through unions and literals. */
function typesOf(s: SchemaLike, out = new Set<string>()): Set<string> {
  if (typeof s.type === 'string') out.add(s.type);
  else if (Array.isArray(s.type)) for (const t of s.type) out.add(String(t));
  if ('const' in s) out.add(typeof s.const);
  for (const e of s.enum ?? []) out.add(typeof e);
  for (const sub of s.anyOf ?? []) typesOf(sub, out);
  return out;
}

/** The string choices of an enum field (the string literals of a union, or `enum`). */
function stringChoices(s: SchemaLike): string[] {
  const fromEnum = (s.enum ?? []).filter((e): e is string => typeof e === 'string');
  const fromUnion = (s.anyOf ?? []).map((b) => b.const).filter((c): c is string => typeof c === 'string');
  return [...fromEnum, ...fromUnion];
}

/** A string value as its field's schema takes it (unchanged when it is not one of the forms above). */
function coerce(field: SchemaLike, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const text = value.trim();
  const duration = field[DURATION_KEYWORD];
  if (duration !== undefined) {
    if (/^\d+(?:\.\d+)?$/.test(text)) return duration === 'ms' ? Math.round(Number(text)) : value;
    const ms = goDurationMs(text);
    return ms === undefined || ms < 0 ? value : Math.round(ms);
  }
  const types = typesOf(field);
  if (types.has('boolean') && !types.has('string')) return value === 'true' ? true : value === 'false' ? false : value;
  if (!types.has('string')) {
    if (types.has('integer') && !types.has('number')) return /^-?\d+$/.test(text) ? Number(text) : value;
    if (types.has('number')) return text !== '' && Number.isFinite(Number(text)) ? Number(text) : value;
    return value;
  }
  return stringChoices(field).find((c) => c.toLowerCase() === text.toLowerCase()) ?? value;
}

/**
 * The block as its schema names and types its fields (see the module
 * comment); anything but an object is returned as is. Defaults are not
 * applied.
 */
export function normalizeProtocolBlock(schema: TSchema, block: unknown): unknown {
  if (!isRecord(block)) return block;
  const props = (schema as SchemaLike).properties ?? {};
  const names = Object.keys(props);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(block)) {
    if (value === '') continue;
    const name = Object.hasOwn(props, key) ? key : (names.find((n) => n.toLowerCase() === key.toLowerCase()) ?? key);
    if (Object.hasOwn(out, name)) continue;
    const field = props[name];
    out[name] = field === undefined ? value : coerce(field, value);
  }
  return out;
}

/** A message a person can act on for a field whose value fails its pattern, or none of its forms. */
function plainMessage(field: SchemaLike & { description?: string; examples?: unknown[] }, message: string): string {
  const choices = stringChoices(field);
  if (message === 'does not match any allowed form' && choices.length > 0) return `must be one of ${choices.map((c) => `'${c}'`).join(', ')}`;
  if (!message.startsWith('must match pattern')) return message;
  const example = typeof field.examples?.[0] === 'string' ? ` such as '${field.examples[0]}'` : '';
  return field.description === undefined ? `is not in the form this field takes${example}` : `is not in the form this field takes${example}: ${field.description}`;
}

/** Every problem of `block` against `schema`, read as drivers read blocks, each at `<prefix>.<Field>` (the schema's spelling of the field). */
export function protocolBlockIssues(schema: TSchema, block: unknown, prefix: string): FieldIssue[] {
  const props = (schema as SchemaLike).properties ?? {};
  return checkSchema(schema, normalizeProtocolBlock(schema, block), prefix).map((issue) => {
    const name = issue.path.startsWith(`${prefix}.`) ? issue.path.slice(prefix.length + 1) : undefined;
    const field = name !== undefined && Object.hasOwn(props, name) ? props[name] : undefined;
    return field === undefined ? issue : { path: issue.path, message: plainMessage(field, issue.message) };
  });
}
