/**
 * The cluster's health key, kept by the hub: the root from which each
 * site's gossip key is derived (core/health/signing.ts). Nothing is built
 * in: until an admin creates one (`edgeadm health key create`), sites with
 * health settings refuse to run it and say so.
 *
 * Embedded mode keeps it in `<dataDir>/health-key.json` (mode 0600, written
 * whole and renamed into place), shared by hub processes on one data
 * directory. Kube mode keeps it in the Secret `edgeadm-health-key` of the
 * hub's namespace, shared by every replica; with the hub's state on
 * PostgreSQL, a row there (hub-secrets-postgres.ts). A rotation keeps the previous
 * key, so sites verify both until they have all fetched the new one; the
 * rotation after that drops it.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { deriveSiteKey, keyId, newClusterKey, type HealthKeyring } from '../health/index.ts';
import { kubeError, kubeFailure, openKubeClient, type KubeClient } from '../store/index.ts';
import { ErrHealthKeyExists } from './errors.ts';

export const HEALTH_KEY_SECRET = 'edgeadm-health-key';

export interface StoredKey {
  key: Buffer;
  createdAt: string;
}

export interface ClusterHealthKey {
  current: StoredKey;
  previous?: StoredKey;
}

export interface HealthKeyStore {
  read(): Promise<ClusterHealthKey | undefined>;
  /** Makes the first key; ErrHealthKeyExists when there is one. */
  create(): Promise<ClusterHealthKey>;
  /** A new current key, the old one kept as previous (made, when there was none). */
  rotate(): Promise<ClusterHealthKey>;
  close(): Promise<void>;
}

/** The keys of one site, derived from the cluster's. */
export function siteKeyring(k: ClusterHealthKey, site: string): HealthKeyring {
  return { current: deriveSiteKey(k.current.key, site), ...(k.previous ? { previous: deriveSiteKey(k.previous.key, site) } : {}) };
}

/** What the API tells of the key: its id and age, never the key. */
export function describeKey(k: ClusterHealthKey): { kid: string; createdAt: string; previous?: { kid: string; createdAt: string } } {
  return {
    kid: keyId(k.current.key),
    createdAt: k.current.createdAt,
    ...(k.previous ? { previous: { kid: keyId(k.previous.key), createdAt: k.previous.createdAt } } : {}),
  };
}

export interface KeyJson {
  current: { key: string; createdAt: string };
  previous?: { key: string; createdAt: string };
}

export const toJson = (k: ClusterHealthKey): KeyJson => ({
  current: { key: k.current.key.toString('base64url'), createdAt: k.current.createdAt },
  ...(k.previous ? { previous: { key: k.previous.key.toString('base64url'), createdAt: k.previous.createdAt } } : {}),
});

export function fromJson(v: unknown, source: string): ClusterHealthKey {
  const j = v as Partial<KeyJson> | null;
  const one = (x: { key?: unknown; createdAt?: unknown } | undefined, field: string): StoredKey => {
    if (!x || typeof x.key !== 'string' || typeof x.createdAt !== 'string') throw new Error(`${source}: ${field} is not a key`);
    const key = Buffer.from(x.key, 'base64url');
    if (key.length < 16) throw new Error(`${source}: ${field}.key is shorter than 16 bytes`);
    return { key, createdAt: x.createdAt };
  };
  return { current: one(j?.current, 'current'), ...(j?.previous ? { previous: one(j.previous, 'previous') } : {}) };
}

export const fresh = (previous?: StoredKey): ClusterHealthKey => ({ current: { key: newClusterKey(), createdAt: new Date().toISOString() }, ...(previous ? { previous } : {}) });

/** Embedded mode: the key in the data directory. */
export function openFileHealthKeyStore(dataDir: string): HealthKeyStore {
  const file = path.join(dataDir, 'health-key.json');
  const read = (): ClusterHealthKey | undefined => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return fromJson(JSON.parse(text), file);
  };
  const write = (k: ClusterHealthKey): void => {
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(toJson(k))}\n`, { mode: 0o600 });
    renameSync(tmp, file);
  };
  return {
    read: () => Promise.resolve(read()),
    create() {
      const had = read();
      if (had) throw new ErrHealthKeyExists({ kid: keyId(had.current.key) });
      const k = fresh();
      // 'wx': of two hubs creating at once, one wins and the other is told.
      try {
        writeFileSync(file, `${JSON.stringify(toJson(k))}\n`, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ErrHealthKeyExists({ kid: keyId(read()!.current.key) });
        throw err;
      }
      return Promise.resolve(k);
    },
    rotate() {
      const k = fresh(read()?.current);
      write(k);
      return Promise.resolve(k);
    },
    close: () => Promise.resolve(),
  };
}

/** Kube mode: the key in a Secret of the hub's namespace. */
export async function openKubeHealthKeyStore(o: { kubeConfig: Parameters<typeof openKubeClient>[0]; namespace: string }): Promise<HealthKeyStore> {
  const client: KubeClient = await openKubeClient(o.kubeConfig);
  const target = `secret ${HEALTH_KEY_SECRET} in namespace ${o.namespace}`;
  const get = async (): Promise<{ key: ClusterHealthKey; resourceVersion: string } | undefined> => {
    let secret: Awaited<ReturnType<typeof client.core.readNamespacedSecret>>;
    try {
      secret = await client.core.readNamespacedSecret({ namespace: o.namespace, name: HEALTH_KEY_SECRET });
    } catch (err) {
      if (kubeFailure(err).status === 404) return undefined;
      throw kubeError(err, 'get', target);
    }
    const raw = secret.data?.['key.json'];
    if (!raw) throw new Error(`${target} has no key.json`);
    return { key: fromJson(JSON.parse(Buffer.from(raw, 'base64').toString('utf8')), target), resourceVersion: secret.metadata?.resourceVersion ?? '' };
  };
  const body = (k: ClusterHealthKey, resourceVersion?: string) => ({
    metadata: { name: HEALTH_KEY_SECRET, labels: { 'app.kubernetes.io/managed-by': 'edgeadm' }, ...(resourceVersion ? { resourceVersion } : {}) },
    type: 'Opaque',
    data: { 'key.json': Buffer.from(JSON.stringify(toJson(k))).toString('base64') },
  });
  return {
    read: async () => (await get())?.key,
    async create() {
      const had = await get();
      if (had) throw new ErrHealthKeyExists({ kid: keyId(had.key.current.key) });
      const k = fresh();
      try {
        await client.core.createNamespacedSecret({ namespace: o.namespace, body: body(k) });
      } catch (err) {
        if (kubeFailure(err).status === 409) throw new ErrHealthKeyExists({ kid: keyId((await get())!.key.current.key) });
        throw kubeError(err, 'create', target);
      }
      return k;
    },
    async rotate() {
      for (let attempt = 0; ; attempt++) {
        const had = await get();
        const k = fresh(had?.key.current);
        try {
          if (had) await client.core.replaceNamespacedSecret({ namespace: o.namespace, name: HEALTH_KEY_SECRET, body: body(k, had.resourceVersion) });
          else await client.core.createNamespacedSecret({ namespace: o.namespace, body: body(k) });
          return k;
        } catch (err) {
          // Another replica rotated (or created) at the same moment: read again and rotate from there.
          if (attempt < 5 && [409].includes(kubeFailure(err).status ?? 0)) continue;
          throw kubeError(err, had ? 'update' : 'create', target);
        }
      }
    },
    close: () => client.close(),
  };
}
