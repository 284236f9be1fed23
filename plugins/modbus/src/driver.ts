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
import {
  formatQualityDetail,
  nowOrigin,
  type DeviceConnection,
  type DeviceDriver,
  type DiscoveredDevice,
  type DiscoveryRequest,
  type DriverDevice,
  type DriverIssue,
  type Logger,
  type Sample,
  type WriteResult,
} from '../../../core/sdk/index.ts';
import { ErrDeviceInvalid, ErrDiscovery, ErrReadOnly, failureCause } from './errors.ts';
import { decode, encode } from './codec.ts';
import { planReads, slice, type ReadRequest } from './plan.ts';
import { resolvePoints, type ModbusPoint, type PrimaryTable } from './profile.ts';
import { MODBUS_PROTOCOLS, readProtocol, type ModbusTarget } from './protocol.ts';
import { BusPool, openBus, type Bus, type Transaction } from './bus.ts';
import type { Endpoint } from './transport.ts';

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

/**
 * A reading's qualityDetail: the code and the cause (`EDGE_ERR_MODBUS_CONNECT
 * connect ECONNREFUSED 127.0.0.1:1502`; for an exception reply its name,
 * `EDGE_ERR_MODBUS_EXCEPTION ILLEGAL_DATA_ADDRESS`).
 */
function detailOf(err: unknown): string {
  return formatQualityDetail(codeOf(err), failureCause(err));
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
      for (const p of req.points) out.set(p.resource, { resource: p.resource, value: null, valueType: p.valueType, origin, quality: 'bad', qualityDetail: detailOf(err) });
      return;
    }
    const origin = nowOrigin();
    for (const p of req.points) {
      try {
        const value = decode(p, slice(req, response, p));
        out.set(p.resource, { resource: p.resource, value, valueType: p.valueType, ...(p.units ? { units: p.units } : {}), origin, quality: 'good' });
      } catch (err) {
        out.set(p.resource, { resource: p.resource, value: null, valueType: p.valueType, origin, quality: 'bad', qualityDetail: detailOf(err) });
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
    async discover(request, signal) {
      const { endpoint, unitIds, timeoutMs } = readDiscovery(request);
      // A bus of its own, with no breaker: every unit id gets its one question.
      const bus = openBus(endpoint, { logger: o.logger, breaker: { failures: Number.MAX_SAFE_INTEGER, openMs: 1, maxOpenMs: 1 } });
      const found: DiscoveredDevice[] = [];
      try {
        for (const unitId of unitIds) {
          if (signal?.aborted || (request.limit !== undefined && found.length >= request.limit)) break;
          let answered: string | undefined;
          try {
            await bus.execute({ unitId, fn: 'readHoldingRegisters', address: 0, count: 1, timeoutMs, ...(signal ? { signal } : {}) });
            answered = 'holding register 0 readable';
          } catch (err) {
            // An exception reply is an answer: the unit is there, register 0 is not.
            if (codeOf(err) === 'EDGE_ERR_MODBUS_EXCEPTION') answered = `answered with ${messageOf(err)}`;
          }
          if (answered === undefined) continue;
          const host = endpoint.kind === 'rtu' ? endpoint.path.replace(/[^a-z0-9]+/gi, '-') : endpoint.host.replace(/[^a-z0-9]+/gi, '-');
          found.push({
            name: `modbus-${host}-unit-${unitId}`.toLowerCase().replace(/-+/g, '-'),
            protocolName: `modbus-${endpoint.kind}`,
            protocol: endpoint.kind === 'rtu' ? { Address: endpoint.path, BaudRate: String(endpoint.baudRate), UnitID: String(unitId) } : { Address: endpoint.host, Port: String(endpoint.port), UnitID: String(unitId) },
            description: `unit ${unitId} at ${request.target}: ${answered}`,
          });
        }
      } finally {
        await bus.close();
      }
      return found;
    },
    async close() {
      await pool.close();
    },
  };
}

/**
 * What to scan: `host:port` (Modbus TCP; `rtu-over-tcp://host:port` for a
 * serial gateway), options `unitIds` as `1-10,17` (default 1-16) and
 * `timeoutMs` per unit (default 300).
 */
function readDiscovery(request: DiscoveryRequest): { endpoint: Endpoint; unitIds: number[]; timeoutMs: number } {
  const m = /^(?:(tcp|rtu-over-tcp):\/\/)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(request.target.trim());
  if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535) throw new ErrDiscovery({ field: 'target', reason: `'${request.target}' is not host:port (or rtu-over-tcp://host:port)` });
  const host = m[2]!.replace(/^\[|\]$/g, '');
  const endpoint: Endpoint = m[1] === 'rtu-over-tcp' ? { kind: 'rtu-over-tcp', host, port: Number(m[3]) } : { kind: 'tcp', host, port: Number(m[3]) };
  const rawIds = request.options?.unitIds ?? '1-16';
  if (typeof rawIds !== 'string' && typeof rawIds !== 'number') throw new ErrDiscovery({ field: 'options.unitIds', reason: 'must be a list like 1-10,17' });
  const spec = String(rawIds);
  const unitIds: number[] = [];
  for (const part of spec.split(',')) {
    const r = /^\s*(\d{1,3})\s*(?:-\s*(\d{1,3})\s*)?$/.exec(part);
    const from = Number(r?.[1]);
    const to = Number(r?.[2] ?? r?.[1]);
    if (!r || from > to || to > 247) throw new ErrDiscovery({ field: 'options.unitIds', reason: `'${spec}' must list unit ids 0-247, e.g. 1-10,17` });
    for (let u = from; u <= to; u++) unitIds.push(u);
  }
  const timeoutMs = Number(request.options?.timeoutMs ?? 300);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 10 || timeoutMs > 10_000) throw new ErrDiscovery({ field: 'options.timeoutMs', reason: 'must be an integer from 10 to 10000' });
  return { endpoint, unitIds: [...new Set(unitIds)], timeoutMs };
}
