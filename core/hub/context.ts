/** What the hub's route modules share: the app type and the services they use. */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Registry } from 'prom-client';
import type { Logger } from '../kernel/index.ts';
import type { ResourceStore } from '../store/index.ts';
import type { TelemetryStore } from '../telemetry/index.ts';
import type { RouteRule } from './access.ts';
import type { BrowserSessions } from './auth.ts';
import type { CommandQueue } from './commands.ts';
import type { DeviceCatalog } from './device-catalog.ts';
import type { HubMetrics } from './metrics.ts';
import type { InstalledPlugins } from './plugin-catalog.ts';
import type { TokenStore } from './tokens.ts';

/** The hub's fastify instance: TypeBox schemas type the routes. */
export type HubApp = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface StreamLimits {
  /** SSE heartbeat comment / WebSocket ping interval (ms). */
  heartbeatMs: number;
  /** A live client whose unsent data exceeds this is disconnected. */
  maxBufferedBytes: number;
}

/** The tunnel as hub routes use it. */
export interface HubTunnelAccess {
  open(node: string, target: { host: string; port: number }): Promise<Duplex>;
  path: string;
}

export interface HubContext {
  store: ResourceStore;
  telemetry: TelemetryStore;
  tokens: TokenStore;
  commands: CommandQueue;
  metrics: HubMetrics;
  logger: Logger;
  streams: StreamLimits;
  /** Which devices and resources exist, for telemetry ingest (one cache for every transport). */
  catalog: DeviceCatalog;
  /** The plugins installed where the hub runs (empty without a source): served to the console, and what Device writes are checked against. */
  plugins: InstalledPlugins;
  /** Present when the hub runs tunnel-cloud. */
  tunnel?: HubTunnelAccess;
  /** PEM of the hub's CA, handed to joining nodes, when the hub serves TLS. */
  caCert?: string;
}

/**
 * A room of the hub: a capability that serves routes of its own (the web
 * console is one). The hub knows none of them by name: whoever starts the
 * hub passes the modules it wants, each brings its routes, the access rules
 * of those routes (they join the hub's access table) and, at most one of
 * them, the browser sessions that stand in for a bearer token.
 */
export interface HubModule {
  readonly name: string;
  /** Who may call each route the module serves. */
  readonly access: readonly RouteRule[];
  /** Called once while the app is built, before any route is registered. */
  setup(hub: HubModuleHost): HubModuleParts;
}

/** What a module gets from the hub it joins. */
export interface HubModuleHost {
  ctx: HubContext;
  /** Where the module registers its metrics (the hub's registry). */
  registry: Registry;
  /** True when the hub serves HTTPS. */
  secure: boolean;
}

export interface HubModuleParts {
  /** Cookie logins that stand in for a token (only one module of a hub may offer them). */
  sessions?: BrowserSessions;
  /** Registers the module's routes (inside the hub's route context: its hooks and error handling apply). */
  register(app: HubApp): void;
}
