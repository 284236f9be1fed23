/**
 * core-metadata's update requests (EdgeX v3), checked, and merged into the
 * EdgeX forms the site holds (its catalog): UpdateDeviceRequest,
 * DeviceProfileBasicInfoRequest, DeviceResourceRequest /
 * UpdateDeviceResourceRequest and DeviceCommandRequest /
 * UpdateDeviceCommandRequest, and the deletes of a resource or a command.
 *
 * Rules:
 * - A body is a non-empty JSON array of requests `{ apiVersion: 'v3',
 *   requestId?, <inner> }` (resources and commands also `profileName`);
 *   anything else is EDGE_ERR_EDGEX_REST_REQUEST (400) naming the field
 *   (`[2].device.labels`), and the whole request is refused, as EdgeX's
 *   validation refuses it. What the hub's import checks (value types,
 *   resource references) is left to it.
 * - Merges follow EdgeX: a field not given is left as it is; a given one
 *   replaces the old whole (labels, protocols, autoEvents, tags and
 *   properties too). `id` only identifies.
 * - Profile edits work on a copy: a request that fails (a resource already
 *   there: 409; one not there: 404; one a command still uses: 409) leaves
 *   the form as it was.
 * - Pure: no I/O. The routes (server.ts) look up, forward and answer.
 */
import { ErrEdgeXRestConflict, ErrEdgeXRestNotFound, ErrEdgeXRestRequest } from '../errors.ts';

type Obj = Record<string, unknown>;
/** Why a value does not fit a field, or undefined when it does. */
type Check = (v: unknown) => string | undefined;

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

const text: Check = (v) => (typeof v === 'string' ? undefined : 'must be text');
const name: Check = (v) => (typeof v === 'string' && v.trim() !== '' ? undefined : 'must be a non-empty text');
const bool: Check = (v) => (typeof v === 'boolean' ? undefined : 'must be true or false');
const texts: Check = (v) => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? undefined : 'must be a list of texts');
const map: Check = (v) => (isObject(v) ? undefined : 'must be an object');
const maps: Check = (v) => (isObject(v) && Object.values(v).every(isObject) ? undefined : 'must be an object of objects (one per protocol)');
const objects: Check = (v) => (Array.isArray(v) && v.every(isObject) ? undefined : 'must be a list of objects');
const any: Check = () => undefined;
const oneOf =
  (...values: string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v) ? undefined : `must be one of ${values.map((x) => `'${x}'`).join(', ')} (is ${JSON.stringify(v)})`;

/** The shape of one kind of request. */
export interface RequestShape {
  /** The field holding the object (`device`, `basicinfo`, `resource`, `deviceCommand`). */
  inner: string;
  /** Whether the request names its profile (`profileName`): resources and commands. */
  profileName: boolean;
  /** The object's fields and their checks; any other field is refused. */
  fields: Readonly<Record<string, Check>>;
  /** Fields it must have. */
  required: readonly string[];
  /** It must have a `name` or an `id`. */
  identified?: boolean;
}

/** UpdateDeviceRequest (`dtos.UpdateDevice`). */
export const UPDATE_DEVICE: RequestShape = {
  inner: 'device',
  profileName: false,
  identified: true,
  required: [],
  fields: {
    id: text, name, description: text, adminState: oneOf('LOCKED', 'UNLOCKED'), operatingState: oneOf('UP', 'DOWN', 'UNKNOWN'), labels: texts, location: any,
    serviceName: name, profileName: name, autoEvents: objects, protocols: maps, tags: map, properties: map, parent: text,
  },
};
/** DeviceProfileBasicInfoRequest (`dtos.UpdateDeviceProfileBasicInfo`). */
export const UPDATE_BASIC_INFO: RequestShape = {
  inner: 'basicinfo',
  profileName: false,
  identified: true,
  required: [],
  fields: { id: text, name, description: text, manufacturer: text, model: text, labels: texts },
};
/** DeviceResourceRequest (`dtos.DeviceResource`). */
export const ADD_RESOURCE: RequestShape = {
  inner: 'resource',
  profileName: true,
  required: ['name', 'properties'],
  fields: { name, description: text, isHidden: bool, tags: map, attributes: map, properties: map },
};
/** UpdateDeviceResourceRequest (`dtos.UpdateDeviceResource`). */
export const UPDATE_RESOURCE: RequestShape = { inner: 'resource', profileName: true, required: ['name'], fields: { name, description: text, isHidden: bool } };
/** DeviceCommandRequest (`dtos.DeviceCommand`). */
export const ADD_COMMAND: RequestShape = {
  inner: 'deviceCommand',
  profileName: true,
  required: ['name', 'readWrite', 'resourceOperations'],
  fields: { name, isHidden: bool, readWrite: oneOf('R', 'W', 'RW', 'WR'), resourceOperations: objects, tags: map },
};
/** UpdateDeviceCommandRequest (`dtos.UpdateDeviceCommand`). */
export const UPDATE_COMMAND: RequestShape = { inner: 'deviceCommand', profileName: true, required: ['name'], fields: { name, isHidden: bool } };

/** One checked request of a batch. */
export interface UpdateItem {
  /** Its place in the body (for field names in answers). */
  index: number;
  requestId?: string;
  /** The profile it edits (resources and commands). */
  profileName?: string;
  /** The inner object, as sent. */
  value: Obj;
}

/** Checks a batch body against `shape`; throws EDGE_ERR_EDGEX_REST_REQUEST naming the first field that does not fit. */
export function parseUpdates(body: unknown, shape: RequestShape): UpdateItem[] {
  if (!Array.isArray(body)) throw new ErrEdgeXRestRequest({ field: 'body', problem: `must be a JSON array of requests ({ apiVersion, ${shape.inner} })` });
  if (body.length === 0) throw new ErrEdgeXRestRequest({ field: 'body', problem: 'an empty list' });
  return body.map((req: unknown, index): UpdateItem => {
    const at = `[${index}]`;
    if (!isObject(req)) throw new ErrEdgeXRestRequest({ field: at, problem: 'must be an object' });
    const top = ['apiVersion', 'requestId', shape.inner, ...(shape.profileName ? ['profileName'] : [])];
    for (const k of Object.keys(req)) if (!top.includes(k)) throw new ErrEdgeXRestRequest({ field: `${at}.${k}`, problem: `is not a field of this request (${top.join(', ')})` });
    if (req.apiVersion !== 'v3') throw new ErrEdgeXRestRequest({ field: `${at}.apiVersion`, problem: `must be 'v3' (is ${JSON.stringify(req.apiVersion)})` });
    if (req.requestId !== undefined && typeof req.requestId !== 'string') throw new ErrEdgeXRestRequest({ field: `${at}.requestId`, problem: 'must be text' });
    if (shape.profileName && name(req.profileName) !== undefined) throw new ErrEdgeXRestRequest({ field: `${at}.profileName`, problem: name(req.profileName)! });
    const value = req[shape.inner];
    const inner = `${at}.${shape.inner}`;
    if (!isObject(value)) throw new ErrEdgeXRestRequest({ field: inner, problem: 'is required: an object' });
    for (const [k, v] of Object.entries(value)) {
      const check = shape.fields[k];
      if (!check) throw new ErrEdgeXRestRequest({ field: `${inner}.${k}`, problem: `is not a field EdgeX takes here (${Object.keys(shape.fields).join(', ')})` });
      const problem = check(v);
      if (problem !== undefined) throw new ErrEdgeXRestRequest({ field: `${inner}.${k}`, problem });
    }
    for (const k of shape.required) if (value[k] === undefined) throw new ErrEdgeXRestRequest({ field: `${inner}.${k}`, problem: 'is required' });
    if (shape.identified && value.name === undefined && value.id === undefined) throw new ErrEdgeXRestRequest({ field: `${inner}.name`, problem: 'is required (or id)' });
    return {
      index,
      value,
      ...(typeof req.requestId === 'string' ? { requestId: req.requestId } : {}),
      ...(shape.profileName ? { profileName: req.profileName as string } : {}),
    };
  });
}

/** The form with the given fields replaced whole (EdgeX's rule: not given, unchanged); `id` identifies, it is never changed. */
export function mergeFields(form: Readonly<Obj>, patch: Readonly<Obj>): Obj {
  const { id: _id, ...fields } = patch;
  return { ...form, ...fields };
}

type Section = 'deviceResources' | 'deviceCommands';
const KIND: Record<Section, string> = { deviceResources: 'device resource', deviceCommands: 'device command' };

function entries(profile: Obj, section: Section): Obj[] {
  const list = profile[section];
  return Array.isArray(list) ? (list as Obj[]) : [];
}

/**
 * A copy of the profile form with one resource or command added, updated
 * (its fields merged) or deleted; throws EDGE_ERR_EDGEX_REST_CONFLICT (an add
 * of a name already there, a delete of a resource a command uses) or
 * EDGE_ERR_EDGEX_REST_NOT_FOUND (an update or delete of a name not there).
 */
export function editProfile(form: Readonly<Obj>, section: Section, op: { add: Obj } | { update: Obj } | { delete: string }): Obj {
  const profile = structuredClone(form) as Obj;
  const list = entries(profile, section);
  const target = 'add' in op ? String(op.add.name) : 'update' in op ? String(op.update.name) : op.delete;
  const i = list.findIndex((e) => e.name === target);
  const qualified = `${String(profile.name)}/${target}`;
  if ('add' in op) {
    if (i >= 0) throw new ErrEdgeXRestConflict({ kind: KIND[section], name: qualified, reason: 'already exists' });
    profile[section] = [...list, op.add];
    return profile;
  }
  if (i < 0) throw new ErrEdgeXRestNotFound({ kind: KIND[section], name: qualified });
  if ('update' in op) {
    profile[section] = list.map((e, j) => (j === i ? { ...e, ...op.update } : e));
    return profile;
  }
  if (section === 'deviceResources') {
    const user = entries(profile, 'deviceCommands').find((c) => Array.isArray(c.resourceOperations) && (c.resourceOperations as Obj[]).some((o) => o.deviceResource === target));
    if (user) throw new ErrEdgeXRestConflict({ kind: KIND[section], name: qualified, reason: `is used by device command '${String(user.name)}': delete or change the command first` });
  }
  profile[section] = list.filter((_e, j) => j !== i);
  return profile;
}
