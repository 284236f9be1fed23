/**
 * grid-addon: Addons through the grid on the Kubernetes API test server in
 * this process, with the three controllers a cluster runs (the hub's addon
 * controller, the unit and the grid controller). BENCH_GRID_ADDON_SITES
 * sites (default 200: one node each, a Site, a Node, a Kubernetes node).
 * Measured: the time from one Addon over every site (a plugin with one
 * Deployment) to a Deployment at each site, against the same expansion from
 * a DeploymentGrid written by hand (the grid controller alone, over the
 * same units: the peer, in the same run); then, one at a time, the time from
 * one site's template change in the Addon to that site's Deployment
 * carrying it, and how many Deployments were written for it (the minimum is
 * one). The figures include the test server's CPU (same process, TLS on
 * loopback). BENCH_GRID_TIMEOUT_S (default 600) bounds each expansion.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Type from 'typebox';
import { createLogger } from '../core/kernel/index.ts';
import { GRID_KIND_NAMES, GRID_KINDS, startAddonGridController, startGridControllers, startUnitControllers } from '../core/grid/index.ts';
import { definePlugin } from '../core/plugins/index.ts';
import { applyCrds, crdFromSchema, edgeadmCrds, openKubeClient } from '../core/store/index.ts';
import { rawClient, type RawClient } from '../test/support/kube-apiserver/client.ts';
import { startKubeApiServer } from '../test/support/kube-apiserver/index.ts';
import { envInt, round, versus, type Benchmark, type BenchResult } from './harness.ts';

const CHANGES = 5;
const NS = 'default';
const E = `/apis/edgeadm.io/v1alpha1/namespaces/${NS}`;
const DEPLOY = `/apis/apps/v1/namespaces/${NS}/deployments`;

const spec = (image: string): Record<string, unknown> => ({
  replicas: 1,
  selector: { matchLabels: { app: 'echo' } },
  template: { metadata: { labels: { app: 'echo' } }, spec: { containers: [{ name: 'echo', image }] } },
});
const echo = definePlugin({
  id: 'echo',
  version: '1.0.0',
  engine: '*',
  configSchema: Type.Object({ image: Type.String({ default: 'echo:1' }) }, { additionalProperties: false }),
  register: () => undefined,
  workloads: ({ config }) => ({ deployments: [{ name: 'srv', spec: spec(config.image) }] }),
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Deployment = { metadata: { name: string; resourceVersion: string; labels?: Record<string, string> }; spec: { template: { spec: { containers: { image: string }[] } } } };

/** Deployments by name whose names start with `prefix` (every page). */
async function deployments(raw: RawClient, prefix: string): Promise<Map<string, Deployment>> {
  const out = new Map<string, Deployment>();
  let cont = '';
  do {
    const r = await raw.call('GET', `${DEPLOY}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
    const body = r.body as { items: Deployment[]; metadata?: { continue?: string } };
    for (const d of body.items) if (d.metadata.name.startsWith(prefix)) out.set(d.metadata.name, d);
    cont = body.metadata?.continue ?? '';
  } while (cont !== '');
  return out;
}

async function until(what: string, check: () => Promise<boolean>, t0: number): Promise<number> {
  const deadline = Date.now() + envInt('BENCH_GRID_TIMEOUT_S', 600) * 1000;
  for (;;) {
    if (await check()) return performance.now() - t0;
    if (Date.now() > deadline) throw new Error(`grid-addon bench: ${what} not done within BENCH_GRID_TIMEOUT_S`);
    await sleep(50);
  }
}

const bench: Benchmark = {
  name: 'grid-addon',
  description: "Addons through the grid: one Addon over N sites to a Deployment per site (vs a hand-written DeploymentGrid), one site's template change to convergence and the Deployments it rewrote",
  async run(): Promise<BenchResult[]> {
    const sites = envInt('BENCH_GRID_ADDON_SITES', 200);
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-bench-grid-addon-'));
    const server = await startKubeApiServer({ historyLimit: 40 * sites + 10_000 });
    const raw = rawClient(server);
    const client = await openKubeClient(await server.kubeconfig(dir));
    const logger = createLogger({ level: 'error' });
    const running: { close(): Promise<void> }[] = [];
    try {
      await applyCrds(client, [...edgeadmCrds(), ...GRID_KIND_NAMES.map((k) => crdFromSchema(GRID_KINDS[k]))]);
      for (let i = 0; i < sites; i++) {
        const site = `s-${i}`;
        // The hand-written peer's units: label `zone`.
        await raw.call('POST', '/api/v1/nodes', { metadata: { name: `node-${i}`, labels: { zone: site } } });
        await raw.call('POST', `${E}/sites`, { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Site', metadata: { name: site, namespace: NS }, spec: {} });
        await raw.call('POST', `${E}/nodes`, { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Node', metadata: { name: `node-${i}`, namespace: NS }, spec: { site } });
      }
      const common = { client, logger };
      running.push(await startUnitControllers(common));
      running.push(await startGridControllers(common));
      running.push(await startAddonGridController({ ...common, namespace: NS, plugin: (id) => (id === 'echo' ? echo : undefined) }));

      // The peer: the same Deployments from a DeploymentGrid written by hand.
      let t0 = performance.now();
      await raw.call('POST', `/apis/superedge.io/v1/namespaces/${NS}/deploymentgrids`, { apiVersion: 'superedge.io/v1', kind: 'DeploymentGrid', metadata: { name: 'hand', namespace: NS }, spec: { gridUniqKey: 'zone', template: spec('echo:1') } });
      const handMs = await until('the hand-written grid', async () => (await deployments(raw, 'hand-')).size >= sites, t0);

      t0 = performance.now();
      await raw.call('POST', `${E}/addons`, { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Addon', metadata: { name: 'echo', namespace: NS }, spec: { plugin: 'echo', siteSelector: {} } });
      const addonMs = await until('the Addon', async () => (await deployments(raw, 'echo-srv-')).size >= sites, t0);

      const latencies: number[] = [];
      const rewritten: number[] = [];
      const templates: Record<string, { image: string }> = {};
      for (let k = 0; k < CHANGES; k++) {
        await sleep(300);
        const site = `s-${k}`;
        const before = await deployments(raw, 'echo-srv-');
        const a = (await raw.call('GET', `${E}/addons/echo`)).body as { spec: Record<string, unknown> };
        templates[site] = { image: 'echo:2' };
        const t1 = performance.now();
        await raw.call('PUT', `${E}/addons/echo`, { ...a, spec: { ...a.spec, templates: { ...templates } } });
        latencies.push(
          await until(`site ${site}'s template`, async () => {
            const d = (await raw.call('GET', `${DEPLOY}/echo-srv-${site}`)).body as Deployment;
            return d.spec?.template?.spec?.containers?.[0]?.image === 'echo:2';
          }, t1),
        );
        await sleep(500);
        const after = await deployments(raw, 'echo-srv-');
        rewritten.push([...after].filter(([n, d]) => before.get(n)?.metadata.resourceVersion !== d.metadata.resourceVersion).length);
      }
      const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
      return [
        versus({ bench: 'grid-addon', metric: `one Addon over ${sites} sites to a Deployment at each`, value: round(addonMs / 1000, 2), unit: 's' }, 'a hand-written DeploymentGrid (grid controller alone)', round(handMs / 1000, 2)),
        { bench: 'grid-addon', metric: `one site's template change to its Deployment, median of ${CHANGES}`, value: round(median(latencies)), unit: 'ms', target: '< 5000' },
        versus({ bench: 'grid-addon', metric: `Deployments rewritten per site template change, median of ${CHANGES}`, value: median(rewritten), unit: 'writes' }, 'minimum (the site\'s Deployment)', 1),
      ];
    } finally {
      for (const r of running.reverse()) await r.close();
      await client.close();
      await raw.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
