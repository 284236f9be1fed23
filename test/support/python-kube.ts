/**
 * The official Kubernetes Python client as a test peer: `startPythonWatch`
 * runs `python_kube_watch.py` (a list and a watch of one namespaced core/v1
 * resource through kubernetes.watch.Watch) with Debian's python3-kubernetes
 * and gives its output lines as they come; `pythonKubernetesAvailable` says
 * whether that library is there. A real third-party client for the
 * Kubernetes API test server and for what is tested against it.
 *
 * Rules: the interpreter is /usr/bin/python3 (Debian installs the library
 * for it, not for a pyenv `python3` first on PATH), run with PYTHONPATH and
 * PYTHONHOME removed, so it imports Debian's dist-packages; TLS is verified
 * against the kubeconfig's CA by the library itself; every line the script
 * prints is one JSON object (PythonWatchLine) and is kept in `events`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/** The interpreter Debian's python3-kubernetes is installed for. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** The watch script run by `startPythonWatch`. */
export const PYTHON_WATCH_SCRIPT = path.join(import.meta.dirname, 'python_kube_watch.py');

/** The script's exit code for an ApiException (a 410 ERROR event included). */
export const EXIT_API_EXCEPTION = 3;
/** The script's exit code for any other failure (connection, TLS, a refused model). */
export const EXIT_OTHER_FAILURE = 4;

/** One watch event as the script prints it (from the event's raw object). */
export interface PythonWatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  name: string | null;
  resourceVersion: string | null;
  labels: Record<string, string>;
}

/** One line of the script's output. */
export type PythonWatchLine =
  | PythonWatchEvent
  /** --list-first: the list's resourceVersion (where the watch starts) and names. */
  | { type: 'LIST'; resourceVersion: string | null; names: (string | null)[] }
  /** The last line before a failure: `status` is the ApiException's HTTP code, null for other failures. */
  | { type: 'EXCEPTION'; status: number | null; reason: string };

export interface PythonWatchOptions {
  kubeconfig: string;
  namespace: string;
  /** A namespaced core/v1 resource (plural): configmaps, pods, secrets, services, ... */
  resource: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Watch from this resourceVersion; not with `listFirst`. */
  resourceVersion?: string;
  /** The watch's timeoutSeconds: the server ends it then and the script exits 0 (no re-watch). */
  timeoutSeconds?: number;
  /** List first (a LIST line), then watch from the list's resourceVersion. */
  listFirst?: boolean;
  /** Read plain JSON instead of the library's typed models (which refuse, e.g., a pod without containers). */
  untyped?: boolean;
  /** The interpreter (default /usr/bin/python3). */
  python?: string;
}

/** A running watch. */
export interface PythonWatch {
  /** Every line received so far, in order (a live array: it grows). */
  readonly events: readonly PythonWatchLine[];
  /** What the script wrote on stderr so far. */
  readonly stderr: string;
  /**
   * The first line, received so far or later, that `predicate` accepts;
   * rejects after `timeoutMs` (default 10 s) or when the script exits
   * without one, with the lines and stderr so far in the message.
   */
  waitFor(predicate: (line: PythonWatchLine) => boolean, timeoutMs?: number): Promise<PythonWatchLine>;
  /** Ends the script (SIGTERM, then SIGKILL after 3 s) and waits for it. Idempotent. */
  stop(): Promise<void>;
  /** The script's exit code; null when it was ended by a signal. */
  readonly exited: Promise<number | null>;
}

let available: boolean | undefined;

/** Whether /usr/bin/python3 imports `kubernetes` (Debian's python3-kubernetes); checked once. */
export function pythonKubernetesAvailable(): boolean {
  if (available === undefined) {
    available =
      existsSync(SYSTEM_PYTHON) && spawnSync(SYSTEM_PYTHON, ['-c', 'import kubernetes'], { stdio: 'ignore', timeout: 30_000, env: pythonEnv() }).status === 0;
  }
  return available;
}

/** The environment for the system interpreter: without a pyenv's or virtualenv's paths. */
function pythonEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.PYTHONPATH;
  delete env.PYTHONHOME;
  delete env.VIRTUAL_ENV;
  return env;
}

function scriptArgs(o: PythonWatchOptions): string[] {
  const args = [PYTHON_WATCH_SCRIPT, '--kubeconfig', o.kubeconfig, '--namespace', o.namespace, '--resource', o.resource];
  if (o.labelSelector !== undefined) args.push('--label-selector', o.labelSelector);
  if (o.fieldSelector !== undefined) args.push('--field-selector', o.fieldSelector);
  if (o.resourceVersion !== undefined) args.push('--resource-version', o.resourceVersion);
  if (o.timeoutSeconds !== undefined) args.push('--timeout-seconds', String(o.timeoutSeconds));
  if (o.listFirst === true) args.push('--list-first');
  if (o.untyped === true) args.push('--untyped');
  return args;
}

function isLine(v: unknown): v is PythonWatchLine {
  return typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string';
}

/** Starts the watch script; read its lines from `events` or with `waitFor`, end it with `stop`. */
export function startPythonWatch(opts: PythonWatchOptions): PythonWatch {
  const child = spawn(opts.python ?? SYSTEM_PYTHON, scriptArgs(opts), { stdio: ['ignore', 'pipe', 'pipe'], env: pythonEnv() });
  const events: PythonWatchLine[] = [];
  const listeners = new Set<() => void>();
  let stderr = '';
  let buf = '';
  let done = false;
  const notify = (): void => {
    for (const l of [...listeners]) l();
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (text === '') continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      // The script prints only JSON lines; anything else is kept as a failure the tests see.
      events.push(isLine(parsed) ? parsed : { type: 'EXCEPTION', status: null, reason: `not a JSON line from ${PYTHON_WATCH_SCRIPT}: ${text}` });
    }
    notify();
  });
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (err) => {
      stderr += `\ncould not run ${opts.python ?? SYSTEM_PYTHON}: ${err.message}`;
      done = true;
      notify();
      resolve(null);
    });
    child.once('close', (code) => {
      done = true;
      notify();
      resolve(code);
    });
  });
  const describe = (): string => `lines so far: ${JSON.stringify(events)}; stderr: ${stderr.trim() === '' ? '(none)' : stderr.trim()}`;

  let stopped: Promise<void> | undefined;
  return {
    events,
    get stderr() {
      return stderr;
    },
    exited,
    waitFor(predicate, timeoutMs = 10_000) {
      return new Promise<PythonWatchLine>((resolve, reject) => {
        const check = (): void => {
          const hit = events.find(predicate);
          if (hit === undefined && !done) return;
          listeners.delete(check);
          clearTimeout(timer);
          if (hit !== undefined) resolve(hit);
          else reject(new Error(`python watch exited (code ${String(child.exitCode)}, signal ${String(child.signalCode)}) with no line matching; ${describe()}`));
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no matching line from the python watch within ${timeoutMs} ms; ${describe()}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    stop() {
      stopped ??= (async () => {
        if (!done && child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
          await exited;
          clearTimeout(kill);
        }
        await exited;
      })();
      return stopped;
    },
  };
}
