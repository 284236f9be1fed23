/**
 * A lite-apiserver test bed: the Kubernetes API test server as the cloud,
 * reached through a TCP relay that cuts the link (`link.down()`), a CA for
 * the node's components with client certificates (this node, another node,
 * a user), the node's own kubeconfig (a `system:node:<node>` token user on
 * the test server), and clients of the proxy as the node's components are:
 * raw HTTPS, and kubeconfig files for kubectl and the Python client.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createCertificateAuthority, issueCertificate, type KeyPairPem } from '../../core/pki/index.ts';
import { startLiteApiserver, type LiteApiserver, type LiteApiserverOptions } from '../../core/lite-apiserver/index.ts';
import { startKubeApiServer, type KubeApiServer } from './kube-apiserver/index.ts';
import { rawClient, type RawClient } from './kube-apiserver/client.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

export const NODE = 'edge-n1';
export const NODE_TOKEN = 'node-edge-n1-token';
export const APP_TOKEN = 'app-pod-token';

export interface LiteBed {
  kube: KubeApiServer;
  link: TcpProxy;
  dir: string;
  ca: KeyPairPem;
  serving: KeyPairPem;
  /** Client certificates: this node (system:node:edge-n1), another node, a plain user. */
  certs: { node: KeyPairPem; otherNode: KeyPairPem; user: KeyPairPem };
  /** The node's own kubeconfig: the cloud through the relay, the node's token. */
  nodeKubeconfig: string;
  /** Options for startLiteApiserver (storage under the bed's directory). */
  options(over?: Partial<LiteApiserverOptions>): LiteApiserverOptions;
  start(over?: Partial<LiteApiserverOptions>): Promise<LiteApiserver>;
  /** A raw client of the proxy as `who` (a certificate, or a bearer token). */
  client(lite: { url: string }, who: 'node' | 'otherNode' | 'user' | { token: string }): RawClient;
  /** A kubeconfig for kubectl or the Python client, reaching the proxy as `who`. */
  kubeconfig(lite: { url: string }, who: 'node' | { token: string }, name?: string): Promise<string>;
  close(): Promise<void>;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

export async function startLiteBed(): Promise<LiteBed> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lite-apiserver-'));
  const kube = await startKubeApiServer({
    bookmarkIntervalMs: 500,
    users: [
      { token: NODE_TOKEN, name: `system:node:${NODE}`, groups: ['system:nodes'] },
      { token: APP_TOKEN, name: 'system:serviceaccount:default:app', groups: ['system:serviceaccounts'] },
    ],
  });
  const upstream = new URL(kube.url);
  const link = await startTcpProxy({ host: '127.0.0.1', port: Number(upstream.port) });
  const ca = await createCertificateAuthority({ commonName: 'edge-cluster-ca' });
  const serving = await issueCertificate(ca, { commonName: 'lite-apiserver', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'], usage: 'server' });
  const certs = {
    node: await issueCertificate(ca, { commonName: `system:node:${NODE}`, organization: 'system:nodes', usage: 'client' }),
    otherNode: await issueCertificate(ca, { commonName: 'system:node:edge-n2', organization: 'system:nodes', usage: 'client' }),
    user: await issueCertificate(ca, { commonName: 'jane', usage: 'client' }),
  };
  const nodeKubeconfig = path.join(dir, 'kubelet.conf');
  await writeFile(
    nodeKubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'cloud', cluster: { server: `https://127.0.0.1:${link.port}`, 'certificate-authority-data': b64(kube.caPem ?? '') } }],
      users: [{ name: 'node', user: { token: NODE_TOKEN } }],
      contexts: [{ name: 'node', context: { cluster: 'cloud', user: 'node' } }],
      'current-context': 'node',
    }),
    { mode: 0o600 },
  );
  let n = 0;
  const options = (over: Partial<LiteApiserverOptions> = {}): LiteApiserverOptions => ({
    nodeName: NODE,
    kubeconfig: nodeKubeconfig,
    listen: { host: '127.0.0.1', port: 0 },
    tls: { cert: serving.certPem, key: serving.keyPem, clientCa: ca.certPem },
    storage: { driver: 'file', path: path.join(dir, 'cache') },
    dialTimeoutMs: 1000,
    requestTimeoutMs: 5000,
    probe: { initialMs: 100, maxMs: 300 },
    watch: { bookmarkIntervalMs: 200 },
    ...over,
  });
  const clients: RawClient[] = [];
  return {
    kube,
    link,
    dir,
    ca,
    serving,
    certs,
    nodeKubeconfig,
    options,
    start: (over) => startLiteApiserver(options(over)),
    client(lite, who) {
      const target = { url: lite.url, caPem: ca.certPem };
      const c = typeof who === 'object' ? rawClient(target, who.token) : rawClient(target, null, { cert: certs[who].certPem, key: certs[who].keyPem });
      clients.push(c);
      return c;
    },
    async kubeconfig(lite, who, name = `client-${(n += 1)}`) {
      const file = path.join(dir, `${name}.kubeconfig`);
      const user = typeof who === 'object' ? { token: who.token } : { 'client-certificate-data': b64(certs.node.certPem), 'client-key-data': b64(certs.node.keyPem) };
      await writeFile(
        file,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'edge', cluster: { server: lite.url, 'certificate-authority-data': b64(ca.certPem) } }],
          users: [{ name: 'me', user }],
          contexts: [{ name: 'edge', context: { cluster: 'edge', user: 'me', namespace: 'default' } }],
          'current-context': 'edge',
        }),
        { mode: 0o600 },
      );
      return file;
    },
    async close() {
      for (const c of clients) await c.close();
      await link.close();
      await kube.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
