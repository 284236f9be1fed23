/**
 * The Kubernetes API test server, a Service's cluster IP as kube-apiserver
 * keeps it (the service REST strategy and its ClusterIP allocator):
 * allocated from the service range when none is given, a given one checked,
 * kept across updates that leave it out, immutable, free again after the
 * Service is deleted; headless and ExternalName Services; kube's defaults.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call -- answers are arbitrary Kubernetes JSON */
import { describe, expect, it } from 'vitest';
import { useKubeApiServer } from './client.ts';

const t = useKubeApiServer();
const P = '/api/v1/namespaces/default/services';
const svc = (name: string, spec: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80 }], ...spec } });

describe("a Service's cluster IP", () => {
  it('is allocated from 10.96.0.0/12, never twice, with kube\'s defaults', async () => {
    const a = await t.c.call('POST', P, svc('ip-a'));
    const b = await t.c.call('POST', P, svc('ip-b'));
    expect([a.status, b.status]).toEqual([201, 201]);
    for (const r of [a, b]) {
      expect(r.body.spec.clusterIP).toMatch(/^10\.(9[6-9]|10\d|11[01])\.\d+\.\d+$/);
      expect(r.body.spec.clusterIP).not.toBe('10.96.0.1');
      expect(r.body.spec.clusterIPs).toEqual([r.body.spec.clusterIP]);
      expect(r.body.spec).toMatchObject({ type: 'ClusterIP', sessionAffinity: 'None', ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }] });
    }
    expect(a.body.spec.clusterIP).not.toBe(b.body.spec.clusterIP);
    // The list shows what was allocated; a field selector finds it by name in every namespace.
    const found = await t.c.call('GET', '/api/v1/services?fieldSelector=metadata.name%3Dip-a');
    expect(found.body.items.map((i: { spec: { clusterIP: string } }) => i.spec.clusterIP)).toEqual([a.body.spec.clusterIP]);
  });

  it('given, must be in the range and free', async () => {
    const mine = await t.c.call('POST', P, svc('ip-given', { clusterIP: '10.96.200.7' }));
    expect(mine.body.spec.clusterIP).toBe('10.96.200.7');
    const taken = await t.c.call('POST', P, svc('ip-taken', { clusterIP: '10.96.200.7' }));
    expect(taken.status).toBe(422);
    expect(taken.body.details.causes).toEqual([expect.objectContaining({ field: 'spec.clusterIPs[0]', message: expect.stringContaining('provided IP is already allocated') })]);
    const outside = await t.c.call('POST', P, svc('ip-outside', { clusterIP: '192.168.1.5' }));
    expect(outside.status).toBe(422);
    expect(outside.body.message).toContain('not in the valid range');
    // Free again once its Service is gone.
    expect((await t.c.call('DELETE', `${P}/ip-given`)).status).toBe(200);
    expect((await t.c.call('POST', P, svc('ip-again', { clusterIP: '10.96.200.7' }))).status).toBe(201);
  });

  it('is kept by an update that leaves it out, and cannot change', async () => {
    const made = (await t.c.call('POST', P, svc('ip-keep'))).body;
    const put = await t.c.call('PUT', `${P}/ip-keep`, { ...svc('ip-keep', { ports: [{ port: 8080 }] }), metadata: { name: 'ip-keep', resourceVersion: made.metadata.resourceVersion } });
    expect(put.status).toBe(200);
    expect(put.body.spec.clusterIP).toBe(made.spec.clusterIP);
    const moved = await t.c.call('PATCH', `${P}/ip-keep`, { spec: { clusterIP: '10.96.250.250' } }, 'application/merge-patch+json');
    expect(moved.status).toBe(422);
    expect(moved.body.details.causes[0]).toMatchObject({ field: 'spec.clusterIPs[0]', message: expect.stringContaining('may not change once set') });
  });

  it('is None for a headless Service and absent from an ExternalName one', async () => {
    expect((await t.c.call('POST', P, svc('ip-headless', { clusterIP: 'None' }))).body.spec.clusterIPs).toEqual(['None']);
    const ext = await t.c.call('POST', P, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ip-ext' }, spec: { type: 'ExternalName', externalName: 'db.example.com' } });
    expect(ext.status).toBe(201);
    expect(ext.body.spec.clusterIP).toBeUndefined();
  });
});
