/**
 * The hub side of the sync session (see core/store's replication protocol):
 * one WebSocket per site agent. On hello it resumes from the agent's
 * resourceVersion when the store still has the history (else it sends a
 * snapshot), streams the events that concern the site, sends bookmarks so the
 * agent's position advances past events of other sites, and pushes the site's
 * pending commands. The site is Online while a session is open. The hub
 * pings each agent every heartbeat; one that has not answered the previous
 * ping is cut off, so a site that vanished without closing its connection
 * (power loss, a broken link) turns Offline within two heartbeats. A site
 * turns Offline only when its last session on this hub closes: another
 * credential of the site opening and closing a session does not take it
 * Offline while its agent is connected.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import type { WebSocket } from 'ws';
import { EdgeError, toErrorInfo, type Logger } from '../kernel/index.ts';
import {
  parseAgentMessage,
  relevantToSite,
  StoreErrors,
  SYNC_KINDS,
  SYNC_MAX_FRAME_BYTES,
  SYNC_PROTOCOL,
  type AgentMessage,
  type HealthVerdict,
  type HubMessage,
  type Resource,
  type ResourceStore,
  type SiteStatus as StoreSiteStatus,
} from '../store/index.ts';
import { siteCommandOf, type CommandQueue } from './commands.ts';
import { registeredMetric } from './metrics.ts';
import type { NodeHealthRecorder } from './node-health.ts';
import { producerOf } from './tokens.ts';

/** How often an open session refreshes the Site's lastSeen and syncedResourceVersion. */
const STATUS_EVERY_MS = 30_000;
/** An agent's report no session renewed for this long is dropped from its Site's status. */
const AGENT_REPORT_TTL_MS = 7 * 24 * 3600 * 1000;

export interface SyncSessionsOptions {
  store: ResourceStore;
  commands: CommandQueue;
  logger: Logger;
  metrics: Registry;
  /** Records the health verdicts agents report (core/hub/node-health.ts); without it they are dropped. */
  nodeHealth?: NodeHealthRecorder;
  /** preHandler that authenticates and authorises the agent of `:site`. */
  preHandler: (req: FastifyRequest, reply: unknown) => Promise<void> | void;
  /** Send at most this many bytes before waiting for the socket to drain. */
  highWaterBytes?: number;
  /** Ping period (ms); an agent silent for a whole period after a ping is disconnected. Default 15 s. */
  heartbeatMs?: number;
}

export const DEFAULT_SYNC_HEARTBEAT_MS = 15_000;


type SiteStatus = StoreSiteStatus;
type AgentReport = NonNullable<SiteStatus['agents']>[string];

/**
 * The hub's sync sessions: the WebSocket route, the count of open sessions
 * per site (a site is Online while it has one), the metrics, and the Site
 * status writes. `register` adds the route to the hub's app; each accepted
 * socket becomes a `SyncSession`.
 */
export class SyncSessions {
  readonly #o: SyncSessionsOptions;
  readonly #gauge: Gauge;
  readonly sent: Counter<'type'>;
  readonly rejected: Counter;
  readonly highWater: number;
  readonly heartbeatMs: number;
  /** Sessions that said hello, per site. */
  readonly #live = new Map<string, number>();
  #open = 0;

  constructor(o: SyncSessionsOptions) {
    this.#o = o;
    this.#gauge = registeredMetric(o.metrics, 'edgeadm_sync_sessions', () => new Gauge({ name: 'edgeadm_sync_sessions', help: 'Open site sync sessions', registers: [o.metrics] }));
    this.sent = registeredMetric(
      o.metrics,
      'edgeadm_sync_messages_sent_total',
      () => new Counter({ name: 'edgeadm_sync_messages_sent_total', help: 'Sync messages sent to agents', labelNames: ['type'] as const, registers: [o.metrics] }),
    );
    this.rejected = registeredMetric(o.metrics, 'edgeadm_sync_rejected_total', () => new Counter({ name: 'edgeadm_sync_rejected_total', help: 'Agent messages rejected', registers: [o.metrics] }));
    this.highWater = o.highWaterBytes ?? 4 * 1024 * 1024;
    this.heartbeatMs = o.heartbeatMs ?? DEFAULT_SYNC_HEARTBEAT_MS;
  }

  get store(): ResourceStore {
    return this.#o.store;
  }

  get commands(): CommandQueue {
    return this.#o.commands;
  }

  /** Open sync sockets, greeted or not. */
  sessions(): number {
    return this.#open;
  }

  /** Adds `GET /api/v1/sites/:site/sync` (WebSocket) to `app`. */
  register(app: FastifyInstance): void {
    app.get<{ Params: { site: string } }>(
      '/api/v1/sites/:site/sync',
      { websocket: true, preHandler: this.#o.preHandler, schema: { hide: true } },
      (socket: WebSocket, req) => {
        this.#open++;
        this.#gauge.set(this.#open);
        const session = new SyncSession(this, socket, req, this.#o.logger.child({ site: req.params.site, component: 'sync' }));
        socket.on('close', () => {
          this.#open--;
          this.#gauge.set(this.#open);
          session.closed();
        });
      },
    );
  }

  /** A session of `site` said hello. */
  greeted(site: string): void {
    this.#live.set(site, (this.#live.get(site) ?? 0) + 1);
  }

  /** A greeted session of `site` closed; returns how many the site still has. */
  left(site: string): number {
    const left = (this.#live.get(site) ?? 1) - 1;
    if (left > 0) this.#live.set(site, left);
    else this.#live.delete(site);
    return left;
  }

  async setSiteStatus(site: string, patch: SiteStatus): Promise<void> {
    try {
      const cur = await this.#o.store.get<Resource<unknown, SiteStatus>>('Site', site);
      if (!cur) return;
      await this.#o.store.updateStatus('Site', site, { ...(cur.status ?? {}), ...patch });
    } catch (err) {
      this.#o.logger.warn({ site, error: toErrorInfo(err) }, 'site status update failed');
    }
  }

  /** Records the health verdicts an agent of `site` reported (nodes of that site only). */
  async recordVerdicts(site: string, producer: string, verdicts: readonly HealthVerdict[]): Promise<void> {
    const r = this.#o.nodeHealth;
    if (!r) return;
    const { ignored } = await r.record(site, producer, verdicts);
    if (ignored.length > 0) this.#o.logger.debug({ site, producer, ignored }, 'health verdicts ignored');
  }

  /** Records one agent's report in its Site's status, and forgets reports no agent renewed for AGENT_REPORT_TTL_MS. */
  async setAgentReport(site: string, producer: string, entry: AgentReport): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const cur = await this.#o.store.get<Resource<unknown, SiteStatus>>('Site', site);
        if (!cur) return;
        const agents: NonNullable<SiteStatus['agents']> = {};
        for (const [k, v] of Object.entries(cur.status?.agents ?? {})) if (Date.now() - Date.parse(v.reportedAt) < AGENT_REPORT_TTL_MS) agents[k] = v;
        agents[producer] = entry;
        await this.#o.store.updateStatus('Site', site, { ...(cur.status ?? {}), agents }, { resourceVersion: cur.metadata.resourceVersion! });
        return;
      } catch (err) {
        if (StoreErrors.ErrConflict.is(err)) continue;
        this.#o.logger.warn({ site, error: toErrorInfo(err) }, 'site agent report not recorded');
        return;
      }
    }
  }
}

const keyOf = (r: { kind: string; metadata: { name: string } }): string => `${r.kind}/${r.metadata.name}`;
// Status is the hub's record of the site, not something the site needs: a status-only
// change is not replicated (else the hub's own status writes would echo back and forth).
const shapeOf = (r: Resource): string => `${r.metadata.generation ?? ''}|${JSON.stringify(r.metadata.labels ?? {})}|${JSON.stringify(r.metadata.annotations ?? {})}`;

/** One agent's session: its hello, the stream of what concerns its site, its commands and reports. */
class SyncSession {
  readonly #hub: SyncSessions;
  readonly #socket: WebSocket;
  readonly #req: FastifyRequest<{ Params: { site: string } }>;
  readonly #log: Logger;
  readonly #site: string;
  readonly #ac = new AbortController();
  readonly #heartbeat: NodeJS.Timeout;
  #closed = false;
  #helloSeen = false;
  /** What the agent holds: key -> what of it matters to the agent (generation, labels, annotations). */
  readonly #have = new Map<string, string>();
  #answered = true;
  #offCommands: (() => void) | undefined;
  #lastReportShape: string | undefined;
  #lastReportAt = 0;
  #ackTimer: NodeJS.Timeout | undefined;
  #lastAck: string | undefined;

  constructor(hub: SyncSessions, socket: WebSocket, req: FastifyRequest<{ Params: { site: string } }>, log: Logger) {
    this.#hub = hub;
    this.#socket = socket;
    this.#req = req;
    this.#log = log;
    this.#site = req.params.site;
    if (socket.protocol !== SYNC_PROTOCOL) {
      log.warn({ offered: socket.protocol }, 'sync session without the sync protocol');
      socket.close(4400, `expected subprotocol ${SYNC_PROTOCOL}`);
    }
    socket.on('pong', () => {
      this.#answered = true;
    });
    this.#heartbeat = setInterval(() => this.#ping(), hub.heartbeatMs);
    socket.on('message', (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary));
    socket.on('error', (err) => log.debug({ error: toErrorInfo(err) }, 'sync socket error'));
  }

  #ping(): void {
    if (this.#closed) return;
    if (!this.#answered) {
      this.#log.warn({ heartbeatMs: this.#hub.heartbeatMs }, 'agent did not answer the last ping: sync session cut');
      this.#socket.terminate();
      return;
    }
    this.#answered = false;
    this.#socket.ping();
  }

  async #send(msg: HubMessage): Promise<void> {
    if (this.#closed) return;
    this.#hub.sent.inc({ type: msg.type });
    this.#socket.send(JSON.stringify(msg));
    while (!this.#closed && this.#socket.bufferedAmount > this.#hub.highWater) await new Promise((r) => setTimeout(r, 5));
  }

  #fail(err: unknown, code = 4400): void {
    const info = toErrorInfo(err);
    this.#log.warn({ error: info }, 'sync session closed with an error');
    if (!this.#closed) {
      this.#socket.send(JSON.stringify({ type: 'error', code: info.code, message: info.message } satisfies HubMessage));
      this.#socket.close(code, info.code.slice(0, 100));
    }
  }

  #refuse(err: unknown): void {
    this.#hub.rejected.inc();
    this.#fail(err);
  }

  async #pushCommands(redeliver: boolean): Promise<void> {
    const { commands, store } = this.#hub;
    // On a new session, commands delivered before but never answered go again (the agent dedupes by id).
    const again = redeliver ? (await commands.list({ site: this.#site, state: 'delivered' })).filter((c) => Date.parse(c.expiresAt) > Date.now()) : [];
    const notBefore = await store.currentResourceVersion();
    for (const c of [...again, ...(await commands.pending(this.#site))]) {
      await this.#send({ type: 'command', command: siteCommandOf(c), notBefore });
      if (c.state === 'pending') await commands.markDelivered(c.id);
    }
  }

  async #snapshot(labels: Record<string, string>): Promise<string> {
    const store = this.#hub.store;
    const rv = await store.currentResourceVersion();
    const items: Resource[] = [];
    for (const kind of SYNC_KINDS) {
      for (const item of (await store.list(kind)).items) if (relevantToSite(item, this.#site, labels)) items.push(item);
    }
    this.#have.clear();
    for (const i of items) this.#have.set(keyOf(i), shapeOf(i));
    await this.#send({ type: 'snapshot', resourceVersion: rv, items });
    return rv;
  }

  /** From `fromRv` (or a snapshot), every change that concerns the site, with bookmarks; over again from a snapshot when the site's labels change or the history is gone. */
  async #stream(fromRv: string | null): Promise<void> {
    const site = this.#site;
    const store = this.#hub.store;
    const siteObj = await store.get('Site', site);
    if (!siteObj) throw new EdgeError('EDGE_ERR_SYNC_UNKNOWN_SITE', `site '${site}' does not exist at the hub`, { site }, 404);
    let labels = siteObj.metadata.labels ?? {};
    let from: string = fromRv ?? (await this.#snapshot(labels));
    for (;;) {
      let restart = false;
      try {
        let lastBookmark = Date.now();
        for await (const ev of store.watch({ resourceVersion: from, kinds: SYNC_KINDS, bookmarkIntervalMs: 5_000, signal: this.#ac.signal })) {
          const rv = ev.object.metadata.resourceVersion ?? from;
          from = rv;
          if (ev.type === 'BOOKMARK') {
            await this.#send({ type: 'bookmark', resourceVersion: rv });
            continue;
          }
          const obj = ev.object;
          if (obj.kind === 'Site' && obj.metadata.name === site && ev.type !== 'DELETED') {
            const next = obj.metadata.labels ?? {};
            if (JSON.stringify(next) !== JSON.stringify(labels)) {
              // Which Addons concern the site may have changed: start over from a snapshot.
              labels = next;
              from = await this.#snapshot(labels);
              restart = true;
              break;
            }
          }
          const relevant = ev.type !== 'DELETED' && relevantToSite(obj, site, labels);
          const k = keyOf(obj);
          if (relevant && this.#have.get(k) !== shapeOf(obj)) {
            this.#have.set(k, shapeOf(obj));
            await this.#send({ type: 'event', event: ev.type === 'ADDED' ? 'ADDED' : 'MODIFIED', object: obj, resourceVersion: rv });
          } else if (!relevant && this.#have.has(k)) {
            this.#have.delete(k);
            await this.#send({ type: 'event', event: 'DELETED', object: obj, resourceVersion: rv });
          } else if (Date.now() - lastBookmark > 1000) {
            lastBookmark = Date.now();
            await this.#send({ type: 'bookmark', resourceVersion: rv });
          }
        }
      } catch (err) {
        if (StoreErrors.ErrGone.is(err)) {
          from = await this.#snapshot(labels);
          restart = true;
        } else throw err;
      }
      if (!restart) return;
    }
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    const site = this.#site;
    let msg;
    try {
      if (isBinary || data.length > SYNC_MAX_FRAME_BYTES) throw new EdgeError('EDGE_ERR_SYNC_MESSAGE', 'sync frames are JSON text', {}, 400);
      msg = parseAgentMessage(data.toString('utf8'));
    } catch (err) {
      this.#refuse(err);
      return;
    }
    if (msg.type === 'hello') {
      if (this.#helloSeen || msg.site !== site) {
        this.#refuse(new EdgeError('EDGE_ERR_SYNC_MESSAGE', this.#helloSeen ? 'hello sent twice' : `hello names site '${msg.site}' on the session of '${site}'`, {}, 400));
        return;
      }
      this.#helloSeen = true;
      this.#hub.greeted(site);
      // Unknown shape: the first change of each of these is sent.
      for (const h of msg.have) this.#have.set(`${h.kind}/${h.name}`, '');
      void this.#hub.setSiteStatus(site, { phase: 'Online', lastSeen: new Date().toISOString(), agentVersion: msg.agentVersion });
      this.#log.info({ resourceVersion: msg.resourceVersion, agentVersion: msg.agentVersion }, 'sync session open');
      this.#offCommands = this.#hub.commands.onEnqueue((c) => {
        if (c.site === site) void this.#pushCommands(false).catch((err: unknown) => this.#fail(err, 1011));
      });
      const from = msg.resourceVersion;
      void this.#pushCommands(true)
        .then(() => this.#stream(from))
        .catch((err: unknown) => {
          if (!this.#ac.signal.aborted) this.#fail(err, err instanceof EdgeError && err.statusCode === 404 ? 4404 : 1011);
        });
      return;
    }
    if (!this.#helloSeen) {
      this.#refuse(new EdgeError('EDGE_ERR_SYNC_MESSAGE', `'${msg.type}' before hello`, {}, 400));
      return;
    }
    if (msg.type === 'ack') {
      this.#lastAck = msg.resourceVersion;
      // Recorded now and then, not per ack: each status write is itself a new revision.
      this.#ackTimer ??= setTimeout(() => {
        this.#ackTimer = undefined;
        void this.#hub.setSiteStatus(site, { syncedResourceVersion: this.#lastAck, lastSeen: new Date().toISOString() });
      }, STATUS_EVERY_MS);
      return;
    }
    if (msg.type === 'status') {
      const { type: _type, ...report } = msg;
      // Each agent writes only its own entry: the producer comes from its credential.
      const producer = this.#req.principal ? producerOf(this.#req.principal) : 'unknown';
      const entry = { ...report, reportedAt: new Date().toISOString() };
      // Written when the health (or the node's lite-apiserver state) changes, and otherwise at most every STATUS_EVERY_MS: each write is a revision.
      const shape = JSON.stringify([report.health.state, report.health.problems.map((p) => [p.component, p.code]), report.liteApiserver?.state]);
      if (shape !== this.#lastReportShape || Date.now() - this.#lastReportAt >= STATUS_EVERY_MS) {
        if (shape !== this.#lastReportShape && report.health.state === 'degraded') this.#log.warn({ problems: report.health.problems }, 'site agent reports problems');
        else if (shape !== this.#lastReportShape && this.#lastReportShape !== undefined) this.#log.info('site agent reports no more problems');
        this.#lastReportShape = shape;
        this.#lastReportAt = Date.now();
        void this.#hub.setAgentReport(site, producer, entry);
      }
      const verdicts = report.nodeHealth?.verdicts;
      // Every report's verdicts are checked against what is recorded (the recorder writes only a change):
      // a record that another report got wrong is set right by the next honest one.
      if (verdicts && verdicts.length > 0) void this.#hub.recordVerdicts(site, producer, verdicts);
      return;
    }
    void this.#commandResult(msg).catch((err: unknown) => this.#log.warn({ command: msg.id, error: toErrorInfo(err) }, 'could not record a command result'));
  }

  /** A command's result from the site: recorded once; a result for another site's command or one sent again is dropped. */
  async #commandResult(msg: Extract<AgentMessage, { type: 'command-result' }>): Promise<void> {
    const site = this.#site;
    const commands = this.#hub.commands;
    const result = msg.ok ? { reported: msg.reported } : { error: msg.error ?? { code: 'EDGE_ERR_COMMAND_FAILED', message: 'the agent reported a failure without details' } };
    const known = await commands.get(msg.id);
    if (!known || known.site !== site) {
      this.#hub.rejected.inc();
      this.#log.warn({ command: msg.id }, 'result for a command this site does not have');
      return;
    }
    if (known.state !== 'pending' && known.state !== 'delivered') return; // a result sent again after a reconnect
    const cmd = await commands.complete(msg.id, result);
    // A write's read-back is the twin's reported value; a live read's samples go only to the request that waits for them.
    if (msg.ok && cmd.kind === 'write') void recordReported(this.#hub.store, cmd.device, cmd.resource, msg.reported, this.#log);
  }

  /** The socket closed: stop everything of the session; the site turns Offline when this was its last session. */
  closed(): void {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#ac.abort();
    this.#offCommands?.();
    clearTimeout(this.#ackTimer);
    if (!this.#helloSeen) return;
    const left = this.#hub.left(this.#site);
    this.#log.info({ sessionsLeft: left }, 'sync session closed');
    const now = new Date().toISOString();
    void this.#hub.setSiteStatus(this.#site, left > 0 ? { lastSeen: now } : { phase: 'Offline', lastSeen: now, ...(this.#lastAck ? { syncedResourceVersion: this.#lastAck } : {}) });
  }
}

async function recordReported(store: ResourceStore, device: string, resource: string, value: unknown, log: Logger): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const cur = await store.get<Resource<{ desired?: Record<string, unknown> }, { reported?: Record<string, unknown>; observedDesired?: Record<string, unknown> }>>('Device', device);
    if (!cur) return;
    const status = cur.status ?? {};
    const next = {
      ...status,
      reported: { ...(status.reported ?? {}), [resource]: { value, origin: Date.now() * 1e6 } },
      observedDesired: { ...(status.observedDesired ?? {}), [resource]: cur.spec.desired?.[resource] ?? value },
      lastSeen: new Date().toISOString(),
    };
    try {
      await store.updateStatus('Device', device, next, { resourceVersion: cur.metadata.resourceVersion });
      return;
    } catch (err) {
      if (!StoreErrors.ErrConflict.is(err)) {
        log.warn({ device, error: toErrorInfo(err) }, 'recording the reported value failed');
        return;
      }
    }
  }
}
