/**
 * The simulator reads its block through the schema it declares: the hub's
 * check and the driver's validate refuse the same fields at the same paths,
 * and the seed is read as the schema reads it (a string, a key in any case).
 */
import { describe, expect, it } from 'vitest';
import { protocolBlockIssues, type DriverDevice } from '../../core/sdk/index.ts';
import simulator, { createSimulatorDriver } from './index.ts';
import { SIMULATOR_PROTOCOL_SCHEMA } from './protocol-schema.ts';

const device = (protocol: Record<string, unknown>): DriverDevice => ({
  site: 'demo',
  name: 'sim-1',
  profile: 'p',
  protocolName: 'simulator',
  protocol,
  resources: [{ name: 'noise', valueType: 'Float64', readWrite: 'R', attributes: { function: 'random', min: 0, max: 100 }, properties: {} }],
});

describe('the simulator protocol schema', () => {
  it('is what the plugin declares', () => {
    expect(simulator.protocols).toEqual({ simulator: SIMULATOR_PROTOCOL_SCHEMA });
  });

  it.each([[{}], [{ seed: '7' }], [{ Seed: 7.5 }], [{ seed: '' }], [{ seed: 'seven' }], [{ SEED: true }], [{ seed: null }]])('%j: the driver refuses what the schema refuses, at the same paths', async (block) => {
    const driver = createSimulatorDriver();
    const driverPaths = driver.validate!(device(block)).map((i) => i.path);
    expect(driverPaths).toEqual(protocolBlockIssues(SIMULATOR_PROTOCOL_SCHEMA, block, 'protocols.simulator').map((i) => i.path));
    await driver.close();
  });

  it('refuses a seed that is not a number, and reads "7" and Seed: 7 as the same seed', async () => {
    const driver = createSimulatorDriver();
    expect(driver.validate!(device({ seed: 'seven' }))).toEqual([{ path: 'protocols.simulator.seed', code: 'EDGE_ERR_SIM_PROTOCOL', message: expect.any(String) as unknown }]);
    const values = async (protocol: Record<string, unknown>): Promise<unknown[]> => {
      const c = await driver.connect(device(protocol));
      const out = [];
      for (let i = 0; i < 3; i++) out.push((await c.read(['noise']))[0]?.value);
      await c.close();
      return out;
    };
    const seven = await values({ seed: '7' });
    expect(await values({ Seed: 7 })).toEqual(seven);
    expect(await values({ seed: '8' })).not.toEqual(seven);
    await driver.close();
  });
});
