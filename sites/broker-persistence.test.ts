import assert from 'node:assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import type { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../core/kernel/index.ts';
import { deferCleanup } from '../test/support/cleanup.ts';
import { quiet, tempDir, waitFor } from '../test/support/hub-fixture.ts';
import { openBrokerPersistence, type BrokerPersistence, type BrokerPersistenceOptions, type PersistedPacket } from './broker-persistence.ts';

const cleanup = deferCleanup();

// ---------------------------------------------------------------------------
// aedes-persistence's own abstract suite (written for node:test), run here
// through a small node:test-shaped adapter: t.plan is enforced, t.assert is
// node:assert (as node:test's is).

interface ShimContext {
  plan(n: number): void;
  diagnostic(msg: string): void;
  assert: Pick<typeof assert, 'equal' | 'notEqual' | 'deepEqual' | 'ok'>;
}

function nodeTestShim(name: string, fn: (t: ShimContext) => Promise<void>): void {
  it(name, async () => {
    let planned: number | undefined;
    let count = 0;
    const counted =
      <A extends unknown[]>(f: (...args: A) => void) =>
      (...args: A): void => {
        count++;
        f(...args);
      };
    const t: ShimContext = {
      plan: (n) => void (planned = n),
      diagnostic: () => undefined,
      assert: { equal: counted(assert.equal), notEqual: counted(assert.notEqual), deepEqual: counted(assert.deepEqual), ok: counted(assert.ok) },
    };
    await fn(t);
    if (planned !== undefined) expect(count, 'assertions run (t.plan)').toBe(planned);
  });
}

const requireHere = createRequire(import.meta.url);
const persistenceDir = path.dirname(requireHere.resolve('aedes-persistence/package.json', { paths: [path.dirname(requireHere.resolve('aedes'))] }));
type AbstractSuite = (opts: { test: typeof nodeTestShim; persistence: () => BrokerPersistence; testAsync: boolean }) => void;
const abstractSuite = requireHere(path.join(persistenceDir, 'abstract.js')) as AbstractSuite;

function suiteFactory(extra: Partial<BrokerPersistenceOptions> = {}): () => BrokerPersistence {
  const dir = tempDir('broker-persistence-abstract');
  let n = 0;
  return () => {
    const p = openBrokerPersistence({ file: path.join(dir, `p${n++}.db`), logger: quiet, ...extra });
    cleanup(() => p.destroy());
    return p;
  };
}

describe('aedes-persistence abstract suite', () => {
  abstractSuite({ test: nodeTestShim, persistence: suiteFactory(), testAsync: true });
});

describe('aedes-persistence abstract suite, broadcast subscriptions', () => {
  abstractSuite({ test: nodeTestShim, persistence: suiteFactory({ broadcastSubscriptions: true }), testAsync: true });
});

// ---------------------------------------------------------------------------
// Round trip of every kind of state through the file, at the persistence API.

async function drain<T>(stream: Readable): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item as T);
  return out;
}

describe('state survives reopening the file', () => {
  it('restores retained, subscriptions, queues with message ids, incoming packets and wills losslessly', async () => {
    const file = path.join(tempDir('broker-persistence'), 'broker.db');
    const brokerA = { id: 'broker-a', counter: 0 };
    const a = openBrokerPersistence({ file, logger: quiet });
    cleanup(() => a.destroy());
    await a.setup(brokerA);

    const props = { correlationData: Buffer.from([0, 1, 2, 255]), userProperties: { k: 'v' }, contentType: 'application/x' };
    await a.storeRetained({ cmd: 'publish', topic: 'cfg/a', payload: Buffer.from('one'), qos: 1, retain: true, properties: props });
    await a.storeRetained({ cmd: 'publish', topic: 'cfg/b', payload: 'as a string', qos: 0, retain: true });
    await a.storeRetained({ cmd: 'publish', topic: 'cfg/c', payload: Buffer.from('gone'), qos: 0, retain: true });
    await a.storeRetained({ cmd: 'publish', topic: 'cfg/c', payload: Buffer.alloc(0), qos: 0, retain: true });

    await a.addSubscriptions({ id: 'dev' }, [
      { topic: 'cmd/dev', qos: 1, rh: 0, rap: true, nl: false, subscriptionIdentifier: 7 },
      { topic: 'cmd/all/#', qos: 2, rh: 0, rap: false, nl: false },
      { topic: 'noqos', qos: 0, rh: 0, rap: true, nl: false },
    ]);
    await a.addSubscriptions({ id: 'gone' }, [{ topic: 'x', qos: 1 }]);
    await a.cleanSubscriptions({ id: 'gone' });

    const base = { cmd: 'publish', topic: 'cmd/dev', qos: 1, retain: false, dup: false, brokerId: brokerA.id };
    await a.outgoingEnqueueCombi([{ clientId: 'dev' }], { ...base, payload: Buffer.from('m1'), brokerCounter: 1, properties: props });
    await a.outgoingEnqueue({ clientId: 'dev' }, { ...base, payload: Buffer.from('m2'), brokerCounter: 2 });
    await a.outgoingEnqueue({ clientId: 'dev' }, { ...base, payload: Buffer.from('m3'), brokerCounter: 3, qos: 2 });
    await a.outgoingUpdate({ id: 'dev' }, { ...base, payload: Buffer.from('m1'), brokerCounter: 1, messageId: 11 });
    await a.outgoingUpdate({ id: 'dev' }, { ...base, payload: Buffer.from('m3'), brokerCounter: 3, messageId: 13, qos: 2 });
    await a.outgoingUpdate({ id: 'dev' }, { cmd: 'pubrel', messageId: 13 });

    await a.incomingStorePacket({ id: 'dev' }, { cmd: 'publish', topic: 'up', payload: Buffer.from('in'), qos: 2, messageId: 5 });
    await a.putWill({ id: 'dev' }, { topic: 'status/dev', payload: Buffer.from('offline'), qos: 1, retain: true });

    const before = {
      retained: await drain<PersistedPacket>(a.createRetainedStream('#')),
      subs: await a.subscriptionsByClient({ id: 'dev' }),
      byTopic: await a.subscriptionsByTopic('cmd/all/x'),
      count: await a.countOffline(),
      queue: await drain<PersistedPacket>(a.outgoingStream({ id: 'dev' })),
      incoming: await a.incomingGetPacket({ id: 'dev' }, { messageId: 5 }),
      will: await a.getWill({ id: 'dev' }),
      stats: a.stats(),
    };
    await a.destroy();

    const b = openBrokerPersistence({ file, logger: quiet });
    cleanup(() => b.destroy());
    await b.setup({ id: 'broker-b' });
    const after = {
      retained: await drain<PersistedPacket>(b.createRetainedStream('#')),
      subs: await b.subscriptionsByClient({ id: 'dev' }),
      byTopic: await b.subscriptionsByTopic('cmd/all/x'),
      count: await b.countOffline(),
      queue: await drain<PersistedPacket>(b.outgoingStream({ id: 'dev' })),
      incoming: await b.incomingGetPacket({ id: 'dev' }, { messageId: 5 }),
      will: await b.getWill({ id: 'dev' }),
      stats: b.stats(),
    };

    // structuredClone drops class identity (aedes-packet's Packet), keeps every field and undefined-valued keys
    expect(structuredClone(after)).toStrictEqual(structuredClone(before));
    expect(after.retained.map((p) => p.topic)).toEqual(['cfg/a', 'cfg/b']);
    expect(Buffer.isBuffer(after.retained[0]!.payload)).toBe(true);
    expect(Buffer.isBuffer(after.retained[0]!.properties!.correlationData)).toBe(true);
    expect(after.retained[1]!.payload).toBe('as a string');
    expect(after.subs[0]).toMatchObject({ topic: 'cmd/dev', subscriptionIdentifier: 7 });
    expect(after.queue.map((p) => [p.cmd, p.messageId])).toEqual([
      ['publish', 11],
      ['publish', undefined],
      ['pubrel', 13],
    ]);
    expect(after.stats).toEqual({ queued: 3, dropped: 0, clients: 1 });
    // a restored will belongs to a broker other than the running one: aedes sees it as orphaned
    expect(await drain(b.streamWill({ 'broker-b': Date.now() }))).toHaveLength(1);

    // the restored queue keeps working: acks clear by messageId, updates assign ids
    expect((await b.outgoingClearMessageId({ id: 'dev' }, { messageId: 11 }))?.payload).toEqual(Buffer.from('m1'));
    await b.outgoingUpdate({ id: 'dev' }, { ...base, payload: Buffer.from('m2'), brokerCounter: 2, messageId: 12 });
    expect((await drain<PersistedPacket>(b.outgoingStream({ id: 'dev' }))).map((p) => p.messageId)).toEqual([12, 13]);
  });

  it('re-attributes restored wills when the broker keeps a fixed id', async () => {
    const file = path.join(tempDir('broker-persistence'), 'broker.db');
    const a = openBrokerPersistence({ file, logger: quiet });
    cleanup(() => a.destroy());
    await a.setup({ id: 'site-broker' });
    await a.putWill({ id: 'w' }, { topic: 'status/w', payload: Buffer.from('offline'), qos: 0, retain: false });
    expect(await drain(a.streamWill({ 'site-broker': Date.now() }))).toHaveLength(0);
    await a.destroy();

    const b = openBrokerPersistence({ file, logger: quiet });
    cleanup(() => b.destroy());
    await b.setup({ id: 'site-broker' });
    const wills = await drain<PersistedPacket>(b.streamWill({ 'site-broker': Date.now() }));
    expect(wills.map((w) => [w.clientId, w.brokerId])).toEqual([['w', 'site-broker@previous']]);
  });

  it('rejects bad options with a coded error naming the option, and is idempotent to destroy', async () => {
    expect(() => openBrokerPersistence({ file: '', logger: quiet })).toThrow(expect.objectContaining({ code: 'EDGE_ERR_BROKER_PERSISTENCE_OPTION', message: expect.stringContaining("'file'") }));
    expect(() => openBrokerPersistence({ file: 'x.db', logger: quiet, maxQueuedPerClient: 0 })).toThrow(
      expect.objectContaining({ code: 'EDGE_ERR_BROKER_PERSISTENCE_OPTION', message: expect.stringContaining('maxQueuedPerClient') }),
    );
    const p = openBrokerPersistence({ file: path.join(tempDir('broker-persistence'), 'b.db'), logger: quiet });
    await expect(p.storeRetained({ topic: 't', payload: Buffer.from('x') })).rejects.toMatchObject({ code: 'EDGE_ERR_BROKER_PERSISTENCE_STATE' });
    await p.setup({ id: 'b' });
    await p.destroy();
    await p.destroy();
    await expect(p.outgoingEnqueue({ clientId: 'c' }, { topic: 't', payload: Buffer.from('x'), qos: 1 })).rejects.toMatchObject({ code: 'EDGE_ERR_BROKER_PERSISTENCE_STATE' });
  });
});

// ---------------------------------------------------------------------------
// Real aedes brokers and mqtt.js clients on loopback.

interface RunningBroker {
  url: string;
  persistence: BrokerPersistence;
  stop(): Promise<void>;
}

async function startBroker(file: string, extra: Partial<BrokerPersistenceOptions> = {}, brokerOpts: Record<string, unknown> = {}): Promise<RunningBroker> {
  const persistence = openBrokerPersistence({ file, logger: quiet, ...extra });
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker({ persistence, ...brokerOpts }).catch(async (err: unknown) => {
    await persistence.destroy();
    throw err;
  });
  const server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await persistence.destroy();
    })());
  cleanup(stop);
  return { url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, persistence, stop };
}

interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

interface TestClient {
  client: MqttClient;
  sessionPresent: boolean;
  received: Received[];
  end(): Promise<void>;
}

async function connect(url: string, clientId: string, opts: IClientOptions = {}): Promise<TestClient> {
  const client = mqtt.connect(url, { clientId, clean: false, reconnectPeriod: 0, protocolVersion: 4, ...opts });
  const received: Received[] = [];
  client.on('message', (topic, payload, packet) => received.push({ topic, payload: payload.toString(), retain: packet.retain }));
  const end = (): Promise<void> => new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
  cleanup(end);
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  client.on('error', () => undefined);
  return { client, sessionPresent: connack.sessionPresent, received, end };
}

/** Publishes a QoS 1 fence on `topic` and waits for it at `sub`: everything queued before it has arrived by then. */
async function fence(url: string, sub: TestClient, topic: string, payload = 'fence'): Promise<void> {
  const pub = await connect(url, `fence-${Math.random().toString(36).slice(2)}`, { clean: true });
  await pub.client.publishAsync(topic, payload, { qos: 1 });
  await pub.end();
  await waitFor(`fence '${payload}'`, () => sub.received.some((m) => m.payload === payload));
}

async function publishAll(url: string, topic: string, payloads: string[], opts: { retain?: boolean } = {}): Promise<void> {
  const pub = await connect(url, `pub-${Math.random().toString(36).slice(2)}`, { clean: true });
  for (const p of payloads) await pub.client.publishAsync(topic, p, { qos: 1, retain: opts.retain ?? false });
  await pub.end();
}

const payloads = (c: TestClient): string[] => c.received.map((m) => m.payload);

describe('site broker sessions survive a restart', () => {
  it('delivers messages queued for an offline client after a restart, in order, exactly once', async () => {
    const file = path.join(tempDir('broker-persistence'), 'broker.db');
    const a = await startBroker(file);
    const dev = await connect(a.url, 'dev');
    await dev.client.subscribeAsync('cmd/dev', { qos: 1 });
    await dev.end();
    await publishAll(a.url, 'cmd/dev', ['m1', 'm2', 'm3']);
    expect(a.persistence.stats()).toMatchObject({ queued: 3, clients: 1 });
    await a.stop();

    const b = await startBroker(file);
    expect(b.persistence.stats()).toMatchObject({ queued: 3, clients: 1 });
    const dev2 = await connect(b.url, 'dev');
    expect(dev2.sessionPresent).toBe(true);
    await waitFor('3 messages', () => dev2.received.length >= 3);
    await waitFor('queue acknowledged', () => b.persistence.stats().queued === 0);
    await fence(b.url, dev2, 'cmd/dev', 'fence-1');
    expect(payloads(dev2)).toEqual(['m1', 'm2', 'm3', 'fence-1']);
    await dev2.end();

    const dev3 = await connect(b.url, 'dev');
    expect(dev3.sessionPresent).toBe(true);
    await fence(b.url, dev3, 'cmd/dev', 'fence-2');
    expect(payloads(dev3)).toEqual(['fence-2']);
    await dev3.end();
    await b.stop();

    // acknowledged messages are gone from the file too
    const c = await startBroker(file);
    const dev4 = await connect(c.url, 'dev');
    expect(dev4.sessionPresent).toBe(true);
    await fence(c.url, dev4, 'cmd/dev', 'fence-3');
    expect(payloads(dev4)).toEqual(['fence-3']);
  });

  it('queues for a persistent subscriber that was connected when the broker stopped', async () => {
    const file = path.join(tempDir('broker-persistence'), 'broker.db');
    const a = await startBroker(file);
    const sub = await connect(a.url, 'sub');
    await sub.client.subscribeAsync('data/#', { qos: 1 });
    await a.stop();
    await sub.end();

    const b = await startBroker(file);
    await publishAll(b.url, 'data/x', ['after-1', 'after-2']);
    const sub2 = await connect(b.url, 'sub');
    expect(sub2.sessionPresent).toBe(true);
    await fence(b.url, sub2, 'data/x');
    expect(payloads(sub2)).toEqual(['after-1', 'after-2', 'fence']);
  });

  it('keeps retained messages across a restart, and an empty retained payload clears them across a restart', async () => {
    const file = path.join(tempDir('broker-persistence'), 'broker.db');
    const a = await startBroker(file);
    await publishAll(a.url, 'cfg/x', ['v1'], { retain: true });
    await a.stop();

    const b = await startBroker(file);
    const r1 = await connect(b.url, 'reader-1', { clean: true });
    await r1.client.subscribeAsync('cfg/#', { qos: 1 });
    await waitFor('retained v1', () => r1.received.length > 0);
    expect(r1.received).toEqual([{ topic: 'cfg/x', payload: 'v1', retain: true }]);
    await r1.end();
    await publishAll(b.url, 'cfg/x', [''], { retain: true });
    await b.stop();

    const c = await startBroker(file);
    expect(await drain(c.persistence.createRetainedStream('#'))).toEqual([]);
    const r2 = await connect(c.url, 'reader-2', { clean: true });
    await r2.client.subscribeAsync('cfg/#', { qos: 1 });
    await fence(c.url, r2, 'cfg/x');
    expect(payloads(r2)).toEqual(['fence']);
  });

  it('leaves nothing behind for a clean-session client', async () => {
    const file = path.join(tempDir('broker-persistence'), 'broker.db');
    const a = await startBroker(file);
    const tmp = await connect(a.url, 'ephemeral', { clean: true });
    await tmp.client.subscribeAsync('cmd/ephemeral', { qos: 1 });
    await tmp.end();
    await publishAll(a.url, 'cmd/ephemeral', ['lost']);
    await a.stop();

    const b = await startBroker(file);
    expect(await b.persistence.subscriptionsByClient({ id: 'ephemeral' })).toEqual([]);
    expect(await b.persistence.subscriptionsByTopic('cmd/ephemeral')).toEqual([]);
    expect(b.persistence.stats()).toEqual({ queued: 0, dropped: 0, clients: 0 });
    const again = await connect(b.url, 'ephemeral', { clean: false });
    expect(again.sessionPresent).toBe(false);
  });

  it('bounds each offline queue, keeping the newest messages and counting the drops', async () => {
    const file = path.join(tempDir('broker-persistence'), 'broker.db');
    const a = await startBroker(file, { maxQueuedPerClient: 5 });
    const dev = await connect(a.url, 'dev');
    await dev.client.subscribeAsync('cmd/dev', { qos: 1 });
    await dev.end();
    await publishAll(a.url, 'cmd/dev', ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8']);
    expect(a.persistence.stats()).toEqual({ queued: 5, dropped: 3, clients: 1 });
    await a.stop();

    const b = await startBroker(file, { maxQueuedPerClient: 5 });
    expect(b.persistence.stats()).toEqual({ queued: 5, dropped: 3, clients: 1 });
    const dev2 = await connect(b.url, 'dev');
    await waitFor('5 messages', () => dev2.received.length >= 5);
    await fence(b.url, dev2, 'cmd/dev');
    expect(payloads(dev2)).toEqual(['m4', 'm5', 'm6', 'm7', 'm8', 'fence']);
  });

  it('logs queue drops once per client per minute, without payloads', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) } });
    const p = openBrokerPersistence({ file: path.join(tempDir('broker-persistence'), 'broker.db'), logger, maxQueuedPerClient: 2 });
    cleanup(() => p.destroy());
    await p.setup({ id: 'b' });
    for (let i = 0; i < 6; i++) {
      for (const clientId of ['c1', 'c2']) {
        await p.outgoingEnqueue({ clientId }, { cmd: 'publish', topic: 't', payload: Buffer.from(`secret-payload-${i}`), qos: 1, brokerId: 'b', brokerCounter: i + 1 });
      }
    }
    expect(p.stats()).toEqual({ queued: 4, dropped: 8, clients: 0 });
    const drops = lines.filter((l) => l.msg === 'client queue full, oldest messages dropped');
    expect(drops.map((l) => [l.clientId, l.dropped])).toEqual([
      ['c1', 1],
      ['c2', 1],
    ]);
    expect(JSON.stringify(lines)).not.toContain('secret-payload');
  });

  it('delivers the wills and queued messages of a killed broker process once after restart', async () => {
    const dir = tempDir('broker-persistence');
    const file = path.join(dir, 'broker.db');
    const moduleUrl = new URL('./broker-persistence.ts', import.meta.url).href;
    const script = `
      import { createServer } from 'node:net';
      import { Aedes } from 'aedes';
      import { createLogger } from ${JSON.stringify(new URL('../core/kernel/index.ts', import.meta.url).href)};
      import { openBrokerPersistence } from ${JSON.stringify(moduleUrl)};
      const persistence = openBrokerPersistence({ file: ${JSON.stringify(file)}, logger: createLogger({ level: 'silent' }) });
      const broker = await Aedes.createBroker({ persistence });
      const server = createServer(broker.handle);
      server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n'));
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: path.resolve(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] });
    cleanup(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const line = await waitFor('child broker port', () => out.split('\n').find((l) => l.startsWith('{')));
    const url = `mqtt://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`;

    const mon = await connect(url, 'monitor');
    await mon.client.subscribeAsync('status/#', { qos: 1 });
    await mon.end();
    const dying = await connect(url, 'dying', { clean: true, will: { topic: 'status/dying', payload: Buffer.from('offline'), qos: 1, retain: false } });
    await publishAll(url, 'status/other', ['queued-1', 'queued-2']);
    // A PUBACK precedes the broker's enqueue (aedes acknowledges QoS 1 first): kill only once both are committed.
    await waitFor('both messages committed', () => {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        return db.prepare<[], { n: number }>("SELECT count(*) AS n FROM outgoing WHERE client_id = 'monitor'").get()!.n >= 2;
      } finally {
        db.close();
      }
    });

    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    dying.client.end(true);

    // a short heartbeat makes aedes look for orphaned wills every 400 ms
    const b = await startBroker(file, {}, { heartbeatInterval: 100 });
    const mon2 = await connect(b.url, 'monitor');
    expect(mon2.sessionPresent).toBe(true);
    await waitFor('will of the killed broker', () => mon2.received.some((m) => m.topic === 'status/dying'));
    expect(await b.persistence.getWill({ id: 'dying' })).toBeUndefined();
    await fence(b.url, mon2, 'status/other');
    expect(mon2.received.map((m) => `${m.topic}=${m.payload}`)).toEqual(['status/other=queued-1', 'status/other=queued-2', 'status/dying=offline', 'status/other=fence']);
    await b.stop();

    // and it is not published again by the next broker on the file
    const c = await startBroker(file, {}, { heartbeatInterval: 100 });
    expect(await drain(c.persistence.streamWill({}))).toEqual([]);
  });
  it('publishes the will of a client connected at a graceful stop once, and not again after restart', async () => {
    const file = path.join(tempDir('broker-persistence'), 'broker.db');
    const a = await startBroker(file, {}, { heartbeatInterval: 100 });
    const mon = await connect(a.url, 'monitor');
    await mon.client.subscribeAsync('status/#', { qos: 1 });
    await mon.end();
    await connect(a.url, 'dev', { clean: true, will: { topic: 'status/dev', payload: Buffer.from('offline'), qos: 1, retain: false } });
    await a.stop();

    const b = await startBroker(file, {}, { heartbeatInterval: 100 });
    expect(await b.persistence.getWill({ id: 'dev' })).toBeUndefined();
    const mon2 = await connect(b.url, 'monitor');
    await fence(b.url, mon2, 'status/x');
    expect(mon2.received.map((m) => `${m.topic}=${m.payload}`)).toEqual(['status/dev=offline', 'status/x=fence']);
  });
});

describe('unusable files', () => {
  it('a corrupt file rejects createBroker with a coded error naming the file', async () => {
    const file = path.join(tempDir('broker-persistence'), 'broker.db');
    writeFileSync(file, Buffer.alloc(16_384, 'not a database at all '));
    const err: unknown = await startBroker(file).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EDGE_ERR_BROKER_PERSISTENCE', message: expect.stringContaining(file) });
  });

  it('a stored row that cannot be decoded rejects with a coded error naming the file', async () => {
    const file = path.join(tempDir('broker-persistence'), 'broker.db');
    const a = await startBroker(file);
    await a.stop();
    const db = new Database(file);
    db.prepare("INSERT INTO outgoing (client_id, packet, kind, payload) VALUES ('dev', '{not json', NULL, NULL)").run();
    db.close();
    const err: unknown = await startBroker(file).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EDGE_ERR_BROKER_PERSISTENCE', message: expect.stringMatching(/stored state is unreadable/) });
    expect((err as Error).message).toContain(file);
  });

  it('a path in a missing directory rejects with a coded error', async () => {
    const file = path.join(tempDir('broker-persistence'), 'missing', 'broker.db');
    const err: unknown = await startBroker(file).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EDGE_ERR_BROKER_PERSISTENCE', message: expect.stringContaining(file) });
  });
});
