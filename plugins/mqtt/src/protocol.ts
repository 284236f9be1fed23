/**
 * A Device's MQTT protocol block (`protocols.mqtt`), read into a target.
 * Keys match case-insensitively, so EdgeX device-mqtt's `CommandTopic` is
 * the same field as `commandTopic`.
 *
 *   topic           base topic of the device (default `edgeadm/<site>/<device>`);
 *                   resource topics are relative to it unless they start with '/'
 *   qos             0 | 1 (default 0), for subscriptions and commands
 *   commandTopic    where commands are published (EdgeX `CommandTopic`; default `<topic>/command`)
 *   responseTopic   where the device answers (EdgeX `ResponseTopic`; default `<topic>/response`)
 *   commandTimeout  how long a command waits for its answer: '500ms', '5s', '1m' (default 5s);
 *                   a bare number is milliseconds
 *   staleAfter      age after which `read` reports the last value as uncertain (default: the driver's, 5m)
 *   brokerUrl       mqtt:// or mqtts:// URL (default: the site broker)
 *
 * Commands and correlation: a command is a JSON publish `{ "id", "resource",
 * "value" }` on the command topic; the device answers on the response topic
 * with `{ "id", "ok": true }` or `{ "id", "ok": false, "error": "why" }` (an
 * `error` field alone also refuses; `uuid` is accepted for `id`, as EdgeX
 * device-mqtt names it). An answer may echo `"value"`, what the device now
 * holds: `read` then reports it; without it the last telemetry value reads as
 * stale until the device publishes again. The id travels in the payload rather than in MQTT 5
 * correlationData because the site broker (aedes) and many devices speak
 * MQTT 3.1.1 only, and `mosquitto_pub` can answer a JSON command by hand.
 */
import type { DriverIssue } from '../../../core/sdk/index.ts';
import { ISSUE } from './errors.ts';

export const MQTT_PROTOCOLS = ['mqtt'] as const;

export interface MqttTarget {
  baseTopic: string;
  qos: 0 | 1;
  commandTopic: string;
  responseTopic: string;
  commandTimeoutMs: number;
  staleAfterMs?: number;
  brokerUrl?: string;
}

function field(block: Readonly<Record<string, unknown>>, name: string): unknown {
  const key = Object.keys(block).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : block[key];
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** '500ms', '5s', '1.5m', '2h' or a number of milliseconds; undefined when not a duration. */
export function parseDuration(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) && raw >= 0 ? raw : undefined;
  if (typeof raw !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(raw);
  return m ? Math.round(Number(m[1]) * UNIT_MS[m[2]!]!) : undefined;
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

/** Reads the block; every problem is an issue naming its field (`protocols.mqtt.qos`). */
export function readProtocol(device: { site: string; name: string; protocolName?: string; protocol: Readonly<Record<string, unknown>> }): { target?: MqttTarget; issues: DriverIssue[] } {
  const block = device.protocol;
  const at = (f: string): string => `protocols.${device.protocolName ?? 'mqtt'}.${f}`;
  const issues: DriverIssue[] = [];
  const topicField = (name: string, dflt: string): string => {
    const raw = field(block, name);
    if (raw === undefined || raw === '') return dflt;
    if (typeof raw !== 'string') {
      issues.push({ path: at(name), code: ISSUE.protocol, message: `${name} must be a topic string, got ${JSON.stringify(raw)}` });
      return dflt;
    }
    const t = raw.replace(/^\//, '');
    const problem = topicProblem(t);
    if (problem) issues.push({ path: at(name), code: ISSUE.protocol, message: `${name} '${raw}' ${problem}` });
    return t;
  };
  const baseTopic = topicField('topic', `edgeadm/${device.site}/${device.name}`);
  const commandTopic = topicField('commandTopic', `${baseTopic}/command`);
  const responseTopic = topicField('responseTopic', `${baseTopic}/response`);
  let qos: 0 | 1 = 0;
  const rawQos = field(block, 'qos');
  if (rawQos !== undefined && rawQos !== '') {
    const n = typeof rawQos === 'string' ? Number(rawQos.trim()) : rawQos;
    if (n === 0 || n === 1) qos = n;
    else issues.push({ path: at('qos'), code: ISSUE.protocol, message: `qos must be 0 or 1, got ${JSON.stringify(rawQos)}` });
  }
  const duration = (name: string, dflt: number | undefined, min: number, max: number): number | undefined => {
    const raw = field(block, name);
    if (raw === undefined || raw === '') return dflt;
    const ms = parseDuration(raw);
    if (ms === undefined || ms < min || ms > max) {
      issues.push({ path: at(name), code: ISSUE.protocol, message: `${name} must be a duration like '5s' from ${min} ms to ${max} ms, got ${JSON.stringify(raw)}` });
      return dflt;
    }
    return ms;
  };
  const commandTimeoutMs = duration('commandTimeout', 5000, 10, 600_000)!;
  const staleAfterMs = duration('staleAfter', undefined, 1, 30 * 86_400_000);
  let brokerUrl: string | undefined;
  const rawUrl = field(block, 'brokerUrl');
  if (rawUrl !== undefined && rawUrl !== '') {
    if (typeof rawUrl !== 'string' || !/^(mqtts?|wss?|tcp|ssl):\/\/[^/\s]+/.test(rawUrl)) {
      issues.push({ path: at('brokerUrl'), code: ISSUE.protocol, message: `brokerUrl must be an mqtt:// or mqtts:// URL, got ${JSON.stringify(rawUrl)}` });
    } else brokerUrl = rawUrl;
  }
  if (issues.length > 0) return { issues };
  return {
    target: { baseTopic, qos, commandTopic, responseTopic, commandTimeoutMs, ...(staleAfterMs === undefined ? {} : { staleAfterMs }), ...(brokerUrl ? { brokerUrl } : {}) },
    issues,
  };
}
