/**
 * tunnel: bulk throughput and small request/response latency through one
 * tunnel session over a loopback WebSocket (cloud opens a stream, the edge
 * connects it to a local TCP service), against direct loopback TCP to the same
 * service in the same run. TLS, OpenSSH port-forwarding as a peer and the
 * connection-count figures come with tunnel-cloud and tunnel-edge.
 */
import { connect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { createLogger } from '../core/kernel/index.ts';
import { sessionOverWebSocket, WS_MAX_PAYLOAD, type TunnelSession } from '../core/tunnel/index.ts';
import { serveEcho, serveTcp } from '../test/support/tcp-services.ts';
import { round, versus, type Benchmark, type BenchResult } from './harness.ts';

const BULK_BYTES = 256 * 1024 * 1024;
const ROUND_TRIPS = 2000;

/** Writes `bytes` with backpressure; resolves when the sink has counted them all. */
async function bulk(out: Duplex, received: () => number, bytes: number): Promise<number> {
  const chunk = Buffer.alloc(256 * 1024, 1);
  const t0 = performance.now();
  let sent = 0;
  while (sent < bytes) {
    if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
    sent += chunk.length;
  }
  while (received() < bytes) await new Promise((r) => setImmediate(r));
  return (bytes / 1024 / 1024) / ((performance.now() - t0) / 1000);
}

async function pingPong(io: Duplex): Promise<number[]> {
  const msg = Buffer.alloc(64, 2);
  const times: number[] = [];
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      let got = 0;
      const on = (d: Buffer): void => {
        got += d.length;
        if (got >= msg.length) {
          io.off('data', on);
          resolve();
        }
      };
      io.on('data', on);
      io.write(msg);
    });
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b);
}

const pct = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

const bench: Benchmark = {
  name: 'tunnel',
  description: 'throughput and latency through a tunnel session over loopback WebSocket, against direct TCP',
  async run(): Promise<BenchResult[]> {
    const logger = createLogger({ level: 'silent' });
    let sunk = 0;
    const sink = await serveTcp((s) => s.on('data', (d: Buffer) => (sunk += d.length)));
    const echo = await serveEcho();
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: WS_MAX_PAYLOAD, perMessageDeflate: false });
    await new Promise<void>((r) => wss.once('listening', r));
    let cloud: TunnelSession | undefined;
    wss.on('connection', (ws) => (cloud = sessionOverWebSocket(ws, { role: 'cloud', name: 'bench-cloud', logger })));
    const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { maxPayload: WS_MAX_PAYLOAD, perMessageDeflate: false });
    await new Promise((r) => ws.once('open', r));
    sessionOverWebSocket(ws, {
      role: 'edge',
      name: 'bench-edge',
      logger,
      onOpen: async (req, stream) => {
        if (req.kind !== 'tcp') throw new Error(`the bench edge serves TCP only, not ${req.kind}`);
        const sock = connect(req.port, req.host);
        await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
        sock.setNoDelay(true);
        stream.pipe(sock).pipe(stream);
        stream.on('close', () => sock.destroy());
        sock.on('close', () => stream.destroy());
      },
    });
    try {
      while (!cloud) await new Promise((r) => setTimeout(r, 5));
      await cloud.whenReady();
      const out: BenchResult[] = [];

      const direct = connect(sink.port, '127.0.0.1');
      await new Promise((r) => direct.once('connect', r));
      sunk = 0;
      const directMBs = await bulk(direct, () => sunk, BULK_BYTES);
      direct.destroy();
      const tunneled = await cloud.open({ kind: 'tcp', host: '127.0.0.1', port: sink.port });
      sunk = 0;
      const tunnelMBs = await bulk(tunneled, () => sunk, BULK_BYTES);
      tunneled.destroy();
      out.push(versus({ bench: 'tunnel', metric: 'bulk throughput, one stream (plain ws, no TLS yet)', value: round(tunnelMBs, 1), unit: 'MiB/s' }, 'direct loopback TCP', directMBs));

      const d2 = connect(echo.port, '127.0.0.1');
      d2.setNoDelay(true);
      await new Promise((r) => d2.once('connect', r));
      const directRtt = await pingPong(d2);
      d2.destroy();
      const t2 = await cloud.open({ kind: 'tcp', host: '127.0.0.1', port: echo.port });
      const tunnelRtt = await pingPong(t2);
      t2.destroy();
      out.push(versus({ bench: 'tunnel', metric: '64-byte round trip p50', value: round(pct(tunnelRtt, 50), 3), unit: 'ms' }, 'direct loopback TCP', pct(directRtt, 50)));
      out.push(versus({ bench: 'tunnel', metric: '64-byte round trip p99', value: round(pct(tunnelRtt, 99), 3), unit: 'ms' }, 'direct loopback TCP', pct(directRtt, 99)));
      return out;
    } finally {
      ws.terminate();
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
      await sink.close();
      await echo.close();
    }
  },
};

export default bench;
