/**
 * The two requests the driver makes, on Node's fetch: GET a JSON document
 * and PUT one. Each has a timeout, an answer larger than `maxBytes` is
 * refused while it streams in, JSON is parsed by the SDK's bounded parser,
 * and every failure is a coded error naming the method and URL.
 */
import { parseJson } from 'edgeadm/sdk';
import { ErrHttpStatus, ErrTimeout, ErrTooLarge, ErrUnreachable } from './errors.ts';

export interface RequestOptions {
  timeoutMs: number;
  maxBytes: number;
  /** Aborted when the caller gives up (the connection closes, the platform stops). */
  signal?: AbortSignal | undefined;
}

async function request(method: 'GET' | 'PUT', url: string, o: RequestOptions, body?: unknown): Promise<string> {
  const signals = [AbortSignal.timeout(o.timeoutMs), ...(o.signal ? [o.signal] : [])];
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      signal: AbortSignal.any(signals),
      headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) {
      await res.body?.cancel();
      throw new ErrHttpStatus({ method, url, status: res.status });
    }
    return await readText(res, url, o.maxBytes);
  } catch (err) {
    if (err instanceof Error && err.name === 'TimeoutError') throw new ErrTimeout({ method, url, ms: o.timeoutMs }, { cause: err });
    if (ErrHttpStatus.is(err) || ErrTooLarge.is(err)) throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new ErrUnreachable({ method, url, reason: cause?.code ?? cause?.message ?? (err as Error).message }, { cause: err });
  }
}

async function readText(res: Response, url: string, maxBytes: number): Promise<string> {
  if (Number(res.headers.get('content-length') ?? 0) > maxBytes) {
    await res.body?.cancel();
    throw new ErrTooLarge({ url, limit: maxBytes });
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = (res.body as ReadableStream<Uint8Array> | null)?.getReader();
  for (let r = await reader?.read(); r && !r.done; r = await reader?.read()) {
    size += r.value.byteLength;
    if (size > maxBytes) {
      await reader?.cancel();
      throw new ErrTooLarge({ url, limit: maxBytes });
    }
    chunks.push(r.value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** GETs `url` and parses its answer. */
export async function getJson(url: string, o: RequestOptions): Promise<unknown> {
  return parseJson(await request('GET', url, o), { maxDepth: 32, what: `the answer of ${url}` });
}

/** PUTs `body` as JSON to `url`; resolves once the device answered 2xx. */
export async function putJson(url: string, body: unknown, o: RequestOptions): Promise<void> {
  await request('PUT', url, o, body);
}
