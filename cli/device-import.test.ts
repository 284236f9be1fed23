/**
 * `edgeadm device import` and `edgeadm device export` against a real hub,
 * and the imported EdgeX device-modbus files driving a real Modbus server:
 * the profile of core/edgex's fixtures, imported unchanged (the device list
 * pointed at the test's pymodbus), gives readings at the hub through a
 * running site. The binary runs in a child process for the import and the
 * export; the refused import runs in-process (`run`), which is the same code
 * without the cost of a process.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseEdgeXFiles } from '../core/edgex/index.ts';
import type { Reading } from '../core/sdk/index.ts';
import type { Resource } from '../core/store/index.ts';
import { startSiteAgent, type SiteAgent } from '../sites/index.ts';
import { runEdgeadm, type CliResult } from '../test/support/edgeadm-cli.ts';
import { EDGEX_FIXTURES as FIXTURES, edgexFilesIn } from '../test/support/edgex-files.ts';
import { quiet, startHubFixture, tempDir, waitFor, type HubFixture } from '../test/support/hub-fixture.ts';
import { startPymodbus, type PymodbusServer } from '../test/support/pymodbus.ts';
import { run } from './main.ts';

const SITE = 'plant-m';

let f: HubFixture;
let py: PymodbusServer;
let agent: SiteAgent | undefined;
let dir: string;

function edgeadm(args: string[]): Promise<CliResult> {
  return runEdgeadm(args, { EDGEADM_HUB: f.hub.url, EDGEADM_TOKEN: f.adminToken, EDGEADM_CA_FILE: undefined });
}

beforeAll(async () => {
  dir = tempDir('edgex-cli');
  py = await startPymodbus({ framer: 'socket', units: [1] });
  f = await startHubFixture();
  await f.apply({ kind: 'Site', metadata: { name: SITE }, spec: {} });
  // device-modbus's files: the profiles as they are; the device list pointed at this test's Modbus server.
  mkdirSync(path.join(dir, 'modbus'));
  for (const name of ['modbus.profile.yaml', 'modbus-string.profile.yml']) cpSync(path.join(FIXTURES, name), path.join(dir, 'modbus', name));
  const list = readFileSync(path.join(FIXTURES, 'modbus.devices.yaml'), 'utf8').replaceAll('Address: 0.0.0.0', 'Address: 127.0.0.1').replaceAll('Port: 1502', `Port: ${py.port}`);
  writeFileSync(path.join(dir, 'modbus', 'modbus.devices.yaml'), list);
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await f?.hub.close();
  await py?.stop();
});

describe('edgeadm device import / export', () => {
  it('refuses files with problems: every problem on standard error with its file and field, exit 1, nothing written', async () => {
    const broken = path.join(FIXTURES, 'broken');
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let code: number;
    let text: string;
    try {
      code = await run(['node', 'edgeadm', 'device', 'import', '-f', broken, path.join(dir, 'modbus'), '--site', SITE, '--hub', f.hub.url, '--token', f.adminToken]);
      text = err.mock.calls.map((c) => String(c[0])).join('');
    } finally {
      err.mockRestore();
    }
    expect(code, text).toBe(1);
    expect(text).toMatch(/^error: \[EDGE_ERR_EDGEX_FILES\] POST \/api\/v1\/sites\/plant-m\/edgex\/import: EdgeX files refused, nothing applied \(25 problems\):\n/);
    for (const line of [
      `  ${broken}/pumps.profile.yaml: deviceResources[0].properties.valueType: must be an EdgeX value type`,
      `  ${broken}/pumps.devices.yaml: deviceList[0].autoEvents[0].interval: must be a Go duration`,
      `  ${broken}/pumps.devices.yaml: deviceList[1].name: 'pump_1' and 'Pump-1'`,
      `  ${broken}/requests.json: [0].apiVersion: is required: 'v2' or 'v3'`,
    ]) {
      expect(text).toContain(line);
    }
    // A folder stands for its .yaml, .yml and .json files, as EdgeX reads its folders: devices.toml is not sent.
    expect(text).not.toContain('devices.toml');
    expect((await f.hub.store.list('Device')).items).toEqual([]);
    expect((await f.hub.store.list('DeviceProfile')).items).toEqual([]);
  });

  it("imports device-modbus's files, and the site reads the device with the imported profile from a real Modbus server", async () => {
    const imported = await edgeadm(['device', 'import', '-f', path.join(dir, 'modbus'), '--site', SITE]);
    expect(imported.code, imported.stderr).toBe(0);
    const lines = imported.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ACTION\s+KIND\s+NAME\s+EDGEX NAME\s+FILE$/);
    expect(lines).toContainEqual(expect.stringMatching(/^created\s+DeviceProfile\s+coolbridge-modbus-profile\s+CoolBridge-Modbus-Profile\s+\S+\/modbus\.profile\.yaml$/));
    expect(lines).toContainEqual(expect.stringMatching(/^created\s+Device\s+coolbridge-tcp-01\s+CoolBridge-TCP-01\s+\S+\/modbus\.devices\.yaml deviceList\[0\]$/));
    expect(lines.at(-1)).toBe(`site '${SITE}': 5 created, 0 updated, 0 unchanged`);

    await f.apply({ kind: 'Addon', metadata: { name: 'modbus' }, spec: { plugin: 'modbus', sites: [SITE] } });
    agent = await startSiteAgent({
      site: SITE,
      hubUrl: f.hub.url,
      token: await f.agentToken(SITE),
      dataDir: path.join(dir, 'site'),
      logger: quiet,
      broker: false,
      syncBackoff: { initialMs: 50, maxMs: 500 },
      forwarder: { backoff: { initialMs: 50, maxMs: 500 } },
    });
    const latest = async (resource: string): Promise<Reading | undefined> => (await f.hub.telemetry.query({ site: SITE, device: 'coolbridge-tcp-01', resource, descending: true, limit: 1 })).items[0];
    // The device's autoEvent reads the profile's HVACValues command every second.
    await waitFor('readings of HVACValues at the hub', async () => (await latest('OperationMode')) && (await latest('FanSpeed')) && (await latest('Temperature')), 30_000);
    // pymodbus holds unit*1000+address in its holding registers: values no mapping of the profile names stay numbers.
    expect(await latest('OperationMode')).toMatchObject({ value: 1001, valueType: 'Int16', quality: 'good', profile: 'coolbridge-modbus-profile' });
    expect(await latest('FanSpeed')).toMatchObject({ value: 1002 * 65536 + 1003, valueType: 'Int32', quality: 'good' });
    expect((await latest('Temperature'))!.value).toBeCloseTo(100.5, 4);
  }, 90_000);

  it("exports the site as EdgeX files that read back as what the hub holds", async () => {
    const out = path.join(dir, 'out');
    const exported = await edgeadm(['device', 'export', '--site', SITE, '--format', 'edgex', '--dir', out]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toBe(
      [`${out}/profiles/coolbridge-modbus-profile.yaml`, `${out}/profiles/modbus-string-profile.yaml`, `${out}/devices/devices.yaml`, `3 EdgeX files written for site '${SITE}'`, ''].join('\n'),
    );
    const back = parseEdgeXFiles(edgexFilesIn(out, { recursive: true }), { site: SITE });
    expect(back.problems).toEqual([]);
    const held = new Map(([...(await f.hub.store.list('DeviceProfile')).items, ...(await f.hub.store.list('Device')).items] as Resource[]).map((r) => [`${r.kind}/${r.metadata.name}`, r]));
    expect(back.profiles.length + back.devices.length).toBe(5);
    for (const r of [...back.profiles, ...back.devices]) {
      const h = held.get(`${r.kind}/${r.metadata.name}`)!;
      expect(r.spec, r.metadata.name).toEqual(h.spec);
      expect(r.metadata.annotations, r.metadata.name).toEqual(h.metadata.annotations);
    }
    // The profile is the imported file's, field for field.
    const original = parseEdgeXFiles([{ name: 'modbus.profile.yaml', content: readFileSync(path.join(FIXTURES, 'modbus.profile.yaml'), 'utf8') }], { site: SITE }).profiles[0];
    expect(back.profiles.find((p) => p.metadata.name === 'coolbridge-modbus-profile')).toEqual(original);
  });
});
