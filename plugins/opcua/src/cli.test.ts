/**
 * `edgeadm opcua …` as an operator uses it, through the real `edgeadm`
 * binary (the commands come from this plugin's tools module): a site agent's
 * OPC UA client is refused by a real server whose certificate it does not
 * trust, the error names the command to run, the operator runs it, and the
 * client connects.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MessageSecurityMode, OPCUACertificateManager, OPCUAServer, SecurityPolicy } from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEdgeadm } from '../../../test/support/edgeadm-cli.ts';
import { quiet, tempDir, waitFor } from '../../../test/support/hub-fixture.ts';
import { freePort } from '../../../test/support/tcp-services.ts';
import { openClientPki, type ClientPki } from './security.ts';
import { EndpointPool, endpointKey, type EndpointOptions } from './session.ts';
import { ErrOpcuaSecurity } from './errors.ts';

/** Runs `edgeadm opcua <args>`; resolves to stdout, rejects with the exit code and standard error. */
async function edgeadm(args: string[]): Promise<string> {
  const r = await runEdgeadm(['opcua', ...args]);
  if (r.code !== 0) throw Object.assign(new Error(r.stderr.trim()), { exitCode: r.code });
  return r.stdout;
}

let server: OPCUAServer;
let scm: OPCUACertificateManager;
let pki: ClientPki;
let pool: EndpointPool;
let dataDir: string;
let opts: EndpointOptions;

beforeAll(async () => {
  const root = tempDir('opcua-cli');
  dataDir = path.join(root, 'site');
  scm = new OPCUACertificateManager({ rootFolder: path.join(root, 'server-pki'), automaticallyAcceptUnknownCertificate: false });
  await scm.initialize();
  const port = await freePort();
  server = new OPCUAServer({
    port,
    hostname: '127.0.0.1',
    serverCertificateManager: scm,
    userCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(root, 'user-pki') }),
    securityModes: [MessageSecurityMode.SignAndEncrypt],
    securityPolicies: [SecurityPolicy.Basic256Sha256],
  });
  await server.initialize();
  await server.start();
  pki = await openClientPki({ dir: path.join(dataDir, 'plugins', 'opcua'), applicationName: 'edgeadm', site: 'plant-a', logger: quiet });
  pool = new EndpointPool({ pki, logger: quiet });
  opts = { endpoint: `opc.tcp://127.0.0.1:${port}`, security: { mode: 'SignAndEncrypt', policy: 'Basic256Sha256' } };
  // The server trusts this client, as its operator would set it up.
  const pem = readFileSync(pki.certificateFile, 'utf8');
  await scm.trustCertificate(Buffer.from(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END/.exec(pem)![1]!.replace(/\s+/g, ''), 'base64'));
}, 30_000);

afterAll(async () => {
  await pool?.close();
  await pki?.close();
  await server?.shutdown(0);
  await scm?.dispose();
});

describe('edgeadm opcua', () => {
  it('is listed by edgeadm --help, with examples', async () => {
    const help = await runEdgeadm(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^ {2}opcua\b.*OPC UA/m);
    const group = await runEdgeadm(['opcua', '--help']);
    expect(group.stdout).toMatch(/certificates[\s\S]*trust[\s\S]*untrust/);
    expect(group.stdout).toMatch(/Examples:\n {2}edgeadm opcua /);
  }, 30_000);

  it('lists, trusts and untrusts the server certificate named in the refusal', async () => {
    const err = await pool.acquire(endpointKey(opts), opts).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(ErrOpcuaSecurity.is(err)).toBe(true);
    const { thumbprint, command } = (err as InstanceType<typeof ErrOpcuaSecurity>).params;
    expect(command).toBe(`edgeadm opcua trust ${thumbprint} --data-dir ${dataDir}`);

    const listed = JSON.parse(await edgeadm(['certificates', '--data-dir', dataDir, '-o', 'json'])) as { status: string; thumbprint: string; applicationUri?: string }[];
    expect(listed).toEqual([expect.objectContaining({ status: 'rejected', thumbprint, applicationUri: expect.stringMatching(/^urn:/) })]);
    expect(await edgeadm(['certificates', '--data-dir', dataDir])).toMatch(new RegExp(`^STATUS\\s+THUMBPRINT\\s+SUBJECT\\s+APPLICATION URI\\s+NOT AFTER\\nrejected\\s+${thumbprint}`));

    // The command from the error, as the operator pastes it.
    expect(await edgeadm(command!.split(' ').slice(2))).toMatch(new RegExp(`^trusted ${thumbprint} `));
    expect(JSON.parse(await edgeadm(['certificates', '--data-dir', dataDir, '-o', 'json']))).toEqual([expect.objectContaining({ status: 'trusted', thumbprint })]);
    // The running client's store follows the folder change.
    const h = await waitFor('connect after trust', () => pool.acquire(endpointKey(opts), opts), 20_000, 250);
    expect((await h.session.read({ nodeId: 'i=2258' })).statusCode.name).toBe('Good');
    await h.release();

    expect(await edgeadm(['untrust', thumbprint!.slice(0, 10), '--data-dir', dataDir])).toMatch(new RegExp(`^untrusted ${thumbprint} `));
    expect(await edgeadm(['certificates', '--data-dir', dataDir, '-o', 'yaml'])).toMatch(new RegExp(`^- thumbprint: ${thumbprint}\n[\\s\\S]*status: rejected`));
  }, 90_000);

  it('names the bad argument (usage errors, exit 2) and the missing certificate (other errors, exit 1)', async () => {
    await expect(edgeadm(['trust', 'not-a-thumbprint', '--data-dir', dataDir])).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/^error: <thumbprint\|file>: /) });
    await expect(edgeadm(['untrust', 'xyz', '--data-dir', dataDir])).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/^error: <thumbprint>: /) });
    await expect(edgeadm(['trust', '0123456789abcdef', '--data-dir', path.join(dataDir, 'nope')])).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/^error: --data-dir: .* does not exist/),
    });
    await expect(edgeadm(['trust', '0123456789abcdef', '--data-dir', dataDir])).rejects.toMatchObject({ exitCode: 1, message: expect.stringContaining('[EDGE_ERR_OPCUA_CERT_NOT_FOUND]') });
    await expect(edgeadm(['trust', path.join(dataDir, 'missing.der'), '--data-dir', dataDir])).rejects.toMatchObject({
      exitCode: 1,
      message: expect.stringMatching(/\[EDGE_ERR_OPCUA_CERT_INVALID\].*no such file/),
    });
    expect(await edgeadm(['certificates', '--pki-dir', path.join(dataDir, 'empty')])).toMatch(/^no server certificates in /);
  }, 60_000);
});
