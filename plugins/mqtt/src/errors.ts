/**
 * Coded errors and issue codes of the mqtt plugin. Profile and protocol
 * problems are `DriverIssue`s (all at once, each naming its field);
 * `ErrMqttDeviceInvalid` wraps them for `connect`, which must throw.
 */
import { createError, type DriverIssue } from '../../../core/sdk/index.ts';

/** Codes of the issues `readProtocol` and `resolvePoints` report. */
export const ISSUE = {
  /** A protocol block field of the wrong type or shape (topic, qos, commandTimeout, brokerUrl...). */
  protocol: 'EDGE_ERR_MQTT_PROTOCOL_INVALID',
  /** attributes.topic not a string, empty, or holding wildcards / empty levels. */
  topic: 'EDGE_ERR_MQTT_PROFILE_TOPIC',
  /** attributes.payload not json, number or text, or not fitting the valueType. */
  payload: 'EDGE_ERR_MQTT_PROFILE_PAYLOAD',
  /** attributes.path / timestampPath not a field path like `a.b[0].c`, or given for a non-json payload. */
  path: 'EDGE_ERR_MQTT_PROFILE_PATH',
  /** valueType unknown, or readWrite not R, W or RW. */
  type: 'EDGE_ERR_MQTT_PROFILE_TYPE',
  /** Two resources with one name. */
  duplicate: 'EDGE_ERR_MQTT_PROFILE_DUPLICATE',
  /** Layout edgex: a deviceCommand naming a resource the profile does not have, or with a readWrite not R, W or RW. */
  command: 'EDGE_ERR_MQTT_PROFILE_COMMAND',
} as const;

export const ErrMqttDeviceInvalid = createError(
  'EDGE_ERR_MQTT_DEVICE_INVALID',
  (p: { device: string; issues: readonly DriverIssue[] }) =>
    `device '${p.device}' cannot be used: ${p.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
  { statusCode: 400 },
);

export const ErrMqttBrokerUnreachable = createError(
  'EDGE_ERR_MQTT_BROKER_UNREACHABLE',
  (p: { broker: string; reason: string }) => `mqtt broker ${p.broker} not reachable: ${p.reason}`,
  { statusCode: 503 },
);

export const ErrMqttNoBroker = createError(
  'EDGE_ERR_MQTT_NO_BROKER',
  (p: { device: string }) => `device '${p.device}' names no brokerUrl and the driver has no site broker`,
  { statusCode: 400 },
);

export const ErrMqttCommandTimeout = createError(
  'EDGE_ERR_MQTT_COMMAND_TIMEOUT',
  (p: { device: string; resource: string; id: string; timeoutMs: number; responseTopic: string }) =>
    `device '${p.device}' did not answer command ${p.id} (${p.resource}) on '${p.responseTopic}' within ${p.timeoutMs} ms`,
  { statusCode: 504 },
);

export const ErrMqttCommandRefused = createError(
  'EDGE_ERR_MQTT_COMMAND_REFUSED',
  (p: { device: string; resource: string; id: string; reason: string }) => `device '${p.device}' refused command ${p.id} (${p.resource}): ${p.reason}`,
  { statusCode: 502 },
);

export const ErrMqttCommandAborted = createError(
  'EDGE_ERR_MQTT_COMMAND_ABORTED',
  (p: { device: string; resource: string }) => `command to device '${p.device}' (${p.resource}) aborted`,
  { statusCode: 499 },
);

export const ErrMqttNotWritable = createError(
  'EDGE_ERR_MQTT_NOT_WRITABLE',
  (p: { resource: string }) => `resource '${p.resource}' is read-only (readWrite R)`,
  { statusCode: 405 },
);

export const ErrMqttUnknownResource = createError(
  'EDGE_ERR_MQTT_UNKNOWN_RESOURCE',
  (p: { resource: string }) => `no resource '${p.resource}' on this device`,
  { statusCode: 404 },
);

export const ErrMqttValueType = createError(
  'EDGE_ERR_MQTT_VALUE_TYPE',
  (p: { resource: string; valueType: string; reason: string }) => `resource '${p.resource}': ${p.reason} (valueType ${p.valueType})`,
  { statusCode: 400 },
);

export const ErrMqttPublish = createError(
  'EDGE_ERR_MQTT_PUBLISH',
  (p: { topic: string; reason: string }) => `publish to '${p.topic}' failed: ${p.reason}`,
  { statusCode: 502 },
);

export const ErrMqttDriverOption = createError(
  'EDGE_ERR_MQTT_DRIVER_OPTION',
  (p: { option: string; reason: string }) => `mqtt driver option '${p.option}': ${p.reason}`,
  { statusCode: 400 },
);

/** A message its device cannot take yet (no sink attached): not acknowledged, so the broker sends it again. */
export const ErrMqttNotReady = createError('EDGE_ERR_MQTT_NOT_READY', (p: { topic: string; reason: string }) => `message on '${p.topic}' held for redelivery: ${p.reason}`, {
  statusCode: 503,
});

/** Layout edgex: the device's answer to a GET command holds no value of the resource, or one that does not cast to its valueType. */
export const ErrMqttAnswerInvalid = createError(
  'EDGE_ERR_MQTT_ANSWER_INVALID',
  (p: { device: string; resource: string; id: string; reason: string }) => `device '${p.device}' answered command ${p.id} (${p.resource}) without a usable value: ${p.reason}`,
  { statusCode: 502 },
);
