/**
 * The hub's tunnel-cloud end to end, over TLS: a bootstrap token is exchanged
 * for a node credential, tunnel-edge dials in with it (trusting only the hub's
 * CA), an operator reaches a TCP service on the node through the hub's
 * connect route, and every way in without the right credential is refused.
 */
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { createWebSocketStream } from 'ws';
import { startHub, type Hub } from '../core/hub/index.ts';
import { startTunnelEdge, type TunnelEdge } from '../core/tunnel/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { quiet, tempDir, waitFor } from './support/hub-fixture.ts';
import { serveEcho, type TcpService } from './support/tcp-services.ts';

const defer = deferCleanup();
let hub: Hub;
let admin: string;
let dispatcher: Agent;
let echo: TcpService;
let hubDir: string;

async function api<T = Record<string, unknown>>(method: string, p: string, body?: unknown, token = admin): Promise<{ status: number; body: T }> {
  const res = await fetch(`${hub.url}${p}`, {
    method,
    dispatcher,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

interface Joined {
  credential: string;
  credentialId: string;
  caCert: string;
  tunnelPath: string;
}

async function join(bootstrap: string, site: string, node: string, extra: Record<string, unknown> = {}): Promise<{ status: number; body: Joined & { code?: string; message?: string } }> {
  return api<Joined & { code?: string; message?: string }>('POST', '/api/v1/join', { site, node, ...extra }, bootstrap);
}

function edge(node: string, credential: string, ca: string | undefined, allow: string[] = [`127.0.0.1:${echo.port}`]): TunnelEdge {
  const e = startTunnelEdge({ url: hub.tunnelUrl, node, credential, allow, logger: quiet, backoff: { initialMs: 20, maxMs: 200 }, ...(ca ? { tls: { ca } } : {}) });
  defer(() => e.stop());
  return e;
}

/** Opens the hub's connect route to a node's port; resolves with a Duplex, or rejects with the HTTP status and body. */
function connectRoute(node: string, port: number, token = admin): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${hub.url.replace(/^http/, 'ws')}/api/v1/nodes/${node}/connect?port=${port}`, { headers: { authorization: `Bearer ${token}` }, ca: hub.caCert });
    ws.once('open', () => resolve(createWebSocketStream(ws)));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body: JSON.parse(text || '{}') as unknown })));
    });
    ws.once('error', reject);
  });
}

async function echoThrough(node: string, text: string): Promise<string> {
  const s = await connectRoute(node, echo.port);
  const got = new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())));
  s.write(text);
  const answer = await got;
  s.destroy();
  return answer;
}

beforeAll(async () => {
  hubDir = tempDir('hub-tunnel');
  hub = await startHub({ dataDir: hubDir, port: 0, logger: quiet, tls: true });
  admin = readFileSync(hub.adminTokenFile, 'utf8').trim();
  dispatcher = new Agent({ connect: { ca: hub.caCert! } });
  echo = await serveEcho();
  for (const site of ['plant-a', 'plant-b']) {
    const r = await api('PUT', `/api/v1/sites/${site}`, { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Site', metadata: { name: site }, spec: {} });
    expect(r.status).toBeLessThan(300);
  }
});

afterAll(async () => {
  await echo?.close();
  await hub?.close();
  await dispatcher?.close();
});

describe('hub tunnel-cloud over TLS', () => {
  it('serves HTTPS with its own CA only', async () => {
    expect(hub.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(hub.tunnelUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/api\/v1\/tunnel$/);
    // Without the CA, nothing connects.
    await expect(fetch(`${hub.url}/healthz`)).rejects.toThrow();
  });

  it('joins a node with a bootstrap token, carries its tunnel, and reaches a service on it', async () => {
    const bt = await api<{ token: string; id: string }>('POST', '/api/v1/bootstrap-tokens', { site: 'plant-a', ttlSeconds: 600 });
    expect(bt.status).toBe(201);
    expect(bt.body.token).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    const j = await join(bt.body.token, 'plant-a', 'gw-1', { sshHostKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl host'] });
    expect(j.status).toBe(201);
    expect(j.body.caCert).toBe(hub.caCert);
    expect(j.body.credential).toMatch(/^edgeadm_/);
    const node = await api<{ spec: { site: string }; status: { joinedAt: string; sshHostKeys: string[] } }>('GET', '/api/v1/nodes/gw-1');
    expect(node.body.spec.site).toBe('plant-a');
    expect(node.body.status.sshHostKeys).toHaveLength(1);

    const e = edge('gw-1', j.body.credential, j.body.caCert);
    await e.whenConnected();
    expect(hub.tunnel.cloud.nodes()).toContain('gw-1');
    await waitFor('Node status connected', async () => {
      const n = await api<{ status: { connected?: boolean; tunnel?: { replica: string } } }>('GET', '/api/v1/nodes/gw-1');
      return n.body.status.connected === true && n.body.status.tunnel?.replica === 'hub';
    });
    expect(await echoThrough('gw-1', 'hello gw-1')).toBe('hello gw-1');

    // The connect route's refusals carry the node's own code.
    await expect(connectRoute('gw-1', echo.port + 1)).rejects.toMatchObject({ status: 403, body: { code: 'EDGE_ERR_TUNNEL_NOT_ALLOWED' } });
    await expect(connectRoute('gw-404', echo.port)).rejects.toMatchObject({ status: 404, body: { code: 'EDGE_ERR_TUNNEL_NODE_NOT_CONNECTED' } });
    const viewer = await api<{ token: string }>('POST', '/api/v1/tokens', { role: 'viewer' });
    await expect(connectRoute('gw-1', echo.port, viewer.body.token)).rejects.toMatchObject({ status: 403, body: { code: 'EDGE_ERR_HUB_FORBIDDEN' } });
    await expect(connectRoute('gw-1', echo.port, j.body.credential)).rejects.toMatchObject({ status: 403 });
  });

  it('refuses every join without a valid, matching bootstrap token', async () => {
    const scoped = await api<{ token: string; id: string }>('POST', '/api/v1/bootstrap-tokens', { site: 'plant-a', ttlSeconds: 600 });
    const res = await join('', 'plant-a', 'gw-x');
    expect(res).toMatchObject({ status: 401, body: { code: 'EDGE_ERR_HUB_UNAUTHENTICATED' } });
    expect((await join('abcdef.0123456789abcdef', 'plant-a', 'gw-x')).status).toBe(401);
    expect((await join(admin, 'plant-a', 'gw-x')).status).toBe(401);
    expect(await join(scoped.body.token, 'plant-b', 'gw-x')).toMatchObject({ status: 403, body: { code: 'EDGE_ERR_HUB_JOIN_REFUSED', message: expect.stringMatching(/for site 'plant-a'/) } });
    const open = await api<{ token: string; id: string }>('POST', '/api/v1/bootstrap-tokens', { ttlSeconds: 600 });
    expect(await join(open.body.token, 'nowhere', 'gw-x')).toMatchObject({ status: 403, body: { message: expect.stringMatching(/site 'nowhere' does not exist/) } });
    expect(await join(open.body.token, 'plant-a', 'Bad Name')).toMatchObject({ status: 400 });
    // gw-1 belongs to plant-a: it cannot be taken over from another site.
    expect(await join(open.body.token, 'plant-b', 'gw-1')).toMatchObject({ status: 403, body: { message: expect.stringMatching(/belongs to site 'plant-a'/) } });
    expect((await api('DELETE', `/api/v1/bootstrap-tokens/${open.body.id}`)).status).toBe(204);
    expect((await join(open.body.token, 'plant-a', 'gw-x')).status).toBe(401);
    const listed = await api<{ items: { id: string; uses: number }[] }>('GET', '/api/v1/bootstrap-tokens');
    expect(JSON.stringify(listed.body)).not.toContain(scoped.body.token.split('.')[1]);
  });

  it('refuses tunnels without a node credential, or for another node', async () => {
    const bt = await api<{ token: string }>('POST', '/api/v1/bootstrap-tokens', { ttlSeconds: 600 });
    const j = await join(bt.body.token, 'plant-b', 'gw-2');
    const agentOnly = await api<{ token: string }>('POST', '/api/v1/tokens', { role: 'agent', site: 'plant-b' });
    const cases: [string, string, string][] = [
      ['no such credential', 'gw-2', 'edgeadm_aaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'],
      ['an admin token', 'gw-2', admin],
      ['an agent token bound to no node', 'gw-2', agentOnly.body.token],
      ["another node's credential", 'gw-1', j.body.credential],
      ['a bootstrap token', 'gw-2', bt.body.token],
    ];
    for (const [, node, credential] of cases) {
      const e = edge(node, credential, hub.caCert);
      await waitFor(`refusal of ${node}`, () => e.status().lastError === 'tunnel-cloud answered 401');
      expect(e.status().connects).toBe(0);
      await e.stop();
    }
    // An edge that does not trust the hub's CA never sends its credential anywhere.
    const untrusting = edge('gw-2', j.body.credential, undefined);
    await waitFor('TLS failure', () => /self-signed|unable to verify|certificate/i.test(untrusting.status().lastError ?? ''));
    expect(untrusting.status().connects).toBe(0);
    await untrusting.stop();
    expect(hub.tunnel.cloud.nodes()).not.toContain('gw-2');
  });

  it('drops a node at once when its credential is revoked, when it re-joins, and when its Node is deleted', async () => {
    const bt = await api<{ token: string }>('POST', '/api/v1/bootstrap-tokens', { ttlSeconds: 600 });
    const first = await join(bt.body.token, 'plant-b', 'gw-3');
    const e = edge('gw-3', first.body.credential, hub.caCert);
    await e.whenConnected();
    expect((await api('DELETE', `/api/v1/tokens/${first.body.credentialId}`)).status).toBe(204);
    await waitFor('gw-3 dropped', () => !hub.tunnel.cloud.nodes().includes('gw-3'));
    await waitFor('gw-3 refused', () => e.status().lastError === 'tunnel-cloud answered 401');
    await e.stop();

    // Re-joining issues a new credential and revokes the old one.
    const second = await join(bt.body.token, 'plant-b', 'gw-3');
    const third = await join(bt.body.token, 'plant-b', 'gw-3');
    const stale = edge('gw-3', second.body.credential, hub.caCert);
    await waitFor('stale credential refused', () => stale.status().lastError === 'tunnel-cloud answered 401');
    await stale.stop();
    const current = edge('gw-3', third.body.credential, hub.caCert);
    await current.whenConnected();

    expect((await api('DELETE', '/api/v1/nodes/gw-3')).status).toBeLessThan(300);
    await waitFor('gw-3 dropped after delete', () => !hub.tunnel.cloud.nodes().includes('gw-3'));
    const tokens = await api<{ items: { node?: string }[] }>('GET', '/api/v1/tokens');
    expect(tokens.body.items.filter((t) => t.node === 'gw-3')).toEqual([]);
  });

  it('runs as two replicas on one store: a node held by one is reached through the other, and moves when its replica stops', async () => {
    // A second hub process on the same data directory: another tunnel-cloud replica.
    const b = await startHub({ dataDir: hubDir, port: 0, logger: quiet, tls: true, replica: 'hub-b' });
    let bClosed = false;
    defer(async () => {
      if (!bClosed) await b.close();
    });
    const bt = await api<{ token: string }>('POST', '/api/v1/bootstrap-tokens', { ttlSeconds: 600 });
    const j = await join(bt.body.token, 'plant-b', 'gw-4');
    // The edge knows both replicas; it lands on b first.
    const e = startTunnelEdge({ url: [b.tunnelUrl, hub.tunnelUrl], node: 'gw-4', credential: j.body.credential, allow: [`127.0.0.1:${echo.port}`], logger: quiet, backoff: { initialMs: 20, maxMs: 200 }, tls: { ca: j.body.caCert } });
    defer(() => e.stop());
    await e.whenConnected();
    expect(b.tunnel.cloud.nodes()).toEqual(['gw-4']);
    expect(hub.tunnel.cloud.nodes()).not.toContain('gw-4');
    const metric = async (h: Hub): Promise<string> => {
      const r = await fetch(`${h.url}/metrics`, { dispatcher, headers: { authorization: `Bearer ${admin}` } });
      return (await r.text()).split('\n').filter((l) => l.startsWith('tunnel_cloud_nodes')).join('\n');
    };
    await waitFor('the lease and the metric on hub-b', async () => /tunnel_cloud_nodes\{replica="hub-b"\} 1/.test(await metric(b)));
    const lease = await api<{ spec: { holderIdentity: string } }>('GET', '/api/v1/leases/tunnel.gw-4');
    expect(lease.body.spec.holderIdentity).toBe('hub-b');
    // Operators read leases; agents (node credentials included) neither read nor write them.
    const viewer = await api<{ token: string }>('POST', '/api/v1/tokens', { role: 'viewer' });
    expect((await api('GET', '/api/v1/leases', undefined, viewer.body.token)).status).toBe(200);
    expect((await api('GET', '/api/v1/leases/tunnel.gw-4', undefined, j.body.credential)).status).toBe(403);
    expect((await api('PUT', '/api/v1/leases/tunnel.gw-4', { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Lease', metadata: { name: 'tunnel.gw-4' }, spec: {} }, j.body.credential)).status).toBe(403);
    // Asked through the first hub, which does not hold gw-4: one hop to hub-b.
    expect(await echoThrough('gw-4', 'via the other replica')).toBe('via the other replica');
    // hub-b stops: the edge moves to the first hub, which takes over the lease, and routing follows.
    await b.close();
    bClosed = true;
    await waitFor('gw-4 on the first hub', () => hub.tunnel.cloud.nodes().includes('gw-4'));
    await waitFor('the lease taken over', async () => (await api<{ spec: { holderIdentity: string } }>('GET', '/api/v1/leases/tunnel.gw-4')).body.spec.holderIdentity === 'hub');
    expect(await echoThrough('gw-4', 'after failover')).toBe('after failover');
    expect(await metric(hub)).toMatch(/tunnel_cloud_nodes\{replica="hub"\} [1-9]/);
  });
});
