/**
 * The hub's command queue in PostgreSQL, so every hub replica on the
 * database delivers and completes every command: a write requested through
 * one replica goes down the sync session another replica holds, and its
 * result reaches the request waiting on the first. The rows are the SQLite
 * queue's (commands.ts).
 *
 * Rules:
 * - Reads go to the database (read-your-writes on every replica), in
 *   enqueue order (a sequence).
 * - State changes are single conditional updates (`... WHERE state IN
 *   (...) RETURNING`): of two replicas delivering or completing one command,
 *   one wins and the other sees the new state (delivering twice is
 *   idempotent, completing a finished command is
 *   EDGE_ERR_HUB_COMMAND_STATE, as in SQLite).
 * - Overdue pending or delivered commands are marked expired before each
 *   read; finished ones go `retentionSeconds` after their deadline (looked
 *   at once a minute per replica).
 * - Every enqueue and finish is announced (NOTIFY `edgeadm_commands`, in
 *   the changing statement's transaction, so only once it holds): another
 *   replica's `onEnqueue` and `onFinish` fire for it, each once; this
 *   replica's fire when it makes the change. A replica whose listening
 *   connection was lost meanwhile misses the announcement; the sync
 *   session's own look at `pending` picks the command up.
 * - Migrations are versioned (`edgeadm_commands_schema`) and applied at open.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from '../kernel/index.ts';
import { engineReason, openPostgres } from '../postgres/index.ts';
import {
  DEFAULT_COMMAND_RETENTION_SECONDS,
  DEFAULT_COMMAND_TTL_SECONDS,
  MAX_LIST,
  notifyCommand,
  toCommand,
  type CommandListener,
  type CommandQueue,
  type CommandResult,
  type CommandRow,
} from './commands.ts';
import { ErrCommandNotFound, ErrCommandState, ErrStateBackend, ErrStoreClosed } from './errors.ts';

export interface PostgresCommandQueueOptions {
  /** postgres://user:password@host:port/database (a secret: never logged). */
  url: string;
  /** Connections of this replica (default 5). */
  poolSize?: number;
  /** Where a throwing listener is reported. */
  logger?: Logger;
  /** Clock (ms since epoch), for tests. */
  now?: () => number;
  /** Finished commands are kept this long after their deadline. Default DEFAULT_COMMAND_RETENTION_SECONDS. */
  retentionSeconds?: number;
}

const CHANNEL = 'edgeadm_commands';
const SCHEMA = {
  table: 'edgeadm_commands_schema',
  lock: 727_102,
  migrations: [
    `
    CREATE TABLE edgeadm_commands (
      seq BIGSERIAL PRIMARY KEY,
      id TEXT NOT NULL UNIQUE,
      site TEXT NOT NULL,
      device TEXT NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('write', 'read')),
      resource TEXT NOT NULL,
      value TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      expires_at BIGINT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'succeeded', 'failed', 'expired')),
      result TEXT
    );
    CREATE INDEX edgeadm_commands_site_state ON edgeadm_commands (site, state, seq);
    CREATE INDEX edgeadm_commands_open_expiry ON edgeadm_commands (expires_at) WHERE state IN ('pending', 'delivered');
    `,
  ],
} as const;

const COLUMNS = 'id, site, device, kind, resource, value, created_at, expires_at, state, result';
const fail = (what: string, err: unknown): Error => new ErrStateBackend({ store: 'command', what, reason: engineReason(err) }, { cause: err });

/** Opens the queue: connects, migrates, listens for the other replicas' enqueues and results. */
export async function openPostgresCommandQueue(opts: PostgresCommandQueueOptions): Promise<CommandQueue> {
  const now = opts.now ?? Date.now;
  const log = opts.logger;
  const db = openPostgres({ url: opts.url, poolSize: opts.poolSize ?? 5, fail, ...(log ? { logger: log.child({ component: 'command-queue', driver: 'postgres' }) } : {}) });
  try {
    await db.migrate(SCHEMA, 'migrating the schema');
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  const { sql, tx } = db;
  const instance = randomUUID();
  const enqueueListeners = new Set<CommandListener>();
  const finishListeners = new Set<CommandListener>();
  let closed = false;
  const open = (): void => {
    if (closed) throw new ErrStoreClosed({ store: 'command' });
  };
  const one = async (id: string): Promise<CommandRow | undefined> => (await sql<CommandRow>('reading a command', `SELECT ${COLUMNS} FROM edgeadm_commands WHERE id = $1`, [id])).rows[0];

  await db
    .listen(CHANNEL, (payload) => {
      const [from, kind, id] = payload.split(' ');
      if (from === instance || id === undefined || (kind !== 'enqueued' && kind !== 'finished')) return;
      const listeners = kind === 'enqueued' ? enqueueListeners : finishListeners;
      if (listeners.size === 0) return;
      one(id)
        .then((row) => {
          if (row && !closed) notifyCommand(listeners, toCommand(row), log);
        })
        .catch((err: unknown) => log?.warn({ error: (err as Error).message, command: id }, "command queue: reading another replica's command failed"));
    })
    .catch((err: unknown) => log?.warn({ error: (err as Error).message }, 'command queue: not listening to the other replicas yet'));

  const retentionMs = (opts.retentionSeconds ?? DEFAULT_COMMAND_RETENTION_SECONDS) * 1000;
  let swept = 0;
  const expireOverdue = async (): Promise<void> => {
    const t = now();
    await sql('expiring overdue commands', `UPDATE edgeadm_commands SET state = 'expired' WHERE state IN ('pending', 'delivered') AND expires_at <= $1`, [t]);
    // At most once a minute (or when the clock moved back): old finished commands go.
    if (t - swept >= 60_000 || t < swept) {
      swept = t;
      await sql('sweeping finished commands', `DELETE FROM edgeadm_commands WHERE state IN ('succeeded', 'failed', 'expired') AND expires_at <= $1`, [t - retentionMs]);
    }
  };
  /** A change and its announcement in one transaction; the changed row, or undefined when the condition did not hold. */
  const change = async (what: string, kind: 'enqueued' | 'finished' | undefined, text: string, params: unknown[]): Promise<CommandRow | undefined> => {
    try {
      return await tx(what, async (c: pg.PoolClient) => {
        const row = (await c.query<CommandRow>(text, params)).rows[0];
        if (row && kind !== undefined) await c.query('SELECT pg_notify($1, $2)', [CHANNEL, `${instance} ${kind} ${row.id}`]);
        return row;
      });
    } catch (err) {
      throw ErrStateBackend.is(err) ? err : fail(what, err);
    }
  };

  return {
    async enqueue(o) {
      open();
      if (o.kind !== 'read' && o.value === undefined) throw new TypeError('command value must not be undefined');
      const createdAt = now();
      const expiresAt = createdAt + (o.ttlSeconds ?? DEFAULT_COMMAND_TTL_SECONDS) * 1000;
      const [kind, resource, value] = o.kind === 'read' ? ['read', '', JSON.stringify(o.resources)] : ['write', o.resource, JSON.stringify(o.value)];
      const row = await change(
        'enqueueing a command',
        'enqueued',
        `INSERT INTO edgeadm_commands (id, site, device, kind, resource, value, created_at, expires_at, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending') RETURNING ${COLUMNS}`,
        [randomUUID(), o.site, o.device, kind, resource, value, createdAt, expiresAt],
      );
      const command = toCommand(row!);
      notifyCommand(enqueueListeners, command, log);
      return command;
    },
    async get(id) {
      open();
      await expireOverdue();
      const row = await one(id);
      return row && toCommand(row);
    },
    async list(f = {}) {
      open();
      await expireOverdue();
      const where: string[] = [];
      const args: unknown[] = [];
      for (const [column, v] of [['site', f.site], ['device', f.device], ['state', f.state]] as const) {
        if (v === undefined) continue;
        args.push(v);
        where.push(`${column} = $${args.length}`);
      }
      const limit = Math.min(Math.max(1, f.limit ?? 1000), MAX_LIST);
      const r = await sql<CommandRow>('listing commands', `SELECT ${COLUMNS} FROM edgeadm_commands ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ${limit}`, args);
      return r.rows.map(toCommand);
    },
    async pending(site) {
      open();
      await expireOverdue();
      const r = await sql<CommandRow>('listing pending commands', `SELECT ${COLUMNS} FROM edgeadm_commands WHERE site = $1 AND state = 'pending' ORDER BY seq`, [site]);
      return r.rows.map(toCommand);
    },
    async markDelivered(id) {
      open();
      await expireOverdue();
      const row = await change('delivering a command', undefined, `UPDATE edgeadm_commands SET state = 'delivered' WHERE id = $1 AND state IN ('pending', 'delivered') RETURNING ${COLUMNS}`, [id]);
      if (row) return toCommand(row);
      const current = await one(id);
      if (!current) throw new ErrCommandNotFound({ id });
      throw new ErrCommandState({ id, state: current.state, action: 'deliver' });
    },
    async complete(id, result) {
      open();
      await expireOverdue();
      const stored: CommandResult = {};
      if (result.reported !== undefined) stored.reported = result.reported;
      if (result.error !== undefined) stored.error = { code: result.error.code, message: result.error.message };
      const row = await change(
        'completing a command',
        'finished',
        `UPDATE edgeadm_commands SET state = $2, result = $3 WHERE id = $1 AND state IN ('pending', 'delivered') RETURNING ${COLUMNS}`,
        [id, result.error === undefined ? 'succeeded' : 'failed', JSON.stringify(stored)],
      );
      if (!row) {
        const current = await one(id);
        if (!current) throw new ErrCommandNotFound({ id });
        throw new ErrCommandState({ id, state: current.state, action: 'complete' });
      }
      const done = toCommand(row);
      notifyCommand(finishListeners, done, log);
      return done;
    },
    onEnqueue(listener) {
      enqueueListeners.add(listener);
      return () => {
        enqueueListeners.delete(listener);
      };
    },
    onFinish(listener) {
      finishListeners.add(listener);
      return () => {
        finishListeners.delete(listener);
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      enqueueListeners.clear();
      finishListeners.clear();
      await db.close();
    },
  };
}
