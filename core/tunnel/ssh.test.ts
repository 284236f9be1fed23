import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import ssh2, { type Client } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { deferCleanup } from '../../test/support/cleanup.ts';
import { startSshd, type Sshd } from '../../test/support/sshd.ts';
import { serveTcp, type TcpService } from '../../test/support/tcp-services.ts';
import { createLogger } from '../kernel/index.ts';
import { createTunnelCloud, type TunnelCloud } from './cloud.ts';
import { startTunnelEdge, type TunnelEdge } from './edge.ts';
import type { TunnelStream } from './session.ts';
import { connectSsh, sshExec, sshShell, type SshOptions } from './ssh.ts';

const logger = createLogger({ level: 'silent' });
const defer = deferCleanup();

let sshd: Sshd;
let notSsh: TcpService;
let cloud: TunnelCloud;
let http: HttpServer;
let edge1: TunnelEdge;
let edge2: TunnelEdge;

beforeAll(async () => {
  sshd = await startSshd();
  // Something on an allowed port that is not sshd: it greets and hangs up.
  notSsh = await serveTcp((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
  const creds = new Map([
    ['cred-1', 'node-1'],
    ['cred-2', 'node-2'],
  ]);
  cloud = createTunnelCloud({ name: 'replica-0', logger, authenticate: (c) => creds.get(c) });
  http = createHttpServer((_req, res) => res.writeHead(404).end());
  http.on('upgrade', (req, socket, head) => cloud.handleUpgrade(req, socket, head));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/tunnel`;
  edge1 = startTunnelEdge({ url, node: 'node-1', credential: 'cred-1', allow: [`127.0.0.1:${sshd.port}`, `127.0.0.1:${notSsh.port}`], logger });
  // node-2 runs no allow-list entry for its sshd.
  edge2 = startTunnelEdge({ url, node: 'node-2', credential: 'cred-2', allow: [], logger });
  await Promise.all([edge1.whenConnected(), edge2.whenConnected()]);
}, 30_000);

afterAll(async () => {
  await edge1?.stop();
  await edge2?.stop();
  await cloud?.close();
  http?.closeAllConnections();
  await new Promise((r) => http?.close(r));
  await notSsh?.close();
  await sshd?.stop();
});

function tunnelTo(node = 'node-1', port = sshd.port): Promise<TunnelStream> {
  return cloud.open(node, { kind: 'tcp', host: '127.0.0.1', port });
}

/** An SSH session to node-1's sshd through the tunnel, closed after the test. */
async function login(over: Partial<SshOptions> = {}, node = 'node-1'): Promise<Client> {
  const client = await connectSsh({
    sock: await tunnelTo(node),
    node,
    username: sshd.user,
    privateKey: sshd.clientPrivateKey,
    knownHostKeys: [sshd.hostKeyLine],
    ...over,
  });
  const closed = new Promise<void>((r) => client.once('close', () => r()));
  defer(async () => {
    client.end();
    await closed;
  });
  return client;
}

function sink(): Writable & { bytes(): Buffer; text(): string } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return Object.assign(w, { bytes: () => Buffer.concat(chunks), text: () => Buffer.concat(chunks).toString() });
}

/** OpenSSH's own fingerprint of a public key file. */
function fingerprintOf(pubFile: string): string {
  return /SHA256:\S+/.exec(execFileSync('ssh-keygen', ['-lf', pubFile], { encoding: 'utf8' }))![0];
}

function otherKeyPair(): { privateKey: string; publicLine: string } {
  const k = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'stranger' });
  return { privateKey: k.private, publicLine: k.public.trim() };
}

describe('ssh through the tunnel', () => {
  it('runs a command on the node: output, error output and exit code come back', async () => {
    const client = await login();
    const out = sink();
    const err = sink();
    const res = await sshExec(client, 'echo hello; echo oops >&2; exit 3', { stdout: out, stderr: err });
    expect(res).toEqual({ code: 3 });
    expect(out.text()).toBe('hello\n');
    expect(err.text()).toBe('oops\n');
    // The same session runs more commands.
    expect(await sshExec(client, 'true', { stdout: sink(), stderr: sink() })).toEqual({ code: 0 });
  });

  it('pipes stdin to the command, byte for byte, in both directions through the tunnel', async () => {
    const client = await login();
    const input = randomBytes(3 * 1024 * 1024 + 17);
    const out = sink();
    const res = await sshExec(client, 'cat', { stdout: out, stderr: sink(), stdin: Readable.from([input.subarray(0, 1000), input.subarray(1000)]) });
    expect(res).toEqual({ code: 0 });
    expect(out.bytes().equals(input)).toBe(true);
  });

  it('reports a command killed by a signal', async () => {
    const client = await login();
    expect(await sshExec(client, 'kill -TERM $$', { stdout: sink(), stderr: sink() })).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('opens an interactive shell on a PTY and returns its exit code', async () => {
    const client = await login();
    const stdin = new PassThrough();
    const out = sink();
    const shell = sshShell(client, { stdin, stdout: out, stderr: sink() });
    stdin.write('tty; echo "cols=$(tput cols 2>/dev/null || stty size)"; echo $((6*7))\n');
    stdin.write('exit 5\n');
    expect(await shell).toEqual({ code: 5 });
    stdin.end();
    const text = out.text();
    expect(text).toMatch(/\/dev\/pts\/\d+/);
    expect(text).toMatch(/cols=(80|24 80)/);
    expect(text).toContain('42');
  });

  it('logs in with keys from a real ssh-agent', async () => {
    const sock = path.join(sshd.dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    defer(async () => {
      const gone = new Promise((r) => agent.once('exit', r));
      agent.kill('SIGTERM');
      await gone;
    });
    await vi.waitFor(() => expect(existsSync(sock)).toBe(true), { timeout: 5000 });
    execFileSync('ssh-add', ['-q', sshd.clientKeyFile], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
    const client = await login({ privateKey: undefined, agent: sock });
    const out = sink();
    expect(await sshExec(client, 'echo via-agent', { stdout: out, stderr: sink() })).toEqual({ code: 0 });
    expect(out.text()).toBe('via-agent\n');
  });

  it('refuses a host key that matches none of the known ones, before any login attempt', async () => {
    const logFrom = sshd.log().length;
    const sock = await tunnelTo();
    const err = await connectSsh({
      sock,
      node: 'node-1',
      username: sshd.user,
      privateKey: sshd.clientPrivateKey,
      knownHostKeys: [otherKeyPair().publicLine, sshd.clientPublicKeyLine],
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const fp = fingerprintOf(path.join(sshd.dir, 'host_key.pub'));
    expect(err).toMatchObject({ code: 'EDGE_ERR_SSH_HOST_KEY_MISMATCH', message: expect.stringContaining(fp) });
    expect((err as Error).message).toMatch(/node 'node-1'.*ssh-keygen -lf \/etc\/ssh\/ssh_host_ed25519_key\.pub/);
    expect(sock.destroyed).toBe(true);
    // sshd saw the connection end without any authentication request.
    await vi.waitFor(() => expect(sshd.log().slice(logFrom)).toMatch(/(Disconnected from|Connection (closed|reset) by) 127\.0\.0\.1 port \d+/), { timeout: 5000 });
    const seen = sshd.log().slice(logFrom);
    expect(seen).not.toMatch(/publickey|authenticating user|Accepted|Postponed|Failed/);
  });

  it('names user, node and the key tried when the node does not authorize the key', async () => {
    const stranger = otherKeyPair();
    const pub = path.join(sshd.dir, 'stranger.pub');
    writeFileSync(pub, `${stranger.publicLine}\n`);
    const fp = fingerprintOf(pub);
    const err = await login({ privateKey: stranger.privateKey }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'EDGE_ERR_SSH_AUTH_FAILED' });
    expect((err as Error).message).toBe(`node 'node-1' refused login as '${sshd.user}' (tried: publickey ${fp})`);
  });

  it('refuses bad options with a coded error naming the field, and releases the stream', async () => {
    const cases: [Partial<SshOptions>, string, RegExp][] = [
      [{ privateKey: undefined }, 'EDGE_ERR_SSH_NO_CREDENTIAL', /node 'node-1'.*privateKey.*agent/],
      [{ knownHostKeys: [] }, 'EDGE_ERR_SSH_HOST_KEY_UNKNOWN', /node 'node-1' has no known host key/],
      [{ knownHostKeys: [sshd.hostKeyLine, 'ssh-ed25519 not-base64!'] }, 'EDGE_ERR_SSH_BAD_OPTION', /knownHostKeys\[1\] is not an OpenSSH public key line/],
      [{ knownHostKeys: [sshd.clientPrivateKey] }, 'EDGE_ERR_SSH_BAD_OPTION', /knownHostKeys\[0\] is a private key/],
      [{ privateKey: 'not a key' }, 'EDGE_ERR_SSH_BAD_OPTION', /privateKey cannot be used/],
      [{ username: '' }, 'EDGE_ERR_SSH_BAD_OPTION', /username must be a non-empty string/],
      [{ readyTimeoutMs: -1 }, 'EDGE_ERR_SSH_BAD_OPTION', /readyTimeoutMs must be a positive integer/],
    ];
    // An encrypted key without its passphrase.
    const locked = path.join(sshd.dir, 'locked_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'sesame', '-f', locked]);
    cases.push([{ privateKey: readFileSync(locked, 'utf8') }, 'EDGE_ERR_SSH_BAD_OPTION', /privateKey cannot be used: .*passphrase/i]);
    for (const [over, code, message] of cases) {
      const sock = await tunnelTo();
      await expect(
        connectSsh({ sock, node: 'node-1', username: sshd.user, privateKey: sshd.clientPrivateKey, knownHostKeys: [sshd.hostKeyLine], ...over }),
      ).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
      expect(sock.destroyed).toBe(true);
    }
    // With its passphrase the same key is accepted as a credential (the node does not authorize it).
    await expect(login({ privateKey: readFileSync(locked, 'utf8'), passphrase: 'sesame' })).rejects.toMatchObject({ code: 'EDGE_ERR_SSH_AUTH_FAILED' });
  });

  it('surfaces the tunnel refusal when the node does not allow its sshd port', async () => {
    await expect(login({}, 'node-2')).rejects.toMatchObject({
      code: 'EDGE_ERR_TUNNEL_STREAM_REFUSED',
      message: expect.stringMatching(new RegExp(`EDGE_ERR_TUNNEL_NOT_ALLOWED.*node 'node-2' does not allow tunnel connections to 127\\.0\\.0\\.1:${sshd.port}`)),
    });
  });

  it('fails with EDGE_ERR_SSH_CONNECT when the far end is not sshd', async () => {
    const sock = await tunnelTo('node-1', notSsh.port);
    await expect(connectSsh({ sock, node: 'node-1', username: sshd.user, privateKey: sshd.clientPrivateKey, knownHostKeys: [sshd.hostKeyLine] })).rejects.toMatchObject({
      code: 'EDGE_ERR_SSH_CONNECT',
      message: expect.stringMatching(/^ssh to node 'node-1' failed: /),
    });
  });

  it('rejects a running command when the stream underneath is cut', async () => {
    const sock = await tunnelTo();
    const client = await connectSsh({ sock, node: 'node-1', username: sshd.user, privateKey: sshd.clientPrivateKey, knownHostKeys: [sshd.hostKeyLine] });
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    const out = sink();
    const running = sshExec(client, 'echo started; sleep 30', { stdout: out, stderr: sink() });
    await vi.waitFor(() => expect(out.text()).toBe('started\n'), { timeout: 5000 });
    sock.destroy();
    await expect(running).rejects.toMatchObject({ code: 'EDGE_ERR_SSH_CONNECT', message: expect.stringMatching(/node 'node-1'.*without an exit status/) });
    await closed;
    await expect(sshExec(client, 'true', { stdout: sink(), stderr: sink() })).rejects.toMatchObject({ code: 'EDGE_ERR_SSH_CONNECT' });
  });

  it('runs two sessions at once over the same tunnel', async () => {
    const [a, b] = await Promise.all([login(), login()]);
    expect(edge1.status().streams).toBe(2);
    const inputs = [randomBytes(1024 * 1024), randomBytes(1024 * 1024 + 3)];
    const outs = [sink(), sink()];
    const results = await Promise.all(
      [a, b].map((c, i) => sshExec(c, 'sha256sum -b | cut -d" " -f1', { stdout: outs[i]!, stderr: sink(), stdin: Readable.from([inputs[i]!]) })),
    );
    expect(results).toEqual([{ code: 0 }, { code: 0 }]);
    expect(outs.map((o) => o.text().trim())).toEqual(inputs.map((x) => createHash('sha256').update(x).digest('hex')));
  });
});
