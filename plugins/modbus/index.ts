/**
 * The modbus plugin: registers the Modbus device driver (protocols
 * `modbus-tcp`, `modbus-rtu`, `modbus-rtu-over-tcp`; src/driver.ts) at its
 * site. Devices use EdgeX device-modbus profiles unchanged. What it does,
 * the Device and profile fields, examples and limits: README.md.
 */
import { definePlugin, driversRef } from '../../core/sdk/index.ts';
import { createModbusDriver } from './src/driver.ts';
import { MODBUS_PROTOCOL_SCHEMAS } from './src/protocol-schema.ts';

export { createModbusDriver } from './src/driver.ts';

export default definePlugin({
  id: 'modbus',
  version: '0.1.0',
  engine: '^0.1.0',
  description: 'Modbus TCP, RTU and RTU-over-TCP devices with EdgeX-compatible device profiles',
  consumes: [driversRef],
  protocols: MODBUS_PROTOCOL_SCHEMAS,
  register(ctx) {
    const driver = createModbusDriver({ logger: ctx.logger });
    const unregister = ctx.get(driversRef).register(driver);
    ctx.onStop(async () => {
      unregister();
      await driver.close();
    });
  },
});
