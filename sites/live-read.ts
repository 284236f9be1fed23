/**
 * A live read at the site (a `read` command from the hub): which resources
 * of a running device it covers, by core/store's rule for sources. The hub
 * checks the sources against the profile before it sends the read, and the
 * agent runs it only once its replica has caught up with the hub; a source
 * that still cannot be read here (the profile changed in between) is
 * EDGE_ERR_DEVICE_READ_SOURCE, naming the device, the site and the source.
 */
import { resourcesToRead, type ProfileSources } from '../core/store/index.ts';
import { ErrReadSource } from './errors.ts';

/** The resources a live read of `sources` covers (every readable one when none is named); throws ErrReadSource. */
export function liveReadResources(site: string, device: { name: string; profile: string }, profile: ProfileSources | undefined, sources: readonly string[]): string[] {
  if (!profile) throw new ErrReadSource({ site, device: device.name, source: sources.join(', '), problem: `its profile '${device.profile}' is not known at this site` });
  const what = resourcesToRead(profile, sources);
  if ('problem' in what) throw new ErrReadSource({ site, device: device.name, source: what.source, problem: what.problem });
  return what.resources;
}
