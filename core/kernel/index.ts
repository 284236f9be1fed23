/** core/kernel: lifecycle phases, DI scopes, config, coded errors, logging, and the rules for Go durations and Kubernetes names. */

export {
  createError,
  describeError,
  EdgeAggregateError,
  EdgeError,
  ErrJsonForbiddenKey,
  ErrJsonNumberRange,
  ErrJsonSyntax,
  ErrJsonTooDeep,
  isEdgeError,
  toErrorInfo,
  type EdgeErrorClass,
  type EdgeErrorOptions,
  type ErrorInfo,
} from './errors.ts';
export * as KernelErrors from './errors.ts';
export { checkSchema, deepFreeze, joinPath, literalUnion, parseWithSchema, type FieldIssue, type ParseResult } from './schema.ts';
export { DEFAULT_MAX_JSON_DEPTH, parseJson, type ParseJsonOptions } from './json.ts';
export { ConfigError, ENV_PREFIX, envNameToPath, loadConfig, type LoadConfigOptions } from './config.ts';
export { createLogger, LOG_LEVELS, REDACT_PATHS, type CreateLoggerOptions, type Logger, type LogLevel } from './logger.ts';
export { createServiceRef, ServiceScope, type ServiceRef, type ServiceType } from './services.ts';
export { EDGEADM_VERSION } from './version.ts';
export { goDurationMs, goDurationProblem, nsToMs, parseGoDuration } from './duration.ts';
export {
  compareNames,
  dns1123LabelProblem,
  dns1123SubdomainProblem,
  DNS1123_LABEL_MAX,
  DNS1123_LABEL_PATTERN,
  DNS1123_LABEL_RULE,
  DNS1123_SUBDOMAIN_MAX,
  DNS1123_SUBDOMAIN_PATTERN,
  DNS1123_SUBDOMAIN_RULE,
  labelKeyProblem,
  labelValueProblem,
} from './names.ts';
export { ensurePrivateDir, ensurePrivateFile, privateTree } from './files.ts';
export { BOOTSTRAP_TOKEN_ID_RE, BOOTSTRAP_TOKEN_RE, generateSecret, hashSecret, isSecretHash, rememberingVerifier, verifySecret } from './secrets.ts';
export { promised, TeardownStack, withTimeout, type Teardown } from './lifecycle.ts';
export { freePort } from './ports.ts';
export { startMetricsServer, type MetricsServer, type MetricsServerOptions, type MetricsSource } from './metrics-server.ts';
export {
  Kernel,
  PHASES,
  type Component,
  type ComponentContext,
  type ComponentState,
  type ComponentStatus,
  type KernelOptions,
  type KernelState,
  type Phase,
} from './kernel.ts';
export { KernelConfigSchema, LogConfigSchema } from './config-schemas.ts';
