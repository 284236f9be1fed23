/**
 * modbus: the Modbus driver against pymodbus (an independent server, in its
 * own process) on loopback.
 *
 * - transactions/s through the bus (queue, timeouts, breaker) against a bare
 *   modbus-serial client doing the same 10-register reads, in the same run;
 * - registers/s reading 100 contiguous resources with request grouping
 *   against one request per resource;
 * - CPU time of this process per 1,000 polled resources per second, polling
 *   20 devices x 100 resources every 100 ms (20,000 resources/s).
 */
import modbusSerial from 'modbus-serial';
import { createLogger } from '../core/kernel/index.ts';
import type { DeviceConnection, DriverResource } from '../core/sdk/index.ts';
import { createModbusDriver } from '../plugins/modbus/index.ts';
import { openBus } from '../plugins/modbus/testkit/index.ts';
import { startPymodbus } from '../test/support/pymodbus.ts';
import { round, versus, type Benchmark, type BenchResult } from './harness.ts';

const TX = 3000;
/** modbus-serial is CommonJS: the default import is the client class (its typings say `.default`). */
const ModbusRTU = modbusSerial as unknown as typeof modbusSerial.default;
const POINTS = 100;

function resources(n: number): DriverResource[] {
  return Array.from({ length: n }, (_, i) => ({ name: `r${i}`, valueType: 'Uint16' as const, readWrite: 'R' as const, attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: i }, properties: {} }));
}

const bench: Benchmark = {
  name: 'modbus',
  description: 'Modbus driver against pymodbus: transactions/s, grouping, CPU per 1,000 polled resources/s',
  async run(): Promise<BenchResult[]> {
    const out: BenchResult[] = [];
    const logger = createLogger({ level: 'warn' });
    const py = await startPymodbus({ framer: 'socket', units: [1] });
    const driver = createModbusDriver({ logger });
    try {
      // Peer: a bare modbus-serial client, one request after another.
      const raw = new ModbusRTU();
      await raw.connectTCP('127.0.0.1', { port: py.port });
      raw.setID(1);
      raw.setTimeout(2000);
      for (let i = 0; i < 200; i++) await raw.readHoldingRegisters(0, 10);
      let t0 = performance.now();
      for (let i = 0; i < TX; i++) await raw.readHoldingRegisters(0, 10);
      const rawRate = TX / ((performance.now() - t0) / 1000);
      await new Promise<void>((r) => raw.close(() => r()));

      const bus = openBus({ kind: 'tcp', host: '127.0.0.1', port: py.port }, { logger });
      for (let i = 0; i < 200; i++) await bus.execute({ unitId: 1, fn: 'readHoldingRegisters', address: 0, count: 10, timeoutMs: 2000 });
      t0 = performance.now();
      for (let i = 0; i < TX; i++) await bus.execute({ unitId: 1, fn: 'readHoldingRegisters', address: 0, count: 10, timeoutMs: 2000 });
      const busRate = TX / ((performance.now() - t0) / 1000);
      await bus.close();
      out.push(versus({ bench: 'modbus', metric: 'transactions/s, 10-register reads, one bus (queue, timeouts, breaker)', value: Math.round(busRate), unit: 'tx/s' }, 'bare modbus-serial client', rawRate));

      // Grouping: 100 contiguous registers as one request, against one request each.
      const device = (name: string, n: number) => ({ site: 'bench', name, profile: 'p', protocolName: 'modbus-tcp', protocol: { Address: '127.0.0.1', Port: String(py.port), UnitID: '1' }, resources: resources(n) });
      const conn = await driver.connect(device('grouped', POINTS));
      const names = resources(POINTS).map((r) => r.name);
      const rounds = 100;
      for (let i = 0; i < 10; i++) await conn.read(names);
      t0 = performance.now();
      for (let i = 0; i < rounds; i++) await conn.read(names);
      const grouped = (rounds * POINTS) / ((performance.now() - t0) / 1000);
      t0 = performance.now();
      for (let i = 0; i < rounds / 10; i++) for (const n of names) await conn.read([n]);
      const single = ((rounds / 10) * POINTS) / ((performance.now() - t0) / 1000);
      out.push(versus({ bench: 'modbus', metric: `registers/s reading ${POINTS} contiguous resources, grouped`, value: Math.round(grouped), unit: 'registers/s' }, 'one request per resource', single));
      await conn.close();

      // CPU per 1,000 polled resources per second: 20 devices x 100 resources every 100 ms.
      const conns: DeviceConnection[] = [];
      for (let d = 0; d < 20; d++) conns.push(await driver.connect(device(`d${d}`, POINTS)));
      const seconds = 5;
      let polled = 0;
      let bad = 0;
      const cpu0 = process.cpuUsage();
      const until = performance.now() + seconds * 1000;
      t0 = performance.now();
      while (performance.now() < until) {
        const tick = performance.now();
        const results = await Promise.all(conns.map((c) => c.read(names)));
        for (const rs of results) {
          for (const s of rs) {
            if (s.quality === 'good') polled++;
            else bad++;
          }
        }
        const wait = 100 - (performance.now() - tick);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const elapsed = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const rate = polled / elapsed;
      const cpuMsPerS = (cpu.user + cpu.system) / 1000 / elapsed;
      if (bad > 0) throw new Error(`bench: ${bad} readings were bad during the polling run`);
      out.push({ bench: 'modbus', metric: 'polled resources/s sustained (20 devices x 100 resources / 100 ms)', value: Math.round(rate), unit: 'resources/s', target: '20000' });
      out.push({ bench: 'modbus', metric: 'CPU per 1,000 polled resources/s (driver process)', value: round(cpuMsPerS / (rate / 1000), 2), unit: 'ms CPU per s' });
      for (const c of conns) await c.close();
    } finally {
      await driver.close();
      await py.stop();
    }
    return out;
  },
};

export default bench;
