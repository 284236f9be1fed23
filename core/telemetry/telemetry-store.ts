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
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { Registry } from 'prom-client';
import { createLogger, ensurePrivateFile, type Logger } from '../kernel/index.ts';
import type { Reading, StoredReading } from '../sdk/index.ts';
import { startCheckpointer } from './checkpointer.ts';
import { Q_CODE, readingFromColumns, VT_CODE, type ReadingColumns } from './rows.ts';
import { ErrClosed, ErrStreamRewound } from './errors.ts';
import type {
  IngestOptions,
  IngestResult,
  LiveFilter,
  QuarantinedReading,
  QuarantineReason,
  StreamInfo,
  StreamKey,
  StreamRef,
  ExportCursor,
  ExportLease,
  TelemetryPage,
  TelemetryQuery,
  TelemetryStore,
} from './types.ts';
import { validateBatch } from './validate.ts';
import {
  checkBatch,
  checkLimit,
  checkQuery,
  encodeCursor,
  ingestMetrics,
  iso,
  pagePlan,
  reportOutcome,
  streamInfo,
  Subscribers,
  whereOf,
  type Outcome,
  type StreamRow,
} from './store-common.ts';

export interface TelemetryStoreOptions {
  file: string;
  metrics?: Registry;
  logger?: Logger;
}

export { DEFAULT_QUERY_LIMIT, MAX_QUERY_LIMIT, STREAM_ID_RE } from './store-common.ts';

const SCHEMA_VERSION = 4;
/** How long an export lease holds without being taken again (acquire renews it). */
const EXPORT_LEASE_MS = 10_000;
/** The producer and stream every reading of a first-version file is migrated into. */
const LEGACY_PRODUCER = 'legacy';
const LEGACY_STREAM = 'v1';

type Row = [sid: number, site: string, ...ReadingColumns];
const COLUMNS = 'sid, site, seq, origin, device, profile, resource, vt, q, value, units, detail';

/** Creates the tables of the current version, migrating a first-version file in place. */
function migrate(db: Database.Database, log: Logger): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version === SCHEMA_VERSION) return;
  if (version > SCHEMA_VERSION) throw new Error(`telemetry file has schema version ${version}; this edgeadm knows up to ${SCHEMA_VERSION}`);
  if (version < 2) migrateToStreams(db, log);
  db.transaction(() => {
    // 3: exporters' cursors (export.ts).
    db.exec('CREATE TABLE IF NOT EXISTS telemetry_export (exporter TEXT NOT NULL, sid INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (exporter, sid)) STRICT');
    // 4: who runs each exporter, among hub processes on the file.
    db.exec('CREATE TABLE IF NOT EXISTS telemetry_export_lease (exporter TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL) STRICT');
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

/** Version 2: producer streams; a first-version file's readings moved into one legacy stream per site. */
function migrateToStreams(db: Database.Database, log: Logger): void {
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
    db.pragma('user_version = 2');
  })();
}

export function openTelemetryStore(opts: TelemetryStoreOptions): TelemetryStore {
  const log = (opts.logger ?? createLogger({ level: 'silent' })).child({ component: 'telemetry-store' });
  const m = ingestMetrics(opts.metrics);

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

  // A file in WAL mode (not ':memory:') is checkpointed by a worker thread (checkpointer.ts).
  const checkpoints = db.pragma('journal_mode', { simple: true }) === 'wal' ? startCheckpointer({ db, file: opts.file, logger: log }) : undefined;

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

  const subscribers = new Subscribers(log);
  let closed = false;

  function ensureOpen(): void {
    if (closed) throw new ErrClosed({ what: 'telemetry store' });
  }

  function toReading([sid, site, ...rest]: Row): StoredReading {
    const r = readingFromColumns(site, rest) as StoredReading;
    r.stream = names.get(sid) ?? String(sid);
    return r;
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

  return {
    driver: 'sqlite',
    // Async as the contract is; SQLite itself answers at once (a synchronous throw becomes the rejection).
    async ingest(key: StreamKey, readings: readonly Reading[], opts: IngestOptions = {}): Promise<IngestResult> {
      await Promise.resolve();
      ensureOpen();
      validateBatch(readings, key.site, 'reading', 'the site this batch was sent for');
      checkBatch(key, readings);
      const outcome = ingestTx(key, readings, opts);
      checkpoints?.afterCommit();
      return reportOutcome(outcome, key, readings, m, log, subscribers);
    },

    async query(q: TelemetryQuery): Promise<TelemetryPage> {
      await Promise.resolve();
      ensureOpen();
      const limit = checkQuery(q);
      const plan = pagePlan(q, () => '?');
      const sql = `SELECT ${COLUMNS} FROM telemetry${plan.where} ORDER BY ${plan.order} LIMIT ?`;
      const rows = prepared(sql)
        .raw(true)
        .all(...plan.params, limit + 1) as Row[];
      const more = rows.length > limit;
      if (more) rows.pop();
      const items = rows.map(toReading);
      const last = rows.at(-1);
      return more && last ? { items, next: encodeCursor([last[3], last[1], last[0], last[2]]) } : { items };
    },

    subscribe(filter: LiveFilter, onReadings: (readings: readonly StoredReading[]) => void): () => void {
      ensureOpen();
      return subscribers.add(filter, onReadings);
    },

    async streams(site?: string): Promise<StreamInfo[]> {
      await Promise.resolve();
      ensureOpen();
      return (site === undefined ? stmt.allStreams.all() : stmt.siteStreams.all(site)).map(streamInfo);
    },

    async quarantined(filter: { site?: string; reason?: QuarantineReason; limit?: number }): Promise<QuarantinedReading[]> {
      await Promise.resolve();
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
      const limit = checkLimit(filter.limit);
      const sql = `SELECT sid, reason, received_at, reading FROM telemetry_quarantine${clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : ''} ORDER BY received_at DESC, sid DESC, seq DESC LIMIT ?`;
      const rows = prepared(sql).all(...params, limit) as { sid: number; reason: QuarantineReason; received_at: number; reading: string }[];
      return rows.map((r) => ({ reason: r.reason, receivedAt: iso(r.received_at), stream: names.get(r.sid) ?? String(r.sid), reading: JSON.parse(r.reading) as Reading }));
    },

    async count(filter: LiveFilter = {}): Promise<number> {
      await Promise.resolve();
      ensureOpen();
      const { clauses, params } = whereOf(filter, () => '?');
      const sql = `SELECT COUNT(*) FROM telemetry${clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : ''}`;
      return prepared(sql).pluck(true).get(...params) as number;
    },

    async streamReadings(stream: StreamRef, afterSeq: number, limit: number): Promise<StoredReading[]> {
      await Promise.resolve();
      ensureOpen();
      const row = stmt.streamOf.get(stream.site, stream.producer, stream.id);
      if (!row) return [];
      const rows = prepared(`SELECT ${COLUMNS} FROM telemetry WHERE sid = ? AND seq > ? ORDER BY seq LIMIT ?`)
        .raw(true)
        .all(row.sid, afterSeq, checkLimit(limit)) as Row[];
      return rows.map(toReading);
    },

    async exportCursors(exporter: string): Promise<ExportCursor[]> {
      await Promise.resolve();
      ensureOpen();
      const rows = prepared('SELECT s.site, s.producer, s.stream, e.seq FROM telemetry_export e JOIN telemetry_streams s ON s.sid = e.sid WHERE e.exporter = ?').all(exporter) as {
        site: string;
        producer: string;
        stream: string;
        seq: number;
      }[];
      return rows.map((r) => ({ site: r.site, producer: r.producer, id: r.stream, seq: r.seq }));
    },

    async setExportCursor(exporter: string, stream: StreamRef, seq: number): Promise<void> {
      await Promise.resolve();
      ensureOpen();
      const row = stmt.streamOf.get(stream.site, stream.producer, stream.id);
      if (!row) return;
      prepared('INSERT INTO telemetry_export (exporter, sid, seq) VALUES (?, ?, ?) ON CONFLICT (exporter, sid) DO UPDATE SET seq = MAX(seq, excluded.seq)').run(exporter, row.sid, seq);
    },

    exportLease(exporter: string): ExportLease {
      // Hub processes on one file: a row naming the holder, taken over once it has not been renewed for EXPORT_LEASE_MS (its holder stopped or died).
      const holder = randomUUID();
      return {
        async acquire() {
          await Promise.resolve();
          ensureOpen();
          const now = Date.now();
          prepared(
            `INSERT INTO telemetry_export_lease (exporter, holder, expires_at) VALUES (?, ?, ?)
             ON CONFLICT (exporter) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at WHERE holder = excluded.holder OR expires_at <= ?`,
          ).run(exporter, holder, now + EXPORT_LEASE_MS, now);
          return (prepared('SELECT holder FROM telemetry_export_lease WHERE exporter = ?').get(exporter) as { holder: string } | undefined)?.holder === holder;
        },
        async release() {
          await Promise.resolve();
          if (closed) return;
          prepared('DELETE FROM telemetry_export_lease WHERE exporter = ? AND holder = ?').run(exporter, holder);
        },
      };
    },

    async close(): Promise<void> {
      await Promise.resolve();
      if (closed) return;
      closed = true;
      subscribers.clear();
      await checkpoints?.close();
      db.close();
    },
  };
}
