/** Property: random apply/delete/status sequences give watch streams (plain, filtered, resumed) that replay into exactly the final list, and pages that add up to their snapshot. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { API_VERSION, openSqliteStore, StoreErrors, type Kind, type Resource, type ResourceStore, type WatchEvent, type WatchOptions } from './index.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'edgeadm-store-prop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NAMES = ['a', 'b', 'c', 'd'] as const;
const SITE_OF: Record<string, string> = { a: 's1', b: 's2', c: 's1', d: 's2' };

type Op =
  | { op: 'apply'; kind: 'Node'; name: string; tier?: string }
  | { op: 'apply'; kind: 'Addon'; name: string; sites: string[]; tier?: string }
  | { op: 'status'; kind: 'Node' | 'Addon'; name: string; n: number }
  | { op: 'delete'; kind: 'Node' | 'Addon'; name: string };

const name = fc.constantFrom(...NAMES);
const tier = fc.option(fc.constantFrom('x', 'y'), { nil: undefined });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('apply' as const), kind: fc.constant('Node' as const), name, tier }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('apply' as const),
      kind: fc.constant('Addon' as const),
      name,
      sites: fc.subarray(['s1', 's2', 's3']),
      tier,
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('status' as const), kind: fc.constantFrom('Node' as const, 'Addon' as const), name, n: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), kind: fc.constantFrom('Node' as const, 'Addon' as const), name }) },
);

function objectOf(op: Extract<Op, { op: 'apply' }>): Resource {
  const metadata = { name: op.name, ...(op.tier !== undefined && { labels: { tier: op.tier } }) };
  return op.kind === 'Node'
    ? { apiVersion: API_VERSION, kind: 'Node', metadata, spec: { site: SITE_OF[op.name] } }
    : { apiVersion: API_VERSION, kind: 'Addon', metadata, spec: { plugin: 'modbus', sites: op.sites } };
}

async function run(s: ResourceStore, op: Op): Promise<void> {
  if (op.op === 'apply') await s.apply(objectOf(op));
  else if (op.op === 'delete') await s.delete(op.kind, op.name);
  else {
    const status = op.kind === 'Node' ? { message: `n${op.n}` } : { sites: { s1: { state: `n${op.n}` } } };
    await s.updateStatus(op.kind, op.name, status).catch((err: unknown) => {
      if (!StoreErrors.ErrNotFound.is(err)) throw err;
    });
  }
}

/** Collects a watch's events until a bookmark shows it has seen the target revision. */
async function collect(events: AsyncIterable<WatchEvent>, target: () => number | undefined): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  for await (const e of events) {
    if (e.type !== 'BOOKMARK') out.push(e);
    else {
      const t = target();
      if (t !== undefined && Number(e.object.metadata.resourceVersion) >= t) break;
    }
  }
  return out;
}

const key = (r: Resource): string => `${r.kind}/${r.metadata.name}`;

/** Applies a watch stream to a starting state, checking the stream is well-formed on the way. */
function replay(start: readonly Resource[], events: readonly WatchEvent[], after: number): Map<string, Resource> {
  const state = new Map(start.map((r) => [key(r), r]));
  let last = after;
  for (const e of events) {
    const rv = Number(e.object.metadata.resourceVersion);
    expect(rv, 'revisions strictly increase').toBeGreaterThan(last);
    last = rv;
    const k = key(e.object);
    if (e.type === 'ADDED') expect(state.has(k), `ADDED ${k} while present`).toBe(false);
    else expect(state.has(k), `${e.type} ${k} while absent`).toBe(true);
    if (e.type === 'DELETED') state.delete(k);
    else state.set(k, e.object);
  }
  return state;
}

async function listAll(s: ResourceStore, opts: Pick<WatchOptions, 'site' | 'labelSelector'> = {}): Promise<Map<string, Resource>> {
  const out = new Map<string, Resource>();
  for (const kind of ['Node', 'Addon'] as Kind[]) for (const r of (await s.list(kind, opts)).items) out.set(key(r), r);
  return out;
}

const sorted = (m: Map<string, Resource>): Resource[] => [...m.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, r]) => r);

let run_ = 0;

describe('sqlite store: property', () => {
  it('a watch stream replayed onto its starting point reconstructs exactly the final list (also filtered, resumed and paged)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 40 }), fc.array(opArb, { maxLength: 40 }), async (before, after) => {
        const s = openSqliteStore({ file: path.join(dir, `run-${run_++}.db`) });
        try {
          const stop: { at?: number } = {};
          const done = (): number | undefined => stop.at;
          const filter = { site: 's1', labelSelector: 'tier=x' };
          const all = collect(s.watch({ resourceVersion: '0', kinds: ['Node', 'Addon'], bookmarkIntervalMs: 1 }), done);
          const filtered = collect(s.watch({ resourceVersion: '0', ...filter, bookmarkIntervalMs: 1 }), done);

          for (const op of before) await run(s, op);
          const mid = await s.currentResourceVersion();
          const midState = await listAll(s);
          const resumed = collect(s.watch({ resourceVersion: mid, bookmarkIntervalMs: 1 }), done);
          const page1 = await s.list('Node', { limit: 1 });
          const midNodes = (await s.list('Node')).items;

          for (const op of after) await run(s, op);
          stop.at = Number(await s.currentResourceVersion());

          const final = await listAll(s);
          expect(sorted(replay([], await all, 0))).toEqual(sorted(final));
          expect(sorted(replay([], await filtered, 0))).toEqual(sorted(await listAll(s, filter)));
          expect(sorted(replay(sorted(midState), await resumed, Number(mid)))).toEqual(sorted(final));

          // Pages taken across later writes still add up to the snapshot of the first page.
          const pages = [...page1.items];
          let cont = page1.continue;
          while (cont !== undefined) {
            const p = await s.list('Node', { limit: 1, continue: cont });
            expect(p.resourceVersion).toBe(mid);
            pages.push(...p.items);
            cont = p.continue;
          }
          expect(pages).toEqual(midNodes);
        } finally {
          await s.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});
