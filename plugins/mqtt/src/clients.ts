/**
 * Broker connections shared by the devices of one driver: one mqtt.js client
 * per broker URL, reference-counted, and one MQTT subscription per topic
 * however many devices and resources listen to it. A listener that throws
 * is caught here, so one device's handler never stops another's messages.
 */
import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { Logger } from '../../../core/sdk/index.ts';
import { ErrMqttBrokerUnreachable, ErrMqttPublish } from './errors.ts';

export type Listener = (topic: string, payload: Buffer) => void;

export interface SharedClient {
  readonly url: string;
  /** Subscribes `topic` (once for all listeners; the highest QoS asked wins) and calls `listener` with its messages. */
  listen(topic: string, qos: 0 | 1, listener: Listener): Promise<() => Promise<void>>;
  publish(topic: string, payload: string | Buffer, qos: 0 | 1): Promise<void>;
}

interface Topic {
  listeners: Set<Listener>;
  qos: 0 | 1;
  /** Settles when the broker granted the subscription. */
  subscribed: Promise<void>;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

class Shared implements SharedClient {
  readonly url: string;
  refs = 0;
  readonly #client: MqttClient;
  readonly #topics = new Map<string, Topic>();
  readonly #log: Logger;
  readonly #ready: Promise<void>;
  readonly #timeoutMs: number;

  constructor(url: string, client: MqttClient, log: Logger, timeoutMs: number) {
    this.url = url;
    this.#client = client;
    this.#log = log;
    this.#timeoutMs = timeoutMs;
    client.on('message', (topic, payload) => {
      const t = this.#topics.get(topic);
      if (!t) return;
      for (const l of t.listeners) {
        try {
          l(topic, payload);
        } catch (err) {
          this.#log.error({ topic, error: { code: 'EDGE_ERR_MQTT_LISTENER', message: messageOf(err) } }, 'mqtt listener failed');
        }
      }
    });
    client.on('error', (err) => this.#log.warn({ broker: redact(url), error: { code: 'EDGE_ERR_MQTT_CLIENT', message: err.message } }, 'mqtt client error'));
    client.on('offline', () => this.#log.warn({ broker: redact(url) }, 'mqtt broker offline'));
    this.#ready = new Promise<void>((resolve, reject) => {
      if (client.connected) return resolve();
      const timer = setTimeout(() => {
        client.off('connect', onConnect);
        reject(new ErrMqttBrokerUnreachable({ broker: redact(url), reason: `no CONNACK within ${timeoutMs} ms` }));
      }, timeoutMs);
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
    await this.#ready;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ErrMqttBrokerUnreachable({ broker: redact(this.url), reason: `no SUBACK for '${topic}' within ${this.#timeoutMs} ms` })), this.#timeoutMs);
      this.#client.subscribe(topic, { qos }, (err, granted) => {
        clearTimeout(timer);
        const refused = granted?.find((g) => g.qos === 128);
        if (err) reject(new ErrMqttBrokerUnreachable({ broker: redact(this.url), reason: `subscribe '${topic}': ${err.message}` }, { cause: err }));
        else if (refused) reject(new ErrMqttBrokerUnreachable({ broker: redact(this.url), reason: `the broker refused the subscription to '${topic}'` }));
        else resolve();
      });
    });
  }

  async #unlisten(topic: string, entry: Topic, listener: Listener): Promise<void> {
    entry.listeners.delete(listener);
    if (entry.listeners.size > 0 || this.#topics.get(topic) !== entry) return;
    this.#topics.delete(topic);
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
   * (an agent restart). Without it the client id is random and the session clean.
   */
  persistentClientId?: string;
}

export class ClientPool {
  readonly #clients = new Map<string, Shared>();
  readonly #log: Logger;
  readonly #connectTimeoutMs: number;

  constructor(o: { logger: Logger; connectTimeoutMs: number }) {
    this.#log = o.logger;
    this.#connectTimeoutMs = o.connectTimeoutMs;
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
        shared = new Shared(e.url, client, this.#log, this.#connectTimeoutMs);
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
