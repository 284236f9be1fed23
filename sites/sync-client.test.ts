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
