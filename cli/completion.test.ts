/**
 * `edgeadm completion`: the scripts come from the program tree, the shells
 * accept them, and bash completes commands, subcommands, options and option
 * choices as a user types them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../test/support/hub-fixture.ts';
import { completionScript, completionTree } from './completion.ts';
import { buildProgram } from './main.ts';

function program(): Promise<Command> {
  return buildProgram();
}

/** What bash completes for the words typed so far (the last word is the one being completed). */
function bashComplete(script: string, words: string[]): string[] {
  const file = path.join(tempDir('completion'), 'edgeadm.bash');
  writeFileSync(file, script);
  const quoted = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  const out = execFileSync('bash', ['-c', `source "$1"; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _edgeadm; printf '%s\\n' "\${COMPREPLY[@]}"`, 'bash', file], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l !== '').sort();
}

const p = await program();

describe('edgeadm completion', () => {
  const bash = completionScript('bash', p);
  const topLevel = p.commands.map((c) => c.name());

  it('prints a bash script that names every top-level command and that bash accepts', () => {
    expect(topLevel).toEqual(expect.arrayContaining(['demo', 'device', 'telemetry', 'token', 'completion']));
    const line = /^ {4}''\) echo '([^']*)' ;;$/m.exec(bash);
    expect(line).not.toBeNull();
    expect(line![1]!.split(' ')).toEqual(expect.arrayContaining(topLevel));
    expect(bash).toMatch(/^complete -F _edgeadm edgeadm$/m);
    const file = path.join(tempDir('completion'), 'edgeadm.bash');
    writeFileSync(file, bash);
    const check = spawnSync('bash', ['-n', file], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('completes commands, subcommands, options and choices in bash', () => {
    expect(bashComplete(bash, ['edgeadm', 'de'])).toEqual(['demo', 'device']);
    expect(bashComplete(bash, ['edgeadm', 'device', 'cr'])).toEqual(['credential']);
    expect(bashComplete(bash, ['edgeadm', 'device', 'credential', ''])).toEqual(expect.arrayContaining(['create', 'delete', 'list', 'rotate']));
    expect(bashComplete(bash, ['edgeadm', 'demo', '--'])).toEqual(expect.arrayContaining(['--data-dir', '--port', '--help', '--output', '--log-level']));
    expect(bashComplete(bash, ['edgeadm', 'demo', '--'])).not.toContain('--site');
    expect(bashComplete(bash, ['edgeadm', 'telemetry', 'watch', '--s'])).toEqual(['--site']);
    // An option's choices, and an option's value skipped when finding the command.
    expect(bashComplete(bash, ['edgeadm', '-o', ''])).toEqual(['json', 'table', 'yaml']);
    expect(bashComplete(bash, ['edgeadm', 'telemetry', '--log-level', ''])).toEqual(expect.arrayContaining(['debug', 'info', 'warn']));
    expect(bashComplete(bash, ['edgeadm', '--output', 'json', 'tel'])).toEqual(['telemetry']);
    expect(bashComplete(bash, ['edgeadm', 'completion', '--'])).toEqual(expect.arrayContaining(['--help']));
  });

  it('prints zsh and fish scripts from the same tree', () => {
    const zsh = completionScript('zsh', p);
    const fish = completionScript('fish', p);
    expect(zsh.startsWith('#compdef edgeadm\n')).toBe(true);
    for (const c of topLevel) {
      expect(zsh).toContain(`'${c}:`);
      expect(fish).toContain(`-a '${c}'`);
    }
    expect(fish).toContain("complete -c edgeadm -f -n '__edgeadm_at \\'device credential\\'' -a 'rotate'");
    expect(fish).toMatch(/^complete -c edgeadm -s o -l output -x -a 'table json yaml' -d 'output format'$/m);
  });

  it('zsh accepts its script and completes from it', () => {
    const dir = tempDir('completion');
    const file = path.join(dir, '_edgeadm');
    writeFileSync(file, completionScript('zsh', p));
    expect(spawnSync('zsh', ['-n', file], { encoding: 'utf8' }).status).toBe(0);
    // compsys's output functions print what they were given; the script's own logic runs as in a shell.
    const harness = [
      'compdef() { :; }',
      '_describe() { local arr=${@[-1]}; print -l -- ${(P)arr}; }',
      'compadd() { shift; print -l -- "$@"; }',
      '_files() { print FILES; }',
      `source ${file}`,
      't() { words=("$@"); CURRENT=$#; PREFIX=${words[-1]}; _edgeadm; print -- --; }',
      "t edgeadm device credential ''",
      "t edgeadm -o ''",
      't edgeadm --log-level debug demo --p',
      "t edgeadm demo --data-dir ''",
    ].join('\n');
    writeFileSync(path.join(dir, 'harness.zsh'), harness);
    const [credential, output, demo, dataDir] = execFileSync('zsh', [path.join(dir, 'harness.zsh')], { encoding: 'utf8' }).split('--\n');
    expect(credential!.split('\n').map((l) => l.split(':')[0])).toEqual(expect.arrayContaining(['create', 'rotate', 'list', 'delete']));
    expect(output!.trim().split('\n')).toEqual(['table', 'json', 'yaml']);
    expect(demo).toContain('--data-dir:where the demo keeps its state');
    expect(demo).not.toContain('--site');
    expect(dataDir!.trim()).toBe('FILES');
  });

  it('fish accepts its script and completes from it', () => {
    const file = path.join(tempDir('completion'), 'edgeadm.fish');
    writeFileSync(file, completionScript('fish', p));
    expect(spawnSync('fish', ['-n', file], { encoding: 'utf8' }).status).toBe(0);
    const complete = (line: string): string[] =>
      execFileSync('fish', ['-c', `source ${file}; complete -C '${line}'`], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split('\t')[0]!)
        .sort();
    expect(complete('edgeadm de')).toEqual(['demo', 'device']);
    expect(complete('edgeadm -o ')).toEqual(['json', 'table', 'yaml']);
    expect(complete('edgeadm --output json tel')).toEqual(['telemetry']);
    expect(complete('edgeadm device credential ')).toEqual(expect.arrayContaining(['create', 'delete', 'list', 'rotate']));
  });

  it('reads aliases, choices and value-taking options from any commander program', () => {
    const root = new Command('tool').addOption(new Option('--color <when>', 'colour').choices(['auto', 'never']));
    const sub = root.command('get').alias('g').description('Get things\nmore text');
    sub.option('-n, --name <name>', 'a name').option('--all', 'everything');
    sub.command('one').description('one thing');
    const tree = completionTree(sub);
    expect(tree.program).toBe('tool');
    expect(tree.global).toEqual([{ flags: ['--color'], description: 'colour', takesValue: true, choices: ['auto', 'never'] }]);
    const root0 = tree.nodes.find((n) => n.path.length === 0)!;
    expect(root0.subcommands.filter((s) => s.description === 'Get things').map((s) => s.name)).toEqual(['get', 'g']);
    const get = tree.nodes.find((n) => n.path.join(' ') === 'get')!;
    expect(get.options).toEqual(expect.arrayContaining([
      { flags: ['-n', '--name'], description: 'a name', takesValue: true },
      { flags: ['--all'], description: 'everything', takesValue: false },
    ]));
    expect(get.subcommands.map((s) => s.name)).toContain('one');
  });

  it('refuses a shell it does not know, naming the argument', async () => {
    const q = await buildProgram();
    let err = '';
    q.commands.find((c) => c.name() === 'completion')!.configureOutput({ writeErr: (s) => (err += s), writeOut: () => undefined });
    const e = await q.parseAsync(['node', 'edgeadm', 'completion', 'tcsh']).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CommanderError);
    expect((e as CommanderError).code).toBe('commander.invalidArgument');
    expect(err).toMatch(/'tcsh'.*shell.*bash, zsh, fish/);
  });
});
