/**
 * The TokenStore contract on every driver (a SQLite file; Secrets on the
 * Kubernetes API test server; a real PostgreSQL), then what only one driver
 * has: the file's layout and migration, the Secrets' content, and replicas
 * sharing them.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access -- raw answers are arbitrary Kubernetes JSON (RawResponse.body) */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { kubeStoreTarget } from '../../test/support/hub/kube.ts';
import { rawClient } from '../../test/support/kube-apiserver/client.ts';
import { waitFor } from '../../test/support/hub-fixture.ts';
import { startPostgres, type Postgres } from '../../test/support/postgres.ts';
import { HubErrors, openTokenStore, type TokenStore } from './index.ts';
import { openKubeTokenStore } from './tokens-kube.ts';
import { openPostgresTokenStore } from './tokens-postgres.ts';

const DRIVERS = ['sqlite', 'kube', 'postgres'] as const;
type Driver = (typeof DRIVERS)[number];

const dirs: string[] = [];
const stores: TokenStore[] = [];

interface Opened {
  store: TokenStore;
  /** Another store on the same data: the file opened again, or a second replica on the namespace. */
  another: () => Promise<TokenStore>;
}

let pgServer: Promise<Postgres> | undefined;
let databases = 0;
/** A new, empty database on the file's one PostgreSQL server (started at first use). */
async function pgDatabase(): Promise<string> {
  pgServer ??= startPostgres();
  return (await pgServer).database(`tokens${process.pid}_${++databases}`);
}
afterAll(async () => {
  await (await pgServer)?.close();
});

async function openPostgres(url: string, now?: () => number): Promise<TokenStore> {
  const s = await openPostgresTokenStore({ url, ...(now ? { now } : {}) });
  stores.push(s);
  return s;
}

async function open(driver: Driver, now?: () => number): Promise<Opened> {
  if (driver === 'postgres') {
    const url = await pgDatabase();
    return { store: await openPostgres(url, now), another: () => openPostgres(url, now) };
  }
  if (driver === 'sqlite') {
    const { store, file } = openFile(now);
    return {
      store,
      another: () => {
        const again = openTokenStore({ file, ...(now ? { now } : {}) });
        stores.push(again);
        return Promise.resolve(again);
      },
    };
  }
  const target = await kubeStoreTarget();
  const make = async (): Promise<TokenStore> => {
    const s = await openKubeTokenStore({ kubeConfig: target.kubeConfig, namespace: target.namespace, ...(now ? { now } : {}) });
    stores.push(s);
    return s;
  };
  return { store: await make(), another: make };
}

function openFile(now?: () => number): { store: TokenStore; file: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-tokens-'));
  dirs.push(dir);
  const file = path.join(dir, 'tokens.db');
  const store = openTokenStore({ file, ...(now ? { now } : {}) });
  stores.push(store);
  return { store, file };
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe.each(DRIVERS)('token store on %s', (driver) => {
  it('creates edgeadm_<id>_<secret> tokens that verify to their principal', async () => {
    const { store } = await open(driver);
    const admin = await store.create({ role: 'admin', description: 'ops' });
    expect(admin.token).toMatch(/^edgeadm_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/);
    expect(admin.token.startsWith(`edgeadm_${admin.id}_`)).toBe(true);
    expect(await store.verify(admin.token)).toEqual({ tokenId: admin.id, role: 'admin' });
    const agent = await store.create({ role: 'agent', site: 'plant-a' });
    expect(await store.verify(agent.token)).toEqual({ tokenId: agent.id, role: 'agent', site: 'plant-a' });
    expect(admin.id).not.toBe(agent.id);
  });

  it('lists no secrets, and another store on the same data (a reopened file, a second replica) knows the token', async () => {
    const { store, another } = await open(driver);
    const t = await store.create({ role: 'viewer' });
    const secret = t.token.slice(17);
    const again = await another();
    const listed = await again.list();
    expect(listed).toHaveLength(1);
    expect(JSON.stringify(listed)).not.toContain(secret);
    expect(listed[0]).toMatchObject({ id: t.id, role: 'viewer', description: '' });
    expect(await again.verify(t.token)).toEqual({ tokenId: t.id, role: 'viewer' });
  });

  it('refuses malformed, unknown, tampered, revoked and expired tokens', async () => {
    let now = 1_700_000_000_000;
    const { store } = await open(driver, () => now);
    const t = await store.create({ role: 'admin', ttlSeconds: 60 });
    expect(await store.verify('')).toBeUndefined();
    expect(await store.verify('Bearer x')).toBeUndefined();
    expect(await store.verify(t.token.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')))).toBeUndefined();
    expect(await store.verify(t.token.replace(t.id, 'zzzzzzzz'))).toBeUndefined();
    expect(await store.verify(t.token)).toBeDefined();
    expect(t.expiresAt).toBe(new Date(now + 60_000).toISOString());
    now += 60_000;
    expect(await store.verify(t.token)).toBeUndefined();

    const u = await store.create({ role: 'viewer' });
    expect(await store.revoke(u.id)).toBe(true);
    expect(await store.revoke(u.id)).toBe(false);
    expect(await store.verify(u.token)).toBeUndefined();
    expect(await store.get(u.id)).toBeUndefined();
  });

  it('records lastUsedAt', async () => {
    let now = 1_700_000_000_000;
    const { store } = await open(driver, () => now);
    const t = await store.create({ role: 'viewer' });
    expect((await store.get(t.id))?.lastUsedAt).toBeUndefined();
    await store.verify(t.token);
    expect((await store.get(t.id))?.lastUsedAt).toBe(new Date(now).toISOString());
    now += 120_000;
    await store.verify(t.token);
    expect((await store.get(t.id))?.lastUsedAt).toBe(new Date(now).toISOString());
  });

  it('requires a site for agents only, and checks the rest of the request', async () => {
    const { store } = await open(driver);
    const bad = (o: Parameters<TokenStore['create']>[0]) => store.create(o);
    await expect(bad({ role: 'agent' })).rejects.toThrow(HubErrors.ErrTokenInvalid);
    await expect(bad({ role: 'agent' })).rejects.toThrow(/site is required for role agent/);
    await expect(bad({ role: 'admin', site: 'plant-a' })).rejects.toThrow(/only allowed for role agent/);
    await expect(bad({ role: 'agent', site: 'Plant A' })).rejects.toThrow(/not a valid site name/);
    await expect(bad({ role: 'root' as 'admin' })).rejects.toThrow(/role must be one of/);
    await expect(bad({ role: 'viewer', ttlSeconds: 0 })).rejects.toThrow(/ttlSeconds/);
    expect(await store.list()).toEqual([]);
  });

  it('has no built-in tokens and refuses work once closed', async () => {
    const { store } = await open(driver);
    expect(await store.list()).toEqual([]);
    await store.close();
    await expect(store.list()).rejects.toThrow(HubErrors.ErrStoreClosed);
    await expect(store.verify('edgeadm_aaaaaaaa_' + 'A'.repeat(43))).rejects.toThrow(HubErrors.ErrStoreClosed);
  });

  it('issues node credentials (agent tokens bound to a node) and revokes all of a node at once', async () => {
    const { store } = await open(driver);
    const a = await store.create({ role: 'agent', site: 'plant-a', node: 'gw-1' });
    const b = await store.create({ role: 'agent', site: 'plant-a', node: 'gw-1' });
    const other = await store.create({ role: 'agent', site: 'plant-a', node: 'gw-2' });
    expect(await store.verify(a.token)).toEqual({ tokenId: a.id, role: 'agent', site: 'plant-a', node: 'gw-1' });
    expect(await store.get(b.id)).toMatchObject({ node: 'gw-1', site: 'plant-a' });
    expect(await store.revokeNode('gw-1')).toBe(2);
    expect(await store.verify(a.token)).toBeUndefined();
    expect(await store.verify(b.token)).toBeUndefined();
    expect(await store.verify(other.token)).toMatchObject({ node: 'gw-2' });
    await expect(store.create({ role: 'admin', node: 'gw-1' })).rejects.toThrow(/node is only allowed for role agent/);
    await expect(store.create({ role: 'agent', site: 'plant-a', node: 'GW 1' })).rejects.toThrow(/not a valid node name/);
  });

  it('keeps kubeadm-style bootstrap tokens that always expire, may be scoped to a site, and count their uses', async () => {
    let now = 1_700_000_000_000;
    const { store } = await open(driver, () => now);
    const t = await store.createBootstrap({ site: 'plant-a', description: 'line 3 gateways', ttlSeconds: 3600 });
    expect(t.token).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    expect(t.token.startsWith(`${t.id}.`)).toBe(true);
    expect(t).toMatchObject({ site: 'plant-a', uses: 0, expiresAt: new Date(now + 3_600_000).toISOString() });
    expect(await store.verifyBootstrap(t.token)).toEqual({ id: t.id, site: 'plant-a' });
    expect(await store.verifyBootstrap(t.token, true)).toEqual({ id: t.id, site: 'plant-a' });
    expect(await store.listBootstrap()).toEqual([expect.objectContaining({ id: t.id, uses: 1 })]);
    expect(JSON.stringify(await store.listBootstrap())).not.toContain(t.token.slice(7));
    // A bootstrap token is not a hub token, nor the other way round.
    expect(await store.verify(t.token)).toBeUndefined();
    const admin = await store.create({ role: 'admin' });
    expect(await store.verifyBootstrap(admin.token)).toBeUndefined();
    expect(await store.verifyBootstrap(`${t.id}.${'0'.repeat(16)}`)).toBeUndefined();
    const unscoped = await store.createBootstrap({});
    expect(await store.verifyBootstrap(unscoped.token)).toEqual({ id: unscoped.id });
    expect(unscoped.expiresAt).toBe(new Date(now + 24 * 3_600_000).toISOString());
    now += 3_600_000;
    expect(await store.verifyBootstrap(t.token)).toBeUndefined();
    expect(await store.revokeBootstrap(unscoped.id)).toBe(true);
    expect(await store.verifyBootstrap(unscoped.token)).toBeUndefined();
    await expect(store.createBootstrap({ ttlSeconds: 0 })).rejects.toThrow(/ttlSeconds/);
    await expect(store.createBootstrap({ site: 'No Site' })).rejects.toThrow(/not a valid site name/);
  });

  it('keeps console sessions by the hash of their cookie, for every store on the same data, until they expire, end or lose their token', async () => {
    let now = 1_700_000_000_000;
    const { store, another } = await open(driver, () => now);
    const admin = await store.create({ role: 'admin' });
    const viewer = await store.create({ role: 'viewer' });
    const key = (c: string): string => c.repeat(64);
    const a = { key: key('a'), tokenId: admin.id, role: 'admin' as const, csrf: 'csrf-a', expiresAt: now + 3_600_000 };
    await store.createSession(a, 100);
    await store.createSession({ key: key('b'), tokenId: viewer.id, role: 'viewer', csrf: 'csrf-b', expiresAt: now + 60_000 }, 100);
    expect(await store.session(a.key)).toEqual(a);
    const other = await another();
    expect(await other.session(a.key)).toEqual(a);
    expect(await other.session(key('c'))).toBeUndefined();
    expect(await other.session('not a key')).toBeUndefined();
    // Ended on the other store: gone here too.
    expect(await other.endSession(a.key)).toBe(true);
    expect(await store.session(a.key)).toBeUndefined();
    expect(await store.endSession(a.key)).toBe(false);
    // Expired.
    now += 60_000;
    expect(await store.session(key('b'))).toBeUndefined();
    // A revoked token's sessions go with it.
    await store.createSession({ ...a, key: key('d'), expiresAt: now + 60_000 }, 100);
    expect(await store.revoke(admin.id)).toBe(true);
    expect(await other.session(key('d'))).toBeUndefined();
    await expect(store.createSession({ ...a, key: 'short' }, 100)).rejects.toThrow(/session.key/);
  });

  it('keeps at most the given number of console sessions, the newest', async () => {
    let now = 1_700_000_000_000;
    const { store } = await open(driver, () => now);
    const admin = await store.create({ role: 'admin' });
    const keys = ['1', '2', '3', '4'].map((c) => c.repeat(64));
    for (const k of keys) {
      now += 1000;
      await store.createSession({ key: k, tokenId: admin.id, role: 'admin', csrf: 'x', expiresAt: now + 3_600_000 }, 2);
    }
    const kept = [];
    for (const k of keys) kept.push((await store.session(k)) !== undefined);
    expect(kept).toEqual([false, false, true, true]);
  });
});

describe('token store on PostgreSQL', () => {
  it('shares tokens between replicas: revocations and node revocations hold and are announced on the other at once, bootstrap uses all count', async () => {
    const url = await pgDatabase();
    const a = await openPostgres(url);
    const b = await openPostgres(url);
    const revokedOnA: string[] = [];
    const revokedOnB: string[] = [];
    a.onNodeRevoked((node) => revokedOnA.push(node));
    b.onNodeRevoked((node) => revokedOnB.push(node));
    const viewer = await a.create({ role: 'viewer' });
    expect(await b.verify(viewer.token)).toEqual({ tokenId: viewer.id, role: 'viewer' });
    expect(await a.revoke(viewer.id)).toBe(true);
    expect(await b.verify(viewer.token)).toBeUndefined();

    const n1 = await a.create({ role: 'agent', site: 'plant-a', node: 'gw-7' });
    const n2 = await a.create({ role: 'agent', site: 'plant-a', node: 'gw-8' });
    expect(await b.revokeNode('gw-7')).toBe(1);
    expect(await a.revoke(n2.id)).toBe(true);
    await waitFor('both replicas to announce both revocations', () => revokedOnA.length === 2 && revokedOnB.length === 2, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(revokedOnA.sort()).toEqual(['gw-7', 'gw-8']);
    expect(revokedOnB.sort()).toEqual(['gw-7', 'gw-8']);
    expect(await a.verify(n1.token)).toBeUndefined();

    const t = await a.createBootstrap({ site: 'plant-a' });
    const joins = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).verifyBootstrap(t.token, true)));
    expect(joins.every((j) => j?.id === t.id)).toBe(true);
    expect(await b.listBootstrap()).toEqual([expect.objectContaining({ id: t.id, uses: 10 })]);
  });

  it('keeps only hashes of secrets and cookies, and says which engine failed without its URL', async () => {
    const url = await pgDatabase();
    const store = await openPostgres(url);
    const t = await store.create({ role: 'admin' });
    await store.createSession({ key: 'e'.repeat(64), tokenId: t.id, role: 'admin', csrf: 'c', expiresAt: Date.now() + 60_000 }, 10);
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const rows = await c.query<{ secret_hash: Buffer }>('SELECT secret_hash FROM edgeadm_tokens');
      expect(rows.rows[0]?.secret_hash).toHaveLength(32);
      const text = JSON.stringify((await c.query('SELECT * FROM edgeadm_tokens')).rows);
      expect(text).not.toContain(t.token.slice(17));
    } finally {
      await c.end();
    }
    const wrong = url.replace(/:[^:@/]+@/, ':wrong-password@');
    const err = await openPostgresTokenStore({ url: wrong }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(HubErrors.ErrStateBackend.is(err)).toBe(true);
    expect(String((err as Error).message)).not.toContain('wrong-password');
    expect(String((err as Error).message)).toMatch(/28P01|password authentication failed/);
  });
});

describe('token store on a SQLite file', () => {
  it('keeps only hashes of secrets, in a file only its owner reads', async () => {
    const { store, file } = openFile();
    const t = await store.create({ role: 'viewer' });
    const b = await store.createBootstrap({ site: 'plant-a' });
    await store.close();
    for (const f of [file, `${file}-wal`]) {
      let bytes = '';
      try {
        bytes = readFileSync(f).toString('latin1');
      } catch {
        continue;
      }
      expect(bytes.includes(t.token.slice(17))).toBe(false);
      expect(bytes.includes(b.token.slice(7))).toBe(false);
    }
    expect(statSync(file).mode & 0o777).toBe(0o600);
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
    const t = await store.create({ role: 'agent', site: 's', node: 'n' });
    expect(await store.verify(t.token)).toMatchObject({ node: 'n' });
  });
});

describe('token store on Kubernetes Secrets', () => {
  it('keeps each token as a typed, labelled Secret holding only the hash of its secret', async () => {
    const target = await kubeStoreTarget();
    const store = await openKubeTokenStore({ kubeConfig: target.kubeConfig, namespace: target.namespace });
    stores.push(store);
    const t = await store.create({ role: 'agent', site: 'plant-a', node: 'gw-1', description: 'line 3' });
    const b = await store.createBootstrap({ site: 'plant-a' });
    const raw = rawClient(target.server);
    try {
      const got = await raw.call('GET', `/api/v1/namespaces/${target.namespace}/secrets/edgeadm-token-${t.id}`);
      expect(got.status).toBe(200);
      expect(got.body.type).toBe('edgeadm.io/token');
      expect(got.body.metadata.labels).toMatchObject({ 'edgeadm.io/credential': 'token', 'edgeadm.io/token-role': 'agent', 'edgeadm.io/site': 'plant-a', 'edgeadm.io/node': 'gw-1' });
      const data = Object.fromEntries(Object.entries(got.body.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
      expect(data).toMatchObject({ role: 'agent', site: 'plant-a', node: 'gw-1', description: 'line 3' });
      expect(data['secret-sha256']).toMatch(/^[0-9a-f]{64}$/);
      const all = await raw.call('GET', `/api/v1/namespaces/${target.namespace}/secrets`);
      const text = JSON.stringify(all.body);
      for (const secret of [t.token.slice(17), b.token.slice(7)]) {
        expect(text).not.toContain(secret);
        expect(text).not.toContain(Buffer.from(secret).toString('base64'));
      }
      const bs = await raw.call('GET', `/api/v1/namespaces/${target.namespace}/secrets/edgeadm-bootstrap-token-${b.id}`);
      expect(bs.body.type).toBe('edgeadm.io/bootstrap-token');
    } finally {
      await raw.close();
    }
  });

  it('shares tokens between replicas: made on one, accepted by the other at once; revoked on one, refused and announced on the other', async () => {
    const target = await kubeStoreTarget();
    const a = await openKubeTokenStore({ kubeConfig: target.kubeConfig, namespace: target.namespace });
    const b = await openKubeTokenStore({ kubeConfig: target.kubeConfig, namespace: target.namespace });
    stores.push(a, b);
    const revokedOnB: string[] = [];
    b.onNodeRevoked((node) => revokedOnB.push(node));

    const viewer = await a.create({ role: 'viewer' });
    // Read from kube on a miss: no wait for the watch.
    expect(await b.verify(viewer.token)).toEqual({ tokenId: viewer.id, role: 'viewer' });
    const node = await a.create({ role: 'agent', site: 'plant-a', node: 'gw-7' });
    expect(await b.verify(node.token)).toMatchObject({ node: 'gw-7' });

    expect(await a.revoke(viewer.id)).toBe(true);
    await waitFor('the revocation to reach replica b', async () => (await b.verify(viewer.token)) === undefined, 10_000);
    expect(await b.get(viewer.id)).toBeUndefined();

    expect(await a.revokeNode('gw-7')).toBe(1);
    await waitFor('replica b to announce the node revocation', () => revokedOnB.includes('gw-7'), 10_000);
    expect(await b.verify(node.token)).toBeUndefined();
    // Announced once on b, not again for the same credential.
    expect(revokedOnB).toEqual(['gw-7']);
  });

  it('learns tokens from the watch alone when reads on a miss are used up', async () => {
    const target = await kubeStoreTarget();
    const a = await openKubeTokenStore({ kubeConfig: target.kubeConfig, namespace: target.namespace });
    const b = await openKubeTokenStore({ kubeConfig: target.kubeConfig, namespace: target.namespace, missReadsPerSecond: 0 });
    stores.push(a, b);
    const t = await a.create({ role: 'admin' });
    await waitFor('replica b to learn the token from its watch', async () => (await b.verify(t.token))?.tokenId === t.id, 10_000);
    expect(await b.get(t.id)).toMatchObject({ role: 'admin' });
  });

  it('counts every use of a bootstrap token when two replicas consume it at once', async () => {
    const target = await kubeStoreTarget();
    const a = await openKubeTokenStore({ kubeConfig: target.kubeConfig, namespace: target.namespace });
    const b = await openKubeTokenStore({ kubeConfig: target.kubeConfig, namespace: target.namespace });
    stores.push(a, b);
    const t = await a.createBootstrap({ site: 'plant-a' });
    const joins = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).verifyBootstrap(t.token, true)));
    expect(joins.every((j) => j?.id === t.id)).toBe(true);
    expect(await b.listBootstrap()).toEqual([expect.objectContaining({ id: t.id, uses: 10 })]);
  });

  it('does not accept a token Secret that is not well formed', async () => {
    const target = await kubeStoreTarget();
    const store = await openKubeTokenStore({ kubeConfig: target.kubeConfig, namespace: target.namespace });
    stores.push(store);
    const t = await store.create({ role: 'admin' });
    const raw = rawClient(target.server);
    try {
      const path = `/api/v1/namespaces/${target.namespace}/secrets/edgeadm-token-${t.id}`;
      const got = await raw.call('GET', path);
      // Someone with write access to Secrets changes the role to one that does not exist.
      const body = { ...got.body, data: { ...got.body.data, role: Buffer.from('root').toString('base64') } };
      expect((await raw.call('PUT', path, body)).status).toBe(200);
      await waitFor('the malformed token to be dropped', async () => (await store.verify(t.token)) === undefined, 10_000);
    } finally {
      await raw.close();
    }
  });
});
