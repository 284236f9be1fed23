/**
 * EdgeX device-mqtt v3's multi-level topic layout (`UseTopicLevels`), as
 * device-mqtt-go's driver speaks it, for devices with `layout: edgex`:
 *
 *   data     the device publishes on `<incomingTopic>/<deviceName>/<source>`, the
 *            source a deviceCommand or a deviceResource of its profile, the payload
 *            a JSON object keyed by resource name. A command source must be
 *            readable and needs a value of every resource of its
 *            resourceOperations; a resource source must be readable. Anything
 *            else refuses the whole message (device-mqtt logs and drops it).
 *   GET      `<CommandTopic>/<resource>/get/<uuid>` with an empty payload, one per
 *            resource (device-mqtt sends the SDK's per-resource requests, even
 *            for a deviceCommand); the device answers on `<responseTopic>/<uuid>`
 *            with a JSON object holding the resource's value.
 *   SET      `{ "<resource>": value }` on `<CommandTopic>/<resource>/set/<uuid>`;
 *            any answer on `<responseTopic>/<uuid>` means done.
 *
 * Values are cast as device-mqtt's `newResult` does (spf13/cast after
 * `checkValueInRange`), so numbers may come as JSON numbers or as text
 * ("4.20e+01"): see `castEdgeXValue`. The platform's own layout keeps its
 * no-coercion rule (profile.ts).
 */
import { parseEdgeXValue, VALUE_TYPES, type DriverCommand, type DriverIssue, type DriverResource, type ReadingValue, type ValueType } from '../../../core/sdk/index.ts';
import { ISSUE } from './errors.ts';
import type { EdgeXTarget } from './protocol.ts';

/** A resource as the layout needs it. */
export interface EdgeXResource {
  name: string;
  valueType: ValueType;
  readWrite: 'R' | 'W' | 'RW';
  units?: string;
}

/** The device's resources and commands, by name. */
export interface EdgeXModel {
  resources: ReadonlyMap<string, EdgeXResource>;
  commands: ReadonlyMap<string, DriverCommand>;
}

const RW = ['R', 'W', 'RW'];

/** The profile's resources and deviceCommands as a model, or every problem, each naming its field. */
export function resolveEdgeXModel(resources: readonly DriverResource[], commands: readonly DriverCommand[] = []): { model: EdgeXModel; issues: DriverIssue[] } {
  const issues: DriverIssue[] = [];
  const byName = new Map<string, EdgeXResource>();
  resources.forEach((r, i) => {
    const at = (f: string): string => `deviceResources[${i}](${r.name}).${f}`;
    const before = issues.length;
    if (byName.has(r.name)) issues.push({ path: at('name'), code: ISSUE.duplicate, message: `resource '${r.name}' is defined twice` });
    if (!(VALUE_TYPES as readonly string[]).includes(r.valueType)) issues.push({ path: at('properties.valueType'), code: ISSUE.type, message: `'${String(r.valueType)}' is not a valueType` });
    if (!RW.includes(r.readWrite)) issues.push({ path: at('properties.readWrite'), code: ISSUE.type, message: `readWrite must be R, W or RW, got ${JSON.stringify(r.readWrite)}` });
    if (issues.length === before) byName.set(r.name, { name: r.name, valueType: r.valueType, readWrite: r.readWrite, ...(r.units ? { units: r.units } : {}) });
  });
  const byCommand = new Map<string, DriverCommand>();
  commands.forEach((c, i) => {
    const at = (f: string): string => `deviceCommands[${i}](${c.name}).${f}`;
    const before = issues.length;
    if (!RW.includes(c.readWrite)) issues.push({ path: at('readWrite'), code: ISSUE.command, message: `readWrite must be R, W or RW, got ${JSON.stringify(c.readWrite)}` });
    c.resources.forEach((name, j) => {
      if (!resources.some((r) => r.name === name)) issues.push({ path: at(`resourceOperations[${j}].deviceResource`), code: ISSUE.command, message: `the profile has no resource '${name}'` });
    });
    if (issues.length === before) byCommand.set(c.name, c);
  });
  return { model: { resources: byName, commands: byCommand }, issues };
}

/** What the device itself may do on the site broker: publish its data and answers, subscribe to its commands. */
export function edgexDeviceTopics(t: EdgeXTarget): { publish: string[]; subscribe: string[] } {
  return { publish: [`${t.incomingTopic}/${t.deviceName}/#`, `${t.responseTopic}/+`], subscribe: [`${t.commandTopic}/#`] };
}

/** The filter the driver subscribes for the device's data: one level, the source. */
export function edgexDataFilter(t: EdgeXTarget): string {
  return `${t.incomingTopic}/${t.deviceName}/+`;
}

/** The topic of a GET or SET command. */
export function edgexCommandTopic(t: EdgeXTarget, resource: string, method: 'get' | 'set', uuid: string): string {
  return `${t.commandTopic}/${resource}/${method}/${uuid}`;
}

/** The uuid of an answer on `<responseTopic>/<uuid>`: its last level. */
export function edgexAnswerId(topic: string): string {
  return topic.slice(topic.lastIndexOf('/') + 1);
}

/** Why a data message was refused: `malformed` (not a JSON object) or `mismatched` (source, resource or value). */
export interface EdgeXRefusal {
  kind: 'malformed' | 'mismatched';
  reason: string;
}

/** A data message's values, in the order of the source's resources; or why it is refused as a whole. */
export function decodeEdgeXData(model: EdgeXModel, source: string, payload: Buffer): { values: { resource: EdgeXResource; value: ReadingValue }[] } | { refused: EdgeXRefusal } {
  const refuse = (kind: EdgeXRefusal['kind'], reason: string): { refused: EdgeXRefusal } => ({ refused: { kind, reason } });
  let wanted: EdgeXResource[];
  const command = model.commands.get(source);
  if (command) {
    if (!command.readWrite.includes('R')) return refuse('mismatched', `deviceCommand '${source}' is not readable`);
    wanted = [];
    for (const name of command.resources) {
      const r = model.resources.get(name);
      if (!r) return refuse('mismatched', `resource '${name}' of deviceCommand '${source}' is not on the device`);
      wanted.push(r);
    }
  } else {
    const r = model.resources.get(source);
    if (!r) return refuse('mismatched', `source '${source}' is neither a deviceCommand nor a deviceResource of the device`);
    if (!r.readWrite.includes('R')) return refuse('mismatched', `deviceResource '${source}' is not readable`);
    wanted = [r];
  }
  const doc = jsonObject(payload);
  if (typeof doc === 'string') return refuse('malformed', doc);
  const values: { resource: EdgeXResource; value: ReadingValue }[] = [];
  for (const r of wanted) {
    if (!Object.hasOwn(doc, r.name)) return refuse('mismatched', `resource '${r.name}' is not in the payload`);
    const cast = castEdgeXValue(r.valueType, doc[r.name]);
    if ('problem' in cast) return refuse('mismatched', `resource '${r.name}': ${cast.problem}`);
    values.push({ resource: r, value: cast.value });
  }
  return { values };
}

/** The payload as a JSON object, or why it is not one. */
export function jsonObject(payload: Buffer): Record<string, unknown> | string {
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return `not JSON: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return `not a JSON object (${doc === null ? 'null' : Array.isArray(doc) ? 'an array' : typeof doc})`;
  return doc as Record<string, unknown>;
}

/** The body of a SET command: `{ "<resource>": value }`; a 64-bit integer held as a decimal string goes as a JSON number, as Go writes it. */
export function edgexSetPayload(r: EdgeXResource, value: ReadingValue): string {
  const big = (r.valueType === 'Int64' || r.valueType === 'Uint64') && typeof value === 'string';
  return `{${JSON.stringify(r.name)}:${big ? value : JSON.stringify(value)}}`;
}

// ---- device-mqtt's newResult: checkValueInRange, then spf13/cast ----

const FLOAT32_MAX = 3.4028234663852886e38;
const INT_RANGES: Partial<Record<ValueType, readonly [bigint, bigint]>> = {
  Int8: [-128n, 127n],
  Int16: [-32768n, 32767n],
  Int32: [-(2n ** 31n), 2n ** 31n - 1n],
  Int64: [-(2n ** 63n), 2n ** 63n - 1n],
  Uint8: [0n, 255n],
  Uint16: [0n, 65535n],
  Uint32: [0n, 2n ** 32n - 1n],
  Uint64: [0n, 2n ** 64n - 1n],
};
const INT64: readonly [bigint, bigint] = [-(2n ** 63n), 2n ** 63n - 1n];

/** Go's strconv underscoreOK: underscores only between digits, or between a base prefix and a digit. */
function underscoreOK(s: string): boolean {
  let t = s;
  if (t.startsWith('-') || t.startsWith('+')) t = t.slice(1);
  let saw = '^';
  let i = 0;
  let hex = false;
  if (t.length >= 2 && t[0] === '0' && /[bBoOxX]/.test(t[1]!)) {
    i = 2;
    saw = '0';
    hex = t[1]!.toLowerCase() === 'x';
  }
  for (; i < t.length; i++) {
    const c = t[i]!;
    if ((c >= '0' && c <= '9') || (hex && /[a-fA-F]/.test(c))) {
      saw = '0';
      continue;
    }
    if (c === '_') {
      if (saw !== '0') return false;
      saw = '_';
      continue;
    }
    if (saw === '_') return false;
    saw = '!';
  }
  return saw !== '_';
}

/** cast's trimZeroDecimal: "12.00" → "12", "12.01" stays. */
function trimZeroDecimal(s: string): string {
  let foundZero = false;
  for (let i = s.length; i > 0; i--) {
    const c = s[i - 1];
    if (c === '.') {
      if (foundZero) return s.slice(0, i - 1);
    } else if (c === '0') foundZero = true;
    else return s;
  }
  return s;
}

/** Go's strconv.ParseInt(s, 0, 64): sign, base prefix 0x / 0o / 0b / 0 (octal), underscores; undefined when it does not parse or is beyond int64. */
export function goParseInt(s: string): bigint | undefined {
  let t = s;
  let neg = false;
  if (t.startsWith('+') || t.startsWith('-')) {
    neg = t.startsWith('-');
    t = t.slice(1);
  }
  if (t === '' || !underscoreOK(s)) return undefined;
  let base = 10;
  let digits = t;
  if (t[0] === '0' && t.length > 1) {
    const p = t[1]!.toLowerCase();
    if (t.length >= 3 && (p === 'x' || p === 'o' || p === 'b')) {
      base = p === 'x' ? 16 : p === 'o' ? 8 : 2;
      digits = t.slice(2);
    } else {
      base = 8;
      digits = t.slice(1);
    }
  }
  digits = digits.replaceAll('_', '');
  const ok = base === 16 ? /^[0-9a-fA-F]+$/ : base === 8 ? /^[0-7]+$/ : base === 2 ? /^[01]+$/ : /^\d+$/;
  if (!ok.test(digits)) return undefined;
  const prefix = base === 16 ? '0x' : base === 8 ? '0o' : base === 2 ? '0b' : '';
  const v = BigInt(prefix + digits) * (neg ? -1n : 1n);
  return v < INT64[0] || v > INT64[1] ? undefined : v;
}

const DECIMAL_FLOAT = /^[+-]?(\d[\d_]*(\.[\d_]*)?|\.\d[\d_]*)([eE][+-]?\d[\d_]*)?$/;
const HEX_FLOAT = /^([+-]?)0[xX]([\da-fA-F_]*)(?:\.([\da-fA-F_]*))?[pP]([+-]?\d[\d_]*)$/;
const SPECIAL_FLOAT = /^([+-]?)(inf|infinity)$|^nan$/i;

/** Go's strconv.ParseFloat(s, 64): decimal or hexadecimal (with a p exponent), underscores between digits, Inf and NaN; undefined when it does not parse or is beyond float64. */
export function goParseFloat(s: string): number | undefined {
  const special = SPECIAL_FLOAT.exec(s);
  if (special) return s.toLowerCase() === 'nan' ? Number.NaN : special[1] === '-' ? -Infinity : Infinity;
  const hex = HEX_FLOAT.exec(s);
  let n: number;
  if (hex) {
    if (!underscoreOK(s.replace(/[pP].*$/, ''))) return undefined;
    const int = (hex[2] ?? '').replaceAll('_', '');
    const frac = (hex[3] ?? '').replaceAll('_', '');
    if (int === '' && frac === '') return undefined;
    n = Number(BigInt(`0x${int}${frac}`)) * 2 ** (Number(hex[4]!.replaceAll('_', '')) - 4 * frac.length);
    if (hex[1] === '-') n = -n;
  } else {
    if (!DECIMAL_FLOAT.test(s) || !underscoreOK(s.replace(/[eE].*$/, ''))) return undefined;
    n = Number(s.replaceAll('_', ''));
  }
  return Number.isFinite(n) ? n : undefined;
}

/** Go's strconv.FormatFloat(f, 'f', -1, 64): the shortest digits that read back, never an exponent. */
export function formatGoFixed(f: number): string {
  const text = String(f);
  const e = text.indexOf('e');
  if (e < 0) return text;
  const neg = text.startsWith('-');
  const m = text.slice(neg ? 1 : 0, e);
  const dot = m.indexOf('.');
  const digits = m.replace('.', '');
  // Where the decimal point falls in `digits`.
  const point = (dot < 0 ? m.length : dot) + Number(text.slice(e + 1));
  const body = point <= 0 ? `0.${'0'.repeat(-point)}${digits}` : point >= digits.length ? digits + '0'.repeat(point - digits.length) : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return (neg ? '-' : '') + body;
}

/** An integer as a Reading carries it: a number, or beyond 2^53 a decimal string. */
function integerValue(v: bigint): number | string {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

/**
 * A value of a device-mqtt payload as a Reading value of `valueType`, cast as
 * device-mqtt-go's `newResult` does (its range check, then spf13/cast):
 *
 *   Bool          true/false; a number: not 0; text as Go's ParseBool (1 t T TRUE true True, 0 f F...); null: false
 *   String        text; a number in Go's shortest fixed notation (1e21 → "1000000000000000000000"); true/false; null: ""
 *   Int8..Int64   a number, its fraction cut off; text as Go's ParseInt with base prefixes
 *                 (0x1f, 0o17, 0b101, 017 octal, 1_000), a ".0…" tail dropped first
 *                 ("42.00" → 42, "42.5" refused); true: 1, false and null: 0; in the type's range
 *   Uint8..Uint64 the same, refused when negative (text only up to the Int64 maximum, as cast reads it)
 *   Float32/64    a number; text as Go's ParseFloat ("4.20e+01", "0x1p-2"); true: 1, false and null: 0;
 *                 NaN, infinities and Float32 values beyond its range refused; Float32 rounded to float32
 *   Object        a JSON object, as it is (device-mqtt takes anything: the platform needs an object)
 * Anything else (an object or array where a scalar is due, the Array and Binary types) is refused.
 */
export function castEdgeXValue(valueType: ValueType, raw: unknown): { value: ReadingValue } | { problem: string } {
  const shown = (): string => {
    if (typeof raw === 'string') return JSON.stringify(raw.length > 40 ? `${raw.slice(0, 40)}…` : raw);
    if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
    return raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw;
  };
  const problem = (why: string): { problem: string } => ({ problem: `${shown()} ${why} (valueType ${valueType})` });
  const scalar = raw === null || typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean';
  if (valueType === 'Object') return raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? { value: raw as ReadingValue } : problem('is not an object');
  if (!scalar) return problem('does not cast');
  switch (valueType) {
    case 'Bool':
      if (typeof raw === 'boolean') return { value: raw };
      if (raw === null) return { value: false };
      if (typeof raw === 'number') return { value: raw !== 0 };
      try {
        return { value: parseEdgeXValue('Bool', raw, 'value') };
      } catch {
        return problem('is not true or false as Go reads it');
      }
    case 'String':
      return { value: raw === null ? '' : typeof raw === 'number' ? formatGoFixed(raw) : String(raw) };
    case 'Float32':
    case 'Float64': {
      let n: number | undefined;
      if (typeof raw === 'number') n = raw;
      else if (typeof raw === 'boolean') n = raw ? 1 : 0;
      else if (raw === null) n = 0;
      else {
        n = goParseFloat(raw);
        if (n === undefined) return problem('is not a number as Go reads it');
      }
      if (Number.isNaN(n) || !Number.isFinite(n)) return problem('is not a finite number');
      if (valueType === 'Float64') return { value: n };
      return Math.abs(n) > FLOAT32_MAX ? problem('is outside the Float32 range') : { value: Math.fround(n) };
    }
    default: {
      const range = INT_RANGES[valueType];
      if (!range) return problem('is of a valueType device-mqtt does not read');
      let v: bigint | undefined;
      if (typeof raw === 'number') {
        const t = Math.trunc(raw);
        if (valueType.startsWith('U') && raw < 0) return problem('is negative');
        v = Number.isFinite(t) ? BigInt(t) : undefined;
        if (v === undefined || v < INT64[0] || v > INT_RANGES.Uint64![1]) return problem('is beyond the 64-bit range');
      } else if (typeof raw === 'boolean') v = raw ? 1n : 0n;
      else if (raw === null) v = 0n;
      else {
        v = goParseInt(trimZeroDecimal(raw));
        if (v === undefined) return problem('is not an integer as Go reads it');
        if (valueType.startsWith('U') && v < 0n) return problem('is negative');
      }
      if (v < range[0] || v > range[1]) return problem(`is outside ${range[0]}..${range[1]}`);
      return { value: integerValue(v) };
    }
  }
}
