/**
 * ServiceGrid: one Service per grid that keeps its traffic inside a unit,
 * as SuperEdge's application-grid-controller makes it, and the endpoint
 * filtering the topology wrapper applies for kube-proxy.
 *
 * The Service (`serviceForGrid`):
 * - named `<grid>-svc` in the grid's namespace, its spec the grid's
 *   `spec.template`;
 * - the grid's labels plus `superedge.io/grid-selector: <grid>` and
 *   `superedge.io/grid-uniq-key: <gridUniqKey>`;
 * - the grid's annotations plus `topologyKeys: ["<gridUniqKey>"]` (JSON);
 * - a controller ownerReference to the grid, so kube's garbage collector
 *   removes it with the grid.
 *
 * Filtering (`filterEndpoints`, `filterEndpointSlice`): for a Service with
 * topology keys, an address stays when its node has, for every key, the
 * same label value as the local node; an address without a node, or on a
 * node the filter does not know, goes (it cannot be shown to be in the
 * unit). A local node without one of the keys keeps nothing: it is in no
 * unit of that grid. Services without topology keys are not touched.
 */
import { isDeepStrictEqual } from 'node:util';
import type { CoreV1Api } from '@kubernetes/client-node';
import { kubeError, kubeFailure, type KubeClient } from '../store/index.ts';
import { ErrTopologyKeys } from './errors.ts';
import { gridOwnerReference, type OwnerReference } from './workloads.ts';
import { GRID_SELECTOR_LABEL, GRID_UNIQ_KEY_LABEL, TOPOLOGY_KEYS_ANNOTATION, type ServiceGridSpec } from './types.ts';

/** A ServiceGrid as read from kube. */
export interface ServiceGridObject {
  metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: ServiceGridSpec;
}

/** A core/v1 Service, as much of it as the grid writes and compares. */
export interface ServiceObject {
  apiVersion: 'v1';
  kind: 'Service';
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    ownerReferences?: OwnerReference[];
    resourceVersion?: string;
  };
  spec: Record<string, unknown>;
}

/** The Service SuperEdge names for a ServiceGrid. */
export const serviceNameOf = (grid: string): string => `${grid}-svc`;

/** The Service a ServiceGrid wants (see the header). */
export function serviceForGrid(sg: ServiceGridObject, namespace: string): ServiceObject {
  const svc: ServiceObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: serviceNameOf(sg.metadata.name),
      namespace,
      labels: { ...sg.metadata.labels, [GRID_SELECTOR_LABEL]: sg.metadata.name, [GRID_UNIQ_KEY_LABEL]: sg.spec.gridUniqKey },
      annotations: { ...sg.metadata.annotations, [TOPOLOGY_KEYS_ANNOTATION]: JSON.stringify([sg.spec.gridUniqKey]) },
    },
    spec: structuredClone(sg.spec.template),
  };
  if (sg.metadata.uid !== undefined) {
    svc.metadata.ownerReferences = [gridOwnerReference('ServiceGrid', { name: sg.metadata.name, uid: sg.metadata.uid })];
  }
  return svc;
}

/** The topology keys of a Service (its annotation), or undefined when it has none; a malformed annotation is a coded error naming the Service. */
export function topologyKeysOf(meta: { name?: string; namespace?: string; annotations?: Record<string, string> }): string[] | undefined {
  const raw = meta.annotations?.[TOPOLOGY_KEYS_ANNOTATION];
  if (raw === undefined) return undefined;
  let keys: unknown;
  try {
    keys = JSON.parse(raw);
  } catch {
    keys = undefined;
  }
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string' && k !== '')) {
    throw new ErrTopologyKeys({ service: `${meta.namespace ?? ''}/${meta.name ?? ''}`, value: raw });
  }
  return keys as string[];
}

/** Whether `node` is in the local node's unit for every key. */
function sameUnit(keys: readonly string[], local: Record<string, string>, node: Record<string, string> | undefined): boolean {
  return node !== undefined && keys.every((k) => local[k] !== undefined && node[k] === local[k]);
}

/** Node name → labels, as the wrapper's node cache holds them. */
export type NodeLabels = ReadonlyMap<string, Record<string, string>>;

interface EndpointAddress {
  nodeName?: string;
  [key: string]: unknown;
}
interface EndpointSubset {
  addresses?: EndpointAddress[];
  notReadyAddresses?: EndpointAddress[];
  [key: string]: unknown;
}

/** core/v1 Endpoints filtered to the local node's unit (see the header); a copy, the input unchanged. */
export function filterEndpoints<E extends { subsets?: EndpointSubset[] }>(endpoints: E, keys: readonly string[], localNode: string, nodes: NodeLabels): E {
  const local = nodes.get(localNode) ?? {};
  const keep = (a: EndpointAddress): boolean => a.nodeName !== undefined && sameUnit(keys, local, nodes.get(a.nodeName));
  const subsets = (endpoints.subsets ?? [])
    .map((s) => {
      const out: EndpointSubset = { ...s };
      if (s.addresses !== undefined) out.addresses = s.addresses.filter(keep);
      if (s.notReadyAddresses !== undefined) out.notReadyAddresses = s.notReadyAddresses.filter(keep);
      return out;
    })
    .filter((s) => (s.addresses?.length ?? 0) + (s.notReadyAddresses?.length ?? 0) > 0);
  return { ...endpoints, subsets };
}

/** discovery/v1 EndpointSlice filtered to the local node's unit (see the header); a copy, the input unchanged. */
export function filterEndpointSlice<S extends { endpoints?: { nodeName?: string }[] | null }>(slice: S, keys: readonly string[], localNode: string, nodes: NodeLabels): S {
  const local = nodes.get(localNode) ?? {};
  return { ...slice, endpoints: (slice.endpoints ?? []).filter((e) => e.nodeName !== undefined && sameUnit(keys, local, nodes.get(e.nodeName))) };
}

/** Whether the Service kube holds already is what the grid wants (the fields the grid sets; kube's own, such as clusterIP, left alone). */
function upToDate(have: ServiceObject, want: ServiceObject): boolean {
  // Plain JSON on both sides: client-node reads typed models (their own key order, undefined fields).
  const plain = (v: unknown): unknown => (v === undefined ? undefined : (JSON.parse(JSON.stringify(v)) as unknown));
  const same = (a: unknown, b: unknown): boolean => isDeepStrictEqual(plain(a), plain(b));
  const wantSpec = want.spec;
  return (
    Object.entries(want.metadata.labels).every(([k, v]) => have.metadata.labels?.[k] === v) &&
    Object.entries(want.metadata.annotations).every(([k, v]) => have.metadata.annotations?.[k] === v) &&
    Object.entries(wantSpec).every(([k, v]) => same(have.spec[k], v))
  );
}

/**
 * Makes kube hold the Service a ServiceGrid wants: creates it, updates the
 * fields the grid sets when they differ (keeping kube's own, such as
 * clusterIP), or deletes it when the grid is gone (`sg` undefined). Returns
 * how many writes it made (0 when everything was in place).
 */
export async function reconcileServiceGrid(client: Pick<KubeClient, 'core'>, namespace: string, name: string, sg: ServiceGridObject | undefined): Promise<number> {
  const core: CoreV1Api = client.core;
  const svcName = serviceNameOf(name);
  const target = `service ${svcName} in namespace ${namespace}`;
  let have: ServiceObject | undefined;
  try {
    have = (await core.readNamespacedService({ namespace, name: svcName })) as unknown as ServiceObject;
  } catch (err) {
    if (kubeFailure(err).status !== 404) throw kubeError(err, 'get', target);
  }
  if (sg === undefined) {
    if (have === undefined || have.metadata.labels?.[GRID_SELECTOR_LABEL] !== name) return 0;
    try {
      await core.deleteNamespacedService({ namespace, name: svcName });
      return 1;
    } catch (err) {
      if (kubeFailure(err).status === 404) return 0;
      throw kubeError(err, 'delete', target);
    }
  }
  const want = serviceForGrid(sg, namespace);
  try {
    if (have === undefined) {
      await core.createNamespacedService({ namespace, body: want });
      return 1;
    }
    if (upToDate(have, want)) return 0;
    const body = {
      ...have,
      metadata: {
        ...have.metadata,
        labels: { ...have.metadata.labels, ...want.metadata.labels },
        annotations: { ...have.metadata.annotations, ...want.metadata.annotations },
        ...(want.metadata.ownerReferences ? { ownerReferences: want.metadata.ownerReferences } : {}),
      },
      spec: { ...have.spec, ...want.spec },
    };
    await core.replaceNamespacedService({ namespace, name: svcName, body: body });
    return 1;
  } catch (err) {
    throw kubeError(err, have === undefined ? 'create' : 'update', target);
  }
}
