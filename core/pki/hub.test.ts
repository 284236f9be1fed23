/** The hub's PKI folder on real files: creation, reuse, re-issue, refusal of corrupt or foreign files; openssl and HTTPS as outside judges. */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../kernel/index.ts';
import { deferCleanup } from '../../test/support/cleanup.ts';
import { quiet, tempDir } from '../../test/support/hub-fixture.ts';
import { certificateInfo, createCertificateAuthority, issueCertificate, loadOrCreateHubPki, type HubPki } from './index.ts';

const defer = deferCleanup();
const HOSTS = ['127.0.0.1', '::1', 'localhost'];

function pkiDir(): string {
  const base = tempDir('pki');
  defer(() => rmSync(base, { recursive: true, force: true }));
  return path.join(base, 'pki');
}

const mode = (file: string): number => statSync(file).mode & 0o777;
const read = (file: string): string => readFileSync(file, 'utf8');
const files = (dir: string): Record<'caCrt' | 'caKey' | 'hubCrt' | 'hubKey', string> => ({
  caCrt: path.join(dir, 'ca.crt'),
  caKey: path.join(dir, 'ca.key'),
  hubCrt: path.join(dir, 'hub.crt'),
  hubKey: path.join(dir, 'hub.key'),
});

async function failure(p: Promise<unknown>): Promise<Error & { code?: string }> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: Error & { code?: string }) => err,
  );
}

describe('loadOrCreateHubPki', () => {
  it('creates the CA and the hub certificate on first call, keys 0600 in a 0700 directory', async () => {
    const dir = pkiDir();
    const f = files(dir);
    const pki = await loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet });
    expect([...pki.created].sort()).toEqual([f.caCrt, f.caKey, f.hubCrt, f.hubKey]);
    expect(pki).toMatchObject({ dir, caFile: f.caCrt, certFile: f.hubCrt, keyFile: f.hubKey });
    expect(mode(dir)).toBe(0o700);
    expect(mode(f.caKey)).toBe(0o600);
    expect(mode(f.hubKey)).toBe(0o600);
    expect(read(f.caCrt)).toBe(pki.ca.certPem);
    expect(read(f.caKey)).toBe(pki.ca.keyPem);
    expect(read(f.hubCrt)).toBe(pki.server.certPem);
    expect(read(f.hubKey)).toBe(pki.server.keyPem);

    const ca = certificateInfo(pki.ca.certPem);
    expect(ca.isCA).toBe(true);
    expect(ca.commonName).toMatch(/^edgeadm-ca@\d+$/);
    const hub = certificateInfo(pki.server.certPem);
    expect(hub).toMatchObject({ commonName: 'edgeadm-hub', isCA: false, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'], issuer: `CN=${ca.commonName}` });
    expect(new X509Certificate(pki.server.certPem).verify(new X509Certificate(pki.ca.certPem).publicKey)).toBe(true);
  });

  it('creates nothing on the second call and returns identical PEMs', async () => {
    const dir = pkiDir();
    const first = await loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet });
    // Same hosts in another spelling and order are the same hosts.
    const second = await loadOrCreateHubPki(dir, { hosts: ['LOCALHOST', '0:0:0:0:0:0:0:1', '127.0.0.1'], logger: quiet });
    expect(second.created).toEqual([]);
    expect(second.ca).toEqual(first.ca);
    expect(second.server).toEqual(first.server);
  });

  it('re-issues hub.crt only, for the same key, when a host is added', async () => {
    const dir = pkiDir();
    const f = files(dir);
    const first = await loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet });
    const second = await loadOrCreateHubPki(dir, { hosts: [...HOSTS, 'hub.example.test', '10.1.2.3'], logger: quiet });
    expect(second.created).toEqual([f.hubCrt]);
    expect(second.ca).toEqual(first.ca);
    expect(second.server.keyPem).toBe(first.server.keyPem);
    expect(second.server.certPem).not.toBe(first.server.certPem);
    expect(read(f.hubCrt)).toBe(second.server.certPem);
    const info = certificateInfo(second.server.certPem);
    expect(info.dnsNames).toEqual(['localhost', 'hub.example.test']);
    expect(info.ipAddresses).toEqual(['127.0.0.1', '::1', '10.1.2.3']);
    expect((await loadOrCreateHubPki(dir, { hosts: [...HOSTS, 'hub.example.test', '10.1.2.3'], logger: quiet })).created).toEqual([]);
  });

  it('re-issues hub.crt when it expires within 30 days', async () => {
    const dir = pkiDir();
    const f = files(dir);
    const first = await loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet });
    const short = await issueCertificate(first.ca, { commonName: 'edgeadm-hub', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'], usage: 'server', days: 20 });
    writeFileSync(f.hubCrt, short.certPem);
    writeFileSync(f.hubKey, short.keyPem, { mode: 0o600 });
    const renewed = await loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet });
    expect(renewed.created).toEqual([f.hubCrt]);
    expect(renewed.server.keyPem).toBe(short.keyPem);
    expect(certificateInfo(renewed.server.certPem).notAfter.getTime()).toBeGreaterThan(certificateInfo(short.certPem).notAfter.getTime() + 300 * 86_400_000);
  });

  it('issues a new hub certificate when hub.crt or hub.key is missing, keeping the CA', async () => {
    const dir = pkiDir();
    const f = files(dir);
    const first = await loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet });
    unlinkSync(f.hubCrt);
    const noCert = await loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet });
    expect(noCert.created).toEqual([f.hubCrt]);
    expect(noCert.server.keyPem).toBe(first.server.keyPem);
    unlinkSync(f.hubKey);
    const noKey = await loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet });
    expect([...noKey.created].sort()).toEqual([f.hubCrt, f.hubKey]);
    expect(noKey.server.keyPem).not.toBe(first.server.keyPem);
    expect(noKey.ca).toEqual(first.ca);
  });

  it('refuses a corrupt ca.crt with a coded error naming the file, and leaves it as it was', async () => {
    const dir = pkiDir();
    const f = files(dir);
    await loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet });
    const corrupt = read(f.caCrt).replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!corrupted!!!!!!!');
    writeFileSync(f.caCrt, corrupt);
    const err = await failure(loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet }));
    expect(err).toMatchObject({ code: 'EDGE_ERR_PKI_INVALID', message: expect.stringContaining(f.caCrt) });
    expect(read(f.caCrt)).toBe(corrupt);
    writeFileSync(f.caCrt, '');
    expect(await failure(loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet }))).toMatchObject({ code: 'EDGE_ERR_PKI_INVALID', message: expect.stringContaining(f.caCrt) });
    expect(read(f.caCrt)).toBe('');
  });

  it('refuses a ca.crt that cannot be read, naming it', async () => {
    const dir = pkiDir();
    const f = files(dir);
    mkdirSync(f.caCrt, { recursive: true });
    expect(await failure(loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet }))).toMatchObject({
      code: 'EDGE_ERR_PKI_INVALID',
      message: expect.stringContaining(`'${f.caCrt}' cannot be read`),
    });
    expect(existsSync(f.caKey)).toBe(false);
  });

  it('refuses a corrupt or foreign ca.key, and half a CA pair, without writing anything', async () => {
    const dir = pkiDir();
    const f = files(dir);
    const first = await loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet });
    const foreign = await createCertificateAuthority({ commonName: 'foreign' });

    writeFileSync(f.caKey, 'not a key\n', { mode: 0o600 });
    expect(await failure(loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet }))).toMatchObject({ code: 'EDGE_ERR_PKI_INVALID', message: expect.stringContaining(f.caKey) });
    writeFileSync(f.caKey, foreign.keyPem, { mode: 0o600 });
    expect(await failure(loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet }))).toMatchObject({ code: 'EDGE_ERR_PKI_INVALID', message: expect.stringContaining(f.caKey) });

    unlinkSync(f.caKey);
    const half = await failure(loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet }));
    expect(half).toMatchObject({ code: 'EDGE_ERR_PKI_INVALID', message: expect.stringContaining(f.caKey) });
    expect(existsSync(f.caKey)).toBe(false);
    expect(read(f.caCrt)).toBe(first.ca.certPem);
    expect(read(f.hubCrt)).toBe(first.server.certPem);

    writeFileSync(f.caKey, first.ca.keyPem, { mode: 0o600 });
    unlinkSync(f.caCrt);
    expect(await failure(loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet }))).toMatchObject({ code: 'EDGE_ERR_PKI_INVALID', message: expect.stringContaining(f.caCrt) });
    expect(existsSync(f.caCrt)).toBe(false);
  });

  it('refuses a hub.crt not signed by the CA on disk, a corrupt hub.key and a hub.key of another certificate', async () => {
    const dir = pkiDir();
    const f = files(dir);
    const first = await loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet });
    const foreignCa = await createCertificateAuthority({ commonName: 'foreign' });
    const foreign = await issueCertificate(foreignCa, { commonName: 'edgeadm-hub', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'], usage: 'server' });

    writeFileSync(f.hubCrt, foreign.certPem);
    writeFileSync(f.hubKey, foreign.keyPem, { mode: 0o600 });
    const notOurs = await failure(loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet }));
    expect(notOurs).toMatchObject({ code: 'EDGE_ERR_PKI_INVALID', message: expect.stringContaining(f.hubCrt) });
    expect(notOurs.message).toContain('not signed by the CA');
    expect(read(f.hubCrt)).toBe(foreign.certPem);

    writeFileSync(f.hubCrt, first.server.certPem);
    writeFileSync(f.hubKey, 'garbage', { mode: 0o600 });
    expect(await failure(loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet }))).toMatchObject({ code: 'EDGE_ERR_PKI_INVALID', message: expect.stringContaining(f.hubKey) });

    writeFileSync(f.hubKey, foreign.keyPem, { mode: 0o600 });
    expect(await failure(loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet }))).toMatchObject({ code: 'EDGE_ERR_PKI_INVALID', message: expect.stringContaining(f.hubKey) });
  });

  it('refuses bad hosts before touching the disk', async () => {
    const dir = pkiDir();
    expect(await failure(loadOrCreateHubPki(dir, { hosts: ['localhost', 'not a host'], logger: quiet }))).toMatchObject({
      code: 'EDGE_ERR_PKI_INVALID_NAME',
      message: expect.stringContaining("hosts[1] 'not a host'"),
    });
    expect(await failure(loadOrCreateHubPki(dir, { hosts: ['300.0.0.1'], logger: quiet }))).toMatchObject({ code: 'EDGE_ERR_PKI_INVALID_NAME', message: expect.stringContaining('hosts[0]') });
    expect(await failure(loadOrCreateHubPki(dir, { hosts: [], logger: quiet }))).toMatchObject({ code: 'EDGE_ERR_PKI_OPTION', message: expect.stringContaining("'hosts'") });
    expect(existsSync(dir)).toBe(false);
  });

  it('tightens the modes of an existing directory and key files', async () => {
    const dir = pkiDir();
    const f = files(dir);
    await loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet });
    chmodSync(dir, 0o755);
    chmodSync(f.caKey, 0o644);
    chmodSync(f.hubKey, 0o640);
    expect((await loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet })).created).toEqual([]);
    expect(mode(dir)).toBe(0o700);
    expect(mode(f.caKey)).toBe(0o600);
    expect(mode(f.hubKey)).toBe(0o600);
  });

  it('logs what it wrote and never a key', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
    const dir = pkiDir();
    await loadOrCreateHubPki(dir, { hosts: HOSTS, logger });
    await loadOrCreateHubPki(dir, { hosts: [...HOSTS, 'hub.example.test'], logger });
    const records = lines.map((l) => JSON.parse(l) as { msg: string; component?: string; reason?: string });
    expect(records.map((r) => r.msg)).toEqual(expect.arrayContaining(['certificate authority created', 'hub certificate issued']));
    expect(records.every((r) => r.component === 'pki')).toBe(true);
    expect(records.find((r) => r.msg === 'hub certificate issued' && r.reason?.includes('hub.example.test'))).toBeDefined();
    expect(lines.join('')).not.toMatch(/PRIVATE KEY|BEGIN/);
  });

  it('writes certificates openssl reads and verifies: extensions, SANs, chain', async () => {
    const dir = pkiDir();
    const f = files(dir);
    await loadOrCreateHubPki(dir, { hosts: HOSTS, logger: quiet });
    const openssl = (...args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

    const caText = openssl('x509', '-noout', '-text', '-in', f.caCrt);
    expect(caText).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
    expect(caText).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(caText).toContain('X509v3 Subject Key Identifier');
    expect(caText).toContain('NIST CURVE: P-256');
    expect(caText).toContain('ecdsa-with-SHA256');

    const hubText = openssl('x509', '-noout', '-text', '-in', f.hubCrt);
    expect(hubText).toMatch(/X509v3 Subject Alternative Name:\s+IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:localhost\n/);
    expect(hubText).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(hubText).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Server Authentication\n/);
    expect(hubText).toContain('X509v3 Authority Key Identifier');
    const caSki = /X509v3 Subject Key Identifier:\s+([0-9A-F:]+)/.exec(caText)?.[1];
    expect(caSki).toBeDefined();
    expect(hubText).toContain(caSki);

    expect(openssl('verify', '-CAfile', f.caCrt, '-purpose', 'sslserver', f.hubCrt).trim()).toBe(`${f.hubCrt}: OK`);
    expect(() => openssl('verify', '-CAfile', f.caCrt, '-purpose', 'sslclient', f.hubCrt)).toThrow();
    expect(openssl('pkey', '-in', f.hubKey, '-noout')).toBe('');
  });

  it('serves HTTPS that a client trusting only ca.crt accepts', async () => {
    const pki: HubPki = await loadOrCreateHubPki(pkiDir(), { hosts: HOSTS, logger: quiet });
    const server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (_req, res) => res.end('hub'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    defer(() => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    });
    const { port } = server.address() as AddressInfo;
    const get = (url: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const req = request(url, { ca: read(pki.caFile), agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve(`${res.statusCode} ${body}`));
        });
        req.on('error', reject);
        req.end();
      });
    expect(await get(`https://127.0.0.1:${port}/`)).toBe('200 hub');
    expect(await get(`https://localhost:${port}/`)).toBe('200 hub');
  });
});
