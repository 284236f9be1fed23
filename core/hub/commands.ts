/**
 * The hub's command queue: writes to device resources waiting to go down to
 * their site, and live reads (read the device now), kept in a SQLite file
 * (better-sqlite3, WAL) so a hub restart loses none. A command is pending
 * until the site's sync channel delivers it, then succeeded or failed when
 * the agent reports back; one not finished by its deadline is expired.
 * `onEnqueue` lets the sync channel push a new command at once instead of
 * polling; `onFinish` lets a request wait for a result.
 */
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { ensurePrivateFile, promised, type Logger } from '../kernel/index.ts';
import type { SiteCommand } from '../store/index.ts';
import { ErrCommandNotFound, ErrCommandState, ErrStoreClosed } from './errors.ts';

import { COMMAND_KINDS, COMMAND_STATES } from '../store/index.ts';

export { COMMAND_KINDS, COMMAND_STATES };
export type CommandState = (typeof COMMAND_STATES)[number];
export type CommandKind = (typeof COMMAND_KINDS)[number];

export interface CommandResult {
  /** The value the device reported after the write, if any; for a read, the samples it read. */
  reported?: unknown;
  /** Set when the write (or read) failed; the command becomes `failed`. */
  error?: { code: string; message: string };
}

interface CommandCommon {
  id: string;
  site: string;
  device: string;
  /** RFC 3339. */
  createdAt: string;
  expiresAt: string;
  state: CommandState;
  result?: CommandResult;
}

/** A value to write to a device resource. */
export interface WriteCommand extends CommandCommon {
  kind: 'write';
  resource: string;
  value: unknown;
}

/** A read of the device now: deviceResources or deviceCommands by name (none: every readable resource). */
export interface ReadCommand extends CommandCommon {
  kind: 'read';
  resources: string[];
}

export type Command = WriteCommand | ReadCommand;

/** A command as the sync session sends it to its site (a write without `kind`, as every agent reads it). */
export function siteCommandOf(c: Command): SiteCommand {
  return c.kind === 'read'
    ? { id: c.id, device: c.device, kind: 'read', resources: c.resources, expiresAt: c.expiresAt }
    : { id: c.id, device: c.device, resource: c.resource, value: c.value, expiresAt: c.expiresAt };
}

export type EnqueueOptions = {
  site: string;
  device: string;
  /** Default 3600. */
  ttlSeconds?: number;
} & ({ kind?: 'write'; resource: string; value: unknown } | { kind: 'read'; resources: readonly string[] });

export interface CommandFilter {
  site?: string;
  device?: string;
  state?: CommandState;
  /** Default 1000, at most 10 000. */
  limit?: number;
}

export type CommandListener = (command: Command) => void;

/**
 * Where commands live: a SQLite file (`openCommandQueue`, one hub) or
 * Command custom resources in the hub's Kubernetes namespace
 * (`openKubeCommandQueue`, every replica shares them and hears the others'
 * enqueues and results).
 */
export interface CommandQueue {
  enqueue(opts: EnqueueOptions): Promise<Command>;
  get(id: string): Promise<Command | undefined>;
  /** Oldest first. */
  list(filter?: CommandFilter): Promise<Command[]>;
  /** The site's pending commands, oldest first; overdue ones are marked expired first and left out. */
  pending(site: string): Promise<Command[]>;
  /** pending -> delivered; idempotent for a delivered command. */
  markDelivered(id: string): Promise<Command>;
  /** pending | delivered -> succeeded (or failed when `result.error` is set). */
  complete(id: string, result: CommandResult): Promise<Command>;
  /** Called after each committed enqueue (on any replica); returns the unsubscribe function. */
  onEnqueue(listener: CommandListener): () => void;
  /** Called after each command that became succeeded or failed (on any replica); returns the unsubscribe function. */
  onFinish(listener: CommandListener): () => void;
  close(): Promise<void>;
}

export interface CommandQueueOptions {
  /** SQLite file, or `:memory:`. */
  file: string;
  /** Where a throwing onEnqueue listener is reported. */
  logger?: Logger;
  /** Clock (ms since epoch), for tests. */
  now?: () => number;
  /** Finished commands are kept this long after their deadline. Default DEFAULT_COMMAND_RETENTION_SECONDS. */
  retentionSeconds?: number;
}

export const DEFAULT_COMMAND_TTL_SECONDS = 3600;
/** Finished (succeeded, failed, expired) commands are deleted this long after their deadline: 7 days. */
export const DEFAULT_COMMAND_RETENTION_SECONDS = 7 * 24 * 3600;
/** How long a live read waits for its site when the caller says nothing. */
export const DEFAULT_READ_TIMEOUT_MS = 10_000;
/** The most commands a list returns. */
export const MAX_LIST = 10_000;

/** A command's row, as the SQLite and PostgreSQL queues keep it. */
export interface CommandRow {
  id: string;
  site: string;
  device: string;
  kind: CommandKind;
  /** Empty for a read. */
  resource: string;
  /** JSON: the value to write; for a read, the names to read. */
  value: string;
  created_at: number;
  expires_at: number;
  state: CommandState;
  result: string | null;
}

export function toCommand(r: CommandRow): Command {
  const common: CommandCommon = {
    id: r.id,
    site: r.site,
    device: r.device,
    createdAt: new Date(r.created_at).toISOString(),
    expiresAt: new Date(r.expires_at).toISOString(),
    state: r.state,
  };
  if (r.result !== null) common.result = JSON.parse(r.result) as CommandResult;
  return r.kind === 'read'
    ? { ...common, kind: 'read', resources: JSON.parse(r.value) as string[] }
    : { ...common, kind: 'write', resource: r.resource, value: JSON.parse(r.value) as unknown };
}

/** Calls each listener with the command; a listener's throw is logged, not passed on. */
export function notifyCommand(listeners: ReadonlySet<CommandListener>, command: Command, logger: Logger | undefined): void {
  for (const l of [...listeners]) {
    try {
      l(command);
    } catch (err) {
      if (logger) logger.error({ err, command: command.id }, 'command listener failed');
      else process.emitWarning(`command listener failed for command ${command.id}: ${String(err)}`);
    }
  }
}

/** The SQLite queue's calls, synchronous (better-sqlite3); `openCommandQueue` hands them out as the async CommandQueue. */
type SyncCommandQueue = { [K in keyof CommandQueue]: CommandQueue[K] extends (...a: infer A) => Promise<infer R> ? (...a: A) => R : CommandQueue[K] };

/** Commands in a SQLite file (one hub): see the header. */
export function openCommandQueue(opts: CommandQueueOptions): CommandQueue {
  const q = openSqliteCommands(opts);
  return {
    enqueue: promised(q.enqueue),
    get: promised(q.get),
    list: promised(q.list),
    pending: promised(q.pending),
    markDelivered: promised(q.markDelivered),
    complete: promised(q.complete),
    onEnqueue: q.onEnqueue,
    onFinish: q.onFinish,
    close: promised(q.close),
  };
}

function openSqliteCommands(opts: CommandQueueOptions): SyncCommandQueue {
  const now = opts.now ?? Date.now;
  ensurePrivateFile(opts.file);
  const db = new Database(opts.file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`
    CREATE TABLE IF NOT EXISTS commands (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL UNIQUE,
      site TEXT NOT NULL,
      device TEXT NOT NULL,
      resource TEXT NOT NULL,
      value TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'succeeded', 'failed', 'expired')),
      result TEXT,
      kind TEXT NOT NULL DEFAULT 'write' CHECK (kind IN ('write', 'read'))
    ) STRICT;
    CREATE INDEX IF NOT EXISTS commands_site_state ON commands (site, state, seq);
    CREATE INDEX IF NOT EXISTS commands_open_expiry ON commands (expires_at) WHERE state IN ('pending', 'delivered');
  `);
  // A file from before reads: every command in it is a write.
  if (!db.prepare<[], { name: string }>('PRAGMA table_info(commands)').all().some((c) => c.name === 'kind')) {
    db.exec(`ALTER TABLE commands ADD COLUMN kind TEXT NOT NULL DEFAULT 'write' CHECK (kind IN ('write', 'read'))`);
  }
  const insert = db.prepare<[string, string, string, CommandKind, string, string, number, number]>(
    `INSERT INTO commands (id, site, device, kind, resource, value, created_at, expires_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')`,
  );
  const selectOne = db.prepare<[string], CommandRow>('SELECT * FROM commands WHERE id = ?');
  const selectPending = db.prepare<[string], CommandRow>(`SELECT * FROM commands WHERE site = ? AND state = 'pending' ORDER BY seq`);
  const expire = db.prepare<[number]>(`UPDATE commands SET state = 'expired' WHERE state IN ('pending', 'delivered') AND expires_at <= ?`);
  const purge = db.prepare<[number]>(`DELETE FROM commands WHERE state IN ('succeeded', 'failed', 'expired') AND expires_at <= ?`);
  const setState = db.prepare<[CommandState, string | null, string]>('UPDATE commands SET state = ?, result = ? WHERE id = ?');
  const listeners = new Set<CommandListener>();
  const finishListeners = new Set<CommandListener>();
  let closed = false;

  const open = (): void => {
    if (closed) throw new ErrStoreClosed({ store: 'command' });
  };
  const retentionMs = (opts.retentionSeconds ?? DEFAULT_COMMAND_RETENTION_SECONDS) * 1000;
  let swept = 0;
  const expireOverdue = (): void => {
    const t = now();
    expire.run(t);
    // At most once a minute (or when the clock moved back): old finished commands go.
    if (t - swept >= 60_000 || t < swept) {
      swept = t;
      purge.run(t - retentionMs);
    }
  };
  const mustGet = (id: string): CommandRow => {
    const row = selectOne.get(id);
    if (!row) throw new ErrCommandNotFound({ id });
    return row;
  };

  return {
    enqueue(o) {
      open();
      if (o.kind !== 'read' && o.value === undefined) throw new TypeError('command value must not be undefined');
      const id = randomUUID();
      const createdAt = now();
      const expiresAt = createdAt + (o.ttlSeconds ?? DEFAULT_COMMAND_TTL_SECONDS) * 1000;
      if (o.kind === 'read') insert.run(id, o.site, o.device, 'read', '', JSON.stringify(o.resources), createdAt, expiresAt);
      else insert.run(id, o.site, o.device, 'write', o.resource, JSON.stringify(o.value), createdAt, expiresAt);
      const command = toCommand(mustGet(id));
      notifyCommand(listeners, command, opts.logger);
      return command;
    },
    get(id) {
      open();
      expireOverdue();
      const row = selectOne.get(id);
      return row && toCommand(row);
    },
    list(f = {}) {
      open();
      expireOverdue();
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (f.site !== undefined) {
        where.push('site = ?');
        args.push(f.site);
      }
      if (f.device !== undefined) {
        where.push('device = ?');
        args.push(f.device);
      }
      if (f.state !== undefined) {
        where.push('state = ?');
        args.push(f.state);
      }
      const limit = Math.min(Math.max(1, f.limit ?? 1000), MAX_LIST);
      const sql = `SELECT * FROM commands ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ${limit}`;
      return db.prepare<(string | number)[], CommandRow>(sql).all(...args).map(toCommand);
    },
    pending(site) {
      open();
      expireOverdue();
      return selectPending.all(site).map(toCommand);
    },
    markDelivered(id) {
      open();
      expireOverdue();
      const row = mustGet(id);
      if (row.state === 'delivered') return toCommand(row);
      if (row.state !== 'pending') throw new ErrCommandState({ id, state: row.state, action: 'deliver' });
      setState.run('delivered', null, id);
      return toCommand(mustGet(id));
    },
    complete(id, result) {
      open();
      expireOverdue();
      const row = mustGet(id);
      if (row.state !== 'pending' && row.state !== 'delivered') throw new ErrCommandState({ id, state: row.state, action: 'complete' });
      const stored: CommandResult = {};
      if (result.reported !== undefined) stored.reported = result.reported;
      if (result.error !== undefined) stored.error = { code: result.error.code, message: result.error.message };
      setState.run(result.error === undefined ? 'succeeded' : 'failed', JSON.stringify(stored), id);
      const done = toCommand(mustGet(id));
      notifyCommand(finishListeners, done, opts.logger);
      return done;
    },
    onEnqueue(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    onFinish(listener) {
      finishListeners.add(listener);
      return () => {
        finishListeners.delete(listener);
      };
    },
    close() {
      if (closed) return;
      closed = true;
      listeners.clear();
      finishListeners.clear();
      db.close();
    },
  };
}
