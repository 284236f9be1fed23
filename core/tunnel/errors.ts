/**
 * The tunnel's coded errors: wire protocol and sessions, tunnel-cloud,
 * tunnel-edge, the CONNECT and HTTP proxy, replicas, SSH and the WebSocket
 * binding. A protocol violation closes only the connection that made it.
 */
import { createError, EdgeError, type FieldIssue } from '../kernel/index.ts';

export const PROTOCOL_VIOLATIONS = [
  'FRAME_TOO_SHORT',
  'FRAME_TOO_LARGE',
  'UNKNOWN_FRAME_TYPE',
  'BAD_STREAM_ID',
  'BAD_PAYLOAD',
  'UNKNOWN_STREAM',
  'STREAM_EXISTS',
  'FLOW_CONTROL',
  'HANDSHAKE',
  'VERSION',
] as const;
export type ProtocolViolation = (typeof PROTOCOL_VIOLATIONS)[number];

export const ErrProtocol = createError(
  'EDGE_ERR_TUNNEL_PROTOCOL',
  (p: { violation: ProtocolViolation; detail: string }) => `tunnel protocol violation ${p.violation}: ${p.detail}`,
  { statusCode: 400 },
);

export const ErrStreamRefused = createError(
  'EDGE_ERR_TUNNEL_STREAM_REFUSED',
  (p: { stream: number; code: string; reason: string }) => `the far end refused stream ${p.stream}: [${p.code}] ${p.reason}`,
  { statusCode: 502 },
);

export const ErrStreamReset = createError(
  'EDGE_ERR_TUNNEL_STREAM_RESET',
  (p: { stream: number; code: string; reason: string }) => `stream ${p.stream} was reset: [${p.code}] ${p.reason}`,
  { statusCode: 502 },
);

export const ErrSessionClosed = createError(
  'EDGE_ERR_TUNNEL_SESSION_CLOSED',
  (p: { reason: string }) => `the tunnel session is closed: ${p.reason}`,
  { statusCode: 503 },
);

/** HTTP status for the codes a far end refuses a stream with. */
const REFUSAL_STATUS: Record<string, number> = {
  EDGE_ERR_TUNNEL_NOT_ALLOWED: 403,
  EDGE_ERR_TUNNEL_DIAL_FAILED: 502,
  EDGE_ERR_TUNNEL_NODE_NOT_CONNECTED: 404,
};

/**
 * The far end's own error out of a refused stream: its code, its message and
 * a fitting HTTP status, so callers report "not on the allow-list" rather
 * than "stream refused". Other errors come back unchanged.
 */
export function unwrapRefusal(err: unknown): unknown {
  if (!ErrStreamRefused.is(err)) return err;
  const p = err.params as { code: string; reason: string };
  if (!/^EDGE_ERR_[A-Z0-9_]+$/.test(p.code)) return err;
  return new EdgeError(p.code, p.reason, { ...p }, REFUSAL_STATUS[p.code] ?? 502, { cause: err });
}

// ---------------------------------------------------------------- tunnel-cloud

export const ErrNodeNotConnected = createError(
  'EDGE_ERR_TUNNEL_NODE_NOT_CONNECTED',
  (p: { node: string }) => `node '${p.node}' has no tunnel to this tunnel-cloud`,
  { statusCode: 404 },
);

export const ErrServiceUnknown = createError(
  'EDGE_ERR_TUNNEL_SERVICE_UNKNOWN',
  (p: { service: string; offered: string }) => `tunnel-cloud offers no service '${p.service}' (offered: ${p.offered || 'none'})`,
  { statusCode: 404 },
);

export const ErrServiceUnavailable = createError(
  'EDGE_ERR_TUNNEL_SERVICE_UNAVAILABLE',
  (p: { service: string; reason: string }) => `tunnel-cloud could not reach its service '${p.service}': ${p.reason}`,
  { statusCode: 502 },
);

export const ErrEdgeDialRefused = createError(
  'EDGE_ERR_TUNNEL_EDGE_DIAL_REFUSED',
  (p: { node: string; target: string }) => `node '${p.node}' asked tunnel-cloud for ${p.target}: an edge may open only named services, not TCP addresses`,
  { statusCode: 403 },
);

// ---------------------------------------------------------------- tunnel-edge

export const ErrNotAllowed = createError(
  'EDGE_ERR_TUNNEL_NOT_ALLOWED',
  (p: { node: string; target: string }) => `node '${p.node}' does not allow tunnel connections to ${p.target}`,
  { statusCode: 403 },
);

export const ErrDialFailed = createError(
  'EDGE_ERR_TUNNEL_DIAL_FAILED',
  (p: { node: string; target: string; reason: string }) => `node '${p.node}' could not connect to ${p.target}: ${p.reason}`,
  { statusCode: 502 },
);

export const ErrTunnelDown = createError(
  'EDGE_ERR_TUNNEL_DOWN',
  (p: { node: string; service: string }) => `node '${p.node}' has no tunnel session: cannot reach '${p.service}'`,
  { statusCode: 503 },
);

export const ErrNoCloudUrl = createError(
  'EDGE_ERR_TUNNEL_NO_CLOUD_URL',
  (p: { node: string }) => `tunnel-edge of node '${p.node}' has no tunnel-cloud URL to dial (url is empty)`,
  { statusCode: 400 },
);

export const ErrNoForward = createError(
  'EDGE_ERR_TUNNEL_NO_FORWARD',
  (p: { service: string }) => `tunnel-edge has no forward for service '${p.service}'`,
  { statusCode: 404 },
);

// ---------------------------------------------------------------- CONNECT and HTTP proxy

export const ErrProxyBadOptions = createError(
  'EDGE_ERR_PROXY_BAD_OPTIONS',
  (p: { field: string; reason: string }) => `proxy option '${p.field}' ${p.reason}`,
  { statusCode: 400 },
);

export const ErrProxyListen = createError(
  'EDGE_ERR_PROXY_LISTEN_FAILED',
  (p: { address: string; reason: string }) => `cannot listen on ${p.address}: ${p.reason}`,
  { statusCode: 500 },
);

export const ErrProxyBadTarget = createError(
  'EDGE_ERR_PROXY_BAD_TARGET',
  (p: { target: string; reason: string }) => `bad proxy target '${p.target}': ${p.reason}`,
  { statusCode: 400 },
);

export const ErrProxyMalformedRequest = createError(
  'EDGE_ERR_PROXY_MALFORMED_REQUEST',
  (p: { reason: string }) => `malformed HTTP request: ${p.reason}`,
  { statusCode: 400 },
);

export const ErrProxyNotAProxyRequest = createError(
  'EDGE_ERR_PROXY_NOT_A_PROXY_REQUEST',
  (p: { method: string; url: string }) => `'${p.method} ${p.url}' is not a proxy request: send CONNECT host:port, or an absolute http:// URL`,
  { statusCode: 400 },
);

export const ErrProxyUnauthenticated = createError(
  'EDGE_ERR_PROXY_UNAUTHENTICATED',
  (p: { target: string }) => `proxy authentication required for ${p.target}: a Proxy-Authorization token or a client certificate`,
  { statusCode: 407 },
);

export const ErrProxyNoRoute = createError(
  'EDGE_ERR_PROXY_NO_ROUTE',
  (p: { host: string; port: number }) => `no edge node is known as '${p.host}' (port ${p.port})`,
  { statusCode: 404 },
);

export const ErrProxyTooManyConnections = createError(
  'EDGE_ERR_PROXY_TOO_MANY_CONNECTIONS',
  (p: { principal: string; limit: number }) => `'${p.principal}' already has ${p.limit} tunnelled connections open (the limit)`,
  { statusCode: 429 },
);

export const ErrProxyOpenTimeout = createError(
  'EDGE_ERR_PROXY_OPEN_TIMEOUT',
  (p: { node: string; target: string; timeoutMs: number }) => `node '${p.node}' did not open ${p.target} within ${p.timeoutMs} ms`,
  { statusCode: 504 },
);

export const ErrProxyUpstream = createError(
  'EDGE_ERR_PROXY_UPSTREAM_FAILED',
  (p: { node: string; target: string; reason: string }) => `the HTTP exchange with ${p.target} on node '${p.node}' failed: ${p.reason}`,
  { statusCode: 502 },
);

export const ErrProxyStopping = createError('EDGE_ERR_PROXY_STOPPING', () => 'the proxy is stopping', { statusCode: 503 });

export const ErrProxyInternal = createError(
  'EDGE_ERR_PROXY_INTERNAL',
  (p: { stage: string; reason: string }) => `the proxy's ${p.stage} failed: ${p.reason}`,
  { statusCode: 500 },
);

// ---------------------------------------------------------------- replicas

export const ErrReplicaOptions = createError(
  'EDGE_ERR_TUNNEL_REPLICA_OPTIONS',
  (p: { replica: string; issues: FieldIssue[] }) =>
    `tunnel-cloud replica '${p.replica}' is misconfigured: ${p.issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
  { statusCode: 400 },
);

export const ErrRouteRequest = createError(
  'EDGE_ERR_TUNNEL_ROUTE_REQUEST',
  (p: { field: string; reason: string }) => `bad tunnel stream request: ${p.field} ${p.reason}`,
  { statusCode: 400 },
);

export const ErrPeerUnauthorized = createError(
  'EDGE_ERR_TUNNEL_PEER_UNAUTHORIZED',
  (p: { replica: string; remote: string }) => `replica '${p.replica}' refused a peer request from ${p.remote}: missing or wrong peer credential`,
  { statusCode: 401 },
);

export const ErrPeerUnreachable = createError(
  'EDGE_ERR_TUNNEL_PEER_UNREACHABLE',
  (p: { node: string; replica: string; address: string; reason: string }) =>
    `node '${p.node}' is held by replica '${p.replica}' (${p.address}), which could not be reached: ${p.reason}`,
  { statusCode: 502 },
);

export const ErrPeerLost = createError(
  'EDGE_ERR_TUNNEL_PEER_LOST',
  (p: { node: string; replica: string; reason: string }) => `the stream to node '${p.node}' through replica '${p.replica}' was cut: ${p.reason}`,
  { statusCode: 502 },
);

export const ErrPeerAnswer = createError(
  'EDGE_ERR_TUNNEL_PEER_ANSWER',
  (p: { replica: string; code: string; message: string }) => `replica '${p.replica}' answered [${p.code}] ${p.message}`,
  { statusCode: 502 },
);

export const ErrRouterClosed = createError(
  'EDGE_ERR_TUNNEL_ROUTER_CLOSED',
  (p: { replica: string }) => `tunnel-cloud replica '${p.replica}' is stopping`,
  { statusCode: 503 },
);

// ---------------------------------------------------------------- SSH

export const ErrSshHostKeyMismatch = createError(
  'EDGE_ERR_SSH_HOST_KEY_MISMATCH',
  (p: { node: string; keyType: string; fingerprint: string; known: number }) =>
    `node '${p.node}' presented host key ${p.keyType} ${p.fingerprint}, which matches none of its ${p.known} known host key(s); refusing to connect ` +
    `(a changed key can mean a reinstalled node or someone in the middle). Check it on the node with ` +
    `'ssh-keygen -lf /etc/ssh/ssh_host_${p.keyType.replace(/^ssh-|-sha2-nistp\d+$/g, '')}_key.pub' and update the node's known host key only if they match`,
  { statusCode: 502 },
);

export const ErrSshHostKeyUnknown = createError(
  'EDGE_ERR_SSH_HOST_KEY_UNKNOWN',
  (p: { node: string }) =>
    `node '${p.node}' has no known host key, so its identity cannot be checked; refusing to connect. ` +
    `Register the node's host key (the line in /etc/ssh/ssh_host_ed25519_key.pub on the node) first`,
  { statusCode: 412 },
);

export const ErrSshAuthFailed = createError(
  'EDGE_ERR_SSH_AUTH_FAILED',
  (p: { user: string; node: string; tried: string[] }) =>
    `node '${p.node}' refused login as '${p.user}' (tried: ${p.tried.length > 0 ? p.tried.join(', ') : 'nothing the server accepts'})`,
  { statusCode: 401 },
);

export const ErrSshNoCredential = createError(
  'EDGE_ERR_SSH_NO_CREDENTIAL',
  (p: { node: string }) => `no credential to log in to node '${p.node}': give a private key (privateKey) or an SSH agent (agent, usually $SSH_AUTH_SOCK)`,
  { statusCode: 400 },
);

export const ErrSshBadOption = createError(
  'EDGE_ERR_SSH_BAD_OPTION',
  (p: { node: string; field: string; reason: string }) => `ssh to node '${p.node}': ${p.field} ${p.reason}`,
  { statusCode: 400 },
);

export const ErrSshConnect = createError(
  'EDGE_ERR_SSH_CONNECT',
  (p: { node: string; reason: string }) => `ssh to node '${p.node}' failed: ${p.reason}`,
  { statusCode: 502 },
);

// ---------------------------------------------------------------- WebSocket binding

export const ErrAlreadyBound = createError(
  'EDGE_ERR_TUNNEL_WEBSOCKET_BOUND',
  (p: { name: string }) => `this WebSocket already carries a tunnel session; '${p.name}' needs a socket of its own`,
  { statusCode: 500 },
);
