/**
 * How a reading is stored in SQLite by both the site's outbox and the hub's
 * store: valueType and quality as small integer codes, the value as JSON text.
 *
 * The codes are on disk, so they come from fixed tables, not from positions
 * in VALUE_TYPES or QUALITIES: the tables are append-only. A code, once
 * given, never changes and is never reused; a new valueType or quality gets
 * the next unused number (the typecheck refuses a valueType without one).
 * The numbers are those the first files were written with, so every
 * existing outbox and store reads the same. rows.test.ts pins each code.
 */
import type { Quality, Reading, ReadingValue, ValueType } from '../sdk/index.ts';
import { ErrStoredCode } from './errors.ts';

/** The stored code of each valueType. Append-only. */
export const VALUE_TYPE_CODES: Readonly<Record<ValueType, number>> = Object.freeze({
  Bool: 0,
  String: 1,
  Uint8: 2,
  Uint16: 3,
  Uint32: 4,
  Uint64: 5,
  Int8: 6,
  Int16: 7,
  Int32: 8,
  Int64: 9,
  Float32: 10,
  Float64: 11,
  Binary: 12,
  Object: 13,
  BoolArray: 14,
  StringArray: 15,
  Uint8Array: 16,
  Uint16Array: 17,
  Uint32Array: 18,
  Uint64Array: 19,
  Int8Array: 20,
  Int16Array: 21,
  Int32Array: 22,
  Int64Array: 23,
  Float32Array: 24,
  Float64Array: 25,
});

/** The stored code of each quality. Append-only. */
export const QUALITY_CODES: Readonly<Record<Quality, number>> = Object.freeze({
  good: 0,
  uncertain: 1,
  bad: 2,
});

export const VT_CODE: ReadonlyMap<string, number> = new Map(Object.entries(VALUE_TYPE_CODES));
export const Q_CODE: ReadonlyMap<string, number> = new Map(Object.entries(QUALITY_CODES));
const VALUE_TYPE_OF = new Map(Object.entries(VALUE_TYPE_CODES).map(([name, code]) => [code, name as ValueType]));
const QUALITY_OF = new Map(Object.entries(QUALITY_CODES).map(([name, code]) => [code, name as Quality]));

/** The stored columns after site: seq, origin, device, profile, resource, vt, q, value, units, detail. */
export type ReadingColumns = [seq: number, origin: number, device: string, profile: string, resource: string, vt: number, q: number, value: string, units: string | null, detail: string | null];

/** A stored row as a Reading; a code this version does not know (a file from a newer one) is EDGE_ERR_TELEMETRY_STORED_CODE. */
export function readingFromColumns(site: string, [seq, origin, device, profile, resource, vt, q, value, units, detail]: ReadingColumns): Reading {
  const valueType = VALUE_TYPE_OF.get(vt);
  if (valueType === undefined) throw new ErrStoredCode({ site, seq, column: 'vt', code: vt });
  const quality = QUALITY_OF.get(q);
  if (quality === undefined) throw new ErrStoredCode({ site, seq, column: 'q', code: q });
  const r: Reading = {
    site,
    device,
    profile,
    resource,
    value: JSON.parse(value) as ReadingValue,
    valueType,
    origin,
    quality,
    seq,
  };
  if (units !== null) r.units = units;
  if (detail !== null) r.qualityDetail = detail;
  return r;
}
