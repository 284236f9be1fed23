/**
 * The grid's controller runtime: a rate-limited work queue of object keys
 * and a `Controller` that feeds it from list+watch caches and runs a
 * level-triggered `reconcile(key)` on a few workers (the controller-runtime
 * pattern, with client-go's workqueue semantics).
 *
 * Rules:
 * - A key waiting in the queue is there once; a key being reconciled is
 *   never handed to a second worker; a key added while it is being
 *   reconciled runs once more after (the dirty set).
 * - `add` queues at once; `addRateLimited` waits the larger of the key's
 *   exponential backoff (base 5 ms, doubling, at most 1000 s) and an overall
 *   token bucket (10 per second, burst 100), as client-go's default
 *   controller rate limiter; `forget` resets the key's backoff.
 * - `shutDown` refuses new keys and drops delayed ones; what is queued or
 *   being reconciled still runs (drain), then the workers end.
 * - The reconciler reads the caches, never the event: events only say which
 *   keys to look at. After every (re)list of a collection every key its
 *   objects map to is queued again, so a fresh controller converges from
 *   the current state alone.
 * - A reconcile that throws is retried with backoff; one that throws
 *   EDGE_ERR_GRID_RECONCILE_TERMINAL is logged and dropped until its
 *   objects change; `{ requeueAfterMs }` looks again later.
 * - Caches are keyed `namespace/name` (`name` for cluster-scoped objects).
 *   The reflector tells objects apart by name alone, so a collection
 *   watched across namespaces must not hold two objects of one name.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../kernel/index.ts';
import { openKubeClient, reflect, type KubeClient, type KubeObject } from '../store/index.ts';
import { ErrControllerOptions, ErrReconcileTerminal } from './errors.ts';

/** client-go's DefaultControllerRateLimiter figures. */
export const DEFAULT_RATE_LIMIT = Object.freeze({ baseDelayMs: 5, maxDelayMs: 1_000_000, qps: 10, burst: 100 });

export interface RateLimitOptions {
  /** First retry delay of a failing key; doubles with each failure. Default 5 ms. */
  baseDelayMs?: number;
  /** Longest retry delay of a failing key. Default 1000 s. */
  maxDelayMs?: number;
  /** Overall retries per second (token bucket). Default 10. */
  qps?: number;
  /** Retries allowed at once before qps applies. Default 100. */
  burst?: number;
}

export interface WorkQueueOptions {
  /** Names the queue in messages and metrics. */
  name: string;
  rateLimit?: RateLimitOptions;
  /** Clock in ms (tests). Default Date.now. */
  now?: () => number;
  /** Called with the queue's depth whenever it changes. */
  onDepth?: (depth: number) => void;
}

/** The key of an object in a cache: `namespace/name`, or `name` when it has no namespace. */
export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns === undefined || ns === '' ? name : `${ns}/${name}`;
}

function checkPositive(controller: string, field: string, value: number, min = 0): void {
  if (!Number.isFinite(value) || value <= min) throw new ErrControllerOptions({ controller, field, reason: `must be a number above ${min} (is ${value})` });
}

/**
 * A work queue of keys with client-go's semantics (dedup, dirty set,
 * delayed and rate-limited adds, drain on shutdown).
 */
export class WorkQueue {
  readonly name: string;
  readonly #queue: string[] = [];
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #failures = new Map<string, number>();
  readonly #waiters: (() => void)[] = [];
  readonly #limits: Required<RateLimitOptions>;
  readonly #now: () => number;
  readonly #onDepth: ((depth: number) => void) | undefined;
  #tokens: number;
  #tokensAt: number;
  #shuttingDown = false;
  #drained: (() => void) | undefined;

  constructor(o: WorkQueueOptions) {
    this.name = o.name;
    this.#limits = { ...DEFAULT_RATE_LIMIT, ...o.rateLimit };
    checkPositive(o.name, 'rateLimit.baseDelayMs', this.#limits.baseDelayMs);
    checkPositive(o.name, 'rateLimit.maxDelayMs', this.#limits.maxDelayMs);
    checkPositive(o.name, 'rateLimit.qps', this.#limits.qps);
    checkPositive(o.name, 'rateLimit.burst', this.#limits.burst, 0.999);
    this.#now = o.now ?? Date.now;
    this.#onDepth = o.onDepth;
    this.#tokens = this.#limits.burst;
    this.#tokensAt = this.#now();
  }

  /** Keys waiting (not the ones being reconciled). */
  get length(): number {
    return this.#queue.length;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Queues `key` now, unless it is already waiting; a key being reconciled runs again after. */
  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    this.#queue.push(key);
    this.#changed();
    this.#waiters.shift()?.();
  }

  /** Queues `key` after `ms` (the earliest of several such calls wins). */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.#now() + ms;
    const pending = this.#delayed.get(key);
    if (pending !== undefined) {
      if (pending.at <= at) return;
      clearTimeout(pending.timer);
    }
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, { at, timer });
  }

  /** Queues `key` after its backoff and the overall token bucket allow, and counts one more failure for it. */
  addRateLimited(key: string): void {
    this.addAfter(key, this.when(key));
  }

  /** The delay `addRateLimited` would use now (and it counts as used: a failure and a token). */
  when(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const backoff = Math.min(this.#limits.maxDelayMs, this.#limits.baseDelayMs * 2 ** failures);
    const now = this.#now();
    this.#tokens = Math.min(this.#limits.burst, this.#tokens + ((now - this.#tokensAt) * this.#limits.qps) / 1000);
    this.#tokensAt = now;
    this.#tokens -= 1;
    const bucket = this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.#limits.qps;
    return Math.max(backoff, bucket);
  }

  /** Resets `key`'s backoff (after a success). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** Failures counted for `key` since it was last forgotten. */
  numRequeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** The next key to reconcile (mark it `done` after), or undefined once shut down and empty. */
  async get(): Promise<string | undefined> {
    while (this.#queue.length === 0 && !this.#shuttingDown) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    const key = this.#queue.shift();
    if (key === undefined) return undefined;
    this.#processing.add(key);
    this.#dirty.delete(key);
    this.#changed();
    return key;
  }

  /** Ends the reconcile of `key`: when it was added meanwhile, it is queued again. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) {
      this.#queue.push(key);
      this.#changed();
      this.#waiters.shift()?.();
    }
    this.#checkDrained();
  }

  /** Refuses new keys, drops delayed ones, and resolves once what is queued or being reconciled is done. */
  shutDown(): Promise<void> {
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    for (const w of this.#waiters.splice(0)) w();
    const drained = new Promise<void>((resolve) => {
      this.#drained = resolve;
    });
    this.#checkDrained();
    return drained;
  }

  #checkDrained(): void {
    if (this.#shuttingDown && this.#queue.length === 0 && this.#processing.size === 0) this.#drained?.();
  }

  #changed(): void {
    this.#onDepth?.(this.#queue.length);
  }
}

/** What a reconcile asks for besides success: look again after this long. */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** The caches of a controller, by source name, each keyed by `objectKey`. */
export type Caches = ReadonlyMap<string, ReadonlyMap<string, KubeObject>>;

/** One watched collection. */
export interface WatchSource {
  /** Names the cache (`caches.get(name)`). */
  name: string;
  /** The collection's URL path, for the watch: `/api/v1/nodes`, `/apis/<group>/<version>/<plural>`. */
  path: string;
  /** One page of the list (client-node's typed or untyped list call). */
  list(client: KubeClient, page: { limit: number; continue?: string }): Promise<{ items: KubeObject[]; metadata?: { resourceVersion?: string; continue?: string } }>;
  labelSelector?: string;
  /**
   * The keys to reconcile when `obj` changes (`old` is the cached object it
   * replaces, if any; `obj` is the last state of a deleted object). The
   * caches already hold the change. Default: the object's own key.
   */
  keys?(obj: KubeObject, old: KubeObject | undefined, caches: Caches): Iterable<string>;
}

export interface ControllerOptions {
  name: string;
  client: KubeClient;
  logger: Logger;
  sources: readonly WatchSource[];
  /** Brings the key's objects to their desired state, reading `caches`. Idempotent. */
  reconcile(key: string, caches: Caches): Promise<ReconcileResult | void>;
  /** Concurrent reconciles (of different keys). Default 2. */
  workers?: number;
  rateLimit?: RateLimitOptions;
  /** Queue depth, reconciles by result and their duration, labelled with the controller's name. */
  metrics?: Registry;
  /** The reflectors' first and longest retry wait. Default 100 ms and 5 s. */
  backoffMs?: { initial: number; max: number };
}

interface ControllerMetrics {
  depth: Gauge<'controller'>;
  reconciles: Counter<'controller' | 'result'>;
  duration: Histogram<'controller'>;
}

function metricOn<M>(registry: Registry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

function controllerMetrics(registry: Registry): ControllerMetrics {
  const registers = [registry];
  return {
    depth: metricOn(registry, 'edgeadm_grid_queue_depth', () => new Gauge({ name: 'edgeadm_grid_queue_depth', help: 'Keys waiting in a grid controller work queue', labelNames: ['controller'] as const, registers })),
    reconciles: metricOn(registry, 'edgeadm_grid_reconciles_total', () => new Counter({ name: 'edgeadm_grid_reconciles_total', help: 'Grid reconciles by result (success, requeue, error, terminal)', labelNames: ['controller', 'result'] as const, registers })),
    duration: metricOn(registry, 'edgeadm_grid_reconcile_duration_seconds', () => new Histogram({ name: 'edgeadm_grid_reconcile_duration_seconds', help: 'Grid reconcile duration', labelNames: ['controller'] as const, buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10], registers })),
  };
}

/**
 * Watches its sources into caches and reconciles the keys their changes map
 * to on a rate-limited work queue. `start` resolves once every cache holds
 * a complete list and the workers run; `stop` drains and ends everything.
 */
export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  readonly #o: ControllerOptions;
  readonly #log: Logger;
  readonly #caches = new Map<string, Map<string, KubeObject>>();
  readonly #stop = new AbortController();
  readonly #metrics: ControllerMetrics | undefined;
  readonly #workers: number;
  #running: Promise<unknown>[] = [];
  #started: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;

  constructor(o: ControllerOptions) {
    this.name = o.name;
    this.#o = o;
    this.#log = o.logger.child({ controller: o.name });
    this.#workers = o.workers ?? 2;
    if (!Number.isInteger(this.#workers) || this.#workers < 1) throw new ErrControllerOptions({ controller: o.name, field: 'workers', reason: `must be a whole number of at least 1 (is ${this.#workers})` });
    const names = o.sources.map((s) => s.name);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice !== undefined) throw new ErrControllerOptions({ controller: o.name, field: 'sources', reason: `name the cache ${twice} twice` });
    this.#metrics = o.metrics === undefined ? undefined : controllerMetrics(o.metrics);
    const depth = this.#metrics?.depth.labels({ controller: o.name });
    this.queue = new WorkQueue({ name: o.name, ...(o.rateLimit === undefined ? {} : { rateLimit: o.rateLimit }), ...(depth === undefined ? {} : { onDepth: (d) => depth.set(d) }) });
    for (const s of o.sources) this.#caches.set(s.name, new Map());
  }

  /** The caches, by source name (read-only views for reconcilers and tests). */
  get caches(): Caches {
    return this.#caches;
  }

  /** Starts the reflectors, waits for every first list, then starts the workers. */
  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    const readies: Promise<void>[] = [];
    for (const source of this.#o.sources) {
      const r = reflect({
        client: this.#o.client,
        path: source.path,
        ...(source.labelSelector === undefined ? {} : { labelSelector: source.labelSelector }),
        list: async (page) => {
          const got = await source.list(this.#o.client, page);
          // The reflector delivers this list's differences right after the last page; then every key is looked at again.
          if (!got.metadata?.continue) setImmediate(() => this.#resync(source));
          return got;
        },
        onEvent: (type, obj) => this.#observe(source, type, obj),
        signal: this.#stop.signal,
        logger: this.#log,
        ...(this.#o.backoffMs === undefined ? {} : { backoffMs: this.#o.backoffMs }),
      });
      this.#running.push(r.done);
      readies.push(r.ready);
    }
    try {
      await Promise.all(readies);
    } catch (err) {
      await this.stop();
      throw err;
    }
    for (let i = 0; i < this.#workers; i++) this.#running.push(this.#work());
    this.#log.info({ workers: this.#workers, sources: this.#o.sources.map((s) => s.name) }, 'controller started');
  }

  /** Stops watching, lets the queued and running reconciles finish, and resolves when all has ended. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stop.abort();
      await this.queue.shutDown();
      await Promise.allSettled(this.#running);
      this.#log.info({}, 'controller stopped');
    })();
    return this.#stopped;
  }

  #keysOf(source: WatchSource, obj: KubeObject, old: KubeObject | undefined): Iterable<string> {
    return source.keys === undefined ? [objectKey(obj)] : source.keys(obj, old, this.#caches);
  }

  #observe(source: WatchSource, type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: KubeObject): void {
    const cache = this.#caches.get(source.name) as Map<string, KubeObject>;
    const key = objectKey(obj);
    const old = cache.get(key);
    if (type === 'DELETED') cache.delete(key);
    else cache.set(key, obj);
    this.#enqueue(source, obj, old);
  }

  #enqueue(source: WatchSource, obj: KubeObject, old: KubeObject | undefined): void {
    try {
      for (const k of this.#keysOf(source, obj, old)) this.queue.add(k);
    } catch (err) {
      this.#log.error({ err, source: source.name, object: objectKey(obj) }, 'mapping a change to keys failed');
    }
  }

  #resync(source: WatchSource): void {
    if (this.#stop.signal.aborted) return;
    const cache = this.#caches.get(source.name) as Map<string, KubeObject>;
    for (const obj of cache.values()) this.#enqueue(source, obj, undefined);
    this.#log.debug({ source: source.name, objects: cache.size }, 'listed: every key queued again');
  }

  async #work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const began = performance.now();
      let result = 'success';
      try {
        const r = await this.#o.reconcile(key, this.#caches);
        this.queue.forget(key);
        if (r?.requeueAfterMs !== undefined) {
          result = 'requeue';
          this.queue.addAfter(key, r.requeueAfterMs);
        }
      } catch (err) {
        if (ErrReconcileTerminal.is(err)) {
          result = 'terminal';
          this.queue.forget(key);
          this.#log.error({ err, key }, 'reconcile failed for good; waiting for a change');
        } else {
          result = 'error';
          const retries = this.queue.numRequeues(key);
          this.queue.addRateLimited(key);
          this.#log.warn({ err, key, retries }, 'reconcile failed; retrying with backoff');
        }
      } finally {
        this.queue.done(key);
      }
      this.#metrics?.reconciles.inc({ controller: this.name, result });
      this.#metrics?.duration.observe({ controller: this.name }, (performance.now() - began) / 1000);
    }
  }
}

/** How a controller process is started (the unit and grid controllers take these). */
export interface ControllerRunOptions {
  /** A kubeconfig file, a loaded KubeConfig, or 'in-cluster'; or an open client (left open by close). */
  kubeConfig?: KubeConfig | string;
  client?: KubeClient;
  logger: Logger;
  /** Concurrent reconciles. Default 2. */
  workers?: number;
  rateLimit?: RateLimitOptions;
  metrics?: Registry;
  /** The reflectors' first and longest retry wait. Default 100 ms and 5 s. */
  backoffMs?: { initial: number; max: number };
}

/** A started controller and what stops it (and closes the client it opened). */
export interface RunningController {
  readonly controller: Controller;
  close(): Promise<void>;
}

/**
 * Opens the client (unless one is given), builds the controller's sources
 * and reconcile on it, starts it, and resolves once its caches are filled.
 */
export async function runController(
  name: string,
  o: ControllerRunOptions,
  build: (client: KubeClient) => Pick<ControllerOptions, 'sources' | 'reconcile'>,
): Promise<RunningController> {
  const own = o.client === undefined;
  let client: KubeClient;
  if (o.client !== undefined) client = o.client;
  else if (o.kubeConfig !== undefined) client = await openKubeClient(o.kubeConfig);
  else throw new ErrControllerOptions({ controller: name, field: 'kubeConfig', reason: 'or client is required' });
  const controller = new Controller({
    name,
    client,
    logger: o.logger,
    ...build(client),
    ...(o.workers === undefined ? {} : { workers: o.workers }),
    ...(o.rateLimit === undefined ? {} : { rateLimit: o.rateLimit }),
    ...(o.metrics === undefined ? {} : { metrics: o.metrics }),
    ...(o.backoffMs === undefined ? {} : { backoffMs: o.backoffMs }),
  });
  try {
    await controller.start();
  } catch (err) {
    if (own) await client.close();
    throw err;
  }
  return {
    controller,
    async close() {
      await controller.stop();
      if (own) await client.close();
    },
  };
}
