/**
 * autoEvent intervals at the site: read as Go durations (every unit Go
 * has, `100000us` too), and an interval longer than a Node timer holds is
 * skipped with a status message instead of polling every millisecond.
 * Real parts: the replica (SQLite), the simulator plugin's driver, the
 * device manager.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../core/sdk/index.ts';
import { API_VERSION, type Resource } from '../core/store/index.ts';
import { createSimulatorDriver } from '../plugins/simulator/index.ts';
import { quiet, tempDir, waitFor } from '../test/support/hub-fixture.ts';
import { DeviceManager, DriverTable } from './devices.ts';
import { LocalState } from './local-state.ts';

const SITE = 'plant-i';
const open: { stop: () => Promise<void> | void }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.stop();
});

function resources(autoEvents: { sourceName: string; interval: string }[]): Resource[] {
  const profile: Resource = {
    apiVersion: API_VERSION,
    kind: 'DeviceProfile',
    metadata: { name: 'thermo', resourceVersion: '1' },
    spec: {
      deviceResources: [
        { name: 'temperature', attributes: { function: 'sine', amplitude: 2, periodS: 30, offset: 20 }, properties: { valueType: 'Float64', readWrite: 'R' } },
        { name: 'setpoint', attributes: { function: 'setpoint', initial: 20 }, properties: { valueType: 'Float32', readWrite: 'RW' } },
      ],
    },
  };
  const device: Resource = {
    apiVersion: API_VERSION,
    kind: 'Device',
    metadata: { name: 'thermo-1', resourceVersion: '2' },
    spec: { site: SITE, profile: 'thermo', protocols: { simulator: { seed: '3' } }, autoEvents },
  };
  return [profile, device];
}

async function run(autoEvents: { sourceName: string; interval: string }[]): Promise<{ manager: DeviceManager; readings: Omit<Reading, 'seq' | 'site'>[] }> {
  const state = new LocalState(path.join(tempDir('device-intervals'), 'replica.db'));
  open.push({ stop: () => state.close() });
  state.replaceAll(resources(autoEvents), '2');
  const drivers = new DriverTable();
  drivers.register(createSimulatorDriver());
  const readings: Omit<Reading, 'seq' | 'site'>[] = [];
  const manager = new DeviceManager({ site: SITE, state, drivers, sink: { append: (rs) => void readings.push(...rs) }, logger: quiet });
  open.push(manager);
  await manager.reconcile();
  await waitFor('the device up', () => manager.statuses().find((d) => d.device === 'thermo-1')?.state === 'up');
  return { manager, readings };
}

const count = (readings: readonly { resource: string }[], resource: string): number => readings.filter((r) => r.resource === resource).length;

describe('autoEvent intervals at the site', () => {
  it('polls at any Go duration, microseconds included', async () => {
    const { readings } = await run([{ sourceName: 'temperature', interval: '100000us' }]);
    await waitFor('polls every 100 ms', () => count(readings, 'temperature') >= 3);
  });

  it('skips an interval longer than a timer holds, saying so, and never polls it every millisecond', async () => {
    const { manager, readings } = await run([
      { sourceName: 'temperature', interval: '100ms' },
      { sourceName: 'setpoint', interval: '1000h' },
    ]);
    await waitFor('temperature polled', () => count(readings, 'temperature') >= 3);
    expect(manager.statuses().find((d) => d.device === 'thermo-1')?.message).toBe("autoEvent 'setpoint' skipped: interval '1000h' is longer than a poll timer holds (about 24.8 days)");
    expect(count(readings, 'setpoint')).toBe(0);
  });
});
