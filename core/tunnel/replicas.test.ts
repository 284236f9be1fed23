/**
 * Several tunnel-cloud replicas sharing one SQLite store: leases, one-hop
 * forwarding, convergence when a replica is killed, `tunnel_cloud_nodes`.
 * Replicas run as child processes (test/support/tunnel-replica.ts) or, for
 * the checks that need the router's API, in this process; edges, echo
 * services and clients are real sockets on loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Duplex } from 'node:stream';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { deferCleanup } from '../../test/support/cleanup.ts';
import { quiet, tempDir, waitFor } from '../../test/support/hub-fixture.ts';
import { serveTcp } from '../../test/support/tcp-services.ts';
import { toErrorInfo } from '../kernel/index.ts';
import { API_VERSION, LEASE_FOR_LABEL, openSqliteStore, type LeaseObject, type ResourceStore } from '../store/index.ts';
import { createTunnelCloud, type TunnelCloud } from './cloud.ts';
import { ErrStreamRefused } from './errors.ts';
import { startTunnelEdge, type TunnelEdge } from './edge.ts';
import { answeredBy, createReplicaRouter, PEER_HOP_HEADER, tunnelLeaseName, type ReplicaRouter } from './replicas.ts';

const defer = deferCleanup();
const ROOT = path.resolve(import.meta.dirname, '../..');
const REPLICA_ENTRY = path.join(ROOT, 'test/support/tunnel-replica.ts');
const PEER_CREDENTIAL = 'peer-secret-shared-by-replicas';
const CREDENTIALS: Record<string, string> = { 'cred-a': 'node-a', 'cred-b': 'node-b', 'cred-c': 'node-c', 'cred-g': 'node-g', 'cred-dup': 'node-dup' };

function storeFile(): string {
  const dir = tempDir('replicas');
  defer(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'resources.db');
}

function openStore(file: string): ResourceStore {
  const s = openSqliteStore({ file });
  defer(() => s.close());
  return s;
}

/** An echo service that survives its peer vanishing mid-transfer (an edge stopped under it). */
async function echoPort(): Promise<number> {
  const svc = await serveTcp((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  defer(() => svc.close());
  return svc.port;
}

function edge(node: string, credential: string, url: string | string[], port: number): TunnelEdge {
  const e = startTunnelEdge({ url, node, credential, allow: [`127.0.0.1:${port}`], logger: quiet, backoff: { initialMs: 20, maxMs: 200 } });
  defer(() => e.stop());
  return e;
}

async function lease(store: ResourceStore, node: string): Promise<LeaseObject | undefined> {
  return store.get<LeaseObject>('Lease', tunnelLeaseName(node));
}

// ---------------------------------------------------------------------------
// Replicas as processes

interface ReplicaProcess {
  name: string;
  tunnelUrl: string;
  peerUrl: string;
  baseUrl: string;
  child: ChildProcess;
  exited: Promise<void>;
}

async function startReplica(name: string, file: string, leaseDurationSeconds = 6): Promise<ReplicaProcess> {
  const config = { name, storeFile: file, credentials: CREDENTIALS, peerCredential: PEER_CREDENTIAL, leaseDurationSeconds };
  const child = spawn(process.execPath, ['--import', 'tsx', REPLICA_ENTRY, JSON.stringify(config)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  defer(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const hard = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(hard);
  });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', (l) => {
      rl.close();
      resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`replica ${name} exited (${String(code)}) before it was ready: ${stderr}`)));
  });
  const ready = JSON.parse(line) as { tunnelUrl: string; peerUrl: string; baseUrl: string };
  return { name, child, exited, tunnelUrl: ready.tunnelUrl, peerUrl: ready.peerUrl, baseUrl: ready.baseUrl };
}

async function nodesMetric(r: ReplicaProcess): Promise<number | undefined> {
  const text = await (await fetch(`${r.baseUrl}/metrics`)).text();
  const m = new RegExp(`^tunnel_cloud_nodes\\{replica="${r.name}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

async function whereOn(r: ReplicaProcess, node: string): Promise<{ replica: string; local: boolean } | null> {
  return (await (await fetch(`${r.baseUrl}/where?node=${node}`)).json()) as { replica: string; local: boolean } | null;
}

interface Conn {
  sock: Socket;
  status: number;
  /** Bytes after the CONNECT answer's header. */
  received(): Buffer;
  /** Resolves when the socket closes, with its first error if it had one. */
  closed: Promise<Error | undefined>;
}

/** Asks a replica (its CONNECT front end) for a stream to 127.0.0.1:port on node. */
async function connectVia(r: ReplicaProcess, node: string, port: number): Promise<Conn> {
  const u = new URL(r.baseUrl);
  const sock = connect({ host: u.hostname, port: Number(u.port) });
  defer(() => sock.destroy());
  const chunks: Buffer[] = [];
  const errors: Error[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  sock.on('error', (e) => errors.push(e));
  const closed = new Promise<Error | undefined>((resolve) => sock.once('close', () => resolve(errors[0])));
  sock.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nx-edgeadm-node: ${node}\r\n\r\n`);
  const headerEnd = await waitFor('the CONNECT answer', () => {
    const at = Buffer.concat(chunks).indexOf('\r\n\r\n');
    return at >= 0 ? at + 4 : undefined;
  });
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(Buffer.concat(chunks).toString('latin1'))?.[1]);
  return { sock, status, closed, received: () => Buffer.concat(chunks).subarray(headerEnd) };
}

async function refusal(conn: Conn): Promise<{ status: number; body: { code: string; message: string; params?: Record<string, unknown>; replica?: string } }> {
  await conn.closed;
  return { status: conn.status, body: JSON.parse(conn.received().toString()) as { code: string; message: string; replica?: string } };
}

async function echo(conn: Conn, text: string): Promise<string> {
  const before = conn.received().length;
  conn.sock.write(text);
  await waitFor(`the echo of '${text}'`, () => conn.received().length >= before + Buffer.byteLength(text));
  return conn.received().subarray(before).toString();
}

/** Another replica's request on the peer endpoint, as a replica makes it (or with a wrong credential). */
function askPeer(peerUrl: string, credential: string, node: string, port: number): Promise<{ status: number; body: { code: string } }> {
  const url = new URL(peerUrl);
  url.search = new URLSearchParams({ node, host: '127.0.0.1', port: String(port) }).toString();
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${credential}`, [PEER_HOP_HEADER]: '1' } });
  return new Promise((resolve, reject) => {
    ws.on('error', () => undefined);
    ws.once('open', () => {
      ws.terminate();
      reject(new Error(`the peer endpoint accepted a stream to ${node}`));
    });
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as { code: string } });
        ws.terminate();
      });
    });
  });
}

describe('tunnel-cloud replicas as processes sharing one store', () => {
  it('two replicas with routing and one killed: one hop to the holder, then the survivor takes the node over', async () => {
    const file = storeFile();
    await openSqliteStore({ file }).close();
    const [a, b] = await Promise.all([startReplica('a', file), startReplica('b', file)]);
    const view = openStore(file);
    const port = await echoPort();
    const edgeA = edge('node-a', 'cred-a', [a.tunnelUrl, b.tunnelUrl], port);
    const edgeB = edge('node-b', 'cred-b', [b.tunnelUrl, a.tunnelUrl], port);
    await Promise.all([edgeA.whenConnected(), edgeB.whenConnected()]);

    expect(await nodesMetric(a)).toBe(1);
    expect(await nodesMetric(b)).toBe(1);
    await waitFor('both leases', async () => (await lease(view, 'node-a'))?.spec.holderIdentity === 'a' && (await lease(view, 'node-b'))?.spec.holderIdentity === 'b');
    const leaseB = (await lease(view, 'node-b'))!;
    expect(leaseB.metadata.labels).toEqual({ [LEASE_FOR_LABEL]: 'tunnel' });
    expect(leaseB.spec).toMatchObject({ holderAddress: b.peerUrl, leaseDurationSeconds: 6, leaseTransitions: 0 });
    expect(await whereOn(a, 'node-b')).toEqual({ replica: 'b', local: false });
    expect(await whereOn(a, 'node-a')).toEqual({ replica: 'a', local: true });

    // A asked for B's node: one hop to B, which answers.
    const viaA = await connectVia(a, 'node-b', port);
    expect(viaA.status).toBe(200);
    expect(await echo(viaA, 'through a to node-b')).toBe('through a to node-b');
    viaA.sock.destroy();

    // A refusal through the hop is B's, and reads like the one B gives locally.
    const forwarded = await refusal(await connectVia(a, 'node-b', port + 1));
    const local = await refusal(await connectVia(b, 'node-b', port + 1));
    expect(forwarded.status).toBe(502);
    expect(forwarded.body).toMatchObject({ code: 'EDGE_ERR_TUNNEL_STREAM_REFUSED', replica: 'b', params: { code: 'EDGE_ERR_TUNNEL_NOT_ALLOWED' } });
    expect(local).toMatchObject({ status: forwarded.status, body: { code: forwarded.body.code, replica: 'b', params: { code: 'EDGE_ERR_TUNNEL_NOT_ALLOWED', reason: forwarded.body.params!.reason } } });

    // A peer request for a node B does not hold is refused there, never forwarded on to A.
    expect(await askPeer(b.peerUrl, PEER_CREDENTIAL, 'node-a', port)).toMatchObject({ status: 404, body: { code: 'EDGE_ERR_TUNNEL_NODE_NOT_CONNECTED' } });
    expect(await askPeer(b.peerUrl, 'not-the-peer-credential', 'node-b', port)).toMatchObject({ status: 401, body: { code: 'EDGE_ERR_TUNNEL_PEER_UNAUTHORIZED' } });

    // Kill A outright: node-a's edge moves to B, which takes the lease over.
    a.child.kill('SIGKILL');
    await a.exited;
    await waitFor('node-a on b', async () => (await whereOn(b, 'node-a'))?.local === true);
    expect(await nodesMetric(b)).toBe(2);
    await waitFor('b holding node-a', async () => (await lease(view, 'node-a'))?.spec.holderIdentity === 'b');
    expect((await lease(view, 'node-a'))!.spec).toMatchObject({ holderAddress: b.peerUrl, leaseTransitions: 1 });
    const viaB = await connectVia(b, 'node-a', port);
    expect(viaB.status).toBe(200);
    expect(await echo(viaB, 'node-a after the failover')).toBe('node-a after the failover');
    expect(edgeA.status()).toMatchObject({ connected: true, connects: 2 });
  });

  it('an edge stopped mid-transfer through a forwarded hop cuts the client with an error; both replicas keep serving', async () => {
    const file = storeFile();
    await openSqliteStore({ file }).close();
    const [a, b] = await Promise.all([startReplica('a', file), startReplica('b', file)]);
    const view = openStore(file);
    const port = await echoPort();
    edge('node-a', 'cred-a', [a.tunnelUrl, b.tunnelUrl], port);
    const edgeB = edge('node-b', 'cred-b', [b.tunnelUrl, a.tunnelUrl], port);
    await edgeB.whenConnected();
    await waitFor('node-b leased to b', async () => (await whereOn(a, 'node-b'))?.replica === 'b');

    const conn = await connectVia(a, 'node-b', port);
    expect(conn.status).toBe(200);
    const chunk = randomBytes(16 * 1024);
    let pumping = true;
    const pump = async (): Promise<void> => {
      while (pumping && !conn.sock.destroyed) {
        if (!conn.sock.write(chunk)) await new Promise((r) => conn.sock.once('drain', r).once('close', r));
      }
    };
    const pumped = pump();
    await waitFor('data flowing through the hop', () => conn.received().length >= 512 * 1024);
    await edgeB.stop();
    const err = await conn.closed;
    pumping = false;
    await pumped;
    expect(err).toBeInstanceOf(Error);
    expect(['ECONNRESET', 'EPIPE']).toContain((err as NodeJS.ErrnoException).code);

    // Both replicas still serve: B dropped node-b (and its lease), A routes on.
    await waitFor('node-b gone from b', async () => (await nodesMetric(b)) === 0);
    await waitFor('node-b lease released', async () => (await lease(view, 'node-b')) === undefined);
    expect(await nodesMetric(a)).toBe(1);
    const gone = await refusal(await connectVia(a, 'node-b', port));
    expect(gone).toMatchObject({ status: 404, body: { code: 'EDGE_ERR_TUNNEL_NODE_NOT_CONNECTED', replica: 'a' } });
    const viaB = await connectVia(b, 'node-a', port);
    expect(await echo(viaB, 'b still forwards to a')).toBe('b still forwards to a');
    await edge('node-b', 'cred-b', [b.tunnelUrl, a.tunnelUrl], port).whenConnected();
    await waitFor('node-b back on b', async () => (await whereOn(a, 'node-b'))?.replica === 'b');
    const again = await connectVia(a, 'node-b', port);
    expect(await echo(again, 'node-b is back')).toBe('node-b is back');
  });
});

// ---------------------------------------------------------------------------
// Replicas in this process, for the router's own API

interface LocalReplica {
  name: string;
  cloud: TunnelCloud;
  router: ReplicaRouter;
  tunnelUrl: string;
  peerUrl: string;
  registry: Registry;
  stop(): Promise<void>;
}

async function localReplica(name: string, file: string, leaseDurationSeconds?: number): Promise<LocalReplica> {
  const store = openSqliteStore({ file });
  const registry = new Registry();
  const ref: { router?: ReplicaRouter } = {};
  const cloud = createTunnelCloud({
    name,
    logger: quiet,
    authenticate: (credential) => CREDENTIALS[credential],
    onNodeChange: (node, up) => ref.router?.nodeChanged(node, up),
  });
  const http = createHttpServer((_req, res) => res.writeHead(404).end());
  http.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    if (req.url?.startsWith('/peer')) ref.router?.handlePeerUpgrade(req, socket, head);
    else cloud.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const base = `127.0.0.1:${(http.address() as AddressInfo).port}`;
  const r = createReplicaRouter({
    cloud,
    store,
    replica: { name, peerUrl: `ws://${base}/peer` },
    peer: { credential: PEER_CREDENTIAL },
    ...(leaseDurationSeconds === undefined ? {} : { leaseDurationSeconds }),
    metrics: registry,
    logger: quiet,
  });
  ref.router = r;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await r.close();
    await cloud.close();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
    await store.close();
  };
  defer(stop);
  return { name, cloud, router: r, registry, stop, tunnelUrl: `ws://${base}/tunnel`, peerUrl: `ws://${base}/peer` };
}

async function roundTrip(router: ReplicaRouter, node: string, port: number, text: string): Promise<string> {
  const s = await router.open(node, { kind: 'tcp', host: '127.0.0.1', port });
  const got = new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())));
  s.write(text);
  const answer = await got;
  s.destroy();
  return answer;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

async function closedPort(): Promise<number> {
  const srv = createTcpServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

describe('replica router', () => {
  it('forwards to the holder with the same coded refusals as a local open, and releases only a lease it still holds', async () => {
    const file = storeFile();
    const view = openStore(file);
    const x = await localReplica('x', file);
    const y = await localReplica('y', file);
    const port = await echoPort();
    const first = edge('node-dup', 'cred-dup', x.tunnelUrl, port);
    await first.whenConnected();
    await waitFor('x holding node-dup', async () => (await lease(view, 'node-dup'))?.spec.holderIdentity === 'x');
    expect(await y.router.where('node-dup')).toEqual({ replica: 'x', local: false });
    expect(await roundTrip(y.router, 'node-dup', port, 'y asks x')).toBe('y asks x');

    const localRefusal = await rejection(x.router.open('node-dup', { kind: 'tcp', host: '127.0.0.1', port: port + 1 }));
    const forwardedRefusal = await rejection(y.router.open('node-dup', { kind: 'tcp', host: '127.0.0.1', port: port + 1 }));
    expect(ErrStreamRefused.is(forwardedRefusal)).toBe(true);
    const { stream: _l, ...localParams } = toErrorInfo(localRefusal).params!;
    const { stream: _f, ...forwardedParams } = toErrorInfo(forwardedRefusal).params!;
    expect(forwardedParams).toEqual(localParams);
    expect(localParams).toMatchObject({ code: 'EDGE_ERR_TUNNEL_NOT_ALLOWED' });
    expect(answeredBy(localRefusal)).toBe('x');
    expect(answeredBy(forwardedRefusal)).toBe('x');
    const nowhere = await rejection(y.router.open('node-nowhere', { kind: 'tcp', host: '127.0.0.1', port }));
    expect(nowhere).toMatchObject({ code: 'EDGE_ERR_TUNNEL_NODE_NOT_CONNECTED' });
    expect(answeredBy(nowhere)).toBe('y');

    // The same node connects to y too (x's session is stale as far as the node goes): y takes the lease over.
    const second = edge('node-dup', 'cred-dup', y.tunnelUrl, port);
    await second.whenConnected();
    await waitFor('y holding node-dup', async () => (await lease(view, 'node-dup'))?.spec.holderIdentity === 'y');
    const takenOver = (await lease(view, 'node-dup'))!;
    expect(takenOver.spec.leaseTransitions).toBe(1);
    // x's session ends: x must leave y's lease alone.
    await first.stop();
    await waitFor('x routing node-dup to y', async () => (await x.router.where('node-dup'))?.replica === 'y');
    await x.stop();
    expect((await lease(view, 'node-dup'))?.metadata.resourceVersion).toBe(takenOver.metadata.resourceVersion);
    expect(await y.registry.getSingleMetricAsString('tunnel_cloud_nodes')).toMatch(/tunnel_cloud_nodes\{replica="y"\} 1/);
    await second.stop();
    await waitFor('y released node-dup', async () => (await lease(view, 'node-dup')) === undefined);
  });

  it('carries half-close and bulk data across the hop, with the bytes intact', async () => {
    const file = storeFile();
    const x = await localReplica('x', file);
    const y = await localReplica('y', file);
    const port = await echoPort();
    await edge('node-a', 'cred-a', x.tunnelUrl, port).whenConnected();
    await waitFor('node-a leased to x', async () => (await y.router.where('node-a'))?.replica === 'x');

    // Bulk both ways: 4 MiB out, the same 4 MiB back, byte for byte.
    const bulk = randomBytes(4 * 1024 * 1024);
    const s = await y.router.open('node-a', { kind: 'tcp', host: '127.0.0.1', port });
    const hash = createHash('sha256');
    let bytes = 0;
    s.on('data', (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
    });
    s.write(bulk);
    await waitFor('the bulk echo', () => bytes >= bulk.length);
    expect(bytes).toBe(bulk.length);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(bulk).digest('hex'));
    s.destroy();

    // Half-close: the service sees our end only through the hop, and answers after it.
    const counter = await serveTcp((sock) => {
      let n = 0;
      sock.on('data', (d: Buffer) => (n += d.length));
      sock.on('end', () => sock.end(`got ${n} bytes`));
    });
    defer(() => counter.close());
    await edge('node-c', 'cred-c', y.tunnelUrl, counter.port).whenConnected();
    await waitFor('node-c leased to y', async () => (await x.router.where('node-c'))?.replica === 'y');
    const half = await x.router.open('node-c', { kind: 'tcp', host: '127.0.0.1', port: counter.port });
    const answer: Buffer[] = [];
    half.on('data', (d: Buffer) => answer.push(d));
    half.on('error', () => undefined);
    half.end(randomBytes(300_000));
    await waitFor('the answer to the half-close', () => Buffer.concat(answer).toString() === 'got 300000 bytes');
    half.destroy();

    // A client giving up mid-stream leaves the node reachable.
    const dropped = await y.router.open('node-a', { kind: 'tcp', host: '127.0.0.1', port });
    dropped.write(randomBytes(256 * 1024));
    dropped.destroy();
    expect(await roundTrip(y.router, 'node-a', port, 'still there')).toBe('still there');
  });

  it("uses a dead replica's lease only until it expires, then treats the node as nowhere until it connects again", async () => {
    const file = storeFile();
    const view = openStore(file);
    const r = await localReplica('r', file, 2);
    const deadAddress = `ws://127.0.0.1:${await closedPort()}/peer`;
    const now = new Date().toISOString();
    await view.create<LeaseObject>({
      apiVersion: API_VERSION,
      kind: 'Lease',
      metadata: { name: tunnelLeaseName('node-g'), labels: { [LEASE_FOR_LABEL]: 'tunnel' } },
      spec: { holderIdentity: 'dead', holderAddress: deadAddress, leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: 0 },
    });
    expect(await r.router.where('node-g')).toEqual({ replica: 'dead', local: false });
    const unreachable = await rejection(r.router.open('node-g', { kind: 'tcp', host: '127.0.0.1', port: 22 }));
    expect(unreachable).toMatchObject({ code: 'EDGE_ERR_TUNNEL_PEER_UNREACHABLE', params: { replica: 'dead', address: deadAddress } });

    await waitFor('the stale lease to expire', async () => (await r.router.where('node-g')) === undefined);
    const nowhere = await rejection(r.router.open('node-g', { kind: 'tcp', host: '127.0.0.1', port: 22 }));
    expect(nowhere).toMatchObject({ code: 'EDGE_ERR_TUNNEL_NODE_NOT_CONNECTED' });
    expect(answeredBy(nowhere)).toBe('r');

    const port = await echoPort();
    await edge('node-g', 'cred-g', r.tunnelUrl, port).whenConnected();
    await waitFor('r taking the expired lease over', async () => (await lease(view, 'node-g'))?.spec.holderIdentity === 'r');
    expect((await lease(view, 'node-g'))!.spec).toMatchObject({ leaseTransitions: 1, leaseDurationSeconds: 2, holderAddress: r.peerUrl });
    // Renewed while the node stays: the lease outlives its first duration.
    const firstRenew = (await lease(view, 'node-g'))!.spec.renewTime!;
    await waitFor('a renewal', async () => (await lease(view, 'node-g'))!.spec.renewTime! > firstRenew);
    expect(await r.router.where('node-g')).toEqual({ replica: 'r', local: true });
    expect(await roundTrip(r.router, 'node-g', port, 'renewed')).toBe('renewed');
  });

  it('refuses bad options and bad stream requests with coded errors naming the field', async () => {
    const file = storeFile();
    const store = openStore(file);
    const cloud = createTunnelCloud({ name: 'bad', logger: quiet, authenticate: () => undefined });
    defer(() => cloud.close());
    expect(() =>
      createReplicaRouter({ cloud, store, replica: { name: '', peerUrl: 'http://x/peer' }, peer: { credential: '' }, leaseDurationSeconds: 0, logger: quiet }),
    ).toThrow(
      expect.objectContaining({
        code: 'EDGE_ERR_TUNNEL_REPLICA_OPTIONS',
        message: expect.stringMatching(/replica\.name.*replica\.peerUrl.*peer\.credential.*leaseDurationSeconds/),
      }),
    );
    const r = await localReplica('ok', file);
    await expect(r.router.open('node-a', { kind: 'tcp', host: '127.0.0.1', port: 70_000 })).rejects.toMatchObject({
      code: 'EDGE_ERR_TUNNEL_ROUTE_REQUEST',
      params: { field: 'target.port' },
    });
    await expect(r.router.open('', { kind: 'tcp', host: '127.0.0.1', port: 1 })).rejects.toMatchObject({ params: { field: 'node' } });
    // A peer request without the hop marker is refused.
    const url = new URL(r.peerUrl);
    url.search = 'node=node-a&host=127.0.0.1&port=22';
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${PEER_CREDENTIAL}` } });
    const status = await new Promise<number>((resolve) => {
      ws.on('error', () => undefined);
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
        ws.terminate();
      });
    });
    expect(status).toBe(400);
    await r.stop();
    await expect(r.router.open('node-a', { kind: 'tcp', host: '127.0.0.1', port: 22 })).rejects.toMatchObject({ code: 'EDGE_ERR_TUNNEL_ROUTER_CLOSED' });
  });
});
