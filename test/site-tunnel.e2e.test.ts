/**
 * A site agent that reaches the hub only through the tunnel: it joins with a
 * bootstrap token, dials tunnel-cloud over TLS with its node credential, and
 * its sync session and its REST or MQTT uplink all ride that one connection.
 * The network between them (a TCP relay) is cut under load: nothing is lost.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, fetch } from 'undici';
import { describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../core/hub/index.ts';
import type { Reading } from '../core/sdk/index.ts';
import { startSiteAgent, type SiteAgent } from '../sites/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { quiet, tempDir, waitFor } from './support/hub-fixture.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';
import { LOAD_PROFILE, loadGenDevices } from './support/load-gen-devices.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fixturePlugins = path.join(repo, 'test/support/plugins');
const defer = deferCleanup();

interface Setup {
  hub: Hub;
  api(method: string, p: string, body?: unknown, token?: string): Promise<{ status: number; body: Record<string, unknown> }>;
}

async function hubWithSite(site: string): Promise<Setup> {
  const hub = await startHub({ dataDir: tempDir('hub-tun'), port: 0, logger: quiet, tls: true, mqttPort: 0 });
  defer(() => hub.close());
  const admin = readFileSync(hub.adminTokenFile, 'utf8').trim();
  const dispatcher = new Agent({ connect: { ca: hub.caCert! } });
  defer(() => dispatcher.close());
  const api: Setup['api'] = async (method, p, body, token = admin) => {
    const res = await fetch(`${hub.url}${p}`, {
      method,
      dispatcher,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  expect((await api('PUT', `/api/v1/sites/${site}`, { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Site', metadata: { name: site }, spec: {} })).status).toBeLessThan(300);
  return { hub, api };
}

async function joinNode(s: Setup, site: string, node: string): Promise<{ credential: string; caCert: string }> {
  const bt = await s.api('POST', '/api/v1/bootstrap-tokens', { site });
  const j = await s.api('POST', '/api/v1/join', { site, node }, bt.body.token as string);
  expect(j.status).toBe(201);
  return { credential: j.body.credential as string, caCert: j.body.caCert as string };
}

async function tunnelAgent(site: string, node: string, url: string, joined: { credential: string; caCert: string }, uplink: 'rest' | 'mqtt'): Promise<SiteAgent> {
  const a = await startSiteAgent({
    site,
    token: joined.credential,
    tunnel: { url, node, ca: joined.caCert, backoff: { initialMs: 50, maxMs: 500 } },
    uplink: uplink === 'mqtt' ? { kind: 'mqtt' } : { kind: 'rest' },
    dataDir: tempDir(`site-${site}`),
    logger: quiet,
    broker: false,
    plugins: { searchPaths: [fixturePlugins], nodeModules: [] },
    syncBackoff: { initialMs: 50, maxMs: 500 },
    forwarder: { backoff: { initialMs: 50, maxMs: 500 } },
  });
  defer(() => a.stop());
  return a;
}

async function readingsOf(hub: Hub, site: string, device: string): Promise<Reading[]> {
  const out: Reading[] = [];
  let cursor: string | undefined;
  do {
    const page = await hub.telemetry.query({ site, device, limit: 10_000, ...(cursor ? { cursor } : {}) });
    out.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return out.sort((a, b) => a.seq - b.seq);
}

describe('site agent through the tunnel', () => {
  for (const uplink of ['rest', 'mqtt'] as const) {
    it(`syncs and delivers every reading over the tunnel (${uplink} uplink), across a cut of the link`, async () => {
      const site = `plant-${uplink}`;
      const s = await hubWithSite(site);
      const joined = await joinNode(s, site, `gw-${uplink}`);
      // The only way from the site to the hub: a relay in front of the hub's TLS port that the test cuts.
      const hubPort = Number(new URL(s.hub.url).port);
      const relay = await startTcpProxy({ host: '127.0.0.1', port: hubPort });
      defer(() => relay.close());
      const total = 20_000;
      const a = await tunnelAgent(site, `gw-${uplink}`, `wss://127.0.0.1:${relay.port}/api/v1/tunnel`, joined, uplink);
      await waitFor('the tunnel and the sync session', () => a.status().tunnel?.connected && a.status().sync.connected);
      for (const r of [LOAD_PROFILE, ...loadGenDevices(site, 4)]) {
        expect((await s.api('PUT', `/api/v1/${r.kind === 'Device' ? 'devices' : 'deviceprofiles'}/${r.metadata.name}`, r)).status).toBeLessThan(300);
      }
      // The Addon reaches the site through the sync session inside the tunnel.
      const put = await s.api('PUT', '/api/v1/addons/load', { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Addon', metadata: { name: 'load' }, spec: { plugin: 'load-gen', sites: [site], config: { devices: 4, ratePerSecond: 2_000, total } } });
      expect(put.status).toBeLessThan(300);
      await waitFor('readings at the hub', async () => (await s.hub.telemetry.count({ site })) > 2_000, 20_000);
      relay.down();
      await waitFor('the tunnel down', () => !a.status().tunnel?.connected);
      await new Promise((r) => setTimeout(r, 2_000));
      expect(a.status().outbox.pending).toBeGreaterThan(0);
      relay.up();
      await waitFor('every reading at the hub', async () => (await s.hub.telemetry.count({ site })) === total, 40_000, 200);
      expect(await a.drain(10_000)).toBe(true);
      for (let d = 0; d < 4; d++) {
        const rs = await readingsOf(s.hub, site, `load-${d}`);
        rs.forEach((r, i) => {
          if (r.value !== i + 1) throw new Error(`load-${d}: reading #${i + 1} has value ${JSON.stringify(r.value)}`);
        });
      }
      expect(a.status().tunnel?.connects).toBeGreaterThanOrEqual(2);
    }, 90_000);
  }
});
