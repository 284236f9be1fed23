/**
 * Plugins' command-line contributions as `edgeadm` loads them: the built-in
 * ones add their commands without loading their heavy modules at start, a
 * plugin from a search path adds its own, and a broken tools module is
 * reported on standard error while the rest of the command line works.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runEdgeadm } from '../test/support/edgeadm-cli.ts';
import { tempDir } from '../test/support/hub-fixture.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SDK = path.join(ROOT, 'core', 'sdk', 'index.ts');

/** A plugin package in `dir`, with `tools` as its tools module's source. */
function writePlugin(dir: string, id: string, tools: string): void {
  const pkg = path.join(dir, id);
  mkdirSync(pkg, { recursive: true });
  writeFileSync(
    path.join(pkg, 'package.json'),
    JSON.stringify({ name: `@acme/${id}`, version: '1.0.0', type: 'module', edgeadm: { id, role: 'extension', engine: '^0.1.0', entry: './index.ts', tools: './cli.ts' } }),
  );
  writeFileSync(path.join(pkg, 'index.ts'), `throw new Error('the entry of ${id} is not for the command line');\n`);
  writeFileSync(path.join(pkg, 'cli.ts'), tools);
}

describe('plugin command-line contributions', () => {
  it('are loaded at start without the plugins\' drivers or their protocol libraries', async () => {
    // A fresh process, as `edgeadm --help` starts: which modules did building the program load?
    const script = `
      const { createRequire } = await import('node:module');
      const { loadPluginTools } = await import(${JSON.stringify(path.join(ROOT, 'cli', 'plugin-tools.ts'))});
      const { buildProgram } = await import(${JSON.stringify(path.join(ROOT, 'cli', 'main.ts'))});
      const { tools, problems } = await loadPluginTools([]);
      const program = await buildProgram(tools, problems);
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify({
        tools: tools.map((t) => t.id),
        problems: problems.map((p) => p.message),
        commands: program.commands.map((c) => c.name()),
        heavy: loaded.filter((f) => /node_modules\\/(node-opcua[^/]*|modbus-serial|serialport)\\//.test(f)),
      }));
    `;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))),
    );
    const r = JSON.parse(out) as { tools: string[]; problems: string[]; commands: string[]; heavy: string[] };
    expect(r.tools).toEqual(expect.arrayContaining(['modbus', 'opcua']));
    expect(r.problems).toEqual([]);
    expect(r.commands).toContain('opcua');
    expect(r.heavy).toEqual([]);
  }, 60_000);

  it('take a plugin from the config\'s search paths, and report a broken one without stopping the rest', async () => {
    const dir = tempDir('plugin-tools');
    writePlugin(
      dir,
      'acme-hello',
      `import { definePluginTools } from ${JSON.stringify(SDK)};
export default definePluginTools({
  id: 'acme-hello',
  commands(program, kit) {
    const cmd = program.command('hello').description('Say hello').argument('<who>').action((who, _o, c) => {
      if (who === '') throw kit.usageError('<who>', 'is empty');
      const ctx = kit.context(c);
      kit.emit(ctx.output, { hello: who }, () => kit.renderTable([{ who }], [{ header: 'hello', value: (r) => r.who }]));
    });
    kit.examples(cmd, ['edgeadm hello world']);
  },
});
`,
    );
    writePlugin(dir, 'acme-broken', `throw new Error('broken on purpose');\n`);
    writePlugin(dir, 'acme-other', `import { definePluginTools } from ${JSON.stringify(SDK)};\nexport default definePluginTools({ id: 'acme-hello' });\n`);
    const env = { EDGEADM_PLUGINS__SEARCH_PATHS: `[${dir}]` };

    const help = await runEdgeadm(['--help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^ {2}hello <who>\s+Say hello$/m);
    expect(help.stdout).toMatch(/^ {2}opcua\b/m);
    expect(help.stderr).toMatch(/^warning: \[EDGE_ERR_PLUGIN_TOOLS\] plugin 'acme-broken' adds nothing to the command line: its tools module .* does not load: .*broken on purpose/m);
    expect(help.stderr).toMatch(/^warning: \[EDGE_ERR_PLUGIN_TOOLS\] plugin 'acme-other' adds nothing to the command line: its tools module is for plugin 'acme-hello'$/m);

    const hello = await runEdgeadm(['hello', 'world', '-o', 'json'], env);
    expect(hello.code).toBe(0);
    expect(JSON.parse(hello.stdout)).toEqual({ hello: 'world' });
    const table = await runEdgeadm(['hello', 'world'], env);
    expect(table.stdout).toBe('HELLO\nworld\n');
    const bad = await runEdgeadm(['hello', ''], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('error: <who>: is empty');
  }, 120_000);
});
