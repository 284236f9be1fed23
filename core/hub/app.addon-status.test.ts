import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, type TestHub, startTestHub } from '../../test/support/hub/harness.ts';

describe.each(BACKENDS)('device and addon status reported by sites ($name)', (backend) => {
  let h: TestHub;
  beforeAll(async () => {
    h = await startTestHub({ backend });
    const addon = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'edgeadm.io/v1alpha1', kind: 'Addon', metadata: { name }, spec });
    expect((await h.call('PUT', '/api/v1/addons/meters', { body: addon('meters', { plugin: 'modbus', siteSelector: {} }) })).statusCode).toBe(200);
    expect((await h.call('PUT', '/api/v1/addons/only-b', { body: addon('only-b', { plugin: 'mqtt', sites: ['plant-b'] }) })).statusCode).toBe(200);
  });
  afterAll(() => h.close());

  const status = async (name: string): Promise<Record<string, unknown> | undefined> =>
    (await h.call('GET', `/api/v1/addons/${name}`)).json<{ status?: { sites?: Record<string, unknown> } }>().status?.sites;

  it("keeps each site's entry, ignores Addons that do not target the site", async () => {
    const a = await h.call('PUT', '/api/v1/sites/plant-a/addon-status', { token: h.agentA, body: { addons: { meters: { state: 'running' }, 'only-b': { state: 'running' }, ghost: { state: 'running' } } } });
    expect(a.statusCode).toBe(200);
    expect(a.json()).toEqual({ updated: ['meters'], ignored: ['only-b', 'ghost'] });
    const b = await h.call('PUT', '/api/v1/sites/plant-b/addon-status', { token: h.agentB, body: { addons: { meters: { state: 'failed', code: 'EDGE_ERR_X', message: 'port busy' } } } });
    expect(b.json()).toEqual({ updated: ['meters'], ignored: [] });
    expect(await status('meters')).toEqual({ 'plant-a': { state: 'running' }, 'plant-b': { state: 'failed', code: 'EDGE_ERR_X', message: 'port busy' } });
    expect(await status('only-b')).toBeUndefined();
  });

  it("sets the operating state of the site's own devices, keeping what else their status holds", async () => {
    const dev = async (name: string): Promise<Record<string, unknown> | undefined> => (await h.call('GET', `/api/v1/devices/${name}`)).json<{ status?: Record<string, unknown> }>().status;
    expect((await h.call('PUT', '/api/v1/devices/pump-a/status', { body: { status: { reported: { temp: { value: 1, origin: 5 } } } } })).statusCode).toBe(200);
    const r = await h.call('PUT', '/api/v1/sites/plant-a/device-status', {
      token: h.agentA,
      body: { devices: { 'pump-a': { operatingState: 'DOWN', message: 'no answer', lastSeen: '2026-11-26T05:00:00.000Z' }, 'pump-b': { operatingState: 'UP' }, ghost: { operatingState: 'UP' } } },
    });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ updated: ['pump-a'], ignored: ['pump-b', 'ghost'] });
    expect(await dev('pump-a')).toEqual({ reported: { temp: { value: 1, origin: 5 } }, operatingState: 'DOWN', message: 'no answer', lastSeen: '2026-11-26T05:00:00.000Z' });
    // Back up: the old reason goes.
    await h.call('PUT', '/api/v1/sites/plant-a/device-status', { token: h.agentA, body: { devices: { 'pump-a': { operatingState: 'UP' } } } });
    expect(await dev('pump-a')).toEqual({ reported: { temp: { value: 1, origin: 5 } }, operatingState: 'UP', lastSeen: '2026-11-26T05:00:00.000Z' });
    expect((await h.call('PUT', '/api/v1/sites/plant-a/device-status', { token: h.agentA, body: { devices: { 'pump-a': { operatingState: 'FINE' } } } })).statusCode).toBe(400);
    expect((await h.call('PUT', '/api/v1/sites/plant-b/device-status', { token: h.agentA, body: { devices: {} } })).statusCode).toBe(403);
  });

  it("refuses another site's agent and bad bodies", async () => {
    expect((await h.call('PUT', '/api/v1/sites/plant-b/addon-status', { token: h.agentA, body: { addons: {} } })).statusCode).toBe(403);
    expect((await h.call('PUT', '/api/v1/sites/plant-a/addon-status', { token: h.agentA, body: { addons: { meters: { state: '' } } } })).statusCode).toBe(400);
    expect((await h.call('PUT', '/api/v1/sites/plant-a/addon-status', { token: h.agentA, body: { meters: 'running' } })).statusCode).toBe(400);
    expect((await h.call('PUT', '/api/v1/sites/plant-z/addon-status', { body: { addons: {} } })).statusCode).toBe(404);
  });
  it('shows a report about an older generation of the Addon as pending until the site reports the current one', async () => {
    const body = (config: Record<string, unknown>) => ({ apiVersion: 'edgeadm.io/v1alpha1', kind: 'Addon', metadata: { name: 'gen' }, spec: { plugin: 'opcua', sites: ['plant-a'], config } });
    const created = (await h.call('PUT', '/api/v1/addons/gen', { body: body({ a: 1 }) })).json<{ metadata: { generation: number } }>();
    const first = created.metadata.generation;
    await h.call('PUT', '/api/v1/sites/plant-a/addon-status', { token: h.agentA, body: { addons: { gen: { state: 'running', observedGeneration: first } } } });
    expect(await status('gen')).toEqual({ 'plant-a': { state: 'running', observedGeneration: first } });
    // The spec changes: the site's report now describes the old one.
    const updated = (await h.call('PUT', '/api/v1/addons/gen', { body: body({ a: 2 }) })).json<{ metadata: { generation: number } }>();
    expect(updated.metadata.generation).toBe(first + 1);
    expect(await status('gen')).toEqual({
      'plant-a': { state: 'pending', observedGeneration: first, message: `the site reported generation ${first}; the spec is at ${first + 1}; last report: running` },
    });
    await h.call('PUT', '/api/v1/sites/plant-a/addon-status', { token: h.agentA, body: { addons: { gen: { state: 'running', observedGeneration: first + 1 } } } });
    expect(await status('gen')).toEqual({ 'plant-a': { state: 'running', observedGeneration: first + 1 } });
    expect((await h.call('PUT', '/api/v1/sites/plant-a/addon-status', { token: h.agentA, body: { addons: { gen: { state: 'running', observedGeneration: 0 } } } })).statusCode).toBe(400);
  });
});
