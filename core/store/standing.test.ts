/**
 * The device and addon-instance rules agree with the web console's copies
 * (core/console/web/model.js), case by case: the hub's overview and the
 * console's pages tell the same story.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { addonInstanceStanding, deviceStanding } from './standing.ts';

/** The console's copies, as model.js declares them in JSDoc (this project's type check does not read browser code). */
interface ConsoleModel {
  deviceStateAt(device: Parameters<typeof deviceStanding>[0], site: Parameters<typeof deviceStanding>[1]): ReturnType<typeof deviceStanding>;
  addonInstanceStanding(state: string | undefined): ReturnType<typeof addonInstanceStanding>;
}
const MODEL = '../console/web/model.js';
let model: ConsoleModel;

beforeAll(async () => {
  // model.js imports the console's store, whose flush timer asks the document whether it is hidden.
  vi.stubGlobal('document', { hidden: true });
  model = (await import(/* @vite-ignore */ MODEL)) as ConsoleModel;
});

const T = '2026-01-02T03:04:05.000Z';
const SITES = {
  none: undefined,
  online: { status: { phase: 'Online', lastSeen: T } },
  pending: { status: { phase: 'Pending' } },
  noStatus: {},
  offline: { status: { phase: 'Offline', lastSeen: T } },
  offlineNeverSeen: { status: { phase: 'Offline' } },
} as const;
const DEVICES = {
  unreported: {},
  up: { status: { operatingState: 'UP' } },
  upNoted: { status: { operatingState: 'UP', message: 'slow answers' } },
  down: { status: { operatingState: 'DOWN', message: 'EDGE_ERR_MODBUS_CONNECT connect ECONNREFUSED 127.0.0.1:1502' } },
  downBare: { status: { operatingState: 'DOWN' } },
  unknown: { status: { operatingState: 'UNKNOWN', message: 'no answer yet' } },
  messageOnly: { status: { message: 'starting' } },
} as const;

describe('device standing', () => {
  it.each(Object.entries(DEVICES).flatMap(([d, device]) => Object.entries(SITES).map(([s, site]) => [`${d} at ${s}`, device, site] as const)))('%s: hub and console agree', (_case, device, site) => {
    expect(model.deviceStateAt(device, site)).toEqual(deviceStanding(device, site));
  });

  it('is UNKNOWN at an offline site, naming since when and the last report; the report otherwise', () => {
    expect(deviceStanding(DEVICES.down, SITES.offline)).toEqual({
      word: 'UNKNOWN',
      reason: `site offline since ${T}; last report: DOWN (EDGE_ERR_MODBUS_CONNECT connect ECONNREFUSED 127.0.0.1:1502)`,
    });
    expect(deviceStanding(DEVICES.unreported, SITES.offlineNeverSeen)).toEqual({ word: 'UNKNOWN', reason: 'site offline since an unknown time' });
    expect(deviceStanding(DEVICES.down, SITES.online)).toEqual({ word: 'DOWN', reason: DEVICES.down.status.message });
    expect(deviceStanding(DEVICES.unreported, SITES.online)).toEqual({ word: 'UNKNOWN', reason: '' });
  });
});

describe('addon instance standing', () => {
  const states = [undefined, 'running', 'Running', 'ready', 'failed', 'FAILED', 'error', 'degraded', 'pending', 'starting', 'unknown', 'conflict', 'stopped', 'blocked', 'invalid'];
  it.each(states.map((s) => [String(s), s] as const))('%s: hub and console agree', (_case, state) => {
    expect(model.addonInstanceStanding(state)).toBe(addonInstanceStanding(state));
  });

  it('fails only where someone must act; anything not running yet is not ready', () => {
    expect(states.map((s) => addonInstanceStanding(s))).toEqual([
      'not ready',
      'running',
      'running',
      'running',
      'failed',
      'failed',
      'failed',
      'not ready',
      'not ready',
      'not ready',
      'not ready',
      'failed',
      'not ready',
      'failed',
      'failed',
    ]);
  });
});
