/**
 * The grid's process: the unit controller (NodeUnits, NodeGroups, the nodes
 * they label) and the grid controller (DeploymentGrids, StatefulSetGrids,
 * ServiceGrids) on one Kubernetes client, with their metrics and the
 * kubelet's probes on a plain-HTTP listener. `edgeadm grid run` runs it; the
 * install manifests run it as its own Deployment with its own
 * ServiceAccount, so the hub holds no right to write workloads or nodes.
 *
 * One process at a time is enough and is what the manifests run: the
 * reconcilers are level-triggered and write with resourceVersion
 * preconditions, so a second one (during a rollout) wastes work but breaks
 * nothing.
 */
import { Registry } from 'prom-client';
import { startMetricsServer, type Logger, type MetricsServer } from '../kernel/index.ts';
import { kubeFailure, openKubeClient, type KubeClient } from '../store/index.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import type { RateLimitOptions, RunningController } from './controller.ts';
import { ErrGridKindsNotServed } from './errors.ts';
import { startGridControllers } from './grids.ts';
import { GRID_KIND_NAMES, GRID_KINDS } from './types.ts';
import { startUnitControllers } from './units.ts';

/** The port `edgeadm grid run` serves /metrics, /healthz and /readyz on by default (as the install manifests run it). */
export const GRID_METRICS_PORT = 8081;

export interface GridRuntimeOptions {
  kubeConfig: KubeConfig | string;
  logger: Logger;
  /** Concurrent reconciles per controller. Default 2. */
  workers?: number;
  rateLimit?: RateLimitOptions;
  /** Where to serve /metrics, /healthz and /readyz (loopback by default); none without it. */
  listen?: { host?: string; port: number };
}

export interface GridRuntime {
  /** The metrics and probes listener's URL, when one was asked for. */
  readonly url: string | undefined;
  /** Resolves when both controllers have filled their caches and reconcile. */
  readonly ready: Promise<void>;
  readonly units: Promise<RunningController>;
  readonly grids: Promise<RunningController>;
  close(): Promise<void>;
}

/**
 * Starts both controllers (they keep retrying the API server with backoff
 * until their first lists succeed: `ready` says when) and the listener.
 */
export async function startGridRuntime(o: GridRuntimeOptions): Promise<GridRuntime> {
  const client: KubeClient = await openKubeClient(o.kubeConfig);
  try {
    await checkKindsServed(client);
  } catch (err) {
    await client.close();
    throw err;
  }
  const registry = new Registry();
  const common = { client, logger: o.logger, metrics: registry, ...(o.workers === undefined ? {} : { workers: o.workers }), ...(o.rateLimit === undefined ? {} : { rateLimit: o.rateLimit }) };
  const units = startUnitControllers(common);
  const grids = startGridControllers(common);
  let readyNow = false;
  let failed: string | undefined;
  const ready = Promise.all([units, grids]).then(
    () => {
      readyNow = true;
    },
    (err: unknown) => {
      failed = err instanceof Error ? err.message : String(err);
      throw err;
    },
  );
  // Observed here so a start that fails before anyone awaits `ready` is not an unhandled rejection.
  ready.catch(() => undefined);
  let server: MetricsServer | undefined;
  if (o.listen !== undefined) {
    try {
      server = await startMetricsServer({
        ...o.listen,
        metrics: registry,
        health: {
          live: () => (failed === undefined ? undefined : `a controller failed to start: ${failed}`),
          ready: () => (readyNow ? undefined : failed ?? 'the controllers are still listing the cluster'),
        },
      });
    } catch (err) {
      await closeAll(units, grids, client);
      throw err;
    }
  }
  return {
    url: server?.url,
    ready,
    units,
    grids,
    async close() {
      await server?.close();
      await closeAll(units, grids, client);
    },
  };
}

async function closeAll(units: Promise<RunningController>, grids: Promise<RunningController>, client: KubeClient): Promise<void> {
  await Promise.allSettled([units.then((u) => u.close()), grids.then((g) => g.close())]);
  await client.close();
}

/**
 * Fails at once, naming every missing kind, when the cluster lacks grid
 * CRDs; other failures (kube-apiserver not answering) are left to the
 * controllers, which retry.
 */
async function checkKindsServed(client: KubeClient): Promise<void> {
  const missing: string[] = [];
  await Promise.all(
    GRID_KIND_NAMES.map(async (kind) => {
      const k = GRID_KINDS[kind];
      const target = { group: k.group, version: k.version, plural: k.plural, limit: 1 };
      try {
        if (k.scope === 'Cluster') await client.custom.listClusterCustomObject(target);
        else await client.custom.listCustomObjectForAllNamespaces({ group: k.group, version: k.version, resourcePlural: k.plural, limit: 1 });
      } catch (err) {
        if (kubeFailure(err).status === 404) missing.push(`${k.plural}.${k.group}/${k.version}`);
      }
    }),
  );
  if (missing.length > 0) throw new ErrGridKindsNotServed({ server: client.server, resources: missing.sort() });
}
