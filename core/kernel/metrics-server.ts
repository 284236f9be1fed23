/**
 * A process's plain-HTTP observability listener: `GET /metrics` (Prometheus
 * text from a prom-client Registry) and, when given checks, `GET /healthz`
 * and `GET /readyz` as kubelet probes ask them. Nothing else is served, and
 * nothing here takes a credential: bind it to loopback, or to the pod's
 * address where only the cluster reaches it.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the listener reads metrics from (prom-client's Registry has this shape). */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface MetricsServerOptions {
  host?: string;
  port: number;
  metrics: MetricsSource;
  /** Liveness and readiness: each answers undefined when well, or why not (served as 503 with the reason). */
  health?: { live: () => string | undefined; ready: () => string | undefined };
}

export interface MetricsServer {
  /** `http://host:port` (without a path). */
  readonly url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const text = (res: ServerResponse, status: number, body: string): void => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${body}\n`);
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET') return text(res, 405, 'method not allowed');
    if (path === '/metrics') {
      o.metrics.metrics().then(
        (body) => res.writeHead(200, { 'content-type': o.metrics.contentType }).end(body),
        (err: unknown) => text(res, 500, String(err)),
      );
      return;
    }
    const check = path === '/healthz' ? o.health?.live : path === '/readyz' ? o.health?.ready : undefined;
    if (check === undefined) return text(res, 404, 'not found');
    const problem = check();
    return problem === undefined ? text(res, 200, 'ok') : text(res, 503, problem);
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
