/**
 * The HTTP face of the Kubernetes API test server: node:https (a
 * certificate from a throwaway CA made at start with core/pki) or plain
 * node:http on 127.0.0.1, bearer-token authentication of several users
 * (auth.ts) and the request log, discovery, the SelfSubjectReview, the
 * resource paths (`/api/v1/...`, `/apis/<group>/<version>/...`, namespaced
 * and cluster-scoped, `/status` subresources, the legacy `/watch/` prefix),
 * watch streams (newline-delimited JSON, bookmarks, timeoutSeconds, a
 * per-resource delay for tests: `delayWatches`), errors
 * as `Status` objects, and `kubeconfig()` for kubectl and client-node.
 * Each write (create, update, patch, delete, deletecollection) is admitted
 * by the stored MutatingWebhookConfigurations' webhooks (admission.ts) as
 * the request's user; `admissionLog()` lists the calls.
 *
 * Rules: every answer is JSON (`Status` on failure) except the health
 * endpoints' `ok`; anonymous requests reach only /healthz, /livez, /readyz
 * and /version, and a bearer token that is sent must be known even there;
 * any known user may do anything (no authorization); a watch stream ends
 * when the client leaves, at timeoutSeconds, when its type stops being
 * served, or when the server closes.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from '../../../core/kernel/index.ts';
import { isEdgeError, parseJson } from '../../../core/kernel/index.ts';
import { createCertificateAuthority, issueCertificate } from '../../../core/pki/index.ts';
import { ADMISSION_REGISTRATION_GROUP, MUTATING_WEBHOOK_CONFIGURATIONS, MutatingWebhooks, type AdmissionLogEntry, type Admit } from './admission.ts';
import { KubeApi, type ListOptions, type Target, type WatchEvent, type WriteOptions } from './api.ts';
import {
  ANONYMOUS_USER,
  AUTHENTICATION_GROUP,
  AUTHENTICATION_VERSION,
  Authenticator,
  bearerToken,
  RequestLog,
  SELF_SUBJECT_REVIEW_DISCOVERY,
  SELF_SUBJECT_REVIEWS,
  selfSubjectReview,
  type KubeUser,
  type RequestLogEntry,
} from './auth.ts';
import { ErrKubeApiOptions, ErrKubeApiStatus, type StatusParams } from './errors.ts';
import { PROTOBUF_CONTENT_TYPE, protobufTypeMeta } from './protobuf.ts';
import { discoveryEntries, groupVersion, typeKey, type KubeObject } from './resources.ts';

/** The Kubernetes version the server reports at /version. */
export const SERVER_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0+edgeadm-test', platform: 'linux/amd64' };

/** The largest request body accepted, as kube-apiserver's 3 MiB limit. */
const MAX_BODY = 3 * 1024 * 1024;

export interface KubeApiServerOptions {
  /** Serve HTTPS with a fresh self-signed CA (default true); false serves plain HTTP. */
  tls?: boolean;
  /** The admin's bearer token (user `admin`, groups system:masters and system:authenticated; default: a random one). */
  token?: string;
  /** More users, each by its own bearer token; each is also in the group system:authenticated. */
  users?: KubeUser[];
  /** How many change events the watch history keeps (default 1000). */
  historyLimit?: number;
  /** How often a watch with allowWatchBookmarks=true gets a BOOKMARK (default 1000 ms). */
  bookmarkIntervalMs?: number;
  /** TCP port on 127.0.0.1 (default 0: any free one). */
  port?: number;
  /** Logger for start, stop and failed requests (default: none). */
  logger?: Logger;
}

/** A running test server. */
export interface KubeApiServer {
  /** `https://127.0.0.1:<port>` (or http://). */
  readonly url: string;
  /** The admin's bearer token (user `admin`, in system:masters). */
  readonly token: string;
  /** The CA certificate (PEM) that signed the server's certificate; undefined for plain HTTP. */
  readonly caPem: string | undefined;
  /** The current global resourceVersion. */
  readonly revision: number;
  /** Drops the watch history: every earlier resourceVersion answers 410 from now on. */
  compact(): void;
  /** Ends every open watch stream, as kube-apiserver's own watch timeout or a restart does; clients watch again. */
  endWatches(): void;
  /**
   * Makes every watch stream of `resource` (the plural, e.g. `nodes`), open
   * or opened later, send each event and bookmark `ms` later than it would,
   * in the same order: a stream lagging behind the others, as a loaded
   * apiserver or a slow connection makes one. 0 ends the delay.
   */
  delayWatches(resource: string, ms: number): void;
  /** Adds a user, known from the next request on; refuses a token already in use (ErrKubeApiOptions). */
  addUser(user: KubeUser): void;
  /** The latest requests (up to 10,000), oldest first, each with its user (see RequestLogEntry). */
  requestLog(): RequestLogEntry[];
  /** Empties the request log. */
  clearRequestLog(): void;
  /**
   * The latest mutating admission webhook calls (up to 10,000), oldest
   * first: configuration, webhook, request uid, operation, resource, name,
   * whether the request went on past it, whether its patch changed the
   * object, and the failure when there was one (see AdmissionLogEntry).
   */
  admissionLog(): AdmissionLogEntry[];
  /** Empties the admission log. */
  clearAdmissionLog(): void;
  /**
   * Writes a kubeconfig for this server (file `kubeconfig` in `dir`, or the
   * `.yaml`/`.kubeconfig`/`.conf` path given) with the admin's token, or
   * `opts.token` (another user's); returns its path.
   */
  kubeconfig(dirOrFile: string, opts?: { token?: string }): Promise<string>;
  /** Ends every watch and stops listening. Idempotent. */
  close(): Promise<void>;
}

function statusBody(p: StatusParams): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: p.continueToken !== undefined ? { continue: p.continueToken } : {},
    status: 'Failure',
    message: p.message,
    // A reason passed through empty from an admission webhook is left out, as kube-apiserver's omitempty does.
    ...(p.reason !== '' ? { reason: p.reason } : {}),
    ...(p.details !== undefined ? { details: p.details } : {}),
    code: p.code,
  };
}

function sendJson(res: http.ServerResponse, code: number, body: unknown, warnings: string[] = []): void {
  const text = JSON.stringify(body);
  if (warnings.length > 0) res.setHeader('Warning', warnings.map((w) => `299 - ${JSON.stringify(w)}`));
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

function fail(p: StatusParams): never {
  throw new ErrKubeApiStatus(p);
}

async function readRawBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) fail({ reason: 'BadRequest', code: 413, message: 'the request body is larger than 3 MiB' });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The request body as JSON; undefined when empty. */
async function readBody(req: http.IncomingMessage): Promise<unknown> {
  const text = (await readRawBody(req)).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return parseJson(text, { what: 'request body' });
  } catch (err) {
    if (isEdgeError(err)) return fail({ reason: 'BadRequest', code: 400, message: err.message });
    throw err;
  }
}

/** The request's media type: its Content-Type without parameters. */
function mediaType(req: http.IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
}

function queryString(q: URLSearchParams, name: string): string | undefined {
  const v = q.get(name);
  return v === null ? undefined : v;
}

/**
 * A boolean query parameter as kube-apiserver reads one
 * (runtime.Convert_Slice_string_To_bool): absent, `0` and `false` in any
 * case are false; any other value, the empty one and Python's `True`
 * included, is true.
 */
function queryBool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v !== null && v !== '0' && v.toLowerCase() !== 'false';
}

function queryInt(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^[0-9]+$/.test(v)) fail({ reason: 'BadRequest', code: 400, message: `invalid ${name} "${v}": must be a non-negative integer` });
  return Number(v);
}

function listOptions(q: URLSearchParams): ListOptions {
  const o: ListOptions = {};
  const set = <K extends keyof ListOptions>(k: K, v: ListOptions[K] | undefined): void => {
    if (v !== undefined) o[k] = v;
  };
  set('labelSelector', queryString(q, 'labelSelector'));
  set('fieldSelector', queryString(q, 'fieldSelector'));
  set('limit', queryInt(q, 'limit'));
  set('continueToken', queryString(q, 'continue'));
  set('resourceVersion', queryString(q, 'resourceVersion'));
  set('resourceVersionMatch', queryString(q, 'resourceVersionMatch'));
  return o;
}

function writeOptions(q: URLSearchParams): WriteOptions {
  const dry = q.getAll('dryRun');
  if (dry.some((d) => d !== 'All')) fail({ reason: 'BadRequest', code: 400, message: `dryRun: Unsupported value: "${dry.join(',')}": supported values: "All"` });
  const fv = q.get('fieldValidation') ?? 'Warn';
  if (fv !== 'Strict' && fv !== 'Warn' && fv !== 'Ignore') {
    fail({ reason: 'BadRequest', code: 400, message: `fieldValidation: Unsupported value: "${fv}": supported values: "Ignore", "Strict", "Warn"` });
  }
  return { dryRun: dry.length > 0, fieldValidation: fv };
}

/** Starts the server on 127.0.0.1. */
export async function startKubeApiServer(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const historyLimit = opts.historyLimit ?? 1000;
  if (!Number.isInteger(historyLimit) || historyLimit < 1) throw new ErrKubeApiOptions({ option: 'historyLimit', reason: `must be an integer >= 1, got ${historyLimit}` });
  const bookmarkMs = opts.bookmarkIntervalMs ?? 1000;
  if (!(bookmarkMs > 0)) throw new ErrKubeApiOptions({ option: 'bookmarkIntervalMs', reason: `must be > 0, got ${bookmarkMs}` });
  const token = opts.token ?? randomBytes(24).toString('base64url');
  if (token === '' || /\s/.test(token)) throw new ErrKubeApiOptions({ option: 'token', reason: 'must be a non-empty string without spaces' });
  const users = new Authenticator(token, opts.users ?? []);
  const requests = new RequestLog();
  const log = opts.logger;
  const api = new KubeApi({ historyLimit });
  // The MutatingWebhookConfigurations, kept current from the store's changes (none exist at start).
  const configurations = new Map<string, KubeObject>();
  const configurationsKey = typeKey({ group: ADMISSION_REGISTRATION_GROUP, resource: MUTATING_WEBHOOK_CONFIGURATIONS });
  api.etcd.listen((e) => {
    if (e.typeKey !== configurationsKey) return;
    if (e.type === 'DELETED') configurations.delete(e.key);
    else configurations.set(e.key, e.object);
  });
  const admission = new MutatingWebhooks({ configurations: () => [...configurations.values()], namespaceLabels: (ns) => api.namespaceLabels(ns) });
  /** The end functions of the open watch streams. */
  const streams = new Set<() => void>();
  /** delayWatches(): the delay of each resource's streams (ms). */
  const delays = new Map<string, number>();
  let address = '127.0.0.1:0';

  /** Whether group/version serves the SelfSubjectReview (answered here, not stored). */
  const isAuthentication = (group: string, version: string): boolean => group === AUTHENTICATION_GROUP && version === AUTHENTICATION_VERSION;

  const apiResourceList = (group: string, version: string): Record<string, unknown> => ({
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupVersion(group, version),
    resources: [
      ...api
        .servedTypes()
        .filter((t) => t.group === group && t.versions.includes(version))
        .flatMap(discoveryEntries),
      ...(isAuthentication(group, version) ? [{ ...SELF_SUBJECT_REVIEW_DISCOVERY, verbs: [...SELF_SUBJECT_REVIEW_DISCOVERY.verbs] }] : []),
    ],
  });

  const apiGroup = (group: string): Record<string, unknown> | undefined => {
    const stored = api.servedTypes().filter((t) => t.group === group).flatMap((t) => t.versions);
    const versions = [...new Set(group === AUTHENTICATION_GROUP ? [AUTHENTICATION_VERSION, ...stored] : stored)];
    if (versions.length === 0) return undefined;
    const entries = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
    return { name: group, versions: entries, preferredVersion: entries[0] };
  };

  /** Discovery and the other non-resource paths; true when answered. */
  const nonResource = (res: http.ServerResponse, method: string, segs: string[], accept: string): boolean => {
    const p = `/${segs.join('/')}`;
    if (p === '/healthz' || p === '/livez' || p === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return true;
    }
    if (method !== 'GET') return false;
    if (p === '/version') return (sendJson(res, 200, { ...SERVER_VERSION, goVersion: `node${process.versions.node}`, compiler: 'node', buildDate: '2026-01-01T00:00:00Z', gitCommit: '', gitTreeState: 'clean' }), true);
    if (p === '/api') return (sendJson(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: address }] }), true);
    if (p === '/api/v1') return (sendJson(res, 200, apiResourceList('', 'v1')), true);
    if (p === '/apis') {
      const groups = [...new Set([...api.servedTypes().map((t) => t.group), AUTHENTICATION_GROUP])].filter((g) => g !== '').map((g) => apiGroup(g));
      return (sendJson(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups }), true);
    }
    if (segs[0] === 'apis' && segs.length === 2) {
      const g = apiGroup(segs[1] as string);
      if (g === undefined) return false;
      return (sendJson(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...g }), true);
    }
    if (segs[0] === 'apis' && segs.length === 3) {
      const list = apiResourceList(segs[1] as string, segs[2] as string);
      if ((list.resources as unknown[]).length === 0) return false;
      return (sendJson(res, 200, list), true);
    }
    if (p === '/openapi/v2') {
      // No OpenAPI document is kept. An empty protobuf message is a valid, empty
      // openapi_v2.Document: clients that validate against it find no schema for
      // any kind and skip client-side validation.
      if (accept.includes('protobuf')) {
        res.writeHead(200, { 'Content-Type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf', 'Content-Length': 0 });
        res.end();
      } else {
        sendJson(res, 200, { swagger: '2.0', info: { title: 'Kubernetes API test server', version: SERVER_VERSION.gitVersion }, paths: {}, definitions: {} });
      }
      return true;
    }
    return false;
  };

  /** Parses a resource path into a target; undefined when the path names no served type. */
  const resolve = (segs: string[]): { target: Target; watchPath: boolean } | undefined => {
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === 'api' && segs.length >= 3) {
      group = '';
      version = segs[1] as string;
      rest = segs.slice(2);
    } else if (segs[0] === 'apis' && segs.length >= 4) {
      group = segs[1] as string;
      version = segs[2] as string;
      rest = segs.slice(3);
    } else {
      return undefined;
    }
    let watchPath = false;
    if (rest[0] === 'watch') {
      watchPath = true;
      rest = rest.slice(1);
    }
    let namespace: string | undefined;
    const nsSub = group === '' && rest[0] === 'namespaces' && rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize');
    if (rest[0] === 'namespaces' && rest.length >= 3 && !nsSub) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [resource, name, sub, ...more] = rest;
    if (resource === undefined || more.length > 0) return undefined;
    const type = api.lookup(group, version, resource);
    if (type === undefined) return undefined;
    if (namespace !== undefined && !type.namespaced) return undefined;
    if (sub !== undefined && !(sub === 'status' && type.statusSubresource)) return undefined;
    const target: Target = { type, version };
    if (namespace !== undefined) target.namespace = namespace;
    if (name !== undefined) target.name = name;
    if (sub === 'status') target.subresource = 'status';
    return { target, watchPath };
  };

  const startWatch = (req: http.IncomingMessage, res: http.ServerResponse, target: Target, q: URLSearchParams): void => {
    const timeout = queryInt(q, 'timeoutSeconds');
    const bookmarks = queryBool(q, 'allowWatchBookmarks');
    const o: ListOptions = listOptions(q);
    let ended = false;
    const timers: NodeJS.Timeout[] = [];
    const running: { handle?: { stop(): void } } = {};
    const end = (): void => {
      if (ended) return;
      ended = true;
      for (const t of timers) clearTimeout(t);
      clearTimeout(flushTimer);
      running.handle?.stop();
      streams.delete(end);
      res.end();
    };
    // Lines held back by delayWatches(), each with the time it is due; written in order.
    const held: { due: number; line: string }[] = [];
    let flushTimer: NodeJS.Timeout | undefined;
    const flush = (): void => {
      flushTimer = undefined;
      while (!ended && held.length > 0 && (held[0] as { due: number }).due <= Date.now()) res.write((held.shift() as { line: string }).line);
      if (!ended && held.length > 0) flushTimer = setTimeout(flush, (held[0] as { due: number }).due - Date.now());
    };
    const send = (e: WatchEvent): void => {
      if (ended) return;
      const line = `${JSON.stringify(e)}\n`;
      const delay = delays.get(target.type.resource) ?? 0;
      if (delay <= 0 && held.length === 0) return void res.write(line);
      held.push({ due: Math.max(Date.now() + delay, held[held.length - 1]?.due ?? 0), line });
      flushTimer ??= setTimeout(flush, (held[0] as { due: number }).due - Date.now());
    };
    // Selectors are parsed before the 200 is written, so a bad one is still a plain 400.
    const started = api.watch(
      target,
      {
        ...(o.labelSelector !== undefined ? { labelSelector: o.labelSelector } : {}),
        ...(o.fieldSelector !== undefined ? { fieldSelector: o.fieldSelector } : {}),
        ...(o.resourceVersion !== undefined ? { resourceVersion: o.resourceVersion } : {}),
      },
      (e) => {
        if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
        send(e);
      },
      end,
    );
    running.handle = started;
    if (ended) {
      started.stop();
      return;
    }
    if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    streams.add(end);
    if (timeout !== undefined && timeout > 0) timers.push(setTimeout(end, timeout * 1000));
    if (bookmarks) {
      const t = target.type;
      // Watchers are called synchronously at each write, so every event up to the current revision is already sent.
      const mark = (): void =>
        send({ type: 'BOOKMARK', object: { kind: t.kind, apiVersion: groupVersion(t.group, target.version), metadata: { resourceVersion: String(api.etcd.revision) } } });
      const tick = (): void => {
        mark();
        timers[1] = setTimeout(tick, bookmarkMs);
      };
      timers[1] = setTimeout(tick, bookmarkMs);
      // As kube-apiserver's watch cache: one more bookmark 2 s before the watch's deadline, when that is still ahead.
      if (timeout !== undefined && timeout > 2) timers[2] = setTimeout(mark, (timeout - 2) * 1000);
    }
    req.on('close', end);
    res.on('close', end);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const q = url.searchParams;
    // Authentication first, as kube-apiserver's filter chain: every request is logged, even one that names nothing.
    const open = ['/healthz', '/livez', '/readyz', '/version'].includes(url.pathname);
    const user = users.authenticate(req.headers.authorization);
    const entry = { method, path: url.pathname, query: url.search.slice(1) };
    // As kube-apiserver's bearer token authenticator: a token that is sent must be known, even where none is needed.
    if (user === undefined && (bearerToken(req.headers.authorization) !== undefined || !open)) {
      requests.record({ user: '', ...entry });
      fail({ reason: 'Unauthorized', code: 401, message: 'Unauthorized' });
    }
    // Only the open paths are reached without a user; there, as kube-apiserver's anonymous authenticator names it.
    const who = user ?? { username: ANONYMOUS_USER, groups: ['system:unauthenticated'] };
    requests.record({ user: who.username, ...entry });
    let segs: string[];
    try {
      segs = url.pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
    } catch {
      return fail({ reason: 'BadRequest', code: 400, message: `the path ${JSON.stringify(url.pathname)} is not validly percent-encoded` });
    }
    if (nonResource(res, method, segs, req.headers.accept ?? '')) return;
    if (segs.length === 4 && segs[0] === 'apis' && isAuthentication(segs[1] as string, segs[2] as string) && segs[3] === SELF_SUBJECT_REVIEWS) {
      if (method !== 'POST') fail({ reason: 'MethodNotAllowed', code: 405, message: `the server does not allow this method on the requested resource` });
      // client-go's typed clients (kubectl auth whoami) send it as protobuf; only its apiVersion and kind are read.
      const body = mediaType(req) === PROTOBUF_CONTENT_TYPE ? protobufTypeMeta(await readRawBody(req)) : await readBody(req);
      return sendJson(res, 201, selfSubjectReview(who, body));
    }
    const found = resolve(segs);
    if (found === undefined) fail({ reason: 'NotFound', code: 404, message: 'the server could not find the requested resource', details: {} });
    const { target, watchPath } = found;
    const collection = target.name === undefined;
    if (method === 'GET') {
      if (watchPath || queryBool(q, 'watch')) return startWatch(req, res, target, q);
      if (collection) return sendJson(res, 200, api.list(target, listOptions(q)));
      return sendJson(res, 200, api.get(target));
    }
    if (watchPath) fail({ reason: 'MethodNotAllowed', code: 405, message: `the server does not allow this method on the requested resource` });
    const admit: Admit = (a) => admission.admit(a, who);
    const w: WriteOptions = { ...writeOptions(q), admit };
    const body = await readBody(req);
    if (method === 'POST' && collection && target.subresource === undefined) {
      const r = await api.create(target, body, w);
      return sendJson(res, 201, r.object, r.warnings);
    }
    if (method === 'PUT' && !collection) {
      const r = await api.update(target, body, w);
      return sendJson(res, 200, r.object, r.warnings);
    }
    if (method === 'PATCH' && !collection) {
      const r = await api.patch(target, mediaType(req), body, w);
      return sendJson(res, 200, r.object, r.warnings);
    }
    if (method === 'DELETE' && target.subresource === undefined) {
      if (collection) return sendJson(res, 200, await api.deleteCollection(target, listOptions(q), body, w));
      return sendJson(res, 200, await api.delete(target, body, w));
    }
    fail({ reason: 'MethodNotAllowed', code: 405, message: `the server does not allow this method on the requested resource` });
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      if (ErrKubeApiStatus.is(err)) {
        log?.debug({ method: req.method, url: req.url, code: err.params.code, reason: err.params.reason }, 'kube-apiserver request refused');
        if (!res.headersSent) sendJson(res, err.params.code, statusBody(err.params));
        else res.end();
        return;
      }
      log?.error({ err, method: req.method, url: req.url }, 'kube-apiserver request failed');
      const message = err instanceof Error ? err.message : String(err);
      if (!res.headersSent) sendJson(res, 500, statusBody({ reason: 'InternalError', code: 500, message: `Internal error occurred: ${message}` }));
      else res.end();
    });
  };

  let caPem: string | undefined;
  let server: http.Server;
  if (opts.tls ?? true) {
    const ca = await createCertificateAuthority({ commonName: 'kube-apiserver-test-ca', days: 2 });
    const leaf = await issueCertificate(ca, { commonName: 'kube-apiserver', dnsNames: ['localhost', 'kubernetes', 'kubernetes.default'], ipAddresses: ['127.0.0.1'], usage: 'server', days: 1 });
    caPem = ca.certPem;
    server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, onRequest);
  } else {
    server = http.createServer(onRequest);
  }
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const port = (server.address() as AddressInfo).port;
  address = `127.0.0.1:${port}`;
  const url = `${caPem !== undefined ? 'https' : 'http'}://${address}`;
  log?.info({ url }, 'kube-apiserver test server listening');
  let closed: Promise<void> | undefined;

  return {
    url,
    token,
    caPem,
    get revision() {
      return api.etcd.revision;
    },
    compact: () => api.etcd.compact(),
    endWatches: () => {
      for (const end of [...streams]) end();
    },
    delayWatches(resource: string, ms: number): void {
      if (!(Number.isFinite(ms) && ms >= 0)) throw new ErrKubeApiOptions({ option: 'delayWatches', reason: `must be a number of ms >= 0, got ${ms}` });
      if (ms === 0) delays.delete(resource);
      else delays.set(resource, ms);
    },
    addUser: (u: KubeUser) => users.add(u),
    requestLog: () => requests.list(),
    clearRequestLog: () => requests.clear(),
    admissionLog: () => admission.entries(),
    clearAdmissionLog: () => admission.clearLog(),
    async kubeconfig(dirOrFile: string, kubeconfigOpts: { token?: string } = {}): Promise<string> {
      const file = /\.(ya?ml|kubeconfig|conf)$/.test(dirOrFile) ? dirOrFile : path.join(dirOrFile, 'kubeconfig');
      const cluster: Record<string, unknown> = { server: url };
      if (caPem !== undefined) cluster['certificate-authority-data'] = Buffer.from(caPem).toString('base64');
      const config = {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster }],
        users: [{ name: 'test', user: { token: kubeconfigOpts.token ?? token } }],
        contexts: [{ name: 'test', context: { cluster: 'test', user: 'test', namespace: 'default' } }],
        'current-context': 'test',
        preferences: {},
      };
      // JSON is YAML: kubectl and client-node read it as a kubeconfig.
      await writeFile(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
      return file;
    },
    close(): Promise<void> {
      closed ??= new Promise<void>((resolveClose) => {
        for (const end of [...streams]) end();
        admission.close();
        server.close(() => resolveClose());
        server.closeAllConnections();
        log?.info({ url }, 'kube-apiserver test server stopped');
      });
      return closed;
    },
  };
}

