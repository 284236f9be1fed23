/**
 * SSH to a node over any byte stream to its sshd (a tunnel stream, the hub's
 * WebSocket stream): an ssh2 client with strict host-key checking against the
 * node's known host keys — never "accept any" — and key or agent login;
 * then a command (`sshExec`) or an interactive shell on a PTY (`sshShell`).
 *
 * On any failure `connectSsh` rejects with a coded error and destroys the
 * stream it was given.
 */
import { createHash } from 'node:crypto';
import type { Duplex, Readable, Writable } from 'node:stream';
import type { WriteStream } from 'node:tty';
import ssh2, { type AuthenticationType, type AuthHandlerMiddleware, type Client, type ClientChannel, type PseudoTtyOptions } from 'ssh2';
import { describeError } from '../kernel/index.ts';
import { ErrSshAuthFailed, ErrSshBadOption, ErrSshConnect, ErrSshHostKeyMismatch, ErrSshHostKeyUnknown, ErrSshNoCredential } from './errors.ts';

export interface SshOptions {
  /** A byte stream to the node's sshd (tunnel stream or hub WebSocket stream). */
  sock: Duplex;
  /** The node's name, for messages. */
  node: string;
  username: string;
  privateKey?: string | Buffer;
  passphrase?: string;
  /** Path of an SSH agent's socket (SSH_AUTH_SOCK). */
  agent?: string;
  /** OpenSSH public key lines (`ssh-ed25519 AAAA… comment`) the host key must match; empty refuses. */
  knownHostKeys: string[];
  /** Time allowed for the handshake and login (default 20 s). */
  readyTimeoutMs?: number;
}

/** What the commands need to name the node and explain a lost connection. */
interface ClientState {
  node: string;
  lastError?: Error;
}
const states = new WeakMap<Client, ClientState>();

function stateOf(client: Client): ClientState {
  return states.get(client) ?? { node: 'unknown' };
}

/** `SHA256:<base64>` as OpenSSH prints it. */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named at the start of an SSH public key blob. */
function blobType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const n = blob.readUInt32BE(0);
  return n > 0 && n <= 64 && blob.length >= 4 + n ? blob.subarray(4, 4 + n).toString('latin1') : 'unknown';
}

function parseKnownHostKeys(node: string, lines: readonly string[]): Buffer[] {
  if (!Array.isArray(lines) || lines.length === 0) throw new ErrSshHostKeyUnknown({ node });
  return lines.map((line, i) => {
    const parsed = typeof line === 'string' && line.trim() ? ssh2.utils.parseKey(line.trim()) : new Error('is empty');
    if (parsed instanceof Error) {
      throw new ErrSshBadOption({ node, field: `knownHostKeys[${i}]`, reason: `is not an OpenSSH public key line ('<type> <base64> [comment]'): ${parsed.message}` });
    }
    // A known host key is public: a private key here is a mistake worth refusing.
    if (parsed.isPrivateKey()) throw new ErrSshBadOption({ node, field: `knownHostKeys[${i}]`, reason: 'is a private key; give the public key line' });
    return parsed.getPublicSSH();
  });
}

/** Checks the options before anything touches the stream; returns the auth plan. */
function plan(o: SshOptions): { known: Buffer[]; methods: AuthenticationType[]; keyFingerprint?: string } {
  if (typeof o.node !== 'string' || o.node.length === 0) throw new ErrSshBadOption({ node: '?', field: 'node', reason: 'must be a non-empty string' });
  if (typeof o.username !== 'string' || o.username.length === 0) throw new ErrSshBadOption({ node: o.node, field: 'username', reason: 'must be a non-empty string' });
  if (o.readyTimeoutMs !== undefined && !(Number.isInteger(o.readyTimeoutMs) && o.readyTimeoutMs > 0)) {
    throw new ErrSshBadOption({ node: o.node, field: 'readyTimeoutMs', reason: `must be a positive integer of milliseconds, got ${String(o.readyTimeoutMs)}` });
  }
  const known = parseKnownHostKeys(o.node, o.knownHostKeys);
  const methods: AuthenticationType[] = [];
  let keyFingerprint: string | undefined;
  if (o.privateKey !== undefined) {
    const key = ssh2.utils.parseKey(o.privateKey, o.passphrase);
    // parseKey's messages name the format problem (or a missing/wrong passphrase), never the key material.
    if (key instanceof Error) throw new ErrSshBadOption({ node: o.node, field: 'privateKey', reason: `cannot be used: ${key.message}` });
    if (!key.isPrivateKey()) throw new ErrSshBadOption({ node: o.node, field: 'privateKey', reason: 'is a public key; give the private key' });
    keyFingerprint = sshFingerprint(key.getPublicSSH());
    methods.push('publickey');
  }
  if (o.agent !== undefined) {
    if (typeof o.agent !== 'string' || o.agent.length === 0) throw new ErrSshBadOption({ node: o.node, field: 'agent', reason: 'must be the path of an SSH agent socket' });
    methods.push('agent');
  }
  if (methods.length === 0) throw new ErrSshNoCredential({ node: o.node });
  return keyFingerprint === undefined ? { known, methods } : { known, methods, keyFingerprint };
}

/** Opens an SSH session over `o.sock`; resolves once the host key checked out and login succeeded. */
export function connectSsh(o: SshOptions): Promise<Client> {
  let p: ReturnType<typeof plan>;
  try {
    p = plan(o);
  } catch (err) {
    o.sock.destroy();
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
  const { known, methods, keyFingerprint } = p;
  const client = new ssh2.Client();
  const state: ClientState = { node: o.node };
  states.set(client, state);
  return new Promise<Client>((resolve, reject) => {
    let settled = false;
    let presented: Buffer | undefined;
    let hostRejected = false;
    const left = [...methods];
    const tried: string[] = [];

    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      client.removeListener('ready', onReady);
      client.removeListener('close', onClose);
      client.end();
      o.sock.destroy();
      reject(err);
    };
    const onError = (err: Error & { level?: string; code?: unknown }): void => {
      state.lastError = err;
      if (settled) return;
      if (hostRejected && presented) {
        fail(new ErrSshHostKeyMismatch({ node: o.node, keyType: blobType(presented), fingerprint: sshFingerprint(presented), known: known.length }));
      } else if (err.level === 'client-authentication') {
        fail(new ErrSshAuthFailed({ user: o.username, node: o.node, tried }, { cause: err }));
      } else {
        fail(new ErrSshConnect({ node: o.node, reason: describeError(err) }, { cause: err }));
      }
    };
    const onClose = (): void => {
      fail(new ErrSshConnect({ node: o.node, reason: 'the connection closed before login completed' }, state.lastError ? { cause: state.lastError } : undefined));
    };
    const onReady = (): void => {
      if (settled) return;
      settled = true;
      client.removeListener('close', onClose);
      resolve(client);
    };
    // Errors after login (a dropped tunnel) are kept for the commands to report; an unheard error would end the process.
    client.on('error', onError);
    client.once('ready', onReady);
    client.once('close', onClose);

    const authHandler: AuthHandlerMiddleware = (_authsLeft, _partial, next) => {
      const m = left.shift();
      if (m === undefined) {
        // ssh2 takes `false` for "no more methods"; its typings omit it.
        next(false as unknown as AuthenticationType);
        return;
      }
      tried.push(m === 'publickey' && keyFingerprint ? `publickey ${keyFingerprint}` : m === 'agent' ? 'agent keys' : m);
      next(m);
    };

    try {
      client.connect({
        sock: o.sock,
        username: o.username,
        ...(o.privateKey !== undefined ? { privateKey: o.privateKey } : {}),
        ...(o.passphrase !== undefined ? { passphrase: o.passphrase } : {}),
        ...(o.agent !== undefined ? { agent: o.agent } : {}),
        authHandler,
        readyTimeout: o.readyTimeoutMs ?? 20_000,
        // The raw key blob (no hostHash), compared byte for byte with the known keys.
        hostVerifier: (key: Buffer): boolean => {
          presented = Buffer.from(key);
          const ok = known.some((k) => k.equals(key));
          if (!ok) hostRejected = true;
          return ok;
        },
        keepaliveInterval: 15_000,
        keepaliveCountMax: 4,
      });
    } catch (err) {
      onError(err as Error);
    }
  });
}

function lost(client: Client, what: string): Error {
  const s = stateOf(client);
  return new ErrSshConnect({ node: s.node, reason: `${what}${s.lastError ? `: ${describeError(s.lastError)}` : ''}` }, s.lastError ? { cause: s.lastError } : undefined);
}

function openChannel(client: Client, start: (cb: (err: Error | undefined, ch: ClientChannel) => void) => void, what: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    try {
      start((err, ch) => (err ? reject(new ErrSshConnect({ node: stateOf(client).node, reason: `${what}: ${describeError(err)}` }, { cause: err })) : resolve(ch)));
    } catch (err) {
      // ssh2 throws synchronously when the connection is already gone.
      reject(lost(client, `${what}: ${describeError(err)}`));
    }
  });
}

/**
 * Waits for the channel to close; resolves with the exit status, or rejects
 * when the channel ended without one (the connection dropped).
 */
function exitOf(client: Client, ch: ClientChannel): Promise<{ code: number | null; signal?: string }> {
  return new Promise((resolve, reject) => {
    let exit: { code: number | null; signal?: string } | undefined;
    ch.on('exit', (code: number | null, signal?: string) => {
      exit = code === null && signal ? { code: null, signal } : { code };
    });
    ch.once('close', () => (exit ? resolve(exit) : reject(lost(client, 'the session ended without an exit status'))));
  });
}

/** Runs a command (stdout/stderr piped to the given streams, stdin optional); resolves with its exit code (or signal). */
export async function sshExec(
  client: Client,
  command: string,
  io: { stdout: Writable; stderr: Writable; stdin?: Readable },
): Promise<{ code: number | null; signal?: string }> {
  const ch = await openChannel(client, (cb) => client.exec(command, cb), 'could not start the command');
  const done = exitOf(client, ch);
  ch.pipe(io.stdout, { end: false });
  ch.stderr.pipe(io.stderr, { end: false });
  if (io.stdin) io.stdin.pipe(ch);
  // No input: the command reads end-of-file at once, like `ssh -n`.
  else ch.end();
  try {
    return await done;
  } finally {
    io.stdin?.unpipe(ch);
    ch.unpipe(io.stdout);
    ch.stderr.unpipe(io.stderr);
  }
}

type TtyIn = Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown; isRaw?: boolean };

/** Interactive shell with a PTY sized from the TTY (resized with it), raw mode on stdin when it is a TTY; resolves with the exit code. */
export async function sshShell(client: Client, io: { stdin: NodeJS.ReadStream | Readable; stdout: Writable; stderr: Writable }): Promise<{ code: number | null }> {
  const out = io.stdout as Writable & Partial<Pick<WriteStream, 'isTTY' | 'columns' | 'rows'>>;
  const outTty = out.isTTY === true;
  const pty: PseudoTtyOptions = {
    term: process.env.TERM || 'xterm-256color',
    cols: outTty && out.columns ? out.columns : 80,
    rows: outTty && out.rows ? out.rows : 24,
    width: 0,
    height: 0,
  };
  const ch = await openChannel(client, (cb) => client.shell(pty, cb), 'could not start a shell');
  const done = exitOf(client, ch);
  const stdin = io.stdin as TtyIn;
  const raw = stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  const wasRaw = stdin.isRaw === true;
  // The terminal's resize (SIGWINCH) follows the PTY on the node.
  const onResize = (): void => {
    if (out.columns && out.rows) ch.setWindow(out.rows, out.columns, 0, 0);
  };
  if (outTty) out.on('resize', onResize);
  if (raw) stdin.setRawMode!(true);
  ch.pipe(io.stdout, { end: false });
  ch.stderr.pipe(io.stderr, { end: false });
  stdin.pipe(ch);
  try {
    const { code } = await done;
    return { code };
  } finally {
    stdin.unpipe(ch);
    if (raw) {
      stdin.setRawMode!(wasRaw);
      // A TTY stdin left flowing would keep the process alive.
      stdin.pause();
    }
    if (outTty) out.removeListener('resize', onResize);
    ch.unpipe(io.stdout);
    ch.stderr.unpipe(io.stderr);
  }
}
