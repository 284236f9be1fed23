/**
 * The console's addons pages in a real browser against `edgeadm demo`: a
 * second site with its own agent; an admin adds an Addon of the mqtt plugin
 * there from the form (a config value from the plugin's schema), sees the
 * hub's problems at their fields (a bad version range, a plugin another
 * Addon already runs at a site), sees its instance reach running on the
 * addon's page, edits it with a per-site override, and removes it through
 * the confirmation by keyboard; without the hub's plugin list the plugin id
 * and its config (JSON) are typed; a viewer sees no write buttons.
 * Screenshots land in test-artifacts/console-addons/.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccessible, startDemoConsole, type DemoConsole } from './support/console-page.ts';

let c: DemoConsole;

beforeAll(async () => {
  c = await startDemoConsole('console-addons');
}, 90_000);

afterAll(async () => {
  await c?.close();
}, 30_000);

interface AddonBody {
  metadata: { name: string };
  spec: { plugin: string; version?: string; sites?: string[]; siteSelector?: Record<string, string>; config?: Record<string, unknown>; templates?: Record<string, unknown> };
  status?: { sites?: Record<string, { state: string }> };
}

/** A second site, `branch`, whose agent joins as any edge node does and runs its own broker. */
async function startBranch(): Promise<void> {
  expect((await c.api('POST', '/api/v1/sites', { metadata: { name: 'branch', labels: { tier: 'branch' } }, spec: { displayName: 'Branch office' } })).status).toBe(201);
  const { run } = await c.joinNode('branch', 'branch-gw');
  run(['--broker-port', '0']);
  await expect.poll(async () => (await c.api<{ status?: { phase?: string } }>('GET', '/api/v1/sites/branch')).body.status?.phase, { timeout: 30_000 }).toBe('Online');
}

describe('console addons pages (Chromium against edgeadm demo)', () => {
  it('adds an addon at a second site from the form, shows the hub\'s problems at their fields, edits it, and removes it by keyboard', async () => {
    await startBranch();
    const addons = await c.api<{ items: AddonBody[] }>('GET', '/api/v1/addons');
    const demoMqtt = addons.body.items.find((a) => a.spec.plugin === 'mqtt');
    expect(demoMqtt, 'the demo runs an mqtt addon').toBeDefined();

    await c.withConsole('laptop', async (page) => {
      await c.logIn(page);
      await page.getByTestId('nav-addons').click();
      const row = page.getByTestId(`addon-${demoMqtt!.metadata.name}`);
      await row.waitFor();
      await expectAccessible(page, 'addons');
      await page.screenshot({ path: path.join(c.shots, '01-addons.png'), fullPage: true });

      // The add form: the plugins the hub lists, the config form of the chosen one.
      await page.getByTestId('addon-add-open').click();
      const dialog = page.getByTestId('addon-form');
      await dialog.waitFor();
      await expect.poll(() => page.getByTestId('addon-plugin').locator('option').count(), { timeout: 10_000 }).toBeGreaterThan(1);
      await page.getByLabel('Name').fill('mqtt-branch');

      // A larger schema (the edgex plugin's): selects for enums and unions of literals, nested objects as
      // fieldsets, numbers with their range and default, a list, a record; defaults shown, not written.
      await page.getByTestId('addon-plugin').selectOption('edgex');
      const mode = page.locator('#addon-config-mode');
      expect(await page.locator('select#addon-config-mode').count()).toBe(1);
      expect(await mode.locator('option').allTextContents()).toEqual(['(default: embedded)', 'embedded', 'bridge']);
      expect(await page.locator('#addon-config-qos option').allTextContents()).toEqual(['(default: 0)', '0', '1']);
      const metadataPort = page.getByLabel('metadata', { exact: true });
      expect(await metadataPort.getAttribute('placeholder')).toBe('59881');
      expect(await metadataPort.inputValue()).toBe('');
      expect(await page.locator('#addon-config-rest-ports-metadata-hint').textContent()).toContain('0–65535');
      expect(await page.locator('fieldset[data-testid="addon-config-rest"] > legend').textContent()).toBe('rest');
      await page.getByRole('button', { name: 'Add commandLogins item' }).click();
      await page.getByLabel('commandLogins item 1', { exact: true }).fill('ops');
      await page.getByLabel('New key in serviceName.profiles').fill('meter');
      await page.getByLabel('New key in serviceName.profiles').press('Enter');
      await page.locator('#addon-config-serviceName-profiles-meter').fill('device-meter');
      await expectAccessible(page, 'add addon dialog (edgex config)');
      await page.screenshot({ path: path.join(c.shots, '02-add-addon-edgex-form.png'), fullPage: true });

      await page.getByTestId('addon-plugin').selectOption('mqtt');
      const enabled = page.locator('#addon-config-onboarding-enabled');
      // Unset, the default shows: onboarding is on.
      expect(await enabled.isChecked()).toBe(true);
      await enabled.uncheck();
      // By labels: the sites the selector picks now.
      await page.getByTestId('addon-where-selector').check();
      await page.getByLabel('New label key').fill('tier');
      await page.getByLabel('New label key').press('Enter');
      await page.locator('#addon-selector-tier').fill('branch');
      await expect.poll(() => page.getByTestId('addon-targets-now').textContent()).toBe('Now: branch.');
      await page.getByTestId('addon-where-all').check();
      await expect.poll(() => page.getByTestId('addon-targets-now').textContent()).toBe('Now: branch, demo.');
      await page.getByTestId('addon-where-sites').check();
      await expect.poll(() => page.getByTestId('addon-targets-now').textContent()).toBe('No site now.');
      await page.getByTestId('addon-target-branch').check();
      await expect.poll(() => page.getByTestId('addon-targets-now').textContent()).toBe('Now: branch.');
      await expectAccessible(page, 'add addon dialog');

      // A version that is no semver range: the hub's problem at the version field.
      await page.getByLabel('Version').fill('not a range');
      await page.getByTestId('addon-save').click();
      await expect.poll(() => page.getByTestId('addon-version-error').textContent(), { timeout: 10_000 }).toContain('semver range');
      expect(await page.getByLabel('Version').getAttribute('aria-invalid')).toBe('true');
      expect(await page.getByLabel('Version').getAttribute('aria-describedby')).toContain('addon-version-error');
      await page.screenshot({ path: path.join(c.shots, '03-add-addon-version-error.png'), fullPage: true });
      await expectAccessible(page, 'add addon dialog with a field error');

      // The demo site already runs the plugin: the conflict names the other addon.
      await page.getByLabel('Version').fill('');
      await page.getByTestId('addon-target-demo').check();
      await page.getByTestId('addon-save').click();
      await expect.poll(() => page.getByTestId('addon-form-error').textContent(), { timeout: 10_000 }).toContain(`Addon “${demoMqtt!.metadata.name}” already runs this plugin there`);
      expect(await page.getByTestId('addon-form-error').textContent()).toContain("site 'demo'");
      expect(await page.getByTestId('addon-version-error').count()).toBe(0);
      await page.screenshot({ path: path.join(c.shots, '04-add-addon-conflict.png'), fullPage: true });

      await page.getByTestId('addon-target-demo').uncheck();
      await page.getByTestId('addon-save').click();
      await page.getByTestId('addon-detail-mqtt-branch').waitFor({ timeout: 10_000 });
      expect(page.url()).toMatch(/#\/addons\/mqtt-branch$/);
      const stored = await c.api<AddonBody>('GET', '/api/v1/addons/mqtt-branch');
      expect(stored.body.spec).toEqual({ plugin: 'mqtt', sites: ['branch'], config: { onboarding: { enabled: false } } });

      // Its instance at the branch site comes up.
      await expect.poll(() => page.getByTestId('addon-site-branch-state').textContent(), { timeout: 60_000 }).toBe('running');
      expect(await page.getByTestId('addon-detail-targets').textContent()).toBe('sites branch');
      expect(JSON.parse((await page.getByTestId('addon-detail-config').textContent()) ?? '')).toEqual({ onboarding: { enabled: false } });
      await expectAccessible(page, 'addon detail');
      await page.screenshot({ path: path.join(c.shots, '05-addon-running.png'), fullPage: true });

      // Edit: the same form, filled in; an override for the branch site.
      await page.getByTestId('addon-edit-open').click();
      await dialog.waitFor();
      expect(await page.getByLabel('Name').inputValue()).toBe('mqtt-branch');
      expect(await page.getByLabel('Name').getAttribute('readonly')).not.toBeNull();
      await expect.poll(() => page.getByTestId('addon-plugin').inputValue()).toBe('mqtt');
      expect(await enabled.isChecked()).toBe(false);
      expect(await page.getByTestId('addon-target-branch').isChecked()).toBe(true);
      await page.getByTestId('addon-override-site').selectOption('branch');
      await page.getByTestId('addon-override-add').click();
      const overrideEnabled = page.locator('#addon-override-branch-onboarding-enabled');
      expect(await overrideEnabled.isChecked()).toBe(true);
      await overrideEnabled.uncheck();
      await overrideEnabled.check();
      await expectAccessible(page, 'edit addon dialog');
      await page.screenshot({ path: path.join(c.shots, '06-edit-addon.png'), fullPage: true });
      await page.getByTestId('addon-save').click();
      await dialog.waitFor({ state: 'detached', timeout: 10_000 });
      await expect
        .poll(async () => (await c.api<AddonBody>('GET', '/api/v1/addons/mqtt-branch')).body.spec.templates)
        .toEqual({ branch: { onboarding: { enabled: true } } });
      await page.getByTestId('addon-detail-override-branch').waitFor({ timeout: 10_000 });

      // Remove, by keyboard: the confirmation lists where it runs and how it stands there.
      await page.getByTestId('addon-remove-open').focus();
      await page.keyboard.press('Enter');
      const confirm = page.getByTestId('addon-remove');
      await confirm.waitFor();
      await expect.poll(() => confirm.getByTestId('addon-remove-sites').textContent()).toBe('branch: running');
      await expectAccessible(page, 'remove addon dialog');
      await page.screenshot({ path: path.join(c.shots, '07-remove-addon.png'), fullPage: true });
      // Cancel has the focus; the next stop removes.
      expect(await page.evaluate('document.activeElement?.dataset?.testid')).toBe('delete-cancel');
      await page.keyboard.press('Tab');
      expect(await page.evaluate('document.activeElement?.dataset?.testid')).toBe('delete-confirm');
      await page.keyboard.press('Enter');
      await page.getByTestId(`addon-${demoMqtt!.metadata.name}`).waitFor({ timeout: 10_000 });
      expect(page.url()).toMatch(/#\/addons$/);
      await expect.poll(() => page.getByTestId('addon-mqtt-branch').count(), { timeout: 10_000 }).toBe(0);
      expect((await c.api('GET', '/api/v1/addons/mqtt-branch')).status).toBe(404);
      await page.screenshot({ path: path.join(c.shots, '08-addon-removed.png'), fullPage: true });

      // A name in the table opens its page.
      await page.getByTestId(`addon-${demoMqtt!.metadata.name}-link`).click();
      await page.getByTestId(`addon-detail-${demoMqtt!.metadata.name}`).waitFor();
      await expect.poll(() => page.getByTestId('addon-site-demo-state').textContent(), { timeout: 20_000 }).toBe('running');
    });
  }, 180_000);

  it('says so when the hub cannot list its plugins, and takes the plugin id and its config as JSON', async () => {
    await c.withConsole('laptop', async (page) => {
      await page.route('**/api/v1/plugins', (route) =>
        route.fulfill({ status: 404, contentType: 'application/json', body: JSON.stringify({ code: 'EDGE_ERR_HUB_NOT_FOUND', message: 'no such route' }) }),
      );
      await c.logIn(page);
      await page.getByTestId('nav-addons').click();
      await page.getByTestId('addon-add-open').click();
      await expect.poll(() => page.getByTestId('addon-plugin-hint').textContent(), { timeout: 10_000 }).toContain('This hub cannot list its plugins');
      await page.getByLabel('Name').fill('mqtt-parked');
      await page.getByLabel('Plugin').fill('mqtt');
      const config = page.locator('textarea#addon-config');
      await config.fill('{"onboarding": {"enabled": fal');
      await expect.poll(() => page.getByTestId('addon-config-error').textContent()).toContain('not valid JSON');
      expect(await config.getAttribute('aria-invalid')).toBe('true');
      await expectAccessible(page, 'add addon dialog (no plugin list, JSON config)');
      await page.screenshot({ path: path.join(c.shots, '10-add-addon-json-config.png'), fullPage: true });
      await config.fill('{"onboarding": {"enabled": false}}');
      await expect.poll(() => page.getByTestId('addon-config-error').count()).toBe(0);
      // Chosen sites, none chosen: it runs nowhere yet.
      await page.getByTestId('addon-save').click();
      await page.getByTestId('addon-detail-mqtt-parked').waitFor({ timeout: 10_000 });
      expect(await page.getByTestId('addon-detail-targets').textContent()).toBe('no site');
    });
    const stored = await c.api<AddonBody>('GET', '/api/v1/addons/mqtt-parked');
    expect(stored.body.spec).toEqual({ plugin: 'mqtt', sites: [], config: { onboarding: { enabled: false } } });
    expect((await c.api('DELETE', '/api/v1/addons/mqtt-parked')).status).toBe(200);
    expect((await c.api('GET', '/api/v1/addons/mqtt-parked')).status).toBe(404);
  }, 60_000);

  it('shows a viewer the addons and their state, with no add, edit or remove', async () => {
    const viewer = await c.api<{ id: string; token: string }>('POST', '/api/v1/tokens', { role: 'viewer', description: 'console addons test' });
    expect(viewer.status).toBe(201);
    const addons = await c.api<{ items: AddonBody[] }>('GET', '/api/v1/addons');
    const sim = addons.body.items.find((a) => a.spec.plugin === 'simulator');
    expect(sim).toBeDefined();
    await c.withConsole('laptop', async (page) => {
      await c.logIn(page, viewer.body.token);
      await page.getByTestId('nav-addons').click();
      await page.getByTestId(`addon-${sim!.metadata.name}`).waitFor();
      expect(await page.getByTestId('addon-add-open').count()).toBe(0);
      await page.getByTestId(`addon-${sim!.metadata.name}-link`).click();
      await page.getByTestId(`addon-detail-${sim!.metadata.name}`).waitFor();
      await expect.poll(() => page.getByTestId('addon-site-demo-state').textContent(), { timeout: 20_000 }).toBe('running');
      expect(await page.getByTestId('addon-detail-plugin').textContent()).toBe('simulator');
      expect(await page.getByTestId('addon-edit-open').count()).toBe(0);
      expect(await page.getByTestId('addon-remove-open').count()).toBe(0);
      await expectAccessible(page, 'addon detail (viewer)');
      await page.screenshot({ path: path.join(c.shots, '09-viewer-addon.png'), fullPage: true });
      // An addon that is not there.
      await page.goto(`${c.url}#/addons/no-such-addon`);
      await page.getByTestId('addon-missing').waitFor();
    });
    expect((await c.api('DELETE', `/api/v1/tokens/${viewer.body.id}`)).status).toBe(204);
  }, 60_000);
});
