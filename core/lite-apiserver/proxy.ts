/**
 * lite-apiserver: the HTTPS proxy in front of kube-apiserver that keeps an
 * edge node's components (kubelet, kube-proxy, pods) working while the
 * cloud is unreachable, a reboot included.
 *
 * Who is who. Inbound TLS verifies client certificates against the cluster's
 * client CA. A client presenting `system:node:<this node>` is re-presented
 * upstream with the node's own credential (its kubeconfig); any other
 * certificate (another node, another user) is refused with 403, since the
 * proxy holds no credential of theirs. A client with a bearer token is
 * passed through with its token; one with neither goes through anonymous.
 * The node's credential is never a cluster-admin one (upstream.ts).
 * Requests carrying Impersonate-* headers pass through and are never cached.
 *
 * Online, every request goes upstream and the answer streams back; GET and
 * LIST answers are recorded (cache.ts), watch events that pass through are
 * folded into the cached lists. A request that cannot reach the upstream
 * opens the breaker (breaker.ts): from then on every request is answered
 * locally at once while a probe tries the upstream in the background. Back
 * online, the node's offline writes are reconciled and every cached list is
 * re-listed before requests go upstream again; offline watches then end, so
 * clients watch the upstream from where they were.
 *
 * Offline answers: GET and LIST from the cache (404 only when a complete,
 * unselected list shows the object does not exist), a watch as a real open
 * stream from the folded list (initial events, the events after the asked
 * resourceVersion, bookmarks; 410 Gone in the stream when the version is
 * older than the history), the node's own registration, status and Lease
 * writes (node-writes.ts), and 503 with Retry-After for everything else.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Counter, Gauge, Registry } from 'prom-client';
import { type Logger, toErrorInfo } from '../kernel/index.ts';
import { Breaker, type UpstreamState } from './breaker.ts';
import { ProxyCache, type CachedAnswer } from './cache.ts';
import type { KubeObject, WatchEvent } from './collections.ts';
import { ErrAdminCredential, ErrClientIdentity, ErrLiteApiserverOptions, ErrNotCached } from './errors.ts';
import { NodeWrites } from './node-writes.ts';
import { kubeStatus } from './patch.ts';
import { parseApiRequest, type ApiRequest } from './request.ts';
import { openCacheStorage, type StorageDriver, type StorageStats } from './storage.ts';
import { checkNotAdmin, loadUpstreamCredential, nodeAuthHeaders, upstreamPools, type UpstreamCredential, type UpstreamPools } from './upstream.ts';

/** SuperEdge's lite-apiserver port, kept so its kubelet configuration applies unchanged. */
export const LITE_APISERVER_PORT = 51003;

export interface LiteApiserverOptions {
  /** The node this proxy serves: `system:node:<nodeName>` is re-presented with the node's credential. */
  nodeName: string;
  /** The node's own kubeconfig (the kubelet's): the upstream server, its CA and the node's credential. */
  kubeconfig: string;
  /** The cloud's API server, instead of the kubeconfig's (whose server is this proxy once the kubelet uses it). */
  server?: string;
  /** Where to listen (default 127.0.0.1:51003). */
  listen?: { host?: string; port?: number };
  /** Serving certificate and key, and the CA client certificates must be signed by (PEM text or files). */
  tls: { cert: string; key: string; clientCa: string } | { certFile: string; keyFile: string; clientCaFile: string };
  /** The cache: driver chosen explicitly, its path, its size bound (default 256 MiB). */
  storage: { driver: StorageDriver; path: string; maxBytes?: number };
  /** Longest wait for a connection to the upstream (default 3000 ms); only requests while online and the probe pay it. */
  dialTimeoutMs?: number;
  /** Longest wait for an answer's headers (default 30000 ms). */
  requestTimeoutMs?: number;
  /** Probe backoff while offline (default 500 ms doubling to 5000 ms). */
  probe?: { initialMs?: number; maxMs?: number };
  /** Offline watches: bookmark interval (default 60 s, as kube-apiserver) and events kept per list (default 1000). */
  watch?: { bookmarkIntervalMs?: number; historyLimit?: number };
  /** Longest answer recorded (default 16 MiB): a larger one streams through uncached. */
  maxEntryBytes?: number;
  /** Registry for the proxy's metrics (default: its own). */
  registry?: Registry;
  /** Called after each change of the upstream's state (the site agent reports it to the hub at once). */
  onStateChange?: (state: UpstreamState) => void;
  logger?: Logger;
}

export interface LiteApiserverStatus {
  node: string;
  upstream: string;
  state: UpstreamState;
  /** When the state began (RFC 3339). */
  since: string;
  lastError?: string;
  /** Seconds not online since start. */
  offlineSeconds: number;
  outages: number;
  requests: { upstream: number; cache: number; local: number; miss: number };
  cache: StorageStats;
  watches: { proxied: number; offline: number };
  pending: { create: boolean; status: boolean; lease: boolean };
}

export interface LiteApiserver {
  /** `https://host:port`. */
  readonly url: string;
  readonly registry: Registry;
  status(): LiteApiserverStatus;
  /**
   * A GET (or LIST) as the node itself, for the site agent's own use: from
   * the upstream while it answers (the answer then cached as any of the
   * node's), from the cache while it does not. Rejects with
   * EDGE_ERR_LITE_APISERVER_NOT_CACHED when offline and nothing cached
   * answers it.
   */
  nodeGet(pathAndQuery: string): Promise<{ status: number; body: unknown; from: 'upstream' | 'cache' }>;
  close(): Promise<void>;
}

type Client =
  | { kind: 'node'; key: string; user: string }
  | { kind: 'bearer'; key: string; authorization: string }
  | { kind: 'anonymous'; key: 'anonymous' };

const MAX_BODY = 3 * 1024 * 1024;
/** Bearer tokens remembered (in memory) to re-list their clients' lists after an outage. */
const MAX_TOKENS = 1024;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length']);
const HEALTH_PATHS = new Set(['/healthz', '/livez', '/readyz']);

/** A body as JSON, or its text when it is none. */
function parseJson(body: Buffer): unknown {
  const text = body.toString('utf8');
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return text;
  }
}

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

function statusBody(status: number, reason: string, message: string, code?: string): Buffer {
  return Buffer.from(JSON.stringify(kubeStatus(status, reason, message, code === undefined ? undefined : { causes: [{ reason: code, message }] })));
}

function sendStatus(res: http.ServerResponse, status: number, reason: string, message: string, code?: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = statusBody(status, reason, message, code);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length, ...(status === 503 ? { 'retry-after': '1' } : {}) });
  res.end(body);
}

function readText(file: string, option: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ErrLiteApiserverOptions({ option, reason: `cannot be read (${(err as Error).message})` }, { cause: err });
  }
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpProblem(413, 'RequestEntityTooLarge', 'the request body is larger than 3 MiB');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function checkOptions(o: LiteApiserverOptions): void {
  if (typeof o.nodeName !== 'string' || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(o.nodeName)) throw new ErrLiteApiserverOptions({ option: 'nodeName', reason: `must be a node name (got '${String(o.nodeName)}')` });
  const positive = (v: number | undefined, option: string): void => {
    if (v !== undefined && (!Number.isFinite(v) || v <= 0)) throw new ErrLiteApiserverOptions({ option, reason: `must be a positive number (got ${v})` });
  };
  positive(o.dialTimeoutMs, 'dialTimeoutMs');
  positive(o.requestTimeoutMs, 'requestTimeoutMs');
  positive(o.probe?.initialMs, 'probe.initialMs');
  positive(o.probe?.maxMs, 'probe.maxMs');
  positive(o.watch?.bookmarkIntervalMs, 'watch.bookmarkIntervalMs');
  positive(o.watch?.historyLimit, 'watch.historyLimit');
  positive(o.storage.maxBytes, 'storage.maxBytes');
  positive(o.maxEntryBytes, 'maxEntryBytes');
}

export async function startLiteApiserver(o: LiteApiserverOptions): Promise<LiteApiserver> {
  checkOptions(o);
  const log = o.logger;
  const cred: UpstreamCredential = loadUpstreamCredential(o.kubeconfig, o.server);
  const listenHost = o.listen?.host ?? '127.0.0.1';
  const listenPort = o.listen?.port ?? LITE_APISERVER_PORT;
  if (Number(cred.server.port || 443) === listenPort && ['127.0.0.1', 'localhost', '[::1]', listenHost].includes(cred.server.hostname)) {
    throw new ErrLiteApiserverOptions({ option: 'server', reason: `is ${cred.server.origin}, this proxy's own address: give the cloud's API server (the kubelet's kubeconfig points here once the proxy runs)` });
  }
  if (cred.certUser !== undefined && cred.certUser !== `system:node:${o.nodeName}`) {
    log?.warn({ user: cred.certUser, node: o.nodeName }, 'the node kubeconfig certificate is not system:node:<nodeName>');
  }
  const tls =
    'cert' in o.tls
      ? o.tls
      : { cert: readText(o.tls.certFile, 'tls.certFile'), key: readText(o.tls.keyFile, 'tls.keyFile'), clientCa: readText(o.tls.clientCaFile, 'tls.clientCaFile') };
  const dialTimeoutMs = o.dialTimeoutMs ?? 3000;
  const requestTimeoutMs = o.requestTimeoutMs ?? 30_000;
  const bookmarkIntervalMs = o.watch?.bookmarkIntervalMs ?? 60_000;
  const maxEntryBytes = o.maxEntryBytes ?? 16 * 1024 * 1024;
  /** The probe asks /readyz, which answers at once: a connection that says nothing for long is as good as none. */
  const probeAnswerMs = Math.min(requestTimeoutMs, 2 * dialTimeoutMs);
  const storage = await openCacheStorage({ driver: o.storage.driver, path: o.storage.path, maxBytes: o.storage.maxBytes ?? 256 * 1024 * 1024 }, log);
  const cache = new ProxyCache({ storage, ...(o.watch?.historyLimit === undefined ? {} : { historyLimit: o.watch.historyLimit }), ...(log === undefined ? {} : { logger: log }) });
  const nodeIdentity = `node:${o.nodeName}`;
  const nodeWrites = new NodeWrites({ nodeName: o.nodeName, identity: nodeIdentity, cache });
  const pools: UpstreamPools = upstreamPools(cred);
  /** Bearer tokens seen since start, by identity key: kept in memory only, to re-list their cached lists after an outage. */
  const tokens = new Map<string, string>();
  const offlineWatches = new Set<http.ServerResponse>();
  let proxiedWatches = 0;
  let adminProblem: Error | undefined;
  let adminChecked = cred.token === undefined; // a certificate's group was checked at load
  const counts = { upstream: 0, cache: 0, local: 0, miss: 0 };

  // ---- metrics
  const registry = o.registry ?? new Registry();
  const requestsTotal = new Counter({ name: 'edgeadm_lite_apiserver_requests_total', help: 'Requests by who answered: upstream, cache, local (an offline write), miss (offline, nothing cached).', labelNames: ['answer'], registers: [registry] });
  const hits = new Counter({ name: 'edgeadm_lite_apiserver_cache_hits_total', help: 'Offline requests answered from the cache.', registers: [registry] });
  const misses = new Counter({ name: 'edgeadm_lite_apiserver_cache_misses_total', help: 'Offline requests nothing cached could answer.', registers: [registry] });
  let offlineReported = 0;
  new Counter({
    name: 'edgeadm_lite_apiserver_offline_seconds_total',
    help: 'Seconds the upstream was not online (offline or resyncing) since start.',
    registers: [registry],
    collect() {
      const s = breaker.offlineMs() / 1000;
      if (s > offlineReported) this.inc(s - offlineReported);
      offlineReported = Math.max(offlineReported, s);
    },
  });
  new Gauge({
    name: 'edgeadm_lite_apiserver_upstream_online',
    help: '1 while requests go upstream, 0 while offline or resyncing.',
    registers: [registry],
    collect() {
      this.set(breaker.state === 'online' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'edgeadm_lite_apiserver_cache_bytes',
    help: 'Bytes the cache holds (keys, metadata, bodies).',
    registers: [registry],
    collect() {
      this.set(storage.stats().bytes);
    },
  });
  new Gauge({
    name: 'edgeadm_lite_apiserver_cache_entries',
    help: 'Entries the cache holds.',
    registers: [registry],
    collect() {
      this.set(storage.stats().entries);
    },
  });
  new Gauge({
    name: 'edgeadm_lite_apiserver_cache_evictions',
    help: 'Entries evicted to stay under the size bound since start.',
    registers: [registry],
    collect() {
      this.set(storage.stats().evictions);
    },
  });
  const count = (answer: keyof typeof counts): void => {
    counts[answer] += 1;
    requestsTotal.inc({ answer });
    if (answer === 'cache') hits.inc();
    if (answer === 'miss') misses.inc();
  };

  // ---- upstream calls
  type Sent = { res: http.IncomingMessage; req: http.ClientRequest };
  /** Sends one request upstream; rejects only when no answer's headers arrive (unreachable, timeout). */
  const send = (method: string, pathAndQuery: string, headers: http.OutgoingHttpHeaders, agent: https.Agent, body: Buffer | undefined, answerMs = requestTimeoutMs): Promise<Sent> =>
    new Promise((resolve, reject) => {
      const req = https.request(new URL(pathAndQuery, cred.server), { method, agent, headers: { ...headers, ...(body === undefined ? {} : { 'content-length': body.length }) } });
      let dial: NodeJS.Timeout | undefined;
      const answerTimer = setTimeout(() => req.destroy(new Error(`no answer from ${cred.server.host} in ${answerMs} ms`)), answerMs);
      req.on('socket', (socket) => {
        // A new connection: TCP and the TLS handshake within the dial timeout (a cut link behind a NAT accepts TCP and then says nothing).
        if (!socket.connecting) return;
        dial = setTimeout(() => req.destroy(new Error(`no connection to ${cred.server.host} in ${dialTimeoutMs} ms`)), dialTimeoutMs);
        socket.once('secureConnect', () => clearTimeout(dial));
      });
      req.on('response', (res) => {
        clearTimeout(answerTimer);
        clearTimeout(dial);
        resolve({ res, req });
      });
      req.on('error', (err) => {
        clearTimeout(answerTimer);
        clearTimeout(dial);
        reject(err);
      });
      req.end(body);
    });

  /** One whole upstream call with the node's credential (JSON in and out), for the probe and the resync. */
  const nodeCall = async (method: string, path: string, body?: unknown, contentType = 'application/json', answerMs = requestTimeoutMs): Promise<{ status: number; body: unknown }> => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const { res } = await send(method, path, { ...nodeAuthHeaders(cred), accept: 'application/json', ...(payload === undefined ? {} : { 'content-type': contentType }) }, pools.node, payload, answerMs);
    const chunks: Buffer[] = [];
    for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
    return { status: res.statusCode ?? 0, body: parseJson(Buffer.concat(chunks)) };
  };

  const checkCredential = async (): Promise<void> => {
    if (adminChecked) return;
    try {
      await checkNotAdmin(cred, pools, requestTimeoutMs);
      adminChecked = true;
    } catch (err) {
      if (ErrAdminCredential.is(err)) {
        adminProblem = err;
        adminChecked = true;
        log?.error({ error: toErrorInfo(err) }, 'the node credential is a cluster-admin one: node requests are refused');
        return;
      }
      throw err;
    }
  };

  /** Re-lists one cached list with the credential of its identity; drops it when the upstream no longer lets it be read. */
  const relist = async (identity: string, key: string): Promise<void> => {
    const [, , path, selectors] = key.split('\u0000');
    const target = `${path ?? ''}${selectors === '' || selectors === undefined ? '' : `?${selectors}`}`;
    const authorization = identity === nodeIdentity ? nodeAuthHeaders(cred) : { authorization: tokens.get(identity) as string };
    const agent = identity === nodeIdentity ? pools.node : pools.bare;
    const { res } = await send('GET', target, { ...authorization, accept: 'application/json' }, agent, undefined);
    const chunks: Buffer[] = [];
    for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
    const status = res.statusCode ?? 0;
    if (status === 200) {
      const req = parseApiRequest('GET', target, 'application/json');
      cache.recordResponse(identity, req, String(res.headers['content-type'] ?? 'application/json'), Buffer.concat(chunks));
    } else if ([401, 403, 404, 410].includes(status)) {
      cache.collections.drop(key);
    }
  };

  const resync = async (): Promise<void> => {
    await checkCredential();
    if (adminProblem === undefined) await nodeWrites.reconcile({ request: nodeCall });
    const identities = [...(adminProblem === undefined ? [nodeIdentity] : []), ...tokens.keys()];
    for (const identity of identities) {
      const keys = cache.collectionKeys(identity);
      // A few at a time: the upstream just came back, and every node of the site may be re-listing.
      for (let i = 0; i < keys.length; i += 4) await Promise.all(keys.slice(i, i + 4).map((k) => relist(identity, k)));
    }
    cache.collections.flush();
  };

  const breaker = new Breaker({
    probe: async () => {
      const r = await nodeCall('GET', '/readyz', undefined, undefined, probeAnswerMs);
      if (r.status >= 500) throw new Error(`upstream /readyz answered ${r.status}`);
    },
    resync,
    probeInitialMs: o.probe?.initialMs ?? 500,
    probeMaxMs: o.probe?.maxMs ?? 5000,
    ...(log === undefined ? {} : { logger: log }),
    onChange: (state, previous, reason) => {
      log?.info({ state, previous, ...(reason === undefined ? {} : { reason }) }, 'lite-apiserver upstream state');
      if (state === 'online') {
        // Clients watch the upstream again, from the version they reached.
        for (const w of offlineWatches) w.end();
        offlineWatches.clear();
      }
      o.onStateChange?.(state);
    },
  });

  // ---- who is asking
  /** Who a connection's certificate says it is, decoded once per connection (it cannot change on one). */
  const byCertificate = new WeakMap<TLSSocket, Client | HttpProblem | null>();
  const identify = (req: http.IncomingMessage): Client => {
    const socket = req.socket as TLSSocket;
    let known = byCertificate.get(socket);
    if (known === undefined) {
      known = certificateClient(socket);
      byCertificate.set(socket, known);
    }
    if (known instanceof HttpProblem) throw known;
    if (known !== null) return known;
    const auth = req.headers.authorization;
    if (typeof auth === 'string' && /^bearer\s+\S+/i.test(auth)) {
      const key = `token:${createHash('sha256').update(auth.replace(/^bearer\s+/i, '')).digest('hex').slice(0, 32)}`;
      // The most recently seen first out last: bound tokens rotate, and a rotated one is not asked for again.
      tokens.delete(key);
      tokens.set(key, auth);
      if (tokens.size > MAX_TOKENS) tokens.delete(tokens.keys().next().value as string);
      return { kind: 'bearer', key, authorization: auth };
    }
    return { kind: 'anonymous', key: 'anonymous' };
  };

  /** The client a connection's certificate makes, a refusal, or null when it presented none. */
  const certificateClient = (socket: TLSSocket): Client | HttpProblem | null => {
    const peer = socket.getPeerCertificate();
    if (peer !== null && typeof peer === 'object' && Object.keys(peer).length > 0) {
      if (!socket.authorized) return new HttpProblem(401, 'Unauthorized', `client certificate rejected: ${String(socket.authorizationError)}`);
      const cn = Array.isArray(peer.subject?.CN) ? (peer.subject.CN[0] ?? '') : (peer.subject?.CN ?? '');
      if (cn === `system:node:${o.nodeName}`) return { kind: 'node', key: nodeIdentity, user: cn };
      const reason = cn.startsWith('system:node:') ? `this proxy serves node ${o.nodeName} only` : 'the proxy holds no upstream credential for it; use a bearer token';
      const e = new ErrClientIdentity({ user: cn, reason });
      return new HttpProblem(403, 'Forbidden', e.message, e.code);
    }
    return null;
  };

  const upstreamHeaders = (client: Client, req: http.IncomingMessage): http.OutgoingHttpHeaders => {
    const out: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && k !== 'authorization' && v !== undefined) out[k] = v;
    if (client.kind === 'node') Object.assign(out, nodeAuthHeaders(cred));
    if (client.kind === 'bearer') out.authorization = client.authorization;
    return out;
  };

  // ---- answering offline
  const sendCached = (res: http.ServerResponse, a: CachedAnswer): void => {
    res.writeHead(a.status, { 'content-type': a.contentType, 'content-length': a.body.length, 'x-edgeadm-lite-apiserver': `cache; source=${a.source}` });
    res.end(a.body);
  };

  const notCached = (res: http.ServerResponse, api: ApiRequest): void => {
    count('miss');
    const e = new ErrNotCached({ verb: api.verb, path: api.path });
    sendStatus(res, 503, 'ServiceUnavailable', e.message, e.code);
  };

  const offlineWatch = (client: Client, api: ApiRequest, res: http.ServerResponse): void => {
    const c = cache.collectionFor(client.key, api);
    if (c === undefined) return notCached(res, api);
    count('cache');
    const start = cache.collections.watchStart(c, api.query.get('resourceVersion') ?? undefined);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'x-edgeadm-lite-apiserver': 'cache; source=collection' });
    if (start.kind === 'gone') {
      const rv = api.query.get('resourceVersion') ?? '';
      const status = kubeStatus(410, 'Expired', `too old resource version: ${rv} (${start.current})`);
      res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
      return;
    }
    for (const ev of start.events) res.write(`${JSON.stringify(ev)}\n`);
    offlineWatches.add(res);
    const itemKind = c.kind.endsWith('List') ? c.kind.slice(0, -4) : c.kind;
    const timers: NodeJS.Timeout[] = [];
    if (api.query.get('allowWatchBookmarks') === 'true') {
      const t = setInterval(() => res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: itemKind, apiVersion: c.apiVersion, metadata: { resourceVersion: c.rv } } })}\n`), bookmarkIntervalMs);
      timers.push(t);
    }
    const timeoutSeconds = Number(api.query.get('timeoutSeconds') ?? '');
    if (Number.isFinite(timeoutSeconds) && timeoutSeconds > 0) timers.push(setTimeout(() => res.end(), timeoutSeconds * 1000));
    res.on('close', () => {
      for (const t of timers) clearTimeout(t);
      offlineWatches.delete(res);
    });
  };

  const answerLocally = (client: Client, api: ApiRequest, req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void => {
    if (HEALTH_PATHS.has(api.path) || req.headers['impersonate-user'] !== undefined) return notCached(res, api);
    if (client.kind === 'node' && adminProblem !== undefined) return sendStatus(res, 403, 'Forbidden', adminProblem.message, ErrAdminCredential.code);
    switch (api.verb) {
      case 'watch':
        return offlineWatch(client, api, res);
      case 'get':
      case 'list': {
        const found = api.verb === 'list' ? cache.lookupList(client.key, api) : cache.lookupGet(client.key, api);
        if (found.kind === 'hit') {
          count('cache');
          return sendCached(res, found.answer);
        }
        if (found.kind === 'absent') {
          count('cache');
          if (api.query.get('continue') !== null) return sendStatus(res, 410, 'Expired', 'the continue token cannot be served offline; list again without it');
          const r = api.resource;
          return sendStatus(res, 404, 'NotFound', `${r?.resource ?? 'object'} "${r?.name ?? ''}" not found`);
        }
        return notCached(res, api);
      }
      default: {
        if (client.kind === 'node' && nodeWrites.owns(api)) {
          let parsed: unknown;
          try {
            parsed = body.length === 0 ? undefined : JSON.parse(body.toString('utf8'));
          } catch {
            return sendStatus(res, 400, 'BadRequest', 'the request body is not JSON');
          }
          const answer = nodeWrites.answer(api, parsed, String(req.headers['content-type'] ?? 'application/json'));
          if (answer !== undefined) {
            count('local');
            const out = Buffer.from(JSON.stringify(answer.body));
            res.writeHead(answer.status, { 'content-type': 'application/json', 'content-length': out.length, 'x-edgeadm-lite-apiserver': 'local' });
            res.end(out);
            return;
          }
        }
        return notCached(res, api);
      }
    }
  };

  // ---- answering online
  const cacheable = (api: ApiRequest, req: http.IncomingMessage): boolean =>
    (api.verb === 'get' || api.verb === 'list') && !HEALTH_PATHS.has(api.path) && req.headers['impersonate-user'] === undefined && req.headers['impersonate-group'] === undefined;

  /** Sends the request upstream and streams the answer; false when the upstream could not be reached (nothing was answered). */
  const forward = async (client: Client, api: ApiRequest, req: http.IncomingMessage, res: http.ServerResponse, body: Buffer | undefined): Promise<boolean> => {
    if (client.kind === 'node' && adminProblem !== undefined) {
      sendStatus(res, 403, 'Forbidden', adminProblem.message, ErrAdminCredential.code);
      return true;
    }
    const agent = client.kind === 'node' ? pools.node : pools.bare;
    let sent: Sent;
    try {
      sent = await send(api.method, req.url ?? '/', upstreamHeaders(client, req), agent, body);
    } catch (err) {
      breaker.failed((err as Error).message);
      return false;
    }
    const up = sent.res;
    count('upstream');
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    if (up.headers['content-length'] !== undefined) headers['content-length'] = up.headers['content-length'];
    res.writeHead(up.statusCode ?? 502, headers);
    const status = up.statusCode ?? 0;
    const contentType = String(up.headers['content-type'] ?? '');
    const isJson = contentType.toLowerCase().startsWith('application/json');
    const record = status === 200 && cacheable(api, req);
    const recordWrite = status >= 200 && status < 300 && ['create', 'update', 'patch'].includes(api.verb) && isJson;
    const foldWatch = status === 200 && api.verb === 'watch' && isJson && api.resource !== undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    let partial = '';
    if (foldWatch) proxiedWatches += 1;
    let clientGone = false;
    res.on('close', () => {
      if (!res.writableFinished) {
        clientGone = true;
        sent.req.destroy();
      }
    });
    up.on('data', (chunk: Buffer) => {
      res.write(chunk);
      if (record || recordWrite) {
        size += chunk.length;
        if (size <= maxEntryBytes) chunks.push(chunk);
      }
      if (foldWatch) {
        partial += chunk.toString('utf8');
        let nl = partial.indexOf('\n');
        while (nl >= 0) {
          const line = partial.slice(0, nl);
          partial = partial.slice(nl + 1);
          if (line.trim() !== '') {
            try {
              const ev = JSON.parse(line) as WatchEvent | { type: 'ERROR' };
              if (ev.type !== 'ERROR') cache.fold(client.key, api, ev);
            } catch {
              // Not an event line (a proxy's keep-alive, a truncated stream): nothing to fold.
            }
          }
          nl = partial.indexOf('\n');
        }
      }
    });
    await new Promise<void>((resolve) => {
      up.on('end', () => {
        res.end();
        if (record && size <= maxEntryBytes) cache.recordResponse(client.key, api, contentType, Buffer.concat(chunks));
        if (recordWrite && size <= maxEntryBytes) recordWritten(client, api, Buffer.concat(chunks));
        resolve();
      });
      up.on('error', () => resolve());
      up.on('close', () => {
        if (!up.complete && !clientGone) {
          breaker.failed('the upstream closed a connection mid-answer');
          // A watch may end at any time: it ends cleanly, and the client watches again from where it was, now
          // answered from the cache. Any other answer cut short is cut short, never made to look whole.
          if (api.verb === 'watch') res.end();
          else res.destroy();
        }
        if (foldWatch) proxiedWatches -= 1;
        resolve();
      });
    });
    return true;
  };

  const recordWritten = (client: Client, api: ApiRequest, body: Buffer): void => {
    const r = api.resource;
    if (r === undefined) return;
    try {
      const o = JSON.parse(body.toString('utf8')) as KubeObject;
      const name = o.metadata?.name;
      if (typeof name !== 'string' || o.kind === 'Status') return;
      cache.recordObject(client.key, `${r.collectionPath}/${encodeURIComponent(name)}`, o);
    } catch {
      // Not JSON after all: nothing to record.
    }
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    let client: Client;
    try {
      client = identify(req);
    } catch (err) {
      if (err instanceof HttpProblem) return sendStatus(res, err.status, err.reason, err.message, err.code);
      throw err;
    }
    const api = parseApiRequest(req.method ?? 'GET', req.url ?? '/', req.headers.accept);
    const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await readBody(req);
    if (breaker.state === 'online') {
      if (await forward(client, api, req, res, body)) return;
    }
    answerLocally(client, api, req, res, body ?? Buffer.alloc(0));
  };

  const server = https.createServer({ cert: tls.cert, key: tls.key, ca: tls.clientCa, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpProblem) return sendStatus(res, err.status, err.reason, err.message, err.code);
      log?.warn({ error: toErrorInfo(err), path: req.url?.split('?')[0] }, 'lite-apiserver request failed');
      sendStatus(res, 500, 'InternalError', 'lite-apiserver: the request failed inside the proxy');
    });
  });
  server.keepAliveTimeout = 65_000;

  // The first probe decides where the node starts: a reboot without the cloud starts offline, so no request pays the dial.
  try {
    const r = await nodeCall('GET', '/readyz', undefined, undefined, probeAnswerMs);
    if (r.status >= 500) throw new Error(`upstream /readyz answered ${r.status}`);
    await checkCredential();
    if (adminProblem !== undefined) throw adminProblem;
    await nodeWrites.reconcile({ request: nodeCall });
  } catch (err) {
    if (ErrAdminCredential.is(err)) {
      storage.close();
      pools.destroy();
      throw err;
    }
    breaker.startOffline((err as Error).message);
  }

  const host = listenHost;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    breaker.close();
    cache.close();
    storage.close();
    pools.destroy();
    throw new ErrLiteApiserverOptions({ option: 'listen', reason: `cannot listen on ${host}:${listenPort} (${(err as Error).message})` }, { cause: err });
  }
  const { port } = server.address() as AddressInfo;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log?.info({ url, upstream: cred.server.origin, node: o.nodeName, storage: storage.driver, state: breaker.state }, 'lite-apiserver listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    registry,
    status(): LiteApiserverStatus {
      const lastError = breaker.lastError;
      return {
        node: o.nodeName,
        upstream: cred.server.origin,
        state: breaker.state,
        since: new Date(breaker.since).toISOString(),
        ...(lastError === undefined || breaker.state === 'online' ? {} : { lastError }),
        offlineSeconds: Math.round(breaker.offlineMs() / 100) / 10,
        outages: breaker.outages,
        requests: { ...counts },
        cache: storage.stats(),
        watches: { proxied: proxiedWatches, offline: offlineWatches.size },
        pending: nodeWrites.pending(),
      };
    },
    async nodeGet(pathAndQuery) {
      const api = parseApiRequest('GET', pathAndQuery, 'application/json');
      if (adminProblem !== undefined) throw adminProblem;
      if (breaker.state === 'online') {
        try {
          const { res } = await send('GET', pathAndQuery, { ...nodeAuthHeaders(cred), accept: 'application/json' }, pools.node, undefined);
          const chunks: Buffer[] = [];
          for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
          const body = Buffer.concat(chunks);
          const status = res.statusCode ?? 0;
          count('upstream');
          if (status === 200) cache.recordResponse(nodeIdentity, api, String(res.headers['content-type'] ?? 'application/json'), body);
          return { status, body: parseJson(body), from: 'upstream' as const };
        } catch (err) {
          breaker.failed((err as Error).message);
        }
      }
      const found = api.verb === 'list' ? cache.lookupList(nodeIdentity, api) : cache.lookupGet(nodeIdentity, api);
      if (found.kind === 'hit') {
        count('cache');
        return { status: found.answer.status, body: parseJson(found.answer.body), from: 'cache' as const };
      }
      if (found.kind === 'absent') {
        count('cache');
        return { status: 404, body: undefined, from: 'cache' as const };
      }
      count('miss');
      throw new ErrNotCached({ verb: api.verb, path: api.path });
    },
    close(): Promise<void> {
      closing ??= (async () => {
        breaker.close();
        for (const w of offlineWatches) w.end();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        pools.destroy();
        cache.close();
        storage.close();
        for (const name of ['requests_total', 'cache_hits_total', 'cache_misses_total', 'offline_seconds_total', 'upstream_online', 'cache_bytes', 'cache_entries', 'cache_evictions']) {
          registry.removeSingleMetric(`edgeadm_lite_apiserver_${name}`);
        }
      })();
      return closing;
    },
  };
}
