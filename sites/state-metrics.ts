/**
 * The agent's state gauges on its Prometheus registry, read when scraped:
 *
 * - `edgeadm_plugin_instance_state{instance,plugin,state}` 1 for each plugin
 *   instance's current state (`running`, `degraded`, `failed`, `invalid`, ...);
 * - `edgeadm_device_state{device,state}` 1 for each device's current state
 *   (`up`, `down`, `connecting`, `waiting-for-driver`, `invalid`, `locked`);
 * - `edgeadm_device_up{device}` 1 when a device is up, else 0;
 * - `edgeadm_device_drifting_resources{device}` writable resources whose
 *   value departs from the desired one now.
 *
 * Only current states are exported (a series per instance or device), so a
 * state that ended leaves no series behind.
 */
import { Gauge, type Registry } from 'prom-client';
import type { InstanceStatus } from '../core/plugins/index.ts';
import type { DeviceRuntimeStatus } from './devices.ts';

export function registerStateGauges(metrics: Registry, o: { instances: () => readonly InstanceStatus[]; devices: () => readonly DeviceRuntimeStatus[] }): void {
  new Gauge({
    name: 'edgeadm_plugin_instance_state',
    help: "Each plugin instance's current state: 1 on the series of that state.",
    labelNames: ['instance', 'plugin', 'state'],
    registers: [metrics],
    collect() {
      this.reset();
      for (const i of o.instances()) this.set({ instance: i.instance, plugin: i.plugin, state: i.state }, 1);
    },
  });
  const perDevice = (name: string, help: string, value: (d: DeviceRuntimeStatus) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['device'],
      registers: [metrics],
      collect() {
        this.reset();
        for (const d of o.devices()) this.set({ device: d.device }, value(d));
      },
    });
  };
  new Gauge({
    name: 'edgeadm_device_state',
    help: "Each device's current state: 1 on the series of that state.",
    labelNames: ['device', 'state'],
    registers: [metrics],
    collect() {
      this.reset();
      for (const d of o.devices()) this.set({ device: d.device, state: d.state }, 1);
    },
  });
  perDevice('edgeadm_device_up', 'Whether each device is up (1) or not (0: down, connecting, waiting for its driver, invalid, locked).', (d) => (d.state === 'up' ? 1 : 0));
  perDevice(
    'edgeadm_device_drifting_resources',
    "Writable resources of each device whose value departs from the desired one now (the twin's drift).",
    (d) => Object.values(d.drift ?? {}).filter((x) => x.resolvedAt === undefined).length,
  );
}
