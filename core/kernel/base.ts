/**
 * The kernel's part that imports no package: coded errors, the version and
 * the log levels. A second public entry beside index.ts for what every
 * `edgeadm` start loads (the command line's top level), since importing
 * index.ts loads all of the kernel (typebox, yaml, pino, tsyringe).
 */
export { createError, describeError, EdgeAggregateError, EdgeError, isEdgeError, toErrorInfo, type EdgeErrorClass, type EdgeErrorOptions, type ErrorInfo } from './errors.ts';
export type { FieldIssue } from './schema.ts';
export { EDGEADM_VERSION } from './version.ts';
export { LOG_LEVELS, type LogLevel } from './log-levels.ts';
