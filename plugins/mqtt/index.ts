/**
 * The mqtt plugin: registers the MQTT device driver (protocol `mqtt`,
 * src/driver.ts) at its site and, unless its config turns onboarding off,
 * listens on the site broker for devices announcing themselves
 * (src/onboarding.ts). What it does, its config, the Device and profile
 * fields, examples and limits: README.md.
 */
import { definePlugin, driversRef, onboardingRef, siteBrokerRef, siteMetricsRef, Type } from '../../core/sdk/index.ts';
import { registerMqttMetrics } from './src/metrics.ts';
import { createMqttDriver } from './src/driver.ts';
import { startOnboardingListener } from './src/onboarding.ts';
import { MQTT_PROTOCOL_SCHEMA } from './src/protocol-schema.ts';

export { createMqttDriver, deviceTopics, type MqttDeviceStats, type MqttDriver, type MqttDriverOptions } from './src/driver.ts';

const ConfigSchema = Type.Object(
  {
    onboarding: Type.Object(
      {
        /** Listen for Home Assistant discovery configs and native announcements, and propose the devices to the hub. */
        enabled: Type.Boolean({ default: true }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { default: {}, additionalProperties: false },
);

export default definePlugin({
  id: 'mqtt',
  version: '0.2.0',
  engine: '^0.1.0',
  description: 'MQTT devices on the site broker: logins and topic lists, topic and payload mapping, commands, onboarding',
  configSchema: ConfigSchema,
  consumes: [driversRef, siteBrokerRef, onboardingRef, siteMetricsRef],
  protocols: { mqtt: MQTT_PROTOCOL_SCHEMA },
  async register(ctx) {
    const broker = ctx.get(siteBrokerRef);
    const site = ctx.site ?? 'hub';
    const driver = createMqttDriver({
      logger: ctx.logger,
      siteBroker: () => ({ url: broker.url, ...broker.credentials }),
      persistentClientId: `edgeadm-mqtt-${site}`.slice(0, 64),
    });
    const unregister = ctx.get(driversRef).register(driver);
    ctx.onStop(async () => {
      unregister();
      await driver.close();
    });
    const unmetrics = registerMqttMetrics(ctx.get(siteMetricsRef), driver);
    ctx.onStop(unmetrics);
    if (ctx.config.onboarding.enabled) {
      const listener = await startOnboardingListener({ site, broker: { url: broker.url, ...broker.credentials }, onboarding: ctx.get(onboardingRef), logger: ctx.logger });
      ctx.onStop(() => listener.close());
    }
  },
});
