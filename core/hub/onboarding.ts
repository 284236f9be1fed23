/**
 * Onboarding's domain rules, apart from its HTTP routes
 * (routes/onboarding.ts): the names of BrokerCredentials and PendingDevices,
 * the provisioning rules' glob match, and what approving or rejecting a
 * PendingDevice writes to the store (the DeviceProfile and Device, or
 * nothing at all).
 */
import { createHash } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { toErrorInfo } from '../kernel/index.ts';
import {
  API_VERSION,
  dns1123LabelProblem,
  prepareResource,
  StoreErrors,
  type BrokerCredentialObject,
  type DeviceObject,
  type DeviceProfileObject,
  type OnboardingRule,
  type PendingDeviceObject,
  type PendingDeviceSpec,
  type PendingDeviceStatus,
  type Resource,
} from '../store/index.ts';
import type { HubContext } from './context.ts';
import { ErrFieldConflict, ErrNotFound, ErrPendingState, ErrRefNotFound } from './errors.ts';

export type PendingPhase = NonNullable<PendingDeviceStatus['phase']>;

/** Label put on Devices (and the profiles made for them) created from an announcement: its source. */
export const ONBOARDED_FROM_LABEL = 'edgeadm.io/onboarded-from';
/** A re-announcement that changes nothing rewrites lastSeen at most this often. */
export const LAST_SEEN_WRITE_INTERVAL_MS = 60_000;

const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * The BrokerCredential name for a username at a site: `<site>.<username>` when
 * the username is a lowercase DNS-1123 label, else `<site>.u-<12 hex of its sha256>`.
 */
export function brokerCredentialName(site: string, username: string): string {
  if (dns1123LabelProblem(username) === undefined) return `${site}.${username}`;
  return `${site}.u-${sha256Hex(username).slice(0, 12)}`;
}

/** The PendingDevice name of an announcement: `<site>.<source>.<16 hex of sha256(identifier)>`. */
export function pendingDeviceName(site: string, source: string, identifier: string): string {
  return `${site}.${source}.${sha256Hex(identifier).slice(0, 16)}`;
}

/** Whole-string glob match: `*` any run of characters (also none), `?` exactly one. Linear in practice, no backtracking blow-up. */
export function globMatch(pattern: string, text: string): boolean {
  const p = [...pattern];
  const t = [...text];
  let pi = 0;
  let ti = 0;
  let star = -1;
  let mark = 0;
  while (ti < t.length) {
    if (pi < p.length && p[pi] !== '*' && (p[pi] === '?' || p[pi] === t[ti])) {
      pi++;
      ti++;
    } else if (pi < p.length && p[pi] === '*') {
      star = pi++;
      mark = ti;
    } else if (star >= 0) {
      pi = star + 1;
      ti = ++mark;
    } else return false;
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

/** The first rule whose every given `match` field matches the announcement (`source` exactly, the others as globs). */
export function matchRule(
  rules: readonly OnboardingRule[],
  spec: Pick<PendingDeviceSpec, 'source' | 'identifier' | 'manufacturer' | 'model'>,
): OnboardingRule | undefined {
  return rules.find((rule) => {
    const m = rule.match;
    if (m.source !== undefined && m.source !== spec.source) return false;
    for (const field of ['identifier', 'manufacturer', 'model'] as const) {
      const glob = m[field];
      if (glob === undefined) continue;
      const value = spec[field];
      if (value === undefined || !globMatch(glob, value)) return false;
    }
    return true;
  });
}

// ---------------------------------------------------------------------------
// Request and response schemas


/** JSON with object keys sorted: equal strings mean equal values. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Whether `candidate` would store the same spec as `stored` has (after the store's normalisations). */
export function sameSpec(candidate: Resource, stored: Resource): boolean {
  const prepared = prepareResource(candidate);
  return canonical(prepared.ok ? prepared.value.spec : candidate.spec) === canonical(stored.spec);
}

export function phaseOf(p: PendingDeviceObject): PendingPhase {
  return p.status?.phase ?? 'Pending';
}

export async function findCredential(ctx: HubContext, site: string, username: string): Promise<BrokerCredentialObject | undefined> {
  const byName = await ctx.store.get<BrokerCredentialObject>('BrokerCredential', brokerCredentialName(site, username));
  if (byName && byName.spec.site === site && byName.spec.username === username) return byName;
  const all = await ctx.store.list<BrokerCredentialObject>('BrokerCredential', { site });
  return all.items.find((c) => c.spec.username === username);
}

export interface ApproveOptions {
  /** Device name; default the announcement's suggestedName. */
  name?: string;
  /** An existing DeviceProfile; default a profile `<site>.<device>` made from the announcement. */
  profile?: string;
  labels?: Record<string, string>;
}

export interface Approval {
  pending: PendingDeviceObject;
  device: DeviceObject;
  profile: DeviceProfileObject;
}

/**
 * Approves a Pending announcement: the DeviceProfile (made from the
 * announcement, or reused when identical, unless `opts.profile` names one),
 * then the Device, then status Approved. Whatever it created is removed again
 * when a later step fails.
 */
export async function approvePending(
  ctx: HubContext,
  pending: PendingDeviceObject,
  opts: ApproveOptions,
  decidedBy: string,
  log: FastifyBaseLogger,
): Promise<Approval> {
  const pendingName = pending.metadata.name;
  if (phaseOf(pending) !== 'Pending') throw new ErrPendingState({ name: pendingName, phase: phaseOf(pending), action: 'approve' });
  const spec = pending.spec;
  const deviceName = opts.name ?? spec.suggestedName;
  if (!(await ctx.store.get('Site', spec.site))) throw new ErrRefNotFound({ field: 'spec.site', kind: 'Site', name: spec.site });
  const deviceExists = (): Error =>
    new ErrFieldConflict({ field: 'name', reason: `Device '${deviceName}' already exists; approve with another name` });
  if (await ctx.store.get('Device', deviceName)) throw deviceExists();
  // The Device as it will be written, checked first (its protocol block against the schema of a plugin
  // here that declares it, as any Device write is), so a refused approval leaves nothing behind.
  const deviceOf = (profileName: string): DeviceObject => ({
    apiVersion: API_VERSION,
    kind: 'Device',
    metadata: { name: deviceName, labels: { ...(opts.labels ?? {}), [ONBOARDED_FROM_LABEL]: spec.source } },
    spec: {
      site: spec.site,
      profile: profileName,
      protocols: { [spec.protocolName]: spec.protocol },
      ...(spec.displayName === undefined ? {} : { description: spec.displayName }),
    },
  });
  await ctx.plugins.checkDevice(deviceOf(opts.profile ?? `${spec.site}.${deviceName}`));

  let profile: DeviceProfileObject;
  let createdProfile = false;
  if (opts.profile !== undefined) {
    const named = await ctx.store.get<DeviceProfileObject>('DeviceProfile', opts.profile);
    if (!named) throw new ErrRefNotFound({ field: 'profile', kind: 'DeviceProfile', name: opts.profile });
    profile = named;
  } else {
    const profileName = `${spec.site}.${deviceName}`;
    const candidate: DeviceProfileObject = {
      apiVersion: API_VERSION,
      kind: 'DeviceProfile',
      metadata: { name: profileName, labels: { [ONBOARDED_FROM_LABEL]: spec.source } },
      spec: spec.profile,
    };
    const existing = await ctx.store.get<DeviceProfileObject>('DeviceProfile', profileName);
    if (existing) {
      if (!sameSpec(candidate, existing)) {
        throw new ErrFieldConflict({
          field: 'profile',
          reason: `DeviceProfile '${profileName}' exists with a different spec; approve with an existing profile, another name, or delete that profile`,
        });
      }
      profile = existing;
    } else {
      profile = await ctx.store.create(candidate);
      createdProfile = true;
    }
  }

  const undoProfile = async (): Promise<void> => {
    if (!createdProfile) return;
    try {
      await ctx.store.delete('DeviceProfile', profile.metadata.name, { resourceVersion: profile.metadata.resourceVersion! });
    } catch (err) {
      log.error({ profile: profile.metadata.name, pending: pendingName, error: toErrorInfo(err) }, 'could not remove the profile of a failed approval');
    }
  };

  let device: DeviceObject;
  try {
    device = await ctx.store.create<DeviceObject>(deviceOf(profile.metadata.name));
  } catch (err) {
    await undoProfile();
    if (StoreErrors.ErrExists.is(err)) throw deviceExists();
    throw err;
  }

  const status: PendingDeviceStatus = {
    phase: 'Approved',
    device: deviceName,
    profile: profile.metadata.name,
    decidedBy,
    decidedAt: new Date().toISOString(),
  };
  let updated: PendingDeviceObject;
  try {
    updated = await writeDecision(ctx, pending, status, 'approve');
  } catch (err) {
    try {
      await ctx.store.delete('Device', deviceName, { resourceVersion: device.metadata.resourceVersion! });
    } catch (cleanup) {
      log.error({ device: deviceName, pending: pendingName, error: toErrorInfo(cleanup) }, 'could not remove the device of a failed approval');
    }
    await undoProfile();
    throw err;
  }
  log.info({ pending: pendingName, site: spec.site, device: deviceName, profile: profile.metadata.name, createdProfile, decidedBy }, 'pending device approved');
  return { pending: updated, device, profile };
}

/** Writes a decision unless someone else decided first (a concurrent lastSeen write is not a decision). */
export async function writeDecision(ctx: HubContext, pending: PendingDeviceObject, status: PendingDeviceStatus, action: string): Promise<PendingDeviceObject> {
  const name = pending.metadata.name;
  try {
    return await ctx.store.updateStatus<PendingDeviceObject>('PendingDevice', name, status, { resourceVersion: pending.metadata.resourceVersion! });
  } catch (err) {
    if (!StoreErrors.ErrConflict.is(err)) throw err;
    const now = await ctx.store.get<PendingDeviceObject>('PendingDevice', name);
    if (!now) throw new ErrNotFound({ kind: 'PendingDevice', name });
    if (phaseOf(now) !== 'Pending') throw new ErrPendingState({ name, phase: phaseOf(now), action });
    return ctx.store.updateStatus<PendingDeviceObject>('PendingDevice', name, status, { resourceVersion: now.metadata.resourceVersion! });
  }
}

// ---------------------------------------------------------------------------
// Routes

