/**
 * Broker connections shared by the devices of one driver: one mqtt.js client
 * per broker URL, reference-counted, and one MQTT subscription per topic (or
 * topic filter with + and # wildcards: a message goes to the listeners of
 * every filter that matches it, each called once) however many devices and
 * resources listen to it. A listener that throws is caught here, so one
 * device's handler never stops another's messages.
 *
 * A QoS 1 message is acknowledged (PUBACK) only once its listeners have
 * taken it (mqtt.js's `handleMessage` hook: calling back with an error sends
 * no PUBACK, emits nothing and keeps the connection). On a persistent
 * session the broker keeps what was not acknowledged and sends it again
 * after a reconnect, in order, so a message is held back when:
 *
 *   - a listener throws EDGE_ERR_READINGS_NOT_STORED (the site's disk is
 *     full or failing): no QoS 1 message is acknowledged any more (later ones
 *     come again too, in order); the client waits (1 s, doubling to 30 s
 *     while redelivered messages still cannot be stored) and reconnects.
 *   - a listener throws EDGE_ERR_MQTT_NOT_READY (its device has no sink yet),
 *     or, in the first `holdMs` after connecting, no listener has its topic
 *     yet (the broker sends a session's queue right after CONNACK, before
 *     the devices are set up): that topic's messages are held until the
 *     reconnect that `redeliver()` asks for once the devices are ready.
 *
 * On a clean session nothing comes back: such a message is only not
 * acknowledged. A message one listener stored and another could not is
 * delivered to both again (at least once).
 *
 * A persistent session keeps its subscriptions when the last listener of a
 * topic goes (a device stopped, the driver closed for a restart), so the
 * broker queues the topic's messages until the driver is back. A topic that
 * gets messages but no listener after `holdMs` belongs to no device any more:
 * it is unsubscribed then.
 */
import { randomUUID } from 'node:crypto';
import type { IPublishPacket, MqttClient } from 'mqtt';
import { ErrReadingsNotStored, type Logger } from '../../../core/sdk/index.ts';
import { ErrMqttBrokerUnreachable, ErrMqttNotReady, ErrMqttPublish } from './errors.ts';

/**
 * Called with each message of its topic. Throwing EDGE_ERR_READINGS_NOT_STORED
 * or EDGE_ERR_MQTT_NOT_READY leaves a QoS 1 message unacknowledged.
 */
export type Listener = (topic: string, payload: Buffer) => void;

/** The wait before reconnecting for redelivery: `initialMs`, doubling up to `maxMs` while redelivered messages still cannot be stored. */
export interface RedeliveryBackoff {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_REDELIVERY_BACKOFF: RedeliveryBackoff = { initialMs: 1000, maxMs: 30_000 };
/** After connecting, messages on a topic nobody listens to yet are held this long (a persistent session's queue arrives first). */
const DEFAULT_HOLD_MS = 30_000;
/** `redeliver()` reconnects once no more such calls came for this long and no subscription is pending. */
const REDELIVER_QUIET_MS = 300;

export interface SharedClient {
  readonly url: string;
  /** Subscribes `topic` (once for all listeners; the highest QoS asked wins) and calls `listener` with its messages. */
  listen(topic: string, qos: 0 | 1, listener: Listener): Promise<() => Promise<void>>;
  publish(topic: string, payload: string | Buffer, qos: 0 | 1): Promise<void>;
  /** Listeners are ready for what was held back: the broker is to send it again (a reconnect, once things are quiet). */
  redeliver(): void;
}

interface Topic {
  listeners: Set<Listener>;
  qos: 0 | 1;
  /** Settles when the broker granted the subscription. */
  subscribed: Promise<void>;
}

/** True when the MQTT topic filter `filter` (with + and # wildcards) matches `topic`. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

const isFilter = (topic: string): boolean => /[+#]/.test(topic);

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

interface SharedOptions {
  log: Logger;
  timeoutMs: number;
  /** The session is persistent (clean = false): the broker sends unacknowledged messages again after a reconnect. */
  persistent: boolean;
  backoff: RedeliveryBackoff;
  holdMs: number;
}

class Shared implements SharedClient {
  readonly url: string;
  refs = 0;
  readonly #client: MqttClient;
  readonly #topics = new Map<string, Topic>();
  /** The keys of #topics that are filters with wildcards: a message's topic is matched against each. */
  readonly #filters = new Set<string>();
  /** Filters with wildcards a persistent session keeps though no device listens any more: dropped when a message of theirs comes. */
  readonly #left = new Set<string>();
  readonly #log: Logger;
  readonly #ready: Promise<void>;
  readonly #o: SharedOptions;
  /** Why no QoS 1 message is acknowledged until the broker has sent them again (a reconnect); undefined when they are. */
  #withheld: Error | undefined;
  /** Consecutive redeliveries whose readings could not be stored: the wait before the next reconnect doubles with each. */
  #failedRounds = 0;
  /** Topics whose messages are held back until the next reconnect (their listener was not ready). */
  readonly #held = new Set<string>();
  /** Session subscriptions of no device being dropped. */
  readonly #dropping = new Set<string>();
  #connectedAt = 0;
  #subscribing = 0;
  #backoffTimer: NodeJS.Timeout | undefined;
  #redeliverTimer: NodeJS.Timeout | undefined;
  /** Set while this client closes its own connection to have messages sent again. */
  #redelivering = false;
  #ended = false;

  constructor(url: string, client: MqttClient, o: SharedOptions) {
    this.url = url;
    this.#client = client;
    this.#log = o.log;
    this.#o = o;
    // mqtt.js sends PUBACK for a QoS 1 message once this calls back without an error.
    client.handleMessage = (packet, callback) => callback(this.#deliver(packet));
    client.on('connect', () => {
      // A new connection: the broker sends again what was not acknowledged.
      this.#connectedAt = performance.now();
      this.#withheld = undefined;
      this.#held.clear();
      this.#redelivering = false;
      clearTimeout(this.#backoffTimer);
      clearTimeout(this.#redeliverTimer);
      this.#backoffTimer = this.#redeliverTimer = undefined;
    });
    client.on('error', (err) => this.#log.warn({ broker: redact(url), error: { code: 'EDGE_ERR_MQTT_CLIENT', message: err.message } }, 'mqtt client error'));
    client.on('offline', () => {
      if (this.#redelivering) this.#log.debug({ broker: redact(url) }, 'mqtt reconnecting for redelivery');
      else this.#log.warn({ broker: redact(url) }, 'mqtt broker offline');
    });
    this.#ready = new Promise<void>((resolve, reject) => {
      if (client.connected) return resolve();
      const timer = setTimeout(() => {
        client.off('connect', onConnect);
        reject(new ErrMqttBrokerUnreachable({ broker: redact(url), reason: `no CONNACK within ${o.timeoutMs} ms` }));
      }, o.timeoutMs);
      const onConnect = (): void => {
        clearTimeout(timer);
        resolve();
      };
      client.once('connect', onConnect);
    });
    // Awaited by every user; a rejection here is theirs to report.
    this.#ready.catch(() => undefined);
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  /** Hands a message to its listeners; returns the error that withholds its acknowledgement, if any. */
  #deliver(packet: IPublishPacket): Error | undefined {
    const topic = packet.topic;
    const redeliverable = this.#o.persistent && packet.qos > 0;
    if (redeliverable && this.#withheld) return this.#withheld;
    const entries = this.#entriesFor(topic);
    if (entries.length === 0) {
      if (!this.#o.persistent) return undefined;
      // The queue of a persistent session arrives before the devices listen: held for them a while.
      if (performance.now() - this.#connectedAt <= this.#o.holdMs) {
        if (packet.qos === 0) return undefined;
        this.#held.add(topic);
        return new ErrMqttNotReady({ topic, reason: 'no device listens to it yet' });
      }
      // Later, nobody's: a device that is gone. The session stops queuing for it (its exact topic, or the filters it had that match).
      this.#dropSubscription(topic);
      for (const f of this.#left) {
        if (topicMatches(f, topic)) {
          this.#left.delete(f);
          this.#dropSubscription(f);
        }
      }
      return undefined;
    }
    // Held messages come again in order: nothing later on the topic is taken before them.
    if (redeliverable && this.#held.has(topic)) return new ErrMqttNotReady({ topic, reason: 'earlier messages on it are held for redelivery' });
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    let notStored: Error | undefined;
    let notReady: Error | undefined;
    // One call per listener, however many of its filters match.
    const listeners = new Set(entries.flatMap((t) => [...t.listeners]));
    for (const l of listeners) {
      try {
        l(topic, payload);
      } catch (err) {
        if (ErrReadingsNotStored.is(err)) notStored ??= err;
        else if (ErrMqttNotReady.is(err)) notReady ??= err;
        else this.#log.error({ topic, error: { code: 'EDGE_ERR_MQTT_LISTENER', message: messageOf(err) } }, 'mqtt listener failed');
      }
    }
    // A QoS 0 message is not sent again: there is nothing to hold back.
    if (packet.qos === 0) return undefined;
    if (notStored) {
      this.#withhold(topic, notStored);
      return notStored;
    }
    if (notReady) {
      if (redeliverable) this.#held.add(topic);
      return notReady;
    }
    this.#failedRounds = 0;
    return undefined;
  }

  /** The subscriptions a message on `topic` belongs to: the exact one, and the wildcard filters that match it. */
  #entriesFor(topic: string): Topic[] {
    const exact = this.#topics.get(topic);
    const found = exact ? [exact] : [];
    for (const f of this.#filters) {
      if (topicMatches(f, topic)) found.push(this.#topics.get(f)!);
    }
    return found;
  }

  /** Acknowledges no QoS 1 message until the broker has sent them again after a reconnect, which comes after a backoff. */
  #withhold(topic: string, err: Error & { code?: string }): void {
    const error = { code: err.code ?? 'EDGE_ERR_READINGS_NOT_STORED', message: err.message };
    if (!this.#o.persistent) {
      this.#log.warn({ broker: redact(this.url), topic, error }, 'mqtt message not acknowledged: its readings were not stored; a clean session does not get it again');
      return;
    }
    if (this.#withheld || this.#ended) return;
    this.#withheld = err;
    const { initialMs, maxMs } = this.#o.backoff;
    const delayMs = Math.min(initialMs * 2 ** Math.min(this.#failedRounds, 30), maxMs);
    this.#failedRounds++;
    this.#log.warn({ broker: redact(this.url), topic, delayMs, round: this.#failedRounds, error }, 'mqtt messages not acknowledged: their readings were not stored; reconnecting for redelivery');
    clearTimeout(this.#redeliverTimer);
    this.#redeliverTimer = undefined;
    this.#backoffTimer = setTimeout(() => this.#reconnect(), delayMs);
  }

  redeliver(): void {
    // Only for what someone now listens to: a topic of no device stays held until it is dropped.
    if (this.#withheld || this.#ended || ![...this.#held].some((t) => this.#entriesFor(t).length > 0)) return;
    clearTimeout(this.#redeliverTimer);
    this.#redeliverTimer = setTimeout(() => {
      // Not while a subscription is on its way: a reconnect would fail it.
      if (this.#subscribing > 0) this.redeliver();
      else this.#reconnect();
    }, REDELIVER_QUIET_MS);
  }

  /**
   * Closes the connection; mqtt.js reconnects after its reconnectPeriod and
   * the broker sends every unacknowledged message again. The stream is ended,
   * not destroyed: acknowledgements already written reach the broker first
   * (a lost one would bring its message a second time).
   */
  #reconnect(): void {
    this.#backoffTimer = this.#redeliverTimer = undefined;
    if (this.#ended || !this.#client.connected) return;
    this.#redelivering = true;
    this.#client.stream.end();
  }

  async listen(topic: string, qos: 0 | 1, listener: Listener): Promise<() => Promise<void>> {
    let t = this.#topics.get(topic);
    if (!t || qos > t.qos) {
      const subscribed = this.#subscribe(topic, qos);
      if (t) {
        t.qos = qos;
        t.subscribed = subscribed;
      } else {
        t = { listeners: new Set(), qos, subscribed };
        this.#topics.set(topic, t);
        if (isFilter(topic)) this.#filters.add(topic);
        this.#left.delete(topic);
      }
    }
    t.listeners.add(listener);
    const entry = t;
    try {
      await entry.subscribed;
    } catch (err) {
      await this.#unlisten(topic, entry, listener);
      throw err;
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      await this.#unlisten(topic, entry, listener);
    };
  }

  async #subscribe(topic: string, qos: 0 | 1): Promise<void> {
    this.#subscribing++;
    try {
      await this.#ready;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new ErrMqttBrokerUnreachable({ broker: redact(this.url), reason: `no SUBACK for '${topic}' within ${this.#o.timeoutMs} ms` })), this.#o.timeoutMs);
        this.#client.subscribe(topic, { qos }, (err, granted) => {
          clearTimeout(timer);
          const refused = granted?.find((g) => g.qos === 128);
          if (err) reject(new ErrMqttBrokerUnreachable({ broker: redact(this.url), reason: `subscribe '${topic}': ${err.message}` }, { cause: err }));
          else if (refused) reject(new ErrMqttBrokerUnreachable({ broker: redact(this.url), reason: `the broker refused the subscription to '${topic}'` }));
          else resolve();
        });
      });
    } finally {
      this.#subscribing--;
    }
  }

  async #unlisten(topic: string, entry: Topic, listener: Listener): Promise<void> {
    entry.listeners.delete(listener);
    if (entry.listeners.size > 0 || this.#topics.get(topic) !== entry) return;
    this.#topics.delete(topic);
    if (this.#filters.delete(topic) && this.#o.persistent) this.#left.add(topic);
    // A persistent session keeps the subscription, so what the device sends while the driver is away (a restart)
    // is queued for it; a topic that stays without a device is dropped when a message comes for it (#deliver).
    if (this.#o.persistent) return;
    await this.#unsubscribe(topic);
  }

  #dropSubscription(topic: string): void {
    if (this.#dropping.has(topic)) return;
    this.#dropping.add(topic);
    this.#log.info({ broker: redact(this.url), topic }, 'mqtt session subscription of no device dropped');
    void this.#unsubscribe(topic).finally(() => this.#dropping.delete(topic));
  }

  async #unsubscribe(topic: string): Promise<void> {
    if (!this.#client.connected) return;
    await new Promise<void>((resolve) => {
      this.#client.unsubscribe(topic, (err) => {
        if (err) this.#log.warn({ topic, error: { code: 'EDGE_ERR_MQTT_UNSUBSCRIBE', message: err.message } }, 'mqtt unsubscribe failed');
        resolve();
      });
    });
  }

  async publish(topic: string, payload: string | Buffer, qos: 0 | 1): Promise<void> {
    await this.#ready;
    await new Promise<void>((resolve, reject) => {
      this.#client.publish(topic, payload, { qos }, (err) => (err ? reject(new ErrMqttPublish({ topic, reason: err.message }, { cause: err })) : resolve()));
    });
  }

  async end(): Promise<void> {
    this.#ended = true;
    clearTimeout(this.#backoffTimer);
    clearTimeout(this.#redeliverTimer);
    this.#backoffTimer = this.#redeliverTimer = undefined;
    await new Promise<void>((resolve) => this.#client.end(true, {}, () => resolve()));
  }
}

export interface BrokerEndpoint {
  url: string;
  username?: string;
  /** Never logged. */
  password?: string;
  /**
   * A stable client id with clean = false: the broker keeps the session's
   * subscriptions, and queues QoS 1 messages for it, while this client is away
   * (an agent restart). Without it the client id is `edgeadm-mqtt-<random>`
   * and the session clean. On the site broker, the site's own login may use
   * only client ids starting with `edgeadm-`.
   */
  persistentClientId?: string;
}

export class ClientPool {
  readonly #clients = new Map<string, Shared>();
  readonly #log: Logger;
  readonly #connectTimeoutMs: number;
  readonly #backoff: RedeliveryBackoff;
  readonly #holdMs: number;

  /** `holdMs`: how long after connecting a persistent session's messages on topics nobody listens to yet are held (default 30 s). */
  constructor(o: { logger: Logger; connectTimeoutMs: number; redeliveryBackoff?: RedeliveryBackoff; holdMs?: number }) {
    this.#log = o.logger;
    this.#connectTimeoutMs = o.connectTimeoutMs;
    this.#backoff = o.redeliveryBackoff ?? DEFAULT_REDELIVERY_BACKOFF;
    this.#holdMs = o.holdMs ?? DEFAULT_HOLD_MS;
  }

  /** The client for `endpoint` once it is connected; `release` ends it when the last user lets go. */
  async acquire(endpoint: string | BrokerEndpoint): Promise<{ client: SharedClient; release: () => Promise<void> }> {
    const e: BrokerEndpoint = typeof endpoint === 'string' ? { url: endpoint } : endpoint;
    const url = e.username === undefined ? e.url : `${e.url}\u0000${e.username}`;
    let shared = this.#clients.get(url);
    if (!shared) {
      const { connect } = await import('mqtt');
      shared = this.#clients.get(url);
      if (!shared) {
        const client = connect(e.url, {
          clientId: e.persistentClientId ?? `edgeadm-mqtt-${randomUUID().slice(0, 8)}`,
          clean: e.persistentClientId === undefined,
          reconnectPeriod: 1000,
          connectTimeout: this.#connectTimeoutMs,
          protocolVersion: 4,
          ...(e.username === undefined ? {} : { username: e.username }),
          ...(e.password === undefined ? {} : { password: e.password }),
        });
        shared = new Shared(e.url, client, {
          log: this.#log,
          timeoutMs: this.#connectTimeoutMs,
          persistent: e.persistentClientId !== undefined,
          backoff: this.#backoff,
          holdMs: this.#holdMs,
        });
        this.#clients.set(url, shared);
      }
    }
    const s = shared;
    s.refs++;
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      if (--s.refs > 0) return;
      if (this.#clients.get(url) === s) this.#clients.delete(url);
      await s.end();
    };
    try {
      await s.ready();
    } catch (err) {
      await release();
      throw err;
    }
    return { client: s, release };
  }

  async close(): Promise<void> {
    const all = [...this.#clients.values()];
    this.#clients.clear();
    await Promise.all(all.map((s) => s.end()));
  }
}
