/**
 * The build's freshness check (cli/bin/dist.js): dist/ made by the test run's
 * global setup is fresh; a source touched without a change keeps it fresh
 * (its hash is compared when its stat differs); the manifest names every
 * entry edgeadm loads by path.
 */
import { readFileSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIST, distStatus, ROOT } from './dist.js';

describe('dist/', () => {
  it('is fresh, and stays so when a source is touched but not changed', () => {
    expect(distStatus()).toEqual({ fresh: true });
    const file = path.join(ROOT, 'cli/version.ts');
    const st = statSync(file);
    try {
      utimesSync(file, st.atime, new Date(st.mtimeMs + 60_000));
      expect(distStatus()).toEqual({ fresh: true });
    } finally {
      utimesSync(file, st.atime, st.mtime);
    }
  });

  it('maps the CLI, the SDK and every built-in plugin entry to a bundle entry', () => {
    const manifest = JSON.parse(readFileSync(path.join(DIST, 'manifest.json'), 'utf8')) as { entries: Record<string, string>; inputs: Record<string, unknown> };
    expect(manifest.entries).toMatchObject({ 'cli/main.ts': 'main.js', 'core/sdk/index.ts': 'sdk.js', 'core/sdk/testkit/index.ts': 'sdk-testkit.js', 'plugins/modbus/index.ts': 'plugin-modbus.js', 'plugins/opcua/src/cli.ts': 'plugin-opcua-tools.js' });
    for (const out of Object.values(manifest.entries)) expect(statSync(path.join(DIST, out)).size).toBeGreaterThan(0);
    expect(Object.keys(manifest.inputs)).toEqual(expect.arrayContaining(['cli/main.ts', 'package-lock.json', 'plugins/modbus/package.json']));
    expect(Object.keys(manifest.inputs).some((f) => f.includes('node_modules'))).toBe(false);
  });
});
