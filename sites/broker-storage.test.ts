/**
 * A full disk never loses an acknowledged MQTT reading, and never stops the
 * site broker: its sessions file (broker.db) on a small tmpfs mounted here
 * and filled to the last page, real mqtt.js clients, the real MQTT plugin
 * driver. Mounting needs root; without it these tests fail and say so.
 *
 *   - the broker: QoS 1 publishes a persistent session needs stored are not
 *     PUBACKed while the disk is full (each PUBACK the publisher got is in
 *     the file), the refusals are counted, the storage problem is reported,
 *     QoS 0 is still delivered live; once space is freed the probe sees it,
 *     the device's resent messages are taken, and the subscriber gets every
 *     message, without a restart
 *   - the persistence: a batch the disk refuses is rejected and undone in
 *     memory; deletions (a subscriber's PUBACK) take effect at once and reach
 *     the file with the probe that finds space again
 *   - the plugin: a message whose readings the site could not store
 *     (EDGE_ERR_READINGS_NOT_STORED from the sink) is not acknowledged, the
 *     broker sends it again after a backoff, and it is stored once the sink
 *     works again, in order, with nothing lost
 */
import { mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { IClientOptions, MqttClient } from 'mqtt';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../core/kernel/index.ts';
import { ErrReadingsNotStored, type Sample } from '../core/sdk/index.ts';
import { createMqttDriver } from '../plugins/mqtt/index.ts';
import { deferCleanup } from '../test/support/cleanup.ts';
import { metricValue, mqttMeter, testClient } from '../test/support/mqtt-clients.ts';
import { quiet, tempDir, waitFor } from '../test/support/hub-fixture.ts';
import { openBrokerPersistence, type BrokerPersistence, type PersistedPacket } from './broker-persistence.ts';
import { startSiteBroker, type BrokerLogin, type SiteBrokerHandle } from './broker.ts';
import { StorageHealth } from './storage-health.ts';
import { fillDisk, mountTmpfs, type Tmpfs } from '../test/support/tmpfs.ts';

const defer = deferCleanup();
const FAST = { logN: 10, r: 8, p: 1 };
const TOPIC = 'devices/m-1/power';

let fs: Tmpfs | undefined;
let disk: string;

beforeAll(() => {
  fs = mountTmpfs('16m', 'edgeadm-broker-full-disk-');
  disk = fs.dir;
});

afterAll(() => fs?.remove());

const client = (url: string, opts: IClientOptions): Promise<MqttClient> => testClient(url, opts, defer);

async function startBroker(file: string, extra: { storage?: StorageHealth; metrics?: Registry } = {}): Promise<{ broker: SiteBrokerHandle; password: string }> {
  const password = 'm-1-secret';
  const login: BrokerLogin = { passwordHash: await hashSecret(password, FAST), publish: ['devices/m-1/#'], subscribe: ['devices/m-1/#'], device: 'm-1' };
  const broker = await startSiteBroker({
    host: '127.0.0.1',
    port: 0,
    logger: quiet,
    lookup: (username) => (username === 'm-1' ? login : undefined),
    persistenceFile: file,
    storageProbeMs: 200,
    ...extra,
  });
  defer(() => broker.close());
  return { broker, password };
}

/** The message numbers queued in the file for `clientId` (read beside the broker, as a restart would). */
function storedFor(file: string, clientId: string): Set<number> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare<[string], { payload: Buffer }>('SELECT payload FROM outgoing WHERE client_id = ?').all(clientId);
    return new Set(rows.map((r) => Number(r.payload.toString('utf8').split(':')[0])));
  } finally {
    db.close();
  }
}

describe('the site broker on a full disk', () => {
  it('PUBACKs only what is stored, stays up, counts the refusals, and takes and delivers everything once space is back', async () => {
    const dir = path.join(disk, 'broker-a');
    mkdirSync(dir);
    const file = path.join(dir, 'broker.db');
    const storage = new StorageHealth();
    const registry = new Registry();
    const { broker, password } = await startBroker(file, { storage, metrics: registry });
    const internal = broker.credentials;

    // A persistent subscriber (as the MQTT plugin's session is), away: what is published must be stored for it.
    const subId = 'edgeadm-test-sub';
    const away = await client(broker.url, { ...internal, clientId: subId, clean: false });
    await away.subscribeAsync('devices/#', { qos: 1 });
    await away.endAsync();
    // A live clean-session subscriber: QoS 0 still reaches it while the disk is full.
    const live = await client(broker.url, { ...internal, clientId: 'edgeadm-test-live', clean: true });
    await live.subscribeAsync('devices/m-1/live', { qos: 0 });
    const liveGot: string[] = [];
    live.on('message', (_t, payload) => liveGot.push(payload.toString()));

    // The device: resends what was not acknowledged whenever it reconnects, as MQTT devices do.
    const device = await client(broker.url, { clientId: 'm-1', username: 'm-1', password, clean: true, reconnectPeriod: 200 });
    device.on('error', () => undefined);
    const acked = new Set<number>();
    const pad = 'x'.repeat(8 * 1024);
    const publish = (k: number): void => {
      device.publish(TOPIC, `${k}:${pad}`, { qos: 1 }, (err) => {
        if (!err) acked.add(k);
      });
    };
    for (let k = 1; k <= 5; k++) publish(k);
    await waitFor('the first messages acknowledged', () => acked.size === 5);

    const filler = path.join(disk, 'filler');
    expect(fillDisk(filler)).toBeGreaterThan(0);
    const total = 120;
    for (let k = 6; k <= total; k++) publish(k);
    await waitFor('the storage reported failing', () => storage.problems().find((p) => p.component === 'broker'), 20_000);
    await waitFor('a publish refused up front', () => broker.stats().refusals.storage >= 2, 20_000);
    // Some messages could not be stored, and none of those was acknowledged: every PUBACK is in the file.
    expect(acked.size).toBeLessThan(total);
    const stored = storedFor(file, subId);
    const ackedNow = [...acked];
    expect(ackedNow.filter((k) => !stored.has(k))).toEqual([]);
    expect(storage.problems()).toEqual([expect.objectContaining({ component: 'broker', code: expect.stringMatching(/^SQLITE_FULL|^SQLITE_IOERR|^ENOSPC/) as unknown })]);
    expect(await metricValue(registry, 'edgeadm_site_broker_refusals_total{reason="storage"}')).toBe(broker.stats().refusals.storage);

    // The broker is up: new connections, and QoS 0 delivered live.
    const other = await client(broker.url, { clientId: 'm-1/live', username: 'm-1', password, clean: true });
    await other.publishAsync('devices/m-1/live', 'live while full', { qos: 0 });
    await waitFor('the QoS 0 message', () => liveGot.includes('live while full'));

    // Space again: the probe sees it without traffic, the device's resent messages are taken.
    unlinkSync(filler);
    await waitFor('the storage writes again', () => !storage.degraded(), 10_000);
    await waitFor('every message acknowledged', () => acked.size === total, 30_000);
    const back = await client(broker.url, { ...internal, clientId: subId, clean: false });
    const received = new Set<number>();
    back.on('message', (_t, payload) => received.add(Number(payload.toString().split(':')[0])));
    await waitFor('every message at the persistent subscriber', () => received.size === total, 30_000);
    expect([...received].sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(broker.stats().refusals.storage).toBeGreaterThanOrEqual(2);
  }, 90_000);
});

describe('the broker persistence on a full disk', () => {
  it('rejects what it could not store and undoes it in memory; deletions wait and reach the file once space is back', async () => {
    const dir = path.join(disk, 'persistence');
    mkdirSync(dir);
    const file = path.join(dir, 'broker.db');
    const storage = new StorageHealth();
    const open = async (): Promise<BrokerPersistence> => {
      const p = openBrokerPersistence({ file, logger: quiet, storage, probeIntervalMs: 100 });
      defer(() => p.destroy());
      await p.setup({ id: 'b' });
      return p;
    };
    const packet = (n: number, bytes = 16): PersistedPacket => ({ cmd: 'publish', topic: 'devices/m-1/power', payload: Buffer.alloc(bytes, 0x30 + n), qos: 1, brokerId: 'b', brokerCounter: n });
    const p = await open();
    await p.addSubscriptions({ id: 'c1' }, [{ topic: 'devices/#', qos: 1 }]);
    for (let n = 1; n <= 3; n++) await p.outgoingEnqueue({ clientId: 'c1' }, packet(n));
    await p.outgoingUpdate({ id: 'c1' }, { ...packet(1), messageId: 101 });

    const filler = path.join(disk, 'filler');
    fillDisk(filler);
    // One turn's writes: a new subscription and a message too big for what is left. Neither is kept.
    const results = await Promise.allSettled([
      p.addSubscriptions({ id: 'c2' }, [{ topic: 'devices/m-1/#', qos: 1 }]),
      p.outgoingEnqueue({ clientId: 'c1' }, packet(4, 256 * 1024)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'EDGE_ERR_BROKER_PERSISTENCE', message: expect.stringContaining(file) as unknown });
    expect(p.failing()).toBeDefined();
    expect(storage.problems()).toEqual([expect.objectContaining({ component: 'broker', failures: 1 })]);
    expect(await p.subscriptionsByClient({ id: 'c2' })).toEqual([]);
    expect(p.stats()).toMatchObject({ queued: 3 });
    expect((await p.subscriptionsByTopic('devices/m-1/power')).map((s) => s.clientId)).toEqual(['c1']);
    // Lookups answer; a message leaving its queue (its PUBACK) takes effect at once.
    expect(await p.outgoingClearMessageId({ id: 'c1' }, { messageId: 101 })).toMatchObject({ brokerCounter: 1 });
    expect(p.stats()).toMatchObject({ queued: 2 });

    unlinkSync(filler);
    await waitFor('the probe finds space', () => p.failing() === undefined && !storage.degraded(), 10_000);
    await p.destroy();
    // The deletion reached the file with the probe; the refused message and subscription never did.
    const again = await open();
    expect(again.stats()).toEqual({ queued: 2, dropped: 0, clients: 1 });
    expect(await drainPackets(again.outgoingStream({ id: 'c1' }))).toEqual([2, 3]);
  }, 60_000);
});

async function drainPackets(stream: AsyncIterable<unknown>): Promise<number[]> {
  const out: number[] = [];
  for await (const p of stream) out.push((p as PersistedPacket).brokerCounter ?? -1);
  return out;
}

describe('the MQTT plugin when the site cannot store readings', () => {
  it('does not acknowledge them; the broker sends them again after a backoff and they are stored once the sink works', async () => {
    const site = 'plant-s';
    const { broker, password } = await startBroker(path.join(tempDir('broker-storage-plugin'), 'broker.db'));
    const backoff = { initialMs: 150, maxMs: 1000 };
    const driver = createMqttDriver({ logger: quiet, siteBroker: () => ({ url: broker.url, ...broker.credentials }), persistentClientId: `edgeadm-mqtt-${site}`, redeliveryBackoff: backoff });
    defer(() => driver.close());
    const meter = mqttMeter(site);
    const conn = await driver.connect(meter);
    // The outbox's disk is full for the first three tries.
    let failuresLeft = 3;
    const refusedAt: number[] = [];
    const stored: number[] = [];
    await conn.subscribe!(['power'], { mode: 'onChange' }, (samples: readonly Sample[]) => {
      if (failuresLeft > 0) {
        failuresLeft--;
        refusedAt.push(performance.now());
        throw new ErrReadingsNotStored({ count: samples.length, device: 'm-1', reason: 'database or disk is full' });
      }
      for (const s of samples) stored.push(s.value as number);
    });

    const device = await client(broker.url, { clientId: 'm-1', username: 'm-1', password });
    const total = 30;
    for (let k = 1; k <= total; k++) await device.publishAsync(TOPIC, String(k), { qos: 1 });
    await waitFor('every reading stored', () => stored.length >= total, 30_000);

    // All of them, in order, none twice: the refused ones came again, and nothing later was taken before them.
    expect(stored).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(refusedAt).toHaveLength(3);
    // One try per round, with the wait doubling (plus mqtt.js's reconnect period): no hot loop.
    expect(refusedAt[1]! - refusedAt[0]!).toBeGreaterThanOrEqual(backoff.initialMs);
    expect(refusedAt[2]! - refusedAt[1]!).toBeGreaterThanOrEqual(2 * backoff.initialMs);
    expect(driver.stats(site, 'm-1')).toMatchObject({ notStored: 3 });
  }, 60_000);
});
