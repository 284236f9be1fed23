/**
 * The bridge as a service of a secure EdgeX: its token from the file
 * EdgeX's secretstore-setup writes, JWTs and the bus's credentials from the
 * secret store (the OpenBao stand-in of the test kit, with OpenBao's token
 * semantics), renewal at half the token's period, a refused token read
 * again, and EdgeX's REST API and a real Mosquitto with a password taking
 * what it got.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { isEdgeError } from '../../../../core/sdk/index.ts';
import { quiet, waitFor } from '../../../../test/support/hub-fixture.ts';
import { startMosquitto, type Mosquitto } from '../../../../test/support/mosquitto.ts';
import { startSecretStoreStandIn, type SecretStoreStandIn } from '../../testkit/secret-store.ts';
import { connectBridgeBus } from './bus.ts';
import { createEdgeXRestClient } from './client.ts';
import { createSecretStoreIdentity, messageBusLogin, tokenOfFile } from './secret-store.ts';
import { BridgeHealth } from './status.ts';

const KEY = 'edgeadm-bridge';
let store: SecretStoreStandIn | undefined;
let mosquitto: Mosquitto | undefined;
let api: Server | undefined;
afterEach(async () => {
  await store?.close();
  await mosquitto?.close();
  await new Promise((r) => (api ? api.close(r) : r(undefined)));
  store = mosquitto = api = undefined;
});

async function codeOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: isEdgeError(err) ? err.code : 'not coded', message: (err as Error).message };
  }
  throw new Error('did not fail');
}

describe("the bridge's secret-store identity", () => {
  it('takes a JWT of its identity, keeps it, renews its token at half its period and a JWT near its end', async () => {
    store = await startSecretStoreStandIn({ jwtTtlSeconds: 900 });
    let file = store.issue(KEY, 3600).file;
    // The stand-in's clock is the identity's too.
    let clock = Date.now();
    const s = store;
    const advance = (sec: number): void => {
      s.advance(sec);
      clock += sec * 1000;
    };
    const clocked = createSecretStoreIdentity({ url: store.url, serviceKey: KEY, readTokenFile: () => Promise.resolve(file), timeoutMs: 2000, now: () => clock });
    const jwt = await clocked.jwt();
    expect(store.verify(jwt)).toBe(KEY);
    expect(await clocked.jwt()).toBe(jwt);
    expect(store.calls.filter((c) => c.includes('/oidc/')).length).toBe(1);

    // Past half the token's period: renewed, and the token lives on beyond its first hour.
    advance(1900);
    await clocked.jwt();
    expect(store.calls).toContain('POST /v1/auth/token/renew-self');
    advance(2000);
    // 80% of the JWT's 15 minutes are long gone: a new one, under a token that is still good.
    const later = await clocked.jwt();
    expect(later).not.toBe(jwt);
    expect(store.verify(later)).toBe(KEY);

    // A revoked token is read again from its file: the new one secretstore-setup wrote works.
    store.seed(KEY, 'message-bus', { username: 'edgex-bus', password: 'pw-1' });
    store.revoke(tokenOfFile(file));
    file = store.issue(KEY).file;
    const lookups = store.calls.filter((c) => c.endsWith('lookup-self')).length;
    expect(await clocked.secret('message-bus')).toEqual({ username: 'edgex-bus', password: 'pw-1' });
    expect(store.calls.filter((c) => c.endsWith('lookup-self')).length).toBe(lookups + 1);
  });

  it('says why, coded and naming no secret, when the token is refused, unreadable, or the store does not answer', async () => {
    store = await startSecretStoreStandIn();
    const { token, file } = store.issue(KEY);
    store.revoke(token);
    const refused = await codeOf(createSecretStoreIdentity({ url: store.url, serviceKey: KEY, readTokenFile: () => Promise.resolve(file), timeoutMs: 2000 }).jwt());
    expect(refused).toMatchObject({ code: 'EDGE_ERR_EDGEX_SECRET_STORE' });
    expect(refused.message).toMatch(/token of edgeadm-bridge is refused \(403\)/);
    expect(refused.message).not.toContain(token);

    const bad = await codeOf(createSecretStoreIdentity({ url: store.url, serviceKey: KEY, readTokenFile: () => Promise.resolve('{"auth":{}}'), timeoutMs: 2000 }).jwt());
    expect(bad.message).toMatch(/auth\.client_token/);
    const unreadable = await codeOf(
      createSecretStoreIdentity({ url: store.url, serviceKey: KEY, readTokenFile: () => Promise.reject(new Error('service "security-secretstore-setup" is not running')), timeoutMs: 2000 }).jwt(),
    );
    expect(unreadable.message).toMatch(/cannot be read: service "security-secretstore-setup" is not running/);

    // Another service's secrets are not the bridge's.
    const other = store.issue('device-virtual');
    store.seed(KEY, 'message-bus', { username: 'u', password: 'p' });
    const foreign = await codeOf(createSecretStoreIdentity({ url: store.url, serviceKey: KEY, readTokenFile: () => Promise.resolve(other.file), timeoutMs: 2000 }).secret('message-bus'));
    expect(foreign.code).toBe('EDGE_ERR_EDGEX_SECRET_STORE');

    const url = store.url;
    await store.close();
    store = undefined;
    const gone = await codeOf(createSecretStoreIdentity({ url, serviceKey: KEY, readTokenFile: () => Promise.resolve(file), timeoutMs: 2000 }).jwt());
    expect(gone).toMatchObject({ code: 'EDGE_ERR_EDGEX_SECRET_STORE' });
    expect(gone.message).toMatch(/no answer \((ECONNREFUSED|UND_ERR_SOCKET)/);
  });

  it("gives EdgeX's REST API a JWT it accepts, and the bus a login Mosquitto accepts", { timeout: 30_000 }, async () => {
    store = await startSecretStoreStandIn();
    const s = store;
    const { file } = store.issue(KEY);
    store.seed(KEY, 'message-bus', { username: 'edgex-bus', password: 'bus-pw-7' });
    const id = createSecretStoreIdentity({ url: store.url, serviceKey: KEY, readTokenFile: () => Promise.resolve(file), timeoutMs: 2000 });

    // core-metadata as a secure EdgeX serves it: a JWT of an identity its secret store issued, or 401.
    api = createServer((req, res) => {
      const jwt = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (jwt === undefined || s.verify(jwt) === undefined) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'v3', statusCode: 401, message: 'unauthorized' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'v3', statusCode: 200, totalCount: 1, devices: [{ name: 'pump-1' }] }));
    });
    await new Promise<void>((r) => api!.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    const client = createEdgeXRestClient({ metadataUrl: base, commandUrl: base, token: () => id.jwt(), timeoutMs: 2000 });
    expect((await client.devices()).map((d) => d.name)).toEqual(['pump-1']);
    // The check can fail: a made-up token is refused.
    const forged = createEdgeXRestClient({ metadataUrl: base, commandUrl: base, token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln', timeoutMs: 2000 });
    await expect(forged.devices()).rejects.toThrow(/401/);

    mosquitto = await startMosquitto({ users: { 'edgex-bus': 'bus-pw-7' } });
    const health = new BridgeHealth(new Registry(), quiet);
    const bus = await connectBridgeBus({ url: mosquitto.url }, 'plant-a', health, quiet, messageBusLogin(id, store.url));
    try {
      await waitFor('connected with the secret-store login', () => bus.connected || undefined, 10_000);
      expect(health.status()['message-bus']?.up).toBe(true);
    } finally {
      await bus.endAsync(true);
    }
  });
});
