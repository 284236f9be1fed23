/**
 * The MQTT device driver: devices that publish telemetry to, and take
 * commands from, an MQTT broker (the site broker unless the device names its
 * own `brokerUrl`). See protocol.ts for the Device's protocol block and the
 * command correlation, profile.ts for how resources map topics and payloads.
 *
 * `connect` subscribes the device's topics (one client per broker for the
 * whole driver, one subscription per topic however many resources read it)
 * and keeps the last sample of each resource: `read` answers from it
 * (`uncertain` / EDGE_ERR_MQTT_STALE when older than `staleAfter`, `bad` /
 * EDGE_ERR_MQTT_NO_VALUE before the first message), `subscribe` pushes every
 * mapped message to a sink as it arrives (MQTT is push only: the options'
 * mode and interval do not change what the device sends).
 *
 * Payloads over `maxPayloadBytes` and json payloads that do not parse are
 * dropped and counted per device (`stats`); a device's problems are logged
 * at most once per `logIntervalMs`. A value that does not fit its valueType
 * is a `bad` sample with detail EDGE_ERR_MQTT_VALUE_TYPE.
 *
 * On the site broker the driver keeps a persistent session, and a QoS 1
 * message is acknowledged only once its readings are stored: a message whose
 * sink throws EDGE_ERR_READINGS_NOT_STORED (the site's disk is full or
 * failing), or that comes before its device's sink is attached (the
 * session's queue arrives right after connecting), is not acknowledged and
 * the broker sends it again (clients.ts has the rules and the backoff).
 *
 * `write` publishes one correlated command per request and waits for the
 * answer with the same id (protocol.ts): ok, EDGE_ERR_MQTT_COMMAND_REFUSED
 * with the device's message, or EDGE_ERR_MQTT_COMMAND_TIMEOUT. A value the
 * device echoes becomes the resource's last sample, so the platform's
 * read-back reports it.
 */
import { randomUUID } from 'node:crypto';
import {
  nowOrigin,
  type BrokerTopicsProvider,
  type DeviceConnection,
  type DeviceDriver,
  type DriverDevice,
  type DriverIssue,
  type Logger,
  type Sample,
  type SampleSink,
  type SubscribeOptions,
  type Subscription,
  type WriteRequest,
  type WriteResult,
} from '../../../core/sdk/index.ts';
import { ClientPool, DEFAULT_REDELIVERY_BACKOFF, type BrokerEndpoint, type SharedClient } from './clients.ts';
import {
  ErrMqttCommandAborted,
  ErrMqttCommandRefused,
  ErrMqttCommandTimeout,
  ErrMqttDeviceInvalid,
  ErrMqttDriverOption,
  ErrMqttNoBroker,
  ErrMqttNotWritable,
  ErrMqttUnknownResource,
  ErrMqttValueType,
} from './errors.ts';
import { extract, resolvePoints, valueTypeProblem, type MqttPoint } from './profile.ts';
import { MQTT_PROTOCOLS, readProtocol, type EdgeadmTarget, type EdgeXTarget } from './protocol.ts';
import { AnswerRouter, EdgeXConnection } from './edgex-connection.ts';
import { edgexDeviceTopics, resolveEdgeXModel, type EdgeXModel } from './edgex-layout.ts';
import { attachSink, deliverSamples, ProblemLog, publishFailure, type SinkEntry } from './sinks.ts';

export interface MqttDriverOptions {
  logger: Logger;
  /** The site broker and the site's own login, asked for at connect; may throw when the site runs without one. */
  siteBroker?: () => { url: string; username?: string; password?: string };
  /** Client id of the driver's persistent session on the site broker (clean = false), so QoS 1 telemetry that arrives while the driver is away is queued for it. */
  persistentClientId?: string;
  /** Largest payload mapped to readings (default 256 KiB). */
  maxPayloadBytes?: number;
  /** A device's payload problems are logged at most once per this interval (default 60 s). */
  logIntervalMs?: number;
  /** Default age after which `read` calls the last value stale (default 5 min; `staleAfter` in the protocol block overrides). */
  staleAfterMs?: number;
  /** How long to wait for the broker's CONNACK / SUBACK (default 10 s). */
  connectTimeoutMs?: number;
  /**
   * When the site cannot store a message's readings it is not acknowledged;
   * the driver reconnects its persistent session after this wait (default
   * 1 s, doubling up to 30 s while redelivered messages still cannot be
   * stored) and the broker sends it again.
   */
  redeliveryBackoff?: { initialMs?: number; maxMs?: number };
  /**
   * For this long after connecting, messages of the persistent session on a
   * topic no device listens to yet are held for the devices still starting
   * (default 30 s); later ones belong to no device: they are dropped and the
   * topic is unsubscribed.
   */
  holdUnclaimedMs?: number;
}

/** Per-device counters, kept for the driver's lifetime. */
export interface MqttDeviceStats {
  messages: number;
  samples: number;
  oversized: number;
  malformed: number;
  /** Values not of their valueType, or missing at their path. */
  mismatched: number;
  commands: number;
  commandTimeouts: number;
  commandRefusals: number;
  /** Messages not acknowledged because the site could not store their readings (each is sent again). */
  notStored: number;
}

/** The MQTT driver; its devices log in to the site broker themselves, so it tells the broker their topics (BrokerTopicsProvider). */
export interface MqttDriver extends DeviceDriver, BrokerTopicsProvider {
  /** Counters of a device (by site and name), or undefined if it never connected. */
  stats(site: string, device: string): Readonly<MqttDeviceStats> | undefined;
  /** Layout edgex: answers that came for no waiting command (an unknown uuid, or one whose command timed out). */
  unclaimedAnswers(): number;
  /** Counters of every device that connected since the driver was created. */
  allStats(): { site: string; device: string; stats: Readonly<MqttDeviceStats> }[];
}

const KiB = 1024;

function newStats(): MqttDeviceStats {
  return { messages: 0, samples: 0, oversized: 0, malformed: 0, mismatched: 0, commands: 0, commandTimeouts: 0, commandRefusals: 0, notStored: 0 };
}

type Prepared = { target: EdgeadmTarget; points: MqttPoint[] } | { target: EdgeXTarget; model: EdgeXModel };

/** The device's target and resources in its layout, or every problem with them. */
function prepare(device: DriverDevice): { prepared?: Prepared; issues: DriverIssue[] } {
  const p = readProtocol(device);
  if (p.layout === 'edgex') {
    const m = resolveEdgeXModel(device.resources, device.commands);
    const issues = [...p.issues, ...m.issues];
    return issues.length > 0 || p.target?.layout !== 'edgex' ? { issues } : { prepared: { target: p.target, model: m.model }, issues };
  }
  const r = resolvePoints(device.resources, p.target?.layout === 'edgeadm' ? p.target.baseTopic : `edgeadm/${device.site}/${device.name}`);
  const issues = [...p.issues, ...r.issues];
  return issues.length > 0 || p.target?.layout !== 'edgeadm' ? { issues } : { prepared: { target: p.target, points: r.points }, issues };
}

/**
 * What a device itself may do on the site broker: publish anything under its
 * base topic, its resources' topics and its response topic; subscribe under
 * its base topic, to its command topic and to its resources' raw command topics.
 */
export function deviceTopics(target: EdgeadmTarget, points: readonly MqttPoint[]): { publish: string[]; subscribe: string[] } {
  const publish = new Set<string>([target.baseTopic, `${target.baseTopic}/#`, target.responseTopic]);
  for (const p of points) if (p.topic !== undefined) publish.add(p.topic);
  const subscribe = new Set<string>([target.baseTopic, `${target.baseTopic}/#`, target.commandTopic]);
  for (const p of points) if (p.rawCommand) subscribe.add(p.rawCommand.topic);
  return { publish: [...publish], subscribe: [...subscribe] };
}

function detail(code: string, reason: string): string {
  return `${code} ${reason}`.slice(0, 256);
}

interface Last {
  sample: Sample;
  /** performance.now() at arrival. */
  at: number;
  /** Set when a command to the resource succeeded after this value arrived. */
  supersededBy?: string;
}

interface Pending {
  resolve: (r: { ok: true; value?: unknown } | { ok: false; reason: string }) => void;
}

interface Ctx {
  device: DriverDevice;
  target: EdgeadmTarget;
  points: readonly MqttPoint[];
  client: SharedClient;
  /** The client's session is persistent: what is not acknowledged comes again. */
  persistent: boolean;
  release: () => Promise<void>;
  stats: MqttDeviceStats;
  log: Logger;
  maxPayloadBytes: number;
  logIntervalMs: number;
  staleAfterMs: number;
}

class MqttConnection implements DeviceConnection {
  readonly #c: Ctx;
  readonly #points: Map<string, MqttPoint>;
  readonly #byTopic = new Map<string, MqttPoint[]>();
  readonly #last = new Map<string, Last>();
  readonly #sinks = new Set<SinkEntry>();
  readonly #pending = new Map<string, Pending>();
  readonly #unlisten: (() => Promise<void>)[] = [];
  readonly #problems: ProblemLog;
  #closed = false;
  readonly #onClose: () => void;

  constructor(c: Ctx, onClose: () => void) {
    this.#c = c;
    this.#onClose = onClose;
    this.#points = new Map(c.points.map((p) => [p.resource, p]));
    this.#problems = new ProblemLog({ log: c.log, device: c.device.name, intervalMs: c.logIntervalMs, stats: () => ({ ...c.stats }) });
    for (const p of c.points) {
      if (p.topic === undefined || p.readWrite === 'W') continue;
      const list = this.#byTopic.get(p.topic) ?? [];
      list.push(p);
      this.#byTopic.set(p.topic, list);
    }
  }

  async open(): Promise<void> {
    try {
      for (const topic of this.#byTopic.keys()) this.#unlisten.push(await this.#c.client.listen(topic, this.#c.target.qos, (t, payload) => this.#onMessage(t, payload)));
      if ([...this.#points.values()].some((p) => p.readWrite !== 'R' && !p.rawCommand)) {
        this.#unlisten.push(await this.#c.client.listen(this.#c.target.responseTopic, this.#c.target.qos, (_t, payload) => this.#onResponse(payload)));
      }
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** Logs a payload problem unless this device logged one within the interval; counts the rest. */
  #problem(kind: string, fields: Record<string, unknown>): void {
    this.#problems.report(kind, fields);
  }

  #onMessage(topic: string, payload: Buffer): void {
    if (this.#closed) return;
    const stats = this.#c.stats;
    stats.messages++;
    const points = this.#byTopic.get(topic);
    if (!points) return;
    if (payload.length > this.#c.maxPayloadBytes) {
      stats.oversized++;
      this.#problem('oversized', { topic, bytes: payload.length, limit: this.#c.maxPayloadBytes });
      return;
    }
    let doc: unknown;
    if (points.some((p) => p.payload === 'json')) {
      try {
        doc = JSON.parse(payload.toString('utf8'));
      } catch (err) {
        stats.malformed++;
        this.#problem('malformed', { topic, bytes: payload.length, error: { code: 'EDGE_ERR_MQTT_PAYLOAD_MALFORMED', message: err instanceof Error ? err.message : String(err) } });
        return;
      }
    }
    const arrival = nowOrigin();
    const at = performance.now();
    const samples: Sample[] = [];
    for (const p of points) {
      const units = p.units ? { units: p.units } : {};
      const x = extract(p, payload, doc);
      let s: Sample;
      if (!x.ok) {
        stats.mismatched++;
        this.#problem('mismatch', { topic, resource: p.resource, detail: x.detail, reason: x.reason });
        s = { resource: p.resource, value: null, valueType: p.valueType, ...units, origin: arrival, quality: 'bad', qualityDetail: detail(x.detail, x.reason) };
      } else if (x.originProblem) {
        s = { resource: p.resource, value: x.value, valueType: p.valueType, ...units, origin: arrival, quality: 'uncertain', qualityDetail: detail('EDGE_ERR_MQTT_TIMESTAMP', x.originProblem) };
      } else {
        s = { resource: p.resource, value: x.value, valueType: p.valueType, ...units, origin: x.origin ?? arrival, quality: 'good' };
      }
      this.#last.set(p.resource, { sample: s, at });
      samples.push(s);
    }
    // Not acknowledged when no sink is there yet on a persistent session, or when the site could not store them: the broker sends it again (clients.ts).
    deliverSamples({ topic, device: this.#c.device.name, persistent: this.#c.persistent, sinks: this.#sinks, log: this.#c.log, stats }, samples);
  }

  #onResponse(payload: Buffer): void {
    if (payload.length > this.#c.maxPayloadBytes) return;
    let doc: unknown;
    try {
      doc = JSON.parse(payload.toString('utf8'));
    } catch {
      this.#c.log.debug({ device: this.#c.device.name, bytes: payload.length }, 'mqtt response not json, ignored');
      return;
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return;
    const d = doc as Record<string, unknown>;
    const id = typeof d.id === 'string' ? d.id : typeof d.uuid === 'string' ? d.uuid : undefined;
    const pending = id === undefined ? undefined : this.#pending.get(id);
    if (!pending) return;
    if (d.ok === false || d.error !== undefined) {
      const reason = typeof d.error === 'string' ? d.error : d.error === undefined ? 'the device answered ok: false' : JSON.stringify(d.error);
      pending.resolve({ ok: false, reason: reason.slice(0, 1024) });
    } else pending.resolve(Object.hasOwn(d, 'value') ? { ok: true, value: d.value } : { ok: true });
  }

  read(resources: readonly string[]): Promise<Sample[]> {
    const now = performance.now();
    return Promise.resolve(
      resources.map((name): Sample => {
        const p = this.#points.get(name);
        if (!p) return { resource: name, value: null, valueType: 'String', origin: nowOrigin(), quality: 'bad', qualityDetail: 'EDGE_ERR_MQTT_UNKNOWN_RESOURCE' };
        const units = p.units ? { units: p.units } : {};
        if (p.readWrite === 'W') return { resource: name, value: null, valueType: p.valueType, ...units, origin: nowOrigin(), quality: 'bad', qualityDetail: 'EDGE_ERR_MQTT_WRITE_ONLY' };
        const last = this.#last.get(name);
        if (!last) return { resource: name, value: null, valueType: p.valueType, ...units, origin: nowOrigin(), quality: 'bad', qualityDetail: `EDGE_ERR_MQTT_NO_VALUE nothing received on '${p.topic ?? ''}' yet`.slice(0, 256) };
        if (last.supersededBy !== undefined && last.sample.quality !== 'bad') {
          return { ...last.sample, quality: 'uncertain', qualityDetail: `EDGE_ERR_MQTT_STALE value predates command ${last.supersededBy}` };
        }
        const age = now - last.at;
        if (age > this.#c.staleAfterMs && last.sample.quality !== 'bad') {
          return { ...last.sample, quality: 'uncertain', qualityDetail: `EDGE_ERR_MQTT_STALE last value ${Math.round(age)} ms old` };
        }
        return { ...last.sample };
      }),
    );
  }

  subscribe(resources: readonly string[], _options: SubscribeOptions, sink: SampleSink): Promise<Subscription> {
    for (const r of resources) {
      const p = this.#points.get(r);
      if (!p || p.readWrite === 'W') return Promise.reject(new ErrMqttUnknownResource({ resource: r }));
    }
    return Promise.resolve(attachSink(this.#sinks, this.#c.client, resources, sink));
  }

  write(requests: readonly WriteRequest[], signal?: AbortSignal): Promise<WriteResult[]> {
    return Promise.all(requests.map((r) => this.#writeOne(r, signal)));
  }

  async #writeOne(r: WriteRequest, signal?: AbortSignal): Promise<WriteResult> {
    const fail = (err: { code: string; message: string }): WriteResult => ({ resource: r.resource, ok: false, error: { code: err.code, message: err.message } });
    const p = this.#points.get(r.resource);
    if (!p) return fail(new ErrMqttUnknownResource({ resource: r.resource }));
    if (p.readWrite === 'R') return fail(new ErrMqttNotWritable({ resource: r.resource }));
    const problem = valueTypeProblem(p.valueType, r.value);
    if (problem) return fail(new ErrMqttValueType({ resource: r.resource, valueType: p.valueType, reason: problem }));
    if (this.#closed || signal?.aborted) return fail(new ErrMqttCommandAborted({ device: this.#c.device.name, resource: r.resource }));
    const id = randomUUID();
    const { commandTopic, responseTopic, commandTimeoutMs, qos } = this.#c.target;
    this.#c.stats.commands++;
    if (p.rawCommand) {
      // Home Assistant style: the bare value on the resource's own command topic, and no answer.
      const v = r.value;
      const body = typeof v === 'boolean' ? (v ? p.rawCommand.true : p.rawCommand.false) : typeof v === 'string' ? v : JSON.stringify(v);
      try {
        await this.#c.client.publish(p.rawCommand.topic, body, qos);
        this.#afterCommand(p, id, {});
        return { resource: r.resource, ok: true };
      } catch (err) {
        return fail(publishFailure(err));
      }
    }
    type Outcome = { ok: true; value?: unknown } | { ok: false; reason: string } | { ok: false; timeout: true } | { ok: false; aborted: true };
    let settle!: (o: Outcome) => void;
    const outcome = new Promise<Outcome>((resolve) => (settle = resolve));
    const timer = setTimeout(() => settle({ ok: false, timeout: true }), commandTimeoutMs);
    const onAbort = (): void => settle({ ok: false, aborted: true });
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#pending.set(id, { resolve: settle });
    try {
      await this.#c.client.publish(commandTopic, JSON.stringify({ id, resource: r.resource, value: r.value }), qos);
      const o = await outcome;
      if (o.ok) {
        this.#afterCommand(p, id, o);
        return { resource: r.resource, ok: true };
      }
      if ('timeout' in o) {
        this.#c.stats.commandTimeouts++;
        return fail(new ErrMqttCommandTimeout({ device: this.#c.device.name, resource: r.resource, id, timeoutMs: commandTimeoutMs, responseTopic }));
      }
      if ('aborted' in o) return fail(new ErrMqttCommandAborted({ device: this.#c.device.name, resource: r.resource }));
      this.#c.stats.commandRefusals++;
      return fail(new ErrMqttCommandRefused({ device: this.#c.device.name, resource: r.resource, id, reason: o.reason }));
    } catch (err) {
      return fail(publishFailure(err));
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.#pending.delete(id);
    }
  }

  /**
   * A device that echoes `value` in its answer reports what it now holds: that
   * becomes the resource's last sample. Without an echo, the last telemetry
   * value predates the command and reads as stale until the next message.
   */
  #afterCommand(p: MqttPoint, id: string, o: { value?: unknown }): void {
    if (p.readWrite === 'W' || p.topic === undefined) return;
    if (Object.hasOwn(o, 'value') && valueTypeProblem(p.valueType, o.value) === undefined) {
      const sample: Sample = { resource: p.resource, value: o.value as Sample['value'], valueType: p.valueType, ...(p.units ? { units: p.units } : {}), origin: nowOrigin(), quality: 'good' };
      this.#last.set(p.resource, { sample, at: performance.now() });
      return;
    }
    const last = this.#last.get(p.resource);
    if (last) last.supersededBy = id;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#pending.values()) p.resolve({ ok: false, reason: 'connection closed' });
    this.#sinks.clear();
    for (const u of this.#unlisten.splice(0)) await u();
    await this.#c.release();
    this.#onClose();
  }
}

export function createMqttDriver(o: MqttDriverOptions): MqttDriver {
  const connectTimeoutMs = o.connectTimeoutMs ?? 10_000;
  const backoff = { ...DEFAULT_REDELIVERY_BACKOFF, ...o.redeliveryBackoff };
  if (!(backoff.initialMs > 0) || !(backoff.maxMs >= backoff.initialMs)) {
    throw new ErrMqttDriverOption({ option: 'redeliveryBackoff', reason: `needs 0 < initialMs <= maxMs, got ${JSON.stringify(o.redeliveryBackoff)}` });
  }
  if (o.holdUnclaimedMs !== undefined && !(o.holdUnclaimedMs >= 0)) {
    throw new ErrMqttDriverOption({ option: 'holdUnclaimedMs', reason: `must be a number of milliseconds >= 0, got ${String(o.holdUnclaimedMs)}` });
  }
  const pool = new ClientPool({ logger: o.logger, connectTimeoutMs, redeliveryBackoff: backoff, ...(o.holdUnclaimedMs === undefined ? {} : { holdMs: o.holdUnclaimedMs }) });
  const stats = new Map<string, MqttDeviceStats>();
  const open = new Set<MqttConnection | EdgeXConnection>();
  const log = o.logger.child({ component: 'mqtt-driver' });
  const counters = { unclaimedAnswers: 0 };
  // Layout edgex: devices on one client share their response topic, so one router per client and topic takes the answers.
  const routers = new WeakMap<SharedClient, Map<string, AnswerRouter>>();
  const answerRouter = (client: SharedClient, responseTopic: string): AnswerRouter => {
    const mine = routers.get(client) ?? new Map<string, AnswerRouter>();
    routers.set(client, mine);
    let r = mine.get(responseTopic);
    if (!r) {
      const created: AnswerRouter = new AnswerRouter({ client, filter: `${responseTopic}/+`, log, counters, onIdle: () => mine.get(responseTopic) === created && mine.delete(responseTopic) });
      r = created;
      mine.set(responseTopic, r);
    }
    return r;
  };
  return {
    protocols: MQTT_PROTOCOLS,
    validate(device) {
      return prepare(device).issues;
    },
    brokerTopics(device) {
      const { prepared, issues } = prepare(device);
      if (!prepared || issues.length > 0 || prepared.target.brokerUrl) return undefined;
      return 'model' in prepared ? edgexDeviceTopics(prepared.target) : deviceTopics(prepared.target, prepared.points);
    },
    async connect(device) {
      const { prepared, issues } = prepare(device);
      if (!prepared || issues.length > 0) throw new ErrMqttDeviceInvalid({ device: device.name, issues });
      let endpoint: BrokerEndpoint | undefined = prepared.target.brokerUrl ? { url: prepared.target.brokerUrl } : undefined;
      if (!endpoint) {
        try {
          const site = o.siteBroker?.();
          if (site) endpoint = { ...site, ...(o.persistentClientId ? { persistentClientId: o.persistentClientId } : {}) };
        } catch (err) {
          throw new ErrMqttNoBroker({ device: device.name }, { cause: err });
        }
        if (!endpoint) throw new ErrMqttNoBroker({ device: device.name });
      }
      const { client, release } = await pool.acquire(endpoint);
      const key = `${device.site}/${device.name}`;
      const s = stats.get(key) ?? newStats();
      stats.set(key, s);
      const common = {
        device,
        client,
        persistent: endpoint.persistentClientId !== undefined,
        release,
        stats: s,
        log,
        maxPayloadBytes: o.maxPayloadBytes ?? 256 * KiB,
        logIntervalMs: o.logIntervalMs ?? 60_000,
      };
      let conn: MqttConnection | EdgeXConnection;
      if ('model' in prepared) {
        const c: EdgeXConnection = new EdgeXConnection({ ...common, target: prepared.target, model: prepared.model, answers: answerRouter(client, prepared.target.responseTopic) }, () => open.delete(c));
        conn = c;
      } else {
        const c: MqttConnection = new MqttConnection(
          { ...common, target: prepared.target, points: prepared.points, staleAfterMs: prepared.target.staleAfterMs ?? o.staleAfterMs ?? 300_000 },
          () => open.delete(c),
        );
        conn = c;
      }
      open.add(conn);
      await conn.open();
      return conn;
    },
    unclaimedAnswers() {
      return counters.unclaimedAnswers;
    },
    stats(site, device) {
      const s = stats.get(`${site}/${device}`);
      return s ? { ...s } : undefined;
    },
    allStats() {
      return [...stats].map(([key, s]) => {
        const slash = key.indexOf('/');
        return { site: key.slice(0, slash), device: key.slice(slash + 1), stats: { ...s } };
      });
    },
    async close() {
      for (const c of [...open]) await c.close();
      await pool.close();
    },
  };
}
