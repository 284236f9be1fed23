/**
 * The shapes of EdgeX's profile and device files as this capability reads
 * and writes them: the fields of each DTO in EdgeX's order (what export
 * writes, in that order), which Device fields have a place in the Device
 * spec and which are kept aside (the `edgex.edgeadm.io/fields` annotation),
 * and the file kinds and versions an import tells apart. One statement for
 * import (files.ts) and export (export.ts).
 */
import { DeviceSpecSchema } from '../store/index.ts';

/** The annotation that keeps, as a JSON object, the EdgeX device fields the Device spec has no place for. */
export const EDGEX_FIELDS_ANNOTATION = 'edgex.edgeadm.io/fields';

export const EDGEX_VERSIONS = ['v2', 'v3'] as const;
export type EdgeXVersion = (typeof EDGEX_VERSIONS)[number];

/**
 * What a file holds: a device profile (YAML or JSON), a `deviceList:` YAML,
 * a JSON array of devices (a device service's devices file), or JSON arrays
 * of core-metadata's AddDeviceRequest / AddDeviceProfileRequest (`{ apiVersion, device }`,
 * `{ apiVersion, profile }`; a single such object is read as an array of one).
 */
export const EDGEX_FILE_KINDS = ['profile', 'deviceList', 'devices', 'addDeviceRequests', 'addDeviceProfileRequests'] as const;
export type EdgeXFileKind = (typeof EDGEX_FILE_KINDS)[number];

/** A device profile's fields (v3 DTO, with the id and timestamps core-metadata answers with), in the order export writes them. */
export const PROFILE_FIELDS = ['apiVersion', 'id', 'name', 'manufacturer', 'model', 'labels', 'description', 'deviceResources', 'deviceCommands', 'created', 'modified'] as const;
/** A deviceResource's fields; `tag` is v2's, `tags` v3's. */
export const RESOURCE_FIELDS = ['name', 'isHidden', 'description', 'tag', 'tags', 'attributes', 'properties'] as const;
/** A deviceResource's properties. */
export const PROPERTY_FIELDS = ['valueType', 'readWrite', 'units', 'minimum', 'maximum', 'defaultValue', 'mask', 'shift', 'scale', 'offset', 'base', 'assertion', 'mediaType', 'optional'] as const;
/** A deviceCommand's fields. */
export const COMMAND_FIELDS = ['name', 'isHidden', 'readWrite', 'resourceOperations', 'tags'] as const;
/** A resourceOperation's fields. */
export const OPERATION_FIELDS = ['deviceResource', 'defaultValue', 'mappings'] as const;
/** An autoEvent's fields (`onChangeThreshold` from v3.1). */
export const AUTO_EVENT_FIELDS = ['interval', 'onChange', 'onChangeThreshold', 'sourceName'] as const;

/** Device fields that are fields of the Device spec, under the same name. */
export const DEVICE_SPEC_FIELDS = ['description', 'adminState', 'protocols', 'autoEvents'] as const;
/**
 * Device fields the Device spec has no place for, kept as they are in the
 * fields annotation (in this order) and written back on export: v3's, and
 * the identity and timestamps core-metadata answers with (v2's
 * lastConnected and lastReported too).
 */
export const DEVICE_KEPT_FIELDS = ['labels', 'operatingState', 'location', 'serviceName', 'tags', 'properties', 'parent', 'id', 'created', 'modified', 'lastConnected', 'lastReported'] as const;
export type DeviceKeptField = (typeof DEVICE_KEPT_FIELDS)[number];
/** Every field of an EdgeX device, in the order export writes them (`profileName` is the Device's spec.profile). */
export const DEVICE_FIELDS = ['name', 'profileName', ...DEVICE_SPEC_FIELDS, ...DEVICE_KEPT_FIELDS] as const;

/**
 * Device spec fields that are the platform's alone (no EdgeX field holds
 * them): not exported, and kept as they are when an import replaces the Device.
 */
export const PLATFORM_DEVICE_FIELDS: readonly string[] = Object.keys(DeviceSpecSchema.properties).filter(
  (k) => k !== 'site' && k !== 'profile' && !(DEVICE_SPEC_FIELDS as readonly string[]).includes(k),
);
