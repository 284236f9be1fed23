/**
 * ServiceGrid: the Service SuperEdge's documented ServiceGrid expands to
 * (checked against Kubernetes' Service schema), its reconciliation on the
 * Kubernetes API test server, and the topology filtering of Endpoints and
 * EndpointSlices.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access -- raw answers are arbitrary Kubernetes JSON (RawResponse.body) */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Service } from 'kubernetes-models/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { rawClient } from '../../test/support/kube-apiserver/client.ts';
import { startKubeApiServer, type KubeApiServer } from '../../test/support/kube-apiserver/index.ts';
import { tempDir } from '../../test/support/hub-fixture.ts';
import { openKubeClient, type KubeClient } from '../store/index.ts';
import { GridErrors } from './index.ts';
import { filterEndpoints, filterEndpointSlice, reconcileServiceGrid, serviceForGrid, topologyKeysOf, type ServiceGridObject } from './services.ts';

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/superedge/servicegrid.yaml');
const documented = parse(readFileSync(FIXTURE, 'utf8')) as ServiceGridObject;

describe('the Service of a ServiceGrid', () => {
  it('expands SuperEdge\'s documented ServiceGrid as SuperEdge does: <grid>-svc, grid labels, topologyKeys, its template as spec', () => {
    const sg: ServiceGridObject = { ...documented, metadata: { ...documented.metadata, uid: 'u-1', labels: { team: 'a' }, annotations: { note: 'kept' } } };
    const svc = serviceForGrid(sg, 'default');
    expect(svc.metadata).toEqual({
      name: 'servicegrid-demo-svc',
      namespace: 'default',
      labels: { team: 'a', 'superedge.io/grid-selector': 'servicegrid-demo', 'superedge.io/grid-uniq-key': 'zone' },
      annotations: { note: 'kept', topologyKeys: '["zone"]' },
      ownerReferences: [{ apiVersion: 'superedge.io/v1', kind: 'ServiceGrid', name: 'servicegrid-demo', uid: 'u-1', controller: true, blockOwnerDeletion: true }],
    });
    expect(svc.spec).toEqual({ selector: { appGrid: 'echo' }, ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }] });
    // A valid core/v1 Service by Kubernetes' own schema.
    expect(() => new Service(svc as never).validate()).not.toThrow();
    // The grid's own objects are not changed by the expansion.
    expect(sg.metadata.labels).toEqual({ team: 'a' });
  });

  it('reads topology keys, and refuses a malformed annotation naming the Service', () => {
    expect(topologyKeysOf({ annotations: { topologyKeys: '["zone","rack"]' } })).toEqual(['zone', 'rack']);
    expect(topologyKeysOf({ annotations: {} })).toBeUndefined();
    for (const bad of ['zone', '[]', '[1]', '{"a":1}', '[""]']) {
      let err: unknown;
      try {
        topologyKeysOf({ name: 'web', namespace: 'shop', annotations: { topologyKeys: bad } });
      } catch (e) {
        err = e;
      }
      expect(GridErrors.ErrTopologyKeys.is(err), bad).toBe(true);
      expect((err as Error).message).toContain('Service shop/web: annotation topologyKeys must be a JSON array');
    }
  });
});

describe('topology filtering', () => {
  const nodes = new Map<string, Record<string, string>>([
    ['a1', { zone: 'zone-a' }],
    ['a2', { zone: 'zone-a' }],
    ['b1', { zone: 'zone-b' }],
    ['x1', {}],
  ]);
  const addr = (ip: string, nodeName?: string) => ({ ip, ...(nodeName === undefined ? {} : { nodeName }) });

  it('keeps the Endpoints addresses of the local node\'s unit only, ready and not ready, and drops emptied subsets', () => {
    const ep = {
      metadata: { name: 'web-svc' },
      subsets: [
        { addresses: [addr('10.0.0.1', 'a1'), addr('10.0.0.2', 'b1'), addr('10.0.0.3')], notReadyAddresses: [addr('10.0.0.4', 'a2')], ports: [{ port: 80 }] },
        { addresses: [addr('10.0.1.1', 'b1')], ports: [{ port: 81 }] },
      ],
    };
    const onA = filterEndpoints(ep, ['zone'], 'a2', nodes);
    expect(onA.subsets).toEqual([{ addresses: [addr('10.0.0.1', 'a1')], notReadyAddresses: [addr('10.0.0.4', 'a2')], ports: [{ port: 80 }] }]);
    expect(filterEndpoints(ep, ['zone'], 'b1', nodes).subsets.map((s) => s.addresses?.map((a) => a.ip))).toEqual([['10.0.0.2'], ['10.0.1.1']]);
    // A node in no unit of the grid, or one unknown, gets nothing.
    expect(filterEndpoints(ep, ['zone'], 'x1', nodes).subsets).toEqual([]);
    expect(filterEndpoints(ep, ['zone'], 'nowhere', nodes).subsets).toEqual([]);
    // The input is left as it was.
    expect(ep.subsets[0]!.addresses).toHaveLength(3);
  });

  it('keeps the EndpointSlice endpoints of the local node\'s unit only', () => {
    const slice = { metadata: { name: 'web-svc-abc' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], nodeName: 'a1' }, { addresses: ['10.0.0.2'], nodeName: 'b1' }, { addresses: ['10.0.0.3'] }] };
    expect(filterEndpointSlice(slice, ['zone'], 'a2', nodes).endpoints).toEqual([{ addresses: ['10.0.0.1'], nodeName: 'a1' }]);
    expect(filterEndpointSlice({ ...slice, endpoints: null }, ['zone'], 'a2', nodes).endpoints).toEqual([]);
  });
});

describe('reconciling a ServiceGrid on the Kubernetes API test server', () => {
  let server: KubeApiServer;
  let client: KubeClient;
  let raw: ReturnType<typeof rawClient>;
  beforeAll(async () => {
    server = await startKubeApiServer();
    client = await openKubeClient(await server.kubeconfig(tempDir('grid-svc')));
    raw = rawClient(server);
  });
  afterAll(async () => {
    await raw.close();
    await client.close();
    await server.close();
  });

  it('creates the Service once, keeps kube\'s own fields on update, writes nothing when in place, and deletes only its own', async () => {
    const sg: ServiceGridObject = { ...documented, metadata: { name: 'servicegrid-demo', namespace: 'default', uid: 'uid-sg' } };
    expect(await reconcileServiceGrid(client, 'default', 'servicegrid-demo', sg)).toBe(1);
    expect(await reconcileServiceGrid(client, 'default', 'servicegrid-demo', sg)).toBe(0);
    const got = await raw.call('GET', '/api/v1/namespaces/default/services/servicegrid-demo-svc');
    expect(got.status).toBe(200);
    expect(got.body.metadata.annotations).toEqual({ topologyKeys: '["zone"]' });
    expect(got.body.spec).toMatchObject({ selector: { appGrid: 'echo' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] });

    // kube's own field (the cluster IP kube-apiserver allocated) survives a change of the template.
    const ip = got.body.spec.clusterIP as string;
    expect(ip).toMatch(/^10\.\d+\.\d+\.\d+$/);
    const changed: ServiceGridObject = { ...sg, spec: { ...sg.spec, template: { ...sg.spec.template, ports: [{ protocol: 'TCP', port: 8080, targetPort: 8080 }] } } };
    expect(await reconcileServiceGrid(client, 'default', 'servicegrid-demo', changed)).toBe(1);
    const after = await raw.call('GET', '/api/v1/namespaces/default/services/servicegrid-demo-svc');
    expect(after.body.spec).toMatchObject({ clusterIP: ip, ports: [{ port: 8080 }] });

    // A Service of the same name that the grid did not make is not deleted.
    expect((await raw.call('POST', '/api/v1/namespaces/default/services', { metadata: { name: 'other-svc' }, spec: { ports: [{ port: 1 }] } })).status).toBe(201);
    expect(await reconcileServiceGrid(client, 'default', 'other', undefined)).toBe(0);
    expect((await raw.call('GET', '/api/v1/namespaces/default/services/other-svc')).status).toBe(200);
    // The grid gone: its Service goes.
    expect(await reconcileServiceGrid(client, 'default', 'servicegrid-demo', undefined)).toBe(1);
    expect((await raw.call('GET', '/api/v1/namespaces/default/services/servicegrid-demo-svc')).status).toBe(404);
  });
});
