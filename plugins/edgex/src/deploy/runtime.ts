/**
 * A site's EdgeX services on the node's container runtime: the Compose
 * project (compose.ts) written to the plugin's storage and run with
 * `docker compose` or `podman compose`, its services' states read back,
 * and the whole project (containers, network, volumes) removed when the
 * Addon goes. The runtime is found on PATH: `services.runtime: auto` takes
 * Docker, then Podman; either must answer `compose version`.
 *
 * Nothing here waits for images: `up -d` runs in the background of the
 * plugin's start, and the states say how far the services are.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { ErrEdgeXCompose } from '../errors.ts';
import { SECRETS_FOLDER, tokenWriterOf } from './compose.ts';

export type RuntimeName = 'docker' | 'podman';

export interface ContainerRuntime {
  name: RuntimeName;
  /** The executable's path. */
  bin: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without a shell; a missing binary is code 127. */
export function run(bin: string, args: readonly string[], o: { timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(bin, [...args], { timeout: o.timeoutMs, maxBuffer: 16 * 1024 * 1024, env: o.env ?? process.env }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr });
      const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
      const code = typeof e.code === 'number' ? e.code : e.code === 'ENOENT' ? 127 : 1;
      resolve({ code, stdout, stderr: e.killed ? `timed out after ${o.timeoutMs} ms` : stderr || e.message });
    });
  });
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const p = path.join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The runtime to use, or why there is none: each candidate must be on PATH
 * and answer `compose version`.
 */
export async function findRuntime(wanted: 'auto' | RuntimeName, env: NodeJS.ProcessEnv = process.env): Promise<{ runtime: ContainerRuntime } | { problem: string }> {
  const candidates: RuntimeName[] = wanted === 'auto' ? ['docker', 'podman'] : [wanted];
  const why: string[] = [];
  for (const name of candidates) {
    const bin = onPath(name, env);
    if (bin === undefined) {
      why.push(`no ${name} on PATH`);
      continue;
    }
    const r = await run(bin, ['compose', 'version'], { timeoutMs: 15_000, env });
    if (r.code === 0) return { runtime: { name, bin } };
    why.push(`'${name} compose version' failed: ${firstLine(r.stderr) || `exit ${r.code}`}`);
  }
  return { problem: why.join('; ') };
}

const firstLine = (text: string): string => text.trim().split('\n')[0]?.trim() ?? '';

/** One service's container as `compose ps` shows it. */
export interface ServiceState {
  service: string;
  /** running, exited, restarting, created, paused, dead. */
  state: string;
  exitCode: number;
}

/** `compose ps --format json`: a JSON array (older Compose) or one object per line (newer). */
export function parsePs(stdout: string): ServiceState[] {
  const text = stdout.trim();
  if (text === '') return [];
  const items: unknown[] = text.startsWith('[') ? (JSON.parse(text) as unknown[]) : text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown);
  return items.map((i) => {
    const o = i as { Service?: unknown; State?: unknown; ExitCode?: unknown };
    return {
      service: typeof o.Service === 'string' ? o.Service : '',
      state: typeof o.State === 'string' ? o.State.toLowerCase() : 'unknown',
      exitCode: typeof o.ExitCode === 'number' ? o.ExitCode : 0,
    };
  });
}

/**
 * Compose commands under way, by project: one project's commands run one
 * after the other, so an instance restarted with a new config never races
 * the `up` its predecessor still runs.
 */
const queues = new Map<string, Promise<unknown>>();

function serialized<T>(project: string, fn: () => Promise<T>): Promise<T> {
  const prev = queues.get(project) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const settled = next.then(
    () => undefined,
    () => undefined,
  );
  queues.set(project, settled);
  void settled.then(() => {
    if (queues.get(project) === settled) queues.delete(project);
  });
  return next;
}

/** The project's file in its folder. */
export const COMPOSE_FILE = 'compose.yaml';

/** A site's Compose project on one runtime, its file kept in `dir`. */
export class ComposeProject {
  readonly file: string;

  constructor(
    readonly runtime: ContainerRuntime,
    readonly project: string,
    readonly dir: string,
    readonly timeoutMs = 15 * 60_000,
  ) {
    this.file = path.join(dir, COMPOSE_FILE);
  }

  /** Whether a file of an earlier `up` is still here (the project may still run). */
  exists(): boolean {
    return existsSync(this.file);
  }

  async #compose(args: string[], what: string, timeoutMs = this.timeoutMs): Promise<string> {
    const r = await run(this.runtime.bin, ['compose', '-p', this.project, ...args], { timeoutMs });
    if (r.code !== 0) throw new ErrEdgeXCompose({ project: this.project, command: `${this.runtime.name} compose ${what}`, reason: firstLine(r.stderr) || `exit ${r.code}` });
    return r.stdout;
  }

  /** Writes the file (0600: it holds the services' environment) and brings the project to it. */
  up(doc: Record<string, unknown>): Promise<void> {
    return serialized(this.project, async () => {
      await writeFile(this.file, stringify(doc), { mode: 0o600 });
      // Secure mode's tokens: a private folder of the agent's, which the containers fill.
      if (tokenWriterOf(doc) !== undefined) mkdirSync(path.join(this.dir, SECRETS_FOLDER), { recursive: true, mode: 0o700 });
      await this.#compose(['-f', this.file, 'up', '--detach', '--remove-orphans'], 'up');
    });
  }

  async ps(): Promise<ServiceState[]> {
    return parsePs(await serialized(this.project, () => this.#compose(['ps', '--all', '--format', 'json'], 'ps', 30_000)));
  }

  /** A file in a service's running container (`exec -T <service> cat <path>`): read as the container's own user. */
  readFile(service: string, file: string): Promise<string> {
    return this.#compose(['exec', '-T', service, 'cat', file], `exec ${service} cat ${file}`, 30_000);
  }

  /**
   * Removes the project: its containers, network and volumes; then its file
   * and, in secure mode, its folder of tokens. The tokens are the
   * containers' files (EdgeX's user or root): they are removed by a
   * one-off container of their writer first, then the emptied folder.
   */
  down(): Promise<void> {
    return serialized(this.project, async () => {
      const writer = existsSync(this.file) ? tokenWriterOf(parse(readFileSync(this.file, 'utf8'))) : undefined;
      if (writer !== undefined) {
        await this.#compose(
          ['-f', this.file, 'run', '--rm', '--no-deps', '-T', '--entrypoint', '/bin/sh', writer.service, '-c', `rm -rf ${writer.target}/*`],
          `run ${writer.service} (removing the tokens)`,
        );
      }
      await this.#compose(['down', '--volumes', '--remove-orphans'], 'down');
      rmSync(this.file, { force: true });
      const folder = path.join(this.dir, SECRETS_FOLDER);
      try {
        rmSync(folder, { recursive: true, force: true });
      } catch (err) {
        throw new ErrEdgeXCompose({ project: this.project, command: `rm -r ${folder}`, reason: (err as Error).message }, { cause: err });
      }
    });
  }
}

/**
 * Whether every planned service runs (a one-shot one may have exited 0),
 * and the states as one line: `core-data running, ui restarting`.
 */
export function summarize(states: readonly ServiceState[], planned: readonly { name: string; oneShot?: boolean | undefined }[]): { ok: boolean; text: string } {
  const by = new Map(states.map((s) => [s.service, s]));
  const parts: string[] = [];
  let ok = true;
  for (const p of planned) {
    const s = by.get(p.name);
    if (s === undefined) {
      ok = false;
      parts.push(`${p.name} not created`);
      continue;
    }
    const fine = s.state === 'running' || (p.oneShot === true && s.state === 'exited' && s.exitCode === 0);
    if (!fine) ok = false;
    parts.push(`${p.name} ${s.state}${s.state === 'exited' ? ` (${s.exitCode})` : ''}`);
  }
  return { ok, text: parts.join(', ') };
}
