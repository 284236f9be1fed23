import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueCertificate, type KeyPairPem } from '../pki/index.ts';
import { loadUpstreamCredential } from './upstream.ts';

let dir: string;
let ca: KeyPairPem;
let nodeCert: KeyPairPem;
let adminCert: KeyPairPem;
const b64 = (s: string): string => Buffer.from(s).toString('base64');

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lite-upstream-'));
  ca = await createCertificateAuthority({ commonName: 'cluster-ca' });
  nodeCert = await issueCertificate(ca, { commonName: 'system:node:gw-1', organization: 'system:nodes', usage: 'client' });
  adminCert = await issueCertificate(ca, { commonName: 'kubernetes-admin', organization: 'system:masters', usage: 'client' });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown>, context = 'c'): Promise<string> {
  const file = path.join(dir, `k${(n += 1)}.yaml`);
  await writeFile(file, JSON.stringify({ clusters: [{ name: 'cl', cluster }], users: [{ name: 'u', user }], contexts: [{ name: 'c', context: { cluster: 'cl', user: 'u' } }], 'current-context': context }));
  return file;
}
const server = 'https://10.0.0.1:6443';

describe('loadUpstreamCredential', () => {
  it("reads the kubelet's kubeconfig: the CA, and a client certificate and key in one file, relative to the kubeconfig", async () => {
    await writeFile(path.join(dir, 'kubelet-client-current.pem'), `${nodeCert.certPem}${nodeCert.keyPem}`);
    await writeFile(path.join(dir, 'ca.crt'), ca.certPem);
    const file = await kubeconfig({ server, 'certificate-authority': 'ca.crt' }, { 'client-certificate': 'kubelet-client-current.pem', 'client-key': 'kubelet-client-current.pem' });
    const c = loadUpstreamCredential(file);
    expect(c.server.origin).toBe(server);
    expect(c.ca?.toString()).toBe(ca.certPem);
    expect(c.certUser).toBe('system:node:gw-1');
    expect(c.token).toBeUndefined();
  });

  it('reads a token from tokenFile, and takes the server given instead of the kubeconfig one', async () => {
    await writeFile(path.join(dir, 'token'), 'abc.def\n');
    const file = await kubeconfig({ server: 'https://127.0.0.1:51003', 'certificate-authority-data': b64(ca.certPem) }, { tokenFile: 'token' });
    const c = loadUpstreamCredential(file, 'https://cloud.example.com:6443');
    expect(c.token).toBe('abc.def');
    expect(c.server.host).toBe('cloud.example.com:6443');
  });

  it('refuses a cluster-admin certificate', async () => {
    const file = await kubeconfig({ server }, { 'client-certificate-data': b64(adminCert.certPem), 'client-key-data': b64(adminCert.keyPem) });
    expect(() => loadUpstreamCredential(file)).toThrow(expect.objectContaining({ code: 'EDGE_ERR_LITE_APISERVER_ADMIN_CREDENTIAL', message: expect.stringContaining("user 'kubernetes-admin'") }));
  });

  it.each([
    ['no current context', { server }, { token: 't' }, 'nope', "contexts[name=nope] no context named 'nope'"],
    ['plain http', { server: 'http://10.0.0.1:8080' }, { token: 't' }, 'c', 'cluster.server must be https://'],
    ['a server that is no URL', { server: 'not a url' }, { token: 't' }, 'c', "cluster.server 'not a url' is not a URL"],
    ['skipped verification', { server, 'insecure-skip-tls-verify': true }, { token: 't' }, 'c', 'cluster.insecure-skip-tls-verify the node must verify the apiserver'],
    ['no credential', { server }, {}, 'c', 'names neither a client certificate nor a token'],
    ['a certificate without its key', { server }, { 'client-certificate-data': b64('x') }, 'c', 'user.client-key a client certificate needs both'],
    ['a certificate that is none', { server }, { 'client-certificate-data': b64('x'), 'client-key-data': b64('y') }, 'c', 'user.client-certificate not a PEM certificate'],
    ['a missing CA file', { server, 'certificate-authority': 'missing.crt' }, { token: 't' }, 'c', 'certificate-authority cannot read'],
  ])('refuses %s, naming the field', async (_what, cluster, user, context, message) => {
    const file = await kubeconfig(cluster, user, context);
    expect(() => loadUpstreamCredential(file)).toThrow(expect.objectContaining({ code: 'EDGE_ERR_LITE_APISERVER_UPSTREAM_CONFIG', message: expect.stringContaining(message) }));
  });
});
