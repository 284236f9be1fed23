/**
 * core/store: the ResourceStore contract (Kubernetes-style resources with
 * resourceVersion semantics), the resource kinds' schemas and validation,
 * label selectors, the store's coded errors (`StoreErrors`), the embedded
 * SQLite driver, and the hub-to-site replication protocol.
 */
export * from './types.ts';
export * from './schemas.ts';
export * from './selectors.ts';
export * from './addons.ts';
export * from './profile-sources.ts';
export * as StoreErrors from './errors.ts';
export { openSqliteStore, type SqliteStoreOptions } from './sqlite.ts';
export * from './replication.ts';
export { ErrSyncMessage } from './errors.ts';
