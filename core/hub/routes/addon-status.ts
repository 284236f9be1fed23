/**
 * Sites report how their devices and Addons run.
 *
 * `PUT /api/v1/sites/:site/device-status` with `{ devices: { <name>: {
 * operatingState, message?, lastSeen? } } }` sets those fields of each
 * Device of the site (reported and observed values are kept); devices of
 * other sites, or unknown, are named in `ignored`.
 *
 * Addons: `PUT /api/v1/sites/:site/addon-status`
 * with `{ addons: { <addon name>: { state, message?, code? } } }`, sent by
 * the site's agent whenever an instance's state changes. Each entry becomes
 * `status.sites[<site>]` of that Addon (the other sites' entries are kept;
 * concurrent writes from several sites are retried on conflict). Addons
 * that do not target the site, or do not exist, are named in `ignored`.
 */
import Type from 'typebox';
import { OPERATING_STATES, relevantToSite, StoreErrors, type AddonObject, type DeviceObject, type SiteObject } from '../../store/index.ts';
import { requireAuth } from '../auth.ts';
import type { HubApp, HubContext } from '../context.ts';
import { ErrNotFound } from '../errors.ts';
import { errorResponses, SiteParams } from '../schemas.ts';

const SiteAddonState = Type.Object(
  {
    state: Type.String({ minLength: 1, maxLength: 64 }),
    message: Type.Optional(Type.String({ maxLength: 4096 })),
    code: Type.Optional(Type.String({ maxLength: 128 })),
  },
  { additionalProperties: false },
);
const AddonStatusBody = Type.Object({ addons: Type.Record(Type.String({ minLength: 1, maxLength: 253 }), SiteAddonState, { maxProperties: 1024 }) }, { additionalProperties: false });
const AddonStatusAnswer = Type.Object({ updated: Type.Array(Type.String()), ignored: Type.Array(Type.String()) });
const DeviceState = Type.Object(
  {
    operatingState: Type.Union(OPERATING_STATES.map((s) => Type.Literal(s))),
    message: Type.Optional(Type.String({ maxLength: 4096 })),
    lastSeen: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);
const DeviceStatusBody = Type.Object({ devices: Type.Record(Type.String({ minLength: 1, maxLength: 253 }), DeviceState, { maxProperties: 10_000 }) }, { additionalProperties: false });

export function registerAddonStatusRoutes(app: HubApp, ctx: HubContext): void {
  app.put(
    '/api/v1/sites/:site/device-status',
    {
      onRequest: requireAuth(['admin', 'agent'], { siteParam: 'site' }),
      schema: {
        tags: ['devices'],
        summary: "A site's report of its devices' operating state",
        description: 'Sets operatingState, message and lastSeen of each named Device of the site; others are listed in `ignored`.',
        params: SiteParams,
        body: DeviceStatusBody,
        response: { 200: AddonStatusAnswer, ...errorResponses },
      },
    },
    async (request) => {
      const { site } = request.params;
      const updated: string[] = [];
      const ignored: string[] = [];
      for (const [name, entry] of Object.entries(request.body.devices)) {
        for (let attempt = 0; ; attempt++) {
          const device = await ctx.store.get<DeviceObject>('Device', name);
          if (!device || device.spec.site !== site) {
            ignored.push(name);
            break;
          }
          const { message: _old, ...rest } = device.status ?? {};
          const status = { ...rest, operatingState: entry.operatingState, ...(entry.message ? { message: entry.message } : {}), ...(entry.lastSeen ? { lastSeen: entry.lastSeen } : {}) };
          try {
            await ctx.store.updateStatus('Device', name, status, { resourceVersion: device.metadata.resourceVersion! });
            updated.push(name);
            break;
          } catch (err) {
            // A command's read-back wrote the status in between: read again and retry.
            if (!StoreErrors.ErrConflict.is(err) || attempt >= 5) throw err;
          }
        }
      }
      return { updated, ignored };
    },
  );

  app.put(
    '/api/v1/sites/:site/addon-status',
    {
      onRequest: requireAuth(['admin', 'agent'], { siteParam: 'site' }),
      schema: {
        tags: ['addons'],
        summary: "A site's report of its Addons' instances",
        description: 'Sets `status.sites[<site>]` of each named Addon that targets the site; others are listed in `ignored`.',
        params: SiteParams,
        body: AddonStatusBody,
        response: { 200: AddonStatusAnswer, ...errorResponses },
      },
    },
    async (request) => {
      const { site } = request.params;
      const siteObj = await ctx.store.get<SiteObject>('Site', site);
      if (!siteObj) throw new ErrNotFound({ kind: 'Site', name: site });
      const updated: string[] = [];
      const ignored: string[] = [];
      for (const [name, entry] of Object.entries(request.body.addons)) {
        for (let attempt = 0; ; attempt++) {
          const addon = await ctx.store.get<AddonObject>('Addon', name);
          if (!addon || !relevantToSite(addon, site, siteObj.metadata.labels ?? {})) {
            ignored.push(name);
            break;
          }
          const current = addon.status?.sites?.[site];
          if (current && current.state === entry.state && current.message === entry.message && current.code === entry.code) {
            updated.push(name);
            break;
          }
          const status = { ...(addon.status ?? {}), sites: { ...(addon.status?.sites ?? {}), [site]: entry } };
          try {
            await ctx.store.updateStatus('Addon', name, status, { resourceVersion: addon.metadata.resourceVersion! });
            updated.push(name);
            break;
          } catch (err) {
            // Another site wrote its entry in between: read again and retry.
            if (!StoreErrors.ErrConflict.is(err) || attempt >= 5) throw err;
          }
        }
      }
      return { updated, ignored };
    },
  );
}
