/**
 * tunnel-cloud: accepts edge nodes' WebSockets — authenticated ones only — and
 * keeps one session per node. A node that connects again replaces its older
 * session. `open(node, target)` gives a stream to a TCP address on that node.
 * The other way, an edge may open streams only to the named services this
 * cloud offers (the hub's API, its MQTT ingest), never to arbitrary addresses.
 */
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { describeError, type Logger } from '../kernel/index.ts';
import { ErrEdgeDialRefused, ErrNodeNotConnected, ErrServiceUnavailable, ErrServiceUnknown } from './errors.ts';
import type { Hello, OpenRequest } from './frame.ts';
import type { TunnelSession, TunnelStream } from './session.ts';
import { spliceStreams } from './splice.ts';
import { sessionOverWebSocket, WS_MAX_PAYLOAD } from './ws-transport.ts';

/** A service edges may reach: a TCP address next to tunnel-cloud, or a handler that takes the stream. */
export type CloudService = { host: string; port: number } | ((stream: TunnelStream, node: string) => void | Promise<void>);

export interface TunnelCloudOptions {
  /** This replica's name. */
  name: string;
  /** Maps a presented credential to the node it belongs to; undefined refuses (401). */
  authenticate(credential: string, claimedNode: string | undefined): string | undefined | Promise<string | undefined>;
  logger: Logger;
  /** Services edges may open streams to, by name (`hub`, `mqtt`). */
  services?: Readonly<Record<string, CloudService>>;
  /** Told when a node's session comes up (after the handshake) or goes away. */
  onNodeChange?: (node: string, connected: boolean) => void;
  /** Heartbeat period: a quiet session is pinged, one silent for 3 periods (or without a handshake) is closed. Default 15 s. */
  heartbeatMs?: number;
}

export interface TunnelCloud {
  /** Call from an HTTP(S) server's 'upgrade' event for the tunnel path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  open(node: string, target: OpenRequest): Promise<TunnelStream>;
  nodes(): string[];
  /** Ends a node's session (its credential was revoked, the node deleted); false when it had none. */
  disconnect(node: string, code: string, message: string): boolean;
  close(): Promise<void>;
}

export function createTunnelCloud(o: TunnelCloudOptions): TunnelCloud {
  const log = o.logger.child({ component: 'tunnel-cloud', replica: o.name });
  const wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD, perMessageDeflate: false });
  const sessions = new Map<string, TunnelSession>();

  const refuse = (socket: Duplex, status: number, text: string): void => {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };

  const services = o.services ?? {};
  let closed = false;
  // Every session, handshake done or not, is ticked by one timer for the whole process.
  const live = new Set<TunnelSession>();
  const heartbeat = setInterval(() => {
    for (const s of live) s.tick();
  }, o.heartbeatMs ?? 15_000);
  heartbeat.unref();
  /** An edge opened a stream: connect it to the named service, or refuse it with a code. */
  const serve = async (node: string, req: OpenRequest, stream: TunnelStream): Promise<void> => {
    if (req.kind !== 'service') throw new ErrEdgeDialRefused({ node, target: `${req.host}:${req.port}` });
    const svc = Object.hasOwn(services, req.name) ? services[req.name] : undefined;
    if (!svc) throw new ErrServiceUnknown({ service: req.name, offered: Object.keys(services).join(', ') });
    if (typeof svc === 'function') {
      // The handler runs once the stream is acknowledged, so nothing it writes can overtake OPEN_ACK.
      setImmediate(() => {
        Promise.resolve()
          .then(() => svc(stream, node))
          .catch((err: unknown) => {
            log.warn({ node, service: req.name, error: describeError(err) }, 'service handler failed');
            stream.destroy();
          });
      });
      return;
    }
    const sock = connect({ host: svc.host, port: svc.port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', (err) => reject(new ErrServiceUnavailable({ service: req.name, reason: describeError(err) })));
    });
    spliceStreams(sock, stream, () => undefined, log.child({ node, service: req.name }));
  };

  // Per-session callbacks come from these factories: a returned arrow is the cheapest closure there is,
  // and tens of thousands of sessions each hold three.
  const serveFor =
    (who: string) =>
    (request: OpenRequest, stream: TunnelStream): Promise<void> =>
      serve(who, request, stream);
  const readyFor =
    (who: string, box: { session?: TunnelSession }) =>
    (peer: Hello): void => {
      const session = box.session!;
      if (peer.name !== who) {
        session.close('EDGE_ERR_TUNNEL_PROTOCOL_HANDSHAKE', `the credential is node '${who}', the HELLO says '${peer.name}'`, 4400);
        return;
      }
      const old = sessions.get(who);
      sessions.set(who, session);
      old?.close('EDGE_ERR_TUNNEL_REPLACED', 'the node connected again', 1000);
      log.info({ node: who }, 'node connected');
      o.onNodeChange?.(who, true);
    };
  const closedFor =
    (who: string, box: { session?: TunnelSession }) =>
    (): void => {
      const session = box.session;
      if (!session) return;
      live.delete(session);
      if (sessions.get(who) === session) {
        sessions.delete(who);
        log.info({ node: who }, 'node disconnected');
        o.onNodeChange?.(who, false);
      }
    };

  const accept = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const claimed = typeof req.headers['x-edgeadm-node'] === 'string' ? req.headers['x-edgeadm-node'] : undefined;
    let node: string | undefined;
    try {
      node = m ? await o.authenticate(m[1]!, claimed) : undefined;
    } catch (err) {
      log.error({ claimed, error: describeError(err) }, 'tunnel authentication failed');
      refuse(socket, 503, 'Service Unavailable');
      return;
    }
    if (!node) {
      log.warn({ claimed, remote: req.socket.remoteAddress }, 'tunnel connection refused: bad credential');
      refuse(socket, 401, 'Unauthorized');
      return;
    }
    if (closed || socket.destroyed) {
      socket.destroy();
      return;
    }
    const who = node;
    wss.handleUpgrade(req, socket, head, (ws) => {
      const box: { session?: TunnelSession } = {};
      const session = sessionOverWebSocket(ws, {
        role: 'cloud',
        name: o.name,
        logger: log.child({ node: who }),
        onOpen: serveFor(who),
        onReady: readyFor(who, box),
        onClose: closedFor(who, box),
      });
      box.session = session;
      if (!session.closed) live.add(session);
    });
  };

  return {
    handleUpgrade(req, socket, head) {
      void accept(req, socket, head);
    },
    open(node, target) {
      const s = sessions.get(node);
      if (!s) return Promise.reject(new ErrNodeNotConnected({ node }));
      return s.open(target);
    },
    nodes: () => [...sessions.keys()].sort(),
    disconnect(node, code, message) {
      const s = sessions.get(node);
      if (!s) return false;
      log.warn({ node, code }, 'disconnecting node');
      // 4401: the edge learns its credential no longer works, and backs off like any refusal.
      s.close(code, message, 4401);
      return true;
    },
    async close() {
      closed = true;
      clearInterval(heartbeat);
      for (const s of sessions.values()) s.close('EDGE_ERR_TUNNEL_CLOUD_STOPPING', 'tunnel-cloud is stopping', 1001);
      sessions.clear();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
