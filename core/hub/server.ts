/**
 * The embedded hub: one process with the resource store (SQLite), the
 * telemetry store, tokens and commands, the HTTP API, the sync sessions of the
 * site agents and, optionally, the MQTT telemetry ingest. On first start in a
 * data directory it creates an admin token and writes it to `admin.token`
 * (mode 0600): there is no built-in credential.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../kernel/index.ts';
import { openSqliteStore, type ResourceStore } from '../store/index.ts';
import { openTelemetryStore, startMqttIngest, type TelemetryStore } from '../telemetry/index.ts';
import { buildHubApp, requireAuth } from './app.ts';
import { openCommandQueue, type CommandQueue } from './commands.ts';
import { registerSyncRoute } from './sync.ts';
import { openTokenStore, type TokenStore } from './tokens.ts';

export interface StartHubOptions {
  dataDir: string;
  host?: string;
  port?: number;
  logger: Logger;
  /** Also accept telemetry over MQTT on this port (0 = any free port). */
  mqttPort?: number;
}

export interface Hub {
  readonly url: string;
  readonly mqttUrl: string | undefined;
  readonly adminTokenFile: string;
  readonly store: ResourceStore;
  readonly telemetry: TelemetryStore;
  readonly tokens: TokenStore;
  readonly commands: CommandQueue;
  readonly metrics: Registry;
  close(): Promise<void>;
}

export async function startHub(o: StartHubOptions): Promise<Hub> {
  mkdirSync(o.dataDir, { recursive: true });
  const logger = o.logger;
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const store = openSqliteStore({ file: path.join(o.dataDir, 'resources.db') });
  const telemetry = openTelemetryStore({ file: path.join(o.dataDir, 'telemetry.db'), metrics, logger });
  const tokens = openTokenStore({ file: path.join(o.dataDir, 'tokens.db') });
  const commands = openCommandQueue({ file: path.join(o.dataDir, 'commands.db') });
  const closers: (() => Promise<void> | void)[] = [() => store.close(), () => telemetry.close(), () => tokens.close(), () => commands.close()];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c();
  };
  try {
    const adminTokenFile = path.join(o.dataDir, 'admin.token');
    if (!existsSync(adminTokenFile) || !tokens.verify(readFileSync(adminTokenFile, 'utf8').trim())) {
      if (tokens.list().some((t) => t.role === 'admin') && existsSync(adminTokenFile)) {
        logger.warn({ file: adminTokenFile }, 'admin.token no longer verifies; creating a new admin token');
      }
      const created = tokens.create({ role: 'admin', description: 'created at first hub start' });
      writeFileSync(adminTokenFile, `${created.token}\n`, { mode: 0o600 });
      chmodSync(adminTokenFile, 0o600);
      logger.info({ file: adminTokenFile }, 'admin token written');
    }
    const app = buildHubApp({ store, telemetry, tokens, commands, logger, metrics });
    // Registered as a plugin so it loads after the WebSocket support buildHubApp registers.
    void app.register((instance, _opts, done) => {
      registerSyncRoute(instance, { store, commands, logger, metrics, preHandler: requireAuth(['admin', 'agent'], { siteParam: 'site' }) });
      done();
    });
    closers.push(() => app.close());
    await app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 7443 });
    const addr = app.server.address() as AddressInfo;
    const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
    let mqttUrl: string | undefined;
    if (o.mqttPort !== undefined) {
      const ingest = await startMqttIngest({
        port: o.mqttPort,
        host: o.host ?? '127.0.0.1',
        store: telemetry,
        logger,
        authenticate: (username, password) => {
          const p = tokens.verify(password);
          return p && p.role === 'agent' && p.site === username ? p.site : undefined;
        },
      });
      closers.push(() => ingest.close());
      mqttUrl = `mqtt://${o.host ?? '127.0.0.1'}:${ingest.port}`;
    }
    logger.info({ url, mqttUrl }, 'hub listening');
    return { url, mqttUrl, adminTokenFile, store, telemetry, tokens, commands, metrics, close };
  } catch (err) {
    await close();
    throw err;
  }
}
