/**
 * Mutating admission webhooks of the Kubernetes API test server, against a
 * real HTTPS webhook on loopback (node:https with a certificate of a CA
 * made here, given to the server as the caBundle). Each test cites the rule
 * it checks from the Kubernetes documents "Dynamic Admission Control"
 * (DAC), the admissionregistration.k8s.io/v1 API reference (MWC) and the
 * admission.k8s.io/v1 AdmissionReview reference (AR).
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return -- reviews and answers are arbitrary Kubernetes JSON, read loosely by the assertions */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueCertificate } from '../../../core/pki/index.ts';
import { dryRunRefusal } from './admission.ts';
import { rawClient, useKubeApiServer, type RawClient } from './client.ts';

const t = useKubeApiServer({ users: [{ token: 't-bob', name: 'bob', groups: ['dev'], uid: 'u-bob' }] });

const MWC_PATH = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
const KUBECTL = process.env.EDGEADM_KUBECTL ?? '/usr/bin/kubectl';

// ------------------------------------------------------------------ the webhook server

/** What a webhook path answers: a JSON body (status 200 unless given), raw text, or nothing ever ('hang'). */
type Reply = { status?: number; json?: unknown; text?: string } | 'hang';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- an AdmissionReview as received
type Review = any;

const handlers = new Map<string, (review: Review) => Reply>();
/** Every AdmissionReview received, by path, with the query it came with. */
const received = new Map<string, { review: Review; query: string }[]>();
const hanging = new Set<http.ServerResponse>();
let webhook: https.Server;
let base = '';
let caBundle = '';
let otherCaBundle = '';
let deadUrl = '';
let bob: RawClient;

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64');

/** An AdmissionReview v1 answer to `review`: allowed, with a JSON patch when given. */
function allow(review: Review, patch?: unknown[], extra: Record<string, unknown> = {}): Reply {
  const response: Record<string, unknown> = { uid: review.request.uid, allowed: true, ...extra };
  if (patch !== undefined) Object.assign(response, { patchType: 'JSONPatch', patch: b64(patch) });
  return { json: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response } };
}

function deny(review: Review, status: Record<string, unknown>): Reply {
  return { json: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: false, status } } };
}

const reviewsAt = (p: string): Review[] => (received.get(p) ?? []).map((r) => r.review);

beforeAll(async () => {
  const ca = await createCertificateAuthority({ commonName: 'webhook-test-ca', days: 1 });
  const other = await createCertificateAuthority({ commonName: 'another-ca', days: 1 });
  const leaf = await issueCertificate(ca, { commonName: 'webhook', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server', days: 1 });
  caBundle = Buffer.from(ca.certPem).toString('base64');
  otherCaBundle = Buffer.from(other.certPem).toString('base64');
  webhook = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://webhook');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const review: Review = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      received.set(url.pathname, [...(received.get(url.pathname) ?? []), { review, query: url.search }]);
      const h = handlers.get(url.pathname);
      const reply: Reply = h === undefined ? { status: 404, text: 'no such webhook' } : h(review);
      if (reply === 'hang') {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      res.writeHead(reply.status ?? 200, { 'content-type': 'application/json' });
      res.end(reply.text ?? JSON.stringify(reply.json));
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(webhook.address() as AddressInfo).port}`;
  // A port nothing listens on: taken, then freed.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  deadUrl = `https://127.0.0.1:${(probe.address() as AddressInfo).port}/dead`;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  bob = rawClient(t.server, 't-bob');
});

afterAll(async () => {
  await bob.close();
  for (const res of hanging) res.destroy();
  webhook.closeAllConnections();
  await new Promise<void>((resolve) => webhook.close(() => resolve()));
});

afterEach(async () => {
  const list = await t.c.call('GET', MWC_PATH);
  for (const c of list.body.items) await t.c.call('DELETE', `${MWC_PATH}/${c.metadata.name}`);
  handlers.clear();
  received.clear();
  t.server.clearAdmissionLog();
});

/** One webhook of a configuration: called at `base + path`, with the test CA, sideEffects None, v1 reviews. */
function hook(name: string, pathOrUrl: string, rules: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const url = pathOrUrl.startsWith('https://') ? pathOrUrl : `${base}${pathOrUrl}`;
  return { name: `${name}.test.edgeadm.io`, clientConfig: { url, caBundle }, rules, sideEffects: 'None', admissionReviewVersions: ['v1'], ...extra };
}

const rule = (operations: string[], apiGroups: string[], resources: string[], extra: Record<string, unknown> = {}) => ({ operations, apiGroups, apiVersions: ['v1'], resources, ...extra });

async function configure(name: string, webhooks: unknown[]): Promise<void> {
  const r = await t.c.call('POST', MWC_PATH, { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name }, webhooks });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

const cm = (name: string, labels: Record<string, string> = {}, data: Record<string, string> = { a: '1' }) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data });

// ------------------------------------------------------------------ the configuration

describe('MutatingWebhookConfiguration objects', () => {
  it('are served cluster-scoped in admissionregistration.k8s.io/v1, stored with the v1 defaults, and refused when invalid', async () => {
    // MWC: MutatingWebhookConfiguration is a cluster-scoped kind of admissionregistration.k8s.io/v1.
    const disc = (await t.c.call('GET', '/apis/admissionregistration.k8s.io/v1')).body;
    expect(disc.resources).toEqual([expect.objectContaining({ name: 'mutatingwebhookconfigurations', namespaced: false, kind: 'MutatingWebhookConfiguration' })]);
    expect((await t.c.call('GET', '/apis')).body.groups.map((g: { name: string }) => g.name)).toContain('admissionregistration.k8s.io');

    await configure('defaults', [hook('d', '/d', [rule(['CREATE'], [''], ['configmaps'])])]);
    const got = (await t.c.call('GET', `${MWC_PATH}/defaults`)).body;
    // MWC field defaults: failurePolicy Fail, matchPolicy Equivalent, timeoutSeconds 10, reinvocationPolicy Never, selectors {}, rule scope "*".
    expect(got.webhooks[0]).toMatchObject({ failurePolicy: 'Fail', matchPolicy: 'Equivalent', timeoutSeconds: 10, reinvocationPolicy: 'Never', namespaceSelector: {}, objectSelector: {}, rules: [{ scope: '*' }] });
    expect(got.metadata.generation).toBe(1);
    expect((await t.c.call('GET', MWC_PATH)).body.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['defaults']);

    // MWC validation: https only, sideEffects None/NoneOnDryRun in v1, timeoutSeconds 1..30, admissionReviewVersions required,
    // a fully qualified name, exactly one of url and service.
    const bad = await t.c.call('POST', MWC_PATH, {
      metadata: { name: 'bad' },
      webhooks: [
        { name: 'plain.example', clientConfig: { url: 'http://127.0.0.1/x' }, sideEffects: 'Some', timeoutSeconds: 31, rules: [rule(['CREATE', 'PATCH'], [''], ['pods'])] },
        { name: 'two.test.edgeadm.io', clientConfig: { url: `${base}/x`, service: { namespace: 'a', name: 'b' } }, sideEffects: 'None', admissionReviewVersions: ['v1'] },
      ],
    });
    expect(bad.status).toBe(422);
    expect(bad.body.reason).toBe('Invalid');
    expect(bad.body.details.causes.map((c: { field: string }) => c.field)).toEqual(
      expect.arrayContaining([
        'webhooks[0].name',
        'webhooks[0].admissionReviewVersions',
        'webhooks[0].clientConfig.url',
        'webhooks[0].rules[0].operations[1]',
        'webhooks[0].sideEffects',
        'webhooks[0].timeoutSeconds',
        'webhooks[1].clientConfig',
      ]),
    );
    expect(bad.body.message).toContain("'https' is the only allowed URL scheme");
    expect(bad.body.message).toContain('Unsupported value: "Some": supported values: "None", "NoneOnDryRun"');
    expect((await t.c.call('DELETE', `${MWC_PATH}/defaults`)).status).toBe(200);
  });

  it('take a strategic merge patch that merges webhooks by name (what kubectl apply sends), its directives never stored', async () => {
    const r = [rule(['CREATE'], [''], ['configmaps'])];
    await configure('smp', [hook('one', '/one', r), hook('two', '/two', r), hook('three', '/three', r)]);
    // MWC webhooks: patchStrategy merge, patchMergeKey name. Other lists (rules) are replaced whole.
    const patched = await t.c.call(
      'PATCH',
      `${MWC_PATH}/smp`,
      {
        '$setElementOrder/webhooks': [{ name: 'three.test.edgeadm.io' }, { name: 'one.test.edgeadm.io' }],
        webhooks: [
          { name: 'one.test.edgeadm.io', failurePolicy: 'Ignore', rules: [rule(['UPDATE'], [''], ['secrets'])] },
          { name: 'two.test.edgeadm.io', $patch: 'delete' },
        ],
      },
      'application/strategic-merge-patch+json',
    );
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    const hooks = patched.body.webhooks;
    expect(hooks.map((h: { name: string }) => h.name)).toEqual(['three.test.edgeadm.io', 'one.test.edgeadm.io']);
    expect(hooks[1]).toMatchObject({ failurePolicy: 'Ignore', sideEffects: 'None', clientConfig: { url: `${base}/one` }, rules: [{ operations: ['UPDATE'], resources: ['secrets'], scope: '*' }] });
    expect(JSON.stringify(patched.body)).not.toContain('$');
    expect(patched.body.metadata.generation).toBe(2);
  });
});

// ------------------------------------------------------------------ calls and patches

describe('calling webhooks', () => {
  it('patches a Node on UPDATE (a taint removed): the stored object carries the patch; the AdmissionReview carries the request', async () => {
    handlers.set('/untaint', (review) => {
      const i = (review.request.object.spec.taints as { key: string }[]).findIndex((x) => x.key === 'edge.example.com/unreachable');
      return allow(review, i < 0 ? [] : [{ op: 'remove', path: `/spec/taints/${i}` }]);
    });
    await configure('untaint', [hook('untaint', '/untaint', [rule(['UPDATE'], [''], ['nodes'])])]);
    const taints = [
      { key: 'edge.example.com/unreachable', effect: 'NoSchedule' },
      { key: 'dedicated', value: 'edge', effect: 'NoSchedule' },
    ];
    expect((await t.c.call('POST', '/api/v1/nodes', { metadata: { name: 'edge-1' }, spec: { taints } })).status).toBe(201);
    // DAC "Matching requests: rules": a rule of UPDATE only is not called on CREATE.
    expect(reviewsAt('/untaint')).toHaveLength(0);
    const stored = (await t.c.call('GET', '/api/v1/nodes/edge-1')).body;
    expect(stored.spec.taints).toHaveLength(2);

    // DAC: PATCH is an UPDATE operation. The patch applies before the object is persisted.
    const r = await bob.call('PATCH', '/api/v1/nodes/edge-1', { metadata: { labels: { zone: 'a' } } }, 'application/merge-patch+json');
    expect(r.status).toBe(200);
    expect(r.body.spec.taints).toEqual([taints[1]]);
    expect((await t.c.call('GET', '/api/v1/nodes/edge-1')).body.spec.taints).toEqual([taints[1]]);

    // AR: the request's fields. Cluster-scoped: no namespace; userInfo is the requesting user; oldObject on UPDATE.
    const { review, query } = (received.get('/untaint') ?? [])[0] as { review: Review; query: string };
    expect(review).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
    const req = review.request;
    expect(req.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(req).toMatchObject({
      kind: { group: '', version: 'v1', kind: 'Node' },
      resource: { group: '', version: 'v1', resource: 'nodes' },
      requestKind: { group: '', version: 'v1', kind: 'Node' },
      requestResource: { group: '', version: 'v1', resource: 'nodes' },
      name: 'edge-1',
      operation: 'UPDATE',
      userInfo: { username: 'bob', uid: 'u-bob', groups: ['dev', 'system:authenticated'] },
      dryRun: false,
      options: { kind: 'PatchOptions', apiVersion: 'meta.k8s.io/v1' },
    });
    expect(req.namespace).toBeUndefined();
    expect(req.subResource).toBeUndefined();
    expect(req.object).toMatchObject({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'edge-1', labels: { zone: 'a' } } });
    expect(req.oldObject.metadata.labels).toBeUndefined();
    expect(req.oldObject.spec.taints).toHaveLength(2);
    // As client-go's Request.Timeout: the deadline is in the query.
    expect(query).toBe('?timeout=10s');
    expect(t.server.admissionLog()).toEqual([
      expect.objectContaining({ configuration: 'untaint', webhook: 'untaint.test.edgeadm.io', uid: req.uid, operation: 'UPDATE', resource: 'nodes', name: 'edge-1', allowed: true, patched: true }),
    ]);

    // A PUT is an UPDATE too (UpdateOptions); with nothing to remove, the webhook answers an empty patch.
    const node = (await t.c.call('GET', '/api/v1/nodes/edge-1')).body;
    expect((await t.c.call('PUT', '/api/v1/nodes/edge-1', { ...node, spec: { ...node.spec, unschedulable: true } })).status).toBe(200);
    expect(reviewsAt('/untaint')[1].request.options.kind).toBe('UpdateOptions');
    expect(t.server.admissionLog()[1]).toMatchObject({ allowed: true, patched: false });
  });

  it('fails a request a webhook denies with the webhook\'s Status, and stores nothing', async () => {
    handlers.set('/deny', (review) =>
      review.request.object.data?.color === 'blue' ? deny(review, { code: 403, reason: 'Forbidden', message: 'no blue configmaps' }) : review.request.object.data?.color === 'red' ? deny(review, {}) : allow(review),
    );
    await configure('deny', [hook('deny', '/deny', [rule(['CREATE'], [''], ['configmaps'])])]);
    // DAC "Response": allowed false rejects the request; status.code and status.message go back to the client.
    const r = await t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm('blue', {}, { color: 'blue' }));
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message: 'admission webhook "deny.test.edgeadm.io" denied the request: no blue configmaps' });
    expect((await t.c.call('GET', '/api/v1/namespaces/default/configmaps/blue')).status).toBe(404);
    // kube-apiserver 1.32 (webhook errors.ToStatusErr): no code (below 400) is 400; no message, "without explanation".
    const red = await t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm('red', {}, { color: 'red' }));
    expect(red.status).toBe(400);
    expect(red.body.message).toBe('admission webhook "deny.test.edgeadm.io" denied the request without explanation');
    expect(red.body.reason).toBeUndefined();
    expect((await t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm('green', {}, { color: 'green' }))).status).toBe(201);
    expect(t.server.admissionLog().map((e) => [e.name, e.allowed])).toEqual([
      ['blue', false],
      ['red', false],
      ['green', true],
    ]);
  });

  it('calls only the webhooks whose rules match: operation, group, version, resource, subresource, scope; never for webhook configurations', async () => {
    handlers.set('/all', (review) => allow(review));
    await configure('rules', [
      hook('cm-create', '/all', [rule(['CREATE'], [''], ['configmaps'])]),
      hook('apps-v2', '/all', [{ operations: ['*'], apiGroups: ['apps'], apiVersions: ['v2'], resources: ['*'] }]),
      hook('star', '/all', [rule(['UPDATE'], ['*'], ['*'])]),
      hook('star-star', '/all', [rule(['UPDATE'], ['*'], ['*/*'])]),
      hook('cluster', '/all', [rule(['CREATE'], ['*'], ['*'], { scope: 'Cluster' })]),
      hook('namespaced', '/all', [rule(['CREATE'], ['*'], ['*'], { scope: 'Namespaced' })]),
      hook('everything', '/all', [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*/*'] }], { objectSelector: { matchLabels: { never: 'matches' } } }),
    ]);
    const calledFor = async (fn: () => Promise<unknown>): Promise<string[]> => {
      t.server.clearAdmissionLog();
      await fn();
      return t.server.admissionLog().map((e) => e.webhook.split('.')[0] as string);
    };
    // MWC rules: operations, apiGroups, apiVersions, resources and scope must all match ("*" is any).
    expect(await calledFor(() => t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm('r1')))).toEqual(['cm-create', 'namespaced']);
    expect(await calledFor(() => t.c.call('POST', '/api/v1/namespaces/default/secrets', { metadata: { name: 's1' } }))).toEqual(['namespaced']);
    // A Namespace is cluster-scoped.
    expect(await calledFor(() => t.c.call('POST', '/api/v1/namespaces', { metadata: { name: 'rules-ns' } }))).toEqual(['cluster']);
    expect(await calledFor(() => t.c.call('POST', '/api/v1/nodes', { metadata: { name: 'rules-node' } }))).toEqual(['cluster']);
    // MWC rules.resources: "*" is every resource but no subresource, "*/*" every resource and subresource.
    expect(await calledFor(() => t.c.call('PATCH', '/api/v1/nodes/rules-node', { metadata: { labels: { a: 'b' } } }, 'application/merge-patch+json'))).toEqual(['star', 'star-star']);
    expect(await calledFor(() => t.c.call('PATCH', '/api/v1/nodes/rules-node/status', { status: { phase: 'Running' } }, 'application/merge-patch+json'))).toEqual(['star-star']);
    expect(await calledFor(() => t.c.call('POST', '/apis/apps/v1/namespaces/default/deployments', { metadata: { name: 'd1' }, spec: {} }))).toEqual(['namespaced']);
    // DAC "Avoiding deadlocks": webhooks are never called for the webhook configurations themselves.
    expect(await calledFor(() => configure('another', [hook('x', '/all', [rule(['*'], ['*'], ['*'])])]))).toEqual([]);
    expect(reviewsAt('/all').length).toBeGreaterThan(0);
  });

  it('calls a webhook only when its namespaceSelector matches the namespace\'s labels and its objectSelector the object\'s', async () => {
    handlers.set('/sel', (review) => allow(review));
    await t.c.call('POST', '/api/v1/namespaces', { metadata: { name: 'team-a', labels: { admission: 'on' } } });
    await t.c.call('POST', '/api/v1/namespaces', { metadata: { name: 'team-b', labels: { admission: 'off' } } });
    await configure('selectors', [
      hook('by-ns', '/sel', [rule(['CREATE'], ['', 'discovery.k8s.io'], ['configmaps', 'namespaces', 'nodes'])], {
        namespaceSelector: { matchExpressions: [{ key: 'admission', operator: 'In', values: ['on'] }] },
      }),
      hook('by-object', '/sel', [rule(['CREATE', 'DELETE'], [''], ['configmaps'])], { objectSelector: { matchLabels: { mutate: 'yes' } } }),
    ]);
    const called = async (fn: () => Promise<unknown>): Promise<string[]> => {
      t.server.clearAdmissionLog();
      await fn();
      return t.server.admissionLog().map((e) => e.webhook.split('.')[0] as string);
    };
    // MWC namespaceSelector: the labels of the object's namespace decide.
    expect(await called(() => t.c.call('POST', '/api/v1/namespaces/team-a/configmaps', cm('c1')))).toEqual(['by-ns']);
    expect(await called(() => t.c.call('POST', '/api/v1/namespaces/team-b/configmaps', cm('c1')))).toEqual([]);
    // ... for a Namespace itself, its own labels; a cluster-scoped object other than a Namespace always matches.
    expect(await called(() => t.c.call('POST', '/api/v1/namespaces', { metadata: { name: 'team-c', labels: { admission: 'on' } } }))).toEqual(['by-ns']);
    expect(await called(() => t.c.call('POST', '/api/v1/namespaces', { metadata: { name: 'team-d' } }))).toEqual([]);
    expect(await called(() => t.c.call('POST', '/api/v1/nodes', { metadata: { name: 'sel-node' } }))).toEqual(['by-ns']);
    // MWC objectSelector: the labels of the object (or, on DELETE, of the old object) decide.
    expect(await called(() => t.c.call('POST', '/api/v1/namespaces/team-b/configmaps', cm('c2', { mutate: 'yes' })))).toEqual(['by-object']);
    expect(await called(() => t.c.call('POST', '/api/v1/namespaces/team-a/configmaps', cm('c2', { mutate: 'yes' })))).toEqual(['by-ns', 'by-object']);
    expect(await called(() => t.c.call('DELETE', '/api/v1/namespaces/team-b/configmaps/c2'))).toEqual(['by-object']);
    expect(await called(() => t.c.call('DELETE', '/api/v1/namespaces/team-b/configmaps/c1'))).toEqual([]);
  });

  it('calls configurations in order of name and their webhooks in order, each seeing the patches before it', async () => {
    const stamp = (who: string) => (review: Review) => {
      const seen: string | undefined = review.request.object.metadata.annotations?.seen;
      return allow(review, [seen === undefined ? { op: 'add', path: '/metadata/annotations', value: { seen: who } } : { op: 'replace', path: '/metadata/annotations/seen', value: `${seen},${who}` }]);
    };
    for (const w of ['a1', 'a2', 'b1']) handlers.set(`/${w}`, stamp(w));
    const r = [rule(['CREATE'], [''], ['configmaps'])];
    await configure('b-config', [hook('b1', '/b1', r)]);
    await configure('a-config', [hook('a1', '/a1', r), hook('a2', '/a2', r)]);
    // DAC: mutating webhooks are called in serial; each sees the object as the previous ones patched it.
    const created = await t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm('ordered'));
    expect(created.body.metadata.annotations).toEqual({ seen: 'a1,a2,b1' });
    expect(t.server.admissionLog().map((e) => `${e.configuration}/${e.webhook}`)).toEqual(['a-config/a1.test.edgeadm.io', 'a-config/a2.test.edgeadm.io', 'b-config/b1.test.edgeadm.io']);
  });

  it('patches the status subresource under a nodes/status rule, and only there', async () => {
    handlers.set('/status', (review) => allow(review, [{ op: 'add', path: '/status/capacity', value: { pods: '110' } }]));
    await configure('status', [hook('status', '/status', [rule(['UPDATE'], [''], ['nodes/status'])])]);
    await t.c.call('POST', '/api/v1/nodes', { metadata: { name: 'st-1' } });
    expect((await t.c.call('PATCH', '/api/v1/nodes/st-1', { metadata: { labels: { a: 'b' } } }, 'application/merge-patch+json')).status).toBe(200);
    expect(reviewsAt('/status')).toHaveLength(0);
    // MWC rules.resources: "nodes/status" matches the status subresource of nodes; AR: subResource names it.
    const r = await t.c.call('PATCH', '/api/v1/nodes/st-1/status', { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, 'application/merge-patch+json');
    expect(r.status).toBe(200);
    expect(r.body.status).toEqual({ conditions: [{ type: 'Ready', status: 'True' }], capacity: { pods: '110' } });
    expect((await t.c.call('GET', '/api/v1/nodes/st-1')).body.status.capacity).toEqual({ pods: '110' });
    expect(reviewsAt('/status')[0].request).toMatchObject({ operation: 'UPDATE', subResource: 'status', requestSubResource: 'status', resource: { resource: 'nodes' }, kind: { kind: 'Node' } });
    expect(t.server.admissionLog()[0]).toMatchObject({ resource: 'nodes', subresource: 'status', patched: true });
  });

  it('patches Endpoints and discovery.k8s.io/v1 EndpointSlices on CREATE and UPDATE', async () => {
    handlers.set('/ep', (review) => {
      const labels = review.request.object.metadata.labels;
      const op = review.request.operation.toLowerCase();
      return allow(review, [labels === undefined ? { op: 'add', path: '/metadata/labels', value: { 'mutated-on': op } } : { op: 'add', path: '/metadata/labels/mutated-on', value: op }]);
    });
    await configure('endpoints', [hook('ep', '/ep', [rule(['CREATE', 'UPDATE'], ['', 'discovery.k8s.io'], ['endpoints', 'endpointslices'])])]);
    const ep = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'svc-a' }, subsets: [{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 80 }] }] };
    const created = await t.c.call('POST', '/api/v1/namespaces/default/endpoints', ep);
    expect(created.status).toBe(201);
    expect(created.body.metadata.labels).toEqual({ 'mutated-on': 'create' });
    const updated = await t.c.call('PUT', '/api/v1/namespaces/default/endpoints/svc-a', { ...created.body, subsets: [{ addresses: [{ ip: '10.0.0.2' }], ports: [{ port: 80 }] }] });
    expect(updated.body.metadata.labels).toEqual({ 'mutated-on': 'update' });
    expect(updated.body.subsets[0].addresses[0].ip).toBe('10.0.0.2');

    const slice = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'svc-a-abc', labels: { 'kubernetes.io/service-name': 'svc-a' } }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'] }] };
    const s1 = await t.c.call('POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', slice);
    expect(s1.body.metadata.labels).toEqual({ 'kubernetes.io/service-name': 'svc-a', 'mutated-on': 'create' });
    const s2 = await t.c.call('PATCH', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/svc-a-abc', [{ op: 'replace', path: '/endpoints/0/addresses/0', value: '10.0.0.9' }], 'application/json-patch+json');
    expect(s2.body.metadata.labels['mutated-on']).toBe('update');
    expect((await t.c.call('GET', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/svc-a-abc')).body.endpoints[0].addresses).toEqual(['10.0.0.9']);
    const kinds = reviewsAt('/ep').map((r) => `${r.request.operation} ${r.request.kind.group}/${r.request.kind.version}/${r.request.kind.kind} ${r.request.namespace}`);
    expect(kinds).toEqual(['CREATE /v1/Endpoints default', 'UPDATE /v1/Endpoints default', 'CREATE discovery.k8s.io/v1/EndpointSlice default', 'UPDATE discovery.k8s.io/v1/EndpointSlice default']);
  });

  it('patches a custom resource before its schema validation and pruning', async () => {
    const crd = {
      metadata: { name: 'gadgets.example.com' },
      spec: {
        group: 'example.com',
        scope: 'Namespaced',
        names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 }, owner: { type: 'string' } } } } } } }],
      },
    };
    expect((await t.c.call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).status).toBe(201);
    for (let i = 0; i < 100 && (await t.c.call('GET', '/apis/example.com/v1')).status !== 200; i++) await new Promise((r) => setTimeout(r, 10));
    handlers.set('/gadget', (review) =>
      allow(review, [
        { op: 'add', path: '/spec/owner', value: review.request.userInfo.username },
        { op: 'add', path: '/spec/junk', value: true },
        ...(review.request.object.metadata.name === 'too-small' ? [{ op: 'replace', path: '/spec/size', value: 0 }] : []),
      ]),
    );
    await configure('gadgets', [hook('gadget', '/gadget', [{ operations: ['CREATE'], apiGroups: ['example.com'], apiVersions: ['v1'], resources: ['gadgets'] }])]);
    // DAC: mutating admission runs before validation; a patched custom resource is pruned again (the unknown field is gone).
    const ok = await bob.call('POST', '/apis/example.com/v1/namespaces/default/gadgets', { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g1' }, spec: { size: 2 } });
    expect(ok.status).toBe(201);
    expect(ok.body.spec).toEqual({ size: 2, owner: 'bob' });
    const small = await t.c.call('POST', '/apis/example.com/v1/namespaces/default/gadgets', { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'too-small' }, spec: { size: 2 } });
    expect(small.status).toBe(422);
    expect(small.body.message).toContain('spec.size');
    expect(reviewsAt('/gadget')[0].request).toMatchObject({ kind: { group: 'example.com', version: 'v1', kind: 'Gadget' }, resource: { group: 'example.com', resource: 'gadgets' }, namespace: 'default' });
  });

  it('sends DELETE with no object and the stored one as oldObject; a deletecollection item without a name; a patch of a DELETE is an internal error', async () => {
    handlers.set('/del', (review) => (review.request.oldObject.metadata.name === 'keep' ? deny(review, { message: 'kept' }) : allow(review)));
    await configure('deletes', [hook('del', '/del', [rule(['DELETE'], [''], ['configmaps'])])]);
    for (const n of ['d1', 'keep', 'd2']) await t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm(n, { del: 'yes' }));
    // AR: on DELETE, object is null and oldObject is the existing object; options are the DeleteOptions.
    expect((await t.c.call('DELETE', '/api/v1/namespaces/default/configmaps/d1', { propagationPolicy: 'Background' })).status).toBe(200);
    const [first] = reviewsAt('/del');
    expect(first.request).toMatchObject({ operation: 'DELETE', name: 'd1', namespace: 'default', object: null, oldObject: { metadata: { name: 'd1' } }, options: { kind: 'DeleteOptions', propagationPolicy: 'Background' } });
    const denied = await t.c.call('DELETE', '/api/v1/namespaces/default/configmaps/keep');
    expect(denied.status).toBe(400);
    expect((await t.c.call('GET', '/api/v1/namespaces/default/configmaps/keep')).status).toBe(200);
    // kube-apiserver admits each item of a deletecollection with the collection's (empty) name.
    handlers.set('/del', (review) => allow(review));
    expect((await t.c.call('DELETE', '/api/v1/namespaces/default/configmaps?labelSelector=del%3Dyes')).status).toBe(200);
    expect(reviewsAt('/del').slice(2).map((r) => [r.request.name, r.request.oldObject.metadata.name])).toEqual([
      [undefined, 'd2'],
      [undefined, 'keep'],
    ]);
    // A patch on a DELETE cannot apply: 500, whatever the failurePolicy.
    await t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm('d3'));
    handlers.set('/del', (review) => allow(review, [{ op: 'add', path: '/metadata/labels', value: {} }]));
    await t.c.call('PATCH', `${MWC_PATH}/deletes`, [{ op: 'replace', path: '/webhooks/0/failurePolicy', value: 'Ignore' }], 'application/json-patch+json');
    const patchedDelete = await t.c.call('DELETE', '/api/v1/namespaces/default/configmaps/d3');
    expect(patchedDelete.status).toBe(500);
    expect(patchedDelete.body.message).toBe('Internal error occurred: admission webhook "del.test.edgeadm.io" attempted to modify the object, which is not supported for this operation');
  });

  it('calls webhooks on a dry run with dryRun true and stores nothing; refuses a dry run a webhook with side effects would see', async () => {
    handlers.set('/dry', (review) => allow(review, [{ op: 'add', path: '/data/dry', value: String(review.request.dryRun) }], { warnings: ['seen by the dry webhook'] }));
    await configure('dry', [hook('dry', '/dry', [rule(['CREATE'], [''], ['configmaps'])], { sideEffects: 'NoneOnDryRun' })]);
    // AR dryRun: true when the request is a dry run; MWC sideEffects None/NoneOnDryRun may be called on one.
    const r = await t.c.call('POST', '/api/v1/namespaces/default/configmaps?dryRun=All', cm('dry-1'));
    expect(r.status).toBe(201);
    expect(r.body.data.dry).toBe('true');
    expect(reviewsAt('/dry')[0].request.options).toEqual({ kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1', dryRun: ['All'] });
    expect((await t.c.call('GET', '/api/v1/namespaces/default/configmaps/dry-1')).status).toBe(404);
    // AR warnings: each becomes a Warning header.
    expect(String(r.headers.warning)).toContain('seen by the dry webhook');
    // MWC sideEffects: a dry-run request matching a webhook with Some or Unknown side effects is refused without calling it.
    // (v1 validation refuses Some and Unknown, so only objects from v1beta1 days hold them: checked on the rule itself.)
    expect(dryRunRefusal({ name: 'x.test.edgeadm.io', sideEffects: 'Some' }, true)).toEqual({ reason: 'BadRequest', code: 400, message: 'admission webhook "x.test.edgeadm.io" does not support dry run' });
    expect(dryRunRefusal({ name: 'x.test.edgeadm.io', sideEffects: 'Unknown' }, true)?.code).toBe(400);
    expect(dryRunRefusal({ name: 'x.test.edgeadm.io', sideEffects: 'Some' }, false)).toBeUndefined();
    expect(dryRunRefusal({ name: 'x.test.edgeadm.io', sideEffects: 'NoneOnDryRun' }, true)).toBeUndefined();
  });

  it('names the object on CREATE unless it is named by generateName', async () => {
    handlers.set('/gen', (review) => allow(review));
    await configure('gen', [hook('gen', '/gen', [rule(['CREATE'], [''], ['configmaps'])])]);
    // AR name: empty on a CREATE whose name the server generates.
    const r = await t.c.call('POST', '/api/v1/namespaces/default/configmaps', { metadata: { generateName: 'gen-' }, data: {} });
    expect(r.body.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
    expect(reviewsAt('/gen')[0].request.name).toBeUndefined();
    expect(reviewsAt('/gen')[0].request.object.metadata.generateName).toBe('gen-');
  });
});

// ------------------------------------------------------------------ failures

describe('call failures and failurePolicy', () => {
  const create = (name: string, labels: Record<string, string> = {}) => t.c.call('POST', '/api/v1/namespaces/default/configmaps', cm(name, labels));

  it('skips a webhook that cannot be reached under Ignore and fails the request with 500 under Fail', async () => {
    await configure('dead', [
      hook('dead-ignore', deadUrl, [rule(['CREATE'], [''], ['configmaps'])], { failurePolicy: 'Ignore' }),
      hook('dead-fail', deadUrl, [rule(['CREATE'], [''], ['configmaps'])], { objectSelector: { matchLabels: { policy: 'fail' } } }),
    ]);
    // MWC failurePolicy Ignore: an error calling the webhook is ignored and the request goes on.
    expect((await create('dead-1')).status).toBe(201);
    // MWC failurePolicy Fail (the v1 default): the request fails.
    const r = await create('dead-2', { policy: 'fail' });
    expect(r.status).toBe(500);
    expect(r.body.reason).toBe('InternalError');
    expect(r.body.message).toMatch(new RegExp(`^Internal error occurred: failed calling webhook "dead-fail.test.edgeadm.io": failed to call webhook: Post "${deadUrl}\\?timeout=10s": .*ECONNREFUSED`));
    expect((await t.c.call('GET', '/api/v1/namespaces/default/configmaps/dead-2')).status).toBe(404);
    const log = t.server.admissionLog();
    expect(log.map((e) => [e.webhook.split('.')[0], e.name, e.allowed])).toEqual([
      ['dead-ignore', 'dead-1', true],
      ['dead-ignore', 'dead-2', true],
      ['dead-fail', 'dead-2', false],
    ]);
    expect(log[0]?.error).toMatch(/ECONNREFUSED/);
  });

  it('gives up on a webhook after its timeoutSeconds: skipped under Ignore, 500 under Fail', async () => {
    handlers.set('/hang', () => 'hang');
    const r = [rule(['CREATE'], [''], ['configmaps'])];
    await configure('slow', [
      hook('slow-ignore', '/hang', r, { timeoutSeconds: 1, failurePolicy: 'Ignore', objectSelector: { matchLabels: { policy: 'ignore' } } }),
      hook('slow-fail', '/hang', r, { timeoutSeconds: 1, failurePolicy: 'Fail', objectSelector: { matchLabels: { policy: 'fail' } } }),
    ]);
    const started = Date.now();
    // MWC timeoutSeconds: after it, the call fails and failurePolicy decides. Both at once: one second in all.
    const [ignored, failed] = await Promise.all([create('slow-1', { policy: 'ignore' }), create('slow-2', { policy: 'fail' })]);
    const took = Date.now() - started;
    expect(ignored.status).toBe(201);
    expect(failed.status).toBe(500);
    expect(failed.body.message).toMatch(/failed calling webhook "slow-fail\.test\.edgeadm\.io": failed to call webhook: Post ".*\?timeout=1s": context deadline exceeded$/);
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(3000);
    expect(received.get('/hang')?.map((x) => x.query)).toEqual(['?timeout=1s', '?timeout=1s']);
  });

  it('treats an answer with another uid, not a v1 AdmissionReview, or not 200, and a webhook without v1 reviews, as call failures', async () => {
    handlers.set('/wrong-uid', (review) => ({ json: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: `${String(review.request.uid)}-not`, allowed: true } } }));
    handlers.set('/v1beta1', (review) => ({ json: { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true } } }));
    handlers.set('/500', () => ({ status: 500, text: 'boom' }));
    handlers.set('/garbage', () => ({ text: 'not json' }));
    const only = (label: string) => ({ objectSelector: { matchLabels: { case: label } } });
    const r = [rule(['CREATE'], [''], ['configmaps'])];
    await configure('bad-answers', [
      hook('wrong-uid', '/wrong-uid', r, only('uid')),
      hook('v1beta1', '/v1beta1', r, only('gvk')),
      hook('five-hundred', '/500', r, only('500')),
      hook('garbage', '/garbage', r, only('garbage')),
      hook('old-reviews', '/never', r, { ...only('versions'), admissionReviewVersions: ['v1beta1'] }),
      hook('by-service', '/never', r, { ...only('service'), clientConfig: { service: { namespace: 'default', name: 'webhook' } } }),
    ]);
    // AR: the response must be an AdmissionReview of admission.k8s.io/v1 carrying the request's uid.
    const uid = await create('u1', { case: 'uid' });
    expect(uid.status).toBe(500);
    expect(uid.body.message).toMatch(/failed calling webhook "wrong-uid\.test\.edgeadm\.io": received invalid webhook response: expected response\.uid="[0-9a-f-]{36}", got "[0-9a-f-]{36}-not"$/);
    expect((await create('u2', { case: 'gvk' })).body.message).toContain('expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got admission.k8s.io/v1beta1, Kind=AdmissionReview');
    expect((await create('u3', { case: '500' })).body.message).toContain('the server answered HTTP 500: boom');
    expect((await create('u4', { case: 'garbage' })).body.message).toContain('the answer is not JSON');
    // MWC admissionReviewVersions: this server sends v1 only; a webhook that takes none it knows fails without a call.
    expect((await create('u5', { case: 'versions' })).body.message).toContain('webhook does not accept known AdmissionReview versions');
    // MWC clientConfig.service: not resolvable by a test server, a call failure.
    const svc = await create('u6', { case: 'service' });
    expect(svc.status).toBe(500);
    expect(svc.body.message).toContain('service "default/webhook" cannot be reached');
    expect(received.get('/never')).toBeUndefined();
    // Under Ignore the same answers let the request through.
    await t.c.call('PATCH', `${MWC_PATH}/bad-answers`, [{ op: 'replace', path: '/webhooks/0/failurePolicy', value: 'Ignore' }], 'application/json-patch+json');
    expect((await create('u7', { case: 'uid' })).status).toBe(201);
  });

  it('verifies the webhook\'s certificate against the caBundle: another CA, or none (the system roots), is a call failure', async () => {
    handlers.set('/tls', (review) => allow(review));
    const r = [rule(['CREATE'], [''], ['configmaps'])];
    await configure('tls', [
      hook('other-ca', '/tls', r, { objectSelector: { matchLabels: { ca: 'other' } }, clientConfig: { url: `${base}/tls`, caBundle: otherCaBundle } }),
      hook('no-ca', '/tls', r, { objectSelector: { matchLabels: { ca: 'none' } }, clientConfig: { url: `${base}/tls` } }),
      hook('right-ca', '/tls', r, { objectSelector: { matchLabels: { ca: 'right' } } }),
    ]);
    // MWC clientConfig.caBundle: the PEM CA bundle that validates the webhook's server certificate; absent, the system trust roots.
    for (const which of ['other', 'none']) {
      const res = await create(`tls-${which}`, { ca: which });
      expect(res.status).toBe(500);
      expect(res.body.message).toMatch(/failed calling webhook "(other|no)-ca\.test\.edgeadm\.io": failed to call webhook: Post .*: .*(certificate|issuer)/);
    }
    expect(received.get('/tls')).toBeUndefined();
    expect((await create('tls-right', { ca: 'right' })).status).toBe(201);
    expect(reviewsAt('/tls')).toHaveLength(1);
  });

  it('fails the request with 500 when a patch does not apply, whatever the failurePolicy', async () => {
    handlers.set('/bad-patch', (review) => allow(review, [{ op: 'replace', path: '/spec/missing', value: 1 }]));
    await configure('bad-patch', [hook('bad-patch', '/bad-patch', [rule(['CREATE'], [''], ['configmaps'])], { failurePolicy: 'Ignore' })]);
    // kube-apiserver's mutating dispatcher: a patch that fails to apply is an internal error, not a call failure.
    const r = await create('bp-1');
    expect(r.status).toBe(500);
    expect(r.body.message).toMatch(/^Internal error occurred: json patch path '\/spec\/missing' does not exist/);
    expect((await t.c.call('GET', '/api/v1/namespaces/default/configmaps/bp-1')).status).toBe(404);
  });
});

// ------------------------------------------------------------------ kubectl

describe.skipIf(!existsSync(KUBECTL))('kubectl', () => {
  it(`applies a MutatingWebhookConfiguration (${KUBECTL}), whose webhook then patches what kubectl creates`, async () => {
    const run = promisify(execFile);
    const dir = await mkdtemp(path.join(tmpdir(), 'kubectl-mwc-'));
    try {
      const kubeconfig = await t.server.kubeconfig(dir);
      const k = async (...args: string[]): Promise<string> => (await run(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { timeout: 15_000 })).stdout;
      handlers.set('/kubectl', (review) => allow(review, [{ op: 'add', path: '/metadata/labels', value: { 'patched-by': 'webhook' } }]));
      const file = path.join(dir, 'mwc.yaml');
      await writeFile(
        file,
        `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: kubectl-applied
webhooks:
- name: label.test.edgeadm.io
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig:
    url: ${base}/kubectl
    caBundle: ${caBundle}
  rules:
  - operations: [CREATE]
    apiGroups: [""]
    apiVersions: [v1]
    resources: [configmaps]
`,
      );
      // DAC "Configure admission webhooks on the fly": a MutatingWebhookConfiguration is created like any object.
      expect(await k('apply', '-f', file)).toContain('mutatingwebhookconfiguration.admissionregistration.k8s.io/kubectl-applied created');
      // Applied again: kubectl's strategic merge patch merges webhooks by name and replaces their rules (defaulted
      // with scope "*" here, so it finds them changed, as against kube-apiserver).
      expect(await k('apply', '-f', file)).toContain('mutatingwebhookconfiguration.admissionregistration.k8s.io/kubectl-applied configured');
      expect(await k('get', 'mutatingwebhookconfigurations', '-o', 'name')).toContain('mutatingwebhookconfiguration.admissionregistration.k8s.io/kubectl-applied');
      expect(await k('get', 'mutatingwebhookconfiguration', 'kubectl-applied', '-o', 'yaml')).toContain('failurePolicy: Fail');
      // (kubectl create configmap would send protobuf, which this server does not read: a manifest goes as JSON.)
      const cmFile = path.join(dir, 'cm.yaml');
      await writeFile(cmFile, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-kubectl\ndata:\n  a: "1"\n');
      expect(await k('apply', '-f', cmFile)).toContain('configmap/from-kubectl created');
      expect(await k('get', 'configmap', 'from-kubectl', '-o', 'jsonpath={.metadata.labels.patched-by}')).toBe('webhook');
      expect(reviewsAt('/kubectl')[0].request.userInfo.username).toBe('admin');
      expect(await k('delete', '-f', file)).toContain('deleted');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
