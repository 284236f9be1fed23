import { describe, expect, it } from 'vitest';
import { applyPatch, mergePatch, strategicMerge, type JsonObject } from './patch.ts';

const node: JsonObject = {
  metadata: { name: 'n1', labels: { a: '1', b: '2' } },
  status: {
    conditions: [
      { type: 'MemoryPressure', status: 'False', lastHeartbeatTime: 't0' },
      { type: 'Ready', status: 'True', lastHeartbeatTime: 't0' },
    ],
    addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
    images: [{ names: ['a'] }],
  },
};

describe('mergePatch (RFC 7386)', () => {
  it('merges objects, removes with null, replaces lists and scalars', () => {
    expect(mergePatch(node, { metadata: { labels: { a: null, c: '3' } }, status: { images: [] } })).toEqual({
      ...node,
      metadata: { name: 'n1', labels: { b: '2', c: '3' } },
      status: { ...(node.status as JsonObject), images: [] },
    });
    expect(mergePatch({ a: 1 }, 'x')).toBe('x');
  });
});

describe('strategicMerge', () => {
  it("merges the kubelet's condition heartbeat by type and keeps the order $setElementOrder gives", () => {
    const out = strategicMerge(node, {
      status: {
        '$setElementOrder/conditions': [{ type: 'MemoryPressure' }, { type: 'Ready' }],
        conditions: [{ type: 'Ready', lastHeartbeatTime: 't1' }],
      },
    }) as JsonObject;
    expect((out.status as JsonObject).conditions).toEqual([
      { type: 'MemoryPressure', status: 'False', lastHeartbeatTime: 't0' },
      { type: 'Ready', status: 'True', lastHeartbeatTime: 't1' },
    ]);
  });

  it('appends a new item, deletes with $patch: delete, reorders by $setElementOrder alone', () => {
    const out = strategicMerge(node, {
      status: {
        conditions: [{ type: 'DiskPressure', status: 'False' }, { type: 'MemoryPressure', $patch: 'delete' }],
        '$setElementOrder/addresses': [{ type: 'InternalIP' }],
      },
    }) as JsonObject;
    expect(((out.status as JsonObject).conditions as JsonObject[]).map((c) => c.type)).toEqual(['Ready', 'DiskPressure']);
    expect((out.status as JsonObject).addresses).toEqual([{ type: 'InternalIP', address: '10.0.0.1' }]);
  });

  it('replaces lists without a merge key, honours $patch: replace, $deleteFromPrimitiveList and null', () => {
    const out = strategicMerge({ ...node, spec: { podCIDRs: ['a', 'b'] } }, {
      status: { images: [{ names: ['b'] }] },
      metadata: { $patch: 'replace', name: 'n1' },
      spec: { '$deleteFromPrimitiveList/podCIDRs': ['a'] },
    }) as JsonObject;
    expect((out.status as JsonObject).images).toEqual([{ names: ['b'] }]);
    expect(out.metadata).toEqual({ name: 'n1' });
    expect(out.spec).toEqual({ podCIDRs: ['b'] });
    expect(strategicMerge(node, { metadata: { labels: null } })).toMatchObject({ metadata: { name: 'n1' } });
  });
});

describe('applyPatch', () => {
  it('applies by content type, and not JSON patch or apply (answered online only)', () => {
    expect(applyPatch({ a: 1 }, 'application/merge-patch+json', { b: 2 })).toEqual({ a: 1, b: 2 });
    expect(applyPatch({ a: 1 }, 'application/strategic-merge-patch+json; charset=utf-8', { b: 2 })).toEqual({ a: 1, b: 2 });
    expect(applyPatch({ a: 1 }, 'application/json-patch+json', [{ op: 'add', path: '/b', value: 2 }])).toBeUndefined();
    expect(applyPatch({ a: 1 }, 'application/apply-patch+yaml', 'b: 2')).toBeUndefined();
  });
});
