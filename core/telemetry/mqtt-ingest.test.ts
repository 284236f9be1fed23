import mqtt, { type MqttClient } from 'mqtt';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { batchOf, captureLogs, inputs, metricValue, numbered, quiet, tempDir, waitFor, type CapturedLog } from './fixtures/helpers.ts';
import {
  createMqttUplink,
  openOutbox,
  openTelemetryStore,
  startForwarder,
  startMqttIngest,
  telemetryTopic,
  type MqttIngest,
  type TelemetryStore,
  type Uplink,
} from './index.ts';

const SITE = 'plant-a';
const TOKENS: Record<string, string> = { 'plant-a': 'token-a', 'plant-b': 'token-b' };
let tmp: ReturnType<typeof tempDir>;
let store: TelemetryStore;
let metrics: Registry;
let logs: CapturedLog;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(() => {
  tmp = tempDir();
  store = openTelemetryStore({ file: tmp.file('hub.db') });
  metrics = new Registry();
  logs = captureLogs();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await store.close();
  tmp.remove();
});

async function ingest(port = 0): Promise<MqttIngest> {
  const server = await startMqttIngest({
    port,
    store,
    authenticate: (username, password) => (TOKENS[username] !== undefined && TOKENS[username] === password ? { site: username, producer: `token:${username}` } : undefined),
    logger: logs.logger,
    metrics,
  });
  cleanups.push(() => server.close());
  return server;
}

function uplink(port: number, opts: Partial<Parameters<typeof createMqttUplink>[0]> = {}): Uplink {
  const up = createMqttUplink({ url: `mqtt://127.0.0.1:${port}`, token: TOKENS[SITE]!, site: SITE, ...opts });
  cleanups.push(() => up.close());
  return up;
}

/** A bare client that does not reconnect, for protocol-level checks. */
async function rawClient(port: number, username: string, password: string, clientId = `raw-${username}`): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username, password, clientId, clean: true, reconnectPeriod: 0 });
  cleanups.push(() => c.endAsync(true));
  return c;
}

/** Publishes at QoS 1 and reports whether the broker acknowledged or closed the connection. */
function publishOutcome(c: MqttClient, topic: string, payload: string): Promise<'puback' | 'closed'> {
  return new Promise((resolve) => {
    c.once('close', () => resolve('closed'));
    c.publish(topic, payload, { qos: 1 }, (err) => {
      if (!err) resolve('puback');
    });
  });
}

function expectStrictlyIncreasing(xs: number[]): void {
  for (let i = 1; i < xs.length; i++) expect(xs[i]).toBeGreaterThan(xs[i - 1]!);
}

describe('MQTT uplink and ingest', () => {
  it('a PUBACK means the batch is committed; redelivery is absorbed', async () => {
    const server = await ingest();
    const up = uplink(server.port);
    expect(await up.send(batchOf(numbered(SITE, 1, 50)))).toEqual({ accepted: 50, duplicates: 0, conflicts: 0, quarantined: 0 });
    expect(await store.count({ site: SITE })).toBe(50);
    await up.send(batchOf(numbered(SITE, 25, 50)));
    expect(await store.count({ site: SITE })).toBe(74);
    expect(await metricValue(metrics, 'edgeadm_mqtt_ingest_batches_total', { site: SITE })).toBe(2);
  });

  it('with the forwarder: a broker down for a while then up gets every reading exactly once, in order', async () => {
    const probe = await ingest();
    const port = probe.port;
    await probe.close();
    const outbox = openOutbox({ file: tmp.file('outbox.db'), site: SITE });
    cleanups.push(() => outbox.close());
    const up = uplink(port, { timeoutMs: 300, reconnectPeriodMs: 50 });
    const f = startForwarder({ outbox, uplink: up, batchSize: 400, logger: quiet(), backoff: { initialMs: 10, maxMs: 100 } });
    cleanups.push(() => f.stop());
    for (let b = 0; b < 5; b++) outbox.append(inputs(SITE, b * 400, 400));
    f.notify();
    await waitFor('failures while the broker is down', () => f.stats().failures >= 1);
    expect(f.stats()).toMatchObject({ connected: false, sent: 0 });

    const arrivals: number[] = [];
    store.subscribe({ site: SITE }, (rs) => arrivals.push(...rs.map((r) => r.seq)));
    await ingest(port);
    for (let b = 5; b < 8; b++) {
      outbox.append(inputs(SITE, b * 400, 400));
      f.notify();
    }
    await f.flush();
    expect(await store.count({ site: SITE })).toBe(3200);
    expect((await store.streams(SITE)).reduce((n, x) => Math.max(n, x.highSeq), 0)).toBe(3200);
    expect(arrivals).toHaveLength(3200);
    expectStrictlyIncreasing(arrivals);
    expect(f.stats()).toMatchObject({ connected: true, sent: 3200 });
  });

  it('refuses bad credentials with CONNACK 4, and the uplink reports it as rejected', async () => {
    const server = await ingest();
    await expect(mqtt.connectAsync(`mqtt://127.0.0.1:${server.port}`, { username: SITE, password: 'wrong', reconnectPeriod: 0 })).rejects.toMatchObject({ code: 4 });
    const up = uplink(server.port, { token: 'also-wrong', timeoutMs: 2000 });
    await expect(up.send(batchOf(numbered(SITE, 1, 1)))).rejects.toMatchObject({ code: 'EDGE_ERR_UPLINK_REJECTED', params: { status: 4 } });
    expect(await metricValue(metrics, 'edgeadm_mqtt_ingest_auth_failures_total')).toBeGreaterThanOrEqual(2);
    expect(await store.count()).toBe(0);
  });

  it('stores each batch under the producer its credentials speak for, and stores a rewound stream rather than refusing it', async () => {
    const server = await ingest();
    const c = await rawClient(server.port, SITE, TOKENS[SITE]!, 'producer-client');
    expect(await publishOutcome(c, telemetryTopic(SITE), JSON.stringify(batchOf(numbered(SITE, 1, 4))))).toBe('puback');
    // The same stream declaring a lower lastSeq (a restored outbox): MQTT cannot say why a publish is refused, so it is stored.
    const restored = numbered(SITE, 3, 3).map((r) => ({ ...r, value: -r.seq }));
    expect(await publishOutcome(c, telemetryTopic(SITE), JSON.stringify({ stream: { id: 'stream-one', lastSeq: 5 }, readings: restored }))).toBe('puback');
    expect(await store.streams(SITE)).toMatchObject([{ producer: `token:${SITE}`, id: 'stream-one', held: 5, conflicts: 2, declaredLastSeq: 5 }]);
    expect((await store.quarantined({ site: SITE })).map((q) => q.reading.value as number).sort((x, y) => x - y)).toEqual([-4, -3]);
  });

  it("refuses publishes to another site's topic and subscriptions beyond its own", async () => {
    const server = await ingest();
    const c = await rawClient(server.port, SITE, TOKENS[SITE]!);
    await expect(c.subscribeAsync('edgeadm/telemetry/#', { qos: 1 })).rejects.toMatchObject({ packet: { granted: [128] } });
    expect((await c.subscribeAsync(telemetryTopic(SITE), { qos: 1 }))[0]!.qos).toBe(1);
    expect(await publishOutcome(c, telemetryTopic('plant-b'), JSON.stringify(batchOf(numbered('plant-b', 1, 1))))).toBe('closed');
    expect(await store.count()).toBe(0);
    expect(await metricValue(metrics, 'edgeadm_mqtt_ingest_rejected_total', { reason: 'topic' })).toBe(1);
  });

  it('rejects malformed payloads without crashing, counts each and logs once per client per window', async () => {
    const server = await ingest();
    const bad: [string, string][] = [
      ['payload', 'not json'],
      ['payload', JSON.stringify({ something: 'else' })],
      ['payload', JSON.stringify([1, 2])],
      ['payload', JSON.stringify({ readings: numbered(SITE, 1, 2) })],
      ['invalid', JSON.stringify(batchOf(numbered('plant-b', 1, 2)))],
      ['invalid', JSON.stringify({ stream: { id: 'stream-one', lastSeq: 1 }, readings: [{ seq: 1 }] })],
      ['invalid', JSON.stringify(batchOf(numbered(SITE, 1, 2), 'x'))],
      ['invalid', JSON.stringify({ stream: { id: 'stream-one', lastSeq: 1 }, readings: numbered(SITE, 1, 2) })],
    ];
    for (const [, payload] of bad) {
      const c = await rawClient(server.port, SITE, TOKENS[SITE]!, 'same-client');
      expect(await publishOutcome(c, telemetryTopic(SITE), payload)).toBe('closed');
    }
    expect(await metricValue(metrics, 'edgeadm_mqtt_ingest_rejected_total', { reason: 'payload' })).toBe(4);
    expect(await metricValue(metrics, 'edgeadm_mqtt_ingest_rejected_total', { reason: 'invalid' })).toBe(4);
    const warned = logs.lines.filter((l) => l.level === 40 && l.client === 'same-client');
    expect(warned).toHaveLength(1);
    expect(await store.count()).toBe(0);
    // The broker still serves.
    const ok = await rawClient(server.port, SITE, TOKENS[SITE]!, 'good-client');
    expect(await publishOutcome(ok, telemetryTopic(SITE), JSON.stringify(batchOf(numbered(SITE, 1, 3))))).toBe('puback');
    expect(await store.count({ site: SITE })).toBe(3);
  });
});
