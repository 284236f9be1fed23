/**
 * Server-Sent Event responses shared by the live routes (telemetry and
 * resource watch): headers, a heartbeat comment that also ends the stream
 * once its caller's token or console session no longer holds, a limit on
 * unsent data (a slow reader is dropped and counted), client metrics, and
 * ending every open stream when the app closes.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { stillAuthorized } from '../auth.ts';
import type { HubApp, HubContext } from '../context.ts';

export interface SseStream {
  /** Writes one chunk; false once the stream has ended (the client left, was dropped or closed). */
  send(chunk: string): boolean;
  /**
   * Resolves at once while the unsent data is under half the limit, else once the client has read it
   * (or the stream ended): a sender of a snapshot larger than the limit waits here between chunks
   * instead of being dropped as a slow reader.
   */
  drained(): Promise<void>;
  /** Ends the stream (idempotent); the `onEnd` callbacks run once. */
  end(): void;
  onEnd(fn: () => void): void;
}

/** Returns `open(request, reply, transport)`, which hijacks the reply and starts an event stream on it. */
export function sseStreams(app: HubApp, ctx: HubContext): (request: FastifyRequest, reply: FastifyReply, transport: string) => SseStream {
  const { heartbeatMs, maxBufferedBytes } = ctx.streams;
  const open = new Set<() => void>();
  app.addHook('preClose', (done) => {
    for (const end of [...open]) end();
    done();
  });

  return (request, reply, transport) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    });
    const callbacks: (() => void)[] = [];
    let done = false;
    const end = (): void => {
      if (done) return;
      done = true;
      open.delete(end);
      clearInterval(heartbeat);
      ctx.metrics.streamClients.dec({ transport });
      request.log.debug({ transport }, 'live client gone');
      for (const fn of callbacks) fn();
      if (!res.destroyed) res.end();
    };
    const send = (chunk: string): boolean => {
      if (done || res.destroyed || res.writableEnded) return false;
      const buffered = res.writableLength;
      if (buffered > maxBufferedBytes) {
        ctx.metrics.streamDropped.inc({ transport });
        request.log.warn({ transport, buffered, limit: maxBufferedBytes }, 'live client reads too slowly: disconnected');
        end();
        res.destroy();
        return false;
      }
      res.write(chunk);
      return true;
    };
    const drained = (): Promise<void> => {
      if (done || res.destroyed || res.writableLength <= maxBufferedBytes / 2) return Promise.resolve();
      return new Promise((resolve) => {
        const go = (): void => {
          res.off('drain', go);
          res.off('close', go);
          resolve();
        };
        res.on('drain', go);
        res.on('close', go);
      });
    };
    const heartbeat = setInterval(() => {
      // A revoked token or ended console session ends the stream too, within one heartbeat.
      void stillAuthorized(request).then((ok) => {
        if (done) return;
        if (!ok) {
          request.log.info({ transport }, 'live client no longer authorised: disconnected');
          end();
          return;
        }
        send(': heartbeat\n\n');
      });
    }, heartbeatMs);
    open.add(end);
    ctx.metrics.streamClients.inc({ transport });
    request.log.debug({ transport }, 'live client connected');
    res.on('close', end);
    res.write('retry: 3000\n: connected\n\n');
    return {
      send,
      drained,
      end,
      onEnd: (fn) => {
        if (done) fn();
        else callbacks.push(fn);
      },
    };
  };
}
