/**
 * `edgeadm addon edgex` on a hub on Kubernetes, on the Kubernetes API test
 * server with the addon, unit and grid controllers: the edgex plugin's
 * workloads expand to one EdgeX per site (a Deployment per service and
 * site, a Service per service), a site's template gives it its own device
 * services and device profiles (a ConfigMap named by its content: a change
 * is a new one and the old goes), the Addon runs with its site half, and
 * removing it leaves the cluster as it was before (diffed object by object).
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access -- raw answers are arbitrary Kubernetes JSON */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { addonGroupName } from '../core/grid/index.ts';
import { RUNS_AS_GRID_ANNOTATION } from '../core/store/index.ts';
import { mockSiteServices, startTestKernel } from '../core/sdk/testkit/index.ts';
import edgex from '../plugins/edgex/index.ts';
import { startGridCluster, type GridCluster } from './support/grid-cluster.ts';
import type { RawClient, RawResponse } from './support/kube-apiserver/client.ts';
import { quiet } from './support/hub-fixture.ts';
import { eventually as waitUntil, okBody } from './support/kube-expect.ts';

const NS = 'default';
const E = `/apis/edgeadm.io/v1alpha1/namespaces/${NS}`;
const SITES = { 'plant-a': ['gw-a1'], 'plant-b': ['gw-b1', 'gw-b2'], 'plant-c': ['gw-c1'] } as const;
/** Everything the cluster holds that the Addon could touch. */
const PATHS = [
  `/apis/apps/v1/namespaces/${NS}/deployments`,
  `/api/v1/namespaces/${NS}/services`,
  `/api/v1/namespaces/${NS}/configmaps`,
  `/api/v1/namespaces/${NS}/secrets`,
  `/apis/superedge.io/v1/namespaces/${NS}/deploymentgrids`,
  `/apis/superedge.io/v1/namespaces/${NS}/statefulsetgrids`,
  `/apis/superedge.io/v1/namespaces/${NS}/servicegrids`,
  '/apis/site.superedge.io/v1alpha2/nodegroups',
  '/apis/site.superedge.io/v1alpha2/nodeunits',
  '/api/v1/nodes',
];

let cluster: GridCluster;
let raw: RawClient;
type Body = RawResponse['body'];

const ok = okBody;
const eventually = (check: () => Promise<void>): Promise<void> => waitUntil(check, 15_000);
const names = async (path: string): Promise<string[]> => ((await ok(raw.call('GET', path))).items as Body[]).map((o) => o.metadata.name as string).sort();
/** Each object by path and name, with its labels and spec (not its status or bookkeeping). */
async function snapshot(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const p of PATHS) {
    for (const o of (await ok(raw.call('GET', p))).items as Body[]) out[`${p}/${o.metadata.name}`] = { labels: o.metadata.labels ?? {}, spec: o.spec ?? o.data ?? null };
  }
  return out;
}

beforeAll(async () => {
  cluster = await startGridCluster({ plugin: (id) => (id === edgex.id ? edgex : undefined), logger: quiet, namespace: NS, fast: true });
  raw = cluster.raw;
  for (const [site, nodes] of Object.entries(SITES)) await cluster.addSite(site, nodes, { edgex: 'yes' });
  await cluster.startControllers();
}, 30_000);

afterAll(async () => {
  await cluster?.close();
});

describe('edgex on a hub on Kubernetes', () => {
  it("runs an EdgeX at each site, one site with its own device services, and removing it leaves the cluster as it was", { timeout: 60_000 }, async () => {
    // The NodeUnits exist first: they are the sites, not the Addon's.
    await eventually(async () => expect(await names('/apis/site.superedge.io/v1alpha2/nodeunits')).toEqual(Object.keys(SITES)));
    const before = await snapshot();

    await ok(
      raw.call('POST', `${E}/addons`, {
        apiVersion: 'edgeadm.io/v1alpha1',
        kind: 'Addon',
        metadata: { name: 'edgex', namespace: NS },
        spec: {
          plugin: 'edgex',
          siteSelector: { edgex: 'yes' },
          config: { services: {} },
          templates: { 'plant-b': { services: { devices: ['device-modbus', 'device-virtual'], deviceFiles: { 'device-modbus': { profiles: { 'pumps.yaml': 'name: pumps\n' } } } } } },
        },
      }),
    );
    const core = ['core-command', 'core-data', 'core-keeper', 'core-metadata', 'database', 'mqtt-broker', 'app-rules-engine', 'device-virtual', 'ui'];
    await eventually(async () => {
      const deployments = await names(`/apis/apps/v1/namespaces/${NS}/deployments`);
      for (const site of Object.keys(SITES)) for (const s of core) expect(deployments).toContain(`edgex-${s}-${site}`);
      expect(deployments).toContain('edgex-device-modbus-plant-b');
    });
    const modbus = async (site: string): Promise<Body> => ok(raw.call('GET', `/apis/apps/v1/namespaces/${NS}/deployments/edgex-device-modbus-${site}`));
    expect((await modbus('plant-b')).spec.replicas).toBe(1);
    // A grid has a workload at every unit: where a site runs none, it is scaled to zero.
    expect((await modbus('plant-a')).spec.replicas).toBe(0);
    // Each site's pods are pinned to the site's nodes.
    const group = addonGroupName(NS, 'edgex');
    const dataB = await ok(raw.call('GET', `/apis/apps/v1/namespaces/${NS}/deployments/edgex-core-data-plant-b`));
    expect(dataB.spec.template.spec.nodeSelector).toEqual({ [group]: 'plant-b' });
    expect(dataB.spec.template.spec.containers[0].args).toEqual(['--registry', '-cp=keeper.http://edgex-core-keeper-svc:59890']);
    // One Service per EdgeX service, which each site's nodes see from their own site.
    await eventually(async () => expect(await names(`/api/v1/namespaces/${NS}/services`)).toEqual(expect.arrayContaining(['edgex-core-keeper-svc', 'edgex-core-data-svc', 'edgex-database-svc', 'edgex-mqtt-broker-svc'])));
    // plant-b's profiles: a ConfigMap, mounted where device-modbus reads them.
    const cms = async (): Promise<string[]> => (await names(`/api/v1/namespaces/${NS}/configmaps`)).filter((n) => n.startsWith('edgex-device-modbus-profiles-'));
    await eventually(async () => expect(await cms()).toHaveLength(1));
    const [cm] = await cms();
    expect((await ok(raw.call('GET', `/api/v1/namespaces/${NS}/configmaps/${cm}`))).data).toEqual({ 'pumps.yaml': 'name: pumps\n' });
    const modbusB = await modbus('plant-b');
    expect(modbusB.spec.template.spec.volumes).toContainEqual({ name: 'files-profiles', configMap: { name: cm } });
    expect(modbusB.spec.template.spec.containers[0].env).toContainEqual({ name: 'DEVICE_PROFILESDIR', value: '/edgeadm/profiles' });
    // Other profiles: another ConfigMap, plant-b's workload moves to it, and the first goes.
    const templates = { 'plant-b': { services: { devices: ['device-modbus', 'device-virtual'], deviceFiles: { 'device-modbus': { profiles: { 'pumps.yaml': 'name: pumps-v2\n' } } } } } };
    // Again on a conflict with the controller's own writes of the Addon.
    await eventually(async () => {
      const a0 = await ok(raw.call('GET', `${E}/addons/edgex`));
      await ok(raw.call('PUT', `${E}/addons/edgex`, { ...a0, spec: { ...a0.spec, templates } }));
    });
    await eventually(async () => {
      const now = await cms();
      expect(now).toHaveLength(1);
      expect(now[0]).not.toBe(cm);
      expect((await modbus('plant-b')).spec.template.spec.volumes).toContainEqual({ name: 'files-profiles', configMap: { name: now[0] } });
    });

    // The Addon runs with its site half: the site agents run the bus and bridge; the workloads' states are the controller's.
    await eventually(async () => {
      const a = await ok(raw.call('GET', `${E}/addons/edgex`));
      expect(a.metadata.annotations[RUNS_AS_GRID_ANNOTATION]).toBe('with-site');
      expect(Object.keys(a.status?.workloads ?? {}).sort()).toEqual(Object.keys(SITES));
    });

    await ok(raw.call('DELETE', `${E}/addons/edgex`));
    await eventually(async () => expect(await snapshot()).toEqual(before));
  });

  it("its site half bridges to its site's EdgeX at the Services' cluster IPs, read as the node", { timeout: 90_000 }, async () => {
    // The node's reads of the cluster (a site agent's go through its lite-apiserver: sites/cluster-services.test.ts).
    const site = await mockSiteServices({ site: 'plant-a', broker: true, kubeGet: (path) => raw.call('GET', path) });
    const tk = await startTestKernel({
      plugins: [{ plugin: edgex, site: 'plant-a', config: { publish: false, services: {} }, addon: 'half', workloadsAsGrid: true }],
      services: site.services,
    });
    try {
      // No Addon yet, so no Service: the bridge waits, saying which.
      const cause = (): string => {
        const st = tk.status('edgex@plant-a');
        return st.state === 'degraded' ? `${st.error?.code}: ${st.error?.message}` : st.state;
      };
      await vi.waitFor(() => expect(cause()).toMatch(/^EDGE_ERR_CLUSTER_SERVICE: .*'half-core-(metadata|command)-svc'.*no such Service/), { timeout: 15_000, interval: 50 });
      await ok(raw.call('POST', `${E}/addons`, { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Addon', metadata: { name: 'half', namespace: NS }, spec: { plugin: 'edgex', sites: ['plant-a'], config: { services: {} } } }));
      const ip = async (svc: string): Promise<string> => (await ok(raw.call('GET', `/api/v1/namespaces/${NS}/services/half-${svc}-svc`))).spec.clusterIP as string;
      await eventually(async () => expect(await ip('core-metadata')).toMatch(/^10\./));
      // Bridged at core-metadata's cluster IP. No EdgeX runs behind it here: unreachable, with the address; or,
      // on a network whose proxy answers for every address, a wrong answer from there.
      const metadata = `http://${await ip('core-metadata')}:59881`;
      await vi.waitFor(() => expect(cause()).toContain(metadata), { timeout: 60_000, interval: 50 });
      expect(cause()).toMatch(/^EDGE_ERR_EDGEX_BRIDGE_(UNREACHABLE|ANSWER)/);
    } finally {
      await tk.stop();
      await site.close();
      await ok(raw.call('DELETE', `${E}/addons/half`)).catch(() => undefined);
      const left = async (): Promise<string[]> =>
        [...(await names(`/api/v1/namespaces/${NS}/services`)), ...(await names(`/apis/apps/v1/namespaces/${NS}/deployments`))].filter((n) => n.startsWith('half-'));
      await eventually(async () => expect(await left()).toEqual([]));
    }
  });

  it('writes nothing for a bus-only Addon: no group, no grid; its site agents run it', { timeout: 60_000 }, async () => {
    const before = await snapshot();
    await ok(raw.call('POST', `${E}/addons`, { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Addon', metadata: { name: 'bus', namespace: NS }, spec: { plugin: 'edgex', sites: ['plant-a'] } }));
    await eventually(async () => {
      const a = await ok(raw.call('GET', `${E}/addons/bus`));
      expect(a.metadata.annotations[RUNS_AS_GRID_ANNOTATION]).toBe('with-site');
      expect(a.status?.workloads?.['plant-a']).toMatchObject({ state: 'running', message: 'no workload runs at this site' });
    });
    expect(await snapshot()).toEqual(before);
    await ok(raw.call('DELETE', `${E}/addons/bus`));
  });
});
