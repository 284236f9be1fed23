/**
 * A Device's Modbus protocol block (`modbus-tcp`, `modbus-rtu`,
 * `modbus-rtu-over-tcp`), as EdgeX device-modbus writes it, read into an
 * endpoint and a unit id; values may be EdgeX's strings or numbers, keys
 * match case-insensitively, every problem an issue naming its field. The
 * fields, their bounds and defaults are protocol-schema.ts's (the schemas
 * the hub checks Device writes with); README.md, "Devices".
 */
import type { DriverIssue } from '../../../core/sdk/index.ts';
import { DEFAULT_PARITY, MODBUS_INTEGER_FIELDS, MODBUS_PARITIES, MODBUS_PROTOCOLS, type ModbusIntegerField, type ModbusParityName } from './protocol-schema.ts';
import type { Endpoint } from './transport.ts';

export { MODBUS_PROTOCOLS, type ModbusProtocol } from './protocol-schema.ts';

const PARITY_OF: Readonly<Record<ModbusParityName, 'none' | 'even' | 'odd'>> = { N: 'none', NONE: 'none', E: 'even', EVEN: 'even', O: 'odd', ODD: 'odd' };

export interface ModbusTarget {
  endpoint: Endpoint;
  unitId: number;
  timeoutMs: number;
}

function field(block: Readonly<Record<string, unknown>>, name: string): unknown {
  const key = Object.keys(block).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : block[key];
}

/** Reads the block for `protocol`; every problem is an issue naming its field (`protocols.modbus-tcp.Port`). */
export function readProtocol(protocol: string, block: Readonly<Record<string, unknown>>): { target?: ModbusTarget; issues: DriverIssue[] } {
  const issues: DriverIssue[] = [];
  const at = (f: string): string => `protocols.${protocol}.${f}`;
  const int = (name: ModbusIntegerField): number => {
    const { default: dflt, minimum: min, maximum: max } = MODBUS_INTEGER_FIELDS[name];
    const raw = field(block, name);
    if (raw === undefined || raw === '') return dflt;
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      issues.push({ path: at(name), code: 'EDGE_ERR_MODBUS_PROTOCOL_INVALID', message: `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}` });
      return dflt;
    }
    return n;
  };
  if (!(MODBUS_PROTOCOLS as readonly string[]).includes(protocol)) {
    return { issues: [{ path: `protocols.${protocol}`, code: 'EDGE_ERR_MODBUS_PROTOCOL_UNKNOWN', message: `'${protocol}' is not one of ${MODBUS_PROTOCOLS.join(', ')}` }] };
  }
  const address = field(block, 'Address');
  if (typeof address !== 'string' || address.trim() === '') {
    issues.push({ path: at('Address'), code: 'EDGE_ERR_MODBUS_PROTOCOL_INVALID', message: protocol === 'modbus-rtu' ? 'Address must name the serial port, e.g. /dev/ttyUSB0' : 'Address must be a host name or IP address' });
  }
  const unitId = int('UnitID');
  // EdgeX gives Timeout in seconds; fractions are not allowed there either.
  const timeoutMs = int('Timeout') * 1000;
  let endpoint: Endpoint | undefined;
  if (protocol === 'modbus-rtu') {
    const baudRate = int('BaudRate');
    const dataBits = int('DataBits') as 7 | 8;
    const stopBits = int('StopBits') as 1 | 2;
    const given = field(block, 'Parity');
    const parityField = given === undefined || given === '' ? DEFAULT_PARITY : given;
    const parityRaw = typeof parityField === 'string' ? parityField.trim().toUpperCase() : JSON.stringify(parityField);
    const parity = (MODBUS_PARITIES as readonly string[]).includes(parityRaw) ? PARITY_OF[parityRaw as ModbusParityName] : undefined;
    if (!parity) issues.push({ path: at('Parity'), code: 'EDGE_ERR_MODBUS_PROTOCOL_INVALID', message: `Parity must be N, E or O, got ${JSON.stringify(parityRaw)}` });
    if (typeof address === 'string') endpoint = { kind: 'rtu', path: address.trim(), baudRate, dataBits, stopBits, parity: parity ?? 'none' };
  } else {
    const port = int('Port');
    if (typeof address === 'string') endpoint = { kind: protocol === 'modbus-tcp' ? 'tcp' : 'rtu-over-tcp', host: address.trim(), port };
  }
  return issues.length === 0 && endpoint ? { target: { endpoint, unitId, timeoutMs }, issues } : { issues };
}
