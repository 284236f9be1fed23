/**
 * The hub's telemetry store (SQLite, WAL). Readings belong to their
 * producer: the credential that sent them (`node:<name>` or `token:<id>`,
 * taken from the request, never from the batch) and the stream id its
 * outbox sends under. Ingest is idempotent on (site, producer, stream, seq):
 * a batch delivered twice (an uplink retry, an MQTT redelivery) leaves
 * exactly one copy, and no credential can claim another producer's seqs.
 *
 * A batch is validated whole, then stored in one transaction. A seq that is
 * already held with other content is a conflict: the stored reading stays,
 * the incoming one is quarantined, and the producer is told (its outbox was
 * restored from an older copy, or another agent uses its identity). A stream
 * that declares a lastSeq below one it declared before is refused
 * (EDGE_ERR_TELEMETRY_STREAM_REWOUND) so the producer starts a new stream.
 * Readings the caller classifies (unknown device or resource) are
 * quarantined, not dropped. Every duplicate, conflict and quarantined
 * reading is counted per site.
 *
 * Queries page by a keyset cursor over (origin, site, stream, seq); live
 * subscribers hear each ingest after commit. Schema versions are kept in
 * `PRAGMA user_version`; a file of the first version (keyed by site and seq)
 * is migrated at open into one `legacy/v1` stream per site.
 */
import Database from 'better-sqlite3';
import type { Registry } from 'prom-client';
import { createLogger, describeError, ensurePrivateFile, type Logger } from '../kernel/index.ts';
import type { Reading, StoredReading } from '../sdk/index.ts';
import { Q_CODE, readingFromColumns, VT_CODE, type ReadingColumns } from './rows.ts';
import { ErrClosed, ErrCursor, ErrQuery, ErrSeq, ErrStreamHeader, ErrStreamRewound } from './errors.ts';
import { counter } from './metrics.ts';
import type {
  IngestOptions,
  IngestResult,
  LiveFilter,
  QuarantinedReading,
  QuarantineReason,
  StreamInfo,
  StreamKey,
  TelemetryPage,
  TelemetryQuery,
  TelemetryStore,
} from './types.ts';
import { validateBatch } from './validate.ts';

export interface TelemetryStoreOptions {
  file: string;
  metrics?: Registry;
  logger?: Logger;
}

export const DEFAULT_QUERY_LIMIT = 1000;
export const MAX_QUERY_LIMIT = 10_000;
/** A producer's stream id: what an outbox makes (22 base64url characters), with room for other producers. */
export const STREAM_ID_RE = /^[A-Za-z0-9_-]{8,64}$/;

const SCHEMA_VERSION = 2;
/** The producer and stream every reading of a first-version file is migrated into. */
const LEGACY_PRODUCER = 'legacy';
const LEGACY_STREAM = 'v1';

type Row = [sid: number, site: string, ...ReadingColumns];
const COLUMNS = 'sid, site, seq, origin, device, profile, resource, vt, q, value, units, detail';

/** The row key a cursor points at: the page order is (origin, site, stream, seq). */
type CursorKey = [origin: number, site: string, sid: number, seq: number];

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
  if (!Array.isArray(key) || key.length !== 4 || !Number.isInteger(key[0]) || typeof key[1] !== 'string' || !Number.isInteger(key[2]) || !Number.isInteger(key[3])) {
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

/** Checks the stream header and the batch's seqs; nothing is written when they fail. */
function checkBatch(key: StreamKey, readings: readonly Reading[]): void {
  const h = key.stream as Partial<StreamKey['stream']> | undefined;
  if (typeof key.producer !== 'string' || key.producer.length === 0) throw new ErrStreamHeader({ field: 'producer', reason: 'must be a non-empty string' });
  if (h === undefined || h === null || typeof h !== 'object') throw new ErrStreamHeader({ field: 'stream', reason: 'must be an object { id, lastSeq }' });
  if (typeof h.id !== 'string' || !STREAM_ID_RE.test(h.id)) throw new ErrStreamHeader({ field: 'stream.id', reason: `must match ${STREAM_ID_RE.source}` });
  if (typeof h.lastSeq !== 'number' || !Number.isSafeInteger(h.lastSeq) || h.lastSeq < 0) throw new ErrStreamHeader({ field: 'stream.lastSeq', reason: 'must be a non-negative safe integer' });
  let prev = 0;
  for (let i = 0; i < readings.length; i++) {
    const seq = readings[i]!.seq;
    if (seq <= prev) throw new ErrSeq({ index: i, seq, reason: `does not follow seq ${prev} of reading [${i - 1}]: seqs of a batch strictly increase` });
    if (seq > h.lastSeq) throw new ErrSeq({ index: i, seq, reason: `is beyond the last seq stream '${h.id}' has issued (${h.lastSeq})` });
    prev = seq;
  }
}

interface StreamRow {
  sid: number;
  site: string;
  producer: string;
  stream: string;
  held: number;
  quarantined: number;
  conflicts: number;
  duplicates: number;
  high_seq: number;
  declared_last: number;
  first_at: number;
  last_at: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function streamInfo(r: StreamRow): StreamInfo {
  return {
    site: r.site,
    producer: r.producer,
    id: r.stream,
    name: `${r.producer}/${r.stream}`,
    held: r.held,
    quarantined: r.quarantined,
    conflicts: r.conflicts,
    duplicates: r.duplicates,
    highSeq: r.high_seq,
    declaredLastSeq: r.declared_last,
    firstIngestAt: iso(r.first_at),
    lastIngestAt: iso(r.last_at),
  };
}

/** Creates the tables of the current version, migrating a first-version file in place. */
function migrate(db: Database.Database, log: Logger): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version === SCHEMA_VERSION) return;
  if (version > SCHEMA_VERSION) throw new Error(`telemetry file has schema version ${version}; this edgeadm knows up to ${SCHEMA_VERSION}`);
  db.transaction(() => {
    const legacy = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'telemetry'").get() !== undefined;
    if (legacy) {
      db.exec('DROP INDEX IF EXISTS telemetry_device_time; DROP INDEX IF EXISTS telemetry_site_time; ALTER TABLE telemetry RENAME TO telemetry_v1');
    }
    db.exec(`
      CREATE TABLE telemetry_streams (
        sid INTEGER PRIMARY KEY,
        site TEXT NOT NULL,
        producer TEXT NOT NULL,
        stream TEXT NOT NULL,
        held INTEGER NOT NULL DEFAULT 0,
        quarantined INTEGER NOT NULL DEFAULT 0,
        conflicts INTEGER NOT NULL DEFAULT 0,
        duplicates INTEGER NOT NULL DEFAULT 0,
        high_seq INTEGER NOT NULL DEFAULT 0,
        declared_last INTEGER NOT NULL DEFAULT 0,
        first_at INTEGER NOT NULL,
        last_at INTEGER NOT NULL,
        UNIQUE (site, producer, stream)
      ) STRICT;
      CREATE TABLE telemetry (
        sid INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        site TEXT NOT NULL,
        origin INTEGER NOT NULL,
        device TEXT NOT NULL,
        profile TEXT NOT NULL,
        resource TEXT NOT NULL,
        vt INTEGER NOT NULL,
        q INTEGER NOT NULL,
        value TEXT NOT NULL,
        units TEXT,
        detail TEXT,
        PRIMARY KEY (sid, seq)
      ) WITHOUT ROWID;
      CREATE INDEX telemetry_device_time ON telemetry (site, device, origin, sid, seq);
      CREATE INDEX telemetry_site_time ON telemetry (site, origin, sid, seq);
      CREATE TABLE telemetry_quarantine (
        sid INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        reason TEXT NOT NULL,
        site TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        reading TEXT NOT NULL,
        PRIMARY KEY (sid, seq, reason)
      ) WITHOUT ROWID;
      CREATE INDEX telemetry_quarantine_time ON telemetry_quarantine (site, received_at);
    `);
    if (legacy) {
      const now = Date.now();
      db.prepare(
        `INSERT INTO telemetry_streams (site, producer, stream, held, high_seq, declared_last, first_at, last_at)
         SELECT site, ?, ?, COUNT(*), MAX(seq), MAX(seq), ?, ? FROM telemetry_v1 GROUP BY site`,
      ).run(LEGACY_PRODUCER, LEGACY_STREAM, now, now);
      const moved = db
        .prepare(
          `INSERT INTO telemetry (${COLUMNS})
           SELECT s.sid, t.site, t.seq, t.origin, t.device, t.profile, t.resource, t.vt, t.q, t.value, t.units, t.detail
           FROM telemetry_v1 t JOIN telemetry_streams s ON s.site = t.site AND s.producer = ? AND s.stream = ?`,
        )
        .run(LEGACY_PRODUCER, LEGACY_STREAM).changes;
      db.exec('DROP TABLE telemetry_v1');
      log.info({ readings: moved, producer: LEGACY_PRODUCER, stream: LEGACY_STREAM }, 'telemetry file migrated to producer streams');
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

export function openTelemetryStore(opts: TelemetryStoreOptions): TelemetryStore {
  const log = (opts.logger ?? createLogger({ level: 'silent' })).child({ component: 'telemetry-store' });
  const ingested = counter(opts.metrics, 'edgeadm_telemetry_ingested_total', 'Readings stored in the hub telemetry store, by site.', ['site']);
  const duplicates = counter(opts.metrics, 'edgeadm_telemetry_duplicates_total', 'Readings delivered again with the same content and ignored, by site.', ['site']);
  const conflicts = counter(
    opts.metrics,
    'edgeadm_telemetry_conflicts_total',
    'Readings whose (producer, stream, seq) the hub already held with other content: quarantined, by site.',
    ['site'],
  );
  const quarantinedTotal = counter(opts.metrics, 'edgeadm_telemetry_quarantined_total', 'Readings kept in quarantine instead of stored, by site and reason.', ['site', 'reason']);

  ensurePrivateFile(opts.file);
  const db = new Database(opts.file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    migrate(db, log);
  } catch (err) {
    db.close();
    throw err;
  }

  const stmt = {
    insert: db.prepare(`INSERT OR IGNORE INTO telemetry (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    stored: db.prepare<[number, number], (string | number | null)[]>('SELECT origin, device, profile, resource, vt, q, value, units, detail FROM telemetry WHERE sid = ? AND seq = ?').raw(true),
    quarantine: db.prepare<[number, number, string, string, number, string]>(
      'INSERT OR IGNORE INTO telemetry_quarantine (sid, seq, reason, site, received_at, reading) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    streamOf: db.prepare<[string, string, string], StreamRow>('SELECT * FROM telemetry_streams WHERE site = ? AND producer = ? AND stream = ?'),
    newStream: db.prepare<[string, string, string, number, number]>('INSERT INTO telemetry_streams (site, producer, stream, first_at, last_at) VALUES (?, ?, ?, ?, ?)'),
    updateStream: db.prepare<[number, number, number, number, number, number, number, number]>(
      `UPDATE telemetry_streams SET held = held + ?, quarantined = quarantined + ?, conflicts = conflicts + ?, duplicates = duplicates + ?,
         high_seq = MAX(high_seq, ?), declared_last = MAX(declared_last, ?), last_at = ? WHERE sid = ?`,
    ),
    allStreams: db.prepare<[], StreamRow>('SELECT * FROM telemetry_streams ORDER BY site, producer, first_at, sid'),
    siteStreams: db.prepare<[string], StreamRow>('SELECT * FROM telemetry_streams WHERE site = ? ORDER BY producer, first_at, sid'),
  };

  /** sid -> `<producer>/<stream>`: streams are few and never renamed. */
  const names = new Map<number, string>();
  for (const r of stmt.allStreams.all()) names.set(r.sid, `${r.producer}/${r.stream}`);

  const cache = new Map<string, Database.Statement>();
  function prepared(sql: string): Database.Statement {
    let st = cache.get(sql);
    if (!st) {
      st = db.prepare(sql);
      cache.set(sql, st);
    }
    return st;
  }

  const subscribers = new Set<{ filter: LiveFilter; cb: (readings: readonly StoredReading[]) => void }>();
  let closed = false;

  function ensureOpen(): void {
    if (closed) throw new ErrClosed({ what: 'telemetry store' });
  }

  function toReading([sid, site, ...rest]: Row): StoredReading {
    const r = readingFromColumns(site, rest) as StoredReading;
    r.stream = names.get(sid) ?? String(sid);
    return r;
  }

  interface Outcome {
    accepted: Reading[];
    duplicates: number;
    conflicts: number;
    quarantined: Map<QuarantineReason, number>;
  }

  const ingestTx = db.transaction((key: StreamKey, readings: readonly Reading[], opts: IngestOptions): Outcome => {
    const { classify } = opts;
    const now = Date.now();
    let row = stmt.streamOf.get(key.site, key.producer, key.stream.id);
    if (!row) {
      stmt.newStream.run(key.site, key.producer, key.stream.id, now, now);
      row = stmt.streamOf.get(key.site, key.producer, key.stream.id)!;
      names.set(row.sid, `${key.producer}/${key.stream.id}`);
    } else if (key.stream.lastSeq < row.declared_last && opts.acceptRewound !== true) {
      throw new ErrStreamRewound({ site: key.site, producer: key.producer, stream: key.stream.id, declared: key.stream.lastSeq, known: row.declared_last });
    }
    const sid = row.sid;
    const out: Outcome = { accepted: [], duplicates: 0, conflicts: 0, quarantined: new Map() };
    let high = 0;
    const keep = (r: Reading, reason: QuarantineReason): boolean => stmt.quarantine.run(sid, r.seq, reason, key.site, now, JSON.stringify(r)).changes === 1;
    for (const r of readings) {
      high = r.seq;
      const reason = classify?.(r);
      if (reason !== undefined) {
        if (keep(r, reason)) out.quarantined.set(reason, (out.quarantined.get(reason) ?? 0) + 1);
        else out.duplicates++;
        continue;
      }
      const value = JSON.stringify(r.value);
      const units = r.units ?? null;
      const detail = r.qualityDetail ?? null;
      const vt = VT_CODE.get(r.valueType)!;
      const q = Q_CODE.get(r.quality)!;
      if (stmt.insert.run(sid, key.site, r.seq, r.origin, r.device, r.profile, r.resource, vt, q, value, units, detail).changes === 1) {
        out.accepted.push(r);
        continue;
      }
      const stored = stmt.stored.get(sid, r.seq)!;
      const same = [r.origin, r.device, r.profile, r.resource, vt, q, value, units, detail];
      if (stored.every((v, i) => v === same[i])) out.duplicates++;
      else if (keep(r, 'conflict')) out.conflicts++;
      else out.duplicates++;
    }
    let q = out.conflicts;
    for (const n of out.quarantined.values()) q += n;
    stmt.updateStream.run(out.accepted.length, q, out.conflicts, out.duplicates, high, key.stream.lastSeq, now, sid);
    return out;
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

  function notify(accepted: readonly StoredReading[]): void {
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
    ingest(key: StreamKey, readings: readonly Reading[], opts: IngestOptions = {}): IngestResult {
      ensureOpen();
      validateBatch(readings, key.site, 'reading', 'the site this batch was sent for');
      checkBatch(key, readings);
      const site = key.site;
      const o = ingestTx(key, readings, opts);
      const fields = { site, producer: key.producer, stream: key.stream.id, firstSeq: readings[0]?.seq, lastSeq: readings.at(-1)?.seq };
      let quarantined = 0;
      if (o.accepted.length > 0) ingested.inc({ site }, o.accepted.length);
      if (o.duplicates > 0) {
        duplicates.inc({ site }, o.duplicates);
        log.info({ ...fields, duplicates: o.duplicates }, 'telemetry batch held readings already stored (a resend): ignored');
      }
      if (o.conflicts > 0) {
        conflicts.inc({ site }, o.conflicts);
        quarantinedTotal.inc({ site, reason: 'conflict' }, o.conflicts);
        log.warn({ ...fields, conflicts: o.conflicts }, 'telemetry seqs already held with other content: quarantined; the producer must start a new stream');
      }
      for (const [reason, n] of o.quarantined) {
        quarantined += n;
        quarantinedTotal.inc({ site, reason }, n);
        log.warn({ ...fields, reason, count: n }, 'telemetry readings quarantined');
      }
      if (o.accepted.length > 0 && subscribers.size > 0) {
        // Not copied (a batch is thousands of readings): the stored ones get their stream and go to the subscribers.
        const stream = `${key.producer}/${key.stream.id}`;
        for (const r of o.accepted) (r as StoredReading).stream = stream;
        notify(o.accepted as StoredReading[]);
      }
      return { accepted: o.accepted.length, duplicates: o.duplicates, conflicts: o.conflicts, quarantined };
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
        const [origin, site, sid, seq] = decodeCursor(q.cursor);
        // With a fixed site the order within it is (origin, sid, seq); the row-value
        // comparison lets SQLite seek the index instead of filtering.
        if (q.site !== undefined) {
          clauses.push(`(origin, sid, seq) ${cmp} (?, ?, ?)`);
          params.push(origin, sid, seq);
        } else {
          clauses.push(`(origin, site, sid, seq) ${cmp} (?, ?, ?, ?)`);
          params.push(origin, site, sid, seq);
        }
      }
      const dir = desc ? 'DESC' : 'ASC';
      const order = q.site !== undefined ? `origin ${dir}, sid ${dir}, seq ${dir}` : `origin ${dir}, site ${dir}, sid ${dir}, seq ${dir}`;
      const sql = `SELECT ${COLUMNS} FROM telemetry${clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ?`;
      const rows = prepared(sql)
        .raw(true)
        .all(...params, limit + 1) as Row[];
      const more = rows.length > limit;
      if (more) rows.pop();
      const items = rows.map(toReading);
      const last = rows.at(-1);
      return more && last ? { items, next: encodeCursor([last[3], last[1], last[0], last[2]]) } : { items };
    },

    subscribe(filter: LiveFilter, onReadings: (readings: readonly StoredReading[]) => void): () => void {
      ensureOpen();
      const sub = { filter: { ...filter }, cb: onReadings };
      subscribers.add(sub);
      return () => void subscribers.delete(sub);
    },

    streams(site?: string): StreamInfo[] {
      ensureOpen();
      return (site === undefined ? stmt.allStreams.all() : stmt.siteStreams.all(site)).map(streamInfo);
    },

    quarantined(filter: { site?: string; reason?: QuarantineReason; limit?: number }): QuarantinedReading[] {
      ensureOpen();
      const clauses: string[] = [];
      const params: (string | number)[] = [];
      if (filter.site !== undefined) {
        clauses.push('site = ?');
        params.push(filter.site);
      }
      if (filter.reason !== undefined) {
        clauses.push('reason = ?');
        params.push(filter.reason);
      }
      const limit = filter.limit ?? DEFAULT_QUERY_LIMIT;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_QUERY_LIMIT) {
        throw new ErrQuery({ field: 'limit', reason: `must be an integer from 1 to ${MAX_QUERY_LIMIT}, got ${String(limit)}` });
      }
      const sql = `SELECT sid, reason, received_at, reading FROM telemetry_quarantine${clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : ''} ORDER BY received_at DESC, sid DESC, seq DESC LIMIT ?`;
      const rows = prepared(sql).all(...params, limit) as { sid: number; reason: QuarantineReason; received_at: number; reading: string }[];
      return rows.map((r) => ({ reason: r.reason, receivedAt: iso(r.received_at), stream: names.get(r.sid) ?? String(r.sid), reading: JSON.parse(r.reading) as Reading }));
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
