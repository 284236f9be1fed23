/**
 * HTTP plumbing shared by every hub route: the TypeBox validator compiler
 * (bodies are checked as sent, queries and params converted from strings;
 * every failing field is reported with its path), the bounded JSON body
 * parser, request-body decompression with a cap on the decompressed size,
 * and the mapping of any thrown value to a coded `{ code, message, details? }`
 * response. Rule: whatever the framework or Node's HTTP parser refuses
 * reaches the client as one of the hub's codes with the right status, never
 * as a framework code or message; the generic EDGE_ERR_HUB_REQUEST is left
 * for client errors of plugins no table here knows.
 */
import { METHODS, STATUS_CODES } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { checkSchema, EdgeError, ErrJsonForbiddenKey, ErrJsonNumberRange, ErrJsonSyntax, ErrJsonTooDeep, isEdgeError, parseJson } from '../kernel/index.ts';
import { friendlyIssues } from '../store/index.ts';
import {
  ErrBadEncoding,
  ErrBadRequest,
  ErrBadUrl,
  ErrBodyTooDeep,
  ErrHeadersTooLarge,
  ErrInternal,
  ErrMalformedBody,
  ErrMalformedHttp,
  ErrMethodNotImplemented,
  ErrParamTooLong,
  ErrPathForbidden,
  ErrPayloadTooLarge,
  ErrPreconditionFailed,
  ErrRangeNotSatisfiable,
  ErrRequestAborted,
  ErrRequestTimeout,
  ErrRouteNotFound,
  ErrRoutingConstraint,
  ErrUnsupportedEncoding,
  ErrUnsupportedMediaType,
  type RequestIssue,
} from './errors.ts';

/**
 * The router's bound on one path parameter (decoded), far above the longest
 * name any route takes (253: a DNS-1123 subdomain): each route's schema
 * bounds its own parameters and names them in a 400. This bound only stops
 * pathological URLs early, as EDGE_ERR_HUB_PARAM_TOO_LONG naming the parameter.
 */
export const MAX_PARAM_LENGTH = 1024;

/** At most this many issues travel in one error (the count says how many there were). */
const MAX_ISSUES = 100;

export function badRequest(issues: RequestIssue[]): EdgeError {
  if (issues.length <= MAX_ISSUES) return new ErrBadRequest({ issues });
  const kept = issues.slice(0, MAX_ISSUES);
  kept.push({ in: kept[0]?.in ?? 'body', path: '', message: `and ${issues.length - MAX_ISSUES} more problems` });
  return new ErrBadRequest({ issues: kept });
}

type HttpPart = RequestIssue['in'];

function partOf(httpPart: string | undefined): HttpPart {
  return httpPart === 'querystring' || httpPart === 'params' || httpPart === 'headers' ? httpPart : 'body';
}

/**
 * Validates with TypeBox's compiled checker. Bodies are not coerced (a "5"
 * is not an integer); query strings, params and headers are converted from
 * strings first. Defaults from the schema are applied.
 */
export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const part = partOf(httpPart);
  const checker = Compile(schema);
  // Applying defaults walks the whole value: only do it for schemas that have any.
  const hasDefaults = JSON.stringify(schema).includes('"default":');
  return (data: unknown) => {
    let value = part === 'body' ? data : checker.Convert(data);
    if (hasDefaults) value = checker.Default(value);
    if (checker.Check(value)) return { value };
    // The store's readable messages for its patterns (names, durations) apply to request bodies too.
    const issues = friendlyIssues(checkSchema(schema, value)).map((i): RequestIssue => ({ in: part, path: i.path, message: i.message }));
    if (issues.length === 0) issues.push({ in: part, path: '', message: 'does not match the schema' });
    return { error: badRequest(issues) };
  };
};

/**
 * The hub's `application/json` parser: core/kernel's bounded `parseJson`
 * (nesting depth, prototype keys, number range), its refusals as the hub's
 * 400s naming the field.
 */
export function parseJsonBody(text: string): unknown {
  try {
    return parseJson(text, { what: 'request body' });
  } catch (err) {
    if (ErrJsonTooDeep.is(err)) throw new ErrBodyTooDeep({ limit: err.params.limit, path: err.params.path, offset: err.params.offset }, { cause: err });
    if (ErrJsonForbiddenKey.is(err)) {
      throw badRequest([{ in: 'body', path: err.params.path, message: `is refused: the key '${err.params.key}' could change object prototypes` }]);
    }
    if (ErrJsonNumberRange.is(err)) throw badRequest([{ in: 'body', path: err.params.path, message: 'is a number beyond the range of a 64-bit float' }]);
    if (ErrJsonSyntax.is(err)) throw new ErrMalformedBody({ reason: err.params.reason }, { cause: err });
    throw err;
  }
}

export const SUPPORTED_ENCODINGS = ['gzip', 'deflate', 'br', 'identity'] as const;

/**
 * A preParsing step: a compressed body is inflated on the fly and the
 * inflated size is capped at `limit` bytes, so a gzip bomb stops at the limit
 * (413) instead of filling memory. The rest of the compressed input is
 * drained unread so the 413 can still be answered.
 */
export function decodeBody(request: FastifyRequest, payload: Readable, limit: number): Readable {
  const header = request.headers['content-encoding'];
  if (header === undefined) return payload;
  const hasBody = request.headers['transfer-encoding'] !== undefined || (request.headers['content-length'] ?? '0') !== '0';
  if (!hasBody) return payload;
  const encoding = header.trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return payload;
  const inflater =
    encoding === 'gzip' || encoding === 'x-gzip'
      ? createGunzip()
      : encoding === 'deflate'
        ? createInflate()
        : encoding === 'br'
          ? createBrotliDecompress()
          : undefined;
  if (!inflater) throw new ErrUnsupportedEncoding({ encoding });

  let inflated = 0;
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      inflated += chunk.length;
      if (inflated > limit) cb(new ErrPayloadTooLarge({ limitBytes: limit }));
      else cb(null, chunk);
    },
  }) as Transform & { receivedEncodedLength: number };
  out.receivedEncodedLength = 0;
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    payload.unpipe(inflater);
    inflater.unpipe(out);
    inflater.destroy();
    payload.resume();
  };
  payload.on('data', (chunk: Buffer) => {
    out.receivedEncodedLength += chunk.length;
  });
  inflater.on('error', (err: Error) => {
    stop();
    out.destroy(new ErrBadEncoding({ encoding, reason: err.message }));
  });
  out.on('error', stop);
  payload.pipe(inflater).pipe(out);
  return out;
}

export interface HttpError {
  statusCode: number;
  body: { code: string; message: string; details?: Record<string, unknown> };
  /** True when the error is ours to log as a failure (5xx). */
  internal: boolean;
}

interface FastifyLikeError {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  validation?: { instancePath?: string; message?: string }[];
  validationContext?: string;
}

/** The `{ code, message, details? }` a coded error is answered with. */
export function errorBody(err: EdgeError): HttpError['body'] {
  const body: HttpError['body'] = { code: err.code, message: err.message };
  const params = err.params as Record<string, unknown>;
  if (Object.keys(params).length > 0) body.details = { ...params };
  return body;
}

/** The path of the request, without its query. */
function pathOf(request: FastifyRequest): string {
  return request.url.split('?')[0] ?? '';
}

/** Whether a URL path, decoded, has a `..` segment or a NUL: @fastify/static refuses those as bad URLs; they are forbidden paths. */
function leavesItsFolder(path: string): boolean {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return false;
  }
  return decoded.includes('\0') || decoded.split(/[/\\]/).includes('..');
}

function decodedLength(segment: string): number {
  try {
    return decodeURIComponent(segment).length;
  } catch {
    return segment.length;
  }
}

/**
 * The parameter(s) of the route the request's path matches that are longer
 * than `limit`: the path is routed again with each over-long segment
 * replaced by a marker, and the parameters that hold a marker are named.
 */
function longParams(request: FastifyRequest, limit: number): { param: string; length: number } {
  const lengths = new Map<string, number>();
  const marked = pathOf(request)
    .split('/')
    .map((segment, i) => {
      const length = decodedLength(segment);
      if (length <= limit) return segment;
      const marker = `too-long-${i}`;
      lengths.set(marker, length);
      return marker;
    })
    .join('/');
  const found = request.server.findRoute({ method: request.method, url: marked }) as { params?: Record<string, string | undefined> } | null;
  for (const [name, value] of Object.entries(found?.params ?? {})) {
    const length = value === undefined ? undefined : lengths.get(value);
    if (length !== undefined) return { param: name, length };
  }
  const [first] = lengths.entries();
  return { param: first ? `(path segment ${first[0].slice('too-long-'.length)})` : '(unknown)', length: first?.[1] ?? 0 };
}

/**
 * Every client-caused error code of fastify 5 (lib/errors.js) and of the
 * request stream, as the hub's coded error. Codes missing here are the
 * framework's own faults (bad route options, a reply sent twice, ...): 500.
 */
const FRAMEWORK_ERRORS: Readonly<Record<string, (request: FastifyRequest, message: string) => EdgeError>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: (request) => new ErrPayloadTooLarge({ limitBytes: request.routeOptions.bodyLimit }),
  FST_ERR_CTP_INVALID_JSON_BODY: () => new ErrMalformedBody({ reason: 'it is not valid JSON' }),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new ErrMalformedBody({ reason: 'it is empty, but content-type says application/json' }),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: (request) =>
    new ErrMalformedBody({ reason: `its size does not match the content-length header (${request.headers['content-length'] ?? 'none'})` }),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (request) => new ErrUnsupportedMediaType({ contentType: request.headers['content-type'] ?? '(none)' }),
  FST_ERR_ROUTE_MISSING_CONTENT_TYPE: () => new ErrUnsupportedMediaType({ contentType: '(none)' }),
  FST_ERR_BAD_URL: (request) =>
    leavesItsFolder(pathOf(request))
      ? new ErrPathForbidden({ path: redactUrl(pathOf(request)) })
      : new ErrBadUrl({ path: redactUrl(pathOf(request)), reason: 'malformed percent-encoding, or not a path' }),
  FST_ERR_MAX_PARAM_LENGTH: (request) => new ErrParamTooLong({ ...longParams(request, MAX_PARAM_LENGTH), limit: MAX_PARAM_LENGTH }),
  FST_ERR_ASYNC_CONSTRAINT: () => new ErrRoutingConstraint({ reason: 'a routing constraint on the request headers failed' }),
  FST_ERR_NOT_FOUND: (request) => new ErrRouteNotFound({ method: request.method, path: redactUrl(pathOf(request)) }),
  // @fastify/static (the docs UI's files): a path that leaves its folder or holds a NUL.
  FST_STATIC_FORBIDDEN_PATH: (request) => new ErrPathForbidden({ path: redactUrl(pathOf(request)) }),
  // @fastify/compress, should a route turn its request decompression on (the hub's own is decodeBody above).
  FST_CP_ERR_INVALID_CONTENT_ENCODING: (request) => new ErrUnsupportedEncoding({ encoding: String(request.headers['content-encoding'] ?? '') }),
  FST_CP_ERR_INVALID_CONTENT: (request, message) => new ErrBadEncoding({ encoding: String(request.headers['content-encoding'] ?? ''), reason: message }),
  // The request stream failed: the client closed or reset the connection mid-body.
  ECONNRESET: (_request, message) => new ErrRequestAborted({ reason: message }),
  ECONNABORTED: (_request, message) => new ErrRequestAborted({ reason: message }),
  ERR_STREAM_PREMATURE_CLOSE: (_request, message) => new ErrRequestAborted({ reason: message }),
};

/** Code-less HTTP errors (http-errors, as static file serving raises them), by status. */
const STATUS_ERRORS: Readonly<Record<number, (request: FastifyRequest) => EdgeError>> = {
  400: (request) =>
    leavesItsFolder(pathOf(request))
      ? new ErrPathForbidden({ path: redactUrl(pathOf(request)) })
      : new ErrBadUrl({ path: redactUrl(pathOf(request)), reason: 'not a valid file path' }),
  403: (request) => new ErrPathForbidden({ path: redactUrl(pathOf(request)) }),
  412: (request) => new ErrPreconditionFailed({ path: redactUrl(pathOf(request)) }),
  416: (request) => new ErrRangeNotSatisfiable({ path: redactUrl(pathOf(request)), range: request.headers.range ?? '' }),
};

/** The fastify error codes `toHttpError` maps to one of the hub's own (for tests and docs). */
export const MAPPED_FRAMEWORK_CODES: readonly string[] = Object.keys(FRAMEWORK_ERRORS).filter((c) => c.startsWith('FST_'));

/** Any thrown value as a coded HTTP error. */
export function toHttpError(err: unknown, request: FastifyRequest): HttpError {
  let coded: EdgeError | undefined;
  if (isEdgeError(err)) coded = err;
  else if (err !== null && typeof err === 'object') {
    const e = err as FastifyLikeError;
    const message = typeof e.message === 'string' ? e.message : 'unknown error';
    const mapped = typeof e.code === 'string' && Object.hasOwn(FRAMEWORK_ERRORS, e.code) ? FRAMEWORK_ERRORS[e.code] : undefined;
    if (mapped) coded = mapped(request, message);
    else if (e.code === 'FST_ERR_VALIDATION') {
      const issues = (e.validation ?? []).map((v): RequestIssue => ({
        in: partOf(e.validationContext),
        path: (v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.'),
        message: v.message ?? 'is invalid',
      }));
      coded = badRequest(issues.length > 0 ? issues : [{ in: partOf(e.validationContext), path: '', message: 'does not match the schema' }]);
    } else if (typeof e.code === 'string' && e.code.startsWith('FST_ERR_')) {
      // Any other fastify error is the framework's or the hub's own fault (route options, a reply sent twice): 500 below.
    } else if (err instanceof SyntaxError) coded = new ErrMalformedBody({ reason: message });
    else if (e.code === undefined && typeof e.statusCode === 'number' && Object.hasOwn(STATUS_ERRORS, e.statusCode)) {
      coded = (STATUS_ERRORS[e.statusCode] as (request: FastifyRequest) => EdgeError)(request);
    } else if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      // A client error a plugin raised that no table here knows.
      coded = new EdgeError('EDGE_ERR_HUB_REQUEST', message, { cause: typeof e.code === 'string' ? e.code : 'unknown' }, e.statusCode);
    }
  }
  if (!coded) {
    return { statusCode: 500, body: errorBody(new ErrInternal({ requestId: String(request.id) })), internal: true };
  }
  return { statusCode: coded.statusCode, body: errorBody(coded), internal: coded.statusCode >= 500 };
}

/** A path the router matches as it is: absolute, well percent-encoded, no over-long segment (else it answers those itself). */
function routablePath(path: string): boolean {
  if (!path.startsWith('/')) return false;
  try {
    return decodeURI(path).split('/').every((segment) => segment.length <= MAX_PARAM_LENGTH);
  } catch {
    return false;
  }
}

/**
 * The methods some route takes at the request's path when its own method
 * has none there (for 405 and its Allow header); empty when its own has one
 * (the route itself answered 404) or no route matches the path.
 */
export function allowedMethods(app: FastifyInstance, request: FastifyRequest): string[] {
  const path = pathOf(request);
  if (!routablePath(path)) return [];
  const served = (method: string): boolean => app.findRoute({ method, url: path }) !== null;
  if (served(request.method)) return [];
  return METHODS.filter(served);
}

/** What Node's HTTP parser reports about a connection (a `clientError`). */
export interface ClientErrorLike {
  code?: string;
  reason?: string;
  message?: string;
  /** The bytes that failed to parse (a Buffer at run time). */
  rawPacket?: unknown;
}

/** The first token of the bytes that failed to parse, printable and short (the method Node did not know). */
function methodOf(rawPacket: unknown): string {
  const head = Buffer.isBuffer(rawPacket) ? rawPacket.subarray(0, 64).toString('latin1') : '';
  const token = head.split(/\s/, 1)[0] ?? '';
  return token.replace(/[^\x21-\x7e]/g, '?').slice(0, 32);
}

/**
 * A request Node's HTTP parser refused before fastify saw it (bad request
 * line, header, length or chunk; headers too large; too slow) as a coded
 * error. `maxHeaderSize` is the server's limit, named in the 431.
 */
export function clientErrorOf(err: ClientErrorLike, maxHeaderSize: number): EdgeError {
  const reason = err.reason ?? err.message ?? 'unparseable request';
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ErrRequestTimeout({ part: 'line and headers' });
    case 'HPE_HEADER_OVERFLOW':
      return new ErrHeadersTooLarge({ limitBytes: maxHeaderSize });
    case 'HPE_INVALID_METHOD':
      return new ErrMethodNotImplemented({ method: methodOf(err.rawPacket) });
    default:
      return new ErrMalformedHttp({ reason, parserCode: err.code ?? 'unknown' });
  }
}

/** A whole HTTP/1.1 response that closes the connection, for answering where no reply object exists (a raw socket). */
export function rawErrorResponse(err: EdgeError): string {
  const body = JSON.stringify(errorBody(err));
  const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close' };
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  return `HTTP/1.1 ${err.statusCode} ${STATUS_CODES[err.statusCode] ?? 'Error'}\r\n${lines.join('')}\r\n${body}`;
}

/** The request URL with any `access_token` hidden, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]access_token=)[^&#]*/gi, '$1[redacted]');
}
