/**
 * lite-apiserver with real Kubernetes clients through it: Debian's kubectl
 * (lists with selectors, `get -w`) and the official Python client's watch
 * (python3-kubernetes), against the Kubernetes API test server reached over
 * a link the test cuts. One story, in order: online; the upstream cut off
 * (watches carry on from the cache, two selectors get their own answers);
 * the proxy restarted while offline (sqlite storage); the upstream back with
 * changes made meanwhile (the watch resumes upstream and sees them); a stale
 * resourceVersion (410 Gone).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../core/kernel/index.ts';
import type { LiteApiserver } from '../core/lite-apiserver/index.ts';
import { rawClient, type RawClient } from './support/kube-apiserver/client.ts';
import { APP_TOKEN, startLiteBed, type LiteBed } from './support/lite-apiserver.ts';
import { pythonKubernetesAvailable, startPythonWatch, type PythonWatch, type PythonWatchLine } from './support/python-kube.ts';

const run = promisify(execFile);
const KUBECTL = process.env.EDGEADM_KUBECTL ?? '/usr/bin/kubectl';
const NS = 'edge';
const base = `/api/v1/namespaces/${NS}/configmaps`;
const cm = (name: string, tier: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { tier } }, data: { v: '1' } });

if (!existsSync(KUBECTL)) throw new Error(`no kubectl at ${KUBECTL}: install Debian's kubernetes-client (.ci/run does) or set EDGEADM_KUBECTL`);
if (!pythonKubernetesAvailable()) throw new Error("Debian's python3-kubernetes is missing for /usr/bin/python3: apt-get install python3-kubernetes (.ci/run does)");

let bed: LiteBed;
let admin: RawClient;
let lite: LiteApiserver;
let port: number;
const watches: PythonWatch[] = [];

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const start = async (): Promise<LiteApiserver> => bed.start({ listen: { host: '127.0.0.1', port }, storage: { driver: 'sqlite', path: `${bed.dir}/lite.db` } });

async function kubectl(kubeconfig: string, ...args: string[]): Promise<string> {
  // A fresh discovery cache each time: kubectl's discovery goes through the proxy too.
  const r = await run(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', `${bed.dir}/kubectl-cache-${Date.now()}-${Math.random()}`, ...args], { timeout: 20_000 });
  return r.stdout;
}
const names = async (kubeconfig: string, selector: string): Promise<string[]> =>
  (await kubectl(kubeconfig, 'get', 'configmaps', '-n', NS, '-l', selector, '-o', 'name')).split('\n').filter((l) => l !== '').map((l) => l.replace('configmap/', ''));
const isEvent = (type: string, name: string) => (l: PythonWatchLine) => l.type === type && 'name' in l && l.name === name;

beforeAll(async () => {
  bed = await startLiteBed();
  admin = rawClient(bed.kube);
  await admin.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  for (const [n, t] of [['a', 'web'], ['b', 'db'], ['c', 'web']] as const) await admin.call('POST', base, cm(n, t));
  port = await freePort();
  lite = await start();
});

afterAll(async () => {
  for (const w of watches) await w.stop();
  await lite?.close();
  await admin?.close();
  await bed?.close();
});

describe('lite-apiserver with kubectl and the Python client through it', () => {
  let asNode: string;
  let asApp: string;
  let python: PythonWatch;
  let lastRv = '';

  it('online: kubectl and the Python watch get the upstream, each identity and selector its own answer', async () => {
    asNode = await bed.kubeconfig(lite, 'node', 'node');
    asApp = await bed.kubeconfig(lite, { token: APP_TOKEN }, 'app');
    expect(await names(asNode, 'tier=web')).toEqual(['a', 'c']);
    expect(await names(asNode, 'tier=db')).toEqual(['b']);
    expect(await names(asApp, 'tier=db')).toEqual(['b']);
    python = startPythonWatch({ kubeconfig: asNode, namespace: NS, resource: 'configmaps', labelSelector: 'tier=web', listFirst: true });
    watches.push(python);
    const listed = await python.waitFor((l) => l.type === 'LIST');
    expect(listed).toMatchObject({ names: ['a', 'c'] });
    await admin.call('POST', base, cm('d', 'web'));
    await python.waitFor(isEvent('ADDED', 'd'));
    expect(lite.status().state).toBe('online');
    expect(lite.status().requests.upstream).toBeGreaterThan(0);
  });

  it('upstream cut: the watch carries on from the cache, kubectl lists per selector at once', async () => {
    bed.link.down();
    const t0 = Date.now();
    expect(await names(asNode, 'tier=web')).toEqual(['a', 'c', 'd']);
    expect(await names(asNode, 'tier=db')).toEqual(['b']);
    expect(await names(asApp, 'tier=db')).toEqual(['b']);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(lite.status().state).toBe('offline');
    // The Python client re-watched when its stream ended: the proxy holds it open from the cache (no error, no exit).
    await until('the Python watch served offline', () => lite.status().watches.offline >= 1);
    expect(python.events.some((l) => l.type === 'EXCEPTION')).toBe(false);
    // The app's token listed only tier=db online: tier=web is not answered for it offline.
    await expect(names(asApp, 'tier=web')).rejects.toThrow(/nothing cached answers list/);
    const d = python.events.find(isEvent('ADDED', 'd'));
    lastRv = d !== undefined && 'resourceVersion' in d ? (d.resourceVersion ?? '') : '';
    expect(lastRv).not.toBe('');
  });

  it('kubectl get -w stays open offline', async () => {
    const w = spawn(KUBECTL, ['--kubeconfig', asNode, '--cache-dir', `${bed.dir}/kubectl-w`, 'get', 'configmaps', '-n', NS, '-l', 'tier=web', '-w', '-o', 'name'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    w.stdout.on('data', (b: Buffer) => (out += b.toString()));
    w.stderr.on('data', (b: Buffer) => (err += b.toString()));
    let exited = false;
    w.on('exit', () => (exited = true));
    try {
      await until(`kubectl get -w to print the list (stderr: ${err})`, () => out.includes('configmap/d'));
      await new Promise((r) => setTimeout(r, 1000));
      expect(exited).toBe(false);
    } finally {
      w.kill('SIGTERM');
    }
  });

  it('the proxy restarted while offline answers from its cache, and a watch resumes from the version the client had', async () => {
    await python.stop();
    await lite.close();
    lite = await start();
    expect(lite.status().state).toBe('offline');
    expect(await names(asNode, 'tier=web')).toEqual(['a', 'c', 'd']);
    python = startPythonWatch({ kubeconfig: asNode, namespace: NS, resource: 'configmaps', labelSelector: 'tier=web', resourceVersion: lastRv });
    watches.push(python);
    await until('the resumed watch held open offline', () => lite.status().watches.offline >= 1);
  });

  it('upstream back with changes made meanwhile: resynced, then the watch goes upstream and sees them', async () => {
    await admin.call('DELETE', `${base}/a`);
    await admin.call('POST', base, cm('e', 'web'));
    bed.link.up();
    await until('online', () => lite.status().state === 'online');
    await python.waitFor(isEvent('DELETED', 'a'));
    await python.waitFor(isEvent('ADDED', 'e'));
    expect(await names(asNode, 'tier=web')).toEqual(['c', 'd', 'e']);
    // Cut again: the resync re-listed before going online, so the cache has the cloud's changes.
    bed.link.down();
    expect(await names(asNode, 'tier=web')).toEqual(['c', 'd', 'e']);
    bed.link.up();
    await until('online', () => lite.status().state === 'online');
  });

  it('a stale resourceVersion gets 410 Gone, online from the upstream and offline from the proxy', async () => {
    bed.kube.compact();
    const online = startPythonWatch({ kubeconfig: asNode, namespace: NS, resource: 'configmaps', labelSelector: 'tier=web', resourceVersion: '1', timeoutSeconds: 5 });
    watches.push(online);
    expect(await online.waitFor((l) => l.type === 'EXCEPTION')).toMatchObject({ status: 410 });
    bed.link.down();
    await names(asNode, 'tier=web');
    expect(lite.status().state).toBe('offline');
    const offline = startPythonWatch({ kubeconfig: asNode, namespace: NS, resource: 'configmaps', labelSelector: 'tier=web', resourceVersion: '1', timeoutSeconds: 5 });
    watches.push(offline);
    expect(await offline.waitFor((l) => l.type === 'EXCEPTION')).toMatchObject({ status: 410 });
    bed.link.up();
  });
});
