/** Telemetry's coded errors: outbox, hub store, uplinks and MQTT ingest. Each names what it is about. */
import { createError, type FieldIssue } from '../kernel/index.ts';

/**
 * A reading that does not match ReadingSchema, or belongs to another site
 * (index -1: the batch itself is not an array). Nothing of the call is written.
 */
export const ErrInvalid = createError(
  'EDGE_ERR_TELEMETRY_INVALID',
  (p: { index: number; field: string; problem: string; count: number; issues: FieldIssue[] }) =>
    (p.index < 0 ? `batch ${p.problem}` : `reading [${p.index}] ${p.field === '' ? '(root)' : `field '${p.field}'`} ${p.problem}`) +
    (p.count > 1 ? ` (and ${p.count - 1} more problem${p.count === 2 ? '' : 's'} in this batch)` : '') +
    '; nothing of this batch was written',
  { statusCode: 400 },
);

export const ErrOutboxSite = createError(
  'EDGE_ERR_TELEMETRY_OUTBOX_SITE',
  (p: { file: string; site: string; stored: string }) =>
    `outbox file '${p.file}' belongs to site '${p.stored}', not '${p.site}'; use one outbox file per site`,
);

export const ErrOutboxOption = createError(
  'EDGE_ERR_TELEMETRY_OUTBOX_OPTION',
  (p: { option: string; reason: string }) => `outbox option '${p.option}' ${p.reason}`,
  { statusCode: 400 },
);

export const ErrClosed = createError('EDGE_ERR_TELEMETRY_CLOSED', (p: { what: string }) => `${p.what} is closed`, { statusCode: 503 });

export const ErrQuery = createError(
  'EDGE_ERR_TELEMETRY_QUERY',
  (p: { field: string; reason: string }) => `telemetry query field '${p.field}' ${p.reason}`,
  { statusCode: 400 },
);

export const ErrCursor = createError(
  'EDGE_ERR_TELEMETRY_CURSOR',
  (p: { cursor: string }) => `telemetry cursor '${p.cursor.slice(0, 64)}' is not one this store issued`,
  { statusCode: 400 },
);

export const ErrForwarderStopped = createError(
  'EDGE_ERR_TELEMETRY_FORWARDER_STOPPED',
  (p: { uplink: string }) => `forwarder to uplink '${p.uplink}' stopped before everything was delivered`,
  { statusCode: 503 },
);

/**
 * The hub refused the batch for good (4xx other than 408/429, or an MQTT
 * CONNACK refusal). Retrying the same batch will not help until something
 * changes (token, site registration, a hub fix); the forwarder retries at its
 * slowest pace rather than dropping data.
 */
export const ErrUplinkRejected = createError(
  'EDGE_ERR_UPLINK_REJECTED',
  (p: { uplink: string; status: number; code?: string; reason: string }) =>
    `uplink '${p.uplink}' batch rejected by the hub (status ${p.status}${p.code === undefined ? '' : `, ${p.code}`}): ${p.reason}`,
  { statusCode: 502 },
);

/** The hub could not be reached or could not take the batch now (network error, timeout, 408, 429, 5xx): retry. */
export const ErrUplinkUnreachable = createError(
  'EDGE_ERR_UPLINK_UNREACHABLE',
  (p: { uplink: string; target: string; status?: number; code?: string; reason: string; retryAfterMs?: number }) =>
    `uplink '${p.uplink}' cannot deliver to ${p.target}${p.status === undefined ? '' : ` (status ${p.status}${p.code === undefined ? '' : `, ${p.code}`})`}: ${p.reason}`,
  { statusCode: 503 },
);

/** The hub answered 2xx but not with `{ accepted, duplicates }`: retried like an unreachable hub. */
export const ErrUplinkResponse = createError(
  'EDGE_ERR_UPLINK_RESPONSE',
  (p: { uplink: string; target: string; reason: string }) => `uplink '${p.uplink}' got an unexpected answer from ${p.target}: ${p.reason}`,
  { statusCode: 502 },
);

export const ErrUplinkAborted = createError(
  'EDGE_ERR_UPLINK_ABORTED',
  (p: { uplink: string }) => `uplink '${p.uplink}' send was aborted`,
  { statusCode: 499 },
);

export const ErrUplinkClosed = createError('EDGE_ERR_UPLINK_CLOSED', (p: { uplink: string }) => `uplink '${p.uplink}' is closed`, { statusCode: 503 });

/** An MQTT client published where it may not (another site's topic, a will message). */
export const ErrMqttTopic = createError(
  'EDGE_ERR_MQTT_INGEST_TOPIC',
  (p: { client: string; site: string; topic: string }) =>
    `MQTT client '${p.client}' of site '${p.site}' may not publish to '${p.topic}' (only edgeadm/telemetry/${p.site})`,
  { statusCode: 403 },
);

export const ErrMqttPayload = createError(
  'EDGE_ERR_MQTT_INGEST_PAYLOAD',
  (p: { client: string; topic: string; reason: string }) => `MQTT client '${p.client}' published a malformed payload to '${p.topic}': ${p.reason}`,
  { statusCode: 400 },
);

export const ErrMqttAuth = createError(
  'EDGE_ERR_MQTT_INGEST_AUTH',
  (p: { client: string; username: string }) => `MQTT client '${p.client}' (username '${p.username}') presented bad credentials`,
  { statusCode: 401 },
);

export const ErrAckRange = createError(
  'EDGE_ERR_TELEMETRY_ACK_RANGE',
  (p: { site: string; ack: number; lastSeq: number }) =>
    `ack of seq ${p.ack} for site '${p.site}' is beyond the last seq the outbox issued (${p.lastSeq})`,
  { statusCode: 400 },
);

/** A batch's stream header (who sent it, which stream) is missing or malformed. Nothing is written. */
export const ErrStreamHeader = createError(
  'EDGE_ERR_TELEMETRY_STREAM_HEADER',
  (p: { field: string; reason: string }) => `telemetry batch field '${p.field}' ${p.reason}; nothing of this batch was written`,
  { statusCode: 400 },
);

/**
 * A seq that its producer cannot have sent: not above the one before it in
 * the batch, or beyond the last seq the batch's stream header declares.
 * Nothing is written.
 */
export const ErrSeq = createError(
  'EDGE_ERR_TELEMETRY_SEQ',
  (p: { index: number; seq: number; reason: string }) => `reading [${p.index}] seq ${p.seq} ${p.reason}; nothing of this batch was written`,
  { statusCode: 400 },
);

/**
 * The stream declares a lastSeq below one it declared before: the hub holds
 * readings of this stream its producer no longer has (its outbox was
 * restored from an older copy, or another agent sends under its identity).
 * Nothing is written; the producer must start a new stream.
 */
export const ErrStreamRewound = createError(
  'EDGE_ERR_TELEMETRY_STREAM_REWOUND',
  (p: { site: string; producer: string; stream: string; declared: number; known: number }) =>
    `stream '${p.stream}' of producer '${p.producer}' at site '${p.site}' declares last seq ${p.declared}, but it declared ${p.known} before: ` +
    'the hub holds readings of this stream the producer no longer has; start a new stream',
  { statusCode: 409 },
);

/** A stored row whose valueType or quality code is not in rows.ts's tables: a file written by a newer edgeadm. */
export const ErrStoredCode = createError(
  'EDGE_ERR_TELEMETRY_STORED_CODE',
  (p: { site: string; seq: number; column: 'vt' | 'q'; code: number }) =>
    `stored reading seq ${p.seq} of site '${p.site}' has ${p.column === 'vt' ? 'valueType' : 'quality'} code ${p.code}, which this version of edgeadm does not know (was the file written by a newer one?)`,
);

/** A bridge uplink option that cannot work; names the option. */
export const ErrBridgeOption = createError(
  'EDGE_ERR_UPLINK_BRIDGE_OPTION',
  (p: { option: string; reason: string }) => `bridge uplink option '${p.option}' ${p.reason}`,
  { statusCode: 400 },
);

/** The telemetry store's engine (PostgreSQL) failed or did not answer: what the store was doing, and the engine's own words (never its URL). */
export const ErrTelemetryBackend = createError(
  'EDGE_ERR_TELEMETRY_BACKEND',
  (p: { driver: string; what: string; reason: string }) => `telemetry store (${p.driver}): ${p.what} failed: ${p.reason}`,
  { statusCode: 503 },
);

/** An export option that cannot work; names the option. */
export const ErrExportOption = createError(
  'EDGE_ERR_EXPORT_OPTION',
  (p: { option: string; reason: string }) => `telemetry export option '${p.option}' ${p.reason}`,
  { statusCode: 400 },
);

/** A Sparkplug edge node (one site of the export) has no MQTT session to publish on: the step is tried again. */
export const ErrSparkplugSession = createError(
  'EDGE_ERR_EXPORT_SPARKPLUG_SESSION',
  (p: { site: string; reason: string }) => `Sparkplug edge node '${p.site}' of the telemetry export has no session with the broker: ${p.reason}`,
  { statusCode: 503 },
);

/** An NCMD the exporter cannot read (not a Sparkplug B payload, or a Rebirth metric that is not a Boolean): logged and ignored. */
export const ErrSparkplugCommand = createError(
  'EDGE_ERR_EXPORT_SPARKPLUG_NCMD',
  (p: { site: string; reason: string }) => `NCMD to Sparkplug edge node '${p.site}' ignored: ${p.reason}`,
  { statusCode: 400 },
);

/** The vendored sparkplug_b.proto (or protobufjs) could not be loaded: the sparkplug export cannot start. */
export const ErrSparkplugSchema = createError(
  'EDGE_ERR_EXPORT_SPARKPLUG_SCHEMA',
  (p: { file: string; reason: string }) => `the Sparkplug B schema ${p.file} cannot be loaded: ${p.reason}`,
);
