/**
 * Joining a node with the CLI alone, as an operator does: `edgeadm token
 * create --print-join-command` on the hub side, the printed `edgeadm join` on
 * the node, then the node's tunnel up. Bad arguments are usage errors (exit
 * 2), refusals by the hub are errors (exit 1) that say what to do. Joining
 * again keeps the node's identity even when the machine's hostname changed:
 * the test runs edgeadm in UTS namespaces of its own (`unshare --uts`, as
 * root) with the hostnames it sets there.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../core/hub/index.ts';
import { EDGEADM_BIN, runEdgeadm, startProcess, type CliResult } from './support/edgeadm-cli.ts';
import { quiet, tempDir, waitFor } from './support/hub-fixture.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(repo, 'cli/bin/edgeadm.js');
let hub: Hub;
let dir: string;

function edgeadm(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, EDGEADM_CONFIG: '', EDGEADM_HUB: '', EDGEADM_TOKEN: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const hubArgs = (): string[] => ['--hub', hub.url, '--token-file', hub.adminTokenFile, '--ca-file', hub.caFile!];

beforeAll(async () => {
  dir = tempDir('join-cli');
  hub = await startHub({ dataDir: path.join(dir, 'hub'), port: 0, logger: quiet, tls: true });
  await hub.store.apply({ apiVersion: 'edgeadm.io/v1alpha1', kind: 'Site', metadata: { name: 'plant-a' }, spec: {} });
}, 30_000);

afterAll(async () => {
  await hub?.close();
});

describe('edgeadm token and join', () => {
  it('creates a bootstrap token with the join command, and the node joins with exactly that command', async () => {
    const created = await edgeadm(['token', 'create', '--site', 'plant-a', '--ttl', '2h', '--print-join-command', ...hubArgs()]);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    const line = created.stdout.trim();
    expect(line).toMatch(/^edgeadm join https:\/\/127\.0\.0\.1:\d+ --token [a-z0-9]{6}\.[a-z0-9]{16} --site plant-a --ca-cert-hash sha256:[0-9a-f]{64}$/);
    const nodeDir = path.join(dir, 'gw-7');
    const joinArgs = [...line.split(' ').slice(1), '--node', 'gw-7', '--data-dir', nodeDir, '--no-run', '--ssh-host-key-dir', path.join(dir, 'none')];
    const joined = await edgeadm(joinArgs);
    expect(joined).toMatchObject({ code: 0, stdout: "node 'gw-7' joined site 'plant-a' at " + hub.url + '\n' });
    expect(statSync(path.join(nodeDir, 'node.credential')).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(nodeDir, 'hub-ca.crt'), 'utf8')).toBe(hub.caCert);
    expect((await hub.store.get('Node', 'gw-7'))?.spec).toMatchObject({ site: 'plant-a' });
    // Again, without a token: the kept credential is used, nothing new is issued.
    const tokensBefore = (await hub.tokens.list()).filter((t) => t.node === 'gw-7').length;
    const again = await edgeadm(['join', hub.url, '--node', 'gw-7', '--data-dir', nodeDir, '--no-run']);
    expect(again.code).toBe(0);
    expect((await hub.tokens.list()).filter((t) => t.node === 'gw-7').length).toBe(tokensBefore);
    // The listed token shows one use, and no secret.
    const listed = await edgeadm(['token', 'list', '-o', 'json', ...hubArgs()]);
    const items = JSON.parse(listed.stdout) as { id: string; uses: number; site: string }[];
    const id = /--token ([a-z0-9]{6})\./.exec(line)![1]!;
    expect(items.find((t) => t.id === id)).toMatchObject({ uses: 1, site: 'plant-a' });
    expect(listed.stdout).not.toContain(/--token [a-z0-9]{6}\.([a-z0-9]{16})/.exec(line)![1]!);
    // Deleted, the token joins nothing more.
    expect(await edgeadm(['token', 'delete', id, ...hubArgs()])).toMatchObject({ code: 0 });
    const late = await edgeadm([...line.split(' ').slice(1), '--node', 'gw-8', '--data-dir', path.join(dir, 'gw-8'), '--no-run']);
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/EDGE_ERR_HUB_UNAUTHENTICATED.*bootstrap token/);
  });

  it('runs the node after joining: its tunnel comes up', async () => {
    const created = await edgeadm(['token', 'create', '--print-join-command', ...hubArgs()]);
    const line = created.stdout.trim().replace('--site <site>', '--site plant-a');
    const child = spawn(process.execPath, [bin, ...line.split(' ').slice(1), '--node', 'gw-9', '--data-dir', path.join(dir, 'gw-9'), '--no-broker', '--log-level', 'silent'], {
      env: { ...process.env, EDGEADM_CONFIG: '' },
    });
    try {
      await waitFor('gw-9 connected', () => hub.tunnel.cloud.nodes().includes('gw-9'), 30_000);
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
    await waitFor('gw-9 gone after Ctrl-C', () => !hub.tunnel.cloud.nodes().includes('gw-9'));
  });

  it('says which argument is wrong (exit 2) and why the hub refused (exit 1)', async () => {
    expect(await edgeadm(['token', 'create', '--ttl', '99d', ...hubArgs()])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--ttl/) });
    expect(await edgeadm(['token', 'delete', 'NOPE', ...hubArgs()])).toMatchObject({ code: 2, stderr: expect.stringMatching(/<id>/) });
    expect(await edgeadm(['join', 'not a url', '--token', 'abcdef.0123456789abcdef', '--site', 'plant-a', '--data-dir', path.join(dir, 'x1')])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/<hub-url>/),
    });
    expect(await edgeadm(['join', hub.url, '--token', 'short', '--site', 'plant-a', '--data-dir', path.join(dir, 'x2')])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--token/) });
    expect(await edgeadm(['join', hub.url, '--token', 'abcdef.0123456789abcdef', '--site', 'plant-a', '--ca-cert-hash', 'md5:00', '--data-dir', path.join(dir, 'x3')])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--ca-cert-hash/),
    });
    const wrongPin = await edgeadm(['join', hub.url, '--token', 'abcdef.0123456789abcdef', '--site', 'plant-a', '--ca-cert-hash', `sha256:${'0'.repeat(64)}`, '--data-dir', path.join(dir, 'x4'), '--no-run']);
    expect(wrongPin).toMatchObject({ code: 1, stderr: expect.stringMatching(/EDGE_ERR_JOIN_CA_MISMATCH/) });
    const untrusted = await edgeadm(['join', hub.url, '--token', 'abcdef.0123456789abcdef', '--site', 'plant-a', '--data-dir', path.join(dir, 'x5'), '--no-run']);
    expect(untrusted).toMatchObject({ code: 1, stderr: expect.stringMatching(/--ca-file or --ca-cert-hash/) });
    expect(existsSync(path.join(dir, 'x5', 'node.credential'))).toBe(false);
  });
});

/** `edgeadm <args>` on a machine whose hostname is `name`: a UTS namespace of its own (needs root). */
const onHost = (name: string, args: readonly string[]): string[] => ['--uts', 'sh', '-c', `hostname ${name} && exec "$0" "$@"`, process.execPath, EDGEADM_BIN, ...args];
function runOnHost(name: string, args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = startProcess('unshare', onHost(name, args), { EDGEADM_HUB: undefined, EDGEADM_TOKEN: undefined });
    void p.exited.then((code) => resolve({ code: code ?? 1, stdout: p.out(), stderr: p.err() }));
  });
}

describe('edgeadm join again, on a machine whose hostname changed', () => {
  it('keeps the node it joined as; a --node that contradicts it is a usage error naming both', async () => {
    const created = await edgeadm(['token', 'create', '--site', 'plant-a', '--print-join-command', ...hubArgs()]);
    const line = created.stdout.trim();
    const nodeDir = path.join(dir, 'renamed');
    // First join, no --node: the hostname names the node.
    const first = await runOnHost('host-alpha', [...line.split(' ').slice(1), '--data-dir', nodeDir, '--no-run', '--ssh-host-key-dir', path.join(dir, 'none')]);
    expect(first, first.stderr).toMatchObject({ code: 0, stdout: `node 'host-alpha' joined site 'plant-a' at ${hub.url}\n` });
    const credentials = (await hub.tokens.list()).filter((t) => t.node === 'host-alpha').map((t) => t.id);
    expect(credentials).toHaveLength(1);

    // The machine is renamed; the same join runs the node it joined as, on its kept credential.
    const again = startProcess('unshare', onHost('host-beta', ['join', hub.url, '--data-dir', nodeDir, '--no-broker', '--log-level', 'silent']), { EDGEADM_HUB: undefined, EDGEADM_TOKEN: undefined });
    try {
      await waitFor('host-alpha connected from the renamed machine', () => hub.tunnel.cloud.nodes().includes('host-alpha'), 30_000);
      expect(again.out()).toContain("running on node 'host-alpha'");
    } finally {
      await again.stop('SIGINT');
    }
    expect(await hub.store.get('Node', 'host-beta')).toBeUndefined();
    expect((await hub.tokens.list()).filter((t) => t.node === 'host-alpha').map((t) => t.id)).toEqual(credentials);

    // Naming the node it is: fine. Naming another: exit 2, both names said, nothing changed.
    expect(await runOnHost('host-beta', ['join', hub.url, '--data-dir', nodeDir, '--node', 'host-alpha', '--no-run'])).toMatchObject({ code: 0 });
    const contradicting = await runOnHost('host-beta', ['join', hub.url, '--data-dir', nodeDir, '--node', 'host-beta', '--no-run']);
    expect(contradicting.code).toBe(2);
    expect(contradicting.stderr).toMatch(/--node: .* holds node 'host-alpha', and --node says 'host-beta'/);
    expect(contradicting.stderr).toContain('edgeadm reset --data-dir');
    expect(await hub.store.get('Node', 'host-beta')).toBeUndefined();
    expect(JSON.parse(readFileSync(path.join(nodeDir, 'node.json'), 'utf8'))).toMatchObject({ node: 'host-alpha', site: 'plant-a' });
  }, 120_000);

  it('says so when the kept identity is not one, instead of crashing', async () => {
    const nodeDir = tempDir('join-broken');
    writeFileSync(path.join(nodeDir, 'node.json'), '{"hub": "https://x",');
    const broken = await runEdgeadm(['join', hub.url, '--data-dir', nodeDir, '--no-run']);
    expect(broken).toMatchObject({ code: 1, stderr: expect.stringMatching(/EDGE_ERR_JOIN_IDENTITY.*node\.json is not a node identity.*edgeadm reset --data-dir/) });
    writeFileSync(path.join(nodeDir, 'node.json'), '{"hub": "https://x"}');
    expect(await runEdgeadm(['join', hub.url, '--data-dir', nodeDir, '--no-run'])).toMatchObject({ code: 1, stderr: expect.stringContaining('no site, node, tunnelUrl, credentialFile') });
  }, 60_000);
});
