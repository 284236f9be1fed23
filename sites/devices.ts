/**
 * Devices at the site: for each Device in the replica, find the driver of its
 * protocol, build the driver's view from the device profile, connect (the
 * profile's value mappings around the connection), poll its autoEvents into
 * the outbox, and execute commands (write, then read back as the reported
 * value; or read now, for a live read). Reconciles whenever the replica or
 * the set of drivers changes. A device whose driver fails gets bad-quality
 * readings and a status message, never a crash of the agent. Whether a device
 * is up or down follows its reads (device-health.ts); its writable resources'
 * values are held against the desired ones (twin.ts), which are written again
 * when a device comes back with other values.
 */
import { describeError, goDurationMs, toErrorInfo, type Logger, compareNames } from '../core/kernel/index.ts';
import type {
  DeviceConnection,
  DeviceDriver,
  DriverCommand,
  DriverDevice,
  DriverRegistry,
  DriverResource,
  ReadingSink,
  Sample,
  Subscription,
  ValueType,
  WriteResult,
} from '../core/sdk/index.ts';
import { ErrReadingsNotStored, formatQualityDetail, nowOrigin } from '../core/sdk/index.ts';
import { sampleReading } from '../core/telemetry/index.ts';
import { sourceResources, type ProfileSources, type Resource, type SiteCommand } from '../core/store/index.ts';
import { liveReadResources } from './live-read.ts';
import { LinkHealth } from './device-health.ts';
import type { CommandResult, LocalState } from './local-state.ts';
import { DeviceTwin, type Drift, type DriftPolicy, type ReportedValue } from './twin.ts';
import { withValueMappings } from './mappings.ts';

interface ProfileResource {
  name: string;
  attributes?: Record<string, unknown>;
  properties: { valueType: ValueType; readWrite: string; units?: string } & Record<string, unknown>;
}
interface ProfileSpec extends ProfileSources {
  deviceResources: ProfileResource[];
}
interface DeviceSpec {
  site: string;
  profile: string;
  adminState?: 'LOCKED' | 'UNLOCKED';
  protocols: Record<string, Record<string, unknown>>;
  plugin?: string;
  autoEvents?: { sourceName: string; interval: string; onChange?: boolean }[];
  desired?: Record<string, unknown>;
  driftPolicy?: Record<string, DriftPolicy>;
}

export interface DriverView {
  driver?: DeviceDriver;
  protocol?: string;
  device?: DriverDevice;
  problem?: string;
  /** What is missing when there is no driver view. */
  missing?: 'driver' | 'profile';
}

export type DeviceState = 'waiting-for-driver' | 'connecting' | 'up' | 'down' | 'invalid' | 'locked';

/** A device state as EdgeX's operatingState: a device the site cannot run is DOWN; one it has not judged yet (or may not run) UNKNOWN. */
export const OPERATING_STATE: Readonly<Record<DeviceState, 'UP' | 'DOWN' | 'UNKNOWN'>> = {
  up: 'UP',
  down: 'DOWN',
  invalid: 'DOWN',
  'waiting-for-driver': 'DOWN',
  connecting: 'UNKNOWN',
  locked: 'UNKNOWN',
};

export interface DeviceRuntimeStatus {
  device: string;
  state: DeviceState;
  protocol?: string;
  message?: string;
  /** When the device last answered: the newest origin (ns) of a reading that is not bad. */
  lastReading?: number;
  /** The newest value of each writable resource (the twin's reported side). */
  reported?: Record<string, ReportedValue>;
  /** Writable resources whose value departed from the desired one (see twin.ts). */
  drift?: Record<string, Drift>;
}

/** The longest delay a Node timer keeps: setInterval runs a longer one every millisecond instead. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Why an autoEvent interval (a Go duration, read by the kernel's parser)
 * cannot drive a poll timer, or undefined when it can. The store takes only
 * intervals longer than zero; a timer holds at most MAX_TIMER_MS.
 */
function intervalProblem(text: string, ms: number | undefined): string | undefined {
  if (ms === undefined || ms <= 0) return `bad interval '${text}'`;
  if (ms > MAX_TIMER_MS) return `interval '${text}' is longer than a poll timer holds (about 24.8 days)`;
  return undefined;
}

export class DriverTable implements DriverRegistry {
  readonly #drivers = new Map<string, DeviceDriver>();
  readonly #listeners = new Set<() => void>();

  register(driver: DeviceDriver): () => void {
    for (const p of driver.protocols) {
      if (this.#drivers.has(p)) throw new Error(`protocol '${p}' already has a driver`);
    }
    for (const p of driver.protocols) this.#drivers.set(p, driver);
    this.#emit();
    return () => {
      for (const p of driver.protocols) if (this.#drivers.get(p) === driver) this.#drivers.delete(p);
      this.#emit();
    };
  }

  get(protocol: string): DeviceDriver | undefined {
    return this.#drivers.get(protocol);
  }

  protocols(): string[] {
    return [...this.#drivers.keys()];
  }

  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #emit(): void {
    for (const fn of this.#listeners) fn();
  }
}

interface Running {
  key: string;
  driver: DeviceDriver;
  device: DriverDevice;
  conn?: DeviceConnection;
  /** Push delivery, for drivers whose protocol has it (MQTT, OPC UA subscriptions). */
  subscription?: Subscription;
  timers: NodeJS.Timeout[];
  status: DeviceRuntimeStatus;
  last: Map<string, string>;
  closing?: Promise<void>;
  health: LinkHealth;
  twin: DeviceTwin;
  /** Writes to the device, one at a time (commands and reasserts). */
  writes: Promise<unknown>;
}

export interface DeviceManagerOptions {
  site: string;
  state: LocalState;
  drivers: DriverTable;
  sink: ReadingSink;
  logger: Logger;
  /** Called after each reconcile (devices may have started, stopped or failed). */
  onReconciled?: () => void;
  /** Called when a running device's state, message, reported values or drift changed. */
  onStatus?: () => void;
  /** Polls in a row with every read bad before a device is down (default 3). */
  downAfterBadPolls?: number;
}

export class DeviceManager {
  readonly #o: DeviceManagerOptions;
  readonly #running = new Map<string, Running>();
  readonly #statuses = new Map<string, DeviceRuntimeStatus>();
  #reconciling: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(opts: DeviceManagerOptions) {
    this.#o = opts;
  }

  statuses(): DeviceRuntimeStatus[] {
    return [...this.#statuses.values()].sort((a, b) => compareNames(a.device, b.device));
  }

  /** One device's runtime status; undefined when the site has none for it. */
  status(name: string): DeviceRuntimeStatus | undefined {
    return this.#statuses.get(name);
  }

  /** Brings running devices in line with the replica and the drivers; serialised. */
  reconcile(): Promise<void> {
    this.#reconciling = this.#reconciling
      .then(() => this.#reconcile())
      .catch((err: unknown) => {
        this.#o.logger.error({ error: toErrorInfo(err) }, 'device reconcile failed');
      })
      .then(() => this.#o.onReconciled?.());
    return this.#reconciling;
  }

  /** The driver and the driver's view of a Device of the replica; undefined when there is no such Device at this site. */
  deviceView(name: string): DriverView | undefined {
    const dev = this.#o.state.get<Resource<DeviceSpec>>('Device', name);
    if (!dev || dev.spec.site !== this.#o.site) return undefined;
    return this.#driverDevice(dev);
  }

  #driverDevice(dev: Resource<DeviceSpec>): DriverView {
    const spec = dev.spec;
    const protocols = Object.keys(spec.protocols ?? {});
    const protocol = protocols.find((p) => this.#o.drivers.get(p));
    if (!protocol) return { missing: 'driver', problem: `no driver for protocol ${protocols.map((p) => `'${p}'`).join(', ')} at this site (is its addon installed?)` };
    const profile = this.#o.state.get<Resource<ProfileSpec>>('DeviceProfile', spec.profile);
    if (!profile) return { missing: 'profile', problem: `device profile '${spec.profile}' is not known at this site` };
    const rwOf = (rw: string): 'R' | 'W' | 'RW' => (rw === 'WR' ? 'RW' : (rw as 'R' | 'W' | 'RW'));
    const resources: DriverResource[] = profile.spec.deviceResources.map((r) => {
      const rw = rwOf(r.properties.readWrite);
      const { valueType, readWrite: _rw, units, ...properties } = r.properties;
      return { name: r.name, valueType, readWrite: rw, ...(units ? { units } : {}), attributes: r.attributes ?? {}, properties };
    });
    const commands: DriverCommand[] = (profile.spec.deviceCommands ?? []).map((c) => ({ name: c.name, readWrite: rwOf(c.readWrite), resources: c.resourceOperations.map((o) => o.deviceResource) }));
    const annotations = dev.metadata.annotations;
    return {
      driver: this.#o.drivers.get(protocol),
      protocol,
      device: {
        site: this.#o.site,
        name: dev.metadata.name,
        profile: spec.profile,
        protocolName: protocol,
        protocol: spec.protocols[protocol] ?? {},
        resources,
        ...(annotations ? { annotations: { ...annotations } } : {}),
        ...(commands.length > 0 ? { commands } : {}),
      },
    };
  }

  async #reconcile(): Promise<void> {
    if (this.#stopped) return;
    const devices = this.#o.state.list<Resource<DeviceSpec>>('Device').filter((d) => d.spec.site === this.#o.site);
    const wanted = new Map<string, { dev: Resource<DeviceSpec>; key: string; view: DriverView }>();
    for (const dev of devices) {
      const view = this.#driverDevice(dev);
      // Any change of the device, its profile or its driver restarts it.
      const profile = this.#o.state.get('DeviceProfile', dev.spec.profile);
      const key = `${dev.metadata.resourceVersion ?? ''}/${profile?.metadata.resourceVersion ?? ''}/${view.protocol ?? ''}/${view.driver ? this.#driverId(view.driver) : ''}`;
      wanted.set(dev.metadata.name, { dev, key, view });
    }
    for (const [name, run] of this.#running) {
      const w = wanted.get(name);
      if (!w || w.key !== run.key) await this.#stopDevice(name);
    }
    for (const name of this.#statuses.keys()) if (!wanted.has(name)) this.#statuses.delete(name);
    for (const [name, { dev, key, view }] of wanted) {
      if (this.#running.has(name)) continue;
      if (dev.spec.adminState === 'LOCKED') {
        this.#statuses.set(name, { device: name, state: 'locked' });
        continue;
      }
      if (!view.driver || !view.device) {
        this.#statuses.set(name, { device: name, state: 'waiting-for-driver', message: view.problem ?? 'no driver' });
        continue;
      }
      const issues = view.driver.validate?.(view.device) ?? [];
      if (issues.length > 0) {
        const message = issues.map((i) => `[${i.code}] ${i.path}: ${i.message}`).join('; ');
        this.#statuses.set(name, { device: name, state: 'invalid', ...(view.protocol ? { protocol: view.protocol } : {}), message });
        this.#o.logger.error({ device: name, issues }, 'device rejected by its driver');
        continue;
      }
      await this.#startDevice(dev, key, view.driver, view.device, view.protocol as string);
    }
  }

  readonly #driverIds = new WeakMap<DeviceDriver, number>();
  #nextDriverId = 1;
  #driverId(d: DeviceDriver): number {
    let id = this.#driverIds.get(d);
    if (id === undefined) {
      id = this.#nextDriverId++;
      this.#driverIds.set(d, id);
    }
    return id;
  }

  /** A running device's record: its status (a device retrying after a failed connect stays down, with its cause and last values), link health and twin. */
  #track(dev: Resource<DeviceSpec>, key: string, driver: DeviceDriver, device: DriverDevice, protocol: string): Running {
    const name = dev.metadata.name;
    const prev = this.#statuses.get(name);
    const status: DeviceRuntimeStatus = prev?.state === 'down' ? { ...prev, protocol } : { device: name, state: 'connecting', protocol, ...(prev?.reported ? { reported: prev.reported } : {}) };
    delete status.drift;
    const health = new LinkHealth(status, this.#o.downAfterBadPolls === undefined ? {} : { downAfterBadPolls: this.#o.downAfterBadPolls });
    const twin = new DeviceTwin({
      writable: device.resources.filter((r) => r.readWrite !== 'R').map((r) => r.name),
      ...(dev.spec.desired ? { desired: dev.spec.desired } : {}),
      ...(dev.spec.driftPolicy ? { policies: dev.spec.driftPolicy } : {}),
    });
    const run: Running = { key, driver, device, timers: [], status, last: new Map(), health, twin, writes: Promise.resolve() };
    this.#running.set(name, run);
    this.#statuses.set(name, status);
    health.connecting();
    return run;
  }

  /** Writes one value after the device's earlier writes, then reads it back (the read-back goes upstream). */
  #write(run: Running, resource: string, value: Sample['value'], reassert = false): Promise<{ result: WriteResult; samples: Sample[] }> {
    const done = run.writes.then(async () => {
      run.twin.writing(resource);
      let error: string | undefined = 'the write did not finish';
      try {
        const [res] = await run.conn!.write([{ resource, value }]);
        if (!res?.ok) {
          error = res?.error ? `${res.error.code} ${res.error.message}` : 'the driver returned no result';
          return { result: res ?? { resource, ok: false }, samples: [] };
        }
        error = undefined;
        run.twin.written(resource, reassert ? {} : undefined);
        const samples = await this.#read(run, [resource]);
        this.#emit(run, samples, false);
        return { result: res, samples };
      } finally {
        if (error !== undefined) run.twin.written(resource, reassert ? { error } : undefined);
      }
    });
    run.writes = done.catch(() => undefined);
    return done;
  }

  /** Readings into the twin (and, pushed ones, into the link health); drift with policy reassert writes the desired value again. */
  #observe(run: Running, samples: readonly Sample[], pushed: boolean): void {
    const obs = run.twin.observe(samples);
    if (obs.changed) {
      run.status.reported = run.twin.reported();
      run.status.drift = run.twin.drift();
    }
    this.#changed((pushed && run.health.pushed(samples)) || obs.changed);
    for (const resource of obs.reassert) {
      const want = run.twin.desired(resource);
      if (!want || !run.conn) continue;
      this.#o.logger.warn({ device: run.device.name, resource, desired: want.value, drift: run.status.drift?.[resource] }, 'device value departed from its desired value; writing it again');
      // Marked at once: readings that arrive before the write starts judge nothing.
      run.twin.writing(resource);
      void this.#write(run, resource, want.value as Sample['value'], true)
        .then(({ result }) => {
          if (!result.ok) this.#o.logger.warn({ device: run.device.name, resource, error: result.error }, 'writing the desired value again failed');
        })
        .catch((err: unknown) => this.#o.logger.warn({ device: run.device.name, resource, error: toErrorInfo(err) }, 'writing the desired value again failed'))
        .finally(() => {
          if (this.#running.get(run.device.name) !== run) return;
          run.status.drift = run.twin.drift();
          this.#changed(true);
        });
    }
  }

  #changed(changed: boolean): void {
    if (changed) this.#o.onStatus?.();
  }

  async #startDevice(dev: Resource<DeviceSpec>, key: string, driver: DeviceDriver, device: DriverDevice, protocol: string): Promise<void> {
    const name = dev.metadata.name;
    const run = this.#track(dev, key, driver, device, protocol);
    const status = run.status;
    try {
      run.conn = withValueMappings(await driver.connect(device), device, this.#o.state.get<Resource<ProfileSpec>>('DeviceProfile', device.profile)?.spec);
      this.#changed(run.health.connected((dev.spec.autoEvents ?? []).length > 0));
    } catch (err) {
      this.#changed(run.health.connectFailed(err));
      this.#o.logger.warn({ device: name, error: toErrorInfo(err) }, 'device connect failed; retrying');
      run.timers.push(setTimeout(() => {
        if (this.#running.get(name) === run) {
          this.#running.delete(name);
          void this.reconcile();
        }
      }, 5_000));
      return;
    }
    // A protocol that pushes values (the driver has `subscribe`): every readable resource arrives as it is published.
    const conn = run.conn;
    if (conn.subscribe) {
      const readable = device.resources.filter((r) => r.readWrite !== 'W').map((r) => r.name);
      if (readable.length > 0) {
        try {
          // A push source can deliver again what the site could not store: the error goes back to the driver.
          run.subscription = await conn.subscribe(readable, { mode: 'onChange' }, (samples) => {
            if (this.#running.get(name) === run) this.#emit(run, samples, false, true);
          });
        } catch (err) {
          status.message = `subscribe failed: ${describeError(err)}`;
          this.#o.logger.warn({ device: name, error: toErrorInfo(err) }, 'device subscribe failed; autoEvents still poll');
        }
      }
    }
    const profile = this.#o.state.get<Resource<ProfileSpec>>('DeviceProfile', device.profile)?.spec;
    const resourcesOf = (source: string): string[] => (profile && sourceResources(profile, source)) ?? [];
    for (const ev of dev.spec.autoEvents ?? []) {
      const ms = goDurationMs(ev.interval);
      const bad = intervalProblem(ev.interval, ms);
      const resources = resourcesOf(ev.sourceName);
      if (bad !== undefined || ms === undefined || resources.length === 0) {
        this.#o.logger.error({ device: name, autoEvent: ev }, 'autoEvent skipped: bad interval or unknown source');
        status.message = `autoEvent '${ev.sourceName}' skipped: ${bad ?? 'unknown resource or command'}`;
        continue;
      }
      let busy = false;
      const tick = async (): Promise<void> => {
        if (busy || !run.conn) return;
        busy = true;
        try {
          const samples = await this.#read(run, resources);
          this.#emit(run, samples, ev.onChange === true);
          if (this.#running.get(name) === run) this.#changed(run.health.polled(samples));
        } finally {
          busy = false;
        }
      };
      run.timers.push(setInterval(() => void tick(), ms));
      void tick();
    }
  }

  async #read(run: Running, resources: readonly string[]): Promise<Sample[]> {
    try {
      return await run.conn!.read(resources);
    } catch (err) {
      const origin = nowOrigin();
      // The cause goes with the readings; the device's state follows from them (device-health.ts).
      const qualityDetail = formatQualityDetail('EDGE_ERR_DRIVER_READ', describeError(err));
      return resources.map((r) => ({
        resource: r,
        value: null,
        valueType: run.device.resources.find((x) => x.name === r)?.valueType ?? 'String',
        origin,
        quality: 'bad' as const,
        qualityDetail,
      }));
    }
  }

  /**
   * Hands samples to the outbox. Readings the site could not store are
   * counted as dropped by the sink; with `rethrow` (a push subscription) the
   * EDGE_ERR_READINGS_NOT_STORED goes back to the driver, which then does not
   * acknowledge its source.
   */
  #emit(run: Running, samples: readonly Sample[], onChange: boolean, rethrow = false): void {
    this.#observe(run, samples, rethrow);
    const out = onChange
      ? samples.filter((s) => {
          const v = `${s.quality}:${JSON.stringify(s.value)}`;
          if (run.last.get(s.resource) === v) return false;
          run.last.set(s.resource, v);
          return true;
        })
      : samples;
    if (out.length === 0) return;
    try {
      const { name: device, profile } = run.device;
      this.#o.sink.append(out.map((s) => sampleReading(s, device, profile)));
      for (const s of out) if (s.quality !== 'bad' && s.origin > (run.status.lastReading ?? 0)) run.status.lastReading = s.origin;
    } catch (err) {
      if (ErrReadingsNotStored.is(err)) {
        run.status.message = describeError(err);
        if (onChange) for (const s of out) run.last.delete(s.resource);
        if (rethrow) throw err;
        return;
      }
      // A driver that produces readings the outbox refuses is a driver bug: say so once per message.
      const message = describeError(err);
      if (run.status.message !== message) this.#o.logger.error({ device: run.device.name, error: toErrorInfo(err) }, 'readings refused by the outbox');
      run.status.message = message;
    }
  }

  /**
   * Write, then read back: the read-back value is the reported value and also
   * goes upstream as a reading. A `read` command reads now instead: its
   * samples are the result, and go upstream as readings too unless
   * `opts.store` is false (a source it cannot read throws
   * EDGE_ERR_DEVICE_READ_SOURCE).
   */
  async execute(cmd: SiteCommand, opts: { store?: boolean } = {}): Promise<CommandResult> {
    if (Date.parse(cmd.expiresAt) < Date.now()) {
      return { ok: false, error: { code: 'EDGE_ERR_COMMAND_EXPIRED', message: `command ${cmd.id} expired at ${cmd.expiresAt}` } };
    }
    const run = this.#running.get(cmd.device);
    if (!run?.conn) {
      const s = this.#statuses.get(cmd.device);
      return { ok: false, error: { code: 'EDGE_ERR_DEVICE_UNAVAILABLE', message: `device '${cmd.device}' is ${s ? s.state : 'unknown'} at site '${this.#o.site}'${s?.message ? `: ${s.message}` : ''}` } };
    }
    if (cmd.kind === 'read') return this.#readNow(run, cmd.resources, opts.store !== false);
    const { result: res, samples } = await this.#write(run, cmd.resource, cmd.value as Sample['value']);
    if (!res.ok) return { ok: false, error: res.error ?? { code: 'EDGE_ERR_DRIVER_WRITE', message: 'the driver returned no result' } };
    const s = samples[0];
    return s?.quality === 'good' ? { ok: true, reported: s.value } : { ok: true };
  }

  /** A live read; its samples go upstream as readings unless `store` is false (they still update the twin). */
  async #readNow(run: Running, sources: readonly string[], store: boolean): Promise<CommandResult> {
    const profile = this.#o.state.get<Resource<ProfileSpec>>('DeviceProfile', run.device.profile)?.spec;
    const samples = await this.#read(run, liveReadResources(this.#o.site, run.device, profile, sources));
    if (store) this.#emit(run, samples, false);
    else this.#observe(run, samples, false);
    return { ok: true, reported: samples };
  }

  async #stopDevice(name: string): Promise<void> {
    const run = this.#running.get(name);
    if (!run) return;
    this.#running.delete(name);
    for (const t of run.timers) clearTimeout(t);
    await run.subscription?.close().catch((err: unknown) => this.#o.logger.warn({ device: name, error: toErrorInfo(err) }, 'device unsubscribe failed'));
    await run.conn?.close().catch((err: unknown) => this.#o.logger.warn({ device: name, error: toErrorInfo(err) }, 'device close failed'));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#reconciling;
    for (const name of [...this.#running.keys()]) await this.#stopDevice(name);
  }
}
