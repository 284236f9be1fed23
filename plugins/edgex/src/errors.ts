/**
 * Coded errors of the edgex plugin, and the codes of its device protocol
 * issues. What an EdgeX event on the bus can have wrong with it is the SDK's
 * (EDGE_ERR_EDGEX_ENVELOPE, _FIELD, _VALUE ...); these are about the plugin's
 * config, its devices and its link to the site broker.
 */
import { createError, type DriverIssue } from '../../../core/sdk/index.ts';

/** The bridge's config (mode `bridge`) is wrong or missing: names the field. */
export const ErrEdgeXBridgeConfig = createError(
  'EDGE_ERR_EDGEX_BRIDGE_CONFIG',
  (p: { field: string; reason: string }) => `edgex bridge config: ${p.field} ${p.reason}`,
  { statusCode: 400 },
);

/** An EdgeX service of the bridge did not answer: refused, timed out, or answered 5xx. */
export const ErrEdgeXBridgeUnreachable = createError(
  'EDGE_ERR_EDGEX_BRIDGE_UNREACHABLE',
  (p: { service: string; url: string; reason: string }) => `EdgeX ${p.service} at ${p.url} is not reachable: ${p.reason}`,
  { statusCode: 503 },
);

/** An EdgeX service answered what its API does not answer (an unexpected status, a body that is no such response). */
export const ErrEdgeXBridgeAnswer = createError(
  'EDGE_ERR_EDGEX_BRIDGE_ANSWER',
  (p: { service: string; url: string; reason: string }) => `EdgeX ${p.service} at ${p.url} answered wrongly: ${p.reason}`,
  { statusCode: 502 },
);

/** An EdgeX device core-metadata lists that cannot be proposed to the hub (its profile missing, its name unmappable). */
export const ErrEdgeXBridgeDevice = createError(
  'EDGE_ERR_EDGEX_BRIDGE_DEVICE',
  (p: { device: string; reason: string }) => `EdgeX device '${p.device}' cannot be proposed: ${p.reason}`,
  { statusCode: 422 },
);

/** core-command does not know the device or its command (404). */
export const ErrEdgeXCommandNotFound = createError(
  'EDGE_ERR_EDGEX_COMMAND_NOT_FOUND',
  (p: { device: string; command: string; message: string }) => `EdgeX has no command '${p.command}' of device '${p.device}': ${p.message}`,
  { statusCode: 404 },
);

/** The EdgeX device is locked (adminState LOCKED: 423). */
export const ErrEdgeXCommandLocked = createError(
  'EDGE_ERR_EDGEX_COMMAND_LOCKED',
  (p: { device: string; command: string; message: string }) => `EdgeX device '${p.device}' is locked: command '${p.command}' refused: ${p.message}`,
  { statusCode: 423 },
);

/** core-command (or the device service behind it) refused or failed a command. */
export const ErrEdgeXCommandFailed = createError(
  'EDGE_ERR_EDGEX_COMMAND_FAILED',
  (p: { device: string; command: string; status: number; message: string }) => `EdgeX command '${p.command}' of device '${p.device}' failed (${p.status}): ${p.message}`,
  { statusCode: 502 },
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

/** A REST request without a site login, or with one the site does not know (EdgeX's API answers 401). */
export const ErrEdgeXRestAuth = createError(
  'EDGE_ERR_EDGEX_REST_AUTH',
  (p: { reason: string }) => `EdgeX REST API: ${p.reason}: send a site login as HTTP Basic or as 'Authorization: Bearer <username>:<password>'`,
  { statusCode: 401 },
);

/** A caller that may not do this (a device command by a login not in rest.commandLogins; a site login changing the hub's resources). */
export const ErrEdgeXRestForbidden = createError(
  'EDGE_ERR_EDGEX_REST_FORBIDDEN',
  (p: { username: string; action: string }) => `EdgeX REST API: login '${p.username}' may not ${p.action}`,
  { statusCode: 403 },
);

/** A profile, device, device service or command the site does not have. */
export const ErrEdgeXRestNotFound = createError(
  'EDGE_ERR_EDGEX_REST_NOT_FOUND',
  (p: { kind: string; name: string }) => `EdgeX REST API: ${p.kind} '${p.name}' not found at this site`,
  { statusCode: 404 },
);

/** A query parameter, path parameter or body the API cannot take. */
export const ErrEdgeXRestRequest = createError(
  'EDGE_ERR_EDGEX_REST_REQUEST',
  (p: { field: string; problem: string }) => `EdgeX REST API: ${p.field}: ${p.problem}`,
  { statusCode: 400 },
);

/**
 * A write of device services (405: the method is refused on that resource for good, not a missing feature): a
 * site's device services are its drivers and the edgex plugin's publishing names, set by Addons.
 */
export const ErrEdgeXRestReadOnly = createError(
  'EDGE_ERR_EDGEX_REST_READ_ONLY',
  (p: { method: string; path: string }) =>
    `EdgeX REST API: ${p.method} ${p.path} is refused: a site's device services are its drivers and the edgex plugin's publishing names, set by Addons (edgeadm addon <plugin> --site <site>)`,
  { statusCode: 405 },
);

/** A profile, resource or command that is already there (EdgeX's 409), or one a command still uses. */
export const ErrEdgeXRestConflict = createError(
  'EDGE_ERR_EDGEX_REST_CONFLICT',
  (p: { kind: string; name: string; reason: string }) => `EdgeX REST API: ${p.kind} '${p.name}' ${p.reason}`,
  { statusCode: 409 },
);

/** A command of a device whose adminState is LOCKED (EdgeX's 423). */
export const ErrEdgeXRestLocked = createError(
  'EDGE_ERR_EDGEX_REST_LOCKED',
  (p: { device: string; command: string }) => `EdgeX REST API: device '${p.device}' is locked (adminState LOCKED): command '${p.command}' refused`,
  { statusCode: 423 },
);

/** An upload larger than the API takes. */
export const ErrEdgeXRestTooLarge = createError(
  'EDGE_ERR_EDGEX_REST_TOO_LARGE',
  (p: { field: string; limit: number }) => `EdgeX REST API: ${p.field}: larger than ${p.limit} bytes`,
  { statusCode: 413 },
);

/** A device command (read or write) the site could not run. */
export const ErrEdgeXRestCommand = createError(
  'EDGE_ERR_EDGEX_REST_COMMAND',
  (p: { device: string; command: string; code: string; reason: string }) => `EdgeX REST API: command '${p.command}' of device '${p.device}' failed (${p.code}): ${p.reason}`,
  { statusCode: 503 },
);

/** A write forwarded to the hub that the hub refused or could not take (its status: 401/403 the caller's token, 503 the hub unreachable). */
export const ErrEdgeXRestHub = createError(
  'EDGE_ERR_EDGEX_REST_HUB',
  (p: { status: number; reason: string }) => `EdgeX REST API: the hub answered ${p.status}: ${p.reason}`,
  { statusCode: 502 },
);

/** The `services` block cannot run as given (a port another part of the plugin holds, ...): names the field. */
export const ErrEdgeXServicesConfig = createError(
  'EDGE_ERR_EDGEX_SERVICES_CONFIG',
  (p: { field: string; reason: string }) => `edgex services config: ${p.field} ${p.reason}`,
  { statusCode: 400 },
);

/** The node has no container runtime to run EdgeX's services with. */
export const ErrEdgeXNoRuntime = createError(
  'EDGE_ERR_EDGEX_NO_RUNTIME',
  (p: { wanted: string; reason: string }) =>
    `EdgeX's services cannot run at this node: ${p.reason} (services.runtime: ${p.wanted}). Install Docker with its compose plugin, or Podman 4.7+ with a compose provider, or run the hub on Kubernetes; EdgeX's message bus at the site works without them`,
  { statusCode: 503 },
);

/** The container runtime refused or failed a Compose command. */
export const ErrEdgeXCompose = createError(
  'EDGE_ERR_EDGEX_COMPOSE',
  (p: { project: string; command: string; reason: string }) => `EdgeX's Compose project ${p.project}: '${p.command}' failed: ${p.reason}`,
  { statusCode: 502 },
);

/** Some of the site's EdgeX services are not running (yet, or any more). */
export const ErrEdgeXServicesDown = createError(
  'EDGE_ERR_EDGEX_SERVICES_DOWN',
  (p: { project: string; states: string }) => `EdgeX's services of project ${p.project} are not all running: ${p.states}`,
  { statusCode: 503 },
);

/** EdgeX's secret store (secure mode) did not give the bridge its token, its JWT or its secret. */
export const ErrEdgeXSecretStore = createError(
  'EDGE_ERR_EDGEX_SECRET_STORE',
  (p: { url: string; reason: string }) => `EdgeX's secret store at ${p.url}: ${p.reason}`,
  { statusCode: 503 },
);
