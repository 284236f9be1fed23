/**
 * Samples a driver pushes become readings of their device: the device and
 * profile added, the sample's own fields kept as they are (units and
 * qualityDetail only when the sample has them), and a sample with fields a
 * Sample does not have still refused by the outbox, the device saying why.
 * Real parts: the replica (SQLite), the outbox (SQLite), the device manager;
 * the driver is a push source written here.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceConnection, DeviceDriver, Sample, SampleSink } from '../core/sdk/index.ts';
import { API_VERSION, type Resource } from '../core/store/index.ts';
import { openOutbox, withSite } from '../core/telemetry/index.ts';
import { quiet, tempDir, waitFor } from '../test/support/hub-fixture.ts';
import { DeviceManager, DriverTable } from './devices.ts';
import { LocalState } from './local-state.ts';

const SITE = 'plant-r';
const open: { stop: () => Promise<void> | void }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.stop();
});

/** A driver of protocol `push` whose connections deliver what `push` is given to their subscription. */
function pushDriver(): { driver: DeviceDriver; push: (samples: Sample[]) => void } {
  let sink: SampleSink | undefined;
  const conn: DeviceConnection = {
    read: (resources) => Promise.resolve(resources.map((resource) => ({ resource, value: null, valueType: 'Float64', origin: Date.now() * 1e6, quality: 'bad', qualityDetail: 'NOT_READ' }))),
    write: (requests) => Promise.resolve(requests.map((r) => ({ resource: r.resource, ok: false }))),
    subscribe(_resources, _options, s) {
      sink = s;
      return Promise.resolve({ close: () => Promise.resolve() });
    },
    close: () => Promise.resolve(),
  };
  return {
    driver: { protocols: ['push'], connect: () => Promise.resolve(conn), close: () => Promise.resolve() },
    push: (samples) => sink!(samples),
  };
}

async function start(): Promise<{ manager: DeviceManager; push: (samples: Sample[]) => void; stored: () => Record<string, unknown>[] }> {
  const dir = tempDir('device-readings');
  const state = new LocalState(path.join(dir, 'replica.db'));
  open.push({ stop: () => state.close() });
  const profile: Resource = {
    apiVersion: API_VERSION,
    kind: 'DeviceProfile',
    metadata: { name: 'meter', resourceVersion: '1' },
    spec: { deviceResources: ['power', 'state'].map((name) => ({ name, properties: { valueType: name === 'power' ? 'Float64' : 'String', readWrite: 'R' } })) },
  };
  const device: Resource = { apiVersion: API_VERSION, kind: 'Device', metadata: { name: 'meter-1', resourceVersion: '2' }, spec: { site: SITE, profile: 'meter', protocols: { push: {} } } };
  state.replaceAll([profile, device], '2');
  const outbox = openOutbox({ file: path.join(dir, 'outbox.db'), site: SITE, memoryTail: 0 });
  open.push({ stop: () => outbox.close() });
  const drivers = new DriverTable();
  const { driver, push } = pushDriver();
  drivers.register(driver);
  const manager = new DeviceManager({ site: SITE, state, drivers, sink: { append: (rs) => void outbox.append(withSite(rs, SITE)) }, logger: quiet });
  open.push(manager);
  await manager.reconcile();
  await waitFor('the device connected', () => manager.status('meter-1')?.state !== undefined && manager.status('meter-1')?.state !== 'waiting-for-driver');
  const stored = (): Record<string, unknown>[] => outbox.peek(0, 100) as unknown as Record<string, unknown>[];
  return { manager, push, stored };
}

describe('pushed samples as readings', () => {
  it('carry their device and profile, and exactly the fields of their sample', async () => {
    const { push, stored } = await start();
    const origin = Date.now() * 1e6;
    push([
      { resource: 'power', value: 1.5, valueType: 'Float64', units: 'kW', origin, quality: 'good' },
      { resource: 'state', value: 'idle', valueType: 'String', origin, quality: 'uncertain', qualityDetail: 'EDGE_ERR_TEST_STALE' },
    ]);
    const rows = stored();
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ site: SITE, device: 'meter-1', profile: 'meter', resource: 'power', value: 1.5, valueType: 'Float64', units: 'kW', origin, quality: 'good', seq: 1 });
    expect(rows[0]).not.toHaveProperty('qualityDetail');
    expect(rows[1]).toMatchObject({ device: 'meter-1', profile: 'meter', resource: 'state', value: 'idle', valueType: 'String', quality: 'uncertain', qualityDetail: 'EDGE_ERR_TEST_STALE', seq: 2 });
    expect(rows[1]).not.toHaveProperty('units');
  });

  it('refuses a sample with a field a Sample does not have, as the outbox does, and says so in the device status', async () => {
    const { manager, push, stored } = await start();
    const origin = Date.now() * 1e6;
    push([{ resource: 'power', value: 2, valueType: 'Float64', origin, quality: 'good', extra: 'x' } as Sample]);
    expect(stored()).toHaveLength(0);
    expect(manager.status('meter-1')?.message).toBe("reading [0] field 'extra' is not a known field; nothing of this batch was written");
  });
});
