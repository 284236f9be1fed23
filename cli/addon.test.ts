/**
 * `edgeadm addon <plugin>|list|status|remove` (the binary in a child process)
 * against a real hub: values from --set and -f checked against the plugin's
 * config schema before anything is sent; a second Addon with a plugin at a
 * site refused by the hub; `addon status` never showing `running` for an
 * instance that is not (a conflict, an offline or deleted site, nothing
 * reported). `addon edgex`: its service flags, and --dry-run printing
 * exactly the Addon and what it makes per site (Compose projects or grids).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { runEdgeadm, type CliResult as Result } from '../test/support/edgeadm-cli.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHubFixture, tempDir, type HubFixture } from '../test/support/hub-fixture.ts';
import { composeProblems } from '../plugins/edgex/testkit/compose-schema.ts';
import { edgexPreset, parseSetValue, setPath, type AddonSiteRow } from './addon.ts';

// Each case runs the CLI as child processes, several at once: generous on a busy 2-core machine.
const SLOW = 300_000;
const here = path.dirname(fileURLToPath(import.meta.url));
/** Holds the load-gen test plugin, whose config schema has integers with minimums. */
const fixturePlugins = path.join(here, '..', 'test/support/plugins');
let f: HubFixture;
let dir: string;

function edgeadm(args: string[]): Promise<Result> {
  return runEdgeadm(args, {
    EDGEADM_HUB: f.hub.url,
    EDGEADM_TOKEN: f.adminToken,
    EDGEADM_CA_FILE: undefined,
    EDGEADM_PLUGINS__SEARCH_PATHS: `[${fixturePlugins}]`,
    EDGEADM_LOG__LEVEL: 'silent',
  });
}

interface Addon {
  metadata: { name: string };
  spec: { plugin: string; version?: string; config?: Record<string, unknown>; sites?: string[]; siteSelector?: Record<string, string>; templates?: Record<string, Record<string, unknown>> };
}

beforeAll(async () => {
  dir = tempDir('addon-cli');
  f = await startHubFixture();
  await f.apply({ kind: 'Site', metadata: { name: 'plant-a', labels: { region: 'eu' } }, spec: {} });
  await f.apply({ kind: 'Site', metadata: { name: 'plant-b', labels: { region: 'us' } }, spec: {} });
}, 30_000);

afterAll(async () => {
  await f?.hub.close();
});

describe('addon values', () => {
  it('types --set values unless the schema wants text, and nests dotted keys', () => {
    expect(parseSetValue('12')).toBe(12);
    expect(parseSetValue('-1.5e3')).toBe(-1500);
    expect(parseSetValue('true')).toBe(true);
    expect(parseSetValue('null')).toBeNull();
    expect(parseSetValue('[1,"a"]')).toEqual([1, 'a']);
    expect(parseSetValue('{oops')).toBe('{oops');
    expect(parseSetValue('007x')).toBe('007x');
    expect(parseSetValue('123', { type: 'string' })).toBe('123');
    expect(parseSetValue('123', { anyOf: [{ type: 'string' }, { type: 'number' }] })).toBe(123);
    const into: Record<string, unknown> = {};
    expect(setPath(into, ['a', 'b', 'c'], 1)).toBeUndefined();
    expect(setPath(into, ['a', 'd'], 'x')).toBeUndefined();
    expect(into).toEqual({ a: { b: { c: 1 }, d: 'x' } });
    expect(setPath(into, ['a', 'd', 'e'], 2)).toMatch(/'a.d' is already set to "x", not an object/);
  });
});

describe('edgeadm addon', () => {
  it('creates and updates addons from --set, -f and per-site values, checked against the plugin schema', async () => {
    const first = await edgeadm(['addon', 'mqtt', '--site', 'plant-a', '--set', 'onboarding.enabled=false']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/addon 'mqtt' applied: plugin mqtt 0\.2\.0 at sites plant-a/);
    let a = (await f.api<Addon>('GET', '/api/v1/addons/mqtt')).body;
    expect(a.spec).toEqual({ plugin: 'mqtt', sites: ['plant-a'], config: { onboarding: { enabled: false } } });

    const ex = await edgeadm(['addon', 'edgex', '--site', 'plant-a', '--bus-only', '--set', 'qos=1', '--set', 'serviceName.profiles.power-meter=device-modbus']);
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.stdout).toMatch(/addon 'edgex' applied: plugin edgex 0\.3\.0 at sites plant-a/);
    a = (await f.api<Addon>('GET', '/api/v1/addons/edgex')).body;
    expect(a.spec).toEqual({ plugin: 'edgex', sites: ['plant-a'], config: { qos: 1, serviceName: { profiles: { 'power-meter': 'device-modbus' } } } });

    const values = path.join(dir, 'values.yaml');
    writeFileSync(values, 'devices: 4\nratePerSecond: 100\n');
    const lg = await edgeadm(['addon', 'load-gen', '--selector', 'region=eu', '--site', 'plant-b', '-f', values, '--set', 'ratePerSecond=250', '--site-set', 'plant-b:devices=2', '--plugin-version', '^1.0.0', '--name', 'load']);
    expect(lg.code, lg.stderr).toBe(0);
    a = (await f.api<Addon>('GET', '/api/v1/addons/load')).body;
    expect(a.spec).toEqual({
      plugin: 'load-gen',
      version: '^1.0.0',
      sites: ['plant-b'],
      siteSelector: { region: 'eu' },
      config: { devices: 4, ratePerSecond: 250 },
      templates: { 'plant-b': { devices: 2 } },
    });

    // Applying again states the whole spec: the selector and values not given are gone.
    const update = await edgeadm(['addon', 'load-gen', '--name', 'load', '--all-sites']);
    expect(update.code, update.stderr).toBe(0);
    a = (await f.api<Addon>('GET', '/api/v1/addons/load')).body;
    expect(a.spec).toEqual({ plugin: 'load-gen', siteSelector: {} });

    const warned = await edgeadm(['addon', 'simulator', '--site', 'plant-z']);
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toMatch(/warning: no site named 'plant-z' at the hub yet/);
  }, SLOW);

  it('refuses values the schema rejects, unknown plugins and bad flags with exit 2, naming each', async () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'devices: 0\ntickMs: fast\n');
    const list = path.join(dir, 'list.yaml');
    writeFileSync(list, '- 1\n- 2\n');
    const cases: [string[], RegExp][] = [
      [['addon', 'mqtt', '--site', 'plant-a', '--set', 'onboarding.enabled=maybe', '--set', 'colour=red'], /--set: --set onboarding\.enabled must be boolean; --set colour is not a known field/],
      [['addon', 'load-gen', '--site', 'plant-a', '-f', bad], /-f: -f devices must be >= 1; -f tickMs must be (an )?integer/],
      [['addon', 'load-gen', '--site', 'plant-a', '--site-set', 'plant-a:tickMs=0'], /--site-set: \(site plant-a\) tickMs must be >= 1/],
      [['addon', 'load-gen', '--site', 'plant-a', '--site-set', 'devices=1'], /--site-set: 'devices=1' is not site:key=value/],
      [['addon', 'load-gen', '--site', 'plant-a', '-f', list], /-f: '.*list\.yaml' must hold one mapping of config values/],
      [['addon', 'load-gen', '--site', 'plant-a', '--plugin-version', '^2.0.0'], /--plugin-version: the installed plugin 'load-gen' is 1\.0\.0, outside '\^2\.0\.0'/],
      [['addon', 'load-gen', '--site', 'plant-a', '--plugin-version', 'soon'], /--plugin-version: 'soon' is not a semver range/],
      [['addon', 'simulator', '--site', 'plant-a', '--set', 'speed=1'], /--set: plugin 'simulator' takes no config/],
      [['addon', 'bacnet', '--site', 'plant-a'], /<plugin>: no plugin 'bacnet' is installed here; 'edgeadm plugin list'/],
      [['addon', 'edgex', '--site', 'plant-a', '--set', 'mode=docker', '--set', 'serviceName.profiles.meter=a/b'], /--set: --set mode must be one of 'embedded', 'bridge'; --set serviceName\.profiles\.meter must match pattern/],
      [['addon', 'mqtt'], /--site: give the sites to run at/],
      [['addon', 'mqtt', '--site', 'Plant_A'], /--site: 'Plant_A' is not a site name/],
      [['addon', 'mqtt', '--selector', 'region'], /--selector: 'region' is not key=value/],
      [['addon', 'mqtt', '--selector', 'a=b', '--all-sites'], /--all-sites: not with --selector/],
      [['addon', 'mqtt', '--site', 'plant-a', '--name', 'No'], /--name: 'No' is not a resource name/],
      [['addon'], /<plugin>: give a plugin id/],
      [['addon', 'remove'], /missing required argument 'name'/],
      [['addon', 'status', 'Bad_'], /\[name\]: 'Bad_' is not a resource name/],
    ];
    const results = await Promise.all(cases.map(([args]) => edgeadm(args)));
    results.forEach((r, i) => {
      const [args, message] = cases[i]!;
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    });
    // Nothing was sent.
    expect((await f.api('GET', '/api/v1/addons/bacnet')).status).toBe(404);
  }, SLOW);

  it('lists addons in table, json and yaml; shows per-site state; removes', async () => {
    await f.apply({ kind: 'Addon', metadata: { name: 'opc' }, spec: { plugin: 'opcua', siteSelector: { region: 'us' } } });
    await f.hub.store.updateStatus('Addon', 'opc', { sites: { 'plant-b': { state: 'failed', code: 'EDGE_ERR_PLUGIN_CONFIG', message: 'bad endpoint' } } });
    const [table, json, yaml, status] = await Promise.all([
      edgeadm(['addon', 'list']),
      edgeadm(['addon', 'list', '-o', 'json']),
      edgeadm(['-o', 'yaml', 'addon', 'list']),
      edgeadm(['addon', 'status', 'opc']),
    ]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+PLUGIN\s+VERSION\s+TARGETS\s+SITES\s+PROBLEMS\n/);
    expect(table.stdout).toMatch(/\nopc\s+opcua\s+\*\s+sites with region=us\s+1\s+1\n/);
    expect((JSON.parse(json.stdout) as Addon[]).map((x) => x.metadata.name)).toContain('opc');
    expect((parseYaml(yaml.stdout) as Addon[]).find((x) => x.metadata.name === 'opc')?.spec.siteSelector).toEqual({ region: 'us' });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^ADDON\s+PLUGIN\s+SITE\s+SITE PHASE\s+STATE\s+MESSAGE\nopc\s+opcua\s+plant-b\s+Pending\s+failed\s+\[EDGE_ERR_PLUGIN_CONFIG\] bad endpoint\n$/);

    const all = await edgeadm(['addon', 'status', '-o', 'json']);
    const rows = JSON.parse(all.stdout) as { addon: string; site: string; state: string; message: string }[];
    // Nothing reported, and the site never connected: pending, with the reason.
    expect(rows).toContainEqual({ addon: 'mqtt', plugin: 'mqtt', site: 'plant-a', phase: 'Pending', state: 'pending', message: 'the site has never connected' });

    const removed = await edgeadm(['addon', 'remove', 'opc']);
    expect(removed).toMatchObject({ code: 0, stdout: "addon 'opc' removed; its sites stop plugin opcua\n" });
    const again = await edgeadm(['addon', 'rm', 'opc']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/\[EDGE_ERR_HUB_NOT_FOUND\].*opc/);
  }, SLOW);
});

describe('edgeadm addon: conflicts and honest status', () => {
  /** A row of `addon status -o json`. */
  type Row = Omit<AddonSiteRow, 'problem'>;
  const rowsOf = async (...args: string[]): Promise<Row[]> => {
    const r = await edgeadm(['addon', 'status', ...args, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Row[];
  };

  beforeAll(async () => {
    await f.apply({ kind: 'Site', metadata: { name: 'plant-c', labels: { tier: 'x' } }, spec: {} });
    await f.apply({ kind: 'Site', metadata: { name: 'plant-d' }, spec: {} });
  }, 60_000);

  it('fails when another Addon already puts the plugin at a site, naming it; nothing is written', async () => {
    const first = await edgeadm(['addon', 'modbus', '--site', 'plant-c']);
    expect(first.code, first.stderr).toBe(0);
    const second = await edgeadm(['addon', 'modbus', '--selector', 'tier=x', '--name', 'tier-meters']);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/\[EDGE_ERR_ADDON_CONFLICT\] .*Addon 'tier-meters' puts plugin 'modbus' at site 'plant-c', which Addon 'modbus' already puts there/);
    expect((await f.api('GET', '/api/v1/addons/tier-meters')).status).toBe(404);
    // Applying the same Addon again is no conflict with itself.
    const again = await edgeadm(['addon', 'modbus', '--site', 'plant-c', '--site', 'plant-d']);
    expect(again.code, again.stderr).toBe(0);
  }, SLOW);

  it('shows an offline site as unknown, a deleted one as unknown, and nothing reported as pending, never running', async () => {
    await f.hub.store.updateStatus('Site', 'plant-c', { phase: 'Online', lastSeen: new Date().toISOString() });
    await f.hub.store.updateStatus('Site', 'plant-d', { phase: 'Online', lastSeen: new Date().toISOString() });
    const report = await f.api('PUT', '/api/v1/sites/plant-c/addon-status', { addons: { modbus: { state: 'running' } } });
    expect(report.status).toBe(200);
    expect(await rowsOf('modbus')).toEqual([
      { addon: 'modbus', plugin: 'modbus', site: 'plant-c', phase: 'Online', state: 'running' },
      { addon: 'modbus', plugin: 'modbus', site: 'plant-d', phase: 'Online', state: 'pending', message: 'not reported by the site yet' },
    ]);

    const lastSeen = '2026-11-30T08:15:00.000Z';
    await f.hub.store.updateStatus('Site', 'plant-c', { phase: 'Offline', lastSeen });
    const table = await edgeadm(['addon', 'status', 'modbus']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`\\nmodbus\\s+modbus\\s+plant-c\\s+Offline\\s+unknown\\s+site offline since ${lastSeen}; last report: running\\n`));
    // No instance is shown running: the state column is never `running`.
    expect(table.stdout).not.toMatch(/ {2}running {2}/);
    expect(table.stdout).toMatch(/\nmodbus\s+modbus\s+plant-d\s+Online\s+pending\s+not reported by the site yet\n/);

    // A site listed by name that is not at the hub (any more).
    const sim = await edgeadm(['addon', 'simulator', '--site', 'plant-e', '--name', 'sim-e']);
    expect(sim.code, sim.stderr).toBe(0);
    expect(await rowsOf('sim-e')).toEqual([{ addon: 'sim-e', plugin: 'simulator', site: 'plant-e', phase: 'no such site', state: 'pending', message: "no Site 'plant-e' at the hub" }]);
    await f.apply({ kind: 'Site', metadata: { name: 'plant-e' }, spec: {} });
    await f.api('PUT', '/api/v1/sites/plant-e/addon-status', { addons: { 'sim-e': { state: 'running' } } });
    expect((await rowsOf('sim-e'))[0]).toMatchObject({ phase: 'Pending', state: 'running' });
    expect((await f.api('DELETE', '/api/v1/sites/plant-e')).status).toBe(200);
    expect(await rowsOf('sim-e')).toEqual([{ addon: 'sim-e', plugin: 'simulator', site: 'plant-e', phase: 'no such site', state: 'unknown', message: "no Site 'plant-e' at the hub; last report: running" }]);
  }, SLOW);

  it('shows both Addons of an overlap found later, the one that does not run as conflict, each naming the other', async () => {
    await f.apply({ kind: 'Addon', metadata: { name: 'opc-line' }, spec: { plugin: 'opcua', siteSelector: { line: '1' } } });
    await new Promise((r) => setTimeout(r, 5));
    await f.apply({ kind: 'Addon', metadata: { name: 'opc-tier' }, spec: { plugin: 'opcua', siteSelector: { tier: 'x' } } });
    // plant-c (tier=x) gets line=1 as well: a legitimate change, and now both select it.
    await f.apply({ kind: 'Site', metadata: { name: 'plant-c', labels: { tier: 'x', line: '1' } }, spec: {} });
    await f.hub.store.updateStatus('Site', 'plant-c', { phase: 'Online', lastSeen: new Date().toISOString() });
    // The site says both run (as an agent that does not know the rule would).
    await f.api('PUT', '/api/v1/sites/plant-c/addon-status', { addons: { 'opc-line': { state: 'running' }, 'opc-tier': { state: 'running' } } });

    const [line] = await rowsOf('opc-line');
    const [tier] = await rowsOf('opc-tier');
    expect(tier).toMatchObject({ site: 'plant-c', state: 'conflict', code: 'EDGE_ERR_ADDON_CONFLICT' });
    expect(tier!.message).toMatch(/^Addon 'opc-tier' puts plugin 'opcua' at site 'plant-c', which Addon 'opc-line' already puts there/);
    expect(line).toMatchObject({ site: 'plant-c', state: 'running', code: 'EDGE_ERR_ADDON_CONFLICT' });
    expect(line!.message).toMatch(/Addon 'opc-tier' puts plugin 'opcua' at site 'plant-c'/);

    const table = await edgeadm(['addon', 'status', 'opc-tier']);
    expect(table.stdout).toMatch(/\nopc-tier\s+opcua\s+plant-c\s+Online\s+conflict\s+\[EDGE_ERR_ADDON_CONFLICT\] Addon 'opc-tier' puts plugin 'opcua'/);
    const list = await edgeadm(['addon', 'list']);
    expect(list.stdout).toMatch(/\nopc-tier\s+opcua\s+\*\s+sites with tier=x\s+1\s+1\n/);
    expect(list.stdout).toMatch(/\nopc-line\s+opcua\s+\*\s+sites with line=1\s+1\s+1\n/);
  }, SLOW);
});

describe('edgeadm addon edgex', () => {
  it("turns its service flags into the plugin's services block: none is core, device-virtual, app and ui; any brings core; --bus-only none", () => {
    expect(edgexPreset({})).toEqual({ preset: { services: {} }, problems: [] });
    expect(edgexPreset({ device: ['device-modbus'], support: true }).preset).toEqual({
      services: { core: true, app: { enabled: false }, devices: ['device-modbus'], ui: false, support: true },
    });
    expect(edgexPreset({ app: 'mqtt-export', runtime: 'podman' }).preset).toEqual({
      services: { core: true, app: { enabled: true, profile: 'mqtt-export' }, devices: [], ui: false, support: false, runtime: 'podman' },
    });
    expect(edgexPreset({ app: true }).preset).toMatchObject({ services: { app: { enabled: true } } });
    expect(edgexPreset({ busOnly: true })).toEqual({ preset: {}, problems: [] });
    expect(edgexPreset({ secure: true }).preset).toEqual({ services: { secure: true } });
    expect(edgexPreset({ secure: true, ui: true }).preset).toMatchObject({ services: { secure: true, ui: true, core: true } });
    expect(edgexPreset({ busOnly: true, secure: true }).problems).toEqual([{ argument: '--bus-only', reason: expect.stringContaining('--secure') }]);
    expect(edgexPreset({ busOnly: true, ui: true }).problems).toEqual([{ argument: '--bus-only', reason: expect.stringContaining('not with --core') }]);
    expect(edgexPreset({ device: ['device-rest', 'device-rest'] }).problems).toEqual([{ argument: '--device', reason: "'device-rest' is given twice" }]);
  });

  it('--dry-run prints the Addon and each site\'s Compose project or grids, applies nothing, and names a bad flag', async () => {
    const compose = await edgeadm(['addon', 'edgex', '--selector', 'region=eu', '--site', 'plant-b', '--support', '--device', 'device-mqtt', '--name', 'edgex-dry', '--dry-run', '-o', 'yaml']);
    expect(compose.code, compose.stderr).toBe(0);
    const docs = compose.stdout.split(/^---$/m).map((d) => parseYaml(d) as { name?: string; services: Record<string, unknown> });
    expect(docs[0]).toMatchObject({ kind: 'Addon', metadata: { name: 'edgex-dry' }, spec: { plugin: 'edgex', sites: ['plant-b'], siteSelector: { region: 'eu' }, config: { services: { support: true, devices: ['device-mqtt'] } } } });
    expect(docs.slice(1).map((d) => d.name)).toEqual(['edgeadm-edgex-plant-a', 'edgeadm-edgex-plant-b']);
    for (const d of docs.slice(1)) expect(composeProblems(d)).toEqual([]);
    expect(Object.keys(docs[1]!.services)).toEqual(expect.arrayContaining(['core-data', 'support-scheduler', 'device-mqtt']));
    expect((await f.api('GET', '/api/v1/addons/edgex-dry')).status).toBe(404);

    const kube = await edgeadm(['addon', 'edgex', '--site', 'plant-a', '--site-set', 'plant-a:services.ui=false', '--dry-run', '--platform', 'kubernetes', '--namespace', 'edge', '-o', 'json']);
    expect(kube.code, kube.stderr).toBe(0);
    const objs = JSON.parse(kube.stdout) as { kind: string; metadata: { name: string; namespace?: string } }[];
    expect(objs.map((o) => o.kind)).toEqual(expect.arrayContaining(['Addon', 'NodeGroup', 'DeploymentGrid', 'ServiceGrid']));
    const grids = objs.filter((o) => o.kind === 'DeploymentGrid');
    expect(grids.map((g) => g.metadata.name)).toContain('edgex-core-keeper');
    expect(grids.every((g) => g.metadata.namespace === 'edge')).toBe(true);
    // The site's template: no UI there, so no UI grid at all.
    expect(grids.map((g) => g.metadata.name)).not.toContain('edgex-ui');

    // Secure mode: the security services in Compose; on Kubernetes the UI is refused, naming the field.
    const secure = await edgeadm(['addon', 'edgex', '--site', 'plant-a', '--secure', '--dry-run', '-o', 'json']);
    expect(secure.code, secure.stderr).toBe(0);
    const project = (JSON.parse(secure.stdout) as { services?: Record<string, unknown> }[])[1]!;
    expect(Object.keys(project.services!)).toEqual(expect.arrayContaining(['secret-store', 'security-bootstrapper', 'nginx']));
    const secureKube = await edgeadm(['addon', 'edgex', '--site', 'plant-a', '--secure', '--dry-run', '--platform', 'kubernetes']);
    expect(secureKube.code).toBe(2);
    expect(secureKube.stderr).toMatch(/--platform: \(site plant-a\) edgex services config: services\.ui .*gateway/);

    const bad = await edgeadm(['addon', 'edgex', '--site', 'plant-a', '--device', 'device-opcua', '--dry-run']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--device: services\.devices\[0\] must be one of 'device-virtual', 'device-rest', 'device-modbus', 'device-mqtt'/);
  }, SLOW);
});
