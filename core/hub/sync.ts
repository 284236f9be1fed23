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
  type HubMessage,
  type Resource,
  type ResourceStore,
  type SiteStatus as StoreSiteStatus,
} from '../store/index.ts';
import { siteCommandOf, type CommandQueue } from './commands.ts';
import { producerOf } from './tokens.ts';

/** How often an open session refreshes the Site's lastSeen and syncedResourceVersion. */
const STATUS_EVERY_MS = 30_000;
/** An agent's report no session renewed for this long is dropped from its Site's status. */
const AGENT_REPORT_TTL_MS = 7 * 24 * 3600 * 1000;

export interface SyncRouteOptions {
  store: ResourceStore;
  commands: CommandQueue;
  logger: Logger;
  metrics: Registry;
  /** preHandler that authenticates and authorises the agent of `:site`. */
  preHandler: (req: FastifyRequest, reply: unknown) => Promise<void> | void;
  /** Send at most this many bytes before waiting for the socket to drain. */
  highWaterBytes?: number;
  /** Ping period (ms); an agent silent for a whole period after a ping is disconnected. Default 15 s. */
  heartbeatMs?: number;
}

export const DEFAULT_SYNC_HEARTBEAT_MS = 15_000;

type SiteStatus = StoreSiteStatus;

export function registerSyncRoute(app: FastifyInstance, o: SyncRouteOptions): { sessions(): number } {
  const sessions = new Gauge({ name: 'edgeadm_sync_sessions', help: 'Open site sync sessions', registers: [o.metrics] });
  const sent = new Counter({ name: 'edgeadm_sync_messages_sent_total', help: 'Sync messages sent to agents', labelNames: ['type'], registers: [o.metrics] });
  const rejected = new Counter({ name: 'edgeadm_sync_rejected_total', help: 'Agent messages rejected', registers: [o.metrics] });
  const highWater = o.highWaterBytes ?? 4 * 1024 * 1024;
  /** Sessions that said hello, per site. */
  const live = new Map<string, number>();
  const heartbeatMs = o.heartbeatMs ?? DEFAULT_SYNC_HEARTBEAT_MS;
  let open = 0;

  const setSiteStatus = async (site: string, patch: SiteStatus): Promise<void> => {
    try {
      const cur = await o.store.get<Resource<unknown, SiteStatus>>('Site', site);
      if (!cur) return;
      await o.store.updateStatus('Site', site, { ...(cur.status ?? {}), ...patch });
    } catch (err) {
      o.logger.warn({ site, error: toErrorInfo(err) }, 'site status update failed');
    }
  };

  /** Records one agent's report in its Site's status, and forgets reports no agent renewed for AGENT_REPORT_TTL_MS. */
  const setAgentReport = async (site: string, producer: string, entry: NonNullable<SiteStatus['agents']>[string]): Promise<void> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const cur = await o.store.get<Resource<unknown, SiteStatus>>('Site', site);
        if (!cur) return;
        const agents: NonNullable<SiteStatus['agents']> = {};
        for (const [k, v] of Object.entries(cur.status?.agents ?? {})) if (Date.now() - Date.parse(v.reportedAt) < AGENT_REPORT_TTL_MS) agents[k] = v;
        agents[producer] = entry;
        await o.store.updateStatus('Site', site, { ...(cur.status ?? {}), agents }, { resourceVersion: cur.metadata.resourceVersion! });
        return;
      } catch (err) {
        if (StoreErrors.ErrConflict.is(err)) continue;
        o.logger.warn({ site, error: toErrorInfo(err) }, 'site agent report not recorded');
        return;
      }
    }
  };

  app.get<{ Params: { site: string } }>(
    '/api/v1/sites/:site/sync',
    {
      websocket: true,
      preHandler: o.preHandler,
      schema: { hide: true },
    },
    (socket: WebSocket, req) => {
      const site = req.params.site;
      const log = o.logger.child({ site, component: 'sync' });
      const ac = new AbortController();
      let closed = false;
      let helloSeen = false;
      /** What the agent holds: key -> what of it matters to the agent (generation, labels, annotations). */
      const have = new Map<string, string>();
      const keyOf = (r: { kind: string; metadata: { name: string } }): string => `${r.kind}/${r.metadata.name}`;
      // Status is the hub's record of the site, not something the site needs: a status-only
      // change is not replicated (else the hub's own status writes would echo back and forth).
      const shapeOf = (r: Resource): string => `${r.metadata.generation ?? ''}|${JSON.stringify(r.metadata.labels ?? {})}|${JSON.stringify(r.metadata.annotations ?? {})}`;
      open++;
      sessions.set(open);
      if (socket.protocol !== SYNC_PROTOCOL) {
        log.warn({ offered: socket.protocol }, 'sync session without the sync protocol');
        socket.close(4400, `expected subprotocol ${SYNC_PROTOCOL}`);
      }

      const send = async (msg: HubMessage): Promise<void> => {
        if (closed) return;
        sent.inc({ type: msg.type });
        socket.send(JSON.stringify(msg));
        while (!closed && socket.bufferedAmount > highWater) await new Promise((r) => setTimeout(r, 5));
      };
      const fail = (err: unknown, code = 4400): void => {
        const info = toErrorInfo(err);
        log.warn({ error: info }, 'sync session closed with an error');
        if (!closed) {
          socket.send(JSON.stringify({ type: 'error', code: info.code, message: info.message } satisfies HubMessage));
          socket.close(code, info.code.slice(0, 100));
        }
      };

      let answered = true;
      socket.on('pong', () => {
        answered = true;
      });
      const heartbeat = setInterval(() => {
        if (closed) return;
        if (!answered) {
          log.warn({ heartbeatMs }, 'agent did not answer the last ping: sync session cut');
          socket.terminate();
          return;
        }
        answered = false;
        socket.ping();
      }, heartbeatMs);

      let offCommands: (() => void) | undefined;
      let lastReportShape: string | undefined;
      let lastReportAt = 0;
      let ackTimer: NodeJS.Timeout | undefined;
      let lastAck: string | undefined;

      const pushCommands = async (redeliver: boolean): Promise<void> => {
        // On a new session, commands delivered before but never answered go again (the agent dedupes by id).
        const again = redeliver ? o.commands.list({ site, state: 'delivered' }).filter((c) => Date.parse(c.expiresAt) > Date.now()) : [];
        const notBefore = await o.store.currentResourceVersion();
        for (const c of [...again, ...o.commands.pending(site)]) {
          await send({ type: 'command', command: siteCommandOf(c), notBefore });
          if (c.state === 'pending') o.commands.markDelivered(c.id);
        }
      };

      const stream = async (fromRv: string | null): Promise<void> => {
        const siteObj = await o.store.get('Site', site);
        if (!siteObj) throw new EdgeError('EDGE_ERR_SYNC_UNKNOWN_SITE', `site '${site}' does not exist at the hub`, { site }, 404);
        let labels = siteObj.metadata.labels ?? {};
        const snapshot = async (): Promise<string> => {
          const rv = await o.store.currentResourceVersion();
          const items: Resource[] = [];
          for (const kind of SYNC_KINDS) {
            for (const item of (await o.store.list(kind)).items) if (relevantToSite(item, site, labels)) items.push(item);
          }
          have.clear();
          for (const i of items) have.set(keyOf(i), shapeOf(i));
          await send({ type: 'snapshot', resourceVersion: rv, items });
          return rv;
        };
        let from: string = fromRv ?? (await snapshot());
        for (;;) {
          let restart = false;
          try {
            let lastBookmark = Date.now();
            for await (const ev of o.store.watch({ resourceVersion: from, kinds: SYNC_KINDS, bookmarkIntervalMs: 5_000, signal: ac.signal })) {
              const rv = ev.object.metadata.resourceVersion ?? from;
              from = rv;
              if (ev.type === 'BOOKMARK') {
                await send({ type: 'bookmark', resourceVersion: rv });
                continue;
              }
              const obj = ev.object;
              if (obj.kind === 'Site' && obj.metadata.name === site && ev.type !== 'DELETED') {
                const next = obj.metadata.labels ?? {};
                if (JSON.stringify(next) !== JSON.stringify(labels)) {
                  // Which Addons concern the site may have changed: start over from a snapshot.
                  labels = next;
                  from = await snapshot();
                  restart = true;
                  break;
                }
              }
              const relevant = ev.type !== 'DELETED' && relevantToSite(obj, site, labels);
              const k = keyOf(obj);
              if (relevant && have.get(k) !== shapeOf(obj)) {
                have.set(k, shapeOf(obj));
                await send({ type: 'event', event: ev.type === 'ADDED' ? 'ADDED' : 'MODIFIED', object: obj, resourceVersion: rv });
              } else if (!relevant && have.has(k)) {
                have.delete(k);
                await send({ type: 'event', event: 'DELETED', object: obj, resourceVersion: rv });
              } else if (Date.now() - lastBookmark > 1000) {
                lastBookmark = Date.now();
                await send({ type: 'bookmark', resourceVersion: rv });
              }
            }
          } catch (err) {
            if (StoreErrors.ErrGone.is(err)) {
              from = await snapshot();
              restart = true;
            } else throw err;
          }
          if (!restart) return;
        }
      };

      socket.on('message', (data: Buffer, isBinary: boolean) => {
        let msg;
        try {
          if (isBinary || data.length > SYNC_MAX_FRAME_BYTES) throw new EdgeError('EDGE_ERR_SYNC_MESSAGE', 'sync frames are JSON text', {}, 400);
          msg = parseAgentMessage(data.toString('utf8'));
        } catch (err) {
          rejected.inc();
          fail(err);
          return;
        }
        if (msg.type === 'hello') {
          if (helloSeen || msg.site !== site) {
            rejected.inc();
            fail(new EdgeError('EDGE_ERR_SYNC_MESSAGE', helloSeen ? 'hello sent twice' : `hello names site '${msg.site}' on the session of '${site}'`, {}, 400));
            return;
          }
          helloSeen = true;
          live.set(site, (live.get(site) ?? 0) + 1);
          // Unknown shape: the first change of each of these is sent.
          for (const h of msg.have) have.set(`${h.kind}/${h.name}`, '');
          void setSiteStatus(site, { phase: 'Online', lastSeen: new Date().toISOString(), agentVersion: msg.agentVersion });
          log.info({ resourceVersion: msg.resourceVersion, agentVersion: msg.agentVersion }, 'sync session open');
          offCommands = o.commands.onEnqueue((c) => {
            if (c.site === site) void pushCommands(false).catch((err: unknown) => fail(err, 1011));
          });
          void pushCommands(true)
            .then(() => stream(msg.resourceVersion))
            .catch((err: unknown) => {
              if (!ac.signal.aborted) fail(err, err instanceof EdgeError && err.statusCode === 404 ? 4404 : 1011);
            });
          return;
        }
        if (!helloSeen) {
          rejected.inc();
          fail(new EdgeError('EDGE_ERR_SYNC_MESSAGE', `'${msg.type}' before hello`, {}, 400));
          return;
        }
        if (msg.type === 'ack') {
          lastAck = msg.resourceVersion;
          // Recorded now and then, not per ack: each status write is itself a new revision.
          ackTimer ??= setTimeout(() => {
            ackTimer = undefined;
            void setSiteStatus(site, { syncedResourceVersion: lastAck, lastSeen: new Date().toISOString() });
          }, STATUS_EVERY_MS);
          return;
        }
        if (msg.type === 'status') {
          const { type: _type, ...report } = msg;
          // Each agent writes only its own entry: the producer comes from its credential.
          const producer = req.principal ? producerOf(req.principal) : 'unknown';
          const entry = { ...report, reportedAt: new Date().toISOString() };
          // Written when the health changes, and otherwise at most every STATUS_EVERY_MS: each write is a revision.
          const shape = JSON.stringify([report.health.state, report.health.problems.map((p) => [p.component, p.code])]);
          if (shape !== lastReportShape || Date.now() - lastReportAt >= STATUS_EVERY_MS) {
            if (shape !== lastReportShape && report.health.state === 'degraded') log.warn({ problems: report.health.problems }, 'site agent reports problems');
            else if (shape !== lastReportShape && lastReportShape !== undefined) log.info('site agent reports no more problems');
            lastReportShape = shape;
            lastReportAt = Date.now();
            void setAgentReport(site, producer, entry);
          }
          return;
        }
        // command-result
        const result = msg.ok ? { reported: msg.reported } : { error: msg.error ?? { code: 'EDGE_ERR_COMMAND_FAILED', message: 'the agent reported a failure without details' } };
        const known = o.commands.get(msg.id);
        if (!known || known.site !== site) {
          rejected.inc();
          log.warn({ command: msg.id }, 'result for a command this site does not have');
          return;
        }
        if (known.state !== 'pending' && known.state !== 'delivered') return; // a result sent again after a reconnect
        const cmd = o.commands.complete(msg.id, result);
        // A write's read-back is the twin's reported value; a live read's samples go only to the request that waits for them.
        if (msg.ok && cmd.kind === 'write') void recordReported(o.store, cmd.device, cmd.resource, msg.reported, log);
      });

      socket.on('close', () => {
        closed = true;
        clearInterval(heartbeat);
        ac.abort();
        offCommands?.();
        clearTimeout(ackTimer);
        open--;
        sessions.set(open);
        if (helloSeen) {
          const left = (live.get(site) ?? 1) - 1;
          if (left > 0) live.set(site, left);
          else live.delete(site);
          log.info({ sessionsLeft: left }, 'sync session closed');
          const now = new Date().toISOString();
          void setSiteStatus(site, left > 0 ? { lastSeen: now } : { phase: 'Offline', lastSeen: now, ...(lastAck ? { syncedResourceVersion: lastAck } : {}) });
        }
      });
      socket.on('error', (err) => log.debug({ error: toErrorInfo(err) }, 'sync socket error'));
    },
  );
  return { sessions: () => open };
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
