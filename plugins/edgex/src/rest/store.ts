/**
 * core-data's role at the site: the readings of the site's reading feed kept
 * in the plugin's own SQLite file, as EdgeX events, for the REST API's event
 * and reading queries.
 *
 * Rules:
 * - One event per reading, its source the reading's resource, as the
 *   message bus publishes it (publisher.ts); the event and reading as JSON,
 *   encoded once on the way in.
 * - Indexed by device and origin, and by device, resource and origin;
 *   queries answer newest first (EdgeX's order), with offset and limit.
 * - Retention: at most `maxCount` readings and none older than `maxAgeMs`
 *   (by origin); pruned after each batch (count) and every `pruneEveryMs` (age).
 * - A reading that cannot be encoded (a value that does not fit its
 *   valueType) is skipped and counted, never a crash.
 */
import Database from 'better-sqlite3';
import path from 'node:path';
import { edgexEventOf, MAX_ORIGIN, type EdgeXEvent, type EdgeXReading, type Reading } from '../../../../core/sdk/index.ts';

export interface ReadingStoreOptions {
  /** The folder of the database file (`core-data.db`). */
  dir: string;
  maxCount: number;
  maxAgeMs: number;
}

/** A time window and page of a query; `start`/`end` in nanoseconds, inclusive. */
export interface StoreQuery {
  offset: number;
  /** -1: every match. */
  limit: number;
  start?: number;
  end?: number;
}

/** One page of a query, and how many match in all. */
export interface Page<T> {
  totalCount: number;
  items: T[];
}

const MS_NS = 1_000_000;

export class ReadingStore {
  readonly #db: Database.Database;
  readonly #o: ReadingStoreOptions;
  readonly #stmts;
  #skipped = 0;
  /** Rows in the table (counted at open, then kept). */
  #count: number;

  constructor(o: ReadingStoreOptions) {
    this.#o = o;
    this.#db = new Database(path.join(o.dir, 'core-data.db'));
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS readings (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device TEXT NOT NULL, resource TEXT NOT NULL, origin INTEGER NOT NULL,
        event TEXT NOT NULL, reading TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS readings_device ON readings (device, origin);
      CREATE INDEX IF NOT EXISTS readings_resource ON readings (device, resource, origin);
      CREATE INDEX IF NOT EXISTS readings_origin ON readings (origin);
    `);
    const window = 'origin >= @start AND origin <= @end';
    this.#stmts = {
      insert: this.#db.prepare('INSERT INTO readings (device, resource, origin, event, reading) VALUES (?, ?, ?, ?, ?)'),
      count: this.#db.prepare<[], { n: number }>('SELECT count(*) AS n FROM readings'),
      byDevice: this.#db.prepare<Record<string, unknown>, { event: string; reading: string }>(
        `SELECT event, reading FROM readings WHERE device = @device AND ${window} ORDER BY origin DESC, id DESC LIMIT @limit OFFSET @offset`,
      ),
      countDevice: this.#db.prepare<Record<string, unknown>, { n: number }>(`SELECT count(*) AS n FROM readings WHERE device = @device AND ${window}`),
      byResource: this.#db.prepare<Record<string, unknown>, { event: string; reading: string }>(
        `SELECT event, reading FROM readings WHERE device = @device AND resource = @resource AND ${window} ORDER BY origin DESC, id DESC LIMIT @limit OFFSET @offset`,
      ),
      countResource: this.#db.prepare<Record<string, unknown>, { n: number }>(`SELECT count(*) AS n FROM readings WHERE device = @device AND resource = @resource AND ${window}`),
      all: this.#db.prepare<Record<string, unknown>, { event: string; reading: string }>(`SELECT event, reading FROM readings WHERE ${window} ORDER BY origin DESC, id DESC LIMIT @limit OFFSET @offset`),
      countAll: this.#db.prepare<Record<string, unknown>, { n: number }>(`SELECT count(*) AS n FROM readings WHERE ${window}`),
      pruneCount: this.#db.prepare('DELETE FROM readings WHERE id <= (SELECT id FROM readings ORDER BY id DESC LIMIT 1 OFFSET ?)'),
      pruneAge: this.#db.prepare('DELETE FROM readings WHERE origin < ?'),
    };
    this.#count = this.#stmts.count.get()?.n ?? 0;
  }

  /** Readings kept now. */
  get size(): number {
    return this.#count;
  }

  /** Readings skipped because they could not be encoded as EdgeX readings. */
  get skipped(): number {
    return this.#skipped;
  }

  /** Keeps a batch of the feed's readings, in one transaction, then applies the count limit. */
  add(readings: readonly Reading[]): void {
    this.#db.transaction(() => {
      for (const r of readings) {
        let event: EdgeXEvent;
        try {
          event = edgexEventOf([r]);
        } catch {
          this.#skipped += 1;
          continue;
        }
        const [reading] = event.readings;
        const { readings: _omit, ...head } = event;
        this.#stmts.insert.run(r.device, r.resource, r.origin, JSON.stringify(head), JSON.stringify(reading));
        this.#count += 1;
      }
      if (this.#count > this.#o.maxCount) this.#count -= this.#stmts.pruneCount.run(this.#o.maxCount).changes;
    })();
  }

  /** Drops readings older than the max age. */
  pruneAge(now = Date.now()): void {
    this.#count -= this.#stmts.pruneAge.run((now - this.#o.maxAgeMs) * MS_NS).changes;
  }

  #params(q: StoreQuery, extra: Record<string, unknown>): Record<string, unknown> {
    return { ...extra, start: q.start ?? 0, end: q.end ?? MAX_ORIGIN, limit: q.limit, offset: q.offset };
  }

  #page<T>(rows: { event: string; reading: string }[], total: number, as: (event: Omit<EdgeXEvent, 'readings'>, reading: EdgeXReading) => T): Page<T> {
    return { totalCount: total, items: rows.map((r) => as(JSON.parse(r.event) as Omit<EdgeXEvent, 'readings'>, JSON.parse(r.reading) as EdgeXReading)) };
  }

  /** Events of a device (or of every device), newest first. */
  events(device: string | undefined, q: StoreQuery): Page<EdgeXEvent> {
    return this.#query(device, undefined, q, (event, reading) => ({ ...event, readings: [reading] }));
  }

  /** Readings of a device (and resource; or of every device), newest first. */
  readings(device: string | undefined, resource: string | undefined, q: StoreQuery): Page<EdgeXReading> {
    return this.#query(device, resource, q, (_e, reading) => reading);
  }

  #query<T>(device: string | undefined, resource: string | undefined, q: StoreQuery, as: (event: Omit<EdgeXEvent, 'readings'>, reading: EdgeXReading) => T): Page<T> {
    if (device === undefined) {
      const p = this.#params(q, {});
      return this.#page(this.#stmts.all.all(p), this.#stmts.countAll.get(p)?.n ?? 0, as);
    }
    if (resource === undefined) {
      const p = this.#params(q, { device });
      return this.#page(this.#stmts.byDevice.all(p), this.#stmts.countDevice.get(p)?.n ?? 0, as);
    }
    const p = this.#params(q, { device, resource });
    return this.#page(this.#stmts.byResource.all(p), this.#stmts.countResource.get(p)?.n ?? 0, as);
  }

  close(): void {
    this.#db.close();
  }
}
