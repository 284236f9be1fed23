/**
 * Mode `bridge`: the site next to an existing EdgeX. It reads EdgeX's
 * profiles and devices from core-metadata and proposes each device to the
 * hub (importer.ts), again every pollInterval; the `edgex` driver sends the
 * platform's reads and writes of those devices to core-command (driver.ts);
 * the plugin's subscriber takes their events from EdgeX's message bus
 * (index.ts of the plugin). An EdgeX that does not answer makes the
 * instance degraded with the cause (status.ts) and is retried with a
 * doubling, capped wait;
 * nothing here throws out of the loop, and stop() ends it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import type { DeviceDriver, Logger, Onboarding } from '../../../../core/sdk/index.ts';
import type { EdgeXDeviceTable } from '../devices.ts';
import { createEdgeXRestClient } from './client.ts';
import type { ResolvedBridgeConfig } from './config.ts';
import { createBridgeDriver } from './driver.ts';
import { createImporter } from './importer.ts';
import { backoff, BridgeHealth } from './status.ts';

export { BridgeConfigSchema, resolveBridgeConfig, type BridgeConfig, type ResolvedBridgeConfig } from './config.ts';
export { BridgeHealth, type BridgeService } from './status.ts';

export interface BridgeOptions {
  config: ResolvedBridgeConfig;
  devices: EdgeXDeviceTable;
  onboarding: Onboarding;
  metrics: Registry;
  logger: Logger;
  /** Hears the bridge's cause of trouble (undefined: EdgeX answers): the plugin's PluginContext.setDegraded. */
  onHealth?: (cause: Error | undefined) => void;
  /** Secure mode's JWTs from the bridge's secret-store identity, instead of config.token. */
  token?: () => Promise<string>;
}

export interface Bridge {
  /** The `edgex` driver whose reads and writes go to core-command. */
  readonly driver: DeviceDriver;
  readonly health: BridgeHealth;
  /** Ends the metadata loop (an in-flight call is aborted) and removes the metrics. Idempotent. */
  stop(): Promise<void>;
}

export function startBridge(o: BridgeOptions): Bridge {
  const { config } = o;
  const health = new BridgeHealth(o.metrics, o.logger, undefined, o.onHealth);
  const client = createEdgeXRestClient({
    metadataUrl: config.metadataUrl,
    commandUrl: config.commandUrl,
    timeoutMs: config.timeoutMs,
    ...(o.token !== undefined ? { token: o.token } : config.token === undefined ? {} : { token: config.token }),
  });
  const importer = createImporter({ client, onboarding: o.onboarding, logger: o.logger });
  const ac = new AbortController();

  async function loop(): Promise<void> {
    while (!ac.signal.aborted) {
      let wait = config.pollIntervalMs;
      try {
        await importer.sync(ac.signal);
        health.ok('core-metadata');
        health.retryIn(0);
      } catch (err) {
        if (ac.signal.aborted) return;
        const failures = health.fail('core-metadata', err, { url: config.metadataUrl });
        wait = backoff(failures, config.firstRetryMs, config.maxRetryMs);
        health.retryIn(wait);
      }
      try {
        await sleep(wait, undefined, { signal: ac.signal });
      } catch {
        return;
      }
    }
  }

  o.logger.info({ metadataUrl: config.metadataUrl, commandUrl: config.commandUrl, secure: config.token !== undefined || o.token !== undefined }, 'edgex bridge: bridging to an existing EdgeX');
  const done = loop();
  let stopped: Promise<void> | undefined;
  return {
    driver: createBridgeDriver(o.devices, client, health),
    health,
    stop() {
      stopped ??= (async () => {
        ac.abort();
        await done;
        health.unregister();
      })();
      return stopped;
    },
  };
}
