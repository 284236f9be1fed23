/**
 * The README's main command, as a new user runs it: `edgeadm demo` (what
 * `npm start` runs) brings up a TLS hub and the demo site behind its tunnel,
 * and the command it prints shows live readings of the simulated devices.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from './support/hub-fixture.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(repo, 'cli/bin/edgeadm.js');
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGINT');
      await new Promise((r) => c.once('exit', r));
    }
  }
});

function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; out: () => string; err: () => string } {
  const child = spawn(process.execPath, [bin, ...args], { cwd: repo, env: { ...process.env, EDGEADM_CONFIG: '', ...env } });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { child, out: () => out, err: () => err };
}

describe('edgeadm demo', () => {
  it('runs a hub and the demo site behind its tunnel, and the printed watch command shows live readings', async () => {
    const dataDir = tempDir('demo');
    const demo = start(['demo', '--port', '0', '--data-dir', dataDir]);
    await waitFor('the demo to print its watch command', () => demo.out().includes('Ctrl-C stops the demo.'), 60_000, 100);
    expect(demo.err()).toBe('');
    expect(demo.out()).toMatch(/^hub: {10}https:\/\/127\.0\.0\.1:\d+/m);
    expect(demo.out()).toMatch(/its node 'demo-gw' reaches the hub through the tunnel/);
    // Run exactly what was printed (with `npx edgeadm` as this repository's bin).
    const m = /EDGEADM_TOKEN=\$\(cat (\S+)\) npx edgeadm (telemetry watch .*)$/m.exec(demo.out());
    expect(m).not.toBeNull();
    const token = (await import('node:fs')).readFileSync(path.resolve(repo, m![1]!), 'utf8').trim();
    const watch = start([...m![2]!.split(' '), '-o', 'json'], { EDGEADM_TOKEN: token });
    const readings = await waitFor(
      'readings from both simulated devices',
      () => {
        const rs = watch
          .out()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { site: string; device: string; resource: string; value: unknown });
        return new Set(rs.map((r) => r.device)).size >= 2 ? rs : undefined;
      },
      60_000,
      200,
    );
    expect(readings.every((r) => r.site === 'demo')).toBe(true);
    expect(new Set(readings.map((r) => r.device))).toEqual(new Set(['sim-1', 'sim-2']));
    expect(watch.err()).toBe('');
    // Ctrl-C stops the demo cleanly.
    demo.child.kill('SIGINT');
    const code = await new Promise((r) => demo.child.once('exit', r));
    expect(code).toBe(0);
  }, 120_000);
});
