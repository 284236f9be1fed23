/**
 * The hub's telemetry store on PostgreSQL (driver `postgres`), for hub
 * replicas sharing one store. The same contract as the SQLite driver
 * (store-common.ts holds the rules both keep), on PostgreSQL's terms:
 *
 * - **Schema versions** are kept in `edgeadm_telemetry_schema` and applied
 *   at open under an advisory lock, so replicas starting together migrate
 *   once.
 * - **Readings are partitioned by time:** `telemetry` is partitioned by
 *   range of origin (ns), a partition per UTC day (`telemetry_dYYYYMMDD`),
 *   made when a batch first needs it (under an advisory lock).
 * - **Retention** (`retentionDays`) drops whole partitions older than that,
 *   and quarantined readings received before it; checked at open and every
 *   hour.
 * - **Ingest is idempotent on (stream, seq):** one transaction per batch
 *   that locks its stream's row (`FOR UPDATE`), so two replicas given the
 *   same batch (an outbox retrying to another one) store it once; seqs at
 *   or below the stream's highest are looked up first (a resend, or a
 *   conflict), those above are new.
 * - **Live subscribers hear every replica's ingests:** a batch's commit
 *   notifies the others (`NOTIFY edgeadm_telemetry`, the stream and its
 *   stored seqs as ranges), which read those readings and hand them to
 *   their own subscribers. Origins and seqs are BIGINT, read back as numbers.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Registry } from 'prom-client';
import { createLogger, type Logger } from '../kernel/index.ts';
import { engineReason, openPostgres, sqlState } from '../postgres/index.ts';
import type { Reading, StoredReading } from '../sdk/index.ts';
import { ErrClosed, ErrStreamRewound, ErrTelemetryBackend } from './errors.ts';
import { Q_CODE, readingFromColumns, VT_CODE, type ReadingColumns } from './rows.ts';
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
import type {
  ExportCursor,
  ExportLease,
  IngestOptions,
  IngestResult,
  LiveFilter,
  QuarantinedReading,
  QuarantineReason,
  StreamInfo,
  StreamKey,
  StreamRef,
  TelemetryPage,
  TelemetryQuery,
  TelemetryStore,
} from './types.ts';
import { validateBatch } from './validate.ts';

export interface PostgresTelemetryOptions {
  /** postgres://user:password@host:port/database (a secret: never logged). */
  url: string;
  /** Keep readings this many days (whole days: a partition goes once all of it is older); undefined keeps them all. */
  retentionDays?: number;
  /** Connections of this replica (default 10). */
  poolSize?: number;
  metrics?: Registry;
  logger?: Logger;
}

/** The channel replicas tell each other of stored readings on: `<instance> <sid> <from>-<to>,...`. */
const CHANNEL = 'edgeadm_telemetry';
/** A notification's payload stays well under PostgreSQL's 8000 bytes: more ranges than this and the listeners read the whole span. */
const MAX_RANGES = 200;

/** Increasing seqs as ranges, `1-5,7-9`; beyond MAX_RANGES, the one span from the first to the last. */
export function seqRanges(seqs: readonly number[]): string {
  const out: string[] = [];
  let from = seqs[0]!;
  let prev = from;
  for (const s of seqs.slice(1)) {
    if (s === prev + 1) {
      prev = s;
      continue;
    }
    out.push(`${from}-${prev}`);
    from = prev = s;
  }
  out.push(`${from}-${prev}`);
  return out.length > MAX_RANGES ? `${seqs[0]!}-${seqs.at(-1)!}` : out.join(',');
}

/** The ranges of a notification, checked: undefined for one this driver did not write. */
function parseRanges(text: string): [number, number][] | undefined {
  const out: [number, number][] = [];
  for (const part of text.split(',')) {
    const m = /^(\d{1,16})-(\d{1,16})$/.exec(part);
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = Number(m[2]);
    if (b < a) return undefined;
    out.push([a, b]);
  }
  return out;
}
const DAY_NS = 86_400_000_000_000n;
/** Advisory lock keys: the schema, the partitions, the exporters (with each exporter's name hashed as the second key). */
const LOCK = { schema: 727_001, partitions: 727_002, export: 727_003 } as const;
const COLUMNS = 'sid, site, seq, origin, device, profile, resource, vt, q, value, units, detail';
/** What a Reading is read from; origin as float8 (a Reading's number) under another name, so `ORDER BY origin` is the column and its indexes serve it. */
const READ_COLUMNS = 'sid, site, seq, origin::float8 AS origin_f, device, profile, resource, vt, q, value, units, detail';

/** Migration N at index N - 1. */
const MIGRATIONS: readonly string[] = [
  `
    CREATE TABLE telemetry_streams (
      sid BIGSERIAL PRIMARY KEY,
      site TEXT NOT NULL,
      producer TEXT NOT NULL,
      stream TEXT NOT NULL,
      held BIGINT NOT NULL DEFAULT 0,
      quarantined BIGINT NOT NULL DEFAULT 0,
      conflicts BIGINT NOT NULL DEFAULT 0,
      duplicates BIGINT NOT NULL DEFAULT 0,
      high_seq BIGINT NOT NULL DEFAULT 0,
      declared_last BIGINT NOT NULL DEFAULT 0,
      first_at BIGINT NOT NULL,
      last_at BIGINT NOT NULL,
      UNIQUE (site, producer, stream)
    );
    CREATE TABLE telemetry (
      sid BIGINT NOT NULL,
      seq BIGINT NOT NULL,
      site TEXT NOT NULL,
      origin BIGINT NOT NULL,
      device TEXT NOT NULL,
      profile TEXT NOT NULL,
      resource TEXT NOT NULL,
      vt SMALLINT NOT NULL,
      q SMALLINT NOT NULL,
      value TEXT NOT NULL,
      units TEXT,
      detail TEXT
    ) PARTITION BY RANGE (origin);
    CREATE INDEX telemetry_key ON telemetry (sid, seq);
    CREATE INDEX telemetry_device_time ON telemetry (site, device, origin, sid, seq);
    CREATE INDEX telemetry_site_time ON telemetry (site, origin, sid, seq);
    CREATE TABLE telemetry_quarantine (
      sid BIGINT NOT NULL,
      seq BIGINT NOT NULL,
      reason TEXT NOT NULL,
      site TEXT NOT NULL,
      received_at BIGINT NOT NULL,
      reading TEXT NOT NULL,
      PRIMARY KEY (sid, seq, reason)
    );
    CREATE INDEX telemetry_quarantine_time ON telemetry_quarantine (site, received_at);
  `,
  // 2: exporters' cursors (export.ts).
  `
    CREATE TABLE telemetry_export (
      exporter TEXT NOT NULL,
      sid BIGINT NOT NULL,
      seq BIGINT NOT NULL,
      PRIMARY KEY (exporter, sid)
    );
  `,
];

/**
 * A number parameter as PostgreSQL must compare it: an origin (ns) beyond
 * 2^53 as the exact integer the double is (its shortest decimal form, what
 * pg would send, is another integer).
 */
const exact = (v: string | number): string | number | bigint => (typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v) ? BigInt(v) : v);


/** The UTC day (ns at its start) of an origin. */
const dayOf = (origin: number): bigint => (BigInt(Math.trunc(origin)) / DAY_NS) * DAY_NS;
function partitionName(day: bigint): string {
  const d = new Date(Number(day / 1_000_000n));
  return `telemetry_d${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
}

/** A page's statement: `limit` + 1 rows (the one more says whether there is a next page). */
export function pageQuery(q: TelemetryQuery, limit: number): { text: string; values: unknown[] } {
  const plan = pagePlan(q, (n) => `$${n}`);
  return { text: `SELECT ${READ_COLUMNS} FROM telemetry${plan.where} ORDER BY ${plan.order} LIMIT $${plan.params.length + 1}`, values: [...plan.params.map(exact), limit + 1] };
}

/** An error of the engine, with PostgreSQL's own words and no URL. */
function backendError(what: string, err: unknown): Error {
  return new ErrTelemetryBackend({ driver: 'postgres', what, reason: engineReason(err) }, { cause: err });
}

/** Opens the store: connects, applies the schema's migrations, applies the retention (then hourly), listens to the other replicas. */
export async function openPostgresTelemetryStore(opts: PostgresTelemetryOptions): Promise<TelemetryStore> {
  const log = (opts.logger ?? createLogger({ level: 'silent' })).child({ component: 'telemetry-store', driver: 'postgres' });
  const m = ingestMetrics(opts.metrics);
  const db = openPostgres({ url: opts.url, poolSize: opts.poolSize ?? 10, logger: log, fail: backendError });
  const { pool, tx, sql } = db;
  /** Readings' rows (READ_COLUMNS), as arrays. */
  const rowsOf = async (what: string, text: string, values: unknown[]): Promise<Row[]> => {
    try {
      return (await pool.query({ text, values, rowMode: 'array' })).rows as Row[];
    } catch (err) {
      throw backendError(what, err);
    }
  };

  try {
    await db.migrate({ table: 'edgeadm_telemetry_schema', lock: LOCK.schema, migrations: MIGRATIONS }, 'migrating the schema');
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }

  /** Days whose partition is known to exist. */
  const partitions = new Set<bigint>();
  const ensurePartitions = async (days: Iterable<bigint>): Promise<void> => {
    const missing = [...new Set(days)].filter((d) => !partitions.has(d));
    if (missing.length === 0) return;
    await tx('making partitions', async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK.partitions]);
      for (const day of missing) {
        await c.query(`CREATE TABLE IF NOT EXISTS ${partitionName(day)} PARTITION OF telemetry FOR VALUES FROM (${day}) TO (${day + DAY_NS})`);
      }
    }).catch((err: unknown) => {
      throw ErrTelemetryBackend.is(err) ? err : backendError('making partitions', err);
    });
    for (const d of missing) partitions.add(d);
  };

  const retention = async (): Promise<void> => {
    if (opts.retentionDays === undefined) return;
    const cutoff = dayOf(Date.now() * 1e6) - BigInt(opts.retentionDays) * DAY_NS;
    const r = await sql<{ name: string; bound: string }>(
      'retention',
      `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'telemetry'::regclass`,
    );
    for (const p of r.rows) {
      const to = /TO \('?(-?\d+)'?\)/.exec(p.bound)?.[1];
      if (to === undefined || BigInt(to) > cutoff) continue;
      await sql('retention', `DROP TABLE IF EXISTS ${pg.escapeIdentifier(p.name)}`);
      log.info({ partition: p.name }, 'telemetry partition older than the retention dropped');
    }
    partitions.clear();
    await sql('retention', 'DELETE FROM telemetry_quarantine WHERE received_at < $1', [Date.now() - opts.retentionDays * 86_400_000]);
  };
  await retention();
  const retentionTimer = opts.retentionDays === undefined ? undefined : setInterval(() => void retention().catch((err: unknown) => log.warn({ error: (err as Error).message }, 'telemetry retention failed')), 3_600_000);
  retentionTimer?.unref();

  /** sid -> `<producer>/<stream>`: streams are never renamed; another replica's are read when first seen. */
  const names = new Map<number, string>();
  const nameOf = async (sid: number): Promise<string> => {
    const known = names.get(sid);
    if (known !== undefined) return known;
    const r = await sql<{ producer: string; stream: string }>('reading a stream', 'SELECT producer, stream FROM telemetry_streams WHERE sid = $1', [sid]);
    const name = r.rows[0] === undefined ? String(sid) : `${r.rows[0].producer}/${r.rows[0].stream}`;
    names.set(sid, name);
    return name;
  };

  const subscribers = new Subscribers(log);
  /** Connections holding (or asking for) export leases. */
  const leaseClients = new Set<pg.Client>();
  let closed = false;
  const ensureOpen = (): void => {
    if (closed) throw new ErrClosed({ what: 'telemetry store' });
  };

  // ---- what the other replicas store, for this one's live subscribers (LISTEN/NOTIFY)
  const instance = randomUUID();
  const heard = async (payload: string): Promise<void> => {
    const [from, sidText, ranges] = payload.split(' ');
    if (from === instance || subscribers.size === 0) return;
    const sid = Number(sidText);
    const spans = ranges === undefined ? undefined : parseRanges(ranges);
    if (!Number.isSafeInteger(sid) || spans === undefined) return;
    const cond = spans.map((_, i) => `seq BETWEEN $${2 * i + 2} AND $${2 * i + 3}`).join(' OR ');
    const readings = await toReadings(await rowsOf('reading another replica\'s readings', `SELECT ${READ_COLUMNS} FROM telemetry WHERE sid = $1 AND (${cond}) ORDER BY seq`, [sid, ...spans.flat()]));
    if (readings.length > 0 && !closed) subscribers.notify(readings);
  };
  // A lost listener comes back; readings stored meanwhile are not replayed to live subscribers (the query API has them).
  const heardOrWarn = (payload: string): void => {
    heard(payload).catch((err: unknown) => log.warn({ error: (err as Error).message }, "telemetry store: reading another replica's readings failed"));
  };
  await db.listen(CHANNEL, heardOrWarn).catch((err: unknown) => log.warn({ error: (err as Error).message }, 'telemetry store: not listening to other replicas yet'));

  const ingestTx = (key: StreamKey, readings: readonly Reading[], opts: IngestOptions): Promise<Outcome> =>
    tx('ingest', async (c) => {
      const now = Date.now();
      await c.query('INSERT INTO telemetry_streams (site, producer, stream, first_at, last_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (site, producer, stream) DO NOTHING', [
        key.site,
        key.producer,
        key.stream.id,
        now,
      ]);
      const row = (await c.query<StreamRow>('SELECT * FROM telemetry_streams WHERE site = $1 AND producer = $2 AND stream = $3 FOR UPDATE', [key.site, key.producer, key.stream.id])).rows[0]!;
      if (key.stream.lastSeq < row.declared_last && opts.acceptRewound !== true) {
        throw new ErrStreamRewound({ site: key.site, producer: key.producer, stream: key.stream.id, declared: key.stream.lastSeq, known: row.declared_last });
      }
      const sid = row.sid;
      names.set(sid, `${key.producer}/${key.stream.id}`);
      const out: Outcome = { accepted: [], duplicates: 0, conflicts: 0, quarantined: new Map() };
      const keep = async (rs: readonly Reading[], reason: QuarantineReason): Promise<Set<number>> => {
        if (rs.length === 0) return new Set();
        const r = await c.query<{ seq: number }>(
          `INSERT INTO telemetry_quarantine (sid, seq, reason, site, received_at, reading)
           SELECT $1, s, $2, $3, $4, j FROM unnest($5::bigint[], $6::text[]) AS t(s, j)
           ON CONFLICT DO NOTHING RETURNING seq`,
          [sid, reason, key.site, now, rs.map((x) => x.seq), rs.map((x) => JSON.stringify(x))],
        );
        return new Set(r.rows.map((x) => x.seq));
      };
      // Classified readings go to quarantine; a second delivery of one is a duplicate.
      const byReason = new Map<QuarantineReason, Reading[]>();
      const candidates: Reading[] = [];
      for (const r of readings) {
        const reason = opts.classify?.(r);
        if (reason === undefined) candidates.push(r);
        else byReason.set(reason, [...(byReason.get(reason) ?? []), r]);
      }
      for (const [reason, rs] of byReason) {
        const kept = (await keep(rs, reason)).size;
        if (kept > 0) out.quarantined.set(reason, kept);
        out.duplicates += rs.length - kept;
      }
      // Seqs the stream may already hold: looked up; those above its highest are new.
      const held = new Map<number, unknown[]>();
      const maybe = candidates.filter((r) => r.seq <= row.high_seq).map((r) => r.seq);
      if (maybe.length > 0) {
        const r = await c.query({
          text: 'SELECT seq, origin::float8 AS origin_f, device, profile, resource, vt, q, value, units, detail FROM telemetry WHERE sid = $1 AND seq = ANY($2::bigint[])',
          values: [sid, maybe],
          rowMode: 'array',
        });
        for (const row of r.rows as unknown[][]) held.set(row[0] as number, row.slice(1));
      }
      const fresh: Reading[] = [];
      const conflicting: Reading[] = [];
      for (const r of candidates) {
        const stored = held.get(r.seq);
        if (stored === undefined) {
          fresh.push(r);
          continue;
        }
        const same = [r.origin, r.device, r.profile, r.resource, VT_CODE.get(r.valueType)!, Q_CODE.get(r.quality)!, JSON.stringify(r.value), r.units ?? null, r.qualityDetail ?? null];
        if (stored.every((v, i) => v === same[i])) out.duplicates++;
        else conflicting.push(r);
      }
      if (fresh.length > 0) {
        await c.query(
          `INSERT INTO telemetry (${COLUMNS})
           SELECT $1, $2, * FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::smallint[], $9::smallint[], $10::text[], $11::text[], $12::text[])`,
          [
            sid,
            key.site,
            fresh.map((r) => r.seq),
            fresh.map((r) => BigInt(Math.trunc(r.origin)).toString()),
            fresh.map((r) => r.device),
            fresh.map((r) => r.profile),
            fresh.map((r) => r.resource),
            fresh.map((r) => VT_CODE.get(r.valueType)!),
            fresh.map((r) => Q_CODE.get(r.quality)!),
            fresh.map((r) => JSON.stringify(r.value)),
            fresh.map((r) => r.units ?? null),
            fresh.map((r) => r.qualityDetail ?? null),
          ],
        );
        out.accepted.push(...fresh);
      }
      const kept = (await keep(conflicting, 'conflict')).size;
      out.conflicts += kept;
      out.duplicates += conflicting.length - kept;
      let q = out.conflicts;
      for (const n of out.quarantined.values()) q += n;
      await c.query(
        `UPDATE telemetry_streams SET held = held + $1, quarantined = quarantined + $2, conflicts = conflicts + $3, duplicates = duplicates + $4,
           high_seq = GREATEST(high_seq, $5), declared_last = GREATEST(declared_last, $6), last_at = $7 WHERE sid = $8`,
        [out.accepted.length, q, out.conflicts, out.duplicates, readings.at(-1)?.seq ?? 0, key.stream.lastSeq, now, sid],
      );
      // The other replicas' live subscribers: told on commit which seqs of the stream were stored.
      if (out.accepted.length > 0) await c.query('SELECT pg_notify($1, $2)', [CHANNEL, `${instance} ${sid} ${seqRanges(out.accepted.map((r) => r.seq))}`]);
      return out;
    });

  type Row = [sid: number, site: string, ...ReadingColumns];
  const toReadings = async (rows: Row[]): Promise<StoredReading[]> => {
    const out: StoredReading[] = [];
    for (const [sid, site, ...rest] of rows) {
      const r = readingFromColumns(site, rest) as StoredReading;
      r.stream = await nameOf(sid);
      out.push(r);
    }
    return out;
  };

  return {
    driver: 'postgres',
    async ingest(key: StreamKey, readings: readonly Reading[], opts: IngestOptions = {}): Promise<IngestResult> {
      ensureOpen();
      validateBatch(readings, key.site, 'reading', 'the site this batch was sent for');
      checkBatch(key, readings);
      let o: Outcome;
      const days = readings.map((r) => dayOf(r.origin));
      try {
        // Before the batch's transaction, which must hold no lock a partition's creation waits for.
        await ensurePartitions(days);
        try {
          o = await ingestTx(key, readings, opts);
        } catch (err) {
          // No partition for a row (23514): another replica's retention dropped a day this one knew. Once more, made anew.
          if (sqlState(err) !== '23514') throw err;
          partitions.clear();
          await ensurePartitions(days);
          o = await ingestTx(key, readings, opts);
        }
      } catch (err) {
        if (ErrStreamRewound.is(err) || ErrTelemetryBackend.is(err)) throw err;
        throw backendError('ingest', err);
      }
      return reportOutcome(o, key, readings, m, log, subscribers);
    },

    async query(q: TelemetryQuery): Promise<TelemetryPage> {
      ensureOpen();
      const limit = checkQuery(q);
      const page = pageQuery(q, limit);
      const rows = await rowsOf('query', page.text, page.values);
      const more = rows.length > limit;
      if (more) rows.pop();
      const items = await toReadings(rows);
      const last = rows.at(-1);
      return more && last ? { items, next: encodeCursor([last[3], last[1], last[0], last[2]]) } : { items };
    },

    subscribe(filter: LiveFilter, onReadings: (readings: readonly StoredReading[]) => void): () => void {
      ensureOpen();
      return subscribers.add(filter, onReadings);
    },

    async streams(site?: string): Promise<StreamInfo[]> {
      ensureOpen();
      const r =
        site === undefined
          ? await sql<StreamRow>('streams', 'SELECT * FROM telemetry_streams ORDER BY site, producer, first_at, sid')
          : await sql<StreamRow>('streams', 'SELECT * FROM telemetry_streams WHERE site = $1 ORDER BY producer, first_at, sid', [site]);
      return r.rows.map(streamInfo);
    },

    async quarantined(filter: { site?: string; reason?: QuarantineReason; limit?: number }): Promise<QuarantinedReading[]> {
      ensureOpen();
      const limit = checkLimit(filter.limit);
      const params: (string | number)[] = [];
      const clauses: string[] = [];
      if (filter.site !== undefined) clauses.push(`site = $${params.push(filter.site)}`);
      if (filter.reason !== undefined) clauses.push(`reason = $${params.push(filter.reason)}`);
      const r = await sql<{ sid: number; reason: QuarantineReason; received_at: number; reading: string }>(
        'quarantined',
        `SELECT sid, reason, received_at, reading FROM telemetry_quarantine${clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : ''} ORDER BY received_at DESC, sid DESC, seq DESC LIMIT $${params.length + 1}`,
        [...params, limit],
      );
      const out: QuarantinedReading[] = [];
      for (const x of r.rows) out.push({ reason: x.reason, receivedAt: iso(x.received_at), stream: await nameOf(x.sid), reading: JSON.parse(x.reading) as Reading });
      return out;
    },

    async count(filter: LiveFilter = {}): Promise<number> {
      ensureOpen();
      const { clauses, params } = whereOf(filter, (n) => `$${n}`);
      const r = await sql<{ n: number }>('count', `SELECT COUNT(*) AS n FROM telemetry${clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : ''}`, params.map(exact));
      return r.rows[0]!.n;
    },

    async streamReadings(stream: StreamRef, afterSeq: number, limit: number): Promise<StoredReading[]> {
      ensureOpen();
      const rows = await rowsOf(
        'reading a stream',
        `SELECT ${READ_COLUMNS.split(', ').map((c) => `t.${c}`).join(', ')} FROM telemetry t JOIN telemetry_streams s ON s.sid = t.sid
         WHERE s.site = $1 AND s.producer = $2 AND s.stream = $3 AND t.seq > $4 ORDER BY t.seq LIMIT $5`,
        [stream.site, stream.producer, stream.id, afterSeq, checkLimit(limit)],
      );
      return toReadings(rows);
    },

    async exportCursors(exporter: string): Promise<ExportCursor[]> {
      ensureOpen();
      const r = await sql<{ site: string; producer: string; stream: string; seq: number }>(
        'reading export cursors',
        'SELECT s.site, s.producer, s.stream, e.seq FROM telemetry_export e JOIN telemetry_streams s ON s.sid = e.sid WHERE e.exporter = $1',
        [exporter],
      );
      return r.rows.map((x) => ({ site: x.site, producer: x.producer, id: x.stream, seq: x.seq }));
    },

    async setExportCursor(exporter: string, stream: StreamRef, seq: number): Promise<void> {
      ensureOpen();
      await sql(
        'moving an export cursor',
        `INSERT INTO telemetry_export (exporter, sid, seq) SELECT $1, sid, $5 FROM telemetry_streams WHERE site = $2 AND producer = $3 AND stream = $4
         ON CONFLICT (exporter, sid) DO UPDATE SET seq = GREATEST(telemetry_export.seq, excluded.seq)`,
        [exporter, stream.site, stream.producer, stream.id, seq],
      );
    },

    exportLease(exporter: string): ExportLease {
      // A session lock on a connection of its own: PostgreSQL frees it when that connection ends, however its holder ended.
      let client: pg.Client | undefined;
      let held = false;
      const drop = (): Promise<void> => {
        const c = client;
        client = undefined;
        held = false;
        if (c) leaseClients.delete(c);
        return c ? c.end().catch(() => undefined) : Promise.resolve();
      };
      return {
        async acquire() {
          ensureOpen();
          try {
            if (!client) {
              const c = new pg.Client({ connectionString: opts.url });
              c.on('error', () => {
                if (client === c) void drop();
              });
              leaseClients.add(c);
              client = c;
              await c.connect();
            }
            if (held) {
              await client.query('SELECT 1');
              return true;
            }
            const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [LOCK.export, exporter]);
            held = r.rows[0]?.ok === true;
            return held;
          } catch (err) {
            await drop();
            throw backendError('taking the export lease', err);
          }
        },
        release: drop,
      };
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.all([...leaseClients].map((c) => c.end().catch(() => undefined)));
      if (retentionTimer) clearInterval(retentionTimer);
      subscribers.clear();
      await db.close();
    },
  };
}
