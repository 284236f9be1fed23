/**
 * Who is asking, for the Kubernetes API test server: bearer-token
 * authentication of several users (the admin of the `token` option and the
 * `users` added at start or later), the `authentication.k8s.io/v1`
 * SelfSubjectReview that tells a user who the server thinks it is, and a
 * bounded log of each request's user for tests.
 *
 * Rules, as kube-apiserver's static token authenticator: the header is
 * `Authorization: Bearer <token>` (the scheme in any case); an unknown or
 * missing token is not a user (the server answers 401); every authenticated
 * user is in the group `system:authenticated`, added when its groups lack it.
 * Nothing here authorizes: every user may do everything.
 */
import { ErrKubeApiOptions, ErrKubeApiStatus } from './errors.ts';

/** A user the server knows, by the bearer token it presents. */
export interface KubeUser {
  token: string;
  /** The username (`user.Info.GetName()`), e.g. `system:node:edge-1` or `alice`. */
  name: string;
  /** Its groups; `system:authenticated` is added when missing. */
  groups?: string[];
  uid?: string;
}

/** An authenticated user as kube-apiserver reports it (`authentication.k8s.io/v1` UserInfo). */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
}

/** One request as seen by the server, in arrival order. */
export interface RequestLogEntry {
  /**
   * The username; `system:anonymous` for a request without credentials to a
   * path open to all (/healthz, /livez, /readyz, /version); `''` for a
   * request refused with 401 (no token or an unknown one).
   */
  user: string;
  method: string;
  /** The URL path, percent-encoded as sent, without the query. */
  path: string;
  /** The query string as sent, without the `?`; `''` when none. */
  query: string;
}

/** The admin's username and groups: the identity of the server's `token`. */
export const ADMIN_USER = { username: 'admin', groups: ['system:masters', 'system:authenticated'] } as const;

/** The group kube-apiserver adds to every authenticated user. */
export const AUTHENTICATED_GROUP = 'system:authenticated';

/** The user kube-apiserver gives a request without credentials. */
export const ANONYMOUS_USER = 'system:anonymous';

/** The SelfSubjectReview's group, version and resource. */
export const AUTHENTICATION_GROUP = 'authentication.k8s.io';
export const AUTHENTICATION_VERSION = 'v1';
export const SELF_SUBJECT_REVIEWS = 'selfsubjectreviews';

/** The discovery entry of selfsubjectreviews, as kube-apiserver 1.28+ lists it: cluster-scoped, create only. */
export const SELF_SUBJECT_REVIEW_DISCOVERY = {
  name: SELF_SUBJECT_REVIEWS,
  singularName: 'selfsubjectreview',
  namespaced: false,
  kind: 'SelfSubjectReview',
  verbs: ['create'],
} as const;

/** How many requests `RequestLog` keeps (the latest). */
export const REQUEST_LOG_LIMIT = 10_000;

function badUser(reason: string): never {
  throw new ErrKubeApiOptions({ option: 'users', reason });
}

/** The bearer token of an Authorization header, as kube-apiserver's bearertoken authenticator reads it; undefined when none. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const parts = authorization.trim().split(' ');
  if (parts.length < 2 || parts[0]?.toLowerCase() !== 'bearer') return undefined;
  const token = parts[1] as string;
  return token === '' ? undefined : token;
}

/** The users of one server, by token. */
export class Authenticator {
  private readonly byToken = new Map<string, UserInfo>();

  constructor(adminToken: string, users: readonly KubeUser[] = []) {
    this.byToken.set(adminToken, { username: ADMIN_USER.username, groups: [...ADMIN_USER.groups] });
    if (!Array.isArray(users)) badUser('must be an array of { token, name, groups?, uid? }');
    for (const u of users) this.add(u);
  }

  /** Adds a user; refuses an empty token or name, a token already in use, and groups that are not strings. */
  add(u: KubeUser): void {
    if (typeof u !== 'object' || u === null) badUser('must hold objects { token, name, groups?, uid? }');
    if (typeof u.token !== 'string' || u.token === '' || /\s/.test(u.token)) badUser(`token of user ${JSON.stringify(u.name)} must be a non-empty string without spaces`);
    if (typeof u.name !== 'string' || u.name === '') badUser('name must be a non-empty string');
    if (this.byToken.has(u.token)) badUser(`token of user ${JSON.stringify(u.name)} is already the token of user ${JSON.stringify(this.byToken.get(u.token)?.username)}`);
    const groups = u.groups ?? [];
    if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string' || g === '')) badUser(`groups of user ${JSON.stringify(u.name)} must be non-empty strings`);
    if (u.uid !== undefined && typeof u.uid !== 'string') badUser(`uid of user ${JSON.stringify(u.name)} must be a string`);
    const info: UserInfo = { username: u.name, groups: groups.includes(AUTHENTICATED_GROUP) ? [...groups] : [...groups, AUTHENTICATED_GROUP] };
    if (u.uid !== undefined && u.uid !== '') info.uid = u.uid;
    this.byToken.set(u.token, info);
  }

  /** The user of a request's Authorization header; undefined when it carries no known token. */
  authenticate(authorization: string | undefined): UserInfo | undefined {
    const token = bearerToken(authorization);
    if (token === undefined) return undefined;
    const u = this.byToken.get(token);
    return u === undefined ? undefined : { ...u, groups: [...u.groups] };
  }
}

/** The latest `limit` requests (or other entries: the admission log's), oldest first. */
export class RequestLog<E extends object = RequestLogEntry> {
  private entries: E[] = [];

  constructor(private readonly limit = REQUEST_LOG_LIMIT) {}

  record(e: E): void {
    this.entries.push(e);
    // Trimmed in batches, so a busy server does not move the whole array on every request.
    if (this.entries.length >= this.limit * 2) this.entries = this.entries.slice(-this.limit);
  }

  list(): E[] {
    return this.entries.slice(-this.limit).map((e) => ({ ...e }));
  }

  clear(): void {
    this.entries = [];
  }
}

function badRequest(message: string): never {
  throw new ErrKubeApiStatus({ reason: 'BadRequest', code: 400, message });
}

/**
 * The answer to `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`
 * with `body` by `user` (kube-apiserver's selfsubjectreview REST, 1.28+):
 * the request's own user, nothing stored, no name. The body must be a
 * SelfSubjectReview object (apiVersion and kind may be left out: the URL's
 * are assumed); its content is otherwise ignored.
 */
export function selfSubjectReview(user: UserInfo, body: unknown, now: Date = new Date()): Record<string, unknown> {
  // As the apiserver's JSON decoder: an empty body has no kind to read.
  if (body === undefined) badRequest("couldn't get version/kind; json parse error: unexpected end of JSON input");
  if (typeof body !== 'object' || body === null || Array.isArray(body)) badRequest('the request body must be a SelfSubjectReview object');
  const expected = `${AUTHENTICATION_GROUP}/${AUTHENTICATION_VERSION}`;
  const { apiVersion, kind } = body as { apiVersion?: unknown; kind?: unknown };
  if (apiVersion !== undefined && typeof apiVersion !== 'string') badRequest('apiVersion of the request body must be a string');
  if (kind !== undefined && typeof kind !== 'string') badRequest('kind of the request body must be a string');
  if (apiVersion !== undefined && apiVersion !== '' && apiVersion !== expected) {
    badRequest(`the API version in the data (${apiVersion}) does not match the expected API version (${expected})`);
  }
  if (kind !== undefined && kind !== '' && kind !== 'SelfSubjectReview') badRequest(`no kind "${kind}" is registered for version "${expected}"`);
  // metav1.Time: RFC 3339 to the second; uid and extra are omitted when empty.
  const userInfo: Record<string, unknown> = { username: user.username };
  if (user.uid !== undefined) userInfo.uid = user.uid;
  userInfo.groups = [...user.groups];
  return {
    kind: 'SelfSubjectReview',
    apiVersion: expected,
    metadata: { creationTimestamp: `${now.toISOString().slice(0, 19)}Z` },
    status: { userInfo },
  };
}
