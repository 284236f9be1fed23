/**
 * The hub on the kube store (`startHub({ store: { kind: 'kube', ... } })`)
 * against the Kubernetes API test server: resources written through the
 * hub's HTTP API are custom resources in the hub's namespace, what kubectl
 * or another client writes there is what the hub serves, a cluster
 * without the CRDs stops the start with the store's error, and two replicas
 * on one namespace share the admin token, tokens, and commands.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access -- raw answers are arbitrary Kubernetes JSON (RawResponse.body) */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawClient } from '../../test/support/kube-apiserver/client.ts';
import { startKubeApiServer, type KubeApiServer } from '../../test/support/kube-apiserver/index.ts';
import { quiet, tempDir, waitFor } from '../../test/support/hub-fixture.ts';
import { device, site, thermoProfile } from '../../test/support/hub/harness.ts';
import { definePlugin } from '../plugins/index.ts';
import { RUNS_AS_GRID_ANNOTATION, SYNC_PROTOCOL } from '../store/index.ts';
import { startHub, type Hub } from './server.ts';

let kube: KubeApiServer;
let raw: ReturnType<typeof rawClient>;

beforeAll(async () => {
  kube = await startKubeApiServer();
  raw = rawClient(kube);
  expect((await raw.call('POST', '/api/v1/namespaces', { metadata: { name: 'edgeadm' } })).status).toBe(201);
});

afterAll(async () => {
  await raw.close();
  await kube.close();
});

describe('startHub with the kube store', () => {
  it('keeps resources as custom resources in its namespace, both ways', async () => {
    const dataDir = tempDir('hub-kube');
    const kubeConfig = await kube.kubeconfig(path.join(dataDir, 'kubeconfig.yaml'));
    const hub = await startHub({ dataDir, port: 0, logger: quiet, store: { kind: 'kube', kubeConfig, namespace: 'edgeadm', installCrds: true } });
    try {
      const admin = readFileSync(hub.adminTokenFile, 'utf8').trim();
      const call = (method: string, url: string, body?: unknown): Promise<Response> =>
        fetch(`${hub.url}${url}`, {
          method,
          headers: { authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      expect((await call('POST', '/api/v1/sites', { metadata: { name: 'plant-a' }, spec: { displayName: 'Plant A' } })).status).toBe(201);
      const inKube = await raw.call('GET', '/apis/edgeadm.io/v1alpha1/namespaces/edgeadm/sites/plant-a');
      expect(inKube.status).toBe(200);
      expect(inKube.body.spec).toEqual({ displayName: 'Plant A' });
      expect(inKube.body.metadata.labels).toEqual({ 'edgeadm.io/site': 'plant-a' });

      // Written by another client of the cluster: the hub serves it.
      const made = await raw.call('POST', '/apis/edgeadm.io/v1alpha1/namespaces/edgeadm/nodes', {
        apiVersion: 'edgeadm.io/v1alpha1',
        kind: 'Node',
        metadata: { name: 'edge-1' },
        spec: { site: 'plant-a' },
      });
      expect(made.status).toBe(201);
      const node = await call('GET', '/api/v1/nodes/edge-1');
      expect(node.status).toBe(200);
      expect(await node.json()).toMatchObject({ kind: 'Node', metadata: { name: 'edge-1', resourceVersion: made.body.metadata.resourceVersion }, spec: { site: 'plant-a' } });
      expect(hub.store).toBeDefined();
    } finally {
      await hub.close();
    }
  });

  it('runs Addons of plugins with workloads as grids when given its plugins, and the others in the site agents', async () => {
    const dataDir = tempDir('hub-kube-grid');
    const kubeConfig = await kube.kubeconfig(path.join(dataDir, 'kubeconfig.yaml'));
    // --install-crds puts the grid's kinds in too: the addon controller needs them.
    const withWorkloads = definePlugin({
      id: 'web',
      version: '1.0.0',
      engine: '*',
      register: () => undefined,
      workloads: () => ({ deployments: [{ name: 'srv', spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'w', image: 'web:1' }] } } } }] }),
    });
    const plugins = new Map([[withWorkloads.id, withWorkloads]]);
    const hub = await startHub({ dataDir, port: 0, logger: quiet, store: { kind: 'kube', kubeConfig, namespace: 'edgeadm', installCrds: true }, plugins: (id) => plugins.get(id) });
    try {
      const admin = readFileSync(hub.adminTokenFile, 'utf8').trim();
      const post = (url: string, body: unknown): Promise<Response> => fetch(`${hub.url}${url}`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect((await post('/api/v1/sites', { metadata: { name: 'plant-g' }, spec: {} })).status).toBe(201);
      expect((await post('/api/v1/addons', { metadata: { name: 'web' }, spec: { plugin: 'web', sites: ['plant-g'] } })).status).toBe(201);
      expect((await post('/api/v1/addons', { metadata: { name: 'sim' }, spec: { plugin: 'simulator', sites: ['plant-g'] } })).status).toBe(201);
      await waitFor('the DeploymentGrid', async () => (await raw.call('GET', '/apis/superedge.io/v1/namespaces/edgeadm/deploymentgrids/web-srv')).status === 200);
      expect((await raw.call('GET', '/apis/site.superedge.io/v1alpha2/nodeunits/plant-g')).status).toBe(200);
      const addons = await raw.call('GET', '/apis/edgeadm.io/v1alpha1/namespaces/edgeadm/addons');
      const runsAsGrid = Object.fromEntries((addons.body.items as { metadata: { name: string; annotations?: Record<string, string> } }[]).map((a) => [a.metadata.name, a.metadata.annotations?.[RUNS_AS_GRID_ANNOTATION] ?? null]));
      expect(runsAsGrid).toMatchObject({ web: 'true', sim: null });
    } finally {
      await hub.close();
    }
  });

  it('does not start on a cluster without its CRDs, naming the resource', async () => {
    const bare = await startKubeApiServer();
    try {
      const dataDir = tempDir('hub-kube-bare');
      const kubeConfig = await bare.kubeconfig(path.join(dataDir, 'kubeconfig.yaml'));
      const err = await startHub({ dataDir, port: 0, logger: quiet, store: { kind: 'kube', kubeConfig, namespace: 'default' } }).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message).toMatch(/hub-stores.*sites\.edgeadm\.io.*HTTP 404/s);
    } finally {
      await bare.close();
    }
  });

  it('runs as two replicas on one namespace: one admin token, tokens and bootstrap tokens of either accepted by both, commands delivered by the replica holding the site', async () => {
    expect((await raw.call('POST', '/api/v1/namespaces', { metadata: { name: 'replicas' } })).status).toBe(201);
    const dirs = [tempDir('hub-replica-a'), tempDir('hub-replica-b')];
    const kubeConfig = await kube.kubeconfig(path.join(dirs[0]!, 'kubeconfig.yaml'));
    const store = { kind: 'kube' as const, kubeConfig, namespace: 'replicas', installCrds: true };
    // Started at once: they must agree on one admin token.
    const [a, b] = (await Promise.all(dirs.map((dataDir, i) => startHub({ dataDir, port: 0, logger: quiet, replica: `hub-${i}`, store })))) as [Hub, Hub];
    const sockets: WebSocket[] = [];
    try {
      const adminA = readFileSync(a.adminTokenFile, 'utf8').trim();
      expect(readFileSync(b.adminTokenFile, 'utf8').trim()).toBe(adminA);
      expect((await a.tokens.list()).filter((t) => t.role === 'admin')).toHaveLength(1);
      const shared = await raw.call('GET', '/api/v1/namespaces/replicas/secrets/edgeadm-initial-admin-token');
      expect(Buffer.from(shared.body.data.token, 'base64').toString('utf8')).toBe(adminA);

      const api = async (hub: Hub, method: string, url: string, body?: unknown, token = adminA): Promise<{ status: number; body: Record<string, unknown> }> => {
        const r = await fetch(`${hub.url}${url}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await r.text();
        return { status: r.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
      };
      for (const r of [site('plant-a'), thermoProfile, device('pump-a', 'plant-a')]) {
        expect((await api(a, 'PUT', `/api/v1/${r.kind === 'DeviceProfile' ? 'deviceprofiles' : `${r.kind.toLowerCase()}s`}/${r.metadata.name}`, r)).status).toBeLessThan(300);
      }
      // A viewer token made through a, used at once on b; revoked through b, refused by a.
      const viewer = await api(a, 'POST', '/api/v1/tokens', { role: 'viewer' });
      expect(viewer.status).toBe(201);
      expect((await api(b, 'GET', '/api/v1/sites', undefined, viewer.body.token as string)).status).toBe(200);
      expect((await api(b, 'DELETE', `/api/v1/tokens/${viewer.body.id as string}`)).status).toBe(204);
      await waitFor('replica a to refuse the revoked token', async () => (await api(a, 'GET', '/api/v1/sites', undefined, viewer.body.token as string)).status === 401, 10_000);
      // A bootstrap token made on b joins a node through a.
      const bootstrap = await api(b, 'POST', '/api/v1/bootstrap-tokens', { site: 'plant-a' });
      const joined = await api(a, 'POST', '/api/v1/join', { site: 'plant-a', node: 'gw-1' }, bootstrap.body.token as string);
      expect(joined.status).toBe(201);
      expect((await api(b, 'GET', '/api/v1/bootstrap-tokens')).body.items).toEqual([expect.objectContaining({ id: bootstrap.body.id, uses: 1 })]);

      // The site's sync session is on b; a write asked of a is delivered by b, and its result is seen through a.
      const agent = await api(a, 'POST', '/api/v1/tokens', { role: 'agent', site: 'plant-a' });
      const ws = new WebSocket(`${b.url.replace(/^http/, 'ws')}/api/v1/sites/plant-a/sync`, SYNC_PROTOCOL, { headers: { authorization: `Bearer ${agent.body.token as string}` } });
      sockets.push(ws);
      const commands: { id: string; kind?: string; value?: unknown }[] = [];
      const sample = { resource: 'temp', value: 21.5, valueType: 'Float64', origin: 1_700_000_000_000_000_000, quality: 'good' };
      ws.on('message', (data: Buffer) => {
        const msg = JSON.parse(data.toString('utf8')) as { type: string; command?: { id: string; kind?: string; value?: unknown } };
        if (msg.type !== 'command' || !msg.command) return;
        commands.push(msg.command);
        const reported = msg.command.kind === 'read' ? [sample] : msg.command.value;
        ws.send(JSON.stringify({ type: 'command-result', id: msg.command.id, ok: true, reported }));
      });
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      ws.send(JSON.stringify({ type: 'hello', protocol: SYNC_PROTOCOL, site: 'plant-a', resourceVersion: null, have: [], agentVersion: 'test' }));
      await waitFor('the site to be online', async () => ((await api(a, 'GET', '/api/v1/sites/plant-a')).body.status as { phase?: string } | undefined)?.phase === 'Online', 10_000);
      const write = await api(a, 'POST', '/api/v1/sites/plant-a/devices/pump-a/commands', { resource: 'setpoint', value: 42 });
      expect(write.status).toBe(202);
      const id = write.body.id as string;
      await waitFor('the write to succeed', async () => (await api(a, 'GET', `/api/v1/commands/${id}`)).body.state === 'succeeded', 10_000);
      expect(commands).toEqual([expect.objectContaining({ id, value: 42 })]);
      expect((await api(a, 'GET', `/api/v1/commands/${id}`)).body).toMatchObject({ state: 'succeeded', result: { reported: 42 } });
      // A live read waits on a for the result b records.
      const read = await api(a, 'POST', '/api/v1/sites/plant-a/devices/pump-a/read', { resources: ['temp'], timeoutMs: 5000 });
      expect(read.status).toBe(200);
      expect(read.body.readings).toEqual([expect.objectContaining({ resource: 'temp', value: 21.5, device: 'pump-a' })]);
    } finally {
      for (const ws of sockets) ws.terminate();
      await Promise.all([a.close(), b.close()]);
    }
  });
});
