/**
 * core/tunnel: the cloud-edge tunnel. So far: the wire format (one frame per
 * WebSocket message), the multiplexed session with per-stream flow control,
 * its binding to a WebSocket, and the first tunnel-edge and tunnel-cloud:
 * authenticated sessions, an allow-list, reconnection. The forwarding front
 * ends (CONNECT, HTTP, SSH), TLS and replicas build on these.
 */
export * as TunnelErrors from './errors.ts';
export {
  ErrDialFailed,
  ErrEdgeDialRefused,
  ErrNoCloudUrl,
  ErrNodeNotConnected,
  ErrNoForward,
  ErrNotAllowed,
  ErrPeerAnswer,
  ErrPeerLost,
  ErrPeerUnauthorized,
  ErrPeerUnreachable,
  ErrReplicaOptions,
  ErrRouterClosed,
  ErrRouteRequest,
  ErrServiceUnavailable,
  ErrServiceUnknown,
  ErrTunnelDown,
  PROTOCOL_VIOLATIONS,
  unwrapRefusal,
  type ProtocolViolation,
} from './errors.ts';
export {
  decodeFrame,
  DEFAULT_MAX_FRAME_PAYLOAD,
  encodeFrame,
  FrameType,
  HARD_MAX_FRAME_PAYLOAD,
  HEADER_BYTES,
  PROTOCOL_VERSION,
  SERVICE_NAME,
  type Frame,
  type Hello,
  type OpenRequest,
  type Reason,
} from './frame.ts';
export { CLOSE_CODES, TunnelSession, TunnelStream, type MessageTransport, type Role, type SessionOptions } from './session.ts';
export { sessionOverWebSocket, WS_MAX_PAYLOAD } from './ws-transport.ts';
export { startTunnelEdge, type AllowList, type TunnelEdge, type TunnelEdgeOptions, type TunnelEdgeStatus } from './edge.ts';
export {
  createTunnelCloud,
  type CloudService,
  type TunnelCloud,
  type TunnelCloudOptions,
} from './cloud.ts';
export {
  proxyCredential,
  refusalOf,
  startTunnelProxy,
  type OpenTunnel,
  type ProxyTarget,
  type Refusal,
  type TunnelProxy,
  type TunnelProxyOptions,
} from './proxy.ts';
export { spliceStreams } from './splice.ts';
export { startPortForward, type PortForward, type PortForwardOptions } from './port-forward.ts';
export type { SshOptions } from './ssh.ts';
import type * as SshModule from './ssh.ts';
/** The SSH client (ssh2) is loaded on use: processes that never SSH (site agents) do not carry it. */
export const loadSsh = (): Promise<typeof SshModule> => import('./ssh.ts');
export {
  answeredBy,
  createReplicaRouter,
  PEER_FROM_HEADER,
  PEER_HOP_HEADER,
  TUNNEL_LEASE_PURPOSE,
  TUNNEL_NODES_METRIC,
  tunnelLeaseName,
  type ReplicaRouter,
  type ReplicaRouterOptions,
  type TcpTarget,
} from './replicas.ts';
