/**
 * What installed plugins add to the command line. The CLI reaches a plugin
 * only through the registry and the SDK: at start it finds the plugins (their
 * manifests, read as data), lets the registry judge them (engine range,
 * duplicates, planned), imports the small module each valid plugin's
 * manifest names in `"tools"`, and hands its `commands` the program and a kit
 * (output, usage errors, examples). `edgeadm device discover` takes their
 * `discovery` (cli/discover.ts).
 *
 * Rules: a plugin whose tools module is missing, broken or for another id
 * adds nothing, and the CLI says so on standard error (never silently); the
 * rest of the command line works. Plugins are looked for where `edgeadm
 * plugin list` looks: the built-in ones, installed npm packages, and the
 * config's `plugins.searchPaths` (from `--config` or EDGEADM_CONFIG).
 */
import type { Command } from 'commander';
import { compareNames, createLogger, describeError, EDGEADM_VERSION, ServiceScope, type EdgeError } from '../core/kernel/index.ts';
import { discoverPlugins, PluginRegistry, importPluginModule, type DiscoveryOptions } from '../core/plugins/index.ts';
import { isPluginTools, type CliKit, type PluginTools } from '../core/sdk/index.ts';
import { readConfig } from './config.ts';
import { contextOf } from './context.ts';
import { examples } from './commands.ts';
import { ErrPluginTools, ErrUsage } from './errors.ts';
import { emit, renderTable } from './output.ts';

/** One plugin's command-line contribution. */
export interface LoadedTools {
  id: string;
  tools: PluginTools;
}

export interface PluginCommandLine {
  tools: LoadedTools[];
  problems: EdgeError[];
}

/** The kit every plugin command gets: the same context, errors and output as the built-in commands. */
export const cliKit: CliKit = {
  context(cmd) {
    const ctx = contextOf(cmd);
    return { output: ctx.options.output, logger: ctx.logger, out: ctx.out };
  },
  usageError: (argument, reason) => new ErrUsage({ argument, reason }),
  examples,
  emit: (format, data, table) => emit(format, data, table),
  renderTable,
};

/** `--config FILE` or `--config=FILE` among the arguments (the program itself parses them later). */
function configArgument(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') return undefined;
    if (a === '--config') return argv[i + 1];
    if (a.startsWith('--config=')) return a.slice('--config='.length);
  }
  return undefined;
}

/**
 * Where plugins are looked for: the config's plugin folders when the config
 * reads; else the default places (a broken config is reported by the command
 * that reads it, with its field and source).
 */
function discoveryOptions(argv: readonly string[]): DiscoveryOptions {
  try {
    const { plugins } = readConfig(configArgument(argv));
    return { searchPaths: plugins.searchPaths, ...(plugins.nodeModules ? { nodeModules: plugins.nodeModules } : {}) };
  } catch {
    return {};
  }
}

/** Imports the tools module of every usable plugin that has one. `argv` is the command line, for `--config`. */
export async function loadPluginTools(argv: readonly string[] = []): Promise<PluginCommandLine> {
  const found = discoverPlugins(discoveryOptions(argv));
  const registry = new PluginRegistry({
    kernelVersion: EDGEADM_VERSION,
    logger: createLogger({ level: 'silent' }),
    services: ServiceScope.root('cli'),
    discovery: found,
  });
  // A plugin that cannot run (wrong engine, duplicate id, planned) contributes nothing; `edgeadm plugin list` says why.
  const usable = new Set(registry.plugins().filter((p) => p.status === 'ready').map((p) => p.id));
  const problems: EdgeError[] = [];
  const loaded = await Promise.all(
    found.manifests
      .filter((m) => m.toolsPath !== undefined && usable.has(m.id))
      .map(async (m): Promise<LoadedTools | undefined> => {
        let mod: { default?: unknown };
        try {
          mod = (await importPluginModule(m.toolsPath as string)) as { default?: unknown };
        } catch (err) {
          problems.push(new ErrPluginTools({ plugin: m.id, reason: `its tools module ${m.toolsPath} does not load: ${describeError(err)}` }, { cause: err }));
          return undefined;
        }
        if (!isPluginTools(mod.default)) {
          problems.push(new ErrPluginTools({ plugin: m.id, reason: `its tools module ${m.toolsPath} exports no definePluginTools(...) result as default` }));
          return undefined;
        }
        if (mod.default.id !== m.id) {
          problems.push(new ErrPluginTools({ plugin: m.id, reason: `its tools module is for plugin '${mod.default.id}'` }));
          return undefined;
        }
        return { id: m.id, tools: mod.default };
      }),
  );
  return { tools: loaded.filter((t): t is LoadedTools => t !== undefined).sort((a, b) => compareNames(a.id, b.id)), problems };
}

/** Lets each plugin add its command groups; one that throws is reported in `problems`, and the others still get theirs. */
export function addPluginCommands(program: Command, tools: readonly LoadedTools[], problems: EdgeError[]): void {
  for (const { id, tools: t } of tools) {
    if (!t.commands) continue;
    try {
      t.commands(program, cliKit);
    } catch (err) {
      problems.push(new ErrPluginTools({ plugin: id, reason: `its commands failed to register: ${describeError(err)}` }, { cause: err }));
    }
  }
}
