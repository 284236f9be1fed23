/**
 * Where the lite-apiserver keeps what it cached: one interface, two drivers
 * chosen explicitly (`file` for a light edge node, `sqlite` for a heavy one),
 * never a silent fallback from one to the other.
 *
 * An entry is a key (the proxy's cache key: identity, path, query, Accept),
 * JSON metadata and the body bytes as received. Both drivers:
 * - are reboot-safe: a write is atomic (the old entry or the new one, never a
 *   torn one), and what a put returned survives a restart;
 * - keep the total size (key + metadata + body bytes) under `maxBytes`,
 *   evicting the least recently used entries first; an entry larger than the
 *   whole bound is refused (put answers false) and counted;
 * - are synchronous: the proxy answers a cache hit from one read.
 */
import { describeError, type Logger } from '../kernel/index.ts';
import { ErrCacheStorage } from './errors.ts';

export { ErrCacheStorage };

/** The drivers, as the config names them. */
export const STORAGE_DRIVERS = ['file', 'sqlite'] as const;
export type StorageDriver = (typeof STORAGE_DRIVERS)[number];

/** One cached thing: JSON metadata (status, content type, resourceVersion, ...) and the body as received. */
export interface CacheEntry {
  meta: Record<string, unknown>;
  body: Buffer;
}

export interface StorageStats {
  driver: StorageDriver;
  entries: number;
  /** Key + metadata + body bytes of every entry. */
  bytes: number;
  maxBytes: number;
  /** Entries evicted to stay under maxBytes since open. */
  evictions: number;
  /** Puts refused because the entry alone is larger than maxBytes, since open. */
  refused: number;
  /** Unreadable entries found at open (torn by a crash before atomic writes, or edited) and removed. */
  discarded: number;
}

export interface CacheStorage {
  readonly driver: StorageDriver;
  /** The entry, or undefined; a hit makes it the most recently used. */
  get(key: string): CacheEntry | undefined;
  /** Stores (or replaces) the entry atomically; false when it alone is larger than maxBytes. */
  put(key: string, entry: CacheEntry): boolean;
  delete(key: string): void;
  /** Every key (optionally those starting with `prefix`), in no particular order. */
  keys(prefix?: string): string[];
  stats(): StorageStats;
  /** Flushes and closes; idempotent. */
  close(): void;
}

export interface StorageOptions {
  driver: StorageDriver;
  /** The directory (file driver) or the database file (sqlite driver); created with mode 0700 / 0600. */
  path: string;
  maxBytes: number;
}

/**
 * Opens the storage of the driver the config names; an unknown driver is a
 * coded error, never a fallback. Each driver is loaded only when chosen, so
 * a file-driver process never loads the native SQLite module.
 */
export async function openCacheStorage(o: StorageOptions, logger?: Logger): Promise<CacheStorage> {
  switch (o.driver) {
    case 'file':
      return (await import('./storage-file.ts')).openFileStorage(o, logger);
    case 'sqlite':
      return (await import('./storage-sqlite.ts')).openSqliteStorage(o, logger);
    default: {
      const driver: never = o.driver;
      throw new ErrCacheStorage({ driver: String(driver), path: o.path, reason: `unknown driver: expected one of ${STORAGE_DRIVERS.join(', ')}` });
    }
  }
}

// ---------------------------------------------------------------------------
// What every driver shares

/** A storage failure of `driver` at `where`, saying what failed and why. */
export function storageError(driver: StorageDriver, where: string, what: string, err: unknown): Error {
  return new ErrCacheStorage({ driver, path: where, reason: `${what}: ${describeError(err)}` }, { cause: err });
}

/** Refuses a size bound that is not a positive integer. */
export function checkMaxBytes(driver: StorageDriver, where: string, maxBytes: number): void {
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new ErrCacheStorage({ driver, path: where, reason: `maxBytes must be a positive integer, got ${String(maxBytes)}` });
}

/** An entry as a put stores it: its metadata as JSON (a coded error when that is not a JSON object) and its size as the bound counts it. */
export function measureEntry(driver: StorageDriver, where: string, key: string, entry: CacheEntry): { metaJson: string; size: number } {
  let json: string | undefined;
  const meta: unknown = entry.meta;
  try {
    json = typeof meta === 'object' && meta !== null && !Array.isArray(meta) ? JSON.stringify(meta) : undefined;
  } catch (err) {
    throw new ErrCacheStorage({ driver, path: where, reason: `entry metadata is not JSON: ${describeError(err)}` }, { cause: err });
  }
  if (json === undefined) throw new ErrCacheStorage({ driver, path: where, reason: 'entry metadata must be a JSON object' });
  return { metaJson: json, size: Buffer.byteLength(key) + Buffer.byteLength(json) + entry.body.length };
}
