/** The Lease kind: its shape (Kubernetes coordination.k8s.io/v1 plus holderAddress), validation, and that it never reaches a site. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  KINDS,
  LEASE_FOR_LABEL,
  openSqliteStore,
  relevantToSite,
  sitesOf,
  SYNC_KINDS,
  validateResource,
  type LeaseObject,
  type ResourceStore,
} from './index.ts';

function lease(name: string, spec: Record<string, unknown>): LeaseObject {
  return { apiVersion: API_VERSION, kind: 'Lease', metadata: { name, labels: { [LEASE_FOR_LABEL]: 'tunnel' } }, spec };
}

const held = {
  holderIdentity: 'tunnel-cloud-0',
  holderAddress: 'wss://tunnel-cloud-0.edgeadm:8443/peer',
  leaseDurationSeconds: 30,
  acquireTime: '2025-01-01T00:00:00.000Z',
  renewTime: '2025-01-01T00:00:10.000Z',
  leaseTransitions: 0,
};

describe('Lease kind', () => {
  it('is a kind of the store, but not one that sync replicates', () => {
    expect(KINDS).toContain('Lease');
    expect(SYNC_KINDS).not.toContain('Lease');
  });

  it('accepts a Kubernetes-shaped lease (every field optional) and reports each bad field', () => {
    expect(validateResource(lease('tunnel.node-1', held))).toEqual([]);
    expect(validateResource(lease('tunnel.node-1', {}))).toEqual([]);
    const issues = validateResource(
      lease('tunnel.Node_1', {
        holderIdentity: '',
        holderAddress: 'http://tunnel-cloud-0/peer',
        leaseDurationSeconds: 0,
        acquireTime: 'yesterday',
        renewTime: 'soon',
        leaseTransitions: -1,
        holder: 'x',
      }),
    );
    const paths = issues.map((i) => i.path);
    for (const p of ['metadata.name', 'spec.holderIdentity', 'spec.holderAddress', 'spec.leaseDurationSeconds', 'spec.acquireTime', 'spec.renewTime', 'spec.leaseTransitions', 'spec.holder']) {
      expect(paths).toContain(p);
    }
    expect(issues).toContainEqual({ path: 'spec.holderAddress', message: 'must be a ws:// or wss:// URL' });
    expect(issues).toContainEqual({ path: 'spec.renewTime', message: "must be an RFC 3339 time (is 'soon')" });
  });

  it('belongs to no site: never relevant to a site, never in a site-filtered list', () => {
    const l = lease('tunnel.node-1', held);
    expect(sitesOf(l)).toEqual([]);
    expect(relevantToSite(l, 'plant-a', {})).toBe(false);
    expect(relevantToSite(l, 'tunnel', { [LEASE_FOR_LABEL]: 'tunnel' })).toBe(false);
  });

  describe('in the SQLite store', () => {
    let dir: string;
    let store: ResourceStore;
    beforeEach(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-lease-'));
      store = openSqliteStore({ file: path.join(dir, 'resources.db') });
    });
    afterEach(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('is written with resourceVersion preconditions, listed by label, and hidden from site lists', async () => {
      const created = await store.create(lease('tunnel.node-1', held));
      const rv = created.metadata.resourceVersion!;
      const renewed = await store.apply(lease('tunnel.node-1', { ...held, renewTime: '2025-01-01T00:00:20.000Z' }), { resourceVersion: rv });
      expect(renewed.spec.renewTime).toBe('2025-01-01T00:00:20.000Z');
      // A second writer still holding the first version loses.
      await expect(store.apply(lease('tunnel.node-1', { ...held, holderIdentity: 'tunnel-cloud-1' }), { resourceVersion: rv })).rejects.toMatchObject({
        code: 'EDGE_ERR_STORE_CONFLICT',
      });
      await expect(store.create(lease('tunnel.node-1', held))).rejects.toMatchObject({ code: 'EDGE_ERR_STORE_EXISTS' });
      expect((await store.get<LeaseObject>('Lease', 'tunnel.node-1'))?.spec.holderIdentity).toBe('tunnel-cloud-0');
      expect((await store.list('Lease', { labelSelector: `${LEASE_FOR_LABEL}=tunnel` })).items.map((i) => i.metadata.name)).toEqual(['tunnel.node-1']);
      expect((await store.list('Lease', { site: 'plant-a' })).items).toEqual([]);
      await expect(store.delete('Lease', 'tunnel.node-1', { resourceVersion: rv })).rejects.toMatchObject({ code: 'EDGE_ERR_STORE_CONFLICT' });
      expect(await store.delete('Lease', 'tunnel.node-1', { resourceVersion: renewed.metadata.resourceVersion! })).toMatchObject({ kind: 'Lease' });
    });
  });
});
