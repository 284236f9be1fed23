import { execFile, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer as createHttpServer, request as httpRequest, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import path from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { deferCleanup } from '../../test/support/cleanup.ts';
import { quiet as logger, tempDir, waitFor } from '../../test/support/hub-fixture.ts';
import { serveEcho } from '../../test/support/tcp-services.ts';
import { createTunnelCloud, type TunnelCloud } from './cloud.ts';
import { startTunnelEdge, type TunnelEdge } from './edge.ts';
import { proxyCredential, startTunnelProxy, type ProxyTarget, type TunnelProxy, type TunnelProxyOptions } from './proxy.ts';
import { sessionOverWebSocket } from './ws-transport.ts';
import { freePort } from '../../test/support/tcp-services.ts';

const run = promisify(execFile);
const defer = deferCleanup();

// ---- certificates (openssl CLI): a CA, the proxy's server cert, a client cert, and a client cert from a CA nobody trusts
let certDir = '';
const pem = (name: string): string => readFileSync(path.join(certDir, name), 'utf8');

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: certDir, stdio: 'pipe' });
}

function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`);
}

function issue(ca: string, name: string, cn: string, ext: string): void {
  writeFileSync(path.join(certDir, `${name}.ext`), `${ext}\nbasicConstraints=CA:FALSE\n`);
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-set_serial', String(Date.now()), '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`);
}

beforeAll(() => {
  certDir = tempDir('proxy-certs');
  makeCa('ca');
  makeCa('rogue-ca');
  issue('ca', 'server', 'tunnel-proxy', 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:node-a\nextendedKeyUsage=serverAuth');
  issue('ca', 'client', 'kube-apiserver', 'extendedKeyUsage=clientAuth');
  issue('rogue-ca', 'rogue', 'kube-apiserver', 'extendedKeyUsage=clientAuth');
});
afterAll(() => rmSync(certDir, { recursive: true, force: true }));

// ---- the tunnel: a real tunnel-cloud, real tunnel-edges over loopback WebSockets

const CREDENTIALS = new Map([
  ['secret-1', 'node-1'],
  ['secret-2', 'node-2'],
  ['secret-stuck', 'node-stuck'],
]);

async function startCloud(): Promise<{ cloud: TunnelCloud; url: string }> {
  const cloud = createTunnelCloud({ name: 'replica-0', logger, authenticate: (cred) => CREDENTIALS.get(cred) });
  const http = createHttpServer((_req, res) => res.writeHead(404).end());
  http.on('upgrade', (req, socket, head) => cloud.handleUpgrade(req, socket, head));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  defer(async () => {
    await cloud.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  });
  return { cloud, url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/tunnel` };
}

async function startEdge(url: string, node: string, credential: string, allowPorts: number[]): Promise<TunnelEdge> {
  const e = startTunnelEdge({ url, node, credential, allow: allowPorts.map((p) => `127.0.0.1:${p}`), logger, backoff: { initialMs: 20, maxMs: 200 } });
  defer(() => e.stop());
  await e.whenConnected();
  return e;
}

/** A node whose tunnel is up but which never answers an OPEN: a wedged tunnel-edge. */
async function startStuckNode(url: string, cloud: TunnelCloud): Promise<void> {
  const ws = new WebSocket(url, { headers: { authorization: 'Bearer secret-stuck', 'x-edgeadm-node': 'node-stuck' }, perMessageDeflate: false });
  defer(() => ws.terminate());
  await once(ws, 'open');
  const session = sessionOverWebSocket(ws, { role: 'edge', name: 'node-stuck', logger, onOpen: () => new Promise<void>(() => undefined) });
  await session.whenReady();
  await waitFor('the stuck node to be connected', () => cloud.nodes().includes('node-stuck'));
}

/** Services on the "node": echo, plain HTTP (with an upgrade that echoes), HTTPS. */
interface NodeServices {
  echo: number;
  http: number;
  https: number;
  /** Allowed on the edge, but nothing listens there. */
  closed: number;
  /** Listening, but not on the edge's allow-list. */
  forbidden: number;
  seen: { url: string; headers: IncomingHttpHeaders }[];
}

async function listen(server: HttpServer | ReturnType<typeof createHttpsServer>): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  defer(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  return (server.address() as AddressInfo).port;
}

async function startNodeServices(): Promise<NodeServices> {
  const echo = await serveEcho();
  defer(() => echo.close());
  const forbidden = await serveEcho();
  defer(() => forbidden.close());
  const seen: NodeServices['seen'] = [];
  const http = createHttpServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    if (req.url === '/hello') {
      res.end('hello from node-1\n');
      return;
    }
    if (req.url?.startsWith('/echo')) {
      res.setHeader('x-node-answer', 'echo');
      req.pipe(res);
      return;
    }
    res.writeHead(404).end();
  });
  http.on('upgrade', (req, socket, head) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  const https = createHttpsServer({ cert: pem('server.pem'), key: pem('server.key') }, (_req, res) => res.end('secure hello from node-1\n'));
  return { echo: echo.port, http: await listen(http), https: await listen(https), closed: await freePort(), forbidden: forbidden.port, seen };
}

const TOKENS = new Map([
  ['T', 'ops'],
  ['T2', 'dev'],
]);

interface World {
  cloud: TunnelCloud;
  url: string;
  svc: NodeServices;
  edge1: TunnelEdge;
  asked: Parameters<TunnelProxyOptions['authorize']>[0][];
  proxy(extra?: Partial<TunnelProxyOptions>): Promise<TunnelProxy>;
}

async function world(): Promise<World> {
  const { cloud, url } = await startCloud();
  const svc = await startNodeServices();
  const edge1 = await startEdge(url, 'node-1', 'secret-1', [svc.echo, svc.http, svc.https, svc.closed]);
  const asked: World['asked'] = [];
  const route = (host: string, port: number): ProxyTarget | undefined => {
    if (host === 'boom') throw new Error('the route table is broken');
    const node = { 'node-a': 'node-1', '10.0.0.1': 'node-1', '::1': 'node-1', 'node-b': 'node-2', ghost: 'node-9', stuck: 'node-stuck' }[host];
    return node ? { node, host: '127.0.0.1', port } : undefined;
  };
  return {
    cloud,
    url,
    svc,
    edge1,
    asked,
    async proxy(extra = {}) {
      const p = await startTunnelProxy({
        port: 0,
        logger,
        authorize: (input) => {
          asked.push(input);
          if (input.clientCertCommonName === 'kube-apiserver') return 'kube-apiserver';
          const token = proxyCredential(input.proxyAuthorization);
          return token === undefined ? undefined : TOKENS.get(token);
        },
        route,
        open: (node, target) => cloud.open(node, target),
        ...extra,
      });
      defer(() => p.close());
      return p;
    },
  };
}

// ---- clients

interface Answer {
  status: number;
  head: string;
  headers: Record<string, string>;
  /** Bytes that arrived behind the answer's head. */
  rest: Buffer;
  sock: Socket;
}

/** Sends `request` as is (a CONNECT or anything) and reads the answer's head. */
function rawRequest(port: number, request: string | Buffer, tls?: ConnectionOptions): Promise<Answer> {
  const sock: Socket = tls ? tlsConnect({ host: '127.0.0.1', port, ...tls }) : netConnect({ host: '127.0.0.1', port });
  defer(() => sock.destroy());
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.off('data', onData);
      sock.pause();
      const head = buf.subarray(0, end + 4).toString('latin1');
      const [statusLine, ...lines] = head.trimEnd().split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      resolve({ status: Number(statusLine!.split(' ')[1]), head, headers, rest: buf.subarray(end + 4), sock });
    };
    sock.on('data', onData);
    sock.once('error', reject);
    sock.once('close', () => reject(new Error(`connection closed before an answer; got ${JSON.stringify(buf.toString())}`)));
    sock.write(request);
  });
}

const connectRequest = (target: string, auth: string | undefined = 'Bearer T', extra = ''): string =>
  `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ''}\r\n${extra}`;

/** Reads what is left of a refusal up to the close; its JSON body. */
async function refusal(a: Answer): Promise<{ status: number; headers: Record<string, string>; body: { code: string; message: string } }> {
  const chunks: Buffer[] = [a.rest];
  a.sock.on('data', (d: Buffer) => chunks.push(d));
  a.sock.resume();
  await once(a.sock, 'close');
  return { status: a.status, headers: a.headers, body: JSON.parse(Buffer.concat(chunks).toString()) as { code: string; message: string } };
}

/** `auth` '' sends no Proxy-Authorization. */
async function refusedConnect(port: number, target: string, auth: string): Promise<{ status: number; code: string; headers: Record<string, string>; message: string }> {
  const r = await refusal(await rawRequest(port, connectRequest(target, auth)));
  return { status: r.status, code: r.body.code, headers: r.headers, message: r.body.message };
}

/** Reads exactly `n` bytes (starting with what already arrived). */
function readBytes(sock: Socket, n: number, already: Buffer = Buffer.alloc(0)): Promise<string> {
  let buf = already;
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      if (buf.length < n) return false;
      sock.off('data', onData);
      sock.pause();
      resolve(buf.subarray(0, n).toString());
      return true;
    };
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      check();
    };
    if (check()) return;
    sock.on('data', onData);
    sock.once('close', () => reject(new Error(`closed after ${buf.length} of ${n} bytes`)));
    sock.resume();
  });
}

async function curl(args: string[]): Promise<string> {
  // No proxy settings from the environment: only the ones given here.
  const { stdout } = await run('/usr/bin/curl', ['-sS', '--max-time', '20', ...args], { env: { PATH: process.env.PATH ?? '/usr/bin' } });
  return stdout;
}

function httpViaProxy(
  proxyPort: number,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer; agent?: Agent },
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: proxyPort, method: opts.method ?? 'GET', path: opts.path, headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

// ---- the tests

describe('tunnel proxy: CONNECT', () => {
  it('answers exactly what the Go egress dialer reads, only once the stream is open, and relays a pipelined first payload', async () => {
    const w = await world();
    const proxy = await w.proxy();
    // Bytes right behind the request head, in the same write.
    const a = await rawRequest(proxy.port, connectRequest(`node-a:${w.svc.echo}`, 'Bearer T', 'pipelined hello'));
    expect(a.head).toBe('HTTP/1.1 200 Connection established\r\n\r\n');
    expect(await readBytes(a.sock, 'pipelined hello'.length, a.rest)).toBe('pipelined hello');
    expect(proxy.connections()).toBe(1);
    a.sock.write('and more');
    expect(await readBytes(a.sock, 8)).toBe('and more');
    // Half-close passes through: our end reaches the echo server, whose end comes back.
    a.sock.end();
    a.sock.resume();
    await once(a.sock, 'end');
    await waitFor('the tunnel to be released', () => proxy.connections() === 0);
    await waitFor('the edge stream to close', () => w.edge1.status().streams === 0);
    expect(w.asked.at(-1)).toMatchObject({ proxyAuthorization: 'Bearer T', remoteAddress: '127.0.0.1' });
  });

  it('routes by an address a node is known by, and by a bracketed IPv6 host; Basic with the token as password works too', async () => {
    const w = await world();
    const proxy = await w.proxy();
    const basic = `Basic ${Buffer.from('anyone:T2').toString('base64')}`;
    for (const target of [`10.0.0.1:${w.svc.echo}`, `[::1]:${w.svc.echo}`]) {
      const a = await rawRequest(proxy.port, connectRequest(target, basic));
      expect(a.status).toBe(200);
      a.sock.write(target);
      expect(await readBytes(a.sock, target.length, a.rest)).toBe(target);
      a.sock.destroy();
    }
    await waitFor('tunnels released', () => proxy.connections() === 0);
  });

  it('carries curl -p (CONNECT) to an HTTPS server on the node', async () => {
    const w = await world();
    const proxy = await w.proxy();
    const out = await curl(['-p', '-k', '-x', proxy.url, '--proxy-header', 'Proxy-Authorization: Bearer T', `https://node-a:${w.svc.https}/`]);
    expect(out).toBe('secure hello from node-1\n');
    await waitFor('tunnel released', () => proxy.connections() === 0);
  });

  it('refuses with the right status and a coded JSON body, and keeps serving', async () => {
    const w = await world();
    await startStuckNode(w.url, w.cloud);
    const proxy = await w.proxy({ openTimeoutMs: 300 });
    const p = proxy.port;
    const e = w.svc.echo;

    expect(await refusedConnect(p, `node-a:${e}`, '')).toMatchObject({ status: 407, code: 'EDGE_ERR_PROXY_UNAUTHENTICATED', headers: { 'proxy-authenticate': 'Bearer realm="edgeadm"' } });
    expect(await refusedConnect(p, `node-a:${e}`, 'Bearer wrong')).toMatchObject({ status: 407, code: 'EDGE_ERR_PROXY_UNAUTHENTICATED' });
    expect(await refusedConnect(p, 'node-a:99999', 'Bearer T')).toMatchObject({ status: 400, code: 'EDGE_ERR_PROXY_BAD_TARGET', message: expect.stringMatching(/99999/) });
    expect(await refusedConnect(p, 'node-a:0', 'Bearer T')).toMatchObject({ status: 400, code: 'EDGE_ERR_PROXY_BAD_TARGET' });
    expect(await refusedConnect(p, '[not-v6]:80', 'Bearer T')).toMatchObject({ status: 400, code: 'EDGE_ERR_PROXY_BAD_TARGET' });
    expect(await refusedConnect(p, 'node-a', 'Bearer T')).toMatchObject({ status: 400, code: 'EDGE_ERR_PROXY_BAD_TARGET', message: expect.stringMatching(/host:port/) });
    expect(await refusedConnect(p, `nowhere:${e}`, 'Bearer T')).toMatchObject({ status: 404, code: 'EDGE_ERR_PROXY_NO_ROUTE', message: expect.stringMatching(/nowhere/) });
    expect(await refusedConnect(p, `ghost:${e}`, 'Bearer T')).toMatchObject({ status: 404, code: 'EDGE_ERR_TUNNEL_NODE_NOT_CONNECTED', message: expect.stringMatching(/node-9/) });
    expect(await refusedConnect(p, `node-a:${w.svc.forbidden}`, 'Bearer T')).toMatchObject({ status: 403, code: 'EDGE_ERR_TUNNEL_NOT_ALLOWED' });
    expect(await refusedConnect(p, `node-a:${w.svc.closed}`, 'Bearer T')).toMatchObject({ status: 502, code: 'EDGE_ERR_TUNNEL_DIAL_FAILED' });
    expect(await refusedConnect(p, 'stuck:22', 'Bearer T')).toMatchObject({ status: 504, code: 'EDGE_ERR_PROXY_OPEN_TIMEOUT', message: expect.stringMatching(/node-stuck/) });
    expect(await refusedConnect(p, 'boom:22', 'Bearer T')).toMatchObject({ status: 500, code: 'EDGE_ERR_PROXY_INTERNAL' });
    expect(proxy.connections()).toBe(0);

    // Still serving.
    const ok = await rawRequest(p, connectRequest(`node-a:${e}`, 'Bearer T', 'still here'));
    expect(ok.status).toBe(200);
    expect(await readBytes(ok.sock, 10, ok.rest)).toBe('still here');
  });

  it('caps concurrent tunnels per principal (429), per principal only, and gives the slot back when a tunnel closes', async () => {
    const w = await world();
    const proxy = await w.proxy({ maxConnectionsPerPrincipal: 1 });
    const first = await rawRequest(proxy.port, connectRequest(`node-a:${w.svc.echo}`, 'Bearer T'));
    expect(first.status).toBe(200);
    expect(await refusedConnect(proxy.port, `node-a:${w.svc.echo}`, 'Bearer T')).toMatchObject({ status: 429, code: 'EDGE_ERR_PROXY_TOO_MANY_CONNECTIONS', message: expect.stringMatching(/'ops'/) });
    const other = await rawRequest(proxy.port, connectRequest(`node-a:${w.svc.echo}`, 'Bearer T2'));
    expect(other.status).toBe(200);
    expect(proxy.connections()).toBe(2);
    first.sock.destroy();
    await waitFor('the first tunnel to be released', () => proxy.connections() === 1);
    const again = await rawRequest(proxy.port, connectRequest(`node-a:${w.svc.echo}`, 'Bearer T'));
    expect(again.status).toBe(200);
  });

  it('closes the client when its node goes away mid-stream; other tunnels keep working and nothing stays counted', async () => {
    const w = await world();
    const echo2 = await serveEcho();
    defer(() => echo2.close());
    const edge2 = await startEdge(w.url, 'node-2', 'secret-2', [echo2.port]);
    const proxy = await w.proxy();

    const onNode1 = await rawRequest(proxy.port, connectRequest(`node-a:${w.svc.echo}`));
    const onNode2 = await rawRequest(proxy.port, connectRequest(`node-b:${echo2.port}`));
    expect([onNode1.status, onNode2.status]).toEqual([200, 200]);
    // Data flowing on node-2's tunnel when its tunnel-edge stops.
    onNode2.sock.write('x'.repeat(64 * 1024));
    expect((await readBytes(onNode2.sock, 1024)).length).toBe(1024);
    const closed = once(onNode2.sock, 'close');
    onNode2.sock.resume();
    await edge2.stop();
    await closed;
    await waitFor('the dead tunnel to be released', () => proxy.connections() === 1);

    onNode1.sock.write('alive');
    expect(await readBytes(onNode1.sock, 5, onNode1.rest)).toBe('alive');
    expect(await refusedConnect(proxy.port, `node-b:${echo2.port}`, 'Bearer T')).toMatchObject({ status: 404, code: 'EDGE_ERR_TUNNEL_NODE_NOT_CONNECTED' });
    onNode1.sock.destroy();
    await waitFor('all tunnels released', () => proxy.connections() === 0);
  });

  it('close() ends open tunnels and stops listening', async () => {
    const w = await world();
    const proxy = await w.proxy();
    const a = await rawRequest(proxy.port, connectRequest(`node-a:${w.svc.echo}`));
    expect(a.status).toBe(200);
    const closed = once(a.sock, 'close');
    a.sock.resume();
    await proxy.close();
    await closed;
    expect(proxy.connections()).toBe(0);
    const refused = netConnect({ host: '127.0.0.1', port: proxy.port });
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');
    await waitFor('the edge stream to close', () => w.edge1.status().streams === 0);
  });
});

describe('tunnel proxy: forward proxy', () => {
  it('serves curl through the forward proxy: origin-form to the node, hop-by-hop and Proxy-Authorization removed', async () => {
    const w = await world();
    const proxy = await w.proxy();
    const out = await curl(['-x', proxy.url, '--proxy-header', 'Proxy-Authorization: Bearer T', '-H', 'Connection: keep-alive, X-Hop', '-H', 'X-Hop: gone', '-H', 'X-End: kept', `http://node-a:${w.svc.http}/hello`]);
    expect(out).toBe('hello from node-1\n');
    const seen = w.svc.seen.at(-1)!;
    expect(seen.url).toBe('/hello');
    expect(seen.headers.host).toBe(`node-a:${w.svc.http}`);
    expect(seen.headers['x-end']).toBe('kept');
    for (const h of ['proxy-authorization', 'proxy-connection', 'x-hop', 'keep-alive']) expect(seen.headers[h]).toBeUndefined();
    await waitFor('request released', () => proxy.connections() === 0);
  });

  it('streams request and response bodies of any size and keeps the client connection alive', async () => {
    const w = await world();
    const proxy = await w.proxy();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    defer(() => agent.destroy());
    // Many frames and chunks, several stream windows long.
    const body = Buffer.alloc(5 * 1024 * 1024, 'abcdefgh');
    const auth = { 'proxy-authorization': 'Bearer T' };
    const first = await httpViaProxy(proxy.port, { method: 'POST', path: `http://node-a:${w.svc.http}/echo?x=1`, headers: { ...auth, 'transfer-encoding': 'chunked' }, body, agent });
    expect(first.status).toBe(200);
    expect(first.headers['x-node-answer']).toBe('echo');
    expect(first.body.equals(body)).toBe(true);
    expect(w.svc.seen.at(-1)!.url).toBe('/echo?x=1');
    const second = await httpViaProxy(proxy.port, { method: 'PUT', path: `http://node-a:${w.svc.http}/echo`, headers: auth, body: Buffer.from('small'), agent });
    expect(second.body.toString()).toBe('small');
    expect(second.reused).toBe(true);
    await waitFor('requests released', () => proxy.connections() === 0);
  });

  it('relays an upgrade (WebSocket-style) through the forward proxy', async () => {
    const w = await world();
    const proxy = await w.proxy();
    const a = await rawRequest(
      proxy.port,
      `GET http://node-a:${w.svc.http}/stream HTTP/1.1\r\nHost: node-a:${w.svc.http}\r\nProxy-Authorization: Bearer T\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly`,
    );
    expect(a.status).toBe(101);
    expect(await readBytes(a.sock, 5, a.rest)).toBe('early');
    a.sock.write('later');
    expect(await readBytes(a.sock, 5)).toBe('later');
    const seen = w.svc.seen.at(-1)!;
    expect(seen).toMatchObject({ url: '/stream', headers: { upgrade: 'echo', host: `node-a:${w.svc.http}` } });
    expect(seen.headers['proxy-authorization']).toBeUndefined();
    a.sock.destroy();
    await waitFor('upgrade released', () => proxy.connections() === 0);
  });

  it('refuses non-proxy requests and bad or unauthorised targets with coded bodies', async () => {
    const w = await world();
    const proxy = await w.proxy();
    const ask = async (p: string, headers: Record<string, string> = { 'proxy-authorization': 'Bearer T' }): Promise<{ status: number; code: string; headers: IncomingHttpHeaders }> => {
      const r = await httpViaProxy(proxy.port, { path: p, headers });
      return { status: r.status, headers: r.headers, code: (JSON.parse(r.body.toString()) as { code: string }).code };
    };
    expect(await ask('/hello')).toMatchObject({ status: 400, code: 'EDGE_ERR_PROXY_NOT_A_PROXY_REQUEST' });
    expect(await ask(`https://node-a:${w.svc.https}/`)).toMatchObject({ status: 400, code: 'EDGE_ERR_PROXY_BAD_TARGET' });
    expect(await ask(`http://node-a:${w.svc.http}/hello`, {})).toMatchObject({ status: 407, code: 'EDGE_ERR_PROXY_UNAUTHENTICATED', headers: { 'proxy-authenticate': 'Bearer realm="edgeadm"' } });
    expect(await ask(`http://node-a:${w.svc.forbidden}/`)).toMatchObject({ status: 403, code: 'EDGE_ERR_TUNNEL_NOT_ALLOWED' });
    expect(await ask(`http://ghost/`)).toMatchObject({ status: 404, code: 'EDGE_ERR_TUNNEL_NODE_NOT_CONNECTED' });
    expect(await ask(`http://node-a:${w.svc.closed}/`)).toMatchObject({ status: 502, code: 'EDGE_ERR_TUNNEL_DIAL_FAILED' });
    // A node that answers with something that is not HTTP.
    expect(await ask(`http://node-a:${w.svc.echo}/`)).toMatchObject({ status: 502, code: 'EDGE_ERR_PROXY_UPSTREAM_FAILED' });
    expect(proxy.connections()).toBe(0);
  });
});

describe('tunnel proxy: mTLS listener (kube-apiserver egress)', () => {
  const tlsProxy = (w: World): Promise<TunnelProxy> =>
    w.proxy({ tls: { cert: pem('server.pem'), key: pem('server.key'), ca: pem('ca.pem'), requestClientCert: true } });

  it('accepts a client certificate the CA issued, passes its CN to authorize, and tunnels the Go dialer CONNECT', async () => {
    const w = await world();
    const proxy = await tlsProxy(w);
    expect(proxy.url).toBe(`https://127.0.0.1:${proxy.port}`);
    // What kube-apiserver's HTTPConnect dialer writes: the target as the node's address, Host 127.0.0.1, no credential header.
    const a = await rawRequest(proxy.port, `CONNECT 10.0.0.1:${w.svc.echo} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, {
      ca: pem('ca.pem'),
      cert: pem('client.pem'),
      key: pem('client.key'),
      servername: 'localhost',
    });
    expect(a.head).toBe('HTTP/1.1 200 Connection established\r\n\r\n');
    expect(a.rest.length).toBe(0);
    a.sock.write('over mTLS');
    expect(await readBytes(a.sock, 9)).toBe('over mTLS');
    expect(w.asked.at(-1)).toEqual({ clientCertCommonName: 'kube-apiserver', remoteAddress: '127.0.0.1' });

    const out = await curl([
      '-x',
      proxy.url,
      '--proxy-cacert',
      path.join(certDir, 'ca.pem'),
      '--proxy-cert',
      path.join(certDir, 'client.pem'),
      '--proxy-key',
      path.join(certDir, 'client.key'),
      `http://node-a:${w.svc.http}/hello`,
    ]);
    expect(out).toBe('hello from node-1\n');
  });

  it('refuses a client with no certificate, or with one another CA issued (407): their CN never reaches authorize', async () => {
    const w = await world();
    const proxy = await tlsProxy(w);
    const target = `CONNECT 10.0.0.1:${w.svc.echo} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
    const none = await refusal(await rawRequest(proxy.port, target, { ca: pem('ca.pem'), servername: 'localhost' }));
    expect(none).toMatchObject({ status: 407, body: { code: 'EDGE_ERR_PROXY_UNAUTHENTICATED' } });
    const rogue = await refusal(await rawRequest(proxy.port, target, { ca: pem('ca.pem'), cert: pem('rogue.pem'), key: pem('rogue.key'), servername: 'localhost' }));
    expect(rogue).toMatchObject({ status: 407, body: { code: 'EDGE_ERR_PROXY_UNAUTHENTICATED' } });
    expect(w.asked.length).toBe(2);
    for (const input of w.asked) expect(input.clientCertCommonName).toBeUndefined();
    expect(proxy.connections()).toBe(0);
  });
});

describe('tunnel proxy: options and credentials', () => {
  it('refuses bad options with a coded error naming the field', async () => {
    const base = { port: 0, logger, authorize: () => 'x', route: () => undefined, open: () => Promise.reject(new Error('unused')) };
    await expect(startTunnelProxy({ ...base, port: 70000 })).rejects.toMatchObject({ code: 'EDGE_ERR_PROXY_BAD_OPTIONS', message: expect.stringMatching(/'port'/) });
    await expect(startTunnelProxy({ ...base, maxConnectionsPerPrincipal: 0 })).rejects.toMatchObject({ code: 'EDGE_ERR_PROXY_BAD_OPTIONS', message: expect.stringMatching(/maxConnectionsPerPrincipal/) });
    await expect(startTunnelProxy({ ...base, tls: { cert: 'c', key: 'k', requestClientCert: true } })).rejects.toMatchObject({ code: 'EDGE_ERR_PROXY_BAD_OPTIONS', message: expect.stringMatching(/tls\.ca/) });
    const taken = await startTunnelProxy(base);
    defer(() => taken.close());
    await expect(startTunnelProxy({ ...base, port: taken.port })).rejects.toMatchObject({ code: 'EDGE_ERR_PROXY_LISTEN_FAILED', message: expect.stringMatching(String(taken.port)) });
  });

  it('extracts the token from Bearer and Basic Proxy-Authorization headers', () => {
    expect(proxyCredential('Bearer abc.def')).toBe('abc.def');
    expect(proxyCredential('bearer abc')).toBe('abc');
    expect(proxyCredential(`Basic ${Buffer.from('user:tok:en').toString('base64')}`)).toBe('tok:en');
    expect(proxyCredential(`Basic ${Buffer.from('user:').toString('base64')}`)).toBeUndefined();
    expect(proxyCredential('Digest x')).toBeUndefined();
    expect(proxyCredential(undefined)).toBeUndefined();
  });
});
