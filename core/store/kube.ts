/**
 * The `kube` ResourceStore driver: resources are custom resources of group
 * edgeadm.io/v1alpha1 (crds.ts) in one namespace (the hub's), read and
 * written through kube-apiserver with @kubernetes/client-node, with the same
 * observable semantics as the SQLite driver (sqlite.ts; the shared contract
 * tests in contract.ts run on both).
 *
 * Rules:
 * - Every write is validated with the same `prepareResource` /
 *   `prepareStatus` first, so the same coded errors come out before kube is
 *   asked. kube's answers map to the store's errors: 404 → NOT_FOUND
 *   (undefined for get / delete), 409 AlreadyExists → EXISTS, 409 Conflict
 *   on a precondition → CONFLICT, 410 → GONE, 422 → INVALID with kube's
 *   causes; anything else is EDGE_ERR_STORE_KUBE.
 * - apply = GET, then POST or PUT with the read resourceVersion (optimistic
 *   concurrency). A conflict the caller did not ask for (no
 *   `opts.resourceVersion`) is retried from a fresh GET; an explicit
 *   `opts.resourceVersion` is a precondition (CONFLICT naming both versions).
 *   A write that changes nothing is not sent (no new resourceVersion, as in
 *   SQLite). Status is kept: the CRDs have a status subresource, so kube
 *   ignores status on the main resource and bumps `metadata.generation` only
 *   on spec changes; the driver relies on that (the contract tests check it).
 *   `updateStatus` PUTs the `/status` subresource; `delete` sends a
 *   resourceVersion precondition when asked.
 * - Site selection: kube cannot select on spec fields, so every write of a
 *   kind with `spec.site`, and of Sites themselves, carries the label
 *   `edgeadm.io/site=<site>`; an Addon carries `site.edgeadm.io/<site>` (empty
 *   value) for each site of `spec.sites`. `list` / `watch` with `site` select
 *   on those labels (DeviceProfile belongs to every site, Lease to none, as
 *   `sitesOf` says). Labels the driver added are listed in the annotation
 *   `edgeadm.io/store-labels` and hidden again on read, so objects read back
 *   as they were written. A user label of those keys that disagrees with the
 *   object's site is refused (EDGE_ERR_STORE_SITE_LABEL); one that agrees is
 *   kept as the user's.
 *   Objects written around the driver (kubectl, another client) must carry
 *   the same labels to be found by `site`; without them they are found by
 *   every other read.
 * - Reads are plain GET / LIST calls, not an informer cache: an informer sees
 *   a write only once its watch delivers it, so a get right after an apply
 *   could miss it (no read-your-writes), and each store would hold a list and
 *   a watch of every kind. GETs and LISTs without a resourceVersion are
 *   served from etcd with a quorum read: a read after a write sees it.
 * - `list` passes limit / continue through (the continue token is kube's,
 *   wrapped with the kind so a token of another kind's list is refused).
 * - `watch`: one kube watch per kind from a resourceVersion (with
 *   bookmarks), merged in resourceVersion order. resourceVersions are
 *   compared as integers (BigInt): kube documents them as opaque, but etcd's
 *   revisions (and the test server's) are one increasing integer for the
 *   whole cluster, and kube writes each object change in a transaction of
 *   its own, so no two changes share one; this driver assumes that.
 *   Streams of different kinds are not ordered with each other by kube;
 *   within one stream kube delivers in revision order, and a BOOKMARK at R
 *   says every event of that stream up to R has been sent (KEP-956). So the
 *   merge keeps, per kind, the revision its stream has provably reached (its
 *   last event or bookmark), and releases an event at R only when every
 *   other kind has reached R - 1: no event of theirs can still come before
 *   it. No clock decides an order.
 *   An idle kind reaches nothing by itself: kube-apiserver sends a watch a
 *   bookmark about once a minute, and 2 s before the watch's deadline. So
 *   when an event has been held PROGRESS_AFTER_MS, each kind it waits for
 *   is moved on: first a progress read, a quorum LIST of the kind (limit 1,
 *   the stream's selector) — with ConsistentListFromCache (KEP-2340, on by
 *   default since Kubernetes 1.31) that makes kube-apiserver's watch cache
 *   of the kind catch up with etcd's current revision, which is at or past
 *   the held event; then a probe, a second watch of the kind from the
 *   revision the merge has of it, with timeoutSeconds
 *   PROBE_TIMEOUT_SECONDS, so that kube sends it a bookmark (from that
 *   fresh cache) about a second later. A read alone proves nothing: an
 *   event written before it may still be on its way on the stream. The
 *   probe is a complete stream of the kind from that revision, so its events
 *   and bookmarks count like the stream's own; whatever either brings at or
 *   below what the kind has reached is a duplicate and skipped. A probe
 *   ends once the merge no longer waits for its kind. A kind whose own
 *   stream has been sending bookmarks more often than OWN_BOOKMARKS_MS
 *   (sooner than a probe's) is probed only when its next one is late; these
 *   delays only spare requests, they never decide an order. Where kube's watch
 *   cache does not catch up on a read (ConsistentListFromCache off, or
 *   before 1.31), an idle kind moves on only with etcd's progress
 *   notifications to kube-apiserver, and held events wait that long.
 *   An event arriving below an already delivered revision (which these
 *   rules leave to a kube that breaks its own order) is still delivered,
 *   never dropped, and logged. Label and site filtering happen in kube,
 *   which turns objects that start or stop matching into ADDED / DELETED as
 *   the SQLite driver does. A 410 from kube ends the iteration with
 *   EDGE_ERR_STORE_GONE; a dropped connection is resumed from that kind's
 *   last seen resourceVersion with backoff. BOOKMARKs every
 *   `bookmarkIntervalMs` while nothing is held carry the lowest revision
 *   the kinds have reached (never below one delivered), and only once every
 *   kind has been heard from; a kind not heard from is moved on as above.
 *   Nothing is delivered once the watch's signal aborts or the store
 *   closes, not even to a next() already waiting. A watch "from now" reads
 *   the current revision when it is made, and the store's writes wait for
 *   that read, so a write made after `watch()` returns is seen.
 * - @kubernetes/client-node is imported when a store opens, not with this
 *   module (it takes most of a second to load).
 * - All calls of a store share one connection pool (client-node 2.0.1
 *   would make one per request); each watch stream has its own connection.
 * - Memory: an event waits in the merge until the kinds before it have
 *   caught up; a consumer slower than kube's streams makes events queue in
 *   memory.
 */
import { setMaxListeners } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import type { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { EdgeError, type Logger } from '../kernel/index.ts';
import { edgeadmCrds, pluralOf } from './crds.ts';
import { applyCrds, kubeFailure, openKubeClient, sleep, type ClientNode, type KubeClient, type KubeObject as KubeObjectBase, type KubeStatus } from './kube-client.ts';
import { ErrClosed, ErrConflict, ErrExists, ErrGone, ErrInvalid, ErrKube, ErrKubeOptions, ErrNotFound, ErrSiteLabel } from './errors.ts';
import { checkKey, checkListOptions, checkWatchOptions, checkWrite, preparedWrite, encodeContinue, expectedRevision } from './driver-checks.ts';
import { prepareStatus, sitesOf } from './schemas.ts';
import {
  API_VERSION,
  KINDS,
  type Kind,
  type ListOptions,
  type ListResult,
  type ObjectMeta,
  type Resource,
  type ResourceStore,
  type WatchEvent,
  type WatchOptions,
  type WriteOptions,
} from './types.ts';

export interface KubeStoreOptions {
  /** A loaded KubeConfig, the path of a kubeconfig file, or 'in-cluster' (the pod's ServiceAccount). */
  kubeConfig: KubeConfig | string;
  /** The namespace every object lives in (the hub's). It must exist. */
  namespace: string;
  logger?: Logger;
  /** Create or update the CRDs of every kind (edgeadmCrds()) and wait until kube serves them. Default false. */
  installCrds?: boolean;
  /** Further attempts of a write whose read went stale meanwhile (a conflict nobody asked for), after a short random pause. Default 10. */
  maxConflictRetries?: number;
  /** First and longest wait before a dropped watch is resumed. Default 100 ms and 5 s. */
  watchBackoffMs?: { initial: number; max: number };
  /** Asks kube to end each watch after this long (it is resumed). Default 300 s. */
  watchTimeoutSeconds?: number;
}

const [GROUP, VERSION] = API_VERSION.split('/') as [string, string];
/** The label selecting objects of one site (kinds with spec.site, and Sites). */
export const SITE_LABEL = 'edgeadm.io/site';
/** The prefix of an Addon's per-site labels: `site.edgeadm.io/<site>`. */
export const SITE_LABEL_PREFIX = 'site.edgeadm.io/';
/** Lists the label keys the driver added, hidden again on read. */
export const STORE_LABELS_ANNOTATION = 'edgeadm.io/store-labels';

/** How a kind is selected by site: its own name, its spec.site, its spec.sites, every site, no site. */
type SiteSelection = 'self' | 'single' | 'multi' | 'all' | 'none';
const SITE_SELECTION: Record<Kind, SiteSelection> = {
  Site: 'self',
  Node: 'single',
  Device: 'single',
  BrokerCredential: 'single',
  PendingDevice: 'single',
  Addon: 'multi',
  DeviceProfile: 'all',
  Lease: 'none',
};

/** A custom object of the store's kinds as kube holds it. */
interface KubeObject extends KubeObjectBase {
  spec?: unknown;
  status?: unknown;
}

function nonEmpty<T extends object>(map: T | undefined): T | undefined {
  return map && Object.keys(map).length > 0 ? map : undefined;
}

/** The labels a kind's site selection needs, for an object of that kind. */
function siteLabels(obj: Pick<Resource, 'kind' | 'metadata' | 'spec'>): Record<string, string> {
  const sel = SITE_SELECTION[obj.kind];
  if (sel === 'self' || sel === 'single') {
    const site = sitesOf(obj)?.[0];
    return site === undefined ? {} : { [SITE_LABEL]: site };
  }
  if (sel === 'multi') return Object.fromEntries((sitesOf(obj) ?? []).map((s) => [`${SITE_LABEL_PREFIX}${s}`, '']));
  return {};
}

/** The selector requirement of `site` for `kind`; null when no object of the kind can match. */
function siteRequirement(kind: Kind, site: string): string | undefined | null {
  switch (SITE_SELECTION[kind]) {
    case 'self':
    case 'single':
      return `${SITE_LABEL}=${site}`;
    case 'multi':
      return `${SITE_LABEL_PREFIX}${site}`;
    case 'all':
      return undefined;
    case 'none':
      return null;
  }
}

function joinSelector(parts: (string | undefined)[]): string | undefined {
  const s = parts.filter((p) => p !== undefined && p !== '').join(',');
  return s === '' ? undefined : s;
}

function toText(v: string | Date | undefined): string | undefined {
  return v instanceof Date ? v.toISOString().replace(/\.000Z$/, 'Z') : v;
}

/** The store's view of a kube object: driver labels and kube-only metadata gone. */
function fromKube<R extends Resource>(kind: Kind, obj: KubeObject): R {
  const m = obj.metadata ?? {};
  const hidden = new Set((m.annotations?.[STORE_LABELS_ANNOTATION] ?? '').split(',').filter((k) => k !== ''));
  const labels = nonEmpty(Object.fromEntries(Object.entries(m.labels ?? {}).filter(([k]) => !hidden.has(k))));
  const annotations = nonEmpty(Object.fromEntries(Object.entries(m.annotations ?? {}).filter(([k]) => k !== STORE_LABELS_ANNOTATION)));
  const metadata: ObjectMeta = { name: m.name ?? '' };
  if (labels) metadata.labels = labels;
  if (annotations) metadata.annotations = annotations;
  if (m.uid !== undefined) metadata.uid = m.uid;
  if (m.resourceVersion !== undefined) metadata.resourceVersion = m.resourceVersion;
  if (m.generation !== undefined) metadata.generation = m.generation;
  const created = toText(m.creationTimestamp);
  if (created !== undefined) metadata.creationTimestamp = created;
  const out = { apiVersion: API_VERSION, kind, metadata, spec: obj.spec ?? {} } as R;
  if (obj.status !== undefined) out.status = obj.status;
  return out;
}

/**
 * Opens the kube ResourceStore: loads the kubeconfig, installs the CRDs when
 * asked, and checks that kube serves them in the namespace.
 */
export async function openKubeStore(opts: KubeStoreOptions): Promise<ResourceStore> {
  if (typeof opts.namespace !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(opts.namespace)) {
    throw new ErrKubeOptions({ field: 'namespace', reason: `must be a namespace name (DNS-1123 label), is ${JSON.stringify(opts.namespace)}` });
  }
  const retries = opts.maxConflictRetries ?? 10;
  if (!(Number.isSafeInteger(retries) && retries >= 0)) throw new ErrKubeOptions({ field: 'maxConflictRetries', reason: `must be an integer >= 0, is ${String(retries)}` });
  const client = await openKubeClient(opts.kubeConfig);
  const store = new KubeStore(client, opts, retries);
  if (opts.installCrds === true) await store.installCrds();
  await store.checkServed();
  opts.logger?.debug({ server: client.server, namespace: opts.namespace }, 'kube resource store opened');
  return store;
}

/** How long an event is held before the merge moves on the streams it waits for (a progress read and a probe watch). */
const PROGRESS_AFTER_MS = 25;
/** The timeoutSeconds of a probe watch: kube-apiserver sends a bookmark 2 s before a watch's deadline. */
const PROBE_TIMEOUT_SECONDS = 3;
/** A kind whose own stream brings bookmarks more often than this (ms), sooner than a probe would, is left to them. */
const OWN_BOOKMARKS_MS = 1000;

/** One event handed from a kind's stream to the merge, with when it arrived. */
interface Arrival {
  rv: bigint;
  event: WatchEvent;
  at: number;
}

/** Where a kind's connections (its stream, its probes) hand what they get to the merge. */
interface StreamSink {
  event(rv: bigint, e: WatchEvent): void;
  progress(rv: bigint): void;
  fail(err: EdgeError): void;
}

/** The merge's view of one kind. */
interface Lane {
  kind: Kind;
  labelSelector: string | undefined;
  /** Every event of the kind up to this revision has been handed to the merge (an event or a bookmark of its own said so). */
  reached: bigint;
  /** Whether any of the kind's connections has delivered something yet. */
  heard: boolean;
  /** The running probe (see `#probe`), if any. */
  probe: AbortController | undefined;
  /** No new probe before this time (ms). */
  nextProbe: number;
  /** Probes failed in a row (each waits longer, as a dropped stream does). */
  probeFailures: number;
  /** When the kind's own stream last sent a bookmark (ms), and the time between its last two. */
  lastMark: number;
  markEvery: number;
}

/** How one watch connection ended. */
interface Connection {
  /** The last resourceVersion it delivered (its start when none). */
  rv: string;
  progressed: boolean;
  /** The error the connection ended with (null or undefined when kube or the client closed it). */
  ended: unknown;
  /** kube's message of a 410 ERROR event. */
  gone?: string;
  fatal?: EdgeError;
}

class KubeStore implements ResourceStore {
  readonly #client: KubeClient;
  readonly #k8s: ClientNode;
  readonly #kc: KubeConfig;
  readonly #api: CustomObjectsApi;
  readonly #ns: string;
  readonly #logger: Logger | undefined;
  readonly #retries: number;
  readonly #backoff: { initial: number; max: number };
  readonly #watchTimeout: number;
  /** Aborts every open watch on close. */
  readonly #closing = new AbortController();
  /** Reads of "now" for watches made without a resourceVersion; writes wait for them. */
  readonly #pendingStarts = new Set<Promise<unknown>>();
  #closed = false;

  constructor(client: KubeClient, opts: KubeStoreOptions, retries: number) {
    this.#client = client;
    this.#k8s = client.k8s;
    this.#kc = client.kc;
    this.#api = client.custom;
    this.#ns = opts.namespace;
    this.#logger = opts.logger;
    this.#retries = retries;
    this.#backoff = opts.watchBackoffMs ?? { initial: 100, max: 5000 };
    this.#watchTimeout = opts.watchTimeoutSeconds ?? 300;
  }

  #target(kind: Kind): { group: string; version: string; namespace: string; plural: string } {
    return { group: GROUP, version: VERSION, namespace: this.#ns, plural: pluralOf(kind) };
  }

  #where(kind: Kind, name?: string): string {
    return `${pluralOf(kind)}.${GROUP}${name === undefined ? '' : `/${name}`} in namespace ${this.#ns}`;
  }

  /** A kube failure as the store's coded error. */
  #mapError(err: unknown, operation: string, kind: Kind, name?: string): EdgeError {
    if (err instanceof EdgeError) return err as EdgeError;
    const f = kubeFailure(err);
    if (f.status === 422) {
      const issues = (f.body?.details?.causes ?? []).map((c) => ({ path: c.field ?? '', message: c.message ?? '' }));
      return new ErrInvalid({ kind, name: name ?? '(list)', issues: issues.length > 0 ? issues : [{ path: '', message: f.message }] }, { cause: err });
    }
    if (f.status === 410) return new ErrGone({ resourceVersion: '?', oldest: '-', current: '?', reason: f.message }, { cause: err });
    return new ErrKube({ operation, target: this.#where(kind, name), status: f.status, reason: f.message }, { cause: err });
  }

  async #call<T>(operation: string, kind: Kind, name: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.#mapError(err, operation, kind, name);
    }
  }

  // -------------------------------------------------------------------------
  // Setup

  /** Creates or updates every CRD of edgeadmCrds() and waits until each is Established. */
  async installCrds(): Promise<void> {
    await applyCrds(this.#client, edgeadmCrds());
    this.#logger?.info({ crds: KINDS.length }, 'kube resource store CRDs installed');
  }

  /** Fails with a coded error naming the resource unless kube serves every kind in the namespace. */
  async checkServed(): Promise<void> {
    for (const kind of KINDS) {
      await this.#call('list', kind, undefined, () => this.#api.listNamespacedCustomObject({ ...this.#target(kind), limit: 1 }));
    }
  }

  // -------------------------------------------------------------------------
  // Reads

  async get<R extends Resource = Resource>(kind: Kind, name: string): Promise<R | undefined> {
    this.#ensureOpen('get');
    checkKey(kind, name);
    const obj = await this.#read(kind, name);
    return obj === undefined ? undefined : fromKube<R>(kind, obj);
  }

  async #read(kind: Kind, name: string): Promise<KubeObject | undefined> {
    try {
      return (await this.#api.getNamespacedCustomObject({ ...this.#target(kind), name })) as KubeObject;
    } catch (err) {
      if (this.#isMissing(err, name)) return undefined;
      throw this.#mapError(err, 'get', kind, name);
    }
  }

  /** A 404 about the object itself (not about its type or namespace). */
  #isMissing(err: unknown, name: string): boolean {
    const f = kubeFailure(err);
    return f.status === 404 && f.body?.reason === 'NotFound' && f.body.details?.name === name;
  }

  async list<R extends Resource = Resource>(kind: Kind, opts: ListOptions = {}): Promise<ListResult<R>> {
    this.#ensureOpen('list');
    const { token } = checkListOptions(kind, opts, (p): p is string => typeof p === 'string');
    const req = opts.site === undefined ? undefined : siteRequirement(kind, opts.site);
    if (req === null) return { items: [], resourceVersion: await this.currentResourceVersion() };
    const labelSelector = joinSelector([opts.labelSelector, req]);
    const answer = (await this.#call('list', kind, undefined, () =>
      this.#api.listNamespacedCustomObject({
        ...this.#target(kind),
        ...(labelSelector !== undefined ? { labelSelector } : {}),
        ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
        ...(token !== undefined ? { _continue: token.p } : {}),
      }),
    )) as { items?: KubeObject[]; metadata?: { resourceVersion?: string; continue?: string } };
    const items = (answer.items ?? []).map((o) => fromKube<R>(kind, o)).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
    const result: ListResult<R> = { items, resourceVersion: answer.metadata?.resourceVersion ?? '0' };
    const next = answer.metadata?.continue;
    if (next !== undefined && next !== '') result.continue = encodeContinue(kind, next);
    return result;
  }

  async currentResourceVersion(): Promise<string> {
    this.#ensureOpen('read the revision');
    const answer = (await this.#call('list', 'Site', undefined, () => this.#api.listNamespacedCustomObject({ ...this.#target('Site'), limit: 1 }))) as {
      metadata?: { resourceVersion?: string };
    };
    return answer.metadata?.resourceVersion ?? '0';
  }

  // -------------------------------------------------------------------------
  // Writes

  apply<R extends Resource = Resource>(obj: R, opts: WriteOptions = {}): Promise<R> {
    return this.#put(obj, 'apply', opts) as Promise<R>;
  }

  create<R extends Resource = Resource>(obj: R): Promise<R> {
    return this.#put(obj, 'create', {}) as Promise<R>;
  }

  async #put(obj: Resource, mode: 'apply' | 'create', opts: WriteOptions): Promise<Resource> {
    this.#ensureOpen(mode);
    const { input, kind, name, expected } = preparedWrite(obj, opts);
    const { labels, annotations } = this.#metadataFor(input);
    await this.#startsRead();
    for (let attempt = 0; ; attempt++) {
      const existing = await this.#read(kind, name);
      checkWrite(kind, name, { create: mode === 'create', expected, spec: input.spec }, existing && { resourceVersion: existing.metadata?.resourceVersion, spec: existing.spec });
      if (
        existing &&
        isDeepStrictEqual(existing.spec, input.spec) &&
        isDeepStrictEqual(nonEmpty(existing.metadata?.labels), labels) &&
        isDeepStrictEqual(nonEmpty(existing.metadata?.annotations), annotations)
      ) {
        return fromKube(kind, existing);
      }
      const body: KubeObject = {
        apiVersion: API_VERSION,
        kind,
        metadata: { name, ...(labels && { labels }), ...(annotations && { annotations }) },
        spec: input.spec,
      };
      try {
        if (!existing) {
          return fromKube(kind, (await this.#api.createNamespacedCustomObject({ ...this.#target(kind), body })) as KubeObject);
        }
        (body.metadata as { resourceVersion?: string }).resourceVersion = existing.metadata?.resourceVersion;
        return fromKube(kind, (await this.#api.replaceNamespacedCustomObject({ ...this.#target(kind), name, body })) as KubeObject);
      } catch (err) {
        const f = kubeFailure(err);
        // Someone wrote between our read and our write: read again, unless the caller pinned a version.
        if (f.status === 409 || (f.status === 404 && existing !== undefined && this.#isMissing(err, name))) {
          if (mode === 'create' && f.body?.reason === 'AlreadyExists') throw new ErrExists({ kind, name }, { cause: err });
          if (expected !== undefined) throw new ErrConflict({ kind, name, expected, current: await this.#currentOf(kind, name) }, { cause: err });
          if (attempt < this.#retries) {
            await this.#conflictPause(attempt);
            continue;
          }
          throw new ErrConflict({ kind, name, expected: existing?.metadata?.resourceVersion ?? '0', current: await this.#currentOf(kind, name) }, { cause: err });
        }
        throw this.#mapError(err, mode, kind, name);
      }
    }
  }

  /** Labels and annotations as stored in kube: the user's, the site labels, and the annotation naming the ones the driver added. */
  #metadataFor(input: Resource): { labels: Record<string, string> | undefined; annotations: Record<string, string> | undefined } {
    const { kind } = input;
    const { name } = input.metadata;
    const user = input.metadata.labels ?? {};
    const wanted = siteLabels(input);
    const sel = SITE_SELECTION[kind];
    // User labels of the keys the driver selects on must agree with the object's sites.
    const sites = sitesOf(input) ?? [];
    for (const [k, v] of Object.entries(user)) {
      if ((sel === 'self' || sel === 'single') && k === SITE_LABEL && wanted[SITE_LABEL] !== v) {
        throw new ErrSiteLabel({ kind, name, label: k, value: v, site: wanted[SITE_LABEL] ?? '(none)' });
      }
      if (sel === 'multi' && k.startsWith(SITE_LABEL_PREFIX) && (!sites.includes(k.slice(SITE_LABEL_PREFIX.length)) || v !== '')) {
        throw new ErrSiteLabel({ kind, name, label: k, value: v, site: sites.join(',') || '(none)' });
      }
    }
    const annotationsIn = input.metadata.annotations ?? {};
    if (STORE_LABELS_ANNOTATION in annotationsIn) {
      throw new ErrInvalid({ kind, name, issues: [{ path: `metadata.annotations.${STORE_LABELS_ANNOTATION}`, message: 'is reserved for the kube store' }] });
    }
    const added = Object.keys(wanted).filter((k) => !(k in user)).sort();
    const labels = nonEmpty({ ...user, ...wanted });
    const annotations = nonEmpty({ ...annotationsIn, ...(added.length > 0 ? { [STORE_LABELS_ANNOTATION]: added.join(',') } : {}) });
    return { labels, annotations };
  }

  async delete<R extends Resource = Resource>(kind: Kind, name: string, opts: WriteOptions = {}): Promise<R | undefined> {
    this.#ensureOpen('delete');
    checkKey(kind, name);
    const expected = expectedRevision(kind, name, opts);
    await this.#startsRead();
    try {
      const gone = (await this.#api.deleteNamespacedCustomObject({
        ...this.#target(kind),
        name,
        ...(expected !== undefined ? { body: { preconditions: { resourceVersion: expected } } } : {}),
      })) as KubeObject;
      return fromKube<R>(kind, gone);
    } catch (err) {
      if (this.#isMissing(err, name)) return undefined;
      if (kubeFailure(err).status === 409 && expected !== undefined) {
        throw new ErrConflict({ kind, name, expected, current: await this.#currentOf(kind, name) }, { cause: err });
      }
      throw this.#mapError(err, 'delete', kind, name);
    }
  }

  async updateStatus<R extends Resource = Resource>(kind: Kind, name: string, status: unknown, opts: WriteOptions = {}): Promise<R> {
    this.#ensureOpen('update status');
    checkKey(kind, name);
    const prepared = prepareStatus(kind, status);
    if (!prepared.ok) throw new ErrInvalid({ kind, name, issues: prepared.issues });
    const expected = expectedRevision(kind, name, opts);
    await this.#startsRead();
    for (let attempt = 0; ; attempt++) {
      const existing = await this.#read(kind, name);
      if (!existing) throw new ErrNotFound({ kind, name });
      checkWrite(kind, name, { create: false, expected }, { resourceVersion: existing.metadata?.resourceVersion, spec: existing.spec });
      if (isDeepStrictEqual(existing.status, prepared.value)) return fromKube<R>(kind, existing);
      const body: KubeObject = { ...existing, status: prepared.value };
      try {
        return fromKube<R>(kind, (await this.#api.replaceNamespacedCustomObjectStatus({ ...this.#target(kind), name, body })) as KubeObject);
      } catch (err) {
        const f = kubeFailure(err);
        if (f.status === 404 && this.#isMissing(err, name)) throw new ErrNotFound({ kind, name }, { cause: err });
        if (f.status === 409) {
          if (expected !== undefined) throw new ErrConflict({ kind, name, expected, current: await this.#currentOf(kind, name) }, { cause: err });
          if (attempt < this.#retries) {
            await this.#conflictPause(attempt);
            continue;
          }
          throw new ErrConflict({ kind, name, expected: existing.metadata?.resourceVersion ?? '0', current: await this.#currentOf(kind, name) }, { cause: err });
        }
        throw this.#mapError(err, 'update status', kind, name);
      }
    }
  }

  /** A short random pause before the next attempt of a contended write, growing with the attempts (at most 500 ms). */
  #conflictPause(attempt: number): Promise<void> {
    return sleep(Math.random() * Math.min(500, 5 * 2 ** attempt));
  }

  async #currentOf(kind: Kind, name: string): Promise<string | null> {
    return (await this.#read(kind, name))?.metadata?.resourceVersion ?? null;
  }


  /** Waits for the "now" reads of watches made before this write, so they see it. */
  async #startsRead(): Promise<void> {
    if (this.#pendingStarts.size > 0) await Promise.allSettled([...this.#pendingStarts]);
  }

  // -------------------------------------------------------------------------
  // Watch

  watch(opts: WatchOptions = {}): AsyncIterable<WatchEvent> {
    this.#ensureOpen('watch');
    const checked = checkWatchOptions(opts);
    const kinds = checked.kinds ?? [...KINDS];
    let start: Promise<string>;
    if (opts.resourceVersion !== undefined) start = Promise.resolve(opts.resourceVersion);
    else {
      start = this.currentResourceVersion();
      const pending = start.catch(() => undefined);
      this.#pendingStarts.add(pending);
      void pending.finally(() => this.#pendingStarts.delete(pending));
    }
    // An unread failure of the start is reported by the iteration, not as an unhandled rejection.
    start.catch(() => undefined);
    const streams = kinds
      .map((kind) => ({ kind, req: opts.site === undefined ? undefined : siteRequirement(kind, opts.site) }))
      .filter((s): s is { kind: Kind; req: string | undefined } => s.req !== null)
      .map((s) => ({ kind: s.kind, labelSelector: joinSelector([opts.labelSelector, s.req]) }));
    const bookmarkKind: Kind = kinds[0] ?? 'Site';
    return {
      [Symbol.asyncIterator]: () => this.#follow(start, streams, opts.bookmarkIntervalMs, bookmarkKind, opts.signal),
    };
  }

  /** The merge of the kinds' streams (see the header): events in revision order, bookmarks while idle. */
  async *#follow(
    startRv: Promise<string>,
    streams: { kind: Kind; labelSelector: string | undefined }[],
    bookmarkMs: number | undefined,
    bookmarkKind: Kind,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<WatchEvent> {
    if (this.#closed || signal?.aborted) return;
    let start: bigint;
    try {
      start = BigInt(await startRv);
    } catch (err) {
      if (this.#closed || signal?.aborted) return;
      throw err;
    }
    // Closed or aborted while the start was read: their abort events are gone.
    if (this.#closed || signal?.aborted) return;
    const stop = new AbortController();
    // Each of the kinds' connections listens to it.
    setMaxListeners(0, stop.signal);
    const onAbort = (): void => stop.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#closing.signal.addEventListener('abort', onAbort, { once: true });
    const pending: Arrival[] = [];
    let failed: EdgeError | undefined;
    let wake: () => void = () => undefined;
    const poke = (): void => wake();
    stop.signal.addEventListener('abort', poke, { once: true });
    const lanes: Lane[] = streams.map((s) => ({ ...s, reached: start, heard: false, probe: undefined, nextProbe: 0, probeFailures: 0, lastMark: 0, markEvery: Infinity }));
    const sinkOf = (lane: Lane, own: boolean): StreamSink => ({
      event: (rv, event) => {
        lane.heard = true;
        // Already delivered through another connection of this kind (a probe, or the stream before it resumed).
        if (rv <= lane.reached) return;
        lane.reached = rv;
        pending.push({ rv, event, at: Date.now() });
        poke();
      },
      progress: (rv) => {
        lane.heard = true;
        if (rv > lane.reached) lane.reached = rv;
        if (own) {
          const now = Date.now();
          if (lane.lastMark > 0) lane.markEvery = now - lane.lastMark;
          lane.lastMark = now;
        }
        poke();
      },
      fail: (err) => {
        failed ??= err;
        poke();
      },
    });
    const runs = lanes.map((l) => this.#stream(l.kind, l.labelSelector, String(start), stop.signal, sinkOf(l, true)));
    const probes = new Set<Promise<void>>();
    const probe = (lane: Lane): void => {
      const ctl = new AbortController();
      const onStop = (): void => ctl.abort();
      stop.signal.addEventListener('abort', onStop, { once: true });
      lane.probe = ctl;
      const run = this.#probe(lane.kind, lane.labelSelector, String(lane.reached), ctl.signal, sinkOf(lane, false)).catch(() => false).then((ok) => {
        stop.signal.removeEventListener('abort', onStop);
        if (lane.probe === ctl) lane.probe = undefined;
        lane.probeFailures = ok ? 0 : lane.probeFailures + 1;
        lane.nextProbe = Date.now() + Math.min(this.#backoff.max, this.#backoff.initial * 2 ** lane.probeFailures);
        probes.delete(run);
        poke();
      });
      probes.add(run);
    };
    let delivered = start;
    let lastEmit = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      for (;;) {
        if (stop.signal.aborted) return;
        if (failed) throw failed;
        pending.sort((a, b) => (a.rv < b.rv ? -1 : a.rv > b.rv ? 1 : 0));
        const head = pending[0];
        const now = Date.now();
        // The lanes the merge waits for: for a held event, those not yet at the revision just before it (kube gives each
        // write its own revision, so nothing of theirs can come between); for a bookmark, those not yet heard from.
        let behind: Lane[] = [];
        if (head) {
          behind = lanes.filter((l) => l.reached < head.rv - 1n);
          if (behind.length === 0) {
            pending.shift();
            if (head.rv < delivered) this.#logger?.warn({ kind: head.event.object.kind, resourceVersion: String(head.rv), after: String(delivered) }, 'kube watch event arrived out of resourceVersion order');
            else delivered = head.rv;
            lastEmit = now;
            yield head.event;
            continue;
          }
        } else if (bookmarkMs !== undefined && now - lastEmit >= bookmarkMs) {
          behind = lanes.filter((l) => !l.heard);
          if (behind.length === 0) {
            lastEmit = now;
            // Nothing is held and every stream has delivered everything up to the lowest revision they reached.
            const low = lanes.reduce((a, l) => (l.reached < a ? l.reached : a), lanes[0]?.reached ?? delivered);
            yield bookmark(bookmarkKind, low > delivered ? low : delivered);
            continue;
          }
        }
        for (const l of lanes) if (l.probe && !behind.includes(l)) l.probe.abort();
        // Move on the lanes waited for a while: a progress read and a probe watch (see the header); a lane whose own
        // bookmarks come sooner than a probe's would is probed only when its next one is late (twice its interval).
        const since = head ? head.at : lastEmit + (bookmarkMs ?? 0);
        const waits: number[] = [];
        for (const l of behind) {
          if (l.probe) continue;
          const own = l.markEvery < OWN_BOOKMARKS_MS ? l.lastMark + 2 * l.markEvery : 0;
          const at = Math.max(since + PROGRESS_AFTER_MS, l.nextProbe, own);
          if (at <= now) probe(l);
          else waits.push(at - now);
        }
        if (!head && bookmarkMs !== undefined && behind.length === 0) waits.push(lastEmit + bookmarkMs - now);
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (waits.length > 0) timer = setTimeout(resolve, Math.max(0, Math.min(...waits)));
        });
        wake = () => undefined;
        clearTimeout(timer);
        timer = undefined;
      }
    } finally {
      clearTimeout(timer);
      stop.abort();
      signal?.removeEventListener('abort', onAbort);
      this.#closing.signal.removeEventListener('abort', onAbort);
      await Promise.allSettled(runs);
      while (probes.size > 0) await Promise.allSettled([...probes]);
    }
  }

  /**
   * One kind's kube watch, resumed from its last seen resourceVersion after
   * a dropped connection, until `stop`; reports events, progress (bookmarks)
   * and a failure that ends the merged watch (410, a missing type).
   */
  async #stream(kind: Kind, labelSelector: string | undefined, from: string, stop: AbortSignal, sink: StreamSink): Promise<void> {
    let rv = from;
    let delay = this.#backoff.initial;
    while (!stop.aborted) {
      const c = await this.#connect(kind, labelSelector, rv, this.#watchTimeout, stop, sink);
      rv = c.rv;
      if (stop.aborted) return;
      if (c.gone !== undefined) {
        const oldest = /\((\d+)\)/.exec(c.gone)?.[1] ?? '-';
        const current = await this.currentResourceVersion().catch(() => '?');
        return sink.fail(new ErrGone({ resourceVersion: rv, oldest, current, reason: `kube says: ${c.gone}` }));
      }
      if (c.fatal) return sink.fail(c.fatal);
      const f = c.ended === null || c.ended === undefined ? undefined : kubeFailure(c.ended);
      if (f?.status === 410) {
        return sink.fail(new ErrGone({ resourceVersion: rv, oldest: '-', current: '?', reason: `kube says: ${f.message}` }));
      }
      if (f?.status === 404 || f?.status === 401 || f?.status === 403 || f?.status === 400) {
        return sink.fail(new ErrKube({ operation: 'watch', target: this.#where(kind), status: f.status, reason: f.message }));
      }
      if (c.progressed) delay = this.#backoff.initial;
      this.#logger?.debug({ kind, resourceVersion: rv, delayMs: delay, reason: f?.message ?? 'closed' }, 'kube watch resuming');
      await sleep(delay, stop);
      delay = Math.min(this.#backoff.max, delay * 2);
    }
  }

  /**
   * Moves one kind on for the merge (see the header): a progress read (a
   * quorum LIST of the kind, limit 1, with the stream's selector), then a
   * second watch of the kind from the revision the merge has of it, whose
   * events and bookmarks go to the merge like the stream's own, until kube
   * ends it after PROBE_TIMEOUT_SECONDS or the merge no longer needs it.
   * Its failures are only logged (false): the kind's stream reports its own.
   */
  async #probe(kind: Kind, labelSelector: string | undefined, from: string, stop: AbortSignal, sink: StreamSink): Promise<boolean> {
    try {
      await this.#api.listNamespacedCustomObject({ ...this.#target(kind), limit: 1, ...(labelSelector !== undefined ? { labelSelector } : {}) });
    } catch (err) {
      this.#logger?.debug({ kind, reason: kubeFailure(err).message }, 'kube watch progress read failed');
      return false;
    }
    if (stop.aborted) return true;
    const c = await this.#connect(kind, labelSelector, from, PROBE_TIMEOUT_SECONDS, stop, { ...sink, fail: () => undefined });
    const reason = c.gone ?? c.fatal?.message ?? (c.ended === null || c.ended === undefined ? undefined : kubeFailure(c.ended).message);
    if (reason === undefined || stop.aborted) return true;
    this.#logger?.debug({ kind, resourceVersion: from, reason }, 'kube watch probe failed');
    return false;
  }

  /** One connection of a kube watch of `kind` from `from`, until kube ends it or `stop`. */
  async #connect(kind: Kind, labelSelector: string | undefined, from: string, timeoutSeconds: number, stop: AbortSignal, sink: StreamSink): Promise<Connection> {
    const path = `/apis/${GROUP}/${VERSION}/namespaces/${this.#ns}/${pluralOf(kind)}`;
    const watcher = new this.#k8s.Watch(this.#kc);
    // Bookmarks keep the stream busy; the client's idle timeout only guards against a silent peer.
    // (requestTimeoutMs is public at run time; client-node 2.0.1's typings mark it private.)
    (watcher as unknown as { requestTimeoutMs: number }).requestTimeoutMs = Math.max(60_000, (timeoutSeconds + 30) * 1000);
    const c: Connection = { rv: from, progressed: false, ended: undefined };
    c.ended = await new Promise<unknown>((resolve) => {
      let ctl: AbortController | undefined;
      const onStop = (): void => ctl?.abort();
      stop.addEventListener('abort', onStop, { once: true });
      const finish = (err: unknown): void => {
        stop.removeEventListener('abort', onStop);
        resolve(err);
      };
      watcher
        .watch(
          path,
          { resourceVersion: from, allowWatchBookmarks: true, timeoutSeconds, ...(labelSelector !== undefined ? { labelSelector } : {}) },
          (type: string, obj: unknown) => {
            if (stop.aborted) return;
            if (type === 'ERROR') {
              const st = obj as KubeStatus;
              if (st.code === 410) c.gone = st.message ?? 'Expired';
              else c.fatal ??= new ErrKube({ operation: 'watch', target: this.#where(kind), status: st.code ?? null, reason: st.message ?? 'ERROR event' });
              ctl?.abort();
              return;
            }
            const o = obj as KubeObject;
            const text = o.metadata?.resourceVersion;
            if (text === undefined || !/^[0-9]+$/.test(text)) return;
            c.rv = text;
            c.progressed = true;
            if (type === 'BOOKMARK') sink.progress(BigInt(text));
            else if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') sink.event(BigInt(text), { type, object: fromKube(kind, o) });
          },
          finish,
        )
        .then(
          (controller) => {
            ctl = controller;
            if (stop.aborted) controller.abort();
          },
          finish,
        );
    });
    return c;
  }

  // -------------------------------------------------------------------------
  // Lifecycle and helpers

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    await this.#client.close();
    this.#logger?.debug({ namespace: this.#ns }, 'kube resource store closed');
  }

  #ensureOpen(operation: string): void {
    if (this.#closed) throw new ErrClosed({ file: `kube namespace ${this.#ns}`, operation });
  }
}

function bookmark(kind: Kind, revision: bigint): WatchEvent {
  return {
    type: 'BOOKMARK',
    object: { apiVersion: API_VERSION, kind, metadata: { name: '', resourceVersion: String(revision) }, spec: {} },
  };
}
