/**
 * `edgeadm site create|list|show|delete`, `node list`, `status`, and `logs` usage errors
 * (the binary in a child process) against a real hub.
 */
import { createServer } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { RUNS_AS_GRID_ANNOTATION } from '../core/store/index.ts';
import { runEdgeadm, type CliResult as Result } from '../test/support/edgeadm-cli.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHubFixture, type HubFixture } from '../test/support/hub-fixture.ts';

const SLOW = 120_000;
let f: HubFixture;

function edgeadm(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return runEdgeadm(args, { EDGEADM_HUB: f.hub.url, EDGEADM_TOKEN: f.adminToken, EDGEADM_CA_FILE: undefined, ...env });
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

beforeAll(async () => {
  f = await startHubFixture();
}, 30_000);

afterAll(async () => {
  await f?.hub.close();
});

describe('edgeadm site, node, status', () => {
  it('creates, lists, shows and deletes sites', async () => {
    const created = await edgeadm(['site', 'create', 'plant-a', '--label', 'region=eu', '--display-name', 'Plant A']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^site 'plant-a' created; join a node with: edgeadm token create --site plant-a/);
    expect((await f.api<{ metadata: { labels: Record<string, string> }; spec: { displayName: string } }>('GET', '/api/v1/sites/plant-a')).body).toMatchObject({
      metadata: { labels: { region: 'eu' } },
      spec: { displayName: 'Plant A' },
    });
    const dup = await edgeadm(['site', 'create', 'plant-a']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/\[EDGE_ERR_STORE_EXISTS\]/);

    await f.apply({ kind: 'Site', metadata: { name: 'plant-b' }, spec: {} });
    const now = new Date().toISOString();
    // What plant-b's agent reported: a full disk, and 10 readings acknowledged of which the hub holds 6.
    await f.hub.store.updateStatus('Site', 'plant-b', {
      phase: 'Online',
      lastSeen: now,
      agentVersion: '0.1.0',
      agents: {
        'node:gw-1': {
          health: { state: 'degraded', problems: [{ component: 'outbox', code: 'SQLITE_FULL', message: 'database or disk is full', since: now }] },
          telemetry: { stream: 'stream-gw-1', streams: ['stream-gw-1'], firstSeq: 1, lastSeq: 12, ackedSeq: 10, pending: 2, droppedEver: 0, notStored: 3 },
          reportedAt: now,
        },
      },
    });
    const r = { site: 'plant-b', device: 'd-1', profile: 'p', resource: 'r', value: 1, valueType: 'Float64' as const, origin: Date.now() * 1e6, quality: 'good' as const };
    await f.hub.telemetry.ingest({ site: 'plant-b', producer: 'node:gw-1', stream: { id: 'stream-gw-1', lastSeq: 12 } }, [1, 2, 3, 5, 6, 8].map((seq) => ({ ...r, seq })));
    await f.apply({ kind: 'DeviceProfile', metadata: { name: 'p' }, spec: { deviceResources: [{ name: 'r', properties: { valueType: 'Float64', readWrite: 'R' } }] } });
    await f.apply({ kind: 'Device', metadata: { name: 'd-1' }, spec: { site: 'plant-b', profile: 'p', protocols: { simulator: {} } } });
    await f.apply({ kind: 'Node', metadata: { name: 'gw-1' }, spec: { site: 'plant-b' } });
    await f.hub.store.updateStatus('Node', 'gw-1', { connected: true, lastSeen: new Date().toISOString(), tunnel: { replica: 'hub', since: new Date().toISOString() } });
    await f.apply({ kind: 'Addon', metadata: { name: 'sim' }, spec: { plugin: 'simulator', sites: ['plant-b'] } });
    // As a hub on Kubernetes marks an Addon its addon controller runs as grids.
    await f.apply({ kind: 'Addon', metadata: { name: 'web', annotations: { [RUNS_AS_GRID_ANNOTATION]: 'true' } }, spec: { plugin: 'mqtt', sites: ['plant-b'] } });
    await f.apply({ kind: 'Node', metadata: { name: 'gw-2' }, spec: { site: 'plant-b' } });

    const [table, json, yaml, show, showJson] = await Promise.all([
      edgeadm(['site', 'list']),
      edgeadm(['site', 'list', '-o', 'json']),
      edgeadm(['site', 'ls', '-o', 'yaml']),
      edgeadm(['site', 'show', 'plant-b']),
      edgeadm(['site', 'show', 'plant-b', '-o', 'json']),
    ]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+PHASE\s+LAST SEEN\s+AGENT\s+NODES\s+DEVICES\s+LABELS\n/);
    expect(table.stdout).toMatch(/\nplant-a\s+Pending\s+-\s+-\s+0\s+0\s+region=eu\n/);
    expect(table.stdout).toMatch(/\nplant-b\s+Online\s+\d+s ago\s+0\.1\.0\s+2\s+1\s+-\n/);
    expect((JSON.parse(json.stdout) as { metadata: { name: string } }[]).map((s) => s.metadata.name).sort()).toEqual(['plant-a', 'plant-b']);
    expect((parseYaml(yaml.stdout) as { status?: { phase?: string } }[]).some((s) => s.status?.phase === 'Online')).toBe(true);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/^Phase:\s+Online$/m);
    expect(show.stdout).toMatch(/^Agent version:\s+0\.1\.0$/m);
    expect(show.stdout).toMatch(/^ {2}- gw-1 \(connected, last seen \d+s ago\)$/m);
    expect(show.stdout).toMatch(/^Devices:\s+1$/m);
    expect(show.stdout).toMatch(/^ {2}- sim \(plugin simulator, pending\)$/m);
    // The site as a unit of the grid, and where each Addon runs.
    expect(show.stdout).toMatch(/^Unit:\s+plant-b: 1\/2 nodes connected$/m);
    expect(show.stdout).toMatch(/^ {2}- web \(plugin mqtt, pending, as grids on Kubernetes\)$/m);
    const shown = JSON.parse(showJson.stdout) as { unit: unknown; addons: { name: string; runsAs: string }[] };
    expect(shown.unit).toEqual({ name: 'plant-b', nodes: 2, connected: 1 });
    expect(shown.addons.map((a) => [a.name, a.runsAs])).toEqual([['sim', 'agent'], ['web', 'grid']]);

    const nodes = await edgeadm(['node', 'list', '--site', 'plant-b']);
    expect(nodes.code, nodes.stderr).toBe(0);
    expect(nodes.stdout).toMatch(
      /^NAME\s+SITE\s+CONNECTED\s+LAST SEEN\s+TUNNEL REPLICA\s+HOST KEYS\s+STANDING\s+PEERS VOTE\s+LITE-APISERVER\ngw-1\s+plant-b\s+yes\s+\d+s ago\s+hub\s+0\s+connected\s+-\s+-\ngw-2\s+plant-b\s+no\s+-\s+-\s+0\s+disconnected\s+-\s+-\n$/,
    );
    const none = await edgeadm(['node', 'list', '--site', 'plant-a', '-o', 'json']);
    expect(JSON.parse(none.stdout)).toEqual([]);

    const status = await edgeadm(['status', '-o', 'json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      hub: { url: f.hub.url, status: 'ok' },
      sites: { total: 2, online: 1, offline: 0, pending: 1, offlineNames: [], degraded: [{ site: 'plant-b', problems: [{ component: 'outbox', code: 'SQLITE_FULL' }] }] },
      nodes: { total: 2, connected: 1, down: [], disconnectedHealthy: 0 },
      devices: { total: 1 },
      addons: { total: 2, withProblems: [] },
      // plant-a never ran an agent.
      telemetry: { ok: 0, unknown: 1, missing: [{ site: 'plant-b', missing: 4, message: '4 reading(s) node:gw-1 had acknowledged are not at the hub' }] },
    });
    await f.hub.store.updateStatus('Addon', 'sim', { sites: { 'plant-b': { state: 'failed', message: 'driver crashed' } } });
    const text = await edgeadm(['status']);
    expect(text.stdout).toMatch(/^Sites:\s+2: 1 online, 0 offline, 1 never connected$/m);
    expect(text.stdout).toMatch(/^Addons:\s+2: 1 site\(s\) with problems$/m);
    expect(text.stdout).toMatch(/^Addon problems:\s+sim at plant-b failed \(driver crashed\)$/m);
    expect(text.stdout).toMatch(/^Degraded sites:\s+plant-b: outbox SQLITE_FULL since \S+ \(database or disk is full\)$/m);
    expect(text.stdout).toMatch(/^Telemetry:\s+plant-b: 4 reading\(s\) node:gw-1 had acknowledged are not at the hub$/m);

    const deleted = await edgeadm(['site', 'delete', 'plant-b']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toBe("site 'plant-b' deleted; 1 device(s) still name it: remove them with 'edgeadm device remove <name>'\n");
    const gone = await edgeadm(['site', 'show', 'plant-b']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/\[EDGE_ERR_HUB_NOT_FOUND\]/);
  }, SLOW);

  it('says which hub does not answer and what to check, with exit code 1', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const [status, list] = await Promise.all([edgeadm(['status'], { EDGEADM_HUB: url }), edgeadm(['site', 'list', '--hub', url])]);
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(new RegExp(`\\[EDGE_ERR_HUB_UNREACHABLE\\] the hub at ${url} does not answer \\(ECONNREFUSED\\): check that it runs`));
    expect(list.code).toBe(1);
    expect(list.stderr).toMatch(/\[EDGE_ERR_HUB_UNREACHABLE\] cannot reach the hub/);
    const wrongToken = await edgeadm(['site', 'list'], { EDGEADM_TOKEN: 'edgeadm_nope_nope' });
    expect(wrongToken.code).toBe(1);
    expect(wrongToken.stderr).toMatch(/\[EDGE_ERR_HUB_/);
  }, SLOW);

  it('exits 2 naming every bad argument', async () => {
    const cases: [string[], RegExp][] = [
      [['site', 'create', 'Plant_A'], /<name>: 'Plant_A' is not a site name/],
      [['site', 'create', 'plant-c', '--label', 'region'], /--label: 'region' is not key=value/],
      [['site', 'create', 'plant-c', '--label', 'bad key=x'], /--label: 'bad key=x': key /],
      [['site', 'create', 'plant-c', '--display-name', ''], /--display-name: must be 1 to 256 characters/],
      [['site', 'show'], /missing required argument 'name'/],
      [['site', 'delete', 'A'], /<name>: 'A' is not a site name/],
      [['node', 'list', '--site', 'x_y'], /--site: 'x_y' is not a site name/],
      [['node', 'lst'], /unknown command 'lst'/],
      [['status', '--hub', 'not a url'], /--hub: 'not a url' is not a URL/],
      [['logs', 'Bad_Node'], /<node>: 'Bad_Node' is not a node name/],
      [['logs', 'gw-1', '-n', 'lots'], /--lines: 'lots' is not a number of lines/],
    ];
    const results = await Promise.all(cases.map(([args]) => edgeadm(args)));
    results.forEach((r, i) => {
      const [args, message] = cases[i]!;
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    });
  }, SLOW);
});
