/**
 * Puts the Compose stand-in (fake-compose.mjs) on a PATH as `docker` or
 * `podman`, for tests of the plugin's container runtime where no engine
 * runs; reads back what it keeps of each project and every call it got.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./fake-compose.mjs', import.meta.url));

export interface FakeProject {
  services: Record<string, { image: string; state: string; exitCode: number; binds: { source: string; target: string }[] }>;
  volumes: string[];
  networks: string[];
}

export interface FakeCompose {
  /** Its state folder (FAKE_COMPOSE_DIR). */
  dir: string;
  /** A folder holding only the runtime's executable: put it first on PATH. */
  bin: string;
  /** Each project the engine would have now. */
  projects(): Record<string, FakeProject>;
  /** Every call, `<runtime> <args>`. */
  calls(): string[];
  /** Puts a file into a service's container (what `exec -T <service> cat <path>` reads). */
  putFile(project: string, service: string, file: string, text: string): void;
}

export function installFakeCompose(runtime: 'docker' | 'podman' = 'docker'): FakeCompose {
  const dir = mkdtempSync(path.join(tmpdir(), 'fake-compose-'));
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  const exe = path.join(bin, runtime);
  writeFileSync(exe, `#!/bin/sh\nexec "${process.execPath}" "${SCRIPT}" "$@"\n`);
  chmodSync(exe, 0o755);
  writeFileSync(path.join(dir, 'calls.log'), '');
  return {
    dir,
    bin,
    projects() {
      const folder = path.join(dir, 'projects');
      if (!existsSync(folder)) return {};
      return Object.fromEntries(readdirSync(folder).map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(path.join(folder, f), 'utf8')) as FakeProject]));
    },
    putFile(project, service, file, text) {
      const to = path.join(dir, 'files', project, service, file);
      mkdirSync(path.dirname(to), { recursive: true });
      writeFileSync(to, text);
    },
    calls: () => readFileSync(path.join(dir, 'calls.log'), 'utf8').split('\n').filter((l) => l !== '').map((l) => l.replace(/^fake-compose\.mjs/, runtime)),
  };
}
