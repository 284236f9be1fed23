/**
 * The Modbus device driver: devices on Modbus TCP, RTU and RTU-over-TCP with
 * EdgeX device-modbus profiles. Each device resolves its resources into
 * points once (`validate` reports every profile problem at onboarding); a
 * read plans the fewest requests (contiguous registers of one table grouped
 * up to the protocol's limits), runs them on the device's bus (one request at
 * a time per serial port or TCP endpoint, a circuit breaker per unit) and
 * decodes each point. A point that cannot be read comes back with quality
 * `bad` and the coded reason; nothing throws out of `read`.
 *
 * A write encodes the value (reverse transforms, range checks, swaps), writes
 * it, and reads it back, so the reported value is what the device holds.
 */
import { nowOrigin, type DeviceConnection, type DeviceDriver, type DriverDevice, type DriverIssue, type Logger, type Sample, type WriteResult } from '../../../core/sdk/index.ts';
import { decode, encode } from './codec.ts';
import { ErrDeviceInvalid, ErrReadOnly } from './driver-errors.ts';
import { planReads, slice, type ReadRequest } from './plan.ts';
import { resolvePoints, type ModbusPoint, type PrimaryTable } from './profile.ts';
import { MODBUS_PROTOCOLS, readProtocol, type ModbusTarget } from './protocol.ts';
import { BusPool, type Bus, type Transaction } from './bus.ts';

const READ_FN: Record<PrimaryTable, Transaction['fn']> = {
  COILS: 'readCoils',
  DISCRETE_INPUTS: 'readDiscreteInputs',
  INPUT_REGISTERS: 'readInputRegisters',
  HOLDING_REGISTERS: 'readHoldingRegisters',
};

function codeOf(err: unknown): string {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'string' ? c : 'EDGE_ERR_MODBUS_FAILED';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The device's protocol block and points, or every problem with them. */
function prepare(device: DriverDevice, protocol: string): { target?: ModbusTarget; points: ModbusPoint[]; issues: DriverIssue[] } {
  const p = readProtocol(protocol, device.protocol);
  const r = resolvePoints(device.resources);
  return { ...(p.target ? { target: p.target } : {}), points: r.points, issues: [...p.issues, ...r.issues] };
}

class ModbusConnection implements DeviceConnection {
  readonly #bus: Bus;
  readonly #release: () => Promise<void>;
  readonly #target: ModbusTarget;
  readonly #points: Map<string, ModbusPoint>;
  #closed = false;

  constructor(bus: Bus, release: () => Promise<void>, target: ModbusTarget, points: readonly ModbusPoint[]) {
    this.#bus = bus;
    this.#release = release;
    this.#target = target;
    this.#points = new Map(points.map((p) => [p.resource, p]));
  }

  async read(resources: readonly string[], signal?: AbortSignal): Promise<Sample[]> {
    const out = new Map<string, Sample>();
    const wanted: ModbusPoint[] = [];
    for (const name of resources) {
      const p = this.#points.get(name);
      if (!p) out.set(name, { resource: name, value: null, valueType: 'String', origin: nowOrigin(), quality: 'bad', qualityDetail: 'EDGE_ERR_MODBUS_UNKNOWN_RESOURCE' });
      else if (p.readWrite === 'W') out.set(name, { resource: name, value: null, valueType: p.valueType, origin: nowOrigin(), quality: 'bad', qualityDetail: 'EDGE_ERR_MODBUS_WRITE_ONLY' });
      else wanted.push(p);
    }
    for (const req of planReads(wanted)) await this.#readOne(req, out, signal);
    return resources.map((r) => out.get(r)!);
  }

  async #readOne(req: ReadRequest, out: Map<string, Sample>, signal?: AbortSignal): Promise<void> {
    let response: number[] | boolean[];
    try {
      response = await this.#bus.execute({ unitId: this.#target.unitId, fn: READ_FN[req.table], address: req.address, count: req.count, timeoutMs: this.#target.timeoutMs, ...(signal ? { signal } : {}) });
    } catch (err) {
      const origin = nowOrigin();
      for (const p of req.points) out.set(p.resource, { resource: p.resource, value: null, valueType: p.valueType, origin, quality: 'bad', qualityDetail: codeOf(err) });
      return;
    }
    const origin = nowOrigin();
    for (const p of req.points) {
      try {
        const value = decode(p, slice(req, response, p));
        out.set(p.resource, { resource: p.resource, value, valueType: p.valueType, ...(p.units ? { units: p.units } : {}), origin, quality: 'good' });
      } catch (err) {
        out.set(p.resource, { resource: p.resource, value: null, valueType: p.valueType, origin, quality: 'bad', qualityDetail: codeOf(err) });
      }
    }
  }

  async write(requests: readonly { resource: string; value: Sample['value'] }[], signal?: AbortSignal): Promise<WriteResult[]> {
    const results: WriteResult[] = [];
    for (const r of requests) {
      const p = this.#points.get(r.resource);
      if (!p) {
        results.push({ resource: r.resource, ok: false, error: { code: 'EDGE_ERR_MODBUS_UNKNOWN_RESOURCE', message: `no resource '${r.resource}' on this device` } });
        continue;
      }
      try {
        if (p.readWrite === 'R' || p.table === 'DISCRETE_INPUTS' || p.table === 'INPUT_REGISTERS') throw new ErrReadOnly({ resource: p.resource, table: p.table });
        const base = { unitId: this.#target.unitId, address: p.address, timeoutMs: this.#target.timeoutMs, ...(signal ? { signal } : {}) };
        // A bit or a masked field inside registers: read what is there, change only that part.
        const current = p.bit !== undefined || p.transform.mask !== undefined ? ((await this.#bus.execute({ ...base, fn: 'readHoldingRegisters', count: p.registers })) as number[]) : undefined;
        const values = encode(p, r.value, current);
        await this.#bus.execute({ ...base, fn: p.table === 'COILS' ? 'writeCoils' : 'writeRegisters', values });
        results.push({ resource: r.resource, ok: true });
      } catch (err) {
        results.push({ resource: r.resource, ok: false, error: { code: codeOf(err), message: messageOf(err) } });
      }
    }
    return results;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#release();
  }
}

export function createModbusDriver(o: { logger: Logger }): DeviceDriver {
  const pool = new BusPool({ logger: o.logger });
  return {
    protocols: MODBUS_PROTOCOLS,
    validate(device) {
      return prepare(device, device.protocolName ?? 'modbus-tcp').issues;
    },
    connect(device) {
      const prepared = prepare(device, device.protocolName ?? 'modbus-tcp');
      if (!prepared.target || prepared.issues.length > 0) return Promise.reject(new ErrDeviceInvalid({ device: device.name, issues: prepared.issues }));
      const { bus, release } = pool.acquire(prepared.target.endpoint);
      return Promise.resolve(new ModbusConnection(bus, release, prepared.target, prepared.points));
    },
    async close() {
      await pool.close();
    },
  };
}
