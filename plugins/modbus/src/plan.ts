/**
 * Request planning: a device's points grouped into as few read requests as
 * the protocol allows.
 *
 * Points of one table whose addresses are contiguous -- or separated by at
 * most `maxGap` unread registers/bits -- share one request, up to the
 * protocol's limits (125 registers per read of holding/input registers, 2000
 * bits per read of coils/discrete inputs). A point is never split across
 * requests. Points that share registers (bits of one register, overlapping
 * resources) share the request. Output order is deterministic: by table
 * (COILS, DISCRETE_INPUTS, INPUT_REGISTERS, HOLDING_REGISTERS), then address;
 * points inside a request by address, then size, then resource name.
 */
import { ErrModbusPlan, ErrModbusReplyShort } from './errors.ts';
import { BIT_TABLES, PRIMARY_TABLES, type ModbusPoint, type PrimaryTable } from './profile.ts';

export interface ReadRequest {
  table: PrimaryTable;
  address: number;
  count: number;
  points: ModbusPoint[];
}

export interface PlanLimits {
  /** Registers per request, 1..125 (default 125). */
  maxRegisters?: number;
  /** Bits per request, 1..2000 (default 2000). */
  maxBits?: number;
  /** Unread registers (or bits) bridged between two points to keep them in one request (default 0). */
  maxGap?: number;
}

/** Modbus limits of one read: function codes 3/4 read 125 registers, 1/2 read 2000 bits. */
export const MAX_READ_REGISTERS = 125;
export const MAX_READ_BITS = 2000;

function limit(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min || v > max) throw new ErrModbusPlan({ message: `${name} must be an integer ${min}..${max}, is ${v}` });
  return v;
}

const TABLE_ORDER = new Map<PrimaryTable, number>(PRIMARY_TABLES.map((t, i) => [t, i]));

function byAddress(a: ModbusPoint, b: ModbusPoint): number {
  return a.address - b.address || b.registers - a.registers || (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0) || (a.bit ?? -1) - (b.bit ?? -1);
}

/** Groups `points` into read requests (see the module comment). */
export function planReads(points: readonly ModbusPoint[], limits: PlanLimits = {}): ReadRequest[] {
  const maxRegisters = limit('maxRegisters', limits.maxRegisters, MAX_READ_REGISTERS, 1, MAX_READ_REGISTERS);
  const maxBits = limit('maxBits', limits.maxBits, MAX_READ_BITS, 1, MAX_READ_BITS);
  const maxGap = limit('maxGap', limits.maxGap, 0, 0, MAX_READ_BITS);

  const sorted = [...points].sort((a, b) => (TABLE_ORDER.get(a.table) ?? 0) - (TABLE_ORDER.get(b.table) ?? 0) || byAddress(a, b));
  const requests: ReadRequest[] = [];
  let open: ReadRequest | undefined;
  for (const p of sorted) {
    const max = BIT_TABLES.has(p.table) ? maxBits : maxRegisters;
    if (p.registers > max) {
      throw new ErrModbusPlan({ message: `resource '${p.resource}' takes ${p.registers} registers, more than the ${max} one request may read` });
    }
    const end = p.address + p.registers;
    if (open && open.table === p.table) {
      const openEnd = open.address + open.count;
      const gap = p.address - openEnd;
      const newEnd = Math.max(openEnd, end);
      if (gap <= maxGap && newEnd - open.address <= max) {
        open.count = newEnd - open.address;
        open.points.push(p);
        continue;
      }
    }
    open = { table: p.table, address: p.address, count: p.registers, points: [p] };
    requests.push(open);
  }
  return requests;
}

/**
 * The part of a request's reply that holds `point`, ready for `decode`.
 * Throws EDGE_ERR_MODBUS_REPLY_SHORT (naming the resource) when the reply
 * stops before the point's end -- the points before it stay decodable -- and
 * EDGE_ERR_MODBUS_PLAN when the point is not in the request's range.
 */
export function slice(req: ReadRequest, response: readonly number[] | readonly boolean[], point: ModbusPoint): number[] | boolean[] {
  const from = point.address - req.address;
  if (point.table !== req.table || from < 0 || from + point.registers > req.count) {
    throw new ErrModbusPlan({
      message: `resource '${point.resource}' (${point.table} ${point.address}+${point.registers}) is not inside the request ${req.table} ${req.address}+${req.count}`,
    });
  }
  const to = from + point.registers;
  if (response.length < to) {
    throw new ErrModbusReplyShort({ resource: point.resource, expected: point.registers, got: Math.max(0, response.length - from) });
  }
  return response.slice(from, to);
}
