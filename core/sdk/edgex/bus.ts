/**
 * EdgeX v3's message bus layout on MQTT: where device services publish their
 * events, and the envelope around each message (go-mod-messaging
 * `types.MessageEnvelope`).
 *
 * Topic: `<baseTopic>/events/device/<service>/<profile>/<device>/<source>`,
 * baseTopic `edgex` by default (device-sdk-go's SendEvent); app services and
 * eKuiper subscribe to `edgex/events/#` or `edgex/events/device/#`. Names go
 * into their level as they are, as EdgeX 3.1+ writes them by default; with
 * `escapeNames` (EdgeX's `Service.EnableNameFieldEscape`) each is encoded as
 * EdgeX's `common.URLEncode` does (Go's url.PathEscape, then - . _ ~ too). A
 * name MQTT would misread in a topic (empty, or holding `/`, `+`, `#` or NUL)
 * is always encoded so, `+` included; the event itself carries the names as
 * they are.
 *
 * Envelope (v3): JSON `{ apiVersion: "v3", receivedTopic, correlationID,
 * requestID, errorCode, payload, contentType, queryParams? }`; the payload is
 * the event's bytes in base64 (Go's []byte), JSON (`application/json`) or CBOR
 * (`application/cbor`). An envelope whose payload is the JSON itself (EdgeX 4
 * without EDGEX_MSG_BASE64_PAYLOAD) is read too.
 */
import { randomUUID } from 'node:crypto';
import { parseJson } from '../../kernel/index.ts';
import { decodeCbor } from './cbor.ts';
import { ErrEdgeXContentType, ErrEdgeXEnvelope, ErrEdgeXPayload, ErrEdgeXTopic } from '../errors.ts';
import { EDGEX_API_VERSION, type EdgeXAddEventRequest, type EdgeXEvent } from './events.ts';

export const EDGEX_DEFAULT_BASE_TOPIC = 'edgex';
export const EDGEX_CONTENT_TYPE_JSON = 'application/json';
export const EDGEX_CONTENT_TYPE_CBOR = 'application/cbor';
/** Nesting bound of event payloads (JSON and CBOR): events are shallow; objectValues rarely deep. */
const MAX_PAYLOAD_DEPTH = 64;

/** `types.MessageEnvelope` as v3 writes it. */
export interface EdgeXMessageEnvelope {
  apiVersion: string;
  /** Set by the receiving client to the topic it came on; empty as published. */
  receivedTopic: string;
  correlationID: string;
  requestID: string;
  /** 0, or 1 when the payload is an error message. */
  errorCode: number;
  /** The payload bytes, base64. */
  payload: string;
  contentType: string;
  queryParams?: Record<string, string>;
}

/** The four names of an event topic. */
export interface EdgeXEventTopic {
  service: string;
  profile: string;
  device: string;
  source: string;
}

export interface EdgeXTopicOptions {
  /** Default `edgex`. */
  baseTopic?: string;
  /** Encode every name as EdgeX's URLEncode does (EdgeX `EnableNameFieldEscape`). Default false. */
  escapeNames?: boolean;
}

const KEEP = /[A-Za-z0-9$&+:=@]/;

/** EdgeX's `common.URLEncode`: Go's url.PathEscape, with - . _ ~ escaped as well. */
export function edgexUrlEncode(name: string): string {
  let out = '';
  for (const ch of name) {
    if (KEEP.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const UNSAFE_LEVEL = /[/+#\0]/;

function level(name: string, escape: boolean): string {
  if (!escape && name !== '' && !UNSAFE_LEVEL.test(name)) return name;
  return edgexUrlEncode(name).replaceAll('+', '%2B');
}

function baseOf(opts: EdgeXTopicOptions): string {
  return opts.baseTopic ?? EDGEX_DEFAULT_BASE_TOPIC;
}

/** The topic a device service publishes an event on. */
export function edgexEventTopic(parts: EdgeXEventTopic, opts: EdgeXTopicOptions = {}): string {
  const e = opts.escapeNames === true;
  return `${baseOf(opts)}/events/device/${level(parts.service, e)}/${level(parts.profile, e)}/${level(parts.device, e)}/${level(parts.source, e)}`;
}

/** The filter for every device service's events: `<baseTopic>/events/device/#`. */
export function edgexEventTopicFilter(opts: EdgeXTopicOptions = {}): string {
  return `${baseOf(opts)}/events/device/#`;
}

/**
 * The names in an event topic; with `escapeNames`, decoded as Go's
 * url.PathUnescape does. Throws EDGE_ERR_EDGEX_TOPIC for a topic outside
 * `<baseTopic>/events/device/` or without exactly four names after it.
 */
export function parseEdgeXEventTopic(topic: string, opts: EdgeXTopicOptions = {}): EdgeXEventTopic {
  const prefix = `${baseOf(opts)}/events/device/`;
  if (!topic.startsWith(prefix)) throw new ErrEdgeXTopic({ topic, reason: `is not under '${prefix}'` });
  const levels = topic.slice(prefix.length).split('/');
  if (levels.length !== 4 || levels.some((l) => l === '')) {
    throw new ErrEdgeXTopic({ topic, reason: `has ${levels.filter((l) => l !== '').length} names after '${prefix}', not 4 (service/profile/device/source)` });
  }
  const names = levels.map((l) => {
    if (!opts.escapeNames) return l;
    try {
      return decodeURIComponent(l);
    } catch {
      throw new ErrEdgeXTopic({ topic, reason: `level '${l}' is not percent-encoded UTF-8` });
    }
  });
  return { service: names[0]!, profile: names[1]!, device: names[2]!, source: names[3]! };
}

/** True when a name in a parsed topic stands for `name` (as it is, or encoded because MQTT could not carry it). */
export function edgexTopicNameIs(level: string, name: string): boolean {
  if (level === name) return true;
  try {
    return decodeURIComponent(level) === name;
  } catch {
    return false;
  }
}

export interface EdgeXWrapOptions {
  /** Default a new UUID, as device-sdk-go gives each event. */
  correlationId?: string;
}

/**
 * An AddEventRequest (or an Event) in a v3 envelope, as device services
 * publish it: JSON text whose payload is the request's JSON in base64.
 */
export function wrapEdgeXEnvelope(body: EdgeXAddEventRequest | EdgeXEvent, opts: EdgeXWrapOptions = {}): string {
  const envelope: EdgeXMessageEnvelope = {
    apiVersion: EDGEX_API_VERSION,
    receivedTopic: '',
    correlationID: opts.correlationId ?? randomUUID(),
    requestID: '',
    errorCode: 0,
    payload: Buffer.from(JSON.stringify(body)).toString('base64'),
    contentType: EDGEX_CONTENT_TYPE_JSON,
  };
  return JSON.stringify(envelope);
}

/** What `unwrap` found: the envelope (receivedTopic set, as the receiving client sets it) and its decoded payload. */
export interface EdgeXUnwrapped {
  envelope: EdgeXMessageEnvelope;
  /** The payload decoded as its contentType says: JSON parsed or CBOR decoded. */
  payload: unknown;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

type Obj = Record<string, unknown>;

function field(env: Obj, key: string, type: 'string' | 'number', optional = false): void {
  const v = env[key];
  if (v === undefined && optional) return;
  if (v === undefined) throw new ErrEdgeXEnvelope({ field: key, reason: 'is missing' });
  if (typeof v !== type) throw new ErrEdgeXEnvelope({ field: key, reason: `is ${v === null ? 'null' : typeof v}, not a ${type}` });
}

/**
 * A message from the bus: its envelope checked, its payload decoded. Throws
 * EDGE_ERR_EDGEX_ENVELOPE (not an envelope, a field missing or mistyped, an
 * error envelope, a payload that is not base64), EDGE_ERR_EDGEX_CONTENT_TYPE
 * or EDGE_ERR_EDGEX_PAYLOAD (the payload does not decode).
 */
export function unwrapEdgeXEnvelope(message: Uint8Array | string, receivedTopic = ''): EdgeXUnwrapped {
  const text = typeof message === 'string' ? message : Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('utf8');
  let parsed: unknown;
  try {
    // The payload is one string (or, EdgeX 4, the event): the envelope itself is shallow.
    parsed = parseJson(text, { maxDepth: MAX_PAYLOAD_DEPTH + 1, what: 'EdgeX message envelope' });
  } catch (err) {
    throw new ErrEdgeXEnvelope({ field: '(envelope)', reason: `is not JSON: ${err instanceof Error ? err.message : String(err)}` }, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ErrEdgeXEnvelope({ field: '(envelope)', reason: 'is not a JSON object' });
  const env = parsed as Obj;
  field(env, 'contentType', 'string');
  field(env, 'correlationID', 'string', true);
  field(env, 'requestID', 'string', true);
  field(env, 'errorCode', 'number', true);
  field(env, 'apiVersion', 'string', true);
  if (env.errorCode !== undefined && env.errorCode !== 0) throw new ErrEdgeXEnvelope({ field: 'errorCode', reason: `is ${JSON.stringify(env.errorCode)}: the payload is an error, not an event` });
  const contentType = (env.contentType as string).split(';')[0]!.trim().toLowerCase();
  if (contentType !== EDGEX_CONTENT_TYPE_JSON && contentType !== EDGEX_CONTENT_TYPE_CBOR) throw new ErrEdgeXContentType({ contentType: env.contentType as string });
  const raw = env.payload;
  let payload: unknown;
  if (typeof raw === 'object' && raw !== null && contentType === EDGEX_CONTENT_TYPE_JSON) {
    payload = raw;
  } else {
    if (typeof raw !== 'string' || raw === '') throw new ErrEdgeXEnvelope({ field: 'payload', reason: raw === undefined || raw === '' ? 'is missing' : `is ${raw === null ? 'null' : typeof raw}, not base64 text` });
    if (raw.length % 4 !== 0 || !BASE64.test(raw)) throw new ErrEdgeXEnvelope({ field: 'payload', reason: 'is not base64' });
    const bytes = Buffer.from(raw, 'base64');
    try {
      payload = contentType === EDGEX_CONTENT_TYPE_JSON ? parseJson(bytes.toString('utf8'), { maxDepth: MAX_PAYLOAD_DEPTH, what: 'EdgeX event payload' }) : decodeCbor(bytes, { maxDepth: MAX_PAYLOAD_DEPTH });
    } catch (err) {
      throw new ErrEdgeXPayload({ contentType, reason: err instanceof Error ? err.message : String(err) }, { cause: err });
    }
  }
  const envelope: EdgeXMessageEnvelope = {
    apiVersion: typeof env.apiVersion === 'string' ? env.apiVersion : '',
    receivedTopic,
    correlationID: typeof env.correlationID === 'string' ? env.correlationID : '',
    requestID: typeof env.requestID === 'string' ? env.requestID : '',
    errorCode: 0,
    payload: typeof raw === 'string' ? raw : '',
    contentType: env.contentType as string,
    ...(typeof env.queryParams === 'object' && env.queryParams !== null ? { queryParams: env.queryParams as Record<string, string> } : {}),
  };
  return { envelope, payload };
}
