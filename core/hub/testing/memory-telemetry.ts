/**
 * An in-memory TelemetryStore for the hub's tests, honest about what the hub
 * relies on: exactly one copy per (site, seq) (a repeated reading counts as
 * a duplicate), EDGE_ERR_TELEMETRY_INVALID (400) for a reading of another
 * site or one that fails ReadingSchema, with nothing of the batch written;
 * pages in (origin, site, seq) order with an opaque cursor; subscribers called
 * after each ingest with the newly accepted readings that match their filter.
 */
import { checkSchema, createError } from '../../kernel/index.ts';
import { ReadingSchema, type Reading } from '../../sdk/index.ts';
import type { IngestResult, LiveFilter, TelemetryPage, TelemetryQuery, TelemetryStore } from '../../telemetry/index.ts';

export const ErrInvalid = createError(
  'EDGE_ERR_TELEMETRY_INVALID',
  (p: { index: number; field: string; problem: string }) => `reading [${p.index}] ${p.field} ${p.problem}; nothing of this batch was written`,
  { statusCode: 400 },
);
export const ErrCursor = createError('EDGE_ERR_TELEMETRY_CURSOR', (p: { cursor: string }) => `telemetry cursor '${p.cursor}' is not one this store issued`, {
  statusCode: 400,
});

const matches = (f: LiveFilter, r: Reading): boolean =>
  (f.site === undefined || f.site === r.site) && (f.device === undefined || f.device === r.device) && (f.resource === undefined || f.resource === r.resource);

type Key = [origin: number, site: string, seq: number];
const keyOf = (r: Reading): Key => [r.origin, r.site, r.seq];
function compare(a: Key, b: Key): number {
  if (a[0] !== b[0]) return a[0] - b[0];
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return a[2] - b[2];
}

export function createMemoryTelemetry(): TelemetryStore & { subscribers(): number } {
  const rows: Reading[] = [];
  const seen = new Map<string, Set<number>>();
  const subs = new Set<{ filter: LiveFilter; fn: (r: readonly Reading[]) => void }>();

  return {
    subscribers: () => subs.size,
    ingest(site, readings): IngestResult {
      readings.forEach((r, index) => {
        const issue = checkSchema(ReadingSchema, r)[0];
        if (issue) throw new ErrInvalid({ index, field: issue.path, problem: issue.message });
        if (r.site !== site) throw new ErrInvalid({ index, field: 'site', problem: `is '${r.site}', not '${site}'` });
      });
      let set = seen.get(site);
      if (!set) seen.set(site, (set = new Set()));
      const accepted: Reading[] = [];
      for (const r of readings) {
        if (set.has(r.seq)) continue;
        set.add(r.seq);
        const copy = structuredClone(r);
        rows.push(copy);
        accepted.push(copy);
      }
      for (const s of [...subs]) {
        const mine = accepted.filter((r) => matches(s.filter, r));
        if (mine.length > 0 && subs.has(s)) s.fn(mine);
      }
      return { accepted: accepted.length, duplicates: readings.length - accepted.length };
    },
    query(q: TelemetryQuery): TelemetryPage {
      const limit = Math.min(q.limit ?? 1000, 10_000);
      let after: Key | undefined;
      if (q.cursor !== undefined) {
        try {
          after = JSON.parse(Buffer.from(q.cursor, 'base64url').toString('utf8')) as Key;
          if (!Array.isArray(after) || after.length !== 3) throw new Error('shape');
        } catch {
          throw new ErrCursor({ cursor: q.cursor });
        }
      }
      const dir = q.descending ? -1 : 1;
      const all = rows
        .filter((r) => matches(q, r) && (q.from === undefined || r.origin >= q.from) && (q.to === undefined || r.origin <= q.to))
        .sort((a, b) => dir * compare(keyOf(a), keyOf(b)))
        .filter((r) => after === undefined || dir * compare(keyOf(r), after) > 0);
      const items = all.slice(0, limit);
      const page: TelemetryPage = { items: structuredClone(items) };
      const last = items[items.length - 1];
      if (all.length > limit && last) page.next = Buffer.from(JSON.stringify(keyOf(last))).toString('base64url');
      return page;
    },
    subscribe(filter, onReadings) {
      const s = { filter, fn: onReadings };
      subs.add(s);
      return () => {
        subs.delete(s);
      };
    },
    lastSeq(site) {
      return Math.max(0, ...(seen.get(site) ?? []));
    },
    count(filter = {}) {
      return rows.filter((r) => matches(filter, r)).length;
    },
    close() {
      subs.clear();
    },
  };
}
