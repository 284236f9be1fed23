import { copyFileSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startCheckpointer, type Checkpointer } from './checkpointer.ts';
import { captureLogs, quiet, tempDir, waitFor } from './fixtures/helpers.ts';

let tmp: ReturnType<typeof tempDir>;
const dbs: Database.Database[] = [];
const running: Checkpointer[] = [];

function walDb(name = 'w.db'): { db: Database.Database; file: string } {
  const file = tmp.file(name);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  dbs.push(db);
  return { db, file };
}

/** `commits` transactions of `rows` rows of 500 bytes each. */
function write(db: Database.Database, cp: Checkpointer | undefined, commits: number, rows: number): void {
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  const tx = db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run('x'.repeat(500));
  });
  for (let c = 0; c < commits; c++) {
    tx();
    cp?.afterCommit();
  }
}

beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  for (const c of running.splice(0)) await c.close();
  for (const db of dbs.splice(0)) db.close();
  tmp.remove();
});

describe('checkpointer', () => {
  it('copies committed pages into the database file from its own thread, the writer never checkpointing', async () => {
    const { db, file } = walDb();
    const cp = startCheckpointer({ db, file, logger: quiet(), idleMs: 20 });
    running.push(cp);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    write(db, cp, 20, 100);
    const s = await waitFor('every WAL page copied', () => {
      const st = cp.state();
      return st.walPages > 0 && st.checkpointed === st.walPages && st;
    });
    expect(s.worker).toBe('running');
    // The database file alone (no WAL beside it) holds every committed row.
    copyFileSync(file, tmp.file('alone.db'));
    const alone = new Database(tmp.file('alone.db'), { readonly: true });
    expect(alone.prepare('SELECT COUNT(*) FROM t').pluck().get()).toBe(2000);
    alone.close();

    await cp.close();
    expect(cp.state().worker).toBe('stopped');
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  });

  it('bounds the WAL file when the worker does not keep up: the writer checkpoints itself past maxWalBytes', async () => {
    const maxWalBytes = 256 * 1024;
    const bounded = walDb();
    const log = captureLogs();
    // The worker copies the table's creation, finds nothing new the next round, and sleeps for the rest of the test.
    const cp = startCheckpointer({ ...bounded, logger: log.logger, idleMs: 3_600_000, maxWalBytes });
    running.push(cp);
    await waitFor("the worker's first round", () => cp.state().rounds >= 1);
    await new Promise((r) => setTimeout(r, 300));
    write(bounded.db, cp, 200, 40);
    // One commit (40 rows of 500 bytes) may pass the bound before the writer acts.
    expect(statSync(`${bounded.file}-wal`).size).toBeLessThanOrEqual(maxWalBytes + 40 * 4096);
    expect(log.lines.filter((l) => l.msg === 'the WAL outgrew its bound: the writer checkpoints it itself (logged once)')).toHaveLength(1);

    const free = walDb('free.db');
    const idle = startCheckpointer({ ...free, logger: quiet(), idleMs: 3_600_000 });
    running.push(idle);
    await waitFor("the worker's first round", () => idle.state().rounds >= 1);
    await new Promise((r) => setTimeout(r, 300));
    const asleep = idle.state().rounds;
    write(free.db, idle, 200, 40);
    // The same writes under the default bound (64 MiB) stay in the WAL: about 3,500 pages.
    expect(statSync(`${free.file}-wal`).size).toBeGreaterThan(10 * maxWalBytes);
    expect(idle.state().rounds).toBe(asleep);
  });

  it('gives the writer back its automatic checkpoints when the worker fails, and says so', async () => {
    const { db } = walDb();
    const log = captureLogs();
    // The worker opens the file with fileMustExist: a missing one makes it fail at start.
    const cp = startCheckpointer({ db, file: tmp.file('missing.db'), logger: log.logger });
    running.push(cp);
    await waitFor('the worker to fail', () => cp.state().worker === 'failed');
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    expect(log.lines.find((l) => l.msg === 'WAL checkpoint worker failed: the writer checkpoints itself again')).toMatchObject({ level: 50, component: 'checkpointer' });
    write(db, cp, 3, 10);
  });
});
