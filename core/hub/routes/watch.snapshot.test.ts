/**
 * A watch snapshot larger than the slow-reader limit (the console's watch
 * with tens of thousands of devices) reaches a client that reads, whole:
 * it is sent as the client reads it, not dropped as a slow reader.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { device, memoryBackend, startTestHub, type TestHub } from '../../../test/support/hub/harness.ts';

const LIMIT = 64 * 1024;
const DEVICES = 600;

describe('GET /api/v1/watch with a snapshot larger than the slow-reader limit', () => {
  let h: TestHub;
  let base: string;
  beforeAll(async () => {
    h = await startTestHub({ backend: memoryBackend, streams: { heartbeatMs: 1000, maxBufferedBytes: LIMIT } });
    const pad = 'x'.repeat(300);
    for (let i = 0; i < DEVICES; i++) {
      const d = device(`meter-${i}`, i % 2 ? 'plant-a' : 'plant-b');
      await h.store.apply({ ...d, metadata: { ...d.metadata, annotations: { note: pad } } });
    }
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  });
  afterAll(() => h.close());

  it('delivers every object and `synced`, and drops no one', async () => {
    const ac = new AbortController();
    const res = await fetch(`${base}/api/v1/watch?kinds=Device&access_token=${h.viewer}`, { signal: ac.signal });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    let bytes = 0;
    while (!text.includes('event: synced')) {
      const chunk = await reader.read();
      if (chunk.done) break;
      bytes += chunk.value.byteLength;
      text += decoder.decode(chunk.value, { stream: true });
    }
    ac.abort();
    expect(bytes).toBeGreaterThan(2 * LIMIT);
    expect(text).toContain('event: synced');
    const names = new Set([...text.matchAll(/"name":"(meter-\d+)"/g)].map((m) => m[1]));
    expect(names.size).toBe(DEVICES);
    const dropped = (await h.registry.getSingleMetric('edgeadm_hub_stream_clients_dropped_total')?.get())?.values.reduce((n, v) => n + v.value, 0) ?? 0;
    expect(dropped).toBe(0);
  });
});
