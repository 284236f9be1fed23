/**
 * The hub's tunnel proxy with real clients: curl and Go's HTTP stack
 * (kubectl, the same CONNECT client kube-apiserver's egress selector uses)
 * reach services on an edge node through tunnel-cloud, by node name or by an
 * address the node is known by, authenticated by a client certificate from
 * the hub's CA (as kube-apiserver is) or by an admin token.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../core/hub/index.ts';
import { issueCertificate } from '../core/pki/index.ts';
import { startTunnelEdge, type TunnelEdge } from '../core/tunnel/index.ts';
import { quiet, tempDir } from './support/hub-fixture.ts';

const run = promisify(execFile);
let hub: Hub;
let admin: string;
let dir: string;
let edge: TunnelEdge;
const servers: Server[] = [];
let plainPort: number;
let kubeletPort: number;

async function listen(server: Server, host: string): Promise<number> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, host, r));
  return (server.address() as AddressInfo).port;
}

async function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('curl', ['-sS', '--max-time', '10', ...args]);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  dir = tempDir('hub-proxy');
  hub = await startHub({ dataDir: path.join(dir, 'hub'), port: 0, logger: quiet, tls: true, proxy: { port: 0 } });
  admin = readFileSync(hub.adminTokenFile, 'utf8').trim();
  const dispatcher = new Agent({ connect: { ca: hub.caCert! } });
  const api = async (method: string, p: string, body: unknown, token = admin): Promise<Record<string, unknown>> => {
    const res = await fetch(`${hub.url}${p}`, { method, dispatcher, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return (await res.json()) as Record<string, unknown>;
  };
  // The "node": a plain HTTP service on its loopback, and an HTTPS one (a kubelet stand-in) on another address it is known by.
  plainPort = await listen(createHttpServer((req, res) => res.end(`plain ${req.method} ${req.url}`)), '127.0.0.1');
  const ca = { certPem: hub.caCert!, keyPem: readFileSync(path.join(dir, 'hub/pki/ca.key'), 'utf8') };
  const kubeletCert = await issueCertificate(ca, { commonName: 'gw-1', dnsNames: ['gw-1'], ipAddresses: ['127.0.0.2'], usage: 'server' });
  kubeletPort = await listen(createHttpsServer({ cert: kubeletCert.certPem, key: kubeletCert.keyPem }, (req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Success', message: `kubelet ${req.url}` }));
  }), '127.0.0.2');
  await api('PUT', '/api/v1/sites/plant-a', { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Site', metadata: { name: 'plant-a' }, spec: {} });
  const bt = await api('POST', '/api/v1/bootstrap-tokens', { site: 'plant-a' });
  const j = await api('POST', '/api/v1/join', { site: 'plant-a', node: 'gw-1', addresses: ['127.0.0.2'] }, bt.token as string);
  edge = startTunnelEdge({
    url: hub.tunnelUrl,
    node: 'gw-1',
    credential: j.credential as string,
    allow: [`127.0.0.1:${plainPort}`, `127.0.0.2:${kubeletPort}`],
    tls: { ca: hub.caCert! },
    logger: quiet,
  });
  await edge.whenConnected();
  await dispatcher.close();
}, 60_000);

afterAll(async () => {
  await edge?.stop();
  await hub?.close();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe('the tunnel proxy on the hub', () => {
  const proxyTls = (): string[] => ['--proxy', hub.proxyUrl!, '--proxy-cacert', hub.caFile!];
  const egressCert = (): string[] => ['--proxy-cert', path.join(dir, 'hub/pki/egress-client.crt'), '--proxy-key', path.join(dir, 'hub/pki/egress-client.key')];

  it('CONNECTs kube-apiserver-style (mTLS client certificate) to an address the node is known by', async () => {
    expect(hub.proxyUrl).toMatch(/^https:\/\//);
    const r = await curl([...proxyTls(), ...egressCert(), '--cacert', hub.caFile!, `https://127.0.0.2:${kubeletPort}/containerLogs/default/pod/c`]);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ message: 'kubelet /containerLogs/default/pod/c' });
  });

  it('forwards absolute-URI requests to a node by name, with an admin token', async () => {
    const r = await curl([...proxyTls(), '--proxy-header', `Proxy-Authorization: Bearer ${admin}`, '-X', 'POST', '-d', 'x=1', `http://gw-1:${plainPort}/hello?a=b`]);
    expect(r.stdout).toBe('plain POST /hello?a=b');
  });

  it('refuses callers without a credential, and names what is wrong', async () => {
    const none = await curl([...proxyTls(), '-o', '/dev/null', '-w', '%{http_code}', `http://gw-1:${plainPort}/`]);
    expect(none.stdout).toBe('407');
    const wrong = await curl([...proxyTls(), '--proxy-header', 'Proxy-Authorization: Bearer edgeadm_aaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', '-o', '/dev/null', '-w', '%{http_code}', `http://gw-1:${plainPort}/`]);
    expect(wrong.stdout).toBe('407');
    const unknownNode = await curl([...proxyTls(), ...egressCert(), '-w', '%{http_code}', `http://gw-9:${plainPort}/`]);
    expect(unknownNode.stdout).toMatch(/404$/);
    const offList = await curl([...proxyTls(), ...egressCert(), '-w', '\n%{http_code}', `http://gw-1:${plainPort + 1}/`]);
    expect(offList.stdout).toMatch(/EDGE_ERR_TUNNEL_NOT_ALLOWED[\s\S]*\n403$/);
  });

  it('serves kubectl (Go’s CONNECT client) through the proxy to the node', async () => {
    // kubectl speaks to the "kubelet" through an https proxy, with a token in the proxy URL (Basic auth).
    const kubeconfig = path.join(dir, 'kubeconfig');
    const proxyUrl = new URL(hub.proxyUrl!);
    proxyUrl.username = 'kube';
    proxyUrl.password = admin;
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: edge',
        '  cluster:',
        `    server: https://gw-1:${kubeletPort}`,
        `    certificate-authority: ${hub.caFile!}`,
        `    proxy-url: ${proxyUrl.toString()}`,
        'users:',
        '- name: u',
        // A user without credentials makes kubectl prompt for a password; the node stand-in ignores this token.
        '  user: {token: not-used-by-the-node}',
        'contexts:',
        '- name: c',
        '  context: {cluster: edge, user: u}',
        'current-context: c',
        '',
      ].join('\n'),
    );
    // gw-1 is routed by name to the node's loopback, where nothing listens on this port: the node's refusal comes back.
    const byName = await run('kubectl', ['--kubeconfig', kubeconfig, '--request-timeout=5s', 'get', '--raw', '/healthz']).catch((e: { stderr: string }) => e);
    expect((byName).stderr).toMatch(/Forbidden/);
    // The node's address reaches the kubelet stand-in.
    writeFileSync(kubeconfig, readFileSync(kubeconfig, 'utf8').replace(`https://gw-1:${kubeletPort}`, `https://127.0.0.2:${kubeletPort}`));
    const r = await run('kubectl', ['--kubeconfig', kubeconfig, '--request-timeout=5s', 'get', '--raw', '/healthz']);
    expect(JSON.parse(r.stdout)).toMatchObject({ message: 'kubelet /healthz?timeout=5s' });
  });
});
