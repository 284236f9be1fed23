/**
 * What a plugin adds to the `edgeadm` command line: its own command groups
 * (`edgeadm opcua trust ...`) and discovery from the operator's machine
 * (`edgeadm device discover --plugin <id>`). The CLI reaches plugins only this
 * way, never by importing their files.
 *
 * The contribution lives in its own small module, named by `"tools"` in the
 * manifest (`"edgeadm": { ..., "tools": "./src/cli.ts" }`), never in the entry:
 * the CLI imports every installed plugin's tools module at each start (so
 * `edgeadm --help` lists the commands), so the module must not import heavy
 * modules at its top. Commands import what they need when they run, and
 * `discovery.driver` imports the driver when a discovery runs.
 *
 *   export default definePluginTools({
 *     id: 'acme.bacnet',
 *     discovery: {
 *       options: [{ flags: '--network <n>', key: 'network', description: 'BACnet network number', value: 'integer' }],
 *       examples: ['edgeadm device discover --plugin acme.bacnet 10.0.0.255:47808'],
 *       async driver(ctx) {
 *         const { createBacnetDriver } = await import('./driver.ts');
 *         return createBacnetDriver({ logger: ctx.logger });
 *       },
 *     },
 *   });
 */
import type { Command } from 'commander';
import type { Logger } from '../kernel/index.ts';
import type { DeviceDriver } from './driver.ts';

/** A command of the `edgeadm` program (commander's Command). */
export type CliCommand = Command;

/** The output formats every command takes with `-o`. */
export type CliOutputFormat = 'table' | 'json' | 'yaml';

/** A table column: its header (printed in upper case) and a row's cell. */
export interface CliColumn<T> {
  header: string;
  value: (row: T) => string | number | undefined;
}

/** What the CLI lends a plugin's commands, so they behave like every other command. */
export interface CliKit {
  /** The running command's output format (`-o`), a logger on standard error set from the config, and standard output. */
  context(cmd: CliCommand): { output: CliOutputFormat; logger: Logger; out: NodeJS.WritableStream };
  /** A usage error naming the argument: the command exits with code 2 and says what is wrong. */
  usageError(argument: string, reason: string): Error;
  /** Adds the `Examples:` section every command shows in --help. */
  examples(cmd: CliCommand, lines: readonly string[]): CliCommand;
  /** Writes data as JSON or YAML, or the table's text for `-o table`. */
  emit(format: CliOutputFormat, data: unknown, table: () => string): void;
  /** Aligned columns with upper-case headers and no borders, as every command prints them. */
  renderTable<T>(rows: readonly T[], columns: readonly CliColumn<T>[]): string;
}

/** What a discovery's driver gets: it runs on the operator's machine, outside any site. */
export interface ToolContext {
  logger: Logger;
  /**
   * The plugin's own folder for local state on this machine:
   * `<data-dir>/plugins/<id>`, laid out as a site agent's storage gives it to
   * the plugin at a site (`--data-dir` of `edgeadm device discover`, default
   * `~/.config/edgeadm`). Created by the plugin when it needs it.
   */
  dir: string;
}

/** One plugin-specific `edgeadm device discover` option, passed to `discover` as `DiscoveryRequest.options[key]`. */
export interface DiscoveryOptionSpec {
  /** commander flags: `--max-depth <n>` takes a value, `--accept-server-certificate` is a switch (true when given). */
  flags: string;
  /** The key in DiscoveryRequest.options. */
  key: string;
  description: string;
  /** How a value's text is passed: as is (default), as a whole number, or as a file path made absolute. */
  value?: 'string' | 'integer' | 'path';
}

export interface PluginToolsSpec {
  /** The plugin id, as in the manifest. */
  id: string;
  /** Adds this plugin's command groups to the `edgeadm` program; runs at every CLI start, so it only declares commands. */
  commands?(program: CliCommand, kit: CliKit): void;
  /** Discovery from this machine (`edgeadm device discover --plugin <id> <target>`), through the driver's `discover`. */
  discovery?: {
    options?: readonly DiscoveryOptionSpec[];
    /** Example command lines shown in `edgeadm device discover --help`. */
    examples?: readonly string[];
    /** A driver that implements `discover`; closed after the discovery. */
    driver(ctx: ToolContext): Promise<DeviceDriver>;
  };
}

const BRAND = Symbol.for('edgeadm.plugin-tools');

export interface PluginTools extends Readonly<PluginToolsSpec> {
  readonly [BRAND]: true;
}

/** Declares a plugin's command-line contribution; the default export of the module its manifest names in `"tools"`. */
export function definePluginTools(spec: PluginToolsSpec): PluginTools {
  return Object.freeze({ ...spec, [BRAND]: true as const });
}

/** True for values made by definePluginTools, from this copy of the SDK or another. */
export function isPluginTools(value: unknown): value is PluginTools {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}
