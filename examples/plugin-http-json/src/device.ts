/**
 * A Device as the http-json driver needs it: the protocol block
 * (`protocols.http-json`: `url`, optional `timeoutMs`) and, per profile
 * resource, the JSON Pointer of its value (`attributes.pointer`). Every
 * problem is an issue naming its field, all of them at once, before any
 * request is made.
 */
import type { DriverDevice, DriverIssue, DriverResource } from 'edgeadm/sdk';
import { ISSUE } from './errors.ts';
import { parsePointer } from './pointer.ts';

export const PROTOCOL = 'http-json';

/** Profile properties this driver does not apply: a value is read as the device's document holds it. */
const TRANSFORMS = ['scale', 'offset', 'base', 'mask', 'shift'] as const;

export interface Point {
  resource: DriverResource;
  pointer: string;
  tokens: string[];
}

export interface Target {
  url: string;
  timeoutMs: number;
  /** By resource name. */
  points: Map<string, Point>;
}

function timeoutOf(raw: unknown, dflt: number, issues: DriverIssue[], at: string): number {
  if (raw === undefined || raw === '') return dflt;
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (Number.isInteger(n) && n >= 10 && n <= 60_000) return n;
  issues.push({ path: at, code: ISSUE.protocol, message: `timeoutMs must be an integer from 10 to 60000, got ${JSON.stringify(raw)}` });
  return dflt;
}

/** Reads the device into a target, or says everything that is wrong with it. */
export function readDevice(device: DriverDevice, defaults: { timeoutMs: number }): { target?: Target; issues: DriverIssue[] } {
  const issues: DriverIssue[] = [];
  const at = (field: string): string => `protocols.${device.protocolName ?? PROTOCOL}.${field}`;
  const url = device.protocol.url;
  if (typeof url !== 'string' || !URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    issues.push({ path: at('url'), code: ISSUE.protocol, message: `url must be an http:// or https:// URL, got ${JSON.stringify(url)}` });
  }
  const timeoutMs = timeoutOf(device.protocol.timeoutMs, defaults.timeoutMs, issues, at('timeoutMs'));
  const points = new Map<string, Point>();
  device.resources.forEach((resource, i) => {
    const raw = resource.attributes.pointer;
    const parsed = typeof raw === 'string' ? parsePointer(raw) : { problem: `pointer is required: a JSON Pointer such as '/sensors/0/temp', got ${JSON.stringify(raw)}` };
    if ('problem' in parsed) issues.push({ path: `deviceResources[${i}].attributes.pointer`, code: ISSUE.attribute, message: parsed.problem });
    else points.set(resource.name, { resource, pointer: raw as string, tokens: parsed.tokens });
    for (const t of TRANSFORMS) {
      if (resource.properties[t] !== undefined) {
        issues.push({ path: `deviceResources[${i}].properties.${t}`, code: ISSUE.property, message: `${t} is not supported by http-json: the document must hold the value itself` });
      }
    }
  });
  if (issues.length > 0) return { issues };
  return { target: { url: url as string, timeoutMs, points }, issues };
}
