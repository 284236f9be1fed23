/**
 * Services a site agent offers to the plugins it hosts. Device plugins
 * register their drivers; any plugin may hand readings to the site's outbox
 * or reach the site's MQTT broker.
 */
import { createServiceRef } from '../kernel/index.ts';
import type { DeviceDriver } from './driver.ts';
import type { Reading } from './reading.ts';

export interface DriverRegistry {
  /** Adds a driver for its protocols; a protocol taken by another driver is an error. Returns a function that removes it. */
  register(driver: DeviceDriver): () => void;
  get(protocol: string): DeviceDriver | undefined;
  protocols(): string[];
}

export interface ReadingSink {
  /** Commits readings to the site's outbox; returns once they are durable. `site` and `seq` are filled in. */
  append(readings: readonly Omit<Reading, 'seq' | 'site'>[]): void;
}

export interface SiteBroker {
  /** mqtt:// URL of the site-local broker. */
  readonly url: string;
}

export const driversRef = createServiceRef<DriverRegistry>({ id: 'site.drivers' });
export const readingSinkRef = createServiceRef<ReadingSink>({ id: 'site.readings' });
export const siteBrokerRef = createServiceRef<SiteBroker>({ id: 'site.broker' });
