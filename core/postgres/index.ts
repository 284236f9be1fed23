/**
 * PostgreSQL as the hub's engine for what replicas share (telemetry, tokens,
 * commands, console sessions): one pool per store, each engine failure
 * turned into the store's own coded error (with PostgreSQL's words and no
 * URL), schema migrations applied at open under an advisory lock (replicas
 * starting together migrate once), and a LISTEN connection that comes back
 * when it is lost. Only the hub's PostgreSQL drivers import this (lazily):
 * a site agent never loads `pg`.
 */
import pg from 'pg';
import { createLogger, isEdgeError, type Logger } from '../kernel/index.ts';

export interface PostgresOptions {
  /** postgres://user:password@host:port/database (a secret: never logged). */
  url: string;
  /** Connections of this replica (default 10). */
  poolSize?: number;
  /** Turns an engine failure of `what` into the store's coded error. */
  fail: (what: string, err: unknown) => Error;
  logger?: Logger;
}

/** One store's schema: its version table, its advisory lock key, and migration N at index N - 1. */
export interface Schema {
  table: string;
  lock: number;
  migrations: readonly string[];
}

export interface Postgres {
  readonly pool: pg.Pool;
  /** One statement; failures as the store's error. */
  sql: <R extends pg.QueryResultRow>(what: string, text: string, params?: unknown[]) => Promise<pg.QueryResult<R>>;
  /** A transaction on one connection (BEGIN ... COMMIT, rolled back on a throw); connection failures as the store's error. */
  tx: <T>(what: string, fn: (c: pg.PoolClient) => Promise<T>) => Promise<T>;
  /** Applies the schema's missing migrations; refuses a database with a newer schema than this program knows. */
  migrate: (schema: Schema, what: string) => Promise<void>;
  /** Calls `onPayload` with every notification on `channel`, listening again a second after the connection is lost (notifications meanwhile are missed). */
  listen: (channel: string, onPayload: (payload: string) => void) => Promise<void>;
  close: () => Promise<void>;
}

/** pg's own text parser of a type. */
const textParser = (oid: number): ((v: string) => unknown) => pg.types.getTypeParser(oid, 'text') as (v: string) => unknown;

/** The engine's words for a failure: SQLSTATE and message, never the connection string. */
export function engineReason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return `${typeof e.code === 'string' ? `${e.code} ` : ''}${typeof e.message === 'string' ? e.message : String(err)}`;
}

/** SQLSTATE of a failure, if the engine gave one. */
export const sqlState = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
};

export function openPostgres(opts: PostgresOptions): Postgres {
  const log = opts.logger ?? createLogger({ level: 'silent' });
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize ?? 10,
    // BIGINT columns as numbers: counts, seqs and times in ms are safe integers; origins are read as float8.
    types: { getTypeParser: ((oid: number) => (oid === 20 ? (v: string): number => Number(v) : (v: string): unknown => textParser(oid)(v))) as pg.CustomTypesConfig['getTypeParser'] },
  });
  // A connection the server drops while idle is replaced; never an unhandled error.
  pool.on('error', (err) => log.warn({ error: err.message }, 'an idle PostgreSQL connection failed'));
  const listeners: pg.Client[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  const tx = async <T>(what: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    let c: pg.PoolClient;
    try {
      c = await pool.connect();
    } catch (err) {
      throw opts.fail(`${what}: connecting`, err);
    }
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  };

  const listen = async (channel: string, onPayload: (payload: string) => void): Promise<void> => {
    const again = (): void => {
      if (closed) return;
      const t = setTimeout(() => {
        timers.delete(t);
        void listen(channel, onPayload).catch(() => undefined);
      }, 1000);
      timers.add(t);
    };
    const c = new pg.Client({ connectionString: opts.url });
    c.on('notification', (n) => {
      if (n.channel === channel && n.payload !== undefined) onPayload(n.payload);
    });
    c.on('error', (err) => {
      log.warn({ error: err.message, channel }, 'the PostgreSQL listener failed; listening again');
      void c.end().catch(() => undefined);
      const i = listeners.indexOf(c);
      if (i >= 0) {
        listeners.splice(i, 1);
        again();
      }
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      if (closed) {
        await c.end().catch(() => undefined);
        return;
      }
      listeners.push(c);
    } catch (err) {
      await c.end().catch(() => undefined);
      again();
      throw opts.fail(`listening on ${channel}`, err);
    }
  };

  return {
    pool,
    sql: async <R extends pg.QueryResultRow>(what: string, text: string, params: unknown[] = []): Promise<pg.QueryResult<R>> => {
      try {
        return await pool.query<R>(text, params);
      } catch (err) {
        throw opts.fail(what, err);
      }
    },
    tx,
    migrate: async (schema, what) => {
      const target = schema.migrations.length;
      try {
        await tx(what, async (c) => {
          await c.query('SELECT pg_advisory_xact_lock($1)', [schema.lock]);
          await c.query(`CREATE TABLE IF NOT EXISTS ${pg.escapeIdentifier(schema.table)} (version INTEGER NOT NULL)`);
          const r = await c.query<{ version: number }>(`SELECT version FROM ${pg.escapeIdentifier(schema.table)}`);
          let version = r.rows[0]?.version ?? 0;
          if (version > target) throw new Error(`the database has schema version ${version} (${schema.table}); this edgeadm knows up to ${target}`);
          if (r.rows.length === 0) await c.query(`INSERT INTO ${pg.escapeIdentifier(schema.table)} (version) VALUES (0)`);
          while (version < target) {
            await c.query(schema.migrations[version]!);
            version++;
            await c.query(`UPDATE ${pg.escapeIdentifier(schema.table)} SET version = $1`, [version]);
            log.info({ schema: schema.table, version }, 'schema migrated');
          }
        });
      } catch (err) {
        throw isEdgeError(err) ? err : opts.fail(what, err);
      }
    },
    listen,
    close: async () => {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.all(listeners.splice(0).map((c) => c.end().catch(() => undefined)));
      await pool.end();
    },
  };
}
