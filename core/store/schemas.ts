/**
 * TypeBox schemas for every resource kind (spec and status), the single
 * source of truth for the store's validation, the hub's API bodies and the
 * TypeScript types. DeviceProfile and Device follow EdgeX's shapes so EdgeX
 * device profiles (v2 with string numbers, v3 with numbers) and devices'
 * protocol blocks import unchanged. `validateResource` reports every problem
 * of an object at once, each with its field path
 * (`spec.deviceResources[2].properties.valueType`).
 */
import semver from 'semver';
import Type, { type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import {
  checkSchema,
  DNS1123_LABEL_PATTERN,
  DNS1123_LABEL_RULE,
  DNS1123_SUBDOMAIN_PATTERN,
  DNS1123_SUBDOMAIN_RULE,
  goDurationMs,
  goDurationProblem,
  isSecretHash,
  literalUnion,
  type FieldIssue,
} from '../kernel/index.ts';
import { PLUGIN_ID_PATTERN } from '../plugins/index.ts';
import { VALUE_TYPES, type ValueType } from '../sdk/index.ts';
import { dns1123LabelProblem, dns1123SubdomainProblem, labelKeyProblem, labelValueProblem } from './selectors.ts';
import { API_VERSION, KINDS, type Kind, type ObjectMeta, type Resource } from './types.ts';
import { AgentReportSchema, HealthVerdictSchema } from './replication.ts';

// ---------------------------------------------------------------------------
// Shared pieces

// The name rules are the kernel's (core/kernel/names.ts); the store presents them as the rules of resource names.
export { DNS1123_LABEL_PATTERN, DNS1123_SUBDOMAIN_PATTERN } from '../kernel/index.ts';
const REVISION_PATTERN = '^[0-9]+$';
const WS_URL_PATTERN = '^wss?://';
/** A site broker login: no '/' (its client ids are `<username>/<suffix>`), no `edgeadm-` prefix (the site's own clients own it). */
export const BROKER_USERNAME_PATTERN = '^(?!edgeadm-)[A-Za-z0-9][A-Za-z0-9._:@-]*$';

/** Friendlier messages for pattern failures than the raw regular expression. */
const PATTERN_MESSAGES: Record<string, string> = {
  [DNS1123_LABEL_PATTERN]: `${DNS1123_LABEL_RULE}, at most 63 characters`,
  [DNS1123_SUBDOMAIN_PATTERN]: DNS1123_SUBDOMAIN_RULE,
  [REVISION_PATTERN]: 'must be a resourceVersion (a decimal number)',
  [WS_URL_PATTERN]: 'must be a ws:// or wss:// URL',
  [PLUGIN_ID_PATTERN]: "must be a plugin id: lowercase letters and digits, parts joined by '-' or '.', starting with a letter",
  [BROKER_USERNAME_PATTERN]: "must start with a letter or digit, hold only letters, digits and . _ : @ -, and not start with 'edgeadm-' (reserved for the site's own clients)",
};

const SiteName = Type.String({ maxLength: 63, pattern: DNS1123_LABEL_PATTERN, description: 'Name of a Site (DNS-1123 label).' });
const ObjectName = Type.String({ maxLength: 253, pattern: DNS1123_SUBDOMAIN_PATTERN, description: 'Name of a resource (DNS-1123 subdomain).' });
const Timestamp = Type.String({ description: 'RFC 3339 time.' });
const Message = Type.String({ maxLength: 4096, description: 'Human-readable detail.' });
const AnyMap = Type.Record(Type.String(), Type.Unknown());
const StringMap = Type.Record(Type.String(), Type.String());

/** A number, or (EdgeX v2) a decimal string such as "0.1". An empty string means unset and is dropped. */
const Numeric = Type.Union([Type.Number(), Type.String()], {
  description: 'A number; EdgeX v2 profiles write it as a decimal string ("0.1"), v3 as a number.',
});
/** EdgeX writes default values as strings; YAML may turn them into numbers or booleans. */
const DefaultValue = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);
const ReadWrite = Type.Union([Type.Literal('R'), Type.Literal('W'), Type.Literal('RW'), Type.Literal('WR')]);

export const NUMERIC_PROPERTIES = ['minimum', 'maximum', 'mask', 'shift', 'scale', 'offset', 'base'] as const;

// ---------------------------------------------------------------------------
// Metadata

export const ObjectMetaSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 253 }),
    labels: Type.Optional(StringMap),
    annotations: Type.Optional(StringMap),
    uid: Type.Optional(Type.String()),
    resourceVersion: Type.Optional(Type.String({ pattern: REVISION_PATTERN })),
    generation: Type.Optional(Type.Integer({ minimum: 0 })),
    creationTimestamp: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------
// Site

const Glob = Type.String({ minLength: 1, maxLength: 256 });
export const OnboardingRuleSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 63, pattern: DNS1123_LABEL_PATTERN }),
    /** Every given field must match. */
    match: Type.Object(
      {
        source: Type.Optional(Type.Union([Type.Literal('homeassistant'), Type.Literal('announce'), Type.Literal('edgex')])),
        identifier: Type.Optional(Glob),
        manufacturer: Type.Optional(Glob),
        model: Type.Optional(Glob),
      },
      { additionalProperties: false },
    ),
    /** Use this existing DeviceProfile instead of the one the announcement describes. */
    profile: Type.Optional(ObjectName),
    /** Labels put on the created Device. */
    labels: Type.Optional(StringMap),
  },
  { additionalProperties: false },
);
export type OnboardingRule = Static<typeof OnboardingRuleSchema>;

/** One check a node runs against each peer it watches (core/health). */
export const HealthCheckSchema = Type.Object(
  {
    /** Names the check in results and messages. */
    name: Type.String({ maxLength: 63, pattern: DNS1123_LABEL_PATTERN }),
    /** tcp: a connection opens; http/https: a GET answers with an expected status; icmp: `ping` answers (where the node permits it). */
    type: literalUnion(['tcp', 'http', 'https', 'icmp'] as const),
    /** The peer's port (tcp, http, https): default the health agent's own port. */
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    /** The path of an http(s) check (default `/healthz`). */
    path: Type.Optional(Type.String({ maxLength: 1024, pattern: '^/' })),
    /** Statuses that pass an http(s) check (default 200). A kubelet's 10250 answers 401 without credentials: list it to take any answer as alive. */
    expectStatus: Type.Optional(Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { minItems: 1, maxItems: 16 })),
    /** https: accept any certificate (a kubelet's self-signed one). Nothing secret is sent. */
    insecureSkipVerify: Type.Optional(Type.Boolean()),
    /** Go duration: how long one try may take (default 2s, or less so that every try fits in half a period). */
    timeout: Type.Optional(Type.String({ maxLength: 32 })),
    /** Tries after a failed one within the period (default 1). */
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 5 })),
    /** The check's share of the score (default 1). */
    weight: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1000 })),
  },
  { additionalProperties: false },
);
export type HealthCheck = Static<typeof HealthCheckSchema>;

/** Distributed health at a site: its nodes check each other and vote (core/health, docs/health.md). */
export const SiteHealthSchema = Type.Object(
  {
    /** The port every node's health agent listens on for peers' gossip (default 51005). */
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    /** Go duration: how often each node checks its peers (default 10s). */
    period: Type.Optional(Type.String({ maxLength: 32 })),
    /** What a node runs against each peer it watches (default: a tcp connect to the peer's health agent). */
    checks: Type.Optional(Type.Array(HealthCheckSchema, { minItems: 1, maxItems: 8 })),
    /** The score (sum of the passing checks' weights) at which a peer passes (default: every check passes). */
    passScore: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /** How many peers check each node and vote on it (default 5, at most the site's other nodes). */
    voters: Type.Optional(Type.Integer({ minimum: 1, maximum: 15 })),
    /** How many random peers each node gossips with per period (default 3). */
    fanout: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
    /** Go duration: how long a vote counts (default 18 periods); a node re-signs its votes every third of it. */
    voteTimeout: Type.Optional(Type.String({ maxLength: 32 })),
  },
  { additionalProperties: false },
);
export type SiteHealth = Static<typeof SiteHealthSchema>;

export const SiteSpecSchema = Type.Object(
  {
    displayName: Type.Optional(Type.String({ maxLength: 256 })),
    description: Type.Optional(Type.String()),
    /** An address, or a structured location such as `{ latitude, longitude }`. */
    location: Type.Optional(Type.Union([Type.String(), AnyMap])),
    /** What happens to devices that announce themselves at the site. */
    /** Distributed health: the site's nodes check each other and vote on each node (off unless set). */
    health: Type.Optional(SiteHealthSchema),
    onboarding: Type.Optional(
      Type.Object(
        {
          /**
           * Provisioning rules, first match wins: a matching announcement is approved at once (the
           * Device is created) instead of waiting for `edgeadm device approve`. Globs take `*` and `?`.
           */
          rules: Type.Optional(Type.Array(OnboardingRuleSchema, { maxItems: 256 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export const SITE_PHASES = ['Pending', 'Online', 'Offline'] as const;
export const SiteStatusSchema = Type.Object(
  {
    phase: Type.Optional(literalUnion(SITE_PHASES)),
    lastSeen: Type.Optional(Timestamp),
    agentVersion: Type.Optional(Type.String()),
    syncedResourceVersion: Type.Optional(Type.String({ pattern: REVISION_PATTERN })),
    message: Type.Optional(Message),
    /**
     * What each of the site's agents last reported over its sync session,
     * by the telemetry producer its credential speaks for (`node:<name>` or
     * `token:<id>`; written by the hub only): its health and its outbox's
     * counts. A site has one agent per node.
     */
    agents: Type.Optional(
      Type.Record(Type.String({ maxLength: 128 }), Type.Object({ ...AgentReportSchema.properties, reportedAt: Timestamp }, { additionalProperties: false }), { maxProperties: 256 }),
    ),
  },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------
// Node

export const NodeSpecSchema = Type.Object(
  {
    site: SiteName,
    hostname: Type.Optional(Type.String({ maxLength: 253 })),
    addresses: Type.Optional(Type.Array(Type.String())),
    roles: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);
export const NodeStatusSchema = Type.Object(
  {
    connected: Type.Optional(Type.Boolean()),
    lastSeen: Type.Optional(Timestamp),
    message: Type.Optional(Message),
    /** When the node last joined (exchanged a bootstrap token for its credential). */
    joinedAt: Type.Optional(Timestamp),
    /**
     * The node's trusted sshd host keys (OpenSSH public key lines): `edgeadm ssh` checks against them.
     * Recorded by the node's first join that reports keys; changed afterwards only by an admin
     * confirming a pending change (`edgeadm node trust-host-keys`).
     */
    sshHostKeys: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 16384 }), { maxItems: 16 })),
    /** When the trusted host keys were recorded or last confirmed. */
    sshHostKeysTrustedAt: Type.Optional(Timestamp),
    /**
     * Host keys a later join reported that differ from the trusted ones: kept aside, never trusted
     * by themselves, until an admin trusts or rejects them. `edgeadm ssh` refuses while one is pending.
     */
    sshHostKeysPending: Type.Optional(
      Type.Object(
        {
          keys: Type.Array(Type.String({ minLength: 1, maxLength: 16384 }), { minItems: 1, maxItems: 16 }),
          /** When the join reported them. */
          reportedAt: Timestamp,
          /** The bootstrap token that join used. */
          bootstrapTokenId: Type.Optional(Type.String({ maxLength: 64 })),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * Distributed health: what the node's peers at its site last voted (written by the hub from
     * their agents' reports; core/health). Kept while the site is cut off: the last vote stands.
     */
    health: Type.Optional(
      Type.Object(
        {
          ...HealthVerdictSchema.properties,
          node: Type.Optional(Type.String({ maxLength: 253 })),
          /** The agent whose report this is (`node:<name>`), and when the hub recorded it. */
          reportedBy: Type.String({ maxLength: 128 }),
          reportedAt: Timestamp,
        },
        { additionalProperties: false },
      ),
    ),
    /** The tunnel-cloud replica holding the node's tunnel, while it is up. */
    tunnel: Type.Optional(Type.Object({ replica: Type.String(), since: Timestamp }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------
// DeviceProfile (EdgeX device profile body)

export const ResourcePropertiesSchema = Type.Object(
  {
    valueType: Type.Union(VALUE_TYPES.map((v) => Type.Literal(v))),
    readWrite: ReadWrite,
    units: Type.Optional(Type.String()),
    minimum: Type.Optional(Numeric),
    maximum: Type.Optional(Numeric),
    defaultValue: Type.Optional(DefaultValue),
    mask: Type.Optional(Numeric),
    shift: Type.Optional(Numeric),
    scale: Type.Optional(Numeric),
    offset: Type.Optional(Numeric),
    base: Type.Optional(Numeric),
    assertion: Type.Optional(Type.String()),
    mediaType: Type.Optional(Type.String()),
    /** EdgeX v3: free-form extra properties. */
    optional: Type.Optional(AnyMap),
  },
  { additionalProperties: false },
);

export const ProfileResourceSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    description: Type.Optional(Type.String()),
    isHidden: Type.Optional(Type.Boolean()),
    /** EdgeX v2. */
    tag: Type.Optional(Type.String()),
    /** EdgeX v3. */
    tags: Type.Optional(AnyMap),
    /** Protocol-specific addressing, e.g. `{ primaryTable: 'HOLDING_REGISTERS', startingAddress: 0 }`. */
    attributes: Type.Optional(AnyMap),
    properties: ResourcePropertiesSchema,
  },
  { additionalProperties: false },
);

export const ResourceOperationSchema = Type.Object(
  {
    deviceResource: Type.String({ minLength: 1 }),
    defaultValue: Type.Optional(DefaultValue),
    mappings: Type.Optional(StringMap),
  },
  { additionalProperties: false },
);

export const ProfileCommandSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    isHidden: Type.Optional(Type.Boolean()),
    readWrite: ReadWrite,
    resourceOperations: Type.Array(ResourceOperationSchema, { minItems: 1 }),
    tags: Type.Optional(AnyMap),
  },
  { additionalProperties: false },
);

export const DeviceProfileSpecSchema = Type.Object(
  {
    /** EdgeX's own identity fields, accepted so exported profiles import unchanged; not interpreted (metadata.name is the name). */
    name: Type.Optional(Type.String()),
    id: Type.Optional(Type.String()),
    apiVersion: Type.Optional(Type.String()),
    created: Type.Optional(Type.Integer()),
    modified: Type.Optional(Type.Integer()),
    manufacturer: Type.Optional(Type.String()),
    model: Type.Optional(Type.String()),
    description: Type.Optional(Type.String()),
    labels: Type.Optional(Type.Array(Type.String())),
    deviceResources: Type.Array(ProfileResourceSchema, { minItems: 1 }),
    deviceCommands: Type.Optional(Type.Array(ProfileCommandSchema)),
  },
  { additionalProperties: false },
);
export const DeviceProfileStatusSchema = Type.Object({ message: Type.Optional(Message) });

// ---------------------------------------------------------------------------
// Device

export const ADMIN_STATES = ['LOCKED', 'UNLOCKED'] as const;
export const OPERATING_STATES = ['UP', 'DOWN', 'UNKNOWN'] as const;
/** What a site does about a writable resource that departs from its desired value. */
export const DRIFT_POLICIES = ['reassert', 'report'] as const;
export type DriftPolicy = (typeof DRIFT_POLICIES)[number];

export const AutoEventSchema = Type.Object(
  {
    sourceName: Type.String({ minLength: 1 }),
    /** A Go duration (`500ms`, `1h30m`), read by the kernel's parser and longer than zero (checked in deviceIssues). */
    interval: Type.String({ description: "A Go duration longer than zero, as EdgeX writes it: '500ms', '1s', '1h30m'." }),
    onChange: Type.Optional(Type.Boolean()),
    /** EdgeX v3.1+. */
    onChangeThreshold: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export const DeviceSpecSchema = Type.Object(
  {
    site: SiteName,
    profile: ObjectName,
    description: Type.Optional(Type.String()),
    adminState: Type.Optional(literalUnion(ADMIN_STATES, { default: 'UNLOCKED' })),
    /** EdgeX form: `{ "modbus-tcp": { "Address": "10.0.0.5", "Port": "502", "UnitID": "1" } }`. */
    protocols: Type.Record(Type.String({ minLength: 1 }), AnyMap, { minProperties: 1 }),
    /** The plugin that drives the device; omitted means chosen from the protocol. */
    plugin: Type.Optional(Type.String({ pattern: PLUGIN_ID_PATTERN })),
    autoEvents: Type.Optional(Type.Array(AutoEventSchema)),
    /** Desired values by device resource name (the twin's desired side). */
    desired: Type.Optional(AnyMap),
    /**
     * What the site does when a writable resource reads other than its desired
     * value (a device back from a restart): `reassert` writes it again, `report`
     * only shows the drift in `status.drift`. By resource name; `*` for the
     * others. Default `reassert`.
     */
    driftPolicy: Type.Optional(Type.Record(Type.String({ minLength: 1 }), literalUnion(DRIFT_POLICIES))),
  },
  { additionalProperties: false },
);

/** A writable resource whose value departed from its desired value, as the site saw it. */
export const DeviceDriftSchema = Type.Object(
  {
    desired: Type.Unknown(),
    /** The newest value read while it departed. */
    observed: Type.Unknown(),
    /** When the departure was first seen. */
    since: Timestamp,
    policy: literalUnion(DRIFT_POLICIES),
    /** Writes of the desired value so far (policy reassert). */
    reasserts: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Why the last of them failed. */
    error: Type.Optional(Message),
    /** When a reading matched the desired value again. */
    resolvedAt: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);

export const ReportedValueSchema = Type.Object(
  {
    value: Type.Unknown(),
    /** Nanoseconds since the Unix epoch, as in EdgeX readings. */
    origin: Type.Number({ minimum: 0 }),
    quality: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const DeviceStatusSchema = Type.Object(
  {
    operatingState: Type.Optional(literalUnion(OPERATING_STATES)),
    lastSeen: Type.Optional(Timestamp),
    reported: Type.Optional(Type.Record(Type.String(), ReportedValueSchema)),
    observedDesired: Type.Optional(AnyMap),
    /** Writable resources whose value departed from the desired one, by resource name (see spec.driftPolicy). */
    drift: Type.Optional(Type.Record(Type.String(), DeviceDriftSchema)),
    message: Type.Optional(Message),
  },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------
// Addon

export const AddonSpecSchema = Type.Object(
  {
    plugin: Type.String({ pattern: PLUGIN_ID_PATTERN }),
    /** A semver range the installed plugin must satisfy. */
    version: Type.Optional(Type.String()),
    config: Type.Optional(AnyMap),
    sites: Type.Optional(Type.Array(SiteName)),
    /** matchLabels on Site labels. */
    siteSelector: Type.Optional(StringMap),
    /** Per-site config overrides, by site name. */
    templates: Type.Optional(Type.Record(Type.String(), AnyMap)),
  },
  { additionalProperties: false },
);

export const AddonSiteStatusSchema = Type.Object(
  {
    state: Type.String({ minLength: 1 }),
    message: Type.Optional(Message),
    code: Type.Optional(Type.String()),
    /** The Addon's metadata.generation the site's report describes. */
    observedGeneration: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

export const AddonStatusSchema = Type.Object(
  {
    sites: Type.Optional(Type.Record(Type.String(), AddonSiteStatusSchema)),
    /** An Addon run as grids with a site half: each site's workloads as the grids have them (`sites` is the site agents' reports). */
    workloads: Type.Optional(Type.Record(Type.String(), AddonSiteStatusSchema)),
  },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------
// Lease (the shape of Kubernetes coordination.k8s.io/v1 Lease, plus holderAddress)

/** Label naming what a Lease is for, so several lease users share the kind: `edgeadm.io/lease-for: tunnel`. */
export const LEASE_FOR_LABEL = 'edgeadm.io/lease-for';

export const LeaseSpecSchema = Type.Object(
  {
    /** Who holds the lease (a tunnel-cloud replica's name); absent when nobody does. */
    holderIdentity: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
    /** Where the holder is reached by its peers (its ws:// or wss:// peer endpoint). */
    holderAddress: Type.Optional(Type.String({ maxLength: 2048, pattern: WS_URL_PATTERN })),
    /** How long after renewTime the lease is still the holder's. */
    leaseDurationSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
    acquireTime: Type.Optional(Timestamp),
    renewTime: Type.Optional(Timestamp),
    /** How many times the lease changed holders. */
    leaseTransitions: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export const LeaseStatusSchema = Type.Object({}, { additionalProperties: false });

// ---------------------------------------------------------------------------
// BrokerCredential (a login to a site's MQTT broker)

/** An MQTT topic filter: levels separated by '/', '+' a whole level, '#' only as the last level. */
export const TOPIC_FILTER_PATTERN = '^(?:(?:[^+#/\\u0000]*|\\+)/)*(?:[^+#/\\u0000]*|\\+|#)$';
const TopicFilter = Type.String({ minLength: 1, maxLength: 1024, pattern: TOPIC_FILTER_PATTERN });

export const BrokerCredentialSpecSchema = Type.Object(
  {
    site: SiteName,
    /**
     * The MQTT username; unique within the site. No '/' (client ids `<username>/<suffix>` belong to it), and no
     * `edgeadm-` prefix: the site's own clients (its internal login) own that prefix of client ids and usernames.
     */
    username: Type.String({ minLength: 1, maxLength: 128, pattern: BROKER_USERNAME_PATTERN }),
    /** `scrypt$...` as written by the hub; the password itself is shown once, when issued. */
    passwordHash: Type.String({ minLength: 1, maxLength: 512 }),
    /** The Device this login is: it may then publish and subscribe its own topics (its protocol block and profile say which). */
    device: Type.Optional(ObjectName),
    /** Further topic filters it may publish to (a gateway's, or a device's beyond its own). */
    publish: Type.Optional(Type.Array(TopicFilter, { maxItems: 64 })),
    /** Further topic filters it may subscribe to. */
    subscribe: Type.Optional(Type.Array(TopicFilter, { maxItems: 64 })),
    /** A disabled login is refused, and its open connections are closed. */
    disabled: Type.Optional(Type.Boolean()),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  { additionalProperties: false },
);
export const BrokerCredentialStatusSchema = Type.Object({ message: Type.Optional(Message) }, { additionalProperties: false });

// ---------------------------------------------------------------------------
// PendingDevice (announced at a site, waiting for approval)

export const PENDING_PHASES = ['Pending', 'Approved', 'Rejected'] as const;
export const PendingDeviceSpecSchema = Type.Object(
  {
    site: SiteName,
    /** How it announced itself: Home Assistant MQTT discovery, the native announce topic, or an existing EdgeX (the edgex plugin's bridge). */
    source: Type.Union([Type.Literal('homeassistant'), Type.Literal('announce'), Type.Literal('edgex')]),
    /** Its identity within the site as announced (discovery device identifier, announce id). */
    identifier: Type.String({ minLength: 1, maxLength: 256 }),
    /** The Device name it gets when approved unless the approver picks another. */
    suggestedName: ObjectName,
    displayName: Type.Optional(Type.String({ maxLength: 256 })),
    manufacturer: Type.Optional(Type.String({ maxLength: 256 })),
    model: Type.Optional(Type.String({ maxLength: 256 })),
    swVersion: Type.Optional(Type.String({ maxLength: 256 })),
    /** The Device's protocol block name and body, as announced (`mqtt`). */
    protocolName: Type.String({ minLength: 1, maxLength: 64 }),
    protocol: AnyMap,
    /** The DeviceProfile body the announcement describes. */
    profile: DeviceProfileSpecSchema,
    warnings: Type.Optional(Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 64 })),
    /** When the site first and last saw the announcement. */
    firstSeen: Timestamp,
    lastSeen: Timestamp,
  },
  { additionalProperties: false },
);
export const PendingDeviceStatusSchema = Type.Object(
  {
    phase: Type.Optional(literalUnion(PENDING_PHASES)),
    /** The Device (and DeviceProfile) created on approval. */
    device: Type.Optional(ObjectName),
    profile: Type.Optional(ObjectName),
    /** Who approved or rejected it: a token id, or `rule:<name>` for a provisioning rule. */
    decidedBy: Type.Optional(Type.String({ maxLength: 256 })),
    decidedAt: Type.Optional(Timestamp),
    message: Type.Optional(Message),
  },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------
// Per-kind tables and types

export const SPEC_SCHEMAS = {
  Site: SiteSpecSchema,
  Node: NodeSpecSchema,
  DeviceProfile: DeviceProfileSpecSchema,
  Device: DeviceSpecSchema,
  Addon: AddonSpecSchema,
  Lease: LeaseSpecSchema,
  BrokerCredential: BrokerCredentialSpecSchema,
  PendingDevice: PendingDeviceSpecSchema,
} as const satisfies Record<Kind, TSchema>;

export const STATUS_SCHEMAS = {
  Site: SiteStatusSchema,
  Node: NodeStatusSchema,
  DeviceProfile: DeviceProfileStatusSchema,
  Device: DeviceStatusSchema,
  Addon: AddonStatusSchema,
  Lease: LeaseStatusSchema,
  BrokerCredential: BrokerCredentialStatusSchema,
  PendingDevice: PendingDeviceStatusSchema,
} as const satisfies Record<Kind, TSchema>;

function resourceSchema<K extends Kind>(kind: K) {
  return Type.Object(
    {
      apiVersion: Type.Literal(API_VERSION),
      kind: Type.Literal(kind),
      metadata: ObjectMetaSchema,
      spec: SPEC_SCHEMAS[kind],
      status: Type.Optional(STATUS_SCHEMAS[kind]),
    },
    { additionalProperties: false },
  );
}

/** Whole-object schemas per kind (for API documentation; the store validates with `validateResource`). */
export const RESOURCE_SCHEMAS = {
  Site: resourceSchema('Site'),
  Node: resourceSchema('Node'),
  DeviceProfile: resourceSchema('DeviceProfile'),
  Device: resourceSchema('Device'),
  Addon: resourceSchema('Addon'),
  Lease: resourceSchema('Lease'),
  BrokerCredential: resourceSchema('BrokerCredential'),
  PendingDevice: resourceSchema('PendingDevice'),
} as const;

export type SiteSpec = Static<typeof SiteSpecSchema>;
export type SiteStatus = Static<typeof SiteStatusSchema>;
export type NodeSpec = Static<typeof NodeSpecSchema>;
export type NodeStatus = Static<typeof NodeStatusSchema>;
export type ResourceProperties = Static<typeof ResourcePropertiesSchema>;
export type ProfileResource = Static<typeof ProfileResourceSchema>;
export type ResourceOperation = Static<typeof ResourceOperationSchema>;
export type ProfileCommand = Static<typeof ProfileCommandSchema>;
export type DeviceProfileSpec = Static<typeof DeviceProfileSpecSchema>;
export type DeviceProfileStatus = Static<typeof DeviceProfileStatusSchema>;
export type AutoEvent = Static<typeof AutoEventSchema>;
export type DeviceSpec = Static<typeof DeviceSpecSchema>;
export type ReportedValue = Static<typeof ReportedValueSchema>;
export type DeviceStatus = Static<typeof DeviceStatusSchema>;
export type DeviceDrift = Static<typeof DeviceDriftSchema>;
export type AddonSpec = Static<typeof AddonSpecSchema>;
export type AddonStatus = Static<typeof AddonStatusSchema>;
export type LeaseSpec = Static<typeof LeaseSpecSchema>;
export type LeaseStatus = Static<typeof LeaseStatusSchema>;
export type BrokerCredentialSpec = Static<typeof BrokerCredentialSpecSchema>;
export type BrokerCredentialStatus = Static<typeof BrokerCredentialStatusSchema>;
export type PendingDeviceSpec = Static<typeof PendingDeviceSpecSchema>;
export type PendingDeviceStatus = Static<typeof PendingDeviceStatusSchema>;

export type SiteObject = Resource<SiteSpec, SiteStatus> & { kind: 'Site' };
export type NodeObject = Resource<NodeSpec, NodeStatus> & { kind: 'Node' };
export type DeviceProfileObject = Resource<DeviceProfileSpec, DeviceProfileStatus> & { kind: 'DeviceProfile' };
export type DeviceObject = Resource<DeviceSpec, DeviceStatus> & { kind: 'Device' };
export type AddonObject = Resource<AddonSpec, AddonStatus> & { kind: 'Addon' };
export type LeaseObject = Resource<LeaseSpec, LeaseStatus> & { kind: 'Lease' };
export type BrokerCredentialObject = Resource<BrokerCredentialSpec, BrokerCredentialStatus> & { kind: 'BrokerCredential' };
export type PendingDeviceObject = Resource<PendingDeviceSpec, PendingDeviceStatus> & { kind: 'PendingDevice' };

/** The typed object of each kind: `store.get<ResourceOf<'Device'>>('Device', 'pump-1')`. */
export interface ResourceByKind {
  Site: SiteObject;
  Node: NodeObject;
  DeviceProfile: DeviceProfileObject;
  Device: DeviceObject;
  Addon: AddonObject;
  Lease: LeaseObject;
  BrokerCredential: BrokerCredentialObject;
  PendingDevice: PendingDeviceObject;
}
export type ResourceOf<K extends Kind> = ResourceByKind[K];

// ---------------------------------------------------------------------------
// Helpers

/** The number behind an EdgeX numeric property (number, or v2 decimal string); undefined when unset or not numeric. */
export function numericProperty(value: number | string | undefined): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** Which sites an object belongs to for the store's `site` filter; `null` means every site (DeviceProfile). */
export function sitesOf(obj: Pick<Resource, 'kind' | 'metadata' | 'spec'>): readonly string[] | null {
  const spec = (obj.spec ?? {}) as { site?: unknown; sites?: unknown };
  switch (obj.kind) {
    case 'Site':
      return [obj.metadata.name];
    case 'Node':
    case 'Device':
    case 'BrokerCredential':
    case 'PendingDevice':
      return typeof spec.site === 'string' ? [spec.site] : [];
    case 'Addon':
      return Array.isArray(spec.sites) ? spec.sites.filter((s): s is string => typeof s === 'string') : [];
    case 'DeviceProfile':
      return null;
    case 'Lease':
      return [];
  }
}

// ---------------------------------------------------------------------------
// Validation

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function key(path: string, k: string): string {
  return path === '' ? k : `${path}.${k}`;
}

/**
 * A JSON deep copy of `value` (object properties that are `undefined` are
 * dropped, as JSON does); anything that is not JSON (functions, bigint,
 * NaN, Dates, Maps, cycles...) is reported as an issue.
 */
function toJson(value: unknown, path: string, issues: FieldIssue[], seen: Set<object>): Json {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) issues.push({ path, message: `must be a finite number (is ${String(value)})` });
      return value;
    case 'object': {
      if (value === null) return null;
      if (seen.has(value)) {
        issues.push({ path, message: 'is a circular reference' });
        return null;
      }
      seen.add(value);
      try {
        if (Array.isArray(value)) {
          return value.map((v: unknown, i) => {
            if (v === undefined) {
              issues.push({ path: `${path}[${i}]`, message: 'is undefined, which is not JSON' });
              return null;
            }
            return toJson(v, `${path}[${i}]`, issues, seen);
          });
        }
        if (!isPlainObject(value)) {
          const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
          issues.push({ path, message: `must be plain JSON data (is a ${name})` });
          return null;
        }
        const out: { [key: string]: Json } = {};
        for (const [k, v] of Object.entries(value)) {
          if (v === undefined) continue;
          out[k] = toJson(v, key(path, k), issues, seen);
        }
        return out;
      } finally {
        seen.delete(value);
      }
    }
    default:
      issues.push({ path, message: `must be JSON data (is a ${typeof value})` });
      return null;
  }
}

interface SchemaShape {
  type?: unknown;
  properties?: Record<string, TSchema>;
  required?: string[];
  items?: TSchema;
  patternProperties?: Record<string, TSchema>;
  anyOf?: unknown[];
}

function acceptsNull(schema: TSchema): boolean {
  const s = schema as SchemaShape;
  if (s.type === 'null') return true;
  if (s.type === undefined && s.anyOf === undefined) return true; // Unknown
  return Array.isArray(s.anyOf) && s.anyOf.some((b) => acceptsNull(b as TSchema));
}

/** `null` for an optional field means absent (Go's JSON writes nil maps and slices as null): drop it. */
function dropNullOptionals(schema: TSchema, value: Json): void {
  const s = schema as SchemaShape;
  if (s.type === 'object' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      const sub = s.properties?.[k] ?? (s.patternProperties ? Object.values(s.patternProperties)[0] : undefined);
      if (!sub) continue;
      const optional = s.properties !== undefined && k in s.properties && !(s.required ?? []).includes(k);
      if (v === null && optional && !acceptsNull(sub)) delete value[k];
      else dropNullOptionals(sub, v);
    }
  } else if (s.type === 'array' && s.items && Array.isArray(value)) {
    for (const v of value) dropNullOptionals(s.items, v);
  }
}

const VALUE_TYPE_BY_LOWER = new Map<string, ValueType>(VALUE_TYPES.map((v) => [v.toLowerCase(), v]));

/** EdgeX normalisations: value type names are case-insensitive; empty numeric strings (v2) mean unset. */
function normalizeProfile(spec: Json): void {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return;
  const resources = spec.deviceResources;
  if (!Array.isArray(resources)) return;
  for (const r of resources) {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) continue;
    const props = r.properties;
    if (props === null || typeof props !== 'object' || Array.isArray(props)) continue;
    if (typeof props.valueType === 'string') {
      const canonical = VALUE_TYPE_BY_LOWER.get(props.valueType.toLowerCase());
      if (canonical) props.valueType = canonical;
    }
    for (const p of NUMERIC_PROPERTIES) if (props[p] === '') delete props[p];
  }
}

/**
 * Readable messages: patterns explained, and the per-branch lines TypeBox
 * emits for a long union of literals (it stops before the union's own line)
 * dropped — the semantic checks name the allowed values instead.
 */
export function friendlyIssues(issues: FieldIssue[]): FieldIssue[] {
  return issues.filter((i) => i.message !== 'must be equal to constant').map((i) => {
    const m = /^must match pattern "(.*)"$/.exec(i.message);
    const better = m ? PATTERN_MESSAGES[m[1] as string] : undefined;
    return better ? { path: i.path, message: better } : i;
  });
}

function asObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function checkMetadata(kind: Kind | undefined, meta: unknown, issues: FieldIssue[]): void {
  issues.push(...friendlyIssues(checkSchema(ObjectMetaSchema, meta, 'metadata')));
  const m = asObject(meta);
  if (!m) return;
  // Empty and over-long names are already reported by the schema.
  if (typeof m.name === 'string' && m.name !== '' && m.name.length <= 253) {
    const problem = kind === 'Site' ? dns1123LabelProblem(m.name) : dns1123SubdomainProblem(m.name);
    if (problem !== undefined) issues.push({ path: 'metadata.name', message: problem });
  }
  for (const field of ['labels', 'annotations'] as const) {
    const map = asObject(m[field]);
    if (!map) continue;
    let size = 0;
    for (const [k, v] of Object.entries(map)) {
      const kp = labelKeyProblem(k);
      if (kp !== undefined) issues.push({ path: `metadata.${field}.${k}`, message: `key ${kp}` });
      if (typeof v === 'string') {
        size += k.length + v.length;
        if (field === 'labels') {
          const vp = labelValueProblem(v);
          if (vp !== undefined) issues.push({ path: `metadata.labels.${k}`, message: `value ${vp}` });
        }
      }
    }
    if (field === 'annotations' && size > 256 * 1024) {
      issues.push({ path: 'metadata.annotations', message: `must total at most 256 KiB (has ${size} characters)` });
    }
  }
}

function profileIssues(spec: Record<string, unknown>, issues: FieldIssue[], base = 'spec'): void {
  const resources = Array.isArray(spec.deviceResources) ? (spec.deviceResources as unknown[]) : [];
  const byName = new Map<string, { index: number; readWrite: unknown }>();
  resources.forEach((raw, i) => {
    const r = asObject(raw);
    if (!r) return;
    const at = `${base}.deviceResources[${i}]`;
    if (typeof r.name === 'string') {
      const first = byName.get(r.name);
      if (first) issues.push({ path: `${at}.name`, message: `duplicates ${base}.deviceResources[${first.index}].name '${r.name}'` });
      else byName.set(r.name, { index: i, readWrite: asObject(r.properties)?.readWrite });
    }
    const props = asObject(r.properties);
    if (!props) return;
    if (props.valueType !== undefined && !(VALUE_TYPES as readonly unknown[]).includes(props.valueType)) {
      issues.push({
        path: `${at}.properties.valueType`,
        message: `must be an EdgeX value type (${VALUE_TYPES.join(', ')}), is ${JSON.stringify(props.valueType)}`,
      });
    }
    for (const p of NUMERIC_PROPERTIES) {
      const v = props[p];
      if (typeof v === 'string' && numericProperty(v) === undefined) {
        issues.push({ path: `${at}.properties.${p}`, message: `must be a number or a numeric string (is '${v}')` });
      }
    }
    const min = numericProperty(props.minimum as number | string | undefined);
    const max = numericProperty(props.maximum as number | string | undefined);
    if (min !== undefined && max !== undefined && min > max) {
      issues.push({ path: `${at}.properties.minimum`, message: `must not exceed maximum (${min} > ${max})` });
    }
  });

  const commands = Array.isArray(spec.deviceCommands) ? (spec.deviceCommands as unknown[]) : [];
  const commandNames = new Map<string, number>();
  commands.forEach((raw, i) => {
    const c = asObject(raw);
    if (!c) return;
    const at = `${base}.deviceCommands[${i}]`;
    if (typeof c.name === 'string') {
      const first = commandNames.get(c.name);
      if (first !== undefined) issues.push({ path: `${at}.name`, message: `duplicates ${base}.deviceCommands[${first}].name '${c.name}'` });
      else commandNames.set(c.name, i);
    }
    const ops = Array.isArray(c.resourceOperations) ? (c.resourceOperations as unknown[]) : [];
    ops.forEach((rawOp, j) => {
      const op = asObject(rawOp);
      if (!op || typeof op.deviceResource !== 'string' || op.deviceResource === '') return;
      const path = `${at}.resourceOperations[${j}].deviceResource`;
      const target = byName.get(op.deviceResource);
      if (!target) {
        issues.push({ path, message: `names '${op.deviceResource}', which is not in spec.deviceResources` });
        return;
      }
      // As EdgeX: a command may only read/write what its resources allow.
      if (typeof c.readWrite === 'string' && typeof target.readWrite === 'string') {
        const allowed = new Set(target.readWrite);
        const missing = [...c.readWrite].filter((ch) => !allowed.has(ch));
        if (missing.length > 0) {
          issues.push({
            path,
            message: `'${op.deviceResource}' is readWrite '${target.readWrite}', which does not allow the command's '${c.readWrite}'`,
          });
        }
      }
    });
  });
}

function deviceIssues(spec: Record<string, unknown>, issues: FieldIssue[]): void {
  const events = Array.isArray(spec.autoEvents) ? (spec.autoEvents as unknown[]) : [];
  events.forEach((raw, i) => {
    const e = asObject(raw);
    if (!e || typeof e.interval !== 'string') return;
    // Go's syntax (the kernel's parser); the store's own rule on top: longer than zero.
    const ms = goDurationMs(e.interval);
    if (ms === undefined) {
      issues.push({ path: `spec.autoEvents[${i}].interval`, message: `must be a Go duration such as '500ms', '1s' or '1h30m': it ${goDurationProblem(e.interval)}` });
    } else if (ms <= 0) issues.push({ path: `spec.autoEvents[${i}].interval`, message: 'must be longer than zero' });
  });
}

function addonIssues(spec: Record<string, unknown>, issues: FieldIssue[]): void {
  if (typeof spec.version === 'string' && semver.validRange(spec.version) === null) {
    issues.push({ path: 'spec.version', message: `must be a semver range such as '^1.2.0' (is '${spec.version}')` });
  }
  if (Array.isArray(spec.sites)) {
    const seen = new Map<unknown, number>();
    (spec.sites as unknown[]).forEach((s, i) => {
      const first = seen.get(s);
      if (first !== undefined) issues.push({ path: `spec.sites[${i}]`, message: `duplicates spec.sites[${first}] '${String(s)}'` });
      else seen.set(s, i);
    });
  }
  const selector = asObject(spec.siteSelector);
  if (selector) {
    for (const [k, v] of Object.entries(selector)) {
      const kp = labelKeyProblem(k);
      if (kp !== undefined) issues.push({ path: `spec.siteSelector.${k}`, message: `key ${kp}` });
      if (typeof v === 'string') {
        const vp = labelValueProblem(v);
        if (vp !== undefined) issues.push({ path: `spec.siteSelector.${k}`, message: `value ${vp}` });
      }
    }
  }
  const templates = asObject(spec.templates);
  if (templates) {
    for (const site of Object.keys(templates)) {
      const p = dns1123LabelProblem(site);
      if (p !== undefined) issues.push({ path: `spec.templates.${site}`, message: `key must be a site name: ${p}` });
    }
  }
}

function leaseIssues(spec: Record<string, unknown>, issues: FieldIssue[]): void {
  for (const field of ['acquireTime', 'renewTime'] as const) {
    const v = spec[field];
    if (typeof v === 'string' && Number.isNaN(Date.parse(v))) issues.push({ path: `spec.${field}`, message: `must be an RFC 3339 time (is '${v}')` });
  }
  if (typeof spec.holderAddress === 'string' && !URL.canParse(spec.holderAddress)) {
    issues.push({ path: 'spec.holderAddress', message: `must be a URL (is '${spec.holderAddress}')` });
  }
}

function durationIssue(value: unknown, path: string, issues: FieldIssue[]): number | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = goDurationMs(value);
  if (ms === undefined) issues.push({ path, message: `must be a Go duration such as '500ms', '1s' or '1h30m': it ${goDurationProblem(value)}` });
  else if (ms <= 0) issues.push({ path, message: 'must be longer than zero' });
  else return ms;
  return undefined;
}

/** The rules of a site's health settings the schema cannot say (core/health applies the defaults). */
function siteIssues(spec: Record<string, unknown>, issues: FieldIssue[]): void {
  const h = asObject(spec.health);
  if (!h) return;
  const period = durationIssue(h.period, 'spec.health.period', issues) ?? (h.period === undefined ? 10_000 : undefined);
  const voteTimeout = durationIssue(h.voteTimeout, 'spec.health.voteTimeout', issues);
  if (period !== undefined && voteTimeout !== undefined && voteTimeout < 3 * period) {
    issues.push({ path: 'spec.health.voteTimeout', message: `must be at least 3 periods (${3 * period} ms): a vote is re-signed every third of it` });
  }
  const checks = Array.isArray(h.checks) ? (h.checks as unknown[]) : [];
  let total = 0;
  const names = new Map<unknown, number>();
  checks.forEach((raw, i) => {
    const c = asObject(raw);
    if (!c) return;
    const first = names.get(c.name);
    if (first !== undefined) issues.push({ path: `spec.health.checks[${i}].name`, message: `duplicates spec.health.checks[${first}].name '${String(c.name)}'` });
    else names.set(c.name, i);
    total += typeof c.weight === 'number' ? c.weight : 1;
    // Without a timeout, the default fits the period (core/health/config.ts).
    const timeout = durationIssue(c.timeout, `spec.health.checks[${i}].timeout`, issues);
    const tries = 1 + (typeof c.retries === 'number' ? c.retries : 1);
    if (period !== undefined && timeout !== undefined && timeout * tries > period) {
      issues.push({ path: `spec.health.checks[${i}].timeout`, message: `times ${tries} tries (${timeout * tries} ms) must fit in one period (${period} ms)` });
    }
    if (c.type === 'icmp' && c.port !== undefined) issues.push({ path: `spec.health.checks[${i}].port`, message: 'has no meaning for an icmp check' });
    if ((c.type === 'tcp' || c.type === 'icmp') && (c.path !== undefined || c.expectStatus !== undefined || c.insecureSkipVerify !== undefined)) {
      issues.push({ path: `spec.health.checks[${i}]`, message: `path, expectStatus and insecureSkipVerify are for http and https checks, not ${String(c.type)}` });
    }
  });
  if (checks.length === 0) total = 1;
  if (typeof h.passScore === 'number' && h.passScore > total) {
    issues.push({ path: 'spec.health.passScore', message: `is ${h.passScore}, more than the checks' weights add up to (${total}): no peer could pass` });
  }
}

function specIssues(kind: Kind, spec: unknown, issues: FieldIssue[]): void {
  issues.push(...friendlyIssues(checkSchema(SPEC_SCHEMAS[kind], spec, 'spec')));
  const s = asObject(spec);
  if (!s) return;
  if (kind === 'DeviceProfile') profileIssues(s, issues);
  else if (kind === 'Device') deviceIssues(s, issues);
  else if (kind === 'Addon') addonIssues(s, issues);
  else if (kind === 'Lease') leaseIssues(s, issues);
  else if (kind === 'Site') siteIssues(s, issues);
  else if (kind === 'BrokerCredential') brokerCredentialIssues(s, issues);
  else if (kind === 'PendingDevice') profileIssues(asObject(s.profile) ?? {}, issues, 'spec.profile');
}

/** The site broker's own login (its plugins'); no BrokerCredential may take the name. */
export const SITE_BROKER_INTERNAL_USERNAME = 'edgeadm-site';

function brokerCredentialIssues(spec: Record<string, unknown>, issues: FieldIssue[]): void {
  if (spec.username === SITE_BROKER_INTERNAL_USERNAME) {
    issues.push({ path: 'spec.username', message: `'${SITE_BROKER_INTERNAL_USERNAME}' is reserved for the site's own clients` });
  }
  if (typeof spec.passwordHash === 'string' && !isSecretHash(spec.passwordHash)) {
    issues.push({ path: 'spec.passwordHash', message: "must be a hash the hub wrote ('scrypt$...'); issue passwords with POST /api/v1/sites/<site>/broker-credentials" });
  }
}

export type PrepareStatusResult = { ok: true; value: Record<string, unknown> } | { ok: false; issues: FieldIssue[] };

/** Validates a status body of `kind` (paths prefixed with `status`) and returns the JSON copy the store keeps. */
export function prepareStatus(kind: Kind, status: unknown): PrepareStatusResult {
  const issues: FieldIssue[] = [];
  const copy = toJson(status, 'status', issues, new Set());
  if (issues.length > 0) return { ok: false, issues };
  dropNullOptionals(STATUS_SCHEMAS[kind], copy);
  issues.push(...friendlyIssues(checkSchema(STATUS_SCHEMAS[kind], copy, 'status')));
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, value: copy as Record<string, unknown> };
}

/** Every problem of a status body of `kind`, paths prefixed with `status`. */
export function validateStatus(kind: Kind, status: unknown): FieldIssue[] {
  const r = prepareStatus(kind, status);
  return r.ok ? [] : r.issues;
}

export type PrepareResult = { ok: true; value: Resource } | { ok: false; issues: FieldIssue[] };

/**
 * Validates `obj` and returns the normalised copy the store keeps: a JSON
 * deep copy with spec defaults applied (Device adminState), `null` optional
 * fields dropped, and EdgeX normalisations (case-insensitive value types,
 * empty v2 numeric strings removed). Reports every problem at once.
 */
export function prepareResource(obj: unknown): PrepareResult {
  const issues: FieldIssue[] = [];
  const copy = toJson(obj, '', issues, new Set());
  const root = asObject(copy) as { [key: string]: Json } | undefined;
  if (!root) {
    if (issues.length === 0) issues.push({ path: '', message: 'must be an object' });
    return { ok: false, issues };
  }

  for (const k of Object.keys(root)) {
    if (!['apiVersion', 'kind', 'metadata', 'spec', 'status'].includes(k)) issues.push({ path: k, message: 'is not a known field' });
  }
  if (root.apiVersion === undefined) issues.push({ path: 'apiVersion', message: 'is required' });
  else if (root.apiVersion !== API_VERSION) {
    issues.push({ path: 'apiVersion', message: `must be '${API_VERSION}' (is ${JSON.stringify(root.apiVersion)})` });
  }
  let kind: Kind | undefined;
  if (root.kind === undefined) issues.push({ path: 'kind', message: 'is required' });
  else if (typeof root.kind === 'string' && (KINDS as readonly string[]).includes(root.kind)) kind = root.kind as Kind;
  else issues.push({ path: 'kind', message: `must be one of ${KINDS.map((k) => `'${k}'`).join(', ')} (is ${JSON.stringify(root.kind)})` });

  if (root.metadata === undefined) issues.push({ path: 'metadata', message: 'is required' });
  else checkMetadata(kind, root.metadata, issues);

  if (root.spec === undefined) issues.push({ path: 'spec', message: 'is required' });
  else if (kind) {
    dropNullOptionals(SPEC_SCHEMAS[kind], root.spec);
    if (kind === 'DeviceProfile') normalizeProfile(root.spec);
    if (asObject(root.spec)) root.spec = Value.Default(SPEC_SCHEMAS[kind], root.spec) as Json;
    specIssues(kind, root.spec, issues);
  }
  if (root.status === null) delete root.status;
  if (root.status !== undefined && kind) {
    dropNullOptionals(STATUS_SCHEMAS[kind], root.status);
    issues.push(...friendlyIssues(checkSchema(STATUS_SCHEMAS[kind], root.status, 'status')));
  }
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, value: root as unknown as Resource };
}

/**
 * Every problem of `obj` as a resource: apiVersion, kind, metadata (name
 * rules per kind, label keys and values), spec and status against the kind's
 * schema, and the semantic checks (unique resource names, command operations
 * naming existing resources, numeric strings, Go durations, semver ranges).
 * An empty array means valid.
 */
export function validateResource(obj: unknown): FieldIssue[] {
  const r = prepareResource(obj);
  return r.ok ? [] : r.issues;
}

/** The metadata fields the store owns; input values for them are ignored on write. */
export const SYSTEM_METADATA = ['uid', 'resourceVersion', 'generation', 'creationTimestamp'] as const satisfies readonly (keyof ObjectMeta)[];
