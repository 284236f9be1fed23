/**
 * The ResourceStore on PostgreSQL, so hub replicas on separate machines
 * share their resources (embedded scale-out) with exactly the SQLite
 * driver's semantics: the same validation and write rules
 * (driver-checks.ts, revision-log.ts), one revision counter for the whole
 * database, an objects table and an events table keeping the last
 * `historyLimit` events, paged lists over one snapshot, and watches that
 * replay from a revision and then follow every replica's writes.
 *
 * Rules:
 * - Revision order is commit order. A write locks the one-row counter
 *   (`SELECT ... FOR UPDATE`) first and holds it to its commit: writers on
 *   every replica queue on that lock, read the object after getting it (a
 *   new statement, so they see the previous writer's commit), take
 *   counter + 1, and write the object, its event, the counter and the
 *   compaction in one statement. So revision N commits, and becomes
 *   visible, before N + 1 is even taken: a reader that sees N + 1 sees N,
 *   and a watcher reading "events after its cursor" never skips one. A
 *   write that changes nothing (or fails its checks) takes no revision. A
 *   replica that stops in the middle of a write loses the lock after
 *   WRITE_IDLE_TIMEOUT_MS of silence (the session's
 *   idle_in_transaction_session_timeout), not after TCP's hours.
 * - Reads go to the database: a write on one replica is in every
 *   replica's get and list as soon as it returns. A list reads in one
 *   REPEATABLE READ transaction; its continue tokens are the SQLite
 *   driver's (revision and last name) and work on every replica.
 * - Watchers on every replica wake on every replica's writes: each write
 *   sends NOTIFY `edgeadm_resources` (`<instance> <revision>`) in its
 *   transaction. A replica reads the new events once into a shared tail
 *   (the last MAX_TAIL events or so) that all its watchers take from; a
 *   watcher behind the tail reads the events table itself. While anyone
 *   watches, the counter is also looked at every POLL_MS, so a lost
 *   listening connection (the notifications meanwhile are gone) delays
 *   events by at most that, and never drops one.
 * - A watch without a resourceVersion starts at the last revision this
 *   replica knows of (its own writes and what it heard), so it never
 *   misses this replica's writes made after the call. Should that be older
 *   than the retained history (only after this replica missed more than
 *   `historyLimit` notifications), it starts at the database's current
 *   revision instead.
 * - EDGE_ERR_STORE_GONE for a watch's start is thrown by the iteration
 *   (it needs the database), not by `watch()` itself. A watcher following
 *   live waits out a database outage (its replica reads the events again
 *   once the poll gets through); one replaying from the table ends with
 *   EDGE_ERR_STORE_BACKEND, as the SQLite driver's ends with its I/O error.
 * - Bookmarks come while a watcher is idle and has everything its replica
 *   knows of (or the database is away): never before the events it is
 *   catching up on.
 * - Each write compacts the history to its writer's `historyLimit`: give
 *   every replica the same.
 * - Engine failures are EDGE_ERR_STORE_BACKEND (503) with PostgreSQL's
 *   words, never the URL; migrations are versioned
 *   (`edgeadm_resources_schema`) and applied at open, once, under an
 *   advisory lock.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { isEdgeError, type FieldIssue, type Logger } from '../kernel/index.ts';
import { engineReason, openPostgres, type Postgres, type Schema } from '../postgres/index.ts';
import { checkKey, checkListOptions, checkWatchOptions, checkWrite, preparedWrite, expectedRevision, historyLimitIssue } from './driver-checks.ts';
import { ErrBackend, ErrClosed, ErrGone, ErrInvalid, ErrNotFound } from './errors.ts';
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
  type ObjectRow,
  type StoredEvent,
} from './revision-log.ts';
import { prepareStatus, sitesOf } from './schemas.ts';
import type { Kind, ListOptions, ListResult, Resource, ResourceStore, WatchEvent, WatchOptions, WriteOptions } from './types.ts';

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database (a secret: never logged). */
  url: string;
  /** Connections of this replica, besides the one listening (default 10). */
  poolSize?: number;
  /** Events kept for watch and paged lists; older ones are compacted away. Default 10,000. */
  historyLimit?: number;
  /** Lines at debug level on open and close, warnings when reading other replicas' events fails. */
  logger?: Logger;
}

const CHANNEL = 'edgeadm_resources';
/** While anyone watches, how often the counter is looked at (for writes whose notification was lost). */
const POLL_MS = 1000;
/** Rows read per query while replaying history or paging through objects. */
const BATCH = 256;
/** Recent events a replica keeps in memory for its watchers; slower watchers read the events table. */
const MAX_TAIL = 1024;
/** A writer silent this long inside its transaction loses it (and the revision lock). */
const WRITE_IDLE_TIMEOUT_MS = 10_000;

const SCHEMA: Schema = {
  table: 'edgeadm_resources_schema',
  lock: 727_103,
  migrations: [
    `
    CREATE TABLE edgeadm_resource_revision (
      one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
      revision BIGINT NOT NULL
    );
    INSERT INTO edgeadm_resource_revision (revision) VALUES (0);
    CREATE TABLE edgeadm_resources (
      kind TEXT NOT NULL,
      name TEXT COLLATE "C" NOT NULL,
      revision BIGINT NOT NULL,
      sites TEXT[],
      body TEXT NOT NULL,
      PRIMARY KEY (kind, name)
    );
    CREATE TABLE edgeadm_resource_events (
      revision BIGINT PRIMARY KEY,
      type TEXT NOT NULL CHECK (type IN ('ADDED', 'MODIFIED', 'DELETED')),
      kind TEXT NOT NULL,
      name TEXT COLLATE "C" NOT NULL,
      object TEXT NOT NULL,
      prev TEXT
    );
    CREATE INDEX edgeadm_resource_events_by_kind ON edgeadm_resource_events (kind, revision);
    `,
  ],
};

const SQL = {
  current: 'SELECT revision FROM edgeadm_resource_revision',
  bounds: 'SELECT (SELECT revision FROM edgeadm_resource_revision) AS current, (SELECT MIN(revision) FROM edgeadm_resource_events) AS oldest',
  /** The counter and the oldest retained event, with the events after $1: one statement, so one snapshot. */
  eventsAfter: `
    SELECT b.current, b.oldest, e.revision, e.type, e.kind, e.name, e.object, e.prev
    FROM (SELECT (SELECT revision FROM edgeadm_resource_revision) AS current, (SELECT MIN(revision) FROM edgeadm_resource_events) AS oldest) b
    LEFT JOIN LATERAL (
      SELECT revision, type, kind, name, object, prev FROM edgeadm_resource_events WHERE revision > $1 ORDER BY revision LIMIT $2
    ) e ON true
    ORDER BY e.revision`,
  kindEventsAfter: 'SELECT name, prev FROM edgeadm_resource_events WHERE revision > $1 AND kind = $2 ORDER BY revision',
  get: 'SELECT body FROM edgeadm_resources WHERE kind = $1 AND name = $2',
  /** A page of current objects after name $2; $3 a site or null; $4 a row limit or null (all). */
  page: `
    SELECT name, body FROM edgeadm_resources
    WHERE kind = $1 AND name > $2 AND ($3::text IS NULL OR sites IS NULL OR $3::text = ANY (sites))
    ORDER BY name LIMIT $4`,
  /** Takes the revision lock (held to the commit), and bounds the time this session may then sit idle. */
  lock: "SELECT revision, set_config('idle_in_transaction_session_timeout', $1, true) FROM edgeadm_resource_revision FOR UPDATE",
  /** Object, event, counter, compaction and notification of one revision. */
  put: `
    WITH put AS (
      INSERT INTO edgeadm_resources (kind, name, revision, sites, body) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (kind, name) DO UPDATE SET revision = EXCLUDED.revision, sites = EXCLUDED.sites, body = EXCLUDED.body
    ), logged AS (
      INSERT INTO edgeadm_resource_events (revision, type, kind, name, object, prev) VALUES ($3, $6, $1, $2, $5, $7)
    ), counted AS (
      UPDATE edgeadm_resource_revision SET revision = $3
    ), compacted AS (
      DELETE FROM edgeadm_resource_events WHERE revision <= $8
    )
    SELECT pg_notify($9, $10)`,
  del: `
    WITH gone AS (
      DELETE FROM edgeadm_resources WHERE kind = $1 AND name = $2
    ), logged AS (
      INSERT INTO edgeadm_resource_events (revision, type, kind, name, object, prev) VALUES ($3, 'DELETED', $1, $2, $4, $5)
    ), counted AS (
      UPDATE edgeadm_resource_revision SET revision = $3
    ), compacted AS (
      DELETE FROM edgeadm_resource_events WHERE revision <= $6
    )
    SELECT pg_notify($7, $8)`,
} as const;

interface EventRow {
  current: number;
  oldest: number | null;
  revision: number | null;
  type: ChangeType;
  kind: Kind;
  name: string;
  object: string;
  prev: string | null;
}

/** The database's counter and oldest retained event, and (some of) the events after a revision, read together. */
interface Read {
  current: number;
  oldest: number | null;
  events: StoredEvent[];
}

interface Watcher {
  cursor: number;
  wake: () => void;
}

const fail = (what: string, err: unknown): Error => new ErrBackend({ driver: 'postgres', what, reason: engineReason(err) }, { cause: err });

/** What errors and logs call the store: its database's name, never the URL (which may hold a password). */
function databaseLabel(url: string): string {
  try {
    const db = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
    return db === '' ? 'PostgreSQL database' : `PostgreSQL database '${db}'`;
  } catch {
    return 'PostgreSQL database';
  }
}

/** Opens the store: connects, applies the schema's migrations, listens to the other replicas' writes. */
export function openPostgresStore(opts: PostgresStoreOptions): Promise<ResourceStore> {
  return PostgresStore.open(opts);
}

class PostgresStore implements ResourceStore {
  readonly #db: Postgres;
  readonly #label: string;
  readonly #historyLimit: number;
  readonly #logger: Logger | undefined;
  /** In NOTIFY payloads, so a replica skips its own. */
  readonly #instance = randomUUID();
  readonly #watchers = new Set<Watcher>();
  /** The highest revision this replica knows is committed (its writes, notifications, reads). */
  #known: number;
  /** Events tailEnd - tail.length + 1 .. tailEnd, in order, for the watchers (kept only while someone watches). */
  #tail: StoredEvent[] = [];
  #tailEnd: number;
  #pumping = false;
  /** After a failed read of the new events, the next one waits for the poll. */
  #stalled = false;
  #poll: NodeJS.Timeout | undefined;
  #polling = false;
  #closed = false;

  private constructor(db: Postgres, label: string, historyLimit: number, logger: Logger | undefined, revision: number) {
    this.#db = db;
    this.#label = label;
    this.#historyLimit = historyLimit;
    this.#logger = logger;
    this.#known = revision;
    this.#tailEnd = revision;
  }

  static async open(opts: PostgresStoreOptions): Promise<ResourceStore> {
    const label = databaseLabel(opts.url);
    const historyLimit = opts.historyLimit ?? DEFAULT_HISTORY_LIMIT;
    const issues: FieldIssue[] = [];
    const limitIssue = historyLimitIssue(historyLimit);
    if (limitIssue) issues.push(limitIssue);
    if (opts.poolSize !== undefined && !(Number.isSafeInteger(opts.poolSize) && opts.poolSize >= 1)) {
      issues.push({ path: 'poolSize', message: `must be an integer of at least 1 (is ${String(opts.poolSize)})` });
    }
    if (issues.length > 0) throw new ErrInvalid({ kind: 'store options', name: label, issues });
    const logger = opts.logger?.child({ component: 'resource-store', driver: 'postgres' });
    const db = openPostgres({ url: opts.url, poolSize: opts.poolSize ?? 10, fail, ...(logger ? { logger } : {}) });
    let revision: number;
    try {
      await db.migrate(SCHEMA, 'migrating the schema');
      revision = (await db.sql<{ revision: number }>('reading the revision', SQL.current)).rows[0]?.revision ?? 0;
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
    const store = new PostgresStore(db, label, historyLimit, logger, revision);
    await db
      .listen(CHANNEL, (payload) => store.#heard(payload))
      .catch((err: unknown) => logger?.warn({ error: (err as Error).message }, 'resource store: not listening to the other replicas yet'));
    logger?.debug({ database: label, revision, historyLimit }, 'resource store opened');
    return store;
  }

  // -------------------------------------------------------------------------
  // Reads

  get<R extends Resource = Resource>(kind: Kind, name: string): Promise<R | undefined> {
    return this.#run('get', async () => {
      checkKey(kind, name);
      const row = (await this.#db.sql<{ body: string }>('get', SQL.get, [kind, name])).rows[0];
      return row ? (JSON.parse(row.body) as R) : undefined;
    });
  }

  list<R extends Resource = Resource>(kind: Kind, opts: ListOptions = {}): Promise<ListResult<R>> {
    return this.#run('list', async () => {
      const { token, selector } = checkListOptions(kind, opts, isListPosition);
      const site = opts.site;
      // One snapshot for the counter, the history and every batch of rows.
      return this.#db.tx('list', async (c) => {
        await c.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
        const bounds = (await c.query<{ current: number; oldest: number | null }>(SQL.bounds)).rows[0] as { current: number; oldest: number | null };
        const { current, oldest } = bounds;
        this.#see(current);
        const at = token ? token.p.rv : current;
        const after = token ? token.p.a : '';
        if (at > current) {
          throw new ErrGone({ resourceVersion: String(at), oldest: oldest === null ? '-' : String(oldest), current: String(current), reason: 'the continue token is from a newer store' });
        }
        let changed: { name: string; prev: string | null }[] = [];
        if (at < current) {
          checkRetained(at, current, () => oldest, 'the continue token has expired');
          changed = (await c.query<{ name: string; prev: string | null }>(SQL.kindEventsAfter, [at, kind])).rows;
        }
        const list = new SnapshotList(kind, at, after, { site, selector, limit: opts.limit }, changed);
        // Without a limit, every row at once; with one, batches until the page is full.
        const batch = opts.limit === undefined ? null : BATCH;
        let cursor = after;
        for (;;) {
          const rows = (await c.query<ObjectRow>(SQL.page, [kind, cursor, site ?? null, batch])).rows;
          if (list.rows(rows) || batch === null || rows.length < batch) break;
          cursor = (rows[rows.length - 1] as ObjectRow).name;
        }
        return list.result<R>();
      });
    });
  }

  currentResourceVersion(): Promise<string> {
    return this.#run('read the revision', async () => String(await this.#readRevision()));
  }

  async #readRevision(): Promise<number> {
    const revision = (await this.#db.sql<{ revision: number }>('reading the revision', SQL.current)).rows[0]?.revision ?? 0;
    this.#see(revision);
    return revision;
  }

  // -------------------------------------------------------------------------
  // Writes

  apply<R extends Resource = Resource>(obj: R, opts: WriteOptions = {}): Promise<R> {
    return this.#run('apply', async () => (await this.#put(obj, 'apply', opts)) as R);
  }

  create<R extends Resource = Resource>(obj: R): Promise<R> {
    return this.#run('create', async () => (await this.#put(obj, 'create', {})) as R);
  }

  async #put(obj: Resource, mode: 'apply' | 'create', opts: WriteOptions): Promise<Resource> {
    const { input, kind, name, expected } = preparedWrite(obj, opts);
    const { existing, event } = await this.#write(mode, kind, name, (existing, revision) => {
      checkWrite(kind, name, { create: mode === 'create', expected, spec: input.spec }, existing && { resourceVersion: existing.metadata.resourceVersion, spec: existing.spec });
      const stored = appliedObject(input, existing, revision);
      return stored && { type: existing ? 'MODIFIED' : 'ADDED', obj: stored };
    });
    return event ? (JSON.parse(event.object) as Resource) : (existing as Resource);
  }

  delete<R extends Resource = Resource>(kind: Kind, name: string, opts: WriteOptions = {}): Promise<R | undefined> {
    return this.#run('delete', async () => {
      checkKey(kind, name);
      const expected = expectedRevision(kind, name, opts);
      const { event } = await this.#write('delete', kind, name, (existing, revision) => {
        if (!existing) return undefined;
        checkWrite(kind, name, { create: false, expected }, { resourceVersion: existing.metadata.resourceVersion, spec: existing.spec });
        return { type: 'DELETED', obj: deletedObject(existing, revision) };
      });
      return event ? (JSON.parse(event.object) as R) : undefined;
    });
  }

  updateStatus<R extends Resource = Resource>(kind: Kind, name: string, status: unknown, opts: WriteOptions = {}): Promise<R> {
    return this.#run('update status', async () => {
      checkKey(kind, name);
      const prepared = prepareStatus(kind, status);
      if (!prepared.ok) throw new ErrInvalid({ kind, name, issues: prepared.issues });
      const expected = expectedRevision(kind, name, opts);
      const { existing, event } = await this.#write('update status', kind, name, (existing, revision) => {
        if (!existing) throw new ErrNotFound({ kind, name });
        checkWrite(kind, name, { create: false, expected }, { resourceVersion: existing.metadata.resourceVersion, spec: existing.spec });
        const stored = statusUpdated(existing, prepared.value, revision);
        return stored && { type: 'MODIFIED', obj: stored };
      });
      return (event ? JSON.parse(event.object) : existing) as R;
    });
  }

  /**
   * One write under the revision lock (see the header): `decide` is given
   * the object as stored and the revision the write would take, and
   * returns what to log, or undefined when the write changes nothing.
   */
  async #write(
    operation: string,
    kind: Kind,
    name: string,
    decide: (existing: Resource | undefined, revision: number) => { type: ChangeType; obj: Resource } | undefined,
  ): Promise<{ existing: Resource | undefined; event: StoredEvent | undefined }> {
    const out = await this.#db.tx(operation, async (c: pg.PoolClient) => {
      const locked = (await c.query<{ revision: number }>(SQL.lock, [String(WRITE_IDLE_TIMEOUT_MS)])).rows[0];
      if (!locked) throw new Error('the revision counter (edgeadm_resource_revision) has no row; restore it from a backup');
      const revision = locked.revision + 1;
      const row = (await c.query<{ body: string }>(SQL.get, [kind, name])).rows[0];
      const existing = row ? (JSON.parse(row.body) as Resource) : undefined;
      const change = decide(existing, revision);
      if (!change) return { existing, event: undefined, current: revision - 1 };
      const body = JSON.stringify(change.obj);
      const prev = row?.body ?? null;
      const event: StoredEvent = { revision, type: change.type, kind, name, object: body, prev };
      const compactTo = revision - this.#historyLimit;
      const payload = `${this.#instance} ${revision}`;
      if (change.type === 'DELETED') await c.query(SQL.del, [kind, name, revision, body, prev, compactTo, CHANNEL, payload]);
      else {
        const sites = sitesOf(change.obj);
        await c.query(SQL.put, [kind, name, revision, sites === null ? null : [...sites], body, change.type, prev, compactTo, CHANNEL, payload]);
      }
      return { existing, event, current: revision };
    });
    this.#see(out.current);
    if (out.event) this.#committed(out.event);
    return out;
  }

  // -------------------------------------------------------------------------
  // Watch

  watch(opts: WatchOptions = {}): AsyncIterable<WatchEvent> {
    this.#ensureOpen('watch');
    const { kinds, selector } = checkWatchOptions(opts);
    const from = opts.resourceVersion !== undefined ? Number(opts.resourceVersion) : undefined;
    // "From now": everything this replica knows of is before the call.
    const now = this.#known;
    const filter = new EventFilter(kinds, opts.site, selector);
    const bookmarkKind: Kind = kinds?.[0] ?? 'Site';
    return {
      [Symbol.asyncIterator]: () => this.#follow(from, now, filter, opts.bookmarkIntervalMs, bookmarkKind, opts.signal),
    };
  }

  async *#follow(
    from: number | undefined,
    now: number,
    filter: EventFilter,
    bookmarkMs: number | undefined,
    bookmarkKind: Kind,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<WatchEvent> {
    const stopped = (): boolean => this.#closed || signal?.aborted === true;
    if (stopped()) return;
    // Where the watch starts, checked against the database; its first events come with the check.
    let start: number;
    let pending: StoredEvent[];
    try {
      const read = await this.#readAfter(from ?? now);
      if (stopped()) return;
      if (from !== undefined) {
        if (from > read.current) {
          throw new ErrGone({
            resourceVersion: String(from),
            oldest: read.oldest === null ? '-' : String(read.oldest),
            current: String(read.current),
            reason: 'it is newer than the store (was the store replaced?)',
          });
        }
        checkRetained(from, read.current, () => read.oldest, 'it is older than the retained history');
        [start, pending] = [from, read.events];
      } else if (now > read.current || (now < read.current && (read.oldest === null || now < read.oldest - 1))) {
        [start, pending] = [read.current, []];
      } else {
        [start, pending] = [now, read.events];
      }
    } catch (err) {
      if (stopped()) return;
      throw this.#coded('watch', err);
    }

    const noop = (): void => {};
    const w: Watcher = { cursor: start, wake: noop };
    const onAbort = (): void => w.wake();
    if (this.#watchers.size === 0) {
      this.#tail = [];
      this.#tailEnd = start;
    }
    this.#extend(pending);
    this.#watchers.add(w);
    this.#startPoll();
    signal?.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    let lastEmit = Date.now();
    try {
      for (;;) {
        if (stopped()) return;
        let ev = pending.shift();
        if (ev === undefined) ev = this.#fromTail(w.cursor + 1);
        if (ev !== undefined) {
          if (ev.revision <= w.cursor) continue;
          w.cursor = ev.revision;
          const out = filter.translate(ev);
          if (out) {
            lastEmit = Date.now();
            yield out;
          }
          continue;
        }
        if (w.cursor < this.#tailEnd - this.#tail.length) {
          // Behind the tail (a replay, or a slow consumer): the events table.
          try {
            const read = await this.#readAfter(w.cursor);
            if (stopped()) return;
            this.#see(read.current);
            checkRetained(w.cursor, read.current, () => read.oldest, 'the watcher fell behind the retained history');
            pending = read.events;
          } catch (err) {
            if (stopped()) return;
            throw this.#coded('watch', err);
          }
          if (pending.length > 0) continue;
        }
        if (this.#tail.length === 0 && w.cursor > this.#tailEnd) this.#tailEnd = w.cursor;
        if (this.#known > w.cursor) this.#advance(false);
        // Catching up: the tail is being read; a bookmark now would be behind what is known.
        const catchingUp = this.#known > w.cursor && !this.#stalled;
        if (bookmarkMs !== undefined && !catchingUp && Date.now() - lastEmit >= bookmarkMs) {
          lastEmit = Date.now();
          yield bookmark(bookmarkKind, w.cursor);
          continue;
        }
        await new Promise<void>((resolve) => {
          w.wake = resolve;
          if (bookmarkMs !== undefined && !catchingUp) timer = setTimeout(resolve, Math.max(0, bookmarkMs - (Date.now() - lastEmit)));
        });
        w.wake = noop;
        clearTimeout(timer);
        timer = undefined;
      }
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.#watchers.delete(w);
      if (this.#watchers.size === 0) this.#tail = [];
    }
  }

  /** The counter, the oldest retained event and up to BATCH events after `cursor`, in one snapshot. */
  async #readAfter(cursor: number): Promise<Read> {
    const rows = (await this.#db.sql<EventRow>('reading events', SQL.eventsAfter, [cursor, BATCH])).rows;
    const first = rows[0] as EventRow;
    const events: StoredEvent[] = [];
    for (const r of rows) {
      if (r.revision !== null) events.push({ revision: r.revision, type: r.type, kind: r.kind, name: r.name, object: r.object, prev: r.prev });
    }
    return { current: first.current, oldest: first.oldest, events };
  }

  #fromTail(revision: number): StoredEvent | undefined {
    const first = this.#tailEnd - this.#tail.length + 1;
    if (revision < first || revision > this.#tailEnd) return undefined;
    return this.#tail[revision - first];
  }

  /** Adds the next event to the tail (only the next one: the tail has no gaps); false when it is not the next. */
  #append(ev: StoredEvent): boolean {
    if (ev.revision !== this.#tailEnd + 1) return false;
    this.#tail.push(ev);
    this.#tailEnd = ev.revision;
    if (this.#tail.length > 2 * MAX_TAIL) this.#tail.splice(0, this.#tail.length - MAX_TAIL);
    return true;
  }

  /** Adds events read from the table to the tail, as far as they continue it. */
  #extend(events: readonly StoredEvent[]): void {
    for (const ev of events) if (ev.revision > this.#tailEnd && !this.#append(ev)) break;
  }

  /** A revision known to be committed. */
  #see(revision: number): void {
    if (revision > this.#known) this.#known = revision;
  }

  /** After this replica's commit: the event goes to the tail when it is the next one; otherwise the tail is read up to it. */
  #committed(ev: StoredEvent): void {
    this.#see(ev.revision);
    if (this.#watchers.size === 0) return;
    this.#append(ev);
    this.#advance(false);
    for (const w of this.#watchers) w.wake();
  }

  /** Another replica's notification. */
  #heard(payload: string): void {
    const [from, rev] = payload.split(' ');
    const revision = Number(rev);
    if (from === this.#instance || !Number.isSafeInteger(revision)) return;
    this.#see(revision);
    this.#advance(false);
  }

  /** Reads the events this replica knows of into the tail, unless a read is under way (or failed and waits for the poll: `retry`). */
  #advance(retry: boolean): void {
    if (this.#pumping || this.#closed || this.#watchers.size === 0 || this.#known <= this.#tailEnd || (this.#stalled && !retry)) return;
    this.#pumping = true;
    void this.#pump().finally(() => {
      this.#pumping = false;
      for (const w of this.#watchers) w.wake();
    });
  }

  async #pump(): Promise<void> {
    try {
      while (!this.#closed && this.#watchers.size > 0 && this.#known > this.#tailEnd) {
        const from = this.#tailEnd;
        const known = this.#known;
        const read = await this.#readAfter(from);
        this.#see(read.current);
        if (from < read.current && (read.oldest === null || from < read.oldest - 1)) {
          // Compacted past the tail: it restarts at the current revision; watchers still behind it read the table (and get GONE).
          this.#tail = [];
          this.#tailEnd = read.current;
        } else {
          this.#extend(read.events);
          // Nothing after the tail although more was known, and nothing heard meanwhile: the database went back (was replaced).
          if (read.events.length === 0 && this.#known === known && read.current < known) this.#known = Math.max(read.current, this.#tailEnd);
        }
        this.#stalled = false;
        for (const w of this.#watchers) w.wake();
      }
    } catch (err) {
      if (this.#closed) return;
      this.#stalled = true;
      this.#logger?.warn({ error: (err as Error).message }, 'resource store: reading new events failed; trying again');
    }
  }

  /** While anyone watches: looks at the counter every POLL_MS, for writes whose notification this replica missed. */
  #startPoll(): void {
    if (this.#poll !== undefined) return;
    this.#poll = setInterval(() => {
      if (this.#closed || this.#watchers.size === 0) {
        clearInterval(this.#poll);
        this.#poll = undefined;
        return;
      }
      if (this.#polling) return;
      this.#polling = true;
      this.#readRevision()
        .then(() => this.#advance(true))
        .catch(() => {
          // The database is away: the next tick looks again.
        })
        .finally(() => {
          this.#polling = false;
        });
    }, POLL_MS);
    this.#poll.unref();
  }

  // -------------------------------------------------------------------------
  // Lifecycle and helpers

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#poll !== undefined) clearInterval(this.#poll);
    this.#poll = undefined;
    for (const w of this.#watchers) w.wake();
    this.#watchers.clear();
    this.#tail = [];
    try {
      await this.#db.close();
    } catch (err) {
      throw fail('close', err);
    }
    this.#logger?.debug({ database: this.#label, revision: this.#known }, 'resource store closed');
  }

  #ensureOpen(operation: string): void {
    if (this.#closed) throw new ErrClosed({ file: this.#label, operation });
  }

  /** A failure as the store's coded error: its own as they are, the engine's as EDGE_ERR_STORE_BACKEND (EDGE_ERR_STORE_CLOSED once closed). */
  #coded(operation: string, err: unknown): Error {
    if (this.#closed && (ErrBackend.is(err) || !isEdgeError(err))) return new ErrClosed({ file: this.#label, operation }, { cause: err });
    return isEdgeError(err) ? err : fail(operation, err);
  }

  async #run<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    this.#ensureOpen(operation);
    try {
      return await fn();
    } catch (err) {
      throw this.#coded(operation, err);
    }
  }
}
