/**
 * Reports how the site runs to the hub: the state of its Addons
 * (`PUT /api/v1/sites/<site>/addon-status`: for each Addon in the replica,
 * the state of the plugin instance it asked for — `running`, `failed`,
 * `invalid`, ...; `pending` before the registry started it — with the
 * instance's error) and of its devices (`PUT .../device-status`:
 * operatingState UP, DOWN or UNKNOWN with the reason, and when the last
 * reading came). Sent when a state changed; a newer lastSeen alone is sent
 * at most every `intervalMs`, when the timer also retries failed reports.
 */
import { toErrorInfo, type Logger } from '../core/kernel/index.ts';
import type { InstanceStatus } from '../core/plugins/index.ts';
import type { DeviceRuntimeStatus } from './devices.ts';
import type { Resource } from '../core/store/index.ts';
import type { LocalState } from './local-state.ts';

export interface AddonStatusReporterOptions {
  site: string;
  state: LocalState;
  instances: () => InstanceStatus[];
  devices: () => DeviceRuntimeStatus[];
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

type Entry = { state: string; message?: string; code?: string };
type DeviceEntry = { operatingState: 'UP' | 'DOWN' | 'UNKNOWN'; message?: string; lastSeen?: string };

const OPERATING: Record<DeviceRuntimeStatus['state'], DeviceEntry['operatingState']> = {
  up: 'UP',
  down: 'DOWN',
  invalid: 'DOWN',
  'waiting-for-driver': 'DOWN',
  connecting: 'UNKNOWN',
  locked: 'UNKNOWN',
};

export function startAddonStatusReporter(o: AddonStatusReporterOptions): AddonStatusReporter {
  const log = o.logger.child({ component: 'addon-status' });
  let sent = '';
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  function current(): Record<string, Entry> {
    const byPlugin = new Map(o.instances().map((i) => [i.plugin, i]));
    const out: Record<string, Entry> = {};
    for (const a of o.state.list<Resource<{ plugin: string }>>('Addon')) {
      const i = byPlugin.get(a.spec.plugin);
      out[a.metadata.name] = i
        ? { state: i.state, ...(i.error ? { message: i.error.message.slice(0, 4096), code: i.error.code } : {}) }
        : { state: 'pending', message: 'not started yet at this site' };
    }
    return out;
  }

  /** Device states, and separately their last-seen times (sent only with a state change or on the timer). */
  function deviceStates(): { states: Record<string, DeviceEntry>; seen: Record<string, string> } {
    const states: Record<string, DeviceEntry> = {};
    const seen: Record<string, string> = {};
    for (const d of o.devices()) {
      states[d.device] = { operatingState: OPERATING[d.state], ...(d.message ? { message: d.message.slice(0, 4096) } : {}) };
      if (d.lastReading !== undefined) seen[d.device] = new Date(Math.floor(d.lastReading / 1e6)).toISOString();
    }
    return { states, seen };
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
  let devicesSentAt = 0;
  async function report(timer: boolean): Promise<void> {
    do {
      again = false;
      const addons = current();
      const body = JSON.stringify({ addons });
      if (body !== sent && Object.keys(addons).length > 0 && (await put('addon-status', body))) sent = body;
      const { states, seen } = deviceStates();
      const key = JSON.stringify(states);
      const due = timer && Date.now() - devicesSentAt >= (o.intervalMs ?? 30_000) && Object.keys(seen).length > 0;
      if (Object.keys(states).length > 0 && (key !== sentDevices || due)) {
        const devices = Object.fromEntries(Object.entries(states).map(([n, e]) => [n, { ...e, ...(seen[n] ? { lastSeen: seen[n] } : {}) }]));
        if (await put('device-status', JSON.stringify({ devices }))) {
          sentDevices = key;
          devicesSentAt = Date.now();
        }
      }
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
  return {
    kick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
