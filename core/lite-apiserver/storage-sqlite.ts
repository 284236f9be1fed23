/**
 * The `sqlite` cache storage driver, for a heavier edge node: every entry is
 * a row of one SQLite file (better-sqlite3, synchronous), so thousands of
 * entries are one file and one open descriptor, not a directory of files.
 *
 * Schema (version 1, kept in `PRAGMA user_version`):
 *
 *   entries(key TEXT PRIMARY KEY, meta TEXT NOT NULL, body BLOB NOT NULL,
 *           size INTEGER NOT NULL, atime INTEGER NOT NULL), indexed on atime
 *
 * `size` is key + metadata JSON + body bytes; `atime` is a logical clock
 * (the largest atime at open, one tick per put or hit), not wall time: no two
 * entries tie and a clock change does not reorder them. A file of a newer
 * schema version, or a SQLite file holding other tables, is refused, never
 * changed.
 *
 * Atomic and durable: WAL with synchronous=NORMAL. In WAL mode a transaction
 * is atomic whatever the synchronous level: after any crash the file holds
 * the state before it or after it, never a part. NORMAL skips the fsync at
 * each commit, so what a put returned survives a process crash (kill -9);
 * a power cut may roll back the last puts, each whole, which for a cache is
 * a miss. FULL would add an fsync per put for nothing a cache needs.
 *
 * LRU: a hit gives the entry the next tick, kept in memory and written with
 * the next put (or after TOUCH_FLUSH hits, or at close) in one transaction:
 * a hit is one read, not a write transaction of its own (measured: that
 * tripled a hit's median, multiplied its p99 by ten and wrote a WAL frame
 * per hit, wearing flash storage). A put writes the pending ticks, inserts
 * at the next tick and deletes the entries of smallest atime until the total
 * is within the bound, all in one transaction, so eviction always sees every
 * hit. A crash loses at most the ticks not yet written: the recency order,
 * never an entry. The entry count and total bytes are computed at open and
 * kept in memory, updated after each commit. One process uses a file at a
 * time (the totals are that process's).
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createLogger, describeError, ensurePrivateFile, type Logger } from '../kernel/index.ts';
import { ErrCacheStorage } from './errors.ts';
import { checkMaxBytes, measureEntry, storageError, type CacheEntry, type CacheStorage, type StorageStats } from './storage.ts';

export interface SqliteStorageOptions {
  /** The database file; created with mode 0600, its folder with mode 0700. */
  path: string;
  /** Bound on key + metadata JSON + body bytes of all entries. */
  maxBytes: number;
}

const DRIVER = 'sqlite' as const;
/** The schema this code reads and writes (PRAGMA user_version). */
export const SQLITE_STORAGE_SCHEMA_VERSION = 1;

/** Hits whose ticks are written in one transaction without waiting for a put. */
const TOUCH_FLUSH = 512;

const SCHEMA = `
  CREATE TABLE entries (
    key TEXT PRIMARY KEY,
    meta TEXT NOT NULL,
    body BLOB NOT NULL,
    size INTEGER NOT NULL,
    atime INTEGER NOT NULL
  );
  CREATE INDEX entries_atime ON entries (atime);
  PRAGMA user_version = ${SQLITE_STORAGE_SCHEMA_VERSION};
`;

interface PutResult {
  bytes: number;
  replaced: boolean;
  evicted: number;
}

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: Database.Database) {
  return {
    totals: db.prepare<[], { entries: number; bytes: number; clock: number }>(
      'SELECT count(*) AS entries, coalesce(sum(size), 0) AS bytes, coalesce(max(atime), 0) AS clock FROM entries',
    ),
    get: db.prepare<[string], { meta: string; body: Buffer; atime: number }>('SELECT meta, body, atime FROM entries WHERE key = ?'),
    touch: db.prepare<[number, string]>('UPDATE entries SET atime = ? WHERE key = ?'),
    sizeOf: db.prepare<[string], { size: number }>('SELECT size FROM entries WHERE key = ?'),
    upsert: db.prepare<[string, string, Buffer, number, number]>(
      `INSERT INTO entries (key, meta, body, size, atime) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET meta = excluded.meta, body = excluded.body, size = excluded.size, atime = excluded.atime`,
    ),
    /** Deletes the least recently used entry other than `key` (any, for null); its size, or nothing when there is none. */
    evictOne: db.prepare<[string | null], { size: number }>(
      'DELETE FROM entries WHERE key = (SELECT key FROM entries WHERE key IS NOT ? ORDER BY atime LIMIT 1) RETURNING size',
    ),
    delete: db.prepare<[string], { size: number }>('DELETE FROM entries WHERE key = ? RETURNING size'),
    keys: db.prepare<[], string>('SELECT key FROM entries').pluck(),
    /** Keys from `prefix` on in byte order: those starting with it come first, together. */
    keysFrom: db.prepare<[string], string>('SELECT key FROM entries WHERE key >= ? ORDER BY key').pluck(),
  };
}

export function openSqliteStorage(o: SqliteStorageOptions, logger?: Logger): CacheStorage {
  return SqliteStorage.open(o, (logger ?? createLogger({ level: 'silent' })).child({ component: 'lite-apiserver-storage', driver: DRIVER, path: o.path }));
}

class SqliteStorage implements CacheStorage {
  readonly driver = DRIVER;
  readonly #file: string;
  readonly #maxBytes: number;
  readonly #log: Logger;
  readonly #db: Database.Database;
  readonly #sql: Statements;
  /** Upsert and evictions in one IMMEDIATE transaction (the write lock taken up front). */
  readonly #putTx: Database.Transaction<(key: string, meta: string, body: Buffer, size: number, atime: number) => PutResult>;
  #entries: number;
  #bytes: number;
  /** The largest atime given so far. */
  #clock: number;
  /** Hits not yet written: key -> its atime. */
  readonly #touched = new Map<string, number>();
  readonly #touchTx: Database.Transaction<() => void>;
  #evictions = 0;
  #refused = 0;
  #closed = false;

  static open(o: SqliteStorageOptions, log: Logger): SqliteStorage {
    checkOptions(o);
    const db = openDatabase(o.path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      migrate(db, o.path);
      return new SqliteStorage(o.path, o.maxBytes, log, db);
    } catch (err) {
      db.close();
      throw ErrCacheStorage.is(err) ? err : storageError(DRIVER, o.path, 'cannot open the database', err);
    }
  }

  private constructor(file: string, maxBytes: number, log: Logger, db: Database.Database) {
    this.#file = file;
    this.#maxBytes = maxBytes;
    this.#log = log;
    this.#db = db;
    this.#sql = prepareStatements(db);
    this.#putTx = db.transaction((key: string, meta: string, body: Buffer, size: number, atime: number) => this.#putInTx(key, meta, body, size, atime));
    this.#touchTx = db.transaction(() => this.#writeTouches());
    const totals = this.#sql.totals.get()!;
    this.#entries = totals.entries;
    this.#bytes = totals.bytes;
    this.#clock = totals.clock;
    // The bound may have been lowered since the entries were written.
    if (this.#bytes > this.#maxBytes) this.#evictAtOpen();
    log.debug({ entries: this.#entries, bytes: this.#bytes }, 'cache storage open');
  }

  get(key: string): CacheEntry | undefined {
    this.#assertOpen();
    try {
      const row = this.#sql.get.get(key);
      if (row === undefined) return undefined;
      const meta = parseMeta(row.meta);
      if (meta === undefined) {
        this.#log.warn('cache entry with unreadable metadata dropped');
        this.#deleteRow(key);
        return undefined;
      }
      this.#touch(key, row.atime);
      return { meta, body: row.body };
    } catch (err) {
      throw storageError(DRIVER, this.#file, 'get failed', err);
    }
  }

  put(key: string, entry: CacheEntry): boolean {
    this.#assertOpen();
    const { metaJson, size } = measureEntry(DRIVER, this.#file, key, entry);
    if (size > this.#maxBytes) {
      this.#refused += 1;
      // The caller meant to replace what the key held: never serve the older entry.
      this.delete(key);
      this.#log.debug({ size, maxBytes: this.#maxBytes }, 'cache entry larger than the bound refused');
      return false;
    }
    let r: PutResult;
    try {
      r = this.#putTx.immediate(key, metaJson, entry.body, size, this.#clock + 1);
    } catch (err) {
      throw storageError(DRIVER, this.#file, 'put failed', err);
    }
    this.#touched.clear();
    this.#clock += 1;
    this.#bytes = r.bytes;
    this.#entries += (r.replaced ? 0 : 1) - r.evicted;
    this.#evictions += r.evicted;
    return true;
  }

  delete(key: string): void {
    this.#assertOpen();
    try {
      this.#deleteRow(key);
    } catch (err) {
      throw storageError(DRIVER, this.#file, 'delete failed', err);
    }
  }

  keys(prefix?: string): string[] {
    this.#assertOpen();
    try {
      if (prefix === undefined || prefix === '') return this.#sql.keys.all();
      const out: string[] = [];
      for (const k of this.#sql.keysFrom.iterate(prefix)) {
        if (!k.startsWith(prefix)) break;
        out.push(k);
      }
      return out;
    } catch (err) {
      throw storageError(DRIVER, this.#file, 'keys failed', err);
    }
  }

  stats(): StorageStats {
    this.#assertOpen();
    return {
      driver: DRIVER,
      entries: this.#entries,
      bytes: this.#bytes,
      maxBytes: this.#maxBytes,
      evictions: this.#evictions,
      refused: this.#refused,
      discarded: 0,
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#flushTouches();
    } catch (err) {
      // Only the recency order of the last hits is lost; the entries are all there.
      this.#log.warn({ err: describeError(err) }, 'cache hits not recorded at close');
    } finally {
      this.#db.close();
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new ErrCacheStorage({ driver: DRIVER, path: this.#file, reason: 'used after close' });
  }

  /** Makes `key` the most recently used (unless it already is); writes the ticks when enough are pending. */
  #touch(key: string, atime: number): void {
    if (atime === this.#clock || this.#touched.get(key) === this.#clock) return;
    this.#clock += 1;
    this.#touched.set(key, this.#clock);
    if (this.#touched.size >= TOUCH_FLUSH) this.#flushTouches();
  }

  #flushTouches(): void {
    if (this.#touched.size === 0) return;
    this.#touchTx.immediate();
    this.#touched.clear();
  }

  /** Inside a transaction: the pending hits' atimes (a key deleted since is no row to update). */
  #writeTouches(): void {
    for (const [key, atime] of this.#touched) this.#sql.touch.run(atime, key);
  }

  /** Inside the put's transaction: writes pending hits, upserts, then evicts least recently used entries until within the bound. */
  #putInTx(key: string, meta: string, body: Buffer, size: number, atime: number): PutResult {
    this.#writeTouches();
    const old = this.#sql.sizeOf.get(key);
    this.#sql.upsert.run(key, meta, body, size, atime);
    let bytes = this.#bytes - (old?.size ?? 0) + size;
    let evicted = 0;
    while (bytes > this.#maxBytes) {
      const gone = this.#sql.evictOne.get(key);
      if (gone === undefined) break;
      bytes -= gone.size;
      evicted += 1;
    }
    return { bytes, replaced: old !== undefined, evicted };
  }

  #deleteRow(key: string): void {
    this.#touched.delete(key);
    const gone = this.#sql.delete.get(key);
    if (gone === undefined) return;
    this.#entries -= 1;
    this.#bytes -= gone.size;
  }

  #evictAtOpen(): void {
    const evictAll = this.#db.transaction(() => {
      let evicted = 0;
      let bytes = this.#bytes;
      while (bytes > this.#maxBytes) {
        const gone = this.#sql.evictOne.get(null);
        if (gone === undefined) break;
        bytes -= gone.size;
        evicted += 1;
      }
      return { evicted, bytes };
    });
    const r = evictAll.immediate();
    this.#entries -= r.evicted;
    this.#bytes = r.bytes;
    this.#evictions += r.evicted;
  }
}


function checkOptions(o: SqliteStorageOptions): void {
  if (typeof o.path !== 'string' || o.path === '' || o.path === ':memory:' || o.path.startsWith('file:')) {
    throw new ErrCacheStorage({ driver: DRIVER, path: String(o.path), reason: 'path must be the path of a database file' });
  }
  checkMaxBytes(DRIVER, o.path, o.maxBytes);
}

/** Opens (creating it 0600, and its missing folders 0700) the database file. */
function openDatabase(file: string): Database.Database {
  try {
    const dir = path.dirname(path.resolve(file));
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    ensurePrivateFile(file);
    return new Database(file);
  } catch (err) {
    throw storageError(DRIVER, file, 'cannot open the database', err);
  }
}

/** Creates the schema in a new file; refuses a newer schema version or a file that holds something else. */
function migrate(db: Database.Database, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SQLITE_STORAGE_SCHEMA_VERSION) {
    throw new ErrCacheStorage({
      driver: DRIVER,
      path: file,
      reason: `schema version ${version} is newer than this edgeadm's (${SQLITE_STORAGE_SCHEMA_VERSION}): upgrade edgeadm or remove the file`,
    });
  }
  if (version === SQLITE_STORAGE_SCHEMA_VERSION) return;
  const tables = db.prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all();
  if (tables.length > 0) {
    throw new ErrCacheStorage({
      driver: DRIVER,
      path: file,
      reason: `not a lite-apiserver cache: it has tables (${tables.slice(0, 5).join(', ')}) but no schema version`,
    });
  }
  db.transaction(() => db.exec(SCHEMA)).immediate();
}


/** Stored metadata back as an object, or undefined when the row was edited into something else. */
function parseMeta(json: string): Record<string, unknown> | undefined {
  try {
    const meta: unknown = JSON.parse(json);
    return typeof meta === 'object' && meta !== null && !Array.isArray(meta) ? (meta as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
