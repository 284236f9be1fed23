/**
 * EdgeX files in (parseEdgeXFiles) and back out (exportEdgeX), on the
 * fixtures of fixtures/files: profiles and device lists written in EdgeX's
 * formats with every field and form device-modbus, device-mqtt and
 * device-virtual use (v2 and v3, YAML and JSON, deviceList, JSON device
 * arrays, AddDeviceRequest and AddDeviceProfileRequest), and a set of files
 * full of mistakes (fixtures/files/broken), every one of which is reported
 * at once with its file and field.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { brokenEdgeXFixtures, edgexFixtures } from '../../test/support/edgex-files.ts';
import { API_VERSION, type Resource } from '../store/index.ts';
import {
  EDGEX_FIELDS_ANNOTATION,
  EDGEX_NAME_ANNOTATION,
  exportEdgeX,
  mergeImported,
  parseEdgeXFiles,
  type EdgeXExportEncoding,
  type EdgeXFile,
  type ParsedEdgeX,
  describeEdgeXProblem,
} from './index.ts';

const SITE = 'plant-a';
const GOOD = edgexFixtures();
const BROKEN = brokenEdgeXFixtures();
const none = { profiles: [], devices: [] };

/** Parsed at SITE; `existing` 'unknown' parses without knowing what the hub holds. */
function parse(files: readonly EdgeXFile[], existing: { profiles: Resource[]; devices: Resource[] } | 'unknown' = none): ParsedEdgeX {
  return parseEdgeXFiles(files, { site: SITE, ...(existing === 'unknown' ? {} : { existing }) });
}

const byName = <R extends Resource>(list: readonly R[]): Map<string, R> => new Map(list.map((r) => [r.metadata.name, r]));

describe('parseEdgeXFiles on the fixtures', () => {
  const parsed = parse(GOOD);

  it('reads every fixture without a problem, telling each file’s kind and version', () => {
    expect(parsed.problems).toEqual([]);
    expect(Object.fromEntries(parsed.files.map((f) => [f.name, `${f.kind} ${f.version}`]))).toEqual({
      'devices.request.json': 'addDeviceRequests v3',
      'modbus-string.profile.yml': 'profile v3',
      'modbus.devices.yaml': 'deviceList v3',
      'modbus.profile.yaml': 'profile v3',
      'mqtt.devices.v2.json': 'devices v2',
      'mqtt.devices.yaml': 'deviceList v3',
      'mqtt.profile.yaml': 'profile v2',
      'profiles.request.json': 'addDeviceProfileRequests v3',
      'thermostat.profile.json': 'profile v3',
      'virtual-binary.profile.yaml': 'profile v3',
      'virtual-bool.profile.yaml': 'profile v3',
      'virtual-float.profile.yaml': 'profile v3',
      'virtual-object.profile.yaml': 'profile v3',
      'virtual.devices.yaml': 'deviceList v3',
    });
    expect(parsed.profiles.map((p) => p.metadata.name).sort()).toEqual([
      'coolbridge-modbus-profile',
      'fixed-object-device',
      'modbus-string-profile',
      'power-meter',
      'random-binary-device',
      'random-boolean-device',
      'random-float-device',
      'room-thermostat',
      'sensor-mqtt-profile',
    ]);
    expect(parsed.devices.map((d) => d.metadata.name).sort()).toEqual([
      'coolbridge-rtu-01',
      'coolbridge-tcp-01',
      'fixed-object-device',
      'modbus-tcp-read-string',
      'mqtt-sensor-02',
      'mqtt-test-device',
      'power-meter-1-hall',
      'random-binary-device',
      'random-boolean-device',
      'random-float-device',
      'room-thermostat-12',
    ]);
    expect(parsed.devices.every((d) => d.spec.site === SITE)).toBe(true);
    expect(parsed.origins['Device/power-meter-1-hall']).toEqual({ file: 'devices.request.json', path: '[0].device' });
    expect(parsed.origins['DeviceProfile/coolbridge-modbus-profile']).toEqual({ file: 'modbus.profile.yaml', path: '' });
  });

  it('keeps a device profile as EdgeX wrote it, in v3 form, its EdgeX name in the annotation', () => {
    const p = byName(parsed.profiles).get('coolbridge-modbus-profile')!;
    expect(p.metadata.annotations).toEqual({ [EDGEX_NAME_ANNOTATION]: 'CoolBridge-Modbus-Profile' });
    const spec = p.spec as { name?: string; labels: string[]; deviceResources: { name: string; attributes: object; properties: object }[]; deviceCommands: { resourceOperations: object[] }[] };
    expect(spec.name).toBeUndefined();
    expect(spec.labels).toEqual(['HVAC', 'Air conditioner']);
    expect(spec.deviceResources.map((r) => r.name)).toEqual(['SwitchA', 'SwitchB', 'OperationMode', 'CommunicationFailure', 'FanSpeed', 'RoomTemperature', 'Temperature']);
    expect(spec.deviceResources[3]).toMatchObject({ attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: 10.1 } });
    expect(spec.deviceResources[5]).toMatchObject({ isHidden: false, attributes: { rawType: 'Int16' }, properties: { valueType: 'Float32', readWrite: 'R', scale: 0.1 } });
    expect(spec.deviceCommands[1]!.resourceOperations[1]).toEqual({ deviceResource: 'OperationMode', mappings: { 0: 'Cool', 1: 'Heat', 2: 'Auto', 3: 'Dry', 4: 'Fan' } });
  });

  it('puts a v2 profile in v3 form: numbers from text, empty numbers dropped, its dotted name in v3 form, also where devices name it', () => {
    const p = byName(parsed.profiles).get('sensor-mqtt-profile')!;
    expect(p.metadata.annotations?.[EDGEX_NAME_ANNOTATION]).toBe('Sensor-MQTT-Profile');
    const resources = (p.spec as { deviceResources: { name: string; properties: Record<string, unknown> }[] }).deviceResources;
    expect(resources[0]!.properties).toEqual({ valueType: 'Float32', readWrite: 'RW', defaultValue: '0.00', minimum: 0, maximum: 100 });
    expect(resources[3]!.properties).toEqual({ valueType: 'String', readWrite: 'RW' });
    for (const d of ['mqtt-test-device', 'mqtt-sensor-02']) expect(byName(parsed.devices).get(d)!.spec).toMatchObject({ profile: 'sensor-mqtt-profile' });
  });

  it('puts each device field where it belongs, and keeps the others aside as written', () => {
    const devices = byName(parsed.devices);
    const meter = devices.get('power-meter-1-hall')!;
    expect(meter.metadata.annotations?.[EDGEX_NAME_ANNOTATION]).toBe('Power Meter #1 (Hall)');
    expect(JSON.parse(meter.metadata.annotations![EDGEX_FIELDS_ANNOTATION]!)).toEqual({
      labels: ['energy', 'hall'],
      operatingState: 'UP',
      location: { building: 'B2', floor: 1, coordinates: [48.1374, 11.5755] },
      serviceName: 'device-modbus',
      tags: { owner: 'facilities', criticality: 2 },
      properties: { vendorId: 'PM3-000124', calibrated: true },
    });
    expect(meter.spec).toEqual({
      site: SITE,
      profile: 'power-meter',
      description: "meter of the hall's main board",
      adminState: 'LOCKED',
      protocols: { 'modbus-tcp': { Address: '10.0.8.21', Port: 502, UnitID: 3, Timeout: 5, IdleTimeout: 5 } },
      autoEvents: [
        { interval: '500ms', onChange: true, onChangeThreshold: 0.5, sourceName: 'Readings' },
        { interval: '1m', onChange: false, sourceName: 'Relay' },
      ],
    });
    // v2's JSON device file: text protocol values as written, core-metadata's ids and times kept.
    const v2 = devices.get('mqtt-sensor-02')!;
    expect(v2.spec.protocols).toEqual({ mqtt: { CommandTopic: 'command/MQTT-sensor-02', Qos: '1' } });
    expect(JSON.parse(v2.metadata.annotations![EDGEX_FIELDS_ANNOTATION]!)).toMatchObject({ id: '3d7e1c52-0f4a-4b8e-9a6d-2c1b0e9f8a7d', created: 1700000000000, lastReported: 1700000350000, location: 'roof' });
    // A deviceList entry: adminState defaults as the store applies it; labels kept aside.
    const tcp = devices.get('coolbridge-tcp-01')!;
    expect(tcp.spec).toMatchObject({ adminState: 'UNLOCKED', protocols: { 'modbus-tcp': { Address: '0.0.0.0', Port: 1502 } }, description: 'Gateway on the plant network, polled over Modbus TCP for its modes, fan speeds and temperatures.' });
    expect(JSON.parse(tcp.metadata.annotations![EDGEX_FIELDS_ANNOTATION]!)).toEqual({ labels: ['Air conditioner', 'modbus TCP'] });
    expect(devices.get('coolbridge-rtu-01')!.spec.protocols).toEqual({ 'modbus-rtu': { Address: '/tmp/slave', UnitID: 1, BaudRate: 19200, DataBits: 8, StopBits: 1, Parity: 'N', Timeout: 5, IdleTimeout: 5 } });
  });
});

describe('import → export → import', () => {
  const sorted = (p: ParsedEdgeX): Resource[] => [...p.profiles, ...p.devices].sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`));

  function roundTrip(files: readonly EdgeXFile[], encoding: EdgeXExportEncoding): void {
    const first = parse(files, 'unknown');
    expect(first.problems).toEqual([]);
    const out = exportEdgeX([...first.profiles, ...first.devices], { encoding });
    const again = parse(out.files, 'unknown');
    expect(again.problems, out.files.map((f) => f.content).join('\n')).toEqual([]);
    expect(sorted(again)).toEqual(sorted(first));
    // And once more: the export of what came back is the same text.
    expect(exportEdgeX([...again.profiles, ...again.devices], { encoding }).files).toEqual(out.files);
  }

  it('gives the same resources for all the fixtures together, in YAML and in JSON', () => {
    roundTrip(GOOD, 'yaml');
    roundTrip(GOOD, 'json');
  });

  for (const f of GOOD) {
    it(`gives the same resources for ${f.name} alone`, () => {
      roundTrip([f], 'yaml');
      roundTrip([f], 'json');
    });
  }

  it('writes files EdgeX reads: one v3 profile per file, a deviceList, strings quoted', () => {
    const parsed = parse(GOOD);
    const out = exportEdgeX([...parsed.profiles, ...parsed.devices]);
    expect(out.notes).toEqual([]);
    expect(out.files.map((f) => f.name)).toEqual([
      'profiles/coolbridge-modbus-profile.yaml',
      'profiles/fixed-object-device.yaml',
      'profiles/modbus-string-profile.yaml',
      'profiles/power-meter.yaml',
      'profiles/random-binary-device.yaml',
      'profiles/random-boolean-device.yaml',
      'profiles/random-float-device.yaml',
      'profiles/room-thermostat.yaml',
      'profiles/sensor-mqtt-profile.yaml',
      'devices/devices.yaml',
    ]);
    const mqtt = out.files.find((f) => f.name === 'profiles/sensor-mqtt-profile.yaml')!.content;
    expect(mqtt.startsWith('apiVersion: "v3"\nname: "Sensor-MQTT-Profile"\nmanufacturer: "Example Works"\n')).toBe(true);
    expect(mqtt).toContain('      minimum: 0\n      maximum: 100\n');
    const devices = out.files.at(-1)!.content;
    expect(devices.startsWith('deviceList:\n  - name: "CoolBridge-RTU-01"\n    profileName: "CoolBridge-Modbus-Profile"\n')).toBe(true);
    expect(devices).toContain('Parity: "N"');
    expect(devices).toContain('name: "Power Meter #1 (Hall)"');
  });
});

describe('every problem at once', () => {
  it('reports each mistake of each broken file with its file and field, and returns none of the broken resources', () => {
    const r = parse(BROKEN);
    expect(r.problems.map((p) => `${p.file}: ${p.field}`)).toEqual([
      'dashes.profile.yaml: name',
      'devices.toml: ',
      'empty.yaml: ',
      'not-yaml.yaml: ',
      'pumps.devices.yaml: deviceList[0].autoEvents[1].retention',
      'pumps.devices.yaml: deviceList[0].autoEvents[0].interval',
      'pumps.devices.yaml: deviceList[1].adminState',
      'pumps.devices.yaml: deviceList[2].profile',
      'pumps.devices.yaml: deviceList[2].profileName',
      'pumps.devices.yaml: deviceList[2].labels',
      'pumps.devices.yaml: deviceList[3].protocols',
      'pumps.devices.yaml: deviceList[1].name',
      'pumps.devices.yaml: deviceList[3].profileName',
      'pumps.devices.yaml: deviceList[4].autoEvents[0].sourceName',
      'pumps.devices.yaml: deviceList[4].autoEvents[1].sourceName',
      'pumps.profile.yaml: deviceResources[0].properties.unit',
      'pumps.profile.yaml: deviceResources[0].properties.valueType',
      'pumps.profile.yaml: deviceResources[1].name',
      'pumps.profile.yaml: deviceResources[1].properties.minimum',
      'pumps.profile.yaml: deviceResources[2].properties.minimum',
      'pumps.profile.yaml: deviceCommands[0].resourceOperations[1].deviceResource',
      'requests.json: [0].apiVersion',
      'requests.json: [1].apiVersion',
      'requests.json: [1].device.operatingState',
      'v1.profile.yaml: deviceResources[0].properties.value',
      'valve2.profile.yaml: name',
    ]);
    const message = (file: string, field: string): string => r.problems.find((p) => p.file === file && p.field === field)!.message;
    expect(message('pumps.devices.yaml', 'deviceList[1].name')).toBe("'pump_1' and 'Pump-1' (pumps.devices.yaml: deviceList[0].name) both map to Device 'pump-1': rename one");
    expect(message('valve2.profile.yaml', 'name')).toMatch(/'Valve_Profile' and 'Valve-Profile' \(valve\.profile\.json: name\) both map to DeviceProfile 'valve-profile'/);
    expect(message('pumps.devices.yaml', 'deviceList[4].autoEvents[1].sourceName')).toMatch(/'Close' is a write-only deviceCommand/);
    expect(message('pumps.devices.yaml', 'deviceList[0].autoEvents[0].interval')).toMatch(/Go duration/);
    expect(message('pumps.profile.yaml', 'deviceResources[1].name')).toBe("duplicates deviceResources[0].name 'Flow'");
    expect(message('not-yaml.yaml', '')).toMatch(/^is not valid YAML or JSON: .* at line 3, column 1$/);
    expect(message('v1.profile.yaml', 'deviceResources[0].properties.value')).toMatch(/EdgeX v1/);
    // Only what has no problem at all comes back: the valve profile (pump-6 is sound, but its request is not).
    expect(r.profiles.map((p) => p.metadata.name)).toEqual(['valve-profile']);
    expect(r.devices).toEqual([]);
  });

  it('prints in docs/edgex.md what an import of the broken pump files prints', () => {
    const docs = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/edgex.md'), 'utf8');
    const shown = docs.split('\n').filter((l) => l.startsWith('  pumps.')).map((l) => l.slice(2));
    const pumps = ['pumps.profile.yaml', 'pumps.devices.yaml'].map((n) => BROKEN.find((f) => f.name === n)!);
    expect(shown).toEqual(parse(pumps).problems.map(describeEdgeXProblem));
    expect(docs).toContain(`nothing applied (${shown.length} problems):`);
  });

  it('checks references against the hub only when told what it holds', () => {
    const device = { name: 'probe.yaml', content: 'deviceList:\n  - name: Probe-1\n    profileName: Far-Away-Profile\n    protocols: { other: { Address: x } }\n' };
    expect(parse([device], 'unknown').problems).toEqual([]);
    expect(parse([device]).problems).toEqual([
      { file: 'probe.yaml', field: 'deviceList[0].profileName', message: "names profile 'Far-Away-Profile' (DeviceProfile 'far-away-profile'), which is neither in these files nor at the hub" },
    ]);
  });

  it('refuses what would overwrite another EdgeX thing the hub holds, or move a device between sites', () => {
    const held = (kind: 'Device' | 'DeviceProfile', name: string, edgexName: string | undefined, spec: Record<string, unknown>): Resource => ({
      apiVersion: API_VERSION,
      kind,
      metadata: { name, ...(edgexName ? { annotations: { [EDGEX_NAME_ANNOTATION]: edgexName } } : {}) },
      spec,
    });
    const profileSpec = { deviceResources: [{ name: 'level', properties: { valueType: 'Float64', readWrite: 'R' } }] };
    const files = [
      { name: 'p.yaml', content: 'name: Tank_Profile\ndeviceResources:\n  - { name: level, properties: { valueType: Float64, readWrite: R } }\n' },
      { name: 'd.yaml', content: 'deviceList:\n  - { name: Tank-1, profileName: Tank_Profile, protocols: { other: { a: 1 } } }\n  - { name: tank-2, profileName: Level-Profile, protocols: { other: { a: 1 } }, autoEvents: [{ interval: 1s, sourceName: volume }] }\n' },
    ];
    const r = parse(files, {
      profiles: [held('DeviceProfile', 'tank-profile', 'Tank-Profile', profileSpec), held('DeviceProfile', 'level-profile', undefined, profileSpec)],
      devices: [held('Device', 'tank-1', undefined, { site: 'plant-b', profile: 'tank-profile', protocols: { other: {} } })],
    });
    expect(r.problems.map((p) => `${p.file}: ${p.field}: ${p.message}`)).toEqual([
      "p.yaml: name: 'Tank_Profile' maps to DeviceProfile 'tank-profile', which the hub holds for EdgeX profile 'Tank-Profile'",
      "d.yaml: deviceList[0].name: Device 'tank-1' is at site 'plant-b': a device belongs to one site (delete it there first)",
      // A profile of the hub, made there (no EdgeX name kept), is found by its resource name, and its sources are checked.
      "d.yaml: deviceList[1].autoEvents[0].sourceName: profile 'Level-Profile': 'volume' is neither a deviceResource nor a deviceCommand of the profile (it has level)",
    ]);
  });

  it('refuses a site that is not a site name before reading anything', () => {
    expect(() => parseEdgeXFiles(GOOD, { site: 'Plant A' })).toThrow(/EdgeX import: site 'Plant A'/);
  });
});

describe('mergeImported', () => {
  it("keeps what the platform alone holds on the hub's resource: labels, other annotations, a device's plugin, desired values, drift policy", () => {
    const imported: Resource = {
      apiVersion: API_VERSION,
      kind: 'Device',
      metadata: { name: 'pump-1', annotations: { [EDGEX_NAME_ANNOTATION]: 'Pump-1' } },
      spec: { site: SITE, profile: 'pump', protocols: { other: {} } },
    };
    const current: Resource = {
      apiVersion: API_VERSION,
      kind: 'Device',
      metadata: { name: 'pump-1', labels: { zone: 'hall' }, annotations: { note: 'kept', [EDGEX_FIELDS_ANNOTATION]: '{"labels":["old"]}' }, resourceVersion: '7' },
      spec: { site: SITE, profile: 'pump', description: 'old', plugin: 'modbus', desired: { speed: 3 }, driftPolicy: { '*': 'report' }, protocols: { other: { a: 1 } } },
    };
    expect(mergeImported(imported, current)).toEqual({
      apiVersion: API_VERSION,
      kind: 'Device',
      metadata: { name: 'pump-1', labels: { zone: 'hall' }, annotations: { note: 'kept', [EDGEX_NAME_ANNOTATION]: 'Pump-1' } },
      spec: { site: SITE, profile: 'pump', protocols: { other: {} }, plugin: 'modbus', desired: { speed: 3 }, driftPolicy: { '*': 'report' } },
    });
    expect(mergeImported(imported, undefined)).toBe(imported);
  });
});
