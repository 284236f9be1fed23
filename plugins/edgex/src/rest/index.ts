/**
 * The edgex plugin's REST part: the readings store fed from the site's
 * reading feed, its age pruning, and the three EdgeX listeners (server.ts),
 * started together and stopped in reverse. Ports, paths and logins:
 * the plugin's README, "REST API".
 */
import type { DeviceCommands, DeviceStates, Logger, ReadingFeed, SiteCatalog, SiteHub, SiteLogins } from '../../../../core/sdk/index.ts';
import type { EdgeXConfig } from '../config.ts';
import { startRestServers, type RestServers } from './server.ts';
import { ReadingStore } from './store.ts';

/** How often readings past the max age are dropped. */
const PRUNE_EVERY_MS = 60_000;

export interface StartRestOptions {
  config: EdgeXConfig['rest'];
  site: string;
  hub: SiteHub;
  /** The plugin's own folder (siteStorageRef). */
  dir: string;
  feed: ReadingFeed;
  catalog: SiteCatalog;
  commands: DeviceCommands;
  states: DeviceStates;
  logins: SiteLogins;
  serviceOf: (r: { device: string; profile: string }) => string;
  services: ReadonlySet<string>;
  logger: Logger;
}

export interface RestPart {
  readonly servers: RestServers;
  readonly store: ReadingStore;
  stop(): Promise<void>;
}

/** Opens the store, follows the feed, and starts the listeners. */
export async function startRest(o: StartRestOptions): Promise<RestPart> {
  const store = new ReadingStore({ dir: o.dir, maxCount: o.config.retention.maxCount, maxAgeMs: o.config.retention.maxAge });
  store.pruneAge();
  const unsubscribe = o.feed.subscribe((readings) => store.add(readings));
  const timer = setInterval(() => store.pruneAge(), PRUNE_EVERY_MS);
  timer.unref();
  const stopFeed = (): void => {
    clearInterval(timer);
    unsubscribe();
  };
  let servers: RestServers;
  try {
    servers = await startRestServers({
      site: o.site,
      hub: o.hub,
      host: o.config.host,
      ports: o.config.ports,
      catalog: o.catalog,
      commands: o.commands,
      states: o.states,
      logins: o.logins,
      store,
      commandLogins: o.config.commandLogins,
      maxResultCount: o.config.maxResultCount,
      serviceOf: o.serviceOf,
      services: o.services,
      logger: o.logger,
    });
  } catch (err) {
    stopFeed();
    store.close();
    throw err;
  }
  return {
    servers,
    store,
    async stop() {
      await servers.close();
      stopFeed();
      store.close();
    },
  };
}
