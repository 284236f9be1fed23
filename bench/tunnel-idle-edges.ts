/**
 * Child of bench/tunnel-idle.ts: many edge connections from one process, each
 * from its own loopback source address (127.<octet>.x.y) so the ephemeral port
 * range never limits the count. `--mode tunnel`: a WebSocket over TLS with a
 * node credential and an edge session on it (as tunnel-edge does), up once
 * the cloud acknowledged its HELLO. `--mode bare`: the same WebSocket without a
 * session, up once one small message came back from the echoing peer.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import WebSocket from 'ws';
import { createError, createLogger } from '../core/kernel/index.ts';
import { sessionOverWebSocket, WS_MAX_PAYLOAD } from '../core/tunnel/index.ts';
import { argValue, ErrBenchArgument, helloParent, serveParent } from './tunnel-idle-ipc.ts';

const ErrEdgeNotUp = createError(
  'EDGE_ERR_BENCH_EDGE_NOT_UP',
  (p: { node: string; reason: string }) => `bench edge '${p.node}' did not come up: ${p.reason}`,
  { statusCode: 500 },
);

const mode = argValue('mode');
if (mode !== 'tunnel' && mode !== 'bare') throw new ErrBenchArgument({ name: 'mode', problem: `must be 'tunnel' or 'bare', not '${mode}'` });
const url = argValue('url');
const token = readFileSync(argValue('token-file'), 'utf8').trim();
// One TLS context for every connection: a context per connection would parse the CA each time.
const secureContext = createSecureContext({ ca: readFileSync(argValue('ca')) });
const logger = createLogger({ level: 'warn' });
const UP_TIMEOUT_MS = 60_000;
/** As large as a HELLO frame, for the bare peer's one round trip. */
const BARE_MESSAGE = Buffer.alloc(96, 1);

const sockets: WebSocket[] = [];
let up = 0;
let lost = 0;
let firstLoss: string | undefined;

/** 127.<octet>.a.b with a, b in 1..254: 64,516 distinct source addresses per octet. */
function sourceAddress(i: number, octet: number): string {
  return `127.${octet}.${1 + Math.floor(i / 254)}.${1 + (i % 254)}`;
}

function ignore(): void {}

async function connectOne(i: number, octet: number): Promise<void> {
  const node = `node-${i}`;
  // ws hands its options to tls.connect, which takes a shared secureContext (ws's types do not list it).
  const options: WebSocket.ClientOptions & { secureContext: SecureContext } = {
    secureContext,
    localAddress: sourceAddress(i, octet),
    headers: { authorization: `Bearer ${token}`, 'x-edgeadm-node': node },
    maxPayload: WS_MAX_PAYLOAD,
    perMessageDeflate: false,
    handshakeTimeout: UP_TIMEOUT_MS,
  };
  const ws = new WebSocket(url, options);
  sockets.push(ws);
  ws.on('error', ignore);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ErrEdgeNotUp({ node, reason: `not up within ${UP_TIMEOUT_MS} ms` })), UP_TIMEOUT_MS);
  });
  try {
    await Promise.race([
      deadline,
      new Promise<void>((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('close', (code) => reject(new ErrEdgeNotUp({ node, reason: `websocket closed (${code}) before it opened` })));
        ws.once('error', (err) => reject(new ErrEdgeNotUp({ node, reason: err.message })));
      }),
    ]);
    ws.removeAllListeners('close');
    let counted = false;
    const onLoss = (reason: string): void => {
      if (!counted) return;
      counted = false;
      up--;
      lost++;
      firstLoss ??= `${node}: ${reason}`;
    };
    if (mode === 'tunnel') {
      const session = sessionOverWebSocket(ws, { role: 'edge', name: node, logger, onClose: (r) => onLoss(`[${r.code}] ${r.message}`) });
      await Promise.race([deadline, session.whenReady()]);
    } else {
      ws.on('close', (code) => onLoss(`websocket closed (${code})`));
      const echoed = new Promise<void>((resolve) => ws.once('message', () => resolve()));
      ws.send(BARE_MESSAGE, { binary: true });
      await Promise.race([deadline, echoed]);
    }
    counted = true;
    up++;
  } finally {
    clearTimeout(timer);
  }
}

/** Opens `count` connections (indices from `from`), at most `concurrency` handshakes at a time. */
async function connectMany(from: number, count: number, octet: number, concurrency: number): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  let next = from;
  let failed = 0;
  let firstError: string | undefined;
  const worker = async (): Promise<void> => {
    while (next < from + count) {
      const i = next++;
      try {
        await connectOne(i, octet);
      } catch (err) {
        failed++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { ok: count - failed, failed, firstError, ms: performance.now() - t0 };
}

serveParent({
  connect: (req) => connectMany(Number(req.from), Number(req.count), Number(req.octet), Number(req.concurrency)),
  // eslint-disable-next-line @typescript-eslint/require-await -- a handler is async by contract
  status: async () => ({ up, lost, firstLoss }),
  // eslint-disable-next-line @typescript-eslint/require-await -- a handler is async by contract
  close: async () => {
    for (const ws of sockets) ws.terminate();
    sockets.length = 0;
    return {};
  },
});
helloParent({ pid: process.pid });
