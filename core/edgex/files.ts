/**
 * EdgeX files in: device profiles (YAML or JSON, v2 or v3), `deviceList:`
 * YAML, JSON device arrays, and core-metadata's AddDeviceRequest and
 * AddDeviceProfileRequest arrays become DeviceProfile and Device resources.
 *
 * Rules:
 * - Every problem of every file is reported at once, each with its file and
 *   the path of the field in that file (`modbus.yaml:
 *   deviceResources[3].properties.valueType`). The resources are checked by
 *   the store's own validation (`prepareResource`), whose paths are put back
 *   into the file's terms; this file checks only what the store cannot see
 *   (the file's form, names, the fields kept aside, references).
 * - Names go through the one mapping of names.ts, for the names and for the
 *   references to them (`profileName`). Two EdgeX names meeting in one
 *   resource name, or one defined twice, is a problem naming both places.
 * - What comes in is put in EdgeX v3's form, as EdgeX itself would write it
 *   today: numeric properties written as text (v2) become numbers (an empty
 *   one means unset), default values and mapping values become text, a
 *   profile's name its v3 form. So import → export (v3) → import gives the
 *   same resources.
 * - Device fields the Device spec has no place for (labels, location, tags,
 *   properties, serviceName, operatingState, ids and timestamps) are kept
 *   as they are in the `edgex.edgeadm.io/fields` annotation; `requestId` of
 *   a request and a profile's `apiVersion` are not kept (export writes v3).
 * - Nothing here reads the store: what the hub holds is passed in
 *   (`existing`), and then references and name clashes with it are checked too.
 */
import { parseAllDocuments } from 'yaml';
import { dns1123LabelProblem } from '../kernel/index.ts';
import {
  API_VERSION,
  NUMERIC_PROPERTIES,
  numericProperty,
  prepareResource,
  readSourceProblem,
  type DeviceObject,
  type DeviceProfileObject,
  type Kind,
  type ProfileSources,
  type Resource,
} from '../store/index.ts';
import { ErrEdgeXSite, type EdgeXProblem } from './errors.ts';
import { EDGEX_NAME_ANNOTATION, edgexProfileName, edgexResourceName } from './names.ts';
import {
  DEVICE_FIELDS,
  DEVICE_KEPT_FIELDS,
  DEVICE_SPEC_FIELDS,
  EDGEX_FIELDS_ANNOTATION,
  EDGEX_VERSIONS,
  PLATFORM_DEVICE_FIELDS,
  type DeviceKeptField,
  type EdgeXFileKind,
  type EdgeXVersion,
} from './shapes.ts';

/** A file as given: its name (as problems name it) and its text. */
export interface EdgeXFile {
  name: string;
  content: string;
}

/** What a file was read as; absent when it could not be told. */
export interface EdgeXFileInfo {
  name: string;
  kind?: EdgeXFileKind;
  version?: EdgeXVersion;
}

/** Where a resource came from: its file and the path of its object in that file ('' for the whole file). */
export interface EdgeXOrigin {
  file: string;
  path: string;
}

export interface EdgeXImportOptions {
  /** The site the devices are put at. */
  site: string;
  /**
   * What the hub holds. When given, a device's profileName must name a
   * profile of these files or one of `profiles`, and a resource of the hub
   * with the same name must be the same EdgeX thing (its kept EdgeX name)
   * and, for a Device, at the same site.
   */
  existing?: { profiles: readonly Resource[]; devices: readonly Resource[] };
}

export interface ParsedEdgeX {
  /** The profiles without a problem, as the store would keep them (validated and normalised), in file order. */
  profiles: DeviceProfileObject[];
  /** The devices without a problem, likewise. */
  devices: DeviceObject[];
  /** Every problem of every file; none means everything above is sound. */
  problems: EdgeXProblem[];
  files: EdgeXFileInfo[];
  /** Where each resource came from, by `originKey(kind, name)`. */
  origins: Record<string, EdgeXOrigin>;
}

/** The key of `ParsedEdgeX.origins` for a resource. */
export const originKey = (kind: Kind, name: string): string => `${kind}/${name}`;

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `base` + `key`: `deviceList[2]` + `name` → `deviceList[2].name`; '' + `name` → `name`. */
function at(base: string, key: string): string {
  if (base === '') return key;
  if (key === '') return base;
  return key.startsWith('[') ? `${base}${key}` : `${base}.${key}`;
}

/** A name as EdgeX reads it: text that is not blank, or a number YAML wrote without quotes (EdgeX reads `name: 1234` as "1234"). */
function nameText(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return typeof v === 'string' && v.trim() !== '' ? v : undefined;
}

/** One thing read from a file, before names are checked across files. */
interface Candidate {
  kind: 'DeviceProfile' | 'Device';
  edgexName: string;
  /** The resource name, undefined when the EdgeX name maps to none (already reported). */
  name: string | undefined;
  file: string;
  path: string;
  /** The store's normalised object; undefined when the store refused it (reported). */
  resource: Resource | undefined;
  /** No problem was found with it (so far). */
  sound: boolean;
  /** Devices: the profile reference as written, its v3 form and the resource name it maps to. */
  profileRef?: { written: string; edgexName: string; name: string | undefined };
}

class Reader {
  readonly problems: EdgeXProblem[] = [];
  readonly candidates: Candidate[] = [];
  readonly files: EdgeXFileInfo[] = [];
  constructor(private readonly site: string) {}

  problem(file: string, field: string, message: string): void {
    this.problems.push({ file, field, message });
  }

  read(file: EdgeXFile): void {
    const info: EdgeXFileInfo = { name: file.name };
    this.files.push(info);
    if (/\.toml$/i.test(file.name)) {
      this.problem(file.name, '', 'is a TOML device list, which is not read: write it as YAML (`deviceList:`) or JSON');
      return;
    }
    const value = this.document(file);
    if (value === undefined) return;
    if (Array.isArray(value)) this.readArray(file.name, value, info);
    else if (isObject(value)) this.readObject(file.name, value, info);
    else this.problem(file.name, '', `is not an EdgeX file: it holds a ${value === null ? 'null' : typeof value}, not a profile or a device list`);
  }

  /** The file's one YAML (or JSON) document; undefined when it has none, several, or a syntax error (reported). */
  private document(file: EdgeXFile): unknown {
    const parsed = parseAllDocuments(file.content, { uniqueKeys: true });
    const docs = (Array.isArray(parsed) ? parsed : [parsed]).filter((d) => d.contents !== null || d.errors.length > 0);
    const errors = docs.flatMap((d) => d.errors);
    if (errors.length > 0) {
      for (const e of errors) this.problem(file.name, '', `is not valid YAML or JSON: ${(e.message.split('\n')[0] ?? '').replace(/:$/, '')}`);
      return undefined;
    }
    if (docs.length === 0) {
      this.problem(file.name, '', 'is empty');
      return undefined;
    }
    if (docs.length > 1) {
      this.problem(file.name, '', `holds ${docs.length} YAML documents: EdgeX reads one per file`);
      return undefined;
    }
    return docs[0]!.toJS({ maxAliasCount: 1000 }) as unknown;
  }

  private readObject(file: string, o: Obj, info: EdgeXFileInfo): void {
    if ('deviceList' in o) {
      info.kind = 'deviceList';
      // Device services read `deviceList:` YAML since v3 (v2 read TOML and JSON).
      info.version = 'v3';
      for (const k of Object.keys(o)) if (k !== 'deviceList') this.problem(file, k, 'is not a field of a device list (it has only deviceList)');
      if (!Array.isArray(o.deviceList)) {
        this.problem(file, 'deviceList', 'must be a list of devices');
        return;
      }
      o.deviceList.forEach((d, i) => this.device(file, d, `deviceList[${i}]`));
      return;
    }
    if ('device' in o || 'profile' in o) {
      this.readArray(file, [o], info, true);
      return;
    }
    if ('deviceResources' in o || 'deviceCommands' in o || 'coreCommands' in o) {
      info.kind = 'profile';
      info.version = this.profileVersion(file, o, '');
      this.profile(file, o, '');
      return;
    }
    this.problem(file, '', 'is not an EdgeX file: expected a device profile (deviceResources), a device list (deviceList), or a JSON array of devices or of AddDeviceRequest / AddDeviceProfileRequest');
  }

  private readArray(file: string, list: unknown[], info: EdgeXFileInfo, single = false): void {
    if (list.length === 0) {
      this.problem(file, '', 'is an empty list');
      return;
    }
    const kindOf = (v: unknown): EdgeXFileKind | undefined =>
      !isObject(v) ? undefined : 'device' in v ? 'addDeviceRequests' : 'profile' in v ? 'addDeviceProfileRequests' : 'deviceResources' in v ? 'profile' : 'devices';
    const kind = kindOf(list[0]);
    if (kind === 'profile' || kind === undefined) {
      this.problem(file, '[0]', kind === 'profile' ? 'is a device profile: EdgeX takes one profile per file, or an AddDeviceProfileRequest array ({ apiVersion, profile })' : 'must be an object');
      return;
    }
    info.kind = kind;
    const base = (i: number): string => (single ? '' : `[${i}]`);
    list.forEach((item, i) => {
      const since = this.problems.length;
      const k = kindOf(item);
      if (k !== kind) {
        this.problem(file, base(i), `is ${k === undefined ? 'not an object' : `a ${describeKind(k)}`}, but this file is a list of ${describeKind(kind)}`);
        return;
      }
      if (kind === 'devices') {
        this.device(file, item, base(i));
        return;
      }
      const req = item as Obj;
      const inner = kind === 'addDeviceRequests' ? 'device' : 'profile';
      for (const key of Object.keys(req)) {
        if (key !== inner && key !== 'apiVersion' && key !== 'requestId') this.problem(file, at(base(i), key), `is not a field of an ${kind === 'addDeviceRequests' ? 'AddDeviceRequest' : 'AddDeviceProfileRequest'} (apiVersion, requestId, ${inner})`);
      }
      const version = this.apiVersion(file, req.apiVersion, at(base(i), 'apiVersion'), true);
      info.version ??= version;
      if (req.requestId !== undefined && typeof req.requestId !== 'string') this.problem(file, at(base(i), 'requestId'), 'must be text');
      if (kind === 'addDeviceRequests') this.device(file, req.device, at(base(i), 'device'), since);
      else if (!isObject(req.profile)) this.problem(file, at(base(i), 'profile'), 'must be a device profile (an object)');
      else this.profile(file, req.profile, at(base(i), 'profile'), since);
    });
    if (kind === 'devices') info.version = devicesVersion(list);
  }

  private apiVersion(file: string, v: unknown, field: string, required: boolean): EdgeXVersion | undefined {
    if (v === undefined && !required) return undefined;
    if (typeof v === 'string' && (EDGEX_VERSIONS as readonly string[]).includes(v)) return v as EdgeXVersion;
    this.problem(file, field, v === undefined ? "is required: 'v2' or 'v3'" : `must be 'v2' or 'v3' (is ${JSON.stringify(v)}): only EdgeX v2 and v3 are read`);
    return undefined;
  }

  /** Declared (apiVersion), else v2 when a numeric property is written as text or a resource has v2's `tag`, else v3. */
  private profileVersion(file: string, o: Obj, base: string): EdgeXVersion | undefined {
    const declared = this.apiVersion(file, o.apiVersion, at(base, 'apiVersion'), false);
    if (declared) return declared;
    const resources = Array.isArray(o.deviceResources) ? o.deviceResources : [];
    const v2 = resources.some((r) => isObject(r) && ('tag' in r || (isObject(r.properties) && NUMERIC_PROPERTIES.some((p) => typeof (r.properties as Obj)[p] === 'string'))));
    return v2 ? 'v2' : 'v3';
  }

  /** EdgeX v1's profile form (properties.value/units, get/set, coreCommands): one problem instead of a hundred. */
  private v1Field(o: Obj): string | undefined {
    if ('coreCommands' in o) return 'coreCommands';
    const resources = Array.isArray(o.deviceResources) ? o.deviceResources : [];
    const r = resources.findIndex((x) => isObject(x) && isObject(x.properties) && isObject(x.properties.value));
    if (r >= 0) return `deviceResources[${r}].properties.value`;
    const commands = Array.isArray(o.deviceCommands) ? o.deviceCommands : [];
    const c = commands.findIndex((x) => isObject(x) && ('get' in x || 'set' in x));
    return c >= 0 ? `deviceCommands[${c}]` : undefined;
  }

  private profile(file: string, o: Obj, base: string, since = this.problems.length): void {
    const v1 = this.v1Field(o);
    if (v1 !== undefined) {
      this.problem(file, at(base, v1), 'is EdgeX v1 profile form (properties.value and units, get/set, coreCommands): only v2 and v3 profiles are read');
      return;
    }
    if (base !== '') this.profileVersion(file, o, base);
    const nameField = at(base, 'name');
    const written = nameText(o.name);
    if (written === undefined) this.problem(file, nameField, o.name === undefined ? "is required: the profile's name" : 'must be a non-empty text');
    const edgexName = written === undefined ? undefined : edgexProfileName(written);
    const name = edgexName === undefined ? undefined : this.resourceName(file, nameField, edgexName);
    const { name: _name, apiVersion: _apiVersion, ...rest } = o;
    const spec = toV3Profile(rest);
    const resource = this.prepare(file, base, {
      apiVersion: API_VERSION,
      kind: 'DeviceProfile',
      metadata: { name: name ?? 'unnamed', ...(edgexName === undefined ? {} : { annotations: { [EDGEX_NAME_ANNOTATION]: edgexName } }) },
      spec,
    }, name !== undefined, profileFieldOf);
    if (edgexName !== undefined) this.candidates.push({ kind: 'DeviceProfile', edgexName, name, file, path: base, resource, sound: this.problems.length === since });
  }

  private device(file: string, d: unknown, base: string, since = this.problems.length): void {
    if (!isObject(d)) {
      this.problem(file, base, 'must be a device (an object)');
      return;
    }
    for (const k of Object.keys(d)) {
      if (!(DEVICE_FIELDS as readonly string[]).includes(k)) this.problem(file, at(base, k), `is not a field of an EdgeX device (v2/v3: ${DEVICE_FIELDS.join(', ')})`);
    }
    const nameField = at(base, 'name');
    const edgexName = nameText(d.name);
    if (edgexName === undefined) this.problem(file, nameField, d.name === undefined ? "is required: the device's name" : 'must be a non-empty text');
    const name = edgexName === undefined ? undefined : this.resourceName(file, nameField, edgexName);

    let profileRef: Candidate['profileRef'];
    const refField = at(base, 'profileName');
    const written = nameText(d.profileName);
    if (written !== undefined) {
      const refEdgex = edgexProfileName(written);
      profileRef = { written, edgexName: refEdgex, name: this.resourceName(file, refField, refEdgex) };
    } else {
      this.problem(file, refField, d.profileName === undefined ? 'is required: a device runs by its profile' : 'must be a non-empty text');
    }

    const kept = this.keptFields(file, base, d);
    const annotations: Record<string, string> = {};
    if (edgexName !== undefined) annotations[EDGEX_NAME_ANNOTATION] = edgexName;
    if (Object.keys(kept).length > 0) annotations[EDGEX_FIELDS_ANNOTATION] = JSON.stringify(kept);
    const spec: Obj = { site: this.site, profile: profileRef?.name ?? 'unnamed' };
    for (const f of DEVICE_SPEC_FIELDS) if (d[f] !== undefined) spec[f] = d[f];
    const resource = this.prepare(
      file,
      base,
      { apiVersion: API_VERSION, kind: 'Device', metadata: { name: name ?? 'unnamed', ...(Object.keys(annotations).length > 0 ? { annotations } : {}) }, spec },
      name !== undefined,
      (p) => deviceFieldOf(p, profileRef?.name !== undefined),
    );
    if (edgexName !== undefined) this.candidates.push({ kind: 'Device', edgexName, name, file, path: base, resource, sound: this.problems.length === since, ...(profileRef ? { profileRef } : {}) });
  }

  /** The device fields kept aside, checked for the types EdgeX gives them, in DEVICE_KEPT_FIELDS order. */
  private keptFields(file: string, base: string, d: Obj): Obj {
    const out: Obj = {};
    for (const f of DEVICE_KEPT_FIELDS) {
      const v = d[f];
      if (v === undefined || v === null) continue;
      const problem = keptFieldProblem(f, v);
      if (problem !== undefined) this.problem(file, at(base, f), problem);
      else out[f] = v;
    }
    return out;
  }

  private resourceName(file: string, field: string, edgexName: string): string | undefined {
    const name = edgexResourceName(edgexName);
    if (name === undefined) this.problem(file, field, `'${edgexName}' has no letter or digit, so it maps to no resource name`);
    return name;
  }

  /** The store's normalised copy of `obj`, or undefined with its problems reported in the file's terms. */
  private prepare(file: string, base: string, obj: Resource, named: boolean, fieldOf: (storePath: string) => string | undefined): Resource | undefined {
    const r = prepareResource(obj);
    if (r.ok) return r.value;
    for (const issue of r.issues) {
      if (issue.path.startsWith('metadata.name') && !named) continue;
      const field = fieldOf(issue.path);
      // The store's messages name other fields by their spec paths: say them in the file's terms too.
      if (field !== undefined) this.problem(file, at(base, field), issue.message.replace(/\bspec\.([A-Za-z])/g, (_m, c: string) => `${base === '' ? '' : `${base}.`}${c}`));
    }
    return undefined;
  }
}

function describeKind(kind: EdgeXFileKind): string {
  return { profile: 'device profile', deviceList: 'device list', devices: 'devices', addDeviceRequests: 'AddDeviceRequests', addDeviceProfileRequests: 'AddDeviceProfileRequests' }[kind];
}

/** A JSON device list is v2 when all its protocol properties are text and no device uses a field of v3 only; else v3. */
function devicesVersion(list: readonly unknown[]): EdgeXVersion {
  const v3 = list.some((d) => {
    if (!isObject(d)) return false;
    if ('tags' in d || 'properties' in d || 'parent' in d) return true;
    if (Array.isArray(d.autoEvents) && d.autoEvents.some((e) => isObject(e) && 'onChangeThreshold' in e)) return true;
    return isObject(d.protocols) && Object.values(d.protocols).some((block) => isObject(block) && Object.values(block).some((v) => typeof v !== 'string'));
  });
  return v3 ? 'v3' : 'v2';
}

function keptFieldProblem(field: DeviceKeptField, v: unknown): string | undefined {
  switch (field) {
    case 'labels':
      return Array.isArray(v) && v.every((l) => typeof l === 'string') ? undefined : 'must be a list of texts';
    case 'operatingState':
      return v === 'UP' || v === 'DOWN' || v === 'UNKNOWN' ? undefined : `must be one of 'UP', 'DOWN', 'UNKNOWN' (is ${JSON.stringify(v)})`;
    case 'serviceName':
    case 'parent':
    case 'id':
      return typeof v === 'string' ? undefined : 'must be text';
    case 'tags':
    case 'properties':
      return isObject(v) ? undefined : 'must be a map';
    case 'created':
    case 'modified':
    case 'lastConnected':
    case 'lastReported':
      return Number.isInteger(v) ? undefined : 'must be an integer (milliseconds since the epoch)';
    case 'location':
      return undefined;
  }
}

/** A store path of a DeviceProfile as a path of the EdgeX profile. */
function profileFieldOf(storePath: string): string | undefined {
  if (storePath === 'spec') return '';
  if (storePath.startsWith('spec.')) return storePath.slice(5);
  if (storePath.startsWith('metadata.name')) return 'name';
  return storePath.startsWith('metadata') ? 'name' : storePath;
}

/** A store path of a Device as a path of the EdgeX device; undefined for what the import itself set (the site). */
function deviceFieldOf(storePath: string, profileNamed: boolean): string | undefined {
  if (storePath === 'spec') return '';
  if (storePath.startsWith('spec.site')) return undefined;
  if (storePath.startsWith('spec.profile')) return profileNamed ? 'profileName' : undefined;
  if (storePath.startsWith('spec.')) return storePath.slice(5);
  if (storePath.startsWith('metadata.annotations')) return '';
  return storePath.startsWith('metadata') ? 'name' : storePath;
}

/** Text as EdgeX v3 holds it (default values, mapping values): numbers and booleans written without quotes become their text. */
const asText = (v: unknown): unknown => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : v);

/** A profile body (without name and apiVersion) in v3's form; what does not have the expected shape is left for the store to report. */
function toV3Profile(body: Obj): Obj {
  const spec = structuredClone(body);
  for (const r of Array.isArray(spec.deviceResources) ? spec.deviceResources : []) {
    if (!isObject(r) || !isObject(r.properties)) continue;
    const props = r.properties;
    for (const p of NUMERIC_PROPERTIES) {
      const v = props[p];
      if (typeof v !== 'string') continue;
      const n = numericProperty(v);
      if (v.trim() === '') delete props[p];
      else if (n !== undefined) props[p] = n;
    }
    if (props.defaultValue !== undefined) props.defaultValue = asText(props.defaultValue);
  }
  for (const c of Array.isArray(spec.deviceCommands) ? spec.deviceCommands : []) {
    if (!isObject(c) || !Array.isArray(c.resourceOperations)) continue;
    for (const op of c.resourceOperations) {
      if (!isObject(op)) continue;
      if (op.defaultValue !== undefined) op.defaultValue = asText(op.defaultValue);
      if (isObject(op.mappings)) for (const [k, v] of Object.entries(op.mappings)) op.mappings[k] = asText(v);
    }
  }
  return spec;
}

const nameField = (c: Candidate): string => at(c.path, 'name');
const where = (c: Candidate): string => `${c.file}: ${nameField(c)}`;

/**
 * Reads EdgeX files into DeviceProfiles and Devices (the devices at
 * `opts.site`), with every problem of every file. Throws only for a site
 * that is not a site name.
 */
export function parseEdgeXFiles(files: readonly EdgeXFile[], opts: EdgeXImportOptions): ParsedEdgeX {
  const siteProblem = dns1123LabelProblem(opts.site);
  if (siteProblem !== undefined) throw new ErrEdgeXSite({ site: opts.site, reason: siteProblem });
  const reader = new Reader(opts.site);
  for (const f of files) reader.read(f);

  // One resource per name: a second definition, or a second EdgeX name meeting it, is a problem.
  const chosen = new Map<string, Candidate>();
  for (const c of reader.candidates) {
    if (c.name === undefined) continue;
    const key = originKey(c.kind, c.name);
    const first = chosen.get(key);
    if (!first) {
      chosen.set(key, c);
      continue;
    }
    const what = c.kind === 'Device' ? 'device' : 'profile';
    reader.problem(
      c.file,
      nameField(c),
      first.edgexName === c.edgexName
        ? `${what} '${c.edgexName}' is defined twice: also at ${where(first)}`
        : `'${c.edgexName}' and '${first.edgexName}' (${where(first)}) both map to ${c.kind} '${c.name}': rename one`,
    );
  }
  const kept = [...chosen.values()];
  const imported = new Map(kept.filter((c) => c.kind === 'DeviceProfile').map((c) => [c.name!, c]));

  const existing = opts.existing;
  const held = (list: readonly Resource[] | undefined): Map<string, Resource> => new Map((list ?? []).map((r) => [r.metadata.name, r]));
  const heldProfiles = held(existing?.profiles);
  const heldDevices = held(existing?.devices);
  const heldEdgexName = (r: Resource): string | undefined => r.metadata.annotations?.[EDGEX_NAME_ANNOTATION];

  const checkHeld = (c: Candidate): void => {
    const heldProfile = c.kind === 'DeviceProfile' ? heldProfiles.get(c.name!) : undefined;
    if (heldProfile) {
      const was = heldEdgexName(heldProfile);
      if (was !== undefined && was !== c.edgexName) reader.problem(c.file, nameField(c), `'${c.edgexName}' maps to DeviceProfile '${c.name}', which the hub holds for EdgeX profile '${was}'`);
    }
    if (c.kind !== 'Device') return;
    const device = heldDevices.get(c.name!);
    if (device) {
      const was = heldEdgexName(device);
      const site = (device.spec as { site?: unknown }).site;
      if (site !== opts.site) reader.problem(c.file, nameField(c), `Device '${c.name}' is at site '${String(site)}': a device belongs to one site (delete it there first)`);
      else if (was !== undefined && was !== c.edgexName) reader.problem(c.file, nameField(c), `'${c.edgexName}' maps to Device '${c.name}', which the hub holds for EdgeX device '${was}'`);
    }
    checkProfileRef(reader, c, imported, existing ? heldProfiles : undefined);
  };
  for (const c of kept) {
    const before = reader.problems.length;
    checkHeld(c);
    if (reader.problems.length > before) c.sound = false;
  }

  const profiles: DeviceProfileObject[] = [];
  const devices: DeviceObject[] = [];
  const origins: Record<string, EdgeXOrigin> = {};
  for (const c of kept) {
    if (!c.resource || !c.sound) continue;
    origins[originKey(c.kind, c.name!)] = { file: c.file, path: c.path };
    if (c.kind === 'DeviceProfile') profiles.push(c.resource as DeviceProfileObject);
    else devices.push(c.resource as DeviceObject);
  }
  // Each file's problems together, in the order the files were given.
  const order = new Map(files.map((f, i) => [f.name, i]));
  const problems = reader.problems.map((p, i) => ({ p, i })).sort((a, b) => (order.get(a.p.file) ?? 0) - (order.get(b.p.file) ?? 0) || a.i - b.i).map((x) => x.p);
  return { profiles, devices, problems, files: reader.files, origins };
}

/** A device's profileName must name a profile of the import or (when known) of the hub, and its autoEvents readable sources of it. */
function checkProfileRef(reader: Reader, c: Candidate, imported: ReadonlyMap<string, Candidate>, held: ReadonlyMap<string, Resource> | undefined): void {
  const ref = c.profileRef;
  if (!ref || ref.name === undefined) return;
  const refField = at(c.path, 'profileName');
  let profile: Resource | undefined = imported.get(ref.name)?.resource;
  if (imported.has(ref.name)) {
    const target = imported.get(ref.name)!;
    if (target.edgexName !== ref.edgexName) {
      reader.problem(c.file, refField, `'${ref.written}' maps to DeviceProfile '${ref.name}', which these files define as EdgeX profile '${target.edgexName}' (${where(target)})`);
      return;
    }
  } else if (held) {
    profile = held.get(ref.name);
    if (!profile) {
      reader.problem(c.file, refField, `names profile '${ref.written}' (DeviceProfile '${ref.name}'), which is neither in these files nor at the hub`);
      return;
    }
    const was = profile.metadata.annotations?.[EDGEX_NAME_ANNOTATION];
    if (was !== undefined && was !== ref.edgexName) {
      reader.problem(c.file, refField, `'${ref.written}' maps to DeviceProfile '${ref.name}', which the hub holds for EdgeX profile '${was}'`);
      return;
    }
  }
  const spec = profile?.spec as ProfileSources | undefined;
  const events = (c.resource?.spec as { autoEvents?: { sourceName: string }[] } | undefined)?.autoEvents;
  if (!spec || !events) return;
  events.forEach((e, i) => {
    const problem = readSourceProblem(spec, e.sourceName);
    if (problem !== undefined) reader.problem(c.file, at(c.path, `autoEvents[${i}].sourceName`), `profile '${ref.written}': ${problem}`);
  });
}

/**
 * The object an import writes for `imported` over `current` (the hub's
 * object of the same kind and name, if any): the imported spec and EdgeX
 * annotations, with what the platform alone holds kept from `current`: its
 * labels, its other annotations, and a Device's platform-only spec fields
 * (plugin, desired values, drift policy).
 */
export function mergeImported<R extends Resource>(imported: R, current: Resource | undefined): R {
  if (!current) return imported;
  const annotations = { ...(current.metadata.annotations ?? {}) };
  delete annotations[EDGEX_FIELDS_ANNOTATION];
  Object.assign(annotations, imported.metadata.annotations ?? {});
  const spec = { ...(imported.spec as Obj) };
  if (imported.kind === 'Device') {
    const was = current.spec as Obj;
    for (const f of PLATFORM_DEVICE_FIELDS) if (was[f] !== undefined && spec[f] === undefined) spec[f] = was[f];
  }
  return {
    ...imported,
    metadata: {
      name: imported.metadata.name,
      ...(current.metadata.labels ? { labels: current.metadata.labels } : {}),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec,
  };
}
