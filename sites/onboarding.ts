/**
 * Device announcements from the site to the hub: each one is kept in the
 * replica database first (so none is lost while the hub is unreachable, also
 * across a restart) and then reported with
 * `POST /api/v1/sites/<site>/pending-devices`, where it becomes a
 * PendingDevice for an operator (or a provisioning rule) to approve.
 *
 * Devices repeat their announcements (at every reconnect, Home Assistant
 * discovery configs are often retained): an unchanged announcement that was
 * delivered within `resendAfterMs` is not sent again. A report the hub
 * refuses as malformed (4xx) is logged and not retried until it changes; an
 * unreachable hub or a 5xx is retried with backoff.
 */
import { createHash } from 'node:crypto';
import { toErrorInfo, type Logger } from '../core/kernel/index.ts';
import type { DeviceAnnouncement, Onboarding } from '../core/sdk/index.ts';
import type { LocalState } from './local-state.ts';

export interface OnboardingReporterOptions {
  site: string;
  state: LocalState;
  /** The hub's base URL as it is now (direct, or the tunnel's local forward). */
  hubUrl: () => string;
  token: string;
  logger: Logger;
  resendAfterMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  /** Per request (default 10 s). */
  timeoutMs?: number;
}

export interface OnboardingReporter extends Onboarding {
  stats(): { proposed: number; sent: number; refused: number; failures: number; unsent: number };
  stop(): Promise<void>;
}

function keyOf(a: Pick<DeviceAnnouncement, 'source' | 'identifier'>): string {
  return `${a.source}\u0000${a.identifier}`;
}

function digestOf(a: DeviceAnnouncement): string {
  return createHash('sha256').update(JSON.stringify(a)).digest('hex');
}

export function startOnboardingReporter(o: OnboardingReporterOptions): OnboardingReporter {
  const log = o.logger.child({ component: 'onboarding' });
  const resendAfterMs = o.resendAfterMs ?? 10 * 60_000;
  const backoff = o.backoff ?? { initialMs: 1000, maxMs: 60_000 };
  const counts = { proposed: 0, sent: 0, refused: 0, failures: 0 };
  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let delayMs = backoff.initialMs;

  async function send(body: unknown): Promise<'sent' | 'refused' | 'retry'> {
    const url = `${o.hubUrl()}/api/v1/sites/${encodeURIComponent(o.site)}/pending-devices`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(o.timeoutMs ?? 10_000),
      });
    } catch (err) {
      log.debug({ error: toErrorInfo(err) }, 'hub unreachable; announcement kept');
      return 'retry';
    }
    const text = await res.text().catch(() => '');
    if (res.ok) return 'sent';
    if (res.status >= 500 || res.status === 429 || res.status === 401) {
      log.warn({ status: res.status, body: text.slice(0, 512) }, 'hub did not take the announcement; retrying');
      return 'retry';
    }
    log.warn({ status: res.status, body: text.slice(0, 1024) }, 'hub refused a device announcement; not retried until it changes');
    return 'refused';
  }

  async function drain(): Promise<void> {
    do {
      again = false;
      for (const row of o.state.unsentAnnouncements()) {
        if (stopped) return;
        const r = await send(row.body);
        if (r === 'retry') {
          counts.failures++;
          schedule(delayMs);
          delayMs = Math.min(delayMs * 2, backoff.maxMs);
          return;
        }
        if (r === 'refused') counts.refused++;
        else counts.sent++;
        o.state.markAnnouncementSent(row.key, row.digest);
      }
      delayMs = backoff.initialMs;
    } while (again && !stopped);
  }

  function schedule(ms: number): void {
    if (stopped || timer) return;
    const jittered = Math.round(ms / 2 + Math.random() * (ms / 2));
    timer = setTimeout(() => {
      timer = undefined;
      kick();
    }, jittered);
    timer.unref();
  }

  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = drain()
      .catch((err: unknown) => log.error({ error: toErrorInfo(err) }, 'announcement reporting failed'))
      .finally(() => {
        running = undefined;
        // Proposed while the last pass was finishing.
        if (again && !timer) kick();
      });
  }

  // Reports left from before a restart.
  kick();

  return {
    propose(a) {
      counts.proposed++;
      if (o.state.putAnnouncement(keyOf(a), a, digestOf(a), resendAfterMs)) kick();
    },
    stats: () => ({ ...counts, unsent: o.state.unsentAnnouncements().length }),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
