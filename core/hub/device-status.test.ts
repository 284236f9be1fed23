import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { API_VERSION, openSqliteStore, type DeviceStatus, type Resource } from '../store/index.ts';
import { deferCleanup } from '../../test/support/cleanup.ts';
import { tempDir } from '../../test/support/hub-fixture.ts';
import { deviceStatusView, mergeDeviceReport } from './device-status.ts';

const defer = deferCleanup();
const T1 = '2026-01-01T10:00:00.000Z';
const T2 = '2026-01-01T10:00:05.000Z';

describe("a site's device report at the hub", () => {
  it('takes state and message, moves lastSeen only forward, keeps the newer reported value, replaces drift, and writes nothing when nothing changes', () => {
    const stored: DeviceStatus = {
      operatingState: 'UP',
      lastSeen: T2,
      message: 'old',
      reported: { setpoint: { value: 42.5, origin: 2_000 }, limit: { value: 7, origin: 1_000 } },
      observedDesired: { setpoint: 42.5 },
      drift: { limit: { desired: 7, observed: 5, since: T1, policy: 'report' } },
    };
    const next = mergeDeviceReport(stored, {
      operatingState: 'DOWN',
      lastSeen: T1,
      reported: { setpoint: { value: 20, origin: 1_500, quality: 'good' }, limit: { value: 5, origin: 3_000, quality: 'good' } },
      drift: {},
    });
    expect(next).toEqual({
      operatingState: 'DOWN',
      lastSeen: T2,
      reported: { setpoint: { value: 42.5, origin: 2_000 }, limit: { value: 5, origin: 3_000, quality: 'good' } },
      observedDesired: { setpoint: 42.5 },
    });
    expect(mergeDeviceReport(next, { operatingState: 'DOWN', lastSeen: T1 })).toBeUndefined();
    // A report without drift (an older agent) leaves the stored drift.
    expect(mergeDeviceReport(stored, { operatingState: 'UP', message: 'old' })).toBeUndefined();
  });

  it('is served UNKNOWN while its site is offline, with the last report in the message', async () => {
    const store = openSqliteStore({ file: path.join(tempDir('device-status'), 'r.db') });
    defer(() => store.close());
    await store.create({ apiVersion: API_VERSION, kind: 'Site', metadata: { name: 'plant-a' }, spec: {} });
    const device = await store.create<Resource>({ apiVersion: API_VERSION, kind: 'Device', metadata: { name: 'm-1' }, spec: { site: 'plant-a', profile: 'p', protocols: { x: {} } } });
    const reported = await store.updateStatus<Resource>('Device', 'm-1', { operatingState: 'UP', lastSeen: T1 }, { resourceVersion: device.metadata.resourceVersion! });
    expect((await deviceStatusView(store))(reported).status).toEqual({ operatingState: 'UP', lastSeen: T1 });
    await store.updateStatus('Site', 'plant-a', { phase: 'Offline', lastSeen: T2 });
    expect((await deviceStatusView(store))(reported).status).toEqual({ operatingState: 'UNKNOWN', lastSeen: T1, message: `site 'plant-a' offline since ${T2}; last report: UP` });
    // What the site said stays stored.
    expect((await store.get<Resource<unknown, DeviceStatus>>('Device', 'm-1'))?.status?.operatingState).toBe('UP');
  });
});
