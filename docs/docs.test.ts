/**
 * The guides cannot drift from the code they show: every fenced code block
 * whose info string names a file (```ts file=examples/plugin-http-json/index.ts)
 * must appear, character for character, in that file; and every relative
 * link of the docs, the plugin READMEs and the example's README must reach
 * a file or folder of the repository.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The markdown files checked here, relative to the repository. */
function markdownFiles(): string[] {
  const docs = readdirSync(path.join(repo, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
  const plugins = readdirSync(path.join(repo, 'plugins')).map((p) => `plugins/${p}/README.md`);
  return [...docs, ...plugins, 'examples/plugin-http-json/README.md'].filter((f) => existsSync(path.join(repo, f)));
}

interface Block {
  file: string;
  line: number;
  text: string;
}

/** Fenced blocks that name the file they come from. */
function quotedBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})\S*\s+file=(\S+)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.findIndex((l, j) => j > i && l.trim() === open[1]);
    expect(end, `the code block opened at line ${i + 1} is not closed`).toBeGreaterThan(i);
    blocks.push({ file: open[2]!, line: i + 1, text: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return blocks;
}

/** Relative links of a markdown text that reach nothing from `dir`; code (fenced blocks, inline spans) holds no links. */
function brokenLinks(markdown: string, dir: string): string[] {
  const text = markdown.replace(/^(`{3,})[^\n]*\n[\s\S]*?^\1\s*$/gm, '').replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((link) => {
      const target = link.split('#')[0]!;
      return target !== '' && !/^[a-z]+:/.test(target) && !existsSync(path.resolve(dir, target));
    });
}

describe('docs', () => {
  it('quote only code that is in the file each block names', () => {
    const guide = readFileSync(path.join(repo, 'docs/writing-a-device-plugin.md'), 'utf8');
    expect(quotedBlocks(guide).length).toBeGreaterThanOrEqual(10);
    for (const md of markdownFiles()) {
      for (const b of quotedBlocks(readFileSync(path.join(repo, md), 'utf8'))) {
        const source = path.join(repo, b.file);
        expect(existsSync(source), `${md}:${b.line} names ${b.file}, which does not exist`).toBe(true);
        expect(readFileSync(source, 'utf8').includes(b.text), `${md}:${b.line}: this block is not in ${b.file} as shown:\n${b.text}`).toBe(true);
      }
    }
  });

  it('link only to files that exist', () => {
    for (const md of markdownFiles()) {
      expect(brokenLinks(readFileSync(path.join(repo, md), 'utf8'), path.dirname(path.join(repo, md))), `broken links in ${md}`).toEqual([]);
    }
  });

  it('catch a block that is not in its file, and a link to nothing', () => {
    expect(brokenLinks('[ok](writing-a-device-plugin.md#testing) [gone](no-such.md) `a[1](b)` [web](https://example.com)', path.join(repo, 'docs'))).toEqual(['no-such.md']);
    const [b] = quotedBlocks('```ts file=examples/plugin-http-json/index.ts\nexport default definePlugin({ id: "other" });\n```\n');
    expect(b).toEqual({ file: 'examples/plugin-http-json/index.ts', line: 1, text: 'export default definePlugin({ id: "other" });' });
    expect(readFileSync(path.join(repo, b!.file), 'utf8').includes(b!.text)).toBe(false);
  });
});
