/**
 * The processes bench/lite-apiserver.ts spawns:
 * `node --import tsx bench/lite-apiserver-child.ts proxy|idle|import|static`.
 *
 * proxy: `startLiteApiserver` with the options in EDGEADM_BENCH_LITE_OPTIONS
 * (JSON LiteApiserverOptions, no logger or registry), a logger at `warn` on
 * standard error as `edgeadm lite-apiserver run` has one; sends `{ url }`
 * once it listens, then answers requests `{ id, op: 'status' | 'memory' }`
 * with `{ id, result }` (the proxy's status(), process.memoryUsage()) or
 * `{ id, error }`. It closes the proxy and exits on SIGTERM, SIGINT or when
 * the bench goes away (IPC disconnect).
 * idle: sends `{ ready: true }` and waits: what `node --import tsx` costs
 * before any of the proxy's code is loaded (this file imports nothing at
 * its top level; the proxy's modules are loaded only in `proxy`).
 * import: imports the proxy's modules (core/lite-apiserver, core/kernel)
 * without starting anything, sends `{ ready: true }` and waits: what the
 * module graph costs before the proxy runs.
 * static: the floor for a cache hit: sends `{ ready: true }`, then on
 * `{ id, op: 'serve', tls, bodies }` starts an HTTPS server (the proxy's
 * certificate, client certificates requested as the proxy does) answering
 * each path of `bodies` with those bytes from memory, and answers
 * `{ id, result: { url } }`.
 */
import type { AddressInfo } from 'node:net';
import type { LiteApiserverOptions } from '../core/lite-apiserver/index.ts';

/** What the bench asks a child. `bodies`: path -> body, base64. */
export type ChildAsk = { op: 'status' | 'memory' } | { op: 'serve'; tls: { cert: string; key: string; clientCa: string }; bodies: Record<string, string> };
export type ChildRequest = ChildAsk & { id: number };

async function proxy(): Promise<void> {
  const text = process.env.EDGEADM_BENCH_LITE_OPTIONS;
  if (text === undefined || text === '') throw new Error('EDGEADM_BENCH_LITE_OPTIONS is not set');
  const options = JSON.parse(text) as LiteApiserverOptions;
  const { startLiteApiserver } = await import('../core/lite-apiserver/index.ts');
  const { createLogger } = await import('../core/kernel/index.ts');
  const lite = await startLiteApiserver({ ...options, logger: createLogger({ level: 'warn' }) });
  const stop = (): void => void lite.close().finally(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.once('disconnect', stop);
  process.on('message', (m: ChildRequest) => {
    try {
      const result = m.op === 'status' ? lite.status() : m.op === 'memory' ? process.memoryUsage() : undefined;
      process.send!({ id: m.id, result });
    } catch (err) {
      process.send!({ id: m.id, error: err instanceof Error ? err.message : String(err) });
    }
  });
  process.send!({ url: lite.url });
}

async function serveStatic(): Promise<void> {
  // Loaded here: `idle` must load nothing beyond the runner.
  const { default: https } = await import('node:https');
  process.once('disconnect', () => process.exit(0));
  process.once('SIGTERM', () => process.exit(0));
  process.on('message', (m: ChildRequest) => {
    if (m.op !== 'serve') return;
    const bodies = new Map(Object.entries(m.bodies).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
    const server = https.createServer({ cert: m.tls.cert, key: m.tls.key, ca: m.tls.clientCa, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const body = bodies.get(req.url ?? '');
      if (body === undefined) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
    server.keepAliveTimeout = 65_000;
    server.listen(0, '127.0.0.1', () => process.send!({ id: m.id, result: { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}` } }));
  });
  process.send!({ ready: true });
}

function idle(): void {
  process.once('disconnect', () => process.exit(0));
  process.once('SIGTERM', () => process.exit(0));
  // Keeps the event loop alive without doing anything.
  setInterval(() => undefined, 1 << 30);
  process.send!({ ready: true });
}

const role = process.argv[2];
if (role === 'proxy') {
  await proxy().catch((err: unknown) => {
    process.stderr.write(`bench/lite-apiserver-child.ts: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
} else if (role === 'idle') {
  idle();
} else if (role === 'static') {
  await serveStatic();
} else if (role === 'import') {
  await import('../core/lite-apiserver/index.ts');
  await import('../core/kernel/index.ts');
  idle();
} else {
  process.stderr.write(`bench/lite-apiserver-child.ts: unknown role '${role ?? ''}' (proxy, idle, import or static)\n`);
  process.exit(2);
}
