/**
 * EdgeX's own MQTT message bus, when the bridge names one (another broker
 * than the site's): a connection with its credentials that start does not
 * wait for. While it is down the bridge's health shows `message-bus` down
 * with the cause; mqtt.js reconnects every RECONNECT_MS and resubscribes.
 * The password is never logged.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MqttClient } from 'mqtt';
import type { Logger } from '../../../../core/sdk/index.ts';
import { ErrEdgeXBridgeUnreachable } from '../errors.ts';
import type { ResolvedBridgeConfig } from './config.ts';
import type { BridgeHealth } from './status.ts';

const RECONNECT_MS = 2000;
const CONNECT_TIMEOUT_MS = 10_000;

/** The bus's login from the bridge's secret-store identity (secure mode: its message-bus secret). */
export type BusCredentials = () => Promise<{ username: string; password: string }>;

/**
 * A client of EdgeX's broker, connecting (and reconnecting) in the
 * background. With `credentials` (secure mode), it connects once they are
 * had (asked again with backoff while the secret store does not give
 * them), and asks again when the broker refuses the login.
 */
export async function connectBridgeBus(
  bus: NonNullable<ResolvedBridgeConfig['messageBus']>,
  site: string,
  health: BridgeHealth,
  log: Logger,
  credentials?: BusCredentials,
): Promise<MqttClient> {
  const { connect } = await import('mqtt');
  const client = connect(bus.url, {
    clientId: `edgeadm-edgex-bridge-${site}`.slice(0, 64),
    ...(bus.username === undefined ? {} : { username: bus.username }),
    ...(bus.password === undefined ? {} : { password: bus.password }),
    clean: true,
    reconnectPeriod: RECONNECT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    protocolVersion: 4,
    manualConnect: credentials !== undefined,
  });
  if (credentials !== undefined) {
    let asking: Promise<void> | undefined;
    const login = (): Promise<void> => (asking ??= ask().finally(() => (asking = undefined)));
    const ask = async (): Promise<void> => {
      for (let failures = 1; !client.disconnecting && !client.disconnected; failures++) {
        try {
          const c = await credentials();
          client.options.username = c.username;
          client.options.password = c.password;
          return;
        } catch (err) {
          health.fail('message-bus', err, { broker: bus.url });
          await sleep(Math.min(RECONNECT_MS * 2 ** Math.min(failures, 5), 60_000));
        }
      }
    };
    void login().then(() => {
      if (!client.disconnecting) client.connect();
    });
    client.on('error', (err) => {
      // CONNACK 4 (bad user name or password) or 5 (not authorized): the store's secret may have changed.
      const code = (err as { code?: unknown }).code;
      if (code === 4 || code === 5) void login();
    });
  }
  let lastError = 'no connection (refused, reset or closed)';
  client.on('connect', () => {
    health.ok('message-bus');
    log.info({ broker: bus.url }, 'edgex bridge: connected to the EdgeX message bus');
  });
  client.on('error', (err) => {
    lastError = err.message;
    health.fail('message-bus', new ErrEdgeXBridgeUnreachable({ service: 'message-bus', url: bus.url, reason: err.message }, { cause: err }), { broker: bus.url });
  });
  client.on('close', () => {
    if (client.disconnecting) return;
    health.fail('message-bus', new ErrEdgeXBridgeUnreachable({ service: 'message-bus', url: bus.url, reason: lastError }), { broker: bus.url });
  });
  return client;
}
