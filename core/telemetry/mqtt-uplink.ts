/**
 * The MQTT uplink (mqtt.js): one QoS 1 publish of `{ stream, readings }` per batch to
 * `edgeadm/telemetry/<site>`, username = site, password = token, persistent
 * session (clean: false). `send` resolves on PUBACK, which the hub's ingest
 * (startMqttIngest) sends only after the batch is committed.
 *
 * A PUBACK carries no counts, so `send` reports the whole batch as accepted
 * (duplicates: 0); the hub still stores each (site, seq) once. If the
 * connection drops before the PUBACK, `send` fails at once (the forwarder
 * retries) while mqtt.js may also resend the packet on reconnect: the hub
 * ignores the second copy.
 *
 * mqtt.js is imported when the uplink is made, not with this module: a site
 * agent on the REST uplink never loads it.
 */
import type { ErrorWithReasonCode, MqttClient } from 'mqtt';
import { createLogger, describeError, type Logger } from '../kernel/index.ts';
import { ErrUplinkAborted, ErrUplinkClosed, ErrUplinkRejected, ErrUplinkUnreachable } from './errors.ts';
import { telemetryTopic } from './topic.ts';
import type { Batch, IngestResult, Uplink } from './types.ts';

export interface MqttUplinkOptions {
  /** Broker URL, e.g. `mqtt://hub.example:1883` or `mqtts://...`. */
  url: string;
  token: string;
  site: string;
  /** Stable client id (the broker keeps the session by it). Default `edgeadm-<site>`. */
  clientId?: string;
  /** Default `edgeadm/telemetry/<site>`. */
  topic?: string;
  /** How long a send waits for the connection and then for its PUBACK. Default 10 s. */
  timeoutMs?: number;
  /** Pause between reconnect attempts. Default 1 s. */
  reconnectPeriodMs?: number;
  logger?: Logger;
}

const NAME = 'mqtt';

function isConnackRefusal(err: Error): err is ErrorWithReasonCode {
  const code = (err as Partial<ErrorWithReasonCode>).code;
  return typeof code === 'number' && code > 0 && /Connection refused/.test(err.message);
}

export function createMqttUplink(opts: MqttUplinkOptions): Uplink {
  const topic = opts.topic ?? telemetryTopic(opts.site);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const target = opts.url;
  const log = (opts.logger ?? createLogger({ level: 'silent' })).child({ component: 'mqtt-uplink', site: opts.site });
  let closed = false;
  /** The broker's last CONNACK refusal; cleared by a successful connect. */
  let refused: ErrorWithReasonCode | undefined;
  let lastError: Error | undefined;
  const closers = new Set<(err: Error) => void>();
  const clientReady: Promise<MqttClient> = import('mqtt').then(({ connect }) => {
    const client = connect(opts.url, {
      username: opts.site,
      password: opts.token,
      clientId: opts.clientId ?? `edgeadm-${opts.site}`,
      clean: false,
      reconnectPeriod: opts.reconnectPeriodMs ?? 1000,
      reconnectOnConnackError: true,
      connectTimeout: timeoutMs,
    });
    client.on('connect', () => {
      if (refused || lastError) log.info({ url: target }, 'connected to the hub broker');
      refused = undefined;
      lastError = undefined;
    });
    client.on('error', (err) => {
      if (isConnackRefusal(err)) {
        if (!refused) log.error({ url: target, code: err.code }, 'hub broker refused the connection');
        refused = err;
      } else {
        if (!lastError) log.warn({ url: target, err: describeError(err) }, 'hub broker connection error');
        lastError = err;
      }
    });
    client.on('close', () => {
      for (const fail of [...closers]) fail(new ErrUplinkUnreachable({ uplink: NAME, target, reason: 'connection closed before the PUBACK' }));
    });
    return client;
  });
  // A failed import is reported by the first send (and close), not as an unhandled rejection.
  clientReady.catch(() => undefined);

  function rejected(err: ErrorWithReasonCode): Error {
    return new ErrUplinkRejected({ uplink: NAME, status: err.code, reason: err.message }, { cause: err });
  }

  /** Waits (up to timeoutMs) for the connection; fails fast after a CONNACK refusal. */
  async function connected(signal: AbortSignal | undefined): Promise<MqttClient> {
    const client = await clientReady;
    if (client.connected) return client;
    if (refused) throw rejected(refused);
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        client.off('connect', onConnect);
        client.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
        closers.delete(onClose);
      };
      const onConnect = (): void => {
        cleanup();
        resolve(client);
      };
      const onError = (err: Error): void => {
        if (!isConnackRefusal(err)) return;
        cleanup();
        reject(rejected(err));
      };
      const onAbort = (): void => {
        cleanup();
        reject(new ErrUplinkAborted({ uplink: NAME }, { cause: signal?.reason }));
      };
      const onClose = (err: Error): void => {
        if (!closed) return;
        cleanup();
        reject(err);
      };
      const timer = setTimeout(() => {
        cleanup();
        const reason = `not connected within ${timeoutMs} ms${lastError ? ` (${describeError(lastError)})` : ''}`;
        reject(new ErrUplinkUnreachable({ uplink: NAME, target, reason }, lastError ? { cause: lastError } : undefined));
      }, timeoutMs);
      client.on('connect', onConnect);
      client.on('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
      closers.add(onClose);
    });
  }

  return {
    name: NAME,

    async send(batch: Batch, signal?: AbortSignal): Promise<IngestResult> {
      if (closed) throw new ErrUplinkClosed({ uplink: NAME });
      if (signal?.aborted) throw new ErrUplinkAborted({ uplink: NAME }, { cause: signal.reason });
      const client = await connected(signal);
      const payload = JSON.stringify({ stream: batch.stream, readings: batch.readings });
      return new Promise<IngestResult>((resolve, reject) => {
        let settled = false;
        const settle = (err: Error | undefined): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          closers.delete(onClose);
          if (err) reject(err);
          else resolve({ accepted: batch.readings.length, duplicates: 0, conflicts: 0, quarantined: 0 });
        };
        const onAbort = (): void => settle(new ErrUplinkAborted({ uplink: NAME }, { cause: signal?.reason }));
        const onClose = (err: Error): void => settle(err);
        const timer = setTimeout(() => settle(new ErrUplinkUnreachable({ uplink: NAME, target, reason: `no PUBACK within ${timeoutMs} ms` })), timeoutMs);
        signal?.addEventListener('abort', onAbort, { once: true });
        closers.add(onClose);
        client.publish(topic, payload, { qos: 1 }, (err) => {
          settle(err ? new ErrUplinkUnreachable({ uplink: NAME, target, reason: describeError(err) }, { cause: err }) : undefined);
        });
      });
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const fail of [...closers]) fail(new ErrUplinkClosed({ uplink: NAME }));
      const client = await clientReady.catch(() => undefined);
      await client?.endAsync(true);
    },
  };
}
