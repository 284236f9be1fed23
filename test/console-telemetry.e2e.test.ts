/**
 * The telemetry explorer in Chromium against `edgeadm demo`: devices and
 * resources picked with the keyboard, the chart filling from history and
 * the live tail, zoom by dragging and its reset, a link that reloads the
 * same view, readings of bad and uncertain quality marked and listed, and
 * the selected range downloaded as CSV and JSON, checked against the API's
 * readings of the same range. Screenshots land in test-artifacts/console-telemetry/.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReadingOut, TelemetryPage } from '../core/hub/index.ts';
import { expectAccessible, startDemoConsole, type DemoConsole } from './support/console-page.ts';
import { parseCsv } from './support/rfc4180.ts';

let c: DemoConsole;

beforeAll(async () => {
  c = await startDemoConsole('console-telemetry');
}, 90_000);

afterAll(async () => {
  await c?.close();
}, 30_000);

/** The page's hash query as URLSearchParams. */
const hashQuery = async (page: Page): Promise<URLSearchParams> => new URLSearchParams(String(await page.evaluate('location.hash')).replace(/^#\/telemetry\??/, ''));

const points = async (page: Page): Promise<number> => Number((await page.getByTestId('tx-chart').getAttribute('data-points')) ?? '0');

/** Every reading of one series in [fromMs, toMs] (inclusive to the last ns of toMs), as the API pages them. */
async function apiReadings(device: string, resource: string, fromMs: number, toMs: number): Promise<ReadingOut[]> {
  const out: ReadingOut[] = [];
  let cursor: string | undefined;
  do {
    const from = (BigInt(fromMs) * 1_000_000n).toString();
    const to = (BigInt(toMs) * 1_000_000n + 999_999n).toString();
    const res = await c.api<TelemetryPage>(
      'GET',
      `/api/v1/telemetry?site=demo&device=${device}&resource=${resource}&from=${from}&to=${to}&order=asc&limit=10000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    expect(res.status).toBe(200);
    out.push(...res.body.items);
    cursor = res.body.next;
  } while (cursor);
  return out;
}

describe('telemetry explorer (Chromium against edgeadm demo)', () => {
  /** When the readings of bad and uncertain quality were taken (ms). */
  let flaggedAt = 0;

  it('picks a device and its resource by keyboard, draws history and the live tail, and zooms by dragging', async () => {
    await c.withConsole('laptop', async (page) => {
      await c.logIn(page);
      await page.getByTestId('nav-telemetry').click();
      await page.getByTestId('telemetry-explorer').waitFor();
      await expectAccessible(page, 'telemetry explorer, nothing picked');

      // Keyboard only: filter, Tab to the device, Space; Tab to its first resource, Space.
      await page.getByTestId('tx-device-filter').focus();
      await page.keyboard.type('meter');
      await expect.poll(() => page.locator('[data-testid^="tx-device-"][type="checkbox"]').count()).toBe(1);
      await page.keyboard.press('Tab');
      await expect.poll(() => page.evaluate('document.activeElement?.getAttribute("data-testid")')).toBe('tx-device-meter-1');
      await page.keyboard.press('Space');
      await page.getByTestId('tx-resources-meter-1').waitFor();
      await page.keyboard.press('Tab');
      await expect.poll(() => page.evaluate('document.activeElement?.getAttribute("data-testid")')).toBe('tx-series-meter-1/voltage');
      await page.keyboard.press('Space');
      expect(await page.getByTestId('tx-series-meter-1/voltage').isChecked()).toBe(true);
      // A preset, by keyboard too.
      await page.getByTestId('tx-preset-15m').focus();
      await page.keyboard.press('Enter');
      await expect.poll(async () => (await hashQuery(page)).toString()).toBe('d=meter-1&s=meter-1%2Fvoltage&range=15m');
      expect(String(await page.evaluate('location.hash'))).toBe('#/telemetry?d=meter-1&s=meter-1/voltage&range=15m');

      // History fills the chart; the live tail keeps adding (the meter is read every second).
      await expect.poll(() => points(page), { timeout: 30_000 }).toBeGreaterThan(25);
      const before = await points(page);
      await expect.poll(() => points(page), { timeout: 15_000 }).toBeGreaterThan(before);
      await expect.poll(() => page.getByTestId('tx-legend-meter-1/voltage').textContent()).toMatch(/meter-1 voltage \(V\): \d+ readings/);
      await page.screenshot({ path: path.join(c.shots, '01-meter-voltage-live.png'), fullPage: true });
      await expectAccessible(page, 'telemetry explorer, meter-1 voltage');

      // Drag across the middle of the plot: that stretch becomes the range.
      const over = await page.locator('[data-testid="tx-chart"] .u-over').boundingBox();
      if (!over) throw new Error('the chart has no plot area');
      const liveLabel = await page.getByTestId('tx-range-label').textContent();
      const t0 = Date.now();
      // The demo started a minute ago: the readings are at the right end of the 15 minutes.
      await page.mouse.move(over.x + over.width * 0.97, over.y + over.height / 2);
      await page.mouse.down();
      await page.mouse.move(over.x + over.width * 0.995, over.y + over.height / 2, { steps: 8 });
      await page.mouse.up();
      await expect.poll(async () => (await hashQuery(page)).has('to')).toBe(true);
      const q = await hashQuery(page);
      expect(q.has('range')).toBe(false);
      const from = Date.parse(q.get('from') ?? '');
      const to = Date.parse(q.get('to') ?? '');
      // 2.5% of a 15-minute window, ending before now.
      expect(to - from).toBeGreaterThan(15_000);
      expect(to - from).toBeLessThan(30_000);
      expect(to).toBeLessThanOrEqual(t0 + 1000);
      expect(from).toBeGreaterThan(t0 - 15 * 60_000 - 5000);
      await expect.poll(() => page.getByTestId('tx-range-label').textContent()).not.toBe(liveLabel);
      expect(await page.getByTestId('tx-range-label').textContent()).not.toContain('now');
      // The zoomed range's history: the chart holds only readings inside it.
      await expect.poll(() => points(page), { timeout: 10_000 }).toBeGreaterThan(0);
      const held = await apiReadings('meter-1', 'voltage', from, to);
      await expect.poll(() => points(page)).toBe(held.length);
      await page.screenshot({ path: path.join(c.shots, '02-zoomed.png'), fullPage: true });

      // Reset zoom: back to the live preset.
      await page.getByTestId('tx-reset-zoom').click();
      await expect.poll(async () => (await hashQuery(page)).get('range')).toBe('15m');
      await expect.poll(() => page.getByTestId('tx-range-label').textContent()).toContain('now');
    });
  });

  it('marks readings of bad and uncertain quality on the chart and lists them with their detail', async () => {
    // Two readings of sim-2's temperature, sent the way a site's agent sends them.
    flaggedAt = Date.now() - 20_000;
    const base = { site: 'demo', device: 'sim-2', profile: 'sim-sensor', resource: 'temperature', valueType: 'Float64', units: 'degC' };
    const sent = await c.api<{ accepted: number }>('POST', '/api/v1/sites/demo/telemetry', {
      stream: { id: `explorer-${randomBytes(6).toString('hex')}`, lastSeq: 2 },
      readings: [
        { ...base, value: null, origin: flaggedAt * 1e6, quality: 'bad', qualityDetail: 'EDGE_ERR_SIM_PROBE probe unplugged, check cable', seq: 1 },
        { ...base, value: 99.5, origin: (flaggedAt + 5000) * 1e6, quality: 'uncertain', qualityDetail: 'clamped', seq: 2 },
      ],
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body.accepted).toBe(2);

    await c.withConsole('laptop', async (page) => {
      await c.logIn(page);
      // A link opens the same view.
      await page.goto(`${c.url}#/telemetry?s=sim-2/temperature&range=15m`);
      await page.getByTestId('telemetry-explorer').waitFor();
      expect(await page.getByTestId('tx-device-sim-2').isChecked()).toBe(true);
      expect(await page.getByTestId('tx-series-sim-2/temperature').isChecked()).toBe(true);
      expect(await page.getByTestId('tx-preset-15m').getAttribute('aria-pressed')).toBe('true');

      await expect.poll(() => page.getByTestId('tx-chart').getAttribute('data-flagged'), { timeout: 20_000 }).toBe('2');
      const rows = page.getByTestId('tx-quality-row');
      await expect.poll(() => rows.count()).toBe(2);
      const bad = rows.filter({ hasText: 'probe unplugged' });
      expect(await bad.locator('td').allTextContents()).toEqual([
        `${new Date(flaggedAt).toISOString().slice(0, 23)}000000Z`,
        'sim-2',
        'temperature',
        '—',
        'degC',
        'bad',
        'EDGE_ERR_SIM_PROBE probe unplugged, check cable',
      ]);
      const uncertain = rows.filter({ hasText: 'clamped' });
      expect(await uncertain.locator('td').nth(3).textContent()).toBe('99.5');
      expect(await uncertain.locator('td').nth(5).textContent()).toBe('uncertain');
      // A resource the chart cannot draw (the plug's relay, a Bool): its values are listed instead.
      await page.getByTestId('tx-device-plug-1').check();
      await page.getByTestId('tx-series-plug-1/relay').check();
      await expect.poll(() => page.getByTestId('tx-values-row').count(), { timeout: 20_000 }).toBeGreaterThan(0);
      expect(await page.getByTestId('tx-values-row').first().locator('td').nth(3).textContent()).toMatch(/^(true|false)$/);
      expect(await page.getByTestId('tx-legend-plug-1/relay').count()).toBe(0);
      expect(await page.getByTestId('tx-chart').getAttribute('data-flagged')).toBe('2');
      await page.getByTestId('tx-quality').scrollIntoViewIfNeeded();
      await page.screenshot({ path: path.join(c.shots, '03-quality-marked.png'), fullPage: true });
      await expectAccessible(page, 'telemetry explorer, readings of bad quality');
      // Only the relay left: nothing to draw, its values still listed.
      await page.getByTestId('tx-series-sim-2/temperature').uncheck();
      await page.getByText('Pick a numeric resource to draw it').waitFor();
      expect(await page.getByTestId('tx-chart').count()).toBe(0);
      await expect.poll(() => page.getByTestId('tx-values-row').count()).toBeGreaterThan(0);
      expect(await page.getByTestId('tx-quality-none').textContent()).toContain('good quality');
    });
  });

  it('downloads the selected range as CSV and JSON: every reading the API holds for it', async () => {
    await c.withConsole('laptop', async (page) => {
      await c.logIn(page);
      const fromMs = flaggedAt - 60_000;
      const toMs = flaggedAt + 10_000;
      const from = new Date(fromMs).toISOString();
      const to = new Date(toMs).toISOString();
      await page.goto(`${c.url}#/telemetry?s=sim-2/temperature&s=meter-1/voltage&s=sim-1/pulses&from=${from}&to=${to}`);
      await page.getByTestId('telemetry-explorer').waitFor();
      await expect.poll(() => points(page), { timeout: 20_000 }).toBeGreaterThan(0);
      expect(await page.getByTestId('tx-range-label').textContent()).not.toContain('now');

      const expected = [
        ...(await apiReadings('sim-2', 'temperature', fromMs, toMs)),
        ...(await apiReadings('meter-1', 'voltage', fromMs, toMs)),
        ...(await apiReadings('sim-1', 'pulses', fromMs, toMs)),
      ];
      expect(expected.filter((r) => r.quality === 'bad')).toHaveLength(1);
      expect(expected.length).toBeGreaterThan(20);

      const [csvDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId('tx-download-csv').click()]);
      const fileStamp = (iso: string): string => iso.replace(/[-:]/g, '');
      expect(csvDownload.suggestedFilename()).toBe(`telemetry_${fileStamp(from)}_${fileStamp(to)}.csv`);
      const csv = readFileSync((await csvDownload.path()) ?? '', 'utf8');
      const [header, ...rows] = parseCsv(csv);
      expect(header).toEqual(['origin', 'originNs', 'site', 'device', 'resource', 'value', 'valueType', 'units', 'quality', 'qualityDetail']);
      expect(rows).toHaveLength(expected.length);
      rows.forEach((row, i) => {
        const r = expected[i] as ReadingOut;
        expect(row).toEqual([
          expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/),
          String(r.origin),
          r.site,
          r.device,
          r.resource,
          r.value === null ? '' : JSON.stringify(r.value),
          r.valueType,
          r.units ?? '',
          r.quality,
          r.qualityDetail ?? '',
        ]);
        expect(Date.parse(`${row[0]?.slice(0, 23) ?? ''}Z`)).toBe(Math.floor(r.origin / 1e6));
        expect(row[0]?.slice(20, 29)).toBe(String(r.origin).slice(-9));
      });
      const badRow = rows.find((row) => row[8] === 'bad');
      expect(badRow?.slice(3)).toEqual(['sim-2', 'temperature', '', 'Float64', 'degC', 'bad', 'EDGE_ERR_SIM_PROBE probe unplugged, check cable']);
      // The detail holds a comma: quoted in the file.
      expect(csv).toContain(',"EDGE_ERR_SIM_PROBE probe unplugged, check cable"\r\n');
      await expect.poll(() => page.getByTestId('tx-download-status').textContent()).toContain(`Downloaded ${expected.length} readings`);

      const [jsonDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId('tx-download-json').click()]);
      expect(jsonDownload.suggestedFilename()).toBe(`telemetry_${fileStamp(from)}_${fileStamp(to)}.json`);
      const json = JSON.parse(readFileSync((await jsonDownload.path()) ?? '', 'utf8')) as ReadingOut[];
      expect(json).toEqual(expected);
      await page.screenshot({ path: path.join(c.shots, '04-downloaded.png'), fullPage: true });
      await expectAccessible(page, 'telemetry explorer, fixed range');
    });
    // The same link on a tablet-sized window.
    await c.withConsole('tablet', async (page) => {
      await c.logIn(page);
      await page.goto(`${c.url}#/telemetry?s=sim-2/temperature&s=meter-1/voltage&range=15m`);
      await expect.poll(() => points(page), { timeout: 20_000 }).toBeGreaterThan(0);
      await page.screenshot({ path: path.join(c.shots, '05-tablet.png'), fullPage: true });
      await expectAccessible(page, 'telemetry explorer, tablet');
    });
  });
});
