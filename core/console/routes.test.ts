import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { BACKENDS, device, err, startTestHub, type TestHub } from '../../test/support/hub/harness.ts';
import { createConsole } from './index.ts';

let h: TestHub | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const cookieOf = (r: LightMyRequestResponse): string => {
  const raw = r.headers['set-cookie'];
  const line = Array.isArray(raw) ? raw[0] : raw;
  if (typeof line !== 'string') throw new Error('no set-cookie header');
  return line.split(';')[0] ?? '';
};

async function login(hub: TestHub, token: string): Promise<{ cookie: string; csrf: string; res: LightMyRequestResponse }> {
  const res = await hub.call('POST', '/api/v1/console/session', { token: null, body: { token } });
  expect(res.statusCode, res.body).toBe(200);
  return { cookie: cookieOf(res), csrf: res.json<{ csrf: string }>().csrf, res };
}

describe('console page and assets', () => {
  it('serves the page with a CSP that admits only its own scripts and the import map, by hash', async () => {
    h = await startTestHub();
    const res = await h.call('GET', '/', { token: null });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(res.body)?.[1];
    expect(map).toBeDefined();
    const hash = createHash('sha256').update(map ?? '').digest('base64');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain(`script-src 'self' 'sha256-${hash}'`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    // The page is static: it holds no data and no secret, so it needs no login.
    expect(res.body).not.toMatch(/edgeadm_[a-z0-9]{8}_/);

    const again = await h.call('GET', '/', { token: null, headers: { 'if-none-match': String(res.headers.etag) } });
    expect(again.statusCode).toBe(304);
  });

  it('serves every module the page imports, relative and through the import map, as JavaScript', async () => {
    h = await startTestHub();
    const page = await h.call('GET', '/', { token: null });
    const map = JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(page.body)?.[1] ?? '{}') as { imports: Record<string, string> };
    const entry = /<script type="module" src="([^"]+)">/.exec(page.body)?.[1];
    expect(entry).toBe('/console/main.js');
    const seen = new Set<string>();
    const queue = [entry ?? '', ...Object.values(map.imports)];
    while (queue.length > 0) {
      const url = queue.shift() ?? '';
      if (seen.has(url)) continue;
      seen.add(url);
      const res = await h.call('GET', url, { token: null });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type'], url).toBe('text/javascript; charset=utf-8');
      // Statements at the start of a line: a word such as `edgex-import"` inside a template is no import.
      for (const m of res.body.matchAll(/^\s*(?:import|export)\s*(?:[\w*{}\s,$]+from\s*)?["']([^"']+)["']/gm)) {
        const spec = m[1] ?? '';
        if (spec.startsWith('.')) queue.push(new URL(spec, `http://x${url}`).pathname);
        else expect(map.imports[spec], `bare import '${spec}' in ${url} is in the import map`).toBeDefined();
      }
    }
    expect(seen.size).toBeGreaterThan(6);
    for (const css of ['/console/app.css', '/console/vendor/uPlot.min.css']) {
      const res = await h.call('GET', css, { token: null });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('text/css; charset=utf-8');
    }
  });

  it('answers unknown files and path tricks with a coded 404', async () => {
    h = await startTestHub();
    for (const url of ['/console/nope.js', '/console/vendor/nope.js', '/console/..%2Fapp.ts', '/console/tsconfig.json', '/console/vendor/..%2F..%2Fpackage.json']) {
      const res = await h.call('GET', url, { token: null });
      expect(res.statusCode, url).toBe(404);
      expect(err(res).code).toBe('EDGE_ERR_HUB_ROUTE_NOT_FOUND');
    }
  });

  it('is a module: a hub without it serves none of its routes', async () => {
    h = await startTestHub({ modules: [] });
    expect((await h.call('GET', '/', { token: null })).statusCode).toBe(404);
    expect((await h.call('POST', '/api/v1/console/session', { token: null, body: { token: h.admin } })).statusCode).toBe(404);
  });

  it('is one per hub: a second module offering browser sessions is refused with a coded error naming both', async () => {
    await expect(startTestHub({ modules: [createConsole(), { ...createConsole(), name: 'console-2' }] })).rejects.toMatchObject({
      code: 'EDGE_ERR_HUB_MODULE_CONFLICT',
      message: expect.stringContaining("'console' and 'console-2'"),
    });
  });
});

describe('console sessions', () => {
  it('trades an admin token for an HttpOnly SameSite=Strict cookie that authenticates API calls and streams', async () => {
    h = await startTestHub();
    const { cookie, res } = await login(h, h.admin);
    const setCookie = String(res.headers['set-cookie']);
    expect(setCookie).toMatch(/^edgeadm_console=[A-Za-z0-9_-]{43}; Max-Age=43200; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(res.body).not.toContain(h.admin);
    expect(res.json()).toMatchObject({ role: 'admin', tokenId: h.admin.split('_')[1] });

    const me = await h.call('GET', '/api/v1/console/session', { token: null, headers: { cookie } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ role: 'admin' });
    const sites = await h.call('GET', '/api/v1/sites', { token: null, headers: { cookie } });
    expect(sites.statusCode).toBe(200);
    expect(sites.json<{ items: unknown[] }>().items).toHaveLength(2);
    expect((await h.call('GET', '/api/v1/sites', { token: null })).statusCode).toBe(401);
  });

  it('refuses a change by cookie without the session CSRF value, and a viewer change with it', async () => {
    h = await startTestHub();
    const admin = await login(h, h.admin);
    const body = device('pump-c', 'plant-a');
    const noCsrf = await h.call('POST', '/api/v1/devices', { token: null, body, headers: { cookie: admin.cookie } });
    expect(noCsrf.statusCode).toBe(403);
    expect(err(noCsrf)).toMatchObject({ code: 'EDGE_ERR_HUB_CSRF' });
    expect(err(noCsrf).message).toContain('x-edgeadm-csrf');
    const wrong = await h.call('POST', '/api/v1/devices', { token: null, body, headers: { cookie: admin.cookie, 'x-edgeadm-csrf': `${admin.csrf.slice(1)}x` } });
    expect(wrong.statusCode).toBe(403);
    const ok = await h.call('POST', '/api/v1/devices', { token: null, body, headers: { cookie: admin.cookie, 'x-edgeadm-csrf': admin.csrf } });
    expect(ok.statusCode, ok.body).toBe(201);

    const viewer = await login(h, h.viewer);
    const refused = await h.call('POST', '/api/v1/devices', {
      token: null,
      body: device('pump-d', 'plant-a'),
      headers: { cookie: viewer.cookie, 'x-edgeadm-csrf': viewer.csrf },
    });
    expect(refused.statusCode).toBe(403);
    expect(err(refused).code).toBe('EDGE_ERR_HUB_FORBIDDEN');
    // Another session's CSRF value does not pass.
    const crossed = await h.call('POST', '/api/v1/devices', { token: null, body: device('pump-e', 'plant-a'), headers: { cookie: admin.cookie, 'x-edgeadm-csrf': viewer.csrf } });
    expect(err(crossed).code).toBe('EDGE_ERR_HUB_CSRF');
  });

  it('refuses bad tokens (401) and agent tokens (403), counting both', async () => {
    h = await startTestHub();
    const bad = await h.call('POST', '/api/v1/console/session', { token: null, body: { token: 'edgeadm_aaaaaaaa_nope' } });
    expect(bad.statusCode).toBe(401);
    expect(err(bad).code).toBe('EDGE_ERR_HUB_UNAUTHENTICATED');
    expect(bad.headers['set-cookie']).toBeUndefined();
    const agent = await h.call('POST', '/api/v1/console/session', { token: null, body: { token: h.agentA } });
    expect(agent.statusCode).toBe(403);
    expect(err(agent).message).toContain('log in to the console');
    const empty = await h.call('POST', '/api/v1/console/session', { token: null, body: {} });
    expect(empty.statusCode).toBe(400);
    expect(err(empty).message).toContain('token');
    const metrics = await h.registry.getSingleMetric('edgeadm_hub_console_logins_total')?.get();
    expect(metrics?.values.find((v) => v.labels.result === 'refused')?.value).toBe(2);
  });

  it('ends when the token is revoked, on logout, and after its lifetime', async () => {
    h = await startTestHub({ modules: [createConsole({ sessionTtlMs: 400 })] });
    const adminId = h.admin.split('_')[1] ?? '';
    const second = await h.tokens.create({ role: 'admin' });
    const a = await login(h, second.token);
    expect((await h.call('GET', '/api/v1/sites', { token: null, headers: { cookie: a.cookie } })).statusCode).toBe(200);
    expect((await h.call('DELETE', `/api/v1/tokens/${second.id}`)).statusCode).toBe(204);
    expect((await h.call('GET', '/api/v1/sites', { token: null, headers: { cookie: a.cookie } })).statusCode).toBe(401);

    const b = await login(h, h.admin);
    const out = await h.call('DELETE', '/api/v1/console/session', { token: null, headers: { cookie: b.cookie } });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
    expect((await h.call('GET', '/api/v1/console/session', { token: null, headers: { cookie: b.cookie } })).statusCode).toBe(401);

    const c = await login(h, h.admin);
    expect(c.res.json<{ tokenId: string }>().tokenId).toBe(adminId);
    await new Promise((r) => setTimeout(r, 450));
    const late = await h.call('GET', '/api/v1/console/session', { token: null, headers: { cookie: c.cookie } });
    expect(late.statusCode).toBe(401);
    expect(err(late).message).toContain('log in');
  });
});

interface WatchMessage {
  event: string;
  data: { type?: string; object?: { kind: string; metadata: { name: string; resourceVersion: string }; status?: unknown; spec?: unknown }; resourceVersion?: string };
}

/** Reads the watch stream over real HTTP until `stop` says enough. */
async function readWatch(base: string, query: string, headers: Record<string, string>, stop: (msgs: WatchMessage[]) => boolean, ms = 5000): Promise<WatchMessage[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  const msgs: WatchMessage[] = [];
  try {
    const res = await fetch(`${base}/api/v1/watch${query}`, { headers, signal: ac.signal });
    if (res.status !== 200) throw new Error(`watch answered ${res.status}: ${await res.text()}`);
    const reader = res.body?.getReader();
    if (!reader) throw new Error('no body');
    const decoder = new TextDecoder();
    let buf = '';
    while (!stop(msgs)) {
      const chunk = await reader.read();
      if (chunk.done) break;
      buf += decoder.decode(chunk.value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = '';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (event !== '') msgs.push({ event, data: JSON.parse(data) as WatchMessage['data'] });
      }
    }
    return msgs;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}

describe.each(BACKENDS)('resource watch stream ($name)', (backend) => {
  async function listen(): Promise<{ hub: TestHub; base: string }> {
    const hub = await startTestHub({ backend, streams: { heartbeatMs: 100 } });
    h = hub;
    const address = await hub.app.listen({ host: '127.0.0.1', port: 0 });
    return { hub, base: address };
  }

  it('sends reset, the snapshot, synced, then changes; by token or console cookie', async () => {
    const { hub, base } = await listen();
    const { cookie } = await login(hub, hub.viewer);
    let changed = false;
    const msgs = await readWatch(base, '?kinds=Site,Device', { cookie }, (m) => {
      if (!changed && m.some((x) => x.event === 'synced')) {
        changed = true;
        void hub.store.updateStatus('Site', 'plant-a', { phase: 'Online', lastSeen: new Date().toISOString() }).then(() => hub.store.delete('Device', 'pump-b'));
      }
      return m.some((x) => x.data.type === 'DELETED');
    });
    expect(msgs[0]?.event).toBe('reset');
    const synced = msgs.findIndex((x) => x.event === 'synced');
    const snapshot = msgs.slice(1, synced).map((x) => `${x.data.type} ${x.data.object?.kind}/${x.data.object?.metadata.name}`);
    expect(snapshot.sort()).toEqual(['ADDED Device/pump-a', 'ADDED Device/pump-b', 'ADDED Site/plant-a', 'ADDED Site/plant-b']);
    const after = msgs.slice(synced + 1);
    expect(after.map((x) => `${x.data.type} ${x.data.object?.kind}/${x.data.object?.metadata.name}`)).toEqual(['MODIFIED Site/plant-a', 'DELETED Device/pump-b']);
    expect(after[0]?.data.object?.status).toMatchObject({ phase: 'Online' });

    const byToken = await readWatch(base, '?kinds=Site', { authorization: `Bearer ${hub.admin}` }, (m) => m.some((x) => x.event === 'synced'));
    expect(byToken.filter((x) => x.event === 'resource')).toHaveLength(2);
  });

  it('never replays a state older than the snapshot, with writes racing the lists', async () => {
    const { hub, base } = await listen();
    let stop = false;
    let n = 0;
    const writer = (async () => {
      while (!stop) {
        n++;
        await hub.store.updateStatus('Device', 'pump-a', { message: `tick ${n}` });
        await hub.store.updateStatus('Site', 'plant-b', { message: `tick ${n}` });
        await new Promise((r) => setImmediate(r));
      }
    })();
    const msgs = await readWatch(base, '', { authorization: `Bearer ${hub.admin}` }, (m) => m.filter((x) => x.event === 'resource').length > 60);
    stop = true;
    await writer;
    const last = new Map<string, bigint>();
    for (const m of msgs) {
      const o = m.data.object;
      if (!o) continue;
      const key = `${o.kind}/${o.metadata.name}`;
      const rv = BigInt(o.metadata.resourceVersion);
      const prev = last.get(key);
      if (prev !== undefined) expect(rv, key).toBeGreaterThan(prev);
      last.set(key, rv);
    }
    expect(last.size).toBeGreaterThanOrEqual(5);
  });

  it('ends live streams within a heartbeat when their token is revoked or their console session ends', async () => {
    const { hub, base } = await listen();
    const ends = async (url: string, headers: Record<string, string>, revoke: () => Promise<void>): Promise<number> => {
      const res = await fetch(`${base}${url}`, { headers });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      await reader.read();
      const t0 = Date.now();
      await revoke();
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) return Date.now() - t0;
        if (Date.now() - t0 > 3000) throw new Error(`${url} still streaming 3 s after revocation`);
      }
    };
    const t = await hub.tokens.create({ role: 'viewer' });
    const byToken = await ends('/api/v1/telemetry/stream', { authorization: `Bearer ${t.token}` }, async () => {
      expect((await hub.call('DELETE', `/api/v1/tokens/${t.id}`)).statusCode).toBe(204);
    });
    expect(byToken).toBeLessThan(1000);
    const session = await login(hub, hub.admin);
    const byCookie = await ends('/api/v1/watch', { cookie: session.cookie }, async () => {
      expect((await hub.call('DELETE', '/api/v1/console/session', { token: null, headers: { cookie: session.cookie } })).statusCode).toBe(204);
    });
    expect(byCookie).toBeLessThan(1000);
    // Streams of valid callers go on.
    const other = await readWatch(base, '?kinds=Site', { authorization: `Bearer ${hub.admin}` }, (m) => m.some((x) => x.event === 'synced'));
    expect(other.some((x) => x.event === 'synced')).toBe(true);
  });

  it('refuses unknown and secret kinds, naming the field, and agents', async () => {
    const { hub } = await listen();
    const bad = await hub.call('GET', '/api/v1/watch?kinds=Site,BrokerCredential,Gadget');
    expect(bad.statusCode).toBe(400);
    expect(err(bad).message).toContain("querystring kinds 'BrokerCredential', 'Gadget' not watchable");
    const agent = await hub.call('GET', '/api/v1/watch', { token: hub.agentA });
    expect(agent.statusCode).toBe(403);
  });
});
