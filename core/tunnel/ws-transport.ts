/**
 * Binds a TunnelSession to a WebSocket (ws): binary messages in both
 * directions, text frames and oversized messages refused as protocol
 * violations, the session told when the socket goes away.
 */
import type WebSocket from 'ws';
import type { Logger } from '../kernel/index.ts';
import { HARD_MAX_FRAME_PAYLOAD, HEADER_BYTES } from './frame.ts';
import { CLOSE_CODES, TunnelSession, type SessionOptions } from './session.ts';

/** ws `maxPayload` for tunnel sockets: one frame per message, never more. */
export const WS_MAX_PAYLOAD = HEADER_BYTES + HARD_MAX_FRAME_PAYLOAD;

export function sessionOverWebSocket(ws: WebSocket, opts: Omit<SessionOptions, 'transport'> & { logger: Logger }): TunnelSession {
  const session = new TunnelSession({
    ...opts,
    transport: {
      send: (message) => ws.send(message, { binary: true }),
      close: (code, reason) => ws.close(code, reason),
    },
  });
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    if (!isBinary) {
      session.close('EDGE_ERR_TUNNEL_PROTOCOL_BAD_PAYLOAD', 'tunnel frames are binary WebSocket messages', CLOSE_CODES.protocol);
      return;
    }
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    session.receive(buf);
  });
  ws.on('close', (code, reason) => session.transportClosed(`websocket closed (${code} ${reason.toString()})`));
  ws.on('error', (err) => opts.logger.debug({ error: err.message }, 'tunnel websocket error'));
  return session;
}
