/**
 * `edgeadm ssh` and `edgeadm port-forward` as a user runs them: the real
 * binary, a hub over TLS, a node joined with its sshd host key and connected
 * through tunnel-edge, and a real OpenSSH sshd on the node's loopback. Then
 * the node joins again (with `edgeadm join`) reporting another host key:
 * `ssh` refuses until an admin checks `edgeadm node show` and confirms with
 * `edgeadm node trust-host-keys` (or drops it with `reject-host-keys`).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../core/hub/index.ts';
import { startTunnelEdge, type TunnelEdge } from '../core/tunnel/index.ts';
import { runEdgeadm } from './support/edgeadm-cli.ts';
import { quiet, tempDir, waitFor } from './support/hub-fixture.ts';
import { startSshd, type Sshd } from './support/sshd.ts';
import { serveEcho, type TcpService } from './support/tcp-services.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(repo, 'cli/bin/edgeadm.js');

let hub: Hub;
let sshd: Sshd;
let edge: TunnelEdge;
let echo: TcpService;
let tokenFile: string;
let caFile: string;
let dispatcher: Agent;

async function api(method: string, p: string, body?: unknown, token?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${hub.url}${p}`, {
    method,
    dispatcher,
    headers: { authorization: `Bearer ${token ?? readFileSync(tokenFile, 'utf8').trim()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

function edgeadm(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // Hub options go right after the command: everything after `--` is the remote command.
    const [command, ...rest] = args;
    const child = spawn(process.execPath, [bin, command!, '--hub', hub.url, '--token-file', tokenFile, '--ca-file', caFile, ...rest], {
      env: { ...process.env, EDGEADM_CONFIG: '', SSH_AUTH_SOCK: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input ?? '');
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  const dir = tempDir('ssh-e2e');
  hub = await startHub({ dataDir: path.join(dir, 'hub'), port: 0, logger: quiet, tls: true });
  tokenFile = hub.adminTokenFile;
  caFile = hub.caFile!;
  dispatcher = new Agent({ connect: { ca: hub.caCert! } });
  sshd = await startSshd();
  echo = await serveEcho();
  await api('PUT', '/api/v1/sites/plant-a', { apiVersion: 'edgeadm.io/v1alpha1', kind: 'Site', metadata: { name: 'plant-a' }, spec: {} });
  const bt = await api('POST', '/api/v1/bootstrap-tokens', { site: 'plant-a' });
  const j = await api('POST', '/api/v1/join', { site: 'plant-a', node: 'gw-1', sshHostKeys: [sshd.hostKeyLine] }, bt.body.token as string);
  expect(j.status).toBe(201);
  await runEdge(j.body.credential as string);
}, 60_000);

/** gw-1's tunnel-edge on `credential` (a join revokes the one before). */
async function runEdge(credential: string): Promise<void> {
  await edge?.stop();
  edge = startTunnelEdge({
    url: hub.tunnelUrl,
    node: 'gw-1',
    credential,
    allow: [`127.0.0.1:${sshd.port}`, `127.0.0.1:${echo.port}`],
    tls: { ca: hub.caCert! },
    logger: quiet,
  });
  await edge.whenConnected();
}

afterAll(async () => {
  await edge?.stop();
  await sshd?.stop();
  await echo?.close();
  await hub?.close();
  await dispatcher?.close();
});

describe('edgeadm ssh through the tunnel', () => {
  it('runs a command on the node and exits with its exit code', async () => {
    const r = await edgeadm(['ssh', `${sshd.user}@gw-1`, '-p', String(sshd.port), '-i', sshd.clientKeyFile, '--', 'echo hello from $(hostname); exit 3']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^hello from /);
    expect(r.code).toBe(3);
    // sshd saw the login come from the node's own loopback: the tunnel-edge dialled it.
    expect(sshd.log()).toMatch(/Accepted publickey for \S+ from 127\.0\.0\.1/);
  });

  it("reads the node's agent logs with journalctl over the same path (edgeadm logs)", async () => {
    const before = (sshd.log().match(/Accepted publickey/g) ?? []).length;
    const r = await edgeadm(['logs', `${sshd.user}@gw-1`, '-p', String(sshd.port), '-i', sshd.clientKeyFile, '-n', '50', '--since', '1 hour ago']);
    // journalctl's own answer (this test machine has no journal for the unit): success, and one more login at the node's sshd.
    expect(r.code, r.stderr).toBe(0);
    expect((sshd.log().match(/Accepted publickey/g) ?? []).length).toBe(before + 1);
    const bad = await edgeadm(['logs', 'gw-1', '--since', '$(reboot)']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--since: '\$\(reboot\)' is not a time journalctl takes/);
  });

  it('pipes standard input to the remote command', async () => {
    const r = await edgeadm(['ssh', 'gw-1', '-l', sshd.user, '-p', String(sshd.port), '-i', sshd.clientKeyFile, '--', 'wc -c'], 'x'.repeat(100_000));
    expect(r.stdout.trim()).toBe('100000');
    expect(r.code).toBe(0);
  });

  // Five `edgeadm` processes, one after another: on two busy cores each may take ten seconds to start.
  it('says why when the caller, the node or the port is wrong', { timeout: 150_000 }, async () => {
    const viewer = await api('POST', '/api/v1/tokens', { role: 'viewer' });
    const viewerFile = path.join(tempDir('ssh-viewer'), 'viewer.token');
    writeFileSync(viewerFile, viewer.body.token as string);
    const asViewer = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, 'ssh', 'gw-1', '-p', String(sshd.port), '-i', sshd.clientKeyFile, '--hub', hub.url, '--token-file', viewerFile, '--ca-file', caFile, '--', 'true'], {
        env: { ...process.env, EDGEADM_CONFIG: '' },
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('exit', (code) => resolve({ code, stderr }));
    });
    expect(asViewer).toMatchObject({ code: 1, stderr: expect.stringMatching(/EDGE_ERR_HUB_FORBIDDEN/) });
    expect(await edgeadm(['ssh', 'gw-9', '-i', sshd.clientKeyFile, '--', 'true'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/not found/) });
    expect(await edgeadm(['ssh', 'gw-1', '-p', '2', '-i', sshd.clientKeyFile, '--known-hosts', sshd.dir + '/host_key.pub', '--', 'true'])).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/EDGE_ERR_TUNNEL_NOT_ALLOWED/),
    });
    expect(await edgeadm(['ssh', 'Bad_Node', '--', 'true'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/<node>/) });
    expect(await edgeadm(['ssh', 'gw-1', '-p', '99999', '--', 'true'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--port/) });
  });

  it('forwards a local port to a port on the node', async () => {
    const child = spawn(process.execPath, [bin, 'port-forward', 'gw-1', `${echo.port}`, '--hub', hub.url, '--token-file', tokenFile, '--ca-file', caFile], { env: { ...process.env, EDGEADM_CONFIG: '' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const port = Number((await waitFor('the forward to listen', () => /forwarding 127\.0\.0\.1:(\d+)/.exec(out)))[1]);
    try {
      for (const text of ['first', 'second']) {
        const sock = connect({ host: '127.0.0.1', port });
        const got = await new Promise<string>((resolve) => {
          sock.once('data', (d: Buffer) => resolve(d.toString()));
          sock.write(text);
        });
        expect(got).toBe(text);
        sock.destroy();
      }
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
});

/** `SHA256:…` of a public key file, as OpenSSH itself prints it. */
function fingerprintOf(pubFile: string): string {
  return /(SHA256:\S+)/.exec(execFileSync('/usr/bin/ssh-keygen', ['-lf', pubFile], { encoding: 'utf8' }))![1]!;
}

describe('a node that joins again with other host keys', () => {
  const logins = (): number => (sshd.log().match(/Accepted publickey/g) ?? []).length;
  const ssh = (...extra: string[]) => edgeadm(['ssh', 'gw-1', '-l', sshd.user, '-p', String(sshd.port), '-i', sshd.clientKeyFile, ...extra, '--', 'true']);
  const admin = (args: string[]) => runEdgeadm([...args, '--hub', hub.url, '--token-file', tokenFile, '--ca-file', caFile], { EDGEADM_HUB: undefined, EDGEADM_TOKEN: undefined });

  /** Runs `edgeadm join` as on the node (a fresh data dir: a reinstalled machine) with `keyDir`'s host keys, then its tunnel. */
  async function rejoin(keyDir: string): Promise<void> {
    const bt = await api('POST', '/api/v1/bootstrap-tokens', { site: 'plant-a' });
    const dataDir = path.join(tempDir('ssh-rejoin'), 'node');
    const r = await runEdgeadm(['join', hub.url, '--token', bt.body.token as string, '--site', 'plant-a', '--node', 'gw-1', '--ca-file', caFile, '--data-dir', dataDir, '--ssh-host-key-dir', keyDir, '--no-run']);
    expect(r, r.stderr).toMatchObject({ code: 0 });
    await runEdge(readFileSync(path.join(dataDir, 'node.credential'), 'utf8').trim());
  }

  let real: string;
  let otherDir: string;
  let other: string;
  let realDir: string;
  beforeAll(() => {
    real = fingerprintOf(path.join(sshd.dir, 'host_key.pub'));
    realDir = tempDir('ssh-real-keys');
    writeFileSync(path.join(realDir, 'ssh_host_ed25519_key.pub'), `${sshd.hostKeyLine}\n`);
    // Another machine's host key: what a reinstalled node, or someone joining under its name, reports.
    otherDir = tempDir('ssh-other-keys');
    execFileSync('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'root@elsewhere', '-f', path.join(otherDir, 'ssh_host_ed25519_key')]);
    other = fingerprintOf(path.join(otherDir, 'ssh_host_ed25519_key.pub'));
    mkdirSync(path.join(otherDir, 'empty'), { recursive: true });
  });

  it('shows the trusted fingerprints with edgeadm node show', async () => {
    const shown = await admin(['node', 'show', 'gw-1']);
    expect(shown, shown.stderr).toMatchObject({ code: 0 });
    expect(shown.stdout).toMatch(/SSH host keys:\s*\n\s*- ssh-ed25519 SHA256:/);
    expect(shown.stdout).toContain(`- ssh-ed25519 ${real}\n`);
    expect(shown.stdout).toMatch(/Site:\s+plant-a/);
    expect(shown.stdout).not.toContain('Pending');
  }, 120_000);

  it('refuses ssh and logs while the change is pending, naming the command that confirms it', async () => {
    await rejoin(otherDir);
    const before = logins();
    const refused = await ssh();
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('EDGE_ERR_SSH_HOST_KEYS_PENDING');
    expect(refused.stderr).toContain(`edgeadm node trust-host-keys gw-1 --fingerprint ${other}`);
    expect(refused.stderr).toContain(`ssh-ed25519 ${other}`);
    const logs = await edgeadm(['logs', `${sshd.user}@gw-1`, '-p', String(sshd.port), '-i', sshd.clientKeyFile]);
    expect(logs).toMatchObject({ code: 1, stderr: expect.stringContaining('EDGE_ERR_SSH_HOST_KEYS_PENDING') });
    expect(logins()).toBe(before);

    // What the operator sees: the trusted key and the change, with its fingerprints.
    const shown = await admin(['node', 'show', 'gw-1']);
    expect(shown.stdout).toMatch(/Pending host keys:\s*\n\s*- ssh-ed25519 SHA256:/);
    expect(shown.stdout).toContain(other);
    expect(shown.stdout).toContain(`To confirm:`);
    const json = JSON.parse((await admin(['node', 'show', 'gw-1', '-o', 'json'])).stdout) as { node: { metadata: { name: string } }; hostKeys: { trusted: { fingerprint: string }[]; pending: { keys: { fingerprint: string }[] } } };
    expect(json.node.metadata.name).toBe('gw-1');
    expect(json.hostKeys.trusted.map((k) => k.fingerprint)).toEqual([real]);
    expect(json.hostKeys.pending.keys.map((k) => k.fingerprint)).toEqual([other]);
    expect((await admin(['node', 'list'])).stdout).toMatch(/gw-1\s.*CHANGE PENDING/);
  }, 120_000);

  it('lets an admin drop the change: the trusted key works again', async () => {
    const viewer = await api('POST', '/api/v1/tokens', { role: 'viewer' });
    const viewerFile = path.join(tempDir('ssh-viewer-2'), 'viewer.token');
    writeFileSync(viewerFile, viewer.body.token as string);
    const asViewer = await runEdgeadm(['node', 'reject-host-keys', 'gw-1', '--hub', hub.url, '--token-file', viewerFile, '--ca-file', caFile]);
    expect(asViewer).toMatchObject({ code: 1, stderr: expect.stringContaining('EDGE_ERR_HUB_FORBIDDEN') });
    const dropped = await admin(['node', 'reject-host-keys', 'gw-1']);
    expect(dropped, dropped.stderr).toMatchObject({ code: 0, stdout: expect.stringContaining('dropped') });
    expect(await ssh()).toMatchObject({ code: 0 });
  }, 120_000);

  it('lets an admin confirm exactly the fingerprint checked on the node', async () => {
    await rejoin(otherDir);
    expect(await admin(['node', 'trust-host-keys', 'gw-1', '--fingerprint', 'MD5:00:11'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--fingerprint') });
    const notPending = await admin(['node', 'trust-host-keys', 'gw-1', '--fingerprint', real]);
    expect(notPending).toMatchObject({ code: 1, stderr: expect.stringContaining('EDGE_ERR_HUB_HOST_KEY_NOT_PENDING') });
    const trusted = await admin(['node', 'trust-host-keys', 'gw-1', '--fingerprint', other]);
    expect(trusted, trusted.stderr).toMatchObject({ code: 0 });
    expect(trusted.stdout).toContain(`ssh-ed25519 ${other}`);
    // The hub now trusts the other key; this node's sshd still presents the real one: refused before logging in.
    const before = logins();
    const mismatch = await ssh();
    expect(mismatch).toMatchObject({ code: 1, stderr: expect.stringContaining('EDGE_ERR_SSH_HOST_KEY_MISMATCH') });
    expect(logins()).toBe(before);
    // A key the user trusts by hand still works.
    const knownHosts = path.join(tempDir('ssh-known'), 'known_hosts');
    writeFileSync(knownHosts, `gw-1 ${sshd.hostKeyLine}\n`);
    expect(await ssh('--known-hosts', knownHosts)).toMatchObject({ code: 0 });
    // The node joins with its real key again, and an admin confirms every pending key.
    await rejoin(realDir);
    expect(await admin(['node', 'trust-host-keys', 'gw-1'])).toMatchObject({ code: 0 });
    expect(await ssh()).toMatchObject({ code: 0 });
  }, 120_000);

  it('changes nothing when the node joins again with the same key, or reports none', async () => {
    await rejoin(realDir);
    await rejoin(path.join(otherDir, 'empty'));
    const json = JSON.parse((await admin(['node', 'show', 'gw-1', '-o', 'json'])).stdout) as { hostKeys: { trusted: { fingerprint: string }[]; pending?: unknown } };
    expect(json.hostKeys.trusted.map((k) => k.fingerprint)).toEqual([real]);
    expect(json.hostKeys.pending).toBeUndefined();
    expect(await ssh()).toMatchObject({ code: 0 });
  }, 120_000);
});
