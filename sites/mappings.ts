/**
 * EdgeX value mappings at the site. Which mappings apply to a resource is
 * core/store's rule (`resourceMappings`: those of the first resourceOperation
 * naming it, in a deviceCommand that reads, or writes); this file applies
 * them, as EdgeX's device SDK does:
 *
 * - on read, a sample whose value, as text, is a key of its resource's read
 *   mappings becomes that name with valueType String (`3` -> `"Dry"`); a value
 *   the table does not name passes unchanged, with its own valueType;
 * - on write, a string that is a name in the resource's write mappings
 *   becomes the raw value its key spells, typed by the resource's valueType
 *   (`"Dry"` -> `3`); any other value passes unchanged. A key that does not
 *   spell a value of that type fails the write with EDGE_ERR_VALUE_MAPPING,
 *   naming the device, resource, name and key; the driver is not called for it.
 *
 * `withValueMappings` puts this around a driver's connection, so polls,
 * pushed samples, live reads and writes all pass through it; a profile
 * without mappings leaves the connection as it is (nothing in the hot path).
 */
import {
  readingValueProblem,
  type DeviceConnection,
  type DriverDevice,
  type ReadingValue,
  type Sample,
  type ValueType,
  type WriteRequest,
  type WriteResult,
} from '../core/sdk/index.ts';
import { resourceMappings, type ProfileSources } from '../core/store/index.ts';
import { ErrValueMapping } from './errors.ts';

/** A profile's mappings, per resource: raw value as text -> name for reads, name -> raw value as text for writes. */
export interface ValueMappings {
  read: ReadonlyMap<string, ReadonlyMap<string, string>>;
  write: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

/** The mappings of every resource of the profile; undefined when it has none. */
export function valueMappings(profile: ProfileSources): ValueMappings | undefined {
  const read = new Map<string, ReadonlyMap<string, string>>();
  const write = new Map<string, ReadonlyMap<string, string>>();
  for (const { name } of profile.deviceResources) {
    const r = resourceMappings(profile, name, 'R');
    if (r) read.set(name, new Map(Object.entries(r)));
    const w = resourceMappings(profile, name, 'W');
    if (w) {
      // Backwards: the first key that maps to a name wins.
      const back = new Map<string, string>();
      for (const [raw, mapped] of Object.entries(w)) if (!back.has(mapped)) back.set(mapped, raw);
      write.set(name, back);
    }
  }
  return read.size === 0 && write.size === 0 ? undefined : { read, write };
}

/** A scalar value as a mappings key spells it (`3`, `true`, `1.5`, the string itself); undefined for null, arrays and objects. */
export function valueText(value: ReadingValue): string | undefined {
  switch (typeof value) {
    case 'string':
      return value;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return String(value);
    default:
      return undefined;
  }
}

/** A read sample with its resource's read mappings applied. */
export function mapSample(sample: Sample, table: ReadonlyMap<string, string> | undefined): Sample {
  if (!table || sample.value === null) return sample;
  const text = valueText(sample.value);
  const mapped = text === undefined ? undefined : table.get(text);
  return mapped === undefined ? sample : { ...sample, value: mapped, valueType: 'String' };
}

const BOOL_TEXT: Readonly<Record<string, boolean>> = { '1': true, t: true, T: true, TRUE: true, true: true, True: true, '0': false, f: false, F: false, FALSE: false, false: false, False: false };

/** The value `text` spells in `valueType` (as EdgeX parses a mapping key or a default value), or why it spells none. */
export function valueFromText(text: string, valueType: ValueType): { value: ReadingValue } | { problem: string } {
  let value: ReadingValue;
  switch (valueType) {
    case 'String':
      return { value: text };
    case 'Bool':
      return text in BOOL_TEXT ? { value: BOOL_TEXT[text]! } : { problem: 'not true or false' };
    case 'Float32':
    case 'Float64':
      value = text.trim() === '' ? NaN : Number(text);
      break;
    case 'Int8':
    case 'Int16':
    case 'Int32':
    case 'Uint8':
    case 'Uint16':
    case 'Uint32':
      value = /^[-+]?\d+$/.test(text) ? Number(text) : NaN;
      break;
    case 'Int64':
    case 'Uint64': {
      if (!/^[-+]?\d+$/.test(text)) return { problem: 'not an integer' };
      const n = BigInt(text);
      value = n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
      break;
    }
    default:
      return { problem: 'mappings apply to scalar values only' };
  }
  const problem = readingValueProblem(valueType, value);
  return problem === undefined ? { value } : { problem };
}

/** A write request with its resource's write mappings applied, or the coded error of a mapping key that spells no value. */
export function unmapWrite(device: DriverDevice, request: WriteRequest, mappings: ValueMappings): { request: WriteRequest } | { error: { code: string; message: string } } {
  const table = mappings.write.get(request.resource);
  const raw = table && typeof request.value === 'string' ? table.get(request.value) : undefined;
  if (raw === undefined) return { request };
  const valueType = device.resources.find((r) => r.name === request.resource)?.valueType ?? 'String';
  const typed = valueFromText(raw, valueType);
  if ('value' in typed) return { request: { resource: request.resource, value: typed.value } };
  const err = new ErrValueMapping({ device: device.name, resource: request.resource, name: request.value as string, raw, valueType, reason: typed.problem });
  return { error: { code: err.code, message: err.message } };
}

/** The connection with the profile's mappings applied to what it reads, pushes and writes; the connection itself when the profile has none. */
export function withValueMappings(conn: DeviceConnection, device: DriverDevice, profile: ProfileSources | undefined): DeviceConnection {
  const mappings = profile && valueMappings(profile);
  if (!mappings) return conn;
  const mapAll = (samples: readonly Sample[]): Sample[] => samples.map((s) => mapSample(s, mappings.read.get(s.resource)));
  const mapped: DeviceConnection = {
    read: async (resources, signal) => mapAll(await conn.read(resources, signal)),
    async write(requests, signal) {
      const results: (WriteResult | undefined)[] = [];
      const passed: WriteRequest[] = [];
      const at: number[] = [];
      requests.forEach((req, i) => {
        const u = unmapWrite(device, req, mappings);
        if ('error' in u) results[i] = { resource: req.resource, ok: false, error: u.error };
        else {
          passed.push(u.request);
          at.push(i);
        }
      });
      if (passed.length === requests.length) return conn.write(passed, signal);
      const written = passed.length > 0 ? await conn.write(passed, signal) : [];
      at.forEach((i, j) => (results[i] = written[j]));
      return results.filter((r): r is WriteResult => r !== undefined);
    },
    close: () => conn.close(),
  };
  const subscribe = conn.subscribe?.bind(conn);
  if (subscribe) mapped.subscribe = (resources, options, sink) => subscribe(resources, options, (samples) => sink(mapAll(samples)));
  return mapped;
}
