/**
 * The processes bench/mqtt.ts spawns: `node --import tsx bench/mqtt-child.ts aedes|publish`.
 *
 * aedes: the site broker as the site agent runs it (sites/broker.ts: logins,
 * topic lists, SQLite sessions), alone in its process; sends
 * `{ port, internal }` (its own login, for the consumer) once it listens.
 * publish: a process of device clients (mqtt.js). It sends `{ ready: true }`,
 * then answers requests `{ id, job }`: `connect` opens the clients, `publish`
 * makes each publish its share of 100-byte JSON payloads to
 * `devices/<client>/<resource>` (a window of publishes in flight per client),
 * `disconnect` closes them. Answers are `{ id, result }` or `{ id, error }`.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger, hashSecret } from '../core/kernel/index.ts';
import { startSiteBroker } from '../sites/broker.ts';

export type PublishJob =
  | { op: 'connect'; url: string; clients: number; prefix: string; username: string; password: string }
  | { op: 'publish'; qos: 0 | 1; perClient: number }
  | { op: 'disconnect' };

/** In-flight publishes per client: enough to keep the pipe full, bounded so QoS 0 cannot buffer without limit. */
const WINDOW = 256;
const RESOURCES = ['temperature', 'pressure', 'flow', 'level'];

/** A reading-like JSON payload of exactly 100 bytes. */
export function payload(i: number): Buffer {
  const base = JSON.stringify({ value: 20 + (i % 1000) / 10, origin: Date.now() * 1_000_000, quality: 'good', pad: '' });
  return Buffer.from(base.replace('"pad":""', `"pad":"${'x'.repeat(Math.max(0, 100 - base.length))}"`));
}

function pump(client: MqttClient, topicBase: string, n: number, qos: 0 | 1): Promise<void> {
  const body = payload(0);
  return new Promise((resolve, reject) => {
    let sent = 0;
    let done = 0;
    let inflight = 0;
    let failed = false;
    const next = (): void => {
      while (!failed && inflight < WINDOW && sent < n) {
        const i = sent++;
        inflight++;
        client.publish(`${topicBase}/${RESOURCES[i % RESOURCES.length]!}`, body, { qos }, (err) => {
          if (err) {
            failed = true;
            reject(err);
            return;
          }
          inflight--;
          if (++done === n) resolve();
          else next();
        });
      }
    };
    if (n === 0) resolve();
    else next();
  });
}

function publisher(): void {
  let clients: MqttClient[] = [];
  let prefix = '';
  const handle = async (job: PublishJob): Promise<number> => {
    switch (job.op) {
      case 'connect':
        prefix = job.prefix;
        clients = await Promise.all(
          // A login's client ids on the site broker are `<username>/<suffix>`.
          Array.from({ length: job.clients }, (_, i) =>
            mqtt.connectAsync(job.url, { clientId: `${job.username}/${job.prefix}-${i}`, clean: true, reconnectPeriod: 0, username: job.username, password: job.password }),
          ),
        );
        return clients.length;
      case 'publish':
        await Promise.all(clients.map((c, i) => pump(c, `devices/${prefix}-${i}`, job.perClient, job.qos)));
        return job.perClient * clients.length;
      case 'disconnect':
        await Promise.all(clients.map((c) => c.endAsync()));
        clients = [];
        return 0;
    }
  };
  process.on('message', (m: { id: number; job: PublishJob }) => {
    handle(m.job).then(
      (result) => process.send!({ id: m.id, result }),
      (err: unknown) => process.send!({ id: m.id, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  process.send!({ ready: true });
}

async function aedes(): Promise<void> {
  const device = JSON.parse(process.env.EDGEADM_BENCH_DEVICE_LOGIN ?? 'null') as { username: string; password: string } | null;
  if (!device) throw new Error('EDGEADM_BENCH_DEVICE_LOGIN is not set');
  const passwordHash = await hashSecret(device.password);
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-bench-broker-'));
  const broker = await startSiteBroker({
    host: '127.0.0.1',
    port: 0,
    logger: createLogger({ level: 'warn' }),
    persistenceFile: path.join(dir, 'broker.db'),
    lookup: (username) => (username === device.username ? { passwordHash, publish: ['devices/#'], subscribe: [] } : undefined),
  });
  process.once('SIGTERM', () => {
    void broker
      .close()
      .finally(() => rmSync(dir, { recursive: true, force: true }))
      .finally(() => process.exit(0));
  });
  process.send!({ port: Number(new URL(broker.url).port), internal: broker.credentials });
}

const role = process.argv[2];
process.once('disconnect', () => process.exit(0));
if (role === 'aedes') await aedes();
else if (role === 'publish') publisher();
else {
  process.stderr.write(`bench/mqtt-child.ts: unknown role '${role ?? ''}' (aedes or publish)\n`);
  process.exit(2);
}
