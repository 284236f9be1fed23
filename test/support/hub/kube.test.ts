/**
 * The hub test harness on the kube store: the hubs of one test file share
 * one Kubernetes API test server, each in its own namespace (they do not see
 * each other's objects, and share the server's one revision counter), and
 * the CRDs are installed once, not again for every hub.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { rawClient } from '../kube-apiserver/client.ts';
import { kubeBackend, site, startTestHub } from './harness.ts';
import { kubeStoreTarget } from './kube.ts';

describe('the kube backend of the hub test harness', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
  });

  it('gives each hub its own namespace on one server, with the CRDs installed once', async () => {
    const a = await startTestHub({ backend: kubeBackend });
    closers.push(() => a.close());
    const { server } = await kubeStoreTarget();
    const raw = rawClient(server);
    closers.push(() => raw.close());
    const crd = async (): Promise<string> => {
      const r = await raw.call('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/sites.edgeadm.io');
      expect(r.status).toBe(200);
      return (r.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    };
    const crdBefore = await crd();

    const b = await startTestHub({ backend: kubeBackend, seed: false });
    closers.push(() => b.close());
    expect(await crd()).toBe(crdBefore);

    // a's seeded world is not b's.
    expect((await a.store.list('Site')).items.map((s) => s.metadata.name)).toEqual(['plant-a', 'plant-b']);
    expect((await b.store.list('Site')).items).toEqual([]);
    const aRevision = (await a.store.list('Site')).resourceVersion;
    const onlyB = await b.store.apply(site('only-b'));
    expect(await a.store.get('Site', 'only-b')).toBeUndefined();
    // One server, one revision counter: b's write comes after everything a wrote.
    expect(BigInt(onlyB.metadata.resourceVersion!)).toBeGreaterThan(BigInt(aRevision));
    expect(await b.store.get('Site', 'only-b')).toMatchObject({ metadata: { name: 'only-b' } });
  });
});
