/**
 * Every reading the site stores, published as an EdgeX v3 event on the site
 * broker, as a device service publishes it: an AddEventRequest in a message
 * envelope on `<baseTopic>/events/device/<service>/<profile>/<device>/<source>`.
 *
 * One event per reading, its source the reading's resource (a Reading does
 * not say which deviceCommand or autoEvent it was read for); the service is
 * the config's (config.ts). Readings of the site's EdgeX devices came from
 * the bus: they are not published again.
 *
 * It never holds the site up: the feed calls it after the readings are
 * durable, on a later turn, and what the broker connection cannot take is
 * dropped and counted, not queued: nothing while the connection is down,
 * nothing while more than `maxBufferedBytes` wait in the connection's
 * socket, and at QoS 1 nothing beyond `maxInFlight` events the broker has
 * not acknowledged. The outbox, not this tap, is the record: nothing
 * dropped here is lost to the hub.
 */
import type { MqttClient } from 'mqtt';
import {
  edgexAddEventRequest,
  edgexEventOf,
  edgexEventTopic,
  wrapEdgeXEnvelope,
  type Logger,
  type Reading,
  type ReadingFeed,
} from '../../../core/sdk/index.ts';
import type { EdgeXConfig } from './config.ts';
import type { EdgeXDeviceTable } from './devices.ts';
import type { CauseLog, DropReason, EdgeXMetrics } from './metrics.ts';

export interface PublisherOptions {
  client: MqttClient;
  feed: ReadingFeed;
  config: EdgeXConfig;
  serviceOf: (r: Pick<Reading, 'device' | 'profile'>) => string;
  /** The site's EdgeX devices: their readings came from the bus. */
  edgexDevices: Pick<EdgeXDeviceTable, 'has'>;
  metrics: EdgeXMetrics;
  causes: CauseLog;
  logger: Logger;
}

export interface Publisher {
  /** QoS 1: events published and not yet acknowledged. */
  readonly inFlight: number;
  stop(): void;
}

export function startPublisher(o: PublisherOptions): Publisher {
  const { client, config, metrics } = o;
  const topicOptions = { baseTopic: config.baseTopic, escapeNames: config.escapeNames };
  const qos1 = config.qos === 1;
  let inFlight = 0;
  // QoS 1: the broker's PUBACK (or the connection's end) settles each event.
  const acked = (err?: Error): void => {
    inFlight--;
    if (!err) return void metrics.published.inc();
    metrics.dropped.inc({ reason: 'error' });
    o.causes.warn('error', err.message, err, 'edgex: an event was not published');
  };
  const drop = (reason: DropReason): void => metrics.dropped.inc({ reason });
  /** Bytes the socket holds for the broker, not yet sent. */
  const buffered = (): number => (client.stream as { writableLength?: number } | undefined)?.writableLength ?? 0;

  const off = o.feed.subscribe((readings) => {
    for (const r of readings) {
      if (o.edgexDevices.has(r.device)) continue;
      if (!client.connected) {
        drop('offline');
        continue;
      }
      if (buffered() > config.maxBufferedBytes || (qos1 && inFlight >= config.maxInFlight)) {
        drop('backlog');
        continue;
      }
      let topic: string;
      let message: string;
      try {
        const event = edgexEventOf([r]);
        topic = edgexEventTopic({ service: o.serviceOf(r), profile: r.profile, device: r.device, source: r.resource }, topicOptions);
        message = wrapEdgeXEnvelope(edgexAddEventRequest(event));
      } catch (err) {
        drop('encode');
        o.causes.warn('encode', `${r.device}/${r.resource}`, err, 'edgex: a reading could not be written as an EdgeX event', { device: r.device, resource: r.resource });
        continue;
      }
      if (qos1) {
        inFlight++;
        client.publish(topic, message, { qos: 1 }, acked);
      } else {
        // No callback at QoS 0: mqtt.js would wait for the socket's drain with one listener per event.
        client.publish(topic, message, { qos: 0 });
        metrics.published.inc();
      }
    }
  });
  o.logger.info({ baseTopic: config.baseTopic, qos: config.qos }, 'edgex: publishing the site readings as EdgeX events');
  return {
    get inFlight() {
      return inFlight;
    },
    stop() {
      off();
    },
  };
}
