/**
 * The telemetry store's contract, one suite both drivers run
 * (telemetry-store.test.ts on SQLite, postgres-store.test.ts on a real
 * PostgreSQL): exactly one copy of each (site, producer, stream, seq),
 * conflicts quarantined, rewound streams refused, batches checked whole,
 * every field round-tripped, stable keyset paging, live subscribers after
 * commit, and the metrics of each outcome.
 */
import type { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Reading, StoredReading } from '../sdk/index.ts';
import { BASE_ORIGIN, metricValue, numbered, streamKey } from './fixtures/helpers.ts';
import { TelemetryErrors, type IngestOptions, type TelemetryQuery, type TelemetryStore } from './index.ts';

/** A fresh, empty store of the driver under test, with the registry its metrics go to. */
export type OpenStore = () => Promise<{ store: TelemetryStore; metrics: Registry; cleanup?: () => Promise<void> }>;

/** What a promise rejected with (the test fails when it resolves). */
export async function rejected(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

export function describeTelemetryStoreContract(name: string, open: OpenStore): void {
  describe(`telemetry store (${name})`, () => {
    let store: TelemetryStore;
    let metrics: Registry;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ store, metrics, cleanup } = await open());
    });
    afterEach(async () => {
      await store.close();
      await cleanup?.();
    });

    /** Ingests under producer `token:t1`, stream `stream-one`, unless told otherwise. */
    const ingest = (site: string, readings: readonly Reading[], opts: Parameters<typeof streamKey>[2] & IngestOptions = {}) => store.ingest(streamKey(site, readings, opts), readings, opts);

    /** Every page of a query, following cursors. */
    const pages = async (q: TelemetryQuery): Promise<StoredReading[][]> => {
      const out: StoredReading[][] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 1000; i++) {
        const p = await store.query({ ...q, ...(cursor === undefined ? {} : { cursor }) });
        out.push(p.items);
        if (p.next === undefined) return out;
        cursor = p.next;
      }
      throw new Error('paging did not end');
    };

    const key = (r: StoredReading): string => `${r.site}/${r.stream}/${r.seq}`;
    const none = { conflicts: 0, quarantined: 0 };

    it('keeps exactly one copy of each (site, producer, stream, seq), and counts every resend', async () => {
      expect(await ingest('a', numbered('a', 1, 5))).toEqual({ accepted: 5, duplicates: 0, ...none });
      expect(await ingest('a', numbered('a', 1, 5))).toEqual({ accepted: 0, duplicates: 5, ...none });
      expect(await ingest('a', numbered('a', 4, 5))).toEqual({ accepted: 3, duplicates: 2, ...none });
      expect(await ingest('b', numbered('b', 1, 2))).toEqual({ accepted: 2, duplicates: 0, ...none });
      expect(await store.count()).toBe(10);
      expect(await store.count({ site: 'a' })).toBe(8);
      expect(await store.streams('a')).toMatchObject([{ site: 'a', producer: 'token:t1', id: 'stream-one', name: 'token:t1/stream-one', held: 8, duplicates: 7, highSeq: 8, declaredLastSeq: 8 }]);
      expect(await store.streams('nowhere')).toEqual([]);
      expect(await metricValue(metrics, 'edgeadm_telemetry_ingested_total', { site: 'a' })).toBe(8);
      expect(await metricValue(metrics, 'edgeadm_telemetry_duplicates_total', { site: 'a' })).toBe(7);
    });

    it('keeps producers apart: seqs sent under another credential never shadow the real ones', async () => {
      // A credential of the same site sends "future" seqs first, with made-up values.
      const forged = numbered('a', 1, 10).map((r) => ({ ...r, value: -1 }));
      expect(await ingest('a', forged, { producer: 'token:other' })).toEqual({ accepted: 10, duplicates: 0, ...none });
      // The real producer's readings with the same numbers (and even the same stream id) are all stored.
      const real = numbered('a', 1, 10);
      expect(await ingest('a', real, { producer: 'node:gw-1' })).toEqual({ accepted: 10, duplicates: 0, ...none });
      const mine = (await pages({ site: 'a' })).flat().filter((r) => r.stream === 'node:gw-1/stream-one');
      expect(mine.map((r) => r.value)).toEqual(real.map((r) => r.value));
      expect((await store.streams('a')).map((s) => [s.producer, s.held])).toEqual([
        ['node:gw-1', 10],
        ['token:other', 10],
      ]);
    });

    it('quarantines a seq already held with other content (a conflict) and keeps the stored one', async () => {
      await ingest('a', numbered('a', 1, 5));
      const restored = numbered('a', 4, 4).map((r) => ({ ...r, value: 1000 + r.seq })); // seqs 4..7: 4 and 5 differ from what is held
      expect(await ingest('a', restored)).toEqual({ accepted: 2, duplicates: 0, conflicts: 2, quarantined: 0 });
      expect((await store.query({ site: 'a' })).items.filter((r) => r.seq <= 5).map((r) => r.value)).toEqual([1, 2, 3, 4, 5]);
      const q = await store.quarantined({ site: 'a' });
      expect(q.map((x) => [x.reason, x.stream, x.reading.seq, x.reading.value]).sort()).toEqual([
        ['conflict', 'token:t1/stream-one', 4, 1004],
        ['conflict', 'token:t1/stream-one', 5, 1005],
      ]);
      // The same conflicting batch again: nothing new is kept twice.
      expect(await ingest('a', restored)).toEqual({ accepted: 0, duplicates: 4, ...none });
      expect((await store.streams('a'))[0]).toMatchObject({ held: 7, quarantined: 2, conflicts: 2 });
      expect(await metricValue(metrics, 'edgeadm_telemetry_conflicts_total', { site: 'a' })).toBe(2);
      expect(await metricValue(metrics, 'edgeadm_telemetry_quarantined_total', { site: 'a', reason: 'conflict' })).toBe(2);
    });

    it('refuses a stream whose lastSeq goes back (rewound), writing nothing; accepts it when told to', async () => {
      await ingest('a', numbered('a', 1, 3), { lastSeq: 10 });
      const err = await rejected(ingest('a', numbered('a', 4, 2), { lastSeq: 9 }));
      expect(err).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_STREAM_REWOUND', statusCode: 409, params: { stream: 'stream-one', producer: 'token:t1', declared: 9, known: 10 } });
      expect(await store.count()).toBe(3);
      // Another stream of the same producer starts fresh.
      expect((await ingest('a', numbered('a', 1, 2), { id: 'stream-two' })).accepted).toBe(2);
      // A transport that cannot tell the producer why stores it anyway.
      expect(await ingest('a', numbered('a', 3, 3), { lastSeq: 5, acceptRewound: true })).toEqual({ accepted: 2, duplicates: 1, ...none });
      expect((await store.streams('a')).find((s) => s.id === 'stream-one')?.declaredLastSeq).toBe(10);
    });

    it("refuses seqs the producer cannot have sent: out of order, repeated, or beyond the stream's lastSeq", async () => {
      const rs = numbered('a', 1, 4);
      expect(await rejected(ingest('a', [rs[0]!, rs[2]!, rs[1]!]))).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_SEQ', statusCode: 400, params: { index: 2, seq: 2 } });
      expect(await rejected(ingest('a', [rs[0]!, rs[0]!]))).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_SEQ', params: { index: 1 } });
      expect(await rejected(ingest('a', rs, { lastSeq: 3 }))).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_SEQ', params: { index: 3, seq: 4 } });
      expect(await rejected(ingest('a', rs, { id: 'no' }))).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_STREAM_HEADER', params: { field: 'stream.id' } });
      expect(await rejected(store.ingest({ site: 'a', producer: '', stream: { id: 'stream-one', lastSeq: 4 } }, rs))).toMatchObject({ params: { field: 'producer' } });
      expect(await rejected(ingest('a', rs, { lastSeq: 2 ** 60 }))).toMatchObject({ params: { field: 'stream.lastSeq' } });
      const huge = { ...rs[0]!, seq: 2 ** 53 };
      expect(await rejected(ingest('a', [huge], { lastSeq: 2 ** 53 - 1 }))).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_INVALID', params: { field: 'seq' } });
      expect(await store.count()).toBe(0);
      expect(await store.streams()).toEqual([]);
    });

    it('quarantines what the classifier refuses, and counts it by reason', async () => {
      const rs = numbered('a', 1, 6);
      const classify = (r: Reading) => (r.device === 'd2' ? ('unknown-device' as const) : r.resource === 'flow' ? ('unknown-resource' as const) : undefined);
      const result = await ingest('a', rs, { classify });
      expect(result).toEqual({ accepted: 2, duplicates: 0, conflicts: 0, quarantined: 4 });
      expect(await store.count()).toBe(2);
      expect((await store.quarantined({ site: 'a', reason: 'unknown-device' })).map((q) => q.reading.seq).sort()).toEqual([2, 5]);
      expect(await metricValue(metrics, 'edgeadm_telemetry_quarantined_total', { site: 'a', reason: 'unknown-resource' })).toBe(2);
      // A resend is recognised as such, quarantined ones included.
      expect(await ingest('a', rs, { classify })).toEqual({ accepted: 0, duplicates: 6, ...none });
      expect((await store.streams('a'))[0]).toMatchObject({ held: 2, quarantined: 4, conflicts: 0 });
    });

    it('round-trips every field, and names the stream each reading came in', async () => {
      const r: Reading[] = [
        { ...numbered('a', 1, 1)[0]!, value: { nested: [1, 'two', null, { x: true }] }, valueType: 'Object', quality: 'bad', qualityDetail: 'MODBUS_EXCEPTION_2' },
        { ...numbered('a', 2, 1)[0]!, value: '18446744073709551615', valueType: 'Uint64' },
        { site: 'a', device: 'd9', profile: 'p', resource: 'r', value: null, valueType: 'String', origin: 0, quality: 'bad', seq: 3 },
      ];
      await ingest('a', r);
      const items = (await store.query({ site: 'a' })).items;
      for (const want of r) expect(items.find((x) => x.seq === want.seq)).toEqual({ ...want, stream: 'token:t1/stream-one' });
    });

    it('rejects a batch with a bad reading or a reading of another site, writing nothing', async () => {
      const bad = numbered('a', 1, 3);
      bad[2] = { ...bad[2]!, site: 'b' };
      const err = (await rejected(ingest('a', bad))) as InstanceType<typeof TelemetryErrors.ErrInvalid>;
      expect(err.code).toBe('EDGE_ERR_TELEMETRY_INVALID');
      expect(err.statusCode).toBe(400);
      expect(err.params).toMatchObject({ index: 2, field: 'site' });
      const noSeq = numbered('a', 1, 2) as Partial<Reading>[];
      delete noSeq[1]!.seq;
      expect(await rejected(ingest('a', noSeq as Reading[]))).toMatchObject({ params: { index: 1, field: 'seq', problem: 'is required' } });
      const badType = { ...numbered('a', 1, 1)[0]!, valueType: 'Float128' } as unknown as Reading;
      expect(await rejected(ingest('a', [badType]))).toMatchObject({ params: { index: 0, field: 'valueType' } });
      expect(await rejected(store.ingest(streamKey('a', []), { readings: [] } as unknown as Reading[]))).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_INVALID', params: { index: -1 } });
      expect(await store.count()).toBe(0);
    });

    it('rejects values that do not fit their valueType and origins outside any plausible time', async () => {
      const one = numbered('a', 1, 1)[0]!;
      const cases: [Partial<Reading>, string, RegExp][] = [
        [{ value: 'abc', valueType: 'Float64' }, 'value', /the string "abc" is not a finite number/],
        [{ value: 300, valueType: 'Uint8' }, 'value', /300 is outside 0..255/],
        [{ value: 1.5, valueType: 'Int32' }, 'value', /not an integer/],
        [{ value: '99999999999999999999', valueType: 'Int64' }, 'value', /outside the Int64 range/],
        [{ value: 2 ** 60, valueType: 'Uint64' }, 'value', /not a safe integer/],
        [{ value: 'not base64!', valueType: 'Binary' }, 'value', /not base64/],
        [{ value: [1, 'x'], valueType: 'Int16Array' }, 'value', /item 1/],
        [{ value: null, valueType: 'Float64', quality: 'good' }, 'value', /null is a value only for quality 'bad'/],
        [{ value: 1, valueType: 'Bool' }, 'value', /not a boolean/],
        [{ origin: 1e300 }, 'origin', /.+/],
        [{ origin: -5 }, 'origin', /.+/],
      ];
      for (const [patch, field, problem] of cases) {
        const err = await rejected(ingest('a', [{ ...one, ...patch }]));
        expect(err, JSON.stringify(patch)).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_INVALID', params: { index: 0, field } });
        expect((err as { params: { problem: string } }).params.problem).toMatch(problem);
      }
      expect(await store.count()).toBe(0);
      const ok: Partial<Reading>[] = [
        { value: '18446744073709551615', valueType: 'Uint64' },
        { value: -(2 ** 53) + 1, valueType: 'Int64' },
        { value: 'AAEC', valueType: 'Binary' },
        { value: [true, false], valueType: 'BoolArray' },
        { value: null, valueType: 'Int16', quality: 'bad' },
      ];
      expect((await ingest('a', ok.map((p, i) => ({ ...one, ...p, seq: i + 1 })))).accepted).toBe(ok.length);
    });

    it('pages stably by cursor, ascending and descending, with filters and ties', async () => {
      // 3 sites x 2 producers x 3 devices; origins collide so the tie-break (site, stream, seq) matters.
      for (const site of ['a', 'b', 'c']) {
        for (const producer of ['node:x', 'node:y']) {
          const rs = numbered(site, 1, 45).map((r) => ({ ...r, origin: BASE_ORIGIN + Math.floor(r.seq / 2) * 1000 }));
          await ingest(site, rs.slice(0, 20), { producer, lastSeq: 45 });
          await ingest(site, rs.slice(20), { producer, lastSeq: 45 });
        }
      }
      const all = await pages({ limit: 7 });
      expect(all.slice(0, -1).every((p) => p.length === 7)).toBe(true);
      const flat = all.flat();
      expect(flat).toHaveLength(270);
      expect(new Set(flat.map(key)).size).toBe(270);
      for (let i = 1; i < flat.length; i++) {
        const [x, y] = [flat[i - 1]!, flat[i]!];
        expect(x.origin < y.origin || (x.origin === y.origin && (x.site < y.site || (x.site === y.site && (x.stream !== y.stream || x.seq < y.seq))))).toBe(true);
      }

      const desc = (await pages({ limit: 11, descending: true })).flat();
      expect(desc.map(key)).toEqual([...flat].reverse().map(key));

      const from = BASE_ORIGIN + 5 * 1000;
      const to = BASE_ORIGIN + 15 * 1000;
      const dev = (await pages({ site: 'b', device: 'd1', from, to, limit: 3 })).flat();
      const want = flat.filter((r) => r.site === 'b' && r.device === 'd1' && r.origin >= from && r.origin <= to);
      expect(want.length).toBeGreaterThan(5);
      expect(new Set(dev.map(key))).toEqual(new Set(want.map(key)));
      expect(dev.map((r) => r.origin)).toEqual(want.map((r) => r.origin));
      expect((await pages({ site: 'b', device: 'd1', from, to, limit: 4, descending: true })).flat().map(key)).toEqual([...dev].reverse().map(key));

      const res = (await pages({ site: 'c', device: 'd2', resource: 'flow', limit: 5 })).flat();
      expect(new Set(res.map(key))).toEqual(new Set(flat.filter((r) => r.site === 'c' && r.device === 'd2' && r.resource === 'flow').map(key)));
      expect(await store.count({ site: 'a', device: 'd0' })).toBe(30);

      // A page boundary stays put when rows arrive before it.
      const first = await store.query({ site: 'a', limit: 10 });
      await ingest('a', [{ ...numbered('a', 46, 1)[0]!, origin: BASE_ORIGIN - 1 }], { producer: 'node:x' });
      const second = await store.query({ site: 'a', limit: 10, cursor: first.next! });
      expect(second.items[0]!.origin).toBeGreaterThanOrEqual(first.items[9]!.origin);
      expect(second.items.map(key)).not.toContain(key(first.items[9]!));
    });

    it('refuses bad cursors and limits', async () => {
      expect(TelemetryErrors.ErrCursor.is(await rejected(store.query({ cursor: 'not-a-cursor' })))).toBe(true);
      expect(TelemetryErrors.ErrCursor.is(await rejected(store.query({ cursor: Buffer.from('[1,"a",2]').toString('base64url') })))).toBe(true);
      expect(await rejected(store.query({ limit: 0 }))).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_QUERY', statusCode: 400, params: { field: 'limit' } });
      expect(await rejected(store.query({ limit: 10_001 }))).toMatchObject({ params: { field: 'limit' } });
      expect(await rejected(store.query({ from: -1 }))).toMatchObject({ params: { field: 'from' } });
    });

    it('feeds live subscribers after commit with stored readings only', async () => {
      const all: StoredReading[][] = [];
      const d1: StoredReading[][] = [];
      const unsubAll = store.subscribe({}, (rs) => all.push([...rs]));
      const committed: Promise<boolean>[] = [];
      store.subscribe({ site: 'a', device: 'd1' }, (rs) => {
        // the readings are committed when we hear of them
        committed.push(store.count({ site: 'a', device: 'd1' }).then((n) => n >= rs.length));
        d1.push([...rs]);
      });
      store.subscribe({}, () => {
        throw new Error('a broken subscriber');
      });
      await ingest('a', numbered('a', 1, 6));
      await ingest('a', numbered('a', 4, 6)); // 3 duplicates, 3 new
      expect(all.map((b) => b.map((r) => r.seq))).toEqual([
        [1, 2, 3, 4, 5, 6],
        [7, 8, 9],
      ]);
      expect(all[0]![0]!.stream).toBe('token:t1/stream-one');
      expect(d1.flat().map((r) => r.seq)).toEqual([1, 4, 7]);
      unsubAll();
      await ingest('a', numbered('a', 10, 3));
      expect(all).toHaveLength(2);
      expect(d1.flat().map((r) => r.seq)).toEqual([1, 4, 7, 10]);
      expect(await Promise.all(committed)).toEqual([true, true, true]);
    });

    it("walks a stream's stored readings in seq order, and keeps an exporter's cursor, never moving it back", async () => {
      await ingest('a', numbered('a', 1, 5));
      await ingest('a', numbered('a', 1, 3), { producer: 'node:gw-2' });
      const one = { site: 'a', producer: 'token:t1', id: 'stream-one' };
      expect((await store.streamReadings(one, 0, 2)).map((r) => [r.seq, r.stream])).toEqual([
        [1, 'token:t1/stream-one'],
        [2, 'token:t1/stream-one'],
      ]);
      expect((await store.streamReadings(one, 3, 100)).map((r) => r.seq)).toEqual([4, 5]);
      expect(await store.streamReadings({ ...one, id: 'no-such-stream' }, 0, 10)).toEqual([]);
      expect(await store.exportCursors('mqtt')).toEqual([]);
      await store.setExportCursor('mqtt', one, 3);
      await store.setExportCursor('mqtt', one, 2);
      await store.setExportCursor('mqtt', { site: 'a', producer: 'node:gw-2', id: 'stream-one' }, 1);
      await store.setExportCursor('other', one, 5);
      expect((await store.exportCursors('mqtt')).sort((x, y) => (x.producer < y.producer ? -1 : 1))).toEqual([
        { site: 'a', producer: 'node:gw-2', id: 'stream-one', seq: 1 },
        { ...one, seq: 3 },
      ]);
    });

    it("gives an exporter's lease to one holder at a time, and to another once released", async () => {
      const first = store.exportLease('mqtt');
      const second = store.exportLease('mqtt');
      const other = store.exportLease('sparkplug');
      expect(await first.acquire()).toBe(true);
      // Taken again by its holder: still its own.
      expect(await first.acquire()).toBe(true);
      expect(await second.acquire()).toBe(false);
      expect(await other.acquire()).toBe(true);
      await first.release();
      expect(await second.acquire()).toBe(true);
      expect(await first.acquire()).toBe(false);
      await second.release();
      await other.release();
    });
  });
}
