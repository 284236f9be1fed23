/**
 * The modbus plugin's parts for benchmarks and tests outside the plugin:
 * the shared bus (one link per endpoint, serialised transactions, circuit
 * breaker) on its own, so its cost can be measured without a site.
 */
export { openBus, type Bus, type BusOptions } from '../src/bus.ts';
