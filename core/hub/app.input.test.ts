/**
 * Hostile input at the edges of the hub's HTTP API, over real HTTP on
 * loopback (raw sockets where a client library would refuse to send the
 * request): deep JSON, prototype keys and huge numbers in bodies, odd query
 * strings, the longest names in URLs, and every error fastify or Node's HTTP
 * parser can answer a client with. No response may carry a framework code,
 * a bare framework message, or a 5xx for bad input.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { errorCodes } from 'fastify';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_JSON_DEPTH, hashSecret } from '../kernel/index.ts';
import type { Kind } from '../store/index.ts';
import { buildHubApp, type HubApp } from './app.ts';
import { openCommandQueue } from './commands.ts';
import { openFileHealthKeyStore } from './health-keys.ts';
import { memoryBackend, quietLogger, sqliteBackend, startTestHub, thermoProfile, type ApiError, type TestHub } from '../../test/support/hub/harness.ts';
import { openTokenStore } from './tokens.ts';
import { MAPPED_FRAMEWORK_CODES, MAX_PARAM_LENGTH } from './transport.ts';

interface Answer {
  status: number;
  headers: Record<string, string>;
  text: string;
  body: ApiError & Record<string, unknown>;
}

/** Every answer of the hub, whatever the request: never a framework code or message. */
function checkAnswer(a: Answer, what: string): Answer {
  expect(a.text, what).not.toMatch(/FST_|"statusCode":|"error":"/);
  if (a.status >= 400 && a.text !== '') expect(a.body.code, what).toMatch(/^EDGE_ERR_/);
  return a;
}

function parseBody(text: string): Answer['body'] {
  try {
    return JSON.parse(text) as Answer['body'];
  } catch {
    return { code: '', message: text };
  }
}

function port(app: HubApp): number {
  return (app.server.address() as net.AddressInfo).port;
}

/** A request through fetch (a real HTTP client), with the admin token unless told otherwise. */
async function send(
  h: TestHub,
  method: string,
  url: string,
  o: { body?: unknown; text?: string | Buffer; token?: string | null; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  const token = o.token === undefined ? h.admin : o.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let payload: string | Buffer | undefined = o.text;
  if (o.body !== undefined) {
    payload = JSON.stringify(o.body);
    headers['content-type'] ??= 'application/json';
  } else if (payload !== undefined) headers['content-type'] ??= 'application/json';
  const r = await fetch(`http://127.0.0.1:${port(h.app)}${url}`, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
  const text = await r.text();
  return checkAnswer({ status: r.status, headers: Object.fromEntries(r.headers), text, body: parseBody(text) }, `${method} ${url.slice(0, 80)}`);
}

/** Bytes written to a fresh connection as they are; the first response read back (or none, when the hub just closes). */
function raw(app: HubApp, bytes: string | Buffer, o: { halfClose?: boolean } = {}): Promise<Answer & { closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port(app), '127.0.0.1');
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = buf.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const body = split < 0 ? '' : text.slice(split + 4);
      const answer = { status: Number(statusLine.split(' ')[1] ?? 0), headers, text: body, body: parseBody(body), closed };
      try {
        resolve({ ...checkAnswer(answer, `raw ${String(bytes).slice(0, 40)}`), closed });
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
    const timer = setTimeout(() => finish(false), 3000);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const text = buf.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split));
      const bodyless = String(bytes).startsWith('HEAD ');
      if (split >= 0 && (bodyless || (length && buf.length >= split + 4 + Number(length[1])))) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.write(bytes);
    if (o.halfClose) socket.end();
  });
}

const LIMIT = DEFAULT_MAX_JSON_DEPTH;
const nested = (depth: number, leaf: string): string => '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
/** `a.a.a…` as the path of the value at `depth` levels of `{"a":…}`. */
const aPath = (depth: number): string => Array.from({ length: depth }, () => 'a').join('.');

/** The longest Site name: a 63-character DNS-1123 label. */
const maxSiteName = (prefix: string): string => `${prefix}${'x'.repeat(63)}`.slice(0, 62) + '9';
/** The longest object name: a 253-character DNS-1123 subdomain, in labels of at most 63. */
const maxObjectName = (prefix: string): string =>
  [`${prefix}${'a'.repeat(63)}`.slice(0, 63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)].join('.');

describe('hub input at the edges (real HTTP, SQLite store)', () => {
  let h: TestHub;
  beforeAll(async () => {
    h = await startTestHub({ backend: sqliteBackend });
    await h.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(() => h.close());

  describe('deep JSON', () => {
    it('refuses a body nested 3,000 levels with 400 EDGE_ERR_HUB_BODY_TOO_DEEP, naming the limit and the field, on every body route', async () => {
      const deep = nested(3000, '1');
      const cases: [string, string, string, string][] = [
        ['POST', '/api/v1/addons', `{"metadata":{"name":"deep-1"},"spec":{"plugin":"modbus","config":${deep}}}`, 'spec.config'],
        ['PUT', '/api/v1/addons/deep-2', `{"spec":{"plugin":"modbus","templates":{"plant-a":${deep}}}}`, 'spec.templates.plant-a'],
        ['POST', '/api/v1/sites', `{"metadata":{"name":"deep-3"},"spec":{"location":${deep}}}`, 'spec.location'],
        ['PUT', '/api/v1/devices/pump-a/status', `{"status":{"observedDesired":${deep}}}`, 'status.observedDesired'],
        ['POST', '/api/v1/deviceprofiles', `{"metadata":{"name":"deep-4"},"spec":{"deviceResources":[{"name":"r","attributes":${deep}}]}}`, 'spec.deviceResources[0].attributes'],
        ['POST', '/api/v1/sites/plant-a/devices/pump-a/commands', `{"resource":"mode","value":${deep}}`, 'value'],
        ['POST', '/api/v1/tokens', `{"role":"viewer","description":${deep}}`, 'description'],
        ['POST', '/api/v1/sites/plant-a/telemetry', `{"readings":[{"value":${deep}}]}`, 'readings[0].value'],
        ['POST', '/api/v1/sites', '['.repeat(3000) + ']'.repeat(3000), ''],
      ];
      for (const [method, url, text, field] of cases) {
        const r = await send(h, method, url, { text });
        expect(r.status, `${method} ${url}`).toBe(400);
        expect(r.body.code).toBe('EDGE_ERR_HUB_BODY_TOO_DEEP');
        expect(r.body.details).toMatchObject({ limit: LIMIT });
        const at = String(r.body.details?.path);
        expect(at.startsWith(field), `${at} starts with ${field}`).toBe(true);
        expect(r.body.message).toContain(`deeper than ${LIMIT} levels, at ${field}`);
      }
      for (const name of ['deep-1', 'deep-2']) expect((await send(h, 'GET', `/api/v1/addons/${name}`)).status).toBe(404);
      expect((await send(h, 'GET', '/api/v1/sites/deep-3')).status).toBe(404);
      expect((await send(h, 'GET', '/api/v1/devices/pump-a')).body.status ?? {}).not.toHaveProperty('observedDesired');
    });

    it(`stores a body exactly ${LIMIT} levels deep unchanged, and refuses one level more naming where`, async () => {
      // The body and spec objects are 2 levels: the config holds the other LIMIT - 2.
      const inner = LIMIT - 2;
      const ok = await send(h, 'POST', '/api/v1/addons', { text: `{"metadata":{"name":"deepest"},"spec":{"plugin":"modbus","config":${nested(inner, '"leaf"')}}}` });
      expect(ok.status).toBe(201);
      const got = await send(h, 'GET', '/api/v1/addons/deepest');
      expect(JSON.stringify((got.body.spec as { config: unknown }).config)).toBe(nested(inner, '"leaf"'));

      const over = await send(h, 'PUT', '/api/v1/addons/deepest', { text: `{"spec":{"plugin":"modbus","config":${nested(inner + 1, '"leaf"')}}}` });
      expect(over.status).toBe(400);
      expect(over.body).toMatchObject({ code: 'EDGE_ERR_HUB_BODY_TOO_DEEP', details: { limit: LIMIT, path: `spec.config.${aPath(inner)}` } });
      expect((await send(h, 'GET', '/api/v1/addons/deepest')).body.metadata).toEqual(got.body.metadata);
    });

    it('applies the bound after decompression too', async () => {
      const text = `{"metadata":{"name":"deep-gz"},"spec":{"plugin":"modbus","config":${nested(5000, '1')}}}`;
      const r = await send(h, 'POST', '/api/v1/addons', { text: gzipSync(text), headers: { 'content-encoding': 'gzip' } });
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('EDGE_ERR_HUB_BODY_TOO_DEEP');
    });

    it('refuses prototype keys and numbers beyond a float, naming the field, and changes nothing', async () => {
      const before = (await send(h, 'GET', '/api/v1/addons')).body.items;
      for (const [config, field] of [
        ['{"__proto__":{"polluted":true}}', 'spec.config.__proto__'],
        ['{"x":[{"constructor":{"prototype":{"polluted":true}}}]}', 'spec.config.x[0].constructor.prototype'],
        ['{"\\u005f_proto__":{"polluted":true}}', 'spec.config.__proto__'],
        ['{"n":1e400}', 'spec.config.n'],
        [`{"n":-${'9'.repeat(400)}}`, 'spec.config.n'],
      ] as const) {
        const r = await send(h, 'POST', '/api/v1/addons', { text: `{"metadata":{"name":"proto"},"spec":{"plugin":"modbus","config":${config}}}` });
        expect(r.status, config).toBe(400);
        expect(r.body.code).toBe('EDGE_ERR_HUB_BAD_REQUEST');
        expect(r.body.details?.issues).toEqual([expect.objectContaining({ in: 'body', path: field })]);
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect((await send(h, 'GET', '/api/v1/addons')).body.items).toEqual(before);
      // Keys named like Object.prototype's members are fields like any other: refused by name where unknown.
      for (const [text, field] of [
        ['{"metadata":{"name":"x"},"spec":{},"constructor":1}', 'constructor'],
        ['{"metadata":{"name":"x","toString":"a"},"spec":{}}', 'metadata.toString'],
        ['{"metadata":{"name":"x","hasOwnProperty":{}},"spec":{}}', 'metadata.hasOwnProperty'],
      ] as const) {
        const r = await send(h, 'POST', '/api/v1/sites', { text });
        expect(r.body.details?.issues, text).toEqual([{ in: 'body', path: field, message: 'is not a known field' }]);
      }
      // A key named constructor holding no prototype is plain data.
      const fine = await send(h, 'POST', '/api/v1/addons', { text: '{"metadata":{"name":"ctor"},"spec":{"plugin":"modbus","config":{"constructor":{"name":"x"},"big":1e308,"neg":-0}}}' });
      expect(fine.status).toBe(201);
      expect((fine.body.spec as { config: unknown }).config).toEqual({ constructor: { name: 'x' }, big: 1e308, neg: 0 });
    });

    it('keeps query strings flat: brackets, repeats, thousands of parameters and __proto__ never reach a 5xx', async () => {
      const brackets = `/api/v1/sites?a${'[b]'.repeat(500)}=1&site[constructor][prototype][p]=1`;
      expect((await send(h, 'GET', brackets)).status).toBe(200);
      const proto = await send(h, 'GET', '/api/v1/sites?__proto__=x&__proto__=y&constructor=z&prototype=1');
      expect(proto.status).toBe(200);
      expect((proto.body.items as unknown[]).length).toBeGreaterThanOrEqual(2);
      const many = `/api/v1/nodes?${Array.from({ length: 1000 }, (_, i) => `p${i}=${i}`).join('&')}`;
      expect((await send(h, 'GET', many)).status).toBe(200);
      const repeated = await send(h, 'GET', '/api/v1/sites?limit=1&limit=2');
      expect(repeated.status).toBe(400);
      expect(repeated.body.details?.issues).toEqual([expect.objectContaining({ in: 'querystring', path: 'limit' })]);
      const strict = await send(h, 'GET', '/api/v1/nodes/edge-x/connect?port=22&__proto__=1');
      expect(strict.status).toBe(400);
      expect(strict.body.details?.issues).toEqual([expect.objectContaining({ in: 'querystring', path: '__proto__', message: 'is not a known field' })]);
      expect((Object.prototype as Record<string, unknown>).p).toBeUndefined();
    });
  });

  describe('every name the store accepts is reachable by URL', () => {
    const site = maxSiteName('ls');
    const profile = maxObjectName('lp');
    let passwordHash = '';
    beforeAll(async () => {
      passwordHash = await hashSecret('a-password');
      expect((await send(h, 'POST', '/api/v1/sites', { body: { metadata: { name: site }, spec: {} } })).status).toBe(201);
      expect((await send(h, 'POST', '/api/v1/deviceprofiles', { body: { metadata: { name: profile }, spec: thermoProfile.spec } })).status).toBe(201);
    });

    const announced = (suggestedName: string) => ({
      site,
      source: 'announce',
      identifier: `id-${suggestedName.slice(0, 8)}`,
      suggestedName,
      protocolName: 'mqtt',
      protocol: { topic: 'dev/x' },
      profile: { deviceResources: [{ name: 'temp', properties: { valueType: 'Float64', readWrite: 'R' } }] },
      firstSeen: '2025-01-01T00:00:00Z',
      lastSeen: '2025-01-01T00:00:00Z',
    });

    const KINDS: { plural: string; kind: Kind; name: () => string; spec: () => unknown; status: unknown }[] = [
      { plural: 'sites', kind: 'Site', name: () => maxSiteName('s'), spec: () => ({ displayName: 'longest' }), status: { phase: 'Online' } },
      { plural: 'nodes', kind: 'Node', name: () => maxObjectName('n'), spec: () => ({ site }), status: { connected: true } },
      { plural: 'deviceprofiles', kind: 'DeviceProfile', name: () => maxObjectName('p'), spec: () => thermoProfile.spec, status: { message: 'ok' } },
      {
        plural: 'devices',
        kind: 'Device',
        name: () => maxObjectName('d'),
        spec: () => ({ site, profile, protocols: { 'modbus-tcp': { Address: '10.0.0.9', Port: '502' } } }),
        status: { operatingState: 'UP' },
      },
      { plural: 'addons', kind: 'Addon', name: () => maxObjectName('a'), spec: () => ({ plugin: 'modbus', sites: [site] }), status: { sites: { [site]: { state: 'Running' } } } },
      { plural: 'leases', kind: 'Lease', name: () => maxObjectName('l'), spec: () => ({ holderIdentity: 'replica-1', leaseDurationSeconds: 15 }), status: {} },
      {
        plural: 'brokercredentials',
        kind: 'BrokerCredential',
        name: () => maxObjectName('b'),
        spec: () => ({ site, username: 'longest-name-user', passwordHash }),
        status: { message: 'ok' },
      },
      { plural: 'pendingdevices', kind: 'PendingDevice', name: () => maxObjectName('q'), spec: () => announced('dev-q'), status: { phase: 'Pending' } },
    ];

    it.each(KINDS.map((k) => [k.plural, k] as const))('/api/v1/%s: creates, reads, applies, writes the status of and deletes the object with the longest name', async (plural, { kind, name, spec, status }) => {
      const n = name();
      expect(n.length).toBe(kind === 'Site' ? 63 : 253);
      const base = `/api/v1/${plural}`;
      const created = await send(h, 'POST', base, { body: { metadata: { name: n }, spec: spec() } });
      expect(created.status, created.text).toBe(201);
      const got = await send(h, 'GET', `${base}/${n}`);
      expect(got.status).toBe(200);
      expect(got.body).toMatchObject({ kind, metadata: { name: n } });
      const applied = await send(h, 'PUT', `${base}/${n}`, { body: { metadata: { labels: { tier: 'edge' } }, spec: spec() } });
      expect(applied.status, applied.text).toBe(200);
      expect(applied.body.metadata).toMatchObject({ name: n, labels: { tier: 'edge' } });
      const st = await send(h, 'PUT', `${base}/${n}/status`, { body: { status } });
      expect(st.status, st.text).toBe(200);
      expect(st.body.status).toEqual(status);
      const deleted = await send(h, 'DELETE', `${base}/${n}`);
      expect(deleted.status).toBe(200);
      const gone = await send(h, 'GET', `${base}/${n}`);
      expect(gone.status).toBe(404);
      expect(gone.body).toMatchObject({ code: 'EDGE_ERR_HUB_NOT_FOUND', details: { kind, name: n } });
    });

    it('command routes take the longest site and device names', async () => {
      const device = maxObjectName('cmd');
      const spec = { site, profile, protocols: { 'modbus-tcp': { Address: '10.0.0.9' } } };
      expect((await send(h, 'POST', '/api/v1/devices', { body: { metadata: { name: device }, spec } })).status).toBe(201);
      const cmd = await send(h, 'POST', `/api/v1/sites/${site}/devices/${device}/commands`, { body: { resource: 'setpoint', value: 21 } });
      expect(cmd.status, cmd.text).toBe(202);
      const id = String(cmd.body.id);
      expect((await send(h, 'GET', `/api/v1/commands/${id}`)).body).toMatchObject({ id, site, device });
      const listed = await send(h, 'GET', `/api/v1/sites/${site}/commands`);
      expect((listed.body.items as { id: string }[]).map((c) => c.id)).toContain(id);
      const done = await send(h, 'POST', `/api/v1/commands/${id}/result`, { body: { reported: 21 } });
      expect(done.status, done.text).toBe(200);
      // The longest command id the route takes is 64 characters: it is routed, and not found.
      const unknown = await send(h, 'GET', `/api/v1/commands/${'f'.repeat(64)}`);
      expect(unknown.body.code).toBe('EDGE_ERR_HUB_COMMAND_NOT_FOUND');
    });

    it('broker credential routes take a 128-character username, with its : and @ percent-encoded or not', async () => {
      const username = `gw:${'u'.repeat(121)}@x.y`;
      expect(username.length).toBe(128);
      const issued = await send(h, 'POST', `/api/v1/sites/${site}/broker-credentials`, { body: { username } });
      expect(issued.status, issued.text).toBe(201);
      const rotated = await send(h, 'POST', `/api/v1/sites/${site}/broker-credentials/${encodeURIComponent(username)}/rotate`);
      expect(rotated.status, rotated.text).toBe(200);
      expect(rotated.body.password).toEqual(expect.any(String));
      const deleted = await send(h, 'DELETE', `/api/v1/sites/${site}/broker-credentials/${username}`);
      expect(deleted.status, deleted.text).toBe(200);
      expect((deleted.body.spec as { username: string }).username).toBe(username);
    });

    it('pending device approve and reject take the longest names', async () => {
      const approveMe = maxObjectName('pa');
      const rejectMe = maxObjectName('pr');
      for (const [name, suggested] of [
        [approveMe, 'approved-dev'],
        [rejectMe, 'rejected-dev'],
      ] as const) {
        expect((await send(h, 'POST', '/api/v1/pendingdevices', { body: { metadata: { name }, spec: announced(suggested) } })).status).toBe(201);
        expect((await send(h, 'PUT', `/api/v1/pendingdevices/${name}/status`, { body: { status: { phase: 'Pending' } } })).status).toBe(200);
      }
      const approved = await send(h, 'POST', `/api/v1/pendingdevices/${approveMe}/approve`, { body: {} });
      expect(approved.status, approved.text).toBe(200);
      expect(approved.body).toMatchObject({ pending: { metadata: { name: approveMe }, status: { phase: 'Approved' } }, device: { metadata: { name: 'approved-dev' } } });
      const rejected = await send(h, 'POST', `/api/v1/pendingdevices/${rejectMe}/reject`);
      expect(rejected.status, rejected.text).toBe(200);
      expect(rejected.body).toMatchObject({ metadata: { name: rejectMe }, status: { phase: 'Rejected' } });
    });

    it('token routes take the longest ids (64 characters): routed, then not found', async () => {
      const t = await h.tokens.create({ role: 'viewer' });
      expect((await send(h, 'DELETE', `/api/v1/tokens/${t.id}`)).status).toBe(204);
      for (const url of [`/api/v1/tokens/${'t'.repeat(64)}`, `/api/v1/bootstrap-tokens/${'t'.repeat(64)}`]) {
        const r = await send(h, 'DELETE', url);
        expect(r.status).toBe(404);
        expect(r.body.code).toBe('EDGE_ERR_HUB_TOKEN_NOT_FOUND');
      }
    });

    it('node connect takes the longest name a joined node has (a 63-character DNS label)', async () => {
      const r = await send(h, 'GET', `/api/v1/nodes/${maxSiteName('node')}/connect?port=22`);
      // Routed and validated; this hub runs no tunnel-cloud.
      expect(r.body.code).not.toMatch(/BAD_REQUEST|PARAM_TOO_LONG|ROUTE_NOT_FOUND/);
      expect(['EDGE_ERR_HUB_TUNNEL_OFF', 'EDGE_ERR_HUB_UPGRADE_REQUIRED']).toContain(r.body.code);
    });

    it('answers a parameter longer than any valid name with a coded 400 naming it, never 414', async () => {
      const cases: [string, string, string][] = [
        ['GET', `/api/v1/devices/${'d'.repeat(254)}`, 'name'],
        ['DELETE', `/api/v1/sites/${'s'.repeat(254)}`, 'name'],
        ['PUT', `/api/v1/nodes/${'n'.repeat(254)}/status`, 'name'],
        ['POST', `/api/v1/sites/${'s'.repeat(64)}/devices/x/commands`, 'site'],
        ['POST', `/api/v1/sites/${site}/devices/${'d'.repeat(254)}/commands`, 'device'],
        ['GET', `/api/v1/commands/${'c'.repeat(65)}`, 'id'],
        ['POST', `/api/v1/commands/${'c'.repeat(65)}/result`, 'id'],
        ['DELETE', `/api/v1/tokens/${'t'.repeat(65)}`, 'id'],
        ['DELETE', `/api/v1/bootstrap-tokens/${'t'.repeat(65)}`, 'id'],
        ['POST', `/api/v1/sites/${site}/broker-credentials/${'u'.repeat(129)}/rotate`, 'username'],
        ['DELETE', `/api/v1/sites/${'s'.repeat(64)}/broker-credentials/u`, 'site'],
        ['POST', `/api/v1/pendingdevices/${'p'.repeat(254)}/approve`, 'name'],
        ['POST', `/api/v1/pendingdevices/${'p'.repeat(254)}/reject`, 'name'],
        ['GET', `/api/v1/nodes/${'n'.repeat(64)}/connect?port=22`, 'name'],
      ];
      for (const [method, url, param] of cases) {
        const body = method === 'POST' && url.endsWith('/commands') ? { resource: 'setpoint', value: 1 } : method === 'POST' && url.endsWith('/result') ? {} : undefined;
        const r = await send(h, method, url, body === undefined ? {} : { body });
        expect(r.status, `${method} ${url.slice(0, 60)}`).toBe(400);
        expect(r.body.details?.issues).toEqual(expect.arrayContaining([expect.objectContaining({ in: 'params', path: param })]));
        expect(r.body.details?.issues?.every((i) => i.in === 'params' && i.path === param)).toBe(true);
      }
      // Past the router's own bound: still a coded 400, naming the parameter.
      for (const [url, param] of [
        [`/api/v1/devices/${'d'.repeat(MAX_PARAM_LENGTH + 1)}`, 'name'],
        [`/api/v1/sites/${site}/broker-credentials/${'u'.repeat(5000)}`, 'username'],
        [`/api/v1/sites/${'s'.repeat(3000)}/devices/x/commands`, 'site'],
      ] as const) {
        const r = await send(h, url.endsWith('commands') ? 'POST' : 'DELETE', url, url.endsWith('commands') ? { body: {} } : {});
        expect(r.status).toBe(400);
        expect(r.body).toMatchObject({ code: 'EDGE_ERR_HUB_PARAM_TOO_LONG', details: { param, limit: MAX_PARAM_LENGTH } });
      }
    });
  });

  describe('framework errors reach clients as coded errors', () => {
    const token = (): string => `Authorization: Bearer ${h.admin}\r\n`;

    it('maps what Node\'s HTTP parser refuses (raw sockets)', async () => {
      const cases: [string, string | Buffer, number, string][] = [
        ['unknown method', 'FROB /api/v1/sites HTTP/1.1\r\nHost: x\r\n\r\n', 501, 'EDGE_ERR_HUB_METHOD_NOT_IMPLEMENTED'],
        ['TLS to a plain port', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00]), 501, 'EDGE_ERR_HUB_METHOD_NOT_IMPLEMENTED'],
        ['bad header name', 'GET /api/v1/sites HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n', 400, 'EDGE_ERR_HUB_MALFORMED_HTTP'],
        ['control character in a header value', 'GET /api/v1/sites HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n', 400, 'EDGE_ERR_HUB_MALFORMED_HTTP'],
        ['content-length not a number', 'POST /api/v1/sites HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n', 400, 'EDGE_ERR_HUB_MALFORMED_HTTP'],
        ['two content-lengths', 'POST /api/v1/sites HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}', 400, 'EDGE_ERR_HUB_MALFORMED_HTTP'],
        ['content-length and chunked', 'POST /api/v1/sites HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'EDGE_ERR_HUB_MALFORMED_HTTP'],
        ['bad chunk size', 'POST /api/v1/sites HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n', 400, 'EDGE_ERR_HUB_MALFORMED_HTTP'],
        ['unknown transfer-encoding', 'POST /api/v1/sites HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n{}', 400, 'EDGE_ERR_HUB_MALFORMED_HTTP'],
        ['bad HTTP version', 'GET /api/v1/sites HTTP/9.9\r\nHost: x\r\n\r\n', 400, 'EDGE_ERR_HUB_MALFORMED_HTTP'],
        ['headers over 16 KiB', `GET /api/v1/sites HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'EDGE_ERR_HUB_HEADERS_TOO_LARGE'],
        ['HTTP/1.1 without Host', `GET /api/v1/sites HTTP/1.1\r\n${token()}\r\n`, 400, 'EDGE_ERR_HUB_MALFORMED_HTTP'],
        ['Expect other than 100-continue', `GET /api/v1/sites HTTP/1.1\r\nHost: x\r\n${token()}Expect: tea\r\n\r\n`, 417, 'EDGE_ERR_HUB_EXPECTATION_FAILED'],
      ];
      for (const [what, bytes, status, code] of cases) {
        const r = await raw(h.app, bytes);
        expect(r.status, what).toBe(status);
        expect(r.body.code, what).toBe(code);
      }
      const overflow = await raw(h.app, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      expect(overflow.body.details).toEqual({ limitBytes: 16_384 });
      const parser = await raw(h.app, 'GET /api/v1/sites HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n');
      expect(parser.body.details).toMatchObject({ parserCode: 'HPE_INVALID_CONTENT_LENGTH' });
      // A body that stops short of its content-length before the client hangs up.
      const short = await raw(h.app, `POST /api/v1/sites HTTP/1.1\r\nHost: x\r\n${token()}Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{"a":`, { halfClose: true });
      expect(short.status).toBe(400);
      expect(short.body.code).toBe('EDGE_ERR_HUB_MALFORMED_HTTP');
      // HTTP/1.0 needs no Host.
      expect((await raw(h.app, `GET /healthz HTTP/1.0\r\n\r\n`)).status).toBe(200);
    });

    it('answers a request that timed out in Node with a coded 408 on its connection', async () => {
      const serverSide = new Promise<net.Socket>((resolve) => h.app.server.once('connection', resolve));
      const client = net.connect(port(h.app), '127.0.0.1');
      const received = new Promise<string>((resolve) => {
        let text = '';
        client.on('data', (d: Buffer) => (text += d.toString()));
        client.on('close', () => resolve(text));
      });
      client.write('GET /api/v1/sites HTTP/1.1\r\nHost: x\r\n');
      const socket = await serverSide;
      h.app.server.emit('clientError', Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket);
      const text = await received;
      expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(text).toContain('"code":"EDGE_ERR_HUB_REQUEST_TIMEOUT"');
    });

    it('maps what fastify refuses: body, media type, URL, method, static files', async () => {
      const tooLarge = await raw(h.app, `POST /api/v1/sites HTTP/1.1\r\nHost: x\r\n${token()}Content-Type: application/json\r\nContent-Length: 99999999\r\n\r\n`);
      expect([tooLarge.status, tooLarge.body.code]).toEqual([413, 'EDGE_ERR_HUB_PAYLOAD_TOO_LARGE']);
      expect(tooLarge.body.details).toEqual({ limitBytes: 8 * 1024 * 1024 });

      const empty = await send(h, 'POST', '/api/v1/sites', { text: '' });
      expect([empty.status, empty.body.code, empty.body.details?.reason]).toEqual([400, 'EDGE_ERR_HUB_MALFORMED_BODY', 'it is empty']);
      const emptyDelete = await send(h, 'DELETE', '/api/v1/sites/nope', { text: '' });
      expect(emptyDelete.body.code).toBe('EDGE_ERR_HUB_MALFORMED_BODY');
      const malformed = await send(h, 'POST', '/api/v1/sites', { text: '{"metadata":' });
      expect([malformed.status, malformed.body.code]).toEqual([400, 'EDGE_ERR_HUB_MALFORMED_BODY']);
      expect(malformed.body.message).toMatch(/^request body is not valid: /);

      for (const contentType of ['application/xml', 'multipart/form-data; boundary=x', ';;;']) {
        const r = await send(h, 'POST', '/api/v1/sites', { text: '{}', headers: { 'content-type': contentType } });
        expect([r.status, r.body.code], contentType).toEqual([415, 'EDGE_ERR_HUB_UNSUPPORTED_MEDIA_TYPE']);
      }
      const noType = await raw(h.app, `POST /api/v1/sites HTTP/1.1\r\nHost: x\r\n${token()}Content-Length: 2\r\n\r\n{}`);
      expect([noType.status, noType.body.code]).toEqual([415, 'EDGE_ERR_HUB_UNSUPPORTED_MEDIA_TYPE']);
      const query = await raw(h.app, `QUERY /api/v1/sites HTTP/1.1\r\nHost: x\r\n${token()}\r\n`);
      expect([query.status, query.body.code]).toEqual([415, 'EDGE_ERR_HUB_UNSUPPORTED_MEDIA_TYPE']);
      const badEncoding = await raw(h.app, `POST /api/v1/sites HTTP/1.1\r\nHost: x\r\n${token()}Content-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nabcd`);
      expect([badEncoding.status, badEncoding.body.code]).toEqual([400, 'EDGE_ERR_HUB_BAD_ENCODING']);

      for (const url of ['/api/v1/nodes/%E0%A4%A', '/api/v1/sites/%zz', '/api/v1/devices/%']) {
        const r = await send(h, 'GET', url);
        expect([r.status, r.body.code], url).toEqual([400, 'EDGE_ERR_HUB_BAD_URL']);
        expect(r.body.details?.path).toBe(url);
      }

      const patch = await send(h, 'PATCH', '/api/v1/nodes/edge-1', { body: {} });
      expect([patch.status, patch.body.code]).toEqual([405, 'EDGE_ERR_HUB_METHOD_NOT_ALLOWED']);
      expect(patch.headers.allow).toBe('DELETE, GET, HEAD, PUT');
      expect(patch.body.details).toEqual({ method: 'PATCH', path: '/api/v1/nodes/edge-1', allowed: ['DELETE', 'GET', 'HEAD', 'PUT'] });
      const trace = await raw(h.app, `TRACE /api/v1/sites HTTP/1.1\r\nHost: x\r\n${token()}\r\n`);
      expect([trace.status, trace.headers.allow]).toEqual([405, 'GET, HEAD, POST']);
      const head = await raw(h.app, `HEAD /api/v1/sites/plant-a/telemetry HTTP/1.1\r\nHost: x\r\n${token()}\r\n`);
      expect([head.status, head.headers.allow]).toEqual([405, 'POST']);
      const unknown = await send(h, 'PATCH', '/api/v1/nothing-here');
      expect([unknown.status, unknown.body.code]).toEqual([404, 'EDGE_ERR_HUB_ROUTE_NOT_FOUND']);
      // A route that answers 404 itself is not a 405 because another method exists.
      const missing = await send(h, 'GET', '/docs/static/no-such-file.js', { token: null });
      expect([missing.status, missing.body.code]).toEqual([404, 'EDGE_ERR_HUB_ROUTE_NOT_FOUND']);

      const escape = await raw(h.app, 'GET /docs/static/%2e%2e/%2e%2e/package.json HTTP/1.1\r\nHost: x\r\n\r\n');
      expect([escape.status, escape.body.code]).toEqual([403, 'EDGE_ERR_HUB_PATH_FORBIDDEN']);
      const nul = await raw(h.app, 'GET /docs/static/a%00b HTTP/1.1\r\nHost: x\r\n\r\n');
      expect([nul.status, nul.body.code]).toEqual([403, 'EDGE_ERR_HUB_PATH_FORBIDDEN']);
      const range = await send(h, 'GET', '/docs/static/swagger-ui.css', { token: null, headers: { range: 'bytes=999999999-' } });
      expect([range.status, range.body.code]).toEqual([416, 'EDGE_ERR_HUB_RANGE_NOT_SATISFIABLE']);
      const precondition = await send(h, 'GET', '/docs/static/swagger-ui.css', { token: null, headers: { 'if-match': '"nope"' } });
      expect([precondition.status, precondition.body.code]).toEqual([412, 'EDGE_ERR_HUB_PRECONDITION_FAILED']);
    });
  });
});

describe('every fastify error a request can meet', () => {
  let app: HubApp;
  let dir: string;
  const closers: (() => unknown)[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-hub-input-'));
    const logger = quietLogger();
    const metrics = new Registry();
    const { store, telemetry } = memoryBackend.open(dir, metrics, logger);
    const tokens = openTokenStore({ file: path.join(dir, 'tokens.db') });
    const commands = openCommandQueue({ file: path.join(dir, 'commands.db'), logger });
    closers.push(() => commands.close(), () => tokens.close(), () => telemetry.close(), () => store.close());
    app = buildHubApp({ store, telemetry, tokens, commands, healthKeys: openFileHealthKeyStore(dir), logger, metrics });
    // A route of the caller's (buildHubApp leaves it room for them) that throws what fastify would.
    // By index, so that no framework code appears in the URL (and so in the answer).
    const codes = Object.keys(errorCodes) as (keyof typeof errorCodes)[];
    app.get('/test/fastify-error/:i', (request) => {
      const code = codes[Number((request.params as { i: string }).i)] as keyof typeof errorCodes;
      throw new errorCodes[code]();
    });
    app.post('/test/echo', (request) => ({ echo: request.body }));
    // What the request stream fails with when the client resets the connection mid-body.
    app.get('/test/stream-error', () => {
      throw Object.assign(new Error('aborted'), { code: 'ECONNRESET', statusCode: 400 });
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await app.close();
    for (const close of closers) await close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers each with a coded error: the client-caused ones as 4xx of their own code, the rest as 500 EDGE_ERR_HUB_INTERNAL', async () => {
    const clientCaused = new Set(MAPPED_FRAMEWORK_CODES);
    for (const code of ['FST_ERR_CTP_BODY_TOO_LARGE', 'FST_ERR_CTP_INVALID_CONTENT_LENGTH', 'FST_ERR_CTP_EMPTY_JSON_BODY', 'FST_ERR_CTP_INVALID_JSON_BODY', 'FST_ERR_CTP_INVALID_MEDIA_TYPE', 'FST_ERR_BAD_URL', 'FST_ERR_MAX_PARAM_LENGTH', 'FST_ERR_ASYNC_CONSTRAINT', 'FST_ERR_ROUTE_MISSING_CONTENT_TYPE', 'FST_ERR_NOT_FOUND']) {
      expect(clientCaused.has(code), code).toBe(true);
    }
    const seen = new Map<string, string>();
    for (const [i, code] of Object.keys(errorCodes).entries()) {
      const r = await fetch(`http://127.0.0.1:${port(app)}/test/fastify-error/${i}`);
      const text = await r.text();
      const body = checkAnswer({ status: r.status, headers: {}, text, body: parseBody(text) }, code).body;
      expect(body.code, code).not.toBe('EDGE_ERR_HUB_REQUEST');
      if (clientCaused.has(code) || code === 'FST_ERR_VALIDATION') {
        expect(r.status, code).toBeGreaterThanOrEqual(400);
        expect(r.status, code).toBeLessThan(500);
      } else {
        expect([r.status, body.code], code).toEqual([500, 'EDGE_ERR_HUB_INTERNAL']);
      }
      seen.set(code, body.code);
    }
    expect(seen.get('FST_ERR_CTP_INVALID_CONTENT_LENGTH')).toBe('EDGE_ERR_HUB_MALFORMED_BODY');
    expect(seen.get('FST_ERR_ASYNC_CONSTRAINT')).toBe('EDGE_ERR_HUB_ROUTING_CONSTRAINT');
    expect(seen.get('FST_ERR_MAX_PARAM_LENGTH')).toBe('EDGE_ERR_HUB_PARAM_TOO_LONG');
    expect(seen.get('FST_ERR_NOT_FOUND')).toBe('EDGE_ERR_HUB_ROUTE_NOT_FOUND');

    const aborted = await fetch(`http://127.0.0.1:${port(app)}/test/stream-error`);
    expect(aborted.status).toBe(400);
    expect(await aborted.json()).toEqual({ code: 'EDGE_ERR_HUB_REQUEST_ABORTED', message: 'request body ended early: aborted', details: { reason: 'aborted' } });
  });

  it('answers a request arriving while the hub closes with a coded 503 and closes the connection', async () => {
    const socket = net.connect(port(app), '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // A request in flight (its body not sent yet), so the connection is not idle when the hub starts closing.
    socket.write('POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = app.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.write('{}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await closed;
    await closing;
    const responses = text.split(/(?=HTTP\/1\.1 )/);
    expect(responses).toHaveLength(2);
    expect(responses[0]).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\{"echo":\{\}\}$/);
    expect(responses[1]).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(responses[1]).toMatch(/\r\nconnection: close\r\n/i);
    expect(responses[1]).toContain('"code":"EDGE_ERR_HUB_SHUTTING_DOWN"');
  });
});
