import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openTokenStore, type TokenStore } from '../hub/index.ts';
import { cookieValue, createConsoleSessions } from './sessions.ts';

const dirs: string[] = [];
const stores: TokenStore[] = [];

/** A token store in a SQLite file of its own (the store sessions live in). */
function tokenStore(file?: string, now?: () => number): { tokens: TokenStore; file: string } {
  if (file === undefined) {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-sessions-'));
    dirs.push(dir);
    file = path.join(dir, 'tokens.db');
  }
  const tokens = openTokenStore({ file, ...(now ? { now } : {}) });
  stores.push(tokens);
  return { tokens, file };
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

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
  it('uses the __Host- prefix and Secure over HTTPS', async () => {
    const { tokens } = tokenStore();
    const t = await tokens.create({ role: 'admin' });
    const s = createConsoleSessions({ tokens, secure: true });
    expect(s.cookieName).toBe('__Host-edgeadm_console');
    const { id } = await s.create({ tokenId: t.id, role: 'admin' });
    expect(s.setCookie(id)).toBe(`__Host-edgeadm_console=${id}; Max-Age=43200; Path=/; HttpOnly; SameSite=Strict; Secure`);
    expect((await s.fromHeaders({ cookie: `__Host-edgeadm_console=${id}` }))?.principal).toEqual({ tokenId: t.id, role: 'admin' });
    // The plain-HTTP name is not accepted by an HTTPS hub.
    expect(await s.fromHeaders({ cookie: `edgeadm_console=${id}` })).toBeUndefined();
  });

  it('never outlives its token, and drops the oldest beyond the limit', async () => {
    let now = Date.parse('2026-11-26T00:00:00Z');
    const { tokens } = tokenStore(undefined, () => now);
    const short = await tokens.create({ role: 'admin', ttlSeconds: 600 });
    const long = await tokens.create({ role: 'viewer' });
    const s = createConsoleSessions({ tokens, secure: false, maxSessions: 2, now: () => now });
    const first = await s.create({ tokenId: short.id, role: 'admin' });
    expect(first.session.expiresAt).toBe(Date.parse('2026-11-26T00:10:00Z'));
    now += 1;
    const a = await s.create({ tokenId: long.id, role: 'viewer' });
    now += 1;
    const b = await s.create({ tokenId: long.id, role: 'viewer' });
    // Three made, two kept: the oldest went.
    expect(await s.fromHeaders({ cookie: `edgeadm_console=${first.id}` })).toBeUndefined();
    expect(await s.fromHeaders({ cookie: `edgeadm_console=${a.id}` })).toBeDefined();
    now += 12 * 3600 * 1000;
    expect(await s.fromHeaders({ cookie: `edgeadm_console=${b.id}` })).toBeUndefined();
  });

  it('ends when its token is revoked or expires', async () => {
    let now = Date.parse('2026-11-26T00:00:00Z');
    const { tokens } = tokenStore(undefined, () => now);
    const t = await tokens.create({ role: 'admin' });
    const brief = await tokens.create({ role: 'viewer', ttlSeconds: 60 });
    const s = createConsoleSessions({ tokens, secure: false, now: () => now });
    const one = await s.create({ tokenId: t.id, role: 'admin' });
    const two = await s.create({ tokenId: brief.id, role: 'viewer' });
    expect(await tokens.revoke(t.id)).toBe(true);
    expect(await s.fromHeaders({ cookie: `edgeadm_console=${one.id}` })).toBeUndefined();
    expect(await s.fromHeaders({ cookie: `edgeadm_console=${two.id}` })).toBeDefined();
    now += 61_000;
    expect(await s.fromHeaders({ cookie: `edgeadm_console=${two.id}` })).toBeUndefined();
  });

  it('survives a restart of the hub, and a logout through one hub holds on another', async () => {
    const { tokens, file } = tokenStore();
    const t = await tokens.create({ role: 'admin' });
    const before = createConsoleSessions({ tokens, secure: false });
    const { id, session } = await before.create({ tokenId: t.id, role: 'admin' });
    await tokens.close();
    // A hub started again on the same file, and a second one beside it.
    const again = createConsoleSessions({ tokens: tokenStore(file).tokens, secure: false });
    const other = createConsoleSessions({ tokens: tokenStore(file).tokens, secure: false });
    expect(await again.fromHeaders({ cookie: `edgeadm_console=${id}` })).toEqual(session);
    expect(await other.fromHeaders({ cookie: `edgeadm_console=${id}` })).toEqual(session);
    expect(await other.end({ cookie: `edgeadm_console=${id}` })).toBe(true);
    expect(await again.fromHeaders({ cookie: `edgeadm_console=${id}` })).toBeUndefined();
    expect(await again.end({ cookie: `edgeadm_console=${id}` })).toBe(false);
  });

  it('compares the CSRF value exactly', async () => {
    const { tokens } = tokenStore();
    const t = await tokens.create({ role: 'admin' });
    const s = createConsoleSessions({ tokens, secure: false });
    const { session } = await s.create({ tokenId: t.id, role: 'admin' });
    expect(s.csrfMatches(session, session.csrf)).toBe(true);
    expect(s.csrfMatches(session, `${session.csrf}x`)).toBe(false);
    expect(s.csrfMatches(session, [session.csrf, session.csrf])).toBe(false);
    expect(s.csrfMatches(session, undefined)).toBe(false);
  });
});
