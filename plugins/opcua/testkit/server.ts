/**
 * An in-process OPC UA simulator for tests and benchmarks: a real node-opcua
 * `OPCUAServer` on a loopback port with its PKI in a folder the caller owns,
 * and an address space in namespace `urn:edgeadm:simulator`:
 *
 *   Objects/Machine            (ns=<n>;s=Machine)
 *     Boolean Int16 UInt16 Int32 UInt32 Int64 UInt64 Float Double String DateTime
 *     DoubleArray (Double[])  Int32Array (Int32[])
 *     Speed        Double AnalogItem, EU rpm, EURange 0..3000, changes on a timer
 *     Temperature  Double AnalogItem, EU degree Celsius, EURange -40..200
 *     Setpoint     Int16, writable
 *     Failing      Double, always reads BadDeviceFailure
 *     Add(a: Double, b: Double) -> sum: Double
 *     Reset()      sets Setpoint to 0
 *   Objects/Load               (only with `items: N`)
 *     Load.0 .. Load.<N-1>     Double, all changing every `changeIntervalMs` (one timer)
 *
 * Every simulator node id is a string id: `ns=<n>;s=Machine.Speed`, `ns=<n>;s=Load.17`.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { privateTree } from '../../../core/sdk/index.ts';
import net from 'node:net';
import path from 'node:path';
import {
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  Variant,
  VariantArrayType,
  standardUnits,
  type makeEUInformation,
  type Namespace,
  type UAObject,
  type UAVariable,
} from 'node-opcua';

export const SIMULATOR_NAMESPACE = 'urn:edgeadm:simulator';

export type SimulatorSecurityMode = 'None' | 'Sign' | 'SignAndEncrypt';

export interface OpcuaSimulatorOptions {
  /** Loopback port; a free one is picked when omitted. */
  port?: number;
  /** Temporary folder for the server's PKI (`<dir>/pki`, `<dir>/user-pki`). */
  dir: string;
  /** Security modes offered (default all three). Sign / SignAndEncrypt are offered with Basic256Sha256 and Aes128_Sha256_RsaOaep. */
  securityModes?: readonly SimulatorSecurityMode[];
  /** Username → password; when given, these users may log in. */
  users?: Readonly<Record<string, string>>;
  /** Anonymous login allowed (default true). */
  allowAnonymous?: boolean;
  /** Accept any client certificate (default true); false accepts only certificates trusted with `trustCertificate`. */
  acceptAnyClientCertificate?: boolean;
  /** Extra Double variables `Load.<i>` under a `Load` folder. */
  items?: number;
  /** How often Speed and every Load item change (default 1000 ms). */
  changeIntervalMs?: number;
}

export interface OpcuaSimulator {
  readonly endpointUrl: string;
  readonly port: number;
  /** Namespace index of `urn:edgeadm:simulator`. */
  readonly ns: number;
  /** The running server (replaced by `restart`). */
  readonly server: OPCUAServer;
  /** PEM file of the server's certificate. */
  readonly certificateFile: string;
  /** `ns=<n>;s=<id>` for a simulator string id such as `Machine.Speed`. */
  nodeId(id: string): string;
  /** Sets a simulator variable's value (node id as `ns=..;s=..` or the bare string id `Machine.Setpoint`). */
  set(nodeId: string, value: unknown): void;
  /** Reads a simulator variable's current value as the server holds it. */
  get(nodeId: string): unknown;
  /** Trusts a client certificate (DER) when `acceptAnyClientCertificate` is false. */
  trustCertificate(der: Buffer): Promise<void>;
  /** Stops the server; values and PKI stay, so `restart` brings the same server back. */
  stop(): Promise<void>;
  /** Starts the server again on the same port with the same certificate (stopping it first if running). */
  restart(): Promise<void>;
}

/** Scalar variables of Machine: browse name, DataType, initial value. */
const SCALARS: readonly [string, DataType, unknown][] = [
  ['Boolean', DataType.Boolean, true],
  ['Int16', DataType.Int16, -16],
  ['UInt16', DataType.UInt16, 16],
  ['Int32', DataType.Int32, -32],
  ['UInt32', DataType.UInt32, 32],
  ['Int64', DataType.Int64, [0xffffffff, 0xffffffc0]], // -64 as [high, low]
  ['UInt64', DataType.UInt64, [0, 64]],
  ['Float', DataType.Float, 1.5],
  ['Double', DataType.Double, 2.25],
  ['String', DataType.String, 'hello'],
  ['DateTime', DataType.DateTime, new Date('2024-01-02T03:04:05.000Z')],
];

export async function pickFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const MODE: Record<SimulatorSecurityMode, MessageSecurityMode> = {
  None: MessageSecurityMode.None,
  Sign: MessageSecurityMode.Sign,
  SignAndEncrypt: MessageSecurityMode.SignAndEncrypt,
};

/** What survives a restart: the current value of every variable the simulator made. */
interface State {
  values: Map<string, Variant>;
}

export async function startOpcuaSimulator(o: OpcuaSimulatorOptions): Promise<OpcuaSimulator> {
  const port = o.port ?? (await pickFreePort());
  const changeIntervalMs = o.changeIntervalMs ?? 1000;
  const items = o.items ?? 0;
  const pkiDir = path.join(o.dir, 'pki');
  const userPkiDir = path.join(o.dir, 'user-pki');
  mkdirSync(pkiDir, { recursive: true });
  mkdirSync(userPkiDir, { recursive: true });
  const acceptAny = o.acceptAnyClientCertificate ?? true;
  const serverCertificateManager = new OPCUACertificateManager({ rootFolder: pkiDir, automaticallyAcceptUnknownCertificate: acceptAny });
  const userCertificateManager = new OPCUACertificateManager({ rootFolder: userPkiDir, automaticallyAcceptUnknownCertificate: false });
  await serverCertificateManager.initialize();
  await userCertificateManager.initialize();
  // node-opcua makes its folders 0755; the simulator's PKI stays its user's.
  privateTree(o.dir);
  const modes = o.securityModes ?? ['None', 'Sign', 'SignAndEncrypt'];
  const secured = modes.some((m) => m !== 'None');
  const securityPolicies = [
    ...(modes.includes('None') ? [SecurityPolicy.None] : []),
    ...(secured ? [SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep] : []),
  ];
  const users = o.users ?? {};
  const state: State = { values: new Map() };

  let server!: OPCUAServer;
  let ns = 0;
  let vars = new Map<string, UAVariable>();
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let certificateFile = '';

  const boot = async (): Promise<void> => {
    server = new OPCUAServer({
      port,
      // Bound to loopback: `hostname` only names the endpoints.
      host: '127.0.0.1',
      hostname: '127.0.0.1',
      alternateHostname: ['127.0.0.1'],
      resourcePath: '/edgeadm/simulator',
      serverCertificateManager,
      userCertificateManager,
      securityModes: modes.map((m) => MODE[m]),
      securityPolicies,
      allowAnonymous: o.allowAnonymous ?? true,
      userManager: { isValidUser: (u: string, p: string) => Object.hasOwn(users, u) && users[u] === p },
      serverInfo: { applicationUri: 'urn:edgeadm:simulator:server', productUri: 'urn:edgeadm:simulator', applicationName: { text: 'edgeadm OPC UA simulator' } },
      buildInfo: { productName: 'edgeadm OPC UA simulator', manufacturerName: 'edgeadm', softwareVersion: '0.1.0' },
      maxConnectionsPerEndpoint: 1000,
      serverCapabilities: {
        maxBrowseContinuationPoints: 10,
        operationLimits: { maxMonitoredItemsPerCall: 100_000, maxNodesPerRead: 100_000, maxNodesPerBrowse: 1000 },
      },
    });
    await server.initialize();
    const as = server.engine.addressSpace;
    if (!as) throw new Error('simulator: address space missing after initialize');
    const namespace = as.registerNamespace(SIMULATOR_NAMESPACE);
    ns = namespace.index;
    vars = buildAddressSpace(namespace, as.rootFolder.objects, items, state);
    await server.start();
    certificateFile = server.certificateFile;
    running = true;
    let tick = 0;
    timer = setInterval(() => {
      tick++;
      const now = new Date();
      const speed = vars.get('Machine.Speed');
      if (speed) setVar(state, speed, 'Machine.Speed', new Variant({ dataType: DataType.Double, value: 1500 + 1000 * Math.sin(tick / 10) }), now);
      for (let i = 0; i < items; i++) {
        const v = vars.get(`Load.${i}`);
        if (v) setVar(state, v, `Load.${i}`, new Variant({ dataType: DataType.Double, value: tick + i / 1e6 }), now);
      }
    }, changeIntervalMs);
    timer.unref();
  };

  const shutdown = async (): Promise<void> => {
    if (timer) clearInterval(timer);
    timer = undefined;
    if (!running) return;
    running = false;
    for (const [id, v] of vars) state.values.set(id, v.readValue().value);
    await server.shutdown(0);
    server.dispose();
  };

  const resolveId = (nodeId: string): string => {
    const m = /^ns=(\d+);s=(.+)$/.exec(nodeId);
    if (m) {
      if (Number(m[1]) !== ns) throw new Error(`simulator: node ${nodeId} is not in namespace ${ns} (${SIMULATOR_NAMESPACE})`);
      return m[2] as string;
    }
    return nodeId;
  };

  await boot();

  return {
    get endpointUrl() {
      return `opc.tcp://127.0.0.1:${port}/edgeadm/simulator`;
    },
    port,
    get ns() {
      return ns;
    },
    get server() {
      return server;
    },
    get certificateFile() {
      return certificateFile;
    },
    nodeId: (id) => `ns=${ns};s=${id}`,
    set(nodeId, value) {
      const id = resolveId(nodeId);
      const v = vars.get(id);
      if (!v) throw new Error(`simulator: no variable ${nodeId}`);
      const prev = state.values.get(id);
      const dataType = prev?.dataType ?? v.getBasicDataType();
      const arrayType = prev?.arrayType ?? VariantArrayType.Scalar;
      setVar(state, v, id, new Variant({ dataType, arrayType, value }), new Date());
    },
    get(nodeId) {
      const id = resolveId(nodeId);
      const v = running ? vars.get(id)?.readValue().value : state.values.get(id);
      if (!v) throw new Error(`simulator: no variable ${nodeId}`);
      return v.value as unknown;
    },
    async trustCertificate(der) {
      await serverCertificateManager.trustCertificate(der);
    },
    stop: shutdown,
    async restart() {
      await shutdown();
      await boot();
    },
  };
}

function setVar(state: State, v: UAVariable, id: string, variant: Variant, when: Date): void {
  state.values.set(id, variant);
  v.setValueFromSource(variant, StatusCodes.Good, when);
}

function buildAddressSpace(namespace: Namespace, objects: UAObject, items: number, state: State): Map<string, UAVariable> {
  const vars = new Map<string, UAVariable>();
  const machine = namespace.addObject({ organizedBy: objects, browseName: 'Machine', nodeId: 's=Machine' });
  const initial = (id: string, v: Variant): Variant => state.values.get(id) ?? v;
  const add = (name: string, dataType: DataType, value: unknown, opts: { writable?: boolean; array?: boolean } = {}): UAVariable => {
    const id = `Machine.${name}`;
    const variant = initial(id, new Variant({ dataType, arrayType: opts.array ? VariantArrayType.Array : VariantArrayType.Scalar, value }));
    const v = namespace.addVariable({
      componentOf: machine,
      browseName: name,
      nodeId: `s=${id}`,
      dataType: DataType[dataType],
      ...(opts.array ? { valueRank: 1, arrayDimensions: [0] } : {}),
      accessLevel: opts.writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
      userAccessLevel: opts.writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
    });
    setVar(state, v, id, variant, new Date());
    vars.set(id, v);
    return v;
  };
  for (const [name, dt, value] of SCALARS) add(name, dt, value, { writable: true });
  add('DoubleArray', DataType.Double, new Float64Array([1.5, 2.5, 3.5]), { writable: true, array: true });
  add('Int32Array', DataType.Int32, new Int32Array([1, -2, 3]), { writable: true, array: true });

  const analog = (name: string, low: number, high: number, eu: ReturnType<typeof makeEUInformation>, value: number): UAVariable => {
    const id = `Machine.${name}`;
    const v = namespace.addAnalogDataItem({
      componentOf: machine,
      browseName: name,
      nodeId: `s=${id}`,
      dataType: 'Double',
      engineeringUnitsRange: { low, high },
      engineeringUnits: eu,
      accessLevel: 'CurrentRead',
      userAccessLevel: 'CurrentRead',
    });
    setVar(state, v, id, initial(id, new Variant({ dataType: DataType.Double, value })), new Date());
    vars.set(id, v);
    return v;
  };
  analog('Speed', 0, 3000, standardUnits.revolutions_per_minute, 1500);
  analog('Temperature', -40, 200, standardUnits.degree_celsius, 21.5);
  const setpoint = add('Setpoint', DataType.Int16, 0, { writable: true });

  const failing = namespace.addVariable({
    componentOf: machine,
    browseName: 'Failing',
    nodeId: 's=Machine.Failing',
    dataType: 'Double',
    accessLevel: 'CurrentRead',
    userAccessLevel: 'CurrentRead',
  });
  failing.setValueFromSource(new Variant({ dataType: DataType.Double, value: 0 }), StatusCodes.BadDeviceFailure);

  const addMethod = namespace.addMethod(machine, {
    browseName: 'Add',
    nodeId: 's=Machine.Add',
    inputArguments: [
      { name: 'a', dataType: DataType.Double, description: { text: 'first addend' } },
      { name: 'b', dataType: DataType.Double, description: { text: 'second addend' } },
    ],
    outputArguments: [{ name: 'sum', dataType: DataType.Double, description: { text: 'a + b' } }],
  });
  addMethod.bindMethod((inputArguments: Variant[], _context: unknown) => {
    const [a, b] = inputArguments;
    if (a?.dataType !== DataType.Double || b?.dataType !== DataType.Double) {
      return Promise.resolve({ statusCode: StatusCodes.BadInvalidArgument });
    }
    return Promise.resolve({
      statusCode: StatusCodes.Good,
      outputArguments: [new Variant({ dataType: DataType.Double, value: (a.value as number) + (b.value as number) })],
    });
  });
  const reset = namespace.addMethod(machine, { browseName: 'Reset', nodeId: 's=Machine.Reset', inputArguments: [], outputArguments: [] });
  reset.bindMethod((_inputArguments: Variant[], _context: unknown) => {
    setVar(state, setpoint, 'Machine.Setpoint', new Variant({ dataType: DataType.Int16, value: 0 }), new Date());
    return Promise.resolve({ statusCode: StatusCodes.Good, outputArguments: [] });
  });

  if (items > 0) {
    const load = namespace.addFolder(objects, { browseName: 'Load', nodeId: 's=Load' });
    for (let i = 0; i < items; i++) {
      const id = `Load.${i}`;
      const v = namespace.addVariable({
        organizedBy: load,
        browseName: `Load.${i}`,
        nodeId: `s=${id}`,
        dataType: 'Double',
        accessLevel: 'CurrentRead',
        userAccessLevel: 'CurrentRead',
      });
      setVar(state, v, id, initial(id, new Variant({ dataType: DataType.Double, value: 0 })), new Date());
      vars.set(id, v);
    }
  }
  return vars;
}

/** The DER bytes of a PEM certificate file (for `trustCertificate`). */
export function readCertificateDer(pemFile: string): Buffer {
  const pem = readFileSync(pemFile, 'utf8');
  const b64 = pem.replace(/-----BEGIN CERTIFICATE-----|-----END CERTIFICATE-----|\s+/g, '');
  return Buffer.from(b64, 'base64');
}
