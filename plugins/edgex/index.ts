/**
 * The edgex plugin: EdgeX's message bus at a site, on the site broker. It
 * publishes every reading the site stores (from every driver) as an EdgeX v3
 * event where EdgeX device services publish theirs (src/publisher.ts), so
 * EdgeX app services and rules engines take them unchanged; and it takes the
 * events EdgeX device services publish there as readings of the site's
 * EdgeX devices, Devices with protocol `edgex` (src/devices.ts,
 * src/subscriber.ts). The formats are the SDK's (EdgeX events, envelopes,
 * topics). Mode `bridge` also links the site to an existing EdgeX
 * (src/bridge/): its devices proposed to the hub, their reads and writes
 * through core-command, their events from its message bus.
 *
 * With `services`, the site also runs EdgeX's own services (src/deploy/):
 * on an embedded hub as a Compose project on the node's container runtime,
 * bridged to the site as in mode `bridge` (in EdgeX's secure mode with the
 * bridge's own token, src/bridge/secret-store.ts); on a hub on Kubernetes
 * as grids (`workloads`), this instance then being their site half.
 * Config, topics, names and limits: README.md.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MqttClient } from 'mqtt';
import {
  clusterServicesRef,
  definePlugin,
  deviceCommandsRef,
  deviceStatesRef,
  driversRef,
  onboardingRef,
  readingFeedRef,
  siteBrokerRef,
  siteCatalogRef,
  siteHubRef,
  siteLoginsRef,
  siteMetricsRef,
  siteStorageRef,
  toErrorInfo,
} from '../../core/sdk/index.ts';
import { startRest } from './src/rest/index.ts';
import { connectBridgeBus } from './src/bridge/bus.ts';
import { resolveBridgeConfig, startBridge, type ResolvedBridgeConfig } from './src/bridge/index.ts';
import { messageBusLogin, type SecretStoreIdentity } from './src/bridge/secret-store.ts';
import { composeEdgeX, gridEdgeX, type OwnEdgeX } from './src/deploy/own-edgex.ts';
import { EdgeXConfigSchema, serviceNamer } from './src/config.ts';
import { renderWorkloads } from './src/deploy/kube.ts';
import { planServices } from './src/deploy/services.ts';
import { composeFileIn, siteCompose, startSiteServices, type SiteServices } from './src/deploy/site.ts';
import { createEdgeXDriver, EdgeXDeviceTable } from './src/devices.ts';
import { ErrEdgeXBridgeConfig, ErrEdgeXBusBroker, ErrEdgeXServicesConfig } from './src/errors.ts';
import { CauseLog, registerEdgeXMetrics } from './src/metrics.ts';
import { startPublisher } from './src/publisher.ts';
import { startSubscriber } from './src/subscriber.ts';

export { EdgeXConfigSchema, defaultServiceName, type EdgeXConfig } from './src/config.ts';
export { EDGEX_PROTOCOL } from './src/devices.ts';
export { EDGEX_COMPOSE_OBJECTS, EDGEX_RELEASE, EDGEX_SECURE_COMPOSE_OBJECTS } from './src/deploy/release.ts';

/** How long the first connection to the site broker may take. */
const CONNECT_TIMEOUT_MS = 10_000;

const PLUGIN_ID = 'edgex';

export default definePlugin({
  id: PLUGIN_ID,
  version: '0.3.0',
  engine: '^0.1.0',
  description: "EdgeX Foundry at the site: EdgeX's own services per site, bridged to the platform, and EdgeX's message bus (every reading as an EdgeX v3 event, EdgeX device services' events as readings)",
  configSchema: EdgeXConfigSchema,
  consumes: [
    readingFeedRef,
    siteBrokerRef,
    siteMetricsRef,
    driversRef,
    onboardingRef,
    siteStorageRef,
    siteCatalogRef,
    deviceCommandsRef,
    siteLoginsRef,
    siteHubRef,
    deviceStatesRef,
    clusterServicesRef,
  ],
  // EdgeX's containers as grids on Kubernetes; this instance, at the site, is the bus and bridge beside them.
  siteHalf: true,
  workloads: ({ addon, config }) => (config.services === undefined ? {} : renderWorkloads(planServices(config.services), addon)),
  composeProject: ({ site, config }) => (config.services === undefined ? undefined : siteCompose(PLUGIN_ID, site, config.services)),
  async register(ctx) {
    const config = ctx.config;
    if (config.mode === 'embedded' && config.bridge !== undefined) throw new ErrEdgeXBridgeConfig({ field: 'bridge', reason: "is set, but mode is 'embedded' (set mode: bridge)" });
    const plan = config.services === undefined ? [] : planServices(config.services);
    if (plan.length > 0 && config.rest.enabled) {
      throw new ErrEdgeXServicesConfig({ field: 'rest.enabled', reason: "is true, but services runs EdgeX's own core-data, core-metadata and core-command on those ports: turn one off" });
    }
    let bridgeConfig = config.mode === 'bridge' ? resolveBridgeConfig(config.bridge) : undefined;
    const site = ctx.site ?? 'hub';
    // The instance is degraded while its services or its bridge are: the services' cause first.
    const degradedBy: Record<'services' | 'bridge', Error | undefined> = { services: undefined, bridge: undefined };
    const degrade = (part: keyof typeof degradedBy) => (cause: Error | undefined) => {
      degradedBy[part] = cause;
      ctx.setDegraded(degradedBy.services ?? degradedBy.bridge);
    };
    const servicesDir = ctx.site === undefined ? undefined : ctx.get(siteStorageRef).dir(`${ctx.pluginId}-services`);
    // EdgeX's services on the node's container runtime (on Kubernetes the grid runs them); with services
    // turned off, the project an earlier config left is removed.
    let services: SiteServices | undefined;
    if (servicesDir !== undefined && !ctx.workloadsAsGrid && (config.services !== undefined || composeFileIn(servicesDir))) {
      const started = startSiteServices({
        site,
        pluginId: ctx.pluginId,
        runtime: config.services?.runtime ?? 'auto',
        plan,
        doc: config.services === undefined ? undefined : siteCompose(ctx.pluginId, site, config.services),
        dir: servicesDir,
        logger: ctx.logger,
        onState: degrade('services'),
      });
      ctx.onStop(() => started.stop());
      ctx.onRemove(() => started.remove());
      services = started;
    }
    // The site's own EdgeX, unless a bridge block of the user's names another: bridged as an existing one would be.
    const ownEdgeX = config.services !== undefined && plan.length > 0 && bridgeConfig === undefined ? config.services : undefined;
    let own: OwnEdgeX | undefined;
    if (ownEdgeX !== undefined && services !== undefined) {
      own = composeEdgeX(ownEdgeX, services);
      bridgeConfig = own.config;
    }
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

    if (config.rest.enabled) {
      // EdgeX's REST API (src/rest/): core-metadata, core-data and core-command from the site's own parts.
      const rest = await startRest({
        config: config.rest,
        site,
        hub: ctx.get(siteHubRef),
        dir: ctx.get(siteStorageRef).dir('edgex'),
        feed: ctx.get(readingFeedRef),
        catalog: ctx.get(siteCatalogRef),
        commands: ctx.get(deviceCommandsRef),
        states: ctx.get(deviceStatesRef),
        logins: ctx.get(siteLoginsRef),
        serviceOf: names.of,
        services: names.all,
        logger: log,
      });
      ctx.onStop(() => rest.stop());
    }

    const devices = new EdgeXDeviceTable();
    const bridgeTo = async (cfg: ResolvedBridgeConfig, identity: SecretStoreIdentity | undefined): Promise<void> => {
      // Bridge: the driver's reads and writes go to core-command; events come from EdgeX's bus (the site broker unless it names another).
      const bridge = startBridge({
        config: cfg,
        devices,
        onboarding: ctx.get(onboardingRef),
        metrics: ctx.get(siteMetricsRef),
        logger: log,
        onHealth: degrade('bridge'),
        ...(identity === undefined ? {} : { token: () => identity.jwt() }),
      });
      ctx.onStop(() => bridge.stop());
      ctx.onStop(ctx.get(driversRef).register(bridge.driver));
      if (!config.subscribe) return;
      const bus = cfg.messageBus;
      if (bus) {
        // EdgeX's own broker may be down now: start does not wait for it; the subscription is made when it answers.
        const login = identity === undefined ? undefined : messageBusLogin(identity, bus.url);
        const busClient = await connectBridgeBus(bus, site, bridge.health, log, login);
        ctx.onStop(() => busClient.endAsync(true));
        const busConfig = { ...config, baseTopic: bus.baseTopic ?? config.baseTopic };
        startSubscriber({ client: busClient, config: busConfig, ownServices: new Set(), devices, metrics, causes, logger: log }).catch((err: unknown) =>
          log.warn({ broker: bus.url, error: toErrorInfo(err) }, 'edgex bridge: subscribing on the EdgeX message bus failed'),
        );
      } else {
        const subscriber = await startSubscriber({ client, config, ownServices: names.all, devices, metrics, causes, logger: log });
        ctx.onStop(() => subscriber.stop());
      }
    };
    if (bridgeConfig) {
      await bridgeTo(bridgeConfig, own?.identity);
    } else if (ownEdgeX !== undefined && ctx.workloadsAsGrid) {
      // The grid runs the site's EdgeX: bridged once its Services resolve at this node (retried until then, the cause shown).
      const cluster = ctx.get(clusterServicesRef);
      const addon = ctx.addon ?? ctx.pluginId;
      const ac = new AbortController();
      ctx.onStop(() => ac.abort());
      void (async () => {
        for (let failures = 0; !ac.signal.aborted; failures++) {
          let found: OwnEdgeX;
          try {
            found = await gridEdgeX(ownEdgeX, addon, cluster);
          } catch (err) {
            degrade('bridge')(err instanceof Error ? err : new Error(String(err)));
            await sleep(Math.min(1000 * 2 ** Math.min(failures, 6), 60_000), undefined, { signal: ac.signal }).catch(() => undefined);
            continue;
          }
          if (ac.signal.aborted) return;
          degrade('bridge')(undefined);
          // Once: the bridge retries EdgeX itself from here on (a teardown registered after a stop runs at once).
          await bridgeTo(found.config, found.identity);
          return;
        }
      })().catch((err: unknown) => {
        log.error({ error: toErrorInfo(err) }, "edgex: bridging to the site's EdgeX failed");
        degrade('bridge')(err instanceof Error ? err : new Error(String(err)));
      });
    } else if (config.subscribe) {
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
