/**
 * The `edgex` protocol's driver and the service names: what a Device's
 * protocol block may hold, the table of connected EdgeX devices (one Device
 * per EdgeX name), reads and writes that say why they cannot, and which
 * device service a reading is published as.
 */
import { describe, expect, it } from 'vitest';
import type { DriverDevice, Sample } from '../../../core/sdk/index.ts';
import { defaultServiceName, serviceNamer, type EdgeXConfig } from './config.ts';
import { createEdgeXDriver, EdgeXDeviceTable, protocolIssues } from './devices.ts';

const device = (name: string, protocol: Record<string, unknown> = {}): DriverDevice => ({
  site: 'plant-a',
  name,
  profile: 'boiler',
  protocolName: 'edgex',
  protocol,
  resources: [{ name: 'temperature', valueType: 'Float32', readWrite: 'R', attributes: {}, properties: {} }],
});

describe('the edgex protocol', () => {
  it('takes deviceName and serviceName, non-empty strings, and nothing else', () => {
    expect(protocolIssues(device('b', { deviceName: 'Boiler 1', serviceName: 'device-virtual' }))).toEqual([]);
    expect(protocolIssues(device('b', { deviceName: '', serviceName: 3, Address: '10.0.0.5' }))).toEqual([
      { path: 'protocols.edgex.deviceName', code: 'EDGE_ERR_EDGEX_BUS_PROTOCOL', message: 'must be a non-empty string' },
      { path: 'protocols.edgex.serviceName', code: 'EDGE_ERR_EDGEX_BUS_PROTOCOL', message: 'must be a non-empty string' },
      { path: 'protocols.edgex.Address', code: 'EDGE_ERR_EDGEX_BUS_PROTOCOL', message: 'is not a field of the edgex block (deviceName, serviceName)' },
    ]);
  });

  it('keeps connected devices by EdgeX name, refuses a second Device for one EdgeX device, and forgets closed ones', async () => {
    const table = new EdgeXDeviceTable();
    const driver = createEdgeXDriver(table);
    await expect(driver.connect(device('bad', { port: 1 }))).rejects.toMatchObject({ code: 'EDGE_ERR_EDGEX_BUS_DEVICE', message: expect.stringMatching(/protocols\.edgex\.port/) });
    const a = await driver.connect(device('boiler-1', { deviceName: 'Boiler 1', serviceName: 'device-virtual' }));
    expect(table.byEdgeXName('Boiler 1')).toMatchObject({ edgexName: 'Boiler 1', serviceName: 'device-virtual', device: { name: 'boiler-1' } });
    expect(table.has('boiler-1')).toBe(true);
    await expect(driver.connect(device('boiler-copy', { deviceName: 'Boiler 1' }))).rejects.toMatchObject({
      code: 'EDGE_ERR_EDGEX_BUS_DUPLICATE',
      message: "device 'boiler-copy': EdgeX device 'Boiler 1' is already device 'boiler-1' at this site",
    });
    const got: Sample[] = [];
    const sub = await a.subscribe!(['temperature'], { mode: 'onChange' }, (s) => void got.push(...s));
    table.byEdgeXName('Boiler 1')!.sink!([{ resource: 'temperature', value: 1, valueType: 'Float32', origin: 1, quality: 'good' }]);
    expect(got).toHaveLength(1);
    await sub.close();
    expect(table.byEdgeXName('Boiler 1')!.sink).toBeUndefined();
    const [read] = await a.read(['temperature']);
    expect(read).toMatchObject({ resource: 'temperature', value: null, valueType: 'Float32', quality: 'bad', qualityDetail: expect.stringMatching(/^EDGE_ERR_EDGEX_BUS_NO_READ values arrive as events/) });
    expect(await a.write([{ resource: 'temperature', value: 2 }])).toEqual([
      { resource: 'temperature', ok: false, error: { code: 'EDGE_ERR_EDGEX_BUS_NO_WRITE', message: expect.stringMatching(/writing 'temperature' through EdgeX's command bus is not available yet/) } },
    ]);
    await a.close();
    expect(table.byEdgeXName('Boiler 1')).toBeUndefined();
    expect(table.has('boiler-1')).toBe(false);
    // Its EdgeX name is free again; a Device without deviceName is known by its own name.
    await driver.connect(device('boiler-copy', { deviceName: 'Boiler 1' }));
    await driver.connect(device('boiler-2'));
    expect(table.byEdgeXName('boiler-2')?.device.name).toBe('boiler-2');
  });
});

describe('service names', () => {
  const config = (serviceName: EdgeXConfig['serviceName']): EdgeXConfig => ({ serviceName }) as EdgeXConfig;

  it('are the device’s, else the profile’s, else the default, else edgeadm-<site>', () => {
    const names = serviceNamer(config({ profiles: { meter: 'device-modbus' }, devices: { 'plug-1': 'device-mqtt' } }), 'plant-a');
    expect(names.of({ device: 'plug-1', profile: 'meter' })).toBe('device-mqtt');
    expect(names.of({ device: 'meter-1', profile: 'meter' })).toBe('device-modbus');
    expect(names.of({ device: 'sim-1', profile: 'sim' })).toBe('edgeadm-plant-a');
    expect([...names.all].sort()).toEqual(['device-modbus', 'device-mqtt', 'edgeadm-plant-a']);
    expect(serviceNamer(config({ default: 'edgeadm', profiles: {}, devices: {} }), 'plant-a').of({ device: 'x', profile: 'y' })).toBe('edgeadm');
    expect(defaultServiceName('plant-b')).toBe('edgeadm-plant-b');
  });
});
