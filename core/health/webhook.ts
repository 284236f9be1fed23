/**
 * The admission webhook of distributed health (SuperEdge's
 * edge-health-admission, reimplemented): it undoes Kubernetes' eviction
 * machinery for nodes the site's peers vote healthy, so a site cut off from
 * the cloud keeps its pods and its Service endpoints.
 *
 * When a node's kubelet stops reporting, kube-controller-manager sets the
 * node's Ready condition to Unknown, taints it
 * `node.kubernetes.io/unreachable:NoExecute` (pods are then evicted) and
 * marks its pods not ready (their addresses move to Endpoints'
 * `notReadyAddresses`, EndpointSlice `conditions.ready: false`). For a node
 * that is "voted healthy" and whose Ready condition is Unknown, this
 * webhook:
 *
 * - Node (CREATE, UPDATE; the main resource or `status`): removes every
 *   unreachable NoExecute taint (key and effect both match; the NoSchedule
 *   one is left);
 * - Endpoints: moves the node's `notReadyAddresses` to `addresses`;
 * - EndpointSlice: sets `ready` and `serving` of the node's endpoints that
 *   are `ready: false` and not terminating (`ready` absent means unknown,
 *   which consumers take as ready: left as is).
 *
 * "Voted healthy" (annotations.ts): `health.edgeadm.io/verdict: healthy` AND
 * no `nodeunhealth`. This differs from SuperEdge, which treats a node
 * without `nodeunhealth` as healthy: here a node nobody voted on is left to
 * Kubernetes.
 *
 * Rules:
 * - The webhook never denies: every answer is `allowed: true`, with a JSON
 *   patch or without. Only a body that is not an AdmissionReview v1 with a
 *   request (uid, resource, object) is refused, as HTTP 400 naming the
 *   field (`EDGE_ERR_HEALTH_ADMISSION_REVIEW`); kube-apiserver then applies
 *   the webhook's failurePolicy (Ignore, in the install manifests).
 * - The admit functions are pure: the Node's own object decides for Nodes;
 *   Endpoints and EndpointSlices look their nodes up (a node not found is
 *   left alone). Anything of an unexpected shape inside the object is left
 *   as it is, never a crash.
 * - Logs name the object and its nodes, never the object's body.
 * - The server takes only `application/json`, bodies up to 3 MiB, parsed
 *   with the kernel's bounded JSON parser.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KubeConfig } from '@kubernetes/client-node';
import { parseJson, type Logger } from '../kernel/index.ts';
import { openKubeClient, pageRequest, reflect, typedPage, type KubeObject } from '../store/index.ts';
import { NODE_UNHEALTH_ANNOTATION, UNREACHABLE_TAINT, VERDICT_ANNOTATION, VERDICT_HEALTHY } from './annotations.ts';
import { ErrAdmissionMediaType, ErrAdmissionReview, ErrAdmissionTooLarge } from './errors.ts';

/** The port `edgeadm health webhook` listens on by default (its Service maps 443 to it). */
export const HEALTH_WEBHOOK_PORT = 8443;
/** The largest request body taken: kube-apiserver sends objects up to a few MiB (etcd's default limit is 1.5 MiB per object, and a review carries the old object too). */
export const HEALTH_WEBHOOK_BODY_LIMIT = 3 * 1024 * 1024;
/** The paths the MutatingWebhookConfiguration calls, one per resource. */
export const HEALTH_WEBHOOK_PATHS = { nodes: '/admission/nodes', endpoints: '/admission/endpoints', endpointslices: '/admission/endpointslices' } as const;

const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
const ADMISSION_KIND = 'AdmissionReview';

// ---------------------------------------------------------------------------
// Types

/** What the webhook reads of a Node: its annotations, taints and conditions. */
export interface NodeLike {
  metadata?: { name?: string; annotations?: Record<string, string> | null } | null;
  spec?: { taints?: unknown } | null;
  status?: { conditions?: unknown } | null;
}

/** A node by name; undefined when it is not known (its addresses are then left alone). */
export type NodeLookup = (name: string) => NodeLike | undefined;

/** The parts of an AdmissionReview v1 request the webhook reads. */
export interface AdmissionRequest {
  uid: string;
  resource: { group: string; version: string; resource: string };
  subResource?: string;
  operation?: string;
  name?: string;
  namespace?: string;
  object: Record<string, unknown>;
}

export interface AdmissionReview {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: typeof ADMISSION_KIND;
  request: AdmissionRequest;
}

/** One RFC 6902 operation, as the webhook makes them. */
export type JsonPatchOp = { op: 'remove'; path: string } | { op: 'replace'; path: string; value: unknown };

export interface AdmissionResponse {
  uid: string;
  allowed: true;
  patchType?: 'JSONPatch';
  /** Base64 of the JSON patch. */
  patch?: string;
}

export interface AdmissionResponseReview {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: typeof ADMISSION_KIND;
  response: AdmissionResponse;
}

/** A review's answer and what it was about, for the log (names only). */
interface Decision {
  review: AdmissionResponseReview;
  /** `namespace/name` or `name` of the object. */
  object: string;
  /** The nodes whose eviction machinery was undone. */
  nodes: string[];
  /** How many patch operations. */
  ops: number;
  /** Why nothing was patched, when nothing was. */
  skipped?: string;
}

// ---------------------------------------------------------------------------
// The rules

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The node's peers voted it healthy: verdict `healthy` and no `nodeunhealth` annotation. */
export function votedHealthy(node: NodeLike): boolean {
  const annotations = node.metadata?.annotations;
  if (!isObject(annotations)) return false;
  return annotations[VERDICT_ANNOTATION] === VERDICT_HEALTHY && !Object.hasOwn(annotations, NODE_UNHEALTH_ANNOTATION);
}

/** The node's Ready condition is Unknown: its kubelet stopped reporting (kube-controller-manager's mark). */
export function readyUnknown(node: NodeLike): boolean {
  const conditions = node.status?.conditions;
  if (!Array.isArray(conditions)) return false;
  const ready = conditions.find((c): c is Record<string, unknown> => isObject(c) && c.type === 'Ready');
  return ready?.status === 'Unknown';
}

/** Whether the webhook undoes the eviction machinery for this node: unreachable for Kubernetes, healthy for its peers. */
export function keepsItsPods(node: NodeLike): boolean {
  return readyUnknown(node) && votedHealthy(node);
}

// ---------------------------------------------------------------------------
// Reviews

/** A short, safe rendering of a value for a message (never a whole body). */
function shown(v: unknown): string {
  if (v === undefined) return 'missing';
  let text: string;
  if (typeof v === 'string') text = `'${v}'`;
  else if (typeof v === 'number' || typeof v === 'boolean' || v === null) text = String(v);
  else if (Array.isArray(v)) text = 'an array';
  else text = typeof v === 'object' ? 'an object' : `a ${typeof v}`;
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

const bad = (field: string, reason: string): InstanceType<typeof ErrAdmissionReview> => new ErrAdmissionReview({ field, reason });

/** Checks that `body` is an AdmissionReview v1 with a request (uid, resource, object); throws ErrAdmissionReview naming the first field that is not. */
export function parseAdmissionReview(body: unknown): AdmissionReview {
  if (!isObject(body)) throw bad('body', `must be a JSON object (an AdmissionReview), got ${shown(body)}`);
  if (body.apiVersion !== ADMISSION_API_VERSION) throw bad('apiVersion', `must be '${ADMISSION_API_VERSION}' (admissionReviewVersions: [v1]), got ${shown(body.apiVersion)}`);
  if (body.kind !== ADMISSION_KIND) throw bad('kind', `must be '${ADMISSION_KIND}', got ${shown(body.kind)}`);
  const req = body.request;
  if (!isObject(req)) throw bad('request', `must be an object (the request under review), got ${shown(req)}`);
  if (typeof req.uid !== 'string' || req.uid === '') throw bad('request.uid', `must be a non-empty string, got ${shown(req.uid)}`);
  const res = req.resource;
  if (!isObject(res)) throw bad('request.resource', `must be an object {group, version, resource}, got ${shown(res)}`);
  for (const k of ['group', 'version', 'resource'] as const) {
    if (typeof res[k] !== 'string') throw bad(`request.resource.${k}`, `must be a string, got ${shown(res[k])}`);
  }
  if (!isObject(req.object)) throw bad('request.object', `must be an object (the object as it would be stored), got ${shown(req.object)}`);
  for (const k of ['subResource', 'operation', 'name', 'namespace'] as const) {
    if (req[k] !== undefined && typeof req[k] !== 'string') throw bad(`request.${k}`, `must be a string when present, got ${shown(req[k])}`);
  }
  const request: AdmissionRequest = {
    uid: req.uid,
    resource: { group: res.group as string, version: res.version as string, resource: res.resource as string },
    object: req.object,
  };
  for (const k of ['subResource', 'operation', 'name', 'namespace'] as const) if (typeof req[k] === 'string') request[k] = req[k];
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_KIND, request };
}

function respond(uid: string, ops: readonly JsonPatchOp[]): AdmissionResponseReview {
  const response: AdmissionResponse = { uid, allowed: true };
  if (ops.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(ops)).toString('base64');
  }
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_KIND, response };
}

/** The object's name for the log: from its metadata, else the request's (a CREATE with generateName has none yet). */
function objectName(req: AdmissionRequest): string {
  const meta = isObject(req.object.metadata) ? req.object.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : typeof meta.generateName === 'string' ? `${meta.generateName}*` : req.name ?? '';
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : req.namespace;
  return namespace ? `${namespace}/${name}` : name;
}

/** Whether the request is for `group/version/resource`, by a CREATE or UPDATE, of the main resource (or one of `subResources`). */
function isFor(req: AdmissionRequest, group: string, resource: string, subResources: readonly string[] = []): string | undefined {
  const r = req.resource;
  if (r.group !== group || r.version !== 'v1' || r.resource !== resource) return `a review of ${r.group === '' ? '' : `${r.group}/`}${r.version}/${r.resource}, not ${group === '' ? '' : `${group}/`}v1/${resource}`;
  const sub = req.subResource ?? '';
  if (sub !== '' && !subResources.includes(sub)) return `subresource '${sub}'`;
  if (req.operation !== undefined && req.operation !== 'CREATE' && req.operation !== 'UPDATE') return `operation ${req.operation}`;
  return undefined;
}

/** A node lookup that asks once per name within one review. */
function memo(lookup: NodeLookup): (name: unknown) => boolean {
  const seen = new Map<string, boolean>();
  return (name) => {
    if (typeof name !== 'string' || name === '') return false;
    let keep = seen.get(name);
    if (keep === undefined) {
      const node = lookup(name);
      keep = node !== undefined && keepsItsPods(node);
      seen.set(name, keep);
    }
    return keep;
  };
}

function decideNode(body: unknown): Decision {
  const { request: req } = parseAdmissionReview(body);
  const object = objectName(req);
  const skip = (skipped: string): Decision => ({ review: respond(req.uid, []), object, nodes: [], ops: 0, skipped });
  const other = isFor(req, '', 'nodes', ['status']);
  if (other !== undefined) return skip(other);
  const node = req.object as NodeLike;
  if (!readyUnknown(node)) return skip('Ready is not Unknown');
  if (!votedHealthy(node)) return skip('not voted healthy');
  const taints = node.spec?.taints;
  const at: number[] = [];
  if (Array.isArray(taints)) {
    taints.forEach((t, i) => {
      if (isObject(t) && t.key === UNREACHABLE_TAINT.key && t.effect === UNREACHABLE_TAINT.effect) at.push(i);
    });
  }
  if (at.length === 0) return skip('no unreachable NoExecute taint');
  // Highest index first: each removal leaves the lower indexes where they were.
  const ops: JsonPatchOp[] = at.reverse().map((i) => ({ op: 'remove', path: `/spec/taints/${i}` }));
  return { review: respond(req.uid, ops), object, nodes: [object], ops: ops.length };
}

function decideEndpoints(body: unknown, lookupNode: NodeLookup): Decision {
  const { request: req } = parseAdmissionReview(body);
  const object = objectName(req);
  const skip = (skipped: string): Decision => ({ review: respond(req.uid, []), object, nodes: [], ops: 0, skipped });
  const other = isFor(req, '', 'endpoints');
  if (other !== undefined) return skip(other);
  const subsets = req.object.subsets;
  if (!Array.isArray(subsets)) return skip('no subsets');
  const keeps = memo(lookupNode);
  const nodes = new Set<string>();
  let moved = false;
  const out = subsets.map((subset: unknown) => {
    if (!isObject(subset) || !Array.isArray(subset.notReadyAddresses)) return subset;
    const stay: unknown[] = [];
    const move: unknown[] = [];
    for (const a of subset.notReadyAddresses as unknown[]) {
      if (isObject(a) && keeps(a.nodeName)) {
        move.push(a);
        nodes.add(a.nodeName as string);
      } else stay.push(a);
    }
    if (move.length === 0) return subset;
    moved = true;
    const { notReadyAddresses: _old, ...rest } = subset;
    const addresses = Array.isArray(subset.addresses) ? (subset.addresses as unknown[]) : [];
    // An empty list is left out, as Kubernetes writes Endpoints.
    return { ...rest, addresses: [...addresses, ...move], ...(stay.length > 0 ? { notReadyAddresses: stay } : {}) };
  });
  if (!moved) return skip('no not-ready address on a node voted healthy');
  const ops: JsonPatchOp[] = [{ op: 'replace', path: '/subsets', value: out }];
  return { review: respond(req.uid, ops), object, nodes: [...nodes].sort(), ops: ops.length };
}

function decideEndpointSlice(body: unknown, lookupNode: NodeLookup): Decision {
  const { request: req } = parseAdmissionReview(body);
  const object = objectName(req);
  const skip = (skipped: string): Decision => ({ review: respond(req.uid, []), object, nodes: [], ops: 0, skipped });
  const other = isFor(req, 'discovery.k8s.io', 'endpointslices');
  if (other !== undefined) return skip(other);
  const endpoints = req.object.endpoints;
  if (!Array.isArray(endpoints)) return skip('no endpoints');
  const keeps = memo(lookupNode);
  const nodes = new Set<string>();
  const ops: JsonPatchOp[] = [];
  endpoints.forEach((e: unknown, i) => {
    if (!isObject(e) || !isObject(e.conditions)) return;
    const c = e.conditions;
    // ready absent is "unknown", which consumers take as ready; a terminating endpoint stays not ready.
    if (c.ready !== false || c.terminating === true || !keeps(e.nodeName)) return;
    ops.push({ op: 'replace', path: `/endpoints/${i}/conditions`, value: { ...c, ready: true, serving: true } });
    nodes.add(e.nodeName as string);
  });
  if (ops.length === 0) return skip('no not-ready endpoint on a node voted healthy');
  return { review: respond(req.uid, ops), object, nodes: [...nodes].sort(), ops: ops.length };
}

/**
 * A Node review (CREATE or UPDATE, main resource or `status`): removes each
 * `node.kubernetes.io/unreachable:NoExecute` taint of a node whose Ready is
 * Unknown and whose peers voted it healthy. Throws ErrAdmissionReview for a
 * body that is not a review.
 */
export function admitNode(review: unknown): AdmissionResponseReview {
  return decideNode(review).review;
}

/** An Endpoints review: each not-ready address on a node that keeps its pods (`lookupNode`) moves to `addresses`. */
export function admitEndpoints(review: unknown, lookupNode: NodeLookup): AdmissionResponseReview {
  return decideEndpoints(review, lookupNode).review;
}

/** An EndpointSlice review (discovery.k8s.io/v1): each `ready: false`, not terminating endpoint on a node that keeps its pods becomes ready and serving. */
export function admitEndpointSlice(review: unknown, lookupNode: NodeLookup): AdmissionResponseReview {
  return decideEndpointSlice(review, lookupNode).review;
}

// ---------------------------------------------------------------------------
// The server

export interface HealthWebhookOptions {
  /** Listen address; default 0.0.0.0 (kube-apiserver reaches it through its Service). */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** The serving certificate and key (PEM); kube-apiserver checks it against the webhook's caBundle. */
  tls: { cert: string; key: string };
  /** The nodes, by name (a NodeCache). */
  nodes: { get(name: string): NodeLike | undefined };
  logger: Logger;
  /** Whether the node cache has synced: /readyz answers 503 until it has. Default: always ready. */
  ready?: () => boolean;
}

export interface HealthWebhook {
  /** `https://host:port`. */
  readonly url: string;
  close(): Promise<void>;
}

/** A coded error as the response body (the hub's shape: code, message, details). */
function errorBody(err: { code: string; message: string; params: object }): Record<string, unknown> {
  return { code: err.code, message: err.message, details: { ...err.params } };
}

/**
 * Serves the webhook over HTTPS: POST /admission/nodes, /admission/endpoints,
 * /admission/endpointslices (application/json, at most 3 MiB), GET /healthz
 * and /readyz.
 */
export async function startHealthWebhook(o: HealthWebhookOptions): Promise<HealthWebhook> {
  // Loaded on use: the CLI registers this module's constants without the server.
  const { default: Fastify } = await import('fastify');
  const log = o.logger.child({ component: 'health-webhook' });
  const app = Fastify({
    https: { cert: o.tls.cert, key: o.tls.key },
    bodyLimit: HEALTH_WEBHOOK_BODY_LIMIT,
    // kube-apiserver gives a webhook at most 30 s (5 s as installed); a slower request is not one of its.
    requestTimeout: 30_000,
    logger: false,
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    try {
      done(null, parseJson(text as string, { what: 'request body' }));
    } catch (err) {
      done(new ErrAdmissionReview({ field: 'body', reason: `cannot be read (${(err as Error).message})` }, { cause: err }), undefined);
    }
  });

  app.addHook('onRequest', (req, _reply, done) => {
    const type = req.headers['content-type'];
    if (req.method === 'POST' && (type === undefined || !/^application\/json\s*(;|$)/i.test(type))) return done(new ErrAdmissionMediaType({ contentType: type ?? '' }));
    done();
  });

  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const e = err as { code?: unknown; statusCode?: unknown; message?: unknown; params?: unknown };
    let coded: { code: string; message: string; params: object; statusCode: number } | undefined;
    if (ErrAdmissionReview.is(err) || ErrAdmissionMediaType.is(err) || ErrAdmissionTooLarge.is(err)) coded = err;
    else if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') coded = new ErrAdmissionTooLarge({ limit: HEALTH_WEBHOOK_BODY_LIMIT });
    else if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') coded = new ErrAdmissionMediaType({ contentType: req.headers['content-type'] ?? '' });
    else if (e.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' || e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') coded = new ErrAdmissionReview({ field: 'body', reason: typeof e.message === 'string' ? e.message : 'is malformed' });
    if (coded === undefined) {
      log.error({ err, path: req.url }, 'health webhook request failed');
      return reply.code(500).send({ code: 'EDGE_ERR_HEALTH_WEBHOOK_INTERNAL', message: 'internal error: see the webhook log' });
    }
    log.info({ code: coded.code, path: req.url, status: coded.statusCode, reason: coded.message }, 'admission request refused');
    return reply.code(coded.statusCode).send(errorBody(coded));
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ code: 'EDGE_ERR_HEALTH_WEBHOOK_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0] ?? ''}` }));

  const lookup: NodeLookup = (name) => o.nodes.get(name);
  const answer = (resource: string, decide: (body: unknown) => Decision) => (req: FastifyRequest, reply: FastifyReply) => {
    const d = decide(req.body);
    if (d.skipped === undefined) log.debug({ resource, object: d.object, nodes: d.nodes, ops: d.ops }, 'patched: nodes voted healthy keep their pods');
    else log.debug({ resource, object: d.object, reason: d.skipped }, 'no patch');
    return reply.send(d.review);
  };
  app.post(HEALTH_WEBHOOK_PATHS.nodes, answer('nodes', decideNode));
  app.post(HEALTH_WEBHOOK_PATHS.endpoints, answer('endpoints', (b) => decideEndpoints(b, lookup)));
  app.post(HEALTH_WEBHOOK_PATHS.endpointslices, answer('endpointslices', (b) => decideEndpointSlice(b, lookup)));
  const text = (reply: FastifyReply, status: number, body: string): FastifyReply => reply.code(status).type('text/plain; charset=utf-8').send(`${body}\n`);
  app.get('/healthz', (_req, reply) => text(reply, 200, 'ok'));
  app.get('/readyz', (_req, reply) => ((o.ready?.() ?? true) ? text(reply, 200, 'ok') : text(reply, 503, 'the node cache has not synced yet')));

  await app.listen({ host: o.host ?? '0.0.0.0', port: o.port });
  const addr = app.server.address() as AddressInfo;
  const url = `https://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
  log.info({ url }, 'health webhook listening');
  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= app.close();
      return closing;
    },
  };
}

// ---------------------------------------------------------------------------
// The node cache

export interface NodeCacheOptions {
  /** A kubeconfig file, a loaded KubeConfig, or 'in-cluster'. Reads Nodes only (get, list, watch). */
  kubeConfig: KubeConfig | string;
  logger?: Logger;
}

export interface NodeCache {
  /** The node as last seen (its annotations and Ready condition only), or undefined. */
  get(name: string): NodeLike | undefined;
  /** How many nodes are held. */
  readonly size: number;
  /** Whether the first complete list has been taken. */
  synced(): boolean;
  /** Resolves after the first complete list; rejects when listing fails in a way retrying does not mend (401, 403, 404). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/** What the webhook needs of a node: its name, the two health annotations and the Ready condition (a Node's status can be large: images, volumes). */
function projectNode(obj: KubeObject): NodeLike {
  const annotations: Record<string, string> = {};
  const all = obj.metadata?.annotations ?? {};
  for (const k of [VERDICT_ANNOTATION, NODE_UNHEALTH_ANNOTATION]) if (typeof all[k] === 'string') annotations[k] = all[k];
  const conditions = (obj.status as { conditions?: unknown } | undefined)?.conditions;
  const ready = Array.isArray(conditions) ? conditions.find((c): c is { type: string; status?: unknown } => isObject(c) && c.type === 'Ready') : undefined;
  return {
    metadata: { name: obj.metadata?.name ?? '', annotations },
    status: { conditions: ready === undefined ? [] : [{ type: 'Ready', status: ready.status }] },
  };
}

/**
 * Lists and watches core/v1 Nodes into a map (core/store's reflector: a
 * 410 Gone lists again, a dropped watch resumes with backoff).
 */
export async function startNodeCache(o: NodeCacheOptions): Promise<NodeCache> {
  const client = await openKubeClient(o.kubeConfig);
  const stop = new AbortController();
  const nodes = new Map<string, NodeLike>();
  let synced = false;
  const r = reflect({
    client,
    path: '/api/v1/nodes',
    list: async (page) => typedPage(await client.core.listNode(pageRequest(page))),
    onEvent: (type, obj) => {
      const name = obj.metadata?.name ?? '';
      if (type === 'DELETED') nodes.delete(name);
      else nodes.set(name, projectNode(obj));
    },
    signal: stop.signal,
    ...(o.logger === undefined ? {} : { logger: o.logger.child({ component: 'health-node-cache' }) }),
  });
  const ready = r.ready.then(() => {
    synced = true;
  });
  ready.catch(() => undefined);
  let closing: Promise<void> | undefined;
  return {
    get: (name) => nodes.get(name),
    get size() {
      return nodes.size;
    },
    synced: () => synced,
    ready,
    close() {
      closing ??= (async () => {
        stop.abort();
        await r.done;
        await client.close();
      })();
      return closing;
    },
  };
}
