/**
 * Sparkplug B (Eclipse Sparkplug 3.0) as a format of the hub's export
 * (`startTelemetryExport({ format: 'sparkplug' })`), so that Ignition's MQTT
 * Engine and other Sparkplug host applications take the fleet's readings as
 * they are.
 *
 * Each site is one edge node with its own MQTT session (client id: the
 * exporter's, `-<site>`), opened at the site's first reading to export:
 *
 *   spBv1.0/{group}/NBIRTH|NDEATH|NCMD/{site}
 *   spBv1.0/{group}/DBIRTH|DDATA/{site}/{device}
 *
 * (`/`, `+` and `#` in a site or device name become `_`, as in the other
 * formats' topics.)
 *
 * - CONNECT carries the will: NDEATH (QoS 1, not retained) with the `bdSeq`
 *   metric. bdSeq counts the node's sessions from 0, wrapping after 255, and
 *   goes on across hub restarts (the count is kept in the telemetry store);
 *   an attempt the broker did not accept (no CONNACK) leaves it as it was.
 *   A lost session is opened again by the next export step.
 * - Once connected the node subscribes to its NCMD topic, then publishes
 *   NBIRTH (seq 0; `bdSeq` Int64, `Node Control/Rebirth` Boolean false) and a
 *   DBIRTH for each device it has exported before (every metric seen so far,
 *   with its datatype and latest value).
 * - An export step's readings go out as one DDATA per device (metric name =
 *   resource, metric timestamp = origin in ms, payload timestamp = now). A
 *   reading whose resource is not in its device's last DBIRTH, or comes with
 *   another datatype, makes the device born again first (a new DBIRTH).
 * - `seq` runs over every message of the node after NBIRTH, 0..255 wrapping.
 * - An NCMD whose `Node Control/Rebirth` is true: NBIRTH (seq 0, same bdSeq)
 *   and every DBIRTH again. An NCMD that cannot be read is logged and ignored.
 * - A stop publishes NDEATH (same bdSeq) on each session, then DISCONNECT.
 *
 * Values (Sparkplug 3.0 §6.4.16 "Datatype Details"; arrays little-endian in
 * `bytes_value`, as Eclipse Tahu's encoder writes them):
 *
 * | valueType    | Sparkplug DataType | field                                                   |
 * |--------------|--------------------|---------------------------------------------------------|
 * | Bool         | Boolean (11)       | boolean_value                                           |
 * | String       | String (12)        | string_value                                            |
 * | Uint8        | UInt8 (5)          | int_value                                               |
 * | Uint16       | UInt16 (6)         | int_value                                               |
 * | Uint32       | UInt32 (7)         | int_value                                               |
 * | Uint64       | UInt64 (8)         | long_value (decimal strings exact)                      |
 * | Int8         | Int8 (1)           | int_value, two's complement in 32 bits                  |
 * | Int16        | Int16 (2)          | int_value, two's complement in 32 bits                  |
 * | Int32        | Int32 (3)          | int_value, two's complement in 32 bits                  |
 * | Int64        | Int64 (4)          | long_value, two's complement in 64 bits (exact)         |
 * | Float32      | Float (9)          | float_value                                             |
 * | Float64      | Double (10)        | double_value                                            |
 * | Binary       | Bytes (17)         | bytes_value (the base64 decoded)                        |
 * | Object       | String (12)        | string_value: the JSON text; metadata content_type application/json |
 * | BoolArray    | BooleanArray (32)  | bytes_value: count (uint32 LE), then bits, first value = high bit |
 * | StringArray  | StringArray (33)   | bytes_value: each string UTF-8 and NUL-terminated (a NUL inside becomes U+FFFD) |
 * | Uint8Array   | UInt8Array (26)    | bytes_value, 1 byte each                                |
 * | Uint16Array  | UInt16Array (27)   | bytes_value, 2 bytes LE each                            |
 * | Uint32Array  | UInt32Array (28)   | bytes_value, 4 bytes LE each                            |
 * | Uint64Array  | UInt64Array (29)   | bytes_value, 8 bytes LE each                            |
 * | Int8Array    | Int8Array (22)     | bytes_value, 1 byte each                                |
 * | Int16Array   | Int16Array (23)    | bytes_value, 2 bytes LE each                            |
 * | Int32Array   | Int32Array (24)    | bytes_value, 4 bytes LE each                            |
 * | Int64Array   | Int64Array (25)    | bytes_value, 8 bytes LE each                            |
 * | Float32Array | FloatArray (30)    | bytes_value, IEEE 754 binary32 LE each                  |
 * | Float64Array | DoubleArray (31)   | bytes_value, IEEE 754 binary64 LE each                  |
 *
 * Quality: a `good` reading carries no property; any other carries the
 * metric property `Quality` (Int32): 0 for `bad`, 64 for `uncertain`
 * (Ignition's codes; Sparkplug 3.0 itself names only 0, 192 and 500). A
 * `bad` reading is sent with `is_null` true and no value.
 *
 * Two choices differ from the letter of Sparkplug 3.0, for the export's own
 * guarantee: births and data go at QoS 1, not 0 (the export moves its
 * cursor only once the broker has acknowledged every message of a step, so
 * nothing is skipped across broker outages and restarts); and `uncertain`
 * is 64, which Sparkplug 3.0 does not name.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Type } from 'protobufjs';
import { toErrorInfo, type Logger } from '../kernel/index.ts';
import type { Quality, ReadingValue, StoredReading, ValueType } from '../sdk/index.ts';
import { ErrSparkplugCommand, ErrSparkplugSchema, ErrSparkplugSession } from './errors.ts';
import type { StreamRef, TelemetryStore } from './types.ts';

export const SPARKPLUG_NAMESPACE = 'spBv1.0';
export const REBIRTH_METRIC = 'Node Control/Rebirth';
export const BDSEQ_METRIC = 'bdSeq';

/** Sparkplug B's DataType enum (sparkplug_b.proto). */
export const DataType = {
  Int8: 1,
  Int16: 2,
  Int32: 3,
  Int64: 4,
  UInt8: 5,
  UInt16: 6,
  UInt32: 7,
  UInt64: 8,
  Float: 9,
  Double: 10,
  Boolean: 11,
  String: 12,
  Bytes: 17,
  Int8Array: 22,
  Int16Array: 23,
  Int32Array: 24,
  Int64Array: 25,
  UInt8Array: 26,
  UInt16Array: 27,
  UInt32Array: 28,
  UInt64Array: 29,
  FloatArray: 30,
  DoubleArray: 31,
  BooleanArray: 32,
  StringArray: 33,
} as const;

/** The Sparkplug DataType of each valueType (the table in this module's header). */
export const SPARKPLUG_DATATYPES: Readonly<Record<ValueType, number>> = {
  Bool: DataType.Boolean,
  String: DataType.String,
  Uint8: DataType.UInt8,
  Uint16: DataType.UInt16,
  Uint32: DataType.UInt32,
  Uint64: DataType.UInt64,
  Int8: DataType.Int8,
  Int16: DataType.Int16,
  Int32: DataType.Int32,
  Int64: DataType.Int64,
  Float32: DataType.Float,
  Float64: DataType.Double,
  Binary: DataType.Bytes,
  Object: DataType.String,
  BoolArray: DataType.BooleanArray,
  StringArray: DataType.StringArray,
  Uint8Array: DataType.UInt8Array,
  Uint16Array: DataType.UInt16Array,
  Uint32Array: DataType.UInt32Array,
  Uint64Array: DataType.UInt64Array,
  Int8Array: DataType.Int8Array,
  Int16Array: DataType.Int16Array,
  Int32Array: DataType.Int32Array,
  Int64Array: DataType.Int64Array,
  Float32Array: DataType.FloatArray,
  Float64Array: DataType.DoubleArray,
};

/** The `Quality` property's value of a non-good reading (Ignition's codes: 192 good, 64 uncertain, 0 bad). */
export const QUALITY_CODES: Readonly<Record<Exclude<Quality, 'good'>, number>> = { uncertain: 64, bad: 0 };

/** A uint64 as protobufjs writes it: two 32-bit halves. */
export type Uint64Bits = { low: number; high: number; unsigned: true };

export type SparkplugPropertyValue = { type: number; is_null?: boolean; int_value?: number };

/** A metric as this exporter writes it (field names as in sparkplug_b.proto). */
export type SparkplugMetric = {
  name: string;
  timestamp: number;
  datatype: number;
  is_null?: boolean;
  metadata?: { content_type: string };
  properties?: { keys: string[]; values: SparkplugPropertyValue[] };
  int_value?: number;
  long_value?: Uint64Bits | number;
  float_value?: number;
  double_value?: number;
  boolean_value?: boolean;
  string_value?: string;
  bytes_value?: Uint8Array;
};

export type SparkplugPayload = { timestamp: number; metrics: SparkplugMetric[]; seq?: number };

export type SparkplugMessageType = 'NBIRTH' | 'NDEATH' | 'DBIRTH' | 'DDEATH' | 'DDATA' | 'NCMD';

const topicSafe = (s: string): string => s.replace(/[/+#]/g, '_');

/** `spBv1.0/{group}/{type}/{edge node}[/{device}]`; the group is checked by the caller, node and device made topic-safe. */
export function sparkplugTopic(group: string, type: SparkplugMessageType, edgeNode: string, device?: string): string {
  return `${SPARKPLUG_NAMESPACE}/${group}/${type}/${topicSafe(edgeNode)}${device === undefined ? '' : `/${topicSafe(device)}`}`;
}

/** A site's MQTT client id: the exporter's, `-<site>`; at most 64 characters, cut with a hash of the site to stay unique. */
export function sparkplugClientId(base: string, site: string): string {
  const id = `${base}-${site}`;
  if (id.length <= 64) return id;
  const hash = createHash('sha256').update(site).digest('hex').slice(0, 12);
  return `${id.slice(0, 64 - hash.length - 1)}-${hash}`;
}

/** A 64-bit integer (a safe integer, or a decimal string as readings carry them beyond 2^53) as its two's complement bits. */
export function uint64Bits(value: number | string | bigint): Uint64Bits {
  const bits = BigInt.asUintN(64, BigInt(value));
  return { low: Number(bits & 0xffff_ffffn) >>> 0, high: Number(bits >> 32n) >>> 0, unsigned: true };
}

/**
 * An array value as Sparkplug 3.0's array DataTypes pack it in `bytes_value`.
 * The values are a stored reading's, checked on ingest against their valueType.
 */
export function encodeSparkplugArray(valueType: ValueType, values: readonly ReadingValue[]): Uint8Array {
  const n = values.length;
  const num = (i: number): number => Number(values[i]);
  const big = (i: number): bigint => BigInt(values[i] as number | string);
  const packed = (size: number, write: (b: Buffer, i: number) => void): Buffer => {
    const b = Buffer.alloc(n * size);
    for (let i = 0; i < n; i++) write(b, i);
    return b;
  };
  switch (valueType) {
    case 'Int8Array':
      return packed(1, (b, i) => b.writeInt8(num(i), i));
    case 'Int16Array':
      return packed(2, (b, i) => b.writeInt16LE(num(i), i * 2));
    case 'Int32Array':
      return packed(4, (b, i) => b.writeInt32LE(num(i), i * 4));
    case 'Int64Array':
      return packed(8, (b, i) => b.writeBigInt64LE(big(i), i * 8));
    case 'Uint8Array':
      return packed(1, (b, i) => b.writeUInt8(num(i), i));
    case 'Uint16Array':
      return packed(2, (b, i) => b.writeUInt16LE(num(i), i * 2));
    case 'Uint32Array':
      return packed(4, (b, i) => b.writeUInt32LE(num(i), i * 4));
    case 'Uint64Array':
      return packed(8, (b, i) => b.writeBigUInt64LE(big(i), i * 8));
    case 'Float32Array':
      return packed(4, (b, i) => b.writeFloatLE(num(i), i * 4));
    case 'Float64Array':
      return packed(8, (b, i) => b.writeDoubleLE(num(i), i * 8));
    case 'BoolArray': {
      // The count as a uint32 LE, then the values 8 to a byte, the first in the high bit (Sparkplug 3.0's example, Tahu's encoder).
      const b = Buffer.alloc(4 + Math.ceil(n / 8));
      b.writeUInt32LE(n, 0);
      for (let i = 0; i < n; i++) if (values[i] === true) b[4 + (i >> 3)]! |= 0x80 >> (i & 7);
      return b;
    }
    case 'StringArray':
      return Buffer.concat(values.map((v) => Buffer.from(`${(v as string).replace(/\0/g, '\uFFFD')}\0`, 'utf8')));
    default:
      throw new TypeError(`${valueType} is not an array valueType`);
  }
}

/** A reading's value in the metric's oneof field for its valueType. */
function setValue(m: SparkplugMetric, valueType: ValueType, value: ReadingValue): void {
  switch (valueType) {
    case 'Bool':
      m.boolean_value = value === true;
      return;
    case 'String':
      m.string_value = value as string;
      return;
    case 'Uint8':
    case 'Uint16':
    case 'Uint32':
    case 'Int8':
    case 'Int16':
    case 'Int32':
      m.int_value = Number(value) >>> 0;
      return;
    case 'Uint64':
    case 'Int64':
      m.long_value = uint64Bits(value as number | string);
      return;
    case 'Float32':
      m.float_value = Number(value);
      return;
    case 'Float64':
      m.double_value = Number(value);
      return;
    case 'Binary':
      m.bytes_value = Buffer.from(value as string, 'base64');
      return;
    case 'Object':
      m.string_value = JSON.stringify(value);
      m.metadata = { content_type: 'application/json' };
      return;
    default:
      m.bytes_value = encodeSparkplugArray(valueType, value as ReadingValue[]);
  }
}

/** A reading as a Sparkplug metric: name = resource, timestamp = origin in ms, its datatype and value, `Quality` unless good. */
export function sparkplugMetric(r: Pick<StoredReading, 'resource' | 'value' | 'valueType' | 'origin' | 'quality'>): SparkplugMetric {
  const m: SparkplugMetric = { name: r.resource, timestamp: Math.floor(r.origin / 1_000_000), datatype: SPARKPLUG_DATATYPES[r.valueType] };
  if (r.quality === 'bad' || r.value === null) m.is_null = true;
  else setValue(m, r.valueType, r.value);
  if (r.quality !== 'good') m.properties = { keys: ['Quality'], values: [{ type: DataType.Int32, int_value: QUALITY_CODES[r.quality] }] };
  return m;
}

/** NBIRTH: seq 0, `bdSeq` and `Node Control/Rebirth` (false). */
export function nbirthPayload(bdSeq: number, now: number): SparkplugPayload {
  return {
    timestamp: now,
    seq: 0,
    metrics: [
      { name: BDSEQ_METRIC, timestamp: now, datatype: DataType.Int64, long_value: bdSeq },
      { name: REBIRTH_METRIC, timestamp: now, datatype: DataType.Boolean, boolean_value: false },
    ],
  };
}

/** NDEATH: the `bdSeq` metric alone, no seq (Sparkplug 3.0: the will of the CONNECT, and the clean stop). */
export function ndeathPayload(bdSeq: number, now: number): SparkplugPayload {
  return { timestamp: now, metrics: [{ name: BDSEQ_METRIC, timestamp: now, datatype: DataType.Int64, long_value: bdSeq }] };
}

/** Encodes and decodes Sparkplug B payloads with the vendored sparkplug_b.proto. */
export interface SparkplugCodec {
  encode(payload: SparkplugPayload): Uint8Array;
  /** The payload as protobufjs reads it (snake_case fields, 64-bit integers as decimal strings); throws on bytes that are not one. */
  decode(bytes: Uint8Array): unknown;
}

export const SPARKPLUG_PROTO = fileURLToPath(new URL('./sparkplug_b.proto', import.meta.url));

/** Loads protobufjs (on use: only the sparkplug format needs it) and the vendored Eclipse Tahu schema. */
export async function loadSparkplugCodec(): Promise<SparkplugCodec> {
  let Payload: Type;
  try {
    const { default: protobuf } = await import('protobufjs');
    const root = new protobuf.Root();
    root.loadSync(SPARKPLUG_PROTO, { keepCase: true });
    Payload = root.lookupType('org.eclipse.tahu.protobuf.Payload');
  } catch (err) {
    throw new ErrSparkplugSchema({ file: SPARKPLUG_PROTO, reason: err instanceof Error ? err.message : String(err) }, { cause: err });
  }
  return {
    encode: (payload) => Payload.encode(payload).finish(),
    decode: (bytes) => Payload.toObject(Payload.decode(bytes), { longs: String, arrays: true }),
  };
}

/**
 * Whether an NCMD asks for a rebirth (`Node Control/Rebirth` true). Throws
 * EDGE_ERR_EXPORT_SPARKPLUG_NCMD when the bytes are not a Sparkplug B
 * payload, or the Rebirth metric carries no Boolean.
 */
export function rebirthRequested(codec: SparkplugCodec, site: string, bytes: Uint8Array): boolean {
  let payload: unknown;
  try {
    payload = codec.decode(bytes);
  } catch (err) {
    throw new ErrSparkplugCommand({ site, reason: `not a Sparkplug B payload (${err instanceof Error ? err.message : String(err)})` }, { cause: err });
  }
  const metrics = (payload as { metrics?: unknown }).metrics;
  if (!Array.isArray(metrics)) return false;
  for (const m of metrics as { name?: unknown; boolean_value?: unknown }[]) {
    if (m.name !== REBIRTH_METRIC) continue;
    if (typeof m.boolean_value !== 'boolean') throw new ErrSparkplugCommand({ site, reason: `'${REBIRTH_METRIC}' carries no Boolean value` });
    return m.boolean_value;
  }
  return false;
}

// ------------------------------------------------------------------ edge node sessions

export interface SparkplugSinkOptions {
  store: TelemetryStore;
  /** The exporter's name: the bdSeq counts are kept under `<name>:bdseq`. */
  name: string;
  /** group_id, checked (exportGroup). */
  group: string;
  url: string;
  username?: string;
  /** A secret: never logged. */
  password?: string;
  ca?: string;
  /** The exporter's client id; each site's session adds `-<site>`. */
  clientId: string;
  logger: Logger;
}

/** Where the export sends Sparkplug: one edge node per site. */
export interface SparkplugSink {
  /** Publishes one step's readings (all of one stream, so of one site) and resolves once the broker has acknowledged every message. */
  publish(stream: StreamRef, readings: readonly StoredReading[]): Promise<void>;
  /** NDEATH then DISCONNECT on each session; `force` cuts the connections at once instead (the broker then sends the wills). */
  close(force: boolean): Promise<void>;
}

interface DeviceState {
  /** Every metric seen so far, with its latest value. */
  metrics: Map<string, SparkplugMetric>;
  /** The datatypes of the metrics in this device's last DBIRTH of the current birth; undefined: not born since the last NBIRTH. */
  born: Map<string, number> | undefined;
}

interface EdgeNode {
  site: string;
  clientId: string;
  client: MqttClient | undefined;
  connecting: Promise<void> | undefined;
  /** NBIRTH published on this client, and nothing has broken it since. */
  online: boolean;
  bdSeq: number;
  /** The CONNECT count of an attempt that got no CONNACK: the broker never held its will, so the next attempt uses it again. */
  unconfirmed: number | undefined;
  /** The seq of the node's next message. */
  seq: number;
  devices: Map<string, DeviceState>;
}

const PUBLISH = { qos: 1, retain: false } as const;
const STOP_BUDGET_MS = 5000;

export async function startSparkplugSink(o: SparkplugSinkOptions): Promise<SparkplugSink> {
  const codec = await loadSparkplugCodec();
  const { connect } = await import('mqtt');
  const log = o.logger.child({ sparkplugGroup: o.group });
  // bdSeq must go on across restarts: how many CONNECTs each site's node has made is kept as an export
  // cursor row of its own exporter name. The store keeps cursor rows only for streams it holds (a StreamRef
  // naming no stream, such as { producer: 'sparkplug', id: 'bdseq' }, would be dropped), so the row hangs
  // on one of the site's real streams; the count is the highest over the site's rows, and rows only grow.
  const bdName = `${o.name}:bdseq`;
  const connects = new Map<string, number>();
  for (const c of await o.store.exportCursors(bdName)) connects.set(c.site, Math.max(connects.get(c.site) ?? 0, c.seq));

  const nodes = new Map<string, EdgeNode>();
  let closing = false;

  const nextSeq = (node: EdgeNode): number => {
    const s = node.seq;
    node.seq = (s + 1) % 256;
    return s;
  };
  const send = (node: EdgeNode, client: MqttClient, type: SparkplugMessageType, device: string | undefined, payload: SparkplugPayload): Promise<unknown> => {
    const bytes = codec.encode(payload);
    return client.publishAsync(sparkplugTopic(o.group, type, node.site, device), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), PUBLISH);
  };
  const dbirth = (node: EdgeNode, client: MqttClient, device: string, dev: DeviceState, now: number): Promise<unknown> => {
    dev.born = new Map([...dev.metrics].map(([name, m]) => [name, m.datatype]));
    return send(node, client, 'DBIRTH', device, { timestamp: now, seq: nextSeq(node), metrics: [...dev.metrics.values()] });
  };

  /** NBIRTH (seq 0) and every known device's DBIRTH, issued in one go so nothing of the node comes between. */
  const birth = (node: EdgeNode, client: MqttClient): Promise<unknown>[] => {
    const now = Date.now();
    node.seq = 0;
    const sent = [send(node, client, 'NBIRTH', undefined, nbirthPayload(node.bdSeq, now))];
    nextSeq(node);
    for (const [device, dev] of node.devices) sent.push(dbirth(node, client, device, dev, now));
    node.online = true;
    return sent;
  };

  /** Drops a node's client (idempotent); a force end fails its unacknowledged publishes, so a step waiting on them ends. */
  const drop = (node: EdgeNode, client: MqttClient): void => {
    if (node.client === client) {
      node.client = undefined;
      node.online = false;
    }
    if (!client.disconnecting) client.end(true);
  };

  const onCommand = (node: EdgeNode, client: MqttClient, bytes: Buffer): void => {
    if (node.client !== client || !node.online || closing) return;
    let rebirth: boolean;
    try {
      rebirth = rebirthRequested(codec, node.site, bytes);
    } catch (err) {
      log.warn({ site: node.site, error: toErrorInfo(err) }, 'sparkplug: an NCMD was ignored');
      return;
    }
    if (!rebirth) return;
    log.info({ site: node.site, bdSeq: node.bdSeq }, 'sparkplug: rebirth requested');
    Promise.all(birth(node, client)).catch((err: unknown) => {
      if (!closing) log.warn({ site: node.site, error: toErrorInfo(err) }, 'sparkplug: the rebirth was not acknowledged');
    });
  };

  const connectNode = async (node: EdgeNode, stream: StreamRef): Promise<void> => {
    if (closing) throw new ErrSparkplugSession({ site: node.site, reason: 'the export is stopping' });
    // Kept before the CONNECT: a crash once connected must not bring this bdSeq back with the next start.
    let count = node.unconfirmed;
    if (count === undefined) {
      count = (connects.get(node.site) ?? 0) + 1;
      await o.store.setExportCursor(bdName, stream, count);
      connects.set(node.site, count);
      node.unconfirmed = count;
    }
    node.bdSeq = (count - 1) % 256;
    const options: IClientOptions = {
      clientId: node.clientId,
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(o.password === undefined ? {} : { password: o.password }),
      ...(o.ca === undefined ? {} : { ca: o.ca }),
      clean: true,
      // One client per CONNECT: a new session needs a new will (the next bdSeq), so this code reconnects, not mqtt.js.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      protocolVersion: 4,
      will: { topic: sparkplugTopic(o.group, 'NDEATH', node.site), payload: Buffer.from(codec.encode(ndeathPayload(node.bdSeq, Date.now()))), qos: 1, retain: false },
    };
    const client = connect(o.url, options);
    node.client = client;
    node.online = false;
    let lastError: string | undefined;
    // Before CONNACK an error fails the attempt (below, then the step); after it, it is told with the session's loss.
    client.on('error', (err) => (lastError = err.message));
    client.on('message', (_topic, payload) => onCommand(node, client, payload));
    client.on('close', () => {
      if (node.client === client && node.online && !closing) log.warn({ site: node.site, bdSeq: node.bdSeq, error: lastError }, 'sparkplug: edge node session lost');
      drop(node, client);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => {
          node.unconfirmed = undefined;
          resolve();
        });
        client.once('error', reject);
        client.once('close', () => reject(new Error('the connection closed')));
      });
      const [granted] = await client.subscribeAsync(sparkplugTopic(o.group, 'NCMD', node.site), { qos: 1 });
      if (granted?.qos === 128) log.warn({ site: node.site }, 'sparkplug: the broker refused the NCMD subscription; rebirth requests will not be heard');
    } catch (err) {
      drop(node, client);
      throw new ErrSparkplugSession({ site: node.site, reason: err instanceof Error ? err.message : String(err) }, { cause: err });
    }
    if (node.client !== client) throw new ErrSparkplugSession({ site: node.site, reason: 'the connection closed' });
    log.info({ site: node.site, clientId: node.clientId, bdSeq: node.bdSeq }, 'sparkplug: edge node connected');
    await Promise.all(birth(node, client));
  };

  const nodeOf = (site: string): EdgeNode => {
    let node = nodes.get(site);
    if (!node) {
      node = { site, clientId: sparkplugClientId(o.clientId, site), client: undefined, connecting: undefined, online: false, bdSeq: 0, unconfirmed: undefined, seq: 0, devices: new Map() };
      nodes.set(site, node);
    }
    return node;
  };

  /** One step's DBIRTHs and DDATAs, issued in one go (seqs in publish order). */
  const data = (node: EdgeNode, client: MqttClient, readings: readonly StoredReading[]): Promise<unknown>[] => {
    const now = Date.now();
    const byDevice = new Map<string, StoredReading[]>();
    for (const r of readings) {
      const id = topicSafe(r.device);
      let list = byDevice.get(id);
      if (!list) byDevice.set(id, (list = []));
      list.push(r);
    }
    const sent: Promise<unknown>[] = [];
    for (const [device, list] of byDevice) {
      let dev = node.devices.get(device);
      if (!dev) node.devices.set(device, (dev = { metrics: new Map(), born: undefined }));
      let i = 0;
      while (i < list.length) {
        // The longest run in which no resource changes its datatype: one DDATA, after a DBIRTH when the run brings what the last one did not have.
        const run: SparkplugMetric[] = [];
        const types = new Map<string, number>();
        for (; i < list.length; i++) {
          const m = sparkplugMetric(list[i]!);
          const seen = types.get(m.name);
          if (seen !== undefined && seen !== m.datatype) break;
          types.set(m.name, m.datatype);
          run.push(m);
        }
        const born = dev.born;
        if (born === undefined || [...types].some(([name, t]) => born.get(name) !== t)) {
          for (const m of run) if (dev.metrics.get(m.name)?.datatype !== m.datatype) dev.metrics.set(m.name, m);
          sent.push(dbirth(node, client, device, dev, now));
        }
        for (const m of run) dev.metrics.set(m.name, m);
        sent.push(send(node, client, 'DDATA', device, { timestamp: now, seq: nextSeq(node), metrics: run }));
      }
    }
    return sent;
  };

  return {
    async publish(stream, readings) {
      const node = nodeOf(stream.site);
      if (!node.online || !node.client?.connected) {
        node.connecting ??= connectNode(node, stream).finally(() => (node.connecting = undefined));
        await node.connecting;
      }
      const client = node.client;
      if (!client?.connected || !node.online) throw new ErrSparkplugSession({ site: node.site, reason: 'not connected' });
      await Promise.all(data(node, client, readings));
    },

    async close(force) {
      closing = true;
      await Promise.all(
        [...nodes.values()].map(async (node) => {
          const client = node.client;
          if (!client) return;
          if (force || !node.online || !client.connected) {
            drop(node, client);
            return;
          }
          // Sparkplug 3.0: an edge node that disconnects on purpose publishes NDEATH, then DISCONNECT (the broker drops the will).
          let timer: NodeJS.Timeout | undefined;
          const acked = await Promise.race([
            send(node, client, 'NDEATH', undefined, ndeathPayload(node.bdSeq, Date.now())).then(
              () => true,
              () => false,
            ),
            new Promise<boolean>((r) => (timer = setTimeout(() => r(false), STOP_BUDGET_MS))),
          ]);
          clearTimeout(timer);
          node.online = false;
          node.client = undefined;
          if (acked) await client.endAsync(false);
          else client.end(true);
        }),
      );
    },
  };
}
