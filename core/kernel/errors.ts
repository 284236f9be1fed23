/**
 * Coded errors. Every capability declares its errors once, through
 * `createError`, so each failure carries a stable `code`, a message that
 * names the offending thing, structured `params`, and the original `cause`.
 *
 * Each capability declares all of its errors in one file, `errors.ts` at its
 * root, which imports only from the kernel. This one also holds the kernel's
 * own errors (config, services, lifecycle, durations, JSON), after the factory.
 */
import type { FieldIssue } from './schema.ts';

export interface EdgeErrorOptions {
  cause?: unknown;
}

/** A plain, serialisable view of an error: what status APIs and the CLI show. */
export interface ErrorInfo {
  code: string;
  message: string;
  params?: Record<string, unknown>;
  cause?: ErrorInfo;
  errors?: ErrorInfo[];
}

export class EdgeError<P extends object = object> extends Error {
  readonly code: string;
  readonly params: P;
  /** HTTP-style status a transport may map this error to. */
  readonly statusCode: number;

  constructor(code: string, message: string, params: P, statusCode = 500, options?: EdgeErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EdgeError';
    this.code = code;
    this.params = params;
    this.statusCode = statusCode;
  }

  toJSON(): ErrorInfo {
    return toErrorInfo(this);
  }
}

export interface EdgeErrorClass<P extends object> {
  new (params: P, options?: EdgeErrorOptions): EdgeError<P>;
  readonly code: string;
  /** True when `err` is an EdgeError carrying this class's code. */
  is(err: unknown): err is EdgeError<P>;
}

export interface CreateErrorOptions {
  statusCode?: number;
}

/**
 * Declares one coded error class. The code must start with `EDGE_ERR_`.
 *
 *   export const ErrDepMissing = createError('EDGE_ERR_PLUGIN_DEP_MISSING',
 *     (p: { plugin: string; dependency: string }) => `plugin '${p.plugin}' needs '${p.dependency}'`);
 */
export function createError<P extends object>(
  code: string,
  format: (params: P) => string,
  options: CreateErrorOptions = {},
): EdgeErrorClass<P> {
  if (!/^EDGE_ERR_[A-Z0-9_]+$/.test(code)) {
    throw new TypeError(`error code '${code}' must match EDGE_ERR_[A-Z0-9_]+`);
  }
  const statusCode = options.statusCode ?? 500;
  const Coded = class extends EdgeError<P> {
    static readonly code = code;
    static is(err: unknown): err is EdgeError<P> {
      return err instanceof EdgeError && err.code === code;
    }
    constructor(params: P, opts?: EdgeErrorOptions) {
      super(code, format(params), params, statusCode, opts);
    }
  };
  Object.defineProperty(Coded, 'name', { value: code });
  return Coded;
}

/** Several problems reported together (validation runs report every problem at once). */
export class EdgeAggregateError extends EdgeError<{ count: number }> {
  readonly errors: readonly EdgeError[];

  constructor(code: string, summary: string, errors: readonly EdgeError[], statusCode = 400) {
    const lines = errors.map((e) => `  - [${e.code}] ${e.message}`).join('\n');
    super(code, `${summary} (${errors.length} problem${errors.length === 1 ? '' : 's'}):\n${lines}`, { count: errors.length }, statusCode);
    this.errors = errors;
  }
}

export function isEdgeError(err: unknown): err is EdgeError {
  return err instanceof EdgeError;
}

/** A serialisable view of any thrown value; EdgeErrors keep their code, params and cause chain. */
export function toErrorInfo(err: unknown): ErrorInfo {
  if (err instanceof EdgeAggregateError) {
    return { code: err.code, message: err.message, errors: err.errors.map(toErrorInfo) };
  }
  if (err instanceof EdgeError) {
    const info: ErrorInfo = { code: err.code, message: err.message };
    const params: object = err.params as object;
    if (Object.keys(params).length > 0) info.params = { ...params };
    if (err.cause !== undefined) info.cause = toErrorInfo(err.cause);
    return info;
  }
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return { code: typeof code === 'string' ? code : 'EDGE_ERR_UNEXPECTED', message: err.message };
  }
  return { code: 'EDGE_ERR_UNEXPECTED', message: String(err) };
}

/** A one-line description of any thrown value, for logs and status lines. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

// ---------------------------------------------------------------- the kernel's own errors

export const ErrConfigFile = createError(
  'EDGE_ERR_CONFIG_FILE',
  (p: { file: string; reason: string }) => `cannot read config file '${p.file}': ${p.reason}`,
  { statusCode: 400 },
);

export const ErrConfigParse = createError(
  'EDGE_ERR_CONFIG_PARSE',
  (p: { file: string; line?: number; reason: string }) =>
    `config file '${p.file}'${p.line === undefined ? '' : ` line ${p.line}`} is not valid YAML: ${p.reason}`,
  { statusCode: 400 },
);

export const ErrConfigEnv = createError(
  'EDGE_ERR_CONFIG_ENV',
  (p: { variable: string; path: string; reason: string }) => `environment variable ${p.variable} (${p.path}): ${p.reason}`,
  { statusCode: 400 },
);

export const ErrConfigField = createError(
  'EDGE_ERR_CONFIG_FIELD',
  (p: FieldIssue & { source: string }) => `${p.path === '' ? '(root)' : p.path} ${p.message} (from ${p.source})`,
  { statusCode: 400 },
);

export const ErrServiceMissing = createError(
  'EDGE_ERR_SERVICE_MISSING',
  (p: { service: string; requester: string }) => `service '${p.service}' is not available to ${p.requester}`,
);

export const ErrServiceConflict = createError(
  'EDGE_ERR_SERVICE_CONFLICT',
  (p: { service: string; scope: string }) => `service '${p.service}' is already provided in ${p.scope}`,
);

export const ErrComponentStart = createError(
  'EDGE_ERR_KERNEL_COMPONENT_START',
  (p: { component: string; phase: string; reason: string }) =>
    `kernel component '${p.component}' (phase ${p.phase}) failed to start: ${p.reason}`,
);

export const ErrComponentStop = createError(
  'EDGE_ERR_KERNEL_COMPONENT_STOP',
  (p: { component: string; reason: string }) => `kernel component '${p.component}' failed to stop: ${p.reason}`,
);

export const ErrTimeout = createError(
  'EDGE_ERR_TIMEOUT',
  (p: { what: string; ms: number }) => `${p.what} did not finish within ${p.ms} ms`,
  { statusCode: 504 },
);

export const ErrKernelState = createError(
  'EDGE_ERR_KERNEL_STATE',
  (p: { action: string; state: string }) => `cannot ${p.action} a kernel that is ${p.state}`,
);

/** A data directory everyone may write to: another user could swap or read what edgeadm keeps there. */
export const ErrSharedDir = createError(
  'EDGE_ERR_SHARED_DIR',
  (p: { path: string; mode: string }) =>
    `'${p.path}' (mode ${p.mode}) is writable by every user: edgeadm keeps credentials and databases in its data directory, so give it a directory of its own`,
  { statusCode: 400 },
);

/** A text that is not a Go duration (`500ms`, `1h30m`): see duration.ts. */
export const ErrDuration = createError(
  'EDGE_ERR_DURATION',
  (p: { text: string; reason: string }) => `'${p.text}' is not a Go duration such as '500ms', '1.5s' or '1h30m': it ${p.reason}`,
  { statusCode: 400 },
);

// ---------------------------------------------------------------- JSON (json.ts)

export const ErrJsonSyntax = createError(
  'EDGE_ERR_JSON_SYNTAX',
  (p: { what: string; reason: string }) => `${p.what} is not valid JSON: ${p.reason}`,
  { statusCode: 400 },
);

export const ErrJsonTooDeep = createError(
  'EDGE_ERR_JSON_TOO_DEEP',
  (p: { what: string; limit: number; path: string; offset: number }) =>
    `${p.what} nests arrays and objects deeper than ${p.limit} levels, at ${p.path === '' ? '(root)' : p.path} (character ${p.offset})`,
  { statusCode: 400 },
);

export const ErrJsonForbiddenKey = createError(
  'EDGE_ERR_JSON_FORBIDDEN_KEY',
  (p: { what: string; path: string; key: string }) => `${p.what} has the key '${p.key}' at ${p.path}, which is refused: it could change object prototypes`,
  { statusCode: 400 },
);

export const ErrJsonNumberRange = createError(
  'EDGE_ERR_JSON_NUMBER_RANGE',
  (p: { what: string; path: string }) => `${p.what} has a number at ${p.path === '' ? '(root)' : p.path} beyond the range of a 64-bit float`,
  { statusCode: 400 },
);
