/**
 * The Kubernetes API test server's coded errors. `ErrKubeApiStatus` carries
 * one Kubernetes `Status` answer (reason, code, details) from where a request
 * fails to where the server writes it; `ErrKubeApiOptions` refuses bad server
 * options at start. Nothing else here throws.
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

/** One `details.causes[]` entry of a Status (`metav1.StatusCause`). */
export interface StatusCause {
  reason: string;
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
  reason: StatusReason;
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
