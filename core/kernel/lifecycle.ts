/** Small lifecycle helpers shared by the kernel and the plugin registry. */
import { ErrTimeout } from './errors.ts';

export type Teardown = () => void | Promise<void>;

/**
 * Runs `work` with a deadline. On timeout the signal handed to `work` is
 * aborted and the returned promise rejects with EDGE_ERR_TIMEOUT; the timer
 * never outlives the call.
 */
export async function withTimeout<T>(
  what: string,
  ms: number,
  work: (signal: AbortSignal) => Promise<T> | T,
  outer?: AbortSignal,
): Promise<T> {
  const ac = new AbortController();
  const onOuter = (): void => ac.abort(outer?.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const err = new ErrTimeout({ what, ms });
      ac.abort(err);
      reject(err);
    }, ms);
  });
  try {
    return await Promise.race([Promise.resolve().then(() => work(ac.signal)), deadline]);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}

/**
 * Teardowns registered where resources are created, run last-in first-out.
 * Running is idempotent; a teardown registered after the stack ran is run at
 * once, so late resources of an abandoned start are not leaked.
 */
export class TeardownStack {
  readonly #items: Teardown[] = [];
  #ran = false;
  #late: Promise<unknown>[] = [];

  get ran(): boolean {
    return this.#ran;
  }

  add(fn: Teardown): void {
    if (this.#ran) {
      this.#late.push(Promise.resolve().then(fn));
      return;
    }
    this.#items.push(fn);
  }

  /** Runs every teardown (LIFO), collecting errors instead of stopping at the first. */
  async run(): Promise<unknown[]> {
    const errors: unknown[] = [];
    this.#ran = true;
    while (this.#items.length > 0) {
      const fn = this.#items.pop() as Teardown;
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    for (const r of await Promise.allSettled(this.#late.splice(0))) {
      if (r.status === 'rejected') errors.push(r.reason);
    }
    return errors;
  }
}

/** A synchronous call as a promise-returning one: its throw becomes the rejection. */
export function promised<A extends unknown[], R>(fn: (...a: A) => R): (...a: A) => Promise<R> {
  return (...a) => {
    try {
      return Promise.resolve(fn(...a));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  };
}
