/**
 * lite-apiserver against upstreams the Kubernetes API test server cannot
 * play: one that answers protobuf bytes (kept and served offline exactly as
 * received, apart from the JSON answers), and a black hole that accepts
 * connections and never answers (a cut cable: the first request pays the
 * dial timeout, the next ones open no connection at all).
 */
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawClient } from '../../test/support/kube-apiserver/client.ts';
import { createCertificateAuthority, issueCertificate, type KeyPairPem } from '../pki/index.ts';
import { startLiteApiserver, type LiteApiserver } from './index.ts';

const PROTOBUF = 'application/vnd.kubernetes.protobuf';
/** Bytes as kube-apiserver's protobuf encoding starts them (the `k8s\0` magic), and every other byte value. */
const PROTO_BODY = Buffer.concat([Buffer.from('k8s\u0000', 'latin1'), Buffer.from(Array.from({ length: 256 }, (_, i) => i))]);
const JSON_BODY = { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items: [{ metadata: { name: 'p', namespace: 'x', resourceVersion: '7' } }] };

let dir: string;
let ca: KeyPairPem;
let serving: KeyPairPem;
let nodeCert: KeyPairPem;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lite-wire-'));
  ca = await createCertificateAuthority({ commonName: 'wire-ca' });
  serving = await issueCertificate(ca, { commonName: 'upstream', ipAddresses: ['127.0.0.1'], usage: 'server' });
  nodeCert = await issueCertificate(ca, { commonName: 'system:node:n1', organization: 'system:nodes', usage: 'client' });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function kubeconfigFor(port: number): Promise<string> {
  const file = path.join(dir, `node-${port}.conf`);
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  await writeFile(
    file,
    JSON.stringify({
      clusters: [{ name: 'c', cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': b64(ca.certPem) } }],
      users: [{ name: 'n', user: { token: 'node-token' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'n' } }],
      'current-context': 'x',
    }),
  );
  return file;
}

const start = async (port: number, over: { dialTimeoutMs?: number; probe?: { initialMs: number; maxMs: number } } = {}): Promise<LiteApiserver> =>
  startLiteApiserver({
    nodeName: 'n1',
    kubeconfig: await kubeconfigFor(port),
    listen: { port: 0 },
    tls: { cert: serving.certPem, key: serving.keyPem, clientCa: ca.certPem },
    storage: { driver: 'file', path: path.join(dir, `cache-${port}`) },
    dialTimeoutMs: over.dialTimeoutMs ?? 2000,
    probe: over.probe ?? { initialMs: 50, maxMs: 100 },
  });

describe('protobuf answers', () => {
  let upstream: https.Server;
  let port: number;

  beforeAll(async () => {
    upstream = https.createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
      if (req.url === '/readyz') return res.end('ok');
      if (req.url?.startsWith('/apis/authentication.k8s.io/')) return res.writeHead(404).end();
      if ((req.headers.accept ?? '').startsWith(PROTOBUF)) return res.writeHead(200, { 'content-type': PROTOBUF }).end(PROTO_BODY);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(JSON_BODY));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    port = (upstream.address() as AddressInfo).port;
  });
  afterAll(() => {
    upstream.closeAllConnections();
    upstream.close();
  });

  it('keeps protobuf bytes as received, apart from the JSON answer of the same path, and serves each offline', async () => {
    const lite = await start(port);
    const get = (accept: string) => fetchRaw(lite.url, '/api/v1/namespaces/x/pods', accept);
    const onlineProto = await get(PROTOBUF);
    expect(onlineProto).toMatchObject({ status: 200, type: PROTOBUF });
    expect((await get(`${PROTOBUF}, application/json`)).type).toBe(PROTOBUF);
    expect(onlineProto.body.equals(PROTO_BODY)).toBe(true);
    expect(JSON.parse((await get('application/json')).body.toString('utf8'))).toEqual(JSON_BODY);
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
    const offlineProto = await get(PROTOBUF);
    expect(lite.status().state).toBe('offline');
    expect(offlineProto.type).toBe(PROTOBUF);
    expect(offlineProto.body.equals(PROTO_BODY)).toBe(true);
    const offlineJson = await get('application/json');
    expect(offlineJson.type).toBe('application/json');
    expect(JSON.parse(offlineJson.body.toString('utf8'))).toEqual(JSON_BODY);
    // A client taking either (the kubelet) gets the fresher: the JSON list, folded after its protobuf answer was stored.
    const either = await get(`${PROTOBUF}, application/json`);
    expect(either.type).toBe('application/json');
    await lite.close();
  });

  /** One GET as the node, the body as bytes. */
  async function fetchRaw(url: string, p: string, accept: string): Promise<{ status: number; type: string; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = https.request(new URL(p, url), { ca: ca.certPem, cert: nodeCert.certPem, key: nodeCert.keyPem, headers: { accept } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });
  }
});

describe('a black-holed upstream', () => {
  it('costs the first request the dial timeout; the next ones open no connection, and the probe keeps trying', async () => {
    const sockets = new Set<Socket>();
    let connections = 0;
    // Accepts TCP and never says a word: a TLS handshake that never completes, as a cut link behind a NAT looks.
    const hole: Server = createServer((s) => {
      connections += 1;
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    hole.listen(0, '127.0.0.1');
    await once(hole, 'listening');
    const { port } = hole.address() as AddressInfo;
    // Started while the upstream answers nothing: the start-up probe pays the wait, and the proxy starts offline.
    const lite = await start(port, { dialTimeoutMs: 300, probe: { initialMs: 60_000, maxMs: 60_000 } });
    expect(lite.status().state).toBe('offline');
    const before = connections;
    const c = rawClient({ url: lite.url, caPem: ca.certPem }, null, { cert: nodeCert.certPem, key: nodeCert.keyPem });
    for (let i = 0; i < 20; i++) expect((await c.call('GET', '/api/v1/namespaces/x/pods')).status).toBe(503);
    expect(connections).toBe(before);
    expect(lite.status().requests).toMatchObject({ upstream: 0, miss: 20 });
    await c.close();
    await lite.close();
    for (const s of sockets) s.destroy();
    hole.close();
  });
});
