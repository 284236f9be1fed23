/**
 * Raw TCP port-forwarding through the tunnel: a local listener whose every
 * accepted connection becomes a tunnel stream to one address on one edge
 * node (`kubectl port-forward` for an edge service, an SSH jump). A stream
 * that cannot be opened closes only that connection, logged with its code;
 * the listener keeps accepting.
 */
import { createServer, isIPv6, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { toErrorInfo, type Logger } from '../kernel/index.ts';
import { listenOn, refusalOf, spliceStreams, type OpenTunnel } from './proxy.ts';
import { ErrProxyBadOptions } from './errors.ts';

export interface PortForwardOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 = any. */
  port: number;
  node: string;
  target: { host: string; port: number };
  open: OpenTunnel;
  logger: Logger;
}

export interface PortForward {
  readonly port: number;
  close(): Promise<void>;
}

/** How long a refused client may keep its side open after ours is closed. */
const REFUSED_LINGER_MS = 5_000;

function validate(o: PortForwardOptions): void {
  const bad = (field: string, reason: string): never => {
    throw new ErrProxyBadOptions({ field, reason });
  };
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) bad('port', `must be an integer from 0 to 65535, got ${String(o.port)}`);
  if (o.host !== undefined && (typeof o.host !== 'string' || o.host === '')) bad('host', 'must be a non-empty address');
  if (typeof o.node !== 'string' || o.node === '') bad('node', 'must be a non-empty node name');
  if (typeof o.target?.host !== 'string' || o.target.host === '') bad('target.host', 'must be a non-empty address');
  if (!Number.isInteger(o.target.port) || o.target.port < 1 || o.target.port > 65535) bad('target.port', `must be an integer from 1 to 65535, got ${String(o.target.port)}`);
  if (typeof o.open !== 'function') bad('open', 'must be a function');
}

export async function startPortForward(o: PortForwardOptions): Promise<PortForward> {
  validate(o);
  const host = o.host ?? '127.0.0.1';
  const target = `${isIPv6(o.target.host) ? `[${o.target.host}]` : o.target.host}:${o.target.port}`;
  const log = o.logger.child({ component: 'port-forward', node: o.node, target });
  const live = new Set<Duplex>();
  let closing = false;
  const track = (d: Duplex): void => {
    live.add(d);
    d.once('close', () => live.delete(d));
  };

  const accept = (sock: Socket): void => {
    track(sock);
    sock.on('error', (err) => log.debug({ error: toErrorInfo(err) }, 'forwarded connection error'));
    let opening: Promise<Duplex>;
    try {
      opening = o.open(o.node, { kind: 'tcp', host: o.target.host, port: o.target.port });
    } catch (err) {
      opening = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    opening.then(
      (stream) => {
        if (sock.destroyed || closing) {
          stream.destroy();
          sock.destroy();
          return;
        }
        track(stream);
        spliceStreams(sock, stream, () => undefined, log);
      },
      (err: unknown) => {
        const r = refusalOf(err);
        log.warn({ code: r.code, remote: sock.remoteAddress, error: toErrorInfo(err) }, 'port-forward connection refused');
        // A clean close (what the client sent is drained first, so no reset); a client that never ends is cut off.
        sock.resume();
        sock.end();
        const linger = setTimeout(() => sock.destroy(), REFUSED_LINGER_MS).unref();
        sock.once('close', () => clearTimeout(linger));
      },
    );
  };

  // Paused until the stream is open: nothing the client sends early is lost.
  const server = createServer({ noDelay: true, allowHalfOpen: true, pauseOnConnect: true }, accept);
  const port = await listenOn(server, host, o.port);
  log.info({ listen: `${host}:${port}` }, 'port-forward listening');

  let closed: Promise<void> | undefined;
  return {
    port,
    close() {
      closed ??= (async () => {
        closing = true;
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const d of [...live]) d.destroy();
        await done;
        log.info('port-forward stopped');
      })();
      return closed;
    },
  };
}
