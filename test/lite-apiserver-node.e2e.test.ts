/**
 * A Kubernetes-mode edge node as an operator runs it: `edgeadm join` with
 * `--kubeconfig` (the node's own credential) starts lite-apiserver beside the
 * site agent; the node's components reach the cloud's API server through it;
 * the cloud is cut off and they are answered from its cache; the agent tells
 * the hub at once, and `edgeadm node list` and `node show` say so. The join
 * flags are checked as usage errors first.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../core/hub/index.ts';
import { freePort } from '../core/kernel/index.ts';
import { rawClient } from './support/kube-apiserver/client.ts';
import { runEdgeadm, startEdgeadm, type Background } from './support/edgeadm-cli.ts';
import { startHubFixture, quiet, tempDir, waitFor } from './support/hub-fixture.ts';
import { startSiteAgent } from '../sites/index.ts';
import { NODE, startLiteBed, type LiteBed } from './support/lite-apiserver.ts';

let hub: Hub;
let bed: LiteBed;
let dir: string;
let node: Background | undefined;
const hubArgs = (): string[] => ['--hub', hub.url, '--token-file', hub.adminTokenFile, '--ca-file', hub.caFile as string];

beforeAll(async () => {
  dir = tempDir('lite-node');
  hub = await startHub({ dataDir: path.join(dir, 'hub'), port: 0, logger: quiet, tls: true });
  await hub.store.apply({ apiVersion: 'edgeadm.io/v1alpha1', kind: 'Site', metadata: { name: 'k8s-a' }, spec: {} });
  bed = await startLiteBed();
}, 30_000);

afterAll(async () => {
  await node?.stop();
  await bed?.close();
  await hub?.close();
});

describe('edgeadm join --kubeconfig', () => {
  let joinArgs: string[];
  let port: number;

  it('asks for every lite-apiserver flag with --kubeconfig, and none without', async () => {
    const created = await runEdgeadm(['token', 'create', '--site', 'k8s-a', '--print-join-command', ...hubArgs()]);
    expect(created.code, created.stderr).toBe(0);
    joinArgs = [...created.stdout.trim().split(' ').slice(1), '--node', NODE, '--data-dir', path.join(dir, 'node'), '--broker-port', '0', '--ssh-host-key-dir', path.join(dir, 'none')];
    const noStorage = await runEdgeadm([...joinArgs, '--kubeconfig', bed.nodeKubeconfig]);
    expect(noStorage).toMatchObject({ code: 2, stderr: expect.stringMatching(/--lite-apiserver-storage: is required with --kubeconfig: choose 'file'/) });
    const noCert = await runEdgeadm([...joinArgs, '--kubeconfig', bed.nodeKubeconfig, '--lite-apiserver-storage', 'sqlite']);
    expect(noCert).toMatchObject({ code: 2, stderr: expect.stringMatching(/--lite-apiserver-cert-file: is required with --kubeconfig/) });
    const stray = await runEdgeadm([...joinArgs, '--lite-apiserver-storage', 'file']);
    expect(stray).toMatchObject({ code: 2, stderr: expect.stringMatching(/--lite-apiserver-storage: only means something with --kubeconfig/) });
  });

  it("runs lite-apiserver beside the agent; cut from the cloud, the node's components are answered from its cache and the hub is told", async () => {
    const pki = path.join(dir, 'pki');
    mkdirSync(pki);
    const files = { cert: path.join(pki, 'lite.crt'), key: path.join(pki, 'lite.key'), ca: path.join(pki, 'ca.crt') };
    writeFileSync(files.cert, bed.serving.certPem);
    writeFileSync(files.key, bed.serving.keyPem, { mode: 0o600 });
    writeFileSync(files.ca, bed.ca.certPem);
    port = await freePort();
    node = startEdgeadm([
      ...joinArgs,
      '--kubeconfig', bed.nodeKubeconfig,
      '--lite-apiserver-storage', 'file',
      '--lite-apiserver-cert-file', files.cert,
      '--lite-apiserver-key-file', files.key,
      '--client-ca-file', files.ca,
      '--lite-apiserver-port', String(port),
      '--log-level', 'warn',
    ]);
    await waitFor('lite-apiserver running', () => node?.out().includes(`lite-apiserver on https://127.0.0.1:${port} (online`), 60_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; output: ${node?.output() ?? ''}`);
    });
    // The kubelet's view: its certificate, through the node's proxy.
    const admin = rawClient(bed.kube);
    await admin.call('POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kube-root' }, data: { a: '1' } });
    await admin.close();
    const kubelet = bed.client({ url: `https://127.0.0.1:${port}` }, 'node');
    const online = await kubelet.call('GET', '/api/v1/namespaces/default/configmaps');
    expect(online.status).toBe(200);
    const report = async () => ((await hub.store.get('Site', 'k8s-a'))?.status as { agents?: Record<string, { liteApiserver?: { state: string } }> } | undefined)?.agents?.[`node:${NODE}`]?.liteApiserver;
    await waitFor('the online report', async () => (await report())?.state === 'online', 30_000);

    bed.link.down();
    const offline = await kubelet.call('GET', '/api/v1/namespaces/default/configmaps');
    expect(offline.status).toBe(200);
    expect(offline.body).toEqual(online.body);
    await waitFor('the offline report', async () => (await report())?.state === 'offline', 15_000);

    const listed = await runEdgeadm(['node', 'list', '--site', 'k8s-a', ...hubArgs()]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`${NODE}\\s.*\\soffline \\d+s`));
    const shown = await runEdgeadm(['node', 'show', NODE, ...hubArgs()]);
    expect(shown.stdout).toMatch(/lite-apiserver:\s+offline since .*: the node answers its components from its cache/);
    // As reported when the state changed (the next report, at most 30 s later, counts the answers since).
    expect(shown.stdout).toMatch(/lite-apiserver cache:\s+\d+\.\d KiB in [1-9]\d* entries; \d+ answered offline, 0 not cached/);
    expect(shown.stdout).toMatch(/lite-apiserver outages:\s+1 \(/);

    bed.link.up();
    await waitFor('the online report again', async () => (await report())?.state === 'online', 15_000);
  });
});

describe('a lite-apiserver that cannot start', () => {
  it("is the agent's reported problem, not the end of the agent", async () => {
    const f = await startHubFixture();
    try {
      await f.apply({ kind: 'Site', metadata: { name: 'k8s-b' }, spec: {} });
      // The node given the cluster admin's credential: refused, as it must never present one.
      const file = path.join(dir, 'admin.kubeconfig');
      const cfg = JSON.parse(readFileSync(bed.nodeKubeconfig, 'utf8')) as { users: { user: { token: string } }[] };
      (cfg.users[0] as { user: { token: string } }).user.token = bed.kube.token;
      writeFileSync(file, JSON.stringify(cfg));
      const agent = await startSiteAgent({
        site: 'k8s-b',
        hubUrl: f.hub.url,
        token: await f.agentToken('k8s-b'),
        dataDir: tempDir('lite-failed'),
        logger: quiet,
        broker: false,
        syncBackoff: { initialMs: 50, maxMs: 500 },
        liteApiserver: bed.options({ kubeconfig: file, storage: { driver: 'file', path: path.join(dir, 'failed-cache') } }),
      });
      try {
        expect(agent.status().liteApiserver).toMatchObject({ state: 'failed', error: expect.stringContaining('cluster-admin credential') });
        expect(agent.status().health.problems).toEqual([expect.objectContaining({ component: 'lite-apiserver', code: 'EDGE_ERR_LITE_APISERVER_ADMIN_CREDENTIAL' })]);
        const reported = async () => Object.values(((await f.hub.store.get('Site', 'k8s-b'))?.status as { agents?: Record<string, { liteApiserver?: { state: string } }> } | undefined)?.agents ?? {})[0]?.liteApiserver;
        await waitFor('the failure reported to the hub', async () => (await reported())?.state === 'failed');
      } finally {
        await agent.stop();
      }
    } finally {
      await f.hub.close();
    }
  });
});
