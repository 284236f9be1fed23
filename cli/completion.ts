/**
 * `edgeadm completion bash|zsh|fish`: a shell completion script generated
 * from the commander program tree as it is, so every command group, its
 * subcommands, its options and the choices of an option (`-o json|yaml|table`)
 * complete without a hand-kept list.
 *
 * The scripts walk the words typed so far: a word naming a subcommand of the
 * command reached so far descends into it; an option that takes a value skips
 * the next word. Global options (those of the root command) count everywhere.
 * Names and flags are emitted only when they are plain (letters, digits,
 * `-`, `_`, `:`), so nothing in a description or name can break the script.
 */
import { Argument, type Command, type Option } from 'commander';
import { contextOf } from './context.ts';
import { examples, summary } from './commands.ts';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export interface CompletionOption {
  /** `-o`, `--output` */
  flags: string[];
  description: string;
  takesValue: boolean;
  choices?: readonly string[];
}

export interface CompletionNode {
  /** Command names from the root (root: []). */
  path: string[];
  description: string;
  /** Subcommands by every name they answer to (name and aliases). */
  subcommands: { name: string; description: string }[];
  /** The command's own options, without the global ones. */
  options: CompletionOption[];
}

export interface CompletionTree {
  program: string;
  /** Options of the root command that every command accepts (help and version left out). */
  global: CompletionOption[];
  nodes: CompletionNode[];
}

const PLAIN = /^[A-Za-z0-9][A-Za-z0-9_:-]*$/;
const FLAG = /^--?[A-Za-z0-9][A-Za-z0-9_-]*$/;

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

function optionOf(o: Option): CompletionOption | undefined {
  const flags = [o.short, o.long].filter((f): f is string => typeof f === 'string' && FLAG.test(f));
  if (flags.length === 0) return undefined;
  const choices = o.argChoices?.filter((c) => PLAIN.test(c));
  return { flags, description: firstLine(o.description), takesValue: o.required || o.optional, ...(choices && choices.length > 0 ? { choices } : {}) };
}

/** The command tree as completion needs it, from any command of the program (its root is used). */
export function completionTree(from: Command): CompletionTree {
  let root = from;
  while (root.parent) root = root.parent;
  const help = root.createHelp();
  const isHelpOrVersion = (o: CompletionOption): boolean => o.flags.some((f) => f === '--help' || f === '--version');
  const global = help
    .visibleOptions(root)
    .map(optionOf)
    .filter((o): o is CompletionOption => o !== undefined && !isHelpOrVersion(o));
  const globalFlags = new Set(global.flatMap((o) => o.flags));
  const nodes: CompletionNode[] = [];
  const walk = (cmd: Command, path: string[]): void => {
    const subs = help.visibleCommands(cmd).filter((s) => PLAIN.test(s.name()));
    const options = help
      .visibleOptions(cmd)
      .map(optionOf)
      // The root's global options are listed once, in `global`.
      .filter((o): o is CompletionOption => o !== undefined && (path.length > 0 || !o.flags.some((f) => globalFlags.has(f))));
    nodes.push({
      path,
      description: firstLine(cmd.description()),
      subcommands: subs.flatMap((s) => [s.name(), ...s.aliases()].filter((n) => PLAIN.test(n)).map((name) => ({ name, description: firstLine(s.description()) }))),
      options,
    });
    for (const s of subs) walk(s, [...path, s.name()]);
  };
  walk(root, []);
  return { program: root.name(), global, nodes };
}

/** A name usable in shell function names. */
function ident(program: string): string {
  return program.replace(/[^A-Za-z0-9_]/g, '_');
}

const sq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

// ---------------------------------------------------------------- bash

export function bashScript(tree: CompletionTree): string {
  const fn = `_${ident(tree.program)}`;
  const key = (n: CompletionNode): string => n.path.join(' ');
  const allOptions = (n: CompletionNode): CompletionOption[] => [...n.options, ...tree.global];
  const subsCases = tree.nodes
    .filter((n) => n.subcommands.length > 0)
    .map((n) => `    ${sq(key(n))}) echo ${sq(n.subcommands.map((s) => s.name).join(' '))} ;;`);
  const optCases = tree.nodes.map((n) => `    ${sq(key(n))}) echo ${sq(allOptions(n).flatMap((o) => o.flags).join(' '))} ;;`);
  const valued = (n: CompletionNode, o: CompletionOption): string[] => o.flags.map((f) => sq(`${key(n)}|${f}`));
  const globalValued = tree.global.filter((o) => o.takesValue).flatMap((o) => o.flags.map((f) => `*${sq(`|${f}`)}`));
  const valueCases = [...tree.nodes.flatMap((n) => n.options.filter((o) => o.takesValue).flatMap((o) => valued(n, o))), ...globalValued];
  const choiceCases = [
    ...tree.nodes.flatMap((n) => n.options.filter((o) => o.choices).map((o) => `    ${valued(n, o).join('|')}) echo ${sq(o.choices!.join(' '))} ;;`)),
    ...tree.global.filter((o) => o.choices).map((o) => `    ${o.flags.map((f) => `*${sq(`|${f}`)}`).join('|')}) echo ${sq(o.choices!.join(' '))} ;;`),
  ];
  return `# ${tree.program} completion for bash, generated by \`${tree.program} completion bash\` from the command tree.
# Load it in this shell:    source <(${tree.program} completion bash)
# or for every new shell:   ${tree.program} completion bash > ~/.local/share/bash-completion/completions/${tree.program}

${fn}_subcommands() {
  case "$1" in
${subsCases.join('\n')}
  esac
}

${fn}_options() {
  case "$1" in
${optCases.join('\n')}
  esac
}

${fn}_takes_value() {
  case "$1|$2" in
${valueCases.length > 0 ? `    ${valueCases.join('|')}) return 0 ;;\n` : ''}  esac
  return 1
}

${fn}_choices() {
  case "$1|$2" in
${choiceCases.join('\n')}
  esac
}

${fn}_is_subcommand() {
  local s
  for s in $(${fn}_subcommands "$1"); do
    [[ "$s" == "$2" ]] && return 0
  done
  return 1
}

${fn}() {
  local cur prev cmdpath word i skip=0 choices subs
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev=""
  (( COMP_CWORD > 0 )) && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmdpath=""
  for (( i = 1; i < COMP_CWORD; i++ )); do
    word="\${COMP_WORDS[i]}"
    if (( skip )); then skip=0; continue; fi
    if [[ "$word" == "--" ]]; then COMPREPLY=(); return 0; fi
    if [[ "$word" == -* ]]; then
      [[ "$word" != *=* ]] && ${fn}_takes_value "$cmdpath" "$word" && skip=1
      continue
    fi
    if ${fn}_is_subcommand "$cmdpath" "$word"; then cmdpath="\${cmdpath:+$cmdpath }$word"; fi
  done
  if [[ "$prev" == -* ]] && (( skip )); then
    choices="$(${fn}_choices "$cmdpath" "$prev")"
    if [[ -n "$choices" ]]; then
      COMPREPLY=( $(compgen -W "$choices" -- "$cur") )
    else
      COMPREPLY=( $(compgen -f -- "$cur") )
    fi
    return 0
  fi
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$(${fn}_options "$cmdpath")" -- "$cur") )
    return 0
  fi
  subs="$(${fn}_subcommands "$cmdpath")"
  if [[ -n "$subs" ]]; then
    COMPREPLY=( $(compgen -W "$subs" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
  return 0
}

complete -F ${fn} ${tree.program}
`;
}

// ---------------------------------------------------------------- zsh

export function zshScript(tree: CompletionTree): string {
  const fn = `_${ident(tree.program)}`;
  const key = (n: CompletionNode): string => n.path.join(' ');
  const desc = (name: string, d: string): string => sq(`${name.replace(/:/g, '\\:')}:${d}`);
  const subsCases = tree.nodes
    .filter((n) => n.subcommands.length > 0)
    .map((n) => `    ${sq(key(n))}) reply=( ${n.subcommands.map((s) => desc(s.name, s.description)).join(' ')} ) ;;`);
  const optCases = tree.nodes.map((n) => `    ${sq(key(n))}) reply=( ${[...n.options, ...tree.global].flatMap((o) => o.flags.map((f) => desc(f, o.description))).join(' ')} ) ;;`);
  const valueCases = [
    ...tree.nodes.flatMap((n) => n.options.filter((o) => o.takesValue).flatMap((o) => o.flags.map((f) => sq(`${key(n)}|${f}`)))),
    ...tree.global.filter((o) => o.takesValue).flatMap((o) => o.flags.map((f) => `*${sq(`|${f}`)}`)),
  ];
  const choiceCases = [
    ...tree.nodes.flatMap((n) => n.options.filter((o) => o.choices).map((o) => `    ${o.flags.map((f) => sq(`${key(n)}|${f}`)).join('|')}) reply=( ${o.choices!.join(' ')} ) ;;`)),
    ...tree.global.filter((o) => o.choices).map((o) => `    ${o.flags.map((f) => `*${sq(`|${f}`)}`).join('|')}) reply=( ${o.choices!.join(' ')} ) ;;`),
  ];
  return `#compdef ${tree.program}
# ${tree.program} completion for zsh, generated by \`${tree.program} completion zsh\` from the command tree.
# Load it in this shell:    source <(${tree.program} completion zsh)
# or for every new shell:   ${tree.program} completion zsh > "\${fpath[1]}/_${tree.program}"

${fn}_subcommands() {
  reply=()
  case "$1" in
${subsCases.join('\n')}
  esac
}

${fn}_options() {
  reply=()
  case "$1" in
${optCases.join('\n')}
  esac
}

${fn}_takes_value() {
  case "$1|$2" in
${valueCases.length > 0 ? `    ${valueCases.join('|')}) return 0 ;;\n` : ''}  esac
  return 1
}

${fn}_choices() {
  reply=()
  case "$1|$2" in
${choiceCases.join('\n')}
  esac
}

${fn}() {
  local cmdpath="" word prev="" i skip=0 entry
  local -a reply names
  for (( i = 2; i < CURRENT; i++ )); do
    word="\${words[i]}"
    if (( skip )); then skip=0; continue; fi
    [[ "$word" == "--" ]] && return 1
    if [[ "$word" == -* ]]; then
      [[ "$word" != *=* ]] && ${fn}_takes_value "$cmdpath" "$word" && skip=1
      continue
    fi
    ${fn}_subcommands "$cmdpath"
    names=()
    for entry in "\${reply[@]}"; do names+=( "\${entry%%:*}" ); done
    (( \${names[(Ie)$word]} )) && cmdpath="\${cmdpath:+$cmdpath }$word"
  done
  (( CURRENT > 2 )) && prev="\${words[CURRENT-1]}"
  if [[ "$prev" == -* ]] && (( skip )); then
    ${fn}_choices "$cmdpath" "$prev"
    if (( \${#reply} )); then compadd -- "\${reply[@]}"; else _files; fi
    return
  fi
  if [[ "$PREFIX" == -* ]]; then
    ${fn}_options "$cmdpath"
    _describe -t options 'option' reply
    return
  fi
  ${fn}_subcommands "$cmdpath"
  if (( \${#reply} )); then _describe -t commands 'command' reply; else _files; fi
}

if [[ "\${funcstack[1]}" == "${fn}" ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${tree.program}
fi
`;
}

// ---------------------------------------------------------------- fish

export function fishScript(tree: CompletionTree): string {
  const p = ident(tree.program);
  const key = (n: CompletionNode): string => n.path.join(' ');
  const fq = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const pairs = tree.nodes.flatMap((n) => n.subcommands.map((s) => fq(`${key(n)}|${s.name}`)));
  const valued = [
    ...tree.nodes.flatMap((n) => n.options.filter((o) => o.takesValue).flatMap((o) => o.flags.map((f) => fq(`${key(n)}|${f}`)))),
    ...tree.global.filter((o) => o.takesValue).flatMap((o) => o.flags.map((f) => fq(`*|${f}`))),
  ];
  const optionLine = (o: CompletionOption, condition: string | undefined): string => {
    const parts = [`complete -c ${tree.program}`];
    if (condition !== undefined) parts.push(`-n ${fq(`__${p}_at ${fq(condition)}`)}`);
    for (const f of o.flags) parts.push(f.startsWith('--') ? `-l ${f.slice(2)}` : f.length === 2 ? `-s ${f.slice(1)}` : `-o ${f.slice(1)}`);
    if (o.choices) parts.push(`-x -a ${fq(o.choices.join(' '))}`);
    else if (o.takesValue) parts.push('-r');
    parts.push(`-d ${fq(o.description)}`);
    return parts.join(' ');
  };
  const lines: string[] = [];
  for (const n of tree.nodes) {
    for (const s of n.subcommands) lines.push(`complete -c ${tree.program} -f -n ${fq(`__${p}_at ${fq(key(n))}`)} -a ${fq(s.name)} -d ${fq(s.description)}`);
    for (const o of n.options) lines.push(optionLine(o, key(n)));
  }
  for (const o of tree.global) lines.push(optionLine(o, undefined));
  return `# ${tree.program} completion for fish, generated by \`${tree.program} completion fish\` from the command tree.
# Load it in this shell:    ${tree.program} completion fish | source
# or for every new shell:   ${tree.program} completion fish > ~/.config/fish/completions/${tree.program}.fish

set -g __${p}_tree ${pairs.join(' ')}
set -g __${p}_valued ${valued.join(' ')}

function __${p}_path
  set -l tokens (commandline -opc)
  set -e tokens[1]
  set -l cmdpath ''
  set -l skip 0
  for w in $tokens
    if test $skip -eq 1
      set skip 0
      continue
    end
    if test "$w" = '--'
      break
    end
    if string match -q -- '-*' $w
      if not string match -q -- '*=*' $w
        if contains -- "$cmdpath|$w" $__${p}_valued; or contains -- "*|$w" $__${p}_valued
          set skip 1
        end
      end
      continue
    end
    if contains -- "$cmdpath|$w" $__${p}_tree
      set cmdpath (string trim -- "$cmdpath $w")
    end
  end
  echo $cmdpath
end

function __${p}_at
  test (__${p}_path) = "$argv[1]"
end

complete -c ${tree.program} -f
${lines.join('\n')}
`;
}

export function completionScript(shell: Shell, from: Command): string {
  const tree = completionTree(from);
  return shell === 'bash' ? bashScript(tree) : shell === 'zsh' ? zshScript(tree) : fishScript(tree);
}

export function registerCompletion(program: Command): void {
  const cmd = program
    .command('completion')
    .description(summary('completion'))
    .addArgument(new Argument('<shell>', 'the shell to complete in').choices(SHELLS))
    .action((shell: Shell, _opts: unknown, c: Command) => {
      contextOf(c).out.write(completionScript(shell, c));
    });
  examples(cmd, [
    'edgeadm completion bash > ~/.local/share/bash-completion/completions/edgeadm',
    'source <(edgeadm completion bash)   # this shell only',
    'edgeadm completion zsh > "${fpath[1]}/_edgeadm"',
    'edgeadm completion fish > ~/.config/fish/completions/edgeadm.fish',
  ]);
}
