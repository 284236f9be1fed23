/**
 * The hub's telemetry store (SQLite, WAL). Ingest is idempotent on
 * (site, seq): a batch is validated whole, then inserted with INSERT OR
 * IGNORE in one transaction, so a batch delivered twice (an uplink retry, an
 * MQTT redelivery) leaves exactly one copy. Queries page by a keyset cursor
 * over (origin, site, seq); live subscribers hear each ingest after commit.
 */
import Database from 'better-sqlite3';
import type { Registry } from 'prom-client';
import { createLogger, describeError, type Logger } from '../kernel/index.ts';
import type { Reading } from '../sdk/index.ts';
import { Q_CODE, readingFromColumns, VT_CODE, type ReadingColumns } from './rows.ts';
import { ErrClosed, ErrCursor, ErrQuery } from './codes.ts';
import { counter } from './metrics.ts';
import type { IngestResult, LiveFilter, TelemetryPage, TelemetryQuery, TelemetryStore } from './types.ts';
import { validateBatch } from './validate.ts';

export interface TelemetryStoreOptions {
  file: string;
  metrics?: Registry;
  logger?: Logger;
}

export const DEFAULT_QUERY_LIMIT = 1000;
export const MAX_QUERY_LIMIT = 10_000;


type Row = [site: string, ...ReadingColumns];
const COLUMNS = 'site, seq, origin, device, profile, resource, vt, q, value, units, detail';

/** The row key a cursor points at: the page order is (origin, site, seq). */
type CursorKey = [origin: number, site: string, seq: number];

function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor(cursor: string): CursorKey {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (err) {
    throw new ErrCursor({ cursor }, { cause: err });
  }
  if (
    !Array.isArray(key) ||
    key.length !== 3 ||
    !Number.isInteger(key[0]) ||
    typeof key[1] !== 'string' ||
    !Number.isInteger(key[2])
  ) {
    throw new ErrCursor({ cursor });
  }
  return key as CursorKey;
}

function checkString(field: string, v: unknown): void {
  if (v !== undefined && (typeof v !== 'string' || v.length === 0)) throw new ErrQuery({ field, reason: 'must be a non-empty string' });
}

function checkOrigin(field: string, v: unknown): void {
  if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0)) {
    throw new ErrQuery({ field, reason: 'must be a non-negative integer (ns since the epoch)' });
  }
}

function matches(filter: LiveFilter, r: Reading): boolean {
  return (
    (filter.site === undefined || filter.site === r.site) &&
    (filter.device === undefined || filter.device === r.device) &&
    (filter.resource === undefined || filter.resource === r.resource)
  );
}

function toReading([site, ...rest]: Row): Reading {
  return readingFromColumns(site, rest);
}

export function openTelemetryStore(opts: TelemetryStoreOptions): TelemetryStore {
  const log = (opts.logger ?? createLogger({ level: 'silent' })).child({ component: 'telemetry-store' });
  const ingested = counter(opts.metrics, 'edgeadm_telemetry_ingested_total', 'Readings accepted into the hub telemetry store, by site.', ['site']);
  const duplicates = counter(opts.metrics, 'edgeadm_telemetry_duplicates_total', 'Readings delivered again and ignored (same site and seq).');

  const db = new Database(opts.file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(`
      CREATE TABLE IF NOT EXISTS telemetry (
        site TEXT NOT NULL,
        seq INTEGER NOT NULL,
        origin INTEGER NOT NULL,
        device TEXT NOT NULL,
        profile TEXT NOT NULL,
        resource TEXT NOT NULL,
        vt INTEGER NOT NULL,
        q INTEGER NOT NULL,
        value TEXT NOT NULL,
        units TEXT,
        detail TEXT,
        PRIMARY KEY (site, seq)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS telemetry_device_time ON telemetry (site, device, origin, seq);
      CREATE INDEX IF NOT EXISTS telemetry_site_time ON telemetry (site, origin, seq);
    `);
  } catch (err) {
    db.close();
    throw err;
  }

  const insert = db.prepare(`INSERT OR IGNORE INTO telemetry (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const maxSeq = db.prepare<[string], { m: number | null }>('SELECT MAX(seq) AS m FROM telemetry WHERE site = ?');
  const cache = new Map<string, Database.Statement>();
  function prepared(sql: string): Database.Statement {
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      cache.set(sql, s);
    }
    return s;
  }

  const subscribers = new Set<{ filter: LiveFilter; cb: (readings: readonly Reading[]) => void }>();
  let closed = false;

  function ensureOpen(): void {
    if (closed) throw new ErrClosed({ what: 'telemetry store' });
  }

  const ingestTx = db.transaction((readings: readonly Reading[]): Reading[] => {
    const accepted: Reading[] = [];
    for (const r of readings) {
      const info = insert.run(
        r.site,
        r.seq,
        r.origin,
        r.device,
        r.profile,
        r.resource,
        VT_CODE.get(r.valueType),
        Q_CODE.get(r.quality),
        JSON.stringify(r.value),
        r.units ?? null,
        r.qualityDetail ?? null,
      );
      if (info.changes === 1) accepted.push(r);
    }
    return accepted;
  });

  function where(f: LiveFilter & { from?: number; to?: number }): { clauses: string[]; params: (string | number)[] } {
    const clauses: string[] = [];
    const params: (string | number)[] = [];
    if (f.site !== undefined) {
      clauses.push('site = ?');
      params.push(f.site);
    }
    if (f.device !== undefined) {
      clauses.push('device = ?');
      params.push(f.device);
    }
    if (f.resource !== undefined) {
      clauses.push('resource = ?');
      params.push(f.resource);
    }
    if (f.from !== undefined) {
      clauses.push('origin >= ?');
      params.push(f.from);
    }
    if (f.to !== undefined) {
      clauses.push('origin <= ?');
      params.push(f.to);
    }
    return { clauses, params };
  }

  function notify(accepted: readonly Reading[]): void {
    for (const sub of subscribers) {
      const f = sub.filter;
      const mine = f.site === undefined && f.device === undefined && f.resource === undefined ? accepted : accepted.filter((r) => matches(f, r));
      if (mine.length === 0) continue;
      try {
        sub.cb(mine);
      } catch (err) {
        log.error({ err: describeError(err) }, 'telemetry subscriber threw; the ingest itself is committed');
      }
    }
  }

  return {
    ingest(site: string, readings: readonly Reading[]): IngestResult {
      ensureOpen();
      validateBatch(readings, site, 'reading', 'the site this batch was sent for');
      if (readings.length === 0) return { accepted: 0, duplicates: 0 };
      const accepted = ingestTx(readings);
      const dups = readings.length - accepted.length;
      if (accepted.length > 0) ingested.inc({ site }, accepted.length);
      if (dups > 0) duplicates.inc(dups);
      if (accepted.length > 0 && subscribers.size > 0) notify(accepted);
      return { accepted: accepted.length, duplicates: dups };
    },

    query(q: TelemetryQuery): TelemetryPage {
      ensureOpen();
      checkString('site', q.site);
      checkString('device', q.device);
      checkString('resource', q.resource);
      checkOrigin('from', q.from);
      checkOrigin('to', q.to);
      const limit = q.limit ?? DEFAULT_QUERY_LIMIT;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_QUERY_LIMIT) {
        throw new ErrQuery({ field: 'limit', reason: `must be an integer from 1 to ${MAX_QUERY_LIMIT}, got ${String(limit)}` });
      }
      const desc = q.descending === true;
      const cmp = desc ? '<' : '>';
      // Past the first page the cursor already bounds the near end of the range;
      // keeping that bound too would make SQLite seek by it and filter by the cursor.
      const afterCursor = q.cursor !== undefined;
      const { clauses, params } = where({
        ...q,
        from: afterCursor && !desc ? undefined : q.from,
        to: afterCursor && desc ? undefined : q.to,
      });
      if (q.cursor !== undefined) {
        if (typeof q.cursor !== 'string') throw new ErrCursor({ cursor: String(q.cursor) });
        const [origin, site, seq] = decodeCursor(q.cursor);
        // With a fixed site the order within it is (origin, seq); the row-value
        // comparison lets SQLite seek the index instead of filtering.
        if (q.site !== undefined) {
          clauses.push(`(origin, seq) ${cmp} (?, ?)`);
          params.push(origin, seq);
        } else {
          clauses.push(`(origin, site, seq) ${cmp} (?, ?, ?)`);
          params.push(origin, site, seq);
        }
      }
      const dir = desc ? 'DESC' : 'ASC';
      const order = q.site !== undefined ? `origin ${dir}, seq ${dir}` : `origin ${dir}, site ${dir}, seq ${dir}`;
      const sql = `SELECT ${COLUMNS} FROM telemetry${clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ?`;
      const rows = prepared(sql)
        .raw(true)
        .all(...params, limit + 1) as Row[];
      const more = rows.length > limit;
      if (more) rows.pop();
      const items = rows.map(toReading);
      const last = items.at(-1);
      return more && last ? { items, next: encodeCursor([last.origin, last.site, last.seq]) } : { items };
    },

    subscribe(filter: LiveFilter, onReadings: (readings: readonly Reading[]) => void): () => void {
      ensureOpen();
      const sub = { filter: { ...filter }, cb: onReadings };
      subscribers.add(sub);
      return () => void subscribers.delete(sub);
    },

    lastSeq(site: string): number {
      ensureOpen();
      return maxSeq.get(site)!.m ?? 0;
    },

    count(filter: LiveFilter = {}): number {
      ensureOpen();
      const { clauses, params } = where(filter);
      const sql = `SELECT COUNT(*) FROM telemetry${clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : ''}`;
      return prepared(sql).pluck(true).get(...params) as number;
    },

    close(): void {
      if (closed) return;
      closed = true;
      subscribers.clear();
      db.close();
    },
  };
}
