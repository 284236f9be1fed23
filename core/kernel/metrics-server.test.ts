import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startMetricsServer, type MetricsServer } from './metrics-server.ts';

let server: MetricsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('startMetricsServer', () => {
  it('serves the registry at /metrics, the probes with their reasons, and nothing else', async () => {
    const registry = new Registry();
    new Counter({ name: 'things_total', help: 'things', registers: [registry] }).inc(3);
    let ready: string | undefined = 'still listing';
    server = await startMetricsServer({ port: 0, metrics: registry, health: { live: () => undefined, ready: () => ready } });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.headers.get('content-type')).toBe(registry.contentType);
    expect(await metrics.text()).toContain('things_total 3');
    expect(await fetch(`${server.url}/healthz`).then(async (r) => [r.status, await r.text()])).toEqual([200, 'ok\n']);
    expect(await fetch(`${server.url}/readyz`).then(async (r) => [r.status, await r.text()])).toEqual([503, 'still listing\n']);
    ready = undefined;
    expect((await fetch(`${server.url}/readyz?verbose`)).status).toBe(200);
    expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${server.url}/`)).status).toBe(404);
  });

  it('serves no probes without checks', async () => {
    server = await startMetricsServer({ port: 0, metrics: new Registry() });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(404);
  });
});
