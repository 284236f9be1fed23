/**
 * Files and folders closed by default: every data directory edgeadm keeps is
 * 0700 and every database, key and credential file 0600, so only the user
 * the process runs as can read them. SQLite creates its `-wal` and `-shm`
 * files with the mode of the database file, so making the database file
 * first (0600) covers them too. A directory everyone may write to (`/tmp`,
 * sticky and world-writable) is refused as a data directory.
 */
import { chmodSync, closeSync, mkdirSync, openSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ErrSharedDir } from './errors.ts';

/** Creates `dir` (and its parents) as 0700, or tightens it to 0700 when it is looser. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if ((st.mode & 0o1000) !== 0 || (st.mode & 0o002) !== 0) {
    throw new ErrSharedDir({ path: dir, mode: (st.mode & 0o7777).toString(8).padStart(4, '0') });
  }
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

/**
 * Tightens every folder under `root` (itself included) to 0700: for trees a
 * library made with its own modes (node-opcua's PKI folders). Files keep
 * their modes: keys are already 0600, certificates are public.
 */
export function privateTree(root: string): void {
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) stack.push(path.join(dir, e.name));
  }
}

/** Creates `file` empty as 0600 when it does not exist, or tightens it to 0600 when it is looser. */
export function ensurePrivateFile(file: string): void {
  if (file === ':memory:' || file === '' || file.startsWith('file:')) return;
  closeSync(openSync(file, 'a', 0o600));
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
}
