/**
 * A real OpenSSH sshd on a loopback port, for tests and benchmarks: a
 * throwaway ed25519 host key, a throwaway ed25519 client key pair that is the
 * only authorized key, key login only. `stop()` kills it, waits for it to
 * exit and removes its folder. It needs /usr/sbin/sshd (Debian
 * openssh-server) and ssh-keygen; without them it throws rather than skip.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './tcp-services.ts';

const run = promisify(execFile);

export const SSHD_PATH = '/usr/sbin/sshd';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';

export interface Sshd {
  port: number;
  host: string;
  /** The login name whose key is authorized (the current user). */
  user: string;
  /** The host's public key as an OpenSSH line: `ssh-ed25519 AAAA… comment`. */
  hostKeyLine: string;
  /** Path of the authorized client's private key (OpenSSH format, no passphrase). */
  clientKeyFile: string;
  clientPrivateKey: string;
  clientPublicKeyLine: string;
  dir: string;
  /** What sshd wrote to its standard error so far (LogLevel VERBOSE: connections, auth attempts). */
  log(): string;
  stop(): Promise<void>;
}


async function keyPair(file: string, comment: string): Promise<{ privateKey: string; publicLine: string }> {
  await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  return { privateKey: readFileSync(file, 'utf8'), publicLine: readFileSync(`${file}.pub`, 'utf8').trim() };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** One attempt on one port; rejects with sshd's own words when it exits or never listens. */
async function launch(dir: string, port: number): Promise<{ child: ChildProcess; log: () => string }> {
  const config = path.join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      'ListenAddress 127.0.0.1',
      `Port ${port}`,
      `HostKey ${path.join(dir, 'host_key')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'UsePAM no',
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      'AllowTcpForwarding yes',
      'UseDNS no',
      'PrintMotd no',
      'PrintLastLog no',
      'LogLevel VERBOSE',
      'MaxStartups 64',
      'MaxSessions 64',
      '',
    ].join('\n'),
  );
  const child = spawn(SSHD_PATH, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    // Bounded: a long benchmark must not grow the test process without limit.
    log = (log + d).slice(-256 * 1024);
  });
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  const until = Date.now() + 10_000;
  for (;;) {
    if (spawnError) throw new Error(`could not start ${SSHD_PATH}: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`sshd exited (${child.exitCode ?? child.signalCode}) before listening on 127.0.0.1:${port}: ${log.trim()}`);
    }
    if (await accepts(port)) return { child, log: () => log };
    if (Date.now() > until) {
      child.kill('SIGKILL');
      await exited(child);
      throw new Error(`sshd did not listen on 127.0.0.1:${port} within 10 s: ${log.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function startSshd(): Promise<Sshd> {
  if (!existsSync(SSHD_PATH)) {
    throw new Error(`${SSHD_PATH} is missing: install OpenSSH's server (Debian: apt-get install openssh-server); the SSH tests need a real sshd`);
  }
  if (!existsSync(SSH_KEYGEN)) throw new Error(`${SSH_KEYGEN} is missing: install openssh-client`);
  // sshd's privilege separation directory; apt creates it only when it starts the service.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  // Not hub-fixture's tempDir: that module loads the whole hub, which benchmarks using this fixture do not need.
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-sshd-'));
  try {
    const host = await keyPair(path.join(dir, 'host_key'), 'edgeadm-test-host');
    const client = await keyPair(path.join(dir, 'client_key'), 'edgeadm-test-client');
    writeFileSync(path.join(dir, 'authorized_keys'), `${client.publicLine}\n`, { mode: 0o600 });
    // The port is free when picked and may be taken before sshd binds it: try another.
    let last: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      let started: { child: ChildProcess; log: () => string };
      try {
        started = await launch(dir, port);
      } catch (err) {
        last = err;
        continue;
      }
      const { child, log } = started;
      let stopping: Promise<void> | undefined;
      return {
        port,
        host: '127.0.0.1',
        user: userInfo().username,
        hostKeyLine: host.publicLine,
        clientKeyFile: path.join(dir, 'client_key'),
        clientPrivateKey: client.privateKey,
        clientPublicKeyLine: client.publicLine,
        dir,
        log,
        stop() {
          stopping ??= (async () => {
            const gone = exited(child);
            child.kill('SIGTERM');
            const t = setTimeout(() => child.kill('SIGKILL'), 5000);
            await gone;
            clearTimeout(t);
            child.stderr?.destroy();
            rmSync(dir, { recursive: true, force: true });
          })();
          return stopping;
        },
      };
    }
    throw last;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
