import { describe, expect, it } from 'vitest';
import type { DriverResource } from '../../../core/sdk/index.ts';
import { nodeIdText, parseNodeId, resolvePoints, type VariablePoint } from './profile.ts';

function res(name: string, attributes: Record<string, unknown>, extra: Partial<DriverResource> = {}): DriverResource {
  return { name, valueType: 'Float64', readWrite: 'RW', attributes, properties: {}, ...extra };
}

describe('opcua node ids', () => {
  it('parses the i, s, g and b forms with ns, nsu or neither', () => {
    expect(parseNodeId('ns=2;s=Machine.Speed')).toEqual({ text: 'ns=2;s=Machine.Speed', namespace: 2, kind: 's', id: 'Machine.Speed' });
    expect(parseNodeId('ns=3;i=1001')).toMatchObject({ namespace: 3, kind: 'i', id: '1001' });
    expect(parseNodeId('i=2258')).toMatchObject({ namespace: 0, kind: 'i', id: '2258' });
    expect(parseNodeId('ns=1;g=09087e75-8e5e-499b-954f-f2a9603db28a')).toMatchObject({ kind: 'g' });
    expect(parseNodeId('ns=1;b=M/RbKBsRVkePCePcx24oRA==')).toMatchObject({ kind: 'b' });
    expect(parseNodeId('nsu=urn:vendor:plc;s=Motor;Speed')).toMatchObject({ namespaceUri: 'urn:vendor:plc', kind: 's', id: 'Motor;Speed' });
    expect(nodeIdText(parseNodeId('nsu=urn:x;i=5') as never, 4)).toBe('ns=4;i=5');
  });

  it('says why a node id is not one', () => {
    expect(parseNodeId('Machine.Speed')).toMatch(/is not a node id/);
    expect(parseNodeId('ns=x;i=1')).toMatch(/namespace index 'x'/);
    expect(parseNodeId('ns=70000;i=1')).toMatch(/namespace index/);
    expect(parseNodeId('i=-1')).toMatch(/numeric identifier/);
    expect(parseNodeId('i=4294967296')).toMatch(/numeric identifier/);
    expect(parseNodeId('ns=2;s=')).toMatch(/must not be empty/);
    expect(parseNodeId('ns=2;g=1234')).toMatch(/GUID/);
    expect(parseNodeId('ns=2;b=***')).toMatch(/base64/);
    expect(parseNodeId('ns=2;x=1')).toMatch(/'x='/);
    expect(parseNodeId('nsu=;s=a')).toMatch(/namespace URI/);
    expect(parseNodeId(42)).toMatch(/must be a node id string/);
  });
});

describe('opcua profile', () => {
  it('resolves variables with their monitoring overrides, and methods', () => {
    const r = resolvePoints([
      res('speed', { nodeId: 'ns=2;s=Machine.Speed', samplingInterval: '100ms', deadbandType: 'Absolute', deadbandValue: '0.5' }, { units: 'rpm', properties: { minimum: '0', maximum: 3000 } }),
      res('add', { objectId: 'ns=2;s=Machine', MethodId: 'ns=2;s=Machine.Add' }, { readWrite: 'W' }),
    ]);
    expect(r.issues).toEqual([]);
    expect(r.points).toEqual([
      {
        kind: 'variable',
        resource: 'speed',
        index: 0,
        valueType: 'Float64',
        readWrite: 'RW',
        units: 'rpm',
        minimum: 0,
        maximum: 3000,
        nodeId: { text: 'ns=2;s=Machine.Speed', namespace: 2, kind: 's', id: 'Machine.Speed' },
        monitoring: { samplingInterval: 100, deadbandType: 'Absolute', deadbandValue: 0.5 },
      },
      expect.objectContaining({ kind: 'method', resource: 'add', objectId: expect.objectContaining({ id: 'Machine' }), methodId: expect.objectContaining({ id: 'Machine.Add' }) }),
    ]);
  });

  it('gives a resource without monitoring overrides none: one frozen object, shared by every such point (a device may have thousands)', () => {
    const r = resolvePoints([res('a', { nodeId: 'ns=2;s=A' }), res('b', { nodeId: 'ns=2;s=B' }), res('c', { nodeId: 'ns=2;s=C', queueSize: 5 })]);
    const [a, b, c] = r.points as VariablePoint[];
    expect(a!.monitoring).toEqual({});
    expect(b!.monitoring).toBe(a!.monitoring);
    expect(Object.isFrozen(a!.monitoring)).toBe(true);
    expect(c!.monitoring).toEqual({ queueSize: 5 });
  });

  it('names each problem by resource and field', () => {
    const r = resolvePoints([
      res('a', {}),
      res('b', { nodeId: 'ns=2;s=B', queueSize: 0, deadbandValue: -1 }),
      res('c', { methodId: 'ns=2;s=M' }, { readWrite: 'R' }),
      res('d', { nodeId: 'ns=2;s=D', objectId: 'ns=2;s=O', methodId: 'ns=2;s=M' }),
      res('e', { nodeId: 'ns=2;s=E' }, { properties: { minimum: 10, maximum: 'high' } }),
      res('f', { nodeId: 'ns=2;s=F' }, { properties: { minimum: 10, maximum: 5 } }),
      res('a', { nodeId: 'i=1' }),
    ]);
    expect(r.points).toEqual([]);
    expect(r.issues.map((i) => [i.path, i.code])).toEqual([
      ['deviceResources[0](a).attributes.nodeId', 'EDGE_ERR_OPCUA_PROFILE_NODE_ID'],
      ['deviceResources[1](b).attributes.queueSize', 'EDGE_ERR_OPCUA_PROFILE_MONITORING'],
      ['deviceResources[1](b).attributes.deadbandValue', 'EDGE_ERR_OPCUA_PROFILE_MONITORING'],
      ['deviceResources[2](c).attributes.objectId', 'EDGE_ERR_OPCUA_PROFILE_NODE_ID'],
      ['deviceResources[2](c).properties.readWrite', 'EDGE_ERR_OPCUA_PROFILE_METHOD'],
      ['deviceResources[3](d).attributes.nodeId', 'EDGE_ERR_OPCUA_PROFILE_METHOD'],
      ['deviceResources[4](e).properties.maximum', 'EDGE_ERR_OPCUA_PROFILE_RANGE'],
      ['deviceResources[5](f).properties.minimum', 'EDGE_ERR_OPCUA_PROFILE_RANGE'],
      ['deviceResources[6](a)', 'EDGE_ERR_OPCUA_PROFILE_DUPLICATE'],
    ]);
  });
});
