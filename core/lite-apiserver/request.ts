/**
 * What a Kubernetes API request asks, read from its method and URL alone:
 * the resource path (group, version, namespace, resource, name,
 * subresource), the verb (get, list, watch, create, update, patch, delete),
 * and the cache keys it answers under.
 *
 * A cache key holds everything that changes the answer: the client's
 * identity, the path, the query (label and field selectors, limit, continue
 * and any other parameter) and the Accept header as sent (JSON, protobuf and
 * Table answers are different bytes). Left out are the parameters that only
 * say how fresh or how long: `resourceVersion`, `resourceVersionMatch`,
 * `timeoutSeconds`, `timeout`, `watch`, `allowWatchBookmarks` and
 * `sendInitialEvents` (offline, the freshest answer held is the only one).
 * Keying by path alone is the known failure of other caches: a list with a
 * label selector overwrote the unselected one.
 */

/** One resource path: `/api/v1/namespaces/ns/pods/p/status`, `/apis/g/v/nodes`, ... */
export interface ResourcePath {
  /** '' for the core group. */
  group: string;
  version: string;
  namespace?: string;
  /** The plural, e.g. `pods`. */
  resource: string;
  name?: string;
  subresource?: string;
  /** The path of the collection the object belongs to (without name and subresource), in the same scope as asked. */
  collectionPath: string;
}

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection' | 'other';

export interface ApiRequest {
  method: string;
  /** The path without the legacy `/watch/` segment. */
  path: string;
  query: URLSearchParams;
  /** undefined for non-resource paths (/api, /apis, /version, /healthz, /openapi/v2, ...). */
  resource: ResourcePath | undefined;
  verb: Verb;
  /** The Accept header as sent ('' when none). */
  accept: string;
}

/** Query parameters that do not change what an answer holds, only how fresh or how long: left out of cache keys. */
const FRESHNESS_PARAMS = new Set(['resourceVersion', 'resourceVersionMatch', 'timeoutSeconds', 'timeout', 'watch', 'allowWatchBookmarks', 'sendInitialEvents']);
/** What kube-apiserver reads as true in a boolean parameter (Go's strconv.ParseBool): the Python client sends `watch=True`. */
const GO_TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
/** Selecting parameters: a watch and the list it continues share them. */
const SELECTOR_PARAMS = ['labelSelector', 'fieldSelector'] as const;

function decode(seg: string): string | undefined {
  try {
    return decodeURIComponent(seg);
  } catch {
    return undefined;
  }
}

/** Parses a resource path; undefined when the path names no resource (discovery, /version, health, openapi). */
export function parseResourcePath(pathname: string): (ResourcePath & { legacyWatch: boolean }) | undefined {
  const raw = pathname.split('/').slice(1);
  if (raw.some((s) => s === '' || s === '.' || s === '..')) return undefined;
  const segs = raw.map(decode);
  if (segs.some((s) => s === undefined)) return undefined;
  const parts = segs as string[];
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    version = parts[1] as string;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1] as string;
    version = parts[2] as string;
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  const prefix = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
  let legacyWatch = false;
  if (rest[0] === 'watch') {
    legacyWatch = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  // `namespaces/<ns>/<resource>...` is namespaced; `namespaces` or `namespaces/<ns>` (or its /status) is the Namespace itself.
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, subresource, ...extra] = rest;
  if (resource === undefined || extra.length > 0) return undefined;
  const collectionPath = `${prefix}${namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`}/${encodeURIComponent(resource)}`;
  return {
    group,
    version,
    ...(namespace === undefined ? {} : { namespace }),
    resource,
    ...(name === undefined ? {} : { name }),
    ...(subresource === undefined ? {} : { subresource }),
    collectionPath,
    legacyWatch,
  };
}

function verbOf(method: string, r: ResourcePath | undefined, query: URLSearchParams, legacyWatch: boolean): Verb {
  const m = method.toUpperCase();
  if (r === undefined) return m === 'GET' ? 'get' : 'other';
  const watch = legacyWatch || GO_TRUE.has(query.get('watch') ?? '');
  const collection = r.name === undefined;
  switch (m) {
    case 'GET':
      if (watch) return 'watch';
      return collection ? 'list' : 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return collection ? 'deletecollection' : 'delete';
    default:
      return 'other';
  }
}

/** Reads a request's method, URL and Accept header. */
export function parseApiRequest(method: string, url: string, accept: string | undefined): ApiRequest {
  const u = new URL(url, 'http://localhost');
  const parsed = parseResourcePath(u.pathname);
  const legacyWatch = parsed?.legacyWatch === true;
  let resource: ResourcePath | undefined;
  let path = u.pathname;
  if (parsed !== undefined) {
    const { legacyWatch: _lw, ...r } = parsed;
    resource = r;
    if (legacyWatch) path = path.replace(/\/watch\//, '/');
  }
  return { method: method.toUpperCase(), path, query: u.searchParams, resource, verb: verbOf(method, resource, u.searchParams, legacyWatch), accept: (accept ?? '').trim() };
}

/** The query as it enters a cache key: freshness parameters out, the rest sorted. */
export function keyQuery(query: URLSearchParams): string {
  const kept = [...query.entries()].filter(([k]) => !FRESHNESS_PARAMS.has(k)).sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : av > bv ? 1 : 0) : a < b ? -1 : 1));
  return new URLSearchParams(kept).toString();
}

/** The selectors of a list or watch (label and field), as they enter a collection key. */
export function selectorQuery(query: URLSearchParams): string {
  const kept: [string, string][] = [];
  for (const p of SELECTOR_PARAMS) {
    const v = query.get(p);
    if (v !== null && v !== '') kept.push([p, v]);
  }
  return new URLSearchParams(kept).toString();
}

/** Key of a response as received: identity, path, query, Accept. */
export function responseKey(identity: string, req: ApiRequest): string {
  return `resp\u0000${identity}\u0000${req.path}\u0000${keyQuery(req.query)}\u0000${req.accept}`;
}

/** Key of a collection's folded state (JSON): identity, collection path, selectors. */
export function collectionKey(identity: string, collectionPath: string, selectors: string): string {
  return `coll\u0000${identity}\u0000${collectionPath}\u0000${selectors}`;
}

/** Key of one object's freshest known JSON state (from a GET or a write's answer): identity and object path. */
export function objectKey(identity: string, objectPath: string): string {
  return `obj\u0000${identity}\u0000${objectPath}`;
}

/** The key prefix of every collection one identity cached. */
export function collectionPrefix(identity: string): string {
  return `coll\u0000${identity}\u0000`;
}

/** Whether an Accept header takes a JSON answer (absent, `*\/*`, or naming application/json in any form). */
export function acceptsJson(accept: string): boolean {
  if (accept === '') return true;
  return accept.split(',').some((part) => {
    const type = (part.split(';')[0] ?? '').trim().toLowerCase();
    return type === 'application/json' || type === '*/*' || type === 'application/*';
  });
}

/**
 * Compares two resourceVersions: negative, 0 or positive; undefined when
 * either is not a decimal number. Kubernetes calls them opaque, but every
 * etcd-backed server issues increasing integers, and a cache that folds
 * watch events has to order them (kube-apiserver's own watch cache does).
 */
export function compareRv(a: string, b: string): number | undefined {
  if (!/^[0-9]{1,30}$/.test(a) || !/^[0-9]{1,30}$/.test(b)) return undefined;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
