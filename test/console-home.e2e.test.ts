/**
 * The console's home page in Chromium against `edgeadm demo`: all clear
 * while the demo runs as it should; then problems caused through the API
 * (a site cut off, a device down with its cause, a device down at that
 * offline site, which is unknown rather than down, a failed addon instance,
 * a pending device, a node its peers vote unhealthy, a full disk an agent
 * reports) each listed with a link to its page, reached by mouse and by
 * keyboard; all clear again once they are gone. Screenshots land in
 * test-artifacts/console-home/.
 */
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccessible, startDemoConsole, type DemoConsole } from './support/console-page.ts';

let c: DemoConsole;

beforeAll(async () => {
  c = await startDemoConsole('console-home');
}, 90_000);

afterAll(async () => {
  await c?.close();
}, 30_000);

const API = 'edgeadm.io/v1alpha1';
const T_CUT = '2026-01-02T03:04:05.000Z';
const T_VOTE = '2026-01-02T04:00:00.000Z';
const now = (): string => new Date().toISOString();

async function ok(method: string, p: string, body?: unknown): Promise<void> {
  const r = await c.api(method, p, body);
  expect(r.status, `${method} ${p}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
}

/** Sites without an agent, so nothing but this test writes their status: `far` (online by its record) and `cut` (offline). */
async function causeProblems(): Promise<void> {
  await ok('PUT', '/api/v1/sites/far', { metadata: { name: 'far' }, spec: {} });
  await ok('PUT', '/api/v1/sites/cut', { metadata: { name: 'cut' }, spec: {} });
  await ok('PUT', '/api/v1/sites/cut/status', { status: { phase: 'Offline', lastSeen: T_CUT, message: 'agent connection lost' } });
  await ok('PUT', '/api/v1/sites/far/status', {
    status: {
      phase: 'Online',
      lastSeen: now(),
      agents: {
        'node:gw-far-1': {
          health: { state: 'degraded', problems: [{ component: 'outbox', code: 'EDGE_ERR_TELEMETRY_DISK_FULL', message: 'no space left on device', since: T_VOTE }] },
          telemetry: { stream: 's1', streams: ['s1'], firstSeq: 1, lastSeq: 9, ackedSeq: 9, pending: 0, droppedEver: 0, notStored: 4 },
          reportedAt: now(),
        },
      },
    },
  });
  const device = (name: string, site: string) => ({
    apiVersion: API,
    kind: 'Device',
    metadata: { name },
    spec: { site, profile: 'demo-energy-meter', protocols: { 'modbus-tcp': { Address: '127.0.0.1', Port: '1', UnitID: '1' } } },
  });
  await ok('PUT', '/api/v1/devices/pump-far', device('pump-far', 'far'));
  await ok('PUT', '/api/v1/devices/pump-far/status', { status: { operatingState: 'DOWN', message: 'EDGE_ERR_MODBUS_CONNECT connect ECONNREFUSED 127.0.0.1:1' } });
  await ok('PUT', '/api/v1/devices/pump-cut', device('pump-cut', 'cut'));
  await ok('PUT', '/api/v1/devices/pump-cut/status', { status: { operatingState: 'DOWN', message: 'timeout' } });
  await ok('PUT', '/api/v1/addons/meters-far', { metadata: { name: 'meters-far' }, spec: { plugin: 'edgeadm.modbus', sites: ['far'] } });
  await ok('PUT', '/api/v1/addons/meters-far/status', { status: { sites: { far: { state: 'failed', code: 'EDGE_ERR_PLUGIN_START', message: 'listen EADDRINUSE 0.0.0.0:502' } } } });
  await ok('POST', '/api/v1/pendingdevices', {
    metadata: { name: 'sensor-far' },
    spec: {
      site: 'far',
      source: 'announce',
      identifier: 'sensor-far',
      suggestedName: 'sensor-far',
      protocolName: 'mqtt',
      protocol: { topic: 'edgeadm/announce/sensor-far' },
      profile: { deviceResources: [{ name: 'temperature', properties: { valueType: 'Float64', readWrite: 'R' } }] },
      firstSeen: now(),
      lastSeen: now(),
    },
  });
  await ok('PUT', '/api/v1/nodes/gw-far-2', { metadata: { name: 'gw-far-2' }, spec: { site: 'far' } });
  await ok('PUT', '/api/v1/nodes/gw-far-2/status', {
    status: { connected: false, health: { node: 'gw-far-2', verdict: 'unhealthy', pros: 0, cons: 2, expected: 2, since: T_VOTE, reportedBy: 'node:gw-far-1', reportedAt: now() } },
  });
}

async function clearProblems(): Promise<void> {
  for (const p of ['/api/v1/pendingdevices/sensor-far', '/api/v1/addons/meters-far', '/api/v1/devices/pump-far', '/api/v1/devices/pump-cut', '/api/v1/nodes/gw-far-2', '/api/v1/sites/far', '/api/v1/sites/cut']) {
    const r = await c.api('DELETE', p);
    expect([200, 404], `DELETE ${p}: ${JSON.stringify(r.body)}`).toContain(r.status);
  }
}

/** Tabs from the top of the page until `testid` has the focus (it must be reachable by keyboard). */
async function tabTo(page: Page, testid: string): Promise<void> {
  await page.locator('body').focus();
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    if ((await page.evaluate("document.activeElement?.getAttribute('data-testid')")) === testid) return;
  }
  throw new Error(`${testid} never took the focus by Tab`);
}

const allClear = (page: Page) => page.getByTestId('home-all-clear');

describe('console home page (Chromium against edgeadm demo)', () => {
  it('is all clear while the demo runs as it should, with its counts; then lists each problem caused, linking to its page', async () => {
    await c.withConsole('laptop', async (page) => {
      await c.logIn(page);
      await page.getByTestId('nav-home').click();
      await page.getByTestId('home-ready').waitFor();
      // The demo's site, node, devices and addons come up: nothing needs attention.
      await expect.poll(() => allClear(page).isVisible(), { timeout: 30_000 }).toBe(true);
      await expect.poll(() => page.getByTestId('count-sites').innerText(), { timeout: 30_000 }).toMatch(/^1\s*\/\s*1\s+sites online$/);
      expect(await page.getByTestId('count-pending').innerText()).toMatch(/^0\s+pending approvals$/);
      await page.screenshot({ path: path.join(c.shots, '01-home-all-clear.png'), fullPage: true });
      await expectAccessible(page, 'home (all clear)');

      await causeProblems();
      try {
        // The page keeps itself fresh from the watch stream's changes: no reload.
        const siteLink = page.getByTestId('problem-site-cut');
        await expect.poll(() => siteLink.isVisible(), { timeout: 20_000 }).toBe(true);
        await expect.poll(() => page.getByTestId('problem-device-pump-far').isVisible(), { timeout: 20_000 }).toBe(true);
        expect(await allClear(page).count()).toBe(0);

        // Each problem, most severe first, with its cause, linking to its page.
        const sections = await page.locator('section.home-problems').evaluateAll((els) => els.map((e) => (e as { getAttribute(name: string): string | null }).getAttribute('data-testid')));
        expect(sections).toEqual(['home-sites-offline', 'home-nodes-unhealthy', 'home-agent-problems', 'home-devices-down', 'home-addons-failed', 'home-pending']);
        const links: [string, string][] = [
          ['problem-site-cut', '#/sites/cut'],
          ['problem-node-gw-far-2', '#/nodes/gw-far-2'],
          ['problem-agent-far-outbox', '#/sites/far'],
          ['problem-device-pump-far', '#/devices/pump-far'],
          ['problem-addon-meters-far-far', '#/addons/meters-far'],
          ['problem-pending-sensor-far', '#/pending'],
        ];
        for (const [testid, href] of links) await expect.poll(() => page.getByTestId(testid).getAttribute('href'), { timeout: 20_000 }).toBe(href);
        expect(await page.getByTestId('home-sites-offline').innerText()).toContain('agent connection lost');
        expect(await page.getByTestId('problem-device-pump-far-cause').innerText()).toBe('connect ECONNREFUSED 127.0.0.1:1');
        expect(await page.getByTestId('problem-device-pump-far-cause').getAttribute('title')).toBe('EDGE_ERR_MODBUS_CONNECT connect ECONNREFUSED 127.0.0.1:1');
        expect(await page.getByTestId('home-nodes-unhealthy').innerText()).toContain('down: 2 of 2 peers vote unhealthy');
        expect(await page.getByTestId('home-agent-problems').innerText()).toContain('outbox: no space left on device');
        expect(await page.getByTestId('home-addons-failed').innerText()).toContain('failed: listen EADDRINUSE 0.0.0.0:502');
        // A device at the offline site is unknown, not down.
        expect(await page.getByTestId('problem-device-pump-cut').count()).toBe(0);
        expect(await page.getByTestId('home-devices-down-total').innerText()).toBe('1');
        await expect.poll(() => page.getByTestId('count-devices').innerText()).toMatch(/1 down, 1 unknown/);
        expect(await page.getByTestId('count-sites').innerText()).toMatch(/^2\s*\/\s*3\s+sites online\s+1 offline$/);
        expect(await page.getByTestId('count-pending').innerText()).toMatch(/^1\s+pending approvals$/);
        await page.screenshot({ path: path.join(c.shots, '02-home-problems.png'), fullPage: true });
        await expectAccessible(page, 'home (problems)');

        // By mouse: the addon's page.
        await page.getByTestId('problem-addon-meters-far-far').click();
        await expect.poll(() => page.evaluate('location.hash')).toBe('#/addons/meters-far');
        await page.goBack();
        await page.getByTestId('home-ready').waitFor();

        // By keyboard: Tab to the device down, Enter opens its page.
        await tabTo(page, 'problem-device-pump-far');
        await page.keyboard.press('Enter');
        await expect.poll(() => page.evaluate('location.hash')).toBe('#/devices/pump-far');
        await page.getByTestId('device-detail').waitFor();
        await page.screenshot({ path: path.join(c.shots, '03-device-from-home.png'), fullPage: true });
        await page.goBack();
        await page.getByTestId('home-ready').waitFor();
        await tabTo(page, 'problem-site-cut');
        await page.keyboard.press('Enter');
        await expect.poll(() => page.evaluate('location.hash')).toBe('#/sites/cut');
        await page.goBack();
        await page.getByTestId('home-ready').waitFor();
      } finally {
        await clearProblems();
      }
      // Gone again: all clear.
      await expect.poll(() => allClear(page).isVisible(), { timeout: 20_000 }).toBe(true);
      await page.screenshot({ path: path.join(c.shots, '04-home-clear-again.png'), fullPage: true });
    });
  }, 180_000);

  it('shows a viewer the same overview, and the hub refuses it to no one but operators', async () => {
    const viewer = await c.api<{ token: string }>('POST', '/api/v1/tokens', { role: 'viewer', description: 'home e2e' });
    expect(viewer.status).toBe(201);
    await causeProblems();
    try {
      await c.withConsole('tablet', async (page) => {
        await c.logIn(page, viewer.body.token);
        await page.getByTestId('nav-home').click();
        await expect.poll(() => page.getByTestId('problem-device-pump-far').isVisible(), { timeout: 20_000 }).toBe(true);
        await page.screenshot({ path: path.join(c.shots, '05-home-viewer-tablet.png'), fullPage: true });
        await expectAccessible(page, 'home (viewer, tablet)');
      });
      const agent = await c.api<{ token: string }>('POST', '/api/v1/tokens', { role: 'agent', site: 'far' });
      expect(agent.status).toBe(201);
      expect((await c.api('GET', '/api/v1/overview', undefined, agent.body.token)).status).toBe(403);
      expect((await c.api('GET', '/api/v1/overview', undefined, viewer.body.token)).status).toBe(200);
    } finally {
      await clearProblems();
    }
  }, 120_000);
});
