/**
 * The sync session between the hub and a site agent: the hub replicates the
 * resources that concern one site (a snapshot at a resourceVersion, then
 * deltas), the agent persists each step before it acknowledges, and resumes
 * from its last persisted resourceVersion after any disconnect or restart.
 * Commands to the site's devices (writes, and reads asked for now) ride the
 * same session. Messages are JSON text frames over one WebSocket:
 * `GET /api/v1/sites/<site>/sync`.
 */
import Type, { type Static } from 'typebox';
import { checkSchema, DEFAULT_MAX_JSON_DEPTH, parseJson } from '../kernel/index.ts';
import { ErrSyncMessage } from './errors.ts';
import { addonTargets } from './addons.ts';
import type { Kind, Resource } from './types.ts';

export const SYNC_PROTOCOL = 'edgeadm.sync.v1';
export const SYNC_KINDS: readonly Kind[] = ['Site', 'Node', 'DeviceProfile', 'Device', 'Addon', 'BrokerCredential'];
/** Largest frame either side accepts. */
export const SYNC_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** A write of `value` to `resource` (`kind` absent, as agents before reads expect it). */
const WriteCommandSchema = Type.Object({
  id: Type.String({ minLength: 1 }),
  device: Type.String({ minLength: 1 }),
  kind: Type.Optional(Type.Literal('write')),
  resource: Type.String({ minLength: 1 }),
  value: Type.Unknown(),
  expiresAt: Type.String(),
});
/** A read, now, of `resources` (deviceResources or deviceCommands; none: every readable resource): the result reports the samples. */
const ReadCommandSchema = Type.Object({
  id: Type.String({ minLength: 1 }),
  device: Type.String({ minLength: 1 }),
  kind: Type.Literal('read'),
  resources: Type.Array(Type.String({ minLength: 1 }), { maxItems: 256 }),
  expiresAt: Type.String(),
});
const CommandSchema = Type.Union([WriteCommandSchema, ReadCommandSchema]);
export type SiteCommand = Static<typeof CommandSchema>;

const ErrorBody = Type.Object({ code: Type.String(), message: Type.String() });
const RV = Type.String({ pattern: '^[0-9]+$' });

const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

/** A problem of the agent: a store that cannot write, telemetry the hub holds that the agent never sent. */
export const AgentProblemSchema = Type.Object(
  {
    component: Type.String({ minLength: 1, maxLength: 64 }),
    code: Type.String({ minLength: 1, maxLength: 128 }),
    message: Type.String({ maxLength: 2048 }),
    since: Type.String({ maxLength: 64 }),
  },
  { additionalProperties: false },
);

/**
 * The agent's health and its outbox's counts, as it reports them. With the
 * hub's own counts of the producer's streams, they tell whether every
 * reading the agent sent is held (`GET /api/v1/telemetry/delivery`).
 */
export const HEALTH_VERDICTS = ['healthy', 'unhealthy', 'unknown'] as const;
/** One node's verdict, as a site's vote found it (core/health/agent.ts). */
export const HealthVerdictSchema = Type.Object(
  {
    node: Type.String({ minLength: 1, maxLength: 253 }),
    verdict: Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy'), Type.Literal('unknown')]),
    /** Fresh votes that it passes, and that it fails; how many peers are to vote on it. */
    pros: Count,
    cons: Count,
    expected: Count,
    /** When the verdict last changed, and the newest vote counted (RFC 3339). */
    since: Type.String({ maxLength: 64 }),
    votedAt: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type HealthVerdict = Static<typeof HealthVerdictSchema>;

export const AgentReportSchema = Type.Object(
  {
    health: Type.Object(
      {
        state: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
        problems: Type.Array(AgentProblemSchema, { maxItems: 32 }),
      },
      { additionalProperties: false },
    ),
    telemetry: Type.Object(
      {
        /** The outbox's current stream, and every stream it has sent under (newest last). */
        stream: Type.String({ maxLength: 64 }),
        streams: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 1000 }),
        /** The first seq sent under those streams (an outbox from before streams numbered earlier ones differently). */
        firstSeq: Count,
        /** The last seq issued, the last the hub acknowledged, readings not yet acknowledged. */
        lastSeq: Count,
        ackedSeq: Count,
        pending: Count,
        /** Readings the outbox dropped (bounds) since the file was made. */
        droppedEver: Count,
        /** Readings drivers produced that the site could not store (disk), since the agent started. */
        notStored: Count,
      },
      { additionalProperties: false },
    ),
    /**
     * Distributed health (core/health): the verdicts of the site's vote on the nodes this agent's node checks.
     * The hub records them on those Nodes (nodes of the agent's own site only).
     */
    nodeHealth: Type.Optional(
      Type.Object(
        {
          verdicts: Type.Array(HealthVerdictSchema, { maxItems: 64 }),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * The agent's process: resident memory (bytes), and CPU as a share of one core (percent) since the
     * agent's previous report. With `edgeadm demo` the process also runs the hub.
     */
    process: Type.Optional(
      Type.Object(
        {
          rssBytes: Count,
          cpuPercent: Type.Number({ minimum: 0, maximum: 100_000 }),
        },
        { additionalProperties: false },
      ),
    ),
    /** A Kubernetes-mode node's lite-apiserver (core/lite-apiserver): whether the node's components reach the cloud through it, or its cache. */
    liteApiserver: Type.Optional(
      Type.Object(
        {
          /** online: requests go to the cloud; offline or resyncing: answered from the cache; failed: it could not start (see health). */
          state: Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('resyncing'), Type.Literal('failed')]),
          since: Type.String({ maxLength: 64 }),
          offlineSeconds: Type.Number({ minimum: 0 }),
          outages: Count,
          cacheBytes: Count,
          cacheEntries: Count,
          /** Requests answered from the cache, and those nothing cached could answer, since the agent started. */
          hits: Count,
          misses: Count,
          lastError: Type.Optional(Type.String({ maxLength: 1024 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type AgentReport = Static<typeof AgentReportSchema>;

export const AgentMessageSchema = Type.Union([
  Type.Object({
    type: Type.Literal('hello'),
    protocol: Type.Literal(SYNC_PROTOCOL),
    site: Type.String({ minLength: 1 }),
    resourceVersion: Type.Union([RV, Type.Null()]),
    have: Type.Array(Type.Object({ kind: Type.String(), name: Type.String() })),
    agentVersion: Type.String(),
  }),
  Type.Object({ type: Type.Literal('ack'), resourceVersion: RV }),
  Type.Object({ type: Type.Literal('status'), ...AgentReportSchema.properties }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('command-result'),
    id: Type.String({ minLength: 1 }),
    ok: Type.Boolean(),
    reported: Type.Optional(Type.Unknown()),
    error: Type.Optional(ErrorBody),
  }),
]);
export type AgentMessage = Static<typeof AgentMessageSchema>;

export type HubMessage =
  | { type: 'snapshot'; resourceVersion: string; items: Resource[] }
  | { type: 'event'; event: 'ADDED' | 'MODIFIED' | 'DELETED'; object: Resource; resourceVersion: string }
  | { type: 'bookmark'; resourceVersion: string }
  | { type: 'command'; command: SiteCommand; notBefore: string }
  | { type: 'error'; code: string; message: string };

const ResourceShape = Type.Object({
  apiVersion: Type.String(),
  kind: Type.Union(SYNC_KINDS.map((k) => Type.Literal(k))),
  metadata: Type.Object({ name: Type.String() }),
  spec: Type.Unknown(),
});

export const HubMessageSchema = Type.Union([
  Type.Object({ type: Type.Literal('snapshot'), resourceVersion: RV, items: Type.Array(ResourceShape) }),
  Type.Object({
    type: Type.Literal('event'),
    event: Type.Union([Type.Literal('ADDED'), Type.Literal('MODIFIED'), Type.Literal('DELETED')]),
    object: ResourceShape,
    resourceVersion: RV,
  }),
  Type.Object({ type: Type.Literal('bookmark'), resourceVersion: RV }),
  /** Apply once the replica has reached `notBefore`: the command may name a device created just before it. */
  Type.Object({ type: Type.Literal('command'), command: CommandSchema, notBefore: RV }),
  Type.Object({ type: Type.Literal('error'), code: Type.String(), message: Type.String() }),
]);

function parse(raw: string, side: 'hub' | 'agent', schema: typeof AgentMessageSchema | typeof HubMessageSchema): unknown {
  let data: unknown;
  try {
    // The hub's messages wrap resources the hub accepted at the body depth limit: allow their envelope on top.
    data = parseJson(raw, { what: `sync message from the ${side}`, maxDepth: DEFAULT_MAX_JSON_DEPTH + (side === 'hub' ? 8 : 0) });
  } catch (err) {
    throw new ErrSyncMessage({ side, issues: [{ path: '', message: `is not acceptable JSON (${(err as Error).message})` }] });
  }
  const issues = checkSchema(schema, data);
  if (issues.length > 0) {
    const type = (data as { type?: unknown } | null)?.type;
    throw new ErrSyncMessage({ side, issues: typeof type === 'string' ? [{ path: 'type', message: `'${type}' message is malformed` }, ...issues.slice(0, 5)] : issues.slice(0, 5) });
  }
  return data;
}

export function parseAgentMessage(raw: string): AgentMessage {
  return parse(raw, 'agent', AgentMessageSchema) as AgentMessage;
}

export function parseHubMessage(raw: string): HubMessage {
  return parse(raw, 'hub', HubMessageSchema) as HubMessage;
}

/** Whether a resource belongs in a site's replica. `siteLabels` are the Site's own labels. */
export function relevantToSite(obj: Resource, site: string, siteLabels: Readonly<Record<string, string>>): boolean {
  const spec = (obj.spec ?? {}) as { site?: unknown; sites?: unknown; siteSelector?: unknown };
  switch (obj.kind) {
    case 'Site':
      return obj.metadata.name === site;
    case 'Node':
    case 'Device':
    case 'BrokerCredential':
      return spec.site === site;
    case 'PendingDevice':
      // The site reports them; the hub decides. They do not travel back.
      return false;
    case 'DeviceProfile':
      return true;
    case 'Lease':
      // Leases coordinate hub-side replicas; sites never see them.
      return false;
    case 'Addon': {
      const sites = Array.isArray(spec.sites) ? spec.sites.filter((s): s is string => typeof s === 'string') : undefined;
      const selector = spec.siteSelector && typeof spec.siteSelector === 'object' ? (spec.siteSelector as Record<string, string>) : undefined;
      return addonTargets({ sites, siteSelector: selector }, site, siteLabels);
    }
  }
}
