/**
 * The bridge as a service of a secure EdgeX (secure mode): its own
 * secret-store token, from which it gets JWTs for EdgeX's REST APIs and
 * the message bus's credentials, as EdgeX's Go services do
 * (go-mod-secrets, OpenBao's HTTP API):
 *
 *   the token      secrets-token.json that EdgeX's secretstore-setup writes
 *                  for the service key (its `auth.client_token`)
 *   GET  /v1/auth/token/lookup-self        data.ttl, data.period, data.renewable
 *   POST /v1/auth/token/renew-self         renewed when less than half its period is left
 *   GET  /v1/identity/oidc/token/<key>     data.token: a JWT, sent as `Authorization: Bearer`
 *   GET  /v1/secret/edgex/<key>/<name>     data: the secret's keys (message-bus: username, password)
 *
 * The token goes in `X-Vault-Token`. A token the store refuses (403) is
 * read again from its file once (secretstore-setup writes new ones when it
 * restarts); still refused, or no answer, is EDGE_ERR_EDGEX_SECRET_STORE.
 * JWTs are kept until a fifth of their life is left. Neither the token,
 * nor a JWT, nor a secret is ever logged or put in an error.
 */
import { ErrEdgeXSecretStore } from '../errors.ts';
import { reasonOf } from './client.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface SecretStoreIdentityOptions {
  /** The secret store's base URL, e.g. http://127.0.0.1:8200. */
  url: string;
  /** The service key the token was made for (its identity, and its folder of secrets). */
  serviceKey: string;
  /** The token file's text (secrets-token.json). */
  readTokenFile(): Promise<string>;
  timeoutMs: number;
  now?: () => number;
}

export interface SecretStoreIdentity {
  /** A JWT of the service's identity, for EdgeX's REST APIs. */
  jwt(): Promise<string>;
  /** A secret of the service's own store, e.g. message-bus. */
  secret(name: string): Promise<Record<string, string>>;
}

/** The client token of a secrets-token.json. */
export function tokenOfFile(text: string): string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error('the token file is not JSON');
  }
  const token = isObj(doc) && isObj(doc.auth) ? doc.auth.client_token : undefined;
  if (typeof token !== 'string' || token === '') throw new Error('the token file has no auth.client_token');
  return token;
}

/** When a JWT expires (its `exp`, ms), or undefined when it says not. */
function expiryOf(jwt: string): number | undefined {
  const payload = jwt.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return isObj(claims) && typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

class Refused extends Error {}

export function createSecretStoreIdentity(o: SecretStoreIdentityOptions): SecretStoreIdentity {
  const base = o.url.replace(/\/+$/, '');
  const now = o.now ?? Date.now;
  const fail = (reason: string, cause?: unknown): Error => new ErrEdgeXSecretStore({ url: base, reason }, cause === undefined ? undefined : { cause });
  let token: string | undefined;
  /** When the token is to be renewed (half its period left), ms; undefined: not renewable. */
  let renewAt: number | undefined;
  let periodMs = 0;
  let cached: { jwt: string; refreshAt: number } | undefined;

  async function call(method: 'GET' | 'POST', path: string, t: string): Promise<Obj> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${base}${path}`, { method, headers: { 'X-Vault-Token': t, accept: 'application/json' }, signal: AbortSignal.timeout(o.timeoutMs) });
      text = await res.text();
    } catch (err) {
      throw fail(`no answer (${reasonOf(err)})`, err);
    }
    if (res.status === 403) throw new Refused();
    if (res.status < 200 || res.status > 299) throw fail(`${method} ${path} answered ${res.status}`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw fail(`${path} answered no JSON`);
    }
    if (!isObj(body)) throw fail(`${path} answered no object`);
    return body;
  }
  /** Its `data`, which every read answers with. */
  const dataOf = (path: string, body: Obj): Obj => {
    if (!isObj(body.data)) throw fail(`${path} answered no data`);
    return body.data;
  };

  async function load(): Promise<string> {
    let text: string;
    try {
      text = await o.readTokenFile();
    } catch (err) {
      throw fail(`the token of ${o.serviceKey} cannot be read: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    let t: string;
    try {
      t = tokenOfFile(text);
    } catch (err) {
      throw fail(`the token of ${o.serviceKey}: ${(err as Error).message}`);
    }
    const lookup = '/v1/auth/token/lookup-self';
    const data = dataOf(
      lookup,
      await call('GET', lookup, t).catch((err: unknown) => {
        throw err instanceof Refused ? fail(`the token of ${o.serviceKey} is refused (403): secretstore-setup may not have made it yet`) : err;
      }),
    );
    periodMs = (typeof data.period === 'number' ? data.period : 0) * 1000;
    const ttlMs = (typeof data.ttl === 'number' ? data.ttl : 0) * 1000;
    renewAt = data.renewable === true && periodMs > 0 ? now() + ttlMs - periodMs / 2 : undefined;
    token = t;
    cached = undefined;
    return t;
  }

  /** The token, renewed when due. */
  async function current(): Promise<string> {
    const t = token ?? (await load());
    if (renewAt !== undefined && now() >= renewAt) {
      try {
        await call('POST', '/v1/auth/token/renew-self', t);
        renewAt = now() + periodMs / 2;
      } catch (err) {
        if (!(err instanceof Refused)) throw err;
        token = undefined;
        return load();
      }
    }
    return t;
  }

  /** `fn` with the token; refused, once more with the token read again. */
  async function withToken<T>(fn: (t: string) => Promise<T>): Promise<T> {
    try {
      return await fn(await current());
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      token = undefined;
      try {
        return await fn(await load());
      } catch (again) {
        if (again instanceof Refused) throw fail(`the token of ${o.serviceKey} is refused (403)`);
        throw again;
      }
    }
  }

  return {
    async jwt() {
      await current();
      if (cached !== undefined && now() < cached.refreshAt) return cached.jwt;
      const path = `/v1/identity/oidc/token/${encodeURIComponent(o.serviceKey)}`;
      const data = dataOf(path, await withToken((t) => call('GET', path, t)));
      if (typeof data.token !== 'string' || data.token === '') throw fail(`the identity of ${o.serviceKey} answered no token`);
      const issued = now();
      const expires = expiryOf(data.token) ?? issued + (typeof data.ttl === 'number' ? data.ttl * 1000 : 60_000);
      cached = { jwt: data.token, refreshAt: issued + (expires - issued) * 0.8 };
      return data.token;
    },
    async secret(name) {
      const path = `/v1/secret/edgex/${encodeURIComponent(o.serviceKey)}/${encodeURIComponent(name)}`;
      const data = dataOf(path, await withToken((t) => call('GET', path, t)));
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(data)) if (typeof v === 'string') out[k] = v;
      if (Object.keys(out).length === 0) throw fail(`the secret ${name} of ${o.serviceKey} has no keys`);
      return out;
    },
  };
}

/** The bus's login from an identity's `message-bus` secret (EdgeX's known secret: username, password). */
export function messageBusLogin(identity: SecretStoreIdentity, url: string): () => Promise<{ username: string; password: string }> {
  return async () => {
    const s = await identity.secret('message-bus');
    if (s.username === undefined || s.password === undefined) throw new ErrEdgeXSecretStore({ url, reason: 'the message-bus secret has no username and password' });
    return { username: s.username, password: s.password };
  };
}
