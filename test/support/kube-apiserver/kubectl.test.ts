/**
 * kubectl, a real Kubernetes client, against the Kubernetes API test
 * server: `apply -f` of a CRD and then of a custom resource (created, then
 * configured: client-side apply GETs the object and PATCHes it with the
 * last-applied annotation), `get -o yaml`, `get -w` seeing a later change,
 * `delete -f`. Run with the machine's kubectl (/usr/bin/kubectl, 1.32 on
 * the image; Debian's kubernetes-client 1.20 on a fresh CI machine) and,
 * when present, a second, older kubectl at EDGEADM_KUBECTL_LEGACY (or
 * /opt/kubectl-1.20/usr/bin/kubectl, unpacked from Debian's kubernetes-client .deb).
 *
 * What each version asks for: 1.32 tries /openapi/v3 (404 here: it falls
 * back), then /openapi/v2 as protobuf for client-side validation and sends
 * fieldValidation=Strict; 1.20 asks /openapi/v2 as protobuf only. The server
 * answers an empty (valid) protobuf document, so both validate every kind as
 * unknown and no test needs --validate=false. Both ask for Table output and
 * print plain lists themselves when the server answers none.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { rawClient } from './client.ts';
import { startKubeApiServer, type KubeApiServer } from './index.ts';

const run = promisify(execFile);

const MAIN = process.env.EDGEADM_KUBECTL ?? '/usr/bin/kubectl';
const LEGACY_CANDIDATES = [process.env.EDGEADM_KUBECTL_LEGACY, '/opt/kubectl-1.20/usr/bin/kubectl'].filter((p): p is string => p !== undefined && p !== '');
const LEGACY = LEGACY_CANDIDATES.find((p) => existsSync(p));

const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}
              color: {type: string}
`;

const widget = (size: number): string => `apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
  labels: {app: demo}
spec:
  size: ${size}
`;

/** The whole kubectl flow against a fresh server; `kubectl` is the binary to run. */
async function kubectlFlow(kubectl: string): Promise<void> {
  if (!existsSync(kubectl)) throw new Error(`no kubectl at ${kubectl}: install Debian's kubernetes-client (apt-get install kubernetes-client) or point EDGEADM_KUBECTL at one`);
  const server = await startKubeApiServer();
  const dir = await mkdtemp(path.join(tmpdir(), 'kubectl-'));
  try {
    const kubeconfig = await server.kubeconfig(dir);
    await flow(kubectl, server, kubeconfig, dir);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function flow(kubectl: string, server: KubeApiServer, kubeconfig: string, dir: string): Promise<void> {
  const k = async (...args: string[]): Promise<string> => {
    const r = await run(kubectl, ['--kubeconfig', kubeconfig, ...args], { timeout: 15_000 });
    return r.stdout;
  };
  const file = async (name: string, text: string): Promise<string> => {
    const p = path.join(dir, name);
    await writeFile(p, text);
    return p;
  };

  const crd = await file('crd.yaml', CRD);
  expect(await k('apply', '-f', crd)).toContain('customresourcedefinition.apiextensions.k8s.io/widgets.example.com created');
  // What `kubectl wait --for condition=established` waits for: the type is served only then.
  expect(await k('wait', '--for', 'condition=established', '--timeout=10s', 'crd/widgets.example.com')).toContain('condition met');
  const w = await file('w1.yaml', widget(1));
  expect(await k('apply', '-f', w)).toContain('widget.example.com/w1 created');
  await writeFile(w, widget(2));
  // Client-side apply: GET, then PATCH (merge patch for a custom resource) with the last-applied annotation.
  expect(await k('apply', '-f', w)).toContain('widget.example.com/w1 configured');
  expect(await k('apply', '-f', w)).toContain('widget.example.com/w1 unchanged');
  const yaml = await k('get', 'widgets', '-o', 'yaml');
  expect(yaml).toContain('kind: Widget');
  expect(yaml).toContain('size: 2');
  expect(yaml).toContain('generation: 2');
  expect(yaml).toContain('kubectl.kubernetes.io/last-applied-configuration');
  expect(await k('get', 'wd', '-l', 'app=demo', '-o', 'name')).toBe('widget.example.com/w1\n');

  // The server validates against the CRD's schema: kubectl shows the 422.
  await writeFile(w, widget(0));
  await expect(k('apply', '-f', w)).rejects.toThrow(/spec\.size: Invalid value: 0: spec\.size in body should be greater than or equal to 1/);

  const watcher = spawn(kubectl, ['--kubeconfig', kubeconfig, 'get', 'widgets', '-w', '-o', 'name'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  watcher.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const lines = (): number => out.split('\n').filter((l) => l.includes('widget.example.com/w1')).length;
  const until = async (cond: () => boolean, what: string): Promise<void> => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
    if (!cond()) throw new Error(`kubectl get -w: ${what}; output so far: ${out}`);
  };
  try {
    await until(() => lines() >= 1, 'no initial line');
    const c = rawClient(server);
    await c.call('PATCH', '/apis/example.com/v1/namespaces/default/widgets/w1', { spec: { color: 'blue' } }, 'application/merge-patch+json');
    await c.close();
    await until(() => lines() >= 2, 'the change was not seen');
  } finally {
    watcher.kill('SIGTERM');
  }

  expect(await k('delete', '-f', w)).toContain('widget.example.com "w1" deleted');
  const after = await run(kubectl, ['--kubeconfig', kubeconfig, 'get', 'widgets'], { timeout: 15_000 });
  expect(`${after.stdout}${after.stderr}`).toContain('No resources found');
  expect(await k('delete', '-f', crd)).toContain('deleted');
}

const FLOW = 'applies a CRD, then a custom resource twice (created, configured), gets it as YAML, sees a change with get -w, deletes it';

// Each version against its own server, both at once.
describe.concurrent('kubectl against the test server', () => {
  it(`kubectl at ${MAIN}: ${FLOW}`, () => kubectlFlow(MAIN));
  it.skipIf(LEGACY === undefined)(`older kubectl at ${LEGACY ?? `(none at ${LEGACY_CANDIDATES.join(', ')})`}: ${FLOW}`, () => kubectlFlow(LEGACY as string));
});
