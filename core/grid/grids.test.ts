/**
 * The grid controller on the Kubernetes API test server: SuperEdge's
 * documented DeploymentGrid and ServiceGrid kept expanded as nodes join and
 * leave units, a template change rolling only its unit, what someone else
 * deletes put back, and a controller restarted mid-change converging.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access -- raw answers are arbitrary Kubernetes JSON (RawResponse.body) */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { rawClient } from '../../test/support/kube-apiserver/client.ts';
import { startKubeApiServer, type KubeApiServer } from '../../test/support/kube-apiserver/index.ts';
import { quiet, tempDir, waitFor } from '../../test/support/hub-fixture.ts';
import { applyCrds, crdFromSchema, openKubeClient, type KubeClient } from '../store/index.ts';
import { startGridControllers, type GridControllers } from './grids.ts';
import { GRID_KIND_NAMES, GRID_KINDS } from './types.ts';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/superedge');
/** The first manifest of a fixture file (SuperEdge's plain example comes first). */
const fixture = (file: string): Record<string, unknown> => parseAllDocuments(readFileSync(path.join(FIXTURES, file), 'utf8'))[0]!.toJS() as Record<string, unknown>;

let server: KubeApiServer;
let client: KubeClient;
let raw: ReturnType<typeof rawClient>;
let grids: GridControllers | undefined;

const DEPLOY = '/apis/apps/v1/namespaces/default/deployments';
const DG = '/apis/superedge.io/v1/namespaces/default/deploymentgrids';

beforeAll(async () => {
  server = await startKubeApiServer();
  client = await openKubeClient(await server.kubeconfig(tempDir('grid-ctl')));
  raw = rawClient(server);
  await applyCrds(client, GRID_KIND_NAMES.map((k) => crdFromSchema(GRID_KINDS[k])));
  for (const [name, zone] of [['n0', 'zone-0'], ['n1', 'zone-1'], ['n2', undefined]] as const) {
    expect((await raw.call('POST', '/api/v1/nodes', { metadata: { name, labels: zone === undefined ? {} : { zone } } })).status).toBe(201);
  }
}, 30_000);

afterAll(async () => {
  await grids?.close();
  await raw.close();
  await client.close();
  await server.close();
});

const start = async (): Promise<GridControllers> => startGridControllers({ client, logger: quiet, backoffMs: { initial: 20, max: 200 } });
const deployments = async (): Promise<Record<string, { rv: string; image: string; zone: string }>> => {
  const r = await raw.call('GET', `${DEPLOY}?labelSelector=${encodeURIComponent('superedge.io/grid-selector=deploymentgrid-demo')}`);
  type Deployment = { metadata: { name: string; resourceVersion: string }; spec: { template: { spec: { containers: { image: string }[]; nodeSelector: Record<string, string> } } } };
  return Object.fromEntries(
    (r.body.items as Deployment[]).map((d) => [d.metadata.name, { rv: d.metadata.resourceVersion, image: d.spec.template.spec.containers[0]!.image, zone: d.spec.template.spec.nodeSelector.zone! }]),
  );
};
const setZone = async (node: string, zone: string | undefined): Promise<void> => {
  const n = await raw.call('GET', `/api/v1/nodes/${node}`);
  const labels = { ...n.body.metadata.labels };
  if (zone === undefined) delete labels.zone;
  else labels.zone = zone;
  expect((await raw.call('PUT', `/api/v1/nodes/${node}`, { ...n.body, metadata: { ...n.body.metadata, labels } })).status).toBe(200);
};

describe('the grid controller', () => {
  it('keeps SuperEdge\'s documented DeploymentGrid and ServiceGrid expanded per unit as nodes move, and puts back what others delete', async () => {
    grids = await start();
    expect((await raw.call('POST', DG, fixture('deploymentgrid.yaml'))).status).toBe(201);
    expect((await raw.call('POST', '/apis/superedge.io/v1/namespaces/default/servicegrids', fixture('servicegrid.yaml'))).status).toBe(201);
    await waitFor('one Deployment per unit', async () => Object.keys(await deployments()).sort().join() === 'deploymentgrid-demo-zone-0,deploymentgrid-demo-zone-1', 10_000);
    await waitFor('the Service', async () => (await raw.call('GET', '/api/v1/namespaces/default/services/servicegrid-demo-svc')).status === 200, 10_000);
    expect((await deployments())['deploymentgrid-demo-zone-1']?.zone).toBe('zone-1');

    // A node joins a new unit: its Deployment appears; the last node of a unit leaves: its Deployment goes.
    await setZone('n2', 'zone-2');
    await waitFor('the new unit\'s Deployment', async () => '2' in Object.fromEntries(Object.keys(await deployments()).map((k) => [k.slice(-1), k])), 10_000);
    await setZone('n0', undefined);
    await waitFor('the emptied unit\'s Deployment gone', async () => Object.keys(await deployments()).sort().join() === 'deploymentgrid-demo-zone-1,deploymentgrid-demo-zone-2', 10_000);

    // Someone deletes a Deployment the grid made: it is put back.
    expect((await raw.call('DELETE', `${DEPLOY}/deploymentgrid-demo-zone-1`)).status).toBe(200);
    await waitFor('the deleted Deployment put back', async () => 'deploymentgrid-demo-zone-1' in (await deployments()), 10_000);
  });

  it('rolls only the unit whose template changed, and converges after a restart mid-change', async () => {
    const before = await deployments();
    // Gray release: zone-2 gets its own template from the pool.
    const g = await raw.call('GET', `${DG}/deploymentgrid-demo`);
    const canary = structuredClone(g.body.spec.template);
    canary.template.spec.containers[0].image = 'superedge/echoserver:2.3';
    const updated = { ...g.body, spec: { ...g.body.spec, templatePool: { canary }, templates: { 'zone-2': 'canary' } } };
    expect((await raw.call('PUT', `${DG}/deploymentgrid-demo`, updated)).status).toBe(200);
    await waitFor('zone-2 on the canary image', async () => (await deployments())['deploymentgrid-demo-zone-2']?.image === 'superedge/echoserver:2.3', 10_000);
    const after = await deployments();
    expect(after['deploymentgrid-demo-zone-1']?.rv).toBe(before['deploymentgrid-demo-zone-1']?.rv);

    // Stopped; meanwhile a node joins zone-0 again and the canary moves on to a newer image.
    await grids!.close();
    grids = undefined;
    await setZone('n0', 'zone-0');
    const g2 = await raw.call('GET', `${DG}/deploymentgrid-demo`);
    const next = structuredClone(g2.body);
    next.spec.templatePool.canary.template.spec.containers[0].image = 'superedge/echoserver:2.4';
    expect((await raw.call('PUT', `${DG}/deploymentgrid-demo`, next)).status).toBe(200);
    grids = await start();
    await waitFor(
      'convergence after the restart',
      async () => {
        const d = await deployments();
        return d['deploymentgrid-demo-zone-0'] !== undefined && d['deploymentgrid-demo-zone-2']?.image === 'superedge/echoserver:2.4';
      },
      10_000,
    );
    const converged = await deployments();
    expect(converged['deploymentgrid-demo-zone-1']?.rv).toBe(before['deploymentgrid-demo-zone-1']?.rv);
    expect(converged['deploymentgrid-demo-zone-0']?.image).toBe('superedge/echoserver:2.2');

    // The grid deleted: what it made goes.
    expect((await raw.call('DELETE', `${DG}/deploymentgrid-demo`)).status).toBe(200);
    expect((await raw.call('DELETE', '/apis/superedge.io/v1/namespaces/default/servicegrids/servicegrid-demo')).status).toBe(200);
    await waitFor('the workloads gone', async () => Object.keys(await deployments()).length === 0, 10_000);
    await waitFor('the Service gone', async () => (await raw.call('GET', '/api/v1/namespaces/default/services/servicegrid-demo-svc')).status === 404, 10_000);
  });
});
