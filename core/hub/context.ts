/** What the hub's route modules share: the app type and the services they use. */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from '../kernel/index.ts';
import type { ResourceStore } from '../store/index.ts';
import type { TelemetryStore } from '../telemetry/index.ts';
import type { CommandQueue } from './commands.ts';
import type { DeviceCatalog } from './device-catalog.ts';
import type { HubMetrics } from './metrics.ts';
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
  /** Present when the hub runs tunnel-cloud. */
  tunnel?: HubTunnelAccess;
  /** PEM of the hub's CA, handed to joining nodes, when the hub serves TLS. */
  caCert?: string;
}
