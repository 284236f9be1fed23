/**
 * The cache storage drivers: one behaviour suite run against both (round
 * trips, LRU bound, refusals, restarts, a SIGKILL mid-write), then what is
 * particular to each (the file driver's discarded files, the SQLite driver's
 * schema version).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFileStorage } from './storage-file.ts';
import { openSqliteStorage } from './storage-sqlite.ts';
import { ErrCacheStorage, openCacheStorage, type CacheEntry, type CacheStorage, type StorageDriver, type StorageOptions } from './storage.ts';
import { SQLITE_STORAGE_SCHEMA_VERSION } from './storage-sqlite.ts';
import { seeded } from '../../test/support/random.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MIB = 1024 * 1024;

const dirs: string[] = [];
const opened: CacheStorage[] = [];

afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'edgeadm-lite-storage-'));
  dirs.push(d);
  return d;
}

/** What an entry counts for against maxBytes: key + metadata JSON + body bytes. */
function sizeOf(key: string, entry: CacheEntry): number {
  return Buffer.byteLength(key) + Buffer.byteLength(JSON.stringify(entry.meta)) + entry.body.length;
}

/** A body derived from key and version, so a reader can tell a whole one from a torn one. The crash child derives it the same way. */
function bodyFor(key: string, v: number, len: number): Buffer {
  return Buffer.alloc(len, createHash('sha256').update(`${key}:${v}`).digest());
}

function entryFor(key: string, v: number, len = 100): CacheEntry {
  return { meta: { v }, body: bodyFor(key, v, len) };
}

/** The error `fn` throws. */
/** The driver the options name, opened at once (openCacheStorage loads it first, asynchronously). */
const openStorage = (o: StorageOptions): CacheStorage => (o.driver === 'file' ? openFileStorage(o) : openSqliteStorage(o));

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('did not throw');
}

const DRIVERS: { driver: StorageDriver; location: (dir: string) => string }[] = [
  { driver: 'file', location: (dir) => path.join(dir, 'cache') },
  { driver: 'sqlite', location: (dir) => path.join(dir, 'cache.db') },
];

describe.each(DRIVERS)('$driver cache storage', ({ driver, location }) => {
  let where: string;

  beforeEach(() => {
    where = location(tempDir());
  });

  function open(maxBytes = MIB): CacheStorage {
    const s = openStorage({ driver, path: where, maxBytes });
    opened.push(s);
    return s;
  }

  function reopen(s: CacheStorage, maxBytes = MIB): CacheStorage {
    s.close();
    return open(maxBytes);
  }

  it('keeps every byte value of a body, and the metadata, as given', () => {
    const s = open();
    const all = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
    const meta = { status: 200, contentType: 'application/vnd.kubernetes.protobuf', resourceVersion: '18446744073709551615', nested: { list: [1, 'ü', null, true, -0.5] }, emoji: '🚀' };
    const key = 'system:node:gw-1|/api/v1/pods?fieldSelector=spec.nodeName%3Dgw-1|application/json;q=0.9';
    expect(s.put(key, { meta, body: all })).toBe(true);
    expect(s.put('empty', { meta: {}, body: Buffer.alloc(0) })).toBe(true);
    const got = s.get(key)!;
    expect(got.meta).toEqual(meta);
    expect(Buffer.compare(got.body, all)).toBe(0);
    expect(s.get('empty')).toEqual({ meta: {}, body: Buffer.alloc(0) });
    expect(s.get('absent')).toBeUndefined();
    const again = reopen(s).get(key)!;
    expect(again.meta).toEqual(meta);
    expect([...again.body]).toEqual([...all]);
  });

  it('replaces an entry and deletes one', () => {
    const s = open();
    s.put('a', entryFor('a', 1));
    s.put('b', entryFor('b', 1));
    s.put('a', entryFor('a', 2, 300));
    expect(s.get('a')).toEqual(entryFor('a', 2, 300));
    expect(s.stats()).toMatchObject({ entries: 2, bytes: sizeOf('a', entryFor('a', 2, 300)) + sizeOf('b', entryFor('b', 1)) });
    s.delete('b');
    s.delete('never-there');
    expect(s.get('b')).toBeUndefined();
    expect(s.keys()).toEqual(['a']);
    const r = reopen(s);
    expect(r.keys()).toEqual(['a']);
    expect(r.get('a')).toEqual(entryFor('a', 2, 300));
  });

  it('lists every key, or those starting with a prefix', () => {
    const s = open();
    const keys = ['alice|/api/v1/pods', 'alice|/api/v1/nodes', 'alice', 'alicf', 'bob|/api/v1/pods', 'a', 'ab', 'a\uffff', 'a\u{10ffff}z', 'ü|/x', ''];
    for (const k of keys) s.put(k, entryFor(k, 1));
    const sorted = (l: string[]): string[] => [...l].sort();
    expect(sorted(s.keys())).toEqual(sorted(keys));
    expect(sorted(s.keys(''))).toEqual(sorted(keys));
    expect(sorted(s.keys('alice|'))).toEqual(['alice|/api/v1/nodes', 'alice|/api/v1/pods']);
    expect(sorted(s.keys('a'))).toEqual(sorted(keys.filter((k) => k.startsWith('a'))));
    expect(s.keys('ü')).toEqual(['ü|/x']);
    expect(s.keys('carol')).toEqual([]);
  });

  it('a fresh instance after close sees every entry', () => {
    let s = open();
    const written = new Map<string, CacheEntry>();
    for (let i = 0; i < 60; i++) {
      const key = `k${i}`;
      const e = entryFor(key, i, 10 + i * 37);
      s.put(key, e);
      written.set(key, e);
    }
    const bytes = s.stats().bytes;
    s = reopen(s);
    expect(s.stats()).toMatchObject({ entries: 60, bytes, evictions: 0, discarded: 0 });
    for (const [key, e] of written) expect(s.get(key)).toEqual(e);
  });

  it('evicts the least recently used entries first; a hit protects an entry', () => {
    const one = sizeOf('a', entryFor('a', 1));
    const s = open(3 * one);
    s.put('a', entryFor('a', 1));
    s.put('b', entryFor('b', 1));
    s.put('c', entryFor('c', 1));
    expect(s.get('a')).toBeDefined();
    s.put('d', entryFor('d', 1));
    expect(s.keys().sort()).toEqual(['a', 'c', 'd']);
    s.put('c', entryFor('c', 2));
    s.put('e', entryFor('e', 1));
    expect(s.keys().sort()).toEqual(['c', 'd', 'e']);
    expect(s.stats()).toMatchObject({ entries: 3, bytes: 3 * one, evictions: 2 });
  });

  it('never holds more than maxBytes and evicts as an LRU model does (random puts, gets and deletes)', () => {
    const maxBytes = 6000;
    const s = open(maxBytes);
    // Seeded: the random tests replay the same way every run.
    const rnd = seeded(driver === 'file' ? 1 : 2);
    /** The model: key -> size, in recency order (first = least recently used). */
    const model = new Map<string, number>();
    let modelBytes = 0;
    let evictions = 0;
    let refused = 0;
    const versions = new Map<string, number>();
    for (let op = 0; op < 400; op++) {
      const key = `k${Math.floor(rnd() * 16)}`;
      const dice = rnd();
      if (dice < 0.6) {
        const v = op;
        const len = rnd() < 0.05 ? maxBytes + Math.floor(rnd() * 1000) : Math.floor(rnd() * 1800);
        const e = entryFor(key, v, len);
        const size = sizeOf(key, e);
        const ok = s.put(key, e);
        expect(ok).toBe(size <= maxBytes);
        modelBytes -= model.get(key) ?? 0;
        model.delete(key);
        if (!ok) {
          refused += 1;
        } else {
          model.set(key, size);
          versions.set(key, v);
          modelBytes += size;
          for (const [k, sz] of model) {
            if (modelBytes <= maxBytes) break;
            model.delete(k);
            modelBytes -= sz;
            evictions += 1;
          }
        }
        expect(s.stats().bytes).toBeLessThanOrEqual(maxBytes);
      } else if (dice < 0.95) {
        const got = s.get(key);
        if (model.has(key)) {
          expect(got?.meta).toEqual({ v: versions.get(key) });
          expect(got?.body.equals(bodyFor(key, versions.get(key)!, got.body.length))).toBe(true);
          const size = model.get(key)!;
          model.delete(key);
          model.set(key, size);
        } else {
          expect(got).toBeUndefined();
        }
      } else {
        s.delete(key);
        modelBytes -= model.get(key) ?? 0;
        model.delete(key);
      }
      expect(s.keys().sort()).toEqual([...model.keys()].sort());
      expect(s.stats()).toMatchObject({ entries: model.size, bytes: modelBytes, evictions, refused });
    }
    expect(evictions).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(3);
  });

  it('refuses an entry larger than maxBytes, counts it, and drops what its key held', () => {
    const s = open(1000);
    s.put('big', entryFor('big', 1, 100));
    s.put('other', entryFor('other', 1, 100));
    expect(s.put('big', entryFor('big', 2, 1000))).toBe(false);
    expect(s.put('huge', entryFor('huge', 1, 10_000))).toBe(false);
    expect(s.get('big')).toBeUndefined();
    expect(s.get('huge')).toBeUndefined();
    expect(s.stats()).toMatchObject({ entries: 1, refused: 2, evictions: 0, bytes: sizeOf('other', entryFor('other', 1, 100)) });
    // Exactly at the bound is not too large.
    const meta = { v: 1 };
    const exact = 1000 - Buffer.byteLength('x') - Buffer.byteLength(JSON.stringify(meta));
    expect(s.put('x', { meta, body: Buffer.alloc(exact) })).toBe(true);
    expect(s.stats()).toMatchObject({ entries: 1, bytes: 1000, evictions: 1 });
  });

  it('reports its stats, and evicts the oldest writes at open when maxBytes was lowered', () => {
    const s = open();
    expect(s.driver).toBe(driver);
    expect(s.stats()).toEqual({ driver, entries: 0, bytes: 0, maxBytes: MIB, evictions: 0, refused: 0, discarded: 0 });
    const entries = ['p', 'q', 'r', 's'].map((k) => [k, { meta: { k, n: [1, 2] }, body: Buffer.from(`body of ${k}`) }] as const);
    for (const [k, e] of entries) s.put(k, e);
    const bytes = entries.reduce((sum, [k, e]) => sum + sizeOf(k, e), 0);
    expect(s.stats()).toEqual({ driver, entries: 4, bytes, maxBytes: MIB, evictions: 0, refused: 0, discarded: 0 });
    // Rewritten last, 'p' is the most recent: the oldest write is now 'q'.
    s.put('p', entries[0]![1]);
    const smaller = reopen(s, bytes - 1);
    expect(smaller.stats()).toMatchObject({ entries: 3, bytes: bytes - sizeOf('q', entries[1]![1]), maxBytes: bytes - 1, evictions: 1 });
    expect(smaller.keys().sort()).toEqual(['p', 'r', 's']);
  });

  it('throws the coded error, naming driver and path, when used after close; close is idempotent', () => {
    const s = open();
    s.put('a', entryFor('a', 1));
    s.close();
    s.close();
    for (const op of [() => s.get('a'), () => s.put('a', entryFor('a', 2)), () => s.delete('a'), () => s.keys(), () => s.stats()]) {
      const err = thrown(op);
      expect(ErrCacheStorage.is(err)).toBe(true);
      expect(err.message).toBe(`lite-apiserver ${driver} storage at ${where}: used after close`);
    }
  });

  it('refuses bad options and metadata that is not a JSON object with the coded error', () => {
    for (const maxBytes of [0, -1, 1.5, Number.NaN]) {
      const err = thrown(() => openStorage({ driver, path: where, maxBytes }));
      expect(ErrCacheStorage.is(err)).toBe(true);
      expect(err.message).toContain('maxBytes');
    }
    const s = open();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(ErrCacheStorage.is(thrown(() => s.put('a', { meta: cyclic, body: Buffer.alloc(1) })))).toBe(true);
    expect(ErrCacheStorage.is(thrown(() => s.put('a', { meta: [] as unknown as Record<string, unknown>, body: Buffer.alloc(1) })))).toBe(true);
    expect(s.stats().entries).toBe(0);
  });

  it('keeps every acknowledged put, and nothing torn, when the writer is killed with SIGKILL mid-loop', async () => {
    const keyCount = 40;
    /** The child's body lengths: the same expression is in its code below. */
    const crashBodyLength = (v: number): number => 1024 + ((v * 7919) % 131072);
    const entry = pathToFileURL(path.join(import.meta.dirname, 'storage.ts')).href;
    // Puts bodies of 1 KiB to ~130 KiB derived as bodyFor() does; prints "key version" once each put returned.
    const code = `
      const { createHash } = await import('node:crypto');
      const { openCacheStorage } = await import(${JSON.stringify(entry)});
      const s = await openCacheStorage({ driver: ${JSON.stringify(driver)}, path: ${JSON.stringify(where)}, maxBytes: ${512 * MIB} });
      for (let v = 0; ; v++) {
        const key = 'k' + (v % ${keyCount});
        const len = 1024 + ((v * 7919) % 131072);
        s.put(key, { meta: { v }, body: Buffer.alloc(len, createHash('sha256').update(key + ':' + v).digest()) });
        process.stdout.write(key + ' ' + v + '\\n');
      }`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let errOut = '';
    child.stderr.on('data', (d: Buffer) => (errOut += d.toString()));
    // 'close', not 'exit': every line the child wrote before the kill has been read.
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.split('\n').length > 3 * keyCount) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => reject(new Error(`writer exited before the kill: ${errOut}`)));
    });
    expect(await exited).toBe('SIGKILL');
    // Complete lines only: the last one may have been cut by the kill.
    const acked = new Map<string, number>();
    let lastAcked = -1;
    for (const line of out.split('\n').slice(0, -1)) {
      const [key, v] = line.split(' ');
      acked.set(key!, Number(v));
      lastAcked = Number(v);
    }
    expect(lastAcked).toBeGreaterThanOrEqual(3 * keyCount - 1);

    const s = open(512 * MIB);
    const inFlight = lastAcked + 1;
    for (const key of s.keys()) {
      const got = s.get(key)!;
      const v = got.meta.v as number;
      // Whole: the body written for that key and version, byte for byte.
      expect(got.body.equals(bodyFor(key, v, crashBodyLength(v))), `${key} v${v}`).toBe(true);
      // The last acknowledged version, or the put the kill cut short (which may have landed whole).
      expect(v === acked.get(key) || (v === inFlight && key === `k${inFlight % keyCount}`), `${key} v${v}, acked v${acked.get(key)}`).toBe(true);
    }
    for (const key of acked.keys()) expect(s.keys(key).includes(key), key).toBe(true);
    expect(s.stats().entries).toBe(s.keys().length);
  });
});

describe('file cache storage on disk', () => {
  let dir: string;

  beforeEach(() => {
    dir = path.join(tempDir(), 'cache');
  });

  function open(maxBytes = MIB): CacheStorage {
    const s = openStorage({ driver: 'file', path: dir, maxBytes });
    opened.push(s);
    return s;
  }

  const fileOf = (key: string): string => path.join(dir, createHash('sha256').update(key).digest('hex'));

  it('keeps its directory 0700 and its entry files 0600, named by the sha256 of the key', () => {
    const s = open();
    s.put('a', entryFor('a', 1));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(fileOf('a')).mode & 0o777).toBe(0o600);
    const raw = readFileSync(fileOf('a'));
    expect(raw.subarray(0, 4).toString('latin1')).toBe('LAC1');
    const headerLength = raw.readUInt32BE(4);
    expect(JSON.parse(raw.subarray(8, 8 + headerLength).toString())).toMatchObject({ key: 'a', meta: { v: 1 } });
    expect(raw.subarray(8 + headerLength).equals(bodyFor('a', 1, 100))).toBe(true);
  });

  it('deletes torn, garbage, misnamed and temporary files at open and counts them; leaves other files alone', () => {
    const s = open();
    for (const k of ['torn', 'garbage', 'whole']) s.put(k, entryFor(k, 1, 5000));
    s.close();
    truncateSync(fileOf('torn'), statSync(fileOf('torn')).size - 10);
    writeFileSync(fileOf('garbage'), Buffer.from('not an entry at all, just some bytes'));
    copyFileSync(fileOf('whole'), fileOf('misnamed'));
    writeFileSync(`${fileOf('whole')}.tmp-0a1b2c`, readFileSync(fileOf('whole')).subarray(0, 100));
    writeFileSync(path.join(dir, 'README'), 'mine');

    const r = open();
    expect(r.keys()).toEqual(['whole']);
    expect(r.stats()).toMatchObject({ entries: 1, discarded: 4, bytes: sizeOf('whole', entryFor('whole', 1, 5000)) });
    expect(r.get('whole')).toEqual(entryFor('whole', 1, 5000));
    expect(readdirSync(dir).sort()).toEqual([path.basename(fileOf('whole')), 'README'].sort());
  });

  it('answers a miss, and forgets the entry, when its file vanished or was changed behind its back', () => {
    const s = open();
    for (const k of ['gone', 'flipped', 'kept']) s.put(k, entryFor(k, 1));
    unlinkSync(fileOf('gone'));
    const raw = readFileSync(fileOf('flipped'));
    raw[raw.length - 1]! ^= 0xff;
    writeFileSync(fileOf('flipped'), raw);
    expect(s.get('gone')).toBeUndefined();
    expect(s.get('flipped')).toBeUndefined();
    expect(s.get('kept')).toEqual(entryFor('kept', 1));
    expect(s.stats()).toMatchObject({ entries: 1, bytes: sizeOf('kept', entryFor('kept', 1)) });
    expect(readdirSync(dir)).toEqual([path.basename(fileOf('kept'))]);
  });

  it('refuses a directory every user may write to', () => {
    const err = thrown(() => openStorage({ driver: 'file', path: tmpdir(), maxBytes: MIB }));
    expect(ErrCacheStorage.is(err)).toBe(true);
    expect(err.message).toContain(`file storage at ${tmpdir()}`);
  });
});

describe('sqlite cache storage on disk', () => {
  let file: string;

  beforeEach(() => {
    file = path.join(tempDir(), 'nested', 'cache.db');
  });

  function open(maxBytes = MIB): CacheStorage {
    const s = openStorage({ driver: 'sqlite', path: file, maxBytes });
    opened.push(s);
    return s;
  }

  it('creates its file 0600 in a folder made 0700, with the schema version set', () => {
    open().put('a', entryFor('a', 1));
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_STORAGE_SCHEMA_VERSION);
    db.close();
  });

  it('keeps the recency order of hits across close and reopen, also past a batch of hits', () => {
    const s = open();
    const keys = Array.from({ length: 600 }, (_, i) => `k${i}`);
    for (const k of keys) s.put(k, entryFor(k, 1, 10));
    // Hit in reverse: k599 becomes the least recently used, k0 the most.
    for (const k of [...keys].reverse()) expect(s.get(k)).toBeDefined();
    const bytes = s.stats().bytes;
    s.close();
    const r = open(bytes - 1);
    expect(r.stats()).toMatchObject({ entries: 599, evictions: 1 });
    expect(r.get('k599')).toBeUndefined();
    expect(r.get('k598')).toBeDefined();
  });

  it('refuses a file of a newer schema version, naming it, and leaves the file as it was', () => {
    open().put('a', entryFor('a', 1));
    opened.splice(0).forEach((s) => s.close());
    const newer = SQLITE_STORAGE_SCHEMA_VERSION + 1;
    const db = new Database(file);
    db.pragma(`user_version = ${newer}`);
    db.close();
    const err = thrown(() => open());
    expect(ErrCacheStorage.is(err)).toBe(true);
    expect(err.message).toContain(`sqlite storage at ${file}: schema version ${newer} is newer`);
    const after = new Database(file, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(newer);
    after.close();
  });

  it('refuses a SQLite file that holds something else, and a file that is not SQLite', () => {
    const dir = tempDir();
    const foreign = path.join(dir, 'accounts.db');
    const db = new Database(foreign);
    db.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY)');
    db.close();
    const other = thrown(() => openStorage({ driver: 'sqlite', path: foreign, maxBytes: MIB }));
    expect(ErrCacheStorage.is(other)).toBe(true);
    expect(other.message).toContain(`sqlite storage at ${foreign}: not a lite-apiserver cache`);
    const junk = path.join(dir, 'junk.db');
    writeFileSync(junk, Buffer.alloc(8192, 7));
    const notDb = thrown(() => openStorage({ driver: 'sqlite', path: junk, maxBytes: MIB }));
    expect(ErrCacheStorage.is(notDb)).toBe(true);
    expect(notDb.message).toContain(`sqlite storage at ${junk}: cannot open the database`);
  });
});

describe('openCacheStorage', () => {
  it('refuses a driver it does not know, never falling back to another', async () => {
    const err = await openCacheStorage({ driver: 'memory' as StorageDriver, path: tempDir(), maxBytes: MIB }).then(
      () => new Error('did not throw'),
      (e: unknown) => e as Error,
    );
    expect(ErrCacheStorage.is(err)).toBe(true);
    expect(err.message).toContain('unknown driver: expected one of file, sqlite');
  });
});
