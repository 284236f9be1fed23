import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { deferCleanup } from '../../../test/support/cleanup.ts';
import { quiet, waitFor } from '../../../test/support/hub-fixture.ts';
import { startModbusServer } from '../../../test/support/modbus-server.ts';
import { openPtyPair, pymodbusValues, startPymodbus, startPymodbusSerial } from '../../../test/support/pymodbus.ts';
import { serveTcp } from '../../../test/support/tcp-services.ts';
import { BusPool, openBus, type Bus, type BusOptions, type Transaction } from './bus.ts';
import type { Endpoint } from './transport.ts';

const defer = deferCleanup();

function bus(endpoint: Endpoint, opts: Partial<BusOptions> = {}): Bus {
  const b = openBus(endpoint, { logger: quiet, connectTimeoutMs: 2000, ...opts });
  defer(() => b.close());
  return b;
}

const tcp = (port: number): Endpoint => ({ kind: 'tcp', host: '127.0.0.1', port });

async function failure(p: Promise<unknown>): Promise<{ code: string; params: Record<string, unknown>; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; params: Record<string, unknown>; message: string };
  }
  throw new Error('expected a failure');
}

const hr = (unitId: number, address: number, count: number, timeoutMs = 1000): Transaction => ({
  unitId,
  fn: 'readHoldingRegisters',
  address,
  count,
  timeoutMs,
});

describe('bus scheduling', () => {
  it('runs one request at a time in arrival order across unit ids', async () => {
    const server = await startModbusServer();
    defer(() => server.close());
    server.delayMs = 15;
    for (const u of [1, 2, 3]) server.unit(u).holdingRegisters.fill(u * 100);
    const b = bus(tcp(server.port));
    const order = Array.from({ length: 15 }, (_, i) => ({ unitId: (i % 3) + 1, address: i }));
    const results = await Promise.all(order.map((o) => b.execute(hr(o.unitId, o.address, 2))));
    expect(results).toEqual(order.map((o) => [o.unitId * 100, o.unitId * 100]));
    const recs = server.records;
    expect(recs.map((r) => [r.unitId, r.address])).toEqual(order.map((o) => [o.unitId, o.address]));
    for (let i = 1; i < recs.length; i++) {
      const prev = recs[i - 1];
      const cur = recs[i];
      expect(cur && prev && cur.start >= prev.end, `request ${i} started before request ${i - 1} ended`).toBe(true);
    }
    expect(b.stats()).toMatchObject({ requests: 15, ok: 15, queued: 0, inFlight: false, link: 'connected' });
  });

  it('is what the server sees overlapping when requests bypass the bus (the check can fail)', async () => {
    const server = await startModbusServer();
    defer(() => server.close());
    server.delayMs = 15;
    const a = bus(tcp(server.port));
    const c = bus(tcp(server.port));
    await Promise.all([a.execute(hr(1, 0, 1)), c.execute(hr(2, 0, 1))]);
    const [r0, r1] = server.records;
    expect(r0 && r1 && r1.start < r0.end).toBe(true);
  });

  it('rejects a bad transaction with a coded error naming the field, without touching the bus', async () => {
    const server = await startModbusServer();
    defer(() => server.close());
    const b = bus(tcp(server.port));
    const err = await failure(b.execute({ ...hr(1, 0, 200) }));
    expect(err).toMatchObject({ code: 'EDGE_ERR_MODBUS_INVALID_REQUEST', params: { field: 'count' } });
    const t = await failure(b.execute({ ...hr(1, 0, 1), timeoutMs: -1 }));
    expect(t).toMatchObject({ code: 'EDGE_ERR_MODBUS_INVALID_REQUEST', params: { field: 'timeoutMs' } });
    expect(() => openBus({ kind: 'tcp', host: '127.0.0.1', port: 0 }, { logger: quiet })).toThrow(
      expect.objectContaining({ code: 'EDGE_ERR_MODBUS_INVALID_ENDPOINT' }),
    );
    expect(b.stats().requests).toBe(0);
  });

  it('aborts a queued request without disturbing the others', async () => {
    const server = await startModbusServer();
    defer(() => server.close());
    server.delayMs = 30;
    const b = bus(tcp(server.port));
    const ac = new AbortController();
    const first = b.execute(hr(1, 0, 1));
    const second = b.execute({ ...hr(1, 1, 1), signal: ac.signal });
    const third = b.execute(hr(1, 2, 1));
    ac.abort();
    expect((await failure(second)).code).toBe('EDGE_ERR_MODBUS_ABORTED');
    expect(await first).toEqual([0]);
    expect(await third).toEqual([0]);
    expect(server.records.map((r) => r.address)).toEqual([0, 2]);
  });

  it('close fails queued requests with EDGE_ERR_MODBUS_BUS_CLOSED and refuses new ones', async () => {
    const server = await startModbusServer();
    defer(() => server.close());
    server.delayMs = 5000;
    const b = openBus(tcp(server.port), { logger: quiet });
    const pending = [b.execute(hr(1, 0, 1, 10_000)), b.execute(hr(1, 1, 1)), b.execute(hr(1, 2, 1))];
    await waitFor('first request on the wire', () => server.records.length >= 1);
    await b.close();
    const codes = await Promise.all(pending.map((p) => failure(p).then((e) => e.code)));
    expect(codes).toEqual(['EDGE_ERR_MODBUS_BUS_CLOSED', 'EDGE_ERR_MODBUS_BUS_CLOSED', 'EDGE_ERR_MODBUS_BUS_CLOSED']);
    expect((await failure(b.execute(hr(1, 0, 1)))).code).toBe('EDGE_ERR_MODBUS_BUS_CLOSED');
    await waitFor('server sees the connection closed', () => server.connections() === 0);
    expect(b.stats().link).toBe('closed');
  });
});

describe('circuit breaker', () => {
  it('a dead unit beside a live one on the same TCP bus: the live one keeps answering while the dead one is skipped', async () => {
    const server = await startModbusServer();
    defer(() => server.close());
    server.unit(1).holdingRegisters[0] = 11;
    server.silence(2);
    const b = bus(tcp(server.port), { breaker: { failures: 3, openMs: 60_000, maxOpenMs: 120_000 } });
    const live: Promise<number[] | boolean[]>[] = [];
    const dead: Promise<{ code: string }>[] = [];
    for (let i = 0; i < 8; i++) {
      dead.push(failure(b.execute(hr(2, 0, 1, 100))));
      live.push(b.execute(hr(1, 0, 1)));
    }
    expect(await Promise.all(live)).toEqual(Array.from({ length: 8 }, () => [11]));
    const codes = (await Promise.all(dead)).map((e) => e.code);
    expect(codes.slice(0, 3)).toEqual(['EDGE_ERR_MODBUS_TIMEOUT', 'EDGE_ERR_MODBUS_TIMEOUT', 'EDGE_ERR_MODBUS_TIMEOUT']);
    expect(new Set(codes.slice(3))).toEqual(new Set(['EDGE_ERR_MODBUS_CIRCUIT_OPEN']));
    // New requests for the dead unit fail at once, without a place in the queue.
    const fast = await failure(b.execute(hr(2, 0, 1, 100)));
    expect(fast).toMatchObject({ code: 'EDGE_ERR_MODBUS_CIRCUIT_OPEN', params: { unitId: 2, failures: 3 } });
    const stats = b.stats();
    expect(stats.units.find((u) => u.unitId === 1)).toMatchObject({ breaker: 'closed', ok: 8, timeouts: 0 });
    expect(stats.units.find((u) => u.unitId === 2)).toMatchObject({ breaker: 'open', timeouts: 3, circuitRejects: 6 });
    expect(stats.timeouts).toBe(3);
  });

  it('probes after the skip period: a failed probe doubles the wait, a good one closes the breaker', async () => {
    const server = await startModbusServer();
    defer(() => server.close());
    server.silence(3);
    const b = bus(tcp(server.port), { breaker: { failures: 2, openMs: 200, maxOpenMs: 5000 } });
    for (let i = 0; i < 2; i++) expect((await failure(b.execute(hr(3, 0, 1, 80)))).code).toBe('EDGE_ERR_MODBUS_TIMEOUT');
    expect((await failure(b.execute(hr(3, 0, 1, 80)))).code).toBe('EDGE_ERR_MODBUS_CIRCUIT_OPEN');
    await waitFor('breaker half-open', () => b.stats().units[0]?.breaker === 'half-open');
    // The probe times out: open again, for twice as long.
    expect((await failure(b.execute(hr(3, 0, 1, 80)))).code).toBe('EDGE_ERR_MODBUS_TIMEOUT');
    const reopened = b.stats().units[0];
    expect(reopened?.breaker).toBe('open');
    expect(reopened?.retryInMs).toBeGreaterThan(200);
    server.silence(3, false);
    server.unit(3).holdingRegisters[0] = 33;
    await waitFor('breaker half-open again', () => b.stats().units[0]?.breaker === 'half-open');
    expect(await b.execute(hr(3, 0, 1, 1000))).toEqual([33]);
    expect(b.stats().units[0]).toMatchObject({ breaker: 'closed', consecutiveFailures: 0 });
  });

  it('exception replies do not open the breaker (the device is alive)', async () => {
    const server = await startModbusServer({ size: 10 });
    defer(() => server.close());
    const b = bus(tcp(server.port), { breaker: { failures: 2, openMs: 60_000, maxOpenMs: 60_000 } });
    for (let i = 0; i < 5; i++) {
      const err = await failure(b.execute(hr(1, 20, 1)));
      expect(err).toMatchObject({ code: 'EDGE_ERR_MODBUS_EXCEPTION', params: { exceptionCode: 2, exception: 'ILLEGAL_DATA_ADDRESS' } });
    }
    expect(await b.execute(hr(1, 0, 1))).toEqual([0]);
    expect(b.stats().units[0]).toMatchObject({ breaker: 'closed', exceptions: 5, consecutiveFailures: 0 });
  });

  it('a dead unit beside a live one against pymodbus (unit 9 is not served)', async () => {
    const py = await startPymodbus({ framer: 'socket', units: [1] });
    defer(() => py.stop());
    const b = bus(tcp(py.port), { breaker: { failures: 2, openMs: 60_000, maxOpenMs: 60_000 } });
    const all = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => [b.execute(hr(9, 0, 1, 150)), b.execute(hr(1, i, 1))]).flat(),
    );
    const live = all.filter((_, i) => i % 2 === 1);
    const dead = all.filter((_, i) => i % 2 === 0);
    expect(live.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(
      Array.from({ length: 6 }, (_, i) => [pymodbusValues.holdingRegister(1, i)]),
    );
    expect(dead.map((r) => (r.status === 'rejected' ? (r.reason as { code: string }).code : 'ok'))).toEqual([
      'EDGE_ERR_MODBUS_TIMEOUT',
      'EDGE_ERR_MODBUS_TIMEOUT',
      'EDGE_ERR_MODBUS_CIRCUIT_OPEN',
      'EDGE_ERR_MODBUS_CIRCUIT_OPEN',
      'EDGE_ERR_MODBUS_CIRCUIT_OPEN',
      'EDGE_ERR_MODBUS_CIRCUIT_OPEN',
    ]);
  });
});

describe('link loss and resynchronisation', () => {
  it('a killed modbus-serial server: requests fail fast with EDGE_ERR_MODBUS_CONNECT, the bus reconnects when it returns', async () => {
    let server = await startModbusServer();
    const port = server.port;
    defer(() => server.close());
    server.unit(1).holdingRegisters[0] = 1;
    const b = bus(tcp(port), { reconnect: { minMs: 50, maxMs: 200 } });
    expect(await b.execute(hr(1, 0, 1))).toEqual([1]);
    await server.close();
    await waitFor('link down', () => b.stats().link === 'down');
    const err = await failure(b.execute(hr(1, 0, 1, 5000)));
    expect(err.code).toBe('EDGE_ERR_MODBUS_CONNECT');
    expect(err.message).toContain(`tcp://127.0.0.1:${port}`);
    server = await startModbusServer({ port });
    server.unit(1).holdingRegisters[0] = 2;
    expect(await waitFor('reconnected', () => b.execute(hr(1, 0, 1)))).toEqual([2]);
    expect(b.stats().reopens).toBeGreaterThanOrEqual(1);
  });

  it('a killed pymodbus: the bus reconnects when it is back on the same port', async () => {
    const py = await startPymodbus({ framer: 'socket', units: [1] });
    defer(() => py.stop());
    const b = bus(tcp(py.port), { reconnect: { minMs: 50, maxMs: 200 } });
    expect(await b.execute(hr(1, 3, 1))).toEqual([pymodbusValues.holdingRegister(1, 3)]);
    await py.stop();
    expect((await failure(b.execute(hr(1, 3, 1)))).code).toBe('EDGE_ERR_MODBUS_CONNECT');
    await py.restart();
    expect(await waitFor('reconnected', () => b.execute(hr(1, 3, 1)))).toEqual([pymodbusValues.holdingRegister(1, 3)]);
  });

  it('Modbus TCP: the link is reopened before the 8-bit transaction ids come around to a timed-out request', async () => {
    const server = await startModbusServer();
    defer(() => server.close());
    server.silence(2);
    server.unit(1).holdingRegisters[0] = 5;
    const b = bus(tcp(server.port), { breaker: { failures: 10, openMs: 60_000, maxOpenMs: 60_000 } });
    expect((await failure(b.execute(hr(2, 0, 1, 100)))).code).toBe('EDGE_ERR_MODBUS_TIMEOUT');
    for (let i = 0; i < 240; i++) await b.execute(hr(1, 0, 1));
    expect(b.stats().reopens).toBe(0);
    for (let i = 0; i < 20; i++) expect(await b.execute(hr(1, 0, 1))).toEqual([5]);
    expect(b.stats()).toMatchObject({ reopens: 1, ok: 260, timeouts: 1 });
  });

  it('RTU over TCP: after a timeout the link is reopened, so a late reply never answers the next request', async () => {
    const sockets = new Set<Socket>();
    const timers: NodeJS.Timeout[] = [];
    defer(() => timers.forEach(clearTimeout));
    let n = 0;
    // Raw RTU over TCP: the first request is answered (111) after 200 ms, later ones (222) at once.
    const peer = await serveTcp((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => {
        const value = n++ === 0 ? 111 : 222;
        const frame = rtuFrame([d[0] ?? 1, 3, 2, value >> 8, value & 0xff]);
        if (value === 111) timers.push(setTimeout(() => s.writable && s.write(frame), 200));
        else s.write(frame);
      });
    });
    defer(() => peer.close());
    const b = bus({ kind: 'rtu-over-tcp', host: '127.0.0.1', port: peer.port });
    expect((await failure(b.execute(hr(1, 0, 1, 100)))).code).toBe('EDGE_ERR_MODBUS_TIMEOUT');
    expect(await b.execute(hr(1, 0, 1, 1000))).toEqual([222]);
    await new Promise((r) => setTimeout(r, 150));
    expect(await b.execute(hr(1, 0, 1, 1000))).toEqual([222]);
    expect(sockets.size).toBe(2);
    expect(b.stats().reopens).toBe(1);
  });

  it('Modbus TCP: a malformed reply drops the link and the next request is answered on a fresh one', async () => {
    let connections = 0;
    const peer = await serveTcp((s) => {
      const conn = connections++;
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => {
        const tid = d.readUInt16BE(0);
        // First connection: a reply that claims 4 bytes of data and carries 2.
        const pdu = conn === 0 ? [3, 4, 0, 7] : [3, 2, 0, 7];
        const out = Buffer.alloc(7 + pdu.length);
        out.writeUInt16BE(tid, 0);
        out.writeUInt16BE(pdu.length + 1, 4);
        out.writeUInt8(d[6] ?? 1, 6);
        Buffer.from(pdu).copy(out, 7);
        s.write(out);
      });
    });
    defer(() => peer.close());
    const b = bus(tcp(peer.port));
    expect((await failure(b.execute(hr(1, 0, 1)))).code).toBe('EDGE_ERR_MODBUS_BAD_REPLY');
    expect(await b.execute(hr(1, 0, 1))).toEqual([7]);
    expect(connections).toBe(2);
    expect(b.stats()).toMatchObject({ badReplies: 1, ok: 1 });
  });

  it('RTU over TCP against pymodbus (RTU framer) and RTU on a socat pseudo-terminal pair', async () => {
    const py = await startPymodbus({ framer: 'rtu', units: [1, 2] });
    defer(() => py.stop());
    const pty = await openPtyPair();
    defer(() => pty.close());
    const serial = await startPymodbusSerial({ device: pty.b, baudRate: 19200, units: [1, 2] });
    defer(() => serial.stop());
    for (const endpoint of [
      { kind: 'rtu-over-tcp', host: '127.0.0.1', port: py.port },
      { kind: 'rtu', path: pty.a, baudRate: 19200 },
    ] satisfies Endpoint[]) {
      const b = bus(endpoint, { breaker: { failures: 1, openMs: 60_000, maxOpenMs: 60_000 } });
      const results = await Promise.allSettled([
        b.execute(hr(1, 5, 2)),
        b.execute(hr(9, 0, 1, 150)),
        b.execute({ unitId: 2, fn: 'readCoils', address: 0, count: 4, timeoutMs: 1000 }),
        b.execute(hr(9, 0, 1, 150)),
        b.execute({ unitId: 2, fn: 'writeRegisters', address: 70, values: [9, 8], timeoutMs: 1000 }),
        b.execute(hr(2, 70, 2)),
      ]);
      const view = results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as { code: string }).code));
      expect(view, endpoint.kind).toEqual([
        [pymodbusValues.holdingRegister(1, 5), pymodbusValues.holdingRegister(1, 6)],
        'EDGE_ERR_MODBUS_TIMEOUT',
        [0, 1, 2, 3].map((a) => pymodbusValues.coil(2, a)),
        'EDGE_ERR_MODBUS_CIRCUIT_OPEN',
        [],
        [9, 8],
      ]);
    }
  });
});

describe('BusPool', () => {
  it('shares one bus per link between devices and closes it with the last release', async () => {
    const server = await startModbusServer();
    defer(() => server.close());
    const pool = new BusPool({ logger: quiet });
    defer(() => pool.close());
    const a = pool.acquire(tcp(server.port));
    const b = pool.acquire({ kind: 'tcp', host: '127.0.0.1', port: server.port });
    expect(a.bus).toBe(b.bus);
    expect(pool.keys()).toEqual([`tcp://127.0.0.1:${server.port}`]);
    await a.bus.execute(hr(1, 0, 1));
    await a.release();
    await a.release();
    expect(await b.bus.execute(hr(2, 0, 1))).toEqual([0]);
    await b.release();
    expect(pool.keys()).toEqual([]);
    expect((await failure(b.bus.execute(hr(1, 0, 1)))).code).toBe('EDGE_ERR_MODBUS_BUS_CLOSED');
    const c = pool.acquire(tcp(server.port));
    expect(c.bus).not.toBe(a.bus);
    expect(await c.bus.execute(hr(1, 0, 1))).toEqual([0]);
  });
});

function crc16(buf: Buffer): number {
  let crc = 0xffff;
  for (const byte of buf) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >> 1) ^ 0xa001 : crc >> 1;
  }
  return crc;
}

function rtuFrame(bytes: number[]): Buffer {
  const body = Buffer.from(bytes);
  const out = Buffer.alloc(body.length + 2);
  body.copy(out);
  out.writeUInt16LE(crc16(body), body.length);
  return out;
}
