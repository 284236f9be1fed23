/** `edgeadm up`: runs the embedded kernel with the plugin instances in the config, until stopped. */
import type { Command } from 'commander';
import { EDGEADM_VERSION, Kernel, ServiceScope } from '../core/kernel/index.ts';
import { PluginRegistry, type InstanceStatus } from '../core/plugins/index.ts';
import { contextOf, examples } from './context.ts';
import { emit, renderTable } from './output.ts';
import { waitForSignal } from './signals.ts';

export function registerUp(program: Command): void {
  const cmd = program
    .command('up')
    .description('Run the embedded kernel with the plugin instances listed in the config (plugins.instances)')
    .option('--once', 'start, print the status, then stop (a smoke test of a config)')
    .action(async (opts: { once?: boolean }, c: Command) => {
      const ctx = contextOf(c);
      const { config, logger } = ctx;
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
      kernel.add(registry.component(config.plugins.instances));
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
    });
  examples(cmd, ['edgeadm up', 'edgeadm up --config edgeadm.yaml', 'edgeadm up --config edgeadm.yaml --once -o json']);
}
