/**
 * core/grid: the application grid (Kubernetes mode). SuperEdge's unit and
 * grid types (NodeUnit, NodeGroup, DeploymentGrid, StatefulSetGrid,
 * ServiceGrid), their schemas and CRDs; the controller runtime (a
 * rate-limited work queue, list+watch caches, level-triggered reconcilers);
 * the NodeUnit and NodeGroup reconcilers; the expansion of DeploymentGrids
 * and StatefulSetGrids into per-unit workloads and of ServiceGrids into
 * their Service; and the topology wrapper that keeps a ServiceGrid's
 * traffic in its unit.
 */
export * from './types.ts';
export * as GridErrors from './errors.ts';
export { Controller, DEFAULT_RATE_LIMIT, objectKey, runController, WorkQueue, type Caches, type ControllerOptions, type ControllerRunOptions, type RunningController, type RateLimitOptions, type ReconcileResult, type WatchSource, type WorkQueueOptions } from './controller.ts';
export { APPLIED_ANNOTATION, NODE_UNITS_ANNOTATION, startUnitControllers, type UnitControllers, type UnitControllersOptions } from './units.ts';
export { startGridControllers, type GridControllers, type GridControllersOptions } from './grids.ts';
export { startTopologyWrapper, TOPOLOGY_WRAPPER_PORT, type TopologyWrapper, type TopologyWrapperOptions } from './topology-wrapper.ts';
export { GRID_METRICS_PORT, startGridRuntime, type GridRuntime, type GridRuntimeOptions } from './run.ts';
export { filterEndpoints, filterEndpointSlice, reconcileServiceGrid, serviceForGrid, serviceNameOf, topologyKeysOf, type NodeLabels, type ServiceGridObject, type ServiceObject } from './services.ts';
export { expandGrid, gridOwnerReference, gridSpecHash, reconcileWorkloadGrid, workloadNameOf, GRID_SPEC_HASH_ANNOTATION, GRID_WORKLOAD_KIND, WORKLOAD_GRID_KINDS, type GridExpansion, type GridWorkload, type GridWorkloadKind, type OwnerReference, type ReconcileWorkloadGridOptions, type UnitWorkload, type WorkloadGridKind, type WorkloadGridResult } from './workloads.ts';
export { ADDON_LABEL, addonConfigMaps, addonGrids, addonGroupName, addonNodeGroup, HUB_NAMESPACE_LABEL, siteNodeUnit, siteWorkloadState, type AddonGridInput, type AddonGridOutput, type AddonGridProblem, type OwnedConfigMap, type OwnedObject, type SiteWorkloadState } from './addons.ts';
export { startAddonGridController, type AddonGridControllerOptions } from './addon-controller.ts';
