/**
 * `edgeadm device add|list|show|read|write|remove` run as an operator runs
 * them (the binary in a child process) against a real hub, with a real site
 * agent driving simulated devices, so reads (stored and live), writes and
 * the site's verdict on a device just added go end to end.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { runEdgeadm, type CliResult as Result } from '../test/support/edgeadm-cli.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSiteAgent, type SiteAgent } from '../sites/index.ts';
import { quiet, startHubFixture, tempDir, waitFor, type HubFixture } from '../test/support/hub-fixture.ts';

const SLOW = 300_000;
const SITE = 'plant-d';
let f: HubFixture;
let agent: SiteAgent | undefined;
let dir: string;

function edgeadm(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return runEdgeadm(args, { EDGEADM_HUB: f.hub.url, EDGEADM_TOKEN: f.adminToken, EDGEADM_CA_FILE: undefined, ...env });
}

const VALVE = {
  kind: 'DeviceProfile',
  metadata: { name: 'valve' },
  spec: {
    deviceResources: [
      { name: 'opening', attributes: { function: 'setpoint', initial: 0 }, properties: { valueType: 'Uint8', readWrite: 'RW', units: '%', minimum: 0, maximum: 100 } },
      // Writable in the profile, but the simulator holds only setpoints: writes fail at the device.
      { name: 'temperature', attributes: { function: 'sine', amplitude: 2, periodS: 30, offset: 20 }, properties: { valueType: 'Float64', readWrite: 'RW', units: 'degC' } },
    ],
    deviceCommands: [{ name: 'Values', readWrite: 'R', resourceOperations: [{ deviceResource: 'opening' }, { deviceResource: 'temperature' }] }],
  },
};

/** A profile only the simulator's driver can tell is wrong: it has no function 'wobble'. */
const WOBBLY = {
  kind: 'DeviceProfile',
  metadata: { name: 'wobbly' },
  spec: { deviceResources: [{ name: 'level', attributes: { function: 'wobble' }, properties: { valueType: 'Float64', readWrite: 'R' } }] },
};

beforeAll(async () => {
  dir = tempDir('device-cmds');
  f = await startHubFixture();
  await f.apply({ kind: 'Site', metadata: { name: SITE }, spec: {} });
  await f.apply(VALVE);
  await f.apply(WOBBLY);
  await f.apply({ kind: 'Addon', metadata: { name: 'sim' }, spec: { plugin: 'simulator', sites: [SITE] } });
}, 30_000);

afterAll(async () => {
  await agent?.stop();
  await f?.hub.close();
});

describe('edgeadm device', () => {
  it('adds a device from flags, reads its readings and writes to it through a running site', async () => {
    const added = await edgeadm(['device', 'add', 'valve-1', '--site', SITE, '--profile', 'valve', '--protocol', 'simulator', '--set', 'seed=3', '--auto-event', 'temperature=200ms', '--label', 'zone=hall']);
    expect(added.code, added.stderr).toBe(0);
    // No agent yet: the device waits for the site, and the command says so.
    expect(added.stdout).toBe(
      "device 'valve-1' added at site 'plant-d' (profile 'valve', protocol simulator): pending: site 'plant-d' is not connected yet: its agent checks the device when it connects (see 'edgeadm device show valve-1'); see it with: edgeadm device read valve-1\n",
    );
    const stored = await f.api<{ metadata: { labels?: Record<string, string> }; spec: Record<string, unknown> }>('GET', '/api/v1/devices/valve-1');
    expect(stored.body.spec).toMatchObject({ site: SITE, profile: 'valve', protocols: { simulator: { seed: '3' } }, autoEvents: [{ sourceName: 'temperature', interval: '200ms' }] });
    expect(stored.body.metadata.labels).toEqual({ zone: 'hall' });
    const again = await edgeadm(['device', 'add', 'valve-1', '--site', SITE, '--profile', 'valve', '--protocol', 'simulator']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/\[EDGE_ERR_STORE_EXISTS\]/);

    agent = await startSiteAgent({
      site: SITE,
      hubUrl: f.hub.url,
      token: await f.agentToken(SITE),
      dataDir: path.join(dir, 'site'),
      logger: quiet,
      broker: false,
      plugins: { nodeModules: [] },
      syncBackoff: { initialMs: 50, maxMs: 300 },
      forwarder: { backoff: { initialMs: 50, maxMs: 300 } },
    });
    await waitFor('temperature readings at the hub', async () => (await f.hub.telemetry.count({ site: SITE, device: 'valve-1' })) > 0);

    const read = await edgeadm(['device', 'read', 'valve-1']);
    expect(read.code, read.stderr).toBe(0);
    const lines = read.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^RESOURCE\s+VALUE\s+UNITS\s+QUALITY\s+AGE$/);
    expect(lines.find((l) => l.startsWith('temperature '))).toMatch(/^temperature\s+\d+(\.\d+)?\s+degC\s+good\s+\d+s$/);
    expect(lines.find((l) => l.startsWith('opening '))).toMatch(/^opening\s+-\s+-\s+no reading\s+-$/);
    expect(lines.at(-1)).toBe('stored values; --live asks the device now');

    // Asked now, the device answers what it holds, though nothing polled it.
    const live = await edgeadm(['device', 'read', 'valve-1', 'opening', '--live']);
    expect(live.code, live.stderr).toBe(0);
    expect(live.stdout).toMatch(/^RESOURCE\s+VALUE\s+UNITS\s+QUALITY\s+AGE\nopening\s+0\s+%\s+good\s+\d+s\n$/);
    const liveJson = await edgeadm(['device', 'read', 'valve-1', 'Values', '--live', '-o', 'json']);
    expect(liveJson.code, liveJson.stderr).toBe(0);
    expect((JSON.parse(liveJson.stdout) as { resource: string; quality: string }[]).map((r) => [r.resource, r.quality])).toEqual([
      ['opening', 'good'],
      ['temperature', 'good'],
    ]);

    const json = await edgeadm(['device', 'read', 'valve-1', 'temperature', '-o', 'json']);
    expect(json.code, json.stderr).toBe(0);
    const readings = JSON.parse(json.stdout) as { device: string; resource: string; value: number; quality: string }[];
    expect(readings).toHaveLength(1);
    expect(readings[0]).toMatchObject({ device: 'valve-1', resource: 'temperature', quality: 'good' });
    expect(readings[0]!.value).toBeGreaterThan(17);

    const wrote = await edgeadm(['device', 'write', 'valve-1', 'opening', '42']);
    expect(wrote.code, wrote.stderr).toBe(0);
    expect(wrote.stdout).toBe('valve-1/opening = 42\n');
    await waitFor('the read-back reading at the hub', async () => (await f.hub.telemetry.query({ site: SITE, device: 'valve-1', resource: 'opening' })).items.some((r) => r.value === 42));
    const after = await edgeadm(['device', 'read', 'valve-1', 'opening']);
    expect(after.stdout).toMatch(/\nopening\s+42\s+%\s+good\s+\d+s\n/);

    // The device refuses: exit 1 with its own error.
    const refused = await edgeadm(['device', 'write', 'valve-1', 'temperature', '30']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/\[EDGE_ERR_SIM_READ_ONLY\] device 'valve-1' did not take temperature=30: resource 'temperature' of 'valve-1' is not writable/);
    // The hub refuses (out of the profile's range): exit 1 with the hub's code.
    const range = await edgeadm(['device', 'write', 'valve-1', 'opening', '300']);
    expect(range.code).toBe(1);
    expect(range.stderr).toMatch(/\[EDGE_ERR_HUB_COMMAND_INVALID\].*opening/);

    const shown = await edgeadm(['device', 'show', 'valve-1']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^Site:\s+plant-d$/m);
    // A DRIFT column joins when a resource departs from its desired value (temperature, refused above).
    expect(shown.stdout).toMatch(/^ {2}RESOURCE\s+DESIRED\s+REPORTED\s+AGE(\s+DRIFT)?$/m);
    expect(shown.stdout).toMatch(/^ {2}opening\s+42\s+42\s+\d+s(\s+-)?$/m);

    // The site's verdict on a device just added: it runs it (an autoEvent may name a deviceCommand) ...
    const up = await edgeadm(['device', 'add', 'valve-2', '--site', SITE, '--profile', 'valve', '--protocol', 'simulator', '--auto-event', 'Values=200ms', '--wait', '30s']);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/^device 'valve-2' added at site 'plant-d' \(profile 'valve', protocol simulator\): the site runs it \(UP\); see it with/);
    await waitFor('readings of the deviceCommand autoEvent', async () => (await f.hub.telemetry.count({ site: SITE, device: 'valve-2', resource: 'opening' })) > 0 && (await f.hub.telemetry.count({ site: SITE, device: 'valve-2', resource: 'temperature' })) > 0);
    // ... or refuses it for a problem only its driver sees: exit 1, naming it.
    const refusedDevice = await edgeadm(['device', 'add', 'wobbly-1', '--site', SITE, '--profile', 'wobbly', '--protocol', 'simulator', '--wait', '30s']);
    expect(refusedDevice.code).toBe(1);
    expect(refusedDevice.stdout).toBe('');
    expect(refusedDevice.stderr).toMatch(
      /\[EDGE_ERR_DEVICE_NOT_RUNNING\] device 'wobbly-1' is at the hub, but site 'plant-d' does not run it: \[EDGE_ERR_SIM_FUNCTION\] deviceResources\[0\]\.attributes\.function: "wobble" is not one of/,
    );
    const later = await edgeadm(['device', 'add', 'wobbly-2', '--site', SITE, '--profile', 'wobbly', '--protocol', 'simulator', '--wait', '0']);
    expect(later.code, later.stderr).toBe(0);
    expect(later.stdout).toMatch(/: pending: not waited for \(--wait 0\)/);

    // With the site gone, a live read is refused at once, naming the site.
    await agent.stop();
    agent = undefined;
    await waitFor('the site offline', async () => (await f.api<{ status?: { phase?: string } }>('GET', `/api/v1/sites/${SITE}`)).body.status?.phase === 'Offline');
    const offline = await edgeadm(['device', 'read', 'valve-1', '--live']);
    expect(offline.code).toBe(1);
    expect(offline.stderr).toMatch(/\[EDGE_ERR_HUB_SITE_OFFLINE\] .*cannot read device 'valve-1': site 'plant-d' is Offline/);
    // A write waits, then says what happened and what to check.
    const waited = await edgeadm(['device', 'write', 'valve-1', 'opening', '7', '--timeout', '1s']);
    expect(waited.code).toBe(1);
    expect(waited.stderr).toMatch(/\[EDGE_ERR_COMMAND_TIMEOUT\] the write of valve-1\/opening .* is still (pending|delivered) after 1s: site 'plant-d' may be offline/);
  }, SLOW);

  it('applies manifests with -f, lists in table, json and yaml, and removes', async () => {
    const file = path.join(dir, 'pump.yaml');
    writeFileSync(
      file,
      [
        'kind: Device',
        'metadata: { name: pump-1 }',
        `spec: { site: ${SITE}, profile: pump, protocols: { simulator: { seed: "9" } } }`,
        '---',
        'kind: DeviceProfile',
        'metadata: { name: pump }',
        'spec:',
        '  deviceResources:',
        '    - { name: speed, attributes: { function: ramp }, properties: { valueType: Uint16, readWrite: R, units: rpm } }',
        '',
      ].join('\n'),
    );
    const applied = await edgeadm(['device', 'add', '-f', file]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toBe(
      "DeviceProfile 'pump' applied\nDevice 'pump-1' applied: pending: site 'plant-d' is Offline: its agent checks the device when it connects (see 'edgeadm device show pump-1')\n",
    );

    const [table, json, yaml] = await Promise.all([
      edgeadm(['device', 'list', '--site', SITE]),
      edgeadm(['device', 'list', '-o', 'json']),
      edgeadm(['device', 'list', '--site', SITE, '-o', 'yaml']),
    ]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+SITE\s+PROFILE\s+PROTOCOL\s+STATE\s+LAST SEEN(\s+CAUSE)?\n/);
    // Its site is offline: no state of its own yet, or the hub's UNKNOWN with the reason.
    expect(table.stdout).toMatch(/\npump-1\s+plant-d\s+pump\s+simulator\s+(-|UNKNOWN)\s+-/);
    const names = (JSON.parse(json.stdout) as { metadata: { name: string } }[]).map((d) => d.metadata.name);
    expect(names).toContain('pump-1');
    expect((parseYaml(yaml.stdout) as { spec: { profile: string } }[]).find((d) => d.spec.profile === 'pump')).toBeDefined();

    const removed = await edgeadm(['device', 'remove', 'pump-1']);
    expect(removed).toMatchObject({ code: 0, stdout: "device 'pump-1' removed from site 'plant-d'\n" });
    const gone = await edgeadm(['device', 'show', 'pump-1']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/\[EDGE_ERR_HUB_NOT_FOUND\].*pump-1/);
  }, SLOW);

  it('exits 2 naming every bad argument, before calling the hub', async () => {
    const cases: [string[], RegExp][] = [
      [['device', 'add', 'x'], /--site is required.*--profile is required.*--protocol is required/],
      [['device', 'add', 'Bad_Name', '--site', SITE, '--profile', 'valve', '--protocol', 'simulator'], /<name>: 'Bad_Name' is not a resource name/],
      [['device', 'add', 'x', '--site', 'Plant A', '--profile', 'valve', '--protocol', 'simulator'], /--site: 'Plant A' is not a site name/],
      [['device', 'add', 'x', '--site', SITE, '--profile', 'valve', '--protocol', 'simulator', '--set', 'seed'], /--set: 'seed' is not key=value/],
      [['device', 'add', 'x', '--site', SITE, '--profile', 'valve', '--protocol', 'simulator', '--auto-event', 'temperature=soon'], /--auto-event: 'temperature=soon': 'soon' is not an interval/],
      [['device', 'add', 'x', '--site', SITE, '--profile', 'valve', '--protocol', 'simulator', '--auto-event', 'pressure=1s'], /--auto-event: profile 'valve': 'pressure' is neither a deviceResource nor a deviceCommand of the profile \(it has opening, temperature, Values\)/],
      [['device', 'add', 'x', '--site', SITE, '--profile', 'valve', '--protocol', 'simulator', '--wait', 'soon'], /--wait: 'soon' is not a duration/],
      [['device', 'add', 'x', '--site', SITE, '--profile', 'valve', '--protocol', 'simulator', '--plugin', 'Sim!'], /--plugin: 'Sim!' is not a plugin id/],
      [['device', 'add', '-f', path.join(dir, 'pump.yaml'), '--site', SITE], /--site: not with -f/],
      [['device', 'add', '-f', path.join(dir, 'missing.yaml')], /-f: cannot read/],
      [['device', 'list', '--site', 'NOPE'], /--site: 'NOPE' is not a site name/],
      [['device', 'read', 'valve-1', 'pressure'], /\[resource\]: device 'valve-1' \(profile 'valve'\): 'pressure' is neither a deviceResource nor a deviceCommand/],
      [['device', 'read', 'valve-1', '--live', '--timeout', '1h'], /--timeout: '1h' is not a duration from 100ms to 5m/],
      [['device', 'write', 'valve-1', 'opening', '1', '--timeout', 'soon'], /--timeout: 'soon' is not a duration/],
      [['device', 'write', 'valve-1', 'opening'], /missing required argument 'value'/],
      [['device', 'show'], /missing required argument 'name'/],
    ];
    const results = await Promise.all(cases.map(([args]) => edgeadm(args)));
    results.forEach((r, i) => {
      const [args, message] = cases[i]!;
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    });
  }, SLOW);
});
