/** The CA and the certificates it issues, read back with node:crypto; coded errors for bad input. */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { deferCleanup } from '../../test/support/cleanup.ts';
import { tempDir } from '../../test/support/hub-fixture.ts';
import { certificateInfo, createCertificateAuthority, issueCertificate, type KeyPairPem } from './index.ts';

const defer = deferCleanup();
const DAY_MS = 86_400_000;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** Whole days between now and `d`, rounded: validity is checked to the day, never timed. */
const daysFromNow = (d: Date): number => Math.round((d.getTime() - Date.now()) / DAY_MS);

let ca: KeyPairPem;
let otherCa: KeyPairPem;

beforeAll(async () => {
  [ca, otherCa] = await Promise.all([createCertificateAuthority({ commonName: 'test-ca' }), createCertificateAuthority({ commonName: 'other-ca', days: 30 })]);
});

describe('createCertificateAuthority', () => {
  it('makes a self-signed ECDSA P-256 CA valid for 3650 days by default, key as PKCS#8 PEM', () => {
    const info = certificateInfo(ca.certPem);
    expect(info).toMatchObject({ commonName: 'test-ca', isCA: true, issuer: 'CN=test-ca', dnsNames: [], ipAddresses: [] });
    expect(info).not.toHaveProperty('organization');
    expect(daysFromNow(info.notAfter)).toBe(3650);
    expect(info.notBefore.getTime()).toBeLessThanOrEqual(Date.now());
    expect(daysFromNow(certificateInfo(otherCa.certPem).notAfter)).toBe(30);

    expect(ca.certPem).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
    expect(ca.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const key = createPrivateKey(ca.keyPem);
    expect(key.asymmetricKeyType).toBe('ec');
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');

    const node = new X509Certificate(ca.certPem);
    expect(node.ca).toBe(true);
    expect(node.checkPrivateKey(key)).toBe(true);
    expect(node.verify(node.publicKey)).toBe(true);
    expect(node.checkIssued(node)).toBe(true);
  });

  it('gives every CA its own key', () => {
    expect(createPrivateKey(ca.keyPem).export({ format: 'jwk' })).not.toEqual(createPrivateKey(otherCa.keyPem).export({ format: 'jwk' }));
  });

  it('refuses a bad common name or validity with coded errors naming the option', async () => {
    await expect(createCertificateAuthority({ commonName: '' })).rejects.toMatchObject({ code: 'EDGE_ERR_PKI_INVALID_NAME', message: expect.stringContaining('commonName') });
    await expect(createCertificateAuthority({ commonName: 'x'.repeat(65) })).rejects.toMatchObject({ code: 'EDGE_ERR_PKI_INVALID_NAME' });
    await expect(createCertificateAuthority({ commonName: 'ca', days: 0 })).rejects.toMatchObject({ code: 'EDGE_ERR_PKI_OPTION', message: expect.stringContaining("'days'") });
    await expect(createCertificateAuthority({ commonName: 'ca', days: 1.5 })).rejects.toMatchObject({ code: 'EDGE_ERR_PKI_OPTION' });
  });
});

describe('issueCertificate', () => {
  it('issues a server certificate: SANs, serverAuth only, CA:false, signed by the CA, 365 days', async () => {
    const leaf = await issueCertificate(ca, { commonName: 'hub', dnsNames: ['localhost', 'Hub.Example.Test'], ipAddresses: ['127.0.0.1', '::1'], usage: 'server' });
    const info = certificateInfo(leaf.certPem);
    expect(info).toMatchObject({
      commonName: 'hub',
      dnsNames: ['localhost', 'hub.example.test'],
      ipAddresses: ['127.0.0.1', '::1'],
      isCA: false,
      issuer: 'CN=test-ca',
    });
    expect(daysFromNow(info.notAfter)).toBe(365);
    const node = new X509Certificate(leaf.certPem);
    expect(node.ca).toBe(false);
    expect(node.keyUsage).toEqual([SERVER_AUTH]);
    expect(node.subjectAltName).toBe('DNS:localhost, DNS:hub.example.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    const caNode = new X509Certificate(ca.certPem);
    expect(node.checkIssued(caNode)).toBe(true);
    expect(node.verify(caNode.publicKey)).toBe(true);
    expect(node.verify(new X509Certificate(otherCa.certPem).publicKey)).toBe(false);
    expect(node.checkPrivateKey(createPrivateKey(leaf.keyPem))).toBe(true);
    expect(leaf.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('sets extendedKeyUsage by usage', async () => {
    const usages = async (usage: 'server' | 'client' | 'server+client'): Promise<string[] | undefined> =>
      new X509Certificate((await issueCertificate(ca, { commonName: usage, usage })).certPem).keyUsage;
    expect(await usages('client')).toEqual([CLIENT_AUTH]);
    expect(await usages('server+client')).toEqual([SERVER_AUTH, CLIENT_AUTH]);
  });

  it('uses a random positive 16-byte serial number and a new key for every certificate', async () => {
    const certs = await Promise.all([1, 2, 3].map((i) => issueCertificate(ca, { commonName: `c${i}`, usage: 'client' })));
    const serials = certs.map((c) => new X509Certificate(c.certPem).serialNumber);
    for (const s of serials) {
      expect(s).toMatch(/^[0-9A-F]{32}$/);
      expect(parseInt(s.slice(0, 2), 16)).toBeLessThan(0x80);
    }
    expect(new Set(serials).size).toBe(3);
    expect(new Set(certs.map((c) => c.keyPem)).size).toBe(3);
  });

  it('puts the organization in the subject (O before CN) and leaves SANs empty when none are given', async () => {
    const leaf = await issueCertificate(ca, { commonName: 'system:node:edge-1', organization: 'system:nodes', usage: 'client', days: 30 });
    const info = certificateInfo(leaf.certPem);
    expect(info).toMatchObject({ commonName: 'system:node:edge-1', organization: 'system:nodes', dnsNames: [], ipAddresses: [], isCA: false });
    expect(daysFromNow(info.notAfter)).toBe(30);
    expect(new X509Certificate(leaf.certPem).subject).toBe('O=system:nodes\nCN=system:node:edge-1');
  });

  it('treats every spelling of an IP address as the same SAN and drops duplicates', async () => {
    const leaf = await issueCertificate(ca, {
      commonName: 'dup',
      dnsNames: ['LOCALHOST', 'localhost'],
      ipAddresses: ['::1', '0:0:0:0:0:0:0:1', '::ffff:10.0.0.1', '10.0.0.1', 'FE80::0:1'],
      usage: 'server',
    });
    const info = certificateInfo(leaf.certPem);
    expect(info.dnsNames).toEqual(['localhost']);
    expect(info.ipAddresses).toEqual(['::1', '::ffff:10.0.0.1', '10.0.0.1', 'fe80::1']);
  });

  it('never outlives its CA', async () => {
    const leaf = await issueCertificate(otherCa, { commonName: 'long', usage: 'client', days: 365 });
    expect(certificateInfo(leaf.certPem).notAfter.getTime()).toBe(certificateInfo(otherCa.certPem).notAfter.getTime());
  });

  it('refuses bad names with EDGE_ERR_PKI_INVALID_NAME naming the field and value', async () => {
    const cases: [Partial<Parameters<typeof issueCertificate>[1]>, string][] = [
      [{ dnsNames: ['bad host!'] }, "dnsNames[0] 'bad host!'"],
      [{ dnsNames: ['ok.example', 'under_score.example'] }, "dnsNames[1] 'under_score.example'"],
      [{ dnsNames: ['127.0.0.1'] }, "dnsNames[0] '127.0.0.1' is an IP address"],
      [{ dnsNames: ['https://hub.example'] }, "dnsNames[0] 'https://hub.example'"],
      [{ dnsNames: ['a'.repeat(64) + '.example'] }, 'dnsNames[0]'],
      [{ dnsNames: ['*'] }, "dnsNames[0] '*'"],
      [{ ipAddresses: ['999.1.1.1'] }, "ipAddresses[0] '999.1.1.1'"],
      [{ ipAddresses: ['localhost'] }, "ipAddresses[0] 'localhost' is not an IP address"],
      [{ ipAddresses: ['fe80::1%eth0'] }, "ipAddresses[0] 'fe80::1%eth0'"],
      [{ commonName: '' }, "commonName ''"],
      [{ organization: 'line\nbreak' }, 'organization'],
    ];
    for (const [patch, named] of cases) {
      const err = await issueCertificate(ca, { commonName: 'x', usage: 'server', ...patch }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(patch)).toMatchObject({ code: 'EDGE_ERR_PKI_INVALID_NAME', message: expect.stringContaining(named) });
    }
  });

  it('refuses bad options with EDGE_ERR_PKI_OPTION naming the option', async () => {
    const bad = (o: object): Promise<unknown> => issueCertificate(ca, { commonName: 'x', usage: 'server', ...o }).catch((e: unknown) => e);
    expect(await bad({ usage: 'peer' })).toMatchObject({ code: 'EDGE_ERR_PKI_OPTION', message: expect.stringContaining("'usage'") });
    expect(await bad({ days: -1 })).toMatchObject({ code: 'EDGE_ERR_PKI_OPTION', message: expect.stringContaining("'days'") });
    expect(await bad({ dnsNames: 'localhost' })).toMatchObject({ code: 'EDGE_ERR_PKI_OPTION', message: expect.stringContaining("'dnsNames'") });
  });

  it('refuses a CA pair that cannot sign, naming the argument', async () => {
    const leaf = await issueCertificate(ca, { commonName: 'leaf', usage: 'client' });
    const bad = (pair: KeyPairPem): Promise<unknown> => issueCertificate(pair, { commonName: 'x', usage: 'client' }).catch((e: unknown) => e);
    expect(await bad({ certPem: 'not a certificate', keyPem: ca.keyPem })).toMatchObject({ code: 'EDGE_ERR_PKI_INVALID', message: expect.stringContaining("'ca.certPem'") });
    const truncated = ca.certPem.replace(/\n[A-Za-z0-9+/=]+\n-----END/, '\n-----END');
    expect(await bad({ certPem: truncated, keyPem: ca.keyPem })).toMatchObject({ code: 'EDGE_ERR_PKI_INVALID', message: expect.stringContaining("'ca.certPem'") });
    expect(await bad({ certPem: ca.certPem, keyPem: 'garbage' })).toMatchObject({ code: 'EDGE_ERR_PKI_INVALID', message: expect.stringContaining("'ca.keyPem'") });
    expect(await bad({ certPem: ca.certPem, keyPem: otherCa.keyPem })).toMatchObject({ code: 'EDGE_ERR_PKI_INVALID', message: expect.stringContaining("'ca.keyPem'") });
    expect(await bad(leaf)).toMatchObject({ code: 'EDGE_ERR_PKI_INVALID', message: expect.stringContaining('not a CA') });
  });

  it('signs with a CA made by openssl (RSA, and P-384 in SEC1 form)', async () => {
    const dir = tempDir('pki-openssl');
    defer(() => rmSync(dir, { recursive: true, force: true }));
    const make = (name: string, keyArgs: string[]): KeyPairPem => {
      const keyFile = path.join(dir, `${name}.key`);
      const certFile = path.join(dir, `${name}.crt`);
      execFileSync('openssl', [...keyArgs, '-out', keyFile], { stdio: 'pipe' });
      execFileSync(
        'openssl',
        ['req', '-x509', '-new', '-key', keyFile, '-subj', `/CN=${name}`, '-days', '30', '-out', certFile,
          '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
        { stdio: 'pipe' },
      );
      return { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
    };
    const external = [
      make('rsa-ca', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']),
      make('p384-ca', ['ecparam', '-name', 'secp384r1', '-genkey', '-noout']),
    ];
    expect(external[1]?.keyPem).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
    for (const pair of external) {
      const leaf = await issueCertificate(pair, { commonName: 'hub', ipAddresses: ['127.0.0.1'], usage: 'server' });
      const caFile = path.join(dir, 'verify-ca.crt');
      const leafFile = path.join(dir, 'verify-leaf.crt');
      writeFileSync(caFile, pair.certPem);
      writeFileSync(leafFile, leaf.certPem);
      expect(execFileSync('openssl', ['verify', '-CAfile', caFile, '-purpose', 'sslserver', leafFile], { encoding: 'utf8' }).trim()).toBe(`${leafFile}: OK`);
    }
  });
});

describe('certificateInfo', () => {
  it('reports the fingerprint as node and openssl print it', async () => {
    const leaf = await issueCertificate(ca, { commonName: 'fp', usage: 'client' });
    const info = certificateInfo(leaf.certPem);
    expect(info.fingerprintSha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(info.fingerprintSha256).toBe(new X509Certificate(leaf.certPem).fingerprint256);
    expect(info.notBefore.getTime()).toBeLessThan(info.notAfter.getTime());
  });

  it('refuses what is not one certificate with EDGE_ERR_PKI_INVALID', () => {
    expect(() => certificateInfo('')).toThrow(expect.objectContaining({ code: 'EDGE_ERR_PKI_INVALID' }));
    expect(() => certificateInfo(ca.keyPem)).toThrow(expect.objectContaining({ code: 'EDGE_ERR_PKI_INVALID', message: expect.stringContaining("'certPem'") }));
    expect(() => certificateInfo('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')).toThrow(
      expect.objectContaining({ code: 'EDGE_ERR_PKI_INVALID' }),
    );
  });
});
