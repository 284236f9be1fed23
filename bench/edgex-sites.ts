/**
 * edgex-sites: `edgeadm addon edgex` over BENCH_EDGEX_SITES sites (default
 * 100: one node each), with the default services (core, device-virtual,
 * the rules-engine app, the UI).
 *
 * - Kubernetes: the Kubernetes API test server in this process with the
 *   three controllers a cluster runs (the hub's addon controller, the unit
 *   and the grid controller). Measured: the time from the Addon to every
 *   site's Deployments and every Service existing, and the objects written
 *   (what the hub wrote: NodeGroup, grids, ConfigMaps; what the grid
 *   controller made of them: Deployments and Services), against the peer:
 *   the objects EdgeX's own non-secure Compose file defines (services,
 *   volumes, networks) times the sites. Includes the test server's CPU.
 * - Compose: rendering every site's Compose project as an embedded hub's
 *   sites do (the plugin's composeProject), and the objects in them, against
 *   the same peer; and in secure mode, against EdgeX's secure Compose file's
 *   objects. No container engine runs here: `compose up` is not timed.
 * BENCH_GRID_TIMEOUT_S (default 600) bounds the expansion.
 */
import { createLogger, parseWithSchema } from '../core/kernel/index.ts';
import edgex, { EDGEX_COMPOSE_OBJECTS, EDGEX_SECURE_COMPOSE_OBJECTS } from '../plugins/edgex/index.ts';
import { startGridCluster } from '../test/support/grid-cluster.ts';
import type { RawClient } from '../test/support/kube-apiserver/client.ts';
import { envInt, round, versus, type Benchmark, type BenchResult } from './harness.ts';

const NS = 'default';
const E = `/apis/edgeadm.io/v1alpha1/namespaces/${NS}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How many objects a list path holds whose names start with `prefix` (every page). */
async function count(raw: RawClient, listPath: string, prefix: string): Promise<number> {
  let n = 0;
  let cont = '';
  do {
    const r = await raw.call('GET', `${listPath}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
    const body = r.body as { items: { metadata: { name: string } }[]; metadata?: { continue?: string } };
    n += body.items.filter((o) => o.metadata.name.startsWith(prefix)).length;
    cont = body.metadata?.continue ?? '';
  } while (cont !== '');
  return n;
}

const bench: Benchmark = {
  name: 'edgex-sites',
  description: "edgeadm addon edgex over N sites: on Kubernetes the time to every site's EdgeX Deployments and the objects written, and the Compose projects an embedded hub's sites render, vs EdgeX's own Compose file's objects x sites",
  async run(): Promise<BenchResult[]> {
    const sites = envInt('BENCH_EDGEX_SITES', 100);
    const peer = `EdgeX's Compose file's objects (${EDGEX_COMPOSE_OBJECTS}) x ${sites} sites`;
    const results: BenchResult[] = [];

    // Compose: what each site of an embedded hub renders.
    const parsed = parseWithSchema(edgex.configSchema!, { services: {} }, '');
    if (!parsed.ok) throw new Error(`edgex-sites bench: config: ${JSON.stringify(parsed.issues)}`);
    let composeObjects = 0;
    const t0 = performance.now();
    for (let i = 0; i < sites; i++) {
      const doc = edgex.composeProject!({ addon: 'edgex', site: `s-${i}`, config: parsed.value })!;
      for (const k of ['services', 'volumes', 'networks', 'configs']) composeObjects += Object.keys((doc[k] ?? {})).length;
    }
    const renderMs = performance.now() - t0;
    results.push({ bench: 'edgex-sites', metric: `render ${sites} sites' Compose projects (embedded hub)`, value: round(renderMs, 1), unit: 'ms' });
    results.push(versus({ bench: 'edgex-sites', metric: `objects in ${sites} sites' Compose projects`, value: composeObjects, unit: 'objects' }, peer, EDGEX_COMPOSE_OBJECTS * sites));

    // The same in EdgeX's secure mode, against EdgeX's secure Compose file.
    const secure = parseWithSchema(edgex.configSchema!, { services: { secure: true } }, '');
    if (!secure.ok) throw new Error(`edgex-sites bench: secure config: ${JSON.stringify(secure.issues)}`);
    let secureObjects = 0;
    const t1 = performance.now();
    for (let i = 0; i < sites; i++) {
      const doc = edgex.composeProject!({ addon: 'edgex', site: `s-${i}`, config: secure.value })!;
      for (const k of ['services', 'volumes', 'networks', 'configs']) secureObjects += Object.keys((doc[k] ?? {})).length;
    }
    results.push({ bench: 'edgex-sites', metric: `render ${sites} sites' Compose projects, secure mode`, value: round(performance.now() - t1, 1), unit: 'ms' });
    results.push(
      versus(
        { bench: 'edgex-sites', metric: `objects in ${sites} sites' Compose projects, secure mode`, value: secureObjects, unit: 'objects' },
        `EdgeX's secure Compose file's objects (${EDGEX_SECURE_COMPOSE_OBJECTS}) x ${sites} sites`,
        EDGEX_SECURE_COMPOSE_OBJECTS * sites,
      ),
    );

    // Kubernetes: the Addon through the grid.
    const cluster = await startGridCluster({ plugin: (id) => (id === edgex.id ? edgex : undefined), logger: createLogger({ level: 'error' }), namespace: NS, historyLimit: 60 * sites + 10_000 });
    const raw = cluster.raw;
    try {
      for (let i = 0; i < sites; i++) await cluster.addSite(`s-${i}`, [`node-${i}`]);
      await cluster.startControllers();
      // The units first: they are the sites, not the Addon's.
      const deadline = Date.now() + envInt('BENCH_GRID_TIMEOUT_S', 600) * 1000;
      while ((await count(raw, '/apis/site.superedge.io/v1alpha2/nodeunits', 's-')) < sites) {
        if (Date.now() > deadline) throw new Error('edgex-sites bench: the NodeUnits were not made in time');
        await sleep(100);
      }

      const perSite = edgex.workloads!({ addon: 'edgex', site: 's-0', config: parsed.value });
      const wantDeployments = (perSite.deployments ?? []).length * sites;
      const wantServices = (perSite.services ?? []).length;
      const t1 = performance.now();
      await raw.call('POST', `${E}/addons`, { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Addon', metadata: { name: 'edgex', namespace: NS }, spec: { plugin: 'edgex', siteSelector: {}, config: { services: {} } } });
      let deployments = 0;
      let services = 0;
      for (;;) {
        deployments = await count(raw, `/apis/apps/v1/namespaces/${NS}/deployments`, 'edgex-');
        services = await count(raw, `/api/v1/namespaces/${NS}/services`, 'edgex-');
        if (deployments >= wantDeployments && services >= wantServices) break;
        if (Date.now() > deadline) throw new Error(`edgex-sites bench: ${deployments}/${wantDeployments} Deployments and ${services}/${wantServices} Services within BENCH_GRID_TIMEOUT_S`);
        await sleep(100);
      }
      const applyMs = performance.now() - t1;
      const grids =
        (await count(raw, `/apis/superedge.io/v1/namespaces/${NS}/deploymentgrids`, 'edgex-')) + (await count(raw, `/apis/superedge.io/v1/namespaces/${NS}/servicegrids`, 'edgex-'));
      const hubWrote = grids + 1 + (await count(raw, `/api/v1/namespaces/${NS}/configmaps`, 'edgex-'));
      results.push({ bench: 'edgex-sites', metric: `Addon to every site's EdgeX Deployments and Services, ${sites} sites (Kubernetes)`, value: round(applyMs / 1000, 2), unit: 's' });
      results.push(versus({ bench: 'edgex-sites', metric: `objects the hub writes for ${sites} sites (NodeGroup, grids, ConfigMaps)`, value: hubWrote, unit: 'objects' }, peer, EDGEX_COMPOSE_OBJECTS * sites));
      results.push(versus({ bench: 'edgex-sites', metric: `Kubernetes objects in the end for ${sites} sites (those, Deployments, Services)`, value: hubWrote + deployments + services, unit: 'objects' }, peer, EDGEX_COMPOSE_OBJECTS * sites));
      return results;
    } finally {
      await cluster.close();
    }
  },
};

export default bench;
