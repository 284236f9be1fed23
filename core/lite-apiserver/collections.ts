/**
 * Collections: the folded state of one list (identity, path, selectors) that
 * the proxy keeps so it can answer lists and watches offline.
 *
 * A complete JSON list answer sets a collection (its items at its
 * resourceVersion); every watch event that passes through the proxy for the
 * same identity, path and selectors is folded in by resourceVersion (ADDED
 * and MODIFIED replace the object, DELETED removes it, BOOKMARK moves the
 * version; an event not newer than the collection is skipped) and kept in a
 * bounded history, so an offline watch from a version the history covers
 * gets exactly the events after it, and one from an older version gets 410
 * Gone as kube-apiserver answers.
 *
 * Collections live in memory once used and are written to storage at most
 * every `flushMs` (and at close): a crash loses at most the last events of
 * that window, and what is read back is still consistent (its items are
 * those of its version), so the first relist online repairs it.
 */
import type { Logger } from '../kernel/index.ts';
import { compareRv } from './request.ts';
import type { CacheStorage } from './storage.ts';

/** A Kubernetes object as the proxy needs to see it. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
export interface WatchEvent {
  type: EventType;
  object: KubeObject;
}

interface HistoryEvent {
  type: Exclude<EventType, 'BOOKMARK'>;
  rv: string;
  object: KubeObject;
}

/** One folded list. */
export interface Collection {
  readonly key: string;
  apiVersion: string;
  /** The list kind, e.g. `PodList`. */
  kind: string;
  rv: string;
  /** Objects by `namespace/name`. */
  items: Map<string, KubeObject>;
  /** Events after `floor`, oldest first. */
  history: HistoryEvent[];
  /** The history holds every event after this version. */
  floor: string;
  /** When a list or an event last changed it (ms since the epoch): against an answer whose version is unknown (protobuf). */
  updatedAt: number;
}

/** What an offline watch from `rv` starts with. */
export type WatchStart = { kind: 'events'; events: WatchEvent[] } | { kind: 'gone'; current: string };

interface StoredCollection {
  apiVersion: string;
  kind: string;
  rv: string;
  floor: string;
  updatedAt?: number;
  items: KubeObject[];
  history: HistoryEvent[];
}

export const objectId = (o: KubeObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/** Whether a parsed body is a complete list (kind `*List`, items, no continue token). */
export function completeList(body: unknown): body is { apiVersion?: string; kind: string; metadata?: { resourceVersion?: string; continue?: string }; items: KubeObject[] } {
  if (body === null || typeof body !== 'object') return false;
  const b = body as { kind?: unknown; items?: unknown; metadata?: { continue?: unknown; resourceVersion?: unknown } };
  return typeof b.kind === 'string' && b.kind.endsWith('List') && Array.isArray(b.items) && typeof b.metadata?.resourceVersion === 'string' && (b.metadata.continue === undefined || b.metadata.continue === '');
}

export interface CollectionsOptions {
  storage: CacheStorage;
  /** Events kept per collection for offline watches from an older version (default 1000). */
  historyLimit?: number;
  /** Longest a folded change waits before it is written (default 1000 ms). */
  flushMs?: number;
  logger?: Logger;
}

export class Collections {
  readonly #storage: CacheStorage;
  readonly #historyLimit: number;
  readonly #flushMs: number;
  readonly #log: Logger | undefined;
  readonly #loaded = new Map<string, Collection | null>();
  readonly #dirty = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(o: CollectionsOptions) {
    this.#storage = o.storage;
    this.#historyLimit = o.historyLimit ?? 1000;
    this.#flushMs = o.flushMs ?? 1000;
    this.#log = o.logger;
  }

  /** The collection at `key`, from memory or storage. */
  get(key: string): Collection | undefined {
    const held = this.#loaded.get(key);
    if (held !== undefined) return held ?? undefined;
    const entry = this.#storage.get(key);
    let c: Collection | null = null;
    if (entry !== undefined) {
      try {
        const s = JSON.parse(entry.body.toString('utf8')) as StoredCollection;
        c = { key, apiVersion: s.apiVersion, kind: s.kind, rv: s.rv, floor: s.floor, updatedAt: s.updatedAt ?? 0, history: s.history, items: new Map(s.items.map((o) => [objectId(o), o])) };
      } catch (err) {
        this.#log?.warn({ key: printable(key), error: String(err) }, 'unreadable collection dropped');
        this.#storage.delete(key);
      }
    }
    this.#loaded.set(key, c);
    return c ?? undefined;
  }

  /** Every collection key starting with `prefix`: those stored and those not yet written. */
  keys(prefix: string): string[] {
    const out = new Set(this.#storage.keys(prefix));
    for (const [key, c] of this.#loaded) if (c !== null && key.startsWith(prefix)) out.add(key);
    return [...out];
  }

  /** Forgets a collection (its resource is gone upstream). */
  drop(key: string): void {
    this.#loaded.delete(key);
    this.#dirty.delete(key);
    this.#storage.delete(key);
  }

  /** Sets the collection from a complete list answer: its items at its version, an empty history from there. */
  setFromList(key: string, list: { apiVersion?: string; kind: string; metadata?: { resourceVersion?: string }; items: KubeObject[] }): void {
    const rv = list.metadata?.resourceVersion ?? '';
    const cur = this.get(key);
    // An older list than what the collection holds, or the same version again (a relist that changed nothing): no rewrite.
    if (cur !== undefined && (rv === cur.rv || (compareRv(rv, cur.rv) ?? 1) < 0)) return;
    const c: Collection = { key, apiVersion: list.apiVersion ?? 'v1', kind: list.kind, rv, floor: rv, updatedAt: Date.now(), history: [], items: new Map(list.items.map((o) => [objectId(o), o])) };
    this.#loaded.set(key, c);
    this.#markDirty(key);
  }

  /** Folds one watch event into the collection at `key`, if there is one; returns whether it changed it. */
  fold(key: string, ev: WatchEvent): boolean {
    const c = this.get(key);
    if (c === undefined) return false;
    const rv = ev.object.metadata?.resourceVersion;
    if (typeof rv !== 'string' || rv === '') return false;
    const order = compareRv(rv, c.rv);
    if (order !== undefined && order <= 0) return false; // already folded (a replay after a re-watch)
    c.rv = rv;
    if (ev.type !== 'BOOKMARK') {
      c.updatedAt = Date.now();
      const id = objectId(ev.object);
      if (ev.type === 'DELETED') c.items.delete(id);
      else c.items.set(id, ev.object);
      c.history.push({ type: ev.type, rv, object: ev.object });
      while (c.history.length > this.#historyLimit) {
        const dropped = c.history.shift() as HistoryEvent;
        c.floor = dropped.rv;
      }
    }
    this.#markDirty(key);
    return true;
  }

  /** Replaces one object in a collection that holds it, keeping the version (a write answered while offline). */
  replaceObject(key: string, object: KubeObject): void {
    const c = this.get(key);
    const id = objectId(object);
    if (c === undefined || !c.items.has(id)) return;
    c.items.set(id, object);
    c.updatedAt = Date.now();
    this.#markDirty(key);
  }

  /** The collection as a list answer (items ordered by namespace/name, as kube-apiserver lists). */
  render(c: Collection): Buffer {
    const items = [...c.items.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => o);
    return Buffer.from(JSON.stringify({ kind: c.kind, apiVersion: c.apiVersion, metadata: { resourceVersion: c.rv }, items }));
  }

  /**
   * What an offline watch from `rv` starts with: every object as ADDED when
   * `rv` is absent or "0" (kube-apiserver's "start at most recent"), nothing
   * from the collection's own version or a newer one, the events after `rv`
   * when the history holds them, and 410 Gone otherwise.
   */
  watchStart(c: Collection, rv: string | undefined): WatchStart {
    if (rv === undefined || rv === '' || rv === '0') {
      const events = [...c.items.values()].map((object): WatchEvent => ({ type: 'ADDED', object }));
      return { kind: 'events', events };
    }
    const vsCurrent = compareRv(rv, c.rv);
    if (vsCurrent === undefined) return rv === c.rv ? { kind: 'events', events: [] } : { kind: 'gone', current: c.rv };
    if (vsCurrent >= 0) return { kind: 'events', events: [] };
    const vsFloor = compareRv(rv, c.floor) ?? -1;
    if (vsFloor < 0) return { kind: 'gone', current: c.rv };
    const events = c.history.filter((e) => (compareRv(e.rv, rv) ?? 0) > 0).map((e): WatchEvent => ({ type: e.type, object: e.object }));
    return { kind: 'events', events };
  }

  /** Writes every changed collection now. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const key of this.#dirty) {
      const c = this.#loaded.get(key);
      if (c === undefined || c === null) continue;
      const stored: StoredCollection = { apiVersion: c.apiVersion, kind: c.kind, rv: c.rv, floor: c.floor, updatedAt: c.updatedAt, items: [...c.items.values()], history: c.history };
      try {
        this.#storage.put(key, { meta: { type: 'collection', rv: c.rv }, body: Buffer.from(JSON.stringify(stored)) });
      } catch (err) {
        this.#log?.warn({ key: printable(key), error: String(err) }, 'collection not written');
      }
    }
    this.#dirty.clear();
  }

  /** Stops the flush timer after a last flush. */
  close(): void {
    this.flush();
  }

  #markDirty(key: string): void {
    this.#dirty.add(key);
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#flushMs);
      this.#timer.unref();
    }
  }
}

/** A cache key as logs show it (its NUL separators as ' | '). */
export const printable = (key: string): string => key.split('\u0000').join(' | ');
