/**
 * One tunnel-cloud replica as a process of its own, for tests of several
 * replicas: an HTTP server with tunnel-cloud (`/tunnel`), the replica
 * router's peer endpoint (`/peer`), its metrics (`GET /metrics`), where a node
 * is (`GET /where?node=`), and an HTTP CONNECT front end so a test can ask
 * this replica for a stream: `CONNECT host:port` with header `x-edgeadm-node`;
 * a refusal is answered with the coded error as JSON (`replica` naming the
 * replica that answered), a stream cut by an error resets the connection.
 *
 *   node --import tsx test/support/tunnel-replica.ts '<json config>'
 *
 * Config: { name, storeFile, credentials: { <credential>: <node> },
 * peerCredential, leaseDurationSeconds? }. Prints one JSON line when ready:
 * { ready, name, pid, tunnelUrl, peerUrl, baseUrl }. SIGTERM stops it cleanly.
 */
import { createServer, STATUS_CODES, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Registry } from 'prom-client';
import { createLogger, EdgeError, toErrorInfo } from '../../core/kernel/index.ts';
import { openSqliteStore } from '../../core/store/index.ts';
import { answeredBy, createReplicaRouter, createTunnelCloud, type ReplicaRouter } from '../../core/tunnel/index.ts';

interface ReplicaConfig {
  name: string;
  storeFile: string;
  credentials: Record<string, string>;
  peerCredential: string;
  leaseDurationSeconds?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ReplicaConfig;
const logger = createLogger({ level: process.env.EDGEADM_TEST_LOG === '1' ? 'debug' : 'silent', base: { process: config.name } });
const store = openSqliteStore({ file: config.storeFile });
const registry = new Registry();
const credentials = new Map(Object.entries(config.credentials));

const ref: { router?: ReplicaRouter } = {};
const cloud = createTunnelCloud({
  name: config.name,
  logger,
  authenticate: (credential) => credentials.get(credential),
  onNodeChange: (node, up) => ref.router?.nodeChanged(node, up),
});

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://replica');
  if (req.method === 'GET' && url.pathname === '/metrics') {
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => json(res, 500, toErrorInfo(err)),
    );
    return;
  }
  if (req.method === 'GET' && url.pathname === '/where' && ref.router) {
    ref.router.where(url.searchParams.get('node') ?? '').then(
      (where) => json(res, 200, where ?? null),
      (err: unknown) => json(res, 500, toErrorInfo(err)),
    );
    return;
  }
  json(res, 404, { code: 'NOT_FOUND', message: `${req.method} ${url.pathname}` });
});

server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
  const path = new URL(req.url ?? '/', 'http://replica').pathname;
  if (path === '/tunnel') cloud.handleUpgrade(req, socket, head);
  else if (path === '/peer' && ref.router) ref.router.handlePeerUpgrade(req, socket, head);
  else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
});

/** CONNECT tunnels are detached from the HTTP server: closed by hand on shutdown. */
const tunnels = new Set<Socket>();
server.on('connect', (req, socket: Socket, head: Buffer) => {
  socket.on('error', () => undefined);
  tunnels.add(socket);
  socket.on('close', () => tunnels.delete(socket));
  const node = typeof req.headers['x-edgeadm-node'] === 'string' ? req.headers['x-edgeadm-node'] : '';
  const authority = req.url ?? '';
  const colon = authority.lastIndexOf(':');
  const target = { kind: 'tcp' as const, host: authority.slice(0, colon), port: Number(authority.slice(colon + 1)) };
  if (!ref.router) {
    socket.destroy();
    return;
  }
  ref.router.open(node, target).then(
    (stream) => {
      stream.on('error', () => undefined);
      if (socket.destroyed) {
        stream.destroy();
        return;
      }
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) stream.write(head);
      stream.pipe(socket);
      socket.pipe(stream);
      stream.on('close', () => {
        // A stream cut by an error resets the client's connection, so the client sees an error rather than an end.
        if (stream.errored) socket.resetAndDestroy();
        else if (!stream.readableEnded) socket.destroy();
      });
      socket.on('close', () => stream.destroy());
    },
    (err: unknown) => {
      const status = err instanceof EdgeError ? err.statusCode : 500;
      const body = JSON.stringify({ ...toErrorInfo(err), replica: answeredBy(err) });
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
  );
});

await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
const router = createReplicaRouter({
  cloud,
  store,
  replica: { name: config.name, peerUrl: `ws://${base}/peer` },
  peer: { credential: config.peerCredential },
  ...(config.leaseDurationSeconds === undefined ? {} : { leaseDurationSeconds: config.leaseDurationSeconds }),
  metrics: registry,
  logger,
});
ref.router = router;

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  void (async () => {
    await router.close();
    await cloud.close();
    for (const s of tunnels) s.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await store.close();
    process.exit(0);
  })();
});

process.stdout.write(
  `${JSON.stringify({ ready: true, name: config.name, pid: process.pid, tunnelUrl: `ws://${base}/tunnel`, peerUrl: `ws://${base}/peer`, baseUrl: `http://${base}` })}\n`,
);
