import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collections, type KubeObject } from './collections.ts';
import { openFileStorage } from './storage-file.ts';
import type { CacheStorage } from './storage.ts';

let dir: string;
let storage: CacheStorage;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lite-coll-'));
  storage = openFileStorage({ path: path.join(dir, 'c'), maxBytes: 16 * 1024 * 1024 });
});
afterAll(async () => {
  storage.close();
  await rm(dir, { recursive: true, force: true });
});

const cm = (name: string, rv: number, v = '1'): KubeObject => ({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name, namespace: 'a', resourceVersion: String(rv) }, data: { v } });
const list = (rv: number, items: KubeObject[]) => ({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items });

describe('Collections', () => {
  it('folds events by version: newer ones apply, replays are skipped, the history is bounded and so is what it can replay', () => {
    const cs = new Collections({ storage, historyLimit: 3 });
    cs.setFromList('k1', list(10, [cm('a', 5), cm('b', 6)]));
    expect(cs.fold('k1', { type: 'MODIFIED', object: cm('a', 11, '2') })).toBe(true);
    expect(cs.fold('k1', { type: 'MODIFIED', object: cm('a', 11, '2') })).toBe(false);
    expect(cs.fold('k1', { type: 'ADDED', object: cm('c', 9) })).toBe(false);
    cs.fold('k1', { type: 'DELETED', object: cm('b', 12) });
    cs.fold('k1', { type: 'ADDED', object: cm('d', 13) });
    cs.fold('k1', { type: 'BOOKMARK', object: { kind: 'ConfigMap', metadata: { resourceVersion: '20' } } });
    const c = cs.get('k1');
    if (c === undefined) throw new Error('no collection');
    expect(c.rv).toBe('20');
    expect((JSON.parse(cs.render(c).toString()) as { items: KubeObject[] }).items.map((i) => i.metadata?.name)).toEqual(['a', 'd']);
    // Events after 11: the deletion of b and the addition of d; from 10 (the list): all three.
    expect(cs.watchStart(c, '11')).toEqual({ kind: 'events', events: [{ type: 'DELETED', object: cm('b', 12) }, { type: 'ADDED', object: cm('d', 13) }] });
    expect(cs.watchStart(c, '10')).toMatchObject({ kind: 'events', events: [{ type: 'MODIFIED' }, { type: 'DELETED' }, { type: 'ADDED' }] });
    cs.fold('k1', { type: 'MODIFIED', object: cm('d', 21, '2') });
    // The history holds 3 events: it no longer reaches back to 10.
    expect(cs.watchStart(c, '10')).toEqual({ kind: 'gone', current: '21' });
    expect(cs.watchStart(c, '21')).toEqual({ kind: 'events', events: [] });
    expect(cs.watchStart(c, '99')).toEqual({ kind: 'events', events: [] });
    expect(cs.watchStart(c, '0')).toMatchObject({ kind: 'events', events: [{ type: 'ADDED' }, { type: 'ADDED' }] });
    expect(cs.watchStart(c, 'opaque')).toEqual({ kind: 'gone', current: '21' });
    cs.close();
  });

  it('keeps an older list from replacing a newer state, and is read back after a flush by another instance', () => {
    const cs = new Collections({ storage });
    cs.setFromList('k2', list(30, [cm('x', 30)]));
    cs.setFromList('k2', list(25, [cm('old', 25)]));
    cs.close();
    const again = new Collections({ storage });
    const c = again.get('k2');
    expect(c?.rv).toBe('30');
    expect([...(c?.items.keys() ?? [])]).toEqual(['a/x']);
    expect(again.keys('k')).toEqual(expect.arrayContaining(['k1', 'k2']));
    again.drop('k2');
    expect(new Collections({ storage }).get('k2')).toBeUndefined();
  });
});
