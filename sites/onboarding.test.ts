import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DeviceAnnouncement } from '../core/sdk/index.ts';
import { deferCleanup } from '../test/support/cleanup.ts';
import { quiet, tempDir, waitFor } from '../test/support/hub-fixture.ts';
import { LocalState } from './local-state.ts';
import { startOnboardingReporter } from './onboarding.ts';

const defer = deferCleanup();

/** A stand-in hub route: records each report and answers with `status()`. */
async function fakeHub(status: () => number): Promise<{ url: string; bodies: DeviceAnnouncement[]; auth: string[] }> {
  const bodies: DeviceAnnouncement[] = [];
  const auth: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/api/v1/sites/plant-a/pending-devices') {
        auth.push(req.headers.authorization ?? '');
        bodies.push(JSON.parse(text) as DeviceAnnouncement);
      }
      const code = status();
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(code < 300 ? {} : { code: 'EDGE_ERR_X', message: 'no' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  defer(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies, auth };
}

function announcement(id: string, model = 'P-1'): DeviceAnnouncement {
  return {
    source: 'announce',
    identifier: id,
    suggestedName: id,
    model,
    protocolName: 'mqtt',
    protocol: { topic: `edgeadm/plant-a/${id}` },
    profile: { deviceResources: [{ name: 'flow', properties: { valueType: 'Float64', readWrite: 'R' } }] },
  };
}

describe('onboarding reporter', () => {
  it('keeps announcements on disk while the hub is unreachable and reports them after a restart', async () => {
    const file = path.join(tempDir('onboarding'), 'replica.db');
    let state = new LocalState(file);
    // Nothing listens here.
    const down = startOnboardingReporter({ site: 'plant-a', state, hubUrl: () => 'http://127.0.0.1:9', token: 't', logger: quiet, backoff: { initialMs: 20, maxMs: 50 } });
    down.propose(announcement('pump-1'));
    down.propose(announcement('pump-2'));
    await waitFor('a failed attempt', () => down.stats().failures > 0);
    expect(down.stats()).toMatchObject({ sent: 0, unsent: 2 });
    await down.stop();
    state.close();

    const hub = await fakeHub(() => 200);
    state = new LocalState(file);
    defer(() => state.close());
    const up = startOnboardingReporter({ site: 'plant-a', state, hubUrl: () => hub.url, token: 'agent-token', logger: quiet });
    defer(() => up.stop());
    // Reported, and the hub's answers taken in (the hub has a body before the reporter has its answer).
    await waitFor('both reported', () => hub.bodies.length === 2 && up.stats().sent === 2);
    expect(hub.bodies.map((b) => b.identifier).sort()).toEqual(['pump-1', 'pump-2']);
    expect(hub.auth).toEqual(['Bearer agent-token', 'Bearer agent-token']);
    expect(up.stats()).toMatchObject({ sent: 2, unsent: 0 });

    // The same again is not re-sent; a changed one is.
    up.propose(announcement('pump-1'));
    up.propose(announcement('pump-1', 'P-2'));
    await waitFor('the changed one', () => hub.bodies.length === 3);
    expect(hub.bodies[2]).toMatchObject({ identifier: 'pump-1', model: 'P-2' });
    await new Promise((r) => setTimeout(r, 100));
    expect(hub.bodies).toHaveLength(3);
  });

  it('retries a 5xx, and does not retry a report the hub refuses as malformed', async () => {
    let code = 503;
    const hub = await fakeHub(() => code);
    const state = new LocalState(path.join(tempDir('onboarding'), 'replica.db'));
    defer(() => state.close());
    const r = startOnboardingReporter({ site: 'plant-a', state, hubUrl: () => hub.url, token: 't', logger: quiet, backoff: { initialMs: 20, maxMs: 40 } });
    defer(() => r.stop());
    r.propose(announcement('pump-9'));
    await waitFor('two attempts', () => hub.bodies.length >= 2);
    code = 400;
    await waitFor('refused', () => r.stats().refused === 1);
    const seen = hub.bodies.length;
    await new Promise((res) => setTimeout(res, 150));
    expect(hub.bodies).toHaveLength(seen);
    expect(r.stats().unsent).toBe(0);
  });
});
