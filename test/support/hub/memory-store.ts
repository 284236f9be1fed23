/**
 * An in-memory ResourceStore for the hub's tests. It is honest about the
 * semantics the hub relies on: a store-wide revision bumped by every write
 * and stamped as metadata.resourceVersion, EDGE_ERR_STORE_CONFLICT (409) on a
 * stale resourceVersion, EDGE_ERR_STORE_EXISTS on create of an existing
 * object, EDGE_ERR_STORE_NOT_FOUND on status of a missing one, label
 * selectors, the site filter and paging. It checks only the envelope
 * (name, spec an object), not the per-kind spec schemas; watch replays its
 * full history (it never answers 410 Gone).
 */
import { randomUUID } from 'node:crypto';
import { createError } from '../../../core/kernel/index.ts';
import {
  KINDS,
  sitesOf,
  type Kind,
  type ListOptions,
  type ListResult,
  type Resource,
  type ResourceStore,
  type WatchEvent,
  type WatchOptions,
  type WriteOptions,
} from '../../../core/store/index.ts';

export const ErrNotFound = createError('EDGE_ERR_STORE_NOT_FOUND', (p: { kind: string; name: string }) => `${p.kind} '${p.name}' not found`, {
  statusCode: 404,
});
export const ErrExists = createError('EDGE_ERR_STORE_EXISTS', (p: { kind: string; name: string }) => `${p.kind} '${p.name}' already exists`, {
  statusCode: 409,
});
export const ErrConflict = createError(
  'EDGE_ERR_STORE_CONFLICT',
  (p: { kind: string; name: string; expected: string; current: string | null }) =>
    `${p.kind} '${p.name}' was expected at resourceVersion ${p.expected} but ${p.current === null ? 'it does not exist' : `is at ${p.current}`}`,
  { statusCode: 409 },
);
export const ErrInvalid = createError(
  'EDGE_ERR_STORE_INVALID',
  (p: { kind: string; name: string; issues: { path: string; message: string }[] }) =>
    `${p.kind} '${p.name}' is invalid: ${p.issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
  { statusCode: 400 },
);
export const ErrSelector = createError(
  'EDGE_ERR_STORE_SELECTOR',
  (p: { selector: string; reason: string }) => `label selector '${p.selector}' is invalid: ${p.reason}`,
  { statusCode: 400 },
);

type Requirement = (labels: Record<string, string>) => boolean;

/** Kubernetes label selector: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, comma-separated. */
export function parseSelector(selector: string): Requirement[] {
  const reqs: Requirement[] = [];
  // Split on commas outside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  for (const raw of parts) {
    const part = raw.trim();
    if (part === '') continue;
    let m: RegExpExecArray | null;
    if ((m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part))) {
      const [, key = '', op, list = ''] = m;
      const values = new Set(list.split(',').map((v) => v.trim()));
      reqs.push(op === 'in' ? (l) => l[key] !== undefined && values.has(l[key]) : (l) => l[key] === undefined || !values.has(l[key]));
    } else if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(part))) {
      const [, key = '', op, value = ''] = m;
      reqs.push(op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value);
    } else if ((m = /^!([\w./-]+)$/.exec(part))) {
      const key = m[1] ?? '';
      reqs.push((l) => l[key] === undefined);
    } else if ((m = /^([\w./-]+)$/.exec(part))) {
      const key = m[1] ?? '';
      reqs.push((l) => l[key] !== undefined);
    } else {
      throw new ErrSelector({ selector, reason: `cannot parse '${part}'` });
    }
  }
  return reqs;
}

const clone = <T>(v: T): T => structuredClone(v);
const rejected = (err: unknown): Promise<never> => Promise.reject(err instanceof Error ? err : new Error(String(err)));

export interface MemoryStore extends ResourceStore {
  /** Writes seen, for assertions. */
  readonly revision: number;
}

export function createMemoryStore(): MemoryStore {
  const objects = new Map<string, Resource>();
  const history: WatchEvent[] = [];
  const waiters = new Set<() => void>();
  let revision = 0;
  let closed = false;
  const keyOf = (kind: string, name: string): string => `${kind}/${name}`;

  const commit = (type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: Resource): void => {
    history.push({ type, object: clone(obj) });
    for (const w of [...waiters]) w();
  };
  const checkVersion = (kind: Kind, name: string, opts: WriteOptions | undefined): void => {
    if (opts?.resourceVersion === undefined) return;
    const current = objects.get(keyOf(kind, name))?.metadata.resourceVersion ?? null;
    if (current !== opts.resourceVersion) throw new ErrConflict({ kind, name, expected: opts.resourceVersion, current });
  };
  const validate = (obj: Resource): void => {
    const issues: { path: string; message: string }[] = [];
    if (!(KINDS as readonly string[]).includes(obj.kind)) issues.push({ path: 'kind', message: `must be one of ${KINDS.join(', ')}` });
    if (typeof obj.metadata?.name !== 'string' || obj.metadata.name === '') issues.push({ path: 'metadata.name', message: 'is required' });
    if (obj.spec === null || typeof obj.spec !== 'object' || Array.isArray(obj.spec)) issues.push({ path: 'spec', message: 'must be an object' });
    if (issues.length > 0) throw new ErrInvalid({ kind: String(obj.kind), name: String(obj.metadata?.name), issues });
  };

  const store: MemoryStore = {
    get revision() {
      return revision;
    },
    get<R extends Resource = Resource>(kind: Kind, name: string): Promise<R | undefined> {
      const o = objects.get(keyOf(kind, name));
      return Promise.resolve(o && (clone(o) as R));
    },
    list<R extends Resource = Resource>(kind: Kind, opts: ListOptions = {}): Promise<ListResult<R>> {
      try {
        const reqs = opts.labelSelector === undefined ? [] : parseSelector(opts.labelSelector);
        const after = opts.continue === undefined ? undefined : (JSON.parse(Buffer.from(opts.continue, 'base64url').toString('utf8')) as { after: string }).after;
        const all = [...objects.values()]
          .filter((o) => o.kind === kind)
          .filter((o) => reqs.every((r) => r(o.metadata.labels ?? {})))
          .filter((o) => {
            if (opts.site === undefined) return true;
            const sites = sitesOf(o);
            return sites === null || sites.includes(opts.site);
          })
          .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0))
          .filter((o) => after === undefined || o.metadata.name > after);
        const page = opts.limit === undefined ? all : all.slice(0, opts.limit);
        const result: ListResult<R> = { items: page.map((o) => clone(o) as R), resourceVersion: String(revision) };
        const last = page[page.length - 1];
        if (page.length < all.length && last) result.continue = Buffer.from(JSON.stringify({ after: last.metadata.name })).toString('base64url');
        return Promise.resolve(result);
      } catch (err) {
        return rejected(err);
      }
    },
    watch(opts: WatchOptions = {}): AsyncIterable<WatchEvent> {
      const from = opts.resourceVersion === undefined ? revision : Number(opts.resourceVersion);
      return {
        async *[Symbol.asyncIterator]() {
          let next = history.findIndex((e) => Number(e.object.metadata.resourceVersion) > from);
          if (next < 0) next = history.length;
          while (!opts.signal?.aborted && !closed) {
            while (next < history.length) {
              const ev = history[next++];
              if (ev && (!opts.kinds || opts.kinds.includes(ev.object.kind))) yield clone(ev);
            }
            await new Promise<void>((resolve) => {
              const wake = (): void => {
                waiters.delete(wake);
                opts.signal?.removeEventListener('abort', wake);
                resolve();
              };
              waiters.add(wake);
              opts.signal?.addEventListener('abort', wake, { once: true });
            });
          }
        },
      };
    },
    apply<R extends Resource = Resource>(obj: R, opts?: WriteOptions): Promise<R> {
      try {
        validate(obj);
        checkVersion(obj.kind, obj.metadata.name, opts);
        const key = keyOf(obj.kind, obj.metadata.name);
        const existing = objects.get(key);
        revision++;
        const meta = {
          name: obj.metadata.name,
          ...(obj.metadata.labels ? { labels: clone(obj.metadata.labels) } : {}),
          ...(obj.metadata.annotations ? { annotations: clone(obj.metadata.annotations) } : {}),
          uid: existing?.metadata.uid ?? randomUUID(),
          resourceVersion: String(revision),
          generation: existing
            ? (existing.metadata.generation ?? 1) + (JSON.stringify(existing.spec) === JSON.stringify(obj.spec) ? 0 : 1)
            : 1,
          creationTimestamp: existing?.metadata.creationTimestamp ?? new Date().toISOString(),
        };
        const next: Resource = { apiVersion: obj.apiVersion, kind: obj.kind, metadata: meta, spec: clone(obj.spec) };
        if (existing?.status !== undefined) next.status = existing.status;
        objects.set(key, next);
        commit(existing ? 'MODIFIED' : 'ADDED', next);
        return Promise.resolve(clone(next) as R);
      } catch (err) {
        return rejected(err);
      }
    },
    create<R extends Resource = Resource>(obj: R): Promise<R> {
      if (objects.has(keyOf(obj.kind, obj.metadata?.name))) return Promise.reject(new ErrExists({ kind: obj.kind, name: obj.metadata.name }));
      return store.apply(obj);
    },
    delete<R extends Resource = Resource>(kind: Kind, name: string, opts?: WriteOptions): Promise<R | undefined> {
      try {
        checkVersion(kind, name, opts);
        const existing = objects.get(keyOf(kind, name));
        if (!existing) return Promise.resolve(undefined);
        objects.delete(keyOf(kind, name));
        revision++;
        const gone = { ...existing, metadata: { ...existing.metadata, resourceVersion: String(revision) } };
        commit('DELETED', gone);
        return Promise.resolve(clone(gone) as R);
      } catch (err) {
        return rejected(err);
      }
    },
    updateStatus<R extends Resource = Resource>(kind: Kind, name: string, status: unknown, opts?: WriteOptions): Promise<R> {
      try {
        const existing = objects.get(keyOf(kind, name));
        if (!existing) throw new ErrNotFound({ kind, name });
        checkVersion(kind, name, opts);
        revision++;
        const next: Resource = { ...existing, metadata: { ...existing.metadata, resourceVersion: String(revision) }, status: clone(status) };
        objects.set(keyOf(kind, name), next);
        commit('MODIFIED', next);
        return Promise.resolve(clone(next) as R);
      } catch (err) {
        return rejected(err);
      }
    },
    currentResourceVersion() {
      return Promise.resolve(String(revision));
    },
    close() {
      closed = true;
      for (const w of [...waiters]) w();
      return Promise.resolve();
    },
  };
  return store;
}
