/**
 * The hub's tokens, bootstrap tokens and console sessions in PostgreSQL, so
 * every hub replica on the database accepts every token and session and
 * sees every revocation. The rows are the SQLite store's (tokens.ts): only
 * SHA-256 hashes of secrets and cookies, never the values.
 *
 * Rules:
 * - Every call reads the database (read-your-writes across replicas); there
 *   is no cache to go stale.
 * - A node credential's revocation on any replica is announced to every
 *   replica (NOTIFY `edgeadm_tokens`, sent in the deleting transaction, so
 *   only once it holds): their `onNodeRevoked` listeners close the node's
 *   tunnels. A replica hears its own through its listeners at once, not
 *   twice. A replica whose listening connection was lost meanwhile misses
 *   the announcement; the node's next call is refused anyway (the row is
 *   gone).
 * - A bootstrap token's use is counted in the row (`uses = uses + 1`), so
 *   joins on several replicas at once all count.
 * - `lastUsedAt` is written at most every `lastUsedResolutionMs` per token
 *   and replica.
 * - Migrations are versioned (`edgeadm_tokens_schema`) and applied at open.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { BOOTSTRAP_TOKEN_RE, type Logger } from '../kernel/index.ts';
import { engineReason, openPostgres, sqlState } from '../postgres/index.ts';
import { ErrStateBackend, ErrStoreClosed } from './errors.ts';
import {
  checkCreate,
  checkCreateBootstrap,
  checkSession,
  newBootstrapSecret,
  newTokenSecret,
  randomId,
  SESSION_KEY_RE,
  sha256,
  TOKEN_RE,
  bootstrapInfo,
  toInfo,
  type BootstrapRow,
  type Principal,
  type Role,
  type TokenRow,
  type TokenStore,
} from './tokens.ts';

export interface PostgresTokenStoreOptions {
  /** postgres://user:password@host:port/database (a secret: never logged). */
  url: string;
  /** Connections of this replica (default 5). */
  poolSize?: number;
  logger?: Logger;
  /** Clock (ms since epoch), for tests. */
  now?: () => number;
  /** Default 60 000 (see the header). */
  lastUsedResolutionMs?: number;
}

const CHANNEL = 'edgeadm_tokens';
const SCHEMA = {
  table: 'edgeadm_tokens_schema',
  lock: 727_101,
  migrations: [
    `
    CREATE TABLE edgeadm_tokens (
      id TEXT PRIMARY KEY,
      secret_hash BYTEA NOT NULL,
      role TEXT NOT NULL CHECK (role IN ('admin', 'viewer', 'agent')),
      site TEXT,
      node TEXT,
      description TEXT NOT NULL DEFAULT '',
      created_at BIGINT NOT NULL,
      expires_at BIGINT,
      last_used_at BIGINT,
      CHECK ((role = 'agent') = (site IS NOT NULL))
    );
    CREATE INDEX edgeadm_tokens_by_node ON edgeadm_tokens (node) WHERE node IS NOT NULL;
    CREATE TABLE edgeadm_bootstrap_tokens (
      id TEXT PRIMARY KEY,
      secret_hash BYTEA NOT NULL,
      site TEXT,
      description TEXT NOT NULL DEFAULT '',
      created_at BIGINT NOT NULL,
      expires_at BIGINT NOT NULL,
      uses BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE edgeadm_console_sessions (
      key TEXT PRIMARY KEY,
      token_id TEXT NOT NULL REFERENCES edgeadm_tokens (id) ON DELETE CASCADE,
      role TEXT NOT NULL,
      csrf TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      expires_at BIGINT NOT NULL
    );
    CREATE INDEX edgeadm_console_sessions_by_token ON edgeadm_console_sessions (token_id);
    CREATE INDEX edgeadm_console_sessions_by_age ON edgeadm_console_sessions (created_at);
    `,
  ],
} as const;

const fail = (what: string, err: unknown): Error => new ErrStateBackend({ store: 'token', what, reason: engineReason(err) }, { cause: err });

/** Opens the store: connects, migrates, listens for the other replicas' node revocations. */
export async function openPostgresTokenStore(opts: PostgresTokenStoreOptions): Promise<TokenStore> {
  const now = opts.now ?? Date.now;
  const resolution = opts.lastUsedResolutionMs ?? 60_000;
  const log = opts.logger?.child({ component: 'token-store', driver: 'postgres' });
  const db = openPostgres({ url: opts.url, poolSize: opts.poolSize ?? 5, fail, ...(log ? { logger: log } : {}) });
  try {
    await db.migrate(SCHEMA, 'migrating the schema');
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  const { sql, tx } = db;
  const instance = randomUUID();
  const listeners = new Set<(node: string) => void>();
  const revoked = (node: string): void => {
    for (const l of [...listeners]) {
      try {
        l(node);
      } catch (err) {
        log?.error({ err, node }, 'node revocation listener failed');
      }
    }
  };
  await db
    .listen(CHANNEL, (payload) => {
      const [from, kind, node] = payload.split(' ');
      if (from !== instance && kind === 'node-revoked' && node !== undefined && node !== '') revoked(node);
    })
    .catch((err: unknown) => log?.warn({ error: (err as Error).message }, 'token store: not listening to the other replicas yet'));

  // Compared against when the id is unknown, so a miss costs what a hit costs.
  const dummyHash = sha256(newTokenSecret());
  const lastTouched = new Map<string, number>();
  let closed = false;
  const open = (): void => {
    if (closed) throw new ErrStoreClosed({ store: 'token' });
  };
  const one = async (id: string): Promise<TokenRow | undefined> => (await sql<TokenRow>('reading a token', 'SELECT * FROM edgeadm_tokens WHERE id = $1', [id])).rows[0];

  return {
    async create(o) {
      open();
      checkCreate(o);
      const secret = newTokenSecret();
      const createdAt = now();
      const expiresAt = o.ttlSeconds === undefined ? null : createdAt + o.ttlSeconds * 1000;
      for (;;) {
        const id = randomId();
        const r = await sql<TokenRow>(
          'creating a token',
          `INSERT INTO edgeadm_tokens (id, secret_hash, role, site, node, description, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (id) DO NOTHING RETURNING *`,
          [id, sha256(secret), o.role, o.site ?? null, o.node ?? null, o.description ?? '', createdAt, expiresAt],
        );
        if (r.rows[0] === undefined) continue;
        return { ...toInfo(r.rows[0]), token: `edgeadm_${id}_${secret}` };
      }
    },
    async list() {
      open();
      return (await sql<TokenRow>('listing tokens', 'SELECT * FROM edgeadm_tokens ORDER BY created_at, id')).rows.map(toInfo);
    },
    async get(id) {
      open();
      const row = await one(id);
      return row && toInfo(row);
    },
    async revoke(id) {
      open();
      lastTouched.delete(id);
      const node = await tx('revoking a token', async (c) => {
        const r = await c.query<{ node: string | null }>('DELETE FROM edgeadm_tokens WHERE id = $1 RETURNING node', [id]);
        const row = r.rows[0];
        if (row === undefined) return undefined;
        if (row.node !== null) await c.query('SELECT pg_notify($1, $2)', [CHANNEL, `${instance} node-revoked ${row.node}`]);
        return { node: row.node };
      }).catch((err: unknown) => {
        throw ErrStateBackend.is(err) ? err : fail('revoking a token', err);
      });
      if (node === undefined) return false;
      if (node.node !== null) revoked(node.node);
      return true;
    },
    async revokeNode(node) {
      open();
      const n = await tx('revoking a node\'s credentials', async (c) => {
        const r = await c.query('DELETE FROM edgeadm_tokens WHERE node = $1', [node]);
        await c.query('SELECT pg_notify($1, $2)', [CHANNEL, `${instance} node-revoked ${node}`]);
        return r.rowCount ?? 0;
      }).catch((err: unknown) => {
        throw ErrStateBackend.is(err) ? err : fail('revoking a node\'s credentials', err);
      });
      revoked(node);
      return n;
    },
    onNodeRevoked(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async verify(token) {
      open();
      const m = TOKEN_RE.exec(token);
      if (!m) return undefined;
      const [, id, secret] = m as unknown as [string, string, string];
      const row = await one(id);
      const matches = timingSafeEqual(sha256(secret), row ? row.secret_hash : dummyHash);
      if (!row || !matches) return undefined;
      const t = now();
      if (row.expires_at !== null && row.expires_at <= t) return undefined;
      const last = lastTouched.get(id) ?? row.last_used_at ?? 0;
      if (t - last >= resolution || row.last_used_at === null) {
        lastTouched.set(id, t);
        await sql('noting a token\'s use', 'UPDATE edgeadm_tokens SET last_used_at = GREATEST(COALESCE(last_used_at, 0), $1) WHERE id = $2', [t, id]);
      }
      const p: Principal = { tokenId: id, role: row.role };
      if (row.site !== null) p.site = row.site;
      if (row.node !== null) p.node = row.node;
      return p;
    },
    async createBootstrap(o) {
      open();
      const ttl = checkCreateBootstrap(o);
      const secret = newBootstrapSecret();
      const createdAt = now();
      for (;;) {
        const id = randomId(6);
        const r = await sql<BootstrapRow>(
          'creating a bootstrap token',
          `INSERT INTO edgeadm_bootstrap_tokens (id, secret_hash, site, description, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (id) DO NOTHING RETURNING *`,
          [id, sha256(secret), o.site ?? null, o.description ?? '', createdAt, createdAt + ttl * 1000],
        );
        if (r.rows[0] === undefined) continue;
        return { ...bootstrapInfo(r.rows[0]), token: `${id}.${secret}` };
      }
    },
    async listBootstrap() {
      open();
      return (await sql<BootstrapRow>('listing bootstrap tokens', 'SELECT * FROM edgeadm_bootstrap_tokens ORDER BY created_at, id')).rows.map(bootstrapInfo);
    },
    async revokeBootstrap(id) {
      open();
      return ((await sql('revoking a bootstrap token', 'DELETE FROM edgeadm_bootstrap_tokens WHERE id = $1', [id])).rowCount ?? 0) > 0;
    },
    async verifyBootstrap(token, consume = false) {
      open();
      const m = BOOTSTRAP_TOKEN_RE.exec(token);
      if (!m) return undefined;
      const [, id, secret] = m as unknown as [string, string, string];
      const row = (await sql<BootstrapRow>('reading a bootstrap token', 'SELECT * FROM edgeadm_bootstrap_tokens WHERE id = $1', [id])).rows[0];
      const matches = timingSafeEqual(sha256(secret), row ? row.secret_hash : dummyHash);
      if (!row || !matches || row.expires_at <= now()) return undefined;
      if (consume) {
        const used = await sql('counting a bootstrap token\'s use', 'UPDATE edgeadm_bootstrap_tokens SET uses = uses + 1 WHERE id = $1', [id]);
        // Revoked between the read and the count: no join.
        if ((used.rowCount ?? 0) === 0) return undefined;
      }
      return row.site === null ? { id } : { id, site: row.site };
    },
    async createSession(r, maxSessions) {
      open();
      checkSession(r);
      const t = now();
      await tx('keeping a console session', async (c) => {
        await c.query(
          `INSERT INTO edgeadm_console_sessions (key, token_id, role, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (key) DO UPDATE SET token_id = excluded.token_id, role = excluded.role, csrf = excluded.csrf, created_at = excluded.created_at, expires_at = excluded.expires_at`,
          [r.key, r.tokenId, r.role, r.csrf, t, r.expiresAt],
        );
        await c.query('DELETE FROM edgeadm_console_sessions WHERE expires_at <= $1', [t]);
        await c.query('DELETE FROM edgeadm_console_sessions WHERE key IN (SELECT key FROM edgeadm_console_sessions ORDER BY created_at DESC, key OFFSET $1)', [maxSessions]);
      }).catch((err: unknown) => {
        // The token went meanwhile (revoked on another replica): no session for it.
        if (sqlState(err) === '23503') throw fail('keeping a console session', new Error(`token ${r.tokenId} no longer exists`));
        throw ErrStateBackend.is(err) ? err : fail('keeping a console session', err);
      });
    },
    async session(key) {
      open();
      if (!SESSION_KEY_RE.test(key)) return undefined;
      const row = (
        await sql<{ key: string; token_id: string; role: Role; csrf: string; expires_at: number }>(
          'reading a console session',
          'SELECT key, token_id, role, csrf, expires_at FROM edgeadm_console_sessions WHERE key = $1 AND expires_at > $2',
          [key, now()],
        )
      ).rows[0];
      return row && { key: row.key, tokenId: row.token_id, role: row.role, csrf: row.csrf, expiresAt: row.expires_at };
    },
    async endSession(key) {
      open();
      return ((await sql('ending a console session', 'DELETE FROM edgeadm_console_sessions WHERE key = $1', [key])).rowCount ?? 0) > 0;
    },
    async close() {
      if (closed) return;
      closed = true;
      listeners.clear();
      await db.close();
    },
  };
}
