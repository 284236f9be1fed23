/**
 * The `file` cache storage driver, for a light edge node: one file per entry
 * in one directory, no native module, and nothing kept in memory but an index.
 *
 * Layout. The directory (mode 0700) holds one file per entry, named by the
 * hex sha256 of the key, so any key (identity, path, query, Accept) makes a
 * safe name of fixed length. A file is
 *
 *   "LAC1" | u32 BE header length | header JSON | body bytes
 *
 * and the header JSON is `{"key", "seq", "bodyBytes", "crc32", "meta"}`: the
 * key (to list keys and check the name), the write's sequence number (see
 * Open), the body's length and CRC-32 (to tell a whole file from a torn or
 * edited one) and the caller's metadata.
 *
 * Atomic and durable. A put writes `<name>.tmp-<random>`, fsyncs it, renames
 * it over `<name>` and fsyncs the directory. The rename is atomic, so a get
 * or a restart sees the old file or the new one, never a mix; once put has
 * returned the new one survives a crash or a power cut. A delete also fsyncs
 * the directory, so a deleted entry does not come back after a restart;
 * evictions do not (an evicted entry that comes back is evicted again).
 *
 * Memory. Only the index is in memory: key -> file name and size, in a Map
 * whose insertion order is the recency order (a hit re-inserts its key), so
 * the least recently used entry is the Map's first. Bodies are read from
 * disk on every get: hot files stay in the kernel's page cache, outside the
 * process.
 *
 * Open. The directory is scanned and the index rebuilt from the headers
 * alone. The recency order starts as the order of the last writes: the
 * headers' sequence numbers, which go on from the largest found (file mtimes
 * tie within a clock tick, and jump with the clock of a node without a
 * battery-backed clock). Hits are not written to disk, which spares flash
 * storage a write per hit. Leftover temporary files (a put cut short) and
 * entry files that are not whole are deleted and counted as `discarded`;
 * files with other names are not the driver's: they are left alone and
 * logged. The index belongs to one process: one process uses a directory at
 * a time.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readdirSync, readFileSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { createLogger, ensurePrivateDir, type Logger } from '../kernel/index.ts';
import { ErrCacheStorage } from './errors.ts';
import { checkMaxBytes, measureEntry, storageError, type CacheEntry, type CacheStorage, type StorageStats } from './storage.ts';

export interface FileStorageOptions {
  /** The directory; created (and kept) with mode 0700. */
  path: string;
  /** Bound on key + metadata JSON + body bytes of all entries. */
  maxBytes: number;
}

const DRIVER = 'file' as const;
const MAGIC = Buffer.from('LAC1', 'latin1');
/** Magic and the header length. */
const PREFIX_BYTES = 8;
const ENTRY_NAME = /^[0-9a-f]{64}$/;
const TMP_NAME = /^[0-9a-f]{64}\.tmp-[0-9a-f]+$/;

interface IndexEntry {
  name: string;
  /** Key + metadata JSON + body bytes. */
  size: number;
}

interface Header {
  key: string;
  seq: number;
  bodyBytes: number;
  crc32: number;
  meta: Record<string, unknown>;
}

/** An entry file found at open, from its header. */
interface Found {
  key: string;
  entry: IndexEntry;
  seq: number;
}

interface Scan {
  found: Found[];
  discarded: string[];
  foreign: string[];
}

export function openFileStorage(o: FileStorageOptions, logger?: Logger): CacheStorage {
  return FileStorage.open(o, (logger ?? createLogger({ level: 'silent' })).child({ component: 'lite-apiserver-storage', driver: DRIVER, path: o.path }));
}

class FileStorage implements CacheStorage {
  readonly driver = DRIVER;
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #log: Logger;
  /** The directory, open for fsync after renames and deletes. */
  readonly #dirFd: number;
  /** key -> file; first = least recently used. */
  readonly #index = new Map<string, IndexEntry>();
  #bytes = 0;
  #evictions = 0;
  #refused = 0;
  readonly #discarded: number;
  /** The sequence number of the last write. */
  #seq = 0;
  #closed = false;

  static open(o: FileStorageOptions, log: Logger): FileStorage {
    checkOptions(o);
    const dir = o.path;
    let scan: Scan;
    let dirFd: number;
    try {
      ensurePrivateDir(dir);
      scan = scanDirectory(dir);
      dirFd = openSync(dir, 'r');
    } catch (err) {
      throw storageError(DRIVER, dir, 'cannot open the directory', err);
    }
    return new FileStorage(dir, o.maxBytes, log, dirFd, scan);
  }

  private constructor(dir: string, maxBytes: number, log: Logger, dirFd: number, scan: Scan) {
    this.#dir = dir;
    this.#maxBytes = maxBytes;
    this.#log = log;
    this.#dirFd = dirFd;
    this.#discarded = scan.discarded.length;
    scan.found.sort((a, b) => a.seq - b.seq);
    for (const f of scan.found) {
      this.#index.set(f.key, f.entry);
      this.#bytes += f.entry.size;
      this.#seq = f.seq;
    }
    if (scan.discarded.length > 0) log.warn({ discarded: scan.discarded.length, files: scan.discarded.slice(0, 10) }, 'discarded unreadable cache files');
    if (scan.foreign.length > 0) log.warn({ count: scan.foreign.length, files: scan.foreign.slice(0, 10) }, 'files that are not cache entries left alone in the cache directory');
    // The bound may have been lowered since the entries were written.
    this.#evict();
    log.debug({ entries: this.#index.size, bytes: this.#bytes }, 'cache storage open');
  }

  get(key: string): CacheEntry | undefined {
    this.#assertOpen();
    const rec = this.#index.get(key);
    if (rec === undefined) return undefined;
    const entry = this.#read(key, rec);
    if (entry === undefined) return undefined;
    this.#index.delete(key);
    this.#index.set(key, rec);
    return entry;
  }

  put(key: string, entry: CacheEntry): boolean {
    this.#assertOpen();
    const { metaJson, size } = measureEntry(DRIVER, this.#dir, key, entry);
    if (size > this.#maxBytes) {
      this.#refused += 1;
      // The caller meant to replace what the key held: never serve the older entry.
      this.delete(key);
      this.#log.debug({ size, maxBytes: this.#maxBytes }, 'cache entry larger than the bound refused');
      return false;
    }
    const name = fileName(key);
    this.#writeAtomically(name, encodeHead(key, this.#seq + 1, metaJson, entry.body), entry.body);
    this.#seq += 1;
    const old = this.#index.get(key);
    if (old !== undefined) this.#forget(key, old);
    this.#index.set(key, { name, size });
    this.#bytes += size;
    this.#syncDir();
    this.#evict();
    return true;
  }

  delete(key: string): void {
    this.#assertOpen();
    const rec = this.#index.get(key);
    if (rec === undefined) return;
    this.#unlink(rec.name);
    this.#forget(key, rec);
    this.#syncDir();
  }

  keys(prefix?: string): string[] {
    this.#assertOpen();
    const all = [...this.#index.keys()];
    return prefix === undefined || prefix === '' ? all : all.filter((k) => k.startsWith(prefix));
  }

  stats(): StorageStats {
    this.#assertOpen();
    return {
      driver: DRIVER,
      entries: this.#index.size,
      bytes: this.#bytes,
      maxBytes: this.#maxBytes,
      evictions: this.#evictions,
      refused: this.#refused,
      discarded: this.#discarded,
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#dirFd);
  }

  #assertOpen(): void {
    if (this.#closed) throw new ErrCacheStorage({ driver: DRIVER, path: this.#dir, reason: 'used after close' });
  }

  /** The entry in the file, or undefined (and the file dropped) when it vanished or is not whole. */
  #read(key: string, rec: IndexEntry): CacheEntry | undefined {
    let buf: Buffer;
    try {
      buf = readFileSync(path.join(this.#dir, rec.name));
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw storageError(DRIVER, this.#dir, `cannot read entry file ${rec.name}`, err);
      this.#log.warn({ file: rec.name }, 'cache entry file vanished');
      this.#forget(key, rec);
      return undefined;
    }
    const decoded = decodeEntry(buf, key);
    if (typeof decoded === 'string') {
      this.#log.warn({ file: rec.name, reason: decoded }, 'unreadable cache entry file dropped');
      this.#unlink(rec.name);
      this.#forget(key, rec);
      return undefined;
    }
    return decoded;
  }

  /** Writes `<name>` through a fsynced temporary file renamed over it; the caller fsyncs the directory. */
  #writeAtomically(name: string, head: Buffer, body: Buffer): void {
    const tmp = path.join(this.#dir, `${name}.tmp-${randomBytes(6).toString('hex')}`);
    let fd = -1;
    try {
      fd = openSync(tmp, 'wx', 0o600);
      writeFully(fd, head);
      writeFully(fd, body);
      fsyncSync(fd);
      closeSync(fd);
      fd = -1;
      renameSync(tmp, path.join(this.#dir, name));
    } catch (err) {
      if (fd !== -1) closeSync(fd);
      unlinkQuietly(tmp);
      throw storageError(DRIVER, this.#dir, `cannot write entry file ${name}`, err);
    }
  }

  #syncDir(): void {
    try {
      fsyncSync(this.#dirFd);
    } catch (err) {
      throw storageError(DRIVER, this.#dir, 'cannot fsync the directory', err);
    }
  }

  #unlink(name: string): void {
    try {
      unlinkSync(path.join(this.#dir, name));
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw storageError(DRIVER, this.#dir, `cannot delete entry file ${name}`, err);
    }
  }

  #forget(key: string, rec: IndexEntry): void {
    this.#index.delete(key);
    this.#bytes -= rec.size;
  }

  /** Deletes least recently used entries until the total is within the bound. */
  #evict(): void {
    for (const [key, rec] of this.#index) {
      if (this.#bytes <= this.#maxBytes) return;
      this.#unlink(rec.name);
      this.#forget(key, rec);
      this.#evictions += 1;
    }
  }
}


function checkOptions(o: FileStorageOptions): void {
  if (typeof o.path !== 'string' || o.path === '') {
    throw new ErrCacheStorage({ driver: DRIVER, path: String(o.path), reason: 'path must be a non-empty directory path' });
  }
  checkMaxBytes(DRIVER, o.path, o.maxBytes);
}

function fileName(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}


/** Magic, header length and header JSON of an entry file. */
function encodeHead(key: string, seq: number, metaJson: string, body: Buffer): Buffer {
  const header = Buffer.from(`{"key":${JSON.stringify(key)},"seq":${seq},"bodyBytes":${body.length},"crc32":${crc32(body)},"meta":${metaJson}}`);
  const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt32BE(header.length, 4);
  return Buffer.concat([prefix, header]);
}

/** The header JSON's length from an entry file's first bytes, or a reason it is not an entry file. */
function headerLength(prefix: Buffer, fileBytes: number): number | string {
  if (prefix.length < PREFIX_BYTES) return 'shorter than its prefix';
  if (!prefix.subarray(0, 4).equals(MAGIC)) return 'bad magic';
  const len = prefix.readUInt32BE(4);
  if (PREFIX_BYTES + len > fileBytes) return 'header longer than the file';
  return len;
}

function decodeHeader(json: Buffer): Header | string {
  let h: unknown;
  try {
    h = JSON.parse(json.toString('utf8'));
  } catch {
    return 'header is not JSON';
  }
  if (typeof h !== 'object' || h === null) return 'header is not an object';
  const { key, seq, bodyBytes, crc32: sum, meta } = h as Partial<Record<keyof Header, unknown>>;
  if (typeof key !== 'string') return 'header has no key';
  if (!Number.isSafeInteger(seq) || (seq as number) < 0) return 'header has no sequence number';
  if (!Number.isSafeInteger(bodyBytes) || (bodyBytes as number) < 0) return 'header has no body length';
  if (!Number.isSafeInteger(sum)) return 'header has no checksum';
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return 'header has no metadata';
  return { key, seq: seq as number, bodyBytes: bodyBytes as number, crc32: sum as number, meta: meta as Record<string, unknown> };
}

/** The entry in a whole entry file read for `key`, or a reason it is not whole. */
function decodeEntry(buf: Buffer, key: string): CacheEntry | string {
  const len = headerLength(buf, buf.length);
  if (typeof len === 'string') return len;
  const header = decodeHeader(buf.subarray(PREFIX_BYTES, PREFIX_BYTES + len));
  if (typeof header === 'string') return header;
  if (header.key !== key) return 'holds another key';
  const body = buf.subarray(PREFIX_BYTES + len);
  if (body.length !== header.bodyBytes) return `body is ${body.length} bytes, header says ${header.bodyBytes}`;
  if (crc32(body) !== header.crc32) return 'body checksum mismatch';
  return { meta: header.meta, body };
}

/** Lists the directory: entries (from their headers), discarded (deleted) files, foreign files. */
function scanDirectory(dir: string): Scan {
  const scan: Scan = { found: [], discarded: [], foreign: [] };
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    if (!d.isFile()) {
      scan.foreign.push(d.name);
    } else if (TMP_NAME.test(d.name)) {
      unlinkSync(path.join(dir, d.name));
      scan.discarded.push(d.name);
    } else if (ENTRY_NAME.test(d.name)) {
      const found = readEntryHead(dir, d.name);
      if (typeof found === 'string') {
        unlinkSync(path.join(dir, d.name));
        scan.discarded.push(d.name);
      } else {
        scan.found.push(found);
      }
    } else {
      scan.foreign.push(d.name);
    }
  }
  return scan;
}

/** An entry file's index entry from its header (the body is not read), or a reason it is not whole. */
function readEntryHead(dir: string, name: string): Found | string {
  const fd = openSync(path.join(dir, name), 'r');
  try {
    const fileBytes = fstatSync(fd).size;
    const prefix = readAt(fd, 0, PREFIX_BYTES);
    const len = headerLength(prefix, fileBytes);
    if (typeof len === 'string') return len;
    const header = decodeHeader(readAt(fd, PREFIX_BYTES, len));
    if (typeof header === 'string') return header;
    if (fileName(header.key) !== name) return 'name is not the hash of its key';
    if (PREFIX_BYTES + len + header.bodyBytes !== fileBytes) return 'body length does not match the header';
    const size = Buffer.byteLength(header.key) + Buffer.byteLength(JSON.stringify(header.meta)) + header.bodyBytes;
    return { key: header.key, entry: { name, size }, seq: header.seq };
  } finally {
    closeSync(fd);
  }
}

/** Up to `length` bytes at `position` (fewer at the end of the file). */
function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

function writeFully(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Best effort: a leftover temporary file is deleted at the next open.
  }
}

function errorCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}
