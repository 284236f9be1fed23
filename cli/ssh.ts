/**
 * `edgeadm ssh [user@]<node> [-- command]`: an SSH session to a node's sshd
 * through the hub and the node's tunnel. The hub lets the caller through only
 * with an admin token; sshd then checks the caller's own key. The host key
 * must be one the hub trusts for the node (reported at its first join, or
 * confirmed by an admin since) or one in --known-hosts: nothing is trusted on
 * first use. While the node has a pending host-key change (it joined again
 * with other keys) `ssh` and `logs` refuse, naming the command that confirms
 * the change.
 *
 * `edgeadm port-forward <node> [local-port:]remote-port`: a local TCP port
 * whose connections reach a port on the node the same way.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import type { Command } from 'commander';
import WebSocket, { createWebSocketStream } from 'ws';
import type { HostKeysView } from '../core/hub/index.ts';
import { EdgeError } from '../core/kernel/index.ts';
import { hubFetch, hubTarget, withHubOptions, type HubTarget } from './client.ts';
import { contextOf, listening, parsePort } from './context.ts';
import { NODE_UNIT_NAME } from './join.ts';
import { ErrSshHostKeysPending, ErrUsage } from './errors.ts';
import { isNodeName, trustCommand } from './node.ts';
import { waitForSignal } from './signals.ts';
import { examples, setExitCode, summary } from './commands.ts';

const KEY_IN_LINE = /((?:ssh|ecdsa|sk)-[a-z0-9@.-]+)\s+([A-Za-z0-9+/]+={0,3})/;

/** A byte stream to host:port on a node, through the hub's connect route. Refusals keep the hub's code. */
export function openNodeStream(target: HubTarget, node: string, port: number, host = '127.0.0.1'): Promise<Duplex> {
  const url = `${target.url.replace(/^http/, 'ws')}/api/v1/nodes/${encodeURIComponent(node)}/connect?port=${port}&host=${encodeURIComponent(host)}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${target.token}` }, ...(target.ca ? { ca: target.ca } : {}), perMessageDeflate: false });
    ws.once('open', () => resolve(createWebSocketStream(ws)));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        let body: { code?: string; message?: string } = {};
        try {
          body = JSON.parse(text) as typeof body;
        } catch {
          // Not ours: keep the status.
        }
        reject(new EdgeError(body.code ?? 'EDGE_ERR_HUB_HTTP', `node '${node}' port ${port}: ${body.message ?? `HTTP ${res.statusCode}`}`, { node, port }, res.statusCode ?? 502));
      });
    });
    ws.once('error', (err) =>
      reject(new EdgeError('EDGE_ERR_HUB_UNREACHABLE', `cannot reach the hub at ${target.url}: ${err.message}${/certificate/i.test(err.message) ? '; pass --ca-file' : ''}`, {}, 503, { cause: err })),
    );
  });
}

/** OpenSSH key lines from a known_hosts or .pub file: `type base64`. */
export function keysIn(text: string): string[] {
  return text
    .split('\n')
    .map((l) => KEY_IN_LINE.exec(l.replace(/^\s*#.*$/, '')))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `${m[1]} ${m[2]}`);
}

function defaultIdentity(): string | undefined {
  for (const f of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const p = path.join(homedir(), '.ssh', f);
    if (existsSync(p)) return p;
  }
  return undefined;
}

interface SshOpts {
  login?: string;
  identity?: string;
  port: string;
  knownHosts?: string;
  hub?: string;
  token?: string;
  tokenFile?: string;
  caFile?: string;
}

/**
 * Opens an SSH session to a node through the hub's connect route and runs
 * `command` (a shell when empty); resolves with the remote exit code.
 */
async function runSsh(who: string, o: SshOpts, command: string[]): Promise<number> {
  const at = who.lastIndexOf('@');
  const node = at >= 0 ? who.slice(at + 1) : who;
  const username = (at >= 0 ? who.slice(0, at) : undefined) ?? o.login ?? userInfo().username;
  if (!isNodeName(node)) throw new ErrUsage({ argument: '<node>', reason: `'${node}' is not a node name` });
  const port = parsePort(o.port, '--port');
  if (port === 0) throw new ErrUsage({ argument: '--port', reason: 'must be 1-65535' });
  const target = hubTarget(o);
  let privateKey: Buffer | undefined;
  const identity = o.identity ?? defaultIdentity();
  if (identity) {
    try {
      privateKey = readFileSync(identity);
    } catch (err) {
      throw new ErrUsage({ argument: '--identity', reason: `cannot read '${identity}': ${(err as Error).message}` });
    }
  }
  const agent = process.env.SSH_AUTH_SOCK || undefined;
  const known: string[] = [];
  if (o.knownHosts) {
    try {
      known.push(...keysIn(readFileSync(o.knownHosts, 'utf8')));
    } catch (err) {
      throw new ErrUsage({ argument: '--known-hosts', reason: `cannot read '${o.knownHosts}': ${(err as Error).message}` });
    }
  }
  const hostKeys = await hubFetch<HostKeysView>(target, 'GET', `/api/v1/nodes/${encodeURIComponent(node)}/host-keys`);
  if (hostKeys.pending) {
    throw new ErrSshHostKeysPending({ node, reportedAt: hostKeys.pending.reportedAt, fingerprints: hostKeys.pending.keys.map((k) => `${k.type} ${k.fingerprint}`), confirm: trustCommand(hostKeys) });
  }
  known.push(...keysIn(hostKeys.trusted.map((k) => k.key).join('\n')));
  const { loadSsh } = await import('../core/tunnel/index.ts');
  const { connectSsh, sshExec, sshShell } = await loadSsh();
  const sock = await openNodeStream(target, node, port);
  const client = await connectSsh({ sock, node, username, knownHostKeys: known, ...(privateKey ? { privateKey } : {}), ...(agent ? { agent } : {}) });
  try {
    const r = command.length
      ? await sshExec(client, command.join(' '), { stdout: process.stdout, stderr: process.stderr, ...(process.stdin.isTTY ? {} : { stdin: process.stdin }) })
      : await sshShell(client, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
    return r.code ?? 255;
  } finally {
    client.end();
    sock.destroy();
  }
}

/** The systemd unit `edgeadm join --install` writes. */

export function registerSsh(program: Command): void {
  const ssh = withHubOptions(
    program
      .command('ssh')
      .description(summary('ssh'))
      .argument('<[user@]node>', 'the node, optionally with the remote user')
      .argument('[command...]', 'run this instead of a shell (after --)')
      .option('-l, --login <user>', 'remote user (default: your user name)')
      .option('-i, --identity <file>', 'private key (default: ~/.ssh/id_ed25519, id_ecdsa or id_rsa, else SSH_AUTH_SOCK)')
      .option('-p, --port <port>', "sshd's port on the node", '22')
      .option('--known-hosts <file>', 'also trust host keys from this known_hosts or .pub file'),
  ).action(async (who: string, command: string[], o: SshOpts, cmd: Command) => {
    contextOf(cmd);
    setExitCode(await runSsh(who, o, command));
  });
  examples(ssh, [
    'edgeadm ssh gw-1',
    'edgeadm ssh admin@gw-1 -- uptime',
    'edgeadm ssh gw-1 -i ~/.ssh/edge_key --hub https://hub:7443 --token-file admin.token --ca-file hub-ca.crt -- systemctl status edgeadm',
  ]);

  const pf = withHubOptions(
    program
      .command('port-forward')
      .description(summary('port-forward'))
      .argument('<node>', 'the node')
      .argument('<ports>', '[local-port:]remote-port, or [local-port:]host:remote-port for another address on the node')
      .option('--address <address>', 'local listen address', '127.0.0.1'),
  ).action(async (node: string, spec: string, o: { address: string; hub?: string; token?: string; tokenFile?: string; caFile?: string }, cmd: Command) => {
    const ctx = contextOf(cmd);
    if (!isNodeName(node)) throw new ErrUsage({ argument: '<node>', reason: `'${node}' is not a node name` });
    const m = /^(?:(\d{1,5}):)?(?:([^:]+):)?(\d{1,5})$/.exec(spec);
    if (!m) throw new ErrUsage({ argument: '<ports>', reason: `'${spec}' is not [local-port:]remote-port or [local-port:]host:remote-port` });
    const localPort = m[1] === undefined ? 0 : parsePort(m[1], '<ports> (local)');
    const remotePort = parsePort(m[3]!, '<ports> (remote)');
    if (remotePort === 0) throw new ErrUsage({ argument: '<ports>', reason: 'the remote port must be 1-65535' });
    const host = m[2] ?? '127.0.0.1';
    const target = hubTarget(o);
    const { startPortForward } = await import('../core/tunnel/index.ts');
    const fwd = await listening(localPort, '<ports> (local)', () =>
      startPortForward({ host: o.address, port: localPort, node, target: { host, port: remotePort }, open: (n, t) => openNodeStream(target, n, t.port, t.host), logger: ctx.logger }),
    );
    ctx.out.write(`forwarding ${o.address}:${fwd.port} -> ${node} ${host}:${remotePort}\n`);
    await waitForSignal();
    await fwd.close();
  });
  examples(pf, ['edgeadm port-forward gw-1 8080:80', 'edgeadm port-forward gw-1 10250   # a free local port, printed', 'edgeadm port-forward gw-1 5020:192.168.1.20:502   # a Modbus device behind the node']);

  const logs = withHubOptions(
    program
      .command('logs')
      .description(summary('logs'))
      .argument('<[user@]node>', 'the node, optionally with the remote user')
      .option('-n, --lines <n>', 'how many of the newest lines', '200')
      .option('-f, --follow', 'keep printing new lines until Ctrl-C')
      .option('--since <time>', "journalctl's --since, e.g. '1 hour ago' or '2026-11-26 08:00'")
      .option('-l, --login <user>', 'remote user (default: your user name; it must be allowed to read the journal)')
      .option('-i, --identity <file>', 'private key (default: ~/.ssh/id_ed25519, id_ecdsa or id_rsa, else SSH_AUTH_SOCK)')
      .option('-p, --port <port>', "sshd's port on the node", '22')
      .option('--known-hosts <file>', 'also trust host keys from this known_hosts or .pub file'),
  ).action(async (who: string, o: SshOpts & { lines: string; follow?: boolean; since?: string }, cmd: Command) => {
    contextOf(cmd);
    if (!/^\d{1,6}$/.test(o.lines)) throw new ErrUsage({ argument: '--lines', reason: `'${o.lines}' is not a number of lines` });
    if (o.since !== undefined && !/^[\w :+.-]{1,64}$/.test(o.since)) throw new ErrUsage({ argument: '--since', reason: `'${o.since}' is not a time journalctl takes (letters, digits, spaces, ':', '-', '+', '.')` });
    const command = ['journalctl', '-u', NODE_UNIT_NAME, '--no-pager', '-o', 'cat', '-n', o.lines, ...(o.since ? ['--since', `'${o.since}'`] : []), ...(o.follow ? ['-f'] : [])];
    setExitCode(await runSsh(who, o, command));
  });
  examples(logs, ['edgeadm logs gw-1', 'edgeadm logs admin@gw-1 -f', "edgeadm logs gw-1 --since '1 hour ago' -n 1000"]);
}
