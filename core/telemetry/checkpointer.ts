/**
 * WAL checkpoints off the event loop, for a SQLite file written hard (the
 * hub's telemetry store). SQLite's own automatic checkpoint runs inside the
 * commit that crosses 1,000 WAL pages: the writer copies them into the
 * database file before its call returns, which was about 40% of the hub's
 * ingest time. Here the writer's connection checkpoints never
 * (`wal_autocheckpoint = 0`) and a worker thread with its own connection
 * runs `PRAGMA wal_checkpoint(PASSIVE)` on a timer: it copies what is
 * committed without blocking the writer or readers, and the writer restarts
 * the WAL from its start once everything is copied.
 *
 * Two nets under it: when the WAL file grows past `maxWalBytes` anyway (the
 * worker cannot keep up, or writes back to back never let the WAL restart),
 * the writer checkpoints itself after its next commit, and SQLite truncates
 * the file back to that size when it restarts; when the worker fails, the
 * writer's connection goes back to SQLite's automatic checkpoints. Either is
 * logged once.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { describeError, type Logger } from '../kernel/index.ts';

export interface CheckpointerOptions {
  /** The writer's connection (its automatic checkpoints are turned off while the checkpointer runs). */
  db: Database.Database;
  /** The database file, opened again by the worker. */
  file: string;
  logger: Logger;
  /** Longest pause between checkpoints while the WAL takes no writes. Default 1,000 ms; while it does, 50 ms. */
  idleMs?: number;
  /** WAL file size past which the writer checkpoints itself; also what the file is truncated to. Default 64 MiB. */
  maxWalBytes?: number;
}

export interface Checkpointer {
  /** Call after each commit: checkpoints here only when the WAL file is past `maxWalBytes` (one stat). */
  afterCommit(): void;
  /** What the last checkpoint saw: WAL pages, and how many of them are in the database file; the worker's rounds so far. */
  state(): { walPages: number; checkpointed: number; rounds: number; worker: 'running' | 'failed' | 'stopped' };
  /** Stops the worker and gives the writer back its automatic checkpoints. Idempotent. */
  close(): Promise<void>;
}

/** SQLite's own default, restored when the worker is gone. */
const AUTO_CHECKPOINT_PAGES = 1000;
const BUSY_MS = 20;

/**
 * The worker: CommonJS, given as text (a worker needs a file or text; text
 * keeps it inside the build's bundles). It writes each checkpoint's WAL
 * pages and pages copied into shared memory (read by the writer without
 * waiting for its event loop) and stops on 'close'.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.lib);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 0');
let timer;
let closed = false;
let copied = -1;
function round() {
  if (closed) return;
  let pause = workerData.idleMs;
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    // Soon again while pages are being written; at the idle pace once a round finds nothing new.
    if (r.checkpointed < r.log) pause = workerData.busyMs;
    else if (r.log !== copied) pause = workerData.busyMs * 4;
    copied = r.log;
    Atomics.store(workerData.shared, 0, r.log);
    Atomics.store(workerData.shared, 1, r.checkpointed);
    Atomics.add(workerData.shared, 2, 1);
  } catch (err) {
    if (!/busy|locked/i.test(String(err && err.message))) throw err;
    pause = workerData.busyMs;
  }
  timer = setTimeout(round, pause);
}
parentPort.on('message', (m) => {
  if (m !== 'close') return;
  closed = true;
  clearTimeout(timer);
  db.close();
  parentPort.close();
});
round();
`;

export function startCheckpointer(opts: CheckpointerOptions): Checkpointer {
  const { db } = opts;
  const log = opts.logger.child({ component: 'checkpointer' });
  const maxWalBytes = opts.maxWalBytes ?? 64 * 1024 * 1024;
  const walFile = `${opts.file}-wal`;
  /** [WAL pages, pages copied] as the last checkpoint saw them, and the worker's rounds. */
  const shared = new Int32Array(new SharedArrayBuffer(12));
  let worker: 'running' | 'failed' | 'stopped' = 'running';
  let selfWarned = false;

  db.pragma(`journal_size_limit = ${maxWalBytes}`);
  db.pragma('wal_autocheckpoint = 0');
  const w = new Worker(WORKER, {
    eval: true,
    workerData: { lib: createRequire(import.meta.url).resolve('better-sqlite3'), file: opts.file, idleMs: opts.idleMs ?? 1000, busyMs: BUSY_MS, shared },
    // A small thread: it runs one pragma at a time.
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
  });
  w.unref();
  const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
  function fallBack(why: string): void {
    if (worker !== 'running') return;
    worker = 'failed';
    try {
      if (db.open) db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
    } catch {
      // The writer's connection is going away too; nothing left to checkpoint for.
    }
    log.error({ file: opts.file, reason: why }, 'WAL checkpoint worker failed: the writer checkpoints itself again');
  }
  w.on('error', (err) => fallBack(describeError(err)));
  w.on('exit', (code) => {
    if (worker === 'running') fallBack(`exited with code ${code}`);
  });

  return {
    afterCommit(): void {
      if (worker !== 'running') return;
      let walBytes: number;
      try {
        walBytes = statSync(walFile).size;
      } catch {
        return;
      }
      if (walBytes <= maxWalBytes) return;
      if (!selfWarned) {
        selfWarned = true;
        log.warn({ file: opts.file, walBytes, maxWalBytes }, 'the WAL outgrew its bound: the writer checkpoints it itself (logged once)');
      }
      const [r] = db.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
      Atomics.store(shared, 0, r!.log);
      Atomics.store(shared, 1, r!.checkpointed);
    },

    state() {
      return { walPages: Atomics.load(shared, 0), checkpointed: Atomics.load(shared, 1), rounds: Atomics.load(shared, 2), worker };
    },

    async close(): Promise<void> {
      if (worker === 'running') {
        worker = 'stopped';
        w.postMessage('close');
        const t = setTimeout(() => void w.terminate(), 5000);
        await exited;
        clearTimeout(t);
        if (db.open) db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
      } else {
        await w.terminate();
      }
    },
  };
}
