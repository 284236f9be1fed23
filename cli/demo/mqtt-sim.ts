/**
 * The demo's MQTT device: an mqtt.js client that logs in to the site broker
 * with its own BrokerCredential (bound to its Device, so it may use only its
 * own topics) and behaves like a small smart plug:
 *
 *   <topic>/telemetry   every interval: {"power": W, "voltage": V, "relay": bool, "ts": epoch ms}
 *   <topic>/command     commands from the site: {"id", "resource", "value"}
 *   <topic>/response    its answers: {"id", "ok": true, "value"} or {"id", "ok": false, "error"}
 *
 * `relay` is writable; other resources refuse writes. Until the site has
 * judged its login (the broker answers "server unavailable" while the site
 * agent is still starting), it reconnects every second.
 */
import { connect, type MqttClient } from 'mqtt';
import type { Logger } from '../../core/kernel/index.ts';
import { toErrorInfo } from '../../core/kernel/index.ts';

export interface DemoMqttDeviceOptions {
  brokerUrl: string;
  username: string;
  password: string;
  /** The device's base topic (its Device's `protocols.mqtt.topic`). */
  topic: string;
  intervalMs?: number;
  logger: Logger;
}

export interface DemoMqttDevice {
  /** Samples published so far. */
  published(): number;
  close(): Promise<void>;
}

interface Command {
  id?: unknown;
  resource?: unknown;
  value?: unknown;
}

export function startDemoMqttDevice(o: DemoMqttDeviceOptions): DemoMqttDevice {
  const log = o.logger.child({ component: 'demo-mqtt-device', username: o.username });
  let relay = true;
  let tick = 0;
  let published = 0;
  const client: MqttClient = connect(o.brokerUrl, {
    clientId: o.username,
    username: o.username,
    password: o.password,
    reconnectPeriod: 1000,
    connectTimeout: 5000,
    clean: true,
  });
  client.on('error', (err) => log.debug({ error: toErrorInfo(err) }, 'broker connection failed; retrying'));
  client.on('connect', () => {
    log.debug({}, 'connected to the site broker');
    client.subscribe(`${o.topic}/command`, { qos: 1 }, (err) => {
      if (err) log.warn({ error: toErrorInfo(err) }, 'subscribing to the command topic failed');
    });
  });
  client.on('message', (_topic, payload) => {
    let cmd: Command;
    try {
      cmd = JSON.parse(payload.toString('utf8')) as Command;
    } catch {
      log.warn({ bytes: payload.length }, 'command payload is not JSON; ignored');
      return;
    }
    const answer = (body: Record<string, unknown>): void => void client.publish(`${o.topic}/response`, JSON.stringify({ id: cmd.id, ...body }), { qos: 1 });
    if (cmd.resource === 'relay' && typeof cmd.value === 'boolean') {
      relay = cmd.value;
      answer({ ok: true, value: relay });
      sample();
    } else if (cmd.resource === 'relay') {
      answer({ ok: false, error: `relay takes true or false, got ${JSON.stringify(cmd.value)}` });
    } else {
      answer({ ok: false, error: `resource ${JSON.stringify(cmd.resource)} is read-only on this device` });
    }
  });
  const sample = (): void => {
    if (!client.connected) return;
    tick += 1;
    const voltage = Math.round((230 + Math.sin(tick / 9) * 3 + (Math.random() - 0.5)) * 10) / 10;
    const power = relay ? Math.round((60 + Math.sin(tick / 5) * 25 + Math.random() * 4) * 10) / 10 : 0;
    client.publish(`${o.topic}/telemetry`, JSON.stringify({ power, voltage, relay, ts: Date.now() }), { qos: 1 });
    published += 1;
  };
  const timer = setInterval(sample, o.intervalMs ?? 1000);
  timer.unref();
  let closed: Promise<void> | undefined;
  return {
    published: () => published,
    close() {
      closed ??= (async () => {
        clearInterval(timer);
        await client.endAsync(true);
      })();
      return closed;
    },
  };
}
