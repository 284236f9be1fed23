/**
 * Distributed health at a node (core/health), as the site agent runs it.
 *
 * It runs while the node's Site has `spec.health` and the node has an
 * identity (a joined node). The peers are the site's Nodes with an address
 * (`spec.addresses[0]`). The key is the site's, fetched from the hub
 * (`GET /api/v1/sites/<site>/health/key`) and kept in `<dataDir>/health-key.json`
 * (mode 0600) so the node votes through a restart without the hub. Without a
 * key, from the hub or kept, the health agent refuses to start: the agent's
 * report carries EDGE_ERR_HEALTH_NO_KEY, whose message says how to make one,
 * and the key is asked for again until it comes. The site's telemetry, devices
 * and plugins run on regardless.
 *
 * The agent's report carries the verdicts on the nodes this node checks; the
 * hub records them (core/hub/node-health.ts).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  HealthAgent,
  HealthErrors,
  HttpGossipTransport,
  pingProblem,
  resolveHealthConfig,
  withoutChecks,
  startGossipServer,
  type GossipServer,
  type HealthConfig,
  type HealthKeyring,
  type Member,
  type Verdict,
} from '../core/health/index.ts';
import { toErrorInfo, type Logger } from '../core/kernel/index.ts';
import type { AgentReport, NodeObject, SiteObject } from '../core/store/index.ts';
import type { LocalState } from './local-state.ts';

type AgentProblem = AgentReport['health']['problems'][number];

export interface SiteHealthOptions {
  site: string;
  node: string;
  dataDir: string;
  state: () => LocalState;
  hubUrl: () => string;
  /** The node's credential (never logged). */
  token: string;
  logger: Logger;
  /** Where the gossip listener binds (default every address). */
  listenHost?: string;
  /** Called when the verdicts or the component's problem change: the agent reports at once. */
  onChange: () => void;
  /** How often a missing key is asked for again (default 30 s). */
  keyRetryMs?: number;
  /** How often a held key is asked for again, to follow a rotation (default 5 min). */
  keyRefreshMs?: number;
}

export interface SiteHealthStatus {
  state: 'off' | 'running' | 'no-key' | 'failed';
  /** Why it is off or failed. */
  reason?: string;
  port?: number;
  peers?: number;
  targets?: string[];
  verdicts?: Verdict[];
  stats?: ReturnType<HealthAgent['stats']>;
}

interface KeyFile {
  current: { kid: string; key: string };
  previous?: { kid: string; key: string };
}

const toRing = (k: KeyFile): HealthKeyring => ({
  current: { kid: k.current.kid, key: Buffer.from(k.current.key, 'base64url') },
  ...(k.previous ? { previous: { kid: k.previous.kid, key: Buffer.from(k.previous.key, 'base64url') } } : {}),
});

export class SiteHealth {
  readonly #o: SiteHealthOptions;
  readonly #log: Logger;
  readonly #keyFile: string;
  #agent: HealthAgent | undefined;
  #server: GossipServer | undefined;
  #transport: HttpGossipTransport | undefined;
  #port: number | undefined;
  #keys: KeyFile | undefined;
  #problem: AgentProblem | undefined;
  #reason: string | undefined;
  #keyTimer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();
  #refreshKey = true;
  /** Whether `ping` runs here, asked once. */
  #ping: { problem: string | undefined } | undefined;
  #stopped = false;
  #state: SiteHealthStatus['state'] = 'off';

  constructor(o: SiteHealthOptions) {
    this.#o = o;
    this.#log = o.logger.child({ component: 'health' });
    this.#keyFile = path.join(o.dataDir, 'health-key.json');
  }

  /** Follows the replica: starts, reconfigures or stops the health agent. Calls are run one at a time. */
  reconcile(): Promise<void> {
    this.#chain = this.#chain.then(() => this.#reconcile()).catch((err: unknown) => this.#log.error({ error: toErrorInfo(err) }, 'health reconcile failed'));
    return this.#chain;
  }

  async #reconcile(): Promise<void> {
    if (this.#stopped) return;
    const state = this.#o.state();
    const spec = state.get<SiteObject>('Site', this.#o.site)?.spec.health;
    if (!spec) {
      await this.#halt(undefined, 'the site has no health settings');
      return;
    }
    let config: HealthConfig;
    try {
      config = resolveHealthConfig(spec);
    } catch (err) {
      const info = toErrorInfo(err);
      await this.#halt({ component: 'health', code: info.code, message: info.message, since: new Date().toISOString() }, info.message);
      return;
    }
    // ICMP where the node permits it: without `ping`, the icmp checks are left out (and said so), the others decide.
    let unavailable: string | undefined;
    const icmp = config.checks.filter((c) => c.type === 'icmp').map((c) => c.name);
    if (icmp.length > 0) {
      this.#ping ??= { problem: await pingProblem() };
      const problem = this.#ping.problem;
      if (problem !== undefined) {
        const kept = withoutChecks(config, new Set(icmp));
        unavailable = new HealthErrors.ErrCheckUnavailable({ checks: icmp.join(', '), reason: problem, rest: kept !== undefined }).message;
        if (!kept) {
          await this.#halt(this.#checkProblem(unavailable), unavailable);
          return;
        }
        config = kept;
      }
    }
    const nodes = state.list<NodeObject>('Node').filter((n) => n.spec.site === this.#o.site);
    const members: Member[] = [];
    for (const n of nodes) {
      const address = n.spec.addresses?.[0];
      if (address) members.push({ name: n.metadata.name, address });
    }
    if (!members.some((m) => m.name === this.#o.node)) {
      const err = new HealthErrors.ErrHealthConfig({ field: `Node ${this.#o.node} spec.addresses`, reason: 'is empty: its peers could not reach it (edgeadm join --address, or set it on the Node)' });
      await this.#halt({ component: 'health', code: err.code, message: err.message, since: new Date().toISOString() }, err.message);
      return;
    }
    const keys = await this.#loadKeys(this.#refreshKey || !this.#keys);
    this.#refreshKey = false;
    if (!keys) {
      await this.#halt(this.#problem, this.#reason ?? 'no key', 'no-key');
      this.#askAgain(this.#o.keyRetryMs ?? 30_000);
      return;
    }
    this.#askAgain(this.#o.keyRefreshMs ?? 300_000);
    if (this.#agent && this.#port !== config.port) await this.#halt(undefined, 'port changed');
    if (this.#agent) {
      this.#agent.setConfig(config);
      this.#agent.setMembers(members);
      this.#agent.setKeys(toRing(keys));
      this.#setProblem(this.#checkProblem(unavailable));
      return;
    }
    const transport = new HttpGossipTransport();
    const agent = new HealthAgent({
      site: this.#o.site,
      node: this.#o.node,
      config,
      keys: toRing(keys),
      members,
      transport,
      logger: this.#log,
      onVerdicts: () => this.#o.onChange(),
    });
    try {
      this.#server = await startGossipServer({ agent: () => this.#agent, host: this.#o.listenHost ?? '0.0.0.0', port: config.port, logger: this.#log });
    } catch (err) {
      transport.close();
      const e = new HealthErrors.ErrListen({ address: `${this.#o.listenHost ?? '0.0.0.0'}:${config.port}`, reason: toErrorInfo(err).message }, { cause: err });
      await this.#halt({ component: 'health', code: e.code, message: e.message, since: new Date().toISOString() }, e.message, 'failed');
      return;
    }
    this.#agent = agent;
    this.#transport = transport;
    this.#port = config.port;
    agent.start();
    this.#setProblem(this.#checkProblem(unavailable));
    this.#reason = undefined;
    this.#log.info({ port: config.port, peers: members.length - 1 }, 'health agent started');
  }

  async #halt(problem: AgentProblem | undefined, reason: string, state: SiteHealthStatus['state'] = problem ? 'failed' : 'off'): Promise<void> {
    const agent = this.#agent;
    this.#agent = undefined;
    if (agent) await agent.stop();
    await this.#server?.close();
    this.#server = undefined;
    this.#transport?.close();
    this.#transport = undefined;
    this.#port = undefined;
    this.#reason = reason;
    this.#state = state;
    this.#setProblem(problem);
  }

  #setProblem(p: AgentProblem | undefined): void {
    const changed = (p?.code ?? '') !== (this.#problem?.code ?? '') || (p?.message ?? '') !== (this.#problem?.message ?? '');
    this.#problem = p ? { ...p, since: changed ? p.since : (this.#problem?.since ?? p.since) } : undefined;
    if (this.#agent) this.#state = 'running';
    if (changed) this.#o.onChange();
  }

  /** The site's keys: from the hub (kept on disk), else the kept ones; undefined with the problem set. */
  async #loadKeys(ask: boolean): Promise<KeyFile | undefined> {
    const site = this.#o.site;
    if (!ask && this.#keys) return this.#keys;
    let reason: string;
    try {
      const res = await fetch(`${this.#o.hubUrl()}/api/v1/sites/${encodeURIComponent(site)}/health/key`, {
        headers: { authorization: `Bearer ${this.#o.token}` },
        signal: AbortSignal.timeout(10_000),
      });
      if (res.ok) {
        const k = (await res.json()) as KeyFile;
        if (this.#keys?.current.kid !== k.current.kid) {
          const tmp = `${this.#keyFile}.tmp`;
          writeFileSync(tmp, `${JSON.stringify(k)}\n`, { mode: 0o600 });
          renameSync(tmp, this.#keyFile);
          this.#log.info({ kid: k.current.kid }, 'health key fetched');
        }
        this.#keys = k;
        return k;
      }
      const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
      reason = res.status === 404 && body.code === 'EDGE_ERR_HEALTH_NO_KEY' ? 'the cluster has none yet' : `the hub answered ${res.status} ${body.code ?? ''}`.trim();
    } catch (err) {
      reason = `the hub could not be asked (${toErrorInfo(err).message})`;
    }
    if (this.#keys) return this.#keys;
    try {
      this.#keys = JSON.parse(readFileSync(this.#keyFile, 'utf8')) as KeyFile;
      this.#log.info({ kid: this.#keys.current.kid, why: reason }, 'health key read from the data directory');
      return this.#keys;
    } catch {
      const err = new HealthErrors.ErrNoKey({ site, reason: `${reason}, and none is kept at ${this.#keyFile}` });
      this.#reason = err.message;
      this.#setProblem({ component: 'health', code: err.code, message: err.message, since: new Date().toISOString() });
      this.#log.error({ error: toErrorInfo(err) }, 'health agent refuses to start');
      return undefined;
    }
  }

  /** Asks the hub for the key again after `ms` (a missing key, or a rotation to follow). */
  #askAgain(ms: number): void {
    if (this.#stopped || this.#keyTimer) return;
    this.#keyTimer = setTimeout(() => {
      this.#keyTimer = undefined;
      this.#refreshKey = true;
      void this.reconcile();
    }, ms);
    this.#keyTimer.unref?.();
  }

  #checkProblem(message: string | undefined): AgentProblem | undefined {
    return message === undefined ? undefined : { component: 'health', code: HealthErrors.ErrCheckUnavailable.code, message, since: new Date().toISOString() };
  }

  /** The component's problem for the agent's report, when it has one. */
  problem(): AgentProblem | undefined {
    return this.#problem;
  }

  /** The verdicts on the nodes this node checks, for the agent's report. */
  report(): AgentReport['nodeHealth'] {
    const agent = this.#agent;
    if (!agent) return undefined;
    const mine = new Set(agent.targets());
    const verdicts = agent
      .verdicts()
      .filter((v) => mine.has(v.node))
      .slice(0, 64)
      .map((v) => ({ node: v.node, verdict: v.verdict, pros: v.pros, cons: v.cons, expected: v.expected, since: v.since, ...(v.votedAt ? { votedAt: v.votedAt } : {}) }));
    return { verdicts };
  }

  status(): SiteHealthStatus {
    const agent = this.#agent;
    if (!agent) return { state: this.#state, ...(this.#reason ? { reason: this.#reason } : {}) };
    const verdicts = agent.verdicts();
    return { state: 'running', port: this.#port!, peers: verdicts.length - 1, targets: agent.targets(), verdicts, stats: agent.stats() };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#keyTimer);
    await this.#chain;
    await this.#halt(undefined, 'stopped');
  }
}
