/**
 * How the CLI shows a device's state: the one wording for `edgeadm status`,
 * `device list` and `device show`. The hub already serves a device of an
 * offline site as UNKNOWN (with the reason), so the state shown is the
 * served one; a device that is not UP shows its cause, and drift from the
 * desired values is named per resource.
 */
import type { DeviceDrift, DeviceSpec, DeviceStatus } from '../core/store/index.ts';
import { cell, type Obj } from './resources.ts';

type Device = Obj<DeviceSpec, DeviceStatus>;

/** `UP`, `DOWN`, `UNKNOWN` (or `-` before any report), with `(LOCKED)` for a locked device. */
export function deviceStateWord(d: Device): string {
  const op = d.status?.operatingState ?? '-';
  return d.spec.adminState === 'LOCKED' ? `${op} (LOCKED)` : op;
}

/** Why a device is not UP (its status message), or '' when it is. */
export function deviceCause(d: Device): string {
  return d.status?.operatingState === 'UP' ? '' : (d.status?.message ?? '');
}

/** One drift entry as a line: `drifted 21 (desired 42.5) since T, reasserted 2 times` or `... resolved at T`. */
export function describeDrift(x: DeviceDrift): string {
  const what = `${x.resolvedAt === undefined ? 'departs' : 'departed'}: ${cell(x.observed)} (desired ${cell(x.desired)}) since ${x.since}`;
  const done = x.reasserts ? `, written again ${x.reasserts} time${x.reasserts === 1 ? '' : 's'} (${x.policy})` : ` (${x.policy})`;
  return `${what}${done}${x.error ? `, last write failed: ${x.error}` : ''}${x.resolvedAt === undefined ? '' : `, matches again since ${x.resolvedAt}`}`;
}

export interface DeviceSummary {
  total: number;
  up: number;
  down: number;
  /** UNKNOWN or not reported yet (a site offline, a device still connecting, locked). */
  unknown: number;
  /** Devices that are DOWN, each with its cause. */
  downList: { device: string; site: string; message?: string }[];
  /** Devices with resources departing from their desired values now. */
  drifting: { device: string; site: string; resources: string[] }[];
}

export function summarizeDevices(devices: readonly Device[]): DeviceSummary {
  const s: DeviceSummary = { total: devices.length, up: 0, down: 0, unknown: 0, downList: [], drifting: [] };
  for (const d of devices) {
    const op = d.status?.operatingState;
    if (op === 'UP') s.up++;
    else if (op === 'DOWN') {
      s.down++;
      s.downList.push({ device: d.metadata.name, site: d.spec.site, ...(d.status?.message ? { message: d.status.message } : {}) });
    } else s.unknown++;
    const drifting = Object.entries(d.status?.drift ?? {}).filter(([, x]) => x.resolvedAt === undefined).map(([r]) => r);
    if (drifting.length > 0) s.drifting.push({ device: d.metadata.name, site: d.spec.site, resources: drifting });
  }
  return s;
}
