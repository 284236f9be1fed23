/**
 * The OPC UA device driver (protocol `opcua`).
 *
 * A device's resources are variables (`nodeId`) or methods (`objectId` +
 * `methodId`), see profile.ts. At connect the driver takes a session to the
 * endpoint (shared by every device on the same endpoint, security and user)
 * and reads, once, what it needs to encode values: each variable's DataType
 * and ValueRank, its EngineeringUnits (EUInformation; a profile's `units`
 * wins, and a difference is logged once), and each method's InputArguments.
 *
 * - `read`: one Read service call for all the variables asked for. A
 *   StatusCode maps to quality: Good -> good, Uncertain* -> uncertain,
 *   Bad* -> bad with `EDGE_ERR_OPCUA_STATUS <name>`. The origin is the
 *   source timestamp when the server gives one. A method resource reads as
 *   the outputs of its last call. Nothing throws out of `read`.
 * - `write`: the values are encoded for each node's own DataType (range
 *   checked, see datatypes.ts) and written with one Write service call; each
 *   result carries the server's StatusCode when it refuses. Writing a method
 *   resource calls the method (inputs: an array, one scalar, or, for a
 *   resource of valueType Object, an object of the inputs by their declared
 *   names, whose outputs then read as an object by name too) after the
 *   variable writes of the same request.
 * - `subscribe`: the session's Subscription for the publishing interval
 *   (shared with the other devices on the session, session.ts), monitored
 *   items grouped by their settings (samplingInterval, queueSize, deadband;
 *   device defaults, then the caller's options, then the resource's
 *   attributes), one CreateMonitoredItems per group, discardOldest, both
 *   timestamps. Each notification is one sample. The Overflow info bit (the
 *   server's queue dropped values) makes the sample uncertain, as does the
 *   first sample of each resource after the session recovered from a break.
 *   An item the server refuses (a Percent deadband on a node without an
 *   EURange, an unknown node) is a coded issue naming the resource, also sent
 *   as a bad sample; when no item can be monitored, subscribe throws.
 */
import path from 'node:path';
import type * as OpcuaModule from 'node-opcua-client';
import type { ClientMonitoredItemGroup, ClientSession, DataValue, NodeId, StatusCode, Variant } from 'node-opcua-client';
import {
  formatQualityDetail,
  nowOrigin,
  originFromDate,
  toErrorInfo,
  type DeviceConnection,
  type DeviceDriver,
  type DriverDevice,
  type DriverIssue,
  type Logger,
  type Quality,
  type ReadingValue,
  type Sample,
  type SampleSink,
  type SubscribeOptions,
  type Subscription,
  type WriteRequest,
  type ValueType,
  type WriteResult,
} from '../../../core/sdk/index.ts';
import { BUILTIN, builtinName, conform, fromVariant, naturalValueType, toVariant, type NodeMeta } from './datatypes.ts';
import {
  ErrOpcuaDeviceInvalid,
  ErrOpcuaMethodArguments,
  ErrOpcuaNodeMetadata,
  ErrOpcuaNotWritable,
  ErrOpcuaRefused,
  ErrOpcuaService,
  ErrOpcuaSubscribe,
  ErrOpcuaUnknownResource,
  failureCause,
  ISSUE,
} from './errors.ts';
import { nodeIdText, resolvePoints, type MethodPoint, type NodeIdRef, type OpcuaPoint, type VariablePoint } from './profile.ts';
import { OPCUA_PROTOCOLS, readProtocol, type MonitoringSettings, type OpcuaTarget } from './protocol.ts';
import { openClientPki, type ClientPki } from './security.ts';
import { routeOpcuaLogs } from './logs.ts';
import type { EndpointHandle, EndpointOptions, EndpointPool } from './session.ts';

type Opcua = typeof OpcuaModule;
let opcuaModule: Promise<Opcua> | undefined;
/**
 * node-opcua's client takes most of a second and about 70 MiB to import: only
 * processes with OPC UA devices pay for it. The client package, not
 * `node-opcua`, which also loads the server side (address space, nodesets).
 */
function loadOpcua(): Promise<Opcua> {
  opcuaModule ??= import('node-opcua-client');
  return opcuaModule;
}

// ---------------------------------------------------------------- status codes

const GAP_DETAIL = 'EDGE_ERR_OPCUA_RECOVERED values may have been missed while the session was recovering';
const OVERFLOW_DETAIL = 'EDGE_ERR_OPCUA_QUEUE_OVERFLOW values were lost in the server queue';

/** The StatusCode's name without its info bits (`Good#InfoTypeDataValue|Overflow` -> `Good`). */
function statusName(s: StatusCode): string {
  return s.name.split('#')[0] ?? s.name;
}

/** 0 good, 1 uncertain, 2 bad (the severity bits of the StatusCode). */
function severity(s: StatusCode): 0 | 1 | 2 {
  const bits = s.value >>> 30;
  return bits === 0 ? 0 : bits === 1 ? 1 : 2;
}

function originOf(dv: DataValue): number {
  const source = dv.sourceTimestamp;
  if (source && source.getTime() > 0) return originFromDate(source);
  const server = dv.serverTimestamp;
  if (server && server.getTime() > 0) return originFromDate(server);
  return nowOrigin();
}

/**
 * A sample, built field by field with its optional fields last: every sample
 * of a resource has one of a few hidden classes (a spread of optional parts
 * would allocate a temporary object per sample).
 */
function sampleOf(resource: string, value: ReadingValue, valueType: ValueType, units: string | undefined, origin: number, quality: Quality, qualityDetail?: string): Sample {
  const s: Sample = { resource, value, valueType, origin, quality };
  if (units) s.units = units;
  if (qualityDetail !== undefined) s.qualityDetail = qualityDetail;
  return s;
}

function clip(detail: string): string {
  return detail.length > 256 ? `${detail.slice(0, 253)}...` : detail;
}

function errorOf(err: unknown): { code: string; message: string } {
  const info = toErrorInfo(err);
  return { code: info.code ?? 'EDGE_ERR_OPCUA_FAILED', message: info.message };
}

const FILTER_REFUSALS = new Set(['BadFilterNotAllowed', 'BadMonitoredItemFilterUnsupported', 'BadMonitoredItemFilterInvalid', 'BadDeadbandFilterInvalid']);

// ---------------------------------------------------------------- connection

/** A method argument: its type, and its name as the server declares it. */
type ArgMeta = NodeMeta & { name?: string };

interface Resolved {
  point: OpcuaPoint;
  /** Why the node ids cannot be used (an unknown namespace URI). */
  problem?: string;
  nodeId?: NodeId;
  objectId?: NodeId;
  methodId?: NodeId;
  meta?: NodeMeta;
  /** Units for samples: the profile's, else the server's EUInformation. */
  units?: string;
  /** Method input arguments. */
  inputs?: ArgMeta[];
  /** Method output argument names, read for Object-typed method resources. */
  outputNames?: string[];
  /** The outputs of the last call of a method resource. */
  last?: { value: ReadingValue; origin: number };
}

export interface OpcuaSubscription extends Subscription {
  /** Resources the server refused to monitor, each a coded issue naming the resource. */
  readonly issues: readonly DriverIssue[];
}

/** The settings a resource is monitored with: device defaults, then the caller's options, then the resource's attributes. */
export function monitoringFor(target: OpcuaTarget, point: VariablePoint, options?: SubscribeOptions): MonitoringSettings {
  const fromOptions: Partial<MonitoringSettings> = {};
  if (options?.deadband !== undefined) Object.assign(fromOptions, { deadbandType: 'Absolute', deadbandValue: options.deadband });
  if (options?.mode === 'interval' && options.intervalMs !== undefined) fromOptions.samplingInterval = options.intervalMs;
  return { ...target.monitoring, ...fromOptions, ...point.monitoring };
}

/** A read that gets no answer in this long (when the device names no requestTimeout) fails instead of holding its poll. */
const DEFAULT_READ_TIMEOUT_MS = 10_000;

/** `p`, or a rejection after `ms` (a request lost with its connection would otherwise wait for the session's repair). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

class OpcuaConnection implements DeviceConnection {
  readonly #ua: Opcua;
  readonly #lease: EndpointHandle;
  readonly #target: OpcuaTarget;
  readonly #device: DriverDevice;
  readonly #logger: Logger;
  readonly #points: Map<string, Resolved>;
  readonly #subscriptions = new Set<OpcuaSubscription>();
  #readFailing = false;
  #closed = false;
  /** Why the endpoint's connection is down, while it is (from its `lost` and `reconnecting` events). */
  #outage = 'connection lost';
  readonly #offOutage: (() => void)[];

  readonly #onClose: () => void;

  constructor(ua: Opcua, lease: EndpointHandle, target: OpcuaTarget, device: DriverDevice, points: Map<string, Resolved>, logger: Logger, onClose: () => void) {
    this.#offOutage = [
      lease.on('lost', (e) => (this.#outage = e.reason)),
      lease.on('reconnecting', (e) => (this.#outage = failureCause(e.error))),
    ];
    this.#onClose = () => {
      for (const off of this.#offOutage) off();
      onClose();
    };
    this.#ua = ua;
    this.#lease = lease;
    this.#target = target;
    this.#device = device;
    this.#points = points;
    this.#logger = logger;
  }

  #sample(r: Resolved, dv: DataValue, extraDetail?: string): Sample {
    const p = r.point;
    const origin = originOf(dv);
    const sev = severity(dv.statusCode);
    if (sev === 2) return sampleOf(p.resource, null, p.valueType, r.units, origin, 'bad', `EDGE_ERR_OPCUA_STATUS ${statusName(dv.statusCode)}`);
    const c = conform(fromVariant(dv.value), p.valueType);
    if ('problem' in c) return sampleOf(p.resource, null, p.valueType, r.units, origin, 'bad', clip(`EDGE_ERR_OPCUA_TYPE_MISMATCH ${c.problem}`));
    if (sev === 1) return sampleOf(p.resource, c.value, p.valueType, r.units, origin, 'uncertain', `EDGE_ERR_OPCUA_STATUS ${statusName(dv.statusCode)}`);
    if (extraDetail) return sampleOf(p.resource, c.value, p.valueType, r.units, origin, 'uncertain', extraDetail);
    return sampleOf(p.resource, c.value, p.valueType, r.units, origin, 'good');
  }

  #bad(name: string, detail: string, origin = nowOrigin()): Sample {
    const r = this.#points.get(name);
    return sampleOf(name, null, r?.point.valueType ?? 'String', r?.units, origin, 'bad', clip(detail));
  }

  async read(resources: readonly string[]): Promise<Sample[]> {
    const out = new Map<string, Sample>();
    const wanted: Resolved[] = [];
    for (const name of resources) {
      const r = this.#points.get(name);
      if (!r) out.set(name, this.#bad(name, 'EDGE_ERR_OPCUA_UNKNOWN_RESOURCE'));
      else if (r.problem) out.set(name, this.#bad(name, `EDGE_ERR_OPCUA_NODE_ID ${r.problem}`));
      else if (r.point.kind === 'method') {
        if (!r.last) out.set(name, this.#bad(name, 'EDGE_ERR_OPCUA_METHOD_NOT_CALLED the method has not been called on this connection'));
        else {
          const c = conform(r.last.value, r.point.valueType);
          out.set(name, 'problem' in c ? this.#bad(name, `EDGE_ERR_OPCUA_TYPE_MISMATCH ${c.problem}`, r.last.origin) : sampleOf(name, c.value, r.point.valueType, r.units, r.last.origin, 'good'));
        }
      } else if (r.point.readWrite === 'W') out.set(name, this.#bad(name, 'EDGE_ERR_OPCUA_WRITE_ONLY'));
      else if (!wanted.includes(r)) wanted.push(r);
    }
    if (wanted.length > 0 && !this.#lease.connected) {
      // A request made while the session is being repaired waits for the repair: answer at once instead.
      const origin = nowOrigin();
      for (const r of wanted) out.set(r.point.resource, this.#bad(r.point.resource, formatQualityDetail('EDGE_ERR_OPCUA_CONNECTION_LOST', this.#outage), origin));
    } else if (wanted.length > 0) {
      try {
        const dvs = await withTimeout(
          this.#lease.session.read(
            wanted.map((r) => ({ nodeId: r.nodeId!, attributeId: this.#ua.AttributeIds.Value })),
            0,
          ),
          this.#target.requestTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS,
        );
        wanted.forEach((r, i) => out.set(r.point.resource, dvs[i] ? this.#sample(r, dvs[i]) : this.#bad(r.point.resource, 'EDGE_ERR_OPCUA_READ_SHORT')));
        if (this.#readFailing) this.#logger.info({ device: this.#device.name }, 'opcua reads succeed again');
        this.#readFailing = false;
      } catch (err) {
        const e = new ErrOpcuaService({ service: 'Read', endpoint: this.#target.endpoint, reason: failureCause(err) }, { cause: err });
        if (!this.#readFailing) this.#logger.warn({ device: this.#device.name, error: toErrorInfo(e) }, 'opcua read failed');
        this.#readFailing = true;
        const origin = nowOrigin();
        for (const r of wanted) out.set(r.point.resource, this.#bad(r.point.resource, formatQualityDetail(e.code, failureCause(err)), origin));
      }
    }
    return resources.map((name) => out.get(name)!);
  }

  /** The node's DataType and ValueRank, read once and cached. */
  async #metaOf(r: Resolved): Promise<NodeMeta> {
    if (r.meta) return r.meta;
    const metas = await readMetas(this.#ua, this.#lease.session, [r]);
    const m = metas[0];
    if (typeof m === 'string' || m === undefined) throw new ErrOpcuaNodeMetadata({ resource: r.point.resource, nodeId: r.point.kind === 'variable' ? r.point.nodeId.text : '', reason: m ?? 'no answer' });
    r.meta = m;
    return m;
  }

  async write(requests: readonly WriteRequest[]): Promise<WriteResult[]> {
    const results: (WriteResult | undefined)[] = requests.map(() => undefined);
    const batch: { i: number; r: Resolved; variant: ReturnType<typeof toVariant> }[] = [];
    const calls: { i: number; r: Resolved; value: ReadingValue }[] = [];
    for (const [i, req] of requests.entries()) {
      try {
        const r = this.#points.get(req.resource);
        if (!r) throw new ErrOpcuaUnknownResource({ resource: req.resource });
        if (r.problem) throw new ErrOpcuaNodeMetadata({ resource: req.resource, nodeId: '', reason: r.problem });
        if (r.point.readWrite === 'R') throw new ErrOpcuaNotWritable({ resource: req.resource });
        if (r.point.kind === 'method') {
          calls.push({ i, r, value: req.value });
          continue;
        }
        const meta = await this.#metaOf(r);
        const limits = { ...(r.point.minimum === undefined ? {} : { minimum: r.point.minimum }), ...(r.point.maximum === undefined ? {} : { maximum: r.point.maximum }) };
        batch.push({ i, r, variant: toVariant(req.resource, req.value, meta, limits) });
      } catch (err) {
        results[i] = { resource: req.resource, ok: false, error: errorOf(err) };
      }
    }
    if (batch.length > 0) {
      try {
        const statuses = await this.#lease.session.write(
          batch.map((b) => ({ nodeId: b.r.nodeId!, attributeId: this.#ua.AttributeIds.Value, value: { value: new this.#ua.Variant(b.variant as ConstructorParameters<typeof Variant>[0]) } })),
        );
        batch.forEach((b, k) => {
          const s = statuses[k];
          const resource = b.r.point.resource;
          results[b.i] = s && severity(s) === 0 ? { resource, ok: true } : { resource, ok: false, error: errorOf(new ErrOpcuaRefused({ resource, action: 'write', status: s ? statusName(s) : 'no status' })) };
        });
      } catch (err) {
        const e = new ErrOpcuaService({ service: 'Write', endpoint: this.#target.endpoint, reason: failureCause(err) }, { cause: err });
        for (const b of batch) results[b.i] = { resource: b.r.point.resource, ok: false, error: errorOf(e) };
      }
    }
    for (const c of calls) {
      try {
        await this.#call(c.r, c.value);
        results[c.i] = { resource: c.r.point.resource, ok: true };
      } catch (err) {
        results[c.i] = { resource: c.r.point.resource, ok: false, error: errorOf(err) };
      }
    }
    return results.map((r, i) => r ?? { resource: requests[i]!.resource, ok: false, error: { code: 'EDGE_ERR_OPCUA_FAILED', message: 'no result' } });
  }

  async #call(r: Resolved, value: ReadingValue): Promise<void> {
    const p = r.point as MethodPoint;
    if (!r.inputs) {
      const inputs = await readInputArguments(this.#ua, this.#lease.session, [r]);
      const got = inputs[0];
      if (typeof got === 'string' || got === undefined) throw new ErrOpcuaNodeMetadata({ resource: p.resource, nodeId: p.methodId.text, reason: got ?? 'no answer' });
      r.inputs = got;
    }
    const inputs = r.inputs;
    let args: ReadingValue[];
    const single = inputs.length === 1 && inputs[0]!.valueRank >= 0;
    if (value === null || value === undefined) args = [];
    else if (typeof value === 'object' && !Array.isArray(value)) {
      // Named inputs, as the method declares them: { "a": 1.5, "b": 2 }.
      const named = value as Record<string, ReadingValue>;
      const names = inputs.map((a, k) => a.name ?? `input${k}`);
      const unknown = Object.keys(named).filter((n) => !names.includes(n));
      const missing = names.filter((n) => !Object.hasOwn(named, n));
      if (unknown.length > 0 || missing.length > 0) {
        throw new ErrOpcuaMethodArguments({ resource: p.resource, expected: inputs.length, got: Object.keys(named).length, names, ...(unknown.length ? { unknown } : {}), ...(missing.length ? { missing } : {}) });
      }
      args = names.map((n) => named[n]!);
    } else if (single) args = [value];
    else if (Array.isArray(value)) args = value;
    else if (typeof value === 'string' && value.trim().startsWith('[')) {
      try {
        const parsed = JSON.parse(value) as unknown;
        args = Array.isArray(parsed) ? (parsed as ReadingValue[]) : [value];
      } catch {
        args = [value];
      }
    } else args = [value];
    if (args.length !== inputs.length) throw new ErrOpcuaMethodArguments({ resource: p.resource, expected: inputs.length, got: args.length });
    const variants = args.map((a, k) => new this.#ua.Variant(toVariant(`${p.resource}.input[${k}]`, a, inputs[k]!) as ConstructorParameters<typeof Variant>[0]));
    let result;
    try {
      result = await this.#lease.session.call({ objectId: r.objectId!, methodId: r.methodId!, inputArguments: variants });
    } catch (err) {
      throw new ErrOpcuaService({ service: 'Call', endpoint: this.#target.endpoint, reason: failureCause(err) }, { cause: err });
    }
    if (severity(result.statusCode) !== 0) {
      const badInputs = (result.inputArgumentResults ?? []).map((s, k) => (severity(s) === 0 ? undefined : `input[${k}] ${statusName(s)}`)).filter((x) => x !== undefined);
      throw new ErrOpcuaRefused({ resource: p.resource, action: 'call', status: statusName(result.statusCode), ...(badInputs.length > 0 ? { detail: badInputs.join(', ') } : {}) });
    }
    const outputs = (result.outputArguments ?? []).map((v) => fromVariant(v));
    if (p.valueType === 'Object') {
      // Named outputs: { "sum": 3.5 }.
      if (!r.outputNames) {
        const got = (await readInputArguments(this.#ua, this.#lease.session, [r], 'OutputArguments'))[0];
        r.outputNames = Array.isArray(got) ? got.map((a, k) => a.name ?? `output${k}`) : outputs.map((_o, k) => `output${k}`);
      }
      const names = r.outputNames;
      r.last = { value: Object.fromEntries(outputs.map((o, k) => [names[k] ?? `output${k}`, o])) as ReadingValue, origin: nowOrigin() };
      return;
    }
    r.last = { value: outputs.length === 0 ? null : outputs.length === 1 ? outputs[0]! : outputs, origin: nowOrigin() };
  }

  async subscribe(resources: readonly string[], options: SubscribeOptions, sink: SampleSink): Promise<OpcuaSubscription> {
    const ua = this.#ua;
    const issues: DriverIssue[] = [];
    const early: Sample[] = [];
    const groups = new Map<string, { settings: MonitoringSettings; items: Resolved[] }>();
    for (const name of new Set(resources)) {
      const r = this.#points.get(name);
      // A method has no value to monitor: its outputs arrive when it is called.
      if (r?.point.kind === 'method' || r?.point.readWrite === 'W') continue;
      if (!r || r.point.kind !== 'variable' || r.problem) {
        const why = !r ? 'is not a resource of the profile' : (r.problem ?? '');
        issues.push({ path: r ? `deviceResources[${r.point.index}](${name}).attributes.nodeId` : `resources.${name}`, code: ISSUE.monitor, message: `resource '${name}' ${why}` });
        early.push(this.#bad(name, `EDGE_ERR_OPCUA_MONITOR_REFUSED ${why}`));
        continue;
      }
      const settings = monitoringFor(this.#target, r.point, options);
      const key = JSON.stringify(settings);
      const g = groups.get(key) ?? { settings, items: [] };
      g.items.push(r);
      groups.set(key, g);
    }
    const wanted = [...groups.values()].reduce((n, g) => n + g.items.length, 0);
    const sub = await this.#lease.subscribe({
      publishingInterval: options.mode === 'interval' && options.intervalMs !== undefined ? options.intervalMs : this.#target.publishingInterval,
    });
    const pendingGap = new Set<string>();
    let pending: Sample[] = [];
    let closed = false;
    const flush = (): void => {
      const batch = pending;
      pending = [];
      if (closed || batch.length === 0) return;
      try {
        sink(batch);
      } catch (err) {
        this.#logger.error({ device: this.#device.name, error: toErrorInfo(err) }, 'opcua sample sink failed');
      }
    };
    const emit = (s: Sample): void => {
      if (pending.length === 0) queueMicrotask(flush);
      pending.push(s);
    };
    const offGap = this.#lease.on('gap', (e) => {
      if (!e.subscriptions.includes(sub)) return;
      for (const g of groups.values()) for (const r of g.items) pendingGap.add(r.point.resource);
    });
    const created: ClientMonitoredItemGroup[] = [];
    const terminate = async (): Promise<void> => {
      offGap();
      for (const group of created.splice(0)) {
        await group.terminate().catch((err: unknown) => this.#logger.debug({ device: this.#device.name, error: toErrorInfo(err) }, 'opcua monitored items terminate failed'));
      }
    };
    let monitored = 0;
    try {
      for (const g of groups.values()) {
        const { settings } = g;
        const filter =
          settings.deadbandType === 'None'
            ? null
            : new ua.DataChangeFilter({ trigger: ua.DataChangeTrigger.StatusValue, deadbandType: settings.deadbandType === 'Absolute' ? ua.DeadbandType.Absolute : ua.DeadbandType.Percent, deadbandValue: settings.deadbandValue });
        const group = await sub.monitorItems(
          g.items.map((r) => ({ nodeId: r.nodeId!, attributeId: ua.AttributeIds.Value })),
          { samplingInterval: settings.samplingInterval, queueSize: settings.queueSize, discardOldest: true, filter },
          ua.TimestampsToReturn.Both,
        );
        created.push(group);
        group.monitoredItems.forEach((item, k) => {
          const r = g.items[k]!;
          const status = item.statusCode;
          if (severity(status) === 0) {
            monitored++;
            return;
          }
          const name = statusName(status);
          const p = r.point as VariablePoint;
          const base = `deviceResources[${p.index}](${p.resource}).attributes`;
          const issue: DriverIssue = FILTER_REFUSALS.has(name)
            ? {
                path: `${base}.deadbandType`,
                code: ISSUE.filter,
                message: `the server refused the ${settings.deadbandType} deadband ${settings.deadbandValue} on ${p.nodeId.text} with ${name}${settings.deadbandType === 'Percent' ? ' (a Percent deadband needs the node to have an EURange property)' : ''}`,
              }
            : { path: `${base}.nodeId`, code: ISSUE.monitor, message: `the server refused to monitor ${p.nodeId.text} with ${name}` };
          issues.push(issue);
          early.push(this.#bad(p.resource, `${issue.code} ${name}`));
        });
        group.on('changed', (_item, dv: DataValue, index: number) => {
          const r = g.items[index];
          if (!r || closed) return;
          let detail: string | undefined;
          if (dv.statusCode.hasOverflowBit) detail = OVERFLOW_DETAIL;
          if (pendingGap.delete(r.point.resource)) detail ??= GAP_DETAIL;
          emit(this.#sample(r, dv, detail));
        });
      }
    } catch (err) {
      await terminate();
      throw new ErrOpcuaService({ service: 'CreateMonitoredItems', endpoint: this.#target.endpoint, reason: failureCause(err) }, { cause: err });
    }
    if (issues.length > 0) this.#logger.warn({ device: this.#device.name, issues }, 'opcua resources not monitored');
    if (monitored === 0 && (wanted > 0 || issues.length > 0)) {
      await terminate();
      throw new ErrOpcuaSubscribe({ device: this.#device.name, issues });
    }
    for (const s of early) emit(s);
    const subscriptions = this.#subscriptions;
    const handle: OpcuaSubscription = {
      issues,
      async close() {
        if (closed) return;
        closed = true;
        subscriptions.delete(handle);
        await terminate();
      },
    };
    subscriptions.add(handle);
    return handle;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose();
    for (const s of [...this.#subscriptions]) await s.close();
    await this.#lease.release();
  }
}

// ---------------------------------------------------------------- node metadata

function isBuiltinId(id: NodeId): boolean {
  return id.namespace === 0 && typeof id.value === 'number' && id.value >= 1 && id.value <= BUILTIN.DiagnosticInfo;
}

/** The built-in type of a DataType node: itself when built in, else found up its supertypes. */
async function builtinOf(ua: Opcua, session: ClientSession, dataType: NodeId): Promise<number> {
  if (isBuiltinId(dataType)) return dataType.value as number;
  return await ua.findBasicDataType(session, dataType);
}

/** One NodeMeta object per (DataType, ValueRank): a device's thousands of variables share a few. */
const META = new Map<string, NodeMeta>();
function nodeMeta(builtin: number, valueRank: number): NodeMeta {
  const key = `${builtin}/${valueRank}`;
  let m = META.get(key);
  if (!m) META.set(key, (m = Object.freeze({ builtin, valueRank })));
  return m;
}

/** DataType and ValueRank of each variable (one Read); a string is why it could not be read. */
async function readMetas(ua: Opcua, session: ClientSession, rs: readonly Resolved[]): Promise<(NodeMeta | string)[]> {
  const dvs = await session.read(rs.flatMap((r) => [{ nodeId: r.nodeId!, attributeId: ua.AttributeIds.DataType }, { nodeId: r.nodeId!, attributeId: ua.AttributeIds.ValueRank }]));
  const out: (NodeMeta | string)[] = [];
  for (let i = 0; i < rs.length; i++) {
    const dt = dvs[2 * i]!;
    const rank = dvs[2 * i + 1]!;
    if (severity(dt.statusCode) !== 0) {
      out.push(statusName(dt.statusCode));
      continue;
    }
    try {
      const builtin = await builtinOf(ua, session, dt.value.value as NodeId);
      out.push(nodeMeta(builtin, severity(rank.statusCode) === 0 && typeof rank.value.value === 'number' ? rank.value.value : -1));
    } catch (err) {
      out.push(toErrorInfo(err).message);
    }
  }
  return out;
}

/** A property (browse name in namespace 0) of each node: its node id, or undefined when the node has none. */
async function properties(ua: Opcua, session: ClientSession, nodes: readonly NodeId[], name: string): Promise<(NodeId | undefined)[]> {
  if (nodes.length === 0) return [];
  const results = await session.translateBrowsePath(
    nodes.map((n) => ({
      startingNode: n,
      relativePath: { elements: [{ referenceTypeId: ua.resolveNodeId('HasProperty'), isInverse: false, includeSubtypes: true, targetName: { namespaceIndex: 0, name } }] },
    })),
  );
  return results.map((b) => (severity(b.statusCode) === 0 ? b.targets?.[0]?.targetId : undefined));
}

/** InputArguments (or OutputArguments) of each method, with their names (one browse, one read); a string is why they could not be read. */
async function readInputArguments(ua: Opcua, session: ClientSession, rs: readonly Resolved[], which: 'InputArguments' | 'OutputArguments' = 'InputArguments'): Promise<(ArgMeta[] | string)[]> {
  const props = await properties(ua, session, rs.map((r) => r.methodId!), which);
  const present = props.filter((p): p is NodeId => p !== undefined);
  const dvs = present.length > 0 ? await session.read(present.map((nodeId) => ({ nodeId, attributeId: ua.AttributeIds.Value }))) : [];
  const out: (ArgMeta[] | string)[] = [];
  let k = 0;
  for (const prop of props) {
    // A method without the property takes no inputs (has no outputs).
    if (prop === undefined) {
      out.push([]);
      continue;
    }
    const dv = dvs[k++]!;
    if (severity(dv.statusCode) !== 0) {
      out.push(`${which}: ${statusName(dv.statusCode)}`);
      continue;
    }
    const args = (Array.isArray(dv.value.value) ? dv.value.value : []) as { dataType: NodeId; valueRank: number; name?: string | null }[];
    try {
      const metas: ArgMeta[] = [];
      for (const a of args) metas.push({ builtin: await builtinOf(ua, session, a.dataType), valueRank: a.valueRank, ...(a.name ? { name: a.name } : {}) });
      out.push(metas);
    } catch (err) {
      out.push(toErrorInfo(err).message);
    }
  }
  return out;
}

/** Text of the EngineeringUnits (EUInformation displayName) of each variable, one browse and one read for all. */
async function readUnits(ua: Opcua, session: ClientSession, rs: readonly Resolved[]): Promise<(string | undefined)[]> {
  const props = await properties(ua, session, rs.map((r) => r.nodeId!), 'EngineeringUnits');
  const present = props.filter((p): p is NodeId => p !== undefined);
  if (present.length === 0) return rs.map(() => undefined);
  const dvs = await session.read(present.map((nodeId) => ({ nodeId, attributeId: ua.AttributeIds.Value })));
  let k = 0;
  return props.map((p) => {
    if (p === undefined) return undefined;
    const dv = dvs[k++]!;
    const eu = dv.value.value as { displayName?: { text?: string | null } } | null;
    const text = severity(dv.statusCode) === 0 ? eu?.displayName?.text : undefined;
    return text ? text : undefined;
  });
}

/** Resolves node ids against the server's namespace array, then reads what writes, units and method calls need. */
async function prepareNodes(ua: Opcua, session: ClientSession, points: readonly OpcuaPoint[], logger: Logger, device: string): Promise<Map<string, Resolved>> {
  const refs = points.flatMap((p) => (p.kind === 'variable' ? [p.nodeId] : [p.objectId, p.methodId]));
  const namespaces = refs.some((r) => r.namespaceUri !== undefined) ? await session.readNamespaceArray() : [];
  const toNodeId = (ref: NodeIdRef): NodeId | string => {
    let ns = ref.namespace;
    if (ref.namespaceUri !== undefined) {
      const idx = namespaces.indexOf(ref.namespaceUri);
      if (idx < 0) return `namespace '${ref.namespaceUri}' of ${ref.text} is not in the server's namespace array`;
      ns = idx;
    }
    try {
      return ua.resolveNodeId(nodeIdText(ref, ns ?? 0));
    } catch (err) {
      return `${ref.text}: ${toErrorInfo(err).message}`;
    }
  };
  const out = new Map<string, Resolved>();
  for (const p of points) {
    // A variable's fields in the literal: each one added later would grow the object (a device may have thousands).
    const r: Resolved = { point: p, problem: undefined, nodeId: undefined, meta: undefined, units: p.units };
    const set = (key: 'nodeId' | 'objectId' | 'methodId', v: NodeId | string): void => {
      if (typeof v === 'string') r.problem = v;
      else r[key] = v;
    };
    if (p.kind === 'variable') set('nodeId', toNodeId(p.nodeId));
    else {
      set('objectId', toNodeId(p.objectId));
      set('methodId', toNodeId(p.methodId));
    }
    out.set(p.resource, r);
  }
  const usable = [...out.values()].filter((r) => !r.problem);
  const variables = usable.filter((r) => r.point.kind === 'variable');
  const methods = usable.filter((r) => r.point.kind === 'method');
  if (variables.length > 0) {
    const metas = await readMetas(ua, session, variables);
    const units = await readUnits(ua, session, variables);
    variables.forEach((r, i) => {
      const m = metas[i];
      const p = r.point as VariablePoint;
      if (typeof m === 'string' || m === undefined) logger.warn({ device, resource: p.resource, nodeId: p.nodeId.text, status: m }, 'opcua node metadata unreadable');
      else {
        r.meta = m;
        const natural = naturalValueType(m);
        if (natural !== p.valueType && !compatible(natural, p.valueType)) {
          logger.warn({ device, resource: p.resource, nodeId: p.nodeId.text, dataType: builtinName(m.builtin), valueRank: m.valueRank, valueType: p.valueType }, 'opcua node type does not match the profile valueType');
        }
      }
      const server = units[i];
      if (server !== undefined) {
        if (p.units === undefined) r.units = server;
        else if (p.units !== server) logger.warn({ device, resource: p.resource, profileUnits: p.units, serverUnits: server }, 'opcua profile units differ from the server EngineeringUnits; keeping the profile units');
      }
    });
  }
  if (methods.length > 0) {
    const inputs = await readInputArguments(ua, session, methods);
    methods.forEach((r, i) => {
      const got = inputs[i];
      if (typeof got === 'string' || got === undefined) logger.warn({ device, resource: r.point.resource, status: got }, 'opcua method arguments unreadable');
      else r.inputs = got;
    });
  }
  return out;
}

const NUMERIC = new Set(['Int8', 'Int16', 'Int32', 'Int64', 'Uint8', 'Uint16', 'Uint32', 'Uint64', 'Float32', 'Float64']);

/** Whether values of the server's natural type read well as the profile's type (numbers as other numbers, anything as String or Object). */
function compatible(natural: string, declared: string): boolean {
  if (declared === 'String' || declared === 'Object') return true;
  if (NUMERIC.has(natural) && NUMERIC.has(declared)) return true;
  const elem = (t: string): string => t.replace(/Array$/, '');
  return natural.endsWith('Array') && declared.endsWith('Array') && NUMERIC.has(elem(natural)) && NUMERIC.has(elem(declared));
}

// ---------------------------------------------------------------- driver

/** The device's target and points, or every problem with them. */
function prepare(device: DriverDevice): { target?: OpcuaTarget; points: OpcuaPoint[]; issues: DriverIssue[] } {
  const p = readProtocol(device);
  const r = resolvePoints(device.resources);
  return { ...(p.target ? { target: p.target } : {}), points: r.points, issues: [...p.issues, ...r.issues] };
}

export interface OpcuaDriverOptions {
  logger: Logger;
  /** The plugin's storage folder (siteStorage.dir('opcua')); the client PKI lives in `<dir>/pki`. */
  dir: string;
  /** The site, for the client certificate's application URI (default: the first device's site). */
  site?: string;
}

export function createOpcuaDriver(o: OpcuaDriverOptions): DeviceDriver {
  const logger = o.logger.child({ component: 'opcua-driver' });
  const connections = new Set<OpcuaConnection>();
  let opened: Promise<{ pki: ClientPki; pool: EndpointPool; endpointKey: (o: EndpointOptions) => string }> | undefined;
  let closed = false;
  const poolFor = (site: string): Promise<{ pki: ClientPki; pool: EndpointPool; endpointKey: (o: EndpointOptions) => string }> => {
    opened ??= (async () => {
      // session.ts loads node-opcua: imported here so that loading the plugin does not.
      const { EndpointPool, endpointKey } = await import('./session.ts');
      const pki = await openClientPki({ dir: o.dir, applicationName: 'edgeadm-opcua', site: o.site ?? site, logger: o.logger });
      return { pki, pool: new EndpointPool({ pki, logger: o.logger }), endpointKey };
    })();
    // A PKI that failed to open is tried again by the next connect.
    opened.catch(() => (opened = undefined));
    return opened;
  };
  return {
    protocols: OPCUA_PROTOCOLS,
    validate(device) {
      return prepare(device).issues;
    },
    async discover(request, signal) {
      routeOpcuaLogs(await loadOpcua(), o.logger);
      const { discoverOpcua } = await import('./discover.ts');
      return discoverOpcua(request, { pkiDir: path.join(o.dir, 'pki'), ...(signal ? { signal } : {}) });
    },
    async connect(device, signal) {
      const prepared = prepare(device);
      if (!prepared.target || prepared.issues.length > 0) throw new ErrOpcuaDeviceInvalid({ device: device.name, issues: prepared.issues });
      if (closed) throw new ErrOpcuaService({ service: 'connect', endpoint: prepared.target.endpoint, reason: 'the driver is closed' });
      const t = prepared.target;
      const ua = await loadOpcua();
      routeOpcuaLogs(ua, o.logger);
      const { pool, endpointKey } = await poolFor(device.site);
      const opts: EndpointOptions = {
        endpoint: t.endpoint,
        security: t.security,
        ...(t.user ? { user: t.user } : {}),
        ...(t.requestTimeoutMs === undefined ? {} : { requestTimeout: t.requestTimeoutMs }),
        ...(t.sessionTimeoutMs === undefined ? {} : { sessionTimeout: t.sessionTimeoutMs }),
        protocolName: device.protocolName ?? 'opcua',
      };
      const lease = await pool.acquire(endpointKey(opts), opts, signal);
      let points: Map<string, Resolved>;
      try {
        points = await prepareNodes(ua, lease.session, prepared.points, logger, device.name);
      } catch (err) {
        await lease.release().catch(() => undefined);
        throw new ErrOpcuaService({ service: 'Read (node metadata)', endpoint: t.endpoint, reason: failureCause(err) }, { cause: err });
      }
      const conn = new OpcuaConnection(ua, lease, t, device, points, logger.child({ device: device.name }), () => connections.delete(conn));
      connections.add(conn);
      return conn;
    },
    async close() {
      closed = true;
      for (const c of [...connections]) await c.close().catch((err: unknown) => logger.warn({ error: toErrorInfo(err) }, 'opcua connection close failed'));
      const o2 = await opened?.catch(() => undefined);
      if (o2) {
        await o2.pool.close();
        await o2.pki.close();
      }
    },
  };
}
