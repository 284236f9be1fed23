import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { Reading } from '../sdk/index.ts';
import { BACKENDS, ingestDirect, reading, startTestHub, type TestHub } from '../../test/support/hub/harness.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => T | Promise<T>, ms = 5000): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function metricValue(h: TestHub, name: string, labels: Record<string, string>): Promise<number> {
  const m = h.registry.getSingleMetric(name);
  if (!m) return 0;
  const data = await m.get();
  const v = data.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

/** Reads an SSE response body, collecting `readings` events and comments. */
function sseReader(body: ReadableStream<Uint8Array>) {
  const events: Reading[][] = [];
  const comments: string[] = [];
  let buf = '';
  const decoder = new TextDecoder();
  const reader = body.getReader();
  const done = (async () => {
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch {
        return;
      }
      if (chunk.done) return;
      buf += decoder.decode(chunk.value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) comments.push(line.slice(1).trim());
          else if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (event === 'readings') events.push(JSON.parse(data) as Reading[]);
      }
    }
  })();
  return { events, comments, done };
}

describe.each(BACKENDS)('hub live telemetry streams ($name)', (backend) => {
  let h: TestHub | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  async function listen(opts: { maxBufferedBytes?: number } = {}): Promise<{ hub: TestHub; base: string; ws: string }> {
    const hub = await startTestHub({ backend, streams: { heartbeatMs: 100, ...opts } });
    h = hub;
    await hub.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = hub.app.server.address() as AddressInfo;
    return { hub, base: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}` };
  }

  it('streams filtered readings as Server-Sent Events, with heartbeats, and unsubscribes on disconnect', async () => {
    const { hub, base } = await listen();
    const ac = new AbortController();
    const res = await fetch(`${base}/api/v1/telemetry/stream?site=plant-a&device=pump-a&access_token=${hub.viewer}`, { signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    if (!res.body) throw new Error('no body');
    const sse = sseReader(res.body);
    await until('the subscription', async () => (await metricValue(hub, 'edgeadm_hub_stream_clients', { transport: 'sse' })) === 1);

    await ingestDirect(hub.telemetry, 'plant-a', [reading('plant-a', 1), reading('plant-a', 2, { device: 'fan-a' })]);
    await ingestDirect(hub.telemetry, 'plant-b', [reading('plant-b', 1)]);
    await ingestDirect(hub.telemetry, 'plant-a', [reading('plant-a', 3)]);
    await until('two events', () => sse.events.length >= 2);
    expect(sse.events.map((e) => e.map((r) => `${r.site}/${r.device}/${r.seq}`))).toEqual([['plant-a/pump-a/1'], ['plant-a/pump-a/3']]);
    expect(sse.events[0]?.[0]).toEqual({ ...reading('plant-a', 1), stream: 'token:test/test-stream' });
    await until('a heartbeat', () => sse.comments.includes('heartbeat'));

    ac.abort();
    await sse.done;
    await until('the unsubscribe', async () => (await metricValue(hub, 'edgeadm_hub_stream_clients', { transport: 'sse' })) === 0);
    await ingestDirect(hub.telemetry, 'plant-a', [reading('plant-a', 4)]);
  });

  it('refuses the stream without a valid token', async () => {
    const { hub, base } = await listen();
    expect((await fetch(`${base}/api/v1/telemetry/stream`)).status).toBe(401);
    const agent = await fetch(`${base}/api/v1/telemetry/stream?access_token=${hub.agentA}`);
    expect(agent.status).toBe(403);
    expect(((await agent.json()) as { code: string }).code).toBe('EDGE_ERR_HUB_FORBIDDEN');
  });

  it('streams filtered readings over WebSocket and unsubscribes on close', async () => {
    const { hub, ws: wsBase } = await listen();
    const ws = new WebSocket(`${wsBase}/api/v1/telemetry/ws?site=plant-b&resource=temp`, { headers: { authorization: `Bearer ${hub.viewer}` } });
    const messages: { type: string; readings: Reading[] }[] = [];
    ws.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString('utf8')) as { type: string; readings: Reading[] }));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    await until('the subscription', async () => (await metricValue(hub, 'edgeadm_hub_stream_clients', { transport: 'ws' })) === 1);
    await ingestDirect(hub.telemetry, 'plant-b', [reading('plant-b', 1, { device: 'pump-b' }), reading('plant-b', 2, { device: 'pump-b', resource: 'rpm' })]);
    await ingestDirect(hub.telemetry, 'plant-a', [reading('plant-a', 1)]);
    await until('a message', () => messages.length >= 1);
    await sleep(50);
    expect(messages).toEqual([{ type: 'readings', readings: [{ ...reading('plant-b', 1, { device: 'pump-b' }), stream: 'token:test/test-stream' }] }]);

    ws.close();
    await until('the unsubscribe', async () => (await metricValue(hub, 'edgeadm_hub_stream_clients', { transport: 'ws' })) === 0);
  });

  it('takes the WebSocket token from access_token and refuses a missing one', async () => {
    const { hub, ws: wsBase } = await listen();
    const status = (url: string) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.once('open', () => {
          ws.close();
          resolve(101);
        });
        ws.once('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.once('error', reject);
      });
    expect(await status(`${wsBase}/api/v1/telemetry/ws`)).toBe(401);
    expect(await status(`${wsBase}/api/v1/telemetry/ws?access_token=${hub.agentB}`)).toBe(403);
    expect(await status(`${wsBase}/api/v1/telemetry/ws?access_token=${hub.admin}`)).toBe(101);
  });

  it('drops a client that reads too slowly, counting it', async () => {
    const { hub, base, ws: wsBase } = await listen({ maxBufferedBytes: 64 * 1024 });
    const { port } = new URL(base);
    // An SSE client that never reads.
    const sock = connect(Number(port), '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', r));
    sock.write(`GET /api/v1/telemetry/stream?access_token=${hub.viewer} HTTP/1.1\r\nHost: x\r\n\r\n`);
    sock.pause();
    let sockClosed = false;
    sock.on('close', () => (sockClosed = true));
    // A WebSocket client that never reads.
    const ws = new WebSocket(`${wsBase}/api/v1/telemetry/ws`, { headers: { authorization: `Bearer ${hub.viewer}` } });
    await new Promise<void>((r) => ws.once('open', r));
    ws.pause();
    await until('both subscriptions', async () =>
      (await metricValue(hub, 'edgeadm_hub_stream_clients', { transport: 'sse' })) === 1 &&
      (await metricValue(hub, 'edgeadm_hub_stream_clients', { transport: 'ws' })) === 1,
    );

    const big = 'x'.repeat(2000);
    let seq = 1;
    for (let batch = 0; batch < 2000; batch++) {
      const rs = Array.from({ length: 100 }, () => reading('plant-a', seq++, { value: big, valueType: 'String' }));
      await ingestDirect(hub.telemetry, 'plant-a', rs);
      if (batch % 10 === 0) await sleep(1);
      const sse = await metricValue(hub, 'edgeadm_hub_stream_clients_dropped_total', { transport: 'sse' });
      const wsd = await metricValue(hub, 'edgeadm_hub_stream_clients_dropped_total', { transport: 'ws' });
      if (sse >= 1 && wsd >= 1) break;
    }
    expect(await metricValue(hub, 'edgeadm_hub_stream_clients_dropped_total', { transport: 'sse' })).toBe(1);
    expect(await metricValue(hub, 'edgeadm_hub_stream_clients_dropped_total', { transport: 'ws' })).toBe(1);
    expect(await metricValue(hub, 'edgeadm_hub_stream_clients', { transport: 'sse' })).toBe(0);
    expect(await metricValue(hub, 'edgeadm_hub_stream_clients', { transport: 'ws' })).toBe(0);
    sock.resume();
    await until('the SSE socket closed', () => sockClosed);
    ws.resume();
    await until('the WebSocket closed', () => ws.readyState === WebSocket.CLOSED);
    // The hub still serves.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('ends open streams when the app closes', async () => {
    const { hub, base, ws: wsBase } = await listen();
    const res = await fetch(`${base}/api/v1/telemetry/stream`, { headers: { authorization: `Bearer ${hub.viewer}` } });
    if (!res.body) throw new Error('no body');
    const sse = sseReader(res.body);
    const ws = new WebSocket(`${wsBase}/api/v1/telemetry/ws?access_token=${hub.viewer}`);
    await new Promise<void>((r) => ws.once('open', r));
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    const t0 = Date.now();
    await hub.app.close();
    expect(Date.now() - t0).toBeLessThan(3000);
    await sse.done;
    expect(await closed).toBe(1001);
  });
});
