/**
 * The hub's own writes to a Node's status, and the node's SSH host keys.
 *
 * A Node's status belongs to the hub: tunnel-cloud records the connection
 * (connected, lastSeen, tunnel), join records joinedAt and the host keys.
 * `updateNodeStatus` is the one way those writes are made: read, patch,
 * write at the read revision, again on a conflict.
 *
 * Host keys: the first join that reports keys records them as trusted. A
 * later join that reports other keys does not replace them: its keys wait in
 * `sshHostKeysPending` until an admin trusts them (all, or those whose
 * fingerprints the admin checked on the node) or rejects them. Keys are
 * compared by type and key blob; the comment (usually `root@hostname`) does
 * not count. Fingerprints are `SHA256:<base64>`, as OpenSSH prints them.
 */
import { isDeepStrictEqual } from 'node:util';
import Type, { type Static } from 'typebox';
import { StoreErrors, type NodeObject, type NodeStatus, type ResourceStore } from '../store/index.ts';
import { loadSsh } from '../tunnel/index.ts';
import { ErrHostKeyNotPending, ErrHostKeysProtected, ErrNoPendingHostKeys, type RequestIssue } from './errors.ts';

/** Status fields only join and the host-key routes write: the generic status route keeps them as they are. */
export const HOST_KEY_FIELDS = ['sshHostKeys', 'sshHostKeysTrustedAt', 'sshHostKeysPending'] as const satisfies readonly (keyof NodeStatus)[];

export const HostKeySchema = Type.Object({
  type: Type.String({ description: 'Key type, e.g. ssh-ed25519.' }),
  fingerprint: Type.String({ description: 'SHA256:<base64>, as `ssh-keygen -lf` prints it.' }),
  key: Type.String({ description: 'The OpenSSH public key line.' }),
});
export const HostKeysViewSchema = Type.Object({
  node: Type.String(),
  trusted: Type.Array(HostKeySchema),
  trustedAt: Type.Optional(Type.String()),
  pending: Type.Optional(
    Type.Object({
      keys: Type.Array(HostKeySchema),
      reportedAt: Type.String(),
      bootstrapTokenId: Type.Optional(Type.String()),
    }),
  ),
});
/** One host key with its fingerprint. */
export type HostKey = Static<typeof HostKeySchema>;
/** A node's trusted host keys and any pending change, as the host-keys routes answer. */
export type HostKeysView = Static<typeof HostKeysViewSchema>;

const KEY_TYPE_RE = /^[a-z0-9][a-z0-9@.-]{0,63}$/;
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/** An OpenSSH public key line as type and blob; a problem (string) when it is not one. */
function parseKeyLine(line: string): { type: string; blob: Buffer } | string {
  const [type = '', data = ''] = line.trim().split(/\s+/);
  if (!KEY_TYPE_RE.test(type)) return `'${type.slice(0, 64)}' is not a key type`;
  if (!BASE64_RE.test(data) || data.length % 4 !== 0) return 'the key is not base64';
  const blob = Buffer.from(data, 'base64');
  // The blob starts with its own type, as a length-prefixed string: it must agree with the line's.
  const n = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (n !== type.length || blob.subarray(4, 4 + n).toString('latin1') !== type) return `the key blob is not a ${type} key`;
  return { type, blob };
}

/** What identifies a key: type and blob, without the comment. */
function identity(line: string): string {
  const [type = '', data = ''] = line.trim().split(/\s+/);
  return `${type} ${data}`;
}

/** Whether two lists hold the same keys (order, duplicates and comments aside). */
export function sameHostKeys(a: readonly string[], b: readonly string[]): boolean {
  const set = (l: readonly string[]): string[] => [...new Set(l.map(identity))].sort();
  return isDeepStrictEqual(set(a), set(b));
}

/** The problems of reported host key lines, each naming its index under `field`. */
export function hostKeyIssues(lines: readonly string[], field: string): RequestIssue[] {
  const issues: RequestIssue[] = [];
  lines.forEach((line, i) => {
    const parsed = parseKeyLine(line);
    if (typeof parsed === 'string') issues.push({ in: 'body', path: `${field}[${i}]`, message: `is not an OpenSSH public key line ('<type> <base64> [comment]'): ${parsed}` });
  });
  return issues;
}

/** Type and fingerprint of each line; a line that does not parse keeps its text with type `invalid`. */
export async function describeHostKeys(lines: readonly string[]): Promise<HostKey[]> {
  const { sshFingerprint } = await loadSsh();
  return lines.map((key) => {
    const parsed = parseKeyLine(key);
    return typeof parsed === 'string' ? { type: 'invalid', fingerprint: `(${parsed})`, key } : { type: parsed.type, fingerprint: sshFingerprint(parsed.blob), key };
  });
}

/** The host-keys view of a Node. */
export async function hostKeysView(node: NodeObject): Promise<HostKeysView> {
  const s = node.status ?? {};
  const view: HostKeysView = { node: node.metadata.name, trusted: await describeHostKeys(s.sshHostKeys ?? []) };
  if (s.sshHostKeysTrustedAt !== undefined) view.trustedAt = s.sshHostKeysTrustedAt;
  const p = s.sshHostKeysPending;
  if (p) view.pending = { keys: await describeHostKeys(p.keys), reportedAt: p.reportedAt, ...(p.bootstrapTokenId === undefined ? {} : { bootstrapTokenId: p.bootstrapTokenId }) };
  return view;
}

/**
 * Patches a Node's status at the revision it was read at, reading again on a
 * conflict (tunnel-cloud and join write the same status). `patch` gets a copy
 * and returns the new status, or undefined to write nothing. Resolves with
 * the Node as it then is; undefined when there is no such Node.
 */
export async function updateNodeStatus(
  store: ResourceStore,
  name: string,
  patch: (status: NodeStatus, node: NodeObject) => NodeStatus | undefined | Promise<NodeStatus | undefined>,
): Promise<NodeObject | undefined> {
  for (let attempt = 1; ; attempt++) {
    const current = await store.get<NodeObject>('Node', name);
    if (!current) return undefined;
    const next = await patch({ ...(current.status ?? {}) }, current);
    if (next === undefined) return current;
    try {
      return await store.updateStatus<NodeObject>('Node', name, next, { resourceVersion: current.metadata.resourceVersion! });
    } catch (err) {
      if (!StoreErrors.ErrConflict.is(err) || attempt >= 5) throw err;
    }
  }
}

/** What a join did to the host keys: `recorded` (first keys), `pending` (other keys wait for an admin), or nothing. */
export type JoinHostKeyOutcome = { kind: 'recorded' } | { kind: 'pending'; trusted: string[] } | { kind: 'unchanged' };

/**
 * The status after a join that reported `reported` keys (none: nothing changes):
 * with no trusted keys yet they become trusted; keys other than the trusted
 * ones become the pending change (replacing an earlier pending one).
 */
export function joinHostKeys(status: NodeStatus, reported: readonly string[] | undefined, now: string, bootstrapTokenId: string): { status: NodeStatus; outcome: JoinHostKeyOutcome } {
  const next: NodeStatus = { ...status };
  if (reported === undefined || reported.length === 0) return { status: next, outcome: { kind: 'unchanged' } };
  const trusted = status.sshHostKeys ?? [];
  if (trusted.length === 0) {
    next.sshHostKeys = [...reported];
    next.sshHostKeysTrustedAt = now;
    return { status: next, outcome: { kind: 'recorded' } };
  }
  if (sameHostKeys(trusted, reported)) return { status: next, outcome: { kind: 'unchanged' } };
  next.sshHostKeysPending = { keys: [...reported], reportedAt: now, bootstrapTokenId };
  return { status: next, outcome: { kind: 'pending', trusted: [...trusted] } };
}

/**
 * The status after an admin trusted the pending keys: all of them, or, with
 * `fingerprints`, exactly those (each must be pending). 409 without a pending change.
 */
export async function trustPendingHostKeys(node: string, status: NodeStatus, fingerprints: readonly string[] | undefined, now: string): Promise<NodeStatus> {
  const pending = status.sshHostKeysPending;
  if (!pending) throw new ErrNoPendingHostKeys({ node, action: 'trust' });
  let keys = pending.keys;
  if (fingerprints !== undefined && fingerprints.length > 0) {
    const described = await describeHostKeys(pending.keys);
    const missing = fingerprints.filter((f) => !described.some((k) => k.fingerprint === f));
    if (missing.length > 0) throw new ErrHostKeyNotPending({ node, fingerprints: missing, pending: described.map((k) => k.fingerprint) });
    keys = described.filter((k) => fingerprints.includes(k.fingerprint)).map((k) => k.key);
  }
  const next: NodeStatus = { ...status, sshHostKeys: keys, sshHostKeysTrustedAt: now };
  delete next.sshHostKeysPending;
  return next;
}

/** The status after an admin rejected the pending keys: the trusted ones stay. 409 without a pending change. */
export function rejectPendingHostKeys(node: string, status: NodeStatus): NodeStatus {
  if (!status.sshHostKeysPending) throw new ErrNoPendingHostKeys({ node, action: 'reject' });
  const next: NodeStatus = { ...status };
  delete next.sshHostKeysPending;
  return next;
}

/**
 * A status written through the generic status route, with the host-key
 * fields as they are stored: absent ones are kept, changed ones refused.
 */
export function keepHostKeys(node: string, stored: NodeStatus, written: unknown): unknown {
  if (written === null || typeof written !== 'object' || Array.isArray(written)) return written;
  const out: Record<string, unknown> = { ...(written as Record<string, unknown>) };
  for (const field of HOST_KEY_FIELDS) {
    if (field in out && !isDeepStrictEqual(out[field], stored[field])) throw new ErrHostKeysProtected({ node, field });
    if (stored[field] === undefined) delete out[field];
    else out[field] = stored[field];
  }
  return out;
}
