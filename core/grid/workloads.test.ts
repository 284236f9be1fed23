/**
 * DeploymentGrid and StatefulSetGrid: SuperEdge's documented manifests
 * (test/fixtures/superedge) expand as SuperEdge's docs show, each workload
 * checked against Kubernetes' own apps/v1 schemas; the canary fields
 * (templatePool, templates, defaultTemplateName, autoDeleteUnusedTemplate)
 * pick and prune templates; broken grids and units are coded errors naming
 * them. Then on the Kubernetes API test server: expansion into N units, one
 * unit's template change writing that unit's workload only, a unit gone
 * taking its workload, a second pass writing nothing, the status rolled up,
 * a foreign workload left alone, the grid gone taking its workloads.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return -- manifests and answers are arbitrary Kubernetes JSON, read loosely by the assertions (client.ts's RawResponse.body) */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { rawClient } from '../../test/support/kube-apiserver/client.ts';
import { startKubeApiServer, type KubeApiServer } from '../../test/support/kube-apiserver/index.ts';
import { tempDir } from '../../test/support/hub-fixture.ts';
import { applyCrds, crdFromSchema, openKubeClient, type KubeClient } from '../store/index.ts';
import { expandGrid, GRID_KIND_NAMES, GRID_KINDS, GRID_SPEC_HASH_ANNOTATION, GridErrors, reconcileWorkloadGrid, type GridWorkload } from './index.ts';

type Obj = Record<string, unknown>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests walk arbitrary Kubernetes JSON
type Any = any;

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/superedge');

function fixture(file: string, name: string): Any {
  const docs = parseAllDocuments(readFileSync(path.join(FIXTURES, file), 'utf8')).map((d): Any => d.toJS());
  const found = docs.find((d) => d.metadata?.name === name);
  if (found === undefined) throw new Error(`no fixture ${name} in ${file}`);
  return found;
}

/** A valid apps/v1 object by Kubernetes' own schema (kubernetes-models). */
function validApps(w: GridWorkload): void {
  const Model = w.kind === 'Deployment' ? Deployment : StatefulSet;
  new Model(structuredClone(w) as never).validate();
}

const byUnit = (ws: { unit: string; workload: GridWorkload }[]): Record<string, GridWorkload> => Object.fromEntries(ws.map((w) => [w.unit, w.workload]));
const image = (w: GridWorkload): unknown => (w.spec as Any).template.spec.containers[0].image;

describe('expanding SuperEdge\'s documented grids', () => {
  it('DeploymentGrid deploymentgrid-demo: one Deployment per unit, <grid>-<unit>, the unit\'s nodeSelector, SuperEdge\'s labels, the grid as controller', () => {
    const dg = fixture('deploymentgrid.yaml', 'deploymentgrid-demo');
    dg.metadata.uid = 'uid-dg';
    dg.metadata.labels = { team: 'shop' };
    const before = structuredClone(dg);
    const x = expandGrid(dg, ['zone-2', 'zone-0', 'zone-1', 'zone-0']);
    expect(x.problems).toEqual([]);
    expect(x.workloadKind).toBe('Deployment');
    // kubectl get deploy in SuperEdge's docs: deploymentgrid-demo-zone-0, -1, -2.
    expect(x.workloads.map((w) => w.workload.metadata.name)).toEqual(['deploymentgrid-demo-zone-0', 'deploymentgrid-demo-zone-1', 'deploymentgrid-demo-zone-2']);
    const w = byUnit(x.workloads)['zone-1'] as GridWorkload;
    expect(w.apiVersion).toBe('apps/v1');
    expect(w.metadata.namespace).toBe('default');
    expect(w.metadata.labels).toEqual({ team: 'shop', 'superedge.io/grid-selector': 'deploymentgrid-demo', 'superedge.io/grid-uniq-key': 'zone' });
    expect(w.metadata.ownerReferences).toEqual([{ apiVersion: 'superedge.io/v1', kind: 'DeploymentGrid', name: 'deploymentgrid-demo', uid: 'uid-dg', controller: true, blockOwnerDeletion: true }]);
    // The spec is spec.template with the unit's nodeSelector, nothing else.
    const expected = structuredClone(dg.spec.template);
    expected.template.spec.nodeSelector = { zone: 'zone-1' };
    expect(w.spec).toEqual(expected);
    expect(w.metadata.annotations[GRID_SPEC_HASH_ANNOTATION]).toMatch(/^[0-9a-f]{20}$/);
    for (const u of x.workloads) validApps(u.workload);
    // The grid is left as it was.
    expect(dg).toEqual(before);
  });

  it('DeploymentGrid deploymentgrid-canary: zone1 runs test1 (2.2), zone2 test2 (2.3, 3 replicas), other units the default test1', () => {
    const x = expandGrid(fixture('deploymentgrid.yaml', 'deploymentgrid-canary'), ['zone1', 'zone2', 'zone3']);
    expect(x.problems).toEqual([]);
    expect(x.workloads.map((w) => [w.unit, w.template, image(w.workload), w.workload.spec.replicas])).toEqual([
      ['zone1', 'test1', 'superedge/echoserver:2.2', 2],
      ['zone2', 'test2', 'superedge/echoserver:2.3', 3],
      ['zone3', 'test1', 'superedge/echoserver:2.2', 2],
    ]);
    // autoDeleteUnusedTemplate: false keeps the pool as it is.
    expect(x.prunedTemplates).toEqual([]);
    expect(Object.keys(x.templatePool ?? {}).sort()).toEqual(['test1', 'test2']);
    for (const u of x.workloads) validApps(u.workload);
  });

  it('StatefulSetGrid statefulsetgrid-demo: one StatefulSet per unit with serviceName and replicas as written', () => {
    const ssg = fixture('statefulsetgrid.yaml', 'statefulsetgrid-demo');
    const x = expandGrid(ssg, ['zone-0', 'zone-1', 'zone-2']);
    expect(x.problems).toEqual([]);
    expect(x.workloadKind).toBe('StatefulSet');
    expect(x.workloads.map((w) => w.workload.metadata.name)).toEqual(['statefulsetgrid-demo-zone-0', 'statefulsetgrid-demo-zone-1', 'statefulsetgrid-demo-zone-2']);
    const w = byUnit(x.workloads)['zone-2'] as GridWorkload;
    expect(w.kind).toBe('StatefulSet');
    expect(w.spec).toMatchObject({ serviceName: 'servicegrid-demo-svc', replicas: 3, selector: { matchLabels: { appGrid: 'echo' } } });
    expect((w.spec as Any).template.spec).toMatchObject({ terminationGracePeriodSeconds: 10, nodeSelector: { zone: 'zone-2' } });
    // No uid (not read from kube): no owner reference.
    expect(w.metadata.ownerReferences).toBeUndefined();
    for (const u of x.workloads) validApps(u.workload);
  });
});

describe('templates, pruning and problems', () => {
  const grid = (): Any => {
    const dg = fixture('deploymentgrid.yaml', 'deploymentgrid-canary');
    dg.spec.templatePool.old = structuredClone(dg.spec.templatePool.test1);
    return dg;
  };

  it('merges the unit into a nodeSelector the template has, the grid\'s key winning', () => {
    const dg = grid();
    dg.spec.templatePool.test1.template.spec.nodeSelector = { disk: 'ssd', zone: 'elsewhere' };
    const w = byUnit(expandGrid(dg, ['zone1']).workloads).zone1 as GridWorkload;
    expect((w.spec as Any).template.spec.nodeSelector).toEqual({ disk: 'ssd', zone: 'zone1' });
  });

  it('a missing template is a coded error naming the unit and the template; the other units expand', () => {
    const dg = grid();
    dg.spec.templates.zone4 = 'test9';
    const x = expandGrid(dg, ['zone1', 'zone4']);
    expect(x.workloads.map((w) => w.unit)).toEqual(['zone1']);
    expect(x.problems).toHaveLength(1);
    const [p] = x.problems;
    expect(GridErrors.ErrGridTemplateMissing.is(p)).toBe(true);
    expect(p?.message).toBe("DeploymentGrid default/deploymentgrid-canary: unit 'zone4' uses template 'test9' (spec.templates.zone4), but it is not in spec.templatePool; its workload is left as it is");
    // The unit keeps its name: a reconcile does not delete its workload.
    expect(x.names.get('zone4')).toBe('deploymentgrid-canary-zone4');

    // defaultTemplateName 'default' without spec.template: each unit using it is named.
    const nt = grid();
    delete nt.spec.template;
    nt.spec.defaultTemplateName = 'default';
    const y = expandGrid(nt, ['zone1', 'zone2', 'zone7']);
    expect(y.workloads.map((w) => w.unit)).toEqual(['zone1', 'zone2']);
    expect(y.problems.map((e) => e.message)).toEqual(["DeploymentGrid default/deploymentgrid-canary: unit 'zone7' uses template 'default' (spec.defaultTemplateName), but spec.template is not set; its workload is left as it is"]);
  });

  it('autoDeleteUnusedTemplate keeps only the templates named by templates or defaultTemplateName', () => {
    const dg = grid();
    dg.spec.autoDeleteUnusedTemplate = true;
    const x = expandGrid(dg, ['zone1']);
    expect(x.prunedTemplates).toEqual(['old']);
    expect(Object.keys(x.templatePool ?? {}).sort()).toEqual(['test1', 'test2']);
    // A template named by a unit that is not there now is kept, as SuperEdge keeps it.
    dg.spec.templates = { zone9: 'old' };
    dg.spec.defaultTemplateName = 'default';
    expect(expandGrid(dg, ['zone1']).prunedTemplates).toEqual(['test1', 'test2']);
    expect(grid().spec.templatePool.old).toBeDefined();
  });

  it('a unit that cannot name a workload is a problem; a grid broken as a whole is refused naming its fields', () => {
    const x = expandGrid(grid(), ['Zone_A', 'zone1']);
    expect(x.workloads.map((w) => w.unit)).toEqual(['zone1']);
    expect(GridErrors.ErrGridUnitName.is(x.problems[0])).toBe(true);
    expect(x.problems[0]?.message).toMatch(/unit 'Zone_A' gives the workload name 'deploymentgrid-canary-Zone_A', which must be a DNS-1123 subdomain/);

    const bad = grid();
    bad.spec.templatePool.test2.selector.matchLabels.appGrid = 'other';
    bad.spec.gridUniqKey = 'bad key';
    const err = (() => {
      try {
        expandGrid(bad, ['zone1']);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(GridErrors.ErrGridInvalid.is(err)).toBe(true);
    expect(err?.message).toMatch(/^DeploymentGrid default\/deploymentgrid-canary is invalid \(2 problems\): .*spec\.templatePool\.test2\.selector\.matchLabels\.appGrid.*spec\.gridUniqKey.*no workload is changed$/);
    const sg = fixture('servicegrid.yaml', 'servicegrid-demo');
    expect(() => expandGrid(sg, ['zone1'])).toThrow(/ServiceGrid default\/servicegrid-demo is invalid \(1 problem\): kind must be DeploymentGrid or StatefulSetGrid/);
  });

  it('the spec hash follows the spec, not its key order', () => {
    const a = byUnit(expandGrid(grid(), ['zone1']).workloads).zone1 as GridWorkload;
    const reordered = grid();
    reordered.spec.templatePool.test1 = Object.fromEntries(Object.entries(reordered.spec.templatePool.test1 as Obj).reverse());
    const b = byUnit(expandGrid(reordered, ['zone1']).workloads).zone1 as GridWorkload;
    expect(b.metadata.annotations).toEqual(a.metadata.annotations);
    const changed = grid();
    changed.spec.templatePool.test1.replicas = 5;
    const c = byUnit(expandGrid(changed, ['zone1']).workloads).zone1 as GridWorkload;
    expect(c.metadata.annotations[GRID_SPEC_HASH_ANNOTATION]).not.toBe(a.metadata.annotations[GRID_SPEC_HASH_ANNOTATION]);
  });
});

describe('reconciling on the Kubernetes API test server', () => {
  let server: KubeApiServer;
  let client: KubeClient;
  let raw: ReturnType<typeof rawClient>;
  beforeAll(async () => {
    server = await startKubeApiServer();
    client = await openKubeClient(await server.kubeconfig(tempDir('grid-workloads')));
    raw = rawClient(server);
    await applyCrds(client, GRID_KIND_NAMES.map((k) => crdFromSchema(GRID_KINDS[k])));
  }, 30_000);
  afterAll(async () => {
    await raw.close();
    await client.close();
    await server.close();
  });

  const DG = '/apis/superedge.io/v1/namespaces/default/deploymentgrids';
  const DEPLOY = '/apis/apps/v1/namespaces/default/deployments';
  const units = (n: number): string[] => Array.from({ length: n }, (_, i) => `u${i + 1}`);

  async function createGrid(pathBase: string, body: Any): Promise<Any> {
    const r = await raw.call('POST', pathBase, body);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body;
  }

  /** name → resourceVersion of the grid's workloads. */
  async function versions(base: string, grid: string): Promise<Record<string, string>> {
    const r = await raw.call('GET', `${base}?labelSelector=${encodeURIComponent(`superedge.io/grid-selector=${grid}`)}`);
    return Object.fromEntries((r.body.items as Any[]).map((i) => [i.metadata.name, i.metadata.resourceVersion]));
  }

  it('expands into N units, writes nothing the second time, rolls only the unit whose template changed, removes a unit that left', async () => {
    const dg = fixture('deploymentgrid.yaml', 'deploymentgrid-canary');
    dg.metadata.name = 'web';
    dg.spec.templates = { u3: 'test2' };
    const made = await createGrid(DG, dg);
    const all = units(6);

    const first = await reconcileWorkloadGrid(client, 'DeploymentGrid', 'default', 'web', all);
    // Six Deployments and the status.
    expect(first).toMatchObject({ writes: 7, created: all, updated: [], deleted: [], statusWritten: true, problems: [], gridFound: true });
    const list = (await raw.call('GET', `${DEPLOY}?labelSelector=superedge.io/grid-selector%3Dweb`)).body.items as Any[];
    expect(list.map((d) => d.metadata.name).sort()).toEqual(all.map((u) => `web-${u}`));
    const u3 = list.find((d) => d.metadata.name === 'web-u3');
    expect(u3.metadata.ownerReferences).toEqual([{ apiVersion: 'superedge.io/v1', kind: 'DeploymentGrid', name: 'web', uid: made.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    expect(u3.spec.replicas).toBe(3);
    expect(u3.spec.template.spec.nodeSelector).toEqual({ zone: 'u3' });
    const grid1 = (await raw.call('GET', `${DG}/web`)).body;
    expect(Object.keys(grid1.status.states).sort()).toEqual(all);

    // Idempotent: nothing differs, nothing is written.
    const before = await versions(DEPLOY, 'web');
    expect((await reconcileWorkloadGrid(client, 'DeploymentGrid', 'default', 'web', all)).writes).toBe(0);

    // Gray release: a new image in test2, which only u3 uses: only web-u3 is written.
    const g = (await raw.call('GET', `${DG}/web`)).body;
    g.spec.templatePool.test2.template.spec.containers[0].image = 'superedge/echoserver:2.4';
    expect((await raw.call('PUT', `${DG}/web`, g)).status).toBe(200);
    const rolled = await reconcileWorkloadGrid(client, 'DeploymentGrid', 'default', 'web', all);
    expect(rolled).toMatchObject({ writes: 1, created: [], updated: ['u3'], deleted: [] });
    const after = await versions(DEPLOY, 'web');
    for (const u of all) expect(after[`web-${u}`] === before[`web-${u}`], u).toBe(u !== 'u3');
    expect((await raw.call('GET', `${DEPLOY}/web-u3`)).body.spec.template.spec.containers[0].image).toBe('superedge/echoserver:2.4');

    // Moving u5 to test2 writes web-u5 only.
    const g2 = (await raw.call('GET', `${DG}/web`)).body;
    g2.spec.templates.u5 = 'test2';
    expect((await raw.call('PUT', `${DG}/web`, g2)).status).toBe(200);
    expect(await reconcileWorkloadGrid(client, 'DeploymentGrid', 'default', 'web', all)).toMatchObject({ writes: 1, updated: ['u5'] });

    // u6 leaves: its Deployment goes, and its state.
    const gone = await reconcileWorkloadGrid(client, 'DeploymentGrid', 'default', 'web', units(5));
    expect(gone).toMatchObject({ writes: 2, deleted: ['u6'], statusWritten: true });
    expect((await raw.call('GET', `${DEPLOY}/web-u6`)).status).toBe(404);
    expect(Object.keys((await raw.call('GET', `${DG}/web`)).body.status.states).sort()).toEqual(units(5));
    expect((await reconcileWorkloadGrid(client, 'DeploymentGrid', 'default', 'web', units(5))).writes).toBe(0);
  });

  it('rolls up each unit\'s Deployment status as SuperEdge does (replicas, readyReplicas, the Available condition)', async () => {
    const dg = fixture('deploymentgrid.yaml', 'deploymentgrid-demo');
    dg.metadata.name = 'stat';
    await createGrid(DG, dg);
    await reconcileWorkloadGrid(client, 'DeploymentGrid', 'default', 'stat', ['a', 'b']);
    const d = (await raw.call('GET', `${DEPLOY}/stat-a`)).body;
    const available = { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.', lastTransitionTime: '2026-01-01T00:00:00Z', lastUpdateTime: '2026-01-01T00:00:00Z' };
    const status = { observedGeneration: 1, replicas: 2, readyReplicas: 2, updatedReplicas: 2, availableReplicas: 2, conditions: [{ type: 'Progressing', status: 'True' }, available] };
    expect((await raw.call('PUT', `${DEPLOY}/stat-a/status`, { ...d, status })).status).toBe(200);

    const r = await reconcileWorkloadGrid(client, 'DeploymentGrid', 'default', 'stat', ['a', 'b']);
    expect(r).toMatchObject({ writes: 1, statusWritten: true, created: [], updated: [] });
    const states = (await raw.call('GET', `${DG}/stat`)).body.status.states;
    expect(states).toEqual({ a: { replicas: 2, readyReplicas: 2, conditions: [available] }, b: {} });
    expect((await reconcileWorkloadGrid(client, 'DeploymentGrid', 'default', 'stat', ['a', 'b'])).writes).toBe(0);
  });

  it('StatefulSetGrid: the documented form into three StatefulSets, the status as it is', async () => {
    const ssg = fixture('statefulsetgrid.yaml', 'statefulsetgrid-demo');
    await createGrid('/apis/superedge.io/v1/namespaces/default/statefulsetgrids', ssg);
    const zones = ['zone-0', 'zone-1', 'zone-2'];
    expect(await reconcileWorkloadGrid(client, 'StatefulSetGrid', 'default', 'statefulsetgrid-demo', zones)).toMatchObject({ writes: 4, created: zones });
    const sts = (await raw.call('GET', '/apis/apps/v1/namespaces/default/statefulsets/statefulsetgrid-demo-zone-1')).body;
    expect(sts.spec).toMatchObject({ serviceName: 'servicegrid-demo-svc', replicas: 3 });
    expect(sts.spec.template.spec.nodeSelector).toEqual({ zone: 'zone-1' });
    const status = { observedGeneration: 1, replicas: 3, readyReplicas: 3, currentReplicas: 3, updatedReplicas: 3, currentRevision: 'r1', updateRevision: 'r1' };
    expect((await raw.call('PUT', '/apis/apps/v1/namespaces/default/statefulsets/statefulsetgrid-demo-zone-1/status', { ...sts, status })).status).toBe(200);
    expect((await reconcileWorkloadGrid(client, 'StatefulSetGrid', 'default', 'statefulsetgrid-demo', zones)).writes).toBe(1);
    const states = (await raw.call('GET', '/apis/superedge.io/v1/namespaces/default/statefulsetgrids/statefulsetgrid-demo')).body.status.states;
    expect(states['zone-1']).toEqual(status);
  });

  it('autoDeleteUnusedTemplate writes the pruned pool back to the grid once', async () => {
    const dg = fixture('deploymentgrid.yaml', 'deploymentgrid-canary');
    dg.metadata.name = 'prune';
    dg.spec.autoDeleteUnusedTemplate = true;
    dg.spec.templatePool.old = structuredClone(dg.spec.templatePool.test1);
    await createGrid(DG, dg);
    const r = await reconcileWorkloadGrid(client, 'DeploymentGrid', 'default', 'prune', ['zone1', 'zone2']);
    expect(r).toMatchObject({ writes: 4, poolWritten: true, created: ['zone1', 'zone2'] });
    expect(Object.keys((await raw.call('GET', `${DG}/prune`)).body.spec.templatePool).sort()).toEqual(['test1', 'test2']);
    expect((await reconcileWorkloadGrid(client, 'DeploymentGrid', 'default', 'prune', ['zone1', 'zone2'])).writes).toBe(0);
  });

  it('adopts a workload with its label and no controller, or one left by an earlier grid of its name', async () => {
    const dg = fixture('deploymentgrid.yaml', 'deploymentgrid-demo');
    dg.metadata.name = 'adopt';
    const made = await createGrid(DG, dg);
    const spec = { selector: { matchLabels: { appGrid: 'echo' } }, template: { metadata: { labels: { appGrid: 'echo' } }, spec: { containers: [{ name: 'old', image: 'old' }] } } };
    const labels = { 'superedge.io/grid-selector': 'adopt' };
    const stale = [{ apiVersion: 'superedge.io/v1', kind: 'DeploymentGrid', name: 'adopt', uid: 'uid-of-an-earlier-grid', controller: true }];
    expect((await raw.call('POST', DEPLOY, { metadata: { name: 'adopt-a', labels }, spec })).status).toBe(201);
    expect((await raw.call('POST', DEPLOY, { metadata: { name: 'adopt-b', labels, ownerReferences: stale }, spec })).status).toBe(201);
    expect(await reconcileWorkloadGrid(client, 'DeploymentGrid', 'default', 'adopt', ['a', 'b'])).toMatchObject({ writes: 3, created: [], updated: ['a', 'b'] });
    for (const n of ['adopt-a', 'adopt-b']) {
      const d = (await raw.call('GET', `${DEPLOY}/${n}`)).body;
      expect(d.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'DeploymentGrid', name: 'adopt', uid: made.metadata.uid, controller: true })]);
      expect(d.spec.template.spec.containers[0].image).toBe('superedge/echoserver:2.2');
    }
  });

  it('leaves alone a workload it does not own and the workload of a unit whose template is missing; the grid gone takes its workloads', async () => {
    const dg = fixture('deploymentgrid.yaml', 'deploymentgrid-canary');
    dg.metadata.name = 'mixed';
    dg.spec.templates = {};
    await createGrid(DG, dg);
    expect((await reconcileWorkloadGrid(client, 'DeploymentGrid', 'default', 'mixed', ['a', 'b'])).writes).toBe(3);
    // Someone else's Deployment where unit c's would go.
    const foreign = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'mixed-c' }, spec: { selector: { matchLabels: { x: 'y' } }, template: { metadata: { labels: { x: 'y' } }, spec: { containers: [{ name: 'x', image: 'x' }] } } } };
    expect((await raw.call('POST', DEPLOY, foreign)).status).toBe(201);
    // Unit b now names a template that is not there.
    const g = (await raw.call('GET', `${DG}/mixed`)).body;
    g.spec.templates = { b: 'nope' };
    expect((await raw.call('PUT', `${DG}/mixed`, g)).status).toBe(200);
    const bBefore = (await raw.call('GET', `${DEPLOY}/mixed-b`)).body.metadata.resourceVersion;

    const r = await reconcileWorkloadGrid(client, 'DeploymentGrid', 'default', 'mixed', ['a', 'b', 'c']);
    expect(r.writes).toBe(0);
    expect(r.problems.map((p) => p.code).sort()).toEqual(['EDGE_ERR_GRID_TEMPLATE_MISSING', 'EDGE_ERR_GRID_WORKLOAD_CONFLICT']);
    expect(r.problems.find((p) => GridErrors.ErrGridWorkloadConflict.is(p))?.message).toMatch(/unit 'c' needs deployments default\/mixed-c, which exists and belongs to something else/);
    expect((await raw.call('GET', `${DEPLOY}/mixed-b`)).body.metadata.resourceVersion).toBe(bBefore);
    expect((await raw.call('GET', `${DEPLOY}/mixed-c`)).body.spec.template.spec.containers[0].image).toBe('x');

    // The grid deleted: its workloads go (kube's garbage collector would; the pass does not rely on it), the foreign one stays.
    expect((await raw.call('DELETE', `${DG}/mixed`)).status).toBe(200);
    const end = await reconcileWorkloadGrid(client, 'DeploymentGrid', 'default', 'mixed', ['a', 'b', 'c']);
    expect(end).toMatchObject({ gridFound: false, writes: 2, deleted: ['a', 'b'] });
    expect((await raw.call('GET', `${DEPLOY}/mixed-c`)).status).toBe(200);
  });
});
