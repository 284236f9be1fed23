/**
 * The node's own writes while the upstream is unreachable, so the kubelet
 * keeps running offline, a reboot included:
 * - registration (`POST /api/v1/nodes` of its own Node): 409 AlreadyExists
 *   when the Node is known (the kubelet then reads and patches it, as it
 *   does online), else accepted and created upstream later;
 * - status (`PATCH`/`PUT` of `nodes/<node>` and `nodes/<node>/status`):
 *   applied to the cached Node (strategic merge or merge patch) and answered
 *   with the result;
 * - Lease renewals (`PUT`/`PATCH`/`POST` of `kube-node-lease/leases/<node>`):
 *   kept and answered.
 *
 * Only the node's own identity (its certificate, `system:node:<node>`) and
 * only these objects: every other write offline answers 503 and the client
 * retries online. Pending reconciliations are stored with the cache, so a
 * reboot keeps them. Back online, before serving from upstream again: the
 * Node is created if it was registered offline, its conditions are written
 * (they say what the kubelet saw while the cloud was away), and the Lease is
 * renewed at once (renewTime now) so the node lifecycle controller sees the
 * node alive without waiting for the kubelet's next renewal.
 */
import type { CacheStorage } from './storage.ts';
import type { KubeObject } from './collections.ts';
import type { ProxyCache } from './cache.ts';
import { applyPatch, kubeStatus, type Json, type JsonObject } from './patch.ts';
import type { ApiRequest } from './request.ts';

const PENDING_KEY = 'pending\u0000node-writes';
export const LEASE_NAMESPACE = 'kube-node-lease';

/** What is to be reconciled upstream. */
export interface PendingWrites {
  create: boolean;
  status: boolean;
  lease: boolean;
}

/** A local answer to a write. */
export interface LocalAnswer {
  status: number;
  body: JsonObject;
}

/** The calls the reconciliation makes upstream with the node's credential. */
export interface UpstreamCalls {
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: unknown }>;
}

/** kube's MicroTime: RFC 3339 with microseconds. */
export const microTime = (d = new Date()): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class NodeWrites {
  readonly #node: string;
  readonly #identity: string;
  readonly #cache: ProxyCache;
  readonly #storage: CacheStorage;
  #pending: PendingWrites;

  constructor(o: { nodeName: string; identity: string; cache: ProxyCache }) {
    this.#node = o.nodeName;
    this.#identity = o.identity;
    this.#cache = o.cache;
    this.#storage = o.cache.storage;
    const stored = this.#storage.get(PENDING_KEY);
    this.#pending = { create: false, status: false, lease: false, ...(stored?.meta as Partial<PendingWrites> | undefined) };
  }

  get nodePath(): string {
    return `/api/v1/nodes/${encodeURIComponent(this.#node)}`;
  }

  get leasePath(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases/${encodeURIComponent(this.#node)}`;
  }

  pending(): PendingWrites {
    return { ...this.#pending };
  }

  /** Whether the request is one of the node's own writes this class answers offline. */
  owns(req: ApiRequest): boolean {
    const r = req.resource;
    if (r === undefined || !['create', 'update', 'patch'].includes(req.verb)) return false;
    if (r.group === '' && r.resource === 'nodes' && r.namespace === undefined) return req.verb === 'create' ? r.name === undefined : r.name === this.#node && (r.subresource === undefined || r.subresource === 'status');
    if (r.group === 'coordination.k8s.io' && r.resource === 'leases' && r.namespace === LEASE_NAMESPACE) return req.verb === 'create' ? r.name === undefined : r.name === this.#node && r.subresource === undefined;
    return false;
  }

  /** Answers one of the node's own writes offline; undefined when it cannot (the caller answers 503). */
  answer(req: ApiRequest, body: unknown, contentType: string): LocalAnswer | undefined {
    const r = req.resource;
    if (r === undefined) return undefined;
    const isLease = r.resource === 'leases';
    const path = isLease ? this.leasePath : this.nodePath;
    if (req.verb === 'create') {
      const name = (body as KubeObject | undefined)?.metadata?.name;
      if (name !== this.#node) return undefined;
      const kind = isLease ? 'leases' : 'nodes';
      if (this.#cache.objectState(this.#identity, path) !== undefined) {
        return { status: 409, body: kubeStatus(409, 'AlreadyExists', `${kind} "${name}" already exists`, { name, kind, ...(isLease ? { group: 'coordination.k8s.io' } : {}) }) };
      }
      const created = this.#withDefaults(body as JsonObject);
      this.#cache.recordLocalWrite(this.#identity, path, created);
      this.#mark(isLease ? 'lease' : 'create');
      return { status: 201, body: created };
    }
    const current = this.#cache.objectState(this.#identity, path) as JsonObject | undefined;
    let next: JsonObject | undefined;
    if (req.verb === 'update') {
      if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
      next = body as JsonObject;
    } else {
      if (current === undefined) return undefined;
      next = applyPatch(current, contentType, body as Json);
    }
    if (next === undefined) return undefined;
    // The version stays the one the cloud issued: the node must not invent versions the cloud will reuse.
    const rv = (current?.metadata as JsonObject | undefined)?.resourceVersion;
    if (rv !== undefined) next = { ...next, metadata: { ...((next.metadata as JsonObject | undefined) ?? {}), resourceVersion: rv } };
    this.#cache.recordLocalWrite(this.#identity, path, next);
    this.#mark(isLease ? 'lease' : 'status');
    return { status: 200, body: next };
  }

  /** Writes what was answered offline to the upstream; throws (and keeps it pending) on a failure. */
  async reconcile(up: UpstreamCalls): Promise<void> {
    if (this.#pending.create) {
      const node = this.#cache.objectState(this.#identity, this.nodePath);
      if (node !== undefined) {
        const { metadata, ...rest } = node;
        const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ct, ...meta } = metadata ?? {};
        const res = await up.request('POST', '/api/v1/nodes', { ...rest, metadata: meta });
        if (res.status !== 201 && res.status !== 409) throw new Error(`creating node ${this.#node} answered ${res.status}`);
      }
      this.#clear('create');
    }
    if (this.#pending.status) {
      const node = this.#cache.objectState(this.#identity, this.nodePath) as JsonObject | undefined;
      const conditions = ((node?.status as JsonObject | undefined)?.conditions ?? undefined) as Json | undefined;
      if (conditions !== undefined) {
        const res = await up.request('PATCH', `${this.nodePath}/status`, { status: { conditions } }, 'application/merge-patch+json');
        if (res.status === 200) this.#cache.recordObject(this.#identity, this.nodePath, res.body as KubeObject);
        else if (res.status !== 404) throw new Error(`writing node ${this.#node} status answered ${res.status}`);
      }
      this.#clear('status');
    }
    if (this.#pending.lease) {
      const mine = this.#cache.objectState(this.#identity, this.leasePath) as JsonObject | undefined;
      const spec = { ...((mine?.spec as JsonObject | undefined) ?? {}), holderIdentity: this.#node, renewTime: microTime() };
      const cur = await up.request('GET', this.leasePath);
      let res: { status: number; body: unknown };
      if (cur.status === 404) {
        res = await up.request('POST', `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases`, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.#node, namespace: LEASE_NAMESPACE }, spec });
      } else if (cur.status === 200) {
        const upstream = cur.body as JsonObject;
        res = await up.request('PUT', this.leasePath, { ...upstream, spec: { ...((upstream.spec as JsonObject | undefined) ?? {}), ...spec } });
      } else {
        throw new Error(`reading lease ${this.#node} answered ${cur.status}`);
      }
      if (res.status !== 200 && res.status !== 201) throw new Error(`renewing lease ${this.#node} answered ${res.status}`);
      this.#cache.recordObject(this.#identity, this.leasePath, res.body as KubeObject);
      this.#clear('lease');
    }
  }

  #withDefaults(o: JsonObject): JsonObject {
    const meta = (o.metadata as JsonObject | undefined) ?? {};
    return { ...o, metadata: { ...meta, creationTimestamp: (meta.creationTimestamp) ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') } };
  }

  #mark(what: keyof PendingWrites): void {
    if (this.#pending[what]) return;
    this.#pending[what] = true;
    this.#save();
  }

  #clear(what: keyof PendingWrites): void {
    this.#pending[what] = false;
    this.#save();
  }

  #save(): void {
    this.#storage.put(PENDING_KEY, { meta: { ...this.#pending }, body: Buffer.alloc(0) });
  }
}
