/**
 * The hub's sync heartbeat, with raw WebSocket agents: one that answers pings
 * stays Online; one that stops answering (a vanished site: no FIN, no close
 * frame) is cut off and turns Offline within two heartbeats. Several
 * sessions of one site: each credential reports into its own entry, and the
 * site turns Offline only when the last one closes. Each on a hub on the
 * SQLite store and on one on the kube store (HUB_STORES).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { SYNC_PROTOCOL } from '../store/index.ts';
import { startHubFixture, waitFor, type HubFixture } from '../../test/support/hub-fixture.ts';
import { HUB_STORES } from '../../test/support/hub/harness.ts';

const HEARTBEAT_MS = 150;
/** The hub of the store being run (the describe blocks of each store run one after the other). */
let f: HubFixture;
const sockets: WebSocket[] = [];

/** Opens a sync session of `site` with the agent token `token` and says hello. */
async function dial(site: string, token: string, autoPong = true): Promise<WebSocket> {
  const ws = new WebSocket(`${f.hub.url.replace(/^http/, 'ws')}/api/v1/sites/${site}/sync`, SYNC_PROTOCOL, { headers: { authorization: `Bearer ${token}` }, autoPong });
  sockets.push(ws);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ type: 'hello', protocol: SYNC_PROTOCOL, site, resourceVersion: null, have: [], agentVersion: 'test' }));
  return ws;
}

/** Makes the Site and a token of its own, then dials. */
async function connect(site: string, autoPong: boolean): Promise<WebSocket> {
  await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
  return dial(site, await f.agentToken(site), autoPong);
}

const phase = async (site: string): Promise<string | undefined> =>
  (await f.api<{ status?: { phase?: string } }>('GET', `/api/v1/sites/${site}`)).body.status?.phase;

describe.each(HUB_STORES)('sync sessions on the $name store', (hubStore) => {
  beforeAll(async () => {
    f = await startHubFixture({ syncHeartbeatMs: HEARTBEAT_MS, store: await hubStore.store() });
  }, 30_000);

  afterAll(async () => {
    for (const s of sockets.splice(0)) s.terminate();
    await f?.hub.close();
  });

  describe('sync heartbeat', () => {
    it('keeps an answering agent Online and cuts off a silent one, which turns Offline', async () => {
      const alive = await connect('hb-alive', true);
      const silent = await connect('hb-silent', false);
      // Listened for at once: on a slow machine the hub may cut the silent session before both read Online.
      const closed = new Promise<number>((resolve) => silent.once('close', (code) => resolve(code)));
      await waitFor('both Online', async () => (await phase('hb-alive')) === 'Online' && (await phase('hb-silent')) === 'Online', 5_000);
      const t0 = Date.now();
      await waitFor('the silent site Offline', async () => (await phase('hb-silent')) === 'Offline', 5_000, 20);
      expect(Date.now() - t0).toBeLessThan(HEARTBEAT_MS * 2 + 1000);
      // Cut without a close frame: the client sees an abnormal closure.
      expect(await closed).toBe(1006);
      // Many heartbeats later the answering one is still there.
      await new Promise((r) => setTimeout(r, HEARTBEAT_MS * 5));
      expect(alive.readyState).toBe(WebSocket.OPEN);
      expect(await phase('hb-alive')).toBe('Online');
    });
  });

  describe("a site's several sessions", () => {
    const report = (problems: { component: string; code: string; message: string; since: string }[]) => ({
      type: 'status',
      health: { state: problems.length > 0 ? 'degraded' : 'ok', problems },
      telemetry: { stream: 'stream-x', streams: ['stream-x'], firstSeq: 1, lastSeq: 5, ackedSeq: 5, pending: 0, droppedEver: 0, notStored: 0 },
    });
    type Agents = Record<string, { health: { state: string } }>;
    const agents = async (site: string): Promise<Agents> => (await f.api<{ status?: { agents?: Agents } }>('GET', `/api/v1/sites/${site}`)).body.status?.agents ?? {};
    const tokenIdOf = (token: string): string => /^edgeadm_([a-z0-9]{8})_/.exec(token)![1]!;

    it("keeps each credential's report in its own entry, and goes Offline only when the last session closes", async () => {
      const site = 'multi';
      await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
      const [a, b] = [await f.agentToken(site), await f.agentToken(site)];
      const wsA = await dial(site, a);
      const wsB = await dial(site, b);
      wsA.send(JSON.stringify(report([{ component: 'outbox', code: 'SQLITE_FULL', message: 'database or disk is full', since: '2026-12-04T10:00:00.000Z' }])));
      await waitFor("A's report", async () => (await agents(site))[`token:${tokenIdOf(a)}`]?.health.state === 'degraded', 5_000);
      // B, a credential of the same site, reports too: it writes its own entry, never A's.
      wsB.send(JSON.stringify(report([])));
      await waitFor("B's report", async () => (await agents(site))[`token:${tokenIdOf(b)}`]?.health.state === 'ok', 5_000);
      expect((await agents(site))[`token:${tokenIdOf(a)}`]?.health.state).toBe('degraded');
      // B leaves: A is still connected, so the site stays Online.
      await waitFor('Online', async () => (await phase(site)) === 'Online', 5_000);
      wsB.close();
      await new Promise((r) => setTimeout(r, 300));
      expect(await phase(site)).toBe('Online');
      wsA.close();
      await waitFor('Offline once the last session closed', async () => (await phase(site)) === 'Offline', 5_000);
    });
  });
});
