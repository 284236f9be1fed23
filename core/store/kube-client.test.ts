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
