/**
 * A live view of resources as Server-Sent Events, for the console and other
 * operator tools: each connection gets `event: reset`, the current objects as
 * `event: resource` ADDED events, `event: synced` with the revision the
 * snapshot reflects, then every change. Snapshot and changes are stitched
 * without gaps or regressions: the watch starts at the revision read before
 * the lists, and a change already contained in its kind's list is skipped.
 * When the stream ends for any reason (a store error such as 410 Gone, a
 * slow reader), the client reconnects and starts over from `reset`, so it
 * needs no resume logic. Credentials and leases are not served here.
 */
import { Type } from 'typebox';
import type { Kind, Resource } from '../../store/index.ts';
import { requireAuth } from '../auth.ts';
import type { HubApp, HubContext } from '../context.ts';
import { badRequest } from '../transport.ts';
import { errorResponses } from '../schemas.ts';
import { sseStreams } from './sse.ts';

/** Kinds an operator may watch: everything but secrets (BrokerCredential hashes) and tunnel leases. */
export const WATCHABLE_KINDS: readonly Kind[] = ['Site', 'Node', 'DeviceProfile', 'Device', 'Addon', 'PendingDevice'];

const WatchQuery = Type.Object({
  kinds: Type.Optional(Type.String({ description: `Comma-separated kinds; default all of ${WATCHABLE_KINDS.join(', ')}.` })),
  site: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: 'Only objects of this site (for Site: the site itself).' })),
  access_token: Type.Optional(Type.String({ description: 'The bearer token, for clients that cannot set headers.' })),
});

function kindsOf(raw: string | undefined): Kind[] {
  if (raw === undefined || raw.trim() === '') return [...WATCHABLE_KINDS];
  const kinds: Kind[] = [];
  const unknown: string[] = [];
  for (const part of raw.split(',')) {
    const k = part.trim();
    if (k === '') continue;
    const kind = WATCHABLE_KINDS.find((w) => w === k);
    if (kind === undefined) unknown.push(k);
    else if (!kinds.includes(kind)) kinds.push(kind);
  }
  if (unknown.length > 0 || kinds.length === 0) {
    throw badRequest([
      { in: 'querystring', path: 'kinds', message: `${unknown.length > 0 ? `'${unknown.join("', '")}' not watchable` : 'names no kind'}; choose from ${WATCHABLE_KINDS.join(', ')}` },
    ]);
  }
  return kinds;
}

const revisionOf = (obj: Resource): bigint => BigInt(obj.metadata.resourceVersion ?? '0');

export function registerWatchRoutes(app: HubApp, ctx: HubContext): void {
  const openSse = sseStreams(app, ctx);

  app.get(
    '/api/v1/watch',
    {
      exposeHeadRoute: false,
      onRequest: requireAuth(['admin', 'viewer'], { queryToken: true }),
      schema: {
        tags: ['resources'],
        summary: 'Resources and their changes as Server-Sent Events',
        description:
          '`event: reset`, then the current objects as `event: resource` `{type: "ADDED", object}`, then `event: synced` `{resourceVersion}`, then each change (`ADDED`, `MODIFIED`, `DELETED`). On reconnect it starts over with `reset`. A `: heartbeat` comment is sent while idle.',
        querystring: WatchQuery,
        response: {
          200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const kinds = kindsOf(request.query.kinds);
      const site = request.query.site;
      const ac = new AbortController();
      // Read before the lists: every change after it is either in a list or delivered by the watch.
      const from = await ctx.store.currentResourceVersion();

      const sse = openSse(request, reply, 'watch');
      sse.onEnd(() => ac.abort());
      sse.send('event: reset\ndata: {}\n\n');

      try {
        const listed = new Map<Kind, bigint>();
        let synced = BigInt(from);
        for (const kind of kinds) {
          const list = await ctx.store.list(kind, site === undefined ? {} : { site });
          const rv = BigInt(list.resourceVersion);
          listed.set(kind, rv);
          if (rv > synced) synced = rv;
          for (const object of list.items) {
            if (!sse.send(`event: resource\ndata: ${JSON.stringify({ type: 'ADDED', object })}\n\n`)) return;
            // A snapshot larger than the slow-reader limit (tens of thousands of devices) goes out as the client reads it.
            await sse.drained();
          }
        }
        if (!sse.send(`event: synced\ndata: ${JSON.stringify({ resourceVersion: String(synced) })}\n\n`)) return;
        const events = ctx.store.watch({ resourceVersion: from, kinds, signal: ac.signal, ...(site === undefined ? {} : { site }) });
        for await (const ev of events) {
          if (ev.type === 'BOOKMARK') continue;
          const seen = listed.get(ev.object.kind);
          if (seen !== undefined && revisionOf(ev.object) <= seen) continue;
          if (!sse.send(`event: resource\ndata: ${JSON.stringify({ type: ev.type, object: ev.object })}\n\n`)) return;
        }
      } catch (err) {
        if (!ac.signal.aborted) request.log.info({ err }, 'watch stream ended by an error; the client starts over');
      } finally {
        sse.end();
      }
    },
  );
}
