/**
 * Coded errors of the Modbus I/O layer (transports and bus scheduler). Each
 * names the bus (`busKey`) and, where one is involved, the unit id, then its
 * cause. A cause is wrapped once: an error built from another one of these
 * takes its cause (`failureCause`), never its whole message, so no message
 * says "is down: ... is down: ...".
 */
import { createError } from '../../../core/sdk/index.ts';

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
