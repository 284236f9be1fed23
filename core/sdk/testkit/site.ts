/**
 * `mockSiteServices()`: the services a site agent offers its plugins, for a
 * plugin's tests, without a hub or a sync session. Each one behaves as the
 * agent's does, from the agent's own parts where it has them:
 *
 *   drivers     the agent's driver table (a protocol taken twice is refused)
 *   readings    a sink into a real outbox (SQLite), which checks every reading
 *               as the agent's does and records what it stored, in seq order;
 *               `failWith(reason)` makes it refuse as a full disk does
 *   feed        the agent's reading feed: what `readings` stored, to subscribers
 *   storage     a folder per plugin id under the site's data directory
 *   onboarding  records the devices a plugin proposes
 *   metrics     a Prometheus registry
 *   broker      the agent's site broker (aedes) on 127.0.0.1, with its own
 *               login only, when asked for (`broker: true`)
 *   catalog     the site's Devices and DeviceProfiles (applied here), with their EdgeX forms
 *   commands    live reads and writes of the running devices, as the agent's
 *   states      the running devices' operating states, as the agent's
 *   logins      the site's BrokerCredentials (applied here), checked as the agent does
 *   hub         the hub URL given as `hubUrl` (none by default)
 *   devices     the agent's device runtime: Devices and DeviceProfiles applied
 *               here (checked as the hub checks them) become DriverDevices,
 *               are connected, polled on their autoEvents into `readings`, and
 *               written as a command from the hub is (write, then read back)
 *
 *   const site = await mockSiteServices({ site: 'plant-a' });
 *   const tk = await startTestKernel({ plugins: [{ plugin, site: 'plant-a' }], services: site.services });
 *   await site.devices.apply(profile, device);
 *   const [r] = await site.readings.waitFor({ device: 'boiler-1', resource: 'temperature' });
 *   await tk.stop();
 *   await site.close();
 *
 * The heavy parts (SQLite, aedes) load only when this is called.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Registry } from 'prom-client';
import { ensurePrivateDir, type LogLevel } from '../../kernel/index.ts';
import { PLUGIN_ID_PATTERN } from '../../plugins/index.ts';
import type { Outbox } from '../../telemetry/index.ts';
import type { Resource } from '../../store/index.ts';
import type { DeviceRuntimeStatus, DeviceState, DriverView } from '../../../sites/devices.ts';
import type { CommandResult } from '../../../sites/local-state.ts';
import {
  deviceCommandsRef,
  deviceStatesRef,
  driversRef,
  ErrReadingsNotStored,
  onboardingRef,
  readingFeedRef,
  readingSinkRef,
  siteBrokerRef,
  siteCatalogRef,
  siteHubRef,
  clusterServicesRef,
  siteLoginsRef,
  siteMetricsRef,
  siteStorageRef,
  type DeviceAnnouncement,
  type DeviceDriver,
  type DriverRegistry,
  type Onboarding,
  type Quality,
  type Reading,
  type ReadingFeed,
  type ReadingSink,
  type ReadingValue,
  type SiteBroker,
  type SiteStorage,
} from '../index.ts';
import { ErrNoDriver, ErrStorageName, ErrWaitTimeout } from './errors.ts';
import { bindService, captureLogs, type LogLine, type ServiceBinding } from './bindings.ts';

export interface MockSiteOptions {
  /** The site's name (default `test-site`); a plugin instance and its Devices name the same site. */
  site?: string;
  /** Also run the site broker (aedes on 127.0.0.1, a free port) and provide `siteBrokerRef`. */
  broker?: boolean;
  /** The site's data directory (outbox, replica, plugin folders); default a new temporary folder, removed by `close()`. */
  dataDir?: string;
  /** Level of the captured logs (default `debug`). */
  logLevel?: LogLevel;
  /** The hub `siteHubRef` names (a test hub's URL); default none. */
  hubUrl?: string;
  /** A Kubernetes-mode node's GETs of the cluster's API (`clusterServicesRef`, e.g. a test API server's); default none: nothing resolves. */
  kubeGet?: (pathAndQuery: string) => Promise<{ status: number; body: unknown }>;
}

/** The driver registry, plus the driver of a protocol for direct calls. */
export interface MockDriverRegistry extends DriverRegistry {
  /** The driver registered for `protocol`; EDGE_ERR_TESTKIT_NO_DRIVER when there is none. */
  driver(protocol: string): DeviceDriver;
}

/** Which readings a test waits for: fields to match, or a predicate. */
export type ReadingMatch = { device?: string; resource?: string; quality?: Quality } | ((r: Reading) => boolean);

/** The reading sink, recording what it stored. */
export interface RecordingSink extends ReadingSink {
  /** Every reading stored so far, with its site and seq, in seq order. */
  readonly readings: readonly Reading[];
  /** Readings of one device (and resource). */
  of(device: string, resource?: string): Reading[];
  /**
   * Resolves with the first `count` (default 1) stored readings that match,
   * those already stored included; EDGE_ERR_TESTKIT_TIMEOUT after
   * `timeoutMs` (default 5000) when fewer arrive.
   */
  waitFor(match: ReadingMatch, opts?: { count?: number; timeoutMs?: number }): Promise<Reading[]>;
  /**
   * While a reason is set, `append` stores nothing and throws
   * EDGE_ERR_READINGS_NOT_STORED with it, as the agent's sink does on a full
   * or failing disk; `failWith(undefined)` stores again.
   */
  failWith(reason: string | undefined): void;
  /** Readings refused so far. */
  readonly notStored: number;
}

/** The onboarding service, recording every proposal. */
export interface RecordingOnboarding extends Onboarding {
  readonly proposals: readonly DeviceAnnouncement[];
}

/** The site's devices, run by the agent's own device runtime. */
export interface MockSiteDevices {
  /**
   * Applies DeviceProfiles and Devices (`kind`, `metadata`, `spec`, as
   * `edgeadm device add -f` takes them), and BrokerCredentials (the site's
   * logins, `spec.passwordHash` as the hub stores it), each checked as the hub checks it
   * (EDGE_ERR_STORE_INVALID naming every problem), then brings the devices
   * in line: connects new and changed ones, stops removed ones.
   */
  apply(...resources: readonly object[]): Promise<void>;
  /** Removes a Device, DeviceProfile or BrokerCredential, then brings the devices in line. */
  remove(kind: 'Device' | 'DeviceProfile' | 'BrokerCredential', name: string): Promise<void>;
  /** The DriverDevice the site hands to the driver for this Device, or why there is none. */
  view(name: string): DriverView;
  /** Where a device is: waiting-for-driver, connecting, up, down, invalid, locked, and why. */
  status(name: string): DeviceRuntimeStatus | undefined;
  statuses(): DeviceRuntimeStatus[];
  /**
   * Resolves with the device's status once it is in `state` (a polled device
   * is `connecting` until its first poll answers); EDGE_ERR_TESTKIT_TIMEOUT
   * after `timeoutMs` (default 5000), naming the state it is in.
   */
  waitFor(name: string, state: DeviceState, opts?: { timeoutMs?: number }): Promise<DeviceRuntimeStatus>;
  /** A command as the hub sends it: the driver writes, then the resource is read back (also a reading). */
  write(device: string, resource: string, value: ReadingValue): Promise<CommandResult>;
}

export interface MockSite {
  readonly site: string;
  readonly dataDir: string;
  /** Bindings of every service provided here, for `startTestKernel({ services })`. */
  readonly services: readonly ServiceBinding[];
  readonly drivers: MockDriverRegistry;
  readonly readings: RecordingSink;
  /** The reading feed: what `readings` stored, to subscribers (as `readingFeedRef`). */
  readonly feed: ReadingFeed;
  readonly storage: SiteStorage;
  readonly onboarding: RecordingOnboarding;
  readonly metrics: Registry;
  /** The site broker; undefined unless started with `broker: true`. */
  readonly broker: SiteBroker | undefined;
  readonly devices: MockSiteDevices;
  /** Adds a login of the site (a BrokerCredential, its password hashed as the hub does), as `siteLoginsRef` checks them. */
  addLogin(username: string, password: string, opts?: { disabled?: boolean }): Promise<void>;
  /** Captured log lines of the site's parts (devices, outbox, broker), parsed. */
  readonly logs: readonly LogLine[];
  /** Stops the devices and the broker, closes the stores and removes a temporary data directory. Idempotent. */
  close(): Promise<void>;
}

const PLUGIN_ID = new RegExp(PLUGIN_ID_PATTERN);

function matcher(match: ReadingMatch): { test: (r: Reading) => boolean; what: string } {
  if (typeof match === 'function') return { test: match, what: 'readings matching the predicate' };
  const parts = [
    match.device === undefined ? '' : `device '${match.device}'`,
    match.resource === undefined ? '' : `resource '${match.resource}'`,
    match.quality === undefined ? '' : `quality '${match.quality}'`,
  ].filter((s) => s !== '');
  return {
    test: (r) =>
      (match.device === undefined || r.device === match.device) &&
      (match.resource === undefined || r.resource === match.resource) &&
      (match.quality === undefined || r.quality === match.quality),
    what: parts.length === 0 ? 'readings' : `readings of ${parts.join(', ')}`,
  };
}

/**
 * Resolves with what `check` returns once it returns something: checked at
 * once and whenever one of `waiters` is called; rejects with `timeout()`
 * after `ms`.
 */
function until<T>(waiters: Set<() => void>, check: () => T | undefined, ms: number, timeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      waiters.delete(test);
    };
    const test = (): void => {
      const found = check();
      if (found === undefined) return;
      done();
      resolve(found);
    };
    const timer = setTimeout(() => {
      done();
      reject(timeout());
    }, ms);
    waiters.add(test);
    test();
  });
}

function recordingSink(site: string, outbox: Outbox, feed: { publish(readings: readonly Reading[]): void }): RecordingSink {
  const stored: Reading[] = [];
  const waiters = new Set<() => void>();
  let failure: string | undefined;
  let notStored = 0;
  return {
    get readings() {
      return stored;
    },
    get notStored() {
      return notStored;
    },
    append(readings) {
      if (failure !== undefined) {
        notStored += readings.length;
        const device = readings[0]?.device;
        throw new ErrReadingsNotStored({ count: readings.length, ...(device === undefined ? {} : { device }), reason: failure });
      }
      const withSite = readings.map((r) => ({ ...r, site }));
      const { firstSeq } = outbox.append(withSite);
      const numbered = withSite.map((r, i) => ({ ...r, seq: firstSeq + i }));
      stored.push(...numbered);
      feed.publish(numbered);
      for (const w of [...waiters]) w();
    },
    of(device, resource) {
      return stored.filter((r) => r.device === device && (resource === undefined || r.resource === resource));
    },
    waitFor(match, opts = {}) {
      const count = opts.count ?? 1;
      const ms = opts.timeoutMs ?? 5_000;
      const m = matcher(match);
      return until(
        waiters,
        () => {
          const found = stored.filter(m.test);
          return found.length >= count ? found.slice(0, count) : undefined;
        },
        ms,
        () => {
          const seen = stored.filter(m.test).length;
          return new ErrWaitTimeout({ what: `${count} ${m.what}`, ms, seen: `${seen} matched, ${stored.length} reading${stored.length === 1 ? '' : 's'} recorded in all` });
        },
      );
    },
    failWith(reason) {
      failure = reason;
    },
  };
}

/** Starts the services of one site for a plugin's tests; see the file header. */
export async function mockSiteServices(opts: MockSiteOptions = {}): Promise<MockSite> {
  const site = opts.site ?? 'test-site';
  const [{ Registry }, { openOutbox }, { prepareResource, API_VERSION, StoreErrors }, { DeviceManager, DriverTable }, { LocalState }] = await Promise.all([
    import('prom-client'),
    import('../../telemetry/index.ts'),
    import('../../store/index.ts'),
    import('../../../sites/devices.ts'),
    import('../../../sites/local-state.ts'),
  ]);
  const { deviceCommands, deviceStates, siteCatalog, siteLogins } = await import('../../../sites/site-api.ts');
  const { clusterServices } = await import('../../../sites/cluster-services.ts');
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'edgeadm-mock-site-'));
  ensurePrivateDir(dataDir);
  const { logger, logs } = captureLogs(opts.logLevel ?? 'debug');
  const log = logger.child({ site });
  const metrics = new Registry();
  const teardown: (() => Promise<void> | void)[] = [];
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      for (const fn of teardown.reverse()) await fn();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    })());

  try {
    const outbox = openOutbox({ file: path.join(dataDir, 'outbox.db'), site, logger: log, metrics });
    teardown.push(() => outbox.close());
    const state = new LocalState(path.join(dataDir, 'replica.db'));
    teardown.push(() => state.close());

    const table = new DriverTable();
    const drivers: MockDriverRegistry = {
      register: (d) => table.register(d),
      get: (p) => table.get(p),
      protocols: () => table.protocols(),
      driver(protocol) {
        const d = table.get(protocol);
        if (!d) throw new ErrNoDriver({ protocol, site, registered: table.protocols() });
        return d;
      },
    };
    const { ReadingFanout } = await import('../../../sites/reading-feed.ts');
    const feed = new ReadingFanout(log.child({ component: 'reading-feed' }));
    const readings = recordingSink(site, outbox, feed);
    const proposals: DeviceAnnouncement[] = [];
    const onboarding: RecordingOnboarding = {
      proposals,
      propose: (a) => void proposals.push(a),
    };
    const storage: SiteStorage = {
      dir(pluginId) {
        if (!PLUGIN_ID.test(pluginId)) throw new ErrStorageName({ name: pluginId });
        const dir = path.join(dataDir, 'plugins', pluginId);
        ensurePrivateDir(dir);
        return dir;
      },
    };

    let broker: SiteBroker | undefined;
    if (opts.broker) {
      const { startSiteBroker } = await import('../../../sites/broker.ts');
      const handle = await startSiteBroker({ host: '127.0.0.1', port: 0, logger: log, lookup: () => undefined, metrics });
      teardown.push(() => handle.close());
      broker = { url: handle.url, credentials: handle.credentials };
    }

    const statusWaiters = new Set<() => void>();
    const statusChanged = (): void => {
      for (const w of [...statusWaiters]) w();
    };
    const manager = new DeviceManager({
      site,
      state,
      drivers: table,
      sink: readings,
      logger: log.child({ component: 'devices' }),
      onReconciled: statusChanged,
      onStatus: statusChanged,
    });
    const offDrivers = table.onChange(() => void manager.reconcile());
    teardown.push(async () => {
      offDrivers();
      await manager.stop();
    });

    let version = 0;
    const devices: MockSiteDevices = {
      async apply(...resources) {
        for (const obj of resources) {
          const prepared = prepareResource({ apiVersion: API_VERSION, ...obj });
          const name = (obj as { metadata?: { name?: unknown } }).metadata?.name;
          const kind = (obj as { kind?: unknown }).kind;
          if (!prepared.ok) throw new StoreErrors.ErrInvalid({ kind: String(kind), name: String(name), issues: prepared.issues });
          const r = prepared.value;
          if (r.kind !== 'Device' && r.kind !== 'DeviceProfile' && r.kind !== 'BrokerCredential') {
            throw new StoreErrors.ErrInvalid({ kind: r.kind, name: r.metadata.name, issues: [{ path: 'kind', message: "must be 'Device', 'DeviceProfile' or 'BrokerCredential' here" }] });
          }
          const deviceSite = (r as Resource<{ site?: string }>).spec.site;
          if (r.kind !== 'DeviceProfile' && deviceSite !== site) {
            throw new StoreErrors.ErrInvalid({ kind: r.kind, name: r.metadata.name, issues: [{ path: 'spec.site', message: `must be '${site}', the site these services are for (is '${String(deviceSite)}')` }] });
          }
          version += 1;
          const event = state.get(r.kind, r.metadata.name) ? 'MODIFIED' : 'ADDED';
          state.applyEvent(event, { ...r, metadata: { ...r.metadata, resourceVersion: String(version) } }, String(version));
        }
        await manager.reconcile();
      },
      async remove(kind, name) {
        const r = state.get(kind, name);
        if (!r) throw new StoreErrors.ErrNotFound({ kind, name });
        version += 1;
        state.applyEvent('DELETED', r, String(version));
        await manager.reconcile();
      },
      view(name) {
        const v = manager.deviceView(name);
        if (!v) throw new StoreErrors.ErrNotFound({ kind: 'Device', name });
        return v;
      },
      status: (name) => manager.statuses().find((s) => s.device === name),
      statuses: () => manager.statuses(),
      waitFor(name, want, o = {}) {
        const ms = o.timeoutMs ?? 5_000;
        const current = (): DeviceRuntimeStatus | undefined => manager.statuses().find((s) => s.device === name);
        return until(
          statusWaiters,
          () => {
            const s = current();
            return s?.state === want ? s : undefined;
          },
          ms,
          () => {
            const s = current();
            return new ErrWaitTimeout({ what: `device '${name}' to be ${want}`, ms, seen: s ? `it is ${s.state}${s.message ? ` (${s.message})` : ''}` : 'there is no such device at this site' });
          },
        );
      },
      write: (device, resource, value) =>
        manager.execute({ id: randomUUID(), device, resource, value, expiresAt: new Date(Date.now() + 60_000).toISOString() }),
    };

    const services: ServiceBinding[] = [
      bindService(driversRef, drivers),
      bindService(readingSinkRef, readings),
      bindService(readingFeedRef, feed),
      bindService(siteStorageRef, storage),
      bindService(onboardingRef, onboarding),
      bindService(siteMetricsRef, metrics),
      bindService(siteCatalogRef, siteCatalog(site, () => state)),
      bindService(siteLoginsRef, siteLogins(site, () => state)),
      bindService(siteHubRef, { url: () => opts.hubUrl }),
      bindService(clusterServicesRef, clusterServices(() => opts.kubeGet)),
      bindService(deviceCommandsRef, deviceCommands(() => (cmd, o) => manager.execute(cmd, o))),
      bindService(deviceStatesRef, deviceStates(() => (name) => manager.status(name))),
      ...(broker ? [bindService(siteBrokerRef, broker)] : []),
    ];
    const addLogin = async (username: string, password: string, o: { disabled?: boolean } = {}): Promise<void> => {
      const { hashSecret } = await import('../../kernel/index.ts');
      await devices.apply({
        kind: 'BrokerCredential',
        metadata: { name: `login-${username}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63) },
        spec: { site, username, passwordHash: await hashSecret(password, { logN: 10, r: 8, p: 1 }), ...(o.disabled ? { disabled: true } : {}) },
      });
    };
    return { site, dataDir, services, drivers, readings, feed, storage, onboarding, metrics, broker, devices, addLogin, logs, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export type { CommandResult, DeviceRuntimeStatus, DeviceState, DriverView };
