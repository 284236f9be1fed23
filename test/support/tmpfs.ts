/**
 * A small filesystem to fill up, for full-disk tests: a tmpfs of a given
 * size mounted at a new folder (this needs root; CI runs as root), and a
 * filler that writes until not one page is left. Mounting that fails is an
 * error saying why, never a skip.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface Tmpfs {
  dir: string;
  /** Unmounts (lazily when still busy) and removes the folder. */
  remove(): void;
}

export function mountTmpfs(size: string, prefix = 'edgeadm-tmpfs-'): Tmpfs {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const why = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
    throw new Error(`cannot mount a ${size} tmpfs at ${dir} for a full-disk test (it needs root with mount rights): ${why}`);
  }
  return {
    dir,
    remove() {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
      } catch {
        // Still busy (a handle not yet closed): detach it now, the kernel frees it when the last user goes.
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes `file` until the filesystem has not one page left; returns its size. */
export function fillDisk(file: string): number {
  const fd = openSync(file, 'w');
  let size = 0;
  try {
    for (const chunk of [1024 * 1024, 4096, 512]) {
      const buf = Buffer.alloc(chunk, 0x5a);
      for (;;) {
        try {
          size += writeSync(fd, buf);
        } catch (err) {
          if ((err as { code?: string }).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return size;
}
