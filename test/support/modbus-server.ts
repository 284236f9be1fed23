/**
 * modbus-serial's ServerTCP on loopback with a register map the test owns.
 * Every unit has coils, discrete inputs, input and holding registers of
 * `size` entries from address 0; an address past the end answers
 * ILLEGAL_DATA_ADDRESS. A unit can be silenced (requests to it are never
 * answered), replies can be delayed, and every register read and write is
 * recorded with its start and end time, so a test can see whether requests
 * overlapped on the server.
 */
import type { Server } from 'node:net';
import modbusSerial from 'modbus-serial';
import { freePort } from './tcp-services.ts';

type ServerTcpClass = typeof modbusSerial.ServerTCP;
/** modbus-serial is CommonJS; its `module.exports` (the default import under NodeNext) is the client class carrying `ServerTCP`. */
const ServerTCP = (modbusSerial as unknown as { ServerTCP: ServerTcpClass }).ServerTCP;

export interface UnitMap {
  coils: boolean[];
  discreteInputs: boolean[];
  inputRegisters: number[];
  holdingRegisters: number[];
}

export interface RequestRecord {
  unitId: number;
  op: 'readHolding' | 'readInput' | 'writeRegisters';
  address: number;
  count: number;
  start: number;
  end: number;
}

export interface ModbusTestServer {
  port: number;
  /** The register map of a unit (created, zero-filled, on first use; every unit answers). */
  unit(unitId: number): UnitMap;
  /** Requests to a silenced unit are never answered. */
  silence(unitId: number, silent?: boolean): void;
  /** Delay before every register reply, in ms. */
  delayMs: number;
  readonly records: RequestRecord[];
  /** Number of client connections currently open. */
  connections(): number;
  /** Number of client connections accepted since the start (a reconnect counts again). */
  accepted(): number;
  close(): Promise<void>;
}

const ILLEGAL_DATA_ADDRESS = { modbusErrorCode: 2, msg: 'Illegal data address' };


export async function startModbusServer(opts: { port?: number; size?: number } = {}): Promise<ModbusTestServer> {
  const size = opts.size ?? 100;
  const port = opts.port ?? (await freePort());
  const units = new Map<number, UnitMap>();
  const silent = new Set<number>();
  const records: RequestRecord[] = [];
  const state = { delayMs: 0 };
  const timers = new Set<NodeJS.Timeout>();

  const unit = (id: number): UnitMap => {
    let u = units.get(id);
    if (!u) {
      u = {
        coils: new Array<boolean>(size).fill(false),
        discreteInputs: new Array<boolean>(size).fill(false),
        inputRegisters: new Array<number>(size).fill(0),
        holdingRegisters: new Array<number>(size).fill(0),
      };
      units.set(id, u);
    }
    return u;
  };
  const later = (fn: () => void): void => {
    if (state.delayMs <= 0) return fn();
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, state.delayMs);
    timers.add(t);
  };
  const inRange = (addr: number, count: number): boolean => addr >= 0 && addr + count <= size;
  type Cb<T> = (err: unknown, value?: T) => void;

  const readRegs = (op: 'readHolding' | 'readInput', addr: number, count: number, unitId: number, cb: Cb<number[]>): void => {
    if (silent.has(unitId)) return;
    const rec: RequestRecord = { unitId, op, address: addr, count, start: performance.now(), end: 0 };
    records.push(rec);
    later(() => {
      rec.end = performance.now();
      if (!inRange(addr, count)) return cb(ILLEGAL_DATA_ADDRESS);
      const table = op === 'readHolding' ? unit(unitId).holdingRegisters : unit(unitId).inputRegisters;
      cb(null, table.slice(addr, addr + count));
    });
  };
  const bit = (table: 'coils' | 'discreteInputs', addr: number, unitId: number, cb: Cb<boolean>): void => {
    if (silent.has(unitId)) return;
    if (!inRange(addr, 1)) return cb(ILLEGAL_DATA_ADDRESS);
    cb(null, unit(unitId)[table][addr]);
  };

  const vector = {
    getCoil: (addr: number, unitId: number, cb: Cb<boolean>) => bit('coils', addr, unitId, cb),
    getDiscreteInput: (addr: number, unitId: number, cb: Cb<boolean>) => bit('discreteInputs', addr, unitId, cb),
    getHoldingRegister: (addr: number, unitId: number, cb: Cb<number>) =>
      readRegs('readHolding', addr, 1, unitId, (err, v) => cb(err, v?.[0])),
    getInputRegister: (addr: number, unitId: number, cb: Cb<number>) =>
      readRegs('readInput', addr, 1, unitId, (err, v) => cb(err, v?.[0])),
    getMultipleHoldingRegisters: (addr: number, count: number, unitId: number, cb: Cb<number[]>) =>
      readRegs('readHolding', addr, count, unitId, cb),
    getMultipleInputRegisters: (addr: number, count: number, unitId: number, cb: Cb<number[]>) =>
      readRegs('readInput', addr, count, unitId, cb),
    setCoil: (addr: number, value: boolean, unitId: number, cb: (err: unknown) => void) => {
      if (silent.has(unitId)) return;
      if (!inRange(addr, 1)) return cb(ILLEGAL_DATA_ADDRESS);
      unit(unitId).coils[addr] = value;
      cb(null);
    },
    setRegisterArray: (addr: number, values: number[], unitId: number, cb: (err: unknown) => void) => {
      if (silent.has(unitId)) return;
      const rec: RequestRecord = { unitId, op: 'writeRegisters', address: addr, count: values.length, start: performance.now(), end: 0 };
      records.push(rec);
      later(() => {
        rec.end = performance.now();
        if (!inRange(addr, values.length)) return cb(ILLEGAL_DATA_ADDRESS);
        unit(unitId).holdingRegisters.splice(addr, values.length, ...values);
        cb(null);
      });
    },
    setRegister: (addr: number, value: number, unitId: number, cb: (err: unknown) => void) => {
      if (silent.has(unitId)) return;
      if (!inRange(addr, 1)) return cb(ILLEGAL_DATA_ADDRESS);
      unit(unitId).holdingRegisters[addr] = value;
      cb(null);
    },
  };

  const server = new ServerTCP(vector as ConstructorParameters<ServerTcpClass>[0], { host: '127.0.0.1', port });
  // Client resets are the test's business, not a crash.
  server.on('socketError', () => undefined);
  server.on('error', () => undefined);
  let accepted = 0;
  (server as unknown as { _server: Server })._server.on('connection', () => {
    accepted++;
  });
  await new Promise<void>((resolve, reject) => {
    server.on('initialized', () => resolve());
    server.on('serverError', (err) => reject(err ?? new Error('modbus test server failed to listen')));
  });

  let closed = false;
  return {
    port,
    unit,
    silence(unitId, on = true) {
      if (on) silent.add(unitId);
      else silent.delete(unitId);
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(v: number) {
      state.delayMs = v;
    },
    records,
    connections: () => server.socks.size,
    accepted: () => accepted,
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
