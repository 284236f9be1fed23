/**
 * The health admission webhook: review in, review out, for every case the
 * rules name (core/health/webhook.ts), each returned JSON patch applied
 * with the Kubernetes API test server's RFC 6902 implementation and the
 * resulting object checked; malformed bodies refused naming the field; the
 * real server over HTTPS on loopback (a certificate from core/pki, trusted
 * by its CA), its probes, limits and logs; and the node cache against the
 * Kubernetes API test server, through a 410 relist.
 */
import { Writable } from 'node:stream';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../kernel/index.ts';
import { createCertificateAuthority, issueCertificate } from '../pki/index.ts';
import { jsonPatch } from '../../test/support/kube-apiserver/patch.ts';
import { rawClient } from '../../test/support/kube-apiserver/client.ts';
import { startKubeApiServer, type KubeApiServer } from '../../test/support/kube-apiserver/index.ts';
import { tempDir, waitFor } from '../../test/support/hub-fixture.ts';
import { NODE_UNHEALTH_ANNOTATION, NODE_UNHEALTH_VALUE, UNREACHABLE_TAINT, VERDICT_ANNOTATION } from './annotations.ts';
import {
  admitEndpoints,
  admitEndpointSlice,
  admitNode,
  HEALTH_WEBHOOK_PATHS,
  parseAdmissionReview,
  startHealthWebhook,
  startNodeCache,
  type AdmissionResponseReview,
  type HealthWebhook,
  type NodeLike,
  type NodeLookup,
} from './index.ts';

type Json = Record<string, unknown>;

const quiet = createLogger({ level: 'silent' });
const UNREACHABLE = { ...UNREACHABLE_TAINT, timeAdded: '2025-01-01T00:00:00Z' };
const UNREACHABLE_NOSCHEDULE = { key: UNREACHABLE_TAINT.key, effect: 'NoSchedule', timeAdded: '2025-01-01T00:00:00Z' };
const OTHER_TAINT = { key: 'dedicated', value: 'edge', effect: 'NoSchedule' };

/** A Node as kube-controller-manager leaves it (Ready as given), with the health annotations given. */
function node(name: string, o: { ready?: 'True' | 'False' | 'Unknown'; annotations?: Record<string, string>; taints?: Json[] } = {}): Json {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, uid: `uid-${name}`, ...(o.annotations === undefined ? {} : { annotations: o.annotations }) },
    spec: { podCIDR: '10.244.1.0/24', ...(o.taints === undefined ? {} : { taints: o.taints }) },
    status: {
      conditions: [
        { type: 'MemoryPressure', status: 'Unknown' },
        { type: 'Ready', status: o.ready ?? 'Unknown', reason: 'NodeStatusUnknown' },
      ],
    },
  };
}

const HEALTHY = { [VERDICT_ANNOTATION]: 'healthy' };
const UNHEALTHY = { [VERDICT_ANNOTATION]: 'unhealthy', [NODE_UNHEALTH_ANNOTATION]: NODE_UNHEALTH_VALUE };

let uidSeq = 0;
/** An AdmissionReview v1 as kube-apiserver sends it. */
function review(resource: { group: string; version: string; resource: string }, object: Json, extra: Json = {}): Json {
  const meta = object.metadata as { name?: string; namespace?: string };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `req-${++uidSeq}`,
      kind: { group: resource.group, version: 'v1', kind: object.kind },
      resource,
      requestKind: { group: resource.group, version: 'v1', kind: object.kind },
      requestResource: resource,
      name: meta.name,
      ...(meta.namespace === undefined ? {} : { namespace: meta.namespace }),
      operation: 'UPDATE',
      userInfo: { username: 'system:serviceaccount:kube-system:node-controller' },
      object,
      oldObject: object,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'UpdateOptions' },
      ...extra,
    },
  };
}
const NODES = { group: '', version: 'v1', resource: 'nodes' };
const ENDPOINTS = { group: '', version: 'v1', resource: 'endpoints' };
const SLICES = { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices' };

const uidOf = (r: Json): string => (r.request as { uid: string }).uid;

/** The patch of a response, decoded; [] when there is none. */
function patchOf(res: AdmissionResponseReview): unknown[] {
  expect(res).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { allowed: true } });
  if (res.response.patch === undefined) {
    expect(res.response.patchType).toBeUndefined();
    return [];
  }
  expect(res.response.patchType).toBe('JSONPatch');
  return JSON.parse(Buffer.from(res.response.patch, 'base64').toString('utf8')) as unknown[];
}

/** The object as kube-apiserver stores it after the response's patch. */
function applied(object: Json, res: AdmissionResponseReview): Json {
  return jsonPatch(object, patchOf(res)) as Json;
}

/** A node lookup over these nodes. */
function lookupOf(...nodes: Json[]): NodeLookup {
  const m = new Map(nodes.map((n) => [(n.metadata as { name: string }).name, n as NodeLike]));
  return (name) => m.get(name);
}

describe('admitNode', () => {
  it('removes the unreachable NoExecute taint of a node whose Ready is Unknown and whose peers voted it healthy', () => {
    const obj = node('gw-1', { annotations: HEALTHY, taints: [UNREACHABLE] });
    const r = review(NODES, obj);
    const res = admitNode(r);
    expect(res.response.uid).toBe(uidOf(r));
    expect(patchOf(res)).toEqual([{ op: 'remove', path: '/spec/taints/0' }]);
    expect((applied(obj, res).spec as Json).taints).toEqual([]);
    // The rest of the node is as it was.
    expect({ ...applied(obj, res), spec: obj.spec }).toEqual({ ...obj, spec: obj.spec });
  });

  it('removes it at index 0, in the middle and last among several taints, highest index first, and leaves the NoSchedule one and others', () => {
    for (const [taints, expectedOps] of [
      [[UNREACHABLE, OTHER_TAINT, UNREACHABLE_NOSCHEDULE], ['/spec/taints/0']],
      [[OTHER_TAINT, UNREACHABLE_NOSCHEDULE, UNREACHABLE], ['/spec/taints/2']],
      [[UNREACHABLE_NOSCHEDULE, UNREACHABLE, OTHER_TAINT], ['/spec/taints/1']],
      // Twice (a taint added twice by hand): both go, the higher index first so the lower stays valid.
      [[UNREACHABLE, OTHER_TAINT, UNREACHABLE], ['/spec/taints/2', '/spec/taints/0']],
    ] as [Json[], string[]][]) {
      const obj = node('gw-1', { annotations: HEALTHY, taints });
      const res = admitNode(review(NODES, obj));
      expect(patchOf(res)).toEqual(expectedOps.map((path) => ({ op: 'remove', path })));
      const left = (applied(obj, res).spec as { taints: Json[] }).taints;
      expect(left).toEqual(taints.filter((t) => t !== UNREACHABLE));
      expect(left).toContainEqual(OTHER_TAINT);
    }
  });

  it('matches key and effect: a NoSchedule unreachable taint alone, or another key with NoExecute, is no patch', () => {
    for (const taints of [[UNREACHABLE_NOSCHEDULE], [{ key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' }], [OTHER_TAINT], []]) {
      expect(patchOf(admitNode(review(NODES, node('gw-1', { annotations: HEALTHY, taints }))))).toEqual([]);
    }
    expect(patchOf(admitNode(review(NODES, node('gw-1', { annotations: HEALTHY }))))).toEqual([]);
  });

  it('leaves a node voted unhealthy, one with nodeunhealth even when the verdict says healthy, and one nobody voted on', () => {
    for (const annotations of [
      UNHEALTHY,
      { [VERDICT_ANNOTATION]: 'unhealthy' },
      { [VERDICT_ANNOTATION]: 'healthy', [NODE_UNHEALTH_ANNOTATION]: NODE_UNHEALTH_VALUE },
      // SuperEdge would call this one healthy (no nodeunhealth): here nobody voted, so Kubernetes decides.
      {},
      { [VERDICT_ANNOTATION]: 'Healthy' },
    ] as Record<string, string>[]) {
      const r = review(NODES, node('gw-1', { annotations, taints: [UNREACHABLE] }));
      const res = admitNode(r);
      expect(res).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: uidOf(r), allowed: true } });
    }
    expect(patchOf(admitNode(review(NODES, node('gw-1', { taints: [UNREACHABLE] }))))).toEqual([]);
  });

  it('leaves a node whose Ready is True or False (its kubelet reports), or that has no Ready condition', () => {
    for (const ready of ['True', 'False'] as const) expect(patchOf(admitNode(review(NODES, node('gw-1', { ready, annotations: HEALTHY, taints: [UNREACHABLE] }))))).toEqual([]);
    const noReady = node('gw-1', { annotations: HEALTHY, taints: [UNREACHABLE] });
    noReady.status = { conditions: [] };
    expect(patchOf(admitNode(review(NODES, noReady)))).toEqual([]);
    const noStatus = { ...noReady, status: undefined };
    expect(patchOf(admitNode(review(NODES, noStatus)))).toEqual([]);
  });

  it('acts on CREATE and UPDATE of the node and of nodes/status; not on other resources, subresources or operations', () => {
    const obj = node('gw-1', { annotations: HEALTHY, taints: [UNREACHABLE] });
    expect(patchOf(admitNode(review(NODES, obj, { operation: 'CREATE' })))).toHaveLength(1);
    expect(patchOf(admitNode(review(NODES, obj, { subResource: 'status' })))).toHaveLength(1);
    expect(patchOf(admitNode(review(NODES, obj, { subResource: 'proxy' })))).toEqual([]);
    expect(patchOf(admitNode(review(NODES, obj, { operation: 'DELETE' })))).toEqual([]);
    expect(patchOf(admitNode(review({ group: '', version: 'v1', resource: 'pods' }, obj)))).toEqual([]);
    expect(patchOf(admitNode(review({ group: 'edgeadm.io', version: 'v1', resource: 'nodes' }, obj)))).toEqual([]);
  });

  it('takes odd shapes inside the object without failing: taints not a list, entries not objects, annotations not an object', () => {
    const odd = node('gw-1', { annotations: HEALTHY });
    (odd.spec as Json).taints = 'node.kubernetes.io/unreachable:NoExecute';
    expect(patchOf(admitNode(review(NODES, odd)))).toEqual([]);
    (odd.spec as Json).taints = [null, 'x', 7, UNREACHABLE];
    expect(patchOf(admitNode(review(NODES, odd)))).toEqual([{ op: 'remove', path: '/spec/taints/3' }]);
    odd.metadata = { name: 'gw-1', annotations: ['healthy'] };
    expect(patchOf(admitNode(review(NODES, odd)))).toEqual([]);
    odd.status = { conditions: 'Ready=Unknown' };
    expect(patchOf(admitNode(review(NODES, odd)))).toEqual([]);
  });
});

describe('admitEndpoints', () => {
  const healthyGone = node('gw-healthy', { annotations: HEALTHY });
  const unhealthyGone = node('gw-unhealthy', { annotations: UNHEALTHY });
  const healthyReporting = node('gw-ready', { ready: 'True', annotations: HEALTHY });
  const lookup = lookupOf(healthyGone, unhealthyGone, healthyReporting);
  const addr = (ip: string, nodeName?: string): Json => ({ ip, ...(nodeName === undefined ? {} : { nodeName }), targetRef: { kind: 'Pod', name: `p-${ip}`, namespace: 'default' } });
  const endpoints = (subsets: Json[] | undefined): Json => ({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web', namespace: 'default' }, ...(subsets === undefined ? {} : { subsets }) });

  it("moves the not-ready addresses of unreachable nodes voted healthy to addresses; those of unhealthy, reporting, unknown or no node stay", () => {
    const obj = endpoints([
      {
        addresses: [addr('10.0.0.1', 'gw-ready')],
        notReadyAddresses: [addr('10.0.0.2', 'gw-healthy'), addr('10.0.0.3', 'gw-unhealthy'), addr('10.0.0.4', 'gw-unknown'), addr('10.0.0.5'), addr('10.0.0.6', 'gw-healthy'), addr('10.0.0.7', 'gw-ready')],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    ]);
    const r = review(ENDPOINTS, obj);
    const res = admitEndpoints(r, lookup);
    expect(res.response.uid).toBe(uidOf(r));
    const after = applied(obj, res);
    expect(after.subsets).toEqual([
      {
        addresses: [addr('10.0.0.1', 'gw-ready'), addr('10.0.0.2', 'gw-healthy'), addr('10.0.0.6', 'gw-healthy')],
        notReadyAddresses: [addr('10.0.0.3', 'gw-unhealthy'), addr('10.0.0.4', 'gw-unknown'), addr('10.0.0.5'), addr('10.0.0.7', 'gw-ready')],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    ]);
    expect(after.metadata).toEqual(obj.metadata);
  });

  it('makes addresses when the subset had none, and drops notReadyAddresses when all moved; other subsets are unchanged', () => {
    const untouched = { addresses: [addr('10.1.0.1', 'gw-ready')], ports: [{ port: 9090 }] };
    const obj = endpoints([{ notReadyAddresses: [addr('10.0.0.2', 'gw-healthy')], ports: [{ port: 8080 }] }, untouched, { notReadyAddresses: [addr('10.2.0.1', 'gw-unhealthy')], ports: [{ port: 7070 }] }]);
    const after = applied(obj, admitEndpoints(review(ENDPOINTS, obj, { operation: 'CREATE' }), lookup));
    expect(after.subsets).toEqual([{ addresses: [addr('10.0.0.2', 'gw-healthy')], ports: [{ port: 8080 }] }, untouched, { notReadyAddresses: [addr('10.2.0.1', 'gw-unhealthy')], ports: [{ port: 7070 }] }]);
  });

  it('is no patch when nothing moves: only unhealthy or unknown nodes, no subsets, odd shapes', () => {
    for (const subsets of [[{ notReadyAddresses: [addr('10.0.0.3', 'gw-unhealthy'), addr('10.0.0.4', 'gw-unknown')] }], [], undefined, ['x', null, { notReadyAddresses: 'gw-healthy' }, { notReadyAddresses: [null, 'x', { ip: '1.1.1.1', nodeName: 7 }] }]]) {
      expect(patchOf(admitEndpoints(review(ENDPOINTS, endpoints(subsets as Json[] | undefined)), lookup))).toEqual([]);
    }
    expect(patchOf(admitEndpoints(review(ENDPOINTS, { ...endpoints(undefined), subsets: null }), lookup))).toEqual([]);
  });

  it('asks for each node once per review, and not for other resources', () => {
    const asked: string[] = [];
    const counting: NodeLookup = (name) => {
      asked.push(name);
      return lookup(name);
    };
    const obj = endpoints([{ notReadyAddresses: [addr('10.0.0.2', 'gw-healthy'), addr('10.0.0.6', 'gw-healthy')] }, { notReadyAddresses: [addr('10.0.0.9', 'gw-healthy')] }]);
    expect(patchOf(admitEndpoints(review(ENDPOINTS, obj), counting))).toHaveLength(1);
    expect(asked).toEqual(['gw-healthy']);
    asked.length = 0;
    expect(patchOf(admitEndpoints(review(SLICES, obj), counting))).toEqual([]);
    expect(asked).toEqual([]);
  });
});

describe('admitEndpointSlice', () => {
  const lookup = lookupOf(node('gw-healthy', { annotations: HEALTHY }), node('gw-unhealthy', { annotations: UNHEALTHY }), node('gw-unvoted', { annotations: {} }));
  const ep = (ip: string, nodeName: string | undefined, conditions?: Json): Json => ({ addresses: [ip], ...(conditions === undefined ? {} : { conditions }), ...(nodeName === undefined ? {} : { nodeName }), targetRef: { kind: 'Pod', name: `p-${ip}` } });
  const slice = (endpoints: Json[] | undefined): Json => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'web-abcde', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    ...(endpoints === undefined ? {} : { endpoints }),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  });
  const notReady = { ready: false, serving: false, terminating: false };

  it('makes ready and serving the not-ready, not-terminating endpoints on unreachable nodes voted healthy; the rest stay as they are', () => {
    const endpoints = [
      ep('10.0.0.1', 'gw-healthy', notReady),
      ep('10.0.0.2', 'gw-healthy', { ready: false, serving: false, terminating: true }),
      ep('10.0.0.3', 'gw-unhealthy', notReady),
      ep('10.0.0.4', 'gw-unvoted', notReady),
      ep('10.0.0.5', 'gw-unknown', notReady),
      ep('10.0.0.6', undefined, notReady),
      ep('10.0.0.7', 'gw-healthy', { ready: true, serving: true, terminating: false }),
      // ready absent means unknown, which consumers take as ready: left as it is.
      ep('10.0.0.8', 'gw-healthy', {}),
      ep('10.0.0.9', 'gw-healthy'),
      // serving absent (older writers): set too.
      ep('10.0.0.10', 'gw-healthy', { ready: false }),
    ];
    const obj = slice(endpoints);
    const r = review(SLICES, obj);
    const res = admitEndpointSlice(r, lookup);
    expect(res.response.uid).toBe(uidOf(r));
    expect(patchOf(res)).toEqual([
      { op: 'replace', path: '/endpoints/0/conditions', value: { ready: true, serving: true, terminating: false } },
      { op: 'replace', path: '/endpoints/9/conditions', value: { ready: true, serving: true } },
    ]);
    const after = applied(obj, res);
    const expected = structuredClone(endpoints);
    expected[0]!.conditions = { ready: true, serving: true, terminating: false };
    expected[9]!.conditions = { ready: true, serving: true };
    expect(after.endpoints).toEqual(expected);
    expect({ ...after, endpoints: undefined }).toEqual({ ...obj, endpoints: undefined });
  });

  it('is no patch without endpoints, with no node voted healthy, or with odd shapes', () => {
    for (const endpoints of [undefined, [], [ep('10.0.0.3', 'gw-unhealthy', notReady)], [null, 'x', { conditions: 'ready' }, { nodeName: 'gw-healthy', conditions: null }]]) {
      expect(patchOf(admitEndpointSlice(review(SLICES, slice(endpoints as Json[] | undefined), { operation: 'CREATE' }), lookup))).toEqual([]);
    }
    expect(patchOf(admitEndpointSlice(review({ group: 'discovery.k8s.io', version: 'v1beta1', resource: 'endpointslices' }, slice([ep('10.0.0.1', 'gw-healthy', notReady)])), lookup))).toEqual([]);
  });
});

describe('malformed reviews', () => {
  const good = review(NODES, node('gw-1'));
  const cases: [string, unknown, string][] = [
    ['not an object', 'AdmissionReview', 'body'],
    ['an array', [good], 'body'],
    ['no apiVersion', { ...good, apiVersion: undefined }, 'apiVersion'],
    ['v1beta1', { ...good, apiVersion: 'admission.k8s.io/v1beta1' }, 'apiVersion'],
    ['another kind', { ...good, kind: 'Status' }, 'kind'],
    ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, 'request'],
    ['a response instead', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'x', allowed: true } }, 'request'],
    ['no uid', { ...good, request: { ...(good.request as Json), uid: undefined } }, 'request.uid'],
    ['an empty uid', { ...good, request: { ...(good.request as Json), uid: '' } }, 'request.uid'],
    ['a numeric uid', { ...good, request: { ...(good.request as Json), uid: 7 } }, 'request.uid'],
    ['no resource', { ...good, request: { ...(good.request as Json), resource: undefined } }, 'request.resource'],
    ['a resource without group', { ...good, request: { ...(good.request as Json), resource: { version: 'v1', resource: 'nodes' } } }, 'request.resource.group'],
    ['no object', { ...good, request: { ...(good.request as Json), object: undefined } }, 'request.object'],
    ['a null object (as for DELETE)', { ...good, request: { ...(good.request as Json), object: null } }, 'request.object'],
    ['a numeric operation', { ...good, request: { ...(good.request as Json), operation: 1 } }, 'request.operation'],
  ];

  it('are refused by every admit function with EDGE_ERR_HEALTH_ADMISSION_REVIEW naming the field', () => {
    for (const [what, body, field] of cases) {
      for (const admit of [(b: unknown) => admitNode(b), (b: unknown) => admitEndpoints(b, () => undefined), (b: unknown) => admitEndpointSlice(b, () => undefined)]) {
        let err: unknown;
        try {
          admit(body);
        } catch (e) {
          err = e;
        }
        expect(err, what).toMatchObject({ code: 'EDGE_ERR_HEALTH_ADMISSION_REVIEW', statusCode: 400, params: { field } });
        expect((err as Error).message, what).toContain(`${field} `);
      }
    }
    expect(parseAdmissionReview(good).request.uid).toBe(uidOf(good));
  });
});

// ---------------------------------------------------------------------------
// The server

describe('startHealthWebhook over HTTPS', () => {
  let ca: { certPem: string; keyPem: string };
  let hook: HealthWebhook;
  let dispatcher: Agent;
  let ready = false;
  const lines: string[] = [];
  const nodes = new Map<string, NodeLike>([
    ['gw-healthy', node('gw-healthy', { annotations: HEALTHY })],
    ['gw-unhealthy', node('gw-unhealthy', { annotations: UNHEALTHY })],
  ]);

  beforeAll(async () => {
    ca = await createCertificateAuthority({ commonName: 'webhook test CA' });
    const serving = await issueCertificate(ca, { commonName: 'edgeadm-health-webhook.edgeadm.svc', dnsNames: ['edgeadm-health-webhook.edgeadm.svc'], ipAddresses: ['127.0.0.1'], usage: 'server' });
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString('utf8'));
        cb();
      },
    });
    hook = await startHealthWebhook({ host: '127.0.0.1', port: 0, tls: { cert: serving.certPem, key: serving.keyPem }, nodes, logger: createLogger({ level: 'debug', destination }), ready: () => ready });
    dispatcher = new Agent({ connect: { ca: ca.certPem } });
  }, 30_000);
  afterAll(async () => {
    await hook?.close();
    await dispatcher?.close();
  });

  async function post(path: string, body: unknown, contentType: string | null = 'application/json'): Promise<{ status: number; body: Json }> {
    const r = await request(`${hook.url}${path}`, { method: 'POST', dispatcher, headers: contentType === null ? {} : { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: r.statusCode, body: (await r.body.json()) as Json };
  }

  it('answers each route with the review, its patch applying to the object', async () => {
    expect(hook.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const n = node('gw-healthy', { annotations: HEALTHY, taints: [OTHER_TAINT, UNREACHABLE] });
    const rn = review(NODES, n);
    const a = await post(HEALTH_WEBHOOK_PATHS.nodes, rn);
    expect(a.status).toBe(200);
    expect((applied(n, a.body as unknown as AdmissionResponseReview).spec as Json).taints).toEqual([OTHER_TAINT]);
    expect((a.body.response as Json).uid).toBe(uidOf(rn));

    const e = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web', namespace: 'default' }, subsets: [{ notReadyAddresses: [{ ip: '10.0.0.1', nodeName: 'gw-healthy' }, { ip: '10.0.0.2', nodeName: 'gw-unhealthy' }] }] };
    const b = await post(HEALTH_WEBHOOK_PATHS.endpoints, review(ENDPOINTS, e), 'application/json; charset=utf-8');
    expect(b.status).toBe(200);
    expect(applied(e, b.body as unknown as AdmissionResponseReview).subsets).toEqual([{ addresses: [{ ip: '10.0.0.1', nodeName: 'gw-healthy' }], notReadyAddresses: [{ ip: '10.0.0.2', nodeName: 'gw-unhealthy' }] }]);

    const s = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'web-x', namespace: 'default' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], nodeName: 'gw-healthy', conditions: { ready: false, serving: false, terminating: false } }] };
    const c = await post(HEALTH_WEBHOOK_PATHS.endpointslices, review(SLICES, s));
    expect(c.status).toBe(200);
    expect((applied(s, c.body as unknown as AdmissionResponseReview).endpoints as Json[])[0]!.conditions).toEqual({ ready: true, serving: true, terminating: false });

    // No patch: allowed, no patchType.
    const d = await post(HEALTH_WEBHOOK_PATHS.nodes, review(NODES, node('gw-unhealthy', { annotations: UNHEALTHY, taints: [UNREACHABLE] })));
    expect([d.status, d.body.response]).toEqual([200, { uid: expect.any(String), allowed: true }]);

    // Logs: each decision at debug with node and object names, never an object's body.
    const log = lines.join('');
    expect(log).toMatch(/"resource":"nodes","object":"gw-healthy","nodes":\["gw-healthy"\],"ops":1/);
    expect(log).toMatch(/"resource":"endpoints","object":"default\/web","nodes":\["gw-healthy"\]/);
    expect(log).toMatch(/"resource":"nodes","object":"gw-unhealthy","reason":"not voted healthy"/);
    for (const body of ['10.0.0.1', 'podCIDR', 'dedicated', 'notReadyAddresses']) expect(log).not.toContain(body);
  });

  it('answers 400 naming the field for bodies that are not AdmissionReview v1 requests', async () => {
    const good = review(NODES, node('gw-1'));
    for (const [body, field] of [
      ['{"apiVersion": "admission.k8s.io/v1", ', 'body'],
      ['', 'body'],
      ['[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]', 'body'],
      ['{"__proto__": {"polluted": true}}', 'body'],
      ['null', 'body'],
      [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, 'request'],
      [{ ...good, request: { ...(good.request as Json), uid: undefined } }, 'request.uid'],
      [{ ...good, apiVersion: 'admission.k8s.io/v1beta1' }, 'apiVersion'],
    ] as [unknown, string][]) {
      for (const path of Object.values(HEALTH_WEBHOOK_PATHS)) {
        const r = await post(path, body);
        expect([r.status, r.body.code, (r.body.details as Json).field], `${path} ${JSON.stringify(body).slice(0, 40)}`).toEqual([400, 'EDGE_ERR_HEALTH_ADMISSION_REVIEW', field]);
        expect(r.body.message).toContain(`${field} `);
      }
    }
    expect(({} as Json).polluted).toBeUndefined();
  });

  it('takes only application/json, bodies up to 3 MiB, the routes it has; and keeps serving', async () => {
    const good = review(NODES, node('gw-1'));
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', null]) {
      const r = await post(HEALTH_WEBHOOK_PATHS.nodes, good, type);
      expect([r.status, r.body.code], String(type)).toEqual([415, 'EDGE_ERR_HEALTH_ADMISSION_MEDIA_TYPE']);
    }
    const big = review(NODES, { ...node('gw-1'), pad: 'x'.repeat(3 * 1024 * 1024) });
    const tooBig = await post(HEALTH_WEBHOOK_PATHS.nodes, big);
    expect([tooBig.status, tooBig.body.code]).toEqual([413, 'EDGE_ERR_HEALTH_ADMISSION_TOO_LARGE']);
    // A review under the limit is taken: kube sends the object and the old object, each up to etcd's 1.5 MiB.
    const large = review(NODES, { ...node('gw-1'), pad: 'x'.repeat(1.4 * 1024 * 1024) });
    expect((await post(HEALTH_WEBHOOK_PATHS.nodes, large)).status).toBe(200);
    const other = await post('/admission/pods', good);
    expect([other.status, other.body.code]).toEqual([404, 'EDGE_ERR_HEALTH_WEBHOOK_NOT_FOUND']);
    const get = await request(`${hook.url}${HEALTH_WEBHOOK_PATHS.nodes}`, { dispatcher });
    expect(get.statusCode).toBe(404);
    await get.body.dump();
    expect((await post(HEALTH_WEBHOOK_PATHS.nodes, good)).status).toBe(200);
  });

  it('serves /healthz, and /readyz once the node cache has synced', async () => {
    const get = async (path: string): Promise<[number, string]> => {
      const r = await request(`${hook.url}${path}`, { dispatcher });
      return [r.statusCode, await r.body.text()];
    };
    expect(await get('/healthz')).toEqual([200, 'ok\n']);
    expect(await get('/readyz')).toEqual([503, 'the node cache has not synced yet\n']);
    ready = true;
    expect(await get('/readyz')).toEqual([200, 'ok\n']);
  });

  it('is refused by a client that does not trust its CA', async () => {
    const stranger = new Agent({ connect: { ca: (await createCertificateAuthority({ commonName: 'other CA' })).certPem } });
    try {
      await expect(request(`${hook.url}/healthz`, { dispatcher: stranger })).rejects.toThrow();
    } finally {
      await stranger.close();
    }
  });
});

// ---------------------------------------------------------------------------
// The node cache, and the whole webhook on it

describe('startNodeCache against the Kubernetes API test server', () => {
  let kube: KubeApiServer;
  let kubeconfig: string;

  beforeAll(async () => {
    kube = await startKubeApiServer();
    kubeconfig = await kube.kubeconfig(tempDir('health-webhook'));
  });
  afterAll(async () => {
    await kube?.close();
  });

  it('lists and watches the nodes (annotations and Ready only), lists again after a 410, and feeds the webhook', async () => {
    const raw = rawClient(kube);
    const setReady = async (name: string, status: string): Promise<void> => {
      const r = await raw.call('PATCH', `/api/v1/nodes/${name}/status`, { status: { conditions: [{ type: 'Ready', status }], images: [{ names: ['big-image:1'], sizeBytes: 1 }] } }, 'application/merge-patch+json');
      expect(r.status).toBe(200);
    };
    const annotate = async (name: string, annotations: Record<string, string | null>): Promise<void> => {
      const r = await raw.call('PATCH', `/api/v1/nodes/${name}`, { metadata: { annotations } }, 'application/merge-patch+json');
      expect(r.status).toBe(200);
    };
    for (const name of ['gw-a', 'gw-b']) expect((await raw.call('POST', '/api/v1/nodes', { metadata: { name, annotations: { 'other.example/x': 'y' } } })).status).toBe(201);
    await setReady('gw-a', 'Unknown');
    await annotate('gw-a', { [VERDICT_ANNOTATION]: 'healthy' });

    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString('utf8'));
        cb();
      },
    });
    const cache = await startNodeCache({ kubeConfig: kubeconfig, logger: createLogger({ level: 'info', destination }) });
    try {
      expect(cache.synced()).toBe(false);
      await cache.ready;
      expect(cache.synced()).toBe(true);
      expect(cache.size).toBe(2);
      // Only what the webhook reads is kept.
      expect(cache.get('gw-a')).toEqual({ metadata: { name: 'gw-a', annotations: { [VERDICT_ANNOTATION]: 'healthy' } }, status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } });
      expect(cache.get('gw-none')).toBeUndefined();

      // The watch: the peers vote gw-b healthy while it is unreachable.
      await setReady('gw-b', 'Unknown');
      await annotate('gw-b', { [VERDICT_ANNOTATION]: 'healthy' });
      await waitFor('gw-b voted healthy in the cache', () => cache.get('gw-b')?.metadata?.annotations?.[VERDICT_ANNOTATION] === 'healthy', 10_000);

      // A 410: changes the watch never delivers (held back, then the stream ends), history compacted;
      // the watch resumed from the old version is told 410 and the cache lists again.
      kube.delayWatches('nodes', 60_000);
      await annotate('gw-a', { [VERDICT_ANNOTATION]: 'unhealthy', [NODE_UNHEALTH_ANNOTATION]: NODE_UNHEALTH_VALUE });
      expect((await raw.call('DELETE', '/api/v1/nodes/gw-b')).status).toBe(200);
      kube.compact();
      kube.delayWatches('nodes', 0);
      kube.endWatches();
      await waitFor('the cache relisted', () => cache.get('gw-b') === undefined && cache.get('gw-a')?.metadata?.annotations?.[NODE_UNHEALTH_ANNOTATION] === NODE_UNHEALTH_VALUE, 15_000);
      expect(cache.size).toBe(1);
      expect(lines.join('')).toContain('kube watch expired (410): listing again');

      // The webhook on the cache: gw-a is now unhealthy, so its address stays not ready; gw-c voted healthy moves.
      expect((await raw.call('POST', '/api/v1/nodes', { metadata: { name: 'gw-c', annotations: { [VERDICT_ANNOTATION]: 'healthy' } } })).status).toBe(201);
      await setReady('gw-c', 'Unknown');
      await waitFor('gw-c in the cache', () => cache.get('gw-c')?.status !== undefined && JSON.stringify(cache.get('gw-c')).includes('Unknown'), 10_000);
      const e = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web', namespace: 'default' }, subsets: [{ notReadyAddresses: [{ ip: '10.0.0.1', nodeName: 'gw-a' }, { ip: '10.0.0.3', nodeName: 'gw-c' }] }] };
      const after = applied(e, admitEndpoints(review(ENDPOINTS, e), (name) => cache.get(name)));
      expect(after.subsets).toEqual([{ addresses: [{ ip: '10.0.0.3', nodeName: 'gw-c' }], notReadyAddresses: [{ ip: '10.0.0.1', nodeName: 'gw-a' }] }]);
    } finally {
      await raw.close();
      await cache.close();
    }
  }, 60_000);

  it('rejects ready when the cluster refuses the list (an unknown token), and closes cleanly', async () => {
    const bad = await kube.kubeconfig(tempDir('health-webhook-bad'), { token: 'not-a-user' });
    const cache = await startNodeCache({ kubeConfig: bad, logger: quiet });
    try {
      await expect(cache.ready).rejects.toMatchObject({ code: 'EDGE_ERR_STORE_KUBE' });
      expect(cache.synced()).toBe(false);
    } finally {
      await cache.close();
    }
  });
});
