/**
 * The export to an MQTT broker, against a real Mosquitto with
 * `mosquitto_sub` as the consumer: every stored reading published at QoS 1
 * on its topic, in the platform's JSON or as EdgeX events; stopped and
 * started again, it goes on from its durable cursor with no gap and no
 * duplicate (by stream and seq); while the broker is away, readings wait in
 * the store and follow when it is back; bad options are coded errors naming
 * the option.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { startMosquitto, type Mosquitto } from '../../test/support/mosquitto.ts';
import { edgexToReadings, isEdgeError, unwrapEdgeXEnvelope } from '../sdk/index.ts';
import { numbered, streamKey, tempDir, waitFor } from './fixtures/helpers.ts';
import { openTelemetryStore, startTelemetryExport, type TelemetryStore } from './index.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** mosquitto_sub on `topic`, every message as [topic, payload]. */
function consume(broker: Mosquitto, topic: string): { messages: [string, string][]; stop(): void } {
  const messages: [string, string][] = [];
  const p: ChildProcess = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.port), '-q', '1', '-v', '-t', topic, '-i', 'export-consumer'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  p.stdout!.setEncoding('utf8');
  p.stdout!.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const sp = line.indexOf(' ');
      messages.push([line.slice(0, sp), line.slice(sp + 1)]);
    }
  });
  return { messages, stop: () => void p.kill() };
}


async function setup(): Promise<{ store: TelemetryStore; broker: Mosquitto }> {
  const tmp = tempDir();
  const store = openTelemetryStore({ file: tmp.file('telemetry.db') });
  const broker = await startMosquitto();
  cleanups.push(() => tmp.remove(), () => store.close(), () => broker.close());
  return { store, broker };
}

const seqKey = (payload: string): string => {
  const r = JSON.parse(payload) as { site: string; stream: string; seq: number };
  return `${r.site}/${r.stream}/${r.seq}`;
};

describe('the telemetry export', () => {
  it('publishes every stored reading once, and goes on from its cursor after a restart with no gap or duplicate', { timeout: 60_000 }, async () => {
    const { store, broker } = await setup();
    const sub = consume(broker, 'edgeadm/#');
    cleanups.push(() => sub.stop());
    await new Promise((r) => setTimeout(r, 300));
    await store.ingest(streamKey('plant-a', numbered('plant-a', 1, 700)), numbered('plant-a', 1, 700));
    await store.ingest(streamKey('plant-b', numbered('plant-b', 1, 50), { producer: 'node:gw-b' }), numbered('plant-b', 1, 50));
    let exp = await startTelemetryExport({ store, url: broker.url, batch: 200 });
    await waitFor('750 readings', () => sub.messages.length >= 750, 15_000);
    expect(sub.messages[0]![0]).toBe('edgeadm/plant-a/d1/flow');
    expect(JSON.parse(sub.messages[0]![1])).toMatchObject({ site: 'plant-a', device: 'd1', seq: 1, stream: 'token:t1/stream-one' });
    await exp.stop();
    expect(exp.exported).toBe(750);

    // Stored while no export runs, then one starts again: from the cursor, nothing twice.
    await store.ingest(streamKey('plant-a', numbered('plant-a', 701, 100), { lastSeq: 800 }), numbered('plant-a', 701, 100));
    exp = await startTelemetryExport({ store, url: broker.url, batch: 200 });
    cleanups.push(() => exp.stop());
    // Live: a batch stored while it runs goes at once.
    await store.ingest(streamKey('plant-b', numbered('plant-b', 51, 10), { producer: 'node:gw-b', lastSeq: 60 }), numbered('plant-b', 51, 10));
    await waitFor('860 readings', () => sub.messages.length >= 860, 15_000);
    await new Promise((r) => setTimeout(r, 300));
    const keys = sub.messages.map(([, p]) => seqKey(p));
    expect(keys).toHaveLength(860);
    expect(new Set(keys).size).toBe(860);
    expect(exp.exported).toBe(110);
  });

  it('waits while the broker is away; the readings stored meanwhile follow when it is back', { timeout: 60_000 }, async () => {
    const { store, broker } = await setup();
    const exp = await startTelemetryExport({ store, url: broker.url, idleMs: 100 });
    cleanups.push(() => exp.stop());
    await store.ingest(streamKey('plant-a', numbered('plant-a', 1, 10)), numbered('plant-a', 1, 10));
    await waitFor('the first 10', () => exp.exported === 10, 15_000);
    await broker.stop();
    await store.ingest(streamKey('plant-a', numbered('plant-a', 11, 20), { lastSeq: 30 }), numbered('plant-a', 11, 20));
    await new Promise((r) => setTimeout(r, 500));
    expect(exp.exported).toBe(10);
    await broker.restart();
    const sub = consume(broker, 'edgeadm/#');
    cleanups.push(() => sub.stop());
    await waitFor('the rest', () => exp.exported === 30, 30_000);
  });

  it('speaks EdgeX events on a topic of its template', { timeout: 30_000 }, async () => {
    const { store, broker } = await setup();
    const sub = consume(broker, 'fleet/#');
    cleanups.push(() => sub.stop());
    await new Promise((r) => setTimeout(r, 300));
    const exp = await startTelemetryExport({ store, url: broker.url, format: 'edgex', topic: 'fleet/{site}/{profile}/{device}' });
    cleanups.push(() => exp.stop());
    const rs = numbered('plant-a', 1, 3);
    await store.ingest(streamKey('plant-a', rs), rs);
    await waitFor('3 events', () => sub.messages.length === 3, 15_000);
    const [topic, payload] = sub.messages[0]!;
    expect(topic).toBe(`fleet/plant-a/${rs[0]!.profile}/${rs[0]!.device}`);
    const decoded = edgexToReadings(unwrapEdgeXEnvelope(payload).payload);
    expect(decoded.readings[0]).toMatchObject({ device: rs[0]!.device, resource: rs[0]!.resource, value: rs[0]!.value });
  });

  it('names the option it cannot work with', async () => {
    const { store, broker } = await setup();
    const code = async (p: Promise<unknown>): Promise<string> =>
      p.then(
        () => 'started',
        (err: unknown) => (isEdgeError(err) ? `${err.code}: ${err.message}` : String(err)),
      );
    expect(await code(startTelemetryExport({ store, url: broker.url, topic: 'a/+/{site}' }))).toMatch(/EDGE_ERR_EXPORT_OPTION: .*'topic' .*without wildcards/);
    expect(await code(startTelemetryExport({ store, url: broker.url, topic: 'a/{sitee}' }))).toMatch(/'topic' \{sitee\} is not a field/);
    expect(await code(startTelemetryExport({ store, url: 'http://x', topic: 'a/{site}' }))).toMatch(/'url' must be mqtt/);
    expect(await code(startTelemetryExport({ store, url: broker.url, format: 'csv' as never }))).toMatch(/'format' 'csv' is not json or edgex/);
  });
});
