/**
 * Where coded errors are declared. Every capability declares all of its
 * errors (each `createError(...)` call) in one file, `errors.ts` at its root,
 * and that file imports at run time only from the kernel (plugins and
 * examples: through the SDK, the only thing they may import), so any file of
 * the capability can import its errors without a module cycle.
 *
 * Capabilities and their errors file: `core/<cap>` (core/<cap>/errors.ts),
 * `sites` and `cli` (their errors.ts), `plugins/<p>` and `examples/<e>`
 * (src/errors.ts, or errors.ts when there is no src/). Not checked: tests,
 * fixtures, and the SDK test kit's public errors (core/sdk/testkit/errors.ts).
 * Calls are found in the syntax
 * tree, so a comment or a string that mentions createError does not count.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const TESTKIT_ERRORS = 'core/sdk/testkit/errors.ts';

/** Lines (1-based) of the calls to `createError` (also `x.createError`) in a TypeScript text. */
function createErrorCalls(file: string, text: string): number[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const lines: number[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const name = ts.isIdentifier(callee) ? callee.text : ts.isPropertyAccessExpression(callee) ? callee.name.text : undefined;
      if (name === 'createError') lines.push(sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return lines;
}

/** The root of the capability a repository path belongs to (`core/tunnel`, `sites`, `plugins/modbus`), or undefined when none. */
function capabilityOf(rel: string): string | undefined {
  const [top, second] = rel.split('/');
  if (top === 'sites' || top === 'cli') return top;
  if ((top === 'core' || top === 'plugins' || top === 'examples') && second !== undefined && rel.split('/').length > 2) return `${top}/${second}`;
  return undefined;
}

/** The one file where the capability of `rel` declares its errors; `hasSrc` says whether the capability has a src/ folder. */
function errorsFileOf(rel: string, hasSrc: (capability: string) => boolean): string | undefined {
  const cap = capabilityOf(rel);
  if (cap === undefined) return undefined;
  const inSrc = (cap.startsWith('plugins/') || cap.startsWith('examples/')) && hasSrc(cap);
  return `${cap}/${inSrc ? 'src/' : ''}errors.ts`;
}

/** Files the rule does not look at: tests and fixtures. */
function exempt(rel: string): boolean {
  const parts = rel.split('/');
  return rel.endsWith('.test.ts') || parts.includes('fixtures');
}

/** The problems of one file: each `createError` call outside its capability's errors file, as `file:line ...`. */
function declarationProblems(rel: string, text: string, hasSrc: (capability: string) => boolean): string[] {
  if (exempt(rel) || rel === TESTKIT_ERRORS) return [];
  const home = errorsFileOf(rel, hasSrc);
  if (home === undefined || rel === home) return [];
  return createErrorCalls(rel, text).map((line) => `${rel}:${line} calls createError: declare the error in ${home}`);
}

/** Whether an import or export declaration brings in nothing at run time (`import type`, or only `type` specifiers). */
function typeOnly(node: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isExportDeclaration(node)) return node.isTypeOnly || (!!node.exportClause && ts.isNamedExports(node.exportClause) && node.exportClause.elements.every((e) => e.isTypeOnly));
  const clause = node.importClause;
  if (!clause) return false;
  if (clause.isTypeOnly) return true;
  const named = clause.namedBindings;
  return clause.name === undefined && !!named && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
}

/** The run-time imports of an errors file that do not reach the kernel (the SDK's index for plugins and examples). */
function importProblems(rel: string, text: string): string[] {
  const sf = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const pluginSide = rel.startsWith('plugins/') || rel.startsWith('examples/');
  const problems: string[] = [];
  for (const st of sf.statements) {
    if (!(ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) || !st.moduleSpecifier || !ts.isStringLiteral(st.moduleSpecifier)) continue;
    if (typeOnly(st)) continue;
    const spec = st.moduleSpecifier.text;
    const target = spec.startsWith('.') ? path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec)) : spec;
    const ok = pluginSide
      ? target === 'core/sdk/index.ts' || target === 'edgeadm/sdk'
      : target === 'core/kernel/index.ts' || target === 'core/kernel/base.ts' || (rel.startsWith('core/kernel/') && target.startsWith('core/kernel/'));
    if (!ok) problems.push(`${rel} imports '${spec}': an errors file imports only from the kernel${pluginSide ? ' (through the SDK)' : ''}`);
  }
  return problems;
}

/** Every .ts file of the capabilities, relative to the repository, skipping node_modules. */
function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(path.join(repo, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(rel);
      } else if (entry.name.endsWith('.ts')) out.push(rel);
    }
  };
  for (const top of ['core', 'sites', 'cli', 'plugins', 'examples']) walk(top);
  return out;
}

const repoHasSrc = (capability: string): boolean => existsSync(path.join(repo, capability, 'src'));

describe('coded errors', () => {
  const files = sourceFiles();

  it('are declared only in the errors.ts of their capability', () => {
    expect(files.length).toBeGreaterThan(100);
    const problems = files.flatMap((rel) => declarationProblems(rel, readFileSync(path.join(repo, rel), 'utf8'), repoHasSrc));
    expect(problems).toEqual([]);
  });

  it('live in errors files that import at run time only from the kernel', () => {
    const errorsFiles = [...new Set(files.map((rel) => errorsFileOf(rel, repoHasSrc)).filter((f): f is string => f !== undefined)), TESTKIT_ERRORS].filter((f) =>
      existsSync(path.join(repo, f)),
    );
    expect(errorsFiles).toEqual(expect.arrayContaining(['core/kernel/errors.ts', 'core/tunnel/errors.ts', 'sites/errors.ts', 'cli/errors.ts', 'plugins/modbus/src/errors.ts']));
    const problems = errorsFiles.flatMap((rel) => importProblems(rel, readFileSync(path.join(repo, rel), 'utf8')));
    expect(problems).toEqual([]);
  });

  it('are found as calls, not as words in comments or strings', () => {
    const text = [
      "import { createError } from '../kernel/index.ts';",
      '/** Declared with createError(code, format). */',
      "// createError('EDGE_ERR_A', () => 'a')",
      "const s = 'createError(' + `createError(${1})`;",
      "export const ErrB = createError('EDGE_ERR_B', () => 'b');",
      "export const ErrC = sdk.createError<{ x: number }>('EDGE_ERR_C', (p) => `${p.x}`);",
      'function createError2(): void {}',
    ].join('\n');
    expect(createErrorCalls('x.ts', text)).toEqual([5, 6]);
  });

  it('name the file, the line and the place to declare it when one is elsewhere', () => {
    const call = "\nexport const ErrX = createError('EDGE_ERR_X', () => 'x');\n";
    const withSrc = (cap: string): boolean => cap === 'plugins/modbus';
    const check = (rel: string): string[] => declarationProblems(rel, call, withSrc);
    expect(check('sites/agent.ts')).toEqual(['sites/agent.ts:2 calls createError: declare the error in sites/errors.ts']);
    expect(check('core/tunnel/edge.ts')).toEqual(['core/tunnel/edge.ts:2 calls createError: declare the error in core/tunnel/errors.ts']);
    expect(check('core/hub/app.ts')).toEqual(['core/hub/app.ts:2 calls createError: declare the error in core/hub/errors.ts']);
    expect(check('plugins/modbus/src/bus.ts')).toEqual(['plugins/modbus/src/bus.ts:2 calls createError: declare the error in plugins/modbus/src/errors.ts']);
    expect(check('plugins/modbus/testkit/index.ts')).toHaveLength(1);
    expect(check('plugins/simulator/driver.ts')).toEqual(['plugins/simulator/driver.ts:2 calls createError: declare the error in plugins/simulator/errors.ts']);
    expect(check('core/kernel/codes.ts')).toHaveLength(1);
    expect(check('core/console/routes.ts')).toEqual(['core/console/routes.ts:2 calls createError: declare the error in core/console/errors.ts']);
    for (const fine of ['sites/errors.ts', 'core/kernel/errors.ts', 'plugins/modbus/src/errors.ts', 'core/sdk/testkit/errors.ts', 'core/console/errors.ts', 'sites/agent.test.ts', 'core/plugins/fixtures/x/index.ts']) {
      expect(check(fine), fine).toEqual([]);
    }
  });

  it('refuse an errors file that imports anything but the kernel', () => {
    expect(importProblems('core/tunnel/errors.ts', "import { createError, type FieldIssue } from '../kernel/index.ts';\nimport type { TunnelSession } from './session.ts';")).toEqual([]);
    expect(importProblems('core/kernel/errors.ts', "import type { FieldIssue } from './schema.ts';")).toEqual([]);
    expect(importProblems('plugins/modbus/src/errors.ts', "import { createError } from '../../../core/sdk/index.ts';")).toEqual([]);
    expect(importProblems('examples/x/src/errors.ts', "import { createError } from 'edgeadm/sdk';")).toEqual([]);
    expect(importProblems('core/tunnel/errors.ts', "import { createError } from '../kernel/index.ts';\nimport { CLOSE_CODES } from './session.ts';")).toEqual([
      "core/tunnel/errors.ts imports './session.ts': an errors file imports only from the kernel",
    ]);
    expect(importProblems('cli/errors.ts', "import { createError } from '../core/kernel/errors.ts';")).toHaveLength(1);
    expect(importProblems('plugins/modbus/src/errors.ts', "import { failureCause } from './bus.ts';")).toEqual([
      "plugins/modbus/src/errors.ts imports './bus.ts': an errors file imports only from the kernel (through the SDK)",
    ]);
  });
});
