/**
 * Admission of Addon writes at the hub. A site runs one instance of a plugin
 * (core/store/addons.ts), so a create or update of an Addon that would put
 * its plugin at a site where another Addon already puts the same plugin is
 * refused with EDGE_ERR_ADDON_CONFLICT (409), naming the other Addon, the
 * plugin and the site.
 *
 * Rules:
 * - Targets are resolved with `addonTargets` against the Sites as they are
 *   now, explicit `sites` lists and selectors alike. A site the new spec
 *   names that does not exist yet counts with no labels (it overlaps with
 *   another Addon that names it too, or selects every site).
 * - An update is refused only for an overlap it adds. An overlap its stored
 *   spec already had (found later, after a site was created or relabelled)
 *   does not block changing the Addon; the Addons' status shows it.
 * - Site writes are never refused here: a label change that makes two
 *   selectors overlap is legitimate, and the status shows the conflict.
 * - A body the store would refuse (no plugin, a bad field) is left to the
 *   store's own validation, which names the field.
 * - Addon writes pass one at a time per hub process, so two concurrent
 *   writes cannot both pass the check. Writes through another hub process
 *   or straight into the store are not serialised with these: an overlap
 *   they make is found later, like a relabelled site's.
 */
import { addonTargets, compareAddonAge, prepareResource, StoreErrors, type AddonConflict, type AddonObject, type Resource, type ResourceStore, type SiteObject } from '../store/index.ts';

/** Where sites stand now: name and labels. */
export interface SiteLabels {
  name: string;
  labels: Readonly<Record<string, string>>;
}

/**
 * The first overlap `candidate` adds at a site: another Addon of `others`
 * with the same plugin that targets a site the candidate targets, and that
 * `stored` (the candidate's current version, if any) did not already share.
 * Sites by name, then the other Addons oldest first.
 */
export function addedAddonConflict(
  candidate: Pick<AddonObject, 'metadata' | 'spec'>,
  stored: Pick<AddonObject, 'spec'> | undefined,
  others: readonly Pick<AddonObject, 'metadata' | 'spec'>[],
  sites: readonly SiteLabels[],
): AddonConflict | undefined {
  const name = candidate.metadata.name;
  const plugin = candidate.spec.plugin;
  const rivals = others.filter((o) => o.metadata.name !== name && o.spec.plugin === plugin).sort(compareAddonAge);
  if (rivals.length === 0) return undefined;
  const known = new Set(sites.map((s) => s.name));
  const candidates: SiteLabels[] = [...sites, ...(candidate.spec.sites ?? []).filter((s) => !known.has(s)).map((s) => ({ name: s, labels: {} }))];
  candidates.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const before = stored !== undefined && stored.spec.plugin === plugin ? stored.spec : undefined;
  for (const site of candidates) {
    if (!addonTargets(candidate.spec, site.name, site.labels)) continue;
    for (const other of rivals) {
      if (!addonTargets(other.spec, site.name, site.labels)) continue;
      // Already shared before this write: found later, shown in status, not a reason to refuse the update.
      if (before !== undefined && addonTargets(before, site.name, site.labels)) continue;
      return { addon: name, plugin, site: site.name, heldBy: other.metadata.name };
    }
  }
  return undefined;
}

/** Checks Addon writes against the Addons and Sites in the store. */
export interface AddonAdmission {
  /**
   * Runs `write`, which stores `obj`. For an Addon, first checks that it adds
   * no conflict (else throws EDGE_ERR_ADDON_CONFLICT), one Addon write at a
   * time. Other kinds are written as they come.
   */
  admit<T>(obj: Resource, write: () => Promise<T>): Promise<T>;
}

/** The admission for one hub process's writes to `store`. */
export function createAddonAdmission(store: ResourceStore): AddonAdmission {
  let last: Promise<unknown> = Promise.resolve();

  async function check(obj: Resource): Promise<void> {
    const prepared = prepareResource(obj);
    // The store refuses it with the fields named.
    if (!prepared.ok) return;
    const candidate = prepared.value as AddonObject;
    const [stored, addons, sites] = await Promise.all([
      store.get<AddonObject>('Addon', candidate.metadata.name),
      store.list<AddonObject>('Addon'),
      store.list<SiteObject>('Site'),
    ]);
    const conflict = addedAddonConflict(
      candidate,
      stored,
      addons.items,
      sites.items.map((s) => ({ name: s.metadata.name, labels: s.metadata.labels ?? {} })),
    );
    if (conflict) throw new StoreErrors.ErrAddonConflict(conflict);
  }

  return {
    admit(obj, write) {
      if (obj.kind !== 'Addon') return write();
      const run = last.then(async () => {
        await check(obj);
        return write();
      });
      last = run.catch(() => undefined);
      return run;
    },
  };
}
