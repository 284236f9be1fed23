/**
 * core/store: the ResourceStore contract (Kubernetes-style resources with
 * resourceVersion semantics), the resource kinds' schemas and validation,
 * label selectors, the store's coded errors (`StoreErrors`), the embedded
 * SQLite driver, the PostgreSQL driver (hub replicas on separate machines
 * sharing one database; loaded on use), the kube driver (custom resources
 * through kube-apiserver), CustomResourceDefinitions from the schemas
 * (`crdFromSchema`), and the hub-to-site replication protocol.
 */
import type { PostgresStoreOptions } from './postgres.ts';
import type { ResourceStore } from './types.ts';

export * from './types.ts';
export * from './schemas.ts';
export * from './selectors.ts';
export * from './addons.ts';
export * from './profile-sources.ts';
export * as StoreErrors from './errors.ts';
export { openSqliteStore, type SqliteStoreOptions } from './sqlite.ts';
export type { PostgresStoreOptions } from './postgres.ts';
/** The PostgreSQL driver, loaded on use: a site agent (which imports this folder) never loads `pg`. */
export async function openPostgresStore(opts: PostgresStoreOptions): Promise<ResourceStore> {
  return (await import('./postgres.ts')).openPostgresStore(opts);
}
export { crdFromSchema, edgeadmCrds, type CrdFromSchemaOptions, type PrinterColumn } from './crds.ts';
export { openKubeStore, SITE_LABEL, SITE_LABEL_PREFIX, type KubeStoreOptions } from './kube.ts';
export { commandCrd, COMMAND_GROUP, COMMAND_KINDS, COMMAND_STATES, COMMAND_PLURAL, COMMAND_VERSION, INITIAL_ADMIN_SECRET, PEER_SECRET } from './hub-state.ts';
export { applyCrds, kubeError, kubeFailure, openKubeClient, pageRequest, reflect, sleep as kubeSleep, typedPage, type KubeClient, type KubeObject, type KubeStatus, type ListPage, type ReflectOptions } from './kube-client.ts';
export * from './replication.ts';
export { nodeStanding, siteStanding, type NodeStanding } from './node-standing.ts';
export { addonInstanceStanding, deviceStanding, type AddonInstanceStanding, type DeviceWord } from './standing.ts';
export { ErrSyncMessage } from './errors.ts';
