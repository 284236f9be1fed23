/**
 * EdgeX files out: DeviceProfiles and Devices written as EdgeX v3 reads
 * them, one profile per file (`profiles/<name>.yaml`, as a device service's
 * ProfilesDir or core-metadata's profile upload takes it) and one device list
 * (`devices/devices.yaml`, `deviceList:`, as a device service's DevicesDir
 * takes it; with encoding json, `.json` files: the profile object, and the
 * devices as a JSON array, the device service's JSON form).
 *
 * Rules:
 * - Names are the EdgeX names the resources were imported with (names.ts),
 *   a profile's in its v3 form; a device's profileName is its profile's
 *   EdgeX name. Two resources of a kind that would have one EdgeX name are
 *   refused (ErrEdgeXExportClash), never written over each other.
 * - Fields in EdgeX's order and v3's types: numeric properties as numbers,
 *   default values as text. The device fields kept at import (the
 *   `edgex.edgeadm.io/fields` annotation) are written back as they were.
 * - What EdgeX has no field for (a Device's plugin, desired values and drift
 *   policy; labels of resources) is not written, and each such field is
 *   named in `notes`: nothing is left out silently.
 * - YAML strings are double-quoted, as EdgeX's own files write them, so no
 *   reader takes `N` or `on` for a boolean.
 */
import { stringify } from 'yaml';
import { NUMERIC_PROPERTIES, numericProperty, type Resource } from '../store/index.ts';
import { ErrEdgeXExportClash } from './errors.ts';
import type { EdgeXFile } from './files.ts';
import { edgexNameOf, edgexProfileName } from './names.ts';
import {
  AUTO_EVENT_FIELDS,
  COMMAND_FIELDS,
  DEVICE_KEPT_FIELDS,
  DEVICE_SPEC_FIELDS,
  EDGEX_FIELDS_ANNOTATION,
  OPERATION_FIELDS,
  PLATFORM_DEVICE_FIELDS,
  PROFILE_FIELDS,
  PROPERTY_FIELDS,
  RESOURCE_FIELDS,
} from './shapes.ts';

export const EDGEX_EXPORT_ENCODINGS = ['yaml', 'json'] as const;
export type EdgeXExportEncoding = (typeof EDGEX_EXPORT_ENCODINGS)[number];

export interface EdgeXExportOptions {
  /** yaml (default) or json. */
  encoding?: EdgeXExportEncoding;
}

export interface EdgeXExport {
  /** Paths relative to the export's folder: `profiles/<name>.<ext>`, `devices/devices.<ext>`. */
  files: EdgeXFile[];
  /** What was not written, and why (fields EdgeX has no place for, a profile not in the export). */
  notes: string[];
}

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const asText = (v: unknown): unknown => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : v);

/** The fields of `from` named in `fields`, in that order, each through `map` when given. */
function pick(from: Obj, fields: readonly string[], map: Readonly<Record<string, (v: unknown) => unknown>> = {}): Obj {
  const out: Obj = {};
  for (const f of fields) {
    const v = from[f];
    if (v === undefined) continue;
    out[f] = map[f] ? map[f](v) : v;
  }
  return out;
}

const list =
  (each: (v: Obj) => Obj) =>
  (v: unknown): unknown =>
    Array.isArray(v) ? (v as unknown[]).map((x): unknown => (isObject(x) ? each(x) : x)) : v;

function properties(p: Obj): Obj {
  const out = pick(p, PROPERTY_FIELDS, { defaultValue: asText });
  for (const f of NUMERIC_PROPERTIES) {
    const v = out[f];
    if (typeof v === 'string') {
      const n = numericProperty(v);
      if (n === undefined) delete out[f];
      else out[f] = n;
    }
  }
  return out;
}

const operation = (o: Obj): Obj => pick(o, OPERATION_FIELDS, { defaultValue: asText });
const command = (c: Obj): Obj => pick(c, COMMAND_FIELDS, { resourceOperations: list(operation) });
const deviceResource = (r: Obj): Obj => pick(r, RESOURCE_FIELDS, { properties: (v) => (isObject(v) ? properties(v) : v) });

function profileDto(p: Resource): Obj {
  const body: Obj = {
    ...pick(p.spec as Obj, PROFILE_FIELDS, { deviceResources: list(deviceResource), deviceCommands: list(command) }),
    // v3, whatever the profile was read from; the name its EdgeX name.
    apiVersion: 'v3',
    name: edgexNameOf(p),
  };
  return pick(body, PROFILE_FIELDS);
}

function keptFields(d: Resource, notes: string[]): Obj {
  const text = d.metadata.annotations?.[EDGEX_FIELDS_ANNOTATION];
  if (text === undefined) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (isObject(v)) return v;
  } catch {
    // reported below
  }
  notes.push(`Device '${d.metadata.name}': annotation ${EDGEX_FIELDS_ANNOTATION} is not a JSON object: the EdgeX fields it should keep are not written`);
  return {};
}

function deviceDto(d: Resource, profileNames: ReadonlyMap<string, string>, notes: string[]): Obj {
  const spec = d.spec as Obj;
  const profile = String(spec.profile);
  const profileName = profileNames.get(profile);
  if (profileName === undefined) notes.push(`Device '${d.metadata.name}': its profile '${profile}' is not in the export; profileName is written as '${edgexProfileName(profile)}'`);
  const out: Obj = { name: edgexNameOf(d), profileName: profileName ?? edgexProfileName(profile) };
  Object.assign(out, pick(spec, DEVICE_SPEC_FIELDS, { autoEvents: list((e) => pick(e, AUTO_EVENT_FIELDS)) }));
  Object.assign(out, pick(keptFields(d, notes), DEVICE_KEPT_FIELDS));
  for (const f of PLATFORM_DEVICE_FIELDS) {
    if (spec[f] !== undefined) notes.push(`Device '${d.metadata.name}': spec.${f} is the platform's alone (EdgeX has no field for it): not written`);
  }
  return out;
}

/** Refuses two resources that would have one EdgeX name. */
function checkClashes(kind: string, items: readonly Resource[]): void {
  const seen = new Map<string, string>();
  for (const r of items) {
    const name = edgexNameOf(r);
    const first = seen.get(name);
    if (first !== undefined) throw new ErrEdgeXExportClash({ kind, edgexName: name, names: [first, r.metadata.name] });
    seen.set(name, r.metadata.name);
  }
}

function serialize(value: unknown, encoding: EdgeXExportEncoding): string {
  if (encoding === 'json') return `${JSON.stringify(value, null, 2)}\n`;
  return stringify(value, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN', lineWidth: 0 });
}

/**
 * EdgeX v3 files for the DeviceProfiles and Devices among `resources`
 * (other kinds are ignored), profiles and devices each in name order.
 */
export function exportEdgeX(resources: readonly Resource[], opts: EdgeXExportOptions = {}): EdgeXExport {
  const encoding = opts.encoding ?? 'yaml';
  const byName = (a: Resource, b: Resource): number => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0);
  const profiles = resources.filter((r) => r.kind === 'DeviceProfile').sort(byName);
  const devices = resources.filter((r) => r.kind === 'Device').sort(byName);
  checkClashes('DeviceProfile', profiles);
  checkClashes('Device', devices);
  const notes: string[] = [];
  const labelled = (r: Resource): void => {
    if (r.metadata.labels && Object.keys(r.metadata.labels).length > 0) notes.push(`${r.kind} '${r.metadata.name}': metadata.labels are the platform's alone (EdgeX labels are a device's or profile's own list): not written`);
  };
  const files: EdgeXFile[] = profiles.map((p) => {
    labelled(p);
    return { name: `profiles/${p.metadata.name}.${encoding}`, content: serialize(profileDto(p), encoding) };
  });
  if (devices.length > 0) {
    const profileNames = new Map(profiles.map((p) => [p.metadata.name, edgexNameOf(p)]));
    const dtos = devices.map((d) => {
      labelled(d);
      return deviceDto(d, profileNames, notes);
    });
    files.push({ name: `devices/devices.${encoding}`, content: serialize(encoding === 'json' ? dtos : { deviceList: dtos }, encoding) });
  }
  return { files, notes };
}
