/**
 * Sites report how their devices and Addons run.
 *
 * `PUT /api/v1/sites/:site/device-status` with `{ devices: { <name>: {
 * operatingState, message?, lastSeen?, reported?, drift? } } }` sets those
 * fields of each Device of the site as ../device-status.ts says (reported
 * values merged, the newer winning; observed values kept); devices of other
 * sites, or unknown, are named in `ignored`.
 *
 * Addons: `PUT /api/v1/sites/:site/addon-status`
 * with `{ addons: { <addon name>: { state, message?, code? } } }`, sent by
 * the site's agent whenever an instance's state changes. Each entry becomes
 * `status.sites[<site>]` of that Addon (the other sites' entries are kept;
 * concurrent writes from several sites are retried on conflict). Addons
 * that do not target the site, or do not exist, are named in `ignored`.
 *
 * What the hub serves of an Addon's `status.sites` (`addonStatusView`, used
 * by GET and list of Addons) is the sites' reports, corrected where the hub
 * knows a report can no longer be true, computed at read time from the
 * Sites and Addons as they are then:
 * - an Addon that loses a plugin at a site to an older Addon
 *   (`selectAddons`) is `conflict` there with EDGE_ERR_ADDON_CONFLICT and
 *   its message, whatever the site last said and whether it reported yet;
 *   the Addon that keeps the plugin keeps its state and carries the same
 *   code and message, naming the other;
 * - a report from a site that is Offline is `unknown` ("site offline since
 *   ..."), the last report in its message; from a site that no longer
 *   exists, `unknown` too;
 * - a report about an older generation of the Addon than the stored one
 *   (the site has not applied the change yet) is `pending`, naming both;
 * - an Addon a hub on Kubernetes runs whole as grids (`siteRunsAddon`
 *   false) is served as core/grid's addon controller wrote it, and site
 *   reports about it are `ignored`: its sites' state is that of their
 *   workloads;
 * - an Addon run as grids with a site half takes the sites' reports as any
 *   other, and a site whose workloads (`status.workloads`, the
 *   controller's) are not running is served in their state, the site's
 *   report after it in the message;
 * - anything else is the report as stored. A site that has not reported has
 *   no entry (unless it is in a conflict): readers show it as pending.
 * Stored status stays what the sites said, so nothing is written when a
 * site goes offline or is relabelled, and a report never races a hub write.
 */
import Type from 'typebox';
import {
  relevantToSite,
  runsAsGrid,
  selectAddons,
  siteRunsAddon,
  StoreErrors,
  type AddonConflict,
  type AddonObject,
  type AddonStatus,
  type DeviceObject,
  type Resource,
  type ResourceStore,
  type SiteObject,
} from '../../store/index.ts';
import { requireAuth } from '../auth.ts';
import { DeviceReportSchema, mergeDeviceReport } from '../device-status.ts';
import type { HubApp, HubContext } from '../context.ts';
import { ErrNotFound } from '../errors.ts';
import { errorResponses, SiteParams } from '../schemas.ts';

const SiteAddonState = Type.Object(
  {
    state: Type.String({ minLength: 1, maxLength: 64 }),
    message: Type.Optional(Type.String({ maxLength: 4096 })),
    code: Type.Optional(Type.String({ maxLength: 128 })),
    /** The Addon's metadata.generation the site ran when it reported. */
    observedGeneration: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
  },
  { additionalProperties: false },
);
const AddonStatusBody = Type.Object({ addons: Type.Record(Type.String({ minLength: 1, maxLength: 253 }), SiteAddonState, { maxProperties: 1024 }) }, { additionalProperties: false });
const AddonStatusAnswer = Type.Object({ updated: Type.Array(Type.String()), ignored: Type.Array(Type.String()) });
const DeviceStatusBody = Type.Object({ devices: Type.Record(Type.String({ minLength: 1, maxLength: 253 }), DeviceReportSchema, { maxProperties: 10_000 }) }, { additionalProperties: false });

export function registerAddonStatusRoutes(app: HubApp, ctx: HubContext): void {
  app.put(
    '/api/v1/sites/:site/device-status',
    {
      onRequest: requireAuth(['admin', 'agent'], { siteParam: 'site' }),
      schema: {
        tags: ['devices'],
        summary: "A site's report of its devices' operating state",
        description:
          'Sets operatingState, message and lastSeen of each named Device of the site, merges its reported values (the newer origin wins) and replaces its drift; others are listed in `ignored`.',
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
          const status = mergeDeviceReport(device.status, entry);
          if (status === undefined) {
            updated.push(name);
            break;
          }
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
          // An Addon run whole as grids has its status from the grids: a site's report does not replace it.
          if (!addon || !siteRunsAddon(addon) || !relevantToSite(addon, site, siteObj.metadata.labels ?? {})) {
            ignored.push(name);
            break;
          }
          const current = addon.status?.sites?.[site];
          if (current && current.state === entry.state && current.message === entry.message && current.code === entry.code && current.observedGeneration === entry.observedGeneration) {
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

/** One site's entry of an Addon's status. */
type SiteEntry = NonNullable<AddonStatus['sites']>[string];

function reportText(e: SiteEntry): string {
  return `${e.state}${e.code ? ` [${e.code}]` : ''}${e.message ? ` (${e.message})` : ''}`;
}

function conflictMessage(c: AddonConflict): string {
  return new StoreErrors.ErrAddonConflict(c).message;
}

/**
 * Reads the Sites and Addons once and returns how the hub serves an object:
 * an Addon with its `status.sites` as the header says, any other kind as it is.
 */
export async function addonStatusView(store: ResourceStore): Promise<(obj: Resource) => Resource> {
  const [sites, addons] = await Promise.all([store.list<SiteObject>('Site'), store.list<AddonObject>('Addon')]);
  return addonStatusViewOf(sites, addons);
}

/** addonStatusView over Sites and Addons the caller has listed already. */
export function addonStatusViewOf(sites: { items: readonly SiteObject[] }, addons: { items: readonly AddonObject[] }): (obj: Resource) => Resource {
  const siteByName = new Map(sites.items.map((s) => [s.metadata.name, s]));
  /** addon -> site -> the conflict it loses there. */
  const loses = new Map<string, Map<string, AddonConflict>>();
  /** addon -> site -> the conflicts it wins there. */
  const wins = new Map<string, Map<string, AddonConflict[]>>();
  for (const s of sites.items) {
    for (const c of selectAddons(addons.items, s.metadata.name, s.metadata.labels ?? {}).conflicts) {
      if (!loses.has(c.addon)) loses.set(c.addon, new Map());
      loses.get(c.addon)!.set(c.site, c);
      if (!wins.has(c.heldBy)) wins.set(c.heldBy, new Map());
      const held = wins.get(c.heldBy)!;
      held.set(c.site, [...(held.get(c.site) ?? []), c]);
    }
  }

  const viewOf = (addon: AddonObject): AddonObject => {
    // Run whole as grids on Kubernetes: the addon controller's status is the workloads' own, site connection or not.
    if (!siteRunsAddon(addon)) return addon;
    const name = addon.metadata.name;
    const stored = addon.status?.sites ?? {};
    const out: Record<string, SiteEntry> = {};
    let changed = false;
    for (const [site, e] of Object.entries(stored)) {
      const s = siteByName.get(site);
      if (!s) {
        out[site] = { state: 'unknown', message: `no Site '${site}' at the hub; last report: ${reportText(e)}` };
        changed = true;
      } else if (s.status?.phase === 'Offline') {
        out[site] = { state: 'unknown', message: `site offline since ${s.status.lastSeen ?? 'an unknown time'}; last report: ${reportText(e)}` };
        changed = true;
      } else if (e.observedGeneration !== undefined && addon.metadata.generation !== undefined && e.observedGeneration < addon.metadata.generation) {
        // The report is about a spec the Addon no longer has: the site has not applied the change yet.
        out[site] = { state: 'pending', message: `the site reported generation ${e.observedGeneration}; the spec is at ${addon.metadata.generation}; last report: ${reportText(e)}`, observedGeneration: e.observedGeneration };
        changed = true;
      } else out[site] = e;
    }
    for (const [site, c] of loses.get(name) ?? []) {
      out[site] = { state: 'conflict', code: StoreErrors.ErrAddonConflict.code, message: conflictMessage(c) };
      changed = true;
    }
    if (runsAsGrid(addon)) {
      // A site half: where the site's workloads are not running, the site is in their state.
      for (const [site, w] of Object.entries(addon.status?.workloads ?? {})) {
        if (w.state === 'running' || out[site]?.state === 'conflict') continue;
        const e = out[site];
        out[site] = {
          state: w.state,
          ...(w.code === undefined ? (e?.code === undefined ? {} : { code: e.code }) : { code: w.code }),
          message: [`workloads: ${w.message ?? w.state}`, e === undefined ? 'the site has not reported' : `site: ${reportText(e)}`].join('; '),
        };
        changed = true;
      }
    }
    for (const [site, cs] of wins.get(name) ?? []) {
      const e = out[site] ?? { state: 'pending', message: 'not reported by the site yet' };
      out[site] = { state: e.state, code: e.code ?? StoreErrors.ErrAddonConflict.code, message: [e.message, ...cs.map(conflictMessage)].filter((m) => m !== undefined && m !== '').join('; ') };
      changed = true;
    }
    return changed ? { ...addon, status: { ...(addon.status ?? {}), sites: out } } : addon;
  };
  return (obj) => (obj.kind === 'Addon' ? viewOf(obj as AddonObject) : obj);
}
