/**
 * `GET /api/v1/overview` (operators, read-only): what needs attention, for
 * the console's home page. Counts of sites, nodes, devices, addon instances
 * and pending approvals, then the first `limit` items (default 20) of each
 * problem list with its total: sites offline, nodes their peers vote
 * unhealthy, problems agents report, devices down with their cause, failed
 * addon instances, devices waiting for approval. Computed by
 * core/hub/overview.ts from the resource store; devices from an in-memory
 * index, so a call stays cheap with tens of thousands of them.
 */
import Type, { type TSchema } from 'typebox';
import { requireAuth } from '../auth.ts';
import type { HubApp, HubContext } from '../context.ts';
import { computeOverview, DeviceIndex } from '../overview.ts';
import { errorResponses } from '../schemas.ts';

const Count = Type.Integer({ minimum: 0 });
const Text = Type.String();
const pageOf = <T extends TSchema>(item: T) => Type.Object({ total: Count, items: Type.Array(item) });

export const OverviewSchema = Type.Object({
  /** When the hub computed it. */
  generatedAt: Text,
  /** Items at most per list. */
  limit: Count,
  counts: Type.Object({
    sites: Type.Object({ total: Count, online: Count, offline: Count, neverConnected: Count }),
    /** connected: its tunnel is up; unhealthy: its peers vote it so. */
    nodes: Type.Object({ total: Count, connected: Count, unhealthy: Count }),
    /** As core/store/standing.ts's deviceStanding: a device at an offline site is unknown. */
    devices: Type.Object({ total: Count, up: Count, down: Count, unknown: Count }),
    /** One per (Addon, site), as core/store/standing.ts's addonInstanceStanding. */
    addonInstances: Type.Object({ total: Count, running: Count, failed: Count, notReady: Count }),
    /** PendingDevices waiting for a decision. */
    pendingDevices: Count,
  }),
  /** Longest offline first; `since` is the site's last sign of life. */
  sitesOffline: pageOf(Type.Object({ name: Text, since: Type.Optional(Text), message: Type.Optional(Text) })),
  /** Voted unhealthy longest first; `standing` as nodeStanding says it. */
  nodesUnhealthy: pageOf(Type.Object({ name: Text, site: Text, standing: Text, since: Text, cons: Count, expected: Count })),
  /** What sites' agents report wrong with themselves (a store that cannot write: a full disk), oldest first. */
  agentProblems: pageOf(Type.Object({ site: Text, agent: Text, component: Text, code: Text, message: Text, since: Text })),
  /** By name; `reason` is the site's report (status.message). */
  devicesDown: pageOf(Type.Object({ name: Text, site: Text, reason: Text, lastSeen: Type.Optional(Text) })),
  /** By addon, then site; the state, code and message as the hub serves them. */
  addonsFailed: pageOf(Type.Object({ addon: Text, site: Text, state: Text, code: Type.Optional(Text), message: Type.Optional(Text) })),
  /** Waiting longest first. */
  pendingDevices: pageOf(Type.Object({ name: Text, site: Text, firstSeen: Text, suggestedName: Type.Optional(Text) })),
});

const OverviewQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, description: 'Items at most per problem list, default 20.' })),
});

export function registerOverviewRoutes(app: HubApp, ctx: HubContext): void {
  const index = new DeviceIndex(ctx.store, ctx.logger);
  app.addHook('onClose', (_app, done) => {
    index.close();
    done();
  });

  app.get(
    '/api/v1/overview',
    {
      onRequest: requireAuth(['admin', 'viewer']),
      schema: {
        tags: ['overview'],
        summary: 'What needs attention: counts, then the first items of each problem list with its total',
        querystring: OverviewQuery,
        response: { 200: OverviewSchema, ...errorResponses },
      },
    },
    async (request) => computeOverview(ctx.store, index, request.query.limit ?? 20),
  );
}
