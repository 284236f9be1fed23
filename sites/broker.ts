/**
 * The site-local MQTT broker (aedes) that devices and plugins use.
 *
 * Nobody connects without a login. The site's own clients (plugins) use the
 * broker's internal login, made fresh at every start and never written
 * anywhere: they may publish and subscribe everything. Every other login is
 * looked up by username (`lookup`, backed by the site's BrokerCredentials):
 * the password is checked against its scrypt hash (successful checks are
 * remembered in memory, so a reconnect storm costs one hash per login), and
 * the login's topic lists decide every publish and subscription.
 *
 *   - bad username or password: CONNACK 4; a login that cannot be judged yet
 *     (its device's driver is not loaded): CONNACK 3, the device retries
 *   - a publish outside the list: the connection is closed (MQTT 3.1.1 has no
 *     way to refuse one PUBLISH, MQTT-3.3.5-2), nothing is delivered
 *   - a subscription outside the list: SUBACK 0x80 for that filter only
 *   - `refresh()` re-judges every open connection against the current
 *     lookup: a deleted or disabled login, or a changed password, is
 *     disconnected; changed topic lists apply at once
 *
 * A packet over `maxPacketBytes` (or with a malformed length) ends its
 * connection before it is buffered. Each refusal is counted
 * (`edgeadm_site_broker_refusals_total{reason}`) and logged at most once per
 * client per `logIntervalMs`.
 *
 * With `persistenceFile`, sessions are durable: subscriptions of clients that
 * connect with clean = false, QoS 1 messages queued for them while they are
 * away, retained messages and wills survive a restart of the site agent.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { AuthenticateError, AuthErrorCode, Client, PublishPacket, Subscription } from 'aedes';
import type { Counter, Gauge, Registry } from 'prom-client';
import { createError, toErrorInfo, verifySecret, type Logger } from '../core/kernel/index.ts';
import { SITE_BROKER_INTERNAL_USERNAME } from '../core/store/index.ts';
import { openBrokerPersistence } from './broker-persistence.ts';
import { guardSocket } from './packet-limit.ts';
import { mayPublish, maySubscribe, type TopicAcl } from './topic-acl.ts';

export interface BrokerLogin extends TopicAcl {
  passwordHash: string;
  disabled?: boolean;
  /** The Device this login is, for logs. */
  device?: string;
}

/** The login of `username`; undefined when there is none, 'unavailable' when it cannot be judged yet. */
export type BrokerLoginLookup = (username: string) => BrokerLogin | 'unavailable' | undefined;

export interface SiteBrokerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  logger: Logger;
  lookup: BrokerLoginLookup;
  /** SQLite file for durable sessions; without it sessions live in memory. */
  persistenceFile?: string;
  metrics?: Registry;
  /** A client's refusals are logged at most once per this interval (default 60 s). */
  logIntervalMs?: number;
  /** Largest MQTT packet a client may send (default 1 MiB); a larger one ends its connection before it is read. */
  maxPacketBytes?: number;
}

export interface SiteBrokerHandle {
  url: string;
  /** The site's own login: full access. Never log it. */
  readonly credentials: { username: string; password: string };
  /** Re-judges every open connection against the current logins. */
  refresh(): void;
  stats(): { clients: number; refusals: Readonly<Record<RefusalReason, number>> };
  close(): Promise<void>;
}

export type RefusalReason = 'credentials' | 'unavailable' | 'publish' | 'subscribe' | 'revoked' | 'oversized' | 'malformed';

export const ErrBrokerAccess = createError(
  'EDGE_ERR_BROKER_ACCESS',
  (p: { client: string; username: string; action: string; topic: string }) => `login '${p.username}' (client '${p.client}') may not ${p.action} '${p.topic}'`,
  { statusCode: 403 },
);

const NOT_AUTHORIZED = 5 as AuthErrorCode;
const BAD_USERNAME_OR_PASSWORD = 4 as AuthErrorCode;
const SERVER_UNAVAILABLE = 3 as AuthErrorCode;
const INTERNAL_USERNAME = SITE_BROKER_INTERNAL_USERNAME;
const VERIFIED_CACHE_MAX = 10_000;

interface Session {
  username: string;
  /** The hash its password was checked against: a login whose hash changed is withdrawn on refresh. */
  passwordHash: string;
  internal: boolean;
  acl: TopicAcl;
  device?: string;
}

function authError(message: string, returnCode: AuthErrorCode): AuthenticateError {
  return Object.assign(new Error(message), { returnCode });
}

function sha256(b: Buffer | string): Buffer {
  return createHash('sha256').update(b).digest();
}

export async function startSiteBroker(o: SiteBrokerOptions): Promise<SiteBrokerHandle> {
  const log = o.logger.child({ component: 'site-broker' });
  const logIntervalMs = o.logIntervalMs ?? 60_000;
  const internalPassword = randomBytes(24).toString('base64url');
  const internalSecret = sha256(internalPassword);
  const sessions = new Map<Client, Session>();
  /** `${passwordHash}\0${sha256(password) hex}` of checks that passed. */
  const verified = new Set<string>();
  const lastLogged = new Map<string, number>();
  const refusals: Record<RefusalReason, number> = { credentials: 0, unavailable: 0, publish: 0, subscribe: 0, revoked: 0, oversized: 0, malformed: 0 };
  const maxPacketBytes = o.maxPacketBytes ?? 1024 * 1024;

  let refusedTotal: Counter | undefined;
  let clientsGauge: Gauge | undefined;
  if (o.metrics) {
    const { Counter: C, Gauge: G } = await import('prom-client');
    refusedTotal = new C({ name: 'edgeadm_site_broker_refusals_total', help: 'Site broker logins, publishes and subscriptions refused, by reason.', labelNames: ['reason'], registers: [o.metrics] });
    clientsGauge = new G({ name: 'edgeadm_site_broker_clients', help: 'Clients connected to the site broker.', registers: [o.metrics], collect: () => clientsGauge?.set(sessions.size) });
  }

  function refuse(reason: RefusalReason, key: string, fields: Record<string, unknown>, message: string): void {
    refusals[reason]++;
    refusedTotal?.inc({ reason });
    const now = Date.now();
    const prev = lastLogged.get(key);
    if (prev !== undefined && now - prev < logIntervalMs) return;
    if (lastLogged.size >= 10_000) for (const [k, t] of lastLogged) if (now - t >= logIntervalMs) lastLogged.delete(k);
    lastLogged.set(key, now);
    log.warn({ reason, ...fields }, message);
  }

  async function check(login: BrokerLogin, password: Buffer): Promise<boolean> {
    const key = `${login.passwordHash}\u0000${sha256(password).toString('hex')}`;
    if (verified.has(key)) return true;
    const ok = await verifySecret(password.toString('utf8'), login.passwordHash);
    if (ok) {
      if (verified.size >= VERIFIED_CACHE_MAX) verified.clear();
      verified.add(key);
    }
    return ok;
  }

  const persistence = o.persistenceFile ? openBrokerPersistence({ file: o.persistenceFile, logger: log }) : undefined;
  // Loaded on use: a site without a broker does not carry it.
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker({
    ...(persistence ? { persistence } : {}),
    authenticate(client, username, password, done) {
      const user = username ?? '';
      if (user === INTERNAL_USERNAME) {
        if (password !== undefined && sha256(password).equals(internalSecret)) {
          sessions.set(client, { username: user, passwordHash: '', internal: true, acl: { publish: ['#'], subscribe: ['#'] } });
          done(null, true);
        } else {
          refuse('credentials', `auth\u0000${user}`, { client: client.id, username: user }, 'site broker login refused');
          done(authError('bad username or password', BAD_USERNAME_OR_PASSWORD), false);
        }
        return;
      }
      let login: BrokerLogin | 'unavailable' | undefined;
      try {
        login = username === undefined ? undefined : o.lookup(username);
      } catch (err) {
        log.error({ client: client.id, username: user, error: toErrorInfo(err) }, 'site broker login lookup failed');
        login = 'unavailable';
      }
      if (login === 'unavailable') {
        refuse('unavailable', `auth\u0000${user}`, { client: client.id, username: user }, 'site broker login not judged yet; the client will retry');
        done(authError('login cannot be checked yet', SERVER_UNAVAILABLE), false);
        return;
      }
      if (!login || login.disabled || password === undefined) {
        refuse('credentials', `auth\u0000${user}`, { client: client.id, username: user, ...(login?.disabled ? { disabled: true } : {}) }, 'site broker login refused');
        done(authError('bad username or password', login?.disabled ? NOT_AUTHORIZED : BAD_USERNAME_OR_PASSWORD), false);
        return;
      }
      const found = login;
      check(found, password).then(
        (ok) => {
          if (!ok) {
            refuse('credentials', `auth\u0000${user}`, { client: client.id, username: user }, 'site broker login refused');
            done(authError('bad username or password', BAD_USERNAME_OR_PASSWORD), false);
            return;
          }
          sessions.set(client, { username: user, passwordHash: found.passwordHash, internal: false, acl: { publish: found.publish, subscribe: found.subscribe }, ...(found.device ? { device: found.device } : {}) });
          done(null, true);
        },
        (err: unknown) => {
          log.error({ client: client.id, username: user, error: toErrorInfo(err) }, 'site broker password check failed');
          done(authError('login cannot be checked', SERVER_UNAVAILABLE), false);
        },
      );
    },
    authorizePublish(client: Client | null, packet: PublishPacket, done: (error?: Error | null) => void) {
      if (packet.topic.startsWith('$SYS')) return done(new Error('$SYS topics are reserved'));
      // A will of a client gone with an earlier broker: its topic was allowed when the will was accepted.
      if (!client) return done(null);
      const s = sessions.get(client);
      if (s && (s.internal || mayPublish(s.acl, packet.topic))) return done(null);
      const err = new ErrBrokerAccess({ client: client.id, username: s?.username ?? '', action: 'publish to', topic: packet.topic });
      refuse('publish', `pub\u0000${client.id}`, { client: client.id, username: s?.username, device: s?.device, topic: packet.topic }, 'site broker publish refused; connection closed');
      done(err);
    },
    authorizeSubscribe(client: Client, sub: Subscription, done: (error: Error | null, subscription?: Subscription | null) => void) {
      const s = sessions.get(client);
      if (s && (s.internal || maySubscribe(s.acl, sub.topic))) return done(null, sub);
      refuse('subscribe', `sub\u0000${client.id}`, { client: client.id, username: s?.username, device: s?.device, topic: sub.topic }, 'site broker subscription refused');
      done(null, null);
    },
  });
  broker.on('clientDisconnect', (client) => sessions.delete(client));
  broker.on('clientError', (client, err) => {
    if (!(err instanceof ErrBrokerAccess)) log.debug({ client: client.id, error: toErrorInfo(err) }, 'site broker client error');
  });
  broker.on('connectionError', (client, err) => log.debug({ client: client.id, error: toErrorInfo(err) }, 'site broker connection error'));

  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const peer = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? ''}`;
    broker.handle(
      guardSocket(socket, maxPacketBytes, (p) =>
        refuse(p.kind, `frame\u0000${socket.remoteAddress ?? ''}`, { peer, ...(p.kind === 'oversized' ? { bytes: p.bytes, limit: maxPacketBytes } : {}) }, 'site broker connection closed: packet too large or malformed'),
      ),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;

  let closed = false;
  return {
    url: `mqtt://${host}:${port}`,
    credentials: { username: INTERNAL_USERNAME, password: internalPassword },
    refresh() {
      for (const [client, s] of sessions) {
        if (s.internal) continue;
        let login: BrokerLogin | 'unavailable' | undefined;
        try {
          login = o.lookup(s.username);
        } catch {
          continue;
        }
        if (login === 'unavailable') continue;
        const stillValid = login !== undefined && !login.disabled && login.passwordHash === s.passwordHash;
        if (!stillValid) {
          refuse('revoked', `revoked\u0000${client.id}`, { client: client.id, username: s.username }, 'site broker login withdrawn; connection closed');
          sessions.delete(client);
          client.close();
          continue;
        }
        s.acl = { publish: login!.publish, subscribe: login!.subscribe };
      }
    },
    stats: () => ({ clients: sessions.size, refusals: { ...refusals } }),
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await persistence?.destroy();
    },
  };
}
