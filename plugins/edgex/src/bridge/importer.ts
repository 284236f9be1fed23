/**
 * EdgeX's devices, proposed to the hub. The site agent does not write hub
 * resources: each device core-metadata lists becomes a proposal through the
 * site's onboarding service (source `edgex`), a PendingDevice at the hub
 * that an operator approves (`edgeadm device approve`), which creates the
 * Device and its DeviceProfile.
 *
 * Rules:
 * - The proposed Device: the EdgeX device's name through the one name
 *   mapping (the SDK's edgexResourceName, as the hub's file import maps it),
 *   protocol `edgex` with the EdgeX name and device service
 *   (`{ deviceName, serviceName }`), so the edgex driver takes its events
 *   and sends its commands to core-command.
 * - The proposed profile: the device's EdgeX profile as core-metadata sends
 *   it (v3 DTOs are already the DeviceProfile body's shape), without the
 *   identity fields that change by themselves (id, created, modified,
 *   apiVersion).
 * - Metadata is read again every pollInterval; a device is proposed again
 *   only when what would be proposed changed (the onboarding service also
 *   drops unchanged proposals). A device that cannot be proposed (no profile
 *   in core-metadata, a name that maps to nothing, a profile without
 *   resources) is left out and logged once per cause.
 */
import { edgexResourceName, toErrorInfo, type DeviceAnnouncement, type Logger, type Onboarding } from '../../../../core/sdk/index.ts';
import { ErrEdgeXBridgeDevice } from '../errors.ts';
import type { EdgeXRestClient } from './client.ts';

type Obj = Record<string, unknown>;

/** Profile DTO fields the proposal leaves out: EdgeX's identity and timestamps, which change without the profile changing. */
const VOLATILE_PROFILE_FIELDS = ['id', 'created', 'modified', 'apiVersion'] as const;

/** An EdgeX device DTO and its profile DTO as the proposal the hub receives, or why it cannot be one. */
export function edgexDeviceProposal(device: Obj, profiles: ReadonlyMap<string, Obj>): { announcement: DeviceAnnouncement } | { problem: string } {
  const name = device.name as string;
  const suggestedName = edgexResourceName(name);
  if (suggestedName === undefined) return { problem: 'its name has no letter or digit to map to a Device name' };
  const profileName = typeof device.profileName === 'string' ? device.profileName : '';
  const profile = profiles.get(profileName);
  if (!profile) return { problem: `its profile '${profileName}' is not in core-metadata` };
  if (!Array.isArray(profile.deviceResources) || profile.deviceResources.length === 0) return { problem: `its profile '${profileName}' has no deviceResources` };
  const body = structuredClone(profile);
  for (const f of VOLATILE_PROFILE_FIELDS) delete body[f];
  const serviceName = typeof device.serviceName === 'string' && device.serviceName !== '' ? device.serviceName : undefined;
  const warnings: string[] = [];
  if (device.adminState === 'LOCKED') warnings.push('EdgeX has the device LOCKED: its commands are refused until it is unlocked there');
  if (device.operatingState === 'DOWN') warnings.push('EdgeX reports the device DOWN');
  return {
    announcement: {
      source: 'edgex',
      identifier: name,
      suggestedName,
      ...(name === suggestedName ? {} : { displayName: name }),
      ...(typeof profile.manufacturer === 'string' && profile.manufacturer !== '' ? { manufacturer: profile.manufacturer } : {}),
      ...(typeof profile.model === 'string' && profile.model !== '' ? { model: profile.model } : {}),
      protocolName: 'edgex',
      protocol: { deviceName: name, ...(serviceName === undefined ? {} : { serviceName }) },
      profile: body,
      ...(warnings.length > 0 ? { warnings } : {}),
    },
  };
}

export interface Importer {
  /** Reads core-metadata once and proposes new and changed devices; throws what the reads threw. Returns the devices proposed. */
  sync(signal?: AbortSignal): Promise<number>;
}

export function createImporter(o: { client: EdgeXRestClient; onboarding: Onboarding; logger: Logger }): Importer {
  const proposed = new Map<string, string>();
  const problems = new Map<string, string>();
  return {
    async sync(signal) {
      const profileList = await o.client.profiles(signal);
      const deviceList = await o.client.devices(signal);
      const profiles = new Map(profileList.map((p) => [p.name as string, p]));
      let count = 0;
      for (const device of deviceList) {
        const name = device.name as string;
        const r = edgexDeviceProposal(device, profiles);
        if ('problem' in r) {
          if (problems.get(name) !== r.problem) {
            const err = new ErrEdgeXBridgeDevice({ device: name, reason: r.problem });
            o.logger.warn({ device: name, error: toErrorInfo(err) }, 'edgex bridge: an EdgeX device was left out');
          }
          problems.set(name, r.problem);
          continue;
        }
        problems.delete(name);
        const text = JSON.stringify(r.announcement);
        if (proposed.get(name) === text) continue;
        proposed.set(name, text);
        o.onboarding.propose(r.announcement);
        o.logger.info({ device: name, suggestedName: r.announcement.suggestedName }, 'edgex bridge: EdgeX device proposed for approval');
        count++;
      }
      // A device gone from EdgeX is forgotten here: if it comes back, it is proposed again.
      const listed = new Set(deviceList.map((d) => d.name as string));
      for (const name of [...proposed.keys(), ...problems.keys()]) {
        if (listed.has(name)) continue;
        proposed.delete(name);
        problems.delete(name);
      }
      return count;
    },
  };
}
