/**
 * pymodbus (Debian python3-pymodbus 3.0) as an independent Modbus peer:
 * spawns test/support/pymodbus_server.py with /usr/bin/python3 (the only
 * interpreter that imports Debian's pymodbus) on a loopback port or on a
 * serial device, waits until it serves, and knows the values it holds.
 *
 * Also opens a pseudo-terminal pair with socat, so RTU over a "serial port"
 * can be tested without hardware.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from './tcp-services.ts';

export const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(import.meta.dirname, 'pymodbus_server.py');

/** Block size per table and unit in the pymodbus server; reading past it answers ILLEGAL_DATA_ADDRESS. */
export const PYMODBUS_SIZE = 100;

/** The values pymodbus_server.py holds (zero_mode: address 0 is the first value). */
export const pymodbusValues = {
  coil: (unit: number, addr: number): boolean => (addr + unit) % 3 === 0,
  discreteInput: (unit: number, addr: number): boolean => (addr + unit) % 2 === 0,
  inputRegister: (unit: number, addr: number): number => unit * 1000 + 500 + addr,
  holdingRegister: (unit: number, addr: number): number => unit * 1000 + addr,
};

export interface PymodbusServer {
  /** TCP port, when started on one. */
  port: number;
  units: number[];
  /** Kills the server; it can be started again on the same port with `restart()`. */
  stop(): Promise<void>;
  restart(): Promise<void>;
}

function waitReady(child: ChildProcess, what: string, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`${what} did not become ready in ${timeoutMs} ms: ${err || out}`)), timeoutMs);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    };
    child.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-2000);
    });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => fail(new Error(`${what} exited with ${code}: ${err || out}`)));
  });
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

function startProcess(args: string[], what: string): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(PYTHON, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const ready = waitReady(child, what);
  return { child, ready };
}

/** Starts pymodbus on a loopback TCP port: `socket` framing is Modbus TCP, `rtu` framing is RTU over TCP. */
export async function startPymodbus(opts: { framer: 'socket' | 'rtu'; units?: number[]; port?: number }): Promise<PymodbusServer> {
  const units = opts.units ?? [1, 2];
  const port = opts.port ?? (await freePort());
  const args = ['--port', String(port), '--framer', opts.framer, '--units', units.join(',')];
  let proc = startProcess(args, `pymodbus (${opts.framer}) on port ${port}`);
  await proc.ready;
  return {
    port,
    units,
    stop: () => kill(proc.child),
    async restart() {
      await kill(proc.child);
      proc = startProcess(args, `pymodbus (${opts.framer}) on port ${port}`);
      await proc.ready;
    },
  };
}

/** Starts pymodbus' serial server (RTU framing) on a serial device. */
export async function startPymodbusSerial(opts: { device: string; baudRate: number; units?: number[] }): Promise<PymodbusServer> {
  const units = opts.units ?? [1, 2];
  const args = ['--serial', opts.device, '--baud', String(opts.baudRate), '--units', units.join(',')];
  let proc = startProcess(args, `pymodbus serial on ${opts.device}`);
  await proc.ready;
  return {
    port: 0,
    units,
    stop: () => kill(proc.child),
    async restart() {
      await kill(proc.child);
      proc = startProcess(args, `pymodbus serial on ${opts.device}`);
      await proc.ready;
    },
  };
}

export interface PtyPair {
  /** The two ends: bytes written to one come out of the other. */
  a: string;
  b: string;
  close(): Promise<void>;
}

/** A pseudo-terminal pair from socat (`socat -d -d pty,raw,echo=0 pty,raw,echo=0`). */
export function openPtyPair(timeoutMs = 5000): Promise<PtyPair> {
  const child = spawn('socat', ['-d', '-d', 'pty,raw,echo=0', 'pty,raw,echo=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`socat did not report its ptys in ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const ptys = [...err.matchAll(/PTY is (\S+)/g)].map((m) => m[1] as string);
      if (ptys.length === 2 && err.includes('starting data transfer loop')) {
        clearTimeout(timer);
        resolve({ a: ptys[0] as string, b: ptys[1] as string, close: () => kill(child) });
      }
    });
  });
}

