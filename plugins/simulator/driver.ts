/**
 * The simulator driver: devices whose resources follow a function of time
 * (`sine`, `ramp`, `random`, `constant`) or hold what was written
 * (`setpoint`). Resource attributes choose the function:
 *
 *   attributes: { function: sine, amplitude: 5, periodS: 60, offset: 20 }
 *   attributes: { function: setpoint, initial: 21.5 }
 *
 * Device protocol block: `protocols: { simulator: { seed: "7" } }`; the seed
 * makes `random` repeatable. The block is read through its schema
 * (protocol-schema.ts), as the hub checks it.
 */
import type {
  DeviceConnection,
  DeviceDriver,
  DriverDevice,
  DriverIssue,
  DriverResource,
  ReadingValue,
  Sample,
  ValueType,
  WriteRequest,
  WriteResult,
} from '../../core/sdk/index.ts';
import { INTEGER_RANGES, normalizeProtocolBlock, NUMERIC_VALUE_TYPES, nowOrigin, protocolBlockIssues, seededRandom } from '../../core/sdk/index.ts';
import { SIMULATOR_PROTOCOL, SIMULATOR_PROTOCOL_SCHEMA } from './protocol-schema.ts';

export const FUNCTIONS = ['sine', 'ramp', 'random', 'constant', 'setpoint'] as const;
type Fn = (typeof FUNCTIONS)[number];


function num(v: unknown, fallback: number): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return fallback;
}

/** Coerces a number to the resource's valueType; undefined when it cannot be represented. */
function coerce(value: ReadingValue, type: ValueType): ReadingValue | undefined {
  if (type === 'Bool') return typeof value === 'boolean' ? value : typeof value === 'number' ? value !== 0 : undefined;
  if (type === 'String') return typeof value === 'string' ? value : JSON.stringify(value);
  if (!NUMERIC_VALUE_TYPES.has(type)) return undefined;
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : typeof value === 'boolean' ? Number(value) : NaN;
  if (!Number.isFinite(n)) return undefined;
  const range = INTEGER_RANGES[type];
  if (!range) return type === 'Float32' ? Math.fround(n) : n;
  const i = Math.round(n);
  return i < range[0] || i > range[1] ? undefined : i;
}

class SimulatedDevice implements DeviceConnection {
  readonly #device: DriverDevice;
  readonly #resources: Map<string, DriverResource>;
  readonly #held = new Map<string, ReadingValue>();
  readonly #ramps = new Map<string, number>();
  readonly #random: () => number;
  #closed = false;

  constructor(device: DriverDevice) {
    this.#device = device;
    this.#resources = new Map(device.resources.map((r) => [r.name, r]));
    this.#random = seededRandom(num((normalizeProtocolBlock(SIMULATOR_PROTOCOL_SCHEMA, device.protocol) as { seed?: unknown }).seed, 1));
    for (const r of device.resources) {
      if (r.attributes.function === 'setpoint') this.#held.set(r.name, coerce(num(r.attributes.initial, 0), r.valueType) ?? 0);
    }
  }

  #value(r: DriverResource, origin: number): ReadingValue {
    const a = r.attributes;
    const fn = (a.function ?? 'sine') as Fn;
    const t = origin / 1e9;
    switch (fn) {
      case 'sine':
        return num(a.offset, 0) + num(a.amplitude, 1) * Math.sin((2 * Math.PI * t) / num(a.periodS, 60)) + (this.#random() - 0.5) * num(a.noise, 0);
      case 'ramp': {
        const next = (this.#ramps.get(r.name) ?? num(a.start, 0)) + num(a.step, 1);
        const max = num(a.max, Number.MAX_SAFE_INTEGER);
        const wrapped = next > max ? num(a.start, 0) : next;
        this.#ramps.set(r.name, wrapped);
        return wrapped;
      }
      case 'random':
        return num(a.min, 0) + this.#random() * (num(a.max, 1) - num(a.min, 0));
      case 'constant':
        return (a.value as ReadingValue) ?? 0;
      case 'setpoint':
        return this.#held.get(r.name) ?? 0;
    }
  }

  read(names: readonly string[]): Promise<Sample[]> {
    const origin = nowOrigin();
    return Promise.resolve(
      names.map((name): Sample => {
        const r = this.#resources.get(name);
        if (!r) return { resource: name, value: null, valueType: 'String', origin, quality: 'bad', qualityDetail: 'SIM_UNKNOWN_RESOURCE' };
        if (this.#closed) return { resource: name, value: null, valueType: r.valueType, origin, quality: 'bad', qualityDetail: 'SIM_CLOSED' };
        const v = coerce(this.#value(r, origin), r.valueType);
        return v === undefined
          ? { resource: name, value: null, valueType: r.valueType, origin, quality: 'bad', qualityDetail: 'SIM_OUT_OF_RANGE' }
          : { resource: name, value: v, valueType: r.valueType, ...(r.units ? { units: r.units } : {}), origin, quality: 'good' };
      }),
    );
  }

  write(requests: readonly WriteRequest[]): Promise<WriteResult[]> {
    return Promise.resolve(
      requests.map((req): WriteResult => {
        const r = this.#resources.get(req.resource);
        if (!r) return { resource: req.resource, ok: false, error: { code: 'EDGE_ERR_SIM_UNKNOWN_RESOURCE', message: `device '${this.#device.name}' has no resource '${req.resource}'` } };
        if (!r.readWrite.includes('W') || r.attributes.function !== 'setpoint') {
          return { resource: req.resource, ok: false, error: { code: 'EDGE_ERR_SIM_READ_ONLY', message: `resource '${req.resource}' of '${this.#device.name}' is not writable` } };
        }
        const v = coerce(req.value, r.valueType);
        if (v === undefined) {
          return { resource: req.resource, ok: false, error: { code: 'EDGE_ERR_SIM_VALUE', message: `value ${JSON.stringify(req.value)} does not fit ${r.valueType}` } };
        }
        const min = r.properties.minimum;
        const max = r.properties.maximum;
        if (typeof v === 'number' && ((min !== undefined && v < num(min, -Infinity)) || (max !== undefined && v > num(max, Infinity)))) {
          return { resource: req.resource, ok: false, error: { code: 'EDGE_ERR_SIM_RANGE', message: `value ${v} is outside [${String(min)}, ${String(max)}] of '${req.resource}'` } };
        }
        this.#held.set(r.name, v);
        return { resource: req.resource, ok: true };
      }),
    );
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

export function createSimulatorDriver(): DeviceDriver {
  const open = new Set<SimulatedDevice>();
  return {
    protocols: [SIMULATOR_PROTOCOL],
    validate(device) {
      const at = `protocols.${device.protocolName ?? SIMULATOR_PROTOCOL}`;
      const issues: DriverIssue[] = protocolBlockIssues(SIMULATOR_PROTOCOL_SCHEMA, device.protocol, at).map((i) => ({ ...i, code: 'EDGE_ERR_SIM_PROTOCOL' }));
      device.resources.forEach((r, i) => {
        const fn = r.attributes.function ?? 'sine';
        if (typeof fn !== 'string' || !(FUNCTIONS as readonly string[]).includes(fn)) {
          issues.push({ path: `deviceResources[${i}].attributes.function`, code: 'EDGE_ERR_SIM_FUNCTION', message: `${JSON.stringify(fn)} is not one of ${FUNCTIONS.join(', ')}` });
        }
        if (fn === 'setpoint' && !r.readWrite.includes('W')) {
          issues.push({ path: `deviceResources[${i}].properties.readWrite`, code: 'EDGE_ERR_SIM_FUNCTION', message: 'a setpoint resource must be writable (RW)' });
        }
      });
      return issues;
    },
    connect(device) {
      const d = new SimulatedDevice(device);
      open.add(d);
      return Promise.resolve(d);
    },
    async close() {
      for (const d of open) await d.close();
      open.clear();
    },
  };
}
