/**
 * `edgeadm status` (the binary in a child process) against a real hub: every
 * Addon instance that is not running is listed as a problem with its site
 * and message (failed, in conflict — both Addons, each naming the other —,
 * unknown because its site is offline), and one that runs or has only just
 * been asked for is not. Pending too long is a problem: checked on the rows
 * the command builds, read from the same hub, a few minutes on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddonSpec, AddonStatus, SiteSpec, SiteStatus } from '../core/store/index.ts';
import { runEdgeadm, type CliResult } from '../test/support/edgeadm-cli.ts';
import { startHubFixture, type HubFixture } from '../test/support/hub-fixture.ts';
import { addonSiteRows, PENDING_GRACE_MS } from './addon.ts';
import type { Obj } from './resources.ts';
import type { StatusReport } from './status.ts';

// Each case runs the CLI as child processes, several at once: generous on a busy 2-core machine.
const SLOW = 300_000;
let f: HubFixture;

function edgeadm(args: string[]): Promise<CliResult> {
  return runEdgeadm(args, { EDGEADM_HUB: f.hub.url, EDGEADM_TOKEN: f.adminToken, EDGEADM_CA_FILE: undefined, EDGEADM_LOG__LEVEL: 'silent' });
}

const LAST_SEEN = '2026-11-30T08:15:00.000Z';

beforeAll(async () => {
  f = await startHubFixture();
  await f.apply({ kind: 'Site', metadata: { name: 'plant-a', labels: { zone: 'x' } }, spec: {} });
  await f.apply({ kind: 'Site', metadata: { name: 'plant-b' }, spec: {} });
  await f.hub.store.updateStatus('Site', 'plant-a', { phase: 'Online', lastSeen: new Date().toISOString() });
  await f.hub.store.updateStatus('Site', 'plant-b', { phase: 'Offline', lastSeen: LAST_SEEN });

  await f.apply({ kind: 'Addon', metadata: { name: 'sim' }, spec: { plugin: 'simulator', sites: ['plant-a'] } });
  await f.apply({ kind: 'Addon', metadata: { name: 'mqtt' }, spec: { plugin: 'mqtt', sites: ['plant-a'] } });
  await f.apply({ kind: 'Addon', metadata: { name: 'load' }, spec: { plugin: 'load-gen', sites: ['plant-a'] } });
  await f.apply({ kind: 'Addon', metadata: { name: 'meters' }, spec: { plugin: 'modbus', sites: ['plant-b'] } });
  // Two selectors that overlap once plant-a is labelled line=1 too; opc-line is the older.
  await f.apply({ kind: 'Addon', metadata: { name: 'opc-line' }, spec: { plugin: 'opcua', siteSelector: { line: '1' } } });
  await new Promise((r) => setTimeout(r, 5));
  await f.apply({ kind: 'Addon', metadata: { name: 'opc-zone' }, spec: { plugin: 'opcua', siteSelector: { zone: 'x' } } });
  await f.apply({ kind: 'Site', metadata: { name: 'plant-a', labels: { zone: 'x', line: '1' } }, spec: {} });

  // What the sites said: plant-b before it went offline.
  const put = async (site: string, addons: Record<string, unknown>): Promise<void> => {
    const r = await f.api('PUT', `/api/v1/sites/${site}/addon-status`, { addons });
    if (r.status !== 200) throw new Error(`addon-status ${site}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  await put('plant-a', { sim: { state: 'failed', code: 'EDGE_ERR_PLUGIN_START', message: 'driver crashed' }, mqtt: { state: 'running' }, 'opc-line': { state: 'running' }, 'opc-zone': { state: 'running' } });
  await put('plant-b', { meters: { state: 'running' } });
}, 120_000);

afterAll(async () => {
  await f?.hub.close();
});

describe('edgeadm status: addon problems', () => {
  it('lists every instance that is not running, with its site and message; both Addons of a conflict name each other', async () => {
    const json = await edgeadm(['status', '-o', 'json']);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as StatusReport;
    expect(report.addons.total).toBe(6);
    const problems = [...report.addons.withProblems].sort((a, b) => a.addon.localeCompare(b.addon));
    expect(problems).toEqual([
      { addon: 'meters', site: 'plant-b', state: 'unknown', message: `site offline since ${LAST_SEEN}; last report: running` },
      { addon: 'opc-line', site: 'plant-a', state: 'running', code: 'EDGE_ERR_ADDON_CONFLICT', message: expect.stringMatching(/^Addon 'opc-zone' puts plugin 'opcua' at site 'plant-a', which Addon 'opc-line' already puts there/) },
      { addon: 'opc-zone', site: 'plant-a', state: 'conflict', code: 'EDGE_ERR_ADDON_CONFLICT', message: expect.stringMatching(/^Addon 'opc-zone' puts plugin 'opcua' at site 'plant-a', which Addon 'opc-line' already puts there/) },
      { addon: 'sim', site: 'plant-a', state: 'failed', code: 'EDGE_ERR_PLUGIN_START', message: 'driver crashed' },
    ]);

    const text = await edgeadm(['status']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^Addons:\s+6: 4 site\(s\) with problems$/m);
    expect(text.stdout).toMatch(/^Addon problems:$/m);
    expect(text.stdout).toMatch(new RegExp(`^ {2}meters at plant-b unknown \\(site offline since ${LAST_SEEN}; last report: running\\)$`, 'm'));
    expect(text.stdout).toMatch(/^ {2}opc-zone at plant-a conflict \(\[EDGE_ERR_ADDON_CONFLICT\] Addon 'opc-zone' puts plugin 'opcua' at site 'plant-a', which Addon 'opc-line' already puts there; .*\)$/m);
    expect(text.stdout).toMatch(/^ {2}opc-line at plant-a running \(\[EDGE_ERR_ADDON_CONFLICT\] Addon 'opc-zone' puts plugin 'opcua' at site 'plant-a', which Addon 'opc-line'.*\)$/m);
    expect(text.stdout).toMatch(/^ {2}sim at plant-a failed \(\[EDGE_ERR_PLUGIN_START\] driver crashed\)$/m);
    // Running, and only just asked for: not problems.
    expect(text.stdout).not.toMatch(/^ {2}(mqtt|load) at /m);
  }, SLOW);

  it('counts an instance pending longer than the grace period as a problem, with why', async () => {
    const [addons, sites] = await Promise.all([
      f.api<{ items: Obj<AddonSpec, AddonStatus>[] }>('GET', '/api/v1/addons'),
      f.api<{ items: Obj<SiteSpec, SiteStatus>[] }>('GET', '/api/v1/sites'),
    ]);
    const pendingLoad = (now: number) => addonSiteRows(addons.body.items, sites.body.items, now).find((r) => r.addon === 'load');
    expect(pendingLoad(Date.now())).toMatchObject({ site: 'plant-a', state: 'pending', message: 'not reported by the site yet', problem: false });
    expect(pendingLoad(Date.now() + PENDING_GRACE_MS + 1000)).toMatchObject({ site: 'plant-a', state: 'pending', message: 'not reported by the site yet', problem: true });
    // A running one stays fine however long it runs.
    expect(addonSiteRows(addons.body.items, sites.body.items, Date.now() + 86_400_000).find((r) => r.addon === 'mqtt')).toMatchObject({ state: 'running', problem: false });
  });
});
