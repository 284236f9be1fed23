/**
 * Each package's share of a process's V8 heap, from a heap snapshot: the
 * source text of every script, and every function's code (its
 * SharedFunctionInfo, bytecode, feedback and scope data), attributed to the
 * script it came from. A script of edgeadm's build (a dist/ chunk holding
 * several packages) is split between them in proportion to their bytes in
 * it (dist/contents.json). What the functions allocate at run time (objects,
 * strings made later) is not attributed: it is reported as "data".
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** A script's URL or path -> where its bytes come from (a package name, `edgeadm` for its own sources, or `node:` internals). */
function owner(input: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (m) return m[1]!;
  if (input.startsWith('node:') || !input.includes('/')) return 'node (built-in)';
  return 'edgeadm';
}

/** MiB of heap by owner, plus `data` (everything not code or source), and the total. */
export function heapShare(snapshotFile: string, repo: string): Map<string, number> {
  const s = JSON.parse(readFileSync(snapshotFile, 'utf8')) as Snapshot;
  const contents = JSON.parse(readFileSync(path.join(repo, 'dist/contents.json'), 'utf8')) as Record<string, Record<string, number>>;
  const nf = s.snapshot.meta.node_fields;
  const ef = s.snapshot.meta.edge_fields;
  const N = nf.length;
  const E = ef.length;
  const [iType, iName, iSize, iEdges] = ['type', 'name', 'self_size', 'edge_count'].map((f) => nf.indexOf(f)) as [number, number, number, number];
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => ef.indexOf(f)) as [number, number, number];
  const edgeTypes = s.snapshot.meta.edge_types[0];
  const count = s.nodes.length / N;
  const firstEdge = new Uint32Array(count + 1);
  for (let n = 0, e = 0; n < count; n++) {
    firstEdge[n] = e;
    e += s.nodes[n * N + iEdges]! * E;
    firstEdge[n + 1] = e;
  }
  const name = (n: number): string => s.strings[s.nodes[n * N + iName]!]!;
  const size = (n: number): number => s.nodes[n * N + iSize]!;
  /** The node an edge named `label` of `n` points to. */
  const edge = (n: number, label: string): number | undefined => {
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += E) {
      const t = edgeTypes[s.edges[e + eType]!];
      if (t !== 'element' && t !== 'hidden' && s.strings[s.edges[e + eName]!] === label) return s.edges[e + eTo]! / N;
    }
    return undefined;
  };
  const bytes = new Map<string, number>();
  const add = (url: string, n: number): void => {
    const chunk = url.includes('/dist/') ? contents[url.slice(url.lastIndexOf('/') + 1)] : undefined;
    if (!chunk) {
      const o = owner(url);
      bytes.set(o, (bytes.get(o) ?? 0) + n);
      return;
    }
    const total = Object.values(chunk).reduce((a, b) => a + b, 0) || 1;
    for (const [input, b] of Object.entries(chunk)) bytes.set(owner(input), (bytes.get(owner(input)) ?? 0) + (n * b) / total);
  };
  // Functions (SharedFunctionInfos: code nodes with a script) and the code hanging from them; each script's source once.
  const isCode = (n: number): boolean => s.snapshot.meta.node_types[0][s.nodes[n * N + iType]!] === 'code';
  const sourced = new Set<number>();
  const counted = new Set<number>();
  let all = 0;
  let attributed = 0;
  for (let n = 0; n < count; n++) {
    all += size(n);
    if (!isCode(n)) continue;
    const script = edge(n, 'script_or_debug_info') ?? edge(n, 'script');
    if (script === undefined || !isCode(script)) continue;
    const url = name(script);
    let b = size(n);
    for (const label of ['function_data', 'name_or_scope_info', 'raw_outer_scope_info_or_feedback_metadata']) {
      const c = edge(n, label);
      // A child shared by several functions (an empty scope) is counted once.
      if (c !== undefined && !counted.has(c)) {
        counted.add(c);
        b += size(c);
      }
    }
    if (!sourced.has(script)) {
      sourced.add(script);
      const src = edge(script, 'source');
      b += size(script) + (src === undefined ? 0 : size(src));
    }
    add(url, b);
    attributed += b;
  }
  const out = new Map<string, number>();
  for (const [k, v] of [...bytes].sort((a, b) => b[1] - a[1])) out.set(k, v / 1048576);
  out.set('data (objects, strings and arrays made at run time)', (all - attributed) / 1048576);
  out.set('total', all / 1048576);
  return out;
}

// `node --import tsx bench/heap-share.ts FILE`: the table for one snapshot.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  for (const [k, v] of heapShare(process.argv[2]!, repo)) process.stdout.write(`${v.toFixed(2).padStart(7)} MiB  ${k}\n`);
}
