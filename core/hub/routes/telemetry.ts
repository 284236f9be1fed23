/**
 * Telemetry over REST: batch ingest from a site's agent (gzip welcome;
 * idempotent on (site, producer, stream, seq) in the TelemetryStore, the
 * producer being the caller's own credential), paged queries, the newest
 * reading of each device resource (what a dashboard shows first), the
 * producer streams of a site and the quarantined readings.
 */
import type { Reading, StoredReading } from '../../sdk/index.ts';
import type { DeviceObject, SiteObject } from '../../store/index.ts';
import { deliveryOf } from '../delivery.ts';
import type { LiveFilter, TelemetryQuery } from '../../telemetry/index.ts';
import { principalOf, requireAuth } from '../auth.ts';
import { producerOf } from '../tokens.ts';
import { toErrorInfo } from '../../kernel/index.ts';
import type { HubApp, HubContext } from '../context.ts';
import type { RequestIssue } from '../errors.ts';
import {
  errorResponses,
  IngestBody,
  IngestResultSchema,
  DeliveryListSchema,
  LatestQuery,
  LatestSchema,
  QuarantineListSchema,
  QuarantineQuery,
  StreamListSchema,
  StreamsQuery,
  SiteParams,
  TelemetryPageSchema,
  TelemetryQueryString,
} from '../schemas.ts';
import { badRequest } from '../transport.ts';

const RFC3339_RE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/** `1700000000000000000` (ns) or `2023-11-14T22:13:20.123456789Z` -> ns since the epoch; undefined if neither. */
export function parseTime(s: string): number | undefined {
  if (/^\d{1,20}$/.test(s)) return Number(s);
  const m = RFC3339_RE.exec(s);
  if (!m) return undefined;
  const [, whole, fraction = '', zone] = m as unknown as [string, string, string | undefined, string];
  const ms = Date.parse(`${whole}${zone.toUpperCase()}`);
  if (Number.isNaN(ms)) return undefined;
  return ms * 1_000_000 + Number(fraction.padEnd(9, '0'));
}

/** Filters shared by the query and the live streams. */
export function liveFilterOf(q: { site?: string; device?: string; resource?: string }): LiveFilter {
  const f: LiveFilter = {};
  if (q.site !== undefined) f.site = q.site;
  if (q.device !== undefined) f.device = q.device;
  if (q.resource !== undefined) f.resource = q.resource;
  return f;
}

/** How far back, in readings per device, the newest value of each resource is looked for. */
export const LATEST_LOOKBACK = 256;

export function registerTelemetryRoutes(app: HubApp, ctx: HubContext): void {
  app.get(
    '/api/v1/telemetry/latest',
    {
      onRequest: requireAuth(['admin', 'viewer']),
      schema: {
        tags: ['telemetry'],
        summary: 'The newest reading of each device resource',
        description: `For each Device (of \`site\`, or only \`device\`), the newest reading of every resource found among its last ${LATEST_LOOKBACK} readings: one indexed read per device.`,
        querystring: LatestQuery,
        response: { 200: LatestSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { site, device } = request.query;
      let devices: DeviceObject[];
      if (device !== undefined) {
        const one = await ctx.store.get<DeviceObject>('Device', device);
        devices = one && (site === undefined || one.spec.site === site) ? [one] : [];
      } else {
        devices = (await ctx.store.list<DeviceObject>('Device', site === undefined ? {} : { site })).items;
      }
      const items: StoredReading[] = [];
      for (const d of devices) {
        const seen = new Set<string>();
        for (const r of (await ctx.telemetry.query({ site: d.spec.site, device: d.metadata.name, descending: true, limit: LATEST_LOOKBACK })).items) {
          if (seen.has(r.resource)) continue;
          seen.add(r.resource);
          items.push(r);
        }
      }
      return { items };
    },
  );

  app.post(
    '/api/v1/sites/:site/telemetry',
    {
      onRequest: requireAuth(['admin', 'agent'], { siteParam: 'site' }),
      schema: {
        tags: ['telemetry'],
        summary: "Ingest a batch of a site's readings",
        description:
          "The batch names its producer stream (`stream.id`, and `stream.lastSeq`, the last seq that stream has issued); the producer is the caller's own credential (its node, or the token). " +
          'Idempotent on (site, producer, stream, seq): a batch sent twice is stored once and counted as duplicates the second time; a seq already held with other content is a conflict (quarantined, the stored reading kept). ' +
          'Readings of a device the site does not have, or of a resource its profile lacks, are quarantined (`GET /api/v1/telemetry/quarantine`). ' +
          'A stream whose lastSeq goes back is refused with 409 EDGE_ERR_TELEMETRY_STREAM_REWOUND: start a new stream. ' +
          '`Content-Encoding: gzip` (or deflate, br) is accepted; the decompressed body must fit the body limit.',
        params: SiteParams,
        body: IngestBody,
        response: { 200: IngestResultSchema, ...errorResponses },
      },
    },
    async (request) => {
      const site = request.params.site;
      const principal = principalOf(request);
      // Checked against ReadingSchema; TypeBox's static type of its literal unions is looser than Reading.
      const readings = request.body.readings as unknown as readonly Reading[];
      const issues: RequestIssue[] = [];
      readings.forEach((r, i) => {
        if (r.site !== site) issues.push({ in: 'body', path: `readings[${i}].site`, message: `is '${r.site}', not the site in the path ('${site}')` });
      });
      if (issues.length > 0) throw badRequest(issues);
      const key = { site, producer: producerOf(principal), stream: request.body.stream };
      let result;
      try {
        result = await ctx.telemetry.ingest(key, readings, { classify: await ctx.catalog.classifier(site, readings) });
      } catch (err) {
        ctx.metrics.readings.inc({ result: 'refused' }, readings.length);
        request.log.warn({ site, producer: key.producer, stream: key.stream.id, readings: readings.length, err: toErrorInfo(err) }, 'telemetry batch refused');
        throw err;
      }
      if (result.accepted > 0) ctx.metrics.readings.inc({ result: 'accepted' }, result.accepted);
      if (result.duplicates > 0) ctx.metrics.readings.inc({ result: 'duplicate' }, result.duplicates);
      if (result.conflicts > 0) ctx.metrics.readings.inc({ result: 'conflict' }, result.conflicts);
      if (result.quarantined > 0) ctx.metrics.readings.inc({ result: 'quarantined' }, result.quarantined);
      return result;
    },
  );

  app.get(
    '/api/v1/telemetry/streams',
    {
      onRequest: requireAuth(['admin', 'viewer']),
      schema: {
        tags: ['telemetry'],
        summary: 'The producer streams the hub holds readings of',
        description: 'Per (site, producer, stream): readings held, quarantined, conflicts and duplicates seen, the highest seq held and the highest lastSeq the producer declared.',
        querystring: StreamsQuery,
        response: { 200: StreamListSchema, ...errorResponses },
      },
    },
    async (request) => ({ items: await ctx.telemetry.streams(request.query.site) }),
  );

  app.get(
    '/api/v1/telemetry/delivery',
    {
      onRequest: requireAuth(['admin', 'viewer']),
      schema: {
        tags: ['telemetry'],
        summary: "Whether every reading each site's agent sent is at the hub",
        description:
          "Compares the counts the site's agent last reported (acknowledged seq, outbox drops, pending) with what the hub holds of its streams: `missing` counts readings the agent had acknowledged that the hub does not hold.",
        querystring: StreamsQuery,
        response: { 200: DeliveryListSchema, ...errorResponses },
      },
    },
    async (request) => {
      const site = request.query.site;
      const sites = site === undefined ? (await ctx.store.list<SiteObject>('Site')).items : [await ctx.store.get<SiteObject>('Site', site)].filter((s) => s !== undefined);
      const items = [];
      for (const s of sites) items.push(deliveryOf(s, await ctx.telemetry.streams(s.metadata.name)));
      return { items };
    },
  );

  app.get(
    '/api/v1/telemetry/quarantine',
    {
      onRequest: requireAuth(['admin', 'viewer']),
      schema: {
        tags: ['telemetry'],
        summary: 'Readings kept aside instead of stored, newest first',
        description: 'Reasons: `conflict` (the seq was held with other content), `unknown-device`, `unknown-resource`.',
        querystring: QuarantineQuery,
        response: { 200: QuarantineListSchema, ...errorResponses },
      },
    },
    async (request) => {
      const q = request.query;
      return {
        items: await ctx.telemetry.quarantined({ ...(q.site === undefined ? {} : { site: q.site }), ...(q.reason === undefined ? {} : { reason: q.reason }), ...(q.limit === undefined ? {} : { limit: q.limit }) }),
      };
    },
  );

  app.get(
    '/api/v1/telemetry',
    {
      onRequest: requireAuth(['admin', 'viewer']),
      schema: {
        tags: ['telemetry'],
        summary: 'Query readings',
        description: 'Filters by site, device, resource and origin range (inclusive). Pass `next` back as `cursor` for the next page.',
        querystring: TelemetryQueryString,
        response: { 200: TelemetryPageSchema, ...errorResponses },
      },
    },
    async (request) => {
      const q = request.query;
      const query: TelemetryQuery = liveFilterOf(q);
      const issues: RequestIssue[] = [];
      for (const field of ['from', 'to'] as const) {
        const raw = q[field];
        if (raw === undefined) continue;
        const t = parseTime(raw);
        if (t === undefined) issues.push({ in: 'querystring', path: field, message: 'must be nanoseconds since the epoch or an RFC 3339 time' });
        else query[field] = t;
      }
      if (issues.length > 0) throw badRequest(issues);
      if (q.limit !== undefined) query.limit = q.limit;
      if (q.cursor !== undefined) query.cursor = q.cursor;
      if (q.order === 'desc') query.descending = true;
      return await ctx.telemetry.query(query);
    },
  );
}
