import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BASE_ORIGIN, input, inputs, metricValue, tempDir, thrown } from './fixtures/helpers.ts';
import { openOutbox, TelemetryErrors, type Outbox, type ReadingInput } from './index.ts';

const SITE = 'plant-a';
let tmp: ReturnType<typeof tempDir>;
const open: Outbox[] = [];

function outbox(opts: Partial<Parameters<typeof openOutbox>[0]> = {}): Outbox {
  const o = openOutbox({ file: tmp.file('outbox.db'), site: SITE, ...opts });
  open.push(o);
  return o;
}

beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => {
  for (const o of open.splice(0)) o.close();
  tmp.remove();
});

describe('outbox', () => {
  it('numbers, keeps and returns readings in seq order; ack releases them', () => {
    const o = outbox();
    const batch: ReadingInput[] = [
      input(SITE, 0),
      input(SITE, 1, { value: { a: [1, 'x', null] }, valueType: 'Object', units: undefined, quality: 'uncertain', qualityDetail: 'STALE' }),
      input(SITE, 2, { value: 'MTIz', valueType: 'Binary' }),
      input(SITE, 3, { value: [true, false], valueType: 'BoolArray' }),
    ];
    delete batch[1]!.units;
    expect(o.append(batch)).toEqual({ firstSeq: 1, lastSeq: 4 });
    expect(o.append([input(SITE, 4)])).toEqual({ firstSeq: 5, lastSeq: 5 });

    const all = o.peek(0, 100);
    expect(all.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(all[0]).toEqual({ ...batch[0], seq: 1 });
    expect(all[1]).toEqual({ ...batch[1], seq: 2 });
    expect(all[1]).not.toHaveProperty('units');
    expect(all[2]!.value).toBe('MTIz');
    expect(all[3]!.value).toEqual([true, false]);
    expect(o.peek(2, 2).map((r) => r.seq)).toEqual([3, 4]);

    o.ack(3);
    expect(o.peek(0, 100).map((r) => r.seq)).toEqual([4, 5]);
    o.ack(1); // older than the acked pointer: nothing happens
    const s = o.stats();
    expect(s).toMatchObject({ pending: 2, lastSeq: 5, ackedSeq: 3, oldestOrigin: BASE_ORIGIN + 3000, dropped: { bytes: 0, age: 0 } });
    expect(s.pendingBytes).toBeGreaterThan(0);
    expect(TelemetryErrors.ErrAckRange.is(thrown(() => o.ack(6)))).toBe(true);
    o.ack(5);
    expect(o.stats()).toMatchObject({ pending: 0, pendingBytes: 0, oldestOrigin: undefined });
  });

  it('continues its seq after a reopen and never reuses an acked seq', () => {
    const a = outbox();
    a.append(inputs(SITE, 0, 5));
    a.ack(3);
    a.close();
    const b = outbox();
    expect(b.stats()).toMatchObject({ pending: 2, lastSeq: 5, ackedSeq: 3 });
    expect(b.peek(0, 10).map((r) => r.seq)).toEqual([4, 5]);
    b.ack(5);
    b.close();
    const c = outbox();
    expect(c.append(inputs(SITE, 5, 2))).toEqual({ firstSeq: 6, lastSeq: 7 });
    expect(c.stats()).toMatchObject({ pending: 2, ackedSeq: 5 });
  });

  it('refuses a file that belongs to another site', () => {
    outbox().close();
    const err = thrown(() => openOutbox({ file: tmp.file('outbox.db'), site: 'plant-b' }));
    expect(TelemetryErrors.ErrOutboxSite.is(err)).toBe(true);
    expect((err as Error).message).toContain("'plant-a'");
  });

  it('rejects a batch with any bad reading whole, naming index and field', () => {
    const o = outbox();
    o.append(inputs(SITE, 0, 2));
    const missing = input(SITE, 3) as Partial<ReadingInput>;
    delete missing.device;
    const err = thrown(() => o.append([input(SITE, 2), missing as ReadingInput, input('plant-b', 4), { ...input(SITE, 5), origin: 1.5 }]));
    expect(TelemetryErrors.ErrInvalid.is(err)).toBe(true);
    const e = err as InstanceType<typeof TelemetryErrors.ErrInvalid>;
    expect(e.code).toBe('EDGE_ERR_TELEMETRY_INVALID');
    expect(e.statusCode).toBe(400);
    expect(e.params).toMatchObject({ index: 1, field: 'device', problem: 'is required', count: 3 });
    expect(e.params.issues).toEqual(
      expect.arrayContaining([
        { path: '[1].device', message: 'is required' },
        { path: '[2].site', message: "must be 'plant-a' (this outbox's site)" },
        expect.objectContaining({ path: '[3].origin' }),
      ]),
    );
    expect(e.message).toMatch(/reading \[1\] field 'device' is required/);
    // nothing of that call was written, and the seq did not move
    expect(o.stats()).toMatchObject({ pending: 2, lastSeq: 2 });
    expect(thrown(() => o.append([{ ...input(SITE, 6), seq: 9 } as ReadingInput]))).toMatchObject({ params: { index: 0, field: 'seq', problem: 'is not a known field' } });
    expect(o.append([input(SITE, 7)])).toEqual({ firstSeq: 3, lastSeq: 3 });
  });

  it('drops the oldest readings beyond maxBytes and counts them', async () => {
    const metrics = new Registry();
    const o = outbox({ maxBytes: 3000, metrics });
    for (let b = 0; b < 10; b++) o.append(inputs(SITE, b * 10, 10));
    const s = o.stats();
    expect(s.pendingBytes).toBeLessThanOrEqual(3000);
    expect(s.pendingBytes).toBeGreaterThan(2500);
    expect(s.dropped.bytes).toBe(100 - s.pending);
    const seqs = o.peek(0, 1000).map((r) => r.seq);
    expect(seqs).toEqual(Array.from({ length: s.pending }, (_, i) => 101 - s.pending + i));
    expect(await metricValue(metrics, 'edgeadm_outbox_dropped_total', { reason: 'bytes' })).toBe(s.dropped.bytes);
    expect(await metricValue(metrics, 'edgeadm_outbox_appended_total')).toBe(100);
    expect(await metricValue(metrics, 'edgeadm_outbox_pending_readings')).toBe(s.pending);
    expect(await metricValue(metrics, 'edgeadm_outbox_pending_bytes')).toBe(s.pendingBytes);
  });

  it('is one producer stream: its id is kept across reopens, a rotation starts a new one and seqs go on', () => {
    let o = outbox();
    const id = o.stream().id;
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    o.append(inputs(SITE, 0, 3));
    expect(o.stream()).toEqual({ id, lastSeq: 3 });
    o.close();
    o = outbox();
    expect(o.stream()).toEqual({ id, lastSeq: 3 });
    const next = o.rotateStream('rewound');
    expect(next).not.toBe(id);
    expect(o.append([input(SITE, 9)])).toEqual({ firstSeq: 4, lastSeq: 4 });
    expect(o.stream()).toEqual({ id: next, lastSeq: 4 });
    expect(o.stats().stream).toBe(next);
    o.close();
    expect(outbox().stream().id).toBe(next);
    // Another file is another stream.
    const other = openOutbox({ file: tmp.file('other.db'), site: SITE });
    open.push(other);
    expect(other.stream().id).not.toBe(next);
  });

  it('counts drops across reopens (droppedEver), and upgrades a file made before streams', () => {
    let o = outbox({ maxBytes: 3000 });
    for (let b = 0; b < 10; b++) o.append(inputs(SITE, b * 10, 10));
    const dropped = o.stats().droppedEver;
    expect(dropped).toBeGreaterThan(0);
    o.close();
    o = outbox({ maxBytes: 3000 });
    expect(o.stats()).toMatchObject({ droppedEver: dropped, dropped: { bytes: 0, age: 0 } });
    o.close();
    // A file from before: no stream column, no drop count.
    const legacy = new Database(tmp.file('legacy.db'));
    legacy.exec('CREATE TABLE outbox_meta (site TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, acked_seq INTEGER NOT NULL)');
    legacy.prepare('INSERT INTO outbox_meta VALUES (?, 41, 40)').run(SITE);
    legacy.close();
    const up = openOutbox({ file: tmp.file('legacy.db'), site: SITE });
    open.push(up);
    expect(up.stream()).toMatchObject({ lastSeq: 41, id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/) as unknown });
    expect(up.stats()).toMatchObject({ droppedEver: 0, ackedSeq: 40 });
    expect(up.append([input(SITE, 1)]).firstSeq).toBe(42);
  });

  it('drops readings older than maxAgeMs on append (at most once a second) and in stats()', async () => {
    const metrics = new Registry();
    const o = outbox({ maxAgeMs: 60_000, metrics });
    const old = (i: number): ReadingInput => input(SITE, i, { origin: (Date.now() - 120_000) * 1_000_000 });
    o.append([old(0), input(SITE, 1), old(2)]);
    expect(o.peek(0, 10).map((r) => r.seq)).toEqual([2]);
    // Within the second: the append does not check again...
    o.append([old(3), input(SITE, 4)]);
    expect(o.peek(0, 10).map((r) => r.seq)).toEqual([2, 4, 5]);
    // ...but stats() does.
    const s = o.stats();
    expect(s).toMatchObject({ pending: 2, dropped: { age: 3, bytes: 0 } });
    expect(o.peek(0, 10).map((r) => r.seq)).toEqual([2, 5]);
    expect(await metricValue(metrics, 'edgeadm_outbox_dropped_total', { reason: 'age' })).toBe(3);
    expect(await metricValue(metrics, 'edgeadm_outbox_pending_readings')).toBe(2);
  });

  it('keeps every reading whose append returned when the process is killed with SIGKILL', async () => {
    const file = tmp.file('crash.db');
    const script = path.join(import.meta.dirname, 'fixtures', 'outbox-writer.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', script, file, SITE], { cwd: path.resolve(import.meta.dirname, '../..'), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let errOut = '';
    child.stderr.on('data', (d: Buffer) => (errOut += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.split('\n').length > 40) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => reject(new Error(`writer exited early: ${errOut}`)));
    });
    expect(await exited).toBe('SIGKILL');
    const printed = out
      .split('\n')
      .slice(0, -1)
      .map((l) => Number(l));
    const maxPrinted = Math.max(...printed);
    expect(maxPrinted).toBeGreaterThanOrEqual(40 * 200);

    const o = outbox({ file });
    const s = o.stats();
    expect(s.lastSeq).toBeGreaterThanOrEqual(maxPrinted);
    expect(s.pending).toBe(s.lastSeq);
    // Contiguous from 1: nothing whose append returned (nor anything before it) is missing.
    let expected = 1;
    for (let after = 0; ; ) {
      const page = o.peek(after, 5000);
      if (page.length === 0) break;
      for (const r of page) expect(r.seq).toBe(expected++);
      after = page[page.length - 1]!.seq;
    }
    expect(expected - 1).toBe(s.lastSeq);
    expect(o.append([input(SITE, 0)]).firstSeq).toBe(s.lastSeq + 1);
  });
});

describe('outbox memory tail', () => {
  /** Deterministic pseudo-random numbers (mulberry32), so a failure replays. */
  function rng(seed: number): () => number {
    let a = seed;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const VALUES: Partial<ReadingInput>[] = [
    {},
    { value: -0 },
    { value: { a: [1, { b: 'x' }], c: null }, valueType: 'Object', units: undefined },
    { value: [1, 2, 3], valueType: 'Uint16Array', units: undefined },
    { value: null, quality: 'bad', qualityDetail: 'EDGE_ERR_MODBUS_TIMEOUT' },
    { value: 'MTIz', valueType: 'Binary', units: undefined },
  ];

  // A tiny tail, and byte bounds both wider and narrower than it, so trimming, compaction and drops of tail rows all happen.
  it.each([3000, 250])('gives what the file gives, through appends, acks, peeks, drops for bytes and reopens (maxBytes %i)', (maxBytes) => {
    const random = rng(maxBytes);
    const pick = (n: number): number => Math.floor(random() * n);
    const opts = { site: SITE, maxBytes, memoryTail: 7 };
    let withTail = outbox({ ...opts, file: tmp.file('tail.db') });
    let fileOnly = outbox({ ...opts, file: tmp.file('file.db'), memoryTail: 0 });
    let i = 0;
    let peeks = 0;
    let fromTail = 0;
    for (let step = 0; step < 2000; step++) {
      const op = pick(10);
      if (op < 4) {
        const batch = Array.from({ length: 1 + pick(op === 0 ? 20 : 4) }, () => {
          const extra = VALUES[pick(VALUES.length)]!;
          const r = input(SITE, i++, extra);
          if ('units' in extra && extra.units === undefined) delete r.units;
          return r;
        });
        expect(withTail.append(batch)).toEqual(fileOnly.append(batch));
      } else if (op < 6) {
        const { lastSeq, ackedSeq } = fileOnly.stats();
        const upto = ackedSeq + pick(lastSeq - ackedSeq + 1);
        withTail.ack(upto);
        fileOnly.ack(upto);
      } else if (op < 9) {
        const { lastSeq, ackedSeq } = fileOnly.stats();
        // Anywhere, where a forwarder reads (after its ack), or among the newest.
        const after = [pick(lastSeq + 2), ackedSeq, Math.max(0, lastSeq - pick(10))][pick(3)]!;
        const max = 1 + pick(12);
        const got = withTail.peek(after, max);
        peeks++;
        if (got.length > 0 && Object.isFrozen(got[0])) fromTail++;
        expect(got).toEqual(fileOnly.peek(after, max));
      } else {
        withTail.close();
        fileOnly.close();
        withTail = outbox({ ...opts, file: tmp.file('tail.db') });
        fileOnly = outbox({ ...opts, file: tmp.file('file.db'), memoryTail: 0 });
      }
      expect(withTail.stats()).toEqual({ ...fileOnly.stats(), stream: withTail.stats().stream });
    }
    // The run went through both paths, and dropped for bytes.
    expect(fromTail).toBeGreaterThan(0);
    expect(fromTail).toBeLessThan(peeks);
    expect(withTail.stats().droppedEver).toBeGreaterThan(0);
  });

  it('hands out frozen readings, values included, and -0 as the file gives it back', () => {
    const o = outbox();
    const value = { a: [1, { b: 'x' }] };
    o.append([input(SITE, 0, { value, valueType: 'Object' }), input(SITE, 1, { value: -0 })]);
    value.a.push(2);
    const [obj, zero] = o.peek(0, 10);
    expect(obj!.value).toEqual({ a: [1, { b: 'x' }] });
    expect(() => {
      (obj as { device: string }).device = 'other';
    }).toThrow(TypeError);
    expect(() => {
      ((obj!.value as { a: unknown[] }).a[1] as { b: string }).b = 'y';
    }).toThrow(TypeError);
    expect(Object.is(zero!.value, 0)).toBe(true);
    expect(() => openOutbox({ file: tmp.file('x.db'), site: SITE, memoryTail: -1 })).toThrow(/memoryTail/);
  });
});
