/**
 * A Device's OPC UA protocol block (`protocols.opcua`), read into a target:
 * the endpoint, its security (security.ts, `parseSecurity`), and the
 * subscription and monitoring defaults, which a resource's attributes may
 * override (`readMonitoring`, used by profile.ts too). Keys match
 * case-insensitively (EdgeX device-opcua writes `Endpoint`); durations are
 * milliseconds or Go durations. The fields, their bounds, defaults and
 * choices are protocol-schema.ts's (the schema the hub checks Device writes
 * with); README.md, "Devices".
 */
import { goDurationMs, type DriverIssue } from '../../../core/sdk/index.ts';
import { ISSUE } from './errors.ts';
import { DEADBAND_TYPES, ENDPOINT_FORM, OPCUA_DURATIONS, QUEUE_SIZE, type DeadbandTypeName } from './protocol-schema.ts';
import { parseSecurity, type OpcuaSecurity, type OpcuaUser } from './security.ts';

export { DEADBAND_TYPES, OPCUA_PROTOCOLS, type DeadbandTypeName } from './protocol-schema.ts';

/** How a monitored item samples and filters. */
export interface MonitoringSettings {
  samplingInterval: number;
  queueSize: number;
  deadbandType: DeadbandTypeName;
  deadbandValue: number;
}

export interface OpcuaTarget {
  endpoint: string;
  security: OpcuaSecurity;
  /** No user: anonymous. */
  user?: OpcuaUser;
  publishingInterval: number;
  monitoring: MonitoringSettings;
  requestTimeoutMs?: number;
  sessionTimeoutMs?: number;
}

export type FieldReader = (name: string) => unknown;

/** A case-insensitive field reader over a block. */
export function fieldsOf(block: Readonly<Record<string, unknown>>): FieldReader {
  return (name) => {
    const key = Object.keys(block).find((k) => k.toLowerCase() === name.toLowerCase());
    return key === undefined ? undefined : block[key];
  };
}

/**
 * A duration field in whole milliseconds: a number or a numeric string of
 * milliseconds (OPC UA's own unit), or a Go duration string (`500ms`, `2s`,
 * `1m30s`); surrounding blanks ignored. Undefined when it is none of these,
 * or negative; each field's bounds are checked by its reader.
 */
export function parseDuration(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) && raw >= 0 ? raw : undefined;
  if (typeof raw !== 'string') return undefined;
  const text = raw.trim();
  const ms = /^\d+(?:\.\d+)?$/.test(text) ? Number(text) : goDurationMs(text);
  return ms === undefined || ms < 0 ? undefined : Math.round(ms);
}

function isBlank(v: unknown): boolean {
  return v === undefined || v === null || v === '';
}

function oneOf<T extends string>(raw: unknown, allowed: readonly T[]): T | undefined {
  if (typeof raw !== 'string') return undefined;
  return allowed.find((a) => a.toLowerCase() === raw.trim().toLowerCase());
}

/**
 * Monitoring fields (of a protocol block or a resource's attributes). Only
 * the fields present are returned; each bad one is an issue at its path.
 */
export function readMonitoring(get: FieldReader, at: (f: string) => string, issues: DriverIssue[], code: string): Partial<MonitoringSettings> {
  const out: Partial<MonitoringSettings> = {};
  const rawSampling = get('samplingInterval');
  if (!isBlank(rawSampling)) {
    const ms = parseDuration(rawSampling);
    const { minimum, maximum } = OPCUA_DURATIONS.samplingInterval;
    if (ms === undefined || ms < minimum || ms > maximum) issues.push({ path: at('samplingInterval'), code, message: `samplingInterval must be a duration from 0 to 1h (ms, or 500ms / 2s), got ${JSON.stringify(rawSampling)}` });
    else out.samplingInterval = ms;
  }
  const rawQueue = get('queueSize');
  if (!isBlank(rawQueue)) {
    const n = typeof rawQueue === 'number' ? rawQueue : typeof rawQueue === 'string' && /^\s*\d+\s*$/.test(rawQueue) ? Number(rawQueue) : NaN;
    if (!Number.isInteger(n) || n < QUEUE_SIZE.minimum || n > QUEUE_SIZE.maximum) issues.push({ path: at('queueSize'), code, message: `queueSize must be an integer from ${QUEUE_SIZE.minimum} to ${QUEUE_SIZE.maximum}, got ${JSON.stringify(rawQueue)}` });
    else out.queueSize = n;
  }
  const rawType = get('deadbandType');
  if (!isBlank(rawType)) {
    const t = oneOf(rawType, DEADBAND_TYPES);
    if (!t) issues.push({ path: at('deadbandType'), code, message: `deadbandType must be one of ${DEADBAND_TYPES.join(', ')}, got ${JSON.stringify(rawType)}` });
    else out.deadbandType = t;
  }
  const rawValue = get('deadbandValue');
  if (!isBlank(rawValue)) {
    const v = typeof rawValue === 'number' ? rawValue : typeof rawValue === 'string' && rawValue.trim() !== '' ? Number(rawValue) : NaN;
    if (!Number.isFinite(v) || v < 0) issues.push({ path: at('deadbandValue'), code, message: `deadbandValue must be a number >= 0, got ${JSON.stringify(rawValue)}` });
    else if (out.deadbandType === 'Percent' && v > 100) issues.push({ path: at('deadbandValue'), code, message: `a Percent deadbandValue must be from 0 to 100, got ${v}` });
    else out.deadbandValue = v;
  }
  return out;
}

const ENDPOINT_RE = new RegExp(`^${ENDPOINT_FORM}$`);

/** Why `text` is not an opc.tcp endpoint URL, or undefined when it is one. */
export function endpointProblem(text: string): string | undefined {
  const m = ENDPOINT_RE.exec(text);
  if (!m) return `'${text}' is not an opc.tcp://host:port/path URL`;
  if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) return `port ${m[2]} of '${text}' is not from 1 to 65535`;
  return undefined;
}

/** Reads the block; every problem is an issue naming its field (`protocols.opcua.securityPolicy`). */
export function readProtocol(device: { protocolName?: string; protocol: Readonly<Record<string, unknown>> }): { target?: OpcuaTarget; issues: DriverIssue[] } {
  const get = fieldsOf(device.protocol);
  const at = (f: string): string => `protocols.${device.protocolName ?? 'opcua'}.${f}`;
  const issues: DriverIssue[] = [];
  const rawEndpoint = get('endpoint');
  let endpoint: string | undefined;
  if (typeof rawEndpoint !== 'string' || rawEndpoint.trim() === '') {
    issues.push({ path: at('endpoint'), code: ISSUE.protocol, message: `endpoint is required: opc.tcp://host:port/path${rawEndpoint === undefined ? '' : `, got ${JSON.stringify(rawEndpoint)}`}` });
  } else {
    const problem = endpointProblem(rawEndpoint.trim());
    if (problem) issues.push({ path: at('endpoint'), code: ISSUE.protocol, message: problem });
    else endpoint = rawEndpoint.trim();
  }
  const sec = parseSecurity(device.protocol, device.protocolName ?? 'opcua');
  issues.push(...sec.issues);
  const duration = (name: keyof typeof OPCUA_DURATIONS): number | undefined => {
    const { minimum: min, maximum: max } = OPCUA_DURATIONS[name];
    const raw = get(name);
    if (isBlank(raw)) return undefined;
    const ms = parseDuration(raw);
    if (ms === undefined || ms < min || ms > max) {
      issues.push({ path: at(name), code: ISSUE.protocol, message: `${name} must be a duration from ${min} ms to ${max} ms (ms, or 500ms / 2s), got ${JSON.stringify(raw)}` });
      return undefined;
    }
    return ms;
  };
  const publishingInterval = duration('publishingInterval') ?? OPCUA_DURATIONS.publishingInterval.default;
  const requestTimeoutMs = duration('requestTimeout');
  const sessionTimeoutMs = duration('sessionTimeout');
  const m = readMonitoring(get, at, issues, ISSUE.protocol);
  const monitoring: MonitoringSettings = {
    samplingInterval: m.samplingInterval ?? publishingInterval,
    queueSize: m.queueSize ?? QUEUE_SIZE.default,
    deadbandType: m.deadbandType ?? 'None',
    deadbandValue: m.deadbandValue ?? 0,
  };
  if (issues.length > 0 || endpoint === undefined) return { issues };
  return {
    target: {
      endpoint,
      security: sec.security,
      ...(sec.user ? { user: sec.user } : {}),
      publishingInterval,
      monitoring,
      ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
      ...(sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs }),
    },
    issues,
  };
}
