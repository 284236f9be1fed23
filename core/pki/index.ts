/**
 * core/pki: the hub's certificate authority. A self-signed ECDSA P-256 CA,
 * server / client certificates it issues (hub TLS, the tunnel's WebSocket
 * over TLS, mTLS clients such as kube-apiserver's egress and node
 * credentials), a readable view of any certificate, and the hub's PKI folder
 * (ca.crt, ca.key, hub.crt, hub.key) created on first start and kept current.
 */
export * as PkiErrors from './errors.ts';
export {
  certificateInfo,
  createCertificateAuthority,
  issueCertificate,
  type CertificateInfo,
  type CertUsage,
  type IssueOptions,
  type KeyPairPem,
} from './ca.ts';
export { caCertHash } from './pin.ts';
export { HUB_CERT_DAYS, loadOrCreateHubPki, RENEW_BEFORE_DAYS, type HubPki, type HubPkiOptions } from './hub.ts';
