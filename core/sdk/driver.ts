/**
 * The one contract every device plugin implements. A driver speaks one
 * protocol; `connect` gives a connection per device. Shared transports (a
 * serial bus, an OPC UA session, a broker connection) are reference-counted
 * inside the driver and used by many device connections.
 *
 * Polling is the platform's job: it calls `read` on each autoEvent interval.
 * A driver whose protocol pushes values (OPC UA subscriptions, MQTT) also
 * implements `subscribe`.
 */
import type { ReadingValue, Sample, ValueType } from './reading.ts';

/** A device resource as a driver needs it: name, type and its protocol attributes (from the profile). */
export interface DriverResource {
  name: string;
  valueType: ValueType;
  readWrite: 'R' | 'W' | 'RW';
  units?: string;
  /** Protocol addressing, e.g. `{ primaryTable: 'HOLDING_REGISTERS', startingAddress: 10 }` or `{ nodeId: 'ns=2;s=Temp' }`. */
  attributes: Readonly<Record<string, unknown>>;
  /** Transform and range properties: scale, offset, base, mask, shift, minimum, maximum. */
  properties: Readonly<Record<string, unknown>>;
}

/** A deviceCommand of the device's profile as a driver needs it: its name, readWrite and the resources it reads or writes, in order. */
export interface DriverCommand {
  name: string;
  readWrite: 'R' | 'W' | 'RW';
  resources: readonly string[];
}

/** A device as handed to its driver. */
export interface DriverDevice {
  site: string;
  name: string;
  profile: string;
  /** Which of the driver's protocols the block is for (the key in the Device's `protocols`), e.g. `modbus-rtu`. */
  protocolName?: string;
  /** The protocol block of the device, e.g. `{ address: '10.0.0.5', port: 502, unitId: 1 }`. */
  protocol: Readonly<Record<string, unknown>>;
  resources: readonly DriverResource[];
  /** The Device's metadata.annotations (e.g. `edgex.edgeadm.io/name`, the EdgeX name it was imported with); absent when it has none. */
  annotations?: Readonly<Record<string, string>>;
  /** The profile's deviceCommands, for drivers whose protocol names them (EdgeX device-mqtt's topics); absent when it has none. */
  commands?: readonly DriverCommand[];
}

export interface WriteRequest {
  resource: string;
  value: ReadingValue;
}

export interface WriteResult {
  resource: string;
  ok: boolean;
  /** Coded error when not ok. */
  error?: { code: string; message: string };
}

export interface SubscribeOptions {
  /** How values arrive: on every change, or sampled at an interval by the device/server. */
  mode: 'onChange' | 'interval';
  intervalMs?: number;
  /** Absolute deadband for onChange, where the protocol supports it. */
  deadband?: number;
}

/**
 * Where a subscription delivers samples. It returns once they are stored; it
 * throws EDGE_ERR_READINGS_NOT_STORED when the site could not store them (a
 * full or failing disk): a driver whose source can deliver them again (an
 * MQTT QoS 1 publish) must then withhold the acknowledgement.
 */
export type SampleSink = (samples: readonly Sample[]) => void;

export interface Subscription {
  close(): Promise<void>;
}

export interface DeviceConnection {
  /** Reads the named resources; a resource that cannot be read comes back with quality `bad`, never as a throw. */
  read(resources: readonly string[], signal?: AbortSignal): Promise<Sample[]>;
  write(requests: readonly WriteRequest[], signal?: AbortSignal): Promise<WriteResult[]>;
  /** Push delivery for protocols that have it. */
  subscribe?(resources: readonly string[], options: SubscribeOptions, sink: SampleSink): Promise<Subscription>;
  close(): Promise<void>;
}

export interface DiscoveryRequest {
  /** Where to look, in the protocol's terms: an endpoint URL, a host:port, a unit-id range. */
  target: string;
  options?: Readonly<Record<string, unknown>>;
  limit?: number;
}

export interface DiscoveredDevice {
  name: string;
  /** Which of the driver's protocols `protocol` is for (the key in a Device's `protocols`); default the driver's first. */
  protocolName?: string;
  protocol: Record<string, unknown>;
  /** A suggested profile name, or a generated profile. */
  profile?: string | Record<string, unknown>;
  description?: string;
  /** What discovery saw but could not make part of the device, each with the reason: nothing is left out silently. */
  skipped?: DiscoverySkip[];
  /** True when a limit stopped discovery before it saw everything. */
  truncated?: boolean;
}

/** Something discovery left out: where (a browse path, an address), its id in the protocol's terms, and why. */
export interface DiscoverySkip {
  path: string;
  id: string;
  reason: string;
}

/** Problem found when validating a device or profile for this driver. */
export interface DriverIssue {
  /** Dotted path of the offending field, e.g. `deviceResources[3].attributes.startingAddress`. */
  path: string;
  code: string;
  message: string;
}

export interface DeviceDriver {
  /** Protocol name(s) in Device protocol blocks, e.g. `modbus-tcp`. */
  readonly protocols: readonly string[];
  /** Checks a device and its resources at onboarding, before any connection is made. */
  validate?(device: DriverDevice): DriverIssue[];
  connect(device: DriverDevice, signal?: AbortSignal): Promise<DeviceConnection>;
  /**
   * Finds devices at `request.target`. A bad request (target or option)
   * throws a coded error with statusCode 400 whose params name the `field`
   * (`target` or `options.<key>`) and the `reason`, so callers can point at
   * the argument they took it from.
   */
  discover?(request: DiscoveryRequest, signal?: AbortSignal): Promise<DiscoveredDevice[]>;
  /** Closes every connection and shared transport of this driver. */
  close(): Promise<void>;
}

/**
 * A capability of drivers whose devices talk to the site broker themselves
 * (MQTT): the site broker asks it which topics a device's own login may use.
 */
export interface BrokerTopicsProvider {
  /**
   * The topic filters a device itself publishes to and subscribes to. A
   * broker login bound to the device (BrokerCredential `device`) gets exactly
   * these; undefined when the device is not valid for this driver.
   */
  brokerTopics(device: DriverDevice): { publish: string[]; subscribe: string[] } | undefined;
}

/** True when the driver tells the site broker its devices' topics. */
export function providesBrokerTopics<D extends DeviceDriver>(driver: D): driver is D & BrokerTopicsProvider {
  return typeof (driver as Partial<BrokerTopicsProvider>).brokerTopics === 'function';
}
