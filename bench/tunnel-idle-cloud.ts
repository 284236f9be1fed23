/**
 * Child of bench/tunnel-idle.ts: the server side, alone in its process so its
 * memory can be read. `--mode tunnel`: a tunnel-cloud behind an https server,
 * as in production. `--mode bare`: the peer, a bare TLS WebSocket server (ws
 * over https, no tunnel session) that echoes each message, so each of its
 * connections carries one small message each way as a tunnel handshake does.
 * Run with --expose-gc: `measure` collects garbage before it reads memory.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { RawData, WebSocket } from 'ws';
import { WebSocketServer } from 'ws';
import { createLogger } from '../core/kernel/index.ts';
import { createTunnelCloud, WS_MAX_PAYLOAD } from '../core/tunnel/index.ts';
import { argValue, ErrBenchArgument, helloParent, openFilesLimit, serveParent } from './tunnel-idle-ipc.ts';

const arg = argValue;
const mode = arg('mode');
if (mode !== 'tunnel' && mode !== 'bare') throw new ErrBenchArgument({ name: 'mode', problem: `must be 'tunnel' or 'bare', not '${mode}'` });
const token = readFileSync(arg('token-file'), 'utf8').trim();
const server = createServer({ cert: readFileSync(arg('cert')), key: readFileSync(arg('key')) });
const logger = createLogger({ level: 'warn' });

let connections: () => number;
let closeServer: () => Promise<void>;

if (mode === 'tunnel') {
  const cloud = createTunnelCloud({
    name: 'bench-cloud',
    authenticate: (credential, claimed) => (credential === token ? claimed : undefined),
    logger,
  });
  server.on('upgrade', (req, socket, head) => cloud.handleUpgrade(req, socket, head));
  connections = () => cloud.nodes().length;
  closeServer = () => cloud.close();
} else {
  const wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD, perMessageDeflate: false });
  // Shared listeners (`this` is the socket): the peer carries no per-connection closures.
  function echo(this: WebSocket, data: RawData): void {
    this.send(data as Buffer, { binary: true });
  }
  function ignore(): void {}
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', echo);
      ws.on('error', ignore);
    });
  });
  connections = () => wss.clients.size;
  closeServer = async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  };
}

if (!globalThis.gc) throw new ErrBenchArgument({ name: '--expose-gc', problem: 'must be given to node' });
const gc = globalThis.gc;

async function measure(): Promise<Record<string, unknown>> {
  const count = connections();
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 150));
  }
  const m = process.memoryUsage();
  return { connections: count, rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}

await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', 4096, resolve));
serveParent({
  measure,
  // eslint-disable-next-line @typescript-eslint/require-await -- a handler is async by contract
  count: async () => ({ connections: connections() }),
  close: async () => {
    await closeServer();
    return {};
  },
});
helloParent({ port: (server.address() as AddressInfo).port, fdLimit: openFilesLimit(), pid: process.pid });
