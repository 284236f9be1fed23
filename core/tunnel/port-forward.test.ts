import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { deferCleanup } from '../../test/support/cleanup.ts';
import { quiet, waitFor } from '../../test/support/hub-fixture.ts';
import { serveEcho } from '../../test/support/tcp-services.ts';
import { createLogger } from '../kernel/index.ts';
import { createTunnelCloud, type TunnelCloud } from './cloud.ts';
import { startTunnelEdge, type TunnelEdge } from './edge.ts';
import { startPortForward } from './port-forward.ts';
import { freePort } from '../../test/support/tcp-services.ts';

const defer = deferCleanup();

async function startCloud(): Promise<{ cloud: TunnelCloud; url: string }> {
  const cloud = createTunnelCloud({ name: 'replica-0', logger: quiet, authenticate: (cred) => (cred === 'secret-1' ? 'node-1' : undefined) });
  const http = createHttpServer((_req, res) => res.writeHead(404).end());
  http.on('upgrade', (req, socket, head) => cloud.handleUpgrade(req, socket, head));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  defer(async () => {
    await cloud.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  });
  return { cloud, url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/tunnel` };
}

function startEdge(url: string, allowPorts: number[]): TunnelEdge {
  const e = startTunnelEdge({ url, node: 'node-1', credential: 'secret-1', allow: allowPorts.map((p) => `127.0.0.1:${p}`), logger: quiet, backoff: { initialMs: 20, maxMs: 200 } });
  defer(() => e.stop());
  return e;
}

/** Connects, sends `text` (if any), and collects everything until the connection closes. */
async function exchange(port: number, text?: string): Promise<string> {
  const sock: Socket = connect({ host: '127.0.0.1', port });
  defer(() => sock.destroy());
  const chunks: Buffer[] = [];
  sock.on('data', (d: Buffer) => chunks.push(d));
  sock.on('error', () => undefined);
  if (text !== undefined) sock.end(text);
  await once(sock, 'close');
  return Buffer.concat(chunks).toString();
}

/** A logger whose lines the test can read. */
function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines: () => lines };
}

describe('port-forward through the tunnel', () => {
  it('relays each accepted connection to the target on the node, many at once, half-close included', async () => {
    const echo = await serveEcho();
    defer(() => echo.close());
    const { cloud, url } = await startCloud();
    const edge = startEdge(url, [echo.port]);
    await edge.whenConnected();
    const pf = await startPortForward({ port: 0, node: 'node-1', target: { host: '127.0.0.1', port: echo.port }, open: (n, t) => cloud.open(n, t), logger: quiet });
    defer(() => pf.close());

    // Each several stream windows long, so the tail is still waiting for credit when the far end closes.
    const texts = Array.from({ length: 8 }, (_, i) => `connection ${i} `.repeat(200_000));
    const answers = await Promise.all(texts.map((t) => exchange(pf.port, t)));
    expect(answers).toEqual(texts);
    await waitFor('edge streams to close', () => edge.status().streams === 0);
  });

  it('closes a connection whose stream is refused, logs the code, and keeps the listener working', async () => {
    const { cloud, url } = await startCloud();
    const target = await freePort();
    const { logger, lines } = capturingLogger();
    // Started before the node is even connected.
    const pf = await startPortForward({ port: 0, node: 'node-1', target: { host: '127.0.0.1', port: target }, open: (n, t) => cloud.open(n, t), logger });
    defer(() => pf.close());

    expect(await exchange(pf.port, 'anyone there?')).toBe('');
    await waitFor('the refusal to be logged', () => lines().some((l) => l.msg === 'port-forward connection refused' && l.code === 'EDGE_ERR_TUNNEL_NODE_NOT_CONNECTED'));

    const edge = startEdge(url, [target]);
    await edge.whenConnected();
    // The node is up, but nothing listens on the target yet.
    expect(await exchange(pf.port, 'still nobody?')).toBe('');
    await waitFor('the dial failure to be logged', () => lines().some((l) => l.code === 'EDGE_ERR_TUNNEL_DIAL_FAILED'));

    const svc = createServer((s) => s.pipe(s));
    const sockets = new Set<Socket>();
    svc.on('connection', (s) => sockets.add(s));
    await new Promise<void>((r) => svc.listen(target, '127.0.0.1', r));
    defer(() => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => svc.close(r));
    });
    expect(await exchange(pf.port, 'now it works')).toBe('now it works');
  });

  it('refuses a target the node does not allow, per connection', async () => {
    const echo = await serveEcho();
    defer(() => echo.close());
    const { cloud, url } = await startCloud();
    await startEdge(url, []).whenConnected();
    const { logger, lines } = capturingLogger();
    const pf = await startPortForward({ port: 0, node: 'node-1', target: { host: '127.0.0.1', port: echo.port }, open: (n, t) => cloud.open(n, t), logger });
    defer(() => pf.close());
    expect(await exchange(pf.port, 'x')).toBe('');
    expect(await exchange(pf.port, 'y')).toBe('');
    await waitFor('two refusals logged', () => lines().filter((l) => l.code === 'EDGE_ERR_TUNNEL_NOT_ALLOWED').length === 2);
  });

  it('close() ends open connections and stops listening', async () => {
    const echo = await serveEcho();
    defer(() => echo.close());
    const { cloud, url } = await startCloud();
    const edge = startEdge(url, [echo.port]);
    await edge.whenConnected();
    const pf = await startPortForward({ port: 0, node: 'node-1', target: { host: '127.0.0.1', port: echo.port }, open: (n, t) => cloud.open(n, t), logger: quiet });
    const sock = connect({ host: '127.0.0.1', port: pf.port });
    defer(() => sock.destroy());
    sock.write('hello');
    await once(sock, 'data');
    const closed = once(sock, 'close');
    await pf.close();
    await closed;
    const again = connect({ host: '127.0.0.1', port: pf.port });
    const [err] = (await once(again, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');
    await waitFor('edge streams to close', () => edge.status().streams === 0);
  });

  it('refuses bad options with a coded error naming the field', async () => {
    const base = { port: 0, node: 'node-1', target: { host: '127.0.0.1', port: 22 }, open: () => Promise.reject(new Error('unused')), logger: quiet };
    await expect(startPortForward({ ...base, target: { host: '127.0.0.1', port: 0 } })).rejects.toMatchObject({ code: 'EDGE_ERR_PROXY_BAD_OPTIONS', message: expect.stringMatching(/'target\.port'/) });
    await expect(startPortForward({ ...base, node: '' })).rejects.toMatchObject({ code: 'EDGE_ERR_PROXY_BAD_OPTIONS', message: expect.stringMatching(/'node'/) });
    await expect(startPortForward({ ...base, port: -1 })).rejects.toMatchObject({ code: 'EDGE_ERR_PROXY_BAD_OPTIONS', message: expect.stringMatching(/'port'/) });
    const first = await startPortForward(base);
    defer(() => first.close());
    await expect(startPortForward({ ...base, port: first.port })).rejects.toMatchObject({ code: 'EDGE_ERR_PROXY_LISTEN_FAILED' });
  });
});
