/**
 * A device connection in EdgeX device-mqtt's multi-level layout (edgex-layout.ts
 * has the topics and payloads):
 *
 *   - data: one subscription per device, `<incomingTopic>/<deviceName>/+`, so
 *     the broker routes each message to its device by name and a persistent
 *     session holds a device's messages for it alone (clients.ts). A message
 *     becomes one sample per resource of its source, all with one origin; a
 *     refused one (oversized, not a JSON object, unknown source, missing or
 *     unreadable resource, a value that does not cast) is counted per device,
 *     logged at most once per interval, never thrown, and acknowledged. A QoS 1
 *     message is acknowledged only once its readings are stored (sinks.ts).
 *   - read: a GET command per resource, answered on `<responseTopic>/<uuid>`;
 *     no answer within commandTimeout is a `bad` sample with
 *     EDGE_ERR_MQTT_COMMAND_TIMEOUT, an answer without a usable value one with
 *     EDGE_ERR_MQTT_ANSWER_INVALID.
 *   - write: a SET command per request; ok once answered, else
 *     EDGE_ERR_MQTT_COMMAND_TIMEOUT.
 *
 * Answers are matched by the uuid in their topic. Every device on a broker
 * shares one response topic filter, so one AnswerRouter per client and
 * filter takes them all; answers nobody waits for (unknown, or late) are
 * ignored and counted.
 */
import { randomUUID } from 'node:crypto';
import {
  formatQualityDetail,
  nowOrigin,
  type DeviceConnection,
  type DriverDevice,
  type Logger,
  type Sample,
  type SampleSink,
  type SubscribeOptions,
  type Subscription,
  type WriteRequest,
  type WriteResult,
} from '../../../core/sdk/index.ts';
import type { SharedClient } from './clients.ts';
import type { MqttDeviceStats } from './driver.ts';
import { castEdgeXValue, decodeEdgeXData, edgexAnswerId, edgexCommandTopic, edgexDataFilter, edgexSetPayload, jsonObject, type EdgeXModel, type EdgeXResource } from './edgex-layout.ts';
import { ErrMqttAnswerInvalid, ErrMqttCommandAborted, ErrMqttCommandTimeout, ErrMqttNotWritable, ErrMqttUnknownResource, ErrMqttValueType } from './errors.ts';
import { valueTypeProblem } from './profile.ts';
import type { EdgeXTarget } from './protocol.ts';
import { attachSink, deliverSamples, ProblemLog, publishFailure, type SinkEntry } from './sinks.ts';

/** Answers on `<responseTopic>/+` of one client, handed to whoever waits for their uuid. */
export class AnswerRouter {
  readonly #client: SharedClient;
  readonly #filter: string;
  readonly #log: Logger;
  readonly #counters: { unclaimedAnswers: number };
  readonly #waiting = new Map<string, (payload: Buffer) => void>();
  readonly #onIdle: () => void;
  #refs = 0;
  #listening: Promise<() => Promise<void>> | undefined;

  constructor(o: { client: SharedClient; filter: string; log: Logger; counters: { unclaimedAnswers: number }; onIdle: () => void }) {
    this.#client = o.client;
    this.#filter = o.filter;
    this.#log = o.log;
    this.#counters = o.counters;
    this.#onIdle = o.onIdle;
  }

  /** One more user; subscribes the filter for the first. */
  async acquire(): Promise<void> {
    this.#refs++;
    this.#listening ??= this.#client.listen(this.#filter, 1, (topic, payload) => this.#answer(topic, payload));
    try {
      await this.#listening;
    } catch (err) {
      this.#listening = undefined;
      await this.release();
      throw err;
    }
  }

  /** One user fewer; the last one unsubscribes. */
  async release(): Promise<void> {
    if (--this.#refs > 0) return;
    const listening = this.#listening;
    this.#listening = undefined;
    this.#onIdle();
    if (listening) await (await listening.catch(() => () => Promise.resolve()))();
  }

  /** Calls `handler` with the answer for `uuid`, once; the returned function stops waiting. */
  expect(uuid: string, handler: (payload: Buffer) => void): () => void {
    this.#waiting.set(uuid, handler);
    return () => {
      this.#waiting.delete(uuid);
    };
  }

  #answer(topic: string, payload: Buffer): void {
    const id = edgexAnswerId(topic);
    const handler = this.#waiting.get(id);
    if (!handler) {
      this.#counters.unclaimedAnswers++;
      this.#log.debug({ topic, bytes: payload.length }, 'mqtt answer for no waiting command, ignored');
      return;
    }
    this.#waiting.delete(id);
    handler(payload);
  }
}

export interface EdgeXCtx {
  device: DriverDevice;
  target: EdgeXTarget;
  model: EdgeXModel;
  client: SharedClient;
  answers: AnswerRouter;
  /** The client's session is persistent: what is not acknowledged comes again. */
  persistent: boolean;
  release: () => Promise<void>;
  stats: MqttDeviceStats;
  log: Logger;
  maxPayloadBytes: number;
  logIntervalMs: number;
}

type Exchange = { answer: Buffer } | { timeout: true } | { aborted: true } | { failed: { code: string; message: string } };

export class EdgeXConnection implements DeviceConnection {
  readonly #c: EdgeXCtx;
  readonly #prefix: string;
  readonly #sinks = new Set<SinkEntry>();
  readonly #cancel = new Set<() => void>();
  readonly #unlisten: (() => Promise<void>)[] = [];
  readonly #problems: ProblemLog;
  readonly #onClose: () => void;
  #routed = false;
  #closed = false;

  constructor(c: EdgeXCtx, onClose: () => void) {
    this.#c = c;
    this.#onClose = onClose;
    this.#prefix = `${c.target.incomingTopic}/${c.target.deviceName}/`;
    this.#problems = new ProblemLog({ log: c.log, device: c.device.name, intervalMs: c.logIntervalMs, stats: () => ({ ...c.stats }) });
  }

  async open(): Promise<void> {
    try {
      await this.#c.answers.acquire();
      this.#routed = true;
      this.#unlisten.push(await this.#c.client.listen(edgexDataFilter(this.#c.target), this.#c.target.qos, (t, payload) => this.#onData(t, payload)));
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  #onData(topic: string, payload: Buffer): void {
    if (this.#closed || !topic.startsWith(this.#prefix)) return;
    const stats = this.#c.stats;
    stats.messages++;
    const source = topic.slice(this.#prefix.length);
    if (payload.length > this.#c.maxPayloadBytes) {
      stats.oversized++;
      this.#problems.report('oversized', { topic, bytes: payload.length, limit: this.#c.maxPayloadBytes });
      return;
    }
    const decoded = decodeEdgeXData(this.#c.model, source, payload);
    if ('refused' in decoded) {
      stats[decoded.refused.kind]++;
      this.#problems.report(decoded.refused.kind, { topic, source, reason: decoded.refused.reason });
      return;
    }
    // One message, one moment: every reading of a command source has the same origin.
    const origin = nowOrigin();
    const samples = decoded.values.map(({ resource, value }): Sample => ({ resource: resource.name, value, valueType: resource.valueType, ...units(resource), origin, quality: 'good' }));
    deliverSamples({ topic, device: this.#c.device.name, persistent: this.#c.persistent, sinks: this.#sinks, log: this.#c.log, stats }, samples);
  }

  subscribe(resources: readonly string[], _options: SubscribeOptions, sink: SampleSink): Promise<Subscription> {
    for (const r of resources) {
      const res = this.#c.model.resources.get(r);
      if (!res || !res.readWrite.includes('R')) return Promise.reject(new ErrMqttUnknownResource({ resource: r }));
    }
    return Promise.resolve(attachSink(this.#sinks, this.#c.client, resources, sink));
  }

  read(resources: readonly string[], signal?: AbortSignal): Promise<Sample[]> {
    return Promise.all(resources.map((r) => this.#get(r, signal)));
  }

  async #get(name: string, signal?: AbortSignal): Promise<Sample> {
    const r = this.#c.model.resources.get(name);
    if (!r) return { resource: name, value: null, valueType: 'String', origin: nowOrigin(), quality: 'bad', qualityDetail: 'EDGE_ERR_MQTT_UNKNOWN_RESOURCE' };
    const bad = (code: string, cause: string): Sample => ({ resource: name, value: null, valueType: r.valueType, ...units(r), origin: nowOrigin(), quality: 'bad', qualityDetail: formatQualityDetail(code, cause) });
    if (!r.readWrite.includes('R')) return bad('EDGE_ERR_MQTT_WRITE_ONLY', `resource '${name}' is write-only`);
    const id = randomUUID();
    const x = await this.#exchange(r, 'get', id, '', signal);
    if ('timeout' in x) {
      const e = new ErrMqttCommandTimeout({ device: this.#c.device.name, resource: name, id, timeoutMs: this.#c.target.commandTimeoutMs, responseTopic: `${this.#c.target.responseTopic}/${id}` });
      return bad(e.code, e.message);
    }
    if ('aborted' in x) return bad('EDGE_ERR_MQTT_COMMAND_ABORTED', `read of '${name}' aborted`);
    if ('failed' in x) return bad(x.failed.code, x.failed.message);
    const invalid = (reason: string): Sample => {
      this.#c.stats.commandRefusals++;
      const e = new ErrMqttAnswerInvalid({ device: this.#c.device.name, resource: name, id, reason });
      return bad(e.code, e.message);
    };
    const doc = jsonObject(x.answer);
    if (typeof doc === 'string') return invalid(doc);
    if (!Object.hasOwn(doc, name)) return invalid(`no field '${name}'`);
    const cast = castEdgeXValue(r.valueType, doc[name]);
    if ('problem' in cast) return invalid(cast.problem);
    return { resource: name, value: cast.value, valueType: r.valueType, ...units(r), origin: nowOrigin(), quality: 'good' };
  }

  write(requests: readonly WriteRequest[], signal?: AbortSignal): Promise<WriteResult[]> {
    return Promise.all(requests.map((r) => this.#set(r, signal)));
  }

  async #set(w: WriteRequest, signal?: AbortSignal): Promise<WriteResult> {
    const fail = (err: { code: string; message: string }): WriteResult => ({ resource: w.resource, ok: false, error: { code: err.code, message: err.message } });
    const r = this.#c.model.resources.get(w.resource);
    if (!r) return fail(new ErrMqttUnknownResource({ resource: w.resource }));
    if (!r.readWrite.includes('W')) return fail(new ErrMqttNotWritable({ resource: w.resource }));
    const problem = valueTypeProblem(r.valueType, w.value);
    if (problem) return fail(new ErrMqttValueType({ resource: w.resource, valueType: r.valueType, reason: problem }));
    const id = randomUUID();
    const x = await this.#exchange(r, 'set', id, edgexSetPayload(r, w.value), signal);
    if ('timeout' in x) return fail(new ErrMqttCommandTimeout({ device: this.#c.device.name, resource: w.resource, id, timeoutMs: this.#c.target.commandTimeoutMs, responseTopic: `${this.#c.target.responseTopic}/${id}` }));
    if ('aborted' in x) return fail(new ErrMqttCommandAborted({ device: this.#c.device.name, resource: w.resource }));
    if ('failed' in x) return fail(x.failed);
    // device-mqtt takes any answer as done.
    return { resource: w.resource, ok: true };
  }

  /** Publishes a command and waits for its answer, the command timeout, an abort or the connection's close. */
  async #exchange(r: EdgeXResource, method: 'get' | 'set', id: string, payload: string, signal?: AbortSignal): Promise<Exchange> {
    if (this.#closed || signal?.aborted) return { aborted: true };
    const { commandTimeoutMs, qos } = this.#c.target;
    this.#c.stats.commands++;
    let settle!: (x: Exchange) => void;
    const outcome = new Promise<Exchange>((resolve) => (settle = resolve));
    const stopWaiting = this.#c.answers.expect(id, (answer) => settle({ answer }));
    const cancel = (): void => settle({ aborted: true });
    this.#cancel.add(cancel);
    const timer = setTimeout(() => settle({ timeout: true }), commandTimeoutMs);
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      await this.#c.client.publish(edgexCommandTopic(this.#c.target, r.name, method, id), payload, qos);
      const x = await outcome;
      if ('timeout' in x) this.#c.stats.commandTimeouts++;
      return x;
    } catch (err) {
      return { failed: publishFailure(err) };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', cancel);
      this.#cancel.delete(cancel);
      stopWaiting();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of [...this.#cancel]) c();
    this.#sinks.clear();
    for (const u of this.#unlisten.splice(0)) await u();
    if (this.#routed) await this.#c.answers.release();
    await this.#c.release();
    this.#onClose();
  }
}

function units(r: EdgeXResource): { units?: string } {
  return r.units ? { units: r.units } : {};
}
