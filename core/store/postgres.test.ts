/**
 * The PostgreSQL ResourceStore on a real PostgreSQL (Debian's, started here
 * on a private port and data folder): the shared store contract
 * (contract.ts), and what only this driver does: replicas (stores on one
 * database) sharing revisions, reads, continue tokens and watches under
 * concurrent writers on both, a lost listening connection, history
 * compaction (GONE), migrations applied once and a newer schema refused,
 * the engine's failures coded without the URL, and close.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type Postgres } from '../../test/support/postgres.ts';
import { brief, describeStoreContract, node, rejection, site, take } from './contract.ts';
import { openPostgresStore, StoreErrors, type PostgresStoreOptions, type Resource, type ResourceStore, type WatchEvent } from './index.ts';

let server: Postgres;
let n = 0;
/** A new, empty database of the server; its URL. */
const fresh = (): Promise<string> => server.database(`r${process.pid}_${++n}`);

beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(async () => {
  await server?.close();
});

describeStoreContract('postgres', async () => ({ store: await openPostgresStore({ url: await fresh() }) }));

const open: ResourceStore[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

/** `count` stores (replicas) on one new database. */
async function replicas(count: number, opts: Partial<PostgresStoreOptions> = {}): Promise<{ url: string; stores: ResourceStore[] }> {
  const url = await fresh();
  const stores = await Promise.all(Array.from({ length: count }, () => openPostgresStore({ url, ...opts })));
  open.push(...stores);
  return { url, stores };
}

/** Runs `fn` with a connection of its own to the database at `url`. */
async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const revisionOf = (e: WatchEvent): number => Number(e.object.metadata.resourceVersion);
const names = (r: { items: Resource[] }): string[] => r.items.map((i) => i.metadata.name);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `p`, or a rejection naming `what` after `ms`. */
async function within<T>(what: string, p: Promise<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe('PostgreSQL stores sharing one database (replicas)', () => {
  it('share one revision counter, and each reads what the other wrote at once', async () => {
    const {
      stores: [a, b],
    } = await replicas(2);
    const revisions: string[] = [];
    for (let i = 0; i < 20; i++) revisions.push((await (i % 2 === 0 ? a! : b!).apply(site(`site-${i}`))).metadata.resourceVersion!);
    expect(revisions).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
    expect(await a!.currentResourceVersion()).toBe('20');
    expect(await b!.currentResourceVersion()).toBe('20');
    const listed = await a!.list('Site');
    expect(listed.resourceVersion).toBe('20');
    expect(listed.items).toHaveLength(20);
    expect((await b!.get('Site', 'site-18'))?.metadata.resourceVersion).toBe('19');
    expect(await a!.get('Site', 'site-19')).toEqual(await b!.get('Site', 'site-19'));

    // Preconditions, existence and immutable fields hold across replicas.
    const first = await a!.apply(node('n1', 'plant-a'));
    const rv = first.metadata.resourceVersion!;
    expect((await b!.apply(node('n1', 'plant-a', { role: 'gateway' }), { resourceVersion: rv })).metadata.resourceVersion).toBe('22');
    await expect(a!.apply(node('n1', 'plant-a', { role: 'worker' }), { resourceVersion: rv })).rejects.toMatchObject({
      code: 'EDGE_ERR_STORE_CONFLICT',
      params: { expected: rv, current: '22' },
    });
    await expect(b!.create(node('n1', 'plant-a'))).rejects.toMatchObject({ code: 'EDGE_ERR_STORE_EXISTS' });
    await expect(a!.apply(node('n1', 'plant-b'))).rejects.toMatchObject({ code: 'EDGE_ERR_STORE_IMMUTABLE' });
    expect((await a!.get('Node', 'n1'))?.metadata.labels).toEqual({ role: 'gateway' });
    // A no-op on one replica of what the other wrote takes no revision.
    expect((await a!.apply(node('n1', 'plant-a', { role: 'gateway' }))).metadata.resourceVersion).toBe('22');
    expect(await b!.currentResourceVersion()).toBe('22');
  });

  it("pages one snapshot with another replica's continue token", async () => {
    const {
      stores: [a, b],
    } = await replicas(2);
    for (let i = 0; i < 10; i++) await a!.apply(node(`n${String(i).padStart(2, '0')}`, 'plant-a'));
    const p1 = await a!.list('Node', { limit: 4 });
    expect(names(p1)).toEqual(['n00', 'n01', 'n02', 'n03']);
    await b!.delete('Node', 'n05');
    await b!.apply(node('n04a', 'plant-a'));
    await b!.apply(node('n06', 'plant-a', { changed: 'yes' }));
    const p2 = await b!.list('Node', { limit: 4, continue: p1.continue });
    expect(p2.resourceVersion).toBe('10');
    expect(names(p2)).toEqual(['n04', 'n05', 'n06', 'n07']);
    expect(p2.items[2]?.metadata.labels).toBeUndefined();
    expect(names(await a!.list('Node', { continue: p2.continue }))).toEqual(['n08', 'n09']);
    expect(names(await a!.list('Node', { site: 'plant-a' }))).toEqual(['n00', 'n01', 'n02', 'n03', 'n04', 'n04a', 'n06', 'n07', 'n08', 'n09']);
  });

  it('hands every replica’s watchers every write of every replica once, in revision order, under concurrent writers on both', async () => {
    const {
      stores: [a, b, c],
    } = await replicas(3);
    const writes = 200;
    // From revision 0, and from now, on each replica; c only watches.
    const watching = [a!, b!, c!].flatMap((s) => [take(s.watch({ resourceVersion: '0' }), writes, 30_000), take(s.watch(), writes, 30_000)]);
    const filtered = take(c!.watch({ kinds: ['Node'], site: 'plant-b' }), writes / 4, 30_000);
    await sleep(100);
    const written = await Promise.all(
      Array.from({ length: writes }, (_, i) => (i % 2 === 0 ? a! : b!).apply(node(`n${i}`, i % 4 === 1 ? 'plant-b' : 'plant-a'))),
    );
    // No revision taken twice.
    const nameAt = new Map(written.map((o) => [Number(o.metadata.resourceVersion), o.metadata.name]));
    expect([...nameAt.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: writes }, (_, i) => i + 1));
    for (const events of await Promise.all(watching)) {
      expect(events.map(revisionOf)).toEqual(Array.from({ length: writes }, (_, i) => i + 1));
      expect(events.every((e) => e.type === 'ADDED' && nameAt.get(revisionOf(e)) === e.object.metadata.name)).toBe(true);
    }
    const onB = await filtered;
    expect(onB.map((e) => e.object.metadata.name).sort()).toEqual(written.filter((o) => (o.spec as { site: string }).site === 'plant-b').map((o) => o.metadata.name).sort());
    expect(onB.map(revisionOf)).toEqual([...onB.map(revisionOf)].sort((x, y) => x - y));
  });

  it("replays another replica's history, with writes made during the replay after it, in order, exactly once", async () => {
    const {
      stores: [a, b],
    } = await replicas(2);
    for (let i = 0; i < 600; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => b!.apply(node(`n${i + j}`, 'plant-a'))));
    const it = a!.watch({ resourceVersion: '0' })[Symbol.asyncIterator]();
    const revisions: number[] = [];
    let extra = 0;
    while (revisions.length < 600 + extra) {
      const r = await it.next();
      revisions.push(r.done ? Number.NaN : revisionOf(r.value));
      if (revisions.length % 50 === 0 && extra < 20) await (extra % 2 === 0 ? a! : b!).apply(node(`late${extra++}`, 'plant-a'));
    }
    await it.return?.();
    expect(extra).toBe(12);
    expect(revisions).toEqual(Array.from({ length: 612 }, (_, i) => i + 1));
  });

  it('a slow watcher reads what its replica no longer keeps in memory from the events table, missing nothing', async () => {
    const {
      stores: [a],
    } = await replicas(1);
    const it = a!.watch({ resourceVersion: '0' })[Symbol.asyncIterator]();
    const first = it.next();
    const writes = 2200;
    for (let i = 0; i < writes; i += 25) await Promise.all(Array.from({ length: 25 }, (_, j) => a!.apply(node(`n${i + j}`, 'plant-a'))));
    const r = await within('the first event', first);
    const revisions = [r.done ? Number.NaN : revisionOf(r.value)];
    while (revisions.length < writes) {
      const next = await it.next();
      revisions.push(next.done ? Number.NaN : revisionOf(next.value));
    }
    await it.return?.();
    expect(revisions).toEqual(Array.from({ length: writes }, (_, i) => i + 1));
  });

  it('a replica whose listening connection is lost still delivers the writes it was not told of', async () => {
    const {
      url,
      stores: [a, b],
    } = await replicas(2);
    await a!.apply(site('before'));
    const it = a!.watch({ resourceVersion: '1' })[Symbol.asyncIterator]();
    const first = it.next();
    await sleep(100);
    const listeners = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'";
    await withClient(url, async (c) => {
      const killed = await c.query(`SELECT pg_terminate_backend(pid) FROM (${listeners}) l`);
      expect(killed.rowCount).toBe(2);
    });
    // Nobody listens now: this write's notification reaches no one.
    const t0 = Date.now();
    await b!.apply(site('unheard'));
    const r = await within('the unheard write', first);
    expect(r.done ? 'done' : brief(r.value)).toBe('ADDED Site/unheard@2');
    expect(Date.now() - t0).toBeLessThan(3000);
    // Both listen again, and hear the next ones.
    await until('listening again', () => withClient(url, async (c) => (await c.query(listeners)).rowCount === 2));
    await b!.apply(site('heard'));
    const next = await within('the heard write', it.next());
    expect(next.done ? 'done' : brief(next.value)).toBe('ADDED Site/heard@3');
    await it.return?.();
  });

  it('sends bookmarks with the current revision while idle, over what another replica wrote', async () => {
    const {
      stores: [a, b],
    } = await replicas(2);
    await b!.apply(site('plant-a'));
    await b!.apply(node('n1', 'plant-b'));
    const got = await take(a!.watch({ resourceVersion: '0', site: 'plant-a', bookmarkIntervalMs: 30 }), 3);
    expect(got.map((e) => e.type)).toEqual(['ADDED', 'BOOKMARK', 'BOOKMARK']);
    expect(got[1]?.object.metadata.resourceVersion).toBe('2');
  });
});

describe('PostgreSQL store: history', () => {
  it("keeps the last historyLimit events whichever replica writes; older revisions are GONE (410)", async () => {
    const {
      url,
      stores: [a, b],
    } = await replicas(2, { historyLimit: 3 });
    for (let i = 0; i < 10; i++) await (i % 2 === 0 ? a! : b!).apply(node(`n${i}`, 'plant-a'));
    expect(await withClient(url, async (c) => (await c.query<{ r: number }>('SELECT revision::int AS r FROM edgeadm_resource_events ORDER BY 1')).rows)).toEqual([{ r: 8 }, { r: 9 }, { r: 10 }]);

    const gone = await rejection(take(a!.watch({ resourceVersion: '5' }), 1));
    expect(gone.code).toBe('EDGE_ERR_STORE_GONE');
    expect(gone.statusCode).toBe(410);
    expect(gone.message).toContain('resourceVersion 5 is gone');
    // The oldest retained event is 8: watching from 7 misses nothing.
    expect((await take(b!.watch({ resourceVersion: '7' }), 3)).map(brief)).toEqual(['ADDED Node/n7@8', 'ADDED Node/n8@9', 'ADDED Node/n9@10']);
    // The current revision is fine; a newer one is not.
    expect((await take(a!.watch({ resourceVersion: '10', bookmarkIntervalMs: 20 }), 1)).map(brief)).toEqual(['BOOKMARK Site/@10']);
    expect((await rejection(take(a!.watch({ resourceVersion: '11' }), 1))).code).toBe('EDGE_ERR_STORE_GONE');
    expect(() => a!.watch({ resourceVersion: 'x' })).toThrow(StoreErrors.ErrInvalid);
  });

  it('expires a continue token whose snapshot was compacted away (410)', async () => {
    const {
      stores: [a, b],
    } = await replicas(2, { historyLimit: 3 });
    for (let i = 0; i < 6; i++) await a!.apply(node(`n${i}`, 'plant-a'));
    const p1 = await a!.list('Node', { limit: 2 });
    for (let i = 0; i < 4; i++) await b!.apply(node(`n${i}`, 'plant-a', { round: String(i) }));
    const err = await rejection(b!.list('Node', { limit: 2, continue: p1.continue }));
    expect(err.code).toBe('EDGE_ERR_STORE_GONE');
    expect(err.statusCode).toBe(410);
  });
});

describe('PostgreSQL store: schema, failures, close', () => {
  it('applies its schema once when replicas open at once, and refuses a database of a newer schema', async () => {
    const url = await fresh();
    const stores = await Promise.all([1, 2, 3].map(() => openPostgresStore({ url })));
    await Promise.all(stores.map((s) => s.close()));
    await withClient(url, async (c) => {
      expect((await c.query('SELECT version FROM edgeadm_resources_schema')).rows).toEqual([{ version: 1 }]);
      expect((await c.query('SELECT revision::int AS revision FROM edgeadm_resource_revision')).rows).toEqual([{ revision: 0 }]);
      await c.query('UPDATE edgeadm_resources_schema SET version = 99');
    });
    const err = await rejection(openPostgresStore({ url }));
    expect(err).toMatchObject({ code: 'EDGE_ERR_STORE_BACKEND', statusCode: 503 });
    expect(err.message).toContain('schema version 99');
  });

  it('checks its options, every problem at once, before connecting', async () => {
    const err = await rejection(openPostgresStore({ url: 'postgres://hub:secret-pw@127.0.0.1:1/somewhere', historyLimit: 0, poolSize: -1 }));
    expect(err.code).toBe('EDGE_ERR_STORE_INVALID');
    expect(err.params.issues).toEqual([expect.objectContaining({ path: 'historyLimit' }), expect.objectContaining({ path: 'poolSize' })]);
    expect(err.message).not.toContain('secret-pw');
  });

  it('refuses a wrong password with a coded error that names no password', async () => {
    const err = await rejection(openPostgresStore({ url: `postgres://hub:wrong-secret@127.0.0.1:${server.port}/edgeadm` }));
    expect(err).toMatchObject({ code: 'EDGE_ERR_STORE_BACKEND', statusCode: 503 });
    expect(err.message).toContain('password authentication failed');
    expect(err.message).not.toContain('wrong-secret');
    expect(err.message).not.toContain('postgres://');
  });

  it("says what failed while the server is away, coded and without the URL, and its watchers carry on once it is back", async () => {
    const {
      url,
      stores: [a, b],
    } = await replicas(2);
    await a!.apply(site('plant-a'));
    const it = a!.watch({ resourceVersion: '1' })[Symbol.asyncIterator]();
    const next = it.next();
    await sleep(100);
    await server.stop();
    try {
      const err = await rejection(a!.get('Site', 'plant-a'));
      expect(err).toMatchObject({ code: 'EDGE_ERR_STORE_BACKEND', statusCode: 503 });
      expect(err.message).toMatch(/^resource store \(postgres\): get failed: /);
      expect(err.message).not.toContain(new URL(url).password);
      expect((await rejection(b!.apply(site('plant-b')))).code).toBe('EDGE_ERR_STORE_BACKEND');
    } finally {
      await server.start();
    }
    // Back up: the same stores work again, and the watcher hears of the write.
    await until('the store reconnects', async () => (await b!.apply(site('plant-b')).then(() => true, () => false)));
    const r = await within('the write after the restart', next, 10_000);
    expect(r.done ? 'done' : brief(r.value)).toBe('ADDED Site/plant-b@2');
    await it.return?.();
  });

  it('close ends every watch and leaves no connection behind; then every operation is refused', async () => {
    const url = await fresh();
    const s = await openPostgresStore({ url });
    await s.apply(site('plant-a'));
    const it = s.watch({ bookmarkIntervalMs: 60_000 })[Symbol.asyncIterator]();
    const pending = it.next();
    const sessions = (): Promise<number> =>
      withClient(url, async (c) => (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')).rows[0]!.n);
    await sleep(100);
    expect(await sessions()).toBeGreaterThanOrEqual(2);
    await s.close();
    await s.close();
    expect(await pending).toEqual({ done: true, value: undefined });
    await until('no session left', async () => (await sessions()) === 0);
    const err = await rejection(s.get('Site', 'plant-a'));
    expect(err.code).toBe('EDGE_ERR_STORE_CLOSED');
    expect(err.message).not.toContain(new URL(url).password);
    expect(() => s.watch()).toThrow(StoreErrors.ErrClosed);
  });
});
