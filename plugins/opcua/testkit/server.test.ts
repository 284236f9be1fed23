import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  AttributeIds,
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  UserTokenType,
  makeBrowsePath,
  type ClientSession,
} from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from '../../../test/support/hub-fixture.ts';
import { deferCleanup } from '../../../test/support/cleanup.ts';
import { readCertificateDer, startOpcuaSimulator, type OpcuaSimulator } from './server.ts';

const clientPki = tempDir('opcua-client-pki');
let clientCm: OPCUACertificateManager;

async function openSession(
  endpointUrl: string,
  opts: { mode?: MessageSecurityMode; policy?: SecurityPolicy; user?: { userName: string; password: string }; serverCertificate?: Buffer } = {},
): Promise<{ session: ClientSession; client: OPCUAClient; close(): Promise<void> }> {
  const client = OPCUAClient.create({
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    securityMode: opts.mode ?? MessageSecurityMode.None,
    securityPolicy: opts.policy ?? SecurityPolicy.None,
    clientCertificateManager: clientCm,
    certificateFile: path.join(clientPki, 'own/certs/client.pem'),
    requestedSessionTimeout: 10_000,
    ...(opts.serverCertificate ? { serverCertificate: opts.serverCertificate } : {}),
  });
  try {
    await client.connect(endpointUrl);
    const session = await client.createSession(
      opts.user ? { type: UserTokenType.UserName, userName: opts.user.userName, password: opts.user.password } : undefined,
    );
    return {
      session,
      client,
      async close() {
        await session.close();
        await client.disconnect();
      },
    };
  } catch (err) {
    await client.disconnect();
    throw err;
  }
}

let sim: OpcuaSimulator;
const defer = deferCleanup();

beforeAll(async () => {
  clientCm = new OPCUACertificateManager({ rootFolder: clientPki, automaticallyAcceptUnknownCertificate: true });
  await clientCm.initialize();
  sim = await startOpcuaSimulator({ dir: tempDir('opcua-sim'), items: 20, changeIntervalMs: 100, users: { alice: 'secret-1' } });
});
afterAll(async () => {
  await sim?.stop();
  await clientCm?.dispose();
});

describe('OPC UA simulator', () => {
  it('serves Machine variables of every type with their values', async () => {
    const opened = await openSession(sim.endpointUrl);
    const { session } = opened;
    defer(() => opened.close());
    const expected: [string, DataType, unknown][] = [
      ['Boolean', DataType.Boolean, true],
      ['Int16', DataType.Int16, -16],
      ['UInt16', DataType.UInt16, 16],
      ['Int32', DataType.Int32, -32],
      ['UInt32', DataType.UInt32, 32],
      ['Int64', DataType.Int64, [0xffffffff, 0xffffffc0]],
      ['UInt64', DataType.UInt64, [0, 64]],
      ['Float', DataType.Float, 1.5],
      ['Double', DataType.Double, 2.25],
      ['String', DataType.String, 'hello'],
      ['DateTime', DataType.DateTime, new Date('2024-01-02T03:04:05.000Z')],
      ['Setpoint', DataType.Int16, 0],
    ];
    const values = await session.read(expected.map(([n]) => ({ nodeId: sim.nodeId(`Machine.${n}`), attributeId: AttributeIds.Value })));
    expected.forEach(([name, dt, value], i) => {
      const dv = values[i];
      expect(dv?.statusCode, name).toBe(StatusCodes.Good);
      expect(dv?.value.dataType, name).toBe(dt);
      expect(dv?.value.value, name).toEqual(value);
    });
    const arrays = await session.read([
      { nodeId: sim.nodeId('Machine.DoubleArray'), attributeId: AttributeIds.Value },
      { nodeId: sim.nodeId('Machine.Int32Array'), attributeId: AttributeIds.Value },
      { nodeId: sim.nodeId('Machine.Int32Array'), attributeId: AttributeIds.ValueRank },
    ]);
    expect(Array.from(arrays[0]?.value.value as Float64Array)).toEqual([1.5, 2.5, 3.5]);
    expect(Array.from(arrays[1]?.value.value as Int32Array)).toEqual([1, -2, 3]);
    expect(arrays[2]?.value.value).toBe(1);

    const failing = await session.read({ nodeId: sim.nodeId('Machine.Failing'), attributeId: AttributeIds.Value });
    expect(failing.statusCode).toBe(StatusCodes.BadDeviceFailure);
  });

  it('gives Speed and Temperature engineering units and a range, and Speed changes', async () => {
    const opened = await openSession(sim.endpointUrl);
    const { session } = opened;
    defer(() => opened.close());
    const paths = await session.translateBrowsePath([
      makeBrowsePath(sim.nodeId('Machine.Speed'), '.EngineeringUnits'),
      makeBrowsePath(sim.nodeId('Machine.Speed'), '.EURange'),
      makeBrowsePath(sim.nodeId('Machine.Temperature'), '.EngineeringUnits'),
    ]);
    const ids = paths.map((p) => p.targets?.[0]?.targetId);
    expect(ids.every(Boolean)).toBe(true);
    const [speedEu, speedRange, tempEu] = await session.read(ids.map((nodeId) => ({ nodeId: nodeId!, attributeId: AttributeIds.Value })));
    expect((speedEu?.value.value as { displayName: { text: string } }).displayName.text).toBe('r/min');
    expect(speedRange?.value.value).toMatchObject({ low: 0, high: 3000 });
    expect((tempEu?.value.value as { displayName: { text: string } }).displayName.text).toBe('°C');

    const first = (await session.read({ nodeId: sim.nodeId('Machine.Speed'), attributeId: AttributeIds.Value })).value.value as number;
    await waitFor('Speed to change', async () => {
      const dv = await session.read({ nodeId: sim.nodeId('Machine.Speed'), attributeId: AttributeIds.Value });
      return dv.value.value !== first;
    });
    const load = await session.read({ nodeId: sim.nodeId('Load.19'), attributeId: AttributeIds.Value });
    expect(load.value.dataType).toBe(DataType.Double);
    await waitFor('Load.19 to change', async () => {
      const dv = await session.read({ nodeId: sim.nodeId('Load.19'), attributeId: AttributeIds.Value });
      return dv.value.value !== load.value.value;
    });
  });

  it('accepts writes to Setpoint, runs Add and Reset, and set() changes what clients read', async () => {
    const opened = await openSession(sim.endpointUrl);
    const { session } = opened;
    defer(() => opened.close());
    const st = await session.write({
      nodeId: sim.nodeId('Machine.Setpoint'),
      attributeId: AttributeIds.Value,
      value: { value: { dataType: DataType.Int16, value: 42 } },
    });
    expect(st).toBe(StatusCodes.Good);
    expect(sim.get('Machine.Setpoint')).toBe(42);

    const add = await session.call({
      objectId: sim.nodeId('Machine'),
      methodId: sim.nodeId('Machine.Add'),
      inputArguments: [
        { dataType: DataType.Double, value: 1.25 },
        { dataType: DataType.Double, value: 2 },
      ],
    });
    expect(add.statusCode).toBe(StatusCodes.Good);
    expect(add.outputArguments?.[0]?.value).toBe(3.25);

    const reset = await session.call({ objectId: sim.nodeId('Machine'), methodId: sim.nodeId('Machine.Reset'), inputArguments: [] });
    expect(reset.statusCode).toBe(StatusCodes.Good);
    const sp = await session.read({ nodeId: sim.nodeId('Machine.Setpoint'), attributeId: AttributeIds.Value });
    expect(sp.value.value).toBe(0);

    sim.set(sim.nodeId('Machine.String'), 'changed');
    const s = await session.read({ nodeId: sim.nodeId('Machine.String'), attributeId: AttributeIds.Value });
    expect(s.value.value).toBe('changed');
    sim.set('Machine.String', 'hello');
    sim.set('Machine.Int32Array', [4, 5]);
    const arr = await session.read({ nodeId: sim.nodeId('Machine.Int32Array'), attributeId: AttributeIds.Value });
    expect(Array.from(arr.value.value as Int32Array)).toEqual([4, 5]);
    sim.set('Machine.Int32Array', [1, -2, 3]);
    expect(() => sim.set('Machine.Nope', 1)).toThrow(/Machine\.Nope/);
  });

  it('logs in users by password and refuses a wrong one', async () => {
    const ok = await openSession(sim.endpointUrl, { user: { userName: 'alice', password: 'secret-1' } });
    await ok.close();
    await expect(openSession(sim.endpointUrl, { user: { userName: 'alice', password: 'wrong' } })).rejects.toThrow();
  });

  it('restarts on the same port with the same certificate and keeps values', async () => {
    const port = sim.port;
    const certBefore = readFileSync(sim.certificateFile);
    const before = await openSession(sim.endpointUrl);
    await before.session.write({
      nodeId: sim.nodeId('Machine.Setpoint'),
      attributeId: AttributeIds.Value,
      value: { value: { dataType: DataType.Int16, value: 7 } },
    });
    await before.close();
    await sim.restart();
    expect(sim.port).toBe(port);
    expect(readFileSync(sim.certificateFile)).toEqual(certBefore);
    const opened = await openSession(sim.endpointUrl);
    const { session, client } = opened;
    defer(() => opened.close());
    const sp = await session.read({ nodeId: sim.nodeId('Machine.Setpoint'), attributeId: AttributeIds.Value });
    expect(sp.value.value).toBe(7);
    const endpoints = await client.getEndpoints();
    expect(endpoints.some((e) => e.serverCertificate?.equals(readCertificateDer(sim.certificateFile)))).toBe(true);
  });
});

describe('OPC UA simulator with trusted client certificates only', () => {
  it('refuses a secure channel from an untrusted client until its certificate is trusted', async () => {
    const strict = await startOpcuaSimulator({ dir: tempDir('opcua-sim-strict'), securityModes: ['SignAndEncrypt'], acceptAnyClientCertificate: false });
    defer(() => strict.stop());
    // No None endpoint to ask for the server's certificate: the client is given it.
    const secure = {
      mode: MessageSecurityMode.SignAndEncrypt,
      policy: SecurityPolicy.Basic256Sha256,
      serverCertificate: readCertificateDer(strict.certificateFile),
    };
    await expect(openSession(strict.endpointUrl, secure)).rejects.toThrow();
    await strict.trustCertificate(readCertificateDer(path.join(clientPki, 'own/certs/client.pem')));
    const ok = await openSession(strict.endpointUrl, secure);
    const dv = await ok.session.read({ nodeId: strict.nodeId('Machine.Double'), attributeId: AttributeIds.Value });
    expect(dv.value.value).toBe(2.25);
    await ok.close();
  });
});
