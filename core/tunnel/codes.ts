/** The tunnel's coded errors. A protocol violation closes only the connection that made it. */
import { createError, EdgeError } from '../kernel/index.ts';

export const PROTOCOL_VIOLATIONS = [
  'FRAME_TOO_SHORT',
  'FRAME_TOO_LARGE',
  'UNKNOWN_FRAME_TYPE',
  'BAD_STREAM_ID',
  'BAD_PAYLOAD',
  'UNKNOWN_STREAM',
  'STREAM_EXISTS',
  'FLOW_CONTROL',
  'HANDSHAKE',
  'VERSION',
] as const;
export type ProtocolViolation = (typeof PROTOCOL_VIOLATIONS)[number];

export const ErrProtocol = createError(
  'EDGE_ERR_TUNNEL_PROTOCOL',
  (p: { violation: ProtocolViolation; detail: string }) => `tunnel protocol violation ${p.violation}: ${p.detail}`,
  { statusCode: 400 },
);

export const ErrStreamRefused = createError(
  'EDGE_ERR_TUNNEL_STREAM_REFUSED',
  (p: { stream: number; code: string; reason: string }) => `the far end refused stream ${p.stream}: [${p.code}] ${p.reason}`,
  { statusCode: 502 },
);

export const ErrStreamReset = createError(
  'EDGE_ERR_TUNNEL_STREAM_RESET',
  (p: { stream: number; code: string; reason: string }) => `stream ${p.stream} was reset: [${p.code}] ${p.reason}`,
  { statusCode: 502 },
);

export const ErrSessionClosed = createError(
  'EDGE_ERR_TUNNEL_SESSION_CLOSED',
  (p: { reason: string }) => `the tunnel session is closed: ${p.reason}`,
  { statusCode: 503 },
);

/** HTTP status for the codes a far end refuses a stream with. */
const REFUSAL_STATUS: Record<string, number> = {
  EDGE_ERR_TUNNEL_NOT_ALLOWED: 403,
  EDGE_ERR_TUNNEL_DIAL_FAILED: 502,
  EDGE_ERR_TUNNEL_NODE_NOT_CONNECTED: 404,
};

/**
 * The far end's own error out of a refused stream: its code, its message and
 * a fitting HTTP status, so callers report "not on the allow-list" rather
 * than "stream refused". Other errors come back unchanged.
 */
export function unwrapRefusal(err: unknown): unknown {
  if (!ErrStreamRefused.is(err)) return err;
  const p = err.params as { code: string; reason: string };
  if (!/^EDGE_ERR_[A-Z0-9_]+$/.test(p.code)) return err;
  return new EdgeError(p.code, p.reason, { ...p }, REFUSAL_STATUS[p.code] ?? 502, { cause: err });
}
