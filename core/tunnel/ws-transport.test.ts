import { randomBytes } from 'node:crypto';
import { connect, type AddressInfo } from 'node:net';
import { serveEcho } from '../../test/support/tcp-services.ts';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { createLogger } from '../kernel/index.ts';
import { TunnelErrors } from './index.ts';
import { sessionOverWebSocket, WS_MAX_PAYLOAD } from './ws-transport.ts';
import type { TunnelSession } from './session.ts';
import { deferCleanup } from '../../test/support/cleanup.ts';

const logger = createLogger({ level: 'silent' });
const defer = deferCleanup();

/** A real TCP echo server standing for a service on the edge node (sshd, kubelet, ...). */
async function echoServer(): Promise<number> {
  const svc = await serveEcho();
  defer(() => svc.close());
  return svc.port;
}

describe('tunnel session over a real WebSocket', () => {
  it('reaches a TCP service on the edge side through the tunnel, and refuses ports off the allow-list', async () => {
    const port = await echoServer();
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: WS_MAX_PAYLOAD });
    await new Promise<void>((r) => wss.once('listening', r));
    defer(() => {
    for (const c of wss.clients) c.terminate();
    return new Promise((r) => wss.close(r));
  });
    const clouds: TunnelSession[] = [];
    wss.on('connection', (ws) => clouds.push(sessionOverWebSocket(ws, { role: 'cloud', name: 'replica-0', logger })));

    const allowed = new Set([port]);
    const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { maxPayload: WS_MAX_PAYLOAD });
    await new Promise((r) => ws.once('open', r));
    defer(() => ws.terminate());
    sessionOverWebSocket(ws, {
      role: 'edge',
      name: 'node-1',
      logger,
      onOpen: async (req, stream) => {
        if (req.kind !== 'tcp' || !allowed.has(req.port)) throw new TunnelErrors.ErrProtocol({ violation: 'BAD_PAYLOAD', detail: `${JSON.stringify(req)} is not allowed` });
        const sock = connect(req.port, req.host);
        await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
        stream.pipe(sock).pipe(stream);
        // Either end going away takes the other with it.
        stream.on('close', () => sock.destroy());
        sock.on('close', () => stream.destroy());
      },
    });
    await new Promise((r) => setTimeout(r, 50));
    const cloud = clouds[0]!;
    await cloud.whenReady();

    const s = await cloud.open({ kind: 'tcp', host: '127.0.0.1', port });
    const data = randomBytes(2 * 1024 * 1024);
    const got: Buffer[] = [];
    let total = 0;
    const done = new Promise<void>((resolve) =>
      s.on('data', (d: Buffer) => {
        got.push(d);
        total += d.length;
        if (total === data.length) resolve();
      }),
    );
    s.write(data);
    await done;
    expect(Buffer.concat(got).equals(data)).toBe(true);
    s.destroy();

    await expect(cloud.open({ kind: 'tcp', host: '127.0.0.1', port: 1 })).rejects.toMatchObject({ code: 'EDGE_ERR_TUNNEL_STREAM_REFUSED' });

    // A text frame is a protocol violation: that session ends with a coded close.
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.send('hello?');
    expect(await closed).toEqual({ code: 4400, reason: 'EDGE_ERR_TUNNEL_PROTOCOL_BAD_PAYLOAD' });
  });

  it('refuses a second session on a socket that already carries one', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', r));
    defer(() => {
      for (const c of wss.clients) c.terminate();
      return new Promise((r) => wss.close(r));
    });
    const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    await new Promise((r) => ws.once('open', r));
    defer(() => ws.terminate());
    sessionOverWebSocket(ws, { role: 'edge', name: 'node-1', logger });
    expect(() => sessionOverWebSocket(ws, { role: 'edge', name: 'node-2', logger })).toThrow(/EDGE_ERR_TUNNEL_WEBSOCKET_BOUND|already carries a tunnel session/);
  });
});

