/**
 * `edgeadm token create|list|delete --role`: API tokens (the binary in a
 * child process) against a real hub; the token it prints logs in to the
 * console and is refused there once revoked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEdgeadm, type CliResult } from '../test/support/edgeadm-cli.ts';
import { parseTtl } from './token.ts';
import { startHubFixture, type HubFixture } from '../test/support/hub-fixture.ts';

let f: HubFixture;

function edgeadm(args: string[]): Promise<CliResult> {
  return runEdgeadm(args, { EDGEADM_HUB: f.hub.url, EDGEADM_TOKEN: f.adminToken, EDGEADM_CA_FILE: undefined });
}

beforeAll(async () => {
  f = await startHubFixture();
}, 30_000);

afterAll(async () => {
  await f?.hub.close();
});

describe('edgeadm token --role', () => {
  it('creates a viewer token that logs in to the console, lists it, and revokes it', async () => {
    const created = await edgeadm(['token', 'create', '--role', 'viewer', '--ttl', '90d', '--description', 'wall display']);
    expect(created.code, created.stderr).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^edgeadm_[a-z0-9]{8}_[A-Za-z0-9_-]+$/);
    const id = token.split('_')[1] ?? '';

    const login = await fetch(`${f.hub.url}/api/v1/console/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    expect(login.status).toBe(200);
    expect(await login.json()).toMatchObject({ role: 'viewer', tokenId: id });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';

    const list = await edgeadm(['token', 'list', '--role', '-o', 'json']);
    expect(list.code, list.stderr).toBe(0);
    const items = JSON.parse(list.stdout) as { id: string; role: string; description: string; expiresAt?: string }[];
    const mine = items.find((t) => t.id === id);
    expect(mine).toMatchObject({ role: 'viewer', description: 'wall display' });
    expect(Date.parse(mine?.expiresAt ?? '') - Date.now()).toBeGreaterThan(89 * 86400_000);
    // The secret is base64url and may itself hold '_': it is everything after `edgeadm_<id>_`.
    const secret = token.slice(`edgeadm_${id}_`.length);
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(list.stdout).not.toContain(secret);
    const admins = JSON.parse((await edgeadm(['token', 'list', '--role', 'admin', '-o', 'json'])).stdout) as { id: string; role: string }[];
    expect(admins.length).toBeGreaterThan(0);
    expect(admins.every((t) => t.role === 'admin')).toBe(true);
    const viewers = JSON.parse((await edgeadm(['token', 'list', '--role', 'viewer', '-o', 'json'])).stdout) as { id: string }[];
    expect(viewers.map((t) => t.id)).toEqual([id]);
    const table = await edgeadm(['token', 'list', '--role']);
    expect(table.stdout).toMatch(new RegExp(`^${id} +viewer +\\S+T\\S+ +\\S* *wall display`, 'm'));

    const revoked = await edgeadm(['token', 'delete', id]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toBe(`API token ${id} revoked\n`);
    const after = await fetch(`${f.hub.url}/api/v1/console/session`, { headers: { cookie } });
    expect(after.status).toBe(401);
  });

  it('makes agent tokens for one existing site', async () => {
    await f.apply({ kind: 'Site', metadata: { name: 'plant-t' }, spec: {} });
    const created = await edgeadm(['token', 'create', '--role', 'agent', '--site', 'plant-t', '-o', 'json']);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ role: 'agent', site: 'plant-t' });
    const unknown = await edgeadm(['token', 'create', '--role', 'agent', '--site', 'nowhere']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("Site 'nowhere', which does not exist");
  });

  it('refuses contradictory flags with usage errors (exit 2) naming them', async () => {
    const cases: [string[], RegExp][] = [
      [['token', 'create', '--role', 'root'], /--role: 'root' is not one of admin, viewer, agent/],
      [['token', 'create', '--role', 'agent'], /--site: is required for an agent token/],
      [['token', 'create', '--role', 'viewer', '--site', 'plant-t'], /--site: a viewer token is not bound to a site/],
      [['token', 'create', '--role', 'viewer', '--print-join-command'], /--print-join-command: is for bootstrap tokens/],
      [['token', 'create', '--role', 'viewer', '--ttl', '5y'], /--ttl: '5y' is not a duration/],
      [['token', 'delete', 'abc'], /<id>: 'abc' is neither a bootstrap token id/],
      [['token', 'list', '--role', 'root'], /--role: 'root' is not one of admin, viewer, agent/],
    ];
    for (const [args, message] of cases) {
      const r = await edgeadm(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  });
});

describe('--ttl', () => {
  it('reads Go durations and whole days into whole seconds, within the bounds', () => {
    expect(['90s', '30m', '1h30m', '24h', '7d', '1.5m', '1s', '30d', '720h'].map((t) => parseTtl(t))).toEqual([90, 1800, 5400, 86_400, 604_800, 90, 1, 2_592_000, 2_592_000]);
    expect(parseTtl('90d', 3650)).toBe(7_776_000);
    const refused = (value: string, maxDays?: number): string => {
      try {
        parseTtl(value, maxDays);
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(refused('5y')).toMatch(/--ttl: '5y' is not a duration/);
    expect(refused('24')).toMatch(/is not a duration/);
    expect(refused('1.5d')).toMatch(/is not a duration/);
    expect(refused('1500ms')).toMatch(/'1500ms' is not a whole number of seconds/);
    expect(refused('0s')).toMatch(/must be from 1s to 30d/);
    expect(refused('-1h')).toMatch(/must be from 1s to 30d/);
    expect(refused('31d')).toMatch(/must be from 1s to 30d/);
    expect(refused('91d', 90)).toMatch(/must be from 1s to 90d/);
  });
});
