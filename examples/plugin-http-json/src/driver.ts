/**
 * The http-json device driver (protocol `http-json`): a device is a URL that
 * answers GET with a JSON document; each resource's value sits at a JSON
 * Pointer in it. A read is one GET for all the resources asked for; a write
 * PUTs the smallest document holding the value at the resource's pointer.
 * Nothing throws out of `read`: a value that cannot be had is a `bad` sample
 * whose detail names the reason. See README.md for the device and profile
 * fields.
 */
import {
  formatQualityDetail,
  nowOrigin,
  readingValueProblem,
  type DeviceConnection,
  type DeviceDriver,
  type DiscoveredDevice,
  type DiscoverySkip,
  type DriverDevice,
  type Sample,
  type ValueType,
  type WriteRequest,
  type WriteResult,
} from 'edgeadm/sdk';
import { readDevice, PROTOCOL, type Target } from './device.ts';
import { ErrClosed, ErrDeviceInvalid, ErrDiscovery, ErrNoValue, ErrReadOnly, ErrUnknownResource, ErrValue } from './errors.ts';
import { getJson, putJson } from './http.ts';
import { resolvePointer, documentWith } from './pointer.ts';

export interface HttpJsonDriverOptions {
  /** Request timeout of devices that name none. */
  timeoutMs: number;
  /** Largest answer read from a device. */
  maxResponseBytes: number;
}

/** The options a driver has unless the plugin's config says otherwise. */
export const DEFAULT_OPTIONS: Readonly<HttpJsonDriverOptions> = { timeoutMs: 5_000, maxResponseBytes: 1024 * 1024 };

/** The part of an error a sample's qualityDetail or a write result carries. */
function codeAndMessage(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown };
  return { code: typeof e.code === 'string' ? e.code : 'EDGE_ERR_HTTP_JSON', message: typeof e.message === 'string' ? e.message : String(err) };
}

/** A bad sample's qualityDetail: the error's code, then its message. */
function detail(err: unknown): string {
  const { code, message } = codeAndMessage(err);
  return formatQualityDetail(code, message);
}

class HttpJsonConnection implements DeviceConnection {
  readonly #device: DriverDevice;
  readonly #target: Target;
  readonly #maxBytes: number;
  readonly #closed = new AbortController();
  readonly #onClose: () => void;

  constructor(device: DriverDevice, target: Target, maxBytes: number, onClose: () => void) {
    this.#device = device;
    this.#target = target;
    this.#maxBytes = maxBytes;
    this.#onClose = onClose;
  }

  #options(signal: AbortSignal | undefined) {
    return { timeoutMs: this.#target.timeoutMs, maxBytes: this.#maxBytes, signal: signal ? AbortSignal.any([signal, this.#closed.signal]) : this.#closed.signal };
  }

  async read(resources: readonly string[], signal?: AbortSignal): Promise<Sample[]> {
    const bad = (resource: string, valueType: ValueType, err: unknown): Sample => ({ resource, value: null, valueType, origin: nowOrigin(), quality: 'bad', qualityDetail: detail(err) });
    let doc: unknown;
    try {
      if (this.#closed.signal.aborted) throw new ErrClosed({ device: this.#device.name });
      doc = await getJson(this.#target.url, this.#options(signal));
    } catch (err) {
      return resources.map((r) => bad(r, this.#target.points.get(r)?.resource.valueType ?? 'String', err));
    }
    const origin = nowOrigin();
    return resources.map((name): Sample => {
      const point = this.#target.points.get(name);
      if (!point) return bad(name, 'String', new ErrUnknownResource({ device: this.#device.name, resource: name }));
      const { valueType, units } = point.resource;
      const found = resolvePointer(doc, point.tokens);
      if (!found.found) return bad(name, valueType, new ErrNoValue({ resource: name, pointer: point.pointer }));
      const problem = readingValueProblem(valueType, found.value);
      if (problem !== undefined) return bad(name, valueType, new ErrValue({ resource: name, problem }));
      return { resource: name, value: found.value as Sample['value'], valueType, ...(units ? { units } : {}), origin, quality: 'good' };
    });
  }

  async write(requests: readonly WriteRequest[], signal?: AbortSignal): Promise<WriteResult[]> {
    const results: WriteResult[] = [];
    for (const req of requests) {
      try {
        const point = this.#target.points.get(req.resource);
        if (!point) throw new ErrUnknownResource({ device: this.#device.name, resource: req.resource });
        const { resource } = point;
        if (resource.readWrite === 'R') throw new ErrReadOnly({ device: this.#device.name, resource: req.resource });
        const problem = readingValueProblem(resource.valueType, req.value);
        if (problem !== undefined) throw new ErrValue({ resource: req.resource, problem });
        const min = typeof resource.properties.minimum === 'number' ? resource.properties.minimum : -Infinity;
        const max = typeof resource.properties.maximum === 'number' ? resource.properties.maximum : Infinity;
        if (typeof req.value === 'number' && (req.value < min || req.value > max)) {
          throw new ErrValue({ resource: req.resource, problem: `${req.value} is outside ${min}..${max}` });
        }
        if (this.#closed.signal.aborted) throw new ErrClosed({ device: this.#device.name });
        await putJson(this.#target.url, documentWith(point.tokens, req.value), this.#options(signal));
        results.push({ resource: req.resource, ok: true });
      } catch (err) {
        results.push({ resource: req.resource, ok: false, error: codeAndMessage(err) });
      }
    }
    return results;
  }

  /** Aborts requests in flight; later calls answer EDGE_ERR_HTTP_JSON_CLOSED. */
  close(): Promise<void> {
    this.#closed.abort();
    this.#onClose();
    return Promise.resolve();
  }
}

/** JSON values as a profile's valueTypes: numbers as Int64 when whole, else Float64. */
function valueTypeOf(v: unknown): ValueType | undefined {
  if (typeof v === 'boolean') return 'Bool';
  if (typeof v === 'string') return 'String';
  if (typeof v === 'number') return Number.isSafeInteger(v) ? 'Int64' : 'Float64';
  return undefined;
}

interface Leaves {
  /** Each scalar's pointer, and its name in the profile: the tokens joined with '.'. */
  values: { pointer: string; name: string; valueType: ValueType }[];
  /** Nulls: no valueType to give them. */
  skipped: DiscoverySkip[];
  truncated: boolean;
}

/** Every scalar in the document with its pointer, breadth first, at most `limit`. */
function leaves(doc: unknown, limit: number): Leaves {
  const out: Leaves = { values: [], skipped: [], truncated: false };
  const queue: { at: unknown; tokens: string[] }[] = [{ at: doc, tokens: [] }];
  for (let next = queue.shift(); next; next = queue.shift()) {
    const { at, tokens } = next;
    const pointer = tokens.map((t) => `/${t.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
    const valueType = valueTypeOf(at);
    if (valueType && out.values.length >= limit) out.truncated = true;
    else if (valueType) out.values.push({ pointer, name: tokens.join('.').replace(/[^A-Za-z0-9_.-]+/g, '.') || 'value', valueType });
    else if (at === null) out.skipped.push({ path: pointer, id: pointer, reason: 'null has no valueType' });
    else if (typeof at === 'object') for (const [k, v] of Object.entries(at)) queue.push({ at: v, tokens: [...tokens, k] });
  }
  return out;
}

export function createHttpJsonDriver(o: HttpJsonDriverOptions): DeviceDriver {
  const open = new Set<HttpJsonConnection>();
  return {
    protocols: [PROTOCOL],
    validate(device) {
      return readDevice(device, o).issues;
    },
    connect(device) {
      const { target, issues } = readDevice(device, o);
      if (!target) return Promise.reject(new ErrDeviceInvalid({ device: device.name, issues }));
      const conn: HttpJsonConnection = new HttpJsonConnection(device, target, o.maxResponseBytes, () => open.delete(conn));
      open.add(conn);
      return Promise.resolve(conn);
    },
    /**
     * `target` is a device URL: one GET, and a proposed Device with a profile
     * holding a read-only resource per scalar of the answer (at most
     * `options.maxResources`, default 100).
     */
    async discover(request, signal): Promise<DiscoveredDevice[]> {
      const max = request.options?.maxResources ?? 100;
      if (!URL.canParse(request.target) || !/^https?:$/.test(new URL(request.target).protocol)) {
        throw new ErrDiscovery({ field: 'target', reason: `must be an http:// or https:// URL, got ${JSON.stringify(request.target)}` });
      }
      if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > 1000) {
        throw new ErrDiscovery({ field: 'options.maxResources', reason: `must be an integer from 1 to 1000, got ${JSON.stringify(max)}` });
      }
      const doc = await getJson(request.target, { timeoutMs: o.timeoutMs, maxBytes: o.maxResponseBytes, signal });
      const { values, skipped, truncated } = leaves(doc, max);
      const names = new Set<string>();
      const deviceResources = values.map(({ pointer, name: base, valueType }) => {
        let name = base;
        for (let n = 2; names.has(name); n++) name = `${base}-${n}`;
        names.add(name);
        return { name, attributes: { pointer }, properties: { valueType, readWrite: 'R' } };
      });
      const host = new URL(request.target).host.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
      return [
        {
          name: `http-${host}`,
          protocolName: PROTOCOL,
          protocol: { url: request.target },
          profile: { deviceResources },
          description: `${deviceResources.length} values at ${request.target}`,
          ...(skipped.length > 0 ? { skipped } : {}),
          ...(truncated ? { truncated } : {}),
        },
      ];
    },
    async close() {
      for (const conn of open) await conn.close();
      open.clear();
    },
  };
}
