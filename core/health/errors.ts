/**
 * Distributed health's coded errors: each names the field, peer, key or
 * request it is about, so a person can act on the message alone.
 */
import { createError } from '../kernel/index.ts';

/** No health key for the cluster: the agent refuses to start, and says how to make one. */
export const ErrNoKey = createError(
  'EDGE_ERR_HEALTH_NO_KEY',
  (p: { site: string; reason: string }) =>
    `distributed health at site '${p.site}' has no key (${p.reason}); an admin creates the cluster's health key with 'edgeadm health key create', and the site's agents fetch it from the hub`,
  { statusCode: 404 },
);

/** The site's health settings cannot work: names the field. */
export const ErrHealthConfig = createError(
  'EDGE_ERR_HEALTH_CONFIG',
  (p: { field: string; reason: string }) => `health settings: ${p.field} ${p.reason}`,
  { statusCode: 400 },
);

/** A gossip message that is refused: names the field or the check that failed (bad shape, bad signature, stale, replayed, unknown peer). */
export const ErrGossip = createError(
  'EDGE_ERR_HEALTH_GOSSIP',
  (p: { field: string; reason: string }) => `health gossip refused: ${p.field} ${p.reason}`,
  { statusCode: 400 },
);

/** A body the admission webhook cannot answer: not an AdmissionReview v1 with a request (uid, resource, object). Names the field; answered as HTTP 400. */
export const ErrAdmissionReview = createError(
  'EDGE_ERR_HEALTH_ADMISSION_REVIEW',
  (p: { field: string; reason: string }) => `admission review refused: ${p.field} ${p.reason}`,
  { statusCode: 400 },
);

/** A request to the admission webhook that is not `application/json` (kube-apiserver always sends JSON). */
export const ErrAdmissionMediaType = createError(
  'EDGE_ERR_HEALTH_ADMISSION_MEDIA_TYPE',
  (p: { contentType: string }) => `admission review refused: content-type must be application/json, got ${p.contentType === '' ? 'none' : `'${p.contentType.slice(0, 100)}'`}`,
  { statusCode: 415 },
);

/** A request body beyond the webhook's limit. */
export const ErrAdmissionTooLarge = createError(
  'EDGE_ERR_HEALTH_ADMISSION_TOO_LARGE',
  (p: { limit: number }) => `admission review refused: body is larger than ${p.limit} bytes`,
  { statusCode: 413 },
);

/** A check of the site's settings cannot run on this node (icmp without `ping`): names the checks and the cause. */
export const ErrCheckUnavailable = createError(
  'EDGE_ERR_HEALTH_CHECK_UNAVAILABLE',
  (p: { checks: string; reason: string; rest: boolean }) =>
    `the health check(s) ${p.checks} cannot run on this node (${p.reason})${p.rest ? ': peers are judged by the other checks' : ': no check is left to judge peers by'}`,
  { statusCode: 503 },
);

/** The health agent cannot listen for its peers: names the address and the cause. */
export const ErrListen = createError('EDGE_ERR_HEALTH_LISTEN', (p: { address: string; reason: string }) => `the health agent cannot listen on ${p.address}: ${p.reason}`, {
  statusCode: 503,
});
