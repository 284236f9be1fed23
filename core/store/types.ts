/**
 * The ResourceStore contract: Kubernetes-style resources with
 * resourceVersion semantics, implemented by the `sqlite` driver (embedded
 * mode), the `postgres` driver (hub replicas sharing a database) and the
 * `kube` driver. Controllers, the hub and the site
 * agent talk only to this interface.
 */

export const API_VERSION = 'edgeadm.io/v1alpha1';
/**
 * `Lease` (coordination between hub-side replicas, shaped like
 * coordination.k8s.io/v1) never goes to sites. `BrokerCredential` is a login
 * to a site's MQTT broker (a password hash and what it may publish and
 * subscribe). `PendingDevice` is a device a site saw announce itself, waiting
 * for an operator's approval (like a Kubernetes CertificateSigningRequest).
 */
export const KINDS = ['Site', 'Node', 'DeviceProfile', 'Device', 'Addon', 'Lease', 'BrokerCredential', 'PendingDevice'] as const;
export type Kind = (typeof KINDS)[number];

export interface ObjectMeta {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Set by the store. */
  uid?: string;
  /** Set by the store: the store-wide revision of the last write to this object, as a decimal string. */
  resourceVersion?: string;
  /** Set by the store: incremented when spec changes. */
  generation?: number;
  /** Set by the store, RFC 3339. */
  creationTimestamp?: string;
}

export interface Resource<Spec = unknown, Status = unknown> {
  apiVersion: string;
  kind: Kind;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}

export interface ListOptions {
  /** Kubernetes label selector syntax: `a=b,c!=d,e in (x,y),f notin (z),g,!h`. */
  labelSelector?: string;
  /** Only resources of this site (`spec.site`; for kind Site, the site itself). */
  site?: string;
  /** Page size; omitted means everything. */
  limit?: number;
  /** Opaque token from a previous page's `continue`. */
  continue?: string;
}

export interface ListResult<R extends Resource = Resource> {
  items: R[];
  /** The store revision the list reflects; a watch from it misses nothing. */
  resourceVersion: string;
  continue?: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchEvent<R extends Resource = Resource> {
  type: WatchEventType;
  /** For DELETED: the last state; for BOOKMARK: only kind/metadata.resourceVersion are meaningful. */
  object: R;
}

export interface WatchOptions {
  /** Deliver events strictly after this revision; omitted means from now. */
  resourceVersion?: string;
  kinds?: readonly Kind[];
  labelSelector?: string;
  site?: string;
  /** Emit a BOOKMARK at least this often while idle (ms); omitted means never. */
  bookmarkIntervalMs?: number;
  /** Ends the iteration. */
  signal?: AbortSignal;
}

export interface WriteOptions {
  /** Optimistic concurrency: the write fails with EDGE_ERR_STORE_CONFLICT unless this is the current resourceVersion. */
  resourceVersion?: string;
}

export interface ResourceStore {
  get<R extends Resource = Resource>(kind: Kind, name: string): Promise<R | undefined>;
  list<R extends Resource = Resource>(kind: Kind, opts?: ListOptions): Promise<ListResult<R>>;
  /**
   * Events in revision order. Throws EDGE_ERR_STORE_GONE (410) when
   * `resourceVersion` is older than the retained history: list again.
   */
  watch(opts?: WatchOptions): AsyncIterable<WatchEvent>;
  /** Creates or replaces metadata (labels, annotations) and spec; status is untouched. Validates. */
  apply<R extends Resource = Resource>(obj: R, opts?: WriteOptions): Promise<R>;
  /** Like apply, but fails with EDGE_ERR_STORE_EXISTS when the object exists. */
  create<R extends Resource = Resource>(obj: R): Promise<R>;
  delete<R extends Resource = Resource>(kind: Kind, name: string, opts?: WriteOptions): Promise<R | undefined>;
  /** Replaces status only; fails with EDGE_ERR_STORE_NOT_FOUND when absent. */
  updateStatus<R extends Resource = Resource>(kind: Kind, name: string, status: unknown, opts?: WriteOptions): Promise<R>;
  currentResourceVersion(): Promise<string>;
  close(): Promise<void>;
}
