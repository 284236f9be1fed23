/**
 * clusterServicesRef at a Kubernetes-mode node: a Service's cluster IP read
 * as the node through its lite-apiserver (LiteApiserver.nodeGet) from the
 * Kubernetes API test server, by name in any namespace or in one; the same
 * answer from the cache once the cloud is away; and each way it cannot
 * resolve, coded and named.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access -- answers are arbitrary Kubernetes JSON */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiteApiserver } from '../core/lite-apiserver/index.ts';
import { isEdgeError } from '../core/sdk/index.ts';
import { rawClient } from '../test/support/kube-apiserver/client.ts';
import { startLiteBed, type LiteBed } from '../test/support/lite-apiserver.ts';
import { clusterServices } from './cluster-services.ts';

let bed: LiteBed;
let lite: LiteApiserver;
beforeAll(async () => {
  bed = await startLiteBed();
  lite = await bed.start();
  const admin = rawClient(bed.kube);
  for (const ns of ['edge', 'other']) await admin.call('POST', '/api/v1/namespaces', { metadata: { name: ns } });
  const svc = (name: string, spec: Record<string, unknown> = {}) => ({ metadata: { name }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 59881 }], ...spec } });
  await admin.call('POST', '/api/v1/namespaces/edge/services', svc('edgex-core-metadata-svc'));
  await admin.call('POST', '/api/v1/namespaces/edge/services', svc('twice'));
  await admin.call('POST', '/api/v1/namespaces/other/services', svc('twice'));
  await admin.call('POST', '/api/v1/namespaces/edge/services', svc('headless', { clusterIP: 'None' }));
  await admin.close();
});
afterAll(async () => {
  await lite?.close();
  await bed?.close();
});

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return isEdgeError(err) ? `${err.code}: ${err.message}` : `uncoded: ${String(err)}`;
  }
  return 'resolved';
}

describe("the cluster's Services at a Kubernetes-mode node", () => {
  it('resolve to the cluster IP kube allocated, by name or in a namespace, and from the cache while the cloud is away', async () => {
    const cs = clusterServices(() => (path) => lite.nodeGet(path));
    expect(cs.available).toBe(true);
    const admin = rawClient(bed.kube);
    const ip = (await admin.call('GET', '/api/v1/namespaces/edge/services/edgex-core-metadata-svc')).body.spec.clusterIP as string;
    await admin.close();
    expect(ip).toMatch(/^10\./);
    expect(await cs.address('edgex-core-metadata-svc', 59881)).toEqual({ host: ip, port: 59881 });
    expect(await cs.address('twice', 59881, 'other')).toMatchObject({ port: 59881 });
    // As the node: the test server saw the node's user.
    expect(bed.kube.requestLog().some((r) => r.user === 'system:node:edge-n1' && r.path === '/api/v1/services')).toBe(true);

    bed.link.down();
    try {
      expect(await cs.address('edgex-core-metadata-svc', 59881)).toEqual({ host: ip, port: 59881 });
      expect(lite.status().state).not.toBe('online');
      // Never asked while online: nothing cached to answer it.
      expect(await reason(cs.address('never-asked', 1))).toMatch(/^EDGE_ERR_CLUSTER_SERVICE: .*'never-asked'.*EDGE_ERR_LITE_APISERVER_NOT_CACHED/);
    } finally {
      bed.link.up();
    }
  });

  it('say why a Service does not resolve, naming it', async () => {
    const cs = clusterServices(() => (path) => lite.nodeGet(path));
    await waitOnline();
    expect(await reason(cs.address('absent', 80))).toMatch(/EDGE_ERR_CLUSTER_SERVICE: the cluster's Service 'absent' does not resolve at this node: there is no such Service/);
    expect(await reason(cs.address('absent', 80, 'edge'))).toMatch(/'edge\/absent'.*no such Service/);
    expect(await reason(cs.address('twice', 59881))).toMatch(/namespaces edge, other: name its namespace/);
    expect(await reason(cs.address('headless', 59881))).toMatch(/no cluster IP/);
    expect(await reason(cs.address('edgex-core-metadata-svc', 1883))).toMatch(/no port 1883 \(59881\)/);
    const none = clusterServices(() => undefined);
    expect(none.available).toBe(false);
    expect(await reason(none.address('x', 1))).toMatch(/runs no lite-apiserver/);
  });
});

async function waitOnline(): Promise<void> {
  for (let i = 0; i < 200 && lite.status().state !== 'online'; i++) await new Promise((r) => setTimeout(r, 25));
}
