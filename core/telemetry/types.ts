/**
 * Telemetry contracts: the site's durable outbox, the uplinks that carry its
 * readings to the hub, and the hub's idempotent telemetry store.
 */
import type { Reading, StoredReading } from '../sdk/index.ts';

/** A reading before the outbox numbers it. */
export type ReadingInput = Omit<Reading, 'seq'>;

export interface AppendResult {
  firstSeq: number;
  lastSeq: number;
}

export interface OutboxStats {
  /** Readings committed and not yet acknowledged by the hub. */
  pending: number;
  pendingBytes: number;
  lastSeq: number;
  ackedSeq: number;
  /** Origin (ns) of the oldest pending reading, if any. */
  oldestOrigin: number | undefined;
  /** Dropped since the outbox was opened, by reason. */
  dropped: { bytes: number; age: number };
  /** Dropped since the file was created (kept in the file). */
  droppedEver: number;
  /** The producer stream id the outbox sends under. */
  stream: string;
}

/** Sent with every batch: which producer stream it belongs to, and the last seq that stream has issued. */
export interface StreamHeader {
  id: string;
  lastSeq: number;
}

/** A batch as an uplink carries it. */
export interface Batch {
  stream: StreamHeader;
  readings: readonly Reading[];
}

export interface Outbox {
  /** Commits the readings (one transaction) and numbers them; returns only once they are durable. */
  append(readings: readonly ReadingInput[]): AppendResult;
  /** Pending readings with seq > afterSeq, in seq order. The objects may be shared between calls: frozen, not to be changed. */
  peek(afterSeq: number, maxCount: number): Reading[];
  /** The hub holds every reading up to and including seq: release them. */
  ack(uptoSeq: number): void;
  /** The stream header batches are sent under now. */
  stream(): StreamHeader;
  /** Starts a new producer stream (new id; seqs go on), e.g. when the hub holds readings of the current one this outbox never sent. */
  rotateStream(reason: string): string;
  /** Every stream id this outbox has sent under, oldest first, with the first seq sent under it. */
  streams(): { id: string; fromSeq: number }[];
  stats(): OutboxStats;
  close(): void;
}

/** Carries batches to the hub; resolves only when the hub has durably ingested the batch. */
export interface Uplink {
  readonly name: string;
  /**
   * Sends a batch. `encoded`, when given, is what `encode(batch)` returned:
   * the forwarder encodes the next batch while the current one travels.
   */
  send(batch: Batch, signal?: AbortSignal, encoded?: Promise<Uint8Array>): Promise<IngestResult>;
  /** Encodes a batch for the wire ahead of sending it, where the uplink has a separate encoding step. */
  encode?(batch: Batch): Promise<Uint8Array>;
  close(): Promise<void>;
}

/**
 * What the hub did with a batch. Every reading is in exactly one count:
 * stored; already held with the same content (a resend); already held with
 * other content under the same (stream, seq) (a conflict: the incoming one
 * is quarantined, the stored one kept); or quarantined for another reason
 * (an unknown device or resource).
 */
export interface IngestResult {
  accepted: number;
  duplicates: number;
  conflicts: number;
  quarantined: number;
}

/** Who sent a batch, as the hub knows it: the producer comes from the credential, never from the batch. */
export interface StreamKey {
  site: string;
  /** `node:<name>` for a node credential, `token:<id>` for any other token. */
  producer: string;
  /** The producer's stream id and the last seq it says it has issued. */
  stream: StreamHeader;
}

export interface IngestOptions {
  /** Sends a reading to quarantine instead of storing it (unknown device or resource). */
  classify?: (r: Reading) => QuarantineReason | undefined;
  /**
   * Store a rewound stream's batch anyway (its seqs already held count as
   * duplicates or conflicts) instead of refusing it: for transports that
   * cannot tell the producer why (MQTT 3.1.1 can only close the connection).
   */
  acceptRewound?: boolean;
}

/** Why a reading is quarantined instead of stored. */
export type QuarantineReason = 'conflict' | 'unknown-device' | 'unknown-resource';

/** A producer stream as the hub holds it. */
export interface StreamInfo {
  site: string;
  producer: string;
  id: string;
  /** `<producer>/<id>`, as readings carry it. */
  name: string;
  /** Readings stored, and quarantined (conflicts included). */
  held: number;
  quarantined: number;
  conflicts: number;
  duplicates: number;
  /** Highest seq stored or quarantined; the highest lastSeq the producer declared. */
  highSeq: number;
  declaredLastSeq: number;
  firstIngestAt: string;
  lastIngestAt: string;
}

/** A reading the hub keeps aside, with why. */
export interface QuarantinedReading {
  reason: QuarantineReason;
  receivedAt: string;
  stream: string;
  reading: Reading;
}

export interface TelemetryQuery {
  site?: string;
  device?: string;
  resource?: string;
  /** Origin range, ns since epoch, inclusive. */
  from?: number;
  to?: number;
  /** Page size (default 1000, max 10000). */
  limit?: number;
  /** Opaque cursor from the previous page. */
  cursor?: string;
  /** Newest first when true. */
  descending?: boolean;
}

export interface TelemetryPage {
  items: StoredReading[];
  next?: string;
}

export interface LiveFilter {
  site?: string;
  device?: string;
  resource?: string;
}

/**
 * The hub's telemetry store: exactly one copy of each (site, producer,
 * stream, seq). Drivers: SQLite (one hub, the embedded default) and
 * PostgreSQL (hub replicas sharing it). Every call but `subscribe` is
 * asynchronous; a refusal is the promise's rejection.
 */
export interface TelemetryStore {
  /** Which engine holds the readings. */
  readonly driver: 'sqlite' | 'postgres';
  /**
   * Validates the batch whole and stores it in one transaction. The
   * readings are not copied: those stored go to live subscribers as they
   * are, with `stream` set.
   * `opts.classify` may send a reading to quarantine instead (unknown device
   * or resource).
   * Refuses (nothing written) a batch whose seqs do not increase, exceed the
   * declared lastSeq, or whose stream declares a lastSeq below one it
   * declared before (EDGE_ERR_TELEMETRY_STREAM_REWOUND: start a new stream).
   */
  ingest(key: StreamKey, readings: readonly Reading[], opts?: IngestOptions): Promise<IngestResult>;
  query(q: TelemetryQuery): Promise<TelemetryPage>;
  /** Called after each committed ingest with the newly stored readings. */
  subscribe(filter: LiveFilter, onReadings: (readings: readonly StoredReading[]) => void): () => void;
  /** The producer streams of a site (or of every site). */
  streams(site?: string): Promise<StreamInfo[]>;
  /** Quarantined readings, newest first. */
  quarantined(filter: { site?: string; reason?: QuarantineReason; limit?: number }): Promise<QuarantinedReading[]>;
  count(filter?: LiveFilter): Promise<number>;
  /** The stored readings of one producer stream with seq above `afterSeq`, in seq order, at most `limit` (what an export walks). */
  streamReadings(stream: StreamRef, afterSeq: number, limit: number): Promise<StoredReading[]>;
  /** An exporter's durable cursor: per stream, the last seq it has sent. */
  exportCursors(exporter: string): Promise<ExportCursor[]>;
  /** Moves an exporter's cursor of a stream (never back). */
  setExportCursor(exporter: string, stream: StreamRef, seq: number): Promise<void>;
  /**
   * Who runs an exporter: of the replicas on one store, one at a time.
   * PostgreSQL: a session advisory lock, freed when its holder's connection
   * ends (a replica stopped or killed), so another takes the export over.
   * SQLite: one hub, so always this one.
   */
  exportLease(exporter: string): ExportLease;
  close(): Promise<void>;
}

/** A producer stream by its identity. */
export interface StreamRef {
  site: string;
  producer: string;
  id: string;
}

/** The right to run one exporter among the replicas on a store (see TelemetryStore.exportLease). */
export interface ExportLease {
  /** Takes the lease, or checks that it is still held; false while another replica holds it. */
  acquire(): Promise<boolean>;
  /** Gives it up (another replica may take it at once). */
  release(): Promise<void>;
}

/** Where an exporter is in a stream. */
export interface ExportCursor extends StreamRef {
  seq: number;
}
