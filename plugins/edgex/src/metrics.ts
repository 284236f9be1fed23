/**
 * The edgex plugin's counters, in the site agent's Prometheus registry:
 *
 *   edgeadm_edgex_published_events_total               events handed to the broker connection (QoS 0) or acknowledged by the broker (QoS 1)
 *   edgeadm_edgex_publish_dropped_total{reason}        readings not published: backlog (maxBufferedBytes or, QoS 1, maxInFlight reached), offline, encode, error
 *   edgeadm_edgex_received_events_total                events of other device services taken from the bus
 *   edgeadm_edgex_received_readings_total              readings of them stored at the site
 *   edgeadm_edgex_events_rejected_total{reason}        whole events refused: topic, envelope, content-type, payload, field,
 *                                                      value-type, value, unknown-device, wrong-service, not-ready,
 *                                                      error (none of these: a fault here, logged)
 *   edgeadm_edgex_readings_rejected_total{reason}      readings of taken events left out: unknown-resource, type-mismatch, not-stored, invalid
 *
 * Each cause of a refusal is also logged, once (`CauseLog`).
 */
import { Counter, type Registry } from 'prom-client';
import { toErrorInfo, type Logger } from '../../../core/sdk/index.ts';

export type DropReason = 'backlog' | 'offline' | 'encode' | 'error';
export type EventRejectReason = 'topic' | 'envelope' | 'content-type' | 'payload' | 'field' | 'value-type' | 'value' | 'unknown-device' | 'wrong-service' | 'not-ready' | 'error';
export type ReadingRejectReason = 'unknown-resource' | 'type-mismatch' | 'not-stored' | 'invalid';

export interface EdgeXMetrics {
  published: Counter;
  dropped: Counter<'reason'>;
  receivedEvents: Counter;
  receivedReadings: Counter;
  eventsRejected: Counter<'reason'>;
  readingsRejected: Counter<'reason'>;
  /** Removes the counters from the registry (the instance stops). */
  unregister(): void;
}

const NAMES = [
  'edgeadm_edgex_published_events_total',
  'edgeadm_edgex_publish_dropped_total',
  'edgeadm_edgex_received_events_total',
  'edgeadm_edgex_received_readings_total',
  'edgeadm_edgex_events_rejected_total',
  'edgeadm_edgex_readings_rejected_total',
] as const;

export function registerEdgeXMetrics(registry: Registry): EdgeXMetrics {
  const registers = [registry];
  const m = {
    published: new Counter({ name: NAMES[0], help: 'EdgeX events published on the site broker (handed to the connection at QoS 0, acknowledged at QoS 1).', registers }),
    dropped: new Counter({
      name: NAMES[1],
      help: 'Readings not published as EdgeX events, by reason: backlog (too many in flight), offline, encode, error.',
      labelNames: ['reason'] as const,
      registers,
    }),
    receivedEvents: new Counter({ name: NAMES[2], help: "EdgeX device services' events taken from the site broker.", registers }),
    receivedReadings: new Counter({ name: NAMES[3], help: "Readings of EdgeX device services' events stored at the site.", registers }),
    eventsRejected: new Counter({
      name: NAMES[4],
      help: 'EdgeX events from the bus refused whole, by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
    readingsRejected: new Counter({
      name: NAMES[5],
      help: 'Readings of EdgeX events from the bus left out, by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
  };
  return {
    ...m,
    unregister() {
      for (const name of NAMES) registry.removeSingleMetric(name);
    },
  };
}

/** The most causes remembered; beyond them, new causes are counted but not logged. */
const MAX_CAUSES = 1000;

/** Logs each cause once (a reason and what it is about: a device, a field, a topic), however often it recurs. */
export class CauseLog {
  readonly #seen = new Set<string>();
  readonly #log: Logger;
  #full = false;

  constructor(log: Logger) {
    this.#log = log;
  }

  warn(reason: string, about: string, err: unknown, msg: string, fields: Record<string, unknown> = {}): void {
    const key = `${reason}\u0000${about}`;
    if (this.#seen.has(key)) return;
    if (this.#seen.size >= MAX_CAUSES) {
      if (!this.#full) this.#log.warn({ causes: MAX_CAUSES }, 'edgex: too many distinct causes of refused events; new ones are counted, not logged');
      this.#full = true;
      return;
    }
    this.#seen.add(key);
    this.#log.warn({ reason, ...fields, error: toErrorInfo(err) }, msg);
  }
}
