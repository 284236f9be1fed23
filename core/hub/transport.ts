/**
 * HTTP plumbing shared by every hub route: the TypeBox validator compiler
 * (bodies are checked as sent, queries and params converted from strings;
 * every failing field is reported with its path), request-body decompression
 * with a cap on the decompressed size, and the mapping of any thrown value to
 * a coded `{ code, message, details? }` response.
 */
import { Transform, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { FastifyRequest, FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { checkSchema, EdgeError, isEdgeError } from '../kernel/index.ts';
import {
  ErrBadEncoding,
  ErrBadRequest,
  ErrInternal,
  ErrMalformedBody,
  ErrPayloadTooLarge,
  ErrUnsupportedEncoding,
  ErrUnsupportedMediaType,
  type RequestIssue,
} from './errors.ts';

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
    const issues = checkSchema(schema, value).map((i): RequestIssue => ({ in: part, path: i.path, message: i.message }));
    if (issues.length === 0) issues.push({ in: part, path: '', message: 'does not match the schema' });
    return { error: badRequest(issues) };
  };
};

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

function bodyOf(err: EdgeError): HttpError['body'] {
  const body: HttpError['body'] = { code: err.code, message: err.message };
  const params = err.params as Record<string, unknown>;
  if (Object.keys(params).length > 0) body.details = { ...params };
  return body;
}

/** Any thrown value as a coded HTTP error. */
export function toHttpError(err: unknown, request: FastifyRequest): HttpError {
  let coded: EdgeError | undefined;
  if (isEdgeError(err)) coded = err;
  else if (err !== null && typeof err === 'object') {
    const e = err as FastifyLikeError;
    const message = typeof e.message === 'string' ? e.message : 'unknown error';
    switch (e.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        coded = new ErrPayloadTooLarge({ limitBytes: request.routeOptions.bodyLimit });
        break;
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        coded = new ErrMalformedBody({ reason: message });
        break;
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      case 'FST_ERR_CTP_INVALID_TYPE':
        coded = new ErrUnsupportedMediaType({ contentType: request.headers['content-type'] ?? '(none)' });
        break;
      case 'FST_ERR_VALIDATION':
        coded = badRequest(
          (e.validation ?? []).map((v) => ({
            in: partOf(e.validationContext),
            path: (v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.'),
            message: v.message ?? 'is invalid',
          })),
        );
        break;
      default:
        if (err instanceof SyntaxError) coded = new ErrMalformedBody({ reason: message });
        else if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
          // A client error fastify or a plugin raised that has no code of ours (e.g. prototype poisoning).
          coded = new EdgeError('EDGE_ERR_HUB_REQUEST', message, { cause: typeof e.code === 'string' ? e.code : 'unknown' }, e.statusCode);
        }
    }
  }
  if (!coded) {
    return { statusCode: 500, body: bodyOf(new ErrInternal({ requestId: String(request.id) })), internal: true };
  }
  return { statusCode: coded.statusCode, body: bodyOf(coded), internal: coded.statusCode >= 500 };
}

/** The request URL with any `access_token` hidden, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]access_token=)[^&#]*/gi, '$1[redacted]');
}
