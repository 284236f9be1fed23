/**
 * The site agent's data directory: created 0700 with its databases 0600,
 * and a directory it cannot create or open is a coded error naming the path
 * and the errno, before anything starts.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../core/kernel/index.ts';
import { startSiteAgent } from './agent.ts';

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'edgeadm-agent-dir-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const options = (dataDir: string) => ({ site: 'plant-a', hubUrl: 'http://127.0.0.1:9', token: 'edgeadm_test0000_x', dataDir, logger: createLogger({ level: 'silent' }), broker: false as const });

describe('the site agent data directory', () => {
  it('is a coded error naming the path and the errno when it cannot be created', async () => {
    writeFileSync(path.join(root, 'file'), 'not a folder');
    const dir = path.join(root, 'file', 'site');
    await expect(startSiteAgent(options(dir))).rejects.toMatchObject({ code: 'EDGE_ERR_AGENT_DATA_DIR', params: { errno: 'ENOTDIR', path: expect.stringContaining(path.join(root, 'file')) as unknown } });
  });

  it('is refused when every user may write to it', async () => {
    await expect(startSiteAgent(options(tmpdir()))).rejects.toMatchObject({ code: 'EDGE_ERR_AGENT_DATA_DIR', params: { errno: 'EDGE_ERR_SHARED_DIR', path: tmpdir() } });
  });

  it('is made 0700, with every database in it 0600', async () => {
    const dir = path.join(root, 'site');
    const agent = await startSiteAgent(options(dir));
    try {
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      const dbs = readdirSync(dir).filter((f) => /\.db(-wal|-shm)?$/.test(f));
      expect(dbs).toEqual(expect.arrayContaining(['outbox.db', 'replica.db']));
      for (const f of dbs) expect({ f, mode: statSync(path.join(dir, f)).mode & 0o777 }).toEqual({ f, mode: 0o600 });
    } finally {
      await agent.stop();
    }
  });
});
