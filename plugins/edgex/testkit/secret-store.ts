/**
 * A stand-in for EdgeX's secret store (OpenBao) in tests, where no OpenBao
 * runs: the part of its HTTP API an EdgeX service uses with its own token,
 * with OpenBao's semantics for it.
 *
 *   GET  /v1/auth/token/lookup-self     data {ttl, period, renewable, meta.edgex-service-name}
 *   POST /v1/auth/token/renew-self      resets the ttl to the period; auth {client_token, lease_duration, renewable}
 *   GET  /v1/identity/oidc/token/<role> data {token, client_id, ttl}: a JWT (HS256) of the token's
 *                                       identity; another role is 400 ("no role")
 *   GET  /v1/secret/edgex/<key>/<name>  KV v1: data {...}; only under the token's own key (403 else),
 *                                       404 for a secret that is not there
 *
 * The token goes in X-Vault-Token; a missing, unknown, revoked or expired
 * one is 403 {"errors":["permission denied"]}. Time is the stand-in's clock
 * (`advance`), so expiry is tested without waiting.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

interface TokenState {
  key: string;
  period: number;
  expiresAt: number;
  revoked: boolean;
}

export interface SecretStoreStandIn {
  url: string;
  /** Makes a periodic token for a service key; returns its secrets-token.json text, as secretstore-setup writes it. */
  issue(serviceKey: string, periodSeconds?: number): { token: string; file: string };
  /** Seeds a secret of a service key's store. */
  seed(serviceKey: string, name: string, data: Record<string, string>): void;
  revoke(token: string): void;
  /** Moves the stand-in's clock on. */
  advance(seconds: number): void;
  /** Checks a JWT it issued: its identity, or undefined when forged or expired. */
  verify(jwt: string): string | undefined;
  /** Requests by path (the token never recorded). */
  calls: string[];
  close(): Promise<void>;
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

export async function startSecretStoreStandIn(o: { jwtTtlSeconds?: number } = {}): Promise<SecretStoreStandIn> {
  const signKey = randomBytes(32);
  const tokens = new Map<string, TokenState>();
  const secrets = new Map<string, Record<string, string>>();
  let clock = Math.floor(Date.now() / 1000);
  const jwtTtl = o.jwtTtlSeconds ?? 900;
  const calls: string[] = [];

  const sign = (sub: string): string => {
    const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iss: 'http://edgex-secret-store:8200/v1/identity/oidc', sub, aud: 'edgex', iat: clock, exp: clock + jwtTtl })}`;
    return `${head}.${createHmac('sha256', signKey).update(head).digest('base64url')}`;
  };

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    calls.push(`${req.method} ${path}`);
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const header = req.headers['x-vault-token'];
    const t = typeof header === 'string' ? tokens.get(header) : undefined;
    if (t === undefined || t.revoked || t.expiresAt <= clock) return send(403, { errors: ['permission denied'] });
    if (req.method === 'GET' && path === '/v1/auth/token/lookup-self') {
      return send(200, { data: { ttl: t.expiresAt - clock, period: t.period, renewable: true, meta: { 'edgex-service-name': t.key } } });
    }
    if (req.method === 'POST' && path === '/v1/auth/token/renew-self') {
      t.expiresAt = clock + t.period;
      return send(200, { auth: { client_token: header, lease_duration: t.period, renewable: true } });
    }
    const oidc = /^\/v1\/identity\/oidc\/token\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && oidc) {
      const role = decodeURIComponent(oidc[1]!);
      if (role !== t.key) return send(400, { errors: [`no role named "${role}"`] });
      return send(200, { data: { token: sign(t.key), client_id: t.key, ttl: jwtTtl } });
    }
    const kv = /^\/v1\/secret\/edgex\/([^/]+)\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && kv) {
      const key = decodeURIComponent(kv[1]!);
      if (key !== t.key) return send(403, { errors: ['1 error occurred:\n\t* permission denied\n\n'] });
      const data = secrets.get(`${key}/${decodeURIComponent(kv[2]!)}`);
      return data === undefined ? send(404, { errors: [] }) : send(200, { request_id: 'x', lease_duration: 604800, renewable: false, data });
    }
    send(404, { errors: [] });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    issue(serviceKey, periodSeconds = 3600) {
      const token = `s.${randomBytes(12).toString('hex')}`;
      tokens.set(token, { key: serviceKey, period: periodSeconds, expiresAt: clock + periodSeconds, revoked: false });
      const file = JSON.stringify({ request_id: 'x', auth: { client_token: token, accessor: 'a', policies: ['default', `edgex-service-${serviceKey}`], lease_duration: periodSeconds, renewable: true } });
      return { token, file };
    },
    seed(serviceKey, name, data) {
      secrets.set(`${serviceKey}/${name}`, { ...data });
    },
    revoke(token) {
      const t = tokens.get(token);
      if (t) t.revoked = true;
    },
    advance(seconds) {
      clock += seconds;
    },
    verify(jwt) {
      const [h, p, sig] = jwt.split('.');
      if (h === undefined || p === undefined || sig !== createHmac('sha256', signKey).update(`${h}.${p}`).digest('base64url')) return undefined;
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as { sub: string; exp: number };
      return claims.exp > clock ? claims.sub : undefined;
    },
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
