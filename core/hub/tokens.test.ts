import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HubErrors, openTokenStore, type TokenStore } from './index.ts';

const dirs: string[] = [];
const stores: TokenStore[] = [];
function open(now?: () => number): { store: TokenStore; file: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-tokens-'));
  dirs.push(dir);
  const file = path.join(dir, 'tokens.db');
  const store = openTokenStore({ file, ...(now ? { now } : {}) });
  stores.push(store);
  return { store, file };
}

afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('token store', () => {
  it('creates edgeadm_<id>_<secret> tokens that verify to their principal', () => {
    const { store } = open();
    const admin = store.create({ role: 'admin', description: 'ops' });
    expect(admin.token).toMatch(/^edgeadm_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/);
    expect(admin.token.startsWith(`edgeadm_${admin.id}_`)).toBe(true);
    expect(store.verify(admin.token)).toEqual({ tokenId: admin.id, role: 'admin' });
    const agent = store.create({ role: 'agent', site: 'plant-a' });
    expect(store.verify(agent.token)).toEqual({ tokenId: agent.id, role: 'agent', site: 'plant-a' });
    expect(admin.id).not.toBe(agent.id);
  });

  it('stores only a hash of the secret and lists no secrets', () => {
    const { store, file } = open();
    const t = store.create({ role: 'viewer' });
    const secret = t.token.slice(17);
    store.close();
    for (const f of [file, `${file}-wal`]) {
      let bytes = '';
      try {
        bytes = readFileSync(f).toString('latin1');
      } catch {
        continue;
      }
      expect(bytes.includes(secret)).toBe(false);
    }
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = openTokenStore({ file });
    stores.push(again);
    const listed = again.list();
    expect(listed).toHaveLength(1);
    expect(JSON.stringify(listed)).not.toContain(secret);
    expect(listed[0]).toMatchObject({ id: t.id, role: 'viewer', description: '' });
    expect(again.verify(t.token)).toEqual({ tokenId: t.id, role: 'viewer' });
  });

  it('refuses malformed, unknown, tampered, revoked and expired tokens', () => {
    let now = 1_700_000_000_000;
    const { store } = open(() => now);
    const t = store.create({ role: 'admin', ttlSeconds: 60 });
    expect(store.verify('')).toBeUndefined();
    expect(store.verify('Bearer x')).toBeUndefined();
    expect(store.verify(t.token.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')))).toBeUndefined();
    expect(store.verify(t.token.replace(t.id, 'zzzzzzzz'))).toBeUndefined();
    expect(store.verify(t.token)).toBeDefined();
    expect(t.expiresAt).toBe(new Date(now + 60_000).toISOString());
    now += 60_000;
    expect(store.verify(t.token)).toBeUndefined();

    const u = store.create({ role: 'viewer' });
    expect(store.revoke(u.id)).toBe(true);
    expect(store.revoke(u.id)).toBe(false);
    expect(store.verify(u.token)).toBeUndefined();
    expect(store.get(u.id)).toBeUndefined();
  });

  it('records lastUsedAt', () => {
    let now = 1_700_000_000_000;
    const { store } = open(() => now);
    const t = store.create({ role: 'viewer' });
    expect(store.get(t.id)?.lastUsedAt).toBeUndefined();
    store.verify(t.token);
    expect(store.get(t.id)?.lastUsedAt).toBe(new Date(now).toISOString());
    now += 120_000;
    store.verify(t.token);
    expect(store.get(t.id)?.lastUsedAt).toBe(new Date(now).toISOString());
  });

  it('requires a site for agents only, and checks the rest of the request', () => {
    const { store } = open();
    const bad = (o: Parameters<TokenStore['create']>[0]) => () => store.create(o);
    expect(bad({ role: 'agent' })).toThrow(HubErrors.ErrTokenInvalid);
    expect(bad({ role: 'agent' })).toThrow(/site is required for role agent/);
    expect(bad({ role: 'admin', site: 'plant-a' })).toThrow(/only allowed for role agent/);
    expect(bad({ role: 'agent', site: 'Plant A' })).toThrow(/not a valid site name/);
    expect(bad({ role: 'root' as 'admin' })).toThrow(/role must be one of/);
    expect(bad({ role: 'viewer', ttlSeconds: 0 })).toThrow(/ttlSeconds/);
    expect(store.list()).toEqual([]);
  });

  it('has no built-in tokens and refuses work once closed', () => {
    const { store } = open();
    expect(store.list()).toEqual([]);
    store.close();
    expect(() => store.list()).toThrow(HubErrors.ErrStoreClosed);
  });

  it('issues node credentials (agent tokens bound to a node) and revokes all of a node at once', () => {
    const { store } = open();
    const a = store.create({ role: 'agent', site: 'plant-a', node: 'gw-1' });
    const b = store.create({ role: 'agent', site: 'plant-a', node: 'gw-1' });
    const other = store.create({ role: 'agent', site: 'plant-a', node: 'gw-2' });
    expect(store.verify(a.token)).toEqual({ tokenId: a.id, role: 'agent', site: 'plant-a', node: 'gw-1' });
    expect(store.get(b.id)).toMatchObject({ node: 'gw-1', site: 'plant-a' });
    expect(store.revokeNode('gw-1')).toBe(2);
    expect(store.verify(a.token)).toBeUndefined();
    expect(store.verify(b.token)).toBeUndefined();
    expect(store.verify(other.token)).toMatchObject({ node: 'gw-2' });
    expect(() => store.create({ role: 'admin', node: 'gw-1' })).toThrow(/node is only allowed for role agent/);
    expect(() => store.create({ role: 'agent', site: 'plant-a', node: 'GW 1' })).toThrow(/not a valid node name/);
  });

  it('keeps kubeadm-style bootstrap tokens that always expire, may be scoped to a site, and count their uses', () => {
    let now = 1_700_000_000_000;
    const { store, file } = open(() => now);
    const t = store.createBootstrap({ site: 'plant-a', description: 'line 3 gateways', ttlSeconds: 3600 });
    expect(t.token).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    expect(t.token.startsWith(`${t.id}.`)).toBe(true);
    expect(t).toMatchObject({ site: 'plant-a', uses: 0, expiresAt: new Date(now + 3_600_000).toISOString() });
    expect(store.verifyBootstrap(t.token)).toEqual({ id: t.id, site: 'plant-a' });
    expect(store.verifyBootstrap(t.token, true)).toEqual({ id: t.id, site: 'plant-a' });
    expect(store.listBootstrap()).toEqual([expect.objectContaining({ id: t.id, uses: 1 })]);
    expect(JSON.stringify(store.listBootstrap())).not.toContain(t.token.slice(7));
    // A bootstrap token is not a hub token, nor the other way round.
    expect(store.verify(t.token)).toBeUndefined();
    const admin = store.create({ role: 'admin' });
    expect(store.verifyBootstrap(admin.token)).toBeUndefined();
    expect(store.verifyBootstrap(`${t.id}.${'0'.repeat(16)}`)).toBeUndefined();
    const unscoped = store.createBootstrap({});
    expect(store.verifyBootstrap(unscoped.token)).toEqual({ id: unscoped.id });
    expect(unscoped.expiresAt).toBe(new Date(now + 24 * 3_600_000).toISOString());
    now += 3_600_000;
    expect(store.verifyBootstrap(t.token)).toBeUndefined();
    expect(store.revokeBootstrap(unscoped.id)).toBe(true);
    expect(store.verifyBootstrap(unscoped.token)).toBeUndefined();
    expect(() => store.createBootstrap({ ttlSeconds: 0 })).toThrow(/ttlSeconds/);
    expect(() => store.createBootstrap({ site: 'No Site' })).toThrow(/not a valid site name/);
    // Secrets are kept only as hashes.
    store.close();
    expect(readFileSync(file).toString('latin1').includes(t.token.slice(7))).toBe(false);
  });

  it('adds the node column to a token file from before node credentials', async () => {
    const { default: Database } = await import('better-sqlite3');
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-tokens-'));
    dirs.push(dir);
    const file = path.join(dir, 'tokens.db');
    const db = new Database(file);
    db.exec(`CREATE TABLE tokens (id TEXT PRIMARY KEY, secret_hash BLOB NOT NULL, role TEXT NOT NULL CHECK (role IN ('admin', 'viewer', 'agent')),
      site TEXT, description TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, expires_at INTEGER, last_used_at INTEGER,
      CHECK ((role = 'agent') = (site IS NOT NULL))) STRICT`);
    db.close();
    const store = openTokenStore({ file });
    stores.push(store);
    const t = store.create({ role: 'agent', site: 's', node: 'n' });
    expect(store.verify(t.token)).toMatchObject({ node: 'n' });
  });
});
