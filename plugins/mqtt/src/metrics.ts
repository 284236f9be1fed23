/**
 * The MQTT driver's per-device counters as Prometheus metrics in the site
 * agent's registry, read from the driver when scraped:
 *
 *   edgeadm_mqtt_device_messages_total{device}            messages received on the device's topics
 *   edgeadm_mqtt_device_samples_total{device}             samples mapped from them
 *   edgeadm_mqtt_device_rejected_total{device,reason}     oversized | malformed | mismatched payloads
 *   edgeadm_mqtt_device_commands_total{device,outcome}    sent | timeout | refused
 *   edgeadm_mqtt_device_not_stored_total{device}          messages not acknowledged: the site could not store their readings (sent again)
 *   edgeadm_mqtt_unclaimed_answers_total                  layout edgex: answers on the response topic for no waiting command (unknown or late uuid)
 */
import { Counter, type Registry } from 'prom-client';
import type { MqttDriver } from './driver.ts';

const NAMES = [
  'edgeadm_mqtt_device_messages_total',
  'edgeadm_mqtt_device_samples_total',
  'edgeadm_mqtt_device_rejected_total',
  'edgeadm_mqtt_device_commands_total',
  'edgeadm_mqtt_device_not_stored_total',
  'edgeadm_mqtt_unclaimed_answers_total',
] as const;

/** Registers the metrics; the returned function removes them (the plugin instance stops). */
export function registerMqttMetrics(registry: Registry, driver: Pick<MqttDriver, 'allStats' | 'unclaimedAnswers'>): () => void {
  new Counter({
    name: NAMES[0],
    help: 'MQTT messages received on a device’s topics.',
    labelNames: ['device'],
    registers: [registry],
    collect() {
      this.reset();
      for (const d of driver.allStats()) this.inc({ device: d.device }, d.stats.messages);
    },
  });
  new Counter({
    name: NAMES[1],
    help: 'Samples mapped from a device’s MQTT messages.',
    labelNames: ['device'],
    registers: [registry],
    collect() {
      this.reset();
      for (const d of driver.allStats()) this.inc({ device: d.device }, d.stats.samples);
    },
  });
  new Counter({
    name: NAMES[2],
    help: 'MQTT payloads of a device not mapped to readings, by reason (oversized, malformed, mismatched).',
    labelNames: ['device', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const d of driver.allStats()) {
        this.inc({ device: d.device, reason: 'oversized' }, d.stats.oversized);
        this.inc({ device: d.device, reason: 'malformed' }, d.stats.malformed);
        this.inc({ device: d.device, reason: 'mismatched' }, d.stats.mismatched);
      }
    },
  });
  new Counter({
    name: NAMES[3],
    help: 'Commands published to a device, and how many timed out or were refused.',
    labelNames: ['device', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const d of driver.allStats()) {
        this.inc({ device: d.device, outcome: 'sent' }, d.stats.commands);
        this.inc({ device: d.device, outcome: 'timeout' }, d.stats.commandTimeouts);
        this.inc({ device: d.device, outcome: 'refused' }, d.stats.commandRefusals);
      }
    },
  });
  new Counter({
    name: NAMES[4],
    help: 'MQTT messages of a device not acknowledged because the site could not store their readings; the broker sends each again.',
    labelNames: ['device'],
    registers: [registry],
    collect() {
      this.reset();
      for (const d of driver.allStats()) this.inc({ device: d.device }, d.stats.notStored);
    },
  });
  new Counter({
    name: NAMES[5],
    help: 'Answers on an EdgeX layout response topic that came for no waiting command (an unknown uuid, or a command that had timed out).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(driver.unclaimedAnswers());
    },
  });
  return () => {
    for (const n of NAMES) registry.removeSingleMetric(n);
  };
}
