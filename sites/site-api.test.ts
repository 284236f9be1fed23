import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hashSecret } from '../core/kernel/index.ts';
import { API_VERSION, type Resource } from '../core/store/index.ts';
import { LocalState } from './local-state.ts';
import { siteLogins } from './site-api.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const fast = { logN: 10, r: 8, p: 1 };
const login = async (name: string, site: string, username: string, password: string, disabled = false): Promise<Resource> => ({
  apiVersion: API_VERSION,
  kind: 'BrokerCredential',
  metadata: { name },
  spec: { site, username, passwordHash: await hashSecret(password, fast), ...(disabled ? { disabled: true } : {}) },
});

describe("the site's logins (what plugins such as the EdgeX REST API check callers with)", () => {
  it("admit only this site's enabled logins with their own password: another site's login, even with its right password, is refused", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-site-api-'));
    dirs.push(dir);
    const state = new LocalState(path.join(dir, 'replica.db'));
    try {
      state.replaceAll(
        [
          await login('viewer-a', 'plant-a', 'viewer', 'secret-a'),
          await login('viewer-b', 'plant-b', 'viewer-b', 'secret-b'),
          await login('same-name-b', 'plant-b', 'shared', 'secret-b2'),
          await login('retired-a', 'plant-a', 'retired', 'old', true),
        ],
        '7',
      );
      const logins = siteLogins('plant-a', () => state);
      expect(await logins.verify('viewer', 'secret-a')).toBe(true);
      expect(await logins.verify('viewer', 'secret-b')).toBe(false);
      expect(await logins.verify('viewer-b', 'secret-b')).toBe(false); // another site's login
      expect(await logins.verify('shared', 'secret-b2')).toBe(false); // a name only another site has
      expect(await logins.verify('retired', 'old')).toBe(false); // disabled
      // Removed from the replica: refused at once, though it passed before.
      state.applyEvent('DELETED', await login('viewer-a', 'plant-a', 'viewer', 'secret-a'), '8');
      expect(await logins.verify('viewer', 'secret-a')).toBe(false);
    } finally {
      state.close();
    }
  });
});
