/** Dependency graph helpers: cycles (Tarjan's strongly connected components) and start levels. */

/** Every cycle, as the list of nodes in it (in a dependency order), plus self-loops. */
export function findCycles(nodes: readonly string[], edges: ReadonlyMap<string, readonly string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];

  const strong = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (edges.get(v) ?? []).includes(v)) cycles.push(comp.reverse());
    }
  };
  for (const n of nodes) if (!idx.has(n)) strong(n);
  return cycles;
}

/**
 * Groups an acyclic graph into levels: level 0 depends on nothing, level k
 * only on lower levels. Edges point from a node to what it depends on.
 */
export function startLevels(nodes: readonly string[], edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const level = new Map<string, number>();
  const visit = (n: string): number => {
    const known = level.get(n);
    if (known !== undefined) return known;
    let l = 0;
    for (const d of edges.get(n) ?? []) l = Math.max(l, visit(d) + 1);
    level.set(n, l);
    return l;
  };
  for (const n of nodes) visit(n);
  const out: string[][] = [];
  for (const n of nodes) {
    const l = level.get(n) as number;
    (out[l] ??= []).push(n);
  }
  return out.filter((l) => l !== undefined);
}
