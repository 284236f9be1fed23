/** Resource validation: an unchanged EdgeX device-modbus profile passes; bad objects report every issue with its path. */
import { describe, expect, it } from 'vitest';
import { API_VERSION, prepareResource, validateResource, validateStatus } from './index.ts';

/**
 * A device-modbus profile as EdgeX v2 writes it (numbers as strings, its own
 * apiVersion and name), unchanged: it must validate as a DeviceProfile spec.
 */
const EDGEX_MODBUS_PROFILE = JSON.parse(`{
  "apiVersion": "v2",
  "name": "Delta-DPM-C530-Power-Meter",
  "manufacturer": "Delta Electronics",
  "model": "DPM-C530",
  "labels": ["modbus", "power-meter", "three-phase"],
  "description": "Three-phase power meter with a relay output, over Modbus TCP",
  "deviceResources": [
    {
      "name": "RelayA",
      "isHidden": false,
      "description": "Relay output A: false = open, true = closed",
      "attributes": { "primaryTable": "COILS", "startingAddress": 0 },
      "properties": { "valueType": "Bool", "readWrite": "RW", "defaultValue": "false" }
    },
    {
      "name": "AlarmInput",
      "isHidden": false,
      "description": "Dry-contact alarm input",
      "attributes": { "primaryTable": "DISCRETES_INPUT", "startingAddress": 1 },
      "properties": { "valueType": "Bool", "readWrite": "R" }
    },
    {
      "name": "VoltageL1",
      "isHidden": false,
      "description": "Phase L1 voltage",
      "attributes": { "primaryTable": "HOLDING_REGISTERS", "startingAddress": 0, "rawType": "UINT16" },
      "properties": { "valueType": "Float32", "readWrite": "R", "scale": "0.1", "units": "V", "minimum": "0", "maximum": "600" }
    },
    {
      "name": "CurrentL1",
      "isHidden": false,
      "description": "Phase L1 current",
      "attributes": { "primaryTable": "HOLDING_REGISTERS", "startingAddress": 2, "rawType": "INT16" },
      "properties": { "valueType": "Float32", "readWrite": "R", "scale": "0.01", "units": "A" }
    },
    {
      "name": "ActiveEnergy",
      "isHidden": false,
      "description": "Imported active energy",
      "attributes": { "primaryTable": "HOLDING_REGISTERS", "startingAddress": 4, "isByteSwap": false, "isWordSwap": true },
      "properties": { "valueType": "Uint32", "readWrite": "R", "units": "kWh" }
    },
    {
      "name": "Temperature",
      "isHidden": false,
      "description": "Internal temperature",
      "attributes": { "primaryTable": "INPUT_REGISTERS", "startingAddress": 10, "rawType": "INT16" },
      "properties": { "valueType": "Float32", "readWrite": "R", "scale": "0.1", "offset": "-40", "units": "degC" }
    },
    {
      "name": "StatusWord",
      "isHidden": true,
      "description": "Status bits 0-7",
      "attributes": { "primaryTable": "HOLDING_REGISTERS", "startingAddress": 12 },
      "properties": { "valueType": "Uint16", "readWrite": "R", "mask": "0x00FF", "shift": "0" }
    },
    {
      "name": "SetPoint",
      "isHidden": false,
      "description": "Demand limit set point",
      "attributes": { "primaryTable": "HOLDING_REGISTERS", "startingAddress": 20, "rawType": "INT16" },
      "properties": { "valueType": "Int16", "readWrite": "RW", "minimum": "-100", "maximum": "100", "defaultValue": "0", "units": "%" }
    }
  ],
  "deviceCommands": [
    {
      "name": "Relay",
      "isHidden": false,
      "readWrite": "RW",
      "resourceOperations": [{ "deviceResource": "RelayA", "defaultValue": "false" }]
    },
    {
      "name": "Measurements",
      "isHidden": false,
      "readWrite": "R",
      "resourceOperations": [
        { "deviceResource": "VoltageL1" },
        { "deviceResource": "CurrentL1" },
        { "deviceResource": "ActiveEnergy" }
      ]
    },
    {
      "name": "Mode",
      "isHidden": false,
      "readWrite": "RW",
      "resourceOperations": [{ "deviceResource": "SetPoint", "mappings": { "0": "Off", "100": "Full" } }]
    }
  ]
}`) as Record<string, unknown>;

function profile(spec: unknown, name = 'delta-dpm-c530'): unknown {
  return { apiVersion: API_VERSION, kind: 'DeviceProfile', metadata: { name }, spec };
}

function device(spec: Record<string, unknown>, name = 'meter-1'): unknown {
  return {
    apiVersion: API_VERSION,
    kind: 'Device',
    metadata: { name },
    spec: { site: 'plant-a', profile: 'delta-dpm-c530', protocols: { 'modbus-tcp': { Address: '10.0.0.5', Port: '502', UnitID: '1' } }, ...spec },
  };
}

describe('resource validation', () => {
  it('accepts an unchanged EdgeX device-modbus profile', () => {
    expect(validateResource(profile(EDGEX_MODBUS_PROFILE))).toEqual([]);
  });

  it('accepts EdgeX v3 numbers and v2 exports with empty strings and nulls', () => {
    const v3 = structuredClone(EDGEX_MODBUS_PROFILE) as { deviceResources: { properties: Record<string, unknown> }[] };
    const props = v3.deviceResources[2]?.properties as Record<string, unknown>;
    Object.assign(props, { scale: 0.1, minimum: 0, maximum: 600 });
    expect(validateResource(profile(v3))).toEqual([]);

    const exported = {
      ...EDGEX_MODBUS_PROFILE,
      id: '9b5c7c4a-54a6-4b6e-9a4e-2a1c9f3d1e11',
      created: 1700000000000,
      modified: 1700000000000,
      labels: null,
      deviceResources: [
        {
          name: 'Frequency',
          description: '',
          isHidden: false,
          tag: '',
          attributes: { primaryTable: 'HOLDING_REGISTERS', startingAddress: 30 },
          properties: {
            valueType: 'float32',
            readWrite: 'R',
            units: 'Hz',
            minimum: '',
            maximum: '',
            defaultValue: '',
            mask: '',
            shift: '',
            scale: '0.01',
            offset: '',
            base: '',
            assertion: '',
            mediaType: '',
          },
        },
      ],
      deviceCommands: null,
    };
    const r = prepareResource(profile(exported));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const spec = r.value.spec as { labels?: unknown; deviceCommands?: unknown; deviceResources: { properties: Record<string, unknown> }[] };
    expect(spec.labels).toBeUndefined();
    expect(spec.deviceCommands).toBeUndefined();
    expect(spec.deviceResources[0]?.properties).toEqual({
      valueType: 'Float32',
      readWrite: 'R',
      units: 'Hz',
      defaultValue: '',
      scale: '0.01',
      assertion: '',
      mediaType: '',
    });
  });

  it('reports every problem of an invalid profile at once, each with its path', () => {
    const bad = structuredClone(EDGEX_MODBUS_PROFILE) as {
      deviceResources: Record<string, unknown>[];
      deviceCommands: { readWrite: string; resourceOperations: { deviceResource: string }[] }[];
    };
    const r = bad.deviceResources;
    (r[2]?.properties as Record<string, unknown>).valueType = 'Float33';
    (r[3]?.properties as Record<string, unknown>).scale = 'zero point one';
    (r[3]?.properties as Record<string, unknown>).readWrite = 'X';
    (r[4]?.properties as Record<string, unknown>).minimum = true;
    (r[7]?.properties as Record<string, unknown>).minimum = '200';
    r[5] = { ...r[5], name: 'VoltageL1' };
    delete r[6]?.properties;
    (bad.deviceCommands[1]?.resourceOperations[1] as { deviceResource: string }).deviceResource = 'CurrentL9';
    (bad.deviceCommands[1] as { readWrite: string }).readWrite = 'RW';
    const issues = validateResource(profile(bad));
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: 'spec.deviceResources[2].properties.valueType', message: expect.stringContaining('must be an EdgeX value type (Bool, String,') },
        { path: 'spec.deviceResources[3].properties.scale', message: "must be a number or a numeric string (is 'zero point one')" },
        { path: 'spec.deviceResources[3].properties.readWrite', message: "must be one of 'R', 'W', 'RW', 'WR'" },
        { path: 'spec.deviceResources[4].properties.minimum', message: expect.any(String) },
        { path: 'spec.deviceResources[5].name', message: "duplicates spec.deviceResources[2].name 'VoltageL1'" },
        { path: 'spec.deviceResources[6].properties', message: 'is required' },
        { path: 'spec.deviceResources[7].properties.minimum', message: 'must not exceed maximum (200 > 100)' },
        {
          path: 'spec.deviceCommands[1].resourceOperations[1].deviceResource',
          message: "names 'CurrentL9', which is not in spec.deviceResources",
        },
        {
          path: 'spec.deviceCommands[1].resourceOperations[0].deviceResource',
          message: "'VoltageL1' is readWrite 'R', which does not allow the command's 'RW'",
        },
        {
          path: 'spec.deviceCommands[1].resourceOperations[2].deviceResource',
          message: "'ActiveEnergy' is readWrite 'R', which does not allow the command's 'RW'",
        },
      ]),
    );
    expect(issues).toHaveLength(10);
  });

  it('requires at least one device resource and known fields', () => {
    expect(validateResource(profile({ deviceResources: [], colour: 'red' }))).toEqual([
      { path: 'spec.deviceResources', message: expect.stringContaining('1') },
      { path: 'spec.colour', message: 'is not a known field' },
    ]);
  });

  it('checks apiVersion, kind, names and labels, reporting all', () => {
    const issues = validateResource({
      apiVersion: 'v1',
      kind: 'Gadget',
      metadata: { name: 'Bad_Name', labels: { 'ok/key': 'v', '-bad': 'x', good: '-bad-' }, extra: 1 },
      spec: {},
      surplus: true,
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: 'surplus', message: 'is not a known field' },
        { path: 'apiVersion', message: `must be '${API_VERSION}' (is "v1")` },
        { path: 'kind', message: expect.stringContaining("'Site', 'Node', 'DeviceProfile', 'Device', 'Addon'") },
        { path: 'metadata.extra', message: 'is not a known field' },
        { path: 'metadata.name', message: expect.stringContaining('DNS-1123 subdomain') },
        { path: 'metadata.labels.-bad', message: expect.stringContaining('key name part') },
        { path: 'metadata.labels.good', message: expect.stringContaining('value must consist') },
      ]),
    );
    expect(validateResource(null)).toEqual([{ path: '', message: 'must be an object' }]);
    expect(validateResource({ apiVersion: API_VERSION, kind: 'Site', metadata: { name: 'plant-a' } })).toEqual([
      { path: 'spec', message: 'is required' },
    ]);
  });

  it('applies DNS-1123 label rules to Site names and subdomain rules to others', () => {
    const site = (name: string): unknown => ({ apiVersion: API_VERSION, kind: 'Site', metadata: { name }, spec: {} });
    expect(validateResource(site('plant-a'))).toEqual([]);
    expect(validateResource(site('plant.a'))[0]?.path).toBe('metadata.name');
    expect(validateResource(site('a'.repeat(64)))[0]?.message).toContain('63');
    expect(validateResource(device({}, 'meter.1.plant-a'))).toEqual([]);
    expect(validateResource(device({}, 'Meter'))[0]?.path).toBe('metadata.name');
  });

  it('validates devices: protocols, admin state default, Go durations', () => {
    const ok = prepareResource(device({ autoEvents: [{ sourceName: 'VoltageL1', interval: '1s', onChange: true }, { sourceName: 'Measurements', interval: '1h30m' }] }));
    expect(ok.ok).toBe(true);
    if (ok.ok) expect((ok.value.spec as { adminState: string }).adminState).toBe('UNLOCKED');

    const issues = validateResource(
      device({
        site: 'Plant A',
        protocols: {},
        adminState: 'OPEN',
        autoEvents: [{ sourceName: 'VoltageL1', interval: '1 second' }, { sourceName: 'x', interval: '0s' }],
        plugin: 'Modbus!',
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: 'spec.site', message: expect.stringContaining('DNS-1123 label') },
        { path: 'spec.protocols', message: expect.stringContaining('1') },
        { path: 'spec.adminState', message: "must be one of 'LOCKED', 'UNLOCKED'" },
        { path: 'spec.autoEvents[0].interval', message: expect.stringContaining('Go duration') },
        { path: 'spec.autoEvents[1].interval', message: 'must be longer than zero' },
        { path: 'spec.plugin', message: expect.stringContaining('plugin id') },
      ]),
    );
    expect(issues).toHaveLength(6);
  });

  it('validates addons: semver range, sites, selector, templates', () => {
    const addon = (spec: Record<string, unknown>): unknown => ({ apiVersion: API_VERSION, kind: 'Addon', metadata: { name: 'modbus' }, spec });
    expect(
      validateResource(addon({ plugin: 'modbus', version: '^1.2.0', config: { pollMs: 100 }, sites: ['plant-a'], siteSelector: { region: 'eu' }, templates: { 'plant-a': { pollMs: 50 } } })),
    ).toEqual([]);
    expect(validateResource(addon({ plugin: 'modbus', version: 'newest', sites: ['a', 'a'], siteSelector: { region: 'e u' }, templates: { 'Plant A': {} } }))).toEqual([
      { path: 'spec.version', message: "must be a semver range such as '^1.2.0' (is 'newest')" },
      { path: 'spec.sites[1]', message: "duplicates spec.sites[0] 'a'" },
      { path: 'spec.siteSelector.region', message: expect.stringContaining('value') },
      { path: 'spec.templates.Plant A', message: expect.stringContaining('site name') },
    ]);
  });

  it('rejects values that are not JSON', () => {
    const issues = validateResource(device({ desired: { when: new Date(0), big: 1n, nan: Number.NaN } }));
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: 'spec.desired.when', message: 'must be plain JSON data (is a Date)' },
        { path: 'spec.desired.big', message: 'must be JSON data (is a bigint)' },
        { path: 'spec.desired.nan', message: 'must be a finite number (is NaN)' },
      ]),
    );
  });

  it('validates status bodies per kind', () => {
    expect(validateStatus('Site', { phase: 'Online', lastSeen: '2024-01-01T00:00:00Z', syncedResourceVersion: '12' })).toEqual([]);
    expect(validateStatus('Site', { phase: 'Sleeping', syncedResourceVersion: 'v12' })).toEqual([
      { path: 'status.phase', message: "must be one of 'Pending', 'Online', 'Offline'" },
      { path: 'status.syncedResourceVersion', message: 'must be a resourceVersion (a decimal number)' },
    ]);
    expect(
      validateStatus('Device', { operatingState: 'UP', reported: { VoltageL1: { value: 231.4, origin: 1700000000000000000, quality: 'good' } } }),
    ).toEqual([]);
    expect(validateStatus('Device', { reported: { VoltageL1: { value: 1 } } })).toEqual([
      { path: 'status.reported.VoltageL1.origin', message: 'is required' },
    ]);
    expect(validateStatus('Addon', { sites: { 'plant-a': { state: 'running' } } })).toEqual([]);
  });

  it("reads autoEvent intervals as Go does, and takes only those longer than zero", () => {
    const intervals = (...values: string[]): unknown => device({ autoEvents: values.map((interval, i) => ({ sourceName: `r${i}`, interval })) });
    expect(validateResource(intervals('500ms', '1h30m', '1.5s', '.5s', '+2s', '1500us', '12\u03bcs', '1h2m3s4ms5us6ns'))).toEqual([]);
    expect(validateResource(intervals('10', '1d', '', '3000000h', '0', '0s', '-1s', '-0'))).toEqual([
      { path: 'spec.autoEvents[0].interval', message: expect.stringMatching(/^must be a Go duration such as .*: it has no unit after '10'/) },
      { path: 'spec.autoEvents[1].interval', message: expect.stringContaining("it has the unknown unit 'd'") },
      { path: 'spec.autoEvents[2].interval', message: expect.stringContaining('it is empty') },
      { path: 'spec.autoEvents[3].interval', message: expect.stringContaining('it is out of range') },
      { path: 'spec.autoEvents[4].interval', message: 'must be longer than zero' },
      { path: 'spec.autoEvents[5].interval', message: 'must be longer than zero' },
      { path: 'spec.autoEvents[6].interval', message: 'must be longer than zero' },
      { path: 'spec.autoEvents[7].interval', message: 'must be longer than zero' },
    ]);
  });
});
