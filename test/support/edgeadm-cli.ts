/**
 * Runs the real `edgeadm` binary in a child process, as a user would, for
 * CLI tests: `runEdgeadm(args, env)` resolves with the exit code and both
 * outputs. The environment is the test's, without a config file or an
 * output format from the developer's shell; `env` adds to it, and a key set
 * to `undefined` removes that variable.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const EDGEADM_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../cli/bin/edgeadm.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runEdgeadm(args: readonly string[], env: Readonly<Record<string, string | undefined>> = {}, input?: string): Promise<CliResult> {
  const e: NodeJS.ProcessEnv = { ...process.env, EDGEADM_CONFIG: '', EDGEADM_OUTPUT: '' };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete e[k];
    else e[k] = v;
  }
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [EDGEADM_BIN, ...args], { env: e, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}
