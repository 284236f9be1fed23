/**
 * The hub's MQTT telemetry ingest: an aedes broker on a plain net server.
 * A client authenticates as its site (username = site, password = token,
 * checked by `authenticate`) and may publish only to
 * `edgeadm/telemetry/<its site>`. Each publish is parsed and ingested
 * synchronously inside aedes' authorizePublish hook, before aedes writes the
 * PUBACK, so a PUBACK means the batch is committed; redeliveries are absorbed
 * by the store's (site, seq) idempotency, which makes QoS 1 exactly-once in
 * effect.
 *
 * Rejections follow aedes semantics (lib/handlers/publish.js, lib/client.js):
 * an error passed to the authorizePublish callback sends no PUBACK, emits
 * `clientError` and closes the client's connection (MQTT 3.1.1 has no way to
 * refuse a single PUBLISH, MQTT-3.3.5-2). A client with a persistent session
 * will resend the same packet after reconnecting and be refused again: a
 * malformed batch is never acknowledged, so it is never lost by the hub's
 * doing, but it blocks that client until fixed. Each rejection is counted in
 * `edgeadm_mqtt_ingest_rejected_total{reason}` and logged at most once per
 * client per 10 s. Bad credentials get CONNACK return code 4.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { AuthenticateError, AuthErrorCode, Client, PublishPacket, Subscription } from 'aedes';
import type { Registry } from 'prom-client';
import { describeError, toErrorInfo, type Logger } from '../kernel/index.ts';
import { ErrInvalid, ErrMqttAuth, ErrMqttPayload, ErrMqttTopic } from './codes.ts';
import { counter } from './metrics.ts';
import { telemetryTopic } from './topic.ts';
import type { TelemetryStore } from './types.ts';

export interface MqttIngestOptions {
  /** 0 picks a free port. */
  port: number;
  host?: string;
  store: TelemetryStore;
  /** The site these credentials belong to, or undefined to refuse the connection. */
  authenticate(username: string, password: string): string | undefined;
  logger: Logger;
  metrics?: Registry;
}

export interface MqttIngest {
  readonly port: number;
  /** Disconnects every client and closes the listener. Idempotent. */
  close(): Promise<void>;
}

/** A client's rejections are logged at most once per this window. */
export const REJECT_LOG_WINDOW_MS = 10_000;
const BAD_USERNAME_OR_PASSWORD = 4 as AuthErrorCode;
const SERVER_UNAVAILABLE = 3 as AuthErrorCode;

type RejectReason = 'topic' | 'payload' | 'invalid' | 'store' | 'will';

function authError(message: string, returnCode: AuthErrorCode): AuthenticateError {
  return Object.assign(new Error(message), { returnCode });
}

export async function startMqttIngest(opts: MqttIngestOptions): Promise<MqttIngest> {
  const { store } = opts;
  const log = opts.logger.child({ component: 'mqtt-ingest' });
  const rejectedTotal = counter(opts.metrics, 'edgeadm_mqtt_ingest_rejected_total', 'MQTT telemetry publishes refused (connection closed, no PUBACK), by reason.', ['reason']);
  const authFailures = counter(opts.metrics, 'edgeadm_mqtt_ingest_auth_failures_total', 'MQTT connections refused for bad credentials.');
  const batchesTotal = counter(opts.metrics, 'edgeadm_mqtt_ingest_batches_total', 'MQTT telemetry batches committed, by site.', ['site']);

  const sites = new WeakMap<Client, string>();
  const lastLogged = new Map<string, number>();

  /** True when `key` has not been logged within the window. */
  function shouldLog(key: string): boolean {
    const now = Date.now();
    const prev = lastLogged.get(key);
    if (prev !== undefined && now - prev < REJECT_LOG_WINDOW_MS) return false;
    if (lastLogged.size >= 10_000) {
      for (const [k, t] of lastLogged) if (now - t >= REJECT_LOG_WINDOW_MS) lastLogged.delete(k);
    }
    lastLogged.set(key, now);
    return true;
  }

  function reject(client: Client, reason: RejectReason, err: Error, done: (error?: Error | null) => void): void {
    rejectedTotal.inc({ reason });
    if (shouldLog(`publish\u0000${client.id}`)) {
      const fields = { client: client.id, site: sites.get(client), reason, err: toErrorInfo(err) };
      if (reason === 'store') log.error(fields, 'MQTT telemetry could not be stored; connection closed, client will resend');
      else log.warn(fields, 'MQTT telemetry publish refused; connection closed');
    }
    done(err);
  }

  // Loaded on use: processes that only import this module (a site agent) do not carry the broker.
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      try {
        const site = username === undefined || password === undefined ? undefined : opts.authenticate(username, password.toString('utf8'));
        if (site === undefined) {
          authFailures.inc();
          const err = new ErrMqttAuth({ client: client.id, username: username ?? '' });
          if (shouldLog(`auth\u0000${username ?? ''}`)) log.warn({ client: client.id, username }, 'MQTT connection refused: bad credentials');
          done(Object.assign(err, { returnCode: BAD_USERNAME_OR_PASSWORD }), false);
          return;
        }
        sites.set(client, site);
        done(null, true);
      } catch (err) {
        log.error({ client: client.id, err: describeError(err) }, 'MQTT authenticate hook threw; connection refused');
        done(authError('authentication unavailable', SERVER_UNAVAILABLE), false);
      }
    },

    authorizePublish(client: Client | null, packet: PublishPacket, done: (error?: Error | null) => void) {
      if (!client) {
        // A will published by the broker on a gone client's behalf: not telemetry.
        rejectedTotal.inc({ reason: 'will' });
        done(new Error('will messages are not accepted'));
        return;
      }
      try {
        const site = sites.get(client);
        if (site === undefined || packet.topic !== telemetryTopic(site)) {
          reject(client, 'topic', new ErrMqttTopic({ client: client.id, site: site ?? '', topic: packet.topic }), done);
          return;
        }
        let body: unknown;
        try {
          const payload = packet.payload;
          body = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
        } catch (err) {
          reject(client, 'payload', new ErrMqttPayload({ client: client.id, topic: packet.topic, reason: `not JSON (${describeError(err)})` }), done);
          return;
        }
        const readings = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as { readings?: unknown }).readings : undefined;
        if (!Array.isArray(readings)) {
          reject(client, 'payload', new ErrMqttPayload({ client: client.id, topic: packet.topic, reason: 'not an object with a readings array' }), done);
          return;
        }
        try {
          store.ingest(site, readings);
        } catch (err) {
          reject(client, ErrInvalid.is(err) ? 'invalid' : 'store', err instanceof Error ? err : new Error(String(err)), done);
          return;
        }
        batchesTotal.inc({ site });
        // The batch is stored: never keep it as a retained message too.
        packet.retain = false;
        done(null);
      } catch (err) {
        // Never let a surprise escape into aedes (it would crash the broker).
        reject(client, 'store', err instanceof Error ? err : new Error(String(err)), done);
      }
    },

    authorizeSubscribe(client: Client, sub: Subscription, done: (error: Error | null, subscription?: Subscription | null) => void) {
      const site = sites.get(client);
      // A site may follow its own telemetry topic, nothing else (no wildcards across sites).
      done(null, site !== undefined && sub.topic === telemetryTopic(site) ? sub : null);
    },
  });

  broker.on('clientError', (client: Client, err: Error) => {
    log.debug({ client: client.id, err: describeError(err) }, 'MQTT client error');
  });
  broker.on('connectionError', (client: Client, err: Error) => {
    log.debug({ client: client.id, err: describeError(err) }, 'MQTT connection error');
  });

  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw err;
  }
  server.on('error', (err) => log.error({ err: describeError(err) }, 'MQTT ingest listener error'));
  const port = (server.address() as AddressInfo).port;
  log.info({ port, host: opts.host ?? '127.0.0.1' }, 'MQTT telemetry ingest listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    close(): Promise<void> {
      closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        for (const s of sockets) s.destroy();
        await serverClosed;
      })();
      return closing;
    },
  };
}
