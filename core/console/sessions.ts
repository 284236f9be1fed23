/**
 * Console sessions: an operator logs in once with a hub token (admin or
 * viewer) and the browser then holds an HttpOnly, SameSite=Strict cookie
 * instead of the token, so no script on the page can read a credential.
 * Sessions are kept by the hub's token store (only the SHA-256 of the
 * cookie's value): they survive a hub restart, every replica of a hub on
 * PostgreSQL or Kubernetes honours them, and revoking the token ends them.
 * Each use also re-checks the token the session came from, so a token that
 * expires ends its sessions at once. Requests that change anything must
 * also carry the session's CSRF value in `x-edgeadm-csrf`: a header no other
 * site's page can set.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { BrowserSession, BrowserSessions, Principal, SessionRecord, TokenStore } from '../hub/index.ts';
/** Default session lifetime: a working day. */
export const DEFAULT_SESSION_TTL_MS = 12 * 3600 * 1000;
const DEFAULT_MAX_SESSIONS = 10_000;

export interface ConsoleSession extends BrowserSession {
  expiresAt: number;
}

export interface ConsoleSessionsOptions {
  tokens: Pick<TokenStore, 'get' | 'createSession' | 'session' | 'endSession'>;
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
  create(principal: Principal): Promise<{ id: string; session: ConsoleSession }>;
  fromHeaders(headers: IncomingHttpHeaders): Promise<ConsoleSession | undefined>;
  /** Ends the session named by the request's cookie; true when there was one. */
  end(headers: IncomingHttpHeaders): Promise<boolean>;
  /** `Set-Cookie` value that stores `id`, or clears the cookie when `id` is undefined. */
  setCookie(id: string | undefined, maxAgeMs?: number): string;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

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

  const tokenStillValid = async (r: SessionRecord): Promise<boolean> => {
    const info = await opts.tokens.get(r.tokenId);
    if (!info || info.role !== r.role) return false;
    return info.expiresAt === undefined || Date.parse(info.expiresAt) > now();
  };

  const lookup = async (headers: IncomingHttpHeaders): Promise<{ key: string; session: ConsoleSession } | undefined> => {
    const id = cookieValue(headers.cookie, cookieName);
    if (id === undefined || id.length < 20 || id.length > 100) return undefined;
    const key = sha256(id);
    const r = await opts.tokens.session(key);
    if (!r) return undefined;
    if (r.expiresAt <= now() || !(await tokenStillValid(r))) {
      await opts.tokens.endSession(key);
      return undefined;
    }
    return { key, session: { principal: { tokenId: r.tokenId, role: r.role }, csrf: r.csrf, expiresAt: r.expiresAt } };
  };

  return {
    cookieName,
    async create(principal) {
      const id = randomBytes(32).toString('base64url');
      const info = await opts.tokens.get(principal.tokenId);
      const tokenExpiry = info?.expiresAt === undefined ? Infinity : Date.parse(info.expiresAt);
      const session: ConsoleSession = {
        principal: { tokenId: principal.tokenId, role: principal.role },
        csrf: randomBytes(24).toString('base64url'),
        expiresAt: Math.min(now() + ttlMs, tokenExpiry),
      };
      await opts.tokens.createSession({ key: sha256(id), tokenId: principal.tokenId, role: principal.role, csrf: session.csrf, expiresAt: session.expiresAt }, max);
      return { id, session };
    },
    async fromHeaders(headers) {
      return (await lookup(headers))?.session;
    },
    async end(headers) {
      const found = await lookup(headers);
      if (!found) return false;
      return opts.tokens.endSession(found.key);
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
  };
}
