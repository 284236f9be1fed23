import { describe, expect, it } from 'vitest';
import { readableResources, readSourceProblem, resourceMappings, resourcesToRead, sourceResources, type ProfileSources } from './index.ts';

/** An air conditioner as EdgeX profiles describe one: raw registers, commands grouping them, value mappings on the commands. */
const AC: ProfileSources = {
  deviceResources: [
    { name: 'Mode', properties: { readWrite: 'RW' } },
    { name: 'Fan', properties: { readWrite: 'RW' } },
    { name: 'Temperature', properties: { readWrite: 'R' } },
    { name: 'Reset', properties: { readWrite: 'W' } },
  ],
  deviceCommands: [
    // Write-only first: its mappings are for writes only.
    { name: 'SetMode', readWrite: 'W', resourceOperations: [{ deviceResource: 'Mode', mappings: { '1': 'Cooling', '3': 'Drying' } }] },
    { name: 'Values', readWrite: 'RW', resourceOperations: [{ deviceResource: 'Mode', mappings: { '0': 'Cool', '3': 'Dry' } }, { deviceResource: 'Fan' }, { deviceResource: 'Temperature' }] },
    { name: 'FanOnly', readWrite: 'R', resourceOperations: [{ deviceResource: 'Fan', mappings: { '2': 'High' } }] },
    { name: 'DoReset', readWrite: 'W', resourceOperations: [{ deviceResource: 'Reset' }] },
  ],
};

describe('profile sources', () => {
  it('resolves a source to its resources: the deviceResource itself, or those of a deviceCommand', () => {
    expect(sourceResources(AC, 'Temperature')).toEqual(['Temperature']);
    expect(sourceResources(AC, 'Values')).toEqual(['Mode', 'Fan', 'Temperature']);
    expect(sourceResources(AC, 'Nope')).toBeUndefined();
    expect(sourceResources({ deviceResources: [{ name: 'x', properties: { readWrite: 'R' } }] }, 'Values')).toBeUndefined();
  });

  it('says why a source cannot be read, naming it', () => {
    expect(readSourceProblem(AC, 'Values')).toBeUndefined();
    expect(readSourceProblem(AC, 'Fan')).toBeUndefined();
    expect(readSourceProblem(AC, 'Reset')).toBe("'Reset' is a write-only deviceResource (readWrite 'W')");
    expect(readSourceProblem(AC, 'DoReset')).toBe("'DoReset' is a write-only deviceCommand (readWrite 'W')");
    expect(readSourceProblem(AC, 'Pressure')).toBe("'Pressure' is neither a deviceResource nor a deviceCommand of the profile (it has Mode, Fan, Temperature, Reset, SetMode, Values, FanOnly, DoReset)");
  });

  it('reads every readable resource when nothing is named, and each resource once', () => {
    expect(readableResources(AC)).toEqual(['Mode', 'Fan', 'Temperature']);
    expect(resourcesToRead(AC, [])).toEqual({ resources: ['Mode', 'Fan', 'Temperature'] });
    expect(resourcesToRead(AC, ['Temperature', 'Values', 'Fan'])).toEqual({ resources: ['Temperature', 'Mode', 'Fan'] });
    expect(resourcesToRead(AC, ['Fan', 'Reset', 'Nope'])).toEqual({ source: 'Reset', problem: "'Reset' is a write-only deviceResource (readWrite 'W')" });
  });

  it("applies the mappings of the first resourceOperation naming the resource in a command that allows the access", () => {
    // Reading skips the write-only SetMode; writing takes it, being first.
    expect(resourceMappings(AC, 'Mode', 'R')).toEqual({ '0': 'Cool', '3': 'Dry' });
    expect(resourceMappings(AC, 'Mode', 'W')).toEqual({ '1': 'Cooling', '3': 'Drying' });
    // Fan's first readable operation (in Values) has none: FanOnly's are not used, as in EdgeX.
    expect(resourceMappings(AC, 'Fan', 'R')).toBeUndefined();
    expect(resourceMappings(AC, 'Temperature', 'R')).toBeUndefined();
    expect(resourceMappings({ deviceResources: AC.deviceResources }, 'Mode', 'R')).toBeUndefined();
    expect(resourceMappings({ ...AC, deviceCommands: [{ name: 'c', readWrite: 'R', resourceOperations: [{ deviceResource: 'Mode', mappings: {} }] }] }, 'Mode', 'R')).toBeUndefined();
  });
});
