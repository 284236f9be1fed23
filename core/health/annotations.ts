/**
 * The names distributed health writes on Kubernetes Nodes, in one place: the
 * hub writes them from the site's votes, the admission webhook reads them.
 *
 * - `nodeunhealth`: SuperEdge's annotation. Present (value `yes`) while the
 *   node's peers vote it unhealthy; removed when they vote it healthy.
 *   SuperEdge's own admission keeps the taint off any node WITHOUT it, so a
 *   node that never had a health agent counts as healthy there.
 * - `health.edgeadm.io/verdict`: `healthy` or `unhealthy`, the last majority
 *   vote of the node's peers. The webhook here acts only on `healthy`: a node
 *   nobody voted on is left to Kubernetes.
 * - `health.edgeadm.io/voted-at`: when that vote was taken (RFC 3339).
 */

/** SuperEdge's annotation: present while the node's peers vote it unhealthy. */
export const NODE_UNHEALTH_ANNOTATION = 'nodeunhealth';
/** Its value while present (SuperEdge checks presence only). */
export const NODE_UNHEALTH_VALUE = 'yes';
/** The last verdict of the node's peers: `healthy` or `unhealthy`. */
export const VERDICT_ANNOTATION = 'health.edgeadm.io/verdict';
/** The verdict value the webhook acts on. */
export const VERDICT_HEALTHY = 'healthy';
/** When that verdict was voted (RFC 3339). */
export const VOTED_AT_ANNOTATION = 'health.edgeadm.io/voted-at';

/** The taint kube-controller-manager puts on a node whose kubelet stopped reporting; pods without a toleration are evicted after it. */
export const UNREACHABLE_TAINT = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' } as const;

/** The gossip and check port of the health agent (SuperEdge's edge-health uses the same). */
export const HEALTH_PORT = 51005;
