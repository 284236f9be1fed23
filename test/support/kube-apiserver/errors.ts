/**
 * The Kubernetes API test server's coded errors. `ErrKubeApiStatus` carries
 * one Kubernetes `Status` answer (reason, code, details) from where a request
 * fails to where the server writes it (an admission webhook's denial
 * included, its reason passed through as given); `ErrKubeApiOptions`
 * refuses bad server options at start; `ErrKubeApiWebhookCall` is a failure
 * to call an admission webhook, which never leaves admission.ts (its
 * failurePolicy makes it a 500 Status or nothing). Nothing else here throws.
 */
import { createError } from '../../../core/kernel/index.ts';

/** The reasons of `metav1.StatusReason` this server answers with. */
export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'Gone'
  | 'Expired'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'UnsupportedMediaType'
  | 'Timeout'
  | 'InternalError';

/**
 * A reason passed through as given: the one of a Status an admission
 * webhook denied a request with (any string; '' for none, left out of the
 * answer, as kube-apiserver's omitempty does).
 */
export type PassedReason = string & Record<never, never>;

/** One `details.causes[]` entry of a Status (`metav1.StatusCause`). */
export interface StatusCause {
  /** Left out when undefined (an internal error's single cause has none). */
  reason?: string;
  message: string;
  field?: string;
}

/** `details` of a Status: which object the answer is about, and why. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface StatusParams {
  reason: StatusReason | PassedReason;
  code: number;
  message: string;
  details?: StatusDetails;
  /** For an expired continue token: the fresh token the Status's metadata carries. */
  continueToken?: string;
}

/** A request answered with a Kubernetes `Status` of failure; the message is the Status's message. */
export const ErrKubeApiStatus = createError('EDGE_ERR_KUBEAPI_STATUS', (p: StatusParams) => p.message);

/** A bad option given to `startKubeApiServer`, naming the option. */
export const ErrKubeApiOptions = createError(
  'EDGE_ERR_KUBEAPI_OPTIONS',
  (p: { option: string; reason: string }) => `kube-apiserver test server option '${p.option}' ${p.reason}`,
);

/** A failure to call an admission webhook (kube's ErrCallingWebhook), its reason as kube-apiserver words it; admission.ts only. */
export const ErrKubeApiWebhookCall = createError('EDGE_ERR_KUBEAPI_WEBHOOK_CALL', (p: { reason: string }) => p.reason);
