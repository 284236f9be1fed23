import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../kernel/index.ts';
import { encodeFrame, FrameType, HEADER_BYTES, type OpenRequest } from './frame.ts';
import { TunnelSession, type MessageTransport, type SessionOptions, type TunnelStream } from './session.ts';

const logger = createLogger({ level: 'silent' });

interface Link {
  cloud: TunnelSession;
  edge: TunnelSession;
  closes: { side: string; code: number; reason: string }[];
  /** Bytes of DATA in flight (sent, not yet delivered), per direction, at the highest point. */
  maxInFlight: { toCloud: number; toEdge: number };
}

/** Two sessions joined by an in-memory, asynchronous message link. */
function link(opts: { cloud?: Partial<SessionOptions>; edge?: Partial<SessionOptions> } = {}): Link {
  const closes: Link['closes'] = [];
  const maxInFlight = { toCloud: 0, toEdge: 0 };
  const inFlight = { toCloud: 0, toEdge: 0 };
  // Each side's transport delivers to the other session, created just below.
  const peers: { cloud?: TunnelSession; edge?: TunnelSession } = {};
  const transport = (side: 'cloud' | 'edge'): MessageTransport => {
    const dir = side === 'cloud' ? 'toEdge' : 'toCloud';
    return {
      send(message) {
        const copy = Buffer.from(message);
        const data = copy[0] === FrameType.DATA ? copy.length - HEADER_BYTES : 0;
        inFlight[dir] += data;
        maxInFlight[dir] = Math.max(maxInFlight[dir], inFlight[dir]);
        setImmediate(() => {
          inFlight[dir] -= data;
          peers[side === 'cloud' ? 'edge' : 'cloud']!.receive(copy);
        });
      },
      close(code, reason) {
        closes.push({ side, code, reason });
        setImmediate(() => peers[side === 'cloud' ? 'edge' : 'cloud']!.transportClosed('peer closed'));
      },
    };
  };
  const cloud = new TunnelSession({ role: 'cloud', name: 'replica-0', transport: transport('cloud'), logger, ...opts.cloud });
  peers.cloud = cloud;
  const edge = new TunnelSession({ role: 'edge', name: 'node-1', transport: transport('edge'), logger, ...opts.edge });
  peers.edge = edge;
  return { cloud, edge, closes, maxInFlight };
}

/** An edge that echoes every stream back. */
function echo(_req: OpenRequest, stream: TunnelStream): void {
  stream.pipe(stream);
}

function collect(stream: TunnelStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.on('end', () => resolve(Buffer.concat(parts)));
    stream.on('error', reject);
  });
}

describe('tunnel session', () => {
  it('handshakes, then carries many streams both ways byte for byte within each window', async () => {
    const l = link({ edge: { onOpen: echo, initialWindow: 64 * 1024 }, cloud: { initialWindow: 64 * 1024 } });
    await Promise.all([l.cloud.whenReady(), l.edge.whenReady()]);
    expect(l.cloud.peer?.name).toBe('node-1');
    const payloads = [randomBytes(1024 * 1024), randomBytes(300_000), randomBytes(1)];
    const results = await Promise.all(
      payloads.map(async (p) => {
        const s = await l.cloud.open({ kind: 'tcp', host: '127.0.0.1', port: 22 });
        const got = collect(s);
        s.end(p);
        return got;
      }),
    );
    results.forEach((r, i) => expect(r.equals(payloads[i]!)).toBe(true));
    // Never more DATA in flight per stream than the window (3 streams at most at once).
    expect(l.maxInFlight.toEdge).toBeLessThanOrEqual(3 * 64 * 1024);
    expect(l.maxInFlight.toCloud).toBeLessThanOrEqual(3 * 64 * 1024);
    expect(l.cloud.streamCount()).toBe(0);
  });

  it('lets one stream stall without stalling the others or buffering past its window', async () => {
    let stalled: TunnelStream | undefined;
    const l = link({
      cloud: { initialWindow: 32 * 1024 },
      edge: {
        initialWindow: 32 * 1024,
        onOpen: (req, stream) => {
          if (req.kind === 'tcp' && req.port === 1) stalled = stream; // never read
          else stream.pipe(stream);
        },
      },
    });
    const slow = await l.cloud.open({ kind: 'tcp', host: 'h', port: 1 });
    let written = 0;
    const chunk = Buffer.alloc(16 * 1024, 7);
    // Write until backpressure: the writer is told to wait, memory stays bounded.
    while (slow.write(chunk)) written += chunk.length;
    await new Promise((r) => setTimeout(r, 50));
    const fast = await l.cloud.open({ kind: 'tcp', host: 'h', port: 2 });
    const data = randomBytes(512 * 1024);
    const got = collect(fast);
    fast.end(data);
    expect((await got).equals(data)).toBe(true);
    expect(stalled).toBeDefined();
    // What reached the stalled reader is bounded by its window plus its read buffer.
    expect(stalled!.readableLength).toBeLessThanOrEqual(32 * 1024 + 64 * 1024);
    expect(slow.writableLength).toBeGreaterThan(0);
    expect(written).toBeLessThan(1024 * 1024);
    l.cloud.close('test', 'done');
  });

  it('refuses a stream with a coded RST when the far end rejects it', async () => {
    const l = link({
      edge: {
        onOpen: (req) => {
          if (req.kind !== 'tcp' || req.port !== 22) throw Object.assign(new Error(req.kind === "tcp" ? `port ${req.port} is not on the allow-list` : "only tcp"), { code: 'EDGE_ERR_TUNNEL_NOT_ALLOWED' });
        },
      },
    });
    await expect(l.cloud.open({ kind: 'tcp', host: '127.0.0.1', port: 25 })).rejects.toMatchObject({
      code: 'EDGE_ERR_TUNNEL_STREAM_REFUSED',
      message: expect.stringMatching(/EDGE_ERR_TUNNEL_NOT_ALLOWED.*port 25/),
    });
    expect(l.cloud.closed).toBe(false);
  });

  it('closes only the offending session, with a coded reason, for each kind of bad input', async () => {
    const cases: [string, (l: Link) => void][] = [
      ['EDGE_ERR_TUNNEL_PROTOCOL_FRAME_TOO_SHORT', (l) => l.cloud.receive(Buffer.from([1]))],
      ['EDGE_ERR_TUNNEL_PROTOCOL_UNKNOWN_STREAM', (l) => l.cloud.receive(encodeFrame({ type: 'DATA', stream: 41, data: Buffer.from('x') }))],
      ['EDGE_ERR_TUNNEL_PROTOCOL_BAD_STREAM_ID', (l) => l.cloud.receive(encodeFrame({ type: 'OPEN', stream: 3, open: { kind: 'tcp', host: 'h', port: 1 } }))],
      ['EDGE_ERR_TUNNEL_PROTOCOL_HANDSHAKE', (l) => l.cloud.receive(encodeFrame({ type: 'HELLO', stream: 0, hello: { version: 1, name: 'x', maxFramePayload: 65536, initialWindow: 65536 } }))],
      ['EDGE_ERR_TUNNEL_PROTOCOL_UNKNOWN_FRAME_TYPE', (l) => l.cloud.receive(Buffer.from([200, 0, 0, 0, 0, 0]))],
    ];
    for (const [code, inject] of cases) {
      const l = link();
      const other = link({ edge: { onOpen: echo } });
      await l.cloud.whenReady();
      await other.cloud.whenReady();
      inject(l);
      await new Promise((r) => setImmediate(r));
      expect(l.cloud.closed, code).toBe(true);
      expect(l.closes[0], code).toMatchObject({ side: 'cloud', code: 4400, reason: code });
      // The other session goes on.
      const s = await other.cloud.open({ kind: 'tcp', host: 'h', port: 1 });
      const got = collect(s);
      s.end('still here');
      expect((await got).toString()).toBe('still here');
    }
  });

  it('rejects garbage instead of a handshake, and a window overrun', async () => {
    const closes: string[] = [];
    const cloud = new TunnelSession({ role: 'cloud', name: 'c', logger, transport: { send: () => undefined, close: (_c, r) => void closes.push(r) } });
    cloud.receive(encodeFrame({ type: 'PING', stream: 0, payload: Buffer.alloc(0) }));
    expect(closes).toEqual(['EDGE_ERR_TUNNEL_PROTOCOL_HANDSHAKE']);

    const l = link({ edge: { onOpen: () => undefined, initialWindow: 4096 } });
    const s = await l.cloud.open({ kind: 'tcp', host: 'h', port: 1 });
    // Forge DATA past the edge's window (4 KiB, plus the 64 KiB its idle reader buffers), as a hostile peer would.
    for (let i = 0; i < 40; i++) l.edge.receive(encodeFrame({ type: 'DATA', stream: s.id, data: Buffer.alloc(2048) }));
    await new Promise((r) => setImmediate(r));
    expect(l.closes.find((c) => c.side === 'edge')?.reason).toBe('EDGE_ERR_TUNNEL_PROTOCOL_FLOW_CONTROL');
  });

  it('drops late frames for a stream that was reset, without closing the session', async () => {
    const l = link({ edge: { onOpen: echo } });
    const s = await l.cloud.open({ kind: 'tcp', host: 'h', port: 1 });
    s.destroy();
    l.cloud.receive(encodeFrame({ type: 'DATA', stream: s.id, data: Buffer.from('late') }));
    await new Promise((r) => setImmediate(r));
    expect(l.cloud.closed).toBe(false);
    const again = await l.cloud.open({ kind: 'tcp', host: 'h', port: 1 });
    expect(again.id).toBe(s.id + 2);
  });

  it('keeps a quiet but healthy session up with heartbeats, and closes one whose peer went silent', async () => {
    const l = link();
    await l.cloud.whenReady();
    for (let i = 0; i < 10; i++) {
      l.cloud.tick();
      l.edge.tick();
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
    }
    expect(l.cloud.closed).toBe(false);
    expect(l.edge.closed).toBe(false);
    // The edge stops answering (a dead host, a NAT that forgot the flow): nothing reaches the cloud any more.
    const reasons: string[] = [];
    const cloud = new TunnelSession({
      role: 'cloud',
      name: 'replica-0',
      logger,
      transport: { send: () => undefined, close: (_c, reason) => reasons.push(reason) },
    });
    cloud.receive(encodeFrame({ type: 'HELLO', stream: 0, hello: { version: 1, name: 'node-9', maxFramePayload: 16 * 1024, initialWindow: 65536 } }));
    expect(cloud.ready).toBe(true);
    cloud.tick(); // hears the HELLO
    cloud.tick();
    cloud.tick();
    expect(cloud.closed).toBe(false);
    cloud.tick();
    expect(cloud.closed).toBe(true);
    expect(reasons).toEqual(['EDGE_ERR_TUNNEL_HEARTBEAT_TIMEOUT']);
    // A connection that never says HELLO is dropped the same way.
    const mute = new TunnelSession({ role: 'cloud', name: 'replica-0', logger, transport: { send: () => undefined, close: (_c, reason) => reasons.push(reason) } });
    for (let i = 0; i < 3; i++) mute.tick();
    expect(reasons).toEqual(['EDGE_ERR_TUNNEL_HEARTBEAT_TIMEOUT', 'EDGE_ERR_TUNNEL_HANDSHAKE_TIMEOUT']);
  });
});
