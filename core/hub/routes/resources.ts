/**
 * Generic CRUD over the store's kinds at `/api/v1/<plural>`: list, create,
 * get, apply (PUT), delete and the status subresource. Bodies get kind and
 * apiVersion from the path; a body that contradicts the path is refused.
 * Agents read only what belongs to their site (and the site-wide kinds:
 * device profiles) and write nothing here: a site reports through its own
 * routes (device-status, addon-status, pending-devices, telemetry, the sync
 * session), and the status of Sites and Nodes is the hub's own record. A
 * Node's host keys change only through join and the host-key routes.
 * Secret fields (a BrokerCredential's passwordHash) are never answered; on
 * apply, leaving one out keeps the stored value. The store's coded errors
 * pass through with their status. An Addon write that would put its plugin
 * at a site where another Addon puts it is refused (../addon-admission.ts),
 * and a Device whose protocol block fails the schema an installed plugin
 * declares for it, every field named (../plugin-catalog.ts);
 * Addons are read with the hub's view of `status.sites` (./addon-status.ts),
 * Devices with its view of their state (UNKNOWN at an offline site,
 * ../device-status.ts).
 */
import type { FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import { API_VERSION, sitesOf, StoreErrors, type Kind, type ListOptions, type NodeStatus, type Resource, type WriteOptions } from '../../store/index.ts';
import { keepSecrets, SECRET_SPEC_FIELDS, withoutSecrets } from '../secrets.ts';
import { createAddonAdmission } from '../addon-admission.ts';
import { addonStatusView } from './addon-status.ts';
import { deviceStatusView } from '../device-status.ts';
import { authorizeSite, principalOf, requireAuth } from '../auth.ts';
import type { HubApp, HubContext } from '../context.ts';
import { ErrForbidden, ErrNotFound, ErrPathMismatch, ErrProfileInUse, ErrReference, type MissingRef } from '../errors.ts';
import { keepHostKeys } from '../node-status.ts';
import {
  DeleteQuery,
  errorResponses,
  ListQuery,
  NameParams,
  ResourceApplyBody,
  ResourceCreateBody,
  ResourceListSchema,
  ResourceSchema,
  ResourceStatusBody,
} from '../schemas.ts';
import type { Principal } from '../tokens.ts';

export const PLURALS: Readonly<Record<string, Kind>> = {
  sites: 'Site',
  nodes: 'Node',
  deviceprofiles: 'DeviceProfile',
  devices: 'Device',
  addons: 'Addon',
  leases: 'Lease',
  brokercredentials: 'BrokerCredential',
  pendingdevices: 'PendingDevice',
};

/** Kinds only operators read: agents neither read nor write them (tunnel-cloud replicas' leases). */
const OPERATOR_ONLY_KINDS = new Set<Kind>(['Lease']);

function forbidObject(p: Principal, obj: Resource, action: string): never {
  const sites = sitesOf(obj) ?? [];
  throw new ErrForbidden({
    tokenId: p.tokenId,
    role: p.role,
    action: `${action} ${obj.kind} '${obj.metadata.name}'`,
    site: sites.length === 0 ? '(none)' : sites.join(','),
    ...(p.site === undefined ? {} : { ownSite: p.site }),
  });
}

function agentMayRead(p: Principal, obj: Resource): boolean {
  if (p.role !== 'agent') return true;
  const sites = sitesOf(obj);
  return sites === null || (p.site !== undefined && sites.includes(p.site));
}

type Body = Static<typeof ResourceApplyBody>;

/** The body as the store's object: kind/apiVersion from the path, name checked against it, write options split off. */
function toObject(kind: Kind, body: Body, pathName?: string): { obj: Resource; write: WriteOptions } {
  if (body.kind !== undefined && body.kind !== kind) throw new ErrPathMismatch({ field: 'kind', body: body.kind, path: kind });
  const meta = { ...(body.metadata ?? {}) };
  if (pathName !== undefined) {
    if (meta.name !== undefined && meta.name !== pathName) {
      throw new ErrPathMismatch({ field: 'metadata.name', body: meta.name, path: pathName });
    }
    meta.name = pathName;
  }
  const write: WriteOptions = {};
  if (meta.resourceVersion !== undefined) write.resourceVersion = meta.resourceVersion;
  delete meta.resourceVersion;
  const obj: Resource = {
    apiVersion: body.apiVersion ?? API_VERSION,
    kind,
    metadata: { ...meta, name: meta.name ?? '' },
    spec: body.spec,
  };
  return { obj, write };
}

/** A Device's site and profile must exist. */
async function checkReferences(ctx: HubContext, obj: Resource): Promise<void> {
  if (obj.kind !== 'Device') return;
  const spec = obj.spec as { site?: unknown; profile?: unknown };
  const missing: MissingRef[] = [];
  if (typeof spec.site === 'string' && !(await ctx.store.get('Site', spec.site))) {
    missing.push({ field: 'spec.site', refKind: 'Site', ref: spec.site });
  }
  if (typeof spec.profile === 'string' && !(await ctx.store.get('DeviceProfile', spec.profile))) {
    missing.push({ field: 'spec.profile', refKind: 'DeviceProfile', ref: spec.profile });
  }
  if (missing.length > 0) throw new ErrReference({ kind: obj.kind, name: obj.metadata.name, refs: missing });
}

function action(request: FastifyRequest): string {
  return request.method;
}

export function registerResourceRoutes(app: HubApp, ctx: HubContext): void {
  const siteReaders = requireAuth(['admin', 'viewer', 'agent']);
  const operatorReaders = requireAuth(['admin', 'viewer']);
  const admins = requireAuth(['admin']);
  // Addons: a write that would put a plugin where another Addon puts it is refused; reads show conflicts and offline sites.
  const addonAdmission = createAddonAdmission(ctx.store);
  // A profile in use stays: its Devices would lose their resources at their sites. Checked against the Devices as they are now.
  const refuseProfileInUse = async (profile: string): Promise<void> => {
    const users: string[] = [];
    let next: string | undefined;
    do {
      const page = await ctx.store.list('Device', { limit: 1000, ...(next === undefined ? {} : { continue: next }) });
      for (const d of page.items) if ((d.spec as { profile?: unknown }).profile === profile) users.push(d.metadata.name);
      next = page.continue;
    } while (next);
    if (users.length > 0) throw new ErrProfileInUse({ profile, devices: users.slice(0, 10), count: users.length });
  };
  const served = async (kind: Kind): Promise<(obj: Resource) => Resource> =>
    kind === 'Addon' ? addonStatusView(ctx.store) : kind === 'Device' ? deviceStatusView(ctx.store) : (obj) => obj;

  for (const [plural, kind] of Object.entries(PLURALS)) {
    const base = `/api/v1/${plural}`;
    const tags = [plural];
    const readers = OPERATOR_ONLY_KINDS.has(kind) ? operatorReaders : siteReaders;

    app.get(
      base,
      {
        onRequest: readers,
        schema: {
          tags,
          summary: `List ${kind} resources`,
          description: 'Agents see only their own site (a `site` naming another site is refused).',
          querystring: ListQuery,
          response: { 200: ResourceListSchema, ...errorResponses },
        },
      },
      async (request) => {
        const p = principalOf(request);
        const q = request.query;
        const opts: ListOptions = {};
        if (q.labelSelector !== undefined) opts.labelSelector = q.labelSelector;
        if (q.site !== undefined) opts.site = q.site;
        if (q.limit !== undefined) opts.limit = q.limit;
        if (q.continue !== undefined) opts.continue = q.continue;
        if (p.role === 'agent') {
          if (q.site !== undefined) authorizeSite(p, q.site, `list ${plural}`);
          opts.site = p.site;
        }
        const list = await ctx.store.list(kind, opts);
        const view = await served(kind);
        return { ...list, items: list.items.map((i) => withoutSecrets(view(i))) };
      },
    );

    app.post(
      base,
      {
        onRequest: admins,
        schema: {
          tags,
          summary: `Create a ${kind}`,
          description: 'Fails with 409 EDGE_ERR_STORE_EXISTS when it exists. A Device needs its site and profile to exist.',
          body: ResourceCreateBody,
          response: { 201: ResourceSchema, ...errorResponses },
        },
      },
      async (request, reply) => {
        const { obj } = toObject(kind, request.body);
        await checkReferences(ctx, obj);
        await ctx.plugins.checkDevice(obj);
        const created = await addonAdmission.admit(obj, () => ctx.store.create(obj));
        return reply.code(201).send(withoutSecrets(created));
      },
    );

    app.get(
      `${base}/:name`,
      {
        onRequest: readers,
        schema: {
          tags,
          summary: `Get a ${kind}`,
          params: NameParams,
          response: { 200: ResourceSchema, ...errorResponses },
        },
      },
      async (request) => {
        const p = principalOf(request);
        const obj = await ctx.store.get(kind, request.params.name);
        if (!obj) throw new ErrNotFound({ kind, name: request.params.name });
        if (!agentMayRead(p, obj)) forbidObject(p, obj, action(request));
        return withoutSecrets((await served(kind))(obj));
      },
    );

    app.put(
      `${base}/:name`,
      {
        onRequest: admins,
        schema: {
          tags,
          summary: `Create or replace a ${kind} (apply)`,
          description:
            'Replaces labels, annotations and spec; status is untouched. With metadata.resourceVersion set, fails with 409 EDGE_ERR_STORE_CONFLICT unless it is current. Secret fields (a BrokerCredential\'s spec.passwordHash) are never answered; left out, the stored value is kept.',
          params: NameParams,
          body: ResourceApplyBody,
          response: { 200: ResourceSchema, ...errorResponses },
        },
      },
      async (request) => {
        const { obj, write } = toObject(kind, request.body, request.params.name);
        await checkReferences(ctx, obj);
        await ctx.plugins.checkDevice(obj);
        // Write-only secret fields left out keep their stored values.
        const stored = SECRET_SPEC_FIELDS[kind] ? await ctx.store.get(kind, obj.metadata.name) : undefined;
        const applied = await addonAdmission.admit(obj, () => ctx.store.apply({ ...obj, spec: keepSecrets(kind, obj.spec, stored?.spec) }, write));
        return withoutSecrets(applied);
      },
    );

    app.delete(
      `${base}/:name`,
      {
        onRequest: admins,
        schema: {
          tags,
          summary: `Delete a ${kind}`,
          params: NameParams,
          querystring: DeleteQuery,
          response: { 200: ResourceSchema, ...errorResponses },
        },
      },
      async (request) => {
        const write: WriteOptions = {};
        if (request.query.resourceVersion !== undefined) write.resourceVersion = request.query.resourceVersion;
        if (kind === 'DeviceProfile') await refuseProfileInUse(request.params.name);
        const deleted = await ctx.store.delete(kind, request.params.name, write);
        if (!deleted) throw new ErrNotFound({ kind, name: request.params.name });
        return withoutSecrets(deleted);
      },
    );

    app.put(
      `${base}/:name/status`,
      {
        onRequest: admins,
        schema: {
          tags,
          summary: `Replace the status of a ${kind}`,
          description:
            kind === 'Node'
              ? 'Admins only. The body is the object or just `{ status }`; only status and metadata.resourceVersion are used. The host-key fields (sshHostKeys, sshHostKeysTrustedAt, sshHostKeysPending) keep their stored values: leave them out or send them unchanged (403 EDGE_ERR_HUB_HOST_KEYS_PROTECTED otherwise).'
              : 'Admins only. The body is the object or just `{ status }`; only status and metadata.resourceVersion are used. Sites report through their own routes (device-status, addon-status).',
          params: NameParams,
          body: ResourceStatusBody,
          response: { 200: ResourceSchema, ...errorResponses },
        },
      },
      async (request) => {
        const name = request.params.name;
        const body = request.body;
        if (body.kind !== undefined && body.kind !== kind) throw new ErrPathMismatch({ field: 'kind', body: body.kind, path: kind });
        if (body.metadata?.name !== undefined && body.metadata.name !== name) {
          throw new ErrPathMismatch({ field: 'metadata.name', body: body.metadata.name, path: name });
        }
        const asked = body.metadata?.resourceVersion;
        if (kind !== 'Node') {
          const updated = await ctx.store.updateStatus(kind, name, body.status, asked === undefined ? {} : { resourceVersion: asked });
          return withoutSecrets(updated);
        }
        // A Node's host keys stay as stored: written at the revision they were read at (again, when the caller named none).
        for (let attempt = 1; ; attempt++) {
          const current = await ctx.store.get<Resource<unknown, NodeStatus>>('Node', name);
          if (!current) throw new ErrNotFound({ kind, name });
          const status = keepHostKeys(name, current.status ?? {}, body.status);
          try {
            return await ctx.store.updateStatus(kind, name, status, { resourceVersion: asked ?? current.metadata.resourceVersion! });
          } catch (err) {
            if (asked !== undefined || !StoreErrors.ErrConflict.is(err) || attempt >= 5) throw err;
          }
        }
      },
    );
  }
}
