/**
 * Distributed health end to end: a real hub and three real site agents, each
 * with its node's own credential and its gossip listener on its own address
 * (127.0.1.1-3, one port), the site's link to the hub through a relay that
 * can be cut. Without a key the agents refuse to run health and say how to
 * make one; with it, the hub records the peers' votes, and tells "site
 * disconnected, nodes healthy" apart from "node down" (`edgeadm status`,
 * `edgeadm node list`).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { nodeStanding, siteStanding, SYNC_PROTOCOL, type NodeObject, type SiteObject } from '../core/store/index.ts';
import { startSiteAgent, type SiteAgent } from '../sites/index.ts';
import { freePort } from './support/tcp-services.ts';
import { quiet, startHubFixture, tempDir, waitFor, type HubFixture } from './support/hub-fixture.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';
import { runEdgeadm } from './support/edgeadm-cli.ts';

const SITE = 'hill';
const NODES = ['gw-1', 'gw-2', 'gw-3'] as const;
const address = (i: number): string => `127.0.1.${i + 1}`;

let f: HubFixture;
let relay: TcpProxy;
let port: number;
const dirs: string[] = [];
const dataDirs = new Map<string, string>();
const agents = new Map<string, SiteAgent>();
const tokens = new Map<string, string>();

async function startAgent(node: string): Promise<SiteAgent> {
  const i = NODES.indexOf(node as (typeof NODES)[number]);
  // One data directory per node, kept across its restarts (its replica, outbox and health key live there).
  let dataDir = dataDirs.get(node);
  if (!dataDir) {
    dataDir = tempDir(`edgeadm-health-${node}-`);
    dirs.push(dataDir);
    dataDirs.set(node, dataDir);
  }
  const agent = await startSiteAgent({
    site: SITE,
    node,
    hubUrl: relay.url,
    token: tokens.get(node)!,
    dataDir: path.join(dataDir, 'agent'),
    logger: quiet,
    broker: false,
    syncBackoff: { initialMs: 50, maxMs: 200 },
    reportEveryMs: 1000,
    health: { listenHost: address(i), keyRetryMs: 200 },
  });
  agents.set(node, agent);
  return agent;
}

const nodeObj = async (name: string): Promise<NodeObject> => (await f.api<NodeObject>('GET', `/api/v1/nodes/${name}`)).body;
const siteObj = async (): Promise<SiteObject> => (await f.api<SiteObject>('GET', `/api/v1/sites/${SITE}`)).body;
const allNodes = async (): Promise<NodeObject[]> => Promise.all(NODES.map(nodeObj));

beforeAll(async () => {
  f = await startHubFixture({ syncHeartbeatMs: 300 });
  const u = new URL(f.hub.url);
  relay = await startTcpProxy({ host: u.hostname, port: Number(u.port) });
  port = await freePort();
  await f.apply({ kind: 'Site', metadata: { name: SITE }, spec: { health: { port, period: '300ms' } } });
  for (const [i, node] of NODES.entries()) {
    await f.apply({ kind: 'Node', metadata: { name: node }, spec: { site: SITE, addresses: [address(i)] } });
    tokens.set(node, (await f.hub.tokens.create({ role: 'agent', site: SITE, node })).token);
  }
  for (const node of NODES) await startAgent(node);
}, 60_000);

afterAll(async () => {
  for (const a of agents.values()) await a.stop();
  await relay?.close();
  await f?.hub.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (f) rmSync(f.dataDir, { recursive: true, force: true });
});

describe('distributed health across real site agents', () => {
  it('without a cluster key the health agents refuse to start, and the hub is told how to make one', async () => {
    const agent = agents.get('gw-1')!;
    await waitFor('the no-key problem', () => agent.status().health.problems.find((p) => p.code === 'EDGE_ERR_HEALTH_NO_KEY'));
    expect(agent.status().nodeHealth?.state).toBe('no-key');
    const problem = await waitFor('the problem at the hub', async () =>
      Object.values((await siteObj()).status?.agents ?? {})
        .flatMap((a) => a.health.problems)
        .find((p) => p.code === 'EDGE_ERR_HEALTH_NO_KEY'),
    );
    expect(problem.message).toMatch(/edgeadm health key create/);
    // The rest of the agent runs: its sync session is up.
    expect(agent.status().sync.connected).toBe(true);
  });

  it('with a key every node is voted healthy, and the hub records it', async () => {
    expect((await f.api('POST', '/api/v1/health/key', {})).status).toBe(201);
    for (const node of NODES) {
      await waitFor(`${node} voted healthy at the hub`, async () => (await nodeObj(node)).status?.health?.verdict === 'healthy' || undefined, 20_000);
    }
    const gw2 = await nodeObj('gw-2');
    expect(gw2.status?.health).toMatchObject({ verdict: 'healthy', pros: 2, cons: 0, expected: 2 });
    expect(gw2.status?.health?.reportedBy).toMatch(/^node:gw-[13]$/);
    expect(agents.get('gw-1')!.status().health.problems).toEqual([]);
    expect(siteStanding(await siteObj(), await allNodes())).toBe('online');
  });

  it('the site cut from the hub: "site disconnected, nodes healthy", in edgeadm status too', async () => {
    relay.down();
    try {
      await waitFor('the site offline', async () => (await siteObj()).status?.phase === 'Offline' || undefined, 20_000);
      // The peers keep voting inside the site meanwhile.
      await new Promise((r) => setTimeout(r, 700));
      for (const a of agents.values()) {
        const verdicts = a.status().nodeHealth?.verdicts ?? [];
        expect(verdicts.map((v) => v.verdict)).toEqual(['healthy', 'healthy', 'healthy']);
      }
      expect(siteStanding(await siteObj(), await allNodes())).toBe('site disconnected, nodes healthy');
      const status = await runEdgeadm(['status', '--hub', f.hub.url, '--token', f.adminToken]);
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(new RegExp(`Site standing:\\s+${SITE}: site disconnected, nodes healthy`));
      expect(status.stdout).toMatch(/Nodes:\s+3: 0 connected, 3 disconnected but voted healthy by their peers/);
      expect(status.stdout).toMatch(new RegExp(`Site agents:\\s+${SITE} \\(\\S+\\) [\\d.]+ MiB, [\\d.]+% CPU`));
    } finally {
      relay.up();
    }
    await waitFor('the site online again', async () => (await siteObj()).status?.phase === 'Online' || undefined, 20_000);
  });

  it('a node that dies is voted down by its peers: "node down", in edgeadm node list too', async () => {
    await agents.get('gw-3')!.stop();
    agents.delete('gw-3');
    const gw3 = await waitFor('gw-3 voted unhealthy at the hub', async () => {
      const n = await nodeObj('gw-3');
      return n.status?.health?.verdict === 'unhealthy' ? n : undefined;
    });
    expect(gw3.status?.health).toMatchObject({ cons: 2, expected: 2 });
    expect(nodeStanding(gw3)).toBe('down');
    expect(siteStanding(await siteObj(), await allNodes())).toBe('online, node down: gw-3');
    // The others' verdicts follow on their next rounds: each then has one voter left, the other.
    for (const n of ['gw-1', 'gw-2']) await waitFor(`${n} voted on by one peer`, async () => ((await nodeObj(n)).status?.health?.expected === 1 ? true : undefined));
    const list = await runEdgeadm(['node', 'list', '--site', SITE, '--hub', f.hub.url, '--token', f.adminToken]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/gw-3 .*down .*unhealthy 2\/2/);
    // With gw-3 voted down, each of the two others has one voter left: the other.
    expect(list.stdout).toMatch(/gw-1 .*healthy 1\/1/);
    const status = await runEdgeadm(['status', '--hub', f.hub.url, '--token', f.adminToken, '-o', 'json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ nodes: { down: [{ node: 'gw-3', site: SITE, standing: 'down' }] }, standing: [{ site: SITE, standing: 'online, node down: gw-3' }] });
    // Each agent's process as it reported it: its memory and CPU (here the test's own process, which runs them all).
    const agentsSeen = (JSON.parse(status.stdout) as { sites: { agents: { site: string; rssMiB: number; cpuPercent: number }[] } }).sites.agents;
    expect(agentsSeen.length).toBeGreaterThanOrEqual(2);
    for (const a of agentsSeen) expect(a).toMatchObject({ site: SITE, rssMiB: expect.any(Number), cpuPercent: expect.any(Number) });
    expect(Math.min(...agentsSeen.map((a) => a.rssMiB))).toBeGreaterThan(10);
    // Back, restarted while the hub is out of reach: it votes with the key it kept, and is voted healthy again.
    relay.down();
    try {
      const back = await startAgent('gw-3');
      await waitFor('gw-3 running health from its kept key', () => back.status().nodeHealth?.state === 'running' || undefined);
      await waitFor('gw-3 healthy in its peers\' view', () => agents.get('gw-1')!.status().nodeHealth?.verdicts?.find((v) => v.node === 'gw-3')?.verdict === 'healthy' || undefined);
    } finally {
      relay.up();
    }
    await waitFor('gw-3 healthy again', async () => (await nodeObj('gw-3')).status?.health?.verdict === 'healthy' || undefined, 20_000);
  });

  it("over the sync session, an agent's verdicts about another site's node or about itself are ignored", async () => {
    await f.apply({ kind: 'Site', metadata: { name: 'vale' }, spec: {} });
    await f.apply({ kind: 'Node', metadata: { name: 'gw-9' }, spec: { site: 'vale', addresses: ['127.0.9.1'] } });
    const ws = new WebSocket(`${f.hub.url.replace(/^http/, 'ws')}/api/v1/sites/${SITE}/sync`, SYNC_PROTOCOL, { headers: { authorization: `Bearer ${tokens.get('gw-1')}` } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const at = new Date().toISOString();
    const lie = (node: string) => ({ node, verdict: 'unhealthy', pros: 0, cons: 2, expected: 2, since: at, votedAt: at });
    ws.send(JSON.stringify({ type: 'hello', protocol: SYNC_PROTOCOL, site: SITE, resourceVersion: null, have: [], agentVersion: 'test' }));
    const telemetry = { stream: 's', streams: ['s'], firstSeq: 1, lastSeq: 0, ackedSeq: 0, pending: 0, droppedEver: 0, notStored: 0 };
    ws.send(JSON.stringify({ type: 'status', health: { state: 'ok', problems: [] }, telemetry, nodeHealth: { verdicts: [lie('gw-9'), lie('gw-1'), lie('gw-2')] } }));
    // gw-2 is hill's, and gw-1 checks it: a peer's word is what the vote is made of, so that lie is recorded, and set
    // right by the next honest report (within a report period). The others never: gw-9 is another site's, gw-1 itself.
    await waitFor('the report handled', async () => ((await nodeObj('gw-2')).status?.health?.reportedAt ?? '') >= at || undefined);
    ws.close();
    expect((await nodeObj('gw-9')).status?.health).toBeUndefined();
    expect((await nodeObj('gw-1')).status?.health?.verdict).toBe('healthy');
    await waitFor('gw-2 healthy again', async () => (await nodeObj('gw-2')).status?.health?.verdict === 'healthy' || undefined, 20_000);
  });
});
