/**
 * One physical Modbus link: a TCP connection to a device or gateway (MBAP
 * framing, transaction ids), a serial port (RTU framing), or RTU framing over
 * a TCP connection (serial device servers). Built on modbus-serial's client:
 * `linkTCP` for Modbus TCP, `linkTelnet` for RTU over TCP (raw RTU frames
 * with CRC on a socket), `connectRTUBuffered` for serial ports.
 *
 * A link carries one request at a time (the bus scheduler in bus.ts
 * guarantees it) and turns every failure into a coded error: no reply in
 * time is EDGE_ERR_MODBUS_TIMEOUT, a reply that does not fit the request is
 * EDGE_ERR_MODBUS_BAD_REPLY, an exception reply is EDGE_ERR_MODBUS_EXCEPTION,
 * a link that is gone is EDGE_ERR_MODBUS_CONNECT.
 */
import { Socket } from 'node:net';
import modbusSerial from 'modbus-serial';
import {
  ErrModbusBadReply,
  ErrModbusConnect,
  ErrModbusException,
  ErrModbusInvalidEndpoint,
  ErrModbusInvalidRequest,
  ErrModbusTimeout,
  exceptionName,
} from './errors.ts';

export type Endpoint =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'rtu'; path: string; baudRate: number; parity?: 'none' | 'even' | 'odd'; dataBits?: 7 | 8; stopBits?: 1 | 2 }
  | { kind: 'rtu-over-tcp'; host: string; port: number };

export type ModbusFunction =
  | 'readCoils'
  | 'readDiscreteInputs'
  | 'readHoldingRegisters'
  | 'readInputRegisters'
  | 'writeCoils'
  | 'writeRegisters';

export const MODBUS_FUNCTIONS: readonly ModbusFunction[] = Object.freeze([
  'readCoils',
  'readDiscreteInputs',
  'readHoldingRegisters',
  'readInputRegisters',
  'writeCoils',
  'writeRegisters',
]);

/** Protocol limits per request (Modbus Application Protocol v1.1b3). */
export const MODBUS_LIMITS: Readonly<Record<ModbusFunction, number>> = Object.freeze({
  readCoils: 2000,
  readDiscreteInputs: 2000,
  readHoldingRegisters: 125,
  readInputRegisters: 125,
  writeCoils: 1968,
  writeRegisters: 123,
});

/** A request as it goes on the wire. */
export interface LinkRequest {
  unitId: number;
  fn: ModbusFunction;
  address: number;
  count?: number;
  values?: readonly number[] | readonly boolean[];
}

/**
 * Requests are serialised per bus: one serial port, or one TCP endpoint (a
 * gateway serves all its unit ids over one connection), never per unit id.
 */
export function busKey(e: Endpoint): string {
  switch (e.kind) {
    case 'tcp':
      return `tcp://${e.host}:${e.port}`;
    case 'rtu-over-tcp':
      return `rtu-over-tcp://${e.host}:${e.port}`;
    case 'rtu':
      return `rtu://${e.path}`;
  }
}

function show(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function invalidEndpoint(field: string, value: unknown, expected: string): never {
  throw new ErrModbusInvalidEndpoint({ field, value: show(value), expected });
}

function isPort(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;
}

/** Checks an endpoint from configuration; throws EDGE_ERR_MODBUS_INVALID_ENDPOINT naming the field. */
export function validateEndpoint(value: unknown): Endpoint {
  if (typeof value !== 'object' || value === null) invalidEndpoint('endpoint', value, 'an object');
  const e = value as Record<string, unknown>;
  switch (e.kind) {
    case 'tcp':
    case 'rtu-over-tcp': {
      if (typeof e.host !== 'string' || e.host.trim() === '') invalidEndpoint('host', e.host, 'a host name or address');
      if (!isPort(e.port)) invalidEndpoint('port', e.port, 'an integer 1..65535');
      return { kind: e.kind, host: e.host, port: e.port };
    }
    case 'rtu': {
      if (typeof e.path !== 'string' || e.path.trim() === '') invalidEndpoint('path', e.path, 'a serial device path');
      if (!Number.isInteger(e.baudRate) || (e.baudRate as number) <= 0) invalidEndpoint('baudRate', e.baudRate, 'a positive integer');
      if (e.parity !== undefined && e.parity !== 'none' && e.parity !== 'even' && e.parity !== 'odd') {
        invalidEndpoint('parity', e.parity, "'none', 'even' or 'odd'");
      }
      if (e.dataBits !== undefined && e.dataBits !== 7 && e.dataBits !== 8) invalidEndpoint('dataBits', e.dataBits, '7 or 8');
      if (e.stopBits !== undefined && e.stopBits !== 1 && e.stopBits !== 2) invalidEndpoint('stopBits', e.stopBits, '1 or 2');
      const out: Endpoint = { kind: 'rtu', path: e.path, baudRate: e.baudRate as number };
      if (e.parity !== undefined) out.parity = e.parity;
      if (e.dataBits !== undefined) out.dataBits = e.dataBits;
      if (e.stopBits !== undefined) out.stopBits = e.stopBits;
      return out;
    }
    default:
      return invalidEndpoint('kind', e.kind, "'tcp', 'rtu' or 'rtu-over-tcp'");
  }
}

function invalidRequest(field: string, value: unknown, expected: string): never {
  throw new ErrModbusInvalidRequest({ field, value: show(value), expected });
}

/** Checks a request against the protocol's limits; throws EDGE_ERR_MODBUS_INVALID_REQUEST naming the field. */
export function validateRequest(r: LinkRequest): void {
  if (!Number.isInteger(r.unitId) || r.unitId < 0 || r.unitId > 255) invalidRequest('unitId', r.unitId, 'an integer 0..255');
  if (!MODBUS_FUNCTIONS.includes(r.fn)) invalidRequest('fn', r.fn, MODBUS_FUNCTIONS.join(', '));
  if (!Number.isInteger(r.address) || r.address < 0 || r.address > 65535) invalidRequest('address', r.address, 'an integer 0..65535');
  const limit = MODBUS_LIMITS[r.fn];
  let n: number;
  if (r.fn === 'writeCoils' || r.fn === 'writeRegisters') {
    if (!Array.isArray(r.values) || r.values.length === 0 || r.values.length > limit) {
      invalidRequest('values', r.values, `an array of 1..${limit} values`);
    }
    const values: readonly unknown[] = r.values;
    values.forEach((v, i) => {
      if (r.fn === 'writeCoils' ? typeof v !== 'boolean' : !(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535)) {
        invalidRequest(`values[${i}]`, v, r.fn === 'writeCoils' ? 'a boolean' : 'an integer 0..65535');
      }
    });
    n = values.length;
  } else {
    if (!Number.isInteger(r.count) || (r.count as number) < 1 || (r.count as number) > limit) {
      invalidRequest('count', r.count, `an integer 1..${limit}`);
    }
    n = r.count as number;
  }
  if (r.address + n > 65536) invalidRequest('address', r.address, `a range that ends at or below 65535 (count ${n})`);
}

/**
 * modbus-serial is CommonJS: its `module.exports` is the client class, while
 * its typings describe an ES default export. Under NodeNext the default import
 * is the `module.exports` value; this names it with the client's type.
 */
const ModbusClient = modbusSerial as unknown as typeof modbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusClient>;

/** What the modbus-serial client rejects with: plain objects or Errors with these fields. */
interface ClientFailure {
  message?: unknown;
  name?: unknown;
  errno?: unknown;
  modbusCode?: unknown;
}

/** One open link. Not safe for concurrent requests: the bus serialises them. */
export interface Link {
  readonly endpoint: Endpoint;
  readonly key: string;
  /** True when replies carry transaction ids (Modbus TCP), so a late reply cannot pass for the next one. */
  readonly transactionIds: boolean;
  readonly closed: boolean;
  request(req: LinkRequest, timeoutMs: number): Promise<number[] | boolean[]>;
  /** Called once when the link goes away (peer closed, error, or `close()`). */
  onClose(listener: (reason: string) => void): void;
  close(): Promise<void>;
}

export interface OpenLinkOptions {
  connectTimeoutMs?: number;
}

function connectSocket(host: string, port: number, timeoutMs: number, key: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ErrModbusConnect({ bus: key, reason: `connect timed out after ${timeoutMs} ms` }));
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new ErrModbusConnect({ bus: key, reason: err.message }, { cause: err }));
    });
    socket.connect({ host, port }, () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(show(err)));
      },
    );
  });
}

/** Opens a link; rejects with EDGE_ERR_MODBUS_CONNECT (cause kept) when it cannot. */
export async function openLink(endpoint: Endpoint, opts: OpenLinkOptions = {}): Promise<Link> {
  const key = busKey(endpoint);
  const connectTimeoutMs = opts.connectTimeoutMs ?? 3000;
  const client = new ModbusClient();
  let socket: Socket | undefined;
  // The client relays port errors as 'error' events; without a listener they would throw.
  client.on('error', () => undefined);
  try {
    if (endpoint.kind === 'rtu') {
      const serial: { baudRate: number; parity?: 'none' | 'even' | 'odd'; dataBits?: number; stopBits?: number } = {
        baudRate: endpoint.baudRate,
      };
      if (endpoint.parity) serial.parity = endpoint.parity;
      if (endpoint.dataBits) serial.dataBits = endpoint.dataBits;
      if (endpoint.stopBits) serial.stopBits = endpoint.stopBits;
      const opening = client.connectRTUBuffered(endpoint.path, serial);
      await withTimeout(opening, connectTimeoutMs, () => {
        // An open that completes after its timeout must not leave the port open.
        opening.then(
          () => client.close(() => undefined),
          () => undefined,
        );
        return new ErrModbusConnect({ bus: key, reason: `opening the serial port timed out after ${connectTimeoutMs} ms` });
      });
    } else {
      socket = await connectSocket(endpoint.host, endpoint.port, connectTimeoutMs, key);
      if (endpoint.kind === 'tcp') await client.linkTCP(socket, { port: endpoint.port });
      else await client.linkTelnet(socket, { port: endpoint.port });
    }
  } catch (err) {
    socket?.destroy();
    if (ErrModbusConnect.is(err)) throw err;
    const reason = err instanceof Error ? err.message : show(err);
    throw new ErrModbusConnect({ bus: key, reason }, { cause: err });
  }
  return new ClientLink(endpoint, key, client, socket);
}

class ClientLink implements Link {
  readonly transactionIds: boolean;
  private isClosed = false;
  private readonly listeners: ((reason: string) => void)[] = [];
  private pending: ((err: Error) => void) | undefined;

  constructor(
    readonly endpoint: Endpoint,
    readonly key: string,
    private readonly client: ModbusRTU,
    private readonly socket: Socket | undefined,
  ) {
    this.transactionIds = endpoint.kind === 'tcp';
    if (socket) {
      socket.on('error', () => undefined);
      socket.once('close', () => this.markClosed('connection closed by peer'));
    } else {
      client.on('close', () => this.markClosed('serial port closed'));
    }
  }

  get closed(): boolean {
    return this.isClosed;
  }

  onClose(listener: (reason: string) => void): void {
    if (this.isClosed) listener('closed');
    else this.listeners.push(listener);
  }

  private markClosed(reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.pending?.(new ErrModbusConnect({ bus: this.key, reason }));
    this.pending = undefined;
    // Cancels the client's own transaction timers.
    this.client.destroy(() => undefined);
    for (const l of this.listeners.splice(0)) l(reason);
  }

  async request(req: LinkRequest, timeoutMs: number): Promise<number[] | boolean[]> {
    if (this.isClosed) throw new ErrModbusConnect({ bus: this.key, reason: 'link is closed' });
    const meta = { bus: this.key, unitId: req.unitId, fn: req.fn };
    this.client.setID(req.unitId);
    this.client.setTimeout(timeoutMs);
    const call = this.call(req);
    let guard: NodeJS.Timeout | undefined;
    // The client's own timer answers first; this guard only covers a client that never settles.
    const guarded = new Promise<unknown>((resolve, reject) => {
      this.pending = reject;
      guard = setTimeout(() => reject(new ErrModbusTimeout({ ...meta, timeoutMs })), timeoutMs + 250);
      call.then(resolve, reject);
    });
    let result: unknown;
    try {
      result = await guarded;
    } catch (err) {
      throw this.mapFailure(err, req, timeoutMs);
    } finally {
      clearTimeout(guard);
      this.pending = undefined;
    }
    return this.checkReply(req, result);
  }

  private call(req: LinkRequest): Promise<unknown> {
    const c = this.client;
    switch (req.fn) {
      case 'readCoils':
        return c.readCoils(req.address, req.count ?? 1);
      case 'readDiscreteInputs':
        return c.readDiscreteInputs(req.address, req.count ?? 1);
      case 'readHoldingRegisters':
        return c.readHoldingRegisters(req.address, req.count ?? 1);
      case 'readInputRegisters':
        return c.readInputRegisters(req.address, req.count ?? 1);
      case 'writeCoils':
        return c.writeCoils(req.address, [...(req.values as readonly boolean[])]);
      case 'writeRegisters':
        return c.writeRegisters(req.address, [...(req.values as readonly number[])]);
    }
  }

  private mapFailure(err: unknown, req: LinkRequest, timeoutMs: number): Error {
    const meta = { bus: this.key, unitId: req.unitId, fn: req.fn };
    if (ErrModbusTimeout.is(err) || ErrModbusConnect.is(err)) return err;
    const f: ClientFailure = typeof err === 'object' && err !== null ? (err) : {};
    if (typeof f.modbusCode === 'number') {
      return new ErrModbusException({ ...meta, exceptionCode: f.modbusCode, exception: exceptionName(f.modbusCode) }, { cause: err });
    }
    if (f.errno === 'ETIMEDOUT' || f.name === 'TransactionTimedOutError') {
      return new ErrModbusTimeout({ ...meta, timeoutMs }, { cause: err });
    }
    if (f.name === 'PortNotOpenError' || this.isClosed) {
      return new ErrModbusConnect({ bus: this.key, reason: 'link is not open' }, { cause: err });
    }
    const reason = typeof f.message === 'string' ? f.message : show(err);
    return new ErrModbusBadReply({ ...meta, reason }, { cause: err });
  }

  /** The client checks CRC, unit, function and frame length; this checks the content against the request. */
  private checkReply(req: LinkRequest, result: unknown): number[] | boolean[] {
    const bad = (reason: string): never => {
      throw new ErrModbusBadReply({ bus: this.key, unitId: req.unitId, fn: req.fn, reason });
    };
    const r = (typeof result === 'object' && result !== null ? result : {}) as { data?: unknown; address?: unknown; length?: unknown };
    switch (req.fn) {
      case 'readCoils':
      case 'readDiscreteInputs': {
        const count = req.count ?? 1;
        if (!Array.isArray(r.data) || r.data.length < count) bad(`expected ${count} bits`);
        return (r.data as unknown[]).slice(0, count).map((b) => b === true);
      }
      case 'readHoldingRegisters':
      case 'readInputRegisters': {
        const count = req.count ?? 1;
        if (!Array.isArray(r.data) || r.data.length !== count) {
          bad(`expected ${count} registers, got ${Array.isArray(r.data) ? r.data.length : 'none'}`);
        }
        return (r.data as unknown[]).map((v) => (typeof v === 'number' ? v : bad('non-numeric register')));
      }
      case 'writeCoils':
      case 'writeRegisters': {
        const n = req.values?.length ?? 0;
        if (r.address !== req.address || r.length !== n) {
          bad(`echo names address ${show(r.address)} count ${show(r.length)}, sent address ${req.address} count ${n}`);
        }
        return [];
      }
    }
  }

  close(): Promise<void> {
    if (this.socket) {
      this.socket.destroy();
      this.markClosed('closed');
      return Promise.resolve();
    }
    const wasOpen = !this.isClosed;
    this.markClosed('closed');
    if (!wasOpen) return Promise.resolve();
    return new Promise<void>((resolve) => {
      // A port that is already gone answers with an error: closed either way.
      this.client.close(() => resolve());
    });
  }
}
