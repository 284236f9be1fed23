/**
 * tunnel-cloud's HTTP proxy: how clients in the cloud reach addresses on edge
 * nodes through their tunnels.
 *
 * - `CONNECT host:port` (and `[v6]:port`): what kube-apiserver's
 *   EgressSelector `HTTPConnect` dialer and `curl -p` send. The answer is
 *   `HTTP/1.1 200 Connection established` with no headers, written only once
 *   the tunnel stream is open, then bytes are spliced both ways (the bytes a
 *   client pipelined after its request head included). The Go dialer reads the
 *   answer with `http.ReadResponse` and wants status 200 and nothing buffered
 *   behind it, so node bytes are relayed only after the answer is flushed.
 * - Absolute-form requests (`GET http://node-a:8080/path`): a forward proxy.
 *   Each request goes origin-form over its own tunnel stream, hop-by-hop
 *   headers and Proxy-Authorization removed; the answer is streamed back, and
 *   the client's connection stays alive. Upgrades (WebSocket) are relayed raw.
 * - Refusals are real HTTP answers with a JSON body `{code, message}`.
 *
 * Who may ask is `authorize`'s decision (a Proxy-Authorization token, or the
 * verified client certificate's CN on the mTLS listener); where a host goes is
 * `route`'s. Each principal has a cap on concurrent tunnelled connections.
 */
import { createServer as createHttpServer, request as httpRequest, STATUS_CODES, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIPv6, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { describeError, isEdgeError, toErrorInfo, type Logger } from '../kernel/index.ts';
import {
  ErrDialFailed,
  ErrNotAllowed,
  ErrProxyBadOptions,
  ErrProxyBadTarget,
  ErrProxyInternal,
  ErrProxyListen,
  ErrProxyMalformedRequest,
  ErrProxyNoRoute,
  ErrProxyNotAProxyRequest,
  ErrProxyOpenTimeout,
  ErrProxyStopping,
  ErrProxyTooManyConnections,
  ErrProxyUnauthenticated,
  ErrProxyUpstream,
  ErrStreamRefused,
} from './errors.ts';
import { spliceStreams } from './splice.ts';

export { spliceStreams };

export interface ProxyTarget {
  node: string;
  host: string;
  port: number;
}

export type OpenTunnel = (node: string, target: { kind: 'tcp'; host: string; port: number }) => Promise<Duplex>;

export interface TunnelProxyOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 = any. */
  port: number;
  /** TLS for the proxy listener; with requestClientCert, clients authenticate by a certificate the CA issued (kube-apiserver egress mTLS). */
  tls?: { cert: string; key: string; ca?: string; requestClientCert?: boolean };
  /**
   * Who is asking. Gets the Proxy-Authorization header (Bearer <token> or Basic with the token as password;
   * `proxyCredential` extracts the token) and the verified client certificate's CN; returns a principal name,
   * or undefined → 407 with Proxy-Authenticate.
   */
  authorize(input: { proxyAuthorization?: string; clientCertCommonName?: string; remoteAddress?: string }): string | undefined | Promise<string | undefined>;
  /** Maps the requested host (a node name, or an address a node is known by) and port to the node and the address its tunnel-edge dials; undefined → 404. */
  route(host: string, port: number): ProxyTarget | undefined | Promise<ProxyTarget | undefined>;
  open: OpenTunnel;
  logger: Logger;
  /** Caps concurrent tunnelled connections per principal (default 1024); over it → 429. */
  maxConnectionsPerPrincipal?: number;
  /** How long a tunnel stream may take to open (default 15 000 ms, above tunnel-edge's 10 s dial timeout); over it → 504. */
  openTimeoutMs?: number;
}

export interface TunnelProxy {
  readonly port: number;
  readonly url: string;
  /** Tunnelled connections open now (CONNECT tunnels, forwarded requests in flight, upgrades). */
  connections(): number;
  close(): Promise<void>;
}

/** A refusal as the client sees it: HTTP status and the most specific code. */
export interface Refusal {
  status: number;
  code: string;
  message: string;
}

/** What the edge's refusal codes mean for an HTTP client. */
const EDGE_REFUSAL_STATUS: Readonly<Record<string, number>> = {
  [ErrNotAllowed.code]: 403,
  [ErrDialFailed.code]: 502,
};

/** Maps any failure to the status and code a client gets; a stream the edge refused carries the edge's own code. */
export function refusalOf(err: unknown): Refusal {
  if (ErrStreamRefused.is(err)) {
    const code = err.params.code;
    return { status: EDGE_REFUSAL_STATUS[code] ?? 502, code, message: err.params.reason };
  }
  // What broke inside stays in the log; the client learns only that it did.
  if (ErrProxyInternal.is(err)) return { status: 500, code: err.code, message: 'internal proxy error' };
  if (isEdgeError(err)) {
    const status = err.statusCode >= 400 && err.statusCode <= 599 ? err.statusCode : 500;
    return { status, code: err.code, message: err.message };
  }
  return { status: 500, code: ErrProxyInternal.code, message: 'internal proxy error' };
}

/** The token in a Proxy-Authorization header: `Bearer <token>`, or `Basic` with the token as password (any user name). */
export function proxyCredential(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const password = colon < 0 ? '' : decoded.slice(colon + 1);
  return password === '' ? undefined : password;
}

const HOST_NAME = /^[A-Za-z0-9._~%-]+$/;

/** Parses a CONNECT target `host:port` or `[v6]:port`; the host comes back without brackets. */
export function parseAuthority(target: string): { host: string; port: number } {
  const shown = target.length > 300 ? `${target.slice(0, 300)}…` : target;
  const m = /^\[([^\]]+)\]:([^:]*)$/.exec(target) ?? /^([^:[\]]*):([^:]*)$/.exec(target);
  if (!m) throw new ErrProxyBadTarget({ target: shown, reason: 'expected host:port or [ipv6]:port' });
  const host = m[1]!;
  const bracketed = target.startsWith('[');
  if (bracketed ? !isIPv6(host) : !HOST_NAME.test(host)) {
    throw new ErrProxyBadTarget({ target: shown, reason: bracketed ? 'the bracketed host is not an IPv6 address' : 'the host is empty or has characters a host name cannot have' });
  }
  return { host, port: parsePort(m[2]!, shown) };
}

function parsePort(text: string, shown: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new ErrProxyBadTarget({ target: shown, reason: `port '${text}' is not a number from 1 to 65535` });
  return port;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Header pairs without hop-by-hop ones (nor those the Connection header names), nor `drop`. */
function endToEnd(rawHeaders: readonly string[], drop: readonly string[] = [], keep: readonly string[] = []): [string, string][] {
  const named = new Set<string>(drop);
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== 'connection') continue;
    for (const token of rawHeaders[i + 1]!.split(',')) named.add(token.trim().toLowerCase());
  }
  const out: [string, string][] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (!keep.includes(lower) && (HOP_BY_HOP.has(lower) || named.has(lower))) continue;
    out.push([name, rawHeaders[i + 1]!]);
  }
  return out;
}

function toHeaderObject(pairs: readonly [string, string][]): OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of pairs) {
    const key = name.toLowerCase();
    const had = out[key];
    out[key] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return out;
}

function jsonBody(r: Refusal): string {
  return JSON.stringify({ code: r.code, message: r.message });
}

function refusalHeaders(r: Refusal, body: string): Record<string, string> {
  return {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    ...(r.status === 407 ? { 'proxy-authenticate': 'Bearer realm="edgeadm"' } : {}),
  };
}

/** Answers on a raw socket (CONNECT, upgrade) and closes it. */
function refuseRaw(socket: Duplex, r: Refusal): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = jsonBody(r);
  const head = Object.entries({ ...refusalHeaders(r, body), connection: 'close' })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  // Whatever the client sent is drained, so its end is seen and the socket closes; a client that never ends is cut off.
  socket.resume();
  socket.end(`HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? 'Error'}\r\n${head}\r\n${body}`);
  const linger = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
  socket.once('close', () => clearTimeout(linger));
}

/** How long a refused raw client may keep its side open after the answer. */
const REFUSAL_LINGER_MS = 5_000;

function refuseResponse(res: ServerResponse, r: Refusal): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = jsonBody(r);
  res.writeHead(r.status, refusalHeaders(r, body)).end(body);
}

function describeTarget(t: ProxyTarget): string {
  return `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
}

function clientCertCommonName(socket: Socket): string | undefined {
  const tls = socket as Partial<TLSSocket>;
  if (!tls.encrypted || !tls.authorized || typeof tls.getPeerCertificate !== 'function') return undefined;
  const cn = tls.getPeerCertificate().subject?.CN as unknown;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}

function validate(o: TunnelProxyOptions): void {
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new ErrProxyBadOptions({ field: 'port', reason: `must be an integer from 0 to 65535, got ${String(o.port)}` });
  if (o.host !== undefined && (typeof o.host !== 'string' || o.host === '')) throw new ErrProxyBadOptions({ field: 'host', reason: 'must be a non-empty address' });
  const max = o.maxConnectionsPerPrincipal;
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) throw new ErrProxyBadOptions({ field: 'maxConnectionsPerPrincipal', reason: `must be a positive integer, got ${String(max)}` });
  const t = o.openTimeoutMs;
  if (t !== undefined && (!Number.isInteger(t) || t < 1)) throw new ErrProxyBadOptions({ field: 'openTimeoutMs', reason: `must be a positive integer, got ${String(t)}` });
  for (const f of ['authorize', 'route', 'open'] as const) {
    if (typeof o[f] !== 'function') throw new ErrProxyBadOptions({ field: f, reason: 'must be a function' });
  }
  if (o.tls) {
    if (!o.tls.cert) throw new ErrProxyBadOptions({ field: 'tls.cert', reason: 'is required with tls' });
    if (!o.tls.key) throw new ErrProxyBadOptions({ field: 'tls.key', reason: 'is required with tls' });
    if (o.tls.requestClientCert && !o.tls.ca) throw new ErrProxyBadOptions({ field: 'tls.ca', reason: 'is required with requestClientCert: client certificates are verified against it' });
  }
}

/** Listens on `host:port`; a failure becomes a coded error naming the address. */
export function listenOn(server: NetServer, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error): void => reject(new ErrProxyListen({ address: `${host}:${port}`, reason: describeError(err) }, { cause: err }));
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

interface Admitted {
  principal: string;
  target: ProxyTarget;
  stream: Duplex;
  /** Gives the principal's slot back; idempotent. */
  release: () => void;
}

export async function startTunnelProxy(o: TunnelProxyOptions): Promise<TunnelProxy> {
  validate(o);
  const log = o.logger.child({ component: 'tunnel-proxy' });
  const host = o.host ?? '127.0.0.1';
  const maxPerPrincipal = o.maxConnectionsPerPrincipal ?? 1024;
  const openTimeoutMs = o.openTimeoutMs ?? 15_000;
  const perPrincipal = new Map<string, number>();
  let total = 0;
  let closing = false;
  /** Raw client sockets (CONNECT, upgrades) and tunnel streams, destroyed on close. */
  const live = new Set<Duplex>();
  /** Opens in flight: each cancels itself when the proxy closes. */
  const pending = new Set<() => void>();

  const server: Server = o.tls
    ? createHttpsServer({
        cert: o.tls.cert,
        key: o.tls.key,
        ...(o.tls.ca ? { ca: o.tls.ca } : {}),
        requestCert: o.tls.requestClientCert === true,
        // Verification still happens; an unverified certificate just never names a principal.
        rejectUnauthorized: false,
      })
    : createHttpServer();

  const track = (d: Duplex): void => {
    if (d.destroyed) return;
    live.add(d);
    d.once('close', () => live.delete(d));
  };

  const acquire = (principal: string): (() => void) => {
    const n = perPrincipal.get(principal) ?? 0;
    if (n >= maxPerPrincipal) throw new ErrProxyTooManyConnections({ principal, limit: maxPerPrincipal });
    perPrincipal.set(principal, n + 1);
    total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      total--;
      const left = (perPrincipal.get(principal) ?? 1) - 1;
      if (left <= 0) perPrincipal.delete(principal);
      else perPrincipal.set(principal, left);
    };
  };

  /** Opens the stream, or fails with a timeout or the proxy stopping; a stream that arrives too late is destroyed. */
  const openWithin = (target: ProxyTarget): Promise<Duplex> =>
    new Promise<Duplex>((resolve, reject) => {
      let settled = false;
      const finish = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        pending.delete(cancel);
        return true;
      };
      const cancel = (): void => {
        if (finish()) reject(new ErrProxyStopping({}));
      };
      const timer = setTimeout(() => {
        if (finish()) reject(new ErrProxyOpenTimeout({ node: target.node, target: describeTarget(target), timeoutMs: openTimeoutMs }));
      }, openTimeoutMs);
      pending.add(cancel);
      let opening: Promise<Duplex>;
      try {
        opening = o.open(target.node, { kind: 'tcp', host: target.host, port: target.port });
      } catch (err) {
        opening = Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      opening.then(
        (stream) => {
          if (finish()) resolve(stream);
          else stream.destroy();
        },
        (err: unknown) => {
          if (finish()) reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });

  /** authorize → route → a slot for the principal → open. Throws a coded error for each refusal. */
  const admit = async (req: IncomingMessage, host: string, port: number, shown: string): Promise<Admitted> => {
    let principal: string | undefined;
    const proxyAuthorization = req.headers['proxy-authorization'];
    const commonName = clientCertCommonName(req.socket);
    const remoteAddress = req.socket.remoteAddress;
    try {
      principal = await o.authorize({
        ...(proxyAuthorization !== undefined ? { proxyAuthorization } : {}),
        ...(commonName !== undefined ? { clientCertCommonName: commonName } : {}),
        ...(remoteAddress !== undefined ? { remoteAddress } : {}),
      });
    } catch (err) {
      throw isEdgeError(err) ? err : new ErrProxyInternal({ stage: 'authorize', reason: describeError(err) }, { cause: err });
    }
    if (!principal) throw new ErrProxyUnauthenticated({ target: shown });
    let target: ProxyTarget | undefined;
    try {
      target = await o.route(host, port);
    } catch (err) {
      throw isEdgeError(err) ? err : new ErrProxyInternal({ stage: 'route', reason: describeError(err) }, { cause: err });
    }
    if (!target) throw new ErrProxyNoRoute({ host, port });
    if (closing) throw new ErrProxyStopping({});
    const release = acquire(principal);
    try {
      const stream = await openWithin(target);
      stream.on('error', (err) => log.debug({ node: target.node, error: toErrorInfo(err) }, 'tunnel stream error'));
      return { principal, target, stream, release };
    } catch (err) {
      release();
      throw err;
    }
  };

  const logRefusal = (req: IncomingMessage, target: string, err: unknown): Refusal => {
    const r = refusalOf(err);
    const fields = { method: req.method, target, remote: req.socket.remoteAddress, status: r.status, error: toErrorInfo(err) };
    if (r.status === 500) log.error(fields, 'proxy request failed');
    else log.info(fields, 'proxy request refused');
    return r;
  };

  /** A CONNECT tunnel, or an upgrade relayed raw: the raw socket is spliced to a tunnel stream. */
  const tunnel = async (req: IncomingMessage, socket: Duplex, head: Buffer, firstBytes: (target: ProxyTarget) => Buffer | undefined, shown: string, parse: () => { host: string; port: number }): Promise<void> => {
    track(socket);
    socket.on('error', (err) => log.debug({ error: toErrorInfo(err) }, 'client connection error'));
    let a: Admitted;
    try {
      const { host: h, port: p } = parse();
      a = await admit(req, h, p, shown);
    } catch (err) {
      refuseRaw(socket, logRefusal(req, shown, err));
      return;
    }
    const { stream, release, target, principal } = a;
    if (socket.destroyed || closing) {
      stream.destroy();
      release();
      if (!socket.destroyed) socket.destroy();
      return;
    }
    track(stream);
    log.debug({ principal, node: target.node, target: describeTarget(target), method: req.method }, 'tunnel opened');
    const first = firstBytes(target);
    const start = (): void => {
      if (head.length > 0) stream.write(head);
      spliceStreams(socket, stream, release, log);
    };
    if (first) {
      stream.write(first);
      start();
    } else {
      // Node bytes follow only once the answer is flushed: a Go client must find nothing buffered behind it.
      socket.write('HTTP/1.1 200 Connection established\r\n\r\n', (err) => {
        if (err) {
          stream.destroy();
          socket.destroy();
          release();
          return;
        }
        start();
      });
    }
  };

  server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const shown = req.url ?? '';
    void tunnel(req, socket, head, () => undefined, shown, () => parseAuthority(shown));
  });

  const absoluteTarget = (req: IncomingMessage): { url: URL; host: string; port: number } => {
    const raw = req.url ?? '';
    if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(raw)) throw new ErrProxyNotAProxyRequest({ method: req.method ?? '?', url: raw.length > 300 ? `${raw.slice(0, 300)}…` : raw });
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ErrProxyBadTarget({ target: raw, reason: 'not a valid URL' });
    }
    if (url.protocol !== 'http:') throw new ErrProxyBadTarget({ target: raw, reason: `only http:// URLs are forwarded; for ${url.protocol}// use CONNECT` });
    const h = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (h === '') throw new ErrProxyBadTarget({ target: raw, reason: 'the URL has no host' });
    return { url, host: h, port: url.port === '' ? 80 : Number(url.port) };
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    let parsed: { url: URL; host: string; port: number } | undefined;
    const shown = req.url ?? '';
    void tunnel(
      req,
      socket,
      head,
      () => {
        const { url } = parsed!;
        const headers = endToEnd(req.rawHeaders, ['host'], ['connection', 'upgrade']);
        const lines = [`${req.method} ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, ...headers.map(([k, v]) => `${k}: ${v}`)];
        return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
      },
      shown,
      () => (parsed = absoluteTarget(req)),
    );
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void forward(req, res);
  });

  const forward = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const shown = req.url ?? '';
    let parsed: { url: URL; host: string; port: number };
    let a: Admitted;
    try {
      parsed = absoluteTarget(req);
      a = await admit(req, parsed.host, parsed.port, shown);
    } catch (err) {
      refuseResponse(res, logRefusal(req, shown, err));
      return;
    }
    const { stream, release, target } = a;
    if (stream.closed) release();
    else stream.once('close', release);
    if (res.destroyed || closing) {
      stream.destroy();
      return;
    }
    track(stream);
    const headers = toHeaderObject(endToEnd(req.rawHeaders, ['host', 'expect']));
    headers.host = parsed.url.host;
    headers.connection = 'close';
    const upstream = httpRequest({
      method: req.method,
      path: `${parsed.url.pathname}${parsed.url.search}`,
      headers,
      setHost: false,
      // The tunnel stream stands in for the TCP connection; http's client only reads and writes it.
      createConnection: () => stream,
    });
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, toHeaderObject(endToEnd(answer.rawHeaders)));
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    upstream.on('error', (err) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      refuseResponse(res, logRefusal(req, shown, new ErrProxyUpstream({ node: target.node, target: describeTarget(target), reason: describeError(err) }, { cause: err })));
    });
    res.once('close', () => {
      upstream.destroy();
      stream.destroy();
    });
    req.pipe(upstream);
  };

  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    log.debug({ error: toErrorInfo(err) }, 'malformed request from a proxy client');
    if (err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    refuseRaw(socket, { ...refusalOf(new ErrProxyMalformedRequest({ reason: describeError(err) })), status });
  });

  const port = await listenOn(server, host, o.port);
  const url = `${o.tls ? 'https' : 'http'}://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  log.info({ url, mtls: o.tls?.requestClientCert === true }, 'tunnel proxy listening');

  let closed: Promise<void> | undefined;
  return {
    port,
    url,
    connections: () => total,
    close() {
      closed ??= (async () => {
        closing = true;
        for (const cancel of [...pending]) cancel();
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const d of [...live]) d.destroy();
        server.closeAllConnections();
        await done;
        log.info({ url }, 'tunnel proxy stopped');
      })();
      return closed;
    },
  };
}
