/**
 * The SQLite ResourceStore against real database files: the shared store
 * contract (contract.ts), and what only this driver does: restarts and the
 * file, history compaction by historyLimit (GONE, expired continue tokens),
 * watchers falling back to the history table, exact bookmarks and timers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { getEventListeners } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { brief, describeStoreContract, node, rejection, site, take } from './contract.ts';
import { openSqliteStore, StoreErrors, type ResourceStore, type SqliteStoreOptions, type WatchEvent } from './index.ts';

let dir: string;
const open: ResourceStore[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-store-'));
});

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

function store(opts: Partial<SqliteStoreOptions> = {}): ResourceStore {
  const s = openSqliteStore({ file: path.join(dir, 'resources.db'), ...opts });
  open.push(s);
  return s;
}

/** The revision an iteration step delivered (NaN when the iteration ended). */
const revisionOf = (r: IteratorResult<WatchEvent, unknown>): number => (r.done ? Number.NaN : Number(r.value.object.metadata.resourceVersion));

let contractFiles = 0;
describeStoreContract('sqlite', () => {
  const file = path.join(dir, `contract-${contractFiles++}.db`);
  return Promise.resolve({ store: openSqliteStore({ file }) });
});

describe('sqlite store: file, restart, history', () => {
  it('keeps objects and the revision across a restart', async () => {
    const file = path.join(dir, 'nested', 'dir', 'resources.db');
    const first = openSqliteStore({ file });
    await first.apply(site('plant-a'));
    await first.apply(node('n1', 'plant-a'));
    await first.updateStatus('Site', 'plant-a', { phase: 'Online' });
    await first.delete('Node', 'n1');
    const before = await first.get('Site', 'plant-a');
    await first.close();

    const second = openSqliteStore({ file });
    open.push(second);
    expect(await second.currentResourceVersion()).toBe('4');
    expect(await second.get('Site', 'plant-a')).toEqual(before);
    expect(await second.get('Node', 'n1')).toBeUndefined();
    // History survives too: a watcher resumes from where it was.
    expect((await take(second.watch({ resourceVersion: '1' }), 3)).map(brief)).toEqual([
      'ADDED Node/n1@2',
      'MODIFIED Site/plant-a@3',
      'DELETED Node/n1@4',
    ]);
    expect((await second.apply(site('plant-b'))).metadata.resourceVersion).toBe('5');
  });

  it('reports a file it cannot open as a coded error', () => {
    expect(() => openSqliteStore({ file: dir })).toThrow(StoreErrors.ErrFile);
    expect(() => openSqliteStore({ file: path.join(dir, 'x.db'), historyLimit: 0 })).toThrow(/historyLimit/);
  });

  it('expires a continue token whose snapshot was compacted away (410)', async () => {
    const s = store({ historyLimit: 3 });
    for (let i = 0; i < 6; i++) await s.apply(node(`n${i}`, 'plant-a'));
    const p1 = await s.list('Node', { limit: 2 });
    for (let i = 0; i < 4; i++) await s.apply(node(`n${i}`, 'plant-a', { round: String(i) }));
    const err = await rejection(s.list('Node', { limit: 2, continue: p1.continue }));
    expect(err.code).toBe('EDGE_ERR_STORE_GONE');
    expect(err.statusCode).toBe(410);
  });
});

describe('sqlite store: watch history', () => {
  it('a slow watcher falls back to the history table and still sees every event', async () => {
    const s = store();
    const events = s.watch({ resourceVersion: '0' });
    const it = events[Symbol.asyncIterator]();
    const first = it.next();
    for (let i = 0; i < 3000; i++) await s.apply(node(`n${i}`, 'plant-a'));
    const revisions = [revisionOf(await first)];
    while (revisions.length < 3000) {
      revisions.push(revisionOf(await it.next()));
    }
    await it.return?.();
    expect(revisions).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1));
  });

  it('writes made during a long replay come after it, in order, exactly once', async () => {
    const s = store();
    for (let i = 0; i < 600; i++) await s.apply(node(`n${i}`, 'plant-a'));
    const it = s.watch({ resourceVersion: '0' })[Symbol.asyncIterator]();
    const revisions: number[] = [];
    let extra = 0;
    while (revisions.length < 600 + extra) {
      revisions.push(revisionOf(await it.next()));
      if (revisions.length % 50 === 0 && extra < 20) {
        await s.apply(node(`late${extra++}`, 'plant-a'));
      }
    }
    await it.return?.();
    expect(extra).toBe(12);
    expect(revisions).toEqual(Array.from({ length: 612 }, (_, i) => i + 1));
  });

  it('throws GONE (410) for a revision older than the retained history', async () => {
    const s = store({ historyLimit: 3 });
    for (let i = 0; i < 10; i++) await s.apply(node(`n${i}`, 'plant-a'));
    let err: unknown;
    try {
      s.watch({ resourceVersion: '5' });
    } catch (e) {
      err = e;
    }
    expect(StoreErrors.ErrGone.is(err)).toBe(true);
    expect((err as { statusCode: number }).statusCode).toBe(410);
    expect((err as Error).message).toContain('resourceVersion 5 is gone');
    // The oldest retained event is 8: watching from 7 misses nothing.
    expect((await take(s.watch({ resourceVersion: '7' }), 3)).map(brief)).toEqual(['ADDED Node/n7@8', 'ADDED Node/n8@9', 'ADDED Node/n9@10']);
    // From now is always fine, and so is the current revision.
    expect(() => s.watch({ resourceVersion: '10' })).not.toThrow();
    expect(() => s.watch({ resourceVersion: '11' })).toThrow(StoreErrors.ErrGone);
    expect(() => s.watch({ resourceVersion: 'x' })).toThrow(StoreErrors.ErrInvalid);
  });

  it('throws GONE from the iteration when a watcher falls behind compaction', async () => {
    const s = store({ historyLimit: 5 });
    const events = s.watch({ resourceVersion: '0' });
    for (let i = 0; i < 20; i++) await s.apply(node(`n${i}`, 'plant-a'));
    const err = await rejection(take(events, 1));
    expect(err.code).toBe('EDGE_ERR_STORE_GONE');
  });

  it('sends bookmarks with the current revision while idle', async () => {
    const s = store();
    await s.apply(site('plant-a'));
    await s.apply(node('n1', 'plant-b'));
    const got = await take(s.watch({ resourceVersion: '0', site: 'plant-a', bookmarkIntervalMs: 30 }), 3);
    expect(got.map((e) => e.type)).toEqual(['ADDED', 'BOOKMARK', 'BOOKMARK']);
    expect(got[1]?.object.metadata.resourceVersion).toBe('2');
  });

  it('ends when the signal aborts, leaving no listener or timer behind', async () => {
    const s = store();
    // The watch's own timers (the bookmark wait), not the process's: other timers come and go meanwhile.
    const made = vi.spyOn(globalThis, 'setTimeout');
    const cleared = vi.spyOn(globalThis, 'clearTimeout');
    try {
      const ac = new AbortController();
      const it = s.watch({ signal: ac.signal, bookmarkIntervalMs: 60_000 })[Symbol.asyncIterator]();
      const pending = it.next();
      await new Promise((r) => setImmediate(r));
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
      const waits = made.mock.results.filter((r, i) => r.type === 'return' && made.mock.calls[i]![1] !== undefined && Number(made.mock.calls[i]![1]) > 1_000).map((r) => r.value as unknown);
      expect(waits).toHaveLength(1);
      ac.abort();
      expect(await pending).toEqual({ done: true, value: undefined });
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      expect(cleared.mock.calls.map((c) => c[0] as unknown)).toContain(waits[0]);
    } finally {
      made.mockRestore();
      cleared.mockRestore();
    }

    // An already-aborted signal ends at once.
    const done = await take(s.watch({ signal: AbortSignal.abort() }), 1);
    expect(done).toEqual([]);
  });

});
