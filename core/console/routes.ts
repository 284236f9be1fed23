/**
 * The web console: `/` serves the page, `/console/<file>` its ES modules and
 * styles (straight from `web/`, no build), `/console/vendor/<file>` Preact,
 * htm and uPlot from their installed packages; `/api/v1/console/session`
 * logs in (a hub token for an HttpOnly session cookie), tells who is logged
 * in, and logs out. Files are read once when the app is built and served
 * from memory with an ETag. The page's Content-Security-Policy admits only
 * same-origin scripts plus the import map, by its hash.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { Type } from 'typebox';
import { ANYONE, errorResponses, HubErrors, registeredMetric, type HubApp, type RouteRule } from '../hub/index.ts';
import type { ConsoleSession, ConsoleSessions } from './sessions.ts';

const { ErrForbidden, ErrNotConfigured, ErrRouteNotFound, ErrUnauthenticated } = HubErrors;

const WEB_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'web');

/** Served name → [package, file inside it]. */
const VENDOR: Readonly<Record<string, readonly [string, string]>> = {
  'preact.js': ['preact', 'dist/preact.module.js'],
  'preact-hooks.js': ['preact', 'hooks/dist/hooks.module.js'],
  'htm.js': ['htm', 'dist/htm.module.js'],
  'htm-preact.js': ['htm', 'preact/index.module.js'],
  'uplot.js': ['uplot', 'dist/uPlot.esm.js'],
  'uPlot.min.css': ['uplot', 'dist/uPlot.min.css'],
};

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const require = createRequire(import.meta.url);

/** The folder of an installed package, found from its main entry (some packages do not export package.json). */
function packageDir(name: string): string {
  let dir = path.dirname(require.resolve(name));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string };
      if (pkg.name === name) return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`package '${name}' has no package.json above its main entry`);
    dir = up;
  }
}

function asset(file: string): Asset {
  const body = readFileSync(file);
  const type = TYPES[path.extname(file)];
  if (type === undefined) throw new Error(`no content type for '${file}'`);
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/** Reads the console's files: its own (flat `web/` folder) and the vendor modules. */
export function loadConsoleAssets(webDir = WEB_DIR): { app: Map<string, Asset>; vendor: Map<string, Asset>; index: Asset; csp: string } {
  const app = new Map<string, Asset>();
  for (const entry of readdirSync(webDir, { withFileTypes: true })) {
    if (!entry.isFile() || TYPES[path.extname(entry.name)] === undefined) continue;
    app.set(entry.name, asset(path.join(webDir, entry.name)));
  }
  const index = app.get('index.html');
  if (!index) throw new Error(`the console has no index.html in ${webDir}`);
  const vendor = new Map<string, Asset>();
  const dirs = new Map<string, string>();
  for (const [served, [pkg, file]] of Object.entries(VENDOR)) {
    let dir = dirs.get(pkg);
    if (dir === undefined) {
      dir = packageDir(pkg);
      dirs.set(pkg, dir);
    }
    vendor.set(served, asset(path.join(dir, file)));
  }
  // The import map is the page's one inline script: allowed by its hash, nothing else inline is.
  const html = index.body.toString('utf8');
  const hashes = [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)].map(
    (m) => `'sha256-${createHash('sha256').update(m[1] ?? '').digest('base64')}'`,
  );
  const csp = [
    "default-src 'self'",
    `script-src 'self' ${hashes.join(' ')}`.trim(),
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
  ].join('; ');
  return { app, vendor, index, csp };
}

export const SessionBody = Type.Object({ token: Type.String({ minLength: 1, maxLength: 512, description: 'A hub token of role admin or viewer.' }) }, { additionalProperties: false });
export const SessionSchema = Type.Object({
  tokenId: Type.String(),
  role: Type.String(),
  csrf: Type.String({ description: 'Send it as `x-edgeadm-csrf` on every request that changes something.' }),
  expiresAt: Type.String(),
});
const FileParams = Type.Object({ file: Type.String({ minLength: 1, maxLength: 128 }) });

const sessionOut = (s: ConsoleSession): { tokenId: string; role: string; csrf: string; expiresAt: string } => ({
  tokenId: s.principal.tokenId,
  role: s.principal.role,
  csrf: s.csrf,
  expiresAt: new Date(s.expiresAt).toISOString(),
});

/** Who may call each of the console's routes: they join the hub's access table (docs/security.md). */
export const CONSOLE_ACCESS: readonly RouteRule[] = [
  { method: 'GET', url: '/', allow: ANYONE, does: "the console's page", notes: 'static; the data behind it needs a session' },
  { method: 'GET', url: '/console/', allow: ANYONE, does: "the console's page" },
  { method: 'GET', url: '/console/:file', allow: ANYONE, does: "the console's own modules and styles" },
  { method: 'GET', url: '/console/vendor/:file', allow: ANYONE, does: 'Preact, htm and uPlot, as the console loads them' },
  { method: 'POST', url: '/api/v1/console/session', allow: ANYONE, does: 'logs in: trades an admin or viewer token (in the body) for a session cookie', notes: 'the body is the credential: agent tokens are refused (403)' },
  { method: 'GET', url: '/api/v1/console/session', allow: ['console', 'consoleCsrf'], does: "reads the caller's own console session (and its CSRF value)", notes: 'a token is no session: 401 without the cookie' },
  { method: 'DELETE', url: '/api/v1/console/session', allow: ANYONE, does: "ends the caller's own console session", notes: 'needs no CSRF value: it can only end the session that sent it' },
];

/** Console logins by result, on the hub's registry. */
export function consoleLoginsMetric(registry: Registry): Counter<'result'> {
  return registeredMetric(
    registry,
    'edgeadm_hub_console_logins_total',
    () => new Counter({ name: 'edgeadm_hub_console_logins_total', help: 'Console logins, by result (accepted, refused).', labelNames: ['result'], registers: [registry] }),
  );
}

/** Registers the console's page, files and session routes; `assets` from `loadConsoleAssets`. */
export function registerConsoleRoutes(
  app: HubApp,
  sessions: ConsoleSessions,
  logins: Counter<'result'>,
  assets: ReturnType<typeof loadConsoleAssets>,
): void {

  const serve = (request: FastifyRequest, reply: FastifyReply, a: Asset, extra: Record<string, string> = {}): FastifyReply => {
    void reply.headers({
      'content-type': a.type,
      etag: a.etag,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      ...extra,
    });
    if (request.headers['if-none-match'] === a.etag) return reply.code(304).send();
    return reply.send(a.body);
  };
  const notFound = (what: string): never => {
    throw new ErrRouteNotFound({ method: 'GET', path: what });
  };
  const page = { 'content-security-policy': assets.csp, 'x-frame-options': 'DENY' };

  app.get('/', { schema: { hide: true } }, (request, reply) => serve(request, reply, assets.index, page));
  app.get('/console/', { schema: { hide: true } }, (request, reply) => serve(request, reply, assets.index, page));
  app.get('/console/:file', { schema: { hide: true, params: FileParams } }, (request, reply) => {
    const a = assets.app.get(request.params.file) ?? notFound(`/console/${request.params.file}`);
    return serve(request, reply, a, request.params.file === 'index.html' ? page : {});
  });
  app.get('/console/vendor/:file', { schema: { hide: true, params: FileParams } }, (request, reply) => {
    const a = assets.vendor.get(request.params.file) ?? notFound(`/console/vendor/${request.params.file}`);
    return serve(request, reply, a);
  });

  app.post(
    '/api/v1/console/session',
    {
      schema: {
        tags: ['console'],
        summary: 'Log in to the console with a hub token',
        description:
          'Exchanges an admin or viewer token for a session cookie (HttpOnly, SameSite=Strict). Requests by cookie that change something must carry the returned `csrf` in `x-edgeadm-csrf`.',
        security: [],
        body: SessionBody,
        response: { 200: SessionSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const tokens = request.server.hubTokens;
      if (!tokens) throw new ErrNotConfigured({ what: 'token verification (hubTokens)' });
      const principal = await tokens.verify(request.body.token);
      if (!principal) {
        logins.inc({ result: 'refused' });
        throw new ErrUnauthenticated({ reason: 'the token is invalid, expired or revoked' });
      }
      if (principal.role !== 'admin' && principal.role !== 'viewer') {
        logins.inc({ result: 'refused' });
        throw new ErrForbidden({ tokenId: principal.tokenId, role: principal.role, action: 'log in to the console (admin and viewer tokens may)' });
      }
      const { id, session } = await sessions.create(principal);
      logins.inc({ result: 'accepted' });
      request.log.info({ tokenId: principal.tokenId, role: principal.role }, 'console login');
      void reply.header('set-cookie', sessions.setCookie(id, session.expiresAt - Date.now())).header('cache-control', 'no-store');
      return sessionOut(session);
    },
  );

  app.get(
    '/api/v1/console/session',
    {
      schema: { tags: ['console'], summary: 'The console session of this browser', security: [], response: { 200: SessionSchema, ...errorResponses } },
    },
    async (request, reply) => {
      const session = await sessions.fromHeaders(request.headers);
      if (!session) throw new ErrUnauthenticated({ reason: 'no console session: log in with a hub token' });
      void reply.header('cache-control', 'no-store');
      return sessionOut(session);
    },
  );

  app.delete(
    '/api/v1/console/session',
    { schema: { tags: ['console'], summary: 'Log out of the console', security: [], response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await sessions.end(request.headers);
      return reply.header('set-cookie', sessions.setCookie(undefined)).code(204).send(null);
    },
  );
}
