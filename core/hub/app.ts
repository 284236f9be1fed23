/**
 * The hub's HTTP API (fastify): resources, telemetry ingest/query/live
 * streams, commands, tokens, metrics and the OpenAPI document, all behind
 * bearer-token auth. `buildHubApp` registers everything but does not listen:
 * the caller adds its own routes (e.g. the sync WebSocket, protected with
 * `requireAuth`) and then listens. Every error leaves as a coded
 * `{ code, message, details? }`, also what the router, the body parser and
 * Node's HTTP parser refuse (core/hub/transport.ts); JSON bodies are parsed
 * with core/kernel's bounded parser; tokens never reach the log.
 */
import { maxHeaderSize as defaultMaxHeaderSize, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyCompress from '@fastify/compress';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Registry } from 'prom-client';
import { EDGEADM_VERSION, type Logger } from '../kernel/index.ts';
import type { ResourceStore } from '../store/index.ts';
import type { TelemetryStore } from '../telemetry/index.ts';
import type { CommandQueue } from './commands.ts';
import { DeviceCatalog } from './device-catalog.ts';
import { requireAuth } from './auth.ts';
import type { HubApp, HubContext, HubModule } from './context.ts';
import { ErrExpectationFailed, ErrMalformedHttp, ErrMethodNotAllowed, ErrModuleConflict, ErrRouteNotFound, ErrShuttingDown } from './errors.ts';
import { createHubMetrics } from './metrics.ts';
import { registerCommandRoutes } from './routes/commands.ts';
import { registerResourceRoutes } from './routes/resources.ts';
import { registerStreamRoutes } from './routes/streams.ts';
import { registerSystemRoutes } from './routes/system.ts';
import { registerTelemetryRoutes } from './routes/telemetry.ts';
import { registerJoinRoutes } from './routes/join.ts';
import { registerOnboardingRoutes } from './routes/onboarding.ts';
import { registerAddonStatusRoutes } from './routes/addon-status.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerOverviewRoutes } from './routes/overview.ts';
import type { HealthKeyStore } from './health-keys.ts';
import { NodeHealthRecorder, type NodeAnnotator } from './node-health.ts';
import { registerEdgeXRoutes } from './routes/edgex.ts';
import { registerPluginRoutes } from './routes/plugins.ts';
import { createPluginCatalog, type PluginCatalogSource } from './plugin-catalog.ts';
import { registerTokenRoutes } from './routes/tokens.ts';
import { registerWatchRoutes } from './routes/watch.ts';
import { SyncSessions, type SyncSessionsOptions } from './sync.ts';
import type { TokenStore } from './tokens.ts';
import {
  allowedMethods,
  clientErrorOf,
  decodeBody,
  errorBody,
  MAX_PARAM_LENGTH,
  parseJsonBody,
  rawErrorResponse,
  redactUrl,
  toHttpError,
  validatorCompiler,
  type ClientErrorLike,
} from './transport.ts';

export { authenticate, authorizeSite, principalOf, requireAuth, type AuthHook, type RequireAuthOptions } from './auth.ts';
export type { HubApp, StreamLimits } from './context.ts';

export const DEFAULT_BODY_LIMIT_BYTES = 8 * 1024 * 1024;

export interface HubAppOptions {
  store: ResourceStore;
  telemetry: TelemetryStore;
  tokens: TokenStore;
  commands: CommandQueue;
  /** The cluster's health key (core/hub/health-keys.ts): file or kube Secret. */
  healthKeys: HealthKeyStore;
  /** Kubernetes mode: writes the peers' verdicts onto Kubernetes Nodes (core/hub/node-health.ts). */
  annotateNode?: NodeAnnotator;
  /** The hub's logger; a child bound with `component: 'hub'` is used. */
  logger: Logger;
  /** Where the hub's metrics are registered and what /metrics exposes. */
  metrics: Registry;
  /** Largest request body, after decompression (default 8 MiB). */
  bodyLimitBytes?: number;
  /** On close, requests in flight get this long (ms) before their connections are cut; default 5000. */
  closeGraceMs?: number;
  /** Live stream tuning: heartbeat interval (default 15 s) and the per-client unsent-data limit (default 8 MiB). */
  streams?: Partial<HubContext['streams']>;
  /** tunnel-cloud, when the hub runs it: enables join and the node connect route. */
  tunnel?: HubContext['tunnel'];
  /** PEM of the hub's CA, handed to joining nodes. */
  caCert?: string;
  /** Serve HTTPS with this certificate and key. */
  https?: { cert: string; key: string };
  /** Device lookups for telemetry ingest, shared with other ingest paths (the MQTT ingest); default a new one over `store`. */
  catalog?: DeviceCatalog;
  /** Modules that serve routes of their own (the web console: core/console's `createConsole()`). */
  modules?: readonly HubModule[];
  /**
   * The plugins installed where the hub runs (`GET /api/v1/plugins`; Device
   * writes are checked against their protocol schemas), loaded on first
   * use; without it the catalog is empty and nothing is checked
   * (core/hub/plugin-catalog.ts).
   */
  pluginCatalog?: PluginCatalogSource;
  /** The site sync sessions' tuning (ping period, send high-water mark). */
  sync?: Pick<SyncSessionsOptions, 'heartbeatMs' | 'highWaterBytes'>;
}

export function buildHubApp(opts: HubAppOptions): HubApp {
  const bodyLimit = opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const logger = opts.logger.child({ component: 'hub' });
  const ctx: HubContext = {
    store: opts.store,
    telemetry: opts.telemetry,
    tokens: opts.tokens,
    commands: opts.commands,
    metrics: createHubMetrics(opts.metrics),
    logger,
    catalog: opts.catalog ?? new DeviceCatalog(opts.store),
    plugins: createPluginCatalog(opts.pluginCatalog),
    streams: {
      heartbeatMs: opts.streams?.heartbeatMs ?? 15_000,
      maxBufferedBytes: opts.streams?.maxBufferedBytes ?? 8 * 1024 * 1024,
    },
    ...(opts.tunnel ? { tunnel: opts.tunnel } : {}),
    ...(opts.caCert ? { caCert: opts.caCert } : {}),
  };

  const baseLogger: FastifyBaseLogger = logger;
  /** Every error a request ends with, from a route, a hook, the body parser or the router, leaves here as a coded body. */
  const replyError = (err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const { statusCode, body, internal } = toHttpError(err, request);
    if (internal) request.log.error({ err, url: redactUrl(request.url) }, 'request error');
    if (statusCode === 401) void reply.header('www-authenticate', 'Bearer realm="edgeadm"');
    return reply.code(statusCode).send(body);
  };
  let closing = false;
  const app: HubApp = Fastify({
    loggerInstance: baseLogger,
    // Request lines are written by the onResponse hook below, with the URL redacted.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    // Requests that arrive while closing get EDGE_ERR_HUB_SHUTTING_DOWN from the onRequest hook below.
    return503OnClosing: false,
    // Every name the store accepts fits a path parameter; each route's schema bounds and names its own.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Malformed percent-encoding, over-long parameters: coded like every other error.
    frameworkErrors: (err, request, reply) => void replyError(err, request, reply),
    // What Node's HTTP parser refuses before any route (bad request line, header, length; headers too large; too slow).
    clientErrorHandler: (err, socket) => {
      const e = err as ClientErrorLike;
      if (e.code === 'ECONNRESET' || socket.destroyed) return;
      const coded = clientErrorOf(e, (app.server as { maxHeaderSize?: number }).maxHeaderSize ?? defaultMaxHeaderSize);
      logger.info({ code: coded.code, parserCode: e.code, status: coded.statusCode }, 'request refused by the HTTP parser');
      // As Node does: answer unless a response of this connection has started (it would be corrupted).
      const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (socket.writable && !inFlight?.headersSent) socket.write(rawErrorResponse(coded));
      socket.destroySoon();
    },
    // With TLS the server is an https.Server: a subclass of the same http handling the routes use.
    // A missing Host is answered by the onRequest hook below, coded, instead of by Node with a bare 400.
    ...(opts.https ? { https: { cert: opts.https.cert, key: opts.https.key, requireHostHeader: false } } : { http: { requireHostHeader: false } }),
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.decorate('hubTokens', opts.tokens);
  const modules = (opts.modules ?? []).map((m) => ({ name: m.name, parts: m.setup({ ctx, registry: opts.metrics, secure: opts.https !== undefined }) }));
  const offering = modules.filter((m) => m.parts.sessions !== undefined);
  if (offering.length > 1) throw new ErrModuleConflict({ modules: offering.map((m) => m.name), what: 'browser sessions' });
  app.decorate('browserSessions', offering[0]?.parts.sessions);
  const sync = new SyncSessions({
    store: opts.store,
    commands: opts.commands,
    logger,
    metrics: opts.metrics,
    // The site's own credentials only: the session replicates its broker logins' hashes and marks it Online.
    preHandler: requireAuth(['agent'], { siteParam: 'site' }),
    nodeHealth: new NodeHealthRecorder({ store: opts.store, logger, ...(opts.annotateNode ? { annotate: opts.annotateNode } : {}) }),
    ...opts.sync,
  });
  app.decorateRequest('principal', undefined);

  void app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'edgeadm hub',
        version: EDGEADM_VERSION,
        description: 'Cloud API of edgeadm: sites, nodes, device profiles, devices, addons, telemetry, commands and tokens.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'edgeadm_<id>_<secret>' } } },
      security: [{ bearer: [] }],
    },
  });
  void app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  void app.register(fastifyWebsocket, {
    options: { maxPayload: bodyLimit },
    // Like the plugin's default, but says why: 1001 (going away).
    preClose(done) {
      for (const client of this.websocketServer.clients) client.close(1001, 'hub shutting down');
      this.websocketServer.close();
      done();
    },
  });
  void app.register(fastifyCompress, { globalDecompression: false, threshold: 1024 });

  // Shutdown: Node's server.close() waits for connections that never sent a
  // request (a client's spare keep-alive socket) and, with no request timeout,
  // would wait forever. Close those at once; give requests in flight
  // `closeGraceMs`, then cut what is left.
  const unused = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    unused.add(socket);
    socket.once('close', () => unused.delete(socket));
  });
  app.server.on('request', (req: IncomingMessage) => unused.delete(req.socket));
  app.server.on('upgrade', (req: IncomingMessage) => unused.delete(req.socket));
  app.addHook('preClose', (done) => {
    closing = true;
    for (const socket of unused) socket.destroy();
    const timer = setTimeout(() => app.server.closeAllConnections(), opts.closeGraceMs ?? 5_000);
    timer.unref();
    app.server.once('close', () => clearTimeout(timer));
    done();
  });

  // Node answers an Expect other than 100-continue with a bare 417 unless someone listens.
  app.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const err = new ErrExpectationFailed({ expect: String(req.headers.expect ?? '') });
    logger.info({ code: err.code, status: err.statusCode, method: req.method, url: redactUrl(req.url ?? '') }, 'request refused');
    const body = JSON.stringify(errorBody(err));
    res.writeHead(err.statusCode, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body);
  });

  app.addHook('onRequest', (request, reply, done) => {
    if (closing) {
      void reply.header('connection', 'close');
      return done(new ErrShuttingDown({}));
    }
    const raw = request.raw;
    if (request.headers.host === undefined && raw.httpVersionMajor === 1 && raw.httpVersionMinor >= 1) {
      return done(new ErrMalformedHttp({ reason: 'an HTTP/1.1 request must have a Host header' }));
    }
    done();
  });

  // Bounded: depth, prototype keys and number range are checked before any route sees the body (core/kernel/json.ts).
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  app.addHook('preParsing', (request, _reply, payload, done) => {
    try {
      done(null, decodeBody(request, payload, request.routeOptions.bodyLimit ?? bodyLimit));
    } catch (err) {
      done(err as Error);
    }
  });

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? '(unmatched)';
    const labels = { method: request.method, route, status: String(reply.statusCode) };
    const seconds = reply.elapsedTime / 1000;
    ctx.metrics.requests.inc(labels);
    ctx.metrics.requestDuration.observe(labels, seconds);
    const line = { method: request.method, url: redactUrl(request.url), route, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 };
    if (reply.statusCode >= 500) request.log.error(line, 'request failed');
    else if (reply.statusCode >= 400) request.log.info(line, 'request refused');
    else request.log.debug(line, 'request done');
    done();
  });

  app.setErrorHandler((err, request, reply) => replyError(err, request, reply));

  // A path some route serves with other methods answers 405 with Allow; any other, 404.
  app.setNotFoundHandler((request, reply) => {
    const path = redactUrl(request.url.split('?')[0] ?? '');
    const allowed = allowedMethods(app, request);
    if (allowed.length > 0) {
      const err = new ErrMethodNotAllowed({ method: request.method, path, allowed });
      return reply.code(err.statusCode).header('allow', allowed.join(', ')).send(errorBody(err));
    }
    const err = new ErrRouteNotFound({ method: request.method, path });
    return reply.code(err.statusCode).send(errorBody(err));
  });

  // In a child context registered after @fastify/swagger, so its onRoute hook sees every route;
  // the hooks, error handler and decorations above are inherited.
  void app.register((api: HubApp, _opts, done) => {
    registerSystemRoutes(api, opts.metrics);
    registerResourceRoutes(api, ctx);
    registerTelemetryRoutes(api, ctx);
    registerStreamRoutes(api, ctx);
    registerWatchRoutes(api, ctx);
    registerCommandRoutes(api, ctx);
    registerTokenRoutes(api, ctx);
    registerJoinRoutes(api, ctx);
    registerOnboardingRoutes(api, ctx);
    registerAddonStatusRoutes(api, ctx);
    registerEdgeXRoutes(api, ctx);
    registerPluginRoutes(api, ctx);
    registerHealthRoutes(api, { ...ctx, healthKeys: opts.healthKeys });
    registerOverviewRoutes(api, ctx);
    sync.register(api);
    for (const m of modules) m.parts.register(api);
    done();
  });
  return app;
}
