import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isEdgeError } from '../kernel/index.ts';
import { batchOf, captureLogs, inputs, numbered, quiet, tempDir, waitFor } from './fixtures/helpers.ts';
import { createRestUplink, openOutbox, openTelemetryStore, startForwarder, type Batch, type TelemetryStore } from './index.ts';

const SITE = 'plant-a';
const TOKEN = 'site-token';
let tmp: ReturnType<typeof tempDir>;
let store: TelemetryStore;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(() => {
  tmp = tempDir();
  store = openTelemetryStore({ file: tmp.file('hub.db') });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await store.close();
  tmp.remove();
});

interface Hub {
  app: FastifyInstance;
  url: string;
  port: number;
  /** Seqs of accepted readings, in arrival order. */
  arrivals: number[];
}

/** A small stand-in for the hub's telemetry route, ingesting into `store`. */
async function startHub(port = 0, extra?: (app: FastifyInstance) => void, bodyLimit?: number): Promise<Hub> {
  const app = Fastify({ forceCloseConnections: true, ...(bodyLimit === undefined ? {} : { bodyLimit }) });
  const arrivals: number[] = [];
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body: Buffer, done) => {
    try {
      const raw = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
      done(null, JSON.parse(raw.toString('utf8')));
    } catch (err) {
      done(Object.assign(err as Error, { statusCode: 400 }), undefined);
    }
  });
  const unsubscribe = store.subscribe({}, (rs) => arrivals.push(...rs.map((r) => r.seq)));
  app.post<{ Params: { site: string }; Body: Batch }>('/api/v1/sites/:site/telemetry', async (req, reply) => {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return reply.code(401).send({ code: 'EDGE_ERR_HUB_AUTH', message: 'bad token' });
    try {
      return await store.ingest({ site: req.params.site, producer: 'token:site', stream: req.body.stream }, req.body.readings);
    } catch (err) {
      if (isEdgeError(err)) return reply.code(err.statusCode).send({ code: err.code, message: err.message });
      throw err;
    }
  });
  extra?.(app);
  let closed = false;
  app.addHook('onClose', () => {
    closed = true;
    unsubscribe();
  });
  await app.listen({ port, host: '127.0.0.1' });
  const p = (app.server.address() as AddressInfo).port;
  cleanups.push(async () => {
    if (!closed) await app.close();
  });
  return { app, port: p, url: `http://127.0.0.1:${p}`, arrivals };
}

function expectStrictlyIncreasing(xs: number[]): void {
  for (let i = 1; i < xs.length; i++) expect(xs[i]).toBeGreaterThan(xs[i - 1]!);
}

describe('REST uplink', () => {
  it('posts a gzip JSON batch with the bearer token and returns the hub counts', async () => {
    const hub = await startHub();
    const up = createRestUplink({ url: `${hub.url}/`, token: TOKEN, site: SITE });
    expect(await up.send(batchOf(numbered(SITE, 1, 3)))).toEqual({ accepted: 3, duplicates: 0, conflicts: 0, quarantined: 0 });
    expect(await up.send(batchOf(numbered(SITE, 2, 3)))).toEqual({ accepted: 1, duplicates: 2, conflicts: 0, quarantined: 0 });
    expect(await store.count({ site: SITE })).toBe(4);
    await up.close();
  });

  it('maps hub answers: 4xx rejected with the server code, 5xx/429 unreachable, bad 2xx body', async () => {
    let status = 500;
    const hub = await startHub(0, (app) => {
      app.post('/x/api/v1/sites/:site/telemetry', (_req, reply) => {
        if (status === 429) void reply.header('retry-after', '2');
        if (status === 200) return reply.code(200).send('not json');
        return reply.code(status).send({ code: `EDGE_ERR_TEST_${status}`, message: `status ${status} here` });
      });
    });
    const up = createRestUplink({ url: `${hub.url}/x`, token: TOKEN, site: SITE });
    const fail = async (): Promise<Record<string, unknown>> => {
      try {
        await up.send(batchOf(numbered(SITE, 1, 1)));
      } catch (err) {
        return err as Record<string, unknown>;
      }
      throw new Error('expected a failure');
    };
    status = 500;
    expect(await fail()).toMatchObject({ code: 'EDGE_ERR_UPLINK_UNREACHABLE', params: { status: 500, code: 'EDGE_ERR_TEST_500', reason: 'status 500 here' } });
    status = 429;
    expect(await fail()).toMatchObject({ code: 'EDGE_ERR_UPLINK_UNREACHABLE', params: { status: 429, retryAfterMs: 2000 } });
    status = 408;
    expect(await fail()).toMatchObject({ code: 'EDGE_ERR_UPLINK_UNREACHABLE', params: { status: 408 } });
    status = 403;
    expect(await fail()).toMatchObject({ code: 'EDGE_ERR_UPLINK_REJECTED', params: { status: 403, code: 'EDGE_ERR_TEST_403', reason: 'status 403 here' } });
    status = 200;
    expect(await fail()).toMatchObject({ code: 'EDGE_ERR_UPLINK_RESPONSE' });
    // The real route: a reading of another site is a 400 carrying the store's code.
    const real = createRestUplink({ url: hub.url, token: TOKEN, site: 'plant-b' });
    await expect(real.send(batchOf(numbered(SITE, 1, 1)))).rejects.toMatchObject({
      code: 'EDGE_ERR_UPLINK_REJECTED',
      params: { status: 400, code: 'EDGE_ERR_TELEMETRY_INVALID' },
    });
    await up.close();
  });

  it('fails as unreachable on connection refused and on timeout, and as aborted on abort', async () => {
    const hub = await startHub(0, (app) => {
      // never answers; gives up when the client goes away
      app.post('/slow/api/v1/sites/:site/telemetry', (req) => new Promise((resolve) => req.raw.socket.once('close', () => resolve({}))));
    });
    const probe = await startHub();
    await probe.app.close(); // nothing listens there now: connection refused
    const down = createRestUplink({ url: probe.url, token: TOKEN, site: SITE });
    await expect(down.send(batchOf(numbered(SITE, 1, 1)))).rejects.toMatchObject({ code: 'EDGE_ERR_UPLINK_UNREACHABLE', message: expect.stringMatching(/ECONNREFUSED/) });

    const slow = createRestUplink({ url: `${hub.url}/slow`, token: TOKEN, site: SITE, timeoutMs: 100 });
    await expect(slow.send(batchOf(numbered(SITE, 1, 1)))).rejects.toMatchObject({ code: 'EDGE_ERR_UPLINK_UNREACHABLE', message: expect.stringMatching(/within 100 ms/) });
    const ac = new AbortController();
    const p = createRestUplink({ url: `${hub.url}/slow`, token: TOKEN, site: SITE }).send(batchOf(numbered(SITE, 1, 1)), ac.signal);
    setTimeout(() => ac.abort(), 20);
    await expect(p).rejects.toMatchObject({ code: 'EDGE_ERR_UPLINK_ABORTED' });
    // Aborted while the batch is still being encoded: aborted at once, not after the 10 s deadline.
    const early = new AbortController();
    const t0 = Date.now();
    const q = createRestUplink({ url: `${hub.url}/slow`, token: TOKEN, site: SITE }).send(batchOf(numbered(SITE, 1, 1)), early.signal);
    early.abort();
    await expect(q).rejects.toMatchObject({ code: 'EDGE_ERR_UPLINK_ABORTED' });
    expect(Date.now() - t0).toBeLessThan(2000);
    await hub.app.close();
  });

  it('waits for the path to the hub (the tunnel) before sending, and stops waiting on abort', async () => {
    const hub = await startHub();
    let open!: () => void;
    const up = createRestUplink({ url: hub.url, token: TOKEN, site: SITE, whenReachable: () => new Promise<void>((resolve) => (open = resolve)) });
    const sending = up.send(batchOf(numbered(SITE, 1, 2)));
    await new Promise((r) => setTimeout(r, 100));
    expect(hub.arrivals).toEqual([]); // nothing tried while the link is down
    open();
    expect(await sending).toMatchObject({ accepted: 2 });
    expect(hub.arrivals).toEqual([1, 2]);

    const ac = new AbortController();
    const never = createRestUplink({ url: hub.url, token: TOKEN, site: SITE, whenReachable: () => new Promise<void>(() => undefined) });
    const waiting = never.send(batchOf(numbered(SITE, 3, 1)), ac.signal);
    setTimeout(() => ac.abort(), 20);
    await expect(waiting).rejects.toMatchObject({ code: 'EDGE_ERR_UPLINK_ABORTED' });
    expect(hub.arrivals).toEqual([1, 2]);
  });

  it('with the forwarder: a hub down for a while then up gets every reading exactly once, in order', async () => {
    const probe = await startHub();
    const port = probe.port;
    await probe.app.close(); // nothing listens there now: connection refused
    const outbox = openOutbox({ file: tmp.file('outbox.db'), site: SITE });
    cleanups.push(() => outbox.close());
    const up = createRestUplink({ url: `http://127.0.0.1:${port}`, token: TOKEN, site: SITE, timeoutMs: 2000 });
    const f = startForwarder({ outbox, uplink: up, batchSize: 500, logger: quiet(), backoff: { initialMs: 10, maxMs: 100 } });
    cleanups.push(() => f.stop());

    for (let b = 0; b < 6; b++) {
      outbox.append(inputs(SITE, b * 500, 500));
      f.notify();
    }
    await waitFor('failures while the hub is down', () => f.stats().failures >= 2);
    expect(f.stats()).toMatchObject({ connected: false, sent: 0, lastErrorCode: 'EDGE_ERR_UPLINK_UNREACHABLE' });
    expect(await store.count()).toBe(0);

    const hub = await startHub(port);
    // more readings while it drains
    for (let b = 6; b < 10; b++) {
      outbox.append(inputs(SITE, b * 500, 500));
      f.notify();
    }
    await f.flush();
    expect(f.stats()).toMatchObject({ connected: true, sent: 5000 });
    expect(await store.count({ site: SITE })).toBe(5000);
    expect((await store.streams(SITE)).reduce((n, x) => Math.max(n, x.highSeq), 0)).toBe(5000);
    expect(hub.arrivals).toHaveLength(5000);
    expectStrictlyIncreasing(hub.arrivals);
    // per device, arrival order is origin order
    const page = (await store.query({ site: SITE, device: 'd1', limit: 10_000 })).items;
    expectStrictlyIncreasing(page.map((r) => r.seq));
    expect(outbox.stats()).toMatchObject({ pending: 0, ackedSeq: 5000 });
    await f.stop();
    await up.close();
  });

  it('with the forwarder: batches the hub refuses as too large (413) are halved until they fit, and every reading arrives once, in order', async () => {
    // About 35 KiB of gzip for 2,000 readings: the hub takes at most 8 KiB per request.
    const hub = await startHub(0, undefined, 8 * 1024);
    const outbox = openOutbox({ file: tmp.file('outbox.db'), site: SITE });
    cleanups.push(() => outbox.close());
    const log = captureLogs();
    const up = createRestUplink({ url: hub.url, token: TOKEN, site: SITE });
    const f = startForwarder({ outbox, uplink: up, batchSize: 2000, logger: log.logger });
    cleanups.push(() => f.stop());
    outbox.append(inputs(SITE, 0, 2000));
    f.notify();
    await f.flush();
    expect(hub.arrivals).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
    expect(await store.count({ site: SITE })).toBe(2000);
    const shrunk = log.lines.filter((l) => l.msg === 'the hub refused a batch as too large: sending smaller batches');
    expect(shrunk.map((l) => l.limit)).toEqual(expect.arrayContaining([1000]));
    expect(f.stats()).toMatchObject({ sent: 2000, failures: 0, connected: true });
    await f.stop();
    await up.close();
  });
});
