/**
 * Simulated sites for distributed health: n health agents in one process,
 * either over real HTTP and TCP on loopback (node i listens on 127.0.1.i, all
 * on one port, as a site's nodes do) or over the in-process transport, with
 * the same signing, checks and votes. Nodes can be killed and brought back,
 * and links cut one way.
 */
import { createLogger, type Logger } from '../../core/kernel/index.ts';
import {
  deriveSiteKey,
  HealthAgent,
  HttpGossipTransport,
  MemoryGossipNetwork,
  newClusterKey,
  resolveHealthConfig,
  startGossipServer,
  type GossipServer,
  type HealthAgentStats,
  type HealthConfig,
  type HealthKeyring,
  type Member,
  type Verdict,
} from '../../core/health/index.ts';
import type { SiteHealth } from '../../core/store/index.ts';
import { seeded } from './random.ts';
import { freePort } from './tcp-services.ts';

export interface SimSiteOptions {
  nodes: number;
  /** 'http': real sockets on loopback; 'memory': the in-process transport (checks are reachability). */
  mode: 'http' | 'memory';
  health?: SiteHealth;
  site?: string;
  /** Seeded choices of peers, so a run can be repeated. */
  seed?: number;
  logger?: Logger;
}

export interface SimSite {
  readonly site: string;
  readonly names: readonly string[];
  readonly keys: HealthKeyring;
  readonly config: HealthConfig;
  readonly network: MemoryGossipNetwork | undefined;
  /** The base port of the HTTP mode (every node listens on it). */
  readonly port: number;
  agent(name: string): HealthAgent;
  member(name: string): Member;
  running(): string[];
  kill(name: string): Promise<void>;
  revive(name: string): Promise<void>;
  /** `from` can no longer reach `to` (memory mode). */
  cut(from: string, to: string): void;
  verdict(observer: string, node: string): Verdict | undefined;
  /** Resolves when every running node sees `node` as `state`; the time it took, in ms. */
  waitVerdict(node: string, state: Verdict['verdict'], timeoutMs: number, observers?: readonly string[]): Promise<number>;
  totals(): { sent: number; rumors: number; rounds: number; bytesSent: number; checks: number };
  stop(): Promise<void>;
}

type Totals = ReturnType<SimSite['totals']>;

/** Adds one agent's counts to the site's (a stopped agent's counts are kept this way). */
function addStats(t: Totals, s: HealthAgentStats): void {
  t.sent += s.sent;
  t.rumors += s.rumors;
  t.rounds += s.rounds;
  t.bytesSent += s.bytesSent;
  t.checks += s.checks;
}

export async function startSimSite(o: SimSiteOptions): Promise<SimSite> {
  const site = o.site ?? 'sim';
  const logger = o.logger ?? createLogger({ level: process.env.EDGEADM_TEST_LOG === '1' ? 'debug' : 'silent' });
  const random = seeded(o.seed ?? 1);
  const port = o.mode === 'http' ? await freePort() : 51005;
  const config = resolveHealthConfig({ period: '200ms', ...(o.health ?? {}), port });
  const keys: HealthKeyring = { current: deriveSiteKey(newClusterKey(), site) };
  const names = Array.from({ length: o.nodes }, (_, i) => `node-${String(i).padStart(4, '0')}`);
  // 127.0.1.1 ... : a site's nodes, each on its own address, all on one port.
  const members = names.map((name, i): Member => ({ name, address: `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}` }));
  const byName = new Map(members.map((m) => [m.name, m]));
  const network = o.mode === 'memory' ? new MemoryGossipNetwork() : undefined;
  // In HTTP mode each node has its own transport (its own connection pool), as on a real site.
  const transports = new Map<string, HttpGossipTransport>();
  const agents = new Map<string, HealthAgent>();
  const servers = new Map<string, GossipServer>();
  const totals = { sent: 0, rumors: 0, rounds: 0, bytesSent: 0, checks: 0 };

  const make = (name: string): HealthAgent =>
    new HealthAgent({
      site,
      node: name,
      config,
      keys,
      members,
      logger: logger.child({ node: name }),
      random,
      transport: network ? network.transport(name) : transports.get(name)!,
      ...(network ? { probe: (target) => Promise.resolve(network.reachable(name, target.name)) } : {}),
    });

  const up = async (name: string): Promise<void> => {
    if (!network) transports.set(name, new HttpGossipTransport());
    const agent = make(name);
    agents.set(name, agent);
    if (network) network.join(agent);
    else servers.set(name, await startGossipServer({ agent: () => agents.get(name), host: byName.get(name)!.address, port, logger }));
    agent.start();
  };
  const down = async (name: string): Promise<void> => {
    const agent = agents.get(name);
    if (!agent) return;
    addStats(totals, agent.stats());
    agents.delete(name);
    network?.leave(name);
    await agent.stop();
    await servers.get(name)?.close();
    servers.delete(name);
    transports.get(name)?.close();
    transports.delete(name);
  };
  for (const name of names) await up(name);

  return {
    site,
    names,
    keys,
    config,
    network,
    port,
    agent: (name) => {
      const a = agents.get(name);
      if (!a) throw new Error(`${name} is not running`);
      return a;
    },
    member: (name) => byName.get(name)!,
    running: () => [...agents.keys()],
    kill: down,
    revive: up,
    cut: (from, to) => {
      if (!network) throw new Error('links are cut in memory mode');
      network.cut(from, to);
    },
    verdict: (observer, node) => agents.get(observer)?.verdicts().find((v) => v.node === node),
    async waitVerdict(node, state, timeoutMs, observers) {
      const started = Date.now();
      for (;;) {
        const who = observers ?? [...agents.keys()].filter((n) => n !== node);
        if (who.every((obs) => agents.get(obs)?.verdicts().find((v) => v.node === node)?.verdict === state)) return Date.now() - started;
        if (Date.now() - started > timeoutMs) {
          const seen = who.map((obs) => `${obs}:${agents.get(obs)?.verdicts().find((v) => v.node === node)?.verdict ?? 'none'}`);
          throw new Error(`${node} not ${state} everywhere within ${timeoutMs} ms: ${seen.slice(0, 12).join(' ')}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    totals() {
      const t = { ...totals };
      for (const a of agents.values()) addStats(t, a.stats());
      return t;
    },
    async stop() {
      for (const name of [...agents.keys()]) await down(name);
    },
  };
}
