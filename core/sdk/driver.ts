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
  protocol: Record<string, unknown>;
  /** A suggested profile name, or a generated profile. */
  profile?: string | Record<string, unknown>;
  description?: string;
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
  discover?(request: DiscoveryRequest, signal?: AbortSignal): Promise<DiscoveredDevice[]>;
  /**
   * For drivers whose devices talk to the site broker: the topic filters a
   * device itself publishes to and subscribes to. A broker login bound to the
   * device (BrokerCredential `device`) gets exactly these; undefined when the
   * device is not valid for this driver.
   */
  brokerTopics?(device: DriverDevice): { publish: string[]; subscribe: string[] } | undefined;
  /** Closes every connection and shared transport of this driver. */
  close(): Promise<void>;
}
