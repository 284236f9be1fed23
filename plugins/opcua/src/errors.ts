/**
 * Coded errors and issue codes of the opcua plugin.
 *
 * Problems with a Device's protocol block or its profile are `DriverIssue`s
 * (all at once, each naming its field: `protocols.opcua.securityPolicy`,
 * `deviceResources[2](speed).attributes.nodeId`). Value errors name the
 * resource and the value; a server refusal carries the server's StatusCode name.
 */
import { createError, type DriverIssue } from '../../../core/sdk/index.ts';

/** Codes of the issues `readProtocol` and `resolvePoints` report, one per kind of problem. */
export const ISSUE = {
  /** A protocol block field missing, of the wrong type or out of range. */
  protocol: 'EDGE_ERR_OPCUA_PROTOCOL_INVALID',
  /** nodeId / objectId / methodId missing or not an OPC UA node id (`ns=2;s=Machine.Speed`, `i=2258`, `nsu=<uri>;s=...`). */
  nodeId: 'EDGE_ERR_OPCUA_PROFILE_NODE_ID',
  /** samplingInterval / queueSize / deadbandType / deadbandValue of a resource out of range. */
  monitoring: 'EDGE_ERR_OPCUA_PROFILE_MONITORING',
  /** A method resource that cannot be called (read-only), or both nodeId and objectId/methodId. */
  method: 'EDGE_ERR_OPCUA_PROFILE_METHOD',
  /** minimum / maximum not numbers, or minimum > maximum. */
  range: 'EDGE_ERR_OPCUA_PROFILE_RANGE',
  /** Two resources with one name. */
  duplicate: 'EDGE_ERR_OPCUA_PROFILE_DUPLICATE',
  /** The server refused a resource's monitoring filter (deadband), e.g. Percent without an EURange. */
  filter: 'EDGE_ERR_OPCUA_FILTER_NOT_ALLOWED',
  /** The server refused to monitor a resource for another reason (unknown node, no access). */
  monitor: 'EDGE_ERR_OPCUA_MONITOR_REFUSED',
} as const;

/** A device whose protocol block or profile has problems; `issues` holds every one. */
export const ErrOpcuaDeviceInvalid = createError(
  'EDGE_ERR_OPCUA_DEVICE_INVALID',
  (p: { device: string; issues: readonly DriverIssue[] }) =>
    `device '${p.device}' cannot be used: ${p.issues.map((i) => `${i.path}: ${i.message}`).join('; ') || 'its protocol block is incomplete'}`,
  { statusCode: 400 },
);

/** A value to write that is not of the node's DataType (wrong JSON type, not an integer, not base64...). */
export const ErrOpcuaValueType = createError(
  'EDGE_ERR_OPCUA_VALUE_TYPE',
  (p: { resource: string; dataType: string; value: string; reason?: string }) =>
    `resource '${p.resource}': ${p.value} is not a ${p.dataType} value${p.reason ? ` (${p.reason})` : ''}`,
  { statusCode: 400 },
);

/** A value to write outside its DataType's range or the resource's minimum/maximum. */
export const ErrOpcuaValueRange = createError(
  'EDGE_ERR_OPCUA_VALUE_RANGE',
  (p: { resource: string; value: string; reason: string }) => `resource '${p.resource}': ${p.value} ${p.reason}`,
  { statusCode: 400 },
);

/** A write to a resource whose readWrite is R. */
export const ErrOpcuaNotWritable = createError(
  'EDGE_ERR_OPCUA_NOT_WRITABLE',
  (p: { resource: string }) => `resource '${p.resource}' is read-only (readWrite R)`,
  { statusCode: 405 },
);

/** A write to a node whose DataType this driver cannot encode (structures, matrices, node ids). */
export const ErrOpcuaWriteUnsupported = createError(
  'EDGE_ERR_OPCUA_WRITE_UNSUPPORTED',
  (p: { resource: string; dataType: string }) => `resource '${p.resource}': writing ${p.dataType} values is not supported`,
  { statusCode: 400 },
);

/** A name that is not a resource of the device's profile. */
export const ErrOpcuaUnknownResource = createError(
  'EDGE_ERR_OPCUA_UNKNOWN_RESOURCE',
  (p: { resource: string }) => `no resource '${p.resource}' on this device`,
  { statusCode: 404 },
);

/** The server answered a write or a method call with a non-good StatusCode. */
export const ErrOpcuaRefused = createError(
  'EDGE_ERR_OPCUA_REFUSED',
  (p: { resource: string; action: 'write' | 'call'; status: string; detail?: string }) =>
    `resource '${p.resource}': the server refused the ${p.action} with ${p.status}${p.detail ? ` (${p.detail})` : ''}`,
  { statusCode: 502 },
);

/** Method inputs that do not match the method's InputArguments. */
export const ErrOpcuaMethodArguments = createError(
  'EDGE_ERR_OPCUA_METHOD_ARGUMENTS',
  (p: { resource: string; expected: number; got: number; names?: string[]; unknown?: string[]; missing?: string[] }) =>
    `resource '${p.resource}': the method takes ${p.expected} input argument(s)${p.names ? ` (${p.names.join(', ')})` : ''}, got ${p.got}` +
    `${p.unknown ? `; unknown: ${p.unknown.join(', ')}` : ''}${p.missing ? `; missing: ${p.missing.join(', ')}` : ''}`,
  { statusCode: 400 },
);

/** The node's DataType / ValueRank (or a method's InputArguments) could not be read, so a value cannot be encoded. */
export const ErrOpcuaNodeMetadata = createError(
  'EDGE_ERR_OPCUA_NODE_METADATA',
  (p: { resource: string; nodeId: string; reason: string }) => `resource '${p.resource}': cannot read the DataType of ${p.nodeId}: ${p.reason}`,
  { statusCode: 502 },
);

/** A service call that failed as a whole (no session, timeout, connection lost). */
export const ErrOpcuaService = createError(
  'EDGE_ERR_OPCUA_SERVICE',
  (p: { service: string; endpoint: string; reason: string }) => `OPC UA ${p.service} at ${p.endpoint} failed: ${p.reason}`,
  { statusCode: 502 },
);

/** No monitored item could be created for a subscription; `issues` names each resource. */
export const ErrOpcuaSubscribe = createError(
  'EDGE_ERR_OPCUA_SUBSCRIBE',
  (p: { device: string; issues: readonly DriverIssue[] }) =>
    `device '${p.device}': no resource could be monitored: ${p.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
  { statusCode: 502 },
);

/**
 * The cause of a failure, for wrapping it once: the `reason` of this
 * plugin's connect and service errors (whose messages already name the
 * endpoint, which a wrapper names again), else the message (of an Error or
 * an ErrorInfo). So a read that
 * fails on a lost connection says `OPC UA Read at <endpoint> failed: <cause>`,
 * not the endpoint twice.
 */
export function failureCause(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; params?: { reason?: unknown } } | null;
  if (e && typeof e.code === 'string' && e.code.startsWith('EDGE_ERR_OPCUA_') && typeof e.params?.reason === 'string') return e.params.reason;
  return e && typeof e.message === 'string' ? e.message : String(err);
}

// ---------------------------------------------------------------- security

/** The password file of a device cannot be read, or is empty. */
export const ErrOpcuaPasswordFile = createError(
  'EDGE_ERR_OPCUA_PASSWORD_FILE',
  (p: { field: string; file: string; reason: string }) => `${p.field}: cannot use password file '${p.file}': ${p.reason}`,
  { statusCode: 400 },
);

/** No certificate with this thumbprint in the folder searched. */
export const ErrOpcuaCertNotFound = createError(
  'EDGE_ERR_OPCUA_CERT_NOT_FOUND',
  (p: { thumbprint: string; folder: string; hint: string }) => `no certificate with thumbprint '${p.thumbprint}' in ${p.folder}; ${p.hint}`,
  { statusCode: 404 },
);

/** A thumbprint that is not hex, a prefix that is too short or matches several certificates, or a file that holds no certificate. */
export const ErrOpcuaCertInvalid = createError(
  'EDGE_ERR_OPCUA_CERT_INVALID',
  (p: { what: string; reason: string }) => `${p.what}: ${p.reason}`,
  { statusCode: 400 },
);

/** The client PKI cannot be opened or its certificate cannot be made. */
export const ErrOpcuaPki = createError('EDGE_ERR_OPCUA_PKI', (p: { dir: string; reason: string }) => `OPC UA client PKI in ${p.dir}: ${p.reason}`, {
  statusCode: 500,
});

// ---------------------------------------------------------------- session

/** The endpoint cannot be reached, or the connection failed for a reason that is neither security nor identity. */
export const ErrOpcuaConnect = createError(
  'EDGE_ERR_OPCUA_CONNECT',
  (p: { endpoint: string; reason: string }) => `cannot connect to OPC UA server ${p.endpoint}: ${p.reason}`,
  { statusCode: 502 },
);

/**
 * The secure channel was refused: the server's certificate is not trusted here
 * (the message names its thumbprint and the `edgeadm opcua trust` command), or
 * the server refused this client's certificate, or no endpoint offers the
 * security asked for.
 */
export const ErrOpcuaSecurity = createError(
  'EDGE_ERR_OPCUA_SECURITY',
  (p: { endpoint: string; reason: string; thumbprint?: string; command?: string }) => `OPC UA server ${p.endpoint}: ${p.reason}`,
  { statusCode: 502 },
);

/** The server refused the session's identity: wrong user name or password, or an identity it does not accept (e.g. anonymous). */
export const ErrOpcuaAuth = createError(
  'EDGE_ERR_OPCUA_AUTH',
  (p: { endpoint: string; user: string; reason: string }) => `OPC UA server ${p.endpoint} refused ${p.user}: ${p.reason}`,
  { statusCode: 401 },
);

// ---------------------------------------------------------------- discovery

/** Bad discovery input; names the option (`options.maxDepth`, `target`). */
export const ErrOpcuaDiscoveryOption = createError(
  'EDGE_ERR_OPCUA_DISCOVERY_OPTION',
  (p: { field: string; reason: string }) => `opcua discovery: ${p.field} ${p.reason}`,
  { statusCode: 400 },
);

/** The server could not be reached, or refused the secure channel or session. */
export const ErrOpcuaDiscoveryConnect = createError(
  'EDGE_ERR_OPCUA_DISCOVERY_CONNECT',
  (p: { endpoint: string; reason: string }) => `opcua discovery: cannot open a session with ${p.endpoint}: ${p.reason}`,
  { statusCode: 502 },
);

/** The root node does not exist or cannot be browsed. */
export const ErrOpcuaDiscoveryRoot = createError(
  'EDGE_ERR_OPCUA_DISCOVERY_ROOT',
  (p: { root: string; reason: string }) => `opcua discovery: root ${p.root}: ${p.reason}`,
  { statusCode: 400 },
);

/** The caller aborted the walk. */
export const ErrOpcuaDiscoveryAborted = createError('EDGE_ERR_OPCUA_DISCOVERY_ABORTED', () => 'opcua discovery aborted', { statusCode: 499 });
