/**
 * The web console in a real browser (Debian's headless Chromium driven by
 * playwright-core) against `edgeadm demo`, as an operator uses it: log in
 * with the admin token; watch the demo site's readings change; approve a
 * device that announced itself on the site broker; write a setpoint and see
 * the value the meter reports back; a second site whose agent is killed
 * turns Offline. Screenshots of each step, on a laptop-sized and a
 * tablet-sized window, land in test-artifacts/console/.
 */
import path from 'node:path';
import { connectAsync } from 'mqtt';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccessible, startDemoConsole, type DemoConsole } from './support/console-page.ts';
import type { Background } from './support/edgeadm-cli.ts';
import { waitFor } from './support/hub-fixture.ts';

let c: DemoConsole;
let consoleUrl: string;
let brokerUrl: string;
let token: string;
let shots: string;

beforeAll(async () => {
  c = await startDemoConsole('console');
  ({ url: consoleUrl, brokerUrl, token, shots } = c);
}, 90_000);

afterAll(async () => {
  await c?.close();
}, 30_000);

const api = <T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> => c.api<T>(method, p, body);
const withConsole: DemoConsole['withConsole'] = (viewport, fn) => c.withConsole(viewport, fn);
const logIn: DemoConsole['logIn'] = (page, as) => c.logIn(page, as);

describe('web console (Chromium against edgeadm demo)', () => {
  it('refuses a wrong token with the coded error, then logs in with the admin token; the cookie carries no token', async () => {
    await withConsole('laptop', async (page) => {
      await page.getByTestId('login-token').fill('edgeadm_aaaaaaaa_not-a-real-secret');
      await page.getByTestId('login-submit').click();
      await expect.poll(() => page.getByTestId('login-error').textContent(), { timeout: 10_000 }).toContain('EDGE_ERR_HUB_UNAUTHENTICATED');
      await page.screenshot({ path: path.join(shots, '01-login-refused.png') });
      await expectAccessible(page, 'login');
      await logIn(page);
      await page.getByTestId('nav-sites').click();
      const cookies = await page.context().cookies();
      expect(cookies).toHaveLength(1);
      expect(cookies[0]).toMatchObject({ name: '__Host-edgeadm_console', httpOnly: true, secure: true, sameSite: 'Strict' });
      // The token's secret is everything after `edgeadm_<id>_` (it may itself hold '_').
      const secret = token.split('_').slice(2).join('_');
      expect(secret.length).toBeGreaterThan(16);
      expect(cookies[0]?.value).not.toContain(secret);
      expect(await page.evaluate('document.cookie')).toBe('');
      // The demo site shows up connected.
      const site = page.getByTestId('site-demo');
      await expect.poll(() => site.getByTestId('site-phase').textContent(), { timeout: 20_000 }).toBe('Online');
      // Its agent's process, as it reported it (the demo's process also runs the hub).
      await expect.poll(() => site.getByTestId('site-agent-process').textContent(), { timeout: 20_000 }).toMatch(/^[1-9]\d* MiB, \d+(\.\d)?% CPU$/);
      await page.screenshot({ path: path.join(shots, '02-sites-laptop.png'), fullPage: true });
      await expectAccessible(page, 'sites');
      // Every demo addon runs at the demo site; the demo node is connected through its tunnel.
      await page.getByTestId('nav-addons').click();
      for (const addon of ['simulator', 'modbus', 'opcua', 'mqtt']) {
        await expect.poll(() => page.getByTestId(`addon-${addon}-demo`).textContent(), { timeout: 20_000 }).toMatch(/^running$/i);
      }
      expect(await page.getByTestId('addon-simulator-runs').textContent()).toBe('site agent');
      // An Addon a hub on Kubernetes runs as grids: shown so, with how far the site's workloads are.
      const grid = await api('PUT', '/api/v1/addons/web', { metadata: { name: 'web', annotations: { 'grid.edgeadm.io/runs-as-grid': 'true' } }, spec: { plugin: 'example.web', sites: ['demo'] } });
      expect(grid.status, JSON.stringify(grid.body)).toBeLessThan(300);
      const put = await api('PUT', '/api/v1/addons/web/status', { status: { sites: { demo: { state: 'starting', message: 'web-srv: 0/1 ready' } } } });
      expect(put.status, JSON.stringify(put.body)).toBe(200);
      try {
        await expect.poll(() => page.getByTestId('addon-web-runs').textContent(), { timeout: 10_000 }).toBe('grids');
        await expect.poll(() => page.getByTestId('addon-web-demo-cause').textContent(), { timeout: 10_000 }).toBe('web-srv: 0/1 ready');
        await page.screenshot({ path: path.join(shots, '02-addons-laptop.png'), fullPage: true });
        await expectAccessible(page, 'addons');
      } finally {
        expect((await api('DELETE', '/api/v1/addons/web')).status).toBeLessThan(300);
      }
      await page.getByTestId('nav-nodes').click();
      await expect.poll(() => page.getByTestId('node-demo-gw').getByTestId('node-connected').textContent(), { timeout: 20_000 }).toBe('connected');
      await expectAccessible(page, 'nodes');
      // The site as a unit of the grid.
      await page.goto(new URL('#/sites/demo', consoleUrl).href);
      await expect.poll(() => page.getByTestId('site-unit').textContent(), { timeout: 10_000 }).toBe('1/1 nodes connected');
      await page.screenshot({ path: path.join(shots, '02-nodes-laptop.png'), fullPage: true });
      await expectAccessible(page, 'site detail');
    });
  }, 60_000);

  for (const viewport of ['laptop', 'tablet'] as const) {
    it(`shows the demo devices' readings changing live (${viewport})`, async () => {
      await withConsole(viewport, async (page) => {
        await logIn(page);
        await page.getByTestId('nav-devices').click();
        const row = page.getByTestId('device-meter-1');
        await row.waitFor({ timeout: 20_000 });
        await expect.poll(() => row.getByTestId('device-state').textContent(), { timeout: 20_000 }).toContain('UP');
        const stamp = async (): Promise<string | null> => row.getAttribute('data-updated');
        await expect.poll(stamp, { timeout: 20_000 }).toMatch(/^\d+$/);
        // The first reading shown may be another resource's (the setpoint's reported value): wait for the voltage's.
        await expect.poll(() => row.getByTestId('value-voltage').textContent(), { timeout: 20_000 }).toMatch(/^2[0-9]{2}(\.\d+)? V$/);
        const first = await stamp();
        // A newer reading replaces it (the meter is read every second).
        await expect.poll(async () => BigInt((await stamp()) ?? '0') > BigInt(first ?? '0'), { timeout: 20_000 }).toBe(true);
        for (const device of ['sim-1', 'sim-2', 'press-1', 'plug-1']) {
          await expect.poll(() => page.getByTestId(`device-${device}`).getAttribute('data-updated'), { timeout: 20_000 }).toMatch(/^\d+$/);
        }
        await page.screenshot({ path: path.join(shots, `03-devices-${viewport}.png`), fullPage: true });
        await expectAccessible(page, 'devices');
        // The device page draws charts from history plus live readings.
        await row.getByText('meter-1', { exact: true }).first().click();
        await page.getByTestId('device-detail').waitFor();
        const voltage = page.getByTestId('resource-voltage');
        const before = await voltage.getByTestId('resource-value').textContent();
        await expect.poll(async () => (await voltage.locator('canvas').count()) > 0, { timeout: 10_000 }).toBe(true);
        await expect.poll(() => voltage.getByTestId('resource-value').textContent(), { timeout: 20_000 }).not.toBe(before);
        await page.screenshot({ path: path.join(shots, `04-device-meter-1-${viewport}.png`), fullPage: true });
        await expectAccessible(page, 'device detail');
      });
    }, 90_000);
  }

  it('writes a setpoint through the dialog and shows the value the meter reports back', async () => {
    await withConsole('laptop', async (page) => {
      await logIn(page);
      await page.goto(`${consoleUrl}#/devices/meter-1`);
      await page.getByTestId('device-detail').waitFor();
      // Out of the profile's range (200..250): refused by the hub, naming the field.
      await page.getByTestId('write-setpoint').click();
      const dialog = page.getByTestId('write-dialog');
      await dialog.getByTestId('write-value').fill('999');
      await dialog.getByTestId('write-submit').click();
      await expect.poll(() => dialog.getByTestId('write-error').textContent(), { timeout: 10_000 }).toMatch(/value/);
      await page.screenshot({ path: path.join(shots, '05-write-refused.png') });
      await expectAccessible(page, 'write dialog');
      await dialog.getByTestId('write-value').fill('231.5');
      await dialog.getByTestId('write-submit').click();
      await expect.poll(() => dialog.getByTestId('write-state').textContent(), { timeout: 30_000 }).toContain('succeeded');
      await expect.poll(() => dialog.getByTestId('write-reported').textContent(), { timeout: 5_000 }).toBe('reported: 231.5');
      await page.screenshot({ path: path.join(shots, '06-write-reported.png') });
      // The device itself reads it back.
      const meter = await api<{ status?: { reported?: Record<string, { value: unknown }> } }>('GET', '/api/v1/devices/meter-1');
      expect(meter.body.status?.reported?.setpoint?.value).toBe(231.5);
      await dialog.getByTestId('write-close').click();
      await expect.poll(() => page.getByTestId('resource-setpoint').getByTestId('resource-value').textContent(), { timeout: 20_000 }).toContain('231.5');
    });
  }, 90_000);

  it('approves a device that announced itself on the site broker; it then runs and reports', async () => {
    await withConsole('tablet', async (page) => {
      await logIn(page);
      // A gateway login at the demo site, and its announcement of a flow meter.
      const login = await api<{ password: string }>('POST', '/api/v1/sites/demo/broker-credentials', { username: 'gw-1', publish: ['plant/flow-7/#'] });
      expect(login.status, JSON.stringify(login.body)).toBe(201);
      const gw = await connectAsync(brokerUrl, { clientId: 'gw-1', username: 'gw-1', password: login.body.password, reconnectPeriod: 0 });
      try {
        const announce = {
          id: 'flow-7',
          name: 'Flow meter 7',
          manufacturer: 'Acme',
          model: 'FM-2',
          topic: 'plant/flow-7',
          resources: [{ name: 'flow', valueType: 'Float64', units: 'l/min', payload: 'number' }],
        };
        await gw.publishAsync('edgeadm/announce/flow-7', JSON.stringify(announce), { qos: 1 });
        await page.getByTestId('nav-pending').click();
        const pendingName = await waitFor(
          'the pending device',
          async () => (await api<{ items: { metadata: { name: string }; spec: { identifier: string } }[] }>('GET', '/api/v1/pendingdevices')).body.items.find((p) => p.spec.identifier === 'flow-7')?.metadata.name,
          30_000,
          200,
        );
        const row = page.getByTestId(`pending-${pendingName}`);
        await row.waitFor({ timeout: 20_000 });
        await page.screenshot({ path: path.join(shots, '07-pending.png'), fullPage: true });
        await expectAccessible(page, 'pending');
        await page.getByTestId(`approve-${pendingName}`).click();
        await page.getByTestId('approve-name').fill('flow-7');
        await page.getByTestId('approve-confirm').click();
        await expect.poll(async () => (await api<{ status?: { phase?: string } }>('GET', `/api/v1/pendingdevices/${pendingName}`)).body.status?.phase, { timeout: 20_000 }).toBe('Approved');
        await expect.poll(() => page.getByTestId('pending-decided').textContent(), { timeout: 10_000 }).toContain('flow-7');
        await page.screenshot({ path: path.join(shots, '08-approved.png'), fullPage: true });

        // The approved device runs at the site: its readings reach the console.
        await page.getByTestId('nav-devices').click();
        const device = page.getByTestId('device-flow-7');
        await device.waitFor({ timeout: 20_000 });
        let flow = 11.5;
        await waitFor(
          'a flow reading in the console',
          async () => {
            flow += 0.5;
            await gw.publishAsync('plant/flow-7/flow', String(flow), { qos: 1 });
            const text = await device.getByTestId('value-flow').textContent();
            return text !== null && /\d/.test(text) ? text : undefined;
          },
          30_000,
          500,
        );
        expect(await device.getByTestId('value-flow').textContent()).toMatch(/^1[1-9](\.\d+)? l\/min$/);
        await page.screenshot({ path: path.join(shots, '09-approved-device-live.png'), fullPage: true });
      } finally {
        await gw.endAsync(true);
      }
    });
  }, 120_000);

  it('lets a viewer look but not write; revoking its token logs the console out; logging out ends the session', async () => {
    const viewer = await api<{ id: string; token: string }>('POST', '/api/v1/tokens', { role: 'viewer', description: 'console test' });
    expect(viewer.status).toBe(201);
    await withConsole('tablet', async (page) => {
      await logIn(page, viewer.body.token);
      // flow-7 (approved above) reports only when the test publishes: its last value shows at once all the same.
      await page.getByTestId('nav-devices').click();
      await expect.poll(() => page.getByTestId('device-flow-7').getByTestId('value-flow').textContent(), { timeout: 10_000 }).toMatch(/^1[1-9](\.\d+)? l\/min$/);
      await page.goto(`${consoleUrl}#/devices/meter-1`);
      await page.getByTestId('device-detail').waitFor();
      await expect.poll(() => page.getByTestId('resource-setpoint').getByTestId('resource-value').textContent(), { timeout: 20_000 }).toMatch(/\d/);
      expect(await page.getByTestId('write-setpoint').count()).toBe(0);
      expect(await page.getByTestId('write-voltage').count()).toBe(0);
      // The API refuses a viewer's write even with the session's CSRF value.
      const refused = await page.evaluate(`(async () => {
        const s = await (await fetch('/api/v1/console/session')).json();
        const r = await fetch('/api/v1/sites/demo/devices/meter-1/commands', { method: 'POST', headers: { 'content-type': 'application/json', 'x-edgeadm-csrf': s.csrf }, body: JSON.stringify({ resource: 'setpoint', value: 230 }) });
        return [r.status, (await r.json()).code];
      })()`);
      expect(refused).toEqual([403, 'EDGE_ERR_HUB_FORBIDDEN']);
      await page.screenshot({ path: path.join(shots, '12-viewer-device.png'), fullPage: true });

      // Revoked: the open streams end within a heartbeat and the console asks for a login again.
      expect((await api('DELETE', `/api/v1/tokens/${viewer.body.id}`)).status).toBe(204);
      await page.getByTestId('login-token').waitFor({ timeout: 40_000 });
      expect(await page.getByRole('status').textContent()).toContain('Session ended');
      await page.screenshot({ path: path.join(shots, '13-session-ended.png') });

      // Logging out ends the session on the hub, not only in the page.
      await logIn(page);
      const cookie = (await page.context().cookies())[0]?.value ?? '';
      await page.getByTestId('logout').click();
      await page.getByTestId('login-token').waitFor();
      const after = await fetch(new URL('/api/v1/console/session', consoleUrl), { dispatcher: c.dispatcher, headers: { cookie: `__Host-edgeadm_console=${cookie}` } });
      expect(after.status).toBe(401);
    });
  }, 90_000);

  it('shows a site as Offline when its agent is killed, how it and its node stand by the peers\' vote, and Online again when it comes back', async () => {
    await withConsole('laptop', async (page) => {
      await logIn(page);
      await page.getByTestId('nav-sites').click();
      expect((await api('POST', '/api/v1/sites', { metadata: { name: 'branch' }, spec: { displayName: 'Branch office' } })).status).toBe(201);
      // Its node joins as any edge node does, and reaches the hub only through its tunnel.
      const { run: runAgent } = await c.joinNode('branch', 'branch-gw');
      const run = (): Background => runAgent(['--no-broker']);
      let agent = run();
      const site = page.getByTestId('site-branch');
      await site.waitFor({ timeout: 20_000 });
      await expect.poll(() => site.getByTestId('site-phase').textContent(), { timeout: 30_000 }).toBe('Online');
      await page.screenshot({ path: path.join(shots, '10-branch-online.png'), fullPage: true });
      await page.getByTestId('nav-nodes').click();
      const node = page.getByTestId('node-branch-gw');
      await expect.poll(() => node.getByTestId('node-connected').textContent(), { timeout: 30_000 }).toBe('connected');
      await page.getByTestId('nav-sites').click();

      // Power loss, as far as the hub can tell: no goodbye.
      agent.child.kill('SIGKILL');
      await expect.poll(() => site.getByTestId('site-phase').textContent(), { timeout: 30_000 }).toBe('Offline');
      expect(await site.getByTestId('site-health').textContent()).toMatch(/offline/i);
      await page.screenshot({ path: path.join(shots, '11-branch-offline.png'), fullPage: true });
      await page.getByTestId('nav-nodes').click();
      await expect.poll(() => node.getByTestId('node-connected').textContent(), { timeout: 30_000 }).toBe('disconnected');
      expect(await node.getByTestId('node-standing').textContent()).toBe('disconnected');
      // What the hub records from the site's peers' votes (core/health): first healthy, then down.
      const vote = async (verdict: 'healthy' | 'unhealthy'): Promise<void> => {
        const at = new Date().toISOString();
        const health = { verdict, pros: verdict === 'healthy' ? 2 : 0, cons: verdict === 'unhealthy' ? 2 : 0, expected: 2, since: at, votedAt: at, reportedBy: 'node:branch-gw2', reportedAt: at };
        const cur = await api<{ status?: Record<string, unknown> }>('GET', '/api/v1/nodes/branch-gw');
        expect((await api('PUT', '/api/v1/nodes/branch-gw/status', { status: { ...(cur.body.status ?? {}), health } })).status).toBe(200);
      };
      await vote('healthy');
      await expect.poll(() => node.getByTestId('node-standing').textContent(), { timeout: 10_000 }).toBe('disconnected, peers vote healthy');
      expect(await node.getByTestId('node-vote').textContent()).toMatch(/healthy\s*2\/2/);
      await page.getByTestId('nav-sites').click();
      await expect.poll(() => site.getByTestId('site-standing').textContent(), { timeout: 10_000 }).toBe('site disconnected, nodes healthy');
      await vote('unhealthy');
      await expect.poll(() => site.getByTestId('site-standing').textContent(), { timeout: 10_000 }).toBe('site disconnected, node down: branch-gw');
      await page.getByTestId('nav-nodes').click();
      await expect.poll(() => node.getByTestId('node-standing').textContent(), { timeout: 10_000 }).toBe('down');
      await page.screenshot({ path: path.join(shots, '12-branch-node-down.png'), fullPage: true });
      await page.getByTestId('nav-sites').click();

      agent = run();
      await expect.poll(() => site.getByTestId('site-phase').textContent(), { timeout: 30_000 }).toBe('Online');
    });
  }, 120_000);
});
