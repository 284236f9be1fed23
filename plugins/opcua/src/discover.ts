/**
 * Address-space discovery: browses an OPC UA server from a root node (default
 * the Objects folder) and turns what it finds into a DeviceProfile body.
 *
 * - Browse is breadth first over hierarchical references, with BrowseNext on
 *   continuation points; the walk stops at `maxDepth` below the root and after
 *   `maxNodes` nodes (then `truncated` is true and pending continuation points
 *   are released).
 * - Children in namespace 0 (the server's own `Server` object and friends) are
 *   not walked unless the root itself is given; each is listed in `skipped`.
 * - A Variable becomes a resource: attributes.nodeId; properties.valueType from
 *   its DataType (resolved to a built-in type through HasSubtype) and
 *   ValueRank as the driver maps them (datatypes.ts `naturalValueType`:
 *   Double[] → Float64Array, structures → Object); readWrite from AccessLevel; units from the
 *   EngineeringUnits property (EUInformation displayName); minimum / maximum
 *   from EURange. Properties of a Variable are metadata, not resources.
 * - A Method becomes a method resource: attributes.objectId (its parent) and
 *   methodId; its value is the output argument (one output → that type,
 *   several of one type → an array type); with no output it is write-only.
 * - Resource names are the browse path below the root joined with `.`,
 *   sanitized to EdgeX's unreserved characters and made unique.
 * - What cannot become a resource (BaseDataType variables, methods whose
 *   outputs share no value type, no access) is listed in `skipped` with the
 *   reason; nothing is dropped silently.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  AttributeIds,
  BrowseDirection,
  DataType,
  MessageSecurityMode,
  NodeClass,
  NodeClassMask,
  NodeId,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  UserTokenType,
  coerceNodeId,
  sameNodeId,
  makeBrowsePath,
  type BrowseDescriptionLike,
  type BrowseResult,
  type ClientSession,
  type BrowsePathResult,
  type DataValue,
  type ReferenceDescription,
} from 'node-opcua-client';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import type { DiscoveredDevice, DiscoveryRequest, ValueType } from '../../../core/sdk/index.ts';
import { ErrOpcuaDiscoveryAborted, ErrOpcuaDiscoveryConnect, ErrOpcuaDiscoveryOption, ErrOpcuaDiscoveryRoot } from './errors.ts';
import { naturalValueType } from './datatypes.ts';

export interface BrowseOptions {
  /** Node to start from (`ns=2;s=Machine`, `i=85`, `nsu=<uri>;s=...`); default the Objects folder (i=85). */
  root?: string;
  /** Levels below the root to walk (default 4, 1..32). */
  maxDepth?: number;
  /** Nodes to visit at most (default 500, 1..100000). */
  maxNodes?: number;
  /** Glob on the browse path below the root (`Machine/*`, `**\/Speed`); only matching variables and methods become resources. */
  include?: string;
  /** References asked for per node per Browse call; the rest come with BrowseNext (default 1000). */
  maxReferencesPerNode?: number;
  signal?: AbortSignal;
}

export interface SkippedNode {
  /** Browse path below the root, `/`-separated. */
  path: string;
  nodeId: string;
  reason: string;
}

export interface DiscoveredResource {
  name: string;
  description?: string;
  attributes: Record<string, string>;
  properties: {
    valueType: ValueType;
    readWrite: 'R' | 'W' | 'RW';
    units?: string;
    minimum?: number;
    maximum?: number;
  };
}

/** A DeviceProfile spec as the store takes it. */
export interface DiscoveredProfile {
  description: string;
  manufacturer?: string;
  model?: string;
  labels: string[];
  deviceResources: DiscoveredResource[];
}

export interface BrowseResultSummary {
  profile: DiscoveredProfile;
  skipped: SkippedNode[];
  /** True when `maxNodes` stopped the walk before every node was visited. */
  truncated: boolean;
}

export type DiscoverySecurityMode = 'None' | 'Sign' | 'SignAndEncrypt';
export type DiscoverySecurityPolicy = 'None' | 'Basic256Sha256' | 'Aes128_Sha256_RsaOaep';

/** How to reach a server when no session is handed in. */
export interface EndpointOptions {
  endpointUrl: string;
  /** Client PKI folder (own certificate, trusted and rejected server certificates). */
  pkiDir: string;
  securityMode?: DiscoverySecurityMode;
  securityPolicy?: DiscoverySecurityPolicy;
  username?: string;
  password?: string;
  /** Accept a server certificate that is not in the client's trusted folder (default false); once accepted it stays trusted in `pkiDir`. */
  acceptUnknownServerCertificate?: boolean;
  /** Per-request timeout in ms (default 10000). */
  requestTimeout?: number;
}

const OBJECTS_FOLDER = 'i=85';
const HAS_PROPERTY = coerceNodeId('i=46');
const HIERARCHICAL = coerceNodeId('i=33');
const HAS_SUBTYPE = coerceNodeId('i=45');
const READ_CHUNK = 500;
const BROWSE_CHUNK = 100;

/** Abstract numeric DataTypes (ns=0 i=26..28) and Enumeration (i=29). */
const ABSTRACT_TYPE: Record<number, ValueType> = { 26: 'Float64', 27: 'Int64', 28: 'Uint64', 29: 'Int32' };

/** EdgeX value type of an OPC UA built-in type with a value rank: the driver's own mapping (datatypes.ts), so reads conform. */
export function valueTypeOf(dataType: DataType, valueRank: number): { valueType: ValueType } | { reason: string } {
  if (dataType === DataType.Variant || dataType === DataType.Null) return { reason: 'DataType BaseDataType (any type) has no fixed value type' };
  if (dataType === DataType.DataValue || dataType === DataType.DiagnosticInfo) return { reason: `DataType ${DataType[dataType]} is not a device value` };
  return { valueType: naturalValueType({ builtin: dataType, valueRank }) };
}

interface Visit {
  nodeId: NodeId;
  nodeClass: NodeClass;
  /** Browse names below the root. */
  segments: string[];
  parent: NodeId;
  depth: number;
}

interface NodeInfo {
  nodeId: NodeId;
  segments: string[];
  parent: NodeId;
}

export async function browseDevice(target: ClientSession | EndpointOptions, options: BrowseOptions = {}): Promise<BrowseResultSummary> {
  const opts = checkBrowseOptions(options);
  if (!isEndpointOptions(target)) return browseSession(target, opts);
  const opened = await openDiscoverySession(target);
  try {
    return await browseSession(opened.session, opts);
  } finally {
    await opened.close();
  }
}

function isEndpointOptions(t: ClientSession | EndpointOptions): t is EndpointOptions {
  return typeof (t as EndpointOptions).endpointUrl === 'string';
}

interface CheckedOptions {
  root: string;
  maxDepth: number;
  maxNodes: number;
  include?: RegExp;
  maxReferencesPerNode: number;
  signal?: AbortSignal;
}

function intOption(value: unknown, field: string, def: number, min: number, max: number): number {
  if (value === undefined) return def;
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new ErrOpcuaDiscoveryOption({ field, reason: `must be an integer from ${min} to ${max} (is ${JSON.stringify(value)})` });
  }
  return n;
}

function checkBrowseOptions(o: BrowseOptions, prefix = ''): CheckedOptions {
  if (o.root !== undefined && (typeof o.root !== 'string' || !NODE_ID_PATTERN.test(o.root.trim()))) {
    throw new ErrOpcuaDiscoveryOption({ field: `${prefix}root`, reason: `must be a node id like ns=2;s=Machine, i=85 or nsu=<uri>;s=... (is ${JSON.stringify(o.root)})` });
  }
  if (o.include !== undefined && (typeof o.include !== 'string' || o.include === '')) {
    throw new ErrOpcuaDiscoveryOption({ field: `${prefix}include`, reason: 'must be a non-empty glob on the browse path, e.g. Machine/*' });
  }
  return {
    root: o.root?.trim() ?? OBJECTS_FOLDER,
    maxDepth: intOption(o.maxDepth, `${prefix}maxDepth`, 4, 1, 32),
    maxNodes: intOption(o.maxNodes, `${prefix}maxNodes`, 500, 1, 100_000),
    ...(o.include !== undefined ? { include: globToRegExp(o.include) } : {}),
    maxReferencesPerNode: intOption(o.maxReferencesPerNode, `${prefix}maxReferencesPerNode`, 1000, 1, 100_000),
    ...(o.signal ? { signal: o.signal } : {}),
  };
}

const NODE_ID_PATTERN = /^(?:(?:ns=\d+|nsu=[^;]+);)?(?:i=\d+|s=.+|g=[0-9a-fA-F-]{36}|b=[A-Za-z0-9+/=]*)$/;

/** `*` any characters but `/`, `**` anything, `?` one character but `/`. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

async function resolveRoot(session: ClientSession, root: string): Promise<NodeId> {
  const m = /^nsu=([^;]+);(.+)$/.exec(root);
  if (!m) return coerceNodeId(root);
  const dv = await session.read({ nodeId: 'i=2255', attributeId: AttributeIds.Value });
  const uris = (dv.value.value ?? []) as string[];
  const index = uris.indexOf(m[1] as string);
  if (index < 0) throw new ErrOpcuaDiscoveryRoot({ root, reason: `namespace ${m[1]} is not in the server's namespace array` });
  return coerceNodeId(`ns=${index};${m[2]}`);
}

async function browseSession(session: ClientSession, o: CheckedOptions): Promise<BrowseResultSummary> {
  const checkAbort = (): void => {
    if (o.signal?.aborted) throw new ErrOpcuaDiscoveryAborted({});
  };
  const rootId = await resolveRoot(session, o.root);
  const rootClass = await session.read({ nodeId: rootId, attributeId: AttributeIds.NodeClass });
  if (rootClass.statusCode !== StatusCodes.Good) throw new ErrOpcuaDiscoveryRoot({ root: o.root, reason: rootClass.statusCode.name });

  const previousMax = session.requestedMaxReferencesPerNode;
  session.requestedMaxReferencesPerNode = o.maxReferencesPerNode;
  const skipped: SkippedNode[] = [];
  const variables: NodeInfo[] = [];
  const methods: NodeInfo[] = [];
  const seen = new Set<string>([idText(rootId)]);
  // Standard (ns=0) children are walked only below a standard root other than the Objects folder, e.g. root i=2253 (Server).
  const walkStandard = rootId.namespace === 0 && !sameNodeId(rootId, coerceNodeId(OBJECTS_FOLDER));
  let visited = 0;
  let truncated = false;
  try {
    let level: Visit[] = [{ nodeId: rootId, nodeClass: rootClass.value.value as NodeClass, segments: [], parent: rootId, depth: 0 }];
    while (level.length > 0 && !truncated) {
      const next: Visit[] = [];
      const toBrowse = level.filter((v) => v.depth < o.maxDepth && v.nodeClass !== NodeClass.Method);
      for (let i = 0; i < toBrowse.length && !truncated; i += BROWSE_CHUNK) {
        checkAbort();
        const chunk = toBrowse.slice(i, i + BROWSE_CHUNK);
        const results = await session.browse(
          chunk.map(
            (v): BrowseDescriptionLike => ({
              nodeId: v.nodeId,
              browseDirection: BrowseDirection.Forward,
              referenceTypeId: HIERARCHICAL,
              includeSubtypes: true,
              nodeClassMask: NodeClassMask.Object | NodeClassMask.Variable | NodeClassMask.Method,
              resultMask: 0x3f,
            }),
          ),
        );
        for (let k = 0; k < chunk.length; k++) {
          const parent = chunk[k] as Visit;
          let result = results[k] as BrowseResult;
          if (result.statusCode !== StatusCodes.Good) {
            if (parent.depth === 0) throw new ErrOpcuaDiscoveryRoot({ root: o.root, reason: `browse: ${result.statusCode.name}` });
            skipped.push({ path: parent.segments.join('/'), nodeId: idText(parent.nodeId), reason: `browse failed: ${result.statusCode.name}` });
            continue;
          }
          for (;;) {
            for (const ref of result.references ?? []) {
              if (truncated) break;
              const child = admit(parent, ref);
              if (!child) continue;
              if (visited >= o.maxNodes) {
                truncated = true;
                break;
              }
              visited++;
              if (child.nodeClass === NodeClass.Variable) variables.push(child);
              else if (child.nodeClass === NodeClass.Method) methods.push(child);
              next.push(child);
            }
            const cp = result.continuationPoint;
            if (!cp || cp.length === 0) break;
            checkAbort();
            if (truncated) {
              await session.browseNext([cp], true);
              break;
            }
            const more = await session.browseNext([cp], false);
            result = more[0] as BrowseResult;
            if (result.statusCode !== StatusCodes.Good) {
              skipped.push({ path: parent.segments.join('/'), nodeId: idText(parent.nodeId), reason: `browseNext failed: ${result.statusCode.name}` });
              break;
            }
          }
        }
      }
      level = next;
    }

    function admit(parent: Visit, ref: ReferenceDescription): Visit | undefined {
      const nodeId = ref.nodeId as unknown as NodeId;
      if (ref.nodeId.serverIndex) return undefined;
      const key = idText(nodeId);
      // Properties of a Variable (EngineeringUnits, EURange...) and the arguments of a Method are metadata.
      if (parent.nodeClass === NodeClass.Variable && sameNodeId(ref.referenceTypeId, HAS_PROPERTY)) return undefined;
      if (seen.has(key)) return undefined;
      seen.add(key);
      const segments = [...parent.segments, ref.browseName.name ?? key];
      if (nodeId.namespace === 0 && !walkStandard) {
        skipped.push({ path: segments.join('/'), nodeId: key, reason: 'standard node (namespace 0); give it as root to browse it' });
        return undefined;
      }
      return { nodeId, nodeClass: ref.nodeClass, segments, parent: parent.nodeId, depth: parent.depth + 1 };
    }

    checkAbort();
    const included = (n: NodeInfo): boolean => !o.include || o.include.test(n.segments.join('/'));
    const resources = await describe(session, variables.filter(included), methods.filter(included), skipped);
    const identity = await readIdentity(session);
    return {
      profile: {
        description: `Generated by browsing ${o.root === OBJECTS_FOLDER ? 'the Objects folder' : o.root} (${resources.length} resources${truncated ? `, truncated at ${o.maxNodes} nodes` : ''})`,
        ...identity,
        labels: ['opcua', 'discovered'],
        deviceResources: resources,
      },
      skipped,
      truncated,
    };
  } finally {
    session.requestedMaxReferencesPerNode = previousMax;
  }
}

/** `ns=2;s=Machine.Speed`; standard nodes without the `ns=0;` prefix (`i=2258`). */
export function idText(n: NodeId): string {
  return n.toString().replace(/^ns=0;/, '');
}

async function readAll(session: ClientSession, reads: { nodeId: NodeId; attributeId: AttributeIds }[]): Promise<DataValue[]> {
  const out: DataValue[] = [];
  for (let i = 0; i < reads.length; i += READ_CHUNK) out.push(...(await session.read(reads.slice(i, i + READ_CHUNK))));
  return out;
}

/** Property node ids (`.EngineeringUnits`...) of each node, or undefined where the node has none. */
async function propertyIds(session: ClientSession, nodes: readonly NodeId[], names: readonly string[]): Promise<(NodeId | undefined)[][]> {
  const paths = nodes.flatMap((n) => names.map((name) => makeBrowsePath(n, `.${name}`)));
  const results: BrowsePathResult[] = [];
  for (let i = 0; i < paths.length; i += READ_CHUNK) results.push(...(await session.translateBrowsePath(paths.slice(i, i + READ_CHUNK))));
  return nodes.map((_, i) =>
    names.map((_n, j) => {
      const r = results[i * names.length + j];
      return r && r.statusCode === StatusCodes.Good ? (r.targets?.[0]?.targetId) : undefined;
    }),
  );
}

async function describe(session: ClientSession, variables: NodeInfo[], methods: NodeInfo[], skipped: SkippedNode[]): Promise<DiscoveredResource[]> {
  const names = new Set<string>();
  const uniqueName = (segments: string[]): string => {
    const base = segments.join('.').replace(/[^A-Za-z0-9_.~-]/g, '_') || 'resource';
    let name = base;
    for (let n = 2; names.has(name); n++) name = `${base}_${n}`;
    names.add(name);
    return name;
  };
  const typeCache = new Map<string, DataType | undefined>();
  const out: DiscoveredResource[] = [];

  const attrs = await readAll(
    session,
    variables.flatMap((v) => [
      { nodeId: v.nodeId, attributeId: AttributeIds.DataType },
      { nodeId: v.nodeId, attributeId: AttributeIds.ValueRank },
      { nodeId: v.nodeId, attributeId: AttributeIds.AccessLevel },
    ]),
  );
  const props = await propertyIds(
    session,
    variables.map((v) => v.nodeId),
    ['EngineeringUnits', 'EURange'],
  );
  const propReads: { nodeId: NodeId; attributeId: AttributeIds }[] = [];
  for (const p of props) for (const id of p) if (id) propReads.push({ nodeId: id, attributeId: AttributeIds.Value });
  const propValues = await readAll(session, propReads);
  let pv = 0;

  for (let i = 0; i < variables.length; i++) {
    const v = variables[i] as NodeInfo;
    const [dtValue, rankValue, accessValue] = [attrs[3 * i], attrs[3 * i + 1], attrs[3 * i + 2]];
    const [euId, rangeId] = props[i] as (NodeId | undefined)[];
    const eu = euId ? propValues[pv++] : undefined;
    const range = rangeId ? propValues[pv++] : undefined;
    const pathText = v.segments.join('/');
    const skip = (reason: string): void => void skipped.push({ path: pathText, nodeId: idText(v.nodeId), reason });
    if (dtValue?.statusCode !== StatusCodes.Good || rankValue?.statusCode !== StatusCodes.Good || accessValue?.statusCode !== StatusCodes.Good) {
      skip(`attributes unreadable: ${[dtValue, rankValue, accessValue].map((d) => d?.statusCode.name ?? 'missing').join(', ')}`);
      continue;
    }
    const dataTypeId = dtValue.value.value as NodeId;
    const builtIn = await basicDataType(session, dataTypeId, typeCache);
    if (builtIn === undefined) {
      skip(`DataType ${dataTypeId.toString()} does not derive from a built-in type`);
      continue;
    }
    const mapped = typeof builtIn === 'object' ? builtIn : valueTypeOf(builtIn, rankValue.value.value as number);
    if ('reason' in mapped) {
      skip(mapped.reason);
      continue;
    }
    const access = accessValue.value.value as number;
    const readable = (access & 1) !== 0;
    const writable = (access & 2) !== 0;
    if (!readable && !writable) {
      skip('AccessLevel allows neither read nor write');
      continue;
    }
    const resource: DiscoveredResource = {
      name: uniqueName(v.segments),
      attributes: { nodeId: idText(v.nodeId) },
      properties: { valueType: mapped.valueType, readWrite: readable && writable ? 'RW' : readable ? 'R' : 'W' },
    };
    const units = euText(eu);
    if (units) resource.properties.units = units;
    if (range?.statusCode === StatusCodes.Good) {
      const r = range.value.value as { low?: unknown; high?: unknown } | null;
      if (r && typeof r.low === 'number' && typeof r.high === 'number' && Number.isFinite(r.low) && Number.isFinite(r.high) && r.low <= r.high) {
        resource.properties.minimum = r.low;
        resource.properties.maximum = r.high;
      }
    }
    out.push(resource);
  }

  const args = await propertyIds(
    session,
    methods.map((m) => m.nodeId),
    ['InputArguments', 'OutputArguments'],
  );
  const argReads: { nodeId: NodeId; attributeId: AttributeIds }[] = [];
  for (const a of args) for (const id of a) if (id) argReads.push({ nodeId: id, attributeId: AttributeIds.Value });
  const argValues = await readAll(session, argReads);
  let av = 0;
  for (let i = 0; i < methods.length; i++) {
    const m = methods[i] as NodeInfo;
    const [inId, outId] = args[i] as (NodeId | undefined)[];
    const inputs = inId ? argumentsOf(argValues[av++]) : [];
    const outputs = outId ? argumentsOf(argValues[av++]) : [];
    const skip = (reason: string): void => void skipped.push({ path: m.segments.join('/'), nodeId: idText(m.nodeId), reason });
    const outTypes: ValueType[] = [];
    let bad: string | undefined;
    for (const a of outputs) {
      const t = await basicDataType(session, a.dataType, typeCache);
      const mapped = t === undefined ? { reason: `output ${a.name}: DataType ${a.dataType.toString()} unknown` } : typeof t === 'object' ? t : valueTypeOf(t, a.valueRank);
      if ('reason' in mapped) bad = `output ${a.name}: ${mapped.reason}`;
      else outTypes.push(mapped.valueType);
    }
    if (bad) {
      skip(bad);
      continue;
    }
    let valueType: ValueType = 'Bool';
    if (outTypes.length === 1) valueType = outTypes[0] as ValueType;
    else if (outTypes.length > 1) {
      const first = outTypes[0] as ValueType;
      const arr = `${first}Array` as ValueType;
      if (!outTypes.every((t) => t === first) || first.endsWith('Array') || !(ARRAY_TYPES as readonly string[]).includes(arr)) {
        skip(`outputs of mixed or array types (${outTypes.join(', ')}) have no single value type`);
        continue;
      }
      valueType = arr;
    }
    const sig = (list: MethodArgument[]): string => list.map((a) => `${a.name}: ${a.typeName}${a.valueRank === 1 ? '[]' : ''}`).join(', ');
    out.push({
      name: uniqueName(m.segments),
      description: `method ${m.segments[m.segments.length - 1] ?? ''}(${sig(inputs)})${outputs.length > 0 ? ` -> ${sig(outputs)}` : ''}`,
      attributes: { objectId: idText(m.parent), methodId: idText(m.nodeId) },
      properties: { valueType, readWrite: outputs.length > 0 ? 'RW' : 'W' },
    });
  }
  return out;
}

const ARRAY_TYPES = ['BoolArray', 'StringArray', 'Uint8Array', 'Uint16Array', 'Uint32Array', 'Uint64Array', 'Int8Array', 'Int16Array', 'Int32Array', 'Int64Array', 'Float32Array', 'Float64Array'] as const;

interface MethodArgument {
  name: string;
  dataType: NodeId;
  typeName: string;
  valueRank: number;
}

function argumentsOf(dv: DataValue | undefined): MethodArgument[] {
  if (!dv || dv.statusCode !== StatusCodes.Good || !Array.isArray(dv.value.value)) return [];
  return (dv.value.value as { name?: string; dataType?: NodeId; valueRank?: number }[]).map((a, i) => {
    const dataType = a.dataType ?? coerceNodeId('i=24');
    const typeName = dataType.namespace === 0 && dataType.identifierType === NodeId.NodeIdType.NUMERIC ? (DataType[dataType.value as number] ?? dataType.toString()) : dataType.toString();
    return { name: a.name ?? `arg${i}`, dataType, typeName, valueRank: a.valueRank ?? -1 };
  });
}

function euText(dv: DataValue | undefined): string | undefined {
  if (!dv || dv.statusCode !== StatusCodes.Good) return undefined;
  const eu = dv.value.value as { displayName?: { text?: string | null }; description?: { text?: string | null } } | null;
  const text = eu?.displayName?.text ?? eu?.description?.text;
  return text ? text : undefined;
}

/** The built-in type a DataType derives from (walking HasSubtype up), or a value type for abstract ones. */
async function basicDataType(
  session: ClientSession,
  dataTypeId: NodeId,
  cache: Map<string, DataType | undefined>,
): Promise<DataType | { valueType: ValueType } | { reason: string } | undefined> {
  const chain: string[] = [];
  let current: NodeId | undefined = dataTypeId;
  for (let step = 0; current && step < 16; step++) {
    const key = current.toString();
    if (cache.has(key)) {
      const hit = cache.get(key);
      for (const c of chain) cache.set(c, hit);
      return hit;
    }
    chain.push(key);
    if (current.namespace === 0 && current.identifierType === NodeId.NodeIdType.NUMERIC) {
      const v = current.value as number;
      const abstract = ABSTRACT_TYPE[v];
      if (abstract) return { valueType: abstract };
      if (v === 24) return { reason: 'DataType BaseDataType (any type) has no fixed value type' };
      if (v === 22) {
        for (const c of chain) cache.set(c, DataType.ExtensionObject);
        return DataType.ExtensionObject;
      }
      if (v >= 1 && v <= 25) {
        for (const c of chain) cache.set(c, v);
        return v;
      }
    }
    const r: BrowseResult = await session.browse({
      nodeId: current,
      browseDirection: BrowseDirection.Inverse,
      referenceTypeId: HAS_SUBTYPE,
      includeSubtypes: false,
      resultMask: 0x3f,
    });
    current = r.references?.[0]?.nodeId;
  }
  for (const c of chain) cache.set(c, undefined);
  return undefined;
}

async function readIdentity(session: ClientSession): Promise<{ manufacturer?: string; model?: string }> {
  // ServerStatus.BuildInfo.ManufacturerName (i=2263) and ProductName (i=2261).
  const [m, p] = await session.read([
    { nodeId: 'i=2263', attributeId: AttributeIds.Value },
    { nodeId: 'i=2261', attributeId: AttributeIds.Value },
  ]);
  const text = (dv: DataValue | undefined): string | undefined =>
    dv?.statusCode === StatusCodes.Good && typeof dv.value.value === 'string' && dv.value.value !== '' ? dv.value.value : undefined;
  const manufacturer = text(m);
  const model = text(p);
  return { ...(manufacturer ? { manufacturer } : {}), ...(model ? { model } : {}) };
}

// ---------------------------------------------------------------------------
// Sessions

const MODES: Record<DiscoverySecurityMode, MessageSecurityMode> = {
  None: MessageSecurityMode.None,
  Sign: MessageSecurityMode.Sign,
  SignAndEncrypt: MessageSecurityMode.SignAndEncrypt,
};
const POLICIES: Record<DiscoverySecurityPolicy, SecurityPolicy> = {
  None: SecurityPolicy.None,
  Basic256Sha256: SecurityPolicy.Basic256Sha256,
  Aes128_Sha256_RsaOaep: SecurityPolicy.Aes128_Sha256_RsaOaep,
};

const ENDPOINT_PATTERN = /^opc\.tcp:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(\/.*)?$/;

export function checkEndpointUrl(url: unknown, field = 'target'): { url: string; host: string; port: number } {
  const m = typeof url === 'string' ? ENDPOINT_PATTERN.exec(url.trim()) : null;
  const port = Number(m?.[2] ?? 4840);
  if (!m || port < 1 || port > 65535) {
    throw new ErrOpcuaDiscoveryOption({ field, reason: `must be an endpoint URL opc.tcp://host:port[/path] (is ${JSON.stringify(url)})` });
  }
  return { url: (url as string).trim(), host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}

/** Opens a client and session for discovery; `close` ends both. */
export async function openDiscoverySession(o: EndpointOptions): Promise<{ session: ClientSession; close(): Promise<void> }> {
  const { url } = checkEndpointUrl(o.endpointUrl, 'endpointUrl');
  const mode = o.securityMode ?? 'None';
  const policy = o.securityPolicy ?? (mode === 'None' ? 'None' : 'Basic256Sha256');
  if (!(mode in MODES)) throw new ErrOpcuaDiscoveryOption({ field: 'securityMode', reason: `must be None, Sign or SignAndEncrypt (is ${JSON.stringify(mode)})` });
  if (!(policy in POLICIES)) {
    throw new ErrOpcuaDiscoveryOption({ field: 'securityPolicy', reason: `must be None, Basic256Sha256 or Aes128_Sha256_RsaOaep (is ${JSON.stringify(policy)})` });
  }
  if ((mode === 'None') !== (policy === 'None')) {
    throw new ErrOpcuaDiscoveryOption({ field: 'securityPolicy', reason: `${policy} does not go with securityMode ${mode}` });
  }
  const requestTimeout = intOption(o.requestTimeout, 'requestTimeout', 10_000, 100, 600_000);
  const cm = new OPCUACertificateManager({ rootFolder: o.pkiDir, automaticallyAcceptUnknownCertificate: o.acceptUnknownServerCertificate ?? false });
  await cm.initialize();
  const client = OPCUAClient.create({
    applicationName: 'edgeadm discovery',
    applicationUri: 'urn:edgeadm:opcua:discovery',
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 200, maxDelay: 1000 },
    securityMode: MODES[mode],
    securityPolicy: POLICIES[policy],
    clientCertificateManager: cm,
    certificateFile: path.join(o.pkiDir, 'own', 'certs', 'discovery-client.pem'),
    requestedSessionTimeout: 60_000,
    defaultTransactionTimeout: requestTimeout,
  });
  const fail = async (err: unknown): Promise<never> => {
    await client.disconnect().catch(() => undefined);
    await cm.dispose();
    let reason = err instanceof Error ? err.message.split('\n')[0]?.trim() || err.name : String(err);
    if (reason.includes('BadCertificateUntrusted')) {
      reason += `; trust the server's certificate (accept it once, or copy it into ${path.join(o.pkiDir, 'trusted', 'certs')})`;
    }
    throw new ErrOpcuaDiscoveryConnect({ endpoint: url, reason }, { cause: err });
  };
  try {
    await client.connect(url);
  } catch (err) {
    return fail(err);
  }
  let session: ClientSession;
  try {
    session = await client.createSession(
      o.username !== undefined ? { type: UserTokenType.UserName, userName: o.username, password: o.password ?? '' } : { type: UserTokenType.Anonymous },
    );
  } catch (err) {
    return fail(err);
  }
  return {
    session,
    async close() {
      await session.close().catch(() => undefined);
      await client.disconnect();
      await cm.dispose();
    },
  };
}

// ---------------------------------------------------------------------------
// The driver's discover entry point

/**
 * `DiscoveryRequest { target: 'opc.tcp://host:port/path', options: { root,
 * maxDepth, maxNodes, include, securityMode, securityPolicy, username,
 * passwordFile, acceptUnknownServerCertificate, requestTimeout } }` → one
 * DiscoveredDevice whose `profile` is the generated DeviceProfile spec.
 * `pkiDir` is the client PKI folder (the plugin's site storage).
 */
export async function discoverOpcua(request: DiscoveryRequest, o: { pkiDir: string; signal?: AbortSignal }): Promise<DiscoveredDevice[]> {
  const found = await discoverOpcuaDetailed(request, o);
  const skipped = found.skipped.map((n) => ({ path: n.path, id: n.nodeId, reason: n.reason }));
  return [{ ...found.device, ...(skipped.length > 0 ? { skipped } : {}), ...(found.truncated ? { truncated: true } : {}) }];
}

/** As `discoverOpcua`, with what the walk skipped and whether it was truncated. */
export async function discoverOpcuaDetailed(
  request: DiscoveryRequest,
  o: { pkiDir: string; signal?: AbortSignal },
): Promise<{ device: DiscoveredDevice; skipped: SkippedNode[]; truncated: boolean }> {
  const { url, host, port } = checkEndpointUrl(request.target);
  const opt = request.options ?? {};
  const str = (key: string): string | undefined => {
    const v = opt[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') throw new ErrOpcuaDiscoveryOption({ field: `options.${key}`, reason: 'must be a non-empty string' });
    return v;
  };
  const securityMode = str('securityMode');
  const securityPolicy = str('securityPolicy');
  if (securityMode !== undefined && !(securityMode in MODES)) {
    throw new ErrOpcuaDiscoveryOption({ field: 'options.securityMode', reason: `must be None, Sign or SignAndEncrypt (is '${securityMode}')` });
  }
  if (securityPolicy !== undefined && !(securityPolicy in POLICIES)) {
    throw new ErrOpcuaDiscoveryOption({ field: 'options.securityPolicy', reason: `must be None, Basic256Sha256 or Aes128_Sha256_RsaOaep (is '${securityPolicy}')` });
  }
  const username = str('username');
  const passwordFile = str('passwordFile');
  if (passwordFile !== undefined && (securityMode ?? 'None') === 'None') {
    throw new ErrOpcuaDiscoveryOption({
      field: 'options.securityMode',
      reason: 'a password is sent only with Sign or SignAndEncrypt, where the server certificate is checked against the trusted ones',
    });
  }
  let password: string | undefined;
  if (passwordFile !== undefined) {
    try {
      password = readFileSync(passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ErrOpcuaDiscoveryOption({ field: 'options.passwordFile', reason: `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})` }, { cause: err });
    }
  }
  const accept = opt.acceptUnknownServerCertificate;
  if (accept !== undefined && typeof accept !== 'boolean') throw new ErrOpcuaDiscoveryOption({ field: 'options.acceptUnknownServerCertificate', reason: 'must be true or false' });
  const browse = checkBrowseOptions(
    {
      ...(opt.root !== undefined ? { root: opt.root as string } : {}),
      ...(opt.include !== undefined ? { include: opt.include as string } : {}),
      ...(opt.maxDepth !== undefined ? { maxDepth: opt.maxDepth as number } : {}),
      ...(opt.maxNodes !== undefined || request.limit !== undefined ? { maxNodes: (opt.maxNodes ?? request.limit) as number } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    },
    'options.',
  );
  const opened = await openDiscoverySession({
    endpointUrl: url,
    pkiDir: o.pkiDir,
    ...(securityMode ? { securityMode: securityMode as DiscoverySecurityMode } : {}),
    ...(securityPolicy ? { securityPolicy: securityPolicy as DiscoverySecurityPolicy } : {}),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(accept !== undefined ? { acceptUnknownServerCertificate: accept } : {}),
    ...(opt.requestTimeout !== undefined ? { requestTimeout: opt.requestTimeout as number } : {}),
  });
  let summary: BrowseResultSummary;
  try {
    summary = await browseSession(opened.session, browse);
  } finally {
    await opened.close();
  }
  const protocol: Record<string, unknown> = { Endpoint: url };
  if (securityMode) protocol.securityMode = securityMode;
  if (securityPolicy) protocol.securityPolicy = securityPolicy;
  if (username !== undefined) protocol.username = username;
  if (passwordFile !== undefined) protocol.passwordFile = passwordFile;
  const skippedNote = summary.skipped.length > 0 ? `, ${summary.skipped.length} nodes skipped` : '';
  return {
    device: {
      name: deviceNameFor(host, port),
      protocol,
      profile: summary.profile as unknown as Record<string, unknown>,
      description: `OPC UA server at ${url}: ${summary.profile.deviceResources.length} resources${skippedNote}${summary.truncated ? ', truncated' : ''}`,
    },
    skipped: summary.skipped,
    truncated: summary.truncated,
  };
}

/** A DNS-1123 device name for a server: `opcua-<host>-<port>`. */
export function deviceNameFor(host: string, port: number): string {
  return `opcua-${host}-${port}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 63)
    .replace(/-$/, '');
}
