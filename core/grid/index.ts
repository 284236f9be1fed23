/**
 * core/grid: the application grid. So far SuperEdge's unit and grid types
 * (NodeUnit, NodeGroup, DeploymentGrid, StatefulSetGrid, ServiceGrid), their
 * schemas, validation and CRD definitions; the controllers come later.
 */
export * from './types.ts';
