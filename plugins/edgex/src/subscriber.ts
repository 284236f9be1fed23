/**
 * EdgeX device services' events from the site broker, as readings of the
 * site's EdgeX devices (devices.ts). For each message on
 * `<baseTopic>/events/device/#`:
 *
 *   1. the topic names the service, profile, device and source; events of
 *      the services this plugin publishes as are its own, and skipped;
 *   2. the envelope and its payload are decoded (JSON, or CBOR as device
 *      services send events with Binary readings), and the event read with
 *      its valueTypes as they are (the SDK's edgexToReadings);
 *   3. the names in the topic must be the event's; the device must be one
 *      of the site's EdgeX devices (and from its serviceName, if it names
 *      one); each reading's resource must be in its profile, with the
 *      profile's valueType;
 *   4. the readings go to the device's sink: the outbox, the device's
 *      status and twin.
 *
 * Whatever fails is counted by reason (metrics.ts) and each cause logged
 * once; nothing here throws out of the message handler.
 */
import type { MqttClient } from 'mqtt';
import {
  edgexTopicNameIs,
  edgexToReadings,
  ErrEdgeXContentType,
  ErrEdgeXEnvelope,
  ErrEdgeXField,
  ErrEdgeXPayload,
  ErrEdgeXTopic,
  ErrEdgeXValue,
  ErrEdgeXValueType,
  ErrReadingsNotStored,
  isEdgeError,
  parseEdgeXEventTopic,
  toErrorInfo,
  unwrapEdgeXEnvelope,
  type Logger,
  type Sample,
} from '../../../core/sdk/index.ts';
import type { EdgeXConfig } from './config.ts';
import type { EdgeXDeviceTable } from './devices.ts';
import { ErrEdgeXBusNotReady, ErrEdgeXBusTypeMismatch, ErrEdgeXBusUnknownDevice, ErrEdgeXBusUnknownResource, ErrEdgeXBusWrongService } from './errors.ts';
import type { CauseLog, EdgeXMetrics, EventRejectReason } from './metrics.ts';

export interface SubscriberOptions {
  client: MqttClient;
  config: EdgeXConfig;
  /** The services this plugin publishes as: their events are its own. */
  ownServices: ReadonlySet<string>;
  devices: Pick<EdgeXDeviceTable, 'byEdgeXName'>;
  metrics: EdgeXMetrics;
  causes: CauseLog;
  logger: Logger;
}

export interface Subscriber {
  /** Unsubscribes (the client itself is closed by its owner). */
  stop(): Promise<void>;
}

/** The reason a decode error is counted under. */
function reasonOf(err: unknown): EventRejectReason | undefined {
  if (ErrEdgeXTopic.is(err)) return 'topic';
  if (ErrEdgeXEnvelope.is(err)) return 'envelope';
  if (ErrEdgeXContentType.is(err)) return 'content-type';
  if (ErrEdgeXPayload.is(err)) return 'payload';
  if (ErrEdgeXField.is(err)) return 'field';
  if (ErrEdgeXValueType.is(err)) return 'value-type';
  if (ErrEdgeXValue.is(err)) return 'value';
  return undefined;
}

/** What a cause is about, for logging it once: a refusal's field, or its code. */
function aboutOf(err: unknown): string {
  if (isEdgeError(err)) {
    const p = err.params as { field?: unknown; contentType?: unknown };
    return `${err.code} ${typeof p.field === 'string' ? p.field.replace(/\[\d+\]/g, '[]') : typeof p.contentType === 'string' ? p.contentType : ''}`;
  }
  return 'unexpected';
}

export async function startSubscriber(o: SubscriberOptions): Promise<Subscriber> {
  const { config, metrics, causes } = o;
  const topicOptions = { baseTopic: config.baseTopic, escapeNames: config.escapeNames };
  const filter = `${config.baseTopic}/events/device/#`;

  const reject = (reason: EventRejectReason, about: string, err: unknown, fields: Record<string, unknown>): void => {
    metrics.eventsRejected.inc({ reason });
    causes.warn(reason, about, err, 'edgex: an event from the bus was refused', fields);
  };

  function onMessage(topic: string, message: Buffer): void {
    let service = '';
    try {
      const names = parseEdgeXEventTopic(topic, topicOptions);
      service = names.service;
      if (o.ownServices.has(names.service)) return;
      const { payload } = unwrapEdgeXEnvelope(message, topic);
      const event = edgexToReadings(payload);
      for (const [level, name, what] of [
        [names.profile, event.profileName, 'profileName'],
        [names.device, event.deviceName, 'deviceName'],
        [names.source, event.sourceName, 'sourceName'],
      ] as const) {
        if (!edgexTopicNameIs(level, name)) throw new ErrEdgeXTopic({ topic, reason: `names ${what.replace('Name', '')} '${level}', the event's ${what} is '${name}'` });
      }
      const dev = o.devices.byEdgeXName(event.deviceName);
      if (!dev) {
        reject('unknown-device', `${service}/${event.deviceName}`, new ErrEdgeXBusUnknownDevice({ service, device: event.deviceName }), { topic });
        return;
      }
      if (dev.serviceName !== undefined && dev.serviceName !== service) {
        reject('wrong-service', `${service}/${event.deviceName}`, new ErrEdgeXBusWrongService({ service, device: dev.device.name, expected: dev.serviceName }), { topic });
        return;
      }
      const sink = dev.sink;
      if (!sink) {
        reject('not-ready', dev.device.name, new ErrEdgeXBusNotReady({ device: dev.device.name }), { topic });
        return;
      }
      metrics.receivedEvents.inc();
      const samples: Sample[] = [];
      for (const r of event.readings) {
        const resource = dev.resources.get(r.resource);
        if (!resource) {
          metrics.readingsRejected.inc({ reason: 'unknown-resource' });
          causes.warn('unknown-resource', `${dev.device.name}/${r.resource}`, new ErrEdgeXBusUnknownResource({ device: dev.device.name, profile: dev.device.profile, resource: r.resource }), 'edgex: a reading from the bus was left out', { topic });
          continue;
        }
        if (resource.valueType !== r.valueType) {
          metrics.readingsRejected.inc({ reason: 'type-mismatch' });
          const err = new ErrEdgeXBusTypeMismatch({ device: dev.device.name, resource: r.resource, valueType: r.valueType, expected: resource.valueType });
          causes.warn('type-mismatch', `${dev.device.name}/${r.resource}/${r.valueType}`, err, 'edgex: a reading from the bus was left out', { topic });
          continue;
        }
        const { device: _d, profile: _p, ...sample } = r;
        samples.push(sample);
      }
      if (samples.length === 0) return;
      try {
        sink(samples);
        metrics.receivedReadings.inc(samples.length);
      } catch (err) {
        const reason = ErrReadingsNotStored.is(err) ? 'not-stored' : 'invalid';
        metrics.readingsRejected.inc({ reason }, samples.length);
        causes.warn(reason, `${dev.device.name} ${isEdgeError(err) ? err.code : ''}`, err, 'edgex: readings from the bus were not stored', { topic, readings: samples.length });
      }
    } catch (err) {
      const reason = reasonOf(err);
      if (reason) {
        reject(reason, aboutOf(err), err, { topic });
        return;
      }
      // Not a problem of the event: counted and logged once all the same, never thrown at mqtt.js.
      reject('error', aboutOf(err), err, { topic, service });
    }
  }

  o.client.on('message', onMessage);
  await o.client.subscribeAsync(filter, { qos: config.qos });
  o.logger.info({ topic: filter }, "edgex: taking EdgeX device services' events from the site broker");
  return {
    async stop() {
      o.client.off('message', onMessage);
      if (!o.client.connected) return;
      await o.client.unsubscribeAsync(filter).catch((err: unknown) => o.logger.warn({ topic: filter, error: toErrorInfo(err) }, 'edgex: unsubscribing from the bus failed'));
    },
  };
}
