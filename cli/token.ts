/**
 * `edgeadm token create|list|delete`: bootstrap tokens for joining nodes
 * (kubeadm-style `<id>.<secret>`, always expiring, optionally for one site).
 * `create` prints the token once, and with --print-join-command the whole
 * `edgeadm join` line, CA pin included.
 */
import type { Command } from 'commander';
import { caCertHash } from './join.ts';
import { hubFetch, hubTarget, withHubOptions } from './client.ts';
import { contextOf, ErrUsage, examples } from './context.ts';
import { emit, renderTable } from './output.ts';

interface BootstrapToken {
  id: string;
  site?: string;
  description: string;
  createdAt: string;
  expiresAt: string;
  uses: number;
  token?: string;
}

interface HubOpts {
  hub?: string;
  token?: string;
  tokenFile?: string;
  caFile?: string;
}

const SITE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** `90s`, `30m`, `24h`, `7d` → seconds. */
export function parseTtl(value: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(value);
  if (!m) throw new ErrUsage({ argument: '--ttl', reason: `'${value}' is not a duration like 30m, 24h or 7d` });
  const n = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  if (n < 1 || n > 30 * 86400) throw new ErrUsage({ argument: '--ttl', reason: 'must be from 1s to 30d (bootstrap tokens always expire)' });
  return n;
}

export function registerToken(program: Command): void {
  const group = program.command('token').description('Bootstrap tokens for joining edge nodes');
  examples(group, ['edgeadm token create --site plant-a --ttl 2h --print-join-command', 'edgeadm token list', 'edgeadm token delete abcdef']);

  const create = withHubOptions(
    group
      .command('create')
      .description('Create a bootstrap token (shown once)')
      .option('--site <site>', 'joins with this token may only join this site')
      .option('--ttl <duration>', 'lifetime: 30m, 24h, 7d (at most 30d)', '24h')
      .option('--description <text>', 'what it is for')
      .option('--print-join-command', 'print the full `edgeadm join` command for a node'),
  ).action(async (o: HubOpts & { site?: string; ttl: string; description?: string; printJoinCommand?: boolean }, cmd: Command) => {
    const ctx = contextOf(cmd);
    if (o.site !== undefined && !SITE.test(o.site)) throw new ErrUsage({ argument: '--site', reason: `'${o.site}' is not a site name` });
    const ttlSeconds = parseTtl(o.ttl);
    const target = hubTarget(o);
    const created = await hubFetch<BootstrapToken>(target, 'POST', '/api/v1/bootstrap-tokens', {
      ttlSeconds,
      ...(o.site ? { site: o.site } : {}),
      ...(o.description ? { description: o.description } : {}),
    });
    if (o.printJoinCommand) {
      const pin = target.ca ? ` --ca-cert-hash ${caCertHash(target.ca)}` : '';
      ctx.out.write(`edgeadm join ${target.url} --token ${created.token!}${created.site ? ` --site ${created.site}` : ' --site <site>'}${pin}\n`);
      return;
    }
    if (ctx.options.output === 'table') ctx.out.write(`${created.token!}\n`);
    else emit(ctx.options.output, created, () => '');
  });
  examples(create, ['edgeadm token create --site plant-a', 'edgeadm token create --ttl 2h --print-join-command --ca-file .data/hub/pki/ca.crt']);

  const list = withHubOptions(group.command('list').description('List bootstrap tokens (never their secrets)')).action(async (o: HubOpts, cmd: Command) => {
    const ctx = contextOf(cmd);
    const page = await hubFetch<{ items: BootstrapToken[] }>(hubTarget(o), 'GET', '/api/v1/bootstrap-tokens');
    emit(ctx.options.output, page.items, () =>
      renderTable(page.items, [
        { header: 'id', value: (t) => t.id },
        { header: 'site', value: (t) => t.site ?? '(any)' },
        { header: 'expires', value: (t) => t.expiresAt },
        { header: 'uses', value: (t) => t.uses },
        { header: 'description', value: (t) => t.description },
      ]),
    );
  });
  examples(list, ['edgeadm token list', 'edgeadm token list -o json']);

  const del = withHubOptions(group.command('delete').description('Delete a bootstrap token').argument('<id>', 'the token id (the part before the dot)')).action(
    async (id: string, o: HubOpts, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (!/^[a-z0-9]{6}$/.test(id)) throw new ErrUsage({ argument: '<id>', reason: `'${id}' is not a bootstrap token id (6 lowercase letters or digits)` });
      await hubFetch(hubTarget(o), 'DELETE', `/api/v1/bootstrap-tokens/${id}`);
      ctx.out.write(`bootstrap token ${id} deleted\n`);
    },
  );
  examples(del, ['edgeadm token delete abcdef']);
}
