/**
 * The forwarder drains the outbox into one uplink: peek after the last
 * acknowledged seq, send, ack on success. One batch is in flight at a time,
 * so the hub receives readings in seq order (and so in per-device order). A
 * failed batch is retried as-is with exponential backoff and full jitter,
 * never skipped or reordered; a batch the hub rejects for good (4xx) is
 * logged once, counted, and retried at the slowest pace, since dropping it
 * would lose data.
 *
 * Every batch carries the outbox's stream header. The hub's answer says how
 * many readings it already held (duplicates: a resend, logged and counted)
 * and how many it held under the same seqs with other content (conflicts).
 * A conflict, or a refusal because the stream was rewound, means the hub
 * holds readings of this stream this agent never sent (its outbox was
 * restored from an older copy, or another agent uses its identity): the
 * forwarder starts a new stream at once, so nothing more collides, and
 * reports it (`streamProblems`, `edgeadm_uplink_stream_rotations_total`).
 */
import type { Registry } from 'prom-client';
import { describeError, toErrorInfo, type Logger } from '../kernel/index.ts';
import { ErrForwarderStopped, ErrStreamRewound, ErrUplinkRejected, ErrUplinkUnreachable } from './errors.ts';
import { counter } from './metrics.ts';
import type { Batch, IngestResult, Outbox, Uplink } from './types.ts';

export interface ForwarderOptions {
  outbox: Outbox;
  uplink: Uplink;
  /**
   * Most readings per batch. Default 10,000 (about 1.6 MiB of JSON before
   * compression): at 5,000 the round trip per batch held the spine to about
   * 88k readings/s, at 20,000 the hub's larger bodies cost more than they saved.
   * A batch the hub refuses as too large (413) is halved and sent again at
   * once; full batches then grow back by a tenth each.
   */
  batchSize?: number;
  /** Longest wait for new readings when nobody calls notify(). Default 20 ms. */
  maxDelayMs?: number;
  logger: Logger;
  metrics?: Registry;
  backoff?: { initialMs?: number; maxMs?: number };
  /** Source of jitter in [0, 1); tests may pin it. Default Math.random. */
  random?: () => number;
}

export interface ForwarderStats {
  /** Readings the hub acknowledged through this forwarder. */
  sent: number;
  /** Of those: already held (resends), held with other content (conflicts), quarantined for another reason. */
  duplicates: number;
  conflicts: number;
  quarantined: number;
  /** New streams started because the hub held readings of the old one this agent never sent. */
  rotations: number;
  /** The last such problem, as a sentence, and when (RFC 3339). */
  lastStreamProblem?: { reason: string; at: string };
  batches: number;
  failures: number;
  /** Message of the last failure (kept after recovery). */
  lastError?: string;
  /** Code of the last failure, e.g. EDGE_ERR_UPLINK_UNREACHABLE. */
  lastErrorCode?: string;
  /** True after a successful send, false after a failed one (and before the first). */
  connected: boolean;
}

export interface Forwarder {
  /** Wakes the loop at once: call after appending to the outbox. */
  notify(): void;
  /** Resolves once everything appended before the call is acknowledged by the hub (or dropped by the outbox's bounds). */
  flush(): Promise<void>;
  stats(): ForwarderStats;
  /** Aborts the in-flight send and every timer; does not close the outbox or the uplink. Idempotent. */
  stop(): Promise<void>;
}

/** Delay before retry `attempt` (0-based): full jitter over an exponentially growing cap. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

export function startForwarder(opts: ForwarderOptions): Forwarder {
  const { outbox, uplink } = opts;
  const batchSize = opts.batchSize ?? 10_000;
  /** Readings per batch now: batchSize, or less after the hub refused one as too large. */
  let limit = batchSize;
  const maxDelayMs = opts.maxDelayMs ?? 20;
  const initialMs = opts.backoff?.initialMs ?? 100;
  const maxMs = opts.backoff?.maxMs ?? 10_000;
  const random = opts.random ?? Math.random;
  const log = opts.logger.child({ component: 'forwarder', uplink: uplink.name });

  const sentTotal = counter(opts.metrics, 'edgeadm_uplink_sent_total', 'Readings acknowledged by the hub, by uplink.', ['uplink']);
  const failuresTotal = counter(opts.metrics, 'edgeadm_uplink_failures_total', 'Failed batch sends, by uplink.', ['uplink']);
  const rejectedTotal = counter(opts.metrics, 'edgeadm_uplink_rejected_total', 'Batches the hub rejected with a non-retryable status, by uplink.', ['uplink']);
  const outcomeTotal = counter(
    opts.metrics,
    'edgeadm_uplink_readings_total',
    'Readings the hub answered for, by uplink and outcome: accepted, duplicate (already held), conflict (held with other content), quarantined.',
    ['uplink', 'outcome'],
  );
  const rotationsTotal = counter(opts.metrics, 'edgeadm_uplink_stream_rotations_total', 'New producer streams started because the hub held readings of the old one this agent never sent, by reason.', [
    'reason',
  ]);

  const stats: ForwarderStats = { sent: 0, duplicates: 0, conflicts: 0, quarantined: 0, rotations: 0, batches: 0, failures: 0, connected: false };

  /** The hub holds readings of the current stream this agent never sent: start a new stream so nothing more collides. */
  function rotate(reason: 'conflict' | 'rewound', detail: string): void {
    stats.rotations++;
    stats.lastStreamProblem = { reason: detail, at: new Date().toISOString() };
    rotationsTotal.inc({ reason });
    try {
      const previous = outbox.stream().id;
      const next = outbox.rotateStream(reason);
      log.error({ reason, previous, stream: next, detail }, 'the hub holds readings of this stream that this agent never sent: started a new stream');
    } catch (err) {
      log.error({ err: describeError(err), reason }, 'cannot start a new stream in the outbox');
    }
  }

  function record(batch: Batch, r: IngestResult): void {
    stats.duplicates += r.duplicates;
    stats.conflicts += r.conflicts;
    stats.quarantined += r.quarantined;
    for (const [outcome, n] of [['accepted', r.accepted], ['duplicate', r.duplicates], ['conflict', r.conflicts], ['quarantined', r.quarantined]] as const) {
      if (n > 0) outcomeTotal.inc({ uplink: uplink.name, outcome }, n);
    }
    const range = { stream: batch.stream.id, firstSeq: batch.readings[0]?.seq, lastSeq: batch.readings.at(-1)?.seq };
    if (r.duplicates > 0) log.info({ ...range, duplicates: r.duplicates }, 'the hub already held readings of this batch (a resend)');
    if (r.quarantined > 0) log.warn({ ...range, quarantined: r.quarantined }, 'the hub quarantined readings of this batch (unknown device or resource)');
    if (r.conflicts > 0) rotate('conflict', `the hub held ${r.conflicts} seq(s) of stream ${batch.stream.id} with other content (seqs ${range.firstSeq}..${range.lastSeq})`);
  }
  const abort = new AbortController();
  let stopped = false;
  /** Highest seq the hub holds (or the outbox has dropped past). */
  let cursor = outbox.stats().ackedSeq;
  let wake: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let notified = false;
  const flushers: { target: number; resolve: () => void; reject: (err: Error) => void }[] = [];

  /** Sleeps `ms`; `wakeable` sleeps also end on notify(). Always ends on stop(). */
  function sleep(ms: number, wakeable: boolean): Promise<void> {
    if (wakeable && notified) {
      notified = false;
      return Promise.resolve();
    }
    if (abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        timer = undefined;
        wake = undefined;
        abort.signal.removeEventListener('abort', done);
        resolve();
      };
      timer = setTimeout(done, ms);
      if (wakeable) wake = done;
      abort.signal.addEventListener('abort', done, { once: true });
    });
  }

  function recordError(err: unknown): void {
    const info = toErrorInfo(err);
    stats.lastError = info.message;
    stats.lastErrorCode = info.code;
  }

  function settleFlushers(allDone: boolean): void {
    for (let i = flushers.length - 1; i >= 0; i--) {
      const f = flushers[i]!;
      if (allDone || f.target <= cursor) {
        flushers.splice(i, 1);
        f.resolve();
      }
    }
  }

  /** The next batch of the outbox after `afterSeq`, under the current stream header. */
  function nextBatch(afterSeq: number): Batch {
    return { stream: outbox.stream(), readings: outbox.peek(afterSeq, limit) };
  }

  /** The batch after the one in flight, read and being encoded while that one travels. */
  let ahead: { batch: Batch; encoded: Promise<Uint8Array> | undefined } | undefined;
  function prepareAhead(afterSeq: number): void {
    ahead = undefined;
    const next = nextBatch(afterSeq);
    if (next.readings.length === 0) return;
    // Encode after this turn, so the request in flight goes out first.
    const encoded = uplink.encode
      ? new Promise<Uint8Array>((resolve, reject) => setImmediate(() => uplink.encode!(next).then(resolve, reject)))
      : undefined;
    encoded?.catch(() => undefined);
    ahead = { batch: next, encoded };
  }

  /** Acknowledged by the hub, not yet released from the outbox. */
  let unacked: number | undefined;
  function recordAck(): void {
    if (unacked === undefined) return;
    const seq = unacked;
    unacked = undefined;
    try {
      outbox.ack(seq);
    } catch (err) {
      // The hub has the batch; the outbox will offer it again after a restart and the hub will ignore it.
      if (!stopped) log.error({ err: describeError(err), seq }, 'cannot record the ack in the outbox');
    }
    settleFlushers(false);
  }

  async function loop(): Promise<void> {
    let attempt = 0;
    let rejectedLogged = false;
    while (!stopped) {
      let batch: Batch;
      let encoded: Promise<Uint8Array> | undefined;
      try {
        if (ahead && ahead.batch.readings[0]!.seq > cursor && ahead.batch.stream.id === outbox.stream().id) {
          ({ batch, encoded } = ahead);
        } else {
          batch = nextBatch(cursor);
        }
        ahead = undefined;
      } catch (err) {
        if (stopped) break;
        stats.failures++;
        recordError(err);
        log.error({ err: describeError(err) }, 'cannot read the outbox');
        await sleep(backoffDelay(attempt++, initialMs, maxMs, random), false);
        continue;
      }
      if (batch.readings.length === 0) {
        recordAck();
        // Nothing pending: everything up to the outbox's last seq is acked or dropped.
        settleFlushers(true);
        await sleep(maxDelayMs, true);
        continue;
      }
      notified = false;
      const last = batch.readings[batch.readings.length - 1]!.seq;
      let result: IngestResult;
      try {
        const sending = uplink.send(batch, abort.signal, encoded);
        // Handled below; marked now so a failure while this turn yields is not an unhandled rejection.
        sending.catch(() => undefined);
        // One batch in flight, in seq order; the next one is made ready meanwhile. The request goes out
        // first: reading 10,000 readings and releasing the last batch take milliseconds of this thread.
        // Two turns of the event loop: one for the request to be written, one for a hop in this process
        // (the tunnel's local forward) to pass it on.
        await new Promise<void>((r) => setImmediate(r));
        await new Promise<void>((r) => setImmediate(r));
        try {
          prepareAhead(last);
        } catch {
          ahead = undefined;
        }
        recordAck();
        result = await sending;
      } catch (err) {
        ahead = undefined;
        recordAck();
        if (stopped) break;
        if (ErrUplinkRejected.is(err) && (err.params as { code?: string }).code === ErrStreamRewound.code) {
          // Not a failure to wait out: the same readings go again at once, under a new stream.
          rotate('rewound', `the hub refused stream ${batch.stream.id} as rewound: ${describeError(err)}`);
          continue;
        }
        if (ErrUplinkRejected.is(err) && (err.params as { status?: number }).status === 413 && batch.readings.length > 1) {
          // Too large for the hub's body limit: the same readings go again at once, fewer per batch.
          limit = Math.max(1, Math.floor(batch.readings.length / 2));
          log.warn({ readings: batch.readings.length, limit, reason: describeError(err) }, 'the hub refused a batch as too large: sending smaller batches');
          continue;
        }
        stats.failures++;
        stats.connected = false;
        recordError(err);
        failuresTotal.inc({ uplink: uplink.name });
        let delay: number;
        if (ErrUplinkRejected.is(err)) {
          rejectedTotal.inc({ uplink: uplink.name });
          if (!rejectedLogged) {
            rejectedLogged = true;
            log.error({ err: toErrorInfo(err), firstSeq: batch.readings[0]!.seq, lastSeq: last }, 'hub rejected a batch; retrying it at the slowest pace (nothing is dropped)');
          }
          delay = maxMs;
        } else {
          if (attempt === 0) log.warn({ err: toErrorInfo(err), firstSeq: batch.readings[0]!.seq }, 'batch send failed; retrying with backoff');
          else log.debug({ err: describeError(err), attempt }, 'batch send failed again');
          delay = backoffDelay(attempt, initialMs, maxMs, random);
          const retryAfter = ErrUplinkUnreachable.is(err) ? (err.params as { retryAfterMs?: number }).retryAfterMs : undefined;
          if (retryAfter !== undefined) delay = Math.max(delay, Math.min(retryAfter, maxMs));
        }
        attempt++;
        await sleep(delay, false);
        continue;
      }
      if (attempt > 0) log.info({ failures: attempt }, 'uplink recovered');
      attempt = 0;
      rejectedLogged = false;
      cursor = Math.max(cursor, last);
      if (limit < batchSize && batch.readings.length >= limit) limit = Math.min(batchSize, limit + Math.ceil(limit / 10));
      stats.sent += batch.readings.length;
      record(batch, result);
      stats.batches++;
      stats.connected = true;
      sentTotal.inc({ uplink: uplink.name }, batch.readings.length);
      // With the next batch ready, its send goes first and this ack happens while it travels.
      unacked = last;
      if (!ahead) recordAck();
    }
    recordAck();
  }

  const running = loop().catch((err: unknown) => {
    log.error({ err: describeError(err) }, 'forwarder loop failed');
  });

  function notify(): void {
    if (wake) wake();
    else notified = true;
  }

  return {
    notify,

    flush(): Promise<void> {
      if (stopped) return Promise.reject(new ErrForwarderStopped({ uplink: uplink.name }));
      const target = outbox.stats().lastSeq;
      if (target <= cursor) return Promise.resolve();
      return new Promise((resolve, reject) => {
        flushers.push({ target, resolve, reject });
        notify();
      });
    },

    stats(): ForwarderStats {
      return { ...stats };
    },

    async stop(): Promise<void> {
      if (!stopped) {
        stopped = true;
        abort.abort(new ErrForwarderStopped({ uplink: uplink.name }));
        clearTimeout(timer);
        for (const f of flushers.splice(0)) f.reject(new ErrForwarderStopped({ uplink: uplink.name }));
      }
      await running;
    },
  };
}
