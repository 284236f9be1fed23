/**
 * Site agents against a hub whose resources are custom resources on the
 * Kubernetes API test server (the kube store driver, one namespace per hub):
 * the scenarios of test/support/site-agent-scenarios.ts that the SQLite hub
 * also passes, run unchanged on this store (the link cut at a smaller load,
 * to keep the suite's time), and one of the kube store's own: the hub
 * restarted on the same namespace and data directory while an agent is
 * connected, with the cluster written meanwhile by another client.
 */
import { describe, expect, it } from 'vitest';
import { openKubeStore } from '../core/store/index.ts';
import { kubeStoreTarget } from './support/hub/kube.ts';
import { deferCleanup } from './support/cleanup.ts';
import { quiet, waitFor } from './support/hub-fixture.ts';
import { describeSiteAgentScenarios, expectCounters, highSeq, hubWithSite, loadDevices, readingsOf, startAgent } from './support/site-agent-scenarios.ts';

/** A fresh namespace of this file's Kubernetes API test server for each hub. */
async function kubeStore(): Promise<{ kind: 'kube'; kubeConfig: string; namespace: string }> {
  const { kubeConfig, namespace } = await kubeStoreTarget();
  return { kind: 'kube', kubeConfig, namespace };
}

describeSiteAgentScenarios('site agent and a hub on the kube store', kubeStore, {
  linkCutUnderLoad: { ratePerSecond: 2_000, seconds: 8, outageSeconds: 3 },
  restartWhileHubDown: true,
  commandQueuedOffline: true,
  quietIdleSession: true,
  refusedTokens: true,
});

describe('site agent and a hub on the kube store, restarted', () => {
  const defer = deferCleanup();

  it('keeps a connected agent across a hub restart on the same namespace: changes made meanwhile and after reach the site, telemetry arrives exactly once', async () => {
    const site = 'plant-r';
    const store = await kubeStore();
    const { f, restart } = await hubWithSite(defer, store, site);
    const devices = 5;
    const total = 6_000;
    await loadDevices(f, site, devices);
    await f.apply({ kind: 'Addon', metadata: { name: 'load' }, spec: { plugin: 'load-gen', sites: [site], config: { devices, ratePerSecond: 1_000, total } } });
    const a = await startAgent(defer, f, site, f.hub.url);
    await waitFor('the sync session', () => a.status().sync.connected);
    const connects = a.status().sync.connects;
    await waitFor('readings at the hub', async () => (await f.hub.telemetry.count({ site })) > 500, 10_000);
    const atClose = await f.hub.telemetry.count({ site });
    await f.hub.close();
    await waitFor('the agent to see the hub gone', () => !a.status().sync.connected);
    // The load still runs: readings made while the hub is down wait in the outbox.
    expect(atClose).toBeLessThan(total);
    await waitFor('readings kept in the outbox', () => a.status().outbox.pending > 200, 5_000);

    // The cluster outlives the hub: another client (a second replica, a controller) writes the hub's namespace meanwhile.
    const other = await openKubeStore({ kubeConfig: store.kubeConfig, namespace: store.namespace, logger: quiet });
    defer(() => other.close());
    await other.apply({ apiVersion: 'edgeadm.io/v1alpha1', kind: 'DeviceProfile', metadata: { name: 'valve' }, spec: {
      deviceResources: [{ name: 'opening', attributes: { function: 'setpoint', initial: 7 }, properties: { valueType: 'Uint8', readWrite: 'RW', units: '%', minimum: 0, maximum: 100 } }],
    } });
    await other.apply({ apiVersion: 'edgeadm.io/v1alpha1', kind: 'Device', metadata: { name: 'valve-1' }, spec: { site, profile: 'valve', protocols: { simulator: {} } } });

    const again = await restart();
    await waitFor('the sync session back', () => a.status().sync.connected && a.status().sync.connects > connects, 20_000);
    // A change at the restarted hub reaches the site: the simulator runs the Device written while the hub was down.
    await again.apply({ kind: 'Addon', metadata: { name: 'sim' }, spec: { plugin: 'simulator', sites: [site] } });
    await waitFor('the simulator at the site', () => a.status().plugins.find((p) => p.instance === `simulator@${site}`)?.state === 'running');
    await waitFor('the device written meanwhile up at the site', () => a.status().devices.find((d) => d.device === 'valve-1')?.state === 'up');
    // Every reading, from before, during and after the restart, exactly once and in order.
    await waitFor('every reading at the hub', async () => (await again.hub.telemetry.count({ site })) >= total, 20_000, 100);
    expect(await a.drain(10_000)).toBe(true);
    expect(await again.hub.telemetry.count({ site })).toBe(total);
    expect(await highSeq(again, site)).toBe(a.status().outbox.lastSeq);
    expect(await again.hub.telemetry.streams(site)).toMatchObject([{ held: total, conflicts: 0, quarantined: 0 }]);
    for (let d = 0; d < devices; d++) expectCounters(await readingsOf(again, site, `load-${d}`));
  }, 60_000);
});
