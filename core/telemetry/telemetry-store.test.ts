/**
 * The SQLite telemetry store: the drivers' contract (store-contract.ts),
 * and what only the SQLite file has: its first version migrated in place.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BASE_ORIGIN, createV1StoreFile, numbered, streamKey, tempDir } from './fixtures/helpers.ts';
import { openTelemetryStore } from './index.ts';
import { describeTelemetryStoreContract } from './store-contract.ts';

describeTelemetryStoreContract('sqlite', () => {
  const tmp = tempDir();
  const metrics = new Registry();
  return Promise.resolve({ store: openTelemetryStore({ file: tmp.file('hub.db'), metrics }), metrics, cleanup: () => Promise.resolve(tmp.remove()) });
});

describe('the SQLite telemetry file', () => {
  it('migrates a file of the first version (keyed by site and seq) into one legacy stream per site', async () => {
    const tmp = tempDir();
    const file = tmp.file('v1.db');
    const db = createV1StoreFile(file);
    const ins = db.prepare('INSERT INTO telemetry VALUES (?, ?, ?, ?, ?, ?, 11, 0, ?, NULL, NULL)');
    for (let seq = 1; seq <= 5; seq++) ins.run('a', seq, BASE_ORIGIN + seq, 'd0', 'pump', 'flow', String(seq));
    ins.run('b', 1, BASE_ORIGIN, 'd1', 'pump', 'flow', '7');
    db.close();
    let store = openTelemetryStore({ file });
    expect(await store.count()).toBe(6);
    expect((await store.streams()).map((s) => [s.site, s.name, s.held, s.highSeq])).toEqual([
      ['a', 'legacy/v1', 5, 5],
      ['b', 'legacy/v1', 1, 1],
    ]);
    expect((await store.query({ site: 'a', limit: 1 })).items[0]).toMatchObject({ seq: 1, value: 1, stream: 'legacy/v1' });
    // New readings of the same site go to their own producer streams beside it.
    expect((await store.ingest(streamKey('a', numbered('a', 1, 2)), numbered('a', 1, 2))).accepted).toBe(2);
    await store.close();
    store = openTelemetryStore({ file });
    expect(await store.count({ site: 'a' })).toBe(7);
    await store.close();
    tmp.remove();
  });
});
