/**
 * EdgeX device-modbus profiles, resolved into Modbus points.
 *
 * A device resource's `attributes` say where its value lives, as EdgeX's
 * device-modbus reads them:
 *
 * - `primaryTable`: COILS, DISCRETE_INPUTS (also EdgeX's older spelling
 *   DISCRETES_INPUT), INPUT_REGISTERS or HOLDING_REGISTERS, any letter case.
 * - `startingAddress`: zero-based, a number or a string (decimal, or `0x` hex).
 *   A bit inside a register is written `"reg.bit"` (`"10.3"`: bit 3 of
 *   register 10, bit 0 the least significant). A YAML number with a fraction
 *   is read as EdgeX does, through two decimals: `10.10` is register 10 bit 10
 *   and `10.1` is register 10 bit 10 as well, so quote bit addresses.
 * - `rawType`: how the registers encode the value when it differs from
 *   `valueType` (EdgeX: Int16/Uint16/Int32 into a Float32/Float64 reading);
 *   any integer or Float32/Float64 encoding is accepted here when the reading
 *   type can hold it: a float reading from any numeric encoding, an integer
 *   reading from an integer encoding whose range it contains.
 * - `isByteSwap` / `isWordSwap`: booleans or "true"/"false". Byte swap swaps
 *   the two bytes of every register; word swap reverses the register order
 *   of a 32- or 64-bit value (0x3FC00000 as [0x0000, 0x3FC0]).
 * - `stringRegisterSize`: registers of a String value, 1..123.
 *
 * `properties` give the transforms (scale, offset, base, mask, shift) and the
 * write range (minimum, maximum), numbers or EdgeX's numeric strings; EdgeX's
 * defaults (scale 1, offset 0, base 0, mask 0, shift 0) mean "none".
 *
 * Registers: 8- and 16-bit values and register bits take one register, 32-bit
 * two, 64-bit four, strings `stringRegisterSize`. Coils and discrete inputs
 * carry Bool only, one bit each.
 */
import type { DriverIssue, DriverResource, ValueType } from '../../../core/sdk/index.ts';
import { PROFILE_ISSUE } from './errors.ts';

export const PRIMARY_TABLES = ['COILS', 'DISCRETE_INPUTS', 'INPUT_REGISTERS', 'HOLDING_REGISTERS'] as const;
export type PrimaryTable = (typeof PRIMARY_TABLES)[number];

/** The encodings a Modbus value can have, and the reading types a Modbus resource can have (EdgeX names). */
export const RAW_TYPES = ['Bool', 'Int8', 'Uint8', 'Int16', 'Uint16', 'Int32', 'Uint32', 'Int64', 'Uint64', 'Float32', 'Float64', 'String'] as const;
export type RawType = (typeof RAW_TYPES)[number];
export type ModbusValueType = RawType & ValueType;

/** Transforms that differ from the identity, as EdgeX defines them (see codec.ts for the order). */
export interface Transform {
  /** Bitwise AND on read (unsigned valueTypes only). */
  mask?: bigint;
  /** Left shift by `shift` bits on read; a negative shift shifts right (unsigned valueTypes only). */
  shift?: number;
  /** Reading = base ** value. */
  base?: number;
  scale?: number;
  offset?: number;
}

export interface ModbusPoint {
  resource: string;
  table: PrimaryTable;
  /** Zero-based register or bit address. */
  address: number;
  /** Bit 0..15 inside the register, for a Bool held in a register. */
  bit?: number;
  rawType: RawType;
  valueType: ModbusValueType;
  /** 16-bit registers the value takes, or 1 (bit) for coils and discrete inputs. */
  registers: number;
  byteSwap: boolean;
  wordSwap: boolean;
  stringRegisterSize?: number;
  transform: Transform;
  readWrite: 'R' | 'W' | 'RW';
  minimum?: number;
  maximum?: number;
  units?: string;
}

export const BIT_TABLES: ReadonlySet<PrimaryTable> = new Set(['COILS', 'DISCRETE_INPUTS']);
export const READ_ONLY_TABLES: ReadonlySet<PrimaryTable> = new Set(['DISCRETE_INPUTS', 'INPUT_REGISTERS']);
export const MAX_STRING_REGISTERS = 123;

const TABLE_ALIASES: ReadonlyMap<string, PrimaryTable> = new Map([
  ...PRIMARY_TABLES.map((t) => [t, t] as const),
  ['DISCRETES_INPUT', 'DISCRETE_INPUTS'],
]);
const RAW_TYPE_BY_UPPER: ReadonlyMap<string, RawType> = new Map(RAW_TYPES.map((t) => [t.toUpperCase(), t]));

/** Width in bytes of each encoding (String: per register). */
export const RAW_BYTES: Readonly<Record<RawType, number>> = {
  Bool: 0,
  Int8: 1,
  Uint8: 1,
  Int16: 2,
  Uint16: 2,
  Int32: 4,
  Uint32: 4,
  Int64: 8,
  Uint64: 8,
  Float32: 4,
  Float64: 8,
  String: 2,
};

/** Range of each integer type, as bigints. */
export const INT_RANGE: Readonly<Partial<Record<RawType, readonly [bigint, bigint]>>> = {
  Int8: [-(2n ** 7n), 2n ** 7n - 1n],
  Uint8: [0n, 2n ** 8n - 1n],
  Int16: [-(2n ** 15n), 2n ** 15n - 1n],
  Uint16: [0n, 2n ** 16n - 1n],
  Int32: [-(2n ** 31n), 2n ** 31n - 1n],
  Uint32: [0n, 2n ** 32n - 1n],
  Int64: [-(2n ** 63n), 2n ** 63n - 1n],
  Uint64: [0n, 2n ** 64n - 1n],
};

export function isIntegerType(t: RawType): boolean {
  return INT_RANGE[t] !== undefined;
}
export function isUnsignedType(t: RawType): boolean {
  return t === 'Uint8' || t === 'Uint16' || t === 'Uint32' || t === 'Uint64';
}
export function isFloatType(t: RawType): boolean {
  return t === 'Float32' || t === 'Float64';
}

/** Why `raw` cannot encode a `value` reading, or undefined when it can. */
function rawTypeMismatch(raw: RawType, value: RawType): string | undefined {
  if (raw === value) return undefined;
  if (value === 'Bool' || value === 'String' || raw === 'Bool' || raw === 'String') return `a ${value} reading cannot be encoded as ${raw}`;
  if (isFloatType(value)) {
    if (raw === 'Float64' && value === 'Float32') return 'a Float32 reading cannot hold a Float64 encoding';
    return undefined;
  }
  // Integer reading.
  if (isFloatType(raw)) return `an integer ${value} reading cannot hold a ${raw} encoding (make the valueType Float32 or Float64)`;
  const r = INT_RANGE[raw] as readonly [bigint, bigint];
  const v = INT_RANGE[value] as readonly [bigint, bigint];
  if (r[0] < v[0] || r[1] > v[1]) return `a ${value} reading cannot hold every ${raw} value (use a wider valueType or a Float)`;
  return undefined;
}

type Parsed<T> = { ok: true; value: T | undefined } | { ok: false; message: string };

function show(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : typeof v === 'bigint' ? `${v}` : JSON.stringify(v) ?? String(v);
}

/** A number, a numeric string, or unset (undefined, null, ""). */
function parseNumber(v: unknown): Parsed<number> {
  if (v === undefined || v === null || v === '') return { ok: true, value: undefined };
  if (typeof v === 'number') return Number.isFinite(v) ? { ok: true, value: v } : { ok: false, message: `must be a finite number, is ${show(v)}` };
  if (typeof v === 'string') {
    const s = v.trim();
    const n = Number(s);
    if (s !== '' && Number.isFinite(n) && /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) return { ok: true, value: n };
  }
  return { ok: false, message: `must be a number or a numeric string, is ${show(v)}` };
}

/** An integer as a bigint: safe integer numbers, decimal or 0x-hex strings. */
function parseBigInt(v: unknown): Parsed<bigint> {
  if (v === undefined || v === null || v === '') return { ok: true, value: undefined };
  if (typeof v === 'number' && Number.isSafeInteger(v)) return { ok: true, value: BigInt(v) };
  if (typeof v === 'string') {
    const s = v.trim();
    if (/^[+-]?\d+$/.test(s)) return { ok: true, value: BigInt(s) };
    if (/^0x[0-9a-f]+$/i.test(s)) return { ok: true, value: BigInt(s) };
  }
  return { ok: false, message: `must be an integer (a decimal or 0x string beyond 2^53), is ${show(v)}` };
}

/** Booleans as EdgeX (spf13/cast) reads them: true/false, "true"/"false" (any case), "1"/"0", "t"/"f", 1/0. */
function parseBool(v: unknown): Parsed<boolean> {
  if (v === undefined || v === null) return { ok: true, value: undefined };
  if (typeof v === 'boolean') return { ok: true, value: v };
  if (v === 1 || v === 0) return { ok: true, value: v === 1 };
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'true' || s === 't' || s === '1') return { ok: true, value: true };
    if (s === 'false' || s === 'f' || s === '0') return { ok: true, value: false };
  }
  return { ok: false, message: `must be a boolean (true or false), is ${show(v)}` };
}

interface Address {
  address: number;
  bit?: number;
}

/**
 * startingAddress as EdgeX reads it: a number with a fraction goes through two
 * decimals (`10.1` -> "10.10" -> register 10, bit 10); a string splits at '.'.
 */
function parseAddress(v: unknown): { ok: true; value: Address } | { ok: false; message: string; field: 'address' | 'bit' } {
  if (v === undefined || v === null || v === '') return { ok: false, field: 'address', message: 'is required (zero-based register or bit address)' };
  let text: string;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return { ok: false, field: 'address', message: `must be an address 0..65535, is ${show(v)}` };
    text = Number.isInteger(v) ? String(v) : v.toFixed(2);
  } else if (typeof v === 'string') {
    text = v.trim();
  } else {
    return { ok: false, field: 'address', message: `must be a number or a "register.bit" string, is ${show(v)}` };
  }
  const parts = text.split('.');
  if (parts.length > 2) return { ok: false, field: 'address', message: `must be "register" or "register.bit", is ${show(v)}` };
  const [reg = '', bitText] = parts;
  let address: number;
  if (/^\d+$/.test(reg)) address = Number(reg);
  else if (/^0x[0-9a-f]+$/i.test(reg)) address = Number.parseInt(reg.slice(2), 16);
  else return { ok: false, field: 'address', message: `must be a zero-based address 0..65535 (or "register.bit"), is ${show(v)}` };
  if (address > 65535) return { ok: false, field: 'address', message: `must be within 0..65535, is ${address}` };
  if (bitText === undefined) return { ok: true, value: { address } };
  if (!/^\d+$/.test(bitText)) return { ok: false, field: 'bit', message: `bit of ${show(v)} must be an integer 0..15` };
  const bit = Number(bitText);
  if (bit > 15) return { ok: false, field: 'bit', message: `bit ${bit} of ${show(v)} is outside 0..15 (a register has 16 bits)` };
  return { ok: true, value: { address, bit } };
}

function attr(attrs: Readonly<Record<string, unknown>>, name: string): unknown {
  return attrs[name];
}

/**
 * Resolves every resource of a profile into a point, and reports every
 * problem at once. Only resources without problems become points.
 */
export function resolvePoints(resources: readonly DriverResource[]): { points: ModbusPoint[]; issues: DriverIssue[] } {
  const points: ModbusPoint[] = [];
  const issues: DriverIssue[] = [];
  const names = new Map<string, number>();
  resources.forEach((r, i) => {
    const before = issues.length;
    const at = `deviceResources[${i}]`;
    const issue = (field: string, code: string, message: string): void => {
      issues.push({ path: `${at}.${field}`, code, message: `resource '${r.name}': ${message}` });
    };
    const first = names.get(r.name);
    if (first !== undefined) issue('name', PROFILE_ISSUE.duplicate, `has the name of deviceResources[${first}]`);
    else names.set(r.name, i);
    const point = resolveOne(r, issue);
    if (point && issues.length === before) points.push(point);
  });
  return { points, issues };
}

type IssueFn = (field: string, code: string, message: string) => void;

function resolveOne(r: DriverResource, issue: IssueFn): ModbusPoint | undefined {
  const attrs = r.attributes ?? {};
  const props = r.properties ?? {};
  let ok = true;
  const fail = (field: string, code: string, message: string): void => {
    ok = false;
    issue(field, code, message);
  };

  // valueType
  // EdgeX value type names are case-insensitive.
  const valueType = typeof r.valueType === 'string' ? RAW_TYPE_BY_UPPER.get(r.valueType.toUpperCase()) : undefined;
  if (!valueType) fail('properties.valueType', PROFILE_ISSUE.type, `valueType ${show(r.valueType)} cannot be carried by Modbus (use ${RAW_TYPES.join(', ')})`);

  // readWrite ('WR' is EdgeX's spelling of 'RW')
  const rwRaw = String(r.readWrite);
  const readWrite = rwRaw === 'WR' ? 'RW' : rwRaw === 'R' || rwRaw === 'W' || rwRaw === 'RW' ? rwRaw : undefined;
  if (!readWrite) fail('properties.readWrite', PROFILE_ISSUE.readWrite, `readWrite must be R, W or RW, is ${show(r.readWrite)}`);

  // primaryTable
  const tableRaw = attr(attrs, 'primaryTable');
  let table: PrimaryTable | undefined;
  if (tableRaw === undefined || tableRaw === null || tableRaw === '') {
    fail('attributes.primaryTable', PROFILE_ISSUE.table, `primaryTable is required (${PRIMARY_TABLES.join(', ')})`);
  } else {
    table = typeof tableRaw === 'string' ? TABLE_ALIASES.get(tableRaw.trim().toUpperCase()) : undefined;
    if (!table) fail('attributes.primaryTable', PROFILE_ISSUE.table, `primaryTable ${show(tableRaw)} is not one of ${PRIMARY_TABLES.join(', ')}`);
  }
  if (table && readWrite && readWrite !== 'R' && READ_ONLY_TABLES.has(table)) {
    fail('properties.readWrite', PROFILE_ISSUE.readWrite, `readWrite '${readWrite}' on ${table}, which Modbus can only read (make it 'R')`);
  }

  // startingAddress ("reg.bit")
  const addr = parseAddress(attr(attrs, 'startingAddress'));
  if (!addr.ok) fail('attributes.startingAddress', addr.field === 'bit' ? PROFILE_ISSUE.bit : PROFILE_ISSUE.address, `startingAddress ${addr.message}`);
  const address = addr.ok ? addr.value.address : undefined;
  const bit = addr.ok ? addr.value.bit : undefined;

  // rawType
  const rawAttr = attr(attrs, 'rawType');
  let rawType: RawType | undefined = valueType;
  if (rawAttr !== undefined && rawAttr !== null && rawAttr !== '') {
    rawType = typeof rawAttr === 'string' ? RAW_TYPE_BY_UPPER.get(rawAttr.trim().toUpperCase()) : undefined;
    if (!rawType) fail('attributes.rawType', PROFILE_ISSUE.type, `rawType ${show(rawAttr)} is not one of ${RAW_TYPES.filter((t) => t !== 'Bool' && t !== 'String').join(', ')}`);
    else if (valueType) {
      const why = rawTypeMismatch(rawType, valueType);
      if (why) fail('attributes.rawType', PROFILE_ISSUE.type, `rawType ${rawType} does not fit valueType ${valueType}: ${why}`);
    }
  }

  // table x type x bit
  if (table && valueType) {
    if (BIT_TABLES.has(table)) {
      if (valueType !== 'Bool') fail('properties.valueType', PROFILE_ISSUE.type, `${table} hold single bits: valueType must be Bool, is ${valueType}`);
      if (bit !== undefined) fail('attributes.startingAddress', PROFILE_ISSUE.bit, `a bit address ("reg.bit") applies to registers, not ${table}`);
    } else if (!addr.ok) {
      // The address is already reported; whether it has a bit is unknown.
    } else if (valueType === 'Bool' && bit === undefined) {
      fail('attributes.startingAddress', PROFILE_ISSUE.type, `a Bool in ${table} needs a bit: write startingAddress as "register.bit" (e.g. "${address ?? 0}.0")`);
    } else if (valueType !== 'Bool' && bit !== undefined) {
      fail('attributes.startingAddress', PROFILE_ISSUE.bit, `a bit address ("reg.bit") needs valueType Bool, is ${valueType}`);
    }
  }

  // swaps
  const byteSwapP = parseBool(attr(attrs, 'isByteSwap'));
  const wordSwapP = parseBool(attr(attrs, 'isWordSwap'));
  if (!byteSwapP.ok) fail('attributes.isByteSwap', PROFILE_ISSUE.swap, `isByteSwap ${byteSwapP.message}`);
  if (!wordSwapP.ok) fail('attributes.isWordSwap', PROFILE_ISSUE.swap, `isWordSwap ${wordSwapP.message}`);
  const byteSwap = byteSwapP.ok ? (byteSwapP.value ?? false) : false;
  const wordSwap = wordSwapP.ok ? (wordSwapP.value ?? false) : false;
  if (table && BIT_TABLES.has(table) && (byteSwap || wordSwap)) {
    fail(byteSwap ? 'attributes.isByteSwap' : 'attributes.isWordSwap', PROFILE_ISSUE.swap, `${table} hold single bits: there are no bytes or words to swap`);
  } else if (wordSwap && rawType && RAW_BYTES[rawType] < 4) {
    fail('attributes.isWordSwap', PROFILE_ISSUE.swap, `isWordSwap applies to 32- and 64-bit values, not to ${rawType}`);
  }

  // stringRegisterSize
  const sizeAttr = attr(attrs, 'stringRegisterSize');
  let stringRegisterSize: number | undefined;
  if (valueType === 'String') {
    const n = parseNumber(sizeAttr);
    if (!n.ok || n.value === undefined || !Number.isInteger(n.value) || n.value < 1 || n.value > MAX_STRING_REGISTERS) {
      fail('attributes.stringRegisterSize', PROFILE_ISSUE.stringSize, `stringRegisterSize must be an integer 1..${MAX_STRING_REGISTERS} for a String, is ${show(sizeAttr)}`);
    } else stringRegisterSize = n.value;
  } else if (sizeAttr !== undefined && sizeAttr !== null && sizeAttr !== '' && valueType) {
    fail('attributes.stringRegisterSize', PROFILE_ISSUE.stringSize, `stringRegisterSize applies to String values, not to ${valueType}`);
  }

  // size and span
  let registers = 1;
  if (table && !BIT_TABLES.has(table) && rawType) {
    registers = rawType === 'String' ? (stringRegisterSize ?? 1) : Math.max(1, RAW_BYTES[rawType] / 2);
  }
  if (address !== undefined && address + registers - 1 > 65535) {
    fail('attributes.startingAddress', PROFILE_ISSUE.address, `a ${registers}-register value at ${address} runs past register 65535`);
  }

  // transforms
  const transform = valueType ? parseTransform(props, valueType, fail) : {};

  // range
  const min = parseNumber(props.minimum);
  const max = parseNumber(props.maximum);
  if (!min.ok) fail('properties.minimum', PROFILE_ISSUE.range, `minimum ${min.message}`);
  if (!max.ok) fail('properties.maximum', PROFILE_ISSUE.range, `maximum ${max.message}`);
  const minimum = min.ok ? min.value : undefined;
  const maximum = max.ok ? max.value : undefined;
  if (minimum !== undefined && maximum !== undefined && minimum > maximum) {
    fail('properties.minimum', PROFILE_ISSUE.range, `minimum ${minimum} exceeds maximum ${maximum}`);
  }

  if (!ok || !valueType || !rawType || !table || !readWrite || address === undefined) return undefined;
  const numeric = valueType !== 'Bool' && valueType !== 'String';
  return {
    resource: r.name,
    table,
    address,
    ...(bit === undefined ? {} : { bit }),
    rawType,
    valueType,
    registers,
    byteSwap,
    wordSwap,
    ...(stringRegisterSize === undefined ? {} : { stringRegisterSize }),
    transform,
    readWrite,
    // EdgeX checks minimum/maximum for numeric values only (its own Bool profiles carry 0/1).
    ...(numeric && minimum !== undefined ? { minimum } : {}),
    ...(numeric && maximum !== undefined ? { maximum } : {}),
    ...(r.units ? { units: r.units } : {}),
  };
}

function parseTransform(props: Readonly<Record<string, unknown>>, valueType: ModbusValueType, fail: IssueFn): Transform {
  const t: Transform = {};
  const numeric = valueType !== 'Bool' && valueType !== 'String';
  const notApplicable = (field: string, v: unknown): void =>
    fail(`properties.${field}`, PROFILE_ISSUE.transform, `${field} ${show(v)} cannot apply to a ${valueType} value`);

  for (const field of ['scale', 'offset', 'base'] as const) {
    const p = parseNumber(props[field]);
    if (!p.ok) {
      fail(`properties.${field}`, PROFILE_ISSUE.transform, `${field} ${p.message}`);
      continue;
    }
    const v = p.value;
    if (v === undefined) continue;
    const identity = field === 'scale' ? v === 1 : v === 0;
    if (identity) continue;
    if (!numeric) {
      notApplicable(field, props[field]);
      continue;
    }
    if (field === 'scale') t.scale = v;
    else if (field === 'offset') t.offset = v;
    else if (v < 0 || v === 1) fail('properties.base', PROFILE_ISSUE.transform, `base ${v} must be positive and not 1 (reading = base ** value)`);
    else t.base = v;
  }

  const bits = BigInt(RAW_BYTES[valueType] * 8);
  const mask = parseBigInt(props.mask);
  if (!mask.ok) fail('properties.mask', PROFILE_ISSUE.transform, `mask ${mask.message}`);
  else if (mask.value !== undefined && mask.value !== 0n) {
    if (!isUnsignedType(valueType)) notApplicable('mask', props.mask);
    else if (mask.value < 0n || mask.value >= 1n << bits) fail('properties.mask', PROFILE_ISSUE.transform, `mask ${mask.value} does not fit ${valueType}`);
    else t.mask = mask.value;
  }
  const shift = parseNumber(props.shift);
  if (!shift.ok) fail('properties.shift', PROFILE_ISSUE.transform, `shift ${shift.message}`);
  else if (shift.value !== undefined && shift.value !== 0) {
    if (!isUnsignedType(valueType)) notApplicable('shift', props.shift);
    else if (!Number.isInteger(shift.value) || Math.abs(shift.value) >= Number(bits)) {
      fail('properties.shift', PROFILE_ISSUE.transform, `shift ${shift.value} must be an integer between -${bits - 1n} and ${bits - 1n}`);
    } else t.shift = shift.value;
  }
  return t;
}
