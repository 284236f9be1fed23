/**
 * tunnel-edge: runs on an edge node. Dials tunnel-cloud over a WebSocket with
 * the node's credential, keeps one session up (reconnecting with exponential
 * backoff and full jitter), and opens local TCP connections on request — only
 * to the addresses and ports on its allow-list.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import WebSocket from 'ws';
import { describeError, toErrorInfo, type Logger } from '../kernel/index.ts';
import { ErrDialFailed, ErrNoCloudUrl, ErrNoForward, ErrNotAllowed, ErrTunnelDown } from './errors.ts';
import type { OpenRequest } from './frame.ts';
import type { TunnelSession, TunnelStream } from './session.ts';
import { spliceStreams } from './splice.ts';
import { sessionOverWebSocket, WS_MAX_PAYLOAD } from './ws-transport.ts';

/** `host:port` entries, e.g. `127.0.0.1:22`, `127.0.0.1:10250`. */
export type AllowList = readonly string[];

export interface TunnelEdgeOptions {
  /**
   * ws:// or wss:// URL of tunnel-cloud, or several (replicas without a load
   * balancer in front): the first is dialled first, each failed or lost
   * connection moves on to the next.
   */
  url: string | readonly string[];
  /** This node's name, as the cloud knows it. */
  node: string;
  /** This node's credential; sent as a bearer token, never logged. */
  credential: string;
  allow: AllowList;
  logger: Logger;
  backoff?: { initialMs: number; maxMs: number };
  /** Time allowed to connect: to a local service for a stream, and to tunnel-cloud (TCP, TLS, WebSocket upgrade). Default 10 s. */
  connectTimeoutMs?: number;
  /** Heartbeat period: a quiet tunnel is pinged; one silent for 3 periods is dropped and dialled again. Default 15 s. */
  heartbeatMs?: number;
  /** TLS options for wss:// (CA to trust, client certificate). */
  tls?: { ca?: string | Buffer };
  /**
   * Local listeners relayed to services of tunnel-cloud: each connection to
   * `listen` (default 127.0.0.1, any port) becomes a stream to the named
   * service. This is how the site agent reaches the hub.
   */
  forwards?: readonly { service: string; host?: string; port?: number }[];
}

export interface TunnelEdgeStatus {
  connected: boolean;
  connects: number;
  lastError?: string;
  streams: number;
}

export interface TunnelEdge {
  status(): TunnelEdgeStatus;
  /** Where a forward listens: connect here to reach the service through the tunnel. */
  forwardAddress(service: string): Promise<{ host: string; port: number }>;
  /** Resolves when a session is up (the handshake done). */
  whenConnected(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts tunnel-edge: the first dial, and the forward listeners (their addresses via `forwardAddress`). */
export function startTunnelEdge(o: TunnelEdgeOptions): TunnelEdge {
  const listening = new Map<string, Promise<{ host: string; port: number }>>();
  const servers: Server[] = [];
  const edge = createTunnelEdge(
    o,
    (service) => listening.get(service) ?? Promise.reject(new ErrNoForward({ service })),
    async () => {
      for (const srv of servers) await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  );
  for (const f of o.forwards ?? []) {
    const srv = createServer({ noDelay: true }, (sock) => edge.relay(f.service, sock));
    servers.push(srv);
    const where = new Promise<{ host: string; port: number }>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(f.port ?? 0, f.host ?? '127.0.0.1', () => {
        srv.off('error', reject);
        const a = srv.address() as AddressInfo;
        resolve({ host: a.address, port: a.port });
      });
    });
    // A forward that cannot listen is reported by forwardAddress; it must not go unhandled.
    where.catch(() => undefined);
    listening.set(f.service, where);
  }
  return edge;
}

function createTunnelEdge(
  o: TunnelEdgeOptions,
  forwardAddress: TunnelEdge['forwardAddress'],
  closeForwards: () => Promise<void>,
): TunnelEdge & { relay(service: string, sock: Socket): void } {
  const log = o.logger.child({ component: 'tunnel-edge', node: o.node });
  const allowed = new Set(o.allow);
  const urls = typeof o.url === 'string' ? [o.url] : [...o.url];
  if (urls.length === 0) throw new ErrNoCloudUrl({ node: o.node });
  let next = 0;
  const heartbeat = setInterval(() => session?.tick(), o.heartbeatMs ?? 15_000);
  heartbeat.unref();
  const { initialMs, maxMs } = o.backoff ?? { initialMs: 250, maxMs: 30_000 };
  let stopped = false;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;
  let ws: WebSocket | undefined;
  let session: TunnelSession | undefined;
  const status: TunnelEdgeStatus = { connected: false, connects: 0, streams: 0 };
  let waiters: (() => void)[] = [];

  const onOpen = async (req: OpenRequest, stream: TunnelStream): Promise<void> => {
    if (req.kind !== 'tcp') throw new ErrNotAllowed({ node: o.node, target: `service '${req.name}'` });
    const target = `${req.host}:${req.port}`;
    if (!allowed.has(target)) throw new ErrNotAllowed({ node: o.node, target });
    const sock = connect({ host: req.host, port: req.port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        sock.destroy();
        reject(new ErrDialFailed({ node: o.node, target, reason: `no connection within ${o.connectTimeoutMs ?? 10_000} ms` }));
      }, o.connectTimeoutMs ?? 10_000);
      sock.once('connect', () => {
        clearTimeout(t);
        resolve();
      });
      sock.once('error', (err) => {
        clearTimeout(t);
        reject(new ErrDialFailed({ node: o.node, target, reason: describeError(err) }));
      });
    });
    // A clean end lets the other side finish sending; a failure takes both down.
    spliceStreams(sock, stream, () => undefined, log);
  };

  const schedule = (): void => {
    if (stopped) return;
    const cap = Math.min(maxMs, initialMs * 2 ** attempt);
    attempt++;
    timer = setTimeout(dial, Math.random() * cap);
  };

  function dial(): void {
    if (stopped) return;
    const url = urls[next++ % urls.length]!;
    const sock = new WebSocket(url, {
      headers: { authorization: `Bearer ${o.credential}`, 'x-edgeadm-node': o.node },
      maxPayload: WS_MAX_PAYLOAD,
      perMessageDeflate: false,
      handshakeTimeout: o.connectTimeoutMs ?? 10_000,
      ...(o.tls?.ca ? { ca: o.tls.ca } : {}),
    });
    ws = sock;
    let refused = false;
    sock.on('unexpected-response', (_req, res) => {
      refused = true;
      status.lastError = `tunnel-cloud answered ${res.statusCode ?? '?'}`;
      log.warn({ status: res.statusCode }, 'tunnel-cloud refused the connection');
      res.resume();
      sock.terminate();
    });
    sock.on('error', (err) => {
      // After a refusal the socket is torn down on purpose: keep the refusal as the reason.
      if (!refused) status.lastError = describeError(err);
    });
    sock.on('open', () => {
      session = sessionOverWebSocket(sock, {
        role: 'edge',
        name: o.node,
        logger: log,
        onOpen,
        onReady: () => {
          attempt = 0;
          status.connected = true;
          status.connects++;
          log.info({ url }, 'tunnel up');
          for (const w of waiters.splice(0)) w();
        },
        onClose: (reason) => {
          status.lastError = `[${reason.code}] ${reason.message}`;
        },
      });
    });
    sock.on('close', () => {
      if (ws === sock) ws = undefined;
      if (status.connected) log.warn('tunnel down; reconnecting');
      status.connected = false;
      session = undefined;
      schedule();
    });
  }

  /** A local connection to a forward: relay it to the cloud's service, or close it at once when the tunnel is down. */
  const relay = (service: string, sock: Socket): void => {
    sock.on('error', (err) => log.debug({ service, error: describeError(err) }, 'forwarded connection error'));
    const s = session;
    if (!s || !status.connected) {
      log.debug({ service, error: toErrorInfo(new ErrTunnelDown({ node: o.node, service })) }, 'forward refused: tunnel down');
      sock.destroy();
      return;
    }
    sock.pause();
    s.open({ kind: 'service', name: service }).then(
      (stream) => {
        if (sock.destroyed) {
          stream.destroy();
          return;
        }
        spliceStreams(sock, stream, () => undefined, log);
        sock.resume();
      },
      (err: unknown) => {
        log.warn({ service, error: toErrorInfo(err) }, 'tunnel-cloud refused a forwarded connection');
        sock.destroy();
      },
    );
  };

  dial();
  return {
    relay,
    forwardAddress,
    status: () => ({ ...status, streams: session?.streamCount() ?? 0 }),
    whenConnected: () => (status.connected ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      clearInterval(heartbeat);
      waiters = [];
      session?.close('EDGE_ERR_TUNNEL_EDGE_STOPPING', 'tunnel-edge is stopping');
      const s = ws;
      if (s && s.readyState !== WebSocket.CLOSED) {
        await new Promise<void>((resolve) => {
          s.once('close', () => resolve());
          setTimeout(() => {
            s.terminate();
            resolve();
          }, 2000).unref();
          if (s.readyState === WebSocket.CONNECTING) s.terminate();
        });
      }
      await closeForwards();
    },
  };
}
