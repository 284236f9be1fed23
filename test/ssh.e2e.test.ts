/**
 * `edgeadm ssh` and `edgeadm port-forward` as a user runs them: the real
 * binary, a hub over TLS, a node joined with its sshd host key and connected
 * through tunnel-edge, and a real OpenSSH sshd on the node's loopback.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../core/hub/index.ts';
import { startTunnelEdge, type TunnelEdge } from '../core/tunnel/index.ts';
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
  edge = startTunnelEdge({
    url: hub.tunnelUrl,
    node: 'gw-1',
    credential: j.body.credential as string,
    allow: [`127.0.0.1:${sshd.port}`, `127.0.0.1:${echo.port}`],
    tls: { ca: j.body.caCert as string },
    logger: quiet,
  });
  await edge.whenConnected();
}, 60_000);

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

  it('refuses a host key the node did not report, before logging in', async () => {
    const other = tempDir('ssh-known');
    const knownHosts = path.join(other, 'known_hosts');
    writeFileSync(knownHosts, 'gw-1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n');
    // The node reports other keys: the real one is replaced by an unrelated one.
    const keep = await api('GET', '/api/v1/nodes/gw-1');
    const status = { ...(keep.body.status as Record<string, unknown>), sshHostKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'] };
    expect((await api('PUT', '/api/v1/nodes/gw-1/status', { status })).status).toBeLessThan(300);
    const before = (sshd.log().match(/Accepted publickey/g) ?? []).length;
    const r = await edgeadm(['ssh', 'gw-1', '-l', sshd.user, '-p', String(sshd.port), '-i', sshd.clientKeyFile, '--known-hosts', knownHosts, '--', 'true']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/EDGE_ERR_SSH_HOST_KEY_MISMATCH/);
    expect((sshd.log().match(/Accepted publickey/g) ?? []).length).toBe(before);
    // Trusting the real key from a known_hosts file works again.
    writeFileSync(knownHosts, `gw-1 ${sshd.hostKeyLine}\n`);
    const ok = await edgeadm(['ssh', 'gw-1', '-l', sshd.user, '-p', String(sshd.port), '-i', sshd.clientKeyFile, '--known-hosts', knownHosts, '--', 'true']);
    expect(ok.code).toBe(0);
  });

  it('says why when the caller, the node or the port is wrong', async () => {
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
