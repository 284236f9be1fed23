/**
 * Throwaway SSH host keys for the hub's tests: an OpenSSH ed25519 public key
 * line made with node:crypto alone, and its fingerprint computed here from
 * the key blob (SHA-256, base64 without padding), as `ssh-keygen -lf`
 * prints it — independently of the code under test.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';

export interface TestSshKey {
  /** `ssh-ed25519 <base64> <comment>`. */
  line: string;
  /** `SHA256:<base64>`. */
  fingerprint: string;
  /** The line with another comment: the same key. */
  withComment(comment: string): string;
}

export function testSshKey(comment = 'root@test'): TestSshKey {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const str = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  const b64 = Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]).toString('base64');
  const fingerprint = `SHA256:${createHash('sha256').update(Buffer.from(b64, 'base64')).digest('base64').replace(/=+$/, '')}`;
  return { line: `ssh-ed25519 ${b64} ${comment}`, fingerprint, withComment: (c) => `ssh-ed25519 ${b64} ${c}` };
}
