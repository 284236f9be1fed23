/**
 * A hub on Kubernetes' grid side, in this process: the Kubernetes API test
 * server with the edgeadm and grid CRDs, and the three controllers a
 * cluster runs for Addons (the hub's addon controller for `namespace`, the
 * unit and the grid controller). `addSite` makes a Site with its Nodes (and
 * their Kubernetes nodes) as the hub and its agents would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GRID_KIND_NAMES, GRID_KINDS, startAddonGridController, startGridControllers, startUnitControllers, type RunningController } from '../../core/grid/index.ts';
import type { Logger } from '../../core/kernel/index.ts';
import type { PluginDefinition } from '../../core/plugins/index.ts';
import { applyCrds, crdFromSchema, edgeadmCrds, openKubeClient, type KubeClient } from '../../core/store/index.ts';
import { rawClient, type RawClient } from './kube-apiserver/client.ts';
import { startKubeApiServer, type KubeApiServer } from './kube-apiserver/index.ts';

export interface GridCluster {
  server: KubeApiServer;
  client: KubeClient;
  raw: RawClient;
  namespace: string;
  /** A Site (with labels) and its Nodes, each also a Kubernetes node. */
  addSite(site: string, nodes: readonly string[], labels?: Record<string, string>): Promise<void>;
  /** Starts the three controllers (after the sites, or before: they follow). */
  startControllers(): Promise<void>;
  close(): Promise<void>;
}

export interface GridClusterOptions {
  plugin(id: string): PluginDefinition | undefined;
  logger: Logger;
  namespace?: string;
  /** Short backoffs and rate limits, for tests. */
  fast?: boolean;
  /** The test server's watch history (events kept), for large benches. */
  historyLimit?: number;
}

export async function startGridCluster(o: GridClusterOptions): Promise<GridCluster> {
  const namespace = o.namespace ?? 'default';
  const E = `/apis/edgeadm.io/v1alpha1/namespaces/${namespace}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-grid-cluster-'));
  const server = await startKubeApiServer(o.historyLimit === undefined ? {} : { historyLimit: o.historyLimit });
  const client = await openKubeClient(await server.kubeconfig(dir));
  const raw = rawClient(server);
  await applyCrds(client, [...edgeadmCrds(), ...GRID_KIND_NAMES.map((k) => crdFromSchema(GRID_KINDS[k]))]);
  const running: RunningController[] = [];
  const must = async (p: ReturnType<RawClient['call']>): Promise<void> => {
    const r = await p;
    if (r.status >= 300) throw new Error(`grid cluster: ${r.status} ${JSON.stringify(r.body)}`);
  };
  return {
    server,
    client,
    raw,
    namespace,
    async addSite(site, nodes, labels) {
      await must(raw.call('POST', `${E}/sites`, { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Site', metadata: { name: site, namespace, ...(labels ? { labels } : {}) }, spec: {} }));
      for (const n of nodes) {
        await must(raw.call('POST', '/api/v1/nodes', { metadata: { name: n } }));
        await must(raw.call('POST', `${E}/nodes`, { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Node', metadata: { name: n, namespace }, spec: { site } }));
      }
    },
    async startControllers() {
      const common = { client, logger: o.logger, ...(o.fast ? { backoffMs: { initial: 20, max: 200 }, rateLimit: { baseDelayMs: 5, maxDelayMs: 200 } } : {}) };
      running.push(await startAddonGridController({ ...common, namespace, plugin: (id) => o.plugin(id) }));
      running.push(await startUnitControllers(common));
      running.push(await startGridControllers(common));
    },
    async close() {
      for (const r of running.reverse()) await r.close();
      await raw.close();
      await client.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
