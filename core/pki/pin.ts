/**
 * The CA pin (kubeadm's `--discovery-token-ca-cert-hash`): a second public
 * entry beside index.ts that imports only node:crypto, for what the command
 * line loads at start (`edgeadm join` checks it; `hub run`, `init` and
 * `token create` print it) and for the hub, which hands it out with a
 * bootstrap token.
 */
import { createHash, X509Certificate } from 'node:crypto';

/** `sha256:<hex>`: SHA-256 over the CA certificate's DER SubjectPublicKeyInfo. */
export function caCertHash(pem: string): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}
