/**
 * The embedded ResourceStore driver on better-sqlite3 (WAL): one revision
 * counter for the whole store, like etcd. Every write bumps it, stamps the
 * object's resourceVersion and appends an event (with the object before and
 * after) to a history table that keeps the last `historyLimit` events. Watches
 * replay that history from a revision, then follow live writes (notified
 * in-process after each commit) in revision order with no gap and no
 * duplicate; paged lists stay a consistent snapshot by rewinding the objects
 * changed since the first page through the same history.
 *
 * Several processes may share one file (tunnel-cloud replicas keeping their
 * leases): each write reads the revision counter inside its `BEGIN IMMEDIATE`
 * transaction, so revisions stay unique and resourceVersion preconditions
 * hold across processes, and reads see every process's commits. A watcher
 * is woken at once by its own process's writes, and by another process's
 * within OTHER_WRITERS_POLL_MS (the file's data_version, looked at while
 * anyone watches); it reads their events from the history table.
 *
 * What a write stores, list snapshots and the watch filter are
 * revision-log.ts's, shared with the PostgreSQL driver (postgres.ts).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { EdgeError, ensurePrivateFile, type Logger } from '../kernel/index.ts';
import { ErrClosed, ErrFile, ErrGone, ErrInvalid, ErrIo, ErrNotFound } from './errors.ts';
import { checkKey, checkListOptions, checkWatchOptions, checkWrite, preparedWrite, expectedRevision, historyLimitIssue } from './driver-checks.ts';
import {
  appliedObject,
  bookmark,
  checkRetained,
  DEFAULT_HISTORY_LIMIT,
  deletedObject,
  EventFilter,
  isListPosition,
  SnapshotList,
  statusUpdated,
  type ChangeType,
  type ListPosition,
  type StoredEvent,
} from './revision-log.ts';
import { prepareStatus, sitesOf } from './schemas.ts';
import type { LabelSelector } from './selectors.ts';
import type { Kind, ListOptions, ListResult, Resource, ResourceStore, WatchEvent, WatchOptions, WriteOptions } from './types.ts';

export interface SqliteStoreOptions {
  /** Database file; its directory is created when missing. `:memory:` works for throwaway stores. */
  file: string;
  /** Events kept for watch and paged lists; older ones are compacted away. Default 10,000. */
  historyLimit?: number;
  /** Lines at debug level on open and close. */
  logger?: Logger;
}

/** How often a watched file is looked at for other processes' commits. */
const OTHER_WRITERS_POLL_MS = 250;
const SCHEMA_VERSION = '1';
/** Rows read per query while replaying history or paging through objects. */
const BATCH = 256;
/** Live events a watcher buffers in memory before it falls back to reading the history table. */
const MAX_BUFFER = 1024;

interface Watcher {
  cursor: number;
  buffer: StoredEvent[];
  wake: () => void;
}

function prepareStatements(db: Database.Database) {
  return {
    getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
    setMeta: db.prepare<[string, string]>(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    ),
    get: db.prepare<[string, string], { body: string }>('SELECT body FROM objects WHERE kind = ? AND name = ?'),
    put: db.prepare<[string, string, number, string | null, string]>(
      'INSERT INTO objects (kind, name, revision, sites, body) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT(kind, name) DO UPDATE SET revision = excluded.revision, sites = excluded.sites, body = excluded.body',
    ),
    del: db.prepare<[string, string]>('DELETE FROM objects WHERE kind = ? AND name = ?'),
    page: db.prepare<[string, string, number], { name: string; body: string }>(
      'SELECT name, body FROM objects WHERE kind = ? AND name > ? ORDER BY name LIMIT ?',
    ),
    pageSite: db.prepare<[string, string, string, number], { name: string; body: string }>(
      'SELECT name, body FROM objects WHERE kind = ? AND name > ? ' +
        'AND (sites IS NULL OR EXISTS (SELECT 1 FROM json_each(objects.sites) WHERE json_each.value = ?)) ORDER BY name LIMIT ?',
    ),
    addEvent: db.prepare<[number, string, string, string, string, string | null]>(
      'INSERT INTO events (revision, type, kind, name, object, prev) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    compact: db.prepare<[number]>('DELETE FROM events WHERE revision <= ?'),
    oldest: db.prepare<[], { oldest: number | null }>('SELECT MIN(revision) AS oldest FROM events'),
    eventsAfter: db.prepare<[number, number], StoredEvent>(
      'SELECT revision, type, kind, name, object, prev FROM events WHERE revision > ? ORDER BY revision LIMIT ?',
    ),
    kindEventsAfter: db.prepare<[number, string], { name: string; prev: string | null }>(
      'SELECT name, prev FROM events WHERE revision > ? AND kind = ? ORDER BY revision',
    ),
  };
}

/** Opens (creating when missing) the SQLite-backed ResourceStore. */
export function openSqliteStore(opts: SqliteStoreOptions): ResourceStore {
  return new SqliteStore(opts);
}

class SqliteStore implements ResourceStore {
  readonly #file: string;
  readonly #historyLimit: number;
  readonly #logger: Logger | undefined;
  readonly #db: Database.Database;
  readonly #watchers = new Set<Watcher>();
  /** While anyone watches: looks for other processes' commits (PRAGMA data_version), so their watchers wake within OTHER_WRITERS_POLL_MS. */
  #poll: NodeJS.Timeout | undefined;
  #dataVersion = -1;
  #revision = 0;
  #closed = false;
  readonly #sql: ReturnType<typeof prepareStatements>;
  /** Runs a function in an IMMEDIATE write transaction (the write lock is taken up front). */
  readonly #tx: Database.Transaction<(fn: () => unknown) => unknown>;

  constructor(opts: SqliteStoreOptions) {
    this.#file = opts.file;
    this.#logger = opts.logger;
    const limit = opts.historyLimit ?? DEFAULT_HISTORY_LIMIT;
    const limitIssue = historyLimitIssue(limit);
    if (limitIssue) throw new ErrInvalid({ kind: 'store options', name: opts.file, issues: [limitIssue] });
    this.#historyLimit = limit;
    try {
      if (opts.file !== ':memory:' && !opts.file.startsWith('file:')) {
        mkdirSync(path.dirname(path.resolve(opts.file)), { recursive: true });
        ensurePrivateFile(opts.file);
      }
      this.#db = new Database(opts.file);
    } catch (err) {
      throw new ErrFile({ file: opts.file, reason: (err as Error).message }, { cause: err });
    }
    try {
      // Wait for the lock first: another process may be opening or writing the same file.
      this.#db.pragma('busy_timeout = 5000');
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = NORMAL');
      this.#db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS objects (
          kind TEXT NOT NULL,
          name TEXT NOT NULL,
          revision INTEGER NOT NULL,
          sites TEXT,
          body TEXT NOT NULL,
          PRIMARY KEY (kind, name)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS events (
          revision INTEGER PRIMARY KEY,
          type TEXT NOT NULL,
          kind TEXT NOT NULL,
          name TEXT NOT NULL,
          object TEXT NOT NULL,
          prev TEXT
        );
      `);
      this.#sql = prepareStatements(this.#db);
      this.#tx = this.#db.transaction((fn: () => unknown) => fn());
      const schema = this.#sql.getMeta.get('schema')?.value;
      if (schema === undefined) this.#sql.setMeta.run('schema', SCHEMA_VERSION);
      else if (schema !== SCHEMA_VERSION) {
        throw new ErrFile({ file: opts.file, reason: `its schema version is ${schema}; this edgeadm reads version ${SCHEMA_VERSION}` });
      }
      this.#revision = Number(this.#sql.getMeta.get('revision')?.value ?? '0');
      this.#sql.compact.run(this.#revision - this.#historyLimit);
    } catch (err) {
      this.#db.close();
      if (err instanceof EdgeError) throw err;
      throw new ErrFile({ file: opts.file, reason: (err as Error).message }, { cause: err });
    }
    this.#logger?.debug({ file: opts.file, revision: this.#revision, historyLimit: limit }, 'resource store opened');
  }

  // -------------------------------------------------------------------------
  // Reads

  get<R extends Resource = Resource>(kind: Kind, name: string): Promise<R | undefined> {
    return this.#run('get', () => {
      checkKey(kind, name);
      const row = this.#sql.get.get(kind, name);
      return row ? (JSON.parse(row.body) as R) : undefined;
    });
  }

  list<R extends Resource = Resource>(kind: Kind, opts: ListOptions = {}): Promise<ListResult<R>> {
    return this.#run('list', () => {
      const { token, selector } = checkListOptions(kind, opts, isListPosition);
      // One read transaction: a snapshot even while other processes write.
      return this.#tx.deferred(() => this.#listAt(kind, token?.p, selector, opts)) as ListResult<R>;
    });
  }

  #listAt<R extends Resource>(kind: Kind, token: ListPosition | undefined, selector: LabelSelector | undefined, opts: ListOptions): ListResult<R> {
    const site = opts.site;
    const current = this.#readRevision();
    const at = token ? token.rv : current;
    const after = token ? token.a : '';
    if (at > current) {
      throw new ErrGone({ resourceVersion: String(at), oldest: this.#oldestText(), current: String(current), reason: 'the continue token is from a newer store' });
    }
    if (at < current) this.#checkHistory(at, 'the continue token has expired');
    const list = new SnapshotList(kind, at, after, { site, selector, limit: opts.limit }, at < current ? this.#sql.kindEventsAfter.all(at, kind) : []);
    let cursor = after;
    for (;;) {
      const rows = site === undefined ? this.#sql.page.all(kind, cursor, BATCH) : this.#sql.pageSite.all(kind, cursor, site, BATCH);
      if (list.rows(rows) || rows.length < BATCH) break;
      cursor = (rows[rows.length - 1] as { name: string }).name;
    }
    return list.result<R>();
  }

  currentResourceVersion(): Promise<string> {
    return this.#run('read the revision', () => String(this.#readRevision()));
  }

  // -------------------------------------------------------------------------
  // Writes

  apply<R extends Resource = Resource>(obj: R, opts: WriteOptions = {}): Promise<R> {
    return this.#run('apply', () => this.#put(obj, 'apply', opts) as R);
  }

  create<R extends Resource = Resource>(obj: R): Promise<R> {
    return this.#run('create', () => this.#put(obj, 'create', {}) as R);
  }

  #put(obj: Resource, mode: 'apply' | 'create', opts: WriteOptions): Resource {
    const { input, kind, name, expected } = preparedWrite(obj, opts);

    const { result, event } = this.#write(() => {
      const row = this.#sql.get.get(kind, name);
      const existing = row ? (JSON.parse(row.body) as Resource) : undefined;
      checkWrite(kind, name, { create: mode === 'create', expected, spec: input.spec }, existing && { resourceVersion: existing.metadata.resourceVersion, spec: existing.spec });
      const revision = this.#revision + 1;
      const stored = appliedObject(input, existing, revision);
      if (!stored) return { result: existing as Resource, event: undefined };
      const ev = this.#commit(revision, existing ? 'MODIFIED' : 'ADDED', stored, row?.body ?? null);
      return { result: stored, event: ev };
    });
    if (event) this.#notify(event);
    return event ? (JSON.parse(event.object) as Resource) : result;
  }

  delete<R extends Resource = Resource>(kind: Kind, name: string, opts: WriteOptions = {}): Promise<R | undefined> {
    return this.#run('delete', () => {
      checkKey(kind, name);
      const expected = expectedRevision(kind, name, opts);
      const event = this.#write(() => {
        const row = this.#sql.get.get(kind, name);
        if (!row) return undefined;
        const existing = JSON.parse(row.body) as Resource;
        checkWrite(kind, name, { create: false, expected }, { resourceVersion: existing.metadata.resourceVersion, spec: existing.spec });
        const revision = this.#revision + 1;
        return this.#commit(revision, 'DELETED', deletedObject(existing, revision), row.body);
      });
      if (!event) return undefined;
      this.#notify(event);
      return JSON.parse(event.object) as R;
    });
  }

  updateStatus<R extends Resource = Resource>(kind: Kind, name: string, status: unknown, opts: WriteOptions = {}): Promise<R> {
    return this.#run('update status', () => {
      checkKey(kind, name);
      const prepared = prepareStatus(kind, status);
      if (!prepared.ok) throw new ErrInvalid({ kind, name, issues: prepared.issues });
      const expected = expectedRevision(kind, name, opts);
      const { result, event } = this.#write(() => {
        const row = this.#sql.get.get(kind, name);
        if (!row) throw new ErrNotFound({ kind, name });
        const existing = JSON.parse(row.body) as Resource;
        checkWrite(kind, name, { create: false, expected }, { resourceVersion: existing.metadata.resourceVersion, spec: existing.spec });
        const revision = this.#revision + 1;
        const stored = statusUpdated(existing, prepared.value, revision);
        if (!stored) return { result: existing, event: undefined };
        return { result: stored, event: this.#commit(revision, 'MODIFIED', stored, row.body) };
      });
      if (event) this.#notify(event);
      return (event ? JSON.parse(event.object) : result) as R;
    });
  }

  /** Runs `fn` holding the write lock, with the revision counter as committed by any process sharing the file. */
  #write<T>(fn: () => T): T {
    return this.#tx.immediate(() => {
      this.#readRevision();
      return fn();
    }) as T;
  }

  /** The committed revision (another process may have written since our last look). */
  #readRevision(): number {
    const committed = Number(this.#sql.getMeta.get('revision')?.value ?? '0');
    if (committed > this.#revision) this.#revision = committed;
    return this.#revision;
  }

  /** Writes one revision: the object row, its event, the counter, and compacts old history. Runs inside a transaction. */
  #commit(revision: number, type: ChangeType, obj: Resource, prev: string | null): StoredEvent {
    const body = JSON.stringify(obj);
    const { kind, metadata } = obj;
    if (type === 'DELETED') this.#sql.del.run(kind, metadata.name);
    else {
      const sites = sitesOf(obj);
      this.#sql.put.run(kind, metadata.name, revision, sites === null ? null : JSON.stringify(sites), body);
    }
    this.#sql.addEvent.run(revision, type, kind, metadata.name, body, prev);
    this.#sql.setMeta.run('revision', String(revision));
    this.#sql.compact.run(revision - this.#historyLimit);
    return { revision, type, kind, name: metadata.name, object: body, prev };
  }


  // -------------------------------------------------------------------------
  // Watch

  watch(opts: WatchOptions = {}): AsyncIterable<WatchEvent> {
    this.#ensureOpen('watch');
    const { kinds, selector } = checkWatchOptions(opts);
    const start = opts.resourceVersion !== undefined ? Number(opts.resourceVersion) : this.#readRevision();
    if (start > this.#readRevision()) {
      throw new ErrGone({
        resourceVersion: String(start),
        oldest: this.#oldestText(),
        current: String(this.#revision),
        reason: 'it is newer than the store (was the store replaced?)',
      });
    }
    this.#checkHistory(start, 'it is older than the retained history');
    const filter = new EventFilter(kinds, opts.site, selector);
    const bookmarkKind: Kind = kinds?.[0] ?? 'Site';
    return {
      [Symbol.asyncIterator]: () => this.#follow(start, filter, opts.bookmarkIntervalMs, bookmarkKind, opts.signal),
    };
  }

  async *#follow(
    start: number,
    filter: EventFilter,
    bookmarkMs: number | undefined,
    bookmarkKind: Kind,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<WatchEvent> {
    const noop = (): void => {};
    const w: Watcher = { cursor: start, buffer: [], wake: noop };
    const onAbort = (): void => w.wake();
    const stopped = (): boolean => this.#closed || signal?.aborted === true;
    if (stopped()) return;
    this.#watchers.add(w);
    this.#pollOthers();
    signal?.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    let lastEmit = Date.now();
    try {
      for (;;) {
        if (stopped()) return;
        if (bookmarkMs !== undefined && Date.now() - lastEmit >= bookmarkMs) {
          lastEmit = Date.now();
          yield bookmark(bookmarkKind, w.cursor);
          continue;
        }
        const live = w.buffer.shift();
        if (live) {
          w.cursor = live.revision;
          const out = filter.translate(live);
          if (out) {
            lastEmit = Date.now();
            yield out;
          }
          continue;
        }
        if (this.#revision > w.cursor) {
          for (const ev of this.#history(w.cursor)) {
            if (stopped()) return;
            w.cursor = ev.revision;
            const out = filter.translate(ev);
            if (out) {
              lastEmit = Date.now();
              yield out;
            }
          }
          continue;
        }
        await new Promise<void>((resolve) => {
          w.wake = resolve;
          if (bookmarkMs !== undefined) timer = setTimeout(resolve, Math.max(0, bookmarkMs - (Date.now() - lastEmit)));
        });
        w.wake = noop;
        clearTimeout(timer);
        timer = undefined;
      }
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.#watchers.delete(w);
    }
  }

  /** The next batch of retained events after `cursor`; EDGE_ERR_STORE_GONE when some were compacted away. */
  #history(cursor: number): StoredEvent[] {
    this.#ensureOpen('watch');
    try {
      this.#checkHistory(cursor, 'the watcher fell behind the retained history');
      return this.#sql.eventsAfter.all(cursor, BATCH);
    } catch (err) {
      if (err instanceof EdgeError) throw err;
      throw new ErrIo({ file: this.#file, operation: 'watch', reason: (err as Error).message }, { cause: err });
    }
  }

  /**
   * Another process's commit to the file wakes this one's watchers: the
   * file's data_version changes when any other connection commits. Runs
   * only while someone watches.
   */
  #pollOthers(): void {
    if (this.#poll !== undefined) return;
    this.#poll = setInterval(() => {
      if (this.#closed || this.#watchers.size === 0) {
        clearInterval(this.#poll);
        this.#poll = undefined;
        return;
      }
      try {
        const v = this.#db.pragma('data_version', { simple: true }) as number;
        if (v === this.#dataVersion) return;
        const first = this.#dataVersion === -1;
        this.#dataVersion = v;
        if (first) return;
        const before = this.#revision;
        if (this.#readRevision() > before) for (const w of this.#watchers) w.wake();
      } catch {
        // The file is closing or busy: the next tick looks again.
      }
    }, OTHER_WRITERS_POLL_MS);
    this.#poll.unref();
  }

  /** After a commit: advances the revision and hands the event to live watchers. */
  #notify(ev: StoredEvent): void {
    this.#revision = ev.revision;
    for (const w of this.#watchers) {
      if (ev.revision === w.cursor + w.buffer.length + 1 && w.buffer.length < MAX_BUFFER) w.buffer.push(ev);
      w.wake();
    }
  }

  // -------------------------------------------------------------------------
  // Lifecycle and helpers

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    if (this.#poll !== undefined) clearInterval(this.#poll);
    for (const w of this.#watchers) w.wake();
    this.#watchers.clear();
    try {
      this.#db.close();
    } catch (err) {
      return Promise.reject(new ErrIo({ file: this.#file, operation: 'close', reason: (err as Error).message }, { cause: err }));
    }
    this.#logger?.debug({ file: this.#file, revision: this.#revision }, 'resource store closed');
    return Promise.resolve();
  }

  /** EDGE_ERR_STORE_GONE unless every event after `rv` is still retained. */
  #checkHistory(rv: number, reason: string): void {
    checkRetained(rv, this.#revision, () => this.#sql.oldest.get()?.oldest ?? null, reason);
  }

  #oldestText(): string {
    const oldest = this.#sql.oldest.get()?.oldest ?? null;
    return oldest === null ? '-' : String(oldest);
  }

  #ensureOpen(operation: string): void {
    if (this.#closed) throw new ErrClosed({ file: this.#file, operation });
  }

  /** Runs a synchronous store operation as a promise; unexpected (SQLite) errors become EDGE_ERR_STORE_IO. */
  #run<T>(operation: string, fn: () => T): Promise<T> {
    try {
      this.#ensureOpen(operation);
      return Promise.resolve(fn());
    } catch (err) {
      if (err instanceof EdgeError) return Promise.reject(err);
      return Promise.reject(new ErrIo({ file: this.#file, operation, reason: (err as Error).message }, { cause: err }));
    }
  }
}
