import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Reading } from '../sdk/index.ts';
import { BASE_ORIGIN, metricValue, numbered, tempDir, thrown } from './fixtures/helpers.ts';
import { openTelemetryStore, TelemetryErrors, type TelemetryQuery, type TelemetryStore } from './index.ts';

let tmp: ReturnType<typeof tempDir>;
let store: TelemetryStore;
let metrics: Registry;

beforeEach(() => {
  tmp = tempDir();
  metrics = new Registry();
  store = openTelemetryStore({ file: tmp.file('hub.db'), metrics });
});
afterEach(() => {
  store.close();
  tmp.remove();
});

/** Every page of a query, following cursors. */
function pages(q: TelemetryQuery): Reading[][] {
  const out: Reading[][] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 1000; i++) {
    const p = store.query({ ...q, ...(cursor === undefined ? {} : { cursor }) });
    out.push(p.items);
    if (p.next === undefined) return out;
    cursor = p.next;
  }
  throw new Error('paging did not end');
}

const key = (r: Reading): string => `${r.site}/${r.seq}`;

describe('telemetry store', () => {
  it('keeps exactly one copy of each (site, seq)', async () => {
    expect(store.ingest('a', numbered('a', 1, 5))).toEqual({ accepted: 5, duplicates: 0 });
    expect(store.ingest('a', numbered('a', 1, 5))).toEqual({ accepted: 0, duplicates: 5 });
    expect(store.ingest('a', numbered('a', 4, 5))).toEqual({ accepted: 3, duplicates: 2 });
    expect(store.ingest('b', numbered('b', 1, 2))).toEqual({ accepted: 2, duplicates: 0 });
    expect(store.count()).toBe(10);
    expect(store.count({ site: 'a' })).toBe(8);
    expect(store.lastSeq('a')).toBe(8);
    expect(store.lastSeq('nowhere')).toBe(0);
    expect(await metricValue(metrics, 'edgeadm_telemetry_ingested_total', { site: 'a' })).toBe(8);
    expect(await metricValue(metrics, 'edgeadm_telemetry_duplicates_total')).toBe(7);
  });

  it('round-trips every field', () => {
    const r: Reading[] = [
      { ...numbered('a', 1, 1)[0]!, value: { nested: [1, 'two', null, { x: true }] }, valueType: 'Object', quality: 'bad', qualityDetail: 'MODBUS_EXCEPTION_2' },
      { ...numbered('a', 2, 1)[0]!, value: '18446744073709551615', valueType: 'Uint64' },
      { site: 'a', device: 'd9', profile: 'p', resource: 'r', value: null, valueType: 'String', origin: 0, quality: 'good', seq: 3 },
    ];
    store.ingest('a', r);
    const items = store.query({ site: 'a' }).items;
    expect(items.find((x) => x.seq === 1)).toEqual(r[0]);
    expect(items.find((x) => x.seq === 2)).toEqual(r[1]);
    expect(items.find((x) => x.seq === 3)).toEqual(r[2]);
  });

  it('rejects a batch with a bad reading or a reading of another site, writing nothing', () => {
    const bad = numbered('a', 1, 3);
    bad[2] = { ...bad[2]!, site: 'b' };
    const err = thrown(() => store.ingest('a', bad)) as InstanceType<typeof TelemetryErrors.ErrInvalid>;
    expect(err.code).toBe('EDGE_ERR_TELEMETRY_INVALID');
    expect(err.statusCode).toBe(400);
    expect(err.params).toMatchObject({ index: 2, field: 'site' });
    const noSeq = numbered('a', 1, 2) as Partial<Reading>[];
    delete noSeq[1]!.seq;
    expect(thrown(() => store.ingest('a', noSeq as Reading[]))).toMatchObject({ params: { index: 1, field: 'seq', problem: 'is required' } });
    const badType = { ...numbered('a', 1, 1)[0]!, valueType: 'Float128' } as unknown as Reading;
    expect(thrown(() => store.ingest('a', [badType]))).toMatchObject({ params: { index: 0, field: 'valueType' } });
    expect(thrown(() => store.ingest('a', { readings: [] } as unknown as Reading[]))).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_INVALID', params: { index: -1 } });
    expect(store.count()).toBe(0);
  });

  it('pages stably by cursor, ascending and descending, with filters and ties', () => {
    // 3 sites x 3 devices; origins collide in pairs so the tie-break (site, seq) matters.
    for (const site of ['a', 'b', 'c']) {
      const rs = numbered(site, 1, 90).map((r) => ({ ...r, origin: BASE_ORIGIN + Math.floor(r.seq / 2) * 1000 }));
      store.ingest(site, rs.slice(0, 50));
      store.ingest(site, rs.slice(50));
    }
    const byKey = (x: Reading, y: Reading): number => x.origin - y.origin || (x.site < y.site ? -1 : x.site > y.site ? 1 : 0) || x.seq - y.seq;

    const all = pages({ limit: 7 });
    expect(all.slice(0, -1).every((p) => p.length === 7)).toBe(true);
    const flat = all.flat();
    expect(flat).toHaveLength(270);
    expect(flat.map(key)).toEqual([...flat].sort(byKey).map(key));
    expect(new Set(flat.map(key)).size).toBe(270);

    const desc = pages({ limit: 11, descending: true }).flat();
    expect(desc.map(key)).toEqual([...flat].reverse().map(key));

    const from = BASE_ORIGIN + 10 * 1000;
    const to = BASE_ORIGIN + 30 * 1000;
    const dev = pages({ site: 'b', device: 'd1', from, to, limit: 3 }).flat();
    const want = flat.filter((r) => r.site === 'b' && r.device === 'd1' && r.origin >= from && r.origin <= to);
    expect(want.length).toBeGreaterThan(5);
    expect(dev.map(key)).toEqual(want.map(key));
    expect(pages({ site: 'b', device: 'd1', from, to, limit: 4, descending: true }).flat().map(key)).toEqual([...want].reverse().map(key));

    const res = pages({ site: 'c', device: 'd2', resource: 'flow', limit: 5 }).flat();
    expect(res.map(key)).toEqual(flat.filter((r) => r.site === 'c' && r.device === 'd2' && r.resource === 'flow').map(key));
    expect(pages({ device: 'd0', limit: 13 }).flat().map(key)).toEqual(flat.filter((r) => r.device === 'd0').map(key));
    expect(store.count({ site: 'a', device: 'd0' })).toBe(30);

    // A page boundary stays put when rows arrive before it.
    const first = store.query({ site: 'a', limit: 10 });
    store.ingest('a', [{ ...numbered('a', 91, 1)[0]!, origin: BASE_ORIGIN - 1 }]);
    const second = store.query({ site: 'a', limit: 10, cursor: first.next! });
    expect(second.items[0]!.origin).toBeGreaterThanOrEqual(first.items[9]!.origin);
    expect(second.items.map(key)).not.toContain(key(first.items[9]!));
  });

  it('refuses bad cursors and limits', () => {
    expect(TelemetryErrors.ErrCursor.is(thrown(() => store.query({ cursor: 'not-a-cursor' })))).toBe(true);
    expect(TelemetryErrors.ErrCursor.is(thrown(() => store.query({ cursor: Buffer.from('[1,2]').toString('base64url') })))).toBe(true);
    expect(thrown(() => store.query({ limit: 0 }))).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_QUERY', statusCode: 400, params: { field: 'limit' } });
    expect(thrown(() => store.query({ limit: 10_001 }))).toMatchObject({ params: { field: 'limit' } });
    expect(thrown(() => store.query({ from: -1 }))).toMatchObject({ params: { field: 'from' } });
  });

  it('feeds live subscribers after commit with accepted readings only', () => {
    const all: Reading[][] = [];
    const d1: Reading[][] = [];
    const unsubAll = store.subscribe({}, (rs) => all.push([...rs]));
    store.subscribe({ site: 'a', device: 'd1' }, (rs) => {
      // the readings are committed when we hear of them
      expect(store.count({ site: 'a', device: 'd1' })).toBeGreaterThanOrEqual(rs.length);
      d1.push([...rs]);
    });
    store.subscribe({}, () => {
      throw new Error('a broken subscriber');
    });
    store.ingest('a', numbered('a', 1, 6));
    store.ingest('a', numbered('a', 4, 6)); // 3 duplicates, 3 new
    expect(all.map((b) => b.map((r) => r.seq))).toEqual([
      [1, 2, 3, 4, 5, 6],
      [7, 8, 9],
    ]);
    expect(d1.flat().map((r) => r.seq)).toEqual([1, 4, 7]);
    unsubAll();
    store.ingest('a', numbered('a', 10, 3));
    expect(all).toHaveLength(2);
    expect(d1.flat().map((r) => r.seq)).toEqual([1, 4, 7, 10]);
  });
});
