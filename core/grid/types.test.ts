/**
 * SuperEdge's unit and grid types: the manifests of SuperEdge's docs
 * (test/fixtures/superedge, every field their examples use) are accepted
 * as they are; broken ones are refused, each problem naming its field; the
 * CRDs made from GRID_KINDS carry SuperEdge's names, scopes, short names,
 * printer columns and status subresources, and keep the embedded
 * Kubernetes specs open.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { crdFromSchema } from '../store/index.ts';
import { GRID_KIND_NAMES, GRID_KINDS, gridKindOf, validateGridObject } from './index.ts';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/superedge');

type Obj = Record<string, unknown>;

/** The value at a dotted path (array indexes as numbers: `spec.nodes.0`). */
function get(obj: unknown, p: string): unknown {
  if (p === '') return obj;
  return p.split('.').reduce<unknown>((cur, k) => (cur !== null && typeof cur === 'object' ? (cur as Obj)[k] : undefined), obj);
}

/** Sets (or, with undefined, deletes) the value at a dotted path whose parent exists. */
function put(obj: unknown, p: string, value: unknown): void {
  const keys = p.split('.');
  const last = keys.pop()!;
  const parent = get(obj, keys.join('.')) as Obj;
  if (value === undefined) delete parent[last];
  else parent[last] = value;
}

const nameOf = (obj: Obj): unknown => get(obj, 'metadata.name');

function fixtures(): { file: string; obj: Obj }[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((file) => parseAllDocuments(readFileSync(path.join(FIXTURES, file), 'utf8')).map((d) => ({ file, obj: d.toJS() as Obj })));
}

function fixture(kind: string, name: string): Obj {
  const found = fixtures().find((f) => f.obj.kind === kind && nameOf(f.obj) === name);
  if (!found) throw new Error(`no fixture ${kind}/${name}`);
  return structuredClone(found.obj);
}

const paths = (obj: unknown): string[] => validateGridObject(obj).map((i) => i.path);

describe('SuperEdge manifests (fixtures from SuperEdge docs)', () => {
  it('accepts every fixture unchanged, of every kind', () => {
    const all = fixtures();
    expect(new Set(all.map((f) => f.obj.kind))).toEqual(new Set(GRID_KIND_NAMES));
    for (const { file, obj } of all) {
      expect(validateGridObject(obj), `${file}: ${String(obj.kind)}/${String(nameOf(obj))}`).toEqual([]);
      expect(gridKindOf(obj)).toBe(obj.kind);
    }
  });

  it('accepts statuses as SuperEdge controllers write them', () => {
    const nu = { ...fixture('NodeUnit', 'nodeunit-demo'), status: { readyRate: '1/2', readyNodes: ['cvm-5bgl56p8'], notReadyNodes: ['cvm-9baltd2c'], unitClusterStatus: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], addresses: [{ type: 'Advertise', host: '10.0.0.1', port: 6443 }], resource: { capacity: { cpu: 4, memory: '8Gi' } } } } };
    expect(validateGridObject(nu)).toEqual([]);
    const ng = { ...fixture('NodeGroup', 'nodegroup-demo'), status: { unitNumber: 2, nodeUnits: ['nodeunit-demo', 'unit-node-edge'], workloadStatus: [{ workloadName: 'demo', readyUnit: ['zone1'], notReadyUnit: [] }] } };
    expect(validateGridObject(ng)).toEqual([]);
    const dg = { ...fixture('DeploymentGrid', 'deploymentgrid-demo'), status: { states: { 'zone-0': { replicas: 2, readyReplicas: 2, conditions: [{ type: 'Available', status: 'True' }] } } } };
    expect(validateGridObject(dg)).toEqual([]);
  });
});

describe('refused SuperEdge manifests name the field', () => {
  it('NodeUnit: unknown type, misspelt field, bad taint, selector operators, namespace on a cluster-scoped kind', () => {
    const nu = fixture('NodeUnit', 'nodeunit-demo');
    put(nu, 'metadata.namespace', 'default');
    put(nu, 'spec.type', 'bogus');
    put(nu, 'spec.setnode', get(nu, 'spec.setNode')); // v1's spelling, not v1alpha2's
    put(nu, 'spec.setNode.taints.0.effect', 'Sometimes');
    put(nu, 'spec.selector.matchExpressions.1.values', []);
    put(nu, 'spec.selector.matchExpressions.0.values', ['x']);
    put(nu, 'spec.autonomyLevel', 'L9');
    const issues = validateGridObject(nu);
    expect(issues.map((i) => i.path).sort()).toEqual(
      [
        'metadata.namespace',
        'spec.type',
        'spec.setnode',
        'spec.setNode.taints[0].effect',
        'spec.selector.matchExpressions[1].values',
        'spec.selector.matchExpressions[0].values',
        'spec.autonomyLevel',
      ].sort(),
    );
    expect(issues.find((i) => i.path === 'spec.type')?.message).toMatch(/'edge', 'cloud', 'master', 'other'/);
    expect(issues.find((i) => i.path === 'spec.setnode')?.message).toBe('is not a known field');
  });

  it('NodeGroup: bad label keys, wrong types', () => {
    const ng = fixture('NodeGroup', 'nodegroup-demo');
    put(ng, 'spec.autoFindNodeKeys', ['zone', 'Not A Key']);
    put(ng, 'spec.nodeUnits', 'unit-node-edge');
    put(ng, 'spec.selector.matchLabels', { 'bad key!': 'x' });
    expect(paths(ng).sort()).toEqual(['spec.autoFindNodeKeys[1]', 'spec.nodeUnits', 'spec.selector.matchLabels.bad key!'].sort());
  });

  it('DeploymentGrid: templates naming no template, selector not matching the template, bad gridUniqKey, negative replicas', () => {
    const dg = fixture('DeploymentGrid', 'deploymentgrid-canary');
    put(dg, 'spec.templates.zone3', 'test3');
    put(dg, 'spec.defaultTemplateName', 'nope');
    put(dg, 'spec.templatePool.test2.selector.matchLabels.appGrid', 'other');
    put(dg, 'spec.templatePool.test1.replicas', -1);
    put(dg, 'spec.gridUniqKey', 'zone/with/slashes');
    const issues = validateGridObject(dg);
    expect(issues.map((i) => i.path).sort()).toEqual(
      ['spec.templates.zone3', 'spec.defaultTemplateName', 'spec.templatePool.test2.selector.matchLabels.appGrid', 'spec.templatePool.test1.replicas', 'spec.gridUniqKey'].sort(),
    );
    expect(issues.find((i) => i.path === 'spec.templates.zone3')?.message).toMatch(/'test3', which is not in spec.templatePool/);
  });

  it('DeploymentGrid: spec.template is required when the default template is used', () => {
    const dg = fixture('DeploymentGrid', 'deploymentgrid-demo');
    put(dg, 'spec.template', undefined);
    expect(validateGridObject(dg)).toEqual([{ path: 'spec.template', message: "is required when defaultTemplateName is 'default' (or not set)" }]);
    put(dg, 'spec.gridUniqKey', undefined);
    expect(paths(dg)).toContain('spec.gridUniqKey');
  });

  it('ServiceGrid and StatefulSetGrid: ports, apiVersion, unknown top-level fields, status where there is none', () => {
    const sg = fixture('ServiceGrid', 'servicegrid-demo');
    put(sg, 'spec.template.ports.0.port', 70000);
    put(sg, 'apiVersion', 'superedge.io/v2');
    put(sg, 'status', { states: {} });
    put(sg, 'extra', 1);
    expect(paths(sg).sort()).toEqual(['apiVersion', 'extra', 'spec.template.ports[0].port', 'status'].sort());
    const ssg = fixture('StatefulSetGrid', 'statefulsetgrid-demo');
    put(ssg, 'spec.template.replicas', 'three');
    expect(paths(ssg)).toEqual(['spec.template.replicas']);
    expect(paths({ apiVersion: 'superedge.io/v1', kind: 'DaemonSetGrid', metadata: { name: 'x' }, spec: {} })).toEqual(['kind']);
  });
});

describe('GRID_KINDS as CRDs (crdFromSchema)', () => {
  const crd = (k: (typeof GRID_KIND_NAMES)[number]): Obj => crdFromSchema(GRID_KINDS[k]);

  it("carries SuperEdge's names, scopes, short names and subresources", () => {
    const expected = {
      NodeUnit: ['nodeunits.site.superedge.io', 'Cluster', ['nu'], true],
      NodeGroup: ['nodegroups.site.superedge.io', 'Cluster', ['ng'], true],
      DeploymentGrid: ['deploymentgrids.superedge.io', 'Namespaced', ['dg'], true],
      StatefulSetGrid: ['statefulsetgrids.superedge.io', 'Namespaced', ['ssg'], true],
      ServiceGrid: ['servicegrids.superedge.io', 'Namespaced', ['sg'], false],
    } as const;
    for (const k of GRID_KIND_NAMES) {
      const c = crd(k);
      const [name, scope, shortNames, status] = expected[k];
      expect(get(c, 'metadata.name')).toBe(name);
      expect(get(c, 'spec.scope')).toBe(scope);
      expect(get(c, 'spec.names.shortNames')).toEqual(shortNames);
      expect(get(c, 'spec.versions.0.subresources') !== undefined).toBe(status);
      expect(get(c, 'spec.versions.0.name')).toBe(k.startsWith('Node') ? 'v1alpha2' : 'v1');
    }
    expect((get(crd('NodeUnit'), 'spec.versions.0.additionalPrinterColumns') as Obj[]).map((c) => c.jsonPath)).toEqual(['.spec.type', '.status.readyRate', '.spec.autonomyLevel', '.metadata.creationTimestamp']);
    expect(get(crd('NodeGroup'), 'spec.versions.0.additionalPrinterColumns.0')).toMatchObject({ name: 'Units', type: 'integer', jsonPath: '.status.unitNumber' });
  });

  it('keeps the embedded Kubernetes specs open and SuperEdge defaults', () => {
    const spec = (k: (typeof GRID_KIND_NAMES)[number]): unknown => get(crd(k), 'spec.versions.0.schema.openAPIV3Schema.properties.spec');
    const open = 'x-kubernetes-preserve-unknown-fields';
    const dg = spec('DeploymentGrid');
    expect(get(dg, `properties.template.${open}`)).toBe(true);
    expect(get(dg, `properties.template.properties.template.properties.metadata.${open}`)).toBe(true);
    expect(get(dg, `properties.templatePool.additionalProperties.${open}`)).toBe(true);
    expect(get(dg, 'properties.defaultTemplateName.default')).toBe('default');
    expect(get(dg, open)).toBeUndefined();
    expect(get(spec('ServiceGrid'), 'properties.template.properties.ports.items.properties.targetPort.x-kubernetes-int-or-string')).toBe(true);
    const nu = spec('NodeUnit');
    expect(get(nu, 'properties.type')).toMatchObject({ type: 'string', default: 'edge', enum: ['edge', 'cloud', 'master', 'other'] });
    expect(get(nu, 'properties.autonomyLevel.default')).toBe('L3');
    expect(get(nu, open)).toBeUndefined();
  });
});
