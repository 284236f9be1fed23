import { describe, expect, it } from 'vitest';
import { device, reading, site, thermoProfile } from '../../test/support/hub/harness.ts';
import { createMemoryStore } from '../../test/support/hub/memory-store.ts';
import { DeviceCatalog } from './device-catalog.ts';

describe('the device catalog of telemetry ingest', () => {
  it('classifies readings by their Device at the site and its profile, and sees a Device created later once its miss has expired', async () => {
    const store = createMemoryStore();
    await store.apply(site('plant-a'));
    await store.apply(site('plant-b'));
    await store.apply(thermoProfile);
    await store.apply(device('pump-a', 'plant-a'));
    let now = 1_000;
    const catalog = new DeviceCatalog(store, { ttlMs: 5_000, missTtlMs: 1_000, now: () => now });
    const rs = [reading('plant-a', 1), reading('plant-a', 2, { resource: 'humidity' }), reading('plant-a', 3, { device: 'pump-b' }), reading('plant-a', 4, { device: 'late' })];
    const first = await catalog.classifier('plant-a', rs);
    expect(rs.map(first)).toEqual([undefined, 'unknown-resource', 'unknown-device', 'unknown-device']);
    await store.apply(device('late', 'plant-a'));
    // Within the miss TTL the cached miss stands; after it, the new Device is found.
    expect((await catalog.classifier('plant-a', rs))(rs[3]!)).toBe('unknown-device');
    now += 1_001;
    expect((await catalog.classifier('plant-a', rs))(rs[3]!)).toBeUndefined();
    // A Device of another site is unknown here.
    await store.apply(device('pump-b', 'plant-b'));
    now += 1_001;
    expect((await catalog.classifier('plant-a', rs))(rs[2]!)).toBe('unknown-device');
  });
});
