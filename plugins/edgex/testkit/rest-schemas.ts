/**
 * JSON Schemas of the EdgeX v3 answers the REST API gives, written from
 * EdgeX's OpenAPI documents (edgex-go openapi/core-metadata.yaml,
 * core-data.yaml, core-command.yaml) and the DTOs they describe
 * (go-mod-core-contracts v3 dtos, dtos/responses, dtos/common): required
 * fields and enums as those documents state them, no field they do not
 * name. Tests check every answer against them with ajv, and the request
 * bodies they send to core-metadata's writes (REQUEST_SCHEMAS).
 */

type Schema = Record<string, unknown>;

const str = { type: 'string' };
const int = { type: 'integer' };
const bool = { type: 'boolean' };
const strings = { type: 'array', items: str };
const object = { type: 'object' };

const baseProps = { apiVersion: { const: 'v3' }, requestId: str, message: str, statusCode: int };

/** `common.BaseResponse`, and every error body. */
export const BaseResponse: Schema = { type: 'object', required: ['apiVersion', 'statusCode'], additionalProperties: false, properties: baseProps };

/** A BaseResponse with more fields (`common.BaseWithTotalCountResponse` and friends). */
function response(required: string[], props: Record<string, unknown>): Schema {
  return { type: 'object', required: ['apiVersion', 'statusCode', ...required], additionalProperties: false, properties: { ...baseProps, ...props } };
}

export const PingResponse: Schema = {
  type: 'object',
  required: ['apiVersion', 'timestamp', 'serviceName'],
  additionalProperties: false,
  properties: { apiVersion: { const: 'v3' }, timestamp: str, serviceName: str },
};
export const VersionResponse: Schema = {
  type: 'object',
  required: ['apiVersion', 'version', 'serviceName'],
  additionalProperties: false,
  properties: { apiVersion: { const: 'v3' }, version: str, serviceName: str },
};

const READ_WRITE = { enum: ['R', 'W', 'RW', 'WR'] };
const VALUE_TYPES = {
  enum: [
    'Bool', 'String', 'Uint8', 'Uint16', 'Uint32', 'Uint64', 'Int8', 'Int16', 'Int32', 'Int64', 'Float32', 'Float64', 'Binary', 'Object',
    'BoolArray', 'Uint8Array', 'Uint16Array', 'Uint32Array', 'Uint64Array', 'Int8Array', 'Int16Array', 'Int32Array', 'Int64Array', 'Float32Array', 'Float64Array', 'ObjectArray',
  ],
};

const ResourceProperties = {
  type: 'object',
  required: ['valueType', 'readWrite'],
  additionalProperties: false,
  properties: {
    valueType: VALUE_TYPES, readWrite: READ_WRITE, units: str, minimum: { type: 'number' }, maximum: { type: 'number' }, defaultValue: str,
    mask: { type: 'number' }, shift: { type: 'number' }, scale: { type: 'number' }, offset: { type: 'number' }, base: { type: 'number' },
    assertion: str, mediaType: str, optional: object,
  },
};
const DeviceResource = {
  type: 'object',
  required: ['name', 'properties'],
  additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1 }, isHidden: bool, description: str, tags: object, attributes: object, properties: ResourceProperties },
};
const DeviceCommand = {
  type: 'object',
  required: ['name', 'readWrite', 'resourceOperations'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1 }, isHidden: bool, readWrite: READ_WRITE, tags: object,
    resourceOperations: { type: 'array', items: { type: 'object', required: ['deviceResource'], additionalProperties: false, properties: { deviceResource: str, defaultValue: str, mappings: object } } },
  },
};
/** `dtos.DeviceProfile`. */
export const DeviceProfile: Schema = {
  type: 'object',
  required: ['name', 'deviceResources'],
  additionalProperties: false,
  properties: {
    apiVersion: str, id: str, name: { type: 'string', minLength: 1 }, manufacturer: str, model: str, labels: strings, description: str,
    deviceResources: { type: 'array', items: DeviceResource }, deviceCommands: { type: 'array', items: DeviceCommand }, created: int, modified: int,
  },
};

const AutoEvent = {
  type: 'object',
  required: ['interval', 'sourceName'],
  additionalProperties: false,
  properties: { interval: str, onChange: bool, onChangeThreshold: { type: 'number' }, sourceName: str },
};
/** `dtos.Device`. */
export const Device: Schema = {
  type: 'object',
  required: ['name', 'adminState', 'operatingState', 'serviceName', 'profileName', 'protocols'],
  additionalProperties: false,
  properties: {
    id: str, name: { type: 'string', minLength: 1 }, description: str, adminState: { enum: ['LOCKED', 'UNLOCKED'] }, operatingState: { enum: ['UP', 'DOWN', 'UNKNOWN'] },
    labels: strings, location: {}, serviceName: { type: 'string', minLength: 1 }, profileName: { type: 'string', minLength: 1 },
    autoEvents: { type: 'array', items: AutoEvent }, protocols: { type: 'object', additionalProperties: { type: 'object' } },
    tags: object, properties: object, parent: str, created: int, modified: int, lastConnected: int, lastReported: int,
  },
};
/** `dtos.DeviceService`. */
export const DeviceService: Schema = {
  type: 'object',
  required: ['name', 'baseAddress', 'adminState'],
  additionalProperties: false,
  properties: { id: str, name: { type: 'string', minLength: 1 }, description: str, labels: strings, baseAddress: str, adminState: { enum: ['LOCKED', 'UNLOCKED'] }, properties: object, created: int, modified: int },
};

const readingBase = {
  id: str, origin: int, deviceName: str, resourceName: str, profileName: str, valueType: VALUE_TYPES, units: str, tags: object,
};
/** `dtos.BaseReading` with its SimpleReading, BinaryReading, ObjectReading or NullReading part. */
export const Reading: Schema = {
  type: 'object',
  required: ['id', 'origin', 'deviceName', 'resourceName', 'profileName', 'valueType'],
  additionalProperties: false,
  properties: { ...readingBase, value: { type: ['string', 'null'] }, binaryValue: { type: ['string', 'null'] }, mediaType: str, objectValue: {} },
  anyOf: [{ required: ['value'] }, { required: ['binaryValue', 'mediaType'] }, { required: ['objectValue'] }],
};
/** `dtos.Event`. */
export const Event: Schema = {
  type: 'object',
  required: ['apiVersion', 'id', 'deviceName', 'profileName', 'sourceName', 'origin', 'readings'],
  additionalProperties: false,
  properties: { apiVersion: { const: 'v3' }, id: str, deviceName: str, profileName: str, sourceName: str, origin: int, readings: { type: 'array', minItems: 1, items: Reading }, tags: object },
};

const CoreCommand = {
  type: 'object',
  required: ['name', 'path', 'url'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1 }, get: bool, set: bool, path: str, url: str,
    parameters: { type: 'array', items: { type: 'object', required: ['resourceName', 'valueType'], additionalProperties: false, properties: { resourceName: str, valueType: VALUE_TYPES } } },
  },
  anyOf: [{ required: ['get'] }, { required: ['set'] }],
};
/** `dtos.DeviceCoreCommand`. */
export const DeviceCoreCommand: Schema = {
  type: 'object',
  required: ['deviceName', 'profileName'],
  additionalProperties: false,
  properties: { deviceName: str, profileName: str, coreCommands: { type: 'array', items: CoreCommand } },
};

const request = (inner: string, item: Schema, profileName = false): Schema => ({
  type: 'object',
  required: ['apiVersion', inner, ...(profileName ? ['profileName'] : [])],
  additionalProperties: false,
  properties: { apiVersion: { const: 'v3' }, requestId: str, [inner]: item, ...(profileName ? { profileName: { type: 'string', minLength: 1 } } : {}) },
});
const requests = (item: Schema): Schema => ({ type: 'array', minItems: 1, items: item });
const deviceFields = Device.properties as Record<string, unknown>;
const profileFields = DeviceProfile.properties as Record<string, unknown>;

/** `dtos.UpdateDevice`: every field optional (not given: unchanged), named by name or id. */
const UpdateDevice: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(['id', 'name', 'description', 'adminState', 'operatingState', 'labels', 'location', 'serviceName', 'profileName', 'autoEvents', 'protocols', 'tags', 'properties', 'parent'].map((k) => [k, deviceFields[k]])),
  anyOf: [{ required: ['name'] }, { required: ['id'] }],
};
/** `dtos.UpdateDeviceProfileBasicInfo`. */
const UpdateDeviceProfileBasicInfo: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(['id', 'name', 'description', 'manufacturer', 'model', 'labels'].map((k) => [k, profileFields[k]])),
  anyOf: [{ required: ['name'] }, { required: ['id'] }],
};
/** `dtos.UpdateDeviceResource`. */
const UpdateDeviceResource: Schema = { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1 }, description: str, isHidden: bool } };
/** `dtos.UpdateDeviceCommand`. */
const UpdateDeviceCommand: Schema = { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1 }, isHidden: bool } };

/** The request bodies of core-metadata's writes (arrays of requests), by the name of their request DTO; tests check what they send. */
export const REQUEST_SCHEMAS = {
  UpdateDeviceRequests: requests(request('device', UpdateDevice)),
  DeviceProfileBasicInfoRequests: requests(request('basicinfo', UpdateDeviceProfileBasicInfo)),
  DeviceResourceRequests: requests(request('resource', DeviceResource, true)),
  UpdateDeviceResourceRequests: requests(request('resource', UpdateDeviceResource, true)),
  DeviceCommandRequests: requests(request('deviceCommand', DeviceCommand, true)),
  UpdateDeviceCommandRequests: requests(request('deviceCommand', UpdateDeviceCommand, true)),
} as const;
export type RequestName = keyof typeof REQUEST_SCHEMAS;

const many = (field: string, item: Schema): Schema => response(['totalCount', field], { totalCount: int, [field]: { type: 'array', items: item } });
const one = (field: string, item: Schema): Schema => response([field], { [field]: item });

/** Every answer's schema, by the name of its response DTO. */
export const SCHEMAS = {
  BaseResponse,
  /** 207 Multi-Status of a POST or PATCH of requests: one BaseResponse per request. */
  BaseResponses: { type: 'array', minItems: 1, items: BaseResponse },
  /** `common.BaseWithIdResponse` (a profile upload's answer). */
  BaseWithIdResponse: response([], { id: str }),
  PingResponse,
  VersionResponse,
  CountResponse: response(['Count'], { Count: int }),
  MultiDeviceProfilesResponse: many('profiles', DeviceProfile),
  DeviceProfileResponse: one('profile', DeviceProfile),
  MultiDevicesResponse: many('devices', Device),
  DeviceResponse: one('device', Device),
  MultiDeviceServicesResponse: many('services', DeviceService),
  DeviceServiceResponse: one('service', DeviceService),
  MultiEventsResponse: many('events', Event),
  MultiReadingsResponse: many('readings', Reading),
  EventResponse: one('event', Event),
  MultiDeviceCoreCommandsResponse: many('deviceCoreCommands', DeviceCoreCommand),
  DeviceCoreCommandResponse: one('deviceCoreCommand', DeviceCoreCommand),
} as const;
export type ResponseName = keyof typeof SCHEMAS;
