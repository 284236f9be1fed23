/**
 * What the drivers that keep their own revision log (sqlite.ts, postgres.ts)
 * share, so both store, list and watch by one set of rules: the object a
 * write stores (store-owned metadata, generation, no-op writes), the events
 * they log, the check that a revision is still in the retained history,
 * continue tokens and paged lists over one snapshot (rewinding the objects
 * changed since through the log), and the watch filter with its bookmarks.
 * Each driver reads its rows its own way (synchronously or not) and hands
 * them to these.
 */
import { randomUUID } from 'node:crypto';
import { ErrGone } from './errors.ts';
import { encodeContinue } from './driver-checks.ts';
import { sitesOf } from './schemas.ts';
import type { LabelSelector } from './selectors.ts';
import { API_VERSION, type Kind, type ListResult, type ObjectMeta, type Resource, type WatchEvent } from './types.ts';

/** Events kept for watch and paged lists unless a driver is told otherwise. */
export const DEFAULT_HISTORY_LIMIT = 10_000;

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One committed write, as logged and handed to watchers. */
export interface StoredEvent {
  revision: number;
  type: ChangeType;
  kind: Kind;
  name: string;
  /** JSON of the object after the write (for DELETED: its last state, stamped with the deletion revision). */
  object: string;
  /** JSON of the object before the write; null for ADDED. */
  prev: string | null;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => deepEqual(v, b[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao);
  if (ak.length !== Object.keys(bo).length) return false;
  return ak.every((k) => Object.prototype.hasOwnProperty.call(bo, k) && deepEqual(ao[k], bo[k]));
}

function nonEmpty(map: Record<string, string> | undefined): Record<string, string> | undefined {
  return map && Object.keys(map).length > 0 ? map : undefined;
}

/**
 * What `apply` of a validated `input` stores over `existing` at `revision`:
 * labels, annotations and spec from the input; uid and creationTimestamp
 * kept; generation bumped when spec changes; status kept. Undefined when
 * the write changes nothing (no revision is taken).
 */
export function appliedObject(input: Resource, existing: Resource | undefined, revision: number): Resource | undefined {
  const { kind } = input;
  const { name } = input.metadata;
  const labels = nonEmpty(input.metadata.labels);
  const annotations = nonEmpty(input.metadata.annotations);
  const specChanged = !existing || !deepEqual(existing.spec, input.spec);
  if (existing && !specChanged && deepEqual(existing.metadata.labels, labels) && deepEqual(existing.metadata.annotations, annotations)) {
    return undefined;
  }
  const metadata: ObjectMeta = { name };
  if (labels) metadata.labels = labels;
  if (annotations) metadata.annotations = annotations;
  metadata.uid = existing?.metadata.uid ?? randomUUID();
  metadata.resourceVersion = String(revision);
  metadata.generation = existing ? (existing.metadata.generation ?? 1) + (specChanged ? 1 : 0) : 1;
  metadata.creationTimestamp = existing?.metadata.creationTimestamp ?? new Date().toISOString();
  const stored: Resource = { apiVersion: API_VERSION, kind, metadata, spec: input.spec };
  if (existing?.status !== undefined) stored.status = existing.status;
  return stored;
}

/** What `updateStatus` with a validated `status` stores over `existing` at `revision`; undefined when the status is already that. */
export function statusUpdated(existing: Resource, status: unknown, revision: number): Resource | undefined {
  if (deepEqual(existing.status, status)) return undefined;
  return { ...existing, metadata: { ...existing.metadata, resourceVersion: String(revision) }, status };
}

/** The last state of a deleted object: as it was, stamped with the deletion's revision. */
export function deletedObject(existing: Resource, revision: number): Resource {
  return { ...existing, metadata: { ...existing.metadata, resourceVersion: String(revision) } };
}

/**
 * EDGE_ERR_STORE_GONE unless every event after `rv` is still retained,
 * given the store's `current` revision and its oldest retained event
 * (`oldest`, asked only when needed; null when none is).
 */
export function checkRetained(rv: number, current: number, oldest: () => number | null, reason: string): void {
  if (rv >= current) return;
  const first = oldest();
  if (first === null || rv < first - 1) {
    throw new ErrGone({ resourceVersion: String(rv), oldest: first === null ? '-' : String(first), current: String(current), reason });
  }
}

/** A continue token's position: the list's revision and the last name it gave. */
export interface ListPosition {
  rv: number;
  a: string;
}

export function isListPosition(p: unknown): p is ListPosition {
  const t = p as Partial<ListPosition> | null;
  return t !== null && typeof t === 'object' && Number.isSafeInteger(t.rv) && typeof t.a === 'string';
}

/** A current row of the objects table. */
export interface ObjectRow {
  name: string;
  body: string;
}

/**
 * One list at revision `at` (a page from name `after`): fed the objects
 * table's rows of the kind in name order, batch by batch, until `rows`
 * says it has enough; then `result()`. When `at` is older than the store's
 * current revision, give the log's later events of the kind (`changed`):
 * the objects they touched are rewound to the state before their first
 * later event (absent when that event created them), the others come from
 * the rows as they are.
 */
export class SnapshotList {
  readonly #kind: Kind;
  readonly #at: number;
  readonly #site: string | undefined;
  readonly #selector: LabelSelector | undefined;
  readonly #limit: number;
  readonly #items: Resource[] = [];
  readonly #rewound = new Map<string, string | null>();
  readonly #changed: string[];
  #ci = 0;
  #done = false;

  constructor(
    kind: Kind,
    at: number,
    after: string,
    opts: { site: string | undefined; selector: LabelSelector | undefined; limit: number | undefined },
    changed: Iterable<{ name: string; prev: string | null }> = [],
  ) {
    this.#kind = kind;
    this.#at = at;
    this.#site = opts.site;
    this.#selector = opts.selector;
    this.#limit = opts.limit ?? Infinity;
    for (const e of changed) if (!this.#rewound.has(e.name)) this.#rewound.set(e.name, e.prev);
    this.#changed = [...this.#rewound.keys()].filter((n) => n > after).sort();
  }

  /** True when the list has one object past its limit: read no further. */
  get done(): boolean {
    return this.#done;
  }

  /** Takes the next batch of current rows (name order, after the last batch's); true when done. */
  rows(rows: readonly ObjectRow[]): boolean {
    for (const row of rows) {
      if (this.#done) break;
      this.#drainChanged(row.name);
      if (this.#done) break;
      if (this.#rewound.has(row.name)) continue;
      this.#accept(JSON.parse(row.body) as Resource);
    }
    return this.#done;
  }

  /** After the last batch: the rewound objects named after every row, and the page. */
  result<R extends Resource>(): ListResult<R> {
    this.#drainChanged(undefined);
    const items = this.#items;
    const result: ListResult<R> = { items: items as R[], resourceVersion: String(this.#at) };
    if (items.length > this.#limit) {
      items.length = this.#limit;
      result.continue = encodeContinue<ListPosition>(this.#kind, { rv: this.#at, a: (items[items.length - 1] as Resource).metadata.name });
    }
    return result;
  }

  #accept(obj: Resource): void {
    if (this.#selector && !this.#selector.matches(obj.metadata.labels)) return;
    this.#items.push(obj);
    if (this.#items.length > this.#limit) this.#done = true;
  }

  /** Takes the rewound objects named before `limit` (all when undefined). */
  #drainChanged(limit: string | undefined): void {
    while (!this.#done && this.#ci < this.#changed.length && (limit === undefined || (this.#changed[this.#ci] as string) < limit)) {
      const body = this.#rewound.get(this.#changed[this.#ci++] as string);
      if (!body) continue;
      const obj = JSON.parse(body) as Resource;
      if (this.#site !== undefined) {
        const sites = sitesOf(obj);
        if (sites !== null && !sites.includes(this.#site)) continue;
      }
      this.#accept(obj);
    }
  }
}

export function bookmark(kind: Kind, revision: number): WatchEvent {
  return {
    type: 'BOOKMARK',
    object: { apiVersion: API_VERSION, kind, metadata: { name: '', resourceVersion: String(revision) }, spec: {} },
  };
}

/**
 * A watch's kinds / site / label selector filter. As Kubernetes does, an
 * object that starts matching arrives as ADDED and one that stops matching
 * as DELETED (with its new state), so a filtered stream replays into exactly
 * the filtered list.
 */
export class EventFilter {
  readonly #kinds: ReadonlySet<Kind> | undefined;
  readonly #site: string | undefined;
  readonly #selector: LabelSelector | undefined;

  constructor(kinds: Kind[] | undefined, site: string | undefined, selector: LabelSelector | undefined) {
    this.#kinds = kinds ? new Set(kinds) : undefined;
    this.#site = site;
    this.#selector = selector;
  }

  #matches(obj: Resource): boolean {
    if (this.#site !== undefined) {
      const sites = sitesOf(obj);
      if (sites !== null && !sites.includes(this.#site)) return false;
    }
    return !this.#selector || this.#selector.matches(obj.metadata.labels);
  }

  translate(ev: StoredEvent): WatchEvent | undefined {
    if (this.#kinds && !this.#kinds.has(ev.kind)) return undefined;
    const object = JSON.parse(ev.object) as Resource;
    if (this.#site === undefined && !this.#selector) return { type: ev.type, object };
    const now = this.#matches(object);
    if (ev.type === 'ADDED' || ev.type === 'DELETED') return now ? { type: ev.type, object } : undefined;
    const before = ev.prev !== null && this.#matches(JSON.parse(ev.prev) as Resource);
    if (before && now) return { type: 'MODIFIED', object };
    if (now) return { type: 'ADDED', object };
    if (before) return { type: 'DELETED', object };
    return undefined;
  }
}
