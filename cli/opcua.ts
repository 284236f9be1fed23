/**
 * `edgeadm opcua certificates|trust|untrust`: the OPC UA client PKI of a site
 * agent. A server certificate the agent has not been told to trust is refused
 * and kept in `<data-dir>/plugins/opcua/pki/rejected`; `trust` moves it to
 * `trusted/` (a running agent picks the change up), `untrust` moves it back.
 * Works on the folders alone: no hub, no running agent needed.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { openTrustStore, type CertInfo, type TrustStore } from '../plugins/opcua/src/security.ts';
import { contextOf, ErrUsage, examples } from './context.ts';
import { emit, renderTable } from './output.ts';

interface PkiOpts {
  dataDir: string;
  pkiDir?: string;
}

/** The client PKI folder: --pki-dir, else <data-dir>/plugins/opcua/pki. */
export function pkiDirOf(o: PkiOpts): string {
  if (o.pkiDir !== undefined) {
    if (o.pkiDir === '') throw new ErrUsage({ argument: '--pki-dir', reason: 'is empty' });
    return path.resolve(o.pkiDir);
  }
  if (o.dataDir === '') throw new ErrUsage({ argument: '--data-dir', reason: 'is empty' });
  return path.resolve(o.dataDir, 'plugins', 'opcua', 'pki');
}

function storeOf(o: PkiOpts, mustExist: boolean): TrustStore {
  const dir = pkiDirOf(o);
  if (mustExist && !existsSync(dir)) {
    throw new ErrUsage({
      argument: o.pkiDir !== undefined ? '--pki-dir' : '--data-dir',
      reason: `${dir} does not exist: no site agent with the opcua plugin has run with this data dir`,
    });
  }
  return openTrustStore(dir);
}

function withPkiOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', "the site agent's data dir (as given to `edgeadm site run`)", '.data/site')
    .option('--pki-dir <dir>', 'the OPC UA client PKI folder itself (default <data-dir>/plugins/opcua/pki)');
}

const THUMB = /^[0-9a-fA-F:]{8,59}$/;

export function registerOpcua(program: Command): void {
  const group = program.command('opcua').description("OPC UA: the site agent's client certificates and the server certificates it trusts");
  examples(group, [
    'edgeadm opcua certificates --data-dir /var/lib/edgeadm/site',
    'edgeadm opcua trust 1d429ed5a3e6a26744a25d4b542a9a051a83a095 --data-dir /var/lib/edgeadm/site',
    'edgeadm opcua trust ./plc-server.der --data-dir /var/lib/edgeadm/site',
  ]);

  const list = withPkiOptions(group.command('certificates').description('List server certificates: refused ones waiting for a decision, and trusted ones')).action(
    async (o: PkiOpts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const store = storeOf(o, false);
      const rows: (CertInfo & { status: 'rejected' | 'trusted' })[] = [
        ...(await store.rejected()).map((c) => ({ ...c, status: 'rejected' as const })),
        ...(await store.trusted()).map((c) => ({ ...c, status: 'trusted' as const })),
      ];
      emit(ctx.options.output, rows, () =>
        rows.length === 0
          ? `no server certificates in ${store.pkiDir}\n`
          : renderTable(rows, [
              { header: 'status', value: (c) => c.status },
              { header: 'thumbprint', value: (c) => c.thumbprint },
              { header: 'subject', value: (c) => c.subject },
              { header: 'application uri', value: (c) => c.applicationUri ?? '' },
              { header: 'not after', value: (c) => c.notAfter },
            ]),
      );
    },
  );
  examples(list, ['edgeadm opcua certificates', 'edgeadm opcua certificates --data-dir /var/lib/edgeadm/site -o json']);

  const trust = withPkiOptions(
    group
      .command('trust')
      .description('Trust a server certificate: a refused one by thumbprint (or a unique prefix of 8+ digits), or a certificate file (.der, .pem)')
      .argument('<thumbprint|file>', 'SHA-1 thumbprint from `edgeadm opcua certificates`, or a certificate file'),
  ).action(async (arg: string, o: PkiOpts, cmd: Command) => {
    const ctx = contextOf(cmd);
    const isFile = existsSync(arg) || /\.(der|pem|crt|cer)$/i.test(arg) || arg.includes('/');
    if (!isFile && !THUMB.test(arg)) {
      throw new ErrUsage({ argument: '<thumbprint|file>', reason: `'${arg}' is neither a certificate file nor a SHA-1 thumbprint (8 to 40 hex digits)` });
    }
    const info = await storeOf(o, !isFile).trust(arg);
    if (ctx.options.output === 'table') ctx.out.write(`trusted ${info.thumbprint} (${info.subject}${info.applicationUri ? `, ${info.applicationUri}` : ''})\n`);
    else emit(ctx.options.output, info, () => '');
  });
  examples(trust, ['edgeadm opcua trust 1d429ed5a3e6 --data-dir /var/lib/edgeadm/site', 'edgeadm opcua trust plc.der']);

  const untrust = withPkiOptions(
    group
      .command('untrust')
      .description('Stop trusting a server certificate (it moves back to the refused ones)')
      .argument('<thumbprint>', 'SHA-1 thumbprint (or a unique prefix of 8+ digits)'),
  ).action(async (arg: string, o: PkiOpts, cmd: Command) => {
    const ctx = contextOf(cmd);
    if (!THUMB.test(arg)) throw new ErrUsage({ argument: '<thumbprint>', reason: `'${arg}' is not a SHA-1 thumbprint (8 to 40 hex digits)` });
    const info = await storeOf(o, true).untrust(arg);
    if (ctx.options.output === 'table') ctx.out.write(`untrusted ${info.thumbprint} (${info.subject})\n`);
    else emit(ctx.options.output, info, () => '');
  });
  examples(untrust, ['edgeadm opcua untrust 1d429ed5a3e6 --data-dir /var/lib/edgeadm/site']);
}
