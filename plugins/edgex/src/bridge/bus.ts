/**
 * EdgeX's own MQTT message bus, when the bridge names one (another broker
 * than the site's): a connection with its credentials that start does not
 * wait for. While it is down the bridge's health shows `message-bus` down
 * with the cause; mqtt.js reconnects every RECONNECT_MS and resubscribes.
 * The password is never logged.
 */
import type { MqttClient } from 'mqtt';
import type { Logger } from '../../../../core/sdk/index.ts';
import { ErrEdgeXBridgeUnreachable } from '../errors.ts';
import type { ResolvedBridgeConfig } from './config.ts';
import type { BridgeHealth } from './status.ts';

const RECONNECT_MS = 2000;
const CONNECT_TIMEOUT_MS = 10_000;

/** A client of EdgeX's broker, connecting (and reconnecting) in the background. */
export async function connectBridgeBus(bus: NonNullable<ResolvedBridgeConfig['messageBus']>, site: string, health: BridgeHealth, log: Logger): Promise<MqttClient> {
  const { connect } = await import('mqtt');
  const client = connect(bus.url, {
    clientId: `edgeadm-edgex-bridge-${site}`.slice(0, 64),
    ...(bus.username === undefined ? {} : { username: bus.username }),
    ...(bus.password === undefined ? {} : { password: bus.password }),
    clean: true,
    reconnectPeriod: RECONNECT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    protocolVersion: 4,
  });
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
