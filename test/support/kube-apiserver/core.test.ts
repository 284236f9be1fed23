/**
 * The Kubernetes API test server, core of the API: TLS and plain HTTP,
 * bearer tokens, discovery, Status objects, and create / get / update /
 * patch / delete with their rules. Each test cites the rule of the
 * Kubernetes API concepts or API conventions documents it checks.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call -- answers are arbitrary Kubernetes JSON, read loosely by the assertions (client.ts's RawResponse.body) */
import { describe, expect, it } from 'vitest';
import { rawClient, useKubeApiServer } from './client.ts';
import { ErrKubeApiOptions, startKubeApiServer } from './index.ts';

const t = useKubeApiServer();

const cm = (name: string, data: Record<string, string> = {}, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...extra }, data });

describe('transport and authentication', () => {
  it('serves HTTPS with its own CA and refuses a missing or wrong token with a 401 Status', async () => {
    expect(t.server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(t.server.caPem).toContain('BEGIN CERTIFICATE');
    // API conventions, "Response Status Kind": errors are Status objects with status Failure, reason and code.
    for (const bad of [null, 'wrong-token']) {
      const anon = rawClient(t.server, bad);
      const r = await anon.call('GET', '/api/v1/namespaces');
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 });
      // Health and version are public (system:public-info-viewer), as on a real cluster, to
      // requests without a token; a token that is sent must be known there too (auth.test.ts).
      if (bad === null) {
        expect((await anon.call('GET', '/healthz')).body).toBe('ok');
        expect((await anon.call('GET', '/version')).body).toMatchObject({ major: '1', minor: '32' });
      } else {
        expect((await anon.call('GET', '/healthz')).status).toBe(401);
      }
      await anon.close();
    }
  });

  it('serves plain HTTP when told to, and refuses bad options with a coded error', async () => {
    const plain = await startKubeApiServer({ tls: false, token: 't0k' });
    try {
      expect(plain.url).toMatch(/^http:\/\//);
      const pc = rawClient(plain);
      expect((await pc.call('GET', '/api/v1/namespaces/default')).body.metadata.name).toBe('default');
      await pc.close();
    } finally {
      await plain.close();
    }
    await expect(startKubeApiServer({ historyLimit: 0 })).rejects.toSatisfy((e) => ErrKubeApiOptions.is(e) && /historyLimit/.test(e.message));
  });
});

describe('discovery', () => {
  it('lists the core version, the groups, and each group version\'s resources with verbs, scope, kind, shortNames and status subresources', async () => {
    expect((await t.c.call('GET', '/api')).body).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const core = (await t.c.call('GET', '/api/v1')).body;
    expect(core).toMatchObject({ kind: 'APIResourceList', groupVersion: 'v1' });
    const pods = core.resources.find((r: { name: string }) => r.name === 'pods');
    expect(pods).toMatchObject({ namespaced: true, kind: 'Pod', shortNames: ['po'], verbs: expect.arrayContaining(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']) });
    expect(core.resources.find((r: { name: string }) => r.name === 'pods/status')).toMatchObject({ kind: 'Pod', verbs: ['get', 'patch', 'update'] });
    expect(core.resources.find((r: { name: string }) => r.name === 'nodes')).toMatchObject({ namespaced: false });
    // configmaps have no status subresource.
    expect(core.resources.find((r: { name: string }) => r.name === 'configmaps/status')).toBeUndefined();
    const groups = (await t.c.call('GET', '/apis')).body;
    expect(groups.kind).toBe('APIGroupList');
    expect(groups.groups.map((g: { name: string }) => g.name)).toEqual(
      expect.arrayContaining(['apps', 'coordination.k8s.io', 'discovery.k8s.io', 'apiextensions.k8s.io']),
    );
    expect((await t.c.call('GET', '/apis/apps')).body).toMatchObject({ kind: 'APIGroup', name: 'apps', preferredVersion: { groupVersion: 'apps/v1', version: 'v1' } });
    const apps = (await t.c.call('GET', '/apis/apps/v1')).body;
    expect(apps.resources.map((r: { name: string }) => r.name)).toEqual(['deployments', 'deployments/status', 'statefulsets', 'statefulsets/status']);
    // An unknown group version or path: 404 Status.
    const missing = await t.c.call('GET', '/apis/nope.example.com/v1');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ kind: 'Status', reason: 'NotFound', code: 404 });
    expect((await t.c.call('GET', '/readyz')).body).toBe('ok');
  });
});

describe('create, get, update, patch, delete', () => {
  it('creates with uid, creationTimestamp and resourceVersion; a second create is 409 AlreadyExists', async () => {
    const r = await t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm('a', { k: 'v' }));
    expect(r.status).toBe(201);
    expect(r.body.metadata).toMatchObject({ name: 'a', namespace: 'default', uid: expect.stringMatching(/^[0-9a-f-]{36}$/), resourceVersion: expect.stringMatching(/^\d+$/) });
    expect(r.body.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const again = await t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm('a'));
    // API conventions: AlreadyExists is 409 with details naming the object.
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ reason: 'AlreadyExists', code: 409, message: 'configmaps "a" already exists', details: { name: 'a', kind: 'configmaps' } });
    const got = await t.c.call('GET', '/api/v1/namespaces/default/configmaps/a');
    expect(got.body).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap', data: { k: 'v' } });
    const nf = await t.c.call('GET', '/api/v1/namespaces/default/configmaps/zz');
    expect(nf.body).toMatchObject({ reason: 'NotFound', code: 404, message: 'configmaps "zz" not found', details: { name: 'zz', kind: 'configmaps' } });
  });

  it('generateName makes a unique name; a missing or bad name is 422 Invalid naming metadata.name', async () => {
    const a = await t.c.call('POST', '/api/v1/namespaces/default/configmaps', { metadata: { generateName: 'gen-' } });
    const b = await t.c.call('POST', '/api/v1/namespaces/default/configmaps', { metadata: { generateName: 'gen-' } });
    expect(a.body.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
    expect(b.body.metadata.name).not.toBe(a.body.metadata.name);
    const none = await t.c.call('POST', '/api/v1/namespaces/default/configmaps', { metadata: {} });
    expect(none.status).toBe(422);
    expect(none.body.details.causes).toEqual([expect.objectContaining({ field: 'metadata.name', reason: 'FieldValueRequired' })]);
    const upper = await t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm('Bad_Name'));
    expect(upper.status).toBe(422);
    expect(upper.body).toMatchObject({ reason: 'Invalid', details: { name: 'Bad_Name', kind: 'ConfigMap', causes: [expect.objectContaining({ field: 'metadata.name' })] } });
  });

  it('refuses a namespaced create in a namespace that does not exist, and a body whose namespace or kind disagrees with the URL', async () => {
    const r = await t.c.call('POST', '/api/v1/namespaces/ghost/configmaps', cm('x'));
    expect(r.status).toBe(404);
    expect(r.body.message).toBe('namespaces "ghost" not found');
    expect((await t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm('x', {}, { namespace: 'kube-system' }))).status).toBe(400);
    expect((await t.c.call('POST', '/api/v1/namespaces/default/configmaps', { ...cm('x'), kind: 'Secret' })).status).toBe(400);
    // kube-system exists from the start.
    expect((await t.c.call('POST', '/api/v1/namespaces/kube-system/configmaps', cm('x'))).status).toBe(201);
  });

  it('serves cluster-scoped types without a namespace, and namespaced ones across all namespaces', async () => {
    const n = await t.c.call('POST', '/api/v1/nodes', { metadata: { name: 'node-1' } });
    expect(n.status).toBe(201);
    expect(n.body.metadata.namespace).toBeUndefined();
    expect((await t.c.call('GET', '/api/v1/namespaces/default/nodes/node-1')).status).toBe(404);
    const all = (await t.c.call('GET', '/api/v1/configmaps')).body;
    expect(all.items.map((i: { metadata: { namespace: string } }) => i.metadata.namespace)).toEqual(expect.arrayContaining(['default', 'kube-system']));
  });

  it('update with a stale resourceVersion is 409 Conflict; without one it is unconditional; a no-op update writes nothing', async () => {
    const created = (await t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm('u', { n: '1' }))).body;
    const first = await t.c.call('PUT', '/api/v1/namespaces/default/configmaps/u', { ...created, data: { n: '2' } });
    expect(first.status).toBe(200);
    expect(Number(first.body.metadata.resourceVersion)).toBeGreaterThan(Number(created.metadata.resourceVersion));
    // API concepts, "Resource versions"/optimistic concurrency: an update carrying an old resourceVersion conflicts.
    const stale = await t.c.call('PUT', '/api/v1/namespaces/default/configmaps/u', { ...created, data: { n: '3' } });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ reason: 'Conflict', message: expect.stringContaining('the object has been modified') });
    const unconditional = await t.c.call('PUT', '/api/v1/namespaces/default/configmaps/u', cm('u', { n: '4' }));
    expect(unconditional.body.data).toEqual({ n: '4' });
    expect(unconditional.body.metadata.uid).toBe(created.metadata.uid);
    const rv = t.server.revision;
    const same = await t.c.call('PUT', '/api/v1/namespaces/default/configmaps/u', unconditional.body);
    expect(same.body.metadata.resourceVersion).toBe(unconditional.body.metadata.resourceVersion);
    expect(t.server.revision).toBe(rv);
    expect((await t.c.call('PUT', '/api/v1/namespaces/default/configmaps/u', cm('other'))).status).toBe(400);
    expect((await t.c.call('PUT', '/api/v1/namespaces/default/configmaps/nope', cm('nope'))).status).toBe(404);
  });

  it('patches with merge patch and JSON patch; a failed JSON patch test is 422 and changes nothing; strategic merge patch acts as merge patch on built-ins', async () => {
    await t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm('p', { a: '1', b: '2' }, { labels: { x: 'y' } }));
    // RFC 7386: null removes a key, objects merge.
    const m = await t.c.call('PATCH', '/api/v1/namespaces/default/configmaps/p', { data: { a: null, c: '3' } }, 'application/merge-patch+json');
    expect(m.body.data).toEqual({ b: '2', c: '3' });
    expect(m.body.metadata.labels).toEqual({ x: 'y' });
    const j = await t.c.call(
      'PATCH',
      '/api/v1/namespaces/default/configmaps/p',
      [
        { op: 'test', path: '/data/b', value: '2' },
        { op: 'replace', path: '/data/b', value: '20' },
        { op: 'add', path: '/metadata/labels/new~1key', value: 'v' },
      ],
      'application/json-patch+json',
    );
    expect(j.body.data.b).toBe('20');
    expect(j.body.metadata.labels['new/key']).toBe('v');
    const failed = await t.c.call('PATCH', '/api/v1/namespaces/default/configmaps/p', [{ op: 'test', path: '/data/b', value: 'nope' }, { op: 'remove', path: '/data' }], 'application/json-patch+json');
    expect(failed.status).toBe(422);
    expect((await t.c.call('GET', '/api/v1/namespaces/default/configmaps/p')).body.data).toEqual({ b: '20', c: '3' });
    const s = await t.c.call('PATCH', '/api/v1/namespaces/default/configmaps/p', { data: { d: '4' } }, 'application/strategic-merge-patch+json');
    expect(s.body.data).toEqual({ b: '20', c: '3', d: '4' });
    // A patch carrying an old resourceVersion is a conflict, like an update.
    const stale = await t.c.call('PATCH', '/api/v1/namespaces/default/configmaps/p', { metadata: { resourceVersion: '1' }, data: { e: '5' } }, 'application/merge-patch+json');
    expect(stale.status).toBe(409);
    expect((await t.c.call('PATCH', '/api/v1/namespaces/default/configmaps/p', 'not json', 'application/merge-patch+json')).status).toBe(400);
  });

  it('delete without finalizers removes at once; with finalizers it sets deletionTimestamp and waits until they are emptied', async () => {
    await t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm('d1'));
    const d1 = await t.c.call('DELETE', '/api/v1/namespaces/default/configmaps/d1');
    expect(d1.status).toBe(200);
    expect((await t.c.call('GET', '/api/v1/namespaces/default/configmaps/d1')).status).toBe(404);
    await t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm('d2', {}, { finalizers: ['example.com/hold'] }));
    // API concepts, "Finalizers": deletion marks the object (deletionTimestamp) until every finalizer is removed.
    const marked = await t.c.call('DELETE', '/api/v1/namespaces/default/configmaps/d2');
    expect(marked.body.metadata.deletionTimestamp).toBeDefined();
    const still = await t.c.call('GET', '/api/v1/namespaces/default/configmaps/d2');
    expect(still.status).toBe(200);
    expect(still.body.metadata.deletionTimestamp).toBe(marked.body.metadata.deletionTimestamp);
    // No new finalizer may be added while deleting.
    const add = await t.c.call('PATCH', '/api/v1/namespaces/default/configmaps/d2', { metadata: { finalizers: ['example.com/hold', 'example.com/more'] } }, 'application/merge-patch+json');
    expect(add.status).toBe(422);
    const released = await t.c.call('PATCH', '/api/v1/namespaces/default/configmaps/d2', [{ op: 'remove', path: '/metadata/finalizers' }], 'application/json-patch+json');
    expect(released.status).toBe(200);
    expect((await t.c.call('GET', '/api/v1/namespaces/default/configmaps/d2')).status).toBe(404);
    // Preconditions on delete: a wrong uid is a conflict.
    await t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm('d3'));
    const pre = await t.c.call('DELETE', '/api/v1/namespaces/default/configmaps/d3', { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: 'not-it' } });
    expect(pre.status).toBe(409);
  });

  it('deletes a namespace after emptying it, refuses new content meanwhile, and refuses to delete default', async () => {
    await t.c.call('POST', '/api/v1/namespaces', { metadata: { name: 'team' } });
    await t.c.call('POST', '/api/v1/namespaces/team/configmaps', cm('held', {}, { finalizers: ['example.com/hold'] }));
    await t.c.call('POST', '/api/v1/namespaces/team/secrets', { metadata: { name: 's' }, type: 'Opaque' });
    const del = await t.c.call('DELETE', '/api/v1/namespaces/team');
    expect(del.body.status.phase).toBe('Terminating');
    await new Promise((r) => setImmediate(r));
    expect((await t.c.call('GET', '/api/v1/namespaces/team/secrets/s')).status).toBe(404);
    expect((await t.c.call('GET', '/api/v1/namespaces/team')).status).toBe(200);
    expect((await t.c.call('POST', '/api/v1/namespaces/team/configmaps', cm('late'))).status).toBe(403);
    await t.c.call('PATCH', '/api/v1/namespaces/team/configmaps/held', { metadata: { finalizers: null } }, 'application/merge-patch+json');
    expect((await t.c.call('GET', '/api/v1/namespaces/team')).status).toBe(404);
    expect((await t.c.call('DELETE', '/api/v1/namespaces/default')).status).toBe(403);
  });

  it('deletecollection removes what the selector matches', async () => {
    await t.c.call('POST', '/api/v1/namespaces', { metadata: { name: 'dc' } });
    for (const [n, tier] of [['a', 'x'], ['b', 'x'], ['c', 'y']]) await t.c.call('POST', '/api/v1/namespaces/dc/configmaps', cm(n as string, {}, { labels: { tier } }));
    const r = await t.c.call('DELETE', '/api/v1/namespaces/dc/configmaps?labelSelector=tier%3Dx');
    expect(r.body.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['a', 'b']);
    expect((await t.c.call('GET', '/api/v1/namespaces/dc/configmaps')).body.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['c']);
  });
});

describe('status subresource and generation (built-ins)', () => {
  it('a deployment keeps status out of main updates, takes it only through /status, and bumps generation on spec changes only', async () => {
    const dep = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 1 }, status: { replicas: 9 } };
    const created = (await t.c.call('POST', '/apis/apps/v1/namespaces/default/deployments', dep)).body;
    // API conventions, "Spec and Status": status set on create or main updates is ignored; generation counts spec changes.
    expect(created.status).toBeUndefined();
    expect(created.metadata.generation).toBe(1);
    const spec = (await t.c.call('PATCH', '/apis/apps/v1/namespaces/default/deployments/web', { spec: { replicas: 3 }, status: { replicas: 5 } }, 'application/merge-patch+json')).body;
    expect(spec.metadata.generation).toBe(2);
    expect(spec.status).toBeUndefined();
    const st = (await t.c.call('PUT', '/apis/apps/v1/namespaces/default/deployments/web/status', { ...spec, spec: { replicas: 100 }, metadata: { ...spec.metadata, labels: { ignored: 'yes' } }, status: { replicas: 3, observedGeneration: 2 } })).body;
    expect(st.status).toEqual({ replicas: 3, observedGeneration: 2 });
    expect(st.spec.replicas).toBe(3);
    expect(st.metadata.labels).toBeUndefined();
    expect(st.metadata.generation).toBe(2);
    const labels = (await t.c.call('PATCH', '/apis/apps/v1/namespaces/default/deployments/web', { metadata: { labels: { a: 'b' } } }, 'application/merge-patch+json')).body;
    expect(labels.metadata.generation).toBe(2);
    expect((await t.c.call('PUT', '/api/v1/namespaces/default/configmaps/whatever/status', cm('whatever'))).status).toBe(404);
  });
});

describe('server-side dry run', () => {
  it('dryRun=All validates and answers as if written, but writes nothing and bumps no resourceVersion', async () => {
    const rv = t.server.revision;
    // API concepts, "Dry-run": the request is processed up to persistence, nothing is persisted.
    const create = await t.c.call('POST', '/api/v1/namespaces/default/configmaps?dryRun=All', cm('dry', { a: '1' }));
    expect(create.status).toBe(201);
    expect(create.body.metadata.uid).toBeDefined();
    expect((await t.c.call('GET', '/api/v1/namespaces/default/configmaps/dry')).status).toBe(404);
    const exists = await t.c.call('POST', '/api/v1/namespaces/default/configmaps?dryRun=All', cm('a'));
    expect(exists.status).toBe(409);
    await t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm('wet', { a: '1' }));
    const rv2 = t.server.revision;
    const patched = await t.c.call('PATCH', '/api/v1/namespaces/default/configmaps/wet?dryRun=All', { data: { a: '2' } }, 'application/merge-patch+json');
    expect(patched.body.data.a).toBe('2');
    expect((await t.c.call('DELETE', '/api/v1/namespaces/default/configmaps/wet?dryRun=All')).status).toBe(200);
    const still = (await t.c.call('GET', '/api/v1/namespaces/default/configmaps/wet')).body;
    expect(still.data.a).toBe('1');
    expect(t.server.revision).toBe(rv2);
    expect(rv2).toBe(rv + 1);
    expect((await t.c.call('POST', '/api/v1/namespaces/default/configmaps?dryRun=Some', cm('z'))).status).toBe(400);
  });
});
