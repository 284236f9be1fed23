/**
 * The upstream's state, as a circuit breaker: `online` (requests go
 * upstream), `offline` (after a request failed to reach it: every request is
 * answered locally at once, and a background probe tries the upstream with
 * backoff), `resyncing` (the probe got through: requests are still answered
 * locally while the node's offline writes are reconciled and the cached lists
 * re-listed; then `online`). No request pays a dial timeout while offline:
 * only the probe does.
 */
import type { Logger } from '../kernel/index.ts';

export type UpstreamState = 'online' | 'offline' | 'resyncing';

export interface BreakerOptions {
  /** One try at the upstream (rejects when it cannot be reached). */
  probe: () => Promise<void>;
  /** Runs after a successful probe, before `online`; a rejection goes back to `offline`. */
  resync: () => Promise<void>;
  /** Delay before the first probe, doubled after each failed one up to `probeMaxMs`. */
  probeInitialMs: number;
  probeMaxMs: number;
  onChange?: (state: UpstreamState, previous: UpstreamState, reason?: string) => void;
  logger?: Logger;
}

export class Breaker {
  readonly #o: BreakerOptions;
  #state: UpstreamState = 'online';
  #since = Date.now();
  #offlineMsBefore = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #lastError: string | undefined;
  #transitions = 0;

  constructor(o: BreakerOptions) {
    this.#o = o;
  }

  get state(): UpstreamState {
    return this.#state;
  }

  /** When the current state began (ms since the epoch). */
  get since(): number {
    return this.#since;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Times the upstream went offline since start. */
  get outages(): number {
    return this.#transitions;
  }

  /** Milliseconds spent not online (offline or resyncing) since start, the current spell included. */
  offlineMs(now = Date.now()): number {
    return this.#offlineMsBefore + (this.#state === 'online' ? 0 : now - this.#since);
  }

  /** Starts offline (a start without the upstream, e.g. after a reboot without the cloud). */
  startOffline(reason: string): void {
    this.failed(reason);
  }

  /** A request could not reach the upstream: go offline and start probing (no-op when already not online). */
  failed(reason: string): void {
    this.#lastError = reason;
    if (this.#state !== 'online' || this.#closed) return;
    this.#transitions += 1;
    this.#set('offline', reason);
    this.#schedule(this.#o.probeInitialMs);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #set(state: UpstreamState, reason?: string): void {
    const previous = this.#state;
    if (previous === state) return;
    const now = Date.now();
    if (previous !== 'online' && state === 'online') this.#offlineMsBefore += now - this.#since;
    // offline -> resyncing -> offline keeps one spell: the clock started when the upstream was lost.
    if (!(previous !== 'online' && state !== 'online')) this.#since = now;
    this.#state = state;
    this.#o.onChange?.(state, previous, reason);
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#attempt(delayMs), delayMs);
    this.#timer.unref();
  }

  async #attempt(delayMs: number): Promise<void> {
    this.#timer = undefined;
    if (this.#closed) return;
    try {
      await this.#o.probe();
    } catch (err) {
      this.#lastError = (err as Error).message;
      this.#schedule(Math.min(delayMs * 2, this.#o.probeMaxMs));
      return;
    }
    if (this.#closed) return;
    this.#set('resyncing');
    try {
      await this.#o.resync();
    } catch (err) {
      this.#lastError = (err as Error).message;
      this.#o.logger?.warn({ error: this.#lastError }, 'lite-apiserver resync failed; offline again');
      if (this.#closed) return;
      this.#set('offline', this.#lastError);
      this.#schedule(Math.min(delayMs * 2, this.#o.probeMaxMs));
      return;
    }
    if (this.#closed) return;
    this.#lastError = undefined;
    this.#set('online');
  }
}
