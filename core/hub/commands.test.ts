import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../kernel/index.ts';
import { siteCommandOf } from './commands.ts';
import { HubErrors, openCommandQueue, type Command, type CommandQueue } from './index.ts';

const dirs: string[] = [];
const queues: CommandQueue[] = [];
function open(now?: () => number, file?: string): { q: CommandQueue; file: string } {
  let f = file;
  if (f === undefined) {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-commands-'));
    dirs.push(dir);
    f = path.join(dir, 'commands.db');
  }
  const q = openCommandQueue({ file: f, ...(now ? { now } : {}) });
  queues.push(q);
  return { q, file: f };
}

afterEach(() => {
  for (const q of queues.splice(0)) q.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const cmd = (site: string, device = 'pump', value: unknown = 1, ttlSeconds?: number) => ({
  site,
  device,
  resource: 'setpoint',
  value,
  ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
});

describe('command queue', () => {
  it('enqueues, gets and lists commands, oldest first', () => {
    const now = 1_700_000_000_000;
    const { q } = open(() => now);
    const a = q.enqueue(cmd('plant-a', 'p1', { nested: [1, 2] }));
    const b = q.enqueue(cmd('plant-a', 'p2', 'on'));
    const c = q.enqueue(cmd('plant-b', 'p1', true));
    expect(a).toMatchObject({ site: 'plant-a', device: 'p1', resource: 'setpoint', value: { nested: [1, 2] }, state: 'pending' });
    expect(a.createdAt).toBe(new Date(now).toISOString());
    expect(a.expiresAt).toBe(new Date(now + 3600_000).toISOString());
    expect(q.get(b.id)).toEqual(b);
    expect(q.get('nope')).toBeUndefined();
    expect(q.list().map((x) => x.id)).toEqual([a.id, b.id, c.id]);
    expect(q.list({ site: 'plant-a' }).map((x) => x.id)).toEqual([a.id, b.id]);
    expect(q.list({ site: 'plant-a', device: 'p2' }).map((x) => x.id)).toEqual([b.id]);
    expect(q.list({ limit: 1 })).toHaveLength(1);
    expect(q.pending('plant-b').map((x) => x.id)).toEqual([c.id]);
  });

  it('moves commands pending -> delivered -> succeeded / failed, and refuses other transitions', () => {
    const { q } = open();
    const a = q.enqueue(cmd('s'));
    const b = q.enqueue(cmd('s'));
    expect(q.markDelivered(a.id).state).toBe('delivered');
    expect(q.markDelivered(a.id).state).toBe('delivered');
    expect(q.pending('s').map((x) => x.id)).toEqual([b.id]);
    expect(q.complete(a.id, { reported: 21.5 })).toMatchObject({ state: 'succeeded', result: { reported: 21.5 } });
    expect(q.complete(b.id, { error: { code: 'EDGE_ERR_MODBUS_EXCEPTION', message: 'illegal address' } })).toMatchObject({
      state: 'failed',
      result: { error: { code: 'EDGE_ERR_MODBUS_EXCEPTION', message: 'illegal address' } },
    });
    expect(() => q.complete(a.id, {})).toThrow(HubErrors.ErrCommandState);
    expect(() => q.markDelivered(b.id)).toThrow(/cannot deliver command .* it is failed/);
    expect(() => q.complete('missing', {})).toThrow(HubErrors.ErrCommandNotFound);
    expect(q.list({ state: 'succeeded' }).map((x) => x.id)).toEqual([a.id]);
  });

  it('expires overdue commands', () => {
    let now = 1_700_000_000_000;
    const { q } = open(() => now);
    const short = q.enqueue(cmd('s', 'p', 1, 10));
    const long = q.enqueue(cmd('s', 'p', 2, 100));
    const delivered = q.enqueue(cmd('s', 'p', 3, 10));
    q.markDelivered(delivered.id);
    now += 10_000;
    expect(q.pending('s').map((x) => x.id)).toEqual([long.id]);
    expect(q.get(short.id)?.state).toBe('expired');
    expect(q.get(delivered.id)?.state).toBe('expired');
    expect(() => q.complete(short.id, { reported: 1 })).toThrow(/it is expired/);
  });

  it('tells listeners of each enqueue until they unsubscribe, and logs a throwing listener', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'error', destination: { write: (l: string) => void lines.push(l) } });
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-commands-'));
    dirs.push(dir);
    const q = openCommandQueue({ file: path.join(dir, 'c.db'), logger });
    queues.push(q);
    const seen: Command[] = [];
    const off = q.onEnqueue((c) => seen.push(c));
    q.onEnqueue(() => {
      throw new Error('listener bug');
    });
    const a = q.enqueue(cmd('s'));
    off();
    q.enqueue(cmd('s'));
    expect(seen.map((c) => c.id)).toEqual([a.id]);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('command listener failed');
    expect(lines[0]).toContain('listener bug');
  });

  it('keeps commands across a reopen', () => {
    const { q, file } = open();
    const a = q.enqueue(cmd('s'));
    q.close();
    const { q: again } = open(undefined, file);
    expect(again.pending('s')).toEqual([a]);
  });

  it('queues reads beside writes, and tells finish listeners of each result', () => {
    const { q } = open();
    const finished: Command[] = [];
    const off = q.onFinish((c) => finished.push(c));
    const w = q.enqueue(cmd('s'));
    const r = q.enqueue({ site: 's', device: 'pump', kind: 'read', resources: ['flow', 'Values'], ttlSeconds: 5 });
    const all = q.enqueue({ site: 's', device: 'pump', kind: 'read', resources: [] });
    expect(w).toMatchObject({ kind: 'write', resource: 'setpoint', value: 1 });
    expect(r).toMatchObject({ kind: 'read', resources: ['flow', 'Values'], state: 'pending' });
    expect(r).not.toHaveProperty('resource');
    expect(Date.parse(r.expiresAt) - Date.parse(r.createdAt)).toBe(5000);
    expect(q.pending('s').map((c) => c.kind)).toEqual(['write', 'read', 'read']);
    expect(siteCommandOf(w)).toEqual({ id: w.id, device: 'pump', resource: 'setpoint', value: 1, expiresAt: w.expiresAt });
    expect(siteCommandOf(r)).toEqual({ id: r.id, device: 'pump', kind: 'read', resources: ['flow', 'Values'], expiresAt: r.expiresAt });
    const samples = [{ resource: 'flow', value: 1.5, valueType: 'Float64', origin: 1, quality: 'good' }];
    q.markDelivered(r.id);
    q.complete(r.id, { reported: samples });
    q.complete(all.id, { error: { code: 'EDGE_ERR_DEVICE_UNAVAILABLE', message: 'down' } });
    off();
    q.complete(w.id, { reported: 1 });
    expect(finished.map((c) => [c.id, c.state])).toEqual([
      [r.id, 'succeeded'],
      [all.id, 'failed'],
    ]);
    expect(q.get(r.id)).toMatchObject({ kind: 'read', resources: ['flow', 'Values'], state: 'succeeded', result: { reported: samples } });
  });

  it('reads a file from before reads: its commands are writes, and reads can be queued in it', () => {
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
    const { q } = open(undefined, file);
    expect(q.get('old-1')).toMatchObject({ kind: 'write', resource: 'setpoint', value: 42, state: 'pending' });
    const r = q.enqueue({ site: 's', device: 'pump', kind: 'read', resources: ['flow'] });
    expect(q.pending('s').map((c) => [c.id, c.kind])).toEqual([
      ['old-1', 'write'],
      [r.id, 'read'],
    ]);
  });
});
