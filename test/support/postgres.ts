/**
 * A real PostgreSQL server (Debian's `postgresql`) for tests and
 * benchmarks: a fresh cluster (`initdb`) in its own temporary folder,
 * listening on a free loopback port and a socket in that folder, with a
 * password user and a database for the hub. Run as root (CI), the cluster
 * is the `postgres` system user's, as PostgreSQL refuses to run as root.
 * `stop()` ends the server and keeps its data, `start()` brings it back on
 * the same port; `close()` stops it and removes the folder. Without
 * PostgreSQL's binaries it throws rather than skip.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './tcp-services.ts';

const run = promisify(execFile);

/** The newest installed server's binaries (/usr/lib/postgresql/<major>/bin). */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root)
    .filter((d) => /^\d+$/.test(d) && existsSync(path.join(root, d, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] === undefined ? undefined : path.join(root, majors[0], 'bin');
}

export interface Postgres {
  /** postgres://hub:<password>@127.0.0.1:<port>/edgeadm */
  url: string;
  port: number;
  /** The superuser's URL (local trust), for tests that look under the hub. */
  adminUrl: string;
  /** A new, empty database owned by the hub user; its URL. */
  database(name: string): Promise<string>;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
  log(): string;
}

export async function startPostgres(): Promise<Postgres> {
  const bin = postgresBin();
  if (bin === undefined) throw new Error('PostgreSQL is not installed (Debian: apt-get install postgresql); the PostgreSQL telemetry store tests need a real server');
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? await systemUser('postgres') : undefined;
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-postgres-'));
  chmodSync(dir, 0o755);
  const data = path.join(dir, 'data');
  const sock = path.join(dir, 'sock');
  const password = randomBytes(12).toString('hex');
  const pwfile = path.join(dir, 'pw');
  writeFileSync(pwfile, `${password}\n`);
  if (owner) {
    chownSync(dir, owner.uid, owner.gid);
    chownSync(pwfile, owner.uid, owner.gid);
  }
  /** A command as the cluster's owner. */
  const as = (cmd: string, args: string[]): [string, string[]] => (owner ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]);
  const exec = async (cmd: string, args: string[]): Promise<string> => {
    const [c, a] = as(cmd, args);
    const r = await run(c, a, { maxBuffer: 16 * 1024 * 1024 });
    return r.stdout;
  };
  await exec(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync']);
  await exec('mkdir', ['-p', sock]);
  const port = await freePort();
  writeFileSync(
    path.join(dir, 'extra.conf'),
    [`port = ${port}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${sock}'`, 'fsync = off', 'full_page_writes = off', 'synchronous_commit = off', 'max_connections = 200', ''].join('\n'),
  );
  if (owner) chownSync(path.join(dir, 'extra.conf'), owner.uid, owner.gid);
  await exec('sh', ['-c', `echo "include '${path.join(dir, 'extra.conf')}'" >> ${data}/postgresql.conf`]);

  let logText = '';
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const [c, a] = as(path.join(bin, 'postgres'), ['-D', data]);
    const p = spawn(c, a, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = p;
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (d: string) => (logText = (logText + d).slice(-256 * 1024)));
    const until = Date.now() + 30_000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`postgres exited (${p.exitCode}): ${logText.slice(-2000)}`);
      try {
        await run(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q']);
        return;
      } catch {
        if (Date.now() > until) throw new Error(`postgres did not accept connections on 127.0.0.1:${port}: ${logText.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const psql = (sql: string, db = 'postgres'): Promise<string> => exec(path.join(bin, 'psql'), ['-h', sock, '-p', String(port), '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-qAtc', sql]);
  const stop = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    // pg_ctl signals the server itself (as root it runs under runuser, which does not pass signals on).
    await exec(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => c.kill('SIGKILL'));
    await gone;
  };
  await launch();
  await psql(`CREATE USER hub PASSWORD '${password}'`);
  await psql('CREATE DATABASE edgeadm OWNER hub');
  const url = `postgres://hub:${password}@127.0.0.1:${port}/edgeadm`;
  return {
    url,
    port,
    adminUrl: `postgres://postgres@${encodeURIComponent(sock)}:${port}/edgeadm`,
    async database(name) {
      if (!/^[a-z][a-z0-9_]{0,40}$/.test(name)) throw new Error(`database name '${name}'`);
      await psql(`CREATE DATABASE ${name} OWNER hub`);
      return `postgres://hub:${password}@127.0.0.1:${port}/${name}`;
    },
    stop,
    start: launch,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => logText,
  };
}

async function systemUser(name: string): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]).catch(() => {
    throw new Error(`there is no '${name}' user to run PostgreSQL as (running as root); install Debian's postgresql, which makes it`);
  });
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}
