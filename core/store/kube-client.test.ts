/** Loading a kube client: the options it refuses, with the field named (the reflector and CRD installer run in the tokens, commands and store tests). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreErrors } from './index.ts';
import { openKubeClient } from './kube-client.ts';

const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
afterEach(() => {
  for (const [k, v] of [['KUBERNETES_SERVICE_HOST', saved.host], ['KUBERNETES_SERVICE_PORT', saved.port]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe('openKubeClient', () => {
  it("refuses 'in-cluster' outside a pod instead of making a client of nowhere", async () => {
    delete process.env.KUBERNETES_SERVICE_HOST;
    const err = await openKubeClient('in-cluster').catch((e: unknown) => e);
    expect(StoreErrors.ErrKubeOptions.is(err)).toBe(true);
    expect((err as Error).message).toMatch(/kubeConfig is invalid: 'in-cluster' needs a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT set/);
  });

  it('names a kubeconfig file it cannot read, and one without a current cluster', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-kc-'));
    await expect(openKubeClient(path.join(dir, 'missing'))).rejects.toThrow(/kubeConfig is invalid: cannot load .*missing/);
    const empty = path.join(dir, 'empty.yaml');
    writeFileSync(empty, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
    await expect(openKubeClient(empty)).rejects.toThrow(/kubeConfig is invalid: has no current cluster/);
  });
});

describe('reflect', () => {
  it('lists every page of a typed list (client-node names the token _continue) before it is ready', async () => {
    const { startKubeApiServer } = await import('../../test/support/kube-apiserver/index.ts');
    const { rawClient } = await import('../../test/support/kube-apiserver/client.ts');
    const { reflect, typedPage } = await import('./kube-client.ts');
    const server = await startKubeApiServer();
    const raw = rawClient(server);
    const client = await openKubeClient(await server.kubeconfig(mkdtempSync(path.join(tmpdir(), 'edgeadm-kc-'))));
    const stop = new AbortController();
    try {
      // One more than a page.
      for (let i = 0; i < 501; i++) expect((await raw.call('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: `cm-${i}` }, data: { i: String(i) } })).status).toBe(201);
      const seen = new Set<string>();
      const r = reflect({
        client,
        path: '/api/v1/namespaces/default/configmaps',
        list: async (p) => typedPage(await client.core.listNamespacedConfigMap({ namespace: 'default', limit: p.limit, ...(p.continue === undefined ? {} : { _continue: p.continue }) })),
        onEvent: (type, obj) => {
          if (type !== 'DELETED') seen.add(obj.metadata?.name ?? '');
        },
        signal: stop.signal,
      });
      await r.ready;
      expect(seen.size).toBe(501);
    } finally {
      stop.abort();
      await client.close();
      await raw.close();
      await server.close();
    }
  });
});
