/**
 * The Kubernetes API test server's users: bearer tokens of several users
 * (the admin and the `users` option or `addUser()`), 401 for an unknown
 * token, the `authentication.k8s.io/v1` SelfSubjectReview answering each
 * user's own identity (and listed in discovery), `kubectl auth whoami`
 * against it, and the request log naming each request's user. Rules from
 * the Kubernetes "Authenticating" document (static token file, bearer
 * tokens, system:authenticated, anonymous requests) and the
 * SelfSubjectReview API (GA in 1.28).
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access -- answers are arbitrary Kubernetes JSON, read loosely by the assertions (client.ts's RawResponse.body) */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestLog } from './auth.ts';
import { PROTOBUF_CONTENT_TYPE, protobufTypeMeta } from './protobuf.ts';
import { rawClient, useKubeApiServer } from './client.ts';
import { ErrKubeApiOptions, startKubeApiServer } from './index.ts';

const run = promisify(execFile);

const ALICE = { token: 'alice-token', name: 'alice', uid: 'alice-uid-1', groups: ['dev', 'ops'] };
const BOB = { token: 'bob-token', name: 'bob', groups: ['system:authenticated', 'qa'] };

const t = useKubeApiServer({ token: 'admin-token', users: [ALICE] });

const SSR_PATH = '/apis/authentication.k8s.io/v1/selfsubjectreviews';
const SSR_BODY = { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview', metadata: {}, status: { userInfo: {} } };

/** What each user's POST of a SelfSubjectReview answers. */
async function whoami(token: string | null, body: unknown = SSR_BODY) {
  const c = rawClient(t.server, token);
  try {
    return await c.call('POST', SSR_PATH, body);
  } finally {
    await c.close();
  }
}

beforeAll(() => {
  t.server.addUser(BOB);
});

describe('users by bearer token', () => {
  it('authenticates each user by its own token; an unknown or missing token gets a 401 Status', async () => {
    for (const token of ['admin-token', ALICE.token, BOB.token]) {
      const c = rawClient(t.server, token);
      expect((await c.call('GET', '/api/v1/namespaces/default')).status).toBe(200);
      await c.close();
    }
    for (const token of [null, 'nobody-token']) {
      const r = await whoami(token);
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 });
    }
  });

  it('answers the open paths to requests without a token, but a token sent there must be known', async () => {
    const anon = rawClient(t.server, null);
    expect((await anon.call('GET', '/healthz')).body).toBe('ok');
    await anon.close();
    // Authenticating, "Anonymous requests": a request with a bearer token that fails authentication is refused, not anonymous.
    const unknown = rawClient(t.server, 'nobody-token');
    expect((await unknown.call('GET', '/healthz')).status).toBe(401);
    await unknown.close();
  });

  it('reads the Authorization scheme in any case, as the bearer token authenticator', async () => {
    const dispatcher = new Agent({ connect: { ca: t.server.caPem } });
    const lower = await request(`${t.server.url}/api/v1/namespaces/default`, { dispatcher, headers: { authorization: `bearer ${ALICE.token}` } });
    await lower.body.dump();
    expect(lower.statusCode).toBe(200);
    await dispatcher.close();
  });

  it('refuses a user whose token is taken or empty, at start and in addUser, with a coded error', async () => {
    expect(() => t.server.addUser({ token: ALICE.token, name: 'mallory' })).toThrow(/already the token of user "alice"/);
    expect(() => t.server.addUser({ token: 'admin-token', name: 'mallory' })).toThrow(/already the token of user "admin"/);
    expect(() => t.server.addUser({ token: '', name: 'mallory' })).toThrow(/must be a non-empty string/);
    await expect(startKubeApiServer({ token: 'x', users: [{ token: 'y', name: '' }] })).rejects.toSatisfy((e) => ErrKubeApiOptions.is(e) && /users/.test(e.message));
  });
});

describe('SelfSubjectReview', () => {
  it('answers 201 with the caller\'s own username, uid and groups, system:authenticated added once', async () => {
    const before = Date.now();
    const admin = await whoami('admin-token');
    expect(admin.status).toBe(201);
    // authentication.k8s.io/v1 SelfSubjectReview: no name, no resourceVersion (not stored); uid and extra left out when empty.
    expect(admin.body).toEqual({
      kind: 'SelfSubjectReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) },
      status: { userInfo: { username: 'admin', groups: ['system:masters', 'system:authenticated'] } },
    });
    expect(Date.parse(admin.body.metadata.creationTimestamp)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect((await whoami(ALICE.token)).body.status).toEqual({ userInfo: { username: 'alice', uid: 'alice-uid-1', groups: ['dev', 'ops', 'system:authenticated'] } });
    expect((await whoami(BOB.token)).body.status).toEqual({ userInfo: { username: 'bob', groups: ['system:authenticated', 'qa'] } });
  });

  it('takes a body without apiVersion and kind (the URL\'s), refuses an empty body or another kind, and stores nothing', async () => {
    expect((await whoami(ALICE.token, {})).body.status.userInfo.username).toBe('alice');
    const empty = await whoami(ALICE.token, '');
    expect(empty.status).toBe(400);
    expect(empty.body).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 });
    const wrongVersion = await whoami(ALICE.token, { ...SSR_BODY, apiVersion: 'authentication.k8s.io/v1beta1' });
    expect(wrongVersion.status).toBe(400);
    expect(wrongVersion.body.message).toContain('does not match the expected API version');
    expect((await whoami(ALICE.token, { ...SSR_BODY, kind: 'TokenReview' })).status).toBe(400);
    // Create is its only verb.
    const get = await t.c.call('GET', SSR_PATH);
    expect(get).toMatchObject({ status: 405, body: { kind: 'Status', reason: 'MethodNotAllowed' } });
    expect((await t.c.call('GET', '/apis/authentication.k8s.io/v1/namespaces/default/selfsubjectreviews')).status).toBe(404);
  });

  it('takes the protobuf body client-go\'s typed clients send, reading only its apiVersion and kind', async () => {
    // What kubectl 1.32's `auth whoami` sends: the envelope (k8s\0, runtime.Unknown) of an empty v1 SelfSubjectReview.
    const fromKubectl = Buffer.from(
      '6b3873000a2d0a1861757468656e7469636174696f6e2e6b38732e696f2f7631121153656c665375626a656374526576696577121a0a100a0012001a0022002a0032003800420012060a040a0012001a002200',
      'hex',
    );
    expect(protobufTypeMeta(fromKubectl)).toEqual({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
    const dispatcher = new Agent({ connect: { ca: t.server.caPem } });
    const post = async (body: Buffer) => {
      const r = await request(`${t.server.url}${SSR_PATH}`, {
        method: 'POST',
        dispatcher,
        headers: { authorization: `Bearer ${BOB.token}`, 'content-type': PROTOBUF_CONTENT_TYPE, accept: `${PROTOBUF_CONTENT_TYPE},application/json` },
        body,
      });
      return { status: r.statusCode, contentType: r.headers['content-type'], body: (await r.body.json()) as { status: unknown; reason: string } };
    };
    // The answer is JSON, which the request accepts.
    expect(await post(fromKubectl)).toEqual({ status: 201, contentType: 'application/json', body: expect.objectContaining({ status: { userInfo: { username: 'bob', groups: ['system:authenticated', 'qa'] } } }) });
    const notProtobuf = await post(Buffer.from('{}'));
    expect(notProtobuf.status).toBe(400);
    expect(notProtobuf.body.reason).toBe('BadRequest');
    expect((await post(fromKubectl.subarray(0, 20))).status).toBe(400);
    await dispatcher.close();
  });

  it('is listed in discovery: the group in /apis, its version, and the resource with verb create', async () => {
    const groups = (await t.c.call('GET', '/apis')).body;
    const group = { name: 'authentication.k8s.io', versions: [{ groupVersion: 'authentication.k8s.io/v1', version: 'v1' }], preferredVersion: { groupVersion: 'authentication.k8s.io/v1', version: 'v1' } };
    expect(groups.groups).toContainEqual(group);
    expect((await t.c.call('GET', '/apis/authentication.k8s.io')).body).toEqual({ kind: 'APIGroup', apiVersion: 'v1', ...group });
    const list = (await t.c.call('GET', '/apis/authentication.k8s.io/v1')).body;
    expect(list).toEqual({
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: 'authentication.k8s.io/v1',
      resources: [{ name: 'selfsubjectreviews', singularName: 'selfsubjectreview', namespaced: false, kind: 'SelfSubjectReview', verbs: ['create'] }],
    });
  });
});

describe('request log', () => {
  it('records the user, method, path and query of each request in order, refused ones with no user', async () => {
    t.server.clearRequestLog();
    expect(t.server.requestLog()).toEqual([]);
    const alice = rawClient(t.server, ALICE.token);
    const bob = rawClient(t.server, BOB.token);
    const anon = rawClient(t.server, null);
    const nobody = rawClient(t.server, 'nobody-token');
    await alice.call('GET', '/api/v1/namespaces/default/configmaps?labelSelector=a%3Db&limit=5');
    await bob.call('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'by-bob' } });
    await anon.call('GET', '/healthz');
    await nobody.call('GET', '/api/v1/pods');
    await alice.call('POST', SSR_PATH, SSR_BODY);
    expect(t.server.requestLog()).toEqual([
      { user: 'alice', method: 'GET', path: '/api/v1/namespaces/default/configmaps', query: 'labelSelector=a%3Db&limit=5' },
      { user: 'bob', method: 'POST', path: '/api/v1/namespaces/default/configmaps', query: '' },
      { user: 'system:anonymous', method: 'GET', path: '/healthz', query: '' },
      { user: '', method: 'GET', path: '/api/v1/pods', query: '' },
      { user: 'alice', method: 'POST', path: SSR_PATH, query: '' },
    ]);
    for (const c of [alice, bob, anon, nobody]) await c.close();
    // A copy: changing it changes nothing in the server.
    t.server.requestLog().length = 0;
    expect(t.server.requestLog()).toHaveLength(5);
    t.server.clearRequestLog();
    expect(t.server.requestLog()).toEqual([]);
  });

  it('keeps only the latest entries, oldest first', () => {
    const log = new RequestLog(3);
    for (let i = 0; i < 10; i++) log.record({ user: 'u', method: 'GET', path: `/${i}`, query: '' });
    expect(log.list().map((e) => e.path)).toEqual(['/7', '/8', '/9']);
  });
});

/** The machine's kubectl and whether it has `auth whoami` (1.28 or later: the v1 SelfSubjectReview). */
function kubectlInfo(): { kubectl: string; whoami: boolean; version: string } {
  const kubectl = process.env.EDGEADM_KUBECTL ?? '/usr/bin/kubectl';
  if (!existsSync(kubectl)) throw new Error(`no kubectl at ${kubectl}: install kubernetes-client (.ci/run does) or set EDGEADM_KUBECTL`);
  const out = execFileSync(kubectl, ['version', '--client', '-o', 'json'], { encoding: 'utf8', timeout: 15_000 });
  const v = (JSON.parse(out) as { clientVersion?: { major?: string; minor?: string; gitVersion?: string } }).clientVersion ?? {};
  const minor = Number.parseInt(v.minor ?? '', 10);
  return { kubectl, whoami: v.major === '1' && minor >= 28, version: v.gitVersion ?? 'unknown' };
}

const KUBECTL = kubectlInfo();

describe('kubectl and the SelfSubjectReview', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kube-auth-'));
  });
  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  // kubectl 1.28+ has `auth whoami`; an older one (Debian's 1.20) posts the review itself with `create --raw`.
  it(`kubectl ${KUBECTL.version} tells each user its name and groups (${KUBECTL.whoami ? 'auth whoami' : 'create --raw'})`, async () => {
    const { kubectl } = KUBECTL;
    const asAlice = await t.server.kubeconfig(path.join(dir, 'alice.yaml'), { token: ALICE.token });
    const review = path.join(dir, 'review.json');
    await writeFile(review, JSON.stringify(SSR_BODY));
    const ask = (kubeconfig: string, ...extra: string[]): string[] =>
      KUBECTL.whoami ? ['--kubeconfig', kubeconfig, 'auth', 'whoami', ...extra] : ['--kubeconfig', kubeconfig, 'create', '--raw', '/apis/authentication.k8s.io/v1/selfsubjectreviews', '-f', review];
    const json = JSON.parse((await run(kubectl, ask(asAlice, '-o', 'json'), { timeout: 15_000 })).stdout) as unknown;
    expect(json).toMatchObject({ kind: 'SelfSubjectReview', apiVersion: 'authentication.k8s.io/v1', status: { userInfo: { username: 'alice', uid: 'alice-uid-1', groups: ['dev', 'ops', 'system:authenticated'] } } });
    const asAdmin = await t.server.kubeconfig(dir);
    if (KUBECTL.whoami) {
      const table = (await run(kubectl, ask(asAdmin), { timeout: 15_000 })).stdout;
      expect(table).toMatch(/Username\s+admin/);
      expect(table).toMatch(/Groups\s+\[system:masters system:authenticated\]/);
    } else {
      expect(JSON.parse((await run(kubectl, ask(asAdmin), { timeout: 15_000 })).stdout)).toMatchObject({ status: { userInfo: { username: 'admin', groups: ['system:masters', 'system:authenticated'] } } });
    }
  });
});
