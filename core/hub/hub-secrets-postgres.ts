/**
 * What hub replicas on one PostgreSQL database must hold alike beyond
 * tokens and commands: the cluster's health key (the root of every site's
 * gossip key) and the replicas' peer credential (what one presents to
 * another when it forwards a tunnel request). Both are rows of
 * `edgeadm_hub_secrets`, as kube mode keeps them in Secrets of its
 * namespace: whoever may read the hub's database may read them, as whoever
 * may read its data directory may read `health-key.json` and `peer.token`.
 */
import { randomBytes } from 'node:crypto';
import { keyId } from '../health/index.ts';
import type { Logger } from '../kernel/index.ts';
import { engineReason, openPostgres, type Postgres } from '../postgres/index.ts';
import { ErrHealthKeyExists, ErrStateBackend } from './errors.ts';
import { fresh, fromJson, toJson, type ClusterHealthKey, type HealthKeyStore } from './health-keys.ts';

const SCHEMA = {
  table: 'edgeadm_hub_secrets_schema',
  lock: 727_104,
  migrations: [
    `
    CREATE TABLE edgeadm_hub_secrets (
      name TEXT PRIMARY KEY,
      value TEXT NOT NULL,
      version BIGINT NOT NULL DEFAULT 1
    );
    `,
  ],
} as const;

const HEALTH_KEY = 'health-key';
const PEER = 'peer-credential';
const fail = (what: string, err: unknown): Error => new ErrStateBackend({ store: 'secret', what, reason: engineReason(err) }, { cause: err });

async function open(url: string, logger: Logger | undefined): Promise<Postgres> {
  const db = openPostgres({ url, poolSize: 2, fail, ...(logger ? { logger } : {}) });
  try {
    await db.migrate(SCHEMA, 'migrating the schema');
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  return db;
}

/** The health key in the hub's database. */
export async function openPostgresHealthKeyStore(o: { url: string; logger?: Logger }): Promise<HealthKeyStore> {
  const db = await open(o.url, o.logger);
  const where = `row ${HEALTH_KEY} of edgeadm_hub_secrets`;
  const get = async (): Promise<{ key: ClusterHealthKey; version: number } | undefined> => {
    const row = (await db.sql<{ value: string; version: number }>('reading the health key', 'SELECT value, version FROM edgeadm_hub_secrets WHERE name = $1', [HEALTH_KEY])).rows[0];
    return row && { key: fromJson(JSON.parse(row.value), where), version: row.version };
  };
  return {
    read: async () => (await get())?.key,
    async create() {
      const k = fresh();
      const made = await db.sql('creating the health key', 'INSERT INTO edgeadm_hub_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [HEALTH_KEY, JSON.stringify(toJson(k))]);
      // Of two replicas creating at once, one wins and the other is told.
      if ((made.rowCount ?? 0) === 0) throw new ErrHealthKeyExists({ kid: keyId((await get())!.key.current.key) });
      return k;
    },
    async rotate() {
      for (let attempt = 0; ; attempt++) {
        const had = await get();
        const k = fresh(had?.key.current);
        const value = JSON.stringify(toJson(k));
        const r = had
          ? await db.sql('rotating the health key', 'UPDATE edgeadm_hub_secrets SET value = $2, version = version + 1 WHERE name = $1 AND version = $3', [HEALTH_KEY, value, had.version])
          : await db.sql('rotating the health key', 'INSERT INTO edgeadm_hub_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [HEALTH_KEY, value]);
        if ((r.rowCount ?? 0) > 0) return k;
        // Another replica rotated (or created) at the same moment: read again and rotate from there.
        if (attempt >= 5) throw fail('rotating the health key', new Error('other replicas kept rotating it at the same moment'));
      }
    },
    close: () => db.close(),
  };
}

/** The replicas' peer credential: made by the first replica that asks, the same for every one after. */
export async function postgresPeerCredential(o: { url: string; logger?: Logger }): Promise<string> {
  const db = await open(o.url, o.logger);
  try {
    await db.sql('making the peer credential', 'INSERT INTO edgeadm_hub_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [PEER, randomBytes(32).toString('base64url')]);
    const row = (await db.sql<{ value: string }>('reading the peer credential', 'SELECT value FROM edgeadm_hub_secrets WHERE name = $1', [PEER])).rows[0];
    return row!.value;
  } finally {
    await db.close();
  }
}
