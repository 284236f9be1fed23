/**
 * The mqtt plugin: registers the MQTT device driver (protocol `mqtt`) at its
 * site. Devices publish telemetry to the site broker (or their own
 * `brokerUrl`) and take commands on a command topic; see src/driver.ts.
 * Broker security, onboarding and the upstream bridge are not part of it yet.
 */
import { definePlugin, driversRef, siteBrokerRef } from '../../core/sdk/index.ts';
import { createMqttDriver } from './src/driver.ts';

export { createMqttDriver, type MqttDeviceStats, type MqttDriver, type MqttDriverOptions } from './src/driver.ts';

export default definePlugin({
  id: 'mqtt',
  version: '0.1.0',
  engine: '^0.1.0',
  description: 'MQTT devices on the site broker: topic and payload mapping, onboarding, upstream bridge',
  consumes: [driversRef, siteBrokerRef],
  register(ctx) {
    const broker = ctx.get(siteBrokerRef);
    const driver = createMqttDriver({ logger: ctx.logger, siteBrokerUrl: () => broker.url });
    const unregister = ctx.get(driversRef).register(driver);
    ctx.onStop(async () => {
      unregister();
      await driver.close();
    });
  },
});
