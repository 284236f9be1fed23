/**
 * Device onboarding: announcements seen on the site broker turned into a
 * *proposed* Device (protocol block `protocols.mqtt`) and DeviceProfile that
 * an operator approves. Pure parsing and mapping: no broker, no network.
 *
 * Two sources:
 *
 * 1. Home Assistant MQTT discovery. Config messages on
 *    `<prefix>/<component>/[<node_id>/]<object_id>/config` (prefix default
 *    `homeassistant`), one entity per message; an empty payload removes the
 *    entity. Components `sensor`, `binary_sensor`, `switch`, `number` and
 *    `select` are mapped, others are ignored with a reason. Keys may be
 *    abbreviated as Home Assistant documents (`stat_t`, `cmd_t`, `val_tpl`,
 *    `dev` with `ids`/`mf`/`mdl`/`sw`...), and `~` at the start or end of a
 *    `*_topic` value stands for the `~` base topic. Entities sharing a
 *    `device.identifiers` (or `connections`) value are one device; an entity
 *    without a device block is a device of its own, by `unique_id`.
 *    Each entity becomes one device resource:
 *      sensor         Float64 when it has a unit, a state_class or a numeric device_class, else String; R
 *      binary_sensor  Bool, R; `trueValue`/`falseValue` from payload_on/payload_off (default ON/OFF)
 *      switch         Bool; state from state_on/state_off (default payload_on/payload_off);
 *                     RW with a command topic (W without a state topic)
 *      number         Float64, RW; minimum/maximum from min/max (default 1/100), step in properties.optional
 *      select         String, RW; `options` in the attributes
 *    A `value_template` of the forms `{{ value }}`, `{{ value_json.a.b }}`,
 *    `{{ value_json['a'] }}`, `{{ value_json.a[0] }}`, optionally followed by
 *    `| float`, `| int` or `| round(n)`, becomes the resource's payload kind
 *    and `path`; any other template keeps the resource as String over the whole
 *    payload (`payload: 'text'`) with a warning. Home Assistant commands
 *    publish the raw value on the entity's own command topic, so writable
 *    resources carry `commandTopic` and `commandPayload: 'raw'` (plus
 *    `commandTrue`/`commandFalse` for Bool) instead of using the device's
 *    JSON command envelope.
 *
 * 2. Native announce, on `edgeadm/announce/<deviceId>`:
 *
 *      {
 *        "id": "pump-7",                    required, equal to <deviceId> in the topic
 *        "name": "Pump 7",                  display name
 *        "manufacturer": "acme", "model": "P-200", "swVersion": "1.4.2",
 *        "topic": "plant/pumps/7",          base topic (default edgeadm/<site>/<id>)
 *        "resources": [                     at least one
 *          { "name": "flow", "valueType": "Float64", "units": "m3/h",
 *            "readWrite": "R" | "W" | "RW" (default R),
 *            "topic": "telemetry",          relative to the base topic, or '/abs/topic' (default: the name)
 *            "payload": "json" | "number" | "text" (default json),
 *            "path": "sensors[0].flow",     field of a json payload
 *            "minimum": 0, "maximum": 40, "description": "..." }
 *        ],
 *        "labels": { "line": "3" }          proposed labels for the Device
 *      }
 *
 *    Writable resources take the JSON command envelope of protocol.ts on
 *    `<topic>/command` and answer on `<topic>/response`. Every problem is a
 *    coded issue naming its field (`resources[2].valueType`).
 *
 * Payloads over 64 KiB, payloads that are not a JSON object and fields of the
 * wrong type are reported as coded issues, never thrown.
 */
import { createHash } from 'node:crypto';
import { Value } from 'typebox/value';
import { labelKeyProblem, labelValueProblem, Type, VALUE_TYPES, type DriverResource, type ValueType } from '../../../core/sdk/index.ts';
import { parsePath, resolvePoints } from './profile.ts';
import { readProtocol, topicProblem } from './protocol.ts';

/** Largest announcement or discovery config accepted. */
export const MAX_ANNOUNCE_BYTES = 64 * 1024;
export const DEFAULT_DISCOVERY_PREFIX = 'homeassistant';
export const ANNOUNCE_TOPIC_PREFIX = 'edgeadm/announce';

export const DISCOVERY_CODES = {
  /** A native announce (edgeadm/announce/<id>) that cannot be used. */
  announce: 'EDGE_ERR_MQTT_ANNOUNCE',
  /** A Home Assistant discovery config that cannot be used. */
  homeassistant: 'EDGE_ERR_MQTT_HA_DISCOVERY',
} as const;

/** A problem with an announcement, naming the field (`resources[2].valueType`, `stat_t`); '' is the whole payload. */
export interface CodedIssue {
  code: string;
  path: string;
  message: string;
}

export interface ProposedResource {
  name: string;
  description?: string;
  tags?: Record<string, unknown>;
  /** Read by profile.ts: topic, payload, path, and for Home Assistant entities the mapping attributes described above. */
  attributes: Record<string, unknown>;
  properties: {
    valueType: ValueType;
    readWrite: 'R' | 'W' | 'RW';
    units?: string;
    minimum?: number;
    maximum?: number;
    optional?: Record<string, unknown>;
  };
}

/** A DeviceProfile spec body (valid against the store's DeviceProfileSpecSchema). */
export interface ProposedProfile {
  manufacturer?: string;
  model?: string;
  description?: string;
  labels?: string[];
  deviceResources: ProposedResource[];
}

export interface Announcement {
  source: 'homeassistant' | 'announce';
  /** Site whose broker carried the announcement. */
  site: string;
  /** Stable identity of the announced device within the site (HA device identifier or unique_id; native id). */
  id: string;
  /** A DNS-1123 label (at most 40 characters) derived from name and id, usable as Device name suffix; not guaranteed unique. */
  suggestedName: string;
  manufacturer?: string;
  model?: string;
  swVersion?: string;
  displayName?: string;
  /** protocols.mqtt block for the Device (topic, commandTopic, ...). */
  protocol: Record<string, string>;
  /** DeviceProfileSpec body. */
  profile: ProposedProfile;
  /** Proposed labels for the Device (native announce only). */
  labels?: Record<string, string>;
  /** Topics the device itself publishes/subscribes (for the broker ACL of an approved device). */
  topics: { publish: string[]; subscribe: string[] };
  warnings: string[];
}

// ---------------------------------------------------------------------------
// Shared helpers

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${v}`;
  return typeof v;
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list)];
}

function slug(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

const MAX_SUGGESTED = 40;

/**
 * A DNS-1123 label for a device: the slug of its display name with the tail
 * of the last word of its id (`living-room-a2b3c4`), or the slug of its id; cut to 40
 * characters with a hash of the id when longer.
 */
export function suggestName(id: string, displayName?: string): string {
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 8);
  const idSlug = slug(id);
  const nameSlug = displayName === undefined ? '' : slug(displayName);
  const tail = (id.split(/[^A-Za-z0-9]+/).filter((x) => x !== '').pop() ?? '').slice(-6).toLowerCase();
  let s = nameSlug && nameSlug !== idSlug && tail ? `${nameSlug}-${tail}` : idSlug || nameSlug;
  if (s === '') return `device-${hash}`;
  if (s.length > MAX_SUGGESTED) s = `${s.slice(0, MAX_SUGGESTED - 9).replace(/-+$/, '')}-${hash}`;
  return s;
}

/** Longest common leading topic levels of the topics' parent levels ('' when none). */
function commonBase(topics: readonly string[]): string {
  if (topics.length === 0) return '';
  const parents = topics.map((t) => t.split('/').slice(0, -1));
  const first = parents[0]!;
  let n = first.length;
  for (const p of parents) {
    let i = 0;
    while (i < n && i < p.length && p[i] === first[i]) i++;
    n = i;
  }
  return first.slice(0, n).join('/');
}

/** A topic as a resource attribute: relative to the base topic when under it, else absolute ('/a/b'). */
function relative(base: string, topic: string): string {
  return base !== '' && topic.startsWith(`${base}/`) ? topic.slice(base.length + 1) : `/${topic}`;
}

function asDriverResources(resources: readonly ProposedResource[]): DriverResource[] {
  return resources.map((r) => ({
    name: r.name,
    valueType: r.properties.valueType,
    readWrite: r.properties.readWrite,
    ...(r.properties.units ? { units: r.properties.units } : {}),
    attributes: r.attributes,
    properties: r.properties,
  }));
}

// ---------------------------------------------------------------------------
// value_template

/**
 * What a Home Assistant `value_template` selects: `{}` for the whole payload
 * (`{{ value }}`), `{ json: true, path }` for a field of a JSON payload
 * (`{{ value_json.a['b'][0] | float | round(1) }}`; path '' is the whole
 * document), or undefined when the template is not one of these forms.
 */
export function mapValueTemplate(template: string): { json?: true; path?: string } | undefined {
  const m = /^\s*\{\{-?([\s\S]*?)-?\}\}\s*$/.exec(template);
  if (!m || m[1]!.includes('{{') || m[1]!.includes('}}') || m[1]!.includes('{%')) return undefined;
  let rest = m[1]!.trim();
  const head = /^(value_json|value)(?![A-Za-z0-9_])/.exec(rest);
  if (!head) return undefined;
  rest = rest.slice(head[0].length);
  let path = '';
  if (head[1] === 'value_json') {
    for (;;) {
      const dot = /^\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)/.exec(rest);
      const index = /^\s*\[\s*(\d+)\s*\]/.exec(rest);
      const quoted = /^\s*\[\s*(?:'([^'\\]*)'|"([^"\\]*)")\s*\]/.exec(rest);
      let key: string | undefined;
      if (dot) key = dot[1]!;
      else if (quoted) key = quoted[1] ?? quoted[2]!;
      else if (index) path += `[${index[1]}]`;
      else break;
      if (key !== undefined) {
        // Keys that profile.ts paths cannot express.
        if (key === '' || /[.[\]]/.test(key) || key !== key.trim()) return undefined;
        path += path === '' ? key : `.${key}`;
      }
      rest = rest.slice((dot ?? quoted ?? index)![0].length);
    }
  }
  for (;;) {
    const filter = /^\s*\|\s*(?:(?:float|int)(?:\s*\(\s*[-+]?\d+(?:\.\d+)?\s*\))?|round(?:\s*\(\s*\d+\s*\))?)(?![A-Za-z0-9_])/.exec(rest);
    if (!filter) break;
    rest = rest.slice(filter[0].length);
  }
  if (rest.trim() !== '') return undefined;
  if (head[1] === 'value') return {};
  if (path !== '' && parsePath(path) === undefined) return undefined;
  return { json: true, path };
}

// ---------------------------------------------------------------------------
// Home Assistant discovery

/** Abbreviations from Home Assistant's MQTT discovery (homeassistant/components/mqtt/abbreviations.py) used here. */
const ABBREVIATIONS: Readonly<Record<string, string>> = {
  avty: 'availability',
  avty_mode: 'availability_mode',
  avty_t: 'availability_topic',
  avty_tpl: 'availability_template',
  cmd_t: 'command_topic',
  cmd_tpl: 'command_template',
  dev: 'device',
  dev_cla: 'device_class',
  e: 'encoding',
  en: 'enabled_by_default',
  ent_cat: 'entity_category',
  exp_aft: 'expire_after',
  frc_upd: 'force_update',
  ic: 'icon',
  json_attr: 'json_attributes',
  json_attr_t: 'json_attributes_topic',
  json_attr_tpl: 'json_attributes_template',
  lrst_t: 'last_reset_topic',
  lrst_val_tpl: 'last_reset_value_template',
  obj_id: 'object_id',
  off_dly: 'off_delay',
  ops: 'options',
  opt: 'optimistic',
  pl_avail: 'payload_available',
  pl_not_avail: 'payload_not_available',
  pl_off: 'payload_off',
  pl_on: 'payload_on',
  ret: 'retain',
  stat_cla: 'state_class',
  stat_off: 'state_off',
  stat_on: 'state_on',
  stat_t: 'state_topic',
  t: 'topic',
  uniq_id: 'unique_id',
  unit_of_meas: 'unit_of_measurement',
  val_tpl: 'value_template',
};

const DEVICE_ABBREVIATIONS: Readonly<Record<string, string>> = {
  cns: 'connections',
  cu: 'configuration_url',
  ids: 'identifiers',
  mf: 'manufacturer',
  mdl: 'model',
  hw: 'hw_version',
  sw: 'sw_version',
  sa: 'suggested_area',
};

export const HA_COMPONENTS = ['sensor', 'binary_sensor', 'switch', 'number', 'select'] as const;
export type HaComponent = (typeof HA_COMPONENTS)[number];

/** Sensor device classes whose state is a number (Home Assistant's SensorDeviceClass, all but date, enum and timestamp). */
const NUMERIC_DEVICE_CLASSES = new Set([
  'apparent_power', 'aqi', 'area', 'atmospheric_pressure', 'battery', 'blood_glucose_concentration', 'carbon_dioxide',
  'carbon_monoxide', 'conductivity', 'current', 'data_rate', 'data_size', 'distance', 'duration', 'energy',
  'energy_distance', 'energy_storage', 'frequency', 'gas', 'humidity', 'illuminance', 'irradiance', 'moisture',
  'monetary', 'nitrogen_dioxide', 'nitrogen_monoxide', 'nitrous_oxide', 'ozone', 'ph', 'pm1', 'pm10', 'pm25',
  'power', 'power_factor', 'precipitation', 'precipitation_intensity', 'pressure', 'reactive_energy', 'reactive_power',
  'signal_strength', 'sound_pressure', 'speed', 'sulphur_dioxide', 'temperature', 'volatile_organic_compounds',
  'volatile_organic_compounds_parts', 'voltage', 'volume', 'volume_flow_rate', 'volume_storage', 'water', 'weight',
  'wind_direction', 'wind_speed',
]);
const NON_NUMERIC_DEVICE_CLASSES = new Set(['date', 'enum', 'timestamp']);

/** `<prefix>/<component>/[<node_id>/]<object_id>/config`, or undefined for any other topic. */
export function parseDiscoveryTopic(topic: string, prefix = DEFAULT_DISCOVERY_PREFIX): { component: string; nodeId?: string; objectId: string } | undefined {
  if (!topic.startsWith(`${prefix}/`)) return undefined;
  const m = /^(\w+)\/(?:([a-zA-Z0-9_-]+)\/)?([a-zA-Z0-9_-]+)\/config$/.exec(topic.slice(prefix.length + 1));
  if (!m) return undefined;
  return { component: m[1]!, ...(m[2] === undefined ? {} : { nodeId: m[2] }), objectId: m[3]! };
}

type Scalar = string | number | boolean;

interface HaDevice {
  identifiers: string[];
  name?: string;
  manufacturer?: string;
  model?: string;
  swVersion?: string;
}

interface HaEntity {
  /** `<component>/[<node_id>/]<object_id>`. */
  key: string;
  configTopic: string;
  component: HaComponent;
  nodeId?: string;
  objectId: string;
  name?: string;
  uniqueId?: string;
  device?: HaDevice;
  stateTopic?: string;
  commandTopic?: string;
  valueTemplate?: string;
  commandTemplate?: string;
  unit?: string;
  deviceClass?: string;
  stateClass?: string;
  payloadOn?: Scalar;
  payloadOff?: Scalar;
  stateOn?: Scalar;
  stateOff?: Scalar;
  min?: number;
  max?: number;
  step?: number;
  options?: string[];
  availability: { topic: string; payloadAvailable?: string; payloadNotAvailable?: string }[];
  jsonAttributesTopic?: string;
  qos?: number;
}

function expandKeys(raw: Record<string, unknown>, table: Readonly<Record<string, string>>, written: Map<string, string>, prefix: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    const full = table[k] ?? k;
    out[full] = v;
    written.set(`${prefix}${full}`, `${prefix}${k}`);
  }
  return out;
}

function applyBase(value: string, base: string): string {
  if (value.startsWith('~')) return `${base}${value.slice(1)}`;
  if (value.endsWith('~')) return `${value.slice(0, -1)}${base}`;
  return value;
}

/** Reads one discovery config payload into an entity, or the first problem with it. */
function readEntity(topic: string, t: { component: HaComponent; nodeId?: string; objectId: string }, doc: Record<string, unknown>): { entity: HaEntity } | { issue: CodedIssue } | { ignored: string } {
  const written = new Map<string, string>();
  const cfg = expandKeys(doc, ABBREVIATIONS, written, '');
  const field = (full: string): string => written.get(full) ?? full;
  const fail = (full: string, message: string): { issue: CodedIssue } => ({
    issue: { code: DISCOVERY_CODES.homeassistant, path: field(full), message: `${topic}: ${field(full)}${field(full) === full ? '' : ` (${full})`} ${message}` },
  });
  // The first problem found by the field readers below.
  const problems: { issue: CodedIssue }[] = [];

  const base = cfg['~'];
  if (base !== undefined && typeof base !== 'string') return fail('~', `must be a string, got ${describe(base)}`);
  const str = (full: string): string | undefined => {
    const v = cfg[full];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') {
      problems.push(fail(full, `must be a string, got ${describe(v)}`));
      return undefined;
    }
    return v;
  };
  const topicOf = (full: string, v: unknown, where = full): string | undefined => {
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') {
      problems.push(fail(where, `must be a topic string, got ${describe(v)}`));
      return undefined;
    }
    const t2 = base === undefined ? v : applyBase(v, base);
    const p = topicProblem(t2);
    if (p) problems.push(fail(where, `topic '${t2}' ${p}`));
    return t2;
  };
  const scalar = (full: string): Scalar | undefined => {
    const v = cfg[full];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) return v;
    problems.push(fail(full, `must be a string, number or boolean, got ${describe(v)}`));
    return undefined;
  };
  const num = (full: string): number | undefined => {
    const v = cfg[full];
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n === 'number' && Number.isFinite(n)) return n;
    problems.push(fail(full, `must be a number, got ${describe(v)}`));
    return undefined;
  };

  const name = str('name');
  const uniqueId = str('unique_id');
  const stateTopic = topicOf('state_topic', cfg.state_topic);
  const commandTopic = topicOf('command_topic', cfg.command_topic);
  const jsonAttributesTopic = topicOf('json_attributes_topic', cfg.json_attributes_topic);
  const availability: HaEntity['availability'] = [];
  const avtyTopic = topicOf('availability_topic', cfg.availability_topic);
  if (avtyTopic !== undefined) {
    availability.push({
      topic: avtyTopic,
      ...(str('payload_available') === undefined ? {} : { payloadAvailable: str('payload_available')! }),
      ...(str('payload_not_available') === undefined ? {} : { payloadNotAvailable: str('payload_not_available')! }),
    });
  }
  if (cfg.availability !== undefined && cfg.availability !== null) {
    if (!Array.isArray(cfg.availability)) return fail('availability', `must be a list, got ${describe(cfg.availability)}`);
    for (const [i, item] of (cfg.availability as unknown[]).entries()) {
      const at = `${field('availability')}[${i}]`;
      if (!isObject(item)) return fail('availability', `[${i}] must be an object, got ${describe(item)}`);
      const a = expandKeys(item, ABBREVIATIONS, written, `${at}.`);
      const tp = topicOf(`${at}.topic`, a.topic, `${at}.topic`);
      if (tp === undefined) {
        problems.push(fail(`${at}.topic`, 'is required'));
        continue;
      }
      const pa = a.payload_available;
      const pn = a.payload_not_available;
      availability.push({ topic: tp, ...(typeof pa === 'string' ? { payloadAvailable: pa } : {}), ...(typeof pn === 'string' ? { payloadNotAvailable: pn } : {}) });
    }
  }

  let device: HaDevice | undefined;
  const rawDevice = cfg.device;
  if (rawDevice !== undefined && rawDevice !== null) {
    if (!isObject(rawDevice)) return fail('device', `must be an object, got ${describe(rawDevice)}`);
    const d = expandKeys(rawDevice, DEVICE_ABBREVIATIONS, written, `${field('device')}.`);
    const dfield = (k: string): string => written.get(`${field('device')}.${k}`) ?? `${field('device')}.${k}`;
    const identifiers: string[] = [];
    const ids = d.identifiers;
    if (typeof ids === 'string' && ids !== '') identifiers.push(ids);
    else if (Array.isArray(ids) && ids.every((x) => typeof x === 'string' || typeof x === 'number')) identifiers.push(...ids.map(String).filter((x) => x !== ''));
    else if (ids !== undefined) return { issue: { code: DISCOVERY_CODES.homeassistant, path: dfield('identifiers'), message: `${topic}: ${dfield('identifiers')} must be a string or a list of strings, got ${describe(ids)}` } };
    const cns = d.connections;
    if (Array.isArray(cns)) {
      for (const c of cns) if (Array.isArray(c) && c.length === 2 && c.every((x) => typeof x === 'string')) identifiers.push(`${String(c[0])}:${String(c[1])}`);
    } else if (cns !== undefined) {
      return { issue: { code: DISCOVERY_CODES.homeassistant, path: dfield('connections'), message: `${topic}: ${dfield('connections')} must be a list of [type, value] pairs, got ${describe(cns)}` } };
    }
    if (identifiers.length === 0) {
      return { issue: { code: DISCOVERY_CODES.homeassistant, path: dfield('identifiers'), message: `${topic}: ${field('device')} needs identifiers or connections to group its entities` } };
    }
    const dstr = (k: string): string | undefined => (typeof d[k] === 'string' && d[k] !== '' ? d[k] : typeof d[k] === 'number' ? String(d[k]) : undefined);
    device = {
      identifiers: unique(identifiers),
      ...(dstr('name') === undefined ? {} : { name: dstr('name')! }),
      ...(dstr('manufacturer') === undefined ? {} : { manufacturer: dstr('manufacturer')! }),
      ...(dstr('model') === undefined ? {} : { model: dstr('model')! }),
      ...(dstr('sw_version') === undefined ? {} : { swVersion: dstr('sw_version')! }),
    };
  }

  const entity: HaEntity = {
    key: [t.component, t.nodeId, t.objectId].filter((x) => x !== undefined).join('/'),
    configTopic: topic,
    component: t.component,
    ...(t.nodeId === undefined ? {} : { nodeId: t.nodeId }),
    objectId: t.objectId,
    availability,
  };
  const set = <K extends keyof HaEntity>(k: K, v: HaEntity[K] | undefined): void => {
    if (v !== undefined && v !== '') entity[k] = v;
  };
  set('name', name);
  set('uniqueId', uniqueId);
  set('device', device);
  set('stateTopic', stateTopic);
  set('commandTopic', commandTopic);
  set('jsonAttributesTopic', jsonAttributesTopic);
  set('valueTemplate', str('value_template'));
  set('commandTemplate', str('command_template'));
  set('unit', str('unit_of_measurement'));
  set('deviceClass', str('device_class'));
  set('stateClass', str('state_class'));
  set('payloadOn', scalar('payload_on'));
  set('payloadOff', scalar('payload_off'));
  set('stateOn', scalar('state_on'));
  set('stateOff', scalar('state_off'));
  set('min', num('min'));
  set('max', num('max'));
  set('step', num('step'));
  set('qos', num('qos'));
  if (cfg.options !== undefined) {
    if (!Array.isArray(cfg.options) || !cfg.options.every((o) => typeof o === 'string')) return fail('options', `must be a list of strings, got ${describe(cfg.options)}`);
    entity.options = cfg.options;
  }
  if (problems.length > 0) return problems[0]!;

  if (entity.qos !== undefined && ![0, 1, 2].includes(entity.qos)) return fail('qos', `must be 0, 1 or 2, got ${entity.qos}`);
  switch (t.component) {
    case 'sensor':
    case 'binary_sensor':
      if (!stateTopic) return fail('state_topic', `is required for a ${t.component}`);
      break;
    case 'switch':
      if (!stateTopic && !commandTopic) return fail('command_topic', 'or state_topic is required for a switch');
      break;
    case 'number':
      if (!commandTopic) return fail('command_topic', 'is required for a number');
      if (entity.min !== undefined && entity.max !== undefined && entity.min > entity.max) return fail('max', `${entity.max} is below min ${entity.min}`);
      if (entity.step !== undefined && entity.step <= 0) return fail('step', `must be above 0, got ${entity.step}`);
      break;
    case 'select':
      if (!commandTopic) return fail('command_topic', 'is required for a select');
      if (!entity.options || entity.options.length === 0) return fail('options', 'is required for a select: a non-empty list of strings');
      break;
  }
  if (!device && !uniqueId) return { ignored: `${topic}: entity has neither a device block nor a unique_id, so it cannot be told apart from others` };
  return { entity };
}

/** The identities an entity groups by: its device's identifiers, or its own unique_id. */
function identities(e: HaEntity): string[] {
  return e.device ? e.device.identifiers : [`\u0000unique_id:${e.uniqueId ?? e.key}`];
}

function resourceName(e: HaEntity): string {
  let n = e.objectId;
  for (const id of [...(e.device?.identifiers ?? []), ...(e.nodeId === undefined ? [] : [e.nodeId])]) {
    const lower = n.toLowerCase();
    const p = id.toLowerCase();
    if (lower.length > p.length + 1 && lower.startsWith(p) && /[_-]/.test(n[p.length]!)) {
      n = n.slice(p.length + 1);
      break;
    }
  }
  n = n.replace(/[^A-Za-z0-9_.-]/g, '_');
  return n === '' ? e.component : n;
}

function isNumericSensor(e: HaEntity): boolean {
  if (e.deviceClass !== undefined && NON_NUMERIC_DEVICE_CLASSES.has(e.deviceClass)) return false;
  if (e.options !== undefined) return false;
  return (e.unit !== undefined && e.unit !== '') || e.stateClass !== undefined || (e.deviceClass !== undefined && NUMERIC_DEVICE_CLASSES.has(e.deviceClass));
}

function textOf(v: Scalar): string {
  return typeof v === 'string' ? v : String(v);
}

function entityResource(e: HaEntity, name: string, rel: (t: string) => string, warnings: string[]): ProposedResource {
  const mapped = e.valueTemplate === undefined ? {} : mapValueTemplate(e.valueTemplate);
  if (!mapped) warnings.push(`${name}: value_template '${e.valueTemplate}' could not be mapped; the resource reads the whole payload as text`);
  const json = mapped?.json === true;
  const readWrite: 'R' | 'W' | 'RW' = e.component === 'sensor' || e.component === 'binary_sensor' ? 'R' : e.stateTopic ? 'RW' : 'W';
  let valueType: ValueType;
  switch (e.component) {
    case 'sensor':
      valueType = isNumericSensor(e) ? 'Float64' : 'String';
      break;
    case 'binary_sensor':
    case 'switch':
      valueType = 'Bool';
      break;
    case 'number':
      valueType = 'Float64';
      break;
    case 'select':
      valueType = 'String';
      break;
  }
  if (!mapped) valueType = 'String';
  const attributes: Record<string, unknown> = {};
  if (e.stateTopic) {
    attributes.topic = rel(e.stateTopic);
    if (json) {
      attributes.payload = 'json';
      if (mapped.path) attributes.path = mapped.path;
    } else attributes.payload = valueType === 'Float64' ? 'number' : 'text';
  }
  if (valueType === 'Bool') {
    const on = e.component === 'switch' ? (e.stateOn ?? e.payloadOn ?? 'ON') : (e.payloadOn ?? 'ON');
    const off = e.component === 'switch' ? (e.stateOff ?? e.payloadOff ?? 'OFF') : (e.payloadOff ?? 'OFF');
    // A text payload is compared as text; a JSON field keeps the type the config gives.
    attributes.trueValue = json ? on : textOf(on);
    attributes.falseValue = json ? off : textOf(off);
  }
  if (e.commandTopic && readWrite !== 'R') {
    attributes.commandTopic = rel(e.commandTopic);
    attributes.commandPayload = 'raw';
    if (valueType === 'Bool') {
      attributes.commandTrue = textOf(e.payloadOn ?? 'ON');
      attributes.commandFalse = textOf(e.payloadOff ?? 'OFF');
    }
    if (e.commandTemplate !== undefined) warnings.push(`${name}: command_template '${e.commandTemplate}' is not mapped; commands publish the raw value`);
  }
  if (e.component === 'select' && e.options) attributes.options = [...e.options];
  const properties: ProposedResource['properties'] = { valueType, readWrite };
  if (e.unit && (e.component === 'sensor' || e.component === 'number')) properties.units = e.unit;
  if (e.component === 'number' && valueType === 'Float64') {
    properties.minimum = e.min ?? 1;
    properties.maximum = e.max ?? 100;
    properties.optional = { step: e.step ?? 1 };
  }
  const tags: Record<string, unknown> = { component: e.component };
  if (e.uniqueId) tags.uniqueId = e.uniqueId;
  if (e.deviceClass) tags.deviceClass = e.deviceClass;
  if (e.stateClass) tags.stateClass = e.stateClass;
  return { name, ...(e.name ? { description: e.name } : {}), tags, attributes, properties };
}

function driverWarnings(protocol: Record<string, string>, site: string, name: string, resources: readonly ProposedResource[]): string[] {
  const p = readProtocol({ site, name, protocol });
  const r = resolvePoints(asDriverResources(resources), p.target?.layout === 'edgeadm' ? p.target.baseTopic : `edgeadm/${site}/${name}`);
  return [...p.issues, ...r.issues].map((i) => `driver: ${i.path}: ${i.message}`);
}

function byKey(entities: readonly HaEntity[]): HaEntity[] {
  return [...entities].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** A device's id: the smallest of its identifiers (stable whatever order entities arrive in), or the unique_id of a device-less entity. */
function groupId(entities: readonly HaEntity[]): string {
  const first = byKey(entities)[0]!;
  return first.device ? [...new Set(entities.flatMap((e) => e.device?.identifiers ?? []))].sort()[0]! : first.uniqueId!;
}

function haAnnouncement(site: string, entities: readonly HaEntity[]): Announcement {
  const sorted = byKey(entities);
  const first = sorted[0]!;
  const pick = (f: (d: HaDevice) => string | undefined): string | undefined => {
    for (const e of sorted) {
      const v = e.device ? f(e.device) : undefined;
      if (v !== undefined) return v;
    }
    return undefined;
  };
  const id = groupId(sorted);
  const displayName = pick((d) => d.name) ?? (first.device ? undefined : first.name);
  const manufacturer = pick((d) => d.manufacturer);
  const model = pick((d) => d.model);
  const swVersion = pick((d) => d.swVersion);
  const warnings: string[] = [];

  const base = commonBase(sorted.flatMap((e) => [e.stateTopic, e.commandTopic].filter((t): t is string => t !== undefined)));
  const rel = (t: string): string => relative(base, t);
  const used = new Set<string>();
  const resources = sorted.map((e) => {
    let name = resourceName(e);
    if (used.has(name)) name = `${e.component}_${name}`;
    for (let i = 2; used.has(name); i++) name = `${resourceName(e)}_${i}`;
    used.add(name);
    return entityResource(e, name, rel, warnings);
  });

  const protocol: Record<string, string> = {};
  if (base !== '') protocol.topic = base;
  const avty = sorted.flatMap((e) => e.availability);
  if (avty.length > 0) {
    const a = avty[0]!;
    protocol.availabilityTopic = a.topic;
    if (a.payloadAvailable !== undefined) protocol.payloadAvailable = a.payloadAvailable;
    if (a.payloadNotAvailable !== undefined) protocol.payloadNotAvailable = a.payloadNotAvailable;
  }
  const qos = Math.max(-1, ...sorted.map((e) => e.qos ?? -1));
  if (qos >= 0) protocol.qos = String(Math.min(qos, 1));
  if (qos === 2) warnings.push('qos 2 requested; the driver subscribes and publishes with qos 1 at most');

  const profile: ProposedProfile = {
    ...(manufacturer === undefined ? {} : { manufacturer }),
    ...(model === undefined ? {} : { model }),
    ...(displayName === undefined ? {} : { description: displayName }),
    labels: ['homeassistant'],
    deviceResources: resources,
  };
  const suggestedName = suggestName(id, displayName);
  warnings.push(...driverWarnings(protocol, site, suggestedName, resources));
  return {
    source: 'homeassistant',
    site,
    id,
    suggestedName,
    ...(manufacturer === undefined ? {} : { manufacturer }),
    ...(model === undefined ? {} : { model }),
    ...(swVersion === undefined ? {} : { swVersion }),
    ...(displayName === undefined ? {} : { displayName }),
    protocol,
    profile,
    topics: {
      publish: unique(
        sorted.flatMap((e) => [e.configTopic, ...(e.stateTopic ? [e.stateTopic] : []), ...e.availability.map((a) => a.topic), ...(e.jsonAttributesTopic ? [e.jsonAttributesTopic] : [])]),
      ),
      subscribe: unique(sorted.flatMap((e) => (e.commandTopic ? [e.commandTopic] : []))),
    },
    warnings,
  };
}

export interface HaAcceptResult {
  /** The device the message's entity belongs to, as it now stands. */
  announcement?: Announcement;
  /** Id of a device left without entities (removal, or its last entity moved to another device). */
  removed?: string;
  /** Why the message was not used (not a config topic, unsupported component, unknown entity...). */
  ignored?: string;
  error?: CodedIssue;
}

/** Accumulates HA config messages (entities arrive one message each) and yields the device they belong to after each change; removal via empty payload. */
export class HaDiscoveryCollector {
  readonly #prefix: string;
  readonly #site: string;
  readonly #entities = new Map<string, HaEntity>();

  constructor(o: { prefix?: string; site: string }) {
    this.#prefix = o.prefix ?? DEFAULT_DISCOVERY_PREFIX;
    this.#site = o.site;
  }

  accept(topic: string, payload: Buffer): HaAcceptResult {
    const t = parseDiscoveryTopic(topic, this.#prefix);
    if (!t) return { ignored: `${topic}: not a discovery config topic under '${this.#prefix}/'` };
    if (!(HA_COMPONENTS as readonly string[]).includes(t.component)) {
      return { ignored: `${topic}: component '${t.component}' is not supported (${HA_COMPONENTS.join(', ')})` };
    }
    const component = t.component as HaComponent;
    const key = [component, t.nodeId, t.objectId].filter((x) => x !== undefined).join('/');
    if (payload.length === 0) return this.#remove(key, topic);
    const fail = (message: string): HaAcceptResult => ({ error: { code: DISCOVERY_CODES.homeassistant, path: '', message: `${topic}: ${message}` } });
    if (payload.length > MAX_ANNOUNCE_BYTES) return fail(`payload is ${payload.length} bytes, over the ${MAX_ANNOUNCE_BYTES}-byte limit`);
    let doc: unknown;
    try {
      doc = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      return fail(`payload is not JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!isObject(doc)) return fail(`payload must be a JSON object, got ${describe(doc)}`);
    const r = readEntity(topic, { ...t, component }, doc);
    if ('issue' in r) return { error: r.issue };
    if ('ignored' in r) return { ignored: r.ignored };
    const before = this.#entities.get(key);
    const oldId = before ? groupId(this.#group(before)) : undefined;
    this.#entities.set(key, r.entity);
    const result: HaAcceptResult = { announcement: haAnnouncement(this.#site, this.#group(r.entity)) };
    // The entity moved to another device and left its old one empty.
    if (oldId !== undefined && oldId !== result.announcement!.id && ![...this.#entities.values()].some((x) => groupId(this.#group(x)) === oldId)) {
      result.removed = oldId;
    }
    return result;
  }

  /** Every device currently known. */
  devices(): Announcement[] {
    const seen = new Set<string>();
    const out: Announcement[] = [];
    for (const e of this.#entities.values()) {
      if (seen.has(e.key)) continue;
      const g = this.#group(e);
      for (const x of g) seen.add(x.key);
      out.push(haAnnouncement(this.#site, g));
    }
    return out;
  }

  #remove(key: string, topic: string): HaAcceptResult {
    const e = this.#entities.get(key);
    if (!e) return { ignored: `${topic}: removal of an entity that is not known` };
    const group = this.#group(e);
    this.#entities.delete(key);
    const rest = group.filter((x) => x !== e);
    if (rest.length === 0) return { removed: groupId(group) };
    return { announcement: haAnnouncement(this.#site, this.#group(rest[0]!)) };
  }

  /** The entities sharing an identity with `e`, transitively. */
  #group(e: HaEntity): HaEntity[] {
    const ids = new Set(identities(e));
    const members = new Set<HaEntity>([e]);
    for (let grown = true; grown; ) {
      grown = false;
      for (const x of this.#entities.values()) {
        if (members.has(x) || !identities(x).some((i) => ids.has(i))) continue;
        members.add(x);
        for (const i of identities(x)) ids.add(i);
        grown = true;
      }
    }
    return [...members].filter((x) => this.#entities.get(x.key) === x);
  }
}

// ---------------------------------------------------------------------------
// Native announce

const ResourceSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    valueType: Type.Enum([...VALUE_TYPES]),
    units: Type.Optional(Type.String({ maxLength: 64 })),
    readWrite: Type.Optional(Type.Enum(['R', 'W', 'RW'])),
    topic: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    payload: Type.Optional(Type.Enum(['json', 'number', 'text'])),
    path: Type.Optional(Type.String({ maxLength: 1024 })),
    minimum: Type.Optional(Type.Number()),
    maximum: Type.Optional(Type.Number()),
  },
  { additionalProperties: false },
);

/** The native announce payload (see the module header). */
export const NativeAnnounceSchema = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 128 }),
    name: Type.Optional(Type.String({ maxLength: 256 })),
    manufacturer: Type.Optional(Type.String({ maxLength: 256 })),
    model: Type.Optional(Type.String({ maxLength: 256 })),
    swVersion: Type.Optional(Type.String({ maxLength: 128 })),
    topic: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    resources: Type.Array(ResourceSchema, { minItems: 1, maxItems: 1024 }),
    labels: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 63 }))),
  },
  { additionalProperties: false },
);

interface NativeResource {
  name: string;
  description?: string;
  valueType: ValueType;
  units?: string;
  readWrite?: 'R' | 'W' | 'RW';
  topic?: string;
  payload?: 'json' | 'number' | 'text';
  path?: string;
  minimum?: number;
  maximum?: number;
}
interface NativeAnnounce {
  id: string;
  name?: string;
  manufacturer?: string;
  model?: string;
  swVersion?: string;
  topic?: string;
  resources: NativeResource[];
  labels?: Record<string, string>;
}

function pointerPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  }
  return out;
}

function valueAt(doc: unknown, pointer: string): unknown {
  let cur = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    cur = isObject(cur) || Array.isArray(cur) ? (cur as Record<string, unknown>)[seg] : undefined;
  }
  return cur;
}

/** Every schema problem, each naming its field. */
function schemaIssues(doc: unknown, code: string): CodedIssue[] {
  const out: CodedIssue[] = [];
  const seen = new Set<string>();
  const add = (path: string, message: string): void => {
    if (seen.has(`${path}\u0000${message}`)) return;
    seen.add(`${path}\u0000${message}`);
    out.push({ code, path, message: `${path || 'payload'} ${message}` });
  };
  const join = (a: string, b: string): string => (a === '' ? b : `${a}.${b}`);
  for (const e of Value.Errors(NativeAnnounceSchema, doc)) {
    const path = pointerPath(e.instancePath);
    const params = e.params as Record<string, unknown>;
    if (e.keyword === 'required') for (const p of (params.requiredProperties as string[] | undefined) ?? []) add(join(path, p), 'is required');
    else if (e.keyword === 'additionalProperties') for (const p of (params.additionalProperties as string[] | undefined) ?? []) add(join(path, p), 'is not a known field');
    else if (e.keyword === 'boolean') add(path, 'is not a known field');
    else if (e.keyword === 'enum') add(path, `must be one of ${((params.allowedValues as unknown[] | undefined) ?? []).join(', ')}, got ${describe(valueAt(doc, e.instancePath))}`);
    else add(path, `${e.message}, got ${describe(valueAt(doc, e.instancePath))}`);
  }
  return out;
}


export interface NativeAnnounceResult {
  announcement?: Announcement;
  /** The first problem; `issues` holds them all. */
  error?: CodedIssue;
  issues?: CodedIssue[];
}

/** A native announce (`edgeadm/announce/<deviceId>`) as a proposed device, or every problem with it. */
export function parseNativeAnnounce(site: string, topic: string, payload: Buffer): NativeAnnounceResult {
  const code = DISCOVERY_CODES.announce;
  const failAll = (issues: CodedIssue[]): NativeAnnounceResult => ({ error: issues[0]!, issues });
  const fail = (path: string, message: string): NativeAnnounceResult => failAll([{ code, path, message }]);
  const levels = topic.split('/');
  if (levels.length !== 3 || `${levels[0]}/${levels[1]}` !== ANNOUNCE_TOPIC_PREFIX || levels[2] === '' || /[+#]/.test(levels[2]!)) {
    return fail('topic', `topic '${topic}' is not ${ANNOUNCE_TOPIC_PREFIX}/<deviceId>`);
  }
  const topicId = levels[2]!;
  if (payload.length > MAX_ANNOUNCE_BYTES) return fail('', `payload is ${payload.length} bytes, over the ${MAX_ANNOUNCE_BYTES}-byte limit`);
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return fail('', `payload is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isObject(doc)) return fail('', `payload must be a JSON object, got ${describe(doc)}`);
  const schema = schemaIssues(doc, code);
  if (schema.length > 0) return failAll(schema);
  const a = doc as unknown as NativeAnnounce;

  const issues: CodedIssue[] = [];
  const add = (path: string, message: string): void => void issues.push({ code, path, message: `${path} ${message}` });
  if (a.id !== topicId) add('id', `'${a.id}' differs from the device id '${topicId}' in the topic`);
  const base = a.topic === undefined ? `edgeadm/${site}/${a.id}` : a.topic.replace(/^\//, '');
  const baseProblem = topicProblem(base);
  if (baseProblem) add('topic', `'${a.topic ?? base}' ${baseProblem}`);
  for (const [k, v] of Object.entries(a.labels ?? {})) {
    const keyProblem = labelKeyProblem(k);
    const valueProblem = labelValueProblem(v);
    if (keyProblem !== undefined) add(`labels.${k}`, `is not a valid label key: ${keyProblem}`);
    else if (valueProblem !== undefined) add(`labels.${k}`, `value '${v}' is not a valid label value: ${valueProblem}`);
  }
  a.resources.forEach((r, i) => {
    if (r.minimum !== undefined && r.maximum !== undefined && r.minimum > r.maximum) add(`resources[${i}].maximum`, `${r.maximum} is below minimum ${r.minimum}`);
  });

  const resources: ProposedResource[] = a.resources.map((r) => ({
    name: r.name,
    ...(r.description === undefined ? {} : { description: r.description }),
    attributes: {
      ...(r.topic === undefined ? {} : { topic: r.topic }),
      ...(r.payload === undefined ? {} : { payload: r.payload }),
      ...(r.path === undefined ? {} : { path: r.path }),
    },
    properties: {
      valueType: r.valueType,
      readWrite: r.readWrite ?? 'R',
      ...(r.units === undefined ? {} : { units: r.units }),
      ...(r.minimum === undefined ? {} : { minimum: r.minimum }),
      ...(r.maximum === undefined ? {} : { maximum: r.maximum }),
    },
  }));
  const writable = resources.some((r) => r.properties.readWrite !== 'R');
  const protocol: Record<string, string> = { topic: base };
  if (writable) {
    protocol.commandTopic = `${base}/command`;
    protocol.responseTopic = `${base}/response`;
  }
  // The driver's own rules (topics, payload kinds against valueTypes, paths, duplicates), named by announce field.
  if (!baseProblem) {
    const points = resolvePoints(asDriverResources(resources), base);
    for (const issue of points.issues) {
      const m = /^deviceResources\[(\d+)\]\(.*\)\.(?:(?:attributes|properties)\.)?(\w+)$/.exec(issue.path);
      add(m ? `resources[${m[1]}].${m[2]}` : issue.path, issue.message);
    }
    if (issues.length === 0) {
      const suggestedName = suggestName(a.id);
      const p = readProtocol({ site, name: suggestedName, protocol });
      for (const issue of p.issues) add(issue.path.replace(/^protocols\.mqtt\./, ''), issue.message);
      if (issues.length === 0) {
        const readable = points.points.filter((pt) => pt.readWrite !== 'W' && pt.topic !== undefined).map((pt) => pt.topic!);
        return {
          announcement: {
            source: 'announce',
            site,
            id: a.id,
            suggestedName,
            ...(a.manufacturer === undefined ? {} : { manufacturer: a.manufacturer }),
            ...(a.model === undefined ? {} : { model: a.model }),
            ...(a.swVersion === undefined ? {} : { swVersion: a.swVersion }),
            ...(a.name === undefined ? {} : { displayName: a.name }),
            protocol,
            profile: {
              ...(a.manufacturer === undefined ? {} : { manufacturer: a.manufacturer }),
              ...(a.model === undefined ? {} : { model: a.model }),
              ...(a.name === undefined ? {} : { description: a.name }),
              labels: ['announce'],
              deviceResources: resources,
            },
            ...(a.labels === undefined ? {} : { labels: { ...a.labels } }),
            topics: {
              publish: unique([topic, ...readable, ...(writable ? [protocol.responseTopic!] : [])]),
              subscribe: writable ? [protocol.commandTopic!] : [],
            },
            warnings: [],
          },
        };
      }
    }
  }
  return failAll(issues);
}
