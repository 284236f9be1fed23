/**
 * Bounded JSON parsing for text from outside: request bodies, device
 * payloads, anything a peer sends. `parseJson` refuses, with a coded error
 * that names the place (`spec.config.a[2]`):
 *
 * - nesting of arrays and objects deeper than `maxDepth` (default
 *   `DEFAULT_MAX_JSON_DEPTH`), found by a scan of the text before anything is
 *   built, so no recursive walker after it (schema checks, defaults, the
 *   store's copies, `JSON.stringify`) can overflow the stack;
 * - the keys `__proto__` and `constructor.prototype` anywhere, since code
 *   that copies by assignment would change an object's prototype instead of
 *   storing the key (fastify's own default refuses them too);
 * - numbers beyond the range of a 64-bit float (`1e400`), which would turn
 *   into `Infinity` and be written back as `null`.
 *
 * A leading byte-order mark is ignored. Rules: the scan and the walk are
 * iterative (nothing here recurses on the input), and a text within bounds
 * costs one pass over its characters besides `JSON.parse` itself.
 */
import { ErrJsonForbiddenKey, ErrJsonNumberRange, ErrJsonSyntax, ErrJsonTooDeep } from './errors.ts';
import { joinPath } from './schema.ts';

/**
 * The deepest nesting of arrays and objects accepted by default. The deepest
 * legitimate documents the platform carries need about 7 levels of envelope
 * (a PendingDevice's `spec.profile.deviceResources[i].properties.optional`,
 * a Device status's `status.reported.<resource>.value`, a reading's value in
 * `readings[i].value`), which leaves more than 55 levels for free-form
 * content: Addon config templates, EdgeX attributes and protocol blocks,
 * values of valueType Object. Real ones stay within 10 to 15. Every recursive
 * walker downstream has room for hundreds of times this depth.
 */
export const DEFAULT_MAX_JSON_DEPTH = 64;

export interface ParseJsonOptions {
  /** The deepest nesting of arrays and objects allowed (`{}` is 1, `{"a":[]}` is 2). Default `DEFAULT_MAX_JSON_DEPTH`. */
  maxDepth?: number;
  /** What the text is, for messages: `request body`, `payload of topic 'x'`. Default `JSON text`. */
  what?: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const BOM = 0xfeff;

/** Keys longer than this are shortened in the paths of errors, and paths longer than MAX_PATH keep their two ends. */
const MAX_KEY_IN_PATH = 64;
const MAX_PATH = 512;

/** Text that may hold a prototype key, also written with `\u` escapes; only then is the parsed value walked for them. */
const MAY_HAVE_PROTO_KEY = /__proto__|constructor|\\u00[4-7]/;

/**
 * Parses `text` as JSON within the bounds above; throws `ErrJsonSyntax`,
 * `ErrJsonTooDeep`, `ErrJsonForbiddenKey` or `ErrJsonNumberRange` (all 400).
 */
export function parseJson(text: string, opts: ParseJsonOptions = {}): unknown {
  const what = opts.what ?? 'JSON text';
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_JSON_DEPTH;
  const body = text.charCodeAt(0) === BOM ? text.slice(1) : text;
  if (body.trim() === '') throw new ErrJsonSyntax({ what, reason: 'it is empty' });
  const { tooDeepAt, bigNumbers } = scan(body, maxDepth);
  if (tooDeepAt >= 0) throw new ErrJsonTooDeep({ what, limit: maxDepth, path: pathAt(body, tooDeepAt), offset: tooDeepAt });
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    throw new ErrJsonSyntax({ what, reason: err instanceof Error ? err.message : String(err) }, { cause: err });
  }
  if (bigNumbers || MAY_HAVE_PROTO_KEY.test(body)) checkParsed(value, what);
  return value;
}

/** Index of the closing quote of the string opening at `start`, or the text's length when it never closes. */
function stringEnd(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q < 0) return text.length;
    let b = q - 1;
    while (text.charCodeAt(b) === BACKSLASH) b--;
    // An even run of backslashes before the quote escapes only itself.
    if ((q - 1 - b) % 2 === 0) return q;
    from = q + 1;
  }
}

const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const PLUS = 0x2b;
const LOWER_E = 0x65;
/** A float overflows only with a 3-digit exponent or at least 309 digits in a row. */
const MAX_SAFE_DIGIT_RUN = 308;
const MIN_RISKY_EXPONENT_DIGITS = 3;

interface Scan {
  /** Where the first array or object deeper than the limit opens, or -1. */
  tooDeepAt: number;
  /** Whether some number may be beyond a float's range (the parsed value is then checked). */
  bigNumbers: boolean;
}

/** One pass over the text outside strings; invalid text is left to JSON.parse. */
function scan(text: string, maxDepth: number): Scan {
  let depth = 0;
  let digits = 0;
  let bigNumbers = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= DIGIT_0 && c <= DIGIT_9) {
      if (++digits > MAX_SAFE_DIGIT_RUN) bigNumbers = true;
      continue;
    }
    digits = 0;
    if (c === QUOTE) i = stringEnd(text, i);
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return { tooDeepAt: i, bigNumbers };
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
    else if ((c | 0x20) === LOWER_E) {
      // An exponent (or the e of true/false, followed by no digit).
      const from = text.charCodeAt(i + 1) === PLUS ? i + 2 : i + 1;
      let to = from;
      while (to < n && text.charCodeAt(to) >= DIGIT_0 && text.charCodeAt(to) <= DIGIT_9) to++;
      if (to - from >= MIN_RISKY_EXPONENT_DIGITS) bigNumbers = true;
    }
  }
  return { tooDeepAt: -1, bigNumbers };
}

function shortKey(key: string): string {
  return key.length <= MAX_KEY_IN_PATH ? key : `${key.slice(0, MAX_KEY_IN_PATH - 3)}...`;
}

/** `a.b[0]` from keys and indexes, as the rest of the platform writes field paths; a very long one keeps its two ends. */
function fieldPath(segments: readonly (string | number)[]): string {
  const pointer = segments.map((s) => `/${typeof s === 'number' ? s : shortKey(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
  const path = joinPath('', pointer);
  return path.length <= MAX_PATH ? path : `${path.slice(0, MAX_PATH / 2 - 2)}...${path.slice(-(MAX_PATH / 2 - 1))}`;
}

/** The field path of the value that starts at `end` (only called for an error, so a second pass is fine). */
function pathAt(text: string, end: number): string {
  interface Frame {
    array: boolean;
    index: number;
    key: string;
    expectKey: boolean;
  }
  const stack: Frame[] = [];
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const top = stack[stack.length - 1];
    if (c === QUOTE) {
      const close = stringEnd(text, i);
      if (top && !top.array && top.expectKey) {
        const raw = text.slice(i, close + 1);
        try {
          top.key = String(JSON.parse(raw));
        } catch {
          top.key = raw;
        }
        top.expectKey = false;
      }
      i = close;
    } else if (c === OPEN_BRACE) stack.push({ array: false, index: 0, key: '', expectKey: true });
    else if (c === OPEN_BRACKET) stack.push({ array: true, index: 0, key: '', expectKey: false });
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) stack.pop();
    else if (c === COMMA && top) {
      if (top.array) top.index++;
      else top.expectKey = true;
    }
  }
  return fieldPath(stack.map((f) => (f.array ? f.index : f.key)));
}

interface Visit {
  value: unknown;
  parent: Visit | undefined;
  segment: string | number;
}

function segmentsOf(v: Visit): (string | number)[] {
  const out: (string | number)[] = [];
  for (let at: Visit | undefined = v; at?.parent; at = at.parent) out.push(at.segment);
  return out.reverse();
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object';
}

/** Walks a parsed value (iteratively) for prototype keys and non-finite numbers. */
function checkParsed(root: unknown, what: string): void {
  const stack: Visit[] = [{ value: root, parent: undefined, segment: '' }];
  for (let v = stack.pop(); v; v = stack.pop()) {
    const value = v.value;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new ErrJsonNumberRange({ what, path: fieldPath(segmentsOf(v)) });
      continue;
    }
    if (!isObject(value)) continue;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], parent: v, segment: i });
      continue;
    }
    if (Object.hasOwn(value, '__proto__')) {
      throw new ErrJsonForbiddenKey({ what, key: '__proto__', path: fieldPath([...segmentsOf(v), '__proto__']) });
    }
    const ctor = Object.hasOwn(value, 'constructor') ? value.constructor : undefined;
    if (isObject(ctor) && Object.hasOwn(ctor, 'prototype')) {
      throw new ErrJsonForbiddenKey({ what, key: 'constructor.prototype', path: fieldPath([...segmentsOf(v), 'constructor', 'prototype']) });
    }
    const keys = Object.keys(value);
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i] as string;
      stack.push({ value: value[k], parent: v, segment: k });
    }
  }
}
