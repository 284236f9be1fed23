/** core/health: distributed health. Nodes of a site check each other, sign and gossip their results, and vote on each node. */
export { HealthAgent, type GossipTransport, type HealthAgentOptions, type HealthAgentStats, type RejectReason, type Verdict, type VerdictState } from './agent.ts';
export { networkProbe, pingProblem, type Member, type Probe } from './checks.ts';
export { HEALTH_DEFAULTS, resolveHealthConfig, withoutChecks, type HealthConfig, type ResolvedCheck } from './config.ts';
export { deriveSiteKey, keyId, newClusterKey, type HealthKey, type HealthKeyring } from './signing.ts';
export { HttpGossipTransport, MemoryGossipNetwork, startGossipServer, type GossipServer } from './transport.ts';
export { GOSSIP_PATH, SIGNATURE_HEADER, signReport, sealEnvelope, type Envelope, type Report, type SignedBody } from './wire.ts';
export * from './annotations.ts';
export * as HealthErrors from './errors.ts';
export { admitEndpoints, admitEndpointSlice, admitNode, HEALTH_WEBHOOK_BODY_LIMIT, HEALTH_WEBHOOK_PATHS, HEALTH_WEBHOOK_PORT, keepsItsPods, parseAdmissionReview, readyUnknown, startHealthWebhook, startNodeCache, votedHealthy, type AdmissionRequest, type AdmissionResponse, type AdmissionResponseReview, type AdmissionReview, type HealthWebhook, type HealthWebhookOptions, type JsonPatchOp, type NodeCache, type NodeCacheOptions, type NodeLike, type NodeLookup } from './webhook.ts';
