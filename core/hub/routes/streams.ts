/**
 * Live telemetry: Server-Sent Events (`event: readings`, data a JSON array,
 * a heartbeat comment every interval) and WebSocket (`{ type: 'readings',
 * readings }` messages, pings every interval), both fed by
 * TelemetryStore.subscribe with the site/device/resource filter. A client is
 * unsubscribed when it goes away; one that reads too slowly (unsent data over
 * the limit) is disconnected and counted, so it cannot grow memory without
 * bound. Closing the app ends every stream.
 */
import type { FastifyRequest } from 'fastify';
import '@fastify/websocket';
import { WebSocket } from 'ws';
import type { Reading } from '../../sdk/index.ts';
import { requireAuth, stillAuthorized } from '../auth.ts';
import type { HubApp, HubContext } from '../context.ts';
import { errorResponses, StreamQuery } from '../schemas.ts';
import { sseStreams } from './sse.ts';
import { liveFilterOf } from './telemetry.ts';

export function registerStreamRoutes(app: HubApp, ctx: HubContext): void {
  const { heartbeatMs, maxBufferedBytes } = ctx.streams;
  const openSse = sseStreams(app, ctx);
  /** Ends each open WebSocket stream; run before the server closes. */
  const open = new Set<() => void>();
  app.addHook('preClose', (done) => {
    for (const end of [...open]) end();
    done();
  });

  const transport = 'ws';
  /** Bookkeeping of a WebSocket client; returns the idempotent cleanup. */
  const track = (request: FastifyRequest, end: () => void, release: () => void): (() => void) => {
    ctx.metrics.streamClients.inc({ transport });
    open.add(end);
    let done = false;
    request.log.debug({ transport }, 'live client connected');
    return () => {
      if (done) return;
      done = true;
      open.delete(end);
      release();
      ctx.metrics.streamClients.dec({ transport });
      request.log.debug({ transport }, 'live client gone');
    };
  };
  const dropped = (request: FastifyRequest, buffered: number): void => {
    ctx.metrics.streamDropped.inc({ transport });
    request.log.warn({ transport, buffered, limit: maxBufferedBytes }, 'live client reads too slowly: disconnected');
  };

  app.get(
    '/api/v1/telemetry/stream',
    {
      exposeHeadRoute: false,
      onRequest: requireAuth(['admin', 'viewer'], { queryToken: true }),
      schema: {
        tags: ['telemetry'],
        summary: 'Live readings as Server-Sent Events',
        description:
          'Each accepted batch arrives as `event: readings` with a JSON array of readings; a `: heartbeat` comment is sent while idle. Filters: site, device, resource. The same stream is served as WebSocket messages `{ type: "readings", readings }` at /api/v1/telemetry/ws. The token may be passed as `access_token`.',
        querystring: StreamQuery,
        response: {
          200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          ...errorResponses,
        },
      },
    },
    (request, reply) => {
      const filter = liveFilterOf(request.query);
      const sse = openSse(request, reply, 'sse');
      sse.onEnd(ctx.telemetry.subscribe(filter, (readings: readonly Reading[]) => void sse.send(`event: readings\ndata: ${JSON.stringify(readings)}\n\n`)));
    },
  );

  app.get(
    '/api/v1/telemetry/ws',
    {
      websocket: true,
      onRequest: requireAuth(['admin', 'viewer'], { queryToken: true }),
      schema: {
        tags: ['telemetry'],
        summary: 'Live readings over WebSocket',
        querystring: StreamQuery,
      },
    },
    (socket, request) => {
      const filter = liveFilterOf(request.query);
      let unsubscribe = (): void => {};
      const cleanup = track(
        request,
        () => {
          cleanup();
          socket.close(1001, 'hub shutting down');
        },
        () => {
          unsubscribe();
          clearInterval(ping);
        },
      );
      socket.on('close', cleanup);
      socket.on('error', (err) => {
        request.log.debug({ err }, 'live WebSocket client error');
        cleanup();
      });
      unsubscribe = ctx.telemetry.subscribe(filter, (readings: readonly Reading[]) => {
        if (socket.readyState !== WebSocket.OPEN) return;
        const buffered = socket.bufferedAmount;
        if (buffered > maxBufferedBytes) {
          dropped(request, buffered);
          cleanup();
          socket.terminate();
          return;
        }
        socket.send(JSON.stringify({ type: 'readings', readings }));
      });
      const ping = setInterval(() => {
        void stillAuthorized(request).then((ok) => {
          if (socket.readyState !== WebSocket.OPEN) return;
          if (!ok) {
            request.log.info({ transport }, 'live client no longer authorised: disconnected');
            cleanup();
            socket.close(4401, 'no longer authorised');
            return;
          }
          socket.ping();
        });
      }, heartbeatMs);
    },
  );
}
