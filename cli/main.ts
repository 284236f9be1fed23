/**
 * edgeadm: the command line. One file per command group; this file wires
 * them together and maps failures to exit codes: 0 ok, 1 error, 2 usage error.
 */
import { Command, CommanderError, Option } from 'commander';
import { EDGEADM_VERSION, isEdgeError, LOG_LEVELS, toErrorInfo, type EdgeError } from '../core/kernel/index.ts';
import { ConfigError } from '../core/kernel/index.ts';
import { examples, takeExitCode } from './context.ts';
import { ErrUsage } from './errors.ts';
import { OUTPUT_FORMATS } from './output.ts';
import { registerAddon } from './addon.ts';
import { registerCompletion } from './completion.ts';
import { registerDemo } from './demo.ts';
import { registerDevice } from './device.ts';
import { registerDeviceCommands } from './device-cmds.ts';
import { registerDeviceDiscover } from './discover.ts';
import { registerGrid } from './grid.ts';
import { registerHealth } from './health.ts';
import { registerHub } from './hub.ts';
import { registerInit } from './init.ts';
import { registerJoin } from './join.ts';
import { registerLiteApiserver } from './lite-apiserver.ts';
import { registerManifests } from './manifests.ts';
import { registerNode } from './node.ts';
import { registerPlugin } from './plugin.ts';
import { addPluginCommands, loadPluginTools, type LoadedTools } from './plugin-tools.ts';
import { registerReset } from './reset.ts';
import { registerSite } from './site.ts';
import { registerSiteCommands } from './site-cmds.ts';
import { registerSsh } from './ssh.ts';
import { registerStatus } from './status.ts';
import { registerTelemetry } from './telemetry.ts';
import { registerToken } from './token.ts';
import { registerUp } from './up.ts';
import { registerConfig } from './user-config.ts';
import { registerVersion } from './version.ts';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

/**
 * The program, with the commands and discovery options that `plugins` add
 * (loadPluginTools); a contribution that cannot be added is put in `problems`.
 */
export function buildProgram(plugins: readonly LoadedTools[] = [], problems: EdgeError[] = []): Command {
  const program = new Command('edgeadm')
    .description('Edge device platform: sites, tunnel, application grid, health, and device plugins')
    .version(EDGEADM_VERSION, '-v, --version', 'print the version')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table').env('EDGEADM_OUTPUT'))
    .addOption(new Option('--config <file>', 'config file (YAML); EDGEADM_* variables override it').env('EDGEADM_CONFIG'))
    .addOption(new Option('--log-level <level>', 'log level on standard error').choices(LOG_LEVELS))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });
  examples(program, ['edgeadm demo', 'edgeadm plugin list', 'edgeadm telemetry watch --hub https://127.0.0.1:7443 --ca-file .data/demo/hub/pki/ca.crt --site demo', 'edgeadm join https://hub:7443 --token abcdef.0123456789abcdef --site plant-a --ca-cert-hash sha256:<hex>', 'edgeadm ssh gw-1 -- uptime']);
  registerVersion(program);
  registerInit(program);
  registerReset(program);
  registerConfig(program);
  registerPlugin(program);
  registerUp(program);
  registerHub(program);
  registerGrid(program);
  registerHealth(program);
  registerLiteApiserver(program);
  registerSiteCommands(registerSite(program));
  registerNode(program);
  registerJoin(program);
  registerSsh(program);
  registerToken(program);
  const device = registerDevice(program);
  registerDeviceCommands(device);
  registerDeviceDiscover(device, plugins, problems);
  registerAddon(program);
  registerManifests(program);
  registerStatus(program);
  addPluginCommands(program, plugins, problems);
  registerDemo(program);
  registerTelemetry(program);
  registerCompletion(program);
  // Subcommands inherit exit handling and output settings.
  const inherit = (cmd: Command): void => {
    for (const sub of cmd.commands) {
      sub.exitOverride().showHelpAfterError('(run with --help for usage)');
      inherit(sub);
    }
  };
  inherit(program);
  return program;
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander has already printed its message.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT_OK;
    if (err.code === 'commander.executeSubCommandAsync') return err.exitCode;
    return EXIT_USAGE;
  }
  if (ErrUsage.is(err)) {
    process.stderr.write(`error: ${err.message}\n(run with --help for usage)\n`);
    return EXIT_USAGE;
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`error: ${err.message}\nFix the config file or the EDGEADM_* variables named above.\n`);
    return EXIT_ERROR;
  }
  if (isEdgeError(err)) {
    process.stderr.write(`error: [${err.code}] ${err.message}\n`);
    return EXIT_ERROR;
  }
  const info = toErrorInfo(err);
  process.stderr.write(`error: [${info.code}] ${info.message}\n`);
  return EXIT_ERROR;
}

/** Runs edgeadm with a full argv (node, script, ...args); resolves to the exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  // Output piped into `head` and closed early is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT_OK);
    throw err;
  });
  // An empty variable means unset, as for EDGEADM_CONFIG.
  for (const name of ['EDGEADM_OUTPUT', 'EDGEADM_CONFIG']) if (process.env[name] === '') delete process.env[name];
  const { tools, problems } = await loadPluginTools(argv);
  const program = buildProgram(tools, problems);
  for (const p of problems) process.stderr.write(`warning: [${p.code}] ${p.message}\n`);
  if (argv.length <= 2) {
    program.outputHelp();
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync([...argv]);
    return takeExitCode() ?? EXIT_OK;
  } catch (err) {
    return reportError(err);
  }
}
