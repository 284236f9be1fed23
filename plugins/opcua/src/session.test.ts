/**
 * The endpoint pool against a real node-opcua server on loopback: user
 * identities, sharing one session between devices, and recovery when the
 * server restarts in the middle of a subscription.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  AttributeIds,
  ClientMonitoredItem,
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  TimestampsToReturn,
  Variant,
  type DataValue,
} from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quiet, tempDir, waitFor } from '../../../test/support/hub-fixture.ts';
import { openClientPki, type ClientPki } from './security.ts';
import { EndpointPool, endpointKey, type EndpointEvents, type EndpointOptions } from './session.ts';
import { freePort } from '../../../test/support/tcp-services.ts';

/** A server on a fixed port and PKI folder, so it can be stopped and started again as the same server. */
async function startServer(dir: string, port: number, o: { users?: boolean } = {}): Promise<{ url: string; stop: () => Promise<void> }> {
  const scm = new OPCUACertificateManager({ rootFolder: path.join(dir, 'pki'), automaticallyAcceptUnknownCertificate: false });
  await scm.initialize();
  const server = new OPCUAServer({
    port,
    hostname: '127.0.0.1',
    serverCertificateManager: scm,
    userCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(dir, 'user-pki') }),
    // Username tokens on a None endpoint are encrypted with one of the server's policies.
    securityModes: [MessageSecurityMode.None, MessageSecurityMode.SignAndEncrypt],
    securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
    ...(o.users ? { allowAnonymous: false, userManager: { isValidUser: (u: string, p: string) => u === 'operator' && p === 's3cret' } } : {}),
  });
  await server.initialize();
  const ns = server.engine.addressSpace!.getOwnNamespace();
  let n = 0;
  ns.addVariable({
    organizedBy: server.engine.addressSpace!.rootFolder.objects,
    browseName: 'Counter',
    nodeId: 's=Counter',
    dataType: 'Int32',
    minimumSamplingInterval: 50,
    value: { get: () => new Variant({ dataType: DataType.Int32, value: n++ }) },
  });
  await server.start();
  return {
    url: `opc.tcp://127.0.0.1:${port}`,
    stop: async () => {
      await server.shutdown(0);
      await scm.dispose();
    },
  };
}

let pki: ClientPki;
let pool: EndpointPool;
let root: string;

beforeAll(async () => {
  root = tempDir('opcua-session');
  pki = await openClientPki({ dir: path.join(root, 'client'), applicationName: 'edgeadm', site: 'plant-a', logger: quiet });
  pool = new EndpointPool({ pki, logger: quiet });
}, 30_000);

afterAll(async () => {
  await pool?.close();
  await pki?.close();
});

describe('user identity', () => {
  let server: { url: string; stop: () => Promise<void> };
  let passwordFile: string;
  beforeAll(async () => {
    server = await startServer(path.join(root, 'users'), await freePort(), { users: true });
    passwordFile = path.join(root, 'password');
    writeFileSync(passwordFile, 's3cret\n', { mode: 0o600 });
  }, 30_000);
  afterAll(async () => server?.stop());

  const opts = (user?: { username: string; passwordFile: string }): EndpointOptions => ({ endpoint: server.url, security: { mode: 'None', policy: 'None' }, ...(user ? { user } : {}) });

  it('the right user name and password open a session', async () => {
    const o = opts({ username: 'operator', passwordFile });
    const h = await pool.acquire(endpointKey(o), o);
    expect((await h.session.read({ nodeId: 'ns=1;s=Counter' })).statusCode.name).toBe('Good');
    await h.release();
  });

  it('a wrong password is EDGE_ERR_OPCUA_AUTH, and the password is in no message', async () => {
    const wrong = path.join(root, 'wrong');
    writeFileSync(wrong, 'hunter2');
    const o = opts({ username: 'operator', passwordFile: wrong });
    const err = await pool.acquire(endpointKey(o), o).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toMatchObject({ code: 'EDGE_ERR_OPCUA_AUTH', message: expect.stringMatching(/refused user 'operator': BadUserAccessDenied/) });
    expect(JSON.stringify({ m: err?.message, p: (err as { params?: unknown }).params })).not.toContain('hunter2');
    expect(pool.size).toBe(0);
  });

  it('a server that takes only user names refuses anonymous with EDGE_ERR_OPCUA_AUTH', async () => {
    const o = opts();
    await expect(pool.acquire(endpointKey(o), o)).rejects.toMatchObject({
      code: 'EDGE_ERR_OPCUA_AUTH',
      message: expect.stringMatching(/refused the anonymous session: the server accepts no anonymous session on this endpoint; set protocols\.opcua\.username and passwordFile/),
    });
  });

  it('a missing password file is EDGE_ERR_OPCUA_PASSWORD_FILE naming the field', async () => {
    const o = opts({ username: 'operator', passwordFile: path.join(root, 'nope') });
    await expect(pool.acquire(endpointKey(o), o)).rejects.toMatchObject({ code: 'EDGE_ERR_OPCUA_PASSWORD_FILE', message: expect.stringMatching(/^protocols\.opcua\.passwordFile: /) });
  });
});

describe('sharing and recovery', () => {
  let port: number;
  let dir: string;
  let server: { url: string; stop: () => Promise<void> } | undefined;
  beforeAll(async () => {
    port = await freePort();
    dir = path.join(root, 'restart');
    server = await startServer(dir, port);
  }, 30_000);
  afterAll(async () => server?.stop());

  it('an unreachable endpoint is EDGE_ERR_OPCUA_CONNECT naming it', async () => {
    const o: EndpointOptions = { endpoint: `opc.tcp://127.0.0.1:${await freePort()}`, security: { mode: 'None', policy: 'None' } };
    await expect(pool.acquire(endpointKey(o), o)).rejects.toMatchObject({ code: 'EDGE_ERR_OPCUA_CONNECT', message: expect.stringContaining(o.endpoint) });
  }, 20_000);

  it('devices on one endpoint share a session and a subscription per publishing interval; the last release closes it', async () => {
    const o: EndpointOptions = { endpoint: server!.url, security: { mode: 'None', policy: 'None' } };
    const [a, b] = await Promise.all([pool.acquire(endpointKey(o), o), pool.acquire(endpointKey(o), o)]);
    expect(a.session).toBe(b.session);
    expect(pool.size).toBe(1);
    const [sa, sb] = await Promise.all([a.subscribe({ publishingInterval: 200 }), b.subscribe({ publishingInterval: 200 })]);
    expect(sa).toBe(sb);
    expect(await a.subscribe({ publishingInterval: 500 })).not.toBe(sa);
    await expect(a.subscribe({ publishingInterval: 0 })).rejects.toMatchObject({ code: 'EDGE_ERR_OPCUA_CONNECT' });
    await a.release();
    await a.release();
    expect(pool.size).toBe(1);
    expect((await b.session.read({ nodeId: 'ns=1;s=Counter' })).statusCode.name).toBe('Good');
    await b.release();
    expect(pool.size).toBe(0);
  });

  it('a server restart in the middle of a subscription: gap, restored, and values keep coming', async () => {
    const o: EndpointOptions = { endpoint: server!.url, security: { mode: 'None', policy: 'None' } };
    const h = await pool.acquire(endpointKey(o), o);
    const events: { name: string; e: EndpointEvents[keyof EndpointEvents] }[] = [];
    for (const name of ['lost', 'reconnecting', 'gap', 'restored'] as const) h.on(name, (e) => events.push({ name, e }));
    const sub = await h.subscribe({ publishingInterval: 100 });
    const values: { value: number; at: number }[] = [];
    const item = ClientMonitoredItem.create(
      sub,
      { nodeId: 'ns=1;s=Counter', attributeId: AttributeIds.Value },
      { samplingInterval: 50, queueSize: 10, discardOldest: true },
      TimestampsToReturn.Both,
    );
    item.on('changed', (dv: DataValue) => values.push({ value: dv.value.value as number, at: events.length }));
    await waitFor('values before the restart', () => values.length >= 3);

    await server!.stop();
    server = undefined;
    await waitFor('lost', () => events.some((e) => e.name === 'lost'));
    expect(h.connected).toBe(false);
    const countAtStop = values.length;
    server = await startServer(dir, port);

    await waitFor('restored', () => events.some((e) => e.name === 'restored'), 30_000);
    const gapAt = events.findIndex((e) => e.name === 'gap');
    const restoredAt = events.findIndex((e) => e.name === 'restored');
    expect(gapAt).toBeGreaterThanOrEqual(0);
    expect(gapAt).toBeLessThan(restoredAt);
    expect(events[gapAt]!.e).toMatchObject({ kind: 'gap', since: expect.any(Date) });
    expect(['session-recreated', 'subscription-recreated']).toContain((events[gapAt]!.e as EndpointEvents['gap']).reason);
    expect(events[restoredAt]!.e).toMatchObject({ kind: 'restored', sessionRecreated: true });
    // The restarted server counts from 0 again: a value from it arrived after the gap was reported.
    await waitFor('values after the restart', () => values.slice(countAtStop).some((v) => v.at > gapAt));
    expect(h.connected).toBe(true);
    await h.release();
    expect(pool.size).toBe(0);
  }, 45_000);
});
