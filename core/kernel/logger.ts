/**
 * Structured logging (pino), injected, never imported as a global: the kernel
 * creates the root logger and hands a child bound with `component` or
 * `plugin` (and `site`) to each part. Secrets are redacted by field name.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

import type { LogLevel } from './log-levels.ts';

export { LOG_LEVELS, type LogLevel } from './log-levels.ts';

const SECRET_KEYS = ['token', 'password', 'secret', 'privateKey', 'authorization', 'bootstrapToken', 'credential'];

/** Field paths redacted in every log line, at the top level and two levels down. */
export const REDACT_PATHS: readonly string[] = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

export interface CreateLoggerOptions {
  level?: LogLevel;
  /** Where lines go; defaults to standard error so command output stays clean. */
  destination?: DestinationStream;
  /** Fields bound to every line. */
  base?: Record<string, unknown>;
}

export function createLogger(opts: CreateLoggerOptions = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    base: { ...(opts.base ?? {}) },
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return pino(options, opts.destination ?? pino.destination({ fd: 2, sync: true }));
}
