/**
 * A real Mosquitto broker (Debian `mosquitto`) on a loopback port, for tests
 * and benchmarks: anonymous, or password-only when `users` is given (a
 * password file made with `mosquitto_passwd`). Queues are unbounded
 * (`max_queued_messages 0`) so a slow subscriber loses nothing at QoS 1.
 * `stop()` ends the broker and keeps its folder, so `restart()` brings it back
 * on the same port (with its saved sessions when `persistence` is on);
 * `close()` stops it and removes the folder. Without /usr/sbin/mosquitto it
 * throws rather than skip.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './tcp-services.ts';

const run = promisify(execFile);

export const MOSQUITTO_PATH = '/usr/sbin/mosquitto';
const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';

export interface MosquittoOptions {
  /** Username -> password. When given, anonymous clients are refused. */
  users?: Record<string, string>;
  /** Default: a free loopback port. */
  port?: number;
  /** Save sessions and queued messages across `restart()`. Default false. */
  persistence?: boolean;
}

export interface Mosquitto {
  url: string;
  port: number;
  /** Pid of the running broker (undefined while stopped). */
  readonly pid: number | undefined;
  dir: string;
  /** What the broker wrote to its standard error so far (all runs). */
  log(): string;
  /** Ends the broker (SIGTERM, SIGKILL after 5 s) and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
  /** Stops it if running, then starts it again on the same port with the same config. */
  restart(): Promise<void>;
  /** Stops it and removes its folder. */
  close(): Promise<void>;
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

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  if (!existsSync(MOSQUITTO_PATH)) {
    throw new Error(`${MOSQUITTO_PATH} is missing: install Mosquitto (Debian: apt-get install mosquitto mosquitto-clients); the MQTT bridge tests need a real broker`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-mosquitto-'));
  let logText = '';
  let child: ChildProcess | undefined;
  let stopping: Promise<void> | undefined;

  async function writeConfig(port: number): Promise<string> {
    const lines = [
      `listener ${port} 127.0.0.1`,
      `persistence ${opts.persistence ? 'true' : 'false'}`,
      `persistence_location ${dir}/`,
      'max_queued_messages 0',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
    ];
    // Run as root, Mosquitto drops to the `mosquitto` user, which cannot read this folder.
    if (process.getuid?.() === 0) lines.push('user root');
    const users = opts.users;
    if (users && Object.keys(users).length > 0) {
      const file = path.join(dir, 'passwd');
      let first = true;
      for (const [name, password] of Object.entries(users)) {
        await run(MOSQUITTO_PASSWD, first ? ['-b', '-c', file, name, password] : ['-b', file, name, password]);
        first = false;
      }
      lines.push('allow_anonymous false', `password_file ${file}`);
    } else {
      lines.push('allow_anonymous true');
    }
    const config = path.join(dir, 'mosquitto.conf');
    writeFileSync(config, `${lines.join('\n')}\n`);
    return config;
  }

  /** One start on one port; rejects with Mosquitto's own words when it exits or never listens. */
  async function launch(config: string, port: number): Promise<void> {
    const c = spawn(MOSQUITTO_PATH, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    stopping = undefined;
    c.stderr.setEncoding('utf8');
    c.stderr.on('data', (d: string) => {
      logText = (logText + d).slice(-256 * 1024);
    });
    let spawnError: Error | undefined;
    c.once('error', (err) => (spawnError = err));
    const until = Date.now() + 10_000;
    for (;;) {
      if (spawnError) throw new Error(`could not start ${MOSQUITTO_PATH}: ${spawnError.message}`);
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new Error(`mosquitto exited (${c.exitCode ?? c.signalCode}) before listening on 127.0.0.1:${port}: ${logText.trim().slice(-2000)}`);
      }
      if (await accepts(port)) return;
      if (Date.now() > until) {
        c.kill('SIGKILL');
        await exited(c);
        throw new Error(`mosquitto did not listen on 127.0.0.1:${port} within 10 s: ${logText.trim().slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  function stop(): Promise<void> {
    const c = child;
    if (!c) return Promise.resolve();
    stopping ??= (async () => {
      const gone = exited(c);
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
      c.stderr?.destroy();
      if (child === c) child = undefined;
    })();
    return stopping;
  }

  let port = opts.port ?? 0;
  let config = '';
  try {
    // A port picked free may be taken before Mosquitto binds it: try another (unless the caller chose it).
    let last: Error | undefined;
    for (let attempt = 0; attempt < (opts.port === undefined ? 3 : 1); attempt++) {
      port = opts.port ?? (await freePort());
      config = await writeConfig(port);
      try {
        await launch(config, port);
        last = undefined;
        break;
      } catch (err) {
        last = err instanceof Error ? err : new Error(String(err));
        await stop();
      }
    }
    if (last !== undefined) throw last;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.pid;
    },
    dir,
    log: () => logText,
    stop,
    async restart() {
      await stop();
      await launch(config, port);
    },
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
