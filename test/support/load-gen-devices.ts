/**
 * The DeviceProfile and Devices the test plugin `load-gen` reports readings
 * for, so the hub stores them rather than quarantining them as readings of
 * unknown devices. Its devices have no driver at the site (protocol
 * `load-gen`): the plugin itself appends their readings.
 */
const API = 'edgeadm.io/v1alpha1';

/** A manifest as the hub's `PUT /api/v1/<plural>/<name>` takes it. */
export type Manifest = { apiVersion: string; kind: 'DeviceProfile' | 'Device'; metadata: { name: string }; spec: Record<string, unknown> };

export const LOAD_PROFILE: Manifest = {
  apiVersion: API,
  kind: 'DeviceProfile',
  metadata: { name: 'load' },
  spec: { deviceResources: [{ name: 'counter', properties: { valueType: 'Uint32', readWrite: 'R' } }] },
};

/** `count` Devices named `<prefix><n>` at `site`, of the profile `load`. */
export function loadGenDevices(site: string, count: number, prefix = 'load-'): Manifest[] {
  return Array.from({ length: count }, (_, i) => ({
    apiVersion: API,
    kind: 'Device',
    metadata: { name: `${prefix}${i}` },
    spec: { site, profile: 'load', protocols: { 'load-gen': {} } },
  }));
}
