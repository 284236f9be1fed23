/**
 * Sites report how their Addons run: `PUT /api/v1/sites/:site/addon-status`
 * with `{ addons: { <addon name>: { state, message?, code? } } }`, sent by
 * the site's agent whenever an instance's state changes. Each entry becomes
 * `status.sites[<site>]` of that Addon (the other sites' entries are kept;
 * concurrent writes from several sites are retried on conflict). Addons
 * that do not target the site, or do not exist, are named in `ignored`.
 */
import Type from 'typebox';
import { relevantToSite, StoreErrors, type AddonObject, type SiteObject } from '../../store/index.ts';
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

export function registerAddonStatusRoutes(app: HubApp, ctx: HubContext): void {
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
