/**
 * The site's EdgeX devices: Devices whose protocol is `edgex`, served by an
 * EdgeX device service that publishes their events on the site broker.
 * The plugin registers a driver for the protocol, so the site's device
 * runtime hands it each such Device (name, profile, resources with their
 * valueTypes) and a sink for its readings: what EdgeX publishes for the
 * device goes into that sink, and from there to the outbox, the device's
 * status and its twin, like any driver's readings.
 *
 * The protocol block, all optional:
 *
 *   protocols:
 *     edgex:
 *       deviceName: Boiler 1        # its name in EdgeX, when it is not the Device's name
 *       serviceName: device-virtual # the only device service whose events it takes
 *
 * In mode `embedded`, reads and writes are not available (values come as
 * events): a read answers bad samples saying so, a write refuses. In mode
 * `bridge`, src/bridge/driver.ts sends reads and writes to EdgeX's
 * core-command instead.
 */
import {
  formatQualityDetail,
  nowOrigin,
  type DeviceConnection,
  type DeviceDriver,
  type DriverDevice,
  type DriverIssue,
  type DriverResource,
  type SampleSink,
} from '../../../core/sdk/index.ts';
import { ErrEdgeXBusDevice, ErrEdgeXBusDuplicate, ErrEdgeXBusNoRead, ErrEdgeXBusNoWrite, ISSUE } from './errors.ts';

export const EDGEX_PROTOCOL = 'edgex';
const FIELDS = ['deviceName', 'serviceName'] as const;

/** One connected EdgeX device. */
export interface EdgeXDevice {
  device: DriverDevice;
  /** Its name in EdgeX's events. */
  edgexName: string;
  /** The device service it takes events from; any when undefined. */
  serviceName?: string;
  resources: ReadonlyMap<string, DriverResource>;
  /** Where its readings go; undefined until the site subscribed. */
  sink?: SampleSink;
}

/** The EdgeX devices connected now, by their EdgeX name and by their Device name. */
export class EdgeXDeviceTable {
  readonly #byEdgeXName = new Map<string, EdgeXDevice>();
  readonly #names = new Set<string>();

  /** The device EdgeX calls `edgexName`. */
  byEdgeXName(edgexName: string): EdgeXDevice | undefined {
    return this.#byEdgeXName.get(edgexName);
  }

  /** True for a Device served by an EdgeX device service (its readings came from the bus). */
  has(deviceName: string): boolean {
    return this.#names.has(deviceName);
  }

  get size(): number {
    return this.#byEdgeXName.size;
  }

  add(entry: EdgeXDevice): void {
    const other = this.#byEdgeXName.get(entry.edgexName);
    if (other) throw new ErrEdgeXBusDuplicate({ device: entry.device.name, edgexName: entry.edgexName, other: other.device.name });
    this.#byEdgeXName.set(entry.edgexName, entry);
    this.#names.add(entry.device.name);
  }

  remove(entry: EdgeXDevice): void {
    if (this.#byEdgeXName.get(entry.edgexName) === entry) this.#byEdgeXName.delete(entry.edgexName);
    this.#names.delete(entry.device.name);
  }
}

/** Problems of a Device's `edgex` protocol block, each naming its field. */
export function protocolIssues(device: DriverDevice): DriverIssue[] {
  const issues: DriverIssue[] = [];
  for (const [key, value] of Object.entries(device.protocol)) {
    const path = `protocols.${EDGEX_PROTOCOL}.${key}`;
    if (!(FIELDS as readonly string[]).includes(key)) issues.push({ path, code: ISSUE.protocol, message: `is not a field of the edgex block (${FIELDS.join(', ')})` });
    else if (typeof value !== 'string' || value === '') issues.push({ path, code: ISSUE.protocol, message: 'must be a non-empty string' });
  }
  return issues;
}

/** The driver of protocol `edgex`: connecting a Device puts it in `table`. */
export function createEdgeXDriver(table: EdgeXDeviceTable): DeviceDriver {
  return {
    protocols: [EDGEX_PROTOCOL],
    validate: protocolIssues,
    connect(device): Promise<DeviceConnection> {
      const issues = protocolIssues(device);
      if (issues.length > 0) return Promise.reject(new ErrEdgeXBusDevice({ device: device.name, issues }));
      const p = device.protocol as { deviceName?: string; serviceName?: string };
      const entry: EdgeXDevice = {
        device,
        edgexName: p.deviceName ?? device.name,
        ...(p.serviceName === undefined ? {} : { serviceName: p.serviceName }),
        resources: new Map(device.resources.map((r) => [r.name, r])),
      };
      try {
        table.add(entry);
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      const noRead = formatQualityDetail(ErrEdgeXBusNoRead.code, 'values arrive as events from its EdgeX device service');
      return Promise.resolve({
        read: (resources) =>
          Promise.resolve(
            resources.map((name) => ({
              resource: name,
              value: null,
              valueType: entry.resources.get(name)?.valueType ?? 'String',
              origin: nowOrigin(),
              quality: 'bad' as const,
              qualityDetail: noRead,
            })),
          ),
        write: (requests) =>
          Promise.resolve(
            requests.map((w) => {
              const err = new ErrEdgeXBusNoWrite({ device: device.name, resource: w.resource });
              return { resource: w.resource, ok: false, error: { code: err.code, message: err.message } };
            }),
          ),
        subscribe(_resources, _options, sink) {
          entry.sink = sink;
          return Promise.resolve({
            close() {
              if (entry.sink === sink) delete entry.sink;
              return Promise.resolve();
            },
          });
        },
        close() {
          table.remove(entry);
          return Promise.resolve();
        },
      });
    },
    close: () => Promise.resolve(),
  };
}
