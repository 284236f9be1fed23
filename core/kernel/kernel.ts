/**
 * The Kernel: ordered start and stop of components in phases
 * (store -> tunnel -> proxies -> controllers -> plugins), each component with
 * a start timeout, a child logger, a service scope and a place to register
 * teardown. Stop runs in reverse within a shutdown budget and is idempotent.
 *
 * A core component that fails to start fails the kernel start (everything
 * already started is stopped again). Plugins are isolated by the plugin
 * registry, which is itself one component of the `plugins` phase.
 */
import {
  describeError,
  EdgeAggregateError,
  ErrComponentStart,
  ErrComponentStop,
  ErrKernelState,
  toErrorInfo,
  type EdgeError,
  type ErrorInfo,
} from './errors.ts';
import { TeardownStack, withTimeout, type Teardown } from './lifecycle.ts';
import type { Logger } from './logger.ts';
import { ServiceScope } from './services.ts';

export const PHASES = ['store', 'tunnel', 'proxies', 'controllers', 'plugins'] as const;
export type Phase = (typeof PHASES)[number];

export interface ComponentContext {
  readonly logger: Logger;
  /** Aborted when the start times out or the kernel is stopped during start. */
  readonly signal: AbortSignal;
  readonly services: ServiceScope;
  onStop(fn: Teardown): void;
}

export interface Component {
  readonly id: string;
  readonly phase: Phase;
  start(ctx: ComponentContext): void | Promise<void>;
  /** Extra stop work beyond the registered teardowns. */
  stop?(): void | Promise<void>;
  startTimeoutMs?: number;
}

export type ComponentState = 'pending' | 'starting' | 'running' | 'failed' | 'stopping' | 'stopped';

export interface ComponentStatus {
  id: string;
  phase: Phase;
  state: ComponentState;
  error?: ErrorInfo;
}

export type KernelState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

export interface KernelOptions {
  logger: Logger;
  /** Version of this edgeadm build, checked against plugin engine ranges. */
  version: string;
  services?: ServiceScope;
  startTimeoutMs?: number;
  shutdownBudgetMs?: number;
}

interface Entry {
  component: Component;
  state: ComponentState;
  error?: EdgeError;
  teardown: TeardownStack;
}

export class Kernel {
  readonly logger: Logger;
  readonly version: string;
  readonly services: ServiceScope;
  readonly #entries: Entry[] = [];
  readonly #startTimeoutMs: number;
  readonly #shutdownBudgetMs: number;
  readonly #abort = new AbortController();
  #state: KernelState = 'created';
  #stopping: Promise<void> | undefined;

  constructor(opts: KernelOptions) {
    this.logger = opts.logger;
    this.version = opts.version;
    this.services = opts.services ?? ServiceScope.root();
    this.#startTimeoutMs = opts.startTimeoutMs ?? 30_000;
    this.#shutdownBudgetMs = opts.shutdownBudgetMs ?? 15_000;
  }

  get state(): KernelState {
    return this.#state;
  }

  add(component: Component): this {
    if (this.#state !== 'created') throw new ErrKernelState({ action: `add '${component.id}' to`, state: this.#state });
    if (this.#entries.some((e) => e.component.id === component.id)) {
      throw new TypeError(`kernel component '${component.id}' added twice`);
    }
    this.#entries.push({ component, state: 'pending', teardown: new TeardownStack() });
    return this;
  }

  status(): ComponentStatus[] {
    return this.#ordered().map((e) => ({
      id: e.component.id,
      phase: e.component.phase,
      state: e.state,
      ...(e.error ? { error: toErrorInfo(e.error) } : {}),
    }));
  }

  #ordered(): Entry[] {
    return PHASES.flatMap((p) => this.#entries.filter((e) => e.component.phase === p));
  }

  async start(): Promise<void> {
    if (this.#state !== 'created') throw new ErrKernelState({ action: 'start', state: this.#state });
    this.#state = 'starting';
    for (const entry of this.#ordered()) {
      if (this.#abort.signal.aborted) break;
      const { component } = entry;
      const log = this.logger.child({ component: component.id });
      const ms = component.startTimeoutMs ?? this.#startTimeoutMs;
      entry.state = 'starting';
      const t0 = performance.now();
      try {
        await withTimeout(
          `start of component '${component.id}'`,
          ms,
          (signal) =>
            component.start({
              logger: log,
              signal,
              services: this.services,
              onStop: (fn) => entry.teardown.add(fn),
            }),
          this.#abort.signal,
        );
        entry.state = 'running';
        log.debug({ phase: component.phase, ms: Math.round(performance.now() - t0) }, 'component started');
      } catch (err) {
        entry.state = 'failed';
        entry.error = new ErrComponentStart({ component: component.id, phase: component.phase, reason: describeError(err) }, { cause: err });
        log.error({ error: toErrorInfo(entry.error) }, 'component failed to start');
        this.#state = 'failed';
        await this.#stopAll();
        this.#state = 'failed';
        throw entry.error;
      }
    }
    if (this.#state === 'starting') this.#state = 'running';
  }

  /** Stops everything started, in reverse, within the shutdown budget. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const failedStart = this.#state === 'failed';
      this.#abort.abort();
      if (!failedStart) this.#state = 'stopping';
      const errors = await this.#stopAll();
      await this.services.dispose();
      this.#state = failedStart ? 'failed' : 'stopped';
      if (errors.length > 0) {
        throw new EdgeAggregateError('EDGE_ERR_KERNEL_STOP', 'kernel stopped with errors', errors, 500);
      }
    })();
    return this.#stopping;
  }

  async #stopAll(): Promise<EdgeError[]> {
    const errors: EdgeError[] = [];
    const deadline = Date.now() + this.#shutdownBudgetMs;
    for (const entry of this.#ordered().reverse()) {
      if (entry.state === 'pending' || entry.state === 'stopped') continue;
      const { component } = entry;
      const wasFailed = entry.state === 'failed';
      entry.state = 'stopping';
      const log = this.logger.child({ component: component.id });
      const budget = Math.max(1, deadline - Date.now());
      try {
        await withTimeout(`stop of component '${component.id}'`, budget, async () => {
          const problems = await entry.teardown.run();
          if (component.stop) await component.stop();
          if (problems.length > 0) throw problems[0];
        });
        entry.state = wasFailed ? 'failed' : 'stopped';
      } catch (err) {
        const e = new ErrComponentStop({ component: component.id, reason: describeError(err) }, { cause: err });
        log.error({ error: toErrorInfo(e) }, 'component failed to stop');
        entry.state = 'failed';
        entry.error ??= e;
        errors.push(e);
      }
    }
    return errors;
  }
}
