/** `edgeadm plugin list|info`: what plugins are installed, where from, and whether they can run. */
import type { Command } from 'commander';
import { EDGEADM_VERSION, ServiceScope } from '../core/kernel/index.ts';
import { PluginErrors, PluginRegistry, type PluginInfo } from '../core/plugins/index.ts';
import type { PluginCatalogEntry } from '../core/hub/index.ts';
import { contextOf, type CommandContext } from './context.ts';
import { emit, renderDetails, renderTable } from './output.ts';
import { examples, summary } from './commands.ts';

/** The plugins this machine has (built-in and from npm packages), loaded: all of them, or only `ids`. */
export async function loadRegistry(ctx: CommandContext, ids?: readonly string[]): Promise<PluginRegistry> {
  const { plugins } = ctx.config;
  const registry = new PluginRegistry({
    kernelVersion: EDGEADM_VERSION,
    logger: ctx.logger,
    services: ServiceScope.root('cli'),
    discovery: { searchPaths: plugins.searchPaths, ...(plugins.nodeModules ? { nodeModules: plugins.nodeModules } : {}) },
  });
  await registry.load(ids);
  return registry;
}

/** A plugin as the hub's catalog lists it (`GET /api/v1/plugins`): what `edgeadm plugin list` shows, with its schemas. */
export function catalogEntry(p: PluginInfo): PluginCatalogEntry {
  const protocols = Object.entries(p.protocols);
  return {
    id: p.id,
    version: p.version,
    ...(p.description === undefined ? {} : { description: p.description }),
    ...(p.role === undefined ? {} : { role: p.role }),
    ...(isSchema(p.configSchema) ? { configSchema: p.configSchema } : {}),
    ...(protocols.length === 0 ? {} : { protocols: Object.fromEntries(protocols.filter((e): e is [string, Record<string, unknown>] => isSchema(e[1]))) }),
  };
}

const isSchema = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The hub's plugin source (`startHub({ pluginCatalog })`): the plugins
 * `edgeadm plugin list` finds, loaded when the hub first asks (or those of
 * `registry`, already loaded). Entries discovery could not read (no
 * manifest) are left out.
 */
export function pluginCatalogSource(ctx: CommandContext, registry?: PluginRegistry): () => Promise<PluginCatalogEntry[]> {
  return async () => ((registry ?? (await loadRegistry(ctx))).plugins().filter((p) => p.version !== '').map(catalogEntry));
}

function statusText(p: PluginInfo): string {
  const first = p.problems[0];
  return first ? `${p.status} (${first.code})` : p.status;
}

export function registerPlugin(program: Command): void {
  const group = program.command('plugin').description(summary('plugin'));
  examples(group, ['edgeadm plugin list', 'edgeadm plugin info modbus -o yaml']);

  const list = group
    .command('list')
    .alias('ls')
    .description('List every discovered plugin with its version, source and status')
    .action(async (_opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const plugins = (await loadRegistry(ctx)).plugins();
      emit(ctx.options.output, plugins, () =>
        renderTable(plugins, [
          { header: 'id', value: (p) => p.id },
          { header: 'version', value: (p) => p.version },
          { header: 'role', value: (p) => p.role },
          { header: 'source', value: (p) => p.source },
          { header: 'status', value: statusText },
          { header: 'package', value: (p) => p.packageName },
        ]),
      );
    });
  examples(list, ['edgeadm plugin list', 'edgeadm plugin list -o json', 'EDGEADM_PLUGINS__SEARCH_PATHS="[./my-plugins]" edgeadm plugin list']);

  const info = group
    .command('info')
    .description('Show one plugin: manifest, status and problems, services, dependencies and config schema')
    .argument('<id>', 'plugin id, as shown by `edgeadm plugin list`')
    .action(async (id: string, _opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const plugins = (await loadRegistry(ctx)).plugins();
      const p = plugins.find((x) => x.id === id);
      if (!p) {
        throw new PluginErrors.ErrNotFound({ plugin: id });
      }
      emit(ctx.options.output, p, () =>
        renderDetails([
          ['ID', p.id],
          ['Package', p.packageName],
          ['Version', p.version],
          ['Description', p.description ?? ''],
          ['Role', p.role],
          ['Stage', p.stage],
          ['Source', p.source],
          ['Location', p.location],
          ['Engine', p.engine],
          ['Status', p.status],
          ['Problems', p.problems.map((e) => `[${e.code}] ${e.message}`)],
          ['Provides', p.provides],
          ['Consumes', p.consumes],
          ['Depends on', p.dependencies],
          ['Config schema', p.configSchema ?? '<none>'],
          ['Protocols', Object.keys(p.protocols).length === 0 ? '<none>' : Object.keys(p.protocols).join(', ')],
        ]),
      );
    });
  examples(info, ['edgeadm plugin info modbus', 'edgeadm plugin info modbus -o json']);
}
