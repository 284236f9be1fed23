/**
 * The proxy's cache over a storage driver: what it records from the
 * upstream's answers, and what it answers from offline.
 *
 * Three kinds of entries, all keyed by the client's identity:
 * - responses: a GET's or LIST's answer as received (status, content type,
 *   bytes: JSON, protobuf or Table alike), under identity + path + query +
 *   Accept (request.ts);
 * - collections: the folded state of a JSON list, under identity + path +
 *   selectors (collections.ts);
 * - objects: one object's freshest JSON state seen (a GET's answer, a
 *   write's answer, a write answered offline), under identity + object path.
 *
 * Offline, a GET of one object is answered from whichever of its response,
 * its object entry, or a collection holding it is newest by
 * resourceVersion; a LIST from its collection when that is newer than the
 * response as received (a client that takes JSON), else the response; a
 * continue token only from the exact response.
 */
import type { Logger } from '../kernel/index.ts';
import { Collections, completeList, objectId, type Collection, type KubeObject, type WatchEvent } from './collections.ts';
import { acceptsJson, collectionKey, compareRv, collectionPrefix, objectKey, responseKey, selectorQuery, type ApiRequest } from './request.ts';
import type { CacheStorage } from './storage.ts';

/** An answer read from the cache. */
export interface CachedAnswer {
  status: number;
  contentType: string;
  body: Buffer;
  rv: string | undefined;
  /** Which entry answered. */
  source: 'response' | 'object' | 'collection';
  /** A write the node made offline: newer than anything the cloud sent, whatever its version says. */
  local?: boolean;
  /** When it was stored (ms since the epoch). */
  storedAt?: number;
}

/** Offline: a definite answer, or nothing known. */
export type Lookup = { kind: 'hit'; answer: CachedAnswer } | { kind: 'absent' } | { kind: 'miss' };

const JSON_TYPE = 'application/json';

function rvOf(body: unknown): string | undefined {
  const rv = (body as KubeObject | undefined)?.metadata?.resourceVersion;
  return typeof rv === 'string' && rv !== '' ? rv : undefined;
}

/** Whether `a` is newer than `b` (unknown versions count as older). */
function newer(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined) return false;
  if (b === undefined) return true;
  return (compareRv(a, b) ?? 0) > 0;
}

function parseJsonBody(contentType: string, body: Buffer): unknown {
  if (!contentType.toLowerCase().startsWith(JSON_TYPE)) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

export interface ProxyCacheOptions {
  storage: CacheStorage;
  historyLimit?: number;
  flushMs?: number;
  logger?: Logger;
}

export class ProxyCache {
  readonly storage: CacheStorage;
  readonly collections: Collections;
  readonly #log: Logger | undefined;

  constructor(o: ProxyCacheOptions) {
    this.storage = o.storage;
    this.#log = o.logger;
    this.collections = new Collections({ storage: o.storage, ...(o.historyLimit === undefined ? {} : { historyLimit: o.historyLimit }), ...(o.flushMs === undefined ? {} : { flushMs: o.flushMs }), ...(o.logger === undefined ? {} : { logger: o.logger }) });
  }

  /** Records a 200 answer to a GET or LIST: the bytes as received, and (JSON) the object or the folded list. */
  recordResponse(identity: string, req: ApiRequest, contentType: string, body: Buffer): void {
    const parsed = parseJsonBody(contentType, body);
    const rv = rvOf(parsed);
    const key = responseKey(identity, req);
    // The same bytes again (a kubelet polling an unchanged object): no write, which on the file driver is two fsyncs.
    const held = this.storage.get(key);
    if (held === undefined || held.meta.contentType !== contentType || !held.body.equals(body)) {
      this.#put(key, { status: 200, contentType, ...(rv === undefined ? {} : { rv }), storedAt: Date.now() }, body);
    }
    const r = req.resource;
    if (r === undefined || parsed === undefined) return;
    // A list without a continue token in the answer is whole, a limit or not (a limit the list did not reach).
    if (req.verb === 'list' && req.query.get('continue') === null && completeList(parsed)) {
      this.collections.setFromList(collectionKey(identity, r.collectionPath, selectorQuery(req.query)), parsed);
    } else if (req.verb === 'get' && r.subresource === undefined) {
      this.recordObject(identity, req.path, parsed as KubeObject);
    }
  }

  /** Records one object's state (a GET's or a write's answer) unless an entry already holds a newer one. */
  recordObject(identity: string, objectPath: string, object: KubeObject): void {
    if (object === null || typeof object !== 'object' || typeof object.metadata?.name !== 'string') return;
    const key = objectKey(identity, objectPath);
    const cur = this.storage.get(key);
    const rv = rvOf(object);
    // Held already at this version or a newer one (or written offline at the version it came from): nothing to write.
    if (cur !== undefined && (newer(cur.meta.rv as string | undefined, rv) || (rv !== undefined && cur.meta.rv === rv))) return;
    this.#put(key, { status: 200, contentType: JSON_TYPE, ...(rv === undefined ? {} : { rv }), storedAt: Date.now() }, Buffer.from(JSON.stringify(object)));
  }

  /** Records an object written offline: it replaces what any entry holds, whatever its version (the node's own state is newer than the cloud's). */
  recordLocalWrite(identity: string, objectPath: string, object: KubeObject): void {
    const rv = rvOf(object);
    this.#put(objectKey(identity, objectPath), { status: 200, contentType: JSON_TYPE, ...(rv === undefined ? {} : { rv }), local: true, storedAt: Date.now() }, Buffer.from(JSON.stringify(object)));
    for (const c of this.#collectionsHolding(identity, objectPath, object)) this.collections.replaceObject(c.key, object);
  }

  /** Folds a watch event that passed through for `req` (identity, path, selectors) into its collection. */
  fold(identity: string, req: ApiRequest, ev: WatchEvent): void {
    if (req.resource === undefined) return;
    this.collections.fold(collectionKey(identity, req.resource.collectionPath, selectorQuery(req.query)), ev);
  }

  /** The collection a list or watch of `req` reads offline. */
  collectionFor(identity: string, req: ApiRequest): Collection | undefined {
    if (req.resource === undefined) return undefined;
    return this.collections.get(collectionKey(identity, req.resource.collectionPath, selectorQuery(req.query)));
  }

  /** The freshest known JSON state of one object, from its object entry or a collection holding it. */
  objectState(identity: string, objectPath: string): KubeObject | undefined {
    const a = this.#objectAnswer(identity, objectPath);
    return a === undefined ? undefined : (JSON.parse(a.body.toString('utf8')) as KubeObject);
  }

  /** Offline answer to a GET (one object, or a non-resource path such as discovery). */
  lookupGet(identity: string, req: ApiRequest): Lookup {
    const exact = this.#response(identity, req);
    const r = req.resource;
    if (r === undefined || r.subresource !== undefined || r.name === undefined) return exact === undefined ? { kind: 'miss' } : { kind: 'hit', answer: exact };
    const derived = acceptsJson(req.accept) ? this.#objectAnswer(identity, req.path) : undefined;
    const best = exact !== undefined && (derived === undefined || (derived.local !== true && !newer(derived.rv, exact.rv))) ? exact : derived;
    if (best !== undefined) return { kind: 'hit', answer: best };
    // A complete, unselected list of its collection that lacks the object: it does not exist (as of that list).
    const unselected = this.collections.get(collectionKey(identity, r.collectionPath, ''));
    return unselected !== undefined ? { kind: 'absent' } : { kind: 'miss' };
  }

  /** Offline answer to a LIST. */
  lookupList(identity: string, req: ApiRequest): Lookup {
    const exact = this.#response(identity, req);
    if (req.query.get('continue') !== null) return exact === undefined ? { kind: 'absent' } : { kind: 'hit', answer: exact };
    const c = acceptsJson(req.accept) ? this.collectionFor(identity, req) : undefined;
    // The fresher of the two: by version, or, for an answer whose version is unknown (protobuf), by when each last changed.
    const collectionFresher = (col: Collection, e: CachedAnswer): boolean => (e.rv === undefined ? col.updatedAt >= (e.storedAt ?? 0) : newer(col.rv, e.rv));
    if (c !== undefined && (exact === undefined || collectionFresher(c, exact))) {
      return { kind: 'hit', answer: { status: 200, contentType: JSON_TYPE, body: this.collections.render(c), rv: c.rv, source: 'collection' } };
    }
    return exact === undefined ? { kind: 'miss' } : { kind: 'hit', answer: exact };
  }

  /** Every collection key of one identity (for the resync after an outage). */
  collectionKeys(identity: string): string[] {
    return this.collections.keys(collectionPrefix(identity));
  }

  close(): void {
    this.collections.close();
  }

  #response(identity: string, req: ApiRequest): CachedAnswer | undefined {
    const e = this.storage.get(responseKey(identity, req));
    if (e === undefined) return undefined;
    return {
      status: Number(e.meta.status ?? 200),
      contentType: typeof e.meta.contentType === 'string' ? e.meta.contentType : JSON_TYPE,
      body: e.body,
      rv: e.meta.rv as string | undefined,
      source: 'response',
      ...(typeof e.meta.storedAt === 'number' ? { storedAt: e.meta.storedAt } : {}),
    };
  }

  #objectAnswer(identity: string, objectPath: string): CachedAnswer | undefined {
    const e = this.storage.get(objectKey(identity, objectPath));
    let best: CachedAnswer | undefined =
      e === undefined ? undefined : { status: 200, contentType: JSON_TYPE, body: e.body, rv: e.meta.rv as string | undefined, source: 'object', ...(e.meta.local === true ? { local: true } : {}) };
    const local = e?.meta.local === true;
    for (const c of this.#collectionsHolding(identity, objectPath)) {
      const o = c.items.get(this.#idOfPath(objectPath));
      if (o === undefined) continue;
      const rv = rvOf(o);
      if (best === undefined || (!local && newer(rv, best.rv))) best = { status: 200, contentType: JSON_TYPE, body: Buffer.from(JSON.stringify(o)), rv, source: 'collection' };
    }
    return best;
  }

  #idOfPath(objectPath: string): string {
    const m = /\/namespaces\/([^/]+)\/[^/]+\/([^/]+)$/.exec(objectPath);
    if (m !== null && !/^\/api\/v1\/namespaces\/[^/]+$/.test(objectPath)) return `${decodeURIComponent(m[1] as string)}/${decodeURIComponent(m[2] as string)}`;
    return `/${decodeURIComponent(objectPath.split('/').pop() ?? '')}`;
  }

  /** The loaded or stored collections of `identity` whose path covers the object at `objectPath` (and, given `object`, that hold it). */
  #collectionsHolding(identity: string, objectPath: string, object?: KubeObject): Collection[] {
    const parentPath = objectPath.slice(0, objectPath.lastIndexOf('/'));
    const clusterWide = parentPath.replace(/\/namespaces\/[^/]+\/([^/]+)$/, '/$1');
    const id = object === undefined ? this.#idOfPath(objectPath) : objectId(object);
    const out: Collection[] = [];
    for (const key of this.collections.keys(collectionPrefix(identity))) {
      const path = key.split('\u0000')[2];
      if (path !== parentPath && path !== clusterWide) continue;
      const c = this.collections.get(key);
      if (c !== undefined && c.items.has(id)) out.push(c);
    }
    return out;
  }

  #put(key: string, meta: Record<string, unknown>, body: Buffer): void {
    try {
      this.storage.put(key, { meta, body });
    } catch (err) {
      this.#log?.warn({ error: String(err) }, 'lite-apiserver cache entry not written');
    }
  }
}
