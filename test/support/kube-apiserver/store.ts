/**
 * The Kubernetes API test server's "etcd": every object in memory under
 * `group/resource|namespace|name`, one global resourceVersion counter that
 * every write bumps, and a history of change events (with each event's
 * previous object) that watches replay and that lets a list be served at
 * an older resourceVersion (continue tokens, resourceVersionMatch=Exact).
 *
 * Rules: the history keeps the newest `historyLimit` events; `compact()`
 * drops all of it. A watch or an exact read from a resourceVersion older
 * than the oldest one still known (`compactedRevision`) is expired (410).
 * Watchers are called synchronously at each write, in write order, so a
 * watcher has seen every event up to the current revision whenever it is
 * not inside a write: what makes bookmarks at the current revision exact.
 */
import type { KubeObject } from './resources.ts';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One change as history keeps it. */
export interface ChangeEvent {
  rv: number;
  type: EventType;
  typeKey: string;
  key: string;
  /** The object after the change (for DELETED: the object as deleted, at the deletion's resourceVersion). */
  object: KubeObject;
  /** The object before the change (undefined for ADDED). */
  prev: KubeObject | undefined;
}

/** A subscriber to every change, in order. */
export type ChangeListener = (e: ChangeEvent) => void;

export interface MemoryEtcdOptions {
  /** How many change events history keeps (the watch window). */
  historyLimit: number;
  /** The first resourceVersion handed out is this plus one. */
  startRevision: number;
}

/** The key of one object. */
export function objectKey(typeKey: string, namespace: string, name: string): string {
  return `${typeKey}|${namespace}|${name}`;
}

export class MemoryEtcd {
  private rev: number;
  private compacted: number;
  private readonly objects = new Map<string, KubeObject>();
  private readonly history: ChangeEvent[] = [];
  private readonly listeners = new Set<ChangeListener>();

  constructor(private readonly opts: MemoryEtcdOptions) {
    this.rev = opts.startRevision;
    this.compacted = opts.startRevision;
  }

  /** The current (newest) resourceVersion. */
  get revision(): number {
    return this.rev;
  }

  /** Events after this resourceVersion are all in history; older ones are gone. */
  get compactedRevision(): number {
    return this.compacted;
  }

  /** The next resourceVersion a write would take (for dry runs, which take none). */
  get nextRevision(): number {
    return this.rev + 1;
  }

  get(key: string): KubeObject | undefined {
    return this.objects.get(key);
  }

  /**
   * Writes one change: `object` (already carrying `rv`, taken from
   * `nextRevision`) under `key`, or removes it for DELETED. Returns the event.
   */
  write(type: EventType, typeKey: string, key: string, object: KubeObject): ChangeEvent {
    this.rev += 1;
    const prev = this.objects.get(key);
    if (type === 'DELETED') this.objects.delete(key);
    else this.objects.set(key, object);
    const e: ChangeEvent = { rv: this.rev, type, typeKey, key, object, prev };
    this.history.push(e);
    while (this.history.length > this.opts.historyLimit) this.compacted = (this.history.shift() as ChangeEvent).rv;
    for (const l of [...this.listeners]) l(e);
    return e;
  }

  /** Drops all history: every earlier resourceVersion is expired from now on. */
  compact(): void {
    this.history.length = 0;
    this.compacted = this.rev;
  }

  /** The events after `rv` (which must not be older than compactedRevision), oldest first. */
  eventsAfter(rv: number): ChangeEvent[] {
    const first = this.history.findIndex((e) => e.rv > rv);
    return first < 0 ? [] : this.history.slice(first);
  }

  /**
   * The objects of a type as they were at `rv` (the current ones when `rv`
   * is the current revision), sorted by key. `rv` must not be older than
   * compactedRevision nor newer than revision.
   */
  snapshot(typeKey: string, rv: number): [string, KubeObject][] {
    const prefix = `${typeKey}|`;
    const state = new Map<string, KubeObject>();
    for (const [k, o] of this.objects) if (k.startsWith(prefix)) state.set(k, o);
    for (let i = this.history.length - 1; i >= 0; i--) {
      const e = this.history[i] as ChangeEvent;
      if (e.rv <= rv) break;
      if (e.typeKey !== typeKey) continue;
      if (e.prev === undefined) state.delete(e.key);
      else state.set(e.key, e.prev);
    }
    return [...state.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Subscribes to every later change; returns the unsubscribe function. */
  listen(l: ChangeListener): () => void {
    this.listeners.add(l);
    return () => void this.listeners.delete(l);
  }
}
