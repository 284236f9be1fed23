/**
 * Console sessions: an operator logs in once with a hub token (admin or
 * viewer) and the browser then holds an HttpOnly, SameSite=Strict cookie
 * instead of the token, so no script on the page can read a credential.
 * Sessions live in the hub's memory (a hub restart logs everyone out); the
 * cookie's value is kept only as its SHA-256. Each use re-checks the token
 * the session came from, so revoking or expiring that token ends the session
 * at once. Requests that change anything must also carry the session's CSRF
 * value in `x-edgeadm-csrf`: a header no other site's page can set.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { BrowserSession, BrowserSessions, Principal, TokenStore } from '../hub/index.ts';
/** Default session lifetime: a working day. */
export const DEFAULT_SESSION_TTL_MS = 12 * 3600 * 1000;
const DEFAULT_MAX_SESSIONS = 10_000;

export interface ConsoleSession extends BrowserSession {
  expiresAt: number;
}

export interface ConsoleSessionsOptions {
  tokens: Pick<TokenStore, 'get'>;
  /** Lifetime of a session (ms), capped by its token's expiry. */
  ttlMs?: number;
  /** Oldest sessions are dropped beyond this many. */
  maxSessions?: number;
  /** Serve the cookie with `Secure` and the `__Host-` prefix (the hub speaks HTTPS). */
  secure: boolean;
  now?: () => number;
}

export interface ConsoleSessions extends BrowserSessions {
  /** The cookie's name: `__Host-edgeadm_console` over HTTPS, `edgeadm_console` otherwise. */
  readonly cookieName: string;
  /** Starts a session for a verified principal; returns the cookie value (shown nowhere else) and the session. */
  create(principal: Principal): { id: string; session: ConsoleSession };
  fromHeaders(headers: IncomingHttpHeaders): ConsoleSession | undefined;
  /** Ends the session named by the request's cookie; true when there was one. */
  end(headers: IncomingHttpHeaders): boolean;
  /** Ends every session of a token (e.g. when it is revoked through the API). */
  endToken(tokenId: string): number;
  /** `Set-Cookie` value that stores `id`, or clears the cookie when `id` is undefined. */
  setCookie(id: string | undefined, maxAgeMs?: number): string;
  size(): number;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('base64url');

/** Cookie header → value of `name` (first occurrence), per RFC 6265's parsing of `name=value; …`. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined || header === '') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let v = part.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
    return v;
  }
  return undefined;
}

export function createConsoleSessions(opts: ConsoleSessionsOptions): ConsoleSessions {
  const ttlMs = opts.ttlMs ?? DEFAULT_SESSION_TTL_MS;
  const max = opts.maxSessions ?? DEFAULT_MAX_SESSIONS;
  const now = opts.now ?? Date.now;
  const cookieName = opts.secure ? '__Host-edgeadm_console' : 'edgeadm_console';
  /** By SHA-256 of the cookie value; a Map keeps insertion order, so the first key is the oldest. */
  const sessions = new Map<string, ConsoleSession>();

  const tokenStillValid = (s: ConsoleSession): boolean => {
    const info = opts.tokens.get(s.principal.tokenId);
    if (!info || info.role !== s.principal.role) return false;
    return info.expiresAt === undefined || Date.parse(info.expiresAt) > now();
  };

  const lookup = (headers: IncomingHttpHeaders): { key: string; session: ConsoleSession } | undefined => {
    const id = cookieValue(headers.cookie, cookieName);
    if (id === undefined || id.length < 20 || id.length > 100) return undefined;
    const key = sha256(id);
    const session = sessions.get(key);
    if (!session) return undefined;
    if (session.expiresAt <= now() || !tokenStillValid(session)) {
      sessions.delete(key);
      return undefined;
    }
    return { key, session };
  };

  return {
    cookieName,
    create(principal) {
      const id = randomBytes(32).toString('base64url');
      const info = opts.tokens.get(principal.tokenId);
      const tokenExpiry = info?.expiresAt === undefined ? Infinity : Date.parse(info.expiresAt);
      const session: ConsoleSession = {
        principal: { tokenId: principal.tokenId, role: principal.role },
        csrf: randomBytes(24).toString('base64url'),
        expiresAt: Math.min(now() + ttlMs, tokenExpiry),
      };
      sessions.set(sha256(id), session);
      while (sessions.size > max) {
        const oldest = sessions.keys().next().value;
        if (oldest === undefined) break;
        sessions.delete(oldest);
      }
      return { id, session };
    },
    fromHeaders(headers) {
      return lookup(headers)?.session;
    },
    end(headers) {
      const found = lookup(headers);
      if (!found) return false;
      sessions.delete(found.key);
      return true;
    },
    endToken(tokenId) {
      let n = 0;
      for (const [key, s] of sessions) {
        if (s.principal.tokenId === tokenId) {
          sessions.delete(key);
          n++;
        }
      }
      return n;
    },
    csrfMatches(session, value) {
      if (typeof value !== 'string') return false;
      const a = Buffer.from(value);
      const b = Buffer.from(session.csrf);
      return a.length === b.length && timingSafeEqual(a, b);
    },
    setCookie(id, maxAgeMs) {
      const attrs = ['Path=/', 'HttpOnly', 'SameSite=Strict', ...(opts.secure ? ['Secure'] : [])];
      if (id === undefined) return [`${cookieName}=`, 'Max-Age=0', ...attrs].join('; ');
      return [`${cookieName}=${id}`, `Max-Age=${Math.max(1, Math.round((maxAgeMs ?? ttlMs) / 1000))}`, ...attrs].join('; ');
    },
    size: () => sessions.size,
  };
}
