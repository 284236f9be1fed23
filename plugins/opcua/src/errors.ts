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
