/**
 * The lite-apiserver's coded errors: each names the option, path, identity
 * or request it is about, so a person can act on the message alone.
 */
import { createError } from '../kernel/index.ts';

/** The storage cannot be opened or written: names the driver, the path and the cause (storage drivers). */
export const ErrCacheStorage = createError(
  'EDGE_ERR_LITE_APISERVER_STORAGE',
  (p: { driver: string; path: string; reason: string }) => `lite-apiserver ${p.driver} storage at ${p.path}: ${p.reason}`,
  { statusCode: 500 },
);

/** The node's kubeconfig cannot serve as the upstream credential: names the file, the field and why (upstream.ts). */
export const ErrUpstreamConfig = createError(
  'EDGE_ERR_LITE_APISERVER_UPSTREAM_CONFIG',
  (p: { file: string; field: string; reason: string }) => `lite-apiserver kubeconfig ${p.file}: ${p.field === '' ? '' : `${p.field} `}${p.reason}`,
  { statusCode: 400 },
);

/** The node's credential is a cluster-admin one: the proxy never presents such a credential for the node's components (upstream.ts). */
export const ErrAdminCredential = createError(
  'EDGE_ERR_LITE_APISERVER_ADMIN_CREDENTIAL',
  (p: { source: string; user: string; how: string }) =>
    `lite-apiserver: the node credential from ${p.source} (user '${p.user}') is a cluster-admin credential (${p.how}); give the node's own kubeconfig (the kubelet's), never an admin one`,
  { statusCode: 400 },
);

/** Options of the proxy that cannot work: names the option (proxy.ts, the CLI). */
export const ErrLiteApiserverOptions = createError(
  'EDGE_ERR_LITE_APISERVER_OPTIONS',
  (p: { option: string; reason: string }) => `lite-apiserver option ${p.option} ${p.reason}`,
  { statusCode: 400 },
);

/** Offline, with nothing cached that answers the request (served as a 503 Status; the client retries). */
export const ErrNotCached = createError(
  'EDGE_ERR_LITE_APISERVER_NOT_CACHED',
  (p: { verb: string; path: string }) => `lite-apiserver: the upstream is unreachable and nothing cached answers ${p.verb} ${p.path}`,
  { statusCode: 503 },
);

/** A client the proxy does not speak for upstream (a certificate of another node or user): served as a 403 Status. */
export const ErrClientIdentity = createError(
  'EDGE_ERR_LITE_APISERVER_CLIENT_IDENTITY',
  (p: { user: string; reason: string }) => `lite-apiserver: client '${p.user}' is not proxied: ${p.reason}`,
  { statusCode: 403 },
);
