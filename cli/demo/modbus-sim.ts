/**
 * The demo's Modbus TCP device: modbus-serial's ServerTCP on loopback, unit 1,
 * with holding registers that change every second, as a small energy meter:
 *
 *   0      voltage      Uint16, 0.1 V         (around 230 V)
 *   1      current      Uint16, 0.01 A        (a slow sine)
 *   2-3    energy       Uint32, Wh, high word first (counts up)
 *   4-5    setpoint     Float32, writable     (kept as written)
 *
 * Addresses past the map answer ILLEGAL_DATA_ADDRESS.
 */
import { freePort } from '../../core/kernel/index.ts';
import modbusSerial from 'modbus-serial';

type ServerTcpClass = typeof modbusSerial.ServerTCP;
/** modbus-serial is CommonJS; its `module.exports` (the default import) is the client class carrying `ServerTCP`. */
const ServerTCP = (modbusSerial as unknown as { ServerTCP: ServerTcpClass }).ServerTCP;

export const DEMO_MODBUS_UNIT = 1;
const SIZE = 16;
const ILLEGAL_DATA_ADDRESS = { modbusErrorCode: 2, msg: 'Illegal data address' };
const ILLEGAL_UNIT = { modbusErrorCode: 11, msg: 'Gateway target device failed to respond' };

export interface DemoModbusDevice {
  readonly port: number;
  /** The holding registers as they are now. */
  registers(): readonly number[];
  close(): Promise<void>;
}

function float32Words(v: number): [number, number] {
  const b = Buffer.alloc(4);
  b.writeFloatBE(v);
  return [b.readUInt16BE(0), b.readUInt16BE(2)];
}

export async function startDemoModbusDevice(opts: { host?: string; port?: number; intervalMs?: number } = {}): Promise<DemoModbusDevice> {
  const regs = new Array<number>(SIZE).fill(0);
  let energy = 0;
  let tick = 0;
  const step = (): void => {
    tick += 1;
    regs[0] = 2300 + Math.round(Math.sin(tick / 7) * 40 + (Math.random() - 0.5) * 6);
    regs[1] = Math.max(0, Math.round(500 + Math.sin(tick / 11) * 300 + (Math.random() - 0.5) * 20));
    energy = (energy + Math.round((regs[0] / 10) * (regs[1] / 100) / 3.6)) >>> 0;
    regs[2] = energy >>> 16;
    regs[3] = energy & 0xffff;
  };
  // Within the profile's setpoint range (200..250 V).
  [regs[4], regs[5]] = float32Words(230);
  step();
  const timer = setInterval(step, opts.intervalMs ?? 1000);
  timer.unref();

  type Cb<T> = (err: unknown, value?: T) => void;
  const ok = (addr: number, count: number, unitId: number): unknown =>
    unitId !== DEMO_MODBUS_UNIT ? ILLEGAL_UNIT : addr < 0 || addr + count > SIZE ? ILLEGAL_DATA_ADDRESS : null;
  const read = (addr: number, count: number, unitId: number, cb: Cb<number[]>): void => {
    const err = ok(addr, count, unitId);
    if (err) cb(err);
    else cb(null, regs.slice(addr, addr + count));
  };
  const vector = {
    getHoldingRegister: (addr: number, unitId: number, cb: Cb<number>) => read(addr, 1, unitId, (e, v) => cb(e, v?.[0])),
    getMultipleHoldingRegisters: read,
    getInputRegister: (addr: number, unitId: number, cb: Cb<number>) => read(addr, 1, unitId, (e, v) => cb(e, v?.[0])),
    getMultipleInputRegisters: read,
    getCoil: (_addr: number, _unitId: number, cb: Cb<boolean>) => cb(ILLEGAL_DATA_ADDRESS),
    getDiscreteInput: (_addr: number, _unitId: number, cb: Cb<boolean>) => cb(ILLEGAL_DATA_ADDRESS),
    setCoil: (_addr: number, _v: boolean, _unitId: number, cb: (err: unknown) => void) => cb(ILLEGAL_DATA_ADDRESS),
    setRegister: (addr: number, value: number, unitId: number, cb: (err: unknown) => void) => {
      const err = ok(addr, 1, unitId);
      if (!err) regs[addr] = value;
      cb(err);
    },
    setRegisterArray: (addr: number, values: number[], unitId: number, cb: (err: unknown) => void) => {
      const err = ok(addr, values.length, unitId);
      if (!err) regs.splice(addr, values.length, ...values);
      cb(err);
    },
  };

  const host = opts.host ?? '127.0.0.1';
  const port = opts.port || (await freePort(host));
  const server = new ServerTCP(vector as ConstructorParameters<ServerTcpClass>[0], { host, port });
  // A client that resets its connection is its own business.
  server.on('socketError', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      server.on('initialized', () => resolve());
      server.on('serverError', (err) => reject(err ?? new Error('the demo Modbus device failed to listen')));
    });
  } catch (err) {
    clearInterval(timer);
    throw err;
  }
  server.on('error', () => undefined);
  let closed = false;
  return {
    port,
    registers: () => [...regs],
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      clearInterval(timer);
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
