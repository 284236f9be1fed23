/**
 * The site agent's coded errors: its data directory and way to the hub, the
 * site broker and its persistence, live reads and value mappings. Each names
 * the path, login, client, file or device it is about.
 */
import { createError } from '../core/kernel/index.ts';

// ---------------------------------------------------------------- agent

/** A Service of the cluster does not resolve at this node (clusterServicesRef). */
export const ErrClusterService = createError(
  'EDGE_ERR_CLUSTER_SERVICE',
  (p: { service: string; reason: string }) => `the cluster's Service '${p.service}' does not resolve at this node: ${p.reason}`,
  { statusCode: 503 },
);

/** The agent's data directory or one of its files cannot be created or opened. */
export const ErrAgentDataDir = createError(
  'EDGE_ERR_AGENT_DATA_DIR',
  (p: { path: string; errno: string; reason: string }) => `the site agent cannot use '${p.path}' (${p.errno}): ${p.reason}`,
  { statusCode: 500 },
);

export const ErrAgentNoHub = createError(
  'EDGE_ERR_AGENT_NO_HUB',
  (p: { field: string }) => `the site agent needs a way to the hub: set ${p.field}`,
  { statusCode: 400 },
);

// ---------------------------------------------------------------- site broker

export const ErrBrokerAccess = createError(
  'EDGE_ERR_BROKER_ACCESS',
  (p: { client: string; username: string; action: string; topic: string }) => `login '${p.username}' (client '${p.client}') may not ${p.action} '${p.topic}'`,
  { statusCode: 403 },
);

export const ErrBrokerClientId = createError(
  'EDGE_ERR_BROKER_CLIENT_ID',
  (p: { client: string; username: string; reason: string }) => `login '${p.username}' may not connect as client '${p.client}': ${p.reason}`,
  { statusCode: 403 },
);

export const ErrBrokerStorage = createError(
  'EDGE_ERR_BROKER_STORAGE',
  (p: { client: string; topic: string; reason: string }) => `publish of client '${p.client}' to '${p.topic}' refused: the broker cannot store it (${p.reason})`,
  { statusCode: 507 },
);

// ---------------------------------------------------------------- broker persistence

export const ErrBrokerPersistence = createError(
  'EDGE_ERR_BROKER_PERSISTENCE',
  (p: { file: string; reason: string }) => `broker persistence file '${p.file}' cannot be used: ${p.reason}`,
);

export const ErrBrokerPersistenceOption = createError(
  'EDGE_ERR_BROKER_PERSISTENCE_OPTION',
  (p: { option: string; reason: string }) => `broker persistence option '${p.option}' ${p.reason}`,
  { statusCode: 400 },
);

export const ErrBrokerPersistenceState = createError(
  'EDGE_ERR_BROKER_PERSISTENCE_STATE',
  (p: { file: string; state: 'not set up' | 'destroyed' }) => `broker persistence '${p.file}' is ${p.state}`,
  { statusCode: 503 },
);

export const ErrBrokerPersistenceNoPacket = createError(
  'EDGE_ERR_BROKER_PERSISTENCE_NO_PACKET',
  (p: { clientId: string; messageId: unknown }) => `no stored packet with messageId ${String(p.messageId)} for client '${p.clientId}'`,
  { statusCode: 404 },
);

// ---------------------------------------------------------------- live reads

export const ErrReadSource = createError(
  'EDGE_ERR_DEVICE_READ_SOURCE',
  (p: { site: string; device: string; source: string; problem: string }) => `cannot read device '${p.device}' at site '${p.site}': ${p.problem}`,
  { statusCode: 400 },
);

// ---------------------------------------------------------------- value mappings

export const ErrValueMapping = createError(
  'EDGE_ERR_VALUE_MAPPING',
  (p: { device: string; resource: string; name: string; raw: string; valueType: string; reason: string }) =>
    `device '${p.device}': resource '${p.resource}' maps '${p.name}' to '${p.raw}', which is not a value of valueType ${p.valueType} (${p.reason}); fix the mappings of the profile`,
  { statusCode: 400 },
);
