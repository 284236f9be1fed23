/**
 * One tunnel session: many streams multiplexed over one message transport (a
 * WebSocket), each a Node Duplex with its own credit window, so a slow stream
 * never stalls the others and never buffers more than its window.
 *
 * - Handshake: the edge sends HELLO, the cloud answers HELLO_ACK; nothing else
 *   is accepted before.
 * - Streams: the cloud opens odd ids, the edge even ones; OPEN is answered by
 *   OPEN_ACK or RST. A sender never has more unacknowledged DATA in flight than
 *   the receiver's window; the receiver returns credit (WINDOW) as its reader
 *   consumes. FIN half-closes; RST aborts one stream.
 * - Any protocol violation closes the whole session with a coded GOAWAY; other
 *   sessions are untouched.
 *
 * One tunnel-cloud holds tens of thousands of idle sessions, so an idle session
 * is kept small: the options object is not retained (only the fields used),
 * the stream tables and handshake waiters exist only while in use, and onReady
 * is dropped once called.
 */
import { Duplex } from 'node:stream';
import { toErrorInfo, type Logger } from '../kernel/index.ts';
import { ErrProtocol, ErrSessionClosed, ErrStreamRefused, ErrStreamReset, type ProtocolViolation } from './errors.ts';
import { decodeFrame, DEFAULT_MAX_FRAME_PAYLOAD, encodeFrame, PROTOCOL_VERSION, type Frame, type Hello, type OpenRequest } from './frame.ts';

export interface MessageTransport {
  send(message: Buffer): void;
  /** Closes the transport; `code` is a WebSocket close code. */
  close(code: number, reason: string): void;
}

export type Role = 'cloud' | 'edge';

export interface SessionOptions {
  role: Role;
  /** This side's name (node name for an edge, replica name for the cloud). */
  name: string;
  transport: MessageTransport;
  logger: Logger;
  /** Receive window per stream (bytes); default 1 MiB: 20 MB/s per stream at 50 ms round trip, and the most a slow reader can leave buffered. */
  initialWindow?: number;
  maxFramePayload?: number;
  /** Called for each stream the far end opens; throw (or reject) to refuse it with a coded RST. */
  onOpen?: (request: OpenRequest, stream: TunnelStream) => void | Promise<void>;
  /** Called once the handshake completed, with the far end's HELLO. */
  onReady?: (peer: Hello) => void;
  /** Called once when the session ends. */
  onClose?: (reason: { code: string; message: string }) => void;
}

/** A WebSocket close code for each way a session ends. */
export const CLOSE_CODES = {
  normal: 1000,
  protocol: 4400,
  goingAway: 1001,
  /** The far end went silent: no closing handshake to wait for. */
  timeout: 4408,
} as const;

type StreamState = 'opening' | 'open' | 'closed';

export class TunnelStream extends Duplex {
  readonly id: number;
  readonly #session: TunnelSession;
  state: StreamState;
  /** Bytes we may still send before the far end grants more. */
  sendWindow: number;
  /** Bytes the far end may still send us. */
  recvWindow: number;
  /** Bytes received and handed to our reader since the last WINDOW we sent. */
  #unacked = 0;
  #pending: { chunk: Buffer; cb: (err?: Error | null) => void } | undefined;
  #finPending: ((err?: Error | null) => void) | undefined;
  #resetByPeer = false;

  constructor(session: TunnelSession, id: number, state: StreamState, sendWindow: number, recvWindow: number) {
    super({ allowHalfOpen: true, highWaterMark: 64 * 1024 });
    this.#session = session;
    this.id = id;
    this.state = state;
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#pending = { chunk, cb };
    this.flush();
  }

  /** Sends what the window allows of the pending write; completes it when all is sent. */
  flush(): void {
    const p = this.#pending;
    if (!p || this.state !== 'open') return;
    const max = this.#session.peerMaxFrame;
    while (p.chunk.length > 0 && this.sendWindow > 0) {
      const n = Math.min(p.chunk.length, this.sendWindow, max);
      this.#session.sendFrame({ type: 'DATA', stream: this.id, data: p.chunk.subarray(0, n) });
      this.sendWindow -= n;
      p.chunk = p.chunk.subarray(n);
    }
    if (p.chunk.length === 0) {
      this.#pending = undefined;
      p.cb();
      if (this.#finPending) this._final(this.#finPending);
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.#pending) {
      this.#finPending = cb;
      return;
    }
    this.#finPending = undefined;
    if (this.state === 'open') this.#session.sendFrame({ type: 'FIN', stream: this.id });
    cb();
  }

  override _read(): void {
    this.#grant();
  }

  #grant(): void {
    // Return credit once half the window has been handed to the reader.
    if (this.#unacked > 0 && this.#unacked >= this.#session.initialWindow / 2 && this.state === 'open') {
      this.#session.sendFrame({ type: 'WINDOW', stream: this.id, increment: this.#unacked });
      this.recvWindow += this.#unacked;
      this.#unacked = 0;
    }
  }

  /** DATA from the far end. */
  receive(data: Buffer): void {
    if (data.length > this.recvWindow) {
      throw new ErrProtocol({ violation: 'FLOW_CONTROL', detail: `stream ${this.id} received ${data.length} bytes with ${this.recvWindow} of window left` });
    }
    this.recvWindow -= data.length;
    this.#unacked += data.length;
    if (this.push(data)) this.#grant();
  }

  credit(increment: number): void {
    if (this.sendWindow + increment > 2 ** 31) {
      throw new ErrProtocol({ violation: 'FLOW_CONTROL', detail: `stream ${this.id} window would exceed 2^31 bytes` });
    }
    this.sendWindow += increment;
    this.flush();
  }

  /** RST from the far end. */
  resetByPeer(code: string, message: string): void {
    this.#resetByPeer = true;
    this.destroy(new ErrStreamReset({ stream: this.id, code, reason: message }));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Both FINs exchanged and no error: the stream ended cleanly, and a RST would make the far end drop what it has not read yet.
    const clean = !err && this.readableEnded && this.writableFinished;
    if (this.state !== 'closed' && !this.#resetByPeer && !clean) {
      this.#session.sendFrame({ type: 'RST', stream: this.id, reason: { code: err ? ((err as { code?: string }).code ?? 'EDGE_ERR_TUNNEL_STREAM_ABORTED') : 'EDGE_ERR_TUNNEL_STREAM_CANCELLED', message: err?.message ?? 'closed' } });
    }
    this.state = 'closed';
    this.#session.forget(this.id);
    const p = this.#pending;
    this.#pending = undefined;
    p?.cb(err ?? new ErrSessionClosed({ reason: 'stream closed' }));
    cb(err);
  }
}

const EMPTY = Buffer.alloc(0);

export class TunnelSession {
  readonly role: Role;
  readonly initialWindow: number;
  readonly maxFramePayload: number;
  peerMaxFrame = DEFAULT_MAX_FRAME_PAYLOAD;
  #peerWindow = 0;
  readonly #name: string;
  readonly #transport: MessageTransport;
  readonly #logger: Logger;
  readonly #onOpen: SessionOptions['onOpen'];
  /** Called once, then let go: an idle session keeps no handshake state. */
  #onReady: SessionOptions['onReady'];
  readonly #onClose: SessionOptions['onClose'];
  /** Open streams; created with the first one, dropped when the last one goes. */
  #streams: Map<number, TunnelStream> | undefined;
  /** Streams we asked for, not yet answered; same lifetime rule. */
  #opening: Map<number, { resolve: (s: TunnelStream) => void; reject: (e: Error) => void }> | undefined;
  #nextId: number;
  /** Highest id the far end has opened: anything at or below it may be a stream already gone. */
  #peerHighest = 0;
  #ready = false;
  #closed = false;
  #waiters: { resolve: () => void; reject: (e: Error) => void }[] | undefined;
  peer: Hello | undefined;
  /** Messages received so far, and at the last heartbeat tick; ticks in a row with nothing received. */
  #rx = 0;
  #rxAtTick = 0;
  #quietTicks = 0;

  constructor(opts: SessionOptions) {
    this.#name = opts.name;
    this.#transport = opts.transport;
    this.#logger = opts.logger;
    this.#onOpen = opts.onOpen;
    this.#onReady = opts.onReady;
    this.#onClose = opts.onClose;
    this.role = opts.role;
    this.initialWindow = opts.initialWindow ?? 1024 * 1024;
    this.maxFramePayload = opts.maxFramePayload ?? DEFAULT_MAX_FRAME_PAYLOAD;
    this.#nextId = opts.role === 'cloud' ? 1 : 2;
    if (opts.role === 'edge') this.sendFrame({ type: 'HELLO', stream: 0, hello: this.#hello() });
  }

  get ready(): boolean {
    return this.#ready;
  }

  get closed(): boolean {
    return this.#closed;
  }

  streamCount(): number {
    return this.#streams?.size ?? 0;
  }

  #hello(): Hello {
    return { version: PROTOCOL_VERSION, name: this.#name, maxFramePayload: this.maxFramePayload, initialWindow: this.initialWindow };
  }

  /** Resolves when the handshake completes; rejects if the session closes first. */
  whenReady(): Promise<void> {
    if (this.#ready) return Promise.resolve();
    if (this.#closed) return Promise.reject(new ErrSessionClosed({ reason: 'closed before the handshake' }));
    return new Promise((resolve, reject) => (this.#waiters ??= []).push({ resolve, reject }));
  }

  sendFrame(f: Frame): void {
    if (this.#closed) return;
    this.#transport.send(encodeFrame(f));
  }

  /** Feeds one message from the transport. Never throws: a violation closes the session. */
  receive(message: Buffer): void {
    if (this.#closed) return;
    this.#rx++;
    try {
      this.#handle(decodeFrame(message, this.maxFramePayload));
    } catch (err) {
      if (ErrProtocol.is(err)) {
        this.#violation(err.params.violation, err.params.detail);
      } else {
        this.#logger.error({ error: toErrorInfo(err) }, 'tunnel frame handling failed');
        this.close('EDGE_ERR_TUNNEL_INTERNAL', (err as Error).message, CLOSE_CODES.protocol);
      }
    }
  }

  /**
   * One heartbeat period passed (the owner calls this on a timer; one timer
   * can serve every session of a process). After a quiet period the session
   * sends PING, which the far end answers; after `maxQuietTicks` periods with
   * nothing received (or no handshake) it closes as dead, with a coded reason.
   */
  tick(maxQuietTicks = 3): void {
    if (this.#closed) return;
    if (this.#rx !== this.#rxAtTick) {
      this.#rxAtTick = this.#rx;
      this.#quietTicks = 0;
      return;
    }
    this.#quietTicks++;
    if (this.#quietTicks >= maxQuietTicks) {
      const handshake = !this.#ready;
      this.#logger.warn({ quietTicks: this.#quietTicks, handshake }, 'tunnel peer silent; closing the session');
      this.close(
        handshake ? 'EDGE_ERR_TUNNEL_HANDSHAKE_TIMEOUT' : 'EDGE_ERR_TUNNEL_HEARTBEAT_TIMEOUT',
        handshake ? 'no handshake in time' : `nothing heard from the far end for ${this.#quietTicks} heartbeat periods`,
        CLOSE_CODES.timeout,
      );
      return;
    }
    if (this.#ready) this.sendFrame({ type: 'PING', stream: 0, payload: EMPTY });
  }

  #violation(violation: ProtocolViolation, detail: string): void {
    this.#logger.warn({ violation, detail }, 'tunnel protocol violation; closing the session');
    this.close(`EDGE_ERR_TUNNEL_PROTOCOL_${violation}`, detail, CLOSE_CODES.protocol);
  }

  #handle(f: Frame): void {
    if (!this.#ready) {
      const expected = this.role === 'cloud' ? 'HELLO' : 'HELLO_ACK';
      if (f.type !== expected) throw new ErrProtocol({ violation: 'HANDSHAKE', detail: `expected ${expected}, got ${f.type}` });
      if (f.hello.version !== PROTOCOL_VERSION) throw new ErrProtocol({ violation: 'VERSION', detail: `protocol version ${f.hello.version}; this side speaks ${PROTOCOL_VERSION}` });
      this.peer = f.hello;
      this.peerMaxFrame = Math.min(f.hello.maxFramePayload, this.maxFramePayload);
      this.#peerWindow = f.hello.initialWindow;
      if (this.role === 'cloud') this.sendFrame({ type: 'HELLO_ACK', stream: 0, hello: this.#hello() });
      this.#ready = true;
      const waiters = this.#waiters;
      this.#waiters = undefined;
      for (const w of waiters ?? []) w.resolve();
      const onReady = this.#onReady;
      this.#onReady = undefined;
      onReady?.(f.hello);
      return;
    }
    switch (f.type) {
      case 'HELLO':
      case 'HELLO_ACK':
        throw new ErrProtocol({ violation: 'HANDSHAKE', detail: `${f.type} after the handshake` });
      case 'PING':
        this.sendFrame({ type: 'PONG', stream: 0, payload: f.payload });
        return;
      case 'PONG':
        return;
      case 'GOAWAY':
        this.close(f.reason.code, f.reason.message, CLOSE_CODES.goingAway, false);
        return;
      case 'OPEN':
        this.#peerOpen(f.stream, f.open);
        return;
      default:
        break;
    }
    const s = this.#streams?.get(f.stream);
    if (!s) {
      const pending = this.#opening;
      const opening = pending?.get(f.stream);
      if (pending && opening && (f.type === 'OPEN_ACK' || f.type === 'RST')) {
        pending.delete(f.stream);
        if (pending.size === 0) this.#opening = undefined;
        if (f.type === 'RST') opening.reject(new ErrStreamRefused({ stream: f.stream, code: f.reason.code, reason: f.reason.message }));
        else {
          opening.resolve(this.#track(new TunnelStream(this, f.stream, 'open', this.#peerWindow, this.initialWindow)));
        }
        return;
      }
      if (opening) throw new ErrProtocol({ violation: 'UNKNOWN_STREAM', detail: `${f.type} on stream ${f.stream} before its OPEN_ACK` });
      // A stream that existed and is gone: late frames after a reset are expected and dropped.
      if (this.#existed(f.stream)) return;
      throw new ErrProtocol({ violation: 'UNKNOWN_STREAM', detail: `${f.type} on stream ${f.stream}, which was never opened` });
    }
    switch (f.type) {
      case 'OPEN_ACK':
        throw new ErrProtocol({ violation: 'STREAM_EXISTS', detail: `OPEN_ACK for stream ${f.stream}, already open` });
      case 'DATA':
        s.receive(f.data);
        return;
      case 'WINDOW':
        s.credit(f.increment);
        return;
      case 'FIN':
        s.push(null);
        return;
      case 'RST':
        s.resetByPeer(f.reason.code, f.reason.message);
        return;
    }
  }

  #existed(id: number): boolean {
    const mine = this.role === 'cloud' ? id % 2 === 1 : id % 2 === 0;
    return mine ? id < this.#nextId : id <= this.#peerHighest;
  }

  #peerOpen(id: number, req: OpenRequest): void {
    const theirs = this.role === 'cloud' ? id % 2 === 0 : id % 2 === 1;
    if (!theirs) throw new ErrProtocol({ violation: 'BAD_STREAM_ID', detail: `the ${this.role === 'cloud' ? 'edge' : 'cloud'} opened stream ${id}, which has the wrong parity` });
    if (id <= this.#peerHighest) throw new ErrProtocol({ violation: 'STREAM_EXISTS', detail: `stream ${id} was already opened (ids only grow)` });
    this.#peerHighest = id;
    const stream = this.#track(new TunnelStream(this, id, 'open', this.#peerWindow, this.initialWindow));
    const refuse = (err: unknown): void => {
      const info = toErrorInfo(err);
      this.sendFrame({ type: 'RST', stream: id, reason: { code: info.code, message: info.message } });
      stream.state = 'closed';
      stream.destroy();
    };
    const onOpen = this.#onOpen;
    if (!onOpen) {
      refuse(new ErrSessionClosed({ reason: 'this side accepts no streams' }));
      return;
    }
    Promise.resolve()
      .then(() => onOpen(req, stream))
      .then(() => {
        if (stream.state === 'open' && !stream.destroyed) this.sendFrame({ type: 'OPEN_ACK', stream: id });
      }, refuse);
  }

  /** Opens a stream to `request` at the far end; resolves once it accepted. */
  async open(request: OpenRequest): Promise<TunnelStream> {
    await this.whenReady();
    if (this.#closed) throw new ErrSessionClosed({ reason: 'closed' });
    const id = this.#nextId;
    this.#nextId += 2;
    return new Promise<TunnelStream>((resolve, reject) => {
      (this.#opening ??= new Map()).set(id, { resolve, reject });
      this.sendFrame({ type: 'OPEN', stream: id, open: request });
    });
  }

  /** Every stream gets a listener for its errors: a reset stream must never take the process down. */
  #track(stream: TunnelStream): TunnelStream {
    stream.on('error', (err) => this.#logger.debug({ stream: stream.id, error: toErrorInfo(err) }, 'tunnel stream ended with an error'));
    (this.#streams ??= new Map()).set(stream.id, stream);
    return stream;
  }

  forget(id: number): void {
    if (this.#streams?.delete(id) && this.#streams.size === 0) this.#streams = undefined;
  }

  /** Ends the session: GOAWAY (when we end it), then the transport closes; every stream is destroyed. */
  close(code: string, message: string, wsCode: number = CLOSE_CODES.normal, sendGoAway = true): void {
    if (this.#closed) return;
    if (sendGoAway) this.sendFrame({ type: 'GOAWAY', stream: 0, reason: { code, message } });
    this.#closed = true;
    const err = new ErrSessionClosed({ reason: `[${code}] ${message}` });
    const waiters = this.#waiters;
    const opening = this.#opening;
    const streams = this.#streams;
    this.#waiters = undefined;
    this.#opening = undefined;
    this.#streams = undefined;
    for (const w of waiters ?? []) w.reject(err);
    for (const o of opening?.values() ?? []) o.reject(err);
    for (const s of streams?.values() ?? []) {
      s.state = 'closed';
      s.destroy(err);
    }
    this.#transport.close(wsCode, code.slice(0, 120));
    this.#onClose?.({ code, message });
  }

  /** The transport ended underneath us. */
  transportClosed(reason: string): void {
    if (this.#closed) return;
    this.close('EDGE_ERR_TUNNEL_TRANSPORT_CLOSED', reason, CLOSE_CODES.goingAway, false);
  }
}
