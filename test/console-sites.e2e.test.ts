/**
 * Sites, nodes and tokens in the web console (Chromium against `edgeadm
 * demo`), as an admin does it: create a site (a refused name is shown at its
 * field), issue a bootstrap token on the site's page and run the `edgeadm
 * join` it shows, exactly as shown, then find the node connected on its own
 * page with its host keys and the commands to reach it; trust the other keys
 * a later join reported; delete the site (the hub keeps its node, as the
 * dialog said) and the node. Tokens: create a viewer token by keyboard, use
 * it, revoke it in the browser and see the API refuse it; delete a bootstrap
 * token. A viewer gets no write button and no token page. axe-core checks
 * every page and dialog; screenshots land in test-artifacts/console-sites/.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caCertHash } from '../core/pki/index.ts';
import { expectAccessible, startDemoConsole, type DemoConsole } from './support/console-page.ts';
import { tempDir, waitFor } from './support/hub-fixture.ts';
import { testSshKey } from './support/hub/ssh-key.ts';

let c: DemoConsole;
let origin: string;

beforeAll(async () => {
  c = await startDemoConsole('console-sites');
  origin = new URL(c.url).origin;
}, 90_000);

afterAll(async () => {
  await c?.close();
}, 30_000);

const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: path.join(c.shots, `${name}.png`), fullPage: true });
const text = async (page: Page, testid: string): Promise<string> => ((await page.getByTestId(testid).first().textContent()) ?? '').trim();
/** The data-testid of the element that has the keyboard focus. */
const focused = (page: Page): Promise<string | null> => page.evaluate<string | null>("document.activeElement?.getAttribute('data-testid') ?? null");

describe('sites, nodes and tokens in the console', () => {
  it('creates a site, joins a node with the command the site page shows, and manages it on its node page', async () => {
    await c.withConsole('laptop', async (page) => {
      await c.logIn(page);
      await page.getByTestId('nav-sites').click();
      await page.getByTestId('site-demo').waitFor({ timeout: 20_000 });
      await expectAccessible(page, 'sites (admin)');

      // A name the hub refuses: its problem at the name field, which says so to assistive technology.
      await page.getByTestId('site-create-open').click();
      const form = page.getByTestId('site-form');
      await form.waitFor();
      await page.getByTestId('site-name').fill('Plant_X');
      await page.getByTestId('site-create').click();
      await expect.poll(() => text(page, 'site-name-error'), { timeout: 10_000 }).toMatch(/lowercase/i);
      expect(await page.getByTestId('site-name').getAttribute('aria-invalid')).toBe('true');
      expect(await page.getByTestId('site-name').getAttribute('aria-describedby')).toContain('site-name-error');
      await shot(page, '01-site-name-refused');
      await expectAccessible(page, 'create site dialog, refused');
      // A name taken: at the name field too.
      await page.getByTestId('site-name').fill('demo');
      await page.getByTestId('site-create').click();
      await expect.poll(() => text(page, 'site-name-error'), { timeout: 10_000 }).toContain('already exists');
      // A label line that is not key=value: at the labels field, nothing sent.
      await page.getByTestId('site-name').fill('plant-x');
      await page.getByTestId('site-labels').fill('region');
      await page.getByTestId('site-create').click();
      await expect.poll(() => text(page, 'site-labels-error')).toContain('is not key=value');
      expect((await c.api('GET', '/api/v1/sites/plant-x')).status).toBe(404);

      await page.getByTestId('site-display-name').fill('Plant X');
      await page.getByTestId('site-description').fill('The second plant');
      await page.getByTestId('site-labels').fill('region=north\nline=2');
      await page.getByTestId('site-create').click();
      await page.getByTestId('site-detail-plant-x').waitFor({ timeout: 10_000 });
      expect(new URL(page.url()).hash).toBe('#/sites/plant-x');
      expect(await page.locator('h1').textContent()).toContain('Plant X');
      expect(await text(page, 'site-labels-shown')).toContain('region=north');
      const site = await c.api<{ metadata: { labels: Record<string, string> }; spec: Record<string, string> }>('GET', '/api/v1/sites/plant-x');
      expect(site.status).toBe(200);
      expect(site.body.metadata.labels).toEqual({ region: 'north', line: '2' });
      expect(site.body.spec).toEqual({ displayName: 'Plant X', description: 'The second plant' });
      await expectAccessible(page, 'site page (admin)');

      // Add a node: a bootstrap token of this site, and the whole join line with the CA's pin.
      await page.getByTestId('add-node-open').click();
      await page.getByTestId('add-node').waitFor();
      await expectAccessible(page, 'add a node dialog');
      await page.getByTestId('join-ttl').selectOption('3600');
      await page.getByTestId('join-description').fill('gw-x in the cabinet');
      await page.getByTestId('join-issue').click();
      await page.getByTestId('join-command').waitFor({ timeout: 10_000 });
      const command = await text(page, 'join-command');
      const ca = readFileSync(path.join(c.dataDir, 'hub', 'pki', 'ca.crt'), 'utf8');
      const m = /^edgeadm join (https:\/\/127\.0\.0\.1:\d+) --token ([a-z0-9]{6})\.[a-z0-9]{16} --site plant-x --ca-cert-hash (sha256:[0-9a-f]{64})$/.exec(command);
      expect(m, command).not.toBeNull();
      expect(m?.[1]).toBe(origin);
      expect(m?.[3]).toBe(caCertHash(ca));
      const bootstrapId = m?.[2] ?? '';
      expect(await text(page, 'join-once')).toContain('shown only now');
      // Valid for the hour chosen.
      const listed = await c.api<{ items: { id: string; site?: string; expiresAt: string; description: string }[] }>('GET', '/api/v1/bootstrap-tokens');
      const issued = listed.body.items.find((b) => b.id === bootstrapId);
      expect(issued).toMatchObject({ site: 'plant-x', description: 'gw-x in the cabinet' });
      expect(Date.parse(issued?.expiresAt ?? '') - Date.now()).toBeGreaterThan(3500_000);
      expect(Date.parse(issued?.expiresAt ?? '') - Date.now()).toBeLessThan(3700_000);
      expect(await text(page, 'join-expires')).toMatch(/in (60 min|1 h)/);
      await shot(page, '02-add-node-join-command');
      await expectAccessible(page, 'add a node dialog, token issued');
      await page.getByTestId('add-node-done').click();
      await expect.poll(() => page.getByTestId('add-node').count()).toBe(0);

      // The node runs that command (what it needs beyond it: a name, a data folder, its host keys, no site broker).
      const keys = tempDir('console-sites-keys');
      const first = testSshKey('root@gw-x');
      writeFileSync(path.join(keys, 'ssh_host_ed25519_key.pub'), `${first.line}\n`);
      const words = command.split(' ');
      expect(words[0]).toBe('edgeadm');
      const node = c.start([...words.slice(1), '--node', 'gw-x', '--data-dir', tempDir('console-sites-node'), '--ssh-host-key-dir', keys, '--no-broker', '--health-host', '127.0.0.1']);
      await waitFor('the node to join', () => node.out().includes("node 'gw-x' joined site 'plant-x'") || node.child.exitCode !== null, 30_000);
      expect(node.child.exitCode, node.err()).toBeNull();

      // On the site's page, then on its own page: connected, with what the hub knows of it.
      const row = page.getByTestId('node-gw-x');
      await expect.poll(() => row.getByTestId('node-connected').textContent(), { timeout: 30_000 }).toBe('connected');
      await row.getByRole('link', { name: 'gw-x' }).click();
      await page.getByTestId('node-detail-gw-x').waitFor();
      expect(new URL(page.url()).hash).toBe('#/nodes/gw-x');
      await expect.poll(() => text(page, 'node-detail-connected'), { timeout: 20_000 }).toBe('connected');
      expect(await text(page, 'node-detail-site')).toBe('plant-x');
      expect(await text(page, 'node-detail-replica')).not.toBe('—');
      expect(await text(page, 'node-detail-joined')).toMatch(/ago\)$/);
      expect(await text(page, 'node-detail-standing')).toBe('connected');
      expect(await text(page, 'node-lite')).toContain('not a Kubernetes-mode node');
      await expect.poll(() => page.getByTestId('host-keys-trusted').getByTestId('host-key-fingerprint').allTextContents(), { timeout: 10_000 }).toEqual([first.fingerprint]);
      expect(await text(page, 'node-ssh-command')).toBe(`edgeadm ssh gw-x --hub ${origin}`);
      expect(await text(page, 'node-pf-command')).toBe(`edgeadm port-forward gw-x 10250 --hub ${origin}`);
      await page.getByTestId('pf-port').fill('22');
      expect(await text(page, 'node-pf-command')).toBe(`edgeadm port-forward gw-x 22 --hub ${origin}`);
      await shot(page, '03-node-page');
      await expectAccessible(page, 'node page (admin)');

      // A later join reports other host keys: pending until an admin checks and trusts them.
      const second = testSshKey('root@gw-x');
      const token = command.split(' ')[4] ?? '';
      const rejoin = await fetch(new URL('/api/v1/join', c.url), {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ site: 'plant-x', node: 'gw-x', sshHostKeys: [second.line] }),
        dispatcher: c.dispatcher,
      });
      expect(rejoin.status).toBe(201);
      await page.getByTestId('host-keys-pending').waitFor({ timeout: 10_000 });
      expect(await page.getByTestId('host-keys-pending-keys').getByTestId('host-key-fingerprint').allTextContents()).toEqual([second.fingerprint]);
      await page.getByTestId('host-keys-trust-open').click();
      await page.getByTestId('host-keys-confirm').waitFor();
      expect(await page.getByTestId('host-keys-confirm').textContent()).toContain(second.fingerprint);
      await expectAccessible(page, 'trust host keys dialog');
      await shot(page, '04-trust-host-keys');
      await page.getByTestId('host-keys-confirm-button').click();
      await expect.poll(() => page.getByTestId('host-keys-trusted').getByTestId('host-key-fingerprint').allTextContents(), { timeout: 10_000 }).toEqual([second.fingerprint]);
      expect(await page.getByTestId('host-keys-pending').count()).toBe(0);

      // Deleting the site: the dialog lists what stays, and the hub does keep it.
      await page.getByTestId('node-detail-site').click();
      await page.getByTestId('site-delete-open').click();
      await page.getByTestId('site-delete').waitFor();
      expect(await text(page, 'site-delete-left')).toContain('1 node: gw-x');
      await expectAccessible(page, 'delete site dialog');
      await shot(page, '05-delete-site');
      await page.getByTestId('site-delete').getByTestId('delete-confirm').click();
      await expect.poll(() => new URL(page.url()).hash).toBe('#/sites');
      expect((await c.api('GET', '/api/v1/sites/plant-x')).status).toBe(404);
      expect((await c.api('GET', '/api/v1/nodes/gw-x')).status).toBe(200);

      // Deleting the node: its credentials revoked, as the dialog says.
      await page.goto(new URL('#/nodes/gw-x', c.url).href);
      await page.getByTestId('node-delete-open').click();
      const dialog = page.getByTestId('node-delete');
      await dialog.waitFor();
      await expect.poll(async () => (await dialog.textContent()) ?? '').toMatch(/revokes its credentials \(1 token: [a-z0-9]+ \) and drops its tunnel/);
      await expectAccessible(page, 'delete node dialog');
      await dialog.getByTestId('delete-confirm').click();
      await expect.poll(() => c.api('GET', '/api/v1/nodes/gw-x').then((r) => r.status)).toBe(404);
      const creds = await c.api<{ items: { node?: string }[] }>('GET', '/api/v1/tokens');
      expect(creds.body.items.filter((t) => t.node === 'gw-x')).toEqual([]);
      await node.stop();
    });
  }, 150_000);

  it('creates a viewer token by keyboard, which works until it is revoked in the browser; deletes a bootstrap token', async () => {
    await c.withConsole('laptop', async (page) => {
      await c.logIn(page);
      await page.getByTestId('nav-tokens').click();
      await page.getByTestId('tokens-table').waitFor({ timeout: 10_000 });
      await expectAccessible(page, 'tokens');
      // The session's own token is marked, and revoking it would say so.
      const mine = c.token.split('_')[1] ?? '';
      expect(await page.getByTestId(`token-${mine}`).getByTestId('token-mine').count()).toBe(1);
      await page.getByTestId(`token-${mine}`).getByTestId('token-revoke-open').click();
      expect(await text(page, 'token-revoke-mine')).toContain('logged out');
      await page.getByTestId('token-revoke').getByTestId('delete-cancel').click();
      await expect.poll(() => page.getByTestId('token-revoke').count()).toBe(0);

      // Refused: an agent token needs a site; shown at the site field.
      await page.getByTestId('token-create-open').click();
      await page.getByTestId('token-role').selectOption('agent');
      await page.getByTestId('token-create').click();
      await expect.poll(() => text(page, 'token-site-error'), { timeout: 10_000 }).toContain('required for role agent');
      expect(await page.getByTestId('token-site').getAttribute('aria-invalid')).toBe('true');
      await expectAccessible(page, 'create token dialog, refused');
      await page.keyboard.press('Escape');
      await expect.poll(() => page.getByTestId('token-form').count()).toBe(0);

      // By keyboard: open the form, role viewer, a description, submit; the secret shown once.
      await page.getByTestId('token-create-open').focus();
      await page.keyboard.press('Enter');
      await page.getByTestId('token-form').waitFor();
      expect(await focused(page)).toBe('token-role');
      await page.keyboard.press('Tab');
      expect(await focused(page)).toBe('token-ttl');
      await page.keyboard.press('Tab');
      expect(await focused(page)).toBe('token-description');
      await page.keyboard.type('browser viewer');
      await expectAccessible(page, 'create token dialog');
      await page.keyboard.press('Enter');
      await page.getByTestId('token-secret').waitFor({ timeout: 10_000 });
      const secret = await text(page, 'token-secret');
      expect(secret).toMatch(/^edgeadm_[a-z0-9]+_\S+$/);
      expect(await text(page, 'token-once')).toContain('only time');
      await shot(page, '06-token-created');
      await expectAccessible(page, 'token created dialog');
      expect(await focused(page)).toBe('token-created-done');
      await page.keyboard.press('Enter');
      await expect.poll(() => page.getByTestId('token-created').count()).toBe(0);

      const id = secret.split('_')[1] ?? '';
      const row = page.getByTestId(`token-${id}`);
      await row.waitFor();
      expect(await row.textContent()).toContain('browser viewer');
      expect(await row.textContent()).toContain('viewer');
      // The secret is not on the page any more.
      expect(await page.locator('body').textContent()).not.toContain(secret);
      expect((await c.api('GET', '/api/v1/sites', undefined, secret)).status).toBe(200);
      // The viewer may not write.
      expect((await c.api('POST', '/api/v1/sites', { metadata: { name: 'nope' }, spec: {} }, secret)).status).toBe(403);

      // Revoke it by keyboard: Cancel has the focus; the confirm button is the next stop.
      await row.getByTestId('token-revoke-open').focus();
      await page.keyboard.press('Enter');
      const confirm = page.getByTestId('token-revoke');
      await confirm.waitFor();
      expect(await confirm.textContent()).toContain(id);
      await expectAccessible(page, 'revoke token dialog');
      expect(await focused(page)).toBe('delete-cancel');
      await page.keyboard.press('Tab');
      expect(await focused(page)).toBe('delete-confirm');
      await page.keyboard.press('Enter');
      await expect.poll(() => row.count(), { timeout: 10_000 }).toBe(0);
      expect((await c.api('GET', '/api/v1/sites', undefined, secret)).status).toBe(401);

      // Bootstrap tokens are listed, and deleted with a confirmation.
      const b = await c.api<{ id: string }>('POST', '/api/v1/bootstrap-tokens', { site: 'demo', description: 'to delete' });
      expect(b.status).toBe(201);
      await page.reload();
      const brow = page.getByTestId(`bootstrap-${b.body.id}`);
      await brow.waitFor({ timeout: 10_000 });
      expect(await brow.textContent()).toContain('to delete');
      await shot(page, '07-tokens');
      await brow.getByTestId('bootstrap-delete-open').click();
      await page.getByTestId('bootstrap-delete').waitFor();
      await expectAccessible(page, 'delete bootstrap token dialog');
      await page.getByTestId('bootstrap-delete').getByTestId('delete-confirm').click();
      await expect.poll(() => brow.count(), { timeout: 10_000 }).toBe(0);
      const left = await c.api<{ items: { id: string }[] }>('GET', '/api/v1/bootstrap-tokens');
      expect(left.body.items.map((x) => x.id)).not.toContain(b.body.id);
    });
  }, 90_000);

  it("shows a node's lite-apiserver as its agent reported it in its site's status", async () => {
    // A Kubernetes-mode node's agent reports its lite-apiserver under `node:<name>` in its Site's status.agents.
    const created = await c.api('PUT', '/api/v1/nodes/gw-lite', { spec: { site: 'demo', hostname: 'gw-lite' } });
    expect(created.status, JSON.stringify(created.body)).toBeLessThan(300);
    const since = new Date(Date.now() - 300_000).toISOString();
    const report = { state: 'offline', since, offlineSeconds: 300, outages: 2, cacheBytes: 3 * 1024 * 1024, cacheEntries: 42, hits: 17, misses: 1, lastError: 'dial tcp: connection refused' };
    const telemetry = { stream: 's1', streams: ['s1'], firstSeq: 1, lastSeq: 0, ackedSeq: 0, pending: 0, droppedEver: 0, notStored: 0 };
    const agentReport = { health: { state: 'ok', problems: [] }, telemetry };
    const put = async (): Promise<number> => {
      const site = await c.api<{ status?: { agents?: Record<string, unknown> } }>('GET', '/api/v1/sites/demo');
      const status = { ...site.body.status, agents: { ...site.body.status?.agents, 'node:gw-lite': { ...agentReport, liteApiserver: report, reportedAt: new Date().toISOString() } } };
      const r = await c.api('PUT', '/api/v1/sites/demo/status', { status });
      if (r.status !== 200) throw new Error(`site status: ${r.status} ${JSON.stringify(r.body)}`);
      return r.status;
    };
    expect(await put()).toBe(200);
    await c.withConsole('laptop', async (page) => {
      await c.logIn(page);
      await page.goto(new URL('#/nodes/gw-lite', c.url).href);
      await page.getByTestId('node-detail-gw-lite').waitFor();
      const lite = page.getByTestId('node-lite');
      // The hub may write the site's status in between (its agent's own entry): put the report back until it shows.
      await waitFor('the lite-apiserver report on the node page', async () => ((await lite.textContent()) ?? '').includes('offline') || (await put(), false), 20_000, 1000);
      const shown = (await lite.textContent()) ?? '';
      expect(shown).toContain('answers its components from its cache');
      expect(shown).toContain('3.0 MiB in 42 entries; 17 answered offline, 1 not cached');
      expect(shown).toContain('2 (300 s offline in all); last error: dial tcp: connection refused');
      await shot(page, '09-node-lite-apiserver');
      await expectAccessible(page, 'node page with lite-apiserver');
    });
    expect((await c.api('DELETE', '/api/v1/nodes/gw-lite')).status).toBe(200);
  }, 60_000);

  it('gives a viewer no write buttons and no token page', async () => {
    const viewer = await c.api<{ token: string }>('POST', '/api/v1/tokens', { role: 'viewer', description: 'console-sites viewer' });
    expect(viewer.status).toBe(201);
    await c.withConsole('tablet', async (page) => {
      await c.logIn(page, viewer.body.token);
      expect(await page.getByTestId('nav-tokens').count()).toBe(0);
      await page.getByTestId('nav-sites').click();
      await page.getByTestId('site-demo').waitFor({ timeout: 20_000 });
      expect(await page.getByTestId('site-create-open').count()).toBe(0);
      await page.goto(new URL('#/sites/demo', c.url).href);
      await page.getByTestId('site-detail-demo').waitFor();
      expect(await page.getByTestId('add-node-open').count()).toBe(0);
      expect(await page.getByTestId('site-delete-open').count()).toBe(0);
      await page.goto(new URL('#/nodes/demo-gw', c.url).href);
      await page.getByTestId('node-detail-demo-gw').waitFor();
      await expect.poll(() => text(page, 'node-detail-connected'), { timeout: 20_000 }).toBe('connected');
      expect(await page.getByTestId('node-delete-open').count()).toBe(0);
      expect(await text(page, 'node-ssh-command')).toBe(`edgeadm ssh demo-gw --hub ${origin}`);
      await page.getByTestId('host-keys').waitFor();
      await shot(page, '08-node-page-viewer');
      await expectAccessible(page, 'node page (viewer)');
      await page.goto(new URL('#/tokens', c.url).href);
      expect(await text(page, 'tokens-admins-only')).toContain('admins only');
      expect(await page.getByTestId('token-create-open').count()).toBe(0);
      await expectAccessible(page, 'tokens (viewer)');
    });
  }, 60_000);
});
