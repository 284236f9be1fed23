/**
 * Profile resources as MQTT points, and payloads as values.
 *
 * Resource attributes:
 *   topic          'telemetry' relative to the device's base topic, or '/plant/x/temp'
 *                  absolute (the leading '/' is dropped); default: the resource name
 *   payload        'json' (default) | 'number' (the payload is one number as text)
 *                  | 'text' (the payload is the value, for String resources)
 *   path           field of a json payload: 'a.b[0].c' (default: the whole document)
 *   timestampPath  field of a json payload holding the source time: epoch seconds,
 *                  milliseconds, microseconds or nanoseconds (told apart by size),
 *                  or an ISO 8601 string; without it the origin is the arrival time
 *   trueValue      for Bool resources: the value that means true, and falseValue the one
 *   falseValue     that means false ('ON'/'OFF', 1/0, 'open'/'closed'); compared as is,
 *                  then as text, as Home Assistant does; anything else is a bad sample.
 *                  With both set, payload 'text' may carry a Bool.
 *   commandTopic   where a write of this resource is published instead of the device's
 *                  JSON command envelope (relative to the base topic, or '/absolute')
 *   commandPayload 'raw' (with commandTopic): the bare value is published, as Home
 *                  Assistant devices expect: numbers as decimal text, strings as they
 *                  are, Bool as commandTrue / commandFalse (default: trueValue /
 *                  falseValue when they are strings, else 'true' / 'false'). A raw
 *                  command has no answer: it succeeds once the broker took it, and the
 *                  value reads back from the state topic when the device reports it.
 *
 * A value is checked against the resource's valueType as it arrives: JSON
 * types are not coerced (a string where a Float64 is expected is a bad
 * sample with detail EDGE_ERR_MQTT_VALUE_TYPE).
 */
import { describeValue, NUMERIC_VALUE_TYPES, readingValueProblem, VALUE_TYPES, type DriverIssue, type DriverResource, type ReadingValue, type ValueType } from '../../../core/sdk/index.ts';
import { ISSUE } from './errors.ts';
import { topicProblem } from './protocol.ts';

export type PayloadKind = 'json' | 'number' | 'text';
export type PathStep = string | number;

export interface MqttPoint {
  resource: string;
  valueType: ValueType;
  readWrite: 'R' | 'W' | 'RW';
  units?: string;
  /** Absolute topic; undefined for write-only resources without one. */
  topic?: string;
  payload: PayloadKind;
  path: PathStep[];
  timestampPath?: PathStep[];
  /** Bool mapping of the values the device sends. */
  boolValues?: { true: unknown; false: unknown };
  /** A raw command topic (Home Assistant style) instead of the JSON envelope. */
  rawCommand?: { topic: string; true: string; false: string };
}

function sameScalar(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);
  const ta = text(a);
  return ta !== undefined && ta === text(b);
}

function isScalar(v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/** 'a.b[0].c' → ['a', 'b', 0, 'c']; undefined when malformed. '' is the whole document. */
export function parsePath(raw: string): PathStep[] | undefined {
  if (raw === '' || raw === '$') return [];
  const src = raw.startsWith('$.') ? raw.slice(2) : raw;
  const steps: PathStep[] = [];
  const re = /([^.[\]]+)|\[(\d+)\]|(\.)/y;
  // What may come next: at the start a key or an index; after a step a dot or an index; after a dot a key.
  let state: 'start' | 'step' | 'dot' = 'start';
  while (re.lastIndex < src.length) {
    const m = re.exec(src);
    if (!m) return undefined;
    if (m[1] !== undefined) {
      if (state === 'step') return undefined;
      steps.push(m[1]);
    } else if (m[2] !== undefined) {
      if (state === 'dot') return undefined;
      steps.push(Number(m[2]));
    } else {
      if (state !== 'step') return undefined;
      state = 'dot';
      continue;
    }
    state = 'step';
  }
  return state === 'step' ? steps : undefined;
}

export function select(doc: unknown, path: readonly PathStep[]): { found: true; value: unknown } | { found: false } {
  let cur: unknown = doc;
  for (const step of path) {
    if (typeof step === 'number') {
      if (!Array.isArray(cur) || step >= cur.length) return { found: false };
      cur = cur[step];
    } else {
      if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, step)) return { found: false };
      cur = (cur as Record<string, unknown>)[step];
    }
  }
  return { found: true, value: cur };
}

/** Why `v` is not a value of `t`, or undefined when it is: the SDK's rule for reading values (a payload's null is no value). */
export function valueTypeProblem(t: ValueType, v: unknown): string | undefined {
  return readingValueProblem(t, v, 'good');
}

/** Source time in ns from epoch s / ms / µs / ns (by magnitude) or an ISO string; undefined when not a time. */
export function originOf(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) {
    if (v >= 1e17) return Math.round(v);
    if (v >= 1e14) return Math.round(v * 1e3);
    if (v >= 1e11) return Math.round(v * 1e6);
    return Math.round(v * 1e9);
  }
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v)) {
    const ms = Date.parse(v);
    return Number.isNaN(ms) ? undefined : ms * 1e6;
  }
  return undefined;
}

export type Extracted =
  | { ok: true; value: ReadingValue; origin?: number; originProblem?: string }
  | { ok: false; detail: string; reason: string };

/**
 * The point's value out of a payload (already parsed when json). A value
 * that is missing or not of the valueType is `ok: false` with a coded detail.
 */
export function extract(point: MqttPoint, raw: Buffer, doc: unknown): Extracted {
  let value: unknown;
  if (point.payload === 'text') value = raw.toString('utf8');
  else if (point.payload === 'number') {
    const text = raw.toString('utf8').trim();
    value = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text) ? Number(text) : text;
    if (typeof value === 'string') return { ok: false, detail: 'EDGE_ERR_MQTT_VALUE_TYPE', reason: `payload ${describeValue(value)} is not a number` };
  } else {
    const s = select(doc, point.path);
    if (!s.found) return { ok: false, detail: 'EDGE_ERR_MQTT_PATH_MISSING', reason: `the payload has no field ${pathText(point.path)}` };
    value = s.value;
  }
  if (point.boolValues) {
    if (sameScalar(value, point.boolValues.true)) value = true;
    else if (sameScalar(value, point.boolValues.false)) value = false;
    else {
      return {
        ok: false,
        detail: 'EDGE_ERR_MQTT_VALUE_TYPE',
        reason: `${describeValue(value)} is neither trueValue ${JSON.stringify(point.boolValues.true)} nor falseValue ${JSON.stringify(point.boolValues.false)}`,
      };
    }
  }
  const problem = valueTypeProblem(point.valueType, value);
  if (problem) return { ok: false, detail: 'EDGE_ERR_MQTT_VALUE_TYPE', reason: problem };
  if (point.timestampPath && point.payload === 'json') {
    const t = select(doc, point.timestampPath);
    const origin = t.found ? originOf(t.value) : undefined;
    if (origin === undefined) return { ok: true, value: value as ReadingValue, originProblem: t.found ? `${describeValue(t.value)} is not a time` : `no field ${pathText(point.timestampPath)}` };
    return { ok: true, value: value as ReadingValue, origin };
  }
  return { ok: true, value: value as ReadingValue };
}

export function pathText(path: readonly PathStep[]): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('') || '(document)';
}

/** The device's resources as points, or every problem with them, each naming the resource and field. */
export function resolvePoints(resources: readonly DriverResource[], baseTopic: string): { points: MqttPoint[]; issues: DriverIssue[] } {
  const issues: DriverIssue[] = [];
  const points: MqttPoint[] = [];
  const seen = new Set<string>();
  resources.forEach((r, i) => {
    const at = (f: string): string => `deviceResources[${i}](${r.name}).${f}`;
    const before = issues.length;
    if (seen.has(r.name)) issues.push({ path: at('name'), code: ISSUE.duplicate, message: `resource '${r.name}' is defined twice` });
    seen.add(r.name);
    if (!(VALUE_TYPES as readonly string[]).includes(r.valueType)) issues.push({ path: at('properties.valueType'), code: ISSUE.type, message: `'${String(r.valueType)}' is not a valueType` });
    if (!['R', 'W', 'RW'].includes(r.readWrite)) issues.push({ path: at('properties.readWrite'), code: ISSUE.type, message: `readWrite must be R, W or RW, got ${JSON.stringify(r.readWrite)}` });
    const a = r.attributes;
    let topic: string | undefined;
    const rawTopic = a.topic;
    if (rawTopic === undefined) topic = r.readWrite === 'W' ? undefined : `${baseTopic}/${r.name}`;
    else if (typeof rawTopic !== 'string') issues.push({ path: at('attributes.topic'), code: ISSUE.topic, message: `topic must be a string, got ${JSON.stringify(rawTopic)}` });
    else {
      topic = rawTopic.startsWith('/') ? rawTopic.slice(1) : `${baseTopic}/${rawTopic}`;
      const problem = rawTopic === '' || rawTopic === '/' ? 'is empty' : topicProblem(topic);
      if (problem) issues.push({ path: at('attributes.topic'), code: ISSUE.topic, message: `topic '${rawTopic}' ${problem}` });
    }
    const payload = (a.payload ?? 'json') as PayloadKind;
    if (!['json', 'number', 'text'].includes(payload)) {
      issues.push({ path: at('attributes.payload'), code: ISSUE.payload, message: `payload must be json, number or text, got ${JSON.stringify(a.payload)}` });
    } else if (payload === 'number' && !NUMERIC_VALUE_TYPES.has(r.valueType)) {
      issues.push({ path: at('attributes.payload'), code: ISSUE.payload, message: `payload 'number' needs a numeric valueType, not ${r.valueType}` });
    }
    let boolValues: MqttPoint['boolValues'];
    if (a.trueValue !== undefined || a.falseValue !== undefined) {
      if (r.valueType !== 'Bool') issues.push({ path: at('attributes.trueValue'), code: ISSUE.payload, message: `trueValue and falseValue apply only to valueType Bool, not ${r.valueType}` });
      else if (!isScalar(a.trueValue) || !isScalar(a.falseValue)) {
        issues.push({ path: at(isScalar(a.trueValue) ? 'attributes.falseValue' : 'attributes.trueValue'), code: ISSUE.payload, message: 'trueValue and falseValue must both be set, each a string, number or boolean' });
      } else if (sameScalar(a.trueValue, a.falseValue)) {
        issues.push({ path: at('attributes.falseValue'), code: ISSUE.payload, message: `falseValue must differ from trueValue (${JSON.stringify(a.trueValue)})` });
      } else boolValues = { true: a.trueValue, false: a.falseValue };
    }
    if (payload === 'text' && r.valueType !== 'String' && !(r.valueType === 'Bool' && boolValues)) {
      issues.push({ path: at('attributes.payload'), code: ISSUE.payload, message: `payload 'text' needs valueType String (or Bool with trueValue and falseValue), not ${r.valueType}` });
    }
    let rawCommand: MqttPoint['rawCommand'];
    if (a.commandPayload !== undefined && a.commandPayload !== 'raw' && a.commandPayload !== 'json') {
      issues.push({ path: at('attributes.commandPayload'), code: ISSUE.payload, message: `commandPayload must be raw or json, got ${JSON.stringify(a.commandPayload)}` });
    } else if (a.commandPayload === 'raw' || a.commandTopic !== undefined) {
      const rawTopic = a.commandTopic;
      if (r.readWrite === 'R') issues.push({ path: at('attributes.commandTopic'), code: ISSUE.topic, message: 'a read-only resource takes no commandTopic' });
      else if (a.commandPayload !== 'raw') issues.push({ path: at('attributes.commandPayload'), code: ISSUE.payload, message: "commandTopic needs commandPayload 'raw' (JSON commands use the device's commandTopic)" });
      else if (typeof rawTopic !== 'string' || rawTopic === '' || rawTopic === '/') {
        issues.push({ path: at('attributes.commandTopic'), code: ISSUE.topic, message: `commandPayload 'raw' needs a commandTopic, got ${JSON.stringify(rawTopic)}` });
      } else {
        const t = rawTopic.startsWith('/') ? rawTopic.slice(1) : `${baseTopic}/${rawTopic}`;
        const problem = topicProblem(t);
        if (problem) issues.push({ path: at('attributes.commandTopic'), code: ISSUE.topic, message: `commandTopic '${rawTopic}' ${problem}` });
        const asText = (v: unknown, dflt: string): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : dflt);
        const onText = a.commandTrue ?? (typeof a.trueValue === 'string' ? a.trueValue : undefined);
        const offText = a.commandFalse ?? (typeof a.falseValue === 'string' ? a.falseValue : undefined);
        rawCommand = { topic: t, true: asText(onText, 'true'), false: asText(offText, 'false') };
      }
    }
    const pathField = (name: 'path' | 'timestampPath'): PathStep[] | undefined => {
      const raw = a[name];
      if (raw === undefined) return undefined;
      if (payload !== 'json') {
        issues.push({ path: at(`attributes.${name}`), code: ISSUE.path, message: `${name} applies only to payload 'json'` });
        return undefined;
      }
      const steps = typeof raw === 'string' ? parsePath(raw) : undefined;
      if (!steps) issues.push({ path: at(`attributes.${name}`), code: ISSUE.path, message: `${name} must be a field path like 'a.b[0].c', got ${JSON.stringify(raw)}` });
      return steps;
    };
    const path = pathField('path') ?? [];
    const timestampPath = pathField('timestampPath');
    if (issues.length > before) return;
    points.push({
      resource: r.name,
      valueType: r.valueType,
      readWrite: r.readWrite,
      ...(r.units ? { units: r.units } : {}),
      ...(topic === undefined ? {} : { topic }),
      payload,
      path,
      ...(timestampPath ? { timestampPath } : {}),
      ...(boolValues ? { boolValues } : {}),
      ...(rawCommand ? { rawCommand } : {}),
    });
  });
  return { points, issues };
}
