/**
 * TypeBox schemas of the hub API: request bodies and queries (validated),
 * and responses (serialised and published in the OpenAPI document). Resource
 * specs are validated by the ResourceStore, which owns the per-kind schemas;
 * here only the envelope is checked.
 */
import Type from 'typebox';
import { literalUnion } from '../kernel/index.ts';
import { QUALITIES, ReadingSchema, VALUE_TYPES } from '../sdk/index.ts';
import { DNS1123_LABEL_PATTERN } from '../store/index.ts';
import { STREAM_ID_RE } from '../telemetry/index.ts';
import { COMMAND_KINDS, COMMAND_STATES, DEFAULT_READ_TIMEOUT_MS } from './commands.ts';
import { ROLES } from './tokens.ts';

export const ErrorSchema = Type.Object(
  {
    code: Type.String({ description: 'Stable error code, EDGE_ERR_*.' }),
    message: Type.String(),
    details: Type.Optional(Type.Unknown({ description: 'Structured parameters; for EDGE_ERR_HUB_BAD_REQUEST, `issues` lists each field.' })),
  },
  { description: 'Every error the API returns.' },
);

/** Error responses shared by every route. */
export const errorResponses = {
  '4xx': ErrorSchema,
  '5xx': ErrorSchema,
} as const;

const Name = Type.String({ minLength: 1, maxLength: 253 });
const StringMap = Type.Record(Type.String(), Type.String());

const metaFields = {
  labels: Type.Optional(StringMap),
  annotations: Type.Optional(StringMap),
  uid: Type.Optional(Type.String()),
  resourceVersion: Type.Optional(Type.String({ description: 'When set on PUT, the write fails with 409 unless it is current.' })),
  generation: Type.Optional(Type.Integer()),
  creationTimestamp: Type.Optional(Type.String()),
};

/** POST body: a resource; kind and apiVersion default from the path. */
export const ResourceCreateBody = Type.Object(
  {
    apiVersion: Type.Optional(Type.String({ minLength: 1 })),
    kind: Type.Optional(Type.String({ minLength: 1 })),
    metadata: Type.Object({ name: Name, ...metaFields }, { additionalProperties: false }),
    spec: Type.Object({}, { additionalProperties: true }),
    status: Type.Optional(Type.Unknown({ description: 'Ignored: status is written through /status.' })),
  },
  { additionalProperties: false },
);

/** PUT (apply) body: metadata.name defaults to the path's name. */
export const ResourceApplyBody = Type.Object(
  {
    apiVersion: Type.Optional(Type.String({ minLength: 1 })),
    kind: Type.Optional(Type.String({ minLength: 1 })),
    metadata: Type.Optional(Type.Object({ name: Type.Optional(Name), ...metaFields }, { additionalProperties: false })),
    spec: Type.Object({}, { additionalProperties: true }),
    status: Type.Optional(Type.Unknown({ description: 'Ignored: status is written through /status.' })),
  },
  { additionalProperties: false },
);

/** PUT /status body: the object (or just `{ status }`); only status and metadata.resourceVersion are used. */
export const ResourceStatusBody = Type.Object(
  {
    apiVersion: Type.Optional(Type.String()),
    kind: Type.Optional(Type.String()),
    metadata: Type.Optional(Type.Object({ name: Type.Optional(Name), ...metaFields }, { additionalProperties: false })),
    spec: Type.Optional(Type.Unknown()),
    status: Type.Unknown(),
  },
  { additionalProperties: false },
);

export const ResourceSchema = Type.Object({
  apiVersion: Type.String(),
  kind: Type.String(),
  metadata: Type.Object(
    {
      name: Type.String(),
      labels: Type.Optional(StringMap),
      annotations: Type.Optional(StringMap),
      uid: Type.Optional(Type.String()),
      resourceVersion: Type.Optional(Type.String()),
      generation: Type.Optional(Type.Integer()),
      creationTimestamp: Type.Optional(Type.String()),
    },
    { additionalProperties: true },
  ),
  spec: Type.Unknown(),
  status: Type.Optional(Type.Unknown()),
});

export const ResourceListSchema = Type.Object({
  items: Type.Array(ResourceSchema),
  resourceVersion: Type.String(),
  continue: Type.Optional(Type.String()),
});

export const ListQuery = Type.Object({
  labelSelector: Type.Optional(Type.String({ description: 'Kubernetes label selector, e.g. `tier=edge,zone in (a,b)`.' })),
  site: Type.Optional(Type.String({ minLength: 1, description: 'Only resources of this site.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  continue: Type.Optional(Type.String({ description: 'Token from the previous page.' })),
});

export const NameParams = Type.Object({ name: Name });
export const DeleteQuery = Type.Object({
  resourceVersion: Type.Optional(Type.String({ description: 'Delete only if this is the current resourceVersion.' })),
});

/** Readings as the API returns them (the value and enums kept loose so serialisation never reshapes them). */
export const ReadingOutSchema = Type.Object({
  site: Type.String(),
  device: Type.String(),
  profile: Type.String(),
  resource: Type.String(),
  value: Type.Unknown(),
  valueType: Type.String({ description: `One of ${VALUE_TYPES.join(', ')}.` }),
  units: Type.Optional(Type.String()),
  origin: Type.Integer({ description: 'Nanoseconds since the Unix epoch.' }),
  quality: Type.String({ description: `One of ${QUALITIES.join(', ')}.` }),
  qualityDetail: Type.Optional(Type.String()),
  seq: Type.Integer(),
  stream: Type.Optional(Type.String({ description: 'The producer stream it came in, `<producer>/<stream id>`: de-duplicate on (site, stream, seq).' })),
});

export const SiteParams = Type.Object({ site: Type.String({ minLength: 1, maxLength: 63 }) });

/** Which producer stream a batch belongs to (the producer itself is the caller's credential). */
export const StreamHeaderSchema = Type.Object(
  {
    id: Type.String({ pattern: STREAM_ID_RE.source, description: "The outbox's stream id." }),
    lastSeq: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'The last seq this stream has issued: no reading of the batch may exceed it, and it never goes back.' }),
  },
  { additionalProperties: false },
);

export const IngestBody = Type.Object(
  { stream: StreamHeaderSchema, readings: Type.Array(ReadingSchema, { maxItems: 100_000 }) },
  { additionalProperties: false },
);

export const IngestResultSchema = Type.Object({
  accepted: Type.Integer({ description: 'Stored.' }),
  duplicates: Type.Integer({ description: 'Already held with the same content (a resend).' }),
  conflicts: Type.Integer({ description: 'Already held with other content under the same seq: quarantined; the producer should start a new stream.' }),
  quarantined: Type.Integer({ description: 'Kept aside for an unknown device or resource.' }),
});

export const StreamsQuery = Type.Object({ site: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })) });
export const StreamListSchema = Type.Object({
  items: Type.Array(
    Type.Object({
      site: Type.String(),
      producer: Type.String(),
      id: Type.String(),
      name: Type.String(),
      held: Type.Integer(),
      quarantined: Type.Integer(),
      conflicts: Type.Integer(),
      duplicates: Type.Integer(),
      highSeq: Type.Integer(),
      declaredLastSeq: Type.Integer(),
      firstIngestAt: Type.String(),
      lastIngestAt: Type.String(),
    }),
  ),
});

const DeliveryCounts = {
  expected: Type.Integer({ description: 'Readings the agent acknowledged and did not drop: the hub must hold them.' }),
  held: Type.Integer({ description: "What the hub holds of the agent's streams, stored or quarantined." }),
  missing: Type.Integer(),
  pending: Type.Integer(),
  dropped: Type.Integer(),
  notStored: Type.Integer(),
};
export const DeliveryListSchema = Type.Object({
  items: Type.Array(
    Type.Object({
      site: Type.String(),
      state: Type.String({ description: 'ok, missing (acknowledged readings not held), or unknown (no agent report yet).' }),
      ...DeliveryCounts,
      agents: Type.Array(Type.Object({ producer: Type.String(), reportedAt: Type.String(), ...DeliveryCounts })),
      message: Type.String(),
    }),
  ),
});

const QUARANTINE_REASONS = ['conflict', 'unknown-device', 'unknown-resource'] as const;
export const QuarantineQuery = Type.Object({
  site: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
  reason: Type.Optional(literalUnion(QUARANTINE_REASONS)),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'At most this many, default 1000.' })),
});
export const QuarantineListSchema = Type.Object({
  items: Type.Array(Type.Object({ reason: Type.String(), receivedAt: Type.String(), stream: Type.String(), reading: ReadingOutSchema })),
});

const TimeParam = Type.String({ description: 'Nanoseconds since the epoch, or an RFC 3339 time.' });

export const TelemetryQueryString = Type.Object({
  site: Type.Optional(Type.String({ minLength: 1 })),
  device: Type.Optional(Type.String({ minLength: 1 })),
  resource: Type.Optional(Type.String({ minLength: 1 })),
  from: Type.Optional(TimeParam),
  to: Type.Optional(TimeParam),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'Page size, default 1000.' })),
  cursor: Type.Optional(Type.String({ description: 'The `next` of the previous page.' })),
  order: Type.Optional(literalUnion(['asc', 'desc'], { description: 'By origin; default asc.' })),
});

export const TelemetryPageSchema = Type.Object({
  items: Type.Array(ReadingOutSchema),
  next: Type.Optional(Type.String()),
});

export const LatestQuery = Type.Object({
  site: Type.Optional(Type.String({ minLength: 1 })),
  device: Type.Optional(Type.String({ minLength: 1 })),
});
export const LatestSchema = Type.Object({ items: Type.Array(ReadingOutSchema) });

export const StreamQuery = Type.Object({
  site: Type.Optional(Type.String({ minLength: 1 })),
  device: Type.Optional(Type.String({ minLength: 1 })),
  resource: Type.Optional(Type.String({ minLength: 1 })),
  access_token: Type.Optional(Type.String({ description: 'The bearer token, for clients that cannot set headers.' })),
});

export const CommandCreateBody = Type.Object(
  {
    resource: Type.String({ minLength: 1, maxLength: 256 }),
    value: Type.Unknown({ description: 'The value to write, typed per the resource valueType.' }),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 24 * 3600, default: 3600 })),
  },
  { additionalProperties: false },
);

export const DeviceCommandParams = Type.Object({
  site: Type.String({ minLength: 1, maxLength: 63 }),
  device: Name,
});

export const CommandAcceptedSchema = Type.Object({
  id: Type.String(),
  state: Type.String(),
  expiresAt: Type.String(),
});

const CommandErrorSchema = Type.Object({ code: Type.String({ minLength: 1 }), message: Type.String() }, { additionalProperties: false });

export const CommandResultBody = Type.Object(
  {
    reported: Type.Optional(Type.Unknown()),
    error: Type.Optional(CommandErrorSchema),
  },
  { additionalProperties: false },
);

export const CommandSchema = Type.Object({
  id: Type.String(),
  site: Type.String(),
  device: Type.String(),
  kind: Type.String({ description: `One of ${COMMAND_KINDS.join(', ')}.` }),
  resource: Type.Optional(Type.String({ description: 'The resource a write writes.' })),
  value: Type.Optional(Type.Unknown({ description: 'The value a write writes.' })),
  resources: Type.Optional(Type.Array(Type.String(), { description: 'What a read reads: deviceResources or deviceCommands (none: every readable resource).' })),
  createdAt: Type.String(),
  expiresAt: Type.String(),
  state: Type.String({ description: `One of ${COMMAND_STATES.join(', ')}.` }),
  result: Type.Optional(
    Type.Object({
      reported: Type.Optional(Type.Unknown()),
      error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
    }),
  ),
});

export const CommandListSchema = Type.Object({ items: Type.Array(CommandSchema) });

export const DeviceReadBody = Type.Object(
  {
    resources: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 256, description: 'deviceResources or deviceCommands of its profile; omitted or empty: every readable resource.' }),
    ),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 300_000, default: DEFAULT_READ_TIMEOUT_MS, description: "How long to wait for the site's answer." })),
  },
  { additionalProperties: false },
);

export const DeviceReadSchema = Type.Object({
  command: Type.String({ description: 'The read command, also at /api/v1/commands/{id}.' }),
  site: Type.String(),
  device: Type.String(),
  readings: Type.Array(Type.Omit(ReadingOutSchema, ['seq', 'stream']), { description: 'What the device answered now, one per resource (a resource it could not read has quality bad).' }),
});
export const CommandIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
export const SiteCommandsQuery = Type.Object({
  state: Type.Optional(literalUnion(COMMAND_STATES)),
  device: Type.Optional(Type.String({ minLength: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
});

export const TokenCreateBody = Type.Object(
  {
    role: literalUnion(ROLES),
    site: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: 'Required for role agent, refused otherwise.' })),
    description: Type.Optional(Type.String({ maxLength: 256 })),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, description: 'Lifetime; omitted means no expiry.' })),
  },
  { additionalProperties: false },
);

const tokenInfoFields = {
  id: Type.String(),
  role: Type.String(),
  site: Type.Optional(Type.String()),
  node: Type.Optional(Type.String({ description: 'Set for node credentials (issued by join).' })),
  description: Type.String(),
  createdAt: Type.String(),
  expiresAt: Type.Optional(Type.String()),
  lastUsedAt: Type.Optional(Type.String()),
};

export const TokenInfoSchema = Type.Object(tokenInfoFields);
export const TokenCreatedSchema = Type.Object({
  ...tokenInfoFields,
  token: Type.String({ description: 'The bearer token; shown only in this response.' }),
});
export const TokenListSchema = Type.Object({ items: Type.Array(TokenInfoSchema) });
export const TokenIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

const DnsLabel = Type.String({ minLength: 1, maxLength: 63, pattern: DNS1123_LABEL_PATTERN });

export const BootstrapTokenCreateBody = Type.Object(
  {
    site: Type.Optional({ ...DnsLabel, description: 'Joins with this token may only join this site.' }),
    description: Type.Optional(Type.String({ maxLength: 256 })),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 * 24 * 3600, description: 'Lifetime (default 24 h); bootstrap tokens always expire.' })),
  },
  { additionalProperties: false },
);
const bootstrapInfoFields = {
  id: Type.String(),
  site: Type.Optional(Type.String()),
  description: Type.String(),
  createdAt: Type.String(),
  expiresAt: Type.String(),
  uses: Type.Integer(),
};
export const BootstrapTokenInfoSchema = Type.Object(bootstrapInfoFields);
export const BootstrapTokenCreatedSchema = Type.Object({
  ...bootstrapInfoFields,
  token: Type.String({ description: '`<id>.<secret>`; shown only in this response.' }),
  caCertHash: Type.Optional(Type.String({ description: "Pin of the hub's CA for `edgeadm join --ca-cert-hash` (sha256:<hex>), when the hub serves TLS." })),
});
export const BootstrapTokenListSchema = Type.Object({ items: Type.Array(BootstrapTokenInfoSchema) });

export const JoinBody = Type.Object(
  {
    site: DnsLabel,
    node: DnsLabel,
    hostname: Type.Optional(Type.String({ maxLength: 253 })),
    addresses: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 32, description: 'Addresses the node is known by (the CONNECT proxy routes them to it).' })),
    sshHostKeys: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 16384 }), { maxItems: 16, description: "The node's sshd host public keys (OpenSSH lines); `edgeadm ssh` checks against them." }),
    ),
  },
  { additionalProperties: false },
);
export const JoinResultSchema = Type.Object({
  site: Type.String(),
  node: Type.String(),
  credential: Type.String({ description: 'The node credential (an agent token bound to the node); shown only here.' }),
  credentialId: Type.String(),
  tunnelPath: Type.String({ description: 'Path of tunnel-cloud on this hub.' }),
  caCert: Type.Optional(Type.String({ description: "PEM of the hub's CA, when the hub serves TLS." })),
});

export const NodeConnectParams = Type.Object({ name: DnsLabel });
export const NodeConnectQuery = Type.Object(
  {
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'Address on the node (default 127.0.0.1).' })),
  },
  { additionalProperties: false },
);

export const HealthSchema = Type.Object({ status: Type.Literal('ok') });
