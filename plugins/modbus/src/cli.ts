/**
 * What the modbus plugin adds to `edgeadm` (its manifest's `"tools"`; see
 * core/sdk/tools.ts): `edgeadm device discover --plugin modbus host:port`
 * asks each unit id in a range for holding register 0 through the driver's
 * `discover` and lists the units that answer (an exception reply is an
 * answer). Loaded at every CLI start, so the driver is imported only when a
 * discovery runs.
 */
import { definePluginTools } from '../../../core/sdk/index.ts';

export default definePluginTools({
  id: 'modbus',
  discovery: {
    options: [
      { flags: '--unit-ids <list>', key: 'unitIds', description: 'unit ids to ask, e.g. 1-10,17 (default 1-16)' },
      { flags: '--timeout-ms <ms>', key: 'timeoutMs', value: 'integer', description: 'how long to wait for each unit, 10 to 10000 (default 300)' },
    ],
    examples: [
      'edgeadm device discover --plugin modbus 10.0.0.7:502 --unit-ids 1-32',
      'edgeadm device discover --plugin modbus rtu-over-tcp://10.0.0.8:4001 --site plant-a --profile-name energy-meter --apply',
    ],
    async driver(ctx) {
      const { createModbusDriver } = await import('./driver.ts');
      return createModbusDriver({ logger: ctx.logger });
    },
  },
});
