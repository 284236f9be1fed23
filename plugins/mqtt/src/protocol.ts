/**
 * A Device's MQTT protocol block (`protocols.mqtt`: topic, qos,
 * commandTopic, responseTopic, commandTimeout, staleAfter, brokerUrl), read
 * into a target, every problem an issue naming its field. Keys match
 * case-insensitively, so EdgeX device-mqtt's `CommandTopic` is
 * `commandTopic`. The fields, their defaults and the command and answer
 * payloads: README.md, "Devices".
 */
import { goDurationMs, type DriverIssue } from '../../../core/sdk/index.ts';
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
