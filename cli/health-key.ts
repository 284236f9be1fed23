/**
 * `edgeadm health key create|rotate|show`: the cluster's health key, kept by
 * the hub (core/hub/health-keys.ts). Sites with health settings refuse to
 * run distributed health until it exists; each site's agents then fetch the
 * key derived for their site. Only ids and ages are ever printed.
 */
import type { Command } from 'commander';
import { hubFetch, hubTarget, withHubOptions } from './client.ts';
import { contextOf } from './context.ts';
import { examples } from './commands.ts';
import { emit, renderDetails } from './output.ts';
import type { HubOpts } from './resources.ts';

interface KeyInfo {
  kid: string;
  createdAt: string;
  previous?: { kid: string; createdAt: string };
}

const details = (k: KeyInfo): string =>
  renderDetails([
    ['Key id', k.kid],
    ['Created', k.createdAt],
    ['Previous', k.previous ? `${k.previous.kid} (created ${k.previous.createdAt}; still verifies until the next rotation)` : undefined],
  ]);

export function registerHealthKey(health: Command): Command {
  const key = health.command('key').description("The cluster's health key: gossip between a site's nodes is signed with a key derived from it for that site");
  examples(key, ['edgeadm health key create', 'edgeadm health key show', 'edgeadm health key rotate']);

  const create = withHubOptions(key.command('create').description("Make the cluster's health key (admin); refused when there is one")).action(async (o: HubOpts, cmd: Command) => {
    const k = await hubFetch<KeyInfo>(hubTarget(o), 'POST', '/api/v1/health/key', {});
    emit(contextOf(cmd).options.output, k, () => details(k));
  });
  examples(create, ['edgeadm health key create']);

  const rotate = withHubOptions(
    key.command('rotate').description('Replace the health key (admin): the previous one still verifies until the next rotation, while the sites fetch the new one (every 5 minutes)'),
  ).action(async (o: HubOpts, cmd: Command) => {
    const k = await hubFetch<KeyInfo>(hubTarget(o), 'POST', '/api/v1/health/key/rotate', {});
    emit(contextOf(cmd).options.output, k, () => details(k));
  });
  examples(rotate, ['edgeadm health key rotate']);

  const show = withHubOptions(key.command('show').description("The health key's id and age (never the key)")).action(async (o: HubOpts, cmd: Command) => {
    const k = await hubFetch<KeyInfo>(hubTarget(o), 'GET', '/api/v1/health/key');
    emit(contextOf(cmd).options.output, k, () => details(k));
  });
  examples(show, ['edgeadm health key show', 'edgeadm health key show -o json']);
  return key;
}
