/** `hub run`'s kube store option, as `init` shares it: a file, or the pod's ServiceAccount. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { kubeStoreOption } from './hub.ts';

const saved = process.env.KUBERNETES_SERVICE_HOST;
afterEach(() => {
  if (saved === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
  else process.env.KUBERNETES_SERVICE_HOST = saved;
});

describe('the kube store option', () => {
  it('takes an existing kubeconfig file, resolved, with a namespace name', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-hub-opt-'));
    const file = path.join(dir, 'kubeconfig');
    writeFileSync(file, 'apiVersion: v1\nkind: Config\n');
    expect(kubeStoreOption({ kubeconfig: file, namespace: 'edge-system', installCrds: true })).toEqual({ kind: 'kube', kubeConfig: file, namespace: 'edge-system', installCrds: true });
    expect(kubeStoreOption({ namespace: 'edgeadm' })).toBeUndefined();
    expect(() => kubeStoreOption({ namespace: 'edgeadm', installCrds: true })).toThrow(/--install-crds: needs --kubeconfig/);
    expect(() => kubeStoreOption({ kubeconfig: path.join(dir, 'none'), namespace: 'edgeadm' })).toThrow(/--kubeconfig: no file at/);
    expect(() => kubeStoreOption({ kubeconfig: file, namespace: 'Edge_System' })).toThrow(/--namespace: 'Edge_System'/);
  });

  it("takes 'in-cluster' inside a pod only", () => {
    delete process.env.KUBERNETES_SERVICE_HOST;
    expect(() => kubeStoreOption({ kubeconfig: 'in-cluster', namespace: 'edgeadm' })).toThrow(/--kubeconfig: 'in-cluster' needs a pod \(KUBERNETES_SERVICE_HOST is not set\)/);
    process.env.KUBERNETES_SERVICE_HOST = '10.96.0.1';
    expect(kubeStoreOption({ kubeconfig: 'in-cluster', namespace: 'edgeadm' })).toEqual({ kind: 'kube', kubeConfig: 'in-cluster', namespace: 'edgeadm', installCrds: false });
  });
});
