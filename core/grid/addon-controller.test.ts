/**
 * Addons through the grid, on the Kubernetes API test server: the addon
 * controller (a NodeUnit per Site, a NodeGroup and grids per Addon), the
 * unit controller and the grid controller together, as a hub on Kubernetes
 * runs the first and `edgeadm grid run` the others. A plugin with
 * `workloads` gets one Deployment per site, a site's template rolls only
 * that site, status follows the workloads, and what the controller wrote
 * goes when the Addon does; plugins without workloads, bad config and a
 * NodeUnit someone else owns are reported, not taken over.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access -- raw answers are arbitrary Kubernetes JSON (RawResponse.body) */
import Type from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGridCluster, type GridCluster } from '../../test/support/grid-cluster.ts';
import type { RawClient, RawResponse } from '../../test/support/kube-apiserver/client.ts';
import { quiet } from '../../test/support/hub-fixture.ts';
import { eventually, okBody } from '../../test/support/kube-expect.ts';
import { definePlugin, type PluginDefinition } from '../plugins/index.ts';
import { RUNS_AS_GRID_ANNOTATION } from '../store/index.ts';
import { addonGroupName, HUB_NAMESPACE_LABEL } from './addons.ts';

const NS = 'default';
const E = `/apis/edgeadm.io/v1alpha1/namespaces/${NS}`;
const DEPLOY = `/apis/apps/v1/namespaces/${NS}/deployments`;
const DG = `/apis/superedge.io/v1/namespaces/${NS}/deploymentgrids`;

const collector = definePlugin({
  id: 'collector',
  version: '1.0.0',
  engine: '*',
  configSchema: Type.Object({ image: Type.String({ default: 'collector:1' }), replicas: Type.Integer({ minimum: 0, default: 1 }), metrics: Type.Boolean({ default: false }) }, { additionalProperties: false }),
  register: () => undefined,
  workloads: ({ site, config }) => ({
    deployments: [
      {
        name: 'app',
        spec: {
          replicas: config.replicas,
          selector: { matchLabels: { app: 'collector' } },
          template: { metadata: { labels: { app: 'collector' } }, spec: { containers: [{ name: 'app', image: config.image, env: [{ name: 'EDGEADM_SITE', value: site === 'plant-c' ? 'c' : 'ab' }] }] } },
        },
      },
      ...(config.metrics ? [{ name: 'metrics', spec: { selector: { matchLabels: { app: 'm' } }, template: { metadata: { labels: { app: 'm' } }, spec: { containers: [{ name: 'm', image: 'metrics:1' }] } } } }] : []),
    ],
    services: [{ name: 'api', spec: { selector: { app: 'collector' }, ports: [{ port: 80, targetPort: 8080 }] } }],
  }),
});
const agentOnly = definePlugin({ id: 'agent-only', version: '1.0.0', engine: '*', register: () => undefined });
/** Containers as grids and a site half the site agents run beside them. */
const halves = definePlugin({
  id: 'halves',
  version: '1.0.0',
  engine: '*',
  siteHalf: true,
  register: () => undefined,
  workloads: () => ({ deployments: [{ name: 'db', spec: { selector: { matchLabels: { app: 'db' } }, template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: 'db:1' }] } } } }] }),
});
const PLUGINS = new Map<string, PluginDefinition>([collector, agentOnly, halves].map((p) => [p.id, p]));

let cluster: GridCluster;
let raw: RawClient;

/** Arbitrary Kubernetes JSON, as the test server answers it. */
type Body = RawResponse['body'];
const ok = okBody;
const deployments = async (): Promise<Record<string, Body>> => {
  const r = await ok(raw.call('GET', DEPLOY));
  return Object.fromEntries((r.items as Body[]).map((d): [string, Body] => [d.metadata.name as string, d])) as Record<string, Body>;
};
const addon = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'edgeadm.io/v1alpha1', kind: 'Addon', metadata: { name, namespace: NS }, spec });
const getAddon = async (name: string): Promise<Body> => ok(raw.call('GET', `${E}/addons/${name}`));
const setReady = async (name: string, ready: number): Promise<void> => {
  const d = await ok(raw.call('GET', `${DEPLOY}/${name}`));
  await ok(raw.call('PUT', `${DEPLOY}/${name}/status`, { ...d, status: { replicas: ready, readyReplicas: ready } }));
};

beforeAll(async () => {
  cluster = await startGridCluster({ plugin: (id) => PLUGINS.get(id), logger: quiet, namespace: NS, fast: true });
  raw = cluster.raw;
  for (const [site, nodes] of [['plant-a', ['gw-a1', 'gw-a2']], ['plant-b', ['gw-b1']], ['plant-c', ['gw-c1']]] as const) {
    await cluster.addSite(site, nodes, { line: site === 'plant-c' ? 'two' : 'one' });
  }
  await cluster.startControllers();
}, 30_000);

afterAll(async () => {
  await cluster?.close();
});

describe('sites as NodeUnits', () => {
  it("keeps a NodeUnit per Site with the site's nodes, and follows a node moving", async () => {
    await eventually(async () => {
      const u = await ok(raw.call('GET', '/apis/site.superedge.io/v1alpha2/nodeunits/plant-a'));
      expect(u.spec.nodes).toEqual(['gw-a1', 'gw-a2']);
      expect(u.metadata.labels[HUB_NAMESPACE_LABEL]).toBe(NS);
    });
    const n = await ok(raw.call('GET', `${E}/nodes/gw-a2`));
    await ok(raw.call('PUT', `${E}/nodes/gw-a2`, { ...n, spec: { site: 'plant-b' } }));
    await eventually(async () => {
      expect((await ok(raw.call('GET', '/apis/site.superedge.io/v1alpha2/nodeunits/plant-a'))).spec.nodes).toEqual(['gw-a1']);
      expect((await ok(raw.call('GET', '/apis/site.superedge.io/v1alpha2/nodeunits/plant-b'))).spec.nodes).toEqual(['gw-a2', 'gw-b1']);
    });
    const back = await ok(raw.call('GET', `${E}/nodes/gw-a2`));
    await ok(raw.call('PUT', `${E}/nodes/gw-a2`, { ...back, spec: { site: 'plant-a' } }));
    await eventually(async () => expect((await ok(raw.call('GET', '/apis/site.superedge.io/v1alpha2/nodeunits/plant-a'))).spec.nodes).toEqual(['gw-a1', 'gw-a2']));
  });
});

describe('an Addon of a plugin with workloads', () => {
  it('runs at each of its sites as a Deployment pinned to the site, with the site\'s config, and reports each site', async () => {
    await ok(raw.call('POST', `${E}/addons`, addon('col', { plugin: 'collector', siteSelector: { line: 'one' }, config: { image: 'collector:2' }, templates: { 'plant-b': { image: 'collector:2-beta' } } })));
    await eventually(async () => {
      const d = await deployments();
      expect(Object.keys(d).sort()).toEqual(['col-app-plant-a', 'col-app-plant-b']);
      expect(d['col-app-plant-a'].spec.template.spec.containers[0].image).toBe('collector:2');
      expect(d['col-app-plant-b'].spec.template.spec.containers[0].image).toBe('collector:2-beta');
      expect(d['col-app-plant-a'].spec.template.spec.nodeSelector).toEqual({ [addonGroupName(NS, 'col')]: 'plant-a' });
    });
    // The unit controller labelled the sites' nodes for the Addon's group; the Service is there.
    const group = addonGroupName(NS, 'col');
    expect((await ok(raw.call('GET', '/api/v1/nodes/gw-a2'))).metadata.labels[group]).toBe('plant-a');
    expect((await ok(raw.call('GET', '/api/v1/nodes/gw-c1'))).metadata.labels?.[group]).toBeUndefined();
    await eventually(async () => expect((await raw.call('GET', `/api/v1/namespaces/${NS}/services/col-api-svc`)).status).toBe(200));

    const a = await getAddon('col');
    expect(a.metadata.annotations[RUNS_AS_GRID_ANNOTATION]).toBe('true');
    await eventually(async () => expect(Object.keys((await getAddon('col')).status?.sites ?? {}).sort()).toEqual(['plant-a', 'plant-b']));
    expect((await getAddon('col')).status.sites['plant-a'].state).toMatch(/pending|starting/);
    await setReady('col-app-plant-a', 1);
    await eventually(async () => {
      const s = (await getAddon('col')).status.sites;
      expect(s['plant-a']).toMatchObject({ state: 'running', observedGeneration: a.metadata.generation });
      expect(s['plant-b'].state).not.toBe('running');
    });
  });

  it("rolls only the site whose template changed, and a site's extra workload runs there alone", async () => {
    const before = await deployments();
    const a = await getAddon('col');
    await ok(raw.call('PUT', `${E}/addons/col`, { ...a, spec: { ...a.spec, templates: { 'plant-b': { image: 'collector:3', metrics: true } } } }));
    await eventually(async () => {
      const d = await deployments();
      expect(d['col-app-plant-b'].spec.template.spec.containers[0].image).toBe('collector:3');
      // plant-a's workload was not written.
      expect(d['col-app-plant-a'].metadata.resourceVersion).toBe(before['col-app-plant-a'].metadata.resourceVersion);
      // The metrics workload runs at plant-b; plant-a's copy is scaled to zero.
      expect(d['col-metrics-plant-b'].spec.replicas ?? 1).toBe(1);
      expect(d['col-metrics-plant-a'].spec.replicas).toBe(0);
    });
    const grid = await ok(raw.call('GET', `${DG}/col-app`));
    expect(grid.spec.template.template.spec.containers[0].image).toBe('collector:2');
    expect(Object.keys(grid.spec.templates)).toEqual(['plant-b']);
  });

  it('follows its sites: a site selected later gets the workload, one no longer selected loses it', async () => {
    const site = await ok(raw.call('GET', `${E}/sites/plant-c`));
    await ok(raw.call('PUT', `${E}/sites/plant-c`, { ...site, metadata: { ...site.metadata, labels: { line: 'one' } } }));
    await eventually(async () => expect(Object.keys(await deployments())).toContain('col-app-plant-c'));
    const again = await ok(raw.call('GET', `${E}/sites/plant-c`));
    await ok(raw.call('PUT', `${E}/sites/plant-c`, { ...again, metadata: { ...again.metadata, labels: { line: 'two' } } }));
    await eventually(async () => expect(Object.keys(await deployments())).not.toContain('col-app-plant-c'));
    await eventually(async () => expect(Object.keys((await getAddon('col')).status.sites).sort()).toEqual(['plant-a', 'plant-b']));
  });

  it("reports a site's bad config with the plugin's config error, and the other sites run on", async () => {
    const a = await getAddon('col');
    await ok(raw.call('PUT', `${E}/addons/col`, { ...a, spec: { ...a.spec, templates: { 'plant-b': { replicas: -1 } } } }));
    await eventually(async () => {
      const s = (await getAddon('col')).status.sites;
      expect(s['plant-b']).toMatchObject({ state: 'failed', code: 'EDGE_ERR_PLUGIN_CONFIG' });
      expect(s['plant-b'].message).toMatch(/replicas/);
      expect(s['plant-a'].state).toBe('running');
    });
    await eventually(async () => expect(Object.keys(await deployments()).filter((n) => n.startsWith('col-app-'))).toEqual(['col-app-plant-a']));
  });

  it('removes its grids, group and workloads when the Addon goes', async () => {
    await ok(raw.call('DELETE', `${E}/addons/col`));
    await eventually(async () => {
      expect(Object.keys(await deployments()).filter((n) => n.startsWith('col-'))).toEqual([]);
      expect((await ok(raw.call('GET', DG))).items).toEqual([]);
      expect((await raw.call('GET', `/apis/site.superedge.io/v1alpha2/nodegroups/${addonGroupName(NS, 'col')}`)).status).toBe(404);
    });
  });
});

describe('an Addon of a plugin with a site half', () => {
  it("is marked with-site, keeps the workloads' states in status.workloads and leaves status.sites to the site agents", async () => {
    await ok(raw.call('POST', `${E}/addons`, addon('half', { plugin: 'halves', sites: ['plant-a'] })));
    await eventually(async () => expect(Object.keys(await deployments())).toContain('half-db-plant-a'));
    await eventually(async () => {
      const a = await getAddon('half');
      expect(a.metadata.annotations[RUNS_AS_GRID_ANNOTATION]).toBe('with-site');
      expect(a.status?.workloads?.['plant-a']?.state).toMatch(/pending|starting/);
    });
    // The site agent's report, as the hub writes it (again on a conflict with the controller's writes): the controller never replaces it.
    const a = await getAddon('half');
    await eventually(async () => {
      const now = await getAddon('half');
      await ok(raw.call('PUT', `${E}/addons/half/status`, { ...now, status: { ...now.status, sites: { 'plant-a': { state: 'running', observedGeneration: a.metadata.generation } } } }));
    });
    await setReady('half-db-plant-a', 1);
    await eventually(async () => expect((await getAddon('half')).status.workloads['plant-a'].state).toBe('running'));
    expect((await getAddon('half')).status.sites).toEqual({ 'plant-a': { state: 'running', observedGeneration: a.metadata.generation } });
    await ok(raw.call('DELETE', `${E}/addons/half`));
    await eventually(async () => expect(Object.keys(await deployments()).filter((n) => n.startsWith('half-'))).toEqual([]));
  });
});

describe('what is not the controller\'s', () => {
  it('leaves an Addon of a plugin without workloads to the site agents', async () => {
    await ok(raw.call('POST', `${E}/addons`, addon('agent', { plugin: 'agent-only', sites: ['plant-a'] })));
    await ok(raw.call('POST', `${E}/addons`, addon('unknown', { plugin: 'not-here', sites: ['plant-a'] })));
    // A later Addon of the collector shows the controller got past both.
    await ok(raw.call('POST', `${E}/addons`, addon('probe', { plugin: 'collector', sites: ['plant-c'] })));
    await eventually(async () => expect(Object.keys(await deployments())).toContain('probe-app-plant-c'));
    for (const name of ['agent', 'unknown']) {
      const a = await getAddon(name);
      expect(a.metadata.annotations?.[RUNS_AS_GRID_ANNOTATION]).toBeUndefined();
      expect(a.status?.sites).toBeUndefined();
    }
    expect(Object.keys(await deployments()).filter((n) => n.startsWith('agent-') || n.startsWith('unknown-'))).toEqual([]);
  });

  it("reports a grid of the Addon's name that someone else made, and never writes it", async () => {
    const theirs = await ok(raw.call('POST', DG, { apiVersion: 'superedge.io/v1', kind: 'DeploymentGrid', metadata: { name: 'clash-app', namespace: NS }, spec: { gridUniqKey: 'zone', template: { selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'x', image: 'theirs:1' }] } } } } }));
    // At a site no other Addon of the collector holds (at plant-c 'probe' does: which of two wins goes by age, then name).
    await ok(raw.call('POST', `${E}/addons`, addon('clash', { plugin: 'collector', sites: ['plant-b'] })));
    await eventually(async () => {
      const s = (await getAddon('clash')).status?.sites ?? {};
      expect(s['plant-b']).toMatchObject({ state: 'failed', code: 'EDGE_ERR_GRID_ADDON_WORKLOADS' });
      expect(s['plant-b'].message).toMatch(/DeploymentGrid clash-app in namespace default already exists and belongs to someone else/);
    });
    const grid = await ok(raw.call('GET', `${DG}/clash-app`));
    expect([grid.metadata.generation, grid.metadata.labels?.['edgeadm.io/addon'], grid.spec.template.template.spec.containers[0].image]).toEqual([theirs.metadata.generation, undefined, 'theirs:1']);
  });

  it('reports a site whose NodeUnit someone else made, and never writes that unit', async () => {
    await ok(raw.call('POST', `${E}/sites`, { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Site', metadata: { name: 'plant-x', namespace: NS }, spec: {} }));
    // Made before the Site? No matter: a unit without this hub's label is someone else's.
    const theirs = await ok(raw.call('POST', '/apis/site.superedge.io/v1alpha2/nodeunits', { apiVersion: 'site.superedge.io/v1alpha2', kind: 'NodeUnit', metadata: { name: 'plant-y' }, spec: { type: 'edge', nodes: ['elsewhere'] } }));
    await ok(raw.call('POST', `${E}/sites`, { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Site', metadata: { name: 'plant-y', namespace: NS }, spec: {} }));
    await ok(raw.call('POST', `${E}/addons`, addon('taken', { plugin: 'collector', sites: ['plant-x', 'plant-y'] })));
    await eventually(async () => {
      const s = (await getAddon('taken')).status?.sites ?? {};
      expect(s['plant-y']).toMatchObject({ state: 'failed', code: 'EDGE_ERR_GRID_UNIT_TAKEN' });
      expect(s['plant-x']?.state).toBe('pending');
    });
    const unit = await ok(raw.call('GET', '/apis/site.superedge.io/v1alpha2/nodeunits/plant-y'));
    // Its spec and labels as they were (the unit controller writes its status, which is its job).
    expect([unit.metadata.generation, unit.spec.nodes, unit.metadata.labels?.[HUB_NAMESPACE_LABEL]]).toEqual([theirs.metadata.generation, ['elsewhere'], undefined]);
  });
});
