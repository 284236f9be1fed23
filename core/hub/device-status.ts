/**
 * Devices' status at the hub: what a site's report changes in a Device's
 * stored status (`mergeDeviceReport`), and how the hub serves it
 * (`deviceStatusView`).
 *
 * Rules:
 * - operatingState and message are the site's; a report without a message
 *   clears it. lastSeen only moves forward.
 * - `reported` is merged per resource, the newer origin winning, so a
 *   command's read-back and a reading race to the same answer.
 * - `drift` is the site's whole current view and replaces the stored one.
 * - A report that changes nothing writes nothing (each write is a revision).
 * - Served: a Device of a Site that is Offline (or unknown) is UNKNOWN, its
 *   message naming since when and the last report; the stored status stays
 *   what the site said, so nothing is written when a site goes offline and
 *   its report comes back as it was when it reconnects.
 */
import { isDeepStrictEqual } from 'node:util';
import Type, { type Static } from 'typebox';
import { literalUnion } from '../kernel/index.ts';
import { DeviceDriftSchema, OPERATING_STATES, ReportedValueSchema, type DeviceObject, type DeviceStatus, type Resource, type ResourceStore, type SiteObject } from '../store/index.ts';

/** One device in a site's `PUT .../device-status`. */
export const DeviceReportSchema = Type.Object(
  {
    operatingState: literalUnion(OPERATING_STATES),
    message: Type.Optional(Type.String({ maxLength: 4096 })),
    lastSeen: Type.Optional(Type.String({ format: 'date-time' })),
    /** The newest value of writable resources, by resource name. */
    reported: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 256 }), ReportedValueSchema, { maxProperties: 1024 })),
    /** The site's current drift from the desired values, by resource name; replaces the stored one. */
    drift: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 256 }), DeviceDriftSchema, { maxProperties: 1024 })),
  },
  { additionalProperties: false },
);
export type DeviceReport = Static<typeof DeviceReportSchema>;

/** The status after a site's report, or undefined when the report changes nothing. */
export function mergeDeviceReport(current: DeviceStatus | undefined, report: DeviceReport): DeviceStatus | undefined {
  const { message: _message, drift: _drift, ...rest } = current ?? {};
  const next: DeviceStatus = { ...rest, operatingState: report.operatingState };
  if (report.message) next.message = report.message;
  if (report.lastSeen && (!current?.lastSeen || Date.parse(report.lastSeen) > Date.parse(current.lastSeen))) next.lastSeen = report.lastSeen;
  if (report.reported) {
    const reported = { ...(current?.reported ?? {}) };
    for (const [r, v] of Object.entries(report.reported)) if (!reported[r] || reported[r].origin <= v.origin) reported[r] = v;
    next.reported = reported;
  }
  const drift = report.drift ?? current?.drift;
  if (drift && Object.keys(drift).length > 0) next.drift = drift;
  return isDeepStrictEqual(next, current ?? {}) ? undefined : next;
}

/** The site's own words, for a message that replaces them. */
function lastReport(s: DeviceStatus | undefined): string {
  return `${s?.operatingState ?? 'no report'}${s?.message ? ` (${s.message})` : ''}`;
}

/**
 * Reads the Sites once and returns how the hub serves an object: a Device of
 * a Site that is Offline or unknown as UNKNOWN (see the header), anything
 * else as it is.
 */
export async function deviceStatusView(store: ResourceStore): Promise<(obj: Resource) => Resource> {
  const sites = new Map((await store.list<SiteObject>('Site')).items.map((s) => [s.metadata.name, s]));
  return (obj) => {
    if (obj.kind !== 'Device') return obj;
    const d = obj as DeviceObject;
    const site = sites.get(d.spec.site);
    if (site && site.status?.phase !== 'Offline') return obj;
    if (!d.status?.operatingState) return obj;
    const why = site ? `site '${d.spec.site}' offline since ${site.status?.lastSeen ?? 'an unknown time'}` : `no Site '${d.spec.site}' at the hub`;
    return { ...d, status: { ...d.status, operatingState: 'UNKNOWN', message: `${why}; last report: ${lastReport(d.status)}`.slice(0, 4096) } };
  };
}
