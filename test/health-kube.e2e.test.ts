/**
 * Eviction protection on the Kubernetes API test server, end to end: the
 * health webhook registered as a MutatingWebhookConfiguration (url and
 * caBundle), its node cache watching the server, and the hub's writer
 * putting the peers' verdicts on Nodes. Then the writes kube-controller-
 * manager makes when a node stops reporting: the unreachable NoExecute
 * taint stays off a node voted healthy and on a node voted unhealthy; the
 * Endpoints and EndpointSlice addresses of the healthy node stay ready.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEALTH_WEBHOOK_PATHS, NODE_UNHEALTH_ANNOTATION, startHealthWebhook, startNodeCache, UNREACHABLE_TAINT, type HealthWebhook, type NodeCache } from '../core/health/index.ts';
import { kubeNodeAnnotator } from '../core/hub/index.ts';
import { createCertificateAuthority, issueCertificate } from '../core/pki/index.ts';
import type { HealthVerdict } from '../core/store/index.ts';
import { rawClient } from './support/kube-apiserver/client.ts';
import { startKubeApiServer, type KubeApiServer } from './support/kube-apiserver/index.ts';
import { quiet, tempDir, waitFor } from './support/hub-fixture.ts';

let server: KubeApiServer;
let webhook: HealthWebhook;
let cache: NodeCache;
let annotator: Awaited<ReturnType<typeof kubeNodeAnnotator>>;
let raw: ReturnType<typeof rawClient>;
const dir = tempDir('edgeadm-health-kube-');

interface Obj {
  metadata: { name: string; resourceVersion?: string; annotations?: Record<string, string> };
  spec?: { taints?: { key: string; effect: string }[] };
  subsets?: { addresses?: { ip: string; nodeName?: string }[]; notReadyAddresses?: { ip: string; nodeName?: string }[] }[];
  endpoints?: { addresses: string[]; nodeName?: string; conditions: { ready?: boolean; serving?: boolean; terminating?: boolean } }[];
}

const verdict = (node: string, v: 'healthy' | 'unhealthy'): HealthVerdict => {
  const at = new Date().toISOString();
  return { node, verdict: v, pros: v === 'healthy' ? 2 : 0, cons: v === 'unhealthy' ? 2 : 0, expected: 2, since: at, votedAt: at };
};

async function get(path: string): Promise<Obj> {
  const r = await raw.call('GET', path);
  expect(r.status).toBe(200);
  return r.body as Obj;
}

/** What kube-controller-manager does to a node whose kubelet went silent: Ready Unknown, then the NoExecute taint. */
async function markUnreachable(name: string): Promise<Obj> {
  const s = await raw.call('PATCH', `/api/v1/nodes/${name}/status`, { status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }] } }, 'application/merge-patch+json');
  expect(s.status).toBe(200);
  const cur = await get(`/api/v1/nodes/${name}`);
  const taints = [{ key: UNREACHABLE_TAINT.key, effect: 'NoSchedule' }, { ...UNREACHABLE_TAINT, timeAdded: new Date().toISOString() }];
  const put = await raw.call('PUT', `/api/v1/nodes/${name}`, { ...cur, spec: { ...(cur.spec ?? {}), taints } });
  expect(put.status).toBe(200);
  return get(`/api/v1/nodes/${name}`);
}

beforeAll(async () => {
  server = await startKubeApiServer();
  raw = rawClient(server);
  const kubeConfig = await server.kubeconfig(dir);
  const ca = await createCertificateAuthority({ commonName: 'health webhook test CA' });
  const serving = await issueCertificate(ca, { commonName: 'edgeadm-health-webhook', ipAddresses: ['127.0.0.1'], usage: 'server' });
  cache = await startNodeCache({ kubeConfig, logger: quiet });
  await cache.ready;
  webhook = await startHealthWebhook({ host: '127.0.0.1', port: 0, tls: { cert: serving.certPem, key: serving.keyPem }, nodes: cache, logger: quiet, ready: () => cache.synced() });
  annotator = await kubeNodeAnnotator(kubeConfig, quiet);
  const caBundle = Buffer.from(ca.certPem).toString('base64');
  const hook = (name: string, path: string, rule: Record<string, unknown>) => ({
    name,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Ignore',
    timeoutSeconds: 5,
    clientConfig: { url: `${webhook.url}${path}`, caBundle },
    rules: [rule],
  });
  const made = await raw.call('POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: 'edgeadm-health' },
    webhooks: [
      hook('nodes.health.edgeadm.io', HEALTH_WEBHOOK_PATHS.nodes, { apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['nodes'] }),
      hook('endpoints.health.edgeadm.io', HEALTH_WEBHOOK_PATHS.endpoints, { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['endpoints'] }),
      hook('endpointslices.health.edgeadm.io', HEALTH_WEBHOOK_PATHS.endpointslices, { apiGroups: ['discovery.k8s.io'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['endpointslices'] }),
    ],
  });
  expect(made.status).toBe(201);
  for (const name of ['edge-ok', 'edge-dead', 'edge-unvoted']) {
    expect((await raw.call('POST', '/api/v1/nodes', { metadata: { name }, status: { conditions: [{ type: 'Ready', status: 'True' }] } })).status).toBe(201);
  }
  // The peers' votes, written as the hub writes them.
  await annotator.annotate('edge-ok', verdict('edge-ok', 'healthy'));
  await annotator.annotate('edge-dead', verdict('edge-dead', 'unhealthy'));
});

afterAll(async () => {
  await annotator?.close();
  await webhook?.close();
  await cache?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a site cut off from the cloud keeps its pods and endpoints where the peers vote healthy', () => {
  it('the unreachable NoExecute taint stays off the node voted healthy, on the one voted unhealthy and on the unvoted one', async () => {
    const ok = await markUnreachable('edge-ok');
    expect(ok.spec?.taints).toEqual([{ key: UNREACHABLE_TAINT.key, effect: 'NoSchedule' }]);
    const dead = await markUnreachable('edge-dead');
    expect(dead.metadata.annotations?.[NODE_UNHEALTH_ANNOTATION]).toBe('yes');
    expect(dead.spec?.taints?.map((t) => `${t.key}:${t.effect}`)).toContain(`${UNREACHABLE_TAINT.key}:NoExecute`);
    const unvoted = await markUnreachable('edge-unvoted');
    expect(unvoted.spec?.taints?.map((t) => t.effect)).toContain('NoExecute');
    const calls = server.admissionLog().filter((e) => e.resource === 'nodes' && e.operation === 'UPDATE');
    expect(calls.some((e) => e.name === 'edge-ok' && e.patched)).toBe(true);
    expect(calls.every((e) => e.allowed && e.error === undefined)).toBe(true);
  });

  it("the healthy node's pod addresses stay ready in Endpoints and EndpointSlices; the dead node's do not", async () => {
    await waitFor('the node cache sees the verdicts', () => cache.get('edge-ok')?.metadata?.annotations !== undefined && cache.get('edge-dead') !== undefined);
    await waitFor('the node cache sees edge-ok unreachable', () => JSON.stringify(cache.get('edge-ok')).includes('Unknown') || undefined);
    await waitFor('the node cache sees edge-dead unreachable', () => JSON.stringify(cache.get('edge-dead')).includes('Unknown') || undefined);
    const made = await raw.call('POST', '/api/v1/namespaces/default/endpoints', {
      metadata: { name: 'web' },
      subsets: [{ notReadyAddresses: [{ ip: '10.0.0.1', nodeName: 'edge-ok' }, { ip: '10.0.0.2', nodeName: 'edge-dead' }], ports: [{ port: 80 }] }],
    });
    expect(made.status).toBe(201);
    const ep = await get('/api/v1/namespaces/default/endpoints/web');
    expect(ep.subsets?.[0]?.addresses?.map((a) => a.ip)).toEqual(['10.0.0.1']);
    expect(ep.subsets?.[0]?.notReadyAddresses?.map((a) => a.ip)).toEqual(['10.0.0.2']);
    const slice = await raw.call('POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', {
      metadata: { name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [
        { addresses: ['10.0.0.1'], nodeName: 'edge-ok', conditions: { ready: false, serving: false, terminating: false } },
        { addresses: ['10.0.0.2'], nodeName: 'edge-dead', conditions: { ready: false, serving: false, terminating: false } },
      ],
    });
    expect(slice.status).toBe(201);
    const s = await get('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-abc');
    expect(s.endpoints?.map((e) => [e.nodeName, e.conditions.ready])).toEqual([
      ['edge-ok', true],
      ['edge-dead', false],
    ]);
  });
});
