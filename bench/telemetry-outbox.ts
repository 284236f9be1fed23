/**
 * telemetry-outbox: the site outbox's append rate in batches of 1,000
 * readings (validated, numbered, committed in one WAL transaction per batch,
 * synchronous=NORMAL). The peer is the plain way to write the same rows with
 * better-sqlite3: a prepared row-by-row INSERT into the same table and index,
 * one transaction per batch, no validation or bookkeeping. The outbox pays for
 * validation, seq and byte accounting and bounds, and wins some back with
 * multi-row INSERTs, so the ratio can exceed 1. Also the drain rate
 * (peek + ack) the forwarder sees.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { nowOrigin } from '../core/sdk/index.ts';
import { openOutbox, type ReadingInput } from '../core/telemetry/index.ts';
import { versus, type Benchmark, type BenchResult } from './harness.ts';

const SITE = 'bench-site';
const BATCH = 1000;
const BATCHES = 200;
const RUNS = 5;

/** Realistic batches: 50 devices x 20 resources, origins advancing with time. */
function makeBatches(): ReadingInput[][] {
  const base = nowOrigin();
  return Array.from({ length: BATCHES + 10 }, (_, b) =>
    Array.from({ length: BATCH }, (_, i): ReadingInput => ({
      site: SITE,
      device: `pump-${i % 50}`,
      profile: 'centrifugal-pump',
      resource: `r${i % 20}`,
      value: Math.round((b * BATCH + i) * 1.37 * 100) / 100,
      valueType: 'Float64',
      units: 'bar',
      origin: base + (b * BATCH + i) * 1000,
      quality: 'good',
    })),
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** readings/s appending every batch (after 10 warm-up batches) into a fresh outbox. */
function outboxRun(dir: string, batches: ReadingInput[][], run: number): { append: number; drain: number } {
  const outbox = openOutbox({ file: path.join(dir, `outbox-${run}.db`), site: SITE });
  try {
    for (const b of batches.slice(0, 10)) outbox.append(b);
    const t0 = performance.now();
    for (const b of batches.slice(10)) outbox.append(b);
    const append = (BATCHES * BATCH) / ((performance.now() - t0) / 1000);
    const t1 = performance.now();
    let after = 0;
    let n = 0;
    for (;;) {
      const page = outbox.peek(after, BATCH);
      if (page.length === 0) break;
      after = page[page.length - 1]!.seq;
      outbox.ack(after);
      n += page.length;
    }
    const drain = n / ((performance.now() - t1) / 1000);
    return { append, drain };
  } finally {
    outbox.close();
  }
}

/** The same rows, the same table and index, a prepared row-by-row insert and one transaction per batch: nothing else. */
function rawRun(dir: string, batches: ReadingInput[][], run: number): number {
  const db = new Database(path.join(dir, `raw-${run}.db`));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(`CREATE TABLE outbox (seq INTEGER PRIMARY KEY, origin INTEGER NOT NULL, size INTEGER NOT NULL, device TEXT NOT NULL,
      profile TEXT NOT NULL, resource TEXT NOT NULL, vt INTEGER NOT NULL, q INTEGER NOT NULL, value TEXT NOT NULL, units TEXT, detail TEXT);
      CREATE INDEX outbox_origin ON outbox (origin);`);
    const insert = db.prepare('INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    let seq = 0;
    const tx = db.transaction((b: ReadingInput[]) => {
      for (const r of b) insert.run(++seq, r.origin, 64, r.device, r.profile, r.resource, 11, 0, JSON.stringify(r.value), r.units ?? null, r.qualityDetail ?? null);
    });
    for (const b of batches.slice(0, 10)) tx(b);
    const t0 = performance.now();
    for (const b of batches.slice(10)) tx(b);
    return (BATCHES * BATCH) / ((performance.now() - t0) / 1000);
  } finally {
    db.close();
  }
}

const bench: Benchmark = {
  name: 'telemetry-outbox',
  description: 'site outbox append in batches of 1,000 (WAL, synchronous=NORMAL) vs raw better-sqlite3 inserts; drain rate',
  run(): Promise<BenchResult[]> {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-bench-outbox-'));
    try {
      const batches = makeBatches();
      const appends: number[] = [];
      const drains: number[] = [];
      const raws: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        const r = outboxRun(dir, batches, run);
        appends.push(r.append);
        drains.push(r.drain);
        raws.push(rawRun(dir, batches, run));
      }
      return Promise.resolve([
        versus(
          { bench: 'telemetry-outbox', metric: `append, batches of 1,000 (median of ${RUNS} x ${BATCHES * BATCH})`, value: Math.round(median(appends)), unit: 'readings/s', target: '>= 200000' },
          'raw better-sqlite3 inserts',
          Math.round(median(raws)),
        ),
        { bench: 'telemetry-outbox', metric: 'drain: peek + ack, batches of 1,000', value: Math.round(median(drains)), unit: 'readings/s' },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
