/**
 * What the resource commands (site, node, device, addon, status) share:
 * argument checks that collect every problem (one usage error, exit 2),
 * `key=value` parsing, relative times, manifests read from files, and
 * get/list/apply/delete of resources through the hub's `/api/v1/<plural>`.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { ResourceList } from '../core/hub/index.ts';
import { API_VERSION, dns1123LabelProblem, dns1123SubdomainProblem, type Resource } from '../core/store/index.ts';
import { hubFetch, type HubTarget } from './client.ts';
import { ErrUsage } from './errors.ts';

export { API_VERSION };

/** The hub options every resource command takes (see withHubOptions). */
export interface HubOpts {
  hub?: string;
  token?: string;
  tokenFile?: string;
  caFile?: string;
}

export interface Problem {
  argument: string;
  reason: string;
}

/** Throws one usage error listing every problem (exit code 2). */
export function usage(problems: readonly Problem[]): void {
  if (problems.length === 0) return;
  if (problems.length === 1) throw new ErrUsage(problems[0]!);
  throw new ErrUsage({ argument: [...new Set(problems.map((p) => p.argument))].join(', '), reason: problems.map((p) => `${p.argument} ${p.reason}`).join('; ') });
}

// The store's own name rules, checked before anything is sent.

/** Adds a problem naming `argument` when `site` is given and is not a Site name (a DNS-1123 label). */
export function checkSite(site: string | undefined, argument: string, problems: Problem[]): void {
  if (site !== undefined && dns1123LabelProblem(site) !== undefined) problems.push({ argument, reason: `'${site}' is not a site name (lowercase letters, digits and '-', at most 63)` });
}

/** Adds a problem naming `argument` when `name` is given and is not a resource name (a DNS-1123 subdomain). */
export function checkName(name: string | undefined, argument: string, problems: Problem[]): void {
  if (name !== undefined && dns1123SubdomainProblem(name) !== undefined) {
    problems.push({ argument, reason: `'${name}' is not a resource name (lowercase letters, digits, '-' and '.', at most 253)` });
  }
}

/** A repeatable option's parser: each use adds one value. */
export const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** `key=value` split at the first '='; a problem naming the argument when there is no key. */
export function splitKeyValue(item: string, argument: string, problems: Problem[]): [string, string] | undefined {
  const eq = item.indexOf('=');
  if (eq <= 0) {
    problems.push({ argument, reason: `'${item}' is not key=value` });
    return undefined;
  }
  return [item.slice(0, eq), item.slice(eq + 1)];
}

/** Labels from repeated `--label key=value`, each checked as a Kubernetes label. */
export async function parseLabels(items: readonly string[], argument: string, problems: Problem[]): Promise<Record<string, string>> {
  const labels: Record<string, string> = {};
  if (items.length === 0) return labels;
  const { labelKeyProblem, labelValueProblem } = await import('../core/store/index.ts');
  for (const item of items) {
    const kv = splitKeyValue(item, argument, problems);
    if (!kv) continue;
    const [key, value] = kv;
    const kp = labelKeyProblem(key);
    const vp = labelValueProblem(value);
    if (kp !== undefined) problems.push({ argument, reason: `'${item}': key ${kp}` });
    else if (vp !== undefined) problems.push({ argument, reason: `'${item}': value ${vp}` });
    else labels[key] = value;
  }
  return labels;
}

/** How long ago an RFC 3339 time was, as `12s ago`, `5m ago`, `3h ago`, `2d ago`; `-` when unknown. */
export function ago(time: string | undefined, now = Date.now()): string {
  const t = time === undefined ? Number.NaN : Date.parse(time);
  if (Number.isNaN(t)) return '-';
  return `${agoMs(now - t)} ago`;
}

/** A duration in ms as `12s`, `5m`, `3h`, `2d`. */
export function agoMs(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** `?a=1&b=2` from the defined parameters; '' when none. */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

/** A value as one table cell: strings as they are, the rest as JSON. */
export function cell(value: unknown): string {
  if (value === undefined || value === null) return '-';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

// ---------------------------------------------------------------------------
// Files

/** Reads a YAML or JSON file (several YAML documents allowed); a usage error names the argument. */
export function readDocuments(file: string, argument: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ErrUsage({ argument, reason: `cannot read '${file}': ${(err as Error).message}` });
  }
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const out: unknown[] = [];
  for (const doc of list) {
    const error = doc.errors[0];
    if (error) throw new ErrUsage({ argument, reason: `'${file}' is not valid YAML or JSON: ${error.message.split('\n')[0] ?? ''}` });
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  if (out.length === 0) throw new ErrUsage({ argument, reason: `'${file}' is empty` });
  return out;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// ---------------------------------------------------------------------------
// The hub's resource API

/** A resource as the hub returns it. */
export type Obj<S = Record<string, unknown>, St = Record<string, unknown>> = Resource<S, St>;

/** Every resource of a kind (following `continue` pages), optionally of one site. */
export async function listAll<T>(target: HubTarget, plural: string, params: { site?: string; labelSelector?: string } = {}): Promise<T[]> {
  const out: T[] = [];
  let next: string | undefined;
  do {
    const page = await hubFetch<ResourceList<T>>(target, 'GET', `/api/v1/${plural}${query({ ...params, limit: 1000, continue: next })}`);
    out.push(...page.items);
    next = page.continue;
  } while (next);
  return out;
}

export function getResource<T>(target: HubTarget, plural: string, name: string): Promise<T> {
  return hubFetch<T>(target, 'GET', `/api/v1/${plural}/${encodeURIComponent(name)}`);
}

/** Create or replace (apply). */
export function applyResource<T>(target: HubTarget, plural: string, obj: { metadata: { name: string } } & Record<string, unknown>): Promise<T> {
  return hubFetch<T>(target, 'PUT', `/api/v1/${plural}/${encodeURIComponent(obj.metadata.name)}`, { apiVersion: API_VERSION, ...obj });
}

/** Create; 409 EDGE_ERR_STORE_EXISTS when it exists. */
export function createResource<T>(target: HubTarget, plural: string, obj: { metadata: { name: string } } & Record<string, unknown>): Promise<T> {
  return hubFetch<T>(target, 'POST', `/api/v1/${plural}`, { apiVersion: API_VERSION, ...obj });
}

export function deleteResource<T>(target: HubTarget, plural: string, name: string): Promise<T> {
  return hubFetch<T>(target, 'DELETE', `/api/v1/${plural}/${encodeURIComponent(name)}`);
}

