/**
 * What every device connection of the driver does alike, whatever its topic
 * layout: attach subscriptions' sinks and hand them samples under the rule
 * "a QoS 1 message is acknowledged only once its readings are stored"
 * (clients.ts), log a device's payload problems at most once per interval,
 * counting the rest, and report a failed publish as a coded error.
 */
import { ErrReadingsNotStored, type Logger, type Sample, type SampleSink, type Subscription } from '../../../core/sdk/index.ts';
import type { SharedClient } from './clients.ts';
import { ErrMqttNotReady } from './errors.ts';

/** A subscription: the resources it asked for, and where their samples go. */
export interface SinkEntry {
  resources: ReadonlySet<string>;
  sink: SampleSink;
}

/** Adds a subscription's sink; what the client held back for want of one comes again. */
export function attachSink(sinks: Set<SinkEntry>, client: Pick<SharedClient, 'redeliver'>, resources: readonly string[], sink: SampleSink): Subscription {
  const entry: SinkEntry = { resources: new Set(resources), sink };
  sinks.add(entry);
  client.redeliver();
  return {
    close: () => {
      sinks.delete(entry);
      return Promise.resolve();
    },
  };
}

/** A failed publish (or any throw) as a WriteResult's error: its code when it has one, else EDGE_ERR_MQTT_PUBLISH. */
export function publishFailure(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown } | null;
  return { code: typeof e?.code === 'string' ? e.code : 'EDGE_ERR_MQTT_PUBLISH', message: typeof e?.message === 'string' ? e.message : String(err) };
}

/**
 * Hands `samples` of a message on `topic` to each sink that asked for their
 * resources. Throws EDGE_ERR_MQTT_NOT_READY when, on a persistent session,
 * no sink is attached yet (the broker sends the message again), and
 * EDGE_ERR_READINGS_NOT_STORED when a sink could not store them (not
 * acknowledged, sent again, counted in `stats.notStored`); any other sink
 * failure is logged. Delivered samples are counted in `stats.samples`.
 */
export function deliverSamples(
  o: { topic: string; device: string; persistent: boolean; sinks: ReadonlySet<SinkEntry>; log: Logger; stats: { samples: number; notStored: number } },
  samples: readonly Sample[],
): void {
  if (o.persistent && o.sinks.size === 0) throw new ErrMqttNotReady({ topic: o.topic, reason: `device '${o.device}' has no sink yet` });
  o.stats.samples += samples.length;
  let notStored: Error | undefined;
  for (const { resources, sink } of o.sinks) {
    const mine = samples.filter((s) => resources.has(s.resource));
    if (mine.length === 0) continue;
    try {
      sink(mine);
    } catch (err) {
      if (ErrReadingsNotStored.is(err)) notStored ??= err;
      else o.log.error({ device: o.device, error: { code: 'EDGE_ERR_MQTT_SINK', message: err instanceof Error ? err.message : String(err) } }, 'mqtt sample sink failed');
    }
  }
  if (notStored !== undefined) {
    o.stats.notStored++;
    throw notStored;
  }
}

/** A device's payload problems: logged at most once per interval, the others counted into the next log line. */
export class ProblemLog {
  readonly #log: Logger;
  readonly #device: string;
  readonly #intervalMs: number;
  readonly #stats: () => object;
  #last = -Infinity;
  #suppressed = 0;

  constructor(o: { log: Logger; device: string; intervalMs: number; stats: () => object }) {
    this.#log = o.log;
    this.#device = o.device;
    this.#intervalMs = o.intervalMs;
    this.#stats = o.stats;
  }

  report(kind: string, fields: Record<string, unknown>): void {
    const now = performance.now();
    if (now - this.#last < this.#intervalMs) {
      this.#suppressed++;
      return;
    }
    this.#log.warn({ device: this.#device, problem: kind, ...fields, suppressedSinceLast: this.#suppressed, stats: this.#stats() }, 'mqtt device payload rejected');
    this.#last = now;
    this.#suppressed = 0;
  }
}
