/**
 * The site's durable outbox: readings are validated, numbered with the
 * outbox's persistent monotonic seq and committed in one SQLite (WAL)
 * transaction before `append` returns. The forwarder peeks them in seq order
 * and acks what the hub holds. The outbox is bounded by bytes and by age;
 * every reading it drops is counted by reason, also across restarts.
 *
 * The outbox is one producer stream: a random id made when the file is
 * created, sent with every batch so the hub keeps one copy per (site,
 * producer, stream, seq). A file restored from an older copy would number
 * readings the hub already holds again: when the hub says so,
 * `rotateStream` starts a new stream (a new id; seqs go on), and the hub
 * keeps both.
 *
 * Durability: `sync: 'normal'` (synchronous=NORMAL in WAL) survives a process
 * crash or kill -9 once append has returned; `sync: 'full'` also survives
 * power loss, at the cost of an fsync per append.
 *
 * The newest committed readings are also kept in memory (up to
 * `memoryTail`), as the frozen Reading objects `peek` returns: the forwarder
 * then sends what was just committed without reading it back from the file.
 * The file stays the source: the tail only ever holds rows the file holds,
 * contiguous by seq, and `peek` reads the file for anything before it (after
 * a restart, or a backlog longer than the tail). While the backlog is longer
 * than the tail, appends do not fill it: the forwarder would read those rows
 * from the file anyway.
 */
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import type { Registry } from 'prom-client';
import { createLogger, describeError, ensurePrivateFile, type Logger } from '../kernel/index.ts';
import type { Reading } from '../sdk/index.ts';
import { Q_CODE, readingFromColumns, VT_CODE, type ReadingColumns } from './rows.ts';
import { ErrAckRange, ErrClosed, ErrOutboxOption, ErrOutboxSite } from './errors.ts';
import { counter, gauge } from './metrics.ts';
import type { AppendResult, Outbox, OutboxStats, ReadingInput, StreamHeader } from './types.ts';
import { validateBatch } from './validate.ts';

export interface OutboxOptions {
  /** SQLite file; one file per site. */
  file: string;
  site: string;
  /** Bound on pending bytes (approximate row sizes); the oldest readings are dropped beyond it. Default 256 MiB. */
  maxBytes?: number;
  /** Readings whose origin is older than this are dropped. Default 7 days. */
  maxAgeMs?: number;
  /** 'normal': durable across process crash; 'full': also across power loss. Default 'normal'. */
  sync?: 'normal' | 'full';
  /** Newest committed readings kept in memory for `peek`. Default 30,000 (three forwarder batches); 0 turns it off. */
  memoryTail?: number;
  metrics?: Registry;
  logger?: Logger;
}

const MIB = 1024 * 1024;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Fixed per-row overhead in the byte estimate (seq, origin, size, codes, record header). */
const ROW_OVERHEAD = 40;
const AGE_CHECK_EVERY_MS = 1000;
const NS_PER_MS = 1_000_000;

/** Rows per multi-row INSERT: fewer statement steps per batch (about 1.5x the rate of row-by-row inserts). */
const INSERT_CHUNK = 50;
const INSERT = 'INSERT INTO outbox (seq, origin, size, device, profile, resource, vt, q, value, units, detail) VALUES';
const ROW_PARAMS = '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';


type Row = ReadingColumns;

/** A producer stream id: 16 random bytes, base64url (22 characters). */
function newStreamId(): string {
  return randomBytes(16).toString('base64url');
}

/** A value held in the memory tail: primitives as they are; arrays and objects as the stored JSON gives them back, frozen all through. */
function tailValue(value: Reading['value'], json: string): Reading['value'] {
  if (value === null || typeof value !== 'object') return Object.is(value, -0) ? 0 : value;
  const copy = JSON.parse(json) as Reading['value'];
  const stack: unknown[] = [copy];
  for (let v = stack.pop(); v !== undefined; v = stack.pop()) {
    if (v === null || typeof v !== 'object') continue;
    Object.freeze(v);
    for (const inner of Object.values(v)) stack.push(inner);
  }
  return copy;
}

function positive(option: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new ErrOutboxOption({ option, reason: `must be a positive number, got ${v}` });
  return v;
}

export function openOutbox(opts: OutboxOptions): Outbox {
  const { file, site } = opts;
  if (typeof site !== 'string' || site.length === 0) throw new ErrOutboxOption({ option: 'site', reason: 'must be a non-empty string' });
  const maxBytes = positive('maxBytes', opts.maxBytes ?? 256 * MIB);
  const maxAgeMs = positive('maxAgeMs', opts.maxAgeMs ?? 7 * DAY_MS);
  const tailCap = opts.memoryTail ?? 30_000;
  if (!Number.isSafeInteger(tailCap) || tailCap < 0) throw new ErrOutboxOption({ option: 'memoryTail', reason: `must be a non-negative integer, got ${tailCap}` });
  const sync = opts.sync ?? 'normal';
  if (sync !== 'normal' && sync !== 'full') throw new ErrOutboxOption({ option: 'sync', reason: `must be 'normal' or 'full', got '${String(sync)}'` });
  const log = (opts.logger ?? createLogger({ level: 'silent' })).child({ component: 'outbox', site });

  const appended = counter(opts.metrics, 'edgeadm_outbox_appended_total', 'Readings committed to the site outbox.');
  const dropped = counter(opts.metrics, 'edgeadm_outbox_dropped_total', 'Readings dropped from the site outbox before delivery, by reason.', ['reason']);
  const pendingGauge = gauge(opts.metrics, 'edgeadm_outbox_pending_readings', 'Readings in the site outbox not yet acknowledged by the hub.');
  const bytesGauge = gauge(opts.metrics, 'edgeadm_outbox_pending_bytes', 'Approximate bytes of the readings pending in the site outbox.');

  ensurePrivateFile(file);
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
    db.exec(`
      CREATE TABLE IF NOT EXISTS outbox_meta (site TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, acked_seq INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS outbox_streams (id TEXT PRIMARY KEY, from_seq INTEGER NOT NULL, started_at INTEGER NOT NULL, reason TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY,
        origin INTEGER NOT NULL,
        size INTEGER NOT NULL,
        device TEXT NOT NULL,
        profile TEXT NOT NULL,
        resource TEXT NOT NULL,
        vt INTEGER NOT NULL,
        q INTEGER NOT NULL,
        value TEXT NOT NULL,
        units TEXT,
        detail TEXT
      );
      CREATE INDEX IF NOT EXISTS outbox_origin ON outbox (origin);
    `);
    // Files from before producer streams and persistent drop counts: add the columns in place.
    const cols = new Set(db.prepare<[], { name: string }>('PRAGMA table_info(outbox_meta)').all().map((c) => c.name));
    if (!cols.has('stream')) db.exec('ALTER TABLE outbox_meta ADD COLUMN stream TEXT');
    if (!cols.has('dropped')) db.exec('ALTER TABLE outbox_meta ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0');
  } catch (err) {
    db.close();
    throw err;
  }

  const metaRows = db
    .prepare<[], { site: string; last_seq: number; acked_seq: number; stream: string | null; dropped: number }>('SELECT site, last_seq, acked_seq, stream, dropped FROM outbox_meta')
    .all();
  const other = metaRows.find((r) => r.site !== site);
  if (other) {
    db.close();
    throw new ErrOutboxSite({ file, site, stored: other.site });
  }
  let lastSeq = metaRows[0]?.last_seq ?? 0;
  let ackedSeq = metaRows[0]?.acked_seq ?? 0;
  let droppedEver = metaRows[0]?.dropped ?? 0;
  let stream = metaRows[0]?.stream ?? null;
  if (metaRows.length === 0) db.prepare('INSERT INTO outbox_meta (site, last_seq, acked_seq) VALUES (?, 0, 0)').run(site);
  const startStream = db.transaction((reason: string): string => {
    const id = newStreamId();
    db.prepare('UPDATE outbox_meta SET stream = ? WHERE site = ?').run(id, site);
    db.prepare('INSERT INTO outbox_streams (id, from_seq, started_at, reason) VALUES (?, ?, ?, ?)').run(id, lastSeq + 1, Date.now(), reason);
    return id;
  });
  if (stream === null) stream = startStream(metaRows.length === 0 ? 'created' : 'upgraded');

  const totals = db.prepare<[], { n: number; b: number | null }>('SELECT COUNT(*) AS n, SUM(size) AS b FROM outbox').get()!;
  let pending = totals.n;
  let pendingBytes = totals.b ?? 0;
  const droppedCount = { bytes: 0, age: 0 };
  let lastAgeCheck = 0;
  let closed = false;
  /** The memory tail: tail[head..] are the readings of seqs tailFirst.., all committed and still in the file. */
  let tail: Reading[] = [];
  let head = 0;
  let tailFirst = 0;
  function clearTail(): void {
    tail = [];
    head = 0;
  }

  const stmt = {
    insert: db.prepare(`${INSERT} ${ROW_PARAMS}`),
    insertChunk: db.prepare(`${INSERT} ${Array.from({ length: INSERT_CHUNK }, () => ROW_PARAMS).join(', ')}`),
    setLast: db.prepare<[number, string]>('UPDATE outbox_meta SET last_seq = ? WHERE site = ?'),
    setAcked: db.prepare<[number, string]>('UPDATE outbox_meta SET acked_seq = ? WHERE site = ?'),
    addDropped: db.prepare<[number, string]>('UPDATE outbox_meta SET dropped = dropped + ? WHERE site = ?'),
    peek: db.prepare<[number, number], Row>('SELECT seq, origin, device, profile, resource, vt, q, value, units, detail FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?').raw(true),
    sumUpTo: db.prepare<[number], { n: number; b: number | null }>('SELECT COUNT(*) AS n, SUM(size) AS b FROM outbox WHERE seq <= ?'),
    deleteUpTo: db.prepare<[number]>('DELETE FROM outbox WHERE seq <= ?'),
    oldest: db.prepare<[], [number, number]>('SELECT seq, size FROM outbox ORDER BY seq').raw(true),
    sumOlder: db.prepare<[number], { n: number; b: number | null }>('SELECT COUNT(*) AS n, SUM(size) AS b FROM outbox WHERE origin < ?'),
    deleteOlder: db.prepare<[number]>('DELETE FROM outbox WHERE origin < ?'),
    minOrigin: db.prepare<[], { o: number | null }>('SELECT MIN(origin) AS o FROM outbox'),
    streams: db.prepare<[], { id: string; from_seq: number }>('SELECT id, from_seq FROM outbox_streams ORDER BY from_seq, started_at'),
  };

  function updateGauges(): void {
    pendingGauge.set(pending);
    bytesGauge.set(pendingBytes);
  }
  updateGauges();

  function ensureOpen(): void {
    if (closed) throw new ErrClosed({ what: `outbox of site '${site}'` });
  }

  /** Inside a transaction: drop the oldest readings until pending bytes are within the bound. */
  function dropForBytes(): number {
    if (pendingBytes <= maxBytes) return 0;
    const excess = pendingBytes - maxBytes;
    let freed = 0;
    let n = 0;
    let cutoff = 0;
    for (const [seq, size] of stmt.oldest.iterate()) {
      freed += size;
      n++;
      cutoff = seq;
      if (freed >= excess) break;
    }
    if (n === 0) return 0;
    stmt.deleteUpTo.run(cutoff);
    stmt.addDropped.run(n, site);
    pending -= n;
    pendingBytes -= freed;
    return n;
  }

  /** Inside a transaction: drop readings whose origin is older than maxAgeMs. */
  function dropForAge(nowMs: number): number {
    lastAgeCheck = nowMs;
    const cutoff = (nowMs - maxAgeMs) * NS_PER_MS;
    const old = stmt.sumOlder.get(cutoff)!;
    if (old.n === 0) return 0;
    stmt.deleteOlder.run(cutoff);
    stmt.addDropped.run(old.n, site);
    pending -= old.n;
    pendingBytes -= old.b ?? 0;
    return old.n;
  }

  function countDrops(bytes: number, age: number): void {
    droppedEver += bytes + age;
    if (bytes > 0) {
      droppedCount.bytes += bytes;
      dropped.inc({ reason: 'bytes' }, bytes);
      log.warn({ dropped: bytes, reason: 'bytes', maxBytes }, 'outbox full: dropped oldest readings');
    }
    if (age > 0) {
      droppedCount.age += age;
      dropped.inc({ reason: 'age' }, age);
      log.warn({ dropped: age, reason: 'age', maxAgeMs }, 'outbox: dropped readings older than the age bound');
    }
  }

  /** Flat parameters of up to INSERT_CHUNK rows, reused across calls. */
  const params: (string | number | null)[] = [];

  /** The readings appendTx stored, as the tail keeps them; filled only while the tail is on. */
  let made: Reading[] = [];

  const appendTx = db.transaction((readings: readonly ReadingInput[], nowMs: number): { bytes: number; age: number } => {
    let seq = lastSeq;
    let bytes = 0;
    const n = readings.length;
    // A backlog longer than the tail: the forwarder reads these from the file, so the tail is not filled (remember() empties it).
    const keep = tailCap > 0 && pending + n <= tailCap;
    for (let i = 0; i < n; ) {
      // Whole chunks go through the multi-row statement; the tail row by row.
      const chunk = n - i >= INSERT_CHUNK ? INSERT_CHUNK : 1;
      params.length = 0;
      for (const end = i + chunk; i < end; i++) {
        const r = readings[i]!;
        seq++;
        const value = JSON.stringify(r.value);
        const units = r.units ?? null;
        const detail = r.qualityDetail ?? null;
        const size =
          ROW_OVERHEAD + r.device.length + r.profile.length + r.resource.length + value.length + (units === null ? 0 : units.length) + (detail === null ? 0 : detail.length);
        bytes += size;
        params.push(seq, r.origin, size, r.device, r.profile, r.resource, VT_CODE.get(r.valueType)!, Q_CODE.get(r.quality)!, value, units, detail);
        if (keep) {
          // The same object readingFromColumns makes of the row, key for key.
          const stored: Reading = { site, device: r.device, profile: r.profile, resource: r.resource, value: tailValue(r.value, value), valueType: r.valueType, origin: r.origin, quality: r.quality, seq };
          if (units !== null) stored.units = units;
          if (detail !== null) stored.qualityDetail = detail;
          made.push(Object.freeze(stored));
        }
      }
      (chunk === 1 ? stmt.insert : stmt.insertChunk).run(params);
    }
    stmt.setLast.run(seq, site);
    lastSeq = seq;
    pending += readings.length;
    pendingBytes += bytes;
    const age = nowMs - lastAgeCheck >= AGE_CHECK_EVERY_MS ? dropForAge(nowMs) : 0;
    return { bytes: dropForBytes(), age };
  });

  const ackTx = db.transaction((upto: number): void => {
    const gone = stmt.sumUpTo.get(upto)!;
    if (gone.n > 0) stmt.deleteUpTo.run(upto);
    stmt.setAcked.run(upto, site);
    pending -= gone.n;
    pendingBytes -= gone.b ?? 0;
    ackedSeq = upto;
  });

  const ageTx = db.transaction((nowMs: number): number => dropForAge(nowMs));

  /** After a commit: the readings of seqs firstSeq.. join the tail. A commit that also dropped rows (which may be anywhere) starts the tail anew. */
  function remember(firstSeq: number, readings: Reading[], dropped: boolean): void {
    if (tailCap === 0) return;
    if (readings.length === 0) {
      // Not kept (a backlog): what the tail holds is no longer the newest, and the forwarder is behind it.
      clearTail();
      return;
    }
    if (dropped || tail.length === head) {
      clearTail();
      if (dropped) return;
      tailFirst = firstSeq;
    }
    for (const r of readings) tail.push(r);
    const excess = tail.length - head - tailCap;
    if (excess > 0) {
      head += excess;
      tailFirst += excess;
    }
    // Drop the forgotten front once it outweighs what is kept.
    if (head > tailCap) {
      tail = tail.slice(head);
      head = 0;
    }
  }

  /** After an ack: the tail lets go of seqs up to `upto`. */
  function forget(upto: number): void {
    const n = Math.min(upto - tailFirst + 1, tail.length - head);
    if (n <= 0) return;
    head += n;
    tailFirst += n;
    if (head === tail.length) clearTail();
    else if (head > tailCap) {
      tail = tail.slice(head);
      head = 0;
    }
  }

  return {
    append(readings: readonly ReadingInput[]): AppendResult {
      ensureOpen();
      validateBatch(readings, site, 'input', `this outbox's site`);
      if (readings.length === 0) return { firstSeq: lastSeq + 1, lastSeq };
      const firstSeq = lastSeq + 1;
      const before = { lastSeq, pending, pendingBytes };
      let drops: { bytes: number; age: number };
      made = [];
      try {
        drops = appendTx(readings, Date.now());
      } catch (err) {
        // The transaction rolled back: so do the in-memory totals.
        ({ lastSeq, pending, pendingBytes } = before);
        made = [];
        throw err;
      }
      remember(firstSeq, made, drops.bytes + drops.age > 0);
      made = [];
      appended.inc(readings.length);
      countDrops(drops.bytes, drops.age);
      updateGauges();
      return { firstSeq, lastSeq };
    },

    peek(afterSeq: number, maxCount: number): Reading[] {
      ensureOpen();
      if (maxCount <= 0) return [];
      // Rows up to ackedSeq are gone from the file: the first row after afterSeq is after both.
      const from = Math.max(afterSeq, ackedSeq) + 1;
      if (tail.length > head && from >= tailFirst) {
        const at = head + (from - tailFirst);
        return tail.slice(at, at + Math.floor(maxCount));
      }
      return stmt.peek.all(afterSeq, Math.floor(maxCount)).map((row) => readingFromColumns(site, row));
    },

    ack(uptoSeq: number): void {
      ensureOpen();
      if (uptoSeq <= ackedSeq) return;
      if (uptoSeq > lastSeq) throw new ErrAckRange({ site, ack: uptoSeq, lastSeq });
      const before = { pending, pendingBytes };
      try {
        ackTx(uptoSeq);
      } catch (err) {
        ({ pending, pendingBytes } = before);
        throw err;
      }
      forget(uptoSeq);
      updateGauges();
    },

    stream(): StreamHeader {
      ensureOpen();
      return { id: stream!, lastSeq };
    },

    streams(): { id: string; fromSeq: number }[] {
      ensureOpen();
      return stmt.streams.all().map((r) => ({ id: r.id, fromSeq: r.from_seq }));
    },

    rotateStream(reason: string): string {
      ensureOpen();
      const previous = stream;
      stream = startStream(reason);
      log.warn({ previous, stream, reason, fromSeq: lastSeq + 1 }, 'outbox: new producer stream');
      return stream;
    },

    stats(): OutboxStats {
      ensureOpen();
      const before = { pending, pendingBytes };
      let age = 0;
      try {
        age = ageTx(Date.now());
      } catch (err) {
        // Dropping by age writes; on a failing disk it waits for the next call, and the stats are still told.
        ({ pending, pendingBytes } = before);
        log.warn({ err: describeError(err) }, 'outbox: cannot drop readings past the age bound now');
      }
      if (age > 0) {
        clearTail();
        countDrops(0, age);
        updateGauges();
      }
      const oldest = pending === 0 ? null : stmt.minOrigin.get()!.o;
      return {
        pending,
        pendingBytes,
        lastSeq,
        ackedSeq,
        oldestOrigin: oldest ?? undefined,
        dropped: { ...droppedCount },
        droppedEver,
        stream: stream!,
      };
    },

    close(): void {
      if (closed) return;
      closed = true;
      clearTail();
      db.close();
    },
  };
}
