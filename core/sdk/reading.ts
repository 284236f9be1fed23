/**
 * The Reading: one value of one device resource at one instant. Field names
 * and valueTypes follow EdgeX's reading DTO (deviceName -> device,
 * resourceName -> resource, profileName -> profile, origin in nanoseconds,
 * valueType names verbatim). `readingToEdgeX` (edgex/events.ts) writes one as
 * an EdgeX v3 reading, its value encoded as EdgeX encodes its valueType.
 */
import Type from 'typebox';

export const SCALAR_VALUE_TYPES = [
  'Bool',
  'String',
  'Uint8',
  'Uint16',
  'Uint32',
  'Uint64',
  'Int8',
  'Int16',
  'Int32',
  'Int64',
  'Float32',
  'Float64',
  'Binary',
  'Object',
] as const;

export const ARRAY_VALUE_TYPES = [
  'BoolArray',
  'StringArray',
  'Uint8Array',
  'Uint16Array',
  'Uint32Array',
  'Uint64Array',
  'Int8Array',
  'Int16Array',
  'Int32Array',
  'Int64Array',
  'Float32Array',
  'Float64Array',
] as const;

export const VALUE_TYPES = [...SCALAR_VALUE_TYPES, ...ARRAY_VALUE_TYPES] as const;
export type ValueType = (typeof VALUE_TYPES)[number];

/** good: trustworthy; uncertain: usable with care (stale, clamped, substituted); bad: not a valid measurement. */
/**
 * The values a JSON number may take for each integer valueType: the type's
 * own range, cut to the safe integers for the 64-bit types (beyond them a
 * reading carries a decimal string).
 */
export const INTEGER_RANGES: Readonly<Partial<Record<ValueType, readonly [number, number]>>> = {
  Uint8: [0, 255],
  Uint16: [0, 65535],
  Uint32: [0, 4294967295],
  Uint64: [0, Number.MAX_SAFE_INTEGER],
  Int8: [-128, 127],
  Int16: [-32768, 32767],
  Int32: [-2147483648, 2147483647],
  Int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};
/** The valueTypes whose values are JSON numbers. */
export const NUMERIC_VALUE_TYPES: ReadonlySet<string> = new Set(['Uint8', 'Uint16', 'Uint32', 'Uint64', 'Int8', 'Int16', 'Int32', 'Int64', 'Float32', 'Float64']);

export const QUALITIES = ['good', 'uncertain', 'bad'] as const;
export type Quality = (typeof QUALITIES)[number];

/**
 * A reading's value. 64-bit integers outside the safe integer range travel as
 * decimal strings; Binary as base64; Object as a JSON object.
 */
export type ReadingValue = boolean | number | string | null | ReadingValue[] | { [key: string]: ReadingValue };

const ValueSchema = Type.Union([Type.Boolean(), Type.Number(), Type.String(), Type.Null(), Type.Array(Type.Unknown()), Type.Object({})]);

/** The latest origin a reading may carry: 2100-01-01T00:00:00Z, in ns. Beyond it an origin is a fault, not a time. */
export const MAX_ORIGIN = 4_102_444_800_000_000_000;

/** A value as messages name it: `the string "abc"`, `number 3`, `an array`, `null`. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${v}`;
  return typeof v;
}

const DECIMAL_RE = /^-?(0|[1-9]\d{0,19})$/;
const INT64_RANGE = [-(2n ** 63n), 2n ** 63n - 1n] as const;
const UINT64_RANGE = [0n, 2n ** 64n - 1n] as const;

/**
 * Why `value` is not a value of `valueType` as a Reading carries it, or
 * undefined when it is: integers within their type's range (64-bit ones as
 * safe integers or decimal strings), finite numbers for floats, base64 for
 * Binary, a JSON object for Object, arrays item by item. A `bad` reading may
 * carry null instead (there was no value to take).
 */
export function readingValueProblem(valueType: ValueType, value: unknown, quality: Quality = 'good'): string | undefined {
  if (value === null) return quality === 'bad' ? undefined : `null is a value only for quality 'bad'`;
  if (valueType.endsWith('Array')) {
    if (!Array.isArray(value)) return `${describeValue(value)} is not an array (valueType ${valueType})`;
    const inner = valueType.slice(0, -'Array'.length) as ValueType;
    for (let i = 0; i < value.length; i++) {
      const p = readingValueProblem(inner, value[i], 'good');
      if (p) return `item ${i}: ${p}`;
    }
    return undefined;
  }
  if (valueType === 'Int64' || valueType === 'Uint64') {
    const [lo, hi] = valueType === 'Int64' ? INT64_RANGE : UINT64_RANGE;
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) return `${describeValue(value)} is not a safe integer (beyond 2^53 a ${valueType} travels as a decimal string)`;
      if (BigInt(value) < lo) return `${value} is outside the ${valueType} range`;
      return undefined;
    }
    if (typeof value !== 'string' || !DECIMAL_RE.test(value)) return `${describeValue(value)} is not an integer or a decimal string (valueType ${valueType})`;
    const b = BigInt(value);
    return b < lo || b > hi ? `${value} is outside the ${valueType} range` : undefined;
  }
  const range = INTEGER_RANGES[valueType];
  if (range) {
    if (typeof value !== 'number' || !Number.isInteger(value)) return `${describeValue(value)} is not an integer (valueType ${valueType})`;
    return value < range[0] || value > range[1] ? `${value} is outside ${range[0]}..${range[1]} (valueType ${valueType})` : undefined;
  }
  switch (valueType) {
    case 'Float32':
    case 'Float64':
      if (typeof value !== 'number' || !Number.isFinite(value)) return `${describeValue(value)} is not a finite number (valueType ${valueType})`;
      return valueType === 'Float32' && Math.abs(value) > 3.4028234663852886e38 ? `${value} is outside the Float32 range` : undefined;
    case 'Bool':
      return typeof value === 'boolean' ? undefined : `${describeValue(value)} is not a boolean (valueType Bool)`;
    case 'String':
      return typeof value === 'string' ? undefined : `${describeValue(value)} is not a string (valueType String)`;
    case 'Binary':
      return typeof value === 'string' && value.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(value) ? undefined : `${describeValue(value)} is not base64 (valueType Binary)`;
    case 'Object':
      return typeof value === 'object' && !Array.isArray(value) ? undefined : `${describeValue(value)} is not an object (valueType Object)`;
    default:
      return `valueType ${String(valueType)} is not known`;
  }
}

/** The longest qualityDetail a Sample may carry. */
export const MAX_QUALITY_DETAIL = 256;

/**
 * A qualityDetail: the code, then what caused it (`EDGE_ERR_MODBUS_CONNECT
 * connect ECONNREFUSED 127.0.0.1:1502`), cut to MAX_QUALITY_DETAIL. The
 * cause is the failure's own reason, not a message that repeats the code's
 * context, so a device's status can show it as it is.
 */
export function formatQualityDetail(code: string, cause?: string): string {
  const text = cause ? `${code} ${cause.replace(/\s+/g, ' ').trim()}` : code;
  return text.length > MAX_QUALITY_DETAIL ? `${text.slice(0, MAX_QUALITY_DETAIL - 1)}…` : text;
}

/** What a driver reports for one resource; the platform completes it into a Reading. */
export const SampleSchema = Type.Object(
  {
    resource: Type.String({ minLength: 1, maxLength: 256 }),
    value: ValueSchema,
    valueType: Type.Union(VALUE_TYPES.map((v) => Type.Literal(v))),
    units: Type.Optional(Type.String({ maxLength: 64 })),
    /** Nanoseconds since the Unix epoch when the value was taken at the source; before 2100. */
    origin: Type.Integer({ minimum: 0, maximum: MAX_ORIGIN }),
    quality: Type.Union(QUALITIES.map((q) => Type.Literal(q))),
    /** Protocol detail behind a non-good quality (e.g. `MODBUS_EXCEPTION_2`, `BadNodeIdUnknown`). */
    qualityDetail: Type.Optional(Type.String({ maxLength: MAX_QUALITY_DETAIL })),
  },
  { additionalProperties: false },
);

export interface Sample {
  resource: string;
  value: ReadingValue;
  valueType: ValueType;
  units?: string;
  origin: number;
  quality: Quality;
  qualityDetail?: string;
}

export const ReadingSchema = Type.Object(
  {
    site: Type.String({ minLength: 1, maxLength: 63 }),
    device: Type.String({ minLength: 1, maxLength: 253 }),
    profile: Type.String({ minLength: 1, maxLength: 253 }),
    ...SampleSchema.properties,
    /**
     * Sequence number in its producer's stream, assigned by the site's outbox
     * from 1 on; the hub keeps one copy per (site, producer, stream, seq).
     */
    seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
  },
  { additionalProperties: false },
);

export interface Reading extends Sample {
  site: string;
  device: string;
  profile: string;
  seq: number;
}

/**
 * A reading as the hub holds it: `stream` names the producer stream it came
 * in (`<producer>/<stream id>`, the producer being the credential that sent
 * it: `node:<name>` or `token:<id>`). Consumers de-duplicate on
 * (site, stream, seq).
 */
export interface StoredReading extends Reading {
  stream: string;
}

const NS_PER_MS = 1_000_000;
const hrBase = process.hrtime.bigint();
const wallBaseNs = BigInt(Date.now()) * 1_000_000n;

/**
 * Now, in nanoseconds since the epoch: wall clock at process start advanced by
 * the monotonic clock. A JS number holds it to within 256 ns.
 */
export function nowOrigin(): number {
  return Number(wallBaseNs + (process.hrtime.bigint() - hrBase));
}

export function originFromDate(d: Date | number): number {
  return (typeof d === 'number' ? d : d.getTime()) * NS_PER_MS;
}

export function originToDate(origin: number): Date {
  return new Date(Math.floor(origin / NS_PER_MS));
}
