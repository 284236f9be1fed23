import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensurePrivateDir, ensurePrivateFile, privateTree } from './files.ts';

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'edgeadm-files-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const mode = (p: string): number => statSync(p).mode & 0o7777;

describe('private files and folders', () => {
  it('creates data directories 0700, parents too, and tightens a looser one', () => {
    const dir = path.join(root, 'a', 'b');
    ensurePrivateDir(dir);
    expect(mode(dir)).toBe(0o700);
    expect(mode(path.join(root, 'a'))).toBe(0o700);
    chmodSync(dir, 0o755);
    ensurePrivateDir(dir);
    expect(mode(dir)).toBe(0o700);
  });

  it('refuses a directory every user may write to, naming it and its mode', () => {
    const shared = path.join(root, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    expect(() => ensurePrivateDir(shared)).toThrow(expect.objectContaining({ code: 'EDGE_ERR_SHARED_DIR', params: { path: shared, mode: '1777' } }) as Error);
    expect(() => ensurePrivateDir(tmpdir())).toThrow(expect.objectContaining({ code: 'EDGE_ERR_SHARED_DIR' }) as Error);
  });

  it('creates database and key files 0600, tightens a looser one, and leaves in-memory databases alone', () => {
    const file = path.join(root, 'x.db');
    ensurePrivateFile(file);
    expect(mode(file)).toBe(0o600);
    writeFileSync(file, 'data');
    chmodSync(file, 0o644);
    ensurePrivateFile(file);
    expect(mode(file)).toBe(0o600);
    expect(() => ensurePrivateFile(':memory:')).not.toThrow();
  });

  it('tightens every folder of a tree a library made, and no file', () => {
    mkdirSync(path.join(root, 'pki', 'own', 'certs'), { recursive: true, mode: 0o755 });
    writeFileSync(path.join(root, 'pki', 'own', 'certs', 'cert.pem'), 'x', { mode: 0o644 });
    privateTree(path.join(root, 'pki'));
    for (const d of ['pki', 'pki/own', 'pki/own/certs']) expect(mode(path.join(root, d))).toBe(0o700);
    expect(mode(path.join(root, 'pki', 'own', 'certs', 'cert.pem'))).toBe(0o644);
  });
});
