import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { EDGEADM_BIN, runEdgeadm, type CliResult as Result } from '../test/support/edgeadm-cli.ts';
import { describe, expect, it } from 'vitest';
import { buildProgram } from './main.ts';


function edgeadm(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return runEdgeadm(args, env);
}

function configFile(yaml: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'edgeadm-cli-')), 'edgeadm.yaml');
  writeFileSync(file, yaml);
  return file;
}

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}

describe('edgeadm CLI', () => {
  it('has --help with examples on every command', async () => {
    for (const cmd of allCommands(await buildProgram())) {
      if (cmd.name() === 'help') continue;
      let text = '';
      cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
      cmd.outputHelp();
      expect(text, `help of '${cmd.name()}'`).toMatch(/Examples:\n {2}edgeadm /);
    }
  });

  it('prints the version as json and yaml', async () => {
    const json = await edgeadm(['version', '-o', 'json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ edgeadm: '0.1.0', node: process.versions.node });
    const yaml = await edgeadm(['-o', 'yaml', 'version']);
    expect(parseYaml(yaml.stdout)).toMatchObject({ edgeadm: '0.1.0' });
  });

  it('lists the built-in plugins with their honest status', async () => {
    const r = await edgeadm(['plugin', 'list']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+VERSION\s+ROLE\s+SOURCE\s+STATUS\s+PACKAGE$/);
    expect(lines.find((l) => l.startsWith('edgex '))).toMatch(/0\.3\.0\s+device-platform\s+builtin\s+ready\s+@edgeadm\/edgex/);
    for (const [id, version] of [
      ['modbus', '0\\.1\\.0'],
      ['mqtt', '0\\.2\\.0'],
      ['opcua', '0\\.2\\.0'],
    ]) {
      expect(lines.find((l) => l.startsWith(`${id} `))).toMatch(new RegExp(`${version}\\s+device-driver\\s+builtin\\s+ready\\s+@edgeadm/${id}`));
    }
    expect(lines.find((l) => l.startsWith('simulator '))).toMatch(/0\.1\.0\s+device-driver\s+builtin\s+ready\s+@edgeadm\/simulator/);
  });

  it('shows one plugin, and names an unknown one with exit code 1', async () => {
    const info = await edgeadm(['plugin', 'info', 'edgex', '-o', 'json']);
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ id: 'edgex', source: 'builtin', stage: 'experimental', status: 'ready' });
    const opcua = await edgeadm(['plugin', 'info', 'opcua', '-o', 'json']);
    expect(JSON.parse(opcua.stdout)).toMatchObject({ id: 'opcua', source: 'builtin', stage: 'experimental', status: 'ready' });
    const missing = await edgeadm(['plugin', 'info', 'bacnet']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/\[EDGE_ERR_PLUGIN_NOT_FOUND\] no plugin 'bacnet' is installed; 'edgeadm plugin list'/);
  });

  it('exits 2 on usage errors, naming the argument', async () => {
    const cases: [string[], RegExp][] = [
      [['plugin', 'lst'], /unknown command 'lst'/],
      [['-o', 'xml', 'version'], /'-o, --output <format>' argument 'xml' is invalid/],
      [['plugin', 'info'], /missing required argument 'id'/],
      [['version', '--frobnicate'], /unknown option '--frobnicate'/],
      [[], /Usage: edgeadm/],
    ];
    for (const [args, message] of cases) {
      const r = await edgeadm(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr + r.stdout).toMatch(message);
    }
  });

  it('exits 1 on a bad config, listing every problem with its field', async () => {
    const file = configFile('plugins:\n  startTimeoutMs: -5\n  instances:\n    - site: plant-a\nlog:\n  level: chatty\n');
    const r = await edgeadm(['plugin', 'list', '--config', file], { EDGEADM_KERNEL__SHUTDOWN_BUDGET_MS: 'soon' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/invalid configuration \(4 problems\)/);
    expect(r.stderr).toMatch(/EDGEADM_KERNEL__SHUTDOWN_BUDGET_MS \(kernel.shutdownBudgetMs\): 'soon' is not a number/);
    expect(r.stderr).toMatch(/plugins.startTimeoutMs must be >= 1/);
    expect(r.stderr).toMatch(/plugins.instances\[0\].plugin is required/);
    expect(r.stderr).toMatch(/log.level must be one of/);
  });

  it('runs the kernel once with configured instances, reports each one, and exits 1 when any is not running', async () => {
    const file = configFile('log:\n  level: silent\nplugins:\n  instances:\n    - plugin: bacnet\n      site: plant-a\n    - plugin: bacnet\n');
    const r = await edgeadm(['up', '--once', '--config', file, '-o', 'json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[EDGE_ERR_UP_NOT_RUNNING\] 2 of 2 plugin instances are not running/);
    const out = JSON.parse(r.stdout) as { kernel: { id: string; state: string }[]; plugins: { instance: string; state: string; error?: { code: string } }[] };
    expect(out.kernel).toEqual([expect.objectContaining({ id: 'plugins', state: 'running' })]);
    expect(out.plugins).toEqual([
      expect.objectContaining({ instance: 'bacnet@plant-a', state: 'invalid', error: expect.objectContaining({ code: 'EDGE_ERR_PLUGIN_NOT_FOUND' }) }),
      expect.objectContaining({ instance: 'bacnet', state: 'invalid', error: expect.objectContaining({ code: 'EDGE_ERR_PLUGIN_NOT_FOUND' }) }),
    ]);
  });

  it('keeps running until SIGTERM, then stops cleanly with exit code 0', async () => {
    const file = configFile('log:\n  level: info\n');
    const child = spawn(process.execPath, [EDGEADM_BIN, 'up', '--config', file], { env: { ...process.env, EDGEADM_CONFIG: '' } });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => ((stdout += d.toString()), resolve())));
    expect(stdout).toMatch(/kernel running; no plugin instances configured/);
    // Still running a moment later: nothing ends it but a signal.
    await new Promise((r) => setTimeout(r, 300));
    expect(child.exitCode).toBeNull();
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(stderr).toMatch(/"signal":"SIGTERM","msg":"stopping"/);
  });

  it('refuses hub state in PostgreSQL together with a cluster, and a state URL that is not PostgreSQL, naming --state (exit 2)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-hub-'));
    const kubeconfig = path.join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\n');
    const both = await edgeadm(['hub', 'run', '--data-dir', dir, '--state', 'postgres://hub@db/edgeadm', '--kubeconfig', kubeconfig, '--log-level', 'silent']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--state: does not go with --kubeconfig/);
    const notPg = await edgeadm(['hub', 'run', '--data-dir', dir, '--log-level', 'silent'], { EDGEADM_STATE: 'mysql://hub:s3cret@db/edgeadm' });
    expect(notPg.code).toBe(2);
    expect(notPg.stderr).toMatch(/--state: must be a postgres:\/\/ URL, not mysql:/);
    expect(notPg.stderr).not.toContain('s3cret');
  });

  it('says which flag to change when the hub port is taken, with exit code 1', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await edgeadm(['hub', 'run', '--port', String(port), '--data-dir', mkdtempSync(path.join(tmpdir(), 'edgeadm-hub-')), '--log-level', 'silent']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`\\[EDGE_ERR_PORT_IN_USE\\] port ${port} is already in use .*--port`));
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
