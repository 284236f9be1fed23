/**
 * The access table (core/hub/access.ts) against the hub as it runs: a real
 * hub (startHub: SQLite stores, HTTP, tunnel-cloud with its replica router),
 * a node connected through a real tunnel-edge, and every route tried by
 * every class of caller — no credential, admin, viewer, an admin's console
 * session without and with its CSRF value, an agent of the site, an agent of
 * another site, the node credential of the node concerned and that of
 * another node of the same site, a bootstrap token — over real HTTP and real
 * WebSockets. A route the hub registers that the table lacks, a table row
 * the hub does not serve, a caller let through that the table refuses (or
 * refused that it admits), secret material in any read, and docs that differ
 * from the table all fail here.
 *
 * `EDGEADM_UPDATE_DOCS=1` rewrites the table in docs/security.md instead of
 * comparing it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { API_VERSION, SYNC_PROTOCOL, type Kind, type Resource } from '../store/index.ts';
import { startTunnelEdge, type TunnelEdge } from '../tunnel/index.ts';
import { accessRules, PRINCIPAL_CLASSES, renderAccessTable, renderPrincipalLegend, ruleOf, whoMayCall, type PrincipalClass, type RouteRule } from './access.ts';
import { createConsole } from '../console/index.ts';
import { buildHubApp } from './app.ts';
import { PLURALS } from './routes/resources.ts';
import { startHub, type Hub } from './server.ts';
import { quietLogger } from '../../test/support/hub/harness.ts';
import { testSshKey } from '../../test/support/hub/ssh-key.ts';

/** The hub as shipped: with the web console, whose routes join the table. */
const HUB_MODULES = [createConsole()];
const RULES = accessRules(HUB_MODULES);
const DOCS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/security.md');
const SITE = 'plant-a';
const OTHER_SITE = 'plant-b';

/** What a caller presents. */
interface Creds {
  bearer?: string;
  cookie?: string;
  csrf?: string;
}

/** One request of a probe; `as` replaces the class's credentials (a fresh console session to log out). */
interface Request {
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** WebSocket subprotocol. */
  protocol?: string;
  /** Server-Sent Events: only the answer's status is read. */
  stream?: boolean;
  as?: Creds;
}

type Outcome = 'allowed' | 'denied' | 'broken';

let dir: string;
let hub: Hub;
let edge: TunnelEdge;
let echo: Server;
let echoPort: number;
const creds = {} as Record<PrincipalClass, Creds>;
/** Every secret the hub handed out here: none may show up in a read. */
const secrets: string[] = [];
/** Bodies of every read (GET) answered, for the secret check. */
const reads: { what: string; body: string }[] = [];
let counter = 0;
const next = (prefix: string): string => `${prefix}-${++counter}`;
let brokerName: string;
let pendingName: string;
let commandA: string;

async function login(token: string): Promise<Creds> {
  const res = await fetch(`${hub.url}/api/v1/console/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  expect(res.status).toBe(200);
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  const { csrf } = (await res.json()) as { csrf: string };
  return { cookie, csrf };
}

async function admin<T>(method: string, p: string, body?: unknown): Promise<T> {
  const res = await fetch(`${hub.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${creds.admin.bearer!}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

function headersOf(c: Creds, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { ...extra };
  if (c.bearer !== undefined) h.authorization = `Bearer ${c.bearer}`;
  if (c.cookie !== undefined) h.cookie = c.cookie;
  if (c.csrf !== undefined) h['x-edgeadm-csrf'] = c.csrf;
  return h;
}

const classify = (status: number): Outcome => (status === 401 || status === 403 ? 'denied' : status < 0 || status >= 500 ? 'broken' : 'allowed');

async function send(rule: RouteRule, req: Request, c: Creds): Promise<{ status: number; body: string }> {
  const url = `${hub.url}${req.path}`;
  const headers = headersOf(req.as ?? c, req.headers);
  if (rule.websocket) {
    return new Promise((resolve) => {
      let done = false;
      const finish = (status: number, body = ''): void => {
        if (done) return;
        done = true;
        resolve({ status, body });
      };
      const ws = new WebSocket(url.replace(/^http/, 'ws'), req.protocol ? [req.protocol] : [], { headers, perMessageDeflate: false });
      ws.once('open', () => {
        finish(101);
        ws.terminate();
      });
      ws.once('unexpected-response', (_r, res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => finish(res.statusCode ?? -1, text));
        res.on('error', () => finish(res.statusCode ?? -1, text));
      });
      ws.once('error', (err) => finish(-1, err.message));
    });
  }
  const ac = new AbortController();
  const res = await fetch(url, {
    method: rule.method,
    redirect: 'manual',
    signal: ac.signal,
    headers: { ...headers, ...(req.body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
  });
  if (req.stream && res.status === 200) {
    // A live stream: what it sends up to the end of its snapshot (`event: synced`), or for a moment, then away.
    const reader = res.body!.getReader();
    let text = '';
    const until = Date.now() + 300;
    while (!text.includes('event: synced') && Date.now() < until) {
      const chunk = await Promise.race([reader.read(), new Promise<undefined>((r) => setTimeout(() => r(undefined), Math.max(1, until - Date.now())))]);
      if (chunk === undefined || chunk.done) break;
      text += Buffer.from(chunk.value).toString();
    }
    ac.abort();
    return { status: res.status, body: text };
  }
  return { status: res.status, body: await res.text() };
}

// ---------------------------------------------------------------------------
// Objects to act on

const profileSpec = { deviceResources: [{ name: 'temp', properties: { valueType: 'Float64', readWrite: 'R' } }] };

/** A valid new object of a kind, at the site. */
function fresh(kind: Kind, name: string): Resource {
  const now = new Date().toISOString();
  const specs: Record<Kind, unknown> = {
    Site: {},
    Node: { site: SITE },
    DeviceProfile: profileSpec,
    Device: { site: SITE, profile: 'thermo', protocols: { 'modbus-tcp': { Address: '10.0.0.5', Port: '502' } } },
    Addon: { plugin: 'simulator', sites: [SITE] },
    Lease: { holderIdentity: 'nobody' },
    BrokerCredential: { site: SITE, username: name, passwordHash: 'scrypt$10$8$1$AAAAAAAAAAAAAAAAAAAAAA$BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB' },
    PendingDevice: { site: SITE, source: 'announce', identifier: name, suggestedName: name, protocolName: 'mqtt', protocol: {}, profile: profileSpec, firstSeen: now, lastSeen: now },
  };
  return { apiVersion: API_VERSION, kind, metadata: { name }, spec: specs[kind] };
}

/** Stored at once (not through the API): something a probe may delete, approve or reject. */
async function throwaway(kind: Kind, prefix = 'gone'): Promise<string> {
  const name = next(prefix);
  await hub.store.apply(fresh(kind, name));
  if (kind === 'PendingDevice') await hub.store.updateStatus('PendingDevice', name, { phase: 'Pending' });
  return name;
}

/** The object each kind's per-object routes are tried on: one of the site. */
const subject = (kind: Kind): string =>
  ({ Site: SITE, Node: 'gw-1', DeviceProfile: 'thermo', Device: 'pump-a', Addon: 'meters', Lease: 'tunnel.gw-1', BrokerCredential: brokerName, PendingDevice: pendingName })[kind];

const announcement = (id: string): Record<string, unknown> => ({ source: 'announce', identifier: id, suggestedName: id, protocolName: 'mqtt', protocol: {}, profile: profileSpec });

type Probe = (cls: PrincipalClass) => Request | Promise<Request>;
const at = (p: string, more: Omit<Request, 'path'> = {}): Probe => () => ({ path: p, ...more });

function resourceProbes(): Record<string, Probe> {
  const out: Record<string, Probe> = {};
  for (const [plural, kind] of Object.entries(PLURALS)) {
    const base = `/api/v1/${plural}`;
    const siteScoped = kind !== 'Lease' && kind !== 'DeviceProfile';
    out[`GET ${base}`] = at(`${base}${siteScoped ? `?site=${SITE}` : ''}`);
    out[`POST ${base}`] = () => {
      const obj = fresh(kind, next('made'));
      return { path: base, body: { metadata: obj.metadata, spec: obj.spec } };
    };
    out[`GET ${base}/:name`] = () => ({ path: `${base}/${subject(kind)}` });
    out[`PUT ${base}/:name`] = async () => {
      // The object as it is, read back (so a BrokerCredential comes without its hash: the stored one stays).
      const obj = await admin<Resource>('GET', `${base}/${subject(kind)}`);
      return { path: `${base}/${obj.metadata.name}`, body: { metadata: { name: obj.metadata.name, ...(obj.metadata.labels ? { labels: obj.metadata.labels } : {}) }, spec: obj.spec } };
    };
    out[`DELETE ${base}/:name`] = async () => ({ path: `${base}/${await throwaway(kind)}` });
    out[`PUT ${base}/:name/status`] = async () => {
      const obj = await admin<Resource>('GET', `${base}/${subject(kind)}`);
      return { path: `${base}/${obj.metadata.name}/status`, body: { status: obj.status ?? {} } };
    };
  }
  return out;
}

function probes(): Record<string, Probe> {
  return {
    'GET /': at('/'),
    'GET /console/': at('/console/'),
    'GET /console/:file': at('/console/app.css'),
    'GET /console/vendor/:file': at('/console/vendor/preact.js'),
    'GET /docs': at('/docs'),
    'GET /docs/': at('/docs/'),
    'GET /docs/static/index.html': at('/docs/static/index.html'),
    'GET /docs/static/swagger-initializer.js': at('/docs/static/swagger-initializer.js'),
    'GET /docs/static/*': at('/docs/static/swagger-ui.css'),
    'GET /docs/json': at('/docs/json'),
    'GET /docs/yaml': at('/docs/yaml'),
    'GET /openapi.json': at('/openapi.json'),
    'GET /healthz': at('/healthz'),
    'GET /metrics': at('/metrics'),
    'GET /api/v1/ca': at('/api/v1/ca'),

    'POST /api/v1/console/session': async () => ({ path: '/api/v1/console/session', body: { token: (await hub.tokens.create({ role: 'viewer' })).token } }),
    'GET /api/v1/console/session': at('/api/v1/console/session'),
    // A console caller logs out of a session of its own, not the one the other probes use.
    'DELETE /api/v1/console/session': async (cls) => ({
      path: '/api/v1/console/session',
      ...(cls === 'console' || cls === 'consoleCsrf' ? { as: await login(creds.admin.bearer!).then((s) => (cls === 'console' ? { cookie: s.cookie } : s)) } : {}),
    }),

    'POST /api/v1/tokens': at('/api/v1/tokens', { body: { role: 'viewer' } }),
    'GET /api/v1/tokens': at('/api/v1/tokens'),
    'DELETE /api/v1/tokens/:id': async () => ({ path: `/api/v1/tokens/${(await hub.tokens.create({ role: 'viewer' })).id}` }),
    'POST /api/v1/bootstrap-tokens': at('/api/v1/bootstrap-tokens', { body: { site: SITE } }),
    'GET /api/v1/bootstrap-tokens': at('/api/v1/bootstrap-tokens'),
    // Before the key exists an admitted caller gets 404, after it 200; a refused one 401/403 first.
    'GET /api/v1/health/key': at('/api/v1/health/key'),
    'POST /api/v1/health/key': at('/api/v1/health/key', { body: {} }),
    'POST /api/v1/health/key/rotate': at('/api/v1/health/key/rotate', { body: {} }),
    'GET /api/v1/sites/:site/health/key': at(`/api/v1/sites/${SITE}/health/key`),
    'DELETE /api/v1/bootstrap-tokens/:id': async () => ({ path: `/api/v1/bootstrap-tokens/${(await hub.tokens.createBootstrap({ site: SITE })).id}` }),

    'POST /api/v1/join': () => ({ path: '/api/v1/join', body: { site: SITE, node: next('joined') } }),
    'GET /api/v1/nodes/:name/host-keys': at('/api/v1/nodes/gw-1/host-keys'),
    // No change is pending: an admitted caller gets 409, a refused one 401/403 first.
    'POST /api/v1/nodes/:name/host-keys/trust': at('/api/v1/nodes/gw-1/host-keys/trust', { body: {} }),
    'POST /api/v1/nodes/:name/host-keys/reject': at('/api/v1/nodes/gw-1/host-keys/reject'),
    'GET /api/v1/nodes/:name/connect': () => ({ path: `/api/v1/nodes/gw-1/connect?port=${echoPort}` }),
    'GET /api/v1/tunnel': at('/api/v1/tunnel', { headers: { 'x-edgeadm-node': 'gw-1' } }),
    'GET /api/v1/tunnel/peer': at('/api/v1/tunnel/peer', { headers: { 'x-edgeadm-node': 'gw-1' } }),

    'GET /api/v1/sites/:site/sync': at(`/api/v1/sites/${SITE}/sync`, { protocol: SYNC_PROTOCOL }),
    'POST /api/v1/sites/:site/telemetry': at(`/api/v1/sites/${SITE}/telemetry`, { body: { readings: [] } }),
    'PUT /api/v1/sites/:site/device-status': at(`/api/v1/sites/${SITE}/device-status`, { body: { devices: { 'pump-a': { operatingState: 'UP' } } } }),
    'PUT /api/v1/sites/:site/addon-status': at(`/api/v1/sites/${SITE}/addon-status`, { body: { addons: { meters: { state: 'running' } } } }),
    'POST /api/v1/sites/:site/pending-devices': () => ({ path: `/api/v1/sites/${SITE}/pending-devices`, body: announcement(next('announced')) }),
    'POST /api/v1/sites/:site/broker-credentials': () => ({ path: `/api/v1/sites/${SITE}/broker-credentials`, body: { username: next('login') } }),
    'POST /api/v1/sites/:site/broker-credentials/:username/rotate': at(`/api/v1/sites/${SITE}/broker-credentials/probe-user/rotate`),
    'DELETE /api/v1/sites/:site/broker-credentials/:username': async () => {
      const name = await throwaway('BrokerCredential', 'login-gone');
      return { path: `/api/v1/sites/${SITE}/broker-credentials/${name}` };
    },
    'POST /api/v1/pendingdevices/:name/approve': async () => ({ path: `/api/v1/pendingdevices/${await throwaway('PendingDevice', 'approve')}/approve`, body: {} }),
    'POST /api/v1/pendingdevices/:name/reject': async () => ({ path: `/api/v1/pendingdevices/${await throwaway('PendingDevice', 'reject')}/reject` }),
    // A sound EdgeX profile, as a dry run: an admitted caller gets 200, a refused one 401/403 first.
    'POST /api/v1/sites/:site/edgex/import': at(`/api/v1/sites/${SITE}/edgex/import`, {
      body: { dryRun: true, files: [{ name: 'probe.yaml', content: 'name: Probe-Profile\ndeviceResources:\n  - name: t\n    properties: { valueType: Float64, readWrite: R }\n' }] },
    }),
    'GET /api/v1/sites/:site/edgex/export': at(`/api/v1/sites/${SITE}/edgex/export`),

    'POST /api/v1/sites/:site/devices/:device/commands': at(`/api/v1/sites/${SITE}/devices/pump-a/commands`, { body: { resource: 'setpoint', value: 5 } }),
    // No agent is connected: an admitted caller gets 409 (site offline), a refused one 401/403 first.
    'POST /api/v1/sites/:site/devices/:device/read': at(`/api/v1/sites/${SITE}/devices/pump-a/read`, { body: { resources: ['setpoint'], timeoutMs: 1000 } }),
    'GET /api/v1/sites/:site/commands': at(`/api/v1/sites/${SITE}/commands`),
    'GET /api/v1/commands/:id': () => ({ path: `/api/v1/commands/${commandA}` }),
    'POST /api/v1/commands/:id/result': async () => {
      const c = await hub.commands.enqueue({ site: SITE, device: 'pump-a', resource: 'setpoint', value: 1, ttlSeconds: 600 });
      return { path: `/api/v1/commands/${c.id}/result`, body: { reported: 1 } };
    },

    'GET /api/v1/telemetry': at(`/api/v1/telemetry?site=${SITE}`),
    'GET /api/v1/telemetry/latest': at(`/api/v1/telemetry/latest?site=${SITE}`),
    'GET /api/v1/telemetry/streams': at(`/api/v1/telemetry/streams?site=${SITE}`),
    'GET /api/v1/telemetry/quarantine': at(`/api/v1/telemetry/quarantine?site=${SITE}`),
    'GET /api/v1/telemetry/delivery': at(`/api/v1/telemetry/delivery?site=${SITE}`),
    'GET /api/v1/telemetry/stream': at(`/api/v1/telemetry/stream?site=${SITE}`, { stream: true }),
    'GET /api/v1/telemetry/ws': at(`/api/v1/telemetry/ws?site=${SITE}`),
    'GET /api/v1/watch': at('/api/v1/watch', { stream: true }),
    'GET /api/v1/overview': at('/api/v1/overview'),
    'GET /api/v1/plugins': at('/api/v1/plugins'),
    ...resourceProbes(),
  };
}

// ---------------------------------------------------------------------------

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-access-'));
  hub = await startHub({ dataDir: dir, port: 0, logger: quietLogger(), modules: HUB_MODULES });
  creds.anonymous = {};
  creds.admin = { bearer: readFileSync(hub.adminTokenFile, 'utf8').trim() };
  creds.viewer = { bearer: (await hub.tokens.create({ role: 'viewer' })).token };
  const session = await login(creds.admin.bearer!);
  creds.console = { cookie: session.cookie };
  creds.consoleCsrf = session;
  for (const name of [SITE, OTHER_SITE]) await hub.store.apply({ apiVersion: API_VERSION, kind: 'Site', metadata: { name }, spec: {} });
  creds.siteAgent = { bearer: (await hub.tokens.create({ role: 'agent', site: SITE })).token };
  creds.otherSiteAgent = { bearer: (await hub.tokens.create({ role: 'agent', site: OTHER_SITE })).token };
  await hub.store.apply({ apiVersion: API_VERSION, kind: 'DeviceProfile', metadata: { name: 'thermo' }, spec: { deviceResources: [{ name: 'setpoint', properties: { valueType: 'Float64', readWrite: 'RW' } }] } });
  await hub.store.apply({ ...fresh('Device', 'pump-a') });
  await hub.store.apply({ ...fresh('Device', 'pump-b'), spec: { site: OTHER_SITE, profile: 'thermo', protocols: { 'modbus-tcp': { Address: '10.0.0.6', Port: '502' } } } });
  await hub.store.apply({ apiVersion: API_VERSION, kind: 'Addon', metadata: { name: 'meters' }, spec: { plugin: 'simulator', sites: [SITE] } });

  // Two nodes of the site join as a node does: a bootstrap token for a node credential.
  const bootstrap = await hub.tokens.createBootstrap({ site: SITE });
  creds.bootstrap = { bearer: bootstrap.token };
  secrets.push(bootstrap.token.split('.')[1]!);
  for (const [node, cls] of [['gw-1', 'nodeSelf'], ['gw-2', 'nodeSibling']] as const) {
    const res = await fetch(`${hub.url}/api/v1/join`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bootstrap.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ site: SITE, node, sshHostKeys: [testSshKey(`root@${node}`).line] }),
    });
    expect(res.status).toBe(201);
    creds[cls] = { bearer: ((await res.json()) as { credential: string }).credential };
  }
  // gw-1 is connected through a real tunnel-edge (a second credential of its own), with an echo service to reach.
  echo = createServer((s) => s.pipe(s));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoPort = (echo.address() as { port: number }).port;
  edge = startTunnelEdge({ url: hub.tunnelUrl, node: 'gw-1', credential: (await hub.tokens.create({ role: 'agent', site: SITE, node: 'gw-1' })).token, allow: [`127.0.0.1:${echoPort}`], logger: quietLogger() });
  await edge.whenConnected();

  const issued = await admin<{ credential: Resource; password: string }>('POST', `/api/v1/sites/${SITE}/broker-credentials`, { username: 'probe-user' });
  brokerName = issued.credential.metadata.name;
  secrets.push(issued.password);
  pendingName = (await admin<Resource>('POST', `/api/v1/sites/${SITE}/pending-devices`, announcement('seen-1'))).metadata.name;
  commandA = (await admin<{ id: string }>('POST', `/api/v1/sites/${SITE}/devices/pump-a/commands`, { resource: 'setpoint', value: 3 })).id;
  for (const c of Object.values(creds)) if (c.bearer !== undefined && c.bearer.startsWith('edgeadm_')) secrets.push(c.bearer.slice(17));
  // The lease replica routing writes for the connected node.
  for (let waited = 0; !(await hub.store.get('Lease', 'tunnel.gw-1')); waited += 50) {
    if (waited > 15_000) throw new Error('no lease for gw-1');
    await new Promise((r) => setTimeout(r, 50));
  }
}, 60_000);

afterAll(async () => {
  await edge?.stop();
  await hub?.close();
  await new Promise((r) => echo?.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the access table', () => {
  it('names every route the hub registers, and nothing it does not', async () => {
    const registered: { method: string; url: string; websocket: boolean }[] = [];
    const app = buildHubApp({ store: hub.store, telemetry: hub.telemetry, tokens: hub.tokens, commands: hub.commands, healthKeys: hub.healthKeys, logger: quietLogger(), metrics: new Registry(), modules: HUB_MODULES });
    app.addHook('onRoute', (r) => {
      for (const method of [r.method].flat()) registered.push({ method, url: r.url ?? r.path, websocket: r.websocket === true });
    });
    await app.ready();
    await app.close();
    const missing = registered.filter((r) => !ruleOf(r.method, r.url, RULES));
    expect(missing.map((r) => `${r.method} ${r.url}`), 'routes without a row in core/hub/access.ts').toEqual([]);
    for (const r of registered.filter((x) => x.method === 'GET')) expect(ruleOf(r.method, r.url, RULES)?.websocket === true, `${r.url}: websocket`).toBe(r.websocket);
    // HEAD goes with GET (swagger-ui registers `/docs/` as a HEAD route, its GET served by `/docs`).
    const served = RULES.filter((r) => !r.upgradeHandler && !registered.some((g) => ruleOf(g.method, g.url, RULES) === r));
    expect(served.map((r) => `${r.method} ${r.url}`), 'rows of routes the hub does not serve').toEqual([]);
    expect(RULES.filter((r) => r.upgradeHandler).map((r) => r.url)).toEqual(['/api/v1/tunnel', '/api/v1/tunnel/peer']);
    const keys = RULES.map((r) => `${r.method} ${r.url}`);
    expect(keys.length).toBe(new Set(keys).size);
  });

  it('is what docs/security.md shows', () => {
    const text = readFileSync(DOCS, 'utf8');
    const blocks: [string, string][] = [
      ['access-table', renderAccessTable(RULES)],
      ['principal-legend', renderPrincipalLegend()],
    ];
    let updated = text;
    for (const [name, want] of blocks) {
      const re = new RegExp(`(<!-- ${name}:begin -->\\n)([\\s\\S]*?)(<!-- ${name}:end -->)`);
      expect(re.test(updated), `docs/security.md has the markers of ${name}`).toBe(true);
      updated = updated.replace(re, (_m, a: string, _b: string, c: string) => `${a}${want}${c}`);
    }
    if (process.env.EDGEADM_UPDATE_DOCS === '1') writeFileSync(DOCS, updated);
    else expect(text, 'docs/security.md differs from core/hub/access.ts: run with EDGEADM_UPDATE_DOCS=1 to rewrite it').toBe(updated);
  });

  it('says each rule in words, and refuses sets of callers it cannot say', () => {
    expect(whoMayCall(PRINCIPAL_CLASSES)).toBe('anyone');
    expect(whoMayCall(['admin', 'consoleCsrf'])).toBe('admin, console session with CSRF');
    expect(whoMayCall(['nodeSelf'])).toBe("that node's credential");
    expect(() => whoMayCall(['siteAgent'])).toThrow(/no words/);
    expect(() => whoMayCall(['console'])).toThrow(/CSRF/);
    expect(() => whoMayCall(['otherSiteAgent'])).toThrow(/other sites/);
  });
});

describe('every route, tried by every class of caller', () => {
  const table = probes();

  it('has a way to try every row', () => {
    expect(RULES.map((r) => `${r.method} ${r.url}`).filter((k) => !table[k])).toEqual([]);
  });

  for (const rule of RULES) {
    const key = `${rule.method} ${rule.url}`;
    it(`${key}: ${whoMayCall(rule.allow)}`, async () => {
      const probe = table[key];
      if (!probe) throw new Error(`no probe for ${key}`);
      const wrong: string[] = [];
      for (const cls of PRINCIPAL_CLASSES) {
        const req = await probe(cls);
        const res = await send(rule, req, creds[cls]);
        if (rule.method === 'GET' && !rule.websocket) reads.push({ what: `${cls} ${req.path}`, body: res.body });
        const want: Outcome = rule.allow.includes(cls) ? 'allowed' : 'denied';
        const got = classify(res.status);
        if (got !== want) wrong.push(`${cls}: ${res.status} (${want === 'allowed' ? 'should pass' : 'should be refused'}) ${res.body.slice(0, 200)}`);
      }
      expect(wrong).toEqual([]);
    });
  }

  it('never answers secret material to a read: no password hash, password or token secret', () => {
    expect(reads.length).toBeGreaterThan(RULES.filter((r) => r.method === 'GET').length);
    expect(reads.some((r) => r.what.startsWith('admin /api/v1/brokercredentials'))).toBe(true);
    // A hash by its shape, or a passwordHash field with a value (the API's documents name the field, with no value).
    const leaks = reads.filter((r) => r.body.includes('scrypt$') || /"passwordHash"\s*:\s*"/.test(r.body) || secrets.some((s) => r.body.includes(s)));
    expect(leaks.map((l) => `${l.what}: ${l.body.slice(0, 120)}`)).toEqual([]);
  });
});

describe('what the rows rest on', () => {
  const tunnelStatus = (credential: string, node: string): Promise<number> =>
    send(ruleOf('GET', '/api/v1/tunnel', RULES)!, { path: '/api/v1/tunnel', headers: { 'x-edgeadm-node': node } }, { bearer: credential }).then((r) => r.status);

  it('opens no tunnel for a node credential whose Node is gone or at another site', async () => {
    // A credential the hub issued for a node that no longer exists (its Node deleted while nobody watched).
    const ghost = (await hub.tokens.create({ role: 'agent', site: SITE, node: 'gw-ghost' })).token;
    expect(await tunnelStatus(ghost, 'gw-ghost')).toBe(401);
    await hub.store.apply({ ...fresh('Node', 'gw-moved'), spec: { site: OTHER_SITE } });
    const moved = (await hub.tokens.create({ role: 'agent', site: SITE, node: 'gw-moved' })).token;
    expect(await tunnelStatus(moved, 'gw-moved')).toBe(401);
    // The node's own credential, for its own Node at its site, gets through.
    expect(await tunnelStatus(creds.nodeSibling.bearer!, 'gw-2')).toBe(101);
  });

  it("keeps a broker login's hash when an apply leaves it out, and answers it to nobody", async () => {
    type Cred = Resource<{ passwordHash?: string; description?: string }>;
    const before = (await hub.store.get<Cred>('BrokerCredential', brokerName))!.spec.passwordHash;
    expect(before).toMatch(/^scrypt\$/);
    const read = await admin<Cred>('GET', `/api/v1/brokercredentials/${brokerName}`);
    expect(read.spec).not.toHaveProperty('passwordHash');
    const applied = await admin<Cred>('PUT', `/api/v1/brokercredentials/${brokerName}`, { metadata: { name: brokerName }, spec: { ...read.spec, description: 'edited' } });
    expect(applied.spec).toMatchObject({ description: 'edited' });
    expect(applied.spec).not.toHaveProperty('passwordHash');
    expect((await hub.store.get<Cred>('BrokerCredential', brokerName))!.spec).toMatchObject({ passwordHash: before, description: 'edited' });
  });

  it('opens no stream to a node on a plain GET of its connect route', async () => {
    const res = await fetch(`${hub.url}/api/v1/nodes/gw-1/connect?port=${echoPort}`, { headers: { authorization: `Bearer ${creds.admin.bearer!}` } });
    expect(res.status).toBe(426);
    expect(((await res.json()) as { code: string }).code).toBe('EDGE_ERR_HUB_UPGRADE_REQUIRED');
  });

  it('never lets a console cookie open a WebSocket, even with its CSRF value and an admin session', async () => {
    const websocket = ruleOf('GET', '/api/v1/telemetry/ws', RULES)!;
    for (const p of ['/api/v1/telemetry/ws', `/api/v1/sites/${SITE}/sync`, `/api/v1/nodes/gw-1/connect?port=${echoPort}`]) {
      const r = await send(websocket, { path: p, protocol: SYNC_PROTOCOL }, creds.consoleCsrf);
      expect(r.status, p).toBe(401);
    }
  });
});
