/**
 * @kubernetes/client-node (the kube store driver's client) against the
 * Kubernetes API test server over TLS with the server's kubeconfig: typed
 * create and list, custom objects, its `Watch` class (events, and the 410
 * ERROR event from a compacted resourceVersion), and an informer
 * (`makeInformer`, a ListWatch) that relists after a 410, as the API
 * concepts document asks clients to.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig, makeInformer, Watch, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawClient } from './client.ts';
import { startKubeApiServer, type KubeApiServer } from './index.ts';

let server: KubeApiServer;
let dir: string;
let kc: KubeConfig;
let core: CoreV1Api;

beforeAll(async () => {
  server = await startKubeApiServer();
  dir = await mkdtemp(path.join(tmpdir(), 'kube-client-'));
  kc = new KubeConfig();
  kc.loadFromFile(await server.kubeconfig(dir));
  core = kc.makeApiClient(CoreV1Api);
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function eventually(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('@kubernetes/client-node', () => {
  it('creates and lists with the typed API; a server error reaches it as an ApiException with the Status', async () => {
    await core.createNamespace({ body: { metadata: { name: 'cn' } } });
    const created = await core.createNamespacedConfigMap({ namespace: 'cn', body: { metadata: { name: 'a', labels: { k: 'v' } }, data: { x: '1' } } });
    expect(created.metadata?.uid).toBeDefined();
    const list = await core.listNamespacedConfigMap({ namespace: 'cn', labelSelector: 'k=v' });
    expect(list.items.map((i) => i.metadata?.name)).toEqual(['a']);
    expect(list.metadata?.resourceVersion).toBe(String(server.revision));
    await expect(core.createNamespacedConfigMap({ namespace: 'cn', body: { metadata: { name: 'a' } } })).rejects.toMatchObject({ code: 409 });
  });

  it('serves custom objects of an established CRD through CustomObjectsApi', async () => {
    const c = rawClient(server);
    await c.call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      metadata: { name: 'widgets.example.com' },
      spec: {
        group: 'example.com',
        scope: 'Namespaced',
        names: { plural: 'widgets', kind: 'Widget' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } } } }],
      },
    });
    await c.close();
    const custom = kc.makeApiClient(CustomObjectsApi);
    const obj = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { size: 3 } };
    let created: unknown;
    // The type is served once the CRD is Established, a moment after its create.
    for (let i = 0; i < 50 && created === undefined; i++) {
      created = await custom.createNamespacedCustomObject({ group: 'example.com', version: 'v1', namespace: 'cn', plural: 'widgets', body: obj }).then((o: unknown) => o, () => undefined);
      if (created === undefined) await new Promise((r) => setTimeout(r, 10));
    }
    expect(created).toMatchObject({ spec: { size: 3 }, metadata: { generation: 1 } });
    const listed = (await custom.listNamespacedCustomObject({ group: 'example.com', version: 'v1', namespace: 'cn', plural: 'widgets' })) as { items: unknown[] };
    expect(listed.items).toHaveLength(1);
  });

  it('Watch gets the events after a resourceVersion, and the 410 ERROR event from a compacted one', async () => {
    const rv = (await core.listNamespacedConfigMap({ namespace: 'cn' })).metadata?.resourceVersion as string;
    const seen: [string, string | undefined][] = [];
    let doneErr: unknown = 'not done';
    const watch = new Watch(kc);
    const ctl = await watch.watch('/api/v1/namespaces/cn/configmaps', { resourceVersion: rv }, (type, obj: V1ConfigMap) => seen.push([type, obj.metadata?.name]), (err: unknown) => {
      doneErr = err;
    });
    await core.createNamespacedConfigMap({ namespace: 'cn', body: { metadata: { name: 'b' } } });
    await core.deleteNamespacedConfigMap({ namespace: 'cn', name: 'b' });
    await eventually(() => seen.length >= 2, 'two watch events');
    expect(seen).toEqual([
      ['ADDED', 'b'],
      ['DELETED', 'b'],
    ]);
    ctl.abort();

    server.compact();
    const errors: { type: string; code?: number; reason?: string }[] = [];
    let ended = false;
    await watch.watch(
      '/api/v1/namespaces/cn/configmaps',
      { resourceVersion: rv },
      (type, obj: { code?: number; reason?: string }) => errors.push({ type, code: obj.code, reason: obj.reason }),
      () => (ended = true),
    );
    await eventually(() => ended, 'the expired watch to end');
    expect(errors).toEqual([{ type: 'ERROR', code: 410, reason: 'Expired' }]);
    expect(doneErr).not.toBe('not done');
  });

  it('an informer relists after its watch resumes from a resourceVersion that history no longer holds (410), then keeps watching', async () => {
    await core.createNamespace({ body: { metadata: { name: 'inf' } } });
    await core.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'first' } } });
    let lists = 0;
    const informer = makeInformer(kc, '/api/v1/namespaces/inf/configmaps', () => {
      lists += 1;
      return core.listNamespacedConfigMap({ namespace: 'inf' });
    });
    const added: string[] = [];
    informer.on('add', (o: V1ConfigMap) => added.push(o.metadata?.name as string));
    await informer.start();
    try {
      await eventually(() => added.includes('first'), 'the informer\'s first list');
      expect(lists).toBe(1);
      // Changes elsewhere move the revision past the informer's; then history is compacted and its watch ends.
      await core.createNamespacedConfigMap({ namespace: 'cn', body: { metadata: { name: 'elsewhere' } } });
      server.compact();
      server.endWatches();
      await eventually(() => lists === 2, 'a relist after 410', 8000);
      // Watching again from the new list: later changes arrive.
      await core.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'second' } } });
      await eventually(() => added.includes('second'), 'the change after the relist', 8000);
      expect(informer.list().map((o) => o.metadata?.name).sort()).toEqual(['first', 'second']);
    } finally {
      await informer.stop();
    }
  });
});
