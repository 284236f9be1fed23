/**
 * Runs the real `edgeadm` binary in a child process, as a user would, for
 * CLI tests: `runEdgeadm(args, env)` resolves with the exit code and both
 * outputs; `startEdgeadm` (or `startProcess` for another command) keeps a
 * long-running one in the background. The environment is the test's, without
 * a config file or an output format from the developer's shell; `env` adds
 * to it, and a key set to `undefined` removes that variable. `userEnv(home)`
 * is a user with that HOME and no edgeadm settings.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const EDGEADM_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../cli/bin/edgeadm.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type EnvChanges = Readonly<Record<string, string | undefined>>;

function environment(env: EnvChanges): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, EDGEADM_CONFIG: '', EDGEADM_OUTPUT: '' };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete e[k];
    else e[k] = v;
  }
  return e;
}

/** A user with an empty HOME and no EDGEADM_* or XDG settings. */
export function userEnv(home: string): EnvChanges {
  const env: Record<string, string | undefined> = { HOME: home };
  for (const k of ['XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'EDGEADM_HUB', 'EDGEADM_TOKEN', 'EDGEADM_CA_FILE', 'EDGEADM_USER_CONFIG']) env[k] = undefined;
  return env;
}

export function runEdgeadm(args: readonly string[], env: EnvChanges = {}, input?: string): Promise<CliResult> {
  const e = environment(env);
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [EDGEADM_BIN, ...args], { env: e, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

export interface Background {
  child: ChildProcess;
  /** Standard output so far. */
  out(): string;
  /** Standard error so far. */
  err(): string;
  /** Both, in the order they arrived. */
  output(): string;
  /** The exit code (null when ended by a signal). */
  exited: Promise<number | null>;
  /** Sends `signal` (default SIGINT, as Ctrl-C) unless it has ended; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A long-running process; stop it (e.g. in the test's cleanup) with `stop()`. */
export function startProcess(command: string, args: readonly string[], env: EnvChanges = {}, opts: { cwd?: string } = {}): Background {
  const child = spawn(command, args, { env: environment(env), stdio: ['ignore', 'pipe', 'pipe'], ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }) });
  let out = '';
  let err = '';
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    out: () => out,
    err: () => err,
    output: () => output,
    exited,
    stop(signal = 'SIGINT') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** `edgeadm <args>` in the background. */
export function startEdgeadm(args: readonly string[], env: EnvChanges = {}, opts: { cwd?: string } = {}): Background {
  return startProcess(process.execPath, [EDGEADM_BIN, ...args], env, opts);
}
