/**
 * The CA pin: SHA-256 of the CA's DER SubjectPublicKeyInfo, as kubeadm and
 * `openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum` have it.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { caCertHash, createCertificateAuthority } from './index.ts';

describe('caCertHash', () => {
  it("is the SHA-256 of the certificate's SubjectPublicKeyInfo, as openssl computes it", async () => {
    const ca = await createCertificateAuthority({ commonName: 'pin-ca' });
    const pub = execFileSync('openssl', ['x509', '-pubkey', '-noout'], { input: ca.certPem });
    const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: pub });
    const hex = execFileSync('openssl', ['dgst', '-sha256', '-hex'], { input: der }).toString().trim().split(/\s+/).pop();
    expect(caCertHash(ca.certPem)).toBe(`sha256:${hex}`);
  });

  it('tells two CAs apart, and is the same for the same CA', async () => {
    const [a, b] = await Promise.all([createCertificateAuthority({ commonName: 'a' }), createCertificateAuthority({ commonName: 'a' })]);
    expect(caCertHash(a.certPem)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(caCertHash(a.certPem)).toBe(caCertHash(a.certPem));
    expect(caCertHash(a.certPem)).not.toBe(caCertHash(b.certPem));
  });

  it('throws on something that is not a certificate', () => {
    expect(() => caCertHash('not a certificate')).toThrow();
  });
});
