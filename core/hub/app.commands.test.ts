import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Command } from './index.ts';
import { BACKENDS, err, startTestHub, type TestHub } from '../../test/support/hub/harness.ts';

describe.each(BACKENDS)('hub commands API ($name)', (backend) => {
  let h: TestHub;
  beforeAll(async () => {
    h = await startTestHub({ backend });
  });
  afterAll(() => h.close());

  const send = (site: string, dev: string, body: unknown, token?: string) =>
    h.call('POST', `/api/v1/sites/${site}/devices/${dev}/commands`, { body, ...(token ? { token } : {}) });

  it('enqueues a write, records it as the desired value and tells the sync channel', async () => {
    const pushed: Command[] = [];
    const off = h.commands.onEnqueue((c) => pushed.push(c));
    const r = await send('plant-a', 'pump-a', { resource: 'setpoint', value: 42.5, ttlSeconds: 60 });
    off();
    expect(r.statusCode).toBe(202);
    const accepted = r.json<{ id: string; state: string; expiresAt: string }>();
    expect(accepted.state).toBe('pending');
    expect(Date.parse(accepted.expiresAt) - Date.now()).toBeGreaterThan(50_000);
    expect(Date.parse(accepted.expiresAt) - Date.now()).toBeLessThanOrEqual(60_000);
    expect(pushed.map((c) => c.id)).toEqual([accepted.id]);

    const dev = (await h.call('GET', '/api/v1/devices/pump-a')).json<{ spec: { desired?: Record<string, unknown> } }>();
    expect(dev.spec.desired).toEqual({ setpoint: 42.5 });
    const second = await send('plant-a', 'pump-a', { resource: 'mode', value: 'eco' });
    expect(second.statusCode).toBe(202);
    const dev2 = (await h.call('GET', '/api/v1/devices/pump-a')).json<{ spec: { desired?: Record<string, unknown> } }>();
    expect(dev2.spec.desired).toEqual({ setpoint: 42.5, mode: 'eco' });

    const got = await h.call('GET', `/api/v1/commands/${accepted.id}`, { token: h.viewer });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({ id: accepted.id, site: 'plant-a', device: 'pump-a', resource: 'setpoint', value: 42.5, state: 'pending' });
    const def = await h.commands.get(second.json<{ id: string }>().id);
    expect(def && Date.parse(def.expiresAt) - Date.parse(def.createdAt)).toBe(3600_000);
  });

  it('checks the device, the resource and the value', async () => {
    const cases: [string, string, unknown, number, string, RegExp][] = [
      ['plant-a', 'nope', { resource: 'setpoint', value: 1 }, 404, 'EDGE_ERR_HUB_NOT_FOUND', /Device 'nope' at site 'plant-a' not found/],
      ['plant-b', 'pump-a', { resource: 'setpoint', value: 1 }, 404, 'EDGE_ERR_HUB_NOT_FOUND', /at site 'plant-b'/],
      ['plant-a', 'pump-a', { resource: 'temp', value: 1 }, 400, 'EDGE_ERR_HUB_COMMAND_INVALID', /read-only \(readWrite 'R'\)/],
      ['plant-a', 'pump-a', { resource: 'volume', value: 1 }, 400, 'EDGE_ERR_HUB_COMMAND_INVALID', /has no resource 'volume'/],
      ['plant-a', 'pump-a', { resource: 'setpoint', value: 'hot' }, 400, 'EDGE_ERR_HUB_COMMAND_INVALID', /must be a finite number/],
      ['plant-a', 'pump-a', { resource: 'setpoint', value: 101 }, 400, 'EDGE_ERR_HUB_COMMAND_INVALID', /above the resource maximum 100/],
      ['plant-a', 'pump-a', { resource: 'count', value: 70000 }, 400, 'EDGE_ERR_HUB_COMMAND_INVALID', /within 0\.\.65535/],
      ['plant-a', 'pump-a', { resource: 'setpoint' }, 400, 'EDGE_ERR_HUB_BAD_REQUEST', /value is required/],
      ['plant-a', 'pump-a', { resource: 'setpoint', value: 1, ttlSeconds: 0 }, 400, 'EDGE_ERR_HUB_BAD_REQUEST', /ttlSeconds/],
    ];
    for (const [site, dev, body, status, code, message] of cases) {
      const r = await send(site, dev, body);
      expect(r.statusCode, JSON.stringify(body)).toBe(status);
      expect(r.json()).toMatchObject({ code, message: expect.stringMatching(message) });
    }
    expect((await send('plant-a', 'pump-a', { resource: 'count', value: 7 })).statusCode).toBe(202);
    expect(err(await h.call('GET', '/api/v1/commands/00000000-0000-0000-0000-000000000000')).code).toBe('EDGE_ERR_HUB_COMMAND_NOT_FOUND');
  });

  it("lets an agent list and complete its own site's commands only", async () => {
    const id = (await send('plant-b', 'pump-b', { resource: 'setpoint', value: 10 })).json<{ id: string }>().id;
    const list = await h.call('GET', '/api/v1/sites/plant-b/commands?state=pending', { token: h.agentB });
    expect(list.statusCode).toBe(200);
    expect(list.json<{ items: Command[] }>().items.map((c) => c.id)).toEqual([id]);
    expect((await h.call('GET', `/api/v1/commands/${id}`, { token: h.agentA })).statusCode).toBe(403);
    const foreign = await h.call('POST', `/api/v1/commands/${id}/result`, { token: h.agentA, body: { reported: 10 } });
    expect(foreign.statusCode).toBe(403);
    expect(err(foreign).message).toContain("site 'plant-b'");

    const done = await h.call('POST', `/api/v1/commands/${id}/result`, { token: h.agentB, body: { reported: 10 } });
    expect(done.statusCode).toBe(200);
    expect(done.json()).toMatchObject({ id, state: 'succeeded', result: { reported: 10 } });
    const twice = await h.call('POST', `/api/v1/commands/${id}/result`, { token: h.agentB, body: { reported: 10 } });
    expect(twice.statusCode).toBe(409);
    expect(err(twice).code).toBe('EDGE_ERR_HUB_COMMAND_STATE');

    const id2 = (await send('plant-b', 'pump-b', { resource: 'mode', value: 'off' })).json<{ id: string }>().id;
    const failed = await h.call('POST', `/api/v1/commands/${id2}/result`, { token: h.agentB, body: { error: { code: 'EDGE_ERR_MODBUS_TIMEOUT', message: 'no answer' } } });
    expect(failed.json()).toMatchObject({ state: 'failed', result: { error: { code: 'EDGE_ERR_MODBUS_TIMEOUT' } } });
    const bySate = await h.call('GET', '/api/v1/sites/plant-b/commands?state=failed', { token: h.viewer });
    expect(bySate.json<{ items: Command[] }>().items.map((c) => c.id)).toEqual([id2]);
    expect((await h.call('GET', '/api/v1/sites/plant-b/commands?state=weird')).statusCode).toBe(400);
  });
});

describe('hub tokens API', () => {
  let h: TestHub;
  beforeAll(async () => {
    h = await startTestHub();
  });
  afterAll(() => h.close());

  it('creates a token shown once, lists without secrets, revokes', async () => {
    const created = await h.call('POST', '/api/v1/tokens', { body: { role: 'agent', site: 'plant-a', description: 'gateway 7', ttlSeconds: 3600 } });
    expect(created.statusCode).toBe(201);
    const t = created.json<{ id: string; token: string; role: string; site: string; expiresAt: string }>();
    expect(t).toMatchObject({ role: 'agent', site: 'plant-a', description: 'gateway 7' });
    expect(t.token).toMatch(new RegExp(`^edgeadm_${t.id}_`));
    expect(t.expiresAt).toBeTruthy();
    expect((await h.call('GET', '/api/v1/sites/plant-a', { token: t.token })).statusCode).toBe(200);

    const list = await h.call('GET', '/api/v1/tokens');
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(t.token.slice(17));
    const items = list.json<{ items: { id: string; lastUsedAt?: string }[] }>().items;
    expect(items.map((i) => i.id)).toContain(t.id);
    expect(items.find((i) => i.id === t.id)?.lastUsedAt).toBeTruthy();

    expect((await h.call('DELETE', `/api/v1/tokens/${t.id}`)).statusCode).toBe(204);
    expect((await h.call('GET', '/api/v1/sites/plant-a', { token: t.token })).statusCode).toBe(401);
    const again = await h.call('DELETE', `/api/v1/tokens/${t.id}`);
    expect(again.statusCode).toBe(404);
    expect(err(again).code).toBe('EDGE_ERR_HUB_TOKEN_NOT_FOUND');
  });

  it('refuses inconsistent token requests', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ role: 'agent' }, 'EDGE_ERR_HUB_TOKEN_INVALID', /site is required/],
      [{ role: 'viewer', site: 'plant-a' }, 'EDGE_ERR_HUB_TOKEN_INVALID', /only allowed for role agent/],
      [{ role: 'agent', site: 'plant-zz' }, 'EDGE_ERR_HUB_TOKEN_INVALID', /Site 'plant-zz', which does not exist/],
      [{ role: 'superuser' }, 'EDGE_ERR_HUB_BAD_REQUEST', /role must be one of 'admin', 'viewer', 'agent'/],
      [{ role: 'viewer', secret: 'x' }, 'EDGE_ERR_HUB_BAD_REQUEST', /secret is not a known field/],
    ];
    for (const [body, code, message] of cases) {
      const r = await h.call('POST', '/api/v1/tokens', { body });
      expect(r.statusCode, JSON.stringify(body)).toBe(400);
      expect(r.json()).toMatchObject({ code, message: expect.stringMatching(message) });
    }
  });
});
