/**
 * Coded errors of the http-json plugin. Each names the device, resource or
 * URL it is about. A problem of a Device or its profile is a `DriverIssue`
 * (all at once, each naming its field) with one of the `ISSUE` codes.
 */
import { createError } from 'edgeadm/sdk';

/** Issue codes of `validate`. */
export const ISSUE = {
  protocol: 'EDGE_ERR_HTTP_JSON_PROTOCOL',
  attribute: 'EDGE_ERR_HTTP_JSON_ATTRIBUTE',
  property: 'EDGE_ERR_HTTP_JSON_PROPERTY',
} as const;

export const ErrDeviceInvalid = createError(
  'EDGE_ERR_HTTP_JSON_DEVICE_INVALID',
  (p: { device: string; issues: { path: string; message: string }[] }) =>
    `device '${p.device}' cannot be driven by http-json: ${p.issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
  { statusCode: 400 },
);

export const ErrHttpStatus = createError(
  'EDGE_ERR_HTTP_JSON_STATUS',
  (p: { method: string; url: string; status: number }) => `${p.method} ${p.url} answered HTTP ${p.status}`,
  { statusCode: 502 },
);

export const ErrUnreachable = createError(
  'EDGE_ERR_HTTP_JSON_UNREACHABLE',
  (p: { method: string; url: string; reason: string }) => `${p.method} ${p.url} failed: ${p.reason}`,
  { statusCode: 502 },
);

export const ErrTimeout = createError(
  'EDGE_ERR_HTTP_JSON_TIMEOUT',
  (p: { method: string; url: string; ms: number }) => `${p.method} ${p.url} did not answer within ${p.ms} ms`,
  { statusCode: 504 },
);

export const ErrTooLarge = createError(
  'EDGE_ERR_HTTP_JSON_TOO_LARGE',
  (p: { url: string; limit: number }) => `the answer of ${p.url} is larger than ${p.limit} bytes (config maxResponseBytes)`,
  { statusCode: 502 },
);

export const ErrNoValue = createError(
  'EDGE_ERR_HTTP_JSON_NO_VALUE',
  (p: { resource: string; pointer: string }) => `the document has no value at '${p.pointer}' (resource '${p.resource}')`,
  { statusCode: 502 },
);

export const ErrValue = createError(
  'EDGE_ERR_HTTP_JSON_VALUE',
  (p: { resource: string; problem: string }) => `resource '${p.resource}': ${p.problem}`,
  { statusCode: 400 },
);

export const ErrReadOnly = createError(
  'EDGE_ERR_HTTP_JSON_READ_ONLY',
  (p: { device: string; resource: string }) => `resource '${p.resource}' of device '${p.device}' is not writable (readWrite R)`,
  { statusCode: 400 },
);

export const ErrUnknownResource = createError(
  'EDGE_ERR_HTTP_JSON_UNKNOWN_RESOURCE',
  (p: { device: string; resource: string }) => `device '${p.device}' has no resource '${p.resource}'`,
  { statusCode: 404 },
);

export const ErrDiscovery = createError(
  'EDGE_ERR_HTTP_JSON_DISCOVERY',
  (p: { field: string; reason: string }) => `discovery request: ${p.field} ${p.reason}`,
  { statusCode: 400 },
);

export const ErrClosed = createError(
  'EDGE_ERR_HTTP_JSON_CLOSED',
  (p: { device: string }) => `the connection of device '${p.device}' is closed`,
  { statusCode: 503 },
);
