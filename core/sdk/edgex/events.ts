/**
 * EdgeX v3 events and readings: the DTOs of go-mod-core-contracts
 * (`dtos.Event`, `dtos.BaseReading`, `requests.AddEventRequest`), written from
 * platform Readings and read back into them.
 *
 * A reading's value goes where EdgeX puts it: a `value` string for simple
 * types (values.ts: numbers as decimal text, floats as Go's 'e' format, arrays
 * as "[a, b]"), `binaryValue` (base64 in JSON) with a `mediaType` for Binary,
 * `objectValue` for Object. A Reading with no value (quality `bad`, value
 * null) is EdgeX's null reading: `value`, `binaryValue` and `objectValue` all
 * null. EdgeX readings have no quality: a Reading that is not `good` says so
 * in the reading's `tags` (`quality`, and `qualityDetail` when it has one),
 * and those tags come back as the quality; an EdgeX null reading without them
 * is a `bad` reading with qualityDetail EDGEX_NULL_READING.
 *
 * Reading back is strict where EdgeX is, and names the field: the event's
 * apiVersion (v3), id, names, origin and readings must be there; a valueType
 * is matched as EdgeX normalises it (case-insensitively) and must be a
 * platform valueType (ObjectArray is not); a value must parse as its type.
 * As EdgeX's optimised payloads (EDGEX_OPTIMIZE_EVENT_PAYLOAD) allow, a
 * reading without deviceName, profileName or origin takes the event's, and
 * the only reading of an event without resourceName takes the sourceName.
 */
import { randomUUID } from 'node:crypto';
import {
  MAX_ORIGIN,
  MAX_QUALITY_DETAIL,
  QUALITIES,
  readingValueProblem,
  VALUE_TYPES,
  type Quality,
  type Reading,
  type ReadingValue,
  type ValueType,
} from '../reading.ts';
import { ErrEdgeXEncode, ErrEdgeXField, ErrEdgeXValue, ErrEdgeXValueType } from '../errors.ts';
import { formatEdgeXValue, parseEdgeXValue } from './values.ts';

/** The apiVersion of EdgeX v3 DTOs and envelopes (`common.ApiVersion`). */
export const EDGEX_API_VERSION = 'v3';
/** The mediaType of a Binary reading when nothing says what its bytes are. */
export const EDGEX_DEFAULT_MEDIA_TYPE = 'application/octet-stream';
/** The qualityDetail of a Reading made from an EdgeX null reading that carries no quality of its own. */
export const EDGEX_NULL_READING_DETAIL = 'EDGEX_NULL_READING';

/** Fields every EdgeX reading has (`dtos.BaseReading`). */
export interface EdgeXReadingBase {
  /** A UUID (`omitempty`). */
  id?: string;
  /** Nanoseconds since the Unix epoch. */
  origin: number;
  deviceName: string;
  resourceName: string;
  profileName: string;
  valueType: string;
  units?: string;
  tags?: Record<string, unknown>;
}
/** Every valueType but Binary and Object: the value as text. */
export interface EdgeXSimpleReading extends EdgeXReadingBase {
  value: string;
}
export interface EdgeXBinaryReading extends EdgeXReadingBase {
  valueType: 'Binary';
  /** The bytes, base64 (Go's []byte in JSON). */
  binaryValue: string;
  mediaType: string;
}
export interface EdgeXObjectReading extends EdgeXReadingBase {
  valueType: 'Object';
  objectValue: unknown;
}
/** A reading without a value (EdgeX 3.1+ `NullReading`). */
export interface EdgeXNullReading extends EdgeXReadingBase {
  value: null;
  binaryValue: null;
  objectValue: null;
}
export type EdgeXReading = EdgeXSimpleReading | EdgeXBinaryReading | EdgeXObjectReading | EdgeXNullReading;

/** `dtos.Event`: readings of one device from one source (a deviceResource or deviceCommand). */
export interface EdgeXEvent {
  apiVersion: string;
  /** A UUID. */
  id: string;
  deviceName: string;
  profileName: string;
  sourceName: string;
  /** Nanoseconds since the Unix epoch. */
  origin: number;
  readings: EdgeXReading[];
  tags?: Record<string, unknown>;
}

/** `requests.AddEventRequest`: what device services publish on the message bus. */
export interface EdgeXAddEventRequest {
  apiVersion: string;
  /** A UUID. */
  requestId: string;
  event: EdgeXEvent;
}

/** A platform reading made from an EdgeX reading: what a reading sink takes. */
export type EdgeXDecodedReading = Omit<Reading, 'site' | 'seq'>;

export interface EdgeXReadingOptions {
  /** The Binary reading's mediaType (default application/octet-stream). */
  mediaType?: string;
}

/**
 * A platform Reading as an EdgeX v3 reading, its value encoded as EdgeX
 * encodes its valueType. Throws EDGE_ERR_EDGEX_ENCODE when the value does
 * not fit its valueType (the Reading contract).
 */
export function readingToEdgeX(r: Omit<Reading, 'site' | 'seq'>, opts: EdgeXReadingOptions = {}): EdgeXReading {
  const problem = readingValueProblem(r.valueType, r.value, r.quality);
  if (problem !== undefined) throw new ErrEdgeXEncode({ device: r.device, resource: r.resource, reason: problem });
  // One object, its fields in EdgeX's order, the value's fields set last (no spreads: this runs per reading).
  const out = {
    id: randomUUID(),
    origin: r.origin,
    deviceName: r.device,
    resourceName: r.resource,
    profileName: r.profile,
    valueType: r.valueType,
  } as EdgeXReadingBase & { value?: string | null; binaryValue?: string | null; mediaType?: string; objectValue?: unknown };
  if (r.units !== undefined && r.units !== '') out.units = r.units;
  if (r.quality !== 'good') out.tags = r.qualityDetail === undefined ? { quality: r.quality } : { quality: r.quality, qualityDetail: r.qualityDetail };
  if (r.value === null) {
    out.value = null;
    out.binaryValue = null;
    out.objectValue = null;
  } else if (r.valueType === 'Binary') {
    out.binaryValue = r.value as string;
    out.mediaType = opts.mediaType ?? EDGEX_DEFAULT_MEDIA_TYPE;
  } else if (r.valueType === 'Object') {
    out.objectValue = r.value;
  } else {
    out.value = formatEdgeXValue(r.valueType, r.value);
  }
  return out as EdgeXReading;
}

export interface EdgeXEventOptions extends EdgeXReadingOptions {
  /** The source the readings were read from; default the resource of the only reading. */
  sourceName?: string;
}

/**
 * Readings of one device (one profile) from one source as an EdgeX event;
 * its origin is the newest reading's. Throws EDGE_ERR_EDGEX_ENCODE for no
 * readings, readings of several devices or profiles, several readings
 * without a sourceName, or a value that does not fit its valueType.
 */
export function edgexEventOf(readings: readonly Omit<Reading, 'site' | 'seq'>[], opts: EdgeXEventOptions = {}): EdgeXEvent {
  const first = readings[0];
  if (!first) throw new ErrEdgeXEncode({ device: '-', resource: '-', reason: 'an event needs at least one reading' });
  let origin = 0;
  for (const r of readings) {
    if (r.device !== first.device || r.profile !== first.profile) {
      throw new ErrEdgeXEncode({ device: r.device, resource: r.resource, reason: `an event holds readings of one device and profile ('${first.device}', '${first.profile}')` });
    }
    if (r.origin > origin) origin = r.origin;
  }
  if (opts.sourceName === undefined && readings.length > 1) {
    throw new ErrEdgeXEncode({ device: first.device, resource: first.resource, reason: `${readings.length} readings in one event need a sourceName` });
  }
  return {
    apiVersion: EDGEX_API_VERSION,
    id: randomUUID(),
    deviceName: first.device,
    profileName: first.profile,
    sourceName: opts.sourceName ?? first.resource,
    origin,
    readings: readings.map((r) => readingToEdgeX(r, opts)),
  };
}

/** An event wrapped as device services publish it (`requests.NewAddEventRequest`). */
export function edgexAddEventRequest(event: EdgeXEvent): EdgeXAddEventRequest {
  return { apiVersion: EDGEX_API_VERSION, requestId: randomUUID(), event };
}

// ---------------------------------------------------------------------------
// Reading back

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') return 'an object';
  return typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' ? `${typeof v} ${String(v)}` : typeof v;
}

function text(o: Obj, key: string, field: string, opts: { optional: boolean }): string | undefined;
function text(o: Obj, key: string, field: string): string;
function text(o: Obj, key: string, field: string, opts: { optional?: boolean } = {}): string | undefined {
  const v = o[key];
  if (v === undefined || v === '') {
    if (opts.optional) return undefined;
    throw new ErrEdgeXField({ field: `${field}.${key}`, reason: 'is missing' });
  }
  if (typeof v !== 'string') throw new ErrEdgeXField({ field: `${field}.${key}`, reason: `is ${describe(v)}, not a string` });
  return v;
}

/** An origin in ns: a JSON number, or a CBOR integer (a bigint beyond 2^53). */
function originOf(v: unknown, field: string): number | undefined {
  if (v === undefined || v === 0 || v === 0n) return undefined;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new ErrEdgeXField({ field, reason: `is ${describe(v)}, not an integer of nanoseconds` });
  if (n < 0 || n > MAX_ORIGIN) throw new ErrEdgeXField({ field, reason: `${n} is not a time between 1970 and 2100 in nanoseconds` });
  return n;
}

const VALUE_TYPE_BY_LOWER = new Map<string, ValueType>(VALUE_TYPES.map((t) => [t.toLowerCase(), t]));

/** EdgeX's valueType as its `common.NormalizeValueType` reads it, as a platform valueType. */
function valueTypeOf(v: unknown, field: string): ValueType {
  if (typeof v !== 'string' || v === '') throw new ErrEdgeXField({ field, reason: v === undefined || v === '' ? 'is missing' : `is ${describe(v)}, not a string` });
  const t = VALUE_TYPE_BY_LOWER.get(v.toLowerCase());
  if (t) return t;
  const reason = v.toLowerCase() === 'objectarray' ? 'has no platform valueType (Object holds one JSON object)' : 'is not an EdgeX valueType';
  throw new ErrEdgeXValueType({ field, valueType: v, reason });
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The quality a reading's tags carry (written by `readingToEdgeX`), if any. */
function qualityOf(tags: unknown): { quality: Quality; qualityDetail?: string } | undefined {
  if (!isObj(tags)) return undefined;
  const q = tags.quality;
  if (typeof q !== 'string' || !(QUALITIES as readonly string[]).includes(q)) return undefined;
  const d = tags.qualityDetail;
  return typeof d === 'string' && d !== '' ? { quality: q as Quality, qualityDetail: d.slice(0, MAX_QUALITY_DETAIL) } : { quality: q as Quality };
}

/** The value of one EdgeX reading (`undefined` for a null reading). */
function valueOf(r: Obj, valueType: ValueType, field: string): ReadingValue | undefined {
  if (valueType === 'Binary') {
    const b = r.binaryValue;
    if (b === null || b === undefined) return undefined;
    if (b instanceof Uint8Array) return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
    if (typeof b !== 'string' || b.length % 4 !== 0 || !BASE64.test(b)) throw new ErrEdgeXValue({ field: `${field}.binaryValue`, valueType, reason: `${describe(b)} is not base64` });
    return b;
  }
  if (valueType === 'Object') {
    const o = r.objectValue;
    if (o === null || o === undefined) return undefined;
    if (!isObj(o)) throw new ErrEdgeXValue({ field: `${field}.objectValue`, valueType, reason: `${describe(o)} is not a JSON object` });
    return o as ReadingValue;
  }
  const v = r.value;
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'string') throw new ErrEdgeXValue({ field: `${field}.value`, valueType, reason: `${describe(v)} is not a string (EdgeX writes every value as text)` });
  return parseEdgeXValue(valueType, v, `${field}.value`);
}

/** What `edgexToReadings` found: the event's identity, and its readings as platform readings. */
export interface EdgeXDecodedEvent {
  id: string;
  deviceName: string;
  profileName: string;
  sourceName: string;
  origin: number;
  readings: EdgeXDecodedReading[];
}

/**
 * An EdgeX v3 AddEventRequest (what device services publish) or a bare Event
 * (what app services publish), as JSON parsed or CBOR decoded, as platform
 * readings with the same valueTypes. Throws a coded error naming the field:
 * EDGE_ERR_EDGEX_FIELD (missing, wrong type, wrong apiVersion, a reading of
 * another device), EDGE_ERR_EDGEX_VALUE_TYPE, EDGE_ERR_EDGEX_VALUE.
 */
export function edgexToReadings(payload: unknown): EdgeXDecodedEvent {
  if (!isObj(payload)) throw new ErrEdgeXField({ field: 'payload', reason: `is ${describe(payload)}, not an AddEventRequest or Event object` });
  let ev: Obj;
  let at: string;
  if ('event' in payload) {
    const api = text(payload, 'apiVersion', 'request');
    if (api !== EDGEX_API_VERSION) throw new ErrEdgeXField({ field: 'request.apiVersion', reason: `is '${api}', not '${EDGEX_API_VERSION}'` });
    if (!isObj(payload.event)) throw new ErrEdgeXField({ field: 'request.event', reason: `is ${describe(payload.event)}, not an object` });
    ev = payload.event;
    at = 'event';
  } else {
    ev = payload;
    at = 'event';
  }
  const api = text(ev, 'apiVersion', at);
  if (api !== EDGEX_API_VERSION) throw new ErrEdgeXField({ field: `${at}.apiVersion`, reason: `is '${api}', not '${EDGEX_API_VERSION}'` });
  const id = text(ev, 'id', at);
  const deviceName = text(ev, 'deviceName', at);
  const profileName = text(ev, 'profileName', at);
  const sourceName = text(ev, 'sourceName', at);
  const origin = originOf(ev.origin, `${at}.origin`);
  if (origin === undefined) throw new ErrEdgeXField({ field: `${at}.origin`, reason: 'is missing' });
  const list = ev.readings;
  if (!Array.isArray(list) || list.length === 0) {
    throw new ErrEdgeXField({ field: `${at}.readings`, reason: Array.isArray(list) ? 'is empty' : list === undefined ? 'is missing' : `is ${describe(list)}, not a list` });
  }
  const readings = list.map((raw: unknown, i): EdgeXDecodedReading => {
    const field = `${at}.readings[${i}]`;
    if (!isObj(raw)) throw new ErrEdgeXField({ field, reason: `is ${describe(raw)}, not an object` });
    const device = text(raw, 'deviceName', field, { optional: true }) ?? deviceName;
    if (device !== deviceName) throw new ErrEdgeXField({ field: `${field}.deviceName`, reason: `'${device}' is not the event's device '${deviceName}'` });
    const profile = text(raw, 'profileName', field, { optional: true }) ?? profileName;
    if (profile !== profileName) throw new ErrEdgeXField({ field: `${field}.profileName`, reason: `'${profile}' is not the event's profile '${profileName}'` });
    const resource = text(raw, 'resourceName', field, { optional: list.length === 1 }) ?? sourceName;
    const valueType = valueTypeOf(raw.valueType, `${field}.valueType`);
    const value = valueOf(raw, valueType, field);
    const units = text(raw, 'units', field, { optional: true });
    const tagged = qualityOf(raw.tags);
    const quality: Pick<Reading, 'quality' | 'qualityDetail'> =
      value === undefined ? { quality: 'bad', qualityDetail: tagged?.qualityDetail ?? EDGEX_NULL_READING_DETAIL } : (tagged ?? { quality: 'good' });
    return {
      device,
      profile,
      resource,
      value: value ?? null,
      valueType,
      ...(units === undefined ? {} : { units }),
      origin: originOf(raw.origin, `${field}.origin`) ?? origin,
      ...quality,
    };
  });
  return { id, deviceName, profileName, sourceName, origin, readings };
}
