/**
 * Registers and bits <-> reading values, for one resolved point.
 *
 * Read (`decode`), in this order, as EdgeX's device-modbus and device-sdk do:
 *   1. registers -> bytes: each register big-endian; `isByteSwap` swaps the two
 *      bytes of every register, `isWordSwap` reverses the register order of a
 *      32- or 64-bit value (EdgeX swaps 32-bit values only; 64-bit values swap
 *      here the same way: bytes within registers, register order reversed).
 *   2. bytes -> rawType (big-endian). An 8-bit type is the register's low
 *      byte (the high byte with isByteSwap). A String is the registers' bytes
 *      as UTF-8 (ASCII: two characters per register, first in the high byte),
 *      with NULs trimmed at both ends. A Bool in a register is bit `bit` of
 *      the register (bit 0 least significant); a coil or discrete input is it.
 *   3. rawType -> valueType (integer widening, or integer/float -> float).
 *   4. transforms, numeric values only (EdgeX device-sdk TransformReadResult):
 *      mask (value & mask), then shift (<< shift; >> -shift when negative) --
 *      both for unsigned valueTypes only -- then base (base ** value), then
 *      scale (value * scale), then offset (value + offset).
 *   5. an integer valueType is rounded to the nearest integer and must stay
 *      within its range, else EDGE_ERR_MODBUS_VALUE_OVERFLOW (EdgeX checks the
 *      same overflow); NaN or an infinity is EDGE_ERR_MODBUS_VALUE_NAN.
 *   Readings: Int64/Uint64 as numbers when safe integers, else as decimal
 *   strings (core/sdk reading.ts); Float32 as the shortest decimal that is the
 *   same float32 (0.1, not 0.10000000149011612).
 *
 * Write (`encode`) reverses it (EdgeX device-sdk TransformWriteParameter):
 *   1. the value is parsed as its valueType (numbers or numeric strings;
 *      "true"/"false" for Bool), checked against the valueType's range, then
 *      against minimum and maximum -- on the value as given, as EdgeX does;
 *   2. offset (value - offset), then scale (value / scale), then base
 *      (log_base(value)); an integer valueType is rounded to the nearest integer;
 *   3. shift reversed (>> shift, which must not lose bits; << -shift), then
 *      mask: the value must have no bits outside the mask, and is merged into
 *      the register's current content (`current`), as is a bit in a register;
 *   4. valueType -> rawType (an integer encoding takes the nearest integer),
 *      which must hold the result (else EDGE_ERR_MODBUS_VALUE_RANGE naming the
 *      resource), then bytes, swaps and registers as on read.
 * A string longer than its registers is an error, not truncated.
 */
import type { ReadingValue } from '../../../core/sdk/index.ts';
import {
  ErrModbusNotWritable,
  ErrModbusReplyInvalid,
  ErrModbusReplyShort,
  ErrModbusValueNaN,
  ErrModbusValueOverflow,
  ErrModbusValueRange,
  ErrModbusValueType,
  ErrModbusWriteNeedsCurrent,
} from './errors.ts';
import {
  BIT_TABLES,
  INT_RANGE,
  RAW_BYTES,
  READ_ONLY_TABLES,
  isFloatType,
  isIntegerType,
  type ModbusPoint,
  type RawType,
} from './profile.ts';

const FLOAT32_MAX = 3.4028234663852886e38;
const utf8 = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'bigint') return v.toString();
  return JSON.stringify(v) ?? String(v);
}

function is64(t: RawType): boolean {
  return t === 'Int64' || t === 'Uint64';
}

function swap16(w: number): number {
  return ((w & 0xff) << 8) | (w >> 8);
}

/** The point's registers from a reply: at least `registers` integers 0..65535 (extra items are ignored). */
function registersOf(point: ModbusPoint, words: readonly number[] | readonly boolean[]): number[] {
  if (words.length < point.registers) throw new ErrModbusReplyShort({ resource: point.resource, expected: point.registers, got: words.length });
  const out: number[] = [];
  for (let i = 0; i < point.registers; i++) {
    const w = words[i];
    if (typeof w !== 'number' || !Number.isInteger(w) || w < 0 || w > 0xffff) {
      throw new ErrModbusReplyInvalid({ resource: point.resource, index: i, value: show(w) });
    }
    out.push(w);
  }
  return out;
}

function bitOf(point: ModbusPoint, words: readonly number[] | readonly boolean[]): boolean {
  if (words.length < 1) throw new ErrModbusReplyShort({ resource: point.resource, expected: 1, got: 0 });
  const b = words[0];
  if (typeof b === 'boolean') return b;
  if (b === 0 || b === 1) return b === 1;
  throw new ErrModbusReplyInvalid({ resource: point.resource, index: 0, value: show(b) });
}

/** Registers -> big-endian bytes of the value, undoing the point's swaps. */
function toBytes(point: ModbusPoint, regs: readonly number[]): Uint8Array {
  const ordered = point.wordSwap ? [...regs].reverse() : regs;
  const bytes = new Uint8Array(ordered.length * 2);
  ordered.forEach((w, i) => {
    const hi = w >> 8;
    const lo = w & 0xff;
    bytes[2 * i] = point.byteSwap ? lo : hi;
    bytes[2 * i + 1] = point.byteSwap ? hi : lo;
  });
  return bytes;
}

/** Big-endian bytes of the value -> registers, applying the point's swaps. */
function fromBytes(point: ModbusPoint, bytes: Uint8Array): number[] {
  const regs: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) {
    const b0 = bytes[i] ?? 0;
    const b1 = bytes[i + 1] ?? 0;
    regs.push(point.byteSwap ? (b1 << 8) | b0 : (b0 << 8) | b1);
  }
  return point.wordSwap ? regs.reverse() : regs;
}

function readRaw(type: RawType, bytes: Uint8Array): number | bigint {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case 'Int8':
      return dv.getInt8(1);
    case 'Uint8':
      return dv.getUint8(1);
    case 'Int16':
      return dv.getInt16(0);
    case 'Uint16':
      return dv.getUint16(0);
    case 'Int32':
      return dv.getInt32(0);
    case 'Uint32':
      return dv.getUint32(0);
    case 'Int64':
      return dv.getBigInt64(0);
    case 'Uint64':
      return dv.getBigUint64(0);
    case 'Float32':
      return dv.getFloat32(0);
    case 'Float64':
      return dv.getFloat64(0);
    default:
      throw new TypeError(`readRaw: ${type} is not a numeric encoding`);
  }
}

function writeRaw(type: RawType, raw: number | bigint): Uint8Array {
  const bytes = new Uint8Array(Math.max(2, RAW_BYTES[type]));
  const dv = new DataView(bytes.buffer);
  switch (type) {
    case 'Int8':
      dv.setInt8(1, Number(raw));
      break;
    case 'Uint8':
      dv.setUint8(1, Number(raw));
      break;
    case 'Int16':
      dv.setInt16(0, Number(raw));
      break;
    case 'Uint16':
      dv.setUint16(0, Number(raw));
      break;
    case 'Int32':
      dv.setInt32(0, Number(raw));
      break;
    case 'Uint32':
      dv.setUint32(0, Number(raw));
      break;
    case 'Int64':
      dv.setBigInt64(0, BigInt(raw));
      break;
    case 'Uint64':
      dv.setBigUint64(0, BigInt(raw));
      break;
    case 'Float32':
      dv.setFloat32(0, Number(raw));
      break;
    case 'Float64':
      dv.setFloat64(0, Number(raw));
      break;
    default:
      throw new TypeError(`writeRaw: ${type} is not a numeric encoding`);
  }
  return bytes;
}

/** The shortest decimal that is the same float32 as `v`. */
function float32Reading(v: number): number {
  const f = Math.fround(v);
  if (f === 0 || !Number.isFinite(f)) return f;
  for (let p = 1; p < 10; p++) {
    const n = Number(f.toPrecision(p));
    if (Math.fround(n) === f) return n;
  }
  return f;
}

function inIntRange(t: RawType, v: bigint): boolean {
  const r = INT_RANGE[t];
  return r !== undefined && v >= r[0] && v <= r[1];
}

function rangeText(t: RawType): string {
  const r = INT_RANGE[t];
  return r ? `${t} (${r[0]}..${r[1]})` : t === 'Float32' ? `Float32 (±${FLOAT32_MAX})` : t;
}

// ---------------------------------------------------------------------------
// decode

/**
 * The reading of `point` from its registers (numbers) or bit (boolean), e.g.
 * as `slice` cuts them from a grouped reply. Items past the point's size are
 * ignored. Throws a coded error (naming the resource) for a short or garbled
 * reply, a NaN float, or a transform that overflows the valueType.
 */
export function decode(point: ModbusPoint, words: readonly number[] | readonly boolean[]): ReadingValue {
  if (BIT_TABLES.has(point.table)) return bitOf(point, words);
  const regs = registersOf(point, words);
  if (point.valueType === 'Bool') {
    const w = point.byteSwap ? swap16(regs[0] as number) : (regs[0] as number);
    return ((w >> (point.bit ?? 0)) & 1) === 1;
  }
  const bytes = toBytes(point, regs);
  if (point.rawType === 'String') return decodeString(bytes);
  return readValue(point, readRaw(point.rawType, bytes));
}

function decodeString(bytes: Uint8Array): string {
  let start = 0;
  let end = bytes.length;
  while (start < end && bytes[start] === 0) start++;
  while (end > start && bytes[end - 1] === 0) end--;
  return utf8.decode(bytes.subarray(start, end));
}

function overflow(point: ModbusPoint, v: number | bigint): never {
  throw new ErrModbusValueOverflow({ resource: point.resource, valueType: point.valueType, value: String(v) });
}

function readValue(point: ModbusPoint, raw: number | bigint): ReadingValue {
  const vt = point.valueType;
  const t = point.transform;
  if (typeof raw === 'number' && !Number.isFinite(raw)) throw new ErrModbusValueNaN({ resource: point.resource, value: String(raw) });

  // rawType -> valueType
  let v: number | bigint;
  if (is64(vt)) v = BigInt(raw);
  else v = Number(raw);

  // mask, shift: unsigned integers only (the profile refuses them elsewhere)
  if (t.mask !== undefined || t.shift !== undefined) {
    let b = BigInt(v);
    if (t.mask !== undefined) b &= t.mask;
    if (t.shift !== undefined) b = t.shift > 0 ? b << BigInt(t.shift) : b >> BigInt(-t.shift);
    if (!inIntRange(vt, b)) overflow(point, b);
    v = is64(vt) ? b : Number(b);
  }

  // base, scale, offset
  if (t.base !== undefined || t.scale !== undefined || t.offset !== undefined) {
    let f = Number(v);
    if (t.base !== undefined) f = t.base ** f;
    if (t.scale !== undefined) f *= t.scale;
    if (t.offset !== undefined) f += t.offset;
    if (!Number.isFinite(f)) overflow(point, f);
    if (isIntegerType(vt)) {
      const rounded = BigInt(Math.round(f));
      if (!inIntRange(vt, rounded)) overflow(point, f);
      v = is64(vt) ? rounded : Number(rounded);
    } else v = f;
  }

  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (vt === 'Float32') {
    if (Math.abs(v) > FLOAT32_MAX) overflow(point, v);
    return float32Reading(v);
  }
  return v;
}

// ---------------------------------------------------------------------------
// encode

/**
 * Registers (numbers) or a coil (boolean) that carry `value` for `point`.
 * A Bool in a register and a masked field change part of a register: pass the
 * register(s)' `current` content (as read) and the result keeps the other bits.
 * Throws a coded error naming the resource when the point is read-only, the
 * value is not of the valueType, or it is outside minimum/maximum, the
 * valueType's range or (after the reverse transforms) the rawType's range.
 */
export function encode(point: ModbusPoint, value: ReadingValue, current?: readonly number[]): number[] | boolean[] {
  if (point.readWrite === 'R') throw new ErrModbusNotWritable({ resource: point.resource, why: "its readWrite is 'R'" });
  if (READ_ONLY_TABLES.has(point.table)) throw new ErrModbusNotWritable({ resource: point.resource, why: `${point.table} are read-only in Modbus` });
  if (BIT_TABLES.has(point.table)) return [parseBool(point, value)];
  if (point.valueType === 'Bool') {
    const on = parseBool(point, value);
    if (current === undefined) throw new ErrModbusWriteNeedsCurrent({ resource: point.resource, address: point.address });
    const cur = registersOf(point, current)[0] as number;
    let w = point.byteSwap ? swap16(cur) : cur;
    const m = 1 << (point.bit ?? 0);
    w = on ? w | m : w & ~m & 0xffff;
    return [point.byteSwap ? swap16(w) : w];
  }
  if (point.valueType === 'String') return encodeString(point, value);

  const v = parseNumeric(point, value);
  const vt = point.valueType;
  const range = (reason: string): never => {
    throw new ErrModbusValueRange({ resource: point.resource, value: show(value), reason });
  };
  if (typeof v === 'bigint' && !inIntRange(vt, v)) range(`is outside ${rangeText(vt)}`);
  if (typeof v === 'number' && vt === 'Float32' && Math.abs(v) > FLOAT32_MAX) range(`is outside ${rangeText(vt)}`);
  if (point.minimum !== undefined && v < point.minimum) range(`is below the minimum ${point.minimum}`);
  if (point.maximum !== undefined && v > point.maximum) range(`is above the maximum ${point.maximum}`);

  const t = point.transform;
  // offset, scale, base reversed
  let pre: number | bigint = v;
  if (t.base !== undefined || t.scale !== undefined || t.offset !== undefined) {
    let f = Number(v);
    if (t.offset !== undefined) f -= t.offset;
    if (t.scale !== undefined) f /= t.scale;
    if (t.base !== undefined) {
      if (f <= 0) range(`cannot be written: base ${t.base} ** x is always positive, so ${f} has no logarithm`);
      f = Math.log(f) / Math.log(t.base);
    }
    if (!Number.isFinite(f)) range('is not finite after the reverse transforms');
    pre = isIntegerType(vt) ? BigInt(Math.round(f)) : f;
    if (typeof pre === 'bigint' && !inIntRange(vt, pre)) range(`is ${pre} after the reverse transforms, outside ${rangeText(vt)}`);
  }

  // shift and mask reversed (unsigned integers only)
  if (t.shift !== undefined || t.mask !== undefined) {
    let b = BigInt(pre);
    if (t.shift !== undefined) {
      if (t.shift > 0) {
        const r = b >> BigInt(t.shift);
        if (r << BigInt(t.shift) !== b) range(`is not a multiple of 2^${t.shift} (the read shifts left by ${t.shift})`);
        b = r;
      } else b <<= BigInt(-t.shift);
    }
    if (t.mask !== undefined) {
      if ((b & ~t.mask) !== 0n) range(`sets bits outside the mask ${t.mask} (raw ${b})`);
      if (current === undefined) throw new ErrModbusWriteNeedsCurrent({ resource: point.resource, address: point.address });
      const cur = BigInt(readRaw(point.rawType, toBytes(point, registersOf(point, current))));
      b = (cur & ~t.mask) | b;
    }
    pre = b;
  }

  // valueType -> rawType
  const rt = point.rawType;
  let raw: number | bigint;
  if (isIntegerType(rt)) {
    const b = typeof pre === 'bigint' ? pre : BigInt(Math.round(pre));
    if (!inIntRange(rt, b)) range(`needs raw ${b}, outside the register encoding ${rangeText(rt)}`);
    raw = b;
  } else {
    raw = Number(pre);
    if (rt === 'Float32' && Math.abs(raw) > FLOAT32_MAX) range(`needs raw ${raw}, outside the register encoding ${rangeText(rt)}`);
  }
  if (!isFloatType(rt) && !isIntegerType(rt)) throw new TypeError(`encode: ${rt} is not a numeric encoding`);
  return fromBytes(point, writeRaw(rt, raw));
}

function parseBool(point: ModbusPoint, value: ReadingValue): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === 'string') {
    const s = value.trim().toLowerCase();
    if (s === 'true' || s === 't' || s === '1') return true;
    if (s === 'false' || s === 'f' || s === '0') return false;
  }
  throw new ErrModbusValueType({ resource: point.resource, valueType: 'Bool', value: show(value) });
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** Integers as bigints (exact for 64-bit), floats as numbers. */
function parseNumeric(point: ModbusPoint, value: ReadingValue): number | bigint {
  const vt = point.valueType;
  const bad = (): never => {
    throw new ErrModbusValueType({ resource: point.resource, valueType: vt, value: show(value) });
  };
  if (isIntegerType(vt)) {
    if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : bad();
    if (typeof value === 'string' && /^[+-]?\d+$/.test(value.trim())) return BigInt(value.trim());
    return bad();
  }
  if (typeof value === 'number') return Number.isFinite(value) ? value : bad();
  if (typeof value === 'string' && DECIMAL.test(value.trim())) return Number(value.trim());
  return bad();
}

function encodeString(point: ModbusPoint, value: ReadingValue): number[] {
  if (typeof value !== 'string') throw new ErrModbusValueType({ resource: point.resource, valueType: 'String', value: show(value) });
  const text = utf8Encoder.encode(value);
  const capacity = point.registers * 2;
  if (text.length > capacity) {
    throw new ErrModbusValueRange({
      resource: point.resource,
      value: show(value),
      reason: `is ${text.length} bytes, longer than its ${point.registers} register(s) (${capacity} bytes)`,
    });
  }
  const bytes = new Uint8Array(capacity);
  bytes.set(text);
  return fromBytes(point, bytes);
}
