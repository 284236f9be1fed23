/**
 * Devices and EdgeX files in the web console (Chromium against `edgeadm
 * demo`), as an operator onboards a Modbus device: upload EdgeX's
 * device-modbus profile, see the preview, apply it, then create a device
 * from that profile with the form built from the modbus plugin's protocol
 * schema, pointing at a Modbus server this test runs; the demo site's agent
 * reads it and the console shows its values. Also: the hub's refusals shown
 * at their fields, a broken EdgeX file's problems listed by file and field
 * with nothing written, the export downloaded and parsed, a device edited
 * (what the form does not show kept) and deleted by keyboard after a
 * confirmation, a profile's resources and its deletion, and what a viewer
 * may do. axe-core on every page and dialog; screenshots in
 * test-artifacts/console-devices/.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { expectAccessible, startDemoConsole, type DemoConsole } from './support/console-page.ts';
import { startModbusServer, type ModbusTestServer } from './support/modbus-server.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** EdgeX's own device-modbus test profile (v3 form). */
const MODBUS_PROFILE = path.join(repo, 'plugins/modbus/src/fixtures/edgex-v3-modbus.test.device.profile.yml');
const PROFILE = 'test-device-modbus-profile';
const BROKEN = path.join(repo, 'core/edgex/fixtures/files/broken');
const DEVICE = 'hvac-1';

let c: DemoConsole;
let modbus: ModbusTestServer;
let shots: string;

beforeAll(async () => {
  c = await startDemoConsole('console-devices');
  shots = c.shots;
  modbus = await startModbusServer({ size: 32 });
  // Temperature: holding register 5, Int16 scaled by 0.1; OperationMode: holding register 1.
  modbus.unit(1).holdingRegisters[5] = 215;
  modbus.unit(1).holdingRegisters[1] = 2;
}, 90_000);

afterAll(async () => {
  await c?.close();
  await modbus?.close();
}, 30_000);

interface Obj {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
}

const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: path.join(shots, name), fullPage: true });

async function openEdgeX(page: Page): Promise<void> {
  await page.getByTestId('nav-edgex').click();
  await page.getByTestId('edgex-site').selectOption('demo');
}

describe('devices and EdgeX files in the console (Chromium against edgeadm demo)', () => {
  it('uploads an EdgeX profile, previews and applies it; a device created from it in the form reads values', async () => {
    await c.withConsole('laptop', async (page) => {
      await c.logIn(page);
      await openEdgeX(page);
      await page.getByTestId('edgex-files').setInputFiles(MODBUS_PROFILE);
      await expect.poll(() => page.getByTestId('edgex-chosen').textContent()).toContain('edgex-v3-modbus.test.device.profile.yml');
      expect(await page.getByTestId('edgex-apply').isDisabled()).toBe(true);
      await page.getByTestId('edgex-preview-button').click();
      const preview = page.getByTestId('edgex-preview');
      await preview.waitFor();
      expect(await preview.getByTestId('edgex-counts').textContent()).toMatch(/Would create 1, update 0, leave 0 unchanged/);
      expect(await preview.getByTestId(`edgex-ref-DeviceProfile-${PROFILE}`).textContent()).toContain('Test-Device-Modbus-Profile');
      await shot(page, '01-edgex-preview.png');
      await expectAccessible(page, 'edgex preview');
      // A preview writes nothing.
      expect((await c.api('GET', `/api/v1/deviceprofiles/${PROFILE}`)).status).toBe(404);

      await page.getByTestId('edgex-apply').click();
      const applied = page.getByTestId('edgex-applied');
      await applied.waitFor();
      expect(await applied.getByTestId('edgex-counts').textContent()).toMatch(/Created 1, updated 0, left 0 unchanged/);
      const profile = await c.api<Obj>('GET', `/api/v1/deviceprofiles/${PROFILE}`);
      expect(profile.status).toBe(200);
      expect(profile.body.metadata.annotations?.['edgex.edgeadm.io/name']).toBe('Test-Device-Modbus-Profile');
      // The profile list shows it with its resources.
      const listed = page.getByTestId(`profile-${PROFILE}`);
      await listed.locator('summary').click();
      expect(await listed.getByTestId('profile-resources').textContent()).toContain('Temperature');
      await shot(page, '02-edgex-applied.png');
      await expectAccessible(page, 'edgex applied');

      // The device, from the form.
      await page.getByTestId('nav-devices').click();
      await page.getByTestId('add-device').click();
      const form = page.getByTestId('device-form');
      await form.getByTestId('df-name').waitFor();
      await expectAccessible(page, 'add device form');
      await form.getByTestId('df-name').fill(DEVICE);
      await form.getByTestId('df-site').selectOption('demo');
      await form.getByTestId('df-profile').selectOption(PROFILE);
      await form.getByTestId('df-protocol').selectOption('modbus-tcp');
      const proto = form.getByTestId('df-protocol-fields');
      await proto.getByLabel(/^Address/).fill('127.0.0.1');
      await proto.getByLabel(/^Port/).fill(String(modbus.port));
      await proto.getByLabel(/^UnitID/).fill('1');
      await form.getByTestId('df-description').fill('Air conditioner gateway, room 2');
      await form.getByTestId('df-labels').fill('room=2\nvendor=cool');
      await form.getByTestId('df-add-event').click();
      await form.getByTestId('df-event-0').getByTestId('df-event-source').fill('Temperature');
      await form.getByTestId('df-event-0').getByTestId('df-event-interval').fill('500ms');
      await shot(page, '03-device-form.png');
      await expectAccessible(page, 'add device form filled');
      await form.getByTestId('df-submit').click();

      // Created: the console shows its page, and the site reads it.
      await page.getByTestId('device-detail').waitFor();
      expect(page.url()).toContain(`#/devices/${DEVICE}`);
      const created = await c.api<Obj>('GET', `/api/v1/devices/${DEVICE}`);
      expect(created.body.spec).toMatchObject({
        site: 'demo',
        profile: PROFILE,
        adminState: 'UNLOCKED',
        description: 'Air conditioner gateway, room 2',
        protocols: { 'modbus-tcp': { Address: '127.0.0.1', Port: modbus.port, UnitID: 1 } },
        autoEvents: [{ sourceName: 'Temperature', interval: '500ms' }],
      });
      expect(created.body.metadata.labels).toEqual({ room: '2', vendor: 'cool' });
      const temperature = page.getByTestId('resource-Temperature').getByTestId('resource-value');
      await expect.poll(() => temperature.textContent(), { timeout: 30_000 }).toMatch(/^21\.5\b/);
      await expect.poll(() => page.getByTestId('device-detail').getByTestId('device-state').first().textContent(), { timeout: 20_000 }).toBe('UP');
      // A new value on the server shows up.
      modbus.unit(1).holdingRegisters[5] = 230;
      await expect.poll(() => temperature.textContent(), { timeout: 20_000 }).toMatch(/^23\b/);
      await shot(page, '04-device-reading.png');
      await expectAccessible(page, 'device page');
      // And in the devices list.
      await page.getByTestId('nav-devices').click();
      const row = page.getByTestId(`device-${DEVICE}`);
      await expect.poll(() => row.getByTestId('device-state').textContent(), { timeout: 20_000 }).toBe('UP');
      await shot(page, '05-devices-list.png');
      await expectAccessible(page, 'devices list');
    });
  }, 150_000);

  it('shows the hub’s refusals at their fields, and creates nothing', async () => {
    await c.withConsole('laptop', async (page) => {
      await c.logIn(page);
      await page.getByTestId('nav-devices').click();
      await page.getByTestId('add-device').click();
      const form = page.getByTestId('device-form');
      await form.getByTestId('df-name').fill('Bad_Name');
      await form.getByTestId('df-site').selectOption('demo');
      await form.getByTestId('df-profile').selectOption(PROFILE);
      await form.getByTestId('df-protocol').selectOption('modbus-tcp');
      const proto = form.getByTestId('df-protocol-fields');
      await proto.getByLabel(/^Address/).fill('127.0.0.1');
      await proto.getByLabel(/^Port/).fill('70000');
      await form.getByTestId('df-submit').click();
      // Both, each at its field: the name (the store's own rule) and the port (the modbus plugin's protocol schema).
      const nameError = form.getByTestId('df-name-error');
      await nameError.waitFor();
      expect(await nameError.textContent()).toMatch(/DNS-1123|lowercase/i);
      expect(await form.getByTestId('df-name').getAttribute('aria-invalid')).toBe('true');
      expect(await form.getByTestId('device-form-error').textContent()).toContain('EDGE_ERR_STORE_INVALID');
      // The summary above the form takes the focus, so a keyboard or screen reader user hears it.
      expect(await page.evaluate('document.activeElement?.dataset?.testid')).toBe('device-form-error');
      const port = proto.getByLabel(/^Port/);
      const portError = async (): Promise<string> => {
        const described = (await port.getAttribute('aria-describedby')) ?? '';
        const errorId = described.split(' ').find((id) => id.endsWith('-error'));
        return errorId ? ((await page.locator(`[id="${errorId}"]`).textContent()) ?? '') : '';
      };
      expect(await port.getAttribute('aria-invalid')).toBe('true');
      expect(await portError()).toMatch(/65535/);
      await shot(page, '06-form-refused.png');
      await expectAccessible(page, 'device form, refused');

      // The name corrected: only the port is left.
      await form.getByTestId('df-name').fill('bad-port');
      await form.getByTestId('df-submit').click();
      await expect.poll(() => form.getByTestId('df-name-error').count(), { timeout: 10_000 }).toBe(0);
      expect(await port.getAttribute('aria-invalid')).toBe('true');
      expect(await portError()).toMatch(/65535/);
      await shot(page, '07-form-bad-port.png');
      await expectAccessible(page, 'device form, bad port');
      await form.getByRole('button', { name: 'Cancel' }).click();
      await form.waitFor({ state: 'detached' });
      expect((await c.api('GET', '/api/v1/devices/bad-port')).status).toBe(404);
    });
  }, 90_000);

  it('lists every problem of broken EdgeX files by file and field, and applies nothing', async () => {
    await c.withConsole('laptop', async (page) => {
      await c.logIn(page);
      await openEdgeX(page);
      // One uploaded, one pasted (typed by keyboard).
      await page.getByTestId('edgex-files').setInputFiles(path.join(BROKEN, 'pumps.devices.yaml'));
      await page.locator('details.edgex-paste summary').focus();
      await page.keyboard.press('Enter');
      await page.getByTestId('edgex-paste-name').focus();
      await page.keyboard.type('pumps.profile.yaml');
      await page.getByTestId('edgex-paste-text').fill(readFileSync(path.join(BROKEN, 'pumps.profile.yaml'), 'utf8'));
      await page.getByTestId('edgex-paste-add').focus();
      await page.keyboard.press('Enter');
      await expect.poll(() => page.getByTestId('edgex-chosen').locator('li').count()).toBe(2);
      await page.getByTestId('edgex-preview-button').focus();
      await page.keyboard.press('Enter');
      const problems = page.getByTestId('edgex-problems');
      await problems.waitFor();
      const profileProblems = problems.getByTestId('edgex-problems-pumps.profile.yaml');
      const text = (await profileProblems.textContent()) ?? '';
      expect(text).toContain('deviceResources[0].properties.valueType');
      expect(text).toContain('deviceResources[1].name');
      expect(await profileProblems.getByTestId('edgex-problem').count()).toBeGreaterThanOrEqual(4);
      expect(await problems.getByTestId('edgex-problems-pumps.devices.yaml').count()).toBe(1);
      expect(await page.getByTestId('edgex-apply').isDisabled()).toBe(true);
      expect(await page.getByTestId('edgex-preview').count()).toBe(0);
      await shot(page, '08-edgex-problems.png');
      await expectAccessible(page, 'edgex problems');
      expect((await c.api('GET', '/api/v1/deviceprofiles/pump-profile')).status).toBe(404);
    });
  }, 60_000);

  it('exports the site as EdgeX files to download, with notes; a viewer may export but not import or edit', async () => {
    const viewer = await c.api<{ id: string; token: string }>('POST', '/api/v1/tokens', { role: 'viewer', description: 'console devices test' });
    expect(viewer.status).toBe(201);
    await c.withConsole('laptop', async (page) => {
      await c.logIn(page, viewer.body.token);
      await openEdgeX(page);
      expect(await page.getByTestId('edgex-import').count()).toBe(0);
      expect(await page.getByTestId(`delete-profile-${PROFILE}`).count()).toBe(0);
      await page.getByTestId('edgex-export-button').click();
      const files = page.getByTestId('edgex-export-files');
      await files.waitFor();
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId(`edgex-download-profiles/${PROFILE}.yaml`).click()]);
      const profile = parse(readFileSync(await download.path(), 'utf8')) as { name?: string; deviceResources?: { name: string }[] };
      expect(profile.name).toBe('Test-Device-Modbus-Profile');
      expect(profile.deviceResources?.map((r) => r.name)).toContain('Temperature');
      expect(download.suggestedFilename()).toBe(`demo-profiles-${PROFILE}.yaml`);
      const [list] = await Promise.all([page.waitForEvent('download'), page.getByTestId('edgex-download-devices/devices.yaml').click()]);
      const devices = parse(readFileSync(await list.path(), 'utf8')) as { deviceList?: { name: string; profileName: string; protocols: Record<string, Record<string, unknown>> }[] };
      const hvac = devices.deviceList?.find((d) => d.name === DEVICE);
      expect(hvac?.profileName).toBe('Test-Device-Modbus-Profile');
      expect(String(hvac?.protocols['modbus-tcp']?.Port)).toBe(String(modbus.port));
      expect(await page.getByTestId('edgex-notes').textContent()).toMatch(/\S/);
      await shot(page, '09-edgex-export.png');
      await expectAccessible(page, 'edgex export (viewer)');
      // JSON, all at once.
      await page.getByTestId('edgex-encoding').selectOption('json');
      await page.getByTestId('edgex-export-button').click();
      await page.getByTestId('edgex-download-all').waitFor();
      const seen: string[] = [];
      page.on('download', (d) => seen.push(d.suggestedFilename()));
      const count = await page.getByTestId('edgex-export-files').locator('a[download]').count();
      await page.getByTestId('edgex-download-all').click();
      await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(count);
      expect(seen.every((n) => n.endsWith('.json'))).toBe(true);
      // No write buttons on devices for a viewer.
      await page.getByTestId('nav-devices').click();
      expect(await page.getByTestId('add-device').count()).toBe(0);
      await page.getByTestId(`device-${DEVICE}`).getByRole('link', { name: DEVICE }).click();
      await page.getByTestId('device-detail').waitFor();
      expect(await page.getByTestId('edit-device').count()).toBe(0);
      expect(await page.getByTestId('delete-device').count()).toBe(0);
    });
    expect((await c.api('DELETE', `/api/v1/tokens/${viewer.body.id}`)).status).toBe(204);
  }, 60_000);

  it('edits a device keeping what the form does not show, then deletes it by keyboard after a confirmation; then its profile', async () => {
    // Something only the API sets: kept by the form's save.
    const before = await c.api<Obj>('GET', `/api/v1/devices/${DEVICE}`);
    const put = await c.api('PUT', `/api/v1/devices/${DEVICE}`, { metadata: { name: DEVICE, labels: before.body.metadata.labels, annotations: { ...before.body.metadata.annotations, 'example.com/owner': 'facilities' } }, spec: before.body.spec });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    await c.withConsole('laptop', async (page) => {
      await c.logIn(page);
      await page.goto(`${c.url}#/devices/${DEVICE}`);
      await page.getByTestId('device-detail').waitFor();
      await page.getByTestId('edit-device').click();
      const form = page.getByTestId('device-form');
      await form.getByTestId('df-name').waitFor();
      expect(await form.getByTestId('df-name').inputValue()).toBe(DEVICE);
      expect(await form.getByTestId('df-protocol').inputValue()).toBe('modbus-tcp');
      expect(await form.getByTestId('df-protocol-fields').getByLabel(/^Port/).inputValue()).toBe(String(modbus.port));
      await expectAccessible(page, 'edit device form');
      await form.getByTestId('df-description').fill('Gateway, room 3');
      await form.getByTestId('df-labels').fill('room=3\nvendor=cool');
      await form.getByTestId('df-submit').click();
      await form.waitFor({ state: 'detached' });
      const after = await c.api<Obj>('GET', `/api/v1/devices/${DEVICE}`);
      expect(after.body.spec.description).toBe('Gateway, room 3');
      expect(after.body.metadata.labels).toEqual({ room: '3', vendor: 'cool' });
      expect(after.body.metadata.annotations?.['example.com/owner']).toBe('facilities');
      expect(after.body.spec.autoEvents).toEqual(before.body.spec.autoEvents);
      // Still read after the change.
      await expect.poll(async () => (await c.api<Obj>('GET', `/api/v1/devices/${DEVICE}`)).body.status?.operatingState, { timeout: 20_000 }).toBe('UP');

      // The profile in use: its deletion names the device, and the hub refuses it, naming the device too.
      await openEdgeX(page);
      const listed = page.getByTestId(`profile-${PROFILE}`);
      await listed.locator('summary').click();
      await listed.getByTestId(`delete-profile-${PROFILE}`).click();
      const profileDialog = page.getByTestId('delete-profile-dialog');
      expect(await profileDialog.getByTestId('profile-in-use').textContent()).toContain(DEVICE);
      await profileDialog.getByTestId('delete-confirm').click();
      await expect.poll(() => profileDialog.getByTestId('delete-error').textContent(), { timeout: 10_000 }).toMatch(new RegExp(`^EDGE_ERR_HUB_PROFILE_IN_USE: .*${DEVICE}`));
      expect((await c.api('GET', `/api/v1/deviceprofiles/${PROFILE}`)).status).toBe(200);
      await expectAccessible(page, 'delete profile dialog');
      await profileDialog.getByTestId('delete-cancel').click();
      await profileDialog.waitFor({ state: 'detached' });

      // Delete the device, by keyboard only.
      await page.goto(`${c.url}#/devices/${DEVICE}`);
      await page.getByTestId('device-detail').waitFor();
      await page.getByTestId('edit-device').focus();
      await page.keyboard.press('Tab');
      expect(await page.evaluate('document.activeElement?.dataset?.testid')).toBe('delete-device');
      await page.keyboard.press('Enter');
      const dialog = page.getByTestId('delete-device-dialog');
      await dialog.waitFor();
      expect(await dialog.textContent()).toContain(DEVICE);
      // Focus starts on Cancel (the safe choice); Tab reaches the confirmation.
      expect(await page.evaluate('document.activeElement?.dataset?.testid')).toBe('delete-cancel');
      await shot(page, '10-delete-device.png');
      await expectAccessible(page, 'delete device dialog');
      await page.keyboard.press('Tab');
      expect(await page.evaluate('document.activeElement?.dataset?.testid')).toBe('delete-confirm');
      await page.keyboard.press('Enter');
      await expect.poll(() => page.url(), { timeout: 10_000 }).toMatch(/#\/devices$/);
      expect((await c.api('GET', `/api/v1/devices/${DEVICE}`)).status).toBe(404);
      await expect.poll(() => page.getByTestId(`device-${DEVICE}`).count(), { timeout: 10_000 }).toBe(0);

      // Now no device uses the profile: delete it.
      await openEdgeX(page);
      await listed.locator('summary').click();
      await listed.getByTestId(`delete-profile-${PROFILE}`).click();
      expect(await profileDialog.textContent()).toContain('No device uses it');
      await profileDialog.getByTestId('delete-confirm').click();
      await listed.waitFor({ state: 'detached', timeout: 10_000 });
      expect((await c.api('GET', `/api/v1/deviceprofiles/${PROFILE}`)).status).toBe(404);
      await shot(page, '11-profile-deleted.png');
    });
  }, 90_000);
});
