/**
 * `edgeadm up`: runs the embedded kernel with the plugin instances in the
 * config (`plugins.instances`), until stopped.
 *
 * It is no site: it offers plugins none of the services a site agent gives
 * the plugins it hosts (driver registry, reading sink, storage, broker,
 * onboarding, metrics), and it has no Devices to drive. A plugin that
 * consumes one of them (every device plugin) runs at a site, under
 * `edgeadm site run`, for an Addon of that site; `up` refuses a config that
 * lists one before starting anything, with one error naming each such
 * instance and the services it needs. With `--once` it starts, prints every
 * instance's status, stops, and exits 1 when any instance is not running
 * (invalid, blocked or failed).
 */
import type { Command } from 'commander';
import { EDGEADM_VERSION, Kernel, ServiceScope } from '../core/kernel/index.ts';
import { PluginRegistry, type InstanceSpec, type InstanceStatus, type PluginInfo } from '../core/plugins/index.ts';
import { driversRef, onboardingRef, readingSinkRef, siteBrokerRef, siteMetricsRef, siteStorageRef } from '../core/sdk/index.ts';
import { ErrUpNotRunning, ErrUpSitePlugin, type SitePlugin } from './errors.ts';
import { contextOf } from './context.ts';
import { emit, renderTable } from './output.ts';
import { waitForSignal } from './signals.ts';
import { examples, summary } from './commands.ts';

/** The services only a site agent provides. */
const SITE_SERVICES: ReadonlySet<string> = new Set([driversRef, readingSinkRef, siteStorageRef, siteBrokerRef, onboardingRef, siteMetricsRef].map((r) => r.id));

/** The instances whose plugin (as loaded) consumes site services. */
function sitePlugins(specs: readonly InstanceSpec[], plugins: readonly PluginInfo[]): SitePlugin[] {
  const out: SitePlugin[] = [];
  for (const spec of specs) {
    const services = plugins.find((p) => p.id === spec.plugin)?.consumes.filter((id) => SITE_SERVICES.has(id)) ?? [];
    if (services.length > 0) out.push({ instance: spec.site === undefined ? spec.plugin : `${spec.plugin}@${spec.site}`, plugin: spec.plugin, services });
  }
  return out;
}

export function registerUp(program: Command): void {
  const cmd = program
    .command('up')
    .description(summary('up'))
    .option('--once', 'start, print the status, then stop (a smoke test of a config); exit code 1 when an instance is not running')
    .action(async (opts: { once?: boolean }, c: Command) => {
      const ctx = contextOf(c);
      const { config, logger } = ctx;
      const specs = config.plugins.instances;
      const services = ServiceScope.root();
      const kernel = new Kernel({
        logger,
        version: EDGEADM_VERSION,
        services,
        startTimeoutMs: config.kernel.startTimeoutMs,
        shutdownBudgetMs: config.kernel.shutdownBudgetMs,
      });
      const registry = new PluginRegistry({
        kernelVersion: EDGEADM_VERSION,
        logger,
        services,
        discovery: { searchPaths: config.plugins.searchPaths, ...(config.plugins.nodeModules ? { nodeModules: config.plugins.nodeModules } : {}) },
        startTimeoutMs: config.plugins.startTimeoutMs,
        stopTimeoutMs: config.plugins.stopTimeoutMs,
      });
      await registry.load(specs.map((s) => s.plugin));
      const refused = sitePlugins(specs, registry.plugins());
      if (refused.length > 0) throw new ErrUpSitePlugin({ instances: refused });

      kernel.add(registry.component(specs));
      await kernel.start();
      const statuses = registry.status();
      emit(ctx.options.output, { kernel: kernel.status(), plugins: statuses, problems: registry.problems().map((p) => p.toJSON()) }, () =>
        statuses.length === 0
          ? 'kernel running; no plugin instances configured (set plugins.instances in the config file)\n'
          : renderTable<InstanceStatus>(statuses, [
              { header: 'instance', value: (s) => s.instance },
              { header: 'plugin', value: (s) => s.plugin },
              { header: 'site', value: (s) => s.site ?? '-' },
              { header: 'state', value: (s) => s.state },
              { header: 'error', value: (s) => (s.error ? `[${s.error.code}] ${s.error.message}` : '') },
            ]),
      );
      if (!opts.once) {
        const sig = await waitForSignal();
        logger.info({ signal: sig }, 'stopping');
      }
      await kernel.stop();
      const notRunning = statuses.filter((s) => s.state !== 'running');
      if (opts.once && notRunning.length > 0) {
        throw new ErrUpNotRunning({ total: statuses.length, instances: notRunning.map((s) => ({ instance: s.instance, state: s.state, ...(s.error ? { code: s.error.code } : {}) })) });
      }
    });
  examples(cmd, ['edgeadm up', 'edgeadm up --config edgeadm.yaml', 'edgeadm up --config edgeadm.yaml --once -o json']);
}
