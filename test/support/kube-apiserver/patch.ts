/**
 * The patch formats of the Kubernetes API test server: JSON merge patch
 * (RFC 7386, `application/merge-patch+json`) and JSON patch (RFC 6902,
 * `application/json-patch+json`: add, remove, replace, move, copy, test).
 * Strategic merge patch is not implemented: the server applies it to
 * built-in types as a merge patch (lists are replaced, not merged by key)
 * and refuses it for custom resources with 415, as kube-apiserver does.
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
