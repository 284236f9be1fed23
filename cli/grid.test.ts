/**
 * `edgeadm grid run` as a process against the Kubernetes API test server: a
 * NodeUnit and a NodeGroup label their nodes, a DeploymentGrid keyed by the
 * group gets one Deployment per unit, the probes and metrics answer, and
 * Ctrl-C stops it; usage errors and a cluster without the grid's CRDs fail
 * with a message naming the cause.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access -- raw answers are arbitrary Kubernetes JSON (RawResponse.body) */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRID_KIND_NAMES, GRID_KINDS } from '../core/grid/index.ts';
import { applyCrds, crdFromSchema, openKubeClient } from '../core/store/index.ts';
import { rawClient } from '../test/support/kube-apiserver/client.ts';
import { startKubeApiServer, type KubeApiServer } from '../test/support/kube-apiserver/index.ts';
import { runEdgeadm, startEdgeadm } from '../test/support/edgeadm-cli.ts';
import { tempDir, waitFor } from '../test/support/hub-fixture.ts';
import { freePort } from '../test/support/tcp-services.ts';

let server: KubeApiServer;
let kubeconfig: string;

beforeAll(async () => {
  server = await startKubeApiServer();
  kubeconfig = await server.kubeconfig(tempDir('grid-cli'));
});
afterAll(async () => {
  await server.close();
});

describe('edgeadm grid run', () => {
  it('runs the unit and grid controllers until Ctrl-C, with probes and metrics', async () => {
    const client = await openKubeClient(kubeconfig);
    await applyCrds(client, GRID_KIND_NAMES.map((k) => crdFromSchema(GRID_KINDS[k])));
    await client.close();
    const raw = rawClient(server);
    try {
      for (const name of ['gw-a1', 'gw-a2', 'gw-b1']) expect((await raw.call('POST', '/api/v1/nodes', { metadata: { name } })).status).toBe(201);
      const unit = (name: string, nodes: string[]) => raw.call('POST', '/apis/site.superedge.io/v1alpha2/nodeunits', { apiVersion: 'site.superedge.io/v1alpha2', kind: 'NodeUnit', metadata: { name }, spec: { type: 'edge', nodes } });
      expect((await unit('plant-a', ['gw-a1', 'gw-a2'])).status).toBe(201);
      expect((await unit('plant-b', ['gw-b1'])).status).toBe(201);
      expect((await raw.call('POST', '/apis/site.superedge.io/v1alpha2/nodegroups', { apiVersion: 'site.superedge.io/v1alpha2', kind: 'NodeGroup', metadata: { name: 'plants' }, spec: { nodeUnits: ['plant-a', 'plant-b'] } })).status).toBe(201);
      const grid = {
        apiVersion: 'superedge.io/v1',
        kind: 'DeploymentGrid',
        metadata: { name: 'collector', namespace: 'default' },
        spec: {
          gridUniqKey: 'plants',
          template: { replicas: 1, selector: { matchLabels: { app: 'collector' } }, template: { metadata: { labels: { app: 'collector' } }, spec: { containers: [{ name: 'c', image: 'collector:1' }] } } },
        },
      };
      expect((await raw.call('POST', '/apis/superedge.io/v1/namespaces/default/deploymentgrids', grid)).status).toBe(201);

      const port = await freePort();
      const proc = startEdgeadm(['grid', 'run', '--kubeconfig', kubeconfig, '--metrics-port', String(port), '--log-level', 'warn']);
      try {
        await waitFor('the controllers running', () => /grid controllers running/.test(proc.out()) || proc.child.exitCode !== null, 20_000);
        expect(proc.out(), proc.output()).toContain(`metrics: http://127.0.0.1:${port}/metrics`);
        await waitFor('one Deployment per unit', async () => {
          const r = await raw.call('GET', '/apis/apps/v1/namespaces/default/deployments');
          return (r.body.items as { metadata: { name: string } }[]).map((d) => d.metadata.name).sort().join() === 'collector-plant-a,collector-plant-b';
        }, 15_000);
        const node = await raw.call('GET', '/api/v1/nodes/gw-a2');
        expect(node.body.metadata.labels.plants).toBe('plant-a');
        const deploy = await raw.call('GET', '/apis/apps/v1/namespaces/default/deployments/collector-plant-b');
        expect(deploy.body.spec.template.spec.nodeSelector).toEqual({ plants: 'plant-b' });

        for (const path of ['/healthz', '/readyz']) {
          const res = await fetch(`http://127.0.0.1:${port}${path}`);
          expect([path, res.status, await res.text()]).toEqual([path, 200, 'ok\n']);
        }
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        expect(metrics).toMatch(/edgeadm_grid_reconciles_total\{controller="grid-workloads",result="success"\} [1-9]/);
        expect(metrics).toMatch(/edgeadm_grid_reconciles_total\{controller="grid-units",result="success"\} [1-9]/);
        expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
      } finally {
        expect(await proc.stop('SIGINT')).toBe(0);
      }
      await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    } finally {
      await raw.close();
    }
  }, 60_000);

  it('runs the topology wrapper for a node: a ServiceGrid\'s endpoints come back from the node\'s unit only', async () => {
    const raw = rawClient(server);
    try {
      for (const [name, zone] of [['w-a1', 'zone-a'], ['w-a2', 'zone-a'], ['w-b1', 'zone-b']]) expect((await raw.call('POST', '/api/v1/nodes', { metadata: { name, labels: { zone } } })).status).toBe(201);
      expect((await raw.call('POST', '/api/v1/namespaces/default/services', { metadata: { name: 'web-svc', annotations: { topologyKeys: '["zone"]' } }, spec: { ports: [{ port: 80 }] } })).status).toBe(201);
      const ep = { metadata: { name: 'web-svc' }, subsets: [{ addresses: [{ ip: '10.0.0.1', nodeName: 'w-a1' }, { ip: '10.0.1.1', nodeName: 'w-b1' }], ports: [{ port: 8080 }] }] };
      expect((await raw.call('POST', '/api/v1/namespaces/default/endpoints', ep)).status).toBe(201);
      const port = await freePort();
      const proc = startEdgeadm(['grid', 'wrapper', '--kubeconfig', kubeconfig, '--node', 'w-a2', '--port', String(port), '--log-level', 'warn']);
      try {
        await waitFor('the wrapper listening', () => /topology wrapper for node w-a2 on http:\/\/127\.0\.0\.1:\d+/.test(proc.out()) || proc.child.exitCode !== null, 20_000);
        expect(proc.out(), proc.output()).toContain(`http://127.0.0.1:${port}`);
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/namespaces/default/endpoints/web-svc`, { headers: { authorization: `Bearer ${server.token}`, accept: 'application/json' } });
        const body = (await res.json()) as { subsets: { addresses: { nodeName: string }[] }[] };
        expect([res.status, body.subsets[0]!.addresses.map((a) => a.nodeName)]).toEqual([200, ['w-a1']]);
      } finally {
        expect(await proc.stop('SIGINT')).toBe(0);
      }
      const bad = await runEdgeadm(['grid', 'wrapper', '--kubeconfig', kubeconfig, '--node', 'Not_A_Node']);
      expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/--node: 'Not_A_Node'/)]);
    } finally {
      await raw.close();
    }
  }, 60_000);

  it('refuses bad arguments, and fails naming what a cluster without the grid lacks', async () => {
    const noWorkers = await runEdgeadm(['grid', 'run', '--kubeconfig', kubeconfig, '--workers', '0']);
    expect([noWorkers.code, noWorkers.stderr]).toEqual([2, expect.stringMatching(/--workers: '0' is not a number of workers/)]);
    const noFile = await runEdgeadm(['grid', 'run', '--kubeconfig', '/nonexistent/kubeconfig']);
    expect([noFile.code, noFile.stderr]).toEqual([2, expect.stringMatching(/--kubeconfig: no file at \/nonexistent\/kubeconfig/)]);
    const noKubeconfig = await runEdgeadm(['grid', 'run']);
    expect([noKubeconfig.code, noKubeconfig.stderr]).toEqual([2, expect.stringMatching(/--kubeconfig/)]);

    const bare = await startKubeApiServer();
    try {
      const r = await runEdgeadm(['grid', 'run', '--kubeconfig', await bare.kubeconfig(tempDir('grid-cli-bare')), '--metrics-port', '0', '--log-level', 'error']);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('[EDGE_ERR_GRID_KINDS_NOT_SERVED]');
      for (const plural of ['nodeunits', 'nodegroups', 'deploymentgrids', 'statefulsetgrids', 'servicegrids']) expect(r.stderr).toContain(plural);
      expect(r.stderr).toContain('edgeadm manifests crds');
    } finally {
      await bare.close();
    }
  }, 60_000);
});
