/**
 * The edgex plugin: EdgeX's message bus at a site, on the site broker. It
 * publishes every reading the site stores (from every driver) as an EdgeX v3
 * event where EdgeX device services publish theirs (src/publisher.ts), so
 * EdgeX app services and rules engines take them unchanged; and it takes the
 * events EdgeX device services publish there as readings of the site's
 * EdgeX devices, Devices with protocol `edgex` (src/devices.ts,
 * src/subscriber.ts). The formats are the SDK's (EdgeX events, envelopes,
 * topics). Mode `bridge` (to an EdgeX of its own) is not available yet.
 * Config, topics, names and limits: README.md.
 */
import type { MqttClient } from 'mqtt';
import { definePlugin, driversRef, readingFeedRef, siteBrokerRef, siteMetricsRef, toErrorInfo } from '../../core/sdk/index.ts';
import { EdgeXConfigSchema, serviceNamer } from './src/config.ts';
import { createEdgeXDriver, EdgeXDeviceTable } from './src/devices.ts';
import { ErrEdgeXBusBroker, ErrEdgeXModeUnavailable } from './src/errors.ts';
import { CauseLog, registerEdgeXMetrics } from './src/metrics.ts';
import { startPublisher } from './src/publisher.ts';
import { startSubscriber } from './src/subscriber.ts';

export { EdgeXConfigSchema, defaultServiceName, type EdgeXConfig } from './src/config.ts';
export { EDGEX_PROTOCOL } from './src/devices.ts';

/** How long the first connection to the site broker may take. */
const CONNECT_TIMEOUT_MS = 10_000;

export default definePlugin({
  id: 'edgex',
  version: '0.2.0',
  engine: '^0.1.0',
  description: "EdgeX's message bus at the site: every reading as an EdgeX v3 event, and EdgeX device services' events as readings",
  configSchema: EdgeXConfigSchema,
  consumes: [readingFeedRef, siteBrokerRef, siteMetricsRef, driversRef],
  async register(ctx) {
    const config = ctx.config;
    if (config.mode !== 'embedded') throw new ErrEdgeXModeUnavailable({ mode: config.mode });
    const site = ctx.site ?? 'hub';
    const log = ctx.logger;
    const metrics = registerEdgeXMetrics(ctx.get(siteMetricsRef));
    ctx.onStop(() => metrics.unregister());
    const causes = new CauseLog(log);
    const names = serviceNamer(config, site);

    const broker = ctx.get(siteBrokerRef);
    const { connectAsync } = await import('mqtt');
    let client: MqttClient;
    try {
      client = await connectAsync(broker.url, {
        clientId: `edgeadm-edgex-${site}`.slice(0, 64),
        username: broker.credentials.username,
        password: broker.credentials.password,
        clean: true,
        reconnectPeriod: 1000,
        connectTimeout: CONNECT_TIMEOUT_MS,
        protocolVersion: 4,
        // Nothing waits for a connection that is down: the publisher drops and counts instead.
        queueQoSZero: false,
      });
    } catch (err) {
      throw new ErrEdgeXBusBroker({ broker: broker.url, reason: err instanceof Error ? err.message : String(err) }, { cause: err });
    }
    ctx.onStop(() => client.endAsync(true));
    client.on('error', (err) => log.warn({ error: toErrorInfo(err) }, 'edgex: site broker connection error'));
    client.on('offline', () => log.warn({ broker: broker.url }, 'edgex: site broker offline; reconnecting'));

    const devices = new EdgeXDeviceTable();
    if (config.subscribe) {
      const unregister = ctx.get(driversRef).register(createEdgeXDriver(devices));
      ctx.onStop(unregister);
      const subscriber = await startSubscriber({ client, config, ownServices: names.all, devices, metrics, causes, logger: log });
      ctx.onStop(() => subscriber.stop());
    }
    if (config.publish) {
      const publisher = startPublisher({ client, feed: ctx.get(readingFeedRef), config, serviceOf: names.of, edgexDevices: devices, metrics, causes, logger: log });
      ctx.onStop(() => publisher.stop());
    }
  },
});
