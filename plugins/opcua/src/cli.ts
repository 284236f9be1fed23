/**
 * What the opcua plugin adds to `edgeadm` (its manifest's `"tools"`; see
 * core/sdk/tools.ts). Loaded at every CLI start, so it only declares: the
 * trust store and the driver are imported when a command runs.
 *
 * - `edgeadm opcua certificates|trust|untrust`: the OPC UA client PKI of a
 *   site agent. A server certificate the agent has not been told to trust is
 *   refused and kept in `<data-dir>/plugins/opcua/pki/rejected`; `trust`
 *   moves it to `trusted/` (a running agent picks the change up), `untrust`
 *   moves it back. Works on the folders alone: no hub, no running agent.
 * - `edgeadm device discover --plugin opcua <endpoint>`: browses a server
 *   through the driver's `discover`, with the client PKI in
 *   `<data-dir>/plugins/opcua/pki` of the machine it runs on.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { definePluginTools, type CliCommand, type CliKit } from '../../../core/sdk/index.ts';
import type { CertInfo, TrustStore } from './security.ts';

interface PkiOpts {
  dataDir: string;
  pkiDir?: string;
}

/** The client PKI folder: --pki-dir, else <data-dir>/plugins/opcua/pki. */
function pkiDirOf(o: PkiOpts, kit: CliKit): string {
  if (o.pkiDir !== undefined) {
    if (o.pkiDir === '') throw kit.usageError('--pki-dir', 'is empty');
    return path.resolve(o.pkiDir);
  }
  if (o.dataDir === '') throw kit.usageError('--data-dir', 'is empty');
  return path.resolve(o.dataDir, 'plugins', 'opcua', 'pki');
}

async function storeOf(o: PkiOpts, mustExist: boolean, kit: CliKit): Promise<TrustStore> {
  const dir = pkiDirOf(o, kit);
  if (mustExist && !existsSync(dir)) {
    throw kit.usageError(o.pkiDir !== undefined ? '--pki-dir' : '--data-dir', `${dir} does not exist: no site agent with the opcua plugin has run with this data dir`);
  }
  const { openTrustStore } = await import('./security.ts');
  return openTrustStore(dir);
}

function withPkiOptions(cmd: CliCommand): CliCommand {
  return cmd
    .option('--data-dir <dir>', "the site agent's data dir (as given to `edgeadm site run`)", '.data/site')
    .option('--pki-dir <dir>', 'the OPC UA client PKI folder itself (default <data-dir>/plugins/opcua/pki)');
}

const THUMB = /^[0-9a-fA-F:]{8,59}$/;

function registerCertificateCommands(program: CliCommand, kit: CliKit): void {
  const group = program.command('opcua').description("OPC UA: the site agent's client certificates and the server certificates it trusts");
  kit.examples(group, [
    'edgeadm opcua certificates --data-dir /var/lib/edgeadm/site',
    'edgeadm opcua trust 1d429ed5a3e6a26744a25d4b542a9a051a83a095 --data-dir /var/lib/edgeadm/site',
    'edgeadm opcua trust ./plc-server.der --data-dir /var/lib/edgeadm/site',
  ]);

  const list = withPkiOptions(group.command('certificates').description('List server certificates: refused ones waiting for a decision, and trusted ones')).action(
    async (o: PkiOpts, cmd: CliCommand) => {
      const ctx = kit.context(cmd);
      const store = await storeOf(o, false, kit);
      const rows: (CertInfo & { status: 'rejected' | 'trusted' })[] = [
        ...(await store.rejected()).map((c) => ({ ...c, status: 'rejected' as const })),
        ...(await store.trusted()).map((c) => ({ ...c, status: 'trusted' as const })),
      ];
      kit.emit(ctx.output, rows, () =>
        rows.length === 0
          ? `no server certificates in ${store.pkiDir}\n`
          : kit.renderTable(rows, [
              { header: 'status', value: (c) => c.status },
              { header: 'thumbprint', value: (c) => c.thumbprint },
              { header: 'subject', value: (c) => c.subject },
              { header: 'application uri', value: (c) => c.applicationUri ?? '' },
              { header: 'not after', value: (c) => c.notAfter },
            ]),
      );
    },
  );
  kit.examples(list, ['edgeadm opcua certificates', 'edgeadm opcua certificates --data-dir /var/lib/edgeadm/site -o json']);

  const trust = withPkiOptions(
    group
      .command('trust')
      .description('Trust a server certificate: a refused one by thumbprint (or a unique prefix of 8+ digits), or a certificate file (.der, .pem)')
      .argument('<thumbprint|file>', 'SHA-1 thumbprint from `edgeadm opcua certificates`, or a certificate file'),
  ).action(async (arg: string, o: PkiOpts, cmd: CliCommand) => {
    const ctx = kit.context(cmd);
    const isFile = existsSync(arg) || /\.(der|pem|crt|cer)$/i.test(arg) || arg.includes('/');
    if (!isFile && !THUMB.test(arg)) throw kit.usageError('<thumbprint|file>', `'${arg}' is neither a certificate file nor a SHA-1 thumbprint (8 to 40 hex digits)`);
    const info = await (await storeOf(o, !isFile, kit)).trust(arg);
    if (ctx.output === 'table') ctx.out.write(`trusted ${info.thumbprint} (${info.subject}${info.applicationUri ? `, ${info.applicationUri}` : ''})\n`);
    else kit.emit(ctx.output, info, () => '');
  });
  kit.examples(trust, ['edgeadm opcua trust 1d429ed5a3e6 --data-dir /var/lib/edgeadm/site', 'edgeadm opcua trust plc.der']);

  const untrust = withPkiOptions(
    group
      .command('untrust')
      .description('Stop trusting a server certificate (it moves back to the refused ones)')
      .argument('<thumbprint>', 'SHA-1 thumbprint (or a unique prefix of 8+ digits)'),
  ).action(async (arg: string, o: PkiOpts, cmd: CliCommand) => {
    const ctx = kit.context(cmd);
    if (!THUMB.test(arg)) throw kit.usageError('<thumbprint>', `'${arg}' is not a SHA-1 thumbprint (8 to 40 hex digits)`);
    const info = await (await storeOf(o, true, kit)).untrust(arg);
    if (ctx.output === 'table') ctx.out.write(`untrusted ${info.thumbprint} (${info.subject})\n`);
    else kit.emit(ctx.output, info, () => '');
  });
  kit.examples(untrust, ['edgeadm opcua untrust 1d429ed5a3e6 --data-dir /var/lib/edgeadm/site']);
}

export default definePluginTools({
  id: 'opcua',
  commands: registerCertificateCommands,
  discovery: {
    options: [
      { flags: '--max-depth <n>', key: 'maxDepth', value: 'integer', description: 'levels below the root to browse (default 4)' },
      { flags: '--max-nodes <n>', key: 'maxNodes', value: 'integer', description: 'nodes to visit at most (default 500)' },
      { flags: '--root <nodeId>', key: 'root', description: 'node to start from (default the Objects folder, i=85)' },
      { flags: '--include <glob>', key: 'include', description: 'only variables and methods whose browse path matches, e.g. Machine/*' },
      { flags: '--security-mode <mode>', key: 'securityMode', description: 'None, Sign or SignAndEncrypt (default None)' },
      { flags: '--security-policy <policy>', key: 'securityPolicy', description: 'None, Basic256Sha256 or Aes128_Sha256_RsaOaep' },
      { flags: '--username <name>', key: 'username', description: 'log in as this user' },
      {
        flags: '--password-file <file>',
        key: 'passwordFile',
        value: 'path',
        description: "the user's password, in a file (the Device names the same path: it must exist on the site node too)",
      },
      {
        flags: '--accept-server-certificate',
        key: 'acceptUnknownServerCertificate',
        description: 'trust a server certificate not yet in the client PKI (it stays trusted there)',
      },
    ],
    examples: [
      'edgeadm device discover --plugin opcua opc.tcp://10.0.0.5:4840',
      'edgeadm device discover --plugin opcua opc.tcp://10.0.0.5:4840 --root "ns=2;s=Machine" --max-depth 2 -o json',
      'edgeadm device discover --plugin opcua opc.tcp://10.0.0.5:4840 --name press-1 --site plant-a --apply',
    ],
    async driver(ctx) {
      const { createOpcuaDriver } = await import('./driver.ts');
      return createOpcuaDriver({ logger: ctx.logger, dir: ctx.dir });
    },
  },
});
