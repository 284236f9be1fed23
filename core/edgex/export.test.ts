/**
 * Export of resources made here (not imported): EdgeX names from their own
 * names, v3's types, notes for what EdgeX has no field for, and a refusal
 * when two resources would share one EdgeX name.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { API_VERSION, type Resource } from '../store/index.ts';
import { EDGEX_FIELDS_ANNOTATION, EDGEX_NAME_ANNOTATION, ErrEdgeXExportClash, exportEdgeX, parseEdgeXFiles } from './index.ts';

const profile = (name: string, spec: Record<string, unknown>, meta: Partial<Resource['metadata']> = {}): Resource => ({ apiVersion: API_VERSION, kind: 'DeviceProfile', metadata: { name, ...meta }, spec });
const device = (name: string, spec: Record<string, unknown>, meta: Partial<Resource['metadata']> = {}): Resource => ({ apiVersion: API_VERSION, kind: 'Device', metadata: { name, ...meta }, spec });

describe('exportEdgeX', () => {
  it('names resources made here by their own names (a profile in v3 form), writes v3 types, and notes what EdgeX has no field for', () => {
    const boiler = profile(
      'plant-a.boiler-1',
      {
        manufacturer: 'acme',
        deviceResources: [
          { name: 'temperature', properties: { valueType: 'Float64', readWrite: 'R', minimum: '-20', maximum: '120.5', defaultValue: 20 } },
          { name: 'setpoint', properties: { valueType: 'Float64', readWrite: 'RW' } },
        ],
        deviceCommands: [{ name: 'Values', readWrite: 'R', resourceOperations: [{ deviceResource: 'temperature', defaultValue: 1 }] }],
      },
      { labels: { tier: 'gold' } },
    );
    const b1 = device('plant-a.boiler-1', {
      site: 'plant-a',
      profile: 'plant-a.boiler-1',
      plugin: 'mqtt',
      desired: { setpoint: 60 },
      driftPolicy: { '*': 'report' },
      adminState: 'UNLOCKED',
      protocols: { mqtt: { topic: 'plant-a/boiler-1' } },
    });
    const site: Resource = { apiVersion: API_VERSION, kind: 'Site', metadata: { name: 'plant-a' }, spec: {} };
    const out = exportEdgeX([site, b1, boiler]);
    expect(out.files.map((f) => f.name)).toEqual(['profiles/plant-a.boiler-1.yaml', 'devices/devices.yaml']);
    const p = parse(out.files[0]!.content) as Record<string, unknown>;
    expect(p).toEqual({
      apiVersion: 'v3',
      name: 'plant-a-boiler-1',
      manufacturer: 'acme',
      deviceResources: [
        { name: 'temperature', properties: { valueType: 'Float64', readWrite: 'R', minimum: -20, maximum: 120.5, defaultValue: '20' } },
        { name: 'setpoint', properties: { valueType: 'Float64', readWrite: 'RW' } },
      ],
      deviceCommands: [{ name: 'Values', readWrite: 'R', resourceOperations: [{ deviceResource: 'temperature', defaultValue: '1' }] }],
    });
    expect(parse(out.files[1]!.content)).toEqual({
      deviceList: [{ name: 'plant-a.boiler-1', profileName: 'plant-a-boiler-1', adminState: 'UNLOCKED', protocols: { mqtt: { topic: 'plant-a/boiler-1' } } }],
    });
    expect(out.notes).toEqual([
      "DeviceProfile 'plant-a.boiler-1': metadata.labels are the platform's alone (EdgeX labels are a device's or profile's own list): not written",
      "Device 'plant-a.boiler-1': spec.plugin is the platform's alone (EdgeX has no field for it): not written",
      "Device 'plant-a.boiler-1': spec.desired is the platform's alone (EdgeX has no field for it): not written",
      "Device 'plant-a.boiler-1': spec.driftPolicy is the platform's alone (EdgeX has no field for it): not written",
    ]);
    // What it wrote imports back.
    expect(parseEdgeXFiles(out.files, { site: 'plant-a' }).problems).toEqual([]);
  });

  it('says so when a device’s profile is not in the export, and when kept fields cannot be read', () => {
    const d = device('pump-1', { site: 'plant-a', profile: 'pump.v2', protocols: { other: {} } }, { annotations: { [EDGEX_FIELDS_ANNOTATION]: 'not json' } });
    const out = exportEdgeX([d], { encoding: 'json' });
    expect(out.files.map((f) => f.name)).toEqual(['devices/devices.json']);
    expect(JSON.parse(out.files[0]!.content)).toEqual([{ name: 'pump-1', profileName: 'pump-v2', protocols: { other: {} } }]);
    expect(out.notes).toEqual([
      "Device 'pump-1': its profile 'pump.v2' is not in the export; profileName is written as 'pump-v2'",
      "Device 'pump-1': annotation edgex.edgeadm.io/fields is not a JSON object: the EdgeX fields it should keep are not written",
    ]);
  });

  it('refuses two resources that would have one EdgeX name, naming both', () => {
    const spec = { deviceResources: [{ name: 'x', properties: { valueType: 'Bool', readWrite: 'R' } }] };
    const a = profile('tank.a', spec);
    const b = profile('tank-a', spec, { annotations: { [EDGEX_NAME_ANNOTATION]: 'tank-a' } });
    expect(() => exportEdgeX([a, b])).toThrow(ErrEdgeXExportClash);
    expect(() => exportEdgeX([a, b])).toThrow("EdgeX export: DeviceProfiles 'tank-a' and 'tank.a' would both be EdgeX 'tank-a'");
    expect(exportEdgeX([]).files).toEqual([]);
  });
});
