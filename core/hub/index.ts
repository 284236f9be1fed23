/**
 * core/hub: the cloud API. `buildHubApp` gives a fastify instance with every
 * route registered (not listening); `requireAuth` protects routes other
 * modules add; tokens and the command queue are SQLite-backed.
 */
export {
  authorizeSite,
  buildHubApp,
  DEFAULT_BODY_LIMIT_BYTES,
  principalOf,
  requireAuth,
  type AuthHook,
  type HubApp,
  type HubAppOptions,
  type RequireAuthOptions,
  type StreamLimits,
} from './app.ts';
export {
  openTokenStore,
  ROLES,
  writeAdminTokenFile,
  type CreatedToken,
  type CreateTokenOptions,
  type Principal,
  type Role,
  type SessionRecord,
  type TokenInfo,
  type TokenStore,
  type TokenStoreOptions,
} from './tokens.ts';
export {
  COMMAND_STATES,
  DEFAULT_COMMAND_TTL_SECONDS,
  openCommandQueue,
  type Command,
  type CommandFilter,
  type CommandListener,
  type CommandQueue,
  type CommandQueueOptions,
  type CommandResult,
  type CommandState,
  type EnqueueOptions,
} from './commands.ts';
export { kubeNodeAnnotator, NodeHealthRecorder, type NodeAnnotator } from './node-health.ts';
export { describeKey, HEALTH_KEY_SECRET, openFileHealthKeyStore, openKubeHealthKeyStore, siteKeyring, type ClusterHealthKey, type HealthKeyStore } from './health-keys.ts';
export { ensureSharedAdminToken, openKubeTokenStore, type KubeTokenStoreOptions } from './tokens-kube.ts';
export { installHubCrds, openKubeCommandQueue, type KubeCommandQueueOptions } from './commands-kube.ts';
export { registeredMetric, type HubMetrics } from './metrics.ts';
export { ACCESS_RULES, accessRules, ANYONE, PRINCIPAL_CLASSES, type PrincipalClass, type RouteRule } from './access.ts';
export { CSRF_HEADER, type BrowserSession, type BrowserSessions } from './auth.ts';
export type { HubContext, HubModule, HubModuleHost, HubModuleParts } from './context.ts';
export { errorResponses } from './schemas.ts';
export { createPluginCatalog, type PluginCatalogSource } from './plugin-catalog.ts';
export type { Delivery } from './delivery.ts';
export type { HostKey, HostKeysView } from './node-status.ts';
// The API's wire types, shared by the CLI and the console.
export type * from './api-types.ts';
export type { RequestIssue, MissingRef } from './errors.ts';
export * as HubErrors from './errors.ts';
// The embedded hub process.
export { startHub, type Hub, type StartHubOptions } from './server.ts';
