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
 * Client ids belong to logins, so that no login can take over another's
 * session (MQTT hands a client id's session to whoever connects with it
 * next): the internal login uses ids starting with `edgeadm-`, a
 * BrokerCredential login `<username>` or `<username>/<suffix>`, any login an
 * empty id with a clean session (see `clientIdProblem` in broker-logins.ts).
 * Any other id gets CONNACK 2 (identifier rejected). A login reconnecting
 * with an id it already has open takes over its own older connection, as
 * MQTT says; such takeovers are counted
 * (`edgeadm_site_broker_takeovers_total{internal}`) and logged.
 *
 * A packet over `maxPacketBytes` (or with a malformed length) ends its
 * connection before it is buffered. Each refusal is counted
 * (`edgeadm_site_broker_refusals_total{reason}`) and logged at most once per
 * client (per login for client ids) per `logIntervalMs`.
 *
 * With `persistenceFile`, sessions are durable: subscriptions of clients that
 * connect with clean = false, QoS 1 messages queued for them while they are
 * away, retained messages and wills survive a restart of the site agent.
 * Nothing is acknowledged that is not stored: aedes answers a QoS 1 PUBLISH
 * with PUBACK before it queues the message for persistent sessions
 * (lib/handlers/publish.js), so the site broker publishes it first, from
 * `authorizePublish`, and lets aedes acknowledge it only once it is
 * committed; when the storage refuses it the connection is closed without
 * PUBACK and the client sends it again after reconnecting (MQTT 3.1.1 has no
 * per-message refusal). While the storage fails (reported to `storage`), QoS
 * 1 and 2 publishes that would need it are refused up front
 * (`reason="storage"`) until a write succeeds again; QoS 0 is delivered live
 * (a retained QoS 0 message is then not retained).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { AuthenticateError, AuthErrorCode, Client, PublishPacket, Subscription } from 'aedes';
import type { Counter, Gauge, Registry } from 'prom-client';
import { rememberingVerifier, toErrorInfo, type Logger } from '../core/kernel/index.ts';
import { SITE_BROKER_INTERNAL_USERNAME } from '../core/store/index.ts';
import { ErrBrokerAccess, ErrBrokerClientId, ErrBrokerStorage } from './errors.ts';
import { clientIdProblem } from './broker-logins.ts';
import { openBrokerPersistence, type BrokerPersistence } from './broker-persistence.ts';
import { guardSocket } from './packet-limit.ts';
import { storageErrorCode, type StorageHealth } from './storage-health.ts';
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
  /** Told when the persistence cannot write (`failed('broker', err)`) and when it writes again (`ok('broker')`). */
  storage?: StorageHealth;
  /** While the persistence cannot write, a probe write is tried this often (default 2 s). */
  storageProbeMs?: number;
}

export interface SiteBrokerHandle {
  url: string;
  /** The site's own login: full access. Never log it. */
  readonly credentials: { username: string; password: string };
  /** Re-judges every open connection against the current logins. */
  refresh(): void;
  /** Open connections, refusals by reason, and connections that took over an older one of their login. */
  stats(): { clients: number; refusals: Readonly<Record<RefusalReason, number>>; takeovers: number };
  close(): Promise<void>;
}

export type RefusalReason = 'credentials' | 'unavailable' | 'client-id' | 'publish' | 'subscribe' | 'storage' | 'revoked' | 'oversized' | 'malformed';

const IDENTIFIER_REJECTED = 2 as AuthErrorCode;
const NOT_AUTHORIZED = 5 as AuthErrorCode;
const BAD_USERNAME_OR_PASSWORD = 4 as AuthErrorCode;
const SERVER_UNAVAILABLE = 3 as AuthErrorCode;
const INTERNAL_USERNAME = SITE_BROKER_INTERNAL_USERNAME;
const VERIFIED_CACHE_MAX = 10_000;

type PublishDone = (error?: Error | null) => void;

/**
 * The parts of aedes 1.x (aedes.js) the site broker uses beyond its type
 * declarations: the connected clients by id, and the three-argument
 * `publish(packet, client, done)` its protocol handlers call.
 */
interface AedesInternals {
  readonly clients: Record<string, Client | undefined>;
  publish(packet: PublishPacket, client: Client | null | PublishDone, done?: PublishDone): void;
}

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

function noop(): void {}

export async function startSiteBroker(o: SiteBrokerOptions): Promise<SiteBrokerHandle> {
  const log = o.logger.child({ component: 'site-broker' });
  const logIntervalMs = o.logIntervalMs ?? 60_000;
  const internalPassword = randomBytes(24).toString('base64url');
  const internalSecret = sha256(internalPassword);
  const sessions = new Map<Client, Session>();
  const verify = rememberingVerifier(VERIFIED_CACHE_MAX);
  const lastLogged = new Map<string, number>();
  const refusals: Record<RefusalReason, number> = { credentials: 0, unavailable: 0, 'client-id': 0, publish: 0, subscribe: 0, storage: 0, revoked: 0, oversized: 0, malformed: 0 };
  let takeovers = 0;
  const maxPacketBytes = o.maxPacketBytes ?? 1024 * 1024;
  /** The client id each connection asked for in its CONNECT (aedes replaces an empty one with `aedes_<uuid>`). */
  const askedIds = new WeakMap<Client, string>();

  let refusedTotal: Counter | undefined;
  let takeoversTotal: Counter | undefined;
  let clientsGauge: Gauge | undefined;
  if (o.metrics) {
    const { Counter: C, Gauge: G } = await import('prom-client');
    refusedTotal = new C({ name: 'edgeadm_site_broker_refusals_total', help: 'Site broker logins, publishes and subscriptions refused, by reason.', labelNames: ['reason'], registers: [o.metrics] });
    takeoversTotal = new C({
      name: 'edgeadm_site_broker_takeovers_total',
      help: "Site broker connections that took over an older connection of their login with the same client id; internal: the site's own clients.",
      labelNames: ['internal'],
      registers: [o.metrics],
    });
    clientsGauge = new G({ name: 'edgeadm_site_broker_clients', help: 'Clients connected to the site broker.', registers: [o.metrics], collect: () => clientsGauge?.set(sessions.size) });
  }

  /** Logs at most once per `key` per interval. */
  function logLimited(key: string, fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    const prev = lastLogged.get(key);
    if (prev !== undefined && now - prev < logIntervalMs) return;
    if (lastLogged.size >= 10_000) for (const [k, t] of lastLogged) if (now - t >= logIntervalMs) lastLogged.delete(k);
    lastLogged.set(key, now);
    log.warn(fields, message);
  }

  function refuse(reason: RefusalReason, key: string, fields: Record<string, unknown>, message: string): void {
    refusals[reason]++;
    refusedTotal?.inc({ reason });
    logLimited(key, { reason, ...fields }, message);
  }

  /**
   * Admits an authenticated connection unless its client id is not its
   * login's. A connection with an id its login already has open takes over
   * the older one (aedes closes it when this one registers).
   */
  function admit(client: Client, s: Session, done: (error: AuthenticateError | null, success: boolean | null) => void): void {
    const asked = askedIds.get(client) ?? client.id;
    let problem = clientIdProblem(s, asked, client.clean);
    const holder = internals.clients[client.id];
    const held = holder && holder !== client ? sessions.get(holder) : undefined;
    // Unreachable while an id belongs to one login by its form; kept so that no rule change can reopen a takeover.
    if (problem === undefined && held && (held.username !== s.username || held.internal !== s.internal)) problem = `client id '${client.id}' is in use by another login`;
    if (problem !== undefined) {
      const err = new ErrBrokerClientId({ client: asked, username: s.username, reason: problem });
      refuse('client-id', `client-id\u0000${s.username}`, { client: asked, username: s.username, ...(s.device ? { device: s.device } : {}), error: toErrorInfo(err) }, 'site broker client id refused');
      done(authError(err.message, IDENTIFIER_REJECTED), false);
      return;
    }
    if (holder && holder !== client && !holder.closed) {
      takeovers++;
      takeoversTotal?.inc({ internal: String(s.internal) });
      log.info({ client: client.id, username: s.username, internal: s.internal, ...(s.device ? { device: s.device } : {}) }, 'site broker connection took over the older one of its client id');
    }
    sessions.set(client, s);
    done(null, true);
  }

  /** Whether publishing `packet` writes to the persistence (so a failing storage cannot take it). */
  function needsStorage(p: BrokerPersistence, packet: PublishPacket): boolean {
    if (packet.qos === 2) return true;
    if (packet.retain && packet.payload.length > 0) return true;
    return packet.qos === 1 && p.storesFor(packet.topic);
  }

  function check(login: BrokerLogin, password: Buffer): Promise<boolean> {
    return verify(password.toString('utf8'), login.passwordHash);
  }

  const persistence = o.persistenceFile
    ? openBrokerPersistence({
        file: o.persistenceFile,
        logger: log,
        ...(o.storage ? { storage: o.storage } : {}),
        ...(o.storageProbeMs === undefined ? {} : { probeIntervalMs: o.storageProbeMs }),
      })
    : undefined;
  /** QoS 1 packets from clients published (stored and delivered) before aedes acknowledges them. */
  const publishedFirst = new WeakSet<PublishPacket>();
  // Loaded on use: a site without a broker does not carry it.
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker({
    ...(persistence ? { persistence } : {}),
    preConnect(client, packet, done) {
      askedIds.set(client, packet.clientId);
      done(null, true);
    },
    authenticate(client, username, password, done) {
      const user = username ?? '';
      if (user === INTERNAL_USERNAME) {
        if (password !== undefined && sha256(password).equals(internalSecret)) {
          admit(client, { username: user, passwordHash: '', internal: true, acl: { publish: ['#'], subscribe: ['#'] } }, done);
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
          admit(client, { username: user, passwordHash: found.passwordHash, internal: false, acl: { publish: found.publish, subscribe: found.subscribe }, ...(found.device ? { device: found.device } : {}) }, done);
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
      if (!s || !(s.internal || mayPublish(s.acl, packet.topic))) {
        const err = new ErrBrokerAccess({ client: client.id, username: s?.username ?? '', action: 'publish to', topic: packet.topic });
        refuse('publish', `pub\u0000${client.id}`, { client: client.id, username: s?.username, device: s?.device, topic: packet.topic }, 'site broker publish refused; connection closed');
        return done(err);
      }
      // A will (its client is closing) is published as it can be: refusing it would only lose it.
      if (!persistence || packet.qos === 0 || client.closed) return done(null);
      const failing = persistence.failing();
      if (failing && needsStorage(persistence, packet)) {
        const err = new ErrBrokerStorage({ client: client.id, topic: packet.topic, reason: failing.message }, { cause: failing });
        refuse('storage', `storage\u0000${client.id}`, { client: client.id, username: s.username, device: s.device, topic: packet.topic, qos: packet.qos, error: toErrorInfo(err) }, 'site broker publish refused: storage failing; connection closed');
        return done(err);
      }
      if (packet.qos !== 1) return done(null);
      // Stored and delivered first; aedes then sends PUBACK and finds it published (see the publish wrapper below).
      aedesPublish(packet, client, (err) => {
        if (!err) {
          publishedFirst.add(packet);
          return done(null);
        }
        if (storageErrorCode(err) !== undefined) {
          const refused = new ErrBrokerStorage({ client: client.id, topic: packet.topic, reason: err.message }, { cause: err });
          refuse('storage', `storage\u0000${client.id}`, { client: client.id, username: s.username, device: s.device, topic: packet.topic, qos: 1, error: toErrorInfo(refused) }, 'site broker publish not stored; connection closed without PUBACK');
          return done(refused);
        }
        log.warn({ client: client.id, topic: packet.topic, error: toErrorInfo(err) }, 'site broker publish failed; connection closed without PUBACK');
        done(err);
      });
    },
    authorizeSubscribe(client: Client, sub: Subscription, done: (error: Error | null, subscription?: Subscription | null) => void) {
      const s = sessions.get(client);
      if (s && (s.internal || maySubscribe(s.acl, sub.topic))) return done(null, sub);
      refuse('subscribe', `sub\u0000${client.id}`, { client: client.id, username: s?.username, device: s?.device, topic: sub.topic }, 'site broker subscription refused');
      done(null, null);
    },
  });
  const internals = broker as unknown as AedesInternals;
  const aedesPublish: (packet: PublishPacket, client: Client | null, done: PublishDone) => void = internals.publish.bind(broker);
  // aedes's handlers publish through `client.broker.publish(packet, client, done)`: this wrapper skips
  // the QoS 1 packets published first (from authorizePublish), delivers a retained QoS 0 message live
  // when its retained copy cannot be stored, and lets a QoS 2 packet whose publish failed be published
  // again when the client resends it (aedes answers a resent QoS 2 packet it holds without publishing).
  internals.publish = (packet, clientOrDone, maybeDone) => {
    const client = typeof clientOrDone === 'function' ? null : clientOrDone;
    const done: PublishDone = (typeof clientOrDone === 'function' ? clientOrDone : maybeDone) ?? noop;
    if (publishedFirst.has(packet)) {
      publishedFirst.delete(packet);
      done(null);
      return;
    }
    if (!persistence) {
      aedesPublish(packet, client, done);
      return;
    }
    const live = (cause: unknown): void => {
      logLimited(`retain\u0000${client?.id ?? ''}`, { client: client?.id, topic: packet.topic, error: toErrorInfo(cause) }, 'site broker delivered a retained QoS 0 message live only: storage failing');
      aedesPublish({ ...packet, retain: false }, client, done);
    };
    if (packet.qos === 0 && packet.retain && packet.payload.length > 0) {
      const failing = persistence.failing();
      if (failing) return live(failing);
    }
    aedesPublish(packet, client, (err) => {
      if (err && packet.qos === 0 && packet.retain && storageErrorCode(err) !== undefined) return live(err);
      if (err && client && packet.qos === 2 && typeof packet.messageId === 'number') persistence.incomingDelPacket(client, { messageId: packet.messageId }).catch(noop);
      done(err);
    });
  };
  // aedes emits 'error' when a persistence lookup fails or orphaned wills cannot be published: never a crash.
  broker.addListener('error', (err: Error) => log.error({ error: toErrorInfo(err) }, 'site broker error'));
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
    stats: () => ({ clients: sessions.size, refusals: { ...refusals }, takeovers }),
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
