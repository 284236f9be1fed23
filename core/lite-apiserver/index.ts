/** core/lite-apiserver: the caching Kubernetes API proxy that keeps an edge node autonomous while the cloud is away. */
export { LITE_APISERVER_PORT, startLiteApiserver, type LiteApiserver, type LiteApiserverOptions, type LiteApiserverStatus } from './proxy.ts';
export { STORAGE_DRIVERS, type StorageDriver, type StorageStats } from './storage.ts';
export type { UpstreamState } from './breaker.ts';
export * as LiteApiserverErrors from './errors.ts';
