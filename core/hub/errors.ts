/**
 * The hub's coded errors (EDGE_ERR_HUB_*). Each carries the HTTP status the
 * API answers with; the error handler turns any of them into
 * `{ code, message, details? }`.
 */
import { createError } from '../kernel/index.ts';

/** One problem with one field of a request, e.g. `{ in: 'body', path: 'readings[0].seq', message: 'must be integer' }`. */
export interface RequestIssue {
  in: 'body' | 'querystring' | 'params' | 'headers';
  path: string;
  message: string;
}

function describeIssue(i: RequestIssue): string {
  return `${i.in}${i.path === '' ? '' : ` ${i.path}`} ${i.message}`;
}

export const ErrUnauthenticated = createError(
  'EDGE_ERR_HUB_UNAUTHENTICATED',
  (p: { reason: string }) => `authentication required: ${p.reason}`,
  { statusCode: 401 },
);

export const ErrForbidden = createError(
  'EDGE_ERR_HUB_FORBIDDEN',
  (p: { tokenId: string; role: string; action: string; site?: string; ownSite?: string }) =>
    p.site === undefined
      ? `token '${p.tokenId}' (role ${p.role}) may not ${p.action}`
      : `token '${p.tokenId}' (role ${p.role}${p.ownSite === undefined ? '' : ` of site '${p.ownSite}'`}) may not ${p.action} of site '${p.site}'`,
  { statusCode: 403 },
);

export const ErrCsrf = createError(
  'EDGE_ERR_HUB_CSRF',
  (p: { header: string }) => `a console session may change something only with its CSRF value in the '${p.header}' header`,
  { statusCode: 403 },
);

export const ErrBadRequest = createError(
  'EDGE_ERR_HUB_BAD_REQUEST',
  (p: { issues: RequestIssue[] }) =>
    `invalid request (${p.issues.length} problem${p.issues.length === 1 ? '' : 's'}): ${p.issues.map(describeIssue).join('; ')}`,
  { statusCode: 400 },
);

export const ErrMalformedBody = createError(
  'EDGE_ERR_HUB_MALFORMED_BODY',
  (p: { reason: string }) => `request body is not valid: ${p.reason}`,
  { statusCode: 400 },
);

export const ErrPayloadTooLarge = createError(
  'EDGE_ERR_HUB_PAYLOAD_TOO_LARGE',
  (p: { limitBytes: number }) => `request body is larger than the limit of ${p.limitBytes} bytes (after decompression)`,
  { statusCode: 413 },
);

export const ErrUnsupportedMediaType = createError(
  'EDGE_ERR_HUB_UNSUPPORTED_MEDIA_TYPE',
  (p: { contentType: string }) => `content type '${p.contentType}' is not supported; send application/json`,
  { statusCode: 415 },
);

export const ErrUnsupportedEncoding = createError(
  'EDGE_ERR_HUB_UNSUPPORTED_ENCODING',
  (p: { encoding: string }) => `content encoding '${p.encoding}' is not supported; use gzip, deflate, br or identity`,
  { statusCode: 415 },
);

export const ErrBadEncoding = createError(
  'EDGE_ERR_HUB_BAD_ENCODING',
  (p: { encoding: string; reason: string }) => `request body is not valid ${p.encoding} data: ${p.reason}`,
  { statusCode: 400 },
);

export const ErrRouteNotFound = createError(
  'EDGE_ERR_HUB_ROUTE_NOT_FOUND',
  (p: { method: string; path: string }) => `no route ${p.method} ${p.path}`,
  { statusCode: 404 },
);

export const ErrNotFound = createError(
  'EDGE_ERR_HUB_NOT_FOUND',
  (p: { kind: string; name: string; site?: string }) =>
    `${p.kind} '${p.name}'${p.site === undefined ? '' : ` at site '${p.site}'`} not found`,
  { statusCode: 404 },
);

/** A DeviceProfile that Devices still use is not deleted (as EdgeX's core-metadata refuses it). */
export const ErrProfileInUse = createError(
  'EDGE_ERR_HUB_PROFILE_IN_USE',
  (p: { profile: string; devices: string[]; count: number }) =>
    `DeviceProfile '${p.profile}' is used by ${p.count} Device${p.count === 1 ? '' : 's'} (${p.devices.join(', ')}${p.count > p.devices.length ? ', …' : ''}): delete them or move them to another profile first`,
  { statusCode: 409 },
);

export const ErrPathMismatch = createError(
  'EDGE_ERR_HUB_PATH_MISMATCH',
  (p: { field: string; body: string; path: string }) => `body ${p.field} '${p.body}' contradicts the path, which says '${p.path}'`,
  { statusCode: 400 },
);

/** A missing referent: `field` of the object names a `refKind` that does not exist. */
export interface MissingRef {
  field: string;
  refKind: string;
  ref: string;
}

export const ErrReference = createError(
  'EDGE_ERR_HUB_REFERENCE',
  (p: { kind: string; name: string; refs: MissingRef[] }) =>
    `${p.kind} '${p.name}': ${p.refs.map((r) => `${r.field} refers to ${r.refKind} '${r.ref}', which does not exist`).join('; ')}`,
  { statusCode: 400 },
);

export const ErrCommandInvalid = createError(
  'EDGE_ERR_HUB_COMMAND_INVALID',
  (p: { site: string; device: string; resource: string; reason: string }) =>
    `cannot command resource '${p.resource}' of device '${p.device}' at site '${p.site}': ${p.reason}`,
  { statusCode: 400 },
);

export const ErrCommandNotFound = createError(
  'EDGE_ERR_HUB_COMMAND_NOT_FOUND',
  (p: { id: string }) => `command '${p.id}' not found`,
  { statusCode: 404 },
);

export const ErrCommandState = createError(
  'EDGE_ERR_HUB_COMMAND_STATE',
  (p: { id: string; state: string; action: string }) => `cannot ${p.action} command '${p.id}': it is ${p.state}`,
  { statusCode: 409 },
);

/** A request that needs the site's agent now (a live read) while its Site is not Online. */
export const ErrSiteOffline = createError(
  'EDGE_ERR_HUB_SITE_OFFLINE',
  (p: { site: string; action: string; phase: string }) =>
    `cannot ${p.action}: site '${p.site}' is ${p.phase} (its agent has no sync session with the hub); see 'edgeadm site show ${p.site}'`,
  { statusCode: 409 },
);

export const ErrReadTimeout = createError(
  'EDGE_ERR_HUB_READ_TIMEOUT',
  (p: { site: string; device: string; command: string; state: string; timeoutMs: number }) =>
    `site '${p.site}' did not answer the read of device '${p.device}' within ${p.timeoutMs} ms (command ${p.command} is ${p.state})`,
  { statusCode: 504 },
);

export const ErrReadFailed = createError(
  'EDGE_ERR_HUB_READ_FAILED',
  (p: { site: string; device: string; command: string; reason: string }) => `device '${p.device}' at site '${p.site}' could not be read (command ${p.command}): ${p.reason}`,
  { statusCode: 502 },
);

export const ErrTokenInvalid = createError(
  'EDGE_ERR_HUB_TOKEN_INVALID',
  (p: { field: string; reason: string }) => `invalid token request: ${p.field} ${p.reason}`,
  { statusCode: 400 },
);

export const ErrTokenNotFound = createError(
  'EDGE_ERR_HUB_TOKEN_NOT_FOUND',
  (p: { id: string }) => `token '${p.id}' not found`,
  { statusCode: 404 },
);

export const ErrCredentialExists = createError(
  'EDGE_ERR_HUB_CREDENTIAL_EXISTS',
  (p: { site: string; username: string; name: string }) =>
    `username '${p.username}' already has a broker credential at site '${p.site}' (BrokerCredential '${p.name}'); rotate its password or delete it first`,
  { statusCode: 409 },
);

/** A field of a request names an object that does not exist. */
export const ErrRefNotFound = createError(
  'EDGE_ERR_HUB_REF_NOT_FOUND',
  (p: { field: string; kind: string; name: string }) => `${p.field}: ${p.kind} '${p.name}' does not exist`,
  { statusCode: 404 },
);

/** The request collides with what exists: `field` says which part of it. */
export const ErrFieldConflict = createError(
  'EDGE_ERR_HUB_FIELD_CONFLICT',
  (p: { field: string; reason: string }) => `${p.field}: ${p.reason}`,
  { statusCode: 409 },
);

export const ErrPendingState = createError(
  'EDGE_ERR_HUB_PENDING_STATE',
  (p: { name: string; phase: string; action: string }) =>
    `cannot ${p.action} PendingDevice '${p.name}': it is ${p.phase}, not Pending (delete it to let the device be proposed again)`,
  { statusCode: 409 },
);

/** Hub modules that cannot go together: more than one offers what a hub has once (browser sessions). */
export const ErrModuleConflict = createError(
  'EDGE_ERR_HUB_MODULE_CONFLICT',
  (p: { modules: string[]; what: string }) => `hub modules ${p.modules.map((m) => `'${m}'`).join(' and ')} both offer ${p.what}: a hub takes one`,
  { statusCode: 500 },
);

export const ErrNotConfigured = createError(
  'EDGE_ERR_HUB_NOT_CONFIGURED',
  (p: { what: string }) => `${p.what} is not configured on this server (was it built with buildHubApp?)`,
  { statusCode: 500 },
);

export const ErrInternal = createError(
  'EDGE_ERR_HUB_INTERNAL',
  (p: { requestId: string }) => `internal error (request ${p.requestId}); see the hub log`,
  { statusCode: 500 },
);

export const ErrStoreClosed = createError(
  'EDGE_ERR_HUB_STORE_CLOSED',
  (p: { store: string }) => `the hub ${p.store} store is closed`,
  { statusCode: 503 },
);

export const ErrJoinRefused = createError(
  'EDGE_ERR_HUB_JOIN_REFUSED',
  (p: { reason: string }) => `join refused: ${p.reason}`,
  { statusCode: 403 },
);

export const ErrTunnelOff = createError(
  'EDGE_ERR_HUB_TUNNEL_OFF',
  () => 'this hub runs no tunnel-cloud: nodes cannot be reached',
  { statusCode: 501 },
);

export const ErrNoTls = createError(
  'EDGE_ERR_HUB_NO_TLS',
  () => 'this hub serves plain HTTP and has no CA',
  { statusCode: 404 },
);

/** The generic status route never changes a Node's host keys: join and the host-key routes do. */
export const ErrHostKeysProtected = createError(
  'EDGE_ERR_HUB_HOST_KEYS_PROTECTED',
  (p: { node: string; field: string }) =>
    `status.${p.field} of Node '${p.node}' is set only when the node joins, or by an admin through POST /api/v1/nodes/${p.node}/host-keys/trust (edgeadm node trust-host-keys ${p.node}); leave it out or send it unchanged`,
  { statusCode: 403 },
);

export const ErrNoPendingHostKeys = createError(
  'EDGE_ERR_HUB_NO_PENDING_HOST_KEYS',
  (p: { node: string; action: string }) => `node '${p.node}' has no pending ssh host key change to ${p.action}`,
  { statusCode: 409 },
);

export const ErrHostKeyNotPending = createError(
  'EDGE_ERR_HUB_HOST_KEY_NOT_PENDING',
  (p: { node: string; fingerprints: string[]; pending: string[] }) =>
    `node '${p.node}': ${p.fingerprints.join(', ')} ${p.fingerprints.length === 1 ? 'is' : 'are'} not among its pending ssh host keys (${p.pending.join(', ')}); check the fingerprint on the node with 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub'`,
  { statusCode: 409 },
);

/** A WebSocket route asked without a WebSocket upgrade. */
export const ErrUpgradeRequired = createError(
  'EDGE_ERR_HUB_UPGRADE_REQUIRED',
  (p: { path: string }) => `${p.path} is a WebSocket: connect with an Upgrade: websocket request`,
  { statusCode: 426 },
);

// ---------------------------------------------------------------------------
// Requests the framework or Node's HTTP parser refuses, each answered with its own code.

/** A JSON body nested deeper than the hub takes (`limit` levels of arrays and objects). */
export const ErrBodyTooDeep = createError(
  'EDGE_ERR_HUB_BODY_TOO_DEEP',
  (p: { limit: number; path: string; offset: number }) =>
    `request body nests arrays and objects deeper than ${p.limit} levels, at ${p.path === '' ? '(root)' : p.path} (character ${p.offset})`,
  { statusCode: 400 },
);

/** The path is not a valid URL path: malformed percent-encoding, or not a path at all. */
export const ErrBadUrl = createError(
  'EDGE_ERR_HUB_BAD_URL',
  (p: { path: string; reason: string }) => `'${p.path}' is not a valid URL path: ${p.reason}`,
  { statusCode: 400 },
);

/** A path parameter longer than the router takes (far above any name a route accepts). */
export const ErrParamTooLong = createError(
  'EDGE_ERR_HUB_PARAM_TOO_LONG',
  (p: { param: string; length: number; limit: number }) => `path parameter ${p.param} has ${p.length} characters; the limit is ${p.limit}`,
  { statusCode: 400 },
);

export const ErrMethodNotAllowed = createError(
  'EDGE_ERR_HUB_METHOD_NOT_ALLOWED',
  (p: { method: string; path: string; allowed: string[] }) => `${p.path} does not take ${p.method}; it takes ${p.allowed.join(', ')}`,
  { statusCode: 405 },
);

/** A request method Node's HTTP parser does not know. */
export const ErrMethodNotImplemented = createError(
  'EDGE_ERR_HUB_METHOD_NOT_IMPLEMENTED',
  (p: { method: string }) => `request method '${p.method}' is not implemented`,
  { statusCode: 501 },
);

/** Bytes that are not an HTTP/1.1 request (bad request line, header, chunk or length), as Node's parser reports them. */
export const ErrMalformedHttp = createError(
  'EDGE_ERR_HUB_MALFORMED_HTTP',
  (p: { reason: string; parserCode?: string }) => `malformed HTTP request: ${p.reason}${p.parserCode === undefined ? '' : ` (${p.parserCode})`}`,
  { statusCode: 400 },
);

export const ErrHeadersTooLarge = createError(
  'EDGE_ERR_HUB_HEADERS_TOO_LARGE',
  (p: { limitBytes: number }) => `request line and headers are larger than the limit of ${p.limitBytes} bytes`,
  { statusCode: 431 },
);

export const ErrRequestTimeout = createError(
  'EDGE_ERR_HUB_REQUEST_TIMEOUT',
  (p: { part: string }) => `the client did not send the whole request ${p.part} in time`,
  { statusCode: 408 },
);

/** The client stopped sending the body before its end (the connection closed or reset). */
export const ErrRequestAborted = createError(
  'EDGE_ERR_HUB_REQUEST_ABORTED',
  (p: { reason: string }) => `request body ended early: ${p.reason}`,
  { statusCode: 400 },
);

/** A routing constraint (on the request's headers) failed, so no route could be chosen. */
export const ErrRoutingConstraint = createError(
  'EDGE_ERR_HUB_ROUTING_CONSTRAINT',
  (p: { reason: string }) => `the request could not be routed: ${p.reason}`,
  { statusCode: 400 },
);

export const ErrExpectationFailed = createError(
  'EDGE_ERR_HUB_EXPECTATION_FAILED',
  (p: { expect: string }) => `expectation '${p.expect}' is not supported; only 100-continue is`,
  { statusCode: 417 },
);

export const ErrShuttingDown = createError(
  'EDGE_ERR_HUB_SHUTTING_DOWN',
  () => 'the hub is shutting down; retry against another replica or after it restarts',
  { statusCode: 503 },
);

/** A static file path (docs, console) that leaves its folder or names what may not be served. */
export const ErrPathForbidden = createError(
  'EDGE_ERR_HUB_PATH_FORBIDDEN',
  (p: { path: string }) => `'${p.path}' may not be served`,
  { statusCode: 403 },
);

export const ErrPreconditionFailed = createError(
  'EDGE_ERR_HUB_PRECONDITION_FAILED',
  (p: { path: string }) => `a precondition of the request for '${p.path}' (If-Match, If-Unmodified-Since) does not hold`,
  { statusCode: 412 },
);

export const ErrRangeNotSatisfiable = createError(
  'EDGE_ERR_HUB_RANGE_NOT_SATISFIABLE',
  (p: { path: string; range: string }) => `range '${p.range}' lies outside '${p.path}'`,
  { statusCode: 416 },
);

/** The cluster already has a health key: `create` is refused, `rotate` replaces it (core/hub/health-keys.ts). */
export const ErrHealthKeyExists = createError(
  'EDGE_ERR_HEALTH_KEY_EXISTS',
  (p: { kid: string }) => `the cluster already has a health key (${p.kid}); replace it with 'edgeadm health key rotate'`,
  { statusCode: 409 },
);

/** The engine behind the hub's shared state (PostgreSQL) failed or cannot be reached: its words, never its URL. */
export const ErrStateBackend = createError(
  'EDGE_ERR_HUB_STATE_BACKEND',
  (p: { store: string; what: string; reason: string }) => `the hub's ${p.store} store on PostgreSQL failed ${p.what}: ${p.reason}`,
  { statusCode: 503 },
);

/** Options of startHub that do not go together. */
export const ErrHubOptions = createError('EDGE_ERR_HUB_OPTIONS', (p: { option: string; reason: string }) => `hub option '${p.option}' ${p.reason}`, { statusCode: 400 });

/** The installed plugins could not be listed (core/hub/plugin-catalog.ts): the next request tries again. */
export const ErrPluginCatalog = createError('EDGE_ERR_HUB_PLUGIN_CATALOG', (p: { reason: string }) => `the hub cannot list its installed plugins: ${p.reason}`, { statusCode: 503 });
