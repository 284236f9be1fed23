/**
 * tunnel-cloud inside the hub. Edge nodes dial `/api/v1/tunnel` on the hub's
 * own (TLS) port with their node credential; the hub keeps their sessions,
 * records on each Node which replica holds its tunnel, and offers edges two
 * services: `hub` (this very API, served to the stream without a second TLS
 * layer: the tunnel is the secure channel) and `mqtt` (the telemetry ingest,
 * when it runs). Only a node credential opens a tunnel, only for its own
 * node, and only while that Node exists at the credential's site. A node
 * whose credential is revoked, or whose Node is deleted, is disconnected at
 * once. The connection fields of the Node's status (connected, lastSeen,
 * tunnel) are written here, by the hub, and by nobody else.
 *
 * Several hub processes sharing one store are tunnel-cloud replicas: each
 * holds a lease per connected node, and `open` for a node held elsewhere goes
 * to the holder in one hop (`/api/v1/tunnel/peer`). `tunnel_cloud_nodes`
 * counts the nodes each replica holds.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { toErrorInfo, type Logger } from '../kernel/index.ts';
import type { NodeObject, NodeStatus, ResourceStore } from '../store/index.ts';
import type { Registry } from 'prom-client';
import { createReplicaRouter, createTunnelCloud, unwrapRefusal, type CloudService, type ReplicaRouter, type TunnelCloud } from '../tunnel/index.ts';
import type { HubApp } from './context.ts';
import { updateNodeStatus } from './node-status.ts';
import type { TokenStore } from './tokens.ts';

/** Where edges dial tunnel-cloud on the hub. */
export const TUNNEL_PATH = '/api/v1/tunnel';
/** Where other replicas ask this one for a stream to a node it holds. */
export const PEER_PATH = '/api/v1/tunnel/peer';

export interface HubTunnelOptions {
  tokens: TokenStore;
  store: ResourceStore;
  logger: Logger;
  /** This replica's name (the hub process). */
  replica: string;
  /** The MQTT telemetry ingest, offered to edges as service `mqtt`. */
  mqtt?: { host: string; port: number };
  /** Shared by the replicas: presented to and checked from other replicas. */
  peer: { credential: string; tls?: { ca?: string } };
  metrics?: Registry;
  leaseDurationSeconds?: number;
}

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface HubTunnel {
  readonly cloud: TunnelCloud;
  /** A byte stream to `host:port` on a node, through its tunnel. */
  open(node: string, target: { host: string; port: number }): Promise<Duplex>;
  /**
   * Serves edges the hub app itself: call once the app is ready. Takes over
   * the server's 'upgrade' event so the tunnel paths go to tunnel-cloud and
   * everything else to the app's WebSocket routes as before.
   */
  mount(app: HubApp, extraUpgrades?: Record<string, UpgradeHandler>): void;
  /** Starts leases and replica routing, once the hub knows the URL other replicas reach it at. */
  route(peerUrl: string): void;
  close(): Promise<void>;
}

export function createHubTunnel(o: HubTunnelOptions): HubTunnel {
  const log = o.logger.child({ component: 'hub-tunnel' });
  // The hub API for edges: HTTP parsed from the tunnel stream itself.
  let inner: Server | undefined;
  let router: ReplicaRouter | undefined;
  const services: Record<string, CloudService> = {
    hub: (stream) => {
      if (!inner) {
        stream.destroy();
        return;
      }
      inner.emit('connection', stream);
    },
  };
  if (o.mqtt) services.mqtt = o.mqtt;

  const cloud = createTunnelCloud({
    name: o.replica,
    logger: o.logger,
    services,
    authenticate: async (credential, claimed) => {
      const p = await o.tokens.verify(credential);
      // Only node credentials open tunnels, and only for their own node.
      if (!p || p.role !== 'agent' || !p.node) return undefined;
      if (claimed !== undefined && claimed !== p.node) return undefined;
      // The credential outlives nothing: its Node must still be there, at its site.
      const node = await o.store.get<NodeObject>('Node', p.node);
      if (!node || node.spec.site !== p.site) {
        log.warn({ node: p.node, site: p.site, tokenId: p.tokenId }, 'tunnel refused: the credential names a node that is not at its site');
        return undefined;
      }
      return p.node;
    },
    onNodeChange: (node, connected) => {
      router?.nodeChanged(node, connected);
      const now = new Date().toISOString();
      updateNodeStatus(o.store, node, (s) => {
        if (connected) return { ...s, connected, lastSeen: now, tunnel: { replica: o.replica, since: now } };
        // The node may already be on another replica: only the holder marks it gone.
        if (s.tunnel && s.tunnel.replica !== o.replica) return undefined;
        const next: NodeStatus = { ...s, connected, lastSeen: now };
        delete next.tunnel;
        return next;
      }).catch((err: unknown) => log.warn({ node, error: toErrorInfo(err) }, 'could not record the node tunnel status'));
    },
  });

  const offRevoked = o.tokens.onNodeRevoked((node) => {
    cloud.disconnect(node, 'EDGE_ERR_TUNNEL_CREDENTIAL_REVOKED', `the credential of node '${node}' was revoked`);
  });
  const watchStop = new AbortController();
  const watching = (async () => {
    try {
      for await (const ev of o.store.watch({ kinds: ['Node'], signal: watchStop.signal })) {
        if (ev.type !== 'DELETED') continue;
        const node = ev.object.metadata.name;
        const n = await o.tokens.revokeNode(node);
        log.info({ node, credentials: n }, 'node deleted: its credentials are revoked');
      }
    } catch (err) {
      if (!watchStop.signal.aborted) log.error({ error: toErrorInfo(err) }, 'node watch ended');
    }
  })();

  return {
    cloud,
    async open(node, target) {
      try {
        const t = { kind: 'tcp' as const, host: target.host, port: target.port };
        return await (router ? router.open(node, t) : cloud.open(node, t));
      } catch (err) {
        throw unwrapRefusal(err);
      }
    },
    mount(app, extraUpgrades = {}) {
      inner = createServer();
      const routing = app.routing.bind(app);
      inner.on('request', (req, res) => routing(req, res));
      // WebSocket routes (the sync session) reached through the tunnel go to the app's own handling.
      inner.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => app.server.emit('upgrade', req, socket, head));
      const previous = app.server.listeners('upgrade') as UpgradeHandler[];
      app.server.removeAllListeners('upgrade');
      const routes: Record<string, UpgradeHandler> = {
        [TUNNEL_PATH]: (req, socket, head) => cloud.handleUpgrade(req, socket, head),
        [PEER_PATH]: (req, socket, head) => {
          if (router) router.handlePeerUpgrade(req, socket, head);
          else socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        },
        ...extraUpgrades,
      };
      app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        const path = (req.url ?? '').split('?')[0] ?? '';
        const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
        if (route) {
          route(req, socket, head);
          return;
        }
        for (const l of previous) l.call(app.server, req, socket, head);
      });
    },
    route(peerUrl) {
      router = createReplicaRouter({
        cloud,
        store: o.store,
        replica: { name: o.replica, peerUrl },
        peer: o.peer,
        logger: o.logger,
        ...(o.metrics ? { metrics: o.metrics } : {}),
        ...(o.leaseDurationSeconds ? { leaseDurationSeconds: o.leaseDurationSeconds } : {}),
      });
      // Nodes that connected before routing started get their leases now.
      for (const node of cloud.nodes()) router.nodeChanged(node, true);
    },
    async close() {
      await router?.close();
      offRevoked();
      watchStop.abort();
      await cloud.close();
      await watching;
      inner?.closeAllConnections();
    },
  };
}
