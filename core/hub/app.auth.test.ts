import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../kernel/index.ts';
import { Registry } from 'prom-client';
import { buildHubApp, requireAuth } from './index.ts';
import { batch, reading, err, startTestHub, type TestHub } from '../../test/support/hub/harness.ts';

type Named = { items: { metadata: { name: string } }[] };

describe('hub auth', () => {
  let h: TestHub;
  const logLines: string[] = [];
  beforeAll(async () => {
    const logger = createLogger({ level: 'debug', destination: { write: (l: string) => void logLines.push(l) } });
    h = await startTestHub({ logger });
  });
  afterAll(() => h.close());

  it('answers 401 without, with a malformed, a wrong or a revoked token', async () => {
    const none = await h.call('GET', '/api/v1/sites', { token: null });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toMatchObject({ code: 'EDGE_ERR_HUB_UNAUTHENTICATED', message: expect.stringMatching(/Bearer/) });
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);

    const basic = await h.call('GET', '/api/v1/sites', { token: null, headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
    expect(basic.statusCode).toBe(401);
    expect(err(basic).code).toBe('EDGE_ERR_HUB_UNAUTHENTICATED');

    const bad = await h.call('GET', '/api/v1/sites', { token: 'edgeadm_abcdefgh_notarealsecretnotarealsecretnotareal' });
    expect(bad.statusCode).toBe(401);
    expect(err(bad).message).toMatch(/invalid, expired or revoked/);

    const t = await h.tokens.create({ role: 'admin' });
    expect((await h.call('GET', '/api/v1/sites', { token: t.token })).statusCode).toBe(200);
    const revoke = await h.call('DELETE', `/api/v1/tokens/${t.id}`);
    expect(revoke.statusCode).toBe(204);
    const after = await h.call('GET', '/api/v1/sites', { token: t.token });
    expect(after.statusCode).toBe(401);
  });

  it('lets viewers read but not write', async () => {
    expect((await h.call('GET', '/api/v1/devices', { token: h.viewer })).statusCode).toBe(200);
    expect((await h.call('GET', '/api/v1/telemetry', { token: h.viewer })).statusCode).toBe(200);
    for (const [method, url, body] of [
      ['POST', '/api/v1/sites', { metadata: { name: 'x' }, spec: {} }],
      ['PUT', '/api/v1/sites/plant-a', { spec: {} }],
      ['DELETE', '/api/v1/sites/plant-a', undefined],
      ['PUT', '/api/v1/sites/plant-a/status', { status: {} }],
      ['POST', '/api/v1/sites/plant-a/telemetry', batch([])],
      ['POST', '/api/v1/sites/plant-a/devices/pump-a/commands', { resource: 'setpoint', value: 1 }],
      ['POST', '/api/v1/tokens', { role: 'viewer' }],
      ['GET', '/api/v1/tokens', undefined],
    ] as const) {
      const r = await h.call(method, url, { token: h.viewer, body });
      expect(r.statusCode, `${method} ${url}`).toBe(403);
      expect(r.json()).toMatchObject({ code: 'EDGE_ERR_HUB_FORBIDDEN', message: expect.stringContaining('role viewer') });
    }
  });

  it("keeps an agent to its own site, naming the other site", async () => {
    // Reads of its own site.
    expect((await h.call('GET', '/api/v1/sites/plant-a', { token: h.agentA })).statusCode).toBe(200);
    expect((await h.call('GET', '/api/v1/devices/pump-a', { token: h.agentA })).statusCode).toBe(200);
    expect((await h.call('GET', '/api/v1/deviceprofiles/thermo', { token: h.agentA })).statusCode).toBe(200);
    const list = await h.call('GET', '/api/v1/devices', { token: h.agentA });
    expect(list.json<Named>().items.map((d) => d.metadata.name)).toEqual(['pump-a']);
    const sites = await h.call('GET', '/api/v1/sites', { token: h.agentA });
    expect(sites.json<Named>().items.map((d) => d.metadata.name)).toEqual(['plant-a']);

    // Writes of its own site, through the routes a site reports on.
    const ingest = await h.call('POST', '/api/v1/sites/plant-a/telemetry', { token: h.agentA, body: batch([reading('plant-a', 1)]) });
    expect(ingest.statusCode).toBe(200);
    const st = await h.call('PUT', '/api/v1/sites/plant-a/device-status', { token: h.agentA, body: { devices: { 'pump-a': { operatingState: 'UP' } } } });
    expect(st.json()).toEqual({ updated: ['pump-a'], ignored: [] });
    expect((await h.call('GET', '/api/v1/sites/plant-a/commands', { token: h.agentA })).statusCode).toBe(200);

    // Anything of plant-b.
    for (const [method, url, body] of [
      ['GET', '/api/v1/sites/plant-b', undefined],
      ['GET', '/api/v1/devices/pump-b', undefined],
      ['GET', '/api/v1/devices?site=plant-b', undefined],
      ['POST', '/api/v1/sites/plant-b/telemetry', batch([reading('plant-b', 1)])],
      ['GET', '/api/v1/sites/plant-b/commands', undefined],
    ] as const) {
      const r = await h.call(method, url, { token: h.agentA, body });
      expect(r.statusCode, `${method} ${url}`).toBe(403);
      expect(err(r).code).toBe('EDGE_ERR_HUB_FORBIDDEN');
      expect(err(r).message, `${method} ${url}`).toContain("site 'plant-b'");
      expect(err(r).details).toMatchObject({ site: 'plant-b', ownSite: 'plant-a' });
    }

    // Nothing an agent has no business with, even at its own site: the status of its Site, Nodes and Devices is the hub's record.
    for (const [method, url, body] of [
      ['PUT', '/api/v1/sites/plant-a/status', { status: { phase: 'Online' } }],
      ['PUT', '/api/v1/devices/pump-a/status', { status: { operatingState: 'UP' } }],
      ['PUT', '/api/v1/sites/plant-b/status', { status: {} }],
      ['PUT', '/api/v1/devices/pump-b/status', { status: {} }],
      ['GET', '/metrics', undefined],
      ['PUT', '/api/v1/sites/plant-a', { spec: {} }],
      ['POST', '/api/v1/devices', { metadata: { name: 'x' }, spec: {} }],
      ['DELETE', '/api/v1/devices/pump-a', undefined],
      ['POST', '/api/v1/sites/plant-a/devices/pump-a/commands', { resource: 'setpoint', value: 1 }],
      ['GET', '/api/v1/telemetry', undefined],
      ['GET', '/api/v1/tokens', undefined],
      ['PUT', '/api/v1/deviceprofiles/thermo/status', { status: {} }],
    ] as const) {
      const r = await h.call(method, url, { token: h.agentA, body });
      expect(r.statusCode, `${method} ${url}`).toBe(403);
    }
  });

  it('authenticates before it parses a body', async () => {
    const r = await h.call('POST', '/api/v1/sites', { token: null, body: '{not json', headers: { 'content-type': 'application/json' } });
    expect(r.statusCode).toBe(401);
  });

  it('accepts ?access_token= only on the stream routes', async () => {
    const q = await h.call('GET', `/api/v1/sites?access_token=${h.admin}`, { token: null });
    expect(q.statusCode).toBe(401);
  });

  it('exports requireAuth for routes added by the caller', async () => {
    const extra = buildHubApp({
      store: h.store,
      telemetry: h.telemetry,
      tokens: h.tokens,
      commands: h.commands,
      healthKeys: h.healthKeys,
      logger: createLogger({ level: 'silent' }),
      metrics: new Registry(),
    });
    extra.get(
      '/api/v1/sites/:site/hello',
      { preHandler: requireAuth(['admin', 'agent'], { siteParam: 'site' }), schema: { hide: true } },
      (req) => ({ principal: req.principal }),
    );
    const as = (token: string, site: string) => extra.inject({ url: `/api/v1/sites/${site}/hello`, headers: { authorization: `Bearer ${token}` } });
    const ok = await as(h.agentA, 'plant-a');
    expect(ok.statusCode).toBe(200);
    expect(ok.json<{ principal: unknown }>().principal).toMatchObject({ role: 'agent', site: 'plant-a' });
    expect((await as(h.agentA, 'plant-b')).statusCode).toBe(403);
    expect((await as(h.viewer, 'plant-a')).statusCode).toBe(403);
    expect((await as(h.admin, 'plant-b')).statusCode).toBe(200);
    await extra.close();
  });

  it('never writes a token to the log', async () => {
    await h.call('GET', '/api/v1/sites', { token: h.admin });
    await h.call('GET', `/api/v1/telemetry/stream?access_token=${h.viewer}&site=nowhere`, { token: 'edgeadm_aaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' });
    await h.call('GET', '/api/v1/nope', { token: h.agentA });
    const text = logLines.join('');
    expect(text).toContain('request');
    for (const t of [h.admin, h.viewer, h.agentA]) {
      expect(text).not.toContain(t.slice(17));
    }
    expect(text).not.toContain('bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb');
    expect(text).toContain('access_token=[redacted]');
  });
});

describe('hub system routes', () => {
  let h: TestHub;
  beforeAll(async () => {
    h = await startTestHub();
  });
  afterAll(() => h.close());

  it('serves /healthz without a token', async () => {
    const r = await h.call('GET', '/healthz', { token: null });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ status: 'ok' });
  });

  it('serves /metrics to operators (not agents), with request and stream metrics', async () => {
    expect((await h.call('GET', '/metrics', { token: null })).statusCode).toBe(401);
    expect((await h.call('GET', '/metrics', { token: h.agentA })).statusCode).toBe(403);
    await h.call('GET', '/api/v1/sites');
    const r = await h.call('GET', '/metrics', { token: h.viewer });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.body).toMatch(/edgeadm_hub_http_requests_total\{method="GET",route="\/api\/v1\/sites",status="200"\} [1-9]/);
    expect(r.body).toMatch(/edgeadm_hub_http_requests_total\{method="GET",route="\/metrics",status="401"\} 1/);
    expect(r.body).toMatch(/edgeadm_hub_http_requests_total\{method="GET",route="\/metrics",status="403"\} 1/);
    expect(r.body).toContain('edgeadm_hub_http_request_duration_seconds_bucket');
    expect(r.body).toContain('edgeadm_hub_stream_clients');
    expect(r.body).toContain('edgeadm_hub_stream_clients_dropped_total');
    expect((await h.call('GET', '/metrics', { token: h.admin })).statusCode).toBe(200);
  });

  it('publishes an OpenAPI document where every route has tags and a summary', async () => {
    const r = await h.call('GET', '/openapi.json', { token: null });
    expect(r.statusCode).toBe(200);
    const doc = r.json<{ openapi: string; paths: Record<string, Record<string, { tags?: string[]; summary?: string }>> }>();
    expect(doc.openapi).toMatch(/^3\./);
    const ops = Object.entries(doc.paths).flatMap(([p, methods]) => Object.entries(methods).map(([m, op]) => ({ id: `${m.toUpperCase()} ${p}`, op })));
    expect(ops.length).toBeGreaterThan(30);
    for (const { id, op } of ops) {
      expect(op.tags?.length, id).toBeGreaterThan(0);
      expect(op.summary, id).toBeTruthy();
    }
    const ids = ops.map((o) => o.id);
    for (const id of [
      'GET /api/v1/devices',
      'POST /api/v1/devices',
      'PUT /api/v1/devices/{name}',
      'PUT /api/v1/devices/{name}/status',
      'DELETE /api/v1/addons/{name}',
      'POST /api/v1/sites/{site}/telemetry',
      'GET /api/v1/telemetry',
      'GET /api/v1/telemetry/stream',
      'POST /api/v1/sites/{site}/devices/{device}/commands',
      'GET /api/v1/commands/{id}',
      'POST /api/v1/tokens',
      'GET /metrics',
      'GET /healthz',
    ]) {
      expect(ids).toContain(id);
    }
    const docs = await h.call('GET', '/docs', { token: null });
    expect([200, 302]).toContain(docs.statusCode);
  });

  it('answers unknown routes with a coded 404', async () => {
    const r = await h.call('GET', '/api/v1/nothing-here');
    expect(r.statusCode).toBe(404);
    expect(r.json()).toMatchObject({ code: 'EDGE_ERR_HUB_ROUTE_NOT_FOUND', message: 'no route GET /api/v1/nothing-here' });
  });
});
