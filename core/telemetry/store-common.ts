/**
 * What every telemetry store driver (SQLite, PostgreSQL) shares, so a rule
 * has one source: the batch and query checks, the page cursor, the stream
 * rows as the API shows them, the live subscribers, and the metrics and log
 * lines of an ingest's outcome.
 */
import type { Registry } from 'prom-client';
import { describeError, type Logger } from '../kernel/index.ts';
import type { Reading, StoredReading } from '../sdk/index.ts';
import { ErrCursor, ErrQuery, ErrSeq, ErrStreamHeader } from './errors.ts';
import { counter } from './metrics.ts';
import type { IngestResult, LiveFilter, QuarantineReason, StreamInfo, StreamKey, TelemetryQuery } from './types.ts';

export const DEFAULT_QUERY_LIMIT = 1000;
export const MAX_QUERY_LIMIT = 10_000;
/** A producer's stream id: what an outbox makes (22 base64url characters), with room for other producers. */
export const STREAM_ID_RE = /^[A-Za-z0-9_-]{8,64}$/;

/** The row key a cursor points at: the page order is (origin, site, stream, seq). */
export type CursorKey = [origin: number, site: string, sid: number, seq: number];

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: unknown): CursorKey {
  if (typeof cursor !== 'string') throw new ErrCursor({ cursor: String(cursor) });
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

/** A page or list size: 1 to MAX_QUERY_LIMIT, DEFAULT_QUERY_LIMIT when absent. */
export function checkLimit(limit: unknown): number {
  const n = limit ?? DEFAULT_QUERY_LIMIT;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_QUERY_LIMIT) {
    throw new ErrQuery({ field: 'limit', reason: `must be an integer from 1 to ${MAX_QUERY_LIMIT}, got ${JSON.stringify(n)}` });
  }
  return n;
}

/** Checks a query's fields; returns its page size. */
export function checkQuery(q: TelemetryQuery): number {
  checkString('site', q.site);
  checkString('device', q.device);
  checkString('resource', q.resource);
  checkOrigin('from', q.from);
  checkOrigin('to', q.to);
  return checkLimit(q.limit);
}

export function matches(filter: LiveFilter, r: Reading): boolean {
  return (
    (filter.site === undefined || filter.site === r.site) &&
    (filter.device === undefined || filter.device === r.device) &&
    (filter.resource === undefined || filter.resource === r.resource)
  );
}

/** Checks the stream header and the batch's seqs; nothing is written when they fail. */
export function checkBatch(key: StreamKey, readings: readonly Reading[]): void {
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

/** A producer stream's row, both drivers' column names. */
export interface StreamRow {
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

export const iso = (ms: number): string => new Date(ms).toISOString();

export function streamInfo(r: StreamRow): StreamInfo {
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

/** What one ingest did, before it is reported. */
export interface Outcome {
  accepted: Reading[];
  duplicates: number;
  conflicts: number;
  quarantined: Map<QuarantineReason, number>;
}

/** The live subscribers of a store: each committed ingest's stored readings, filtered. */
export class Subscribers {
  readonly #subs = new Set<{ filter: LiveFilter; cb: (readings: readonly StoredReading[]) => void }>();

  constructor(private readonly log: Logger) {}

  get size(): number {
    return this.#subs.size;
  }

  add(filter: LiveFilter, cb: (readings: readonly StoredReading[]) => void): () => void {
    const sub = { filter: { ...filter }, cb };
    this.#subs.add(sub);
    return () => void this.#subs.delete(sub);
  }

  notify(accepted: readonly StoredReading[]): void {
    for (const sub of this.#subs) {
      const f = sub.filter;
      const mine = f.site === undefined && f.device === undefined && f.resource === undefined ? accepted : accepted.filter((r) => matches(f, r));
      if (mine.length === 0) continue;
      try {
        sub.cb(mine);
      } catch (err) {
        this.log.error({ err: describeError(err) }, 'telemetry subscriber threw; the ingest itself is committed');
      }
    }
  }

  clear(): void {
    this.#subs.clear();
  }
}

/** The metrics every driver counts, by site. */
export function ingestMetrics(registry: Registry | undefined) {
  return {
    ingested: counter(registry, 'edgeadm_telemetry_ingested_total', 'Readings stored in the hub telemetry store, by site.', ['site']),
    duplicates: counter(registry, 'edgeadm_telemetry_duplicates_total', 'Readings delivered again with the same content and ignored, by site.', ['site']),
    conflicts: counter(registry, 'edgeadm_telemetry_conflicts_total', 'Readings whose (producer, stream, seq) the hub already held with other content: quarantined, by site.', ['site']),
    quarantined: counter(registry, 'edgeadm_telemetry_quarantined_total', 'Readings kept in quarantine instead of stored, by site and reason.', ['site', 'reason']),
  };
}

/**
 * An ingest's outcome counted, logged and sent to the live subscribers
 * (the stored readings, not copied: they get their stream); its result.
 */
export function reportOutcome(
  o: Outcome,
  key: StreamKey,
  readings: readonly Reading[],
  m: ReturnType<typeof ingestMetrics>,
  log: Logger,
  subscribers: Subscribers,
): IngestResult {
  const site = key.site;
  const fields = { site, producer: key.producer, stream: key.stream.id, firstSeq: readings[0]?.seq, lastSeq: readings.at(-1)?.seq };
  let quarantined = 0;
  if (o.accepted.length > 0) m.ingested.inc({ site }, o.accepted.length);
  if (o.duplicates > 0) {
    m.duplicates.inc({ site }, o.duplicates);
    log.info({ ...fields, duplicates: o.duplicates }, 'telemetry batch held readings already stored (a resend): ignored');
  }
  if (o.conflicts > 0) {
    m.conflicts.inc({ site }, o.conflicts);
    m.quarantined.inc({ site, reason: 'conflict' }, o.conflicts);
    log.warn({ ...fields, conflicts: o.conflicts }, 'telemetry seqs already held with other content: quarantined; the producer must start a new stream');
  }
  for (const [reason, n] of o.quarantined) {
    quarantined += n;
    m.quarantined.inc({ site, reason }, n);
    log.warn({ ...fields, reason, count: n }, 'telemetry readings quarantined');
  }
  if (o.accepted.length > 0 && subscribers.size > 0) {
    const stream = `${key.producer}/${key.stream.id}`;
    for (const r of o.accepted) (r as StoredReading).stream = stream;
    subscribers.notify(o.accepted as StoredReading[]);
  }
  return { accepted: o.accepted.length, duplicates: o.duplicates, conflicts: o.conflicts, quarantined };
}

/** A filter as SQL conditions with numbered (`$1`, PostgreSQL) or plain (`?`, SQLite) parameters. */
export function whereOf(f: LiveFilter & { from?: number | undefined; to?: number | undefined }, placeholder: (n: number) => string, first = 1): { clauses: string[]; params: (string | number)[] } {
  const clauses: string[] = [];
  const params: (string | number)[] = [];
  const add = (sql: string, v: string | number): void => {
    params.push(v);
    clauses.push(sql.replace('?', placeholder(first + params.length - 1)));
  };
  if (f.site !== undefined) add('site = ?', f.site);
  if (f.device !== undefined) add('device = ?', f.device);
  if (f.resource !== undefined) add('resource = ?', f.resource);
  if (f.from !== undefined) add('origin >= ?', f.from);
  if (f.to !== undefined) add('origin <= ?', f.to);
  return { clauses, params };
}

/**
 * A page's WHERE and ORDER BY, both drivers' (the keyset order
 * (origin, site, stream, seq); with a fixed site (origin, stream, seq), so
 * the (site, origin, ...) index is sought, not filtered).
 */
export function pagePlan(q: TelemetryQuery, placeholder: (n: number) => string): { where: string; order: string; params: (string | number)[] } {
  const desc = q.descending === true;
  const cmp = desc ? '<' : '>';
  // Past the first page the cursor already bounds the near end of the range;
  // keeping that bound too would make the engine seek by it and filter by the cursor.
  const afterCursor = q.cursor !== undefined;
  const { clauses, params } = whereOf({ ...q, from: afterCursor && !desc ? undefined : q.from, to: afterCursor && desc ? undefined : q.to }, placeholder);
  if (q.cursor !== undefined) {
    const [origin, site, sid, seq] = decodeCursor(q.cursor);
    const next = (): string => placeholder(params.length);
    if (q.site !== undefined) {
      params.push(origin);
      const a = next();
      params.push(sid);
      const b = next();
      params.push(seq);
      clauses.push(`(origin, sid, seq) ${cmp} (${a}, ${b}, ${next()})`);
    } else {
      params.push(origin);
      const a = next();
      params.push(site);
      const b = next();
      params.push(sid);
      const c = next();
      params.push(seq);
      clauses.push(`(origin, site, sid, seq) ${cmp} (${a}, ${b}, ${c}, ${next()})`);
    }
  }
  const dir = desc ? 'DESC' : 'ASC';
  const order = q.site !== undefined ? `origin ${dir}, sid ${dir}, seq ${dir}` : `origin ${dir}, site ${dir}, sid ${dir}, seq ${dir}`;
  return { where: clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : '', order, params };
}
