/**
 * A raw HTTP client for the Kubernetes API test server's own tests: plain
 * requests (JSON in, JSON out, headers kept) and watch streams read line by
 * line, over undici with the server's CA, and `useKubeApiServer` for a test
 * file's server and client. Real clients (kubectl,
 * @kubernetes/client-node) are tested separately.
 */
import { Agent, request } from 'undici';
import { afterAll, beforeAll } from 'vitest';
import { startKubeApiServer, type KubeApiServer, type KubeApiServerOptions } from './server.ts';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test assertions walk arbitrary Kubernetes JSON
  body: any;
}

/** One watch event as read from the stream. */
export interface RawWatchEvent {
  type: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- arbitrary Kubernetes JSON
  object: any;
}

/** Where `rawClient` connects: this test server or anything serving its API (a proxy in front of it). */
export interface RawClientTarget {
  url: string;
  /** The CA to verify the server's certificate with; undefined for plain HTTP. */
  caPem: string | undefined;
  /** The default bearer token (a KubeApiServer's admin token). */
  token?: string;
}

/**
 * A client bound to one server; `token: null` (the default when the target
 * has no token) sends no Authorization header; `tls` is a client
 * certificate and key (PEM) to present.
 */
export function rawClient(server: RawClientTarget, token: string | null = server.token ?? null, tls: { cert?: string; key?: string } = {}) {
  const dispatcher = new Agent({ connect: { ...(server.caPem !== undefined ? { ca: server.caPem } : {}), ...tls } });
  const headers = (extra: Record<string, string> = {}): Record<string, string> => ({
    ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
    ...extra,
  });

  async function call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<RawResponse> {
    const r = await request(`${server.url}${path}`, {
      method: method as 'GET',
      dispatcher,
      headers: headers(body !== undefined ? { 'content-type': contentType } : {}),
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await r.body.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (health endpoints): kept as text
    }
    return { status: r.statusCode, headers: r.headers, body: parsed };
  }

  /**
   * Opens a watch; `next()` resolves with the next event (rejecting after
   * `timeoutMs`), `ended` once the server closed the stream.
   */
  async function watch(path: string) {
    const ac = new AbortController();
    const r = await request(`${server.url}${path}`, { method: 'GET', dispatcher, headers: headers(), signal: ac.signal });
    const queue: RawWatchEvent[] = [];
    const waiters: (() => void)[] = [];
    let buf = '';
    let done = false;
    const wake = (): void => {
      for (const w of waiters.splice(0)) w();
    };
    const ended = (async () => {
      try {
        for await (const chunk of r.body) {
          buf += (chunk as Buffer).toString('utf8');
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.trim() !== '') queue.push(JSON.parse(line) as RawWatchEvent);
          }
          wake();
        }
      } catch {
        // aborted by close()
      }
      done = true;
      wake();
    })();
    return {
      status: r.statusCode,
      ended,
      async next(timeoutMs = 3000): Promise<RawWatchEvent> {
        const until = Date.now() + timeoutMs;
        while (queue.length === 0) {
          if (done) throw new Error(`watch ${path} ended with no further event`);
          const left = until - Date.now();
          if (left <= 0) throw new Error(`no watch event on ${path} within ${timeoutMs} ms`);
          await new Promise<void>((res) => {
            const t = setTimeout(res, left);
            waiters.push(() => {
              clearTimeout(t);
              res();
            });
          });
        }
        return queue.shift() as RawWatchEvent;
      },
      /** Events received so far and not yet taken. */
      pending(): RawWatchEvent[] {
        return queue.splice(0);
      },
      close(): void {
        ac.abort();
      },
    };
  }

  return { call, watch, close: () => dispatcher.close() };
}

/** The client of `rawClient`. */
export type RawClient = ReturnType<typeof rawClient>;

/**
 * One server and its raw client for a test file: started before its tests,
 * closed after them. Read `server` and `c` inside tests (they are set then).
 */
export function useKubeApiServer(opts: KubeApiServerOptions = {}): { readonly server: KubeApiServer; readonly c: RawClient } {
  const state: { server?: KubeApiServer; c?: RawClient } = {};
  beforeAll(async () => {
    state.server = await startKubeApiServer(opts);
    state.c = rawClient(state.server);
  });
  afterAll(async () => {
    await state.c?.close();
    await state.server?.close();
  });
  return {
    get server() {
      return state.server as KubeApiServer;
    },
    get c() {
      return state.c as RawClient;
    },
  };
}
