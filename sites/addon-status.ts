/**
 * Reports the state of the site's Addons to the hub
 * (`PUT /api/v1/sites/<site>/addon-status`): for each Addon in the replica,
 * the state of the plugin instance it asked for (`running`, `failed`,
 * `invalid`, ...; `pending` before the registry started it) with the
 * instance's error. Sent when something changed, and again every
 * `intervalMs` until the hub has the latest; failures are retried then.
 */
import { toErrorInfo, type Logger } from '../core/kernel/index.ts';
import type { InstanceStatus } from '../core/plugins/index.ts';
import type { Resource } from '../core/store/index.ts';
import type { LocalState } from './local-state.ts';

export interface AddonStatusReporterOptions {
  site: string;
  state: LocalState;
  instances: () => InstanceStatus[];
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

  async function report(): Promise<void> {
    do {
      again = false;
      const addons = current();
      const body = JSON.stringify({ addons });
      if (body === sent || Object.keys(addons).length === 0) return;
      try {
        const res = await fetch(`${o.hubUrl()}/api/v1/sites/${encodeURIComponent(o.site)}/addon-status`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(10_000),
        });
        await res.text().catch(() => '');
        if (res.ok) sent = body;
        else log.debug({ status: res.status }, 'hub did not take the addon status; retried later');
      } catch (err) {
        log.debug({ error: toErrorInfo(err) }, 'hub unreachable; addon status retried later');
      }
    } while (again && !stopped);
  }

  const kick = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = report().finally(() => {
      running = undefined;
    });
  };
  const timer = setInterval(kick, o.intervalMs ?? 30_000);
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
