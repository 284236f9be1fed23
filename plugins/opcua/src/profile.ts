/**
 * A device profile's resources as OPC UA points.
 *
 * A variable resource names its node with `nodeId` (attributes), in the
 * OPC UA text form: `ns=2;s=Machine.Speed`, `ns=3;i=1001`, `i=2258`,
 * `ns=1;g=<guid>`, `ns=1;b=<base64>`, or with a namespace URI instead of an
 * index, `nsu=urn:vendor:plc;s=Motor.Speed` (resolved against the server's
 * namespace array at connect). It may override the device's monitoring
 * defaults with `samplingInterval`, `queueSize`, `deadbandType`, `deadbandValue`.
 *
 * A method resource names `objectId` and `methodId` instead: writing it calls
 * the method with the value as input arguments (an array, or one scalar), and
 * the outputs become the value a read of the resource returns.
 */
import type { DriverIssue, DriverResource, ValueType } from '../../../core/sdk/index.ts';
import { ISSUE } from './errors.ts';
import { fieldsOf, readMonitoring, type MonitoringSettings } from './protocol.ts';

export type IdentifierKind = 'i' | 's' | 'g' | 'b';

/** A node id as written in a profile; `namespaceUri` is resolved to an index at connect. */
export interface NodeIdRef {
  text: string;
  namespace?: number;
  namespaceUri?: string;
  kind: IdentifierKind;
  id: string;
}

interface PointBase {
  resource: string;
  /** Index in the profile's deviceResources, for issue paths. */
  index: number;
  valueType: ValueType;
  readWrite: 'R' | 'W' | 'RW';
  units?: string;
  minimum?: number;
  maximum?: number;
}

export interface VariablePoint extends PointBase {
  kind: 'variable';
  nodeId: NodeIdRef;
  /** Only the overrides this resource sets. */
  monitoring: Partial<MonitoringSettings>;
}

export interface MethodPoint extends PointBase {
  kind: 'method';
  objectId: NodeIdRef;
  methodId: NodeIdRef;
}

export type OpcuaPoint = VariablePoint | MethodPoint;

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Parses an OPC UA node id; a string is the reason it is not one. */
export function parseNodeId(raw: unknown): NodeIdRef | string {
  if (typeof raw !== 'string') return `must be a node id string such as ns=2;s=Machine.Speed, got ${JSON.stringify(raw)}`;
  const text = raw.trim();
  const m = /^(?:ns=([^;]*);|nsu=([^;]*);)?([a-z])=([\s\S]*)$/.exec(text);
  if (!m) return `'${text}' is not a node id: expected [ns=<index>;|nsu=<uri>;]i=|s=|g=|b=<identifier>, e.g. ns=2;s=Machine.Speed`;
  const [, ns, nsu, kind, id] = m as unknown as [string, string | undefined, string | undefined, string, string];
  let ref: NodeIdRef;
  if (ns !== undefined) {
    if (!/^\d{1,5}$/.test(ns) || Number(ns) > 65535) return `'${text}': namespace index '${ns}' is not an integer from 0 to 65535`;
    ref = { text, namespace: Number(ns), kind: kind as IdentifierKind, id };
  } else if (nsu !== undefined) {
    if (nsu === '') return `'${text}': nsu= needs a namespace URI`;
    ref = { text, namespaceUri: nsu, kind: kind as IdentifierKind, id };
  } else {
    ref = { text, namespace: 0, kind: kind as IdentifierKind, id };
  }
  switch (kind) {
    case 'i':
      if (!/^\d{1,10}$/.test(id) || Number(id) > 0xffffffff) return `'${text}': a numeric identifier (i=) must be an integer from 0 to 4294967295`;
      break;
    case 's':
      if (id === '') return `'${text}': a string identifier (s=) must not be empty`;
      if (id.length > 4096) return `'${text}': a string identifier is at most 4096 characters`;
      break;
    case 'g':
      if (!GUID.test(id)) return `'${text}': a GUID identifier (g=) must look like 09087e75-8e5e-499b-954f-f2a9603db28a`;
      break;
    case 'b':
      if (id === '' || !BASE64.test(id)) return `'${text}': an opaque identifier (b=) must be non-empty base64`;
      break;
    default:
      return `'${text}': identifier type '${kind}=' is not one of i=, s=, g=, b=`;
  }
  return ref;
}

/** The node id in the text form node-opcua parses, with `namespace` as its index. */
export function nodeIdText(ref: NodeIdRef, namespace: number): string {
  return `ns=${namespace};${ref.kind}=${ref.id}`;
}

function numberOf(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : undefined;
  if (typeof raw === 'string' && raw.trim() !== '' && Number.isFinite(Number(raw))) return Number(raw);
  return undefined;
}

/** No monitoring override: one object shared by every point that sets none (a device may have thousands). */
const NO_OVERRIDES: Partial<MonitoringSettings> = Object.freeze({});

/**
 * `p` with the optional fields of `base` set on it. Points are built field by
 * field, not spread from `base`: V8 gives each object copied by a spread a
 * hidden class of its own (about 250 bytes each, held as long as the point).
 */
function withBase<P extends OpcuaPoint>(base: PointBase, p: P): P {
  if (base.units !== undefined) p.units = base.units;
  if (base.minimum !== undefined) p.minimum = base.minimum;
  if (base.maximum !== undefined) p.maximum = base.maximum;
  return p;
}

/** Resolves every resource into a point; every problem is an issue naming its field. */
export function resolvePoints(resources: readonly DriverResource[]): { points: OpcuaPoint[]; issues: DriverIssue[] } {
  const points: OpcuaPoint[] = [];
  const issues: DriverIssue[] = [];
  const seen = new Set<string>();
  resources.forEach((r, index) => {
    const base = `deviceResources[${index}](${r.name})`;
    const at = (f: string): string => `${base}.attributes.${f}`;
    if (seen.has(r.name)) {
      issues.push({ path: base, code: ISSUE.duplicate, message: `resource name '${r.name}' is used more than once` });
      return;
    }
    seen.add(r.name);
    const get = fieldsOf(r.attributes);
    const before = issues.length;
    const common: PointBase = { resource: r.name, index, valueType: r.valueType, readWrite: r.readWrite };
    if (r.units) common.units = r.units;
    for (const key of ['minimum', 'maximum'] as const) {
      const raw = r.properties[key];
      if (raw === undefined || raw === '') continue;
      const n = numberOf(raw);
      if (n === undefined) issues.push({ path: `${base}.properties.${key}`, code: ISSUE.range, message: `${key} must be a number, got ${JSON.stringify(raw)}` });
      else common[key] = n;
    }
    if (common.minimum !== undefined && common.maximum !== undefined && common.minimum > common.maximum) {
      issues.push({ path: `${base}.properties.minimum`, code: ISSUE.range, message: `minimum ${common.minimum} is above maximum ${common.maximum}` });
    }
    const rawNode = get('nodeId');
    const rawObject = get('objectId');
    const rawMethod = get('methodId');
    if (rawObject !== undefined || rawMethod !== undefined) {
      if (rawNode !== undefined) issues.push({ path: at('nodeId'), code: ISSUE.method, message: 'a resource is a variable (nodeId) or a method (objectId + methodId), not both' });
      const objectId = parseNodeId(rawObject);
      const methodId = parseNodeId(rawMethod);
      if (typeof objectId === 'string') issues.push({ path: at('objectId'), code: ISSUE.nodeId, message: rawObject === undefined ? 'a method resource needs objectId, the object the method is called on' : `objectId ${objectId}` });
      if (typeof methodId === 'string') issues.push({ path: at('methodId'), code: ISSUE.nodeId, message: rawMethod === undefined ? 'a method resource needs methodId' : `methodId ${methodId}` });
      if (r.readWrite === 'R') issues.push({ path: `${base}.properties.readWrite`, code: ISSUE.method, message: 'a method resource is called by writing it: readWrite must be W or RW' });
      if (issues.length === before && typeof objectId !== 'string' && typeof methodId !== 'string') {
        points.push(withBase(common, { kind: 'method', resource: r.name, index, valueType: r.valueType, readWrite: r.readWrite, objectId, methodId }));
      }
      return;
    }
    const nodeId = parseNodeId(rawNode);
    if (typeof nodeId === 'string') issues.push({ path: at('nodeId'), code: ISSUE.nodeId, message: rawNode === undefined ? 'nodeId is required (or objectId + methodId for a method)' : `nodeId ${nodeId}` });
    const overrides = readMonitoring(get, at, issues, ISSUE.monitoring);
    const monitoring = Object.keys(overrides).length === 0 ? NO_OVERRIDES : overrides;
    if (issues.length === before && typeof nodeId !== 'string') points.push(withBase(common, { kind: 'variable', resource: r.name, index, valueType: r.valueType, readWrite: r.readWrite, nodeId, monitoring }));
  });
  return { points, issues };
}
