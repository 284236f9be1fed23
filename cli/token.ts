/**
 * `edgeadm token create|list|delete`: bootstrap tokens for joining nodes
 * (kubeadm-style `<id>.<secret>`, always expiring, optionally for one site).
 * `create` prints the token once, and with --print-join-command the whole
 * `edgeadm join` line, CA pin included. With `--role`, the same commands
 * handle API tokens (`edgeadm_<id>_<secret>`): admin, viewer (read-only, e.g.
 * for the web console) or agent (one site).
 */
import type { Command } from 'commander';
import { BOOTSTRAP_TOKEN_ID_RE, goDurationMs } from '../core/kernel/index.ts';
import type { ApiTokenCreateBody, ApiTokenCreated, ApiTokenList, BootstrapTokenCreateBody, BootstrapTokenCreated, BootstrapTokenList } from '../core/hub/index.ts';
import { dns1123LabelProblem } from '../core/store/index.ts';
import { caCertHash } from '../core/pki/pin.ts';
import { hubFetch, hubTarget, withHubOptions } from './client.ts';
import { contextOf } from './context.ts';
import { ErrUsage } from './errors.ts';
import { emit, renderTable } from './output.ts';
import { examples, summary } from './commands.ts';

/** The API token roles, exactly those the hub's TokenCreateBody takes (the `satisfies` refuses a missing or an extra one). */
const ROLE_SET = { admin: true, viewer: true, agent: true } satisfies Record<ApiTokenCreateBody['role'], true>;
const API_ROLES = Object.keys(ROLE_SET) as ApiTokenCreateBody['role'][];

interface HubOpts {
  hub?: string;
  token?: string;
  tokenFile?: string;
  caFile?: string;
}

/**
 * A lifetime in whole seconds: a Go duration (`90s`, `30m`, `1h30m`, `24h`)
 * or whole days (`7d`, a unit Go lacks); from 1s to 30 days, or `maxDays`.
 */
export function parseTtl(value: string, maxDays = 30): number {
  const days = /^(\d+)d$/.exec(value);
  const ms = days ? Number(days[1]) * 86_400_000 : goDurationMs(value);
  if (ms === undefined) throw new ErrUsage({ argument: '--ttl', reason: `'${value}' is not a duration like 30m, 24h or 7d` });
  const n = ms / 1000;
  if (n < 1 || n > maxDays * 86400) {
    throw new ErrUsage({ argument: '--ttl', reason: maxDays === 30 ? 'must be from 1s to 30d (bootstrap tokens always expire)' : `must be from 1s to ${maxDays}d` });
  }
  if (!Number.isInteger(n)) throw new ErrUsage({ argument: '--ttl', reason: `'${value}' is not a whole number of seconds` });
  return n;
}

async function createApiToken(o: HubOpts & { role: string; site?: string; ttl?: string; description?: string; printJoinCommand?: boolean }, cmd: Command): Promise<void> {
  const ctx = contextOf(cmd);
  const role = API_ROLES.find((r) => r === o.role);
  if (role === undefined) throw new ErrUsage({ argument: '--role', reason: `'${o.role}' is not one of ${API_ROLES.join(', ')}` });
  if (o.printJoinCommand) throw new ErrUsage({ argument: '--print-join-command', reason: 'is for bootstrap tokens (without --role): nodes join with those' });
  if (role === 'agent' && o.site === undefined) throw new ErrUsage({ argument: '--site', reason: 'is required for an agent token: it acts for one site' });
  if (role !== 'agent' && o.site !== undefined) throw new ErrUsage({ argument: '--site', reason: `${role === 'admin' ? 'an' : 'a'} ${role} token is not bound to a site; leave --site out` });
  const body: ApiTokenCreateBody = {
    role,
    ...(o.site ? { site: o.site } : {}),
    ...(o.description ? { description: o.description } : {}),
    ...(o.ttl === undefined ? {} : { ttlSeconds: parseTtl(o.ttl, 3650) }),
  };
  const created = await hubFetch<ApiTokenCreated>(hubTarget(o), 'POST', '/api/v1/tokens', body);
  if (ctx.options.output === 'table') ctx.out.write(`${created.token}\n`);
  else emit(ctx.options.output, created, () => '');
}

export function registerToken(program: Command): void {
  const group = program.command('token').description(summary('token'));
  examples(group, [
    'edgeadm token create --site plant-a --ttl 2h --print-join-command',
    'edgeadm token create --role viewer --description "wall display"',
    'edgeadm token list',
    'edgeadm token list --role',
    'edgeadm token delete abcdef',
  ]);

  const create = withHubOptions(
    group
      .command('create')
      .description('Create a bootstrap token, or with --role an API token (shown once)')
      .option('--role <role>', 'an API token of this role instead: admin, viewer (read-only) or agent (needs --site)')
      .option('--site <site>', 'joins with this token may only join this site; for --role agent, the site it acts for')
      .option('--ttl <duration>', 'lifetime: 30m, 24h, 7d; bootstrap tokens: default 24h, at most 30d; API tokens: no expiry unless given')
      .option('--description <text>', 'what it is for')
      .option('--print-join-command', 'print the full `edgeadm join` command for a node'),
  ).action(async (o: HubOpts & { role?: string; site?: string; ttl?: string; description?: string; printJoinCommand?: boolean }, cmd: Command) => {
    const ctx = contextOf(cmd);
    if (o.site !== undefined && dns1123LabelProblem(o.site) !== undefined) throw new ErrUsage({ argument: '--site', reason: `'${o.site}' is not a site name` });
    if (o.role !== undefined) return createApiToken({ ...o, role: o.role }, cmd);
    const ttlSeconds = parseTtl(o.ttl ?? '24h');
    const target = hubTarget(o);
    const body: BootstrapTokenCreateBody = {
      ttlSeconds,
      ...(o.site ? { site: o.site } : {}),
      ...(o.description ? { description: o.description } : {}),
    };
    const created = await hubFetch<BootstrapTokenCreated>(target, 'POST', '/api/v1/bootstrap-tokens', body);
    if (o.printJoinCommand) {
      const pin = target.ca ? ` --ca-cert-hash ${caCertHash(target.ca)}` : '';
      ctx.out.write(`edgeadm join ${target.url} --token ${created.token}${created.site ? ` --site ${created.site}` : ' --site <site>'}${pin}\n`);
      return;
    }
    if (ctx.options.output === 'table') ctx.out.write(`${created.token}\n`);
    else emit(ctx.options.output, created, () => '');
  });
  examples(create, [
    'edgeadm token create --site plant-a',
    'edgeadm token create --ttl 2h --print-join-command --ca-file .data/hub/pki/ca.crt',
    'edgeadm token create --role viewer --ttl 90d',
  ]);

  const list = withHubOptions(
    group
      .command('list')
      .description('List bootstrap tokens, or with --role API tokens (never their secrets)')
      .option('--role [role]', 'list API tokens instead: all of them, or only those of this role'),
  ).action(async (o: HubOpts & { role?: boolean | string }, cmd: Command) => {
    const ctx = contextOf(cmd);
    if (o.role !== undefined && o.role !== false) {
      const only = typeof o.role === 'string' ? o.role : undefined;
      if (only !== undefined && !API_ROLES.some((r) => r === only)) throw new ErrUsage({ argument: '--role', reason: `'${only}' is not one of ${API_ROLES.join(', ')}` });
      const items = (await hubFetch<ApiTokenList>(hubTarget(o), 'GET', '/api/v1/tokens')).items.filter((t) => only === undefined || t.role === only);
      emit(ctx.options.output, items, () =>
        renderTable(items, [
          { header: 'id', value: (t) => t.id },
          { header: 'role', value: (t) => t.role },
          { header: 'site', value: (t) => t.site ?? '' },
          { header: 'expires', value: (t) => t.expiresAt ?? 'never' },
          { header: 'last used', value: (t) => t.lastUsedAt ?? '' },
          { header: 'description', value: (t) => t.description },
        ]),
      );
      return;
    }
    const page = await hubFetch<BootstrapTokenList>(hubTarget(o), 'GET', '/api/v1/bootstrap-tokens');
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
  examples(list, ['edgeadm token list', 'edgeadm token list -o json', 'edgeadm token list --role', 'edgeadm token list --role viewer']);

  const del = withHubOptions(
    group
      .command('delete')
      .description('Delete a bootstrap token, or revoke an API token (its console sessions end with it)')
      .argument('<id>', 'a bootstrap token id (6 characters, before the dot) or an API token id (8 characters, after edgeadm_)'),
  ).action(async (id: string, o: HubOpts, cmd: Command) => {
    const ctx = contextOf(cmd);
    if (BOOTSTRAP_TOKEN_ID_RE.test(id)) {
      await hubFetch(hubTarget(o), 'DELETE', `/api/v1/bootstrap-tokens/${id}`);
      ctx.out.write(`bootstrap token ${id} deleted\n`);
      return;
    }
    if (/^[a-z0-9]{8}$/.test(id)) {
      await hubFetch(hubTarget(o), 'DELETE', `/api/v1/tokens/${id}`);
      ctx.out.write(`API token ${id} revoked\n`);
      return;
    }
    throw new ErrUsage({ argument: '<id>', reason: `'${id}' is neither a bootstrap token id (6 lowercase letters or digits) nor an API token id (8)` });
  });
  examples(del, ['edgeadm token delete abcdef', 'edgeadm token delete k3x9q2m1']);
}
