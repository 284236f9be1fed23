/** @typedef {import('./types.js').Session} Session */
/** @typedef {import('./types.js').ErrorBody} ErrorBody */

/** A failed API call, carrying the hub's coded error body. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {unknown} [details]
   */
  constructor(status, code, message, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let csrf = '';
/** @type {() => void} */
let unauthorized = () => {};

/**
 * Called when any request (other than logging in) answers 401.
 * @param {() => void} fn
 */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/** @param {Session | null} session */
function remember(session) {
  csrf = session ? session.csrf : '';
}

/**
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @param {{ signal?: AbortSignal, quiet401?: boolean }} [opts]
 * @returns {Promise<unknown>}
 */
export async function request(method, path, body, opts = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-edgeadm-csrf'] = csrf;
  /** @type {RequestInit} */
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) init.body = JSON.stringify(body);
  if (opts.signal) init.signal = opts.signal;
  const res = await fetch(path, init);
  if (res.status === 204) return null;
  const text = await res.text();
  /** @type {unknown} */
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    // Checked field by field below: a proxy in between may answer with anything.
    const err = /** @type {Partial<Record<keyof ErrorBody, unknown>> | null} */ (data);
    const code = typeof err?.code === 'string' ? err.code : `HTTP_${res.status}`;
    const message = typeof err?.message === 'string' ? err.message : res.statusText || 'request failed';
    if (res.status === 401 && !opts.quiet401) unauthorized();
    throw new ApiError(res.status, code, message, err?.details);
  }
  return data;
}

/** @param {string} path @param {{ signal?: AbortSignal }} [opts] */
export const get = (path, opts) => request('GET', path, undefined, opts);
/** @param {string} path @param {unknown} body @param {{ signal?: AbortSignal }} [opts] */
export const post = (path, body, opts) => request('POST', path, body, opts);
/** @param {string} path @param {unknown} body @param {{ signal?: AbortSignal }} [opts] */
export const put = (path, body, opts) => request('PUT', path, body, opts);
/** @param {string} path @param {{ signal?: AbortSignal }} [opts] */
export const del = (path, opts) => request('DELETE', path, undefined, opts);

/**
 * The field problems of a refused request (the hub's `details.issues`, each
 * with its dotted `path`), by path; empty for any other error. Forms show each
 * next to its field and the rest above the form.
 * @param {unknown} err
 * @returns {Map<string, string>}
 */
export function issuesByPath(err) {
  /** @type {Map<string, string>} */
  const out = new Map();
  if (!(err instanceof ApiError)) return out;
  const issues = /** @type {{ issues?: unknown } | undefined} */ (err.details)?.issues;
  if (!Array.isArray(issues)) return out;
  for (const i of issues) {
    const issue = /** @type {{ path?: unknown, message?: unknown }} */ (i);
    const path = typeof issue?.path === 'string' ? issue.path.replace(/^\//, '').replace(/\//g, '.') : '';
    const message = typeof issue?.message === 'string' ? issue.message : 'is not valid';
    out.set(path, out.has(path) ? `${out.get(path)}; ${message}` : message);
  }
  return out;
}

/**
 * The current session, or null when not logged in.
 * @returns {Promise<Session | null>}
 */
export async function loadSession() {
  try {
    const s = /** @type {Session} */ (await request('GET', '/api/v1/console/session', undefined, { quiet401: true }));
    remember(s);
    return s;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      remember(null);
      return null;
    }
    throw err;
  }
}

/**
 * @param {string} token
 * @returns {Promise<Session>}
 */
export async function login(token) {
  const s = /** @type {Session} */ (await request('POST', '/api/v1/console/session', { token }, { quiet401: true }));
  remember(s);
  return s;
}

export async function logout() {
  try {
    await request('DELETE', '/api/v1/console/session', undefined, { quiet401: true });
  } finally {
    remember(null);
  }
}

/**
 * A readable one-line form of an error for the UI: "CODE: message".
 * @param {unknown} err
 */
export function describeError(err) {
  if (err instanceof ApiError) {
    const issues = /** @type {{ issues?: { path?: string, message?: string }[] } | undefined} */ (err.details)?.issues;
    const extra = Array.isArray(issues) && issues.length > 0 ? ` (${issues.map((i) => `${i.path ?? ''} ${i.message ?? ''}`.trim()).join('; ')})` : '';
    return `${err.code}: ${err.message}${extra}`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

/** @param {string} s */
export const enc = (s) => encodeURIComponent(s);
