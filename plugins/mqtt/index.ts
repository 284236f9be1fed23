/**
 * The mqtt plugin: registers the MQTT device driver (protocol `mqtt`) at its
 * site, and listens for devices announcing themselves on the site broker.
 * Devices publish telemetry to the site broker (or their own `brokerUrl`)
 * and take commands on a command topic; see src/driver.ts. A device logs in
 * to the site broker with a BrokerCredential bound to it and may then use
 * only its own topics (`brokerTopics`). The driver keeps a persistent session
 * on the site broker, so QoS 1 telemetry sent while the site agent restarts
 * is queued for it, not lost. Announcements (Home Assistant discovery, the
 * native announce topic; src/discovery.ts) become pending devices at the hub.
 */
import { definePlugin, driversRef, onboardingRef, siteBrokerRef, siteMetricsRef, Type } from '../../core/sdk/index.ts';
import { registerMqttMetrics } from './src/metrics.ts';
import { createMqttDriver } from './src/driver.ts';
import { startOnboardingListener } from './src/onboarding.ts';

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
