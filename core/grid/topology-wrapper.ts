/**
 * The topology wrapper: what kube-proxy on an edge node talks to instead
 * of kube-apiserver, so that a ServiceGrid's traffic stays in the node's
 * unit (SuperEdge's application-grid-wrapper does this job).
 *
 * - Endpoints and EndpointSlices (get, list and watch, all namespaces or
 *   one) of a Service with topology keys are answered filtered to the local
 *   node's unit (services.ts says how); those of other Services, and every
 *   other request, are passed through unchanged, bodies streamed.
 * - It asks kube for JSON on the requests it filters (kube-proxy asks for
 *   protobuf first, and takes JSON), and passes everything else as asked.
 * - Who may do what stays kube's decision: a caller's Authorization header
 *   goes upstream as it came, and the wrapper lends no credential of its
 *   own. Its own credential (the kubeconfig it is given) only reads the
 *   Services' annotations and the Nodes' labels it filters by, into caches
 *   fed by watches.
 * - It listens on loopback by default (kube-proxy runs on the same node).
 * - A watch event is filtered with the caches as they are when it passes:
 *   a node's label change re-sorts its addresses with the next event of
 *   that Service, as kube-proxy's own resync does.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../kernel/index.ts';
import { openKubeClient, pageRequest, reflect, typedPage, type KubeObject } from '../store/index.ts';
import { filterEndpoints, filterEndpointSlice, topologyKeysOf, type NodeLabels } from './services.ts';

/** The port `edgeadm grid wrapper` listens on by default (on loopback). */
export const TOPOLOGY_WRAPPER_PORT = 51006;

export interface TopologyWrapperOptions {
  /** The wrapper's own kubeconfig (a file, a loaded KubeConfig, or 'in-cluster'): reads Services and Nodes. */
  kubeConfig: Parameters<typeof openKubeClient>[0];
  /** The node kube-proxy runs on: addresses are kept when their node shares its unit. */
  nodeName: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  logger?: Logger;
}

export interface TopologyWrapper {
  /** http://host:port, for kube-proxy's kubeconfig `server`. */
  readonly url: string;
  close(): Promise<void>;
}

/** The paths the wrapper filters: Endpoints (core/v1) and EndpointSlices (discovery.k8s.io/v1), all namespaces or one, a list or one object. */
const FILTERED = /^\/(?:api\/v1|apis\/discovery\.k8s\.io\/v1)\/(?:namespaces\/([^/]+)\/)?(endpoints|endpointslices)(?:\/([^/]+))?$/;
/** The label tying an EndpointSlice to its Service. */
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** Starts the wrapper: caches of Services and Nodes first, then the listener. */
export async function startTopologyWrapper(o: TopologyWrapperOptions): Promise<TopologyWrapper> {
  const client = await openKubeClient(o.kubeConfig);
  const stop = new AbortController();
  const services = new Map<string, string[]>();
  const nodes = new Map<string, Record<string, string>>();
  const keyOf = (obj: KubeObject): string => `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
  const svcReflector = reflect({
    client,
    path: '/api/v1/services',
    list: async (page) => typedPage(await client.core.listServiceForAllNamespaces(pageRequest(page))),
    onEvent: (type, obj) => {
      let keys: string[] | undefined;
      try {
        keys = type === 'DELETED' ? undefined : topologyKeysOf(obj.metadata ?? {});
      } catch (err) {
        o.logger?.warn({ service: keyOf(obj), err }, 'a Service has a malformed topologyKeys annotation: its endpoints are not filtered');
      }
      if (keys === undefined) services.delete(keyOf(obj));
      else services.set(keyOf(obj), keys);
    },
    signal: stop.signal,
    ...(o.logger === undefined ? {} : { logger: o.logger }),
  });
  const nodeReflector = reflect({
    client,
    path: '/api/v1/nodes',
    list: async (page) => typedPage(await client.core.listNode(pageRequest(page))),
    onEvent: (type, obj) => {
      const name = obj.metadata?.name ?? '';
      if (type === 'DELETED') nodes.delete(name);
      else nodes.set(name, { ...obj.metadata?.labels });
    },
    signal: stop.signal,
    ...(o.logger === undefined ? {} : { logger: o.logger }),
  });
  try {
    await Promise.all([svcReflector.ready, nodeReflector.ready]);
  } catch (err) {
    stop.abort();
    await client.close();
    throw err;
  }
  const filter: Filter = { services, nodes, nodeName: o.nodeName };
  const upstream = new URL(client.server);
  const tls: RequestOptions = {};
  await client.kc.applyToHTTPSOptions(tls);
  const server = createServer((req, res) => {
    proxy(req, res, { upstream, tls, filter, logger: o.logger });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  o.logger?.info({ url: `http://${addr.address}:${addr.port}`, node: o.nodeName }, 'topology wrapper listening');
  return {
    url: `http://${addr.address}:${addr.port}`,
    async close() {
      stop.abort();
      await closeServer(server);
      await Promise.allSettled([svcReflector.done, nodeReflector.done]);
      await client.close();
    },
  };
}

interface Filter {
  services: ReadonlyMap<string, string[]>;
  nodes: NodeLabels;
  nodeName: string;
}

/** An Endpoints or EndpointSlice object filtered when its Service has topology keys; otherwise the object itself. */
function filterObject(obj: Record<string, unknown>, resource: string, f: Filter): Record<string, unknown> {
  const meta = (obj.metadata ?? {}) as { name?: string; namespace?: string; labels?: Record<string, string> };
  const service = resource === 'endpoints' ? meta.name : meta.labels?.[SERVICE_NAME_LABEL];
  const keys = service === undefined ? undefined : f.services.get(`${meta.namespace ?? ''}/${service}`);
  if (keys === undefined) return obj;
  return resource === 'endpoints' ? filterEndpoints(obj, keys, f.nodeName, f.nodes) : filterEndpointSlice(obj as { endpoints?: { nodeName?: string }[] | null }, keys, f.nodeName, f.nodes);
}

/** Passes one request upstream; filters the answer when it is one of the wrapper's (see the header). */
function proxy(req: IncomingMessage, res: ServerResponse, ctx: { upstream: URL; tls: RequestOptions; filter: Filter; logger: Logger | undefined }): void {
  const url = new URL(req.url ?? '/', 'http://wrapper');
  const m = req.method === 'GET' ? FILTERED.exec(url.pathname) : null;
  const resource = m?.[2];
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && k !== 'host' && k !== 'connection') headers[k] = v;
  // JSON where the wrapper must read the answer; gzip would hide it too.
  if (resource !== undefined) {
    headers.accept = 'application/json';
    delete headers['accept-encoding'];
  }
  const secure = ctx.upstream.protocol === 'https:';
  const options: RequestOptions = {
    ...(secure ? ctx.tls : {}),
    host: ctx.upstream.hostname,
    port: ctx.upstream.port || (secure ? 443 : 80),
    method: req.method,
    path: `${url.pathname}${url.search}`,
    // The caller's headers only: the wrapper's own credential (in ctx.tls.headers) is for its caches, never lent.
    headers: { ...headers, host: ctx.upstream.host },
  };
  const up = (secure ? httpsRequest : httpRequest)(options, (upRes) => {
    const isJson = (upRes.headers['content-type'] ?? '').startsWith('application/json');
    if (resource === undefined || upRes.statusCode !== 200 || !isJson) {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
      return;
    }
    const outHeaders = { ...upRes.headers };
    delete outHeaders['content-length'];
    res.writeHead(200, outHeaders);
    if (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1') {
      // One JSON event per line: each object filtered as it passes.
      let buffered = '';
      upRes.setEncoding('utf8');
      upRes.on('data', (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line.trim() !== '') res.write(`${filterEventLine(line, resource, ctx.filter)}\n`);
        }
      });
      upRes.on('end', () => {
        if (buffered.trim() !== '') res.write(`${filterEventLine(buffered, resource, ctx.filter)}\n`);
        res.end();
      });
      return;
    }
    const chunks: Buffer[] = [];
    upRes.on('data', (c: Buffer) => chunks.push(c));
    upRes.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      const out = Array.isArray(body.items) ? { ...body, items: (body.items as Record<string, unknown>[]).map((i) => filterObject({ ...i, metadata: { ...(i.metadata as object), namespace: (i.metadata as { namespace?: string }).namespace ?? m?.[1] } }, resource, ctx.filter)) } : filterObject(body, resource, ctx.filter);
      res.end(JSON.stringify(out));
    });
  });
  up.on('error', (err) => {
    ctx.logger?.warn({ path: url.pathname, err }, 'topology wrapper: upstream request failed');
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 502, reason: 'ServiceUnavailable', message: `upstream ${ctx.upstream.host}: ${err.message}` }));
  });
  // The caller went away (a watch ended by kube-proxy): the upstream request goes too.
  res.on('close', () => {
    if (!res.writableFinished) up.destroy();
  });
  req.pipe(up);
}

function filterEventLine(line: string, resource: string, f: Filter): string {
  try {
    const ev = JSON.parse(line) as { type?: string; object?: Record<string, unknown> };
    if ((ev.type === 'ADDED' || ev.type === 'MODIFIED') && ev.object) return JSON.stringify({ ...ev, object: filterObject(ev.object, resource, f) });
  } catch {
    // Not JSON: passed as it came, as kube sent it.
  }
  return line;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
