/** Addons through the grid, the pure part: the names, the unit and group, and how per-site workloads become grids. */
import { describe, expect, it } from 'vitest';
import { addonGrids, addonGroupName, addonNodeGroup, HUB_NAMESPACE_LABEL, siteNodeUnit, siteWorkloadState } from './addons.ts';
import { validateGridObject } from './types.ts';

const app = (image: string, replicas?: number) => ({
  name: 'app',
  spec: { ...(replicas === undefined ? {} : { replicas }), selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'x', image }] } } },
});

describe('names', () => {
  it('gives an Addon a group name that is a label name, hashed when too long, distinct per hub namespace', () => {
    expect(addonGroupName('edgeadm', 'edgex')).toBe('edgeadm-edgeadm-edgex');
    const long = addonGroupName('a-very-long-namespace-name', 'an-addon-name-that-is-long-too-really');
    expect(long).toMatch(/^edgeadm-[0-9a-f]{24}$/);
    expect(addonGroupName('other', 'edgex')).not.toBe(addonGroupName('edgeadm', 'edgex'));
  });

  it('makes valid SuperEdge objects', () => {
    const unit = siteNodeUnit('edgeadm', 'plant-a', ['gw-2', 'gw-1', 'gw-2']);
    expect(unit.spec).toEqual({ type: 'edge', nodes: ['gw-1', 'gw-2'] });
    expect(unit.metadata.labels[HUB_NAMESPACE_LABEL]).toBe('edgeadm');
    const group = addonNodeGroup('edgeadm', 'edgex', ['plant-b', 'plant-a']);
    expect(group.spec).toEqual({ nodeUnits: ['plant-a', 'plant-b'] });
    for (const o of [unit, group, ...addonGrids({ namespace: 'edgeadm', addon: { name: 'edgex' }, sites: [{ site: 'plant-a', workloads: { deployments: [app('i:1')], services: [{ name: 'api', spec: { ports: [{ port: 80 }] } }] } }] }).grids]) {
      expect(validateGridObject(o), o.kind).toEqual([]);
    }
  });
});

describe('addonGrids', () => {
  it('puts the spec most sites share in the template and the others in the pool, by site', () => {
    const out = addonGrids({
      namespace: 'ns',
      addon: { name: 'col', uid: 'u-1' },
      sites: [
        { site: 'c', workloads: { deployments: [app('i:2')] } },
        { site: 'a', workloads: { deployments: [app('i:1')] } },
        { site: 'b', workloads: { deployments: [app('i:1')] } },
      ],
    });
    expect(out.problems).toEqual([]);
    const [g] = out.grids;
    expect(g!.metadata).toMatchObject({ name: 'col-app', namespace: 'ns', labels: { 'edgeadm.io/addon': 'col', [HUB_NAMESPACE_LABEL]: 'ns' }, ownerReferences: [{ kind: 'Addon', name: 'col', uid: 'u-1', controller: true }] });
    const spec = g!.spec as { gridUniqKey: string; template: { template: { spec: { containers: { image: string }[] } } }; templatePool: Record<string, { template: { spec: { containers: { image: string }[] } } }>; templates: Record<string, string> };
    expect(spec.gridUniqKey).toBe(addonGroupName('ns', 'col'));
    expect(spec.template.template.spec.containers[0]!.image).toBe('i:1');
    expect(Object.keys(spec.templates)).toEqual(['c']);
    expect(spec.templatePool[spec.templates.c!]!.template.spec.containers[0]!.image).toBe('i:2');
    // The same input gives the same grids (no churn).
    expect(addonGrids({ namespace: 'ns', addon: { name: 'col', uid: 'u-1' }, sites: [{ site: 'a', workloads: { deployments: [app('i:1')] } }, { site: 'b', workloads: { deployments: [app('i:1')] } }, { site: 'c', workloads: { deployments: [app('i:2')] } }] })).toEqual(out);
  });

  it('scales a workload to zero at sites that make none, and has no pool when every site agrees', () => {
    const out = addonGrids({ namespace: 'ns', addon: { name: 'col' }, sites: [{ site: 'a', workloads: { deployments: [app('i:1', 2)] } }, { site: 'b', workloads: {} }] });
    const spec = out.grids[0]!.spec as { template: { replicas: number }; templatePool: Record<string, { replicas: number }>; templates: Record<string, string> };
    expect([spec.template.replicas, spec.templatePool[spec.templates.b!]!.replicas]).toEqual([2, 0]);
    const same = addonGrids({ namespace: 'ns', addon: { name: 'col' }, sites: [{ site: 'a', workloads: { deployments: [app('i:1')] } }, { site: 'b', workloads: { deployments: [app('i:1')] } }] });
    expect(Object.keys(same.grids[0]!.spec).sort()).toEqual(['gridUniqKey', 'template']);
  });

  it('names each site that gives a bad name, a name twice, or a Service that differs', () => {
    const out = addonGrids({
      namespace: 'ns',
      addon: { name: 'col' },
      sites: [
        { site: 'a', workloads: { deployments: [{ name: 'Bad_Name', spec: {} }], services: [{ name: 'api', spec: { ports: [{ port: 80 }] } }] } },
        { site: 'b', workloads: { deployments: [app('i:1'), app('i:1')], services: [{ name: 'api', spec: { ports: [{ port: 81 }] } }] } },
      ],
    });
    expect(out.problems).toEqual([
      { site: 'a', message: 'workloads.deployments: name "Bad_Name" is not a DNS-1123 label' },
      { site: 'b', message: "workloads.deployments: name 'app' appears twice" },
      { site: 'b', message: "service 'api' differs from site a's: a ServiceGrid has one Service spec for every site" },
    ]);
  });
});

describe('siteWorkloadState', () => {
  const grid = (states: Record<string, unknown>, replicas = 1) => ({ metadata: { name: 'col-app' }, spec: { template: { replicas } }, status: { states } });
  it('is running when every workload has its replicas ready, starting while some are not, pending before any exists', () => {
    expect(siteWorkloadState('a', [grid({ a: { replicas: 2, readyReplicas: 2 } }, 2)])).toEqual({ state: 'running', message: '1 workload(s) ready' });
    expect(siteWorkloadState('a', [grid({ a: { replicas: 2, readyReplicas: 1 } }, 2)])).toEqual({ state: 'starting', message: 'col-app: 1/2 ready' });
    expect(siteWorkloadState('a', [grid({})])).toEqual({ state: 'pending', message: 'col-app: not created yet' });
    expect(siteWorkloadState('a', [grid({}, 0)])).toEqual({ state: 'running', message: 'no workload runs at this site' });
  });
});
