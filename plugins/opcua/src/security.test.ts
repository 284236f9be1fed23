/**
 * Security of the opcua plugin against a real node-opcua server on loopback,
 * each side with its own PKI in a temporary folder: the protocol block's
 * security fields, the client certificate, trusting a refused server
 * certificate, and every security mode and policy the plugin offers.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DataType, MessageSecurityMode, OPCUACertificateManager, OPCUAServer, SecurityPolicy, Variant } from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quiet, tempDir } from '../../../test/support/hub-fixture.ts';
import { deferCleanup } from '../../../test/support/cleanup.ts';
import { openClientPki, openTrustStore, parseSecurity, readCertificateInfo, userIdentity, type ClientPki, type OpcuaSecurity } from './security.ts';
import { EndpointPool, endpointKey, type EndpointOptions } from './session.ts';
import { freePort } from '../../../test/support/tcp-services.ts';

const defer = deferCleanup();

function pemToDer(pem: string): Buffer {
  return Buffer.from(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END/.exec(pem)![1]!.replace(/\s+/g, ''), 'base64');
}

interface TestServer {
  url: string;
  scm: OPCUACertificateManager;
  certificate: Buffer;
  /** Trusts a client certificate file, as an operator adds it to the server's trust list. */
  trustClient(certFile: string): Promise<void>;
  stop(): Promise<void>;
}

async function startServer(dir: string, port: number): Promise<TestServer> {
  const scm = new OPCUACertificateManager({ rootFolder: path.join(dir, 'pki'), automaticallyAcceptUnknownCertificate: false });
  await scm.initialize();
  const server = new OPCUAServer({
    port,
    hostname: '127.0.0.1',
    serverCertificateManager: scm,
    userCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(dir, 'user-pki') }),
    securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
    securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep],
    serverInfo: { applicationUri: `urn:test:${path.basename(dir)}` },
  });
  await server.initialize();
  const ns = server.engine.addressSpace!.getOwnNamespace();
  ns.addVariable({
    organizedBy: server.engine.addressSpace!.rootFolder.objects,
    browseName: 'Speed',
    nodeId: 's=Machine.Speed',
    dataType: 'Double',
    minimumSamplingInterval: 100,
    value: { get: () => new Variant({ dataType: DataType.Double, value: 42.5 }) },
  });
  await server.start();
  return {
    url: `opc.tcp://127.0.0.1:${port}`,
    scm,
    certificate: server.getCertificate(),
    trustClient: async (certFile) => scm.trustCertificate(pemToDer(readFileSync(certFile, 'utf8'))),
    stop: async () => {
      await server.shutdown(0);
      await scm.dispose();
    },
  };
}

describe('parseSecurity', () => {
  const issuesOf = (block: Record<string, unknown>): string[] => parseSecurity(block).issues.map((i) => `${i.path}: ${i.message}`);

  it('defaults to None/None and anonymous', () => {
    expect(parseSecurity({ Endpoint: 'opc.tcp://h:4840' })).toEqual({ security: { mode: 'None', policy: 'None' }, issues: [] });
  });

  it('reads mode and policy case-insensitively, keys and values, and policy URIs', () => {
    expect(parseSecurity({ SecurityMode: 'signandencrypt', SECURITYPOLICY: 'basic256sha256' }).security).toEqual({ mode: 'SignAndEncrypt', policy: 'Basic256Sha256' });
    expect(parseSecurity({ securityMode: 'Sign', securityPolicy: 'http://opcfoundation.org/UA/SecurityPolicy#Aes128_Sha256_RsaOaep' }).security).toEqual({
      mode: 'Sign',
      policy: 'Aes128_Sha256_RsaOaep',
    });
  });

  it('names the field of every bad value and combination', () => {
    expect(issuesOf({ securityMode: 'Encrypt' })).toEqual([expect.stringMatching(/^protocols\.opcua\.securityMode: securityMode 'Encrypt' is not one of None, Sign, SignAndEncrypt/)]);
    expect(issuesOf({ securityPolicy: 'Basic128Rsa15' })).toEqual([expect.stringMatching(/^protocols\.opcua\.securityPolicy: .*'Basic128Rsa15' is not one of/)]);
    expect(issuesOf({ securityPolicy: 'Basic256Sha256' })).toEqual([expect.stringMatching(/^protocols\.opcua\.securityPolicy: securityPolicy Basic256Sha256 needs securityMode Sign or SignAndEncrypt/)]);
    expect(issuesOf({ securityMode: 'Sign' })).toEqual([expect.stringMatching(/^protocols\.opcua\.securityPolicy: securityMode Sign needs a securityPolicy other than None/)]);
    expect(issuesOf({ securityMode: 'SignAndEncrypt', securityPolicy: 'None' })).toHaveLength(1);
    expect(issuesOf({ securityMode: 3 })).toEqual([expect.stringMatching(/^protocols\.opcua\.securityMode: securityMode must be a string/)]);
  });

  it('requires username and passwordFile together, an absolute passwordFile, and no password in the spec', () => {
    expect(issuesOf({ username: 'op' })).toEqual([expect.stringMatching(/^protocols\.opcua\.passwordFile: username 'op' needs passwordFile/)]);
    expect(issuesOf({ passwordFile: '/etc/pw' })).toEqual([expect.stringMatching(/^protocols\.opcua\.username: /)]);
    expect(issuesOf({ username: 'op', passwordFile: 'pw.txt' })).toEqual([expect.stringMatching(/^protocols\.opcua\.passwordFile: .*absolute path/)]);
    expect(issuesOf({ username: 'op', passwordFile: '/etc/pw', Password: 'x', securityMode: 'Sign', securityPolicy: 'Basic256Sha256' })).toEqual([
      expect.stringMatching(/^protocols\.opcua\.Password: a password never sits in a Device spec/),
    ]);
    expect(parseSecurity({ username: 'op', passwordFile: '/etc/pw', securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256' }, 'opc')).toEqual({
      security: { mode: 'SignAndEncrypt', policy: 'Basic256Sha256' },
      user: { username: 'op', passwordFile: '/etc/pw' },
      issues: [],
    });
  });

  it('sends a password only where the server certificate is checked, unless told otherwise', () => {
    expect(issuesOf({ username: 'op', passwordFile: '/etc/pw' })).toEqual([expect.stringMatching(/^protocols\.opcua\.securityMode: a password is sent only with securityMode Sign or SignAndEncrypt/)]);
    expect(parseSecurity({ username: 'op', passwordFile: '/etc/pw', allowPasswordWithoutSecurity: true })).toEqual({
      security: { mode: 'None', policy: 'None' },
      user: { username: 'op', passwordFile: '/etc/pw' },
      issues: [],
    });
  });
});

describe('userIdentity', () => {
  it('is anonymous without a user, else reads the password file at call time', async () => {
    expect(await userIdentity(undefined)).toEqual({ type: 0 });
    const dir = tempDir('opcua-pw');
    const file = path.join(dir, 'pw');
    writeFileSync(file, 's3cret\n');
    expect(await userIdentity({ username: 'op', passwordFile: file })).toEqual({ type: 1, userName: 'op', password: 's3cret' });
  });

  it('names protocols.<name>.passwordFile when the file is missing or empty', async () => {
    const dir = tempDir('opcua-pw');
    await expect(userIdentity({ username: 'op', passwordFile: path.join(dir, 'nope') })).rejects.toMatchObject({
      code: 'EDGE_ERR_OPCUA_PASSWORD_FILE',
      message: expect.stringMatching(/^protocols\.opcua\.passwordFile: cannot use password file '.*nope': no such file/),
    });
    writeFileSync(path.join(dir, 'empty'), '');
    await expect(userIdentity({ username: 'op', passwordFile: path.join(dir, 'empty') }, 'opc')).rejects.toMatchObject({
      code: 'EDGE_ERR_OPCUA_PASSWORD_FILE',
      message: expect.stringMatching(/^protocols\.opc\.passwordFile: .*the file is empty/),
    });
  });
});

describe('client PKI', () => {
  it('creates the client certificate once, with the site URI, and renews it only when expired', async () => {
    const dir = tempDir('opcua-pki');
    const pki = await openClientPki({ dir, applicationName: 'edgeadm', site: 'plant-a', logger: quiet });
    const first = await pki.certificate();
    expect(first.file).toBe(path.join(dir, 'pki', 'own', 'certs', 'client.pem'));
    expect(existsSync(path.join(dir, 'pki', 'own', 'private', 'private_key.pem'))).toBe(true);
    expect(first.applicationUri).toBe('urn:edgeadm:plant-a:opcua-client');
    expect(Date.parse(first.notAfter) - Date.now()).toBeGreaterThan(5 * 365 * 86_400_000);
    expect(pki.applicationUri).toBe(first.applicationUri);
    expect(pki.trustCommand('ab12')).toBe(`edgeadm opcua trust ab12 --pki-dir ${path.join(dir, 'pki')}`);
    // Expire it in place: the next open makes a new one.
    await pki.certificateManager.createSelfSignedCertificate({
      applicationUri: pki.applicationUri,
      subject: '/CN=old',
      dns: [],
      startDate: new Date(Date.now() - 10 * 86_400_000),
      validity: 1,
      outputFile: pki.certificateFile,
    });
    await pki.close();
    const reopened = await openClientPki({ dir, applicationName: 'edgeadm', site: 'plant-a', logger: quiet });
    defer(() => reopened.close());
    const renewed = await reopened.certificate();
    expect(renewed.thumbprint).not.toBe(first.thumbprint);
    expect(Date.parse(renewed.notAfter)).toBeGreaterThan(Date.now());
    // Unchanged when valid.
    await reopened.close();
    const again = await openClientPki({ dir, applicationName: 'edgeadm', site: 'plant-a', logger: quiet });
    defer(() => again.close());
    expect((await again.certificate()).thumbprint).toBe(renewed.thumbprint);
  });

  it('renews the certificate when the site (so the application URI) changes', async () => {
    const dir = tempDir('opcua-pki');
    const a = await openClientPki({ dir, applicationName: 'edgeadm', site: 'plant-a', logger: quiet });
    const before = await a.certificate();
    await a.close();
    const b = await openClientPki({ dir, applicationName: 'edgeadm', site: 'plant-b', logger: quiet });
    defer(() => b.close());
    const after = await b.certificate();
    expect(after.applicationUri).toBe('urn:edgeadm:plant-b:opcua-client');
    expect(after.thumbprint).not.toBe(before.thumbprint);
  });

  it('names the data dir in the trust command when the PKI sits in <data>/plugins/opcua', async () => {
    const data = tempDir('opcua-data');
    const pki = await openClientPki({ dir: path.join(data, 'plugins', 'opcua'), applicationName: 'edgeadm', site: 's1', logger: quiet });
    defer(() => pki.close());
    expect(pki.trustCommand('ab12')).toBe(`edgeadm opcua trust ab12 --data-dir ${data}`);
  });

  it('trust store: bad thumbprints and unknown certificates are coded errors', async () => {
    const store = openTrustStore(tempDir('opcua-store'));
    await expect(store.trust('zz-not-hex')).rejects.toMatchObject({ code: 'EDGE_ERR_OPCUA_CERT_INVALID' });
    await expect(store.trust('abcd')).rejects.toMatchObject({ code: 'EDGE_ERR_OPCUA_CERT_INVALID', message: expect.stringMatching(/at least 8/) });
    await expect(store.trust('0123456789abcdef')).rejects.toMatchObject({ code: 'EDGE_ERR_OPCUA_CERT_NOT_FOUND', message: expect.stringMatching(/edgeadm opcua certificates/) });
    await expect(store.untrust('0123456789abcdef')).rejects.toMatchObject({ code: 'EDGE_ERR_OPCUA_CERT_NOT_FOUND' });
    const notCert = path.join(tempDir('opcua-store'), 'x.pem');
    writeFileSync(notCert, 'hello');
    await expect(store.trust(notCert)).rejects.toMatchObject({ code: 'EDGE_ERR_OPCUA_CERT_INVALID', message: expect.stringMatching(/holds no X\.509 certificate/) });
  });
});

describe('security modes against a real server', () => {
  let server: TestServer;
  let pki: ClientPki;
  let pool: EndpointPool;

  beforeAll(async () => {
    const dir = tempDir('opcua-sec');
    server = await startServer(path.join(dir, 'server'), await freePort());
    pki = await openClientPki({ dir: path.join(dir, 'client'), applicationName: 'edgeadm', site: 'plant-a', logger: quiet });
    pool = new EndpointPool({ pki, logger: quiet });
  }, 30_000);

  afterAll(async () => {
    await pool?.close();
    await pki?.close();
    await server?.stop();
  });

  const opts = (security: OpcuaSecurity): EndpointOptions => ({ endpoint: server.url, security });
  const readSpeed = async (security: OpcuaSecurity): Promise<unknown> => {
    const o = opts(security);
    const h = await pool.acquire(endpointKey(o), o);
    try {
      return (await h.session.read({ nodeId: 'ns=1;s=Machine.Speed' })).value.value;
    } finally {
      await h.release();
    }
  };

  it('None needs no certificate trust', async () => {
    expect(await readSpeed({ mode: 'None', policy: 'None' })).toBe(42.5);
  });

  it('Sign + Basic256Sha256: refused until the server is trusted here and the client there', async () => {
    const o = opts({ mode: 'Sign', policy: 'Basic256Sha256' });
    const serverThumb = (await readCertificateInfoFromDer(server.certificate)).thumbprint;
    const err = await pool.acquire(endpointKey(o), o).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      code: 'EDGE_ERR_OPCUA_SECURITY',
      params: { thumbprint: serverThumb, command: `edgeadm opcua trust ${serverThumb} --pki-dir ${pki.pkiDir}` },
    });
    expect((err as Error).message).toContain(`trust it with: edgeadm opcua trust ${serverThumb}`);
    const store = pki.trustStore();
    expect((await store.rejected()).map((c) => c.thumbprint)).toEqual([serverThumb]);
    expect(await store.trusted()).toEqual([]);
    expect(pool.size).toBe(0);

    const trusted = await store.trust(serverThumb.slice(0, 12));
    expect(trusted).toMatchObject({ thumbprint: serverThumb, applicationUri: expect.stringMatching(/^urn:test:/) });
    expect(await store.rejected()).toEqual([]);

    // Now the server refuses this client's certificate: it is not in its trust list yet.
    await expect(pool.acquire(endpointKey(o), o)).rejects.toMatchObject({
      code: 'EDGE_ERR_OPCUA_SECURITY',
      message: expect.stringMatching(/the server refused this client \(BadSecurityChecksFailed\): it must trust this client's certificate .*client\.pem \(thumbprint [0-9a-f]{40}, application URI urn:edgeadm:plant-a:opcua-client\)/),
    });
    expect(readdirSync(path.join(server.scm.rootDir, 'rejected'))).toHaveLength(1);
    await server.trustClient(pki.certificateFile);
    expect(await readSpeed({ mode: 'Sign', policy: 'Basic256Sha256' })).toBe(42.5);
  }, 30_000);

  it.each([
    ['SignAndEncrypt', 'Basic256Sha256'],
    ['SignAndEncrypt', 'Aes128_Sha256_RsaOaep'],
    ['Sign', 'Aes128_Sha256_RsaOaep'],
  ] as const)('%s + %s connects once both sides trust each other', async (mode, policy) => {
    expect(await readSpeed({ mode, policy })).toBe(42.5);
  });

  it('untrusting the server certificate refuses the next connection again', async () => {
    const serverThumb = (await readCertificateInfoFromDer(server.certificate)).thumbprint;
    const store = pki.trustStore();
    await store.untrust(serverThumb);
    expect((await store.rejected()).map((c) => c.thumbprint)).toEqual([serverThumb]);
    const o = opts({ mode: 'SignAndEncrypt', policy: 'Basic256Sha256' });
    await expect(pool.acquire(endpointKey(o), o)).rejects.toMatchObject({ code: 'EDGE_ERR_OPCUA_SECURITY', params: { thumbprint: serverThumb } });
    await store.trust(serverThumb);
    expect(await readSpeed({ mode: 'SignAndEncrypt', policy: 'Basic256Sha256' })).toBe(42.5);
  }, 30_000);

  it('a server presenting another certificate than the trusted one is refused', async () => {
    const other = await startServer(tempDir('opcua-impostor'), await freePort());
    defer(() => other.stop());
    await other.trustClient(pki.certificateFile);
    const o: EndpointOptions = { endpoint: other.url, security: { mode: 'SignAndEncrypt', policy: 'Basic256Sha256' } };
    const otherThumb = (await readCertificateInfoFromDer(other.certificate)).thumbprint;
    await expect(pool.acquire(endpointKey(o), o)).rejects.toMatchObject({ code: 'EDGE_ERR_OPCUA_SECURITY', params: { thumbprint: otherThumb } });
    expect((await pki.trustStore().rejected()).map((c) => c.thumbprint)).toContain(otherThumb);
  }, 30_000);

});

function writeDer(dir: string, der: Buffer): string {
  const file = path.join(dir, 'server.der');
  writeFileSync(file, der);
  return file;
}

async function readCertificateInfoFromDer(der: Buffer): Promise<{ thumbprint: string }> {
  return readCertificateInfo(writeDer(tempDir('opcua-der'), der));
}
