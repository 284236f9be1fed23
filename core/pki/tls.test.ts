/** Issued certificates in real TLS: node:tls servers and clients on loopback, server auth and mutual TLS. */
import { createServer, connect, type ConnectionOptions, type TLSSocket, type TlsOptions } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { deferCleanup } from '../../test/support/cleanup.ts';
import { createCertificateAuthority, issueCertificate, type KeyPairPem } from './index.ts';

const defer = deferCleanup();

interface TlsService {
  port: number;
  /** Connections that completed the handshake: the client certificate's CN and node's verdict on it. */
  peers: { cn: string | undefined; authorized: boolean; authorizationError: string | undefined }[];
  /** Handshakes the server dropped (refused clients). */
  clientErrors: (Error & { code?: string })[];
}

async function serve(opts: TlsOptions, host = '127.0.0.1'): Promise<TlsService> {
  const sockets = new Set<TLSSocket>();
  const svc: TlsService = { port: 0, peers: [], clientErrors: [] };
  const server = createServer(opts, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    const subjectCn: string | string[] | undefined = opts.requestCert === true ? s.getPeerCertificate().subject?.CN : undefined;
    const cn = Array.isArray(subjectCn) ? subjectCn.join('+') : subjectCn;
    const authorizationError = s.authorizationError == null ? undefined : String(s.authorizationError);
    svc.peers.push({ cn, authorized: s.authorized, authorizationError });
    s.end(s.authorized || opts.requestCert !== true ? `hello ${cn ?? 'anonymous'}` : '');
  });
  server.on('tlsClientError', (err) => svc.clientErrors.push(err));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  svc.port = (server.address() as AddressInfo).port;
  defer(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return svc;
}

/** Connects, reads until the server ends, and resolves with what it said; rejects with the TLS error. */
function talk(o: ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(o);
    let data = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (data += d));
    s.on('end', () => resolve(data));
    s.on('error', (err: Error) => {
      s.destroy();
      reject(err);
    });
    s.on('close', () => resolve(data));
  });
}

let ca: KeyPairPem;
let otherCa: KeyPairPem;
let server: KeyPairPem;

beforeAll(async () => {
  [ca, otherCa] = await Promise.all([createCertificateAuthority({ commonName: 'test-ca' }), createCertificateAuthority({ commonName: 'other-ca' })]);
  server = await issueCertificate(ca, { commonName: 'hub', dnsNames: ['localhost', 'hub.example.test'], ipAddresses: ['127.0.0.1', '::1'], usage: 'server' });
});

describe('server certificates', () => {
  it('are accepted by a client that trusts only the CA, by SAN IP address (v4 and v6) and by SAN DNS name', async () => {
    const v4 = await serve({ cert: server.certPem, key: server.keyPem });
    expect(await talk({ host: '127.0.0.1', port: v4.port, ca: ca.certPem })).toBe('hello anonymous');
    expect(await talk({ host: '127.0.0.1', port: v4.port, ca: ca.certPem, servername: 'localhost' })).toBe('hello anonymous');
    expect(await talk({ host: '127.0.0.1', port: v4.port, ca: ca.certPem, servername: 'HUB.example.test' })).toBe('hello anonymous');
    const v6 = await serve({ cert: server.certPem, key: server.keyPem }, '::1');
    expect(await talk({ host: '::1', port: v6.port, ca: ca.certPem })).toBe('hello anonymous');
  });

  it('are refused by a client that trusts another CA', async () => {
    const svc = await serve({ cert: server.certPem, key: server.keyPem });
    await expect(talk({ host: '127.0.0.1', port: svc.port, ca: otherCa.certPem })).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  it('are refused for a name or address not in their SANs', async () => {
    const svc = await serve({ cert: server.certPem, key: server.keyPem });
    await expect(talk({ host: '127.0.0.1', port: svc.port, ca: ca.certPem, servername: 'evil.example.test' })).rejects.toMatchObject({
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
    const onOtherIp = await serve({ cert: server.certPem, key: server.keyPem }, '127.0.0.2');
    await expect(talk({ host: '127.0.0.2', port: onOtherIp.port, ca: ca.certPem })).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });

  it('of usage client cannot serve TLS', async () => {
    const clientOnly = await issueCertificate(ca, { commonName: 'not-a-server', dnsNames: ['localhost'], usage: 'client' });
    const svc = await serve({ cert: clientOnly.certPem, key: clientOnly.keyPem });
    await expect(talk({ host: '127.0.0.1', port: svc.port, ca: ca.certPem, servername: 'localhost' })).rejects.toMatchObject({
      code: 'INVALID_PURPOSE',
    });
  });
});

describe('mutual TLS', () => {
  const mtls = (): TlsOptions => ({ cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true });

  it('accepts a client certificate issued by the CA, and the server sees its CN', async () => {
    const client = await issueCertificate(ca, { commonName: 'system:kube-apiserver', organization: 'edgeadm:egress', usage: 'client' });
    const svc = await serve(mtls());
    const reply = await talk({ host: '127.0.0.1', port: svc.port, ca: ca.certPem, cert: client.certPem, key: client.keyPem });
    expect(reply).toBe('hello system:kube-apiserver');
    expect(svc.peers).toEqual([{ cn: 'system:kube-apiserver', authorized: true, authorizationError: undefined }]);
  });

  it('accepts a server+client certificate on both ends', async () => {
    const both = await issueCertificate(ca, { commonName: 'node-1', ipAddresses: ['127.0.0.1'], usage: 'server+client' });
    const svc = await serve({ ...mtls(), cert: both.certPem, key: both.keyPem });
    expect(await talk({ host: '127.0.0.1', port: svc.port, ca: ca.certPem, cert: both.certPem, key: both.keyPem })).toBe('hello node-1');
  });

  /** Connects and reports either the server's greeting or the client's TLS error code. */
  const attempt = (o: ConnectionOptions): Promise<{ reply: string } | { code: string | undefined }> =>
    talk(o).then(
      (reply) => ({ reply }),
      (err: Error & { code?: string }) => ({ code: err.code }),
    );

  it('refuses a client certificate from another CA, and says why when asked', async () => {
    const stranger = await issueCertificate(otherCa, { commonName: 'intruder', usage: 'client' });
    const svc = await serve(mtls());
    // Node's server drops the connection after the TLS 1.3 handshake: the client sees it closed before any byte.
    expect(await attempt({ host: '127.0.0.1', port: svc.port, ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem })).toEqual({ reply: '' });
    expect(svc.peers).toEqual([]);
    expect(svc.clientErrors).toHaveLength(1);
    // The same server with rejectUnauthorized off lets the application see the verdict.
    const lenient = await serve({ ...mtls(), rejectUnauthorized: false });
    await attempt({ host: '127.0.0.1', port: lenient.port, ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem });
    expect(lenient.peers).toEqual([{ cn: 'intruder', authorized: false, authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }]);
  });

  it('refuses a client without a certificate and a client presenting a server-only certificate', async () => {
    const svc = await serve(mtls());
    expect(await attempt({ host: '127.0.0.1', port: svc.port, ca: ca.certPem })).toEqual({ code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
    expect(await attempt({ host: '127.0.0.1', port: svc.port, ca: ca.certPem, cert: server.certPem, key: server.keyPem })).toEqual({ reply: '' });
    expect(svc.peers).toEqual([]);
    expect(svc.clientErrors).toHaveLength(2);
    const lenient = await serve({ ...mtls(), rejectUnauthorized: false });
    await attempt({ host: '127.0.0.1', port: lenient.port, ca: ca.certPem, cert: server.certPem, key: server.keyPem });
    expect(lenient.peers).toEqual([{ cn: 'hub', authorized: false, authorizationError: 'INVALID_PURPOSE' }]);
  });
});
