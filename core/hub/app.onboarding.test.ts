import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySecret } from '../kernel/index.ts';
import { validateResource, type Resource } from '../store/index.ts';
import { brokerCredentialName, globMatch, matchRule, pendingDeviceName } from './onboarding.ts';
import { API, BACKENDS, err, thermoProfile, type TestHub, startTestHub } from '../../test/support/hub/harness.ts';

interface Obj<S = Record<string, unknown>, St = Record<string, unknown>> {
  kind: string;
  metadata: { name: string; resourceVersion: string; labels?: Record<string, string> };
  spec: S;
  status?: St;
}
type Cred = Obj<{ site: string; username: string; passwordHash: string; device?: string; publish?: string[] }>;
type Pending = Obj<{ site: string; identifier: string; model?: string; firstSeen: string; lastSeen: string }, { phase?: string; decidedBy?: string; decidedAt?: string; device?: string; profile?: string; message?: string }>;

const sensorProfile = {
  manufacturer: 'Acme',
  model: 'TH-100',
  deviceResources: [
    { name: 'temperature', properties: { valueType: 'Float32', readWrite: 'R', units: 'C' } },
    { name: 'humidity', properties: { valueType: 'Float32', readWrite: 'R', units: '%' } },
  ],
};

function announcement(identifier: string, suggestedName: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    source: 'announce',
    identifier,
    suggestedName,
    displayName: `Sensor ${identifier}`,
    manufacturer: 'Acme',
    model: 'TH-100',
    protocolName: 'mqtt',
    protocol: { topic: `devices/${identifier}` },
    profile: sensorProfile,
    ...over,
  };
}

describe('onboarding helpers', () => {
  it('matches globs on the whole string', () => {
    expect(globMatch('TH-*', 'TH-100')).toBe(true);
    expect(globMatch('TH-*', 'XTH-100')).toBe(false);
    expect(globMatch('x-??', 'x-42')).toBe(true);
    expect(globMatch('x-??', 'x-421')).toBe(false);
    expect(globMatch('*', '')).toBe(true);
    expect(globMatch('a.b', 'axb')).toBe(false);
    expect(globMatch('*a*a*a*a*a*a*a*a*b', 'a'.repeat(200))).toBe(false);
  });

  it('takes the first rule whose every given field matches', () => {
    const rules = [
      { name: 'ha', match: { source: 'homeassistant' as const } },
      { name: 'acme', match: { manufacturer: 'Acme', model: 'TH-*' } },
      { name: 'all', match: {} },
    ];
    expect(matchRule(rules, { source: 'announce', identifier: 'i', manufacturer: 'Acme', model: 'TH-1' })?.name).toBe('acme');
    expect(matchRule(rules, { source: 'announce', identifier: 'i', model: 'TH-1' })?.name).toBe('all');
    expect(matchRule(rules.slice(0, 2), { source: 'announce', identifier: 'i', manufacturer: 'Acme' })).toBeUndefined();
  });

  it('names objects deterministically', () => {
    expect(brokerCredentialName('plant-a', 'pump-a')).toBe('plant-a.pump-a');
    expect(brokerCredentialName('plant-a', 'Pump-A')).toMatch(/^plant-a\.u-[0-9a-f]{12}$/);
    expect(brokerCredentialName('plant-a', 'gw.1')).toMatch(/^plant-a\.u-[0-9a-f]{12}$/);
    expect(pendingDeviceName('plant-a', 'announce', 'x')).toMatch(/^plant-a\.announce\.[0-9a-f]{16}$/);
    expect(pendingDeviceName('plant-a', 'announce', 'x')).not.toBe(pendingDeviceName('plant-a', 'announce', 'y'));
  });
});

describe.each(BACKENDS)('hub onboarding API ($name)', (backend) => {
  let h: TestHub;
  let adminId: string;
  const validating = backend.validates;
  beforeAll(async () => {
    h = await startTestHub({ backend });
    adminId = (await h.tokens.verify(h.admin))!.tokenId;
  });
  afterAll(() => h.close());

  const report = (site: string, body: unknown, token?: string) => h.call('POST', `/api/v1/sites/${site}/pending-devices`, { body, ...(token === undefined ? {} : { token }) });
  const stored = async (kind: 'Device' | 'DeviceProfile' | 'PendingDevice' | 'BrokerCredential', name: string) => h.store.get(kind, name);

  describe('broker credentials', () => {
    it('issues a password that verifies against the stored hash and is stored nowhere', async () => {
      const r = await h.call('POST', '/api/v1/sites/plant-a/broker-credentials', { body: { device: 'pump-a', publish: ['plant-a/extra/#'] } });
      expect(r.statusCode).toBe(201);
      const { credential, password } = r.json<{ credential: Cred; password: string }>();
      expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(credential).toMatchObject({ kind: 'BrokerCredential', metadata: { name: 'plant-a.pump-a' }, spec: { site: 'plant-a', username: 'pump-a', device: 'pump-a', publish: ['plant-a/extra/#'] } });
      const kept = (await stored('BrokerCredential', 'plant-a.pump-a')) as unknown as Cred;
      expect(await verifySecret(password, kept.spec.passwordHash)).toBe(true);
      expect(await verifySecret(`${password}x`, kept.spec.passwordHash)).toBe(false);
      expect(JSON.stringify(kept)).not.toContain(password);
      if (validating) expect(validateResource(kept)).toEqual([]);
    });

    it('names a username that is not a DNS label by its hash, and refuses duplicates per site', async () => {
      const r = await h.call('POST', '/api/v1/sites/plant-a/broker-credentials', { body: { username: 'Gateway:1', subscribe: ['cmd/+/set'] } });
      expect(r.statusCode).toBe(201);
      const name = r.json<{ credential: Cred }>().credential.metadata.name;
      expect(name).toBe(brokerCredentialName('plant-a', 'Gateway:1'));
      expect(name).toMatch(/^plant-a\.u-[0-9a-f]{12}$/);
      const dup = await h.call('POST', '/api/v1/sites/plant-a/broker-credentials', { body: { username: 'Gateway:1' } });
      expect(dup.statusCode).toBe(409);
      expect(err(dup)).toMatchObject({ code: 'EDGE_ERR_HUB_CREDENTIAL_EXISTS', details: { site: 'plant-a', username: 'Gateway:1', name } });
      const dupDevice = await h.call('POST', '/api/v1/sites/plant-a/broker-credentials', { body: { username: 'pump-a' } });
      expect(err(dupDevice).code).toBe('EDGE_ERR_HUB_CREDENTIAL_EXISTS');
      // The same username at another site is another login.
      const other = await h.call('POST', '/api/v1/sites/plant-b/broker-credentials', { body: { username: 'Gateway:1' } });
      expect(other.statusCode).toBe(201);
      expect(other.json<{ credential: Cred }>().credential.metadata.name).toBe(brokerCredentialName('plant-b', 'Gateway:1'));
    });

    it('finds an existing login by its username whatever its object name', async () => {
      const created = await h.call('POST', '/api/v1/sites/plant-b/broker-credentials', { body: { username: 'seed' } });
      // The answer never carries the hash: the store has it.
      expect(created.json<{ credential: Cred }>().credential.spec).not.toHaveProperty('passwordHash');
      const hash = ((await stored('BrokerCredential', created.json<{ credential: Cred }>().credential.metadata.name)) as unknown as Cred).spec.passwordHash;
      await h.store.apply({ apiVersion: API, kind: 'BrokerCredential', metadata: { name: 'hand-made' }, spec: { site: 'plant-b', username: 'legacy', passwordHash: hash } });
      const dup = await h.call('POST', '/api/v1/sites/plant-b/broker-credentials', { body: { username: 'legacy' } });
      expect(dup.statusCode).toBe(409);
      expect(err(dup).details).toMatchObject({ name: 'hand-made' });
      const rotated = await h.call('POST', '/api/v1/sites/plant-b/broker-credentials/legacy/rotate');
      expect(rotated.statusCode).toBe(200);
      expect(rotated.json<{ credential: Cred }>().credential.metadata.name).toBe('hand-made');
    });

    it('refuses bad requests naming the field', async () => {
      const none = await h.call('POST', '/api/v1/sites/plant-a/broker-credentials', { body: { publish: ['a/b'] } });
      expect(none.statusCode).toBe(400);
      expect(err(none)).toMatchObject({ code: 'EDGE_ERR_HUB_BAD_REQUEST', details: { issues: [{ in: 'body', path: 'username' }] } });
      const bad = await h.call('POST', '/api/v1/sites/plant-a/broker-credentials', { body: { username: 'no spaces', publish: ['a/#/b'], colour: 1 } });
      expect(bad.statusCode).toBe(400);
      const paths = err(bad).details!.issues!.map((i) => i.path);
      expect(paths).toEqual(expect.arrayContaining(['username', 'colour']));
      expect(paths.some((p) => p.startsWith('publish'))).toBe(true);
      const reserved = await h.call('POST', '/api/v1/sites/plant-a/broker-credentials', { body: { username: 'edgeadm-site' } });
      expect(reserved.statusCode).toBe(400);
      expect(err(reserved)).toMatchObject({ details: { issues: [{ path: 'username', message: expect.stringMatching(/reserved/) as unknown }] } });
      const noSite = await h.call('POST', '/api/v1/sites/plant-z/broker-credentials', { body: { username: 'u1' } });
      expect(noSite.statusCode).toBe(404);
      expect(err(noSite)).toMatchObject({ code: 'EDGE_ERR_HUB_NOT_FOUND', details: { kind: 'Site', name: 'plant-z' } });
      const noDevice = await h.call('POST', '/api/v1/sites/plant-a/broker-credentials', { body: { device: 'ghost' } });
      expect(noDevice.statusCode).toBe(404);
      expect(err(noDevice)).toMatchObject({ code: 'EDGE_ERR_HUB_REF_NOT_FOUND', details: { field: 'device', kind: 'Device', name: 'ghost' } });
    });

    it("refuses a device of another site", async () => {
      const r = await h.call('POST', '/api/v1/sites/plant-a/broker-credentials', { body: { device: 'pump-b' } });
      expect(r.statusCode).toBe(409);
      expect(err(r)).toMatchObject({ code: 'EDGE_ERR_HUB_FIELD_CONFLICT', details: { field: 'device' } });
      expect(err(r).message).toContain("belongs to site 'plant-b'");
      expect(await stored('BrokerCredential', 'plant-a.pump-b')).toBeUndefined();
    });

    it('rotates: the old password stops verifying, the new one does', async () => {
      const first = (await h.call('POST', '/api/v1/sites/plant-a/broker-credentials', { body: { username: 'rotor' } })).json<{ password: string }>().password;
      const r = await h.call('POST', '/api/v1/sites/plant-a/broker-credentials/rotor/rotate');
      expect(r.statusCode).toBe(200);
      const { credential, password } = r.json<{ credential: Cred; password: string }>();
      expect(password).not.toBe(first);
      const kept = (await stored('BrokerCredential', credential.metadata.name)) as unknown as Cred;
      expect(await verifySecret(first, kept.spec.passwordHash)).toBe(false);
      expect(await verifySecret(password, kept.spec.passwordHash)).toBe(true);
      const missing = await h.call('POST', '/api/v1/sites/plant-a/broker-credentials/nobody/rotate');
      expect(missing.statusCode).toBe(404);
      expect(err(missing)).toMatchObject({ code: 'EDGE_ERR_HUB_NOT_FOUND', details: { kind: 'BrokerCredential', name: 'nobody', site: 'plant-a' } });
    });

    it('deletes by username', async () => {
      await h.call('POST', '/api/v1/sites/plant-a/broker-credentials', { body: { username: 'short-lived' } });
      const del = await h.call('DELETE', '/api/v1/sites/plant-a/broker-credentials/short-lived');
      expect(del.statusCode).toBe(200);
      expect(await stored('BrokerCredential', 'plant-a.short-lived')).toBeUndefined();
      expect((await h.call('DELETE', '/api/v1/sites/plant-a/broker-credentials/short-lived')).statusCode).toBe(404);
    });

    it('admits only admins', async () => {
      for (const token of [h.agentA, h.viewer]) {
        const create = await h.call('POST', '/api/v1/sites/plant-a/broker-credentials', { token, body: { username: 'sneaky' } });
        expect(create.statusCode).toBe(403);
        expect(err(create).code).toBe('EDGE_ERR_HUB_FORBIDDEN');
        expect((await h.call('POST', '/api/v1/sites/plant-a/broker-credentials/pump-a/rotate', { token })).statusCode).toBe(403);
        expect((await h.call('DELETE', '/api/v1/sites/plant-a/broker-credentials/pump-a', { token })).statusCode).toBe(403);
      }
      expect((await h.call('POST', '/api/v1/sites/plant-a/broker-credentials', { token: null, body: { username: 'x' } })).statusCode).toBe(401);
      expect(await stored('BrokerCredential', 'plant-a.sneaky')).toBeUndefined();
    });
  });

  describe('pending devices', () => {
    it("takes a report from the site's own agent, and refuses other sites' agents", async () => {
      const r = await report('plant-a', announcement('sensor-0001', 'sensor-1'), h.agentA);
      expect(r.statusCode).toBe(200);
      const p = r.json<Pending>();
      expect(p.metadata.name).toBe(pendingDeviceName('plant-a', 'announce', 'sensor-0001'));
      expect(p.spec).toMatchObject({ site: 'plant-a', identifier: 'sensor-0001' });
      expect(p.spec.firstSeen).toBe(p.spec.lastSeen);
      expect(p.status).toEqual({ phase: 'Pending' });
      if (validating) expect(validateResource(p)).toEqual([]);

      const other = await report('plant-a', announcement('sensor-0009', 'sensor-9'), h.agentB);
      expect(other.statusCode).toBe(403);
      expect(err(other)).toMatchObject({ code: 'EDGE_ERR_HUB_FORBIDDEN', details: { site: 'plant-a', ownSite: 'plant-b' } });
      expect((await report('plant-a', announcement('sensor-0009', 'sensor-9'), h.viewer)).statusCode).toBe(403);
      expect(await stored('PendingDevice', pendingDeviceName('plant-a', 'announce', 'sensor-0009'))).toBeUndefined();
      const noSite = await report('plant-z', announcement('sensor-0009', 'sensor-9'));
      expect(err(noSite)).toMatchObject({ code: 'EDGE_ERR_HUB_NOT_FOUND', details: { kind: 'Site', name: 'plant-z' } });
    });

    it('is idempotent, writes lastSeen at most once a minute, and takes changed fields at once', async () => {
      const name = pendingDeviceName('plant-a', 'announce', 'sensor-0002');
      const first = (await report('plant-a', announcement('sensor-0002', 'sensor-2'), h.agentA)).json<Pending>();
      const again = await report('plant-a', announcement('sensor-0002', 'sensor-2'), h.agentA);
      expect(again.statusCode).toBe(200);
      expect(again.json<Pending>().metadata.resourceVersion).toBe(first.metadata.resourceVersion);
      expect(again.json<Pending>().spec.lastSeen).toBe(first.spec.lastSeen);
      expect((await h.call('GET', '/api/v1/pendingdevices?site=plant-a')).json<{ items: Pending[] }>().items.filter((i) => i.spec.identifier === 'sensor-0002')).toHaveLength(1);

      const changed = (await report('plant-a', announcement('sensor-0002', 'sensor-2', { model: 'TH-200' }), h.agentA)).json<Pending>();
      expect(changed.spec.model).toBe('TH-200');
      expect(changed.spec.firstSeen).toBe(first.spec.firstSeen);
      expect(changed.status?.phase).toBe('Pending');

      // Last seen two minutes ago: the next report refreshes it even though nothing else changed.
      const cur = (await stored('PendingDevice', name)) as unknown as Pending;
      const old = new Date(Date.now() - 120_000).toISOString();
      await h.store.apply({ ...(cur as unknown as Resource), spec: { ...cur.spec, lastSeen: old } });
      const refreshed = (await report('plant-a', announcement('sensor-0002', 'sensor-2', { model: 'TH-200' }), h.agentA)).json<Pending>();
      expect(Date.parse(refreshed.spec.lastSeen)).toBeGreaterThan(Date.parse(old) + 60_000);
      expect(refreshed.spec.firstSeen).toBe(first.spec.firstSeen);
    });

    it('refuses bad announcements naming each field', async () => {
      const r = await report('plant-a', { ...announcement('', 'Not A Name'), source: 'zigbee', site: 'plant-b', profile: { deviceResources: 'none' } }, h.agentA);
      expect(r.statusCode).toBe(400);
      const paths = err(r).details!.issues!.map((i) => i.path);
      expect(paths).toEqual(expect.arrayContaining(['identifier', 'suggestedName', 'source', 'site', 'profile.deviceResources']));
      const missing = await report('plant-a', { source: 'announce' }, h.agentA);
      expect(err(missing).details!.issues!.map((i) => i.path)).toEqual(expect.arrayContaining(['identifier', 'suggestedName', 'protocolName', 'protocol', 'profile']));
    });

    it('approves: creates a valid profile and Device, and marks it Approved', async () => {
      const p = (await report('plant-a', announcement('sensor-0003', 'sensor-3'), h.agentA)).json<Pending>();
      const r = await h.call('POST', `/api/v1/pendingdevices/${p.metadata.name}/approve`, { body: { labels: { zone: 'hall' } } });
      expect(r.statusCode).toBe(200);
      const { pending, device, profile } = r.json<{ pending: Pending; device: Obj; profile: Obj }>();
      expect(device).toMatchObject({
        kind: 'Device',
        metadata: { name: 'sensor-3', labels: { zone: 'hall', 'edgeadm.io/onboarded-from': 'announce' } },
        spec: { site: 'plant-a', profile: 'plant-a.sensor-3', protocols: { mqtt: { topic: 'devices/sensor-0003' } }, description: 'Sensor sensor-0003' },
      });
      expect(profile).toMatchObject({ kind: 'DeviceProfile', metadata: { name: 'plant-a.sensor-3' }, spec: sensorProfile });
      expect(pending.status).toMatchObject({ phase: 'Approved', device: 'sensor-3', profile: 'plant-a.sensor-3', decidedBy: adminId });
      expect(Date.parse(pending.status!.decidedAt!)).not.toBeNaN();
      for (const o of [await stored('Device', 'sensor-3'), await stored('DeviceProfile', 'plant-a.sensor-3'), await stored('PendingDevice', p.metadata.name)]) {
        expect(o).toBeDefined();
        expect(validateResource(o)).toEqual([]);
      }

      const twice = await h.call('POST', `/api/v1/pendingdevices/${p.metadata.name}/approve`, { body: { name: 'sensor-3b' } });
      expect(twice.statusCode).toBe(409);
      expect(err(twice)).toMatchObject({ code: 'EDGE_ERR_HUB_PENDING_STATE', details: { phase: 'Approved' } });
      expect(await stored('Device', 'sensor-3b')).toBeUndefined();

      // Announced again once approved: the decision stands, only lastSeen may move.
      const later = (await report('plant-a', announcement('sensor-0003', 'sensor-3', { model: 'TH-999' }), h.agentA)).json<Pending>();
      expect(later.status?.phase).toBe('Approved');
      expect(later.spec.model).toBe('TH-100');
    });

    it('refuses a profile name taken by a different profile, leaving no Device behind', async () => {
      const p = (await report('plant-a', announcement('sensor-0004', 'sensor-4'), h.agentA)).json<Pending>();
      await h.store.apply({ ...thermoProfile, metadata: { name: 'plant-a.sensor-4' } });
      const r = await h.call('POST', `/api/v1/pendingdevices/${p.metadata.name}/approve`, { body: {} });
      expect(r.statusCode).toBe(409);
      expect(err(r)).toMatchObject({ code: 'EDGE_ERR_HUB_FIELD_CONFLICT', details: { field: 'profile' } });
      expect(await stored('Device', 'sensor-4')).toBeUndefined();
      expect(((await stored('DeviceProfile', 'plant-a.sensor-4')) as Resource).spec).toEqual(thermoProfile.spec);
      expect(((await stored('PendingDevice', p.metadata.name)) as unknown as Pending).status?.phase).toBe('Pending');

      // An identical profile of that name is reused.
      await h.store.apply({ apiVersion: API, kind: 'DeviceProfile', metadata: { name: 'plant-a.sensor-4' }, spec: sensorProfile });
      const ok = await h.call('POST', `/api/v1/pendingdevices/${p.metadata.name}/approve`, { body: {} });
      expect(ok.statusCode).toBe(200);
      expect(ok.json<{ device: Obj }>().device.spec).toMatchObject({ profile: 'plant-a.sensor-4' });
    });

    it('refuses a Device name that exists, and an unknown profile, creating nothing', async () => {
      const p = (await report('plant-a', announcement('sensor-0005', 'pump-a'), h.agentA)).json<Pending>();
      const taken = await h.call('POST', `/api/v1/pendingdevices/${p.metadata.name}/approve`, { body: {} });
      expect(taken.statusCode).toBe(409);
      expect(err(taken)).toMatchObject({ code: 'EDGE_ERR_HUB_FIELD_CONFLICT', details: { field: 'name' } });
      expect(await stored('DeviceProfile', 'plant-a.pump-a')).toBeUndefined();
      const unknown = await h.call('POST', `/api/v1/pendingdevices/${p.metadata.name}/approve`, { body: { name: 'sensor-5', profile: 'nope' } });
      expect(unknown.statusCode).toBe(404);
      expect(err(unknown)).toMatchObject({ code: 'EDGE_ERR_HUB_REF_NOT_FOUND', details: { field: 'profile', name: 'nope' } });
      const badName = await h.call('POST', `/api/v1/pendingdevices/${p.metadata.name}/approve`, { body: { name: 'Bad Name' } });
      expect(badName.statusCode).toBe(400);
      expect(err(badName).details!.issues).toEqual([expect.objectContaining({ path: 'name' })]);
      expect((await h.call('POST', '/api/v1/pendingdevices/nothing-here/approve', { body: {} })).statusCode).toBe(404);
      expect((await h.call('POST', `/api/v1/pendingdevices/${p.metadata.name}/approve`, { token: h.agentA, body: {} })).statusCode).toBe(403);

      // With an existing profile and another name, it goes through without making a profile.
      const ok = await h.call('POST', `/api/v1/pendingdevices/${p.metadata.name}/approve`, { body: { name: 'sensor-5', profile: 'thermo' } });
      expect(ok.statusCode).toBe(200);
      expect(ok.json<{ device: Obj; profile: Obj }>()).toMatchObject({ device: { spec: { profile: 'thermo' } }, profile: { metadata: { name: 'thermo' } } });
      expect(await stored('DeviceProfile', 'plant-a.sensor-5')).toBeUndefined();
    });

    // Only a validating store refuses the Device; the in-memory fake accepts anything, so the case exists only there.
    if (validating) {
      it('removes the profile it created when the Device cannot be created', async () => {
        const p = (await report('plant-a', announcement('sensor-0006', 'sensor-6'), h.agentA)).json<Pending>();
        const r = await h.call('POST', `/api/v1/pendingdevices/${p.metadata.name}/approve`, { body: { labels: { 'bad key!': 'x' } } });
        expect(r.statusCode).toBe(400);
        expect(err(r).code).toBe('EDGE_ERR_STORE_INVALID');
        expect(err(r).message).toContain('metadata.labels.bad key!');
        expect(await stored('DeviceProfile', 'plant-a.sensor-6')).toBeUndefined();
        expect(await stored('Device', 'sensor-6')).toBeUndefined();
        expect(((await stored('PendingDevice', p.metadata.name)) as unknown as Pending).status?.phase).toBe('Pending');
      });
    }

    it('rejects; a rejected device stays rejected until deleted, then it is proposed again', async () => {
      const p = (await report('plant-a', announcement('sensor-0007', 'sensor-7'), h.agentA)).json<Pending>();
      const r = await h.call('POST', `/api/v1/pendingdevices/${p.metadata.name}/reject`);
      expect(r.statusCode).toBe(200);
      expect(r.json<Pending>().status).toMatchObject({ phase: 'Rejected', decidedBy: adminId });
      const again = await h.call('POST', `/api/v1/pendingdevices/${p.metadata.name}/reject`);
      expect(err(again)).toMatchObject({ code: 'EDGE_ERR_HUB_PENDING_STATE', details: { phase: 'Rejected', action: 'reject' } });
      expect((await h.call('POST', `/api/v1/pendingdevices/${p.metadata.name}/approve`, { body: {} })).statusCode).toBe(409);
      expect((await report('plant-a', announcement('sensor-0007', 'sensor-7'), h.agentA)).json<Pending>().status?.phase).toBe('Rejected');
      expect((await h.call('POST', `/api/v1/pendingdevices/${p.metadata.name}/reject`, { token: h.agentA })).statusCode).toBe(403);

      expect((await h.call('DELETE', `/api/v1/pendingdevices/${p.metadata.name}`)).statusCode).toBe(200);
      const fresh = (await report('plant-a', announcement('sensor-0007', 'sensor-7'), h.agentA)).json<Pending>();
      expect(fresh.status?.phase).toBe('Pending');
    });
  });

  describe('provisioning rules', () => {
    const setRules = async (rules: unknown[]): Promise<void> => {
      const r = await h.call('PUT', '/api/v1/sites/plant-b', { body: { metadata: { labels: { region: 'south' } }, spec: { onboarding: { rules } } } });
      expect(r.statusCode).toBe(200);
    };
    beforeAll(async () => {
      await setRules([
        { name: 'acme-th', match: { manufacturer: 'Acme', model: 'TH-*' }, labels: { zone: 'hall' } },
        { name: 'x-series', match: { source: 'announce', identifier: 'x-??' }, profile: 'thermo' },
        { name: 'broken', match: { identifier: 'broken-*' }, profile: 'missing-profile' },
      ]);
    });

    it('approves a matching announcement at once, first match winning', async () => {
      const r = await report('plant-b', announcement('x-01', 'acme-x1'), h.agentB);
      expect(r.statusCode).toBe(200);
      expect(r.json<Pending>().status).toMatchObject({ phase: 'Approved', decidedBy: 'rule:acme-th', device: 'acme-x1', profile: 'plant-b.acme-x1' });
      expect((await stored('Device', 'acme-x1'))?.metadata.labels).toEqual({ zone: 'hall', 'edgeadm.io/onboarded-from': 'announce' });

      const second = (await report('plant-b', announcement('x-02', 'other-x2', { manufacturer: 'Other' }), h.agentB)).json<Pending>();
      expect(second.status).toMatchObject({ phase: 'Approved', decidedBy: 'rule:x-series', profile: 'thermo' });
      expect((await stored('Device', 'other-x2'))?.spec).toMatchObject({ site: 'plant-b', profile: 'thermo' });
      expect(await stored('DeviceProfile', 'plant-b.other-x2')).toBeUndefined();
    });

    it('leaves a non-matching one Pending, and a rule added later admits it on the next report', async () => {
      const body = announcement('y-100', 'other-y', { manufacturer: 'Other', model: 'Z' });
      const first = (await report('plant-b', body, h.agentB)).json<Pending>();
      expect(first.status).toEqual({ phase: 'Pending' });
      expect(await stored('Device', 'other-y')).toBeUndefined();
      await setRules([{ name: 'y-series', match: { identifier: 'y-*', model: 'Z' } }]);
      const next = (await report('plant-b', body, h.agentB)).json<Pending>();
      expect(next.status).toMatchObject({ phase: 'Approved', decidedBy: 'rule:y-series', device: 'other-y' });
      expect(await stored('Device', 'other-y')).toBeDefined();
    });

    it('keeps it Pending with the reason when a matching rule cannot approve', async () => {
      await setRules([{ name: 'broken', match: { identifier: 'broken-*' }, profile: 'missing-profile' }]);
      const r = await report('plant-b', announcement('broken-1', 'broken-1', { manufacturer: 'Other' }), h.agentB);
      expect(r.statusCode).toBe(200);
      const p = r.json<Pending>();
      expect(p.status?.phase).toBe('Pending');
      expect(p.status?.message).toMatch(/provisioning rule 'broken' matched, but the approval failed: profile: DeviceProfile 'missing-profile' does not exist/);
      expect(await stored('Device', 'broken-1')).toBeUndefined();
    });
  });
});
