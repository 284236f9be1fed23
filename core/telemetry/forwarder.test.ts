import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { captureLogs, inputs, metricValue, quiet, tempDir, waitFor } from './fixtures/helpers.ts';
import { backoffDelay, openOutbox, startForwarder, TelemetryErrors, type Batch, type IngestResult, type Outbox, type Uplink } from './index.ts';

const SITE = 'plant-a';
let tmp: ReturnType<typeof tempDir>;
let outbox: Outbox;

beforeEach(() => {
  tmp = tempDir();
  outbox = openOutbox({ file: tmp.file('outbox.db'), site: SITE });
});
afterEach(() => {
  outbox.close();
  tmp.remove();
});

/** An uplink whose answers the test scripts; records every call's seqs and stream header. */
function fakeUplink(answer: (call: number, batch: Batch) => Promise<IngestResult> | IngestResult): Uplink & { calls: number[][]; streams: Batch['stream'][] } {
  const calls: number[][] = [];
  const streams: Batch['stream'][] = [];
  return {
    name: 'fake',
    calls,
    streams,
    async send(batch, signal) {
      calls.push(batch.readings.map((r) => r.seq));
      streams.push(batch.stream);
      signal?.throwIfAborted();
      return answer(calls.length - 1, batch);
    },
    close: () => Promise.resolve(),
  };
}

const ok = (b: Batch): IngestResult => ({ accepted: b.readings.length, duplicates: 0, conflicts: 0, quarantined: 0 });

describe('backoffDelay', () => {
  it('is full jitter under an exponential cap', () => {
    expect(backoffDelay(0, 100, 10_000, () => 0.999)).toBe(99);
    expect(backoffDelay(3, 100, 10_000, () => 0.5)).toBe(400);
    expect(backoffDelay(20, 100, 10_000, () => 0.999)).toBe(9990);
    expect(backoffDelay(5000, 100, 10_000, () => 0)).toBe(0);
  });
});

describe('forwarder', () => {
  it('sends everything in seq order in batches and acks it', async () => {
    const up = fakeUplink((_c, b) => ok(b));
    outbox.append(inputs(SITE, 0, 2500));
    const f = startForwarder({ outbox, uplink: up, batchSize: 1000, logger: quiet() });
    await f.flush();
    expect(up.calls.map((c) => c.length)).toEqual([1000, 1000, 500]);
    expect(up.calls.flat()).toEqual(Array.from({ length: 2500 }, (_, i) => i + 1));
    expect(outbox.stats()).toMatchObject({ pending: 0, ackedSeq: 2500 });
    expect(f.stats()).toMatchObject({ sent: 2500, batches: 3, failures: 0, connected: true });
    await f.stop();
  });

  it('retries the same batch after failures, never skipping or reordering', async () => {
    const metrics = new Registry();
    let down = true;
    const up = fakeUplink((_call, b) => {
      if (down) throw new TelemetryErrors.ErrUplinkUnreachable({ uplink: 'fake', target: 'hub', reason: 'down' });
      return ok(b);
    });
    outbox.append(inputs(SITE, 0, 30));
    const f = startForwarder({ outbox, uplink: up, batchSize: 10, logger: quiet(), metrics, backoff: { initialMs: 5, maxMs: 20 } });
    await waitFor('three failures', () => f.stats().failures >= 3);
    down = false;
    expect(f.stats()).toMatchObject({ connected: false, lastErrorCode: 'EDGE_ERR_UPLINK_UNREACHABLE' });
    await f.flush();
    const failures = f.stats().failures;
    // Every failed try and the first success carried the same first batch; then the rest, in order.
    expect(up.calls.slice(0, failures + 1)).toEqual(Array.from({ length: failures + 1 }, () => up.calls[0]));
    expect(up.calls.slice(failures).flat()).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(f.stats()).toMatchObject({ sent: 30, failures, connected: true });
    expect(await metricValue(metrics, 'edgeadm_uplink_failures_total', { uplink: 'fake' })).toBe(failures);
    await f.stop();
  });

  it('retries a rejected batch at the slowest pace, logs it once, counts each, drops nothing', async () => {
    const metrics = new Registry();
    const { logger, lines } = captureLogs();
    let reject = true;
    const up = fakeUplink((_c, b) => {
      if (reject) throw new TelemetryErrors.ErrUplinkRejected({ uplink: 'fake', status: 403, code: 'EDGE_ERR_AUTH', reason: 'bad token' });
      return ok(b);
    });
    outbox.append(inputs(SITE, 0, 5));
    const f = startForwarder({ outbox, uplink: up, logger, metrics, backoff: { initialMs: 1, maxMs: 30 } });
    // Counted once the forwarder has the answer, a moment after the uplink saw the call.
    await waitFor('three rejections', async () => up.calls.length >= 3 && (await metricValue(metrics, 'edgeadm_uplink_rejected_total', { uplink: 'fake' })) >= 3);
    const rejectedLogs = lines.filter((l) => l.level === 50 && String(l.msg).includes('rejected'));
    expect(rejectedLogs).toHaveLength(1);
    expect(outbox.stats().pending).toBe(5);
    reject = false;
    await f.flush();
    expect(outbox.stats().pending).toBe(0);
    await f.stop();
  });

  it('sends every batch under the outbox stream header, and counts what the hub says it already held', async () => {
    const metrics = new Registry();
    const { logger, lines } = captureLogs();
    const up = fakeUplink((call, b) => (call === 1 ? { accepted: 6, duplicates: 4, conflicts: 0, quarantined: 0 } : ok(b)));
    outbox.append(inputs(SITE, 0, 30));
    const f = startForwarder({ outbox, uplink: up, batchSize: 10, logger, metrics });
    await f.flush();
    const id = outbox.stream().id;
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(up.streams.every((h) => h.id === id && h.lastSeq >= 10)).toBe(true);
    expect(f.stats()).toMatchObject({ sent: 30, duplicates: 4, conflicts: 0, rotations: 0 });
    expect(await metricValue(metrics, 'edgeadm_uplink_readings_total', { uplink: 'fake', outcome: 'duplicate' })).toBe(4);
    expect(lines.some((l) => l.msg === 'the hub already held readings of this batch (a resend)' && l.duplicates === 4)).toBe(true);
    await f.stop();
  });

  it('starts a new stream when the hub reports conflicts: it holds readings of this stream this agent never sent', async () => {
    const metrics = new Registry();
    const { logger, lines } = captureLogs();
    const up = fakeUplink((call, b) => (call === 0 ? { accepted: 7, duplicates: 0, conflicts: 3, quarantined: 0 } : ok(b)));
    outbox.append(inputs(SITE, 0, 20));
    const first = outbox.stream().id;
    const f = startForwarder({ outbox, uplink: up, batchSize: 10, logger, metrics });
    await f.flush();
    expect(up.streams[0]!.id).toBe(first);
    expect(up.streams[1]!.id).not.toBe(first);
    expect(outbox.stream().id).toBe(up.streams[1]!.id);
    expect(up.calls.flat()).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(f.stats()).toMatchObject({ conflicts: 3, rotations: 1, lastStreamProblem: { reason: expect.stringMatching(/held 3 seq/) as unknown } });
    expect(await metricValue(metrics, 'edgeadm_uplink_stream_rotations_total', { reason: 'conflict' })).toBe(1);
    expect(lines.some((l) => l.level === 50 && l.reason === 'conflict' && l.previous === first)).toBe(true);
    await f.stop();
  });

  it('on a rewound-stream refusal, sends the same readings again at once under a new stream, losing nothing', async () => {
    const metrics = new Registry();
    const seen = new Set<string>();
    const up = fakeUplink((_call, b) => {
      // The hub knows the first stream as rewound: refuse it, take any other.
      if (b.stream.id === first) throw new TelemetryErrors.ErrUplinkRejected({ uplink: 'fake', status: 409, code: TelemetryErrors.ErrStreamRewound.code, reason: 'rewound' });
      for (const r of b.readings) seen.add(`${r.seq}`);
      return ok(b);
    });
    outbox.append(inputs(SITE, 0, 25));
    const first = outbox.stream().id;
    const t0 = Date.now();
    const f = startForwarder({ outbox, uplink: up, batchSize: 10, logger: quiet(), metrics, backoff: { initialMs: 5_000, maxMs: 10_000 } });
    await f.flush();
    expect(Date.now() - t0).toBeLessThan(2_000); // no backoff: a rotation is not a failure to wait out
    expect(seen.size).toBe(25);
    expect(up.calls[0]).toEqual(up.calls[1]);
    expect(f.stats()).toMatchObject({ rotations: 1, failures: 0 });
    expect(await metricValue(metrics, 'edgeadm_uplink_stream_rotations_total', { reason: 'rewound' })).toBe(1);
    await f.stop();
  });

  it('wakes on notify() long before maxDelayMs', async () => {
    const up = fakeUplink((_c, b) => ok(b));
    const f = startForwarder({ outbox, uplink: up, maxDelayMs: 60_000, logger: quiet() });
    await new Promise((r) => setTimeout(r, 20)); // the loop is now idle
    const t0 = Date.now();
    outbox.append(inputs(SITE, 0, 3));
    f.notify();
    await waitFor('delivery', () => up.calls.length === 1);
    expect(Date.now() - t0).toBeLessThan(1000);
    await f.stop();
  });

  it('stop() aborts the in-flight send, rejects pending flushes and leaves no timers', async () => {
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    let aborted = false;
    const up: Uplink = {
      name: 'hang',
      send: (_b, signal) =>
        new Promise((_resolve, reject) => {
          signal?.addEventListener('abort', () => {
            aborted = true;
            reject(new TelemetryErrors.ErrUplinkAborted({ uplink: 'hang' }));
          });
        }),
      close: () => Promise.resolve(),
    };
    outbox.append(inputs(SITE, 0, 3));
    const f = startForwarder({ outbox, uplink: up, logger: quiet() });
    const flushed = f.flush();
    await new Promise((r) => setTimeout(r, 30));
    const t0 = Date.now();
    await f.stop();
    expect(Date.now() - t0).toBeLessThan(200);
    expect(aborted).toBe(true);
    await expect(flushed).rejects.toMatchObject({ code: 'EDGE_ERR_TELEMETRY_FORWARDER_STOPPED' });
    await expect(f.flush()).rejects.toMatchObject({ code: 'EDGE_ERR_TELEMETRY_FORWARDER_STOPPED' });
    await f.stop(); // idempotent
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(timersBefore);
    expect(outbox.stats().pending).toBe(3);
  });
});
