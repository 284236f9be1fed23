/**
 * The NodeUnit and NodeGroup reconcilers against the Kubernetes API test
 * server with the grid CRDs installed: membership by node list and by
 * selector, readiness counts, setNode applied and removed exactly when a
 * node leaves, NodeGroup labels following a node from unit to unit, and a
 * restart in the middle of a change.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return -- raw answers are arbitrary Kubernetes JSON (RawResponse.body) */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { rawClient, type RawClient } from '../../test/support/kube-apiserver/client.ts';
import { startKubeApiServer, type KubeApiServer } from '../../test/support/kube-apiserver/index.ts';
import { createLogger } from '../kernel/index.ts';
import { applyCrds, crdFromSchema, openKubeClient, type KubeClient } from '../store/index.ts';
import { GRID_KIND_NAMES, GRID_KINDS } from './types.ts';
import { APPLIED_ANNOTATION, NODE_UNITS_ANNOTATION, startUnitControllers, type UnitControllers } from './units.ts';

const logLines: string[] = [];
const logger = createLogger({ level: 'warn', destination: { write: (l: string) => void logLines.push(l) } });
const UNITS = '/apis/site.superedge.io/v1alpha2/nodeunits';
const GROUPS = '/apis/site.superedge.io/v1alpha2/nodegroups';
const MERGE = 'application/merge-patch+json';

let server: KubeApiServer;
let dir: string;
let client: KubeClient;
let raw: RawClient;
let running: UnitControllers;

beforeAll(async () => {
  server = await startKubeApiServer({ bookmarkIntervalMs: 200 });
  dir = await mkdtemp(path.join(tmpdir(), 'edgeadm-grid-units-'));
  client = await openKubeClient(await server.kubeconfig(dir));
  raw = rawClient(server);
  await applyCrds(client, GRID_KIND_NAMES.map((k) => crdFromSchema(GRID_KINDS[k])));
  running = await startUnitControllers({ client, logger });
});

afterAll(async () => {
  await running.close();
  await client.close();
  await raw.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function ok<T extends { status: number }>(r: Promise<T>): Promise<T> {
  const got = await r;
  if (got.status >= 300) throw new Error(`kube answered ${got.status}: ${JSON.stringify((got as { body?: unknown }).body)}`);
  return got;
}

async function addNode(name: string, labels: Record<string, string>, ready: boolean, extra: { taints?: unknown[] } = {}): Promise<void> {
  await ok(raw.call('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels }, spec: extra.taints === undefined ? {} : { taints: extra.taints } }));
  await setReady(name, ready);
}
const setReady = (name: string, ready: boolean) => ok(raw.call('PATCH', `/api/v1/nodes/${name}/status`, { status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } }, MERGE));
const labelNode = (name: string, labels: Record<string, string | null>) => ok(raw.call('PATCH', `/api/v1/nodes/${name}`, { metadata: { labels } }, MERGE));
const getNode = async (name: string) => (await ok(raw.call('GET', `/api/v1/nodes/${name}`))).body;
const addUnit = (name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}) =>
  ok(raw.call('POST', UNITS, { apiVersion: 'site.superedge.io/v1alpha2', kind: 'NodeUnit', metadata: { name, labels }, spec }));
const addGroup = (name: string, spec: Record<string, unknown>) => ok(raw.call('POST', GROUPS, { apiVersion: 'site.superedge.io/v1alpha2', kind: 'NodeGroup', metadata: { name }, spec }));
const unitStatus = async (name: string) => (await ok(raw.call('GET', `${UNITS}/${name}`))).body.status;

const eventually = (check: () => Promise<void>): Promise<void> => vi.waitFor(check, { timeout: 5000, interval: 25 });

describe('NodeUnit', () => {
  it('takes members by node list and by selector, and counts them ready by their Ready condition', async () => {
    await addNode('m-a1', { zone: 'a' }, true);
    await addNode('m-a2', { zone: 'a', rack: 'r2' }, false);
    await addNode('m-b1', { zone: 'b' }, true);
    await addNode('m-c1', { zone: 'c' }, true);
    await addUnit('unit-a', { nodes: ['m-b1'], selector: { matchLabels: { zone: 'a' } } });
    await addUnit('unit-expr', { selector: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'c'] }, { key: 'rack', operator: 'DoesNotExist' }] } });
    await addUnit('unit-empty', { selector: {} });

    await eventually(async () => expect(await unitStatus('unit-a')).toEqual({ readyRate: '2/3', readyNodes: ['m-a1', 'm-b1'], notReadyNodes: ['m-a2'] }));
    await eventually(async () => expect(await unitStatus('unit-expr')).toEqual({ readyRate: '2/2', readyNodes: ['m-a1', 'm-c1'], notReadyNodes: [] }));
    await eventually(async () => expect(await unitStatus('unit-empty')).toEqual({ readyRate: '0/0', readyNodes: [], notReadyNodes: [] }));

    await setReady('m-a2', true);
    await eventually(async () => expect((await unitStatus('unit-a')).readyRate).toBe('3/3'));
    await setReady('m-b1', false);
    await eventually(async () => expect(await unitStatus('unit-a')).toEqual({ readyRate: '2/3', readyNodes: ['m-a1', 'm-a2'], notReadyNodes: ['m-b1'] }));
    // A node whose label no longer matches leaves; one named in spec.nodes stays whatever its labels.
    await labelNode('m-a1', { zone: 'x' });
    await labelNode('m-b1', { zone: 'x' });
    await eventually(async () => expect(await unitStatus('unit-a')).toEqual({ readyRate: '1/2', readyNodes: ['m-a2'], notReadyNodes: ['m-b1'] }));
    await eventually(async () => expect(await unitStatus('unit-expr')).toEqual({ readyRate: '1/1', readyNodes: ['m-c1'], notReadyNodes: [] }));
  });

  it('puts setNode on member nodes and removes exactly that when a node leaves', async () => {
    await addNode('s-1', { site: 's', keep: 'mine' }, true, { taints: [{ key: 'own', value: 'x', effect: 'NoSchedule' }] });
    await addNode('s-2', { site: 'other' }, true);
    await addUnit('unit-s', {
      selector: { matchLabels: { site: 's' } },
      setNode: { labels: { role: 'edge' }, annotations: { 'example.com/note': 'from-unit' }, taints: [{ key: 'dedicated', value: 's', effect: 'NoSchedule' }] },
    });
    await eventually(async () => {
      const n = await getNode('s-1');
      expect(n.metadata.labels).toEqual({ site: 's', keep: 'mine', role: 'edge' });
      expect(n.metadata.annotations['example.com/note']).toBe('from-unit');
      expect(JSON.parse(n.metadata.annotations[NODE_UNITS_ANNOTATION])).toEqual(['unit-s']);
      expect(n.spec.taints).toEqual([{ key: 'own', value: 'x', effect: 'NoSchedule' }, { key: 'dedicated', value: 's', effect: 'NoSchedule' }]);
    });
    expect((await getNode('s-2')).metadata.labels).toEqual({ site: 'other' });

    // s-2 joins, s-1 leaves: each changes by the unit's setNode and nothing else.
    await labelNode('s-2', { site: 's' });
    await labelNode('s-1', { site: 'gone' });
    await eventually(async () => {
      const left = await getNode('s-1');
      expect(left.metadata.labels).toEqual({ site: 'gone', keep: 'mine' });
      expect(left.metadata.annotations ?? {}).toEqual({});
      expect(left.spec.taints).toEqual([{ key: 'own', value: 'x', effect: 'NoSchedule' }]);
      const joined = await getNode('s-2');
      expect(joined.metadata.labels).toEqual({ site: 's', role: 'edge' });
      expect(joined.spec.taints).toEqual([{ key: 'dedicated', value: 's', effect: 'NoSchedule' }]);
    });
    await eventually(async () => expect(await unitStatus('unit-s')).toEqual({ readyRate: '1/1', readyNodes: ['s-2'], notReadyNodes: [] }));

    // A changed setNode replaces what the unit set; a deleted unit takes all of it back.
    await ok(raw.call('PATCH', `${UNITS}/unit-s`, { spec: { setNode: { labels: { role: 'edge2', extra: 'y' }, annotations: null, taints: null } } }, MERGE));
    await eventually(async () => {
      const n = await getNode('s-2');
      expect(n.metadata.labels).toEqual({ site: 's', role: 'edge2', extra: 'y' });
      expect(n.metadata.annotations['example.com/note']).toBeUndefined();
      expect(n.spec.taints ?? []).toEqual([]);
    });
    await ok(raw.call('DELETE', `${UNITS}/unit-s`));
    await eventually(async () => {
      const n = await getNode('s-2');
      expect(n.metadata.labels).toEqual({ site: 's' });
      expect(n.metadata.annotations ?? {}).toEqual({});
    });
  });
});

describe('bad input', () => {
  it('an invalid selector selects nothing and is logged with its code and unit; an unreadable node record is rebuilt', async () => {
    await addNode('bad-1', { zone: 'q' }, true);
    await addUnit('unit-bad', { nodes: ['bad-1'], selector: { matchExpressions: [{ key: 'zone', operator: 'In', values: [] }] }, setNode: { labels: { picked: 'yes' } } });
    await eventually(async () => expect(await unitStatus('unit-bad')).toEqual({ readyRate: '1/1', readyNodes: ['bad-1'], notReadyNodes: [] }));
    expect(logLines.join('\n')).toMatch(/EDGE_ERR_GRID_UNIT_SELECTOR.*NodeUnit unit-bad: spec.selector is invalid/);

    await ok(raw.call('PATCH', '/api/v1/nodes/bad-1', { metadata: { annotations: { [APPLIED_ANNOTATION]: '{not json' } } }, MERGE));
    await eventually(async () => {
      const n = await getNode('bad-1');
      expect(n.metadata.labels).toEqual({ zone: 'q', picked: 'yes' });
      expect(JSON.parse(n.metadata.annotations[APPLIED_ANNOTATION])).toEqual({ labels: ['picked'], annotations: [NODE_UNITS_ANNOTATION], taints: [] });
    });
    expect(logLines.join('\n')).toMatch(/EDGE_ERR_GRID_NODE_RECORD.*node bad-1: annotation nodeunit.edgeadm.io\/applied is unreadable/);
  });
});

describe('NodeGroup', () => {
  it('labels each member node <group>: <unit>, and follows a node from unit to unit as its labels change', async () => {
    await addNode('g-1', { plant: 'a' }, true);
    await addNode('g-2', { plant: 'b' }, true);
    await addUnit('plant-a', { selector: { matchLabels: { plant: 'a' } } }, { tier: 'plants' });
    await addUnit('plant-b', { selector: { matchLabels: { plant: 'b' } } }, { tier: 'plants' });
    await addUnit('plant-c', { nodes: ['nobody'] });
    await addGroup('plants', { selector: { matchLabels: { tier: 'plants' } } });
    await addGroup('named', { nodeUnits: ['plant-b', 'plant-c'] });

    await eventually(async () => {
      expect((await getNode('g-1')).metadata.labels).toEqual({ plant: 'a', plants: 'plant-a' });
      expect((await getNode('g-2')).metadata.labels).toEqual({ plant: 'b', plants: 'plant-b', named: 'plant-b' });
      expect((await ok(raw.call('GET', `${GROUPS}/plants`))).body.status).toEqual({ nodeUnits: ['plant-a', 'plant-b'], unitNumber: 2 });
      expect((await ok(raw.call('GET', `${GROUPS}/named`))).body.status).toEqual({ nodeUnits: ['plant-b', 'plant-c'], unitNumber: 2 });
    });

    await labelNode('g-1', { plant: 'b' });
    await eventually(async () => expect((await getNode('g-1')).metadata.labels).toEqual({ plant: 'b', plants: 'plant-b', named: 'plant-b' }));
    await labelNode('g-1', { plant: null });
    await eventually(async () => expect((await getNode('g-1')).metadata.labels).toEqual({}));
    await eventually(async () => expect(await unitStatus('plant-b')).toEqual({ readyRate: '1/1', readyNodes: ['g-2'], notReadyNodes: [] }));
  });
});

describe('restart', () => {
  it('a fresh controller converges from what changed while none ran', async () => {
    await addNode('r-1', { line: 'one' }, true);
    await addNode('r-2', { line: 'two' }, true);
    await addUnit('line-one', { selector: { matchLabels: { line: 'one' } }, setNode: { labels: { shift: 'day' } } }, { kind: 'line' });
    await addUnit('line-two', { selector: { matchLabels: { line: 'two' } }, setNode: { labels: { shift: 'night' } } }, { kind: 'line' });
    await addGroup('lines', { selector: { matchLabels: { kind: 'line' } } });
    await eventually(async () => {
      expect((await getNode('r-1')).metadata.labels).toEqual({ line: 'one', shift: 'day', lines: 'line-one' });
      expect((await getNode('r-2')).metadata.labels).toEqual({ line: 'two', shift: 'night', lines: 'line-two' });
    });

    await labelNode('r-1', { line: 'two' }); // the controller may or may not see this before it stops
    await running.close();
    await ok(raw.call('DELETE', `${UNITS}/line-two`));
    await addUnit('line-three', { nodes: ['r-2'], setNode: { annotations: { 'example.com/line': 'three' } } }, { kind: 'line' });
    await setReady('r-2', false);
    expect((await getNode('r-2')).metadata.labels.shift).toBe('night');

    running = await startUnitControllers({ client, logger });
    await eventually(async () => {
      const r1 = await getNode('r-1');
      expect(r1.metadata.labels).toEqual({ line: 'two' });
      expect(r1.metadata.annotations?.[APPLIED_ANNOTATION]).toBeUndefined();
      const r2 = await getNode('r-2');
      expect(r2.metadata.labels).toEqual({ line: 'two', lines: 'line-three' });
      expect(r2.metadata.annotations['example.com/line']).toBe('three');
      expect(await unitStatus('line-three')).toEqual({ readyRate: '0/1', readyNodes: [], notReadyNodes: ['r-2'] });
      expect(await unitStatus('line-one')).toEqual({ readyRate: '0/0', readyNodes: [], notReadyNodes: [] });
      expect((await ok(raw.call('GET', `${GROUPS}/lines`))).body.status).toEqual({ nodeUnits: ['line-one', 'line-three'], unitNumber: 2 });
    });
  });
});
