/**
 * Telemetry contracts: the site's durable outbox, the uplinks that carry its
 * readings to the hub, and the hub's idempotent telemetry store.
 */
import type { Reading } from '../sdk/index.ts';

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
  dropped: { bytes: number; age: number };
}

export interface Outbox {
  /** Commits the readings (one transaction) and numbers them; returns only once they are durable. */
  append(readings: readonly ReadingInput[]): AppendResult;
  /** Pending readings with seq > afterSeq, in seq order. */
  peek(afterSeq: number, maxCount: number): Reading[];
  /** The hub holds every reading up to and including seq: release them. */
  ack(uptoSeq: number): void;
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
  send(batch: readonly Reading[], signal?: AbortSignal, encoded?: Promise<Uint8Array>): Promise<IngestResult>;
  /** Encodes a batch for the wire ahead of sending it, where the uplink has a separate encoding step. */
  encode?(batch: readonly Reading[]): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
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
  items: Reading[];
  next?: string;
}

export interface LiveFilter {
  site?: string;
  device?: string;
  resource?: string;
}

/** The hub's telemetry store: exactly one copy of each (site, seq). */
export interface TelemetryStore {
  ingest(site: string, readings: readonly Reading[]): IngestResult;
  query(q: TelemetryQuery): TelemetryPage;
  /** Called after each committed ingest with the newly accepted readings. */
  subscribe(filter: LiveFilter, onReadings: (readings: readonly Reading[]) => void): () => void;
  /** Highest seq held for a site (0 when none). */
  lastSeq(site: string): number;
  count(filter?: LiveFilter): number;
  close(): void;
}
