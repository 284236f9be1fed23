/**
 * The patch formats of the Kubernetes API test server: JSON merge patch
 * (RFC 7386, `application/merge-patch+json`), JSON patch (RFC 6902,
 * `application/json-patch+json`: add, remove, replace, move, copy, test;
 * also what admission webhooks answer), and a subset of strategic merge
 * patch for built-in types: maps merge as in a merge patch, its directives
 * (`$patch` replace / delete / merge, `$retainKeys`, `$setElementOrder/x`,
 * `$deleteFromPrimitiveList/x`) are applied and never stored, and the
 * lists a type declares merge by their key (`mergeKeys` in resources.ts:
 * MutatingWebhookConfiguration's webhooks by name, what `kubectl apply`
 * sends); every other list is replaced, where kube-apiserver would merge
 * some by key (a pod's containers). Custom resources refuse it with 415,
 * as kube-apiserver does.
 *
 * Rules: inputs are never changed (the result is a fresh value); a patch
 * that cannot apply is an `ErrKubeApiStatus` (400 for a malformed patch,
 * 422 for an operation that fails on this object), naming the path.
 */
import { isDeepStrictEqual } from 'node:util';
import { ErrKubeApiStatus } from './errors.ts';

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A deep copy of a JSON value. */
export function clone<T>(v: T): T {
  return structuredClone(v);
}

/** RFC 7386: `null` removes a member, objects merge recursively, anything else replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: Record<string, Json> = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function bad(message: string): never {
  throw new ErrKubeApiStatus({ reason: 'BadRequest', code: 400, message });
}

function failed(message: string): never {
  throw new ErrKubeApiStatus({ reason: 'Invalid', code: 422, message });
}

/** The reference tokens of a JSON pointer (RFC 6901). */
function pointer(p: unknown, op: string): string[] {
  if (typeof p !== 'string' || (p !== '' && !p.startsWith('/'))) bad(`json patch operation '${op}' has an invalid path ${JSON.stringify(p)}`);
  if (p === '') return [];
  return p
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function arrayIndex(arr: Json[], token: string, path: string, forAdd: boolean): number {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) failed(`json patch path '${path}': '${token}' is not an array index`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length)) failed(`json patch path '${path}': index ${i} is out of range`);
  return i;
}

/** The parent container of the last token, and that token. */
function parentOf(doc: Json, tokens: string[], path: string): { parent: Json; last: string } {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, path, false)];
    else if (isObject(cur) && Object.prototype.hasOwnProperty.call(cur, t)) cur = cur[t];
    else failed(`json patch path '${path}' does not exist`);
  }
  return { parent: cur, last: tokens[tokens.length - 1] as string };
}

function getAt(doc: Json, path: string, op: string): Json {
  const tokens = pointer(path, op);
  if (tokens.length === 0) return doc;
  const { parent, last } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) return parent[arrayIndex(parent, last, path, false)];
  if (isObject(parent) && Object.prototype.hasOwnProperty.call(parent, last)) return parent[last];
  return failed(`json patch path '${path}' does not exist`);
}

function removeAt(doc: Json, path: string, op: string): Json {
  const tokens = pointer(path, op);
  if (tokens.length === 0) failed('json patch cannot remove the whole document');
  const { parent, last } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, last, path, false), 1)[0];
  if (isObject(parent) && Object.prototype.hasOwnProperty.call(parent, last)) {
    const v = parent[last];
    delete parent[last];
    return v;
  }
  return failed(`json patch path '${path}' does not exist`);
}

function addAt(doc: Json, path: string, value: Json, op: string, replace: boolean): Json {
  const tokens = pointer(path, op);
  if (tokens.length === 0) return value;
  const { parent, last } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) {
    const i = arrayIndex(parent, last, path, !replace);
    if (replace) parent[i] = value;
    else parent.splice(i, 0, value);
  } else if (isObject(parent)) {
    if (replace && !Object.prototype.hasOwnProperty.call(parent, last)) failed(`json patch path '${path}' does not exist`);
    parent[last] = value;
  } else {
    failed(`json patch path '${path}': its parent is not an object or array`);
  }
  return doc;
}

/** RFC 6902 applied to a copy of `target`. */
export function jsonPatch(target: Json, patch: Json): Json {
  if (!Array.isArray(patch)) bad('a json patch must be an array of operations');
  let doc = clone(target);
  patch.forEach((raw, i) => {
    if (!isObject(raw)) bad(`json patch operation ${i} is not an object`);
    const op = raw.op;
    const path = raw.path as string;
    switch (op) {
      case 'add':
      case 'replace':
        if (!('value' in raw)) bad(`json patch operation ${i} (${op}) has no value`);
        doc = addAt(doc, path, clone(raw.value), op, op === 'replace');
        break;
      case 'remove':
        removeAt(doc, path, op);
        break;
      case 'move':
      case 'copy': {
        const from = raw.from as string;
        const v = op === 'move' ? removeAt(doc, from, op) : clone(getAt(doc, from, op));
        doc = addAt(doc, path, v, op, false);
        break;
      }
      case 'test':
        if (!isDeepStrictEqual(getAt(doc, path, op), raw.value)) failed(`testing value ${path} failed`);
        break;
      default:
        bad(`json patch operation ${i} has an unknown op ${JSON.stringify(op)}`);
    }
  });
  return doc;
}

/** A strategic merge patch directive key: never stored. */
function isDirective(k: string): boolean {
  return k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/') || k.startsWith('$deleteFromPrimitiveList/');
}

/** A patch value as stored when nothing is there to merge into: directives dropped, deleted list elements left out. */
function withoutDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.filter((e) => !(isObject(e) && e.$patch === 'delete')).map(withoutDirectives);
  if (!isObject(v)) return clone(v);
  const out: Record<string, Json> = {};
  for (const [k, x] of Object.entries(v)) if (!isDirective(k) && x !== null) out[k] = withoutDirectives(x);
  return out;
}

/**
 * The lists a strategic merge patch merges by key: the path of the list
 * (field names from the root joined by dots, list elements not counted,
 * e.g. `webhooks`) and the name of its key field.
 */
export type MergeKeys = Readonly<Record<string, string>>;

/** Orders `list` as `order` says (elements named there first, in its order), the rest after, as they were. */
function ordered(list: Json[], order: Json[], mergeKey: string | undefined): Json[] {
  const keyOf = (e: Json): Json => (mergeKey !== undefined && isObject(e) ? e[mergeKey] : e);
  const wanted = order.map(keyOf);
  const first = wanted.flatMap((k) => list.filter((e) => isDeepStrictEqual(keyOf(e), k)));
  return [...first, ...list.filter((e) => !wanted.some((k) => isDeepStrictEqual(keyOf(e), k)))];
}

function smpList(cur: Json[], patch: Json[], path: string, keys: MergeKeys, mergeKey: string, order: Json): Json[] {
  let out: Json[];
  if (patch.some((e) => isObject(e) && e.$patch === 'replace')) {
    out = withoutDirectives(patch.filter((e) => !(isObject(e) && e.$patch === 'replace'))) as Json[];
  } else {
    out = [...cur];
    for (const e of patch) {
      if (!isObject(e)) {
        if (!out.some((o) => isDeepStrictEqual(o, e))) out.push(clone(e));
        continue;
      }
      if (!(mergeKey in e)) bad(`strategic merge patch: an element of ${path} does not contain its merge key ${JSON.stringify(mergeKey)}`);
      const i = out.findIndex((o) => isObject(o) && isDeepStrictEqual(o[mergeKey], e[mergeKey]));
      if (e.$patch === 'delete') {
        if (i >= 0) out.splice(i, 1);
      } else if (i >= 0) {
        out[i] = smpMap(out[i] as Record<string, Json>, e, path, keys);
      } else {
        out.push(withoutDirectives(e));
      }
    }
  }
  return Array.isArray(order) ? ordered(out, order, mergeKey) : out;
}

function smpMap(cur: Record<string, Json>, patch: Record<string, Json>, path: string, keys: MergeKeys): Record<string, Json> {
  const directive = patch.$patch;
  if (directive === 'replace') return withoutDirectives(patch) as Record<string, Json>;
  if (directive === 'delete') return {};
  if (directive !== undefined && directive !== 'merge') bad(`strategic merge patch: unknown $patch ${JSON.stringify(directive)} at ${path === '' ? 'the root' : path}`);
  if (Array.isArray(patch.$retainKeys)) {
    const retain = patch.$retainKeys;
    for (const k of Object.keys(cur)) if (!retain.includes(k)) delete cur[k];
  }
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const list = cur[field];
      if (Array.isArray(list) && Array.isArray(v)) cur[field] = list.filter((x) => !v.some((d) => isDeepStrictEqual(d, x)));
      continue;
    }
    if (isDirective(k)) continue;
    const at = path === '' ? k : `${path}.${k}`;
    const old = cur[k];
    const mergeKey = keys[at];
    if (v === null) delete cur[k];
    else if (isObject(v) && isObject(old)) cur[k] = smpMap(old, v, at, keys);
    else if (Array.isArray(v) && Array.isArray(old) && mergeKey !== undefined) cur[k] = smpList(old, v, at, keys, mergeKey, patch[`$setElementOrder/${k}`]);
    else cur[k] = withoutDirectives(v);
  }
  // An order for a keyed list the patch leaves alone.
  for (const [k, order] of Object.entries(patch)) {
    if (!k.startsWith('$setElementOrder/')) continue;
    const field = k.slice('$setElementOrder/'.length);
    const list = cur[field];
    const at = path === '' ? field : `${path}.${field}`;
    if (!(field in patch) && Array.isArray(list) && Array.isArray(order)) cur[field] = ordered(list, order, keys[at]);
  }
  return cur;
}

/**
 * Strategic merge patch (the subset described at the top) applied to a
 * copy of `target`; `mergeKeys` names the lists merged by key.
 */
export function strategicMergePatch(target: Json, patch: Json, mergeKeys: MergeKeys = {}): Json {
  if (!isObject(patch)) bad('a strategic merge patch must be a JSON object');
  return smpMap(isObject(target) ? clone(target) : {}, patch, '', mergeKeys);
}
