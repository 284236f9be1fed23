/**
 * The site agent's storage health: which of its stores (the outbox, the
 * replica, the broker's sessions) could not write, why, and since when. A
 * full or failing disk makes the agent degraded, never dead: each store
 * reports its failures here and its next successful write clears them, so
 * the agent recovers by itself when space returns. The agent shows the
 * problems in its status and reports them to the hub (`edgeadm status`, the
 * console).
 */
import { compareNames } from '../core/kernel/index.ts';

/** A store that failed to write, with the cause. */
export interface StorageProblem {
  component: string;
  /** The cause's code: `SQLITE_FULL`, `ENOSPC`, `SQLITE_IOERR_WRITE`, ... */
  code: string;
  message: string;
  /** RFC 3339: when the store first failed (it has not written since). */
  since: string;
  /** Writes refused since then. */
  failures: number;
}

/**
 * Codes that mean the storage itself failed (full, read-only, I/O error),
 * as opposed to a bug or bad input: better-sqlite3's SqliteError codes
 * (extended codes start with the primary one) and Node's errno codes.
 */
const STORAGE_CODES = ['SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_READONLY', 'SQLITE_CANTOPEN', 'SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_PROTOCOL'];
const ERRNO_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EACCES', 'EPERM', 'ENOENT', 'ENOTDIR', 'EMFILE', 'ENFILE']);

/** The storage failure code of `err` (or of a cause in its chain), when it is one. */
export function storageErrorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 5 && e instanceof Error; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (STORAGE_CODES.some((c) => code === c || code.startsWith(`${c}_`))) return code;
      if (ERRNO_CODES.has(code)) return code;
    }
    e = e.cause;
  }
  return undefined;
}

export class StorageHealth {
  readonly #problems = new Map<string, StorageProblem>();
  readonly #listeners = new Set<() => void>();
  readonly #now: () => number;

  constructor(opts: { now?: () => number } = {}) {
    this.#now = opts.now ?? Date.now;
  }

  /** Records a failed write of `component`; returns the problem as it now stands. */
  failed(component: string, err: unknown): StorageProblem {
    const own = err instanceof Error ? (err as { code?: unknown }).code : undefined;
    const code = storageErrorCode(err) ?? (typeof own === 'string' ? own : 'UNKNOWN');
    const message = err instanceof Error ? err.message : String(err);
    const cur = this.#problems.get(component);
    if (cur && cur.code === code) {
      cur.failures++;
      cur.message = message;
      return cur;
    }
    const p: StorageProblem = { component, code, message, since: cur?.since ?? new Date(this.#now()).toISOString(), failures: (cur?.failures ?? 0) + 1 };
    this.#problems.set(component, p);
    this.#emit();
    return p;
  }

  /** `component` wrote successfully: its problem, if any, is over. */
  ok(component: string): void {
    if (this.#problems.delete(component)) this.#emit();
  }

  problems(): StorageProblem[] {
    return [...this.#problems.values()].map((p) => ({ ...p })).sort((a, b) => compareNames(a.component, b.component));
  }

  degraded(): boolean {
    return this.#problems.size > 0;
  }

  /** Called when a store starts or stops failing. */
  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #emit(): void {
    for (const fn of [...this.#listeners]) fn();
  }
}
