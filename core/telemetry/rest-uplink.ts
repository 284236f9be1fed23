/**
 * The REST uplink: one gzip'd JSON POST per batch to the hub's
 * `/api/v1/sites/<site>/telemetry`, over fetch (undici's keep-alive pool in
 * Node). 2xx with `{ accepted, duplicates }` means the hub committed the
 * batch. 4xx other than 408/429 is EDGE_ERR_UPLINK_REJECTED (retrying will
 * not help); network errors, timeouts, 408, 429 and 5xx are
 * EDGE_ERR_UPLINK_UNREACHABLE (retry).
 */
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

export function createRestUplink(opts: RestUplinkOptions): Uplink {
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const target = `${opts.url.replace(/\/+$/, '')}/api/v1/sites/${encodeURIComponent(opts.site)}/telemetry`;
  const authorization = `Bearer ${opts.token}`;
  let closed = false;
  const inflight = new Set<AbortController>();

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
        let res: Response;
        let text: string;
        try {
          res = await doFetch(target, {
            method: 'POST',
            headers: { authorization, 'content-type': 'application/json', 'content-encoding': 'gzip' },
            body,
            signal: ac.signal,
            ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
          });
          text = await res.text();
        } catch (err) {
          if (timedOut) throw new ErrUplinkUnreachable({ uplink: NAME, target, reason: `no answer within ${timeoutMs} ms` }, { cause: err });
          if (ac.signal.aborted) throw new ErrUplinkAborted({ uplink: NAME }, { cause: err });
          throw new ErrUplinkUnreachable({ uplink: NAME, target, reason: networkReason(err) }, { cause: err });
        }
        const status = res.status;
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
        const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
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
