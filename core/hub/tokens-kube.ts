/**
 * The hub's tokens as Secrets in its Kubernetes namespace (kube mode), so
 * every hub replica accepts every token and sees every revocation.
 *
 * Layout (one Secret per token; the secret itself is never stored, only its
 * SHA-256, as in the SQLite store):
 * - API tokens: `edgeadm-token-<id>`, type `edgeadm.io/token`; data
 *   `secret-sha256` (hex), `role`, `site`, `node`, `description`,
 *   `created-at`, `expires-at` (RFC 3339, ms); labels
 *   `edgeadm.io/credential=token`, `edgeadm.io/token-role`, and
 *   `edgeadm.io/site` / `edgeadm.io/node` when set; the annotation
 *   `edgeadm.io/last-used-at`.
 * - Bootstrap tokens: `edgeadm-bootstrap-token-<id>`, type
 *   `edgeadm.io/bootstrap-token`; data `secret-sha256`, `site`,
 *   `description`, `created-at`, `expires-at`, `uses`; label
 *   `edgeadm.io/credential=bootstrap-token`. (Not kube's own
 *   `bootstrap.kubernetes.io/token` type: those would let their holder
 *   bootstrap a kubelet, and they keep the secret in clear.)
 *
 * - Console sessions: `edgeadm-session-<sha256 of the cookie>`, type
 *   `edgeadm.io/console-session`; data `token-id`, `role`, `csrf`,
 *   `created-at`, `expires-at` (ms); labels
 *   `edgeadm.io/credential=console-session`, `edgeadm.io/token-id`. Read
 *   from kube on each use (read-your-writes across replicas; a logout on one
 *   replica holds on all at once); a token's revocation deletes its sessions.
 *
 * Rules:
 * - Every replica keeps a cache of the API tokens, fed by a reflector (list
 *   and watch of the Secrets labelled `edgeadm.io/credential=token`): `verify`
 *   and `get` answer from it. A token missing from the cache is read from
 *   kube once (made on another replica a moment ago); such reads are
 *   limited to `missReadsPerSecond` so random tokens cannot turn the hub
 *   into a load generator for kube-apiserver (beyond it a miss is a miss).
 * - A revocation on any replica reaches the others with the watch (a
 *   DELETED event): their cache drops the token and `onNodeRevoked` fires
 *   there too, so their tunnels close the node's sessions.
 * - `list`, `listBootstrap` and `verifyBootstrap` read kube (read-your-writes
 *   across replicas); a bootstrap token's use is counted with the
 *   resourceVersion precondition, retried on conflict.
 * - `lastUsedAt` is written (a merge patch of the annotation) at most every
 *   `lastUsedResolutionMs` per token and replica, in the background.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { V1Secret } from '@kubernetes/client-node';
import { BOOTSTRAP_TOKEN_RE, type Logger } from '../kernel/index.ts';
import { INITIAL_ADMIN_SECRET, kubeError, kubeFailure, openKubeClient, pageRequest, PEER_SECRET, typedPage, reflect, type KubeClient, type KubeObject } from '../store/index.ts';
import { ErrStoreClosed } from './errors.ts';
import {
  checkCreate,
  checkCreateBootstrap,
  newBootstrapSecret,
  newTokenSecret,
  randomId,
  ROLES,
  sha256,
  TOKEN_RE,
  type BootstrapTokenInfo,
  type Principal,
  type Role,
  type SessionRecord,
  type TokenInfo,
  type TokenStore,
  checkSession,
  SESSION_KEY_RE,
  writeAdminTokenFile,
} from './tokens.ts';

export interface KubeTokenStoreOptions {
  /** A kubeconfig file, a loaded KubeConfig, or 'in-cluster'. */
  kubeConfig: Parameters<typeof openKubeClient>[0];
  /** The hub's namespace. It must exist. */
  namespace: string;
  logger?: Logger;
  /** Clock (ms since epoch), for tests. */
  now?: () => number;
  /** Default 60 000 (see the header). */
  lastUsedResolutionMs?: number;
  /** Default 20 (see the header). */
  missReadsPerSecond?: number;
}

export const CREDENTIAL_LABEL = 'edgeadm.io/credential';
const TOKEN_TYPE = 'edgeadm.io/token';
const BOOTSTRAP_TYPE = 'edgeadm.io/bootstrap-token';
const SESSION_TYPE = 'edgeadm.io/console-session';
const sessionSecret = (key: string): string => `edgeadm-session-${key}`;
const LAST_USED = 'edgeadm.io/last-used-at';
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'edgeadm' };
const tokenSecret = (id: string): string => `edgeadm-token-${id}`;
const bootstrapSecret = (id: string): string => `edgeadm-bootstrap-token-${id}`;

interface Cached {
  info: TokenInfo;
  hash: Buffer;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
function field(obj: { data?: Record<string, string> }, key: string): string | undefined {
  const v = obj.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}
const iso = (ms: number): string => new Date(ms).toISOString();

/** A token Secret as the store's entry; undefined for a Secret that is not one (wrong type, missing fields). */
function tokenOf(obj: KubeObject): Cached | undefined {
  const s = obj as KubeObject & { type?: string; data?: Record<string, string> };
  const id = /^edgeadm-token-([a-z0-9]{8})$/.exec(s.metadata?.name ?? '')?.[1];
  const hash = field(s, 'secret-sha256');
  const role = field(s, 'role');
  const createdAt = field(s, 'created-at');
  if (s.type !== TOKEN_TYPE || id === undefined || hash === undefined || !/^[0-9a-f]{64}$/.test(hash) || !(ROLES as readonly string[]).includes(role ?? '') || createdAt === undefined) return undefined;
  const info: TokenInfo = { id, role: role as Role, description: field(s, 'description') ?? '', createdAt };
  const site = field(s, 'site');
  const node = field(s, 'node');
  const expiresAt = field(s, 'expires-at');
  const lastUsedAt = s.metadata?.annotations?.[LAST_USED];
  if (site) info.site = site;
  if (node) info.node = node;
  if (expiresAt) info.expiresAt = expiresAt;
  if (lastUsedAt) info.lastUsedAt = lastUsedAt;
  return { info, hash: Buffer.from(hash, 'hex') };
}

function bootstrapOf(obj: V1Secret): (BootstrapTokenInfo & { hash: Buffer }) | undefined {
  const id = /^edgeadm-bootstrap-token-([a-z0-9]{6})$/.exec(obj.metadata?.name ?? '')?.[1];
  const hash = field(obj, 'secret-sha256');
  const createdAt = field(obj, 'created-at');
  const expiresAt = field(obj, 'expires-at');
  if (obj.type !== BOOTSTRAP_TYPE || id === undefined || hash === undefined || !/^[0-9a-f]{64}$/.test(hash) || createdAt === undefined || expiresAt === undefined) return undefined;
  const site = field(obj, 'site');
  const uses = Number(field(obj, 'uses') ?? '0');
  return {
    id,
    ...(site ? { site } : {}),
    description: field(obj, 'description') ?? '',
    createdAt,
    expiresAt,
    uses: Number.isSafeInteger(uses) ? uses : 0,
    hash: Buffer.from(hash, 'hex'),
  };
}

const byCreation = <T extends { createdAt: string; id: string }>(a: T, b: T): number => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Opens the store: starts the reflector and waits for its first list (so `verify` knows every token at once). */
export async function openKubeTokenStore(opts: KubeTokenStoreOptions): Promise<TokenStore> {
  const client = await openKubeClient(opts.kubeConfig);
  const store = new KubeTokens(client, opts);
  try {
    await store.started;
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

class KubeTokens implements TokenStore {
  readonly started: Promise<void>;
  readonly #client: KubeClient;
  readonly #ns: string;
  readonly #now: () => number;
  readonly #resolution: number;
  readonly #logger: Logger | undefined;
  readonly #cache = new Map<string, Cached>();
  readonly #listeners = new Set<(node: string) => void>();
  readonly #lastTouched = new Map<string, number>();
  readonly #stop = new AbortController();
  readonly #dummyHash = sha256(newTokenSecret());
  readonly #missBudget: { perSecond: number; left: number; at: number };
  #reflecting: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(client: KubeClient, opts: KubeTokenStoreOptions) {
    this.#client = client;
    this.#ns = opts.namespace;
    this.#now = opts.now ?? Date.now;
    this.#resolution = opts.lastUsedResolutionMs ?? 60_000;
    this.#logger = opts.logger;
    const perSecond = opts.missReadsPerSecond ?? 20;
    this.#missBudget = { perSecond, left: perSecond, at: Date.now() };
    const r = reflect({
      client,
      path: `/api/v1/namespaces/${this.#ns}/secrets`,
      labelSelector: `${CREDENTIAL_LABEL}=token`,
      list: async (page) => {
        const l = await client.core.listNamespacedSecret({ namespace: this.#ns, labelSelector: `${CREDENTIAL_LABEL}=token`, ...pageRequest(page) });
        return typedPage(l);
      },
      onEvent: (type, obj) => this.#observed(type, obj),
      signal: this.#stop.signal,
      ...(opts.logger === undefined ? {} : { logger: opts.logger }),
    });
    this.started = r.ready;
    this.#reflecting = r.done;
  }

  /** A change seen by the reflector (this replica's own, or another's). */
  #observed(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: KubeObject): void {
    const entry = tokenOf(obj);
    const id = /^edgeadm-token-(.+)$/.exec(obj.metadata?.name ?? '')?.[1];
    if (id === undefined) return;
    if (type === 'DELETED') {
      this.#forget(id);
      return;
    }
    if (entry === undefined) {
      this.#logger?.warn({ secret: obj.metadata?.name }, 'a token Secret is malformed; it is not accepted');
      this.#forget(id);
      return;
    }
    // A watch event of an earlier last-used patch must not take back a later one made here.
    const known = this.#cache.get(entry.info.id)?.info.lastUsedAt;
    if (known !== undefined && (entry.info.lastUsedAt === undefined || entry.info.lastUsedAt < known)) entry.info.lastUsedAt = known;
    this.#cache.set(entry.info.id, entry);
  }

  /** Drops a token from the cache; tells the listeners when it was a node's credential. */
  #forget(id: string): void {
    const had = this.#cache.get(id);
    this.#cache.delete(id);
    this.#lastTouched.delete(id);
    if (had?.info.node !== undefined) this.#revoked(had.info.node);
  }

  #revoked(node: string): void {
    for (const l of [...this.#listeners]) {
      try {
        l(node);
      } catch (err) {
        this.#logger?.error({ err, node }, 'node revocation listener failed');
      }
    }
  }

  #open(): void {
    if (this.#closed) throw new ErrStoreClosed({ store: 'token' });
  }

  #target(name?: string): string {
    return `secret ${name ?? '(list)'} in namespace ${this.#ns}`;
  }

  async create(o: Parameters<TokenStore['create']>[0]): ReturnType<TokenStore['create']> {
    this.#open();
    checkCreate(o);
    const secret = newTokenSecret();
    const createdAt = this.#now();
    const info: Omit<TokenInfo, 'id'> = { role: o.role, description: o.description ?? '', createdAt: iso(createdAt) };
    if (o.site !== undefined) info.site = o.site;
    if (o.node !== undefined) info.node = o.node;
    if (o.ttlSeconds !== undefined) info.expiresAt = iso(createdAt + o.ttlSeconds * 1000);
    for (;;) {
      const id = randomId();
      const data: Record<string, string> = { 'secret-sha256': b64(sha256(secret).toString('hex')), role: b64(o.role), description: b64(info.description), 'created-at': b64(info.createdAt) };
      if (info.site !== undefined) data.site = b64(info.site);
      if (info.node !== undefined) data.node = b64(info.node);
      if (info.expiresAt !== undefined) data['expires-at'] = b64(info.expiresAt);
      const labels: Record<string, string> = { ...MANAGED_BY, [CREDENTIAL_LABEL]: 'token', 'edgeadm.io/token-role': o.role };
      if (info.site !== undefined) labels['edgeadm.io/site'] = info.site;
      if (info.node !== undefined) labels['edgeadm.io/node'] = info.node;
      try {
        await this.#client.core.createNamespacedSecret({ namespace: this.#ns, body: { metadata: { name: tokenSecret(id), labels }, type: TOKEN_TYPE, data } });
      } catch (err) {
        if (kubeFailure(err).status === 409) continue;
        throw kubeError(err, 'create', this.#target(tokenSecret(id)));
      }
      const made: TokenInfo = { id, ...info };
      this.#cache.set(id, { info: made, hash: sha256(secret) });
      return { ...made, token: `edgeadm_${id}_${secret}` };
    }
  }

  async list(): Promise<TokenInfo[]> {
    this.#open();
    const out: TokenInfo[] = [];
    let cont: string | undefined;
    do {
      const l = await this.#client.core
        .listNamespacedSecret({ namespace: this.#ns, labelSelector: `${CREDENTIAL_LABEL}=token`, limit: 500, ...(cont === undefined ? {} : { _continue: cont }) })
        .catch((err: unknown) => {
          throw kubeError(err, 'list', this.#target());
        });
      for (const s of l.items) {
        const t = tokenOf(s as KubeObject);
        if (t) out.push(t.info);
      }
      cont = l.metadata?._continue || undefined;
    } while (cont !== undefined);
    return out.sort(byCreation);
  }

  get(id: string): Promise<TokenInfo | undefined> {
    this.#open();
    return Promise.resolve(this.#cache.get(id)?.info);
  }

  async revoke(id: string): Promise<boolean> {
    this.#open();
    if (!/^[a-z0-9]{8}$/.test(id)) return false;
    try {
      await this.#client.core.deleteNamespacedSecret({ namespace: this.#ns, name: tokenSecret(id) });
    } catch (err) {
      if (kubeFailure(err).status === 404) {
        this.#forget(id);
        return false;
      }
      throw kubeError(err, 'delete', this.#target(tokenSecret(id)));
    }
    this.#forget(id);
    await this.#client.core.deleteCollectionNamespacedSecret({ namespace: this.#ns, labelSelector: `${CREDENTIAL_LABEL}=console-session,edgeadm.io/token-id=${id}` }).catch((err: unknown) => {
      throw kubeError(err, 'delete', this.#target('(sessions of the token)'));
    });
    return true;
  }

  async revokeNode(node: string): Promise<number> {
    this.#open();
    const selector = `${CREDENTIAL_LABEL}=token,edgeadm.io/node=${node}`;
    let n = 0;
    if (/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(node) && node.length <= 63) {
      const l = await this.#client.core.listNamespacedSecret({ namespace: this.#ns, labelSelector: selector }).catch((err: unknown) => {
        throw kubeError(err, 'list', this.#target());
      });
      for (const s of l.items) {
        const name = s.metadata?.name ?? '';
        try {
          await this.#client.core.deleteNamespacedSecret({ namespace: this.#ns, name });
          n++;
        } catch (err) {
          if (kubeFailure(err).status !== 404) throw kubeError(err, 'delete', this.#target(name));
        }
      }
    }
    // Forgotten here without telling the listeners per token: they hear once, below.
    for (const [id, c] of this.#cache) if (c.info.node === node) this.#cache.delete(id);
    this.#revoked(node);
    return n;
  }

  onNodeRevoked(listener: (node: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async verify(token: string): Promise<Principal | undefined> {
    this.#open();
    const m = TOKEN_RE.exec(token);
    if (!m) return undefined;
    const [, id, secret] = m as unknown as [string, string, string];
    let entry = this.#cache.get(id);
    if (entry === undefined && this.#takeMissRead()) entry = await this.#readToken(id);
    const matches = timingSafeEqual(sha256(secret), entry ? entry.hash : this.#dummyHash);
    if (!entry || !matches) return undefined;
    const t = this.#now();
    if (entry.info.expiresAt !== undefined && Date.parse(entry.info.expiresAt) <= t) return undefined;
    this.#touch(id, t);
    const p: Principal = { tokenId: id, role: entry.info.role };
    if (entry.info.site !== undefined) p.site = entry.info.site;
    if (entry.info.node !== undefined) p.node = entry.info.node;
    return p;
  }

  /** One read of kube for a token the cache does not know, within the per-second budget. */
  #takeMissRead(): boolean {
    const b = this.#missBudget;
    const now = Date.now();
    b.left = Math.min(b.perSecond, b.left + ((now - b.at) / 1000) * b.perSecond);
    b.at = now;
    if (b.left < 1) return false;
    b.left -= 1;
    return true;
  }

  async #readToken(id: string): Promise<Cached | undefined> {
    try {
      const s = await this.#client.core.readNamespacedSecret({ namespace: this.#ns, name: tokenSecret(id) });
      const entry = tokenOf(s as KubeObject);
      // Kept only if the reflector has not meanwhile seen it deleted (it would be gone from kube, so the read failed).
      if (entry && !this.#closed) this.#cache.set(id, entry);
      return entry;
    } catch (err) {
      if (kubeFailure(err).status === 404) return undefined;
      throw kubeError(err, 'get', this.#target(tokenSecret(id)));
    }
  }

  #touch(id: string, t: number): void {
    const entry = this.#cache.get(id);
    const last = this.#lastTouched.get(id) ?? (entry?.info.lastUsedAt === undefined ? 0 : Date.parse(entry.info.lastUsedAt));
    if (entry?.info.lastUsedAt !== undefined && t - last < this.#resolution) return;
    this.#lastTouched.set(id, t);
    if (entry) entry.info = { ...entry.info, lastUsedAt: iso(t) };
    const body = { metadata: { annotations: { [LAST_USED]: iso(t) } } };
    this.#client.core
      .patchNamespacedSecret({ namespace: this.#ns, name: tokenSecret(id), body }, this.#mergePatch())
      .catch((err: unknown) => {
        if (kubeFailure(err).status !== 404) this.#logger?.debug({ tokenId: id, reason: kubeFailure(err).message }, 'token last-used time not recorded');
      });
  }

  #mergePatch(): ReturnType<KubeClient['k8s']['setHeaderOptions']> {
    return this.#client.k8s.setHeaderOptions('Content-Type', this.#client.k8s.PatchStrategy.MergePatch);
  }

  async createBootstrap(o: Parameters<TokenStore['createBootstrap']>[0]): ReturnType<TokenStore['createBootstrap']> {
    this.#open();
    const ttl = checkCreateBootstrap(o);
    const secret = newBootstrapSecret();
    const createdAt = this.#now();
    for (;;) {
      const id = randomId(6);
      const info: BootstrapTokenInfo = { id, ...(o.site === undefined ? {} : { site: o.site }), description: o.description ?? '', createdAt: iso(createdAt), expiresAt: iso(createdAt + ttl * 1000), uses: 0 };
      const data: Record<string, string> = { 'secret-sha256': b64(sha256(secret).toString('hex')), description: b64(info.description), 'created-at': b64(info.createdAt), 'expires-at': b64(info.expiresAt), uses: b64('0') };
      if (info.site !== undefined) data.site = b64(info.site);
      try {
        await this.#client.core.createNamespacedSecret({
          namespace: this.#ns,
          body: { metadata: { name: bootstrapSecret(id), labels: { ...MANAGED_BY, [CREDENTIAL_LABEL]: 'bootstrap-token' } }, type: BOOTSTRAP_TYPE, data },
        });
      } catch (err) {
        if (kubeFailure(err).status === 409) continue;
        throw kubeError(err, 'create', this.#target(bootstrapSecret(id)));
      }
      return { ...info, token: `${id}.${secret}` };
    }
  }

  async listBootstrap(): Promise<BootstrapTokenInfo[]> {
    this.#open();
    const l = await this.#client.core.listNamespacedSecret({ namespace: this.#ns, labelSelector: `${CREDENTIAL_LABEL}=bootstrap-token` }).catch((err: unknown) => {
      throw kubeError(err, 'list', this.#target());
    });
    return l.items
      .map(bootstrapOf)
      .filter((b) => b !== undefined)
      .map(({ hash: _hash, ...info }) => info)
      .sort(byCreation);
  }

  async revokeBootstrap(id: string): Promise<boolean> {
    this.#open();
    if (!/^[a-z0-9]{6}$/.test(id)) return false;
    try {
      await this.#client.core.deleteNamespacedSecret({ namespace: this.#ns, name: bootstrapSecret(id) });
      return true;
    } catch (err) {
      if (kubeFailure(err).status === 404) return false;
      throw kubeError(err, 'delete', this.#target(bootstrapSecret(id)));
    }
  }

  async verifyBootstrap(token: string, consume = false): Promise<{ id: string; site?: string } | undefined> {
    this.#open();
    const m = BOOTSTRAP_TOKEN_RE.exec(token);
    if (!m) return undefined;
    const [, id, secret] = m as unknown as [string, string, string];
    for (let attempt = 0; ; attempt++) {
      let s: V1Secret | undefined;
      try {
        s = await this.#client.core.readNamespacedSecret({ namespace: this.#ns, name: bootstrapSecret(id) });
      } catch (err) {
        if (kubeFailure(err).status !== 404) throw kubeError(err, 'get', this.#target(bootstrapSecret(id)));
      }
      const b = s && bootstrapOf(s);
      const matches = timingSafeEqual(sha256(secret), b ? b.hash : this.#dummyHash);
      if (!s || !b || !matches || Date.parse(b.expiresAt) <= this.#now()) return undefined;
      const out = b.site === undefined ? { id } : { id, site: b.site };
      if (!consume) return out;
      try {
        await this.#client.core.replaceNamespacedSecret({ namespace: this.#ns, name: bootstrapSecret(id), body: { ...s, data: { ...s.data, uses: b64(String(b.uses + 1)) } } });
        return out;
      } catch (err) {
        // Another join counted a use meanwhile: count again on what it wrote.
        if (kubeFailure(err).status === 409 && attempt < 20) continue;
        if (kubeFailure(err).status === 404) return undefined;
        throw kubeError(err, 'update', this.#target(bootstrapSecret(id)));
      }
    }
  }

  async createSession(r: SessionRecord, maxSessions: number): Promise<void> {
    this.#open();
    checkSession(r);
    const data = { 'token-id': b64(r.tokenId), role: b64(r.role), csrf: b64(r.csrf), 'created-at': b64(String(this.#now())), 'expires-at': b64(String(r.expiresAt)) };
    const labels = { ...MANAGED_BY, [CREDENTIAL_LABEL]: 'console-session', 'edgeadm.io/token-id': r.tokenId };
    await this.#client.core.createNamespacedSecret({ namespace: this.#ns, body: { metadata: { name: sessionSecret(r.key), labels }, type: SESSION_TYPE, data } }).catch((err: unknown) => {
      throw kubeError(err, 'create', this.#target(sessionSecret(r.key)));
    });
    // Expired sessions go, then the oldest beyond the limit (a login is rare: one list per login).
    const l = await this.#client.core.listNamespacedSecret({ namespace: this.#ns, labelSelector: `${CREDENTIAL_LABEL}=console-session` }).catch((err: unknown) => {
      throw kubeError(err, 'list', this.#target());
    });
    const t = this.#now();
    const all = l.items.map((x) => ({ name: x.metadata?.name ?? '', created: Number(field(x, 'created-at')), expires: Number(field(x, 'expires-at')) })).sort((a, b) => b.created - a.created || (a.name < b.name ? -1 : 1));
    const gone = all.filter((x, i) => !(x.expires > t) || i >= maxSessions);
    for (const x of gone) {
      await this.#client.core.deleteNamespacedSecret({ namespace: this.#ns, name: x.name }).catch((err: unknown) => {
        if (kubeFailure(err).status !== 404) throw kubeError(err, 'delete', this.#target(x.name));
      });
    }
  }

  async session(key: string): Promise<SessionRecord | undefined> {
    this.#open();
    if (!SESSION_KEY_RE.test(key)) return undefined;
    let s: V1Secret;
    try {
      s = await this.#client.core.readNamespacedSecret({ namespace: this.#ns, name: sessionSecret(key) });
    } catch (err) {
      if (kubeFailure(err).status === 404) return undefined;
      throw kubeError(err, 'get', this.#target(sessionSecret(key)));
    }
    const tokenId = field(s, 'token-id');
    const role = field(s, 'role');
    const csrf = field(s, 'csrf');
    const expiresAt = Number(field(s, 'expires-at'));
    if (s.type !== SESSION_TYPE || tokenId === undefined || !(ROLES as readonly string[]).includes(role ?? '') || csrf === undefined || !Number.isSafeInteger(expiresAt)) return undefined;
    if (expiresAt <= this.#now()) return undefined;
    return { key, tokenId, role: role as Role, csrf, expiresAt };
  }

  async endSession(key: string): Promise<boolean> {
    this.#open();
    if (!SESSION_KEY_RE.test(key)) return false;
    try {
      await this.#client.core.deleteNamespacedSecret({ namespace: this.#ns, name: sessionSecret(key) });
      return true;
    } catch (err) {
      if (kubeFailure(err).status === 404) return false;
      throw kubeError(err, 'delete', this.#target(sessionSecret(key)));
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    await this.#reflecting.catch(() => undefined);
    await this.#client.close();
  }
}

/**
 * Makes sure there is an admin token every replica can hand out in kube
 * mode, and writes it to `file` (the replica's admin.token):
 * 1. `file` already holds a valid admin token: kept.
 * 2. The Secret `edgeadm-initial-admin-token` holds a valid admin token:
 *    written to `file`.
 * 3. Some admin token exists but neither holds a valid one (the operator
 *    rotated it and deleted the Secret): nothing is made, and `file` is
 *    removed if stale; the log says so.
 * 4. No admin token at all: one is made and kept in the Secret; of two
 *    replicas starting at once, the one whose Secret create loses revokes
 *    its token and takes the winner's.
 */
export async function ensureSharedAdminToken(o: { kubeConfig: KubeTokenStoreOptions['kubeConfig']; namespace: string; tokens: TokenStore; file: string; logger: Logger }): Promise<void> {
  const isAdmin = async (token: string | undefined): Promise<boolean> => token !== undefined && (await o.tokens.verify(token))?.role === 'admin';
  if (existsSync(o.file) && (await isAdmin(readFileSync(o.file, 'utf8').trim()))) return;
  const client = await openKubeClient(o.kubeConfig);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      const shared = await readSecretField(client, o.namespace, INITIAL_ADMIN_SECRET, 'token');
      if (await isAdmin(shared)) {
        writeAdminTokenFile(o.file, shared!);
        o.logger.info({ file: o.file, secret: INITIAL_ADMIN_SECRET }, 'admin token written (from the shared Secret)');
        return;
      }
      if ((await o.tokens.list()).some((t) => t.role === 'admin')) {
        rmSync(o.file, { force: true });
        o.logger.warn(
          { secret: INITIAL_ADMIN_SECRET, namespace: o.namespace },
          'admin tokens exist but none is kept for this replica: use one you hold (edgeadm token create --role admin makes more)',
        );
        return;
      }
      const created = await o.tokens.create({ role: 'admin', description: 'created at first hub start' });
      try {
        await client.core.createNamespacedSecret({
          namespace: o.namespace,
          body: { metadata: { name: INITIAL_ADMIN_SECRET, labels: MANAGED_BY }, type: 'Opaque', data: { token: b64(created.token) } },
        });
        writeAdminTokenFile(o.file, created.token);
        o.logger.info({ file: o.file, secret: INITIAL_ADMIN_SECRET }, 'admin token created and written');
        return;
      } catch (err) {
        await o.tokens.revoke(created.id);
        // Another replica made it first (or an old Secret holds a revoked token: replaced below).
        if (kubeFailure(err).status !== 409) throw kubeError(err, 'create', `secret ${INITIAL_ADMIN_SECRET} in namespace ${o.namespace}`);
        if (!(await isAdmin(await readSecretField(client, o.namespace, INITIAL_ADMIN_SECRET, 'token')))) {
          await client.core.deleteNamespacedSecret({ namespace: o.namespace, name: INITIAL_ADMIN_SECRET }).catch(() => undefined);
        }
      }
    }
    throw new ErrStoreClosed({ store: `admin token (could not agree on ${INITIAL_ADMIN_SECRET} in namespace ${o.namespace})` });
  } finally {
    await client.close();
  }
}

/** The credential hub replicas on one namespace present to each other: made once, by whichever replica comes first. */
export async function sharedPeerCredential(kubeConfig: KubeTokenStoreOptions['kubeConfig'], namespace: string): Promise<string> {
  const client = await openKubeClient(kubeConfig);
  try {
    for (;;) {
      const existing = await readSecretField(client, namespace, PEER_SECRET, 'token');
      if (existing) return existing;
      const made = randomBytes(32).toString('base64url');
      try {
        await client.core.createNamespacedSecret({ namespace, body: { metadata: { name: PEER_SECRET, labels: MANAGED_BY }, type: 'Opaque', data: { token: b64(made) } } });
        return made;
      } catch (err) {
        if (kubeFailure(err).status !== 409) throw kubeError(err, 'create', `secret ${PEER_SECRET} in namespace ${namespace}`);
      }
    }
  } finally {
    await client.close();
  }
}

async function readSecretField(client: KubeClient, namespace: string, name: string, key: string): Promise<string | undefined> {
  try {
    return field(await client.core.readNamespacedSecret({ namespace, name }), key);
  } catch (err) {
    if (kubeFailure(err).status === 404) return undefined;
    throw kubeError(err, 'get', `secret ${name} in namespace ${namespace}`);
  }
}
