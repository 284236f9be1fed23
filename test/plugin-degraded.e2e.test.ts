/**
 * A plugin instance that runs but cannot do its job says so, with the
 * cause, and that reaches the operator: the edgex addon in mode bridge at a
 * site agent, pointed at an EdgeX that does not answer, is `degraded` in
 * its Addon's status at the hub with the bridge's coded error, and counts
 * as a problem where `edgeadm status` and `edgeadm addon status` look
 * (addonSiteRows); once EdgeX answers it is `running` again, with no error.
 */
import { createServer, type Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import { addonSiteRows } from '../cli/addon.ts';
import type { AddonObject, SiteObject } from '../core/store/index.ts';
import { startSiteAgent } from '../sites/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { quiet, startHubFixture, tempDir, waitFor, type HubFixture } from './support/hub-fixture.ts';
import { freePort } from './support/tcp-services.ts';

const defer = deferCleanup();

/** core-metadata with nothing in it: the two lists the bridge reads. */
function emptyCoreMetadata(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const field = path === '/api/v3/deviceprofile/all' ? 'profiles' : path === '/api/v3/device/all' ? 'devices' : undefined;
    res.writeHead(field ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(field ? { apiVersion: 'v3', statusCode: 200, totalCount: 0, [field]: [] } : { apiVersion: 'v3', statusCode: 404, message: 'no route' }));
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

async function addonAt(f: HubFixture, site: string): Promise<{ addon: AddonObject; sites: SiteObject[] }> {
  const addon = (await f.api<AddonObject>('GET', '/api/v1/addons/edgex')).body;
  const sites = (await f.api<{ items: SiteObject[] }>('GET', '/api/v1/sites')).body.items;
  expect(sites.some((s) => s.metadata.name === site)).toBe(true);
  return { addon, sites };
}

describe('a degraded plugin instance', () => {
  it('reaches the hub as degraded with the cause, is a problem for edgeadm status, and clears when the peer answers', { timeout: 60_000 }, async () => {
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-dg';
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
    await f.apply({
      kind: 'Addon',
      metadata: { name: 'edgex' },
      spec: { plugin: 'edgex', sites: [site], config: { mode: 'bridge', publish: false, subscribe: false, bridge: { metadataUrl: url, commandUrl: url, pollInterval: '200ms', timeout: '500ms', maxRetryInterval: '300ms' } } },
    });
    const a = await startSiteAgent({
      site,
      hubUrl: f.hub.url,
      token: await f.agentToken(site),
      dataDir: tempDir('agent-dg'),
      logger: quiet,
      broker: { host: '127.0.0.1', port: 0 },
      syncBackoff: { initialMs: 50, maxMs: 500 },
      forwarder: { backoff: { initialMs: 50, maxMs: 500 } },
    });
    defer(() => a.stop());

    // Nothing listens: the instance runs, degraded, and the hub shows why.
    const degraded = await waitFor('the degraded report at the hub', async () => {
      const st = (await addonAt(f, site)).addon.status?.sites?.[site];
      return st?.state === 'degraded' ? st : undefined;
    });
    expect(degraded).toMatchObject({ code: 'EDGE_ERR_EDGEX_BRIDGE_UNREACHABLE', message: expect.stringContaining(`EdgeX core-metadata at ${url}`) });
    expect(a.status().plugins.find((p) => p.plugin === 'edgex')).toMatchObject({ state: 'degraded', error: { code: 'EDGE_ERR_EDGEX_BRIDGE_UNREACHABLE' } });
    const { addon, sites } = await addonAt(f, site);
    expect(addonSiteRows([addon], sites)).toEqual([expect.objectContaining({ addon: 'edgex', site, state: 'degraded', code: 'EDGE_ERR_EDGEX_BRIDGE_UNREACHABLE', problem: true })]);

    // EdgeX answers: running again, the cause gone, no longer a problem.
    const server = await emptyCoreMetadata(port);
    defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const well = await waitFor('the running report at the hub', async () => {
      const st = (await addonAt(f, site)).addon.status?.sites?.[site];
      return st?.state === 'running' ? st : undefined;
    });
    expect(well).toEqual({ state: 'running', observedGeneration: expect.any(Number) });
    const after = await addonAt(f, site);
    expect(addonSiteRows([after.addon], after.sites)[0]).toMatchObject({ state: 'running', problem: false });
  });
});
