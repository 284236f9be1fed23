/**
 * The bridge uplink: telemetry to an external MQTT broker (Mosquitto, EMQX,
 * ...) instead of the hub. One QoS 1 PUBLISH per reading to a topic made from
 * a template (default `edgeadm/{site}/{device}/{resource}`); the payload is
 * the project's reading JSON (site, device, profile, resource, value,
 * valueType, units, origin, quality, qualityDetail, seq) plus `stream`, the
 * outbox's producer stream id, not EdgeX's DTO, which carries neither site
 * nor seq. `send` resolves only once the broker
 * has acknowledged (PUBACK) every message of the batch, so the forwarder's
 * outbox keeps the batch until then.
 *
 * Delivery is at least once. A connection that drops fails the batch in
 * flight at once; the forwarder then retries the whole batch, in seq order,
 * on a fresh connection (clean session, nothing replayed by the client
 * library), so each device's readings reach the broker in order but some may
 * arrive twice. Consumers de-duplicate on (site, stream, seq), which every
 * payload carries (seqs start again at 1 in a new outbox, under a new stream).
 *
 * The uplink dials on its own: at creation, and after a lost connection with
 * exponential backoff and full jitter. A CONNACK refusal (bad credentials,
 * not authorized) is EDGE_ERR_UPLINK_REJECTED; the forwarder retries it at
 * its slowest pace. Credentials are never logged (a URL is logged without
 * its user info).
 */
import type { connect as mqttConnect, ErrorWithReasonCode, IClientOptions, MqttClient } from 'mqtt';
import { createLogger, describeError, type Logger } from '../kernel/index.ts';
import type { Reading } from '../sdk/index.ts';
import { ErrBridgeOption, ErrUplinkAborted, ErrUplinkClosed, ErrUplinkRejected, ErrUplinkUnreachable } from './errors.ts';
import { backoffDelay } from './forwarder.ts';
import type { Batch, IngestResult, Uplink } from './types.ts';

export interface BridgeUplinkOptions {
  /** External broker, e.g. `mqtt://broker.example:1883` or `mqtts://...` (`tcp:`, `ssl:`, `ws:`, `wss:` too). */
  url: string;
  /** The site whose readings this uplink carries. */
  site: string;
  username?: string;
  /** Never logged. */
  password?: string;
  /** Default `edgeadm-bridge-<site>`. */
  clientId?: string;
  /**
   * Topic template; placeholders `{site}`, `{device}`, `{resource}`, `{profile}`.
   * Default `edgeadm/{site}/{device}/{resource}`. A name that holds `/`, `+`,
   * `#` or `%` is percent-encoded in its level.
   */
  topic?: string;
  /** How long a send waits for the connection, and then for its PUBACKs. Default 10 s. */
  timeoutMs?: number;
  /** Reconnect backoff: full jitter over an exponential cap. Default 100 ms .. 10 s. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Source of jitter in [0, 1). Default Math.random. */
  random?: () => number;
  /** TLS and other mqtt.js connection options (mqtts:// with a private CA, client certificates). */
  tls?: Pick<IClientOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;
  logger?: Logger;
}

export const DEFAULT_BRIDGE_TOPIC = 'edgeadm/{site}/{device}/{resource}';

const NAME = 'bridge';
const PROTOCOLS = new Set(['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'ws:', 'wss:']);
const PLACEHOLDERS = new Set(['site', 'device', 'resource', 'profile']);
type Field = 'site' | 'device' | 'resource' | 'profile';

function isConnackRefusal(err: Error): err is ErrorWithReasonCode {
  const code = (err as Partial<ErrorWithReasonCode>).code;
  return typeof code === 'number' && code > 0 && /Connection refused/.test(err.message);
}

/** One topic level from a name: `/`, `+`, `#`, `%` and NUL percent-encoded. */
function level(name: string): string {
  return /[/+#%\0]/.test(name) ? name.replace(/[/+#%\0]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`) : name;
}

/** Parses a topic template into literal text and placeholders. */
function compileTopic(template: string): (r: Reading) => string {
  if (template.length === 0) throw new ErrBridgeOption({ option: 'topic', reason: 'is empty' });
  if (/[+#\0]/.test(template)) throw new ErrBridgeOption({ option: 'topic', reason: `'${template}' contains a wildcard (+, #) or NUL; a publish topic cannot` });
  if (template.startsWith('$')) throw new ErrBridgeOption({ option: 'topic', reason: `'${template}' starts with '$' (reserved for the broker)` });
  const parts: (string | { field: Field })[] = [];
  let rest = template;
  for (;;) {
    const open = rest.indexOf('{');
    const close = rest.indexOf('}');
    if (open < 0) {
      if (close >= 0) throw new ErrBridgeOption({ option: 'topic', reason: `'${template}' has a '}' without '{'` });
      if (rest) parts.push(rest);
      break;
    }
    if (close < open) throw new ErrBridgeOption({ option: 'topic', reason: `'${template}' has a '}' without '{'` });
    const name = rest.slice(open + 1, close);
    if (!PLACEHOLDERS.has(name)) {
      throw new ErrBridgeOption({ option: 'topic', reason: `'${template}' has an unknown placeholder '{${name}}' (known: {site}, {device}, {resource}, {profile})` });
    }
    if (open > 0) parts.push(rest.slice(0, open));
    parts.push({ field: name as Field });
    rest = rest.slice(close + 1);
  }
  return (r) => {
    let t = '';
    for (const p of parts) t += typeof p === 'string' ? p : level(r[p.field]);
    return t;
  };
}

function positiveInt(option: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v <= 0)) throw new ErrBridgeOption({ option, reason: `must be a positive integer (got ${String(v)})` });
}

/** The URL without user info, for logs and errors. */
function safeUrl(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
}

export function createBridgeUplink(opts: BridgeUplinkOptions): Uplink {
  if (typeof opts.url !== 'string' || opts.url === '') throw new ErrBridgeOption({ option: 'url', reason: 'is required' });
  let parsed: URL;
  try {
    parsed = new URL(opts.url);
  } catch (err) {
    throw new ErrBridgeOption({ option: 'url', reason: 'is not a URL' }, { cause: err });
  }
  if (!PROTOCOLS.has(parsed.protocol)) {
    throw new ErrBridgeOption({ option: 'url', reason: `has scheme '${parsed.protocol}' (use mqtt:, mqtts:, tcp:, ssl:, ws: or wss:)` });
  }
  if (!parsed.hostname) throw new ErrBridgeOption({ option: 'url', reason: 'names no host' });
  if (typeof opts.site !== 'string' || opts.site === '') throw new ErrBridgeOption({ option: 'site', reason: 'is required' });
  if (opts.username !== undefined && (typeof opts.username !== 'string' || opts.username === '')) {
    throw new ErrBridgeOption({ option: 'username', reason: 'must be a non-empty string when given' });
  }
  if (opts.password !== undefined && typeof opts.password !== 'string') throw new ErrBridgeOption({ option: 'password', reason: 'must be a string' });
  if (opts.password !== undefined && opts.username === undefined && !parsed.username) {
    throw new ErrBridgeOption({ option: 'password', reason: 'is given without a username' });
  }
  const clientId = opts.clientId ?? `edgeadm-bridge-${opts.site}`;
  if (typeof clientId !== 'string' || clientId === '' || Buffer.byteLength(clientId) > 65535) {
    throw new ErrBridgeOption({ option: 'clientId', reason: 'must be a non-empty string of at most 65535 bytes' });
  }
  positiveInt('timeoutMs', opts.timeoutMs);
  positiveInt('backoff.initialMs', opts.backoff?.initialMs);
  positiveInt('backoff.maxMs', opts.backoff?.maxMs);
  const topicOf = compileTopic(opts.topic ?? DEFAULT_BRIDGE_TOPIC);

  const timeoutMs = opts.timeoutMs ?? 10_000;
  const initialMs = opts.backoff?.initialMs ?? 100;
  const maxMs = Math.max(initialMs, opts.backoff?.maxMs ?? 10_000);
  const random = opts.random ?? Math.random;
  const target = safeUrl(parsed);
  const log = (opts.logger ?? createLogger({ level: 'silent' })).child({ component: 'bridge-uplink', site: opts.site, url: target });
  // Credentials go to mqtt.js only, never into a log line or an error.
  const username = opts.username ?? (parsed.username ? decodeURIComponent(parsed.username) : undefined);
  const password = opts.password ?? (parsed.password ? decodeURIComponent(parsed.password) : undefined);
  parsed.username = '';
  parsed.password = '';
  const dialUrl = parsed.toString();

  let closed = false;
  /** mqtt.js's connect, imported when the uplink is made (a site agent on another uplink never loads mqtt.js). */
  let connect: typeof mqttConnect | undefined;
  let client: MqttClient | undefined;
  let attempt = 0;
  let redial: NodeJS.Timeout | undefined;
  /** The broker's last CONNACK refusal; cleared by a successful connect. */
  let refused: ErrorWithReasonCode | undefined;
  let lastError: Error | undefined;
  let wasConnected = false;
  /** Sends and waits that must fail when the connection goes. */
  const onLost = new Set<(err: Error) => void>();
  const onConnected = new Set<() => void>();
  const onRefused = new Set<(err: ErrorWithReasonCode) => void>();

  function rejected(err: ErrorWithReasonCode): Error {
    return new ErrUplinkRejected({ uplink: NAME, status: err.code, reason: err.message }, { cause: err });
  }

  function dial(): void {
    redial = undefined;
    if (closed || !connect) return;
    const c = connect(dialUrl, {
      clientId,
      // A fresh session per connection: the forwarder resends what was not acknowledged, in order.
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      protocolVersion: 4,
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...(opts.tls ?? {}),
    });
    client = c;
    c.on('connect', () => {
      if (client !== c) return;
      if (attempt > 0 || refused || lastError) log.info({ attempts: attempt }, 'connected to the external broker');
      else log.debug('connected to the external broker');
      attempt = 0;
      refused = undefined;
      lastError = undefined;
      wasConnected = true;
      for (const f of [...onConnected]) f();
    });
    c.on('error', (err) => {
      if (client !== c) return;
      if (isConnackRefusal(err)) {
        if (!refused || refused.code !== err.code) log.error({ code: err.code, reason: err.message }, 'external broker refused the connection');
        refused = err;
        for (const f of [...onRefused]) f(err);
      } else {
        if (!lastError) log.warn({ err: describeError(err) }, 'external broker connection error');
        lastError = err;
      }
    });
    c.on('close', () => {
      if (client !== c) return;
      client = undefined;
      if (wasConnected) log.warn('connection to the external broker lost; reconnecting');
      wasConnected = false;
      const reason = lastError ? `connection closed (${describeError(lastError)})` : 'connection closed';
      for (const fail of [...onLost]) fail(new ErrUplinkUnreachable({ uplink: NAME, target, reason }));
      // Fails whatever mqtt.js still holds and releases the socket; nothing is replayed.
      c.end(true);
      if (!closed) redial = setTimeout(dial, backoffDelay(attempt++, initialMs, maxMs, random));
    });
  }

  /** The connected client, waiting up to timeoutMs; fails fast after a CONNACK refusal. */
  function connected(signal: AbortSignal | undefined): Promise<MqttClient> {
    if (client?.connected) return Promise.resolve(client);
    if (refused) return Promise.reject(rejected(refused));
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        onConnected.delete(onConnect);
        onRefused.delete(onRefuse);
        onLost.delete(onClose);
        signal?.removeEventListener('abort', onAbort);
      };
      const onConnect = (): void => {
        cleanup();
        if (client?.connected) resolve(client);
        else reject(new ErrUplinkUnreachable({ uplink: NAME, target, reason: 'connection lost right after it was made' }));
      };
      const onRefuse = (err: ErrorWithReasonCode): void => {
        cleanup();
        reject(rejected(err));
      };
      const onClose = (err: Error): void => {
        // A dial that fails is retried by the uplink; only close() ends this wait early.
        if (!closed) return;
        cleanup();
        reject(err);
      };
      const onAbort = (): void => {
        cleanup();
        reject(new ErrUplinkAborted({ uplink: NAME }, { cause: signal?.reason }));
      };
      const timer = setTimeout(() => {
        cleanup();
        const why = lastError ? ` (${describeError(lastError)})` : '';
        reject(new ErrUplinkUnreachable({ uplink: NAME, target, reason: `not connected within ${timeoutMs} ms${why}` }, lastError ? { cause: lastError } : undefined));
      }, timeoutMs);
      onConnected.add(onConnect);
      onRefused.add(onRefuse);
      onLost.add(onClose);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  import('mqtt').then(
    (m) => {
      connect = m.connect;
      dial();
    },
    (err: unknown) => {
      lastError = err instanceof Error ? err : new Error(String(err));
      log.error({ err: describeError(err) }, 'mqtt.js does not load');
    },
  );

  return {
    name: NAME,

    async send({ stream, readings: batch }: Batch, signal?: AbortSignal): Promise<IngestResult> {
      if (closed) throw new ErrUplinkClosed({ uplink: NAME });
      if (signal?.aborted) throw new ErrUplinkAborted({ uplink: NAME }, { cause: signal.reason });
      if (batch.length === 0) return { accepted: 0, duplicates: 0, conflicts: 0, quarantined: 0 };
      const c = await connected(signal);
      return new Promise<IngestResult>((resolve, reject) => {
        let settled = false;
        let pending = batch.length;
        const settle = (err: Error | undefined): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          onLost.delete(onClose);
          if (err) reject(err);
          else resolve({ accepted: batch.length, duplicates: 0, conflicts: 0, quarantined: 0 });
        };
        const onAbort = (): void => settle(new ErrUplinkAborted({ uplink: NAME }, { cause: signal?.reason }));
        const onClose = (err: Error): void => settle(err);
        const timer = setTimeout(
          () => settle(new ErrUplinkUnreachable({ uplink: NAME, target, reason: `${pending} of ${batch.length} PUBACKs missing after ${timeoutMs} ms` })),
          timeoutMs,
        );
        signal?.addEventListener('abort', onAbort, { once: true });
        onLost.add(onClose);
        const acked = (err?: Error): void => {
          if (err) settle(new ErrUplinkUnreachable({ uplink: NAME, target, reason: describeError(err) }, { cause: err }));
          else if (--pending === 0) settle(undefined);
        };
        for (const r of batch) {
          if (settled) break;
          c.publish(topicOf(r), JSON.stringify({ ...r, stream: stream.id }), { qos: 1 }, acked);
        }
      });
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearTimeout(redial);
      for (const fail of [...onLost]) fail(new ErrUplinkClosed({ uplink: NAME }));
      const c = client;
      client = undefined;
      if (c) await c.endAsync(true);
    },
  };
}
