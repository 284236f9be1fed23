/**
 * The hub's MQTT telemetry ingest: an aedes broker on a plain net server.
 * A client authenticates as its site (username = site, password = token,
 * checked by `authenticate`, which also names the producer the token speaks
 * for) and may publish only to `edgeadm/telemetry/<its site>`, a JSON
 * `{ stream: { id, lastSeq }, readings }`. Each publish is parsed and
 * ingested inside aedes' authorizePublish hook, before aedes writes the
 * PUBACK, so a PUBACK means the batch is committed; redeliveries are
 * absorbed by the store's (site, producer, stream, seq) idempotency, which
 * makes QoS 1 exactly-once in effect. A rewound stream is stored anyway
 * (its already-held seqs become duplicates or quarantined conflicts): MQTT
 * 3.1.1 could only close the connection, and the producer would never learn
 * why.
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
import { describeError, parseJson, toErrorInfo, type Logger } from '../kernel/index.ts';
import { ErrInvalid, ErrMqttAuth, ErrMqttPayload, ErrMqttTopic, ErrSeq, ErrStreamHeader } from './errors.ts';
import { counter } from './metrics.ts';
import { telemetryTopic } from './topic.ts';
import type { QuarantineReason, StreamHeader, TelemetryStore } from './types.ts';
import type { Reading } from '../sdk/index.ts';

export interface MqttIngestOptions {
  /** 0 picks a free port. */
  port: number;
  host?: string;
  store: TelemetryStore;
  /** The site and producer these credentials speak for, or undefined to refuse the connection. */
  authenticate(username: string, password: string): { site: string; producer: string } | undefined | Promise<{ site: string; producer: string } | undefined>;
  /** Looks up what a batch's readings refer to; a reading it classifies is quarantined. */
  classifier?: (site: string, readings: readonly Reading[]) => Promise<(r: Reading) => QuarantineReason | undefined>;
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

  const sites = new WeakMap<Client, { site: string; producer: string }>();
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
      const fields = { client: client.id, site: sites.get(client)?.site, reason, err: toErrorInfo(err) };
      if (reason === 'store') log.error(fields, 'MQTT telemetry could not be stored; connection closed, client will resend');
      else log.warn(fields, 'MQTT telemetry publish refused; connection closed');
    }
    done(err);
  }

  // Loaded on use: processes that only import this module (a site agent) do not carry the broker.
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      void (async () => {
        const who = username === undefined || password === undefined ? undefined : await opts.authenticate(username, password.toString('utf8'));
        if (who === undefined) {
          authFailures.inc();
          const err = new ErrMqttAuth({ client: client.id, username: username ?? '' });
          if (shouldLog(`auth\u0000${username ?? ''}`)) log.warn({ client: client.id, username }, 'MQTT connection refused: bad credentials');
          done(Object.assign(err, { returnCode: BAD_USERNAME_OR_PASSWORD }), false);
          return;
        }
        sites.set(client, who);
        done(null, true);
      })().catch((err: unknown) => {
        log.error({ client: client.id, err: describeError(err) }, 'MQTT authenticate hook threw; connection refused');
        done(authError('authentication unavailable', SERVER_UNAVAILABLE), false);
      });
    },

    authorizePublish(client: Client | null, packet: PublishPacket, done: (error?: Error | null) => void) {
      if (!client) {
        // A will published by the broker on a gone client's behalf: not telemetry.
        rejectedTotal.inc({ reason: 'will' });
        done(new Error('will messages are not accepted'));
        return;
      }
      const who = sites.get(client);
      const site = who?.site;
      if (who === undefined || packet.topic !== telemetryTopic(who.site)) {
        reject(client, 'topic', new ErrMqttTopic({ client: client.id, site: site ?? '', topic: packet.topic }), done);
        return;
      }
      let body: unknown;
      try {
        const payload = packet.payload;
        body = parseJson(typeof payload === 'string' ? payload : payload.toString('utf8'), { what: `payload of topic '${packet.topic}'` });
      } catch (err) {
        reject(client, 'payload', new ErrMqttPayload({ client: client.id, topic: packet.topic, reason: `not acceptable JSON (${describeError(err)})` }), done);
        return;
      }
      const o = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as { stream?: unknown; readings?: unknown }) : undefined;
      if (!o || !Array.isArray(o.readings) || o.stream === null || typeof o.stream !== 'object') {
        reject(client, 'payload', new ErrMqttPayload({ client: client.id, topic: packet.topic, reason: 'not an object { stream: { id, lastSeq }, readings: [...] }' }), done);
        return;
      }
      const readings = o.readings as Reading[];
      const key = { site: who.site, producer: who.producer, stream: o.stream as StreamHeader };
      const classified = opts.classifier ? opts.classifier(who.site, readings) : Promise.resolve(undefined);
      classified.then(
        (classify) =>
          store.ingest(key, readings, { acceptRewound: true, ...(classify ? { classify } : {}) }).then(
            () => {
              batchesTotal.inc({ site: who.site });
              // The batch is stored: never keep it as a retained message too.
              packet.retain = false;
              done(null);
            },
            (err: unknown) => {
              // Never let a surprise escape into aedes (it would crash the broker).
              reject(client, ErrInvalid.is(err) || ErrSeq.is(err) || ErrStreamHeader.is(err) ? 'invalid' : 'store', err instanceof Error ? err : new Error(String(err)), done);
            },
          ),
        (err: unknown) => reject(client, 'store', err instanceof Error ? err : new Error(String(err)), done),
      );
    },

    authorizeSubscribe(client: Client, sub: Subscription, done: (error: Error | null, subscription?: Subscription | null) => void) {
      const who = sites.get(client);
      // A site may follow its own telemetry topic, nothing else (no wildcards across sites).
      done(null, who !== undefined && sub.topic === telemetryTopic(who.site) ? sub : null);
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
