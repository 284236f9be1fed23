/**
 * Several tunnel-cloud replicas behind one name. Each replica records the
 * nodes whose tunnels it holds as Leases in the shared ResourceStore (named
 * `tunnel.<node>`, labelled `edgeadm.io/lease-for: tunnel`, shaped like
 * Kubernetes coordination.k8s.io/v1 Leases), renews them while the nodes stay
 * connected, and releases them when they leave; a killed replica's leases
 * simply expire. Every lease write carries the resourceVersion it read, so
 * two replicas never both take the same lease.
 *
 * Routing: a stream to a node comes from the local session when there is
 * one, else from the lease holder, one hop away: a WebSocket per stream to
 * the holder's peer endpoint (`?node=&host=&port=`, the peer credential as
 * Bearer, a hop marker). The holder serves peer requests from its own
 * sessions only — never forwarding again — and answers the upgrade only once
 * its tunnel stream is open; otherwise an HTTP error with a JSON
 * `{code,message,params}` body, which the asking replica turns back into the
 * same coded error a local open gives (the edge's code kept), tagged with the
 * `replica` that answered.
 *
 * On the peer WebSocket, binary messages carry the bytes; text messages are
 * control: `{"t":"fin"}` half-closes, `{"t":"error","error":{…}}` ends the
 * stream with a coded error. Close code 1000 follows a clean end both ways.
 *
 * `tunnel_cloud_nodes{replica}` (a prom-client gauge) is the number of nodes
 * connected to this replica: the figure to autoscale replicas on.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { Gauge, type Registry } from 'prom-client';
import WebSocket, { WebSocketServer } from 'ws';
import { describeError, EdgeError, toErrorInfo, type ErrorInfo, type FieldIssue, type Logger } from '../kernel/index.ts';
import { API_VERSION, LEASE_FOR_LABEL, StoreErrors, type LeaseObject, type LeaseSpec, type ResourceStore } from '../store/index.ts';
import type { TunnelCloud } from './cloud.ts';
import {
  ErrNodeNotConnected,
  ErrPeerAnswer,
  ErrPeerLost,
  ErrPeerUnauthorized,
  ErrPeerUnreachable,
  ErrReplicaOptions,
  ErrRouterClosed,
  ErrRouteRequest,
  ErrSessionClosed,
  ErrStreamRefused,
  ErrStreamReset,
} from './errors.ts';
import { WS_MAX_PAYLOAD } from './ws-transport.ts';

/** Header every peer request carries: it has made its one hop and is served from local sessions only. */
export const PEER_HOP_HEADER = 'x-edgeadm-tunnel-hop';
/** Header naming the replica that forwards (for the owner's logs). */
export const PEER_FROM_HEADER = 'x-edgeadm-tunnel-from';
/** What the tunnel's leases are for (`edgeadm.io/lease-for`). */
export const TUNNEL_LEASE_PURPOSE = 'tunnel';
export const TUNNEL_NODES_METRIC = 'tunnel_cloud_nodes';

/** The Lease recording which replica holds `node`'s tunnel. */
export function tunnelLeaseName(node: string): string {
  return `tunnel.${node}`;
}

export interface ReplicaRouterOptions {
  /** Local sessions; route its onNodeChange to `router.nodeChanged` (the caller wires it). */
  cloud: TunnelCloud;
  /** Shared by all replicas. */
  store: ResourceStore;
  /** This replica's name, and the ws(s):// URL other replicas reach its peer endpoint at. */
  replica: { name: string; peerUrl: string };
  /** Presented to other replicas (Bearer) and checked on incoming peer requests; never logged. */
  peer: { credential: string; tls?: { ca?: string } };
  /** Default 30; renewed every third of it while the node stays connected. */
  leaseDurationSeconds?: number;
  /** Registers the gauge `tunnel_cloud_nodes{replica}` = nodes connected to this replica. */
  metrics?: Registry;
  logger: Logger;
}

export type TcpTarget = { kind: 'tcp'; host: string; port: number };

export interface ReplicaRouter {
  nodeChanged(node: string, connected: boolean): void;
  /** A stream to target on node: local session, else the lease holder's peer endpoint (one hop), else EDGE_ERR_TUNNEL_NODE_NOT_CONNECTED. */
  open(node: string, target: TcpTarget): Promise<Duplex>;
  /** For the HTTP server's 'upgrade' event on the peer path: another replica asking for one of our nodes. */
  handlePeerUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  where(node: string): Promise<{ replica: string; local: boolean } | undefined>;
  /** Stops renewals; releases this replica's leases (a killed replica's leases just expire). */
  close(): Promise<void>;
}

/** The replica that answered an open, or cut a forwarded stream: set on every error `open` and its streams give. */
export function answeredBy(err: unknown): string | undefined {
  const r = (err as { replica?: unknown } | null)?.replica;
  return typeof r === 'string' ? r : undefined;
}

function tag<E>(err: E, replica: string): E {
  if (err instanceof Error && answeredBy(err) === undefined) {
    Object.defineProperty(err, 'replica', { value: replica, enumerable: true, configurable: true });
  }
  return err;
}

/** Errors that travel between replicas by code: rebuilt from their params, so code, message and params match the original. */
const REVIVABLE: readonly { readonly code: string; new (params: never): EdgeError }[] = [
  ErrNodeNotConnected,
  ErrStreamRefused,
  ErrStreamReset,
  ErrSessionClosed,
  ErrPeerUnauthorized,
  ErrRouteRequest,
  ErrRouterClosed,
  ErrPeerLost,
  ErrPeerUnreachable,
];

function isInfo(v: unknown): v is ErrorInfo {
  const o = v as { code?: unknown; message?: unknown; params?: unknown } | null;
  return typeof o?.code === 'string' && typeof o.message === 'string' && (o.params === undefined || (typeof o.params === 'object' && o.params !== null));
}

/** The coded error another replica reported, as this process's own error class when it knows the code. */
function revive(info: ErrorInfo, replica: string): EdgeError {
  const cls = REVIVABLE.find((c) => c.code === info.code);
  if (cls) {
    const err = new cls((info.params ?? {}) as never);
    if (err.message === info.message) return tag(err, replica);
  }
  return tag(new ErrPeerAnswer({ replica, code: info.code, message: info.message }), replica);
}

/** What crosses to a peer: code, message, params — never the cause chain. */
function wireInfo(err: unknown): ErrorInfo {
  const info = toErrorInfo(err);
  return { code: info.code, message: info.message, ...(info.params ? { params: info.params } : {}) };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function checkTarget(node: unknown, target: unknown): FieldIssue | undefined {
  if (typeof node !== 'string' || node === '' || node.length > 253) return { path: 'node', message: 'must be a node name of 1 to 253 characters' };
  const t = target as Partial<TcpTarget> | null;
  if (t?.kind !== 'tcp') return { path: 'target.kind', message: "must be 'tcp'" };
  if (typeof t.host !== 'string' || t.host === '' || t.host.length > 253) return { path: 'target.host', message: 'must be a host of 1 to 253 characters' };
  if (typeof t.port !== 'number' || !Number.isInteger(t.port) || t.port < 1 || t.port > 65535) {
    return { path: 'target.port', message: `must be an integer from 1 to 65535 (is ${JSON.stringify(t.port)})` };
  }
  return undefined;
}

function checkOptions(o: ReplicaRouterOptions): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const name = o.replica?.name;
  if (typeof name !== 'string' || name === '' || name.length > 253) issues.push({ path: 'replica.name', message: 'must be a name of 1 to 253 characters' });
  const url = typeof o.replica?.peerUrl === 'string' && URL.canParse(o.replica.peerUrl) ? new URL(o.replica.peerUrl) : undefined;
  if (!url || (url.protocol !== 'ws:' && url.protocol !== 'wss:')) issues.push({ path: 'replica.peerUrl', message: 'must be a ws:// or wss:// URL' });
  if (typeof o.peer?.credential !== 'string' || o.peer.credential === '') issues.push({ path: 'peer.credential', message: 'must be a non-empty string' });
  const d = o.leaseDurationSeconds;
  if (d !== undefined && (!Number.isInteger(d) || d < 1 || d > 86_400)) {
    issues.push({ path: 'leaseDurationSeconds', message: `must be an integer from 1 to 86400 (is ${String(d)})` });
  }
  return issues;
}

type LeaseState =
  | { phase: 'held'; rv: string; spec: LeaseSpec }
  /** Not written yet (the store failed): retried on the next renewal tick. */
  | { phase: 'pending' }
  /** Another replica took it over while the node still had a session here: retaken only once that lease is gone or expired. */
  | { phase: 'lost'; holder: string }
  /** The store refuses a lease for this node name: routed locally only. */
  | { phase: 'invalid' };

const CONTROL_FIN = JSON.stringify({ t: 'fin' });
/** Largest binary message a peer stream sends. */
const PEER_MESSAGE_BYTES = 256 * 1024;
const FORWARD_HANDSHAKE_MS = 30_000;

/**
 * One forwarded stream over a WebSocket, on either side of the hop. Flow
 * control: a write completes once the socket took it; a full read buffer
 * pauses the socket.
 */
class PeerStream extends Duplex {
  readonly #ws: WebSocket;
  readonly #node: string;
  /** The replica at the other end. */
  readonly #replica: string;
  #finReceived = false;
  /** The far end ended the stream (error or close): nothing more is sent to it. */
  #remoteGone = false;

  constructor(ws: WebSocket, node: string, replica: string, log: Logger) {
    super({ allowHalfOpen: true, highWaterMark: 64 * 1024 });
    this.#ws = ws;
    this.#node = node;
    this.#replica = replica;
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      this.#message(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data), isBinary);
    });
    ws.on('close', (code: number, reason: Buffer) => this.#closed(code, reason.toString()));
    ws.on('error', (err) => log.debug({ node, peer: replica, error: describeError(err) }, 'peer websocket error'));
  }

  #lost(reason: string): EdgeError {
    return tag(new ErrPeerLost({ node: this.#node, replica: this.#replica, reason }), this.#replica);
  }

  #message(data: Buffer, isBinary: boolean): void {
    if (this.destroyed) return;
    if (isBinary) {
      if (this.#finReceived) {
        this.destroy(this.#lost('data after the end of the stream'));
        return;
      }
      if (!this.push(data)) this.#ws.pause();
      return;
    }
    let msg: { t?: unknown; error?: unknown } | undefined;
    try {
      msg = JSON.parse(data.toString('utf8')) as typeof msg;
    } catch {
      msg = undefined;
    }
    if (msg?.t === 'fin' && !this.#finReceived) {
      this.#finReceived = true;
      this.push(null);
      return;
    }
    if (msg?.t === 'error' && isInfo(msg.error)) {
      this.#remoteGone = true;
      this.destroy(revive(msg.error, this.#replica));
      return;
    }
    this.destroy(this.#lost('an unknown control message'));
  }

  #closed(code: number, reason: string): void {
    this.#remoteGone = true;
    if (this.destroyed) return;
    // A clean close follows both ends: the reader still drains what it was sent.
    if (code === 1000 && this.#finReceived && this.writableFinished) return;
    this.destroy(this.#lost(reason === '' ? `the peer connection closed (${code})` : `the peer connection closed (${code} ${reason})`));
  }

  override _read(): void {
    if (this.#ws.isPaused) this.#ws.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.#ws.readyState !== WebSocket.OPEN) {
      cb(this.#lost('the peer connection is closed'));
      return;
    }
    for (let at = 0; at < chunk.length; at += PEER_MESSAGE_BYTES) {
      const last = at + PEER_MESSAGE_BYTES >= chunk.length;
      this.#ws.send(chunk.subarray(at, at + PEER_MESSAGE_BYTES), { binary: true }, last ? (err) => cb(err ? this.#lost(describeError(err)) : null) : undefined);
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.#ws.readyState !== WebSocket.OPEN) {
      cb(this.#lost('the peer connection is closed'));
      return;
    }
    this.#ws.send(CONTROL_FIN, { binary: false }, (err) => cb(err ? this.#lost(describeError(err)) : null));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const ws = this.#ws;
    if (ws.readyState === WebSocket.OPEN) {
      if (this.#remoteGone) ws.close(1000);
      else if (err) {
        ws.send(JSON.stringify({ t: 'error', error: wireInfo(err) }), { binary: false });
        ws.close(4000, 'error');
      } else if (this.#finReceived && this.writableFinished) ws.close(1000);
      else {
        const cancelled = new ErrStreamReset({ stream: 0, code: 'EDGE_ERR_TUNNEL_STREAM_CANCELLED', reason: `replica '${this.#replica}' peer closed the stream` });
        ws.send(JSON.stringify({ t: 'error', error: wireInfo(cancelled) }), { binary: false });
        ws.close(4000, 'cancelled');
      }
    } else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    cb(err);
  }
}

/** Joins two duplexes both ways; one ending with an error (or cut short) takes the other down with it. */
function join(a: Duplex, b: Duplex, log: Logger): void {
  a.pipe(b);
  b.pipe(a);
  const onClose = (from: Duplex, to: Duplex) => (): void => {
    if (to.destroyed) return;
    const err = from.errored;
    if (err) to.destroy(err);
    else if (!(from.readableEnded && from.writableFinished)) to.destroy();
  };
  a.once('close', onClose(a, b));
  b.once('close', onClose(b, a));
  a.on('error', (err) => log.debug({ error: toErrorInfo(err) }, 'joined stream ended with an error'));
  b.on('error', (err) => log.debug({ error: toErrorInfo(err) }, 'joined stream ended with an error'));
}

function tunnelGauge(registry: Registry): Gauge<'replica'> {
  const existing = registry.getSingleMetric(TUNNEL_NODES_METRIC);
  if (existing instanceof Gauge) return existing;
  return new Gauge({
    name: TUNNEL_NODES_METRIC,
    help: 'Edge nodes with a tunnel session on this tunnel-cloud replica.',
    labelNames: ['replica'],
    registers: [registry],
  });
}

export function createReplicaRouter(o: ReplicaRouterOptions): ReplicaRouter {
  const issues = checkOptions(o);
  if (issues.length > 0) throw new ErrReplicaOptions({ replica: String(o.replica?.name), issues });
  const self = o.replica.name;
  const peerUrl = o.replica.peerUrl;
  const durationS = o.leaseDurationSeconds ?? 30;
  const log = o.logger.child({ component: 'tunnel-replicas', replica: self });
  const credentialDigest = digest(o.peer.credential);
  const gauge = o.metrics ? tunnelGauge(o.metrics) : undefined;
  const wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD, perMessageDeflate: false });
  const outgoing = new Set<WebSocket>();

  /** Nodes with a session on this replica (kept in step with the cloud by nodeChanged). */
  const connected = new Set<string>();
  /** This replica's view of each connected node's lease; changed only by the node's queued tasks. */
  const leases = new Map<string, LeaseState>();
  /** Lease work per node runs in order: take, renew, release. */
  const queues = new Map<string, Promise<void>>();
  let closed = false;

  const setGauge = (): void => gauge?.set({ replica: self }, connected.size);
  setGauge();

  const enqueue = (node: string, task: () => Promise<void>): Promise<void> => {
    const next = (queues.get(node) ?? Promise.resolve()).then(task).catch((err: unknown) => {
      log.error({ node, error: toErrorInfo(err) }, 'node lease task failed');
    });
    queues.set(node, next);
    void next.then(() => {
      if (queues.get(node) === next) queues.delete(node);
    });
    return next;
  };

  const leaseObject = (node: string, spec: LeaseSpec): LeaseObject => ({
    apiVersion: API_VERSION,
    kind: 'Lease',
    metadata: { name: tunnelLeaseName(node), labels: { [LEASE_FOR_LABEL]: TUNNEL_LEASE_PURPOSE } },
    spec,
  });

  const expired = (spec: LeaseSpec, now = Date.now()): boolean => {
    const renewed = spec.renewTime === undefined ? NaN : Date.parse(spec.renewTime);
    if (Number.isNaN(renewed) || spec.leaseDurationSeconds === undefined) return true;
    return renewed + spec.leaseDurationSeconds * 1000 <= now;
  };

  /** Takes (or takes over) the lease of a node connected here. */
  const take = async (node: string): Promise<void> => {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (closed || !connected.has(node)) return;
      const current = await o.store.get<LeaseObject>('Lease', tunnelLeaseName(node));
      const previous = current?.spec.holderIdentity;
      const mine = previous === self;
      const now = new Date().toISOString();
      const spec: LeaseSpec = {
        holderIdentity: self,
        holderAddress: peerUrl,
        leaseDurationSeconds: durationS,
        acquireTime: mine && current?.spec.acquireTime ? current.spec.acquireTime : now,
        renewTime: now,
        leaseTransitions: (current?.spec.leaseTransitions ?? 0) + (previous !== undefined && !mine ? 1 : 0),
      };
      try {
        const written = current
          ? await o.store.apply(leaseObject(node, spec), { resourceVersion: current.metadata.resourceVersion! })
          : await o.store.create(leaseObject(node, spec));
        leases.set(node, { phase: 'held', rv: written.metadata.resourceVersion!, spec });
        if (previous !== undefined && !mine) {
          log.info({ node, from: previous, expired: expired(current!.spec) }, 'took over a node lease');
        } else log.debug({ node }, 'took a node lease');
        return;
      } catch (err) {
        // Another replica wrote in between: read again.
        if (StoreErrors.ErrConflict.is(err) || StoreErrors.ErrExists.is(err)) continue;
        if (StoreErrors.ErrInvalid.is(err)) {
          leases.set(node, { phase: 'invalid' });
          log.error({ node, error: toErrorInfo(err) }, 'the store refuses a lease for this node; other replicas cannot route to it');
          return;
        }
        leases.set(node, { phase: 'pending' });
        log.error({ node, error: toErrorInfo(err) }, 'could not take a node lease; retrying at the next renewal');
        return;
      }
    }
    leases.set(node, { phase: 'pending' });
    log.warn({ node }, 'node lease kept changing under this replica; retrying at the next renewal');
  };

  /** A lease another replica holds, or one nobody holds (absent, released, expired). */
  const holderOf = async (node: string): Promise<{ name: string; address: string } | undefined> => {
    const lease = await o.store.get<LeaseObject>('Lease', tunnelLeaseName(node));
    const spec = lease?.spec;
    if (!spec?.holderIdentity || !spec.holderAddress || expired(spec)) return undefined;
    return { name: spec.holderIdentity, address: spec.holderAddress };
  };

  const renew = async (node: string): Promise<void> => {
    const st = leases.get(node);
    if (closed || !connected.has(node) || !st) return;
    if (st.phase === 'pending') return take(node);
    if (st.phase === 'lost') {
      const holder = await holderOf(node);
      if (!holder || holder.name === self) return take(node);
      return;
    }
    if (st.phase !== 'held') return;
    const spec: LeaseSpec = { ...st.spec, renewTime: new Date().toISOString() };
    try {
      const written = await o.store.apply(leaseObject(node, spec), { resourceVersion: st.rv });
      leases.set(node, { phase: 'held', rv: written.metadata.resourceVersion!, spec });
    } catch (err) {
      if (!StoreErrors.ErrConflict.is(err)) {
        log.warn({ node, error: toErrorInfo(err) }, 'could not renew a node lease; retrying at the next renewal');
        return;
      }
      const holder = await holderOf(node);
      if (!holder || holder.name === self) return take(node);
      leases.set(node, { phase: 'lost', holder: holder.name });
      log.warn({ node, holder: holder.name }, 'another replica took the node lease over; its session here is stale');
    }
  };

  const release = async (node: string): Promise<void> => {
    const st = leases.get(node);
    leases.delete(node);
    if (st?.phase !== 'held') return;
    try {
      await o.store.delete('Lease', tunnelLeaseName(node), { resourceVersion: st.rv });
      log.debug({ node }, 'released a node lease');
    } catch (err) {
      // Taken over meanwhile: the node is on another replica now; its lease is not ours to drop.
      if (StoreErrors.ErrConflict.is(err)) log.debug({ node }, 'node lease already taken over; left alone');
      else log.warn({ node, error: toErrorInfo(err) }, 'could not release a node lease; it will expire');
    }
  };

  let ticking = false;
  const timer = setInterval(
    () => {
      if (ticking || closed) return;
      ticking = true;
      void Promise.all([...leases.keys()].map((node) => enqueue(node, () => renew(node)))).finally(() => {
        ticking = false;
      });
    },
    Math.max(100, Math.floor((durationS * 1000) / 3)),
  );
  timer.unref();

  const forward = (node: string, target: TcpTarget, holder: { name: string; address: string }): Promise<Duplex> => {
    const unreachable = (reason: string): EdgeError => tag(new ErrPeerUnreachable({ node, replica: holder.name, address: holder.address, reason }), holder.name);
    if (!URL.canParse(holder.address)) return Promise.reject(unreachable('its peer address is not a URL'));
    const url = new URL(holder.address);
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') return Promise.reject(unreachable('its peer address is not a ws:// or wss:// URL'));
    url.searchParams.set('node', node);
    url.searchParams.set('host', target.host);
    url.searchParams.set('port', String(target.port));
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${o.peer.credential}`, [PEER_HOP_HEADER]: '1', [PEER_FROM_HEADER]: self },
      perMessageDeflate: false,
      maxPayload: WS_MAX_PAYLOAD,
      handshakeTimeout: FORWARD_HANDSHAKE_MS,
      ...(o.peer.tls?.ca ? { ca: o.peer.tls.ca } : {}),
    });
    outgoing.add(ws);
    ws.once('close', () => outgoing.delete(ws));
    return new Promise<Duplex>((resolve, reject) => {
      let settled = false;
      const fail = (err: EdgeError): void => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      ws.on('error', (err) => fail(unreachable(describeError(err))));
      ws.once('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= 64 * 1024) chunks.push(c);
        });
        res.on('error', (err) => fail(unreachable(describeError(err))));
        res.on('end', () => {
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            body = undefined;
          }
          if (isInfo(body)) fail(revive(body, holder.name));
          else fail(tag(new ErrPeerAnswer({ replica: holder.name, code: `HTTP ${res.statusCode ?? '?'}`, message: 'no coded error in the answer' }), holder.name));
          ws.terminate();
        });
      });
      ws.once('open', () => {
        if (settled) return;
        settled = true;
        if (closed) {
          ws.terminate();
          reject(tag(new ErrRouterClosed({ replica: self }), self));
          return;
        }
        log.debug({ node, holder: holder.name }, 'forwarded a stream');
        resolve(new PeerStream(ws, node, holder.name, log));
      });
    });
  };

  const refuse = (socket: Duplex, err: unknown): void => {
    const status = err instanceof EdgeError ? err.statusCode : 500;
    const body = JSON.stringify(wireInfo(err));
    if (socket.destroyed) return;
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  };

  const authorized = (header: string | undefined): boolean => {
    const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
    return m !== null && timingSafeEqual(digest(m[1]!), credentialDigest);
  };

  const servePeer = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    if (closed) return refuse(socket, new ErrRouterClosed({ replica: self }));
    const remote = req.socket.remoteAddress ?? 'unknown';
    if (!authorized(req.headers.authorization)) {
      log.warn({ remote }, 'peer request refused: bad credential');
      return refuse(socket, new ErrPeerUnauthorized({ replica: self, remote }));
    }
    if (req.headers[PEER_HOP_HEADER] !== '1') {
      return refuse(socket, new ErrRouteRequest({ field: `header ${PEER_HOP_HEADER}`, reason: "must be '1': peer requests make exactly one hop" }));
    }
    const q = new URL(req.url ?? '/', 'http://peer').searchParams;
    const node = q.get('node') ?? '';
    const portText = q.get('port') ?? '';
    const target: TcpTarget = { kind: 'tcp', host: q.get('host') ?? '', port: /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN };
    const bad = checkTarget(node, target);
    if (bad) return refuse(socket, new ErrRouteRequest({ field: bad.path, reason: bad.message }));
    // Served from local sessions only: a peer request is never forwarded again.
    if (!connected.has(node)) return refuse(socket, new ErrNodeNotConnected({ node }));
    let stream: Duplex;
    try {
      stream = await o.cloud.open(node, target);
    } catch (err) {
      log.debug({ node, from: req.headers[PEER_FROM_HEADER], error: toErrorInfo(err) }, 'peer stream refused');
      return refuse(socket, err);
    }
    if (socket.destroyed || closed) {
      stream.destroy();
      if (!socket.destroyed) refuse(socket, new ErrRouterClosed({ replica: self }));
      return;
    }
    const from = typeof req.headers[PEER_FROM_HEADER] === 'string' ? req.headers[PEER_FROM_HEADER] : 'unknown';
    wss.handleUpgrade(req, socket, head, (ws) => {
      log.debug({ node, from }, 'serving a peer stream');
      join(new PeerStream(ws, node, from, log), stream, log);
    });
  };

  return {
    nodeChanged(node, up) {
      if (closed) return;
      if (up) {
        connected.add(node);
        void enqueue(node, () => take(node));
      } else {
        connected.delete(node);
        void enqueue(node, () => release(node));
      }
      setGauge();
    },

    async open(node, target) {
      const bad = checkTarget(node, target);
      if (bad) throw tag(new ErrRouteRequest({ field: bad.path, reason: bad.message }), self);
      if (closed) throw tag(new ErrRouterClosed({ replica: self }), self);
      if (connected.has(node)) {
        try {
          return await o.cloud.open(node, { kind: 'tcp', host: target.host, port: target.port });
        } catch (err) {
          throw tag(err, self);
        }
      }
      const holder = await holderOf(node);
      if (!holder || holder.name === self) throw tag(new ErrNodeNotConnected({ node }), self);
      return forward(node, target, holder);
    },

    handlePeerUpgrade(req, socket, head) {
      socket.on('error', (err) => log.debug({ error: describeError(err) }, 'peer socket error'));
      servePeer(req, socket, head).catch((err: unknown) => {
        log.error({ error: toErrorInfo(err) }, 'peer request failed');
        refuse(socket, err);
      });
    },

    async where(node) {
      if (connected.has(node)) return { replica: self, local: true };
      const holder = await holderOf(node);
      return holder && holder.name !== self ? { replica: holder.name, local: false } : undefined;
    },

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await Promise.all([...queues.values()]);
      await Promise.all([...leases.keys()].map((node) => release(node)));
      connected.clear();
      gauge?.remove({ replica: self });
      for (const ws of outgoing) ws.terminate();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      log.info('replica router stopped');
    },
  };
}
