/**
 * The Kubernetes API test server's resourceVersion, list and watch
 * semantics: one global resourceVersion, watches replayed from a given
 * resourceVersion, bookmarks, timeoutSeconds, the history window and 410
 * Gone / Expired, label and field selectors, limit and continue. Each test
 * cites the rule of the Kubernetes API concepts document it checks.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return -- answers are arbitrary Kubernetes JSON, read loosely by the assertions (client.ts's RawResponse.body) */
import { beforeAll, describe, expect, it } from 'vitest';
import { useKubeApiServer } from './client.ts';

const t = useKubeApiServer({ bookmarkIntervalMs: 100, historyLimit: 50 });

const names = (list: { items: { metadata: { name: string } }[] }): string[] => list.items.map((i) => i.metadata.name);

async function ns(name: string): Promise<void> {
  const r = await t.c.call('POST', '/api/v1/namespaces', { metadata: { name } });
  expect(r.status).toBe(201);
}

describe('resourceVersion and watch', () => {
  it('bumps one global resourceVersion on every write; a list carries the collection resourceVersion', async () => {
    await ns('rv');
    const a = (await t.c.call('POST', '/api/v1/namespaces/rv/configmaps', { metadata: { name: 'a' } })).body;
    const s = (await t.c.call('POST', '/api/v1/namespaces/rv/secrets', { metadata: { name: 's' } })).body;
    // API concepts, "Resource versions": one counter across types (etcd's revision); list metadata.resourceVersion is the revision the list was built at.
    expect(Number(s.metadata.resourceVersion)).toBe(Number(a.metadata.resourceVersion) + 1);
    const list = (await t.c.call('GET', '/api/v1/namespaces/rv/configmaps')).body;
    expect(list).toMatchObject({ kind: 'ConfigMapList', apiVersion: 'v1' });
    expect(list.metadata.resourceVersion).toBe(String(t.server.revision));
  });

  it('a watch from a list\'s resourceVersion gets the later ADDED, MODIFIED, DELETED in order, each with its resourceVersion', async () => {
    await ns('w1');
    await t.c.call('POST', '/api/v1/namespaces/w1/configmaps', { metadata: { name: 'before' } });
    const rv = (await t.c.call('GET', '/api/v1/namespaces/w1/configmaps')).body.metadata.resourceVersion as string;
    // Writes before the watch opens are replayed from history (API concepts, "Efficient detection of changes").
    await t.c.call('POST', '/api/v1/namespaces/w1/configmaps', { metadata: { name: 'x' }, data: { n: '1' } });
    const w = await t.c.watch(`/api/v1/namespaces/w1/configmaps?watch=true&resourceVersion=${rv}`);
    expect(w.status).toBe(200);
    await t.c.call('PATCH', '/api/v1/namespaces/w1/configmaps/x', { data: { n: '2' } }, 'application/merge-patch+json');
    const deleted = (await t.c.call('DELETE', '/api/v1/namespaces/w1/configmaps/x')).body;
    const e1 = await w.next();
    const e2 = await w.next();
    const e3 = await w.next();
    expect([e1.type, e2.type, e3.type]).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    expect(e1.object).toMatchObject({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'x' } });
    expect(e2.object.data.n).toBe('2');
    // The DELETED event carries the object at the deletion's resourceVersion.
    expect(e3.object.metadata.resourceVersion).toBe(deleted.metadata.resourceVersion);
    expect(Number(e1.object.metadata.resourceVersion)).toBeLessThan(Number(e2.object.metadata.resourceVersion));
    expect(w.pending()).toEqual([]);
    w.close();
  });

  it('a watch without resourceVersion starts with ADDED for every existing object (Get State and Start at Most Recent)', async () => {
    await ns('w2');
    for (const n of ['a', 'b']) await t.c.call('POST', '/api/v1/namespaces/w2/configmaps', { metadata: { name: n } });
    const w = await t.c.watch('/api/v1/namespaces/w2/configmaps?watch=1');
    expect([(await w.next()).object.metadata.name, (await w.next()).object.metadata.name].sort()).toEqual(['a', 'b']);
    await t.c.call('POST', '/api/v1/namespaces/w2/configmaps', { metadata: { name: 'c' } });
    expect(await w.next()).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'c' } } });
    w.close();
    // The legacy /watch/ prefix serves the same stream.
    const legacy = await t.c.watch('/api/v1/watch/namespaces/w2/configmaps');
    expect((await legacy.next()).type).toBe('ADDED');
    legacy.close();
  });

  it('reads watch=... as kube-apiserver reads a boolean parameter: only 0 and false (any case) are false', async () => {
    await ns('wb');
    await t.c.call('POST', '/api/v1/namespaces/wb/configmaps', { metadata: { name: 'a' } });
    // The Python client sends watch=True; runtime.Convert_Slice_string_To_bool takes any value but 0 and false as true.
    for (const v of ['True', 'TRUE', 'yes', '']) {
      const w = await t.c.watch(`/api/v1/namespaces/wb/configmaps?watch=${v}`);
      expect(await w.next()).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'a' } } });
      w.close();
    }
    for (const v of ['0', 'false', 'False']) expect((await t.c.call('GET', `/api/v1/namespaces/wb/configmaps?watch=${v}`)).body.kind).toBe('ConfigMapList');
  });

  it('sends BOOKMARK events with only kind, apiVersion and metadata.resourceVersion when asked, and ends at timeoutSeconds', async () => {
    await ns('bm');
    const rv = (await t.c.call('GET', '/api/v1/namespaces/bm/pods')).body.metadata.resourceVersion as string;
    const w = await t.c.watch(`/api/v1/namespaces/bm/pods?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=1`);
    // Elsewhere in the cluster things change; the bookmark tells the watcher it has seen everything up to a later resourceVersion.
    await t.c.call('POST', '/api/v1/namespaces/bm/configmaps', { metadata: { name: 'elsewhere' } });
    const b = await w.next(2000);
    expect(b).toEqual({ type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: expect.stringMatching(/^\d+$/) } } });
    expect(Number(b.object.metadata.resourceVersion)).toBeGreaterThan(Number(rv));
    const start = Date.now();
    await w.ended;
    expect(Date.now() - start).toBeLessThan(1500);
    // Without allowWatchBookmarks, none.
    const quiet = await t.c.watch(`/api/v1/namespaces/bm/pods?watch=true&resourceVersion=${t.server.revision}&timeoutSeconds=1`);
    await quiet.ended;
    expect(quiet.pending()).toEqual([]);
  });

  it('an object leaving or entering a watch\'s selector arrives as DELETED or ADDED', async () => {
    await ns('sel');
    await t.c.call('POST', '/api/v1/namespaces/sel/configmaps', { metadata: { name: 'm', labels: { app: 'web' } } });
    const w = await t.c.watch(`/api/v1/namespaces/sel/configmaps?watch=true&resourceVersion=${t.server.revision}&labelSelector=app%3Dweb`);
    await t.c.call('PATCH', '/api/v1/namespaces/sel/configmaps/m', { metadata: { labels: { app: 'db' } } }, 'application/merge-patch+json');
    await t.c.call('PATCH', '/api/v1/namespaces/sel/configmaps/m', { metadata: { labels: { app: 'web' } } }, 'application/merge-patch+json');
    await t.c.call('POST', '/api/v1/namespaces/sel/configmaps', { metadata: { name: 'other', labels: { app: 'db' } } });
    expect((await w.next()).type).toBe('DELETED');
    expect((await w.next()).type).toBe('ADDED');
    await new Promise((r) => setTimeout(r, 50));
    expect(w.pending()).toEqual([]);
    w.close();
  });
});

describe('history window and 410 Gone', () => {
  it('a watch from a compacted resourceVersion gets one ERROR event with a 410 Expired Status; a list with resourceVersionMatch=Exact answers 410', async () => {
    await ns('old');
    const rv = t.server.revision;
    await t.c.call('POST', '/api/v1/namespaces/old/configmaps', { metadata: { name: 'a' } });
    const exact = await t.c.call('GET', `/api/v1/namespaces/old/configmaps?resourceVersion=${rv}&resourceVersionMatch=Exact`);
    // resourceVersionMatch=Exact serves the collection as it was at that resourceVersion.
    expect(exact.body.items).toEqual([]);
    expect(exact.body.metadata.resourceVersion).toBe(String(rv));
    t.server.compact();
    // API concepts: "When the requested watch operations fail because the historical version of that resource is not available, clients must handle 410 Gone".
    const w = await t.c.watch(`/api/v1/namespaces/old/configmaps?watch=true&resourceVersion=${rv}`);
    const e = await w.next();
    expect(e).toEqual({ type: 'ERROR', object: expect.objectContaining({ kind: 'Status', status: 'Failure', code: 410, reason: 'Expired', message: expect.stringContaining(`too old resource version: ${rv}`) }) });
    await w.ended;
    const gone = await t.c.call('GET', `/api/v1/namespaces/old/configmaps?resourceVersion=${rv}&resourceVersionMatch=Exact`);
    expect(gone.status).toBe(410);
    expect(gone.body).toMatchObject({ kind: 'Status', code: 410, reason: 'Gone' });
    // NotOlderThan (the default for a non-zero resourceVersion) is served from the newest state.
    const notOlder = await t.c.call('GET', `/api/v1/namespaces/old/configmaps?resourceVersion=${rv}`);
    expect(names(notOlder.body)).toEqual(['a']);
    // A resourceVersion from the future is refused, not waited for forever.
    const future = await t.c.call('GET', `/api/v1/namespaces/old/configmaps?resourceVersion=${t.server.revision + 100}`);
    expect(future.status).toBe(504);
    expect(future.body).toMatchObject({ reason: 'Timeout', details: { causes: [{ reason: 'ResourceVersionTooLarge' }] } });
    expect((await t.c.call('GET', '/api/v1/namespaces/old/configmaps?resourceVersionMatch=Exact')).status).toBe(400);
  });

  it('the history keeps only historyLimit events: a watch from before them is expired, one from inside replays', async () => {
    await ns('win');
    const early = t.server.revision;
    for (let i = 0; i < 55; i++) await t.c.call('POST', '/api/v1/namespaces/win/configmaps', { metadata: { name: `c${i}` } });
    const tooOld = await t.c.watch(`/api/v1/namespaces/win/configmaps?watch=true&resourceVersion=${early}`);
    expect((await tooOld.next()).object.code).toBe(410);
    const recent = await t.c.watch(`/api/v1/namespaces/win/configmaps?watch=true&resourceVersion=${t.server.revision - 10}`);
    const got = [];
    for (let i = 0; i < 10; i++) got.push((await recent.next()).object.metadata.name);
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => `c${45 + i}`));
    recent.close();
  });
});

describe('selectors and paging', () => {
  beforeAll(async () => {
    await ns('sp');
    const pods: [string, Record<string, string>, string, string][] = [
      ['p1', { app: 'web', tier: 'front' }, 'node-a', 'Running'],
      ['p2', { app: 'web' }, 'node-b', 'Pending'],
      ['p3', { app: 'db', tier: 'back' }, 'node-a', 'Running'],
      ['p4', {}, '', 'Pending'],
    ];
    for (const [name, labels, nodeName, phase] of pods) {
      await t.c.call('POST', '/api/v1/namespaces/sp/pods', { metadata: { name, labels }, spec: { ...(nodeName !== '' ? { nodeName } : {}), containers: [] } });
      await t.c.call('PATCH', `/api/v1/namespaces/sp/pods/${name}/status`, { status: { phase } }, 'application/merge-patch+json');
    }
    await t.c.call('POST', '/api/v1/namespaces/sp/secrets', { metadata: { name: 'tls' }, type: 'kubernetes.io/tls' });
    await t.c.call('POST', '/api/v1/namespaces/sp/secrets', { metadata: { name: 'plain' }, type: 'Opaque' });
  });

  it('label selectors: =, ==, !=, in, notin, exists, !key, and a comma as AND (API concepts / "Labels and Selectors")', async () => {
    const q = async (sel: string) => names((await t.c.call('GET', `/api/v1/namespaces/sp/pods?labelSelector=${encodeURIComponent(sel)}`)).body);
    expect(await q('app=web')).toEqual(['p1', 'p2']);
    expect(await q('app==db')).toEqual(['p3']);
    expect(await q('app!=web')).toEqual(['p3', 'p4']);
    expect(await q('tier in (front,back)')).toEqual(['p1', 'p3']);
    expect(await q('app notin (web)')).toEqual(['p3', 'p4']);
    expect(await q('tier')).toEqual(['p1', 'p3']);
    expect(await q('!tier')).toEqual(['p2', 'p4']);
    expect(await q('app=web,!tier')).toEqual(['p2']);
    const bad = await t.c.call('GET', `/api/v1/namespaces/sp/pods?labelSelector=${encodeURIComponent('app in web')}`);
    expect(bad.status).toBe(400);
    expect(bad.body.reason).toBe('BadRequest');
  });

  it('field selectors: metadata.name, metadata.namespace, spec.nodeName and status.phase of pods, type of secrets; an unsupported field is 400', async () => {
    const q = async (res: string, sel: string) => (await t.c.call('GET', `/api/v1/namespaces/sp/${res}?fieldSelector=${encodeURIComponent(sel)}`)).body;
    expect(names(await q('pods', 'metadata.name=p2'))).toEqual(['p2']);
    expect(names(await q('pods', 'spec.nodeName=node-a'))).toEqual(['p1', 'p3']);
    // Unscheduled pods: spec.nodeName is the empty string.
    expect(names(await q('pods', 'spec.nodeName='))).toEqual(['p4']);
    expect(names(await q('pods', 'status.phase!=Running,spec.nodeName!='))).toEqual(['p2']);
    expect(names(await q('secrets', 'type=kubernetes.io/tls'))).toEqual(['tls']);
    const all = (await t.c.call('GET', `/api/v1/pods?fieldSelector=${encodeURIComponent('metadata.namespace=sp')}`)).body;
    expect(names(all)).toEqual(['p1', 'p2', 'p3', 'p4']);
    const bad = await q('configmaps', 'spec.nodeName=x');
    expect(bad).toMatchObject({ kind: 'Status', code: 400, message: 'field label not supported: spec.nodeName' });
  });

  it('a bad selector on a watch is a plain 400 Status, before any stream starts', async () => {
    const r = await t.c.call('GET', `/api/v1/namespaces/sp/pods?watch=true&fieldSelector=${encodeURIComponent('spec.nope=x')}`);
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ kind: 'Status', reason: 'BadRequest' });
    expect((await t.c.call('GET', '/api/v1/namespaces/sp/pods/%E0%A4%A')).status).toBe(400);
  });

  it('field selectors filter watches too', async () => {
    const w = await t.c.watch(`/api/v1/namespaces/sp/pods?watch=true&resourceVersion=${t.server.revision}&fieldSelector=${encodeURIComponent('spec.nodeName=node-b')}`);
    await t.c.call('PATCH', '/api/v1/namespaces/sp/pods/p1', { metadata: { labels: { touched: 'yes' } } }, 'application/merge-patch+json');
    await t.c.call('PATCH', '/api/v1/namespaces/sp/pods/p2', { metadata: { labels: { touched: 'yes' } } }, 'application/merge-patch+json');
    expect(await w.next()).toMatchObject({ type: 'MODIFIED', object: { metadata: { name: 'p2' } } });
    w.close();
  });

  it('limit and continue page a consistent list at the first page\'s resourceVersion (API concepts, "Retrieving large results sets in chunks")', async () => {
    const first = (await t.c.call('GET', '/api/v1/namespaces/sp/pods?limit=2')).body;
    expect(names(first)).toEqual(['p1', 'p2']);
    expect(first.metadata.remainingItemCount).toBe(2);
    expect(first.metadata.continue).toEqual(expect.any(String));
    // A change between pages does not show: the rest is served at the first page's resourceVersion.
    await t.c.call('POST', '/api/v1/namespaces/sp/pods', { metadata: { name: 'p0' }, spec: {} });
    await t.c.call('DELETE', '/api/v1/namespaces/sp/pods/p4');
    const second = (await t.c.call('GET', `/api/v1/namespaces/sp/pods?limit=2&continue=${first.metadata.continue}`)).body;
    expect(names(second)).toEqual(['p3', 'p4']);
    expect(second.metadata.resourceVersion).toBe(first.metadata.resourceVersion);
    expect(second.metadata.continue).toBeUndefined();
    // With a selector, limit still pages; remainingItemCount is not given.
    const sel = (await t.c.call('GET', '/api/v1/namespaces/sp/pods?limit=1&labelSelector=app%3Dweb')).body;
    expect(names(sel)).toEqual(['p1']);
    expect(sel.metadata.remainingItemCount).toBeUndefined();
    expect(names((await t.c.call('GET', `/api/v1/namespaces/sp/pods?limit=1&labelSelector=app%3Dweb&continue=${sel.metadata.continue}`)).body)).toEqual(['p2']);
    expect((await t.c.call('GET', '/api/v1/namespaces/sp/pods?continue=garbage')).status).toBe(400);
  });

  it('an expired continue token answers 410 Expired with a fresh token that continues (inconsistently) from the same place', async () => {
    const first = (await t.c.call('GET', '/api/v1/namespaces/sp/pods?limit=2')).body;
    expect(names(first)).toEqual(['p0', 'p1']);
    await t.c.call('POST', '/api/v1/namespaces/sp/pods', { metadata: { name: 'p9' }, spec: {} });
    t.server.compact();
    const expired = await t.c.call('GET', `/api/v1/namespaces/sp/pods?limit=2&continue=${first.metadata.continue}`);
    expect(expired.status).toBe(410);
    expect(expired.body).toMatchObject({ kind: 'Status', reason: 'Expired', code: 410, metadata: { continue: expect.any(String) } });
    const rest = (await t.c.call('GET', `/api/v1/namespaces/sp/pods?limit=10&continue=${expired.body.metadata.continue}`)).body;
    // The remainder as it is now: p9 created after the first page shows up.
    expect(names(rest)).toEqual(['p2', 'p3', 'p9']);
    expect(Number(rest.metadata.resourceVersion)).toBeGreaterThan(Number(first.metadata.resourceVersion));
  });
});
