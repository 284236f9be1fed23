/**
 * tunnel-cloud: accepts edge nodes' WebSockets — authenticated ones only — and
 * keeps one session per node. A node that connects again replaces its older
 * session. `open(node, target)` gives a stream to a TCP address on that node.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { createError, type Logger } from '../kernel/index.ts';
import type { OpenRequest } from './frame.ts';
import type { TunnelSession, TunnelStream } from './session.ts';
import { sessionOverWebSocket, WS_MAX_PAYLOAD } from './ws-transport.ts';

export const ErrNodeNotConnected = createError(
  'EDGE_ERR_TUNNEL_NODE_NOT_CONNECTED',
  (p: { node: string }) => `node '${p.node}' has no tunnel to this tunnel-cloud`,
  { statusCode: 404 },
);

export interface TunnelCloudOptions {
  /** This replica's name. */
  name: string;
  /** Maps a presented credential to the node it belongs to; undefined refuses (401). */
  authenticate(credential: string, claimedNode: string | undefined): string | undefined;
  logger: Logger;
}

export interface TunnelCloud {
  /** Call from an HTTP(S) server's 'upgrade' event for the tunnel path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  open(node: string, target: OpenRequest): Promise<TunnelStream>;
  nodes(): string[];
  close(): Promise<void>;
}

export function createTunnelCloud(o: TunnelCloudOptions): TunnelCloud {
  const log = o.logger.child({ component: 'tunnel-cloud', replica: o.name });
  const wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD, perMessageDeflate: false });
  const sessions = new Map<string, TunnelSession>();

  const refuse = (socket: Duplex, status: number, text: string): void => {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };

  return {
    handleUpgrade(req, socket, head) {
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      const claimed = typeof req.headers['x-edgeadm-node'] === 'string' ? req.headers['x-edgeadm-node'] : undefined;
      const node = m ? o.authenticate(m[1]!, claimed) : undefined;
      if (!node) {
        log.warn({ claimed, remote: req.socket.remoteAddress }, 'tunnel connection refused: bad credential');
        refuse(socket, 401, 'Unauthorized');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const session = sessionOverWebSocket(ws, {
          role: 'cloud',
          name: o.name,
          logger: log.child({ node }),
          onReady: (peer) => {
            if (peer.name !== node) {
              session.close('EDGE_ERR_TUNNEL_PROTOCOL_HANDSHAKE', `the credential is node '${node}', the HELLO says '${peer.name}'`, 4400);
              return;
            }
            const old = sessions.get(node);
            sessions.set(node, session);
            old?.close('EDGE_ERR_TUNNEL_REPLACED', 'the node connected again', 1000);
            log.info({ node }, 'node connected');
          },
          onClose: () => {
            if (sessions.get(node) === session) {
              sessions.delete(node);
              log.info({ node }, 'node disconnected');
            }
          },
        });
      });
    },
    open(node, target) {
      const s = sessions.get(node);
      if (!s) return Promise.reject(new ErrNodeNotConnected({ node }));
      return s.open(target);
    },
    nodes: () => [...sessions.keys()].sort(),
    async close() {
      for (const s of sessions.values()) s.close('EDGE_ERR_TUNNEL_CLOUD_STOPPING', 'tunnel-cloud is stopping', 1001);
      sessions.clear();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
