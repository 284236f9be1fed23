import { describe, expect, it } from 'vitest';
import { driversRef, type DeviceDriver, type DriverDevice, type DriverRegistry } from '../../core/sdk/index.ts';
import { bindService, startTestKernel } from '../../core/sdk/testkit/index.ts';
import simulator, { createSimulatorDriver as simulatorDriver } from './index.ts';

const device: DriverDevice = {
  site: 'demo',
  name: 'sim-1',
  profile: 'sim-sensor',
  protocol: { seed: '7' },
  resources: [
    { name: 'temperature', valueType: 'Float64', readWrite: 'R', units: 'degC', attributes: { function: 'sine', amplitude: 5, periodS: 60, offset: 20 }, properties: {} },
    { name: 'count', valueType: 'Uint16', readWrite: 'R', attributes: { function: 'ramp', step: 1, max: 3 }, properties: {} },
    { name: 'setpoint', valueType: 'Float32', readWrite: 'RW', units: 'degC', attributes: { function: 'setpoint', initial: 21.5 }, properties: { minimum: 5, maximum: 35 } },
    { name: 'small', valueType: 'Int8', readWrite: 'R', attributes: { function: 'constant', value: 300 }, properties: {} },
  ],
};

function registry(): DriverRegistry & { drivers: Map<string, DeviceDriver> } {
  const drivers = new Map<string, DeviceDriver>();
  return {
    drivers,
    register(d) {
      for (const p of d.protocols) drivers.set(p, d);
      return () => d.protocols.forEach((p) => drivers.delete(p));
    },
    get: (p) => drivers.get(p),
    protocols: () => [...drivers.keys()],
  };
}

describe('simulator plugin', () => {
  it('registers its driver at the site and removes it at stop', async () => {
    const reg = registry();
    const tk = await startTestKernel({ plugins: [{ plugin: simulator, site: 'demo' }], services: [bindService(driversRef, reg)] });
    expect(tk.status('simulator@demo').state).toBe('running');
    expect(reg.protocols()).toEqual(['simulator']);
    await tk.stop();
    expect(reg.protocols()).toEqual([]);
  });

  it('reads functions of time, ramps, holds written setpoints and flags bad values', async () => {
    const reg = registry();
    const tk = await startTestKernel({ plugins: [{ plugin: simulator, site: 'demo' }], services: [bindService(driversRef, reg)] });
    const driver = reg.get('simulator')!;
    expect(driver.validate?.(device)).toEqual([]);
    const conn = await driver.connect(device);
    const [temp, count, setpoint, small] = await conn.read(['temperature', 'count', 'setpoint', 'small']);
    expect(temp).toMatchObject({ resource: 'temperature', valueType: 'Float64', units: 'degC', quality: 'good' });
    expect(temp!.value as number).toBeGreaterThanOrEqual(15);
    expect(temp!.value as number).toBeLessThanOrEqual(25);
    expect(count!.value).toBe(1);
    expect(setpoint).toMatchObject({ value: 21.5, quality: 'good' });
    expect(small).toMatchObject({ quality: 'bad', qualityDetail: 'SIM_OUT_OF_RANGE', value: null });
    expect((await conn.read(['count', 'count', 'count'])).map((s) => s.value)).toEqual([2, 3, 0]);

    expect(await conn.write([{ resource: 'setpoint', value: 25 }])).toEqual([{ resource: 'setpoint', ok: true }]);
    expect((await conn.read(['setpoint']))[0]!.value).toBe(25);
    const rejected = await conn.write([
      { resource: 'setpoint', value: 99 },
      { resource: 'temperature', value: 1 },
      { resource: 'nope', value: 1 },
    ]);
    expect(rejected.map((r) => r.error?.code)).toEqual(['EDGE_ERR_SIM_RANGE', 'EDGE_ERR_SIM_READ_ONLY', 'EDGE_ERR_SIM_UNKNOWN_RESOURCE']);
    expect((await conn.read(['setpoint']))[0]!.value).toBe(25);
    await tk.stop();
  });

  it('rejects an unknown function at validation, naming the resource path', () => {
    const d = { ...device, resources: [{ ...device.resources[0]!, attributes: { function: 'square' } }] };
    const issues = (simulatorDriver().validate?.(d)) ?? [];
    expect(issues).toEqual([expect.objectContaining({ path: 'deviceResources[0].attributes.function', code: 'EDGE_ERR_SIM_FUNCTION' })]);
  });
});
