/**
 * A Device's MQTT protocol block (`protocols.mqtt`), read into a target,
 * every problem an issue naming its field. Keys match case-insensitively, so
 * EdgeX device-mqtt's `CommandTopic` is `commandTopic`.
 *
 * `layout` picks the topics the device speaks:
 *   edgeadm  the platform's own (`topic`, `commandTopic`, `responseTopic`,
 *            JSON commands with an id); the default for a Device made here
 *   edgex    EdgeX device-mqtt v3's multi-level topics (`CommandTopic`
 *            required, `incomingTopic`, `responseTopic`, `deviceName`: see
 *            edgex-layout.ts); the default for a Device imported from EdgeX
 *            files (it carries the `edgex.edgeadm.io/name` annotation)
 * Both take `qos`, `commandTimeout`, `staleAfter` and `brokerUrl`. The
 * fields' bounds, defaults and forms are protocol-schema.ts's (the schema
 * the hub checks Device writes with); the fields and the command and answer
 * payloads: README.md, "Devices" and "EdgeX device-mqtt layout".
 */
import { EDGEX_NAME_ANNOTATION, goDurationMs, type DriverIssue } from '../../../core/sdk/index.ts';
import { ISSUE } from './errors.ts';
import { BROKER_URL_FORM, MQTT_DURATIONS, MQTT_LAYOUTS, type MqttLayout } from './protocol-schema.ts';

export { MQTT_LAYOUTS, MQTT_PROTOCOLS, type MqttLayout } from './protocol-schema.ts';

const BROKER_URL_RE = new RegExp(BROKER_URL_FORM);

/** EdgeX device-mqtt's IncomingTopic and ResponseTopic (multi-level), without their trailing `/#`. */
export const EDGEX_INCOMING_TOPIC = 'incoming/data';
export const EDGEX_RESPONSE_TOPIC = 'command/response';

interface CommonTarget {
  qos: 0 | 1;
  /** edgeadm: where JSON commands go; edgex: the device's CommandTopic, under which `<resource>/<get|set>/<uuid>` goes. */
  commandTopic: string;
  /** edgeadm: where the device answers; edgex: the prefix of `<responseTopic>/<uuid>`. */
  responseTopic: string;
  commandTimeoutMs: number;
  staleAfterMs?: number;
  brokerUrl?: string;
}

/** The platform's own layout. */
export interface EdgeadmTarget extends CommonTarget {
  layout: 'edgeadm';
  baseTopic: string;
}

/** EdgeX device-mqtt v3's multi-level layout. */
export interface EdgeXTarget extends CommonTarget {
  layout: 'edgex';
  /** The prefix of `<incomingTopic>/<deviceName>/<source>`. */
  incomingTopic: string;
  /** The device's name in topics: its EdgeX name. */
  deviceName: string;
}

export type MqttTarget = EdgeadmTarget | EdgeXTarget;

function field(block: Readonly<Record<string, unknown>>, name: string): unknown {
  const key = Object.keys(block).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : block[key];
}

/**
 * A duration field in whole milliseconds: a Go duration string ('500ms',
 * '1.5m', '1h30m'; surrounding blanks ignored) or a number of milliseconds.
 * Undefined when it is neither, or negative; each field's bounds are checked
 * by its reader.
 */
export function parseDuration(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) && raw >= 0 ? raw : undefined;
  if (typeof raw !== 'string') return undefined;
  const ms = goDurationMs(raw.trim());
  return ms === undefined || ms < 0 ? undefined : Math.round(ms);
}

/** Why a topic name cannot be published or subscribed to as one exact topic, or undefined when it can. */
export function topicProblem(topic: string): string | undefined {
  if (topic === '') return 'is empty';
  if (/[+#]/.test(topic)) return 'holds a wildcard (+ or #)';
  if (topic.includes('\u0000')) return 'holds a NUL character';
  if (topic.split('/').some((l) => l === '')) return 'has an empty level (// or a trailing /)';
  if (Buffer.byteLength(topic) > 65535) return 'is longer than 65535 bytes';
  return undefined;
}

/** Reads the block; every problem is an issue naming its field (`protocols.mqtt.qos`). `layout` is the one the device speaks (or meant, when there are issues). */
export function readProtocol(device: {
  site: string;
  name: string;
  protocolName?: string;
  protocol: Readonly<Record<string, unknown>>;
  annotations?: Readonly<Record<string, string>>;
}): { target?: MqttTarget; layout: MqttLayout; issues: DriverIssue[] } {
  const block = device.protocol;
  const at = (f: string): string => `protocols.${device.protocolName ?? 'mqtt'}.${f}`;
  const issues: DriverIssue[] = [];
  const given = (name: string): unknown => {
    const raw = field(block, name);
    return raw === '' ? undefined : raw;
  };
  /** A topic (or with `level`, one topic level); an EdgeX style trailing `/#` is dropped when `filter` says so. */
  const topicField = (name: string, dflt: string, opts: { filter?: boolean; level?: boolean } = {}): string => {
    const raw = given(name);
    if (raw === undefined) return dflt;
    if (typeof raw !== 'string') {
      issues.push({ path: at(name), code: ISSUE.protocol, message: `${name} must be a ${opts.level ? 'name' : 'topic string'}, got ${JSON.stringify(raw)}` });
      return dflt;
    }
    let t = opts.level ? raw : raw.replace(/^\//, '');
    if (opts.filter && t.endsWith('/#')) t = t.slice(0, -2);
    const problem = opts.level && t.includes('/') ? 'holds a /' : topicProblem(t);
    if (problem) issues.push({ path: at(name), code: ISSUE.protocol, message: `${name} '${raw}' ${problem}` });
    return t;
  };

  const edgexName = device.annotations?.[EDGEX_NAME_ANNOTATION];
  const imported = edgexName !== undefined && edgexName !== '';
  let layout: MqttLayout = imported ? 'edgex' : 'edgeadm';
  const rawLayout = given('layout');
  if (rawLayout !== undefined) {
    const named = typeof rawLayout === 'string' ? MQTT_LAYOUTS.find((l) => l === rawLayout.trim().toLowerCase()) : undefined;
    if (named) layout = named;
    else issues.push({ path: at('layout'), code: ISSUE.protocol, message: `layout must be ${MQTT_LAYOUTS.join(' or ')}, got ${JSON.stringify(rawLayout)}` });
  }

  let qos: 0 | 1 = 0;
  const rawQos = given('qos');
  if (rawQos !== undefined) {
    const n = typeof rawQos === 'string' ? Number(rawQos.trim()) : rawQos;
    if (n === 0 || n === 1) qos = n;
    else issues.push({ path: at('qos'), code: ISSUE.protocol, message: `qos must be 0 or 1, got ${JSON.stringify(rawQos)}` });
  }
  const duration = (name: keyof typeof MQTT_DURATIONS, dflt: number | undefined): number | undefined => {
    const { minimum: min, maximum: max } = MQTT_DURATIONS[name];
    const raw = given(name);
    if (raw === undefined) return dflt;
    const ms = parseDuration(raw);
    if (ms === undefined || ms < min || ms > max) {
      issues.push({ path: at(name), code: ISSUE.protocol, message: `${name} must be a duration like '5s' from ${min} ms to ${max} ms, got ${JSON.stringify(raw)}` });
      return dflt;
    }
    return ms;
  };
  const commandTimeoutMs = duration('commandTimeout', MQTT_DURATIONS.commandTimeout.default)!;
  const staleAfterMs = duration('staleAfter', undefined);
  let brokerUrl: string | undefined;
  const rawUrl = given('brokerUrl');
  if (rawUrl !== undefined) {
    if (typeof rawUrl !== 'string' || !BROKER_URL_RE.test(rawUrl)) {
      issues.push({ path: at('brokerUrl'), code: ISSUE.protocol, message: `brokerUrl must be an mqtt:// or mqtts:// URL, got ${JSON.stringify(rawUrl)}` });
    } else brokerUrl = rawUrl;
  }
  const common = { qos, commandTimeoutMs, ...(staleAfterMs === undefined ? {} : { staleAfterMs }), ...(brokerUrl ? { brokerUrl } : {}) };

  let target: MqttTarget;
  if (layout === 'edgex') {
    for (const name of ['topic']) {
      if (given(name) !== undefined) issues.push({ path: at(name), code: ISSUE.protocol, message: `${name} applies only to layout edgeadm (layout edgex names topics by CommandTopic, incomingTopic and deviceName)` });
    }
    if (given('CommandTopic') === undefined) {
      issues.push({ path: at('CommandTopic'), code: ISSUE.protocol, message: 'CommandTopic is required with layout edgex (EdgeX device-mqtt has no default), e.g. command/<device>' });
    }
    const commandTopic = topicField('CommandTopic', '', { filter: true });
    const incomingTopic = topicField('incomingTopic', EDGEX_INCOMING_TOPIC, { filter: true });
    const responseTopic = topicField('responseTopic', EDGEX_RESPONSE_TOPIC, { filter: true });
    const deviceName = topicField('deviceName', imported ? edgexName : device.name, { level: true });
    if (given('deviceName') === undefined) {
      const problem = deviceName.includes('/') ? 'holds a /' : topicProblem(deviceName);
      const from = imported ? `the EdgeX name '${deviceName}' (annotation ${EDGEX_NAME_ANNOTATION})` : `the device name '${deviceName}'`;
      if (problem) issues.push({ path: at('deviceName'), code: ISSUE.protocol, message: `${from} ${problem}: it cannot be a topic level; set deviceName` });
    }
    target = { layout, ...common, commandTopic, responseTopic, incomingTopic, deviceName };
  } else {
    for (const name of ['incomingTopic', 'deviceName']) {
      if (given(name) !== undefined) issues.push({ path: at(name), code: ISSUE.protocol, message: `${name} applies only to layout edgex` });
    }
    const baseTopic = topicField('topic', `edgeadm/${device.site}/${device.name}`);
    const commandTopic = topicField('CommandTopic', `${baseTopic}/command`);
    const responseTopic = topicField('responseTopic', `${baseTopic}/response`);
    target = { layout, ...common, baseTopic, commandTopic, responseTopic };
  }
  if (issues.length > 0) return { layout, issues };
  return { target, layout, issues };
}
