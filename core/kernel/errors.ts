/**
 * Coded errors. Every capability declares its errors once, through
 * `createError`, so each failure carries a stable `code`, a message that
 * names the offending thing, structured `params`, and the original `cause`.
 */

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
