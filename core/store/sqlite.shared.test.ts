/** Several SQLite stores (connections, processes) sharing one file: unique revisions, preconditions across writers, shared reads. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_VERSION, openSqliteStore, type Resource, type ResourceStore } from './index.ts';

let dir: string;
let file: string;
const open: ResourceStore[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-store-shared-'));
  file = path.join(dir, 'resources.db');
});

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

function store(): ResourceStore {
  const s = openSqliteStore({ file });
  open.push(s);
  return s;
}

function site(name: string, displayName = name): Resource {
  return { apiVersion: API_VERSION, kind: 'Site', metadata: { name }, spec: { displayName } };
}

describe('SQLite stores sharing one file', () => {
  it('two stores writing alternately never reuse a revision, and each sees the other', async () => {
    const a = store();
    const b = store();
    const revisions: string[] = [];
    for (let i = 0; i < 20; i++) {
      const s = i % 2 === 0 ? a : b;
      revisions.push((await s.apply(site(`site-${i}`))).metadata.resourceVersion!);
    }
    expect(revisions).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
    expect(await a.currentResourceVersion()).toBe('20');
    expect(await b.currentResourceVersion()).toBe('20');
    const listed = await a.list('Site');
    expect(listed.resourceVersion).toBe('20');
    expect(listed.items).toHaveLength(20);
    expect((await b.get('Site', 'site-18'))?.metadata.resourceVersion).toBe('19');
  });

  it('detects a conflict written by the other store', async () => {
    const a = store();
    const b = store();
    const first = await a.apply(site('plant-a', 'one'));
    const rv = first.metadata.resourceVersion!;
    const byB = await b.apply(site('plant-a', 'two'), { resourceVersion: rv });
    expect(byB.metadata.resourceVersion).toBe('2');
    await expect(a.apply(site('plant-a', 'three'), { resourceVersion: rv })).rejects.toMatchObject({
      code: 'EDGE_ERR_STORE_CONFLICT',
      params: { expected: rv, current: '2' },
    });
    await expect(b.create(site('plant-a'))).rejects.toMatchObject({ code: 'EDGE_ERR_STORE_EXISTS' });
    await expect(a.delete('Site', 'plant-a', { resourceVersion: rv })).rejects.toMatchObject({ code: 'EDGE_ERR_STORE_CONFLICT' });
    expect((await a.get('Site', 'plant-a'))?.spec).toEqual({ displayName: 'two' });
    // A watch in one store replays the other store's writes from the shared history.
    const ac = new AbortController();
    const seen: string[] = [];
    for await (const ev of a.watch({ resourceVersion: '0', signal: ac.signal })) {
      seen.push(`${ev.type} ${ev.object.metadata.resourceVersion}`);
      if (seen.length === 2) ac.abort();
    }
    expect(seen).toEqual(['ADDED 1', 'MODIFIED 2']);
  });

  it("wakes a watcher on another store's write within a poll (no bookmarks asked for)", async () => {
    const a = store();
    const b = store();
    await a.apply(site('before'));
    const ac = new AbortController();
    const seen: { name: string; at: number }[] = [];
    const watching = (async () => {
      for await (const ev of a.watch({ resourceVersion: '1', signal: ac.signal })) {
        seen.push({ name: ev.object.metadata.name, at: Date.now() });
        if (seen.length === 2) ac.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 400));
    const t0 = Date.now();
    await b.apply(site('from-b'));
    await new Promise((r) => setTimeout(r, 400));
    await b.apply(site('again-b'));
    const timeout = setTimeout(() => ac.abort(), 5000);
    await watching;
    clearTimeout(timeout);
    expect(seen.map((e) => e.name)).toEqual(['from-b', 'again-b']);
    expect(seen[0]!.at - t0).toBeLessThan(1500);
  });

  it('writers in two processes at once never reuse a revision', async () => {
    const perProcess = 300;
    const entry = pathToFileURL(path.resolve(import.meta.dirname, 'index.ts')).href;
    /** A child process that opens the store, says ready, and on 'go' writes its sites as fast as it can. */
    const writer = (prefix: string): { ready: Promise<void>; go: () => void; done: Promise<void> } => {
      const code = `
        const { openSqliteStore, API_VERSION } = await import(${JSON.stringify(entry)});
        const s = openSqliteStore({ file: ${JSON.stringify(file)} });
        process.stdout.write('ready\\n');
        await new Promise((r) => process.stdin.once('data', r));
        for (let i = 0; i < ${perProcess}; i++) {
          await s.apply({ apiVersion: API_VERSION, kind: 'Site', metadata: { name: '${prefix}-' + i }, spec: {} });
          if (i % 5 === 0) await new Promise((r) => setImmediate(r));
        }
        await s.close();
        process.stdin.destroy();`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const done = new Promise<void>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (status) => (status === 0 ? resolve() : reject(new Error(`writer ${prefix} exited ${status}: ${err}`))));
      });
      const ready = new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve());
        done.catch(reject);
      });
      return { ready, done, go: () => child.stdin.write('go\n') };
    };
    const writers = [writer('east'), writer('west')];
    await Promise.all(writers.map((w) => w.ready));
    for (const w of writers) w.go();
    await Promise.all(writers.map((w) => w.done));
    const s = store();
    const items = (await s.list('Site')).items;
    expect(items).toHaveLength(2 * perProcess);
    const revisions = items.map((i) => Number(i.metadata.resourceVersion)).sort((x, y) => x - y);
    expect(new Set(revisions).size).toBe(2 * perProcess);
    expect(revisions[0]).toBe(1);
    expect(revisions.at(-1)).toBe(2 * perProcess);
    expect(await s.currentResourceVersion()).toBe(String(2 * perProcess));
  });
});
