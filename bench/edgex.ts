/**
 * edgex: readings/s the edgex plugin publishes as EdgeX v3 events on the
 * site broker, beside the same readings published in the platform's own
 * format (a Reading as JSON on `edgeadm/<site>/readings/<device>/<resource>`)
 * by a publisher as simple as can be, in the same run, at QoS 0 (EdgeX's
 * default) and QoS 1.
 *
 * Both take the site's reading feed: readings appended to the site's outbox
 * (the SDK test kit's site services: a real SQLite outbox and the site broker,
 * aedes, in this process as the site agent runs them), in batches of 500 from
 * 50 devices x 20 resources (Float64, Float32, Uint16 and Bool values with
 * units), and each publishes one message per reading with its own mqtt.js
 * client. An EdgeX event costs an AddEventRequest with UUIDs, Go's float
 * text, JSON, base64 and the envelope's JSON; the peer one JSON.stringify.
 * A consumer (one mqtt.js client, this process) counts the messages; the
 * producer keeps at most 5,000 readings ahead of it, so nothing is dropped
 * (drops would be counted and shown). The clock runs from the first append
 * to the last message received. Runs alternate EdgeX and peer, 3 each, the
 * median kept. The plugin runs with `subscribe: false` for the ratio (the
 * peer takes nothing from the bus); a third figure is its default config,
 * which also receives its own events back (aedes has no MQTT 5 no-local).
 *
 * Readings per run: EDGEADM_BENCH_EDGEX_READINGS (default 100,000).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { createError } from '../core/kernel/index.ts';
import { nowOrigin, type Reading, type SiteBroker } from '../core/sdk/index.ts';
import { mockSiteServices, startTestKernel, type MockSite } from '../core/sdk/testkit/index.ts';
import edgex from '../plugins/edgex/index.ts';
import { envInt, round, versus, type Benchmark, type BenchResult } from './harness.ts';

const SITE = 'bench-site';
const BATCH = 500;
const WINDOW = 5000;
const RUNS = 3;
const IDLE_MS = 3000;

const ErrBench = createError('EDGE_ERR_BENCH_EDGEX', (p: { step: string; reason: string }) => `edgex bench: ${p.step}: ${p.reason}`);

type Input = Omit<Reading, 'site' | 'seq'>;

function makeBatches(total: number): Input[][] {
  const base = nowOrigin();
  const kinds = [
    { valueType: 'Float64' as const, value: (n: number): number => Math.round(n * 1.37 * 100) / 100, units: 'bar' },
    { valueType: 'Float32' as const, value: (n: number): number => Math.fround((n % 1000) / 7), units: 'degC' },
    { valueType: 'Uint16' as const, value: (n: number): number => n % 65536, units: 'rpm' },
    { valueType: 'Bool' as const, value: (n: number): boolean => n % 2 === 0, units: '' },
  ];
  const out: Input[][] = [];
  for (let b = 0; b * BATCH < total; b++) {
    out.push(
      Array.from({ length: Math.min(BATCH, total - b * BATCH) }, (_, i): Input => {
        const n = b * BATCH + i;
        const k = kinds[(i % 20) % kinds.length]!;
        return {
          device: `pump-${i % 50}`,
          profile: 'centrifugal-pump',
          resource: `r${i % 20}`,
          value: k.value(n),
          valueType: k.valueType,
          ...(k.units === '' ? {} : { units: k.units }),
          origin: base + n * 1000,
          quality: 'good',
        };
      }),
    );
  }
  return out;
}

function connect(broker: SiteBroker, name: string): Promise<MqttClient> {
  return mqtt.connectAsync(broker.url, { clientId: `edgeadm-bench-${name}`, username: broker.credentials.username, password: broker.credentials.password, clean: true, protocolVersion: 4, queueQoSZero: false });
}

/** The peer: the site's readings as the platform's own JSON, one message per reading. */
async function startJsonPublisher(site: MockSite, qos: 0 | 1): Promise<() => Promise<void>> {
  const client = await connect(site.broker!, 'json');
  const off = site.feed.subscribe((readings) => {
    for (const r of readings) client.publish(`edgeadm/${r.site}/readings/${r.device}/${r.resource}`, JSON.stringify(r), { qos });
  });
  return async () => {
    off();
    await client.endAsync();
  };
}

interface Run {
  perSecond: number;
  delivered: number;
  bytes: number;
}

async function run(site: MockSite, batches: Input[][], topic: string, start: () => Promise<() => Promise<void>>): Promise<Run> {
  const total = batches.reduce((n, b) => n + b.length, 0);
  const consumer = await connect(site.broker!, 'consumer');
  let received = 0;
  let bytes = 0;
  let last = performance.now();
  consumer.on('message', (_t, payload) => {
    received++;
    bytes += payload.length;
    last = performance.now();
  });
  await consumer.subscribeAsync(topic, { qos: 1 });
  const stop = await start();
  try {
    const t0 = performance.now();
    let appended = 0;
    for (const batch of batches) {
      // Closed loop: at most WINDOW readings ahead of the consumer.
      while (appended - received > WINDOW) {
        if (performance.now() - last > IDLE_MS) break;
        await new Promise((r) => setImmediate(r));
      }
      site.readings.append(batch);
      appended += batch.length;
      last = Math.max(last, performance.now());
    }
    while (received < total && performance.now() - last < IDLE_MS) await new Promise((r) => setTimeout(r, 2));
    const seconds = (last - t0) / 1000;
    return { perSecond: received / seconds, delivered: received / total, bytes: received === 0 ? 0 : bytes / received };
  } finally {
    await stop();
    await consumer.endAsync();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(): Promise<BenchResult[]> {
  const total = envInt('EDGEADM_BENCH_EDGEX_READINGS', 100_000);
  const batches = makeBatches(total);
  const site = await mockSiteServices({ site: SITE, broker: true, logLevel: 'warn' });
  const results: BenchResult[] = [];
  try {
    const edgexRun = (config: Record<string, unknown>) => async (): Promise<() => Promise<void>> => {
      const tk = await startTestKernel({ plugins: [{ plugin: edgex, site: SITE, config }], services: site.services, logLevel: 'warn' });
      const status = tk.status(`edgex@${SITE}`);
      if (status.state !== 'running') throw new ErrBench({ step: 'start the edgex plugin', reason: `${status.state}: ${status.error?.message ?? ''}` });
      return async () => {
        const dropped = site.metrics.getSingleMetric('edgeadm_edgex_publish_dropped_total');
        const values = dropped ? (await dropped.get()).values.filter((v) => v.value > 0) : [];
        await tk.stop();
        if (values.length > 0) process.stderr.write(`edgex bench: dropped ${values.map((v) => `${String(v.labels.reason)} ${v.value}`).join(', ')}\n`);
      };
    };
    for (const qos of [0, 1] as const) {
      const ex: Run[] = [];
      const js: Run[] = [];
      for (let i = 0; i < RUNS; i++) {
        ex.push(await run(site, batches, 'edgex/events/#', edgexRun({ qos, subscribe: false })));
        js.push(await run(site, batches, `edgeadm/${SITE}/readings/#`, () => startJsonPublisher(site, qos)));
      }
      const share = (runs: Run[]): string => {
        const d = Math.min(...runs.map((r) => r.delivered));
        return d < 1 ? `, ${round(d * 100, 1)} % delivered` : '';
      };
      results.push(
        versus(
          { bench: 'edgex', metric: `readings/s as EdgeX events, QoS ${qos}${share(ex)}`, value: round(median(ex.map((r) => r.perSecond)), 0), unit: 'readings/s' },
          `platform JSON, QoS ${qos}${share(js)}`,
          median(js.map((r) => r.perSecond)),
        ),
      );
      if (qos === 0) {
        results.push(versus({ bench: 'edgex', metric: 'bytes per message, EdgeX event', value: round(median(ex.map((r) => r.bytes)), 0), unit: 'bytes' }, 'platform JSON', median(js.map((r) => r.bytes))));
        const def: Run[] = [];
        for (let i = 0; i < RUNS; i++) def.push(await run(site, batches, 'edgex/events/#', edgexRun({})));
        results.push({ bench: 'edgex', metric: `readings/s as EdgeX events, default config (QoS 0, also receiving its own events)${share(def)}`, value: round(median(def.map((r) => r.perSecond)), 0), unit: 'readings/s' });
      }
    }
  } finally {
    await site.close();
  }
  return results;
}

const bench: Benchmark = {
  name: 'edgex',
  description: 'readings/s published as EdgeX v3 events on the site broker vs the platform JSON, same run',
  run: measure,
};
export default bench;
