/**
 * `edgeadm health webhook` as a process against the Kubernetes API test
 * server: it lists the nodes, serves admission reviews over HTTPS with the
 * given certificate (a node voted healthy keeps its address), its probes
 * answer, and Ctrl-C stops it; bad flags are usage errors naming each flag,
 * all at once.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEALTH_WEBHOOK_PATHS } from '../core/health/index.ts';
import { createCertificateAuthority, issueCertificate } from '../core/pki/index.ts';
import { rawClient } from '../test/support/kube-apiserver/client.ts';
import { startKubeApiServer, type KubeApiServer } from '../test/support/kube-apiserver/index.ts';
import { runEdgeadm, startEdgeadm } from '../test/support/edgeadm-cli.ts';
import { checkWebhookFlags } from './health.ts';
import { tempDir, waitFor } from '../test/support/hub-fixture.ts';
import { freePort } from '../test/support/tcp-services.ts';

let server: KubeApiServer;
let kubeconfig: string;
let dir: string;
let ca: { certPem: string; keyPem: string };
let certFile: string;
let keyFile: string;

beforeAll(async () => {
  server = await startKubeApiServer();
  dir = tempDir('health-cli');
  kubeconfig = await server.kubeconfig(dir);
  ca = await createCertificateAuthority({ commonName: 'health cli test CA' });
  const serving = await issueCertificate(ca, { commonName: 'edgeadm-health-webhook.edgeadm.svc', dnsNames: ['edgeadm-health-webhook.edgeadm.svc'], ipAddresses: ['127.0.0.1'], usage: 'server' });
  certFile = path.join(dir, 'tls.crt');
  keyFile = path.join(dir, 'tls.key');
  await writeFile(certFile, serving.certPem);
  await writeFile(keyFile, serving.keyPem, { mode: 0o600 });
}, 30_000);
afterAll(async () => {
  await server.close();
});

describe('edgeadm health webhook', () => {
  it('serves admission reviews on the cluster\'s nodes over HTTPS, with probes, until Ctrl-C', async () => {
    const raw = rawClient(server);
    const dispatcher = new Agent({ connect: { ca: ca.certPem } });
    try {
      expect((await raw.call('POST', '/api/v1/nodes', { metadata: { name: 'gw-1', annotations: { 'health.edgeadm.io/verdict': 'healthy' } } })).status).toBe(201);
      expect((await raw.call('PATCH', '/api/v1/nodes/gw-1/status', { status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } }, 'application/merge-patch+json')).status).toBe(200);
      const port = await freePort();
      const proc = startEdgeadm(['health', 'webhook', '--kubeconfig', kubeconfig, '--tls-cert-file', certFile, '--tls-key-file', keyFile, '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn']);
      try {
        await waitFor('the webhook serving', () => /health webhook on https:/.test(proc.out()) || proc.child.exitCode !== null, 20_000);
        expect(proc.out(), proc.output()).toContain(`health webhook on https://127.0.0.1:${port} (1 nodes of the cluster in ${kubeconfig})`);
        for (const p of ['/healthz', '/readyz']) {
          const r = await request(`https://127.0.0.1:${port}${p}`, { dispatcher });
          expect([p, r.statusCode, await r.body.text()]).toEqual([p, 200, 'ok\n']);
        }
        const review = {
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          request: {
            uid: 'u-1',
            resource: { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices' },
            operation: 'UPDATE',
            object: { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'web-1', namespace: 'default' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], nodeName: 'gw-1', conditions: { ready: false, serving: false, terminating: false } }] },
          },
        };
        const r = await request(`https://127.0.0.1:${port}${HEALTH_WEBHOOK_PATHS.endpointslices}`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: JSON.stringify(review) });
        const body = (await r.body.json()) as { response: { uid: string; allowed: boolean; patchType: string; patch: string } };
        expect([r.statusCode, body.response.uid, body.response.allowed, body.response.patchType]).toEqual([200, 'u-1', true, 'JSONPatch']);
        expect(JSON.parse(Buffer.from(body.response.patch, 'base64').toString('utf8'))).toEqual([{ op: 'replace', path: '/endpoints/0/conditions', value: { ready: true, serving: true, terminating: false } }]);
      } finally {
        expect(await proc.stop('SIGINT')).toBe(0);
      }
      await expect(request(`https://127.0.0.1:${port}/healthz`, { dispatcher })).rejects.toThrow();
    } finally {
      await raw.close();
      await dispatcher.close();
    }
  }, 60_000);

  it('refuses bad flags, naming each, all at once', async () => {
    // A key of another certificate.
    const other = await issueCertificate(ca, { commonName: 'other', dnsNames: ['other'], usage: 'server' });
    const otherKey = path.join(dir, 'other', 'tls.key');
    await mkdir(path.dirname(otherKey), { recursive: true });
    await writeFile(otherKey, other.keyPem);
    // Two runs of the command itself (commander's required flags; the exit code and the message of every problem at
    // once); the other cases through the same checker in this process.
    const webhook = (...args: string[]) => runEdgeadm(['health', 'webhook', ...args]);
    const [noFlags, all] = await Promise.all([
      webhook(),
      webhook('--kubeconfig', '/nonexistent/kubeconfig', '--tls-cert-file', keyFile, '--tls-key-file', certFile, '--host', 'example.com', '--port', '70000'),
    ]);
    expect([noFlags.code, noFlags.stderr]).toEqual([2, expect.stringMatching(/--kubeconfig/)]);
    expect(all.code, all.stderr).toBe(2);
    for (const problem of ['--kubeconfig no file at /nonexistent/kubeconfig', `--tls-cert-file ${keyFile} holds no PEM certificate`, `--tls-key-file ${certFile} holds no PEM private key`, "--host 'example.com' is not an IP address", "--port '70000' is not a port"]) {
      expect(all.stderr).toContain(problem);
    }

    const check = (f: Partial<Parameters<typeof checkWebhookFlags>[0]>): string => {
      try {
        checkWebhookFlags({ kubeconfig, tlsCertFile: certFile, tlsKeyFile: keyFile, host: '127.0.0.1', port: '0', ...f });
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    };
    const unreadable = check({ tlsCertFile: '/nonexistent/tls.crt', tlsKeyFile: dir });
    expect(unreadable).toContain('--tls-cert-file cannot read /nonexistent/tls.crt: ENOENT');
    expect(unreadable).toContain(`--tls-key-file cannot read ${dir}: EISDIR`);
    expect(check({ tlsKeyFile: otherKey })).toContain(`--tls-key-file: ${otherKey} does not go with the certificate in ${certFile}`);
    const host = process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_HOST;
    try {
      expect(check({ kubeconfig: 'in-cluster' })).toMatch(/--kubeconfig: 'in-cluster' needs a pod/);
    } finally {
      if (host !== undefined) process.env.KUBERNETES_SERVICE_HOST = host;
    }
    expect(check({})).toBe('');
  }, 60_000);

  it('fails, naming the cause, when the cluster refuses to list its nodes', async () => {
    const bad = await server.kubeconfig(path.join(dir, 'bad.yaml'), { token: 'not-a-user' });
    const r = await runEdgeadm(['health', 'webhook', '--kubeconfig', bad, '--tls-cert-file', certFile, '--tls-key-file', keyFile, '--host', '127.0.0.1', '--port', '0', '--log-level', 'error']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/\[EDGE_ERR_STORE_KUBE\].*\/api\/v1\/nodes/);
  }, 30_000);
});
