/**
 * The Reading: one value of one device resource at one instant. Field names
 * and valueTypes follow EdgeX's reading DTO (deviceName -> device,
 * resourceName -> resource, profileName -> profile, origin in nanoseconds,
 * valueType names verbatim), so `toEdgeXReading` is a rename, not a mapping.
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

/** What a driver reports for one resource; the platform completes it into a Reading. */
export const SampleSchema = Type.Object(
  {
    resource: Type.String({ minLength: 1, maxLength: 256 }),
    value: ValueSchema,
    valueType: Type.Union(VALUE_TYPES.map((v) => Type.Literal(v))),
    units: Type.Optional(Type.String({ maxLength: 64 })),
    /** Nanoseconds since the Unix epoch when the value was taken at the source. */
    origin: Type.Integer({ minimum: 0 }),
    quality: Type.Union(QUALITIES.map((q) => Type.Literal(q))),
    /** Protocol detail behind a non-good quality (e.g. `MODBUS_EXCEPTION_2`, `BadNodeIdUnknown`). */
    qualityDetail: Type.Optional(Type.String({ maxLength: 256 })),
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
    /** Per-site sequence number, assigned by the site's outbox; the hub is idempotent on (site, seq). */
    seq: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);

export interface Reading extends Sample {
  site: string;
  device: string;
  profile: string;
  seq: number;
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

/** EdgeX v3 reading DTO shape (simple readings): values are strings. */
export interface EdgeXReading {
  origin: number;
  deviceName: string;
  resourceName: string;
  profileName: string;
  valueType: ValueType;
  units?: string;
  value: string;
}

export function toEdgeXReading(r: Reading): EdgeXReading {
  const value = typeof r.value === 'string' ? r.value : JSON.stringify(r.value);
  return {
    origin: r.origin,
    deviceName: r.device,
    resourceName: r.resource,
    profileName: r.profile,
    valueType: r.valueType,
    ...(r.units === undefined ? {} : { units: r.units }),
    value,
  };
}
