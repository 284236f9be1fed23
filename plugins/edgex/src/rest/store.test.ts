/**
 * The REST API's readings store on a real SQLite file: events and readings
 * by device, resource and time, newest first, paged; retention by count and
 * by age; a reading EdgeX cannot encode skipped and counted; kept across a
 * reopen.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EdgeXReading, Reading } from '../../../../core/sdk/index.ts';
import { ReadingStore } from './store.ts';

const MS = 1_000_000;
const T0 = Date.parse('2026-01-01T00:00:00Z') * MS;
let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});
function open(o: { maxCount?: number; maxAgeMs?: number } = {}, dir = mkdtempSync(path.join(tmpdir(), 'edgex-store-'))): { store: ReadingStore; dir: string } {
  dirs.push(dir);
  return { store: new ReadingStore({ dir, maxCount: o.maxCount ?? 1000, maxAgeMs: o.maxAgeMs ?? 3_600_000 }), dir };
}
let seq = 0;
/** A simple reading's value text. */
const text = (r: EdgeXReading): unknown => ('value' in r ? r.value : undefined);
function reading(device: string, resource: string, i: number, value: Reading['value'] = i, valueType: Reading['valueType'] = 'Int32'): Reading {
  return { site: 's', seq: ++seq, device, resource, profile: 'p', value, valueType, origin: T0 + i * MS, quality: 'good' };
}

describe('ReadingStore', () => {
  it('answers by device, resource and time window, newest first, paged, with the total', () => {
    const { store } = open();
    store.add([...Array.from({ length: 10 }, (_, i) => reading('d1', i % 2 ? 'a' : 'b', i)), reading('d2', 'a', 100)]);
    const all = store.events('d1', { offset: 0, limit: 3 });
    expect(all.totalCount).toBe(10);
    expect(all.items.map((e) => text(e.readings[0]!))).toEqual(['9', '8', '7']);
    expect(all.items[0]).toMatchObject({ apiVersion: 'v3', deviceName: 'd1', profileName: 'p', sourceName: 'a', origin: T0 + 9 * MS });
    expect(store.events('d1', { offset: 8, limit: 5 }).items.map((e) => e.origin)).toEqual([T0 + MS, T0]);
    const a = store.readings('d1', 'a', { offset: 0, limit: 100, start: T0 + 2 * MS, end: T0 + 7 * MS });
    expect(a.items.map(text)).toEqual(['7', '5', '3']);
    expect(store.readings(undefined, undefined, { offset: 0, limit: 1 }).items[0]).toMatchObject({ deviceName: 'd2', value: '100' });
    expect(store.readings('nobody', undefined, { offset: 0, limit: 5 })).toEqual({ totalCount: 0, items: [] });
    store.close();
  });

  it('keeps at most maxCount readings, dropping the oldest, and drops those past maxAge', () => {
    const { store, dir } = open({ maxCount: 5, maxAgeMs: 60_000 });
    store.add(Array.from({ length: 8 }, (_, i) => reading('d', 'r', i)));
    store.add([reading('d', 'r', 8)]);
    expect(store.size).toBe(5);
    expect(store.readings('d', 'r', { offset: 0, limit: 10 }).items.map(text)).toEqual(['8', '7', '6', '5', '4']);
    store.pruneAge(T0 / MS + 6 * 1 + 60_000);
    expect(store.readings('d', 'r', { offset: 0, limit: 10 }).items.map(text)).toEqual(['8', '7', '6']);
    expect(store.size).toBe(3);
    store.close();
    const again = open({ maxCount: 5 }, dir).store;
    expect(again.size).toBe(3);
    again.close();
  });

  it('skips and counts a reading EdgeX cannot encode, keeping the rest of the batch', () => {
    const { store } = open();
    store.add([reading('d', 'r', 1), reading('d', 'r', 2, 'not a number'), reading('d', 'r', 3)]);
    expect(store.skipped).toBe(1);
    expect(store.readings('d', 'r', { offset: 0, limit: 10 }).items.map(text)).toEqual(['3', '1']);
    store.close();
  });
});
