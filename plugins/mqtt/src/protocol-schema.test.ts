/**
 * One reading of an MQTT block: for every sample the schema the hub checks
 * Device writes with (protocol-schema.ts) and the driver's reader
 * (protocol.ts) refuse the same fields, at the same paths, and pass the same
 * blocks; the rules between fields (which layout takes which field), which a
 * field's schema cannot say, are the driver's alone, and listed here.
 */
import { describe, expect, it } from 'vitest';
import { EDGEX_NAME_ANNOTATION, protocolBlockIssues } from '../../../core/sdk/index.ts';
import { readProtocol } from './protocol.ts';
import { MQTT_PROTOCOL_SCHEMA } from './protocol-schema.ts';

/** Made here (layout edgeadm by default) or imported from EdgeX (layout edgex by default). */
type Sample = [Record<string, unknown>, 'here' | 'imported'];

const SAMPLES: readonly Sample[] = [
  [{}, 'here'],
  [{ topic: 'plant/pumps/7', CommandTopic: 'plant/pumps/7/cmd', responseTopic: '/plant/pumps/7/resp', qos: '1', commandTimeout: '300ms', staleAfter: '1h' }, 'here'],
  [{ Topic: 'a', qos: 0, commandtimeout: 1000, brokerUrl: 'mqtts://broker.example:8883' }, 'here'],
  [{ layout: ' EdgeX ', CommandTopic: 'command/x', Qos: '1' }, 'here'],
  [{ CommandTopic: 'command/Sensor-1/#', incomingTopic: 'in/data/#', responseTopic: 'command/response/#', deviceName: 'Sensor-1' }, 'imported'],
  [{ CommandTopic: 'command/x', layout: 'edgeadm', topic: 'x' }, 'imported'],
  [{ layout: 'modbus' }, 'here'],
  [{ qos: '2', commandTimeout: '5', staleAfter: '0s' }, 'here'],
  [{ qos: 'one', commandTimeout: '11m', brokerUrl: 'http://broker' }, 'here'],
  [{ topic: 'a/+/b', CommandTopic: 'a//b', responseTopic: 'a/' }, 'here'],
  [{ topic: '#', CommandTopic: 5 }, 'here'],
  [{ CommandTopic: 'c/x', deviceName: 'a/b', incomingTopic: 'in/+' }, 'imported'],
  [{ CommandTopic: 'c/x', qos: true, brokerUrl: 7 }, 'imported'],
];

/** Blocks only the driver refuses: which layout takes which field. */
const BETWEEN_FIELDS: readonly [Record<string, unknown>, 'here' | 'imported', string][] = [
  [{}, 'imported', 'protocols.mqtt.CommandTopic'],
  [{ layout: 'edgex' }, 'here', 'protocols.mqtt.CommandTopic'],
  [{ CommandTopic: 'c/x', topic: 'x' }, 'imported', 'protocols.mqtt.topic'],
  [{ incomingTopic: 'in' }, 'here', 'protocols.mqtt.incomingTopic'],
  [{ deviceName: 'd' }, 'here', 'protocols.mqtt.deviceName'],
  [{ CommandTopic: 'c/#' }, 'here', 'protocols.mqtt.CommandTopic'],
];

const device = (block: Record<string, unknown>, origin: 'here' | 'imported') => ({
  site: 'plant-a',
  name: 'dev-1',
  protocol: block,
  ...(origin === 'imported' ? { annotations: { [EDGEX_NAME_ANNOTATION]: 'Dev-1' } } : {}),
});
const schemaPaths = (block: Record<string, unknown>): string[] => [...new Set(protocolBlockIssues(MQTT_PROTOCOL_SCHEMA, block, 'protocols.mqtt').map((i) => i.path))].sort();
const driverPaths = (block: Record<string, unknown>, origin: 'here' | 'imported'): string[] => [...new Set(readProtocol(device(block, origin)).issues.map((i) => i.path))].sort();

describe('the MQTT protocol schema', () => {
  it.each(SAMPLES)('%j (%s): the schema refuses what the driver refuses, at the same paths', (block, origin) => {
    expect(schemaPaths(block)).toEqual(driverPaths(block, origin));
  });

  it('has samples the driver takes and samples it refuses, some for several fields', () => {
    const counts = SAMPLES.map(([b, o]) => driverPaths(b, o).length);
    expect(counts.filter((n) => n === 0).length).toBeGreaterThan(3);
    expect(counts.filter((n) => n >= 3).length).toBeGreaterThan(1);
  });

  it.each(BETWEEN_FIELDS)('%j (%s): a rule between fields, the driver refuses it at %s', (block, origin, path) => {
    expect(driverPaths(block, origin)).toEqual([path]);
    expect(schemaPaths(block)).toEqual([]);
  });
});
