/**
 * The hub on the kube store (`startHub({ store: { kind: 'kube', ... } })`)
 * against the Kubernetes API test server: resources written through the
 * hub's HTTP API are custom resources in the hub's namespace, what kubectl
 * or another client writes there is what the hub serves, and a cluster
 * without the CRDs stops the start with the store's error.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access -- raw answers are arbitrary Kubernetes JSON (RawResponse.body) */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawClient } from '../../test/support/kube-apiserver/client.ts';
import { startKubeApiServer, type KubeApiServer } from '../../test/support/kube-apiserver/index.ts';
import { quiet, tempDir } from '../../test/support/hub-fixture.ts';
import { startHub } from './server.ts';

let kube: KubeApiServer;
let raw: ReturnType<typeof rawClient>;

beforeAll(async () => {
  kube = await startKubeApiServer();
  raw = rawClient(kube);
  expect((await raw.call('POST', '/api/v1/namespaces', { metadata: { name: 'edgeadm' } })).status).toBe(201);
});

afterAll(async () => {
  await raw.close();
  await kube.close();
});

describe('startHub with the kube store', () => {
  it('keeps resources as custom resources in its namespace, both ways', async () => {
    const dataDir = tempDir('hub-kube');
    const kubeConfig = await kube.kubeconfig(path.join(dataDir, 'kubeconfig.yaml'));
    const hub = await startHub({ dataDir, port: 0, logger: quiet, store: { kind: 'kube', kubeConfig, namespace: 'edgeadm', installCrds: true } });
    try {
      const admin = readFileSync(hub.adminTokenFile, 'utf8').trim();
      const call = (method: string, url: string, body?: unknown): Promise<Response> =>
        fetch(`${hub.url}${url}`, {
          method,
          headers: { authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      expect((await call('POST', '/api/v1/sites', { metadata: { name: 'plant-a' }, spec: { displayName: 'Plant A' } })).status).toBe(201);
      const inKube = await raw.call('GET', '/apis/edgeadm.io/v1alpha1/namespaces/edgeadm/sites/plant-a');
      expect(inKube.status).toBe(200);
      expect(inKube.body.spec).toEqual({ displayName: 'Plant A' });
      expect(inKube.body.metadata.labels).toEqual({ 'edgeadm.io/site': 'plant-a' });

      // Written by another client of the cluster: the hub serves it.
      const made = await raw.call('POST', '/apis/edgeadm.io/v1alpha1/namespaces/edgeadm/nodes', {
        apiVersion: 'edgeadm.io/v1alpha1',
        kind: 'Node',
        metadata: { name: 'edge-1' },
        spec: { site: 'plant-a' },
      });
      expect(made.status).toBe(201);
      const node = await call('GET', '/api/v1/nodes/edge-1');
      expect(node.status).toBe(200);
      expect(await node.json()).toMatchObject({ kind: 'Node', metadata: { name: 'edge-1', resourceVersion: made.body.metadata.resourceVersion }, spec: { site: 'plant-a' } });
      expect(hub.store).toBeDefined();
    } finally {
      await hub.close();
    }
  });

  it('does not start on a cluster without its CRDs, naming the resource', async () => {
    const bare = await startKubeApiServer();
    try {
      const dataDir = tempDir('hub-kube-bare');
      const kubeConfig = await bare.kubeconfig(path.join(dataDir, 'kubeconfig.yaml'));
      const err = await startHub({ dataDir, port: 0, logger: quiet, store: { kind: 'kube', kubeConfig, namespace: 'default' } }).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message).toMatch(/hub-stores.*sites\.edgeadm\.io.*HTTP 404/s);
    } finally {
      await bare.close();
    }
  });
});
