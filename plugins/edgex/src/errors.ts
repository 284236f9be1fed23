/**
 * Coded errors of the edgex plugin, and the codes of its device protocol
 * issues. What an EdgeX event on the bus can have wrong with it is the SDK's
 * (EDGE_ERR_EDGEX_ENVELOPE, _FIELD, _VALUE ...); these are about the plugin's
 * config, its devices and its link to the site broker.
 */
import { createError, type DriverIssue } from '../../../core/sdk/index.ts';

/** A mode the plugin does not run yet (`bridge`: to an EdgeX of its own, later). */
export const ErrEdgeXModeUnavailable = createError(
  'EDGE_ERR_EDGEX_MODE_UNAVAILABLE',
  (p: { mode: string }) => `edgex mode '${p.mode}' is not available yet: run mode 'embedded' (the site speaks EdgeX's message bus itself)`,
  { statusCode: 501 },
);

/** The site broker did not take the plugin's connection. */
export const ErrEdgeXBusBroker = createError(
  'EDGE_ERR_EDGEX_BUS_BROKER',
  (p: { broker: string; reason: string }) => `edgex: site broker ${p.broker} not reachable: ${p.reason}`,
  { statusCode: 503 },
);

/** Codes of the issues `validate` reports for a Device's `edgex` protocol block. */
export const ISSUE = {
  /** A field of the block that is not a non-empty string, or a field the block does not have. */
  protocol: 'EDGE_ERR_EDGEX_BUS_PROTOCOL',
} as const;

/** A Device the plugin cannot take (its protocol block is wrong). */
export const ErrEdgeXBusDevice = createError(
  'EDGE_ERR_EDGEX_BUS_DEVICE',
  (p: { device: string; issues: readonly DriverIssue[] }) => `device '${p.device}' cannot be an EdgeX device: ${p.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
  { statusCode: 400 },
);

/** Two Devices at the site claim one EdgeX device name: the second is refused. */
export const ErrEdgeXBusDuplicate = createError(
  'EDGE_ERR_EDGEX_BUS_DUPLICATE',
  (p: { device: string; edgexName: string; other: string }) => `device '${p.device}': EdgeX device '${p.edgexName}' is already device '${p.other}' at this site`,
  { statusCode: 409 },
);

/** A read of an EdgeX device: its values come only as its device service publishes them. */
export const ErrEdgeXBusNoRead = createError(
  'EDGE_ERR_EDGEX_BUS_NO_READ',
  (p: { device: string }) => `device '${p.device}' is served by an EdgeX device service: its values arrive as events on the bus, it cannot be read on demand yet`,
  { statusCode: 501 },
);

/** A write to an EdgeX device: commands through EdgeX's bus come later. */
export const ErrEdgeXBusNoWrite = createError(
  'EDGE_ERR_EDGEX_BUS_NO_WRITE',
  (p: { device: string; resource: string }) => `device '${p.device}' is served by an EdgeX device service: writing '${p.resource}' through EdgeX's command bus is not available yet`,
  { statusCode: 501 },
);

/** An event for a device the site does not have as an EdgeX device. */
export const ErrEdgeXBusUnknownDevice = createError(
  'EDGE_ERR_EDGEX_BUS_UNKNOWN_DEVICE',
  (p: { service: string; device: string }) => `event of '${p.service}' for device '${p.device}', which is no Device with an 'edgex' protocol block at this site`,
  { statusCode: 404 },
);

/** An event from another device service than the one its Device names (`protocols.edgex.serviceName`). */
export const ErrEdgeXBusWrongService = createError(
  'EDGE_ERR_EDGEX_BUS_WRONG_SERVICE',
  (p: { service: string; device: string; expected: string }) => `event for device '${p.device}' from '${p.service}', but its Device names device service '${p.expected}'`,
  { statusCode: 409 },
);

/** A reading of a resource its device's profile does not have. */
export const ErrEdgeXBusUnknownResource = createError(
  'EDGE_ERR_EDGEX_BUS_UNKNOWN_RESOURCE',
  (p: { device: string; profile: string; resource: string }) => `reading of device '${p.device}': profile '${p.profile}' has no resource '${p.resource}'`,
  { statusCode: 404 },
);

/** A reading whose valueType is not its resource's in the profile. */
export const ErrEdgeXBusTypeMismatch = createError(
  'EDGE_ERR_EDGEX_BUS_TYPE_MISMATCH',
  (p: { device: string; resource: string; valueType: string; expected: string }) =>
    `reading of device '${p.device}' resource '${p.resource}' is ${p.valueType}, the profile says ${p.expected}`,
  { statusCode: 409 },
);

/** An event for an EdgeX device the site is still connecting (no reading sink yet). */
export const ErrEdgeXBusNotReady = createError(
  'EDGE_ERR_EDGEX_BUS_NOT_READY',
  (p: { device: string }) => `device '${p.device}' is still connecting: its readings have nowhere to go yet`,
  { statusCode: 503 },
);
