/**
 * Bearer tokens for the hub API, kept in a SQLite file (better-sqlite3, WAL).
 * A token reads `edgeadm_<id>_<secret>`: the id (8 lowercase alphanumerics)
 * names the row, the secret (32 random bytes, base64url) is stored only as
 * its SHA-256 and compared in constant time. The secret is shown once, by
 * `create`. There are no built-in tokens: the first admin token is created by
 * whoever owns the file (`edgeadm init`).
 *
 * An agent token may also name a node: that is a node credential, issued by
 * `join` in exchange for a bootstrap token and accepted by tunnel-cloud.
 * Bootstrap tokens are kubeadm-style, `[a-z0-9]{6}.[a-z0-9]{16}` (id.secret),
 * always expire, and may be scoped to one site; they can do nothing but join.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { BOOTSTRAP_TOKEN_RE, ensurePrivateFile, promised } from '../kernel/index.ts';
import { dns1123LabelProblem } from '../store/index.ts';
import { ErrStoreClosed, ErrTokenInvalid } from './errors.ts';

export const ROLES = ['admin', 'viewer', 'agent'] as const;
export type Role = (typeof ROLES)[number];

/** Who a verified token speaks for. `site` is set exactly for agents; `node` for node credentials. */
export interface Principal {
  tokenId: string;
  role: Role;
  site?: string;
  node?: string;
}

/**
 * The telemetry producer a principal speaks for: its node (`node:<name>`)
 * for a node credential, else the token itself (`token:<id>`). Readings are
 * kept per producer, so no credential can write under another's seqs.
 */
export function producerOf(p: Principal): string {
  return p.node !== undefined ? `node:${p.node}` : `token:${p.tokenId}`;
}

/** A token as listed: everything but the secret. Times are RFC 3339. */
export interface TokenInfo {
  id: string;
  role: Role;
  site?: string;
  node?: string;
  description: string;
  createdAt: string;
  expiresAt?: string;
  lastUsedAt?: string;
}

export interface CreateTokenOptions {
  role: Role;
  /** Required for agents, refused for the other roles. */
  site?: string;
  /** Makes an agent token a node credential (tunnel-edge of this node). */
  node?: string;
  description?: string;
  /** Lifetime; omitted means the token does not expire. */
  ttlSeconds?: number;
}

export interface CreatedToken extends TokenInfo {
  /** The bearer token, `edgeadm_<id>_<secret>`. Shown only here. */
  token: string;
}

/** A bootstrap token as listed (no secret). */
export interface BootstrapTokenInfo {
  id: string;
  site?: string;
  description: string;
  createdAt: string;
  expiresAt: string;
  /** How many joins it was used for. */
  uses: number;
}

export interface CreatedBootstrapToken extends BootstrapTokenInfo {
  /** `<id>.<secret>`. Shown only here. */
  token: string;
}

export interface CreateBootstrapTokenOptions {
  /** Joins with this token may only join this site. */
  site?: string;
  description?: string;
  /** Lifetime; default 24 h (kubeadm's default), at most 30 days. */
  ttlSeconds?: number;
}

/**
 * A console login (a browser's session cookie standing in for a token), as
 * the token store keeps it: the cookie itself is never stored, only its
 * SHA-256 (`key`, hex). Kept with the tokens so that every replica knows
 * it, a hub restart keeps it, and revoking the token ends it.
 */
export interface SessionRecord {
  /** SHA-256 of the cookie's value, 64 hex digits. */
  key: string;
  tokenId: string;
  role: Role;
  /** The value requests that change something carry in `x-edgeadm-csrf`. */
  csrf: string;
  /** ms since epoch. */
  expiresAt: number;
}

export const SESSION_KEY_RE = /^[0-9a-f]{64}$/;

/**
 * Where tokens live: a SQLite file (`openTokenStore`, one hub), a
 * PostgreSQL database (`openPostgresTokenStore`) or Secrets in the hub's
 * Kubernetes namespace (`openKubeTokenStore`); with either of the last two
 * every replica shares them. `get` answers in kube mode from the watch-fed
 * cache (a token made on another replica shows within the watch's latency).
 */
export interface TokenStore {
  create(opts: CreateTokenOptions): Promise<CreatedToken>;
  list(): Promise<TokenInfo[]>;
  get(id: string): Promise<TokenInfo | undefined>;
  /** Deletes the token and its console sessions; false when there was none with this id. */
  revoke(id: string): Promise<boolean>;
  /** Deletes every credential of a node; returns how many. */
  revokeNode(node: string): Promise<number>;
  /** Called after a node credential is revoked (by id or by node, on any replica), with the node's name. */
  onNodeRevoked(listener: (node: string) => void): () => void;
  /** The principal of a valid, unexpired, unrevoked token; undefined otherwise. */
  verify(token: string): Promise<Principal | undefined>;
  createBootstrap(opts: CreateBootstrapTokenOptions): Promise<CreatedBootstrapToken>;
  listBootstrap(): Promise<BootstrapTokenInfo[]>;
  revokeBootstrap(id: string): Promise<boolean>;
  /** Checks a bootstrap token (and counts a use when `consume`); undefined when unknown, expired or revoked. */
  verifyBootstrap(token: string, consume?: boolean): Promise<{ id: string; site?: string } | undefined>;
  /** Keeps a console session; beyond `maxSessions` the oldest go (expired ones first). */
  createSession(session: SessionRecord, maxSessions: number): Promise<void>;
  /** The unexpired session with this key. */
  session(key: string): Promise<SessionRecord | undefined>;
  /** Ends a session (logout); false when there was none. */
  endSession(key: string): Promise<boolean>;
  close(): Promise<void>;
}

export interface TokenStoreOptions {
  /** SQLite file, or `:memory:`. Created with mode 0600. */
  file: string;
  /** Clock (ms since epoch), for tests. */
  now?: () => number;
  /** `lastUsedAt` is written at most this often per token (ms); default 60 000. */
  lastUsedResolutionMs?: number;
}

export const TOKEN_RE = /^edgeadm_([a-z0-9]{8})_([A-Za-z0-9_-]{32,128})$/;
const DEFAULT_BOOTSTRAP_TTL_SECONDS = 24 * 3600;
const MAX_BOOTSTRAP_TTL_SECONDS = 30 * 24 * 3600;
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** Site and node names: DNS-1123 labels, the store's rule. */
const isLabel = (name: string): boolean => dns1123LabelProblem(name) === undefined;
const MAX_TTL_SECONDS = 10 * 365 * 24 * 3600;

/** A token's row, as the SQLite and PostgreSQL stores keep it. */
export interface TokenRow {
  id: string;
  secret_hash: Buffer;
  role: Role;
  site: string | null;
  node: string | null;
  description: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
}

/** A bootstrap token's row, as the SQLite and PostgreSQL stores keep it. */
export interface BootstrapRow {
  id: string;
  secret_hash: Buffer;
  site: string | null;
  description: string;
  created_at: number;
  expires_at: number;
  uses: number;
}

/** Random lowercase alphanumerics: token ids (8) and bootstrap ids (6) and secrets (16). */
export function randomId(length = 8): string {
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(32)) {
      // 252 = 7 * 36: rejection keeps every character equally likely.
      if (b < 252 && out.length < length) out += ID_ALPHABET[b % 36];
    }
  }
  return out;
}

/** A new API token's secret: 32 random bytes, base64url (the part after `edgeadm_<id>_`). */
export const newTokenSecret = (): string => randomBytes(32).toString('base64url');
/** A new bootstrap token's secret: 16 lowercase alphanumerics (kubeadm's form). */
export const newBootstrapSecret = (): string => randomId(16);

export function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function toInfo(r: TokenRow): TokenInfo {
  const info: TokenInfo = { id: r.id, role: r.role, description: r.description, createdAt: iso(r.created_at) };
  if (r.site !== null) info.site = r.site;
  if (r.node !== null) info.node = r.node;
  if (r.expires_at !== null) info.expiresAt = iso(r.expires_at);
  if (r.last_used_at !== null) info.lastUsedAt = iso(r.last_used_at);
  return info;
}

export const bootstrapInfo = (r: BootstrapRow): BootstrapTokenInfo => ({
  id: r.id,
  ...(r.site === null ? {} : { site: r.site }),
  description: r.description,
  createdAt: iso(r.created_at),
  expiresAt: iso(r.expires_at),
  uses: r.uses,
});

/** Writes an admin token to its file, readable by its owner only. */
export function writeAdminTokenFile(file: string, token: string): void {
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** Checks a bootstrap token's options; returns its lifetime in seconds. */
export function checkCreateBootstrap(o: CreateBootstrapTokenOptions): number {
  if (o.site !== undefined && !isLabel(o.site)) throw new ErrTokenInvalid({ field: 'site', reason: `'${o.site}' is not a valid site name` });
  if (o.description !== undefined && o.description.length > 256) throw new ErrTokenInvalid({ field: 'description', reason: 'is longer than 256 characters' });
  const ttl = o.ttlSeconds ?? DEFAULT_BOOTSTRAP_TTL_SECONDS;
  if (!(Number.isInteger(ttl) && ttl > 0 && ttl <= MAX_BOOTSTRAP_TTL_SECONDS)) {
    throw new ErrTokenInvalid({ field: 'ttlSeconds', reason: `must be an integer from 1 to ${MAX_BOOTSTRAP_TTL_SECONDS} (bootstrap tokens always expire)` });
  }
  return ttl;
}

/** Checks an API token's options (role, site, node, description, ttl). */
export function checkCreate(opts: CreateTokenOptions): void {
  if (!(ROLES as readonly string[]).includes(opts.role)) {
    throw new ErrTokenInvalid({ field: 'role', reason: `must be one of ${ROLES.join(', ')} (got '${String(opts.role)}')` });
  }
  if (opts.role === 'agent') {
    if (opts.site === undefined) throw new ErrTokenInvalid({ field: 'site', reason: 'is required for role agent' });
    if (!isLabel(opts.site)) throw new ErrTokenInvalid({ field: 'site', reason: `'${opts.site}' is not a valid site name` });
  } else if (opts.site !== undefined) {
    throw new ErrTokenInvalid({ field: 'site', reason: `is only allowed for role agent (role is ${opts.role})` });
  }
  if (opts.node !== undefined) {
    if (opts.role !== 'agent') throw new ErrTokenInvalid({ field: 'node', reason: `is only allowed for role agent (role is ${opts.role})` });
    if (!isLabel(opts.node)) throw new ErrTokenInvalid({ field: 'node', reason: `'${opts.node}' is not a valid node name` });
  }
  if (opts.description !== undefined && opts.description.length > 256) {
    throw new ErrTokenInvalid({ field: 'description', reason: 'is longer than 256 characters' });
  }
  if (opts.ttlSeconds !== undefined && !(Number.isInteger(opts.ttlSeconds) && opts.ttlSeconds > 0 && opts.ttlSeconds <= MAX_TTL_SECONDS)) {
    throw new ErrTokenInvalid({ field: 'ttlSeconds', reason: `must be an integer from 1 to ${MAX_TTL_SECONDS}` });
  }
}

/** The SQLite store's calls, synchronous (better-sqlite3); `openTokenStore` hands them out as the async TokenStore. */
type SyncTokenStore = { [K in keyof TokenStore]: TokenStore[K] extends (...a: infer A) => Promise<infer R> ? (...a: A) => R : TokenStore[K] };

/** Tokens in a SQLite file (one hub): see the header. */
export function openTokenStore(opts: TokenStoreOptions): TokenStore {
  const s = openSqliteTokens(opts);
  return {
    create: promised(s.create),
    list: promised(s.list),
    get: promised(s.get),
    revoke: promised(s.revoke),
    revokeNode: promised(s.revokeNode),
    onNodeRevoked: s.onNodeRevoked,
    verify: promised(s.verify),
    createBootstrap: promised(s.createBootstrap),
    listBootstrap: promised(s.listBootstrap),
    revokeBootstrap: promised(s.revokeBootstrap),
    verifyBootstrap: promised(s.verifyBootstrap),
    createSession: promised(s.createSession),
    session: promised(s.session),
    endSession: promised(s.endSession),
    close: promised(s.close),
  };
}

function openSqliteTokens(opts: TokenStoreOptions): SyncTokenStore {
  const now = opts.now ?? Date.now;
  const resolution = opts.lastUsedResolutionMs ?? 60_000;
  ensurePrivateFile(opts.file);
  const db = new Database(opts.file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`
    CREATE TABLE IF NOT EXISTS tokens (
      id TEXT PRIMARY KEY,
      secret_hash BLOB NOT NULL,
      role TEXT NOT NULL CHECK (role IN ('admin', 'viewer', 'agent')),
      site TEXT,
      description TEXT NOT NULL DEFAULT '',
      created_at INTEGER NOT NULL,
      expires_at INTEGER,
      last_used_at INTEGER,
      CHECK ((role = 'agent') = (site IS NOT NULL))
    ) STRICT;
    CREATE TABLE IF NOT EXISTS bootstrap_tokens (
      id TEXT PRIMARY KEY,
      secret_hash BLOB NOT NULL,
      site TEXT,
      description TEXT NOT NULL DEFAULT '',
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      uses INTEGER NOT NULL DEFAULT 0
    ) STRICT;
  `);
  db.exec(`
    CREATE TABLE IF NOT EXISTS console_sessions (
      key TEXT PRIMARY KEY,
      token_id TEXT NOT NULL,
      role TEXT NOT NULL,
      csrf TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS console_sessions_by_token ON console_sessions (token_id);
    CREATE INDEX IF NOT EXISTS console_sessions_by_age ON console_sessions (created_at);
  `);
  // Files from before node credentials: add the column in place.
  const columns = db.prepare<[], { name: string }>('PRAGMA table_info(tokens)').all();
  if (!columns.some((c) => c.name === 'node')) db.exec('ALTER TABLE tokens ADD COLUMN node TEXT');
  db.exec('CREATE INDEX IF NOT EXISTS tokens_by_node ON tokens (node) WHERE node IS NOT NULL');
  const insert = db.prepare<[string, Buffer, string, string | null, string | null, string, number, number | null]>(
    'INSERT INTO tokens (id, secret_hash, role, site, node, description, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const removeNode = db.prepare<[string]>('DELETE FROM tokens WHERE node = ?');
  const bsInsert = db.prepare<[string, Buffer, string | null, string, number, number]>(
    'INSERT INTO bootstrap_tokens (id, secret_hash, site, description, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const bsOne = db.prepare<[string], BootstrapRow>('SELECT * FROM bootstrap_tokens WHERE id = ?');
  const bsAll = db.prepare<[], BootstrapRow>('SELECT * FROM bootstrap_tokens ORDER BY created_at, id');
  const bsRemove = db.prepare<[string]>('DELETE FROM bootstrap_tokens WHERE id = ?');
  const bsUse = db.prepare<[string]>('UPDATE bootstrap_tokens SET uses = uses + 1 WHERE id = ?');
  const selectOne = db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE id = ?');
  const selectAll = db.prepare<[], TokenRow>('SELECT * FROM tokens ORDER BY created_at, id');
  const remove = db.prepare<[string]>('DELETE FROM tokens WHERE id = ?');
  const touch = db.prepare<[number, string]>('UPDATE tokens SET last_used_at = ? WHERE id = ?');
  const sessionInsert = db.prepare<[string, string, string, string, number, number]>(
    'INSERT OR REPLACE INTO console_sessions (key, token_id, role, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const sessionsExpired = db.prepare<[number]>('DELETE FROM console_sessions WHERE expires_at <= ?');
  const sessionsBeyond = db.prepare<[number]>('DELETE FROM console_sessions WHERE key IN (SELECT key FROM console_sessions ORDER BY created_at DESC, key LIMIT -1 OFFSET ?)');
  const sessionOne = db.prepare<[string, number], { key: string; token_id: string; role: Role; csrf: string; expires_at: number }>(
    'SELECT key, token_id, role, csrf, expires_at FROM console_sessions WHERE key = ? AND expires_at > ?',
  );
  const sessionEnd = db.prepare<[string]>('DELETE FROM console_sessions WHERE key = ?');
  const sessionsOfToken = db.prepare<[string]>('DELETE FROM console_sessions WHERE token_id = ?');
  // Compared against when the id is unknown, so a miss costs what a hit costs.
  const dummyHash = sha256(newTokenSecret());
  const lastTouched = new Map<string, number>();
  const revokeListeners = new Set<(node: string) => void>();
  const nodeOf = db.prepare<[string], { node: string | null }>('SELECT node FROM tokens WHERE id = ?');
  const revoked = (node: string | null | undefined): void => {
    if (node) for (const l of [...revokeListeners]) l(node);
  };
  let closed = false;

  const open = (): void => {
    if (closed) throw new ErrStoreClosed({ store: 'token' });
  };

  return {
    create(o) {
      open();
      checkCreate(o);
      const secret = newTokenSecret();
      const createdAt = now();
      const expiresAt = o.ttlSeconds === undefined ? null : createdAt + o.ttlSeconds * 1000;
      for (;;) {
        const id = randomId();
        try {
          insert.run(id, sha256(secret), o.role, o.site ?? null, o.node ?? null, o.description ?? '', createdAt, expiresAt);
        } catch (err) {
          if ((err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') continue;
          throw err;
        }
        const info = toInfo({
          id,
          secret_hash: Buffer.alloc(0),
          role: o.role,
          site: o.site ?? null,
          node: o.node ?? null,
          description: o.description ?? '',
          created_at: createdAt,
          expires_at: expiresAt,
          last_used_at: null,
        });
        return { ...info, token: `edgeadm_${id}_${secret}` };
      }
    },
    list() {
      open();
      return selectAll.all().map(toInfo);
    },
    get(id) {
      open();
      const row = selectOne.get(id);
      return row && toInfo(row);
    },
    revoke(id) {
      open();
      lastTouched.delete(id);
      const node = nodeOf.get(id)?.node;
      const gone = db.transaction(() => {
        sessionsOfToken.run(id);
        return remove.run(id).changes > 0;
      })();
      if (gone) revoked(node);
      return gone;
    },
    revokeNode(node) {
      open();
      const n = removeNode.run(node).changes;
      revoked(node);
      return n;
    },
    onNodeRevoked(listener) {
      revokeListeners.add(listener);
      return () => revokeListeners.delete(listener);
    },
    createBootstrap(o) {
      open();
      const ttl = checkCreateBootstrap(o);
      const secret = newBootstrapSecret();
      const createdAt = now();
      for (;;) {
        const id = randomId(6);
        try {
          bsInsert.run(id, sha256(secret), o.site ?? null, o.description ?? '', createdAt, createdAt + ttl * 1000);
        } catch (err) {
          if ((err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') continue;
          throw err;
        }
        return { ...bootstrapInfo(bsOne.get(id)!), token: `${id}.${secret}` };
      }
    },
    listBootstrap() {
      open();
      return bsAll.all().map(bootstrapInfo);
    },
    revokeBootstrap(id) {
      open();
      return bsRemove.run(id).changes > 0;
    },
    verifyBootstrap(token, consume = false) {
      open();
      const m = BOOTSTRAP_TOKEN_RE.exec(token);
      if (!m) return undefined;
      const [, id, secret] = m as unknown as [string, string, string];
      const row = bsOne.get(id);
      const matches = timingSafeEqual(sha256(secret), row ? row.secret_hash : dummyHash);
      if (!row || !matches || row.expires_at <= now()) return undefined;
      if (consume) bsUse.run(id);
      return row.site === null ? { id } : { id, site: row.site };
    },
    verify(token) {
      open();
      const m = TOKEN_RE.exec(token);
      if (!m) return undefined;
      const [, id, secret] = m as unknown as [string, string, string];
      const row = selectOne.get(id);
      const matches = timingSafeEqual(sha256(secret), row ? row.secret_hash : dummyHash);
      if (!row || !matches) return undefined;
      const t = now();
      if (row.expires_at !== null && row.expires_at <= t) return undefined;
      const last = lastTouched.get(id) ?? row.last_used_at ?? 0;
      if (t - last >= resolution || row.last_used_at === null) {
        touch.run(t, id);
        lastTouched.set(id, t);
      }
      const p: Principal = { tokenId: id, role: row.role };
      if (row.site !== null) p.site = row.site;
      if (row.node !== null) p.node = row.node;
      return p;
    },
    createSession(r, maxSessions) {
      open();
      checkSession(r);
      const t = now();
      db.transaction(() => {
        sessionInsert.run(r.key, r.tokenId, r.role, r.csrf, t, r.expiresAt);
        sessionsExpired.run(t);
        sessionsBeyond.run(maxSessions);
      })();
    },
    session(key) {
      open();
      if (!SESSION_KEY_RE.test(key)) return undefined;
      const row = sessionOne.get(key, now());
      return row && { key: row.key, tokenId: row.token_id, role: row.role, csrf: row.csrf, expiresAt: row.expires_at };
    },
    endSession(key) {
      open();
      return sessionEnd.run(key).changes > 0;
    },
    close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}

/** A session as a store takes it: a key that is a SHA-256, a known role, a time. */
export function checkSession(r: SessionRecord): void {
  if (!SESSION_KEY_RE.test(r.key)) throw new ErrTokenInvalid({ field: 'session.key', reason: 'must be a SHA-256 in hex' });
  if (!(ROLES as readonly string[]).includes(r.role)) throw new ErrTokenInvalid({ field: 'session.role', reason: `must be one of ${ROLES.join(', ')}` });
  if (!Number.isSafeInteger(r.expiresAt)) throw new ErrTokenInvalid({ field: 'session.expiresAt', reason: 'must be a time in ms' });
}
