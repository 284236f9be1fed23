/**
 * For tests of the site broker and the MQTT plugin: a connected mqtt.js
 * client closed after the test, one metric's value, and a meter Device as the
 * MQTT driver sees it.
 */
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import type { Registry } from 'prom-client';
import type { DriverDevice } from '../../core/sdk/index.ts';

/** Options every test client starts from: MQTT 3.1.1, no reconnecting, a 5 s CONNACK wait. */
export const TEST_CLIENT_OPTIONS: IClientOptions = { reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5000 };

/** A connected mqtt.js client, ended (forced) by `defer` after the test. */
export async function testClient(url: string, opts: IClientOptions, defer: (fn: () => unknown) => void): Promise<MqttClient> {
  const c = await connectAsync(url, { ...TEST_CLIENT_OPTIONS, ...opts });
  defer(() => c.endAsync(true));
  return c;
}

/** The value of the sample `line` (name with its labels, as exposed) in `registry`; 0 when it is not there. */
export async function metricValue(registry: Registry, line: string): Promise<number> {
  const found = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

/** Device `m-1` of `site`: a meter publishing its power as a plain number, QoS 1, on `devices/m-1/power`. */
export function mqttMeter(site: string): DriverDevice {
  return {
    site,
    name: 'm-1',
    profile: 'meter',
    protocolName: 'mqtt',
    protocol: { topic: 'devices/m-1', qos: 1 },
    resources: [{ name: 'power', valueType: 'Float64', readWrite: 'R', attributes: { topic: 'power', payload: 'number' }, properties: {} }],
  };
}
