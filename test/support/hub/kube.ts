/**
 * The Kubernetes API test server the hub's tests of one test file share, for
 * hubs on the kube store driver.
 *
 * Rules:
 * - One server per test file: started on first use (a file that never asks
 *   pays nothing, not even the import), closed after the file by an
 *   `afterAll` this module registers on the file when it is loaded (vitest
 *   isolates modules per file, so each file has its own).
 * - The CRDs (the store's kinds and the hub's Commands) are installed once per server.
 * - Every call of `kubeStoreTarget` makes a fresh namespace, so the hubs of
 *   one file never see each other's objects. Revisions are the server's
 *   (one counter for every namespace): tests must not expect a store's first
 *   resourceVersion to be 1.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import type { KubeApiServer } from '../kube-apiserver/index.ts';
import type { rawClient } from '../kube-apiserver/client.ts';

interface Shared {
  server: KubeApiServer;
  raw: ReturnType<typeof rawClient>;
  dir: string;
  kubeConfig: string;
}

let shared: Promise<Shared> | undefined;
let namespaces = 0;

async function start(): Promise<Shared> {
  const [{ startKubeApiServer }, { rawClient: makeRaw }, { openKubeStore }, { installHubCrds }] = await Promise.all([
    import('../kube-apiserver/index.ts'),
    import('../kube-apiserver/client.ts'),
    import('../../../core/store/index.ts'),
    import('../../../core/hub/index.ts'),
  ]);
  // Bookmarks often enough that a hub's watch-based sessions see progress while idle.
  const server = await startKubeApiServer({ bookmarkIntervalMs: 100 });
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeadm-hub-kube-'));
  const kubeConfig = await server.kubeconfig(dir);
  // Once per server: CRDs are cluster-wide, every later store finds them served.
  const installer = await openKubeStore({ kubeConfig, namespace: 'default', installCrds: true });
  await installer.close();
  await installHubCrds(kubeConfig);
  return { server, raw: makeRaw(server), dir, kubeConfig };
}

/**
 * A fresh namespace on this file's Kubernetes API test server (started and
 * given the CRDs on first use) and the kubeconfig file to reach it: what
 * `openKubeStore` and `startHub({ store: { kind: 'kube', ... } })` take.
 */
export async function kubeStoreTarget(): Promise<{ kubeConfig: string; namespace: string; server: KubeApiServer }> {
  shared ??= start();
  const s = await shared;
  const namespace = `hub-${++namespaces}`;
  const made = await s.raw.call('POST', '/api/v1/namespaces', { metadata: { name: namespace } });
  expect(made.status, `namespace ${namespace} created`).toBe(201);
  return { kubeConfig: s.kubeConfig, namespace, server: s.server };
}

afterAll(async () => {
  // A start that failed has failed its test already.
  const s = await shared?.catch(() => undefined);
  shared = undefined;
  if (s === undefined) return;
  await s.raw.close();
  await s.server.close();
  await rm(s.dir, { recursive: true, force: true });
});
