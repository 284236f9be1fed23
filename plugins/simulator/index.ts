/** The simulator plugin: registers the `simulator` device driver (driver.ts) at its site. Functions, attributes and limits: README.md. */
import { definePlugin, driversRef } from '../../core/sdk/index.ts';
import { createSimulatorDriver } from './driver.ts';
import { SIMULATOR_PROTOCOL, SIMULATOR_PROTOCOL_SCHEMA } from './protocol-schema.ts';

export { createSimulatorDriver } from './driver.ts';

export default definePlugin({
  id: 'simulator',
  version: '0.1.0',
  engine: '^0.1.0',
  description: 'Simulated devices for demos and tests',
  consumes: [driversRef],
  protocols: { [SIMULATOR_PROTOCOL]: SIMULATOR_PROTOCOL_SCHEMA },
  register(ctx) {
    const driver = createSimulatorDriver();
    const unregister = ctx.get(driversRef).register(driver);
    ctx.onStop(async () => {
      unregister();
      await driver.close();
    });
  },
});
