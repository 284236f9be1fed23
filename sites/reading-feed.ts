/**
 * The site's reading feed (`readingFeedRef`): what the outbox stored, handed
 * to the plugins that subscribed, in seq order, on a later turn of the event
 * loop so that no listener holds a driver up. Nothing is kept for a listener
 * that comes later: the outbox and the hub are the record, this is a tap.
 */
import type { Logger } from '../core/kernel/index.ts';
import { describeError } from '../core/kernel/index.ts';
import type { Reading, ReadingFeed } from '../core/sdk/index.ts';

type Listener = (readings: readonly Reading[]) => void;

export class ReadingFanout implements ReadingFeed {
  readonly #listeners = new Set<Listener>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** True when someone listens: callers skip building the batch otherwise. */
  get listening(): boolean {
    return this.#listeners.size > 0;
  }

  subscribe(fn: Listener): () => void {
    // A function subscribed twice is two listeners.
    const own: Listener = (rs) => fn(rs);
    this.#listeners.add(own);
    return () => {
      this.#listeners.delete(own);
    };
  }

  /** Hands stored readings to the listeners there are now. */
  publish(readings: readonly Reading[]): void {
    if (readings.length === 0 || this.#listeners.size === 0) return;
    const now = [...this.#listeners];
    setImmediate(() => {
      for (const fn of now) {
        if (!this.#listeners.has(fn)) continue;
        try {
          fn(readings);
        } catch (err) {
          this.#log.warn({ error: describeError(err), readings: readings.length }, 'a reading feed listener failed');
        }
      }
    });
  }
}
