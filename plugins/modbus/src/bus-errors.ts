/**
 * Coded errors of the Modbus I/O layer (transports and bus scheduler). Each
 * names the bus (`busKey`) and, where one is involved, the unit id.
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

export const ErrModbusTimeout = createError(
  'EDGE_ERR_MODBUS_TIMEOUT',
  (p: { bus: string; unitId: number; fn: string; timeoutMs: number }) =>
    `modbus ${p.fn} to unit ${p.unitId} on ${p.bus}: no reply within ${p.timeoutMs} ms`,
  { statusCode: 504 },
);

export const ErrModbusBadReply = createError(
  'EDGE_ERR_MODBUS_BAD_REPLY',
  (p: { bus: string; unitId: number; fn: string; reason: string }) =>
    `modbus ${p.fn} to unit ${p.unitId} on ${p.bus}: malformed reply (${p.reason})`,
  { statusCode: 502 },
);

export const ErrModbusException = createError(
  'EDGE_ERR_MODBUS_EXCEPTION',
  (p: { bus: string; unitId: number; fn: string; exceptionCode: number; exception: string }) =>
    `modbus ${p.fn} to unit ${p.unitId} on ${p.bus}: device answered exception ${p.exceptionCode} ${p.exception}`,
  { statusCode: 502 },
);

export const ErrModbusConnect = createError(
  'EDGE_ERR_MODBUS_CONNECT',
  (p: { bus: string; reason: string; retryInMs?: number }) =>
    `modbus link ${p.bus} is down: ${p.reason}${p.retryInMs === undefined ? '' : ` (next attempt in ${p.retryInMs} ms)`}`,
  { statusCode: 503 },
);

export const ErrModbusCircuitOpen = createError(
  'EDGE_ERR_MODBUS_CIRCUIT_OPEN',
  (p: { bus: string; unitId: number; retryInMs: number; failures: number }) =>
    `modbus unit ${p.unitId} on ${p.bus} is skipped after ${p.failures} consecutive failures; next probe in ${p.retryInMs} ms`,
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
