import { describe, expect, it } from 'vitest';
import { acceptsJson, collectionKey, compareRv, parseApiRequest, parseResourcePath, responseKey, selectorQuery } from './request.ts';

describe('parseResourcePath', () => {
  it.each([
    ['/api/v1/pods', { group: '', version: 'v1', resource: 'pods', collectionPath: '/api/v1/pods' }],
    ['/api/v1/namespaces/ns/pods/p/status', { group: '', version: 'v1', namespace: 'ns', resource: 'pods', name: 'p', subresource: 'status', collectionPath: '/api/v1/namespaces/ns/pods' }],
    ['/api/v1/namespaces/ns', { resource: 'namespaces', name: 'ns', collectionPath: '/api/v1/namespaces' }],
    ['/api/v1/namespaces/ns/status', { resource: 'namespaces', name: 'ns', subresource: 'status' }],
    ['/api/v1/nodes/n1', { resource: 'nodes', name: 'n1', collectionPath: '/api/v1/nodes' }],
    ['/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1', { group: 'coordination.k8s.io', namespace: 'kube-node-lease', resource: 'leases', name: 'n1' }],
    ['/apis/superedge.io/v1/namespaces/a/deploymentgrids', { group: 'superedge.io', resource: 'deploymentgrids', collectionPath: '/apis/superedge.io/v1/namespaces/a/deploymentgrids' }],
    ['/api/v1/watch/namespaces/ns/configmaps', { namespace: 'ns', resource: 'configmaps', legacyWatch: true }],
  ])('%s', (path, expected) => {
    expect(parseResourcePath(path)).toMatchObject(expected);
  });

  it.each(['/api', '/apis', '/apis/apps', '/api/v1', '/version', '/healthz', '/openapi/v2', '/api/v1/pods/a/b/c', '/api/v1/../secrets', '/api/v1/pods/%E0%A4%A'])('names no resource: %s', (path) => {
    expect(parseResourcePath(path)).toBeUndefined();
  });
});

describe('parseApiRequest', () => {
  it.each([
    ['GET', '/api/v1/pods', 'list'],
    ['GET', '/api/v1/pods?watch=true', 'watch'],
    ['GET', '/api/v1/pods?watch=1', 'watch'],
    ['GET', '/api/v1/pods?watch=True', 'watch'],
    ['GET', '/api/v1/pods?watch=false', 'list'],
    ['GET', '/api/v1/watch/pods', 'watch'],
    ['GET', '/api/v1/namespaces/a/pods/p', 'get'],
    ['POST', '/api/v1/namespaces/a/pods', 'create'],
    ['PUT', '/api/v1/namespaces/a/pods/p', 'update'],
    ['PATCH', '/api/v1/nodes/n/status', 'patch'],
    ['DELETE', '/api/v1/namespaces/a/pods/p', 'delete'],
    ['DELETE', '/api/v1/namespaces/a/pods', 'deletecollection'],
    ['GET', '/apis', 'get'],
    ['POST', '/apis', 'other'],
  ])('%s %s is %s', (method, url, verb) => {
    expect(parseApiRequest(method, url, undefined).verb).toBe(verb);
  });

  it('takes the legacy /watch/ segment out of the path, so a watch and its list share keys', () => {
    const a = parseApiRequest('GET', '/api/v1/watch/namespaces/a/configmaps', '');
    const b = parseApiRequest('GET', '/api/v1/namespaces/a/configmaps?watch=true', '');
    expect(a.path).toBe(b.path);
    expect(collectionKey('x', a.resource?.collectionPath ?? '', selectorQuery(a.query))).toBe(collectionKey('x', b.resource?.collectionPath ?? '', selectorQuery(b.query)));
  });
});

describe('cache keys', () => {
  const key = (url: string, accept = 'application/json', who = 'node:n1') => responseKey(who, parseApiRequest('GET', url, accept));

  it('differ by selectors, limit, continue, Accept and identity', () => {
    const base = key('/api/v1/pods');
    expect(new Set([base, key('/api/v1/pods?labelSelector=a%3Db'), key('/api/v1/pods?fieldSelector=spec.nodeName%3Dn1'), key('/api/v1/pods?limit=500'), key('/api/v1/pods?limit=500&continue=x'), key('/api/v1/pods', 'application/vnd.kubernetes.protobuf'), key('/api/v1/pods', 'application/json', 'token:abc')]).size).toBe(7);
  });

  it('are the same whatever the freshness parameters and the order of the query', () => {
    expect(key('/api/v1/pods?labelSelector=a&limit=5&resourceVersion=0&timeoutSeconds=30')).toBe(key('/api/v1/pods?limit=5&labelSelector=a&resourceVersion=1234&resourceVersionMatch=NotOlderThan'));
  });
});

describe('acceptsJson', () => {
  it.each([
    ['', true],
    ['application/json', true],
    ['application/vnd.kubernetes.protobuf, application/json', true],
    ['application/json;as=Table;v=v1;g=meta.k8s.io,application/json', true],
    ['*/*', true],
    ['application/vnd.kubernetes.protobuf', false],
    ['application/yaml', false],
  ])('%s: %s', (accept, expected) => {
    expect(acceptsJson(accept)).toBe(expected);
  });
});

describe('compareRv', () => {
  it('orders decimal versions as numbers, and says nothing of others', () => {
    expect(compareRv('9', '10')).toBeLessThan(0);
    expect(compareRv('10', '10')).toBe(0);
    expect(compareRv('123456789012345678901234', '2')).toBeGreaterThan(0);
    expect(compareRv('abc', '1')).toBeUndefined();
    expect(compareRv('', '1')).toBeUndefined();
  });
});
