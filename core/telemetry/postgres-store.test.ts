/**
 * The PostgreSQL telemetry store on a real PostgreSQL (Debian's, started
 * here on a private port and data folder): the drivers' contract
 * (store-contract.ts), and what only PostgreSQL has: two replicas given
 * the same batches at once store each reading once, partitions by day,
 * retention by dropping them, schema versions applied once, and the
 * engine's failures coded without its URL.
 */
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startPostgres, type Postgres } from '../../test/support/postgres.ts';
import { numbered, streamKey } from './fixtures/helpers.ts';
import { openPostgresTelemetryStore, pageQuery, seqRanges } from './postgres-store.ts';
import { describeTelemetryStoreContract, rejected } from './store-contract.ts';

let server: Postgres;
let n = 0;
/** A new, empty database of the server. */
const fresh = (): Promise<string> => server.database(`t${process.pid}_${++n}`);

beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(async () => {
  await server?.close();
});

describeTelemetryStoreContract('postgres', async () => {
  const metrics = new Registry();
  return { store: await openPostgresTelemetryStore({ url: await fresh(), metrics }), metrics };
});

const DAY_NS = 86_400_000_000_000;

async function tables(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ name: string }>("SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'telemetry'::regclass ORDER BY 1");
    return r.rows.map((x) => x.name);
  } finally {
    await c.end();
  }
}

describe('the PostgreSQL telemetry store', () => {
  it('stores each reading once when two replicas are given the same batches at once', async () => {
    const url = await fresh();
    const [a, b] = await Promise.all([openPostgresTelemetryStore({ url }), openPostgresTelemetryStore({ url })]);
    try {
      const batches = Array.from({ length: 20 }, (_, i) => numbered('plant-a', i * 50 + 1, 50));
      const key = (rs: ReturnType<typeof numbered>) => streamKey('plant-a', rs, { lastSeq: 1000 });
      // Each batch to both replicas at once, as an outbox retrying to another replica does.
      const results = await Promise.all(batches.flatMap((rs) => [a.ingest(key(rs), rs), b.ingest(key(rs), rs)]));
      expect(results.reduce((s, r) => s + r.accepted, 0)).toBe(1000);
      expect(results.reduce((s, r) => s + r.duplicates, 0)).toBe(1000);
      expect(await a.count({ site: 'plant-a' })).toBe(1000);
      expect(await b.streams('plant-a')).toMatchObject([{ held: 1000, duplicates: 1000, highSeq: 1000, conflicts: 0 }]);
      // Each replica reads what the other stored, with its stream's name.
      expect((await b.query({ site: 'plant-a', limit: 1 })).items[0]).toMatchObject({ seq: 1, stream: 'token:t1/stream-one' });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("hands every replica's live subscribers what any replica stores, once", async () => {
    const url = await fresh();
    const [a, b] = await Promise.all([openPostgresTelemetryStore({ url }), openPostgresTelemetryStore({ url })]);
    try {
      const atA: number[] = [];
      const atB: string[] = [];
      a.subscribe({ site: 'plant-a' }, (rs) => atA.push(...rs.map((r) => r.seq)));
      b.subscribe({ site: 'plant-a', device: 'd1' }, (rs) => atB.push(...rs.map((r) => `${r.seq}/${r.stream}/${JSON.stringify(r.value)}`)));
      const rs = numbered('plant-a', 1, 9);
      await a.ingest(streamKey('plant-a', rs), rs);
      // A resend (new objects: a stored batch's readings get their stream) stores nothing: nobody hears of it again.
      const again = numbered('plant-a', 1, 9);
      await b.ingest(streamKey('plant-a', again), again);
      const more = numbered('plant-a', 10, 3);
      await b.ingest(streamKey('plant-a', more, { lastSeq: 12 }), more);
      // Another replica's readings come when its commit is heard: in any order with this one's own.
      await vi.waitFor(() => expect([...atA].sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), { timeout: 10_000 });
      const d1 = [...rs, ...more].filter((r) => r.device === 'd1');
      await vi.waitFor(() => expect([...atB].sort()).toEqual(d1.map((r) => `${r.seq}/token:t1/stream-one/${JSON.stringify(r.value)}`).sort()), { timeout: 10_000 });
      await new Promise((r) => setTimeout(r, 300));
      expect(atA).toHaveLength(12);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('sends stored seqs as ranges, and one span past the limit', () => {
    expect(seqRanges([1, 2, 3, 5, 7, 8])).toBe('1-3,5-5,7-8');
    expect(seqRanges([4])).toBe('4-4');
    expect(seqRanges(Array.from({ length: 500 }, (_, i) => i * 2 + 1))).toBe('1-999');
  });

  it('keeps readings in a partition per day, and drops whole days past the retention', async () => {
    const url = await fresh();
    const now = Date.now() * 1e6;
    const old = numbered('plant-a', 1, 3).map((r, i) => ({ ...r, origin: now - (40 + i) * DAY_NS }));
    const recent = numbered('plant-a', 4, 2).map((r) => ({ ...r, origin: now - DAY_NS }));
    const s1 = await openPostgresTelemetryStore({ url });
    await s1.ingest(streamKey('plant-a', [...old, ...recent]), [...old, ...recent]);
    const parts = await tables(url);
    expect(parts).toHaveLength(4);
    for (const p of parts) expect(p).toMatch(/^telemetry_d\d{8}$/);
    // Reopened with 30 days of retention: the three old days go, whole; the recent one stays.
    const s2 = await openPostgresTelemetryStore({ url, retentionDays: 30 });
    try {
      expect(await tables(url)).toHaveLength(1);
      expect((await s2.query({ site: 'plant-a' })).items.map((r) => r.seq)).toEqual([4, 5]);
      // Readings of a dropped day can come again (a late resend): a new partition takes them.
      expect((await s2.ingest(streamKey('plant-a', [old[0]!], { lastSeq: 5 }), [old[0]!])).accepted).toBe(1);
      // A replica that knew a dropped day makes it anew.
      const late = { ...numbered('plant-a', 6, 1)[0]!, origin: now - 41 * DAY_NS };
      expect((await s1.ingest(streamKey('plant-a', [late], { lastSeq: 6 }), [late])).accepted).toBe(1);
    } finally {
      await Promise.all([s1.close(), s2.close()]);
    }
  });

  it("reads a page of a site or a device in the order of its index across the day partitions, never sorting what it stored", async () => {
    const url = await fresh();
    const now = Date.now() * 1e6;
    const rs = numbered('plant-a', 1, 30).map((r, i) => ({ ...r, origin: now - (i % 3) * DAY_NS - i * 1000 }));
    const s = await openPostgresTelemetryStore({ url });
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await s.ingest(streamKey('plant-a', rs), rs);
      // As a big table would be planned: no sequential scans, so a plan that must sort every row of the site shows a Sort.
      await c.query('SET enable_seqscan = off');
      for (const q of [{ site: 'plant-a', descending: true }, { site: 'plant-a', device: 'd1', descending: true }, { site: 'plant-a' }, { site: 'plant-a', device: 'd1', from: now - DAY_NS, to: now }]) {
        const page = pageQuery(q, 100);
        const plan = (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${page.text}`, page.values)).rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(plan, JSON.stringify(q)).not.toMatch(/\bSort\b/);
        expect(plan, JSON.stringify(q)).toMatch(/Index Scan/);
        // And the page is the one the store answers.
        expect((await s.query(q)).items.length).toBeGreaterThan(0);
      }
    } finally {
      await c.end();
      await s.close();
    }
  });

  it('applies its schema once, and refuses a database of a newer version', async () => {
    const url = await fresh();
    const stores = await Promise.all([1, 2, 3].map(() => openPostgresTelemetryStore({ url })));
    await Promise.all(stores.map((s) => s.close()));
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    expect((await c.query('SELECT version FROM edgeadm_telemetry_schema')).rows).toEqual([{ version: 2 }]);
    await c.query('UPDATE edgeadm_telemetry_schema SET version = 99');
    await c.end();
    expect(await rejected(openPostgresTelemetryStore({ url }))).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_BACKEND', message: expect.stringContaining('schema version 99') });
  });

  it("says what failed, coded, with the engine's words and never its URL", async () => {
    const url = await fresh();
    const store = await openPostgresTelemetryStore({ url });
    await server.stop();
    try {
      const err = await rejected(store.ingest(streamKey('plant-a', numbered('plant-a', 1, 1)), numbered('plant-a', 1, 1)));
      expect(err).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_BACKEND', statusCode: 503 });
      expect((err as Error).message).toMatch(/^telemetry store \(postgres\): (ingest|making partitions)/);
      expect((err as Error).message).not.toContain(new URL(url).password);
      expect(await rejected(store.count())).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_BACKEND' });
    } finally {
      await server.start();
      await store.close();
    }
    // Back up: the same store works again (the pool makes new connections).
    const again = await openPostgresTelemetryStore({ url });
    expect((await again.ingest(streamKey('plant-a', numbered('plant-a', 1, 1)), numbered('plant-a', 1, 1))).accepted).toBe(1);
    await again.close();
  });

  it('refuses a URL that does not reach a database, naming no password', async () => {
    const bad = `postgres://hub:wrong-secret@127.0.0.1:${server.port}/edgeadm`;
    const err = await rejected(openPostgresTelemetryStore({ url: bad }));
    expect(err).toMatchObject({ code: 'EDGE_ERR_TELEMETRY_BACKEND' });
    expect((err as Error).message).not.toContain('wrong-secret');
  });
});
