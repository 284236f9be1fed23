/**
 * core/tunnel: the cloud-edge tunnel. So far: the wire format (one frame per
 * WebSocket message), the multiplexed session with per-stream flow control,
 * and its binding to a WebSocket.
 * tunnel-cloud, tunnel-edge and the forwarding front ends build on these.
 */
export * as TunnelErrors from './codes.ts';
export { PROTOCOL_VIOLATIONS, type ProtocolViolation } from './codes.ts';
export {
  decodeFrame,
  DEFAULT_MAX_FRAME_PAYLOAD,
  encodeFrame,
  FrameType,
  HARD_MAX_FRAME_PAYLOAD,
  HEADER_BYTES,
  PROTOCOL_VERSION,
  type Frame,
  type Hello,
  type OpenRequest,
  type Reason,
} from './frame.ts';
export { CLOSE_CODES, TunnelSession, TunnelStream, type MessageTransport, type Role, type SessionOptions } from './session.ts';
export { sessionOverWebSocket, WS_MAX_PAYLOAD } from './ws-transport.ts';
