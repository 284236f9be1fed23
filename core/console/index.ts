/**
 * core/console: the web console, a module of the hub. `createConsole()`
 * gives the module whoever starts a hub passes to it (`startHub({ modules })`
 * or `buildHubApp({ modules })`): the page and its files, the login that
 * trades a hub token for an HttpOnly session cookie, and the access rules of
 * those routes. Everything the console shows and does goes through the hub's
 * API, with the session standing in for the token.
 */
import type { HubModule } from '../hub/index.ts';
import { CONSOLE_ACCESS, consoleLoginsMetric, loadConsoleAssets, registerConsoleRoutes } from './routes.ts';
import { createConsoleSessions } from './sessions.ts';

export interface ConsoleOptions {
  /** Lifetime of a login (ms), capped by its token's expiry; default 12 h. */
  sessionTtlMs?: number;
  /** Oldest sessions are dropped beyond this many (default 10,000). */
  maxSessions?: number;
}

/** The console as a hub module. Its files are read once, when the hub's app is built. */
export function createConsole(o: ConsoleOptions = {}): HubModule {
  return {
    name: 'console',
    access: CONSOLE_ACCESS,
    setup({ ctx, registry, secure }) {
      const sessions = createConsoleSessions({
        tokens: ctx.tokens,
        secure,
        ...(o.sessionTtlMs === undefined ? {} : { ttlMs: o.sessionTtlMs }),
        ...(o.maxSessions === undefined ? {} : { maxSessions: o.maxSessions }),
      });
      const assets = loadConsoleAssets();
      const logins = consoleLoginsMetric(registry);
      return { sessions, register: (app) => registerConsoleRoutes(app, sessions, logins, assets) };
    },
  };
}

export { CONSOLE_ACCESS, SessionBody, SessionSchema } from './routes.ts';
export { DEFAULT_SESSION_TTL_MS, type ConsoleSession, type ConsoleSessions } from './sessions.ts';
