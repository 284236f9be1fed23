/**
 * mqtt: messages/s from devices through a broker into readings, QoS 0 and
 * QoS 1, with the site broker (aedes, in its own process as the site agent
 * runs it) and Mosquitto (Debian, started here on a loopback port) measured
 * side by side in the same run, interleaved.
 *
 * Devices: N mqtt.js clients (EDGEADM_BENCH_MQTT_CLIENTS, default 4) spread
 * over 2 processes, each publishing 100-byte JSON payloads to
 * `devices/<client>/<resource>` with up to 256 publishes in flight. The
 * consumer: one mqtt.js subscriber in this process, subscribed to
 * `devices/+/+` at the run's QoS, that parses each payload and builds a
 * Reading. The clock runs from the publishers' start to the last reading;
 * a run ends when every message arrived or none came for 3 s (QoS 0 may
 * lose some: the delivered share is reported when below 100 %).
 * Broker RSS: idle before the runs, and the peak sampled from /proc every
 * 100 ms during them (which includes what the broker queued for the consumer).
 *
 * Both brokers authenticate every client: the devices share one login, the
 * consumer has its own (on the site broker, the site's internal login). The
 * site broker also checks each publish against the device login's topic list
 * and keeps sessions in its SQLite persistence, as the site agent runs it.
 * The consumer has a persistent session (clean = false) like the driver's:
 * on the site broker every QoS 1 message to it is committed to SQLite (group
 * commit) before it counts as delivered; Mosquitto keeps sessions in memory.
 *
 * Mosquitto runs with its defaults (max_inflight_messages 20) except
 * `max_queued_messages 0`, so a slow consumer makes it queue, not drop.
 * Messages per run: EDGEADM_BENCH_MQTT_MESSAGES (default 400,000 at QoS 0,
 * half that at QoS 1).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { createError } from '../core/kernel/index.ts';
import type { Reading } from '../core/sdk/index.ts';
import { startMosquitto, type Mosquitto } from '../test/support/mosquitto.ts';
import { envInt, round, rssMiB, stopChild, versus, type Benchmark, type BenchResult } from './harness.ts';
import type { PublishJob } from './mqtt-child.ts';

const CHILD = fileURLToPath(new URL('./mqtt-child.ts', import.meta.url));
const PROCESSES = 2;
const IDLE_MS = 3000;

const ErrBench = createError('EDGE_ERR_BENCH_MQTT', (p: { step: string; reason: string }) => `mqtt bench: ${p.step}: ${p.reason}`);

interface Child {
  proc: ChildProcess;
  first: Promise<Record<string, unknown>>;
  request(job: PublishJob): Promise<number>;
  stop(): Promise<void>;
}

function startChild(role: 'aedes' | 'publish', device?: Login): Child {
  const proc = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), CHILD, role], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // The device login the site broker accepts, handed over outside argv.
    env: { ...process.env, ...(device ? { EDGEADM_BENCH_DEVICE_LOGIN: JSON.stringify(device) } : {}) },
  });
  const first = new Promise<Record<string, unknown>>((resolve, reject) => {
    proc.once('message', (m) => resolve(m as Record<string, unknown>));
    proc.once('error', (err) => reject(new ErrBench({ step: `${role} process`, reason: err.message })));
    proc.once('exit', (code, sig) => reject(new ErrBench({ step: `${role} process`, reason: `exited (${code ?? sig}) before it was ready` })));
  });
  first.catch(() => undefined);
  let seq = 0;
  const waiting = new Map<number, { resolve: (v: number) => void; reject: (e: Error) => void }>();
  proc.on('message', (m: { id?: number; result?: number; error?: string }) => {
    const w = m.id === undefined ? undefined : waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id!);
    if (m.error !== undefined) w.reject(new ErrBench({ step: `${role} process`, reason: m.error }));
    else w.resolve(m.result ?? 0);
  });
  proc.once('exit', (code, sig) => {
    for (const w of waiting.values()) w.reject(new ErrBench({ step: `${role} process`, reason: `exited (${code ?? sig})` }));
    waiting.clear();
  });
  return {
    proc,
    first,
    request(job) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        proc.send({ id, job });
      });
    },
    stop: () => stopChild(proc, 5000),
  };
}

interface RunResult {
  rate: number;
  delivered: number;
  peakRssMiB: number;
}

interface Login {
  username: string;
  password: string;
}

interface BrokerUnderTest {
  url: string;
  pid: number;
  /** Every device client logs in with this. */
  device: Login;
  consumer: Login;
}

/**
 * One run: publishers connect, the consumer subscribes, then the clock runs
 * from "publish" to the last reading. The consumer keeps a persistent session
 * (clean = false), as the mqtt plugin's driver does on the site broker, and
 * drops it at the end (unsubscribe) so later runs do not queue for it.
 */
async function measure(b: BrokerUnderTest, qos: 0 | 1, publishers: readonly Child[], clientsPerProcess: number, total: number): Promise<RunResult> {
  const { url, pid: brokerPid } = b;
  const perClient = Math.ceil(total / (publishers.length * clientsPerProcess));
  const expected = perClient * publishers.length * clientsPerProcess;
  // The site broker's own login (the consumer on aedes) may use only client ids starting with `edgeadm-`.
  const consumer = await mqtt.connectAsync(url, { clientId: `edgeadm-bench-consumer-${qos}`, clean: false, reconnectPeriod: 0, ...b.consumer });
  let count = 0;
  let last = 0;
  let lastReading: Reading | undefined;
  consumer.on('message', (topic, body) => {
    const [, device, resource] = topic.split('/');
    const p = JSON.parse(body.toString()) as { value: number; origin: number; quality: Reading['quality'] };
    const reading: Reading = { site: 'bench', device: device!, profile: 'bench', resource: resource!, value: p.value, valueType: 'Float64', origin: p.origin, quality: p.quality, seq: ++count };
    lastReading = reading;
    last = performance.now();
  });
  let peak = rssMiB(brokerPid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(brokerPid))), 100);
  try {
    await consumer.subscribeAsync('devices/+/+', { qos });
    await Promise.all(publishers.map((p, i) => p.request({ op: 'connect', url, clients: clientsPerProcess, prefix: `q${qos}-p${i}`, ...b.device })));
    const t0 = performance.now();
    const published = Promise.all(publishers.map((p) => p.request({ op: 'publish', qos, perClient })));
    published.catch(() => undefined);
    let publishDone = false;
    void published.then(() => (publishDone = true));
    for (;;) {
      await new Promise((r) => setTimeout(r, 20));
      if (count >= expected) break;
      const now = performance.now();
      if (publishDone && now - Math.max(last, t0) > IDLE_MS) break;
      if (now - t0 > 60_000) throw new ErrBench({ step: `qos ${qos} run`, reason: `only ${count} of ${expected} messages within 60 s` });
    }
    await published;
    await Promise.all(publishers.map((p) => p.request({ op: 'disconnect' })));
    if (count === 0 || lastReading?.seq !== count) throw new ErrBench({ step: `qos ${qos} run`, reason: 'no message reached the consumer' });
    peak = Math.max(peak, rssMiB(brokerPid));
    return { rate: count / ((last - t0) / 1000), delivered: count / expected, peakRssMiB: peak };
  } finally {
    clearInterval(sampler);
    await consumer.unsubscribeAsync('devices/+/+').catch(() => undefined);
    await consumer.endAsync(true);
  }
}

const bench: Benchmark = {
  name: 'mqtt',
  description: 'devices -> broker -> readings, QoS 0 and 1: aedes (site broker, own process) beside Mosquitto in the same run; broker RSS',
  async run(): Promise<BenchResult[]> {
    const clients = envInt('EDGEADM_BENCH_MQTT_CLIENTS', 4);
    const total0 = envInt('EDGEADM_BENCH_MQTT_MESSAGES', 400_000);
    const totals: Record<0 | 1, number> = { 0: total0, 1: Math.ceil(total0 / 2) };
    const perProcess = Math.max(1, Math.ceil(clients / PROCESSES));
    const children: Child[] = [];
    let mosq: Mosquitto | undefined;
    try {
      const device: Login = { username: 'bench-device', password: randomBytes(18).toString('base64url') };
      const consumerLogin: Login = { username: 'bench-consumer', password: randomBytes(18).toString('base64url') };
      mosq = await startMosquitto({ users: { [device.username]: device.password, [consumerLogin.username]: consumerLogin.password } });
      const aedesProc = startChild('aedes', device);
      children.push(aedesProc);
      const publishers = Array.from({ length: Math.min(PROCESSES, clients) }, () => startChild('publish'));
      children.push(...publishers);
      const { port, internal } = (await aedesProc.first) as { port: number; internal: Login };
      await Promise.all(publishers.map((p) => p.first));
      const brokers: Record<'aedes' | 'mosquitto', BrokerUnderTest> = {
        aedes: { url: `mqtt://127.0.0.1:${port}`, pid: aedesProc.proc.pid!, device, consumer: internal },
        mosquitto: { url: mosq.url, pid: mosq.pid!, device, consumer: consumerLogin },
      };
      const idle = { aedes: rssMiB(brokers.aedes.pid), mosquitto: rssMiB(brokers.mosquitto.pid) };
      const results: Record<string, RunResult> = {};
      for (const qos of [0, 1] as const) {
        for (const name of ['mosquitto', 'aedes'] as const) {
          results[`${name}-${qos}`] = await measure(brokers[name], qos, publishers, perProcess, totals[qos]);
        }
      }
      const out: BenchResult[] = [];
      const n = perProcess * publishers.length;
      for (const qos of [0, 1] as const) {
        const a = results[`aedes-${qos}`]!;
        const m = results[`mosquitto-${qos}`]!;
        out.push({
          ...versus({ bench: 'mqtt', metric: `${n} devices -> aedes -> readings, QoS ${qos}`, value: Math.round(a.rate), unit: 'msgs/s' }, 'mosquitto', Math.round(m.rate)),
          target: 'reported beside Mosquitto',
        });
        for (const [name, r] of [['aedes', a], ['mosquitto', m]] as const) {
          if (r.delivered < 1) out.push({ bench: 'mqtt', metric: `QoS ${qos} messages delivered (${name})`, value: round(r.delivered * 100, 2), unit: '%' });
        }
      }
      const peak = (name: string): number => Math.max(results[`${name}-0`]!.peakRssMiB, results[`${name}-1`]!.peakRssMiB);
      out.push(versus({ bench: 'mqtt', metric: 'broker RSS, idle before the runs (aedes)', value: round(idle.aedes, 1), unit: 'MiB' }, 'mosquitto', idle.mosquitto));
      out.push(versus({ bench: 'mqtt', metric: 'broker RSS, peak over the runs, backlog included (aedes)', value: round(peak('aedes'), 1), unit: 'MiB' }, 'mosquitto', peak('mosquitto')));
      return out;
    } finally {
      await Promise.all(children.map((c) => c.stop()));
      await mosq?.close();
    }
  },
};

export default bench;
