/**
 * Reports how the site runs to the hub: the state of its Addons
 * (`PUT /api/v1/sites/<site>/addon-status`: for each Addon in the replica,
 * the state of the plugin instance it asked for — `running`, `failed`,
 * `invalid`, ...; `pending` before the registry started it — with the
 * instance's error) and of its devices (`PUT .../device-status`:
 * operatingState UP, DOWN or UNKNOWN with the reason, the newest value of
 * each writable resource and any drift from the desired values, and when the
 * last reading came). Sent when a state changed; device reports at most once
 * a second, and a newer lastSeen alone at most every `seenEveryMs`. A new
 * sync session sends every device again (the hub shows an offline site's
 * devices as UNKNOWN). The timer also retries failed reports.
 */
import { toErrorInfo, type Logger } from '../core/kernel/index.ts';
import type { InstanceStatus } from '../core/plugins/index.ts';
import { OPERATING_STATE, type DeviceRuntimeStatus } from './devices.ts';
import { siteRunsAddon, StoreErrors, type AddonConflict, type Resource } from '../core/store/index.ts';
import type { LocalState } from './local-state.ts';

export interface AddonStatusReporterOptions {
  site: string;
  state: LocalState;
  instances: () => InstanceStatus[];
  /** Addons that do not run here because an older Addon puts the same plugin here. */
  conflicts?: () => readonly AddonConflict[];
  /** The generation of an Addon the plugin host last applied; reports carry it as observedGeneration. */
  appliedGeneration?: (addon: string) => number | undefined;
  devices: () => DeviceRuntimeStatus[];
  /** Counts the agent's sync sessions: when it changes, every device state is sent again. */
  session?: () => number;
  /** A newer lastSeen alone is sent at most this often (default 5 s). */
  seenEveryMs?: number;
  hubUrl: () => string;
  token: string;
  logger: Logger;
  intervalMs?: number;
}

export interface AddonStatusReporter {
  /** Something may have changed: report if it did. */
  kick(): void;
  stop(): Promise<void>;
}

type Entry = { state: string; message?: string; code?: string; observedGeneration?: number };
type DeviceEntry = Pick<DeviceRuntimeStatus, 'reported' | 'drift'> & { operatingState: 'UP' | 'DOWN' | 'UNKNOWN'; message?: string; lastSeen?: string };

/** A reported value larger than this (as JSON) is left out of device reports; the readings carry it. */
const MAX_REPORTED_JSON = 1024;
/** Device reports go at most this often. */
const DEVICE_MIN_GAP_MS = 1_000;

export function startAddonStatusReporter(o: AddonStatusReporterOptions): AddonStatusReporter {
  const log = o.logger.child({ component: 'addon-status' });
  let sent = '';
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  function current(): Record<string, Entry> {
    const byPlugin = new Map(o.instances().map((i) => [i.plugin, i]));
    const conflicts = new Map((o.conflicts?.() ?? []).map((c) => [c.addon, c]));
    const out: Record<string, Entry> = {};
    for (const a of o.state.list<Resource<{ plugin: string }>>('Addon')) {
      // Run whole as grids: its status is the hub's (from the grids), not this agent's.
      if (!siteRunsAddon(a)) continue;
      const observed = o.appliedGeneration?.(a.metadata.name);
      const generation = observed === undefined ? {} : { observedGeneration: observed };
      const conflict = conflicts.get(a.metadata.name);
      if (conflict) {
        const err = new StoreErrors.ErrAddonConflict(conflict);
        out[a.metadata.name] = { state: 'conflict', message: err.message.slice(0, 4096), code: err.code, ...generation };
        continue;
      }
      const i = byPlugin.get(a.spec.plugin);
      out[a.metadata.name] = i
        ? { state: i.state, ...(i.error ? { message: i.error.message.slice(0, 4096), code: i.error.code } : {}), ...generation }
        : { state: 'pending', message: 'not started yet at this site', ...generation };
    }
    return out;
  }

  /**
   * Device states, what of them is worth a report at once (`key`: states,
   * messages, reported values and drift, not the readings' times), and
   * separately their last-seen times (sent with a change or on the timer).
   */
  function deviceStates(): { states: Record<string, DeviceEntry>; key: string; seen: Record<string, string> } {
    const states: Record<string, DeviceEntry> = {};
    const keyed: Record<string, unknown> = {};
    const seen: Record<string, string> = {};
    for (const d of o.devices()) {
      const reported = Object.entries(d.reported ?? {}).filter(([, r]) => JSON.stringify(r.value).length <= MAX_REPORTED_JSON);
      const e: DeviceEntry = {
        operatingState: OPERATING_STATE[d.state],
        ...(d.message ? { message: d.message.slice(0, 4096) } : {}),
        ...(reported.length > 0 ? { reported: Object.fromEntries(reported) } : {}),
        // Always sent: it is the site's whole current view and replaces the hub's.
        drift: d.drift ?? {},
      };
      states[d.device] = e;
      keyed[d.device] = { ...e, reported: reported.map(([k, r]) => [k, r.value, r.quality]) };
      if (d.lastReading !== undefined) seen[d.device] = new Date(Math.floor(d.lastReading / 1e6)).toISOString();
    }
    return { states, key: JSON.stringify(keyed), seen };
  }

  async function put(what: 'addon-status' | 'device-status', body: string): Promise<boolean> {
    try {
      const res = await fetch(`${o.hubUrl()}/api/v1/sites/${encodeURIComponent(o.site)}/${what}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      await res.text().catch(() => '');
      if (!res.ok) log.debug({ what, status: res.status }, 'hub did not take the status; retried later');
      return res.ok;
    } catch (err) {
      log.debug({ what, error: toErrorInfo(err) }, 'hub unreachable; status retried later');
      return false;
    }
  }

  let sentDevices = '';
  let sentSeen = '';
  let sentSession: number | undefined;
  let devicesSentAt = 0;
  let deviceGap: NodeJS.Timeout | undefined;
  async function reportDevices(timer: boolean): Promise<void> {
    const { states, key, seen } = deviceStates();
    if (Object.keys(states).length === 0) return;
    const session = o.session?.();
    const seenKey = JSON.stringify(seen);
    const changed = key !== sentDevices || session !== sentSession;
    const due = timer && seenKey !== sentSeen && Date.now() - devicesSentAt >= (o.seenEveryMs ?? 5_000);
    if (!changed && !due) return;
    const wait = devicesSentAt + DEVICE_MIN_GAP_MS - Date.now();
    if (wait > 0) {
      deviceGap ??= setTimeout(() => {
        deviceGap = undefined;
        run(false);
      }, wait);
      return;
    }
    const devices = Object.fromEntries(Object.entries(states).map(([n, e]) => [n, { ...e, ...(seen[n] ? { lastSeen: seen[n] } : {}) }]));
    devicesSentAt = Date.now();
    if (await put('device-status', JSON.stringify({ devices }))) {
      sentDevices = key;
      sentSeen = seenKey;
      sentSession = session;
    }
  }
  async function report(timer: boolean): Promise<void> {
    do {
      again = false;
      const addons = current();
      const body = JSON.stringify({ addons });
      if (body !== sent && Object.keys(addons).length > 0 && (await put('addon-status', body))) sent = body;
      await reportDevices(timer);
    } while (again && !stopped);
  }

  const run = (timer: boolean): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = report(timer).finally(() => {
      running = undefined;
    });
  };
  const kick = (): void => run(false);
  const timer = setInterval(() => run(true), o.intervalMs ?? 30_000);
  timer.unref();
  // Newer last-seen times go upstream within seconds, not with the slower retry timer.
  const seenTimer = setInterval(() => run(true), o.seenEveryMs ?? 5_000);
  seenTimer.unref();
  return {
    kick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearInterval(seenTimer);
      clearTimeout(deviceGap);
      await running;
    },
  };
}
