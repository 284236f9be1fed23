/**
 * Onboarding on the site broker: listens for devices announcing themselves
 * (Home Assistant MQTT discovery configs under `homeassistant/`, and the
 * native `edgeadm/announce/<id>` topic; see discovery.ts) and proposes each
 * announced device to the site's onboarding service, which reports it to
 * the hub as a PendingDevice for an operator or a provisioning rule to
 * approve. Bad announcements are counted and logged at most once per
 * publishing topic per interval; they never stop other announcements.
 */
import type { MqttClient } from 'mqtt';
import type { DeviceAnnouncement, Logger, Onboarding } from '../../../core/sdk/index.ts';
import { ANNOUNCE_TOPIC_PREFIX, DEFAULT_DISCOVERY_PREFIX, HaDiscoveryCollector, parseNativeAnnounce, type Announcement, type CodedIssue } from './discovery.ts';

export interface OnboardingListenerOptions {
  site: string;
  broker: { url: string; username: string; password: string };
  onboarding: Onboarding;
  logger: Logger;
  /** Problems of one topic are logged at most once per this interval (default 60 s). */
  logIntervalMs?: number;
}

export interface OnboardingListenerStats {
  announcements: number;
  proposed: number;
  rejected: number;
  ignored: number;
}

export interface OnboardingListener {
  stats(): OnboardingListenerStats;
  close(): Promise<void>;
}

/** The platform's shape of a proposal from discovery.ts's announcement. */
export function toDeviceAnnouncement(a: Announcement): DeviceAnnouncement {
  return {
    source: a.source,
    identifier: a.id,
    suggestedName: a.suggestedName,
    ...(a.displayName === undefined ? {} : { displayName: a.displayName }),
    ...(a.manufacturer === undefined ? {} : { manufacturer: a.manufacturer }),
    ...(a.model === undefined ? {} : { model: a.model }),
    ...(a.swVersion === undefined ? {} : { swVersion: a.swVersion }),
    protocolName: 'mqtt',
    protocol: { ...a.protocol },
    profile: JSON.parse(JSON.stringify(a.profile)) as Record<string, unknown>,
    ...(a.warnings.length > 0 ? { warnings: a.warnings.slice(0, 64).map((w) => w.slice(0, 1024)) } : {}),
  };
}

export async function startOnboardingListener(o: OnboardingListenerOptions): Promise<OnboardingListener> {
  const log = o.logger.child({ component: 'mqtt-onboarding' });
  const logIntervalMs = o.logIntervalMs ?? 60_000;
  const stats: OnboardingListenerStats = { announcements: 0, proposed: 0, rejected: 0, ignored: 0 };
  const lastLogged = new Map<string, number>();
  const collector = new HaDiscoveryCollector({ site: o.site });
  const discoveryFilter = `${DEFAULT_DISCOVERY_PREFIX}/#`;
  const announceFilter = `${ANNOUNCE_TOPIC_PREFIX}/+`;

  function rejected(topic: string, issue: CodedIssue): void {
    stats.rejected++;
    const now = Date.now();
    const prev = lastLogged.get(topic);
    if (prev !== undefined && now - prev < logIntervalMs) return;
    if (lastLogged.size >= 10_000) lastLogged.clear();
    lastLogged.set(topic, now);
    log.warn({ topic, error: { code: issue.code, message: `${issue.path}: ${issue.message}` } }, 'device announcement rejected');
  }

  function propose(a: Announcement): void {
    stats.proposed++;
    o.onboarding.propose(toDeviceAnnouncement(a));
  }

  function onMessage(topic: string, payload: Buffer): void {
    stats.announcements++;
    try {
      if (topic.startsWith(`${ANNOUNCE_TOPIC_PREFIX}/`)) {
        if (payload.length === 0) return;
        const r = parseNativeAnnounce(o.site, topic, payload);
        if (r.announcement) propose(r.announcement);
        else if (r.error) rejected(topic, r.error);
        return;
      }
      const r = collector.accept(topic, payload);
      if (r.announcement) propose(r.announcement);
      else if (r.error) rejected(topic, r.error);
      else stats.ignored++;
    } catch (err) {
      rejected(topic, { code: 'EDGE_ERR_MQTT_ANNOUNCE', path: '(payload)', message: err instanceof Error ? err.message : String(err) });
    }
  }

  const { connectAsync } = await import('mqtt');
  const client: MqttClient = await connectAsync(o.broker.url, {
    clientId: `edgeadm-onboarding-${o.site}`.slice(0, 64),
    username: o.broker.username,
    password: o.broker.password,
    clean: true,
    reconnectPeriod: 1000,
    protocolVersion: 4,
  });
  client.on('message', onMessage);
  client.on('error', (err) => log.warn({ error: { code: 'EDGE_ERR_MQTT_CLIENT', message: err.message } }, 'onboarding client error'));
  await client.subscribeAsync([discoveryFilter, announceFilter], { qos: 1 });
  return {
    stats: () => ({ ...stats }),
    async close() {
      await client.endAsync(true);
    },
  };
}
