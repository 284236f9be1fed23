/**
 * The topology wrapper between a kube-proxy-style client and the Kubernetes
 * API test server: list, get and watch of Endpoints and EndpointSlices come
 * back filtered to the local node's unit for a ServiceGrid's Service, and
 * unchanged for other Services and other requests; the caller's own
 * credential is what upstream sees.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call -- raw answers are arbitrary Kubernetes JSON (RawResponse.body) */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawClient, type RawResponse } from '../../test/support/kube-apiserver/client.ts';
import { startKubeApiServer, type KubeApiServer } from '../../test/support/kube-apiserver/index.ts';
import { quiet, tempDir, waitFor } from '../../test/support/hub-fixture.ts';
import { startTopologyWrapper, type TopologyWrapper } from './topology-wrapper.ts';

let server: KubeApiServer;
let raw: ReturnType<typeof rawClient>;
let wrapper: TopologyWrapper;

const node = (name: string, zone?: string) => ({ metadata: { name, labels: zone === undefined ? {} : { zone } } });
const slice = (name: string, service: string, nodes: string[]) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  endpoints: nodes.map((n, i) => ({ addresses: [`10.0.${i}.1`], nodeName: n })),
  ports: [{ port: 8080, protocol: 'TCP' }],
});

beforeAll(async () => {
  server = await startKubeApiServer();
  raw = rawClient(server);
  for (const n of [node('a1', 'zone-a'), node('a2', 'zone-a'), node('b1', 'zone-b')]) expect((await raw.call('POST', '/api/v1/nodes', n)).status).toBe(201);
  // A ServiceGrid's Service (topologyKeys) and a plain one.
  expect((await raw.call('POST', '/api/v1/namespaces/default/services', { metadata: { name: 'web-svc', annotations: { topologyKeys: '["zone"]' } }, spec: { ports: [{ port: 80 }] } })).status).toBe(201);
  expect((await raw.call('POST', '/api/v1/namespaces/default/services', { metadata: { name: 'plain' }, spec: { ports: [{ port: 80 }] } })).status).toBe(201);
  for (const svc of ['web-svc', 'plain']) {
    const ep = { metadata: { name: svc }, subsets: [{ addresses: [{ ip: '10.0.0.1', nodeName: 'a1' }, { ip: '10.0.1.1', nodeName: 'b1' }], ports: [{ port: 8080 }] }] };
    expect((await raw.call('POST', '/api/v1/namespaces/default/endpoints', ep)).status).toBe(201);
    expect((await raw.call('POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', slice(`${svc}-1`, svc, ['a1', 'b1']))).status).toBe(201);
  }
  wrapper = await startTopologyWrapper({ kubeConfig: await server.kubeconfig(tempDir('wrapper')), nodeName: 'a2', port: 0, logger: quiet });
});

afterAll(async () => {
  await wrapper?.close();
  await raw.close();
  await server.close();
});

/** As kube-proxy asks: protobuf first, JSON accepted, with its own token. */
const get = async (path: string, token: string | null = server.token): Promise<Pick<RawResponse, 'status' | 'body'>> => {
  const res = await fetch(`${wrapper.url}${path}`, { headers: { accept: 'application/vnd.kubernetes.protobuf, application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) } });
  return { status: res.status, body: (await res.json()) };
};

const nodesOf = (endpoints: { nodeName?: string }[] | undefined): (string | undefined)[] => (endpoints ?? []).map((e) => e.nodeName);

describe('the topology wrapper', () => {
  it('lists EndpointSlices and Endpoints of a ServiceGrid\'s Service filtered to the node\'s unit, others unchanged', async () => {
    const all = await get('/apis/discovery.k8s.io/v1/endpointslices');
    expect(all.status).toBe(200);
    const byName = new Map((all.body.items as { metadata: { name: string }; endpoints: { nodeName?: string }[] }[]).map((s) => [s.metadata.name, nodesOf(s.endpoints)]));
    expect(byName.get('web-svc-1')).toEqual(['a1']);
    expect(byName.get('plain-1')).toEqual(['a1', 'b1']);
    const inNs = await get('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb-svc');
    expect(inNs.body.items.map((s: { endpoints: { nodeName?: string }[] }) => nodesOf(s.endpoints))).toEqual([['a1']]);
    const ep = await get('/api/v1/namespaces/default/endpoints/web-svc');
    expect(ep.body.subsets[0].addresses.map((a: { nodeName: string }) => a.nodeName)).toEqual(['a1']);
    const plainEp = await get('/api/v1/namespaces/default/endpoints/plain');
    expect(plainEp.body.subsets[0].addresses).toHaveLength(2);
    const eps = await get('/api/v1/endpoints');
    expect(eps.body.items.find((e: { metadata: { name: string } }) => e.metadata.name === 'web-svc').subsets[0].addresses).toHaveLength(1);
  });

  it('filters a watch as it streams, with node labels as they are now', async () => {
    const ac = new AbortController();
    const res = await fetch(`${wrapper.url}/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?watch=true&resourceVersion=0`, { headers: { authorization: `Bearer ${server.token}` }, signal: ac.signal });
    expect(res.status).toBe(200);
    const seen: { type: string; name: string; nodes: (string | undefined)[] }[] = [];
    const reading = (async () => {
      const decoder = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buf += decoder.decode(chunk, { stream: true });
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const ev = JSON.parse(buf.slice(0, nl)) as { type: string; object: { metadata: { name: string }; endpoints?: { nodeName?: string }[] } };
            buf = buf.slice(nl + 1);
            if (ev.type !== 'BOOKMARK') seen.push({ type: ev.type, name: ev.object.metadata.name, nodes: nodesOf(ev.object.endpoints) });
          }
        }
      } catch {
        // aborted
      }
    })();
    try {
      await waitFor('the initial events', () => seen.some((e) => e.name === 'web-svc-1'), 10_000);
      expect(seen.find((e) => e.name === 'web-svc-1')?.nodes).toEqual(['a1']);
      // b1 joins zone-a: the Service's next event keeps its address too.
      const b1 = await raw.call('GET', '/api/v1/nodes/b1');
      expect((await raw.call('PUT', '/api/v1/nodes/b1', { ...b1.body, metadata: { ...b1.body.metadata, labels: { zone: 'zone-a' } } })).status).toBe(200);
      await waitFor('the wrapper to see the node move', async () => (await get('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-svc-1')).body.endpoints?.length === 2, 10_000);
      const cur = await raw.call('GET', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-svc-1');
      expect((await raw.call('PUT', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-svc-1', { ...cur.body, endpoints: [...cur.body.endpoints, { addresses: ['10.0.9.1'], nodeName: 'a2' }] })).status).toBe(200);
      await waitFor('the MODIFIED event', () => seen.some((e) => e.type === 'MODIFIED' && e.name === 'web-svc-1'), 10_000);
      expect(seen.filter((e) => e.type === 'MODIFIED' && e.name === 'web-svc-1').at(-1)?.nodes).toEqual(['a1', 'b1', 'a2']);
    } finally {
      ac.abort();
      await reading;
      const b1 = await raw.call('GET', '/api/v1/nodes/b1');
      await raw.call('PUT', '/api/v1/nodes/b1', { ...b1.body, metadata: { ...b1.body.metadata, labels: { zone: 'zone-b' } } });
    }
  });

  it('passes other requests through unchanged and lends no credential: without the caller\'s token kube refuses', async () => {
    const svc = await get('/api/v1/namespaces/default/services/plain');
    expect(svc).toMatchObject({ status: 200, body: { metadata: { name: 'plain' } } });
    expect((await get('/api/v1/namespaces/default/endpoints/web-svc', null)).status).toBe(401);
    expect((await get('/api/v1/nodes', null)).status).toBe(401);
    expect((await get('/api/v1/nodes', 'not-a-token')).status).toBe(401);
  });
});
