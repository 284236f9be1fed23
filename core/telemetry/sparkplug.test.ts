/**
 * The export's Sparkplug B format, against a real Mosquitto, every payload
 * decoded by an independent decoder: `protoc --decode` (Debian's
 * protobuf-compiler) over the vendored sparkplug_b.proto, its text output
 * parsed here. NCMDs are encoded by `protoc --encode`. What is checked:
 * NBIRTH first with seq 0 and bdSeq; DBIRTHs with every metric and its
 * datatype; DDATA values, timestamps and datatypes equal to the stored
 * readings; seq by one, 255 -> 0; a new resource re-births its device; a
 * Rebirth NCMD gives NBIRTH and DBIRTHs again; a malformed NCMD is logged and
 * ignored; a stop publishes NDEATH with the session's bdSeq; a restart over
 * the same store file comes back with a larger bdSeq and skips nothing; the
 * will NDEATH arrives when the exporter's process is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, type Mosquitto } from '../../test/support/mosquitto.ts';
import { isEdgeError, VALUE_TYPES, type Reading, type StoredReading, type ValueType } from '../sdk/index.ts';
import { BASE_ORIGIN, captureLogs, streamKey, tempDir, waitFor } from './fixtures/helpers.ts';
import { openTelemetryStore, startTelemetryExport, type TelemetryExport, type TelemetryStore } from './index.ts';
import { encodeSparkplugArray, SPARKPLUG_DATATYPES, sparkplugClientId } from './sparkplug.ts';

const PROTOC = '/usr/bin/protoc';
const PROTO_DIR = import.meta.dirname;
const PAYLOAD = 'org.eclipse.tahu.protobuf.Payload';

beforeAll(() => {
  if (!existsSync(PROTOC)) {
    throw new Error(`${PROTOC} is missing: install Debian's protobuf-compiler (apt-get install protobuf-compiler); these tests decode every Sparkplug payload with it`);
  }
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

// ------------------------------------------------------------------ protoc and its text format

function protoc(args: string[], input: Uint8Array | string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn(PROTOC, [...args, `--proto_path=${PROTO_DIR}`, 'sparkplug_b.proto'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`protoc ${args.join(' ')} exited ${code}: ${err}`))));
    p.stdin.end(input);
  });
}

/** A message of protoc's text format: each field's values in order; a quoted value as its bytes, a bare one as text. */
interface TextMessage {
  [field: string]: (string | Buffer | TextMessage)[];
}

/** Unescapes a C-style quoted string of protoc's output (`\303\240`, `\"`, `\\`, `\n`, `\x41`) into its bytes. */
function unquote(q: string): Buffer {
  const bytes: number[] = [];
  const body = q.slice(1, -1);
  const simple: Record<string, number> = { n: 10, r: 13, t: 9, '"': 34, "'": 39, '\\': 92, a: 7, b: 8, f: 12, v: 11, '?': 63 };
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const n = body[++i]!;
    if (/[0-7]/.test(n)) {
      let oct = n;
      while (oct.length < 3 && /[0-7]/.test(body[i + 1] ?? '')) oct += body[++i];
      bytes.push(parseInt(oct, 8));
    } else if (n === 'x') {
      let hex = '';
      while (hex.length < 2 && /[0-9a-fA-F]/.test(body[i + 1] ?? '')) hex += body[++i];
      bytes.push(parseInt(hex, 16));
    } else if (simple[n] !== undefined) bytes.push(simple[n]);
    else throw new Error(`unknown escape \\${n} in ${q}`);
  }
  return Buffer.from(bytes);
}

function parseText(text: string): TextMessage {
  const root: TextMessage = {};
  const stack: TextMessage[] = [root];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const top = stack.at(-1)!;
    if (line === '}') {
      stack.pop();
      continue;
    }
    const open = /^(\w+) \{$/.exec(line);
    if (open) {
      const child: TextMessage = {};
      (top[open[1]!] ??= []).push(child);
      stack.push(child);
      continue;
    }
    const field = /^(\w+): (.*)$/.exec(line);
    if (!field) throw new Error(`cannot parse protoc output line: ${line}`);
    const value = field[2]!;
    (top[field[1]!] ??= []).push(value.startsWith('"') ? unquote(value) : value);
  }
  return root;
}

async function decode(bytes: Uint8Array): Promise<TextMessage> {
  return parseText((await protoc([`--decode=${PAYLOAD}`], bytes)).toString('utf8'));
}

const scalar = (m: TextMessage, f: string): string | undefined => {
  const v = m[f]?.[0];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new Error(`field ${f} is not a bare scalar`);
  return v;
};
const quoted = (m: TextMessage, f: string): Buffer | undefined => {
  const v = m[f]?.[0];
  if (v === undefined) return undefined;
  if (!Buffer.isBuffer(v)) throw new Error(`field ${f} is not a quoted value`);
  return v;
};
const children = (m: TextMessage, f: string): TextMessage[] => (m[f] ?? []) as TextMessage[];
const nameOf = (m: TextMessage): string => quoted(m, 'name')?.toString('utf8') ?? '';

// ------------------------------------------------------------------ the consumer

interface Message {
  topic: string;
  payload: Buffer;
  type: string;
  node: string;
  device?: string;
  decoded?: TextMessage;
}

/** An mqtt.js client on `spBv1.0/#`; every message as it came, payload bytes untouched, decoded by protoc one after the other. */
async function consume(broker: Mosquitto, opts: { persistent?: boolean } = {}): Promise<{ messages: Message[]; client: MqttClient }> {
  const clientId = `sparkplug-host-${Math.random().toString(16).slice(2)}`;
  // Persistent: a session the broker keeps (and saves) across its restarts, the host coming back by itself.
  const client = await connectAsync(broker.url, opts.persistent ? { clientId, clean: false, reconnectPeriod: 100 } : { clientId, reconnectPeriod: 0 });
  const messages: Message[] = [];
  let decoding = Promise.resolve();
  client.on('message', (topic, payload) => {
    const [, , type, node, device] = topic.split('/');
    const m: Message = { topic, payload: Buffer.from(payload), type: type!, node: node!, ...(device === undefined ? {} : { device }) };
    messages.push(m);
    // The test's own NCMDs come back too; one that is no payload stays undecoded.
    decoding = decoding.then(() => decode(m.payload).then((d) => void (m.decoded ??= d), () => undefined));
  });
  await client.subscribeAsync('spBv1.0/#', { qos: 1 });
  cleanups.push(() => client.endAsync(true));
  return { messages, client };
}

async function decodeAll(messages: readonly Message[]): Promise<Message[]> {
  for (const m of messages) m.decoded ??= await decode(m.payload);
  return messages as Message[];
}


async function setup(): Promise<{ store: TelemetryStore; broker: Mosquitto; file: string }> {
  const tmp = tempDir();
  const file = tmp.file('telemetry.db');
  const store = openTelemetryStore({ file });
  const broker = await startMosquitto();
  cleanups.push(
    () => tmp.remove(),
    () => store.close(),
    () => broker.close(),
  );
  return { store, broker, file };
}

const exporter = async (o: Parameters<typeof startTelemetryExport>[0]): Promise<TelemetryExport> => {
  const e = await startTelemetryExport(o);
  cleanups.push(() => e.stop());
  return e;
};

const origin = (i: number): number => BASE_ORIGIN + i * 1_000_000_000;
const reading = (seq: number, r: Partial<Reading> & Pick<Reading, 'resource' | 'valueType' | 'value'>): Reading => ({
  site: 'plant-a',
  device: 'pump-1',
  profile: 'pump',
  origin: origin(seq),
  quality: 'good',
  seq,
  ...r,
});

/** What each valueType must be on the wire, written out here rather than taken from the module under test. */
const EXPECTED_DATATYPE: Record<ValueType, number> = {
  Int8: 1,
  Int16: 2,
  Int32: 3,
  Int64: 4,
  Uint8: 5,
  Uint16: 6,
  Uint32: 7,
  Uint64: 8,
  Float32: 9,
  Float64: 10,
  Bool: 11,
  String: 12,
  Object: 12,
  Binary: 17,
  Int8Array: 22,
  Int16Array: 23,
  Int32Array: 24,
  Int64Array: 25,
  Uint8Array: 26,
  Uint16Array: 27,
  Uint32Array: 28,
  Uint64Array: 29,
  Float32Array: 30,
  Float64Array: 31,
  BoolArray: 32,
  StringArray: 33,
};

/** A DDATA or DBIRTH metric's value against the stored reading's, read independently from protoc's output. */
function expectValue(m: TextMessage, r: StoredReading): void {
  const where = `${r.device}/${r.resource}`;
  expect(scalar(m, 'datatype'), where).toBe(String(EXPECTED_DATATYPE[r.valueType]));
  expect(scalar(m, 'timestamp'), where).toBe(String(Math.floor(r.origin / 1_000_000)));
  if (r.quality === 'bad') {
    expect(scalar(m, 'is_null'), where).toBe('true');
    for (const f of ['int_value', 'long_value', 'float_value', 'double_value', 'boolean_value', 'string_value', 'bytes_value']) expect(m[f], `${where} ${f}`).toBeUndefined();
  }
  if (r.quality !== 'good') {
    const [props] = children(m, 'properties');
    expect(props && quoted(props, 'keys')?.toString(), where).toBe('Quality');
    const [pv] = children(props!, 'values');
    expect(scalar(pv!, 'type'), where).toBe('3');
    expect(scalar(pv!, 'int_value'), where).toBe(r.quality === 'bad' ? '0' : '64');
  } else expect(m.properties, where).toBeUndefined();
  if (r.quality === 'bad') return;
  const v = r.value;
  switch (r.valueType) {
    case 'Int64':
      expect(BigInt.asIntN(64, BigInt(scalar(m, 'long_value')!)), where).toBe(BigInt(v as string | number));
      break;
    case 'Uint64':
      expect(BigInt(scalar(m, 'long_value')!), where).toBe(BigInt(v as string | number));
      break;
    case 'Int8':
    case 'Int16':
    case 'Int32':
      expect(Number(BigInt.asIntN(32, BigInt(scalar(m, 'int_value')!))), where).toBe(v);
      break;
    case 'Uint8':
    case 'Uint16':
    case 'Uint32':
      expect(Number(scalar(m, 'int_value')), where).toBe(v);
      break;
    case 'Float32':
      expect(Number(scalar(m, 'float_value')), where).toBe(v);
      break;
    case 'Float64':
      expect(Number(scalar(m, 'double_value')), where).toBe(v);
      break;
    case 'Bool':
      expect(scalar(m, 'boolean_value'), where).toBe(v === true ? 'true' : 'false');
      break;
    case 'String':
      expect(quoted(m, 'string_value')?.toString('utf8'), where).toBe(v);
      break;
    case 'Object':
      expect(JSON.parse(quoted(m, 'string_value')!.toString('utf8')), where).toEqual(v);
      expect(quoted(children(m, 'metadata')[0]!, 'content_type')?.toString(), where).toBe('application/json');
      break;
    case 'Binary':
      expect(quoted(m, 'bytes_value'), where).toEqual(Buffer.from(v as string, 'base64'));
      break;
    case 'Int32Array': {
      const b = quoted(m, 'bytes_value')!;
      expect(Array.from({ length: b.length / 4 }, (_, i) => b.readInt32LE(i * 4)), where).toEqual(v);
      break;
    }
    case 'BoolArray': {
      const b = quoted(m, 'bytes_value')!;
      const n = b.readUInt32LE(0);
      expect(Array.from({ length: n }, (_, i) => (b[4 + (i >> 3)]! & (0x80 >> (i & 7))) !== 0), where).toEqual(v);
      break;
    }
    case 'StringArray':
      expect(quoted(m, 'bytes_value')!.toString('utf8').split('\0').slice(0, -1), where).toEqual(v);
      break;
    default:
      throw new Error(`no check for ${r.valueType}`);
  }
}

/** The node's messages after an NBIRTH: seq one more than the one before, 255 then 0. */
function expectSeqRun(messages: readonly Message[]): void {
  for (let i = 1; i < messages.length; i++) {
    const prev = Number(scalar(messages[i - 1]!.decoded!, 'seq'));
    const seq = Number(scalar(messages[i]!.decoded!, 'seq'));
    expect(seq, `seq of message ${i} (${messages[i]!.topic})`).toBe((prev + 1) % 256);
  }
}

const bdSeqOf = (m: Message): string | undefined => {
  const metric = children(m.decoded!, 'metrics').find((x) => nameOf(x) === 'bdSeq');
  return metric && scalar(metric, 'long_value');
};

describe('the Sparkplug B encoding', () => {
  it('has a Sparkplug DataType for every valueType', () => {
    for (const vt of VALUE_TYPES) expect(SPARKPLUG_DATATYPES[vt], vt).toBe(EXPECTED_DATATYPE[vt]);
  });

  it("packs arrays as Sparkplug 3.0's examples do (floats little-endian, as its text and Tahu say)", () => {
    const hex = (vt: ValueType, v: (number | string | boolean)[]): string => Buffer.from(encodeSparkplugArray(vt, v)).toString('hex');
    // The specification's Int8Array example gives 0xEF for -23; two's complement of -23 is 0xE9 (0xEF is -17).
    expect(hex('Int8Array', [-23, 123])).toBe('e97b');
    expect(hex('Int16Array', [-30000, 30000])).toBe('d08a3075');
    expect(hex('Int32Array', [-1, 315338746])).toBe('fffffffffaafcb12');
    expect(hex('Int32Array', [123456789, 987654321])).toBe('15cd5b07b168de3a');
    expect(hex('Int64Array', ['-4270929666821191986', '-3601064768563266876'])).toBe('ce0672ac189cbac4c4ba9c18ac7206ce');
    expect(hex('Uint8Array', [23, 250])).toBe('17fa');
    expect(hex('Uint16Array', [30, 52360])).toBe('1e0088cc');
    expect(hex('Uint32Array', [52, 3293969225])).toBe('3400000049fb55c4');
    expect(hex('Uint64Array', [52, '16444743074749521625'])).toBe('3400000000000000d99e02d1b27637e4');
    // The specification's FloatArray/DoubleArray examples print the bytes big-endian, against its own text; Tahu writes little-endian.
    expect(hex('Float32Array', [1.23, 89.341])).toBe(Buffer.from([0xa4, 0x70, 0x9d, 0x3f, 0x98, 0xae, 0xb2, 0x42]).toString('hex'));
    expect(hex('Float64Array', [12.354213])).toBe(Buffer.from('4028b55b6805a2d7', 'hex').reverse().toString('hex'));
    expect(hex('BoolArray', [false, false, true, true, false, true, false, false, true, true, false, true])).toBe('0c00000034d0');
    expect(hex('StringArray', ['ABC', 'hello'])).toBe('41424300' + '68656c6c6f00');
  });

  it('gives each site its own client id, at most 64 characters', () => {
    expect(sparkplugClientId('edgeadm-export-mqtt', 'plant-a')).toBe('edgeadm-export-mqtt-plant-a');
    const long = 'x'.repeat(63);
    const a = sparkplugClientId('edgeadm-export-mqtt', `${long.slice(0, 62)}a`);
    const b = sparkplugClientId('edgeadm-export-mqtt', `${long.slice(0, 62)}b`);
    expect(a.length).toBeLessThanOrEqual(64);
    expect(b.length).toBeLessThanOrEqual(64);
    expect(a).not.toBe(b);
  });
});

describe('the telemetry export as Sparkplug B', () => {
  it('births the node and its devices, then sends every stored reading as DDATA with its value, datatype and timestamp', { timeout: 60_000 }, async () => {
    const { store, broker } = await setup();
    const host = await consume(broker);
    const rs: Reading[] = [
      reading(1, { resource: 'count', valueType: 'Int64', value: '9007199254740993' }),
      reading(2, { resource: 'debt', valueType: 'Int64', value: '-9007199254740993' }),
      reading(3, { resource: 'total', valueType: 'Uint64', value: '18446744073709551615' }),
      reading(4, { resource: 'temp', valueType: 'Float32', value: 21.375 }),
      reading(5, { resource: 'flow', valueType: 'Float64', value: 0.1 }),
      reading(6, { resource: 'running', valueType: 'Bool', value: true }),
      reading(7, { resource: 'label', valueType: 'String', value: 'pompe à eau' }),
      reading(8, { resource: 'offset', valueType: 'Int16', value: -300 }),
      reading(9, { resource: 'samples', valueType: 'Int32Array', value: [123456789, 987654321, -1] }),
      reading(10, { resource: 'flags', valueType: 'BoolArray', value: [false, false, true, true, false, true, false, false, true, true, false, true] }),
      reading(11, { resource: 'names', valueType: 'StringArray', value: ['ABC', 'hello'] }),
      reading(12, { resource: 'blob', valueType: 'Binary', value: Buffer.from([0, 1, 2, 255]).toString('base64') }),
      reading(13, { resource: 'config', valueType: 'Object', value: { mode: 'auto', limits: [1, 2] } }),
      reading(14, { resource: 'pressure', valueType: 'Float64', value: null, quality: 'bad', qualityDetail: 'MODBUS_EXCEPTION_2' }),
      reading(15, { resource: 'level', valueType: 'Float64', value: 3.5, quality: 'uncertain' }),
      reading(16, { device: 'pump-2', resource: 'rpm', valueType: 'Uint32', value: 4294967295 }),
    ];
    await store.ingest(streamKey('plant-a', rs), rs);
    await exporter({ store, url: broker.url, format: 'sparkplug', group: 'fleet' });
    // NBIRTH, DBIRTH pump-1, DDATA pump-1, DBIRTH pump-2, DDATA pump-2.
    await waitFor('the births and data', () => host.messages.length >= 5, 20_000);
    const stored = await store.streamReadings({ site: 'plant-a', producer: 'token:t1', id: 'stream-one' }, 0, 100);
    expect(stored).toHaveLength(16);
    let ms = await decodeAll(host.messages);
    expect(ms.map((m) => m.topic)).toEqual([
      'spBv1.0/fleet/NBIRTH/plant-a',
      'spBv1.0/fleet/DBIRTH/plant-a/pump-1',
      'spBv1.0/fleet/DDATA/plant-a/pump-1',
      'spBv1.0/fleet/DBIRTH/plant-a/pump-2',
      'spBv1.0/fleet/DDATA/plant-a/pump-2',
    ]);

    const nbirth = ms[0]!.decoded!;
    expect(scalar(nbirth, 'seq')).toBe('0');
    expect(Number(scalar(nbirth, 'timestamp'))).toBeGreaterThan(Date.now() - 60_000);
    const [bdSeq, rebirth] = children(nbirth, 'metrics');
    expect([nameOf(bdSeq!), scalar(bdSeq!, 'datatype'), scalar(bdSeq!, 'long_value')]).toEqual(['bdSeq', '4', '0']);
    expect([nameOf(rebirth!), scalar(rebirth!, 'datatype'), scalar(rebirth!, 'boolean_value')]).toEqual(['Node Control/Rebirth', '11', 'false']);
    expectSeqRun(ms);

    // The DBIRTH lists every metric of the device with its datatype and value; the DDATA carries each reading.
    for (const [birth, data, device] of [
      [ms[1]!, ms[2]!, 'pump-1'],
      [ms[3]!, ms[4]!, 'pump-2'],
    ] as const) {
      const mine = stored.filter((r) => r.device === device);
      expect(children(birth.decoded!, 'metrics').map(nameOf)).toEqual(mine.map((r) => r.resource));
      for (const [i, m] of children(birth.decoded!, 'metrics').entries()) expectValue(m, mine[i]!);
      expect(children(data.decoded!, 'metrics').map(nameOf)).toEqual(mine.map((r) => r.resource));
      for (const [i, m] of children(data.decoded!, 'metrics').entries()) expectValue(m, mine[i]!);
    }

    // A resource the device's DBIRTH did not have: a new DBIRTH with it, then the DDATA.
    const more = [reading(17, { resource: 'vibration', valueType: 'Float32', value: 0.5 }), reading(18, { resource: 'temp', valueType: 'Float32', value: 22.5 })];
    await store.ingest(streamKey('plant-a', more), more);
    await waitFor('the re-birth', () => host.messages.length >= 7, 20_000);
    ms = await decodeAll(host.messages);
    expect(ms.slice(5).map((m) => m.topic)).toEqual(['spBv1.0/fleet/DBIRTH/plant-a/pump-1', 'spBv1.0/fleet/DDATA/plant-a/pump-1']);
    const rebirthMetrics = children(ms[5]!.decoded!, 'metrics');
    expect(rebirthMetrics.map(nameOf)).toEqual([...stored.filter((r) => r.device === 'pump-1').map((r) => r.resource), 'vibration']);
    expect(scalar(rebirthMetrics.find((m) => nameOf(m) === 'vibration')!, 'datatype')).toBe('9');
    const [vib, temp] = children(ms[6]!.decoded!, 'metrics');
    const stored2 = await store.streamReadings({ site: 'plant-a', producer: 'token:t1', id: 'stream-one' }, 16, 10);
    expectValue(vib!, stored2[0]!);
    expectValue(temp!, stored2[1]!);
    expectSeqRun(ms);
  });

  it('counts seq 0..255 and wraps to 0 over all of a node’s messages', { timeout: 120_000 }, async () => {
    const { store, broker } = await setup();
    const host = await consume(broker);
    const rs = Array.from({ length: 300 }, (_, k) => reading(k + 1, { resource: 'count', valueType: 'Int32', value: k + 1 }));
    await store.ingest(streamKey('plant-a', rs), rs);
    await exporter({ store, url: broker.url, format: 'sparkplug', batch: 1 });
    // NBIRTH, DBIRTH, then one DDATA per reading.
    await waitFor('302 messages', () => host.messages.length >= 302, 60_000);
    const ms = await decodeAll(host.messages);
    expect(ms[0]!.topic).toBe('spBv1.0/edgeadm/NBIRTH/plant-a');
    expect(ms.map((m) => Number(scalar(m.decoded!, 'seq')))).toEqual(Array.from({ length: 302 }, (_, i) => i % 256));
    expect(ms.slice(2).map((m) => Number(BigInt.asIntN(32, BigInt(scalar(children(m.decoded!, 'metrics')[0]!, 'int_value')!))))).toEqual(rs.map((r) => r.value));
    expectSeqRun(ms);
  });

  it('births again on a Rebirth NCMD, and logs and ignores one it cannot read', { timeout: 60_000 }, async () => {
    const { store, broker } = await setup();
    const host = await consume(broker);
    const logs = captureLogs();
    const first = [reading(1, { resource: 'count', valueType: 'Int32', value: 1 }), reading(2, { device: 'pump-2', resource: 'count', valueType: 'Int32', value: 2 })];
    await store.ingest(streamKey('plant-a', first), first);
    await exporter({ store, url: broker.url, format: 'sparkplug', logger: logs.logger });
    await waitFor('the first data', () => host.messages.length >= 5, 20_000);

    const now = Date.now();
    const ncmd = await protoc([`--encode=${PAYLOAD}`], `timestamp: ${now} metrics { name: "Node Control/Rebirth" timestamp: ${now} datatype: 11 boolean_value: true }`);
    await host.client.publishAsync('spBv1.0/edgeadm/NCMD/plant-a', ncmd, { qos: 0 });
    await waitFor('NBIRTH and two DBIRTHs again', () => host.messages.filter((m) => m.type !== 'NCMD').length >= 8, 20_000);
    let ms = await decodeAll(host.messages.filter((m) => m.type !== 'NCMD'));
    expect(ms.slice(5, 8).map((m) => m.topic)).toEqual(['spBv1.0/edgeadm/NBIRTH/plant-a', 'spBv1.0/edgeadm/DBIRTH/plant-a/pump-1', 'spBv1.0/edgeadm/DBIRTH/plant-a/pump-2']);
    expect(ms.slice(5, 8).map((m) => scalar(m.decoded!, 'seq'))).toEqual(['0', '1', '2']);
    expect(bdSeqOf(ms[5]!)).toBe(bdSeqOf(ms[0]!));
    expect(children(ms[6]!.decoded!, 'metrics').map(nameOf)).toEqual(['count']);

    // Not a Sparkplug payload, and a Rebirth that is no Boolean: each logged, coded, and the node goes on.
    await host.client.publishAsync('spBv1.0/edgeadm/NCMD/plant-a', Buffer.from('not protobuf'), { qos: 0 });
    const badRebirth = await protoc([`--encode=${PAYLOAD}`], `metrics { name: "Node Control/Rebirth" datatype: 11 int_value: 1 }`);
    await host.client.publishAsync('spBv1.0/edgeadm/NCMD/plant-a', badRebirth, { qos: 0 });
    await waitFor('two warnings', () => logs.lines.filter((l) => (l.error as { code?: string } | undefined)?.code === 'EDGE_ERR_EXPORT_SPARKPLUG_NCMD').length >= 2, 20_000);
    const warned = logs.lines.filter((l) => (l.error as { code?: string } | undefined)?.code === 'EDGE_ERR_EXPORT_SPARKPLUG_NCMD');
    expect(warned.every((l) => l.level === 40)).toBe(true);
    expect(JSON.stringify(warned)).toMatch(/not a Sparkplug B payload/);
    expect(JSON.stringify(warned)).toMatch(/'Node Control\/Rebirth' carries no Boolean value/);

    const later = [reading(3, { resource: 'count', valueType: 'Int32', value: 3 })];
    await store.ingest(streamKey('plant-a', later), later);
    await waitFor('the next DDATA', () => host.messages.filter((m) => m.type !== 'NCMD').length >= 9, 20_000);
    ms = await decodeAll(host.messages.filter((m) => m.type !== 'NCMD'));
    expect(ms[8]!.topic).toBe('spBv1.0/edgeadm/DDATA/plant-a/pump-1');
    expect(scalar(ms[8]!.decoded!, 'seq')).toBe('3');
  });

  it('publishes NDEATH on stop, and after a restart over the same store a larger bdSeq and every reading', { timeout: 90_000 }, async () => {
    const { store: first, broker, file } = await setup();
    const host = await consume(broker);
    const lineA = (from: number, n: number): Reading[] => Array.from({ length: n }, (_, k) => reading(from + k, { device: 'line-a', resource: 'count', valueType: 'Int64', value: from + k }));
    const lineB = (from: number, n: number): Reading[] => Array.from({ length: n }, (_, k) => reading(from + k, { device: 'line-b', resource: 'count', valueType: 'Int64', value: from + k }));
    await first.ingest(streamKey('plant-a', lineA(1, 50)), lineA(1, 50));
    await first.ingest(streamKey('plant-a', lineB(1, 30), { producer: 'node:gw-b' }), lineB(1, 30));

    const valuesOf = (device: string): number[] =>
      host.messages
        .filter((m) => m.type === 'DDATA' && m.device === device)
        .flatMap((m) => children(m.decoded!, 'metrics').map((x) => Number(scalar(x, 'long_value'))));
    const decodedUntil = (what: string, check: () => boolean): Promise<void> => waitFor(what, () => host.messages.every((m) => m.decoded !== undefined) && check(), 20_000).then(() => undefined);

    let exp = await startTelemetryExport({ store: first, url: broker.url, format: 'sparkplug', batch: 20 });
    await decodedUntil('every reading of the first run', () => valuesOf('line-a').length >= 50 && valuesOf('line-b').length >= 30);
    await exp.stop();
    await waitFor('NDEATH', () => host.messages.some((m) => m.type === 'NDEATH'), 20_000);
    let ms = await decodeAll(host.messages);
    const births = ms.filter((m) => m.type === 'NBIRTH');
    const death = ms.find((m) => m.type === 'NDEATH')!;
    expect(death.topic).toBe('spBv1.0/edgeadm/NDEATH/plant-a');
    expect(births).toHaveLength(1);
    expect(bdSeqOf(death)).toBe(bdSeqOf(births[0]!));
    expect(scalar(death.decoded!, 'seq')).toBeUndefined();
    expect(children(death.decoded!, 'metrics').map(nameOf)).toEqual(['bdSeq']);
    expectSeqRun(ms.slice(ms.indexOf(births[0]!), ms.indexOf(death)));

    // Stored while no export runs; the store closed and opened again from its file; then a new exporter.
    await first.ingest(streamKey('plant-a', lineA(51, 50), { lastSeq: 100 }), lineA(51, 50));
    await first.close();
    const store = openTelemetryStore({ file });
    cleanups.push(() => store.close());
    exp = await exporter({ store, url: broker.url, format: 'sparkplug', batch: 20 });
    await decodedUntil('the rest', () => valuesOf('line-a').includes(100));
    ms = await decodeAll(host.messages);
    const nbirths = ms.filter((m) => m.type === 'NBIRTH');
    expect(nbirths).toHaveLength(2);
    expect(BigInt(bdSeqOf(nbirths[1]!)!)).toBeGreaterThan(BigInt(bdSeqOf(nbirths[0]!)!));
    // The new session births its devices again before their data.
    const afterRestart = ms.slice(ms.indexOf(nbirths[1]!));
    expect(afterRestart[1]!.type).toBe('DBIRTH');
    expectSeqRun(afterRestart);
    // Every seq at least once, and per stream in seq order (a value seen again is a step sent again).
    for (const [device, n] of [
      ['line-a', 100],
      ['line-b', 30],
    ] as const) {
      const firstSeen = [...new Set(valuesOf(device))];
      expect(firstSeen, device).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    }
  });

  it('opens a lost session again once the broker is back: the next bdSeq, births, then the readings stored meanwhile', { timeout: 90_000 }, async () => {
    const tmp = tempDir();
    const store = openTelemetryStore({ file: tmp.file('telemetry.db') });
    const broker = await startMosquitto({ persistence: true });
    cleanups.push(
      () => tmp.remove(),
      () => store.close(),
      () => broker.close(),
    );
    const host = await consume(broker, { persistent: true });
    const batch = (from: number, n: number): Reading[] => Array.from({ length: n }, (_, k) => reading(from + k, { resource: 'count', valueType: 'Int32', value: from + k }));
    await store.ingest(streamKey('plant-a', batch(1, 5)), batch(1, 5));
    const exp = await exporter({ store, url: broker.url, format: 'sparkplug', idleMs: 100 });
    await waitFor('the first 5', () => exp.exported === 5, 20_000);
    await broker.stop();
    await store.ingest(streamKey('plant-a', batch(6, 5), { lastSeq: 10 }), batch(6, 5));
    // Several steps fail meanwhile, their connections refused.
    await new Promise((r) => setTimeout(r, 800));
    expect(exp.exported).toBe(5);
    await broker.restart();
    await waitFor('the rest', () => exp.exported === 10, 30_000);
    await waitFor('every message decoded', () => host.messages.filter((m) => m.type === 'DDATA').length >= 2 && host.messages.every((m) => m.decoded !== undefined), 30_000);
    const ms = host.messages;
    const nbirths = ms.filter((m) => m.type === 'NBIRTH');
    expect(nbirths.map(bdSeqOf)).toEqual(['0', '1']);
    const second = ms.slice(ms.indexOf(nbirths[1]!));
    expect(second.map((m) => m.type)).toEqual(['NBIRTH', 'DBIRTH', 'DDATA']);
    expectSeqRun(second);
    expect(children(second[2]!.decoded!, 'metrics').map((m) => Number(scalar(m, 'int_value')))).toEqual([6, 7, 8, 9, 10]);
  });

  it("has the broker publish its will, NDEATH with the session's bdSeq, when the exporter's process is killed", { timeout: 60_000 }, async () => {
    const { store, broker, file } = await setup();
    const host = await consume(broker);
    const rs = [reading(1, { resource: 'count', valueType: 'Int32', value: 1 })];
    await store.ingest(streamKey('plant-a', rs), rs);
    const index = pathToFileURL(path.join(PROTO_DIR, 'index.ts')).href;
    const code = `
      const { openTelemetryStore, startTelemetryExport } = await import(${JSON.stringify(index)});
      const store = openTelemetryStore({ file: process.env.SP_DB });
      await startTelemetryExport({ store, url: process.env.SP_URL, format: 'sparkplug', clientId: 'killed-hub' });
      process.stdout.write('started\\n');
      setInterval(() => {}, 1000);
    `;
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: path.resolve(PROTO_DIR, '../..'),
      env: { ...process.env, SP_DB: file, SP_URL: broker.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let errOut = '';
    child.stderr!.on('data', (d: Buffer) => (errOut += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, signal) => resolve(signal)));
    cleanups.push(() => void child.kill('SIGKILL'));
    await waitFor(() => `the child's DDATA (its stderr: ${errOut})`, () => host.messages.some((m) => m.type === 'DDATA'), 30_000);
    const [nbirth] = await decodeAll(host.messages.filter((m) => m.type === 'NBIRTH'));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    await waitFor('the will', () => host.messages.some((m) => m.type === 'NDEATH'), 15_000);
    const [death] = await decodeAll(host.messages.filter((m) => m.type === 'NDEATH'));
    expect(death!.topic).toBe('spBv1.0/edgeadm/NDEATH/plant-a');
    expect(bdSeqOf(death!)).toBe(bdSeqOf(nbirth!));
    expect(scalar(death!.decoded!, 'seq')).toBeUndefined();
    expect(broker.log()).toMatch(/killed-hub-plant-a/);
  });

  it('names the option it cannot work with', async () => {
    const { store, broker } = await setup();
    const code = async (p: Promise<TelemetryExport>): Promise<string> =>
      p.then(
        async (e) => {
          await e.stop();
          return 'started';
        },
        (err: unknown) => (isEdgeError(err) ? `${err.code}: ${err.message}` : String(err)),
      );
    for (const group of ['', 'a/b', 'a+', '#']) {
      expect(await code(startTelemetryExport({ store, url: broker.url, format: 'sparkplug', group }))).toMatch(/^EDGE_ERR_EXPORT_OPTION: telemetry export option 'group' .*must be a Sparkplug group_id/);
    }
    expect(await code(startTelemetryExport({ store, url: broker.url, format: 'sparkplug', topic: 'a/{site}' }))).toMatch(/^EDGE_ERR_EXPORT_OPTION: .*'topic' does not apply to format sparkplug/);
    expect(await code(startTelemetryExport({ store, url: broker.url, format: 'json', group: 'fleet' }))).toMatch(/^EDGE_ERR_EXPORT_OPTION: .*'group' applies to format sparkplug only/);
    expect(await code(startTelemetryExport({ store, url: 'http://x', format: 'sparkplug' }))).toMatch(/'url' must be mqtt/);
    expect(await code(startTelemetryExport({ store, url: broker.url, format: 'sparkplug', group: 'Fleet 1' }))).toBe('started');
  });
});
