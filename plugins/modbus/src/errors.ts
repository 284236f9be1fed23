/**
 * Coded errors and profile issue codes of the modbus plugin.
 *
 * Profile problems are reported as `DriverIssue`s (all at once, each with a
 * path such as `deviceResources[3].attributes.startingAddress`) using the
 * `PROFILE_ISSUE` codes; `ErrModbusProfile` wraps a list of them for callers
 * that must throw. Value errors name the resource and the offending value.
 *
 * Errors of the I/O layer (transports and bus scheduler) name the bus
 * (`busKey`) and, where one is involved, the unit id, then its cause. A cause
 * is wrapped once: an error built from another one of these takes its cause
 * (`failureCause`), never its whole message, so no message says "is down:
 * ... is down: ...".
 */
import { createError, type DriverIssue } from '../../../core/sdk/index.ts';

/** Codes of the issues `resolvePoints` reports, one per kind of problem. */
export const PROFILE_ISSUE = {
  /** primaryTable missing or not one of COILS, DISCRETE_INPUTS, INPUT_REGISTERS, HOLDING_REGISTERS. */
  table: 'EDGE_ERR_MODBUS_PROFILE_TABLE',
  /** startingAddress missing, not an integer, outside 0..65535, or the value runs past register 65535. */
  address: 'EDGE_ERR_MODBUS_PROFILE_ADDRESS',
  /** Bit of a `reg.bit` address outside 0..15, or a bit where none applies. */
  bit: 'EDGE_ERR_MODBUS_PROFILE_BIT',
  /** valueType not carried by Modbus, unknown rawType, or rawType / valueType / table that do not fit together. */
  type: 'EDGE_ERR_MODBUS_PROFILE_TYPE',
  /** isByteSwap / isWordSwap not a boolean, or a swap that cannot apply to the value. */
  swap: 'EDGE_ERR_MODBUS_PROFILE_SWAP',
  /** stringRegisterSize missing for a String, outside 1..123, or given for a non-String. */
  stringSize: 'EDGE_ERR_MODBUS_PROFILE_STRING_SIZE',
  /** A writable resource on a read-only table (DISCRETE_INPUTS, INPUT_REGISTERS), or an unknown readWrite. */
  readWrite: 'EDGE_ERR_MODBUS_PROFILE_READ_WRITE',
  /** scale / offset / base / mask / shift not a number, not invertible, or not applicable to the valueType. */
  transform: 'EDGE_ERR_MODBUS_PROFILE_TRANSFORM',
  /** minimum / maximum not a number, or minimum > maximum. */
  range: 'EDGE_ERR_MODBUS_PROFILE_RANGE',
  /** Two resources with one name. */
  duplicate: 'EDGE_ERR_MODBUS_PROFILE_DUPLICATE',
} as const;
export type ProfileIssueCode = (typeof PROFILE_ISSUE)[keyof typeof PROFILE_ISSUE];

/** A profile with problems, for callers that must throw; `issues` holds every problem. */
export const ErrModbusProfile = createError(
  'EDGE_ERR_MODBUS_PROFILE_INVALID',
  (p: { issues: readonly DriverIssue[] }) =>
    `invalid modbus profile (${p.issues.length} problem${p.issues.length === 1 ? '' : 's'}): ` +
    p.issues.map((i) => `${i.path}: ${i.message}`).join('; '),
  { statusCode: 400 },
);

/** A value to write that is not of the resource's valueType (wrong JSON type, not an integer, not a number). */
export const ErrModbusValueType = createError(
  'EDGE_ERR_MODBUS_VALUE_TYPE',
  (p: { resource: string; valueType: string; value: string }) => `resource '${p.resource}': ${p.value} is not a ${p.valueType} value`,
  { statusCode: 400 },
);

/** A value to write outside minimum/maximum, its valueType's range, or (after the reverse transforms) its rawType's range. */
export const ErrModbusValueRange = createError(
  'EDGE_ERR_MODBUS_VALUE_RANGE',
  (p: { resource: string; value: string; reason: string }) => `resource '${p.resource}': ${p.value} ${p.reason}`,
  { statusCode: 400 },
);

/** A write to a resource that is read-only. */
export const ErrModbusNotWritable = createError(
  'EDGE_ERR_MODBUS_NOT_WRITABLE',
  (p: { resource: string; why: string }) => `resource '${p.resource}' is not writable: ${p.why}`,
  { statusCode: 405 },
);

/** A write that changes part of a register (a bit, a masked field) without the register's current content. */
export const ErrModbusWriteNeedsCurrent = createError(
  'EDGE_ERR_MODBUS_WRITE_NEEDS_CURRENT',
  (p: { resource: string; address: number }) =>
    `resource '${p.resource}': writing bit(s) of register ${p.address} needs its current value (read it first)`,
  { statusCode: 400 },
);

/** A device reply with fewer registers/bits than the resource needs. */
export const ErrModbusReplyShort = createError(
  'EDGE_ERR_MODBUS_REPLY_SHORT',
  (p: { resource: string; expected: number; got: number }) =>
    `resource '${p.resource}': the reply holds ${p.got} of the ${p.expected} register(s)/bit(s) it needs`,
  { statusCode: 502 },
);

/** A device reply whose content is not registers (integers 0..65535) or bits (booleans). */
export const ErrModbusReplyInvalid = createError(
  'EDGE_ERR_MODBUS_REPLY_INVALID',
  (p: { resource: string; index: number; value: string }) => `resource '${p.resource}': reply item ${p.index} is ${p.value}, not a register or bit`,
  { statusCode: 502 },
);

/** A float register pair/quad that holds NaN or an infinity (EdgeX rejects NaN readings as well). */
export const ErrModbusValueNaN = createError(
  'EDGE_ERR_MODBUS_VALUE_NAN',
  (p: { resource: string; value: string }) => `resource '${p.resource}': the device holds ${p.value}, which is not a reading`,
  { statusCode: 502 },
);

/** A read value whose transforms take it outside its valueType's range. */
export const ErrModbusValueOverflow = createError(
  'EDGE_ERR_MODBUS_VALUE_OVERFLOW',
  (p: { resource: string; valueType: string; value: string }) => `resource '${p.resource}': transformed value ${p.value} is outside the range of ${p.valueType}`,
  { statusCode: 502 },
);

/** Planner misuse: bad limits, a point larger than the limit, or a point outside the request it is sliced from. */
export const ErrModbusPlan = createError(
  'EDGE_ERR_MODBUS_PLAN',
  (p: { message: string }) => p.message,
  { statusCode: 400 },
);

// ---------------------------------------------------------------- bus and transports

/** Modbus exception codes (Modbus Application Protocol v1.1b3, section 7) and their names. */
export const MODBUS_EXCEPTIONS: Readonly<Record<number, string>> = Object.freeze({
  1: 'ILLEGAL_FUNCTION',
  2: 'ILLEGAL_DATA_ADDRESS',
  3: 'ILLEGAL_DATA_VALUE',
  4: 'SLAVE_DEVICE_FAILURE',
  5: 'ACKNOWLEDGE',
  6: 'SLAVE_DEVICE_BUSY',
  8: 'MEMORY_PARITY_ERROR',
  10: 'GATEWAY_PATH_UNAVAILABLE',
  11: 'GATEWAY_TARGET_FAILED_TO_RESPOND',
});

export function exceptionName(code: number): string {
  return MODBUS_EXCEPTIONS[code] ?? 'UNKNOWN_EXCEPTION';
}

const timeoutCause = (p: { timeoutMs: number }): string => `no reply within ${p.timeoutMs} ms`;
const badReplyCause = (p: { reason: string }): string => `malformed reply (${p.reason})`;
const exceptionCause = (p: { exceptionCode: number; exception: string }): string => `device answered exception ${p.exceptionCode} ${p.exception}`;
const circuitCause = (p: { failures: number; last?: string }): string => `skipped after ${p.failures} consecutive failures${p.last ? ` (last: ${p.last})` : ''}`;

export const ErrModbusTimeout = createError(
  'EDGE_ERR_MODBUS_TIMEOUT',
  (p: { bus: string; unitId: number; fn: string; timeoutMs: number }) =>
    `modbus ${p.fn} to unit ${p.unitId} on ${p.bus}: ${timeoutCause(p)}`,
  { statusCode: 504 },
);

export const ErrModbusBadReply = createError(
  'EDGE_ERR_MODBUS_BAD_REPLY',
  (p: { bus: string; unitId: number; fn: string; reason: string }) =>
    `modbus ${p.fn} to unit ${p.unitId} on ${p.bus}: ${badReplyCause(p)}`,
  { statusCode: 502 },
);

export const ErrModbusException = createError(
  'EDGE_ERR_MODBUS_EXCEPTION',
  (p: { bus: string; unitId: number; fn: string; exceptionCode: number; exception: string }) =>
    `modbus ${p.fn} to unit ${p.unitId} on ${p.bus}: ${exceptionCause(p)}`,
  { statusCode: 502 },
);

/** The link cannot be opened or was lost; `reason` is the cause alone (`connect ECONNREFUSED 127.0.0.1:1502`). */
export const ErrModbusConnect = createError(
  'EDGE_ERR_MODBUS_CONNECT',
  (p: { bus: string; reason: string; retryInMs?: number }) =>
    `modbus link ${p.bus} is down: ${p.reason}${p.retryInMs === undefined ? '' : ` (next attempt in ${p.retryInMs} ms)`}`,
  { statusCode: 503 },
);

/** A unit skipped by its circuit breaker; `last` is the cause of the failure that opened it. */
export const ErrModbusCircuitOpen = createError(
  'EDGE_ERR_MODBUS_CIRCUIT_OPEN',
  (p: { bus: string; unitId: number; retryInMs: number; failures: number; last?: string }) =>
    `modbus unit ${p.unitId} on ${p.bus} is ${circuitCause(p)}; next probe in ${p.retryInMs} ms`,
  { statusCode: 503 },
);

export const ErrModbusAborted = createError(
  'EDGE_ERR_MODBUS_ABORTED',
  (p: { bus: string; unitId: number; fn: string }) => `modbus ${p.fn} to unit ${p.unitId} on ${p.bus} was aborted by the caller`,
  { statusCode: 499 },
);

export const ErrModbusBusClosed = createError(
  'EDGE_ERR_MODBUS_BUS_CLOSED',
  (p: { bus: string }) => `modbus bus ${p.bus} is closed`,
  { statusCode: 503 },
);

export const ErrModbusInvalidEndpoint = createError(
  'EDGE_ERR_MODBUS_INVALID_ENDPOINT',
  (p: { field: string; value: unknown; expected: string }) =>
    `modbus endpoint field '${p.field}' is invalid (got ${JSON.stringify(p.value)}; expected ${p.expected})`,
  { statusCode: 400 },
);

export const ErrModbusInvalidRequest = createError(
  'EDGE_ERR_MODBUS_INVALID_REQUEST',
  (p: { field: string; value: unknown; expected: string }) =>
    `modbus request field '${p.field}' is invalid (got ${JSON.stringify(p.value)}; expected ${p.expected})`,
  { statusCode: 400 },
);

/**
 * What caused a failure, without the context its message adds (bus, unit,
 * function): `connect ECONNREFUSED 127.0.0.1:1502`, `no reply within 1000 ms`,
 * `ILLEGAL_DATA_ADDRESS`. For wrapping an error in another and for a
 * reading's qualityDetail.
 */
export function failureCause(err: unknown): string {
  if (ErrModbusConnect.is(err)) return err.params.reason;
  if (ErrModbusTimeout.is(err)) return timeoutCause(err.params);
  if (ErrModbusException.is(err)) return err.params.exception;
  if (ErrModbusBadReply.is(err)) return badReplyCause(err.params);
  if (ErrModbusCircuitOpen.is(err)) return circuitCause(err.params);
  if (ErrModbusBusClosed.is(err)) return 'bus is closed';
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------- driver

export const ErrReadOnly = createError(
  'EDGE_ERR_MODBUS_READ_ONLY',
  (p: { resource: string; table: string }) => `resource '${p.resource}' is read-only (${p.table}, or readWrite R)`,
  { statusCode: 400 },
);

export const ErrDeviceInvalid = createError(
  'EDGE_ERR_MODBUS_DEVICE_INVALID',
  (p: { device: string; issues: readonly DriverIssue[] }) =>
    `device '${p.device}' cannot be used: ${p.issues.map((i) => `${i.path}: ${i.message}`).join('; ') || 'its protocol block is incomplete'}`,
  { statusCode: 400 },
);

export const ErrDiscovery = createError(
  'EDGE_ERR_MODBUS_DISCOVERY_REQUEST',
  (p: { field: string; reason: string }) => `modbus discovery: ${p.field} ${p.reason}`,
  { statusCode: 400 },
);
