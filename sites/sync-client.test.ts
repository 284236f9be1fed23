/**
 * The agent's side of the sync heartbeat, against a real WebSocket server
 * standing in for the hub: a hub that accepts the session and then goes
 * silent (no messages, no pings) is dialled again; one that pings is kept.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { createLogger } from '../core/kernel/index.ts';
import { SYNC_PROTOCOL } from '../core/store/index.ts';
import { LocalState } from './local-state.ts';
import { StorageHealth } from './storage-health.ts';
import { SyncClient } from './sync-client.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fakeHub(onSession: (ws: WebSocket) => void): Promise<{ url: string; sessions: () => number }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => SYNC_PROTOCOL });
  let sessions = 0;
  wss.on('connection', (ws) => {
    sessions++;
    onSession(ws);
  });
  await new Promise((r) => wss.once('listening', r));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`, sessions: () => sessions };
}

function client(hubUrl: string, hubSilenceMs: number): SyncClient {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-sync-client-'));
  const state = new LocalState(path.join(dir, 'replica.db'));
  const c = new SyncClient({
    hubUrl,
    token: 'edgeadm_test0000_x',
    site: 'plant-a',
    agentVersion: 'test',
    state,
    logger: createLogger({ level: 'silent' }),
    onChange: () => undefined,
    onCommand: () => Promise.resolve({ ok: true }),
    backoff: { initialMs: 10, maxMs: 20 },
    hubSilenceMs,
  });
  cleanups.push(async () => {
    await c.stop();
    state.close();
    rmSync(dir, { recursive: true, force: true });
  });
  c.start();
  return c;
}

describe('sync client heartbeat', () => {
  it('drops a session on which the hub went silent and dials again', async () => {
    const hub = await fakeHub(() => undefined);
    const c = client(hub.url, 200);
    await new Promise((r) => setTimeout(r, 1000));
    // About one session per 200 ms of silence (plus the short backoff).
    expect(hub.sessions()).toBeGreaterThanOrEqual(3);
    expect(c.status().lastError).toBe('nothing from the hub for 200 ms');
  });

  it('keeps a session the hub pings', async () => {
    const hub = await fakeHub((ws) => {
      const t = setInterval(() => ws.ping(), 50);
      ws.on('close', () => clearInterval(t));
    });
    const c = client(hub.url, 200);
    await new Promise((r) => setTimeout(r, 1000));
    expect(hub.sessions()).toBe(1);
    expect(c.status().connected).toBe(true);
  });
});

/** A replica on a disk that is full while `full()` says so: its writes fail as SQLite's do (SQLITE_FULL). */
class FullDiskState extends LocalState {
  constructor(
    file: string,
    private readonly full: () => boolean,
  ) {
    super(file);
  }

  #check(): void {
    if (this.full()) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
  }

  override applyEvent(...args: Parameters<LocalState['applyEvent']>): void {
    this.#check();
    super.applyEvent(...args);
  }

  override probe(): void {
    this.#check();
    super.probe();
  }
}

describe('sync client on a full disk', () => {
  it('acknowledges nothing it could not persist, keeps the session open, and starts over from the last acknowledged step once the disk takes writes', async () => {
    const acks: string[][] = [];
    const obj = (name: string, rv: string) => ({ type: 'event', event: 'ADDED', resourceVersion: rv, object: { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Device', metadata: { name, resourceVersion: rv }, spec: {} } });
    const hub = await fakeHub((ws) => {
      const mine: string[] = [];
      acks.push(mine);
      ws.on('message', (data: Buffer) => {
        const msg = JSON.parse(data.toString()) as { type: string; resourceVersion?: string | null };
        if (msg.type === 'ack') mine.push(msg.resourceVersion!);
        if (msg.type !== 'hello') return;
        // From where the agent stands: the first session from the start, a later one from its last acknowledged step.
        const from = Number(msg.resourceVersion ?? '0');
        for (let rv = from + 1; rv <= 4; rv++) ws.send(JSON.stringify(obj(`d-${rv}`, String(rv))));
      });
    });
    let full = false;
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-sync-full-'));
    const state = new FullDiskState(path.join(dir, 'replica.db'), () => full);
    const storage = new StorageHealth();
    // The disk fills up after the first two changes are persisted.
    const origApply = state.applyEvent.bind(state);
    state.applyEvent = (...args) => {
      origApply(...args);
      if (args[2] === '2') full = true;
    };
    const c = new SyncClient({
      hubUrl: hub.url,
      token: 'edgeadm_test0000_x',
      site: 'plant-a',
      agentVersion: 'test',
      state,
      storage,
      logger: createLogger({ level: 'silent' }),
      onChange: () => undefined,
      onCommand: () => Promise.resolve({ ok: true }),
      backoff: { initialMs: 10, maxMs: 20 },
      stallProbeMs: 50,
    });
    cleanups.push(async () => {
      await c.stop();
      state.close();
      rmSync(dir, { recursive: true, force: true });
    });
    c.start();
    await waitUntil(() => storage.degraded());
    await new Promise((r) => setTimeout(r, 300));
    // Changes 3 and 4 could not be written: not acknowledged, and the session stays open.
    expect(acks).toEqual([['1', '2']]);
    expect(c.status().connected).toBe(true);
    expect(storage.problems()).toEqual([expect.objectContaining({ component: 'replica', code: 'SQLITE_FULL' })]);
    expect(state.list('Device').map((d) => d.metadata.name)).toEqual(['d-1', 'd-2']);
    // Space returns: the probe notices, the session starts over from 2, and 3 and 4 arrive.
    full = false;
    await waitUntil(() => acks.length === 2 && acks[1]!.length === 2);
    expect(acks[1]).toEqual(['3', '4']);
    expect(state.list('Device').map((d) => d.metadata.name)).toEqual(['d-1', 'd-2', 'd-3', 'd-4']);
    expect(storage.degraded()).toBe(false);
  });
});

async function waitUntil(fn: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
