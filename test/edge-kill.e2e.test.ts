/**
 * An edge node's process killed (SIGKILL) in the middle of a transfer through
 * its tunnel: the operator's stream ends with an error instead of hanging,
 * the hub forgets the node, keeps serving every other node, and takes the
 * node back when its agent starts again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { createWebSocketStream } from 'ws';
import { startHub, type Hub } from '../core/hub/index.ts';
import { startTunnelEdge, type TunnelEdge } from '../core/tunnel/index.ts';
import { quiet, tempDir, waitFor } from './support/hub-fixture.ts';
import { serveEcho, serveTcp, type TcpService } from './support/tcp-services.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(repo, 'cli/bin/edgeadm.js');
let hub: Hub;
let admin: string;
let dispatcher: Agent;
let dir: string;
let sink: TcpService;
let echo: TcpService;
let other: TunnelEdge;
const children: ChildProcess[] = [];

async function api(method: string, p: string, body?: unknown, token = admin): Promise<Record<string, unknown>> {
  const res = await fetch(`${hub.url}${p}`, {
    method,
    dispatcher,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await res.json()) as Record<string, unknown>;
}

function connect(node: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${hub.url.replace(/^http/, 'ws')}/api/v1/nodes/${node}/connect?port=${port}`, { headers: { authorization: `Bearer ${admin}` }, ca: hub.caCert });
    ws.once('open', () => resolve(createWebSocketStream(ws)));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

/** The node's agent and tunnel-edge as their own process: `edgeadm site run --node`. */
function runNode(credentialFile: string): ChildProcess {
  const child = spawn(
    process.execPath,
    [bin, 'site', 'run', '--site', 'plant-a', '--node', 'gw-1', '--hub', hub.url, '--ca-file', hub.caFile!, '--token-file', credentialFile, '--allow', `127.0.0.1:${sink.port}`, '--data-dir', path.join(dir, 'gw-1'), '--no-broker', '--log-level', 'silent'],
    { stdio: 'ignore', env: { ...process.env, EDGEADM_CONFIG: '' } },
  );
  children.push(child);
  return child;
}

beforeAll(async () => {
  dir = tempDir('edge-kill');
  hub = await startHub({ dataDir: path.join(dir, 'hub'), port: 0, logger: quiet, tls: true });
  admin = readFileSync(hub.adminTokenFile, 'utf8').trim();
  dispatcher = new Agent({ connect: { ca: hub.caCert! } });
  // A sink on the node that swallows everything and never answers.
  sink = await serveTcp((s) => {
    s.on('error', () => undefined);
    s.resume();
  });
  echo = await serveEcho();
  await api('PUT', '/api/v1/sites/plant-a', { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Site', metadata: { name: 'plant-a' }, spec: {} });
  const bt = await api('POST', '/api/v1/bootstrap-tokens', { site: 'plant-a' });
  const j1 = await api('POST', '/api/v1/join', { site: 'plant-a', node: 'gw-1' }, bt.token as string);
  writeFileSync(path.join(dir, 'gw-1.credential'), j1.credential as string, { mode: 0o600 });
  const j2 = await api('POST', '/api/v1/join', { site: 'plant-a', node: 'gw-2' }, bt.token as string);
  other = startTunnelEdge({ url: hub.tunnelUrl, node: 'gw-2', credential: j2.credential as string, allow: [`127.0.0.1:${echo.port}`], tls: { ca: hub.caCert! }, logger: quiet });
  await other.whenConnected();
}, 60_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await other?.stop();
  await hub?.close();
  await sink?.close();
  await echo?.close();
  await dispatcher?.close();
});

describe('an edge killed mid-transfer', () => {
  it('ends the transfer with an error, drops the node, keeps the others, and takes the node back after a restart', async () => {
    const credentialFile = path.join(dir, 'gw-1.credential');
    const first = runNode(credentialFile);
    await waitFor('gw-1 connected', () => hub.tunnel.cloud.nodes().includes('gw-1'), 30_000);

    const stream = await connect('gw-1', sink.port);
    let ended = false;
    let sent = 0;
    const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
    stream.on('error', () => undefined);
    // Keep writing until the far end is gone.
    const chunk = Buffer.alloc(64 * 1024, 1);
    const pump = (async () => {
      while (!ended && !stream.destroyed) {
        if (!stream.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              stream.off('drain', done);
              stream.off('close', done);
              resolve();
            };
            stream.on('drain', done);
            stream.on('close', done);
          });
        }
        sent += chunk.length;
      }
    })();
    await waitFor('a transfer under way', () => sent > 8 * 1024 * 1024, 20_000);
    first.kill('SIGKILL');
    await closed;
    ended = true;
    await pump;
    await waitFor('gw-1 gone from the hub', () => !hub.tunnel.cloud.nodes().includes('gw-1'), 10_000);
    await waitFor('gw-1 marked disconnected', async () => (await api('GET', '/api/v1/nodes/gw-1')).status !== undefined && ((await api('GET', '/api/v1/nodes/gw-1')).status as { connected?: boolean }).connected === false);

    // Every other node is served as before.
    const s = await connect('gw-2', echo.port);
    const got = new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())));
    s.write('still here');
    expect(await got).toBe('still here');
    s.destroy();

    // The node comes back with the same credential.
    runNode(credentialFile);
    await waitFor('gw-1 back', () => hub.tunnel.cloud.nodes().includes('gw-1'), 30_000);
    const again = await connect('gw-1', sink.port);
    expect(again.write('hello again')).toBe(true);
    again.destroy();
  }, 90_000);
});
