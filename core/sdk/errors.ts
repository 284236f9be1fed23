/** The SDK's coded errors: what the site services answer plugins with, and the EdgeX event codec's (edgex/). */
import { createError } from '../kernel/index.ts';

/**
 * Readings the site could not store (its disk is full or failing). Nothing of
 * the batch was kept; the site is degraded until its storage works again.
 */
export const ErrReadingsNotStored = createError(
  'EDGE_ERR_READINGS_NOT_STORED',
  (p: { count: number; device?: string; reason: string }) =>
    `${p.count} reading${p.count === 1 ? '' : 's'}${p.device === undefined ? '' : ` of device '${p.device}'`} not stored: ${p.reason}`,
  { statusCode: 507 },
);

// ---------------------------------------------------------------------------
// EdgeX v3 events and message bus (edgex/: events.ts, values.ts, bus.ts, cbor.ts)

/** A platform reading that cannot be written as an EdgeX reading (its value does not fit its valueType). */
export const ErrEdgeXEncode = createError(
  'EDGE_ERR_EDGEX_ENCODE',
  (p: { device: string; resource: string; reason: string }) => `reading of '${p.device}' resource '${p.resource}' cannot be an EdgeX reading: ${p.reason}`,
  { statusCode: 400 },
);

/** A message bus envelope that is not one: not JSON, a field missing or of the wrong type, a payload that is not base64. */
export const ErrEdgeXEnvelope = createError(
  'EDGE_ERR_EDGEX_ENVELOPE',
  (p: { field: string; reason: string }) => `EdgeX message envelope: ${p.field} ${p.reason}`,
  { statusCode: 400 },
);

/** An envelope whose contentType this side does not decode. */
export const ErrEdgeXContentType = createError(
  'EDGE_ERR_EDGEX_CONTENT_TYPE',
  (p: { contentType: string }) => `EdgeX message envelope: contentType '${p.contentType}' is not application/json or application/cbor`,
  { statusCode: 415 },
);

/** An event payload that does not decode (JSON or CBOR syntax, size, depth). */
export const ErrEdgeXPayload = createError(
  'EDGE_ERR_EDGEX_PAYLOAD',
  (p: { contentType: string; reason: string }) => `EdgeX event payload (${p.contentType}) does not decode: ${p.reason}`,
  { statusCode: 400 },
);

/** A field of an event or reading missing, of the wrong type, or out of bounds; `field` is its path (`event.readings[2].origin`). */
export const ErrEdgeXField = createError(
  'EDGE_ERR_EDGEX_FIELD',
  (p: { field: string; reason: string }) => `EdgeX event: ${p.field} ${p.reason}`,
  { statusCode: 400 },
);

/** A reading's valueType that EdgeX does not define, or that has no platform valueType (ObjectArray). */
export const ErrEdgeXValueType = createError(
  'EDGE_ERR_EDGEX_VALUE_TYPE',
  (p: { field: string; valueType: string; reason: string }) => `EdgeX event: ${p.field} '${p.valueType}' ${p.reason}`,
  { statusCode: 400 },
);

/** A reading's value that does not parse as its valueType. */
export const ErrEdgeXValue = createError(
  'EDGE_ERR_EDGEX_VALUE',
  (p: { field: string; valueType: string; reason: string }) => `EdgeX event: ${p.field} is not a ${p.valueType}: ${p.reason}`,
  { statusCode: 400 },
);

/** A topic that is not an EdgeX event topic under the base topic, or a name that cannot be a topic level. */
export const ErrEdgeXTopic = createError(
  'EDGE_ERR_EDGEX_TOPIC',
  (p: { topic: string; reason: string }) => `EdgeX topic '${p.topic}': ${p.reason}`,
  { statusCode: 400 },
);
