/**
 * Which devices and resources exist, for telemetry ingest: a reading for a
 * Device the hub does not have at that site, or for a resource its profile
 * does not declare, is quarantined (kept aside and counted), not stored as
 * if it were real. Lookups go to the resource store and are cached briefly
 * (found ones for `ttlMs`, missing ones for `missTtlMs`), so a batch costs
 * one lookup per distinct device at most and a Device created a moment ago
 * is seen within `missTtlMs`.
 */
import type { Reading } from '../sdk/index.ts';
import type { DeviceObject, DeviceProfileObject, ResourceStore } from '../store/index.ts';
import type { QuarantineReason } from '../telemetry/index.ts';

export type Classifier = (r: Reading) => QuarantineReason | undefined;

interface Entry<T> {
  at: number;
  value: T | undefined;
}

export interface DeviceCatalogOptions {
  /** How long a found Device or profile is trusted (ms). Default 5000. */
  ttlMs?: number;
  /** How long a missing one is remembered (ms). Default 1000. */
  missTtlMs?: number;
  /** Entries kept at most, per kind. Default 100,000. */
  maxEntries?: number;
  now?: () => number;
}

export class DeviceCatalog {
  readonly #store: ResourceStore;
  readonly #ttl: number;
  readonly #missTtl: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #devices = new Map<string, Entry<{ site: string; profile: string }>>();
  readonly #profiles = new Map<string, Entry<ReadonlySet<string>>>();

  constructor(store: ResourceStore, opts: DeviceCatalogOptions = {}) {
    this.#store = store;
    this.#ttl = opts.ttlMs ?? 5000;
    this.#missTtl = opts.missTtlMs ?? 1000;
    this.#max = opts.maxEntries ?? 100_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Looks up every device of the batch, then answers synchronously for each reading (inside the store's transaction). */
  async classifier(site: string, readings: readonly Reading[]): Promise<Classifier> {
    const known = new Map<string, ReadonlySet<string> | undefined>();
    for (const r of readings) {
      if (known.has(r.device)) continue;
      let dev = this.#device(r.device);
      if (dev instanceof Promise) dev = await dev;
      let resources = dev && dev.site === site ? this.#profile(dev.profile) : undefined;
      if (resources instanceof Promise) resources = await resources;
      known.set(r.device, dev && dev.site === site ? (resources ?? new Set()) : undefined);
    }
    return (r) => {
      const resources = known.get(r.device);
      if (resources === undefined) return 'unknown-device';
      return resources.has(r.resource) ? undefined : 'unknown-resource';
    };
  }

  #fresh<T>(e: Entry<T> | undefined): e is Entry<T> {
    return e !== undefined && this.#now() - e.at < (e.value === undefined ? this.#missTtl : this.#ttl);
  }

  #put<T>(map: Map<string, Entry<T>>, key: string, value: T | undefined): T | undefined {
    if (map.size >= this.#max) map.clear();
    map.set(key, { at: this.#now(), value });
    return value;
  }

  // A fresh entry answers without a turn of the event loop: batches of thousands of readings name the same few devices.
  #device(name: string): { site: string; profile: string } | undefined | Promise<{ site: string; profile: string } | undefined> {
    const e = this.#devices.get(name);
    return this.#fresh(e) ? e.value : this.#loadDevice(name);
  }

  async #loadDevice(name: string): Promise<{ site: string; profile: string } | undefined> {
    const d = await this.#store.get<DeviceObject>('Device', name);
    return this.#put(this.#devices, name, d ? { site: d.spec.site, profile: d.spec.profile } : undefined);
  }

  #profile(name: string): ReadonlySet<string> | undefined | Promise<ReadonlySet<string> | undefined> {
    const e = this.#profiles.get(name);
    return this.#fresh(e) ? e.value : this.#loadProfile(name);
  }

  async #loadProfile(name: string): Promise<ReadonlySet<string> | undefined> {
    const p = await this.#store.get<DeviceProfileObject>('DeviceProfile', name);
    return this.#put(this.#profiles, name, p ? new Set(p.spec.deviceResources.map((r) => r.name)) : undefined);
  }
}
