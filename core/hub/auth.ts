/**
 * Authorisation for hub routes. `requireAuth(roles, opts)` builds a hook
 * (use it as `onRequest`, so nothing is parsed for an unauthenticated caller,
 * or as `preHandler`) that verifies the bearer token, sets `request.principal`
 * and checks the role and, for agents, the site. Handlers that learn the site
 * only from the stored object call `authorizeSite`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { ErrCsrf, ErrForbidden, ErrNotConfigured, ErrUnauthenticated } from './errors.ts';
import type { Principal, Role, TokenStore } from './tokens.ts';

/** The header a request by session cookie that changes something carries the session's CSRF value in. */
export const CSRF_HEADER = 'x-edgeadm-csrf';

/** A browser login held in a cookie: it stands in for the token it was made from. */
export interface BrowserSession {
  principal: Principal;
  /** Sent back in `x-edgeadm-csrf` on every request that changes something. */
  csrf: string;
}

/** Cookie logins a hub module offers (the console's sessions), as authentication sees them. */
export interface BrowserSessions {
  /** The live session named by the request's cookie, if any. */
  fromHeaders(headers: IncomingHttpHeaders): Promise<BrowserSession | undefined>;
  /** True when `value` is the session's CSRF value (constant time). */
  csrfMatches(session: BrowserSession, value: string | string[] | undefined): boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller, set by `requireAuth`; undefined on routes without it. */
    principal?: Principal;
    /** True when the principal came from a browser session cookie. */
    viaBrowserSession?: boolean;
  }
  interface FastifyInstance {
    /** The token verifier `requireAuth` uses, decorated by `buildHubApp`. */
    hubTokens?: Pick<TokenStore, 'verify' | 'get'>;
    /** Cookie logins, when a module of the hub (the console) offers them. */
    browserSessions?: BrowserSessions;
  }
}

export interface RequireAuthOptions {
  /** Route parameter naming the site the request is about: an agent passes only for its own site. */
  siteParam?: string;
  /**
   * Also accept the token as `?access_token=` (for SSE and WebSocket routes:
   * browsers cannot set headers on EventSource or WebSocket).
   */
  queryToken?: boolean;
}

/**
 * A promise-style hook: usable as `onRequest` or `preHandler` on any route
 * (the reply is not used). It rejects with the coded 401/403.
 */
export type AuthHook = (request: FastifyRequest, reply?: unknown) => Promise<void>;

const BEARER_RE = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

function bearerOf(request: FastifyRequest, queryToken: boolean): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string' && header !== '') {
    const m = BEARER_RE.exec(header);
    if (!m) throw new ErrUnauthenticated({ reason: "the Authorization header must read 'Bearer <token>'" });
    return m[1];
  }
  if (queryToken) {
    const q = request.url.indexOf('?');
    if (q >= 0) {
      const t = new URLSearchParams(request.url.slice(q + 1)).get('access_token');
      if (t !== null && t !== '') return t;
    }
  }
  return undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether the request asks to become a WebSocket. */
export function isWebSocketUpgrade(request: FastifyRequest): boolean {
  const upgrade = request.headers.upgrade;
  return typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket';
}

/**
 * Verifies the request's token once and caches the principal on the request.
 * Without a token, a browser session cookie (the console's) stands in for one; a request by
 * cookie that changes something must also carry the session's CSRF value.
 * A cookie never opens a WebSocket: a WebSocket handshake carries no CSRF
 * value, and the console needs none (its live views are Server-Sent Events).
 */
export async function authenticate(request: FastifyRequest, opts: { queryToken?: boolean } = {}): Promise<Principal> {
  if (request.principal) return request.principal;
  const tokens = request.server.hubTokens;
  if (!tokens) throw new ErrNotConfigured({ what: 'token verification (hubTokens)' });
  const token = bearerOf(request, opts.queryToken === true);
  if (token === undefined) {
    const sessions = request.server.browserSessions;
    const session = isWebSocketUpgrade(request) ? undefined : await sessions?.fromHeaders(request.headers);
    if (sessions && session) {
      if (!SAFE_METHODS.has(request.method) && !sessions.csrfMatches(session, request.headers[CSRF_HEADER])) {
        throw new ErrCsrf({ header: CSRF_HEADER });
      }
      request.principal = session.principal;
      request.viaBrowserSession = true;
      return session.principal;
    }
    throw new ErrUnauthenticated({
      reason: opts.queryToken === true ? 'send Authorization: Bearer <token> or ?access_token=<token>' : 'send Authorization: Bearer <token>',
    });
  }
  const principal = await tokens.verify(token);
  if (!principal) throw new ErrUnauthenticated({ reason: 'the token is invalid, expired or revoked' });
  request.principal = principal;
  return principal;
}

/**
 * For long-lived requests (live streams): does what authenticated the
 * request still hold? False once its token is revoked or expired, or its
 * console session ended (logout, lifetime).
 */
export async function stillAuthorized(request: FastifyRequest): Promise<boolean> {
  const p = request.principal;
  if (!p) return false;
  try {
    if (request.viaBrowserSession) return (await request.server.browserSessions?.fromHeaders(request.headers)) !== undefined;
    const info = await request.server.hubTokens?.get(p.tokenId);
    return info !== undefined && (info.expiresAt === undefined || Date.parse(info.expiresAt) > Date.now());
  } catch (err) {
    // The store is away for a moment: the stream goes on until it answers again.
    request.log.warn({ error: (err as Error).message }, 'could not check whether a live client is still authorised');
    return true;
  }
}

function actionOf(request: FastifyRequest): string {
  return `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0] ?? ''}`;
}

/** Throws 403 unless the principal may act on `site` (admins and viewers may; an agent only on its own). */
export function authorizeSite(principal: Principal, site: string | undefined, action: string): void {
  if (principal.role !== 'agent') return;
  if (site === undefined || site !== principal.site) {
    throw new ErrForbidden({
      tokenId: principal.tokenId,
      role: principal.role,
      action,
      site: site ?? '(none)',
      ...(principal.site === undefined ? {} : { ownSite: principal.site }),
    });
  }
}

/** The principal `requireAuth` set; throws 401 on a route that has no `requireAuth`. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new ErrUnauthenticated({ reason: 'this route did not authenticate the request' });
  return request.principal;
}

/**
 * A hook that admits only a valid token whose role is in `roles`; with
 * `siteParam`, an agent only for the site named by that route parameter.
 * 401 EDGE_ERR_HUB_UNAUTHENTICATED when the token is missing or invalid,
 * 403 EDGE_ERR_HUB_FORBIDDEN (naming the site) otherwise.
 */
export function requireAuth(roles: readonly Role[], opts: RequireAuthOptions = {}): AuthHook {
  const allowed = new Set<Role>(roles);
  const queryToken = opts.queryToken === true;
  return async (request) => {
    const principal = await authenticate(request, { queryToken });
    if (!allowed.has(principal.role)) {
      throw new ErrForbidden({ tokenId: principal.tokenId, role: principal.role, action: actionOf(request) });
    }
    if (opts.siteParam !== undefined) {
      const params = request.params as Record<string, unknown> | undefined;
      const site = params?.[opts.siteParam];
      authorizeSite(principal, typeof site === 'string' ? site : undefined, actionOf(request));
    }
  };
}
