/**
 * The ResourceStore contract as tests, run on every driver (sqlite.test.ts,
 * kube.test.ts, postgres.test.ts): CRUD and store-owned metadata, validation, generation,
 * status, optimistic concurrency, immutable fields, close, label / site
 * filters, paging over one snapshot, and watch (replay, live order,
 * filtered transitions, bookmarks, abort, close).
 *
 * resourceVersions are checked relative to the revision a fresh store
 * starts at (`r(n)`: n writes later), since a kube store shares one
 * revision counter with the whole cluster. Each test opens its own empty
 * store; driver-only behaviour (files, restarts, compaction, reconnects)
 * stays in the driver's own test file.
 */
/* eslint-disable @typescript-eslint/no-unsafe-assignment -- vitest's asymmetric matchers (expect.stringMatching) are typed any */
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreErrors } from './index.ts';
import type { DeviceObject, NodeObject } from './schemas.ts';
import { API_VERSION, type Resource, type ResourceStore, type WatchEvent } from './types.ts';

/** What a driver's test file gives the contract: a fresh, empty store per call, and how to clean it up. */
export interface StoreFixture {
  store: ResourceStore;
  /** Frees what the fixture made beyond the store (files, namespaces); the store itself is closed by the suite. */
  drop?(): Promise<void>;
}

export function site(name: string, labels?: Record<string, string>): Resource {
  return { apiVersion: API_VERSION, kind: 'Site', metadata: { name, ...(labels && { labels }) }, spec: { displayName: name.toUpperCase() } };
}

export function node(name: string, siteName: string, labels?: Record<string, string>): NodeObject {
  return { apiVersion: API_VERSION, kind: 'Node', metadata: { name, ...(labels && { labels }) }, spec: { site: siteName, hostname: `${name}.local` } };
}

export function device(name: string, siteName: string, extra: Record<string, unknown> = {}): DeviceObject {
  return {
    apiVersion: API_VERSION,
    kind: 'Device',
    metadata: { name },
    spec: { site: siteName, profile: 'power-meter', protocols: { 'modbus-tcp': { Address: '10.0.0.5', Port: '502', UnitID: '1' } }, ...extra },
  };
}

export function addon(name: string, sites: string[]): Resource {
  return { apiVersion: API_VERSION, kind: 'Addon', metadata: { name }, spec: { plugin: 'modbus', sites } };
}

export interface CodedRejection {
  code: string;
  message: string;
  statusCode: number;
  params: Record<string, unknown>;
}

export async function rejection(p: Promise<unknown>): Promise<CodedRejection> {
  try {
    await p;
  } catch (err) {
    return err as CodedRejection;
  }
  throw new Error('expected a rejection');
}

/** The next `n` events of a watch (the iteration is closed afterwards). */
export async function take(events: AsyncIterable<WatchEvent>, n: number, timeoutMs = 4000): Promise<WatchEvent[]> {
  const it = events[Symbol.asyncIterator]();
  const out: WatchEvent[] = [];
  try {
    while (out.length < n) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`only ${out.length} of ${n} events within ${timeoutMs} ms`)), timeoutMs);
      });
      const r = await Promise.race([it.next(), timeout]).finally(() => clearTimeout(timer));
      if (r.done) break;
      out.push(r.value);
    }
  } finally {
    await it.return?.();
  }
  return out;
}

export const brief = (e: WatchEvent): string => `${e.type} ${e.object.kind}/${e.object.metadata.name}@${e.object.metadata.resourceVersion}`;

/** `brief` with the revision relative to `base`. */
export const briefFrom =
  (base: string) =>
  (e: WatchEvent): string =>
    `${e.type} ${e.object.kind}/${e.object.metadata.name}@+${String(BigInt(e.object.metadata.resourceVersion ?? '0') - BigInt(base))}`;

/** Runs the ResourceStore contract against the stores `open` makes (each empty). */
export function describeStoreContract(name: string, open: () => Promise<StoreFixture>): void {
  const fixtures: StoreFixture[] = [];
  afterEach(async () => {
    for (const f of fixtures.splice(0)) {
      await f.store.close();
      await f.drop?.();
    }
  });

  /** A fresh store, its starting revision, and `r(n)`: the revision n writes later. */
  async function fresh(): Promise<{ s: ResourceStore; base: string; r: (n: number) => string; rel: (e: WatchEvent) => string }> {
    const f = await open();
    fixtures.push(f);
    const base = await f.store.currentResourceVersion();
    return { s: f.store, base, r: (n) => String(BigInt(base) + BigInt(n)), rel: briefFrom(base) };
  }
  const names = (r: { items: Resource[] }): string[] => r.items.map((i) => i.metadata.name);

  describe(`${name} store contract: CRUD and metadata`, () => {
    it('creates, reads, lists, replaces and deletes, stamping store-owned metadata', async () => {
      const { s, r } = await fresh();
      const created = await s.create(site('plant-a'));
      expect(created.metadata).toEqual({
        name: 'plant-a',
        uid: expect.stringMatching(/^[0-9a-f-]{36}$/),
        resourceVersion: r(1),
        generation: 1,
        creationTimestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
      expect(await s.get('Site', 'plant-a')).toEqual(created);
      expect(await s.get('Site', 'nope')).toBeUndefined();

      const dup = await rejection(s.create(site('plant-a')));
      expect(dup.code).toBe('EDGE_ERR_STORE_EXISTS');
      expect(dup.statusCode).toBe(409);
      expect(dup.message).toContain("Site 'plant-a'");

      await s.apply(node('n1', 'plant-a'));
      const replaced = await s.apply({ ...site('plant-a'), spec: { displayName: 'Plant A', description: 'main plant' } });
      expect(replaced.metadata.uid).toBe(created.metadata.uid);
      expect(replaced.metadata.creationTimestamp).toBe(created.metadata.creationTimestamp);
      expect(replaced.metadata.resourceVersion).toBe(r(3));
      expect(await s.currentResourceVersion()).toBe(r(3));

      const list = await s.list('Site');
      expect(list.resourceVersion).toBe(r(3));
      expect(names(list)).toEqual(['plant-a']);

      const deleted = await s.delete('Site', 'plant-a');
      expect(deleted?.metadata.resourceVersion).toBe(r(4));
      expect(deleted?.spec).toEqual({ displayName: 'Plant A', description: 'main plant' });
      expect(await s.get('Site', 'plant-a')).toBeUndefined();
      expect(await s.delete('Site', 'plant-a')).toBeUndefined();
      expect(await s.currentResourceVersion()).toBe(r(4));
    });

    it('ignores store-owned metadata and status in the input of apply', async () => {
      const { s, r } = await fresh();
      const input = { ...site('plant-a'), metadata: { name: 'plant-a', uid: 'mine', resourceVersion: '99', generation: 7 }, status: { phase: 'Online' } };
      const out = await s.apply(input);
      expect(out.metadata.uid).not.toBe('mine');
      expect(out.metadata.resourceVersion).toBe(r(1));
      expect(out.metadata.generation).toBe(1);
      expect(out.status).toBeUndefined();
    });

    it('returns deep copies: mutating inputs or results never changes the store', async () => {
      const { s } = await fresh();
      const input = device('meter-1', 'plant-a', { desired: { SetPoint: 10 } });
      const out = await s.apply(input);
      (input.spec.desired as Record<string, unknown>).SetPoint = 99;
      (out.spec.desired as Record<string, unknown>).SetPoint = 98;
      out.metadata.name = 'hacked';
      const got = await s.get<DeviceObject>('Device', 'meter-1');
      expect(got?.spec.desired).toEqual({ SetPoint: 10 });
      (got?.spec.protocols['modbus-tcp'] as Record<string, unknown>).Port = '1';
      expect((await s.list<DeviceObject>('Device')).items[0]?.spec.protocols['modbus-tcp']?.Port).toBe('502');
    });

    it('keeps labels and annotations as written, and only those', async () => {
      const { s } = await fresh();
      const n = await s.apply({ ...node('n1', 'plant-a', { role: 'gateway' }), metadata: { name: 'n1', labels: { role: 'gateway' }, annotations: { note: 'x' } } });
      expect(n.metadata.labels).toEqual({ role: 'gateway' });
      expect(n.metadata.annotations).toEqual({ note: 'x' });
      const a = await s.apply(addon('modbus', ['plant-a', 'plant-b']));
      expect(a.metadata.labels).toBeUndefined();
      expect(a.metadata.annotations).toBeUndefined();
      expect((await s.get('Node', 'n1'))?.metadata.labels).toEqual({ role: 'gateway' });
      expect((await s.list('Addon')).items[0]?.metadata.labels).toBeUndefined();
      const bare = await s.apply(node('n1', 'plant-a'));
      expect(bare.metadata.labels).toBeUndefined();
      expect(bare.metadata.annotations).toBeUndefined();
    });

    it('rejects invalid objects with every issue and its path', async () => {
      const { s, base } = await fresh();
      const err = await rejection(
        s.apply({
          apiVersion: API_VERSION,
          kind: 'DeviceProfile',
          metadata: { name: 'meter' },
          spec: {
            deviceResources: [
              { name: 'V', properties: { valueType: 'Float32', readWrite: 'R', scale: 'x' } },
              { name: 'V', properties: { valueType: 'Float32', readWrite: 'R' } },
            ],
            deviceCommands: [{ name: 'C', readWrite: 'R', resourceOperations: [{ deviceResource: 'V' }, { deviceResource: 'W' }] }],
          },
        }),
      );
      expect(err.code).toBe('EDGE_ERR_STORE_INVALID');
      expect(err.statusCode).toBe(400);
      expect(err.params.issues).toEqual([
        { path: 'spec.deviceResources[0].properties.scale', message: "must be a number or a numeric string (is 'x')" },
        { path: 'spec.deviceResources[1].name', message: "duplicates spec.deviceResources[0].name 'V'" },
        { path: 'spec.deviceCommands[0].resourceOperations[1].deviceResource', message: "names 'W', which is not in spec.deviceResources" },
      ]);
      expect(err.message).toContain("DeviceProfile 'meter' is invalid (3 problems)");
      expect(err.message).toContain('spec.deviceCommands[0].resourceOperations[1].deviceResource');
      expect(await s.currentResourceVersion()).toBe(base);
      expect((await rejection(s.get('Gadget' as 'Site', 'x'))).code).toBe('EDGE_ERR_STORE_INVALID');
    });

    it('applies spec defaults (Device adminState)', async () => {
      const { s } = await fresh();
      const d = await s.apply(device('meter-1', 'plant-a'));
      expect(d.spec.adminState).toBe('UNLOCKED');
    });
  });

  describe(`${name} store contract: revisions, generation, status, concurrency`, () => {
    it('bumps generation only when spec changes; no-op applies write nothing', async () => {
      const { s, r } = await fresh();
      const a = await s.apply(node('n1', 'plant-a'));
      expect([a.metadata.generation, a.metadata.resourceVersion]).toEqual([1, r(1)]);

      const same = await s.apply(node('n1', 'plant-a'));
      expect(same).toEqual(a);
      expect(await s.currentResourceVersion()).toBe(r(1));

      const relabelled = await s.apply(node('n1', 'plant-a', { role: 'gateway' }));
      expect([relabelled.metadata.generation, relabelled.metadata.resourceVersion]).toEqual([1, r(2)]);

      const changed = await s.apply({ ...node('n1', 'plant-a', { role: 'gateway' }), spec: { site: 'plant-a', hostname: 'other' } });
      expect([changed.metadata.generation, changed.metadata.resourceVersion]).toEqual([2, r(3)]);

      // Key order does not count as a change.
      const reordered = await s.apply({ ...node('n1', 'plant-a', { role: 'gateway' }), spec: { hostname: 'other', site: 'plant-a' } });
      expect(reordered.metadata.resourceVersion).toBe(r(3));
    });

    it('updates status without touching generation; apply keeps status', async () => {
      const { s, r } = await fresh();
      await s.apply(site('plant-a'));
      const st = await s.updateStatus('Site', 'plant-a', { phase: 'Online', lastSeen: '2024-05-01T10:00:00Z' });
      expect(st.status).toEqual({ phase: 'Online', lastSeen: '2024-05-01T10:00:00Z' });
      expect([st.metadata.generation, st.metadata.resourceVersion]).toEqual([1, r(2)]);

      const again = await s.updateStatus('Site', 'plant-a', { lastSeen: '2024-05-01T10:00:00Z', phase: 'Online' });
      expect(again.metadata.resourceVersion).toBe(r(2));

      const applied = await s.apply({ ...site('plant-a'), spec: { displayName: 'A' } });
      expect(applied.status).toEqual({ phase: 'Online', lastSeen: '2024-05-01T10:00:00Z' });
      expect(applied.metadata.generation).toBe(2);

      const bad = await rejection(s.updateStatus('Site', 'plant-a', { phase: 'Asleep' }));
      expect(bad.code).toBe('EDGE_ERR_STORE_INVALID');
      expect(bad.params.issues).toEqual([{ path: 'status.phase', message: "must be one of 'Pending', 'Online', 'Offline'" }]);

      const missing = await rejection(s.updateStatus('Site', 'plant-b', { phase: 'Online' }));
      expect(missing.code).toBe('EDGE_ERR_STORE_NOT_FOUND');
      expect(missing.statusCode).toBe(404);
      expect(missing.message).toContain("Site 'plant-b'");
    });

    it('fails a write on a stale resourceVersion with a conflict naming both versions', async () => {
      const { s, r } = await fresh();
      const v1 = await s.apply(device('meter-1', 'plant-a'));
      const v2 = await s.apply(device('meter-1', 'plant-a', { description: 'second' }), { resourceVersion: v1.metadata.resourceVersion });
      expect(v2.metadata.resourceVersion).toBe(r(2));

      const stale = await rejection(s.apply(device('meter-1', 'plant-a', { description: 'third' }), { resourceVersion: r(1) }));
      expect(stale.code).toBe('EDGE_ERR_STORE_CONFLICT');
      expect(stale.statusCode).toBe(409);
      expect(stale.message).toBe(`Device 'meter-1' was expected at resourceVersion ${r(1)} but is at ${r(2)}; read it again and retry`);

      expect((await rejection(s.updateStatus('Device', 'meter-1', { operatingState: 'UP' }, { resourceVersion: r(1) }))).code).toBe('EDGE_ERR_STORE_CONFLICT');
      expect((await rejection(s.delete('Device', 'meter-1', { resourceVersion: r(1) }))).code).toBe('EDGE_ERR_STORE_CONFLICT');
      expect((await rejection(s.apply(device('meter-2', 'plant-a'), { resourceVersion: r(1) }))).message).toContain('does not exist');
      expect((await rejection(s.apply(device('meter-1', 'plant-a'), { resourceVersion: 'abc' }))).code).toBe('EDGE_ERR_STORE_INVALID');
      expect(await s.delete('Device', 'meter-1', { resourceVersion: r(2) })).toBeDefined();
    });

    it('keeps spec.site of Nodes and Devices immutable', async () => {
      const { s } = await fresh();
      await s.apply(node('n1', 'plant-a'));
      await s.apply(device('meter-1', 'plant-a'));
      const n = await rejection(s.apply(node('n1', 'plant-b')));
      expect(n.code).toBe('EDGE_ERR_STORE_IMMUTABLE');
      expect(n.statusCode).toBe(400);
      expect(n.message).toContain("Node 'n1': spec.site cannot change after creation (is 'plant-a', requested 'plant-b')");
      expect((await rejection(s.apply(device('meter-1', 'plant-b')))).code).toBe('EDGE_ERR_STORE_IMMUTABLE');
      // Delete and recreate is the way to move it.
      await s.delete('Node', 'n1');
      expect((await s.apply(node('n1', 'plant-b'))).spec.site).toBe('plant-b');
    });

    it('fails every operation after close with a coded error', async () => {
      const { s } = await fresh();
      await s.close();
      await s.close();
      expect((await rejection(s.get('Site', 'a'))).code).toBe('EDGE_ERR_STORE_CLOSED');
      expect((await rejection(s.apply(site('a')))).code).toBe('EDGE_ERR_STORE_CLOSED');
      expect(() => s.watch()).toThrow(StoreErrors.ErrClosed);
    });
  });

  describe(`${name} store contract: list filters and paging`, () => {
    async function seed(s: ResourceStore): Promise<void> {
      await s.apply(site('plant-a', { region: 'eu', tier: 'large' }));
      await s.apply(site('plant-b', { region: 'us', tier: 'small' }));
      await s.apply(site('plant-c', { region: 'eu' }));
      await s.apply(node('n1', 'plant-a', { role: 'gateway' }));
      await s.apply(node('n2', 'plant-b', { role: 'worker' }));
      await s.apply(node('n3', 'plant-a'));
      await s.apply(addon('modbus', ['plant-a', 'plant-c']));
      await s.apply(addon('opcua', ['plant-b']));
      await s.apply({
        apiVersion: API_VERSION,
        kind: 'DeviceProfile',
        metadata: { name: 'meter' },
        spec: { deviceResources: [{ name: 'V', properties: { valueType: 'Float32', readWrite: 'R' } }] },
      });
      await s.apply({ apiVersion: API_VERSION, kind: 'Lease', metadata: { name: 'tunnel' }, spec: { holderIdentity: 'r1' } });
    }

    it('filters by label selector', async () => {
      const { s } = await fresh();
      await seed(s);
      expect(names(await s.list('Site', { labelSelector: 'region=eu' }))).toEqual(['plant-a', 'plant-c']);
      expect(names(await s.list('Site', { labelSelector: 'region in (eu,us),tier' }))).toEqual(['plant-a', 'plant-b']);
      expect(names(await s.list('Site', { labelSelector: '!tier' }))).toEqual(['plant-c']);
      expect(names(await s.list('Site', { labelSelector: 'tier notin (small)' }))).toEqual(['plant-a', 'plant-c']);
      expect(names(await s.list('Node', { labelSelector: 'role!=worker' }))).toEqual(['n1', 'n3']);
      const bad = await rejection(s.list('Site', { labelSelector: 'region in eu' }));
      expect(bad.code).toBe('EDGE_ERR_STORE_SELECTOR');
      expect(bad.message).toContain("'region in eu'");
    });

    it('filters by site', async () => {
      const { s } = await fresh();
      await seed(s);
      expect(names(await s.list('Node', { site: 'plant-a' }))).toEqual(['n1', 'n3']);
      expect(names(await s.list('Site', { site: 'plant-b' }))).toEqual(['plant-b']);
      expect(names(await s.list('Addon', { site: 'plant-c' }))).toEqual(['modbus']);
      expect(names(await s.list('Addon', { site: 'plant-z' }))).toEqual([]);
      expect(names(await s.list('DeviceProfile', { site: 'plant-z' }))).toEqual(['meter']);
      expect(names(await s.list('Lease', { site: 'plant-a' }))).toEqual([]);
      expect(names(await s.list('Lease'))).toEqual(['tunnel']);
      expect(names(await s.list('Node', { site: 'plant-a', labelSelector: 'role' }))).toEqual(['n1']);
    });

    it('pages in name order with continue tokens over one consistent snapshot', async () => {
      const { s, r } = await fresh();
      for (let i = 0; i < 25; i++) await s.apply(node(`n${String(i).padStart(2, '0')}`, i % 2 === 0 ? 'plant-a' : 'plant-b'));
      const p1 = await s.list('Node', { limit: 10 });
      expect(names(p1)).toEqual(Array.from({ length: 10 }, (_, i) => `n${String(i).padStart(2, '0')}`));
      expect(p1.resourceVersion).toBe(r(25));
      expect(p1.continue).toBeDefined();

      // Writes between pages do not show in later pages of the same list.
      await s.delete('Node', 'n15');
      await s.apply(node('n12', 'plant-a', { changed: 'yes' }));
      await s.apply(node('n10a', 'plant-a'));
      await s.apply(node('n99', 'plant-b'));

      const p2 = await s.list('Node', { limit: 10, continue: p1.continue });
      expect(p2.resourceVersion).toBe(r(25));
      expect(names(p2)).toEqual(['n10', 'n11', 'n12', 'n13', 'n14', 'n15', 'n16', 'n17', 'n18', 'n19']);
      expect(p2.items[2]?.metadata.labels).toBeUndefined();
      const p3 = await s.list('Node', { limit: 10, continue: p2.continue });
      expect(names(p3)).toEqual(['n20', 'n21', 'n22', 'n23', 'n24']);
      expect(p3.continue).toBeUndefined();

      // A fresh list sees the changes.
      const now = await s.list('Node');
      expect(now.resourceVersion).toBe(r(29));
      expect(names(now)).toContain('n10a');
      expect(names(now)).not.toContain('n15');

      // Filters page too.
      const f1 = await s.list('Node', { site: 'plant-b', limit: 3 });
      expect(names(f1)).toEqual(['n01', 'n03', 'n05']);
      const f2 = await s.list('Node', { site: 'plant-b', limit: 100, continue: f1.continue });
      expect(names(f2)).toEqual(['n07', 'n09', 'n11', 'n13', 'n17', 'n19', 'n21', 'n23', 'n99']);

      expect((await rejection(s.list('Node', { continue: 'garbage' }))).code).toBe('EDGE_ERR_STORE_INVALID');
      expect((await rejection(s.list('Site', { continue: p1.continue }))).message).toContain('was issued for a list of Node');
      expect((await rejection(s.list('Node', { limit: 0 }))).code).toBe('EDGE_ERR_STORE_INVALID');
    });
  });

  describe(`${name} store contract: watch`, () => {
    it('replays exactly the missed events from a revision, then continues live', async () => {
      const { s, rel } = await fresh();
      await s.apply(site('plant-a'));
      await s.apply(node('n1', 'plant-a'));
      const seen = await s.currentResourceVersion();
      await s.apply(node('n2', 'plant-a'));
      await s.apply(node('n1', 'plant-a', { role: 'gateway' }));
      await s.updateStatus('Site', 'plant-a', { phase: 'Online' });
      await s.delete('Node', 'n2');

      const ac = new AbortController();
      const it = s.watch({ resourceVersion: seen, signal: ac.signal })[Symbol.asyncIterator]();
      const next = async (): Promise<string> => {
        const r = await it.next();
        return r.done ? 'done' : rel(r.value);
      };
      expect(await next()).toBe('ADDED Node/n2@+3');
      expect(await next()).toBe('MODIFIED Node/n1@+4');
      expect(await next()).toBe('MODIFIED Site/plant-a@+5');
      expect(await next()).toBe('DELETED Node/n2@+6');
      const pending = next();
      await s.apply(node('n3', 'plant-a'));
      await s.apply(node('n4', 'plant-a'));
      expect(await pending).toBe('ADDED Node/n3@+7');
      expect(await next()).toBe('ADDED Node/n4@+8');
      ac.abort();
      expect(await next()).toBe('done');
    });

    it('delivers live events from now, in order, without gaps or duplicates, under interleaved writes', async () => {
      const { s, base } = await fresh();
      await s.apply(site('plant-a'));
      const events = s.watch();
      const collected = take(events, 200, 20_000);
      for (let i = 0; i < 100; i++) {
        await s.apply(node(`n${i}`, 'plant-a'));
        if (i % 7 === 0) await new Promise((r) => setImmediate(r));
        await s.updateStatus('Node', `n${i}`, { connected: true });
      }
      const revisions = (await collected).map((e) => Number(BigInt(e.object.metadata.resourceVersion ?? '0') - BigInt(base)));
      expect(revisions).toEqual(Array.from({ length: 200 }, (_, i) => i + 2));
    });

    it('filters by kinds, site and label selector, turning transitions into ADDED / DELETED', async () => {
      const { s, base, rel } = await fresh();
      const ac = new AbortController();
      const bySite = s.watch({ resourceVersion: base, site: 'plant-a', kinds: ['Node', 'Addon'], signal: ac.signal });
      const byLabel = s.watch({ resourceVersion: base, kinds: ['Node'], labelSelector: 'role=gateway', signal: ac.signal });
      await s.apply(site('plant-a'));
      await s.apply(node('n1', 'plant-a'));
      await s.apply(node('n2', 'plant-b', { role: 'gateway' }));
      await s.apply(node('n1', 'plant-a', { role: 'gateway' }));
      await s.apply(addon('modbus', ['plant-b']));
      await s.apply(addon('modbus', ['plant-b', 'plant-a']));
      await s.apply(node('n1', 'plant-a', { role: 'worker' }));
      await s.apply(addon('modbus', ['plant-b']));
      await s.delete('Node', 'n2');
      await s.delete('Node', 'n1');
      expect((await take(bySite, 6)).map(rel)).toEqual([
        'ADDED Node/n1@+2',
        'MODIFIED Node/n1@+4',
        'ADDED Addon/modbus@+6',
        'MODIFIED Node/n1@+7',
        'DELETED Addon/modbus@+8',
        'DELETED Node/n1@+10',
      ]);
      expect((await take(byLabel, 4)).map(rel)).toEqual(['ADDED Node/n2@+3', 'ADDED Node/n1@+4', 'DELETED Node/n1@+7', 'DELETED Node/n2@+9']);
      ac.abort();
    });

    it('sends bookmarks while idle, reaching the current revision', async () => {
      const { s, base, r } = await fresh();
      await s.apply(site('plant-a'));
      await s.apply(node('n1', 'plant-b'));
      const got = await take(s.watch({ resourceVersion: base, site: 'plant-a', bookmarkIntervalMs: 30 }), 12);
      expect(got.map((e) => e.type)).toEqual(['ADDED', ...Array.from({ length: 11 }, () => 'BOOKMARK')]);
      const marks = got.slice(1).map((e) => BigInt(e.object.metadata.resourceVersion ?? '0'));
      // Never behind what was delivered, never going back, and at the current revision once every stream is there.
      marks.forEach((m, i) => expect(m >= BigInt(r(1)) && (i === 0 || m >= (marks[i - 1] as bigint))).toBe(true));
      expect(String(marks[marks.length - 1])).toBe(r(2));
    });

    it('ends when the signal aborts, leaving no listener behind', async () => {
      const { s } = await fresh();
      const ac = new AbortController();
      const it = s.watch({ signal: ac.signal, bookmarkIntervalMs: 60_000 })[Symbol.asyncIterator]();
      const pending = it.next();
      await new Promise((r) => setTimeout(r, 50));
      ac.abort();
      expect(await pending).toEqual({ done: true, value: undefined });
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      // An already-aborted signal ends at once.
      expect(await take(s.watch({ signal: AbortSignal.abort() }), 1)).toEqual([]);
    });

    it('close() ends every watch', async () => {
      const { s } = await fresh();
      const a = s.watch()[Symbol.asyncIterator]();
      const b = s.watch({ bookmarkIntervalMs: 10_000 })[Symbol.asyncIterator]();
      const pa = a.next();
      const pb = b.next();
      await new Promise((r) => setTimeout(r, 50));
      await s.close();
      expect(await pa).toEqual({ done: true, value: undefined });
      expect(await pb).toEqual({ done: true, value: undefined });
    });

    it('refuses bad watch options with every issue', async () => {
      const { s } = await fresh();
      let err: unknown;
      try {
        s.watch({ resourceVersion: 'x', kinds: ['Gadget' as 'Site'], bookmarkIntervalMs: -1, site: '' });
      } catch (e) {
        err = e;
      }
      expect(StoreErrors.ErrInvalid.is(err)).toBe(true);
      expect((err as CodedRejection).params.issues).toEqual([
        expect.objectContaining({ path: 'resourceVersion' }),
        expect.objectContaining({ path: 'kinds[0]' }),
        expect.objectContaining({ path: 'bookmarkIntervalMs' }),
        expect.objectContaining({ path: 'site' }),
      ]);
      expect(() => s.watch({ labelSelector: 'a in b' })).toThrow(StoreErrors.ErrSelector);
    });
  });
}
