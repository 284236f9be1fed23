/**
 * The REST uplink: one gzip'd JSON POST per batch to the hub's
 * `/api/v1/sites/<site>/telemetry`, over fetch (undici's keep-alive pool in
 * Node), or, given `connect`, over node:http on a stream it opens per batch
 * (the tunnel's stream to the hub, with no local TCP hop). 2xx with
 * `{ accepted, duplicates }` means the hub committed the batch. 4xx other
 * than 408/429 is EDGE_ERR_UPLINK_REJECTED (retrying will not help); network
 * errors, timeouts, 408, 429 and 5xx are EDGE_ERR_UPLINK_UNREACHABLE (retry).
 */
import { request as httpRequest } from 'node:http';
import type { Duplex } from 'node:stream';
import { gzip } from 'node:zlib';
import { ErrUplinkAborted, ErrUplinkClosed, ErrUplinkRejected, ErrUplinkResponse, ErrUplinkUnreachable } from './errors.ts';
import type { Batch, IngestResult, Uplink } from './types.ts';

export interface RestUplinkOptions {
  /** Hub base URL, e.g. `https://hub.example:8443`. */
  url: string;
  /** Bearer token of the site. */
  token: string;
  site: string;
  /** fetch implementation; default the global one. */
  fetch?: typeof fetch;
  /** Per-request deadline. Default 10 s. */
  timeoutMs?: number;
  /** undici dispatcher (connection pool, TLS options) passed to fetch. */
  dispatcher?: RequestInit['dispatcher'];
  /**
   * Opens a byte stream to the hub's HTTP API (the tunnel's stream to service
   * `hub`): each batch is then one HTTP/1.1 request on a stream of its own,
   * and `url` only names the host for the request line.
   */
  connect?: () => Promise<Duplex>;
  /**
   * Resolves when the path to the hub is up, e.g. the tunnel's session. Each
   * send waits for it first, so a link known to be down is not tried (and
   * not reported as a failed batch) while it reconnects.
   */
  whenReachable?: () => Promise<void>;
}

const NAME = 'rest';

/** Resolves with `p`, or rejects with ErrUplinkAborted as soon as `signal` aborts. */
function unlessAborted(p: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return p;
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(new ErrUplinkAborted({ uplink: NAME }, { cause: signal.reason }));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function parseRetryAfter(v: string | null): number | undefined {
  if (v === null) return undefined;
  const s = Number(v);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function serverError(text: string): { code?: string; message?: string } {
  try {
    const body: unknown = JSON.parse(text);
    if (body !== null && typeof body === 'object') {
      const { code, message } = body as { code?: unknown; message?: unknown };
      return { ...(typeof code === 'string' ? { code } : {}), ...(typeof message === 'string' ? { message } : {}) };
    }
  } catch {
    // not JSON: the raw text is the reason
  }
  return {};
}

/** Why fetch failed, from undici's `fetch failed` TypeError and its cause chain. */
function networkReason(err: unknown): string {
  let e: unknown = err;
  const parts: string[] = [];
  for (let i = 0; i < 4 && e instanceof Error; i++) {
    const code = (e as NodeJS.ErrnoException).code;
    parts.push(code ? `${code}: ${e.message}` : e.message);
    e = e.cause;
  }
  return parts.length > 0 ? parts.join(' <- ') : String(err);
}

/** What a POST got back. */
interface Answer {
  status: number;
  statusText: string;
  retryAfter: string | null;
  text: string;
}

/** A stream from `connect`, or the abort's reason as soon as `signal` aborts (a stream that comes later is closed). */
function connectUnlessAborted(connect: () => Promise<Duplex>, signal: AbortSignal): Promise<Duplex> {
  return new Promise<Duplex>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    connect().then(
      (stream) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) stream.destroy();
        else resolve(stream);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** POST `body` as one HTTP/1.1 request on `stream` (closed after the answer), aborted with `signal`. */
function postOverStream(stream: Duplex, target: string, headers: Record<string, string>, body: Uint8Array, signal: AbortSignal): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const req = httpRequest(target, { method: 'POST', headers: { ...headers, 'content-length': String(body.byteLength) }, createConnection: () => stream, signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const retry = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', retryAfter: typeof retry === 'string' ? retry : null, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', (err) => {
      stream.destroy();
      reject(err);
    });
    req.on('close', () => stream.destroy());
    req.end(body);
  });
}

export function createRestUplink(opts: RestUplinkOptions): Uplink {
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const target = `${opts.url.replace(/\/+$/, '')}/api/v1/sites/${encodeURIComponent(opts.site)}/telemetry`;
  const authorization = `Bearer ${opts.token}`;
  let closed = false;
  const inflight = new Set<AbortController>();

  const headers = { authorization, 'content-type': 'application/json', 'content-encoding': 'gzip' };

  /** One POST of `body`, over fetch or over a stream from `connect`. */
  const exchange = opts.connect
    ? async (body: Uint8Array, signal: AbortSignal): Promise<Answer> => postOverStream(await connectUnlessAborted(opts.connect!, signal), target, headers, body, signal)
    : async (body: Uint8Array, signal: AbortSignal): Promise<Answer> => {
        const res = await doFetch(target, { method: 'POST', headers, body, signal, ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}) });
        return { status: res.status, statusText: res.statusText, retryAfter: res.headers.get('retry-after'), text: await res.text() };
      };

  // JSON here, compression on libuv's thread pool.
  const encode = (batch: Batch): Promise<Uint8Array> =>
    new Promise((resolve, reject) => gzip(JSON.stringify({ stream: batch.stream, readings: batch.readings }), { level: 1 }, (err, out) => (err ? reject(err) : resolve(out))));

  return {
    name: NAME,
    encode,

    async send(batch: Batch, signal?: AbortSignal, encoded?: Promise<Uint8Array>): Promise<IngestResult> {
      if (closed) throw new ErrUplinkClosed({ uplink: NAME });
      if (signal?.aborted) throw new ErrUplinkAborted({ uplink: NAME }, { cause: signal.reason });
      const body = await (encoded ?? encode(batch));
      if (opts.whenReachable) await unlessAborted(opts.whenReachable(), signal);
      if (closed) throw new ErrUplinkClosed({ uplink: NAME });
      const ac = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        ac.abort();
      }, timeoutMs);
      const onAbort = (): void => ac.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      // Aborted while the batch was being encoded: the listener above never fires for that.
      if (signal?.aborted) ac.abort();
      inflight.add(ac);
      try {
        let res: Answer;
        try {
          res = await exchange(body, ac.signal);
        } catch (err) {
          if (timedOut) throw new ErrUplinkUnreachable({ uplink: NAME, target, reason: `no answer within ${timeoutMs} ms` }, { cause: err });
          if (ac.signal.aborted) throw new ErrUplinkAborted({ uplink: NAME }, { cause: err });
          throw new ErrUplinkUnreachable({ uplink: NAME, target, reason: networkReason(err) }, { cause: err });
        }
        const { status, text } = res;
        if (status >= 200 && status < 300) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch (err) {
            throw new ErrUplinkResponse({ uplink: NAME, target, reason: `status ${status} body is not JSON` }, { cause: err });
          }
          const r = parsed as Partial<IngestResult> | null;
          const counts = ['accepted', 'duplicates', 'conflicts', 'quarantined'] as const;
          if (r === null || typeof r !== 'object' || counts.some((k) => !Number.isSafeInteger(r[k]) || r[k]! < 0)) {
            throw new ErrUplinkResponse({ uplink: NAME, target, reason: `status ${status} body is not { accepted, duplicates, conflicts, quarantined }` });
          }
          return { accepted: r.accepted!, duplicates: r.duplicates!, conflicts: r.conflicts!, quarantined: r.quarantined! };
        }
        const server = serverError(text);
        const reason = server.message ?? (text.length > 0 ? text.slice(0, 200) : res.statusText || `HTTP ${status}`);
        const code = server.code === undefined ? {} : { code: server.code };
        if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
          throw new ErrUplinkRejected({ uplink: NAME, status, ...code, reason });
        }
        const retryAfterMs = parseRetryAfter(res.retryAfter);
        throw new ErrUplinkUnreachable({ uplink: NAME, target, status, ...code, reason, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        inflight.delete(ac);
      }
    },

    close(): Promise<void> {
      closed = true;
      for (const ac of inflight) ac.abort();
      return Promise.resolve();
    },
  };
}
