/**
 * The official Kubernetes Python client (Debian's python3-kubernetes, run
 * by test/support/python-kube.ts) against the Kubernetes API test server:
 * list then watch from the list's resourceVersion (ADDED, MODIFIED,
 * DELETED in order), label selectors on both, the library's re-watch from
 * its last resourceVersion when the server ends a stream, the 410 of a
 * compacted resourceVersion surfacing as its ApiException, its
 * verification of the server's certificate against the kubeconfig's CA,
 * and each request's user in the request log. Skipped, saying so, only
 * where /usr/bin/python3 cannot import `kubernetes`.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access -- answers are arbitrary Kubernetes JSON, read loosely by the assertions (client.ts's RawResponse.body) */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority } from '../../../core/pki/index.ts';
import {
  EXIT_API_EXCEPTION,
  EXIT_OTHER_FAILURE,
  pythonKubernetesAvailable,
  startPythonWatch,
  type PythonWatch,
  type PythonWatchLine,
  type PythonWatchOptions,
} from '../python-kube.ts';
import { useKubeApiServer } from './client.ts';

const PY_USER = { token: 'python-token', name: 'python-client', groups: ['testers'] };
const t = useKubeApiServer({ users: [PY_USER] });

const AVAILABLE = pythonKubernetesAvailable();
const TITLE = AVAILABLE
  ? 'the Kubernetes Python client against the test server'
  : 'the Kubernetes Python client against the test server (skipped: /usr/bin/python3 cannot import kubernetes; apt-get install python3-kubernetes)';

let dir = '';
let kubeconfig = '';
const running: PythonWatch[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'python-kube-'));
  kubeconfig = await t.server.kubeconfig(path.join(dir, 'python.yaml'), { token: PY_USER.token });
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((w) => w.stop()));
});
afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

function watch(opts: Omit<PythonWatchOptions, 'kubeconfig'> & { kubeconfig?: string }): PythonWatch {
  const w = startPythonWatch({ kubeconfig, ...opts });
  running.push(w);
  return w;
}

async function namespace(name: string): Promise<void> {
  expect((await t.c.call('POST', '/api/v1/namespaces', { metadata: { name } })).status).toBe(201);
}

async function configMap(ns: string, name: string, labels: Record<string, string> = {}): Promise<string> {
  const r = await t.c.call('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name, labels }, data: { n: '0' } });
  expect(r.status).toBe(201);
  return r.body.metadata.resourceVersion as string;
}

const is =
  (type: string, name?: string) =>
  (l: PythonWatchLine): boolean =>
    l.type === type && (name === undefined || ('name' in l && l.name === name));

/** The watch events (not LIST or EXCEPTION lines) as `TYPE name`. */
const seen = (w: PythonWatch): string[] => w.events.flatMap((l) => ('name' in l ? [`${l.type} ${String(l.name)}`] : []));

describe.skipIf(!AVAILABLE)(TITLE, () => {
  it('lists, then watches from the list\'s resourceVersion: ADDED, MODIFIED, DELETED in order, with resourceVersions and labels', async () => {
    await namespace('py-events');
    await configMap('py-events', 'before');
    const w = watch({ namespace: 'py-events', resource: 'configmaps', listFirst: true });
    const list = await w.waitFor(is('LIST'));
    expect(list).toEqual({ type: 'LIST', resourceVersion: String(t.server.revision), names: ['before'] });
    // Written before or after the watch request arrives: either way after the list's resourceVersion, so each is seen once.
    const added = await configMap('py-events', 'x', { app: 'demo' });
    const patched = await t.c.call('PATCH', '/api/v1/namespaces/py-events/configmaps/x', { data: { n: '1' } }, 'application/merge-patch+json');
    const deleted = await t.c.call('DELETE', '/api/v1/namespaces/py-events/configmaps/x');
    await w.waitFor(is('DELETED', 'x'));
    expect(w.events.slice(1)).toEqual([
      { type: 'ADDED', name: 'x', resourceVersion: added, labels: { app: 'demo' } },
      { type: 'MODIFIED', name: 'x', resourceVersion: patched.body.metadata.resourceVersion, labels: { app: 'demo' } },
      { type: 'DELETED', name: 'x', resourceVersion: deleted.body.metadata.resourceVersion, labels: { app: 'demo' } },
    ]);
  });

  it('honours a label selector on the list and on the watch', async () => {
    await namespace('py-labels');
    await configMap('py-labels', 'keep-0', { app: 'keep' });
    await configMap('py-labels', 'drop-0', { app: 'drop' });
    const w = watch({ namespace: 'py-labels', resource: 'configmaps', labelSelector: 'app=keep', listFirst: true });
    expect(await w.waitFor(is('LIST'))).toMatchObject({ names: ['keep-0'] });
    await configMap('py-labels', 'drop-1', { app: 'drop' });
    await configMap('py-labels', 'keep-1', { app: 'keep' });
    // A change of labels moves an object into the selection: the watcher sees it as ADDED.
    await t.c.call('PATCH', '/api/v1/namespaces/py-labels/configmaps/drop-0', { metadata: { labels: { app: 'keep' } } }, 'application/merge-patch+json');
    await w.waitFor(is('ADDED', 'drop-0'));
    expect(seen(w)).toEqual(['ADDED keep-1', 'ADDED drop-0']);
  });

  it('re-watches from the last resourceVersion it saw when the server ends the stream, as the library does', async () => {
    await namespace('py-rewatch');
    const w = watch({ namespace: 'py-rewatch', resource: 'configmaps', listFirst: true });
    await w.waitFor(is('LIST'));
    await configMap('py-rewatch', 'a');
    await w.waitFor(is('ADDED', 'a'));
    t.server.clearRequestLog();
    t.server.endWatches();
    await configMap('py-rewatch', 'b');
    await w.waitFor(is('ADDED', 'b'));
    expect(seen(w)).toEqual(['ADDED a', 'ADDED b']);
    // The second watch, by the kubeconfig's user, from the resourceVersion of `a`.
    const rewatch = t.server.requestLog().find((e) => e.path === '/api/v1/namespaces/py-rewatch/configmaps' && new URLSearchParams(e.query).get('watch') === 'True');
    expect(rewatch).toMatchObject({ user: 'python-client', method: 'GET' });
    expect(new URLSearchParams(rewatch?.query).get('resourceVersion')).toBe((w.events[1] as { resourceVersion: string }).resourceVersion);
  });

  it('a compacted resourceVersion: the 410 ERROR event ends in an ApiException 410 (after the library\'s one retry), exit 3', async () => {
    await namespace('py-gone');
    const old = await configMap('py-gone', 'old');
    await configMap('py-gone', 'newer');
    t.server.compact();
    t.server.clearRequestLog();
    const w = watch({ namespace: 'py-gone', resource: 'configmaps', resourceVersion: old });
    const line = await w.waitFor(is('EXCEPTION'));
    expect(line).toMatchObject({ type: 'EXCEPTION', status: 410, reason: expect.stringMatching(/^Expired: /) });
    expect(await w.exited).toBe(EXIT_API_EXCEPTION);
    expect(seen(w)).toEqual([]);
    // Watch.stream retries once from the same resourceVersion before it raises.
    const watches = t.server.requestLog().filter((e) => e.path === '/api/v1/namespaces/py-gone/configmaps');
    expect(watches.map((e) => new URLSearchParams(e.query).get('resourceVersion'))).toEqual([old, old]);
  });

  it('ends with exit 0 at timeoutSeconds, without re-watching', async () => {
    await namespace('py-timeout');
    const w = watch({ namespace: 'py-timeout', resource: 'configmaps', timeoutSeconds: 1 });
    expect(await w.exited).toBe(0);
    expect(w.events).toEqual([]);
  });

  it('reads objects the typed models refuse when untyped (a pod without containers)', async () => {
    await namespace('py-pods');
    const pod = { metadata: { name: 'p1', labels: { role: 'edge' } }, spec: { nodeName: 'edge-1' } };
    expect((await t.c.call('POST', '/api/v1/namespaces/py-pods/pods', pod)).status).toBe(201);
    const w = watch({ namespace: 'py-pods', resource: 'pods', fieldSelector: 'spec.nodeName=edge-1', listFirst: true, untyped: true });
    expect(await w.waitFor(is('LIST'))).toMatchObject({ names: ['p1'] });
    await t.c.call('DELETE', '/api/v1/namespaces/py-pods/pods/p1');
    expect(await w.waitFor(is('DELETED', 'p1'))).toMatchObject({ labels: { role: 'edge' } });
    // The typed models refuse the same pod: the script says so and exits 4.
    const typed = watch({ namespace: 'py-pods', resource: 'pods', listFirst: true });
    await t.c.call('POST', '/api/v1/namespaces/py-pods/pods', pod);
    expect(await typed.waitFor(is('EXCEPTION'))).toMatchObject({ status: null, reason: expect.stringMatching(/containers/) });
    expect(await typed.exited).toBe(EXIT_OTHER_FAILURE);
  });

  it('verifies the server\'s certificate against the kubeconfig\'s CA: another CA is refused', async () => {
    const other = await createCertificateAuthority({ commonName: 'some-other-ca', days: 1 });
    const config = JSON.parse(await readFile(kubeconfig, 'utf8')) as { clusters: { cluster: Record<string, string> }[] };
    (config.clusters[0] as { cluster: Record<string, string> }).cluster['certificate-authority-data'] = Buffer.from(other.certPem).toString('base64');
    const wrongCa = path.join(dir, 'wrong-ca.yaml');
    await writeFile(wrongCa, JSON.stringify(config));
    const w = watch({ kubeconfig: wrongCa, namespace: 'default', resource: 'configmaps', listFirst: true });
    expect(await w.waitFor(is('EXCEPTION'))).toMatchObject({ status: null, reason: expect.stringMatching(/CERTIFICATE_VERIFY_FAILED/) });
    expect(await w.exited).toBe(EXIT_OTHER_FAILURE);
  });
});
