import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deferCleanup } from '../../../test/support/cleanup.ts';
import { startModbusServer, type ModbusTestServer } from '../../../test/support/modbus-server.ts';
import { openPtyPair, pymodbusValues, PYMODBUS_SIZE, startPymodbus, startPymodbusSerial } from '../../../test/support/pymodbus.ts';
import { serveTcp } from '../../../test/support/tcp-services.ts';
import { busKey, openLink, validateEndpoint, validateRequest, type Endpoint, type Link } from './transport.ts';

const defer = deferCleanup();

async function link(endpoint: Endpoint): Promise<Link> {
  const l = await openLink(endpoint, { connectTimeoutMs: 2000 });
  defer(() => l.close());
  return l;
}

async function failure(p: Promise<unknown>): Promise<{ code: string; params: Record<string, unknown>; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; params: Record<string, unknown>; message: string };
  }
  throw new Error('expected a failure');
}

/** Every function round trips against a pymodbus unit; `u` is the unit id. */
async function roundTripPymodbus(l: Link, u: number): Promise<void> {
  const range = (n: number, f: (a: number) => unknown) => Array.from({ length: n }, (_, i) => f(10 + i));
  expect(await l.request({ unitId: u, fn: 'readCoils', address: 10, count: 11 }, 1000)).toEqual(range(11, (a) => pymodbusValues.coil(u, a)));
  expect(await l.request({ unitId: u, fn: 'readDiscreteInputs', address: 10, count: 9 }, 1000)).toEqual(
    range(9, (a) => pymodbusValues.discreteInput(u, a)),
  );
  expect(await l.request({ unitId: u, fn: 'readInputRegisters', address: 10, count: 5 }, 1000)).toEqual(
    range(5, (a) => pymodbusValues.inputRegister(u, a)),
  );
  expect(await l.request({ unitId: u, fn: 'readHoldingRegisters', address: 10, count: 5 }, 1000)).toEqual(
    range(5, (a) => pymodbusValues.holdingRegister(u, a)),
  );
  await l.request({ unitId: u, fn: 'writeRegisters', address: 50, values: [0, 1, 65535] }, 1000);
  expect(await l.request({ unitId: u, fn: 'readHoldingRegisters', address: 50, count: 3 }, 1000)).toEqual([0, 1, 65535]);
  const bits = [true, false, true, true, false, false, true, false, true];
  await l.request({ unitId: u, fn: 'writeCoils', address: 60, values: bits }, 1000);
  expect(await l.request({ unitId: u, fn: 'readCoils', address: 60, count: bits.length }, 1000)).toEqual(bits);
}

describe('busKey and validation', () => {
  it('keys a bus by its physical link, not by unit or line settings', () => {
    expect(busKey({ kind: 'tcp', host: '10.0.0.5', port: 502 })).toBe('tcp://10.0.0.5:502');
    expect(busKey({ kind: 'rtu-over-tcp', host: '10.0.0.5', port: 502 })).toBe('rtu-over-tcp://10.0.0.5:502');
    expect(busKey({ kind: 'rtu', path: '/dev/ttyS0', baudRate: 9600 })).toBe(busKey({ kind: 'rtu', path: '/dev/ttyS0', baudRate: 19200, parity: 'even' }));
    expect(busKey({ kind: 'rtu', path: '/dev/ttyS0', baudRate: 9600 })).not.toBe(busKey({ kind: 'rtu', path: '/dev/ttyS1', baudRate: 9600 }));
  });

  it('rejects a bad endpoint with a coded error naming the field', () => {
    const bad: [unknown, string][] = [
      [{ kind: 'udp', host: 'x', port: 1 }, 'kind'],
      [{ kind: 'tcp', host: '', port: 502 }, 'host'],
      [{ kind: 'tcp', host: 'h', port: 70000 }, 'port'],
      [{ kind: 'rtu-over-tcp', host: 'h', port: 1.5 }, 'port'],
      [{ kind: 'rtu', path: '/dev/ttyS0', baudRate: 0 }, 'baudRate'],
      [{ kind: 'rtu', path: '/dev/ttyS0', baudRate: 9600, parity: 'mark' }, 'parity'],
      [{ kind: 'rtu', path: '/dev/ttyS0', baudRate: 9600, dataBits: 6 }, 'dataBits'],
      [{ kind: 'rtu', path: '/dev/ttyS0', baudRate: 9600, stopBits: 3 }, 'stopBits'],
      [null, 'endpoint'],
    ];
    for (const [value, field] of bad) {
      expect(() => validateEndpoint(value), JSON.stringify(value)).toThrow(expect.objectContaining({ code: 'EDGE_ERR_MODBUS_INVALID_ENDPOINT', params: expect.objectContaining({ field }) }));
    }
    expect(validateEndpoint({ kind: 'rtu', path: '/dev/ttyUSB0', baudRate: 9600, parity: 'even', extra: 1 })).toEqual({
      kind: 'rtu',
      path: '/dev/ttyUSB0',
      baudRate: 9600,
      parity: 'even',
    });
  });

  it('rejects requests beyond the protocol limits, naming the field', () => {
    const cases: [Parameters<typeof validateRequest>[0], string][] = [
      [{ unitId: 256, fn: 'readCoils', address: 0, count: 1 }, 'unitId'],
      [{ unitId: 1, fn: 'readHoldingRegisters', address: 0, count: 126 }, 'count'],
      [{ unitId: 1, fn: 'readCoils', address: 0, count: 0 }, 'count'],
      [{ unitId: 1, fn: 'readInputRegisters', address: 65535, count: 2 }, 'address'],
      [{ unitId: 1, fn: 'writeRegisters', address: 0, values: [1, 70000] }, 'values[1]'],
      [{ unitId: 1, fn: 'writeCoils', address: 0, values: JSON.parse('[true, 1]') as boolean[] }, 'values[1]'],
      [{ unitId: 1, fn: 'writeRegisters', address: 0, values: [] }, 'values'],
      [{ unitId: 1, fn: 'readDiscrete' as 'readCoils', address: 0, count: 1 }, 'fn'],
    ];
    for (const [req, field] of cases) {
      expect(() => validateRequest(req), JSON.stringify(req)).toThrow(
        expect.objectContaining({ code: 'EDGE_ERR_MODBUS_INVALID_REQUEST', params: expect.objectContaining({ field }) }),
      );
    }
  });
});

describe('Modbus TCP link against modbus-serial ServerTCP', () => {
  let server: ModbusTestServer;
  beforeAll(async () => {
    server = await startModbusServer();
  });
  afterAll(() => server.close());

  it('round trips every function', async () => {
    const u = server.unit(7);
    u.coils.splice(0, 5, true, false, true, true, false);
    u.discreteInputs.splice(3, 3, true, true, false);
    u.inputRegisters.splice(20, 3, 11, 22, 33);
    u.holdingRegisters.splice(40, 2, 0xbeef, 7);
    const l = await link({ kind: 'tcp', host: '127.0.0.1', port: server.port });
    expect(await l.request({ unitId: 7, fn: 'readCoils', address: 0, count: 5 }, 1000)).toEqual([true, false, true, true, false]);
    expect(await l.request({ unitId: 7, fn: 'readDiscreteInputs', address: 3, count: 3 }, 1000)).toEqual([true, true, false]);
    expect(await l.request({ unitId: 7, fn: 'readInputRegisters', address: 20, count: 3 }, 1000)).toEqual([11, 22, 33]);
    expect(await l.request({ unitId: 7, fn: 'readHoldingRegisters', address: 40, count: 2 }, 1000)).toEqual([0xbeef, 7]);
    await l.request({ unitId: 7, fn: 'writeRegisters', address: 90, values: [1, 2, 3] }, 1000);
    expect(u.holdingRegisters.slice(90, 93)).toEqual([1, 2, 3]);
    await l.request({ unitId: 7, fn: 'writeCoils', address: 80, values: [true, true, false, true] }, 1000);
    expect(u.coils.slice(80, 84)).toEqual([true, true, false, true]);
  });

  it('maps an exception reply to EDGE_ERR_MODBUS_EXCEPTION with its code and name', async () => {
    const l = await link({ kind: 'tcp', host: '127.0.0.1', port: server.port });
    const err = await failure(l.request({ unitId: 1, fn: 'readHoldingRegisters', address: 99, count: 5 }, 1000));
    expect(err.code).toBe('EDGE_ERR_MODBUS_EXCEPTION');
    expect(err.params).toMatchObject({ unitId: 1, exceptionCode: 2, exception: 'ILLEGAL_DATA_ADDRESS' });
  });

  it('times out on a silent unit with EDGE_ERR_MODBUS_TIMEOUT and then serves the next request', async () => {
    server.silence(4);
    defer(() => server.silence(4, false));
    const l = await link({ kind: 'tcp', host: '127.0.0.1', port: server.port });
    const err = await failure(l.request({ unitId: 4, fn: 'readHoldingRegisters', address: 0, count: 1 }, 150));
    expect(err.code).toBe('EDGE_ERR_MODBUS_TIMEOUT');
    expect(err.params).toMatchObject({ unitId: 4, timeoutMs: 150 });
    server.unit(5).holdingRegisters[0] = 55;
    expect(await l.request({ unitId: 5, fn: 'readHoldingRegisters', address: 0, count: 1 }, 1000)).toEqual([55]);
  });

  it('fails to connect with EDGE_ERR_MODBUS_CONNECT', async () => {
    const closed = await serveTcp(() => undefined);
    const port = closed.port;
    await closed.close();
    const err = await failure(openLink({ kind: 'tcp', host: '127.0.0.1', port }, { connectTimeoutMs: 1000 }));
    expect(err.code).toBe('EDGE_ERR_MODBUS_CONNECT');
    expect(err.message).toContain(`tcp://127.0.0.1:${port}`);
  });
});

/** A raw Modbus TCP peer: `answer` gets each request (tid, unit, PDU) and writes whatever bytes it likes. */
function mbapServer(answer: (s: Socket, tid: number, unit: number, pdu: Buffer, n: number) => void) {
  let n = 0;
  return serveTcp((s) => {
    s.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 7 && buf.length >= 6 + buf.readUInt16BE(4)) {
        const len = buf.readUInt16BE(4);
        answer(s, buf.readUInt16BE(0), buf.readUInt8(6), buf.subarray(7, 6 + len), n++);
        buf = buf.subarray(6 + len);
      }
    });
  });
}

function mbap(tid: number, unit: number, pdu: number[]): Buffer {
  const b = Buffer.alloc(7 + pdu.length);
  b.writeUInt16BE(tid, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt16BE(pdu.length + 1, 4);
  b.writeUInt8(unit, 6);
  Buffer.from(pdu).copy(b, 7);
  return b;
}

describe('Modbus TCP link against misbehaving peers', () => {
  it('never takes a late reply for the next request (transaction ids)', async () => {
    const timers: NodeJS.Timeout[] = [];
    defer(() => timers.forEach(clearTimeout));
    // Request 0 is answered (value 111) after 200 ms, request 1 (value 222) after 150 ms more:
    // the stale reply arrives while request 1 is waiting.
    const peer = await mbapServer((s, tid, unit, _pdu, n) => {
      const value = n === 0 ? 111 : 222;
      timers.push(setTimeout(() => s.write(mbap(tid, unit, [3, 2, value >> 8, value & 0xff])), n === 0 ? 200 : 150));
    });
    defer(() => peer.close());
    const l = await link({ kind: 'tcp', host: '127.0.0.1', port: peer.port });
    const first = await failure(l.request({ unitId: 1, fn: 'readHoldingRegisters', address: 0, count: 1 }, 100));
    expect(first.code).toBe('EDGE_ERR_MODBUS_TIMEOUT');
    expect(await l.request({ unitId: 1, fn: 'readHoldingRegisters', address: 0, count: 1 }, 1000)).toEqual([222]);
  });

  it('turns short and mismatched replies into EDGE_ERR_MODBUS_BAD_REPLY and garbage into a timeout, without crashing', async () => {
    const BAD = 'EDGE_ERR_MODBUS_BAD_REPLY';
    // A frame the client cannot complete is never taken for an answer: the request times out.
    const INCOMPLETE = 'EDGE_ERR_MODBUS_TIMEOUT';
    const cases: [string, (tid: number, unit: number) => Buffer][] = [
      // byte count says 4, only one register follows
      [BAD, (tid, unit) => mbap(tid, unit, [3, 4, 0, 1])],
      // wrong function code
      [BAD, (tid, unit) => mbap(tid, unit, [4, 2, 0, 1])],
      // another unit answers
      [BAD, (tid, unit) => mbap(tid, unit + 1, [3, 2, 0, 1])],
      // header only, empty PDU
      [INCOMPLETE, (tid) => Buffer.from([tid >> 8, tid & 0xff, 0, 0, 0, 0])],
      // line noise
      [INCOMPLETE, () => Buffer.from('garbage!garbage!garbage!')],
    ];
    const replies = cases.map(([, reply]) => reply);
    const peer = await mbapServer((s, tid, unit, _pdu, n) => {
      const reply = replies[n];
      if (reply) s.write(reply(tid, unit));
    });
    defer(() => peer.close());
    for (const [i, [code]] of cases.entries()) {
      // A fresh link per case: the bus drops a link whose stream may be out of frame.
      const l = await link({ kind: 'tcp', host: '127.0.0.1', port: peer.port });
      const err = await failure(l.request({ unitId: 1, fn: 'readHoldingRegisters', address: 0, count: 2 }, 200));
      expect(err.code, `case ${i}`).toBe(code);
      await l.close();
    }
  });

  it('times out against a peer that accepts and never replies; a link closed under a request fails it with EDGE_ERR_MODBUS_CONNECT', async () => {
    const sockets: Socket[] = [];
    const mute = await serveTcp((s) => {
      s.on('error', () => undefined);
      sockets.push(s);
    });
    defer(() => mute.close());
    const l = await link({ kind: 'tcp', host: '127.0.0.1', port: mute.port });
    const err = await failure(l.request({ unitId: 1, fn: 'readCoils', address: 0, count: 1 }, 120));
    expect(err.code).toBe('EDGE_ERR_MODBUS_TIMEOUT');
    const pending = l.request({ unitId: 1, fn: 'readCoils', address: 0, count: 1 }, 5000);
    sockets.forEach((s) => s.destroy());
    expect((await failure(pending)).code).toBe('EDGE_ERR_MODBUS_CONNECT');
    expect(l.closed).toBe(true);
  });
});

describe('links against pymodbus', () => {
  it('Modbus TCP (socket framer): every function, exceptions, an unserved unit times out', async () => {
    const py = await startPymodbus({ framer: 'socket', units: [1, 2] });
    defer(() => py.stop());
    const l = await link({ kind: 'tcp', host: '127.0.0.1', port: py.port });
    await roundTripPymodbus(l, 1);
    await roundTripPymodbus(l, 2);
    const ex = await failure(l.request({ unitId: 1, fn: 'readHoldingRegisters', address: PYMODBUS_SIZE - 2, count: 5 }, 1000));
    expect(ex.params).toMatchObject({ exceptionCode: 2, exception: 'ILLEGAL_DATA_ADDRESS' });
    const to = await failure(l.request({ unitId: 9, fn: 'readHoldingRegisters', address: 0, count: 1 }, 200));
    expect(to.code).toBe('EDGE_ERR_MODBUS_TIMEOUT');
    expect(await l.request({ unitId: 2, fn: 'readInputRegisters', address: 0, count: 2 }, 1000)).toEqual([2500, 2501]);
  });

  it('RTU over TCP (RTU framer): every function and exceptions', async () => {
    const py = await startPymodbus({ framer: 'rtu', units: [1, 2] });
    defer(() => py.stop());
    const l = await link({ kind: 'rtu-over-tcp', host: '127.0.0.1', port: py.port });
    expect(l.transactionIds).toBe(false);
    await roundTripPymodbus(l, 1);
    await roundTripPymodbus(l, 2);
    const ex = await failure(l.request({ unitId: 2, fn: 'readInputRegisters', address: PYMODBUS_SIZE, count: 1 }, 1000));
    expect(ex.params).toMatchObject({ exceptionCode: 2, exception: 'ILLEGAL_DATA_ADDRESS' });
    const to = await failure(l.request({ unitId: 9, fn: 'readCoils', address: 0, count: 1 }, 200));
    expect(to.code).toBe('EDGE_ERR_MODBUS_TIMEOUT');
  });

  it('RTU over a serial line (socat pseudo-terminal pair) to pymodbus serial server', async () => {
    const pty = await openPtyPair();
    defer(() => pty.close());
    const py = await startPymodbusSerial({ device: pty.b, baudRate: 9600, units: [1, 2] });
    defer(() => py.stop());
    const l = await link({ kind: 'rtu', path: pty.a, baudRate: 9600 });
    await roundTripPymodbus(l, 1);
    await roundTripPymodbus(l, 2);
    const ex = await failure(l.request({ unitId: 1, fn: 'readDiscreteInputs', address: PYMODBUS_SIZE, count: 1 }, 1000));
    expect(ex.params).toMatchObject({ exceptionCode: 2, exception: 'ILLEGAL_DATA_ADDRESS' });
  });

  it('fails to open a serial port that does not exist with EDGE_ERR_MODBUS_CONNECT', async () => {
    const err = await failure(openLink({ kind: 'rtu', path: '/dev/edgeadm-no-such-tty', baudRate: 9600 }, { connectTimeoutMs: 2000 }));
    expect(err.code).toBe('EDGE_ERR_MODBUS_CONNECT');
    expect(err.message).toContain('rtu:///dev/edgeadm-no-such-tty');
  });
});
