/**
 * The tunnel's wire format. Each WebSocket binary message carries exactly one
 * frame: a 6-byte header — type (u8), flags (u8), stream id (u32, big-endian)
 * — then the payload. Connection-level frames (HELLO, HELLO_ACK, PING, PONG,
 * GOAWAY) use stream 0; stream frames use a non-zero id, odd when the cloud
 * opened the stream, even when the edge did. The decoder accepts nothing it
 * does not fully understand: every other input is a coded protocol violation.
 */
import { ErrProtocol, type ProtocolViolation } from './errors.ts';

export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 6;
/** Largest DATA payload either side sends unless HELLO agrees on less. */
export const DEFAULT_MAX_FRAME_PAYLOAD = 64 * 1024;
/** No frame payload may exceed this, whatever was negotiated. */
export const HARD_MAX_FRAME_PAYLOAD = 1024 * 1024;
/** Control payloads (JSON) stay small. */
export const MAX_CONTROL_PAYLOAD = 16 * 1024;
export const MAX_STREAM_ID = 0xffff_ffff;

export const FrameType = {
  HELLO: 1,
  HELLO_ACK: 2,
  OPEN: 3,
  OPEN_ACK: 4,
  DATA: 5,
  WINDOW: 6,
  FIN: 7,
  RST: 8,
  PING: 9,
  PONG: 10,
  GOAWAY: 11,
} as const;
export type FrameTypeName = keyof typeof FrameType;
export type FrameTypeCode = (typeof FrameType)[FrameTypeName];

const NAMES = new Map<number, FrameTypeName>(Object.entries(FrameType).map(([k, v]) => [v, k as FrameTypeName]));
const CONNECTION_FRAMES = new Set<number>([FrameType.HELLO, FrameType.HELLO_ACK, FrameType.PING, FrameType.PONG, FrameType.GOAWAY]);
const JSON_FRAMES = new Set<number>([FrameType.HELLO, FrameType.HELLO_ACK, FrameType.OPEN, FrameType.RST, FrameType.GOAWAY]);

export interface Hello {
  version: number;
  /** Node name (edge) or replica name (cloud). */
  name: string;
  /** Largest DATA payload this side accepts. */
  maxFramePayload: number;
  /** Initial receive window per stream, in bytes. */
  initialWindow: number;
}

/**
 * What to connect to at the far end: `tcp` to host:port (cloud to edge, checked
 * against the edge's allow-list), or a named `service` the cloud offers (edge
 * to cloud: the hub's API, its MQTT ingest).
 */
export type OpenRequest = { kind: 'tcp'; host: string; port: number } | { kind: 'service'; name: string };

/** Service names are short lowercase words: `hub`, `mqtt`. */
export const SERVICE_NAME = /^[a-z][a-z0-9-]{0,31}$/;

export interface Reason {
  code: string;
  message: string;
}

export type Frame =
  | { type: 'HELLO'; stream: 0; hello: Hello }
  | { type: 'HELLO_ACK'; stream: 0; hello: Hello }
  | { type: 'OPEN'; stream: number; open: OpenRequest }
  | { type: 'OPEN_ACK'; stream: number }
  | { type: 'DATA'; stream: number; data: Buffer }
  | { type: 'WINDOW'; stream: number; increment: number }
  | { type: 'FIN'; stream: number }
  | { type: 'RST'; stream: number; reason: Reason }
  | { type: 'PING'; stream: 0; payload: Buffer }
  | { type: 'PONG'; stream: 0; payload: Buffer }
  | { type: 'GOAWAY'; stream: 0; reason: Reason };

function header(type: FrameTypeCode, stream: number, payloadBytes: number): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES + payloadBytes);
  b.writeUInt8(type, 0);
  b.writeUInt8(0, 1);
  b.writeUInt32BE(stream, 2);
  return b;
}

function withPayload(type: FrameTypeCode, stream: number, payload: Buffer): Buffer {
  const b = header(type, stream, payload.length);
  payload.copy(b, HEADER_BYTES);
  return b;
}

export function encodeFrame(f: Frame): Buffer {
  switch (f.type) {
    case 'HELLO':
    case 'HELLO_ACK':
      return withPayload(FrameType[f.type], 0, Buffer.from(JSON.stringify(f.hello)));
    case 'OPEN':
      return withPayload(FrameType.OPEN, f.stream, Buffer.from(JSON.stringify(f.open)));
    case 'OPEN_ACK':
    case 'FIN':
      return header(FrameType[f.type], f.stream, 0);
    case 'DATA':
      return withPayload(FrameType.DATA, f.stream, f.data);
    case 'WINDOW': {
      const b = header(FrameType.WINDOW, f.stream, 4);
      b.writeUInt32BE(f.increment, HEADER_BYTES);
      return b;
    }
    case 'RST':
    case 'GOAWAY':
      return withPayload(FrameType[f.type], f.stream, Buffer.from(JSON.stringify(f.reason)));
    case 'PING':
    case 'PONG':
      return withPayload(FrameType[f.type], 0, f.payload);
  }
}

function violation(v: ProtocolViolation, detail: string): never {
  throw new ErrProtocol({ violation: v, detail });
}

function json(payload: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    violation('BAD_PAYLOAD', `${what} payload is not JSON`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) violation('BAD_PAYLOAD', `${what} payload is not an object`);
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, what: string, max = 253): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > max) violation('BAD_PAYLOAD', `${what}.${key} must be a string of 1 to ${max} characters`);
  return v;
}

function int(o: Record<string, unknown>, key: string, what: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) violation('BAD_PAYLOAD', `${what}.${key} must be an integer from ${min} to ${max}`);
  return v;
}

function hello(payload: Buffer, what: string): Hello {
  const o = json(payload, what);
  return {
    version: int(o, 'version', what, 1, 255),
    name: str(o, 'name', what),
    maxFramePayload: int(o, 'maxFramePayload', what, 1024, HARD_MAX_FRAME_PAYLOAD),
    initialWindow: int(o, 'initialWindow', what, 1024, 64 * 1024 * 1024),
  };
}

function reason(payload: Buffer, what: string): Reason {
  const o = json(payload, what);
  return { code: str(o, 'code', what, 100), message: typeof o.message === 'string' ? o.message.slice(0, 1000) : '' };
}

/**
 * Decodes one frame. `maxPayload` bounds DATA (the negotiated size); every
 * other frame type has its own fixed bound.
 */
export function decodeFrame(buf: Buffer, maxPayload: number = DEFAULT_MAX_FRAME_PAYLOAD): Frame {
  if (buf.length < HEADER_BYTES) violation('FRAME_TOO_SHORT', `${buf.length} bytes is shorter than the ${HEADER_BYTES}-byte header`);
  const code = buf.readUInt8(0);
  const flags = buf.readUInt8(1);
  const stream = buf.readUInt32BE(2);
  const payload = buf.subarray(HEADER_BYTES);
  const type = NAMES.get(code);
  if (type === undefined) violation('UNKNOWN_FRAME_TYPE', `frame type ${code}`);
  if (flags !== 0) violation('BAD_PAYLOAD', `${type} flags must be 0, got ${flags}`);
  if (CONNECTION_FRAMES.has(code) !== (stream === 0)) {
    violation('BAD_STREAM_ID', CONNECTION_FRAMES.has(code) ? `${type} must be on stream 0, got ${stream}` : `${type} needs a stream id other than 0`);
  }
  const limit = code === FrameType.DATA ? Math.min(maxPayload, HARD_MAX_FRAME_PAYLOAD) : JSON_FRAMES.has(code) || code === FrameType.PING || code === FrameType.PONG ? MAX_CONTROL_PAYLOAD : 4;
  if (payload.length > limit) violation('FRAME_TOO_LARGE', `${type} payload of ${payload.length} bytes exceeds ${limit}`);
  switch (type) {
    case 'HELLO':
    case 'HELLO_ACK':
      return { type, stream: 0, hello: hello(payload, type) };
    case 'OPEN': {
      const o = json(payload, type);
      if (o.kind === 'service') {
        const name = str(o, 'name', type);
        if (!SERVICE_NAME.test(name)) violation('BAD_PAYLOAD', `OPEN.name must match ${SERVICE_NAME.source}`);
        return { type, stream, open: { kind: 'service', name } };
      }
      if (o.kind !== 'tcp') violation('BAD_PAYLOAD', `OPEN.kind must be 'tcp' or 'service'`);
      return { type, stream, open: { kind: 'tcp', host: str(o, 'host', type), port: int(o, 'port', type, 1, 65535) } };
    }
    case 'OPEN_ACK':
    case 'FIN':
      if (payload.length !== 0) violation('BAD_PAYLOAD', `${type} carries no payload`);
      return { type, stream };
    case 'DATA':
      if (payload.length === 0) violation('BAD_PAYLOAD', 'DATA must carry at least one byte');
      return { type, stream, data: payload };
    case 'WINDOW': {
      if (payload.length !== 4) violation('BAD_PAYLOAD', 'WINDOW carries a 4-byte increment');
      const increment = payload.readUInt32BE(0);
      if (increment === 0) violation('FLOW_CONTROL', 'WINDOW increment must be positive');
      return { type, stream, increment };
    }
    case 'RST':
      return { type, stream, reason: reason(payload, type) };
    case 'GOAWAY':
      return { type, stream: 0, reason: reason(payload, type) };
    case 'PING':
    case 'PONG':
      return { type, stream: 0, payload };
  }
}
