/**
 * One reading of a Modbus block: for every sample the schemas the hub checks
 * Device writes with (protocol-schema.ts) and the driver's validate refuse
 * the same fields, at the same paths, and pass the same blocks.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { parseWithSchema, protocolBlockIssues } from '../../../core/sdk/index.ts';
import { quiet as logger } from '../../../test/support/hub-fixture.ts';
import { createModbusDriver } from './driver.ts';
import { MODBUS_INTEGER_FIELDS, MODBUS_PROTOCOL_SCHEMAS, type ModbusProtocol } from './protocol-schema.ts';

const SAMPLES: readonly [ModbusProtocol, Record<string, unknown>][] = [
  ['modbus-tcp', { Address: '10.0.0.5' }],
  ['modbus-tcp', { Address: '10.0.0.5', Port: '502', UnitID: '1', Timeout: '5', IdleTimeout: '5' }],
  ['modbus-tcp', { address: 'plc.local', port: 1502, unitid: 0, timeout: 600 }],
  ['modbus-tcp', { Address: '10.0.0.5', Port: '', UnitID: ' 7 ' }],
  ['modbus-tcp', { Address: '10.0.0.5', Port: '70000' }],
  ['modbus-tcp', { Address: '10.0.0.5', Port: 70000 }],
  ['modbus-tcp', { Address: '10.0.0.5', Port: 'abc' }],
  ['modbus-tcp', { Address: '10.0.0.5', Port: '1.5' }],
  ['modbus-tcp', { Address: '10.0.0.5', Port: 0, UnitID: '256', Timeout: '0' }],
  ['modbus-tcp', { Address: '10.0.0.5', Port: true, Timeout: 1.5 }],
  ['modbus-tcp', {}],
  ['modbus-tcp', { Address: '  ' }],
  ['modbus-tcp', { Address: 5 }],
  ['modbus-rtu-over-tcp', { Address: 'gw', Port: '4001', UnitID: '255' }],
  ['modbus-rtu-over-tcp', { Address: 'gw', Port: '-1' }],
  ['modbus-rtu', { Address: '/dev/ttyUSB0' }],
  ['modbus-rtu', { Address: '/dev/ttyUSB0', BaudRate: '19200', DataBits: '8', StopBits: '1', Parity: 'N', UnitID: '1', Timeout: '5' }],
  ['modbus-rtu', { address: '/dev/ttyS1', baudrate: 9600, parity: ' even ', stopbits: 2, databits: 7 }],
  ['modbus-rtu', { Address: '/dev/ttyS1', Parity: 'o' }],
  ['modbus-rtu', { Address: '/dev/ttyS1', Parity: '' }],
  ['modbus-rtu', { Address: '/dev/ttyS1', Parity: 'X', DataBits: '9', StopBits: '3', BaudRate: '100' }],
  ['modbus-rtu', { Address: '/dev/ttyS1', Parity: 1 }],
  ['modbus-rtu', { Parity: 'N' }],
];

describe('Modbus protocol schemas', () => {
  const driver = createModbusDriver({ logger });
  afterAll(() => driver.close());

  it.each(SAMPLES)('%s %j: the schema refuses what the driver refuses, at the same paths', (protocol, block) => {
    const driverPaths = driver.validate!({ site: 's', name: 'd', profile: 'p', protocolName: protocol, protocol: block, resources: [] }).map((i) => i.path);
    const schemaPaths = protocolBlockIssues(MODBUS_PROTOCOL_SCHEMAS[protocol], block, `protocols.${protocol}`).map((i) => i.path);
    expect([...new Set(schemaPaths)].sort()).toEqual([...new Set(driverPaths)].sort());
  });

  it('declares the bounds and defaults the driver reads with', () => {
    const tcp = MODBUS_PROTOCOL_SCHEMAS['modbus-tcp'] as unknown as { properties: Record<string, { default?: unknown; minimum?: unknown; maximum?: unknown }> };
    for (const name of ['Port', 'UnitID', 'Timeout'] as const) expect(tcp.properties[name]).toMatchObject(MODBUS_INTEGER_FIELDS[name]);
    // The defaults the schema declares are a valid block's values.
    expect(parseWithSchema(MODBUS_PROTOCOL_SCHEMAS['modbus-rtu'], { Address: '/dev/ttyUSB0' })).toEqual({ ok: true, value: { Address: '/dev/ttyUSB0', BaudRate: 19200, DataBits: 8, StopBits: 1, Parity: 'N', UnitID: 1, Timeout: 5 } });
    const counts = SAMPLES.map(([protocol, block]) => protocolBlockIssues(MODBUS_PROTOCOL_SCHEMAS[protocol], block, 'p').length);
    expect(counts.filter((n) => n === 0).length).toBeGreaterThan(5);
    expect(counts.filter((n) => n >= 3).length).toBeGreaterThan(1);
  });
});
