/**
 * The checks every ResourceStore driver makes of its callers' arguments,
 * one source for the sqlite and kube drivers so both refuse the same input
 * with the same EDGE_ERR_STORE_INVALID issues: kind and name of a key,
 * resourceVersions, history limits, list options (limit, site, continue tokens: base64url
 * JSON naming the kind they were issued for) and watch options; and the
 * rules a write checks against the stored object (exists, precondition,
 * immutable fields).
 */
import type { FieldIssue } from '../kernel/index.ts';
import { ErrConflict, ErrExists, ErrImmutable, ErrInvalid } from './errors.ts';
import { parseLabelSelector, type LabelSelector } from './selectors.ts';
import { prepareResource } from './schemas.ts';
import { KINDS, type Kind, type ListOptions, type Resource, type WatchOptions, type WriteOptions } from './types.ts';

export function isKind(k: unknown): k is Kind {
  return typeof k === 'string' && (KINDS as readonly string[]).includes(k);
}

/** The issue of a resourceVersion that is not a decimal number (within JavaScript's safe integers), or undefined. */
export function revisionIssue(value: unknown, field: string): FieldIssue | undefined {
  if (typeof value === 'string' && /^[0-9]+$/.test(value) && Number.isSafeInteger(Number(value))) return undefined;
  return { path: field, message: `must be a resourceVersion (a decimal number as a string), is ${JSON.stringify(value)}` };
}

/** The issue of a driver's history limit (events kept for watch and paged lists) that is not an integer of at least 1, or undefined. */
export function historyLimitIssue(value: unknown): FieldIssue | undefined {
  if (Number.isSafeInteger(value) && (value as number) >= 1) return undefined;
  return { path: 'historyLimit', message: `must be an integer of at least 1 (is ${String(value)})` };
}

/** `opts.resourceVersion` of a write, checked; undefined when the write is not pinned to one. */
export function expectedRevision(kind: Kind, name: string, opts: WriteOptions): string | undefined {
  if (opts.resourceVersion === undefined) return undefined;
  const issue = revisionIssue(opts.resourceVersion, 'resourceVersion');
  if (issue) throw new ErrInvalid({ kind, name, issues: [issue] });
  return opts.resourceVersion;
}

/** A write's object as every driver takes it: checked against its kind's schema (EDGE_ERR_STORE_INVALID), with its key and the resourceVersion it is pinned to. */
export function preparedWrite(obj: Resource, opts: WriteOptions): { input: Resource; kind: Kind; name: string; expected: string | undefined } {
  const prepared = prepareResource(obj);
  if (!prepared.ok) throw new ErrInvalid({ ...describeObject(obj), issues: prepared.issues });
  const input = prepared.value;
  const { kind } = input;
  const { name } = input.metadata;
  return { input, kind, name, expected: expectedRevision(kind, name, opts) };
}

/** EDGE_ERR_STORE_INVALID unless `kind` is a kind and `name` a non-empty string. */
export function checkKey(kind: unknown, name: unknown): void {
  const issues: FieldIssue[] = [];
  if (!isKind(kind)) issues.push({ path: 'kind', message: `must be one of ${KINDS.join(', ')} (is ${JSON.stringify(kind)})` });
  if (typeof name !== 'string' || name === '') issues.push({ path: 'metadata.name', message: 'must be a non-empty string' });
  if (issues.length > 0) throw new ErrInvalid({ kind: String(kind), name: String(name), issues });
}

/** The kind and name of an object for an error message, whatever it holds. */
export function describeObject(obj: unknown): { kind: string; name: string } {
  const o = obj as { kind?: unknown; metadata?: { name?: unknown } } | null;
  return {
    kind: typeof o?.kind === 'string' ? o.kind : '(no kind)',
    name: typeof o?.metadata?.name === 'string' ? o.metadata.name : '(no name)',
  };
}

/** A continue token: the driver's own position, with the kind its list was of. */
export interface ContinueToken<P> {
  k: Kind;
  p: P;
}

export function encodeContinue<P>(kind: Kind, position: P): string {
  return Buffer.from(JSON.stringify({ v: 1, k: kind, p: position })).toString('base64url');
}

function decodeContinue<P>(token: string, isPosition: (p: unknown) => p is P): ContinueToken<P> | undefined {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v?: unknown; k?: unknown; p?: unknown } | null;
    if (t && t.v === 1 && isKind(t.k) && isPosition(t.p)) return { k: t.k, p: t.p };
  } catch {
    // reported by the caller as an invalid token
  }
  return undefined;
}

/**
 * Checks list options (every problem at once) and parses the selector and
 * continue token; `isPosition` says whether a decoded token position is the driver's.
 */
export function checkListOptions<P>(
  kind: Kind,
  opts: ListOptions,
  isPosition: (p: unknown) => p is P,
): { token: ContinueToken<P> | undefined; selector: LabelSelector | undefined } {
  const issues: FieldIssue[] = [];
  if (!isKind(kind)) issues.push({ path: 'kind', message: `must be one of ${KINDS.join(', ')}` });
  if (opts.limit !== undefined && (!Number.isSafeInteger(opts.limit) || opts.limit < 1)) {
    issues.push({ path: 'limit', message: `must be a positive integer (is ${String(opts.limit)})` });
  }
  if (opts.site !== undefined && (typeof opts.site !== 'string' || opts.site === '')) {
    issues.push({ path: 'site', message: 'must be a non-empty string' });
  }
  let token: ContinueToken<P> | undefined;
  if (opts.continue !== undefined) {
    token = typeof opts.continue === 'string' ? decodeContinue(opts.continue, isPosition) : undefined;
    if (!token) issues.push({ path: 'continue', message: 'is not a continue token from this store' });
    else if (token.k !== kind) issues.push({ path: 'continue', message: `was issued for a list of ${token.k}, not ${kind}` });
  }
  if (issues.length > 0) throw new ErrInvalid({ kind: String(kind), name: '(list)', issues });
  return { token, selector: opts.labelSelector ? parseLabelSelector(opts.labelSelector) : undefined };
}

/** Checks watch options (every problem at once) and parses the selector. */
export function checkWatchOptions(opts: WatchOptions): { kinds: Kind[] | undefined; selector: LabelSelector | undefined } {
  const issues: FieldIssue[] = [];
  if (opts.resourceVersion !== undefined) {
    const issue = revisionIssue(opts.resourceVersion, 'resourceVersion');
    if (issue) issues.push(issue);
  }
  const kinds = opts.kinds ? [...opts.kinds] : undefined;
  kinds?.forEach((k, i) => {
    if (!isKind(k)) issues.push({ path: `kinds[${i}]`, message: `must be one of ${KINDS.join(', ')}` });
  });
  if (opts.bookmarkIntervalMs !== undefined && !(Number.isFinite(opts.bookmarkIntervalMs) && opts.bookmarkIntervalMs > 0)) {
    issues.push({ path: 'bookmarkIntervalMs', message: `must be a positive number (is ${String(opts.bookmarkIntervalMs)})` });
  }
  if (opts.site !== undefined && (typeof opts.site !== 'string' || opts.site === '')) {
    issues.push({ path: 'site', message: 'must be a non-empty string' });
  }
  if (issues.length > 0) throw new ErrInvalid({ kind: kinds?.join(',') ?? '*', name: '(watch)', issues });
  return { kinds, selector: opts.labelSelector ? parseLabelSelector(opts.labelSelector) : undefined };
}

/**
 * What a write checks against the object as stored (`existing`, with its
 * resourceVersion and spec): EXISTS for a create, CONFLICT when pinned to
 * another resourceVersion, IMMUTABLE when a Node or Device changes site.
 */
export function checkWrite(
  kind: Kind,
  name: string,
  w: { create: boolean; expected: string | undefined; spec?: unknown },
  existing: { resourceVersion: string | undefined; spec: unknown } | undefined,
): void {
  if (w.create && existing) throw new ErrExists({ kind, name });
  if (w.expected !== undefined) {
    const current = existing?.resourceVersion ?? null;
    if (current !== w.expected) throw new ErrConflict({ kind, name, expected: w.expected, current });
  }
  if (existing && w.spec !== undefined && (kind === 'Node' || kind === 'Device')) {
    const before = (existing.spec as { site: string }).site;
    const after = (w.spec as { site: string }).site;
    if (before !== after) throw new ErrImmutable({ kind, name, field: 'spec.site', current: before, requested: after });
  }
}
