/**
 * The CommandQueue contract on both drivers (a SQLite file; Command custom
 * resources on the Kubernetes API test server), then what only one driver
 * has: old files, and replicas sharing the queue.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../kernel/index.ts';
import { siteCommandOf } from './commands.ts';
import { kubeStoreTarget } from '../../test/support/hub/kube.ts';
import { waitFor } from '../../test/support/hub-fixture.ts';
import { startPostgres, type Postgres } from '../../test/support/postgres.ts';
import { openKubeCommandQueue } from './commands-kube.ts';
import { openPostgresCommandQueue } from './commands-postgres.ts';
import { HubErrors, openCommandQueue, type Command, type CommandQueue } from './index.ts';

const DRIVERS = ['sqlite', 'kube', 'postgres'] as const;
type Driver = (typeof DRIVERS)[number];

const dirs: string[] = [];
const queues: CommandQueue[] = [];

interface Opened {
  q: CommandQueue;
  /** Another queue on the same data: the file opened again, or a second replica on the namespace. */
  another: () => Promise<CommandQueue>;
}

let pgServer: Promise<Postgres> | undefined;
let databases = 0;
/** A new, empty database on the file's one PostgreSQL server (started at first use). */
async function pgDatabase(): Promise<string> {
  pgServer ??= startPostgres();
  return (await pgServer).database(`commands${process.pid}_${++databases}`);
}
afterAll(async () => {
  await (await pgServer)?.close();
});

async function openPostgres(url: string, o: { now?: () => number; logger?: Logger; retentionSeconds?: number } = {}): Promise<CommandQueue> {
  const q = await openPostgresCommandQueue({ url, ...o });
  queues.push(q);
  return q;
}

async function open(driver: Driver, o: { now?: () => number; logger?: Logger } = {}): Promise<Opened> {
  if (driver === 'postgres') {
    const url = await pgDatabase();
    return { q: await openPostgres(url, o), another: () => openPostgres(url, o) };
  }
  if (driver === 'sqlite') {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-commands-'));
    dirs.push(dir);
    const file = path.join(dir, 'commands.db');
    const make = (): CommandQueue => {
      const q = openCommandQueue({ file, ...o });
      queues.push(q);
      return q;
    };
    return { q: make(), another: () => Promise.resolve(make()) };
  }
  const target = await kubeStoreTarget();
  const make = async (): Promise<CommandQueue> => {
    const q = await openKubeCommandQueue({ kubeConfig: target.kubeConfig, namespace: target.namespace, ...o });
    queues.push(q);
    return q;
  };
  return { q: await make(), another: make };
}

function openFile(file: string): CommandQueue {
  const q = openCommandQueue({ file });
  queues.push(q);
  return q;
}

afterEach(async () => {
  for (const q of queues.splice(0)) await q.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const cmd = (site: string, device = 'pump', value: unknown = 1, ttlSeconds?: number) => ({
  site,
  device,
  resource: 'setpoint',
  value,
  ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
});

describe.each(DRIVERS)('command queue on %s', (driver) => {
  it('enqueues, gets and lists commands, oldest first', async () => {
    const now = 1_700_000_000_000;
    const { q } = await open(driver, { now: () => now });
    const a = await q.enqueue(cmd('plant-a', 'p1', { nested: [1, 2] }));
    const b = await q.enqueue(cmd('plant-a', 'p2', 'on'));
    const c = await q.enqueue(cmd('plant-b', 'p1', true));
    expect(a).toMatchObject({ site: 'plant-a', device: 'p1', resource: 'setpoint', value: { nested: [1, 2] }, state: 'pending' });
    expect(a.createdAt).toBe(new Date(now).toISOString());
    expect(a.expiresAt).toBe(new Date(now + 3600_000).toISOString());
    expect(await q.get(b.id)).toEqual(b);
    expect(await q.get('nope')).toBeUndefined();
    expect((await q.list()).map((x) => x.id)).toEqual([a.id, b.id, c.id]);
    expect((await q.list({ site: 'plant-a' })).map((x) => x.id)).toEqual([a.id, b.id]);
    expect((await q.list({ site: 'plant-a', device: 'p2' })).map((x) => x.id)).toEqual([b.id]);
    expect(await q.list({ limit: 1 })).toHaveLength(1);
    expect((await q.pending('plant-b')).map((x) => x.id)).toEqual([c.id]);
  });

  it('moves commands pending -> delivered -> succeeded / failed, and refuses other transitions', async () => {
    const { q } = await open(driver);
    const a = await q.enqueue(cmd('s'));
    const b = await q.enqueue(cmd('s'));
    expect((await q.markDelivered(a.id)).state).toBe('delivered');
    expect((await q.markDelivered(a.id)).state).toBe('delivered');
    expect((await q.pending('s')).map((x) => x.id)).toEqual([b.id]);
    expect(await q.complete(a.id, { reported: 21.5 })).toMatchObject({ state: 'succeeded', result: { reported: 21.5 } });
    expect(await q.complete(b.id, { error: { code: 'EDGE_ERR_MODBUS_EXCEPTION', message: 'illegal address' } })).toMatchObject({
      state: 'failed',
      result: { error: { code: 'EDGE_ERR_MODBUS_EXCEPTION', message: 'illegal address' } },
    });
    await expect(q.complete(a.id, {})).rejects.toThrow(HubErrors.ErrCommandState);
    await expect(q.markDelivered(b.id)).rejects.toThrow(/cannot deliver command .* it is failed/);
    await expect(q.complete('missing', {})).rejects.toThrow(HubErrors.ErrCommandNotFound);
    expect((await q.list({ state: 'succeeded' })).map((x) => x.id)).toEqual([a.id]);
  });

  it('expires overdue commands', async () => {
    let now = 1_700_000_000_000;
    const { q } = await open(driver, { now: () => now });
    const short = await q.enqueue(cmd('s', 'p', 1, 10));
    const long = await q.enqueue(cmd('s', 'p', 2, 100));
    const delivered = await q.enqueue(cmd('s', 'p', 3, 10));
    await q.markDelivered(delivered.id);
    now += 10_000;
    expect((await q.pending('s')).map((x) => x.id)).toEqual([long.id]);
    expect((await q.get(short.id))?.state).toBe('expired');
    expect((await q.get(delivered.id))?.state).toBe('expired');
    await expect(q.complete(short.id, { reported: 1 })).rejects.toThrow(/it is expired/);
  });

  it('tells listeners of each enqueue until they unsubscribe, and logs a throwing listener', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'error', destination: { write: (l: string) => void lines.push(l) } });
    const { q } = await open(driver, { logger });
    const seen: Command[] = [];
    const off = q.onEnqueue((c) => seen.push(c));
    q.onEnqueue(() => {
      throw new Error('listener bug');
    });
    const a = await q.enqueue(cmd('s'));
    off();
    await q.enqueue(cmd('s'));
    expect(seen.map((c) => c.id)).toEqual([a.id]);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('command listener failed');
    expect(lines[0]).toContain('listener bug');
  });

  it('keeps commands across a reopen (another replica)', async () => {
    const { q, another } = await open(driver);
    const a = await q.enqueue(cmd('s'));
    await q.close();
    const again = await another();
    expect(await again.pending('s')).toEqual([a]);
  });

  it('queues reads beside writes, and tells finish listeners of each result', async () => {
    const { q } = await open(driver);
    const finished: Command[] = [];
    const off = q.onFinish((c) => finished.push(c));
    const w = await q.enqueue(cmd('s'));
    const r = await q.enqueue({ site: 's', device: 'pump', kind: 'read', resources: ['flow', 'Values'], ttlSeconds: 5 });
    const all = await q.enqueue({ site: 's', device: 'pump', kind: 'read', resources: [] });
    expect(w).toMatchObject({ kind: 'write', resource: 'setpoint', value: 1 });
    expect(r).toMatchObject({ kind: 'read', resources: ['flow', 'Values'], state: 'pending' });
    expect(r).not.toHaveProperty('resource');
    expect(Date.parse(r.expiresAt) - Date.parse(r.createdAt)).toBe(5000);
    expect((await q.pending('s')).map((c) => c.kind)).toEqual(['write', 'read', 'read']);
    expect(siteCommandOf(w)).toEqual({ id: w.id, device: 'pump', resource: 'setpoint', value: 1, expiresAt: w.expiresAt });
    expect(siteCommandOf(r)).toEqual({ id: r.id, device: 'pump', kind: 'read', resources: ['flow', 'Values'], expiresAt: r.expiresAt });
    const samples = [{ resource: 'flow', value: 1.5, valueType: 'Float64', origin: 1, quality: 'good' }];
    await q.markDelivered(r.id);
    await q.complete(r.id, { reported: samples });
    await q.complete(all.id, { error: { code: 'EDGE_ERR_DEVICE_UNAVAILABLE', message: 'down' } });
    off();
    await q.complete(w.id, { reported: 1 });
    expect(finished.map((c) => [c.id, c.state])).toEqual([
      [r.id, 'succeeded'],
      [all.id, 'failed'],
    ]);
    expect(await q.get(r.id)).toMatchObject({ kind: 'read', resources: ['flow', 'Values'], state: 'succeeded', result: { reported: samples } });
  });

});

describe('command queue on a SQLite file', () => {
  it('reads a file from before reads: its commands are writes, and reads can be queued in it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-commands-'));
    dirs.push(dir);
    const file = path.join(dir, 'old.db');
    const db = new Database(file);
    db.exec(`CREATE TABLE commands (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, site TEXT NOT NULL, device TEXT NOT NULL, resource TEXT NOT NULL, value TEXT NOT NULL,
      created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'succeeded', 'failed', 'expired')), result TEXT) STRICT`);
    db.prepare(`INSERT INTO commands (id, site, device, resource, value, created_at, expires_at, state) VALUES ('old-1', 's', 'pump', 'setpoint', '42', ?, ?, 'pending')`).run(Date.now(), Date.now() + 60_000);
    db.close();
    const q = openFile(file);
    expect(await q.get('old-1')).toMatchObject({ kind: 'write', resource: 'setpoint', value: 42, state: 'pending' });
    const r = await q.enqueue({ site: 's', device: 'pump', kind: 'read', resources: ['flow'] });
    expect((await q.pending('s')).map((c) => [c.id, c.kind])).toEqual([
      ['old-1', 'write'],
      [r.id, 'read'],
    ]);
  });

  it('deletes finished commands a retention after their deadline, and keeps open ones', async () => {
    let now = 1_700_000_000_000;
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-commands-'));
    dirs.push(dir);
    const q = openCommandQueue({ file: path.join(dir, 'c.db'), now: () => now, retentionSeconds: 3600 });
    queues.push(q);
    const done = await q.enqueue(cmd('s', 'p', 1, 60));
    await q.complete(done.id, { reported: 1 });
    const open_ = await q.enqueue(cmd('s', 'p', 2, 7200));
    now += 60_000 + 3600_000;
    expect((await q.list()).map((c) => c.id)).toEqual([open_.id]);
  });
});

describe.each(['kube', 'postgres'] as const)('command queue replicas on %s', (driver) => {
  it('shares commands between replicas: an enqueue on one reaches the other\'s listeners, a result on the other reaches the first\'s, each once', async () => {
    const { q: a, another } = await open(driver);
    const b = await another();
    const enqueuedA: string[] = [];
    const enqueuedB: string[] = [];
    const finishedA: string[] = [];
    const finishedB: string[] = [];
    a.onEnqueue((c) => enqueuedA.push(c.id));
    b.onEnqueue((c) => enqueuedB.push(c.id));
    a.onFinish((c) => finishedA.push(`${c.id}:${c.state}`));
    b.onFinish((c) => finishedB.push(`${c.id}:${c.state}`));

    const w = await a.enqueue(cmd('plant-a'));
    await waitFor('replica b to hear of the enqueue', () => enqueuedB.includes(w.id), 10_000);
    expect((await b.pending('plant-a')).map((c) => c.id)).toEqual([w.id]);
    await b.markDelivered(w.id);
    await b.complete(w.id, { reported: 1 });
    await waitFor('replica a to hear of the result', () => finishedA.includes(`${w.id}:succeeded`), 10_000);
    expect(await a.get(w.id)).toMatchObject({ state: 'succeeded', result: { reported: 1 } });

    // The other way round: made and finished on b.
    const r = await b.enqueue({ site: 'plant-a', device: 'pump', kind: 'read', resources: ['flow'] });
    await b.complete(r.id, { error: { code: 'EDGE_ERR_DEVICE_UNAVAILABLE', message: 'down' } });
    await waitFor('replica a to hear of the second result', () => finishedA.includes(`${r.id}:failed`), 10_000);
    // Let any late duplicate arrive before counting.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(enqueuedA).toEqual([w.id, r.id]);
    expect(enqueuedB).toEqual([w.id, r.id]);
    expect(finishedA).toEqual([`${w.id}:succeeded`, `${r.id}:failed`]);
    expect(finishedB).toEqual([`${w.id}:succeeded`, `${r.id}:failed`]);
  });

  it('lets one of two replicas complete a command; the other is told it is finished', async () => {
    const { q: a, another } = await open(driver);
    const b = await another();
    const c = await a.enqueue(cmd('s'));
    const results = await Promise.allSettled([a.complete(c.id, { reported: 'a' }), b.complete(c.id, { reported: 'b' })]);
    const won = results.filter((x) => x.status === 'fulfilled');
    const lost = results.filter((x): x is PromiseRejectedResult => x.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(HubErrors.ErrCommandState.is(lost[0]!.reason)).toBe(true);
    const stored = await a.get(c.id);
    expect(stored?.state).toBe('succeeded');
    expect([{ reported: 'a' }, { reported: 'b' }]).toContainEqual(stored?.result);
  });

});

describe('command queue on Kubernetes custom resources', () => {
  it('sweeps finished commands a retention after their deadline', async () => {
    let now = 1_700_000_000_000;
    const target = await kubeStoreTarget();
    const q = await openKubeCommandQueue({ kubeConfig: target.kubeConfig, namespace: target.namespace, now: () => now, retentionSeconds: 3600, sweepEveryMs: 50 });
    queues.push(q);
    const done = await q.enqueue(cmd('s', 'p', 1, 60));
    await q.complete(done.id, { reported: 1 });
    const kept = await q.enqueue(cmd('s', 'p', 2, 7200));
    now += 60_000 + 3600_000;
    await waitFor('the sweep', async () => (await q.list()).length === 1, 10_000);
    expect((await q.list()).map((c) => c.id)).toEqual([kept.id]);
  });
});

describe('command queue on PostgreSQL', () => {
  it('sweeps finished commands a retention after their deadline', async () => {
    let now = 1_700_000_000_000;
    const q = await openPostgres(await pgDatabase(), { now: () => now, retentionSeconds: 3600 });
    const done = await q.enqueue(cmd('s', 'p', 1, 60));
    await q.complete(done.id, { reported: 1 });
    const kept = await q.enqueue(cmd('s', 'p', 2, 7200));
    expect(await q.list()).toHaveLength(2);
    now += 60_000 + 3600_000;
    expect((await q.list()).map((c) => c.id)).toEqual([kept.id]);
  });
});
