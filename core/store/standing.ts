/**
 * How a device and an addon instance stand, as an operator is told: one
 * rule for the hub's overview (core/hub/overview.ts) and the web console;
 * the console's copies in core/console/web/model.js (deviceState,
 * addonInstanceStanding) name this file, and core/store/standing.test.ts
 * checks that the two agree case by case.
 */

/** A device's state as shown: what its site reported, or UNKNOWN when nothing is known now. */
export type DeviceWord = 'UP' | 'DOWN' | 'UNKNOWN';

interface DeviceLike {
  status?: { operatingState?: string; message?: string };
}

interface SiteLike {
  status?: { phase?: string; lastSeen?: string };
}

/**
 * What its site reported (DOWN with the reason), except at a site that is
 * Offline, where nothing is known now: UNKNOWN, naming since when and the
 * last report. `site` is the device's Site (undefined when unknown: the
 * report stands).
 */
export function deviceStanding(device: DeviceLike, site: SiteLike | undefined): { word: DeviceWord; reason: string } {
  const state = device.status?.operatingState;
  const reported: DeviceWord = state === 'UP' || state === 'DOWN' ? state : 'UNKNOWN';
  const message = device.status?.message ?? '';
  if (site?.status?.phase === 'Offline') {
    const last = state ? `; last report: ${state}${message ? ` (${message})` : ''}` : '';
    return { word: 'UNKNOWN', reason: `site offline since ${site.status.lastSeen ?? 'an unknown time'}${last}` };
  }
  return { word: reported, reason: message };
}

/** An addon instance: runs as it should, has failed (someone must act), or is not there yet. */
export type AddonInstanceStanding = 'running' | 'failed' | 'not ready';

/**
 * States an instance is in when it cannot run until someone acts: core/plugins' `failed`, `invalid`
 * (its config) and `blocked` (a plugin it needs), an agent's `error`, and the hub's `conflict` (another
 * Addon puts the same plugin at the site).
 */
const ADDON_FAILED = new Set(['failed', 'error', 'invalid', 'blocked', 'conflict']);
/** States of an instance that does its job. */
const ADDON_RUNNING = new Set(['running', 'ready']);

/**
 * An addon instance's state (`status.sites[<site>].state` as the hub serves
 * it, any case) in one word; no state at all (not reported yet) is not ready.
 */
export function addonInstanceStanding(state: string | undefined): AddonInstanceStanding {
  const w = state?.toLowerCase();
  if (w === undefined) return 'not ready';
  if (ADDON_RUNNING.has(w)) return 'running';
  if (ADDON_FAILED.has(w)) return 'failed';
  return 'not ready';
}
