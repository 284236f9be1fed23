/**
 * How a reading is stored in SQLite by both the site's outbox and the hub's
 * store: valueType and quality as small integer codes, the value as JSON text.
 */
import { QUALITIES, VALUE_TYPES, type Quality, type Reading, type ReadingValue, type ValueType } from '../sdk/index.ts';

export const VT_CODE = new Map<string, number>(VALUE_TYPES.map((v, i) => [v, i]));
export const Q_CODE = new Map<string, number>(QUALITIES.map((q, i) => [q, i]));

/** The stored columns after site: seq, origin, device, profile, resource, vt, q, value, units, detail. */
export type ReadingColumns = [seq: number, origin: number, device: string, profile: string, resource: string, vt: number, q: number, value: string, units: string | null, detail: string | null];

export function readingFromColumns(site: string, [seq, origin, device, profile, resource, vt, q, value, units, detail]: ReadingColumns): Reading {
  const r: Reading = {
    site,
    device,
    profile,
    resource,
    value: JSON.parse(value) as ReadingValue,
    valueType: VALUE_TYPES[vt] as ValueType,
    origin,
    quality: QUALITIES[q] as Quality,
    seq,
  };
  if (units !== null) r.units = units;
  if (detail !== null) r.qualityDetail = detail;
  return r;
}
