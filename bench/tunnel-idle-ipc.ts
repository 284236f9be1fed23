/**
 * Parent/child plumbing for bench/tunnel-idle.ts: children run as
 * `sh -c 'ulimit -n <hard> && exec node …'` (the soft descriptor limit raised
 * to the hard one) and answer requests over the Node IPC channel, one reply per
 * request, matched by id. A child that loses its parent exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createError } from '../core/kernel/index.ts';

export const ErrBenchChild = createError(
  'EDGE_ERR_BENCH_CHILD',
  (p: { child: string; reason: string }) => `benchmark child '${p.child}' failed: ${p.reason}`,
  { statusCode: 500 },
);

export const ErrBenchArgument = createError(
  'EDGE_ERR_BENCH_ARGUMENT',
  (p: { name: string; problem: string }) => `benchmark argument '${p.name}' ${p.problem}`,
  { statusCode: 400 },
);

/** The value after `--name` on this process's command line. */
export function argValue(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) throw new ErrBenchArgument({ name, problem: 'is missing' });
  return v;
}

export interface Request {
  id: number;
  op: string;
  [k: string]: unknown;
}

export interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  [k: string]: unknown;
}

/** The soft limit on open files of this process, from /proc/self/limits. */
export function openFilesLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === undefined || soft === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(soft);
}

/** Child side: tells the parent it is ready (reply id 0), with `info`. */
export function helloParent(info: Record<string, unknown>): void {
  process.send?.({ id: 0, ok: true, ...info });
}

/** Child side: answers each request with the handler's result (merged into the reply) or its error. */
export function serveParent(handlers: Record<string, (req: Request) => Promise<Record<string, unknown>>>): void {
  process.on('disconnect', () => process.exit(0));
  process.on('message', (msg: Request) => {
    const handler = handlers[msg.op];
    const reply = (r: Omit<Reply, 'id'>): void => void process.send?.({ id: msg.id, ...r });
    if (!handler) {
      reply({ ok: false, error: `unknown op '${msg.op}'` });
      return;
    }
    handler(msg).then(
      (result) => reply({ ok: true, ...result }),
      (err: unknown) => reply({ ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  });
}

export interface Child {
  name: string;
  /** The child's first message, sent when it is ready (id 0). */
  hello: Reply;
  request(op: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<Reply>;
  /** Asks the child to stop, then kills it if it has not exited within a second. */
  stop(): Promise<void>;
  kill(): void;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts `node [nodeArgs] --import tsx bench/<script> [args]` with the descriptor limit raised as far as allowed. */
export async function startChild(name: string, script: string, args: string[], nodeArgs: string[] = []): Promise<Child> {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  const root = path.resolve(import.meta.dirname, '..');
  const cp = spawn(
    'sh',
    ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$0" "$@"', process.execPath, ...nodeArgs, '--import', 'tsx', path.join('bench', script), ...args],
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  live.add(cp);
  const exited = new Promise<void>((resolve) => cp.once('exit', () => resolve()));
  void exited.then(() => live.delete(cp));
  let nextId = 1;
  const pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  cp.on('message', (r: Reply) => {
    const p = pending.get(r.id);
    if (!p) return;
    pending.delete(r.id);
    if (r.ok) p.resolve(r);
    else p.reject(new ErrBenchChild({ child: name, reason: r.error ?? 'no reason given' }));
  });
  cp.once('exit', (code, signal) => {
    for (const p of pending.values()) p.reject(new ErrBenchChild({ child: name, reason: `exited (${signal ?? code})` }));
    pending.clear();
  });
  // The child's first message (id 0) says it is ready.
  const hello = await new Promise<Reply>((resolve, reject) => pending.set(0, { resolve, reject }));
  return {
    name,
    hello,
    request(op, a = {}, timeoutMs = 60_000) {
      if (cp.exitCode !== null || cp.signalCode !== null) return Promise.reject(new ErrBenchChild({ child: name, reason: 'not running' }));
      const id = nextId++;
      return new Promise<Reply>((resolve, reject) => {
        const t = setTimeout(() => {
          pending.delete(id);
          reject(new ErrBenchChild({ child: name, reason: `no answer to '${op}' within ${timeoutMs} ms` }));
        }, timeoutMs);
        pending.set(id, {
          resolve: (r) => (clearTimeout(t), resolve(r)),
          reject: (e) => (clearTimeout(t), reject(e)),
        });
        cp.send({ id, op, ...a });
      });
    },
    async stop() {
      if (cp.exitCode !== null || cp.signalCode !== null) return;
      if (cp.connected) cp.disconnect();
      const t = setTimeout(() => cp.kill('SIGKILL'), 1000);
      await exited;
      clearTimeout(t);
    },
    kill() {
      cp.kill('SIGKILL');
    },
  };
}
