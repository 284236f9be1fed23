/**
 * EdgeX's services at one site on its node's container runtime, for the
 * plugin's instance (an embedded hub's site; on Kubernetes the grid runs
 * them): finds the runtime, brings the Compose project to the plan in the
 * background, watches its services' states and says how they stand
 * (`onState`: a coded cause while some are not running, undefined when all
 * are), and removes the project when asked (the Addon gone, or its services
 * turned off).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { toErrorInfo, type Logger } from '../../../../core/sdk/index.ts';
import { ErrEdgeXNoRuntime, ErrEdgeXServicesDown } from '../errors.ts';
import { composeProjectName, renderCompose } from './compose.ts';
import { COMPOSE_FILE, ComposeProject, findRuntime, summarize } from './runtime.ts';
import { planServices, type EdgeXServicesConfig, type ServicePlan } from './services.ts';

export interface SiteServicesOptions {
  site: string;
  /** Names the project (one per plugin and site). */
  pluginId: string;
  /** services.runtime: which container runtime to look for. */
  runtime: EdgeXServicesConfig['runtime'];
  plan: readonly ServicePlan[];
  /** The plan as its Compose project (siteCompose). */
  doc: Record<string, unknown> | undefined;
  /** The plugin's storage folder: the Compose file lives here. */
  dir: string;
  logger: Logger;
  /** How the services stand: a cause while they do not all run. */
  onState(cause: Error | undefined): void;
  /** Between two reads of the services' states. */
  watchMs?: number;
  /** Before trying a failed `up` again. */
  retryMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface SiteServices {
  /** Stops watching; the services keep running (a restarted agent finds them). A Compose command under way finishes on its own. */
  stop(): void;
  /**
   * Removes the project (containers, network, volumes) once a Compose
   * command under way is done. Returns at once: stopping containers takes
   * longer than a plugin's stop may; `removed` settles when it is done.
   */
  remove(): void;
  /** Settles when the removal asked for is done (or failed, logged). */
  readonly removed: Promise<void>;
  /** A file in one of the project's running containers (secure mode: the bridge's token, which only root reads). */
  readFile(service: string, file: string): Promise<string>;
}

/** Whether an earlier config left a Compose project's file in `dir` (its project may still run). */
export function composeFileIn(dir: string): boolean {
  return existsSync(path.join(dir, COMPOSE_FILE));
}

/** A site's services as its Compose project; undefined when it runs none. */
export function siteCompose(pluginId: string, site: string, config: EdgeXServicesConfig): Record<string, unknown> | undefined {
  const plan = planServices(config);
  if (plan.length === 0) return undefined;
  return renderCompose(plan, { project: composeProjectName(pluginId, site), site, addon: pluginId, busPort: config.busPort });
}

/** Runs a site's services; with an empty plan, removes a project an earlier config left. */
export function startSiteServices(o: SiteServicesOptions): SiteServices {
  const project = composeProjectName(o.pluginId, o.site);
  const log = o.logger.child({ project });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  // Stopped between two reads: no more sleeping.
  const sleep = (ms: number): Promise<void> =>
    stopped
      ? Promise.resolve()
      : new Promise((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, ms);
        });

  // Not running until the runtime says so.
  if (o.plan.length > 0) o.onState(new ErrEdgeXServicesDown({ project, states: 'looking for the container runtime' }));
  const found = findRuntime(o.runtime, o.env);
  const compose = found.then((f) => ('runtime' in f ? new ComposeProject(f.runtime, project, o.dir) : undefined));

  const loop = (async (): Promise<void> => {
    const f = await found;
    if ('problem' in f) {
      if (o.plan.length > 0) o.onState(new ErrEdgeXNoRuntime({ wanted: o.runtime, reason: f.problem }));
      return;
    }
    const p = (await compose)!;
    if (o.plan.length === 0 || o.doc === undefined) {
      // Services turned off: what an earlier config started goes.
      if (p.exists()) await p.down();
      return;
    }
    const doc = o.doc;
    let upToDate = false;
    while (!stopped) {
      try {
        if (!upToDate) {
          o.onState(new ErrEdgeXServicesDown({ project, states: `starting with ${f.runtime.name} (images may be pulled)` }));
          await p.up(doc);
          upToDate = true;
          log.info({ runtime: f.runtime.name, services: o.plan.length }, "edgex: the site's EdgeX services are up");
        }
        const s = summarize(await p.ps(), o.plan);
        o.onState(s.ok ? undefined : new ErrEdgeXServicesDown({ project, states: s.text }));
        await sleep(o.watchMs ?? 10_000);
      } catch (err) {
        log.warn({ error: toErrorInfo(err) }, "edgex: the site's EdgeX services: compose failed; trying again");
        o.onState(err instanceof Error ? err : new Error(String(err)));
        await sleep(o.retryMs ?? 30_000);
      }
    }
  })().catch((err: unknown) => {
    log.error({ error: toErrorInfo(err) }, "edgex: the site's EdgeX services: gave up");
    o.onState(err instanceof Error ? err : new Error(String(err)));
  });

  const halt = (): void => {
    stopped = true;
    if (timer) clearTimeout(timer);
    wake?.();
  };
  let removed: Promise<void> = Promise.resolve();
  return {
    stop: halt,
    remove() {
      halt();
      removed = (async () => {
        await loop;
        const p = await compose;
        if (p?.exists()) {
          await p.down();
          log.info("edgex: the site's EdgeX services are removed");
        }
      })().catch((err: unknown) => log.error({ error: toErrorInfo(err) }, "edgex: removing the site's EdgeX services failed"));
    },
    get removed() {
      return removed;
    },
    async readFile(service, file) {
      const f = await found;
      if ('problem' in f) throw new ErrEdgeXNoRuntime({ wanted: o.runtime, reason: f.problem });
      return (await compose)!.readFile(service, file);
    },
  };
}
