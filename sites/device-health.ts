/**
 * A device's link state as its reads show it: the one rule for when a
 * device is up or down at the site, and with what cause.
 *
 * - A connect that fails turns the device down with the failure's message.
 *   Retrying keeps it down (no flapping through `connecting`).
 * - A device that is polled is `connecting` after its connect until the first
 *   poll answers: drivers such as Modbus open their link lazily, so a
 *   connect proves nothing.
 * - A poll whose every sample is bad (or whose read threw) is a bad poll;
 *   after `downAfterBadPolls` of them in a row the device is down, its
 *   message the newest bad sample's qualityDetail (`EDGE_ERR_MODBUS_CONNECT
 *   connect ECONNREFUSED 127.0.0.1:1502`). A poll with a good or uncertain
 *   sample turns it up and clears the message this rule set.
 * - Pushed samples (subscriptions) only ever turn a device up: a push
 *   carries the resources that changed, so a bad one says nothing about the
 *   others or the link.
 *
 * Messages other parts of the site set (an autoEvent skipped, readings not
 * stored) are left alone.
 */
import Type, { type Static } from 'typebox';
import { describeError } from '../core/kernel/index.ts';
import type { Sample } from '../core/sdk/index.ts';

/** The agent's `devices` config section. */
export const DevicesConfigSchema = Type.Object(
  {
    downAfterBadPolls: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 3,
      description: 'Polls in a row in which every read of a device is bad (connection refused, timeouts) before the device is DOWN.',
    }),
  },
  { additionalProperties: false, default: {} },
);
export type DevicesConfig = Static<typeof DevicesConfigSchema>;

export const DEFAULT_DOWN_AFTER_BAD_POLLS = 3;

/** The link-related part of a device's runtime status. */
export interface LinkStatus {
  state: 'waiting-for-driver' | 'connecting' | 'up' | 'down' | 'invalid' | 'locked';
  message?: string;
}

/**
 * The link state machine of one device. It owns `status.state` while the
 * device runs, and `status.message` only when it set it. Each method returns
 * true when the state or the message changed (worth reporting at once).
 */
export class LinkHealth {
  readonly #status: LinkStatus;
  readonly #downAfter: number;
  #badPolls = 0;
  /** The message this machine set, so it clears only its own. */
  #own: string | undefined;

  constructor(status: LinkStatus, opts: { downAfterBadPolls?: number } = {}) {
    this.#status = status;
    this.#downAfter = opts.downAfterBadPolls ?? DEFAULT_DOWN_AFTER_BAD_POLLS;
    // A device that was down when this machine took over (a retried connect) is down for this rule's reasons.
    if (status.state === 'down') this.#own = status.message;
  }

  /** Bad polls in a row so far. */
  get badPolls(): number {
    return this.#badPolls;
  }

  /** A connect attempt starts: a device that was down stays down until it answers. */
  connecting(): boolean {
    if (this.#status.state === 'down') return false;
    return this.#set('connecting', this.#status.message);
  }

  connectFailed(err: unknown): boolean {
    return this.#setOwn('down', describeError(err));
  }

  /** The connect succeeded; `polled` when reads will tell whether the device answers. */
  connected(polled: boolean): boolean {
    this.#badPolls = 0;
    if (polled) return this.#status.state === 'down' ? false : this.#set('connecting', this.#status.message);
    return this.#up();
  }

  /** The samples of one poll, or the error of a read that threw. */
  polled(samples: readonly Sample[] | { error: unknown }): boolean {
    if (!('error' in samples) && samples.some((s) => s.quality !== 'bad')) return this.#up();
    if (!('error' in samples) && samples.length === 0) return false;
    this.#badPolls++;
    const cause = 'error' in samples ? describeError(samples.error) : causeOf(samples);
    if (this.#badPolls < this.#downAfter) return false;
    return this.#setOwn('down', `${cause} (every read bad for ${this.#badPolls} poll${this.#badPolls === 1 ? '' : 's'})`);
  }

  /** Samples a subscription delivered. */
  pushed(samples: readonly Sample[]): boolean {
    return samples.some((s) => s.quality !== 'bad') ? this.#up() : false;
  }

  #up(): boolean {
    this.#badPolls = 0;
    const message = this.#status.message !== undefined && this.#status.message === this.#own ? undefined : this.#status.message;
    this.#own = undefined;
    return this.#set('up', message);
  }

  #setOwn(state: LinkStatus['state'], message: string): boolean {
    // A count in the message would change with every poll: only the first wording of a cause is kept.
    const same = this.#status.state === state && this.#own !== undefined && this.#status.message === this.#own && stem(this.#own) === stem(message);
    if (same) return false;
    this.#own = message;
    return this.#set(state, message);
  }

  #set(state: LinkStatus['state'], message: string | undefined): boolean {
    const changed = this.#status.state !== state || this.#status.message !== message;
    this.#status.state = state;
    if (message === undefined) delete this.#status.message;
    else this.#status.message = message;
    return changed;
  }
}

/** A message without its trailing parenthesised count. */
function stem(message: string): string {
  return message.replace(/ \(every read bad for \d+ polls?\)$/, '');
}

/** The cause a bad poll shows: its newest sample's qualityDetail. */
function causeOf(samples: readonly Sample[]): string {
  let newest: Sample | undefined;
  for (const s of samples) if (s.qualityDetail && (!newest || s.origin >= newest.origin)) newest = s;
  return newest?.qualityDetail ?? 'every read was bad, without detail';
}
