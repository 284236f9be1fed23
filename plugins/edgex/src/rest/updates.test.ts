/** core-metadata update requests: their checks and EdgeX's merge rules, on plain forms. */
import { describe, expect, it } from 'vitest';
import { ADD_RESOURCE, UPDATE_DEVICE, editProfile, mergeFields, parseUpdates } from './updates.ts';

const profile = {
  name: 'pump',
  manufacturer: 'Acme',
  deviceResources: [
    { name: 'flow', properties: { valueType: 'Float32', readWrite: 'R' } },
    { name: 'speed', properties: { valueType: 'Uint16', readWrite: 'RW' } },
  ],
  deviceCommands: [{ name: 'all', readWrite: 'R', resourceOperations: [{ deviceResource: 'flow' }] }],
};

describe('parseUpdates', () => {
  it('keeps requestId, profileName and the inner object; names the first field that does not fit', () => {
    expect(parseUpdates([{ apiVersion: 'v3', requestId: 'r', device: { name: 'a', labels: [] } }], UPDATE_DEVICE)).toEqual([{ index: 0, requestId: 'r', value: { name: 'a', labels: [] } }]);
    expect(parseUpdates([{ apiVersion: 'v3', profileName: 'pump', resource: { name: 'x', properties: {} } }], ADD_RESOURCE)).toEqual([{ index: 0, profileName: 'pump', value: { name: 'x', properties: {} } }]);
    expect(() => parseUpdates([{ apiVersion: 'v3', device: { name: 'a' } }, { apiVersion: 'v3', device: { name: 'b', autoEvents: {} } }], UPDATE_DEVICE)).toThrow(/\[1\]\.device\.autoEvents: must be a list of objects/);
    expect(() => parseUpdates([{ apiVersion: 'v3', device: { name: 'a' }, extra: 1 }], UPDATE_DEVICE)).toThrow(/\[0\]\.extra: is not a field/);
    expect(() => parseUpdates([{ apiVersion: 'v3', device: { name: ' ' } }], UPDATE_DEVICE)).toThrow(/\[0\]\.device\.name: must be a non-empty text/);
    expect(() => parseUpdates(null, UPDATE_DEVICE)).toThrow(/body: must be a JSON array/);
  });
});

describe('mergeFields', () => {
  it('replaces given fields whole, leaves the others, never changes id', () => {
    const form = { id: 'd-1', name: 'a', labels: ['x', 'y'], protocols: { modbus: { Address: '1', Port: '502' } }, description: 'old' };
    expect(mergeFields(form, { id: 'other', labels: ['z'], protocols: { modbus: { Address: '2' } } })).toEqual({
      id: 'd-1', name: 'a', labels: ['z'], protocols: { modbus: { Address: '2' } }, description: 'old',
    });
  });
});

describe('editProfile', () => {
  it('adds, updates and deletes on a copy; a refused edit leaves the form as it was', () => {
    const before = structuredClone(profile);
    const added = editProfile(profile, 'deviceResources', { add: { name: 'temp', properties: { valueType: 'Float32', readWrite: 'R' } } });
    expect((added.deviceResources as { name: string }[]).map((r) => r.name)).toEqual(['flow', 'speed', 'temp']);
    const updated = editProfile(added, 'deviceResources', { update: { name: 'speed', description: 'rpm', isHidden: true } });
    expect((updated.deviceResources as object[])[1]).toEqual({ name: 'speed', description: 'rpm', isHidden: true, properties: { valueType: 'Uint16', readWrite: 'RW' } });
    expect(() => editProfile(profile, 'deviceResources', { add: { name: 'flow' } })).toThrow(/device resource 'pump\/flow' already exists/);
    expect(() => editProfile(profile, 'deviceResources', { delete: 'flow' })).toThrow(/used by device command 'all'/);
    expect(() => editProfile(profile, 'deviceCommands', { update: { name: 'none' } })).toThrow(/device command 'pump\/none' not found/);
    expect((editProfile(profile, 'deviceCommands', { delete: 'all' }).deviceCommands as object[])).toEqual([]);
    expect(profile).toEqual(before);
  });
});
