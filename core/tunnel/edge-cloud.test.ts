import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { serveEcho } from '../../test/support/tcp-services.ts';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../kernel/index.ts';
import { createTunnelCloud, type TunnelCloud, type TunnelCloudOptions } from './cloud.ts';
import { startTunnelEdge, type TunnelEdge } from './edge.ts';
import { deferCleanup } from '../../test/support/cleanup.ts';
import { waitFor } from '../../test/support/hub-fixture.ts';

const logger = createLogger({ level: 'silent' });
const defer = deferCleanup();

async function echoServer(): Promise<number> {
  const svc = await serveEcho();
  defer(() => svc.close());
  return svc.port;
}

const CREDENTIALS = new Map([['secret-node-1', 'node-1']]);

async function startCloud(
  port = 0,
  extra: Pick<TunnelCloudOptions, 'services' | 'onNodeChange' | 'heartbeatMs'> = {},
): Promise<{ cloud: TunnelCloud; http: HttpServer; url: string; stop: () => Promise<void> }> {
  const cloud = createTunnelCloud({ name: 'replica-0', logger, authenticate: (cred) => CREDENTIALS.get(cred), ...extra });
  const http = createHttpServer((_req, res) => res.writeHead(404).end());
  http.on('upgrade', (req, socket, head) => cloud.handleUpgrade(req, socket, head));
  await new Promise<void>((r) => http.listen(port, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/tunnel`;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await cloud.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  };
  defer(stop);
  return { cloud, http, url, stop };
}

function edge(url: string, credential: string, allow: string[], forwards: { service: string }[] = []): TunnelEdge {
  const e = startTunnelEdge({ url, node: 'node-1', credential, allow, forwards, logger, backoff: { initialMs: 20, maxMs: 200 } });
  defer(() => e.stop());
  return e;
}

async function roundTrip(cloud: TunnelCloud, port: number, text: string): Promise<string> {
  const s = await cloud.open('node-1', { kind: 'tcp', host: '127.0.0.1', port });
  const got = new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())));
  s.write(text);
  const answer = await got;
  s.destroy();
  return answer;
}

describe('tunnel-edge and tunnel-cloud', () => {
  it('connect an authenticated node and reach an allowed TCP service on it; refuse the rest with a coded reason', async () => {
    const port = await echoServer();
    const { cloud, url } = await startCloud();
    const e = edge(url, 'secret-node-1', [`127.0.0.1:${port}`]);
    await e.whenConnected();
    expect(cloud.nodes()).toEqual(['node-1']);
    expect(await roundTrip(cloud, port, 'ping through the tunnel')).toBe('ping through the tunnel');
    await expect(cloud.open('node-1', { kind: 'tcp', host: '127.0.0.1', port: port + 1 })).rejects.toMatchObject({
      code: 'EDGE_ERR_TUNNEL_STREAM_REFUSED',
      message: expect.stringMatching(/EDGE_ERR_TUNNEL_NOT_ALLOWED/),
    });
    await expect(cloud.open('node-2', { kind: 'tcp', host: '127.0.0.1', port })).rejects.toMatchObject({ code: 'EDGE_ERR_TUNNEL_NODE_NOT_CONNECTED' });
  });

  it('refuses an unknown credential, and the edge keeps retrying without ever connecting', async () => {
    const { cloud, url } = await startCloud();
    const e = edge(url, 'stolen-or-revoked', []);
    await new Promise((r) => setTimeout(r, 300));
    expect(e.status()).toMatchObject({ connected: false, connects: 0, lastError: 'tunnel-cloud answered 401' });
    expect(cloud.nodes()).toEqual([]);
  });

  it('reconnects after tunnel-cloud restarts, and routing works again', async () => {
    const port = await echoServer();
    const first = await startCloud();
    const e = edge(first.url, 'secret-node-1', [`127.0.0.1:${port}`]);
    await e.whenConnected();
    const cloudPort = Number(new URL(first.url).port);
    await first.stop();
    await new Promise((r) => setTimeout(r, 100));
    expect(e.status().connected).toBe(false);
    const second = await startCloud(cloudPort);
    await e.whenConnected();
    expect(e.status().connects).toBe(2);
    expect(await roundTrip(second.cloud, port, 'again')).toBe('again');
  });

  it('relays local connections on the edge to the services tunnel-cloud offers, and nothing else', async () => {
    const hub = await serveEcho();
    defer(() => hub.close());
    const changes: string[] = [];
    const { cloud, url } = await startCloud(0, {
      services: {
        hub: { host: '127.0.0.1', port: hub.port },
        greeter: (stream, node) => {
          stream.end(`hello ${node}`);
        },
        down: { host: '127.0.0.1', port: 1 },
      },
      onNodeChange: (node, up) => changes.push(`${node}:${up ? 'up' : 'down'}`),
    });
    const e = edge(url, 'secret-node-1', [], [{ service: 'hub' }, { service: 'greeter' }, { service: 'down' }, { service: 'nope' }]);
    await e.whenConnected();
    expect(changes).toEqual(['node-1:up']);

    const talk = async (service: string, text?: string): Promise<string> => {
      const { host, port } = await e.forwardAddress(service);
      const sock = connect({ host, port });
      const chunks: Buffer[] = [];
      sock.on('data', (d: Buffer) => chunks.push(d));
      if (text !== undefined) {
        sock.write(text);
        await new Promise((r) => sock.once('data', r));
        sock.end();
      }
      await new Promise((r) => sock.once('close', r));
      return Buffer.concat(chunks).toString();
    };
    expect(await talk('hub', 'sync hello')).toBe('sync hello');
    expect(await talk('greeter')).toBe('hello node-1');
    // A service the cloud cannot reach, or does not offer: the local connection is closed, nothing more.
    expect(await talk('down')).toBe('');
    expect(await talk('nope')).toBe('');
    await expect(e.forwardAddress('unconfigured')).rejects.toMatchObject({ code: 'EDGE_ERR_TUNNEL_NO_FORWARD' });
    // The cloud never dials addresses for an edge, and the edge refuses service opens from the cloud.
    await expect(cloud.open('node-1', { kind: 'service', name: 'hub' })).rejects.toMatchObject({
      code: 'EDGE_ERR_TUNNEL_STREAM_REFUSED',
      message: expect.stringMatching(/EDGE_ERR_TUNNEL_NOT_ALLOWED/),
    });
    expect(cloud.nodes()).toEqual(['node-1']);
    await e.stop();
    await new Promise((r) => setTimeout(r, 50));
    expect(changes).toEqual(['node-1:up', 'node-1:down']);
  });

  it('closes forwarded connections at once while the tunnel is down', async () => {
    const { url, stop } = await startCloud(0, { services: { hub: { host: '127.0.0.1', port: 1 } } });
    const e = edge(url, 'secret-node-1', [], [{ service: 'hub' }]);
    await e.whenConnected();
    await stop();
    await new Promise((r) => setTimeout(r, 50));
    const { host, port } = await e.forwardAddress('hub');
    const sock = connect({ host, port });
    const closed = await new Promise<boolean>((r) => sock.once('close', () => r(true)));
    expect(closed).toBe(true);
  });

  it('dials the next tunnel-cloud URL when one fails, and moves on again when a connection is lost', async () => {
    const port = await echoServer();
    const a = await startCloud();
    const b = await startCloud();
    const dead = 'ws://127.0.0.1:1/tunnel';
    const e = startTunnelEdge({ url: [dead, a.url, b.url], node: 'node-1', credential: 'secret-node-1', allow: [`127.0.0.1:${port}`], logger, backoff: { initialMs: 10, maxMs: 50 } });
    defer(() => e.stop());
    await e.whenConnected();
    expect(a.cloud.nodes()).toEqual(['node-1']);
    await a.stop();
    await waitFor('node-1 on replica b', () => b.cloud.nodes().length === 1);
    expect(await roundTrip(b.cloud, port, 'via b')).toBe('via b');
    expect(() => startTunnelEdge({ url: [], node: 'n', credential: 'c', allow: [], logger })).toThrow(/EDGE_ERR_TUNNEL_NO_CLOUD_URL|no tunnel-cloud URL/);
  });

  it('delivers everything a node service sends before it closes, even to a slow reader', async () => {
    const { serveTcp } = await import('../../test/support/tcp-services.ts');
    const payload = Buffer.alloc(4 * 1024 * 1024, 7);
    const svc = await serveTcp((s) => {
      s.on('error', () => undefined);
      s.end(payload);
    });
    defer(() => svc.close());
    const { cloud, url } = await startCloud();
    const e = edge(url, 'secret-node-1', [`127.0.0.1:${svc.port}`]);
    await e.whenConnected();
    const s = await cloud.open('node-1', { kind: 'tcp', host: '127.0.0.1', port: svc.port });
    s.end();
    // Read slowly: the service has long closed its socket while most of the data still waits for window credit.
    await new Promise((r) => setTimeout(r, 300));
    let got = 0;
    const errors: unknown[] = [];
    s.on('error', (err) => errors.push(err));
    for await (const chunk of s) {
      got += (chunk as Buffer).length;
      if (got < 1024 * 1024) await new Promise((r) => setTimeout(r, 1));
    }
    expect(errors).toEqual([]);
    expect(got).toBe(payload.length);
  });

  it('notices a link that went silent (no FIN, no RST) by heartbeats: the cloud drops the node, the edge dials again', async () => {
    const changes: string[] = [];
    const { cloud, url } = await startCloud(0, { heartbeatMs: 100, onNodeChange: (n, up) => changes.push(up ? 'up' : 'down') });
    // A relay that can freeze: bytes stop flowing both ways, yet neither side sees the connection close.
    const { createServer } = await import('node:net');
    let frozen = false;
    const pairs: Socket[] = [];
    const relay = createServer((client) => {
      const upstream = connect({ host: '127.0.0.1', port: Number(new URL(url).port) });
      pairs.push(client, upstream);
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        a.on('data', (d: Buffer) => {
          if (!frozen) b.write(d);
        });
        a.on('error', () => b.destroy());
        a.on('close', () => b.destroy());
      }
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    defer(async () => {
      for (const p of pairs) p.destroy();
      await new Promise((r) => relay.close(r));
    });
    const e = startTunnelEdge({ url: `ws://127.0.0.1:${(relay.address() as AddressInfo).port}/tunnel`, node: 'node-1', credential: 'secret-node-1', allow: [], logger, heartbeatMs: 100, connectTimeoutMs: 500, backoff: { initialMs: 20, maxMs: 100 } });
    defer(() => e.stop());
    await e.whenConnected();
    // Quiet but healthy: heartbeats keep it up well past three periods.
    await new Promise((r) => setTimeout(r, 600));
    expect(cloud.nodes()).toEqual(['node-1']);
    expect(e.status().connects).toBe(1);
    frozen = true;
    await waitFor('the cloud to drop the silent node', () => cloud.nodes().length === 0, 5_000);
    await waitFor('the edge to give up on the silent tunnel', () => !e.status().connected, 5_000);
    expect(e.status().lastError).toMatch(/HEARTBEAT_TIMEOUT|closed|1006/);
    frozen = false;
    await waitFor('the edge back', () => e.status().connected && cloud.nodes().length === 1, 5_000);
    expect(changes.slice(0, 3)).toEqual(['up', 'down', 'up']);
  });
});
