/**
 * OPC UA built-in DataTypes <-> platform ValueTypes.
 *
 * Reading: a server Variant becomes its natural JSON value (`fromVariant`):
 * numbers, booleans and strings as such; Int64/UInt64 as numbers when safe
 * and decimal strings beyond (as `reading.ts` says); DateTime as ISO 8601;
 * ByteString as base64; LocalizedText as its text; QualifiedName as
 * `ns:name`; NodeId, Guid and StatusCode names as text; structures as JSON;
 * arrays as arrays; matrices as `{ dimensions, values }`. `conform` then fits
 * that value to the resource's valueType, or says why it does not fit.
 *
 * Writing: `toVariant` encodes a JSON value as the node's own DataType and
 * ValueRank (read from the server), with range checks and no silent
 * truncation: an Int16 node refuses 40000, an integer node refuses 1.5.
 * Strings are accepted where EdgeX sends them (`"42"`, `"true"`, `"[1,2]"`).
 */
import type { ReadingValue, ValueType } from '../../../core/sdk/index.ts';
import { ErrOpcuaValueRange, ErrOpcuaValueType, ErrOpcuaWriteUnsupported } from './errors.ts';

/** OPC UA built-in type ids (Part 6, 5.1.2). */
export const BUILTIN = {
  Null: 0,
  Boolean: 1,
  SByte: 2,
  Byte: 3,
  Int16: 4,
  UInt16: 5,
  Int32: 6,
  UInt32: 7,
  Int64: 8,
  UInt64: 9,
  Float: 10,
  Double: 11,
  String: 12,
  DateTime: 13,
  Guid: 14,
  ByteString: 15,
  XmlElement: 16,
  NodeId: 17,
  ExpandedNodeId: 18,
  StatusCode: 19,
  QualifiedName: 20,
  LocalizedText: 21,
  ExtensionObject: 22,
  DataValue: 23,
  Variant: 24,
  DiagnosticInfo: 25,
} as const;
export type BuiltinName = keyof typeof BUILTIN;

const NAMES = Object.fromEntries(Object.entries(BUILTIN).map(([k, v]) => [v, k])) as Record<number, BuiltinName>;

export function builtinName(id: number): string {
  return NAMES[id] ?? `DataType(${id})`;
}

/** Variant array types (node-opcua VariantArrayType). */
export const ARRAY_TYPE = { Scalar: 0, Array: 1, Matrix: 2 } as const;

/** What the driver knows of a variable node: its built-in type and ValueRank. */
export interface NodeMeta {
  builtin: number;
  /** -3 ScalarOrOneDimension, -2 Any, -1 Scalar, 0 OneOrMoreDimensions, 1 array, n>1 matrix. */
  valueRank: number;
}

/** A Variant as node-opcua carries it. */
export interface VariantLike {
  dataType: number;
  arrayType: number;
  value: unknown;
  dimensions?: number[] | null;
}

/** The Variant to send: node-opcua's `new Variant(...)` takes this as is. */
export interface VariantInit {
  dataType: number;
  arrayType: number;
  value: unknown;
}

const INT_RANGE: Partial<Record<number, [bigint, bigint]>> = {
  [BUILTIN.SByte]: [-128n, 127n],
  [BUILTIN.Byte]: [0n, 255n],
  [BUILTIN.Int16]: [-32768n, 32767n],
  [BUILTIN.UInt16]: [0n, 65535n],
  [BUILTIN.Int32]: [-2147483648n, 2147483647n],
  [BUILTIN.UInt32]: [0n, 4294967295n],
  [BUILTIN.Int64]: [-(2n ** 63n), 2n ** 63n - 1n],
  [BUILTIN.UInt64]: [0n, 2n ** 64n - 1n],
};

const VALUE_TYPE_RANGE: Partial<Record<ValueType, [bigint, bigint]>> = {
  Int8: INT_RANGE[BUILTIN.SByte]!,
  Uint8: INT_RANGE[BUILTIN.Byte]!,
  Int16: INT_RANGE[BUILTIN.Int16]!,
  Uint16: INT_RANGE[BUILTIN.UInt16]!,
  Int32: INT_RANGE[BUILTIN.Int32]!,
  Uint32: INT_RANGE[BUILTIN.UInt32]!,
  Int64: INT_RANGE[BUILTIN.Int64]!,
  Uint64: INT_RANGE[BUILTIN.UInt64]!,
};

const FLOAT32_MAX = 3.4028234663852886e38;

const SCALAR_OF: Record<number, ValueType> = {
  [BUILTIN.Boolean]: 'Bool',
  [BUILTIN.SByte]: 'Int8',
  [BUILTIN.Byte]: 'Uint8',
  [BUILTIN.Int16]: 'Int16',
  [BUILTIN.UInt16]: 'Uint16',
  [BUILTIN.Int32]: 'Int32',
  [BUILTIN.UInt32]: 'Uint32',
  [BUILTIN.Int64]: 'Int64',
  [BUILTIN.UInt64]: 'Uint64',
  [BUILTIN.Float]: 'Float32',
  [BUILTIN.Double]: 'Float64',
  [BUILTIN.String]: 'String',
  [BUILTIN.DateTime]: 'String',
  [BUILTIN.Guid]: 'String',
  [BUILTIN.ByteString]: 'Binary',
  [BUILTIN.XmlElement]: 'String',
  [BUILTIN.NodeId]: 'String',
  [BUILTIN.ExpandedNodeId]: 'String',
  [BUILTIN.StatusCode]: 'String',
  [BUILTIN.QualifiedName]: 'String',
  [BUILTIN.LocalizedText]: 'String',
};

/** The valueType a node's values read as naturally: Int16 -> Int16, Double[] -> Float64Array, structures -> Object. */
export function naturalValueType(meta: NodeMeta): ValueType {
  const scalar = SCALAR_OF[meta.builtin] ?? 'Object';
  if (meta.valueRank === -1 || meta.valueRank === -2 || meta.valueRank === -3) return scalar;
  if (meta.valueRank !== 1) return 'Object';
  if (scalar === 'Binary' || scalar === 'Object') return 'Object';
  return `${scalar}Array` as ValueType;
}

function int64Of(v: unknown, signed: boolean): number | string {
  if (!Array.isArray(v) || v.length !== 2) return textOf(v);
  const raw = (BigInt((v[0] as number) >>> 0) << 32n) | BigInt((v[1] as number) >>> 0);
  const b = signed ? BigInt.asIntN(64, raw) : raw;
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b.toString();
}

interface TextLike {
  text?: string | null;
  name?: string | null;
  namespaceIndex?: number;
  toString(): string;
}

/** Text of a value node-opcua decoded: strings as they are, objects (NodeId, Guid...) through their own toString. */
function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return textOf(v);
  if (v && typeof v === 'object') return (v as { toString(): string }).toString();
  return '';
}

function scalarOf(dataType: number, v: unknown): ReadingValue {
  if (v === null || v === undefined) return null;
  switch (dataType) {
    case BUILTIN.Boolean:
      return Boolean(v);
    case BUILTIN.Int64:
      return int64Of(v, true);
    case BUILTIN.UInt64:
      return int64Of(v, false);
    case BUILTIN.SByte:
    case BUILTIN.Byte:
    case BUILTIN.Int16:
    case BUILTIN.UInt16:
    case BUILTIN.Int32:
    case BUILTIN.UInt32:
    case BUILTIN.Float:
    case BUILTIN.Double:
      return typeof v === 'number' ? v : Number(v);
    case BUILTIN.String:
    case BUILTIN.XmlElement:
      return textOf(v);
    case BUILTIN.DateTime:
      return v instanceof Date ? (Number.isNaN(v.getTime()) ? null : v.toISOString()) : textOf(v);
    case BUILTIN.ByteString:
      return Buffer.isBuffer(v) ? v.toString('base64') : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : textOf(v);
    case BUILTIN.LocalizedText:
      return (v as TextLike).text ?? null;
    case BUILTIN.QualifiedName: {
      const q = v as TextLike;
      return q.namespaceIndex ? `${q.namespaceIndex}:${q.name ?? ''}` : (q.name ?? '');
    }
    case BUILTIN.StatusCode: {
      const name = (v as { name?: unknown }).name;
      return typeof name === 'string' ? name : textOf(v);
    }
    case BUILTIN.NodeId:
    case BUILTIN.ExpandedNodeId:
    case BUILTIN.Guid:
      return textOf(v);
    case BUILTIN.Variant: {
      const inner = v as VariantLike;
      return fromVariant(inner);
    }
    default:
      return toJson(v);
  }
}

/** A structure as plain JSON (bigints as decimal strings, buffers as base64). */
function toJson(v: unknown): ReadingValue {
  const text = JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return x.toString();
    if (x && typeof x === 'object' && (x as { type?: unknown }).type === 'Buffer' && Array.isArray((x as { data?: unknown }).data)) {
      return Buffer.from((x as { data: number[] }).data).toString('base64');
    }
    return x;
  });
  return text === undefined ? null : (JSON.parse(text) as ReadingValue);
}

/** A server Variant as its natural JSON value. */
export function fromVariant(v: VariantLike): ReadingValue {
  if (v.arrayType === ARRAY_TYPE.Scalar) return scalarOf(v.dataType, v.value);
  const items = v.value === null || v.value === undefined ? [] : Array.from(v.value as ArrayLike<unknown>, (x) => scalarOf(v.dataType, x));
  if (v.arrayType === ARRAY_TYPE.Matrix) return { dimensions: [...(v.dimensions ?? [])], values: items };
  return items;
}

const ARRAY_ELEMENT: Partial<Record<ValueType, ValueType>> = {
  BoolArray: 'Bool',
  StringArray: 'String',
  Uint8Array: 'Uint8',
  Uint16Array: 'Uint16',
  Uint32Array: 'Uint32',
  Uint64Array: 'Uint64',
  Int8Array: 'Int8',
  Int16Array: 'Int16',
  Int32Array: 'Int32',
  Int64Array: 'Int64',
  Float32Array: 'Float32',
  Float64Array: 'Float64',
};

function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function conformScalar(v: ReadingValue, vt: ValueType): { value: ReadingValue } | { problem: string } {
  if (v === null) return { value: null };
  const range = VALUE_TYPE_RANGE[vt];
  if (range) {
    let b: bigint | undefined;
    if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
    else if (typeof v === 'string' && /^-?\d+$/.test(v)) b = BigInt(v);
    if (b === undefined) return { problem: `${show(v)} is not an integer` };
    if (b < range[0] || b > range[1]) return { problem: `${show(v)} is outside the range of ${vt}` };
    return { value: typeof v === 'number' ? v : b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : v };
  }
  switch (vt) {
    case 'Bool':
      return typeof v === 'boolean' ? { value: v } : { problem: `${show(v)} is not a boolean` };
    case 'Float32':
    case 'Float64': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN;
      if (typeof v !== 'number' && Number.isNaN(n)) return { problem: `${show(v)} is not a number` };
      if (!Number.isFinite(n)) return { problem: `${String(n)} is not a reading` };
      return { value: n };
    }
    case 'String':
      return { value: typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v) };
    case 'Binary':
      return typeof v === 'string' ? { value: v } : { problem: `${show(v)} is not binary` };
    case 'Object':
      return { value: v };
    default:
      return { problem: `${vt} cannot hold ${show(v)}` };
  }
}

/** Fits a natural value to the resource's valueType; a problem says why it does not fit. */
export function conform(v: ReadingValue, vt: ValueType): { value: ReadingValue } | { problem: string } {
  const element = ARRAY_ELEMENT[vt];
  if (element) {
    if (v === null) return { value: null };
    if (!Array.isArray(v)) return { problem: `${vt} needs an array, the server sent ${show(v)}` };
    const out: ReadingValue[] = [];
    for (let i = 0; i < v.length; i++) {
      const c = conformScalar(v[i]!, element);
      if ('problem' in c) return { problem: `item ${i}: ${c.problem}` };
      out.push(c.value);
    }
    return { value: out };
  }
  if (Array.isArray(v) && vt !== 'Object' && vt !== 'String') return { problem: `${vt} is a scalar, the server sent an array of ${v.length}` };
  return conformScalar(v, vt);
}

/** Limits a write must respect besides the DataType's own range. */
export interface WriteLimits {
  minimum?: number;
  maximum?: number;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const INTEGER = /^[+-]?\d+$/;
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function encodeScalar(resource: string, builtin: number, v: ReadingValue, limits: WriteLimits): unknown {
  const typeName = builtinName(builtin);
  const bad = (reason?: string): never => {
    throw new ErrOpcuaValueType({ resource, dataType: typeName, value: show(v), ...(reason ? { reason } : {}) });
  };
  const outOfRange = (reason: string): never => {
    throw new ErrOpcuaValueRange({ resource, value: show(v), reason });
  };
  const checkLimits = (n: number): void => {
    if (limits.minimum !== undefined && n < limits.minimum) outOfRange(`is below the minimum ${limits.minimum}`);
    if (limits.maximum !== undefined && n > limits.maximum) outOfRange(`is above the maximum ${limits.maximum}`);
  };
  const intRange = INT_RANGE[builtin];
  if (intRange) {
    let b: bigint | undefined;
    if (typeof v === 'number') b = Number.isInteger(v) ? BigInt(v) : bad('not an integer');
    else if (typeof v === 'string' && INTEGER.test(v.trim())) b = BigInt(v.trim());
    else bad();
    const n = b as bigint;
    if (n < intRange[0] || n > intRange[1]) outOfRange(`is outside the range of ${typeName} (${intRange[0]}..${intRange[1]})`);
    checkLimits(Number(n));
    if (builtin === BUILTIN.Int64 || builtin === BUILTIN.UInt64) {
      const u = BigInt.asUintN(64, n);
      return [Number(u >> 32n), Number(u & 0xffffffffn)];
    }
    return Number(n);
  }
  switch (builtin) {
    case BUILTIN.Boolean: {
      if (typeof v === 'boolean') return v;
      if (v === 0 || v === 1) return v === 1;
      if (typeof v === 'string') {
        const s = v.trim().toLowerCase();
        if (s === 'true' || s === '1') return true;
        if (s === 'false' || s === '0') return false;
      }
      return bad();
    }
    case BUILTIN.Float:
    case BUILTIN.Double: {
      const n = typeof v === 'number' ? v : typeof v === 'string' && DECIMAL.test(v.trim()) ? Number(v.trim()) : bad();
      if (!Number.isFinite(n)) bad('not finite');
      if (builtin === BUILTIN.Float && Math.abs(n) > FLOAT32_MAX) outOfRange('is outside the range of Float (32-bit)');
      checkLimits(n);
      return n;
    }
    case BUILTIN.String:
    case BUILTIN.XmlElement:
      return typeof v === 'string' ? v : bad();
    case BUILTIN.LocalizedText:
      if (typeof v === 'string') return { text: v };
      if (v && typeof v === 'object' && !Array.isArray(v) && typeof v.text === 'string') {
        return { text: v.text, ...(typeof v.locale === 'string' ? { locale: v.locale } : {}) };
      }
      return bad('a string, or { "text", "locale" }');
    case BUILTIN.DateTime: {
      const d = typeof v === 'number' ? new Date(v) : typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v.trim()) ? new Date(v.trim()) : bad('an ISO 8601 date-time or epoch milliseconds');
      if (Number.isNaN(d.getTime())) bad('not a valid date');
      return d;
    }
    case BUILTIN.ByteString:
      return typeof v === 'string' && BASE64.test(v.trim()) ? Buffer.from(v.trim(), 'base64') : bad('base64');
    case BUILTIN.Guid:
      return typeof v === 'string' && GUID.test(v.trim()) ? v.trim() : bad();
    default:
      throw new ErrOpcuaWriteUnsupported({ resource, dataType: typeName });
  }
}

/** An array written as JSON, or as a string holding a JSON array (as EdgeX sends it). */
function asArray(v: ReadingValue): ReadingValue[] | undefined {
  if (Array.isArray(v)) return v;
  if (typeof v === 'string' && v.trim().startsWith('[')) {
    try {
      const parsed = JSON.parse(v) as unknown;
      return Array.isArray(parsed) ? (parsed as ReadingValue[]) : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Encodes a JSON value for a node of `meta`'s DataType and ValueRank; a coded error names the resource. */
export function toVariant(resource: string, value: ReadingValue, meta: NodeMeta, limits: WriteLimits = {}): VariantInit {
  if (meta.valueRank > 1) throw new ErrOpcuaWriteUnsupported({ resource, dataType: `${builtinName(meta.builtin)} matrix (ValueRank ${meta.valueRank})` });
  const wantsArray = meta.valueRank === 1 || meta.valueRank === 0;
  const mayBeArray = wantsArray || meta.valueRank === -2 || meta.valueRank === -3;
  const items = mayBeArray ? asArray(value) : undefined;
  if (wantsArray && !items) throw new ErrOpcuaValueType({ resource, dataType: `${builtinName(meta.builtin)}[]`, value: show(value), reason: 'the node holds an array' });
  if (items) {
    const encoded = items.map((x, i) => encodeScalar(`${resource}[${i}]`, meta.builtin, x, limits));
    return { dataType: meta.builtin, arrayType: ARRAY_TYPE.Array, value: typedArray(meta.builtin, encoded) };
  }
  if (Array.isArray(value)) throw new ErrOpcuaValueType({ resource, dataType: builtinName(meta.builtin), value: show(value), reason: 'the node holds a scalar' });
  return { dataType: meta.builtin, arrayType: ARRAY_TYPE.Scalar, value: encodeScalar(resource, meta.builtin, value, limits) };
}

function typedArray(builtin: number, items: unknown[]): unknown {
  switch (builtin) {
    case BUILTIN.SByte:
      return Int8Array.from(items as number[]);
    case BUILTIN.Byte:
      return Uint8Array.from(items as number[]);
    case BUILTIN.Int16:
      return Int16Array.from(items as number[]);
    case BUILTIN.UInt16:
      return Uint16Array.from(items as number[]);
    case BUILTIN.Int32:
      return Int32Array.from(items as number[]);
    case BUILTIN.UInt32:
      return Uint32Array.from(items as number[]);
    case BUILTIN.Float:
      return Float32Array.from(items as number[]);
    case BUILTIN.Double:
      return Float64Array.from(items as number[]);
    default:
      return items;
  }
}
