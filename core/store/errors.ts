/**
 * The store's coded errors. Each names the resource (kind/name), revision,
 * selector or file it is about, so a transport can map it to an HTTP status
 * (`statusCode`) and a person can act on the message alone.
 */
import { createError, type FieldIssue } from '../kernel/index.ts';

export const ErrNotFound = createError(
  'EDGE_ERR_STORE_NOT_FOUND',
  (p: { kind: string; name: string }) => `${p.kind} '${p.name}' not found`,
  { statusCode: 404 },
);

export const ErrExists = createError(
  'EDGE_ERR_STORE_EXISTS',
  (p: { kind: string; name: string }) => `${p.kind} '${p.name}' already exists`,
  { statusCode: 409 },
);

export const ErrConflict = createError(
  'EDGE_ERR_STORE_CONFLICT',
  (p: { kind: string; name: string; expected: string; current: string | null }) =>
    `${p.kind} '${p.name}' was expected at resourceVersion ${p.expected} but ${
      p.current === null ? 'it does not exist' : `is at ${p.current}`
    }; read it again and retry`,
  { statusCode: 409 },
);

/** One line per issue: `path message`. */
export function formatIssues(issues: readonly FieldIssue[]): string {
  return issues.map((i) => `${i.path === '' ? '(root)' : i.path} ${i.message}`).join('; ');
}

export const ErrInvalid = createError(
  'EDGE_ERR_STORE_INVALID',
  (p: { kind: string; name: string; issues: FieldIssue[] }) =>
    `${p.kind} '${p.name}' is invalid (${p.issues.length} problem${p.issues.length === 1 ? '' : 's'}): ${formatIssues(p.issues)}`,
  { statusCode: 400 },
);

export const ErrGone = createError(
  'EDGE_ERR_STORE_GONE',
  (p: { resourceVersion: string; oldest: string; current: string; reason: string }) =>
    `resourceVersion ${p.resourceVersion} is gone: ${p.reason} (retained history covers ${p.oldest}..${p.current}); list again`,
  { statusCode: 410 },
);

export const ErrImmutable = createError(
  'EDGE_ERR_STORE_IMMUTABLE',
  (p: { kind: string; name: string; field: string; current: string; requested: string }) =>
    `${p.kind} '${p.name}': ${p.field} cannot change after creation (is '${p.current}', requested '${p.requested}'); delete and recreate it`,
  { statusCode: 400 },
);

export const ErrClosed = createError(
  'EDGE_ERR_STORE_CLOSED',
  (p: { file: string; operation: string }) => `cannot ${p.operation}: store ${p.file} is closed`,
  { statusCode: 503 },
);

export const ErrSelector = createError(
  'EDGE_ERR_STORE_SELECTOR',
  (p: { selector: string; reason: string }) => `label selector '${p.selector}' is invalid: ${p.reason}`,
  { statusCode: 400 },
);

export const ErrFile = createError(
  'EDGE_ERR_STORE_FILE',
  (p: { file: string; reason: string }) => `cannot open store file ${p.file}: ${p.reason}`,
);

export const ErrIo = createError(
  'EDGE_ERR_STORE_IO',
  (p: { file: string; operation: string; reason: string }) => `store ${p.file}: ${p.operation} failed: ${p.reason}`,
);

/** The database behind the store (PostgreSQL: postgres.ts) failed or cannot be reached: its words, never its URL. */
export const ErrBackend = createError(
  'EDGE_ERR_STORE_BACKEND',
  (p: { driver: string; what: string; reason: string }) => `resource store (${p.driver}): ${p.what} failed: ${p.reason}`,
  { statusCode: 503 },
);

/** Two Addons put the same plugin at the same site; the older one keeps it (see addons.ts). */
export const ErrAddonConflict = createError(
  'EDGE_ERR_ADDON_CONFLICT',
  (p: { addon: string; plugin: string; site: string; heldBy: string }) =>
    `Addon '${p.addon}' puts plugin '${p.plugin}' at site '${p.site}', which Addon '${p.heldBy}' already puts there; a site runs one instance of a plugin: remove the site from one of them, or merge their config (per-site templates)`,
  { statusCode: 409 },
);

export const ErrSyncMessage = createError(
  'EDGE_ERR_SYNC_MESSAGE',
  (p: { side: 'hub' | 'agent'; issues: FieldIssue[] }) =>
    `bad sync message from the ${p.side}: ${p.issues.map((i) => `${i.path || '(root)'} ${i.message}`).join('; ')}`,
  { statusCode: 400 },
);

/** A TypeBox schema holds something a CustomResourceDefinition's structural schema cannot say (crds.ts). */
export const ErrCrdSchema = createError(
  'EDGE_ERR_STORE_CRD_SCHEMA',
  (p: { kind: string; path: string; reason: string }) => `cannot make the CustomResourceDefinition of ${p.kind}: ${p.path}: ${p.reason}`,
);

/** kube answers 404 for a collection the platform needs (kube-client.ts users): no such namespace, or the CRD is not installed. */
export const ErrKubeNotServed = createError(
  'EDGE_ERR_STORE_KUBE_NOT_SERVED',
  (p: { resource: string; namespace: string }) =>
    `kube does not serve ${p.resource} in namespace ${p.namespace}: create the namespace, and install the CRDs (edgeadm manifests crds | kubectl apply -f -, or start the hub with --install-crds)`,
  { statusCode: 503 },
);

/** The kube driver's options are wrong (kube.ts). */
export const ErrKubeOptions = createError(
  'EDGE_ERR_STORE_KUBE_OPTIONS',
  (p: { field: string; reason: string }) => `kube store option ${p.field} is invalid: ${p.reason}`,
  { statusCode: 400 },
);

/** kube-apiserver answered something the kube driver cannot map to the store's contract (kube.ts). */
export const ErrKube = createError(
  'EDGE_ERR_STORE_KUBE',
  (p: { operation: string; target: string; status: number | null; reason: string }) =>
    `kube store: ${p.operation} ${p.target} failed${p.status === null ? '' : ` (HTTP ${p.status})`}: ${p.reason}`,
  { statusCode: 502 },
);

/** A write sets the label the kube driver keeps for site selection to another value than the object's site (kube.ts). */
export const ErrSiteLabel = createError(
  'EDGE_ERR_STORE_SITE_LABEL',
  (p: { kind: string; name: string; label: string; value: string; site: string }) =>
    `${p.kind} '${p.name}': label ${p.label}='${p.value}' disagrees with its site '${p.site}'; the store keeps that label equal to the site: remove it or set it to '${p.site}'`,
  { statusCode: 400 },
);
