import { describe, expect, it } from 'vitest';
import type { TokenInfo } from '../hub/index.ts';
import { cookieValue, createConsoleSessions } from './sessions.ts';

function tokens(infos: Record<string, Partial<TokenInfo>>) {
  return {
    get: (id: string): TokenInfo | undefined => {
      const i = infos[id];
      return i ? ({ id, role: 'admin', createdAt: '2026-01-01T00:00:00Z', ...i } as TokenInfo) : undefined;
    },
  };
}

describe('cookieValue', () => {
  it('finds a cookie among others, unquotes it, and ignores look-alikes', () => {
    expect(cookieValue('a=1; edgeadm_console=abc; b=2', 'edgeadm_console')).toBe('abc');
    expect(cookieValue('x_edgeadm_console=no; edgeadm_console="q"', 'edgeadm_console')).toBe('q');
    expect(cookieValue('edgeadm_consolex=1', 'edgeadm_console')).toBeUndefined();
    expect(cookieValue(undefined, 'edgeadm_console')).toBeUndefined();
    expect(cookieValue('garbage;;=;', 'edgeadm_console')).toBeUndefined();
  });
});

describe('console sessions', () => {
  it('uses the __Host- prefix and Secure over HTTPS', () => {
    const s = createConsoleSessions({ tokens: tokens({ t1: {} }), secure: true });
    expect(s.cookieName).toBe('__Host-edgeadm_console');
    const { id } = s.create({ tokenId: 't1', role: 'admin' });
    expect(s.setCookie(id)).toBe(`__Host-edgeadm_console=${id}; Max-Age=43200; Path=/; HttpOnly; SameSite=Strict; Secure`);
    expect(s.fromHeaders({ cookie: `__Host-edgeadm_console=${id}` })?.principal.role).toBe('admin');
    // The plain-HTTP name is not accepted by an HTTPS hub.
    expect(s.fromHeaders({ cookie: `edgeadm_console=${id}` })).toBeUndefined();
  });

  it('never outlives its token, and drops the oldest beyond the limit', () => {
    let now = Date.parse('2026-11-26T00:00:00Z');
    const s = createConsoleSessions({
      tokens: tokens({ short: { expiresAt: '2026-11-26T00:10:00Z' }, long: { role: 'viewer' } }),
      secure: false,
      maxSessions: 2,
      now: () => now,
    });
    const short = s.create({ tokenId: 'short', role: 'admin' });
    expect(short.session.expiresAt).toBe(Date.parse('2026-11-26T00:10:00Z'));
    const a = s.create({ tokenId: 'long', role: 'viewer' });
    const b = s.create({ tokenId: 'long', role: 'viewer' });
    expect(s.size()).toBe(2);
    expect(s.fromHeaders({ cookie: `edgeadm_console=${short.id}` })).toBeUndefined();
    expect(s.fromHeaders({ cookie: `edgeadm_console=${a.id}` })).toBeDefined();
    now += 12 * 3600 * 1000;
    expect(s.fromHeaders({ cookie: `edgeadm_console=${b.id}` })).toBeUndefined();
    expect(s.size()).toBe(1);
  });

  it('ends when its token changes role, and all of a token at once', () => {
    const infos: Record<string, Partial<TokenInfo>> = { t: {} };
    const s = createConsoleSessions({ tokens: tokens(infos), secure: false });
    const one = s.create({ tokenId: 't', role: 'admin' });
    const two = s.create({ tokenId: 't', role: 'admin' });
    infos.t = { role: 'viewer' };
    expect(s.fromHeaders({ cookie: `edgeadm_console=${one.id}` })).toBeUndefined();
    infos.t = {};
    expect(s.endToken('t')).toBe(1);
    expect(s.fromHeaders({ cookie: `edgeadm_console=${two.id}` })).toBeUndefined();
  });

  it('compares the CSRF value exactly', () => {
    const s = createConsoleSessions({ tokens: tokens({ t: {} }), secure: false });
    const { session } = s.create({ tokenId: 't', role: 'admin' });
    expect(s.csrfMatches(session, session.csrf)).toBe(true);
    expect(s.csrfMatches(session, `${session.csrf}x`)).toBe(false);
    expect(s.csrfMatches(session, [session.csrf, session.csrf])).toBe(false);
    expect(s.csrfMatches(session, undefined)).toBe(false);
  });
});
