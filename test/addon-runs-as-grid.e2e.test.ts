/**
 * An Addon a hub on Kubernetes runs as grids (annotated by core/grid's
 * addon controller) is not started by the site's agent, which reports
 * nothing about it; a report the site sends anyway is ignored, so the
 * status stays the grids'. Taking the annotation off hands the Addon back
 * to the agent. The hub here is the embedded one: the annotation, not the
 * store, is what the agent and the hub's report route go by.
 *
 * One run as grids with a site half (`with-site`) is started by the agent,
 * whose reports the hub takes; a site whose workloads are not running yet
 * is served in their state.
 */
import { describe, expect, it } from 'vitest';
import { RUNS_AS_GRID_ANNOTATION, RUNS_AS_GRID_WITH_SITE, type AddonObject } from '../core/store/index.ts';
import { startSiteAgent } from '../sites/index.ts';
import { deferCleanup } from './support/cleanup.ts';
import { quiet, startHubFixture, tempDir, waitFor } from './support/hub-fixture.ts';

const defer = deferCleanup();

describe('an Addon run as grids', () => {
  it('is left alone by the site agent and keeps the status the grids give it', async () => {
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-g';
    await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
    const gridStatus = { sites: { [site]: { state: 'running', message: '1 workload(s) ready' } } };
    await f.apply({ kind: 'Addon', metadata: { name: 'sim', annotations: { [RUNS_AS_GRID_ANNOTATION]: 'true' } }, spec: { plugin: 'simulator', sites: [site] } });
    const stored = (await f.hub.store.get<AddonObject>('Addon', 'sim'))!;
    await f.hub.store.updateStatus('Addon', 'sim', gridStatus, { resourceVersion: stored.metadata.resourceVersion! });
    // A second Addon the agent does run, to know it has applied its replica.
    await f.apply({ kind: 'Addon', metadata: { name: 'mqtt' }, spec: { plugin: 'mqtt', sites: [site] } });
    const token = await f.agentToken(site);
    const a = await startSiteAgent({
      site,
      hubUrl: f.hub.url,
      token,
      dataDir: tempDir('site-grid-addon'),
      logger: quiet,
      broker: false,
      syncBackoff: { initialMs: 50, maxMs: 500 },
      forwarder: { backoff: { initialMs: 50, maxMs: 500 }, maxDelayMs: 20 },
    });
    defer(() => a.stop());
    const statusOf = async (name: string) => (await f.hub.store.get<AddonObject>('Addon', name))?.status?.sites?.[site];
    await waitFor('the mqtt Addon reported', async () => (await statusOf('mqtt')) !== undefined);
    expect(a.status().plugins.map((p) => p.plugin)).not.toContain('simulator');
    expect(await statusOf('sim')).toEqual(gridStatus.sites[site]);

    // The site's own credential cannot overwrite it.
    const r = await f.api<{ updated: string[]; ignored: string[] }>('PUT', `/api/v1/sites/${site}/addon-status`, { addons: { sim: { state: 'failed', message: 'says the site' } } }, token);
    expect([r.status, r.body.ignored]).toEqual([200, ['sim']]);
    expect(await statusOf('sim')).toEqual(gridStatus.sites[site]);
    const served = await f.api<AddonObject>('GET', '/api/v1/addons/sim');
    expect(served.body.status?.sites?.[site]).toEqual(gridStatus.sites[site]);

    // Handed back: the agent runs it.
    await f.apply({ kind: 'Addon', metadata: { name: 'sim' }, spec: { plugin: 'simulator', sites: [site] } });
    await waitFor('the agent runs the simulator', () => a.status().plugins.some((p) => p.plugin === 'simulator' && p.state === 'running'));
  });

  it('with a site half: the agent runs that half and reports it, and the hub serves the workloads\' state until they run', async () => {
    const f = await startHubFixture();
    defer(() => f.hub.close());
    const site = 'plant-h';
    await f.apply({ kind: 'Site', metadata: { name: site }, spec: {} });
    await f.apply({ kind: 'Addon', metadata: { name: 'sim', annotations: { [RUNS_AS_GRID_ANNOTATION]: RUNS_AS_GRID_WITH_SITE } }, spec: { plugin: 'simulator', sites: [site] } });
    const setWorkloads = async (state: string, message: string): Promise<void> => {
      const stored = (await f.hub.store.get<AddonObject>('Addon', 'sim'))!;
      await f.hub.store.updateStatus('Addon', 'sim', { ...stored.status, workloads: { [site]: { state, message } } }, { resourceVersion: stored.metadata.resourceVersion! });
    };
    await setWorkloads('starting', 'sim-db: 0/1 ready');
    const a = await startSiteAgent({
      site,
      hubUrl: f.hub.url,
      token: await f.agentToken(site),
      dataDir: tempDir('site-grid-half'),
      logger: quiet,
      broker: false,
      syncBackoff: { initialMs: 50, maxMs: 500 },
      forwarder: { backoff: { initialMs: 50, maxMs: 500 }, maxDelayMs: 20 },
    });
    defer(() => a.stop());
    await waitFor('the agent runs the site half', () => a.status().plugins.some((p) => p.plugin === 'simulator' && p.state === 'running'));
    await waitFor('the site reported it', async () => (await f.hub.store.get<AddonObject>('Addon', 'sim'))?.status?.sites?.[site]?.state === 'running');
    const served = async () => (await f.api<AddonObject>('GET', '/api/v1/addons/sim')).body.status?.sites?.[site];
    expect(await served()).toEqual({ state: 'starting', message: 'workloads: sim-db: 0/1 ready; site: running' });
    // The site's report wrote its own entry only: the workloads' states are the controller's.
    expect((await f.hub.store.get<AddonObject>('Addon', 'sim'))?.status?.workloads).toEqual({ [site]: { state: 'starting', message: 'sim-db: 0/1 ready' } });
    await setWorkloads('running', '1 workload(s) ready');
    expect((await served())?.state).toBe('running');
  });
});
