import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deferCleanup } from '../../test/support/cleanup.ts';
import { startMosquitto, type Mosquitto } from '../../test/support/mosquitto.ts';
import type { Reading } from '../sdk/index.ts';
import { createBridgeUplink, DEFAULT_BRIDGE_TOPIC, type BridgeUplinkOptions } from './bridge-uplink.ts';
import { batchOf, captureLogs, inputs, numbered, quiet, tempDir, thrown, waitFor } from './fixtures/helpers.ts';
import { openOutbox, startForwarder, type Outbox, type Uplink } from './index.ts';

const SITE = 'plant-a';
const defer = deferCleanup();
let tmp: ReturnType<typeof tempDir>;

beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => {
  tmp.remove();
});

async function mosquitto(opts: Parameters<typeof startMosquitto>[0] = {}): Promise<Mosquitto> {
  const m = await startMosquitto(opts);
  defer(() => m.close());
  return m;
}

function bridge(opts: Partial<BridgeUplinkOptions> & { url: string }): Uplink {
  const up = createBridgeUplink({ site: SITE, backoff: { initialMs: 20, maxMs: 200 }, ...opts });
  defer(() => up.close());
  return up;
}

interface Received {
  topic: string;
  reading: Reading;
}

/** An mqtt.js subscriber to `edgeadm/#` at QoS 1 with a persistent session: the broker queues for it while it is away. */
async function subscriber(url: string, clientId: string, auth: { username?: string; password?: string } = {}): Promise<{ client: MqttClient; got: Received[] }> {
  const got: Received[] = [];
  const client = mqtt.connect(url, { clientId, clean: false, reconnectPeriod: 100, ...auth });
  defer(() => client.endAsync(true));
  // Listening before the CONNACK: a resumed session's queued messages follow it at once.
  client.on('message', (topic, payload) => got.push({ topic, reading: JSON.parse(payload.toString()) as Reading }));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  client.on('error', () => undefined);
  await client.subscribeAsync('edgeadm/#', { qos: 1 });
  return { client, got };
}

/** Seqs by device, in order of first arrival, with duplicates counted apart. */
function byDevice(got: readonly Received[]): { order: Map<string, number[]>; seen: Set<number>; duplicates: number } {
  const order = new Map<string, number[]>();
  const seen = new Set<number>();
  let duplicates = 0;
  for (const { reading } of got) {
    if (seen.has(reading.seq)) {
      duplicates++;
      continue;
    }
    seen.add(reading.seq);
    const list = order.get(reading.device) ?? [];
    list.push(reading.seq);
    order.set(reading.device, list);
  }
  return { order, seen, duplicates };
}

describe('bridge uplink options', () => {
  it('refuses bad options with a coded error naming the option', () => {
    const cases: [Partial<BridgeUplinkOptions>, string][] = [
      [{ url: '' }, 'url'],
      [{ url: 'not a url' }, 'url'],
      [{ url: 'http://127.0.0.1:1883' }, 'url'],
      [{ url: 'mqtt://127.0.0.1:1883', site: '' }, 'site'],
      [{ url: 'mqtt://127.0.0.1:1883', topic: 'edgeadm/{site}/{nope}' }, 'topic'],
      [{ url: 'mqtt://127.0.0.1:1883', topic: 'edgeadm/+/{device}' }, 'topic'],
      [{ url: 'mqtt://127.0.0.1:1883', topic: 'edgeadm/{device' }, 'topic'],
      [{ url: 'mqtt://127.0.0.1:1883', timeoutMs: 0 }, 'timeoutMs'],
      [{ url: 'mqtt://127.0.0.1:1883', backoff: { initialMs: 1.5 } }, 'backoff.initialMs'],
      [{ url: 'mqtt://127.0.0.1:1883', password: 'secret-pw' }, 'password'],
      [{ url: 'mqtt://127.0.0.1:1883', clientId: '' }, 'clientId'],
    ];
    for (const [opts, option] of cases) {
      const err = thrown(() => createBridgeUplink({ site: SITE, ...opts } as BridgeUplinkOptions));
      expect(err, option).toMatchObject({ code: 'EDGE_ERR_UPLINK_BRIDGE_OPTION', params: { option } });
      expect(String((err as Error).message)).not.toContain('secret-pw');
    }
  });
});

describe('bridge uplink against Mosquitto', () => {
  it('publishes every reading of a batch at QoS 1 and resolves once the broker holds them all', async () => {
    const m = await mosquitto();
    // Subscribe, then go away: whatever the broker acknowledged is queued for this session.
    const sub = await subscriber(m.url, 'probe');
    await sub.client.endAsync();
    const up = bridge({ url: m.url });
    const batch = numbered(SITE, 1, 60).map((r, i) => (i === 7 ? { ...r, device: 'line/1+#' } : r));
    expect(await up.send(batchOf(batch))).toEqual({ accepted: 60, duplicates: 0, conflicts: 0, quarantined: 0 });
    // The send has resolved: stop the uplink, then collect what the broker kept.
    await up.close();
    const again = await subscriber(m.url, 'probe');
    await waitFor('60 readings', () => again.got.length >= 60);
    expect(again.got.map((g) => g.reading.seq)).toEqual(batch.map((r) => r.seq));
    expect(again.got.map((g) => g.reading)).toEqual(batch.map((r) => ({ ...r, stream: 'stream-one' })));
    expect(again.got[0]!.topic).toBe(DEFAULT_BRIDGE_TOPIC.replace('{site}', SITE).replace('{device}', batch[0]!.device).replace('{resource}', batch[0]!.resource));
    expect(again.got[7]!.topic).toBe(`edgeadm/${SITE}/line%2F1%2B%23/${batch[7]!.resource}`);
    await expect(up.send(batchOf(batch))).rejects.toMatchObject({ code: 'EDGE_ERR_UPLINK_CLOSED' });
  });

  it('uses a topic template', async () => {
    const m = await mosquitto();
    const sub = await subscriber(m.url, 'tpl');
    const up = bridge({ url: m.url, topic: 'edgeadm/telemetry/{profile}/{device}' });
    await up.send(batchOf(numbered(SITE, 1, 3)));
    await waitFor('3 readings', () => sub.got.length >= 3);
    expect(sub.got.map((g) => g.topic)).toEqual(['edgeadm/telemetry/pump/d1', 'edgeadm/telemetry/pump/d2', 'edgeadm/telemetry/pump/d0']);
  });

  it('with the outbox behind it: Mosquitto stopped mid-stream loses nothing; after a restart every reading arrives, in order per device', async () => {
    const m = await mosquitto({ persistence: true });
    const sub = await subscriber(m.url, 'consumer');
    const outbox: Outbox = openOutbox({ file: tmp.file('outbox.db'), site: SITE });
    defer(() => outbox.close());
    const up = bridge({ url: m.url, timeoutMs: 2000 });
    const f = startForwarder({ outbox, uplink: up, batchSize: 50, logger: quiet(), backoff: { initialMs: 20, maxMs: 200 } });
    defer(() => f.stop());

    let appended = 0;
    const append = (n: number): void => {
      outbox.append(inputs(SITE, appended, n));
      appended += n;
      f.notify();
    };
    // Stream until part of it has reached the broker, then take the broker away mid-stream.
    while (sub.got.length < 200) {
      append(20);
      await new Promise((r) => setTimeout(r, 5));
    }
    await m.stop();
    const atStop = appended;
    for (let i = 0; i < 10; i++) {
      append(30);
      await new Promise((r) => setTimeout(r, 10));
    }
    await waitFor('a failed send', () => f.stats().failures > 0 && !f.stats().connected);
    // Everything not acknowledged by the broker is still in the outbox, including all appended while it was down.
    const stats = outbox.stats();
    expect(stats.lastSeq).toBe(appended);
    expect(stats.pending).toBeGreaterThanOrEqual(appended - atStop);
    expect(stats.pending).toBe(appended - stats.ackedSeq);

    await m.restart();
    append(100);
    await f.flush();
    expect(outbox.stats()).toMatchObject({ pending: 0, ackedSeq: appended });
    await waitFor('every reading at the consumer', () => byDevice(sub.got).seen.size >= appended, 20_000);

    const { order, seen } = byDevice(sub.got);
    expect(seen.size).toBe(appended);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: appended }, (_, i) => i + 1));
    for (const [device, seqs] of order) {
      for (let i = 1; i < seqs.length; i++) expect(seqs[i], `device ${device} at ${i}`).toBeGreaterThan(seqs[i - 1]!);
    }
    expect(f.stats().failures).toBeGreaterThan(0);
  });

  it('bad credentials: a coded rejection, no crash, the password never logged; good ones deliver', async () => {
    const m = await mosquitto({ users: { bridge: 'right-pw', consumer: 'consumer-pw' } });
    const { logger, lines } = captureLogs();
    const bad = bridge({ url: m.url, username: 'bridge', password: 'wrong-pw-123', logger, timeoutMs: 3000 });
    const err = await bad.send(batchOf(numbered(SITE, 1, 5))).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EDGE_ERR_UPLINK_REJECTED', params: { uplink: 'bridge' } });
    // The forwarder keeps the batch in its outbox and keeps trying.
    const outbox = openOutbox({ file: tmp.file('outbox.db'), site: SITE });
    defer(() => outbox.close());
    outbox.append(inputs(SITE, 0, 5));
    const f = startForwarder({ outbox, uplink: bad, logger: quiet(), backoff: { initialMs: 10, maxMs: 50 } });
    defer(() => f.stop());
    await waitFor('a rejected send', () => f.stats().lastErrorCode === 'EDGE_ERR_UPLINK_REJECTED');
    expect(outbox.stats().pending).toBe(5);
    expect(lines.some((l) => l.msg === 'external broker refused the connection')).toBe(true);
    expect(JSON.stringify(lines)).not.toContain('wrong-pw-123');

    // Credentials in the URL work too, and are not logged either.
    const sub = await subscriber(m.url, 'auth-consumer', { username: 'consumer', password: 'consumer-pw' });
    const good = bridge({ url: `mqtt://bridge:right-pw@127.0.0.1:${m.port}`, logger });
    expect(await good.send(batchOf(numbered(SITE, 1, 4)))).toEqual({ accepted: 4, duplicates: 0, conflicts: 0, quarantined: 0 });
    await waitFor('4 readings', () => sub.got.length >= 4);
    expect(JSON.stringify(lines)).not.toContain('right-pw');
  });

  it('a send waits for a broker that is not there yet and fails with a coded error when none comes', async () => {
    const m = await mosquitto();
    await m.stop();
    const up = bridge({ url: m.url, timeoutMs: 300 });
    await expect(up.send(batchOf(numbered(SITE, 1, 2)))).rejects.toMatchObject({ code: 'EDGE_ERR_UPLINK_UNREACHABLE', params: { target: m.url } });
    await m.restart();
    const sub = await subscriber(m.url, 'late');
    await waitFor('a delivered send', () => up.send(batchOf(numbered(SITE, 1, 2))).then(() => true, () => false));
    await waitFor('2 readings', () => sub.got.length >= 2);
  });
});
