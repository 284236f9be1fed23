/**
 * Services a site agent offers to the plugins it hosts. Device plugins
 * register their drivers; any plugin may hand readings to the site's outbox
 * or reach the site's MQTT broker.
 */
import type { Registry } from 'prom-client';
import { createServiceRef } from '../kernel/index.ts';
import type { DeviceDriver } from './driver.ts';
import type { Reading, ReadingValue, Sample } from './reading.ts';

export interface DriverRegistry {
  /** Adds a driver for its protocols; a protocol taken by another driver is an error. Returns a function that removes it. */
  register(driver: DeviceDriver): () => void;
  get(protocol: string): DeviceDriver | undefined;
  protocols(): string[];
}

export interface ReadingSink {
  /**
   * Commits readings to the site's outbox; returns once they are durable.
   * `site` and `seq` are filled in. Throws EDGE_ERR_READINGS_NOT_STORED
   * (`ErrReadingsNotStored`) when they could not be stored (a full or failing
   * disk): nothing of the call is kept, and a driver whose source can send
   * them again (an MQTT publish not yet acknowledged) must not acknowledge it.
   */
  append(readings: readonly Omit<Reading, 'seq' | 'site'>[]): void;
}

/**
 * Every reading the site stores, as it is stored: from every driver and every
 * plugin, with `site` and `seq` filled in, in seq order. For plugins that
 * republish the site's data in another form (the EdgeX message bus, say).
 */
export interface ReadingFeed {
  /**
   * Calls `fn` with each batch right after it is durable in the outbox, on a
   * later turn of the event loop (a slow listener never holds a driver up).
   * A listener that throws is logged and kept. Returns a function that
   * removes it. Readings stored before the call are not replayed.
   */
  subscribe(fn: (readings: readonly Reading[]) => void): () => void;
}

export interface SiteBroker {
  /** mqtt:// URL of the site-local broker. */
  readonly url: string;
  /**
   * The site's own login: publishes and subscribes everything. Made fresh at
   * each agent start; never log it. Connect with a client id starting with
   * `edgeadm-` (a stable `edgeadm-<plugin>-<site>` with clean = false for a
   * persistent session): the site broker refuses any other id for this login
   * with CONNACK 2, mqtt.js's default `mqttjs_…` included.
   */
  readonly credentials: { readonly username: string; readonly password: string };
}

/** A device that announced itself at the site, as a proposal for the operator (a PendingDevice at the hub). */
export interface DeviceAnnouncement {
  /** Home Assistant MQTT discovery, the native announce topic, or an existing EdgeX's core-metadata (the edgex plugin's bridge). */
  source: 'homeassistant' | 'announce' | 'edgex';
  /** Its identity within the site as announced. */
  identifier: string;
  /** A DNS-1123 label for the Device name. */
  suggestedName: string;
  displayName?: string;
  manufacturer?: string;
  model?: string;
  swVersion?: string;
  /** The Device's protocol block, by name (`mqtt`). */
  protocolName: string;
  protocol: Record<string, unknown>;
  /** A DeviceProfile body (EdgeX shape: deviceResources, deviceCommands). */
  profile: Record<string, unknown>;
  warnings?: string[];
}

export interface Onboarding {
  /**
   * Reports a device to the hub as pending approval. Kept on disk and sent
   * when the hub is reachable; the same source and identifier again replaces
   * an unsent report, and an unchanged one already delivered is not sent
   * again for a while. Returns at once.
   */
  propose(a: DeviceAnnouncement): void;
}

export const driversRef = createServiceRef<DriverRegistry>({ id: 'site.drivers' });
export const readingSinkRef = createServiceRef<ReadingSink>({ id: 'site.readings' });
export const readingFeedRef = createServiceRef<ReadingFeed>({ id: 'site.reading-feed' });
export interface SiteStorage {
  /** A folder of the site agent's data directory for this plugin's own files (created on first use): keys, certificates, caches. */
  dir(pluginId: string): string;
}

/** A Device or DeviceProfile as the site holds it (its replica of the hub's), with its EdgeX v3 form. */
export interface SiteCatalogEntry {
  /** The resource's name (`metadata.name`). */
  readonly name: string;
  /** Its EdgeX name: the name it was imported with, else its resource name. */
  readonly edgexName: string;
  readonly spec: Readonly<Record<string, unknown>>;
  /** Its EdgeX v3 DTO (core-metadata's DeviceProfile or Device), as `edgeadm device export` writes it. */
  readonly edgex: Readonly<Record<string, unknown>>;
}

/** The site's Devices (of this site) and DeviceProfiles, read-only, read from the replica at each call: works offline. */
export interface SiteCatalog {
  /** Every resource of the kind, in name order (shared: do not change it). Throws EDGE_ERR_EDGEX_EXPORT_CLASH when two would have one EdgeX name. */
  list(kind: 'Device' | 'DeviceProfile'): readonly SiteCatalogEntry[];
}

/** What a live read or a command at the site came to. */
export interface DeviceCommandResult {
  ok: boolean;
  /** A read: what was read, one sample per resource (also stored as readings). */
  samples?: Sample[];
  /** A write: the value read back after it, when it read back good. */
  reported?: unknown;
  error?: { code: string; message: string };
}

/** Reads and writes a running device of the site, as the hub's live reads and commands do; the readings go upstream too. */
export interface DeviceCommands {
  /**
   * Reads the sources (resources or deviceCommands of its profile; none: every
   * readable resource) now, through the driver. Its samples are stored as the
   * site's readings (outbox, hub, reading feed) unless `store` is false (an
   * answer for the caller alone, as EdgeX's `ds-pushevent=false`).
   */
  read(device: string, sources: readonly string[], opts?: { store?: boolean }): Promise<DeviceCommandResult>;
  /** Writes one resource, then reads it back (the reported value). */
  write(device: string, resource: string, value: ReadingValue): Promise<DeviceCommandResult>;
}

/** The site's own logins (its BrokerCredentials, replicated from the hub), checked locally: works offline. */
export interface SiteLogins {
  /** Whether `username` is an enabled login of the site and `password` its password. */
  verify(username: string, password: string): Promise<boolean>;
}

/** Where the site reaches its hub: for a plugin that forwards a caller's request there with the caller's own hub token (never the site's). */
export interface SiteHub {
  /** The hub's base URL (direct, or the tunnel's local forward); undefined while the site has none yet. */
  url(): string | undefined;
}

/** A device's operating state at the site, in EdgeX's terms. */
export interface DeviceOperatingState {
  /** UP: its driver has it connected and its reads answer; DOWN: unreachable, refused by its driver or without one; UNKNOWN: connecting or locked. */
  state: 'UP' | 'DOWN' | 'UNKNOWN';
  /** Why, when the site knows (the newest bad read's cause, a missing driver). */
  message?: string;
  /** When it last answered: the newest origin (ns) of a reading of it that was not bad. */
  lastReading?: number;
}

/** The running state of the site's devices, read-only, as the site's device runtime keeps it. */
export interface DeviceStates {
  /** The state of a Device of this site now; undefined when the site has no state for it (not its Device, or not started yet). */
  get(device: string): DeviceOperatingState | undefined;
}

/** A Service of the cluster as this node reaches it: its cluster IP (kube-proxy routes it on every node) and port. */
export interface ClusterServiceAddress {
  host: string;
  port: number;
}

/**
 * The cluster's Services as a Kubernetes-mode node sees them: read as the
 * node through the site agent's lite-apiserver, so a Service that resolved
 * once resolves again while the cloud is away. On a node that runs no
 * lite-apiserver (not a Kubernetes-mode node) nothing resolves.
 */
export interface ClusterServices {
  /** Whether this node runs lite-apiserver. */
  readonly available: boolean;
  /**
   * The address of a Service's port: by name in `namespace`, or, without
   * one, the only Service of that name in any namespace. Throws
   * EDGE_ERR_CLUSTER_SERVICE naming the Service and why (none, several,
   * headless, no such port, not a Kubernetes-mode node, not cached offline).
   */
  address(name: string, port: number, namespace?: string): Promise<ClusterServiceAddress>;
}

export const clusterServicesRef = createServiceRef<ClusterServices>({ id: 'site.cluster-services' });
export const siteCatalogRef = createServiceRef<SiteCatalog>({ id: 'site.catalog' });
export const deviceStatesRef = createServiceRef<DeviceStates>({ id: 'site.device-states' });
export const siteHubRef = createServiceRef<SiteHub>({ id: 'site.hub' });
export const deviceCommandsRef = createServiceRef<DeviceCommands>({ id: 'site.device-commands' });
export const siteLoginsRef = createServiceRef<SiteLogins>({ id: 'site.logins' });
export const siteBrokerRef = createServiceRef<SiteBroker>({ id: 'site.broker' });
export const siteStorageRef = createServiceRef<SiteStorage>({ id: 'site.storage' });
export const onboardingRef = createServiceRef<Onboarding>({ id: 'site.onboarding' });
/** The site agent's Prometheus registry: plugins register their metrics in it. */
export const siteMetricsRef = createServiceRef<Registry>({ id: 'site.metrics' });
