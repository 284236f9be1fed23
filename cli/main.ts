/**
 * edgeadm: the command line. One file per command group, listed in
 * commands.ts; this file loads the one a command line names, wires it into
 * the program and maps failures to exit codes: 0 ok, 1 error, 2 usage error.
 */
import { Command, CommanderError, Option } from 'commander';
import { EDGEADM_VERSION, isEdgeError, LOG_LEVELS, toErrorInfo, type EdgeError } from '../core/kernel/base.ts';
import { ErrUsage } from './errors.ts';
import { COMMAND_MODULES, examples, moduleOf, OUTPUT_FORMATS, PLUGIN_COMMANDS_AFTER, takeExitCode, type CommandModule } from './commands.ts';
import type { LoadedTools, PluginCommandLine } from './plugin-tools.ts';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

/** The program with its global options and no commands yet. */
function programShell(): Command {
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
  return program;
}

/**
 * Adds the top-level commands in the order `--help` lists them: the loaded
 * modules' real commands, and for the others a stand-in with the name and
 * summary only (it never runs: the command that runs is always loaded).
 * `plugins` adds the plugins' own command groups (undefined: not loaded).
 */
async function addCommands(program: Command, load: (m: CommandModule) => boolean, plugins: (PluginCommandLine & { add(program: Command): void }) | undefined): Promise<void> {
  const registrars = await Promise.all(COMMAND_MODULES.map((m) => (load(m) ? m.load() : Promise.resolve(undefined))));
  const none: PluginCommandLine = { tools: [], problems: [] };
  COMMAND_MODULES.forEach((m, i) => {
    const register = registrars[i];
    if (register) register(program, plugins ?? none);
    else for (const [name, text] of Object.entries(m.commands)) program.command(name).description(text).allowUnknownOption().allowExcessArguments();
    if (plugins && Object.hasOwn(m.commands, PLUGIN_COMMANDS_AFTER)) plugins.add(program);
  });
  // Subcommands inherit exit handling and output settings.
  const inherit = (cmd: Command): void => {
    for (const sub of cmd.commands) {
      sub.exitOverride().showHelpAfterError('(run with --help for usage)');
      inherit(sub);
    }
  };
  inherit(program);
}

/** What plugins add to the command line, loaded (their tools modules imported) with the config `argv` names. */
async function pluginCommandLine(argv: readonly string[]): Promise<PluginCommandLine & { add(program: Command): void }> {
  const { loadPluginTools, addPluginCommands } = await import('./plugin-tools.ts');
  const { tools, problems } = await loadPluginTools(argv);
  return { tools, problems, add: (program) => addPluginCommands(program, tools, problems) };
}

/**
 * The whole program: every command, with the commands and discovery options
 * that `plugins` add (loadPluginTools); a contribution that cannot be added
 * is put in `problems`. (`run` loads only the command it runs.)
 */
export async function buildProgram(tools: LoadedTools[] = [], problems: EdgeError[] = []): Promise<Command> {
  const { addPluginCommands } = await import('./plugin-tools.ts');
  const program = programShell();
  await addCommands(program, () => true, { tools, problems, add: (p) => addPluginCommands(p, tools, problems) });
  return program;
}

/** Global options that take a value: the word after them is not the command. */
const VALUE_OPTIONS = new Set(['-o', '--output', '--config', '--log-level']);

/** The command word of a command line: the first argument that is not a global option (or its value); `help X` names X. */
export function commandWord(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') return args[i + 1];
    if (VALUE_OPTIONS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    if (a === 'help') return commandWord(args.slice(i + 1)) ?? 'help';
    return a;
  }
  return undefined;
}

async function reportError(err: unknown): Promise<number> {
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
  const { ConfigError } = await import('../core/kernel/index.ts');
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

/** Runs edgeadm with a full argv (node, script, ...args); resolves to the exit code. Loads only the command that runs. */
export async function run(argv: readonly string[]): Promise<number> {
  // Output piped into `head` and closed early is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT_OK);
    throw err;
  });
  // An empty variable means unset, as for EDGEADM_CONFIG.
  for (const name of ['EDGEADM_OUTPUT', 'EDGEADM_CONFIG']) if (process.env[name] === '') delete process.env[name];
  const word = commandWord(argv.slice(2));
  const own = word === undefined ? undefined : moduleOf(word);
  // Plugins' tools are loaded when their commands may run or be listed: the top-level help, a command
  // that takes them, completion (the whole tree), or a word no built-in command has.
  const needsPlugins = own === undefined || own.usesPlugins === true || word === 'completion';
  const plugins = needsPlugins ? await pluginCommandLine(argv) : undefined;
  const program = programShell();
  await addCommands(program, (m) => m === own || word === 'completion', plugins);
  for (const p of plugins?.problems ?? []) process.stderr.write(`warning: [${p.code}] ${p.message}\n`);
  if (argv.length <= 2) {
    program.outputHelp();
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync([...argv]);
    return takeExitCode() ?? EXIT_OK;
  } catch (err) {
    return await reportError(err);
  }
}
