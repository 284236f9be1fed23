/**
 * Site broker logins and device onboarding.
 *
 * - `POST /api/v1/sites/:site/broker-credentials` (admins): issues a login to
 *   the site's MQTT broker. The password is generated here, answered once and
 *   kept only as a hash (`BrokerCredential.spec.passwordHash`, which no answer
 *   carries); `…/:username/rotate` replaces it, `DELETE …/:username` removes the login.
 * - `POST /api/v1/sites/:site/pending-devices` (the site's agent, or admins): a
 *   device announced itself at the site. The hub keeps one PendingDevice per
 *   (site, source, identifier) and applies the site's provisioning rules
 *   (`Site.spec.onboarding.rules`, first match wins) on every announcement.
 * - `POST /api/v1/pendingdevices/:name/approve|reject` (admins): the operator's
 *   decision. Approval creates the DeviceProfile (unless an existing one is
 *   named) and the Device, or nothing at all.
 *
 * Listing and deleting PendingDevices and BrokerCredentials go through the
 * generic resource routes (`/api/v1/pendingdevices`, `/api/v1/brokercredentials`).
 */
import { createHash } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import Type from 'typebox';
import { generateSecret, hashSecret, isEdgeError, toErrorInfo } from '../../kernel/index.ts';
import {
  API_VERSION,
  BrokerCredentialSpecSchema,
  dns1123LabelProblem,
  DNS1123_SUBDOMAIN_PATTERN,
  PendingDeviceSpecSchema,
  prepareResource,
  StoreErrors,
  type BrokerCredentialObject,
  type BrokerCredentialSpec,
  type DeviceObject,
  type DeviceProfileObject,
  type OnboardingRule,
  type PendingDeviceObject,
  type PendingDeviceSpec,
  type PendingDeviceStatus,
  type Resource,
  type SiteObject,
  SITE_BROKER_INTERNAL_USERNAME,
} from '../../store/index.ts';

type PendingPhase = NonNullable<PendingDeviceStatus['phase']>;
import { principalOf, requireAuth } from '../auth.ts';
import type { HubApp, HubContext } from '../context.ts';
import { ErrBadRequest, ErrCredentialExists, ErrFieldConflict, ErrNotFound, ErrPendingState, ErrRefNotFound } from '../errors.ts';
import { errorResponses, NameParams, ResourceSchema, SiteParams } from '../schemas.ts';
import { withoutSecrets } from '../secrets.ts';

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

const cred = BrokerCredentialSpecSchema.properties;
const CredentialCreateBody = Type.Object(
  {
    username: Type.Optional(cred.username),
    device: Type.Optional(cred.device),
    publish: Type.Optional(cred.publish),
    subscribe: Type.Optional(cred.subscribe),
    description: Type.Optional(cred.description),
  },
  { additionalProperties: false },
);
const CredentialParams = Type.Object({ site: SiteParams.properties.site, username: Type.String({ minLength: 1, maxLength: 128 }) });
export const CredentialIssuedSchema = Type.Object({
  credential: ResourceSchema,
  password: Type.String({ description: 'Shown here only; the hub keeps its hash.' }),
});

/** An announcement: the PendingDevice spec without what the hub fills in (site, firstSeen, lastSeen). */
const PendingReportBody = Type.Object(Type.Omit(PendingDeviceSpecSchema, ['site', 'firstSeen', 'lastSeen']).properties, { additionalProperties: false });

const objectName = (description: string) => Type.String({ minLength: 1, maxLength: 253, pattern: DNS1123_SUBDOMAIN_PATTERN, description });
const ApproveBody = Type.Object(
  {
    name: Type.Optional(objectName('Device name (default: the suggested name).')),
    profile: Type.Optional(objectName('An existing DeviceProfile to use instead of the announced one.')),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  { additionalProperties: false },
);
export const ApprovalSchema = Type.Object({ pending: ResourceSchema, device: ResourceSchema, profile: ResourceSchema });

// ---------------------------------------------------------------------------
// Helpers

/** JSON with object keys sorted: equal strings mean equal values. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Whether `candidate` would store the same spec as `stored` has (after the store's normalisations). */
function sameSpec(candidate: Resource, stored: Resource): boolean {
  const prepared = prepareResource(candidate);
  return canonical(prepared.ok ? prepared.value.spec : candidate.spec) === canonical(stored.spec);
}

function phaseOf(p: PendingDeviceObject): PendingPhase {
  return p.status?.phase ?? 'Pending';
}

async function findCredential(ctx: HubContext, site: string, username: string): Promise<BrokerCredentialObject | undefined> {
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
    device = await ctx.store.create<DeviceObject>({
      apiVersion: API_VERSION,
      kind: 'Device',
      metadata: { name: deviceName, labels: { ...(opts.labels ?? {}), [ONBOARDED_FROM_LABEL]: spec.source } },
      spec: {
        site: spec.site,
        profile: profile.metadata.name,
        protocols: { [spec.protocolName]: spec.protocol },
        ...(spec.displayName === undefined ? {} : { description: spec.displayName }),
      },
    });
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
async function writeDecision(ctx: HubContext, pending: PendingDeviceObject, status: PendingDeviceStatus, action: string): Promise<PendingDeviceObject> {
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

export function registerOnboardingRoutes(app: HubApp, ctx: HubContext): void {
  const admins = requireAuth(['admin']);
  const siteReporters = requireAuth(['admin', 'agent'], { siteParam: 'site' });

  async function requireSite(name: string): Promise<SiteObject> {
    const site = await ctx.store.get<SiteObject>('Site', name);
    if (!site) throw new ErrNotFound({ kind: 'Site', name });
    return site;
  }

  app.post(
    '/api/v1/sites/:site/broker-credentials',
    {
      onRequest: admins,
      schema: {
        tags: ['brokercredentials'],
        summary: "Issue a login to the site's MQTT broker",
        description:
          'The password is generated by the hub and appears in this response only; the BrokerCredential keeps its hash, which no answer carries. `username` defaults to `device`; one of them is required. A `device` must exist at the site.',
        params: SiteParams,
        body: CredentialCreateBody,
        response: { 201: CredentialIssuedSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { site } = request.params;
      const b = request.body;
      const username = b.username ?? b.device;
      if (username === undefined) {
        throw new ErrBadRequest({ issues: [{ in: 'body', path: 'username', message: 'is required unless device is given (it then defaults to the device name)' }] });
      }
      if (username.length > 128) {
        throw new ErrBadRequest({ issues: [{ in: 'body', path: 'username', message: `is required: the device name is longer than the 128 characters a username may have` }] });
      }
      if (username === SITE_BROKER_INTERNAL_USERNAME) {
        throw new ErrBadRequest({ issues: [{ in: 'body', path: 'username', message: `'${username}' is reserved for the site's own clients` }] });
      }
      await requireSite(site);
      if (b.device !== undefined) {
        const device = await ctx.store.get<DeviceObject>('Device', b.device);
        if (!device) throw new ErrRefNotFound({ field: 'device', kind: 'Device', name: b.device });
        if (device.spec.site !== site) {
          throw new ErrFieldConflict({ field: 'device', reason: `Device '${b.device}' belongs to site '${device.spec.site}', not '${site}'` });
        }
      }
      const existing = await findCredential(ctx, site, username);
      if (existing) throw new ErrCredentialExists({ site, username, name: existing.metadata.name });
      const name = brokerCredentialName(site, username);
      const password = generateSecret();
      const spec: BrokerCredentialSpec = {
        site,
        username,
        passwordHash: await hashSecret(password),
        ...(b.device === undefined ? {} : { device: b.device }),
        ...(b.publish === undefined ? {} : { publish: b.publish }),
        ...(b.subscribe === undefined ? {} : { subscribe: b.subscribe }),
        ...(b.description === undefined ? {} : { description: b.description }),
      };
      const credential = await ctx.store.create<BrokerCredentialObject>({ apiVersion: API_VERSION, kind: 'BrokerCredential', metadata: { name }, spec });
      request.log.info({ site, username, credential: name, device: b.device }, 'broker credential issued');
      return reply.code(201).send({ credential: withoutSecrets(credential), password });
    },
  );

  app.post(
    '/api/v1/sites/:site/broker-credentials/:username/rotate',
    {
      onRequest: admins,
      schema: {
        tags: ['brokercredentials'],
        summary: 'Replace the password of a broker login',
        description: 'The new password appears in this response only. The old one stops working as soon as the site has the new hash.',
        params: CredentialParams,
        response: { 200: CredentialIssuedSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { site, username } = request.params;
      await requireSite(site);
      const existing = await findCredential(ctx, site, username);
      if (!existing) throw new ErrNotFound({ kind: 'BrokerCredential', name: username, site });
      const password = generateSecret();
      const m = existing.metadata;
      const credential = await ctx.store.apply<BrokerCredentialObject>(
        {
          apiVersion: API_VERSION,
          kind: 'BrokerCredential',
          metadata: { name: m.name, ...(m.labels ? { labels: m.labels } : {}), ...(m.annotations ? { annotations: m.annotations } : {}) },
          spec: { ...existing.spec, passwordHash: await hashSecret(password) },
        },
        { resourceVersion: m.resourceVersion! },
      );
      request.log.info({ site, username, credential: m.name }, 'broker credential rotated');
      return { credential: withoutSecrets(credential), password };
    },
  );

  app.delete(
    '/api/v1/sites/:site/broker-credentials/:username',
    {
      onRequest: admins,
      schema: {
        tags: ['brokercredentials'],
        summary: 'Delete a broker login by its username',
        params: CredentialParams,
        response: { 200: ResourceSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { site, username } = request.params;
      const existing = await findCredential(ctx, site, username);
      if (!existing) throw new ErrNotFound({ kind: 'BrokerCredential', name: username, site });
      const deleted = await ctx.store.delete<BrokerCredentialObject>('BrokerCredential', existing.metadata.name, { resourceVersion: existing.metadata.resourceVersion! });
      if (!deleted) throw new ErrNotFound({ kind: 'BrokerCredential', name: username, site });
      request.log.info({ site, username, credential: existing.metadata.name }, 'broker credential deleted');
      return withoutSecrets(deleted);
    },
  );

  app.post(
    '/api/v1/sites/:site/pending-devices',
    {
      onRequest: siteReporters,
      schema: {
        tags: ['pendingdevices'],
        summary: 'Report a device that announced itself at the site',
        description:
          "The site's agent (or an admin) reports each announcement; the hub keeps one PendingDevice per (site, source, identifier) and applies the site's provisioning rules (`spec.onboarding.rules`, first match wins). A decided one only has its lastSeen refreshed.",
        params: SiteParams,
        body: PendingReportBody,
        response: { 200: ResourceSchema, ...errorResponses },
      },
    },
    async (request) => {
      const site = await requireSite(request.params.site);
      const body = request.body;
      const name = pendingDeviceName(site.metadata.name, body.source, body.identifier);
      // A concurrent report of the same device (a reconnect storm) may win a write: read again and redo.
      for (let attempt = 1; ; attempt++) {
        try {
          return await report(site, name, body, request.log);
        } catch (err) {
          if (attempt >= 3 || !(StoreErrors.ErrExists.is(err) || StoreErrors.ErrConflict.is(err))) throw err;
        }
      }
    },
  );

  type Announcement = Omit<PendingDeviceSpec, 'site' | 'firstSeen' | 'lastSeen'>;

  async function report(site: SiteObject, name: string, body: Announcement, log: FastifyBaseLogger): Promise<PendingDeviceObject> {
    const now = new Date();
    const nowIso = now.toISOString();
    const siteName = site.metadata.name;
    const existing = await ctx.store.get<PendingDeviceObject>('PendingDevice', name);
    let current: PendingDeviceObject;
    if (!existing) {
      const created = await ctx.store.create<PendingDeviceObject>({
        apiVersion: API_VERSION,
        kind: 'PendingDevice',
        metadata: { name },
        spec: { ...body, site: siteName, firstSeen: nowIso, lastSeen: nowIso },
      });
      current = await ctx.store.updateStatus<PendingDeviceObject>('PendingDevice', name, { phase: 'Pending' }, { resourceVersion: created.metadata.resourceVersion! });
      log.info({ pending: name, site: siteName, source: body.source, identifier: body.identifier }, 'device announced');
    } else {
      const pending = phaseOf(existing) === 'Pending';
      const spec: PendingDeviceSpec = pending
        ? { ...body, site: siteName, firstSeen: existing.spec.firstSeen, lastSeen: existing.spec.lastSeen }
        : existing.spec;
      const changed = pending && !sameSpec({ ...existing, spec }, existing);
      const last = Date.parse(existing.spec.lastSeen);
      const stale = Number.isNaN(last) || now.getTime() - last >= LAST_SEEN_WRITE_INTERVAL_MS;
      if (changed || stale) {
        const m = existing.metadata;
        current = await ctx.store.apply<PendingDeviceObject>(
          {
            apiVersion: API_VERSION,
            kind: 'PendingDevice',
            metadata: { name, ...(m.labels ? { labels: m.labels } : {}), ...(m.annotations ? { annotations: m.annotations } : {}) },
            spec: { ...spec, lastSeen: nowIso },
          },
          { resourceVersion: m.resourceVersion! },
        );
        if (changed) log.info({ pending: name, site: siteName }, 'device announcement changed');
      } else current = existing;
      if (!pending) return current;
    }
    return applyRules(site, current, log);
  }

  /** Approves a Pending announcement when a rule of its site matches; a failed approval leaves it Pending, with the reason in status.message. */
  async function applyRules(site: SiteObject, pending: PendingDeviceObject, log: FastifyBaseLogger): Promise<PendingDeviceObject> {
    const name = pending.metadata.name;
    const rule = matchRule(site.spec.onboarding?.rules ?? [], pending.spec);
    if (!rule) {
      if (pending.status?.message === undefined) return pending;
      // The rule that failed is gone or no longer matches: so is its message.
      return ctx.store.updateStatus<PendingDeviceObject>('PendingDevice', name, { phase: 'Pending' }, { resourceVersion: pending.metadata.resourceVersion! });
    }
    try {
      const opts: ApproveOptions = {
        ...(rule.profile === undefined ? {} : { profile: rule.profile }),
        ...(rule.labels === undefined ? {} : { labels: rule.labels }),
      };
      return (await approvePending(ctx, pending, opts, `rule:${rule.name}`, log)).pending;
    } catch (err) {
      if (!isEdgeError(err) || err.statusCode >= 500) throw err;
      if (StoreErrors.ErrConflict.is(err)) throw err;
      const message = `provisioning rule '${rule.name}' matched, but the approval failed: ${err.message}`.slice(0, 4096);
      log.warn({ pending: name, site: site.metadata.name, rule: rule.name, error: toErrorInfo(err) }, 'provisioning rule could not approve');
      if (pending.status?.message === message) return pending;
      return ctx.store.updateStatus<PendingDeviceObject>('PendingDevice', name, { phase: 'Pending', message }, { resourceVersion: pending.metadata.resourceVersion! });
    }
  }

  async function requirePending(name: string): Promise<PendingDeviceObject> {
    const pending = await ctx.store.get<PendingDeviceObject>('PendingDevice', name);
    if (!pending) throw new ErrNotFound({ kind: 'PendingDevice', name });
    return pending;
  }

  app.post(
    '/api/v1/pendingdevices/:name/approve',
    {
      onRequest: admins,
      schema: {
        tags: ['pendingdevices'],
        summary: 'Approve a pending device: create its DeviceProfile and Device',
        description:
          'Only from phase Pending. Without `profile`, the DeviceProfile `<site>.<device>` is made from the announcement (an identical existing one is reused; a different one is a 409). The Device gets `labels` and `edgeadm.io/onboarded-from`. Nothing is left behind when a step fails.',
        params: NameParams,
        body: ApproveBody,
        response: { 200: ApprovalSchema, ...errorResponses },
      },
    },
    async (request) => {
      const p = principalOf(request);
      const pending = await requirePending(request.params.name);
      const b = request.body;
      const opts: ApproveOptions = {
        ...(b.name === undefined ? {} : { name: b.name }),
        ...(b.profile === undefined ? {} : { profile: b.profile }),
        ...(b.labels === undefined ? {} : { labels: b.labels }),
      };
      return approvePending(ctx, pending, opts, p.tokenId, request.log);
    },
  );

  app.post(
    '/api/v1/pendingdevices/:name/reject',
    {
      onRequest: admins,
      schema: {
        tags: ['pendingdevices'],
        summary: 'Reject a pending device',
        description: 'Only from phase Pending. It stays Rejected (later announcements only refresh lastSeen) until deleted.',
        params: NameParams,
        response: { 200: ResourceSchema, ...errorResponses },
      },
    },
    async (request) => {
      const p = principalOf(request);
      const name = request.params.name;
      const pending = await requirePending(name);
      if (phaseOf(pending) !== 'Pending') throw new ErrPendingState({ name, phase: phaseOf(pending), action: 'reject' });
      const updated = await writeDecision(ctx, pending, { phase: 'Rejected', decidedBy: p.tokenId, decidedAt: new Date().toISOString() }, 'reject');
      request.log.info({ pending: name, site: pending.spec.site, decidedBy: p.tokenId }, 'pending device rejected');
      return updated;
    },
  );
}
