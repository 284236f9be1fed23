/**
 * The health agent of one node: it checks the peers it is assigned, signs
 * its results, gossips them, and counts the votes on every node of its site.
 *
 * **Who checks whom.** The site's nodes sit on a ring, ordered by a hash of
 * their names. A node is checked by the `voters` nearest live nodes before it
 * on the ring (all of the others in a small site). A node voted unhealthy
 * stops checking others (the next live node takes its place) but is still
 * checked, so its recovery is seen. Each node thus runs `voters` checks per
 * period, whatever the site's size.
 *
 * **Reports.** A checker's results over its peers form one report, signed
 * with the site's key and stamped with its clock and a sequence. A report is
 * made when a result changes, and re-signed every third of the vote timeout
 * otherwise. Held per checker, newest only. A report is refused when its
 * signature does not verify, its checker or a target is not a node of the
 * site, it is older than the vote timeout (stale), more than the allowed skew
 * ahead of this node's clock, or not newer than the one held (replayed).
 *
 * **Gossip, O(n) per round.** Each period a node makes one push-pull exchange
 * with each of `fanout` random live peers: it sends its digest (the version
 * of each report it holds) and the reports the peer lacked when last heard
 * of; the answer carries the reports this node lacks. A report that changes
 * a result is also pushed at once to `fanout` random peers by every node that
 * learns it (once per node, to ln(n) + 1 peers), so a verdict spreads in
 * milliseconds, not periods. The site exchanges n x fanout messages per
 * period, plus about n x ln(n) per change; all-to-all would be n x (n - 1).
 * A node remembers of each peer only when it last talked to it.
 *
 * **Votes.** A node's verdict is the majority of the fresh votes on it from
 * checkers not themselves voted unhealthy: unhealthy when the failing votes
 * reach a majority of its expected voters, healthy when the passing ones do;
 * otherwise it keeps its last verdict (unknown before any).
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Logger } from '../kernel/index.ts';
import { toErrorInfo } from '../kernel/index.ts';
import { networkProbe, type Member, type Probe } from './checks.ts';
import type { HealthConfig } from './config.ts';
import { ErrGossip } from './errors.ts';
import type { HealthKeyring } from './signing.ts';
import { openEnvelope, sealEnvelope, signReport, verifyReport, type CheckResult, type Envelope, type Report, type SignedBody } from './wire.ts';

export type VerdictState = 'healthy' | 'unhealthy' | 'unknown';

export interface Verdict {
  node: string;
  verdict: VerdictState;
  /** Fresh votes that the node passes, and that it fails. */
  pros: number;
  cons: number;
  /** How many peers are to vote on it (a majority of these decides). */
  expected: number;
  /** When the verdict last changed (RFC 3339). */
  since: string;
  /** The newest vote counted (RFC 3339), when there is one. */
  votedAt?: string;
}

/** How one agent reaches another's gossip endpoint. */
export interface GossipTransport {
  send(to: Member, port: number, message: SignedBody, timeoutMs: number): Promise<SignedBody>;
}

export interface HealthAgentOptions {
  site: string;
  node: string;
  config: HealthConfig;
  keys: HealthKeyring;
  /** The site's nodes, this one included. */
  members: readonly Member[];
  transport: GossipTransport;
  logger: Logger;
  /** The checks (default: over the network). */
  probe?: Probe;
  /** Called with every verdict when one changes. */
  onVerdicts?: (verdicts: readonly Verdict[]) => void;
  random?: () => number;
  now?: () => number;
  /** How far ahead of this node's clock a report may be stamped (default max(2 s, one period)). */
  maxSkewMs?: number;
}

/** Why messages or reports were refused, and how often. */
export type RejectReason = 'signature' | 'shape' | 'site' | 'to' | 'from' | 'skew' | 'stale' | 'future' | 'replayed' | 'checker' | 'target' | 'report-signature';

export interface HealthAgentStats {
  rounds: number;
  /** Gossip exchanges this node started (each is one request and its answer). */
  sent: number;
  /** Of those, pushes of a change outside the periodic round. */
  rumors: number;
  received: number;
  failedSends: number;
  bytesSent: number;
  bytesReceived: number;
  /** Checks run (one per check per target per round). */
  checks: number;
  rejected: Partial<Record<RejectReason, number>>;
  reportsAccepted: number;
}

type Version = readonly [number, number];
const newer = (a: Version, b: Version | undefined): boolean => b === undefined || a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
const ringKey = (name: string): string => createHash('sha256').update(name).digest('hex');
const iso = (ms: number): string => new Date(ms).toISOString();

export class HealthAgent {
  readonly #o: HealthAgentOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #probe: Probe;
  #config: HealthConfig;
  #keys: HealthKeyring;
  #members = new Map<string, Member>();
  /** Member names in ring order. */
  #ring: string[] = [];
  /** Per node, its checkers (cached until the members or the unhealthy set change). */
  #checkers: Map<string, string[]> | undefined;
  #checkersKey = '';
  readonly #reports = new Map<string, Report>();
  /** Per report's checker, when this node took it in (its own clock): what a peer it last talked to before then lacks. */
  readonly #receivedAt = new Map<string, number>();
  /** Per peer, when this node last exchanged with it (O(1) per peer, not a copy of its digest). */
  readonly #lastTalk = new Map<string, number>();
  #tallyQueued = false;
  readonly #verdicts = new Map<string, Verdict>();
  readonly #forwarded = new Map<string, Version>();
  readonly #rumor = new Set<string>();
  #rumorTimer: NodeJS.Timeout | undefined;
  #own: { at: number; seq: number; results: CheckResult[] } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #round: Promise<void> | undefined;
  readonly #ac = new AbortController();
  readonly #stats: HealthAgentStats = { rounds: 0, sent: 0, rumors: 0, received: 0, failedSends: 0, bytesSent: 0, bytesReceived: 0, checks: 0, rejected: {}, reportsAccepted: 0 };

  constructor(o: HealthAgentOptions) {
    this.#o = o;
    this.#log = o.logger;
    this.#now = o.now ?? Date.now;
    this.#random = o.random ?? Math.random;
    this.#probe = o.probe ?? networkProbe;
    this.#config = o.config;
    this.#keys = o.keys;
    // Every probe in flight listens on the agent's one signal: voters x checks at once, more while peers are down.
    setMaxListeners(0, this.#ac.signal);
    this.setMembers(o.members);
  }

  get node(): string {
    return this.#o.node;
  }

  get config(): HealthConfig {
    return this.#config;
  }

  #maxSkew(): number {
    return this.#o.maxSkewMs ?? Math.max(2000, this.#config.periodMs);
  }

  /** The site's nodes changed (this one must stay among them). */
  setMembers(members: readonly Member[]): void {
    this.#members = new Map(members.map((m) => [m.name, m]));
    if (!this.#members.has(this.#o.node)) throw new Error(`health: node '${this.#o.node}' is not among the site's nodes`);
    const keys = new Map([...this.#members.keys()].map((name) => [name, ringKey(name)]));
    this.#ring = [...keys.keys()].sort((a, b) => (keys.get(a)! < keys.get(b)! ? -1 : 1));
    this.#checkers = undefined;
    for (const name of [...this.#verdicts.keys()]) if (!this.#members.has(name)) this.#verdicts.delete(name);
    for (const name of [...this.#reports.keys()]) if (!this.#members.has(name)) this.#reports.delete(name);
    for (const name of [...this.#lastTalk.keys()]) if (!this.#members.has(name)) this.#lastTalk.delete(name);
  }

  setConfig(config: HealthConfig): void {
    this.#config = config;
    this.#checkers = undefined;
  }

  setKeys(keys: HealthKeyring): void {
    this.#keys = keys;
  }

  verdicts(): Verdict[] {
    return [...this.#verdicts.values()];
  }

  stats(): HealthAgentStats {
    return { ...this.#stats, rejected: { ...this.#stats.rejected } };
  }

  /** The peers this node checks now. */
  targets(): string[] {
    const me = this.#o.node;
    const out: string[] = [];
    for (const [target, checkers] of this.#checkerMap()) if (checkers.includes(me)) out.push(target);
    return out;
  }

  /** The nodes that check `node` now. */
  checkersOf(node: string): readonly string[] {
    return this.#checkerMap().get(node) ?? [];
  }

  #unhealthy(): Set<string> {
    const out = new Set<string>();
    for (const v of this.#verdicts.values()) if (v.verdict === 'unhealthy' && v.node !== this.#o.node) out.add(v.node);
    return out;
  }

  #checkerMap(): Map<string, string[]> {
    const down = this.#unhealthy();
    const key = `${this.#config.voters}|${[...down].sort().join(',')}`;
    if (this.#checkers && key === this.#checkersKey) return this.#checkers;
    const ring = this.#ring;
    const n = ring.length;
    const map = new Map<string, string[]>();
    const live = ring.filter((x) => !down.has(x)).length;
    for (let i = 0; i < n; i++) {
      const target = ring[i]!;
      const want = Math.min(this.#config.voters, live - (down.has(target) ? 0 : 1));
      const checkers: string[] = [];
      for (let step = 1; step < n && checkers.length < want; step++) {
        const c = ring[(i - step + n) % n]!;
        if (!down.has(c)) checkers.push(c);
      }
      map.set(target, checkers);
    }
    this.#checkers = map;
    this.#checkersKey = key;
    return map;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(this.#random() * this.#config.periodMs);
  }

  #schedule(delay: number): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => {
      const began = this.#now();
      this.#round = this.round()
        .catch((err: unknown) => this.#log.warn({ error: toErrorInfo(err) }, 'health round failed'))
        .finally(() => {
          this.#round = undefined;
          this.#schedule(Math.max(0, this.#config.periodMs - (this.#now() - began)));
        });
    }, delay);
    this.#timer.unref?.();
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    clearTimeout(this.#rumorTimer);
    this.#ac.abort();
    await this.#round;
  }

  /** One round: check the assigned peers, sign the results, gossip, count the votes. */
  async round(): Promise<void> {
    this.#stats.rounds++;
    const cfg = this.#config;
    const targets = this.targets();
    const results = await Promise.all(
      targets.map(async (name): Promise<CheckResult> => {
        const member = this.#members.get(name)!;
        let score = 0;
        const passed = await Promise.all(cfg.checks.map((c) => this.#probe(member, c, this.#ac.signal).catch(() => false)));
        this.#stats.checks += cfg.checks.length;
        cfg.checks.forEach((c, i) => {
          if (passed[i]) score += c.weight;
        });
        return { target: name, ok: score >= cfg.passScore, score };
      }),
    );
    if (this.#ac.signal.aborted) return;
    const now = this.#now();
    const prev = this.#own;
    const changed = !prev || prev.results.length !== results.length || results.some((r, i) => prev.results[i]?.target !== r.target || prev.results[i]?.ok !== r.ok);
    if (changed || now - prev.at >= cfg.refreshMs) {
      const at = Math.max(now, prev?.at ?? 0);
      const seq = prev && prev.at === at ? prev.seq + 1 : 0;
      this.#own = { at, seq, results };
      const report = signReport(this.#keys, this.#o.site, { checker: this.#o.node, at, seq, results });
      const before = this.#reports.get(this.#o.node);
      this.#reports.set(this.#o.node, report);
      this.#receivedAt.set(this.#o.node, now);
      if (this.#isChange(before, report)) this.#queueRumor(this.#o.node);
    }
    this.#purge(now);
    this.#tally();
    const peers = this.#pickPeers(cfg.fanout);
    await Promise.all(peers.map((p) => this.#exchange(p, this.#pushFor(p.name), false)));
  }

  #purge(now: number): void {
    for (const [checker, r] of this.#reports) {
      if (now - r.at > this.#config.voteTimeoutMs) {
        this.#reports.delete(checker);
        this.#receivedAt.delete(checker);
      }
    }
  }

  #pickPeers(k: number, exclude?: string): Member[] {
    const down = this.#unhealthy();
    const pool = [...this.#members.values()].filter((m) => m.name !== this.#o.node && m.name !== exclude && !down.has(m.name));
    const out: Member[] = [];
    while (out.length < k && pool.length > 0) out.push(pool.splice(Math.floor(this.#random() * pool.length), 1)[0]!);
    return out;
  }

  #digest(): Record<string, Version> {
    const d: Record<string, Version> = {};
    for (const [c, r] of this.#reports) d[c] = [r.at, r.seq];
    return d;
  }

  /** Reports taken in since this node last exchanged with the peer (none before it ever did: the peer pulls them). */
  #pushFor(peer: string): Report[] {
    const since = this.#lastTalk.get(peer);
    if (since === undefined) return [];
    const out: Report[] = [];
    for (const [checker, at] of this.#receivedAt) if (at > since) out.push(this.#reports.get(checker)!);
    return out;
  }

  async #exchange(peer: Member, push: readonly Report[], rumor: boolean): Promise<void> {
    const env: Envelope = { v: 1, site: this.#o.site, from: this.#o.node, to: peer.name, at: this.#now(), digest: this.#digest() as Envelope['digest'], reports: [...push] };
    const sealed = sealEnvelope(this.#keys, env);
    this.#stats.sent++;
    if (rumor) this.#stats.rumors++;
    this.#stats.bytesSent += sealed.body.length;
    let reply: SignedBody;
    try {
      reply = await this.#o.transport.send(peer, this.#config.port, sealed, Math.min(5000, Math.max(250, this.#config.periodMs / 2)));
    } catch (err) {
      this.#stats.failedSends++;
      this.#log.debug({ peer: peer.name, error: toErrorInfo(err) }, 'health gossip not delivered');
      return;
    }
    this.#stats.bytesReceived += reply.body.length;
    let answer: Envelope;
    try {
      answer = this.#openChecked(reply, peer.name);
    } catch (err) {
      this.#log.warn({ peer: peer.name, error: toErrorInfo(err) }, 'health gossip answer refused');
      return;
    }
    this.#merge(answer.reports);
    // After the merge: what the answer brought is the peer's already.
    this.#lastTalk.set(peer.name, this.#now());
  }

  #reject(reason: RejectReason): void {
    this.#stats.rejected[reason] = (this.#stats.rejected[reason] ?? 0) + 1;
  }

  /** A signed envelope from `from` (when known) for this node: refused with ErrGossip naming what is wrong. */
  #openChecked(signed: { body: Buffer; signature: unknown }, from?: string): Envelope {
    let env: Envelope;
    try {
      env = openEnvelope(this.#keys, signed);
    } catch (err) {
      this.#reject(ErrGossip.is(err) && err.params.field === 'x-edgeadm-health-signature' ? 'signature' : 'shape');
      throw err;
    }
    if (env.site !== this.#o.site) {
      this.#reject('site');
      throw new ErrGossip({ field: 'site', reason: `is '${env.site}', not '${this.#o.site}'` });
    }
    if (env.to !== this.#o.node) {
      this.#reject('to');
      throw new ErrGossip({ field: 'to', reason: `is '${env.to}', not this node ('${this.#o.node}')` });
    }
    if ((from !== undefined && env.from !== from) || !this.#members.has(env.from)) {
      this.#reject('from');
      throw new ErrGossip({ field: 'from', reason: `'${env.from}' is not ${from === undefined ? 'a node of the site' : `the peer asked ('${from}')`}` });
    }
    const skew = Math.abs(this.#now() - env.at);
    if (skew > this.#maxSkew() + this.#config.periodMs) {
      this.#reject('skew');
      throw new ErrGossip({ field: 'at', reason: `is ${skew} ms from this node's clock` });
    }
    return env;
  }

  /** A gossip request from a peer: its reports merged, and the answer with what it lacks. */
  handle(signed: { body: Buffer; signature: unknown }): SignedBody {
    this.#stats.received++;
    this.#stats.bytesReceived += signed.body.length;
    const env = this.#openChecked(signed);
    this.#merge(env.reports);
    const theirs = env.digest as Record<string, Version>;
    const reply = [...this.#reports.values()].filter((r) => newer([r.at, r.seq], theirs[r.checker]));
    this.#lastTalk.set(env.from, this.#now());
    const answer: Envelope = { v: 1, site: this.#o.site, from: this.#o.node, to: env.from, at: this.#now(), digest: this.#digest() as Envelope['digest'], reports: reply };
    const sealed = sealEnvelope(this.#keys, answer);
    this.#stats.bytesSent += sealed.body.length;
    return sealed;
  }

  /** Whether `next` changes a result from `prev` (a first report counts when it fails someone). */
  #isChange(prev: Report | undefined, next: Report): boolean {
    if (!prev) return next.results.some((r) => !r.ok);
    const before = new Map(prev.results.map((r) => [r.target, r.ok]));
    return next.results.some((r) => (before.has(r.target) ? before.get(r.target) !== r.ok : !r.ok));
  }

  #merge(reports: readonly Report[]): void {
    if (reports.length === 0) return;
    const now = this.#now();
    let any = false;
    for (const r of reports) {
      if (r.checker === this.#o.node) continue;
      if (!this.#members.has(r.checker)) {
        this.#reject('checker');
        continue;
      }
      if (r.results.some((x) => !this.#members.has(x.target) || x.target === r.checker)) {
        this.#reject('target');
        continue;
      }
      if (r.at > now + this.#maxSkew()) {
        this.#reject('future');
        continue;
      }
      if (now - r.at > this.#config.voteTimeoutMs) {
        this.#reject('stale');
        continue;
      }
      const held = this.#reports.get(r.checker);
      if (held && !newer([r.at, r.seq], [held.at, held.seq])) {
        // The same report again is gossip's normal overlap; an older one is a replay.
        if (held.at !== r.at || held.seq !== r.seq) this.#reject('replayed');
        continue;
      }
      if (!verifyReport(this.#keys, this.#o.site, r)) {
        this.#reject('report-signature');
        continue;
      }
      this.#reports.set(r.checker, r);
      this.#receivedAt.set(r.checker, now);
      this.#stats.reportsAccepted++;
      any = true;
      if (this.#isChange(held, r)) this.#queueRumor(r.checker);
    }
    // Counted once per turn of the event loop, however many messages arrived in it.
    if (any && !this.#tallyQueued) {
      this.#tallyQueued = true;
      setImmediate(() => {
        this.#tallyQueued = false;
        this.#tally();
      });
    }
  }

  #queueRumor(checker: string): void {
    this.#rumor.add(checker);
    if (this.#rumorTimer || !this.#running) return;
    this.#rumorTimer = setTimeout(() => {
      this.#rumorTimer = undefined;
      const push: Report[] = [];
      for (const c of this.#rumor) {
        const r = this.#reports.get(c);
        if (!r) continue;
        const v: Version = [r.at, r.seq];
        if (!newer(v, this.#forwarded.get(c))) continue;
        this.#forwarded.set(c, v);
        push.push(r);
      }
      this.#rumor.clear();
      if (push.length === 0 || !this.#running) return;
      // Wider than the periodic fanout, ln(n) + 1 peers: a change then reaches nearly every node in a few hops.
      const wide = Math.max(this.#config.fanout, Math.ceil(Math.log(this.#members.size)) + 1);
      for (const p of this.#pickPeers(wide)) void this.#exchange(p, push, true);
    }, 5);
    this.#rumorTimer.unref?.();
  }

  /** Counts the votes on every node; reports the verdicts when one changed. */
  #tally(): void {
    const now = this.#now();
    const down = this.#unhealthy();
    const votes = new Map<string, { pros: number; cons: number; newest: number }>();
    for (const r of this.#reports.values()) {
      if (now - r.at > this.#config.voteTimeoutMs || down.has(r.checker)) continue;
      for (const x of r.results) {
        const v = votes.get(x.target) ?? { pros: 0, cons: 0, newest: 0 };
        if (x.ok) v.pros++;
        else v.cons++;
        v.newest = Math.max(v.newest, r.at);
        votes.set(x.target, v);
      }
    }
    const map = this.#checkerMap();
    const changed: Verdict[] = [];
    for (const node of this.#ring) {
      const v = votes.get(node) ?? { pros: 0, cons: 0, newest: 0 };
      const expected = map.get(node)?.length ?? 0;
      const need = Math.floor(expected / 2) + 1;
      const prev = this.#verdicts.get(node);
      const verdict: VerdictState = expected === 0 ? 'unknown' : v.cons >= need ? 'unhealthy' : v.pros >= need ? 'healthy' : (prev?.verdict ?? 'unknown');
      const next: Verdict = {
        node,
        verdict,
        pros: v.pros,
        cons: v.cons,
        expected,
        since: prev && prev.verdict === verdict ? prev.since : iso(now),
        ...(v.newest > 0 ? { votedAt: iso(v.newest) } : {}),
      };
      if (!prev || prev.verdict !== verdict) changed.push(next);
      this.#verdicts.set(node, next);
    }
    if (changed.length === 0) return;
    for (const c of changed) if (c.verdict !== 'unknown' || this.#stats.rounds > 0) this.#log.info({ node: c.node, verdict: c.verdict, pros: c.pros, cons: c.cons, expected: c.expected }, 'health verdict');
    // A verdict changed who checks whom: the new checkers start at the next round.
    this.#o.onVerdicts?.(this.verdicts());
  }
}
