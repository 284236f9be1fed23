/**
 * A bootstrap token's creation answer carries the pin of the hub's CA
 * (`caCertHash`), so that whoever created it (an admin, in the console or by
 * the API) can hand a node the whole `edgeadm join` line. Only admins create
 * bootstrap tokens; a hub without TLS has no CA and gives no pin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caCertHash, createCertificateAuthority } from '../pki/index.ts';
import type { BootstrapTokenCreated } from './api-types.ts';
import { startTestHub, type TestHub } from '../../test/support/hub/harness.ts';

describe('bootstrap token creation and the CA pin', () => {
  let tls: TestHub;
  let plain: TestHub;
  let caPem: string;

  beforeAll(async () => {
    caPem = (await createCertificateAuthority({ commonName: 'hub-ca' })).certPem;
    [tls, plain] = await Promise.all([startTestHub({ caCert: caPem }), startTestHub()]);
  });
  afterAll(async () => {
    await Promise.all([tls.close(), plain.close()]);
  });

  it("answers an admin with the token and the CA's pin, which is the one `edgeadm join --ca-cert-hash` checks", async () => {
    const r = await tls.call('POST', '/api/v1/bootstrap-tokens', { body: { site: 'plant-a', ttlSeconds: 600 } });
    expect(r.statusCode, r.body).toBe(201);
    const created = r.json<BootstrapTokenCreated>();
    expect(created.caCertHash).toBe(caCertHash(caPem));
    expect(created).toMatchObject({ site: 'plant-a', token: expect.stringMatching(/^[a-z0-9]{6}\.[a-z0-9]{16}$/) });
    // The token works for the join the pin goes with.
    const joined = await tls.call('POST', '/api/v1/join', { token: created.token, body: { site: 'plant-a', node: 'gw-pin' } });
    expect(joined.statusCode, joined.body).toBe(201);
    expect(joined.json<{ caCert: string }>().caCert).toBe(caPem);
  });

  it('gives no pin on a hub without TLS', async () => {
    const r = await plain.call('POST', '/api/v1/bootstrap-tokens', { body: { site: 'plant-a' } });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json<BootstrapTokenCreated>()).not.toHaveProperty('caCertHash');
  });

  it('refuses viewers, agents and the unauthenticated, creating nothing', async () => {
    const before = (await tls.tokens.listBootstrap()).length;
    for (const token of [tls.viewer, tls.agentA, null]) {
      const r = await tls.call('POST', '/api/v1/bootstrap-tokens', { token, body: { site: 'plant-a' } });
      expect(r.statusCode).toBe(token === null ? 401 : 403);
      expect(r.body).not.toContain('sha256:');
    }
    expect(await tls.tokens.listBootstrap()).toHaveLength(before);
  });
});
