/**
 * Binds a TunnelSession to a WebSocket (ws): binary messages in both
 * directions, text frames and oversized messages refused as protocol
 * violations, the session told when the socket goes away.
 *
 * Per socket this allocates one small binding object and no closures: the
 * transport's methods live on its prototype, and the socket's listeners are
 * shared functions that find the binding on the socket (`this` is the socket
 * when ws emits). One tunnel-cloud holds tens of thousands of these.
 */
import type WebSocket from 'ws';
import type { Logger } from '../kernel/index.ts';
import { ErrAlreadyBound } from './errors.ts';
import { HARD_MAX_FRAME_PAYLOAD, HEADER_BYTES } from './frame.ts';
import { CLOSE_CODES, TunnelSession, type MessageTransport, type SessionOptions } from './session.ts';

/** ws `maxPayload` for tunnel sockets: one frame per message, never more. */
export const WS_MAX_PAYLOAD = HEADER_BYTES + HARD_MAX_FRAME_PAYLOAD;

const BINDING = Symbol('edgeadm.tunnel.session');

/** The session's transport over one socket, and what the shared listeners need. */
class WsBinding implements MessageTransport {
  readonly ws: WebSocket;
  readonly logger: Logger;
  session: TunnelSession | undefined;

  constructor(ws: WebSocket, logger: Logger) {
    this.ws = ws;
    this.logger = logger;
  }

  send(message: Buffer): void {
    this.ws.send(message, { binary: true });
  }

  close(code: number, reason: string): void {
    // A silent peer would never answer a closing handshake: drop the connection at once.
    if (code === CLOSE_CODES.timeout) this.ws.terminate();
    else this.ws.close(code, reason);
  }
}

type BoundSocket = WebSocket & { [BINDING]?: WsBinding };

function onMessage(this: WebSocket, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
  const session = (this as BoundSocket)[BINDING]?.session;
  if (!session) return;
  if (!isBinary) {
    session.close('EDGE_ERR_TUNNEL_PROTOCOL_BAD_PAYLOAD', 'tunnel frames are binary WebSocket messages', CLOSE_CODES.protocol);
    return;
  }
  const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
  session.receive(buf);
}

function onClose(this: WebSocket, code: number, reason: Buffer): void {
  (this as BoundSocket)[BINDING]?.session?.transportClosed(`websocket closed (${code} ${reason.toString()})`);
}

function onError(this: WebSocket, err: Error): void {
  (this as BoundSocket)[BINDING]?.logger.debug({ error: err.message }, 'tunnel websocket error');
}

export function sessionOverWebSocket(ws: WebSocket, opts: Omit<SessionOptions, 'transport'> & { logger: Logger }): TunnelSession {
  const socket = ws as BoundSocket;
  if (socket[BINDING]) throw new ErrAlreadyBound({ name: opts.name });
  const binding = new WsBinding(ws, opts.logger);
  const session = new TunnelSession({ ...opts, transport: binding });
  binding.session = session;
  socket[BINDING] = binding;
  ws.on('message', onMessage);
  ws.on('close', onClose);
  ws.on('error', onError);
  return session;
}
